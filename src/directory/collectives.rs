//! Collectives: an `organizationalUnit` under `ou=collectives` holding the groups `members` and
//! `admins` and the folder of its services.

use super::client::{first, values, Directory};
use super::dn::{same_dn, Node};
use super::error::{rc, DirectoryError};
use super::filter;
use super::names;
use ldap3::{Mod, Scope};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// A collective in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollectiveInfo {
    pub id: String,
    pub name: String,
    /// People in `cn=members` (the placeholder is not counted).
    pub members: usize,
    pub admins: Vec<String>,
}

/// One collective in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollectiveDetail {
    pub id: String,
    pub name: String,
    pub members: Vec<String>,
    pub admins: Vec<String>,
    /// App ids of the collective's service groups.
    pub services: Vec<String>,
}

pub(super) fn no_collective(id: &str) -> DirectoryError {
    DirectoryError::NotFound {
        what: format!("collective `{id}`"),
        hint: "`commonscloud collective list` shows the existing ones".into(),
    }
}

impl Directory {
    /// Make sure collective `id` exists with display name `name`, and its groups `members`,
    /// `admins` and folder `services`. Running it again changes nothing; a changed name is
    /// updated.
    pub async fn ensure_collective(&self, id: &str, name: &str) -> Result<(), DirectoryError> {
        names::collective_id(id)?;
        names::display_name(name)?;
        let dn = self.tree.collective(id);
        let action = || format!("create collective `{id}`");
        match self
            .add(
                &dn,
                vec![
                    ("objectClass", vec!["organizationalUnit"]),
                    ("ou", vec![id]),
                    ("description", vec![name]),
                ],
            )
            .await
        {
            Ok(()) => {}
            Err(f) if f.code() == Some(rc::ENTRY_ALREADY_EXISTS) => {
                let entry = self
                    .search_small(&dn, Scope::Base, "(objectClass=*)", &["description"])
                    .await
                    .map_err(|f| f.into_error(action()))?;
                let current = entry.first().and_then(|e| first(e, "description"));
                if current.as_deref() != Some(name) {
                    self.modify(
                        &dn,
                        vec![Mod::Replace("description", HashSet::from([name]))],
                        None,
                    )
                    .await
                    .map_err(|f| f.into_error(format!("rename collective `{id}`")))?;
                }
            }
            Err(f) => return Err(f.into_error(action())),
        }
        let placeholder = self.tree.supervisor();
        for group in [self.tree.members(id), self.tree.admins(id)] {
            self.ensure_group(&group, &placeholder)
                .await
                .map_err(|f| f.into_error(action()))?;
        }
        match self
            .add(
                &self.tree.collective_services(id),
                vec![
                    ("objectClass", vec!["organizationalUnit"]),
                    ("ou", vec!["services"]),
                ],
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(f) if f.code() == Some(rc::ENTRY_ALREADY_EXISTS) => Ok(()),
            Err(f) => Err(f.into_error(action())),
        }
    }

    /// Add a `groupOfNames` whose only member is the placeholder, unless it exists.
    pub(super) async fn ensure_group(
        &self,
        dn: &str,
        placeholder: &str,
    ) -> Result<(), super::error::Fault> {
        let cn = match self.tree.classify(dn) {
            Node::Members(_) => "members".to_string(),
            Node::Admins(_) => "admins".to_string(),
            Node::CollectiveService { app, .. } | Node::PublicService(app) => app,
            _ => String::new(),
        };
        match self
            .add(
                dn,
                vec![
                    ("objectClass", vec!["groupOfNames"]),
                    ("cn", vec![&cn]),
                    ("member", vec![placeholder]),
                ],
            )
            .await
        {
            Err(f) if f.code() == Some(rc::ENTRY_ALREADY_EXISTS) => Ok(()),
            other => other,
        }
    }

    /// Every collective with its member count and admins, sorted by id.
    pub async fn list_collectives(&self) -> Result<Vec<CollectiveInfo>, DirectoryError> {
        let action = "list collectives";
        let units = self
            .search(
                &self.tree.collectives(),
                Scope::OneLevel,
                &filter::class("organizationalUnit"),
                &["ou", "description"],
            )
            .await
            .map_err(|f| f.into_error(action))?;
        let groups = self
            .search(
                &self.tree.collectives(),
                Scope::Subtree,
                &filter::and(&[
                    filter::class("groupOfNames"),
                    filter::or(&[filter::eq("cn", "members"), filter::eq("cn", "admins")]),
                ]),
                &["member"],
            )
            .await
            .map_err(|f| f.into_error(action))?;
        let mut members: BTreeMap<String, usize> = BTreeMap::new();
        let mut admins: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for g in &groups {
            match self.tree.classify(&g.dn) {
                Node::Members(id) => {
                    members.insert(id, self.people_in(values(g, "member")).len());
                }
                Node::Admins(id) => {
                    admins.insert(id, self.people_in(values(g, "member")));
                }
                _ => {}
            }
        }
        let mut out: Vec<CollectiveInfo> = units
            .iter()
            .filter_map(|u| {
                let id = first(u, "ou")?;
                let key = id.to_lowercase();
                Some(CollectiveInfo {
                    name: first(u, "description").unwrap_or_else(|| id.clone()),
                    members: members.get(&key).copied().unwrap_or(0),
                    admins: admins.remove(&key).unwrap_or_default(),
                    id,
                })
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Collective `id`: its name, members, admins and services.
    pub async fn show_collective(&self, id: &str) -> Result<CollectiveDetail, DirectoryError> {
        names::collective_id(id)?;
        let action = format!("show collective `{id}`");
        let entries = match self
            .search(
                &self.tree.collective(id),
                Scope::Subtree,
                "(objectClass=*)",
                &["ou", "description", "member"],
            )
            .await
        {
            Ok(e) => e,
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => return Err(no_collective(id)),
            Err(f) => return Err(f.into_error(action)),
        };
        let mut detail = CollectiveDetail {
            id: id.to_string(),
            name: id.to_string(),
            members: vec![],
            admins: vec![],
            services: vec![],
        };
        let own = self.tree.collective(id);
        for e in &entries {
            match self.tree.classify(&e.dn) {
                Node::Members(_) => detail.members = self.people_in(values(e, "member")),
                Node::Admins(_) => detail.admins = self.people_in(values(e, "member")),
                Node::CollectiveService { app, .. } => detail.services.push(app),
                _ if same_dn(&e.dn, &own) => {
                    if let Some(name) = first(e, "description") {
                        detail.name = name;
                    }
                }
                _ => {}
            }
        }
        detail.services.sort();
        Ok(detail)
    }

    /// Remove collective `id`. Refused while it has members or services, so that nobody loses
    /// access by accident: remove those first.
    pub async fn remove_collective(&self, id: &str) -> Result<(), DirectoryError> {
        let detail = self.show_collective(id).await?;
        let mut remaining = vec![];
        let mut first_steps = vec![];
        if !detail.members.is_empty() || !detail.admins.is_empty() {
            let mut people: Vec<&String> = detail.members.iter().chain(&detail.admins).collect();
            people.sort();
            people.dedup();
            remaining.push(format!(
                "{} ({})",
                crate_count(people.len(), "member"),
                list_some(&people)
            ));
            first_steps.push(format!(
                "the members (`commonscloud member remove {id} <username>`)"
            ));
        }
        if !detail.services.is_empty() {
            remaining.push(format!(
                "{} ({})",
                crate_count(detail.services.len(), "service"),
                list_some(&detail.services.iter().collect::<Vec<_>>())
            ));
            first_steps.push("the apps of the collective from node.yaml (`commonscloud up` removes their groups)".to_string());
        }
        if !remaining.is_empty() {
            return Err(DirectoryError::NotEmpty {
                what: format!("collective `{id}`"),
                remaining: remaining.join(" and "),
                first: first_steps.join(" and "),
            });
        }
        let action = format!("remove collective `{id}`");
        for dn in [
            self.tree.collective_services(id),
            self.tree.admins(id),
            self.tree.members(id),
            self.tree.collective(id),
        ] {
            match self.delete(&dn).await {
                Ok(()) => {}
                Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => {}
                // Something was added meanwhile (a service group, say).
                Err(f) if f.code() == Some(rc::NOT_ALLOWED_ON_NON_LEAF) => {
                    return Err(DirectoryError::NotEmpty {
                        what: format!("collective `{id}`"),
                        remaining: "entries added while it was being removed".into(),
                        first: format!("those (see `commonscloud collective show {id}`)"),
                    })
                }
                Err(f) => return Err(f.into_error(action)),
            }
        }
        Ok(())
    }

    /// The usernames among group member DNs: the placeholder and foreign DNs left out, sorted.
    pub(super) fn people_in(&self, member_dns: &[String]) -> Vec<String> {
        let mut people: Vec<String> = member_dns
            .iter()
            .filter_map(|dn| match self.tree.classify(dn) {
                Node::Person(u) => Some(u),
                _ => None,
            })
            .collect();
        people.sort();
        people.dedup();
        people
    }
}

fn crate_count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `a, b, c` or `a, b, c, …` past five.
fn list_some<S: AsRef<str>>(items: &[S]) -> String {
    let shown: Vec<&str> = items.iter().take(5).map(AsRef::as_ref).collect();
    let mut s = shown.join(", ");
    if items.len() > 5 {
        s.push_str(", …");
    }
    s
}
