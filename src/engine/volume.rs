//! Volumes: list ours, create idempotently, remove.

use super::client::{label_filter, matches, Engine};
use super::error::{docker_error, status_of, EngineError};
use super::network::check_ours;
use super::spec::{ObservedVolume, VolumeSpec};
use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{ListVolumesOptionsBuilder, RemoveVolumeOptionsBuilder};
use std::collections::BTreeMap;

impl Engine {
    /// Volumes carrying all of `label_filters` (which must include `coop.commonscloud.node`).
    pub async fn list_volumes(
        &self,
        label_filters: &[(&str, &str)],
    ) -> Result<Vec<ObservedVolume>, EngineError> {
        let filters = label_filter(label_filters)?;
        let options = ListVolumesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_volumes(Some(options))
            .await
            .map_err(|e| docker_error("list", "volumes", e))?;
        let mut out: Vec<ObservedVolume> = list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| ObservedVolume {
                name: v.name,
                labels: v.labels.into_iter().collect(),
            })
            .filter(|v| matches(&v.labels, label_filters))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Create the volume unless one of ours by that name exists.
    pub async fn ensure_volume(&self, spec: &VolumeSpec) -> Result<(), EngineError> {
        if let Some(existing) = self.volume_labels(&spec.name).await? {
            return check_ours(&format!("volume {}", spec.name), &existing, &spec.labels);
        }
        let request = VolumeCreateRequest {
            name: Some(spec.name.clone()),
            driver: Some("local".into()),
            labels: Some(spec.labels.clone().into_iter().collect()),
            ..Default::default()
        };
        self.docker
            .create_volume(request)
            .await
            .map_err(|e| docker_error("create", &format!("volume {}", spec.name), e))?;
        // Docker answers a create of an existing name with that volume: check it is ours.
        match self.volume_labels(&spec.name).await? {
            Some(existing) => check_ours(&format!("volume {}", spec.name), &existing, &spec.labels),
            None => Err(EngineError::NotFound {
                what: format!("volume {} (just created)", spec.name),
            }),
        }
    }

    /// Remove a volume of ours and its data; absent is fine. Fails while a container uses it.
    pub async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        let Some(existing) = self.volume_labels(name).await? else {
            return Ok(());
        };
        check_ours(&format!("volume {name}"), &existing, &BTreeMap::new())?;
        let options = RemoveVolumeOptionsBuilder::default().force(false).build();
        match self.docker.remove_volume(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(docker_error("remove", &format!("volume {name}"), e)),
        }
    }

    async fn volume_labels(
        &self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, EngineError> {
        match self.docker.inspect_volume(name).await {
            Ok(v) => Ok(Some(v.labels.into_iter().collect())),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(docker_error("inspect", &format!("volume {name}"), e)),
        }
    }
}
