//! [`Restic`]: the restic commands a node needs, each built as an [`Invocation`] from a
//! checked request. The password is always given as a file (`RESTIC_PASSWORD_FILE`), never on
//! a command line or in a variable; times are passed and read in UTC (`TZ=UTC`).

use super::error::{BackupError, Context};
use super::invocation::{Interpret, Invocation};
use super::output::{self, BackupSummary, CheckReport, ForgetGroup, Initialized, ResticVersion};
use super::output::{Snapshot, Stats};
use super::repository::{Credentials, Repository};
use crate::model::node::Keep;
use std::path::{Path, PathBuf};
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// How often `backup --json` prints a status line (restic's default is 60 a second).
const PROGRESS_FPS: &str = "4";

/// Runs restic against one repository with one password file.
#[derive(Debug, Clone)]
pub struct Restic {
    program: PathBuf,
    repository: Repository,
    credentials: Credentials,
    password_file: PathBuf,
    cache_dir: Option<PathBuf>,
}

/// What to back up, and how to label the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRequest {
    /// Absolute paths, as restic sees them (e.g. `/backup/volumes/wiki` in the container).
    pub paths: Vec<PathBuf>,
    /// Tags such as `node=n1`, `app=wiki`, `recipe=dokuwiki@1.2.0`: no commas, no spaces.
    pub tags: Vec<String>,
    /// The snapshot's host name: fixed per node, so restic finds the previous snapshot of the
    /// same paths (its parent) whatever the container's host name.
    pub host: String,
    /// The snapshot's time instead of now (whole seconds; tests and imports).
    pub time: Option<OffsetDateTime>,
}

/// Which snapshots: all, or those of a host, having every one of `tags`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotFilter {
    pub host: Option<String>,
    /// A snapshot matches when it has all of them.
    pub tags: Vec<String>,
}

/// How `forget` divides snapshots before applying the policy to each group on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// One group per host: with a tag filter (`app=wiki`), one app's snapshots whatever
    /// other tags (a recipe version) changed over time.
    Host,
    /// One group per host and exact tag set.
    #[default]
    HostTags,
    /// One group per host and exact path set (restic's default).
    HostPaths,
}

impl GroupBy {
    fn as_arg(self) -> &'static str {
        match self {
            GroupBy::Host => "host",
            GroupBy::HostTags => "host,tags",
            GroupBy::HostPaths => "host,paths",
        }
    }
}

/// Which snapshots `forget` drops.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ForgetRequest {
    /// The policy: at least one of daily, weekly, monthly above 0.
    pub keep: Keep,
    pub filter: SnapshotFilter,
    pub group_by: GroupBy,
    /// Also remove the data no snapshot needs any more (`--prune`).
    pub prune: bool,
    /// Only say what would be removed.
    pub dry_run: bool,
}

/// A restore of one snapshot (or part of it) into a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRequest {
    /// A snapshot id (short or long) or `latest` (then `filter` picks among snapshots).
    pub snapshot: String,
    pub filter: SnapshotFilter,
    /// Where to write; the snapshot's absolute paths are recreated under it.
    pub target: PathBuf,
    /// Only these paths of the snapshot (and what is under them); empty: everything.
    pub include: Vec<String>,
    /// Read every restored file back and compare it with the snapshot.
    pub verify: bool,
}

/// What `stats` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatsMode {
    /// The size of the files if every snapshot were restored.
    #[default]
    RestoreSize,
    /// What the repository really stores (after deduplication and compression).
    RawData,
}

impl Restic {
    /// restic on `repository`, reading its password from `password_file` (as restic sees it:
    /// `/run/secrets/restic-password` in the backup container). No cache by default.
    pub fn new(repository: Repository, password_file: impl Into<PathBuf>) -> Restic {
        Restic {
            program: PathBuf::from("restic"),
            repository,
            credentials: Credentials::none(),
            password_file: password_file.into(),
            cache_dir: None,
        }
    }

    /// The credentials of a remote repository; refused when they do not fit its kind.
    pub fn with_credentials(mut self, credentials: Credentials) -> Result<Restic, BackupError> {
        self.repository.check_credentials(&credentials)?;
        self.credentials = credentials;
        Ok(self)
    }

    /// Keep restic's cache (index and tree copies) there, which speeds up remote
    /// repositories; without it every run passes `--no-cache`.
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Restic {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Another restic executable than `restic` on the PATH.
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Restic {
        self.program = program.into();
        self
    }

    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    pub fn password_file(&self) -> &Path {
        &self.password_file
    }

    /// `restic init`; a repository that exists already is fine.
    pub fn init(&self) -> Result<Invocation<Initialized>, BackupError> {
        self.invocation("init", vec![], None, Box::new(output::init))
    }

    /// `restic backup --json`: progress lines while it runs, then the new snapshot.
    pub fn backup(&self, req: &BackupRequest) -> Result<Invocation<BackupSummary>, BackupError> {
        if req.paths.is_empty() {
            return Err(invalid("backup paths", "nothing to back up"));
        }
        for p in &req.paths {
            if !p.is_absolute() {
                return Err(invalid(
                    "backup paths",
                    format!("`{}` is not absolute", p.display()),
                ));
            }
        }
        check_host(&req.host)?;
        let mut args = vec!["--json".to_string(), "--host".into(), req.host.clone()];
        for tag in &req.tags {
            check_tag(tag)?;
            args.push("--tag".into());
            args.push(tag.clone());
        }
        if let Some(t) = req.time {
            args.push("--time".into());
            args.push(restic_time(t));
        }
        args.push("--".into());
        args.extend(req.paths.iter().map(|p| p.display().to_string()));
        let mut inv = self.invocation("backup", args, None, Box::new(output::backup))?;
        inv.env
            .push(("RESTIC_PROGRESS_FPS".into(), PROGRESS_FPS.into()));
        Ok(inv)
    }

    /// `restic snapshots --json`, oldest first.
    pub fn snapshots(
        &self,
        filter: &SnapshotFilter,
    ) -> Result<Invocation<Vec<Snapshot>>, BackupError> {
        let mut args = vec!["--json".to_string()];
        push_filter(&mut args, filter)?;
        self.invocation("snapshots", args, None, Box::new(output::snapshots))
    }

    /// `restic forget --json` with the policy of node.yaml, optionally `--prune`.
    pub fn forget(&self, req: &ForgetRequest) -> Result<Invocation<Vec<ForgetGroup>>, BackupError> {
        let mut args = vec!["--json".to_string()];
        let mut any = false;
        for (flag, n) in [
            ("--keep-daily", req.keep.daily),
            ("--keep-weekly", req.keep.weekly),
            ("--keep-monthly", req.keep.monthly),
        ] {
            if let Some(n) = n.filter(|n| *n > 0) {
                args.push(flag.into());
                args.push(n.to_string());
                any = true;
            }
        }
        if !any {
            return Err(invalid(
                "retention policy",
                "keep.daily, keep.weekly and keep.monthly are all unset or 0: forget would keep \
                 everything",
            ));
        }
        args.push("--group-by".into());
        args.push(req.group_by.as_arg().into());
        push_filter(&mut args, &req.filter)?;
        if req.prune {
            args.push("--prune".into());
        }
        if req.dry_run {
            args.push("--dry-run".into());
        }
        self.invocation("forget", args, None, Box::new(output::forget))
    }

    /// `restic prune`: removes the data no snapshot needs (after `forget` without `--prune`).
    pub fn prune(&self) -> Result<Invocation<()>, BackupError> {
        self.invocation("prune", vec![], None, Box::new(output::unit))
    }

    /// `restic check`, reading back `read_data_percent` % of the stored data (1–100) or only
    /// the structure (`None`).
    pub fn check(
        &self,
        read_data_percent: Option<u8>,
    ) -> Result<Invocation<CheckReport>, BackupError> {
        let mut args = vec![];
        match read_data_percent {
            None => {}
            Some(0) | Some(101..) => {
                return Err(invalid("check", "the share of data to read is 1 to 100 %"))
            }
            Some(100) => args.push("--read-data".to_string()),
            Some(n) => args.push(format!("--read-data-subset={n}%")),
        }
        self.invocation(
            "check",
            args,
            None,
            Box::new(move |ctx, run| output::check(ctx, run, read_data_percent)),
        )
    }

    /// `restic restore SNAPSHOT --target T [--include P]… [--verify]`.
    pub fn restore(&self, req: &RestoreRequest) -> Result<Invocation<()>, BackupError> {
        let id = req.snapshot.as_str();
        let is_id = (4..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_hexdigit());
        if id != "latest" && !is_id {
            return Err(invalid(
                "snapshot",
                format!("`{id}` is neither a snapshot id (hex digits) nor `latest`"),
            ));
        }
        if !req.target.is_absolute() {
            return Err(invalid(
                "restore target",
                format!("`{}` is not absolute", req.target.display()),
            ));
        }
        let mut args = vec![
            id.to_string(),
            "--target".into(),
            req.target.display().to_string(),
        ];
        for p in &req.include {
            if p.is_empty() || p.contains('\n') {
                return Err(invalid("restore include", format!("`{p}`")));
            }
            args.push("--include".into());
            args.push(p.clone());
        }
        if req.verify {
            args.push("--verify".into());
        }
        push_filter(&mut args, &req.filter)?;
        self.invocation(
            "restore",
            args,
            Some(id.to_string()),
            Box::new(output::unit),
        )
    }

    /// `restic unlock`: removes stale locks (of processes that are gone on this host, or older
    /// than 30 minutes); with `remove_all`, every lock — only when no restic job runs on this
    /// repository from anywhere.
    pub fn unlock(&self, remove_all: bool) -> Result<Invocation<()>, BackupError> {
        let args = if remove_all {
            vec!["--remove-all".to_string()]
        } else {
            vec![]
        };
        self.invocation("unlock", args, None, Box::new(output::unit))
    }

    /// `restic stats --json`.
    pub fn stats(&self, mode: StatsMode) -> Result<Invocation<Stats>, BackupError> {
        let mode = match mode {
            StatsMode::RestoreSize => "restore-size",
            StatsMode::RawData => "raw-data",
        };
        let args = vec!["--json".to_string(), "--mode".into(), mode.into()];
        self.invocation("stats", args, None, Box::new(output::stats))
    }

    /// `restic version` (needs no repository).
    pub fn version(&self) -> Result<Invocation<ResticVersion>, BackupError> {
        let mut inv = self.invocation("version", vec![], None, Box::new(output::version))?;
        inv.args.truncate(1);
        Ok(inv)
    }

    fn invocation<T>(
        &self,
        operation: &'static str,
        args: Vec<String>,
        snapshot: Option<String>,
        interpret: Interpret<T>,
    ) -> Result<Invocation<T>, BackupError> {
        // Global flags right after the command: `backup` ends with `-- PATHS…`.
        let mut all = vec![operation.to_string()];
        match &self.cache_dir {
            Some(dir) => {
                all.push("--cache-dir".into());
                all.push(dir.display().to_string());
            }
            None => all.push("--no-cache".into()),
        }
        all.extend(self.repository.options());
        all.extend(args);
        let mut env = self.repository.environment(&self.credentials)?;
        env.push((
            "RESTIC_PASSWORD_FILE".into(),
            self.password_file.display().to_string(),
        ));
        // `--time` and the snapshot times restic records are read and written in UTC.
        env.push(("TZ".into(), "UTC".into()));
        Ok(Invocation {
            ctx: Context {
                operation,
                repository: self.repository.to_string(),
                password_file: self.password_file.clone(),
                kind: self.repository.kind(),
                snapshot,
            },
            program: self.program.clone(),
            args: all,
            env,
            secrets: self.credentials.secrets(),
            interpret,
        })
    }
}

fn invalid(what: &'static str, problem: impl Into<String>) -> BackupError {
    BackupError::InvalidRequest {
        what,
        problem: problem.into(),
    }
}

/// restic splits `--tag a,b` into two tags, and shows tags space-separated.
fn check_tag(tag: &str) -> Result<(), BackupError> {
    if tag.is_empty()
        || tag.len() > 200
        || tag.contains(',')
        || tag.chars().any(char::is_whitespace)
        || tag.chars().any(char::is_control)
    {
        return Err(invalid(
            "tag",
            format!("`{tag}`: a tag is 1 to 200 characters without commas or spaces"),
        ));
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), BackupError> {
    if host.is_empty()
        || host.len() > 253
        || host.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(
            "host",
            format!("`{host}`: a snapshot host is a name without spaces"),
        ));
    }
    Ok(())
}

fn push_filter(args: &mut Vec<String>, filter: &SnapshotFilter) -> Result<(), BackupError> {
    if let Some(host) = &filter.host {
        check_host(host)?;
        args.push("--host".into());
        args.push(host.clone());
    }
    if !filter.tags.is_empty() {
        for t in &filter.tags {
            check_tag(t)?;
        }
        // One `--tag a,b`: snapshots having both (several `--tag` would mean either).
        args.push("--tag".into());
        args.push(filter.tags.join(","));
    }
    Ok(())
}

/// `2024-01-02 03:04:05`, in UTC (restic reads `--time` in its local zone, set to UTC).
fn restic_time(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    t.to_offset(UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn restic() -> Restic {
        Restic::new(Repository::local("/repo"), "/run/secrets/restic-password")
    }

    fn must<T>(r: Result<T, BackupError>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn backup_arguments() {
        let inv = must(restic().backup(&BackupRequest {
            paths: vec!["/backup/volumes/wiki".into(), "/backup/dumps/wiki".into()],
            tags: vec!["node=n1".into(), "app=wiki".into()],
            host: "n1".into(),
            time: Some(datetime!(2024-03-10 01:30:00 +02:00)),
        }));
        assert_eq!(
            inv.args(),
            [
                "backup",
                "--no-cache",
                "--json",
                "--host",
                "n1",
                "--tag",
                "node=n1",
                "--tag",
                "app=wiki",
                "--time",
                "2024-03-09 23:30:00",
                "--",
                "/backup/volumes/wiki",
                "/backup/dumps/wiki",
            ]
        );
        assert_eq!(
            inv.env_assignments(),
            [
                "RESTIC_REPOSITORY=/repo",
                "RESTIC_PASSWORD_FILE=/run/secrets/restic-password",
                "TZ=UTC",
                "RESTIC_PROGRESS_FPS=4"
            ]
        );
    }

    #[test]
    fn bad_requests_are_refused_before_restic_runs() {
        let r = restic();
        let base = BackupRequest {
            paths: vec!["/d".into()],
            tags: vec![],
            host: "n1".into(),
            time: None,
        };
        for bad in [
            BackupRequest {
                paths: vec![],
                ..base.clone()
            },
            BackupRequest {
                paths: vec!["relative".into()],
                ..base.clone()
            },
            BackupRequest {
                tags: vec!["a,b".into()],
                ..base.clone()
            },
            BackupRequest {
                host: "two words".into(),
                ..base.clone()
            },
        ] {
            assert!(r.backup(&bad).is_err(), "{bad:?}");
        }
        assert!(r.forget(&ForgetRequest::default()).is_err());
        assert!(r.check(Some(0)).is_err());
        let restore = RestoreRequest {
            snapshot: "latest; rm".into(),
            filter: SnapshotFilter::default(),
            target: "/t".into(),
            include: vec![],
            verify: false,
        };
        assert!(r.restore(&restore).is_err());
    }

    #[test]
    fn forget_check_restore_arguments() {
        let r = restic().with_cache_dir("/cache");
        let inv = must(r.forget(&ForgetRequest {
            keep: Keep {
                daily: Some(7),
                weekly: Some(0),
                monthly: Some(6),
            },
            filter: SnapshotFilter {
                host: Some("n1".into()),
                tags: vec!["app=wiki".into(), "node=n1".into()],
            },
            group_by: GroupBy::Host,
            prune: true,
            dry_run: false,
        }));
        assert_eq!(
            inv.args(),
            [
                "forget",
                "--cache-dir",
                "/cache",
                "--json",
                "--keep-daily",
                "7",
                "--keep-monthly",
                "6",
                "--group-by",
                "host",
                "--host",
                "n1",
                "--tag",
                "app=wiki,node=n1",
                "--prune",
            ]
        );
        assert_eq!(
            must(r.check(Some(5))).args(),
            ["check", "--cache-dir", "/cache", "--read-data-subset=5%"]
        );
        assert_eq!(
            must(r.check(Some(100))).args(),
            ["check", "--cache-dir", "/cache", "--read-data"]
        );
        let inv = must(r.restore(&RestoreRequest {
            snapshot: "d88eae29".into(),
            filter: SnapshotFilter::default(),
            target: "/restore".into(),
            include: vec!["/backup/volumes/wiki".into()],
            verify: true,
        }));
        assert_eq!(
            inv.to_string(),
            "restic restore --cache-dir /cache d88eae29 --target /restore --include \
             /backup/volumes/wiki --verify (repository /repo)"
        );
        assert_eq!(must(r.version()).args(), ["version"]);
    }

    #[test]
    fn secrets_stay_out_of_args_display_and_debug() {
        let repo = must(Repository::parse(
            "rest:https://backup.example.coop:8000/n1",
        ));
        let r =
            must(Restic::new(repo, "/pw").with_credentials(Credentials::rest("n1", "hunter22")));
        let inv = must(r.snapshots(&SnapshotFilter::default()));
        assert!(!inv.args().join(" ").contains("hunter22"));
        assert!(!inv.to_string().contains("hunter22"));
        assert!(!format!("{inv:?}").contains("hunter22"));
        assert!(!format!("{r:?}").contains("hunter22"));
        assert!(inv.env_assignments().contains(
            &"RESTIC_REPOSITORY=rest:https://n1:hunter22@backup.example.coop:8000/n1/".to_string()
        ));
        let e = inv
            .finish(
                1,
                "",
                "Fatal: Head \"https://n1:hunter22@x/config\": 401 Unauthorized",
            )
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("refused access") && !e.contains("hunter22"),
            "{e}"
        );
        assert_eq!(inv.redact("x hunter22 y"), "x *** y");
    }
}
