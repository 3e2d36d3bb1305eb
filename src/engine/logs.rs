//! A container's output: the last lines, or followed as it comes.

use super::client::Engine;
use super::error::{docker_error, message_of, EngineError};
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::{Stream, StreamExt};

impl Engine {
    /// The last `tail` lines a container wrote (stdout and stderr interleaved).
    pub async fn logs(&self, container: &str, tail: usize) -> Result<String, EngineError> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&tail.to_string())
            .build();
        let mut stream = self.docker.logs(container, Some(options));
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                docker_error("read the logs of", &format!("container {container}"), e)
            })?;
            out.extend_from_slice(chunk.as_ref());
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// The last `tail` lines of a container of ours, then what it writes next, until it stops
    /// (`commonscloud logs APP -f`). Each item is a piece of output, usually a line.
    pub async fn logs_follow(
        &self,
        container: &str,
        tail: usize,
    ) -> Result<impl Stream<Item = Result<String, EngineError>> + Send + 'static, EngineError> {
        self.ours(container).await?;
        let options = LogsOptionsBuilder::default()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .tail(&tail.to_string())
            .build();
        let name = container.to_string();
        Ok(self
            .docker
            .logs(container, Some(options))
            .map(move |chunk| {
                chunk
                    .map(|c| String::from_utf8_lossy(c.as_ref()).into_owned())
                    .map_err(|e| EngineError::Docker {
                        action: format!("follow the logs of container {name}"),
                        message: message_of(&e),
                    })
            }))
    }
}
