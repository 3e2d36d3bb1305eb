//! `commonscloud init`: a commented node.yaml for a domain.

const TEMPLATE: &str = include_str!("../../templates/node.yaml.tera");

/// The text of a new node.yaml; refuses a domain that is not a DNS name.
pub fn node_yaml(domain: &str) -> Result<String, String> {
    let ok = domain.len() <= 253
        && domain.contains('.')
        && domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        });
    if !ok {
        return Err(format!(
            "`{domain}` is not a domain name: use lower-case labels of letters, digits and dashes separated by dots, e.g. commonscloud.example.coop"
        ));
    }
    let mut ctx = tera::Context::new();
    ctx.insert("domain", domain);
    ctx.insert("name", &domain.replace('.', "-"));
    tera::Tera::one_off(TEMPLATE, &ctx, false).map_err(|e| format!("node.yaml template: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_file_that_parses() {
        let text = node_yaml("commonscloud.localhost").unwrap();
        let node = crate::model::parse_node(&text, std::path::Path::new("node.yaml")).unwrap();
        assert_eq!(node.domain, "commonscloud.localhost");
        assert_eq!(node.apps.len(), 1);
    }

    #[test]
    fn refuses_bad_domain() {
        assert!(node_yaml("Not A Domain").is_err());
        assert!(node_yaml("localhost").is_err());
    }
}
