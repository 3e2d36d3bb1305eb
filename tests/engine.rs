//! The engine against the real Docker engine of this machine.
//!
//! Every test labels what it creates with its own node id (`t-<random>`) and removes it all
//! at the end, even when it fails (a guard that asks `/usr/bin/docker`). Images stay: the
//! bootstrapped base and the content-addressed `commonscloud/hello:<hash>` are a cache.

use commonscloud::engine::{
    labels, ContainerSpec, Engine, EngineError, FileSpec, HealthSpec, HealthState, MountSpec,
    NetworkAttachment, NetworkSpec, RunState, VolumeSpec,
};
use futures_util::StreamExt;
use indicatif::ProgressBar;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

const BASE: &str = "debian:bookworm-slim";
const DOCKER: &str = "/usr/bin/docker";
const HEALTHY_WITHIN: Duration = Duration::from_secs(60);

async fn engine() -> Engine {
    match Engine::connect().await {
        Ok(e) => e,
        Err(e) => panic!("these tests need a Docker engine: {e}"),
    }
}

/// Run the Docker CLI; its trimmed stdout.
fn docker(args: &[&str]) -> String {
    match Command::new(DOCKER).args(args).output() {
        Ok(o) => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Err(e) => panic!("{DOCKER} {args:?}: {e}"),
    }
}

/// A test's own node id, and the removal of everything carrying it (plus `extra` objects made
/// without labels) when the test ends, however it ends.
struct Run {
    node: String,
    extra_containers: Vec<String>,
    extra_networks: Vec<String>,
    extra_volumes: Vec<String>,
}

impl Run {
    fn new() -> Run {
        Run {
            node: format!("t-{:08x}", rand::random::<u32>()),
            extra_containers: vec![],
            extra_networks: vec![],
            extra_volumes: vec![],
        }
    }

    fn labels(&self, app: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (labels::NODE.to_string(), self.node.clone()),
            (labels::APP.to_string(), app.to_string()),
        ])
    }

    fn filter(&self) -> [(&str, &str); 1] {
        [(labels::NODE, self.node.as_str())]
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let f = format!("label={}={}", labels::NODE, self.node);
        let mut containers: Vec<String> = docker(&["ps", "-aq", "--filter", &f])
            .lines()
            .map(str::to_string)
            .collect();
        containers.extend(self.extra_containers.iter().cloned());
        for c in containers {
            docker(&["rm", "-f", &c]);
        }
        let mut networks: Vec<String> = docker(&["network", "ls", "-q", "--filter", &f])
            .lines()
            .map(str::to_string)
            .collect();
        networks.extend(self.extra_networks.iter().cloned());
        for n in networks {
            docker(&["network", "rm", &n]);
        }
        let mut volumes: Vec<String> = docker(&["volume", "ls", "-q", "--filter", &f])
            .lines()
            .map(str::to_string)
            .collect();
        volumes.extend(self.extra_volumes.iter().cloned());
        for v in volumes {
            docker(&["volume", "rm", "-f", &v]);
        }
    }
}

fn hello_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("images/hello")
}

/// The hello image (built once per content of `images/hello`).
async fn hello_image(e: &Engine) -> String {
    let labels = BTreeMap::from([(labels::IMAGE.to_string(), "hello".to_string())]);
    let t = Instant::now();
    let bar = ProgressBar::hidden();
    match e
        .ensure_built(&hello_dir(), "commonscloud/hello", &labels, &bar)
        .await
    {
        Ok(b) => {
            if b.built {
                eprintln!("built {} in {:?}", b.reference, t.elapsed());
            }
            b.reference
        }
        Err(err) => panic!("{err}"),
    }
}

fn hello_spec(run: &Run, name: &str, image: &str, volume: &str, network: &str) -> ContainerSpec {
    ContainerSpec {
        name: name.to_string(),
        image: image.to_string(),
        labels: run.labels("hello"),
        env: BTreeMap::from([("GREETING".to_string(), "Bon dia, cooperativa".to_string())]),
        command: None,
        user: None,
        mounts: vec![MountSpec {
            volume: volume.to_string(),
            target: "/data".to_string(),
            read_only: false,
        }],
        networks: vec![NetworkAttachment {
            network: network.to_string(),
            aliases: vec!["hello".to_string()],
        }],
        health: Some(HealthSpec {
            test: [
                "CMD",
                "busybox",
                "wget",
                "-q",
                "-O-",
                "http://127.0.0.1:8080/health",
            ]
            .map(String::from)
            .to_vec(),
            interval_ns: 1_000_000_000,
            timeout_ns: 3_000_000_000,
            retries: 3,
            start_period_ns: 0,
        }),
        memory_bytes: Some(64 * 1024 * 1024),
        nano_cpus: Some(500_000_000),
        pids_limit: Some(64),
        stop_grace_secs: Some(5),
        read_only: false,
        tmpfs: vec![],
        files: vec![FileSpec {
            path: "/etc/hello/motd".to_string(),
            contents: b"welcome\n".to_vec(),
            mode: 0o640,
        }],
        ports: vec![],
    }
}

fn sh(cmd: &str) -> Vec<String> {
    vec!["sh".to_string(), "-c".to_string(), cmd.to_string()]
}

/// Make the network and volume a hello container needs.
async fn hello_objects(e: &Engine, run: &Run) -> (String, String) {
    let network = format!("{}-net", run.node);
    let volume = format!("{}-data", run.node);
    let net = NetworkSpec {
        name: network.clone(),
        labels: run.labels("hello"),
        internal: false,
    };
    let vol = VolumeSpec {
        name: volume.clone(),
        labels: run.labels("hello"),
    };
    if let Err(err) = e.ensure_network(&net).await {
        panic!("{err}");
    }
    if let Err(err) = e.ensure_volume(&vol).await {
        panic!("{err}");
    }
    (network, volume)
}

fn ok<T>(r: Result<T, EngineError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn connects_and_reports_a_recent_engine() {
    let e = engine().await;
    let v = ok(e.version().await);
    let api: Vec<u64> = v
        .api_version
        .split('.')
        .filter_map(|p| p.parse().ok())
        .collect();
    assert!(api >= vec![1, 41], "API {}", v.api_version);
    assert!(!v.server_version.is_empty());
    assert_eq!(v.os, "linux");
    assert!(!v.kernel.is_empty());
    let engine_now = v.system_time.unwrap_or(SystemTime::UNIX_EPOCH);
    let skew = match engine_now.duration_since(SystemTime::now()) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    assert!(
        skew < Duration::from_secs(60),
        "engine clock off by {skew:?}"
    );
}

#[tokio::test]
async fn a_missing_engine_is_explained_with_what_to_do() {
    let err = match Engine::connect_at("unix:///nonexistent/docker.sock").await {
        Ok(_) => panic!("connected to nothing"),
        Err(e) => e,
    };
    let msg = err.to_string();
    assert!(matches!(err, EngineError::NotRunning { .. }), "{msg}");
    assert!(msg.contains("/nonexistent/docker.sock"), "{msg}");
    assert!(msg.contains("dockerd"), "{msg}");
    assert!(!msg.contains("SocketNotFound"), "{msg}");
}

#[tokio::test]
async fn base_image_is_present_pulled_or_bootstrapped() {
    let e = engine().await;
    let t = Instant::now();
    ok(e.ensure_image(BASE, &ProgressBar::hidden()).await);
    eprintln!("ensure_image({BASE}) took {:?}", t.elapsed());
    assert!(ok(e.image_exists(BASE).await));
    assert!(ok(e.image_id(BASE).await).is_some());
}

#[tokio::test]
async fn an_image_nobody_has_fails_fast_and_says_so() {
    let e = engine().await;
    let t = Instant::now();
    let r = e
        .ensure_image("commonscloud-test/absent:never", &ProgressBar::hidden())
        .await;
    assert!(
        t.elapsed() < Duration::from_secs(90),
        "took {:?}",
        t.elapsed()
    );
    match r {
        Err(EngineError::ImageUnavailable { reference, .. }) => {
            assert_eq!(reference, "commonscloud-test/absent:never")
        }
        other => panic!("{other:?}"),
    }
    assert!(!ok(e.image_exists("commonscloud-test/absent:never").await));
}

#[tokio::test]
async fn an_unchanged_folder_reuses_its_image() {
    let e = engine().await;
    let first = hello_image(&e).await;
    let labels = BTreeMap::from([(labels::IMAGE.to_string(), "hello".to_string())]);
    let t = Instant::now();
    let again = ok(e
        .ensure_built(
            &hello_dir(),
            "commonscloud/hello",
            &labels,
            &ProgressBar::hidden(),
        )
        .await);
    assert_eq!(again.reference, first);
    assert!(!again.built);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let hash = ok(
        commonscloud::engine::context_hash(&hello_dir()).map_err(|source| EngineError::Io {
            action: "hash".into(),
            source,
        }),
    );
    assert_eq!(first, format!("commonscloud/hello:{}", &hash[..16]));
    let label = docker(&[
        "image",
        "inspect",
        "--format",
        "{{index .Config.Labels \"coop.commonscloud.image\"}}",
        &first,
    ]);
    assert_eq!(label, "hello");
}

#[tokio::test]
async fn a_failing_build_reports_its_last_lines() {
    let e = engine().await;
    let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("{err}"));
    let dockerfile = format!("FROM {BASE}\nRUN echo broken-step-output && exit 3\n");
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap_or_else(|err| panic!("{err}"));
    let tag = "commonscloud-test/broken:never".to_string();
    let r = e
        .build(dir.path(), &tag, &BTreeMap::new(), &ProgressBar::hidden())
        .await;
    match r {
        Err(EngineError::Build {
            tag: t,
            message,
            last_lines,
        }) => {
            assert_eq!(t, tag);
            assert!(message.contains("returned a non-zero code: 3"), "{message}");
            assert!(
                last_lines.iter().any(|l| l.contains("broken-step-output")),
                "{last_lines:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!ok(e.image_exists(&tag).await));
}

#[tokio::test]
async fn hello_runs_healthy_keeps_its_data_and_answers_exec() {
    let e = engine().await;
    let run = Run::new();
    let image = hello_image(&e).await;
    let (network, volume) = hello_objects(&e, &run).await;
    let name = format!("{}-hello", run.node);
    let spec = hello_spec(&run, &name, &image, &volume, &network);

    let id = ok(e.create_container(&spec).await);
    ok(e.start_container(&id).await);
    let t = Instant::now();
    ok(e.wait_healthy(&id, HEALTHY_WITHIN).await);
    eprintln!("hello healthy {:?} after start", t.elapsed());

    let listed = ok(e.list_containers(&run.filter()).await);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].name, name);
    assert_eq!(listed[0].image, image);
    assert_eq!(listed[0].state, RunState::Running);
    assert_eq!(listed[0].health, HealthState::Healthy);
    assert!(listed[0].started_at.is_some());
    assert_eq!(
        listed[0].labels.get(labels::APP).map(String::as_str),
        Some("hello")
    );
    assert_eq!(
        ok(e.inspect_state(&id).await),
        (RunState::Running, HealthState::Healthy)
    );

    // Exec: captured output and exit codes, as the image's user and as root.
    let starts = ok(e.exec(&id, &sh("cat /data/starts.log"), None).await);
    assert_eq!(starts.exit_code, 0, "{starts:?}");
    assert_eq!(starts.stdout.lines().count(), 1, "{starts:?}");
    let who = ok(e.exec(&id, &sh("id -un"), None).await);
    assert_eq!(who.stdout.trim(), "hello");
    let failing = ok(e
        .exec(&id, &sh("echo out; echo broken >&2; exit 3"), None)
        .await);
    assert_eq!(failing.exit_code, 3);
    assert_eq!(failing.stdout, "out\n");
    assert_eq!(failing.stderr, "broken\n");
    let missing = ok(e.exec(&id, &["no-such-program".to_string()], None).await);
    assert_ne!(missing.exit_code, 0);

    // The uploaded file landed with its mode.
    let motd = ok(e
        .exec(
            &id,
            &sh("stat -c '%a %U' /etc/hello/motd && cat /etc/hello/motd"),
            Some("root"),
        )
        .await);
    assert_eq!(motd.stdout, "640 root\nwelcome\n", "{motd:?}");

    // HTTP: the page greets, /health answers and logs, the network alias resolves.
    let page = ok(e
        .exec(&id, &sh("busybox wget -q -O- http://127.0.0.1:8080/"), None)
        .await);
    assert!(page.stdout.contains("Bon dia, cooperativa"), "{page:?}");
    let health = ok(e
        .exec(
            &id,
            &sh("busybox wget -q -O- http://hello:8080/health"),
            None,
        )
        .await);
    assert_eq!(health.stdout.trim(), "ok", "{health:?}");
    let health_log = ok(e.exec(&id, &sh("cat /data/health.last"), None).await);
    assert!(
        health_log.stdout.trim().starts_with("20"),
        "the last check's time: {health_log:?}"
    );

    // Limits reached Docker.
    let limits = docker(&[
        "inspect",
        "--format",
        "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}} {{.Config.StopTimeout}}",
        &id,
    ]);
    assert_eq!(limits, "67108864 500000000 64 unless-stopped 5");

    // Logs, then followed.
    let logs = ok(e.logs(&id, 50).await);
    assert!(logs.contains("hello: serving on :8080 (start 1)"), "{logs}");
    let mut follow = Box::pin(ok(e.logs_follow(&id, 10).await));
    let first = tokio::time::timeout(Duration::from_secs(10), follow.next()).await;
    match first {
        Ok(Some(Ok(text))) => assert!(!text.is_empty()),
        other => panic!("{other:?}"),
    }
    drop(follow);

    // Recreated read-only, with the same volume: the data survives, files can still land in
    // the volume, and the root filesystem refuses writes.
    ok(e.stop_container(&id, Some(5)).await);
    assert_eq!(ok(e.inspect_state(&id).await).0, RunState::Exited);
    ok(e.remove_container(&id).await);
    ok(e.remove_container(&id).await);
    assert!(ok(e.list_containers(&run.filter()).await).is_empty());

    let mut spec = spec.clone();
    spec.read_only = true;
    spec.tmpfs = vec!["/tmp".to_string()];
    spec.files = vec![FileSpec {
        path: "/data/config/app.conf".to_string(),
        contents: b"mode=test\n".to_vec(),
        mode: 0o600,
    }];
    let id2 = ok(e.create_container(&spec).await);
    ok(e.start_container(&id2).await);
    ok(e.wait_healthy(&id2, HEALTHY_WITHIN).await);
    let starts = ok(e.exec(&id2, &sh("cat /data/starts.log"), None).await);
    assert_eq!(starts.stdout.lines().count(), 2, "{starts:?}");
    let conf = ok(e
        .exec(
            &id2,
            &sh("stat -c %a /data/config/app.conf; cat /data/config/app.conf"),
            Some("root"),
        )
        .await);
    assert_eq!(conf.stdout, "600\nmode=test\n");
    let write = ok(e.exec(&id2, &sh("touch /etc/x"), Some("root")).await);
    assert_ne!(write.exit_code, 0);
    assert!(write.stderr.contains("Read-only"), "{write:?}");
    let tmp = ok(e.exec(&id2, &sh("touch /tmp/x"), None).await);
    assert_eq!(tmp.exit_code, 0, "{tmp:?}");
}

#[tokio::test]
async fn a_container_that_exits_fails_wait_healthy_with_its_logs() {
    let e = engine().await;
    let run = Run::new();
    let image = hello_image(&e).await;
    let (network, volume) = hello_objects(&e, &run).await;
    let mut spec = hello_spec(
        &run,
        &format!("{}-dying", run.node),
        &image,
        &volume,
        &network,
    );
    spec.files.clear();
    // The entrypoint's first act is to write to /data: mounted read-only, it dies at once.
    spec.mounts[0].read_only = true;
    let id = ok(e.create_container(&spec).await);
    ok(e.start_container(&id).await);
    let t = Instant::now();
    let err = e.wait_healthy(&id, HEALTHY_WITHIN).await;
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    match err {
        Err(EngineError::Unhealthy {
            name,
            state,
            last_log_lines,
        }) => {
            assert_eq!(name, spec.name);
            assert!(
                state.contains("exit code 2") || state.contains("restart"),
                "{state}"
            );
            assert!(
                last_log_lines
                    .iter()
                    .any(|l| l.contains("Read-only file system")),
                "{last_log_lines:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_container_without_health_check_is_healthy_once_running() {
    let e = engine().await;
    let run = Run::new();
    let image = hello_image(&e).await;
    let (network, volume) = hello_objects(&e, &run).await;
    let mut spec = hello_spec(
        &run,
        &format!("{}-plain-health", run.node),
        &image,
        &volume,
        &network,
    );
    spec.health = Some(HealthSpec {
        test: vec!["NONE".to_string()],
        interval_ns: 0,
        timeout_ns: 0,
        retries: 0,
        start_period_ns: 0,
    });
    let id = ok(e.create_container(&spec).await);
    ok(e.start_container(&id).await);
    let t = Instant::now();
    ok(e.wait_healthy(&id, HEALTHY_WITHIN).await);
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(
        ok(e.inspect_state(&id).await),
        (RunState::Running, HealthState::None)
    );
}

#[tokio::test]
async fn networks_and_volumes_are_created_idempotently() {
    let e = engine().await;
    let run = Run::new();
    let net = NetworkSpec {
        name: format!("{}-internal", run.node),
        labels: run.labels("x"),
        internal: true,
    };
    let a = ok(e.ensure_network(&net).await);
    let b = ok(e.ensure_network(&net).await);
    assert_eq!(a, b);
    let (x, y) = tokio::join!(e.ensure_network(&net), e.ensure_network(&net));
    assert_eq!(ok(x), a);
    assert_eq!(ok(y), a);
    let nets = ok(e.list_networks(&run.filter()).await);
    assert_eq!(nets.len(), 1, "{nets:?}");
    assert_eq!(nets[0].name, net.name);
    assert_eq!(nets[0].id, a);
    assert_eq!(
        docker(&["network", "inspect", "--format", "{{.Internal}}", &net.name]),
        "true"
    );

    let vol = VolumeSpec {
        name: format!("{}-vol", run.node),
        labels: run.labels("x"),
    };
    ok(e.ensure_volume(&vol).await);
    ok(e.ensure_volume(&vol).await);
    let vols = ok(e.list_volumes(&run.filter()).await);
    assert_eq!(vols.len(), 1, "{vols:?}");
    assert_eq!(vols[0].labels, vol.labels);

    // Narrower filters narrow; removal is idempotent.
    let other_app = [(labels::NODE, run.node.as_str()), (labels::APP, "y")];
    assert!(ok(e.list_networks(&other_app).await).is_empty());
    assert!(ok(e.list_volumes(&other_app).await).is_empty());
    ok(e.remove_network(&net.name).await);
    ok(e.remove_network(&net.name).await);
    ok(e.remove_volume(&vol.name).await);
    ok(e.remove_volume(&vol.name).await);
    assert!(ok(e.list_networks(&run.filter()).await).is_empty());
    assert!(ok(e.list_volumes(&run.filter()).await).is_empty());
}

#[tokio::test]
async fn lists_never_show_and_calls_never_touch_unlabelled_objects() {
    let e = engine().await;
    ok(e.ensure_image(BASE, &ProgressBar::hidden()).await);
    let mut run = Run::new();
    let plain = format!("{}-plain", run.node);
    let other = format!("{}-other", run.node);
    run.extra_containers = vec![plain.clone(), other.clone()];
    run.extra_networks = vec![plain.clone()];
    run.extra_volumes = vec![plain.clone()];
    docker(&["create", "--name", &plain, BASE, "true"]);
    let other_label = format!("{}={}-elsewhere", labels::NODE, run.node);
    docker(&[
        "create",
        "--name",
        &other,
        "--label",
        &other_label,
        BASE,
        "true",
    ]);
    docker(&["network", "create", &plain]);
    docker(&["volume", "create", &plain]);
    assert!(!docker(&["ps", "-aq", "--filter", &format!("name={plain}")]).is_empty());

    // Ours: one labelled container (created, never started).
    let image = hello_image(&e).await;
    let (network, volume) = hello_objects(&e, &run).await;
    let spec = hello_spec(
        &run,
        &format!("{}-ours", run.node),
        &image,
        &volume,
        &network,
    );
    let id = ok(e.create_container(&spec).await);

    let listed = ok(e.list_containers(&run.filter()).await);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].state, RunState::Created);
    let names: Vec<String> = ok(e.list_networks(&run.filter()).await)
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(names, vec![network.clone()]);
    let names: Vec<String> = ok(e.list_volumes(&run.filter()).await)
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, vec![volume.clone()]);

    // A filter without the node label is refused outright.
    assert!(matches!(
        e.list_containers(&[(labels::APP, "hello")]).await,
        Err(EngineError::MissingNodeFilter)
    ));
    assert!(matches!(
        e.list_volumes(&[]).await,
        Err(EngineError::MissingNodeFilter)
    ));

    // Unlabelled objects are refused by name, and left in place.
    for r in [
        e.stop_container(&plain, None).await,
        e.remove_container(&plain).await,
        e.start_container(&plain).await,
        e.remove_network(&plain).await,
        e.remove_volume(&plain).await,
    ] {
        assert!(matches!(r, Err(EngineError::NotOurs { .. })), "{r:?}");
    }
    assert!(matches!(
        e.exec(&plain, &sh("true"), None).await,
        Err(EngineError::NotOurs { .. })
    ));
    let taken = NetworkSpec {
        name: plain.clone(),
        labels: run.labels("x"),
        internal: false,
    };
    assert!(matches!(
        e.ensure_network(&taken).await,
        Err(EngineError::NotOurs { .. })
    ));
    // Another node's object is not this node's either.
    let elsewhere = VolumeSpec {
        name: volume.clone(),
        labels: BTreeMap::from([(labels::NODE.to_string(), format!("{}-elsewhere", run.node))]),
    };
    assert!(matches!(
        e.ensure_volume(&elsewhere).await,
        Err(EngineError::NotOurs { .. })
    ));
    assert!(!docker(&["ps", "-aq", "--filter", &format!("name={plain}")]).is_empty());
    assert_eq!(
        docker(&["network", "inspect", "--format", "{{.Name}}", &plain]),
        plain
    );
}

#[test]
fn the_content_hash_follows_contents_names_and_the_executable_bit() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = dir.path();
    let write = |name: &str, text: &str| {
        let path = p.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
    };
    let chmod = |name: &str, mode: u32| {
        std::fs::set_permissions(p.join(name), std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("{e}"));
    };
    let hash = || commonscloud::engine::context_hash(p).unwrap_or_else(|e| panic!("{e}"));
    write("Dockerfile", "FROM debian:bookworm-slim\n");
    write("bin/run", "#!/bin/sh\n");
    let h1 = hash();
    assert_eq!(h1.len(), 64);
    assert_eq!(hash(), h1);
    chmod("bin/run", 0o755);
    let h2 = hash();
    assert_ne!(h2, h1);
    chmod("bin/run", 0o775);
    assert_eq!(hash(), h2, "only the executable bit counts, not the umask");
    write("bin/run", "#!/bin/sh\necho\n");
    assert_ne!(hash(), h2);
    std::fs::rename(p.join("bin/run"), p.join("bin/start")).unwrap_or_else(|e| panic!("{e}"));
    let h3 = hash();
    std::fs::create_dir(p.join("empty")).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(hash(), h3);
}

/// Slow (a full debootstrap of another suite, ~40 s); run with `--ignored`.
#[tokio::test]
#[ignore]
async fn two_bootstraps_at_once_make_one_image() {
    const TRIXIE: &str = "debian:trixie-slim";
    let (a, b) = (engine().await, engine().await);
    if ok(a.image_exists(TRIXIE).await) {
        docker(&["rmi", TRIXIE]);
    }
    let t = Instant::now();
    let (bar_a, bar_b) = (ProgressBar::hidden(), ProgressBar::hidden());
    let (x, y) = tokio::join!(
        a.ensure_image(TRIXIE, &bar_a),
        b.ensure_image(TRIXIE, &bar_b)
    );
    eprintln!(
        "two concurrent ensure_image({TRIXIE}) took {:?}",
        t.elapsed()
    );
    let label = docker(&[
        "image",
        "inspect",
        "--format",
        "{{index .Config.Labels \"coop.commonscloud.bootstrapped\"}}",
        TRIXIE,
    ]);
    let dangling = docker(&["images", "-q", "--filter", "dangling=true"]);
    let os = docker(&[
        "run",
        "--rm",
        TRIXIE,
        "sh",
        "-c",
        ". /etc/os-release; echo $VERSION_CODENAME",
    ]);
    docker(&["rmi", TRIXIE]);
    ok(x);
    ok(y);
    assert_eq!(label, "debootstrap --variant=minbase trixie");
    assert!(dangling.is_empty(), "{dangling}");
    assert_eq!(os, "trixie");
}
