//! Waiting for a started container to be healthy, and saying why it is not.

use super::client::Engine;
use super::container::{health_state, run_state, started_at};
use super::error::{docker_error, status_of, EngineError};
use super::spec::{HealthState, RunState};
use std::time::{Duration, Instant};

/// How often the state is asked for while waiting.
const POLL: Duration = Duration::from_millis(250);
/// A container without a health check counts as healthy once it has run this long.
const SETTLE: Duration = Duration::from_secs(1);
/// Log lines carried by an [`EngineError::Unhealthy`].
const LOG_LINES: usize = 20;

impl Engine {
    /// Wait until container `id` is healthy: its health check passes, or — without one — it
    /// has kept running for a second. Fails fast when it exits, restarts or turns unhealthy,
    /// and after `timeout` otherwise, with the container's last log lines.
    pub async fn wait_healthy(&self, id: &str, timeout: Duration) -> Result<(), EngineError> {
        let deadline = Instant::now() + timeout;
        let mut first_restarts: Option<i64> = None;
        let mut running_since: Option<(Option<String>, Instant)> = None;
        loop {
            let c = match self.docker.inspect_container(id, None).await {
                Ok(c) => c,
                Err(e) if status_of(&e) == Some(404) => {
                    return Err(EngineError::Unhealthy {
                        name: id.to_string(),
                        state: "it was removed while starting".into(),
                        last_log_lines: vec![],
                    })
                }
                Err(e) => return Err(docker_error("inspect", &format!("container {id}"), e)),
            };
            let name = c
                .name
                .as_deref()
                .unwrap_or(id)
                .trim_start_matches('/')
                .to_string();
            let state = c.state.unwrap_or_default();
            let restarts = c.restart_count.unwrap_or(0);
            let baseline = *first_restarts.get_or_insert(restarts);
            let exit = || {
                let code = state.exit_code.unwrap_or(0);
                let oom = if state.oom_killed == Some(true) {
                    ", killed for lack of memory"
                } else {
                    ""
                };
                format!("exit code {code}{oom}")
            };
            let failure = match (run_state(&state), health_state(&state)) {
                (RunState::Exited | RunState::Dead, _) => Some(format!("it exited ({})", exit())),
                (RunState::Restarting, _) => Some(format!("it keeps restarting ({})", exit())),
                (RunState::Running, _) if restarts > baseline => {
                    Some(format!("it crashed and was restarted ({})", exit()))
                }
                (RunState::Running, HealthState::Healthy) => return Ok(()),
                (RunState::Running, HealthState::Unhealthy) => {
                    let said = state
                        .health
                        .as_ref()
                        .and_then(|h| h.log.as_ref())
                        .and_then(|l| l.last())
                        .and_then(|r| r.output.as_deref())
                        .map(str::trim)
                        .filter(|o| !o.is_empty())
                        .map(|o| format!(" (the check said: {o})"))
                        .unwrap_or_default();
                    Some(format!("its health check fails{said}"))
                }
                (RunState::Running, HealthState::None) => {
                    let started = started_at(&state);
                    match &running_since {
                        Some((s, since)) if *s == started => {
                            if since.elapsed() >= SETTLE {
                                return Ok(());
                            }
                        }
                        _ => running_since = Some((started, Instant::now())),
                    }
                    None
                }
                _ => None,
            };
            let failure = failure.or_else(|| {
                (Instant::now() >= deadline).then(|| {
                    let what = match (run_state(&state), health_state(&state)) {
                        (RunState::Created, _) => "it was never started".to_string(),
                        (RunState::Running, HealthState::Starting) => {
                            "its health check has not passed yet".to_string()
                        }
                        (s, _) => format!("it is {}", format!("{s:?}").to_lowercase()),
                    };
                    format!("{what} after {} s", timeout.as_secs())
                })
            });
            if let Some(state) = failure {
                let last_log_lines = self
                    .logs(id, LOG_LINES)
                    .await
                    .map(|l| l.lines().map(str::to_string).collect())
                    .unwrap_or_default();
                return Err(EngineError::Unhealthy {
                    name,
                    state,
                    last_log_lines,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
