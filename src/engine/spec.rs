//! Plain values describing Docker objects: what we ask for and what we observe.
//! No bollard types here, so the reconciler can plan with plain values.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Label keys carried by every Docker object we create.
pub mod labels {
    pub const NODE: &str = "coop.commonscloud.node";
    pub const APP: &str = "coop.commonscloud.app";
    pub const COMPONENT: &str = "coop.commonscloud.component";
    pub const VERSION: &str = "coop.commonscloud.version";
    pub const CONFIG_HASH: &str = "coop.commonscloud.config-hash";
    pub const IMAGE: &str = "coop.commonscloud.image";
    pub const VOLUME: &str = "coop.commonscloud.volume";
    pub const BACKUP: &str = "coop.commonscloud.backup";
    pub const NETWORK: &str = "coop.commonscloud.network";
    /// On a base image made locally by debootstrap (no registry reachable): how it was made.
    pub const BOOTSTRAPPED: &str = "coop.commonscloud.bootstrapped";
}

/// A container to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub name: String,
    /// Image reference to run (`name:tag`, `name:tag@sha256:…` or an image id).
    pub image: String,
    pub labels: BTreeMap<String, String>,
    pub env: BTreeMap<String, String>,
    pub command: Option<Vec<String>>,
    pub user: Option<String>,
    pub mounts: Vec<MountSpec>,
    /// Networks to join; the first one is used at creation, the others connected before start.
    pub networks: Vec<NetworkAttachment>,
    pub health: Option<HealthSpec>,
    pub memory_bytes: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub pids_limit: Option<i64>,
    pub stop_grace_secs: Option<i64>,
    pub read_only: bool,
    pub tmpfs: Vec<String>,
    /// Files copied into the container after creation and before start.
    pub files: Vec<FileSpec>,
    /// Container ports published on the host. Docker publishes only through a non-internal
    /// network, so the container must join at least one.
    pub ports: Vec<PortSpec>,
}

/// A TCP port of the container published on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    pub container_port: u16,
    /// Host address to bind, e.g. `127.0.0.1`.
    pub host_ip: String,
    /// `None`: Docker picks a free port (see `Engine::published_port`).
    pub host_port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    /// Named volume.
    pub volume: String,
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAttachment {
    pub network: String,
    /// DNS names of the container on that network.
    pub aliases: Vec<String>,
}

/// Docker's own health check (`HEALTHCHECK`): `test` is `["CMD", …]` or `["CMD-SHELL", "…"]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthSpec {
    pub test: Vec<String>,
    pub interval_ns: i64,
    pub timeout_ns: i64,
    pub retries: i64,
    pub start_period_ns: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSpec {
    pub path: String,
    pub contents: Vec<u8>,
    pub mode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// No route outside the host (Docker `internal`).
    pub internal: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// The container has no health check.
    None,
    Starting,
    Healthy,
    Unhealthy,
}

/// A container as Docker reports it (only ours are ever listed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    pub state: RunState,
    pub health: HealthState,
    /// RFC 3339 time of the last start, when Docker reports one.
    pub started_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedNetwork {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedVolume {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// The output of a command run in a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}
