//! `cargo bench --bench portal` measures the portal on loopback, against a real slapd
//! (images/directory), with no SMTP server (mail stays in the outbox):
//!
//! - throughput of the sign-in page (`GET /signin`, 16 connections, 5 s; target ≥ 2,000 req/s);
//! - throughput of the home page signed in (`GET /`: session lookup, the person and their
//!   collectives read from the directory; 16 connections, 5 s);
//! - registration latency (`POST /register`, one at a time, N = 500; p50/p99/max).
//!
//! Rate limits are off (they would be the thing measured). Under `cargo test` (no `--bench`
//! argument) it only checks that it builds. Every phase is bounded in count and time; the
//! directory container is removed at the end, even on a panic.

#[path = "../tests/common/mod.rs"]
mod common;

use common::directory::TestDirectory;
use common::portal::{person, supervisor, Client, Setup, TestPortal, PASSWORD};
use commonscloud::portal::ratelimit::Limits;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 16;
const RUN_FOR: Duration = Duration::from_secs(5);
const REGISTRATIONS: usize = 500;
const PHASE_LIMIT: Duration = Duration::from_secs(120);

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(bench());
}

/// Requests per second of GET `path` over `clients`, for `RUN_FOR`.
async fn throughput(clients: Vec<Arc<Client>>, path: &'static str, expect: &'static str) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = vec![];
    for c in clients {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            while start.elapsed() < RUN_FOR {
                let p = c.get(path).await;
                assert_eq!(p.status, 200, "{path}");
                assert!(p.has(expect), "{path}: {}", p.body);
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("a client task");
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

async fn bench() {
    let d = TestDirectory::start().await;
    let sup = supervisor(&d).await;
    sup.ensure_collective("fki", "Free Knowledge Institute")
        .await
        .expect("collective");
    person(&sup, "alice", "alice@example.test", PASSWORD).await;
    sup.grant_admin("fki", "alice").await.expect("grant");
    let portal = TestPortal::start(
        &d,
        Setup {
            smtp_port: None,
            limits: Limits::unlimited(),
            pending_per_collective: 1_000_000,
            ..Setup::default()
        },
    )
    .await;

    // Warm up: templates, the directory connection.
    let warm = portal.client();
    for _ in 0..50 {
        warm.get("/signin").await;
    }

    let clients: Vec<Arc<Client>> = (0..CONNECTIONS)
        .map(|_| Arc::new(portal.client()))
        .collect();
    let sign_in = tokio::time::timeout(PHASE_LIMIT, throughput(clients, "/signin", "Sign in"))
        .await
        .expect("sign-in phase within its time limit");

    let mut clients = vec![];
    for _ in 0..CONNECTIONS {
        let c = portal.client();
        c.sign_in("alice", PASSWORD).await;
        clients.push(Arc::new(c));
    }
    let home = tokio::time::timeout(PHASE_LIMIT, throughput(clients, "/", "Hello, Alice"))
        .await
        .expect("home phase within its time limit");

    let c = portal.client();
    let csrf = c.get("/register").await.csrf();
    let mut times = vec![];
    let phase = Instant::now();
    for i in 0..REGISTRATIONS {
        assert!(phase.elapsed() < PHASE_LIMIT, "registration phase too long");
        let username = format!("bench{i}");
        let email = format!("bench{i}@example.test");
        let t = Instant::now();
        let p = c
            .post_raw(
                "/register",
                &[
                    ("csrf", &csrf),
                    ("name", "Bench Person"),
                    ("username", &username),
                    ("email", &email),
                    ("collective", "fki"),
                    ("message", "benchmark"),
                ],
            )
            .await;
        times.push(t.elapsed());
        assert_eq!(p.status, 303, "{}", p.body);
    }
    times.sort();
    // Every registration reached the outbox (SMTP absent: nothing is lost).
    let t = Instant::now();
    while portal.outbox.counts().expect("outbox").pending < REGISTRATIONS as u64 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "registrations did not all reach the outbox"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    println!();
    println!("| measure | result | target |");
    println!("|---|---|---|");
    println!(
        "| `GET /signin`, {CONNECTIONS} connections, {} s | **{sign_in:.0} req/s** | ≥ 2,000 req/s — {} |",
        RUN_FOR.as_secs(),
        if sign_in >= 2000.0 { "met" } else { "**missed**" }
    );
    println!(
        "| `GET /` signed in (home), {CONNECTIONS} connections, {} s | {home:.0} req/s | — |",
        RUN_FOR.as_secs()
    );
    println!(
        "| `POST /register` without SMTP, N = {REGISTRATIONS}, p50 / p99 / max | {} / **{}** / {} ms | — |",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(times[times.len() - 1])
    );
    println!(
        "| mail waiting in the outbox afterwards | {} | = N |",
        portal.outbox.counts().expect("outbox").pending
    );
}
