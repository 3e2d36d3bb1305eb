//! `portal.yaml`: what the portal needs to know, rendered by the supervisor from `node.yaml`.
//! Secrets are not in it: it names the files that hold them, read once at start.
//!
//! ```yaml
//! listen: 0.0.0.0:8080
//! public_url: https://portal.example.coop
//! domain: example.coop
//! ldap_url: ldap://directory-ldap:389
//! bind_password_file: /run/secrets/portal.password
//! smtp: { host: mail.example.coop, port: 587, username: noreply, from: noreply@example.coop }
//! smtp_password_file: /run/secrets/smtp.password
//! state_dir: /var/lib/portal
//! trusted_proxies: [172.20.0.2]
//! default_language: ca
//! services:
//!   - { id: cloud, name: Nextcloud, description: Files and calendars, url: https://cloud.example.coop }
//!   - { id: cloud-fki, name: FKI cloud, url: https://cloud.fki.example.coop, collective: fki }
//! ```

use crate::directory::{base_dn_for_domain, names as dir_names};
use crate::model::{Diagnostic, Diagnostics, Smtp};
use serde::Deserialize;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Where `commonscloud portal` reads its configuration when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/commonscloud/portal.yaml";

/// The languages the portal speaks.
pub const LANGUAGES: &[&str] = &["ca", "es", "en"];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalConfig {
    /// Address and port to serve HTTP on (the edge terminates TLS in front).
    pub listen: SocketAddr,
    /// The address people use, e.g. `https://portal.example.coop`; links in mail start with it.
    /// Cookies are `Secure` (and `__Host-` prefixed) when it is `https`.
    pub public_url: String,
    /// A display name for the node; the domain when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// The node's domain.
    pub domain: String,
    /// The directory's base DN; derived from the domain when absent.
    #[serde(default)]
    pub base_dn: Option<String>,
    /// `ldap://directory-ldap:389`.
    pub ldap_url: String,
    /// The portal's own account; `cn=portal,ou=system,<base>` when absent.
    #[serde(default)]
    pub bind_dn: Option<String>,
    /// A file holding the portal's directory password (one line).
    pub bind_password_file: PathBuf,
    /// The node's SMTP settings. Without them mail is kept in the outbox, unsent.
    #[serde(default)]
    pub smtp: Option<Smtp>,
    /// A file holding the SMTP password (with `smtp.username`).
    #[serde(default)]
    pub smtp_password_file: Option<PathBuf>,
    /// Where the portal keeps its SQLite databases.
    pub state_dir: PathBuf,
    /// Proxies (the edge) whose `X-Forwarded-For` is believed: IP addresses or `addr/prefix`.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// `ca`, `es` or `en`: used when the browser asks for none of them.
    #[serde(default = "default_language")]
    pub default_language: String,
    /// The node's services, shown on the home page.
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    /// The node's CA certificate (self-signed TLS), offered at `/ca.pem`.
    #[serde(default)]
    pub ca_certificate: Option<PathBuf>,
    /// Shown to people as the operator's contact.
    #[serde(default)]
    pub contact: Option<String>,
    /// At most this many registrations and join requests wait per collective.
    #[serde(default = "default_pending_cap")]
    pub pending_per_collective: u32,
    /// A session lasts at most this many hours (and ends after 2 idle hours).
    #[serde(default = "default_session_hours")]
    pub session_hours: u32,
}

/// One service of the node.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The app instance id (its directory group is `cn=<id>`).
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub url: String,
    /// Private to this collective's members; public (every account) when absent.
    #[serde(default)]
    pub collective: Option<String>,
}

fn default_language() -> String {
    "en".into()
}

fn default_pending_cap() -> u32 {
    50
}

fn default_session_hours() -> u32 {
    12
}

/// The secrets named by the configuration, read at start. They never print.
#[derive(Clone)]
pub struct Secrets {
    pub bind_password: String,
    pub smtp_password: Option<String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("bind_password", &"***")
            .field("smtp_password", &self.smtp_password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// One address or network a proxy may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(s: &str) -> Result<Network, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix must be 0 to {max}"))?,
            None => max,
        };
        Ok(Network { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl PortalConfig {
    /// Read, parse and check `path`. Every problem is reported with file:line:col when the YAML
    /// is at fault, or with the field path.
    pub fn load(path: &Path) -> Result<PortalConfig, Diagnostics> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Diagnostic::file(
                path,
                format!("cannot read the portal configuration: {e}"),
                "the supervisor writes it; see docs/portal.md",
            )
        })?;
        PortalConfig::parse(&text, path)
    }

    /// Parse and check `text`; `file` only names it in messages.
    pub fn parse(text: &str, file: &Path) -> Result<PortalConfig, Diagnostics> {
        let config: PortalConfig = serde_saphyr::from_str(text).map_err(|e| {
            let pos = e.location();
            let message = e.without_snippet().to_string();
            let message = match message.rfind(" at line ") {
                Some(i) => message[..i].to_string(),
                None => message,
            };
            Diagnostics::from(Diagnostic {
                file: file.to_path_buf(),
                line: pos.map(|l| l.line() as usize),
                column: pos.map(|l| l.column() as usize),
                path: String::new(),
                message,
                hint: "see docs/portal.md for the fields".into(),
            })
        })?;
        config.check(file)?;
        Ok(config)
    }

    fn check(&self, file: &Path) -> Result<(), Diagnostics> {
        let mut out = Diagnostics::default();
        let mut bad = |path: &str, message: String, hint: &str| {
            out.push(Diagnostic {
                file: file.to_path_buf(),
                line: None,
                column: None,
                path: path.to_string(),
                message,
                hint: hint.to_string(),
            })
        };
        if !(self.public_url.starts_with("https://") || self.public_url.starts_with("http://"))
            || self.public_url.contains(char::is_whitespace)
        {
            bad(
                "public_url",
                format!("`{}` is not an http(s) URL", self.public_url),
                "write the address people use, like `https://portal.example.coop`",
            );
        }
        if let Err(why) = base_dn_for_domain(&self.domain) {
            bad("domain", why.to_string(), "write the node's domain");
        }
        if let Some(b) = &self.base_dn {
            if crate::directory::Tree::new(b).is_err() {
                bad(
                    "base_dn",
                    format!("`{b}` is not a DN"),
                    "like `dc=example,dc=coop`",
                );
            }
        }
        if !(self.ldap_url.starts_with("ldap://") || self.ldap_url.starts_with("ldaps://")) {
            bad(
                "ldap_url",
                format!("`{}` is not an ldap:// URL", self.ldap_url),
                "like `ldap://directory-ldap:389`",
            );
        }
        if !LANGUAGES.contains(&self.default_language.as_str()) {
            bad(
                "default_language",
                format!(
                    "`{}` is not one of the portal's languages",
                    self.default_language
                ),
                "use ca, es or en",
            );
        }
        for (i, p) in self.trusted_proxies.iter().enumerate() {
            if let Err(why) = Network::parse(p) {
                bad(
                    &format!("trusted_proxies[{i}]"),
                    why,
                    "an IP address, or a network like 172.20.0.0/16",
                );
            }
        }
        for (i, s) in self.services.iter().enumerate() {
            if let Err(e) = dir_names::app_id(&s.id) {
                bad(
                    &format!("services[{i}].id"),
                    e.to_string(),
                    "use the app instance id",
                );
            }
            if let Some(c) = &s.collective {
                if let Err(e) = dir_names::collective_id(c) {
                    bad(
                        &format!("services[{i}].collective"),
                        e.to_string(),
                        "a collective id",
                    );
                }
            }
            if !(s.url.starts_with("https://") || s.url.starts_with("http://")) {
                bad(
                    &format!("services[{i}].url"),
                    format!("`{}` is not an http(s) URL", s.url),
                    "write the service's address",
                );
            }
        }
        if self.session_hours == 0 || self.session_hours > 24 * 30 {
            bad(
                "session_hours",
                format!(
                    "{} hours is not a sensible session length",
                    self.session_hours
                ),
                "use 1 to 720",
            );
        }
        out.into_result(())
    }

    /// Read the password files.
    pub fn read_secrets(&self) -> Result<Secrets, String> {
        let read = |p: &Path| -> Result<String, String> {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read the secret file {}: {e}", p.display()))?;
            let value = text.trim_end_matches(['\n', '\r']).to_string();
            if value.is_empty() {
                return Err(format!("the secret file {} is empty", p.display()));
            }
            Ok(value)
        };
        Ok(Secrets {
            bind_password: read(&self.bind_password_file)?,
            smtp_password: match &self.smtp_password_file {
                Some(p) => Some(read(p)?),
                None => None,
            },
        })
    }

    pub fn base_dn(&self) -> String {
        self.base_dn
            .clone()
            .or_else(|| base_dn_for_domain(&self.domain).ok())
            .unwrap_or_default()
    }

    pub fn bind_dn(&self) -> String {
        self.bind_dn
            .clone()
            .unwrap_or_else(|| format!("cn=portal,ou=system,{}", self.base_dn()))
    }

    /// The public URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }

    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.domain)
    }

    pub fn proxies(&self) -> Vec<Network> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| Network::parse(p).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "listen: 127.0.0.1:8080\npublic_url: https://portal.example.coop\ndomain: example.coop\nldap_url: ldap://directory-ldap:389\nbind_password_file: /run/p\nstate_dir: /var/lib/portal\nservices:\n  - { id: cloud, name: Cloud, url: https://cloud.example.coop }\n";

    #[test]
    fn a_good_file_with_defaults() {
        let c = PortalConfig::parse(GOOD, Path::new("portal.yaml")).unwrap();
        assert_eq!(c.base_dn(), "dc=example,dc=coop");
        assert_eq!(c.bind_dn(), "cn=portal,ou=system,dc=example,dc=coop");
        assert_eq!(c.default_language, "en");
        assert!(c.is_https());
        assert_eq!(c.services[0].collective, None);
    }

    #[test]
    fn unknown_fields_are_placed() {
        let text = GOOD.replace("state_dir", "stat_dir");
        let e = PortalConfig::parse(&text, Path::new("portal.yaml")).unwrap_err();
        let shown = e.to_string();
        assert!(shown.starts_with("portal.yaml:6:1: "), "{shown}");
        assert!(shown.contains("stat_dir"), "{shown}");
    }

    #[test]
    fn semantic_problems_are_all_reported() {
        let text = GOOD
            .replace("https://portal", "ftp://portal")
            .replace("id: cloud", "id: Cloud!");
        let text = format!("{text}default_language: fr\ntrusted_proxies: [10.0.0.0/40]\n");
        let e = PortalConfig::parse(&text, Path::new("portal.yaml")).unwrap_err();
        let paths: Vec<&str> = e.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "public_url",
                "default_language",
                "trusted_proxies[0]",
                "services[0].id"
            ]
        );
    }

    #[test]
    fn networks() {
        let n = Network::parse("172.20.0.0/16").unwrap();
        assert!(n.contains("172.20.3.4".parse().unwrap()));
        assert!(!n.contains("172.21.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:172.20.0.9".parse().unwrap()));
        assert!(Network::parse("10.0.0.1")
            .unwrap()
            .contains("10.0.0.1".parse().unwrap()));
        assert!(Network::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Network::parse("::1")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(Network::parse("nope").is_err());
    }

    #[test]
    fn secrets_never_print() {
        let s = Secrets {
            bind_password: "verysecret".into(),
            smtp_password: Some("alsosecret".into()),
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("secret\""), "{shown}");
        assert!(!shown.contains("verysecret") && !shown.contains("alsosecret"));
    }
}
