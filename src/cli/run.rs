//! What each command does: call the library, print, and choose the exit code.

use super::output::{self, say};
use super::{exit, Cli, Command};
use crate::engine::{labels, Engine};
use crate::host;
use crate::model::Diagnostics;
use crate::ops::{self, OpsError, SecretsMode};
use crate::paths::NodePaths;
use crate::reconcile::apply::Progress;
use crate::state::Journal;
use clap::CommandFactory;
use std::io::{IsTerminal, Write};

/// An error with the exit code it deserves.
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl From<OpsError> for Failure {
    fn from(e: OpsError) -> Self {
        let code = match &e {
            e if e.is_bad_input() => exit::BAD_INPUT,
            OpsError::Engine(e) if e.is_unavailable() => exit::ENVIRONMENT,
            OpsError::Interrupted => exit::INTERRUPTED,
            _ => exit::FAILED,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

impl From<Diagnostics> for Failure {
    fn from(d: Diagnostics) -> Self {
        Failure {
            code: exit::BAD_INPUT,
            message: d.to_string(),
        }
    }
}

fn failed(message: impl Into<String>) -> Failure {
    Failure {
        code: exit::FAILED,
        message: message.into(),
    }
}

/// Run the parsed command line; returns the exit code.
pub async fn run(cli: Cli) -> i32 {
    match dispatch(cli).await {
        Ok(code) => code,
        Err(f) => {
            eprintln!("error: {}", f.message.trim_end());
            f.code
        }
    }
}

pub(super) async fn connect() -> Result<Engine, Failure> {
    Engine::connect().await.map_err(|e| Failure {
        code: exit::ENVIRONMENT,
        message: e.to_string(),
    })
}

async fn dispatch(cli: Cli) -> Result<i32, Failure> {
    let g = cli.global;
    let paths = NodePaths::resolve(g.config.clone(), g.state_dir, g.share_dir);
    match cli.command {
        Command::Init { domain, force } => init(&paths, &domain, force).map(|_| exit::OK),
        Command::Check { all_recipes } => {
            let loaded = ops::load(&paths)?;
            if all_recipes {
                crate::model::load_all_recipes(&paths.recipes_dir, &paths.images_dir)?;
            }
            let desired = ops::desired(&paths, &loaded, SecretsMode::ReadOnly)?;
            say!(
                "{}: node `{}` is valid: {}, {}, and the node's own services",
                paths.config.display(),
                desired.node,
                output::count(
                    loaded
                        .node
                        .apps
                        .iter()
                        .filter(|a| !ops::is_platform(&a.instance_id()))
                        .count(),
                    "app"
                ),
                output::count(
                    desired
                        .containers
                        .iter()
                        .filter(|c| !ops::is_platform(&c.app))
                        .count(),
                    "container"
                )
            );
            Ok(exit::OK)
        }
        Command::Plan { json } => {
            let loaded = ops::load(&paths)?;
            let desired = ops::desired(&paths, &loaded, SecretsMode::ReadOnly)?;
            let engine = connect().await?;
            let plan = ops::plan_node(&engine, &desired).await?;
            if json {
                output::json(&plan);
            } else {
                output::plan(&plan);
            }
            Ok(exit::OK)
        }
        Command::Up {
            install_docker,
            yes,
            json,
        } => {
            let loaded = ops::load(&paths)?;
            let desired = ops::desired(&paths, &loaded, SecretsMode::Create)?;
            let engine = match Engine::connect().await {
                Ok(e) => e,
                Err(e) => {
                    let ask = !install_docker
                        && !yes
                        && std::io::stdin().is_terminal()
                        && confirm(&format!(
                            "{e}\nInstall Debian's docker.io and start it now? [y/N] "
                        ));
                    if !(install_docker || ask) {
                        return Err(Failure {
                            code: exit::ENVIRONMENT,
                            message: e.to_string(),
                        });
                    }
                    tokio::task::spawn_blocking(host::install_docker)
                        .await
                        .map_err(|e| failed(e.to_string()))?
                        .map_err(|e| Failure {
                            code: exit::ENVIRONMENT,
                            message: e.to_string(),
                        })?;
                    connect().await?
                }
            };
            let progress = if json {
                Progress::hidden()
            } else {
                Progress::stderr()
            };
            let cancel = async {
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            let report =
                ops::up_until(&engine, &paths, &loaded, &desired, &progress, cancel).await?;
            if json {
                output::json(&report);
            } else {
                output::up(&report);
            }
            if report.apply.succeeded() {
                Ok(exit::OK)
            } else {
                Ok(exit::FAILED)
            }
        }
        Command::Status { json } => {
            let loaded = ops::load(&paths)?;
            let desired = ops::desired(&paths, &loaded, SecretsMode::ReadOnly)?;
            let engine = connect().await?;
            let rows = ops::status(&engine, &desired).await?;
            if json {
                output::json(&rows);
            } else {
                output::status(&rows);
            }
            Ok(exit::OK)
        }
        Command::Logs {
            app,
            component,
            tail,
            follow,
        } => {
            let loaded = ops::load(&paths)?;
            let node = loaded.node.node_id();
            let engine = connect().await?;
            let mut filter = vec![(labels::NODE, node.as_str()), (labels::APP, app.as_str())];
            if let Some(c) = &component {
                filter.push((labels::COMPONENT, c.as_str()));
            }
            let containers = engine
                .list_containers(&filter)
                .await
                .map_err(OpsError::from)?;
            if containers.is_empty() {
                return Err(Failure {
                    code: exit::BAD_INPUT,
                    message: format!(
                        "node `{node}` has no container for app `{app}`{}; see `commonscloud status`",
                        component.map(|c| format!(" component `{c}`")).unwrap_or_default()
                    ),
                });
            }
            if follow {
                use futures_util::StreamExt;
                let mut streams = vec![];
                for c in &containers {
                    let name = c.name.clone();
                    let stream = engine
                        .logs_follow(&c.id, tail)
                        .await
                        .map_err(|e| failed(e.to_string()))?;
                    streams.push(Box::pin(stream.map(move |line| (name.clone(), line))));
                }
                let mut all = futures_util::stream::select_all(streams);
                while let Some((name, line)) = all.next().await {
                    match line {
                        Ok(l) => output::emit(&format!("{name} | {l}")),
                        Err(e) => return Err(failed(e.to_string())),
                    }
                }
            } else {
                for c in &containers {
                    let text = engine
                        .logs(&c.id, tail)
                        .await
                        .map_err(|e| failed(e.to_string()))?;
                    for line in text.lines() {
                        say!("{} | {line}", c.name);
                    }
                }
            }
            Ok(exit::OK)
        }
        Command::Down { apps } => {
            let loaded = ops::load(&paths)?;
            let engine = connect().await?;
            let stopped = ops::down(&engine, &paths, &loaded.node.node_id(), &apps).await?;
            for s in &stopped {
                say!("stopped {s}");
            }
            say!(
                "{} stopped; data kept",
                output::count(stopped.len(), "container")
            );
            Ok(exit::OK)
        }
        Command::Destroy { app, yes } => {
            let loaded = ops::load(&paths)?;
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(Failure {
                        code: exit::BAD_INPUT,
                        message: format!(
                            "destroying `{app}` deletes its data for good; pass --yes to confirm"
                        ),
                    });
                }
                let answer = prompt(&format!(
                    "This deletes the containers, data volumes and secrets of `{app}` for good.\nType the app id to confirm: "
                ));
                if answer.trim() != app {
                    return Err(Failure {
                        code: exit::BAD_INPUT,
                        message: "not confirmed; nothing was destroyed".into(),
                    });
                }
            }
            let engine = connect().await?;
            let d = ops::destroy(&engine, &paths, &loaded, &app).await?;
            say!(
                "destroyed `{app}`: {}, {}, {}",
                output::count(d.containers.len(), "container"),
                output::count(d.volumes.len(), "volume"),
                output::count(d.networks.len(), "network")
            );
            Ok(exit::OK)
        }
        Command::App { command } => super::app::run(command, &paths).await,
        Command::Backup { command } => super::backup::run(command, &paths).await,
        Command::Restore {
            from,
            password_file,
            node,
            json,
        } => super::backup::restore_node(&paths, &from, password_file, node, json).await,
        Command::Certs { command } => {
            let loaded = ops::load(&paths)?;
            super::certs::run(command, &paths, &loaded, connect()).await
        }
        Command::Directory(cmd) => {
            let loaded = ops::load(&paths)?;
            let engine = connect().await?;
            let conn = ops::directory::connection(&engine, &paths, &loaded).await?;
            super::directory::run(cmd, &conn)
                .await
                .map_err(|e| Failure {
                    code: if e.is_bad_input() {
                        exit::BAD_INPUT
                    } else if e.is_unavailable() {
                        exit::ENVIRONMENT
                    } else {
                        exit::FAILED
                    },
                    message: e.to_string(),
                })?;
            Ok(exit::OK)
        }
        Command::Doctor { json } => {
            let checks = doctor(&paths).await;
            if json {
                output::json(&checks);
            } else {
                output::checks(&checks);
            }
            Ok(
                if checks.iter().any(|c| c.status == host::CheckStatus::Fail) {
                    exit::ENVIRONMENT
                } else {
                    exit::OK
                },
            )
        }
        Command::History { limit, json } => {
            let journal = Journal::open(paths.journal_file()).map_err(|e| failed(e.to_string()))?;
            let entries = journal.list(limit).map_err(|e| failed(e.to_string()))?;
            if json {
                output::json(&entries);
            } else {
                output::history(&entries);
            }
            Ok(exit::OK)
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "commonscloud", &mut script);
            output::emit(&String::from_utf8_lossy(&script));
            Ok(exit::OK)
        }
        Command::Portal {
            outbox,
            outbox_retry,
            json,
        } => {
            let file = g
                .config
                .unwrap_or_else(|| crate::portal::DEFAULT_CONFIG.into());
            let fail = |e: crate::portal::PortalError| Failure {
                code: if e.is_bad_input() {
                    exit::BAD_INPUT
                } else {
                    exit::FAILED
                },
                message: e.to_string(),
            };
            if !(outbox || outbox_retry) {
                crate::portal::run(&file).await.map_err(fail)?;
                return Ok(exit::OK);
            }
            let o = crate::portal::outbox_of(&file).map_err(fail)?;
            let now = time::OffsetDateTime::now_utc();
            if outbox_retry {
                let n = o.retry_failed(now).map_err(|e| failed(e.to_string()))?;
                say!("{} queued again", output::count(n, "failed mail"));
            }
            let entries = o.list(true, 500).map_err(|e| failed(e.to_string()))?;
            if json {
                output::json(&entries);
            } else {
                for e in &entries {
                    say!(
                        "{:>6} {:<8} {:>3} tries  {}  {}{}",
                        e.id,
                        e.status.as_str(),
                        e.attempts,
                        e.to,
                        e.subject,
                        e.last_error
                            .as_deref()
                            .map(|x| format!("  ({x})"))
                            .unwrap_or_default()
                    );
                }
                say!("{} waiting or failed", output::count(entries.len(), "mail"));
            }
            Ok(exit::OK)
        }
        Command::Man { out } => {
            std::fs::create_dir_all(&out).map_err(|e| failed(format!("{}: {e}", out.display())))?;
            clap_mangen::generate_to(Cli::command(), &out)
                .map_err(|e| failed(format!("{}: {e}", out.display())))?;
            say!("man pages written to {}", out.display());
            Ok(exit::OK)
        }
    }
}

fn init(paths: &NodePaths, domain: &str, force: bool) -> Result<(), Failure> {
    let text = super::init::node_yaml(domain).map_err(|e| Failure {
        code: exit::BAD_INPUT,
        message: e,
    })?;
    let path = &paths.config;
    if path.exists() && !force {
        return Err(Failure {
            code: exit::BAD_INPUT,
            message: format!(
                "{} exists; edit it, or pass --force to replace it",
                path.display()
            ),
        });
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| failed(format!("{}: {e}", dir.display())))?;
    }
    std::fs::write(path, text).map_err(|e| failed(format!("{}: {e}", path.display())))?;
    say!(
        "wrote {}; check it with `commonscloud check`, then `commonscloud up`",
        path.display()
    );
    Ok(())
}

async fn doctor(paths: &NodePaths) -> Vec<host::Check> {
    let mut checks = vec![host::os_check()];
    let engine = Engine::connect().await;
    let mut docker_now = None;
    checks.push(host::docker_check(match &engine {
        Ok(e) => match e.version().await {
            Ok(v) => {
                docker_now = v.system_time.map(time::OffsetDateTime::from);
                Ok((v.server_version, v.api_version))
            }
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    }));
    let mut edge_ports = vec![80, 443];
    let mut ours = (0, 0);
    let (memory, disk) = match ops::load(paths) {
        Ok(loaded) => {
            let edge = &loaded.node.edge;
            edge_ports = [edge.http_port, edge.https_port]
                .into_iter()
                .filter(|p| *p != 0)
                .collect();
            if let Ok(engine) = &engine {
                ours = ops::edge::ports(engine, &loaded.node.node_id())
                    .await
                    .unwrap_or((0, 0));
            }
            let mut mem = 0;
            let mut disk = 0;
            for app in &loaded.node.apps {
                if let Some(r) = loaded.recipes.get(&app.recipe) {
                    mem += r.recipe.requirements.memory.map(|m| m.0).unwrap_or(0);
                    disk += r.recipe.requirements.disk.map(|d| d.0).unwrap_or(0);
                }
            }
            (mem, disk)
        }
        Err(d) => {
            checks.push(host::Check {
                name: "node.yaml".into(),
                status: host::CheckStatus::Fail,
                detail: d.to_string(),
                hint: Some("fix the file; `commonscloud check` shows every problem".into()),
            });
            (0, 0)
        }
    };
    checks.push(host::memory_check(memory));
    let docker_root = std::path::Path::new("/var/lib/docker");
    checks.push(host::disk_check(
        if docker_root.exists() {
            docker_root
        } else {
            std::path::Path::new("/")
        },
        disk,
    ));
    for port in edge_ports {
        if port == ours.0 || port == ours.1 {
            checks.push(host::Check {
                name: format!("port {port}"),
                status: host::CheckStatus::Ok,
                detail: format!("port {port} is held by this node's edge"),
                hint: None,
            });
        } else {
            checks.push(host::port_check(port));
        }
    }
    checks.push(host::clock_check(
        time::OffsetDateTime::now_utc(),
        docker_now,
    ));
    checks
}

pub(super) fn prompt(question: &str) -> String {
    eprint!("{question}");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).ok();
    answer
}

fn confirm(question: &str) -> bool {
    matches!(prompt(question).trim(), "y" | "Y" | "yes")
}
