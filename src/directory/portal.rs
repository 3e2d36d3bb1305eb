//! What the portal needs beyond the supervisor's operations: finding people by address,
//! reading a collective's admins to notify them, and the changes a person makes to their own
//! account, which the portal sends "as" that person (proxied authorization, RFC 4370) so that
//! slapd's rules for owners apply.

use super::client::{first, values, Directory};
use super::collectives::no_collective;
use super::dn::Node;
use super::error::{rc, DirectoryError, Fault};
use super::filter;
use super::names;
use super::people::no_user;
use ldap3::controls::{ProxyAuth, RawControl};
use ldap3::{Mod, Scope};
use std::collections::HashSet;

/// Someone to write to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub username: String,
    pub display_name: String,
    pub email: String,
    /// `preferredLanguage`, when set.
    pub language: Option<String>,
}

const CONTACT_ATTRS: &[&str] = &["uid", "cn", "displayName", "mail", "preferredLanguage"];

impl Directory {
    /// A handle whose operations slapd judges as `dn`.
    fn acting_as(&self, dn: &str) -> ldap3::Ldap {
        let mut ldap = self.ldap.clone();
        ldap.with_timeout(std::time::Duration::from_secs(30));
        let control: RawControl = ProxyAuth {
            authzid: format!("dn:{dn}"),
        }
        .into();
        ldap.with_controls(vec![control]);
        ldap
    }

    fn contact(&self, e: &ldap3::SearchEntry) -> Option<Contact> {
        let username = match self.tree.classify(&e.dn) {
            Node::Person(u) => u,
            _ => return None,
        };
        Some(Contact {
            display_name: first(e, "displayName")
                .or_else(|| first(e, "cn"))
                .unwrap_or_else(|| username.clone()),
            email: first(e, "mail").unwrap_or_default(),
            language: first(e, "preferredLanguage"),
            username,
        })
    }

    /// The accounts whose `mail` is `email` (compared as the directory does, ignoring case).
    pub async fn people_with_email(&self, email: &str) -> Result<Vec<Contact>, DirectoryError> {
        names::email(email)?;
        let entries = self
            .search_small(
                &self.tree.people(),
                Scope::OneLevel,
                &filter::and(&[filter::class("inetOrgPerson"), filter::eq("mail", email)]),
                CONTACT_ATTRS,
            )
            .await
            .map_err(|f| f.into_error("find an account by email"))?;
        Ok(entries.iter().filter_map(|e| self.contact(e)).collect())
    }

    /// One person's contact details, or `None` when there is no such account.
    pub async fn contact_of(&self, username: &str) -> Result<Option<Contact>, DirectoryError> {
        names::username(username)?;
        match self
            .search_small(
                &self.tree.person(username),
                Scope::Base,
                &filter::class("inetOrgPerson"),
                CONTACT_ATTRS,
            )
            .await
        {
            Ok(entries) => Ok(entries.first().and_then(|e| self.contact(e))),
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => Ok(None),
            Err(f) => Err(f.into_error(format!("read user `{username}`"))),
        }
    }

    /// Whether an account named `username` exists.
    pub async fn user_exists(&self, username: &str) -> Result<bool, DirectoryError> {
        names::username(username)?;
        self.exists(&self.tree.person(username))
            .await
            .map_err(|f| f.into_error(format!("read user `{username}`")))
    }

    /// The admins of `collective`, to notify them.
    pub async fn admin_contacts(&self, collective: &str) -> Result<Vec<Contact>, DirectoryError> {
        names::collective_id(collective)?;
        let entries = self
            .search_small(
                &self.tree.people(),
                Scope::OneLevel,
                &filter::and(&[
                    filter::class("inetOrgPerson"),
                    filter::eq("memberOf", &self.tree.admins(collective)),
                ]),
                CONTACT_ATTRS,
            )
            .await
            .map_err(|f| f.into_error(format!("list the admins of `{collective}`")))?;
        let mut out: Vec<Contact> = entries.iter().filter_map(|e| self.contact(e)).collect();
        out.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(out)
    }

    /// The people in the group of service `app_id` of `collective` (`None` when the group does
    /// not exist).
    pub async fn service_people(
        &self,
        collective: &str,
        app_id: &str,
    ) -> Result<Option<Vec<String>>, DirectoryError> {
        names::collective_id(collective)?;
        names::app_id(app_id)?;
        match self
            .search_small(
                &self.tree.service_group(Some(collective), app_id),
                Scope::Base,
                "(objectClass=*)",
                &["member"],
            )
            .await
        {
            Ok(entries) => Ok(Some(
                entries
                    .first()
                    .map(|e| self.people_in(values(e, "member")))
                    .unwrap_or_default(),
            )),
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => Ok(None),
            Err(f) => Err(f.into_error(format!("read service `{app_id}` of `{collective}`"))),
        }
    }

    /// Whether `collective` exists.
    pub async fn collective_exists(&self, collective: &str) -> Result<bool, DirectoryError> {
        names::collective_id(collective)?;
        self.exists(&self.tree.collective(collective))
            .await
            .map_err(|f| f.into_error(format!("read collective `{collective}`")))
    }

    /// Set a person's password as that person (Password Modify without a target, judged by
    /// slapd as its owner; slapd hashes it).
    pub async fn set_own_password_as(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(), DirectoryError> {
        names::username(username)?;
        names::password(password)?;
        let dn = self.tree.person(username);
        let action = format!("set the password of `{username}` (as `{username}`)");
        let res = self
            .acting_as(&dn)
            .extended(ldap3::exop::PasswordModify {
                user_id: None,
                old_pass: None,
                new_pass: Some(password),
            })
            .await
            .map_err(|e| Fault::from(e).into_error(action.clone()))?;
        match res.1.rc {
            rc::SUCCESS => Ok(()),
            rc::NO_SUCH_OBJECT => Err(no_user(username)),
            _ => Err(Fault::from(res.1).into_error(action)),
        }
    }

    /// Change a person's display name (`cn`, `displayName`, `givenName`, `sn`) as that person.
    pub async fn set_display_name_as(
        &self,
        username: &str,
        display_name: &str,
    ) -> Result<(), DirectoryError> {
        names::username(username)?;
        names::display_name(display_name)?;
        let dn = self.tree.person(username);
        let (given, sn) = names::split_name(display_name);
        let mut mods = vec![
            Mod::Replace("cn", HashSet::from([display_name])),
            Mod::Replace("displayName", HashSet::from([display_name])),
            Mod::Replace("sn", HashSet::from([sn.as_str()])),
        ];
        mods.push(match &given {
            Some(g) => Mod::Replace("givenName", HashSet::from([g.as_str()])),
            None => Mod::Replace("givenName", HashSet::new()),
        });
        let action = format!("change the name of `{username}` (as `{username}`)");
        let res = self
            .acting_as(&dn)
            .modify(&dn, mods)
            .await
            .map_err(|e| Fault::from(e).into_error(action.clone()))?;
        match res.rc {
            rc::SUCCESS => Ok(()),
            rc::NO_SUCH_OBJECT => Err(no_user(username)),
            _ => Err(Fault::from(res).into_error(action)),
        }
    }

    /// Change a person's preferred language as that person.
    pub async fn set_language_as(
        &self,
        username: &str,
        language: &str,
    ) -> Result<(), DirectoryError> {
        names::username(username)?;
        if !(2..=8).contains(&language.len()) || !language.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(DirectoryError::Invalid {
                what: "language",
                value: language.escape_debug().to_string(),
                why: "it is not a language tag".into(),
                rule: "a language is a tag like `ca`, `es` or `en`",
            });
        }
        let dn = self.tree.person(username);
        let action = format!("change the language of `{username}`");
        let res = self
            .acting_as(&dn)
            .modify(
                &dn,
                vec![Mod::Replace("preferredLanguage", HashSet::from([language]))],
            )
            .await
            .map_err(|e| Fault::from(e).into_error(action.clone()))?;
        match res.rc {
            rc::SUCCESS => Ok(()),
            _ => Err(Fault::from(res).into_error(action)),
        }
    }

    /// Change a person's email (the portal itself writes `mail`, after the new address was
    /// confirmed; owners may not).
    pub async fn set_email(&self, username: &str, email: &str) -> Result<(), DirectoryError> {
        names::username(username)?;
        names::email(email)?;
        match self
            .modify(
                &self.tree.person(username),
                vec![Mod::Replace("mail", HashSet::from([email]))],
                None,
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => Err(no_user(username)),
            Err(f) => Err(f.into_error(format!("change the email of `{username}`"))),
        }
    }

    /// The display name of collective `id`.
    pub async fn collective_name(&self, id: &str) -> Result<String, DirectoryError> {
        names::collective_id(id)?;
        match self
            .search_small(
                &self.tree.collective(id),
                Scope::Base,
                "(objectClass=*)",
                &["description"],
            )
            .await
        {
            Ok(e) => Ok(e
                .first()
                .and_then(|e| first(e, "description"))
                .unwrap_or_else(|| id.to_string())),
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => Err(no_collective(id)),
            Err(f) => Err(f.into_error(format!("read collective `{id}`"))),
        }
    }
}
