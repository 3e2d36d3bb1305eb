//! The directory: the one OpenLDAP account server shared by all collectives, and the
//! operations the supervisor and the portal perform on it, over ldap3.
//!
//! Every value that reaches a DN is escaped by [`dn`] (RFC 4514) and every value in a filter
//! by [`filter`] (RFC 4515); before that, names are checked by [`names`] so that a bad one is
//! refused with a message instead of reaching the server. Passwords are set only with the
//! Password Modify extended operation, so slapd hashes them.
//!
//! Operations a collective admin performs for themselves take an [`AdminOf`], which only
//! [`Directory::prove_admin`] makes (see `admin.rs`).

mod admin;
mod apps;
mod client;
mod collectives;
pub mod dn;
mod error;
pub mod filter;
mod groups;
pub mod names;
mod people;
mod portal;

pub use admin::AdminOf;
pub use client::{check_password, Connection, Directory};
pub use collectives::{CollectiveDetail, CollectiveInfo};
pub use dn::{base_dn_for_domain, Tree};
pub use error::DirectoryError;
pub use people::{NewUser, UserInfo};
pub use portal::Contact;
