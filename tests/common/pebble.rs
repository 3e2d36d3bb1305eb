//! A real ACME server for tests: Debian's `pebble`, with `pebble-challtestsrv` as the DNS
//! server that answers 127.0.0.1 for every name, on free loopback ports, in a temp dir.
//! Both processes are killed when the value is dropped, even when the test fails.
//!
//! Also a [`ChallengeServer`]: a tiny HTTP server on the port pebble validates HTTP-01 on,
//! serving the key authorizations published through it (it is an `Http01Responder`).
//!
//! Self-contained (no `super::`), so benches can include it with `#[path]`.
#![allow(dead_code)]

use commonscloud::tls::{Http01Responder, TlsError};
use futures_util::future::BoxFuture;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::collections::HashMap;
use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const PEBBLE: &str = "/usr/bin/pebble";
pub const CHALLTESTSRV: &str = "/usr/bin/pebble-challtestsrv";

/// Selects rustls' ring provider for the whole test process. The library builds with ring
/// only, but a dev-dependency (fantoccini, through hyper-rustls' defaults) also enables
/// aws-lc-rs, and with two providers compiled in rustls cannot pick one by itself (instant-acme
/// would panic). Idempotent.
pub fn install_crypto_provider() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
}

/// A free TCP port on 127.0.0.1 (free when asked; good enough with random ports).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// A port free for both UDP and TCP (for DNS).
fn free_dns_port() -> u16 {
    for _ in 0..50 {
        let Ok(udp) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = udp.local_addr().map(|a| a.port()) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP");
}

/// A random test domain, e.g. `k3x9q2.test`.
pub fn random_domain() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    format!(
        "{}.test",
        Alphanumeric
            .sample_string(&mut rand::rng(), 10)
            .to_ascii_lowercase()
    )
}

pub struct PebbleOptions {
    /// `certificateValidityPeriod`, in seconds (pebble's default is five years).
    pub validity_secs: Option<u64>,
}

pub struct Pebble {
    pub dir: tempfile::TempDir,
    /// `https://127.0.0.1:<port>/dir`
    pub directory_url: String,
    /// `https://127.0.0.1:<port>` (roots, intermediates)
    pub management_url: String,
    /// The CA that signed pebble's own API certificate: `AcmeSettings::extra_root`.
    pub api_root: PathBuf,
    /// challtestsrv's DNS (`127.0.0.1:<port>`), which answers 127.0.0.1 for every name.
    pub dns: String,
    pebble: Option<Child>,
    challtestsrv: Option<Child>,
}

/// Sets up the processes' files and starts them; waits until the directory answers.
impl Pebble {
    /// Starts pebble validating HTTP-01 on `http_port` (where the test's server listens).
    pub async fn start(http_port: u16, options: PebbleOptions) -> Pebble {
        install_crypto_provider();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let (api_root_pem, cert_pem, key_pem) = api_certificates();
        let api_root = dir.path().join("api-root.pem");
        let cert = dir.path().join("api-cert.pem");
        let key = dir.path().join("api-key.pem");
        for (path, body) in [
            (&api_root, &api_root_pem),
            (&cert, &cert_pem),
            (&key, &key_pem),
        ] {
            std::fs::write(path, body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }

        let (api, mgmt, tls) = (free_port(), free_port(), free_port());
        let (dns, chall_mgmt) = (free_dns_port(), free_port());
        let mut config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{api}"),
                "managementListenAddress": format!("127.0.0.1:{mgmt}"),
                "certificate": cert,
                "privateKey": key,
                "httpPort": http_port,
                "tlsPort": tls,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
            }
        });
        if let Some(secs) = options.validity_secs {
            config["pebble"]["certificateValidityPeriod"] = secs.into();
        }
        let config_path = dir.path().join("pebble-config.json");
        std::fs::write(&config_path, config.to_string())
            .unwrap_or_else(|e| panic!("pebble config: {e}"));

        let logs = dir.path().to_path_buf();
        let log = |name: &str| {
            std::fs::File::create(logs.join(name))
                .unwrap_or_else(|e| panic!("log file {name}: {e}"))
        };
        let challtestsrv = Command::new(CHALLTESTSRV)
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{chall_mgmt}")])
            .stdin(Stdio::null())
            .stdout(log("challtestsrv.log"))
            .stderr(log("challtestsrv.err"))
            .spawn()
            .unwrap_or_else(|e| panic!("{CHALLTESTSRV}: {e} (apt install pebble)"));
        let mut me = Pebble {
            directory_url: format!("https://127.0.0.1:{api}/dir"),
            management_url: format!("https://127.0.0.1:{mgmt}"),
            api_root,
            dns: format!("127.0.0.1:{dns}"),
            pebble: None,
            challtestsrv: Some(challtestsrv),
            dir,
        };
        let pebble = Command::new(PEBBLE)
            .arg("-config")
            .arg(&config_path)
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            // Never reuse a valid authorization: each order is validated again, so a test
            // that breaks the responder sees the failure.
            .env("PEBBLE_AUTHZREUSE", "0")
            .current_dir(me.dir.path())
            .stdin(Stdio::null())
            .stdout(log("pebble.log"))
            .stderr(log("pebble.err"))
            .spawn()
            .unwrap_or_else(|e| panic!("{PEBBLE}: {e} (apt install pebble)"));
        me.pebble = Some(pebble);
        me.wait_ready(dns, chall_mgmt).await;
        me
    }

    async fn wait_ready(&mut self, dns: u16, chall_mgmt: u16) {
        let client = self.client();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let dir_ok = matches!(
                client.get(&self.directory_url).send().await,
                Ok(r) if r.status().is_success()
            );
            let chall_ok = std::net::TcpStream::connect(("127.0.0.1", chall_mgmt)).is_ok();
            if dir_ok && chall_ok {
                return;
            }
            let exited = [&mut self.pebble, &mut self.challtestsrv]
                .into_iter()
                .flatten()
                .find_map(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                panic!("pebble exited early ({status}):\n{}", self.logs());
            }
            if Instant::now() > deadline {
                panic!("pebble not ready after 20 s (dns {dns}):\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// An HTTPS client that trusts pebble's API certificate.
    pub fn client(&self) -> reqwest::Client {
        let pem = std::fs::read(&self.api_root).unwrap_or_else(|e| panic!("api root: {e}"));
        let root = reqwest::Certificate::from_pem(&pem).unwrap_or_else(|e| panic!("{e}"));
        reqwest::Client::builder()
            .add_root_certificate(root)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|e| panic!("client: {e}"))
    }

    /// The root pebble issues under (it changes at each start): what issued chains verify
    /// against.
    pub async fn issuing_root_pem(&self) -> String {
        let url = format!("{}/roots/0", self.management_url);
        let rsp = self
            .client()
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert!(rsp.status().is_success(), "{url}: {}", rsp.status());
        rsp.text().await.unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    /// Stops pebble (challtestsrv keeps running): the ACME server becomes unreachable.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.pebble.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Both processes' output, to explain a failure.
    pub fn logs(&self) -> String {
        [
            "pebble.log",
            "pebble.err",
            "challtestsrv.log",
            "challtestsrv.err",
        ]
        .iter()
        .map(|name| {
            let body = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let tail: Vec<&str> = body.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!("--- {name}\n{}\n", tail.join("\n"))
        })
        .collect()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in [self.pebble.take(), self.challtestsrv.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A CA and, signed by it, pebble's API certificate for 127.0.0.1 and localhost:
/// (CA PEM, certificate PEM, key PEM).
fn api_certificates() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "pebble API test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap_or_else(|e| panic!("{e}"));
    let issuer = Issuer::new(ca, &ca_key);

    let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap_or_else(|e| panic!("{e}"));
    leaf.distinguished_name
        .push(DnType::CommonName, "pebble API");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = leaf
        .signed_by(&key, &issuer)
        .unwrap_or_else(|e| panic!("{e}"));
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// What the challenge server answers.
#[derive(Default)]
struct Answers {
    tokens: Mutex<HashMap<String, String>>,
    wrong: AtomicBool,
    requests: Mutex<Vec<String>>,
}

/// An HTTP server on 127.0.0.1 serving `/.well-known/acme-challenge/<token>` from what was
/// published through it. Stopped on drop.
pub struct ChallengeServer {
    pub port: u16,
    answers: Arc<Answers>,
    task: tokio::task::JoinHandle<()>,
}

impl ChallengeServer {
    pub async fn start() -> ChallengeServer {
        install_crypto_provider();
        use axum::extract::{Path, State};
        use axum::http::{HeaderMap, StatusCode};
        use axum::routing::get;

        async fn answer(
            State(answers): State<Arc<Answers>>,
            Path(token): Path<String>,
            headers: HeaderMap,
        ) -> Result<String, StatusCode> {
            let host = headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .to_string();
            if let Ok(mut r) = answers.requests.lock() {
                r.push(host);
            }
            if answers.wrong.load(Ordering::SeqCst) {
                return Ok("not-the-key-authorization".to_string());
            }
            let tokens = answers
                .tokens
                .lock()
                .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
            tokens.get(&token).cloned().ok_or(StatusCode::NOT_FOUND)
        }

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{e}"))
            .port();
        let answers = Arc::new(Answers::default());
        let app = axum::Router::new()
            .route("/.well-known/acme-challenge/{token}", get(answer))
            .with_state(answers.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ChallengeServer {
            port,
            answers,
            task,
        }
    }

    /// From now on, answer every challenge with the wrong content.
    pub fn answer_wrong(&self, wrong: bool) {
        self.answers.wrong.store(wrong, Ordering::SeqCst);
    }

    /// Tokens currently published.
    pub fn published(&self) -> usize {
        self.answers.tokens.lock().map(|t| t.len()).unwrap_or(0)
    }

    /// The Host headers of the validation requests received so far.
    pub fn requested_hosts(&self) -> Vec<String> {
        self.answers
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

impl Drop for ChallengeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Http01Responder for ChallengeServer {
    fn publish<'a>(
        &'a self,
        token: &'a str,
        key_authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), TlsError>> {
        Box::pin(async move {
            self.answers
                .tokens
                .lock()
                .map_err(|_| TlsError::Responder {
                    token: token.to_string(),
                    problem: "poisoned lock".to_string(),
                })?
                .insert(token.to_string(), key_authorization.to_string());
            Ok(())
        })
    }

    fn withdraw<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<(), TlsError>> {
        Box::pin(async move {
            if let Ok(mut t) = self.answers.tokens.lock() {
                t.remove(token);
            }
            Ok(())
        })
    }
}
