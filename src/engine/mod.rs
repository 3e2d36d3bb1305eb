//! The Docker engine over bollard: images, networks, volumes, containers, exec, logs.

pub mod spec;
pub use spec::*;
