//! The edge's cost, on this machine: requests per second and latency of a static page served
//! by the hello app directly (plain HTTP to its container) and through the edge (HTTPS with
//! the node's CA, HTTP/1.1 keep-alive and HTTP/2), side by side in one run, with the same
//! client (reqwest) and the same concurrency.
//!
//! `cargo bench --bench edge`. Under `cargo test` it only checks that it builds.

mod support;

use commonscloud::engine::{Engine, FileSpec};
use commonscloud::ops;
use commonscloud::paths::NodePaths;
use commonscloud::reconcile::apply::Progress;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::Cleanup;

const CONCURRENCY: usize = 32;
const THROUGHPUT_FOR: Duration = Duration::from_secs(10);
const LATENCY_REQUESTS: usize = 2000;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(run());
}

async fn run() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    let name = format!("t-bench-{:06x}", rand::random::<u32>() & 0xffffff);
    let yaml = format!(
        "name: {name}\ndomain: {name}.localhost\nedge: {{ address: 127.0.0.1, http_port: 0, https_port: 0 }}\napps:\n  - {{ recipe: hello, host: web }}\n"
    );
    let config = dir.path().join("node.yaml");
    std::fs::write(&config, yaml).expect("write node.yaml");
    let paths = NodePaths::resolve(Some(config), Some(dir.path().join("state")), Some(root));
    let _cleanup = Cleanup(name.clone());
    let engine = Engine::connect().await.expect("a Docker engine");
    let loaded = ops::load(&paths).expect("valid node");
    let desired = ops::desired(&paths, &loaded, ops::SecretsMode::Create).expect("desired");
    let report = ops::up(&engine, &paths, &loaded, &desired, &Progress::hidden())
        .await
        .expect("up");
    assert!(report.apply.succeeded(), "{:?}", report.apply);

    // A 1 KiB static page in the app.
    let app = format!("cc-{name}-web-web");
    let page: Vec<u8> = (0..1024).map(|i| b'a' + (i % 26) as u8).collect();
    engine
        .copy_files(
            &app,
            &[FileSpec {
                path: "/srv/www/static.html".into(),
                contents: page.clone(),
                mode: 0o644,
            }],
        )
        .await
        .expect("static page");
    let ip = container_ip(&app, &format!("cc-{name}-edge"));
    let (_, https) = ops::edge::ports(&engine, &name).await.expect("edge ports");
    let host = format!("web.{name}.localhost");
    let ca = std::fs::read(paths.tls_dir().join("ca/ca.pem")).expect("ca");
    let tls_client = |http2: bool| {
        let b = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("pem"))
            .tls_built_in_root_certs(false)
            .resolve(&host, ([127, 0, 0, 1], https).into())
            .pool_max_idle_per_host(CONCURRENCY);
        if http2 { b } else { b.http1_only() }
            .build()
            .expect("client")
    };
    let direct = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .expect("client");
    let direct_url = format!("http://{ip}:8080/static.html");
    let edge_url = format!("https://{host}:{https}/static.html");
    let cases: Vec<(&str, reqwest::Client, String)> = vec![
        ("direct (HTTP/1.0, busybox)", direct, direct_url),
        (
            "edge, HTTPS HTTP/1.1 keep-alive",
            tls_client(false),
            edge_url.clone(),
        ),
        ("edge, HTTPS HTTP/2", tls_client(true), edge_url),
    ];
    println!(
        "| path | req/s ({CONCURRENCY} in flight, {} s) | p50 | p99 (1 in flight, {LATENCY_REQUESTS} requests) |",
        THROUGHPUT_FOR.as_secs()
    );
    println!("|---|---|---|---|");
    for (label, client, url) in cases {
        let body = client
            .get(&url)
            .send()
            .await
            .expect("reachable")
            .bytes()
            .await
            .expect("body");
        assert_eq!(&body[..], &page[..], "{label} serves the page");
        let rps = throughput(&client, &url).await;
        let (p50, p99) = latency(&client, &url).await;
        println!(
            "| {label} | {rps:.0} | {:.2} ms | {:.2} ms |",
            p50 * 1e3,
            p99 * 1e3
        );
    }
    println!(
        "\nmachine: {} CPUs; the client runs on the same machine.",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
}

async fn throughput(client: &reqwest::Client, url: &str) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = vec![];
    for _ in 0..CONCURRENCY {
        let (client, url, done, errors) = (
            client.clone(),
            url.to_string(),
            done.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while start.elapsed() < THROUGHPUT_FOR {
                let ok = match client.get(&url).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                let counter = if ok { &done } else { &errors };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let e = errors.load(Ordering::Relaxed);
    assert_eq!(e, 0, "{e} failed requests against {url}");
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

async fn latency(client: &reqwest::Client, url: &str) -> (f64, f64) {
    let mut xs = Vec::with_capacity(LATENCY_REQUESTS);
    for _ in 0..LATENCY_REQUESTS {
        let t = Instant::now();
        let r = client.get(url).send().await.expect("request");
        r.bytes().await.expect("body");
        xs.push(t.elapsed().as_secs_f64());
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    let p = |q: f64| xs[((xs.len() as f64 - 1.0) * q).round() as usize];
    (p(0.5), p(0.99))
}

/// The container's address on a network the host can reach.
fn container_ip(container: &str, network: &str) -> String {
    let out = std::process::Command::new("/usr/bin/docker")
        .args([
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
            container,
        ])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
