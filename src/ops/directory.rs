//! The node's directory as the supervisor sees it: where it answers (its loopback port) and
//! what `up` keeps in it (collectives of node.yaml, one account and one access group per app
//! instance that uses LDAP).

use super::{secret_scope, OpsError};
use crate::directory::{Connection, Directory, DirectoryError};
use crate::engine::Engine;
use crate::model::{Addon, Loaded};
use crate::paths::NodePaths;
use crate::reconcile::desired::{names, LDAP_PASSWORD_SECRET};
use crate::secrets::SecretStore;
use serde::Serialize;

/// The secret holding the supervisor's directory password (in the directory's scope).
pub const SUPERVISOR_SECRET: &str = "supervisor_password";

/// How the supervisor reaches the node's directory: the port Docker published on loopback,
/// and the supervisor account whose password the secret store holds.
pub async fn connection(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
) -> Result<Connection, OpsError> {
    let node = loaded.node.node_id();
    let container = names::container(&node, names::DIRECTORY_APP, names::DIRECTORY_COMPONENT);
    let not_running = || {
        OpsError::Refused(format!(
            "the directory of node `{node}` is not running; run `commonscloud up` first"
        ))
    };
    let port = match engine
        .published_port(&container, names::DIRECTORY_PORT)
        .await
    {
        Ok(Some(port)) => port,
        Ok(None) => return Err(not_running()),
        Err(e) if e.is_not_found() => return Err(not_running()),
        Err(e) => return Err(e.into()),
    };
    let store = SecretStore::open(paths.secrets_dir())?;
    let password = store
        .get(
            &secret_scope(&node, names::DIRECTORY_APP),
            SUPERVISOR_SECRET,
        )?
        .ok_or_else(|| {
            OpsError::Refused(format!(
                "no directory password for node `{node}` in {}; run `commonscloud up` first",
                paths.secrets_dir().display()
            ))
        })?;
    let tree = crate::directory::Tree::new(&names::base_dn(&loaded.node.domain))?;
    Ok(Connection {
        url: format!("ldap://127.0.0.1:{port}"),
        bind_dn: tree.supervisor(),
        base_dn: tree.base().to_string(),
        password: password.expose().to_string(),
    })
}

/// What `up` did to the directory.
#[derive(Debug, Default, Serialize)]
pub struct Provisioned {
    pub collectives: Vec<String>,
    pub app_accounts: Vec<String>,
    /// Admins named in node.yaml who have no account yet (granted once they exist).
    pub admins_waiting: Vec<String>,
    /// Databases of the shared addons, as `service/database`.
    pub databases: Vec<String>,
}

/// Make the directory hold what node.yaml declares. Idempotent: a second run changes nothing.
pub async fn provision(
    dir: &Directory,
    paths: &NodePaths,
    loaded: &Loaded,
) -> Result<Provisioned, OpsError> {
    let node = loaded.node.node_id();
    let store = SecretStore::open(paths.secrets_dir())?;
    let mut out = Provisioned::default();
    for c in &loaded.node.collectives {
        dir.ensure_collective(&c.id, &c.name).await?;
        out.collectives.push(c.id.clone());
        for admin in &c.admins {
            match dir.show_user(admin).await {
                Ok(user) if user.admin_of.iter().any(|a| a == &c.id) => {}
                Ok(_) => dir.grant_admin(&c.id, admin).await?,
                Err(DirectoryError::NotFound { .. }) => {
                    out.admins_waiting.push(format!("{}:{admin}", c.id))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    for app in &loaded.node.apps {
        let Some(recipe) = loaded.recipes.get(&app.recipe) else {
            continue;
        };
        if !recipe.recipe.addons.contains(&Addon::Ldap) {
            continue;
        }
        let id = app.instance_id();
        let password = store.get_or_create(&secret_scope(&node, &id), LDAP_PASSWORD_SECRET)?;
        dir.ensure_app_account(&id, password.expose()).await?;
        dir.ensure_service_group(app.collective.as_deref(), &id)
            .await?;
        out.app_accounts.push(id);
    }
    Ok(out)
}

/// Remove a destroyed app's account and access groups from the directory. Returns what was
/// removed; what was never there is fine.
pub async fn forget_app(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
    app: &str,
) -> Result<Vec<String>, OpsError> {
    let conn = connection(engine, paths, loaded).await?;
    let dir = Directory::connect(&conn).await?;
    let result = forget(&dir, loaded, app).await;
    dir.close().await;
    result
}

async fn forget(dir: &Directory, loaded: &Loaded, app: &str) -> Result<Vec<String>, OpsError> {
    let mut removed = vec![];
    let gone = |r: Result<(), DirectoryError>| match r {
        Ok(()) => Ok(true),
        Err(DirectoryError::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    };
    if gone(dir.remove_app_account(app).await)? {
        removed.push(dir.tree().app_account(app));
    }
    // The group is under ou=services, or under a collective's when the instance was private.
    let collectives =
        std::iter::once(None).chain(loaded.node.collectives.iter().map(|c| Some(c.id.as_str())));
    for c in collectives {
        if gone(dir.remove_service_group(c, app).await)? {
            removed.push(dir.tree().service_group(c, app));
        }
    }
    Ok(removed)
}
