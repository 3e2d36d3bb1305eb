//! `node.yaml` and `recipe.yaml`: types, loading and validation with file:line:col errors.
//!
//! `parse_*` turn text into typed values (syntax, types, unknown and missing fields);
//! `validate_*` hold the rules beyond types and collect every problem; `load` reads the files
//! and checks what spans them. Every problem is a [`Diagnostic`] naming file, line, column,
//! field path, what is wrong and what to do.

pub mod diag;
pub mod edit;
pub mod load;
pub mod names;
pub mod node;
pub mod parse;
pub mod recipe;
mod report;
pub mod routes;
mod source;
pub mod units;
pub mod validate_node;
pub mod validate_recipe;

pub use diag::{Diagnostic, Diagnostics};
pub use load::{available_recipes, load, load_all_recipes, load_recipe, Loaded, LoadedRecipe};
pub use node::*;
pub use parse::{parse_node, parse_recipe};
pub use recipe::*;
pub use routes::RouteEntry;

/// Platform services every node runs, as app instances with these ids and recipes. They are
/// added by the supervisor, never declared in `node.yaml`; their ids are reserved.
pub const PLATFORM_APPS: &[&str] = &["directory", "edge", "portal"];

/// Shared addons run as platform services of their own, only while an app uses them: the
/// addon and the id of its service (whose recipe has the same name). Redis is not shared: each
/// instance that asks for it gets its own (see `reconcile::desired`).
pub const ADDON_SERVICES: &[(Addon, &str)] =
    &[(Addon::Postgres, "postgres"), (Addon::Mariadb, "mariadb")];

/// Whether an instance id is taken by one of the node's own services.
pub fn is_reserved_app_id(id: &str) -> bool {
    PLATFORM_APPS.contains(&id) || ADDON_SERVICES.iter().any(|(_, s)| *s == id)
}
