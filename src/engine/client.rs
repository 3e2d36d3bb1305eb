//! The connection to the local Docker engine and what it says about itself.

use super::error::{docker_error, message_of, EngineError};
use super::labels;
use bollard::Docker;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

/// The oldest Docker API we accept (Docker 20.10).
const MIN_API: (u64, u64) = (1, 41);
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// A handle on the Docker engine. Cheap to clone; clones share the connection.
#[derive(Clone, Debug)]
pub struct Engine {
    pub(crate) docker: Docker,
    /// Where the engine was reached, for messages.
    pub(crate) socket: String,
    /// Serialises network creation: Docker below API 1.44 allows two networks with one name.
    pub(crate) network_lock: Arc<tokio::sync::Mutex<()>>,
}

/// What the engine says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineVersion {
    pub server_version: String,
    pub api_version: String,
    pub os: String,
    pub kernel: String,
    /// The engine's clock, for a clock check (`None` when Docker did not say).
    pub system_time: Option<SystemTime>,
}

impl Engine {
    /// Connect to the local engine (`DOCKER_HOST`, else `/var/run/docker.sock`), speak the
    /// engine's own API version, and refuse an engine older than API 1.41.
    pub async fn connect() -> Result<Engine, EngineError> {
        let host = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| format!("unix://{DEFAULT_SOCKET}"));
        Engine::connect_at(&host).await
    }

    /// Connect to the engine at `host` (`unix:///path`, `tcp://host:port`), as [`Engine::connect`].
    pub async fn connect_at(host: &str) -> Result<Engine, EngineError> {
        let host = match host.starts_with('/') {
            true => format!("unix://{host}"),
            false => host.to_string(),
        };
        let socket = host.trim_start_matches("unix://").to_string();
        let docker = Docker::connect_with_host(&host).map_err(|e| connect_error(&socket, &e))?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| connect_error(&socket, &e))?;
        let engine = Engine {
            docker,
            socket,
            network_lock: Arc::new(tokio::sync::Mutex::new(())),
        };
        let v = engine
            .docker
            .version()
            .await
            .map_err(|e| connect_error(&engine.socket, &e))?;
        let api = v.api_version.unwrap_or_default();
        if parse_api(&api).is_none_or(|a| a < MIN_API) {
            return Err(EngineError::TooOld {
                server_version: v.version.unwrap_or_else(|| "unknown".into()),
                api_version: api,
            });
        }
        Ok(engine)
    }

    /// The engine's version, OS, kernel and clock.
    pub async fn version(&self) -> Result<EngineVersion, EngineError> {
        let v = self
            .docker
            .version()
            .await
            .map_err(|e| docker_error("ask", "the Docker engine its version", e))?;
        let system_time = match self.docker.info().await {
            Ok(info) => info.system_time.as_deref().and_then(parse_time),
            Err(_) => None,
        };
        Ok(EngineVersion {
            server_version: v.version.unwrap_or_default(),
            api_version: v.api_version.unwrap_or_default(),
            os: v.os.unwrap_or_default(),
            kernel: v.kernel_version.unwrap_or_default(),
            system_time,
        })
    }
}

fn connect_error(socket: &str, e: &bollard::errors::Error) -> EngineError {
    use bollard::errors::Error as B;
    if let B::SocketNotFoundError(_) = e {
        return EngineError::NotRunning {
            socket: socket.to_string(),
        };
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::PermissionDenied => EngineError::PermissionDenied {
                    socket: socket.to_string(),
                },
                _ => EngineError::NotRunning {
                    socket: socket.to_string(),
                },
            };
        }
        source = s.source();
    }
    match e {
        B::DockerResponseServerError { .. } | B::JsonDataError { .. } => EngineError::Docker {
            action: format!("talk to the Docker engine at {socket}"),
            message: message_of(e),
        },
        _ => EngineError::NotRunning {
            socket: socket.to_string(),
        },
    }
}

/// `"1.41"` → `(1, 41)`.
pub(crate) fn parse_api(v: &str) -> Option<(u64, u64)> {
    let (major, minor) = v.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Docker's RFC 3339 times (`2026-05-10T12:00:00.123456789Z`).
pub(crate) fn parse_time(s: &str) -> Option<SystemTime> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(SystemTime::from(t))
}

/// Docker's `label` filter for `key=value` pairs. Refuses a filter without the node label:
/// CommonsCloud never lists what is not a node's.
pub(crate) fn label_filter(
    label_filters: &[(&str, &str)],
) -> Result<HashMap<String, Vec<String>>, EngineError> {
    if !label_filters.iter().any(|(k, _)| *k == labels::NODE) {
        return Err(EngineError::MissingNodeFilter);
    }
    let pairs = label_filters
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    Ok(HashMap::from([("label".to_string(), pairs)]))
}

/// Whether `labels` carry every pair of the filter (checked again on our side: belt and braces).
pub(crate) fn matches(labels: &BTreeMap<String, String>, label_filters: &[(&str, &str)]) -> bool {
    label_filters
        .iter()
        .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
}

pub(crate) fn to_btree(m: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    m.unwrap_or_default().into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_compare_as_numbers() {
        assert!(parse_api("1.9").is_some_and(|a| a < MIN_API));
        assert!(parse_api("1.38").is_some_and(|a| a < MIN_API));
        assert!(parse_api("1.41").is_some_and(|a| a >= MIN_API));
        assert!(parse_api("1.100").is_some_and(|a| a >= MIN_API));
        assert_eq!(parse_api("garbage"), None);
    }

    #[test]
    fn a_filter_without_the_node_label_is_refused() {
        assert!(matches!(
            label_filter(&[(labels::APP, "x")]),
            Err(EngineError::MissingNodeFilter)
        ));
        let f = label_filter(&[(labels::NODE, "n"), (labels::APP, "x")]).unwrap_or_default();
        assert_eq!(
            f.get("label"),
            Some(&vec![
                format!("{}=n", labels::NODE),
                format!("{}=x", labels::APP)
            ])
        );
    }

    #[test]
    fn docker_times_parse() {
        assert!(parse_time("2026-05-10T12:00:00.123456789Z").is_some());
        assert!(parse_time("2026-05-10T12:00:00.123456789+02:00").is_some());
        assert!(parse_time("0001-01-01T00:00:00Z").is_some());
    }
}
