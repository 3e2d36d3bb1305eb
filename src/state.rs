//! The journal of operations: what `up`, `down`, `destroy`… did, when, and how it ended.
//!
//! One SQLite file in the node's state directory, in WAL mode with a busy timeout so the daemon
//! and a command run by hand can share it. Times are passed in by the caller, never read here,
//! and stored as RFC 3339 in UTC.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use serde::{Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// How long a writer waits for another process holding the database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Schema migrations: entry `i` brings `user_version` from `i` to `i + 1`. Append only.
const MIGRATIONS: &[&str] = &["CREATE TABLE operations (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        operation   TEXT NOT NULL,
        node        TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        outcome     TEXT CHECK (outcome IN ('succeeded', 'failed', 'interrupted')),
        plan_json   TEXT NOT NULL,
        detail      TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX operations_unfinished ON operations (id) WHERE finished_at IS NULL;"];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Detail recorded on operations found unfinished by [`Journal::mark_abandoned`].
pub const ABANDONED_DETAIL: &str =
    "the process stopped before finishing; the next operation found it unfinished";

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// SQLite refused (locked for more than 5 s, disk full, corrupt file…).
    #[error("journal {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The journal's directory or file could not be created.
    #[error("cannot create journal {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// A newer `commonscloud` migrated the journal; this one must not write to it.
    #[error(
        "journal {} has schema version {found} but this commonscloud knows only up to \
         {SCHEMA_VERSION}: upgrade commonscloud",
        path.display()
    )]
    NewerSchema { path: PathBuf, found: u32 },
    /// No operation has this id.
    #[error("no operation #{0} in the journal")]
    NotFound(i64),
    /// The operation already has an outcome.
    #[error("operation #{0} is already finished")]
    AlreadyFinished(i64),
    /// A time that RFC 3339 cannot represent (e.g. year after 9999).
    #[error("cannot record time {0}: {1}")]
    Time(OffsetDateTime, time::error::Format),
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Succeeded,
    Failed,
    /// The process stopped (crash, power cut, kill) before it could record an outcome.
    Interrupted,
}

impl Outcome {
    /// The word stored in the journal and printed by `history`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An outcome word that is not one of ours.
#[derive(Debug, thiserror::Error)]
#[error("unknown outcome `{0}` (expected succeeded, failed or interrupted)")]
pub struct UnknownOutcome(pub String);

impl FromStr for Outcome {
    type Err = UnknownOutcome;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "succeeded" => Ok(Outcome::Succeeded),
            "failed" => Ok(Outcome::Failed),
            "interrupted" => Ok(Outcome::Interrupted),
            other => Err(UnknownOutcome(other.to_owned())),
        }
    }
}

/// One operation as recorded. Serializes with RFC 3339 times for `history --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalEntry {
    pub id: i64,
    /// `up`, `down`, `destroy`, `backup`, `upgrade`…
    pub operation: String,
    /// The node's name (its domain).
    pub node: String,
    #[serde(serialize_with = "rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(serialize_with = "rfc3339_opt")]
    pub finished_at: Option<OffsetDateTime>,
    /// `None` while the operation runs (or until the next one marks it interrupted).
    pub outcome: Option<Outcome>,
    /// The plan that was applied, as JSON.
    pub plan_json: String,
    /// What happened: the error sentence on failure, a summary on success.
    pub detail: String,
}

/// The journal of operations, one SQLite connection.
#[derive(Debug)]
pub struct Journal {
    conn: Connection,
    path: PathBuf,
}

impl Journal {
    /// Opens (creating when missing, with mode 0600) the journal at `path` and migrates its
    /// schema to [`SCHEMA_VERSION`].
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, StateError> {
        let path = path.as_ref().to_path_buf();
        create_private_file(&path)?;
        let sql = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(sql)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
            .map_err(sql)?;
        // In WAL mode NORMAL loses at most the last commits on power loss, never consistency.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        migrate(&mut conn, &path)?;
        Ok(Journal { conn, path })
    }

    /// The file this journal lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records the start of an operation and returns its id.
    pub fn begin(
        &self,
        operation: &str,
        node: &str,
        plan_json: &str,
        now: OffsetDateTime,
    ) -> Result<i64, StateError> {
        let started_at = format_time(now)?;
        self.conn
            .execute(
                "INSERT INTO operations (operation, node, started_at, plan_json)
                 VALUES (?1, ?2, ?3, ?4)",
                params![operation, node, started_at, plan_json],
            )
            .map_err(|e| self.sql(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records how operation `id` ended. An operation is finished once only.
    pub fn finish(
        &self,
        id: i64,
        outcome: Outcome,
        detail: &str,
        now: OffsetDateTime,
    ) -> Result<(), StateError> {
        let finished_at = format_time(now)?;
        let changed = self
            .conn
            .execute(
                "UPDATE operations SET finished_at = ?2, outcome = ?3, detail = ?4
                 WHERE id = ?1 AND finished_at IS NULL",
                params![id, finished_at, outcome.as_str(), detail],
            )
            .map_err(|e| self.sql(e))?;
        if changed == 1 {
            return Ok(());
        }
        match self.get(id)? {
            Some(_) => Err(StateError::AlreadyFinished(id)),
            None => Err(StateError::NotFound(id)),
        }
    }

    /// Marks every unfinished operation as interrupted and returns how many there were.
    ///
    /// Call it at the start of an operation, while holding the node's lock: anything still
    /// unfinished then belongs to a process that is gone.
    pub fn mark_abandoned(&self, now: OffsetDateTime) -> Result<usize, StateError> {
        let finished_at = format_time(now)?;
        self.conn
            .execute(
                "UPDATE operations SET finished_at = ?1, outcome = 'interrupted',
                     detail = CASE WHEN detail = '' THEN ?2 ELSE detail || char(10) || ?2 END
                 WHERE finished_at IS NULL",
                params![finished_at, ABANDONED_DETAIL],
            )
            .map_err(|e| self.sql(e))
    }

    /// The latest `limit` operations, newest first.
    pub fn list(&self, limit: usize) -> Result<Vec<JournalEntry>, StateError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, operation, node, started_at, finished_at, outcome, plan_json, detail
                 FROM operations ORDER BY id DESC LIMIT ?1",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([limit], entry_from_row)
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.sql(e))
    }

    /// The operation `id`, if recorded.
    pub fn get(&self, id: i64) -> Result<Option<JournalEntry>, StateError> {
        self.conn
            .query_row(
                "SELECT id, operation, node, started_at, finished_at, outcome, plan_json, detail
                 FROM operations WHERE id = ?1",
                [id],
                entry_from_row,
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    fn sql(&self, source: rusqlite::Error) -> StateError {
        StateError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

/// Creates the journal's directory and an empty 0600 file, so SQLite (which gives its `-wal`
/// and `-shm` files the database's mode) never creates it world-readable.
fn create_private_file(path: &Path) -> Result<(), StateError> {
    let io_err = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io_err)?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_err(e)),
    }
}

/// Brings the schema to [`SCHEMA_VERSION`] in one immediate transaction, so two processes
/// opening a new journal at once do not both migrate it.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StateError> {
    let sql = |source| StateError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    let found: u32 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(sql)?;
    if found > SCHEMA_VERSION {
        return Err(StateError::NewerSchema {
            path: path.to_path_buf(),
            found,
        });
    }
    for step in MIGRATIONS.iter().skip(found as usize) {
        tx.execute_batch(step).map_err(sql)?;
    }
    if found < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(sql)?;
    }
    tx.commit().map_err(sql)
}

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<JournalEntry> {
    let outcome: Option<String> = row.get(5)?;
    Ok(JournalEntry {
        id: row.get(0)?,
        operation: row.get(1)?,
        node: row.get(2)?,
        started_at: parse_time(3, &row.get::<_, String>(3)?)?,
        finished_at: row
            .get::<_, Option<String>>(4)?
            .map(|t| parse_time(4, &t))
            .transpose()?,
        outcome: outcome
            .map(|o| {
                o.parse::<Outcome>().map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(5, Type::Text, Box::new(e))
                })
            })
            .transpose()?,
        plan_json: row.get(6)?,
        detail: row.get(7)?,
    })
}

fn format_time(t: OffsetDateTime) -> Result<String, StateError> {
    t.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .map_err(|e| StateError::Time(t, e))
}

fn parse_time(column: usize, text: &str) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, Type::Text, Box::new(e)))
}

fn rfc3339<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    let text = t.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
    s.serialize_str(&text)
}

fn rfc3339_opt<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn journal() -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path().join("state/journal.sqlite3")).unwrap();
        (dir, journal)
    }

    #[test]
    fn open_creates_schema_in_wal_mode() {
        let (_dir, journal) = journal();
        let version: u32 = journal
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let mode: String = journal
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert!(journal.list(10).unwrap().is_empty());
    }

    #[test]
    fn journal_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, journal) = journal();
        let mode = fs::metadata(journal.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn reopening_keeps_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite3");
        let id = Journal::open(&path)
            .unwrap()
            .begin("up", "example.coop", "{}", datetime!(2025-03-01 10:00 UTC))
            .unwrap();
        let again = Journal::open(&path).unwrap();
        assert_eq!(again.get(id).unwrap().unwrap().operation, "up");
    }

    #[test]
    fn begin_then_finish() {
        let (_dir, journal) = journal();
        let start = datetime!(2025-03-01 10:00:00.5 +02:00);
        let end = datetime!(2025-03-01 10:02 +02:00);
        let id = journal
            .begin("up", "example.coop", r#"{"steps":[]}"#, start)
            .unwrap();
        let running = journal.get(id).unwrap().unwrap();
        assert_eq!(running.outcome, None);
        assert_eq!(running.finished_at, None);
        assert_eq!(running.started_at, start);
        assert_eq!(running.started_at.offset(), UtcOffset::UTC);

        journal
            .finish(id, Outcome::Succeeded, "3 changes", end)
            .unwrap();
        let done = journal.get(id).unwrap().unwrap();
        assert_eq!(done.outcome, Some(Outcome::Succeeded));
        assert_eq!(done.finished_at, Some(end));
        assert_eq!(done.detail, "3 changes");
        assert_eq!(done.plan_json, r#"{"steps":[]}"#);
        assert_eq!(done.node, "example.coop");
    }

    #[test]
    fn finish_twice_or_unknown_is_refused() {
        let (_dir, journal) = journal();
        let now = datetime!(2025-03-01 10:00 UTC);
        let id = journal.begin("down", "n", "{}", now).unwrap();
        journal.finish(id, Outcome::Failed, "boom", now).unwrap();
        assert!(matches!(
            journal.finish(id, Outcome::Succeeded, "", now),
            Err(StateError::AlreadyFinished(i)) if i == id
        ));
        assert!(matches!(
            journal.finish(999, Outcome::Succeeded, "", now),
            Err(StateError::NotFound(999))
        ));
        assert_eq!(journal.get(999).unwrap(), None);
    }

    #[test]
    fn list_is_newest_first_and_limited() {
        let (_dir, journal) = journal();
        let now = datetime!(2025-03-01 10:00 UTC);
        let ids: Vec<i64> = ["up", "down", "destroy"]
            .iter()
            .map(|op| journal.begin(op, "n", "{}", now).unwrap())
            .collect();
        let all = journal.list(10).unwrap();
        let got: Vec<i64> = all.iter().map(|e| e.id).collect();
        assert_eq!(got, vec![ids[2], ids[1], ids[0]]);
        assert_eq!(all[0].operation, "destroy");
        assert_eq!(journal.list(2).unwrap().len(), 2);
        assert!(journal.list(0).unwrap().is_empty());
        assert_eq!(journal.list(usize::MAX).unwrap().len(), 3);
    }

    #[test]
    fn mark_abandoned_interrupts_unfinished_only() {
        let (_dir, journal) = journal();
        let t0 = datetime!(2025-03-01 10:00 UTC);
        let t1 = datetime!(2025-03-02 10:00 UTC);
        let done = journal.begin("up", "n", "{}", t0).unwrap();
        journal.finish(done, Outcome::Succeeded, "ok", t0).unwrap();
        let crashed = journal.begin("up", "n", "{}", t0).unwrap();

        assert_eq!(journal.mark_abandoned(t1).unwrap(), 1);
        let entry = journal.get(crashed).unwrap().unwrap();
        assert_eq!(entry.outcome, Some(Outcome::Interrupted));
        assert_eq!(entry.finished_at, Some(t1));
        assert_eq!(entry.detail, ABANDONED_DETAIL);
        let untouched = journal.get(done).unwrap().unwrap();
        assert_eq!(untouched.outcome, Some(Outcome::Succeeded));
        assert_eq!(untouched.finished_at, Some(t0));

        assert_eq!(journal.mark_abandoned(t1).unwrap(), 0);
    }

    #[test]
    fn two_connections_share_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite3");
        let a = Journal::open(&path).unwrap();
        let b = Journal::open(&path).unwrap();
        let now = datetime!(2025-03-01 10:00 UTC);
        let id = a.begin("up", "n", "{}", now).unwrap();
        b.finish(id, Outcome::Succeeded, "", now).unwrap();
        assert_eq!(
            a.get(id).unwrap().unwrap().outcome,
            Some(Outcome::Succeeded)
        );
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .unwrap();
        }
        let err = Journal::open(&path).unwrap_err();
        assert!(matches!(err, StateError::NewerSchema { .. }), "{err}");
        assert!(err.to_string().contains("upgrade commonscloud"));
    }

    #[test]
    fn entry_serializes_with_rfc3339_times() {
        let (_dir, journal) = journal();
        let id = journal
            .begin("up", "n", "{}", datetime!(2025-03-01 10:00 UTC))
            .unwrap();
        let entry = journal.get(id).unwrap().unwrap();
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["started_at"], "2025-03-01T10:00:00Z");
        assert_eq!(json["finished_at"], serde_json::Value::Null);
        assert_eq!(json["outcome"], serde_json::Value::Null);
        assert_eq!(json["operation"], "up");

        journal
            .finish(
                id,
                Outcome::Interrupted,
                "",
                datetime!(2025-03-01 10:01 UTC),
            )
            .unwrap();
        let json = serde_json::to_value(journal.get(id).unwrap().unwrap()).unwrap();
        assert_eq!(json["outcome"], "interrupted");
        assert_eq!(json["finished_at"], "2025-03-01T10:01:00Z");
    }

    #[test]
    fn outcome_words_round_trip() {
        for o in [Outcome::Succeeded, Outcome::Failed, Outcome::Interrupted] {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
        }
        assert!("ok".parse::<Outcome>().is_err());
    }
}
