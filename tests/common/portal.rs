//! The portal for tests: `commonscloud::portal` served in-process on a loopback port, against
//! a real directory (`TestDirectory`) and a real SMTP server (`TestSmtp`), with a clock the
//! test moves; plus a small HTTP client that keeps cookies and reads CSRF tokens from forms.

use super::directory::TestDirectory;
use commonscloud::directory::{Connection, Directory, NewUser};
use commonscloud::mail::Outbox;
use commonscloud::model::{Smtp, SmtpSecurity};
use commonscloud::portal::clock::ManualClock;
use commonscloud::portal::ratelimit::Limits;
use commonscloud::portal::{Options, Portal, PortalConfig, Secrets, ServiceConfig};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

pub struct TestPortal {
    pub url: String,
    pub clock: Arc<ManualClock>,
    pub outbox: Arc<Outbox>,
    pub mail: commonscloud::mail::Worker,
    pub state_dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// What a test may change.
pub struct Setup {
    pub smtp_port: Option<u16>,
    pub limits: Limits,
    pub pending_per_collective: u32,
    pub services: Vec<ServiceConfig>,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            smtp_port: None,
            limits: Limits::default(),
            pending_per_collective: 50,
            services: vec![
                service("cloud", "Cloud", None),
                service("wiki-fki", "FKI wiki", Some("fki")),
                service("pad-other", "Other pad", Some("other")),
            ],
        }
    }
}

pub fn service(id: &str, name: &str, collective: Option<&str>) -> ServiceConfig {
    ServiceConfig {
        id: id.into(),
        name: name.into(),
        description: Some(format!("{name}: a service for tests")),
        url: format!("https://{id}.example.test/"),
        collective: collective.map(String::from),
    }
}

/// The supervisor's side of the directory, for test setup only.
pub async fn supervisor(d: &TestDirectory) -> Directory {
    Directory::connect(&Connection {
        url: d.url.clone(),
        base_dn: d.base_dn.clone(),
        bind_dn: d.supervisor_dn.clone(),
        password: d.supervisor_password.clone(),
    })
    .await
    .expect("supervisor bind")
}

/// The portal's own side of the directory (to show what slapd refuses to it).
pub async fn portal_side(d: &TestDirectory) -> Directory {
    Directory::connect(&Connection {
        url: d.url.clone(),
        base_dn: d.base_dn.clone(),
        bind_dn: d.portal_dn.clone(),
        password: d.portal_password.clone(),
    })
    .await
    .expect("portal bind")
}

/// A person with a password, made by the supervisor.
pub async fn person(sup: &Directory, username: &str, email: &str, password: &str) {
    sup.add_user(&NewUser {
        username: username.into(),
        display_name: format!("{} Tester", capitalise(username)),
        email: email.into(),
        language: Some("en".into()),
    })
    .await
    .expect("add user");
    sup.set_password(username, password)
        .await
        .expect("set password");
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// A strong password for tests.
pub const PASSWORD: &str = "lantern-pebble-orchard-47";

pub fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_900_000_000).expect("a time")
}

impl TestPortal {
    pub async fn start(d: &TestDirectory, setup: Setup) -> TestPortal {
        let state_dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let url = format!("http://{addr}");
        let password_file = state_dir.path().join("portal.password");
        std::fs::write(&password_file, format!("{}\n", d.portal_password)).expect("write");
        let config = PortalConfig {
            listen: addr,
            public_url: url.clone(),
            name: Some("Test node".into()),
            domain: format!("{}.localhost", d.name),
            base_dn: Some(d.base_dn.clone()),
            ldap_url: d.url.clone(),
            bind_dn: None,
            bind_password_file: password_file,
            smtp: setup.smtp_port.map(|port| Smtp {
                host: "127.0.0.1".into(),
                port,
                username: None,
                from: "portal@example.test".into(),
                security: SmtpSecurity::None,
            }),
            smtp_password_file: None,
            state_dir: state_dir.path().join("state"),
            trusted_proxies: vec![],
            default_language: "en".into(),
            services: setup.services,
            ca_certificate: None,
            contact: Some("operator@example.test".into()),
            pending_per_collective: setup.pending_per_collective,
            session_hours: 12,
        };
        let secrets = Secrets {
            bind_password: config.read_secrets().expect("secrets").bind_password,
            smtp_password: None,
        };
        let clock = Arc::new(ManualClock::new(t0()));
        let portal = Portal::new(
            config,
            secrets,
            Options {
                clock: clock.clone(),
                limits: setup.limits,
                mail_poll: Duration::from_millis(100),
            },
        )
        .expect("portal");
        let outbox = portal.outbox();
        let mail = portal.mail_worker();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = portal
                .serve(listener, async {
                    let _ = rx.await;
                })
                .await;
        });
        TestPortal {
            url,
            clock,
            outbox,
            mail,
            state_dir,
            stop: Some(tx),
        }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.url)
    }
}

impl Drop for TestPortal {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A browser-like HTTP client: keeps cookies, does not follow redirects on its own.
pub struct Client {
    pub base: String,
    http: reqwest::Client,
}

#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    /// The CSRF token of the first form.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no csrf field in:\n{}", self.body))
            + marker.len();
        self.body[start..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_string()
    }

    pub fn has(&self, text: &str) -> bool {
        self.body.contains(text)
    }
}

impl Client {
    /// A client of `base` over a reqwest client the caller built (TLS roots, resolution);
    /// it must keep cookies and not follow redirects.
    pub fn over(base: &str, http: reqwest::Client) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }

    pub fn new(base: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    async fn page(r: reqwest::Response) -> Page {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        Page {
            status,
            location,
            headers,
            body: r.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        Client::page(self.http.get(self.url(path)).send().await.expect("GET")).await
    }

    pub async fn get_lang(&self, path: &str, lang: &str) -> Page {
        Client::page(
            self.http
                .get(self.url(path))
                .header("accept-language", lang)
                .send()
                .await
                .expect("GET"),
        )
        .await
    }

    /// POST a form as is (no CSRF token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        Client::page(
            self.http
                .post(self.url(path))
                .form(fields)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }

    /// GET `form_page`, take its CSRF token, POST `fields` with it to `path`.
    pub async fn submit(&self, form_page: &str, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(form_page).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Sign in; panics unless it works.
    pub async fn sign_in(&self, username: &str, password: &str) {
        let p = self
            .submit(
                "/signin",
                "/signin",
                &[("username", username), ("password", password)],
            )
            .await;
        assert_eq!(p.status, 303, "sign in as {username}: {}", p.body);
    }
}

/// A directory with two collectives (`fki`, admin alice; `other`, admin olga), an SMTP server
/// and a portal on them.
pub struct World {
    pub portal: TestPortal,
    pub smtp: super::smtp::TestSmtp,
    pub sup: Directory,
    pub dir: TestDirectory,
}

impl World {
    pub async fn new(mut setup: Setup) -> World {
        let dir = TestDirectory::start().await;
        let smtp = super::smtp::TestSmtp::start();
        let sup = supervisor(&dir).await;
        sup.ensure_collective("fki", "Free Knowledge Institute")
            .await
            .expect("collective");
        sup.ensure_collective("other", "Other collective")
            .await
            .expect("collective");
        person(&sup, "alice", "alice@example.test", PASSWORD).await;
        sup.grant_admin("fki", "alice").await.expect("grant");
        person(&sup, "olga", "olga@example.test", PASSWORD).await;
        sup.grant_admin("other", "olga").await.expect("grant");
        if setup.smtp_port.is_none() {
            setup.smtp_port = Some(smtp.port);
        }
        let portal = TestPortal::start(&dir, setup).await;
        World {
            portal,
            smtp,
            sup,
            dir,
        }
    }

    /// Register `username` for `collective` and confirm the email: the request then waits
    /// for the admins. Returns the registration's id as the admin page shows it.
    pub async fn registered_and_confirmed(&self, username: &str, collective: &str) -> String {
        let c = self.portal.client();
        let email = format!("{username}@example.test");
        let name = format!("{} Nova", capitalise(username));
        let p = c
            .submit(
                "/register",
                "/register",
                &[
                    ("name", name.as_str()),
                    ("username", username),
                    ("email", email.as_str()),
                    ("collective", collective),
                    ("message", "Hola! I'd like to join."),
                ],
            )
            .await;
        assert_eq!(p.status, 303, "{}", p.body);
        let mail = self.smtp.wait_for(&email, "Confirm").await;
        let link = mail.link(&format!("{}/confirm/", self.portal.url));
        let page = c.get(&link).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let p = c.post_raw(&link, &[("csrf", &page.csrf())]).await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.has("Address confirmed"), "{}", p.body);
        link
    }

    /// The id of `username`'s pending request on `collective`'s admin page, as `kind/id`.
    pub async fn request_path(admin: &Client, collective: &str, username: &str) -> String {
        let page = admin.get(&format!("/admin/{collective}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let marker = format!("({username})");
        let at = page
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("{username} is not waiting:\n{}", page.body));
        let action = format!("action=\"/admin/{collective}/");
        let from = page.body[at..].find(&action).expect("a decision form") + at + action.len();
        let rest = &page.body[from..];
        rest[..rest.find('"').expect("end of action")].to_string()
    }
}
