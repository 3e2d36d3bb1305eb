//! Restores: one app (or the directory) back to a snapshot after a safety snapshot of what is
//! there, and a whole node rebuilt on a fresh machine from its repository and password alone.

use super::*;

/// Remote credentials from this process's environment (`AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY`; `RESTIC_REST_USER` and `RESTIC_REST_PASSWORD`), for a restore on a
/// machine whose secret store is not there yet.
fn env_credentials(repo: &Repository) -> backup::Credentials {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    match repo.kind() {
        backup::RepositoryKind::S3 => {
            match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
                (Some(id), Some(key)) => backup::Credentials::s3(id, key),
                _ => backup::Credentials::none(),
            }
        }
        backup::RepositoryKind::Rest => {
            match (var("RESTIC_REST_USER"), var("RESTIC_REST_PASSWORD")) {
                (Some(u), Some(p)) => backup::Credentials::rest(u, p),
                _ => backup::Credentials::none(),
            }
        }
        _ => backup::Credentials::none(),
    }
}

/// What a restore did.
#[derive(Debug, Serialize, Default)]
pub struct RestoreReport {
    pub app: String,
    pub snapshot: String,
    /// The snapshot made of what was about to be overwritten.
    pub safety_snapshot: Option<String>,
    pub volumes: Vec<String>,
    pub dumps: Vec<String>,
}

/// Find `snapshot` (an id or its prefix, or `latest`) among `app`'s snapshots.
fn pick<'a>(list: &'a [Snapshot], app: &str, snapshot: &str) -> Result<&'a Snapshot, OpsError> {
    let mine: Vec<&Snapshot> = list
        .iter()
        .filter(|s| s.tag_value("app") == Some(app))
        .collect();
    let found = if snapshot == "latest" {
        mine.last().copied()
    } else {
        mine.iter()
            .copied()
            .find(|s| s.id.starts_with(snapshot) || s.short_id == snapshot)
    };
    found.ok_or_else(|| {
        OpsError::Refused(format!(
            "no snapshot `{snapshot}` of `{app}` in the repository; `commonscloud backup list` shows them"
        ))
    })
}

/// Put `unit`'s data from `snapshot` back into its volumes and leave its dumps to be loaded by
/// the next `up`. The unit's containers must be stopped.
async fn restore_unit_data(
    engine: &Engine,
    t: &Target,
    unit: &Unit,
    snapshot: &Snapshot,
    progress: &Progress,
) -> Result<RestoreReport, OpsError> {
    let node = &t.node;
    let mut report = RestoreReport {
        app: unit.app.clone(),
        snapshot: snapshot.short_id.clone(),
        ..Default::default()
    };
    let mut volumes = unit.mounts(false);
    // The volumes are emptied first: a restore gives back the snapshot, not a mix.
    if !volumes.is_empty() {
        let targets: Vec<String> = volumes.iter().map(|m| m.target.clone()).collect();
        let script = format!(
            "set -e; for d in {}; do find \"$d\" -mindepth 1 -delete; done",
            targets.join(" ")
        );
        t.shell(engine, &script, volumes.clone()).await?;
        report.volumes = unit.volumes.iter().map(|(d, _)| d.clone()).collect();
    }
    let mut include = unit.paths();
    let mut renames = vec![];
    for d in &unit.dumps {
        let dir = format!("{}/dumps/{}", container::BACKUP_ROOT, d.service());
        if snapshot.paths.iter().any(|p| p == &d.path(&unit.app)) {
            volumes.push(MountSpec {
                volume: dumps_volume(node, d.service()),
                target: dir.clone(),
                read_only: false,
            });
            include.push(d.path(&unit.app));
            let to = match d {
                DumpSource::Addon(_) => addons::restore_file(&unit.app),
                DumpSource::Directory => "restore.ldif".to_string(),
            };
            renames.push(format!("mv {dir}/{} {dir}/{to}", d.file(&unit.app)));
            report.dumps.push(format!("{}/{}", d.service(), to));
        }
    }
    if include.is_empty() {
        return Ok(report);
    }
    let bar = progress.bar(format!("restore {}", unit.app));
    let req = RestoreRequest {
        snapshot: snapshot.id.clone(),
        filter: SnapshotFilter::default(),
        target: PathBuf::from("/"),
        include,
        verify: false,
    };
    let r = t
        .run(
            engine,
            t.restic.restore(&req)?,
            volumes.clone(),
            vec![],
            |_| {},
        )
        .await;
    bar.finish_and_clear();
    r?;
    if !renames.is_empty() {
        t.shell(engine, &format!("set -e; {}", renames.join("; ")), volumes)
            .await?;
    }
    Ok(report)
}

/// `backup restore APP SNAPSHOT`: back up what is there now, stop the app, put the snapshot's
/// volumes and dumps back, then `up` (which loads the dumps and starts the app, health-gated).
pub async fn restore_app(
    engine: &Engine,
    paths: &NodePaths,
    loaded: &Loaded,
    app: &str,
    snapshot: &str,
    progress: &Progress,
) -> Result<RestoreReport, OpsError> {
    if app == NODE_UNIT {
        return Err(OpsError::Refused(
            "the node itself is restored on a fresh machine with `commonscloud restore --from REPO`"
                .into(),
        ));
    }
    let node = loaded.node.node_id();
    let report = {
        let _lock = lock(paths)?;
        let journal = Journal::open(paths.journal_file())?;
        let id = journal.begin("backup restore", &node, app, OffsetDateTime::now_utc())?;
        let r = async {
            let desired = crate::ops::desired(paths, loaded, SecretsMode::ReadOnly)?;
            let unit = units(loaded, &desired, Some(app))
                .into_iter()
                .next()
                .ok_or_else(|| {
                    OpsError::Refused(format!(
                        "node.yaml has no app `{app}` with data to restore; `commonscloud status` lists the apps"
                    ))
                })?;
            let (t, _) = node_target(engine, paths, loaded, false, progress).await?;
            let list = t.snapshots(engine, vec![format!("node={node}")]).await?;
            let chosen = pick(&list, app, snapshot)?.clone();
            // Never overwrite without a fresh backup of what is there.
            let safety = backup_unit(engine, paths, loaded, &t, &unit, progress)
                .await
                .map_err(|e| {
                    OpsError::Refused(format!(
                        "the backup of `{app}` before restoring failed, so nothing was restored: {e}"
                    ))
                })?;
            for c in engine
                .list_containers(&[(labels::NODE, node.as_str()), (labels::APP, app)])
                .await?
            {
                engine.stop_container(&c.id, None).await?;
            }
            let mut report = restore_unit_data(engine, &t, &unit, &chosen, progress).await?;
            report.safety_snapshot = Some(safety.snapshot_id);
            Ok::<_, OpsError>(report)
        }
        .await;
        let (outcome, detail) = match &r {
            Ok(rep) => (
                Outcome::Succeeded,
                serde_json::to_string(rep).unwrap_or_default(),
            ),
            Err(e) => (Outcome::Failed, e.to_string()),
        };
        journal.finish(id, outcome, &detail, OffsetDateTime::now_utc())?;
        r?
    };
    let desired = crate::ops::desired(paths, loaded, SecretsMode::Create)?;
    let up = crate::ops::up(engine, paths, loaded, &desired, progress).await?;
    if !up.apply.succeeded() {
        return Err(OpsError::Refused(format!(
            "`{app}` was restored from {} but did not come back healthy; its state before the restore is snapshot {} (`commonscloud backup restore {app} {}`)",
            report.snapshot,
            report.safety_snapshot.as_deref().unwrap_or("?"),
            report.safety_snapshot.as_deref().unwrap_or("?"),
        )));
    }
    Ok(report)
}

/// What `restore --from` did.
#[derive(Debug, Serialize, Default)]
pub struct NodeRestoreReport {
    pub node: String,
    pub node_snapshot: String,
    pub apps: Vec<RestoreReport>,
}

/// `commonscloud restore --from REPO`: rebuild a node on a machine that has none of it, from
/// its repository and password alone: node.yaml, the supervisor's state (secrets,
/// certificates, journal), every app's volumes and databases and the directory, then `up`.
pub async fn restore_node(
    engine: &Engine,
    paths: &NodePaths,
    repository: &str,
    password: &Path,
    node: Option<&str>,
    progress: &Progress,
) -> Result<NodeRestoreReport, OpsError> {
    if paths.config.exists() {
        return Err(OpsError::Refused(format!(
            "{} exists: this machine already has a node; restore on a fresh machine, or move that file away first",
            paths.config.display()
        )));
    }
    let staging_name = format!(".cc-restore-{:08x}", rand::random::<u32>());
    // The one-shot's labels need a node name; the node's own is known only once its
    // snapshot is read.
    // Nothing is written on this machine before the node's own files come back (its secret
    // store among them): remote credentials come from the environment here.
    let creds = env_credentials(&Repository::parse(repository)?);
    let t = target(
        engine, paths, "restore", repository, password, false, creds, progress,
    )
    .await?;
    let all = t
        .snapshots(engine, vec![format!("app={NODE_UNIT}")])
        .await?;
    let mut nodes: Vec<String> = all
        .iter()
        .filter_map(|s| s.tag_value("node").map(str::to_string))
        .collect();
    nodes.sort();
    nodes.dedup();
    let name =
        match (node, nodes.as_slice()) {
            (Some(n), _) if nodes.iter().any(|x| x == n) => n.to_string(),
            (Some(n), _) => {
                return Err(OpsError::Refused(format!(
                    "the repository has no snapshot of node `{n}`; it has: {}",
                    nodes.join(", ")
                )))
            }
            (None, [one]) => one.clone(),
            (None, []) => return Err(OpsError::Refused(
                "the repository holds no snapshot of a node (made by `commonscloud backup now`)"
                    .into(),
            )),
            (None, many) => {
                return Err(OpsError::Refused(format!(
                    "the repository holds several nodes ({}); choose one with --node",
                    many.join(", ")
                )))
            }
        };
    let node_snapshot = all
        .iter()
        .rfind(|s| s.tag_value("node") == Some(name.as_str()))
        .cloned()
        .ok_or_else(|| OpsError::Refused(format!("no snapshot of node `{name}`")))?;
    // 1. The node's files, through a staging folder next to the state folder.
    std::fs::create_dir_all(&paths.state_dir).map_err(|e| io(&paths.state_dir, e))?;
    let staging = paths
        .state_dir
        .parent()
        .unwrap_or(Path::new("/"))
        .join(&staging_name);
    std::fs::create_dir_all(&staging).map_err(|e| io(&staging, e))?;
    let restored = async {
        let job_binds = vec![BindSpec {
            source: staging.clone(),
            target: container::RESTORE_ROOT.to_string(),
            read_only: false,
        }];
        let req = RestoreRequest {
            snapshot: node_snapshot.id.clone(),
            filter: SnapshotFilter::default(),
            target: PathBuf::from(container::RESTORE_ROOT),
            include: vec![format!("{}/node", container::BACKUP_ROOT)],
            verify: false,
        };
        t.run(engine, t.restic.restore(&req)?, vec![], job_binds, |_| {})
            .await?;
        let root = staging.join("backup").join("node");
        if let Some(dir) = paths.config.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        std::fs::copy(root.join("node.yaml"), &paths.config).map_err(|e| io(&paths.config, e))?;
        let state = root.join("state");
        for e in std::fs::read_dir(&state).map_err(|e| io(&state, e))? {
            let e = e.map_err(|e| io(&state, e))?;
            let to = paths.state_dir.join(e.file_name());
            if to.exists() {
                return Err(OpsError::Refused(format!(
                    "{} exists already; restore into an empty state folder",
                    to.display()
                )));
            }
            std::fs::rename(e.path(), &to).map_err(|err| io(&to, err))?;
        }
        Ok::<_, OpsError>(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&staging);
    restored?;
    // 2. Every app's data into fresh volumes.
    let loaded = crate::ops::load(paths)?;
    let desired = crate::ops::desired(paths, &loaded, SecretsMode::Create)?;
    for v in &desired.volumes {
        engine.ensure_volume(v).await?;
    }
    let (t, _) = node_target(engine, paths, &loaded, false, progress).await?;
    let list = t.snapshots(engine, vec![format!("node={name}")]).await?;
    let mut report = NodeRestoreReport {
        node: name.clone(),
        node_snapshot: node_snapshot.short_id.clone(),
        apps: vec![],
    };
    for unit in units(&loaded, &desired, None) {
        if unit.app == NODE_UNIT {
            continue;
        }
        let Ok(chosen) = pick(&list, &unit.app, "latest") else {
            continue; // never backed up: it starts empty
        };
        let r = restore_unit_data(engine, &t, &unit, chosen, progress).await?;
        report.apps.push(r);
    }
    // 3. Up: the directory loads its LDIF, the addons the dumps, then the apps start.
    let up = crate::ops::up(engine, paths, &loaded, &desired, progress).await?;
    if !up.apply.succeeded() {
        return Err(OpsError::Refused(
            "the node's data is restored, but it did not come up healthy; `commonscloud status` shows what, `commonscloud up` tries again".into(),
        ));
    }
    Ok(report)
}
