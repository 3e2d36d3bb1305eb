//! Backups with restic: the repository of node.yaml, the restic commands a node runs, the
//! reading of their answers, and the two pure pieces around them — retention and schedules.
//!
//! We orchestrate restic; we do not reimplement it. Encryption, deduplication, compression,
//! locking, pruning and checking are restic's. This module knows restic's command line and
//! its output, and nothing of Docker: the ops layer runs an [`Invocation`] inside a one-shot
//! container of `images/backup` (its `args` and `env_assignments` become the container's
//! command and environment, its output goes to [`Invocation::finish`]), and tests run the same
//! invocations on this machine with [`Invocation::run`].
//!
//! ```text
//! Repository::parse(node.backup.repository)      which repository, checked
//! Restic::new(repo, password_file)               how to reach it
//!   .backup(&BackupRequest) -> Invocation<BackupSummary>
//!   .snapshots / forget / prune / check / restore / unlock / stats / init / version
//! Invocation::run(on_line) | Invocation::finish(exit, stdout, stderr) -> Result<T, BackupError>
//! expected_kept(times, &Keep)                    what forget will keep (clock-free)
//! Schedule::parse(node.backup.schedule)?.next_run(now)
//! ```
//!
//! Secrets: the repository password is only ever a file (`RESTIC_PASSWORD_FILE`); remote
//! credentials travel in the environment of the run and are scrubbed from every output before
//! it is read, so no error or log line can carry them.

mod error;
mod invocation;
mod output;
mod repository;
mod restic;
mod retention;
mod schedule;

pub use error::BackupError;
pub use invocation::Invocation;
pub use output::{
    BackupProgress, BackupSummary, CheckReport, ForgetGroup, Initialized, ResticVersion, Snapshot,
    Stats,
};
pub use repository::{Credentials, Repository, RepositoryKind};
pub use restic::{
    BackupRequest, ForgetRequest, GroupBy, Restic, RestoreRequest, SnapshotFilter, StatsMode,
};
pub use retention::{expected_kept, expected_kept_with, expected_removed, PolicyRules};
pub use schedule::Schedule;

/// Where the backup container sees things (`images/backup`): the ops layer mounts them there.
pub mod container {
    /// The repository password file (read-only bind of the secret).
    pub const PASSWORD_FILE: &str = "/run/secrets/restic-password";
    /// A local repository.
    pub const REPOSITORY: &str = "/repo";
    /// `volumes/<app>/<volume>` (read-only), `dumps/<app>`, `node`.
    pub const BACKUP_ROOT: &str = "/backup";
    /// restic's cache, when a volume is mounted there.
    pub const CACHE: &str = "/cache";
    /// Where restores are written before they are moved into volumes.
    pub const RESTORE_ROOT: &str = "/restore";
}
