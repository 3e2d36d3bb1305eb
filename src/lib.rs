//! CommonsCloud node: the library behind the `commonscloud` supervisor.
//!
//! Layers point one way: `model` (the two YAML files) knows no Docker; `engine` (bollard) knows
//! no recipes; `render` and `reconcile` join them; `ops` and `cli` sit on top.

pub mod backup;
pub mod cli;
pub mod directory;
pub mod edge;
pub mod engine;
pub mod host;
pub mod mail;
pub mod model;
pub mod ops;
pub mod paths;
pub mod portal;
pub mod reconcile;
pub mod render;
pub mod secrets;
pub mod state;
pub mod tls;
