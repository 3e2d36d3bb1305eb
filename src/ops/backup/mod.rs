//! Backups of a node with restic, run in one-shot containers of `images/backup`: one snapshot
//! per app instance (its volumes marked for backup, read-only, plus consistent dumps of its
//! databases made in the addons and its recipe's backup hook), one of the directory (a slapcat
//! LDIF), one of the node itself (node.yaml, secrets, certificates and CA, the journal). Each
//! snapshot is tagged `node=<node>`, `app=<id>`, `recipe=<recipe>@<version>`.
//!
//! Restores put data back into the volumes with the app stopped; database dumps and the LDIF
//! are left in the addons' `dumps` volumes as `*.restore`, which the next `up` loads before
//! the app starts (see `ops::addons` and `images/directory/entrypoint.sh`).

use super::{addons, lock, secret_scope, OpsError, SecretsMode};
use crate::backup::{
    self, container, BackupProgress, BackupRequest, BackupSummary, CheckReport, ForgetRequest,
    GroupBy, Invocation, Repository, Restic, RestoreRequest, Schedule, Snapshot, SnapshotFilter,
};
use crate::engine::{labels, BindSpec, Engine, MountSpec, OneShot, VolumeSpec};
use crate::model::{Addon, Loaded};
use crate::paths::NodePaths;
use crate::reconcile::apply::Progress;
use crate::reconcile::desired::{names, DesiredHook, DesiredState};
use crate::secrets::SecretStore;
use crate::state::{Journal, Outcome};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// The secret scope and name of the repository password (`<node>-backup/restic_password`).
pub const PASSWORD_SECRET: &str = "restic_password";
/// The unit holding the node itself (config, secrets, certificates, journal).
pub const NODE_UNIT: &str = "node";
/// What of the supervisor's state folder is not backed up: rebuilt (`build`), or runtime.
const STATE_SKIPPED: &[&str] = &["build", "lock"];

/// Where restic runs, and how it reaches the repository.
struct Target {
    restic: Restic,
    image: String,
    node: String,
    /// The repository (when local) and the password file.
    binds: Vec<BindSpec>,
    /// restic's cache (a volume of the node), when the node is known.
    cache: Option<MountSpec>,
    network: Option<String>,
}

/// One snapshot's worth: an app instance, the directory or the node.
#[derive(Debug, Clone)]
struct Unit {
    app: String,
    recipe: String,
    version: String,
    /// (Docker volume, its name in the recipe).
    volumes: Vec<(String, String)>,
    dumps: Vec<DumpSource>,
    hook: Option<DesiredHook>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DumpSource {
    Addon(Addon),
    Directory,
}

impl DumpSource {
    /// The service whose `dumps` volume holds it, and the folder it is mounted at inside it.
    fn service(self) -> &'static str {
        match self {
            DumpSource::Addon(a) => addons::service_of(a),
            DumpSource::Directory => names::DIRECTORY_APP,
        }
    }

    fn file(self, app: &str) -> String {
        match self {
            DumpSource::Addon(a) => addons::dump_file(a, app),
            DumpSource::Directory => DIRECTORY_LDIF.to_string(),
        }
    }

    /// Where the backup container sees it.
    fn path(self, app: &str) -> String {
        format!(
            "{}/dumps/{}/{}",
            container::BACKUP_ROOT,
            self.service(),
            self.file(app)
        )
    }
}

const DIRECTORY_LDIF: &str = "directory.ldif";
const DIRECTORY_DUMPS: &str = "/var/backups/directory";

fn volume_path(app: &str, volume: &str) -> String {
    format!("{}/volumes/{app}/{volume}", container::BACKUP_ROOT)
}

fn dumps_volume(node: &str, service: &str) -> String {
    names::volume(node, service, "dumps")
}

/// The units of a node: every instance with data (volumes marked for backup, databases), the
/// directory, and the node itself; or only `only`.
fn units(loaded: &Loaded, desired: &DesiredState, only: Option<&str>) -> Vec<Unit> {
    let mut out = vec![];
    for app in &loaded.node.apps {
        let id = app.instance_id();
        let Some(recipe) = loaded.recipes.get(&app.recipe) else {
            continue;
        };
        let volumes: Vec<(String, String)> = desired
            .volumes
            .iter()
            .filter(|v| {
                v.labels.get(labels::APP) == Some(&id)
                    && v.labels.get(labels::BACKUP).map(String::as_str) == Some("true")
            })
            .map(|v| {
                let name = v.labels.get(labels::VOLUME).cloned().unwrap_or_default();
                (v.name.clone(), name)
            })
            .collect();
        let mut dumps: Vec<DumpSource> = recipe
            .recipe
            .addons
            .iter()
            .filter(|a| matches!(a, Addon::Postgres | Addon::Mariadb))
            .map(|a| DumpSource::Addon(*a))
            .collect();
        if id == names::DIRECTORY_APP {
            dumps.push(DumpSource::Directory);
        }
        if volumes.is_empty() && dumps.is_empty() {
            continue;
        }
        out.push(Unit {
            app: id.clone(),
            recipe: recipe.recipe.id.clone(),
            version: recipe.recipe.version.clone(),
            volumes,
            dumps,
            hook: desired
                .hooks
                .iter()
                .find(|h| h.app == id && h.kind == "backup")
                .cloned(),
        });
    }
    out.push(Unit {
        app: NODE_UNIT.to_string(),
        recipe: "commonscloud".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        volumes: vec![],
        dumps: vec![],
        hook: None,
    });
    match only {
        Some(app) => out.into_iter().filter(|u| u.app == app).collect(),
        None => out,
    }
}

impl Unit {
    /// Its volumes, where the backup container sees them.
    fn mounts(&self, read_only: bool) -> Vec<MountSpec> {
        self.volumes
            .iter()
            .map(|(docker, name)| MountSpec {
                volume: docker.clone(),
                target: volume_path(&self.app, name),
                read_only,
            })
            .collect()
    }

    /// The paths of its volumes in the backup container (and in its snapshots).
    fn paths(&self) -> Vec<String> {
        self.volumes
            .iter()
            .map(|(_, name)| volume_path(&self.app, name))
            .collect()
    }
}

fn tags(node: &str, unit: &Unit) -> Vec<String> {
    vec![
        format!("node={node}"),
        format!("app={}", unit.app),
        format!("recipe={}@{}", unit.recipe, unit.version),
    ]
}

fn io(path: &Path, source: std::io::Error) -> OpsError {
    OpsError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The repository password's file, made on first use. `true` when it was just made.
/// The repository password's file; with `create`, made on first use (`true` when it was just
/// made). Without, a node that has no password yet is refused: only `backup now` makes one,
/// because only it shows the new password to the operator.
fn password_file(paths: &NodePaths, node: &str, create: bool) -> Result<(PathBuf, bool), OpsError> {
    let store = SecretStore::open(paths.secrets_dir())?;
    let scope = secret_scope(node, "backup");
    let existed = store.get(&scope, PASSWORD_SECRET)?.is_some();
    if !existed && !create {
        return Err(OpsError::Refused(
            "this node has no backup repository password yet: run `commonscloud backup now` first (it makes the repository and shows the password)".into(),
        ));
    }
    store.get_or_create(&scope, PASSWORD_SECRET)?;
    Ok((store.dir().join(&scope).join(PASSWORD_SECRET), !existed))
}

/// The remote credentials of a repository, from the secret store (`<node>-backup/…`).
fn credentials(
    paths: &NodePaths,
    node: &str,
    repo: &Repository,
) -> Result<backup::Credentials, OpsError> {
    let store = SecretStore::open(paths.secrets_dir())?;
    let scope = secret_scope(node, "backup");
    let get = |name: &str| -> Result<Option<String>, OpsError> {
        Ok(store.get(&scope, name)?.map(|s| s.expose().to_string()))
    };
    Ok(match repo.kind() {
        backup::RepositoryKind::S3 => {
            match (get("aws_access_key_id")?, get("aws_secret_access_key")?) {
                (Some(id), Some(key)) => backup::Credentials::s3(id, key),
                _ => backup::Credentials::none(),
            }
        }
        backup::RepositoryKind::Rest => match (get("rest_user")?, get("rest_password")?) {
            (Some(u), Some(p)) => backup::Credentials::rest(u, p),
            _ => backup::Credentials::none(),
        },
        _ => backup::Credentials::none(),
    })
}

#[allow(clippy::too_many_arguments)]
async fn target(
    engine: &Engine,
    paths: &NodePaths,
    node: &str,
    repository: &str,
    password: &Path,
    with_cache: bool,
    creds: backup::Credentials,
    progress: &Progress,
) -> Result<Target, OpsError> {
    let repo = Repository::parse(repository)?;
    let mut binds = vec![BindSpec {
        source: password.to_path_buf(),
        target: container::PASSWORD_FILE.to_string(),
        read_only: true,
    }];
    let (restic_repo, network) = match repo.local_path() {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
            binds.push(BindSpec {
                source: dir.to_path_buf(),
                target: container::REPOSITORY.to_string(),
                read_only: false,
            });
            (Repository::local(container::REPOSITORY), None)
        }
        None => {
            // sftp: the host's root SSH key and known_hosts, as `ssh` on the host would use.
            let ssh = Path::new("/root/.ssh");
            if repo.kind() == backup::RepositoryKind::Sftp && ssh.is_dir() {
                binds.push(BindSpec {
                    source: ssh.to_path_buf(),
                    target: "/root/.ssh".to_string(),
                    read_only: true,
                });
            }
            (repo.clone(), Some("bridge".to_string()))
        }
    };
    let mut restic = Restic::new(restic_repo, container::PASSWORD_FILE).with_credentials(creds)?;
    if with_cache {
        restic = restic.with_cache_dir(container::CACHE);
    }
    let labels = BTreeMap::from([(labels::NODE.to_string(), node.to_string())]);
    let bar = progress.bar("backup image".to_string());
    let built = engine
        .ensure_built(
            &paths.images_dir.join("backup"),
            "commonscloud/backup",
            &labels,
            &bar,
        )
        .await?;
    bar.finish_and_clear();
    let cache = names::volume(node, "backup", "cache");
    if with_cache {
        engine
            .ensure_volume(&VolumeSpec {
                name: cache.clone(),
                labels: BTreeMap::from([
                    (labels::NODE.to_string(), node.to_string()),
                    (labels::APP.to_string(), "backup".to_string()),
                    (labels::VOLUME.to_string(), "cache".to_string()),
                    (labels::BACKUP.to_string(), "false".to_string()),
                ]),
            })
            .await?;
    }
    Ok(Target {
        restic,
        image: built.reference,
        node: node.to_string(),
        binds,
        cache: with_cache.then(|| MountSpec {
            volume: cache,
            target: container::CACHE.to_string(),
            read_only: false,
        }),
        network,
    })
}

fn job_name(node: &str) -> String {
    format!("cc-{node}-backup-{:08x}", rand::random::<u32>())
}

impl Target {
    fn job(&self, volumes: Vec<MountSpec>, binds: Vec<BindSpec>) -> OneShot {
        let mut all_volumes: Vec<MountSpec> = self.cache.iter().cloned().collect();
        all_volumes.extend(volumes);
        let mut all_binds = self.binds.clone();
        all_binds.extend(binds);
        OneShot {
            name: job_name(&self.node),
            image: self.image.clone(),
            labels: BTreeMap::from([
                (labels::NODE.to_string(), self.node.clone()),
                (labels::APP.to_string(), "backup".to_string()),
                (labels::COMPONENT.to_string(), "restic".to_string()),
            ]),
            volumes: all_volumes,
            binds: all_binds,
            network: self.network.clone(),
            ..Default::default()
        }
    }

    /// Run one restic invocation in a one-shot container with `volumes` and `binds` mounted.
    async fn run<T>(
        &self,
        engine: &Engine,
        inv: Invocation<T>,
        volumes: Vec<MountSpec>,
        binds: Vec<BindSpec>,
        on_line: impl FnMut(&str) + Send,
    ) -> Result<T, OpsError> {
        let mut job = self.job(volumes, binds);
        job.cmd = inv.args().to_vec();
        job.env = inv.env_assignments();
        let out = engine.run_oneshot(&job, on_line).await?;
        Ok(inv.finish(out.exit_code, &out.stdout, &out.stderr)?)
    }

    /// Run a shell script in a one-shot container (wiping or renaming in volumes).
    async fn shell(
        &self,
        engine: &Engine,
        script: &str,
        volumes: Vec<MountSpec>,
    ) -> Result<(), OpsError> {
        let mut job = self.job(volumes, vec![]);
        job.entrypoint = Some(vec!["sh".into(), "-c".into()]);
        job.cmd = vec![script.to_string()];
        job.network = None;
        let out = engine.run_oneshot(&job, |_| {}).await?;
        if out.exit_code != 0 {
            return Err(OpsError::Refused(format!(
                "backup container: `{script}` failed (exit {}): {}",
                out.exit_code,
                out.stderr.trim()
            )));
        }
        Ok(())
    }

    async fn init(&self, engine: &Engine) -> Result<backup::Initialized, OpsError> {
        self.run(engine, self.restic.init()?, vec![], vec![], |_| {})
            .await
    }

    async fn snapshots(
        &self,
        engine: &Engine,
        tags: Vec<String>,
    ) -> Result<Vec<Snapshot>, OpsError> {
        let filter = SnapshotFilter { host: None, tags };
        let mut list = self
            .run(
                engine,
                self.restic.snapshots(&filter)?,
                vec![],
                vec![],
                |_| {},
            )
            .await?;
        list.sort_by_key(|s| s.time);
        Ok(list)
    }
}

/// The repository of node.yaml (refused when there is none).
fn repository_of(loaded: &Loaded) -> Result<String, OpsError> {
    loaded
        .node
        .backup
        .as_ref()
        .map(|b| b.repository.clone())
        .ok_or_else(|| {
            OpsError::Refused(format!(
                "node.yaml ({}) has no `backup:` section; add `backup: {{ repository: /var/backups/commonscloud }}` (see docs/backups.md)",
                loaded.node_file.display()
            ))
        })
}

async fn node_target(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
    create: bool,
    progress: &Progress,
) -> Result<(Target, Option<String>), OpsError> {
    let node = loaded.node.node_id();
    let repository = repository_of(loaded)?;
    let (password, created) = password_file(paths, &node, create)?;
    let creds = credentials(paths, &node, &Repository::parse(&repository)?)?;
    let t = target(
        engine,
        paths,
        &node,
        &repository,
        &password,
        true,
        creds,
        progress,
    )
    .await?;
    let shown = if created {
        SecretStore::open(paths.secrets_dir())?
            .get(&secret_scope(&node, "backup"), PASSWORD_SECRET)?
            .map(|s| s.expose().to_string())
    } else {
        None
    };
    Ok((t, shown))
}

/// One snapshot made.
#[derive(Debug, Serialize)]
pub struct UnitReport {
    pub app: String,
    pub snapshot: Option<String>,
    pub files_new: u64,
    pub files_changed: u64,
    pub bytes_added: u64,
    pub bytes_processed: u64,
    pub seconds: f64,
    pub warnings: Vec<String>,
    /// Why this unit failed (the others still ran).
    pub error: Option<String>,
}

/// What `backup now` did.
#[derive(Debug, Serialize, Default)]
pub struct BackupReport {
    pub repository: String,
    /// The repository's password, only the first time it is made: keep a copy elsewhere.
    pub new_password: Option<String>,
    pub units: Vec<UnitReport>,
    /// Snapshots removed by the retention policy.
    pub forgotten: Vec<String>,
    /// With a scheduled run: the check of the repository.
    pub check: Option<String>,
    /// Mail sent to the operator, or why not.
    pub notices: Vec<String>,
    /// A scheduled run that was not due.
    pub not_due_until: Option<String>,
}

impl BackupReport {
    pub fn failed(&self) -> usize {
        self.units.iter().filter(|u| u.error.is_some()).count()
    }
}

/// Make the dumps and the snapshot of one unit.
async fn backup_unit(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
    t: &Target,
    unit: &Unit,
    progress: &Progress,
) -> Result<BackupSummary, OpsError> {
    let node = &t.node;
    if let Some(hook) = &unit.hook {
        let out = engine
            .exec(&hook.container, &hook.command, hook.user.as_deref())
            .await?;
        if out.exit_code != 0 {
            return Err(OpsError::Refused(format!(
                "{}: the backup hook failed (exit {}): {}",
                unit.app,
                out.exit_code,
                out.stderr.trim()
            )));
        }
    }
    let mut volumes = unit.mounts(true);
    let mut request_paths: Vec<PathBuf> = unit.paths().into_iter().map(PathBuf::from).collect();
    for d in &unit.dumps {
        match d {
            DumpSource::Addon(a) => {
                addons::dump(engine, node, &unit.app, *a).await?;
            }
            DumpSource::Directory => dump_directory(engine, loaded).await?,
        }
        volumes.push(MountSpec {
            volume: dumps_volume(node, d.service()),
            target: format!("{}/dumps/{}", container::BACKUP_ROOT, d.service()),
            read_only: true,
        });
        request_paths.push(PathBuf::from(d.path(&unit.app)));
    }
    let mut binds = vec![];
    if unit.app == NODE_UNIT {
        let root = format!("{}/node", container::BACKUP_ROOT);
        binds.push(BindSpec {
            source: paths.config.clone(),
            target: format!("{root}/node.yaml"),
            read_only: true,
        });
        request_paths.push(PathBuf::from(format!("{root}/node.yaml")));
        let entries = std::fs::read_dir(&paths.state_dir).map_err(|e| io(&paths.state_dir, e))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !STATE_SKIPPED.contains(&n.as_str()))
            .collect();
        names.sort();
        for name in names {
            let target = format!("{root}/state/{name}");
            binds.push(BindSpec {
                source: paths.state_dir.join(&name),
                target: target.clone(),
                read_only: true,
            });
            request_paths.push(PathBuf::from(target));
        }
    }
    let request = BackupRequest {
        paths: request_paths,
        tags: tags(node, unit),
        host: node.clone(),
        time: None,
    };
    let bar = progress.bar(format!("backup {}", unit.app));
    bar.set_length(100);
    let summary = t
        .run(engine, t.restic.backup(&request)?, volumes, binds, |line| {
            if let Some(p) = BackupProgress::from_line(line) {
                bar.set_position(p.percent.round() as u64);
            }
        })
        .await;
    bar.finish_and_clear();
    summary
}

/// slapcat of the directory into its `dumps` volume (consistent: slapd's database is read in
/// one transaction while it keeps serving).
async fn dump_directory(engine: &Engine, loaded: &Loaded) -> Result<(), OpsError> {
    let node = loaded.node.node_id();
    let container = names::container(&node, names::DIRECTORY_APP, names::DIRECTORY_COMPONENT);
    let base = names::base_dn(&loaded.node.domain);
    let script = format!(
        "set -e; mkdir -p {DIRECTORY_DUMPS}; slapcat -F /etc/ldap/slapd.d -b \"$CC_BASE\" -l {DIRECTORY_DUMPS}/{DIRECTORY_LDIF}.tmp; mv {DIRECTORY_DUMPS}/{DIRECTORY_LDIF}.tmp {DIRECTORY_DUMPS}/{DIRECTORY_LDIF}"
    );
    let out = engine
        .exec_with_env(
            &container,
            &["sh".into(), "-c".into(), script],
            None,
            &[format!("CC_BASE={base}")],
        )
        .await?;
    if out.exit_code != 0 {
        return Err(OpsError::Refused(format!(
            "directory: slapcat failed (exit {}): {}",
            out.exit_code,
            out.stderr.trim()
        )));
    }
    Ok(())
}

fn unit_report(app: &str, r: Result<BackupSummary, OpsError>) -> UnitReport {
    match r {
        Ok(s) => UnitReport {
            app: app.to_string(),
            snapshot: Some(s.snapshot_id.clone()),
            files_new: s.files_new,
            files_changed: s.files_changed,
            bytes_added: s.data_added,
            bytes_processed: s.total_bytes_processed,
            seconds: s.duration_seconds,
            warnings: s.warnings,
            error: None,
        },
        Err(e) => UnitReport {
            app: app.to_string(),
            snapshot: None,
            files_new: 0,
            files_changed: 0,
            bytes_added: 0,
            bytes_processed: 0,
            seconds: 0.0,
            warnings: vec![],
            error: Some(e.to_string()),
        },
    }
}

/// When a scheduled backup runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Now (`backup now`).
    Now,
    /// From a timer: only when node.yaml's `backup.schedule` says it is due; then also prune by
    /// `backup.keep`, check a part of the data, and mail the operator on any failure.
    Scheduled,
}

/// How much of the repository's data a scheduled run reads back (restic check).
pub const SCHEDULED_CHECK_PERCENT: u8 = 5;

/// The journal's name for a scheduled run.
const SCHEDULED_OP: &str = "backup scheduled";

/// `backup now [APP]` and the scheduled run.
pub async fn backup_now(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
    only: Option<&str>,
    when: When,
    now: OffsetDateTime,
    progress: &Progress,
) -> Result<BackupReport, OpsError> {
    let node = loaded.node.node_id();
    let _lock = lock(paths)?;
    let journal = Journal::open(paths.journal_file())?;
    if when == When::Scheduled {
        let schedule = loaded
            .node
            .backup
            .as_ref()
            .and_then(|b| b.schedule.as_deref())
            .map(Schedule::parse)
            .transpose()?;
        let Some(schedule) = schedule else {
            return Err(OpsError::Refused(
                "node.yaml's `backup:` has no `schedule:` (e.g. `schedule: daily 03:30`)".into(),
            ));
        };
        let last = journal
            .list(500)?
            .into_iter()
            .find(|e| e.operation == SCHEDULED_OP && e.outcome == Some(Outcome::Succeeded))
            .map(|e| e.started_at);
        if let Some(last) = last {
            let next = schedule.next_run(last);
            if next > now {
                return Ok(BackupReport {
                    repository: repository_of(loaded)?,
                    not_due_until: Some(
                        next.format(&time::format_description::well_known::Rfc3339)
                            .unwrap_or_default(),
                    ),
                    ..Default::default()
                });
            }
        }
    }
    let op = match when {
        When::Now => "backup",
        When::Scheduled => SCHEDULED_OP,
    };
    let id = journal.begin(op, &node, only.unwrap_or("{}"), now)?;
    let result = run_backup(engine, paths, loaded, only, when, progress).await;
    let (outcome, detail) = match &result {
        Ok(r) if r.failed() == 0 && r.check.as_deref().is_none_or(|c| !c.starts_with("failed")) => {
            (
                Outcome::Succeeded,
                serde_json::to_string(&r.units).unwrap_or_default(),
            )
        }
        Ok(r) => (
            Outcome::Failed,
            serde_json::to_string(&r.units).unwrap_or_default(),
        ),
        Err(e) => (Outcome::Failed, e.to_string()),
    };
    journal.finish(id, outcome, &detail, OffsetDateTime::now_utc())?;
    match (when, result) {
        (When::Scheduled, Err(e)) => {
            let notices = notify(paths, loaded, &e.to_string()).await?;
            Err(OpsError::Refused(format!("{e}\n{}", notices.join("\n"))))
        }
        (_, r) => r,
    }
}

async fn notify(paths: &NodePaths, loaded: &Loaded, what: &str) -> Result<Vec<String>, OpsError> {
    let node = loaded.node.node_id();
    let text = format!(
        "The scheduled backup of node {node} failed:\n\n{what}\n\nEarlier snapshots are intact. \
         Run `commonscloud backup now` on the node to retry, `commonscloud backup verify` to check \
         the repository, and see docs/backups.md.\n"
    );
    super::notify::mail_operator(paths, loaded, "the scheduled backup failed", text).await
}

async fn run_backup(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
    only: Option<&str>,
    when: When,
    progress: &Progress,
) -> Result<BackupReport, OpsError> {
    let desired = super::desired(paths, loaded, SecretsMode::ReadOnly)?;
    let list = units(loaded, &desired, only);
    if let (Some(app), true) = (only, list.is_empty()) {
        return Err(OpsError::Refused(format!(
            "`{app}` has nothing to back up on this node (no such app, or no volume marked for backup and no database); `commonscloud status` lists the apps"
        )));
    }
    let (t, new_password) = node_target(engine, paths, loaded, true, progress).await?;
    t.init(engine).await?;
    let mut report = BackupReport {
        repository: repository_of(loaded)?,
        new_password,
        ..Default::default()
    };
    for unit in &list {
        let r = backup_unit(engine, paths, loaded, &t, unit, progress).await;
        report.units.push(unit_report(&unit.app, r));
    }
    if when == When::Scheduled {
        let keep = loaded
            .node
            .backup
            .as_ref()
            .map(|b| b.keep.clone())
            .unwrap_or_default();
        if [keep.daily, keep.weekly, keep.monthly]
            .iter()
            .any(|k| k.unwrap_or(0) > 0)
        {
            report.forgotten = forget(engine, &t, &keep).await?;
        }
        // A sample of the stored data is read back and compared at each scheduled run.
        report.check = Some(
            match t
                .run(
                    engine,
                    t.restic.check(Some(SCHEDULED_CHECK_PERCENT))?,
                    vec![],
                    vec![],
                    |_| {},
                )
                .await
            {
                Ok(c) => format!("ok: {}", check_line(&c)),
                Err(e) => format!("failed: {e}"),
            },
        );
        let failed: Vec<String> = report
            .units
            .iter()
            .filter_map(|u| u.error.as_ref().map(|e| format!("- {}: {e}", u.app)))
            .chain(
                report
                    .check
                    .iter()
                    .filter(|c| c.starts_with("failed"))
                    .map(|c| format!("- repository check {c}")),
            )
            .collect();
        if !failed.is_empty() {
            report.notices = notify(paths, loaded, &failed.join("\n")).await?;
        }
    }
    Ok(report)
}

fn check_line(c: &CheckReport) -> String {
    let read = c
        .read_data_percent
        .map(|p| format!("{p}% of the data read back and verified"))
        .unwrap_or_else(|| "structure checked".into());
    if c.notes.is_empty() {
        read
    } else {
        format!("{read} ({})", c.notes.join("; "))
    }
}

/// Apply the retention policy to each app's snapshots on their own; returns the ids removed.
async fn forget(
    engine: &Engine,
    t: &Target,
    keep: &crate::model::Keep,
) -> Result<Vec<String>, OpsError> {
    let all = t
        .snapshots(engine, vec![format!("node={}", t.node)])
        .await?;
    let mut apps: Vec<String> = all
        .iter()
        .filter_map(|s| s.tag_value("app").map(str::to_string))
        .collect();
    apps.sort();
    apps.dedup();
    let mut removed = vec![];
    for app in apps {
        let req = ForgetRequest {
            keep: keep.clone(),
            filter: SnapshotFilter {
                host: None,
                tags: vec![format!("node={}", t.node), format!("app={app}")],
            },
            group_by: GroupBy::Host,
            prune: false,
            dry_run: false,
        };
        for g in t
            .run(engine, t.restic.forget(&req)?, vec![], vec![], |_| {})
            .await?
        {
            removed.extend(g.remove.iter().map(|s| s.short_id.clone()));
        }
    }
    if !removed.is_empty() {
        // Under the node's lock: a lock in the repository is a killed run's.
        t.run(engine, t.restic.unlock(true)?, vec![], vec![], |_| {})
            .await?;
        t.run(engine, t.restic.prune()?, vec![], vec![], |_| {})
            .await?;
    }
    Ok(removed)
}

/// One line of `backup list`.
#[derive(Debug, Serialize)]
pub struct SnapshotRow {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub app: String,
    pub recipe: String,
    /// Whether the next scheduled prune would remove it (node.yaml's `keep`).
    pub pruned_next: bool,
}

/// Every snapshot of this node, oldest first.
pub async fn list(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
    progress: &Progress,
) -> Result<Vec<SnapshotRow>, OpsError> {
    let (t, _) = node_target(engine, paths, loaded, false, progress).await?;
    let all = t
        .snapshots(engine, vec![format!("node={}", t.node)])
        .await?;
    let keep = loaded.node.backup.as_ref().map(|b| b.keep.clone());
    let mut by_app: BTreeMap<String, Vec<OffsetDateTime>> = BTreeMap::new();
    for s in &all {
        by_app
            .entry(s.tag_value("app").unwrap_or_default().to_string())
            .or_default()
            .push(s.time);
    }
    Ok(all
        .iter()
        .map(|s| {
            let app = s.tag_value("app").unwrap_or_default().to_string();
            let pruned_next = match &keep {
                Some(k)
                    if [k.daily, k.weekly, k.monthly]
                        .iter()
                        .any(|x| x.unwrap_or(0) > 0) =>
                {
                    backup::expected_removed(&by_app[&app], k).contains(&s.time)
                }
                _ => false,
            };
            SnapshotRow {
                id: s.short_id.clone(),
                time: s.time,
                recipe: s.tag_value("recipe").unwrap_or_default().to_string(),
                app,
                pruned_next,
            }
        })
        .collect())
}

/// `backup verify`: remove the locks a killed backup leaves, then check the repository,
/// reading back `read_data_percent` % of the data. Every restic run of this node holds the
/// node's lock, as this does, so no lock in the repository can belong to a live run of ours
/// (`unlock --remove-all`: restic cannot tell a dead container's lock from a live one).
pub async fn verify(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
    read_data_percent: Option<u8>,
    progress: &Progress,
) -> Result<CheckReport, OpsError> {
    let _lock = lock(paths)?;
    let (t, _) = node_target(engine, paths, loaded, false, progress).await?;
    t.run(engine, t.restic.unlock(true)?, vec![], vec![], |_| {})
        .await?;
    t.run(
        engine,
        t.restic.check(read_data_percent)?,
        vec![],
        vec![],
        |_| {},
    )
    .await
}

mod restore;
pub use restore::{restore_app, restore_node, NodeRestoreReport, RestoreReport};
