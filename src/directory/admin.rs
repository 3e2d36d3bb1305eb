//! Rights as types: what a collective admin does for themselves (through the portal) takes an
//! [`AdminOf`], which only [`Directory::prove_admin`] makes, after finding the person in the
//! collective's `cn=admins`. The check cannot be forgotten at a call site.
//!
//! The writes are sent with the proxied authorization control (RFC 4370), so slapd judges
//! each one as that admin too: an `AdminOf` for one collective cannot change another, even if
//! the portal's own account could. The operations that take an `AdminOf` (`add_member_as`,
//! `remove_member_as`, `grant_admin_as`, `revoke_admin_as`) are made next to their supervisor
//! twins, in `groups.rs`.

use super::client::Directory;
use super::collectives::no_collective;
use super::error::{rc, DirectoryError};
use super::filter;
use super::groups::Acting;
use super::names;
use ldap3::Scope;

/// Proof that `actor` was an admin of `collective` when it was made. Private fields, no
/// public constructor: only [`Directory::prove_admin`] makes one.
#[derive(Debug, Clone)]
pub struct AdminOf {
    actor: String,
    actor_dn: String,
    collective: String,
}

impl AdminOf {
    pub fn actor(&self) -> &str {
        &self.actor
    }

    pub fn collective(&self) -> &str {
        &self.collective
    }

    pub(super) fn acting(&self) -> Acting<'_> {
        Acting::As {
            dn: &self.actor_dn,
            actor: &self.actor,
        }
    }
}

impl Directory {
    /// Check that `actor` is in `collective`'s admins, and return the proof.
    pub async fn prove_admin(
        &self,
        actor: &str,
        collective: &str,
    ) -> Result<AdminOf, DirectoryError> {
        names::username(actor)?;
        names::collective_id(collective)?;
        let actor_dn = self.tree.person(actor);
        let found = match self
            .search_small(
                &self.tree.admins(collective),
                Scope::Base,
                &filter::eq("member", &actor_dn),
                &["1.1"],
            )
            .await
        {
            Ok(found) => found,
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => {
                return Err(no_collective(collective))
            }
            Err(f) => {
                return Err(f.into_error(format!(
                    "check that `{actor}` is an admin of `{collective}`"
                )))
            }
        };
        if found.is_empty() {
            return Err(DirectoryError::NotAdmin {
                actor: actor.to_string(),
                collective: collective.to_string(),
            });
        }
        Ok(AdminOf {
            actor: actor.to_string(),
            actor_dn,
            collective: collective.to_string(),
        })
    }
}
