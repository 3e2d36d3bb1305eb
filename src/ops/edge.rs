//! The node's edge as the supervisor drives it: where it listens, which configuration is
//! live, and pushing a new one. A push copies the rendered configuration into a folder of
//! its own inside the running edge, has `edge-reload` check it with `nginx -t`, and only when
//! that passes points `live` at it and reloads nginx gracefully: a bad configuration never
//! replaces a good one, and requests in flight finish on the old workers.

use super::OpsError;
use crate::edge::{self, EdgeSettings, Rendered, Site, SiteTls};
use crate::engine::{Engine, FileSpec};
use crate::model::{Loaded, TlsMode};
use crate::reconcile::desired::names;
use serde::Serialize;

/// Where the edge keeps its configurations (see images/edge).
const EDGE_DIR: &str = "/etc/commonscloud/edge";
/// Where the edge serves challenge files from, on port 80, for every host name.
const WELL_KNOWN: &str = "/var/lib/commonscloud/acme/.well-known";

/// The edge container of a node.
pub fn container(node: &str) -> String {
    names::container(node, names::EDGE_APP, names::EDGE_COMPONENT)
}

/// The host ports the edge answers on: (HTTP, HTTPS), as Docker published them.
pub async fn ports(engine: &Engine, node: &str) -> Result<(u16, u16), OpsError> {
    let c = container(node);
    let not_running = || {
        OpsError::Refused(format!(
            "the edge of node `{node}` is not running; run `commonscloud up` first"
        ))
    };
    let mut out = [0u16; 2];
    for (i, port) in [80u16, 443].into_iter().enumerate() {
        out[i] = match engine.published_port(&c, port).await {
            Ok(Some(p)) => p,
            Ok(None) => return Err(not_running()),
            Err(e) if e.is_not_found() => return Err(not_running()),
            Err(e) => return Err(e.into()),
        };
    }
    Ok((out[0], out[1]))
}

/// The name of the configuration the edge serves now (`boot` before the first push).
pub async fn live(engine: &Engine, node: &str) -> Result<String, OpsError> {
    let out = engine
        .exec(
            &container(node),
            &["readlink".into(), format!("{EDGE_DIR}/live")],
            None,
        )
        .await?;
    let target = out.stdout.trim();
    Ok(target.rsplit('/').next().unwrap_or(target).to_string())
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "name")]
pub enum Pushed {
    /// The edge already served this configuration.
    Unchanged(String),
    /// Checked and live; nginx reloaded.
    Reloaded(String),
}

/// Make `rendered` the edge's live configuration. Refused (and the live one kept) when
/// `nginx -t` fails; the error carries nginx's message.
pub async fn push(engine: &Engine, node: &str, rendered: &Rendered) -> Result<Pushed, OpsError> {
    if live(engine, node).await? == rendered.name {
        return Ok(Pushed::Unchanged(rendered.name.clone()));
    }
    let c = container(node);
    let dir = format!("{EDGE_DIR}/staged/{}", rendered.name);
    let files: Vec<FileSpec> = rendered
        .files
        .iter()
        .map(|f| FileSpec {
            path: format!("{dir}/{}", f.path),
            contents: f.contents.clone(),
            mode: f.mode,
        })
        .collect();
    engine.copy_files(&c, &files).await?;
    let out = engine
        .exec(&c, &["edge-reload".into(), rendered.name.clone()], None)
        .await?;
    if out.exit_code != 0 {
        return Err(OpsError::Refused(format!(
            "the edge refused its new configuration, so the previous one keeps serving: {}",
            format!("{}{}", out.stderr, out.stdout).trim()
        )));
    }
    Ok(Pushed::Reloaded(rendered.name.clone()))
}

/// Serve `contents` at `http://<any host>/.well-known/<path>` (an ACME HTTP-01 answer or a
/// reachability token), readable by nginx's workers.
pub async fn serve_well_known(
    engine: &Engine,
    node: &str,
    path: &str,
    contents: &[u8],
) -> Result<(), OpsError> {
    well_known_path(path)?;
    engine
        .copy_files(
            &container(node),
            &[FileSpec {
                path: format!("{WELL_KNOWN}/{path}"),
                contents: contents.to_vec(),
                mode: 0o644,
            }],
        )
        .await?;
    Ok(())
}

/// Stop serving a file that [`serve_well_known`] served.
pub async fn withdraw_well_known(engine: &Engine, node: &str, path: &str) -> Result<(), OpsError> {
    well_known_path(path)?;
    engine
        .exec(
            &container(node),
            &["rm".into(), "-f".into(), format!("{WELL_KNOWN}/{path}")],
            None,
        )
        .await?;
    Ok(())
}

/// A path under `/.well-known/` must stay there: no empty, `.` or `..` part.
fn well_known_path(path: &str) -> Result<(), OpsError> {
    if path
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err(OpsError::Refused(format!(
            "`{path}` is not a well-known path"
        )));
    }
    Ok(())
}

/// The sites of the node, each with its certificate when one is installed.
pub fn sites_with(loaded: &Loaded, cert: impl Fn(&str) -> Option<SiteTls>) -> Vec<Site> {
    let mut sites = edge::sites(&loaded.routes());
    for s in &mut sites {
        s.tls = cert(&s.host);
    }
    sites
}

/// The edge's settings for a node whose HTTPS port people reach is `https_port`.
pub fn settings(loaded: &Loaded, https_port: u16) -> EdgeSettings {
    EdgeSettings {
        node: loaded.node.node_id(),
        https_port,
        // Only publicly trusted certificates earn HSTS: a browser that has not yet trusted a
        // node's own CA must still be able to click through.
        hsts: loaded.node.tls.mode != TlsMode::SelfSigned,
    }
}
