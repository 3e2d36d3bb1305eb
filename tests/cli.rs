//! The real binary, as an operator runs it: init, check, plan, completions, man pages, doctor,
//! history, version, and what it says on bad command lines. Each test has its own temporary
//! folder for node.yaml and the state; the share folder is the repository unless a test needs
//! a modified copy. Tests that talk to Docker use a node named `t-<random>` and clean up.

mod common;

use clap::CommandFactory;
use common::{copy_dir, repo, Cleanup, DOCKER};
use commonscloud::engine::labels;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// A temporary folder holding `node.yaml` and `state/`, and the share folder to use.
struct Sandbox {
    dir: tempfile::TempDir,
    share: PathBuf,
}

/// What one run of the binary did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Panics with both streams unless the exit code is `code`.
    fn expect(self, code: i32, what: &str) -> Run {
        assert_eq!(
            self.code,
            Some(code),
            "{what}: exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

impl Sandbox {
    /// Share folder = the repository.
    fn new() -> Sandbox {
        Sandbox::with_share(repo())
    }

    fn with_share(share: PathBuf) -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
            share,
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("node.yaml")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn write_config(&self, text: &str) {
        std::fs::write(self.config(), text).unwrap();
    }

    /// Run `commonscloud ARGS` from inside the sandbox, with its paths in the environment.
    fn run(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_commonscloud"))
            .args(args)
            .current_dir(self.dir.path())
            .env("COMMONSCLOUD_CONFIG", self.config())
            .env("COMMONSCLOUD_STATE", self.state())
            .env("COMMONSCLOUD_SHARE", &self.share)
            .output()
            .unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// A node `t-<random>` with one `hello` app, written to node.yaml; dropping the returned
    /// guard removes every Docker object carrying its label.
    fn test_node(&self) -> Cleanup {
        let name = format!("t-{:08x}", rand::random::<u32>());
        self.write_config(&format!(
            "name: {name}\ndomain: {name}.localhost\ntls: {{ mode: self-signed }}\nedge: {{ address: 127.0.0.1, http_port: 0, https_port: 0 }}\napps:\n  - recipe: hello\n    host: hello\n"
        ));
        Cleanup { name }
    }
}

/// Ids of the Docker objects (`ps -a`, `network ls`, `volume ls`) carrying the node's label;
/// `None` when docker fails. Never panics: it is used while a test may be failing.
fn labelled(kind: &[&str], node: &str) -> Option<Vec<String>> {
    let filter = format!("label={}={node}", labels::NODE);
    let mut args = kind.to_vec();
    args.extend(["-q", "--filter", &filter]);
    let out = Command::new(DOCKER).args(&args).output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    })
}

/// The subcommands clap knows, `help` aside.
fn subcommands() -> Vec<String> {
    commonscloud::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|n| n != "help")
        .collect()
}

#[test]
fn init_writes_a_commented_node_yaml_that_check_accepts() {
    let sb = Sandbox::new();
    let run = sb
        .run(&["init", "--domain", "cloud.example.coop"])
        .expect(0, "init");
    assert!(
        run.stdout.contains(&sb.config().display().to_string()),
        "names the file: {}",
        run.stdout
    );
    let text = std::fs::read_to_string(sb.config()).unwrap();
    assert!(text.starts_with('#'), "starts with a comment:\n{text}");
    assert!(
        text.lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .count()
            >= 10,
        "commented:\n{text}"
    );
    assert!(text.contains("\ndomain: cloud.example.coop\n"), "{text}");

    let run = sb.run(&["check"]).expect(0, "check");
    assert!(
        run.stdout.contains("node `cloud-example-coop` is valid"),
        "names the node: {}",
        run.stdout
    );

    // The default domain, in a folder that does not exist yet, given by flag.
    let nested = sb.dir.path().join("etc/commonscloud/node.yaml");
    let nested = nested.to_str().unwrap();
    sb.run(&["init", "--config", nested]).expect(0, "init");
    let run = sb.run(&["-c", nested, "check"]).expect(0, "check");
    assert!(
        run.stdout
            .contains("node `commonscloud-localhost` is valid"),
        "{}",
        run.stdout
    );
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let sb = Sandbox::new();
    sb.write_config("# mine\n");
    let run = sb.run(&["init"]).expect(2, "init over a file");
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(sb.config()).unwrap(), "# mine\n");

    sb.run(&["init", "--force"]).expect(0, "init --force");
    let text = std::fs::read_to_string(sb.config()).unwrap();
    assert!(text.contains("domain: commonscloud.localhost"), "{text}");
}

#[test]
fn init_refuses_a_bad_domain() {
    let sb = Sandbox::new();
    for domain in [
        "Not A Domain",
        "localhost",
        "Cloud.example.coop",
        "-cloud.example.coop",
        "cloud-.example.coop",
        "cloud..example.coop",
        "cloud_1.example.coop",
        "",
    ] {
        let flag = format!("--domain={domain}");
        let run = sb.run(&["init", &flag]).expect(2, domain);
        assert!(
            run.stderr.contains("is not a domain name"),
            "{domain:?}: {}",
            run.stderr
        );
        assert!(!sb.config().exists(), "{domain:?}: nothing written");
    }
    // Refused even with --force over an existing file, which stays as it was.
    sb.write_config("# mine\n");
    sb.run(&["init", "--force", "--domain", "Not A Domain"])
        .expect(2, "bad domain with --force");
    assert_eq!(std::fs::read_to_string(sb.config()).unwrap(), "# mine\n");
}

#[test]
fn check_prints_each_problem_at_its_place_and_changes_nothing() {
    let sb = Sandbox::new();
    sb.write_config(
        "name: t-check\ndomain: t-check.localhost\napps:\n  - recipe: hello\n    host: a\n  - recipe: nosuch\n    host: a\n",
    );
    let run = sb.run(&["check"]).expect(2, "check");
    let file = sb.config().display().to_string();
    for expected in [
        format!("{file}:6:13: apps[1].recipe: there is no recipe `nosuch`"),
        format!(
            "{file}:7:11: apps[1].host: `a` is already used by apps[0] — pick another host name"
        ),
    ] {
        assert!(
            run.stderr.contains(&expected),
            "missing `{expected}` in:\n{}",
            run.stderr
        );
    }
    // Every line is `file:line:col: path: message — hint`.
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    for line in lines {
        let rest = line
            .trim_start_matches("error: ")
            .strip_prefix(&format!("{file}:"))
            .unwrap_or_else(|| panic!("starts with the file: {line}"));
        let mut parts = rest.splitn(4, ':');
        let (l, c) = (parts.next().unwrap(), parts.next().unwrap());
        assert!(l.parse::<usize>().is_ok(), "line number: {line}");
        assert!(c.parse::<usize>().is_ok(), "column number: {line}");
        let path = parts.next().unwrap().trim();
        assert!(path.starts_with("apps["), "field path: {line}");
        assert!(
            parts.next().is_some_and(|m| m.contains(" — ")),
            "message — hint: {line}"
        );
    }
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(!sb.state().exists(), "bad input changes nothing");

    // `--config` beats COMMONSCLOUD_CONFIG.
    let good = sb.dir.path().join("good.yaml");
    std::fs::write(
        &good,
        "name: t-check\ndomain: t-check.localhost\napps:\n  - recipe: hello\n    host: a\n",
    )
    .unwrap();
    let run = sb
        .run(&["check", "--config", good.to_str().unwrap()])
        .expect(0, "check --config");
    assert!(
        run.stdout
            .contains("node `t-check` is valid: 1 app, 1 container"),
        "{}",
        run.stdout
    );

    // A missing file is bad input too.
    let none = sb.dir.path().join("none.yaml");
    let run = sb
        .run(&["check", "-c", none.to_str().unwrap()])
        .expect(2, "check of a missing file");
    assert!(
        run.stderr
            .contains(&format!("{}: cannot read", none.display())),
        "{}",
        run.stderr
    );
}

#[test]
fn check_all_recipes_also_validates_recipes_no_app_uses() {
    // The repository's own recipes are all valid.
    let sb = Sandbox::new();
    sb.run(&["init"]).expect(0, "init");
    sb.run(&["check", "--all-recipes"])
        .expect(0, "check --all-recipes of the repository");

    // A share with one more, broken, recipe that node.yaml does not use.
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("share");
    copy_dir(&repo().join("recipes"), &share.join("recipes"));
    copy_dir(&repo().join("images"), &share.join("images"));
    copy_dir(
        &repo().join("tests/corpus/recipe/bad-version/app"),
        &share.join("recipes/app"),
    );
    let sb = Sandbox::with_share(share.clone());
    sb.run(&["init"]).expect(0, "init");
    sb.run(&["check"]).expect(0, "check ignores unused recipes");
    let run = sb
        .run(&["check", "--all-recipes"])
        .expect(2, "check --all-recipes");
    let recipe = share.join("recipes/app/recipe.yaml").display().to_string();
    assert!(
        run.stderr
            .contains(&format!("{recipe}:2:10: version: `1.0.0` is not")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("{recipe}:4:17: components.web.build:")),
        "{}",
        run.stderr
    );
}

#[test]
fn plan_json_on_an_empty_engine_creates_everything_and_changes_nothing() {
    let sb = Sandbox::new();
    let node = sb.test_node();
    let run = sb.run(&["plan", "--json"]).expect(0, "plan --json");
    let plan: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.stdout));
    assert_eq!(plan["node"], node.name.as_str());

    // The node's own services (directory, edge) come first, then the declared app.
    let containers = plan["containers"].as_array().expect("a containers array");
    assert_eq!(containers.len(), 4, "{plan:#}");
    for step in containers {
        assert_eq!(step["action"], "create", "{step}");
        assert_eq!(step["reason"], "missing", "{step}");
    }
    assert_eq!(containers[0]["app"], "directory");
    assert_eq!(containers[1]["app"], "edge");
    assert_eq!(containers[2]["app"], "portal");
    assert_eq!(containers[3]["app"], "hello");
    assert_eq!(containers[3]["component"], "web");
    assert_eq!(
        containers[3]["container"],
        format!("cc-{}-hello-web", node.name).as_str()
    );
    let names = |key: &str| -> Vec<(String, String)> {
        plan[key]
            .as_array()
            .unwrap_or_else(|| panic!("a {key} array: {plan:#}"))
            .iter()
            .map(|s| {
                assert_eq!(s["reason"], "missing", "{s}");
                (
                    s["name"].as_str().unwrap().to_string(),
                    s["action"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let create = |n: String| (n, "create".to_string());
    assert_eq!(
        names("networks"),
        vec![
            create(format!("cc-{}-edge", node.name)),
            create(format!("cc-{}-directory", node.name)),
            create(format!("cc-{}-edge", node.name)),
            create(format!("cc-{}-portal", node.name)),
            create(format!("cc-{}-hello", node.name)),
        ]
    );
    assert_eq!(
        names("volumes"),
        vec![
            create(format!("cc-{}-directory-data", node.name)),
            create(format!("cc-{}-directory-dumps", node.name)),
            create(format!("cc-{}-edge-logs", node.name)),
            create(format!("cc-{}-portal-state", node.name)),
            create(format!("cc-{}-hello-data", node.name))
        ]
    );
    assert!(plan["images"].is_array(), "{plan:#}");

    // Planning touched nothing in Docker.
    for kind in [&["ps", "-a"][..], &["network", "ls"], &["volume", "ls"]] {
        assert_eq!(
            labelled(kind, &node.name),
            Some(vec![]),
            "docker {kind:?} after plan"
        );
    }

    // The human plan says the same.
    let run = sb.run(&["plan"]).expect(0, "plan");
    assert!(
        run.stdout.contains(&format!("node `{}`", node.name)),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.lines().any(|l| l.starts_with("create")
            && l.contains("container")
            && l.contains(&format!("cc-{}-hello-web", node.name))
            && l.ends_with("missing")),
        "{}",
        run.stdout
    );
}

#[test]
fn completions_print_scripts_naming_the_subcommands() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let run = sb.run(&["completions", shell]).expect(0, shell);
        assert!(run.stdout.len() > 500, "{shell}: {}", run.stdout);
        assert!(run.stdout.contains("commonscloud"), "{shell}");
        for sub in subcommands() {
            assert!(run.stdout.contains(&sub), "{shell} names `{sub}`");
        }
        assert!(run.stdout.contains("all-recipes"), "{shell}: flags too");
    }
    let run = sb.run(&["completions", "tcsh"]).expect(2, "unknown shell");
    assert!(run.stderr.contains("tcsh"), "{}", run.stderr);
}

#[test]
fn man_writes_one_page_per_subcommand() {
    let sb = Sandbox::new();
    let out = sb.dir.path().join("share/man/man1");
    sb.run(&["man", "--out", out.to_str().unwrap()])
        .expect(0, "man");
    let subs = subcommands();
    for expected in [
        "init",
        "check",
        "plan",
        "up",
        "status",
        "logs",
        "down",
        "destroy",
        "doctor",
        "history",
        "completions",
        "man",
    ] {
        assert!(subs.iter().any(|s| s == expected), "{expected} in {subs:?}");
    }
    // One page per command at every level: `commonscloud-user-add`, …
    fn walk(prefix: &str, cmd: &clap::Command, out: &mut Vec<String>) {
        out.push(prefix.to_string());
        for sub in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
            walk(&format!("{prefix}-{}", sub.get_name()), sub, out);
        }
    }
    let mut pages = vec![];
    walk(
        "commonscloud",
        &commonscloud::cli::Cli::command(),
        &mut pages,
    );
    assert!(pages.contains(&"commonscloud-user-passwd".to_string()));
    for page in &pages {
        let file = out.join(format!("{page}.1"));
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // The title comes first, after roff's quote-string preamble (`.ie` / `.el`).
        let title = text
            .lines()
            .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "))
            .unwrap_or_default();
        assert!(
            title.starts_with(&format!(".TH {page} 1")),
            "{page}: first request is `{title}`"
        );
        assert!(text.contains(".SH NAME"), "{page}");
    }
    let up = std::fs::read_to_string(out.join("commonscloud-up.1")).unwrap();
    assert!(up.contains("install\\-docker"), "{up}");
    // Nothing else was written.
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    pages.iter_mut().for_each(|p| p.push_str(".1"));
    pages.sort();
    assert_eq!(written, pages);
}

#[test]
fn doctor_json_reports_every_check() {
    let sb = Sandbox::new();
    sb.run(&["init"]).expect(0, "init");
    let run = sb.run(&["doctor", "--json"]);
    // 3 when the host fails a check (a busy port 80, say): not this test's business.
    assert!(
        matches!(run.code, Some(0) | Some(3)),
        "{:?}: {}",
        run.code,
        run.stderr
    );
    let checks: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.stdout));
    let checks = checks.as_array().expect("an array of checks");
    let mut names = vec![];
    for c in checks {
        let name = c["name"].as_str().unwrap_or_else(|| panic!("name: {c}"));
        let status = c["status"]
            .as_str()
            .unwrap_or_else(|| panic!("status: {c}"));
        assert!(
            ["ok", "warn", "fail"].contains(&status),
            "{name}: status {status}"
        );
        assert!(
            c["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "detail: {c}"
        );
        names.push(name.to_string());
    }
    for expected in ["docker", "memory", "port 80", "port 443", "clock"] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
    assert!(names.iter().any(|n| n.starts_with("disk")), "{names:?}");
    assert!(
        !names.iter().any(|n| n == "node.yaml"),
        "node.yaml is valid: {names:?}"
    );
    let docker = checks.iter().find(|c| c["name"] == "docker").unwrap();
    assert_eq!(docker["status"], "ok", "{docker}");
    let any_fail = checks.iter().any(|c| c["status"] == "fail");
    assert_eq!(run.code, Some(if any_fail { 3 } else { 0 }), "exit code");
    // The memory check counts what the recipes need (directory 64 MiB + edge 32 MiB + portal
    // 64 MiB + hello 32 MiB).
    let memory = checks.iter().find(|c| c["name"] == "memory").unwrap();
    assert!(
        memory["detail"].as_str().unwrap().contains("192 MiB"),
        "{memory}"
    );
}

#[test]
fn history_json_on_a_fresh_state_dir_is_empty() {
    let sb = Sandbox::new();
    let run = sb.run(&["history", "--json"]).expect(0, "history --json");
    let entries: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.stdout));
    assert_eq!(entries, serde_json::json!([]));
    let run = sb.run(&["history"]).expect(0, "history");
    assert_eq!(
        run.stdout.lines().count(),
        1,
        "a header only: {}",
        run.stdout
    );
    assert!(run.stdout.starts_with("ID"), "{}", run.stdout);
}

#[test]
fn version_names_the_program_and_its_version() {
    let sb = Sandbox::new();
    for flag in ["--version", "-V"] {
        let run = sb.run(&[flag]).expect(0, flag);
        assert_eq!(
            run.stdout.trim(),
            format!("commonscloud {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn unknown_subcommands_flags_and_values_exit_2() {
    let sb = Sandbox::new();
    for args in [
        &["frobnicate"][..],
        &["--frobnicate"],
        &["check", "--frobnicate"],
        &["plan", "extra"],
        &["history", "--limit", "many"],
        &["logs"],
        &[],
    ] {
        let run = sb.run(args).expect(2, &format!("{args:?}"));
        assert!(run.stderr.contains("error:"), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("--help"), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
    assert!(!sb.state().exists(), "nothing was created");
    assert!(!sb.config().exists(), "nothing was created");
}

#[test]
fn logs_of_an_unknown_app_exits_2_and_points_to_status() {
    let sb = Sandbox::new();
    let node = sb.test_node();
    let run = sb.run(&["logs", "nosuch"]).expect(2, "logs nosuch");
    assert!(
        run.stderr.contains(&format!(
            "node `{}` has no container for app `nosuch`",
            node.name
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("commonscloud status"), "{}", run.stderr);
    // A declared app that was never brought up has no containers either.
    let run = sb
        .run(&["logs", "hello", "web", "-n", "5"])
        .expect(2, "logs hello web");
    assert!(run.stderr.contains("component `web`"), "{}", run.stderr);
    assert!(run.stderr.contains("commonscloud status"), "{}", run.stderr);
}

/// Regression: `check` used to generate the secrets a recipe declares; it must change nothing.
#[test]
fn check_and_plan_write_no_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("share");
    copy_dir(&repo().join("recipes"), &share.join("recipes"));
    copy_dir(&repo().join("images"), &share.join("images"));
    let recipe = share.join("recipes/hello/recipe.yaml");
    let text = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(
        &recipe,
        text.replace("components:", "secrets: [db_password]\ncomponents:")
            .replace(
                "GREETING: \"",
                "PASSWORD: \"{{ secrets.db_password }}\"\n      GREETING: \"",
            ),
    )
    .unwrap();
    let sb = Sandbox::with_share(share);
    let _node = sb.test_node();
    sb.run(&["check"]).expect(0, "check");
    sb.run(&["plan"]).expect(0, "plan");
    assert!(
        !sb.state().join("secrets").exists(),
        "check and plan created the secrets folder"
    );
}
