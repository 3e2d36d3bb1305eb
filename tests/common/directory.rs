//! A throwaway directory (images/directory) for tests: its own node name `t-<random>`, a
//! volume, a non-internal network and the container, with port 389 published on a random
//! loopback port. Everything carries the node label and is removed when the value is dropped,
//! even when the test fails.

use super::{repo, Cleanup};
use commonscloud::engine::{
    labels, ContainerSpec, Engine, FileSpec, HealthSpec, MountSpec, NetworkAttachment, NetworkSpec,
    PortSpec, VolumeSpec,
};
use indicatif::ProgressBar;
use rand::distr::{Alphanumeric, SampleString};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long the directory may take from start to healthy.
const HEALTHY_WITHIN: Duration = Duration::from_secs(90);

pub struct TestDirectory {
    /// The node name, `t-<random>`, carried by every Docker object of this directory.
    pub name: String,
    /// `ldap://127.0.0.1:<published port>`.
    pub url: String,
    pub base_dn: String,
    pub supervisor_dn: String,
    pub supervisor_password: String,
    pub portal_dn: String,
    pub portal_password: String,
    /// The container's name (for `docker exec`).
    pub container: String,
    container_id: String,
    _cleanup: Cleanup,
}

/// The directory image, built once per content of `images/directory`.
pub async fn directory_image(engine: &Engine) -> String {
    let labels = BTreeMap::from([(labels::IMAGE.to_string(), "directory".to_string())]);
    let t = Instant::now();
    match engine
        .ensure_built(
            &repo().join("images/directory"),
            "commonscloud/directory",
            &labels,
            &ProgressBar::hidden(),
        )
        .await
    {
        Ok(b) => {
            if b.built {
                eprintln!("built {} in {:?}", b.reference, t.elapsed());
            }
            b.reference
        }
        Err(e) => panic!("could not build images/directory: {e}"),
    }
}

fn ok<T>(r: Result<T, commonscloud::engine::EngineError>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("directory {what}: {e}"))
}

impl TestDirectory {
    /// Build (if needed), create, start and wait for a healthy directory with base
    /// `dc=<name>,dc=localhost`.
    pub async fn start() -> TestDirectory {
        let engine = super::engine().await;
        let image = directory_image(&engine).await;
        let name = format!("t-{:08x}", rand::random::<u32>());
        let cleanup = Cleanup { name: name.clone() };
        let domain = format!("{name}.localhost");
        let base_dn = format!("dc={name},dc=localhost");
        let node_labels = BTreeMap::from([
            (labels::NODE.to_string(), name.clone()),
            (labels::APP.to_string(), "directory".to_string()),
        ]);
        let network = format!("{name}-net");
        let volume = format!("{name}-ldap");
        let container = format!("{name}-directory");

        ok(
            engine
                .ensure_network(&NetworkSpec {
                    name: network.clone(),
                    labels: node_labels.clone(),
                    internal: false,
                })
                .await,
            "network",
        );
        ok(
            engine
                .ensure_volume(&VolumeSpec {
                    name: volume.clone(),
                    labels: node_labels.clone(),
                })
                .await,
            "volume",
        );
        let supervisor_password = Alphanumeric.sample_string(&mut rand::rng(), 32);
        let portal_password = Alphanumeric.sample_string(&mut rand::rng(), 32);
        let secret = |who: &str, pw: &str| FileSpec {
            path: format!("/run/commonscloud/{who}.password"),
            contents: format!("{pw}\n").into_bytes(),
            mode: 0o600,
        };
        let spec = ContainerSpec {
            name: container.clone(),
            image,
            labels: node_labels,
            env: BTreeMap::from([
                ("CC_DOMAIN".to_string(), domain),
                ("CC_BASE_DN".to_string(), base_dn.clone()),
            ]),
            command: None,
            user: None,
            mounts: vec![MountSpec {
                volume,
                target: "/var/lib/ldap".to_string(),
                read_only: false,
            }],
            networks: vec![NetworkAttachment {
                network,
                aliases: vec!["directory".to_string()],
            }],
            // The image's own check, probed every second so that tests need not wait 10 s.
            health: Some(HealthSpec {
                test: vec!["CMD".to_string(), "/usr/local/bin/healthcheck".to_string()],
                interval_ns: 1_000_000_000,
                timeout_ns: 5_000_000_000,
                retries: 3,
                start_period_ns: 30_000_000_000,
            }),
            memory_bytes: Some(256 * 1024 * 1024),
            nano_cpus: None,
            pids_limit: Some(256),
            stop_grace_secs: Some(10),
            read_only: false,
            tmpfs: vec![],
            files: vec![
                secret("supervisor", &supervisor_password),
                secret("portal", &portal_password),
            ],
            ports: vec![PortSpec {
                container_port: 389,
                host_ip: "127.0.0.1".to_string(),
                host_port: None,
            }],
        };
        let id = ok(engine.create_container(&spec).await, "create");
        let t = Instant::now();
        ok(engine.start_container(&id).await, "start");
        ok(engine.wait_healthy(&id, HEALTHY_WITHIN).await, "healthy");
        eprintln!(
            "directory {container} healthy {:?} after start",
            t.elapsed()
        );
        let port = ok(engine.published_port(&id, 389).await, "published port")
            .unwrap_or_else(|| panic!("port 389 of {container} is not published"));
        TestDirectory {
            url: format!("ldap://127.0.0.1:{port}"),
            supervisor_dn: format!("cn=supervisor,ou=system,{base_dn}"),
            portal_dn: format!("cn=portal,ou=system,{base_dn}"),
            base_dn,
            supervisor_password,
            portal_password,
            container,
            container_id: id,
            name,
            _cleanup: cleanup,
        }
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.container_id
    }

    /// `docker exec <container> <args…>`, as root.
    pub fn exec(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(super::DOCKER)
            .arg("exec")
            .arg(&self.container)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("docker exec: {e}"))
    }
}
