//! The shared database addons on a real engine: PostgreSQL and MariaDB shared by the node's
//! apps, one Redis per instance. Two instances get separate databases and cannot read each
//! other's; destroying one drops its database and role and leaves the other's.

mod common;

use common::{engine, TestNode};
use std::os::unix::fs::PermissionsExt;

/// A recipe on the hello image that asks for every database addon and shows its credentials
/// in its environment.
const DBAPP: &str = r#"id: dbapp
version: 1.0.0-1
description: A test app with every database addon.
components:
  web:
    build: hello
    env:
      GREETING: "db app"
      PG_URL: "{{ addons.postgres.url }}"
      PG_DATABASE: "{{ addons.postgres.database }}"
      MY_HOST: "{{ addons.mariadb.host }}"
      MY_DATABASE: "{{ addons.mariadb.database }}"
      REDIS_HOST: "{{ addons.redis.host }}"
    health:
      cmd: [busybox, wget, -q, -O, /dev/null, "http://127.0.0.1:8080/cgi-bin/health"]
      interval: 1s
      timeout: 1s
      retries: 3
addons: [postgres, mariadb, redis]
access:
  policy: none
"#;

fn node_with(apps: &[&str]) -> TestNode {
    let node = TestNode::new(&[]);
    let dir = node.share().join("recipes/dbapp");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("recipe.yaml"), DBAPP).expect("recipe");
    write(&node, apps);
    node
}

fn write(node: &TestNode, apps: &[&str]) {
    let mut yaml = format!(
        "name: {n}\ndomain: {n}.localhost\ntls: {{ mode: self-signed }}\n{}apps:\n",
        common::TEST_EDGE,
        n = node.name
    );
    for a in apps {
        yaml.push_str(&format!("  - {{ recipe: dbapp, host: {a} }}\n"));
    }
    std::fs::write(&node.paths.config, yaml).expect("node.yaml");
}

fn secret(node: &TestNode, app: &str, name: &str) -> String {
    let path = node
        .paths
        .secrets_dir()
        .join(format!("{}-{app}", node.name))
        .join(name);
    let mode = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    std::fs::read_to_string(&path)
        .expect("secret")
        .trim()
        .to_string()
}

/// Run `sh -c script` in a container with `env`; (exit code, stdout + stderr).
fn sh(node: &TestNode, container: &str, env: &[(&str, &str)], script: &str) -> (i32, String) {
    let mut args = vec!["exec".to_string()];
    for (k, v) in env {
        args.push("-e".into());
        args.push(format!("{k}={v}"));
    }
    args.extend([
        container.to_string(),
        "sh".into(),
        "-c".into(),
        script.into(),
    ]);
    let out = node.docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_get_separate_databases_and_cannot_read_each_others() {
    let node = node_with(&["a-b", "axb"]);
    let engine = engine().await;
    let report = node.up(&engine).await;
    assert!(report.apply.succeeded(), "{:?}", report.apply);
    let provisioned = report.directory.expect("provisioned");
    assert_eq!(
        provisioned.databases,
        [
            "postgres/cc3_a_b",
            "mariadb/cc3_a_b",
            "postgres/cc3_axb",
            "mariadb/cc3_axb"
        ]
    );
    let pg = node.container_name("postgres", "db");
    let my = node.container_name("mariadb", "db");
    for c in [
        &pg,
        &my,
        &node.container_name("a-b", "redis"),
        &node.container_name("axb", "redis"),
    ] {
        assert_eq!(
            node.inspect(c, "{{.State.Health.Status}}").as_deref(),
            Some("healthy"),
            "{c}"
        );
    }
    // Memory limits come from the host's size.
    let limit: u64 = node
        .inspect(&pg, "{{.HostConfig.Memory}}")
        .and_then(|m| m.parse().ok())
        .expect("a memory limit");
    assert!((256 << 20..=4096 << 20).contains(&limit), "{limit}");

    // The app sees its own credentials.
    let env = node
        .inspect(&node.container_name("a-b", "web"), "{{json .Config.Env}}")
        .expect("env");
    let pa = secret(&node, "a-b", "postgres_password");
    let ma = secret(&node, "a-b", "mariadb_password");
    let mb = secret(&node, "axb", "mariadb_password");
    let pb = secret(&node, "axb", "postgres_password");
    assert_ne!(pa, pb);
    assert!(
        env.contains(&format!(
            "PG_URL=postgresql://cc3_a_b:{pa}@postgres-db:5432/cc3_a_b"
        )),
        "{env}"
    );
    assert!(
        env.contains("MY_DATABASE=cc3_a_b") && env.contains("REDIS_HOST=redis"),
        "{env}"
    );

    // PostgreSQL over the network, as the apps connect: a writes its own database...
    let psql = |user: &str, pw: &str, db: &str, sql: &str| {
        sh(
            &node,
            &pg,
            &[("PGPASSWORD", pw)],
            &format!(
                "psql -X -q -h 127.0.0.1 -U {user} -d {db} -v ON_ERROR_STOP=1 -At -c \"{sql}\""
            ),
        )
    };
    let (code, out) = psql(
        "cc3_a_b",
        &pa,
        "cc3_a_b",
        "CREATE TABLE notes(t text); INSERT INTO notes VALUES ('mine'); SELECT t FROM notes",
    );
    assert_eq!((code, out.trim()), (0, "mine"), "{out}");
    // ...b cannot even connect to a's, nor can a wrong password.
    let (code, out) = psql("cc3_axb", &pb, "cc3_a_b", "SELECT 1");
    assert_ne!(code, 0);
    assert!(out.contains("permission denied for database"), "{out}");
    let (code, out) = psql("cc3_a_b", "wrong", "cc3_a_b", "SELECT 1");
    assert_ne!(code, 0);
    assert!(out.contains("password authentication failed"), "{out}");

    // MariaDB: a writes its own; b sees only its own database and is refused a's.
    let mysql = |user: &str, pw: &str, sql: &str| {
        sh(
            &node,
            &my,
            &[("MYSQL_PWD", pw)],
            &format!("mariadb -h 127.0.0.1 -u {user} -N -B -e \"{sql}\""),
        )
    };
    let (code, out) = mysql("cc3_a_b", &ma, "CREATE TABLE cc3_a_b.notes(t text); INSERT INTO cc3_a_b.notes VALUES ('mine'); SELECT t FROM cc3_a_b.notes");
    assert_eq!((code, out.trim()), (0, "mine"), "{out}");
    // The prefix grant lets an app make more databases of its own (Phorge), none of others'.
    let (code, out) = mysql("cc3_a_b", &ma, "CREATE DATABASE cc3_a_b_extra");
    assert_eq!(code, 0, "{out}");
    let (code, out) = mysql("cc3_axb", &mb, "SHOW DATABASES");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("cc3_axb") && !out.contains("cc3_a_b"), "{out}");
    // `_` is a wildcard in MariaDB's grants: a-b (cc3_a_b) must not reach axb (cc3_axb).
    let (code, out) = mysql("cc3_a_b", &ma, "SHOW DATABASES");
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("cc3_axb"), "{out}");
    let (code, out) = mysql("cc3_axb", &mb, "SELECT t FROM cc3_a_b.notes");
    assert_ne!(code, 0);
    assert!(out.contains("denied"), "{out}");
    let (code, out) = mysql("cc3_axb", &mb, "CREATE DATABASE cc3_a_b_theirs");
    assert_ne!(code, 0, "{out}");

    // Each instance's Redis wants its own password.
    let ra = node.container_name("a-b", "redis");
    let (_, out) = sh(&node, &ra, &[], "redis-cli ping");
    assert!(out.contains("NOAUTH"), "{out}");
    let rpa = secret(&node, "a-b", "redis_password");
    let (_, out) = sh(&node, &ra, &[("REDISCLI_AUTH", &rpa)], "redis-cli ping");
    assert!(out.contains("PONG"), "{out}");

    // A second up changes nothing (provisioning is idempotent).
    let again = node.up(&engine).await;
    assert!(common::changes(&again.plan).is_empty(), "{:?}", again.plan);
    let (code, out) = psql("cc3_a_b", &pa, "cc3_a_b", "SELECT t FROM notes");
    assert_eq!((code, out.trim()), (0, "mine"), "{out}");

    // axb leaves node.yaml and is destroyed: its databases and role go, a's stay.
    write(&node, &["a-b"]);
    let after = node.up(&engine).await;
    assert!(after.apply.succeeded(), "{:?}", after.apply);
    let out = node.cli(&["destroy", "axb", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, out) = sh(&node, &pg, &[], "setpriv --reuid postgres --regid postgres --init-groups psql -X -U postgres -At -c \"SELECT datname FROM pg_database WHERE datname LIKE 'cc3%' UNION ALL SELECT rolname FROM pg_roles WHERE rolname LIKE 'cc3%'\"");
    assert_eq!(code, 0, "{out}");
    let mut names: Vec<&str> = out.split_whitespace().collect();
    names.sort();
    assert_eq!(names, ["cc3_a_b", "cc3_a_b"], "{out}");
    let (code, out) = sh(&node, &my, &[], "mariadb -N -B -e \"SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'cc3%'; SELECT user FROM mysql.user WHERE user LIKE 'cc3%'\"");
    assert_eq!(code, 0, "{out}");
    let mut names: Vec<&str> = out.split_whitespace().collect();
    names.sort();
    assert_eq!(names, ["cc3_a_b", "cc3_a_b", "cc3_a_b_extra"], "{out}");
}
