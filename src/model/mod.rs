//! `node.yaml` and `recipe.yaml`: types, loading and validation with file:line:col errors.

pub mod node;
pub mod recipe;
pub mod units;

pub use node::*;
pub use recipe::*;
