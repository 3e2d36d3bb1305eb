//! `node.yaml` and `recipe.yaml`: types, loading and validation with file:line:col errors.
//!
//! `parse_*` turn text into typed values (syntax, types, unknown and missing fields);
//! `validate_*` hold the rules beyond types and collect every problem; `load` reads the files
//! and checks what spans them. Every problem is a [`Diagnostic`] naming file, line, column,
//! field path, what is wrong and what to do.

pub mod diag;
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
