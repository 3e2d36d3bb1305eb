//! `node.yaml`: the desired state of one node, as its operator writes it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole of `node.yaml`. Secrets never live here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Short id of the node, used in every Docker object name and label.
    /// Defaults to the domain with dots replaced by dashes.
    #[serde(default)]
    pub name: Option<String>,
    /// The node's DNS domain; every app host is a name under it.
    pub domain: String,
    #[serde(default)]
    pub operator: Option<Operator>,
    #[serde(default)]
    pub tls: Tls,
    /// Where the edge (the reverse proxy in front of every app) listens.
    #[serde(default)]
    pub edge: Edge,
    #[serde(default)]
    pub smtp: Option<Smtp>,
    #[serde(default)]
    pub collectives: Vec<Collective>,
    #[serde(default)]
    pub apps: Vec<AppInstance>,
    #[serde(default)]
    pub backup: Option<Backup>,
    #[serde(default)]
    pub upgrades: Upgrades,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    Acme,
    #[default]
    SelfSigned,
    Provided,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    #[serde(default)]
    pub mode: TlsMode,
    /// ACME account contact (mode `acme`).
    #[serde(default)]
    pub email: Option<String>,
    /// ACME directory URL (mode `acme`); Let's Encrypt production when absent.
    #[serde(default)]
    pub directory: Option<String>,
    /// Certificate and key files (mode `provided`).
    #[serde(default)]
    pub certificate: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    /// Extra CA certificate (PEM file) trusted for the ACME directory's own HTTPS, for a
    /// private ACME server (mode `acme`).
    #[serde(default)]
    pub directory_ca: Option<String>,
    /// DNS server (`IP` or `IP:port`) used to check that each host name reaches this node
    /// before asking the ACME server; the system resolver when absent. A public resolver
    /// sees what the ACME server will see.
    #[serde(default)]
    pub check_resolver: Option<String>,
}

/// Where the edge listens: every app is reached through it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// Address the edge's ports are published on (`0.0.0.0`: every interface).
    #[serde(default = "default_edge_address")]
    pub address: String,
    /// HTTP port (redirects to HTTPS, answers ACME challenges); 0 lets Docker pick one.
    #[serde(default = "default_http_port")]
    pub http_port: u16,
    /// HTTPS port; 0 lets Docker pick one.
    #[serde(default = "default_https_port")]
    pub https_port: u16,
}

impl Default for Edge {
    fn default() -> Self {
        Edge {
            address: default_edge_address(),
            http_port: default_http_port(),
            https_port: default_https_port(),
        }
    }
}

fn default_edge_address() -> String {
    "0.0.0.0".to_string()
}

fn default_http_port() -> u16 {
    80
}

fn default_https_port() -> u16 {
    443
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub username: Option<String>,
    pub from: String,
    /// `starttls` (default), `tls` (implicit, port 465) or `none` (loopback tests only).
    #[serde(default)]
    pub security: SmtpSecurity,
}

fn default_smtp_port() -> u16 {
    587
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SmtpSecurity {
    #[default]
    Starttls,
    Tls,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collective {
    /// DNS-safe id: lower-case letters, digits and dashes.
    pub id: String,
    /// Display name.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Usernames of the collective's admins.
    #[serde(default)]
    pub admins: Vec<String>,
}

/// One installed app: a recipe at a host name, public or private to a collective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppInstance {
    /// The recipe id (a folder under the recipes directory).
    pub recipe: String,
    /// Host name under the node's domain (`cloud` → `cloud.<domain>`), may contain dots.
    pub host: String,
    /// Instance id used in Docker names; defaults to the host with dots replaced by dashes.
    #[serde(default)]
    pub id: Option<String>,
    /// When set, only this collective's members may use the instance.
    #[serde(default)]
    pub collective: Option<String>,
    /// Values for the settings the recipe declares (`recipe.settings`).
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    pub repository: String,
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default)]
    pub keep: Keep,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keep {
    #[serde(default)]
    pub daily: Option<u32>,
    #[serde(default)]
    pub weekly: Option<u32>,
    #[serde(default)]
    pub monthly: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradePolicy {
    Manual,
    AutoPatch,
    #[default]
    AutoMinor,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upgrades {
    #[serde(default)]
    pub policy: UpgradePolicy,
    #[serde(default)]
    pub window: Option<String>,
}

impl NodeConfig {
    /// The node id used in Docker names and labels.
    pub fn node_id(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.domain.replace('.', "-"))
    }
}

impl AppInstance {
    /// The instance id used in Docker names and labels.
    pub fn instance_id(&self) -> String {
        self.id
            .clone()
            .unwrap_or_else(|| self.host.replace('.', "-"))
    }

    /// The full host name of the instance.
    pub fn fqdn(&self, domain: &str) -> String {
        format!("{}.{}", self.host, domain)
    }
}
