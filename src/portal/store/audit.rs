//! The audit log: who did what, when, to whom. Every admin decision and every change of an
//! account goes here.

use super::{from_unix, unix, Store, StoreError};
use rusqlite::params;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: OffsetDateTime,
    pub actor: String,
    /// A fixed key, e.g. `registration.approve` (translated on display).
    pub action: String,
    pub collective: Option<String>,
    pub subject: Option<String>,
    pub detail: Option<String>,
}

impl Store {
    pub fn audit(
        &self,
        now: OffsetDateTime,
        actor: &str,
        action: &str,
        collective: Option<&str>,
        subject: Option<&str>,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO audit (at, actor, action, collective, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![unix(now), actor, action, collective, subject, detail],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The latest entries about `collective`, newest first.
    pub fn audit_of(&self, collective: &str, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT at, actor, action, collective, subject, detail FROM audit
                 WHERE collective = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![collective, limit as i64], |r| {
                Ok(AuditEntry {
                    at: from_unix(r.get(0)?),
                    actor: r.get(1)?,
                    action: r.get(2)?,
                    collective: r.get(3)?,
                    subject: r.get(4)?,
                    detail: r.get(5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}
