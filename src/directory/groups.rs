//! Group membership: a collective's `members` and `admins`, and the service groups. Every group
//! keeps the supervisor as a placeholder member (a `groupOfNames` needs one); it is never
//! shown as a person and never removed.
//!
//! Each write takes an optional proxied identity: the supervisor writes as itself; the portal
//! writes "as" a proven collective admin (see [`super::AdminOf`]) so that slapd's access rules
//! judge the write as that person.

use super::client::Directory;
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

impl Directory {
    /// Make `username` a member of `collective`.
    pub async fn add_member(&self, collective: &str, username: &str) -> Result<(), DirectoryError> {
        self.add_member_acting(collective, username, Acting::Bound)
            .await
    }

    /// Take `username` out of `collective`: out of its members, its admins and its service
    /// groups.
    pub async fn remove_member(
        &self,
        collective: &str,
        username: &str,
    ) -> Result<(), DirectoryError> {
        self.remove_member_acting(collective, username, Acting::Bound)
            .await
    }

    /// Make `username` an admin of `collective`, and a member if they were not.
    pub async fn grant_admin(
        &self,
        collective: &str,
        username: &str,
    ) -> Result<(), DirectoryError> {
        self.grant_admin_acting(collective, username, Acting::Bound)
            .await
    }

    /// `username` stays a member, but no longer an admin.
    pub async fn revoke_admin(
        &self,
        collective: &str,
        username: &str,
    ) -> Result<(), DirectoryError> {
        self.revoke_admin_acting(collective, username, Acting::Bound)
            .await
    }

    pub(super) async fn add_member_acting(
        &self,
        collective: &str,
        username: &str,
        acting: Acting<'_>,
    ) -> Result<(), DirectoryError> {
        names::collective_id(collective)?;
        self.require_user(username).await?;
        let action = acting.describe(format!("add `{username}` to collective `{collective}`"));
        match self
            .add_value(&self.tree.members(collective), username, acting)
            .await
        {
            Ok(()) => Ok(()),
            Err(f) if f.code() == Some(rc::ATTRIBUTE_OR_VALUE_EXISTS) => {
                Err(DirectoryError::AlreadyExists {
                    what: format!("`{username}` as a member of `{collective}`"),
                    hint: "nothing was changed".into(),
                })
            }
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => Err(no_collective(collective)),
            Err(f) => Err(f.into_error(action)),
        }
    }

    pub(super) async fn remove_member_acting(
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
            match self.delete_value(&g, username, acting).await {
                Ok(()) => {}
                Err(f) if f.code() == Some(rc::NO_SUCH_ATTRIBUTE) => {}
                Err(f) => return Err(f.into_error(action)),
            }
        }
        match self
            .delete_value(&self.tree.members(collective), username, acting)
            .await
        {
            Ok(()) => Ok(()),
            Err(f) if f.code() == Some(rc::NO_SUCH_ATTRIBUTE) => Err(DirectoryError::NotFound {
                what: format!("`{username}` as a member of `{collective}`"),
                hint: format!(
                    "`commonscloud directory collective show {collective}` lists its members"
                ),
            }),
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => Err(no_collective(collective)),
            Err(f) => Err(f.into_error(action)),
        }
    }

    pub(super) async fn grant_admin_acting(
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
        match self
            .add_value(&self.tree.admins(collective), username, acting)
            .await
        {
            Ok(()) => Ok(()),
            Err(f) if f.code() == Some(rc::ATTRIBUTE_OR_VALUE_EXISTS) => {
                Err(DirectoryError::AlreadyExists {
                    what: format!("`{username}` as an admin of `{collective}`"),
                    hint: "nothing was changed".into(),
                })
            }
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => Err(no_collective(collective)),
            Err(f) => Err(f.into_error(action)),
        }
    }

    pub(super) async fn revoke_admin_acting(
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
        match self
            .delete_value(&self.tree.admins(collective), username, acting)
            .await
        {
            Ok(()) => Ok(()),
            Err(f) if f.code() == Some(rc::NO_SUCH_ATTRIBUTE) => Err(DirectoryError::NotFound {
                what: format!("`{username}` as an admin of `{collective}`"),
                hint: format!(
                    "`commonscloud directory collective show {collective}` lists its admins"
                ),
            }),
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => Err(no_collective(collective)),
            Err(f) => Err(f.into_error(action)),
        }
    }

    async fn add_value(
        &self,
        group: &str,
        username: &str,
        acting: Acting<'_>,
    ) -> Result<(), Fault> {
        let person = self.tree.person(username);
        self.modify(
            group,
            vec![Mod::Add("member", HashSet::from([person.as_str()]))],
            acting.proxy(),
        )
        .await
    }

    async fn delete_value(
        &self,
        group: &str,
        username: &str,
        acting: Acting<'_>,
    ) -> Result<(), Fault> {
        let person = self.tree.person(username);
        self.modify(
            group,
            vec![Mod::Delete("member", HashSet::from([person.as_str()]))],
            acting.proxy(),
        )
        .await
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
