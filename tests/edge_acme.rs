//! ACME through the real edge: Debian's pebble as the ACME server, pebble-challtestsrv as the
//! DNS that points every test name at loopback, nginx in the edge container answering HTTP-01.

mod common;

use common::pebble::{self, Pebble, PebbleOptions};
use common::smtp::TestSmtp;
use common::{engine, TestNode};
use commonscloud::ops::{self, certs::CertAction, reach};
use std::process::Command;
use std::time::Duration;

/// A node in mode `acme` against `pebble`, with its edge's HTTP port where pebble validates,
/// and its operator's mail going to a real SMTP server on `smtp_port`.
fn acme_node(pebble: &Pebble, http_port: u16, smtp_port: u16) -> TestNode {
    let node = TestNode::new(&[
        ("hello", "a", Some("Bon dia")),
        ("hello", "b", Some("Hola")),
    ]);
    let domain = pebble::random_domain();
    let yaml = format!(
        "name: {name}\ndomain: {domain}\n\
         operator: {{ name: Ops, email: \"ops@{domain}\" }}\n\
         smtp: {{ host: 127.0.0.1, port: {smtp_port}, from: \"node@{domain}\", security: none }}\n\
         edge: {{ address: 127.0.0.1, http_port: {http_port}, https_port: 0 }}\n\
         tls:\n  mode: acme\n  email: ops@{domain}\n  directory: {dir}\n  directory_ca: {ca}\n  check_resolver: \"{dns}\"\n\
         apps:\n  - {{ recipe: hello, host: a, settings: {{ greeting: Bon dia }} }}\n  - {{ recipe: hello, host: b, settings: {{ greeting: Hola }} }}\n",
        name = node.name,
        dir = pebble.directory_url,
        ca = pebble.api_root.display(),
        dns = pebble.dns,
    );
    std::fs::write(&node.paths.config, yaml).expect("node.yaml");
    node
}

/// The SHA-256 fingerprint of the certificate the edge serves for `host`.
fn served_fingerprint(host: &str, port: u16) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} -servername {host} </dev/null 2>/dev/null \
             | openssl x509 -noout -fingerprint -sha256"
        ))
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .rsplit('=')
        .next()
        .unwrap_or("")
        .to_string()
}

fn curl_ok(host: &str, port: u16, ca: &std::path::Path) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
        .arg(format!("https://{host}:{port}/"))
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl {host}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn acme_issues_through_the_edge_renews_and_keeps_the_old_certificate_on_failure() {
    pebble::install_crypto_provider();
    let http_port = pebble::free_port();
    // Short-lived certificates (40 s): renewal comes due after two thirds, ~27 s.
    let mut pebble = Pebble::start(
        http_port,
        PebbleOptions {
            validity_secs: Some(40),
        },
    )
    .await;
    let smtp = TestSmtp::start();
    let node = acme_node(&pebble, http_port, smtp.port);
    let engine = engine().await;
    let loaded = node.loaded();
    let hosts = loaded.hostnames();
    // a, b and the node's portal.
    assert_eq!(hosts.len(), 3, "{hosts:?}");

    // Issuance through the real edge, as part of `up`.
    let report = node.up(&engine).await;
    assert!(report.apply.succeeded(), "{report:?}");
    let edge = report.edge.expect("edge");
    for h in &edge.certificates.hosts {
        assert_eq!(h.action, CertAction::Issued, "{h:?}");
    }
    let (_, https) = ops::edge::ports(&engine, &node.name).await.expect("ports");
    let root = node.dir.path().join("pebble-root.pem");
    std::fs::write(&root, pebble.issuing_root_pem().await).expect("root");
    for (h, greeting) in hosts.iter().zip(["Bon dia", "Hola"]) {
        assert!(curl_ok(h, https, &root).contains(greeting));
    }
    let list = node.cli(&["certs", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert!(
        rows[0]["issuer"].as_str().unwrap_or("").contains("Pebble"),
        "{rows}"
    );
    assert_eq!(rows[0]["source"], "acme", "{rows}");
    let first = served_fingerprint(&hosts[0], https);
    assert_eq!(
        rows[0]["fingerprint"].as_str().unwrap_or(""),
        first,
        "{rows}"
    );

    // Nothing is due yet: renew keeps both.
    let out = node.cli(&["certs", "renew", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        r["certificates"]["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .all(|h| h["action"] == "kept"),
        "{r}"
    );

    // Wait until a third of the lifetime remains; the timer's `certs renew` renews.
    tokio::time::sleep(Duration::from_secs(28)).await;
    let out = node.cli(&["certs", "renew", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for h in r["certificates"]["hosts"].as_array().expect("hosts") {
        assert_eq!(h["action"], "issued", "{r}");
        assert!(
            h["detail"].as_str().unwrap_or("").contains("renewal due"),
            "{r}"
        );
    }
    let renewed = served_fingerprint(&hosts[0], https);
    assert_ne!(renewed, first, "the edge serves the renewed certificate");
    assert!(curl_ok(&hosts[0], https, &root).contains("Bon dia"));

    // The ACME server goes away: a forced renewal fails, clearly and quickly, and the renewed
    // certificate keeps serving.
    pebble.stop();
    let out = node.cli(&["certs", "renew", "--force"]);
    assert_eq!(out.status.code(), Some(1), "a failed renewal exits 1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ACME server unreachable"), "{err}");
    assert!(
        err.contains("the previous certificate keeps serving"),
        "{err}"
    );
    assert_eq!(served_fingerprint(&hosts[0], https), renewed);
    // Two more failures in a row: the operator is told by mail, once.
    for _ in 0..2 {
        let out = node.cli(&["certs", "renew", "--force"]);
        assert_eq!(out.status.code(), Some(1));
    }
    let operator = format!("ops@{}", loaded.node.domain);
    let mail = smtp
        .wait_for(&operator, "certificate renewal keeps failing")
        .await;
    assert!(
        mail.text.contains(&hosts[0]) && mail.text.contains("3 failures"),
        "{}",
        mail.text
    );
    assert!(mail.text.contains("certs renew --force"), "{}", mail.text);
    let out = node.cli(&["certs", "renew", "--force"]);
    assert_eq!(out.status.code(), Some(1));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(smtp.to(&operator).len(), 1, "told once per run of failures");
    // Once renewal is due, the timer's runs do not hammer the unreachable server: each host
    // waits for its backoff (at least 30 s after one failure), and says until when.
    let list = node.cli(&["certs", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    // The hosts were issued one after another: wait for the last of them to be due.
    let renew_after = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            time::OffsetDateTime::parse(
                r["renew_after"].as_str().expect("renew_after"),
                &time::format_description::well_known::Rfc3339,
            )
            .expect("rfc3339")
        })
        .max()
        .expect("hosts");
    let wait = renew_after - time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    if wait.is_positive() {
        tokio::time::sleep(Duration::try_from(wait).expect("duration")).await;
    }
    for _ in 0..2 {
        let started = std::time::Instant::now();
        let out = node.cli(&["certs", "renew", "--json"]);
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        for h in r["certificates"]["hosts"].as_array().expect("hosts") {
            assert_eq!(h["action"], "waiting", "{r}");
            assert!(
                h["detail"]
                    .as_str()
                    .unwrap_or("")
                    .contains("next attempt after"),
                "{r}"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no attempt, no wait"
        );
    }
    let retry: serde_json::Value = serde_json::from_slice(
        &std::fs::read(node.paths.tls_dir().join("retry.json")).expect("retry state"),
    )
    .expect("json");
    assert_eq!(retry["hosts"][&hosts[0]]["failures"], 4, "{retry}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reachability_check_says_what_to_fix() {
    pebble::install_crypto_provider();
    let http_port = pebble::free_port();
    let pebble = Pebble::start(
        http_port,
        PebbleOptions {
            validity_secs: None,
        },
    )
    .await;
    // self-signed first: bring the edge up without asking pebble anything.
    let smtp = TestSmtp::start();
    let node = acme_node(&pebble, http_port, smtp.port);
    let yaml = std::fs::read_to_string(&node.paths.config).expect("yaml");
    std::fs::write(
        &node.paths.config,
        yaml.replace("mode: acme", "mode: self-signed"),
    )
    .expect("yaml");
    let engine = engine().await;
    assert!(node.up(&engine).await.apply.succeeded());
    let hosts = node.loaded().hostnames();
    let resolver = reach::Resolver::new(Some(&pebble.dns)).expect("resolver");

    // Reachable: challtestsrv points every name at loopback, where the edge listens.
    let ok = reach::check(&engine, &node.name, &hosts, http_port, &resolver)
        .await
        .expect("checked");
    assert!(ok.iter().all(|r| r.ok()), "{ok:?}");

    // Nothing listening on that port: the firewall/forwarding advice.
    let closed = pebble::free_port();
    let r = reach::check(&engine, &node.name, &hosts[..1], closed, &resolver)
        .await
        .expect("checked");
    let p = r[0].problem.clone().unwrap_or_default();
    assert!(
        p.contains("nothing answered on port") && p.contains("firewall"),
        "{p}"
    );

    // Something else answers there (pebble's own API speaks TLS, not our token).
    let other = pebble
        .directory_url
        .trim_start_matches("https://127.0.0.1:")
        .trim_end_matches("/dir")
        .parse::<u16>()
        .expect("port");
    let r = reach::check(&engine, &node.name, &hosts[..1], other, &resolver)
        .await
        .expect("checked");
    let p = r[0].problem.clone().unwrap_or_default();
    assert!(p.contains("not this node") || p.contains("failed"), "{p}");

    // No DNS answer at all.
    let nowhere = reach::Resolver::new(Some(&format!("127.0.0.1:{}", pebble::free_port())))
        .expect("resolver");
    let r = reach::check(&engine, &node.name, &hosts[..1], http_port, &nowhere)
        .await
        .expect("checked");
    let p = r[0].problem.clone().unwrap_or_default();
    assert!(p.contains("no DNS address"), "{p}");
}
