//! People: one `inetOrgPerson` per account under `ou=people`, whatever collectives they are in.
//! Disabled means locked by the password policy (`pwdAccountLockedTime: 000001010000Z`, locked
//! until an administrator unlocks). Passwords are set only with Password Modify.

use super::client::{first, values, Directory};
use super::collectives::no_collective;
use super::dn::Node;
use super::error::{rc, DirectoryError};
use super::filter;
use super::groups::{Acting, Change};
use super::names;
use ldap3::{Mod, Scope, SearchEntry};
use serde::Serialize;
use std::collections::HashSet;

/// ppolicy's "locked until an administrator unlocks".
const LOCKED_FOREVER: &str = "000001010000Z";
const LOCKED_ATTR: &str = "pwdAccountLockedTime";
const PERSON_ATTRS: &[&str] = &["uid", "cn", "displayName", "mail", "memberOf", LOCKED_ATTR];

/// An account to create. `givenName` and `sn` are derived from the display name.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub email: String,
    /// `preferredLanguage`, e.g. `ca`; optional.
    pub language: Option<String>,
}

/// An account as the directory has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    pub username: String,
    pub display_name: String,
    pub email: String,
    /// Collectives the person is a member of, sorted.
    pub collectives: Vec<String>,
    /// Collectives the person is an admin of, sorted.
    pub admin_of: Vec<String>,
    pub disabled: bool,
}

pub(super) fn no_user(username: &str) -> DirectoryError {
    DirectoryError::NotFound {
        what: format!("user `{username}`"),
        hint: "`commonscloud user list` shows the existing ones".into(),
    }
}

impl Directory {
    /// Create an account, with no password (it cannot log in until one is set) and in no
    /// collective.
    pub async fn add_user(&self, user: &NewUser) -> Result<(), DirectoryError> {
        names::username(&user.username)?;
        names::display_name(&user.display_name)?;
        names::email(&user.email)?;
        if let Some(lang) = &user.language {
            language(lang)?;
        }
        let (given, sn) = names::split_name(&user.display_name);
        let mut attrs = vec![
            (
                "objectClass",
                vec!["top", "person", "organizationalPerson", "inetOrgPerson"],
            ),
            ("uid", vec![user.username.as_str()]),
            ("cn", vec![user.display_name.as_str()]),
            ("sn", vec![sn.as_str()]),
            ("displayName", vec![user.display_name.as_str()]),
            ("mail", vec![user.email.as_str()]),
        ];
        if let Some(g) = &given {
            attrs.push(("givenName", vec![g.as_str()]));
        }
        if let Some(lang) = &user.language {
            attrs.push(("preferredLanguage", vec![lang.as_str()]));
        }
        match self.add(&self.tree.person(&user.username), attrs).await {
            Ok(()) => Ok(()),
            Err(f) if f.code() == Some(rc::ENTRY_ALREADY_EXISTS) => {
                Err(DirectoryError::AlreadyExists {
                    what: format!("user `{}`", user.username),
                    hint: "pick another username, or see `commonscloud user show`".into(),
                })
            }
            Err(f) => Err(f.into_error(format!("add user `{}`", user.username))),
        }
    }

    /// Every account, sorted by username.
    pub async fn list_users(&self) -> Result<Vec<UserInfo>, DirectoryError> {
        let entries = self
            .search(
                &self.tree.people(),
                Scope::OneLevel,
                &filter::class("inetOrgPerson"),
                PERSON_ATTRS,
            )
            .await
            .map_err(|f| f.into_error("list users"))?;
        let mut users: Vec<UserInfo> = entries.iter().filter_map(|e| self.user_info(e)).collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    pub async fn show_user(&self, username: &str) -> Result<UserInfo, DirectoryError> {
        names::username(username)?;
        let entry = self.person_entry(username).await?;
        self.user_info(&entry).ok_or_else(|| no_user(username))
    }

    async fn person_entry(&self, username: &str) -> Result<SearchEntry, DirectoryError> {
        match self
            .search_small(
                &self.tree.person(username),
                Scope::Base,
                &filter::class("inetOrgPerson"),
                PERSON_ATTRS,
            )
            .await
        {
            Ok(mut e) if !e.is_empty() => Ok(e.swap_remove(0)),
            Ok(_) => Err(no_user(username)),
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => Err(no_user(username)),
            Err(f) => Err(f.into_error(format!("read user `{username}`"))),
        }
    }

    /// Fails with a clear `NotFound` unless the account exists.
    pub(super) async fn require_user(&self, username: &str) -> Result<(), DirectoryError> {
        names::username(username)?;
        match self.exists(&self.tree.person(username)).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(no_user(username)),
            Err(f) => Err(f.into_error(format!("read user `{username}`"))),
        }
    }

    fn user_info(&self, e: &SearchEntry) -> Option<UserInfo> {
        let username = match self.tree.classify(&e.dn) {
            Node::Person(u) => u,
            _ => return None,
        };
        let mut collectives = vec![];
        let mut admin_of = vec![];
        for group in values(e, "memberOf") {
            match self.tree.classify(group) {
                Node::Members(id) => collectives.push(id),
                Node::Admins(id) => admin_of.push(id),
                _ => {}
            }
        }
        collectives.sort();
        admin_of.sort();
        Some(UserInfo {
            display_name: first(e, "displayName")
                .or_else(|| first(e, "cn"))
                .unwrap_or_default(),
            email: first(e, "mail").unwrap_or_default(),
            disabled: !values(e, LOCKED_ATTR).is_empty(),
            username,
            collectives,
            admin_of,
        })
    }

    /// Set a person's password (Password Modify: slapd hashes it).
    pub async fn set_password(&self, username: &str, password: &str) -> Result<(), DirectoryError> {
        names::username(username)?;
        names::password(password)?;
        match self
            .password_modify(&self.tree.person(username), password)
            .await
        {
            Ok(()) => Ok(()),
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => Err(no_user(username)),
            Err(f) => Err(f.into_error(format!("set the password of `{username}`"))),
        }
    }

    /// Lock an account: no bind succeeds until [`Directory::enable`]. Idempotent.
    pub async fn disable(&self, username: &str) -> Result<(), DirectoryError> {
        self.set_locked(username, true).await
    }

    /// Unlock an account. Idempotent.
    pub async fn enable(&self, username: &str) -> Result<(), DirectoryError> {
        self.set_locked(username, false).await
    }

    async fn set_locked(&self, username: &str, locked: bool) -> Result<(), DirectoryError> {
        names::username(username)?;
        let change = if locked {
            Mod::Replace(LOCKED_ATTR, HashSet::from([LOCKED_FOREVER]))
        } else {
            Mod::Delete(LOCKED_ATTR, HashSet::new())
        };
        match self
            .modify(&self.tree.person(username), vec![change], None)
            .await
        {
            Ok(()) => Ok(()),
            // Unlocking an account that was not locked.
            Err(f) if !locked && f.code() == Some(rc::NO_SUCH_ATTRIBUTE) => Ok(()),
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => Err(no_user(username)),
            Err(f) => Err(f.into_error(format!(
                "{} `{username}`",
                if locked { "disable" } else { "enable" }
            ))),
        }
    }

    /// Delete an account, after taking it out of every group (refint would too; doing it
    /// first means no group is ever left pointing at nobody, whatever the overlays).
    pub async fn remove_user(&self, username: &str) -> Result<(), DirectoryError> {
        self.require_user(username).await?;
        let dn = self.tree.person(username);
        let action = format!("remove user `{username}`");
        let groups = self
            .search(
                self.tree.base(),
                Scope::Subtree,
                &filter::and(&[filter::class("groupOfNames"), filter::eq("member", &dn)]),
                &["1.1"],
            )
            .await
            .map_err(|f| f.into_error(action.clone()))?;
        for g in groups {
            self.write_member(&g.dn, &dn, Change::Delete, Acting::Bound)
                .await
                .map_err(|f| f.into_error(action.clone()))?;
        }
        match self.delete(&dn).await {
            Ok(()) => Ok(()),
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => Err(no_user(username)),
            Err(f) => Err(f.into_error(action)),
        }
    }

    /// The members of a collective, found as apps find them: `(memberOf=<its members group>)`.
    pub async fn people_of(&self, collective: &str) -> Result<Vec<String>, DirectoryError> {
        names::collective_id(collective)?;
        let entries = self
            .search(
                &self.tree.people(),
                Scope::OneLevel,
                &filter::eq("memberOf", &self.tree.members(collective)),
                &["1.1"],
            )
            .await
            .map_err(|f| f.into_error(format!("list the people of `{collective}`")))?;
        let mut people: Vec<String> = entries
            .iter()
            .filter_map(|e| match self.tree.classify(&e.dn) {
                Node::Person(u) => Some(u),
                _ => None,
            })
            .collect();
        if people.is_empty() {
            self.require_collective(collective).await?;
        }
        people.sort();
        Ok(people)
    }

    pub(super) async fn require_collective(&self, id: &str) -> Result<(), DirectoryError> {
        names::collective_id(id)?;
        match self.exists(&self.tree.collective(id)).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(no_collective(id)),
            Err(f) => Err(f.into_error(format!("read collective `{id}`"))),
        }
    }
}

/// A language tag for `preferredLanguage`: letters, digits and `-`, up to 35 characters.
fn language(s: &str) -> Result<(), DirectoryError> {
    if !s.is_empty() && s.len() <= 35 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Ok(())
    } else {
        Err(DirectoryError::Invalid {
            what: "language",
            value: s.escape_debug().to_string(),
            why: "it is not a language tag".into(),
            rule: "a language is a tag like `ca`, `es` or `en-GB`",
        })
    }
}
