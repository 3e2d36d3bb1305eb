//! The local CA, local certificates and provided certificates, checked with real clients:
//! `openssl` (Debian) and a TLS handshake between a tokio-rustls server and client.

use commonscloud::tls::{
    expiry_warning, needs_renewal, renewal_due, CertSource, CertStore, DueReason, TlsError,
};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::{self, pki_types};

fn store() -> (tempfile::TempDir, CertStore) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = CertStore::open(dir.path().join("tls")).unwrap_or_else(|e| panic!("{e}"));
    (dir, store)
}

fn with_ca() -> (tempfile::TempDir, CertStore) {
    let (dir, store) = store();
    store
        .ensure_ca("t-node", OffsetDateTime::now_utc())
        .unwrap_or_else(|e| panic!("{e}"));
    (dir, store)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("openssl: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn s(p: &Path) -> &str {
    p.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", p.display()))
}

#[test]
fn the_ca_is_created_once_and_its_key_is_private() {
    let (dir, store) = store();
    let now = OffsetDateTime::now_utc();
    let first = store
        .ensure_ca("t-node", now)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        first.subject.contains("CommonsCloud local CA (t-node)"),
        "{}",
        first.subject
    );
    assert!(first.not_after - now > Duration::days(3649));

    let reopened = CertStore::open(dir.path().join("tls")).unwrap_or_else(|e| panic!("{e}"));
    let again = reopened
        .ensure_ca("another-name", now + Duration::days(1))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, first);
    assert_eq!(reopened.ca_info().ok().flatten(), Some(first.clone()));

    let ca_dir = dir.path().join("tls/ca");
    assert_eq!(mode(&ca_dir.join("ca.key.pem")), 0o600);
    assert_eq!(mode(&ca_dir), 0o700);
    assert_eq!(mode(&dir.path().join("tls")), 0o700);

    // openssl reads the same fingerprint, in the same form.
    let (ok, out) = openssl(&[
        "x509",
        "-noout",
        "-fingerprint",
        "-sha256",
        "-in",
        s(&first.path),
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&first.fingerprint),
        "{out} vs {}",
        first.fingerprint
    );
    let (ok, out) = openssl(&["x509", "-noout", "-text", "-in", s(&first.path)]);
    assert!(
        ok && out.contains("CA:TRUE") && out.contains("prime256v1"),
        "{out}"
    );
}

#[test]
fn concurrent_first_calls_agree_on_one_ca() {
    let (_dir, store) = store();
    let now = OffsetDateTime::now_utc();
    let fingerprints: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| store.ensure_ca("t-node", now).map(|ca| ca.fingerprint)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| panic!("thread panicked"))
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    });
    assert!(
        fingerprints.windows(2).all(|w| w[0] == w[1]),
        "{fingerprints:?}"
    );
    let leftovers = std::fs::read_dir(store.dir())
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(leftovers, 0, "temporary CA directories left behind");
}

#[test]
fn a_local_certificate_verifies_with_openssl() {
    let (_dir, store) = with_ca();
    let now = OffsetDateTime::now_utc();
    let info = store
        .issue_local("cloud.example.test", now)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.source, CertSource::Local);
    assert_eq!(info.names, vec!["cloud.example.test".to_string()]);
    assert!(
        info.issuer.contains("CommonsCloud local CA"),
        "{}",
        info.issuer
    );
    let lifetime = info.not_after - info.not_before;
    assert!(
        lifetime > Duration::days(90) && lifetime < Duration::days(91),
        "{lifetime}"
    );

    let paths = store.paths("cloud.example.test");
    assert_eq!(mode(&paths.key), 0o600);
    let ca = store.ca_cert_path();
    let (ok, out) = openssl(&[
        "verify",
        "-CAfile",
        s(&ca),
        "-purpose",
        "sslserver",
        "-verify_hostname",
        "cloud.example.test",
        s(&paths.fullchain),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = openssl(&[
        "verify",
        "-CAfile",
        s(&ca),
        "-verify_hostname",
        "agora.example.test",
        s(&paths.fullchain),
    ]);
    assert!(!ok, "a certificate for cloud verified for agora: {out}");
    assert_eq!(
        store.current("cloud.example.test").ok().flatten(),
        Some(info)
    );
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(paths: &commonscloud::tls::CertPaths) -> Arc<rustls::ServerConfig> {
    use pki_types::pem::PemObject;
    let certs = pki_types::CertificateDer::pem_file_iter(&paths.fullchain)
        .unwrap_or_else(|e| panic!("{e}"))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{e}"));
    let key = pki_types::PrivateKeyDer::from_pem_file(&paths.key).unwrap_or_else(|e| panic!("{e}"));
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
            .unwrap_or_else(|e| panic!("{e}")),
    )
}

fn client_config(ca: &Path) -> Arc<rustls::ClientConfig> {
    use pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let ca = pki_types::CertificateDer::from_pem_file(ca).unwrap_or_else(|e| panic!("{e}"));
    roots.add(ca).unwrap_or_else(|e| panic!("{e}"));
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .unwrap_or_else(|e| panic!("{e}")),
    )
}

/// Serves one TLS connection on 127.0.0.1 per accepted client, answering "hello".
async fn tls_server(config: Arc<rustls::ServerConfig>) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = tls.write_all(b"hello").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    (port, task)
}

async fn fetch(port: u16, ca: &Path, sni: &str) -> Result<String, String> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let name = pki_types::ServerName::try_from(sni.to_string()).map_err(|e| e.to_string())?;
    let mut tls = tokio_rustls::TlsConnector::from(client_config(ca))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let mut body = String::new();
    tls.read_to_string(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(body)
}

#[tokio::test]
async fn a_local_certificate_passes_a_real_tls_handshake() {
    let (_dir, store) = with_ca();
    store
        .issue_local("cloud.example.test", OffsetDateTime::now_utc())
        .unwrap_or_else(|e| panic!("{e}"));
    let (port, server) = tls_server(server_config(&store.paths("cloud.example.test"))).await;
    let ca = store.ca_cert_path();

    assert_eq!(
        fetch(port, &ca, "cloud.example.test").await,
        Ok("hello".to_string())
    );
    let wrong = fetch(port, &ca, "agora.example.test").await;
    assert!(
        matches!(&wrong, Err(e) if e.contains("not valid for name")),
        "{wrong:?}"
    );
    // Another node's CA is not trusted.
    let (_other_dir, other) = with_ca();
    let foreign = fetch(port, &other.ca_cert_path(), "cloud.example.test").await;
    assert!(
        matches!(&foreign, Err(e) if e.contains("UnknownIssuer") || e.contains("unknown issuer")),
        "{foreign:?}"
    );
    server.abort();
}

#[test]
fn renewal_is_due_when_a_third_of_the_lifetime_remains() {
    let (_dir, store) = with_ca();
    let t0 = OffsetDateTime::now_utc();
    let hosts = ["cloud.example.test", "agora.example.test"];
    let first = store
        .issue_local(hosts[0], t0)
        .unwrap_or_else(|e| panic!("{e}"));

    let due = renewal_due(&store, &hosts, CertSource::Local, t0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].host.as_str(), &due[0].reason),
        (hosts[1], &DueReason::Missing)
    );

    let day59 = t0 + Duration::days(59);
    let day61 = t0 + Duration::days(61);
    assert!(!needs_renewal(&first, day59));
    assert!(needs_renewal(&first, day61));
    assert!(renewal_due(&store, &hosts[..1], CertSource::Local, day59)
        .unwrap_or_else(|e| panic!("{e}"))
        .is_empty());
    let due = renewal_due(&store, &hosts[..1], CertSource::Local, day61)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        due.first().map(|d| &d.reason),
        Some(&DueReason::RenewalDue {
            not_after: first.not_after
        })
    );
    let due = renewal_due(
        &store,
        &hosts[..1],
        CertSource::Local,
        t0 + Duration::days(91),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(due[0].reason, DueReason::Expired { .. }));

    let second = store
        .issue_local(hosts[0], day61)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(second.serial, first.serial);
    assert_eq!(store.current(hosts[0]).ok().flatten(), Some(second));
    assert!(renewal_due(&store, &hosts[..1], CertSource::Local, day61)
        .unwrap_or_else(|e| panic!("{e}"))
        .is_empty());
}

/// An operator's certificate made with openssl: (cert path, key path).
struct Provided {
    dir: tempfile::TempDir,
}

impl Provided {
    fn new() -> Provided {
        Provided {
            dir: tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A self-signed certificate for `sans` (e.g. "DNS:a,DNS:*.b") valid `days`, with a key
    /// made by `keygen` (openssl arguments writing the key to the path given last).
    fn make(&self, name: &str, sans: &str, days: &str, keygen: &[&str]) -> (PathBuf, PathBuf) {
        let key = self.path(&format!("{name}.key"));
        let cert = self.path(&format!("{name}.crt"));
        let mut args: Vec<&str> = keygen.to_vec();
        args.push(s(&key));
        let (ok, out) = openssl(&args);
        assert!(ok, "{args:?}: {out}");
        let san = format!("subjectAltName={sans}");
        let (ok, out) = openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            s(&key),
            "-out",
            s(&cert),
            "-days",
            days,
            "-subj",
            "/CN=provided",
            "-addext",
            &san,
        ]);
        assert!(ok, "{out}");
        (cert, key)
    }
}

const RSA_PKCS8: &[&str] = &[
    "genpkey",
    "-algorithm",
    "RSA",
    "-pkeyopt",
    "rsa_keygen_bits:2048",
    "-out",
];
const RSA_PKCS1: &[&str] = &["genrsa", "-traditional", "-out"];
const EC_SEC1: &[&str] = &[
    "ecparam",
    "-genkey",
    "-name",
    "prime256v1",
    "-noout",
    "-out",
];
const EC_PKCS8: &[&str] = &[
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-out",
];

#[test]
fn provided_certificates_are_checked_before_they_are_installed() {
    let (_dir, store) = store();
    let p = Provided::new();
    let now = OffsetDateTime::now_utc();
    let (cert, key) = p.make(
        "good",
        "DNS:example.test,DNS:*.example.test",
        "20",
        RSA_PKCS8,
    );
    let (_, other_key) = p.make("other", "DNS:example.test", "20", EC_PKCS8);

    // The key of another certificate.
    let err = store
        .install_provided(&["cloud.example.test"], &cert, &other_key, now)
        .err()
        .unwrap_or_else(|| panic!("a foreign key was accepted"));
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
    // A host the certificate does not name (the wildcard covers one label only).
    let err = store
        .install_provided(
            &["cloud.example.test", "a.b.example.test"],
            &cert,
            &key,
            now,
        )
        .err()
        .unwrap_or_else(|| panic!("an uncovered host was accepted"));
    assert!(
        matches!(&err, TlsError::NotCovered { host, .. } if host == "a.b.example.test"),
        "{err}"
    );
    assert!(err.to_string().contains("*.example.test"), "{err}");
    // Expired (the same certificate, 21 days later).
    let err = store
        .install_provided(
            &["cloud.example.test"],
            &cert,
            &key,
            now + Duration::days(21),
        )
        .err()
        .unwrap_or_else(|| panic!("an expired certificate was accepted"));
    assert!(matches!(err, TlsError::Expired { .. }), "{err}");
    // Nothing was installed by the refusals, not even for the first, covered host.
    assert_eq!(store.list().map(|l| l.len()).ok(), Some(0));

    // The good one, for two hosts through its wildcard.
    let hosts = ["cloud.example.test", "agora.example.test"];
    let infos = store
        .install_provided(&hosts, &cert, &key, now)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(infos.len(), 2);
    for host in hosts {
        let info = store
            .current(host)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("{host}"));
        assert_eq!(info.source, CertSource::Provided);
        assert_eq!(mode(&store.paths(host).key), 0o600);
        // 20 days left: the operator is warned.
        let warning = expiry_warning(&info, now).unwrap_or_else(|| panic!("no warning"));
        assert!(
            warning.contains(host) && warning.contains("install a renewed"),
            "{warning}"
        );
    }
    // Provided certificates are never "due" for issuance while they cover the host.
    assert!(renewal_due(
        &store,
        &hosts,
        CertSource::Provided,
        now + Duration::days(19)
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .is_empty());
}

#[test]
fn provided_keys_in_every_usual_format_are_read() {
    let (_dir, store) = store();
    let p = Provided::new();
    let now = OffsetDateTime::now_utc();
    for (name, keygen) in [
        ("rsa-pkcs8", RSA_PKCS8),
        ("rsa-pkcs1", RSA_PKCS1),
        ("ec-sec1", EC_SEC1),
        ("ec-pkcs8", EC_PKCS8),
    ] {
        let host = format!("{name}.example.test");
        let (cert, key) = p.make(name, &format!("DNS:{host}"), "365", keygen);
        let installed = store.install_provided(&[host.as_str()], &cert, &key, now);
        assert!(installed.is_ok(), "{name}: {installed:?}");
        // nginx (OpenSSL) would accept the installed pair too.
        let paths = store.paths(&host);
        let (ok, out) = openssl(&[
            "x509",
            "-noout",
            "-checkend",
            "0",
            "-in",
            s(&paths.fullchain),
        ]);
        assert!(ok, "{out}");
    }

    let key = p.path("encrypted.key");
    let (ok, out) = openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-aes256",
        "-pass",
        "pass:secret",
        "-out",
        s(&key),
    ]);
    assert!(ok, "{out}");
    let (cert, _) = p.make("for-encrypted", "DNS:enc.example.test", "30", EC_PKCS8);
    let err = store
        .install_provided(&["enc.example.test"], &cert, &key, now)
        .err()
        .unwrap_or_else(|| panic!("an encrypted key was accepted"));
    assert!(err.to_string().contains("encrypted"), "{err}");
}

#[test]
fn a_failed_installation_keeps_the_served_certificate() {
    let (_dir, store) = with_ca();
    let now = OffsetDateTime::now_utc();
    let host = "cloud.example.test";
    let before = store
        .issue_local(host, now)
        .unwrap_or_else(|e| panic!("{e}"));
    let paths = store.paths(host);
    let served = std::fs::read(&paths.fullchain).unwrap_or_else(|e| panic!("{e}"));

    let p = Provided::new();
    let broken = p.path("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (_, key) = p.make("k", &format!("DNS:{host}"), "30", EC_PKCS8);
    let err = store
        .install_provided(&[host], &broken, &key, now)
        .err()
        .unwrap_or_else(|| panic!("a broken certificate was installed"));
    assert!(matches!(err, TlsError::Invalid { .. }), "{err}");
    let not_pem = p.path("empty.pem");
    std::fs::write(&not_pem, "").unwrap_or_else(|e| panic!("{e}"));
    assert!(store
        .install_provided(&[host], &not_pem, &key, now)
        .is_err());
    let (cert, _) = p.make("mismatch", &format!("DNS:{host}"), "30", EC_PKCS8);
    assert!(store
        .install_provided(&[host], &cert, &paths.key, now)
        .is_err());

    assert_eq!(store.current(host).ok().flatten(), Some(before));
    assert_eq!(std::fs::read(&paths.fullchain).ok(), Some(served));
}

#[test]
fn the_store_keeps_a_few_versions_and_lists_every_host() {
    let (dir, store) = with_ca();
    let now = OffsetDateTime::now_utc();
    for i in 0..5 {
        store
            .issue_local("cloud.example.test", now + Duration::seconds(i))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    store
        .issue_local("agora.example.test", now)
        .unwrap_or_else(|e| panic!("{e}"));
    let versions = std::fs::read_dir(dir.path().join("tls/archive/cloud.example.test"))
        .unwrap_or_else(|e| panic!("{e}"))
        .count();
    assert_eq!(versions, 3, "the served version and two before it");
    let hosts: Vec<String> = store
        .list()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|c| c.host)
        .collect();
    assert_eq!(hosts, ["agora.example.test", "cloud.example.test"]);
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let (_dir, store) = store();
    let now = OffsetDateTime::now_utc();
    // No CA yet.
    let err = store.issue_local("cloud.example.test", now).err();
    assert!(matches!(err, Some(TlsError::CaMissing { .. })), "{err:?}");
    store
        .ensure_ca("t-node", now)
        .unwrap_or_else(|e| panic!("{e}"));
    for bad in [
        "../escape",
        "Cloud.example.test",
        "*.example.test",
        "a..b",
        "",
    ] {
        let err = store.issue_local(bad, now).err();
        assert!(
            matches!(err, Some(TlsError::InvalidHost { .. })),
            "{bad}: {err:?}"
        );
    }
    // A CA key others can read is refused, with the command that fixes it.
    let key = store.dir().join("ca/ca.key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644))
        .unwrap_or_else(|e| panic!("{e}"));
    let err = store
        .issue_local("cloud.example.test", now)
        .err()
        .unwrap_or_else(|| panic!("a readable CA key was used"));
    assert!(err.to_string().contains("chmod 600"), "{err}");
}
