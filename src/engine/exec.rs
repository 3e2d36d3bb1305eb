//! Running a command in a container of ours and capturing what it says.

use super::client::Engine;
use super::error::{message_of, EngineError};
use super::spec::ExecOutput;
use bollard::container::LogOutput;
use bollard::exec::StartExecResults;
use bollard::models::ExecConfig;
use futures_util::StreamExt;
use std::time::Duration;

impl Engine {
    /// Run `cmd` in `container` (as `user`, else the container's user) and return its exit
    /// code with stdout and stderr captured separately. A failing command is not an error.
    pub async fn exec(
        &self,
        container: &str,
        cmd: &[String],
        user: Option<&str>,
    ) -> Result<ExecOutput, EngineError> {
        self.exec_with_env(container, cmd, user, &[]).await
    }

    /// [`Engine::exec`] with extra environment variables (`NAME=value`) for the command only:
    /// the way to hand it a secret without putting it on a command line.
    pub async fn exec_with_env(
        &self,
        container: &str,
        cmd: &[String],
        user: Option<&str>,
        env: &[String],
    ) -> Result<ExecOutput, EngineError> {
        self.ours(container).await?;
        let action = || format!("run `{}` in container {container}", cmd.join(" "));
        let fail = |e: bollard::errors::Error| EngineError::Docker {
            action: action(),
            message: message_of(&e),
        };
        let config = ExecConfig {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(cmd.to_vec()),
            user: user.map(str::to_string),
            env: (!env.is_empty()).then(|| env.to_vec()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_exec(container, config)
            .await
            .map_err(fail)?;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        match self
            .docker
            .start_exec(&created.id, None)
            .await
            .map_err(fail)?
        {
            StartExecResults::Attached { mut output, .. } => {
                while let Some(chunk) = output.next().await {
                    match chunk.map_err(fail)? {
                        LogOutput::StdOut { message } | LogOutput::Console { message } => {
                            stdout.extend_from_slice(&message)
                        }
                        LogOutput::StdErr { message } => stderr.extend_from_slice(&message),
                        LogOutput::StdIn { .. } => {}
                    }
                }
            }
            StartExecResults::Detached => {
                return Err(EngineError::Docker {
                    action: action(),
                    message: "Docker detached the command instead of attaching to it".into(),
                })
            }
        }
        // The output ends a moment before Docker records the exit code.
        let mut exit_code = None;
        for _ in 0..100 {
            let i = self.docker.inspect_exec(&created.id).await.map_err(fail)?;
            if i.running != Some(true) {
                exit_code = i.exit_code;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let exit_code = exit_code.ok_or_else(|| EngineError::Docker {
            action: action(),
            message: "Docker reported no exit code".into(),
        })?;
        Ok(ExecOutput {
            exit_code,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }
}
