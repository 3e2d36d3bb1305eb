//! The portal's own state, in SQLite (`<state_dir>/portal.sqlite3`, WAL, mode 0600):
//! registrations not yet approved (never in the directory before that), tokens, sessions,
//! join requests, invitations and the audit log. Secrets (tokens, session ids) are stored only
//! as SHA-256 hashes.

mod audit;
mod requests;
mod sessions;
mod tokens;

pub use audit::AuditEntry;
pub use requests::{Invitation, JoinRequest, NewRegistration, Registration, RequestStatus};
pub use sessions::Session;
pub use tokens::{Purpose, TokenError, TokenRow};

use rusqlite::Connection;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
#[error("the portal's database {path} failed: {detail}")]
pub struct StoreError {
    pub path: String,
    pub detail: String,
}

#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    subject TEXT NOT NULL,
    data TEXT,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    used INTEGER
);
CREATE INDEX IF NOT EXISTS tokens_subject ON tokens (purpose, subject);
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (username);
CREATE TABLE IF NOT EXISTS registrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    display_name TEXT NOT NULL,
    email TEXT NOT NULL,
    collective TEXT NOT NULL,
    message TEXT NOT NULL,
    language TEXT NOT NULL,
    created INTEGER NOT NULL,
    status TEXT NOT NULL,
    decided INTEGER,
    decided_by TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS registrations_collective ON registrations (collective, status);
CREATE TABLE IF NOT EXISTS join_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    collective TEXT NOT NULL,
    message TEXT NOT NULL,
    created INTEGER NOT NULL,
    status TEXT NOT NULL,
    decided INTEGER,
    decided_by TEXT,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collective TEXT NOT NULL,
    email TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    created INTEGER NOT NULL,
    status TEXT NOT NULL,
    accepted_by TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    collective TEXT,
    subject TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_collective ON audit (collective, id);
";

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let err = |e: rusqlite::Error| StoreError {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        Ok(Store {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError {
            path: self.path.display().to_string(),
            detail: e.to_string(),
        }
    }

    /// A random key kept in the database (for CSRF tokens), made on first use, so that forms
    /// stay valid across a restart.
    pub fn key(&self, name: &str) -> Result<[u8; 32], StoreError> {
        let conn = self.conn();
        let found: Option<Vec<u8>> = conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [name], |r| {
                r.get(0)
            })
            .ok();
        if let Some(k) = found.and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok()) {
            return Ok(k);
        }
        let key: [u8; 32] = rand::random();
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            rusqlite::params![name, key.to_vec()],
        )
        .map_err(|e| self.err(e))?;
        Ok(key)
    }
}

/// A new secret: 32 random bytes, as 64 hex characters (what goes in a link or a cookie).
pub fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// What is stored instead of a secret.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub(super) fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

pub(super) fn from_unix(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
