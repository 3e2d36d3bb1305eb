//! Benchmarks of the foundation against the real Docker engine.
//!
//! `cargo bench --bench reconcile` measures, for a node of 12 `hello` containers:
//! - no-op `plan` + `up` (observe, plan, journal) — target ≤ 150 ms;
//! - cold `up` of the 12 containers with the image present — target ≤ 10 s;
//! - the release binary's size and the peak RSS of a no-op `commonscloud up`.
//!
//! Under `cargo test` (no `--bench` argument) it only checks that it builds.

mod support;

use commonscloud::engine::{labels, Engine};
use commonscloud::ops;
use commonscloud::paths::NodePaths;
use commonscloud::reconcile::apply::Progress;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{docker_ids, remove_containers, Cleanup};

const APPS: usize = 12;
const NOOP_ROUNDS: usize = 30;
const COLD_ROUNDS: usize = 3;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(run());
}

fn stats(mut xs: Vec<Duration>) -> (Duration, Duration, Duration) {
    xs.sort();
    let p = |q: f64| xs[((xs.len() as f64 - 1.0) * q).round() as usize];
    (xs[0], p(0.5), p(0.95))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn run() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    let name = format!("t-bench-{:06x}", rand::random::<u32>() & 0xffffff);
    let mut yaml = format!("name: {name}\ndomain: {name}.localhost\nedge: {{ address: 127.0.0.1, http_port: 0, https_port: 0 }}\napps:\n");
    for i in 0..APPS {
        yaml.push_str(&format!("  - {{ recipe: hello, host: h{i} }}\n"));
    }
    let config = dir.path().join("node.yaml");
    std::fs::write(&config, yaml).expect("write node.yaml");
    let paths = NodePaths::resolve(
        Some(config.clone()),
        Some(dir.path().join("state")),
        Some(root.clone()),
    );
    let _cleanup = Cleanup(name.clone());
    let engine = Engine::connect().await.expect("a Docker engine");
    let loaded = ops::load(&paths).expect("valid node");
    let desired = ops::desired(&paths, &loaded, ops::SecretsMode::Create).expect("desired state");
    let progress = Progress::hidden();

    // Warm-up: build the image if needed, and leave nothing running.
    ops::up(&engine, &paths, &loaded, &desired, &progress)
        .await
        .expect("warm-up up");
    // Baseline, same run: the same 12 containers by hand with the Docker CLI (`docker run -d`
    // each, then poll until all are healthy), as a shell script would.
    let image = desired
        .containers
        .iter()
        .find(|c| c.app == "h0")
        .map(|c| c.spec.image.clone())
        .expect("the hello app h0");
    let mut baseline = vec![];
    for round in 0..COLD_ROUNDS {
        let base = format!("{name}-cli{round}");
        let t = Instant::now();
        for i in 0..APPS {
            let out = Command::new("/usr/bin/docker")
                .args([
                    "run",
                    "-d",
                    "--name",
                    &format!("{base}-{i}"),
                    "--label",
                    &format!("{}={name}", labels::NODE),
                    "--health-cmd",
                    "busybox wget -q -O /dev/null http://127.0.0.1:8080/health",
                    "--health-interval",
                    "1s",
                    "--health-timeout",
                    "1s",
                    "--health-retries",
                    "3",
                    "--memory",
                    "32m",
                    "--restart",
                    "unless-stopped",
                    &image,
                ])
                .output()
                .expect("docker run");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            assert!(
                Instant::now() < deadline,
                "baseline containers never became healthy"
            );
            let healthy = docker_ids(&[
                "ps",
                "--filter",
                &format!("name={base}-"),
                "--filter",
                "health=healthy",
                "-q",
            ]);
            if healthy.len() == APPS {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        baseline.push(t.elapsed());
        remove_containers(&name);
    }

    let mut cold = vec![];
    for _ in 0..COLD_ROUNDS {
        remove_containers(&name);
        let t = Instant::now();
        let r = ops::up(&engine, &paths, &loaded, &desired, &progress)
            .await
            .expect("up");
        cold.push(t.elapsed());
        assert!(r.apply.succeeded(), "{:?}", r.apply);
    }

    let mut noop = vec![];
    for _ in 0..NOOP_ROUNDS {
        let t = Instant::now();
        let plan = ops::plan_node(&engine, &desired).await.expect("plan");
        let r = ops::up(&engine, &paths, &loaded, &desired, &progress)
            .await
            .expect("up");
        noop.push(t.elapsed());
        assert!(plan.is_noop() && r.plan.is_noop());
    }

    let binary = root.join("target/release/commonscloud");
    let (size, rss) = if binary.exists() {
        let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        (Some(size), peak_rss_kib(&binary, &paths))
    } else {
        (None, None)
    };

    let (bmin, bmed, bmax) = stats(baseline);
    let (cmin, cmed, cmax) = stats(cold.clone());
    let (nmin, nmed, np95) = stats(noop);
    println!(
        "machine: {} cores, {}",
        num_cpus(),
        engine_version(&engine).await
    );
    println!("no-op plan+up, {APPS} apps + the directory, {NOOP_ROUNDS} rounds: min {}  median {}  p95 {}  (target ≤ 150 ms)", ms(nmin), ms(nmed), ms(np95));
    println!("cold up, {APPS} apps + the directory, images present, {COLD_ROUNDS} rounds: min {}  median {}  max {}  (target ≤ 10 s)", ms(cmin), ms(cmed), ms(cmax));
    println!("baseline, docker CLI run -d ×{APPS} then poll health, {COLD_ROUNDS} rounds: min {}  median {}  max {}", ms(bmin), ms(bmed), ms(bmax));
    match size {
        Some(s) => println!("release binary: {:.1} MiB", s as f64 / 1048576.0),
        None => println!("release binary: not built (run `cargo build --release` first)"),
    }
    if let Some(kib) = rss {
        println!(
            "peak RSS of a no-op `commonscloud up`: {:.1} MiB",
            kib as f64 / 1024.0
        );
    }
}

async fn engine_version(engine: &Engine) -> String {
    engine
        .version()
        .await
        .map(|v| format!("Docker {} (API {})", v.server_version, v.api_version))
        .unwrap_or_default()
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Run the release binary's no-op `up` and sample its high-water mark until it exits.
fn peak_rss_kib(binary: &Path, paths: &NodePaths) -> Option<u64> {
    let mut child = Command::new(binary)
        .arg("up")
        .env("COMMONSCLOUD_CONFIG", &paths.config)
        .env("COMMONSCLOUD_STATE", &paths.state_dir)
        .env("COMMONSCLOUD_SHARE", paths.recipes_dir.parent()?)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status) {
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("VmHWM:") {
                    let kib: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak = peak.max(kib);
                }
            }
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Some(peak)
}
