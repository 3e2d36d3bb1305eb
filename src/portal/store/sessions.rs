//! Sessions: a random id in a cookie, stored as its hash, with an absolute expiry and an idle
//! timeout.

use super::{from_unix, hash_secret, new_secret, unix, Store, StoreError};
use rusqlite::{params, OptionalExtension};
use time::{Duration, OffsetDateTime};

/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::hours(2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub username: String,
    /// The hash of the cookie's secret (the CSRF token of a signed-in form is bound to it).
    pub id_hash: String,
    pub expires: OffsetDateTime,
}

impl Store {
    /// Start a session; returns the secret for the cookie.
    pub fn create_session(
        &self,
        username: &str,
        lifetime: Duration,
        now: OffsetDateTime,
    ) -> Result<String, StoreError> {
        let secret = new_secret();
        let conn = self.conn();
        conn.execute(
            "INSERT INTO sessions (hash, username, created, expires, last_seen) VALUES (?1, ?2, ?3, ?4, ?3)",
            params![hash_secret(&secret), username, unix(now), unix(now + lifetime)],
        )
        .map_err(|e| self.err(e))?;
        conn.execute(
            "DELETE FROM sessions WHERE expires < ?1 OR last_seen < ?2",
            params![unix(now), unix(now - IDLE)],
        )
        .map_err(|e| self.err(e))?;
        Ok(secret)
    }

    /// The live session of a cookie's secret; touches it.
    pub fn session(
        &self,
        secret: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Session>, StoreError> {
        if secret.len() != 64 {
            return Ok(None);
        }
        let hash = hash_secret(secret);
        let conn = self.conn();
        let row: Option<(String, i64, i64)> = conn
            .query_row(
                "SELECT username, expires, last_seen FROM sessions WHERE hash = ?1",
                [&hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((username, expires, last_seen)) = row else {
            return Ok(None);
        };
        if expires <= unix(now) || last_seen <= unix(now - IDLE) {
            conn.execute("DELETE FROM sessions WHERE hash = ?1", [&hash])
                .map_err(|e| self.err(e))?;
            return Ok(None);
        }
        // Touch at most once a minute: a page view need not write.
        if unix(now) - last_seen >= 60 {
            conn.execute(
                "UPDATE sessions SET last_seen = ?2 WHERE hash = ?1",
                params![hash, unix(now)],
            )
            .map_err(|e| self.err(e))?;
        }
        Ok(Some(Session {
            username,
            id_hash: hash,
            expires: from_unix(expires),
        }))
    }

    pub fn end_session(&self, secret: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "DELETE FROM sessions WHERE hash = ?1",
                [hash_secret(secret)],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// End every session of `username` (after a password reset or change).
    pub fn end_sessions_of(&self, username: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM sessions WHERE username = ?1", [username])
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_absolutely_and_when_idle() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("p.sqlite3")).unwrap();
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let id = s.create_session("alice", Duration::hours(12), t0).unwrap();
        assert_eq!(s.session(&id, t0).unwrap().unwrap().username, "alice");
        let mut t = t0;
        for _ in 0..5 {
            t += Duration::minutes(100);
            assert!(s.session(&id, t).unwrap().is_some());
        }
        assert!(s.session(&id, t0 + Duration::hours(12)).unwrap().is_none());
        let id = s.create_session("bob", Duration::hours(12), t0).unwrap();
        assert!(s.session(&id, t0 + IDLE).unwrap().is_none());
        let id = s.create_session("carol", Duration::hours(12), t0).unwrap();
        s.end_sessions_of("carol").unwrap();
        assert!(s.session(&id, t0).unwrap().is_none());
    }
}
