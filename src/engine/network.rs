//! Networks: list ours, create idempotently, remove.

use super::client::{label_filter, matches, to_btree, Engine};
use super::error::{docker_error, status_of, EngineError};
use super::labels;
use super::spec::{NetworkSpec, ObservedNetwork};
use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::ListNetworksOptionsBuilder;
use std::collections::BTreeMap;

impl Engine {
    /// Networks carrying all of `label_filters` (which must include `coop.commonscloud.node`).
    pub async fn list_networks(
        &self,
        label_filters: &[(&str, &str)],
    ) -> Result<Vec<ObservedNetwork>, EngineError> {
        let filters = label_filter(label_filters)?;
        let options = ListNetworksOptionsBuilder::default()
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(|e| docker_error("list", "networks", e))?;
        let mut out: Vec<ObservedNetwork> = list
            .into_iter()
            .map(|n| ObservedNetwork {
                id: n.id.unwrap_or_default(),
                name: n.name.unwrap_or_default(),
                labels: to_btree(n.labels),
            })
            .filter(|n| matches(&n.labels, label_filters))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Create the network unless one of ours by that name exists. Returns its id.
    pub async fn ensure_network(&self, spec: &NetworkSpec) -> Result<String, EngineError> {
        let _one_at_a_time = self.network_lock.lock().await;
        if let Some((id, existing)) = self.network_labels(&spec.name).await? {
            check_ours(&format!("network {}", spec.name), &existing, &spec.labels)?;
            return Ok(id);
        }
        let request = NetworkCreateRequest {
            name: spec.name.clone(),
            driver: Some("bridge".into()),
            internal: Some(spec.internal),
            labels: Some(spec.labels.clone().into_iter().collect()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_network(request)
            .await
            .map_err(|e| docker_error("create", &format!("network {}", spec.name), e))?;
        Ok(created.id)
    }

    /// Remove a network of ours; absent is fine. Fails while containers still use it.
    pub async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        let Some((id, existing)) = self.network_labels(name).await? else {
            return Ok(());
        };
        check_ours(&format!("network {name}"), &existing, &BTreeMap::new())?;
        match self.docker.remove_network(&id).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(docker_error("remove", &format!("network {name}"), e)),
        }
    }

    /// The id and labels of the network named exactly `name`, if any.
    async fn network_labels(
        &self,
        name: &str,
    ) -> Result<Option<(String, BTreeMap<String, String>)>, EngineError> {
        match self.docker.inspect_network(name, None).await {
            // Docker also resolves id prefixes: only an exact name counts.
            Ok(n) if n.name.as_deref() == Some(name) => {
                Ok(Some((n.id.unwrap_or_default(), to_btree(n.labels))))
            }
            Ok(_) => Ok(None),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(docker_error("inspect", &format!("network {name}"), e)),
        }
    }
}

/// An existing object is ours when it carries the node label — the same node as `wanted`'s,
/// when `wanted` names one.
pub(crate) fn check_ours(
    what: &str,
    existing: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
) -> Result<(), EngineError> {
    let node = existing.get(labels::NODE);
    let same = match wanted.get(labels::NODE) {
        Some(w) => node == Some(w),
        None => node.is_some(),
    };
    if same {
        Ok(())
    } else {
        Err(EngineError::NotOurs {
            what: what.to_string(),
            label: match wanted.get(labels::NODE) {
                Some(w) => format!("{}={w}", labels::NODE),
                None => labels::NODE.to_string(),
            },
        })
    }
}
