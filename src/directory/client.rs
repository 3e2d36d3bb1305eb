//! A bound connection to the directory and the few LDAP primitives the operations are made of.
//! Every primitive returns a [`Fault`] so that callers can treat the result codes they expect
//! (an entry already there, a value already gone) and turn the rest into a [`DirectoryError`].

use super::dn::Tree;
use super::error::{rc, DirectoryError, Fault};
use ldap3::controls::{ProxyAuth, RawControl};
use ldap3::{LdapConnAsync, LdapConnSettings, Mod, Scope, SearchEntry};
use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

/// How long to wait for the TCP connection, and for any one operation.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Entries per page for searches that may return many (people, groups).
const PAGE_SIZE: i32 = 500;

/// Where the directory is and who we are to it.
#[derive(Clone)]
pub struct Connection {
    /// `ldap://127.0.0.1:<port>` (or `ldaps://…`).
    pub url: String,
    /// `dc=commonscloud,dc=localhost`; see [`super::base_dn_for_domain`].
    pub base_dn: String,
    /// `cn=supervisor,ou=system,<base>` for the supervisor, `cn=portal,…` for the portal.
    pub bind_dn: String,
    pub password: String,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.url)
            .field("base_dn", &self.base_dn)
            .field("bind_dn", &self.bind_dn)
            .field("password", &"***")
            .finish()
    }
}

/// A connection bound to the directory. Cheap to share: operations take `&self` and may run
/// concurrently; they are multiplexed on one LDAP connection.
#[derive(Debug, Clone)]
pub struct Directory {
    pub(super) ldap: ldap3::Ldap,
    pub(super) tree: Tree,
    pub(super) url: String,
}

/// Open a TCP connection to `url` and drive it in the background.
async fn open(url: &str) -> Result<ldap3::Ldap, DirectoryError> {
    let settings = LdapConnSettings::new().set_conn_timeout(CONNECT_TIMEOUT);
    let (conn, ldap) = LdapConnAsync::with_settings(settings, url)
        .await
        .map_err(|e| DirectoryError::Unreachable {
            url: url.to_string(),
            detail: e.to_string(),
        })?;
    ldap3::drive!(conn);
    Ok(ldap)
}

/// A simple bind on a fresh connection: `Ok(true)` when `dn` and `password` are accepted,
/// `Ok(false)` when refused (invalidCredentials). Used to check a password without changing
/// anything, and by the benchmark.
pub async fn check_password(url: &str, dn: &str, password: &str) -> Result<bool, DirectoryError> {
    let mut ldap = open(url).await?;
    let res = ldap
        .with_timeout(OPERATION_TIMEOUT)
        .simple_bind(dn, password)
        .await
        .map_err(|e| Fault::from(e).into_error(format!("bind as {dn}")))?;
    let _ = ldap.unbind().await;
    match res.rc {
        rc::SUCCESS => Ok(true),
        rc::INVALID_CREDENTIALS => Ok(false),
        _ => Err(Fault::from(res).into_error(format!("bind as {dn}"))),
    }
}

impl Directory {
    /// Connect and bind. An empty password is refused here: slapd would take it as an
    /// anonymous bind and every later operation would fail in a confusing way.
    pub async fn connect(c: &Connection) -> Result<Directory, DirectoryError> {
        let tree = Tree::new(&c.base_dn)?;
        if c.password.is_empty() {
            return Err(DirectoryError::BindRefused {
                url: c.url.clone(),
                dn: c.bind_dn.clone(),
            });
        }
        let mut ldap = open(&c.url).await?;
        let res = ldap
            .with_timeout(OPERATION_TIMEOUT)
            .simple_bind(&c.bind_dn, &c.password)
            .await
            .map_err(|e| DirectoryError::Unreachable {
                url: c.url.clone(),
                detail: e.to_string(),
            })?;
        match res.rc {
            rc::SUCCESS => Ok(Directory {
                ldap,
                tree,
                url: c.url.clone(),
            }),
            rc::INVALID_CREDENTIALS => Err(DirectoryError::BindRefused {
                url: c.url.clone(),
                dn: c.bind_dn.clone(),
            }),
            _ => Err(Fault::from(res).into_error(format!("bind as {}", c.bind_dn))),
        }
    }

    /// The DNs of this directory's tree.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Close the connection politely.
    pub async fn close(self) {
        let mut ldap = self.ldap;
        let _ = ldap.unbind().await;
    }

    fn handle(&self, proxy: Option<&str>) -> ldap3::Ldap {
        let mut ldap = self.ldap.clone();
        ldap.with_timeout(OPERATION_TIMEOUT);
        if let Some(dn) = proxy {
            let control: RawControl = ProxyAuth {
                authzid: format!("dn:{dn}"),
            }
            .into();
            ldap.with_controls(vec![control]);
        }
        ldap
    }

    /// Search, paging through large results. A missing base is `noSuchObject`.
    pub(super) async fn search(
        &self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, Fault> {
        let mut ldap = self.handle(None);
        let attrs: Vec<String> = attrs.iter().map(|a| a.to_string()).collect();
        let mut stream = ldap
            .streaming_search_with(
                ldap3::adapters::PagedResults::new(PAGE_SIZE),
                base,
                scope,
                filter,
                attrs,
            )
            .await?;
        let mut entries = vec![];
        while let Some(entry) = stream.next().await? {
            entries.push(SearchEntry::construct(entry));
        }
        ok(stream.finish().await)?;
        Ok(entries)
    }

    /// A search expected to return few entries, in one round trip (no paging control).
    pub(super) async fn search_small(
        &self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, Fault> {
        let mut ldap = self.handle(None);
        let ldap3::SearchResult(entries, res) =
            ldap.search(base, scope, filter, attrs.to_vec()).await?;
        ok(res)?;
        Ok(entries.into_iter().map(SearchEntry::construct).collect())
    }

    /// Whether an entry exists (a base search for it).
    pub(super) async fn exists(&self, dn: &str) -> Result<bool, Fault> {
        match self
            .search_small(dn, Scope::Base, "(objectClass=*)", &["1.1"])
            .await
        {
            Ok(entries) => Ok(!entries.is_empty()),
            Err(f) if f.code() == Some(rc::NO_SUCH_OBJECT) => Ok(false),
            Err(f) => Err(f),
        }
    }

    pub(super) async fn add(&self, dn: &str, attrs: Vec<(&str, Vec<&str>)>) -> Result<(), Fault> {
        let attrs: Vec<(&str, HashSet<&str>)> = attrs
            .into_iter()
            .map(|(a, vs)| (a, vs.into_iter().collect()))
            .collect();
        let res = self.handle(None).add(dn, attrs).await?;
        ok(res)
    }

    /// Modify an entry, as ourselves or, with `proxy`, judged as that DN (RFC 4370).
    pub(super) async fn modify(
        &self,
        dn: &str,
        mods: Vec<Mod<&str>>,
        proxy: Option<&str>,
    ) -> Result<(), Fault> {
        let res = self.handle(proxy).modify(dn, mods).await?;
        ok(res)
    }

    pub(super) async fn delete(&self, dn: &str) -> Result<(), Fault> {
        let res = self.handle(None).delete(dn).await?;
        ok(res)
    }

    /// Set a password with the Password Modify extended operation (RFC 3062), so that slapd
    /// hashes it with its configured scheme (argon2).
    pub(super) async fn password_modify(&self, dn: &str, password: &str) -> Result<(), Fault> {
        let res = self
            .handle(None)
            .extended(ldap3::exop::PasswordModify {
                user_id: Some(dn),
                old_pass: None,
                new_pass: Some(password),
            })
            .await?;
        ok(res.1)
    }
}

fn ok(res: ldap3::LdapResult) -> Result<(), Fault> {
    if res.rc == rc::SUCCESS {
        Ok(())
    } else {
        Err(res.into())
    }
}

/// The values of an attribute, whatever the case of its name in the answer.
pub(super) fn values<'a>(entry: &'a SearchEntry, attr: &str) -> &'a [String] {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .map(|(_, v)| v.as_slice())
        .unwrap_or(&[])
}

/// The first value of an attribute.
pub(super) fn first(entry: &SearchEntry, attr: &str) -> Option<String> {
    values(entry, attr).first().cloned()
}
