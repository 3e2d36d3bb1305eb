//! `recipes/<id>/recipe.yaml`: how an app runs, written by a recipe author.

use super::units::{ByteSize, Seconds};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Must equal the recipe's folder name.
    pub id: String,
    /// `<upstream version>-<packaging revision>`, e.g. `30.0.4-1`.
    pub version: String,
    /// One line shown to people in the portal.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub upstream: Option<Upstream>,
    /// Containers of the app, by component name (DNS-safe).
    pub components: BTreeMap<String, Component>,
    /// Platform services the supervisor provisions for each instance.
    #[serde(default)]
    pub addons: Vec<Addon>,
    /// Secrets generated once per instance, stored 0600, given to templates as `secrets.<name>`.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Settings the operator may set in `node.yaml` (`apps[].settings`), with defaults.
    #[serde(default)]
    pub settings: BTreeMap<String, Setting>,
    #[serde(default)]
    pub hooks: Hooks,
    #[serde(default)]
    pub access: Access,
    /// What the host must have for one instance (summed by `doctor`).
    #[serde(default)]
    pub requirements: Requirements,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    pub name: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub licence: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// A pinned upstream image, `name:tag@sha256:<digest>`. Exclusive with `build`.
    #[serde(default)]
    pub image: Option<String>,
    /// An image we build: the name of a folder under `images/`. Exclusive with `image`.
    #[serde(default)]
    pub build: Option<String>,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub user: Option<String>,
    /// Environment; values are tera templates.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Config files rendered from the recipe's templates and copied into the container before it starts.
    #[serde(default)]
    pub files: Vec<ConfigFile>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub health: Option<Health>,
    #[serde(default)]
    pub route: Option<Route>,
    #[serde(default)]
    pub limits: Limits,
    /// Components of the same recipe that must be healthy before this one starts.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Time given to stop before SIGKILL.
    #[serde(default)]
    pub stop_grace: Option<Seconds>,
    #[serde(default)]
    pub read_only: bool,
    /// Paths mounted as tmpfs (useful with `read_only`).
    #[serde(default)]
    pub tmpfs: Vec<String>,
    /// Ports published on the host, loopback only (for the supervisor on the host, e.g. the
    /// directory); public traffic goes through the edge's `route`s instead.
    #[serde(default)]
    pub publish: Vec<Publish>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    /// Port inside the container.
    pub port: u16,
    /// Host port; Docker picks a free one when absent (the supervisor asks Docker which).
    #[serde(default)]
    pub host_port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Absolute path inside the container.
    pub path: String,
    /// Template path relative to the recipe folder.
    pub template: String,
    /// Octal mode, e.g. `"0640"`.
    #[serde(default)]
    pub mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// DNS-safe name, unique in the recipe.
    pub name: String,
    /// Absolute mount path inside the container.
    pub path: String,
    /// Whether backups include this volume (caches say `false`).
    #[serde(default = "yes")]
    pub backup: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Command run inside the container (exec form); exit 0 means healthy.
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// Or an HTTP GET on this path and port inside the container (needs wget or curl in the image).
    #[serde(default)]
    pub http: Option<HttpCheck>,
    #[serde(default = "default_interval")]
    pub interval: Seconds,
    #[serde(default = "default_timeout")]
    pub timeout: Seconds,
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default)]
    pub start_period: Option<Seconds>,
}

fn default_interval() -> Seconds {
    Seconds(10.0)
}
fn default_timeout() -> Seconds {
    Seconds(5.0)
}
fn default_retries() -> u32 {
    3
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    pub port: u16,
    #[serde(default = "root_path")]
    pub path: String,
}

fn root_path() -> String {
    "/".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Port the component listens on inside its networks.
    pub port: u16,
    /// Extra host label before the instance host (`office` → `office.cloud.<domain>`); empty for the instance host itself.
    #[serde(default)]
    pub prefix: Option<String>,
    /// URL path served by this component (default `/`).
    #[serde(default = "root_path")]
    pub path: String,
    #[serde(default)]
    pub websockets: bool,
    #[serde(default)]
    pub max_body: Option<ByteSize>,
    #[serde(default)]
    pub timeout: Option<Seconds>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default)]
    pub memory: Option<ByteSize>,
    #[serde(default)]
    pub cpus: Option<f64>,
    #[serde(default)]
    pub pids: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Addon {
    Ldap,
    Postgres,
    Mariadb,
    Redis,
    Smtp,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// Run after each start; must be idempotent.
    #[serde(default)]
    pub configure: Option<Hook>,
    #[serde(default)]
    pub backup: Option<Hook>,
    #[serde(default)]
    pub restore: Option<Hook>,
    #[serde(default)]
    pub upgrade: Option<Hook>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    pub component: String,
    /// Exec form; each argument is a tera template.
    pub command: Vec<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub timeout: Option<Seconds>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccessPolicy {
    /// Every active account may log in (public instance) or the members of the instance's collective.
    #[default]
    Members,
    /// No login through the directory (static sites, demo apps).
    None,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Access {
    #[serde(default)]
    pub policy: AccessPolicy,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    #[serde(default)]
    pub memory: Option<ByteSize>,
    #[serde(default)]
    pub disk: Option<ByteSize>,
}
