//! Single-use tokens: 32 random bytes sent in a link, stored as their SHA-256, bound to one
//! purpose and one subject, expiring. Issuing a new one for the same purpose and subject
//! retires the older ones (a resend makes earlier links useless).

use super::{from_unix, hash_secret, new_secret, unix, Store, StoreError};
use rusqlite::{params, OptionalExtension};
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirm the email of a registration (subject: registration id).
    ConfirmEmail,
    /// Set the first password of an approved account (subject: username).
    SetPassword,
    /// Reset a forgotten password (subject: username).
    ResetPassword,
    /// Confirm a new email address (subject: username; data: the address).
    ChangeEmail,
    /// Accept an invitation (subject: invitation id).
    Invitation,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::ConfirmEmail => "confirm-email",
            Purpose::SetPassword => "set-password",
            Purpose::ResetPassword => "reset-password",
            Purpose::ChangeEmail => "change-email",
            Purpose::Invitation => "invitation",
        }
    }

    /// How long a link stays valid.
    pub fn lifetime(self) -> Duration {
        match self {
            Purpose::ConfirmEmail => Duration::hours(48),
            Purpose::SetPassword => Duration::days(7),
            Purpose::ResetPassword => Duration::hours(1),
            Purpose::ChangeEmail => Duration::hours(24),
            Purpose::Invitation => Duration::days(14),
        }
    }
}

/// Why a token is not accepted. Each has its own page; none is a server error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token we issued (or mistyped, or its request is gone).
    Unknown,
    /// Already used (or replaced by a newer link).
    Used,
    Expired,
    /// A real token, for something else.
    WrongPurpose,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub purpose: String,
    pub subject: String,
    pub data: Option<String>,
    pub expires: OffsetDateTime,
}

/// purpose, subject, data, expires, used.
type StoredToken = (String, String, Option<String>, i64, Option<i64>);

/// A token as it may arrive from a URL: 64 lower-case hex characters, nothing else.
fn well_formed(token: &str) -> bool {
    token.len() == 64
        && token
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl Store {
    /// A new token for `purpose` and `subject`; returns the secret to put in a link.
    pub fn issue_token(
        &self,
        purpose: Purpose,
        subject: &str,
        data: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<String, StoreError> {
        let secret = new_secret();
        let conn = self.conn();
        conn.execute(
            "UPDATE tokens SET used = ?3 WHERE purpose = ?1 AND subject = ?2 AND used IS NULL",
            params![purpose.as_str(), subject, unix(now)],
        )
        .map_err(|e| self.err(e))?;
        conn.execute(
            "INSERT INTO tokens (hash, purpose, subject, data, created, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                hash_secret(&secret),
                purpose.as_str(),
                subject,
                data,
                unix(now),
                unix(now + purpose.lifetime())
            ],
        )
        .map_err(|e| self.err(e))?;
        // Old tokens go after a week past their expiry.
        conn.execute(
            "DELETE FROM tokens WHERE expires < ?1",
            params![unix(now - Duration::days(7))],
        )
        .map_err(|e| self.err(e))?;
        Ok(secret)
    }

    /// Check a token without using it (the page that shows the button).
    pub fn peek_token(
        &self,
        token: &str,
        purpose: Purpose,
        now: OffsetDateTime,
    ) -> Result<Result<TokenRow, TokenError>, StoreError> {
        self.check_token(token, purpose, now, false)
    }

    /// Check a token and use it up, atomically: of two concurrent uses, one wins.
    pub fn consume_token(
        &self,
        token: &str,
        purpose: Purpose,
        now: OffsetDateTime,
    ) -> Result<Result<TokenRow, TokenError>, StoreError> {
        self.check_token(token, purpose, now, true)
    }

    fn check_token(
        &self,
        token: &str,
        purpose: Purpose,
        now: OffsetDateTime,
        consume: bool,
    ) -> Result<Result<TokenRow, TokenError>, StoreError> {
        if !well_formed(token) {
            return Ok(Err(TokenError::Unknown));
        }
        let hash = hash_secret(token);
        let conn = self.conn();
        let row: Option<StoredToken> = conn
            .query_row(
                "SELECT purpose, subject, data, expires, used FROM tokens WHERE hash = ?1",
                [&hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((p, subject, data, expires, used)) = row else {
            return Ok(Err(TokenError::Unknown));
        };
        if p != purpose.as_str() {
            return Ok(Err(TokenError::WrongPurpose));
        }
        if used.is_some() {
            return Ok(Err(TokenError::Used));
        }
        if expires <= unix(now) {
            return Ok(Err(TokenError::Expired));
        }
        if consume {
            let changed = conn
                .execute(
                    "UPDATE tokens SET used = ?2 WHERE hash = ?1 AND used IS NULL",
                    params![hash, unix(now)],
                )
                .map_err(|e| self.err(e))?;
            if changed == 0 {
                return Ok(Err(TokenError::Used));
            }
        }
        Ok(Ok(TokenRow {
            purpose: p,
            subject,
            data,
            expires: from_unix(expires),
        }))
    }

    /// Retire every unused token of `purpose` for `subject` (a request was decided).
    pub fn retire_tokens(
        &self,
        purpose: Purpose,
        subject: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE tokens SET used = ?3 WHERE purpose = ?1 AND subject = ?2 AND used IS NULL",
                params![purpose.as_str(), subject, unix(now)],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("p.sqlite3")).unwrap();
        (d, s)
    }

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn a_token_is_single_use_bound_and_expiring() {
        let (_d, s) = store();
        let t = s
            .issue_token(Purpose::ConfirmEmail, "7", None, t0())
            .unwrap();
        assert_eq!(t.len(), 64);
        assert_eq!(
            s.peek_token(&t, Purpose::ResetPassword, t0()).unwrap(),
            Err(TokenError::WrongPurpose)
        );
        assert_eq!(
            s.peek_token(&t, Purpose::ConfirmEmail, t0())
                .unwrap()
                .unwrap()
                .subject,
            "7"
        );
        let late = t0() + Purpose::ConfirmEmail.lifetime();
        assert_eq!(
            s.peek_token(&t, Purpose::ConfirmEmail, late).unwrap(),
            Err(TokenError::Expired)
        );
        assert!(s
            .consume_token(&t, Purpose::ConfirmEmail, t0())
            .unwrap()
            .is_ok());
        assert_eq!(
            s.consume_token(&t, Purpose::ConfirmEmail, t0()).unwrap(),
            Err(TokenError::Used)
        );
        assert_eq!(
            s.peek_token(&"0".repeat(64), Purpose::ConfirmEmail, t0())
                .unwrap(),
            Err(TokenError::Unknown)
        );
        assert_eq!(
            s.peek_token("../../etc", Purpose::ConfirmEmail, t0())
                .unwrap(),
            Err(TokenError::Unknown)
        );
    }

    #[test]
    fn a_new_token_retires_the_old_one() {
        let (_d, s) = store();
        let a = s
            .issue_token(Purpose::ConfirmEmail, "1", None, t0())
            .unwrap();
        let b = s
            .issue_token(Purpose::ConfirmEmail, "1", None, t0())
            .unwrap();
        assert_eq!(
            s.peek_token(&a, Purpose::ConfirmEmail, t0()).unwrap(),
            Err(TokenError::Used)
        );
        assert!(s
            .peek_token(&b, Purpose::ConfirmEmail, t0())
            .unwrap()
            .is_ok());
        let stored: String = s
            .conn()
            .query_row("SELECT hash FROM tokens LIMIT 1", [], |r| r.get(0))
            .unwrap();
        assert_ne!(stored, a, "tokens are stored hashed");
    }
}
