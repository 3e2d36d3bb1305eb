//! Group membership: a collective's `members` and `admins`, and the service groups. Every group
//! keeps the supervisor as a placeholder member (a `groupOfNames` needs one); it is never
//! shown as a person and never removed.
//!
//! Each write takes an optional proxied identity: the supervisor writes as itself; the portal
//! writes "as" a proven collective admin (see [`super::AdminOf`]) so that slapd's access rules
//! judge the write as that person. Both kinds of operation are the same code, with a different
//! [`Acting`].
//!
//! A collective that has members keeps at least one admin: the last one can be neither revoked
//! nor removed while anybody else is in it.

use super::admin::AdminOf;
use super::client::{values, Directory};
use super::collectives::no_collective;
use super::error::{rc, DirectoryError, Fault};
use super::filter;
use super::names;
use ldap3::{Mod, Scope};
use std::collections::HashSet;

/// Who a membership write is done for.
#[derive(Clone, Copy)]
pub(super) enum Acting<'a> {
    /// The bound account itself (the supervisor).
    Bound,
    /// A proven admin: the DN sent in the proxied authorization control.
    As { dn: &'a str, actor: &'a str },
}

impl Acting<'_> {
    fn proxy(&self) -> Option<&str> {
        match self {
            Acting::Bound => None,
            Acting::As { dn, .. } => Some(dn),
        }
    }

    fn describe(&self, what: String) -> String {
        match self {
            Acting::Bound => what,
            Acting::As { actor, .. } => format!("{what} (as `{actor}`)"),
        }
    }
}

/// Whether a write puts a person in a group or takes them out.
#[derive(Clone, Copy)]
pub(super) enum Change {
    Add,
    Delete,
}

/// Which of a collective's own groups a write is about.
#[derive(Clone, Copy)]
enum Role {
    Member,
    Admin,
}

impl Role {
    /// `a member`, `an admin`.
    fn a(self) -> &'static str {
        match self {
            Role::Member => "a member",
            Role::Admin => "an admin",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Role::Member => "members",
            Role::Admin => "admins",
        }
    }
}

/// Each membership operation twice: as the supervisor (`Acting::Bound`), and for a proven admin
/// of the collective (`…_as`, judged by slapd as that admin). Both call the one `…_acting`
/// method that does the work.
macro_rules! membership_operations {
    ($($(#[$doc:meta])* $name:ident, $name_as:ident => $acting:ident;)+) => {
        impl Directory {
            $(
                $(#[$doc])*
                pub async fn $name(
                    &self,
                    collective: &str,
                    username: &str,
                ) -> Result<(), DirectoryError> {
                    self.$acting(collective, username, Acting::Bound).await
                }

                #[doc = concat!(
                    "[`Directory::", stringify!($name), "`] in the admin's collective, judged by ",
                    "slapd as the admin."
                )]
                pub async fn $name_as(
                    &self,
                    admin: &AdminOf,
                    username: &str,
                ) -> Result<(), DirectoryError> {
                    self.$acting(admin.collective(), username, admin.acting()).await
                }
            )+
        }
    };
}

membership_operations! {
    /// Make `username` a member of `collective`.
    add_member, add_member_as => add_member_acting;
    /// Take `username` out of `collective`: out of its members, its admins and its service
    /// groups. Refused for its last admin while others are still in it.
    remove_member, remove_member_as => remove_member_acting;
    /// Make `username` an admin of `collective`, and a member if they were not.
    grant_admin, grant_admin_as => grant_admin_acting;
    /// `username` stays a member, but no longer an admin. Refused for the last admin.
    revoke_admin, revoke_admin_as => revoke_admin_acting;
}

impl Directory {
    async fn add_member_acting(
        &self,
        collective: &str,
        username: &str,
        acting: Acting<'_>,
    ) -> Result<(), DirectoryError> {
        names::collective_id(collective)?;
        self.require_user(username).await?;
        let action = acting.describe(format!("add `{username}` to collective `{collective}`"));
        self.write_role(
            collective,
            username,
            Role::Member,
            Change::Add,
            acting,
            &action,
        )
        .await
    }

    async fn remove_member_acting(
        &self,
        collective: &str,
        username: &str,
        acting: Acting<'_>,
    ) -> Result<(), DirectoryError> {
        names::collective_id(collective)?;
        names::username(username)?;
        let action = acting.describe(format!(
            "remove `{username}` from collective `{collective}`"
        ));
        self.keep_an_admin(collective, username, true, &action)
            .await?;
        let person = self.tree.person(username);
        // Admins and service groups first, members last: an interrupted removal is finished
        // by running it again.
        let mut groups = vec![self.tree.admins(collective)];
        match self
            .search(
                &self.tree.collective_services(collective),
                Scope::OneLevel,
                &filter::and(&[filter::class("groupOfNames"), filter::eq("member", &person)]),
                &["1.1"],
            )
            .await
        {
            Ok(found) => groups.extend(found.into_iter().map(|e| e.dn)),
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => {
                return Err(no_collective(collective))
            }
            Err(f) => return Err(f.into_error(action)),
        }
        for g in groups {
            self.write_member(&g, &person, Change::Delete, acting)
                .await
                .map_err(|f| f.into_error(action.clone()))?;
        }
        self.write_role(
            collective,
            username,
            Role::Member,
            Change::Delete,
            acting,
            &action,
        )
        .await
    }

    async fn grant_admin_acting(
        &self,
        collective: &str,
        username: &str,
        acting: Acting<'_>,
    ) -> Result<(), DirectoryError> {
        match self.add_member_acting(collective, username, acting).await {
            Ok(()) | Err(DirectoryError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
        let action = acting.describe(format!(
            "make `{username}` an admin of collective `{collective}`"
        ));
        self.write_role(
            collective,
            username,
            Role::Admin,
            Change::Add,
            acting,
            &action,
        )
        .await
    }

    async fn revoke_admin_acting(
        &self,
        collective: &str,
        username: &str,
        acting: Acting<'_>,
    ) -> Result<(), DirectoryError> {
        names::collective_id(collective)?;
        names::username(username)?;
        let action = acting.describe(format!(
            "revoke `{username}` as an admin of collective `{collective}`"
        ));
        self.keep_an_admin(collective, username, false, &action)
            .await?;
        self.write_role(
            collective,
            username,
            Role::Admin,
            Change::Delete,
            acting,
            &action,
        )
        .await
    }

    /// Add `username` to, or delete them from, `collective`'s members or admins. Adding someone
    /// already there and deleting someone not there are errors that say so; a missing group
    /// means a missing collective.
    async fn write_role(
        &self,
        collective: &str,
        username: &str,
        role: Role,
        change: Change,
        acting: Acting<'_>,
        action: &str,
    ) -> Result<(), DirectoryError> {
        let group = match role {
            Role::Member => self.tree.members(collective),
            Role::Admin => self.tree.admins(collective),
        };
        let changed = self
            .write_member(&group, &self.tree.person(username), change, acting)
            .await
            .map_err(|f| match f.code() {
                Some(rc::NO_SUCH_OBJECT) => no_collective(collective),
                _ => f.into_error(action),
            })?;
        if changed {
            return Ok(());
        }
        let what = format!("`{username}` as {} of `{collective}`", role.a());
        Err(match change {
            Change::Add => DirectoryError::AlreadyExists {
                what,
                hint: "nothing was changed".into(),
            },
            Change::Delete => DirectoryError::NotFound {
                what,
                hint: format!(
                    "`commonscloud collective show {collective}` lists its {}",
                    role.plural()
                ),
            },
        })
    }

    /// Add `member_dn` to `group`, or delete it. `Ok(false)` when it already was so: the value
    /// already there to add, or already gone to delete.
    pub(super) async fn write_member(
        &self,
        group: &str,
        member_dn: &str,
        change: Change,
        acting: Acting<'_>,
    ) -> Result<bool, Fault> {
        let value = HashSet::from([member_dn]);
        let (m, already) = match change {
            Change::Add => (Mod::Add("member", value), rc::ATTRIBUTE_OR_VALUE_EXISTS),
            Change::Delete => (Mod::Delete("member", value), rc::NO_SUCH_ATTRIBUTE),
        };
        match self.modify(group, vec![m], acting.proxy()).await {
            Ok(()) => Ok(true),
            Err(f) if f.code() == Some(already) => Ok(false),
            Err(f) => Err(f),
        }
    }

    /// Refuse to take away the last admin of `collective` while it has members: nobody could
    /// manage it any more. `leaving`: the person also leaves the collective; then the last admin
    /// who is also its last member may go (that empties the collective, before removing it).
    async fn keep_an_admin(
        &self,
        collective: &str,
        username: &str,
        leaving: bool,
        action: &str,
    ) -> Result<(), DirectoryError> {
        let admins = self
            .people_of_group(collective, &self.tree.admins(collective), action)
            .await?;
        if admins != [username] {
            return Ok(());
        }
        if leaving {
            let members = self
                .people_of_group(collective, &self.tree.members(collective), action)
                .await?;
            if members.iter().all(|m| m == username) {
                return Ok(());
            }
        }
        Err(DirectoryError::LastAdmin {
            username: username.to_string(),
            collective: collective.to_string(),
        })
    }

    /// The people in one of `collective`'s groups, read from the group itself.
    async fn people_of_group(
        &self,
        collective: &str,
        group: &str,
        action: &str,
    ) -> Result<Vec<String>, DirectoryError> {
        match self
            .search_small(group, Scope::Base, "(objectClass=*)", &["member"])
            .await
        {
            Ok(entries) => Ok(entries
                .first()
                .map(|e| self.people_in(values(e, "member")))
                .unwrap_or_default()),
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => Err(no_collective(collective)),
            Err(f) => Err(f.into_error(action)),
        }
    }

    /// Make sure the group of service `app_id` exists: a collective's own service when
    /// `collective` is given, a public one otherwise. Returns its DN.
    pub async fn ensure_service_group(
        &self,
        collective: Option<&str>,
        app_id: &str,
    ) -> Result<String, DirectoryError> {
        if let Some(c) = collective {
            names::collective_id(c)?;
        }
        names::app_id(app_id)?;
        let dn = self.tree.service_group(collective, app_id);
        match self.ensure_group(&dn, &self.tree.supervisor()).await {
            Ok(()) => Ok(dn),
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => match collective {
                Some(c) => Err(no_collective(c)),
                None => Err(f.into_error(format!("create the group of service `{app_id}`"))),
            },
            Err(f) => Err(f.into_error(format!("create the group of service `{app_id}`"))),
        }
    }

    /// Remove the group of service `app_id`.
    pub async fn remove_service_group(
        &self,
        collective: Option<&str>,
        app_id: &str,
    ) -> Result<(), DirectoryError> {
        if let Some(c) = collective {
            names::collective_id(c)?;
        }
        names::app_id(app_id)?;
        match self
            .delete(&self.tree.service_group(collective, app_id))
            .await
        {
            Ok(()) => Ok(()),
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => Err(DirectoryError::NotFound {
                what: match collective {
                    Some(c) => format!("the group of service `{app_id}` of collective `{c}`"),
                    None => format!("the group of public service `{app_id}`"),
                },
                hint: "nothing was changed".into(),
            }),
            Err(f) => Err(f.into_error(format!("remove the group of service `{app_id}`"))),
        }
    }
}
