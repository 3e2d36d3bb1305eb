//! The corpus of `node.yaml` and `recipe.yaml` inputs under tests/corpus/: valid ones must
//! load; each malformed one must be refused with its own message, at its exact line and
//! column, naming its field path, and saying what to do.
//!
//! - `good/`: a valid node, its recipes and images; the recipes and images of every node case.
//! - `node/<case>.yaml`: one malformed node.yaml each, loaded against `good/`.
//! - `recipe/<case>/app/recipe.yaml`: one malformed recipe each, loaded as recipe `app`.

use commonscloud::model::{
    load, load_all_recipes, load_recipe, parse_node, parse_recipe, Diagnostic, Diagnostics,
};
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn good() -> PathBuf {
    corpus().join("good")
}

/// One malformed input and the one problem it must report.
struct Case {
    name: &'static str,
    path: &'static str,
    line: usize,
    column: usize,
    fragment: &'static str,
}

const fn case(
    name: &'static str,
    path: &'static str,
    line: usize,
    column: usize,
    fragment: &'static str,
) -> Case {
    Case {
        name,
        path,
        line,
        column,
        fragment,
    }
}

const NODE_CASES: &[Case] = &[
    // Syntax.
    case("syntax-unclosed-bracket", "apps", 2, 7, "unclosed bracket"),
    case(
        "syntax-bad-indentation",
        "apps[0].recipe",
        4,
        10,
        "mapping values are not allowed",
    ),
    case("empty", "", 1, 1, "the file is empty"),
    case("duplicate-key", "domain", 4, 1, "`domain` is given twice"),
    // Unknown and missing fields.
    case(
        "unknown-field-top",
        "colectives",
        2,
        1,
        "unknown field `colectives`",
    ),
    case(
        "unknown-field-app",
        "apps[0].hots",
        4,
        5,
        "unknown field `hots`",
    ),
    case("missing-domain", "domain", 1, 1, "missing field `domain`"),
    case(
        "missing-app-recipe",
        "apps[1].recipe",
        4,
        5,
        "missing field `recipe`",
    ),
    // Types.
    case(
        "wrong-type-port",
        "smtp.port",
        4,
        9,
        "`submission` is not a whole number from 0 to 65535",
    ),
    case(
        "port-out-of-range",
        "smtp.port",
        2,
        40,
        "`70000` is not a whole number from 0 to 65535",
    ),
    case(
        "wrong-type-list-for-domain",
        "domain",
        2,
        3,
        "expected a single value, found a list",
    ),
    case(
        "unknown-tls-mode",
        "tls.mode",
        3,
        9,
        "unknown value `letsencrypt`",
    ),
    case(
        "negative-keep",
        "backup.keep.daily",
        4,
        18,
        "`-1` is not a whole number from 0",
    ),
    case(
        "bad-setting-type",
        "apps[0].settings",
        5,
        15,
        "expected a mapping, found a list",
    ),
    // Names.
    case(
        "bad-domain-uppercase",
        "domain",
        1,
        9,
        "has upper-case letters",
    ),
    case(
        "bad-domain-single-label",
        "domain",
        2,
        9,
        "needs at least two labels",
    ),
    case(
        "bad-domain-ip",
        "domain",
        1,
        9,
        "an IP address is not a domain",
    ),
    case(
        "bad-node-name",
        "name",
        2,
        7,
        "`commons_node` is not a valid node name",
    ),
    case(
        "bad-collective-id",
        "collectives[0].id",
        3,
        9,
        "`Free-Knowledge` is not a valid collective id",
    ),
    case(
        "bad-admin",
        "collectives[0].admins[1]",
        5,
        21,
        "`9bob` is not a valid username",
    ),
    case(
        "bad-host",
        "apps[0].host",
        4,
        11,
        "`my_wiki` is not a valid host name",
    ),
    case(
        "bad-operator-email",
        "operator.email",
        4,
        10,
        "does not look like an email address",
    ),
    case(
        "instance-id-too-long",
        "apps[0].id",
        5,
        9,
        "at most 40 are allowed",
    ),
    // Uniqueness and references.
    case(
        "duplicate-collective",
        "collectives[2].id",
        5,
        11,
        "`fki` is already the id of collectives[0]",
    ),
    case(
        "duplicate-host",
        "apps[2].host",
        5,
        28,
        "`cloud` is already used by apps[0]",
    ),
    case(
        "instance-id-clash",
        "apps[1].host",
        4,
        27,
        "the instance id `docs-fki` is already used by apps[0]",
    ),
    case(
        "unknown-recipe",
        "apps[1].recipe",
        4,
        15,
        "there is no recipe `nextclod`",
    ),
    case(
        "unknown-collective",
        "apps[0].collective",
        7,
        17,
        "no collective has the id `fkk`",
    ),
    case(
        "undeclared-setting",
        "apps[0].settings.colour",
        7,
        7,
        "recipe `wiki` has no setting `colour`",
    ),
    case(
        "route-host-clash",
        "apps[1].host",
        4,
        28,
        "`office.notes`, wanted by the route of component `office`",
    ),
    // TLS and mail.
    case(
        "acme-without-email",
        "tls.mode",
        3,
        9,
        "mode `acme` needs an `email`",
    ),
    case(
        "provided-without-key",
        "tls.mode",
        3,
        9,
        "mode `provided` needs `key`",
    ),
    case("smtp-port-zero", "smtp.port", 2, 40, "port 0 is not a port"),
];

const RECIPE_CASES: &[Case] = &[
    // Syntax, fields, types.
    case(
        "missing-version",
        "version",
        1,
        1,
        "missing field `version`",
    ),
    case(
        "unknown-component-field",
        "components.web.ports",
        6,
        5,
        "unknown field `ports`",
    ),
    case(
        "unknown-addon",
        "addons[1]",
        5,
        16,
        "unknown value `mongodb`",
    ),
    case(
        "wrong-type-read-only",
        "components.web.read_only",
        6,
        16,
        "`sometimes` is not `true` or `false`",
    ),
    case(
        "bad-duration",
        "components.web.stop_grace",
        6,
        17,
        "`10x` has an unknown unit `x`",
    ),
    case(
        "bad-size",
        "components.web.limits.memory",
        6,
        23,
        "`12Q` has an unknown unit `q`",
    ),
    // Identity.
    case(
        "id-mismatch",
        "id",
        1,
        5,
        "`wiki` does not match its folder name `app`",
    ),
    case(
        "bad-version",
        "version",
        2,
        10,
        "`1.0.0` is not `<upstream version>-<packaging revision>`",
    ),
    case(
        "no-components",
        "components",
        3,
        13,
        "the recipe has no component",
    ),
    case(
        "bad-component-name",
        "components.web_server",
        4,
        3,
        "`web_server` is not a valid component name",
    ),
    // Images.
    case(
        "image-and-build",
        "components.web.build",
        6,
        12,
        "either `image` or `build`, not both",
    ),
    case(
        "neither-image-nor-build",
        "components.web",
        5,
        5,
        "neither `image` nor `build`",
    ),
    case(
        "unpinned-image",
        "components.web.image",
        5,
        12,
        "is not pinned by digest",
    ),
    case(
        "missing-build-folder",
        "components.web.build",
        5,
        12,
        "wikki/Dockerfile`",
    ),
    // Dependencies.
    case(
        "depends-on-unknown",
        "components.web.depends_on[0]",
        6,
        18,
        "there is no component `db`",
    ),
    case(
        "depends-on-itself",
        "components.web.depends_on[0]",
        6,
        18,
        "`web` depends on itself",
    ),
    case(
        "dependency-cycle",
        "components.web.depends_on[0]",
        6,
        18,
        "dependency cycle: web → worker → web",
    ),
    // Volumes, tmpfs, files.
    case(
        "bad-volume-name",
        "components.web.volumes[0].name",
        7,
        17,
        "`Data` is not a valid volume name",
    ),
    case(
        "relative-volume-path",
        "components.web.volumes[0].path",
        8,
        15,
        "`var/lib/app` is not absolute",
    ),
    case(
        "dotdot-volume-path",
        "components.web.volumes[0].path",
        8,
        15,
        "contains `..`",
    ),
    case(
        "duplicate-mount",
        "components.web.tmpfs[1]",
        8,
        19,
        "`/srv` is already mounted by volumes[0]",
    ),
    case(
        "relative-tmpfs",
        "components.web.tmpfs[1]",
        6,
        19,
        "`run` is not absolute",
    ),
    case(
        "missing-template",
        "components.web.files[1].template",
        8,
        44,
        "templates/b.conf`: no such file",
    ),
    case(
        "duplicate-file-path",
        "components.web.files[1].path",
        8,
        17,
        "is already written by files[0]",
    ),
    case(
        "bad-env-name",
        "components.web.env.DB-HOST",
        7,
        7,
        "`DB-HOST` is not a valid environment variable name",
    ),
    // Routes.
    case(
        "route-port-zero",
        "components.web.route.port",
        6,
        20,
        "port 0 is not a port",
    ),
    case(
        "route-path-without-slash",
        "components.web.route.path",
        8,
        13,
        "`api` does not start with `/`",
    ),
    case(
        "duplicate-route",
        "components.web.route",
        9,
        12,
        "components.api already routes path `/`",
    ),
    // Health.
    case(
        "health-cmd-and-http",
        "components.web.health.http",
        8,
        13,
        "either `cmd` or `http`, not both",
    ),
    case(
        "health-zero-retries",
        "components.web.health.retries",
        6,
        38,
        "0 retries never passes",
    ),
    case(
        "health-timeout-over-interval",
        "components.web.health.timeout",
        9,
        16,
        "the timeout 60s is longer than the interval 5s",
    ),
    // Limits.
    case(
        "memory-too-small",
        "components.web.limits.memory",
        7,
        15,
        "1M is less than the minimum of 4M",
    ),
    case(
        "cpus-zero",
        "components.web.limits.cpus",
        6,
        21,
        "0 CPUs is not a limit",
    ),
    // Hooks, secrets, settings.
    case(
        "hook-unknown-component",
        "hooks.backup.component",
        7,
        16,
        "there is no component `database`",
    ),
    case(
        "hook-empty-command",
        "hooks.configure.command",
        6,
        41,
        "the command is empty",
    ),
    case(
        "bad-secret-name",
        "secrets[1]",
        5,
        24,
        "`Admin-Token` is not a valid secret name",
    ),
    case(
        "duplicate-secret",
        "secrets[1]",
        7,
        5,
        "`db_password` is already secrets[0]",
    ),
    case(
        "bad-setting-name",
        "settings.maxUpload",
        6,
        3,
        "`maxUpload` is not a valid setting name",
    ),
];

/// Why `ds` is not exactly the one problem `c` describes, if it is not.
fn mismatch(c: &Case, file: &Path, ds: &Diagnostics) -> Option<String> {
    let [d] = ds.0.as_slice() else {
        return Some(format!("expected one diagnostic, got {}:\n{ds}", ds.len()));
    };
    let ok = d.file == file
        && d.path == c.path
        && d.line == Some(c.line)
        && d.column == Some(c.column)
        && d.message.contains(c.fragment)
        && !d.hint.is_empty();
    (!ok).then(|| {
        format!(
            "expected {}:{}: {}: …{}…\n     got {d}",
            c.line, c.column, c.path, c.fragment
        )
    })
}

fn check_all(
    kind: &str,
    cases: &[Case],
    run: impl Fn(&Case) -> (PathBuf, Result<(), Diagnostics>),
) {
    let mut failures = Vec::new();
    for c in cases {
        let (file, result) = run(c);
        match result {
            Ok(()) => failures.push(format!("{kind} {}: loaded, but must be refused", c.name)),
            Err(ds) => {
                if let Some(why) = mismatch(c, &file, &ds) {
                    failures.push(format!("{kind} {}: {why}", c.name));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn malformed_nodes_are_refused_with_their_own_message_and_position() {
    assert!(NODE_CASES.len() >= 30);
    check_all("node", NODE_CASES, |c| {
        let file = corpus().join("node").join(format!("{}.yaml", c.name));
        let result = load(&file, &good().join("recipes"), &good().join("images")).map(|_| ());
        (file, result)
    });
}

#[test]
fn malformed_recipes_are_refused_with_their_own_message_and_position() {
    assert!(RECIPE_CASES.len() >= 35);
    check_all("recipe", RECIPE_CASES, |c| {
        let dir = corpus().join("recipe").join(c.name);
        let file = dir.join("app").join("recipe.yaml");
        let result = load_recipe(&dir, "app", &good().join("images")).map(|_| ());
        (file, result)
    });
}

#[test]
fn every_fixture_has_a_case() {
    let names = |dir: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(corpus().join(dir))
            .expect("corpus folder")
            .filter_map(Result::ok)
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .map(|s| s.trim_end_matches(".yaml").to_string())
            })
            .collect();
        v.sort();
        v
    };
    for n in names("node") {
        assert!(
            NODE_CASES.iter().any(|c| c.name == n) || n == "many-problems",
            "tests/corpus/node/{n}.yaml has no case"
        );
    }
    for n in names("recipe") {
        assert!(
            RECIPE_CASES.iter().any(|c| c.name == n) || n == "no-recipe-file",
            "tests/corpus/recipe/{n} has no case"
        );
    }
}

#[test]
fn every_problem_of_a_node_is_reported_not_just_the_first() {
    let file = corpus().join("node/many-problems.yaml");
    let ds = load(&file, &good().join("recipes"), &good().join("images")).expect_err("refused");
    let got: Vec<(Option<usize>, Option<usize>, &str)> = ds
        .iter()
        .map(|d| (d.line, d.column, d.path.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some(2), Some(14), "tls.mode"),
            (Some(2), Some(14), "tls.mode"),
            (Some(4), Some(36), "collectives[0].admins[0]"),
            (Some(6), Some(45), "apps[0].collective"),
            (Some(7), Some(27), "apps[1].host"),
        ],
        "{ds}"
    );
    let text = ds.to_string();
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(
        text.contains("mode `provided` needs `certificate`"),
        "{text}"
    );
    assert!(text.contains("mode `provided` needs `key`"), "{text}");
    assert!(text.contains("`Alice` is not a valid username"), "{text}");
    assert!(
        text.contains("no collective has the id `nobody` — use one of: fki"),
        "{text}"
    );
    assert!(
        text.contains("many-problems.yaml:7:27: apps[1].host: `docs` is already used by apps[0] — pick another host name"),
        "{text}"
    );
}

#[test]
fn problems_of_a_node_and_of_its_recipes_are_reported_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recipes = dir.path().join("recipes");
    std::fs::create_dir_all(recipes.join("app")).expect("mkdir");
    std::fs::write(
        recipes.join("app/recipe.yaml"),
        "id: app\nversion: 1-1\ncomponents:\n  web: { build: nothing }\n",
    )
    .expect("write recipe");
    let node = dir.path().join("node.yaml");
    std::fs::write(
        &node,
        "domain: a.localhost\napps:\n  - { recipe: app, host: App }\n",
    )
    .expect("write node");
    let ds = load(&node, &recipes, &dir.path().join("images")).expect_err("refused");
    let got: Vec<(&Path, &str)> = ds
        .iter()
        .map(|d| (d.file.as_path(), d.path.as_str()))
        .collect();
    let recipe_file = recipes.join("app/recipe.yaml");
    assert_eq!(
        got,
        vec![
            (node.as_path(), "apps[0].host"),
            (recipe_file.as_path(), "components.web.build"),
        ],
        "{ds}"
    );
}

#[test]
fn a_recipe_that_does_not_load_is_reported_once_for_many_apps() {
    let file = corpus().join("node/many-problems.yaml");
    let dir = corpus().join("recipe/bad-version");
    let ds = load(&file, &dir, &good().join("images")).expect_err("refused");
    let unknown = ds
        .iter()
        .filter(|d| d.message.contains("no recipe `wiki`"))
        .count();
    assert_eq!(unknown, 2, "{ds}");
    assert!(ds.iter().all(|d| d.file == file), "{ds}");
}

#[test]
fn missing_files_name_their_path() {
    let missing = corpus().join("node/does-not-exist.yaml");
    let ds = load(&missing, &good().join("recipes"), &good().join("images")).expect_err("refused");
    let [d]: [Diagnostic; 1] = ds.0.try_into().expect("one diagnostic");
    assert_eq!(
        (d.file.as_path(), d.line, d.path.as_str()),
        (missing.as_path(), None, "")
    );
    assert!(
        d.message.contains("does-not-exist.yaml`: no such file"),
        "{d}"
    );

    let dir = corpus().join("recipe/no-recipe-file");
    let ds = load_recipe(&dir, "app", &good().join("images")).expect_err("refused");
    assert!(
        ds.to_string().contains("app/recipe.yaml`: no such file"),
        "{ds}"
    );

    let ds =
        load_all_recipes(&corpus().join("nowhere"), &good().join("images")).expect_err("refused");
    assert!(
        ds.to_string().contains("cannot read the recipes folder"),
        "{ds}"
    );
}

#[test]
fn unknown_recipe_hint_lists_the_available_ones() {
    let file = corpus().join("node/unknown-recipe.yaml");
    let ds = load(&file, &good().join("recipes"), &good().join("images")).expect_err("refused");
    assert_eq!(ds.0[0].hint, "use one of: notes, wiki");
}

#[test]
fn unknown_field_hint_lists_the_allowed_fields() {
    let file = corpus().join("recipe/unknown-component-field/app/recipe.yaml");
    let ds = load_recipe(
        file.parent().and_then(Path::parent).expect("dir"),
        "app",
        &good().join("images"),
    )
    .expect_err("refused");
    let hint = &ds.0[0].hint;
    assert!(
        hint.contains("image, build, command, user, env, files, volumes"),
        "{hint}"
    );
}

#[test]
fn the_complete_node_loads_with_its_recipes_and_templates() {
    let loaded = load(
        &good().join("node.yaml"),
        &good().join("recipes"),
        &good().join("images"),
    )
    .unwrap_or_else(|ds| panic!("{ds}"));
    assert_eq!(loaded.node.node_id(), "commons");
    assert_eq!(loaded.node.apps.len(), 3);
    assert_eq!(loaded.node.apps[2].instance_id(), "wiki-fki");
    assert_eq!(loaded.recipes.keys().collect::<Vec<_>>(), ["notes", "wiki"]);
    let wiki = &loaded.recipes["wiki"];
    assert_eq!(wiki.dir, good().join("recipes/wiki"));
    assert_eq!(wiki.file, good().join("recipes/wiki/recipe.yaml"));
    assert!(wiki.templates["templates/local.php"].contains("{{ app.fqdn }}"));
    let web = &wiki.recipe.components["web"];
    assert_eq!(web.limits.memory.map(|m| m.0), Some(256 << 20));
    assert_eq!(
        web.health.as_ref().map(|h| h.start_period.map(|s| s.0)),
        Some(Some(30.0))
    );
    assert_eq!(loaded.recipes["notes"].recipe.components.len(), 3);
    assert_eq!(loaded.images_dir, good().join("images"));
}

#[test]
fn a_minimal_node_loads_with_defaults() {
    let loaded = load(
        &good().join("minimal.yaml"),
        &corpus().join("nowhere"),
        &corpus().join("nowhere"),
    )
    .unwrap_or_else(|ds| panic!("{ds}"));
    assert_eq!(loaded.node.node_id(), "node-localhost");
    assert!(loaded.node.apps.is_empty() && loaded.recipes.is_empty());
    assert_eq!(
        loaded.node.tls.mode,
        commonscloud::model::TlsMode::SelfSigned
    );
}

#[test]
fn all_good_recipes_load() {
    let all = load_all_recipes(&good().join("recipes"), &good().join("images"))
        .unwrap_or_else(|ds| panic!("{ds}"));
    assert_eq!(all.len(), 2);
}

#[test]
fn load_all_recipes_reports_every_bad_recipe() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (id, text) in [
        ("a", "id: a\nversion: 1\ncomponents: {}\n"),
        (
            "b",
            "id: b\nversion: 1-1\ncomponents:\n  web: { image: x }\n",
        ),
        (
            "c",
            "id: c\nversion: 1-1\ncomponents:\n  web: { build: wiki }\n",
        ),
    ] {
        std::fs::create_dir_all(dir.path().join(id)).expect("mkdir");
        std::fs::write(dir.path().join(id).join("recipe.yaml"), text).expect("write");
    }
    let ds = load_all_recipes(dir.path(), &good().join("images")).expect_err("refused");
    let paths: Vec<&str> = ds.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        ["version", "components", "components.web.image"],
        "{ds}"
    );
}

#[test]
fn parse_functions_work_on_text_alone() {
    let text = std::fs::read_to_string(good().join("recipes/notes/recipe.yaml")).expect("read");
    let recipe = parse_recipe(&text, Path::new("notes.yaml")).unwrap_or_else(|ds| panic!("{ds}"));
    assert_eq!(recipe.components["web"].depends_on, ["db"]);
    let ds = parse_node("domain: [", Path::new("x/node.yaml")).expect_err("refused");
    assert!(ds.to_string().starts_with("x/node.yaml:1:"), "{ds}");
}
