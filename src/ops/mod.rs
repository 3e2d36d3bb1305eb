//! Operations on a node, shared by the CLI, the tests and the benchmarks: load and validate,
//! compute the desired state, plan, apply with a journal entry, stop, destroy, report status.

pub mod addons;
pub mod apps;
pub mod backup;
pub mod certs;
pub mod directory;
pub mod edge;
pub mod notify;
pub mod portal;
pub mod reach;

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
    #[error("directory: {0}")]
    Directory(#[from] crate::directory::DirectoryError),
    #[error("certificates: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("backup: {0}")]
    Backup(#[from] crate::backup::BackupError),
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

/// Load `node.yaml` and the recipes it uses; validate everything; add the platform services
/// every node runs (the directory) as app instances of their own.
pub fn load(paths: &NodePaths) -> Result<Loaded, Diagnostics> {
    let mut loaded = model::load(&paths.config, &paths.recipes_dir, &paths.images_dir)?;
    if PLATFORM_ENABLED {
        for (i, id) in model::PLATFORM_APPS.iter().enumerate() {
            let recipe = model::load_recipe(&paths.recipes_dir, id, &paths.images_dir)?;
            loaded.recipes.insert((*id).to_string(), recipe);
            loaded.node.apps.insert(i, platform_instance(id));
        }
        // Shared addons run while an app uses them, after the directory and before the edge
        // (nothing routes to them); each instance's Redis comes from the `redis` recipe.
        let used: Vec<model::Addon> = loaded
            .node
            .apps
            .iter()
            .filter_map(|a| loaded.recipes.get(&a.recipe))
            .flat_map(|r| r.recipe.addons.iter().copied())
            .collect();
        let uses = |addon: model::Addon| used.contains(&addon);
        let mut at = 1;
        for (addon, service) in model::ADDON_SERVICES {
            if uses(*addon) {
                let recipe = model::load_recipe(&paths.recipes_dir, service, &paths.images_dir)?;
                loaded.recipes.insert((*service).to_string(), recipe);
                loaded.node.apps.insert(at, platform_instance(service));
                at += 1;
            }
        }
        if uses(model::Addon::Redis) {
            let id = desired::names::REDIS_RECIPE;
            let recipe = model::load_recipe(&paths.recipes_dir, id, &paths.images_dir)?;
            loaded.recipes.insert(id.to_string(), recipe);
        }
    }
    Ok(loaded)
}

fn platform_instance(id: &str) -> model::AppInstance {
    model::AppInstance {
        recipe: id.to_string(),
        host: id.to_string(),
        id: Some(id.to_string()),
        collective: None,
        settings: BTreeMap::new(),
    }
}

/// Whether `up` runs the platform services (the directory) on every node.
pub const PLATFORM_ENABLED: bool = true;

/// Whether an app instance is one of the platform services (shared addons included).
pub fn is_platform(app: &str) -> bool {
    model::is_reserved_app_id(app)
}

/// Whether computing the desired state may create missing secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsMode {
    /// `up`: generate and store what is missing.
    Create,
    /// `check`, `plan`, `status`: change nothing; a missing secret renders as a placeholder
    /// (its container does not exist yet either, so no comparison is affected).
    ReadOnly,
}

/// What a secret that `up` has not generated yet renders as in read-only mode.
pub const PENDING_SECRET: &str = "(generated by up)";

/// Compute the desired state; with [`SecretsMode::Create`], creates each app instance's
/// secrets on first use.
pub fn desired(
    paths: &NodePaths,
    loaded: &Loaded,
    mode: SecretsMode,
) -> Result<DesiredState, OpsError> {
    let store = match mode {
        SecretsMode::Create => Some(SecretStore::open(paths.secrets_dir())?),
        SecretsMode::ReadOnly if paths.secrets_dir().is_dir() => {
            Some(SecretStore::open(paths.secrets_dir())?)
        }
        SecretsMode::ReadOnly => None,
    };
    let mut secrets: ResolvedSecrets = BTreeMap::new();
    let mut hashes = BTreeMap::new();
    for app in &loaded.node.apps {
        let Some(recipe) = loaded.recipes.get(&app.recipe) else {
            continue;
        };
        let id = app.instance_id();
        let mut mine = BTreeMap::new();
        let mut names = recipe.recipe.secrets.clone();
        names.extend(
            recipe
                .recipe
                .addons
                .iter()
                .filter_map(|a| desired::addon_secret(*a))
                .map(str::to_string),
        );
        for name in &names {
            let scope = secret_scope(&loaded.node.node_id(), &id);
            let value = match (&store, mode) {
                (Some(store), SecretsMode::Create) => {
                    Some(store.get_or_create(&scope, name)?.expose().to_string())
                }
                (Some(store), SecretsMode::ReadOnly) => {
                    store.get(&scope, name)?.map(|s| s.expose().to_string())
                }
                (None, _) => None,
            };
            mine.insert(
                name.clone(),
                value.unwrap_or_else(|| PENDING_SECRET.to_string()),
            );
        }
        secrets.insert(id, mine);
        let redis = recipe
            .recipe
            .addons
            .contains(&crate::model::Addon::Redis)
            .then(|| loaded.recipes.get(desired::names::REDIS_RECIPE))
            .flatten();
        let own = recipe.recipe.components.values();
        let extra = redis.into_iter().flat_map(|r| r.recipe.components.values());
        for c in own.chain(extra) {
            if let Some(b) = &c.build {
                // The portal's context is its folder plus the executable: hashed once, by
                // `portal::configure`, which sets its image.
                if !hashes.contains_key(b) && b != portal::PORTAL_APP {
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
    let smtp_password = match &store {
        Some(store) if loaded.node.smtp.is_some() => store
            .get(&secret_scope(&loaded.node.node_id(), "smtp"), "password")?
            .map(|s| s.expose().to_string()),
        _ => None,
    };
    let inputs = desired::Inputs {
        secrets,
        image_hashes: hashes,
        host: Some(crate::render::HostView::current()),
        smtp_password,
    };
    let mut state = desired::desired_state(loaded, &inputs)?;
    if PLATFORM_ENABLED {
        portal::configure(paths, loaded, &mut state, mode)?;
    }
    Ok(state)
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
    /// What the directory was made to hold (when the platform services run).
    pub directory: Option<directory::Provisioned>,
    /// Certificates and the edge's configuration (when the platform services run).
    pub edge: Option<EdgeReport>,
}

/// What `up` did at the edge.
#[derive(Debug, Serialize)]
pub struct EdgeReport {
    pub certificates: certs::CertsReport,
    pub pushed: edge::Pushed,
}

/// What [`run_up`] did.
struct Ran {
    apply: ApplyReport,
    directory: Option<directory::Provisioned>,
    edge: Option<EdgeReport>,
}

/// Apply the platform services first; once they are healthy, make the directory hold what
/// node.yaml declares (collectives, app accounts and groups); then apply the apps, which may
/// log in to it from their first start.
async fn run_up(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
    desired: &DesiredState,
    plan: &Plan,
    progress: &Progress,
) -> Result<Ran, OpsError> {
    if !PLATFORM_ENABLED {
        return Ok(Ran {
            apply: apply::apply(engine, desired, plan, progress).await?,
            directory: None,
            edge: None,
        });
    }
    let (platform, apps) = plan.split(is_platform);
    let mut report = apply::apply(engine, desired, &platform, progress).await?;
    if !report.succeeded() {
        return Ok(Ran {
            apply: report,
            directory: None,
            edge: None,
        });
    }
    let conn = directory::connection(engine, paths, loaded).await?;
    let dir = crate::directory::Directory::connect(&conn).await?;
    let provisioned = directory::provision(&dir, paths, loaded).await;
    dir.close().await;
    let mut provisioned = provisioned?;
    provisioned.databases = addons::provision(engine, paths, loaded).await?;
    let rest = apply::apply(engine, desired, &apps, progress).await?;
    report.steps.extend(rest.steps);
    report.hooks.extend(rest.hooks);
    report.seconds += rest.seconds;
    let mut edge = sync_edge(engine, paths, loaded, false).await?;
    let notices = certs::notify_operator(paths, loaded).await?;
    edge.certificates.warnings.extend(notices);
    Ok(Ran {
        apply: report,
        directory: Some(provisioned),
        edge: Some(edge),
    })
}

/// Bring the certificates up to date (all of them reissued with `force`), then give the
/// edge the configuration of every route with the certificates in place.
pub async fn sync_edge(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
    force: bool,
) -> Result<EdgeReport, OpsError> {
    let node = loaded.node.node_id();
    let certificates =
        certs::ensure(engine, paths, loaded, OffsetDateTime::now_utc(), force).await?;
    let (_http, https) = edge::ports(engine, &node).await?;
    let store = certs::store(paths)?;
    let sites = edge::sites_with(loaded, |host| certs::site_tls(&store, host));
    let rendered = crate::edge::render(&sites, &edge::settings(loaded, https))?;
    let pushed = edge::push(engine, &node, &rendered).await?;
    Ok(EdgeReport {
        certificates,
        pushed,
    })
}

/// `certs renew`: issue what is missing or due (everything with `force`) and update the edge,
/// under the node's lock and with a journal entry.
pub async fn renew_certs(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
    force: bool,
) -> Result<EdgeReport, OpsError> {
    let _lock = lock(paths)?;
    let journal = Journal::open(paths.journal_file())?;
    let node = loaded.node.node_id();
    let what = if force {
        "certs renew --force"
    } else {
        "certs renew"
    };
    let id = journal.begin(what, &node, "{}", OffsetDateTime::now_utc())?;
    let mut result = sync_edge(engine, paths, loaded, force).await;
    if let Ok(r) = &mut result {
        let notices = certs::notify_operator(paths, loaded).await?;
        r.certificates.warnings.extend(notices);
    }
    let (outcome, detail) = match &result {
        Ok(r) if r.certificates.failed() == 0 => (
            Outcome::Succeeded,
            serde_json::to_string(r).unwrap_or_default(),
        ),
        Ok(r) => (
            Outcome::Failed,
            serde_json::to_string(r).unwrap_or_default(),
        ),
        Err(e) => (Outcome::Failed, e.to_string()),
    };
    journal.finish(id, outcome, &detail, OffsetDateTime::now_utc())?;
    result
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
    loaded: &Loaded,
    desired: &DesiredState,
    progress: &Progress,
) -> Result<UpReport, OpsError> {
    up_until(
        engine,
        paths,
        loaded,
        desired,
        progress,
        std::future::pending(),
    )
    .await
}

/// `up` that stops early when `cancel` completes (Ctrl-C): the journal records the run as
/// interrupted, and the next `up` finishes the job.
pub async fn up_until(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
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
        r = run_up(engine, paths, loaded, desired, &plan, progress) => r,
        () = cancel => {
            journal.finish(id, Outcome::Interrupted, "interrupted", OffsetDateTime::now_utc())?;
            return Err(OpsError::Interrupted);
        }
    };
    let now = OffsetDateTime::now_utc();
    match result {
        Ok(Ran {
            apply: report,
            directory: provisioned,
            edge,
        }) => {
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
                directory: provisioned,
                edge,
            })
        }
        Err(e) => {
            journal.finish(id, Outcome::Failed, &e.to_string(), now)?;
            Err(e)
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
    /// Directory entries removed: the app's account and access groups.
    pub directory: Vec<String>,
    /// Its databases in the shared addons.
    pub databases: addons::Dropped,
}

/// Remove everything of an app instance, data included. The caller has asked for confirmation;
/// the app must no longer be declared in `node.yaml`.
pub async fn destroy(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
    app: &str,
) -> Result<Destroyed, OpsError> {
    if is_platform(app) {
        return Err(OpsError::Refused(format!(
            "`{app}` is one of the node's own services and cannot be destroyed"
        )));
    }
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
    let used = addons::addons_of(paths, &node, app)?;
    let dropped = addons::forget(engine, &node, app, &used).await?;
    let mut result = destroy_objects(engine, paths, &node, app).await;
    if let (true, Ok(out)) = (PLATFORM_ENABLED, &mut result) {
        out.directory = directory::forget_app(engine, paths, loaded, app).await?;
        out.databases = dropped;
    }
    let (outcome, detail) = match &result {
        Ok(out) => (
            Outcome::Succeeded,
            serde_json::to_string(out).unwrap_or_default(),
        ),
        Err(e) => (Outcome::Failed, e.to_string()),
    };
    journal.finish(id, outcome, &detail, OffsetDateTime::now_utc())?;
    result
}

/// Remove an instance's containers, volumes, networks and secrets, taking the node's lock.
pub(crate) async fn destroy_objects_locked(
    engine: &Engine,
    paths: &NodePaths,
    node: &str,
    app: &str,
) -> Result<Destroyed, OpsError> {
    let _lock = lock(paths)?;
    destroy_objects(engine, paths, node, app).await
}

async fn destroy_objects(
    engine: &Engine,
    paths: &NodePaths,
    node: &str,
    app: &str,
) -> Result<Destroyed, OpsError> {
    let filter = [(labels::NODE, node), (labels::APP, app)];
    let store = SecretStore::open(paths.secrets_dir())?;
    let scope = secret_scope(node, app);
    let containers = engine.list_containers(&filter).await?;
    let volumes = engine.list_volumes(&filter).await?;
    let networks = engine.list_networks(&filter).await?;
    if containers.is_empty()
        && volumes.is_empty()
        && networks.is_empty()
        && store.list(&scope)?.is_empty()
    {
        return Err(OpsError::Refused(format!(
            "node `{node}` has no app `{app}`: nothing to destroy (see `commonscloud status`)"
        )));
    }
    let mut out = Destroyed::default();
    for c in containers {
        engine.stop_container(&c.id, None).await.ok();
        engine.remove_container(&c.id).await?;
        out.containers.push(c.name);
    }
    for v in volumes {
        engine.remove_volume(&v.name).await?;
        out.volumes.push(v.name);
    }
    for n in networks {
        engine.remove_network(&n.name).await?;
        out.networks.push(n.name);
    }
    // Secrets last: while any data remains, the credentials to read it remain too.
    store.remove_scope(&scope)?;
    Ok(out)
}

/// The secret store scope of an app instance.
pub(crate) fn secret_scope(node: &str, app: &str) -> String {
    format!("{node}-{app}")
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
    StatusRow {
        app: o.labels.get(labels::APP).cloned().unwrap_or_default(),
        component: o.labels.get(labels::COMPONENT).cloned().unwrap_or_default(),
        container: Some(o.name.clone()),
        state: serde_name(&o.state),
        health: serde_name(&o.health),
        version: o.labels.get(labels::VERSION).cloned(),
        since: o.started_at.clone(),
        declared,
    }
}

/// The serde name of a unit enum value (`running`, `healthy`, …).
pub(crate) fn serde_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
