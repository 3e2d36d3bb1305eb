//! `commonscloud app`: the catalogue, one instance's details, install and remove.

use super::exit;
use super::output::{self, say};
use super::run::{connect, prompt, Failure};
use crate::ops::{self, apps};
use crate::paths::NodePaths;
use crate::reconcile::apply::Progress;
use clap::Subcommand;
use std::io::IsTerminal;

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// The recipes this node can install, with what each needs and its instances.
    List {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Add an instance of a recipe to node.yaml and bring it up; on failure nothing of it stays.
    Install {
        /// The recipe (see `app list`).
        recipe: String,
        /// Its host under the node's domain: `cloud` → cloud.<domain>.
        #[arg(long)]
        host: String,
        /// Make it a collective's private instance: only its members may log in.
        #[arg(long)]
        collective: Option<String>,
        /// The instance id (default: the host with dots as dashes).
        #[arg(long)]
        id: Option<String>,
        /// A recipe setting, `name=value` (repeat for more).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        settings: Vec<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// One instance: URL, access, directory account, databases, volumes, containers.
    Info {
        /// The instance id (see `status`).
        app: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Take an instance out of node.yaml and off the node; its data stays unless --purge.
    Remove {
        app: String,
        /// Also delete its volumes, databases and secrets, for good.
        #[arg(long)]
        purge: bool,
        /// Do not ask for confirmation of --purge.
        #[arg(long)]
        yes: bool,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

fn mib(bytes: Option<u64>) -> String {
    bytes
        .map(|b| format!("{} MiB", b / (1024 * 1024)))
        .unwrap_or_else(|| "-".into())
}

pub async fn run(cmd: AppCommand, paths: &NodePaths) -> Result<i32, Failure> {
    match cmd {
        AppCommand::List { json } => {
            let loaded = ops::load(paths).ok();
            let entries = apps::catalogue(paths, loaded.as_ref())?;
            if json {
                output::json(&entries);
            } else {
                let rows: Vec<Vec<String>> = entries
                    .iter()
                    .map(|e| {
                        vec![
                            e.recipe.clone(),
                            e.version.clone(),
                            e.addons
                                .iter()
                                .map(ops::serde_name)
                                .collect::<Vec<_>>()
                                .join(","),
                            mib(e.memory),
                            mib(e.disk),
                            e.installed.join(","),
                            e.description.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                output::table(
                    &[
                        "RECIPE",
                        "VERSION",
                        "ADDONS",
                        "MEMORY",
                        "DISK",
                        "INSTANCES",
                        "DESCRIPTION",
                    ],
                    &rows,
                );
            }
            Ok(exit::OK)
        }
        AppCommand::Install {
            recipe,
            host,
            collective,
            id,
            settings,
            json,
        } => {
            let mut pairs = vec![];
            for s in settings {
                let (k, v) = s.split_once('=').ok_or_else(|| Failure {
                    code: exit::BAD_INPUT,
                    message: format!("--set {s}: write it as NAME=VALUE"),
                })?;
                pairs.push((k.to_string(), v.to_string()));
            }
            let engine = connect().await?;
            let new = apps::NewApp {
                recipe,
                host,
                collective,
                id,
                settings: pairs,
            };
            let progress = if json {
                Progress::hidden()
            } else {
                Progress::stderr()
            };
            let done = apps::install(&engine, paths, &new, &progress).await?;
            if json {
                output::json(&done);
            } else {
                output::up(&done.up);
                say!("installed `{}` at {}", done.id, done.url);
            }
            Ok(exit::OK)
        }
        AppCommand::Info { app, json } => {
            let loaded = ops::load(paths)?;
            let engine = connect().await.ok();
            let info = apps::info(engine.as_ref(), paths, &loaded, &app).await?;
            if json {
                output::json(&info);
            } else {
                say!("{} ({} {})", info.id, info.recipe, info.version);
                say!("  url:        {}", info.url);
                say!(
                    "  access:     {}{}",
                    info.access,
                    info.collective
                        .as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                );
                if let Some(dn) = &info.bind_dn {
                    say!("  account:    {dn}");
                }
                if let Some(dn) = &info.access_group_dn {
                    say!("  group:      {dn}");
                }
                say!("  addons:     {}", info.addons.join(", "));
                for (v, backup) in &info.volumes {
                    say!(
                        "  volume:     {v}{}",
                        if *backup { "" } else { " (not backed up)" }
                    );
                }
                for c in &info.containers {
                    say!(
                        "  container:  {} {} {}",
                        c.container.as_deref().unwrap_or("-"),
                        c.state,
                        c.health
                    );
                }
            }
            Ok(exit::OK)
        }
        AppCommand::Remove {
            app,
            purge,
            yes,
            json,
        } => {
            if purge && !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(Failure {
                        code: exit::BAD_INPUT,
                        message: format!(
                            "--purge deletes the data of `{app}` for good; pass --yes to confirm"
                        ),
                    });
                }
                let answer = prompt(&format!(
                    "This deletes the volumes, databases and secrets of `{app}` for good.\nType the app id to confirm: "
                ));
                if answer.trim() != app {
                    return Err(Failure {
                        code: exit::BAD_INPUT,
                        message: "not confirmed; nothing was removed".into(),
                    });
                }
            }
            let engine = connect().await?;
            let progress = if json {
                Progress::hidden()
            } else {
                Progress::stderr()
            };
            let removed = apps::remove(&engine, paths, &app, purge, &progress).await?;
            if json {
                output::json(&removed);
            } else {
                for d in &removed.directory {
                    say!("removed from the directory: {d}");
                }
                match &removed.purged {
                    Some(p) => {
                        for d in &p.databases.dropped {
                            say!("dropped database {d}");
                        }
                        for v in &p.volumes {
                            say!("deleted volume {v}");
                        }
                        say!("removed `{app}` and its data");
                    }
                    None => say!(
                        "removed `{app}`; its data stays (volumes, databases, secrets): `commonscloud destroy {app}` deletes it"
                    ),
                }
            }
            Ok(exit::OK)
        }
    }
}
