//! Backups of a node on a real engine with real restic: a DokuWiki instance, an app with a
//! PostgreSQL database and the directory are backed up, changed and restored (checksums,
//! database rows, LDAP entries compared); a backup killed midway leaves the repository
//! consistent and the next one works; then the whole node is rebuilt from its repository and
//! password alone, on an engine with none of its objects, and the same people log in.

mod common;

use common::{engine, text, TestNode};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A recipe on the hello image with a PostgreSQL database and a data volume.
const NOTES: &str = r#"id: notes
version: 1.0.0-1
description: A test app with a database.
components:
  web:
    build: hello
    env:
      GREETING: "notes"
      DB: "{{ addons.postgres.database }}"
    volumes: [{ name: files, path: /data }]
    health:
      cmd: [busybox, wget, -q, -O, /dev/null, "http://127.0.0.1:8080/cgi-bin/health"]
      interval: 1s
      timeout: 1s
      retries: 3
addons: [postgres]
access:
  policy: none
"#;

const PASSWORD: &str = "lantern-pebble-orchard-47";

fn write_node(node: &TestNode, repo: &std::path::Path) {
    let yaml = format!(
        "name: {n}\ndomain: {n}.localhost\ntls: {{ mode: self-signed }}\n{edge}\
collectives:\n  - {{ id: fki, name: Free Knowledge Institute }}\n\
apps:\n  - {{ recipe: dokuwiki, host: wiki }}\n  - {{ recipe: notes, host: notes }}\n\
backup: {{ repository: {repo}, schedule: daily 03:30, keep: {{ daily: 7, weekly: 4, monthly: 6 }} }}\n",
        n = node.name,
        edge = common::TEST_EDGE,
        repo = repo.display(),
    );
    std::fs::write(&node.paths.config, yaml).expect("node.yaml");
}

fn json(node: &TestNode, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&node.cli_ok(args, None)).expect("json")
}

/// `sh -c script` in a container; its output, which must succeed.
fn sh(node: &TestNode, container: &str, script: &str) -> String {
    let out = node.docker(&["exec", container, "sh", "-c", script]);
    assert!(
        out.status.success(),
        "{container}: {script}: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A checksum of every file of the wiki's data (names and contents).
fn wiki_sum(node: &TestNode) -> String {
    sh(
        node,
        &node.container_name("wiki", "web"),
        "cd /var/lib/dokuwiki/data && find pages media -type f | sort | xargs sha256sum",
    )
}

fn psql(node: &TestNode, sql: &str) -> String {
    let pw = std::fs::read_to_string(
        node.paths
            .secrets_dir()
            .join(format!("{}-notes/postgres_password", node.name)),
    )
    .expect("secret");
    let out = node.docker(&[
        "exec",
        "-e",
        &format!("PGPASSWORD={}", pw.trim()),
        &node.container_name("postgres", "db"),
        "psql",
        "-X",
        "-q",
        "-At",
        "-h",
        "127.0.0.1",
        "-U",
        "cc5_notes",
        "-d",
        "cc5_notes",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        sql,
    ]);
    assert!(out.status.success(), "{sql}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether `user` can bind to the node's directory with `password`.
async fn can_bind(node: &TestNode, user: &str, password: &str) -> bool {
    let engine = engine().await;
    let conn = commonscloud::ops::directory::connection(&engine, &node.paths, &node.loaded())
        .await
        .expect("connection");
    Command::new("ldapwhoami")
        .args(["-x", "-H", &conn.url, "-D"])
        .arg(format!("uid={user},ou=people,{}", conn.base_dn))
        .args(["-w", password])
        .output()
        .expect("ldapwhoami")
        .status
        .success()
}

fn snapshot_of(list: &serde_json::Value, app: &str) -> String {
    list.as_array()
        .expect("array")
        .iter()
        .rev()
        .find(|s| s["app"] == app)
        .and_then(|s| s["id"].as_str())
        .unwrap_or_else(|| panic!("no snapshot of {app}: {list}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn back_up_change_restore_survive_a_kill_and_rebuild_the_node_from_its_repository() {
    let node = TestNode::new(&[]);
    let dir = node.share().join("recipes/notes");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("recipe.yaml"), NOTES).expect("recipe");
    let repo = node.dir.path().join("repo");
    write_node(&node, &repo);
    let engine = engine().await;
    let up = node.up(&engine).await;
    assert!(up.apply.succeeded(), "{:?}", up.apply);

    // Data: a person, wiki pages, database rows.
    node.cli_ok(
        &[
            "user",
            "add",
            "ana",
            "--name",
            "Ana Nova",
            "--email",
            "ana@example.test",
        ],
        None,
    );
    node.cli_ok(&["user", "passwd", "ana"], Some(PASSWORD));
    let wiki = node.container_name("wiki", "web");
    sh(&node, &wiki, "printf '====== Minutes ======\\nWe agreed.\\n' > /var/lib/dokuwiki/data/pages/minutes.txt && printf 'keep me\\n' > /var/lib/dokuwiki/data/pages/keep.txt && chown www-data: /var/lib/dokuwiki/data/pages/*.txt");
    psql(
        &node,
        "CREATE TABLE notes(id int, t text); INSERT INTO notes VALUES (1, 'first'), (2, 'second')",
    );

    // The first backup makes the repository and shows its password once.
    let report = json(&node, &["backup", "now", "--json"]);
    let password = report["new_password"]
        .as_str()
        .expect("a new password")
        .to_string();
    let apps: Vec<&str> = report["units"]
        .as_array()
        .expect("units")
        .iter()
        .map(|u| {
            assert!(u["error"].is_null(), "{u}");
            u["app"].as_str().unwrap_or_default()
        })
        .collect();
    for want in ["directory", "portal", "wiki", "notes", "node"] {
        assert!(apps.contains(&want), "{apps:?}");
    }
    let secret = node
        .paths
        .secrets_dir()
        .join(format!("{}-backup/restic_password", node.name));
    let mode = std::fs::metadata(&secret)
        .expect("secret")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&secret).unwrap().trim(), password);
    // The repository is encrypted: no page text in it.
    let grep = Command::new("grep")
        .args(["-r", "-l", "We agreed", &repo.display().to_string()])
        .output()
        .expect("grep");
    assert!(grep.stdout.is_empty(), "plain text in the repository");
    let again = json(&node, &["backup", "now", "--json"]);
    assert!(
        again["new_password"].is_null(),
        "the password is shown once"
    );
    let wiki_unit = again["units"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["app"] == "wiki"))
        .expect("wiki")
        .clone();
    assert_eq!(wiki_unit["files_new"], 0, "incremental: {wiki_unit}");

    let before_sum = wiki_sum(&node);
    let list = json(&node, &["backup", "list", "--json"]);
    let (wiki_snap, notes_snap, dir_snap) = (
        snapshot_of(&list, "wiki"),
        snapshot_of(&list, "notes"),
        snapshot_of(&list, "directory"),
    );

    // Change and delete.
    sh(&node, &wiki, "echo 'vandalised' > /var/lib/dokuwiki/data/pages/minutes.txt && rm /var/lib/dokuwiki/data/pages/keep.txt && echo new > /var/lib/dokuwiki/data/pages/new.txt");
    psql(
        &node,
        "DELETE FROM notes WHERE id = 1; INSERT INTO notes VALUES (3, 'third')",
    );
    node.cli_ok(&["user", "remove", "ana", "--yes"], None);
    node.cli_ok(
        &[
            "user",
            "add",
            "bob",
            "--name",
            "Bob Nova",
            "--email",
            "bob@example.test",
        ],
        None,
    );
    assert_ne!(wiki_sum(&node), before_sum);
    assert!(!can_bind(&node, "ana", PASSWORD).await);

    // Restore each: files, rows and entries are back; a safety snapshot was made first.
    for (app, snap) in [
        ("wiki", &wiki_snap),
        ("notes", &notes_snap),
        ("directory", &dir_snap),
    ] {
        let r = json(&node, &["backup", "restore", app, snap, "--json"]);
        assert!(r["safety_snapshot"].is_string(), "{r}");
    }
    assert_eq!(wiki_sum(&node), before_sum);
    assert_eq!(
        psql(&node, "SELECT id, t FROM notes ORDER BY id"),
        "1|first\n2|second"
    );
    assert!(can_bind(&node, "ana", PASSWORD).await, "ana is back");
    let out = node.cli(&["user", "show", "bob"]);
    assert!(
        !out.status.success(),
        "bob came after the snapshot: {}",
        text(&out)
    );
    let status = json(&node, &["status", "--json"]);
    for row in status.as_array().expect("rows") {
        assert_eq!(row["health"], "healthy", "{row}");
    }
    let listed = json(&node, &["backup", "list", "--json"]);
    assert!(listed.as_array().map(Vec::len) > list.as_array().map(Vec::len));

    // A backup killed midway: the repository stays consistent, the next backup works.
    sh(
        &node,
        &wiki,
        "dd if=/dev/urandom of=/var/lib/dokuwiki/data/media/big.bin bs=1M count=300 2>/dev/null",
    );
    let child = node
        .command(&["backup", "now", "wiki"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let prefix = format!("cc-{}-backup-", node.name);
    let t = Instant::now();
    let job = loop {
        let out = node.docker(&["ps", "-q", "--filter", &format!("name={prefix}")]);
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        // The backup job, not the init: it has the wiki's volume.
        if !id.is_empty() {
            let mounts = node
                .inspect(&id, "{{range .Mounts}}{{.Destination}} {{end}}")
                .unwrap_or_default();
            if mounts.contains("/backup/volumes/wiki") {
                break id;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "no backup job appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(700));
    let killed = node.docker(&["kill", &job]);
    assert!(killed.status.success(), "{}", text(&killed));
    let out = child.wait_with_output().expect("wait");
    assert!(!out.status.success(), "the killed backup must fail");
    let verified = json(&node, &["backup", "verify", "--read-data", "100", "--json"]);
    assert_eq!(verified["read_data_percent"], 100, "{verified}");
    assert_eq!(
        node.inspect(&wiki, "{{.State.Health.Status}}").as_deref(),
        Some("healthy"),
        "the app keeps running"
    );
    let next = json(&node, &["backup", "now", "--json"]);
    for u in next["units"].as_array().expect("units") {
        assert!(u["error"].is_null(), "{u}");
    }
    // A scheduled run right after is not due.
    let sched = json(&node, &["backup", "now", "--scheduled", "--json"]);
    assert!(
        sched["units"].as_array().is_some_and(|u| !u.is_empty())
            || sched["not_due_until"].is_string(),
        "{sched}"
    );
    let sum_at_backup = wiki_sum(&node);

    // The whole node, on "a fresh machine": none of its Docker objects, no node.yaml, no state.
    let filter = format!("label=coop.commonscloud.node={}", node.name);
    for (kind, rm) in [
        ("ps", vec!["rm", "-f", "-v"]),
        ("volume", vec!["volume", "rm", "-f"]),
        ("network", vec!["network", "rm"]),
    ] {
        let list_args: Vec<&str> = match kind {
            "ps" => vec!["ps", "-aq", "--filter", &filter],
            "volume" => vec!["volume", "ls", "-q", "--filter", &filter],
            _ => vec!["network", "ls", "-q", "--filter", &filter],
        };
        let out = node.docker(&list_args);
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if !ids.is_empty() {
            let mut args = rm.clone();
            args.extend(ids.iter().map(String::as_str));
            node.docker(&args);
        }
    }
    let password_file = node.dir.path().join("password-copy");
    std::fs::write(&password_file, format!("{password}\n")).expect("copy");
    std::fs::remove_file(&node.paths.config).expect("rm node.yaml");
    std::fs::remove_dir_all(&node.paths.state_dir).expect("rm state");
    // A wrong password is refused clearly, and changes nothing.
    let wrong = node.dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-password\n").expect("wrong");
    let out = node.cli(&[
        "restore",
        "--from",
        &repo.display().to_string(),
        "--password-file",
        &wrong.display().to_string(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("password"), "{}", text(&out));
    assert!(!node.paths.config.exists());

    let restored = json(
        &node,
        &[
            "restore",
            "--from",
            &repo.display().to_string(),
            "--password-file",
            &password_file.display().to_string(),
            "--json",
        ],
    );
    assert_eq!(restored["node"], node.name.as_str(), "{restored}");
    assert!(node.paths.config.exists());
    let status = json(&node, &["status", "--json"]);
    for row in status.as_array().expect("rows") {
        assert_eq!(row["health"], "healthy", "{row}");
    }
    assert!(
        can_bind(&node, "ana", PASSWORD).await,
        "the same people log in"
    );
    assert_eq!(wiki_sum(&node), sum_at_backup);
    assert_eq!(
        psql(&node, "SELECT id, t FROM notes ORDER BY id"),
        "1|first\n2|second"
    );
}
