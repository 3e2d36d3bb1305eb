//! The command line: clap definitions, and the output of each command (tables or `--json`).

mod app;
mod backup;
mod certs;
mod directory;
mod init;
mod output;
mod run;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub use run::run;

/// Exit codes, documented in the man page and `docs/cli.md`.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// The operation failed (a container did not become healthy, a build failed, …).
    pub const FAILED: i32 = 1;
    /// Bad input: node.yaml, a recipe or the command line must be fixed; nothing changed.
    pub const BAD_INPUT: i32 = 2;
    /// The environment is not ready: no Docker engine, too old, or a host check failed.
    pub const ENVIRONMENT: i32 = 3;
    /// Interrupted by Ctrl-C (SIGINT); run the command again to finish.
    pub const INTERRUPTED: i32 = 130;
}

#[derive(Debug, Parser)]
#[command(
    name = "commonscloud",
    version,
    propagate_version = true,
    about = "Install and supervise a CommonsCloud node: shared accounts and web platforms for collectives, on Docker",
    after_help = "Exit codes: 0 success, 1 operation failed, 2 bad input (nothing changed), 3 environment not ready (Docker missing or too old), 130 interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The node's desired state.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "COMMONSCLOUD_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Where the journal, secrets and lock live.
    #[arg(long, global = true, env = "COMMONSCLOUD_STATE", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Folder holding `recipes/` and `images/`.
    #[arg(long, global = true, env = "COMMONSCLOUD_SHARE", value_name = "DIR")]
    pub share_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented node.yaml for a domain.
    Init {
        /// The node's domain; apps live at <host>.<domain>.
        #[arg(long, default_value = "commonscloud.localhost")]
        domain: String,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Validate node.yaml and the recipes it uses; change nothing.
    Check {
        /// Also validate every recipe of the share folder, used or not.
        #[arg(long)]
        all_recipes: bool,
    },
    /// Show what `up` would do, and why.
    Plan {
        #[arg(long)]
        json: bool,
    },
    /// Bring the node to its declared state.
    Up {
        /// When no Docker engine answers, install Debian's docker.io and start it.
        #[arg(long)]
        install_docker: bool,
        /// Answer yes to questions (installing Docker).
        #[arg(long, short = 'y')]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// Per app and component: state, health, version, since.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Show the logs of an app's containers.
    Logs {
        /// App instance id (see `status`).
        app: String,
        /// Only this component.
        component: Option<String>,
        /// Lines from the end.
        #[arg(long, short = 'n', default_value_t = 100)]
        tail: usize,
        /// Keep following.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Stop containers (all, or those of the given apps); data stays.
    Down {
        /// App instance ids; all apps when none.
        apps: Vec<String>,
    },
    /// Remove an app that is no longer declared, with its data volumes and secrets.
    Destroy {
        /// App instance id.
        app: String,
        /// Do not ask; destroy.
        #[arg(long)]
        yes: bool,
    },
    /// The accounts directory: `collective`, `user`, `member`, `admin`.
    #[command(flatten)]
    Directory(directory::DirectoryCommand),
    /// Apps: `list` (the catalogue), `install`, `info`, `remove`.
    App {
        #[command(subcommand)]
        command: app::AppCommand,
    },
    /// Backups: `now`, `list`, `restore`, `verify` (see docs/backups.md).
    Backup {
        #[command(subcommand)]
        command: backup::BackupCommand,
    },
    /// Rebuild a node on this machine from its backup repository and password alone.
    Restore {
        /// The repository: a path, `sftp:…`, `s3:…` or `rest:…`.
        #[arg(long, value_name = "REPO")]
        from: String,
        /// A file holding the repository's password (else it is read from standard input).
        #[arg(long, value_name = "FILE")]
        password_file: Option<std::path::PathBuf>,
        /// The node to restore, when the repository holds several.
        #[arg(long)]
        node: Option<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// The node's certificates: `list`, `renew`, `ca`.
    Certs {
        #[command(subcommand)]
        command: certs::CertsCommand,
    },
    /// Check the host: Docker, memory and disk for the declared recipes, ports, clock.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// The journal of operations.
    History {
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
    /// Serve the onboarding portal (inside its container); `--config` names portal.yaml.
    Portal {
        /// List the mail waiting to be sent or that failed, and exit.
        #[arg(long)]
        outbox: bool,
        /// Queue every failed mail again, and exit.
        #[arg(long)]
        outbox_retry: bool,
        #[arg(long)]
        json: bool,
    },
    /// Write man pages (one per command) into a folder.
    Man {
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}
