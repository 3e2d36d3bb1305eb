//! The edge, for real: nginx in its container in front of the node's apps, with the node's
//! own CA (`self-signed`). Checked from the outside with curl, testssl.sh and a load on
//! loopback.

mod common;

use common::{engine, TestNode};
use commonscloud::edge::{Rendered, RenderedFile};
use commonscloud::ops;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A node with two hello apps behind its edge, up.
async fn node_with_two_hosts() -> (TestNode, commonscloud::engine::Engine, u16, u16) {
    let node = TestNode::new(&[
        ("hello", "a", Some("Bon dia")),
        ("hello", "b", Some("Hola")),
    ]);
    let engine = engine().await;
    let report = node.up(&engine).await;
    assert!(report.apply.succeeded(), "{report:?}");
    let edge = report.edge.expect("the edge ran");
    // a, b and the node's portal.
    assert_eq!(edge.certificates.hosts.len(), 3, "{edge:?}");
    let (http, https) = ops::edge::ports(&engine, &node.name).await.expect("ports");
    (node, engine, http, https)
}

fn host(node: &TestNode, app: &str) -> String {
    format!("{app}.{}.localhost", node.name)
}

fn ca(node: &TestNode) -> String {
    node.paths.tls_dir().join("ca/ca.pem").display().to_string()
}

/// `curl` with the node's CA only, reaching `host` on loopback: (exit code, stdout, stderr).
fn curl(
    node: &TestNode,
    host: &str,
    port: u16,
    scheme: &str,
    extra: &[&str],
) -> (i32, String, String) {
    let url = format!("{scheme}://{host}:{port}/");
    let resolve = format!("{host}:{port}:127.0.0.1");
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "--cacert",
            &ca(node),
            "--resolve",
            &resolve,
        ])
        .args(extra)
        .arg(&url)
        .output()
        .expect("curl runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_host_verifies_with_the_node_ca_through_the_edge() {
    let (node, engine, http, https) = node_with_two_hosts().await;

    // Every host: TLS verified against the node's CA alone, HTTP/2, the app's own page.
    for (app, greeting) in [("a", "Bon dia"), ("b", "Hola")] {
        let h = host(&node, app);
        let (code, body, err) = curl(&node, &h, https, "https", &["--http2", "-D", "-"]);
        assert_eq!(code, 0, "curl {h}: {err}");
        assert!(body.starts_with("HTTP/2 200"), "{body}");
        assert!(body.contains(&format!("{greeting} from {h}")), "{body}");
        assert!(body.contains("x-content-type-options: nosniff"), "{body}");
        // A node CA is not publicly trusted: no HSTS that would lock people out.
        assert!(
            !body.to_lowercase().contains("strict-transport-security"),
            "{body}"
        );
        // HTTP redirects to HTTPS, on the port people reach.
        let (_, head, _) = curl(&node, &h, http, "http", &["-D", "-"]);
        assert!(head.starts_with("HTTP/1.1 308"), "{head}");
        assert!(
            head.contains(&format!("Location: https://{h}:{https}/")),
            "{head}"
        );
    }
    // Without the CA, curl refuses the certificate: it really is the node's own.
    let h = host(&node, "a");
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "--resolve",
            &format!("{h}:{https}:127.0.0.1"),
        ])
        .arg(format!("https://{h}:{https}/"))
        .output()
        .expect("curl");
    assert_eq!(
        out.status.code(),
        Some(60),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A name the node does not serve: the handshake is refused.
    let (code, _, err) = curl(&node, "nosuch.example", https, "https", &[]);
    assert_ne!(code, 0, "an unknown name must not get a certificate: {err}");
    // ACME challenges are answered on port 80 for any name, without redirect.
    ops::edge::serve_well_known(&engine, &node.name, "acme-challenge/tok-1", b"tok-1.key")
        .await
        .expect("served");
    let (code, body, err) = curl(
        &node,
        &h,
        http,
        "http",
        &["-f", "--path-as-is", "-o", "-", "-w", ""],
    );
    // The page at / redirects; the challenge itself is plain.
    let _ = (code, body, err);
    let url = format!("http://{h}:{http}/.well-known/acme-challenge/tok-1");
    let out = Command::new("curl")
        .args(["-sSf", "--resolve", &format!("{h}:{http}:127.0.0.1"), &url])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tok-1.key");

    // `certs list --json` and `certs ca` tell the same story.
    let out = node.cli(&["certs", "list", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(3), "{rows}");
    assert_eq!(rows[0]["host"], host(&node, "a"));
    assert!(rows[0]["issuer"]
        .as_str()
        .unwrap_or("")
        .contains("CommonsCloud local CA"));
    let out = node.cli(&["certs", "ca"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ca.pem") && text.contains("SHA-256 fingerprint: "),
        "{text}"
    );
    let fp = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
            &ca(&node),
        ])
        .output()
        .expect("openssl");
    let fp = String::from_utf8_lossy(&fp.stdout);
    let fp = fp.trim().rsplit('=').next().unwrap_or("");
    assert!(text.contains(fp), "{text} vs {fp}");

    // A second up changes nothing at the edge.
    let again = node.up(&engine).await;
    let edge = again.edge.expect("edge");
    assert!(
        matches!(edge.pushed, ops::edge::Pushed::Unchanged(_)),
        "{edge:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_nginx_refuses_never_goes_live() {
    let (node, engine, _http, https) = node_with_two_hosts().await;
    let before = ops::edge::live(&engine, &node.name).await.expect("live");
    // A configuration whose certificate is garbage: nginx -t fails in the container.
    let bad = Rendered {
        name: "c-broken".into(),
        files: vec![
            RenderedFile {
                path: "nginx.conf".into(),
                contents: b"events {}\nhttp { server { listen 443 ssl; ssl_certificate certs/x.pem; ssl_certificate_key certs/x.key; } }\n".to_vec(),
                mode: 0o644,
            },
            RenderedFile {
                path: "certs/x.pem".into(),
                contents: b"not a certificate".to_vec(),
                mode: 0o644,
            },
            RenderedFile {
                path: "certs/x.key".into(),
                contents: b"not a key".to_vec(),
                mode: 0o600,
            },
        ],
    };
    let err = ops::edge::push(&engine, &node.name, &bad)
        .await
        .expect_err("refused");
    let msg = err.to_string();
    assert!(msg.contains("previous one keeps serving"), "{msg}");
    assert!(msg.contains("x.pem"), "nginx's own reason is shown: {msg}");
    assert_eq!(
        ops::edge::live(&engine, &node.name).await.expect("live"),
        before
    );
    let (code, body, err) = curl(&node, &host(&node, "b"), https, "https", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(body.contains("Hola from"), "{body}");
}

/// Browsers speak HTTP/2 to the edge: on a reload nginx sends GOAWAY and finishes the
/// streams in flight. HTTP/1.1 clients here open a connection per request (`Connection:
/// close`): every connection nginx accepted must be answered. (An HTTP/1.1 client that reuses
/// an idle keep-alive connection can race nginx closing it; RFC 9112 §9.3.1 has clients retry
/// idempotent requests then, as browsers do. docs/tls.md says so.)
#[tokio::test(flavor = "multi_thread")]
async fn a_graceful_reload_under_load_loses_no_request() {
    let (node, engine, _http, https) = node_with_two_hosts().await;
    let h = host(&node, "a");
    let ca_pem = std::fs::read(ca(&node)).expect("ca");
    let client = |http1: bool| {
        let b = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).expect("pem"))
            .tls_built_in_root_certs(false)
            .resolve(&h, ([127, 0, 0, 1], https).into())
            .timeout(Duration::from_secs(10));
        if http1 { b.http1_only() } else { b }
            .build()
            .expect("client")
    };
    let url = format!("https://{h}:{https}/");
    let ok = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let failed = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Bounded: 8 clients on loopback for as long as the reloads take (at most 60 s).
    let mut workers = vec![];
    for i in 0..8 {
        let http1 = i % 2 == 1;
        let (client, url, ok, failed, stop) = (
            client(http1),
            url.clone(),
            ok.clone(),
            failed.clone(),
            stop.clone(),
        );
        workers.push(tokio::spawn(async move {
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
                let mut req = client.get(&url);
                if http1 {
                    req = req.header("connection", "close");
                }
                let what = if http1 { "HTTP/1.1" } else { "HTTP/2" };
                match req.send().await {
                    Ok(r) if r.status() == 200 => {
                        let version = r.version();
                        match r.text().await {
                            Ok(t) if t.contains("Bon dia") => {
                                assert_eq!(
                                    version == reqwest::Version::HTTP_2,
                                    !http1,
                                    "{what} client got {version:?}"
                                );
                                ok[usize::from(http1)].fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(t) => failed
                                .lock()
                                .expect("lock")
                                .push(format!("{what} body {t}")),
                            Err(e) => failed
                                .lock()
                                .expect("lock")
                                .push(format!("{what} body: {e:?}")),
                        }
                    }
                    Ok(r) => failed
                        .lock()
                        .expect("lock")
                        .push(format!("{what} status {}", r.status())),
                    Err(e) => failed.lock().expect("lock").push(format!("{what} {e:?}")),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Five reloads: every certificate reissued each time, so each is a new configuration.
    let loaded = node.loaded();
    let mut names = vec![ops::edge::live(&engine, &node.name).await.expect("live")];
    for _ in 0..5 {
        let r = ops::renew_certs(&engine, &node.paths, &loaded, true)
            .await
            .expect("renewed");
        match r.pushed {
            ops::edge::Pushed::Reloaded(name) => names.push(name),
            other => panic!("expected a reload, got {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("worker");
    }
    names.dedup();
    assert_eq!(
        names.len(),
        6,
        "six distinct configurations went live: {names:?}"
    );
    let failed = failed.lock().expect("lock");
    let (h2, h1) = (ok[0].load(Ordering::Relaxed), ok[1].load(Ordering::Relaxed));
    eprintln!(
        "{h2} HTTP/2 and {h1} HTTP/1.1 requests answered during 5 reloads; {} failed",
        failed.len()
    );
    assert!(h2 > 100 && h1 > 50, "the load ran: {h2} {h1}");
    assert!(
        failed.is_empty(),
        "lost requests: {:?}",
        &failed[..failed.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn testssl_finds_no_weak_protocol_or_cipher() {
    let (node, _engine, _http, https) = node_with_two_hosts().await;
    let dir = tempfile::tempdir().expect("tmp");
    let json = dir.path().join("testssl.json");
    let out = Command::new("testssl")
        .args([
            "--quiet",
            "--color",
            "0",
            "--warnings",
            "batch",
            "--ip",
            "127.0.0.1",
        ])
        .args(["-p", "-s", "-f", "--jsonfile"])
        .arg(&json)
        .arg(format!("https://{}:{https}", host(&node, "a")))
        .output()
        .expect("testssl.sh (Debian's testssl.sh) runs");
    let findings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap_or_else(|e| {
            panic!("no report ({e}): {}", String::from_utf8_lossy(&out.stdout))
        }))
        .expect("json");
    let findings = findings.as_array().expect("a list");
    let get = |id: &str| {
        findings
            .iter()
            .find(|f| f["id"] == id)
            .map(|f| f["finding"].as_str().unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("testssl reported no `{id}`"))
    };
    for weak in [
        "SSLv2",
        "SSLv3",
        "TLS1",
        "TLS1_1",
        "cipherlist_NULL",
        "cipherlist_aNULL",
        "cipherlist_EXPORT",
        "cipherlist_LOW",
        "cipherlist_3DES_IDEA",
        "cipherlist_AVERAGE",
    ] {
        assert_eq!(get(weak), "not offered", "{weak}");
    }
    assert!(get("TLS1_2").starts_with("offered"));
    assert!(get("TLS1_3").starts_with("offered"));
    assert_eq!(get("ALPN_HTTP2"), "h2");
    let bad: Vec<_> = findings
        .iter()
        .filter(|f| {
            ["LOW", "MEDIUM", "HIGH", "CRITICAL"].contains(&f["severity"].as_str().unwrap_or(""))
        })
        .collect();
    assert!(bad.is_empty(), "weak findings: {bad:#?}");
}
