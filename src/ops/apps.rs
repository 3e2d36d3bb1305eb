//! Apps as an operator manages them one at a time: the catalogue of recipes, one instance's
//! details, installing (node.yaml gains an item, `up` brings it up, and a failure takes every
//! trace of it out again) and removing (node.yaml loses it; `--purge` also deletes its data).

use super::{addons, directory, is_platform, OpsError, SecretsMode};
use crate::engine::Engine;
use crate::host;
use crate::model::{self, Addon, Loaded};
use crate::paths::NodePaths;
use crate::reconcile::apply::Progress;
use crate::reconcile::desired::names;
use serde::Serialize;
use std::path::Path;

/// One recipe of the catalogue.
#[derive(Debug, Serialize)]
pub struct CatalogueEntry {
    pub recipe: String,
    pub version: String,
    pub description: Option<String>,
    pub addons: Vec<Addon>,
    pub memory: Option<u64>,
    pub disk: Option<u64>,
    /// Instances of it in node.yaml.
    pub installed: Vec<String>,
}

/// Recipes an operator may install: every recipe of the share folder but the node's own
/// services and the addons.
pub fn catalogue(
    paths: &NodePaths,
    loaded: Option<&Loaded>,
) -> Result<Vec<CatalogueEntry>, OpsError> {
    let mut out = vec![];
    for id in model::available_recipes(&paths.recipes_dir) {
        if model::is_reserved_app_id(&id) || id == names::REDIS_RECIPE {
            continue;
        }
        let r = model::load_recipe(&paths.recipes_dir, &id, &paths.images_dir)?;
        let installed = loaded
            .map(|l| {
                l.node
                    .apps
                    .iter()
                    .filter(|a| a.recipe == id)
                    .map(|a| a.instance_id())
                    .collect()
            })
            .unwrap_or_default();
        out.push(CatalogueEntry {
            recipe: id,
            version: r.recipe.version,
            description: r.recipe.description,
            addons: r.recipe.addons,
            memory: r.recipe.requirements.memory.map(|m| m.0),
            disk: r.recipe.requirements.disk.map(|d| d.0),
            installed,
        });
    }
    Ok(out)
}

/// One instance, as `app info` shows it.
#[derive(Debug, Serialize)]
pub struct AppInfo {
    pub id: String,
    pub recipe: String,
    pub version: String,
    pub url: String,
    pub collective: Option<String>,
    /// Who may log in: `public` (every account), `collective` (its members) or `none`.
    pub access: String,
    /// The instance's read-only directory account and its access group.
    pub bind_dn: Option<String>,
    pub access_group_dn: Option<String>,
    /// `service/database` in the shared addons; `redis` for its own Redis.
    pub addons: Vec<String>,
    /// Volumes and whether each is backed up.
    pub volumes: Vec<(String, bool)>,
    pub containers: Vec<super::StatusRow>,
}

/// What `app info` shows about an instance of node.yaml.
pub async fn info(
    engine: Option<&Engine>,
    paths: &NodePaths,
    loaded: &Loaded,
    app: &str,
) -> Result<AppInfo, OpsError> {
    let instance = find(loaded, app)?;
    let recipe = loaded
        .recipes
        .get(&instance.recipe)
        .ok_or_else(|| OpsError::Refused(format!("recipe `{}` is not loaded", instance.recipe)))?;
    let tree = crate::directory::Tree::new(&names::base_dn(&loaded.node.domain))?;
    let ldap = recipe.recipe.addons.contains(&Addon::Ldap);
    let access = match (&recipe.recipe.access.policy, &instance.collective) {
        (model::AccessPolicy::None, _) => "none",
        (_, Some(_)) => "collective",
        (_, None) => "public",
    };
    let mut addons = vec![];
    for a in &recipe.recipe.addons {
        match a {
            Addon::Postgres | Addon::Mariadb => {
                addons.push(format!("{}/{}", super::serde_name(a), names::database(app)))
            }
            other => addons.push(super::serde_name(other)),
        }
    }
    let node = loaded.node.node_id();
    let mut volumes = vec![];
    for c in recipe.recipe.components.values() {
        for v in &c.volumes {
            let name = names::volume(&node, app, &v.name);
            if !volumes.iter().any(|(n, _)| n == &name) {
                volumes.push((name, v.backup));
            }
        }
    }
    let containers = match engine {
        Some(engine) => {
            let desired = super::desired(paths, loaded, SecretsMode::ReadOnly)?;
            super::status(engine, &desired)
                .await?
                .into_iter()
                .filter(|r| r.app == app)
                .collect()
        }
        None => vec![],
    };
    Ok(AppInfo {
        id: app.to_string(),
        recipe: instance.recipe.clone(),
        version: recipe.recipe.version.clone(),
        url: format!("https://{}", instance.fqdn(&loaded.node.domain)),
        collective: instance.collective.clone(),
        access: access.to_string(),
        bind_dn: ldap.then(|| tree.app_account(app)),
        access_group_dn: ldap.then(|| tree.service_group(instance.collective.as_deref(), app)),
        addons,
        volumes,
        containers,
    })
}

fn find<'a>(loaded: &'a Loaded, app: &str) -> Result<&'a model::AppInstance, OpsError> {
    if is_platform(app) {
        return Err(OpsError::Refused(format!(
            "`{app}` is one of the node's own services, not an app of node.yaml"
        )));
    }
    loaded
        .node
        .apps
        .iter()
        .find(|a| a.instance_id() == app)
        .ok_or_else(|| {
            let ids: Vec<String> = loaded
                .node
                .apps
                .iter()
                .map(|a| a.instance_id())
                .filter(|id| !is_platform(id))
                .collect();
            OpsError::Refused(format!(
                "node.yaml has no app `{app}`{}",
                if ids.is_empty() {
                    String::new()
                } else {
                    format!("; its apps are: {}", ids.join(", "))
                }
            ))
        })
}

/// What to install.
#[derive(Debug, Clone)]
pub struct NewApp {
    pub recipe: String,
    pub host: String,
    pub collective: Option<String>,
    pub id: Option<String>,
    pub settings: Vec<(String, String)>,
}

impl NewApp {
    /// The node.yaml item, as one flow mapping. Values were validated by the caller's load of
    /// the result; they are quoted as YAML strings here.
    fn item(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let mut parts = vec![
            format!("recipe: {}", q(&self.recipe)),
            format!("host: {}", q(&self.host)),
        ];
        if let Some(c) = &self.collective {
            parts.push(format!("collective: {}", q(c)));
        }
        if let Some(id) = &self.id {
            parts.push(format!("id: {}", q(id)));
        }
        if !self.settings.is_empty() {
            let s: Vec<String> = self
                .settings
                .iter()
                .map(|(k, v)| format!("{}: {}", q(k), q(v)))
                .collect();
            parts.push(format!("settings: {{ {} }}", s.join(", ")));
        }
        format!("{{ {} }}", parts.join(", "))
    }
}

/// Validate a candidate node.yaml (as the platform services would see it) without writing it.
fn validate(paths: &NodePaths, text: &str) -> Result<Loaded, OpsError> {
    let dir = paths.config.parent().unwrap_or(Path::new("."));
    let candidate = tempfile::Builder::new()
        .prefix(".node.yaml.")
        .tempfile_in(dir)
        .map_err(|source| io(dir, source))?;
    std::fs::write(candidate.path(), text).map_err(|source| io(candidate.path(), source))?;
    let mut p = paths.clone();
    p.config = candidate.path().to_path_buf();
    let loaded = super::load(&p).map_err(|mut d| {
        // Problems are reported against node.yaml, where the operator will look.
        d.rename_file(candidate.path(), &paths.config);
        OpsError::Invalid(d)
    })?;
    Ok(Loaded {
        node_file: paths.config.clone(),
        ..loaded
    })
}

fn io(path: &Path, source: std::io::Error) -> OpsError {
    OpsError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Write node.yaml atomically (a temporary file renamed over it), keeping its mode.
fn write_config(paths: &NodePaths, text: &str) -> Result<(), OpsError> {
    let dir = paths.config.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".node.yaml.")
        .tempfile_in(dir)
        .map_err(|source| io(dir, source))?;
    std::fs::write(tmp.path(), text).map_err(|source| io(tmp.path(), source))?;
    if let Ok(meta) = std::fs::metadata(&paths.config) {
        std::fs::set_permissions(tmp.path(), meta.permissions()).ok();
    }
    tmp.persist(&paths.config)
        .map_err(|e| io(&paths.config, e.error))?;
    Ok(())
}

/// Refuse an install the host cannot carry: the memory every app of the node declares, and the
/// new recipe's disk, against the machine (the numbers are in the message).
pub fn check_requirements(loaded: &Loaded, recipe: &str) -> Result<(), OpsError> {
    let memory: u64 = loaded
        .node
        .apps
        .iter()
        .filter_map(|a| loaded.recipes.get(&a.recipe))
        .filter_map(|r| r.recipe.requirements.memory.map(|m| m.0))
        .sum();
    let disk = loaded
        .recipes
        .get(recipe)
        .and_then(|r| r.recipe.requirements.disk.map(|d| d.0))
        .unwrap_or(0);
    let docker_root = Path::new("/var/lib/docker");
    let root = if docker_root.exists() {
        docker_root
    } else {
        Path::new("/")
    };
    for check in [host::memory_check(memory), host::disk_check(root, disk)] {
        if check.status == host::CheckStatus::Fail {
            return Err(OpsError::Refused(format!(
                "this machine cannot carry `{recipe}`: {}: {}{}",
                check.name,
                check.detail,
                check.hint.map(|h| format!("; {h}")).unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// What `app install` did.
#[derive(Debug, Serialize)]
pub struct Installed {
    pub id: String,
    pub url: String,
    pub up: super::UpReport,
}

/// Add an instance to node.yaml and bring it up. When its `up` fails (a container that does
/// not become healthy, a configure hook that fails), node.yaml gets its old text back and
/// every trace of the instance goes: containers, volumes, secrets, databases, its directory
/// account and group. The error carries what failed.
pub async fn install(
    engine: &Engine,
    paths: &NodePaths,
    new: &NewApp,
    progress: &Progress,
) -> Result<Installed, OpsError> {
    let before = std::fs::read_to_string(&paths.config).map_err(|s| io(&paths.config, s))?;
    super::load(paths)?; // the node as it is must be valid first
    if model::is_reserved_app_id(&new.recipe) || new.recipe == names::REDIS_RECIPE {
        return Err(OpsError::Refused(format!(
            "`{}` is one of the node's own services; `commonscloud app list` shows the apps",
            new.recipe
        )));
    }
    let after = model::edit::add_app(&before, &new.item()).map_err(OpsError::Refused)?;
    let loaded = validate(paths, &after)?;
    check_requirements(&loaded, &new.recipe)?;
    let instance = loaded
        .node
        .apps
        .last()
        .cloned()
        .ok_or_else(|| OpsError::Refused("no app was added".into()))?;
    let id = instance.instance_id();
    write_config(paths, &after)?;
    let result = async {
        let desired = super::desired(paths, &loaded, SecretsMode::Create)?;
        let report = super::up(engine, paths, &loaded, &desired, progress).await?;
        if report.apply.succeeded() {
            Ok(report)
        } else {
            Err(OpsError::Refused(format!(
                "`{id}` did not come up; it was taken out again:\n{}",
                failures(&report.apply)
            )))
        }
    }
    .await;
    match result {
        Ok(up) => Ok(Installed {
            url: format!("https://{}", instance.fqdn(&loaded.node.domain)),
            id,
            up,
        }),
        Err(e) => {
            write_config(paths, &before)?;
            let old = super::load(paths)?;
            if let Err(undo) = take_out(engine, paths, &old, &id, true, progress).await {
                return Err(OpsError::Refused(format!(
                    "{e}\nand taking it out failed too: {undo}; run `commonscloud up`, then `commonscloud destroy {id}`"
                )));
            }
            Err(e)
        }
    }
}

fn failures(report: &crate::reconcile::apply::ApplyReport) -> String {
    use crate::reconcile::apply::StepOutcome;
    let steps = report.steps.iter().map(|s| (&s.container, &s.outcome));
    let hooks = report.hooks.iter().map(|h| (&h.container, &h.outcome));
    steps
        .chain(hooks)
        .filter_map(|(c, o)| match o {
            StepOutcome::Failed { error } => Some(format!("  {c}: {error}")),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What `app remove` did.
#[derive(Debug, Default, Serialize)]
pub struct Removed {
    pub id: String,
    /// Directory entries removed (the bind account, the access group).
    pub directory: Vec<String>,
    /// With `--purge`: what was deleted for good.
    pub purged: Option<super::Destroyed>,
}

/// Take an instance out of node.yaml and off the node. Its data (volumes, databases, secrets)
/// stays unless `purge`; its directory account and access group go either way.
pub async fn remove(
    engine: &Engine,
    paths: &NodePaths,
    app: &str,
    purge: bool,
    progress: &Progress,
) -> Result<Removed, OpsError> {
    let before = std::fs::read_to_string(&paths.config).map_err(|s| io(&paths.config, s))?;
    let loaded = super::load(paths)?;
    find(&loaded, app)?;
    // The index among the apps written in node.yaml (the platform services come first).
    let index = loaded
        .node
        .apps
        .iter()
        .filter(|a| !is_platform(&a.instance_id()))
        .position(|a| a.instance_id() == app)
        .ok_or_else(|| OpsError::Refused(format!("node.yaml has no app `{app}`")))?;
    let after = model::edit::remove_app(&before, index).map_err(OpsError::Refused)?;
    let new = validate(paths, &after)?;
    write_config(paths, &after)?;
    take_out(engine, paths, &new, app, purge, progress).await
}

/// With node.yaml no longer declaring `app`: drop its databases (while the addons still run),
/// apply the node, remove its directory entries and, with `purge`, its data.
async fn take_out(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
    app: &str,
    purge: bool,
    progress: &Progress,
) -> Result<Removed, OpsError> {
    let node = loaded.node.node_id();
    let dropped = if purge {
        let used = addons::addons_of(paths, &node, app)?;
        Some(addons::forget(engine, &node, app, &used).await?)
    } else {
        None
    };
    let desired = super::desired(paths, loaded, SecretsMode::Create)?;
    let report = super::up(engine, paths, loaded, &desired, progress).await?;
    if !report.apply.succeeded() {
        return Err(OpsError::Refused(format!(
            "`{app}` is out of node.yaml, but the node did not apply cleanly:\n{}",
            failures(&report.apply)
        )));
    }
    let mut out = Removed {
        id: app.to_string(),
        directory: directory::forget_app(engine, paths, loaded, app).await?,
        purged: None,
    };
    if purge {
        let mut destroyed = match super::destroy_objects_locked(engine, paths, &node, app).await {
            Ok(d) => d,
            Err(OpsError::Refused(_)) => super::Destroyed::default(), // nothing was made yet
            Err(e) => return Err(e),
        };
        destroyed.databases = dropped.unwrap_or_default();
        out.purged = Some(destroyed);
    }
    Ok(out)
}
