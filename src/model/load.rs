//! Reading `node.yaml` and the recipes it uses from disk, then checking them together.
//!
//! This is the filesystem edge of `model`: parsing and the rules themselves are pure
//! (`parse`, `validate_node`, `validate_recipe`); here we read files, look for recipe folders,
//! `images/<build>/Dockerfile` and templates, and check what spans two files (an app's recipe
//! and settings, route host names across apps).

use super::diag::{Diagnostic, Diagnostics};
use super::names;
use super::node::NodeConfig;
use super::parse::{parse_with_map, Doc};
use super::recipe::Recipe;
use super::report::Report;
use super::validate_node::validate_node;
use super::validate_recipe::validate_recipe;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// The name of a recipe's file inside its folder.
pub const RECIPE_FILE: &str = "recipe.yaml";

/// A recipe that parsed and passed its rules, with its templates read.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedRecipe {
    pub recipe: Recipe,
    /// The recipe's folder (`recipes/<id>`).
    pub dir: PathBuf,
    /// Its `recipe.yaml`.
    pub file: PathBuf,
    /// `files[].template` (relative to `dir`, as written) → contents, for every component.
    pub templates: BTreeMap<String, String>,
}

/// `node.yaml` and the recipes it uses, all valid together.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub node: NodeConfig,
    pub node_file: PathBuf,
    /// Only the recipes `node.yaml` uses, by id.
    pub recipes: BTreeMap<String, LoadedRecipe>,
    pub images_dir: PathBuf,
}

/// Reads, parses and checks one recipe alone: `recipes_dir/<id>/recipe.yaml`.
pub fn load_recipe(
    recipes_dir: &Path,
    id: &str,
    images_dir: &Path,
) -> Result<LoadedRecipe, Diagnostics> {
    let dir = recipes_dir.join(id);
    let file = dir.join(RECIPE_FILE);
    let text = read(&file, "check the recipe id and the recipes folder")?;
    let (recipe, map) = parse_with_map::<Recipe>(&text, &file, Doc::Recipe)?;
    let mut r = Report::new(&file, &map);
    validate_recipe(&recipe, &mut r);
    if recipe.id != id {
        r.value(
            "id",
            format!("`{}` does not match its folder name `{id}`", recipe.id),
            format!("write `id: {id}`, or rename the folder"),
        );
    }
    for (name, c) in &recipe.components {
        let Some(build) = c.build.as_deref().filter(|b| names::dns_label(b).is_ok()) else {
            continue;
        };
        let dockerfile = images_dir.join(build).join("Dockerfile");
        if !dockerfile.is_file() {
            let known = folders_with(images_dir, "Dockerfile");
            r.value(
                &format!("components.{name}.build"),
                format!("there is no `{}`", dockerfile.display()),
                if known.is_empty() {
                    format!("add the image's folder under `{}`", images_dir.display())
                } else {
                    format!("use one of: {}", known.join(", "))
                },
            );
        }
    }
    let mut templates = BTreeMap::new();
    for (name, c) in &recipe.components {
        for (i, f) in c.files.iter().enumerate() {
            if names::relative_path(&f.template).is_err() || templates.contains_key(&f.template) {
                continue;
            }
            let path = dir.join(&f.template);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    templates.insert(f.template.clone(), text);
                }
                Err(e) => r.value(
                    &format!("components.{name}.files[{i}].template"),
                    format!("cannot read `{}`: {}", path.display(), io_reason(&e)),
                    "add the template to the recipe's folder, or fix the path",
                ),
            }
        }
    }
    let mut out = r.out;
    out.sort();
    out.into_result(LoadedRecipe {
        recipe,
        dir,
        file,
        templates,
    })
}

/// Loads every recipe under `recipes_dir` (each folder holding a `recipe.yaml`), reporting
/// the problems of all of them.
pub fn load_all_recipes(
    recipes_dir: &Path,
    images_dir: &Path,
) -> Result<BTreeMap<String, LoadedRecipe>, Diagnostics> {
    if let Err(e) = std::fs::read_dir(recipes_dir) {
        return Err(Diagnostic::file(
            recipes_dir,
            format!("cannot read the recipes folder: {}", io_reason(&e)),
            "pass the folder that holds one sub-folder per recipe",
        )
        .into());
    }
    let mut out = Diagnostics::default();
    let mut recipes = BTreeMap::new();
    for id in available_recipes(recipes_dir) {
        match load_recipe(recipes_dir, &id, images_dir) {
            Ok(r) => {
                recipes.insert(id, r);
            }
            Err(ds) => out.extend(ds),
        }
    }
    out.into_result(recipes)
}

/// Loads `node.yaml` and the recipes its apps use, and checks everything, alone and together.
/// Returns every problem found, not just the first.
pub fn load(
    node_file: &Path,
    recipes_dir: &Path,
    images_dir: &Path,
) -> Result<Loaded, Diagnostics> {
    let text = read(
        node_file,
        "create it (see docs/node.md), or give the right path",
    )?;
    let (node, map) = parse_with_map::<NodeConfig>(&text, node_file, Doc::Node)?;
    let mut r = Report::new(node_file, &map);
    validate_node(&node, &mut r);

    let available = available_recipes(recipes_dir);
    let mut recipes: BTreeMap<String, LoadedRecipe> = BTreeMap::new();
    let mut recipe_problems = Diagnostics::default();
    let mut failed: Vec<&str> = Vec::new();
    for app in &node.apps {
        let id = app.recipe.as_str();
        if recipes.contains_key(id) || failed.contains(&id) {
            continue;
        }
        if !available.iter().any(|a| a == id) {
            failed.push(id);
            continue;
        }
        match load_recipe(recipes_dir, id, images_dir) {
            Ok(loaded) => {
                recipes.insert(id.to_string(), loaded);
            }
            Err(ds) => {
                failed.push(id);
                recipe_problems.extend(ds);
            }
        }
    }
    for (i, app) in node.apps.iter().enumerate() {
        let path = format!("apps[{i}]");
        if !available.iter().any(|a| a == &app.recipe) {
            r.value(
                &format!("{path}.recipe"),
                format!("there is no recipe `{}` in `{}`", app.recipe, recipes_dir.display()),
                if available.is_empty() {
                    "that folder holds no recipe (a folder with a recipe.yaml); check the recipes path".to_string()
                } else {
                    format!("use one of: {}", available.join(", "))
                },
            );
            continue;
        }
        let Some(loaded) = recipes.get(&app.recipe) else {
            continue; // The recipe's own problems are reported in its file.
        };
        let declared = &loaded.recipe.settings;
        for key in app.settings.keys() {
            if !declared.contains_key(key) {
                let names: Vec<&str> = declared.keys().map(String::as_str).collect();
                r.key(
                    &format!("{path}.settings.{key}"),
                    format!("recipe `{}` has no setting `{key}`", app.recipe),
                    if names.is_empty() {
                        "this recipe takes no settings; remove it".to_string()
                    } else {
                        format!("use one of: {}", names.join(", "))
                    },
                );
            }
        }
    }
    route_hosts(&node, &recipes, &mut r);

    let mut out = r.out;
    out.sort();
    out.extend(recipe_problems);
    out.into_result(Loaded {
        node,
        node_file: node_file.to_path_buf(),
        recipes,
        images_dir: images_dir.to_path_buf(),
    })
}

/// A route with a `prefix` serves `<prefix>.<host>`: that name must not be another app's.
fn route_hosts(node: &NodeConfig, recipes: &BTreeMap<String, LoadedRecipe>, r: &mut Report) {
    // Host name → (app index, route component or None for the app's own host).
    let mut claimed: BTreeMap<String, (usize, Option<String>)> = BTreeMap::new();
    for (i, app) in node.apps.iter().enumerate() {
        let mut names: Vec<(String, Option<String>)> = vec![(app.host.clone(), None)];
        if let Some(loaded) = recipes.get(&app.recipe) {
            for (cname, c) in &loaded.recipe.components {
                if let Some(prefix) = c.route.as_ref().and_then(|r| r.prefix.as_deref()) {
                    if !prefix.is_empty() {
                        names.push((format!("{prefix}.{}", app.host), Some(cname.clone())));
                    }
                }
            }
        }
        for (name, via) in names {
            match claimed.get(&name) {
                Some((j, _)) if *j == i => {}
                // Two apps' own hosts: reported by the node rules.
                Some((_, None)) if via.is_none() => {}
                Some((j, other)) => {
                    let this = match &via {
                        Some(c) => {
                            format!("the route of component `{c}` of recipe `{}`", app.recipe)
                        }
                        None => "this app".into(),
                    };
                    let that = match other {
                        Some(c) => format!("a route (component `{c}`) of apps[{j}]"),
                        None => format!("apps[{j}]"),
                    };
                    r.value(
                        &format!("apps[{i}].host"),
                        format!("`{name}`, wanted by {this}, is already used by {that}"),
                        "pick another host name",
                    );
                }
                None => {
                    claimed.insert(name, (i, via));
                }
            }
        }
    }
}

/// Recipe ids: the sub-folders of `recipes_dir` that hold a `recipe.yaml`, sorted.
pub fn available_recipes(recipes_dir: &Path) -> Vec<String> {
    folders_with(recipes_dir, RECIPE_FILE)
}

fn folders_with(dir: &Path, file: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join(file).is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    found.sort();
    found
}

fn read(file: &Path, hint: &str) -> Result<String, Diagnostics> {
    std::fs::read_to_string(file).map_err(|e| {
        Diagnostic::file(
            file,
            format!("cannot read `{}`: {}", file.display(), io_reason(&e)),
            hint,
        )
        .into()
    })
}

fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or folder".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::InvalidData => "it is not UTF-8 text".into(),
        _ => e.to_string(),
    }
}
