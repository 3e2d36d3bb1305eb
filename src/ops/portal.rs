//! The portal as a platform service: its image is `images/portal` plus the supervisor's own
//! executable (staged into one build context, tagged by the hash of both), and its
//! configuration (`/etc/commonscloud/portal.yaml`) is written here from node.yaml: the
//! directory, SMTP, the node's services, the node's CA. The portal's directory password is
//! the one the directory's image sets for `cn=portal` (a secret of the directory).

use super::{secret_scope, OpsError, SecretsMode};
use crate::engine::FileSpec;
use crate::model::{Loaded, TlsMode};
use crate::paths::NodePaths;
use crate::reconcile::desired::{self, names, DesiredState, ImageSource};
use crate::secrets::SecretStore;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// The portal's app id, recipe and image folder.
pub const PORTAL_APP: &str = "portal";
/// The port the portal serves plain HTTP on, behind the edge.
pub const PORTAL_PORT: u16 = 8080;
/// Environment variable naming the executable to package (tests, packagers).
pub const BINARY_ENV: &str = "COMMONSCLOUD_PORTAL_BINARY";

/// Where the executable packaged into the portal's image comes from: `$COMMONSCLOUD_PORTAL_BINARY`,
/// else this process when it is `commonscloud`, else a `commonscloud` next to (or one folder
/// above) this process's executable, as in cargo's `target/<profile>/deps/`.
pub fn binary() -> Result<PathBuf, OpsError> {
    if let Some(p) = std::env::var_os(BINARY_ENV) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|source| OpsError::Io {
        path: "the running executable".into(),
        source,
    })?;
    if exe.file_name().is_some_and(|n| n == "commonscloud") {
        return Ok(exe);
    }
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    for candidate in [dir.join("commonscloud"), dir.join("../commonscloud")] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(OpsError::Refused(format!(
        "cannot find the commonscloud executable to package the portal; set {BINARY_ENV}"
    )))
}

/// Staged contexts already hashed by this process: (binary, size, mtime, folder hash) → hash.
static STAGED: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

/// Stage `images/portal` plus the executable into `<state>/build/portal`, and return the
/// context's folder and content hash. Restaged only when the executable or the folder changed.
pub fn stage(paths: &NodePaths, images_dir: &Path) -> Result<(PathBuf, String), OpsError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| OpsError::Io { path, source }
    };
    let src = images_dir.join(PORTAL_APP);
    let folder_hash = crate::engine::context_hash(&src).map_err(io(&src))?;
    let bin = binary()?;
    let meta = std::fs::metadata(&bin).map_err(io(&bin))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let stamp = format!(
        "{}\n{}\n{mtime}\n{folder_hash}\n",
        bin.display(),
        meta.len()
    );
    let dir = paths.state_dir.join("build").join(PORTAL_APP);
    let stamp_file = dir.join(".stamp");
    let hash_file = dir.join(".hash");
    if std::fs::read_to_string(&stamp_file).ok().as_deref() != Some(stamp.as_str()) {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        for e in std::fs::read_dir(&src).map_err(io(&src))? {
            let e = e.map_err(io(&src))?;
            let to = dir.join(e.file_name());
            std::fs::copy(e.path(), &to).map_err(io(&to))?;
        }
        // A hard link when the executable is on the same file system (no copy of tens or
        // hundreds of megabytes per node); a copy otherwise. Both keep its mode.
        let to = dir.join("commonscloud");
        if std::fs::hard_link(&bin, &to).is_err() {
            std::fs::copy(&bin, &to).map_err(io(&to))?;
        }
        std::fs::write(&stamp_file, &stamp).map_err(io(&stamp_file))?;
        let _ = std::fs::remove_file(&hash_file);
    }
    let memo = STAGED.lock().ok().and_then(|m| m.get(&stamp).cloned());
    let hash = match memo.or_else(|| std::fs::read_to_string(&hash_file).ok()) {
        Some(h) => h,
        None => {
            // The stamp files start with a dot: Docker's context excludes nothing, so they are
            // part of the hash and of the context, harmlessly.
            let h = crate::engine::context_hash(&dir).map_err(io(&dir))?;
            std::fs::write(&hash_file, &h).map_err(io(&hash_file))?;
            h
        }
    };
    if let Ok(mut m) = STAGED.lock() {
        m.insert(stamp, hash.clone());
    }
    Ok((dir, hash))
}

/// What `/etc/commonscloud/portal.yaml` holds (JSON, which is YAML).
#[derive(Serialize)]
struct Config {
    listen: String,
    public_url: String,
    name: String,
    domain: String,
    ldap_url: String,
    bind_password_file: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    smtp: Option<crate::model::Smtp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    smtp_password_file: Option<&'static str>,
    state_dir: &'static str,
    trusted_proxies: Vec<&'static str>,
    services: Vec<Service>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_certificate: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<String>,
}

#[derive(Serialize)]
struct Service {
    id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    collective: Option<String>,
}

/// Give the portal's container its image (staged with the executable) and its files.
/// Nothing happens on a node without the portal.
pub fn configure(
    paths: &NodePaths,
    loaded: &Loaded,
    state: &mut DesiredState,
    mode: SecretsMode,
) -> Result<(), OpsError> {
    let Some(c) = state.containers.iter_mut().find(|c| c.app == PORTAL_APP) else {
        return Ok(());
    };
    let node = loaded.node.node_id();
    let domain = &loaded.node.domain;
    let (context, hash) = stage(paths, &loaded.images_dir)?;
    let reference = desired::build_reference(PORTAL_APP, &hash);
    c.image = ImageSource::Build {
        context,
        reference: reference.clone(),
    };
    c.spec.image = reference.clone();
    c.spec
        .labels
        .insert(crate::engine::labels::IMAGE.to_string(), reference);

    // Read-only (plan, status) changes nothing: no store is created where there is none.
    // The directory, by its network, before the portal starts.
    c.spec.networks.push(crate::engine::NetworkAttachment {
        network: names::app_network(&node, names::DIRECTORY_APP),
        aliases: vec![format!("{PORTAL_APP}-web")],
    });
    c.depends_on.push(names::container(
        &node,
        names::DIRECTORY_APP,
        names::DIRECTORY_COMPONENT,
    ));
    let store = match mode {
        SecretsMode::ReadOnly if !paths.secrets_dir().is_dir() => None,
        _ => Some(SecretStore::open(paths.secrets_dir())?),
    };
    let directory_scope = secret_scope(&node, names::DIRECTORY_APP);
    let password = match (&store, mode) {
        (Some(s), SecretsMode::Create) => {
            Some(s.get_or_create(&directory_scope, "portal_password")?)
        }
        (Some(s), SecretsMode::ReadOnly) => s.get(&directory_scope, "portal_password")?,
        (None, _) => None,
    }
    .map(|s| s.expose().to_string())
    .unwrap_or_else(|| super::PENDING_SECRET.to_string());
    let (smtp_scope, smtp_name) = super::certs::smtp_password_secret(&node);
    let smtp_password = match &store {
        Some(s) => s.get(&smtp_scope, smtp_name)?,
        None => None,
    };
    // The node's own CA, offered to people at /ca.pem: made here, with the other secrets,
    // so the portal's configuration does not change between the first and the second `up`.
    let mut ca_pem = None;
    if loaded.node.tls.mode == TlsMode::SelfSigned {
        if mode == SecretsMode::Create {
            super::certs::store(paths)?.ensure_ca(&node, time::OffsetDateTime::now_utc())?;
        }
        ca_pem = std::fs::read(paths.tls_dir().join("ca").join("ca.pem")).ok();
    }

    let https_suffix = match loaded.node.edge.https_port {
        0 | 443 => String::new(),
        p => format!(":{p}"),
    };
    let services = loaded
        .node
        .apps
        .iter()
        .filter(|a| !super::is_platform(&a.instance_id()))
        .filter_map(|a| {
            let r = loaded.recipes.get(&a.recipe)?;
            Some(Service {
                id: a.instance_id(),
                name: r.recipe.id.clone(),
                description: r.recipe.description.clone(),
                url: format!("https://{}{https_suffix}/", a.fqdn(domain)),
                collective: a.collective.clone(),
            })
        })
        .collect();
    let config = Config {
        listen: format!("0.0.0.0:{PORTAL_PORT}"),
        public_url: format!("https://{PORTAL_APP}.{domain}{https_suffix}"),
        name: node.clone(),
        domain: domain.clone(),
        ldap_url: format!(
            "ldap://{}:{}",
            names::directory_host(),
            names::DIRECTORY_PORT
        ),
        bind_password_file: "/run/portal/portal.password",
        smtp: loaded.node.smtp.clone(),
        smtp_password_file: smtp_password.as_ref().map(|_| "/run/portal/smtp.password"),
        state_dir: "/var/lib/portal",
        // The edge reaches the portal over the node's edge network, a private Docker bridge.
        trusted_proxies: vec!["172.16.0.0/12", "10.0.0.0/8", "192.168.0.0/16"],
        services,
        ca_certificate: ca_pem.as_ref().map(|_| "/etc/commonscloud/ca.pem"),
        contact: loaded.node.operator.as_ref().map(|o| o.email.clone()),
    };
    let json = serde_json::to_vec_pretty(&config).unwrap_or_default();
    c.spec.files.push(FileSpec {
        path: "/etc/commonscloud/portal.yaml".into(),
        contents: json,
        mode: 0o644,
    });
    c.spec.files.push(FileSpec {
        path: "/run/commonscloud/portal.password".into(),
        contents: password.into_bytes(),
        mode: 0o600,
    });
    if let Some(p) = smtp_password {
        c.spec.files.push(FileSpec {
            path: "/run/commonscloud/smtp.password".into(),
            contents: p.expose().as_bytes().to_vec(),
            mode: 0o600,
        });
    }
    if let Some(pem) = ca_pem {
        c.spec.files.push(FileSpec {
            path: "/etc/commonscloud/ca.pem".into(),
            contents: pem,
            mode: 0o644,
        });
    }
    let hash = desired::config_hash(&c.spec);
    c.spec
        .labels
        .insert(crate::engine::labels::CONFIG_HASH.to_string(), hash);
    Ok(())
}
