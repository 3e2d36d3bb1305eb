//! Containers: list (ours only), create from a [`ContainerSpec`], start, stop, remove, state.

use super::client::{label_filter, matches, parse_time, to_btree, Engine};
use super::error::{docker_error, message_of, status_of, EngineError};
use super::labels;
use super::spec::{ContainerSpec, FileSpec, HealthState, ObservedContainer, RunState};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerState, ContainerStateStatusEnum,
    EndpointSettings, HealthConfig, HealthStatusEnum, HostConfig, HostConfigLogConfig, Mount,
    MountType, NetworkConnectRequest, NetworkingConfig, PortBinding, PortMap, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures_util::StreamExt;

/// Each container's log is rotated at this size, keeping this many files.
pub const LOG_MAX_SIZE: &str = "10m";
pub const LOG_MAX_FILES: &str = "3";
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

impl Engine {
    /// Every container (any state) carrying all of `label_filters`, which must include
    /// `coop.commonscloud.node`. Health and start time come from each container's inspect.
    pub async fn list_containers(
        &self,
        label_filters: &[(&str, &str)],
    ) -> Result<Vec<ObservedContainer>, EngineError> {
        let filters = label_filter(label_filters)?;
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| docker_error("list", "containers", e))?;
        let ids: Vec<String> = list.into_iter().filter_map(|c| c.id).collect();
        let inspected: Vec<Result<Option<ContainerInspectResponse>, EngineError>> =
            futures_util::stream::iter(ids)
                .map(|id| async move {
                    match self.docker.inspect_container(&id, None).await {
                        Ok(c) => Ok(Some(c)),
                        // Removed between the list and the inspect.
                        Err(e) if status_of(&e) == Some(404) => Ok(None),
                        Err(e) => Err(docker_error("inspect", &format!("container {id}"), e)),
                    }
                })
                .buffered(8)
                .collect()
                .await;
        let mut out = Vec::new();
        for c in inspected {
            let Some(c) = c? else { continue };
            let observed = observed(c);
            if matches(&observed.labels, label_filters) {
                out.push(observed);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Create (not start) a container: labels, env, command, user, named-volume mounts, the
    /// first network with its aliases (the others connected after), health check, limits,
    /// stop timeout, read-only root and tmpfs, restart `unless-stopped`; then copy `files` in.
    /// On any failure the half-made container is removed. Returns the container id.
    pub async fn create_container(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        let body = create_body(spec);
        let options = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let id = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| EngineError::Docker {
                action: format!("create container {}", spec.name),
                message: message_of(&e),
            })?
            .id;
        if let Err(e) = self.finish_create(&id, spec).await {
            let remove = RemoveContainerOptionsBuilder::default().force(true).build();
            let _ = self.docker.remove_container(&id, Some(remove)).await;
            return Err(e);
        }
        Ok(id)
    }

    async fn finish_create(&self, id: &str, spec: &ContainerSpec) -> Result<(), EngineError> {
        for n in spec.networks.iter().skip(1) {
            let request = NetworkConnectRequest {
                container: id.to_string(),
                endpoint_config: Some(EndpointSettings {
                    aliases: Some(n.aliases.clone()),
                    ..Default::default()
                }),
            };
            self.docker
                .connect_network(&n.network, request)
                .await
                .map_err(|e| EngineError::Docker {
                    action: format!("connect container {} to network {}", spec.name, n.network),
                    message: message_of(&e),
                })?;
        }
        // Docker copies into a read-only container only through its volumes: send each file
        // to the volume that holds it, the others to `/`.
        for (dest, files) in files_by_destination(spec) {
            self.upload(id, &spec.name, &dest, &files).await?;
        }
        Ok(())
    }

    /// Copy files into a container of ours (running or not), as root, creating missing
    /// folders. The container's root file system must be writable.
    pub async fn copy_files(&self, container: &str, files: &[FileSpec]) -> Result<(), EngineError> {
        self.ours(container).await?;
        let files: Vec<&FileSpec> = files.iter().collect();
        self.upload(container, container, "/", &files).await
    }

    async fn upload(
        &self,
        id: &str,
        name: &str,
        dest: &str,
        files: &[&FileSpec],
    ) -> Result<(), EngineError> {
        let tar = files_tar(dest, files).map_err(|source| EngineError::Io {
            action: format!("could not copy files into container {name}"),
            source,
        })?;
        let options = UploadToContainerOptionsBuilder::default()
            .path(dest)
            .build();
        self.docker
            .upload_to_container(id, Some(options), bollard::body_full(tar.into()))
            .await
            .map_err(|e| EngineError::Docker {
                action: format!("copy files into {dest} of container {name}"),
                message: message_of(&e),
            })
    }

    /// Start a created or stopped container of ours. Starting a running one is a no-op.
    pub async fn start_container(&self, id: &str) -> Result<(), EngineError> {
        self.ours(id).await?;
        self.docker
            .start_container(id, None)
            .await
            .map_err(|e| docker_error("start", &format!("container {id}"), e))
    }

    /// Stop a container of ours, giving it `grace_secs` (else its own stop timeout) before
    /// SIGKILL. Stopping a stopped or absent container is a no-op.
    pub async fn stop_container(
        &self,
        id: &str,
        grace_secs: Option<i64>,
    ) -> Result<(), EngineError> {
        let Some(c) = self.ours_if_present(id).await? else {
            return Ok(());
        };
        let grace = grace_secs
            .or_else(|| c.config.as_ref().and_then(|c| c.stop_timeout))
            .unwrap_or(10)
            .clamp(0, i64::from(i32::MAX));
        let mut options = StopContainerOptionsBuilder::default();
        if let Some(g) = grace_secs {
            options = options.t(g.clamp(0, i64::from(i32::MAX)) as i32);
        }
        // The request lasts as long as the grace period: give the client that long, plus margin.
        let docker = self
            .docker
            .clone()
            .with_timeout(Duration::from_secs(grace as u64 + 60));
        match docker.stop_container(id, Some(options.build())).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(docker_error("stop", &format!("container {id}"), e)),
        }
    }

    /// Remove a container of ours (forcefully, keeping its volumes). Absent is fine.
    pub async fn remove_container(&self, id: &str) -> Result<(), EngineError> {
        if self.ours_if_present(id).await?.is_none() {
            return Ok(());
        }
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(false)
            .build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            // Docker is already removing it.
            Err(e) if status_of(&e) == Some(409) && message_of(&e).contains("in progress") => {
                Ok(())
            }
            Err(e) => Err(docker_error("remove", &format!("container {id}"), e)),
        }
    }

    /// The run state and health of a container.
    pub async fn inspect_state(&self, id: &str) -> Result<(RunState, HealthState), EngineError> {
        let c = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(|e| docker_error("inspect", &format!("container {id}"), e))?;
        let state = c.state.unwrap_or_default();
        Ok((run_state(&state), health_state(&state)))
    }

    /// The host port Docker published for `container_port`/tcp of a container, `None` when
    /// that port is not published (or the container is not running, so nothing is bound).
    pub async fn published_port(
        &self,
        container: &str,
        container_port: u16,
    ) -> Result<Option<u16>, EngineError> {
        let c = self
            .docker
            .inspect_container(container, None)
            .await
            .map_err(|e| docker_error("inspect", &format!("container {container}"), e))?;
        let ports = c.network_settings.and_then(|n| n.ports).unwrap_or_default();
        Ok(ports
            .get(&format!("{container_port}/tcp"))
            .and_then(|b| b.as_ref())
            .into_iter()
            .flatten()
            .find_map(|b| b.host_port.as_deref().and_then(|p| p.parse().ok())))
    }

    /// Inspect a container and make sure it is ours (carries the node label).
    pub(crate) async fn ours(&self, id: &str) -> Result<ContainerInspectResponse, EngineError> {
        self.ours_if_present(id)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: format!("container {id}"),
            })
    }

    pub(crate) async fn ours_if_present(
        &self,
        id: &str,
    ) -> Result<Option<ContainerInspectResponse>, EngineError> {
        let c = match self.docker.inspect_container(id, None).await {
            Ok(c) => c,
            Err(e) if status_of(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(docker_error("inspect", &format!("container {id}"), e)),
        };
        let has_label = c
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .is_some_and(|l| l.contains_key(labels::NODE));
        if !has_label {
            return Err(EngineError::NotOurs {
                what: format!(
                    "container {}",
                    c.name.as_deref().unwrap_or(id).trim_start_matches('/')
                ),
                label: labels::NODE.to_string(),
            });
        }
        Ok(Some(c))
    }
}

fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let mounts = spec
        .mounts
        .iter()
        .map(|m| Mount {
            source: Some(m.volume.clone()),
            target: Some(m.target.clone()),
            typ: Some(MountType::VOLUME),
            read_only: Some(m.read_only),
            ..Default::default()
        })
        .collect();
    let tmpfs: HashMap<String, String> = spec
        .tmpfs
        .iter()
        .map(|t| match t.split_once(':') {
            Some((path, opts)) => (path.to_string(), opts.to_string()),
            None => (t.clone(), String::new()),
        })
        .collect();
    let port_bindings: PortMap = spec
        .ports
        .iter()
        .map(|p| {
            (
                format!("{}/tcp", p.container_port),
                Some(vec![PortBinding {
                    host_ip: Some(p.host_ip.clone()),
                    // Empty: Docker picks a free port.
                    host_port: Some(p.host_port.map(|h| h.to_string()).unwrap_or_default()),
                }]),
            )
        })
        .collect();
    let exposed_ports: Vec<String> = port_bindings.keys().cloned().collect();
    let host_config = HostConfig {
        mounts: Some(mounts),
        port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
        memory: spec.memory_bytes,
        nano_cpus: spec.nano_cpus,
        pids_limit: spec.pids_limit,
        readonly_rootfs: Some(spec.read_only),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
            maximum_retry_count: None,
        }),
        // A tiny init as PID 1: signals reach the app and zombies are reaped.
        init: Some(true),
        // Docker keeps json-file logs forever by default; a chatty app must not fill the disk.
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".to_string(), LOG_MAX_SIZE.to_string()),
                ("max-file".to_string(), LOG_MAX_FILES.to_string()),
            ])),
        }),
        network_mode: spec.networks.first().map(|n| n.network.clone()),
        ..Default::default()
    };
    let networking_config = spec.networks.first().map(|n| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            n.network.clone(),
            EndpointSettings {
                aliases: Some(n.aliases.clone()),
                ..Default::default()
            },
        )])),
    });
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        labels: Some(spec.labels.clone().into_iter().collect()),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        cmd: spec.command.clone(),
        user: spec.user.clone(),
        healthcheck: spec.health.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: Some(h.interval_ns),
            timeout: Some(h.timeout_ns),
            retries: Some(h.retries),
            start_period: Some(h.start_period_ns),
            start_interval: None,
        }),
        stop_timeout: spec.stop_grace_secs,
        exposed_ports: (!exposed_ports.is_empty()).then_some(exposed_ports),
        host_config: Some(host_config),
        networking_config,
        ..Default::default()
    }
}

/// The files grouped by where they are unpacked: the mount point of the volume holding
/// them, else `/`.
fn files_by_destination(spec: &ContainerSpec) -> BTreeMap<String, Vec<&FileSpec>> {
    let mut out: BTreeMap<String, Vec<&FileSpec>> = BTreeMap::new();
    for f in &spec.files {
        let dest = spec
            .mounts
            .iter()
            .map(|m| m.target.trim_end_matches('/'))
            .filter(|t| !t.is_empty() && f.path.starts_with(&format!("{t}/")))
            .max_by_key(|t| t.len())
            .unwrap_or("/");
        out.entry(dest.to_string()).or_default().push(f);
    }
    out
}

/// `files` as a tar archive to unpack at `dest`; Docker creates missing parent folders.
fn files_tar(dest: &str, files: &[&FileSpec]) -> std::io::Result<Vec<u8>> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut b = tar::Builder::new(Vec::new());
    for f in files {
        let rel = f
            .path
            .strip_prefix(dest.trim_end_matches('/'))
            .unwrap_or(&f.path)
            .trim_start_matches('/');
        if rel.is_empty() || !f.path.starts_with('/') || rel.split('/').any(|part| part == "..") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "`{}` is not an absolute file path inside the container",
                    f.path
                ),
            ));
        }
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(f.contents.len() as u64);
        header.set_mode(f.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(now);
        b.append_data(&mut header, rel, f.contents.as_slice())?;
    }
    b.into_inner()
}

pub(crate) fn run_state(s: &ContainerState) -> RunState {
    match s.status {
        Some(ContainerStateStatusEnum::RUNNING) => RunState::Running,
        Some(ContainerStateStatusEnum::PAUSED) => RunState::Paused,
        Some(ContainerStateStatusEnum::RESTARTING) => RunState::Restarting,
        Some(ContainerStateStatusEnum::REMOVING) => RunState::Removing,
        Some(ContainerStateStatusEnum::EXITED) => RunState::Exited,
        Some(ContainerStateStatusEnum::DEAD) => RunState::Dead,
        _ => RunState::Created,
    }
}

pub(crate) fn health_state(s: &ContainerState) -> HealthState {
    match s.health.as_ref().and_then(|h| h.status) {
        Some(HealthStatusEnum::STARTING) => HealthState::Starting,
        Some(HealthStatusEnum::HEALTHY) => HealthState::Healthy,
        Some(HealthStatusEnum::UNHEALTHY) => HealthState::Unhealthy,
        _ => HealthState::None,
    }
}

/// Docker's "never started" is year 1.
pub(crate) fn started_at(s: &ContainerState) -> Option<String> {
    s.started_at
        .clone()
        .filter(|t| !t.starts_with("0001-") && parse_time(t).is_some())
}

fn observed(c: ContainerInspectResponse) -> ObservedContainer {
    let state = c.state.unwrap_or_default();
    let config = c.config.unwrap_or_default();
    ObservedContainer {
        id: c.id.unwrap_or_default(),
        name: c
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        image: config.image.unwrap_or_default(),
        labels: to_btree(config.labels),
        state: run_state(&state),
        health: health_state(&state),
        started_at: started_at(&state),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_must_stay_inside_the_container() {
        let f = |p: &str| FileSpec {
            path: p.into(),
            contents: b"x".to_vec(),
            mode: 0o600,
        };
        assert!(files_tar("/", &[&f("/etc/app/conf")]).is_ok());
        assert!(files_tar("/", &[&f("/etc/../../x")]).is_err());
        assert!(files_tar("/", &[&f("/")]).is_err());
        assert!(files_tar("/", &[&f("relative")]).is_err());
    }

    #[test]
    fn files_go_to_the_volume_that_holds_them() {
        let spec = ContainerSpec {
            name: "c".into(),
            image: "i".into(),
            labels: BTreeMap::new(),
            env: BTreeMap::new(),
            command: None,
            user: None,
            mounts: ["/data", "/data/db", "/srv"]
                .map(|t| super::super::spec::MountSpec {
                    volume: "v".into(),
                    target: t.into(),
                    read_only: false,
                })
                .to_vec(),
            networks: vec![],
            health: None,
            memory_bytes: None,
            nano_cpus: None,
            pids_limit: None,
            stop_grace_secs: None,
            read_only: true,
            tmpfs: vec![],
            files: ["/data/a", "/data/db/b", "/etc/c", "/datafile"]
                .map(|p| FileSpec {
                    path: p.into(),
                    contents: vec![],
                    mode: 0o644,
                })
                .to_vec(),
            ports: vec![],
        };
        let by: Vec<(String, Vec<String>)> = files_by_destination(&spec)
            .into_iter()
            .map(|(d, fs)| (d, fs.iter().map(|f| f.path.clone()).collect()))
            .collect();
        assert_eq!(
            by,
            vec![
                ("/".into(), vec!["/etc/c".into(), "/datafile".into()]),
                ("/data".into(), vec!["/data/a".into()]),
                ("/data/db".into(), vec!["/data/db/b".into()]),
            ]
        );
    }
}
