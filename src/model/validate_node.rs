//! The rules of `node.yaml` beyond its types (listed in docs/node.md). Every problem is
//! collected; none stops the others from being found.

use super::names;
use super::node::{NodeConfig, TlsMode};
use super::report::Report;
use std::collections::BTreeMap;

/// Longest instance id: it is joined with the node id and a component name in Docker names.
pub const MAX_INSTANCE_ID: usize = 40;
/// Longest node name.
pub const MAX_NODE_NAME: usize = 32;

pub(crate) fn validate_node(node: &NodeConfig, r: &mut Report) {
    if let Err(why) = names::domain(&node.domain) {
        r.value(
            "domain",
            format!("`{}` is not a valid domain: {why}", node.domain),
            "write the node's DNS domain in lower case, like `cloud.example.coop`",
        );
    }
    match &node.name {
        Some(name) => {
            if let Err(why) = names::dns_label(name).and_then(|()| max_len(name, MAX_NODE_NAME)) {
                r.value(
                    "name",
                    format!("`{name}` is not a valid node name: {why}"),
                    format!("use up to {MAX_NODE_NAME} characters of a-z, 0-9 and -"),
                );
            }
        }
        None => {
            let id = node.node_id();
            if id.len() > MAX_NODE_NAME && names::domain(&node.domain).is_ok() {
                r.value(
                    "domain",
                    format!(
                        "the node name defaults to `{id}`, longer than {MAX_NODE_NAME} characters"
                    ),
                    "set a shorter `name:`",
                );
            }
        }
    }
    if let Some(op) = &node.operator {
        non_empty(r, "operator.name", &op.name);
        email(r, "operator.email", &op.email);
    }
    validate_tls(node, r);
    validate_edge(node, r);
    if let Some(smtp) = &node.smtp {
        non_empty(r, "smtp.host", &smtp.host);
        if smtp.port == 0 {
            r.value(
                "smtp.port",
                "port 0 is not a port",
                "use 587 (STARTTLS) or 465 (TLS)",
            );
        }
        email(r, "smtp.from", &smtp.from);
    }
    let mut collective_ids: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, c) in node.collectives.iter().enumerate() {
        let path = format!("collectives[{i}]");
        if let Err(why) = names::dns_label(&c.id) {
            r.value(
                &format!("{path}.id"),
                format!("`{}` is not a valid collective id: {why}", c.id),
                "use a-z, 0-9 and -, like `femprocomuns`",
            );
        }
        if let Some(&first) = collective_ids.get(c.id.as_str()) {
            r.value(
                &format!("{path}.id"),
                format!("`{}` is already the id of collectives[{first}]", c.id),
                "give each collective its own id",
            );
        } else {
            collective_ids.insert(&c.id, i);
        }
        non_empty(r, &format!("{path}.name"), &c.name);
        for (j, admin) in c.admins.iter().enumerate() {
            if let Err(why) = names::username(admin) {
                r.value(
                    &format!("{path}.admins[{j}]"),
                    format!("`{admin}` is not a valid username: {why}"),
                    "write the admin's username: a lower-case letter, then 1 to 31 of a-z, 0-9, `.`, `_`, `-`",
                );
            }
        }
    }
    let mut hosts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    for (i, app) in node.apps.iter().enumerate() {
        let path = format!("apps[{i}]");
        match names::dns_labels(&app.host) {
            Err(why) => r.value(
                &format!("{path}.host"),
                format!("`{}` is not a valid host name: {why}", app.host),
                "write the name under the node's domain, like `cloud` or `cloud.fki`",
            ),
            Ok(()) => {
                let fqdn = app.fqdn(&node.domain);
                if fqdn.len() > 253 {
                    r.value(
                        &format!("{path}.host"),
                        format!("`{fqdn}` is longer than 253 characters"),
                        "pick a shorter host name",
                    );
                }
            }
        }
        let host_taken = hosts.get(app.host.as_str()).copied();
        match host_taken {
            Some(first) => r.value(
                &format!("{path}.host"),
                format!("`{}` is already used by apps[{first}]", app.host),
                "pick another host name",
            ),
            None => {
                hosts.insert(&app.host, i);
            }
        }
        let id = app.instance_id();
        let id_path = if app.id.is_some() {
            format!("{path}.id")
        } else {
            format!("{path}.host")
        };
        let shape = names::dns_label(&id).and_then(|()| max_len(&id, MAX_INSTANCE_ID));
        // A bad host is reported above; its derived id adds nothing unless only its length is wrong.
        if let Err(why) = shape {
            if app.id.is_some() || names::dns_labels(&app.host).is_ok() {
                r.value(
                    &id_path,
                    format!("the instance id `{id}` is not valid: {why}"),
                    format!("set `id:` to at most {MAX_INSTANCE_ID} characters of a-z, 0-9 and -"),
                );
            }
        }
        if crate::model::is_reserved_app_id(&id) {
            r.value(
                &id_path,
                format!("the instance id `{id}` is reserved for the node's own `{id}` service"),
                "pick another host, or set a distinct `id:`",
            );
        }
        match ids.get(&id) {
            // The same host derives the same id: reported once, as a host.
            Some(_) if host_taken.is_some() && app.id.is_none() => {}
            Some(first) => r.value(
                &id_path,
                format!("the instance id `{id}` is already used by apps[{first}]"),
                "set a distinct `id:` for one of them",
            ),
            None => {
                ids.insert(id, i);
            }
        }
        if let Some(col) = &app.collective {
            if !node.collectives.iter().any(|c| &c.id == col) {
                let known: Vec<&str> = node.collectives.iter().map(|c| c.id.as_str()).collect();
                r.value(
                    &format!("{path}.collective"),
                    format!("no collective has the id `{col}`"),
                    if known.is_empty() {
                        "declare it under `collectives:`".to_string()
                    } else {
                        format!(
                            "use one of: {} (or declare it under `collectives:`)",
                            known.join(", ")
                        )
                    },
                );
            }
        }
    }
    if let Some(b) = &node.backup {
        non_empty(r, "backup.repository", &b.repository);
    }
}

fn validate_tls(node: &NodeConfig, r: &mut Report) {
    let tls = &node.tls;
    match tls.mode {
        TlsMode::Acme => match &tls.email {
            None => r.value(
                "tls.mode",
                "mode `acme` needs an `email` for the ACME account",
                "add `email:` under `tls:`",
            ),
            Some(e) => email(r, "tls.email", e),
        },
        TlsMode::Provided => {
            for (field, value) in [("certificate", &tls.certificate), ("key", &tls.key)] {
                match value {
                    None => r.value(
                        "tls.mode",
                        format!("mode `provided` needs `{field}`"),
                        format!("add `{field}:` under `tls:` with the absolute path of the PEM file"),
                    ),
                    Some(p) if !p.starts_with('/') => r.value(
                        &format!("tls.{field}"),
                        format!("`{p}` is not an absolute path"),
                        "write the full path of the PEM file, like `/etc/commonscloud/tls/fullchain.pem`",
                    ),
                    Some(_) => {}
                }
            }
        }
        TlsMode::SelfSigned => {}
    }
    for (field, value) in [("directory_ca", &tls.directory_ca)] {
        if let Some(p) = value {
            if !p.starts_with('/') {
                r.value(
                    &format!("tls.{field}"),
                    format!("`{p}` is not an absolute path"),
                    "write the full path of the PEM file",
                );
            }
        }
    }
    if let Some(resolver) = &tls.check_resolver {
        let ok = resolver.parse::<std::net::IpAddr>().is_ok()
            || resolver.parse::<std::net::SocketAddr>().is_ok();
        if !ok {
            r.value(
                "tls.check_resolver",
                format!("`{resolver}` is not an IP address or IP:port"),
                "write a DNS server like `9.9.9.9` or `127.0.0.1:8053`",
            );
        }
    }
    if let Some(url) = &tls.directory {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            r.value(
                "tls.directory",
                format!("`{url}` is not an http(s) URL"),
                "write the ACME directory URL, like `https://acme.example/directory`",
            );
        }
    }
}

fn validate_edge(node: &NodeConfig, r: &mut Report) {
    let edge = &node.edge;
    if edge.address.parse::<std::net::IpAddr>().is_err() {
        r.value(
            "edge.address",
            format!("`{}` is not an IP address", edge.address),
            "write `0.0.0.0` (every interface) or one address of this machine, like `127.0.0.1`",
        );
    }
    if edge.http_port != 0 && edge.http_port == edge.https_port {
        r.value(
            "edge.https_port",
            format!("HTTP and HTTPS cannot share port {}", edge.https_port),
            "use 80 and 443, or two different ports",
        );
    }
}

fn max_len(s: &str, max: usize) -> Result<(), String> {
    if s.len() > max {
        Err(format!(
            "it has {} characters, at most {max} are allowed",
            s.len()
        ))
    } else {
        Ok(())
    }
}

fn non_empty(r: &mut Report, path: &str, value: &str) {
    if value.trim().is_empty() {
        r.value(path, "is empty", "write a value");
    }
}

fn email(r: &mut Report, path: &str, value: &str) {
    if let Err(why) = names::email(value) {
        r.value(
            path,
            format!("`{value}` does not look like an email address: {why}"),
            "write an address like `admin@example.coop`",
        );
    }
}
