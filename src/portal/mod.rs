//! The onboarding and self-service portal: `commonscloud portal`, an axum + tera web app run in
//! its own container behind the edge. It has no path to Docker: it talks to the directory
//! (its own account, `cn=portal,ou=system,<base>`, and proxied authorization to act for
//! people) and to SMTP (through [`crate::mail`]'s outbox).
//!
//! - `config`: `portal.yaml` ([`PortalConfig`]) and the secret files it names;
//! - `store`: SQLite: registrations not yet approved, tokens, sessions, requests, audit;
//! - `web`: routes, the request context (language, session, CSRF), security headers;
//! - `notify`: mail in the recipient's language;
//! - `validate`, `password`, `ratelimit`, `i18n`, `clock`: the rules, each testable alone.
//!
//! The flow, and how each step is protected, is described in `docs/portal.md`.

mod app;
pub mod clock;
pub mod config;
pub mod i18n;
mod notify;
pub mod password;
pub mod ratelimit;
mod state;
pub mod store;
mod templates;
pub mod validate;
mod web;

pub use app::{outbox_of, run, Options, Portal, PortalError};
pub use config::{PortalConfig, Secrets, ServiceConfig, DEFAULT_CONFIG};
