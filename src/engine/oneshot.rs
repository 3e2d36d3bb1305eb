//! One-shot containers: a job that runs to its end (a backup, a restore), with named volumes
//! and host folders mounted, its output streamed line by line, its exit code returned, and the
//! container removed afterwards whatever happened.

use super::client::Engine;
use super::error::{docker_error, message_of, EngineError};
use super::spec::MountSpec;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A host folder or file mounted into a one-shot container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindSpec {
    pub source: PathBuf,
    pub target: String,
    pub read_only: bool,
}

/// What a one-shot container runs, with what.
#[derive(Debug, Clone, Default)]
pub struct OneShot {
    pub name: String,
    pub image: String,
    /// Must include the node label: the container is ours like any other.
    pub labels: BTreeMap<String, String>,
    pub cmd: Vec<String>,
    /// Instead of the image's entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// `NAME=value`.
    pub env: Vec<String>,
    pub volumes: Vec<MountSpec>,
    pub binds: Vec<BindSpec>,
    /// A network to join; `None`: no network at all (`none`).
    pub network: Option<String>,
}

/// How a one-shot container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneShotOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

impl Engine {
    /// Run `job` to its end. `on_stdout` sees each line of standard output as it comes (for
    /// progress). The container is removed at the end, also on error or when the caller's
    /// future is dropped midway (then by a background task).
    pub async fn run_oneshot(
        &self,
        job: &OneShot,
        mut on_stdout: impl FnMut(&str) + Send,
    ) -> Result<OneShotOutput, EngineError> {
        let mut mounts: Vec<Mount> = job
            .volumes
            .iter()
            .map(|m| Mount {
                source: Some(m.volume.clone()),
                target: Some(m.target.clone()),
                typ: Some(MountType::VOLUME),
                read_only: Some(m.read_only),
                ..Default::default()
            })
            .collect();
        mounts.extend(job.binds.iter().map(|b| Mount {
            source: Some(b.source.display().to_string()),
            target: Some(b.target.clone()),
            typ: Some(MountType::BIND),
            read_only: Some(b.read_only),
            ..Default::default()
        }));
        let body = ContainerCreateBody {
            image: Some(job.image.clone()),
            cmd: Some(job.cmd.clone()),
            entrypoint: job.entrypoint.clone(),
            env: Some(job.env.clone()),
            labels: Some(job.labels.clone().into_iter().collect()),
            host_config: Some(HostConfig {
                mounts: Some(mounts),
                network_mode: Some(job.network.clone().unwrap_or_else(|| "none".into())),
                init: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default()
            .name(&job.name)
            .build();
        let id = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| EngineError::Docker {
                action: format!("create container {}", job.name),
                message: message_of(&e),
            })?
            .id;
        let guard = RemoveOnDrop {
            docker: self.docker.clone(),
            id: Some(id.clone()),
        };
        let result = self.run_created(&id, &job.name, &mut on_stdout).await;
        guard.remove_now().await;
        result
    }

    async fn run_created(
        &self,
        id: &str,
        name: &str,
        on_stdout: &mut (impl FnMut(&str) + Send),
    ) -> Result<OneShotOutput, EngineError> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(|e| docker_error("start", &format!("container {name}"), e))?;
        let options = LogsOptionsBuilder::default()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .build();
        let mut logs = self.docker.logs(id, Some(options));
        let mut stdout = String::new();
        let mut stderr = String::new();
        let mut partial = String::new();
        while let Some(chunk) = logs.next().await {
            let chunk = chunk
                .map_err(|e| docker_error("read the output of", &format!("container {name}"), e))?;
            match chunk {
                bollard::container::LogOutput::StdOut { message } => {
                    let text = String::from_utf8_lossy(&message);
                    stdout.push_str(&text);
                    partial.push_str(&text);
                    while let Some(at) = partial.find('\n') {
                        let line: String = partial.drain(..=at).collect();
                        on_stdout(line.trim_end());
                    }
                }
                bollard::container::LogOutput::StdErr { message } => {
                    stderr.push_str(&String::from_utf8_lossy(&message))
                }
                _ => {}
            }
        }
        if !partial.is_empty() {
            on_stdout(partial.trim_end());
        }
        let mut wait = self
            .docker
            .wait_container(id, Some(WaitContainerOptionsBuilder::default().build()));
        let mut exit_code = 0;
        while let Some(r) = wait.next().await {
            match r {
                Ok(w) => exit_code = w.status_code,
                // bollard reports a non-zero exit as an error carrying the code.
                Err(bollard::errors::Error::DockerContainerWaitError { code, .. }) => {
                    exit_code = code
                }
                Err(e) => return Err(docker_error("wait for", &format!("container {name}"), e)),
            }
        }
        Ok(OneShotOutput {
            exit_code,
            stdout,
            stderr,
        })
    }
}

/// Removes the one-shot container when dropped (the caller was cancelled), in the background.
struct RemoveOnDrop {
    docker: bollard::Docker,
    id: Option<String>,
}

impl RemoveOnDrop {
    async fn remove_now(mut self) {
        if let Some(id) = self.id.take() {
            let options = RemoveContainerOptionsBuilder::default().force(true).build();
            let _ = self.docker.remove_container(&id, Some(options)).await;
        }
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let docker = self.docker.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let options = RemoveContainerOptionsBuilder::default().force(true).build();
                    let _ = docker.remove_container(&id, Some(options)).await;
                });
            }
        }
    }
}
