//! Operations on a node, shared by the CLI, the tests and the benchmarks: load and validate,
//! compute the desired state, plan, apply with a journal entry, stop, destroy, report status.

use crate::engine::{labels, Engine, EngineError};
use crate::model::{self, Diagnostics, Loaded};
use crate::paths::NodePaths;
use crate::reconcile::apply::{self, ApplyError, ApplyReport, Progress};
use crate::reconcile::desired::{self, ResolvedSecrets};
use crate::reconcile::observe::observe;
use crate::reconcile::{plan, DesiredState, Plan};
use crate::render::RenderError;
use crate::secrets::{SecretError, SecretStore};
use crate::state::{Journal, Outcome, StateError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::File;
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{0}")]
    Invalid(#[from] Diagnostics),
    #[error("{0}")]
    Template(#[from] RenderError),
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Apply(Box<ApplyError>),
    #[error("{0}")]
    Secrets(#[from] SecretError),
    #[error("journal: {0}")]
    State(#[from] StateError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("another commonscloud operation holds {0}; wait for it to finish")]
    Locked(String),
    #[error("{0}")]
    Refused(String),
    #[error("interrupted; run `commonscloud up` again to finish")]
    Interrupted,
}

impl From<ApplyError> for OpsError {
    fn from(e: ApplyError) -> Self {
        OpsError::Apply(Box::new(e))
    }
}

impl OpsError {
    /// Bad input (a file or an argument the person must fix).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            OpsError::Invalid(_) | OpsError::Template(_) | OpsError::Refused(_)
        )
    }
}

/// Load `node.yaml` and the recipes it uses; validate everything.
pub fn load(paths: &NodePaths) -> Result<Loaded, Diagnostics> {
    model::load(&paths.config, &paths.recipes_dir, &paths.images_dir)
}

/// Compute the desired state; creates each app instance's secrets on first use.
pub fn desired(paths: &NodePaths, loaded: &Loaded) -> Result<DesiredState, OpsError> {
    let store = SecretStore::open(paths.secrets_dir())?;
    let mut secrets: ResolvedSecrets = BTreeMap::new();
    let mut hashes = BTreeMap::new();
    for app in &loaded.node.apps {
        let Some(recipe) = loaded.recipes.get(&app.recipe) else {
            continue;
        };
        let id = app.instance_id();
        let mut mine = BTreeMap::new();
        for name in &recipe.recipe.secrets {
            let s = store.get_or_create(&format!("{}-{}", loaded.node.node_id(), id), name)?;
            mine.insert(name.clone(), s.expose().to_string());
        }
        secrets.insert(id, mine);
        for c in recipe.recipe.components.values() {
            if let Some(b) = &c.build {
                if !hashes.contains_key(b) {
                    let dir = loaded.images_dir.join(b);
                    let h = crate::engine::context_hash(&dir).map_err(|source| OpsError::Io {
                        path: dir.display().to_string(),
                        source,
                    })?;
                    hashes.insert(b.clone(), h);
                }
            }
        }
    }
    Ok(desired::desired_state(loaded, &secrets, &hashes)?)
}

/// What `up` would do now.
pub async fn plan_node(engine: &Engine, desired: &DesiredState) -> Result<Plan, OpsError> {
    let observed = observe(engine, desired).await?;
    Ok(plan(desired, &observed))
}

/// The result of `up`.
#[derive(Debug, Serialize)]
pub struct UpReport {
    pub journal_id: i64,
    pub plan: Plan,
    pub apply: ApplyReport,
}

/// Holds the node's lock for the duration of an operation.
pub struct NodeLock(#[allow(dead_code)] File);

/// Take the node's exclusive lock (one apply at a time).
pub fn lock(paths: &NodePaths) -> Result<NodeLock, OpsError> {
    let path = paths.lock_file();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| OpsError::Io {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| OpsError::Io {
            path: path.display().to_string(),
            source,
        })?;
    match f.try_lock() {
        Ok(()) => Ok(NodeLock(f)),
        Err(_) => Err(OpsError::Locked(path.display().to_string())),
    }
}

/// Observe, plan and apply, recording the whole in the journal.
pub async fn up(
    engine: &Engine,
    paths: &NodePaths,
    desired: &DesiredState,
    progress: &Progress,
) -> Result<UpReport, OpsError> {
    up_until(engine, paths, desired, progress, std::future::pending()).await
}

/// `up` that stops early when `cancel` completes (Ctrl-C): the journal records the run as
/// interrupted, and the next `up` finishes the job.
pub async fn up_until(
    engine: &Engine,
    paths: &NodePaths,
    desired: &DesiredState,
    progress: &Progress,
    cancel: impl std::future::Future<Output = ()>,
) -> Result<UpReport, OpsError> {
    let _lock = lock(paths)?;
    let journal = Journal::open(paths.journal_file())?;
    journal.mark_abandoned(OffsetDateTime::now_utc())?;
    let plan = plan_node(engine, desired).await?;
    let plan_json = serde_json::to_string(&plan).unwrap_or_default();
    let id = journal.begin("up", &desired.node, &plan_json, OffsetDateTime::now_utc())?;
    let result = tokio::select! {
        r = apply::apply(engine, desired, &plan, progress) => r,
        () = cancel => {
            journal.finish(id, Outcome::Interrupted, "interrupted", OffsetDateTime::now_utc())?;
            return Err(OpsError::Interrupted);
        }
    };
    let now = OffsetDateTime::now_utc();
    match result {
        Ok(report) => {
            let detail = serde_json::to_string(&report).unwrap_or_default();
            let outcome = if report.succeeded() {
                Outcome::Succeeded
            } else {
                Outcome::Failed
            };
            journal.finish(id, outcome, &detail, now)?;
            Ok(UpReport {
                journal_id: id,
                plan,
                apply: report,
            })
        }
        Err(e) => {
            journal.finish(id, Outcome::Failed, &e.to_string(), now)?;
            Err(e.into())
        }
    }
}

/// Stop the node's containers (all, or those of the given apps); data stays.
pub async fn down(
    engine: &Engine,
    paths: &NodePaths,
    node: &str,
    apps: &[String],
) -> Result<Vec<String>, OpsError> {
    let _lock = lock(paths)?;
    let journal = Journal::open(paths.journal_file())?;
    let id = journal.begin("down", node, "{}", OffsetDateTime::now_utc())?;
    let mut stopped = vec![];
    let mut result = Ok(());
    for c in engine.list_containers(&[(labels::NODE, node)]).await? {
        let app = c.labels.get(labels::APP).cloned().unwrap_or_default();
        if !apps.is_empty() && !apps.contains(&app) {
            continue;
        }
        match engine.stop_container(&c.id, None).await {
            Ok(()) => stopped.push(c.name),
            Err(e) => result = Err(e),
        }
    }
    let outcome = if result.is_ok() {
        Outcome::Succeeded
    } else {
        Outcome::Failed
    };
    journal.finish(
        id,
        outcome,
        &serde_json::to_string(&stopped).unwrap_or_default(),
        OffsetDateTime::now_utc(),
    )?;
    result?;
    Ok(stopped)
}

/// What `destroy` removed.
#[derive(Debug, Default, Serialize)]
pub struct Destroyed {
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
    pub networks: Vec<String>,
}

/// Remove everything of an app instance, data included. The caller has asked for confirmation;
/// the app must no longer be declared in `node.yaml`.
pub async fn destroy(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
    app: &str,
) -> Result<Destroyed, OpsError> {
    if loaded.node.apps.iter().any(|a| a.instance_id() == app) {
        return Err(OpsError::Refused(format!(
            "app `{app}` is still declared in {}; remove it from `apps` and run `commonscloud up` first",
            paths.config.display()
        )));
    }
    let node = loaded.node.node_id();
    let _lock = lock(paths)?;
    let journal = Journal::open(paths.journal_file())?;
    let id = journal.begin("destroy", &node, app, OffsetDateTime::now_utc())?;
    let filter = [(labels::NODE, node.as_str()), (labels::APP, app)];
    let mut out = Destroyed::default();
    for c in engine.list_containers(&filter).await? {
        engine.stop_container(&c.id, None).await.ok();
        engine.remove_container(&c.id).await?;
        out.containers.push(c.name);
    }
    for v in engine.list_volumes(&filter).await? {
        engine.remove_volume(&v.name).await?;
        out.volumes.push(v.name);
    }
    for n in engine.list_networks(&filter).await? {
        engine.remove_network(&n.name).await?;
        out.networks.push(n.name);
    }
    let store = SecretStore::open(paths.secrets_dir())?;
    store.remove_scope(&format!("{node}-{app}"))?;
    if out.containers.is_empty() && out.volumes.is_empty() && out.networks.is_empty() {
        journal.finish(
            id,
            Outcome::Failed,
            "nothing to destroy",
            OffsetDateTime::now_utc(),
        )?;
        return Err(OpsError::Refused(format!(
            "node `{node}` has no app `{app}`: nothing to destroy (see `commonscloud status`)"
        )));
    }
    journal.finish(
        id,
        Outcome::Succeeded,
        &serde_json::to_string(&out).unwrap_or_default(),
        OffsetDateTime::now_utc(),
    )?;
    Ok(out)
}

/// One line of `status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusRow {
    pub app: String,
    pub component: String,
    pub container: Option<String>,
    /// Docker state, or `missing` when declared but absent.
    pub state: String,
    pub health: String,
    pub version: Option<String>,
    pub since: Option<String>,
    /// Whether the app is still declared in node.yaml.
    pub declared: bool,
}

/// Per app and component: state, health, version, since.
pub async fn status(engine: &Engine, desired: &DesiredState) -> Result<Vec<StatusRow>, OpsError> {
    let observed = engine
        .list_containers(&[(labels::NODE, desired.node.as_str())])
        .await?;
    let mut rows = vec![];
    for d in &desired.containers {
        let o = observed.iter().find(|o| {
            o.labels.get(labels::APP) == Some(&d.app)
                && o.labels.get(labels::COMPONENT) == Some(&d.component)
        });
        rows.push(match o {
            Some(o) => row(o, true),
            None => StatusRow {
                app: d.app.clone(),
                component: d.component.clone(),
                container: None,
                state: "missing".into(),
                health: "-".into(),
                version: None,
                since: None,
                declared: true,
            },
        });
    }
    for o in &observed {
        let app = o.labels.get(labels::APP);
        let comp = o.labels.get(labels::COMPONENT);
        if !desired
            .containers
            .iter()
            .any(|d| Some(&d.app) == app && Some(&d.component) == comp)
        {
            rows.push(row(o, false));
        }
    }
    Ok(rows)
}

fn row(o: &crate::engine::ObservedContainer, declared: bool) -> StatusRow {
    let json = |v: &dyn erased::Ser| v.string();
    StatusRow {
        app: o.labels.get(labels::APP).cloned().unwrap_or_default(),
        component: o.labels.get(labels::COMPONENT).cloned().unwrap_or_default(),
        container: Some(o.name.clone()),
        state: json(&o.state),
        health: json(&o.health),
        version: o.labels.get(labels::VERSION).cloned(),
        since: o.started_at.clone(),
        declared,
    }
}

mod erased {
    /// The serde name of a unit enum value (`running`, `healthy`, …).
    pub trait Ser {
        fn string(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn string(&self) -> String {
            serde_json::to_value(self)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        }
    }
}
