//! The foundation against a real Docker engine: plan, up, idempotence, changes, removal,
//! destroy, self-healing, foreign containers, interrupted applies, failing health, bad input.

mod common;

use common::*;
use commonscloud::engine::labels;
use commonscloud::reconcile::plan::{Action, Reason};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn plan_lists_creations_up_is_healthy_and_second_up_changes_nothing() {
    let engine = engine().await;
    let node = TestNode::new(&[("hello", "hello", None)]);
    let web = node.container_name("hello", "web");

    let plan = node.plan(&engine).await;
    assert_eq!(
        changes(&plan),
        vec![(web.clone(), Action::Create, Reason::Missing)]
    );
    let nets: Vec<_> = plan.networks.iter().map(|n| n.name.clone()).collect();
    assert!(nets.contains(&format!("cc-{}-edge", node.name)), "{nets:?}");
    assert!(
        nets.contains(&format!("cc-{}-hello", node.name)),
        "{nets:?}"
    );
    assert_eq!(
        plan.volumes.len(),
        5,
        "hello's data, the directory's data and dumps, the edge's logs, the portal's state"
    );
    let directory = node.container_name("directory", "ldap");
    assert!(
        plan.containers
            .iter()
            .any(|s| s.container == directory && s.action == Action::Create),
        "every node runs its directory: {:?}",
        plan.containers
    );

    let report = node.up(&engine).await;
    assert!(report.apply.succeeded(), "{:?}", report.apply);
    assert_eq!(
        node.inspect(&web, "{{.State.Health.Status}}").as_deref(),
        Some("healthy")
    );
    let id = node.inspect(&web, "{{.Id}}");
    for (k, v) in [
        (labels::NODE, node.name.as_str()),
        (labels::APP, "hello"),
        (labels::COMPONENT, "web"),
        (labels::VERSION, "1.0.0-1"),
    ] {
        let got = node.inspect(&web, &format!("{{{{index .Config.Labels \"{k}\"}}}}"));
        assert_eq!(got.as_deref(), Some(v), "label {k}");
    }
    assert_eq!(
        node.inspect(
            &web,
            "{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config \"max-size\"}}"
        )
        .as_deref(),
        Some("json-file 10m"),
        "logs are rotated"
    );
    assert_eq!(
        node.inspect(
            &web,
            "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}"
        )
        .as_deref(),
        Some("33554432 unless-stopped"),
        "memory limit and restart policy"
    );
    let greeting = node
        .inspect(&web, "{{range .Config.Env}}{{println .}}{{end}}")
        .unwrap();
    assert!(
        greeting.contains(&format!(
            "GREETING=Hello from hello.{}.localhost",
            node.name
        )),
        "{greeting}"
    );

    let configure_log = || {
        let out = node.docker(&["exec", &web, "cat", "/data/configure.log"]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(
        configure_log(),
        "configured: Hello\n",
        "the configure hook ran once"
    );

    let again = node.plan(&engine).await;
    assert!(again.is_noop(), "second plan: {:?}", changes(&again));
    let report = node.up(&engine).await;
    assert!(report.plan.is_noop());
    assert!(report.apply.steps.is_empty(), "{:?}", report.apply.steps);
    assert_eq!(
        node.inspect(&web, "{{.Id}}"),
        id,
        "the container was not touched"
    );
    assert_eq!(configure_log(), "configured: Hello\n", "no start, no hook");

    // Status and history through the real binary, as JSON.
    let out = node.cli(&["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["app"], "directory");
    assert_eq!(rows[0]["health"], "healthy");
    assert_eq!(rows[1]["app"], "edge");
    assert_eq!(rows[1]["health"], "healthy");
    assert_eq!(rows[2]["app"], "portal");
    assert_eq!(rows[2]["health"], "healthy");
    assert_eq!(rows[3]["app"], "hello");
    assert_eq!(rows[3]["state"], "running");
    assert_eq!(rows[3]["health"], "healthy");
    assert_eq!(rows[3]["version"], "1.0.0-1");
    let out = node.cli(&["history", "--json"]);
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(entries.as_array().map(Vec::len), Some(2), "{entries}");
    assert_eq!(entries[0]["operation"], "up");
    assert_eq!(entries[0]["outcome"], "succeeded");
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_one_env_value_recreates_exactly_that_container() {
    let engine = engine().await;
    let node = TestNode::new(&[("hello", "a", None), ("hello", "b", None)]);
    assert!(node.up(&engine).await.apply.succeeded());
    let (a, b) = (
        node.container_name("a", "web"),
        node.container_name("b", "web"),
    );
    let (id_a, id_b) = (node.inspect(&a, "{{.Id}}"), node.inspect(&b, "{{.Id}}"));

    node.write_apps(&[("hello", "a", Some("Bon dia")), ("hello", "b", None)]);
    let plan = node.plan(&engine).await;
    assert_eq!(
        changes(&plan),
        vec![(a.clone(), Action::Recreate, Reason::ConfigChanged)]
    );
    assert!(node.up(&engine).await.apply.succeeded());
    assert_ne!(node.inspect(&a, "{{.Id}}"), id_a, "a was recreated");
    assert_eq!(node.inspect(&b, "{{.Id}}"), id_b, "b was not touched");
    // The data volume outlived the old container: two starts are recorded in it.
    let out = node.docker(&["exec", &a, "cat", "/data/starts.log"]);
    let starts = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(starts, 2, "{}", String::from_utf8_lossy(&out.stdout));
    let out = node.docker(&["exec", &a, "cat", "/data/configure.log"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "configured: Hello\nconfigured: Bon dia\n",
        "the configure hook ran after each start, with the new setting"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_the_image_rebuilds_and_recreates() {
    let engine = engine().await;
    let node = TestNode::new(&[("hello", "hello", None)]);
    assert!(node.up(&engine).await.apply.succeeded());
    let web = node.container_name("hello", "web");
    let before = node.inspect(&web, "{{.Image}}");

    // A change to a file the image is made of (its entrypoint), unique to this test.
    let entrypoint = node.share().join("images/hello/entrypoint.sh");
    let mut text = std::fs::read_to_string(&entrypoint).unwrap();
    text.push_str(&format!("# changed by test node {}\n", node.name));
    std::fs::write(&entrypoint, text).unwrap();
    let plan = node.plan(&engine).await;
    assert_eq!(
        changes(&plan),
        vec![(web.clone(), Action::Recreate, Reason::ImageChanged)]
    );
    assert_eq!(plan.images.len(), 1, "the changed image is to be built");
    let report = node.up(&engine).await;
    assert!(report.apply.succeeded(), "{:?}", report.apply);
    assert_ne!(node.inspect(&web, "{{.Image}}"), before);
    assert!(node.plan(&engine).await.is_noop());
    // Our per-test image goes away with the test.
    let tag = report.plan.images[0].source.reference().to_string();
    node.docker(&["rm", "-f", &web]);
    node.docker(&["rmi", &tag]);
}

#[tokio::test(flavor = "multi_thread")]
async fn removed_app_keeps_its_volume_until_destroy_is_confirmed() {
    let engine = engine().await;
    let node = TestNode::new(&[("hello", "a", None), ("hello", "b", None)]);
    assert!(node.up(&engine).await.apply.succeeded());
    let b = node.container_name("b", "web");
    let volume = format!("cc-{}-b-data", node.name);

    node.write_apps(&[("hello", "a", None)]);
    let plan = node.plan(&engine).await;
    assert_eq!(
        changes(&plan),
        vec![(b.clone(), Action::Remove, Reason::NoLongerDeclared)]
    );
    assert!(node.up(&engine).await.apply.succeeded());
    assert_eq!(node.inspect(&b, "{{.Id}}"), None, "container removed");
    assert!(node.volume_exists(&volume), "volume kept");

    // Without confirmation (no terminal, no --yes) nothing is destroyed.
    let out = node.cli(&["destroy", "b"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert!(node.volume_exists(&volume));
    // A declared app cannot be destroyed.
    let out = node.cli(&["destroy", "a", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("still declared"));
    // Confirmed: gone.
    let out = node.cli(&["destroy", "b", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!node.volume_exists(&volume), "volume destroyed");
    assert!(node.plan(&engine).await.is_noop());
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_or_removed_containers_come_back_and_foreign_ones_survive() {
    let engine = engine().await;
    let node = TestNode::new(&[("hello", "a", None), ("hello", "b", None)]);
    // A container that is not ours, on the same engine, even named like ours.
    let foreign = format!("cc-{}-foreign", node.name);
    let image = node
        .desired()
        .containers
        .iter()
        .find(|c| c.app == "a")
        .map(|c| c.image.reference().to_string())
        .unwrap();
    assert!(node.up(&engine).await.apply.succeeded());
    let out = node.docker(&[
        "run",
        "-d",
        "--name",
        &foreign,
        "--entrypoint",
        "sleep",
        &image,
        "600",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (a, b) = (
        node.container_name("a", "web"),
        node.container_name("b", "web"),
    );
    node.docker(&["kill", &a]);
    node.docker(&["rm", "-f", &b]);
    let plan = node.plan(&engine).await;
    let mut got = changes(&plan);
    got.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        got,
        vec![
            (a.clone(), Action::Recreate, Reason::NotRunning),
            (b.clone(), Action::Create, Reason::Missing),
        ]
    );
    assert!(node.up(&engine).await.apply.succeeded());
    for c in [&a, &b] {
        assert_eq!(
            node.inspect(c, "{{.State.Health.Status}}").as_deref(),
            Some("healthy")
        );
    }
    // Every command leaves the foreign container alone.
    for args in [
        vec!["plan"],
        vec!["status"],
        vec!["down"],
        vec!["up"],
        vec!["history"],
    ] {
        let out = node.cli(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            node.inspect(&foreign, "{{.State.Running}}").as_deref(),
            Some("true"),
            "after {args:?}"
        );
    }
    node.write_apps(&[]);
    assert!(node.cli(&["up"]).status.success());
    node.cli(&["destroy", "a", "--yes"]);
    assert_eq!(
        node.inspect(&foreign, "{{.State.Running}}").as_deref(),
        Some("true")
    );
    node.docker(&["rm", "-f", &foreign]);
}

#[tokio::test(flavor = "multi_thread")]
async fn down_stops_and_up_restarts_with_data_kept() {
    let engine = engine().await;
    let node = TestNode::new(&[("hello", "hello", None)]);
    assert!(node.up(&engine).await.apply.succeeded());
    let web = node.container_name("hello", "web");
    let out = node.cli(&["down"]);
    assert!(out.status.success());
    assert_eq!(
        node.inspect(&web, "{{.State.Running}}").as_deref(),
        Some("false")
    );
    let plan = node.plan(&engine).await;
    assert_eq!(
        changes(&plan),
        vec![(web.clone(), Action::Recreate, Reason::NotRunning)]
    );
    assert!(node.up(&engine).await.apply.succeeded());
    let out = node.docker(&["exec", &web, "cat", "/data/starts.log"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
}

/// Wait until journal entry `id` is open (an apply is under way), then a little more so that
/// containers are being replaced.
async fn wait_for_open_entry(node: &TestNode, id: i64) {
    let journal = node.paths.journal_file();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let running = commonscloud::state::Journal::open(&journal)
            .and_then(|j| j.list(1))
            .map(|e| e.first().is_some_and(|e| e.id == id && e.outcome.is_none()))
            .unwrap_or(false);
        if running {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "entry {id} never opened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apply_killed_halfway_then_rerun_converges() {
    let engine = engine().await;
    let apps = [
        ("hello", "a", None),
        ("hello", "b", None),
        ("hello", "c", None),
        ("hello", "d", None),
    ];
    let node = TestNode::new(&apps);
    // Make sure the image exists so the apply is spent creating containers.
    node.up(&engine).await;
    node.write_apps(&[
        ("hello", "a", Some("x")),
        ("hello", "b", Some("x")),
        ("hello", "c", Some("x")),
        ("hello", "d", Some("x")),
    ]);

    let mut child = node
        .command(&["up"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_open_entry(&node, 2).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let report = node.up(&engine).await;
    assert!(report.apply.succeeded(), "{:?}", report.apply);
    assert!(node.plan(&engine).await.is_noop());
    for app in ["a", "b", "c", "d"] {
        let c = node.container_name(app, "web");
        assert_eq!(
            node.inspect(&c, "{{.State.Health.Status}}").as_deref(),
            Some("healthy"),
            "{c}"
        );
    }
    // Ctrl-C: the run stops, says so with exit code 130, and its journal entry is closed.
    node.write_apps(&[
        ("hello", "a", Some("y")),
        ("hello", "b", Some("y")),
        ("hello", "c", Some("y")),
        ("hello", "d", Some("y")),
    ]);
    let child = node
        .command(&["up"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_open_entry(&node, 4).await;
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(node.up(&engine).await.apply.succeeded());
    assert!(node.plan(&engine).await.is_noop());

    // Both the killed and the interrupted runs are in the journal as such.
    let out = node.cli(&["history", "--json"]);
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let outcomes: Vec<_> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap_or("none").to_string())
        .collect();
    assert_eq!(
        outcomes,
        vec![
            "succeeded",
            "interrupted",
            "succeeded",
            "interrupted",
            "succeeded"
        ],
        "{entries}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_health_check_stops_at_that_step_and_names_it() {
    let engine = engine().await;
    let node = TestNode::new(&[("hello", "good", None)]);
    assert!(node.up(&engine).await.apply.succeeded());
    let good = node.container_name("good", "web");
    let good_id = node.inspect(&good, "{{.Id}}");

    // A recipe whose health check can never pass, and a component that depends on it.
    let recipe = node.share().join("recipes/sick");
    std::fs::create_dir_all(&recipe).unwrap();
    std::fs::write(
        recipe.join("recipe.yaml"),
        "id: sick\nversion: 1.0.0-1\ncomponents:\n  web:\n    build: hello\n    health:\n      cmd: [sh, -c, \"echo sick-health-output >&2; exit 1\"]\n      interval: 3s\n      timeout: 3s\n      retries: 1\n  after:\n    build: hello\n    depends_on: [web]\n",
    )
    .unwrap();
    node.write_apps(&[("hello", "good", None), ("sick", "sick", None)]);
    let out = node.cli(&["up"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let sick = node.container_name("sick", "web");
    assert!(stderr.contains(&sick), "names the component: {stderr}");
    assert!(
        stderr.contains("sick-health-output"),
        "shows what the check said: {stderr}"
    );
    assert!(
        stderr.contains("hello: serving on :8080"),
        "shows its last log lines: {stderr}"
    );
    assert!(
        stderr.contains("skipped"),
        "the dependent step was not attempted: {stderr}"
    );
    assert_eq!(
        node.inspect(&node.container_name("sick", "after"), "{{.Id}}"),
        None
    );
    assert_eq!(
        node.inspect(&good, "{{.Id}}"),
        good_id,
        "other apps untouched"
    );
    let entries: serde_json::Value =
        serde_json::from_slice(&node.cli(&["history", "--json"]).stdout).unwrap();
    assert_eq!(entries[0]["outcome"], "failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_before_any_docker_call() {
    let node = TestNode::new(&[("hello", "a", None)]);
    std::fs::write(
        &node.paths.config,
        format!("name: {}\ndomain: x.localhost\nedge: {{ address: 127.0.0.1, http_port: 0, https_port: 0 }}\napps:\n  - recipe: hello\n    host: a\n  - recipe: hello\n    host: a\n", node.name),
    )
    .unwrap();
    for cmd in ["check", "plan", "up"] {
        let out = node.cli(&[cmd]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {stderr}");
        assert!(stderr.contains("node.yaml:8:11"), "{cmd}: {stderr}");
        assert!(stderr.contains("apps[1].host"), "{cmd}: {stderr}");
    }
    let out = node.docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label={}={}", labels::NODE, node.name),
    ]);
    assert!(out.stdout.is_empty(), "nothing was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_docker_engine_gives_one_clear_sentence() {
    let node = TestNode::new(&[("hello", "a", None)]);
    let out = node
        .command(&["plan"])
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no-docker.sock", node.dir.path().display()),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
    assert!(stderr.contains("Docker"), "{stderr}");
}
