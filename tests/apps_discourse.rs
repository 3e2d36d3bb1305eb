//! The Discourse recipe's contract: a public instance `agora` and `agora.fki`, private to the
//! collective fki, rendered offline. Every DISCOURSE_* variable and every site setting the
//! recipe writes must be one Discourse (or its LDAP plugin) knows, from the lists under
//! tests/apps/known/ (taken from upstream source, cited in their headers). The opt-in live
//! test (COMMONSCLOUD_LIVE_APPS=1) builds the image and logs in through the directory.

mod common;

use common::contract::*;
use commonscloud::reconcile::DesiredState;
use commonscloud::render::{render, AppView, ComponentView, HostView, NodeView, TemplateContext};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

const APPS: &str = "  - { recipe: discourse, host: agora }\n  \
                    - { recipe: discourse, host: agora.fki, collective: fki }\n";
const PUBLIC: &str = "agora";
const PRIVATE: &str = "agora-fki";
const DOMAIN: &str = "commons.example.coop";
const SETTINGS_FILE: &str = "/etc/commonscloud/discourse/site-settings.json";
const COMPONENTS: [&str; 2] = ["web", "sidekiq"];

/// The names of a known-settings list (one a line, `#` comments).
fn known(file: &str) -> BTreeSet<String> {
    let path = common::repo().join("tests/apps/known").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn env<'a>(d: &'a DesiredState, app: &str, component: &str) -> &'a BTreeMap<String, String> {
    &container(d, app, component).spec.env
}

fn var(d: &DesiredState, app: &str, component: &str, name: &str) -> String {
    env(d, app, component)
        .get(name)
        .unwrap_or_else(|| panic!("{app}/{component} has no {name}"))
        .clone()
}

/// The rendered site settings of `app`: the raw text and the parsed object.
fn site_settings(d: &DesiredState, app: &str) -> (String, Map<String, Value>) {
    let text = file(d, app, "web", SETTINGS_FILE);
    let value: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{app}: not JSON: {e}\n{text}"));
    match value {
        Value::Object(map) => (text, map),
        other => panic!("{app}: site settings are not an object: {other}"),
    }
}

fn text_of<'a>(settings: &'a Map<String, Value>, name: &str) -> &'a str {
    settings
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("site setting {name} is not text: {settings:?}"))
}

#[test]
fn both_instances_render_with_their_own_database_redis_and_host() {
    let (_node, d) = sample(APPS);
    for app in [PUBLIC, PRIVATE] {
        let host = if app == PUBLIC { "agora" } else { "agora.fki" };
        for component in COMPONENTS {
            assert_eq!(
                var(&d, app, component, "DISCOURSE_HOSTNAME"),
                format!("{host}.{DOMAIN}"),
                "{app}/{component}: the hostname is the instance's fqdn"
            );
            assert_eq!(var(&d, app, component, "DISCOURSE_DB_PORT"), "5432");
            assert_eq!(var(&d, app, component, "DISCOURSE_REDIS_HOST"), "redis");
            for name in ["DISCOURSE_DB_PASSWORD", "DISCOURSE_REDIS_PASSWORD"] {
                assert!(
                    var(&d, app, component, name).len() >= 16,
                    "{app}/{component}: {name} is a generated secret"
                );
            }
        }
        // Web and Sidekiq of one instance share everything.
        for name in [
            "DISCOURSE_DB_NAME",
            "DISCOURSE_DB_USERNAME",
            "DISCOURSE_DB_PASSWORD",
            "DISCOURSE_REDIS_PASSWORD",
            "COMMONSCLOUD_SECRET_SEED",
        ] {
            assert_eq!(
                var(&d, app, "web", name),
                var(&d, app, "sidekiq", name),
                "{app}: {name}"
            );
        }
        assert_eq!(var(&d, app, "web", "UNICORN_SIDEKIQS"), "0");
        assert_eq!(var(&d, app, "web", "UNICORN_BIND_ALL"), "true");
        assert_eq!(var(&d, app, "web", "DISCOURSE_SERVE_STATIC_ASSETS"), "true");
    }
    // Two instances never share a database, a Redis or a secret.
    for name in [
        "DISCOURSE_DB_NAME",
        "DISCOURSE_DB_USERNAME",
        "DISCOURSE_DB_PASSWORD",
        "DISCOURSE_REDIS_PASSWORD",
        "COMMONSCLOUD_SECRET_SEED",
    ] {
        assert_ne!(
            var(&d, PUBLIC, "web", name),
            var(&d, PRIVATE, "web", name),
            "{name} must differ between instances"
        );
    }
    // Each instance has its own volumes, both in the backup.
    for app in [PUBLIC, PRIVATE] {
        for volume in ["uploads", "backups"] {
            let v = d
                .volumes
                .iter()
                .find(|v| {
                    v.labels.get("coop.commonscloud.app").map(String::as_str) == Some(app)
                        && v.labels.get("coop.commonscloud.volume").map(String::as_str)
                            == Some(volume)
                })
                .unwrap_or_else(|| panic!("{app} has no volume {volume}"));
            assert_eq!(
                v.labels.get("coop.commonscloud.backup").map(String::as_str),
                Some("true"),
                "{app}/{volume} is backed up"
            );
        }
    }
}

#[test]
fn smtp_comes_from_node_yaml() {
    let (_node, d) = sample(APPS);
    for app in [PUBLIC, PRIVATE] {
        for component in COMPONENTS {
            let v = |n: &str| var(&d, app, component, n);
            assert_eq!(v("DISCOURSE_SMTP_ADDRESS"), "mail.example.coop");
            assert_eq!(v("DISCOURSE_SMTP_PORT"), "587");
            assert_eq!(v("DISCOURSE_SMTP_USER_NAME"), "noreply");
            // node.yaml's default security, STARTTLS on port 587.
            assert_eq!(v("DISCOURSE_SMTP_ENABLE_START_TLS"), "true");
            assert_eq!(v("DISCOURSE_SMTP_FORCE_TLS"), "false");
        }
        let (_, s) = site_settings(&d, app);
        assert_eq!(text_of(&s, "notification_email"), "noreply@example.coop");
    }
}

#[test]
fn the_ldap_filter_admits_the_collective_members_only_on_the_private_instance() {
    let (_node, d) = sample(APPS);
    let base = "dc=commons,dc=example,dc=coop";
    let members = format!("memberOf=cn=members,ou=fki,ou=collectives,{base}");
    let (_, public) = site_settings(&d, PUBLIC);
    let (_, private) = site_settings(&d, PRIVATE);

    let public_filter = text_of(&public, "ldap_filter");
    let private_filter = text_of(&private, "ldap_filter");
    assert!(!public_filter.contains("memberOf"), "{public_filter}");
    assert!(private_filter.contains(&members), "{private_filter}");
    for filter in [public_filter, private_filter] {
        assert!(filter.contains("(objectClass=inetOrgPerson)"), "{filter}");
        // The username goes last: the plugin puts it into the filter unescaped, and
        // net-ldap's parser keeps every branch before it in the AND, so what a person types
        // can add conditions but never remove the collective's.
        assert!(filter.starts_with("(&(") && filter.ends_with("(uid=%{username}))"));
        assert_eq!(filter.matches("%{username}").count(), 1, "{filter}");
        assert_eq!(filter.matches('(').count(), filter.matches(')').count());
    }
    let group = private_filter.find(&members).expect("members clause");
    let username = private_filter.find("%{username}").expect("username");
    assert!(group < username, "{private_filter}");

    // Each instance binds with its own account, searches people only.
    for (app, s) in [(PUBLIC, &public), (PRIVATE, &private)] {
        assert_eq!(
            text_of(s, "ldap_bind_dn"),
            format!("cn=app-{app},ou=system,{base}")
        );
        assert_eq!(text_of(s, "ldap_base"), format!("ou=people,{base}"));
        assert_eq!(text_of(s, "ldap_hostname"), "directory-ldap");
        assert_eq!(s["ldap_port"], 389);
        assert_eq!(text_of(s, "ldap_uid"), "uid");
        assert!(text_of(s, "ldap_password").len() >= 16);
        assert_eq!(s["ldap_enabled"], true);
        assert_eq!(s["enable_local_logins"], false);
        assert_eq!(s["enable_local_logins_via_email"], false);
    }
    assert_ne!(public["ldap_password"], private["ldap_password"]);

    // The collective's forum is for its members only; the public one can be read by anyone.
    assert_eq!(private["login_required"], true);
    assert_eq!(private["auth_immediately"], true);
    assert_eq!(public["login_required"], false);
    assert!(!public.contains_key("auth_immediately"));
    assert_eq!(text_of(&public, "title"), "agora");
    assert_eq!(text_of(&private, "title"), "agora.fki");
}

#[test]
fn local_logins_are_turned_off_only_after_the_ldap_plugin_is_set_up() {
    let (_node, d) = sample(APPS);
    for app in [PUBLIC, PRIVATE] {
        let (text, _) = site_settings(&d, app);
        let at = |name: &str| {
            text.find(&format!("\"{name}\""))
                .unwrap_or_else(|| panic!("{app}: no {name}"))
        };
        for ldap in ["ldap_enabled", "ldap_filter", "ldap_password"] {
            assert!(at(ldap) < at("enable_local_logins"), "{app}: {ldap}");
        }
    }
}

#[test]
fn every_setting_written_is_one_discourse_knows() {
    let (_node, d) = sample(APPS);
    let globals = known("discourse-global-settings.txt");
    let process = known("discourse-process-env.txt");
    let mut site = known("discourse-site-settings.txt");
    site.extend(known("discourse-ldap-settings.txt"));
    for app in [PUBLIC, PRIVATE] {
        for component in COMPONENTS {
            for name in env(&d, app, component).keys() {
                let ok = match name.strip_prefix("DISCOURSE_") {
                    Some(global) => globals.contains(&global.to_ascii_lowercase()),
                    None => process.contains(name),
                };
                assert!(ok, "{app}/{component}: {name} is not a variable Discourse reads (see tests/apps/known/)");
            }
        }
        let (_, s) = site_settings(&d, app);
        for name in s.keys() {
            assert!(
                site.contains(name),
                "{app}: site setting {name} is not known (see tests/apps/known/)"
            );
        }
    }
}

#[test]
fn hooks_run_the_image_commands_on_the_web_container() {
    let (node, d) = sample(APPS);
    for app in [PUBLIC, PRIVATE] {
        let web = container(&d, app, "web");
        let configure = hook(&d, app, "configure");
        assert_eq!(configure.container, web.spec.name);
        assert_eq!(
            configure.command,
            ["/usr/local/bin/cc-discourse", "configure", SETTINGS_FILE]
        );
        assert_eq!(configure.user.as_deref(), Some("discourse"));
        for (kind, verb) in [
            ("backup", "backup"),
            ("restore", "restore"),
            ("upgrade", "migrate"),
        ] {
            let h = hook(&d, app, kind);
            assert_eq!(h.command, ["/usr/local/bin/cc-discourse", verb], "{kind}");
            assert_eq!(h.container, web.spec.name);
        }
        assert_eq!(web.spec.command.as_deref(), Some(&["web".to_string()][..]));
        let sidekiq = container(&d, app, "sidekiq");
        assert_eq!(
            sidekiq.spec.command.as_deref(),
            Some(&["sidekiq".to_string()][..])
        );
        assert_eq!(
            sidekiq
                .depends_on
                .iter()
                .filter(|n| **n == web.spec.name)
                .count(),
            1,
            "Sidekiq starts after the web container has migrated"
        );
        // The web health check is Discourse's own status page.
        let health = web.spec.health.as_ref().expect("web health");
        assert!(
            health.test.iter().any(|t| t.contains("/srv/status")),
            "{:?}",
            health.test
        );
    }
    // The image's script: POSIX sh, and every verb the recipe uses is one it has.
    let script = node.share().join("images/discourse/cc-discourse");
    let out = std::process::Command::new("sh")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "sh -n cc-discourse: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&script).unwrap();
    for verb in [
        "web",
        "sidekiq",
        "configure",
        "migrate",
        "backup",
        "restore",
        "health",
    ] {
        assert!(
            text.contains(&format!("\n{verb})")),
            "cc-discourse has no `{verb}`"
        );
    }
}

/// `UNICORN_WORKERS` as discourse-setup computes it (discourse/discourse_docker,
/// discourse-setup at cda2e8bf829054221f98ceb7f11d28e964f54e49): GB as `free -g --si` counts
/// them; 2 per GB up to 2 GB, else 2 per core; at most 8.
fn discourse_setup_workers(host: HostView) -> u64 {
    let gb = host.memory_mb * 1_048_576 / 1_000_000_000;
    let workers = if gb <= 2 { 2 * gb } else { 2 * host.cpus };
    workers.clamp(1, 8)
}

#[test]
fn unicorn_workers_follow_the_host_like_discourse_setup() {
    let (node, d) = sample(APPS);
    let here = HostView::current();
    assert_eq!(
        var(&d, PUBLIC, "web", "UNICORN_WORKERS"),
        discourse_setup_workers(here).to_string(),
        "this host: {here:?}"
    );

    // Other hosts: the recipe's template, rendered by the same renderer with another host.
    let loaded = node.loaded();
    let template =
        loaded.recipes["discourse"].recipe.components["web"].env["UNICORN_WORKERS"].clone();
    for (memory_mb, cpus, expected) in [
        (900, 1, 1),     // under 1 GB: still one worker
        (1_000, 2, 2),   // 1 GB (si): 2 workers
        (2_000, 8, 4),   // 2 GB: memory decides
        (3_900, 2, 4),   // 4 GB: 2 per core
        (16_000, 4, 8),  // 16 GB, 4 cores
        (64_000, 32, 8), // never more than 8
    ] {
        let host = HostView { memory_mb, cpus };
        let ctx = TemplateContext {
            node: NodeView {
                name: "n".into(),
                domain: DOMAIN.into(),
                base_dn: "dc=commons,dc=example,dc=coop".into(),
                operator_email: String::new(),
            },
            app: AppView {
                id: PUBLIC.into(),
                recipe: "discourse".into(),
                version: "0-1".into(),
                host: "agora".into(),
                fqdn: format!("agora.{DOMAIN}"),
                url: format!("https://agora.{DOMAIN}"),
                collective: None,
                settings: BTreeMap::new(),
            },
            component: ComponentView { name: "web".into() },
            secrets: BTreeMap::new(),
            addons: BTreeMap::new(),
            host,
        };
        let workers = render("UNICORN_WORKERS", &template, &ctx).expect("renders");
        assert_eq!(discourse_setup_workers(host), expected, "{host:?}");
        assert_eq!(workers, expected.to_string(), "{host:?}");
    }
}

/// Live: build the image, bring both instances up with the directory, and log in through the
/// LDAP plugin's form. Needs GitHub, RubyGems and the npm registry for the image build, and a
/// Docker registry for Discourse's base image; enabled by COMMONSCLOUD_LIVE_APPS=1.
#[tokio::test(flavor = "multi_thread")]
async fn live_a_member_logs_in_and_an_outsider_does_not() {
    if !live() {
        eprintln!(
            "skipped: set COMMONSCLOUD_LIVE_APPS=1 to build Discourse and log in for real \
             (needs GitHub, RubyGems, npm and Docker Hub; see docs/testing.md)"
        );
        return;
    }
    let (node, _) = sample(APPS);
    let engine = common::engine().await;
    let report = node.up(&engine).await;
    assert!(report.apply.succeeded(), "{:?}", report.apply);

    common::contract::live_people(&node);
    let password = common::contract::LIVE_PASSWORD;

    let (_, https) = commonscloud::ops::edge::ports(&engine, &node.name)
        .await
        .expect("edge ports");
    let this = &node;
    // Did the LDAP plugin accept `user` at `host`? Discourse answers the form with a redirect:
    // to /auth/failure when the directory said no.
    let login = |host: String, user: &'static str| async move {
        let client = this
            .https_client(https, &[&host])
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let base = format!("https://{host}:{https}");
        let csrf: Value = client
            .get(format!("{base}/session/csrf"))
            .header("X-Requested-With", "XMLHttpRequest")
            .send()
            .await
            .expect("csrf")
            .json()
            .await
            .expect("csrf json");
        let token = csrf["csrf"].as_str().expect("a csrf token").to_string();
        let form = client
            .post(format!("{base}/auth/ldap"))
            .form(&[("authenticity_token", token.as_str())])
            .send()
            .await
            .expect("the LDAP form");
        assert!(form.status().is_success(), "{}", form.status());
        let answer = client
            .post(format!("{base}/auth/ldap/callback"))
            .form(&[("username", user), ("password", password)])
            .send()
            .await
            .expect("the LDAP callback");
        let location = answer
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(answer.status().is_redirection(), "{}", answer.status());
        !location.contains("/auth/failure")
    };
    let public = format!("agora.{DOMAIN}");
    let private = format!("agora.fki.{DOMAIN}");
    assert!(
        login(public.clone(), "alice").await,
        "alice on the public forum"
    );
    assert!(
        login(public.clone(), "bob").await,
        "bob on the public forum"
    );
    assert!(
        login(private.clone(), "alice").await,
        "alice, a member of fki"
    );
    assert!(
        !login(private.clone(), "bob").await,
        "bob is not a member of fki"
    );
    node.cli_ok(&["user", "disable", "alice"], None);
    assert!(
        !login(private, "alice").await,
        "a disabled account cannot log in"
    );
}
