//! The Docker engine over bollard: images (pull, build, bootstrap), networks, volumes,
//! containers, exec, logs. It knows nothing of recipes, LDAP or node.yaml, and it only ever
//! lists or touches objects carrying CommonsCloud's labels.

mod bootstrap;
mod client;
mod container;
mod context;
mod error;
mod exec;
mod health;
mod image;
mod lock;
mod logs;
mod network;
mod oneshot;
pub mod spec;
mod volume;

pub use client::{Engine, EngineVersion};
pub use context::context_hash;
pub use error::EngineError;
pub use image::{image_tag, BuiltImage};
pub use oneshot::{BindSpec, OneShot, OneShotOutput};
pub use spec::*;
