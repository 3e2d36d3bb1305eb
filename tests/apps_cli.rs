//! `commonscloud app` on a real engine: the catalogue, an install the host cannot carry
//! refused with the numbers, and an install whose configure hook fails taken out again with
//! nothing left behind (node.yaml, containers, volumes, secrets, database, directory).

mod common;

use common::{engine, text, TestNode};

const HUGE: &str = "id: huge\nversion: 1.0.0-1\ncomponents:\n  web:\n    build: hello\naccess:\n  policy: none\nrequirements:\n  memory: 64T\n  disk: 1M\n";

const BROKEN: &str = r#"id: broken
version: 1.0.0-1
description: Its configure hook always fails.
components:
  web:
    build: hello
    env:
      GREETING: "broken"
      DB: "{{ addons.postgres.database }}"
    volumes: [{ name: data, path: /data }]
    health:
      cmd: [busybox, wget, -q, -O, /dev/null, "http://127.0.0.1:8080/cgi-bin/health"]
      interval: 1s
      timeout: 1s
      retries: 3
addons: [ldap, postgres]
hooks:
  configure:
    component: web
    command: [sh, -c, "echo 'cannot reach the frobnicator' >&2; exit 3"]
    timeout: 20s
"#;

fn add_recipe(node: &TestNode, id: &str, yaml: &str) {
    let dir = node.share().join("recipes").join(id);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("recipe.yaml"), yaml).expect("recipe");
}

#[tokio::test(flavor = "multi_thread")]
async fn installs_are_checked_and_a_failed_one_leaves_nothing_behind() {
    let node = TestNode::new(&[("hello", "www", None)]);
    add_recipe(&node, "huge", HUGE);
    add_recipe(&node, "broken", BROKEN);
    let engine = engine().await;
    assert!(node.up(&engine).await.apply.succeeded());
    let before = std::fs::read_to_string(&node.paths.config).expect("node.yaml");

    // The catalogue: installable recipes only (no platform service, no addon).
    let out = node.cli(&["app", "list", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let ids: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["recipe"].as_str())
        .collect();
    for want in ["dokuwiki", "hello", "nextcloud", "broken"] {
        assert!(ids.contains(&want), "{ids:?}");
    }
    for platform in [
        "directory",
        "edge",
        "portal",
        "postgres",
        "mariadb",
        "redis",
    ] {
        assert!(!ids.contains(&platform), "{ids:?}");
    }
    let hello = list
        .as_array()
        .and_then(|a| a.iter().find(|e| e["recipe"] == "hello"))
        .expect("hello");
    assert_eq!(hello["installed"], serde_json::json!(["www"]));

    // More memory than the machine has: refused with the numbers, nothing changed.
    let out = node.cli(&["app", "install", "huge", "--host", "big"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("memory") && said.contains("total") && said.contains("TiB"),
        "{said}"
    );
    assert_eq!(std::fs::read_to_string(&node.paths.config).unwrap(), before);

    // A bad host is refused against node.yaml, before anything runs.
    let out = node.cli(&["app", "install", "hello", "--host", "Bad_Host"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("node.yaml"), "{}", text(&out));

    // The configure hook fails: the install stops with its output and takes everything out.
    let out = node.cli(&["app", "install", "broken", "--host", "bad"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("cannot reach the frobnicator"), "{said}");
    assert!(said.contains("taken out again"), "{said}");
    assert_eq!(std::fs::read_to_string(&node.paths.config).unwrap(), before);
    assert!(node
        .inspect(&node.container_name("bad", "web"), "{{.Name}}")
        .is_none());
    assert!(!node.volume_exists(&format!("cc-{}-bad-data", node.name)));
    assert!(!node
        .paths
        .secrets_dir()
        .join(format!("{}-bad", node.name))
        .exists());
    let pg = node.container_name("postgres", "db");
    if node.inspect(&pg, "{{.Name}}").is_some() {
        let out = node.docker(&[
            "exec", "-u", "postgres", &pg, "psql", "-X", "-At", "-c",
            "SELECT datname FROM pg_database WHERE datname = 'cc3_bad' UNION ALL SELECT rolname FROM pg_roles WHERE rolname = 'cc3_bad'",
        ]);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "",
            "database left"
        );
    }
    let found = node
        .ldapsearch(&engine, None, "(|(cn=app-bad)(cn=bad))", &["dn"])
        .await;
    assert!(found.status.success(), "{}", text(&found));
    assert_eq!(
        String::from_utf8_lossy(&found.stdout).trim(),
        "",
        "left in the directory"
    );

    // A good install works and `app info` describes it; remove keeps the data by default.
    let out = node.cli(&[
        "app",
        "install",
        "hello",
        "--host",
        "two",
        "--set",
        "greeting=Bon dia",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let yaml = std::fs::read_to_string(&node.paths.config).unwrap();
    assert!(
        yaml.starts_with(&before),
        "the operator's text is kept: {yaml}"
    );
    assert!(yaml.contains("host: \"two\""), "{yaml}");
    let out = node.cli(&["app", "info", "two", "--json"]);
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(info["url"], format!("https://two.{}.localhost", node.name));
    assert_eq!(info["containers"][0]["health"], "healthy", "{info}");
    let out = node.cli(&["app", "remove", "two"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("its data stays"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&node.paths.config).unwrap(), before);
    assert!(node.volume_exists(&format!("cc-{}-two-data", node.name)));
    // --purge wants a confirmation when it cannot ask.
    let out = node.cli(&["app", "remove", "www", "--purge"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = node.cli(&["destroy", "two", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
}
