//! The rules of `recipe.yaml` beyond its types (listed in docs/recipes.md), without touching
//! the filesystem: the loader checks the folder name, `build` folders and templates.

use super::names;
use super::recipe::{Component, Health, Hook, Recipe};
use super::report::Report;
use super::units::ByteSize;
use std::collections::{BTreeMap, BTreeSet};

/// Smallest memory limit we accept: Docker refuses less than 6M on some kernels, and anything
/// this small is a typo for a bigger unit.
pub const MIN_MEMORY: ByteSize = ByteSize(4 << 20);

pub(crate) fn validate_recipe(recipe: &Recipe, r: &mut Report) {
    if let Err(why) = names::dns_label(&recipe.id) {
        r.value(
            "id",
            format!("`{}` is not a valid recipe id: {why}", recipe.id),
            "use a-z, 0-9 and -, and name the recipe's folder the same",
        );
    }
    if let Err(why) = names::recipe_version(&recipe.version) {
        r.value(
            "version",
            format!("`{}` {why}", recipe.version),
            "write the upstream version, a dash and our packaging revision, like `30.0.4-1`",
        );
    }
    if recipe.components.is_empty() {
        r.value(
            "components",
            "the recipe has no component",
            "add at least one container under `components:`",
        );
    }
    let mut routes: BTreeMap<(String, String), String> = BTreeMap::new();
    for (name, c) in &recipe.components {
        let path = format!("components.{name}");
        if let Err(why) = names::dns_label(name) {
            r.key(
                &path,
                format!("`{name}` is not a valid component name: {why}"),
                "use a-z, 0-9 and -, like `web` or `db`",
            );
        }
        component(recipe, name, c, &path, r);
        if let Some(route) = &c.route {
            let prefix = route.prefix.clone().unwrap_or_default();
            let key = (prefix.clone(), route.path.clone());
            if let Some(first) = routes.get(&key) {
                let place = if prefix.is_empty() {
                    format!("path `{}` of the instance host", route.path)
                } else {
                    format!("path `{}` of prefix `{prefix}`", route.path)
                };
                r.value(
                    &format!("{path}.route"),
                    format!("components.{first} already routes {place}"),
                    "give one of them another `prefix` or `path`",
                );
            } else {
                routes.insert(key, name.clone());
            }
        }
    }
    cycles(recipe, r);
    for (i, addon) in recipe.addons.iter().enumerate() {
        if recipe.addons[..i].contains(addon) {
            r.value(
                &format!("addons[{i}]"),
                format!("`{}` is listed twice", addon_name(addon)),
                "list each addon once",
            );
        }
    }
    if recipe.addons.contains(&super::recipe::Addon::Redis)
        && recipe.components.contains_key(REDIS_COMPONENT)
    {
        r.key(
            &format!("components.{REDIS_COMPONENT}"),
            format!(
                "with the `redis` addon the supervisor adds a component `{REDIS_COMPONENT}` itself"
            ),
            "rename this component, or drop the addon and run your own",
        );
    }
    for (i, secret) in recipe.secrets.iter().enumerate() {
        let path = format!("secrets[{i}]");
        if let Err(why) = names::identifier(secret) {
            r.value(
                &path,
                format!("`{secret}` is not a valid secret name: {why}"),
                "use a-z, 0-9 and `_`, starting with a letter, like `db_password`",
            );
        }
        if let Some(first) = recipe.secrets[..i].iter().position(|s| s == secret) {
            r.value(
                &path,
                format!("`{secret}` is already secrets[{first}]"),
                "list each secret once",
            );
        }
    }
    for name in recipe.settings.keys() {
        if let Err(why) = names::identifier(name) {
            r.key(
                &format!("settings.{name}"),
                format!("`{name}` is not a valid setting name: {why}"),
                "use a-z, 0-9 and `_`, starting with a letter, like `max_upload`",
            );
        }
    }
    let hooks = &recipe.hooks;
    for (kind, hook) in [
        ("configure", &hooks.configure),
        ("backup", &hooks.backup),
        ("restore", &hooks.restore),
        ("upgrade", &hooks.upgrade),
    ] {
        if let Some(h) = hook {
            validate_hook(recipe, &format!("hooks.{kind}"), h, r);
        }
    }
}

fn component(recipe: &Recipe, name: &str, c: &Component, path: &str, r: &mut Report) {
    match (&c.image, &c.build) {
        (Some(_), Some(_)) => r.value(
            &format!("{path}.build"),
            "a component has either `image` or `build`, not both",
            "keep `image` for an upstream image, or `build` for one of our images",
        ),
        (None, None) => r.value(
            path,
            "the component has neither `image` nor `build`",
            "add `image: name:tag@sha256:<digest>` or `build: <folder under images/>`",
        ),
        (Some(image), None) => {
            if let Err(why) = names::pinned_image(image) {
                r.value(
                    &format!("{path}.image"),
                    format!("`{image}` {why}"),
                    "pin it as `name:tag@sha256:<64 hex digits>` (see `docker buildx imagetools inspect`)",
                );
            }
        }
        (None, Some(build)) => {
            if let Err(why) = names::dns_label(build) {
                r.value(
                    &format!("{path}.build"),
                    format!("`{build}` is not a folder name: {why}"),
                    "write the name of a folder under images/, like `directory`",
                );
            }
        }
    }
    if c.command.as_ref().is_some_and(|cmd| cmd.is_empty()) {
        r.value(
            &format!("{path}.command"),
            "the command is empty",
            "remove `command` to use the image's, or write its arguments",
        );
    }
    for key in c.env.keys() {
        if let Err(why) = names::env_name(key) {
            r.key(
                &format!("{path}.env.{key}"),
                format!("`{key}` is not a valid environment variable name: {why}"),
                "use letters, digits and `_`, like `DB_HOST`",
            );
        }
    }
    // Mount points of this container: volumes and tmpfs must not overlap exactly.
    let mut mounts: BTreeMap<&str, String> = BTreeMap::new();
    let mut volume_names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, v) in c.volumes.iter().enumerate() {
        let vpath = format!("{path}.volumes[{i}]");
        if let Err(why) = names::dns_label(&v.name) {
            r.value(
                &format!("{vpath}.name"),
                format!("`{}` is not a valid volume name: {why}", v.name),
                "use a-z, 0-9 and -, like `data`",
            );
        }
        if let Some(first) = volume_names.get(v.name.as_str()) {
            r.value(
                &format!("{vpath}.name"),
                format!("`{}` is already mounted by volumes[{first}]", v.name),
                "mount each volume once per component",
            );
        } else {
            volume_names.insert(&v.name, i);
        }
        mount(
            r,
            &format!("{vpath}.path"),
            format!("volumes[{i}]"),
            &v.path,
            &mut mounts,
        );
    }
    for (i, t) in c.tmpfs.iter().enumerate() {
        mount(
            r,
            &format!("{path}.tmpfs[{i}]"),
            format!("tmpfs[{i}]"),
            t,
            &mut mounts,
        );
    }
    let mut published: BTreeMap<u16, usize> = BTreeMap::new();
    for (i, p) in c.publish.iter().enumerate() {
        let ppath = format!("{path}.publish[{i}]");
        if p.port == 0 || p.host_port == Some(0) {
            r.value(
                &format!("{ppath}.port"),
                "port 0 cannot be published".to_string(),
                "write a port between 1 and 65535",
            );
        }
        if let Some(first) = published.insert(p.port, i) {
            r.value(
                &format!("{ppath}.port"),
                format!("port {} is already published by publish[{first}]", p.port),
                "publish each port once",
            );
        }
    }
    let mut file_paths: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, f) in c.files.iter().enumerate() {
        let fpath = format!("{path}.files[{i}]");
        if let Err(why) = names::container_path(&f.path) {
            r.value(
                &format!("{fpath}.path"),
                format!("`{}` {why}", f.path),
                "write an absolute path inside the container, like `/etc/app/config.php`",
            );
        }
        if let Some(first) = file_paths.get(f.path.as_str()) {
            r.value(
                &format!("{fpath}.path"),
                format!("`{}` is already written by files[{first}]", f.path),
                "write each file once",
            );
        } else {
            file_paths.insert(&f.path, i);
        }
        if let Err(why) = names::relative_path(&f.template) {
            r.value(
                &format!("{fpath}.template"),
                format!("`{}` {why}", f.template),
                "write a path relative to the recipe's folder, like `templates/config.php`",
            );
        }
        if let Some(mode) = &f.mode {
            let octal =
                (3..=4).contains(&mode.len()) && mode.chars().all(|c| ('0'..='7').contains(&c));
            if !octal {
                r.value(
                    &format!("{fpath}.mode"),
                    format!("`{mode}` is not an octal file mode"),
                    "write it quoted, like \"0640\"",
                );
            }
        }
    }
    if let Some(h) = &c.health {
        health(h, &format!("{path}.health"), r);
    }
    if let Some(route) = &c.route {
        let rpath = format!("{path}.route");
        if route.port == 0 {
            r.value(
                &format!("{rpath}.port"),
                "port 0 is not a port",
                "use 1 to 65535",
            );
        }
        if !route.path.starts_with('/') {
            r.value(
                &format!("{rpath}.path"),
                format!("`{}` does not start with `/`", route.path),
                "write a URL path, like `/` or `/api`",
            );
        } else if let Some(bad) = route
            .path
            .chars()
            .find(|ch| !(ch.is_ascii_alphanumeric() || "/-._~".contains(*ch)))
        {
            r.value(
                &format!("{rpath}.path"),
                format!("`{}` contains {bad:?}", route.path),
                "use only letters, digits and / - . _ ~ in a route path",
            );
        }
        if let Some(prefix) = route.prefix.as_deref().filter(|p| !p.is_empty()) {
            if let Err(why) = names::dns_labels(prefix) {
                r.value(
                    &format!("{rpath}.prefix"),
                    format!("`{prefix}` is not a valid host prefix: {why}"),
                    "use a DNS label, like `office`",
                );
            }
        }
    }
    let limits = &c.limits;
    if let Some(m) = limits.memory {
        if m < MIN_MEMORY {
            r.value(
                &format!("{path}.limits.memory"),
                format!("{m} is less than the minimum of {MIN_MEMORY}"),
                "write a size with its unit, like 512M",
            );
        }
    }
    if let Some(cpus) = limits.cpus {
        if !(cpus.is_finite() && cpus > 0.0) {
            r.value(
                &format!("{path}.limits.cpus"),
                format!("{cpus} CPUs is not a limit"),
                "write a number above 0, like 0.5 or 2",
            );
        }
    }
    if let Some(pids) = limits.pids {
        if pids < 1 && pids != -1 {
            r.value(
                &format!("{path}.limits.pids"),
                format!("{pids} is not a process limit"),
                "write a number above 0, or -1 for no limit",
            );
        }
    }
    for (i, dep) in c.depends_on.iter().enumerate() {
        let dpath = format!("{path}.depends_on[{i}]");
        if dep == name {
            r.value(
                &dpath,
                format!("`{name}` depends on itself"),
                "remove this entry",
            );
        } else if !recipe.components.contains_key(dep) {
            r.value(
                &dpath,
                format!("there is no component `{dep}`"),
                format!("use one of: {}", component_names(recipe)),
            );
        }
    }
}

/// Checks one mount point and that no other mount of the container uses it; `what` names it
/// for the message (`volumes[0]`).
fn mount<'a>(
    r: &mut Report,
    path: &str,
    what: String,
    target: &'a str,
    mounts: &mut BTreeMap<&'a str, String>,
) {
    if let Err(why) = names::container_path(target) {
        r.value(
            path,
            format!("`{target}` {why}"),
            "write an absolute path inside the container, like `/var/lib/app`",
        );
    }
    if let Some(first) = mounts.get(target) {
        r.value(
            path,
            format!("`{target}` is already mounted by {first}"),
            "mount one thing per path",
        );
    } else {
        mounts.insert(target, what);
    }
}

fn health(h: &Health, path: &str, r: &mut Report) {
    match (&h.cmd, &h.http) {
        (Some(_), Some(_)) => r.value(
            &format!("{path}.http"),
            "a health check has either `cmd` or `http`, not both",
            "keep one of them",
        ),
        (None, None) => r.value(
            path,
            "the health check has neither `cmd` nor `http`",
            "add `cmd: [...]` or `http: {port: ..., path: ...}`",
        ),
        (Some(cmd), None) if cmd.is_empty() => r.value(
            &format!("{path}.cmd"),
            "the command is empty",
            "write the command and its arguments, like [\"pg_isready\"]",
        ),
        (None, Some(http)) => {
            if http.port == 0 {
                r.value(
                    &format!("{path}.http.port"),
                    "port 0 is not a port",
                    "use 1 to 65535",
                );
            }
            if !http.path.starts_with('/') {
                r.value(
                    &format!("{path}.http.path"),
                    format!("`{}` does not start with `/`", http.path),
                    "write a URL path, like `/status`",
                );
            }
        }
        (Some(_), None) => {}
    }
    if h.retries < 1 {
        r.value(
            &format!("{path}.retries"),
            "0 retries never passes",
            "use 1 or more",
        );
    }
    if h.interval.0 <= 0.0 {
        r.value(
            &format!("{path}.interval"),
            "the interval is zero",
            "write a duration, like 10s",
        );
    }
    if h.timeout.0 > h.interval.0 {
        r.value(
            &format!("{path}.timeout"),
            format!(
                "the timeout {} is longer than the interval {}",
                h.timeout, h.interval
            ),
            "make the timeout at most the interval",
        );
    }
}

fn validate_hook(recipe: &Recipe, path: &str, h: &Hook, r: &mut Report) {
    if !recipe.components.contains_key(&h.component) {
        r.value(
            &format!("{path}.component"),
            format!("there is no component `{}`", h.component),
            format!("use one of: {}", component_names(recipe)),
        );
    }
    if h.command.is_empty() || h.command.iter().all(|a| a.trim().is_empty()) {
        r.value(
            &format!("{path}.command"),
            "the command is empty",
            "write the command and its arguments, like [\"occ\", \"maintenance:repair\"]",
        );
    }
}

/// Reports each dependency cycle once, from its alphabetically first component.
fn cycles(recipe: &Recipe, r: &mut Report) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit<'a>(
        recipe: &'a Recipe,
        name: &'a str,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
        found: &mut BTreeSet<Vec<&'a str>>,
    ) {
        marks.insert(name, Mark::Open);
        stack.push(name);
        let deps = recipe
            .components
            .get(name)
            .map(|c| c.depends_on.as_slice())
            .unwrap_or_default();
        for dep in deps {
            let dep = dep.as_str();
            if dep == name {
                continue; // Reported as "depends on itself".
            }
            match marks.get(dep).copied() {
                None => {} // Not a component: reported elsewhere.
                Some(Mark::Open) => {
                    if let Some(start) = stack.iter().position(|n| *n == dep) {
                        let mut cycle = stack[start..].to_vec();
                        let first = cycle
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, n)| **n)
                            .map_or(0, |(i, _)| i);
                        cycle.rotate_left(first);
                        found.insert(cycle);
                    }
                }
                Some(Mark::New) => visit(recipe, dep, marks, stack, found),
                Some(Mark::Done) => {}
            }
        }
        stack.pop();
        marks.insert(name, Mark::Done);
    }
    let mut marks: BTreeMap<&str, Mark> = recipe
        .components
        .keys()
        .map(|k| (k.as_str(), Mark::New))
        .collect();
    let mut found = BTreeSet::new();
    for name in recipe.components.keys() {
        if marks.get(name.as_str()) == Some(&Mark::New) {
            visit(recipe, name, &mut marks, &mut Vec::new(), &mut found);
        }
    }
    for cycle in found {
        let (first, second) = (cycle[0], cycle[1 % cycle.len()]);
        let index = recipe
            .components
            .get(first)
            .and_then(|c| c.depends_on.iter().position(|d| d == second))
            .unwrap_or(0);
        let mut shown: Vec<&str> = cycle.clone();
        shown.push(first);
        r.value(
            &format!("components.{first}.depends_on[{index}]"),
            format!("dependency cycle: {}", shown.join(" → ")),
            "remove one of these dependencies",
        );
    }
}

fn component_names(recipe: &Recipe) -> String {
    recipe
        .components
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The component the `redis` addon adds to an instance.
pub const REDIS_COMPONENT: &str = "redis";

fn addon_name(a: &super::recipe::Addon) -> &'static str {
    use super::recipe::Addon::*;
    match a {
        Ldap => "ldap",
        Postgres => "postgres",
        Mariadb => "mariadb",
        Redis => "redis",
        Smtp => "smtp",
    }
}
