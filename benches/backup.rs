//! `cargo bench --bench backup` measures, on Debian's restic with a local repository:
//!
//! - a first backup of 2 GB (`COMMONSCLOUD_BENCH_BACKUP_MB`, default 2048) of generated data:
//!   many small files and some large ones, part text-like (compressible, like documents), part
//!   random (like photos and zipped office files), part mixed; deterministic (seeded);
//! - the same data after changing 1 % of it (files rewritten, regions of large files
//!   overwritten, a few files added), backed up again (incremental);
//! - next to each, `tar -czf` of the same folder: what a full-archive format does every time;
//! - the restore of the latest snapshot into an empty folder (throughput).
//!
//! Everything lives in one temporary folder on the same disk, removed at the end (also on a
//! panic); archives and the restored copy are removed as soon as they are measured, so the
//! peak is about three times the data size. Prints a markdown table. Under `cargo test` (no
//! `--bench` argument) it only checks that it builds.

use commonscloud::backup::{BackupRequest, Repository, Restic, StatsMode};
use rand::{Rng, RngCore, SeedableRng};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const SIZE_ENV: &str = "COMMONSCLOUD_BENCH_BACKUP_MB";
const MB: f64 = 1_000_000.0;
const MIB: u64 = 1024 * 1024;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let size_mb: u64 = match std::env::var(SIZE_ENV) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{SIZE_ENV}={v} is not a number of MiB")),
        Err(_) => 2048,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(run(size_mb * MIB));
}

struct Row {
    what: &'static str,
    seconds: f64,
    /// Bytes read (backup, tar) or written (restore).
    processed: u64,
    /// What the step wrote to disk: the repository's growth, or the archive's size.
    written: Option<u64>,
    /// restic's own `data_added` (before compression, in restic 0.14).
    data_added: Option<u64>,
}

async fn run(size: u64) {
    let base = std::env::temp_dir();
    let free = free_bytes(&base);
    let needed = size * 3 + 256 * MIB;
    if free < needed {
        panic!(
            "{} has {} MiB free; this run needs about {} MiB (data, repository, one archive or \
             restore at a time). Set {SIZE_ENV} to a smaller size.",
            base.display(),
            free / MIB,
            needed / MIB
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("cc-bench-backup-")
        .tempdir_in(&base)
        .unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("data");
    let password = dir.path().join("password");
    std::fs::write(&password, "bench-password-not-secret").unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600))
        .unwrap_or_else(|e| panic!("{e}"));
    let repo = dir.path().join("repo");
    let restic = Restic::new(Repository::local(&repo), &password);
    let version = restic
        .version()
        .unwrap_or_else(|e| panic!("{e}"))
        .run(|_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let started = Instant::now();
    let generated = generate(&data, size);
    eprintln!(
        "generated {} files, {} MiB in {:.1} s",
        generated.files,
        generated.bytes / MIB,
        started.elapsed().as_secs_f64()
    );
    sync();
    restic
        .init()
        .unwrap_or_else(|e| panic!("{e}"))
        .run(|_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let request = BackupRequest {
        paths: vec![data.clone()],
        tags: vec!["app=bench".into()],
        host: "bench".into(),
        time: None,
    };
    let mut rows = Vec::new();

    let before = tree_bytes(&repo);
    let (secs, first) = timed_backup(&restic, &request).await;
    rows.push(Row {
        what: "restic, first backup",
        seconds: secs,
        processed: first.total_bytes_processed,
        written: Some(tree_bytes(&repo) - before),
        data_added: Some(first.data_added),
    });
    let (secs, archive) = timed_tar(&data, dir.path());
    rows.push(Row {
        what: "tar -czf, first",
        seconds: secs,
        processed: generated.bytes,
        written: Some(archive),
        data_added: None,
    });

    let changed = change_one_percent(&data, size);
    eprintln!("changed {} MiB ({changed:?})", changed.bytes / MIB);
    sync();
    let total = tree_bytes(&data);
    let before = tree_bytes(&repo);
    let (secs, second) = timed_backup(&restic, &request).await;
    let incremental_restic = secs;
    rows.push(Row {
        what: "restic, incremental (1 % changed)",
        seconds: secs,
        processed: second.total_bytes_processed,
        written: Some(tree_bytes(&repo) - before),
        data_added: Some(second.data_added),
    });
    let (secs, archive) = timed_tar(&data, dir.path());
    let incremental_tar = secs;
    rows.push(Row {
        what: "tar -czf, again (1 % changed)",
        seconds: secs,
        processed: total,
        written: Some(archive),
        data_added: None,
    });

    let repo_size = restic
        .stats(StatsMode::RawData)
        .unwrap_or_else(|e| panic!("{e}"))
        .run(|_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .total_size;

    let target = dir.path().join("restore");
    let started = Instant::now();
    restic
        .restore(&commonscloud::backup::RestoreRequest {
            snapshot: second.snapshot_id.clone(),
            filter: Default::default(),
            target: target.clone(),
            include: vec![],
            verify: false,
        })
        .unwrap_or_else(|e| panic!("{e}"))
        .run(|_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sync();
    let secs = started.elapsed().as_secs_f64();
    let restored = tree_bytes(&target);
    assert_eq!(restored, total, "the restore wrote back every byte");
    rows.push(Row {
        what: "restic, restore of the latest snapshot",
        seconds: secs,
        processed: restored,
        written: Some(restored),
        data_added: None,
    });
    std::fs::remove_dir_all(&target).unwrap_or_else(|e| panic!("{e}"));

    println!();
    println!(
        "restic {version}, {} MiB in {} files ({} small, {} large), {} changed in {} files and \
         {} new files; repository after both: {:.0} MiB",
        generated.bytes / MIB,
        generated.files,
        generated.small_files,
        generated.files - generated.small_files,
        human(changed.bytes),
        changed.modified,
        changed.added,
        repo_size as f64 / MIB as f64
    );
    println!();
    println!("| step | seconds | MB/s (of all the data) | written to disk | restic data_added |");
    println!("|---|---:|---:|---:|---:|");
    let show = |v: Option<u64>| v.map(human).unwrap_or_else(|| "—".into());
    for r in &rows {
        println!(
            "| {} | {:.2} | {:.0} | {} | {} |",
            r.what,
            r.seconds,
            r.processed as f64 / MB / r.seconds.max(1e-9),
            show(r.written),
            show(r.data_added)
        );
    }
    println!();
    println!(
        "incremental: restic {incremental_restic:.2} s vs tar.gz {incremental_tar:.2} s = {:.1}× \
         faster (target ≥ 10×)",
        incremental_tar / incremental_restic.max(1e-9)
    );
    drop(dir);
}

async fn timed_backup(
    restic: &Restic,
    request: &BackupRequest,
) -> (f64, commonscloud::backup::BackupSummary) {
    let started = Instant::now();
    let summary = restic
        .backup(request)
        .unwrap_or_else(|e| panic!("{e}"))
        .run(|_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sync();
    let secs = started.elapsed().as_secs_f64();
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    (secs, summary)
}

/// `tar -czf` of `data` into `scratch`, timed until the archive is on disk; the archive is
/// removed afterwards. Returns the seconds and the archive's size.
fn timed_tar(data: &Path, scratch: &Path) -> (f64, u64) {
    let archive = scratch.join("full.tar.gz");
    let started = Instant::now();
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(data)
        .arg(".")
        .status()
        .unwrap_or_else(|e| panic!("tar: {e}"));
    assert!(status.success(), "tar failed: {status}");
    sync();
    let secs = started.elapsed().as_secs_f64();
    let size = std::fs::metadata(&archive)
        .map(|m| m.len())
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_file(&archive).unwrap_or_else(|e| panic!("{e}"));
    (secs, size)
}

/// Flushes written data to disk, so each step pays for its own writes.
fn sync() {
    let _ = Command::new("sync").status();
}

fn free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("df: {e}"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

fn tree_bytes(root: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let entry = entry.unwrap_or_else(|e| panic!("{e}"));
            let meta = entry.metadata().unwrap_or_else(|e| panic!("{e}"));
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

fn human(bytes: u64) -> String {
    if bytes >= 10 * MIB {
        format!("{:.0} MiB", bytes as f64 / MIB as f64)
    } else if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    }
}

struct Generated {
    files: usize,
    small_files: usize,
    bytes: u64,
}

/// The kind of content of a file.
#[derive(Clone, Copy)]
enum Content {
    /// Words: compresses about 3:1, like documents and source code.
    Text,
    /// Random bytes: incompressible, like photos, videos and zipped office files.
    Random,
    /// Blocks of both, like PDFs with embedded images.
    Mixed,
}

const WORDS: &[&str] = &[
    "the",
    "cooperative",
    "members",
    "assembly",
    "decided",
    "to",
    "share",
    "a",
    "server",
    "and",
    "its",
    "backups",
    "every",
    "night",
    "minutes",
    "of",
    "meeting",
    "budget",
    "proposal",
    "agreed",
    "with",
    "amendments",
    "next",
    "steps",
    "documentation",
    "wiki",
    "page",
    "edited",
    "by",
    "several",
    "people",
    "calendar",
    "invoice",
    "2024",
    "report",
    "annual",
    "commons",
    "free",
    "software",
    "licence",
    "volunteers",
    "training",
    "workshop",
    "notes",
    "on",
    "accounts",
    "password",
    "policy",
    "data",
    "protection",
    "privacy",
    "we",
    "our",
    "will",
];

fn fill(rng: &mut impl RngCore, kind: Content, buf: &mut Vec<u8>, len: usize) {
    buf.clear();
    match kind {
        Content::Random => {
            buf.resize(len, 0);
            rng.fill_bytes(buf);
        }
        Content::Text => {
            while buf.len() < len {
                let w = WORDS[(rng.next_u32() as usize) % WORDS.len()];
                buf.extend_from_slice(w.as_bytes());
                buf.push(if rng.next_u32().is_multiple_of(12) {
                    b'\n'
                } else {
                    b' '
                });
            }
            buf.truncate(len);
        }
        Content::Mixed => {
            let mut block = Vec::new();
            while buf.len() < len {
                let n = (len - buf.len()).min(64 * 1024);
                let kind = if rng.next_u32().is_multiple_of(2) {
                    Content::Text
                } else {
                    Content::Random
                };
                fill(rng, kind, &mut block, n);
                buf.extend_from_slice(&block);
            }
        }
    }
}

fn content_for(rng: &mut impl Rng) -> Content {
    match rng.random_range(0..10) {
        0..=3 => Content::Text,
        4..=7 => Content::Random,
        _ => Content::Mixed,
    }
}

/// A quarter of the bytes in small files (1–64 KiB, 100 to a folder), the rest in large files
/// (4–64 MiB).
fn generate(root: &Path, size: u64) -> Generated {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xC0FFEE);
    let mut buf = Vec::new();
    let mut generated = Generated {
        files: 0,
        small_files: 0,
        bytes: 0,
    };
    let small_budget = size / 4;
    let mut written = 0u64;
    while written < small_budget {
        let len = rng
            .random_range(1024..64 * 1024)
            .min(small_budget - written) as usize;
        let i = generated.files;
        let path = root.join(format!("docs/d{:03}/f{i:05}.odt", i / 100));
        let kind = content_for(&mut rng);
        fill(&mut rng, kind, &mut buf, len);
        write(&path, &buf);
        written += len as u64;
        generated.files += 1;
        generated.small_files += 1;
    }
    while written < size {
        let len = rng.random_range(4 * MIB..64 * MIB).min(size - written) as usize;
        let i = generated.files;
        let path = root.join(format!("media/m{i:05}.bin"));
        let kind = content_for(&mut rng);
        fill(&mut rng, kind, &mut buf, len);
        write(&path, &buf);
        written += len as u64;
        generated.files += 1;
    }
    generated.bytes = written;
    generated
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[derive(Debug)]
struct Changed {
    bytes: u64,
    modified: usize,
    added: usize,
}

/// Changes about 1 % of `size`: a third by rewriting small files, a third by overwriting a
/// 1 MiB region in large files, a third as new files.
fn change_one_percent(root: &Path, size: u64) -> Changed {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xC4A11E);
    let target = size / 100;
    let mut changed = Changed {
        bytes: 0,
        modified: 0,
        added: 0,
    };
    let mut buf = Vec::new();
    let mut small = files_under(&root.join("docs"));
    let mut large = files_under(&root.join("media"));
    small.sort();
    large.sort();

    let third = target / 3;
    let mut done = 0;
    while done < third && !small.is_empty() {
        let path = small.swap_remove(rng.random_range(0..small.len()));
        let len = rng.random_range(1024..64 * 1024);
        let kind = content_for(&mut rng);
        fill(&mut rng, kind, &mut buf, len);
        write(&path, &buf);
        done += len as u64;
        changed.modified += 1;
    }
    changed.bytes += done;

    let mut done = 0;
    while done < third && !large.is_empty() {
        let path = large.swap_remove(rng.random_range(0..large.len()));
        let file_len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let region = MIB.min(file_len);
        let at = rng.random_range(0..=file_len - region);
        fill(&mut rng, Content::Random, &mut buf, region as usize);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{e}"));
        use std::io::{Seek, SeekFrom};
        f.seek(SeekFrom::Start(at))
            .unwrap_or_else(|e| panic!("{e}"));
        f.write_all(&buf).unwrap_or_else(|e| panic!("{e}"));
        done += region;
        changed.modified += 1;
    }
    changed.bytes += done;

    let mut done = 0;
    while done < target - 2 * third {
        let len = rng
            .random_range(256 * 1024..4 * MIB)
            .min(target - 2 * third - done) as usize;
        let path = root.join(format!("new/n{:03}.odt", changed.added));
        let kind = content_for(&mut rng);
        fill(&mut rng, kind, &mut buf, len);
        write(&path, &buf);
        done += len as u64;
        changed.added += 1;
    }
    changed.bytes += done;
    changed
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
