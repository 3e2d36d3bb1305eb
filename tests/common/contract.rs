//! Contract tests of app recipes: a sample node (two collectives, SMTP, the apps under test),
//! its desired state rendered offline (no Docker needed), and ways to look into it.
#![allow(dead_code)]

use super::TestNode;
use commonscloud::reconcile::desired::{DesiredContainer, DesiredHook};
use commonscloud::reconcile::DesiredState;

/// A node with collectives `fki` and `other`, SMTP settings, and `apps` (YAML list items,
/// indented by two spaces, e.g. `"  - { recipe: nextcloud, host: cloud }\n"`).
pub fn sample(apps: &str) -> (TestNode, DesiredState) {
    let node = TestNode::new(&[]);
    let yaml = format!(
        "name: {name}\ndomain: commons.example.coop\ntls: {{ mode: self-signed }}\n{edge}\
operator: {{ name: Commons, email: admin@example.coop }}\n\
smtp: {{ host: mail.example.coop, port: 587, username: noreply, from: noreply@example.coop }}\n\
collectives:\n  - {{ id: fki, name: Free Knowledge Institute }}\n  - {{ id: other, name: Other }}\n\
apps:\n{apps}",
        name = node.name,
        edge = super::TEST_EDGE,
    );
    std::fs::write(&node.paths.config, yaml).expect("write node.yaml");
    let desired = node.desired();
    (node, desired)
}

/// The container of `app`'s `component`; panics with the names there are.
pub fn container<'a>(d: &'a DesiredState, app: &str, component: &str) -> &'a DesiredContainer {
    d.containers
        .iter()
        .find(|c| c.app == app && c.component == component)
        .unwrap_or_else(|| {
            let names: Vec<_> = d
                .containers
                .iter()
                .map(|c| format!("{}/{}", c.app, c.component))
                .collect();
            panic!("no {app}/{component}; there are {names:?}")
        })
}

/// The rendered file at `path` in `app`'s `component`, as text.
pub fn file(d: &DesiredState, app: &str, component: &str, path: &str) -> String {
    let c = container(d, app, component);
    let f = c
        .spec
        .files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{app}/{component} has no file {path}"));
    String::from_utf8(f.contents.clone()).expect("a text file")
}

/// The rendered hook `kind` (`configure`, `backup`, `restore`, `upgrade`) of `app`.
pub fn hook<'a>(d: &'a DesiredState, app: &str, kind: &str) -> &'a DesiredHook {
    d.hooks
        .iter()
        .find(|h| h.app == app && h.kind == kind)
        .unwrap_or_else(|| panic!("{app} has no {kind} hook"))
}

/// Write `contents` into a fresh temporary folder as `name`; returns the folder and the path.
pub fn temp_file(name: &str, contents: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).expect("mkdir");
    }
    std::fs::write(&path, contents).expect("write");
    (dir, path)
}

/// `php -l` on a file; panics with PHP's message when it is not valid PHP.
pub fn php_lint(name: &str, contents: &str) {
    let (_dir, path) = temp_file(name, contents);
    let out = std::process::Command::new("php")
        .arg("-l")
        .arg(&path)
        .output()
        .expect("php (apt install php-cli; scripts/test installs it)");
    assert!(
        out.status.success(),
        "php -l {name}: {}{}\n{contents}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether live app tests are enabled (`COMMONSCLOUD_LIVE_APPS=1`, see docs/testing.md): they
/// pull upstream images, so they need a reachable registry.
pub fn live() -> bool {
    std::env::var("COMMONSCLOUD_LIVE_APPS").is_ok_and(|v| v == "1")
}

/// The password of the people [`live_people`] makes.
pub const LIVE_PASSWORD: &str = "correct horse battery staple";

/// For live tests: accounts `alice` (a member of fki) and `bob` (of no collective), both with
/// [`LIVE_PASSWORD`], made through the real binary.
pub fn live_people(node: &TestNode) {
    for (user, email) in [("alice", "alice@example.coop"), ("bob", "bob@example.coop")] {
        node.cli_ok(
            &["user", "add", user, "--name", user, "--email", email],
            None,
        );
        node.cli_ok(
            &["user", "passwd", user],
            Some(&format!("{LIVE_PASSWORD}\n")),
        );
    }
    node.cli_ok(&["member", "add", "fki", "alice"], None);
}
