//! `cargo bench --bench tls` measures, against a real pebble on loopback (validation without
//! pebble's random sleeps, `PEBBLE_VA_NOSLEEP=1`):
//!
//! - issuing N = 10 certificates one after the other (the first one registers the account);
//! - issuing N = 10 certificates concurrently (one account, shared);
//! - for comparison, N = 100 certificates from the local CA.
//!
//! Each ACME issuance is the full order: new order, HTTP-01 answered by a small HTTP server,
//! validation, CSR for a new P-256 key, certificate download, checks and atomic install.
//! Prints a markdown table. Under `cargo test` (no `--bench` argument) it only checks that
//! it builds. Every phase is bounded in time.

#[path = "../tests/common/pebble.rs"]
mod pebble;

use commonscloud::tls::{acme_issue, AcmeSettings, CertStore};
use pebble::{random_domain, ChallengeServer, Pebble, PebbleOptions};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const N: usize = 10;
const LOCAL_N: usize = 100;
const PHASE_LIMIT: Duration = Duration::from_secs(300);

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(run());
}

struct Row {
    what: String,
    n: usize,
    total: Duration,
    per_cert: Vec<Duration>,
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

async fn run() {
    let server = ChallengeServer::start().await;
    let pebble = Pebble::start(
        server.port,
        PebbleOptions {
            validity_secs: None,
        },
    )
    .await;
    let state = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = CertStore::open(state.path().join("tls")).unwrap_or_else(|e| panic!("{e}"));
    let settings = AcmeSettings {
        directory_url: pebble.directory_url.clone(),
        contact_email: None,
        extra_root: Some(pebble.api_root.clone()),
    };
    let domain = random_domain();
    let mut rows = Vec::new();

    // Sequential.
    let started = Instant::now();
    let mut per_cert = Vec::new();
    for i in 0..N {
        let host = format!("s{i}.{domain}");
        let one = Instant::now();
        tokio::time::timeout(
            PHASE_LIMIT,
            acme_issue(&store, &settings, &host, &server, OffsetDateTime::now_utc()),
        )
        .await
        .unwrap_or_else(|_| panic!("sequential phase over {PHASE_LIMIT:?}"))
        .unwrap_or_else(|e| panic!("{host}: {e}\n{}", pebble.logs()));
        per_cert.push(one.elapsed());
    }
    rows.push(Row {
        what: "ACME (pebble), sequential, first registers the account".into(),
        n: N,
        total: started.elapsed(),
        per_cert,
    });

    // Concurrent.
    let started = Instant::now();
    let jobs = (0..N).map(|i| {
        let (store, settings, server, domain) = (&store, &settings, &server, &domain);
        async move {
            let host = format!("c{i}.{domain}");
            let one = Instant::now();
            acme_issue(store, settings, &host, server, OffsetDateTime::now_utc())
                .await
                .map(|_| one.elapsed())
                .map_err(|e| format!("{host}: {e}"))
        }
    });
    let results = tokio::time::timeout(PHASE_LIMIT, futures_util::future::join_all(jobs))
        .await
        .unwrap_or_else(|_| panic!("concurrent phase over {PHASE_LIMIT:?}"));
    let per_cert = results
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{e}\n{}", pebble.logs()));
    rows.push(Row {
        what: format!("ACME (pebble), {N} concurrent, one account"),
        n: N,
        total: started.elapsed(),
        per_cert,
    });

    // Local CA.
    let now = OffsetDateTime::now_utc();
    store
        .ensure_ca("bench", now)
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let mut per_cert = Vec::new();
    for i in 0..LOCAL_N {
        let one = Instant::now();
        store
            .issue_local(&format!("l{i}.{domain}"), now)
            .unwrap_or_else(|e| panic!("{e}"));
        per_cert.push(one.elapsed());
    }
    rows.push(Row {
        what: "local CA, sequential".into(),
        n: LOCAL_N,
        total: started.elapsed(),
        per_cert,
    });

    println!(
        "| issuance | N | total (ms) | per certificate p50 (ms) | max (ms) | certificates/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for mut row in rows {
        row.per_cert.sort();
        let p50 = row.per_cert[row.per_cert.len() / 2];
        let max = row.per_cert[row.per_cert.len() - 1];
        println!(
            "| {} | {} | {} | {} | {} | {:.1} |",
            row.what,
            row.n,
            ms(row.total),
            ms(p50),
            ms(max),
            row.n as f64 / row.total.as_secs_f64()
        );
    }
}
