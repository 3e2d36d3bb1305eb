//! The shared database addons as the supervisor runs them: one database and one role/user per
//! app instance in the node's PostgreSQL and MariaDB, made before the app starts, dropped when
//! it is purged. Each statement runs in the addon's container on its local socket (peer /
//! unix_socket authentication); the app's password reaches the client through the exec's
//! environment and a here-document, never a command line.

use super::{secret_scope, OpsError};
use crate::engine::Engine;
use crate::model::{Addon, Loaded, ADDON_SERVICES};
use crate::paths::NodePaths;
use crate::reconcile::desired::{addon_secret, names};
use crate::secrets::SecretStore;

/// Create (or bring up to date: the password) each declared instance's database and role.
/// Returns `service/database` for each.
pub async fn provision(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
) -> Result<Vec<String>, OpsError> {
    let node = loaded.node.node_id();
    let store = SecretStore::open(paths.secrets_dir())?;
    let mut out = vec![];
    for app in &loaded.node.apps {
        let Some(recipe) = loaded.recipes.get(&app.recipe) else {
            continue;
        };
        let id = app.instance_id();
        for (addon, service) in ADDON_SERVICES {
            if !recipe.recipe.addons.contains(addon) {
                continue;
            }
            let secret = addon_secret(*addon).unwrap_or_default();
            let password = store.get_or_create(&secret_scope(&node, &id), secret)?;
            let database = names::database(&id);
            run(
                engine,
                &node,
                *addon,
                &database,
                Some(password.expose()),
                Script::Create,
            )
            .await?;
            out.push(format!("{service}/{database}"));
        }
    }
    Ok(out)
}

/// Which shared addons an instance had, from the secrets the supervisor made for it.
pub fn addons_of(paths: &NodePaths, node: &str, app: &str) -> Result<Vec<Addon>, OpsError> {
    let store = SecretStore::open(paths.secrets_dir())?;
    let have = store.list(&secret_scope(node, app))?;
    Ok(ADDON_SERVICES
        .iter()
        .map(|(a, _)| *a)
        .filter(|a| addon_secret(*a).is_some_and(|s| have.iter().any(|h| h == s)))
        .collect())
}

/// What dropping an instance's databases did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Dropped {
    /// `service/database` dropped.
    pub dropped: Vec<String>,
    /// `service/database` left because the service is not running (with what to do).
    pub kept: Vec<String>,
}

/// Drop an instance's databases and roles in the addons it used.
pub async fn forget(
    engine: &Engine,
    node: &str,
    app: &str,
    addons: &[Addon],
) -> Result<Dropped, OpsError> {
    let mut out = Dropped::default();
    let database = names::database(app);
    for addon in addons {
        let service = service_of(*addon);
        let container = names::container(node, service, names::ADDON_COMPONENT);
        let running = matches!(
            engine.inspect_state(&container).await,
            Ok((crate::engine::RunState::Running, _))
        );
        if !running {
            out.kept.push(format!(
                "{service}/{database}: the {service} addon is not running; its data volume keeps it"
            ));
            continue;
        }
        run(engine, node, *addon, &database, None, Script::Drop).await?;
        out.dropped.push(format!("{service}/{database}"));
    }
    Ok(out)
}

/// The platform service that runs a shared addon (`postgres`, `mariadb`).
pub(crate) fn service_of(addon: Addon) -> &'static str {
    ADDON_SERVICES
        .iter()
        .find(|(a, _)| *a == addon)
        .map(|(_, s)| *s)
        .unwrap_or("")
}

#[derive(Clone, Copy)]
enum Script {
    /// Create or update; then load a dump a restore left (`<database>.restore`), once.
    Create,
    Drop,
    /// A consistent dump into the addon's `dumps` volume: `<database>.dump` (PostgreSQL,
    /// custom format) or `<database>.sql` (MariaDB, every database of the instance).
    Dump,
}

/// The file an instance's dump has in the addon's `dumps` volume.
pub fn dump_file(addon: Addon, app: &str) -> String {
    let ext = match addon {
        Addon::Postgres => "dump",
        _ => "sql",
    };
    format!("{}.{ext}", names::database(app))
}

/// The name under which a restore leaves a dump for the next `up` to load.
pub fn restore_file(app: &str) -> String {
    format!("{}.restore", names::database(app))
}

/// Make a consistent dump of an instance's databases in `addon`; returns the file's name in
/// the addon's `dumps` volume.
pub async fn dump(
    engine: &Engine,
    node: &str,
    app: &str,
    addon: Addon,
) -> Result<String, OpsError> {
    run(
        engine,
        node,
        addon,
        &names::database(app),
        None,
        Script::Dump,
    )
    .await?;
    Ok(dump_file(addon, app))
}

/// The shell script for an addon: `$CC_NAME` is the database (and role), `$CC_LIKE` the same
/// with `_` escaped for MariaDB's patterns, `$CC_PASSWORD` the password; all are checked to be plain (`[a-z0-9_]`, alphanumeric) before they get here.
fn script(addon: Addon, what: Script) -> &'static str {
    match (addon, what) {
        (Addon::Postgres, Script::Create) => {
            r#"set -e
psql -v ON_ERROR_STOP=1 -q -X -d postgres <<SQL
SELECT format('CREATE ROLE %I LOGIN', '$CC_NAME') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$CC_NAME')\gexec
ALTER ROLE "$CC_NAME" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$CC_PASSWORD';
SELECT format('CREATE DATABASE %I OWNER %I', '$CC_NAME', '$CC_NAME') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$CC_NAME')\gexec
REVOKE ALL ON DATABASE "$CC_NAME" FROM PUBLIC;
GRANT ALL ON DATABASE "$CC_NAME" TO "$CC_NAME";
SQL
f=/var/lib/postgresql/dumps/$CC_NAME.restore
if [ -f "$f" ]; then
  pg_restore --clean --if-exists --no-owner --no-privileges --role="$CC_NAME" --exit-on-error -d "$CC_NAME" "$f"
  mv "$f" "$f.done"
fi"#
        }
        (Addon::Postgres, Script::Dump) => {
            r#"set -e
cd /var/lib/postgresql/dumps
pg_dump -Fc --no-owner --no-privileges -f "$CC_NAME.dump.tmp" "$CC_NAME"
mv "$CC_NAME.dump.tmp" "$CC_NAME.dump""#
        }
        (Addon::Postgres, Script::Drop) => {
            r#"psql -v ON_ERROR_STOP=1 -q -X -d postgres <<SQL
DROP DATABASE IF EXISTS "$CC_NAME" WITH (FORCE);
DROP ROLE IF EXISTS "$CC_NAME";
SQL"#
        }
        (_, Script::Create) => {
            // The grant on `<name>\_%` serves apps that make several databases (Phorge).
            r#"set -e
mariadb --protocol=socket <<SQL
CREATE DATABASE IF NOT EXISTS \`$CC_NAME\`;
CREATE USER IF NOT EXISTS '$CC_NAME'@'%' IDENTIFIED BY '$CC_PASSWORD';
ALTER USER '$CC_NAME'@'%' IDENTIFIED BY '$CC_PASSWORD';
GRANT ALL PRIVILEGES ON \`$CC_LIKE\`.* TO '$CC_NAME'@'%';
GRANT ALL PRIVILEGES ON \`$CC_LIKE\\_%\`.* TO '$CC_NAME'@'%';
SQL
f=/var/lib/mysql-dumps/$CC_NAME.restore
if [ -f "$f" ]; then
  mariadb --protocol=socket < "$f"
  mv "$f" "$f.done"
fi"#
        }
        (_, Script::Dump) => {
            r#"set -e
dbs=$(mariadb --protocol=socket -N -B -e "SELECT schema_name FROM information_schema.schemata WHERE schema_name = '$CC_NAME' OR schema_name LIKE '$CC_LIKE\\_%'")
cd /var/lib/mysql-dumps
mariadb-dump --protocol=socket --single-transaction --routines --triggers --events --add-drop-database --databases $dbs > "$CC_NAME.sql.tmp"
mv "$CC_NAME.sql.tmp" "$CC_NAME.sql""#
        }
        (_, Script::Drop) => {
            r#"set -e
for db in $(mariadb --protocol=socket -N -B -e "SELECT schema_name FROM information_schema.schemata WHERE schema_name = '$CC_NAME' OR schema_name LIKE '$CC_LIKE\\_%'"); do
  mariadb --protocol=socket -e "DROP DATABASE \`$db\`"
done
mariadb --protocol=socket -e "DROP USER IF EXISTS '$CC_NAME'@'%'""#
        }
    }
}

async fn run(
    engine: &Engine,
    node: &str,
    addon: Addon,
    database: &str,
    password: Option<&str>,
    what: Script,
) -> Result<(), OpsError> {
    let service = service_of(addon);
    let plain = |s: &str, extra: bool| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || (extra && c == '_'))
    };
    if !plain(database, true) || password.is_some_and(|p| !plain(p, false)) {
        return Err(OpsError::Refused(format!(
            "refusing to send `{database}` or its password to {service}: unexpected characters"
        )));
    }
    let container = names::container(node, service, names::ADDON_COMPONENT);
    // In MariaDB's grants and LIKE, `_` is a wildcard: `cc3_a_b` would also name `cc3_axb`.
    let like = database.replace('_', "\\_");
    let mut env = vec![format!("CC_NAME={database}"), format!("CC_LIKE={like}")];
    if let Some(p) = password {
        env.push(format!("CC_PASSWORD={p}"));
    }
    let user = match addon {
        Addon::Postgres => Some("postgres"),
        _ => None,
    };
    let cmd = vec!["sh".into(), "-c".into(), script(addon, what).to_string()];
    let out = engine.exec_with_env(&container, &cmd, user, &env).await?;
    if out.exit_code != 0 {
        let verb = match what {
            Script::Create => "create",
            Script::Drop => "drop",
            Script::Dump => "dump",
        };
        return Err(OpsError::Refused(format!(
            "{service}: could not {verb} database `{database}` (exit {}): {}",
            out.exit_code,
            out.stderr.trim()
        )));
    }
    Ok(())
}
