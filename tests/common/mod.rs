//! A throwaway node for integration tests: its own node name `t-<random>`, its own state dir,
//! its own copy of the recipes and images, and a cleanup that removes every Docker object
//! carrying its node label, even when the test fails.
#![allow(dead_code)]

pub mod contract;
pub mod directory;
pub mod pebble;
pub mod portal;
pub mod smtp;

use commonscloud::engine::{labels, Engine};
use commonscloud::ops;
use commonscloud::paths::NodePaths;
use commonscloud::reconcile::apply::Progress;
use commonscloud::reconcile::{DesiredState, Plan};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const DOCKER: &str = "/usr/bin/docker";

/// The edge of a test node: loopback, ports picked by Docker, so tests run side by side.
pub const TEST_EDGE: &str = "edge: { address: 127.0.0.1, http_port: 0, https_port: 0 }\n";

pub struct TestNode {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub paths: NodePaths,
    _cleanup: Cleanup,
}

/// Removes every Docker object labelled with node `name` when dropped, even when the test
/// fails.
pub struct Cleanup {
    pub name: String,
}

/// The repository's root (recipes/ and images/).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

impl TestNode {
    /// A node whose apps are `(recipe, host, greeting)`.
    pub fn new(apps: &[(&str, &str, Option<&str>)]) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("t-{:08x}", rand::random::<u32>());
        let share = dir.path().join("share");
        copy_dir(&repo().join("recipes"), &share.join("recipes"));
        copy_dir(&repo().join("images"), &share.join("images"));
        let paths = NodePaths::resolve(
            Some(dir.path().join("node.yaml")),
            Some(dir.path().join("state")),
            Some(share),
        );
        let node = TestNode {
            _cleanup: Cleanup { name: name.clone() },
            name,
            dir,
            paths,
        };
        node.write_apps(apps);
        node
    }

    pub fn share(&self) -> PathBuf {
        self.dir.path().join("share")
    }

    pub fn write_apps(&self, apps: &[(&str, &str, Option<&str>)]) {
        let mut yaml = format!(
            "name: {}\ndomain: {}.localhost\ntls: {{ mode: self-signed }}\n{}apps:\n",
            self.name, self.name, TEST_EDGE
        );
        if apps.is_empty() {
            yaml = yaml.replace("apps:\n", "apps: []\n");
        }
        for (recipe, host, greeting) in apps {
            yaml.push_str(&format!("  - recipe: {recipe}\n    host: {host}\n"));
            if let Some(g) = greeting {
                yaml.push_str(&format!("    settings: {{ greeting: \"{g}\" }}\n"));
            }
        }
        std::fs::write(&self.paths.config, yaml).unwrap();
    }

    pub fn loaded(&self) -> commonscloud::model::Loaded {
        ops::load(&self.paths).unwrap_or_else(|d| panic!("{d}"))
    }

    pub fn desired(&self) -> DesiredState {
        let loaded = self.loaded();
        ops::desired(&self.paths, &loaded, ops::SecretsMode::Create).unwrap()
    }

    pub async fn plan(&self, engine: &Engine) -> Plan {
        ops::plan_node(engine, &self.desired()).await.unwrap()
    }

    pub async fn up(&self, engine: &Engine) -> ops::UpReport {
        ops::up(
            engine,
            &self.paths,
            &self.loaded(),
            &self.desired(),
            &Progress::hidden(),
        )
        .await
        .unwrap()
    }

    /// The real binary, pointed at this node.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_commonscloud"));
        c.args(args)
            .env("COMMONSCLOUD_CONFIG", &self.paths.config)
            .env("COMMONSCLOUD_STATE", &self.paths.state_dir)
            .env("COMMONSCLOUD_SHARE", self.share());
        c
    }

    /// Run the real binary against this node.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Run the real binary with `stdin` (closed when `None`); panics with its output unless it
    /// succeeds; returns its standard output.
    pub fn cli_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn commonscloud");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        drop(input);
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "commonscloud {args:?}: {}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// An HTTPS client builder that trusts only this node's CA and reaches `hosts` through
    /// the edge's HTTPS port on loopback.
    pub fn https_client(&self, https_port: u16, hosts: &[&str]) -> reqwest::ClientBuilder {
        let ca = std::fs::read(self.paths.tls_dir().join("ca/ca.pem")).expect("the node CA");
        let mut b = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("pem"))
            .tls_built_in_root_certs(false);
        for h in hosts {
            b = b.resolve(h, ([127, 0, 0, 1], https_port).into());
        }
        b
    }

    /// `ldapsearch` on this node's directory as the supervisor, under `base` (the node's base
    /// DN when `None`), for `filter`, returning `attrs`.
    pub async fn ldapsearch(
        &self,
        engine: &Engine,
        base: Option<&str>,
        filter: &str,
        attrs: &[&str],
    ) -> Output {
        let dir = ops::directory::connection(engine, &self.paths, &self.loaded())
            .await
            .expect("connection");
        Command::new("ldapsearch")
            .args([
                "-x",
                "-LLL",
                "-H",
                &dir.url,
                "-D",
                &dir.bind_dn,
                "-w",
                &dir.password,
            ])
            .args(["-b", base.unwrap_or(&dir.base_dn), filter])
            .args(attrs)
            .output()
            .expect("ldapsearch (ldap-utils)")
    }

    pub fn container_name(&self, app: &str, component: &str) -> String {
        format!("cc-{}-{app}-{component}", self.name)
    }

    /// `docker inspect -f FORMAT NAME`, or None when absent.
    pub fn inspect(&self, name: &str, format: &str) -> Option<String> {
        let out = Command::new(DOCKER)
            .args(["inspect", "-f", format, name])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    pub fn volume_exists(&self, name: &str) -> bool {
        Command::new(DOCKER)
            .args(["volume", "inspect", name])
            .output()
            .unwrap()
            .status
            .success()
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new(DOCKER).args(args).output().unwrap()
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let filter = format!("label={}={}", labels::NODE, self.name);
        let ids = |args: &[&str]| -> Vec<String> {
            let out = Command::new(DOCKER).args(args).output();
            out.map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
        };
        let containers = ids(&["ps", "-aq", "--filter", &filter]);
        if !containers.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(containers.iter().map(String::as_str));
            let _ = Command::new(DOCKER).args(&args).output();
        }
        for v in ids(&["volume", "ls", "-q", "--filter", &filter]) {
            let _ = Command::new(DOCKER)
                .args(["volume", "rm", "-f", &v])
                .output();
        }
        for n in ids(&["network", "ls", "-q", "--filter", &filter]) {
            let _ = Command::new(DOCKER).args(["network", "rm", &n]).output();
        }
    }
}

/// A finished command's standard output then standard error, as text.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub async fn engine() -> Engine {
    Engine::connect()
        .await
        .expect("a Docker engine (scripts/test starts one)")
}

/// The plan's changes to the declared apps: (container, action, reason). The node's own
/// services (directory, edge) are left out; tests that care about it look at it on their own.
pub fn changes(
    p: &Plan,
) -> Vec<(
    String,
    commonscloud::reconcile::Action,
    commonscloud::reconcile::Reason,
)> {
    p.changes()
        .filter(|s| !ops::is_platform(&s.app))
        .map(|s| (s.container.clone(), s.action, s.reason))
        .collect()
}
