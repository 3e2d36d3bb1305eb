//! One restic run, described as data: its arguments, its environment (secrets kept out of
//! sight), and how to read what it answers. Where it runs is the caller's choice — inside the
//! backup image's one-shot container (`args` and `env_assignments` become the container's
//! command and environment, then [`Invocation::finish`] reads its output), or on this machine
//! with [`Invocation::run`].

use super::error::{redact, BackupError, Context};
use super::output::{is_status_line, Finished};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// Host variables a restic run on this machine keeps; everything else is cleared, so a
/// `RESTIC_PASSWORD` or AWS key of the calling shell never leaks into a run.
const KEPT_HOST_ENV: &[&str] = &["PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "SSH_AUTH_SOCK"];

/// How a finished run is read into its result.
pub(crate) type Interpret<T> =
    Box<dyn Fn(&Context, &Finished) -> Result<T, BackupError> + Send + Sync>;

/// A restic command ready to run, and the reading of its result `T`.
pub struct Invocation<T> {
    pub(crate) ctx: Context,
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<String>,
    /// Includes secrets (`RESTIC_REPOSITORY` with REST credentials, AWS keys).
    pub(crate) env: Vec<(String, String)>,
    /// Values scrubbed from every output before it is read or shown.
    pub(crate) secrets: Vec<String>,
    pub(crate) interpret: Interpret<T>,
}

impl<T> Invocation<T> {
    /// The program, `restic` unless [`super::Restic::with_program`] said otherwise.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The arguments after the program (a container whose entrypoint is restic takes these as
    /// its command). No secret is ever among them.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// The names of the environment variables the run needs (safe to log).
    pub fn env_names(&self) -> Vec<&str> {
        self.env.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// `NAME=value` for each variable, secrets included: for a container's environment only,
    /// never for a log.
    pub fn env_assignments(&self) -> Vec<String> {
        self.env.iter().map(|(n, v)| format!("{n}={v}")).collect()
    }

    /// The operation (`backup`, `check`…), for messages.
    pub fn operation(&self) -> &'static str {
        self.ctx.operation
    }

    /// Removes the secrets of this run from `text` (a line shown while it runs).
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.secrets)
    }

    /// A command to run restic on this machine: a clean environment (only `PATH`, `HOME`,
    /// `USER`, `LOGNAME`, `TMPDIR` and `SSH_AUTH_SOCK` are kept from ours) plus the run's own,
    /// stdin closed so restic can never wait for a password.
    pub fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args).env_clear();
        for name in KEPT_HOST_ENV {
            if let Some(v) = std::env::var_os(name) {
                cmd.env(name, v);
            }
        }
        cmd.envs(self.env.iter().map(|(n, v)| (n, v)))
            .stdin(Stdio::null());
        cmd
    }

    /// Reads a finished run: its exit code (128 + n when killed by signal n, as Docker says)
    /// and its whole output. Status lines of `backup` may be left out of `stdout`.
    pub fn finish(&self, exit_code: i64, stdout: &str, stderr: &str) -> Result<T, BackupError> {
        let stdout = self.redact(stdout);
        let stderr = self.redact(stderr);
        (self.interpret)(
            &self.ctx,
            &Finished {
                exit_code,
                stdout: &stdout,
                stderr: &stderr,
            },
        )
    }

    /// Runs restic on this machine to its end. `on_stdout` sees every line of standard output
    /// as it comes (already redacted; see [`super::BackupProgress::from_line`]). Dropping the
    /// future kills restic (SIGKILL): the repository stays consistent, a stale lock may stay
    /// (see [`super::Restic::unlock`]).
    pub async fn run(&self, mut on_stdout: impl FnMut(&str)) -> Result<T, BackupError> {
        let mut child = self
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| {
                if source.kind() == std::io::ErrorKind::NotFound {
                    BackupError::ResticMissing {
                        program: self.program.clone(),
                    }
                } else {
                    BackupError::Spawn {
                        program: self.program.clone(),
                        source,
                    }
                }
            })?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let read_out = async {
            let mut kept = String::new();
            let Some(stdout) = stdout else {
                return kept;
            };
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf);
                        let line = self.redact(line.trim_end_matches(['\n', '\r']));
                        on_stdout(&line);
                        if !is_status_line(&line) {
                            kept.push_str(&line);
                            kept.push('\n');
                        }
                    }
                }
            }
            kept
        };
        let read_err = async {
            let mut bytes = Vec::new();
            if let Some(mut stderr) = stderr {
                let _ = stderr.read_to_end(&mut bytes).await;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let (stdout, stderr) = tokio::join!(read_out, read_err);
        let status = child.wait().await.map_err(|source| BackupError::Spawn {
            program: self.program.clone(),
            source,
        })?;
        self.finish(exit_code(status), &stdout, &stderr)
    }
}

/// The exit code, or 128 + the signal that ended the process (as a shell or Docker says it).
fn exit_code(status: std::process::ExitStatus) -> i64 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => i64::from(code),
        (None, Some(signal)) => 128 + i64::from(signal),
        (None, None) => -1,
    }
}

/// `restic backup --json … (repository /srv/repo)`: safe to log.
impl<T> fmt::Display for Invocation<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.program.display())?;
        for a in &self.args {
            if a.is_empty() || a.contains([' ', '"', '\'']) {
                write!(f, " '{}'", a.replace('\'', "'\\''"))?;
            } else {
                write!(f, " {a}")?;
            }
        }
        write!(f, " (repository {})", self.ctx.repository)
    }
}

impl<T> fmt::Debug for Invocation<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invocation")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("env", &self.env_names())
            .field("repository", &self.ctx.repository)
            .finish()
    }
}
