//! Scheduled backups on a real engine: a run that fails mails the operator (through a real
//! SMTP server), a run that works prunes and checks the repository, and a run that is not due
//! does nothing.

mod common;

use common::smtp::TestSmtp;
use common::{engine, TestNode};

fn write_node(node: &TestNode, smtp: &TestSmtp, repo: &std::path::Path) {
    let yaml = format!(
        "name: {n}\ndomain: {n}.localhost\ntls: {{ mode: self-signed }}\n{edge}\
operator: {{ name: Ops, email: ops@example.test }}\n\
smtp: {{ host: 127.0.0.1, port: {port}, from: node@example.test, security: none }}\n\
apps:\n  - {{ recipe: hello, host: www }}\n\
backup: {{ repository: {repo}, schedule: daily 03:30, keep: {{ daily: 7 }} }}\n",
        n = node.name,
        edge = common::TEST_EDGE,
        port = smtp.port,
        repo = repo.display(),
    );
    std::fs::write(&node.paths.config, yaml).expect("node.yaml");
}

fn run(node: &TestNode, args: &[&str]) -> (bool, serde_json::Value, String) {
    let out = node.cli(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), json, err)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_scheduled_backup_mails_the_operator_and_a_done_one_is_not_repeated() {
    let node = TestNode::new(&[]);
    let smtp = TestSmtp::start();
    // A repository "under" a regular file cannot be made.
    let blocker = node.dir.path().join("not-a-folder");
    std::fs::write(&blocker, "x").expect("file");
    write_node(&node, &smtp, &blocker.join("repo"));
    let engine = engine().await;
    assert!(node.up(&engine).await.apply.succeeded());

    let (ok, _, err) = run(&node, &["backup", "now", "--scheduled", "--json"]);
    assert!(!ok, "the run must fail: {err}");
    let mail = smtp
        .wait_for("ops@example.test", "the scheduled backup failed")
        .await;
    assert!(mail.text.contains("not-a-folder"), "{}", mail.text);
    assert!(
        mail.text.contains("commonscloud backup now"),
        "{}",
        mail.text
    );

    // Fixed: the run is due (no successful scheduled run yet), backs up, prunes, checks.
    let repo = node.dir.path().join("repo");
    write_node(&node, &smtp, &repo);
    let (ok, report, err) = run(&node, &["backup", "now", "--scheduled", "--json"]);
    assert!(ok, "{err}");
    for u in report["units"].as_array().expect("units") {
        assert!(u["error"].is_null(), "{u}");
    }
    let check = report["check"].as_str().unwrap_or_default();
    assert!(check.starts_with("ok: 5% of the data"), "{report}");
    assert!(report["not_due_until"].is_null());

    // Right after, it is not due until tomorrow 03:30; nothing runs.
    let (ok, report, err) = run(&node, &["backup", "now", "--scheduled", "--json"]);
    assert!(ok, "{err}");
    let until = report["not_due_until"].as_str().expect("not due");
    assert!(until.contains("T03:30:00"), "{until}");
    assert!(
        report["units"].as_array().is_none_or(|u| u.is_empty()),
        "{report}"
    );
    // Only the failure was mailed.
    assert_eq!(smtp.to("ops@example.test").len(), 1);
}
