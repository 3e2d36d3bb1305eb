//! The routes of a node: which host name and path reach which component, from `node.yaml`
//! and the recipes. The edge serves them; the certificates cover their host names.

use super::load::Loaded;
use super::recipe::Route;

/// One route of one app instance.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteEntry {
    /// Full host name: `<prefix>.<host>.<domain>` or `<host>.<domain>`.
    pub fqdn: String,
    /// App instance id.
    pub app: String,
    /// Component name in the recipe.
    pub component: String,
    pub route: Route,
}

impl Loaded {
    /// Every route of every app instance, in node order then component order.
    pub fn routes(&self) -> Vec<RouteEntry> {
        let mut out = vec![];
        for app in &self.node.apps {
            let Some(recipe) = self.recipes.get(&app.recipe) else {
                continue;
            };
            let fqdn = app.fqdn(&self.node.domain);
            for (cname, c) in &recipe.recipe.components {
                let Some(route) = &c.route else { continue };
                let fqdn = match route.prefix.as_deref() {
                    Some(p) if !p.is_empty() => format!("{p}.{fqdn}"),
                    _ => fqdn.clone(),
                };
                out.push(RouteEntry {
                    fqdn,
                    app: app.instance_id(),
                    component: cname.clone(),
                    route: route.clone(),
                });
            }
        }
        out
    }

    /// The host names the node serves, sorted and without repeats: what its certificates
    /// must cover.
    pub fn hostnames(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.routes().into_iter().map(|r| r.fqdn).collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }
}
