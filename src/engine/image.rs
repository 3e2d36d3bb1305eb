//! Images: presence, pull (with per-layer progress), build from a folder, and `ensure_image`
//! which falls back to bootstrapping a Debian base when no registry answers.

use super::bootstrap::debian_slim_suite;
use super::client::Engine;
use super::context::{context_hash, context_tar, from_images};
use super::error::{docker_error, message_of, status_of, EngineError};
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;
use indicatif::ProgressBar;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::time::Duration;

/// A pull with no news from the registry for this long is given up.
const PULL_STALL: Duration = Duration::from_secs(60);
/// How many lines of build output an error message carries.
const KEEP_LINES: usize = 20;

/// An image made by [`Engine::ensure_built`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// `repository:<first 16 hex digits of the folder's content hash>`.
    pub reference: String,
    pub id: String,
    /// False when an image of that exact folder was already there.
    pub built: bool,
}

impl Engine {
    /// Whether an image answers to `reference` (name:tag, name@digest or id).
    pub async fn image_exists(&self, reference: &str) -> Result<bool, EngineError> {
        Ok(self.image_id(reference).await?.is_some())
    }

    /// The id (`sha256:…`) of the image `reference` names, if present.
    pub async fn image_id(&self, reference: &str) -> Result<Option<String>, EngineError> {
        match self.docker.inspect_image(reference).await {
            Ok(i) => Ok(i.id),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(docker_error("inspect", &format!("image {reference}"), e)),
        }
    }

    /// Pull `reference` from its registry, showing the layers' download progress on `bar`.
    /// Gives up when the registry sends nothing for a minute.
    pub async fn pull(&self, reference: &str, bar: &ProgressBar) -> Result<(), EngineError> {
        let full = with_default_tag(reference);
        let options = CreateImageOptionsBuilder::default()
            .from_image(&full)
            .build();
        let mut stream = self.docker.create_image(Some(options), None, None);
        let mut layers: HashMap<String, (u64, u64)> = HashMap::new();
        bar.set_message(format!("pull {reference}"));
        loop {
            let next = tokio::time::timeout(PULL_STALL, stream.next())
                .await
                .map_err(|_| EngineError::PullStalled {
                    reference: reference.to_string(),
                    secs: PULL_STALL.as_secs(),
                })?;
            let Some(item) = next else { break };
            let info = item.map_err(|e| EngineError::Pull {
                reference: reference.to_string(),
                message: message_of(&e),
            })?;
            let status = info.status.unwrap_or_default();
            if let Some(id) = info.id.filter(|id| !id.is_empty()) {
                let entry = layers.entry(id).or_insert((0, 0));
                if let Some(p) = info.progress_detail {
                    if status.starts_with("Downloading") {
                        entry.0 = p.current.unwrap_or(0).max(0) as u64;
                        entry.1 = p.total.unwrap_or(0).max(0) as u64;
                    }
                }
                if matches!(
                    status.as_str(),
                    "Download complete" | "Pull complete" | "Already exists"
                ) {
                    entry.0 = entry.1;
                }
                let (done, total) = layers
                    .values()
                    .fold((0, 0), |(d, t), (c, s)| (d + c, t + s));
                bar.set_length(total.max(1));
                bar.set_position(done);
                bar.set_message(format!("pull {reference}: {} layers", layers.len()));
            } else if !status.is_empty() {
                bar.set_message(format!("pull {reference}: {status}"));
            }
        }
        Ok(())
    }

    /// Make sure `reference` is present: as it is, else pulled, else — for
    /// `debian:<suite>-slim` — bootstrapped from the host's Debian mirror.
    pub async fn ensure_image(
        &self,
        reference: &str,
        bar: &ProgressBar,
    ) -> Result<(), EngineError> {
        if self.image_exists(reference).await? {
            return Ok(());
        }
        let pull_error = match self.pull(reference, bar).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        match debian_slim_suite(reference) {
            Some(suite) => self.bootstrap_debian(reference, &suite, bar).await,
            None => Err(EngineError::ImageUnavailable {
                reference: reference.to_string(),
                pull_error: match pull_error {
                    EngineError::Pull { message, .. } => message,
                    other => other.to_string(),
                },
            }),
        }
    }

    /// Build `context_dir` (its `Dockerfile`) as `tag` with `labels`, streaming the build's
    /// output to `bar`. Each `FROM` image is made present first (see [`Engine::ensure_image`]).
    pub async fn build(
        &self,
        context_dir: &Path,
        tag: &str,
        labels: &BTreeMap<String, String>,
        bar: &ProgressBar,
    ) -> Result<(), EngineError> {
        self.build_image(context_dir, tag, labels, bar)
            .await
            .map(|_| ())
    }

    /// Build `context_dir` as [`image_tag`] unless that image is already there.
    pub async fn ensure_built(
        &self,
        context_dir: &Path,
        repository: &str,
        labels: &BTreeMap<String, String>,
        bar: &ProgressBar,
    ) -> Result<BuiltImage, EngineError> {
        let hash = context_hash(context_dir).map_err(|source| EngineError::Io {
            action: format!("could not read the build folder {}", context_dir.display()),
            source,
        })?;
        let reference = image_tag(repository, &hash);
        if let Some(id) = self.image_id(&reference).await? {
            return Ok(BuiltImage {
                reference,
                id,
                built: false,
            });
        }
        let _lock = build_lock(&reference).await?;
        if let Some(id) = self.image_id(&reference).await? {
            return Ok(BuiltImage {
                reference,
                id,
                built: false,
            });
        }
        let id = self
            .build_locked(context_dir, &reference, labels, bar)
            .await?;
        Ok(BuiltImage {
            reference,
            id,
            built: true,
        })
    }

    /// Build under the tag's lock, which makes a concurrent
    /// build of the same tag wait, then hit Docker's cache instead of leaving a dangling image.
    async fn build_image(
        &self,
        context_dir: &Path,
        tag: &str,
        labels: &BTreeMap<String, String>,
        bar: &ProgressBar,
    ) -> Result<String, EngineError> {
        let _lock = build_lock(tag).await?;
        self.build_locked(context_dir, tag, labels, bar).await
    }

    async fn build_locked(
        &self,
        context_dir: &Path,
        tag: &str,
        labels: &BTreeMap<String, String>,
        bar: &ProgressBar,
    ) -> Result<String, EngineError> {
        let dockerfile = context_dir.join("Dockerfile");
        let text = std::fs::read_to_string(&dockerfile).map_err(|source| EngineError::Io {
            action: format!("could not read {}", dockerfile.display()),
            source,
        })?;
        for base in from_images(&text) {
            self.ensure_image(&base, bar).await?;
        }
        let dir = context_dir.to_path_buf();
        let tar = tokio::task::spawn_blocking(move || context_tar(&dir))
            .await
            .map_err(|e| EngineError::Io {
                action: "could not pack the build folder".into(),
                source: std::io::Error::other(e),
            })?
            .map_err(|source| EngineError::Io {
                action: format!("could not pack the build folder {}", context_dir.display()),
                source,
            })?;
        let labels: HashMap<&str, &str> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let options = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .labels(&labels)
            .rm(true)
            .forcerm(true)
            .build();
        bar.set_message(format!("build {tag}"));
        let mut stream =
            self.docker
                .build_image(options, None, Some(bollard::body_full(tar.into())));
        let mut last: VecDeque<String> = VecDeque::with_capacity(KEEP_LINES);
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(e) => {
                    return Err(EngineError::Build {
                        tag: tag.to_string(),
                        message: message_of(&e),
                        last_lines: last.into(),
                    })
                }
            };
            let text = info.stream.or(info.status).unwrap_or_default();
            for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                if last.len() == KEEP_LINES {
                    last.pop_front();
                }
                last.push_back(line.to_string());
                bar.set_message(format!("build {tag}: {line}"));
            }
        }
        self.image_id(tag).await?.ok_or_else(|| EngineError::Build {
            tag: tag.to_string(),
            message: "Docker reported no image".into(),
            last_lines: last.into(),
        })
    }
}

async fn build_lock(tag: &str) -> Result<std::fs::File, EngineError> {
    super::lock::lock(&format!("build-{tag}"))
        .await
        .map_err(|source| EngineError::Io {
            action: format!("could not take the build lock of {tag}"),
            source,
        })
}

/// `name` → `name:latest` (Docker would otherwise pull every tag); tags and digests stay.
fn with_default_tag(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if reference.contains('@') || last.contains(':') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    }
}

/// The reference of an image built from a folder: `repository:<first 16 hex of its content
/// hash>`, so a changed folder is a new image and an unchanged one is never rebuilt.
pub fn image_tag(repository: &str, content_hash: &str) -> String {
    let short = content_hash.get(..16).unwrap_or(content_hash);
    format!("{repository}:{short}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_name_pulls_latest_only() {
        assert_eq!(with_default_tag("debian"), "debian:latest");
        assert_eq!(
            with_default_tag("localhost:5000/x"),
            "localhost:5000/x:latest"
        );
        assert_eq!(
            with_default_tag("debian:bookworm-slim"),
            "debian:bookworm-slim"
        );
        assert_eq!(with_default_tag("x@sha256:ab"), "x@sha256:ab");
    }
}
