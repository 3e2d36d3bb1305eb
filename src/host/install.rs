//! `commonscloud up --install-docker`: Docker Engine from the distribution's own archive
//! (`docker.io`), so the node depends on no third-party repository.

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::OsRelease;

/// Where Docker listens.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// Where `dockerd` writes when we start it ourselves (no systemd).
pub const DOCKERD_LOG: &str = "/var/log/commonscloud-dockerd.log";
/// How long to wait for Docker to accept connections after starting it.
const SOCKET_WAIT: Duration = Duration::from_secs(30);
/// Lines of a failed command's output kept in the error.
const TAIL_LINES: usize = 10;

/// Why Docker could not be installed or started.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Installing packages and starting daemons needs root.
    #[error("installing Docker must run as root: run `sudo commonscloud up --install-docker`")]
    NotRoot,
    /// We only know how to install with apt on Debian and Ubuntu.
    #[error(
        "{0} is not Debian or Ubuntu: install Docker Engine yourself \
         (https://docs.docker.com/engine/install/), then run commonscloud again"
    )]
    NotDebian(String),
    /// A command could not be started at all.
    #[error("cannot run `{command}`: {source}")]
    Spawn { command: String, source: io::Error },
    /// A command ran and failed.
    #[error("`{command}` failed ({status}){output}")]
    CommandFailed {
        command: String,
        status: String,
        /// The last lines of its output, prefixed with `:\n`, or empty.
        output: String,
    },
    /// A file we need could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// Docker was started but its socket never answered.
    #[error(
        "Docker did not accept connections on {DOCKER_SOCKET} within {} s: {log}",
        SOCKET_WAIT.as_secs()
    )]
    NotResponding { log: String },
}

/// Installs Docker Engine (`docker.io`) with apt on Debian or Ubuntu and starts it, then waits
/// until its socket accepts connections (at most 30 s).
///
/// When `dockerd` is already installed nothing is installed (so a Docker CE from docker.com is
/// never replaced), it is only started. Blocking: call it outside the async runtime or with
/// `spawn_blocking`.
pub fn install_docker() -> Result<(), HostError> {
    let os = OsRelease::read().unwrap_or_else(|| OsRelease::parse(""));
    if !os.is_debian_or_ubuntu() {
        return Err(HostError::NotDebian(os.pretty_name));
    }
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    if effective_uid(&status) != Some(0) {
        return Err(HostError::NotRoot);
    }
    if find_in_path("dockerd").is_none() {
        run(Command::new("apt-get").arg("update"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "docker.io"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    if socket_accepts(Path::new(DOCKER_SOCKET)) {
        return Ok(());
    }
    let log = if systemd_is_init() {
        run(Command::new("systemctl").args(["start", "docker"]))?;
        "see `journalctl -u docker`".to_owned()
    } else {
        spawn_dockerd()?;
        format!("see {DOCKERD_LOG}")
    };
    if wait_for_socket(Path::new(DOCKER_SOCKET), SOCKET_WAIT) {
        Ok(())
    } else {
        Err(HostError::NotResponding { log })
    }
}

/// The effective uid from the text of `/proc/self/status` (`Uid: real effective saved fs`).
fn effective_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `sd_booted()`: systemd creates this directory when it runs as PID 1.
fn systemd_is_init() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Starts `dockerd` in its own session (it outlives us), appending its output to
/// [`DOCKERD_LOG`]. `setsid --fork` makes init its parent, so no zombie is left behind.
fn spawn_dockerd() -> Result<(), HostError> {
    let open_log = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(DOCKERD_LOG)
            .map_err(|source| HostError::Io {
                path: DOCKERD_LOG.into(),
                source,
            })
    };
    let mut cmd = Command::new("setsid");
    cmd.args(["--fork", "dockerd"])
        .stdin(Stdio::null())
        .stdout(open_log()?)
        .stderr(open_log()?);
    let status = cmd.status().map_err(|source| HostError::Spawn {
        command: "setsid --fork dockerd".into(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(HostError::CommandFailed {
            command: "setsid --fork dockerd".into(),
            status: status.to_string(),
            output: format!(": see {DOCKERD_LOG}"),
        })
    }
}

/// Runs a command to completion, keeping the tail of its output for the error.
fn run(cmd: &mut Command) -> Result<(), HostError> {
    let command = describe(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| HostError::Spawn {
            command: command.clone(),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Err(HostError::CommandFailed {
        command,
        status: out.status.to_string(),
        output: tail(&text, TAIL_LINES),
    })
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        let _ = write!(s, " {}", arg.to_string_lossy());
    }
    s
}

/// The last `n` non-empty lines of `text` as `:\n` + lines, or empty when there are none.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(n);
    format!(":\n{}", lines[start..].join("\n"))
}

fn socket_accepts(socket: &Path) -> bool {
    UnixStream::connect(socket).is_ok()
}

fn wait_for_socket(socket: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if socket_accepts(socket) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn reads_effective_uid() {
        let status = "Name:\tcat\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Uid:\t1000\t1000\t1000\t1000\n"), Some(1000));
        assert_eq!(effective_uid("Name:\tcat\n"), None);
        assert_eq!(effective_uid("Uid:\tx\n"), None);
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("", 3), "");
        assert_eq!(tail("\n  \n", 3), "");
        assert_eq!(tail("a\nb\n\nc\nd\n", 2), ":\nc\nd");
        assert_eq!(tail("only", 10), ":\nonly");
    }

    #[test]
    fn failed_command_reports_its_output() {
        let err =
            run(Command::new("sh").args(["-c", "echo one; echo two >&2; exit 3"])).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("`sh -c echo one; echo two >&2; exit 3` failed"),
            "{message}"
        );
        assert!(message.contains("one\ntwo"), "{message}");
        assert!(run(&mut Command::new("true")).is_ok());
        assert!(matches!(
            run(&mut Command::new("/nonexistent/program")),
            Err(HostError::Spawn { .. })
        ));
    }

    #[test]
    fn waits_for_a_listening_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker.sock");
        assert!(!wait_for_socket(&path, Duration::ZERO));
        let _listener = UnixListener::bind(&path).unwrap();
        assert!(wait_for_socket(&path, Duration::ZERO));
    }

    #[test]
    fn errors_say_what_to_do() {
        assert!(HostError::NotDebian("Fedora Linux 40".into())
            .to_string()
            .starts_with(
                "Fedora Linux 40 is not Debian or Ubuntu: install Docker Engine yourself"
            ));
        assert!(HostError::NotRoot.to_string().contains("must run as root"));
    }
}
