//! `commonscloud certs`: the node's certificates and its local CA.

use super::exit;
use super::output::{self, say};
use super::run::Failure;
use crate::engine::Engine;
use crate::model::Loaded;
use crate::ops::{self, certs::CertAction, EdgeReport};
use crate::paths::NodePaths;
use clap::Subcommand;
use serde::Serialize;
use time::OffsetDateTime;

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Every host name of the node with its certificate: issuer, expiry, renewal.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Issue what is missing or due now (run it from a timer; it backs off after failures).
    Renew {
        /// Reissue every certificate, and retry hosts that are backing off.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// The node's local CA: its certificate's path and fingerprint, to trust it.
    Ca {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Serialize)]
struct Row {
    host: String,
    issuer: Option<String>,
    source: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    not_after: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    renew_after: Option<OffsetDateTime>,
    fingerprint: Option<String>,
    /// An expiry warning, or why there is no certificate.
    note: Option<String>,
}

pub async fn run(
    cmd: CertsCommand,
    paths: &NodePaths,
    loaded: &Loaded,
    engine: impl std::future::Future<Output = Result<Engine, Failure>>,
) -> Result<i32, Failure> {
    match cmd {
        CertsCommand::List { json } => {
            let store = ops::certs::store(paths)?;
            let now = OffsetDateTime::now_utc();
            let mut rows = vec![];
            for host in loaded.hostnames() {
                let info = store.current(&host).map_err(ops::OpsError::from)?;
                rows.push(match info {
                    Some(i) => Row {
                        note: crate::tls::expiry_warning(&i, now),
                        host,
                        issuer: Some(i.issuer.clone()),
                        source: Some(i.source.as_str().to_string()),
                        not_after: Some(i.not_after),
                        renew_after: Some(i.renewal_at()),
                        fingerprint: Some(i.fingerprint.clone()),
                    },
                    None => Row {
                        host,
                        issuer: None,
                        source: None,
                        not_after: None,
                        renew_after: None,
                        fingerprint: None,
                        note: Some("no certificate yet: run `commonscloud up`".into()),
                    },
                });
            }
            if json {
                output::json(&rows);
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.host.clone(),
                            r.issuer.clone().unwrap_or_else(|| "-".into()),
                            r.not_after.map(day).unwrap_or_else(|| "-".into()),
                            r.renew_after.map(day).unwrap_or_else(|| "-".into()),
                            r.note.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                output::table(
                    &["HOST", "ISSUER", "EXPIRES", "RENEW AFTER", "NOTE"],
                    &table,
                );
            }
            Ok(exit::OK)
        }
        CertsCommand::Renew { force, json } => {
            let engine = engine.await?;
            let report = ops::renew_certs(&engine, paths, loaded, force).await?;
            if json {
                output::json(&report);
            } else {
                print_edge(&report);
                let issued = report
                    .certificates
                    .hosts
                    .iter()
                    .filter(|h| h.action == CertAction::Issued)
                    .count();
                say!(
                    "{} issued, {} failed, {} waiting, {} kept",
                    issued,
                    report.certificates.failed(),
                    report
                        .certificates
                        .hosts
                        .iter()
                        .filter(|h| h.action == CertAction::Waiting)
                        .count(),
                    report
                        .certificates
                        .hosts
                        .iter()
                        .filter(|h| h.action == CertAction::Kept)
                        .count(),
                );
            }
            Ok(if report.certificates.failed() == 0 {
                exit::OK
            } else {
                exit::FAILED
            })
        }
        CertsCommand::Ca { json } => match ops::certs::ca(paths)? {
            Some(ca) => {
                if json {
                    output::json(&ca);
                } else {
                    say!("{}", ca.path.display());
                    say!("SHA-256 fingerprint: {}", ca.fingerprint);
                    say!("valid until {}", day(ca.not_after));
                }
                Ok(exit::OK)
            }
            None => Err(Failure {
                code: exit::FAILED,
                message: format!(
                    "node `{}` has no local CA: it is made by `commonscloud up` when `tls.mode` is \
                     `self-signed` (now `{}`)",
                    loaded.node.node_id(),
                    serde_json::to_value(loaded.node.tls.mode)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                ),
            }),
        },
    }
}

/// What `up` and `certs renew` did at the edge, one line per change.
pub fn print_edge(report: &EdgeReport) {
    for h in &report.certificates.hosts {
        match h.action {
            CertAction::Issued => say!(
                "✓ certificate {} ({}), expires {}",
                h.host,
                h.detail,
                h.not_after.map(day).unwrap_or_default()
            ),
            CertAction::Failed => eprintln!(
                "✗ certificate {}: {}{}",
                h.host,
                h.detail,
                if h.not_after.is_some() {
                    " (the previous certificate keeps serving)"
                } else {
                    ""
                }
            ),
            CertAction::Waiting => eprintln!("… certificate {}: {}", h.host, h.detail),
            CertAction::Kept => {}
        }
    }
    for w in &report.certificates.warnings {
        eprintln!("warning: {w}");
    }
    if let ops::edge::Pushed::Reloaded(name) = &report.pushed {
        say!("✓ edge configuration {name} checked and live");
    }
}

fn day(t: OffsetDateTime) -> String {
    let d = t.date();
    format!("{}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}
