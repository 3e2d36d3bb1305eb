//! Desired state → plan (with reasons) → apply.
//!
//! `desired` turns the loaded model into Docker specs, `plan` compares them with what Docker
//! reports (a pure function), and `apply` carries a plan out, in dependency order.

pub mod apply;
pub mod desired;
pub mod observe;
pub mod plan;

pub use desired::{desired_state, DesiredContainer, DesiredState, ImageSource};
pub use plan::{plan, Action, Plan, Reason, Step};
