//! Putting the portal together and serving it.

use super::clock::{Clock, SystemClock};
use super::config::{PortalConfig, Secrets};
use super::i18n::I18n;
use super::ratelimit::Limits;
use super::state::{AppState, Cookies, DirHandle, Inner, Limiters};
use super::store::Store;
use crate::directory::{Connection, Tree};
use crate::mail::{MailSettings, Mailer, Outbox, Worker};
use crate::model::Diagnostics;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why the portal cannot start.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("{0}")]
    Config(Diagnostics),
    #[error("{0}")]
    Setup(String),
    #[error("cannot listen on {addr}: {detail}")]
    Listen { addr: SocketAddr, detail: String },
}

impl PortalError {
    /// The configuration must be fixed (exit 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, PortalError::Config(_))
    }
}

/// What is not in `portal.yaml`: the clock, the limits, how often the outbox looks for due
/// mail. Tests and benchmarks change them.
#[derive(Debug, Clone)]
pub struct Options {
    pub clock: Arc<dyn Clock>,
    pub limits: Limits,
    pub mail_poll: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            clock: Arc::new(SystemClock),
            limits: Limits::default(),
            mail_poll: Duration::from_secs(15),
        }
    }
}

/// A portal ready to serve.
pub struct Portal {
    state: AppState,
}

impl Portal {
    /// Open the state, check the templates and catalogues, prepare the mailer. The directory
    /// is contacted on the first request that needs it (so the portal starts, and says so on
    /// `/healthz`, while the directory is still starting).
    pub fn new(
        config: PortalConfig,
        secrets: Secrets,
        options: Options,
    ) -> Result<Portal, PortalError> {
        let setup = |what: &str, e: String| PortalError::Setup(format!("{what}: {e}"));
        std::fs::create_dir_all(&config.state_dir)
            .map_err(|e| setup(&config.state_dir.display().to_string(), e.to_string()))?;
        let store = Store::open(&config.state_dir.join("portal.sqlite3"))
            .map_err(|e| PortalError::Setup(e.to_string()))?;
        let outbox = Arc::new(
            Outbox::open(&config.state_dir.join("outbox.sqlite3"))
                .map_err(|e| PortalError::Setup(e.to_string()))?,
        );
        let mailer = match &config.smtp {
            Some(smtp) => Some(
                Mailer::new(MailSettings {
                    smtp: smtp.clone(),
                    password: secrets.smtp_password.clone(),
                })
                .map_err(|e| PortalError::Setup(e.to_string()))?,
            ),
            None => {
                tracing::warn!("no smtp settings: mail is kept in the outbox, unsent");
                None
            }
        };
        let clock = options.clock.clone();
        let now_clock = clock.clone();
        let worker = Worker::new(
            outbox,
            mailer,
            Arc::new(move || now_clock.now()),
            options.mail_poll,
        );
        let tera = super::templates::load().map_err(|e| setup("templates", e.to_string()))?;
        let i18n = I18n::load(&config.default_language).map_err(|e| setup("catalogues", e))?;
        let tree = Tree::new(&config.base_dn()).map_err(|e| setup("base_dn", e.to_string()))?;
        let ca_pem = match &config.ca_certificate {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| setup(&p.display().to_string(), e.to_string()))?,
            ),
            None => None,
        };
        let csrf_key = store
            .key("csrf")
            .map_err(|e| PortalError::Setup(e.to_string()))?;
        let dir = DirHandle::new(Connection {
            url: config.ldap_url.clone(),
            base_dn: config.base_dn(),
            bind_dn: config.bind_dn(),
            password: secrets.bind_password.clone(),
        });
        let inner = Inner {
            cookies: Cookies::new(config.is_https()),
            proxies: config.proxies(),
            limits: Limiters::new(options.limits),
            config,
            dir,
            tree,
            store,
            mail: worker,
            clock,
            tera,
            i18n,
            csrf_key,
            ca_pem,
        };
        Ok(Portal {
            state: AppState(Arc::new(inner)),
        })
    }

    /// The mail outbox (to list what waits or failed).
    pub fn outbox(&self) -> Arc<Outbox> {
        self.state.mail.outbox().clone()
    }

    /// The outbox's worker (tests run it by hand).
    pub fn mail_worker(&self) -> Worker {
        self.state.mail.clone()
    }

    /// The routes, for tests that drive the app without a socket.
    pub fn router(&self) -> axum::Router {
        super::web::router(self.state.clone())
    }

    /// Serve on `listener` until `shutdown` completes; the mail worker runs alongside.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let worker = tokio::spawn(self.state.mail.clone().run());
        let app = self
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        worker.abort();
        result
    }
}

/// `commonscloud portal --config FILE`: load, start, serve until SIGTERM or Ctrl-C.
pub async fn run(config_path: &Path) -> Result<(), PortalError> {
    let config = PortalConfig::load(config_path).map_err(PortalError::Config)?;
    let secrets = config.read_secrets().map_err(PortalError::Setup)?;
    let addr = config.listen;
    let portal = Portal::new(config, secrets, Options::default())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| PortalError::Listen {
            addr,
            detail: e.to_string(),
        })?;
    tracing::info!("portal listening on {addr}");
    let shutdown = async {
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                        return;
                    }
                };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    };
    portal
        .serve(listener, shutdown)
        .await
        .map_err(|e| PortalError::Setup(format!("serving: {e}")))
}

/// `commonscloud portal --outbox`: the mail waiting or failed, for the operator.
pub fn outbox_of(config_path: &Path) -> Result<Arc<Outbox>, PortalError> {
    let config = PortalConfig::load(config_path).map_err(PortalError::Config)?;
    Outbox::open(&config.state_dir.join("outbox.sqlite3"))
        .map(Arc::new)
        .map_err(|e| PortalError::Setup(e.to_string()))
}
