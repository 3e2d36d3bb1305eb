//! The names of entries in the tree (RFC 4514), built in one place with every value escaped,
//! and read back from the DNs the directory returns (`member`, `memberOf`).
//!
//! ```text
//! <base>                       dc=commonscloud,dc=localhost
//! ├── ou=people                uid=<username>
//! ├── ou=collectives
//! │   └── ou=<id>              description = display name
//! │       ├── cn=members
//! │       ├── cn=admins
//! │       └── ou=services      cn=<app-id>
//! ├── ou=services              cn=<app-id>
//! └── ou=system                cn=supervisor, cn=portal, cn=app-<app-id>
//! ```

use super::error::DirectoryError;
use ldap3::dn_escape;

/// `commonscloud.localhost` → `dc=commonscloud,dc=localhost`.
pub fn base_dn_for_domain(domain: &str) -> Result<String, DirectoryError> {
    crate::model::names::domain(domain).map_err(|why| DirectoryError::Invalid {
        what: "domain",
        value: domain.escape_debug().to_string(),
        why,
        rule: "a domain has at least two DNS labels, like `example.coop`",
    })?;
    Ok(domain
        .split('.')
        .map(|label| format!("dc={}", dn_escape(label)))
        .collect::<Vec<_>>()
        .join(","))
}

/// The DNs of one directory tree.
#[derive(Debug, Clone)]
pub struct Tree {
    base: String,
    /// The base's RDNs, normalized, to recognize DNs that end with it.
    base_rdns: Vec<(String, String)>,
}

/// What a DN returned by the directory names, when it is one of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Person(String),
    Members(String),
    Admins(String),
    CollectiveService { collective: String, app: String },
    PublicService(String),
    Supervisor,
    Other,
}

impl Tree {
    pub fn new(base_dn: &str) -> Result<Tree, DirectoryError> {
        let base_rdns =
            parse(base_dn)
                .filter(|r| !r.is_empty())
                .ok_or_else(|| DirectoryError::Invalid {
                    what: "base DN",
                    value: base_dn.escape_debug().to_string(),
                    why: "it is not a distinguished name".into(),
                    rule: "a base DN looks like `dc=example,dc=coop`",
                })?;
        Ok(Tree {
            base: base_dn.to_string(),
            base_rdns: base_rdns.into_iter().map(normalize).collect(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn people(&self) -> String {
        format!("ou=people,{}", self.base)
    }

    pub fn person(&self, username: &str) -> String {
        format!("uid={},ou=people,{}", dn_escape(username), self.base)
    }

    pub fn collectives(&self) -> String {
        format!("ou=collectives,{}", self.base)
    }

    pub fn collective(&self, id: &str) -> String {
        format!("ou={},ou=collectives,{}", dn_escape(id), self.base)
    }

    pub fn members(&self, id: &str) -> String {
        format!("cn=members,{}", self.collective(id))
    }

    pub fn admins(&self, id: &str) -> String {
        format!("cn=admins,{}", self.collective(id))
    }

    pub fn collective_services(&self, id: &str) -> String {
        format!("ou=services,{}", self.collective(id))
    }

    pub fn public_services(&self) -> String {
        format!("ou=services,{}", self.base)
    }

    /// A service's group: under its collective, or among the public services.
    pub fn service_group(&self, collective: Option<&str>, app_id: &str) -> String {
        let parent = match collective {
            Some(c) => self.collective_services(c),
            None => self.public_services(),
        };
        format!("cn={},{parent}", dn_escape(app_id))
    }

    pub fn system(&self) -> String {
        format!("ou=system,{}", self.base)
    }

    /// The supervisor's account, also the permanent placeholder member of every group.
    pub fn supervisor(&self) -> String {
        format!("cn=supervisor,{}", self.system())
    }

    pub fn app_account(&self, app_id: &str) -> String {
        format!(
            "cn={},{}",
            dn_escape(format!("app-{app_id}")),
            self.system()
        )
    }

    /// What a DN names, compared as the directory compares (attribute types and our
    /// ASCII values case-insensitively, escapes undone).
    pub fn classify(&self, dn: &str) -> Node {
        let Some(rdns) = parse(dn) else {
            return Node::Other;
        };
        let rdns: Vec<(String, String)> = rdns.into_iter().map(normalize).collect();
        let Some(rel_len) = rdns.len().checked_sub(self.base_rdns.len()) else {
            return Node::Other;
        };
        if rdns[rel_len..] != self.base_rdns[..] {
            return Node::Other;
        }
        let rel: Vec<(&str, &str)> = rdns[..rel_len]
            .iter()
            .map(|(t, v)| (t.as_str(), v.as_str()))
            .collect();
        match rel.as_slice() {
            [("uid", u), ("ou", "people")] => Node::Person((*u).to_string()),
            [("cn", "members"), ("ou", id), ("ou", "collectives")] => {
                Node::Members((*id).to_string())
            }
            [("cn", "admins"), ("ou", id), ("ou", "collectives")] => {
                Node::Admins((*id).to_string())
            }
            [("cn", app), ("ou", "services"), ("ou", id), ("ou", "collectives")] => {
                Node::CollectiveService {
                    collective: (*id).to_string(),
                    app: (*app).to_string(),
                }
            }
            [("cn", app), ("ou", "services")] => Node::PublicService((*app).to_string()),
            [("cn", "supervisor"), ("ou", "system")] => Node::Supervisor,
            _ => Node::Other,
        }
    }

    pub fn is_placeholder(&self, dn: &str) -> bool {
        self.classify(dn) == Node::Supervisor
    }
}

/// Whether two DNs name the same entry (as [`Tree::classify`] compares).
pub fn same_dn(a: &str, b: &str) -> bool {
    match (parse(a), parse(b)) {
        (Some(a), Some(b)) => {
            a.into_iter().map(normalize).collect::<Vec<_>>()
                == b.into_iter().map(normalize).collect::<Vec<_>>()
        }
        _ => false,
    }
}

/// Attribute types are case-insensitive; our values (usernames, ids, fixed names, DNS labels)
/// are lower-case ASCII, and the directory matches them case-insensitively, so lower-casing
/// both sides compares as it does.
fn normalize((t, v): (String, String)) -> (String, String) {
    (t.to_ascii_lowercase(), v.to_lowercase())
}

/// Split a DN into `(type, value)` pairs with escapes undone (RFC 4514 §3: `\` followed by a
/// special character or by two hex digits). `None` for anything we do not produce: a
/// multi-valued RDN (`+`), a `#` hex value, a broken escape. An empty DN is `Some([])`.
pub fn parse(dn: &str) -> Option<Vec<(String, String)>> {
    let mut rdns = vec![];
    if dn.trim().is_empty() {
        return Some(rdns);
    }
    let bytes = dn.as_bytes();
    let mut i = 0;
    loop {
        // type
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' {
            if matches!(bytes[i], b',' | b'+' | b'\\') {
                return None;
            }
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        let ty = dn.get(start..i)?.trim().to_string();
        if ty.is_empty() {
            return None;
        }
        i += 1;
        while bytes.get(i) == Some(&b' ') {
            i += 1;
        }
        if bytes.get(i) == Some(&b'#') {
            // A BER-encoded value; never one of ours.
            return None;
        }
        let mut value: Vec<u8> = vec![];
        let mut trailing_unescaped_spaces = 0;
        while i < bytes.len() && bytes[i] != b',' {
            match bytes[i] {
                b'+' => return None,
                b'\\' => {
                    let next = *bytes.get(i + 1)?;
                    if next.is_ascii_hexdigit() {
                        let hex = dn.get(i + 1..i + 3)?;
                        value.push(u8::from_str_radix(hex, 16).ok()?);
                        i += 3;
                    } else {
                        value.push(next);
                        i += 2;
                    }
                    trailing_unescaped_spaces = 0;
                }
                c => {
                    if c == b' ' {
                        trailing_unescaped_spaces += 1;
                    } else {
                        trailing_unescaped_spaces = 0;
                    }
                    value.push(c);
                    i += 1;
                }
            }
        }
        value.truncate(value.len() - trailing_unescaped_spaces);
        let value = String::from_utf8(value).ok()?;
        rdns.push((ty, value));
        if i >= bytes.len() {
            return Some(rdns);
        }
        i += 1; // the comma
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree {
        Tree::new("dc=commonscloud,dc=localhost").unwrap()
    }

    #[test]
    fn base_from_domain() {
        assert_eq!(
            base_dn_for_domain("commonscloud.localhost").unwrap(),
            "dc=commonscloud,dc=localhost"
        );
        assert!(base_dn_for_domain("localhost").is_err());
        assert!(base_dn_for_domain("a,dc=x.coop").is_err());
    }

    #[test]
    fn dns_of_the_tree() {
        let t = tree();
        assert_eq!(
            t.person("alice"),
            "uid=alice,ou=people,dc=commonscloud,dc=localhost"
        );
        assert_eq!(
            t.members("fki"),
            "cn=members,ou=fki,ou=collectives,dc=commonscloud,dc=localhost"
        );
        assert_eq!(
            t.service_group(Some("fki"), "cloud-fki"),
            "cn=cloud-fki,ou=services,ou=fki,ou=collectives,dc=commonscloud,dc=localhost"
        );
        assert_eq!(
            t.service_group(None, "cloud"),
            "cn=cloud,ou=services,dc=commonscloud,dc=localhost"
        );
        assert_eq!(
            t.app_account("cloud"),
            "cn=app-cloud,ou=system,dc=commonscloud,dc=localhost"
        );
    }

    #[test]
    fn every_value_is_escaped() {
        // Validation refuses these long before, but a DN is safe on its own.
        let t = tree();
        assert_eq!(
            t.person("a,ou=x"),
            "uid=a\\2cou\\3dx,ou=people,dc=commonscloud,dc=localhost"
        );
        assert_eq!(
            t.person(" #a+b\"<>;\\\0 "),
            "uid=\\20#a\\2bb\\22\\3c\\3e\\3b\\5c\\00\\20,ou=people,dc=commonscloud,dc=localhost"
        );
    }

    #[test]
    fn a_leading_hash_is_escaped_and_read_back() {
        let t = tree();
        assert_eq!(
            t.person("#a"),
            "uid=\\23a,ou=people,dc=commonscloud,dc=localhost"
        );
        assert_eq!(t.classify(&t.person("#a")), Node::Person("#a".into()));
        assert_eq!(
            t.classify("uid=#04024869,ou=people,dc=commonscloud,dc=localhost"),
            Node::Other
        );
    }

    #[test]
    fn dns_are_read_back() {
        let t = tree();
        assert_eq!(t.classify(&t.person("alice")), Node::Person("alice".into()));
        assert_eq!(
            t.classify("CN=Members, OU=FKI,ou=collectives,DC=CommonsCloud,dc=localhost"),
            Node::Members("fki".into())
        );
        assert_eq!(t.classify(&t.admins("fki")), Node::Admins("fki".into()));
        assert_eq!(
            t.classify(&t.service_group(Some("fki"), "wiki")),
            Node::CollectiveService {
                collective: "fki".into(),
                app: "wiki".into()
            }
        );
        assert_eq!(
            t.classify(&t.service_group(None, "cloud")),
            Node::PublicService("cloud".into())
        );
        assert!(t.is_placeholder("cn=supervisor,ou=system,dc=commonscloud,dc=localhost"));
        assert_eq!(
            t.classify("uid=alice,ou=people,dc=other,dc=localhost"),
            Node::Other
        );
        assert_eq!(t.classify("uid=a+cn=b,ou=people,dc=x"), Node::Other);
        assert_eq!(t.classify("garbage"), Node::Other);
        assert_eq!(
            t.classify(&t.person("a,ou=x")),
            Node::Person("a,ou=x".into())
        );
    }

    #[test]
    fn parse_undoes_escapes() {
        assert_eq!(
            parse("cn=a\\2cb\\,c\\20,dc=x").unwrap(),
            vec![
                ("cn".to_string(), "a,b,c ".to_string()),
                ("dc".into(), "x".into())
            ]
        );
        assert_eq!(parse("cn=\\c3\\a9").unwrap()[0].1, "é");
        assert!(parse("cn=\\").is_none());
        assert!(parse("cn=\\zz").is_some());
        assert!(parse("=x").is_none());
        assert_eq!(parse("").unwrap(), vec![]);
    }
}
