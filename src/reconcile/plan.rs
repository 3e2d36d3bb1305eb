//! The heart of the supervisor: compare desired with observed and say what to do and why.
//! A pure function of plain values.

use super::desired::{DesiredState, ImageSource};
use crate::engine::spec::{labels, HealthState, ObservedContainer, RunState};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What Docker reports about the node (only objects carrying its node label).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Observed {
    pub containers: Vec<ObservedContainer>,
    pub networks: BTreeSet<String>,
    pub volumes: BTreeSet<String>,
    /// Image references present in the engine (of those the desired state uses).
    pub images: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Recreate,
    Remove,
    Keep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    Missing,
    ConfigChanged,
    ImageChanged,
    Unhealthy,
    NotRunning,
    NoLongerDeclared,
    Duplicate,
    UpToDate,
}

impl Action {
    /// The word for it in plans and progress lines.
    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Recreate => "recreate",
            Action::Remove => "remove",
            Action::Keep => "keep",
        }
    }
}

impl Reason {
    pub fn describe(self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::ConfigChanged => "config changed",
            Reason::ImageChanged => "image changed",
            Reason::Unhealthy => "unhealthy",
            Reason::NotRunning => "not running",
            Reason::NoLongerDeclared => "no longer declared",
            Reason::Duplicate => "duplicate",
            Reason::UpToDate => "up to date",
        }
    }
}

/// One container step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub action: Action,
    pub reason: Reason,
    pub app: String,
    pub component: String,
    /// The container's name (desired name, or the observed one for removals).
    pub container: String,
    /// The id of the existing container this step replaces or removes.
    pub existing: Option<String>,
    /// Containers (by name) that must be healthy before this step runs.
    pub depends_on: Vec<String>,
}

/// An image to build or pull before containers can be created.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageStep {
    pub source: ImageSource,
    pub reason: Reason,
}

/// A network or volume to create or remove.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectStep {
    pub name: String,
    pub action: Action,
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub node: String,
    pub images: Vec<ImageStep>,
    pub networks: Vec<ObjectStep>,
    pub volumes: Vec<ObjectStep>,
    pub containers: Vec<Step>,
}

impl Plan {
    /// True when applying it would change nothing.
    pub fn is_noop(&self) -> bool {
        self.images.is_empty()
            && self.networks.is_empty()
            && self.volumes.is_empty()
            && self.containers.iter().all(|s| s.action == Action::Keep)
    }

    /// Split in two: the container steps of the `first` apps, with every image, network and
    /// volume creation (so they can start); then the other apps' steps and the network removals.
    /// `up` applies the platform services first, provisions them, then the apps.
    pub fn split(&self, first: impl Fn(&str) -> bool) -> (Plan, Plan) {
        let (a, b): (Vec<Step>, Vec<Step>) =
            self.containers.iter().cloned().partition(|s| first(&s.app));
        let (create_nets, remove_nets): (Vec<ObjectStep>, Vec<ObjectStep>) = self
            .networks
            .iter()
            .cloned()
            .partition(|n| n.action == Action::Create);
        (
            Plan {
                node: self.node.clone(),
                images: self.images.clone(),
                networks: create_nets,
                volumes: self.volumes.clone(),
                containers: a,
            },
            Plan {
                node: self.node.clone(),
                images: vec![],
                networks: remove_nets,
                volumes: vec![],
                containers: b,
            },
        )
    }

    /// Container steps that change something.
    pub fn changes(&self) -> impl Iterator<Item = &Step> {
        self.containers.iter().filter(|s| s.action != Action::Keep)
    }
}

/// Compare the desired state with what Docker reports.
pub fn plan(desired: &DesiredState, observed: &Observed) -> Plan {
    let mut images = vec![];
    let mut seen_images = BTreeSet::new();
    for c in &desired.containers {
        let r = c.image.reference();
        if !observed.images.contains(r) && seen_images.insert(r.to_string()) {
            images.push(ImageStep {
                source: c.image.clone(),
                reason: Reason::Missing,
            });
        }
    }

    let desired_networks: BTreeSet<&str> =
        desired.networks.iter().map(|n| n.name.as_str()).collect();
    let mut networks: Vec<ObjectStep> = desired
        .networks
        .iter()
        .filter(|n| !observed.networks.contains(&n.name))
        .map(|n| ObjectStep {
            name: n.name.clone(),
            action: Action::Create,
            reason: Reason::Missing,
        })
        .collect();
    networks.extend(
        observed
            .networks
            .iter()
            .filter(|n| !desired_networks.contains(n.as_str()))
            .map(|n| ObjectStep {
                name: n.clone(),
                action: Action::Remove,
                reason: Reason::NoLongerDeclared,
            }),
    );
    // Volumes are created when missing and never removed by a plan: only `destroy` does that.
    let volumes = desired
        .volumes
        .iter()
        .filter(|v| !observed.volumes.contains(&v.name))
        .map(|v| ObjectStep {
            name: v.name.clone(),
            action: Action::Create,
            reason: Reason::Missing,
        })
        .collect();

    // Observed containers by (app, component); several when someone duplicated one.
    let mut by_key: BTreeMap<(String, String), Vec<&ObservedContainer>> = BTreeMap::new();
    for o in &observed.containers {
        let app = o.labels.get(labels::APP).cloned().unwrap_or_default();
        let comp = o.labels.get(labels::COMPONENT).cloned().unwrap_or_default();
        by_key.entry((app, comp)).or_default().push(o);
    }

    let mut containers = vec![];
    for d in &desired.containers {
        let key = (d.app.clone(), d.component.clone());
        let found = by_key.remove(&key).unwrap_or_default();
        // Prefer the one with the desired name; the rest are duplicates.
        let (current, extra): (Vec<_>, Vec<_>) = {
            let pos = found
                .iter()
                .position(|o| o.name == d.spec.name)
                .or(if found.is_empty() { None } else { Some(0) });
            let mut cur = vec![];
            let mut rest = vec![];
            for (i, o) in found.into_iter().enumerate() {
                if Some(i) == pos {
                    cur.push(o);
                } else {
                    rest.push(o);
                }
            }
            (cur, rest)
        };
        for o in extra {
            containers.push(removal(o, Reason::Duplicate));
        }
        let (action, reason, existing) = match current.first() {
            None => (Action::Create, Reason::Missing, None),
            Some(o) => {
                let reason = compare(d, o);
                let action = if reason == Reason::UpToDate {
                    Action::Keep
                } else {
                    Action::Recreate
                };
                (action, reason, Some(o.id.clone()))
            }
        };
        containers.push(Step {
            action,
            reason,
            app: d.app.clone(),
            component: d.component.clone(),
            container: d.spec.name.clone(),
            existing,
            depends_on: d.depends_on.clone(),
        });
    }
    for leftovers in by_key.into_values() {
        for o in leftovers {
            containers.push(removal(o, Reason::NoLongerDeclared));
        }
    }

    Plan {
        node: desired.node.clone(),
        images,
        networks,
        volumes,
        containers,
    }
}

fn compare(d: &super::DesiredContainer, o: &ObservedContainer) -> Reason {
    let label = |k: &str| o.labels.get(k).map(String::as_str);
    if label(labels::IMAGE) != Some(d.image.reference()) {
        Reason::ImageChanged
    } else if label(labels::CONFIG_HASH)
        != d.spec.labels.get(labels::CONFIG_HASH).map(String::as_str)
        || o.name != d.spec.name
    {
        Reason::ConfigChanged
    } else if o.state != RunState::Running && o.state != RunState::Restarting {
        Reason::NotRunning
    } else if o.health == HealthState::Unhealthy {
        Reason::Unhealthy
    } else {
        Reason::UpToDate
    }
}

fn removal(o: &ObservedContainer, reason: Reason) -> Step {
    Step {
        action: Action::Remove,
        reason,
        app: o.labels.get(labels::APP).cloned().unwrap_or_default(),
        component: o.labels.get(labels::COMPONENT).cloned().unwrap_or_default(),
        container: o.name.clone(),
        existing: Some(o.id.clone()),
        depends_on: vec![],
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
