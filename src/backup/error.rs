//! What can go wrong with a backup, said so that the operator can act on it, and the reading
//! of restic's own messages into those cases.
//!
//! restic 0.14 (Debian bookworm) exits 1 for every fatal error and says what happened only on
//! standard error, so the classification reads that text. Everything that reaches an error
//! has been through [`redact`] first: no password or key ever ends up in a message or a log.

use super::repository::RepositoryKind;
use std::path::PathBuf;

/// Everything that can go wrong, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "`{value}` is not a backup repository this node can use: {problem}. Accepted: an \
         absolute path (`/var/backups/commonscloud`), `sftp:user@host:/path`, \
         `s3:https://host/bucket/prefix` (S3-compatible storage) or \
         `rest:https://host:8000/path` (a restic REST server)"
    )]
    InvalidRepository { value: String, problem: String },

    #[error(
        "`{value}` is not a backup schedule: {problem}. Accepted: `hourly`, `daily HH:MM`, \
         `weekly DAY HH:MM` (DAY is Mon…Sun), `every Nh` (N divides 24) or `every Nm` \
         (N divides 60), e.g. `daily 03:30`, `weekly Sun 04:00`, `every 6h`"
    )]
    InvalidSchedule { value: String, problem: String },

    #[error("invalid {what} for restic: {problem}")]
    InvalidRequest { what: &'static str, problem: String },

    #[error(
        "the {kind} repository {repository} needs {missing}; it comes from the secret store, \
         never from node.yaml"
    )]
    MissingCredentials {
        repository: String,
        kind: &'static str,
        missing: String,
    },

    #[error(
        "restic is not installed here ({program} not found): install Debian's `restic` package \
         (`apt-get install restic`)"
    )]
    ResticMissing { program: PathBuf },

    #[error("could not run {program}: {source}")]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "the password in {password_file} does not open the repository {repository} (restic: \
         wrong password or no key found); use the password this repository was created with — \
         the copy kept elsewhere when the node was set up. Nothing in the repository was changed"
    )]
    WrongPassword {
        repository: String,
        password_file: PathBuf,
    },

    #[error(
        "restic could not read the repository password from {password_file}: {detail}; the \
         password file must exist, be readable and not be empty"
    )]
    PasswordFile {
        password_file: PathBuf,
        detail: String,
    },

    #[error(
        "there is no restic repository at {repository} ({detail}); check `backup.repository` \
         in node.yaml, or initialise the repository first"
    )]
    RepositoryMissing { repository: String, detail: String },

    #[error("the backup repository {repository} cannot be reached: {detail}; {advice}")]
    Unreachable {
        repository: String,
        detail: String,
        advice: &'static str,
    },

    #[error("the backup repository {repository} refused access: {detail}; {advice}")]
    AccessDenied {
        repository: String,
        detail: String,
        advice: &'static str,
    },

    #[error(
        "the repository {repository} is locked by {holder}: another backup, prune or check is \
         running, or one was killed and left a stale lock. When no restic job uses this \
         repository from any machine, `restic unlock` removes stale locks (locks of processes \
         that are gone, or older than 30 minutes) and `restic unlock --remove-all` every lock; \
         never remove the lock of a job that is still running"
    )]
    Locked { repository: String, holder: String },

    #[error(
        "no space left on device during {operation} on {repository}: {detail}; free space \
         where the repository (or restic's cache and temporary files) lives, or prune old \
         snapshots. Earlier snapshots are intact"
    )]
    NoSpace {
        operation: &'static str,
        repository: String,
        detail: String,
    },

    #[error("no snapshot `{snapshot}` in {repository}; `backup list` shows the snapshots there")]
    SnapshotNotFound {
        repository: String,
        snapshot: String,
    },

    #[error(
        "restic check found errors in {repository}: {detail}; do not prune, and ask for help \
         before making new backups there (the earlier snapshots may be damaged)"
    )]
    CheckFailed { repository: String, detail: String },

    #[error(
        "restic {operation} was stopped by a signal (exit code {exit_code}); the repository \
         stays consistent, a stale lock may remain (see `restic unlock`)"
    )]
    Interrupted {
        operation: &'static str,
        exit_code: i64,
    },

    #[error("restic {operation} failed (exit code {exit_code}): {detail}")]
    Failed {
        operation: &'static str,
        exit_code: i64,
        detail: String,
    },

    #[error("restic {operation} answered something unexpected: {problem}")]
    Output {
        operation: &'static str,
        problem: String,
    },
}

/// What the classification of a failed run needs to know besides restic's output.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub operation: &'static str,
    /// The repository as shown to people (no credentials).
    pub repository: String,
    pub password_file: PathBuf,
    pub kind: RepositoryKind,
    /// The snapshot a restore asked for, for [`BackupError::SnapshotNotFound`].
    pub snapshot: Option<String>,
}

/// Replaces every occurrence of each secret in `text` by `***`.
pub(crate) fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), "***");
    }
    out
}

/// The lines of standard error worth showing: restic's chatter (cache notices, lock
/// creation, progress bars) left out, `Fatal: ` prefixes dropped, at most the last 6 lines.
pub(crate) fn detail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("using temporary cache")
                && !l.starts_with("create exclusive lock")
                && !l.starts_with("Is there a repository at the following location?")
                && !l.starts_with('[')
        })
        .map(|l| l.trim_start_matches("Fatal: "))
        .collect();
    let start = lines.len().saturating_sub(6);
    let joined = lines[start..].join("; ");
    if joined.is_empty() {
        "no message".to_string()
    } else {
        joined
    }
}

/// Reads a failed run's standard error (already redacted) into an error.
pub(crate) fn classify(ctx: &Context, exit_code: i64, stderr: &str) -> BackupError {
    let low = stderr.to_lowercase();
    let repository = ctx.repository.clone();
    let detail = detail(stderr);
    let has = |needles: &[&str]| needles.iter().any(|n| low.contains(n));

    if has(&["wrong password or no key found"]) {
        return BackupError::WrongPassword {
            repository,
            password_file: ctx.password_file.clone(),
        };
    }
    if has(&[
        "resolving password failed",
        "an empty password is not a password",
        "please specify password",
        "reading repository password from stdin",
    ]) {
        return BackupError::PasswordFile {
            password_file: ctx.password_file.clone(),
            detail,
        };
    }
    // Only "already locked": "unable to create lock in backend: …" alone may be a full disk
    // or a permission problem, classified below.
    if has(&["is already locked"]) {
        return BackupError::Locked {
            repository,
            holder: lock_holder(stderr),
        };
    }
    if has(&["no space left on device", "disk quota exceeded"]) {
        return BackupError::NoSpace {
            operation: ctx.operation,
            repository,
            detail,
        };
    }
    if has(&[
        "permission denied",
        "access denied",
        "401 unauthorized",
        "403 forbidden",
        "invalidaccesskeyid",
        "signaturedoesnotmatch",
        "the access key id you provided",
        "unauthorized",
    ]) {
        return BackupError::AccessDenied {
            repository,
            detail,
            advice: ctx.kind.access_advice(),
        };
    }
    if has(&[
        "connection refused",
        "no such host",
        "i/o timeout",
        "network is unreachable",
        "no route to host",
        "connection reset",
        "tls handshake",
        "x509:",
        "certificate signed by unknown authority",
        "host key verification failed",
        "could not resolve hostname",
        "unable to start the sftp session",
        "context deadline exceeded",
        "server misbehaving",
    ]) {
        return BackupError::Unreachable {
            repository,
            detail,
            advice: ctx.kind.unreachable_advice(),
        };
    }
    if has(&["is there a repository at the following location"])
        || has(&["unable to open config file"])
        || has(&[
            "nosuchbucket",
            "bucket does not exist",
            "the specified bucket",
        ])
    {
        return BackupError::RepositoryMissing { repository, detail };
    }
    if let Some(snapshot) = &ctx.snapshot {
        if has(&["no matching id found", "invalid id", "no snapshot found"]) {
            return BackupError::SnapshotNotFound {
                repository,
                snapshot: snapshot.clone(),
            };
        }
    }
    if ctx.operation == "check" && has(&["repository contains errors", "error for tree", "pack "]) {
        return BackupError::CheckFailed { repository, detail };
    }
    // restic 0.17 and later also say it with an exit code.
    match exit_code {
        10 => return BackupError::RepositoryMissing { repository, detail },
        11 => {
            return BackupError::Locked {
                repository,
                holder: lock_holder(stderr),
            }
        }
        12 => {
            return BackupError::WrongPassword {
                repository,
                password_file: ctx.password_file.clone(),
            }
        }
        _ => {}
    }
    // A signal: 128 + n from a shell or Docker (137 for SIGKILL), negative from our own runner.
    if exit_code < 0 || (128..=128 + 64).contains(&exit_code) {
        return BackupError::Interrupted {
            operation: ctx.operation,
            exit_code,
        };
    }
    BackupError::Failed {
        operation: ctx.operation,
        exit_code,
        detail,
    }
}

/// `PID 804 on vm by root (UID 0, GID 0), since 2026-11-26 03:55:01` from restic's lock message.
fn lock_holder(stderr: &str) -> String {
    let mut holder = stderr
        .lines()
        .find_map(|l| l.split_once("locked by ").map(|(_, rest)| rest.trim()))
        .unwrap_or("another restic process")
        .to_string();
    if let Some(since) = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("lock was created at "))
    {
        holder.push_str(", created at ");
        holder.push_str(since.trim());
    }
    holder
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(operation: &'static str) -> Context {
        Context {
            operation,
            repository: "/srv/repo".into(),
            password_file: "/run/secrets/restic-password".into(),
            kind: RepositoryKind::Local,
            snapshot: None,
        }
    }

    // The texts below are restic 0.14.0's own, as seen on Debian bookworm.

    #[test]
    fn wrong_password() {
        let e = classify(
            &ctx("snapshots"),
            1,
            "Fatal: wrong password or no key found\n",
        );
        assert!(matches!(e, BackupError::WrongPassword { .. }), "{e}");
        let text = e.to_string();
        assert!(text.contains("/run/secrets/restic-password"), "{text}");
        assert!(text.contains("copy kept elsewhere"), "{text}");
    }

    #[test]
    fn missing_local_repository() {
        let e = classify(
            &ctx("snapshots"),
            1,
            "Fatal: unable to open config file: stat /srv/repo/config: no such file or \
             directory\nIs there a repository at the following location?\n/srv/repo\n",
        );
        assert!(matches!(e, BackupError::RepositoryMissing { .. }), "{e}");
        assert!(e.to_string().contains("no such file or directory"), "{e}");
    }

    #[test]
    fn refused_rest_server_is_unreachable_not_missing() {
        let e = classify(
            &ctx("snapshots"),
            1,
            "Fatal: unable to open config file: client.Head: Head \"http://127.0.0.1:1/config\": \
             dial tcp 127.0.0.1:1: connect: connection refused\nIs there a repository at the \
             following location?\nrest:http://127.0.0.1:1/\n",
        );
        assert!(matches!(e, BackupError::Unreachable { .. }), "{e}");
    }

    #[test]
    fn sftp_without_ssh_server() {
        let e = classify(
            &ctx("init"),
            1,
            "subprocess ssh: ssh: connect to host 127.0.0.1 port 22: Connection refused\nFatal: \
             unable to open repository at sftp:nobody@127.0.0.1:/x: unable to start the sftp \
             session, error: EOF\n",
        );
        assert!(matches!(e, BackupError::Unreachable { .. }), "{e}");
    }

    #[test]
    fn ssh_key_refused_is_access_not_reachability() {
        let mut c = ctx("snapshots");
        c.kind = RepositoryKind::Sftp;
        let e = classify(
            &c,
            1,
            "subprocess ssh: backup@nas: Permission denied (publickey).\nFatal: unable to open \
             repository at sftp:backup@nas:/srv/restic: unable to start the sftp session, \
             error: EOF\n",
        );
        assert!(matches!(e, BackupError::AccessDenied { .. }), "{e}");
        assert!(e.to_string().contains("SSH key is authorised"), "{e}");
    }

    #[test]
    fn newer_restic_exit_codes() {
        let e = classify(&ctx("snapshots"), 12, "");
        assert!(matches!(e, BackupError::WrongPassword { .. }), "{e}");
        let e = classify(&ctx("snapshots"), 11, "");
        assert!(matches!(e, BackupError::Locked { .. }), "{e}");
    }

    #[test]
    fn stale_lock() {
        let e = classify(
            &ctx("check"),
            1,
            "using temporary cache in /tmp/restic-check-cache-376424628\ncreate exclusive lock \
             for repository\nunable to create lock in backend: repository is already locked by \
             PID 804 on vm by root (UID 0, GID 0)\nlock was created at 2026-11-26 03:55:01 \
             (1.838291209s ago)\nstorage ID d72559b8\nthe `unlock` command can be used to \
             remove stale locks\n",
        );
        let BackupError::Locked { holder, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(
            holder,
            "PID 804 on vm by root (UID 0, GID 0), created at 2026-11-26 03:55:01 \
             (1.838291209s ago)"
        );
        assert!(e.to_string().contains("restic unlock"), "{e}");
    }

    #[test]
    fn a_lock_that_cannot_be_written_is_not_a_held_lock() {
        let e = classify(
            &ctx("backup"),
            1,
            "Fatal: unable to create lock in backend: open /repo/locks/ab-tmp: no space left on \
             device\n",
        );
        assert!(matches!(e, BackupError::NoSpace { .. }), "{e}");
    }

    #[test]
    fn full_disk() {
        let e = classify(
            &ctx("backup"),
            1,
            "Fatal: unable to save snapshot: write /repo/data/6e/6e3e-tmp-3081562821: no space \
             left on device\n",
        );
        assert!(matches!(e, BackupError::NoSpace { .. }), "{e}");
        assert!(
            e.to_string().contains("Earlier snapshots are intact"),
            "{e}"
        );
    }

    #[test]
    fn missing_password_file() {
        let e = classify(
            &ctx("snapshots"),
            1,
            "Resolving password failed: Fatal: /run/secrets/restic-password does not exist\n",
        );
        assert!(matches!(e, BackupError::PasswordFile { .. }), "{e}");
    }

    #[test]
    fn killed_by_a_signal() {
        let e = classify(&ctx("backup"), 137, "");
        assert!(matches!(e, BackupError::Interrupted { .. }), "{e}");
        let e = classify(&ctx("backup"), 1, "Fatal: something new\n");
        assert!(
            matches!(&e, BackupError::Failed { detail, .. } if detail == "something new"),
            "{e}"
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let secrets = vec!["s3cr3t".to_string(), String::new()];
        assert_eq!(
            redact("Head \"https://u:s3cr3t@h/config\": s3cr3t", &secrets),
            "Head \"https://u:***@h/config\": ***"
        );
    }
}
