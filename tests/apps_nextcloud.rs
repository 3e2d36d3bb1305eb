//! The Nextcloud recipe's contract, with its companion recipes/collabora: a public instance
//! `cloud` (online office on), `cloud.fki` private to the collective fki, and a Collabora
//! instance `office`, rendered offline. Every user_ldap key the configure hook sets, every
//! system setting of the config fragment and every richdocuments setting must be one upstream
//! knows (tests/apps/known/nextcloud-*.txt, cited in their headers). The generated PHP passes
//! `php -l` and is evaluated by PHP; the generated shell passes `sh -n`, and its values block is
//! run by sh to see the exact values it hands to occ; the whole hook also runs against a
//! stand-in occ (install, set, read back, refuse what user_ldap ignores, test, office on and
//! off). The opt-in live test (COMMONSCLOUD_LIVE_APPS=1) brings both instances up and logs in
//! over WebDAV through LDAP.

mod common;

use common::contract::*;
use commonscloud::reconcile::DesiredState;
use commonscloud::render::{render, AppView, ComponentView, HostView, NodeView, TemplateContext};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

const APPS: &str = "  - { recipe: nextcloud, host: cloud, settings: { office_url: \"https://office.commons.example.coop\" } }\n  \
                    - { recipe: nextcloud, host: cloud.fki, collective: fki }\n  \
                    - { recipe: collabora, host: office }\n";
const PUBLIC: &str = "cloud";
const PRIVATE: &str = "cloud-fki";
const OFFICE: &str = "office";
const BASE_DN: &str = "dc=commons,dc=example,dc=coop";
const CONFIGURE: &str = "/usr/local/share/commonscloud/configure.sh";
const FRAGMENT: &str = "/usr/local/share/commonscloud/commonscloud.config.php";
const JSON_GET: &str = "/usr/local/share/commonscloud/json-get.php";
const BEFORE_STARTING: &str = "/docker-entrypoint-hooks.d/before-starting/10-commonscloud.sh";

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

fn configure_script(d: &DesiredState, app: &str) -> String {
    file(d, app, "web", CONFIGURE)
}

/// The lines of `script` from the one that starts with `first` to the next one that is `last`.
fn section<'a>(script: &'a str, first: &str, last: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = script.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with(first))
        .unwrap_or_else(|| panic!("no line starting with {first:?}"));
    let len = lines[start..]
        .iter()
        .position(|l| *l == last)
        .unwrap_or_else(|| panic!("no {last:?} after {first:?}"));
    lines[start..=start + len].to_vec()
}

/// Run `program` with sh and read back what it printed as `NAME=value` records ended by NUL.
fn sh_records(program: &str) -> Vec<(String, String)> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(program)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "sh failed: {}\n{program}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .split('\0')
        .filter(|r| !r.is_empty())
        .map(|r| {
            let (k, v) = r.split_once('=').expect("NAME=value");
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// The values block of the configure script, as sh sees it once rendered.
fn values(script: &str) -> BTreeMap<String, String> {
    let block = section(script, "# --- values", "# --- end of values ---");
    let names: Vec<&str> = block
        .iter()
        .filter_map(|l| l.split_once('=').map(|(name, _)| name))
        .filter(|name| name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    assert!(names.len() > 10, "too few values: {names:?}");
    let mut program = block.join("\n");
    for name in &names {
        program.push_str(&format!("\nprintf '%s=%s\\0' {name} \"${name}\""));
    }
    sh_records(&program).into_iter().collect()
}

fn value(script: &str, name: &str) -> String {
    values(script)
        .remove(name)
        .unwrap_or_else(|| panic!("the configure script has no value {name}"))
}

/// What the configure script hands to `occ ldap:set-config`, key by key, as sh sees it.
fn ldap_settings(script: &str) -> Vec<(String, String)> {
    let mut program = section(script, "# --- values", "# --- end of values ---").join("\n");
    program.push('\n');
    program.push_str(&section(script, "ldap_settings() {", "}").join("\n"));
    program.push_str("\nshow() { printf '%s=%s\\0' \"$1\" \"$2\"; }\nldap_settings show\n");
    sh_records(&program)
}

fn ldap_setting(script: &str, key: &str) -> String {
    ldap_settings(script)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("the configure script does not set {key}"))
}

/// The rendered config fragment evaluated by PHP: its `$CONFIG`, as JSON.
fn fragment(d: &DesiredState, app: &str) -> Value {
    let text = file(d, app, "web", FRAGMENT);
    php_lint("commonscloud.config.php", &text);
    let (_dir, path) = temp_file("commonscloud.config.php", &text);
    let out = Command::new("php")
        .args([
            "-r",
            "$CONFIG = null; require $argv[1]; echo json_encode($CONFIG);",
        ])
        .arg(&path)
        .output()
        .expect("php");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the fragment's $CONFIG as JSON")
}

/// `php json-get.php ARGS` with `input` on stdin: (exit code, stdout).
fn json_get(d: &DesiredState, input: &str, args: &[&str]) -> (i32, String) {
    use std::io::Write;
    let (_dir, path) = temp_file("json-get.php", &file(d, PUBLIC, "web", JSON_GET));
    let mut child = Command::new("php")
        .arg(&path)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("php");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("php");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("utf-8"),
    )
}

fn route(
    node: &common::TestNode,
    recipe: &str,
    component: &str,
) -> commonscloud::model::recipe::Route {
    let loaded = node.loaded();
    loaded.recipes[recipe].recipe.components[component]
        .route
        .clone()
        .unwrap_or_else(|| panic!("{recipe}/{component} has no route"))
}

#[test]
fn both_instances_render_with_their_own_host_database_and_redis() {
    let (_node, d) = sample(APPS);
    let mut passwords = BTreeSet::new();
    for (app, fqdn) in [
        (PUBLIC, "cloud.commons.example.coop"),
        (PRIVATE, "cloud.fki.commons.example.coop"),
    ] {
        let config = fragment(&d, app);
        assert_eq!(
            config["trusted_domains"],
            serde_json::json!([fqdn]),
            "{app}"
        );
        assert_eq!(
            config["overwrite.cli.url"],
            format!("https://{fqdn}"),
            "{app}"
        );
        assert_eq!(config["overwriteprotocol"], "https");
        assert_eq!(config["dbtype"], "pgsql");
        assert_eq!(config["dbhost"], "postgres-db:5432");
        assert_eq!(config["memcache.locking"], "\\OC\\Memcache\\Redis");
        assert_eq!(config["memcache.distributed"], "\\OC\\Memcache\\Redis");
        assert_eq!(config["redis"]["host"], "redis");
        assert_eq!(config["redis"]["port"], 6379);
        // Each instance has its own database and Redis passwords.
        for password in [&config["dbpassword"], &config["redis"]["password"]] {
            let password = password.as_str().expect("text").to_string();
            assert!(password.len() >= 16, "{app}: {password:?}");
            assert!(passwords.insert(password), "{app}: a password shared");
        }

        let script = configure_script(&d, app);
        let v = values(&script);
        assert_eq!(v["FQDN"], fqdn);
        assert_eq!(v["URL"], format!("https://{fqdn}"));
        assert_eq!(v["DB_NAME"], config["dbname"].as_str().unwrap(), "{app}");
        assert_eq!(v["DB_USER"], config["dbuser"].as_str().unwrap(), "{app}");
        assert_eq!(
            v["DB_PASSWORD"],
            config["dbpassword"].as_str().unwrap(),
            "{app}"
        );
        assert_eq!(v["DB_PORT"], "5432");
        assert_eq!(v["ADMIN_USER"], "_admin");
        assert!(v["ADMIN_PASSWORD"].len() >= 16, "{app}: an admin password");
    }
    let public = fragment(&d, PUBLIC);
    let private = fragment(&d, PRIVATE);
    assert_ne!(public["dbname"], private["dbname"]);
    assert_ne!(public["dbuser"], private["dbuser"]);
}

#[test]
fn web_and_cron_run_the_same_pinned_image_on_the_same_volumes() {
    let (_node, d) = sample(APPS);
    let pinned = pin_check("nextcloud:", "-apache@sha256:");
    for app in [PUBLIC, PRIVATE] {
        let web = container(&d, app, "web");
        let cron = container(&d, app, "cron");
        assert!(pinned(web.image.reference()), "{}", web.image.reference());
        assert_eq!(web.image.reference(), cron.image.reference());
        assert_eq!(cron.spec.command, Some(vec!["/cron.sh".to_string()]));
        assert_eq!(
            web.spec.command, None,
            "web keeps the image's apache2-foreground"
        );
        let targets = |c: &commonscloud::reconcile::desired::DesiredContainer| {
            let mut t: Vec<_> = c
                .spec
                .mounts
                .iter()
                .map(|m| (m.volume.clone(), m.target.clone()))
                .collect();
            t.sort();
            t
        };
        assert_eq!(
            targets(web),
            targets(cron),
            "{app}: cron sees the same files"
        );
        assert_eq!(targets(web).len(), 4, "{:?}", targets(web));
        assert_eq!(web.spec.env["PHP_UPLOAD_LIMIT"], "16G");
        assert_eq!(web.spec.env["APACHE_BODY_LIMIT"], "0");
    }
    // What backups take: the data, the configuration and the apps installed from the store;
    // not the code, which the image brings back.
    for (volume, backup) in [
        ("html", "false"),
        ("data", "true"),
        ("config", "true"),
        ("custom-apps", "true"),
    ] {
        for app in [PUBLIC, PRIVATE] {
            let v = d
                .volumes
                .iter()
                .find(|v| v.name.ends_with(&format!("-{app}-{volume}")))
                .unwrap_or_else(|| panic!("no volume {volume} of {app}"));
            assert_eq!(
                v.labels
                    .get(commonscloud::engine::labels::BACKUP)
                    .map(String::as_str),
                Some(backup),
                "{app}/{volume}"
            );
        }
    }
}

/// A predicate for `<prefix><version><middle><64 hex>` image references.
fn pin_check(prefix: &'static str, middle: &'static str) -> impl Fn(&str) -> bool {
    move |r: &str| {
        let Some(rest) = r.strip_prefix(prefix) else {
            return false;
        };
        let Some((version, digest)) = rest.split_once(middle) else {
            return false;
        };
        !version.is_empty()
            && version.chars().all(|c| c.is_ascii_digit() || c == '.')
            && digest.len() == 64
            && digest
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    }
}

#[test]
fn the_private_instance_admits_its_collective_members_only() {
    let (_node, d) = sample(APPS);
    let members = format!("memberOf=cn=members,ou=fki,ou=collectives,{BASE_DN}");

    let private = configure_script(&d, PRIVATE);
    let user_filter = ldap_setting(&private, "ldapUserFilter");
    assert!(user_filter.contains(&members), "{user_filter}");
    assert!(
        user_filter.contains("(objectClass=inetOrgPerson)"),
        "{user_filter}"
    );
    assert_eq!(
        ldap_setting(&private, "ldapLoginFilter"),
        format!("(&(uid=%uid){user_filter})")
    );
    assert_eq!(
        ldap_setting(&private, "ldapAgentName"),
        format!("cn=app-{PRIVATE},ou=system,{BASE_DN}")
    );
    assert_eq!(
        ldap_setting(&private, "ldapBaseGroups"),
        format!("ou=fki,ou=collectives,{BASE_DN}")
    );
    assert_eq!(
        ldap_setting(&private, "ldapGroupFilter"),
        "(&(objectClass=groupOfNames)(|(cn=members)(cn=admins)))"
    );

    let public = configure_script(&d, PUBLIC);
    let user_filter = ldap_setting(&public, "ldapUserFilter");
    assert!(!user_filter.contains("memberOf"), "{user_filter}");
    assert!(
        user_filter.contains("(objectClass=inetOrgPerson)"),
        "{user_filter}"
    );
    assert_eq!(
        ldap_setting(&public, "ldapLoginFilter"),
        format!("(&(uid=%uid){user_filter})")
    );
    assert_eq!(
        ldap_setting(&public, "ldapAgentName"),
        format!("cn=app-{PUBLIC},ou=system,{BASE_DN}")
    );
    assert_eq!(ldap_setting(&public, "ldapGroupFilter"), "");

    for script in [&private, &public] {
        assert_eq!(ldap_setting(script, "ldapHost"), "directory-ldap");
        assert_eq!(ldap_setting(script, "ldapPort"), "389");
        assert_eq!(ldap_setting(script, "ldapBase"), BASE_DN);
        assert_eq!(
            ldap_setting(script, "ldapBaseUsers"),
            format!("ou=people,{BASE_DN}")
        );
        assert_eq!(ldap_setting(script, "ldapEmailAttribute"), "mail");
        assert_eq!(ldap_setting(script, "ldapUserDisplayName"), "displayName");
        assert_eq!(ldap_setting(script, "ldapExpertUsernameAttr"), "uid");
        assert_eq!(ldap_setting(script, "ldapExpertUUIDUserAttr"), "entryuuid");
        assert_eq!(ldap_setting(script, "ldapConfigurationActive"), "1");
        assert!(ldap_setting(script, "ldapAgentPassword").len() >= 16);
    }
    assert_ne!(
        ldap_setting(&private, "ldapAgentPassword"),
        ldap_setting(&public, "ldapAgentPassword")
    );
}

#[test]
fn every_user_ldap_key_the_hook_sets_is_one_user_ldap_knows() {
    let (_node, d) = sample(APPS);
    let known = known("nextcloud-user-ldap-keys.txt");
    for app in [PUBLIC, PRIVATE] {
        let script = configure_script(&d, app);
        let settings = ldap_settings(&script);
        let mut seen = BTreeSet::new();
        for (key, _) in &settings {
            assert!(known.contains(key), "{app}: user_ldap has no key {key}");
            assert!(seen.insert(key.clone()), "{app}: {key} set twice");
        }
        // What a login needs, and the values that must not be left to auto-detection.
        for key in [
            "ldapHost",
            "ldapPort",
            "ldapAgentName",
            "ldapAgentPassword",
            "ldapBase",
            "ldapBaseUsers",
            "ldapBaseGroups",
            "ldapUserFilter",
            "ldapLoginFilter",
            "ldapGroupFilter",
            "ldapUserDisplayName",
            "ldapGroupDisplayName",
            "ldapEmailAttribute",
            "ldapExpertUsernameAttr",
            "ldapExpertUUIDUserAttr",
            "ldapConfigurationActive",
        ] {
            assert!(seen.contains(key), "{app}: {key} is not set");
        }
        // The keys that set-config would take but the configuration never stores.
        for key in [
            "ldapUuidUserAttribute",
            "ldapUuidGroupAttribute",
            "ldapIgnoreNamingRules",
        ] {
            assert!(
                !seen.contains(key),
                "{app}: {key} is not stored by user_ldap"
            );
        }
        // Each is written, then read back and compared, then the configuration is tested.
        for needle in [
            "ldap_settings ldap_set",
            "ldap:show-config \"$CONFIG_ID\" --output=json --show-password",
            "ldap_settings ldap_check",
            "ldap:test-config \"$CONFIG_ID\"",
            "configuration is valid and the connection could be established",
        ] {
            assert!(
                script.contains(needle),
                "{app}: the script lacks {needle:?}"
            );
        }
        let order: Vec<usize> = [
            "ldap_settings ldap_set",
            "ldap_settings ldap_check",
            "ldap:test-config",
        ]
        .iter()
        .map(|n| script.find(n).expect("present"))
        .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "set, read back, then test"
        );
    }
}

#[test]
fn every_system_setting_of_the_fragment_is_one_nextcloud_documents() {
    let (_node, d) = sample(APPS);
    let known = known("nextcloud-system-config-keys.txt");
    for app in [PUBLIC, PRIVATE] {
        let config = fragment(&d, app);
        let map = config.as_object().expect("$CONFIG is an array with keys");
        for key in map.keys() {
            assert!(
                known.contains(key),
                "{app}: config.sample.php documents no {key}"
            );
        }
        // config.sample.php documents `redis` with host, port, timeout, password and dbindex.
        for key in config["redis"]
            .as_object()
            .expect("redis is an array")
            .keys()
        {
            assert!(
                ["host", "port", "timeout", "password", "dbindex"].contains(&key.as_str()),
                "{app}: redis.{key}"
            );
        }
        // The configure hook reads back what it depends on.
        let script = configure_script(&d, app);
        for key in [
            "trusted_domains 0",
            "overwrite.cli.url",
            "overwriteprotocol",
            "memcache.locking",
            "redis host",
            "mail_smtphost",
        ] {
            let (first, _) = key.split_once(' ').unwrap_or((key, ""));
            assert!(known.contains(first), "{key}");
            assert!(
                script.contains(&format!(" {key}\n")),
                "{app}: no read-back of {key}"
            );
        }
    }
}

#[test]
fn every_richdocuments_setting_is_one_richdocuments_knows() {
    let (_node, d) = sample(APPS);
    let known = known("nextcloud-richdocuments-keys.txt");
    let script = configure_script(&d, PUBLIC);
    let mut found = 0;
    for line in script.lines() {
        for verb in [
            "config:app:set richdocuments ",
            "config:app:get richdocuments ",
        ] {
            if let Some(rest) = line.split(verb).nth(1) {
                let key: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(known.contains(&key), "richdocuments has no setting {key}");
                found += 1;
            }
        }
    }
    assert!(found >= 2, "the hook writes and reads back wopi_url");
}

#[test]
fn smtp_comes_from_node_yaml() {
    let (_node, d) = sample(APPS);
    let config = fragment(&d, PUBLIC);
    assert_eq!(config["mail_smtpmode"], "smtp");
    assert_eq!(config["mail_smtphost"], "mail.example.coop");
    assert_eq!(config["mail_smtpport"], 587);
    assert_eq!(config["mail_smtpauth"], true);
    assert_eq!(config["mail_smtpname"], "noreply");
    // STARTTLS (node.yaml's default) is what the mailer does by itself with an empty value.
    assert_eq!(config["mail_smtpsecure"], "");
    assert_eq!(config["mail_from_address"], "noreply");
    assert_eq!(config["mail_domain"], "example.coop");
    assert_eq!(
        config["lost_password_link"],
        "https://portal.commons.example.coop/password/forgot"
    );
}

#[test]
fn generated_php_and_shell_are_valid() {
    let (_node, d) = sample(APPS);
    if std::env::var("DUMP").is_ok() {
        for a in [PUBLIC, PRIVATE] {
            eprintln!(
                "=====\n{}\n=====\n{}",
                configure_script(&d, a),
                file(&d, a, "web", FRAGMENT)
            );
        }
    }
    for app in [PUBLIC, PRIVATE] {
        php_lint("commonscloud.config.php", &file(&d, app, "web", FRAGMENT));
        php_lint("json-get.php", &file(&d, app, "web", JSON_GET));
        for path in [CONFIGURE, BEFORE_STARTING] {
            let text = file(&d, app, "web", path);
            let (_dir, script) = temp_file("script.sh", &text);
            let out = Command::new("sh")
                .arg("-n")
                .arg(&script)
                .output()
                .expect("sh");
            assert!(
                out.status.success(),
                "sh -n {path} of {app}: {}\n{text}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Nothing is left for a template engine.
        let script = configure_script(&d, app);
        assert!(!script.contains("{{") && !script.contains("{%"), "{script}");
    }
}

/// A value with every character sh or PHP could take for syntax.
const ODD: &str = "it's \"odd\" \\ $HOME `id` %uid & (x)";

/// The nextcloud templates rendered for an instance whose every secret and credential is ODD.
fn odd_render(template: &str, smtp: bool) -> String {
    let (node, _) = sample(APPS);
    let loaded = node.loaded();
    let source = loaded.recipes["nextcloud"].templates[template].clone();
    let addon = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let mut ctx = TemplateContext {
        node: NodeView {
            name: "n".into(),
            domain: "commons.example.coop".into(),
            base_dn: BASE_DN.into(),
            operator_email: String::new(),
        },
        app: AppView {
            id: PUBLIC.into(),
            recipe: "nextcloud".into(),
            version: "0-1".into(),
            host: "cloud".into(),
            fqdn: "cloud.commons.example.coop".into(),
            url: "https://cloud.commons.example.coop".into(),
            collective: None,
            settings: BTreeMap::from([("office_url".to_string(), ODD.to_string())]),
        },
        component: ComponentView { name: "web".into() },
        secrets: BTreeMap::from([("admin_password".to_string(), ODD.to_string())]),
        addons: BTreeMap::from([
            (
                "postgres".to_string(),
                addon(&[
                    ("host", "postgres-db"),
                    ("port", "5432"),
                    ("database", ODD),
                    ("username", ODD),
                    ("password", ODD),
                    ("url", ODD),
                ]),
            ),
            (
                "redis".to_string(),
                addon(&[
                    ("host", "redis"),
                    ("port", "6379"),
                    ("password", ODD),
                    ("url", ODD),
                ]),
            ),
            (
                "smtp".to_string(),
                addon(&[
                    ("host", ODD),
                    ("port", "465"),
                    ("username", ODD),
                    ("password", ODD),
                    ("from", "odd'one@example.coop"),
                    ("security", "tls"),
                ]),
            ),
            (
                "ldap".to_string(),
                addon(&[
                    ("url", "ldap://directory-ldap:389"),
                    ("host", "directory-ldap"),
                    ("port", "389"),
                    ("base_dn", BASE_DN),
                    ("bind_dn", ODD),
                    ("bind_password", ODD),
                    ("people_dn", ODD),
                    ("groups_dn", ODD),
                    ("access_group_dn", ODD),
                    ("members_group_dn", ""),
                    ("user_filter", ODD),
                ]),
            ),
        ]),
        host: HostView {
            memory_mb: 4096,
            cpus: 2,
        },
    };
    if !smtp {
        ctx.addons.remove("smtp");
    }
    render(template, &source, &ctx).unwrap_or_else(|e| panic!("{e}"))
}

/// node.yaml's `smtp:` is optional: without it the instance still renders, and sends no mail.
#[test]
fn without_smtp_nextcloud_renders_and_sends_no_mail() {
    let text = odd_render("templates/commonscloud.config.php", false);
    php_lint("commonscloud.config.php", &text);
    assert!(!text.contains("mail_"), "{text}");
    let script = odd_render("templates/configure.sh", false);
    assert_eq!(value(&script, "SMTP_HOST"), "");
    assert!(script.contains("[ -z \"$SMTP_HOST\" ] || system_is \"$SMTP_HOST\" mail_smtphost"));
}

#[test]
fn odd_characters_survive_the_shell_and_php_quoting() {
    let script = odd_render("templates/configure.sh", true);
    let v = values(&script);
    for name in [
        "ADMIN_PASSWORD",
        "DB_NAME",
        "DB_PASSWORD",
        "LDAP_BIND_DN",
        "LDAP_BIND_PASSWORD",
        "OFFICE_URL",
    ] {
        assert_eq!(v[name], ODD, "{name}");
    }
    assert_eq!(v["LDAP_LOGIN_FILTER"], format!("(&(uid=%uid){ODD})"));
    assert_eq!(ldap_setting(&script, "ldapAgentPassword"), ODD);

    let text = odd_render("templates/commonscloud.config.php", true);
    php_lint("commonscloud.config.php", &text);
    let (_dir, path) = temp_file("commonscloud.config.php", &text);
    let out = Command::new("php")
        .args([
            "-r",
            "$CONFIG = null; require $argv[1]; echo json_encode($CONFIG);",
        ])
        .arg(&path)
        .output()
        .expect("php");
    let config: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for key in [
        "dbname",
        "dbuser",
        "dbpassword",
        "mail_smtphost",
        "mail_smtpname",
        "mail_smtppassword",
    ] {
        assert_eq!(config[key], ODD, "{key}");
    }
    assert_eq!(config["redis"]["password"], ODD);
    assert_eq!(config["mail_from_address"], "odd'one");
    assert_eq!(
        config["mail_smtpsecure"], "ssl",
        "security tls is TLS from the first byte"
    );
    assert_eq!(config["mail_smtpport"], 465);
}

#[test]
fn json_get_reads_what_occ_prints() {
    let (_node, d) = sample(APPS);
    let shown = "{\"s01\":{\"ldapHost\":\"directory-ldap\",\"ldapBase\":[\"dc=a,dc=b\"],\"ldapTLS\":\"0\"}}";
    assert_eq!(
        json_get(&d, shown, &["s01", "ldapHost"]),
        (0, "directory-ldap".into())
    );
    assert_eq!(
        json_get(&d, shown, &["s01", "ldapBase"]),
        (0, "dc=a,dc=b".into())
    );
    assert_eq!(json_get(&d, shown, &["--keys"]), (0, "s01".into()));
    assert_eq!(json_get(&d, "[]", &["--keys"]), (0, String::new()));
    // A key user_ldap does not have is not there: the hook stops.
    assert_eq!(json_get(&d, shown, &["s01", "ldapHots"]).0, 3);
    // occ may print a notice first; booleans come out as words.
    let status = "Nextcloud is not installed - only a limited number of commands are available\n\
                  {\"installed\":false,\"maintenance\":false,\"needsDbUpgrade\":false}\n";
    assert_eq!(json_get(&d, status, &["installed"]), (0, "false".into()));
    assert_eq!(json_get(&d, "not json", &["installed"]).0, 2);
    let apps = "{\"enabled\":{\"user_ldap\":\"1.22.0\"},\"disabled\":[]}";
    assert_eq!(json_get(&d, apps, &["enabled", "user_ldap"]).0, 0);
    assert_eq!(json_get(&d, apps, &["disabled", "richdocuments"]).0, 3);
}

#[test]
fn the_hooks_run_as_www_data_and_the_entrypoint_installs_first() {
    let (_node, d) = sample(APPS);
    for app in [PUBLIC, PRIVATE] {
        let configure = hook(&d, app, "configure");
        assert_eq!(configure.command, ["sh", CONFIGURE]);
        assert_eq!(configure.user.as_deref(), Some("www-data"));
        assert!(configure.container.ends_with(&format!("-{app}-web")));
        assert!(configure.timeout_secs >= 600, "installing takes minutes");
        let upgrade = hook(&d, app, "upgrade");
        assert_eq!(
            upgrade.command,
            ["php", "/var/www/html/occ", "upgrade", "--no-interaction"]
        );
        assert_eq!(upgrade.user.as_deref(), Some("www-data"));

        let web = container(&d, app, "web");
        let before = web
            .spec
            .files
            .iter()
            .find(|f| f.path == BEFORE_STARTING)
            .expect("the entrypoint hook");
        assert_eq!(
            before.mode, 0o755,
            "the entrypoint runs executable scripts only"
        );
        let text = String::from_utf8(before.contents.clone()).expect("text");
        assert!(text.contains(&format!("sh {CONFIGURE} install")), "{text}");
        // The install mode stops after installing and upgrading.
        let script = configure_script(&d, app);
        let stop = script
            .find("[ \"${1:-}\" = install ] && exit 0")
            .expect("install mode");
        assert!(script.find("\nensure_upgraded\n").expect("upgrade step") < stop);
        assert!(script.find("\nconfigure_ldap\n").expect("ldap step") > stop);
    }
}

#[test]
fn office_is_on_where_office_url_is_set_and_collabora_serves_that_instance() {
    let (node, d) = sample(APPS);
    assert_eq!(
        value(&configure_script(&d, PUBLIC), "OFFICE_URL"),
        "https://office.commons.example.coop"
    );
    assert_eq!(value(&configure_script(&d, PRIVATE), "OFFICE_URL"), "");

    let code = container(&d, OFFICE, "code");
    let pinned = pin_check("collabora/code:", "@sha256:");
    assert!(pinned(code.image.reference()), "{}", code.image.reference());
    let env = &code.spec.env;
    assert_eq!(env["aliasgroup1"], "https://cloud.commons.example.coop:443");
    assert_eq!(env["server_name"], "office.commons.example.coop");
    assert!(env["extra_params"].contains("--o:ssl.termination=true"));
    assert!(env["extra_params"].contains("--o:ssl.enable=false"));
    assert!(env["password"].len() >= 16);
    let office = route(&node, "collabora", "code");
    assert_eq!(office.port, 9980);
    assert!(office.websockets, "the editor is a WebSocket");
}

#[test]
fn the_route_lets_large_uploads_and_long_requests_through() {
    let (node, _d) = sample(APPS);
    let web = route(&node, "nextcloud", "web");
    assert_eq!(web.port, 80);
    assert_eq!(web.path, "/");
    assert!(web.max_body.expect("max_body").0 >= 16 << 30);
    assert!(web.timeout.expect("timeout").0 >= 3600.0);
}

/// Live: bring both instances up with the directory and log in over WebDAV (HTTP basic auth,
/// which Nextcloud checks against LDAP) through the edge. Needs Docker Hub for the Nextcloud
/// image and the app store nowhere (no office); enabled by COMMONSCLOUD_LIVE_APPS=1.
#[tokio::test(flavor = "multi_thread")]
async fn live_a_member_logs_in_and_an_outsider_does_not() {
    if !live() {
        eprintln!(
            "skipped: set COMMONSCLOUD_LIVE_APPS=1 to pull Nextcloud and log in for real \
             (needs Docker Hub; see docs/testing.md)"
        );
        return;
    }
    let (node, _) = sample(
        "  - { recipe: nextcloud, host: cloud }\n  - { recipe: nextcloud, host: cloud.fki, collective: fki }\n",
    );
    let engine = common::engine().await;
    let report = node.up(&engine).await;
    assert!(report.apply.succeeded(), "{:?}", report.apply);

    common::contract::live_people(&node);
    let password = common::contract::LIVE_PASSWORD;

    let (_, https) = commonscloud::ops::edge::ports(&engine, &node.name)
        .await
        .expect("edge ports");
    let this = &node;
    // PROPFIND on the user's files: 207 when LDAP accepted the login, 401 otherwise.
    let dav = |host: &'static str, user: &'static str, secret: &'static str| async move {
        let fqdn = format!("{host}.commons.example.coop");
        let client = this.https_client(https, &[&fqdn]).build().expect("client");
        client
            .request(
                reqwest::Method::from_bytes(b"PROPFIND").expect("method"),
                format!("https://{fqdn}:{https}/remote.php/dav/files/{user}/"),
            )
            .header("Depth", "0")
            .basic_auth(user, Some(secret))
            .send()
            .await
            .expect("PROPFIND")
            .status()
            .as_u16()
    };
    assert_eq!(
        dav("cloud", "alice", password).await,
        207,
        "alice on the public cloud"
    );
    assert_eq!(
        dav("cloud", "bob", password).await,
        207,
        "bob on the public cloud"
    );
    assert_eq!(
        dav("cloud.fki", "alice", password).await,
        207,
        "alice is in fki"
    );
    assert_eq!(
        dav("cloud.fki", "bob", password).await,
        401,
        "bob is not in fki"
    );
    assert_eq!(
        dav("cloud", "alice", "wrong").await,
        401,
        "a wrong password"
    );
}

/// A stand-in for Nextcloud's occ, in PHP, for running the configure hook without Nextcloud:
/// it keeps its state in state.json next to itself and logs each command to calls.log. Like
/// user_ldap's ldap:set-config it accepts any key; it ignores FAKE_IGNORED_KEY (an unknown key),
/// keeps FAKE_MANGLED_KEY lower-cased, and ldap:test-config fails when FAKE_LDAP_INVALID is set.
const FAKE_OCC: &str = r#"<?php
$root = __DIR__;
$file = "$root/state.json";
$s = is_file($file) ? json_decode(file_get_contents($file), true)
    : ['installed' => false, 'app' => [], 'ldap' => [], 'apps' => ['user_ldap' => false]];
$args = array_values(array_filter(array_slice($argv, 1), fn ($a) => $a !== '--no-interaction'));
file_put_contents("$root/calls.log", implode(' ', $args) . "\n", FILE_APPEND);
$cmd = $args[0] ?? '';
$flag = fn ($name) => in_array("--$name", $args, true);
$option = function ($name) use ($args) {
    foreach ($args as $a) {
        if (str_starts_with($a, "--$name=")) {
            return substr($a, strlen($name) + 3);
        }
    }
    return null;
};
$plain = array_values(array_filter($args, fn ($a) => !str_starts_with($a, '--')));
switch ($cmd) {
    case 'status':
        echo json_encode(['installed' => $s['installed'], 'maintenance' => false, 'needsDbUpgrade' => false]), "\n";
        break;
    case 'maintenance:install':
        $s['installed'] = true;
        $s['install'] = array_slice($args, 1);
        echo "Nextcloud was successfully installed\n";
        break;
    case 'config:system:get':
        $all = [];
        foreach (glob("$root/config/*.config.php") as $f) {
            $CONFIG = [];
            include $f;
            $all = array_merge($all, $CONFIG);
        }
        $v = $all;
        foreach (array_slice($plain, 1) as $k) {
            if (!is_array($v) || !array_key_exists($k, $v)) {
                exit(1);
            }
            $v = $v[$k];
        }
        echo is_array($v) ? implode("\n", $v) : $v, "\n";
        break;
    case 'background:cron':
        $s['app']['core']['backgroundjobs_mode'] = 'cron';
        break;
    case 'config:app:set':
        $s['app'][$plain[1]][$plain[2]] = $option('value');
        break;
    case 'config:app:get':
        if (!isset($s['app'][$plain[1]][$plain[2]])) {
            exit(1);
        }
        echo $s['app'][$plain[1]][$plain[2]], "\n";
        break;
    case 'maintenance:update:htaccess':
    case 'richdocuments:activate-config':
        break;
    case 'app:enable':
    case 'app:install':
        $s['apps'][$plain[1]] = true;
        break;
    case 'app:disable':
        $s['apps'][$plain[1]] = false;
        break;
    case 'app:list':
        $enabled = $disabled = [];
        foreach ($s['apps'] as $app => $on) {
            if ($on) { $enabled[$app] = '1.0.0'; } else { $disabled[$app] = '1.0.0'; }
        }
        echo json_encode(['enabled' => $enabled, 'disabled' => $disabled]), "\n";
        break;
    case 'ldap:create-empty-config':
        $id = sprintf('s%02d', count($s['ldap']) + 1);
        $s['ldap'][$id] = ['ldapConfigurationActive' => '0'];
        echo "Created new configuration with configID '$id'\n";
        break;
    case 'ldap:set-config':
        [, $id, $key, $value] = $plain + [3 => ''];
        if ($key === getenv('FAKE_IGNORED_KEY')) {
            break;
        }
        if ($key === getenv('FAKE_MANGLED_KEY')) {
            $value = strtolower($value);
        }
        if (in_array($key, ['ldapBase', 'ldapBaseUsers', 'ldapBaseGroups'], true)) {
            $value = preg_split('/\r\n|\r|\n|;/', $value);
        }
        $s['ldap'][$id][$key] = $value;
        break;
    case 'ldap:show-config':
        $ids = isset($plain[1]) ? [$plain[1]] : array_keys($s['ldap']);
        $out = [];
        foreach ($ids as $id) {
            $out[$id] = $s['ldap'][$id];
            if (!$flag('show-password') && isset($out[$id]['ldapAgentPassword'])) {
                $out[$id]['ldapAgentPassword'] = '***';
            }
        }
        echo json_encode($out), "\n";
        break;
    case 'ldap:test-config':
        echo getenv('FAKE_LDAP_INVALID')
            ? "The configuration is invalid. Please have a look at the logs for further details.\n"
            : "The configuration is valid and the connection could be established!\n";
        break;
    default:
        fwrite(STDERR, "fake occ: no command $cmd\n");
        exit(1);
}
file_put_contents($file, json_encode($s));
"#;

/// A Nextcloud root with the fake occ, and the configure hook of `app` pointed at it.
struct FakeNextcloud {
    dir: tempfile::TempDir,
    script: std::path::PathBuf,
}

impl FakeNextcloud {
    fn new(d: &DesiredState, app: &str) -> FakeNextcloud {
        let dir = tempfile::tempdir().expect("temp dir");
        let html = dir.path().join("html");
        let share = dir.path().join("share");
        std::fs::create_dir_all(html.join("config")).expect("mkdir");
        std::fs::create_dir_all(&share).expect("mkdir");
        std::fs::write(html.join("occ"), FAKE_OCC).expect("occ");
        for (from, to) in [
            (FRAGMENT, "commonscloud.config.php"),
            (JSON_GET, "json-get.php"),
        ] {
            std::fs::write(share.join(to), file(d, app, "web", from)).expect("share");
        }
        let script = configure_script(d, app);
        for line in [
            "HTML=/var/www/html\n",
            "SHARE=/usr/local/share/commonscloud\n",
        ] {
            assert!(script.contains(line), "the script has {line:?}");
        }
        let script = script
            .replace(
                "HTML=/var/www/html\n",
                &format!("HTML='{}'\n", html.display()),
            )
            .replace(
                "SHARE=/usr/local/share/commonscloud\n",
                &format!("SHARE='{}'\n", share.display()),
            );
        let path = dir.path().join("configure.sh");
        std::fs::write(&path, script).expect("script");
        FakeNextcloud { dir, script: path }
    }

    /// Run the hook with `env`: (succeeded, stdout, stderr).
    fn run(&self, env: &[(&str, &str)]) -> (bool, String, String) {
        let out = Command::new("sh")
            .arg(&self.script)
            .envs(env.iter().copied())
            .output()
            .expect("sh");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn state(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.path().join("html/state.json")).expect("state");
        serde_json::from_str(&text).expect("json")
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("html/calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

#[test]
fn the_configure_hook_installs_configures_and_reads_back_against_a_fake_occ() {
    let (_node, d) = sample(APPS);
    let fake = FakeNextcloud::new(&d, PRIVATE);
    let (ok, out, err) = fake.run(&[]);
    assert!(ok, "{out}{err}");
    let state = fake.state();
    assert_eq!(state["installed"], true);
    let install = state["install"].as_array().expect("install arguments");
    let script = configure_script(&d, PRIVATE);
    for (flag, value) in [
        ("--database", "pgsql".to_string()),
        ("--database-host", "postgres-db".to_string()),
        ("--database-port", "5432".to_string()),
        ("--database-name", value(&script, "DB_NAME")),
        ("--admin-user", "_admin".to_string()),
    ] {
        let at = install
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("no {flag} in {install:?}"));
        assert_eq!(install[at + 1], value.as_str(), "{flag}");
    }
    assert_eq!(state["app"]["core"]["backgroundjobs_mode"], "cron");
    assert_eq!(state["apps"]["user_ldap"], true);
    let ldap = &state["ldap"]["s01"];
    for (key, value) in ldap_settings(&script) {
        let stored = match &ldap[&key] {
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n"),
            other => other.as_str().unwrap_or_default().to_string(),
        };
        assert_eq!(stored, value, "{key}");
    }
    assert!(
        fake.dir
            .path()
            .join("html/config/commonscloud.config.php")
            .is_file(),
        "the fragment is in config/"
    );
    assert_eq!(state["apps"].get("richdocuments"), None, "no office here");
    assert!(
        out.contains("user_ldap configuration s01 written, read back and tested"),
        "{out}"
    );

    // Again: nothing is installed or created twice.
    let before = fake.calls().len();
    let (ok, out, err) = fake.run(&[]);
    assert!(ok, "{out}{err}");
    let again = &fake.calls()[before..];
    assert!(
        !again
            .iter()
            .any(|c| c.starts_with("maintenance:install")
                || c.starts_with("ldap:create-empty-config")),
        "{again:?}"
    );
    assert_eq!(fake.state()["ldap"].as_object().map(|m| m.len()), Some(1));
}

#[test]
fn the_configure_hook_turns_office_on_and_off_with_office_url() {
    let (_node, d) = sample(APPS);
    let fake = FakeNextcloud::new(&d, PUBLIC);
    let (ok, out, err) = fake.run(&[]);
    assert!(ok, "{out}{err}");
    let state = fake.state();
    assert_eq!(state["apps"]["richdocuments"], true);
    assert_eq!(
        state["app"]["richdocuments"]["wopi_url"],
        "https://office.commons.example.coop"
    );
    assert!(fake
        .calls()
        .iter()
        .any(|c| c == "richdocuments:activate-config"));

    // The private instance has no office_url: an enabled richdocuments is turned off.
    let fake = FakeNextcloud::new(&d, PRIVATE);
    assert!(fake.run(&[]).0);
    let mut state = fake.state();
    state["apps"]["richdocuments"] = Value::Bool(true);
    std::fs::write(fake.dir.path().join("html/state.json"), state.to_string()).expect("state");
    let (ok, out, err) = fake.run(&[]);
    assert!(ok, "{out}{err}");
    assert_eq!(fake.state()["apps"]["richdocuments"], false);
}

#[test]
fn the_configure_hook_stops_when_user_ldap_does_not_keep_a_setting() {
    let (_node, d) = sample(APPS);
    // A key set-config takes and ignores.
    let (ok, _, err) =
        FakeNextcloud::new(&d, PRIVATE).run(&[("FAKE_IGNORED_KEY", "ldapExpertUUIDUserAttr")]);
    assert!(!ok);
    assert!(
        err.contains("ldapExpertUUIDUserAttr") && err.contains("does not know"),
        "{err}"
    );
    // A value kept otherwise than it was set.
    let (ok, _, err) =
        FakeNextcloud::new(&d, PRIVATE).run(&[("FAKE_MANGLED_KEY", "ldapUserDisplayName")]);
    assert!(!ok);
    assert!(
        err.contains("keeps ldapUserDisplayName = 'displayname', not 'displayName'"),
        "{err}"
    );
    // The password is compared too, but never printed.
    let (ok, _, err) =
        FakeNextcloud::new(&d, PRIVATE).run(&[("FAKE_MANGLED_KEY", "ldapAgentPassword")]);
    assert!(!ok);
    let password = ldap_setting(&configure_script(&d, PRIVATE), "ldapAgentPassword");
    assert!(
        err.contains("ldapAgentPassword") && !err.contains(&password),
        "{err}"
    );
    assert!(!err.contains(&password.to_lowercase()), "{err}");
    // A configuration user_ldap finds invalid.
    let (ok, _, err) = FakeNextcloud::new(&d, PRIVATE).run(&[("FAKE_LDAP_INVALID", "1")]);
    assert!(!ok);
    assert!(
        err.contains("ldap:test-config does not find configuration s01 valid"),
        "{err}"
    );
}
