//! Host facts and checks, for `commonscloud doctor` and the preflight of `up`.
//!
//! Each check returns a [`Check`]: a verdict, a sentence saying what was found and, when
//! something is wrong, a hint saying what to do. The verdicts are computed by pure functions
//! from plain values so they can be tested; the public functions only gather the facts.

mod checks;
mod install;
mod os_release;

pub use checks::{
    clock_check, disk_check, docker_check, memory_check, os_check, port_check, MAX_CLOCK_SKEW_SECS,
    MIN_DOCKER_MAJOR, MIN_YEAR,
};
pub use install::{install_docker, HostError, DOCKERD_LOG, DOCKER_SOCKET};
pub use os_release::OsRelease;

use serde::Serialize;

/// The verdict of a check, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
}

/// One finding about the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Short name shown in the first column: `memory`, `disk /var/lib/docker`, `port 443`…
    pub name: String,
    pub status: CheckStatus,
    /// What was found, as a sentence.
    pub detail: String,
    /// What to do about it, when there is something to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Check {
    /// A passing check.
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(name, CheckStatus::Ok, detail)
    }

    /// A check that found something worth knowing but not blocking.
    pub fn warn(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(name, CheckStatus::Warn, detail)
    }

    /// A check that found something the node cannot run with.
    pub fn fail(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(name, CheckStatus::Fail, detail)
    }

    /// Adds what to do about it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Check {
        self.hint = Some(hint.into());
        self
    }

    fn new(name: impl Into<String>, status: CheckStatus, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status,
            detail: detail.into(),
            hint: None,
        }
    }
}

/// The worst verdict among `checks` (`Ok` when there are none): decides doctor's exit code.
pub fn worst(checks: &[Check]) -> CheckStatus {
    checks
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(CheckStatus::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_of_checks() {
        assert_eq!(worst(&[]), CheckStatus::Ok);
        let checks = [Check::ok("a", ""), Check::warn("b", ""), Check::ok("c", "")];
        assert_eq!(worst(&checks), CheckStatus::Warn);
        let checks = [Check::fail("a", ""), Check::warn("b", "")];
        assert_eq!(worst(&checks), CheckStatus::Fail);
    }

    #[test]
    fn serializes_lowercase_without_empty_hint() {
        let json = serde_json::to_value(Check::ok("memory", "fine")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "memory", "status": "ok", "detail": "fine"})
        );
        let json =
            serde_json::to_value(Check::fail("port 80", "taken").with_hint("stop it")).unwrap();
        assert_eq!(json["status"], "fail");
        assert_eq!(json["hint"], "stop it");
    }
}
