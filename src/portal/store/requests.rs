//! What waits for a collective's admins: registrations (people without an account yet) and
//! join requests (people with one), and what admins send: invitations.
//!
//! A registration is `unverified` until its email is confirmed, then `pending` until an admin
//! decides. Only a pending one can be approved: approval without a verified email is
//! impossible. Decisions are made with a conditional update, so two admins deciding at once
//! cannot both win.

use super::tokens::Purpose;
use super::{from_unix, unix, Store, StoreError};
use rusqlite::{params, OptionalExtension, Row};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Unverified,
    Pending,
    Approved,
    Rejected,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Unverified => "unverified",
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> RequestStatus {
        match s {
            "pending" => RequestStatus::Pending,
            "approved" => RequestStatus::Approved,
            "rejected" => RequestStatus::Rejected,
            _ => RequestStatus::Unverified,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub collective: String,
    pub message: String,
    pub language: String,
    pub created: OffsetDateTime,
    pub status: RequestStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub id: i64,
    pub username: String,
    pub collective: String,
    pub message: String,
    pub created: OffsetDateTime,
    pub status: RequestStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: i64,
    pub collective: String,
    pub email: String,
    pub invited_by: String,
    pub created: OffsetDateTime,
    pub status: RequestStatus,
}

const REG_COLS: &str =
    "id, username, display_name, email, collective, message, language, created, status";

fn registration(r: &Row<'_>) -> rusqlite::Result<Registration> {
    Ok(Registration {
        id: r.get(0)?,
        username: r.get(1)?,
        display_name: r.get(2)?,
        email: r.get(3)?,
        collective: r.get(4)?,
        message: r.get(5)?,
        language: r.get(6)?,
        created: from_unix(r.get(7)?),
        status: RequestStatus::parse(&r.get::<_, String>(8)?),
    })
}

fn join_request(r: &Row<'_>) -> rusqlite::Result<JoinRequest> {
    Ok(JoinRequest {
        id: r.get(0)?,
        username: r.get(1)?,
        collective: r.get(2)?,
        message: r.get(3)?,
        created: from_unix(r.get(4)?),
        status: RequestStatus::parse(&r.get::<_, String>(5)?),
    })
}

fn invitation(r: &Row<'_>) -> rusqlite::Result<Invitation> {
    Ok(Invitation {
        id: r.get(0)?,
        collective: r.get(1)?,
        email: r.get(2)?,
        invited_by: r.get(3)?,
        created: from_unix(r.get(4)?),
        status: RequestStatus::parse(&r.get::<_, String>(5)?),
    })
}

/// Unverified registrations older than their link are forgotten.
fn unverified_cutoff(now: OffsetDateTime) -> i64 {
    unix(now - Purpose::ConfirmEmail.lifetime())
}

/// The fields of a new registration.
#[derive(Debug, Clone)]
pub struct NewRegistration<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub email: &'a str,
    pub collective: &'a str,
    pub message: &'a str,
    pub language: &'a str,
}

impl Store {
    pub fn add_registration(
        &self,
        r: &NewRegistration<'_>,
        now: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "DELETE FROM registrations WHERE status = 'unverified' AND created < ?1",
            params![unverified_cutoff(now)],
        )
        .map_err(|e| self.err(e))?;
        conn.execute(
            "INSERT INTO registrations (username, display_name, email, collective, message, language, created, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'unverified')",
            params![r.username, r.display_name, r.email, r.collective, r.message, r.language, unix(now)],
        )
        .map_err(|e| self.err(e))?;
        Ok(conn.last_insert_rowid())
    }

    pub fn registration(&self, id: i64) -> Result<Option<Registration>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {REG_COLS} FROM registrations WHERE id = ?1"),
                [id],
                registration,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Unverified → pending. `false` when it was not unverified.
    pub fn verify_registration(&self, id: i64) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "UPDATE registrations SET status = 'pending' WHERE id = ?1 AND status = 'unverified'",
                [id],
            )
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    /// The latest unverified, unexpired registration of `email` (to resend its link).
    pub fn unverified_by_email(
        &self,
        email: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Registration>, StoreError> {
        self.conn()
            .query_row(
                &format!(
                    "SELECT {REG_COLS} FROM registrations WHERE status = 'unverified'
                     AND lower(email) = lower(?1) AND created >= ?2 ORDER BY id DESC LIMIT 1"
                ),
                params![email, unverified_cutoff(now)],
                registration,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Whether a waiting registration holds `username` or `email` already.
    pub fn registration_holds(
        &self,
        username: &str,
        email: &str,
        now: OffsetDateTime,
    ) -> Result<(bool, bool), StoreError> {
        let conn = self.conn();
        let count = |sql: &str, value: &str| -> Result<bool, StoreError> {
            conn.query_row(sql, params![value, unverified_cutoff(now)], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n > 0)
            .map_err(|e| self.err(e))
        };
        let user = count(
            "SELECT COUNT(*) FROM registrations WHERE username = ?1
             AND (status = 'pending' OR (status = 'unverified' AND created >= ?2))",
            username,
        )?;
        let mail = count(
            "SELECT COUNT(*) FROM registrations WHERE lower(email) = lower(?1)
             AND (status = 'pending' OR (status = 'unverified' AND created >= ?2))",
            email,
        )?;
        Ok((user, mail))
    }

    /// Registrations and join requests waiting for `collective` (the cap counts these).
    pub fn waiting_count(&self, collective: &str, now: OffsetDateTime) -> Result<u32, StoreError> {
        let conn = self.conn();
        let regs: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM registrations WHERE collective = ?1
                 AND (status = 'pending' OR (status = 'unverified' AND created >= ?2))",
                params![collective, unverified_cutoff(now)],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        let joins: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM join_requests WHERE collective = ?1 AND status = 'pending'",
                [collective],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(u32::try_from(regs + joins).unwrap_or(u32::MAX))
    }

    /// Verified registrations waiting for `collective`'s admins, oldest first.
    pub fn pending_registrations(&self, collective: &str) -> Result<Vec<Registration>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {REG_COLS} FROM registrations WHERE collective = ?1 AND status = 'pending' ORDER BY id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([collective], registration)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Pending → approved or rejected, once. `false` when it was not pending (already decided,
    /// or never verified).
    pub fn decide_registration(
        &self,
        id: i64,
        to: RequestStatus,
        by: &str,
        reason: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.decide("registrations", id, to, by, reason, now)
    }

    /// Put a decided registration back to pending (the directory refused the approval).
    pub fn reopen_registration(&self, id: i64) -> Result<(), StoreError> {
        self.reopen("registrations", id)
    }

    pub fn add_join_request(
        &self,
        username: &str,
        collective: &str,
        message: &str,
        now: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO join_requests (username, collective, message, created, status) VALUES (?1, ?2, ?3, ?4, 'pending')",
            params![username, collective, message, unix(now)],
        )
        .map_err(|e| self.err(e))?;
        Ok(conn.last_insert_rowid())
    }

    pub fn join_request(&self, id: i64) -> Result<Option<JoinRequest>, StoreError> {
        self.conn()
            .query_row(
                "SELECT id, username, collective, message, created, status FROM join_requests WHERE id = ?1",
                [id],
                join_request,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The pending requests of `username` (to show "waiting" on their page).
    pub fn join_requests_of(&self, username: &str) -> Result<Vec<JoinRequest>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, username, collective, message, created, status FROM join_requests
                 WHERE username = ?1 AND status = 'pending' ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([username], join_request)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    pub fn pending_join_requests(&self, collective: &str) -> Result<Vec<JoinRequest>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, username, collective, message, created, status FROM join_requests
                 WHERE collective = ?1 AND status = 'pending' ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([collective], join_request)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    pub fn decide_join_request(
        &self,
        id: i64,
        to: RequestStatus,
        by: &str,
        reason: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.decide("join_requests", id, to, by, reason, now)
    }

    pub fn reopen_join_request(&self, id: i64) -> Result<(), StoreError> {
        self.reopen("join_requests", id)
    }

    /// A pending request of `table` → approved or rejected, once; `false` when it was not
    /// pending. `table` is one of this module's own table names, never input.
    fn decide(
        &self,
        table: &'static str,
        id: i64,
        to: RequestStatus,
        by: &str,
        reason: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                &format!(
                    "UPDATE {table} SET status = ?2, decided = ?3, decided_by = ?4, reason = ?5
                     WHERE id = ?1 AND status = 'pending'"
                ),
                params![id, to.as_str(), unix(now), by, reason],
            )
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    /// Put a decided request of `table` back to pending (the directory refused the approval).
    fn reopen(&self, table: &'static str, id: i64) -> Result<(), StoreError> {
        self.conn()
            .execute(
                &format!(
                    "UPDATE {table} SET status = 'pending', decided = NULL, decided_by = NULL WHERE id = ?1"
                ),
                [id],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn add_invitation(
        &self,
        collective: &str,
        email: &str,
        invited_by: &str,
        now: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO invitations (collective, email, invited_by, created, status) VALUES (?1, ?2, ?3, ?4, 'pending')",
            params![collective, email, invited_by, unix(now)],
        )
        .map_err(|e| self.err(e))?;
        Ok(conn.last_insert_rowid())
    }

    pub fn invitation(&self, id: i64) -> Result<Option<Invitation>, StoreError> {
        self.conn()
            .query_row(
                "SELECT id, collective, email, invited_by, created, status FROM invitations WHERE id = ?1",
                [id],
                invitation,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn pending_invitations(
        &self,
        collective: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<Invitation>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, collective, email, invited_by, created, status FROM invitations
                 WHERE collective = ?1 AND status = 'pending' AND created >= ?2 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(
                params![collective, unix(now - Purpose::Invitation.lifetime())],
                invitation,
            )
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    pub fn accept_invitation(&self, id: i64, username: &str) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "UPDATE invitations SET status = 'approved', accepted_by = ?2 WHERE id = ?1 AND status = 'pending'",
                params![id, username],
            )
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn only_a_verified_registration_can_be_decided_and_only_once() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("p.sqlite3")).unwrap();
        let r = NewRegistration {
            username: "ana",
            display_name: "Ana",
            email: "ana@example.coop",
            collective: "fki",
            message: "hi",
            language: "ca",
        };
        let id = s.add_registration(&r, t0()).unwrap();
        assert_eq!(
            s.registration_holds("ana", "ANA@example.coop", t0())
                .unwrap(),
            (true, true)
        );
        assert!(!s
            .decide_registration(id, RequestStatus::Approved, "x", None, t0())
            .unwrap());
        assert!(s.pending_registrations("fki").unwrap().is_empty());
        assert!(s.verify_registration(id).unwrap());
        assert!(!s.verify_registration(id).unwrap());
        assert_eq!(s.pending_registrations("fki").unwrap().len(), 1);
        assert_eq!(s.waiting_count("fki", t0()).unwrap(), 1);
        assert!(s
            .decide_registration(id, RequestStatus::Rejected, "x", Some("no"), t0())
            .unwrap());
        assert!(!s
            .decide_registration(id, RequestStatus::Approved, "y", None, t0())
            .unwrap());
        assert_eq!(
            s.registration(id).unwrap().unwrap().status,
            RequestStatus::Rejected
        );
    }

    #[test]
    fn unverified_registrations_lapse() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("p.sqlite3")).unwrap();
        let r = NewRegistration {
            username: "ana",
            display_name: "Ana",
            email: "ana@example.coop",
            collective: "fki",
            message: "",
            language: "ca",
        };
        s.add_registration(&r, t0()).unwrap();
        let later = t0() + Purpose::ConfirmEmail.lifetime() + time::Duration::seconds(1);
        assert_eq!(s.waiting_count("fki", later).unwrap(), 0);
        assert_eq!(
            s.registration_holds("ana", "x@y.z", later).unwrap(),
            (false, false)
        );
        assert!(s
            .unverified_by_email("ana@example.coop", later)
            .unwrap()
            .is_none());
    }
}
