//! Ask Docker what the node has: only objects carrying the node's label.

use super::desired::DesiredState;
use super::plan::Observed;
use crate::engine::{labels, Engine, EngineError};

/// Observe the node's containers, networks and volumes, and which desired images exist.
pub async fn observe(engine: &Engine, desired: &DesiredState) -> Result<Observed, EngineError> {
    let filter = [(labels::NODE, desired.node.as_str())];
    let (containers, networks, volumes) = tokio::try_join!(
        engine.list_containers(&filter),
        engine.list_networks(&filter),
        engine.list_volumes(&filter),
    )?;
    let mut images = std::collections::BTreeSet::new();
    for c in &desired.containers {
        let r = c.image.reference();
        if !images.contains(r) && engine.image_exists(r).await? {
            images.insert(r.to_string());
        }
    }
    Ok(Observed {
        containers,
        networks: networks.into_iter().map(|n| n.name).collect(),
        volumes: volumes.into_iter().map(|v| v.name).collect(),
        images,
    })
}
