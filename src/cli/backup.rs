//! `commonscloud backup …` and `commonscloud restore --from`.

use super::exit;
use super::output::{self, say};
use super::run::{connect, Failure};
use crate::ops::{self, backup};
use crate::paths::NodePaths;
use crate::reconcile::apply::Progress;
use clap::Subcommand;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use time::OffsetDateTime;

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up now: every app, the directory and the node (or one app).
    Now {
        /// Only this app instance (`directory` and `node` work too).
        app: Option<String>,
        /// For a timer: only when node.yaml's `backup.schedule` says it is due; then also
        /// prune by `backup.keep`, check a sample of the data, mail the operator on failure.
        #[arg(long)]
        scheduled: bool,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Every snapshot of this node, and which the next prune would remove.
    List {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Put an app back as it was in a snapshot (after backing up what it is now).
    Restore {
        app: String,
        /// A snapshot id (see `backup list`) or `latest`.
        snapshot: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Check the repository (removing the stale lock a killed backup leaves).
    Verify {
        /// Also read back and verify this percentage of the stored data (1–100).
        #[arg(long, value_name = "PERCENT")]
        read_data: Option<u8>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

fn progress(json: bool) -> Progress {
    if json {
        Progress::hidden()
    } else {
        Progress::stderr()
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

pub async fn run(cmd: BackupCommand, paths: &NodePaths) -> Result<i32, Failure> {
    let loaded = ops::load(paths)?;
    let engine = connect().await?;
    match cmd {
        BackupCommand::Now {
            app,
            scheduled,
            json,
        } => {
            let when = if scheduled {
                backup::When::Scheduled
            } else {
                backup::When::Now
            };
            let report = backup::backup_now(
                &engine,
                paths,
                &loaded,
                app.as_deref(),
                when,
                OffsetDateTime::now_utc(),
                &progress(json),
            )
            .await?;
            if json {
                output::json(&report);
            } else {
                if let Some(until) = &report.not_due_until {
                    say!("not due: the next scheduled backup is after {until}");
                    return Ok(exit::OK);
                }
                if let Some(p) = &report.new_password {
                    say!("A new backup repository was made at {}.", report.repository);
                    say!("Its password is:\n\n    {p}\n");
                    say!("Keep a copy somewhere else than this machine (a password manager, paper in a safe):");
                    say!("without it nobody can read these backups, and a node is rebuilt from them with");
                    say!(
                        "`commonscloud restore --from {} --password-file FILE`.",
                        report.repository
                    );
                }
                let rows: Vec<Vec<String>> = report
                    .units
                    .iter()
                    .map(|u| {
                        vec![
                            u.app.clone(),
                            u.snapshot.clone().unwrap_or_else(|| "-".into()),
                            format!("{} new, {} changed", u.files_new, u.files_changed),
                            mib(u.bytes_added),
                            format!("{:.1}s", u.seconds),
                            u.error.clone().unwrap_or_else(|| "ok".into()),
                        ]
                    })
                    .collect();
                output::table(
                    &["APP", "SNAPSHOT", "FILES", "ADDED", "TIME", "RESULT"],
                    &rows,
                );
                if !report.forgotten.is_empty() {
                    say!(
                        "pruned {} snapshots: {}",
                        report.forgotten.len(),
                        report.forgotten.join(" ")
                    );
                }
                if let Some(c) = &report.check {
                    say!("repository check: {c}");
                }
                for n in &report.notices {
                    say!("{n}");
                }
            }
            Ok(if report.failed() == 0 {
                exit::OK
            } else {
                exit::FAILED
            })
        }
        BackupCommand::List { json } => {
            let rows = backup::list(&engine, paths, &loaded, &progress(json)).await?;
            if json {
                output::json(&rows);
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.clone(),
                            r.time
                                .format(&time::format_description::well_known::Rfc3339)
                                .unwrap_or_default(),
                            r.app.clone(),
                            r.recipe.clone(),
                            if r.pruned_next {
                                "pruned next".into()
                            } else {
                                String::new()
                            },
                        ]
                    })
                    .collect();
                output::table(&["ID", "TIME", "APP", "RECIPE", ""], &table);
            }
            Ok(exit::OK)
        }
        BackupCommand::Restore {
            app,
            snapshot,
            json,
        } => {
            let r = backup::restore_app(&engine, paths, &loaded, &app, &snapshot, &progress(json))
                .await?;
            if json {
                output::json(&r);
            } else {
                say!(
                    "`{}` restored from snapshot {} and healthy (its state before is snapshot {})",
                    r.app,
                    r.snapshot,
                    r.safety_snapshot.as_deref().unwrap_or("-")
                );
            }
            Ok(exit::OK)
        }
        BackupCommand::Verify { read_data, json } => {
            if read_data.is_some_and(|p| p == 0 || p > 100) {
                return Err(Failure {
                    code: exit::BAD_INPUT,
                    message: "--read-data takes a percentage from 1 to 100".into(),
                });
            }
            let r = backup::verify(&engine, paths, &loaded, read_data, &progress(json)).await?;
            if json {
                output::json(&r);
            } else {
                say!(
                    "the repository is consistent{}",
                    r.read_data_percent
                        .map(|p| format!("; {p}% of its data was read back and verified"))
                        .unwrap_or_default()
                );
                for n in &r.notes {
                    say!("note: {n}");
                }
            }
            Ok(exit::OK)
        }
    }
}

/// `restore --from REPO`: the password from `--password-file`, else standard input.
pub async fn restore_node(
    paths: &NodePaths,
    from: &str,
    password_file: Option<PathBuf>,
    node: Option<String>,
    json: bool,
) -> Result<i32, Failure> {
    let tmp;
    let file = match password_file {
        Some(f) => f,
        None => {
            if std::io::stdin().is_terminal() {
                eprint!("Repository password: ");
            }
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .map_err(|e| Failure {
                    code: exit::BAD_INPUT,
                    message: format!("could not read the password from standard input: {e}"),
                })?;
            let password = password.lines().next().unwrap_or("").to_string();
            if password.is_empty() {
                return Err(Failure {
                    code: exit::BAD_INPUT,
                    message:
                        "no password: give --password-file FILE or the password on standard input"
                            .into(),
                });
            }
            tmp = crate::secrets::private_temp_file(password.as_bytes()).map_err(|e| Failure {
                code: exit::FAILED,
                message: format!("could not keep the password in a private file: {e}"),
            })?;
            tmp.path().to_path_buf()
        }
    };
    let engine = connect().await?;
    let r = backup::restore_node(
        &engine,
        paths,
        from,
        &file,
        node.as_deref(),
        &progress(json),
    )
    .await?;
    if json {
        output::json(&r);
    } else {
        for a in &r.apps {
            say!("restored {} from {}", a.app, a.snapshot);
        }
        say!(
            "node `{}` restored from snapshot {} and up; `commonscloud status` shows it",
            r.node,
            r.node_snapshot
        );
    }
    Ok(exit::OK)
}
