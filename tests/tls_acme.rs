//! ACME against a real server: Debian's `pebble`, with `pebble-challtestsrv` as the DNS that
//! points every test name at 127.0.0.1, and HTTP-01 answered by a small HTTP server on the
//! port pebble validates. Issued chains are checked with `openssl verify` against pebble's
//! issuing root, fetched from its management API.

mod common;

use common::pebble::{random_domain, ChallengeServer, Pebble, PebbleOptions};
use commonscloud::tls::{
    acme_issue, acme_order, needs_renewal, renewal_due, AcmeRequest, AcmeSettings, CertSource,
    CertStore, ChallengeSolver, DueReason, TlsError,
};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

struct Setup {
    server: ChallengeServer,
    pebble: Pebble,
    store: CertStore,
    settings: AcmeSettings,
    _state: tempfile::TempDir,
}

async fn setup(validity_secs: Option<u64>) -> Setup {
    let server = ChallengeServer::start().await;
    let pebble = Pebble::start(server.port, PebbleOptions { validity_secs }).await;
    let state = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = CertStore::open(state.path().join("tls")).unwrap_or_else(|e| panic!("{e}"));
    let settings = AcmeSettings {
        directory_url: pebble.directory_url.clone(),
        contact_email: Some("admin@example.test".to_string()),
        extra_root: Some(pebble.api_root.clone()),
    };
    Setup {
        server,
        pebble,
        store,
        settings,
        _state: state,
    }
}

impl Setup {
    async fn issue(&self, host: &str) -> commonscloud::tls::CertInfo {
        acme_issue(
            &self.store,
            &self.settings,
            host,
            &self.server,
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap_or_else(|e| panic!("issuing {host}: {e}\n{}", self.pebble.logs()))
    }

    /// `openssl verify` of the served chain against pebble's issuing root.
    async fn openssl_verify(&self, host: &str) {
        let root = self.pebble.dir.path().join("issuing-root.pem");
        std::fs::write(&root, self.pebble.issuing_root_pem().await)
            .unwrap_or_else(|e| panic!("{e}"));
        let chain = self.store.paths(host).fullchain;
        let out = Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(&root)
            .arg("-untrusted")
            .arg(&chain)
            .arg("-verify_hostname")
            .arg(host)
            .arg(&chain)
            .output()
            .unwrap_or_else(|e| panic!("openssl: {e}"));
        assert!(
            out.status.success(),
            "openssl verify {host}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn issues_one_certificate_for_two_names_that_verifies_against_pebbles_root() {
    let s = setup(None).await;
    let domain = random_domain();
    let (a, b) = (format!("a.{domain}"), format!("b.{domain}"));
    let mut request = AcmeRequest::new(&a);
    request.names = vec![a.clone(), b.clone()];
    let info = acme_order(
        &s.store,
        &s.settings,
        &request,
        ChallengeSolver::Http01(&s.server),
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", s.pebble.logs()));

    assert_eq!(info.source, CertSource::Acme);
    assert!(info.covers(&a) && info.covers(&b), "{:?}", info.names);
    assert!(info.issuer.contains("Pebble"), "{}", info.issuer);
    assert_eq!(s.store.current(&a).ok().flatten(), Some(info));
    s.openssl_verify(&a).await;
    assert_eq!(mode(&s.store.paths(&a).key), 0o600);

    // Both names were validated over HTTP (Host header), and the answers withdrawn.
    let hosts = s.server.requested_hosts();
    for name in [&a, &b] {
        assert!(
            hosts.iter().any(|h| h.starts_with(name.as_str())),
            "{name} in {hosts:?}"
        );
    }
    assert_eq!(s.server.published(), 0);
}

#[tokio::test]
async fn the_account_is_created_once_and_reused() {
    let s = setup(None).await;
    let domain = random_domain();
    assert_eq!(s.store.acme_account_id(&s.settings.directory_url), None);
    s.issue(&format!("cloud.{domain}")).await;
    let account = s
        .store
        .acme_account_id(&s.settings.directory_url)
        .unwrap_or_else(|| panic!("no account stored"));
    s.issue(&format!("agora.{domain}")).await;
    assert_eq!(
        s.store.acme_account_id(&s.settings.directory_url),
        Some(account)
    );
    s.openssl_verify(&format!("agora.{domain}")).await;

    let acme = s.store.dir().join("acme");
    let accounts: Vec<_> = std::fs::read_dir(&acme)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("account-"))
        .collect();
    assert_eq!(accounts.len(), 1);
    assert_eq!(mode(&accounts[0].path()), 0o600);
    assert_eq!(s.store.list().map(|l| l.len()).ok(), Some(2));
}

#[tokio::test]
async fn a_failed_validation_keeps_the_previous_certificate() {
    let s = setup(None).await;
    let host = format!("cloud.{}", random_domain());
    let before = s.issue(&host).await;

    s.server.answer_wrong(true);
    let err = acme_issue(
        &s.store,
        &s.settings,
        &host,
        &s.server,
        OffsetDateTime::now_utc(),
    )
    .await
    .err()
    .unwrap_or_else(|| panic!("issuance with wrong answers succeeded"));
    let text = err.to_string();
    eprintln!("{text}");
    assert!(
        matches!(&err, TlsError::AcmeChallenge { name, .. } if *name == host),
        "{text}"
    );
    assert!(text.contains("points at this node"), "{text}");
    assert!(!err.is_transient());
    assert_eq!(s.store.current(&host).ok().flatten(), Some(before));
    assert_eq!(s.server.published(), 0, "tokens withdrawn after a failure");
    s.openssl_verify(&host).await;
}

#[tokio::test]
async fn a_stopped_server_gives_a_quick_clear_error_and_keeps_the_certificate() {
    let mut s = setup(None).await;
    let host = format!("cloud.{}", random_domain());
    let before = s.issue(&host).await;
    s.pebble.stop();

    let started = Instant::now();
    let err = acme_issue(
        &s.store,
        &s.settings,
        &host,
        &s.server,
        OffsetDateTime::now_utc(),
    )
    .await
    .err()
    .unwrap_or_else(|| panic!("issuance against a stopped server succeeded"));
    eprintln!("{err} ({:?})", started.elapsed());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, TlsError::AcmeUnreachable { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&s.settings.directory_url), "{text}");
    assert!(text.contains("retried later with backoff"), "{text}");
    assert!(err.is_transient());
    assert_eq!(s.store.current(&host).ok().flatten(), Some(before));
}

/// A server that accepts connections and never answers: every request is bounded.
#[tokio::test]
async fn a_stalled_server_times_out_instead_of_hanging() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    let state = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = CertStore::open(state.path()).unwrap_or_else(|e| panic!("{e}"));
    let server = ChallengeServer::start().await;
    let settings = AcmeSettings {
        directory_url: format!("https://127.0.0.1:{port}/dir"),
        contact_email: None,
        extra_root: None,
    };
    let mut request = AcmeRequest::new("cloud.example.test");
    request.request_timeout = Duration::from_millis(800);

    let started = Instant::now();
    let err = acme_order(
        &store,
        &settings,
        &request,
        ChallengeSolver::Http01(&server),
        OffsetDateTime::now_utc(),
    )
    .await
    .err()
    .unwrap_or_else(|| panic!("a silent server issued a certificate"));
    eprintln!("{err} ({:?})", started.elapsed());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, TlsError::AcmeTimeout { .. }), "{err}");
    assert!(err.is_transient());
    hold.abort();
}

#[tokio::test]
async fn wildcards_are_refused_until_dns01_exists() {
    let state = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = CertStore::open(state.path()).unwrap_or_else(|e| panic!("{e}"));
    let server = ChallengeServer::start().await;
    let settings = AcmeSettings {
        directory_url: "https://127.0.0.1:1/dir".to_string(),
        contact_email: None,
        extra_root: None,
    };
    let mut request = AcmeRequest::new("example.test");
    request.names.push("*.example.test".to_string());
    let err = acme_order(
        &store,
        &settings,
        &request,
        ChallengeSolver::Http01(&server),
        OffsetDateTime::now_utc(),
    )
    .await
    .err()
    .unwrap_or_else(|| panic!("wildcard accepted over HTTP-01"));
    assert!(matches!(err, TlsError::WildcardNeedsDns01 { .. }), "{err}");
}

/// Pebble issues certificates valid for a few seconds; once a third of that remains,
/// `needs_renewal` and `renewal_due` say so and issuing again replaces the certificate.
#[tokio::test]
async fn short_lived_certificates_are_renewed_with_a_new_serial() {
    let s = setup(Some(12)).await;
    let host = format!("cloud.{}", random_domain());
    let first = s.issue(&host).await;
    let lifetime = first.not_after - first.not_before;
    assert!(lifetime <= time::Duration::seconds(13), "{lifetime}");
    let hosts = [host.clone()];
    assert_eq!(
        renewal_due(&s.store, &hosts, CertSource::Acme, first.not_before).ok(),
        Some(vec![])
    );

    // Wait, in real time, until renewal is due.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !needs_renewal(&first, OffsetDateTime::now_utc()) {
        assert!(Instant::now() < deadline, "never due: {first:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let due = renewal_due(
        &s.store,
        &hosts,
        CertSource::Acme,
        OffsetDateTime::now_utc(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(due.len(), 1);
    assert!(
        matches!(
            due[0].reason,
            DueReason::RenewalDue { .. } | DueReason::Expired { .. }
        ),
        "{:?}",
        due[0]
    );

    let second = s.issue(&host).await;
    assert_ne!(second.serial, first.serial);
    assert_ne!(second.fingerprint, first.fingerprint);
    assert!(second.not_after > first.not_after);
    assert_eq!(s.store.current(&host).ok().flatten(), Some(second));
    s.openssl_verify(&host).await;
}

/// Switching modes: a local certificate is due for ACME issuance even when fresh.
#[tokio::test]
async fn a_local_certificate_is_due_when_the_mode_becomes_acme() {
    let s = setup(None).await;
    let host = format!("cloud.{}", random_domain());
    let now = OffsetDateTime::now_utc();
    s.store
        .ensure_ca("t", now)
        .unwrap_or_else(|e| panic!("{e}"));
    s.store
        .issue_local(&host, now)
        .unwrap_or_else(|e| panic!("{e}"));
    let hosts = [host.clone()];
    let due =
        renewal_due(&s.store, &hosts, CertSource::Acme, now).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        due.first().map(|d| &d.reason),
        Some(&DueReason::SourceDiffers {
            source: CertSource::Local
        })
    );
    s.issue(&host).await;
    assert_eq!(
        renewal_due(&s.store, &hosts, CertSource::Acme, now).ok(),
        Some(vec![])
    );
}
