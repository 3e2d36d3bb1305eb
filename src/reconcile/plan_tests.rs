//! Plain-value tests of the planner: no Docker.

use super::*;
use crate::engine::spec::*;
use crate::reconcile::desired::{config_hash, DesiredContainer, DesiredState, ImageSource};

fn desired_container(app: &str, comp: &str, env: &str, image: &str) -> DesiredContainer {
    let name = format!("cc-n-{app}-{comp}");
    let mut spec = ContainerSpec {
        name: name.clone(),
        image: image.into(),
        labels: BTreeMap::from([
            (labels::NODE.into(), "n".into()),
            (labels::APP.into(), app.into()),
            (labels::COMPONENT.into(), comp.into()),
            (labels::IMAGE.into(), image.into()),
        ]),
        env: BTreeMap::from([("X".into(), env.into())]),
        command: None,
        user: None,
        mounts: vec![],
        networks: vec![],
        health: None,
        memory_bytes: None,
        nano_cpus: None,
        pids_limit: None,
        stop_grace_secs: None,
        read_only: false,
        tmpfs: vec![],
        files: vec![],
        ports: vec![],
    };
    let h = config_hash(&spec);
    spec.labels.insert(labels::CONFIG_HASH.into(), h);
    DesiredContainer {
        app: app.into(),
        component: comp.into(),
        image: ImageSource::Pull {
            reference: image.into(),
        },
        spec,
        depends_on: vec![],
        health_timeout_secs: 30,
    }
}

fn state(containers: Vec<DesiredContainer>) -> DesiredState {
    DesiredState {
        node: "n".into(),
        networks: vec![NetworkSpec {
            name: "cc-n-edge".into(),
            labels: BTreeMap::new(),
            internal: false,
        }],
        volumes: vec![VolumeSpec {
            name: "cc-n-a-data".into(),
            labels: BTreeMap::new(),
        }],
        containers,
        hooks: vec![],
    }
}

/// What Docker would report right after a successful apply of `d`.
fn running(d: &DesiredState) -> Observed {
    Observed {
        containers: d
            .containers
            .iter()
            .map(|c| ObservedContainer {
                id: format!("id-{}", c.spec.name),
                name: c.spec.name.clone(),
                image: c.spec.image.clone(),
                labels: c.spec.labels.clone(),
                state: RunState::Running,
                health: HealthState::Healthy,
                started_at: None,
            })
            .collect(),
        networks: d.networks.iter().map(|n| n.name.clone()).collect(),
        volumes: d.volumes.iter().map(|v| v.name.clone()).collect(),
        images: d
            .containers
            .iter()
            .map(|c| c.image.reference().to_string())
            .collect(),
    }
}

fn actions(p: &Plan) -> Vec<(String, Action, Reason)> {
    p.containers
        .iter()
        .map(|s| (s.container.clone(), s.action, s.reason))
        .collect()
}

#[test]
fn empty_engine_creates_everything() {
    let d = state(vec![
        desired_container("a", "web", "1", "img:1"),
        desired_container("b", "web", "1", "img:1"),
    ]);
    let p = plan(&d, &Observed::default());
    assert_eq!(
        actions(&p),
        vec![
            ("cc-n-a-web".into(), Action::Create, Reason::Missing),
            ("cc-n-b-web".into(), Action::Create, Reason::Missing),
        ]
    );
    assert_eq!(p.images.len(), 1, "one image shared by two containers");
    assert_eq!(p.networks.len(), 1);
    assert_eq!(p.volumes.len(), 1);
    assert!(!p.is_noop());
}

#[test]
fn converged_node_plans_nothing() {
    let d = state(vec![desired_container("a", "web", "1", "img:1")]);
    let p = plan(&d, &running(&d));
    assert!(p.is_noop(), "{p:?}");
    assert_eq!(
        actions(&p),
        vec![("cc-n-a-web".into(), Action::Keep, Reason::UpToDate)]
    );
}

#[test]
fn env_change_recreates_only_that_container() {
    let before = state(vec![
        desired_container("a", "web", "1", "img:1"),
        desired_container("b", "web", "1", "img:1"),
    ]);
    let after = state(vec![
        desired_container("a", "web", "2", "img:1"),
        desired_container("b", "web", "1", "img:1"),
    ]);
    let p = plan(&after, &running(&before));
    assert_eq!(
        actions(&p),
        vec![
            ("cc-n-a-web".into(), Action::Recreate, Reason::ConfigChanged),
            ("cc-n-b-web".into(), Action::Keep, Reason::UpToDate),
        ]
    );
    assert_eq!(p.containers[0].existing.as_deref(), Some("id-cc-n-a-web"));
}

#[test]
fn image_change_is_named_as_such() {
    let before = state(vec![desired_container("a", "web", "1", "img:1")]);
    let after = state(vec![desired_container("a", "web", "1", "img:2")]);
    let p = plan(&after, &running(&before));
    assert_eq!(
        actions(&p),
        vec![("cc-n-a-web".into(), Action::Recreate, Reason::ImageChanged)]
    );
    assert_eq!(p.images.len(), 1);
}

#[test]
fn stopped_and_unhealthy_are_recreated() {
    let d = state(vec![
        desired_container("a", "web", "1", "img:1"),
        desired_container("b", "web", "1", "img:1"),
    ]);
    let mut o = running(&d);
    o.containers[0].state = RunState::Exited;
    o.containers[1].health = HealthState::Unhealthy;
    assert_eq!(
        actions(&plan(&d, &o)),
        vec![
            ("cc-n-a-web".into(), Action::Recreate, Reason::NotRunning),
            ("cc-n-b-web".into(), Action::Recreate, Reason::Unhealthy),
        ]
    );
}

#[test]
fn starting_health_is_kept() {
    let d = state(vec![desired_container("a", "web", "1", "img:1")]);
    let mut o = running(&d);
    o.containers[0].health = HealthState::Starting;
    assert!(plan(&d, &o).is_noop());
}

#[test]
fn removed_app_loses_containers_and_network_but_keeps_volumes() {
    let before = state(vec![
        desired_container("a", "web", "1", "img:1"),
        desired_container("b", "web", "1", "img:1"),
    ]);
    let mut o = running(&before);
    o.networks.insert("cc-n-b".into());
    o.volumes.insert("cc-n-b-data".into());
    let after = state(vec![desired_container("a", "web", "1", "img:1")]);
    let p = plan(&after, &o);
    assert_eq!(
        actions(&p),
        vec![
            ("cc-n-a-web".into(), Action::Keep, Reason::UpToDate),
            (
                "cc-n-b-web".into(),
                Action::Remove,
                Reason::NoLongerDeclared
            ),
        ]
    );
    assert_eq!(
        p.networks,
        vec![ObjectStep {
            name: "cc-n-b".into(),
            action: Action::Remove,
            reason: Reason::NoLongerDeclared
        }]
    );
    assert!(p.volumes.is_empty(), "volumes are never removed by a plan");
}

#[test]
fn duplicates_are_removed_and_the_named_one_kept() {
    let d = state(vec![desired_container("a", "web", "1", "img:1")]);
    let mut o = running(&d);
    let mut copy = o.containers[0].clone();
    copy.id = "other".into();
    copy.name = "cc-n-a-web-copy".into();
    o.containers.insert(0, copy);
    let p = plan(&d, &o);
    assert_eq!(
        actions(&p),
        vec![
            ("cc-n-a-web-copy".into(), Action::Remove, Reason::Duplicate),
            ("cc-n-a-web".into(), Action::Keep, Reason::UpToDate),
        ]
    );
}

#[test]
fn dependencies_are_carried_into_steps() {
    let mut web = desired_container("a", "web", "1", "img:1");
    web.depends_on = vec!["cc-n-a-db".into()];
    let d = state(vec![desired_container("a", "db", "1", "img:1"), web]);
    let p = plan(&d, &Observed::default());
    assert_eq!(p.containers[1].depends_on, vec!["cc-n-a-db".to_string()]);
}

#[test]
fn split_puts_creations_first_and_removals_last() {
    let before = state(vec![
        desired_container("directory", "ldap", "1", "img:1"),
        desired_container("b", "web", "1", "img:1"),
    ]);
    let mut o = running(&before);
    o.networks.insert("cc-n-gone".into());
    let after = state(vec![
        desired_container("directory", "ldap", "2", "img:2"),
        desired_container("a", "web", "1", "img:1"),
    ]);
    let p = plan(&after, &o);
    let (first, rest) = p.split(|app| app == "directory");
    assert_eq!(
        actions(&first),
        vec![(
            "cc-n-directory-ldap".into(),
            Action::Recreate,
            Reason::ImageChanged
        )]
    );
    assert_eq!(first.images.len(), 1);
    assert!(first.networks.iter().all(|n| n.action == Action::Create));
    assert_eq!(
        actions(&rest),
        vec![
            ("cc-n-a-web".into(), Action::Create, Reason::Missing),
            (
                "cc-n-b-web".into(),
                Action::Remove,
                Reason::NoLongerDeclared
            ),
        ]
    );
    assert!(rest.images.is_empty() && rest.volumes.is_empty());
    assert_eq!(rest.networks.len(), 1);
    assert_eq!(rest.networks[0].action, Action::Remove);
}
