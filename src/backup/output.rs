//! What restic answers, read into plain values: the `--json` documents of restic 0.14 where it
//! has them (backup, snapshots, forget, stats), its exit code and text where it has not
//! (init, check, restore, unlock, prune, version).

use super::error::{classify, detail, BackupError, Context};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

/// A finished restic run, its output already redacted.
pub(crate) struct Finished<'a> {
    pub exit_code: i64,
    pub stdout: &'a str,
    pub stderr: &'a str,
}

/// How `init` went: both are fine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Initialized {
    Created,
    /// A repository was there already. Whether it opens with this password shows at the next
    /// command ([`BackupError::WrongPassword`]).
    AlreadyExisted,
}

pub(crate) fn init(ctx: &Context, run: &Finished) -> Result<Initialized, BackupError> {
    if run.exit_code == 0 {
        return Ok(Initialized::Created);
    }
    let low = run.stderr.to_lowercase();
    if low.contains("config file already exists") || low.contains("already initialized") {
        return Ok(Initialized::AlreadyExisted);
    }
    Err(classify(ctx, run.exit_code, run.stderr))
}

/// One `status` line of `restic backup --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupProgress {
    /// 0 to 100.
    pub percent: f64,
    pub bytes_done: u64,
    pub total_bytes: u64,
    pub files_done: u64,
    pub total_files: u64,
    pub seconds_elapsed: u64,
    /// The files being read now (paths as restic shows them).
    pub current_files: Vec<String>,
}

#[derive(Deserialize)]
struct StatusLine {
    message_type: String,
    #[serde(default)]
    percent_done: f64,
    #[serde(default)]
    bytes_done: u64,
    #[serde(default)]
    total_bytes: u64,
    #[serde(default)]
    files_done: u64,
    #[serde(default)]
    total_files: u64,
    #[serde(default)]
    seconds_elapsed: u64,
    #[serde(default)]
    current_files: Option<Vec<String>>,
}

impl BackupProgress {
    /// Reads one line of `restic backup --json`; `None` for anything but a status line.
    pub fn from_line(line: &str) -> Option<BackupProgress> {
        let line = line.trim();
        if !line.starts_with('{') || !line.contains("\"status\"") {
            return None;
        }
        let s: StatusLine = serde_json::from_str(line).ok()?;
        if s.message_type != "status" {
            return None;
        }
        Some(BackupProgress {
            percent: (s.percent_done * 100.0).clamp(0.0, 100.0),
            bytes_done: s.bytes_done,
            total_bytes: s.total_bytes,
            files_done: s.files_done,
            total_files: s.total_files,
            seconds_elapsed: s.seconds_elapsed,
            current_files: s.current_files.unwrap_or_default(),
        })
    }
}

/// Whether a line of `restic backup --json` is a status line (not worth keeping).
pub(crate) fn is_status_line(line: &str) -> bool {
    line.starts_with("{\"message_type\":\"status\"")
}

/// The end of a backup: the new snapshot and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupSummary {
    /// The snapshot's id as restic printed it (restic 0.14: the short id, 8 hex digits, which
    /// every restic command accepts).
    pub snapshot_id: String,
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unmodified: u64,
    pub dirs_new: u64,
    pub dirs_changed: u64,
    pub dirs_unmodified: u64,
    pub data_blobs: u64,
    pub tree_blobs: u64,
    /// Bytes added to the repository (after deduplication and compression).
    pub data_added: u64,
    pub total_files_processed: u64,
    pub total_bytes_processed: u64,
    /// Seconds, as restic measured them.
    #[serde(rename = "total_duration")]
    pub duration_seconds: f64,
    /// Files or folders restic could not read or skipped (a missing path), and its other
    /// warnings. The snapshot exists but lacks them.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl BackupSummary {
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration_seconds.max(0.0))
    }
}

#[derive(Deserialize)]
struct ErrorLine {
    #[serde(default)]
    error: serde_json::Value,
    #[serde(default)]
    during: String,
    #[serde(default)]
    item: String,
}

pub(crate) fn backup(ctx: &Context, run: &Finished) -> Result<BackupSummary, BackupError> {
    // 3: the snapshot was made but some files could not be read.
    if run.exit_code != 0 && run.exit_code != 3 {
        return Err(classify(ctx, run.exit_code, run.stderr));
    }
    let mut summary = None;
    let mut warnings = Vec::new();
    for line in run.stdout.lines().map(str::trim) {
        if !line.starts_with('{') || is_status_line(line) {
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match v.get("message_type").and_then(|m| m.as_str()) {
            Some("summary") => {
                summary = Some(serde_json::from_value::<BackupSummary>(v).map_err(|e| {
                    BackupError::Output {
                        operation: ctx.operation,
                        problem: format!("summary line: {e}"),
                    }
                })?)
            }
            Some("error") => {
                if let Ok(e) = serde_json::from_value::<ErrorLine>(v) {
                    let what = match &e.error {
                        serde_json::Value::Object(m) if m.is_empty() => "error".to_string(),
                        serde_json::Value::Null => "error".to_string(),
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    warnings.push(format!("{} ({}): {what}", e.item, e.during));
                }
            }
            _ => {}
        }
    }
    warnings.extend(
        run.stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("using temporary cache"))
            .map(str::to_string),
    );
    let mut summary = summary.ok_or_else(|| BackupError::Output {
        operation: ctx.operation,
        problem: format!("no summary line (restic said: {})", detail(run.stderr)),
    })?;
    summary.warnings = warnings;
    Ok(summary)
}

/// One snapshot of the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: String,
    pub short_id: String,
    /// When the snapshot was taken (or the time given with `--time`), in the offset restic
    /// recorded: retention buckets (days, weeks, months) are counted in that offset.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub username: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub paths: Vec<String>,
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default)]
    pub tree: String,
}

impl Snapshot {
    /// The value of a `key=value` tag (`app=wiki` → `Some("wiki")` for `key` `app`).
    pub fn tag_value(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find_map(|t| t.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

fn null_as_empty_snapshots<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<Snapshot>, D::Error> {
    Ok(Option::<Vec<Snapshot>>::deserialize(d)?.unwrap_or_default())
}

/// The first line of stdout that is a JSON array (restic 0.14 prints prune's text after the
/// JSON of `forget --prune`), or `None` when restic printed none.
fn json_array_line(stdout: &str) -> Option<&str> {
    stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with('[') || *l == "null")
}

pub(crate) fn snapshots(ctx: &Context, run: &Finished) -> Result<Vec<Snapshot>, BackupError> {
    if run.exit_code != 0 {
        return Err(classify(ctx, run.exit_code, run.stderr));
    }
    let Some(line) = json_array_line(run.stdout) else {
        return Ok(vec![]);
    };
    let list: Option<Vec<Snapshot>> =
        serde_json::from_str(line).map_err(|e| BackupError::Output {
            operation: ctx.operation,
            problem: format!("snapshot list: {e}"),
        })?;
    let mut list = list.unwrap_or_default();
    list.sort_by_key(|s| s.time);
    Ok(list)
}

/// What `forget` kept and removed in one group of snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgetGroup {
    /// The group's host (when grouping by host).
    #[serde(default)]
    pub host: Option<String>,
    /// The group's tags (when grouping by tags).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tags: Vec<String>,
    /// The group's paths (when grouping by paths).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub paths: Vec<String>,
    #[serde(default, deserialize_with = "null_as_empty_snapshots")]
    pub keep: Vec<Snapshot>,
    #[serde(default, deserialize_with = "null_as_empty_snapshots")]
    pub remove: Vec<Snapshot>,
}

pub(crate) fn forget(ctx: &Context, run: &Finished) -> Result<Vec<ForgetGroup>, BackupError> {
    if run.exit_code != 0 {
        return Err(classify(ctx, run.exit_code, run.stderr));
    }
    let Some(line) = json_array_line(run.stdout) else {
        return Ok(vec![]);
    };
    let groups: Option<Vec<ForgetGroup>> =
        serde_json::from_str(line).map_err(|e| BackupError::Output {
            operation: ctx.operation,
            problem: format!("forget groups: {e}"),
        })?;
    Ok(groups.unwrap_or_default())
}

/// A passed `restic check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// The share of pack data read and verified (`Some(100)`: all of it; `None`: structure
    /// only).
    pub read_data_percent: Option<u8>,
    /// Notes that are not errors, e.g. unreferenced packs left by an interrupted backup
    /// (removed by the next prune).
    pub notes: Vec<String>,
}

pub(crate) fn check(
    ctx: &Context,
    run: &Finished,
    read_data_percent: Option<u8>,
) -> Result<CheckReport, BackupError> {
    if run.exit_code != 0 {
        return Err(classify(ctx, run.exit_code, run.stderr));
    }
    let out = format!("{}\n{}", run.stdout, run.stderr);
    if !out.contains("no errors were found") {
        return Err(BackupError::Output {
            operation: ctx.operation,
            problem: format!("no \"no errors were found\" ({})", detail(&out)),
        });
    }
    let notes = out
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.contains("not referenced in any index")
                || l.contains("additional files were found")
                || l.contains("non-critical")
        })
        .map(str::to_string)
        .collect();
    Ok(CheckReport {
        read_data_percent,
        notes,
    })
}

/// Success is exit code 0, nothing to read.
pub(crate) fn unit(ctx: &Context, run: &Finished) -> Result<(), BackupError> {
    if run.exit_code == 0 {
        Ok(())
    } else {
        Err(classify(ctx, run.exit_code, run.stderr))
    }
}

/// Sizes from `restic stats --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Bytes: the files as restored (restore-size) or the stored blobs (raw-data).
    pub total_size: u64,
    #[serde(default)]
    pub total_file_count: u64,
    #[serde(default)]
    pub snapshots_count: Option<u64>,
    #[serde(default)]
    pub total_blob_count: Option<u64>,
    /// raw-data mode on a compressed repository: the blobs before compression.
    #[serde(default)]
    pub total_uncompressed_size: Option<u64>,
    #[serde(default)]
    pub compression_ratio: Option<f64>,
}

pub(crate) fn stats(ctx: &Context, run: &Finished) -> Result<Stats, BackupError> {
    if run.exit_code != 0 {
        return Err(classify(ctx, run.exit_code, run.stderr));
    }
    let line = run
        .stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| BackupError::Output {
            operation: ctx.operation,
            problem: "no JSON document".into(),
        })?;
    serde_json::from_str(line).map_err(|e| BackupError::Output {
        operation: ctx.operation,
        problem: e.to_string(),
    })
}

/// restic's version, e.g. 0.14.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ResticVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl ResticVersion {
    /// Reads `restic 0.14.0 compiled with go1.19.8 on linux/amd64`.
    pub fn parse(text: &str) -> Option<ResticVersion> {
        let v = text
            .split_whitespace()
            .skip_while(|w| *w != "restic")
            .nth(1)?;
        let v = v.trim_start_matches('v');
        let mut parts = v.split(['.', '-', '+']).map(|p| p.parse::<u32>().ok());
        Some(ResticVersion {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next().flatten().unwrap_or(0),
        })
    }
}

impl std::fmt::Display for ResticVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

pub(crate) fn version(ctx: &Context, run: &Finished) -> Result<ResticVersion, BackupError> {
    if run.exit_code != 0 {
        return Err(classify(ctx, run.exit_code, run.stderr));
    }
    ResticVersion::parse(run.stdout).ok_or_else(|| BackupError::Output {
        operation: ctx.operation,
        problem: format!("no version in `{}`", run.stdout.trim()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::repository::RepositoryKind;

    fn ctx(operation: &'static str) -> Context {
        Context {
            operation,
            repository: "/srv/repo".into(),
            password_file: "/run/secrets/restic-password".into(),
            kind: RepositoryKind::Local,
            snapshot: None,
        }
    }

    fn ok(stdout: &str) -> Finished<'_> {
        Finished {
            exit_code: 0,
            stdout,
            stderr: "",
        }
    }

    // restic 0.14.0's own output.
    const BACKUP: &str = r#"{"message_type":"status","percent_done":0,"total_files":1,"total_bytes":20000000}
{"message_type":"status","percent_done":0.22640652831216604,"total_files":2,"files_done":1,"total_bytes":5000006,"bytes_done":1132034,"current_files":["/data/b"]}
{"message_type":"summary","files_new":2,"files_changed":0,"files_unmodified":0,"dirs_new":1,"dirs_changed":0,"dirs_unmodified":0,"data_blobs":6,"tree_blobs":2,"data_added":5001321,"total_files_processed":2,"total_bytes_processed":5000006,"total_duration":0.348342905,"snapshot_id":"d88eae29"}
"#;

    #[test]
    fn backup_progress_and_summary() {
        let lines: Vec<&str> = BACKUP.lines().collect();
        let p = BackupProgress::from_line(lines[1]).unwrap_or_else(|| panic!("status"));
        assert!((p.percent - 22.64).abs() < 0.01, "{p:?}");
        assert_eq!(
            (p.bytes_done, p.total_bytes, p.files_done, p.total_files),
            (1132034, 5000006, 1, 2)
        );
        assert_eq!(p.current_files, ["/data/b"]);
        assert!(BackupProgress::from_line(lines[0]).is_some());
        assert!(BackupProgress::from_line(lines[2]).is_none());
        assert!(BackupProgress::from_line("restoring <Snapshot …>").is_none());

        let s = backup(&ctx("backup"), &ok(BACKUP)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.snapshot_id, "d88eae29");
        assert_eq!(
            (s.files_new, s.files_changed, s.data_added),
            (2, 0, 5001321)
        );
        assert_eq!(s.duration().as_millis(), 348);
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn backup_with_unreadable_files_still_made_a_snapshot() {
        let stdout = format!(
            "{{\"message_type\":\"error\",\"error\":{{}},\"during\":\"archival\",\"item\":\"/v/x\"}}\n{}",
            BACKUP.lines().last().unwrap_or_default()
        );
        let run = Finished {
            exit_code: 3,
            stdout: &stdout,
            stderr: "/backup/volumes/gone does not exist, skipping\n",
        };
        let s = backup(&ctx("backup"), &run).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.warnings,
            [
                "/v/x (archival): error",
                "/backup/volumes/gone does not exist, skipping"
            ]
        );
        let e = backup(&ctx("backup"), &ok("")).err().map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("no summary line"));
    }

    #[test]
    fn snapshot_list() {
        let out = r#"[{"time":"2024-01-02T03:04:05Z","tree":"e383","paths":["/tmp/rx/data"],"hostname":"h1","username":"root","tags":["app=x","node=n"],"id":"d88eae297084","short_id":"d88eae29"},{"time":"2026-11-26T03:56:14.584031975+01:00","parent":"58a7","tree":"3067","paths":["/d"],"hostname":"vm","username":"root","id":"aa","short_id":"aa"}]"#;
        let list = snapshots(&ctx("snapshots"), &ok(out)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].tag_value("app"), Some("x"));
        assert_eq!(list[0].tag_value("ap"), None);
        assert_eq!(list[1].tags, Vec::<String>::new());
        assert_eq!(list[1].time.offset().whole_hours(), 1);
        assert_eq!(list[1].time.nanosecond(), 584031975);
        assert!(snapshots(&ctx("snapshots"), &ok("")).is_ok_and(|l| l.is_empty()));
        assert!(snapshots(&ctx("snapshots"), &ok("[]\n")).is_ok_and(|l| l.is_empty()));
    }

    #[test]
    fn forget_with_prune_text_after_the_json() {
        let out = r#"[{"tags":["app=x"],"host":"h1","paths":null,"keep":[{"time":"2024-02-03T03:00:00Z","tree":"e3","paths":["/d"],"hostname":"h1","username":"root","tags":["app=x"],"id":"a2dc","short_id":"a2dc"}],"remove":[{"time":"2024-02-02T03:00:00Z","tree":"e3","paths":["/d"],"hostname":"h1","username":"root","tags":["app=x"],"id":"c44b","short_id":"c44b"}],"reasons":[]},{"tags":null,"host":"h1","paths":null,"keep":[],"remove":null,"reasons":[]}]
loading indexes...
to delete:             0 blobs / 16.843 MiB
done
"#;
        let groups = forget(&ctx("forget"), &ok(out)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].keep[0].short_id, "a2dc");
        assert_eq!(groups[0].remove[0].short_id, "c44b");
        assert!(groups[1].remove.is_empty() && groups[1].tags.is_empty());
        // 0.14 prints nothing when no snapshot matched the filter.
        assert!(forget(&ctx("forget"), &ok("")).is_ok_and(|g| g.is_empty()));
    }

    #[test]
    fn check_passes_with_notes() {
        let out = "load indexes\ncheck all packs\npack 543da58b: not referenced in any index\n1 \
                   additional files were found in the repo, which likely contain duplicate \
                   data.\nThis is non-critical, you can run `restic prune` to correct this.\n\
                   check snapshots, trees and blobs\nno errors were found\n";
        let r = check(&ctx("check"), &ok(out), Some(10)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.notes.len(), 3);
        let failed = Finished {
            exit_code: 1,
            stdout: "",
            stderr: "error for tree 4a5b:\n  id 4a5b not found in repository\nFatal: repository \
                     contains errors\n",
        };
        assert!(matches!(
            check(&ctx("check"), &failed, None),
            Err(BackupError::CheckFailed { .. })
        ));
    }

    #[test]
    fn init_twice_is_fine() {
        let again = Finished {
            exit_code: 1,
            stdout: "",
            stderr: "Fatal: create repository at /tmp/rx/repo failed: config file already exists\n",
        };
        assert_eq!(
            init(&ctx("init"), &again).ok(),
            Some(Initialized::AlreadyExisted)
        );
        assert_eq!(
            init(&ctx("init"), &ok("created")).ok(),
            Some(Initialized::Created)
        );
    }

    #[test]
    fn stats_and_version() {
        let s = stats(
            &ctx("stats"),
            &ok(r#"{"total_size":5001098,"total_file_count":0,"total_blob_count":8,"snapshots_count":2}"#),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.total_size, s.total_blob_count), (5001098, Some(8)));
        let v = ResticVersion::parse("restic 0.14.0 compiled with go1.19.8 on linux/amd64");
        assert_eq!(
            v,
            Some(ResticVersion {
                major: 0,
                minor: 14,
                patch: 0
            })
        );
        assert_eq!(
            ResticVersion::parse("restic 0.16.4 (v0.16.4-0-g1a2b)").map(|v| v.to_string()),
            Some("0.16.4".to_string())
        );
        assert_eq!(ResticVersion::parse("nothing"), None);
    }
}
