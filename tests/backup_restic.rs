//! The restic layer against Debian's real restic, on temporary repositories (no Docker):
//! backups and restores compared by checksum, a wrong password, an unreachable server, a full
//! disk, a backup killed midway, retention with injected snapshot times, and checks that read
//! data back.

use commonscloud::backup::{
    expected_kept_with, BackupError, BackupProgress, BackupRequest, ForgetRequest, GroupBy,
    Initialized, Invocation, PolicyRules, Repository, Restic, RestoreRequest, SnapshotFilter,
    StatsMode,
};
use commonscloud::model::node::Keep;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokio::io::AsyncBufReadExt;

const HOST: &str = "t-node";

/// A temporary folder holding a repository, its password file and data to back up.
struct Fixture {
    dir: tempfile::TempDir,
    restic: Restic,
}

impl Fixture {
    async fn new() -> Fixture {
        let f = Fixture::uninitialised();
        let init = run(f.restic.init()).await;
        assert_eq!(init.unwrap_or_else(|e| panic!("{e}")), Initialized::Created);
        f
    }

    fn uninitialised() -> Fixture {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let password_file = write_password(dir.path(), "password");
        let repo = Repository::parse(&dir.path().join("repo").display().to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        let restic = Restic::new(repo, password_file);
        Fixture { dir, restic }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn backup_request(&self, data: &Path, time: Option<OffsetDateTime>) -> BackupRequest {
        BackupRequest {
            paths: vec![data.to_path_buf()],
            tags: vec!["node=t-node".into(), "app=wiki".into()],
            host: HOST.into(),
            time,
        }
    }
}

fn write_password(dir: &Path, name: &str) -> PathBuf {
    let password: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, password).unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .unwrap_or_else(|e| panic!("{e}"));
    path
}

async fn run<T>(inv: Result<Invocation<T>, BackupError>) -> Result<T, BackupError> {
    inv?.run(|_| {}).await
}

async fn must<T>(inv: Result<Invocation<T>, BackupError>) -> T {
    let inv = inv.unwrap_or_else(|e| panic!("{e}"));
    let what = inv.to_string();
    inv.run(|_| {})
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Writes `count` files of `size` bytes: half random, half text-like (compressible). Random
/// bytes come from the kernel: a user-space generator is slow in unoptimised test builds.
fn fill(dir: &Path, count: usize, size: usize) {
    use std::io::Read;
    let mut urandom = std::fs::File::open("/dev/urandom").unwrap_or_else(|e| panic!("{e}"));
    for i in 0..count {
        let sub = dir.join(format!("d{}", i % 4));
        std::fs::create_dir_all(&sub).unwrap_or_else(|e| panic!("{e}"));
        let mut buf = vec![0u8; size];
        urandom
            .read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("{e}"));
        if i % 2 == 1 {
            const TEXT: &[u8; 32] = b"the quick brown fox jumps over\n ";
            for b in buf.iter_mut() {
                *b = TEXT[usize::from(*b & 31)];
            }
        }
        std::fs::write(sub.join(format!("f{i}.bin")), &buf).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// sha256 of every file under `root`, by path relative to it.
fn checksums(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                out.insert(rel, hex::encode(Sha256::digest(&bytes)));
            }
        }
    }
    out
}

/// Where restic puts `data` when restoring into `target`: the absolute path under it.
fn restored(target: &Path, data: &Path) -> PathBuf {
    target.join(data.strip_prefix("/").unwrap_or(data))
}

fn restore_request(snapshot: &str, target: PathBuf) -> RestoreRequest {
    RestoreRequest {
        snapshot: snapshot.to_string(),
        filter: SnapshotFilter::default(),
        target,
        include: vec![],
        verify: true,
    }
}

#[tokio::test]
async fn backup_change_back_up_again_and_restore_the_first_by_checksum() {
    let f = Fixture::new().await;
    assert_eq!(
        must(f.restic.init()).await,
        Initialized::AlreadyExisted,
        "init twice is fine"
    );
    let data = f.path("data");
    fill(&data, 24, 256 * 1024);
    std::fs::write(data.join("notes.txt"), "first version\n").unwrap_or_else(|e| panic!("{e}"));
    let original = checksums(&data);

    let mut progress = Vec::new();
    let first = f
        .restic
        .backup(&f.backup_request(&data, None))
        .unwrap_or_else(|e| panic!("{e}"))
        .run(|line| progress.extend(BackupProgress::from_line(line)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.files_new, 25, "{first:?}");
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    assert!(first.data_added > 3 * 1024 * 1024, "{first:?}");
    assert!(!progress.is_empty(), "status lines reach the callback");
    assert!(progress.iter().all(|p| (0.0..=100.0).contains(&p.percent)));

    // Change one file, delete one, add one.
    std::fs::write(data.join("notes.txt"), "second version\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_file(data.join("d1/f1.bin")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(data.join("new.txt"), "new\n").unwrap_or_else(|e| panic!("{e}"));
    let second = must(f.restic.backup(&f.backup_request(&data, None))).await;
    assert_eq!(
        (second.files_new, second.files_changed),
        (1, 1),
        "{second:?}"
    );
    assert_eq!(second.files_unmodified, 23, "{second:?}");
    assert!(
        second.data_added < 64 * 1024,
        "an incremental backup adds only what changed: {second:?}"
    );

    let all = must(f.restic.snapshots(&SnapshotFilter::default())).await;
    assert_eq!(all.len(), 2);
    assert!(all[0].id.starts_with(&first.snapshot_id));
    assert_eq!(all[1].parent.as_deref(), Some(all[0].id.as_str()));
    assert_eq!(all[0].tag_value("app"), Some("wiki"));
    assert_eq!(all[0].hostname, HOST);
    let filtered = must(f.restic.snapshots(&SnapshotFilter {
        host: Some(HOST.into()),
        tags: vec!["app=wiki".into(), "node=t-node".into()],
    }))
    .await;
    assert_eq!(filtered.len(), 2);
    let other = must(f.restic.snapshots(&SnapshotFilter {
        host: None,
        tags: vec!["app=other".into()],
    }))
    .await;
    assert!(other.is_empty());

    let target = f.path("restore-first");
    must(
        f.restic
            .restore(&restore_request(&first.snapshot_id, target.clone())),
    )
    .await;
    assert_eq!(checksums(&restored(&target, &data)), original);

    // Part of the latest snapshot only.
    let target = f.path("restore-part");
    let mut part = restore_request("latest", target.clone());
    part.filter.tags = vec!["app=wiki".into()];
    part.include = vec![data.join("notes.txt").display().to_string()];
    must(f.restic.restore(&part)).await;
    let got = checksums(&restored(&target, &data));
    assert_eq!(got.keys().collect::<Vec<_>>(), ["notes.txt"]);
    assert_eq!(
        std::fs::read_to_string(restored(&target, &data).join("notes.txt")).ok(),
        Some("second version\n".to_string())
    );

    let e = run(f
        .restic
        .restore(&restore_request("deadbeef", f.path("nope"))))
    .await
    .err()
    .unwrap_or_else(|| panic!("a missing snapshot restored"));
    assert!(matches!(e, BackupError::SnapshotNotFound { .. }), "{e}");

    let stats = must(f.restic.stats(StatsMode::RawData)).await;
    assert!(stats.total_size > 3 * 1024 * 1024, "{stats:?}");
}

#[tokio::test]
async fn wrong_password_is_explained_and_the_repository_still_opens() {
    let f = Fixture::new().await;
    let data = f.path("data");
    fill(&data, 4, 64 * 1024);
    let first = must(f.restic.backup(&f.backup_request(&data, None))).await;

    let wrong_file = write_password(f.dir.path(), "wrong-password");
    let wrong = Restic::new(f.restic.repository().clone(), &wrong_file);
    let e = run(wrong.snapshots(&SnapshotFilter::default()))
        .await
        .err()
        .unwrap_or_else(|| panic!("a wrong password opened the repository"));
    assert!(matches!(e, BackupError::WrongPassword { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("wrong password or no key found"), "{text}");
    assert!(text.contains("copy kept elsewhere"), "{text}");
    assert!(text.contains(&wrong_file.display().to_string()), "{text}");
    let password = std::fs::read_to_string(&wrong_file).unwrap_or_default();
    assert!(
        !text.contains(&password),
        "the password itself is never shown"
    );
    let e = run(wrong.backup(&f.backup_request(&data, None)))
        .await
        .err();
    assert!(
        matches!(e, Some(BackupError::WrongPassword { .. })),
        "{e:?}"
    );

    // The right password still opens it, with the earlier snapshot intact.
    let list = must(f.restic.snapshots(&SnapshotFilter::default())).await;
    assert_eq!(list.len(), 1);
    assert!(list[0].id.starts_with(&first.snapshot_id));
    must(f.restic.check(None)).await;

    let e = run(Restic::new(f.restic.repository().clone(), f.path("absent"))
        .snapshots(&SnapshotFilter::default()))
    .await
    .err();
    assert!(matches!(e, Some(BackupError::PasswordFile { .. })), "{e:?}");
}

#[tokio::test]
async fn unreachable_or_missing_repositories_are_explained() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{e}"))
            .port()
    };
    let f = Fixture::uninitialised();
    let repo = Repository::parse(&format!("rest:http://127.0.0.1:{port}/"))
        .unwrap_or_else(|e| panic!("{e}"));
    let restic = Restic::new(repo, f.restic.password_file());
    for e in [
        run(restic.snapshots(&SnapshotFilter::default()))
            .await
            .err(),
        run(restic.init()).await.err(),
    ] {
        let e = e.unwrap_or_else(|| panic!("a closed port answered"));
        assert!(matches!(e, BackupError::Unreachable { .. }), "{e}");
        let text = e.to_string();
        assert!(text.contains("connection refused"), "{text}");
        assert!(text.contains("REST server runs at that address"), "{text}");
    }

    // sftp through `ssh -o BatchMode=yes`: fails at once, never waits at a prompt. Needs the
    // ssh client (Debian's openssh-client, also in images/backup).
    let has_ssh = std::process::Command::new("ssh").arg("-V").output().is_ok();
    if has_ssh {
        let repo = Repository::parse(&format!("sftp://nobody@127.0.0.1:{port}//srv/repo"))
            .unwrap_or_else(|e| panic!("{e}"));
        let e =
            run(Restic::new(repo, f.restic.password_file()).snapshots(&SnapshotFilter::default()))
                .await
                .err()
                .unwrap_or_else(|| panic!("a closed port answered over ssh"));
        assert!(matches!(e, BackupError::Unreachable { .. }), "{e}");
        assert!(e.to_string().contains("known_hosts"), "{e}");
    } else {
        eprintln!("sftp part skipped: no ssh client on this machine");
    }

    let e = run(f.restic.snapshots(&SnapshotFilter::default()))
        .await
        .err();
    assert!(
        matches!(e, Some(BackupError::RepositoryMissing { .. })),
        "{e:?}"
    );

    let missing = Restic::new(Repository::local("/nonexistent"), "/nonexistent-pw")
        .with_program("/nonexistent/restic");
    let e = run(missing.version()).await.err();
    assert!(
        matches!(e, Some(BackupError::ResticMissing { .. })),
        "{e:?}"
    );
}

/// ~40 snapshot times over four months: sparse and irregular at first, then several a day.
fn snapshot_times() -> Vec<OffsetDateTime> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(40);
    let mut t = datetime!(2024-01-03 02:15 UTC);
    let mut times = Vec::new();
    for _ in 0..28 {
        times.push(t);
        t +=
            Duration::hours(rng.random_range(30..130)) + Duration::minutes(rng.random_range(0..60));
    }
    // The last ten days: daily, some days twice, one day skipped.
    let last = datetime!(2024-04-20 03:30 UTC);
    for d in 0..10 {
        if d == 4 {
            continue;
        }
        times.push(last + Duration::days(d));
        if d % 3 == 0 {
            times.push(last + Duration::days(d) + Duration::hours(11));
        }
    }
    times
}

#[tokio::test]
async fn retention_keeps_exactly_the_expected_snapshots() {
    let f = Fixture::new().await;
    let data = f.path("data");
    fill(&data, 2, 4096);
    let times = snapshot_times();
    assert!((36..=44).contains(&times.len()), "{}", times.len());
    for (i, t) in times.iter().enumerate() {
        std::fs::write(data.join("counter"), i.to_string()).unwrap_or_else(|e| panic!("{e}"));
        must(f.restic.backup(&f.backup_request(&data, Some(*t)))).await;
    }
    let listed: BTreeSet<OffsetDateTime> = must(f.restic.snapshots(&SnapshotFilter::default()))
        .await
        .iter()
        .map(|s| s.time)
        .collect();
    assert_eq!(
        listed,
        times.iter().copied().collect(),
        "--time is honoured"
    );

    let keep = Keep {
        daily: Some(7),
        weekly: Some(4),
        monthly: Some(6),
    };
    let version = must(f.restic.version()).await;
    let expected = expected_kept_with(&times, &keep, PolicyRules::of(version));
    assert!(
        expected.len() < times.len() - 10,
        "the policy must remove a good part: {} of {}",
        expected.len(),
        times.len()
    );

    let mut req = ForgetRequest {
        keep,
        filter: SnapshotFilter {
            host: Some(HOST.into()),
            tags: vec!["app=wiki".into()],
        },
        group_by: GroupBy::Host,
        prune: false,
        dry_run: true,
    };
    let dry = must(f.restic.forget(&req)).await;
    assert_eq!(dry.len(), 1, "one group: {dry:?}");
    let would_keep: BTreeSet<_> = dry[0].keep.iter().map(|s| s.time).collect();
    assert_eq!(would_keep, expected, "restic {version}, dry run");
    assert_eq!(
        must(f.restic.snapshots(&SnapshotFilter::default()))
            .await
            .len(),
        times.len(),
        "a dry run removes nothing"
    );

    req.dry_run = false;
    req.prune = true;
    let groups = must(f.restic.forget(&req)).await;
    assert_eq!(
        groups[0].remove.len(),
        times.len() - expected.len(),
        "{groups:?}"
    );
    let left: BTreeSet<_> = must(f.restic.snapshots(&SnapshotFilter::default()))
        .await
        .iter()
        .map(|s| s.time)
        .collect();
    assert_eq!(
        left, expected,
        "restic {version} kept exactly the predicted snapshots"
    );
    must(f.restic.check(None)).await;
}

#[tokio::test]
async fn a_backup_killed_midway_leaves_the_repository_consistent() {
    let f = Fixture::new().await;
    let data = f.path("data");
    fill(&data, 48, 8 * 1024 * 1024);
    let inv = f
        .restic
        .backup(&f.backup_request(&data, None))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut child = inv
        .command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut seen = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(p) = BackupProgress::from_line(&line) {
            if p.bytes_done > 0 {
                seen = Some(p);
                break;
            }
        }
    }
    let seen = seen.unwrap_or_else(|| panic!("restic ended before any progress"));
    assert!(seen.percent < 100.0, "{seen:?}");
    child.start_kill().unwrap_or_else(|e| panic!("{e}"));
    let status = child.wait().await.unwrap_or_else(|e| panic!("{e}"));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "killed with SIGKILL midway");

    // The killed backup's lock is stale: check refuses until it is removed.
    match run(f.restic.check(None)).await {
        Ok(_) => {}
        Err(BackupError::Locked { holder, .. }) => {
            eprintln!("check after the kill: locked by {holder}; unlocking");
            assert!(holder.contains("PID"), "{holder}");
            must(f.restic.unlock(false)).await;
            let report = must(f.restic.check(None)).await;
            assert_eq!(report.read_data_percent, None);
        }
        Err(e) => panic!("check after a kill: {e}"),
    }
    assert!(
        must(f.restic.snapshots(&SnapshotFilter::default()))
            .await
            .is_empty(),
        "no half snapshot"
    );

    let summary = must(f.restic.backup(&f.backup_request(&data, None))).await;
    assert_eq!(summary.files_new, 48);
    must(f.restic.check(Some(20))).await;
    let target = f.path("restore");
    must(f.restic.restore(&restore_request("latest", target.clone()))).await;
    assert_eq!(checksums(&restored(&target, &data)), checksums(&data));
}

#[tokio::test]
async fn check_reads_back_a_subset_of_the_data() {
    let f = Fixture::new().await;
    let data = f.path("data");
    fill(&data, 8, 512 * 1024);
    must(f.restic.backup(&f.backup_request(&data, None))).await;
    let report = must(f.restic.check(Some(25))).await;
    assert_eq!(report.read_data_percent, Some(25));
    let full = must(f.restic.check(Some(100))).await;
    assert_eq!(full.read_data_percent, Some(100));
}

/// Unmounts on drop, also when the test fails.
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_is_explained_and_earlier_snapshots_stay() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mount = dir.path().join("small");
    std::fs::create_dir(&mount).unwrap_or_else(|e| panic!("{e}"));
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=6m", "tmpfs"])
        .arg(&mount)
        .output();
    if !mounted.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root): {mounted:?}");
        return;
    }
    let _unmount = Tmpfs(mount.clone());
    let password_file = write_password(dir.path(), "password");
    let restic = Restic::new(Repository::local(mount.join("repo")), password_file);
    must(restic.init()).await;

    let small = dir.path().join("small-data");
    fill(&small, 2, 64 * 1024);
    let request = |path: &Path| BackupRequest {
        paths: vec![path.to_path_buf()],
        tags: vec!["app=wiki".into()],
        host: HOST.into(),
        time: None,
    };
    let first = must(restic.backup(&request(&small))).await;

    let big = dir.path().join("big-data");
    fill(&big, 2, 8 * 1024 * 1024);
    let e = run(restic.backup(&request(&big)))
        .await
        .err()
        .unwrap_or_else(|| panic!("16 MB fitted into 6 MB"));
    assert!(matches!(e, BackupError::NoSpace { .. }), "{e}");
    assert!(e.to_string().contains("no space left on device"), "{e}");

    let list = must(restic.snapshots(&SnapshotFilter::default())).await;
    assert_eq!(list.len(), 1);
    let target = dir.path().join("restore");
    must(restic.restore(&restore_request(&first.snapshot_id, target.clone()))).await;
    assert_eq!(checksums(&restored(&target, &small)), checksums(&small));
}
