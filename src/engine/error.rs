//! What can go wrong talking to Docker, said so that a person can act on it.
//! No bollard type appears here: messages are extracted into plain strings.

use std::fmt::Write as _;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "no Docker engine answers at {socket} — start it (`systemctl start docker` or `dockerd &`) \
         or run `commonscloud up --install-docker`"
    )]
    NotRunning { socket: String },

    #[error(
        "permission denied on the Docker socket {socket} — run as root or add this user to the \
         `docker` group"
    )]
    PermissionDenied { socket: String },

    #[error(
        "the Docker engine is {server_version} (API {api_version}); CommonsCloud needs API 1.41 \
         or newer (Docker 20.10+) — upgrade Docker"
    )]
    TooOld {
        server_version: String,
        api_version: String,
    },

    #[error("{what} does not exist")]
    NotFound { what: String },

    #[error(
        "{what} exists but was not created by CommonsCloud (it lacks the label `{label}`); \
         CommonsCloud leaves it alone — rename or remove it by hand"
    )]
    NotOurs { what: String, label: String },

    #[error(
        "refusing to list Docker objects without a `coop.commonscloud.node` label filter \
         (a bug in the caller)"
    )]
    MissingNodeFilter,

    #[error("{action} failed: {message}")]
    Docker { action: String, message: String },

    #[error("could not pull {reference}: {message}")]
    Pull { reference: String, message: String },

    #[error(
        "pulling {reference} stalled: nothing from the registry for {secs} s — check the \
         network, or load the image with `docker load`"
    )]
    PullStalled { reference: String, secs: u64 },

    #[error("building {tag} failed: {message}{}", tail(last_lines))]
    Build {
        tag: String,
        message: String,
        last_lines: Vec<String>,
    },

    #[error(
        "image {reference} is missing and could not be pulled ({pull_error}); it is not a \
         Debian base CommonsCloud can bootstrap — load it with `docker load` or make a \
         registry reachable"
    )]
    ImageUnavailable {
        reference: String,
        pull_error: String,
    },

    #[error(
        "image {reference} cannot be pulled and debootstrap is not installed to build it \
         locally — install debootstrap: apt-get install debootstrap"
    )]
    NoDebootstrap { reference: String },

    #[error(
        "image {reference} cannot be pulled and no Debian mirror was found in \
         /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list to bootstrap it — add a \
         Debian `deb` source there or set COMMONSCLOUD_DEBIAN_MIRROR"
    )]
    NoMirror { reference: String },

    #[error(
        "bootstrapping {reference} from {mirror} failed: {message}{}",
        tail(last_lines)
    )]
    Bootstrap {
        reference: String,
        mirror: String,
        message: String,
        last_lines: Vec<String>,
    },

    #[error(
        "container {name} did not become healthy: {state}{}",
        tail(last_log_lines)
    )]
    Unhealthy {
        name: String,
        state: String,
        last_log_lines: Vec<String>,
    },

    #[error("{action}: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
}

impl EngineError {
    /// The engine cannot be used at all (absent, forbidden, too old): the environment must be
    /// fixed, as opposed to an operation that failed.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            EngineError::NotRunning { .. }
                | EngineError::PermissionDenied { .. }
                | EngineError::TooOld { .. }
        )
    }

    /// Whether Docker said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, EngineError::NotFound { .. })
    }
}

/// The last lines of some output, indented under the sentence they explain.
fn tail(lines: &[String]) -> String {
    let mut out = String::new();
    if !lines.is_empty() {
        out.push_str("; last lines:");
        for l in lines {
            let _ = write!(out, "\n  | {l}");
        }
    }
    out
}

/// Turn a bollard error into an [`EngineError`] about `action` on `what`.
pub(crate) fn docker_error(action: &str, what: &str, e: bollard::errors::Error) -> EngineError {
    use bollard::errors::Error as B;
    match e {
        B::DockerResponseServerError {
            status_code: 404, ..
        } => EngineError::NotFound {
            what: what.to_string(),
        },
        other => EngineError::Docker {
            action: format!("{action} {what}"),
            message: message_of(&other),
        },
    }
}

/// The part of a bollard error a person wants to read: Docker's own message when there is one,
/// else the innermost cause.
pub(crate) fn message_of(e: &bollard::errors::Error) -> String {
    use bollard::errors::Error as B;
    match e {
        B::DockerResponseServerError { message, .. } => message.trim().to_string(),
        B::DockerStreamError { error } => error.trim().to_string(),
        B::RequestTimeoutError => "Docker did not answer in time".to_string(),
        other => {
            let mut msg = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                msg = s.to_string();
                source = s.source();
            }
            msg
        }
    }
}

/// The status code of a Docker answer, if the error is one.
pub(crate) fn status_of(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unhealthy_lists_log_lines_under_the_sentence() {
        let e = EngineError::Unhealthy {
            name: "hello".into(),
            state: "exited with code 3".into(),
            last_log_lines: vec!["boom".into(), "bye".into()],
        };
        assert_eq!(
            e.to_string(),
            "container hello did not become healthy: exited with code 3; last lines:\n  | boom\n  | bye"
        );
    }

    #[test]
    fn not_found_comes_from_a_404() {
        let e = docker_error(
            "inspect",
            "container x",
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                message: "No such container: x".into(),
            },
        );
        assert!(e.is_not_found());
        assert_eq!(e.to_string(), "container x does not exist");
    }
}
