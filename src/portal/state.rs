//! What every request handler shares: configuration, the directory connection, the database,
//! the outbox, templates, catalogues, limits and the clock.

use super::clock::Clock;
use super::config::{Network, PortalConfig};
use super::i18n::I18n;
use super::ratelimit::{Limiter, Limits};
use super::store::Store;
use crate::directory::{Connection, Directory, DirectoryError, Tree};
use crate::mail::Worker;
use std::sync::Arc;
use tera::Tera;
use time::OffsetDateTime;
use tokio::sync::RwLock;

/// The directory connection, made on first use and made again after it broke.
#[derive(Debug)]
pub struct DirHandle {
    conn: Connection,
    current: RwLock<Option<Directory>>,
}

impl DirHandle {
    pub fn new(conn: Connection) -> DirHandle {
        DirHandle {
            conn,
            current: RwLock::new(None),
        }
    }

    pub fn url(&self) -> &str {
        &self.conn.url
    }

    pub async fn get(&self) -> Result<Directory, DirectoryError> {
        if let Some(d) = self.current.read().await.as_ref() {
            return Ok(d.clone());
        }
        let mut slot = self.current.write().await;
        if let Some(d) = slot.as_ref() {
            return Ok(d.clone());
        }
        let d = Directory::connect(&self.conn).await?;
        *slot = Some(d.clone());
        Ok(d)
    }

    /// After a transport error: the next request connects again.
    pub async fn reset(&self) {
        *self.current.write().await = None;
    }
}

/// The names of our cookies: `__Host-` prefixed over https (no subdomain can set them).
#[derive(Debug, Clone)]
pub struct Cookies {
    pub secure: bool,
    pub session: &'static str,
    pub csrf: &'static str,
    pub lang: &'static str,
}

impl Cookies {
    pub fn new(secure: bool) -> Cookies {
        if secure {
            Cookies {
                secure,
                session: "__Host-cc_session",
                csrf: "__Host-cc_csrf",
                lang: "__Host-cc_lang",
            }
        } else {
            Cookies {
                secure,
                session: "cc_session",
                csrf: "cc_csrf",
                lang: "cc_lang",
            }
        }
    }

    /// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/, Secure over https.
    pub fn set(&self, name: &str, value: &str, max_age: Option<i64>) -> String {
        let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            c.push_str("; Secure");
        }
        c
    }

    pub fn clear(&self, name: &str) -> String {
        self.set(name, "", Some(0))
    }
}

pub struct Limiters {
    pub post_per_ip: Limiter,
    pub sign_in_per_user: Limiter,
    pub mail_per_address: Limiter,
}

impl Limiters {
    pub fn new(l: Limits) -> Limiters {
        Limiters {
            post_per_ip: Limiter::new(l.post_per_ip),
            sign_in_per_user: Limiter::new(l.sign_in_per_user),
            mail_per_address: Limiter::new(l.mail_per_address),
        }
    }
}

pub struct Inner {
    pub config: PortalConfig,
    pub dir: DirHandle,
    pub tree: Tree,
    pub store: Store,
    pub mail: Worker,
    pub clock: Arc<dyn Clock>,
    pub tera: Tera,
    pub i18n: I18n,
    pub limits: Limiters,
    pub csrf_key: [u8; 32],
    pub proxies: Vec<Network>,
    pub ca_pem: Option<String>,
    pub cookies: Cookies,
}

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The directory, reconnecting if needed.
    pub async fn dir(&self) -> Result<Directory, DirectoryError> {
        self.dir.get().await
    }

    /// Note a directory error: a broken connection is made again on the next request.
    pub async fn saw(&self, e: &DirectoryError) {
        if matches!(
            e,
            DirectoryError::Transport { .. } | DirectoryError::Unreachable { .. }
        ) {
            self.dir.reset().await;
        }
    }

    /// An absolute link to `path` (which starts with `/`).
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url())
    }
}
