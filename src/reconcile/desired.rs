//! From `node.yaml` + recipes to the containers, networks and volumes the node should have.

use crate::engine::spec::{labels, *};
use crate::model::{Addon, AppInstance, Component, Loaded, LoadedRecipe};
use crate::render::{
    self, AppView, ComponentView, HostView, NodeView, RenderError, TemplateContext,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a component's image comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ImageSource {
    /// Built from a folder of `images/`; the tag is the folder's content hash.
    Build { context: PathBuf, reference: String },
    /// Pulled, pinned by digest.
    Pull { reference: String },
}

impl ImageSource {
    pub fn reference(&self) -> &str {
        match self {
            ImageSource::Build { reference, .. } | ImageSource::Pull { reference } => reference,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesiredContainer {
    pub app: String,
    pub component: String,
    pub spec: ContainerSpec,
    pub image: ImageSource,
    /// Names of the containers that must be healthy first.
    pub depends_on: Vec<String>,
    /// Longest wait for this container to become healthy.
    pub health_timeout_secs: u64,
}

/// A recipe hook, rendered for one app instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesiredHook {
    pub app: String,
    /// `configure`, `backup`, `restore` or `upgrade`.
    pub kind: String,
    /// The container it runs in.
    pub container: String,
    pub command: Vec<String>,
    pub user: Option<String>,
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesiredState {
    pub node: String,
    pub networks: Vec<NetworkSpec>,
    pub volumes: Vec<VolumeSpec>,
    pub containers: Vec<DesiredContainer>,
    pub hooks: Vec<DesiredHook>,
}

impl DesiredState {
    pub fn container(&self, name: &str) -> Option<&DesiredContainer> {
        self.containers.iter().find(|c| c.spec.name == name)
    }
}

/// Names of the Docker objects of a node, in one place.
pub mod names {
    pub fn edge_network(node: &str) -> String {
        format!("cc-{node}-edge")
    }
    pub fn app_network(node: &str, app: &str) -> String {
        format!("cc-{node}-{app}")
    }
    pub fn container(node: &str, app: &str, component: &str) -> String {
        format!("cc-{node}-{app}-{component}")
    }
    pub fn volume(node: &str, app: &str, volume: &str) -> String {
        format!("cc-{node}-{app}-{volume}")
    }
    /// The directory: platform app `directory`, component `ldap`.
    pub const DIRECTORY_APP: &str = "directory";
    pub const DIRECTORY_COMPONENT: &str = "ldap";
    pub const DIRECTORY_PORT: u16 = 389;
    /// The edge: platform app `edge`, component `nginx`.
    pub const EDGE_APP: &str = "edge";
    pub const EDGE_COMPONENT: &str = "nginx";
    /// The shared addons: platform app `postgres`/`mariadb`, component `db`.
    pub const ADDON_COMPONENT: &str = "db";
    /// The recipe whose component `server` becomes each instance's own `redis`.
    pub const REDIS_RECIPE: &str = "redis";
    pub const REDIS_RECIPE_COMPONENT: &str = "server";
    /// The database, role and user of an app instance in a shared addon: `cc<length>_<id>`
    /// with dashes as underscores. The length makes names prefix-free, so a grant on
    /// `<name>\_%` (apps like Phorge that make many databases) never reaches another
    /// instance's (`a` → `cc1_a`, `a-b` → `cc3_a_b`).
    pub fn database(app: &str) -> String {
        format!("cc{}_{}", app.len(), app.replace('-', "_"))
    }
    /// The host name apps use for the directory, on the directory's network.
    pub fn directory_host() -> String {
        format!("{DIRECTORY_APP}-{DIRECTORY_COMPONENT}")
    }
    /// The base DN of a domain (`example.coop` → `dc=example,dc=coop`); the domain was
    /// validated when node.yaml was loaded.
    pub fn base_dn(domain: &str) -> String {
        crate::directory::base_dn_for_domain(domain).unwrap_or_default()
    }
}

/// The secret holding an app's directory password, generated when its recipe uses `ldap`.
pub const LDAP_PASSWORD_SECRET: &str = "ldap_password";

/// The generated secret an addon needs in the instance's scope (its password), if any.
pub fn addon_secret(addon: Addon) -> Option<&'static str> {
    match addon {
        Addon::Ldap => Some(LDAP_PASSWORD_SECRET),
        Addon::Postgres => Some("postgres_password"),
        Addon::Mariadb => Some("mariadb_password"),
        Addon::Redis => Some("redis_password"),
        Addon::Smtp => None,
    }
}

/// What the desired state is computed from, besides node.yaml and the recipes: all read by
/// the caller, which does the I/O.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Each app instance's secrets.
    pub secrets: ResolvedSecrets,
    /// Each `images/<name>` folder's content hash.
    pub image_hashes: BTreeMap<String, String>,
    /// The machine, for sizing.
    pub host: Option<HostView>,
    /// The SMTP password of node.yaml's `smtp` (from the secret store), for the `smtp` addon.
    pub smtp_password: Option<String>,
}

/// Memory of a shared database addon: a quarter of the host, between 256 MiB and 4 GiB.
pub fn addon_memory_mb(host: HostView) -> u64 {
    (host.memory_mb / 4).clamp(256, 4096)
}

/// Memory of an instance's Redis: 1/32 of the host, between 64 and 512 MiB.
pub fn redis_memory_mb(host: HostView) -> u64 {
    (host.memory_mb / 32).clamp(64, 512)
}

/// Secrets resolved for each app instance: instance id → name → value.
pub type ResolvedSecrets = BTreeMap<String, BTreeMap<String, String>>;

/// An error while computing the desired state: always a template.
pub type DesiredError = RenderError;

/// How an image built from `images/<name>` is tagged: by the content hash of its folder.
pub fn build_reference(name: &str, content_hash: &str) -> String {
    crate::engine::image_tag(&format!("commonscloud/{name}"), content_hash)
}

/// The desired state, from node.yaml, the recipes and what the caller read for it. Pure.
pub fn desired_state(loaded: &Loaded, inputs: &Inputs) -> Result<DesiredState, DesiredError> {
    let secrets = &inputs.secrets;
    let image_hashes = &inputs.image_hashes;
    let host = inputs.host.unwrap_or(HostView {
        memory_mb: 2048,
        cpus: 1,
    });
    let node_id = loaded.node.node_id();
    let domain = loaded.node.domain.clone();
    let node_labels = BTreeMap::from([(labels::NODE.to_string(), node_id.clone())]);
    let mut state = DesiredState {
        node: node_id.clone(),
        networks: vec![NetworkSpec {
            name: names::edge_network(&node_id),
            labels: with(&node_labels, &[(labels::NETWORK, "edge")]),
            internal: false,
        }],
        volumes: vec![],
        containers: vec![],
        hooks: vec![],
    };
    for app in &loaded.node.apps {
        let Some(recipe) = loaded.recipes.get(&app.recipe) else {
            continue; // validation already refused unknown recipes
        };
        let app_id = app.instance_id();
        let app_labels = with(&node_labels, &[(labels::APP, &app_id)]);
        // An app network has no route out, unless a component publishes a port on the host
        // (Docker publishes only through a network that is not internal).
        // The same for an app that sends mail itself (the `smtp` addon): its SMTP server is
        // outside the node.
        let publishes = recipe
            .recipe
            .components
            .values()
            .any(|c| !c.publish.is_empty())
            || recipe.recipe.addons.contains(&Addon::Smtp);
        state.networks.push(NetworkSpec {
            name: names::app_network(&node_id, &app_id),
            labels: with(&app_labels, &[(labels::NETWORK, "app")]),
            internal: !publishes,
        });
        // The platform services this instance's components join and wait for.
        let mut joins: Vec<(&str, &str)> = vec![];
        if recipe.recipe.addons.contains(&Addon::Ldap) && app_id != names::DIRECTORY_APP {
            joins.push((names::DIRECTORY_APP, names::DIRECTORY_COMPONENT));
        }
        for (addon, service) in crate::model::ADDON_SERVICES {
            if recipe.recipe.addons.contains(addon) {
                joins.push((service, names::ADDON_COMPONENT));
            }
        }
        // Its components: the recipe's, plus its own Redis when it asks for one.
        let mut components: Vec<(String, &Component, &LoadedRecipe)> = recipe
            .recipe
            .components
            .iter()
            .map(|(n, c)| (n.clone(), c, recipe))
            .collect();
        let with_redis = recipe.recipe.addons.contains(&Addon::Redis);
        if with_redis {
            let redis = loaded
                .recipes
                .get(names::REDIS_RECIPE)
                .and_then(|r| {
                    r.recipe
                        .components
                        .get(names::REDIS_RECIPE_COMPONENT)
                        .map(|c| (c, r))
                })
                .ok_or_else(|| RenderError {
                    template: recipe.file.display().to_string(),
                    line: None,
                    message: format!(
                        "addon `redis` needs the recipe `{}` in the recipes folder",
                        names::REDIS_RECIPE
                    ),
                })?;
            components.push((
                crate::model::validate_recipe::REDIS_COMPONENT.to_string(),
                redis.0,
                redis.1,
            ));
        }
        // What every template of this instance sees; only the component differs.
        let base = TemplateContext {
            node: NodeView {
                name: node_id.clone(),
                domain: domain.clone(),
                base_dn: names::base_dn(&domain),
                operator_email: loaded
                    .node
                    .operator
                    .as_ref()
                    .map(|o| o.email.clone())
                    .unwrap_or_default(),
            },
            app: app_view(app, recipe, &domain),
            component: ComponentView {
                name: String::new(),
            },
            secrets: secrets.get(&app_id).cloned().unwrap_or_default(),
            addons: addons_view(loaded, app, inputs, host),
            host,
        };
        let mut seen_volumes = std::collections::BTreeSet::new();
        for (cname, component, from) in &components {
            let cname = cname.as_str();
            for v in &component.volumes {
                if seen_volumes.insert(v.name.clone()) {
                    state.volumes.push(VolumeSpec {
                        name: names::volume(&node_id, &app_id, &v.name),
                        labels: with(
                            &app_labels,
                            &[
                                (labels::VOLUME, &v.name),
                                (labels::BACKUP, if v.backup { "true" } else { "false" }),
                            ],
                        ),
                    });
                }
            }
            let view = base.for_component(cname);
            let mut desired = container(
                &node_id,
                &app_id,
                cname,
                component,
                from,
                &view,
                &loaded.images_dir,
                image_hashes,
                &joins,
            )?;
            if with_redis && cname != crate::model::validate_recipe::REDIS_COMPONENT {
                desired.depends_on.push(names::container(
                    &node_id,
                    &app_id,
                    crate::model::validate_recipe::REDIS_COMPONENT,
                ));
            }
            if app_id == names::EDGE_APP {
                edge_ports(&mut desired.spec, &loaded.node.edge, &node_id);
            }
            if crate::model::ADDON_SERVICES
                .iter()
                .any(|(_, s)| *s == app_id)
            {
                sized(&mut desired.spec, addon_memory_mb(host));
            } else if cname == crate::model::validate_recipe::REDIS_COMPONENT && with_redis {
                sized(&mut desired.spec, redis_memory_mb(host));
            }
            state.containers.push(desired);
        }
        let hooks = &recipe.recipe.hooks;
        for (kind, hook) in [
            ("configure", &hooks.configure),
            ("backup", &hooks.backup),
            ("restore", &hooks.restore),
            ("upgrade", &hooks.upgrade),
        ] {
            let Some(hook) = hook else { continue };
            let view = base.for_component(&hook.component);
            let mut command = vec![];
            for (i, arg) in hook.command.iter().enumerate() {
                let name = format!("{} hooks.{kind}.command[{i}]", recipe.file.display());
                command.push(render::render(&name, arg, &view)?);
            }
            state.hooks.push(DesiredHook {
                app: app_id.clone(),
                kind: kind.to_string(),
                container: names::container(&node_id, &app_id, &hook.component),
                command,
                user: hook.user.clone(),
                timeout_secs: hook.timeout.map(|t| t.0.ceil() as u64).unwrap_or(300),
            });
        }
    }
    Ok(state)
}

/// A memory limit from the host's size, told to the service too (`CC_MEMORY_MB`), which
/// sizes its buffers from it.
fn sized(spec: &mut ContainerSpec, memory_mb: u64) {
    spec.memory_bytes = Some((memory_mb * 1024 * 1024) as i64);
    spec.env
        .insert("CC_MEMORY_MB".to_string(), memory_mb.to_string());
    let hash = config_hash(spec);
    spec.labels.insert(labels::CONFIG_HASH.to_string(), hash);
}

fn map(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

/// Credentials of the addons an app's recipe declares, for its templates.
fn addons_view(
    loaded: &Loaded,
    app: &AppInstance,
    inputs: &Inputs,
    host: HostView,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let secrets = &inputs.secrets;
    let mut out = BTreeMap::new();
    let Some(recipe) = loaded.recipes.get(&app.recipe) else {
        return out;
    };
    let app_id = app.instance_id();
    let secret = |addon: Addon| {
        addon_secret(addon)
            .and_then(|name| secrets.get(&app_id).and_then(|s| s.get(name)))
            .cloned()
            .unwrap_or_default()
    };
    for (addon, service) in crate::model::ADDON_SERVICES {
        if !recipe.recipe.addons.contains(addon) {
            continue;
        }
        let (port, scheme) = match addon {
            Addon::Postgres => (5432, "postgresql"),
            _ => (3306, "mysql"),
        };
        let host = format!("{service}-{}", names::ADDON_COMPONENT);
        let database = names::database(&app_id);
        let password = secret(*addon);
        out.insert(
            (*service).to_string(),
            map(&[
                (
                    "url",
                    format!("{scheme}://{database}:{password}@{host}:{port}/{database}"),
                ),
                ("host", host),
                ("port", port.to_string()),
                ("database", database.clone()),
                ("username", database),
                ("password", password),
            ]),
        );
    }
    if recipe.recipe.addons.contains(&Addon::Redis) {
        let password = secret(Addon::Redis);
        let host_name = crate::model::validate_recipe::REDIS_COMPONENT;
        out.insert(
            "redis".to_string(),
            map(&[
                ("url", format!("redis://:{password}@{host_name}:6379/0")),
                ("host", host_name.to_string()),
                ("port", "6379".to_string()),
                ("password", password),
                // What Redis may hold before refusing writes: most of its container's limit.
                ("maxmemory_mb", (redis_memory_mb(host) * 3 / 4).to_string()),
            ]),
        );
    }
    if recipe.recipe.addons.contains(&Addon::Smtp) {
        // Without `smtp:` in node.yaml every value is empty: the app cannot send mail.
        let smtp = loaded.node.smtp.as_ref();
        let security = smtp
            .and_then(|s| serde_json::to_value(s.security).ok())
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        out.insert(
            "smtp".to_string(),
            map(&[
                ("host", smtp.map(|s| s.host.clone()).unwrap_or_default()),
                ("port", smtp.map(|s| s.port.to_string()).unwrap_or_default()),
                (
                    "username",
                    smtp.and_then(|s| s.username.clone()).unwrap_or_default(),
                ),
                ("password", inputs.smtp_password.clone().unwrap_or_default()),
                ("from", smtp.map(|s| s.from.clone()).unwrap_or_default()),
                ("security", security),
            ]),
        );
    }
    if recipe.recipe.addons.contains(&Addon::Ldap) {
        let Ok(tree) = crate::directory::Tree::new(&names::base_dn(&loaded.node.domain)) else {
            return out;
        };
        let group = tree.service_group(app.collective.as_deref(), &app_id);
        let members = app
            .collective
            .as_deref()
            .map(|c| tree.members(c))
            .unwrap_or_default();
        // Locked accounts cannot bind (ppolicy), so filters need not look at the lock.
        let user_filter = if members.is_empty() {
            "(objectClass=inetOrgPerson)".to_string()
        } else {
            format!(
                "(&(objectClass=inetOrgPerson){})",
                crate::directory::filter::eq("memberOf", &members)
            )
        };
        let password = secrets
            .get(&app_id)
            .and_then(|s| s.get(LDAP_PASSWORD_SECRET))
            .cloned()
            .unwrap_or_default();
        out.insert(
            "ldap".to_string(),
            BTreeMap::from([
                (
                    "url".to_string(),
                    format!(
                        "ldap://{}:{}",
                        names::directory_host(),
                        names::DIRECTORY_PORT
                    ),
                ),
                ("host".to_string(), names::directory_host()),
                ("port".to_string(), names::DIRECTORY_PORT.to_string()),
                ("bind_dn".to_string(), tree.app_account(&app_id)),
                ("bind_password".to_string(), password),
                ("people_dn".to_string(), tree.people()),
                ("groups_dn".to_string(), tree.collectives()),
                ("access_group_dn".to_string(), group),
                ("members_group_dn".to_string(), members),
                ("user_filter".to_string(), user_filter),
                ("base_dn".to_string(), tree.base().to_string()),
            ]),
        );
    }
    out
}

fn app_view(app: &AppInstance, recipe: &LoadedRecipe, domain: &str) -> AppView {
    let mut settings: BTreeMap<String, String> = recipe
        .recipe
        .settings
        .iter()
        .filter_map(|(k, s)| s.default.clone().map(|d| (k.clone(), d)))
        .collect();
    settings.extend(app.settings.clone());
    let fqdn = app.fqdn(domain);
    AppView {
        id: app.instance_id(),
        recipe: recipe.recipe.id.clone(),
        version: recipe.recipe.version.clone(),
        host: app.host.clone(),
        url: format!("https://{fqdn}"),
        fqdn,
        collective: app.collective.clone(),
        settings,
    }
}

#[allow(clippy::too_many_arguments)]
fn container(
    node: &str,
    app: &str,
    cname: &str,
    c: &Component,
    recipe: &LoadedRecipe,
    view: &TemplateContext,
    images_dir: &Path,
    image_hashes: &BTreeMap<String, String>,
    joins: &[(&str, &str)],
) -> Result<DesiredContainer, RenderError> {
    let recipe_file = recipe.file.display().to_string();
    let image = match (&c.build, &c.image) {
        (Some(build), _) => ImageSource::Build {
            context: images_dir.join(build),
            reference: build_reference(
                build,
                image_hashes
                    .get(build)
                    .map(String::as_str)
                    .unwrap_or("unknown"),
            ),
        },
        (None, Some(image)) => ImageSource::Pull {
            reference: image.clone(),
        },
        (None, None) => ImageSource::Pull {
            reference: String::new(),
        },
    };
    let mut env = BTreeMap::new();
    for (k, v) in &c.env {
        let name = format!("{recipe_file} components.{cname}.env.{k}");
        env.insert(k.clone(), render::render(&name, v, view)?);
    }
    let mut files = vec![];
    for f in &c.files {
        let source = recipe
            .templates
            .get(&f.template)
            .cloned()
            .unwrap_or_default();
        let name = recipe.dir.join(&f.template).display().to_string();
        let contents = render::render(&name, &source, view)?;
        let mode = f
            .mode
            .as_deref()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .unwrap_or(0o644);
        files.push(FileSpec {
            path: f.path.clone(),
            contents: contents.into_bytes(),
            mode,
        });
    }
    let mut networks = vec![NetworkAttachment {
        network: names::app_network(node, app),
        aliases: vec![cname.to_string(), format!("{app}-{cname}")],
    }];
    if c.route.is_some() {
        networks.push(NetworkAttachment {
            network: names::edge_network(node),
            aliases: vec![format!("{app}-{cname}")],
        });
    }
    let mut depends_on: Vec<String> = c
        .depends_on
        .iter()
        .map(|d| names::container(node, app, d))
        .collect();
    for (service, component) in joins {
        networks.push(NetworkAttachment {
            network: names::app_network(node, service),
            aliases: vec![format!("{app}-{cname}")],
        });
        depends_on.push(names::container(node, service, component));
    }
    let health = c.health.as_ref().map(|h| {
        let test = match (&h.cmd, &h.http) {
            (Some(cmd), _) => {
                let mut t = vec!["CMD".to_string()];
                t.extend(cmd.iter().cloned());
                t
            }
            (None, Some(http)) => vec![
                "CMD-SHELL".to_string(),
                format!(
                    "wget -q -O /dev/null http://127.0.0.1:{port}{path} || curl -fsS -o /dev/null http://127.0.0.1:{port}{path}",
                    port = http.port,
                    path = http.path
                ),
            ],
            (None, None) => vec!["NONE".to_string()],
        };
        HealthSpec {
            test,
            interval_ns: h.interval.as_nanos(),
            timeout_ns: h.timeout.as_nanos(),
            retries: i64::from(h.retries),
            start_period_ns: h.start_period.map(|s| s.as_nanos()).unwrap_or(0),
        }
    });
    let health_timeout_secs = c
        .health
        .as_ref()
        .map(|h| {
            let start = h.start_period.map(|s| s.0).unwrap_or(0.0);
            (start + (h.interval.0 + h.timeout.0) * f64::from(h.retries + 1) + 30.0) as u64
        })
        .unwrap_or(30);
    let mut spec = ContainerSpec {
        name: names::container(node, app, cname),
        image: image.reference().to_string(),
        labels: BTreeMap::from([
            (labels::NODE.to_string(), node.to_string()),
            (labels::APP.to_string(), app.to_string()),
            (labels::COMPONENT.to_string(), cname.to_string()),
            (labels::VERSION.to_string(), recipe.recipe.version.clone()),
            (labels::IMAGE.to_string(), image.reference().to_string()),
        ]),
        env,
        command: c.command.clone(),
        user: c.user.clone(),
        mounts: c
            .volumes
            .iter()
            .map(|v| MountSpec {
                volume: names::volume(node, app, &v.name),
                target: v.path.clone(),
                read_only: false,
            })
            .collect(),
        networks,
        health,
        memory_bytes: c.limits.memory.map(|m| m.0 as i64),
        nano_cpus: c.limits.cpus.map(|c| (c * 1e9) as i64),
        pids_limit: c.limits.pids,
        stop_grace_secs: c.stop_grace.map(|s| s.0.ceil() as i64),
        read_only: c.read_only,
        tmpfs: c.tmpfs.clone(),
        files,
        ports: c
            .publish
            .iter()
            .map(|p| PortSpec {
                container_port: p.port,
                host_ip: "127.0.0.1".to_string(),
                host_port: p.host_port,
            })
            .collect(),
    };
    let hash = config_hash(&spec);
    spec.labels.insert(labels::CONFIG_HASH.to_string(), hash);
    Ok(DesiredContainer {
        app: app.to_string(),
        component: cname.to_string(),
        depends_on,
        spec,
        image,
        health_timeout_secs,
    })
}

/// The edge publishes its ports where node.yaml's `edge:` says (0: Docker picks), and joins
/// the edge network, where the routed components are.
fn edge_ports(spec: &mut ContainerSpec, edge: &crate::model::Edge, node: &str) {
    for p in &mut spec.ports {
        p.host_ip = edge.address.clone();
        p.host_port = match p.container_port {
            80 => Some(edge.http_port),
            443 => Some(edge.https_port),
            _ => p.host_port,
        }
        .filter(|port| *port != 0);
    }
    spec.networks.push(NetworkAttachment {
        network: names::edge_network(node),
        aliases: vec![names::EDGE_APP.to_string()],
    });
    let hash = config_hash(spec);
    spec.labels.insert(labels::CONFIG_HASH.to_string(), hash);
}

/// The hash of everything that defines a container except its image, which is compared
/// on its own so that the plan can say which of the two changed.
pub fn config_hash(spec: &ContainerSpec) -> String {
    let mut s = spec.clone();
    s.image = String::new();
    s.labels.remove(labels::IMAGE);
    s.labels.remove(labels::CONFIG_HASH);
    let json = serde_json::to_vec(&s).unwrap_or_default();
    hex::encode(&Sha256::digest(&json)[..12])
}

fn with(base: &BTreeMap<String, String>, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut m = base.clone();
    for (k, v) in extra {
        m.insert((*k).to_string(), (*v).to_string());
    }
    m
}
