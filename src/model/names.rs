//! The shapes of names and references: DNS labels and names, usernames, identifiers, emails,
//! pinned images, recipe versions, container paths. Each check says why a value is refused:
//! name checks as a clause (`it has upper-case letters`), path, image and version checks as a
//! predicate that follows the value (`` `var/lib` is not absolute ``).

/// One DNS label: 1–63 characters of `a-z`, `0-9` and `-`, not starting or ending with `-`.
pub fn dns_label(s: &str) -> Result<(), String> {
    label_problem(s).map_or(Ok(()), |p| Err(format!("it {p}")))
}

fn label_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("is empty".into());
    }
    if s.len() > 63 {
        return Some(format!(
            "has {} characters, at most 63 are allowed",
            s.len()
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Some(if c.is_ascii_uppercase() {
            "has upper-case letters".into()
        } else {
            format!("has `{c}`; only a-z, 0-9 and - are allowed")
        });
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Some("starts or ends with `-`".into());
    }
    None
}

/// Labels separated by dots (a host under the node's domain, `cloud` or `cloud.fki`).
pub fn dns_labels(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    for label in s.split('.') {
        if label.is_empty() {
            return Err("it has an empty label (two dots in a row, or a dot at an end)".into());
        }
        if let Some(p) = label_problem(label) {
            return Err(if label == s {
                format!("it {p}")
            } else {
                format!("its label `{label}` {p}")
            });
        }
    }
    Ok(())
}

/// A full domain: valid labels, at most 253 characters, at least two labels, and a top-level
/// label that is not all digits (an IP address is not a domain). `*.localhost` is fine.
pub fn domain(s: &str) -> Result<(), String> {
    dns_labels(s)?;
    if s.len() > 253 {
        return Err(format!(
            "it has {} characters, at most 253 are allowed",
            s.len()
        ));
    }
    let mut labels = s.rsplit('.');
    let tld = labels.next().unwrap_or_default();
    if labels.next().is_none() {
        return Err("it needs at least two labels, like `example.coop`".into());
    }
    if tld.chars().all(|c| c.is_ascii_digit()) {
        return Err("it ends in a number; an IP address is not a domain".into());
    }
    Ok(())
}

/// A username: `^[a-z][a-z0-9._-]{1,31}$`.
pub fn username(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_lowercase() => {}
        _ => return Err("it must start with a lower-case letter".into()),
    }
    if !(2..=32).contains(&s.len()) {
        return Err("it must have 2 to 32 characters".into());
    }
    if let Some(c) = chars
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "it has `{c}`; only a-z, 0-9, `.`, `_` and `-` are allowed"
        ));
    }
    Ok(())
}

/// A template identifier (secret and setting names): `^[a-z][a-z0-9_]*$`.
pub fn identifier(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_lowercase() => {}
        _ => return Err("it must start with a lower-case letter".into()),
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')) {
        return Err(format!("it has `{c}`; only a-z, 0-9 and `_` are allowed"));
    }
    Ok(())
}

/// An environment variable name: `^[A-Za-z_][A-Za-z0-9_]*$`.
pub fn env_name(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return Err("it must start with a letter or `_`".into()),
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Err(format!(
            "it has `{c}`; only letters, digits and `_` are allowed"
        ));
    }
    Ok(())
}

/// Something that looks like an email address: `local@domain.tld`, no spaces.
pub fn email(s: &str) -> Result<(), String> {
    let Some((local, domain)) = s.split_once('@') else {
        return Err("it has no `@`".into());
    };
    if local.is_empty() || local.chars().any(|c| c.is_whitespace() || c == '@') {
        return Err("its part before `@` is empty or has spaces".into());
    }
    let lower = domain.to_ascii_lowercase();
    self::domain(&lower).map_err(|why| format!("in its domain `{domain}`, {why}"))
}

/// `<upstream>-<revision>`: anything, a dash, then a number (`30.0.4-1`).
pub fn recipe_version(s: &str) -> Result<(), String> {
    match s.rsplit_once('-') {
        Some((upstream, rev))
            if !upstream.is_empty()
                && !rev.is_empty()
                && rev.chars().all(|c| c.is_ascii_digit()) =>
        {
            Ok(())
        }
        _ => Err("is not `<upstream version>-<packaging revision>`".into()),
    }
}

/// A pinned image reference: `name:tag@sha256:<64 hex>`.
pub fn pinned_image(s: &str) -> Result<(), String> {
    let Some((name_tag, digest)) = s.split_once("@sha256:") else {
        return Err("is not pinned by digest".into());
    };
    if digest.len() != 64
        || !digest
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        return Err("has a digest that is not 64 lower-case hex digits".into());
    }
    // The tag is after the last `:` that follows the last `/` (a registry may have a port).
    let last_part = name_tag.rsplit('/').next().unwrap_or_default();
    match last_part.rsplit_once(':') {
        Some((name, tag)) if !name.is_empty() && !tag.is_empty() => Ok(()),
        _ => Err("has no tag".into()),
    }
}

/// An absolute path inside a container, without `..`.
pub fn container_path(s: &str) -> Result<(), String> {
    if !s.starts_with('/') {
        return Err("is not absolute".into());
    }
    if s.split('/').any(|part| part == "..") {
        return Err("contains `..`".into());
    }
    Ok(())
}

/// A path relative to a folder that stays inside it: not absolute, no `..`, not empty.
pub fn relative_path(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty".into());
    }
    if s.starts_with('/') {
        return Err("is absolute".into());
    }
    if s.split(['/', '\\']).any(|part| part == "..") {
        return Err("contains `..`".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels_and_domains() {
        assert!(dns_label("cloud").is_ok());
        assert!(dns_label("a-1").is_ok());
        assert!(dns_label(&"a".repeat(63)).is_ok());
        assert!(dns_label(&"a".repeat(64)).is_err());
        assert!(dns_label("").is_err());
        assert!(dns_label("-a").is_err());
        assert!(dns_label("a-").is_err());
        assert!(dns_label("Cloud").unwrap_err().contains("upper-case"));
        assert!(dns_label("a_b").unwrap_err().contains("`_`"));
        assert!(dns_labels("cloud.fki").is_ok());
        assert!(dns_labels("cloud..fki")
            .unwrap_err()
            .contains("empty label"));
        assert_eq!(
            dns_labels("Cloud.fki").unwrap_err(),
            "its label `Cloud` has upper-case letters"
        );
        assert_eq!(
            dns_labels("Cloud").unwrap_err(),
            "it has upper-case letters"
        );
        assert!(domain("example.coop").is_ok());
        assert!(domain("node.localhost").is_ok());
        assert!(domain("localhost").unwrap_err().contains("two labels"));
        assert!(domain("10.0.0.1").unwrap_err().contains("IP"));
        let long = format!("{}.coop", vec!["a".repeat(63); 4].join("."));
        assert!(domain(&long).unwrap_err().contains("253"));
    }

    #[test]
    fn usernames_and_identifiers() {
        assert!(username("alice").is_ok());
        assert!(username("a.b_c-1").is_ok());
        assert!(username("a").is_err());
        assert!(username("1alice").is_err());
        assert!(username("Alice").is_err());
        assert!(username(&format!("a{}", "b".repeat(31))).is_ok());
        assert!(username(&format!("a{}", "b".repeat(32))).is_err());
        assert!(identifier("db_password").is_ok());
        assert!(identifier("x").is_ok());
        assert!(identifier("DB").is_err());
        assert!(identifier("db-password").is_err());
        assert!(identifier("").is_err());
        assert!(env_name("NC_DOMAIN").is_ok());
        assert!(env_name("_x1").is_ok());
        assert!(env_name("1X").is_err());
        assert!(env_name("A-B").is_err());
    }

    #[test]
    fn emails() {
        assert!(email("admin@example.coop").is_ok());
        assert!(email("Admin@Example.Coop").is_ok());
        assert!(email("admin").is_err());
        assert!(email("@example.coop").is_err());
        assert!(email("a b@example.coop").is_err());
        assert!(email("admin@localhost").is_err());
        assert!(email("a@b@c.d").is_err());
    }

    #[test]
    fn versions_and_images() {
        assert!(recipe_version("30.0.4-1").is_ok());
        assert!(recipe_version("2024.05-rc1-12").is_ok());
        assert!(recipe_version("30.0.4").is_err());
        assert!(recipe_version("-1").is_err());
        assert!(recipe_version("1.0-x").is_err());
        let d = "a".repeat(64);
        assert!(pinned_image(&format!("nextcloud:30@sha256:{d}")).is_ok());
        assert!(pinned_image(&format!("localhost:5000/lib/nc:30.0@sha256:{d}")).is_ok());
        assert!(pinned_image(&format!("localhost:5000/lib/nc@sha256:{d}")).is_err());
        assert!(pinned_image("nextcloud:30").unwrap_err().contains("digest"));
        assert!(pinned_image("nextcloud:30@sha256:abc").is_err());
        assert!(pinned_image(&format!("nextcloud:30@sha256:{}", "A".repeat(64))).is_err());
    }

    #[test]
    fn paths() {
        assert!(container_path("/var/www").is_ok());
        assert!(container_path("var/www").is_err());
        assert!(container_path("/var/../etc").is_err());
        assert!(container_path("/var/..x").is_ok());
        assert!(relative_path("templates/config.php").is_ok());
        assert!(relative_path("/etc/passwd").is_err());
        assert!(relative_path("../other/x").is_err());
        assert!(relative_path("").is_err());
    }
}
