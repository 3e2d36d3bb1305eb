//! The edge's configuration: one nginx configuration for every route of the node, with the
//! certificate of each host. Pure: the supervisor (`ops::edge`) pushes what this renders
//! into the edge container, checks it there with `nginx -t` and reloads.

use crate::model::RouteEntry;
use crate::render::{self, RenderError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The template of the whole configuration, compiled into the binary.
const NGINX_TEMPLATE: &str = include_str!("../../templates/edge/nginx.conf.tera");

/// Default largest request body, when a route does not say.
pub const DEFAULT_MAX_BODY: u64 = 16 * 1024 * 1024;
/// Default time an upstream may take to answer, when a route does not say.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// One host name served by the edge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Site {
    pub host: String,
    pub locations: Vec<Location>,
    /// The certificate: without one the host answers only on port 80 (challenges, and a page
    /// saying the certificate is not ready).
    #[serde(skip)]
    pub tls: Option<SiteTls>,
}

/// A certificate chain and its key, PEM.
#[derive(Clone, PartialEq)]
pub struct SiteTls {
    pub fullchain_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for SiteTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SiteTls { .. }")
    }
}

/// One path of a host, proxied to one component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Location {
    /// URL path prefix (`/`, `/office`).
    pub path: String,
    /// `<container alias>:<port>` on the edge network.
    pub upstream: String,
    pub websockets: bool,
    /// Largest request body in bytes.
    pub max_body: u64,
    pub timeout: u64,
    /// Base name of the access log file.
    pub log: String,
    pub app: String,
    pub component: String,
}

/// Settings of the whole edge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgeSettings {
    /// The node's id, written in the configuration's header.
    pub node: String,
    /// The HTTPS port people reach (443 in production), for redirects from HTTP.
    pub https_port: u16,
    /// Send `Strict-Transport-Security`: only when certificates are publicly trusted.
    pub hsts: bool,
}

/// A rendered configuration: files relative to its folder, and the name of that folder
/// (a hash of every file, so the same configuration is never pushed twice).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub name: String,
    pub files: Vec<RenderedFile>,
}

#[derive(Clone, PartialEq)]
pub struct RenderedFile {
    pub path: String,
    pub contents: Vec<u8>,
    pub mode: u32,
}

impl std::fmt::Debug for RenderedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RenderedFile({}, {} bytes)",
            self.path,
            self.contents.len()
        )
    }
}

impl Rendered {
    pub fn file(&self, path: &str) -> Option<&RenderedFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// The sites of a node's routes, without certificates: one per host name, its locations
/// in the order the routes came.
pub fn sites(routes: &[RouteEntry]) -> Vec<Site> {
    let mut by_host: BTreeMap<&str, Vec<&RouteEntry>> = BTreeMap::new();
    for r in routes {
        by_host.entry(r.fqdn.as_str()).or_default().push(r);
    }
    by_host
        .into_iter()
        .map(|(host, routes)| {
            let single = routes.len() == 1;
            Site {
                host: host.to_string(),
                locations: routes
                    .into_iter()
                    .map(|r| Location {
                        path: r.route.path.clone(),
                        upstream: format!("{}-{}:{}", r.app, r.component, r.route.port),
                        websockets: r.route.websockets,
                        max_body: r.route.max_body.map(|b| b.0).unwrap_or(DEFAULT_MAX_BODY),
                        timeout: r
                            .route
                            .timeout
                            .map(|t| t.0.ceil() as u64)
                            .unwrap_or(DEFAULT_TIMEOUT_SECS),
                        log: if single {
                            host.to_string()
                        } else {
                            format!("{host}-{}", r.component)
                        },
                        app: r.app.clone(),
                        component: r.component.clone(),
                    })
                    .collect(),
                tls: None,
            }
        })
        .collect()
}

#[derive(Serialize)]
struct SiteView<'a> {
    host: &'a str,
    locations: &'a [Location],
    tls: bool,
}

#[derive(Serialize)]
struct View<'a> {
    node: &'a str,
    name: &'a str,
    https_port: u16,
    https_suffix: String,
    hsts: bool,
    sites: Vec<SiteView<'a>>,
}

/// Render the configuration: `nginx.conf`, and `certs/<host>.pem` + `.key` (mode 0600) for
/// each site that has a certificate.
pub fn render(sites: &[Site], settings: &EdgeSettings) -> Result<Rendered, RenderError> {
    for s in sites {
        for value in std::iter::once(s.host.as_str()).chain(
            s.locations
                .iter()
                .flat_map(|l| [l.path.as_str(), l.upstream.as_str()]),
        ) {
            if let Some(bad) = value
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || "/-._~:".contains(*c)))
            {
                return Err(RenderError {
                    template: "edge".into(),
                    line: None,
                    message: format!("`{value}` contains {bad:?}, which has no place in a route"),
                });
            }
        }
    }
    let mut certs = vec![];
    for s in sites {
        if let Some(tls) = &s.tls {
            certs.push(RenderedFile {
                path: format!("certs/{}.pem", s.host),
                contents: tls.fullchain_pem.clone(),
                mode: 0o644,
            });
            certs.push(RenderedFile {
                path: format!("certs/{}.key", s.host),
                contents: tls.key_pem.clone(),
                mode: 0o600,
            });
        }
    }
    // The name hashes everything but itself: the configuration text is rendered with a
    // placeholder name first.
    let render_named = |name: &str| {
        let view = View {
            node: &settings.node,
            name,
            https_port: settings.https_port,
            https_suffix: if settings.https_port == 443 {
                String::new()
            } else {
                format!(":{}", settings.https_port)
            },
            hsts: settings.hsts,
            sites: sites
                .iter()
                .map(|s| SiteView {
                    host: &s.host,
                    locations: &s.locations,
                    tls: s.tls.is_some(),
                })
                .collect(),
        };
        render::render_with("templates/edge/nginx.conf.tera", NGINX_TEMPLATE, &view)
    };
    let draft = render_named("")?;
    let mut hash = Sha256::new();
    hash.update(draft.as_bytes());
    for f in &certs {
        hash.update(f.path.as_bytes());
        hash.update([0]);
        hash.update(&f.contents);
    }
    let name = format!("c-{}", hex::encode(&hash.finalize()[..8]));
    let conf = render_named(&name)?;
    let mut files = vec![RenderedFile {
        path: "nginx.conf".into(),
        contents: conf.into_bytes(),
        mode: 0o644,
    }];
    files.extend(certs);
    Ok(Rendered { name, files })
}

#[cfg(test)]
mod tests;
