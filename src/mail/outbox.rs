//! The outbox: every message is written here before anyone tries to send it. One SQLite file
//! (WAL, mode 0600: bodies hold single-use links until they are sent).

use super::error::MailError;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};

/// A message that keeps failing for this long is marked `failed` (and kept, for the operator).
pub const GIVE_UP_AFTER: Duration = Duration::days(3);
/// The first retry waits this long; each next one twice as long, up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::seconds(30);
const MAX_DELAY: Duration = Duration::hours(1);
/// Sent messages keep their headers (not their bodies) this long, then go.
const KEEP_SENT: Duration = Duration::days(30);

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body, when there is one.
    pub html: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutboxStatus {
    /// Waiting for its first attempt or for a retry.
    Pending,
    Sent,
    /// Given up: a permanent refusal, or transient failures for longer than [`GIVE_UP_AFTER`].
    Failed,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> OutboxStatus {
        match s {
            "sent" => OutboxStatus::Sent,
            "failed" => OutboxStatus::Failed,
            _ => OutboxStatus::Pending,
        }
    }
}

/// One message as the outbox holds it (bodies are not listed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    pub id: i64,
    pub to: String,
    pub subject: String,
    pub status: OutboxStatus,
    pub attempts: u32,
    #[serde(serialize_with = "rfc3339")]
    pub created: OffsetDateTime,
    /// When the next attempt is due (pending messages).
    #[serde(serialize_with = "rfc3339_opt")]
    pub next_attempt: Option<OffsetDateTime>,
    /// What the last failed attempt said.
    pub last_error: Option<String>,
    /// The `Message-ID` every attempt uses, so that a receiver can tell a resend.
    pub message_id: String,
}

/// A message due for sending, with its bodies.
#[derive(Debug, Clone)]
pub struct DueMail {
    pub id: i64,
    pub message_id: String,
    pub mail: OutgoingMail,
}

/// How many messages are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub pending: u64,
    pub failed: u64,
    pub sent: u64,
}

/// The durable outbox. Cheap calls on one connection behind a mutex.
#[derive(Debug)]
pub struct Outbox {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Outbox {
    /// Open (or create) the outbox at `path`.
    pub fn open(path: &Path) -> Result<Outbox, MailError> {
        let err = |e: rusqlite::Error| MailError::Store {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        let conn = Connection::open(path).map_err(err)?;
        restrict(path);
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS outbox (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 message_id TEXT NOT NULL,
                 recipient TEXT NOT NULL,
                 subject TEXT NOT NULL,
                 body_text TEXT NOT NULL,
                 body_html TEXT,
                 status TEXT NOT NULL DEFAULT 'pending',
                 attempts INTEGER NOT NULL DEFAULT 0,
                 created INTEGER NOT NULL,
                 next_attempt INTEGER,
                 last_error TEXT,
                 sent INTEGER
             );
             CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt);",
        )
        .map_err(err)?;
        Ok(Outbox {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> MailError {
        MailError::Store {
            path: self.path.display().to_string(),
            detail: e.to_string(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: SQLite rolls back.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Store a message; it is due at once. Returns its id.
    pub fn enqueue(&self, mail: &OutgoingMail, now: OffsetDateTime) -> Result<i64, MailError> {
        let domain = mail
            .to
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or("localhost");
        let message_id = format!(
            "<{}.{}@{}>",
            now.unix_timestamp(),
            hex::encode(rand::random::<[u8; 12]>()),
            domain
        );
        let conn = self.lock();
        conn.execute(
            "INSERT INTO outbox (message_id, recipient, subject, body_text, body_html, created, next_attempt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            params![
                message_id,
                mail.to,
                mail.subject,
                mail.text,
                mail.html,
                now.unix_timestamp()
            ],
        )
        .map_err(|e| self.err(e))?;
        Ok(conn.last_insert_rowid())
    }

    /// Pending messages whose attempt is due, oldest first.
    pub fn due(&self, now: OffsetDateTime, limit: usize) -> Result<Vec<DueMail>, MailError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT id, message_id, recipient, subject, body_text, body_html FROM outbox
                 WHERE status = 'pending' AND next_attempt <= ?1 ORDER BY next_attempt, id LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![now.unix_timestamp(), limit as i64], |r| {
                Ok(DueMail {
                    id: r.get(0)?,
                    message_id: r.get(1)?,
                    mail: OutgoingMail {
                        to: r.get(2)?,
                        subject: r.get(3)?,
                        text: r.get(4)?,
                        html: r.get(5)?,
                    },
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// The message went out: forget its bodies (they hold single-use links), keep its headers
    /// for a while.
    pub fn mark_sent(&self, id: i64, now: OffsetDateTime) -> Result<(), MailError> {
        let conn = self.lock();
        conn.execute(
            "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent = ?2,
                 body_text = '', body_html = NULL, next_attempt = NULL, last_error = NULL
             WHERE id = ?1",
            params![id, now.unix_timestamp()],
        )
        .map_err(|e| self.err(e))?;
        conn.execute(
            "DELETE FROM outbox WHERE status = 'sent' AND sent < ?1",
            params![(now - KEEP_SENT).unix_timestamp()],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// An attempt failed. A transient failure is retried later (backoff), unless the message
    /// has been failing for longer than [`GIVE_UP_AFTER`]; a permanent one fails it now.
    /// Returns the new status.
    pub fn mark_failed_attempt(
        &self,
        id: i64,
        now: OffsetDateTime,
        error: &str,
        permanent: bool,
    ) -> Result<OutboxStatus, MailError> {
        let conn = self.lock();
        let row: Option<(u32, i64)> = conn
            .query_row(
                "SELECT attempts, created FROM outbox WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((attempts, created)) = row else {
            return Ok(OutboxStatus::Failed);
        };
        let attempts = attempts + 1;
        let age = now.unix_timestamp() - created;
        let status = if permanent || age >= GIVE_UP_AFTER.whole_seconds() {
            OutboxStatus::Failed
        } else {
            OutboxStatus::Pending
        };
        let next =
            (status == OutboxStatus::Pending).then(|| (now + backoff(attempts)).unix_timestamp());
        conn.execute(
            "UPDATE outbox SET status = ?2, attempts = ?3, next_attempt = ?4, last_error = ?5 WHERE id = ?1",
            params![id, status.as_str(), attempts, next, truncate(error, 500)],
        )
        .map_err(|e| self.err(e))?;
        Ok(status)
    }

    /// Put every failed message back in the queue, due now (the operator fixed the cause).
    /// Returns how many.
    pub fn retry_failed(&self, now: OffsetDateTime) -> Result<usize, MailError> {
        let conn = self.lock();
        conn.execute(
            "UPDATE outbox SET status = 'pending', next_attempt = ?1, created = ?1 WHERE status = 'failed'",
            params![now.unix_timestamp()],
        )
        .map_err(|e| self.err(e))
    }

    /// Messages, newest first: those not yet sent (`unsent_only`), or all that are kept.
    pub fn list(&self, unsent_only: bool, limit: usize) -> Result<Vec<OutboxEntry>, MailError> {
        let conn = self.lock();
        let sql = format!(
            "SELECT id, recipient, subject, status, attempts, created, next_attempt, last_error, message_id
             FROM outbox {} ORDER BY id DESC LIMIT ?1",
            if unsent_only {
                "WHERE status != 'sent'"
            } else {
                ""
            }
        );
        let mut stmt = conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![limit as i64], |r| {
                let status: String = r.get(3)?;
                let created: i64 = r.get(5)?;
                let next: Option<i64> = r.get(6)?;
                Ok(OutboxEntry {
                    id: r.get(0)?,
                    to: r.get(1)?,
                    subject: r.get(2)?,
                    status: OutboxStatus::parse(&status),
                    attempts: r.get(4)?,
                    created: from_unix(created),
                    next_attempt: next.map(from_unix),
                    last_error: r.get(7)?,
                    message_id: r.get(8)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    pub fn counts(&self) -> Result<OutboxCounts, MailError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT status, COUNT(*) FROM outbox GROUP BY status")
            .map_err(|e| self.err(e))?;
        let mut counts = OutboxCounts::default();
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (status, n) = row.map_err(|e| self.err(e))?;
            let n = n.max(0) as u64;
            match OutboxStatus::parse(&status) {
                OutboxStatus::Pending => counts.pending += n,
                OutboxStatus::Sent => counts.sent += n,
                OutboxStatus::Failed => counts.failed += n,
            }
        }
        Ok(counts)
    }

    /// The earliest next attempt among pending messages, to know how long the worker may sleep.
    pub fn next_due(&self) -> Result<Option<OffsetDateTime>, MailError> {
        let conn = self.lock();
        let next: Option<i64> = conn
            .query_row(
                "SELECT MIN(next_attempt) FROM outbox WHERE status = 'pending'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(next.map(from_unix))
    }
}

/// The wait before attempt `attempts + 1`: 30 s, 1 min, 2 min, … up to an hour.
pub(super) fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    let delay = FIRST_DELAY * (1i32 << doublings);
    delay.min(MAX_DELAY)
}

fn rfc3339<S: serde::Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    use time::format_description::well_known::Rfc3339;
    let text = t.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
    s.serialize_str(&text)
}

fn rfc3339_opt<S: serde::Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

fn from_unix(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Mode 0600: the outbox holds links that let someone set a password.
fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for p in [
            path.to_path_buf(),
            PathBuf::from(format!("{}-wal", path.display())),
            PathBuf::from(format!("{}-shm", path.display())),
        ] {
            if p.exists() {
                let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(to: &str) -> OutgoingMail {
        OutgoingMail {
            to: to.into(),
            subject: "Hello".into(),
            text: "a link: https://x/t/abc".into(),
            html: Some("<p>a link</p>".into()),
        }
    }

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn a_message_is_stored_then_sent_and_its_body_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let o = Outbox::open(&dir.path().join("outbox.sqlite3")).unwrap();
        let id = o.enqueue(&mail("a@example.coop"), t0()).unwrap();
        let due = o.due(t0(), 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].mail, mail("a@example.coop"));
        assert!(due[0].message_id.ends_with("@example.coop>"));
        o.mark_sent(id, t0()).unwrap();
        assert!(o.due(t0(), 10).unwrap().is_empty());
        let all = o.list(false, 10).unwrap();
        assert_eq!(all[0].status, OutboxStatus::Sent);
        assert!(o.list(true, 10).unwrap().is_empty());
        let conn = o.lock();
        let body: String = conn
            .query_row("SELECT body_text FROM outbox WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(body, "");
    }

    #[test]
    fn transient_failures_back_off_then_give_up_but_stay_listed() {
        let dir = tempfile::tempdir().unwrap();
        let o = Outbox::open(&dir.path().join("outbox.sqlite3")).unwrap();
        let id = o.enqueue(&mail("a@example.coop"), t0()).unwrap();
        let s = o
            .mark_failed_attempt(id, t0(), "connection refused", false)
            .unwrap();
        assert_eq!(s, OutboxStatus::Pending);
        assert!(o.due(t0() + Duration::seconds(29), 10).unwrap().is_empty());
        assert_eq!(o.due(t0() + Duration::seconds(30), 10).unwrap().len(), 1);
        assert_eq!(o.next_due().unwrap(), Some(t0() + Duration::seconds(30)));
        o.mark_failed_attempt(id, t0() + Duration::seconds(30), "refused", false)
            .unwrap();
        assert_eq!(
            o.next_due().unwrap(),
            Some(t0() + Duration::seconds(30) + Duration::minutes(1))
        );
        let late = t0() + GIVE_UP_AFTER;
        assert_eq!(
            o.mark_failed_attempt(id, late, "still refused", false)
                .unwrap(),
            OutboxStatus::Failed
        );
        assert!(o.due(late + Duration::days(10), 10).unwrap().is_empty());
        let listed = o.list(true, 10).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].status, OutboxStatus::Failed);
        assert_eq!(listed[0].attempts, 3);
        assert_eq!(listed[0].last_error.as_deref(), Some("still refused"));
        assert_eq!(o.counts().unwrap().failed, 1);
        assert_eq!(o.retry_failed(late).unwrap(), 1);
        assert_eq!(o.due(late, 10).unwrap().len(), 1);
    }

    #[test]
    fn a_permanent_refusal_fails_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let o = Outbox::open(&dir.path().join("outbox.sqlite3")).unwrap();
        let id = o.enqueue(&mail("nobody@example.coop"), t0()).unwrap();
        assert_eq!(
            o.mark_failed_attempt(id, t0(), "550 no such user", true)
                .unwrap(),
            OutboxStatus::Failed
        );
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(3), Duration::seconds(120));
        assert_eq!(backoff(20), Duration::hours(1));
        assert_eq!(backoff(u32::MAX), Duration::hours(1));
    }
}
