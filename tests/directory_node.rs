//! The directory as part of a node: `up` runs it, makes it hold the collectives of node.yaml
//! (with their admins once they have accounts), gives each app that uses `ldap` its own
//! read-only account and access group, leaves the tree unchanged when run again, and `destroy`
//! removes the app's entries.

mod common;

use common::*;
use commonscloud::directory::{Directory, NewUser};
use commonscloud::ops;
use std::process::Command;

/// Every entry under the base with its attributes, as the supervisor sees them (operational
/// timestamps excluded), sorted: two equal snapshots mean an unchanged tree.
fn snapshot(conn: &commonscloud::directory::Connection) -> String {
    let out = Command::new("ldapsearch")
        .args([
            "-x",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-H",
            &conn.url,
            "-D",
            &conn.bind_dn,
            "-w",
            &conn.password,
            "-b",
            &conn.base_dn,
            "(objectClass=*)",
            "*",
        ])
        .output()
        .expect("ldapsearch (ldap-utils)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut entries: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split("\n\n")
        .map(|e| {
            let mut lines: Vec<&str> = e.lines().collect();
            lines.sort();
            lines.join("\n")
        })
        .collect();
    entries.sort();
    entries.join("\n\n")
}

fn search(conn: &commonscloud::directory::Connection, bind: (&str, &str), filter: &str) -> String {
    let out = Command::new("ldapsearch")
        .args([
            "-x",
            "-LLL",
            "-H",
            &conn.url,
            "-D",
            bind.0,
            "-w",
            bind.1,
            "-b",
            &conn.base_dn,
            filter,
            "dn",
        ])
        .output()
        .expect("ldapsearch");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn up_provisions_collectives_and_app_accounts_and_destroy_forgets_them() {
    let engine = engine().await;
    let node = TestNode::new(&[]);
    // A recipe like hello that logs people in through the directory.
    let recipe_dir = node.share().join("recipes/team");
    std::fs::create_dir_all(&recipe_dir).unwrap();
    let hello = std::fs::read_to_string(node.share().join("recipes/hello/recipe.yaml")).unwrap();
    std::fs::write(
        recipe_dir.join("recipe.yaml"),
        hello
            .replace("id: hello", "id: team")
            .replace("components:", "addons: [ldap]\ncomponents:")
            .replace(
                "GREETING: \"",
                "LDAP_URL: \"{{ addons.ldap.url }}\"\n      LDAP_BIND_DN: \"{{ addons.ldap.bind_dn }}\"\n      LDAP_FILTER: \"{{ addons.ldap.user_filter }}\"\n      GREETING: \"",
            ),
    )
    .unwrap();
    std::fs::write(
        &node.paths.config,
        format!(
            "name: {n}\ndomain: {n}.localhost\nedge: {{ address: 127.0.0.1, http_port: 0, https_port: 0 }}\ncollectives:\n  - {{ id: coop-a, name: Coop A, admins: [alice] }}\napps:\n  - {{ recipe: team, host: team, collective: coop-a }}\n",
            n = node.name
        ),
    )
    .unwrap();

    let report = node.up(&engine).await;
    assert!(report.apply.succeeded(), "{:?}", report.apply);
    let provisioned = report.directory.expect("the directory was provisioned");
    assert_eq!(provisioned.collectives, vec!["coop-a".to_string()]);
    assert_eq!(provisioned.app_accounts, vec!["team".to_string()]);
    assert_eq!(provisioned.admins_waiting, vec!["coop-a:alice".to_string()]);

    let loaded = node.loaded();
    let conn = ops::directory::connection(&engine, &node.paths, &loaded)
        .await
        .unwrap();
    let base = conn.base_dn.clone();
    // The collective and the instance's access group exist.
    let found = search(
        &conn,
        (&conn.bind_dn, &conn.password),
        "(objectClass=groupOfNames)",
    );
    for dn in [
        format!("cn=members,ou=coop-a,ou=collectives,{base}"),
        format!("cn=admins,ou=coop-a,ou=collectives,{base}"),
        format!("cn=team,ou=services,ou=coop-a,ou=collectives,{base}"),
    ] {
        assert!(found.contains(&dn), "{dn} missing in:\n{found}");
    }
    // The app's own account binds with the password its container was given, and reads people.
    let container = node.container_name("team", "web");
    let env = node
        .inspect(&container, "{{range .Config.Env}}{{println .}}{{end}}")
        .unwrap();
    let app_dn = format!("cn=app-team,ou=system,{base}");
    assert!(env.contains(&format!("LDAP_BIND_DN={app_dn}")), "{env}");
    assert!(env.contains("LDAP_URL=ldap://directory-ldap:389"), "{env}");
    assert!(
        env.contains(&format!(
            "LDAP_FILTER=(&(objectClass=inetOrgPerson)(memberOf=cn=members,ou=coop-a,ou=collectives,{base}))"
        )),
        "{env}"
    );
    let app_password = std::fs::read_to_string(
        node.paths
            .secrets_dir()
            .join(format!("{}-team/ldap_password", node.name)),
    )
    .unwrap();
    let out = Command::new("ldapwhoami")
        .args([
            "-x",
            "-H",
            &conn.url,
            "-D",
            &app_dn,
            "-w",
            app_password.trim(),
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&app_dn),
        "the app account binds: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The app container finds the directory by its name on the directory's network.
    let out = node.docker(&["exec", &container, "getent", "hosts", "directory-ldap"]);
    assert!(
        out.status.success(),
        "app → directory: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A second up leaves the tree exactly as it was.
    let before = snapshot(&conn);
    assert!(node.up(&engine).await.apply.succeeded());
    assert_eq!(snapshot(&conn), before, "re-running up changed the tree");

    // Once alice has an account, the next up makes her an admin (and member) of coop-a.
    let dir = Directory::connect(&conn).await.unwrap();
    dir.add_user(&NewUser {
        username: "alice".into(),
        display_name: "Alice Example".into(),
        email: "alice@example.coop".into(),
        language: None,
    })
    .await
    .unwrap();
    let report = node.up(&engine).await;
    assert!(report.directory.unwrap().admins_waiting.is_empty());
    let alice = dir.show_user("alice").await.unwrap();
    assert_eq!(alice.admin_of, vec!["coop-a".to_string()]);
    dir.close().await;

    // The app leaves node.yaml, then is destroyed: its account and group go too.
    std::fs::write(
        &node.paths.config,
        format!(
            "name: {n}\ndomain: {n}.localhost\nedge: {{ address: 127.0.0.1, http_port: 0, https_port: 0 }}\ncollectives:\n  - {{ id: coop-a, name: Coop A, admins: [alice] }}\napps: []\n",
            n = node.name
        ),
    )
    .unwrap();
    assert!(node.up(&engine).await.apply.succeeded());
    let out = node.cli(&["destroy", "team", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = search(
        &conn,
        (&conn.bind_dn, &conn.password),
        "(|(cn=app-team)(cn=team))",
    );
    assert!(found.trim().is_empty(), "left in the directory:\n{found}");
}

/// Run the binary with `input` on its standard input.
fn cli_with_input(node: &TestNode, args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = node
        .command(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_directory_commands_manage_collectives_people_and_admins() {
    let engine = engine().await;
    let node = TestNode::new(&[]);
    // Before `up`, the commands say what to do.
    let out = node.cli(&["collective", "list"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("commonscloud up"));
    assert!(node.up(&engine).await.apply.succeeded());

    let ok = |args: &[&str]| {
        let out = node.cli(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(&[
        "collective",
        "add",
        "coop",
        "--name",
        "La Coop (Barcelona), *",
    ]);
    ok(&[
        "user",
        "add",
        "bob",
        "--name",
        "Bob Ñandú",
        "--email",
        "bob@example.coop",
    ]);
    ok(&["member", "add", "coop", "bob"]);
    ok(&["admin", "grant", "coop", "bob"]);
    let out = cli_with_input(
        &node,
        &["user", "passwd", "bob"],
        "correct horse battery staple\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let show: serde_json::Value =
        serde_json::from_str(&ok(&["user", "show", "bob", "--json"])).unwrap();
    assert_eq!(show["display_name"], "Bob Ñandú");
    assert_eq!(show["admin_of"], serde_json::json!(["coop"]));
    let list: serde_json::Value =
        serde_json::from_str(&ok(&["collective", "list", "--json"])).unwrap();
    assert_eq!(list[0]["id"], "coop");
    assert_eq!(
        list[0]["name"], "La Coop (Barcelona), *",
        "stored literally"
    );

    // bob's password works with a real outside client; disabled, it does not.
    let loaded = node.loaded();
    let conn = ops::directory::connection(&engine, &node.paths, &loaded)
        .await
        .unwrap();
    let bob = format!("uid=bob,ou=people,{}", conn.base_dn);
    let whoami = || {
        Command::new("ldapwhoami")
            .args([
                "-x",
                "-H",
                &conn.url,
                "-D",
                &bob,
                "-w",
                "correct horse battery staple",
            ])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(whoami());
    ok(&["user", "disable", "bob"]);
    assert!(!whoami(), "a disabled account cannot bind");
    ok(&["user", "enable", "bob"]);
    assert!(whoami());

    // Bad input is refused with exit 2 and changes nothing.
    for args in [
        &[
            "user",
            "add",
            "Bob*",
            "--name",
            "x",
            "--email",
            "x@example.coop",
        ][..],
        &["collective", "add", "co)op", "--name", "x"],
        &["member", "add", "coop", "*"],
    ] {
        let out = node.cli(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
    // A collective with members cannot be removed; the message says what to do.
    let out = node.cli(&["collective", "remove", "coop"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("member"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ok(&["member", "remove", "coop", "bob"]);
    ok(&["collective", "remove", "coop"]);
    ok(&["user", "remove", "bob", "--yes"]);
    assert!(!whoami());
}
