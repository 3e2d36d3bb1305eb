//! The node's certificates, kept as `tls.mode` says: from the node's own CA (`self-signed`),
//! from an ACME server through the edge (`acme`), or copied from the operator's files
//! (`provided`). `up` and `certs renew` call [`ensure`]; it issues what is missing or due,
//! retries failed ACME hosts with jittered backoff (never in a hot loop, even when run by a
//! timer every few minutes), and never replaces a certificate that works by one that failed.

use super::{edge, reach, OpsError};
use crate::engine::Engine;
use crate::model::{Loaded, TlsMode};
use crate::paths::NodePaths;
use crate::tls::{
    self, acme_issue, checked_token, AcmeSettings, Backoff, CaInfo, CertInfo, CertSource,
    CertStore, Http01Responder, TlsError,
};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// Failures in a row after which the operator is told by email.
pub const NOTIFY_AFTER_FAILURES: u32 = 3;

/// What happened to one host's certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertAction {
    /// Valid, covering the host, not due: left alone.
    Kept,
    /// Issued or renewed now.
    Issued,
    /// Issuance failed; the previous certificate (if any) keeps serving.
    Failed,
    /// A previous failure's backoff has not elapsed; not tried now.
    Waiting,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertOutcome {
    pub host: String,
    pub action: CertAction,
    /// Why it was issued, what failed, or when the next attempt is.
    pub detail: String,
    /// The certificate serving now, if any.
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_after: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertsReport {
    pub mode: TlsMode,
    pub hosts: Vec<CertOutcome>,
    /// Expiry warnings (provided certificates) and notices sent.
    pub warnings: Vec<String>,
}

impl CertsReport {
    pub fn failed(&self) -> usize {
        self.hosts
            .iter()
            .filter(|h| h.action == CertAction::Failed)
            .count()
    }
}

/// Per host, the ACME failures in a row and when to try again; kept in `<tls>/retry.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RetryState {
    hosts: BTreeMap<String, Retry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Retry {
    failures: u32,
    #[serde(with = "time::serde::rfc3339")]
    next_attempt: OffsetDateTime,
    last_error: String,
    /// Whether the operator has been told about this run of failures.
    #[serde(default)]
    notified: bool,
}

impl RetryState {
    fn path(store: &CertStore) -> PathBuf {
        store.dir().join("retry.json")
    }

    fn load(store: &CertStore) -> RetryState {
        std::fs::read(Self::path(store))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save(&self, store: &CertStore) -> Result<(), OpsError> {
        let path = Self::path(store);
        let tmp = path.with_extension("json.tmp");
        let io = |source| OpsError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).unwrap_or_default()).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

/// The certificate store of a node.
pub fn store(paths: &NodePaths) -> Result<CertStore, OpsError> {
    Ok(CertStore::open(paths.tls_dir())?)
}

/// Answers HTTP-01 challenges through the node's edge.
pub struct EdgeResponder<'a> {
    pub engine: &'a Engine,
    pub node: String,
}

impl Http01Responder for EdgeResponder<'_> {
    fn publish<'a>(
        &'a self,
        token: &'a str,
        key_auth: &'a str,
    ) -> BoxFuture<'a, Result<(), TlsError>> {
        Box::pin(async move {
            edge::serve_well_known(
                self.engine,
                &self.node,
                &format!("acme-challenge/{}", checked_token(token)?),
                key_auth.as_bytes(),
            )
            .await
            .map_err(|e| TlsError::Responder {
                token: token.to_string(),
                problem: e.to_string(),
            })
        })
    }

    fn withdraw<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<(), TlsError>> {
        Box::pin(async move {
            edge::withdraw_well_known(
                self.engine,
                &self.node,
                &format!("acme-challenge/{}", checked_token(token)?),
            )
            .await
            .map_err(|e| TlsError::Responder {
                token: token.to_string(),
                problem: e.to_string(),
            })
        })
    }
}

/// Issue what is missing or due for the node's host names (all of them with `force`), in the
/// node's mode. The edge must be running for `acme`.
pub async fn ensure(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
    now: OffsetDateTime,
    force: bool,
) -> Result<CertsReport, OpsError> {
    let store = store(paths)?;
    let hosts = loaded.hostnames();
    let node = loaded.node.node_id();
    let tls_cfg = &loaded.node.tls;
    let mut report = CertsReport {
        mode: tls_cfg.mode,
        hosts: vec![],
        warnings: vec![],
    };
    let source = source_of(tls_cfg.mode);
    let due: BTreeMap<String, String> = tls::renewal_due(&store, &hosts, source, now)?
        .into_iter()
        .map(|d| (d.host, d.reason.to_string()))
        .collect();
    let todo = |h: &str| force || due.contains_key(h);
    match tls_cfg.mode {
        TlsMode::SelfSigned => {
            store.ensure_ca(&node, now)?;
            for host in &hosts {
                let outcome = if todo(host) {
                    match store.issue_local(host, now) {
                        Ok(info) => issued(host, &info, due.get(host)),
                        Err(e) => failed(&store, host, &e.to_string()),
                    }
                } else {
                    kept(&store, host)
                };
                report.hosts.push(outcome);
            }
        }
        TlsMode::Provided => {
            let cert = PathBuf::from(tls_cfg.certificate.clone().unwrap_or_default());
            let key = PathBuf::from(tls_cfg.key.clone().unwrap_or_default());
            let changed = provided_changed(&store, &hosts, &cert);
            if hosts.iter().any(|h| todo(h)) || changed {
                match store.install_provided(&hosts, &cert, &key, now) {
                    Ok(infos) => {
                        for info in infos {
                            let host = info.host.clone();
                            report.hosts.push(issued(&host, &info, due.get(&host)));
                        }
                    }
                    Err(e) => {
                        for host in &hosts {
                            report.hosts.push(failed(&store, host, &e.to_string()));
                        }
                    }
                }
            } else {
                for host in &hosts {
                    report.hosts.push(kept(&store, host));
                }
            }
            for info in store.list()? {
                if hosts.contains(&info.host) {
                    if let Some(w) = tls::expiry_warning(&info, now) {
                        report.warnings.push(w);
                    }
                }
            }
        }
        TlsMode::Acme => {
            acme(
                engine,
                loaded,
                &store,
                &hosts,
                &todo,
                &due,
                now,
                force,
                &mut report,
            )
            .await?;
        }
    }
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn acme(
    engine: &Engine,
    loaded: &Loaded,
    store: &CertStore,
    hosts: &[String],
    todo: &dyn Fn(&str) -> bool,
    due: &BTreeMap<String, String>,
    now: OffsetDateTime,
    force: bool,
    report: &mut CertsReport,
) -> Result<(), OpsError> {
    let node = loaded.node.node_id();
    let tls_cfg = &loaded.node.tls;
    let mut retry = RetryState::load(store);
    let mut wanted = vec![];
    for host in hosts {
        if !todo(host) {
            // A failure stays counted until a success, so backoff still holds once it is due.
            report.hosts.push(kept(store, host));
            continue;
        }
        match retry.hosts.get(host) {
            Some(r) if !force && r.next_attempt > now => report.hosts.push(CertOutcome {
                host: host.clone(),
                action: CertAction::Waiting,
                detail: format!(
                    "{} failure(s) in a row, next attempt after {} (or `commonscloud certs renew \
                     --force`); last: {}",
                    r.failures,
                    short_rfc3339(r.next_attempt),
                    r.last_error
                ),
                not_after: current_not_after(store, host),
            }),
            _ => wanted.push(host.clone()),
        }
    }
    if wanted.is_empty() {
        retry.save(store)?;
        return Ok(());
    }
    let (http_port, _) = edge::ports(engine, &node).await?;
    let resolver = reach::Resolver::new(tls_cfg.check_resolver.as_deref())?;
    let reach = reach::check(engine, &node, &wanted, http_port, &resolver).await?;
    let settings = AcmeSettings {
        directory_url: tls_cfg
            .directory
            .clone()
            .unwrap_or_else(|| LETS_ENCRYPT.to_string()),
        contact_email: tls_cfg.email.clone(),
        extra_root: tls_cfg.directory_ca.as_ref().map(PathBuf::from),
    };
    let responder = EdgeResponder {
        engine,
        node: node.clone(),
    };
    for r in reach {
        let host = r.host.clone();
        let result = match r.problem {
            Some(p) => Err(format!("not asking the ACME server: {p}")),
            None => acme_issue(store, &settings, &host, &responder, now)
                .await
                .map_err(|e| e.to_string()),
        };
        match result {
            Ok(info) => {
                retry.hosts.remove(&host);
                report.hosts.push(issued(&host, &info, due.get(&host)));
            }
            Err(e) => {
                let entry = retry.hosts.entry(host.clone()).or_insert(Retry {
                    failures: 0,
                    next_attempt: now,
                    last_error: String::new(),
                    notified: false,
                });
                let delay = Backoff::RENEWAL.delay(entry.failures, &mut rand::rng());
                entry.failures += 1;
                entry.next_attempt = now + delay;
                entry.last_error = e.clone();
                report.hosts.push(failed(store, &host, &e));
            }
        }
    }
    retry.save(store)?;
    Ok(())
}

/// Hosts whose ACME failures reached [`NOTIFY_AFTER_FAILURES`] and of which the operator has
/// not been told yet; marks them told. (`certs renew` mails them.)
pub fn take_notices(paths: &NodePaths) -> Result<Vec<(String, u32, String)>, OpsError> {
    let store = store(paths)?;
    let mut retry = RetryState::load(&store);
    let mut out = vec![];
    for (host, r) in &mut retry.hosts {
        if r.failures >= NOTIFY_AFTER_FAILURES && !r.notified {
            r.notified = true;
            out.push((host.clone(), r.failures, r.last_error.clone()));
        }
    }
    if !out.is_empty() {
        retry.save(&store)?;
    }
    Ok(out)
}

/// Let's Encrypt's production directory, the default ACME server.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

fn source_of(mode: TlsMode) -> CertSource {
    match mode {
        TlsMode::SelfSigned => CertSource::Local,
        TlsMode::Acme => CertSource::Acme,
        TlsMode::Provided => CertSource::Provided,
    }
}

/// Whether the operator's certificate file differs from what is installed.
fn provided_changed(store: &CertStore, hosts: &[String], cert: &Path) -> bool {
    let Ok(given) = std::fs::read(cert) else {
        return true;
    };
    hosts.iter().any(|h| {
        std::fs::read(store.paths(h).fullchain)
            .map(|installed| installed != given)
            .unwrap_or(true)
    })
}

fn current_not_after(store: &CertStore, host: &str) -> Option<OffsetDateTime> {
    store.current(host).ok().flatten().map(|i| i.not_after)
}

fn kept(store: &CertStore, host: &str) -> CertOutcome {
    CertOutcome {
        host: host.to_string(),
        action: CertAction::Kept,
        detail: String::new(),
        not_after: current_not_after(store, host),
    }
}

fn issued(host: &str, info: &CertInfo, why: Option<&String>) -> CertOutcome {
    CertOutcome {
        host: host.to_string(),
        action: CertAction::Issued,
        detail: why.cloned().unwrap_or_else(|| "forced".into()),
        not_after: Some(info.not_after),
    }
}

fn failed(store: &CertStore, host: &str, error: &str) -> CertOutcome {
    CertOutcome {
        host: host.to_string(),
        action: CertAction::Failed,
        detail: error.to_string(),
        not_after: current_not_after(store, host),
    }
}

fn short_rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The local CA, when the node has one.
pub fn ca(paths: &NodePaths) -> Result<Option<CaInfo>, OpsError> {
    Ok(store(paths)?.ca_info()?)
}

/// The certificate and key the edge serves for `host`, when installed.
pub fn site_tls(store: &CertStore, host: &str) -> Option<crate::edge::SiteTls> {
    let p = store.paths(host);
    let fullchain_pem = std::fs::read(&p.fullchain).ok()?;
    let key_pem = std::fs::read(&p.key).ok()?;
    Some(crate::edge::SiteTls {
        fullchain_pem,
        key_pem,
    })
}

/// Where the supervisor queues its own mail (notices to the operator).
pub fn outbox_file(paths: &NodePaths) -> PathBuf {
    paths.state_dir.join("mail").join("outbox.sqlite3")
}

/// The secret scope and name of the SMTP password the supervisor uses
/// (`<state>/secrets/<node>-smtp/password`, mode 0600, written by the operator).
pub fn smtp_password_secret(node: &str) -> (String, &'static str) {
    (super::secret_scope(node, "smtp"), "password")
}

/// Tell the operator about hosts whose renewal keeps failing: queue one mail in the
/// supervisor's outbox and try to send it now. Returns what to show the person at the
/// terminal (who was mailed, or why nobody could be).
pub async fn notify_operator(paths: &NodePaths, loaded: &Loaded) -> Result<Vec<String>, OpsError> {
    let notices = take_notices(paths)?;
    if notices.is_empty() {
        return Ok(vec![]);
    }
    let node = loaded.node.node_id();
    let mut text = format!(
        "Certificate renewal keeps failing on node {node}. The previous certificates keep \
         serving until they expire.\n\n"
    );
    for (host, failures, error) in &notices {
        text.push_str(&format!(
            "- {host}: {failures} failures in a row; last: {error}\n"
        ));
    }
    text.push_str(
        "\nRun `commonscloud certs renew --force` on the node to retry now, and \
         `commonscloud certs list` to see when each certificate expires.\n",
    );
    let hosts: Vec<&str> = notices.iter().map(|(h, _, _)| h.as_str()).collect();
    let summary = format!("certificate renewal keeps failing for {}", hosts.join(", "));
    super::notify::mail_operator(paths, loaded, &summary, text).await
}
