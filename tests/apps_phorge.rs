//! Contract of the `phorge` recipe (recipes/phorge, images/phorge, docs/apps/phorge.md): a
//! public instance and a collective's private one render with their own database namespace,
//! host and directory filter; every configuration key, LDAP provider property and column
//! written is one Phorge declares (tests/apps/known/phorge-*.txt, cited in their headers);
//! the generated PHP, shell, JSON and nginx configuration are valid; the configure hook
//! writes, reads back and locks the LDAP provider against a stand-in for Phorge. The live
//! test (COMMONSCLOUD_LIVE_APPS=1) builds the image from GitHub and logs in for real.

mod common;

use common::contract::*;
use commonscloud::reconcile::DesiredState;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const APPS: &str = "  - { recipe: phorge, host: projects }\n  \
                    - { recipe: phorge, host: projects.fki, collective: fki }\n";
const PUBLIC: &str = "projects";
const PRIVATE: &str = "projects-fki";
const BASE_DN: &str = "dc=commons,dc=example,dc=coop";
const LOCAL_JSON: &str = "/opt/phorge/phorge/conf/local/local.json";
const PROVIDER_JSON: &str = "/etc/phorge/ldap-provider.json";
const PROVIDER_PHP: &str = "/etc/phorge/ldap-provider.php";
const CONFIGURE: &str = "/etc/phorge/configure.sh";
const NGINX: &str = "/etc/phorge/nginx.conf";
const FPM: &str = "/etc/phorge/php-fpm.conf";
const DAEMONS_JSON: &str = "/etc/phorge/daemons.json";

/// The names of a known-keys list (one a line, `#` comments).
fn known(file: &str) -> BTreeSet<String> {
    let path = common::repo().join("tests/apps/known").join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn json_file(d: &DesiredState, app: &str, component: &str, path: &str) -> Value {
    let text = file(d, app, component, path);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{app}/{component} {path}: {e}\n{text}"))
}

fn object(v: &Value) -> &Map<String, Value> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
}

fn local(d: &DesiredState, app: &str) -> Value {
    json_file(d, app, "web", LOCAL_JSON)
}

fn provider(d: &DesiredState, app: &str) -> Value {
    json_file(d, app, "web", PROVIDER_JSON)
}

fn search(d: &DesiredState, app: &str) -> String {
    provider(d, app)["properties"]["ldap:search-attribute"]
        .as_str()
        .expect("a search")
        .to_string()
}

fn image_file(name: &str) -> String {
    let path = common::repo().join("images/phorge").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn both_instances_render_with_their_own_namespace_host_and_account() {
    let (_node, d) = sample(APPS);
    let (a, b) = (local(&d, PUBLIC), local(&d, PRIVATE));
    for (app, fqdn, conf) in [
        (PUBLIC, "projects.commons.example.coop", &a),
        (PRIVATE, "projects.fki.commons.example.coop", &b),
    ] {
        assert_eq!(
            conf["phabricator.base-uri"],
            format!("https://{fqdn}/"),
            "{app}"
        );
        assert_eq!(
            conf["security.alternate-file-domain"],
            format!("https://files.{fqdn}/"),
            "{app}"
        );
        assert_eq!(conf["mysql.host"], "mariadb-db", "{app}");
        assert_eq!(
            conf["mysql.port"], "3306",
            "{app}: Phorge's mysql.port is a string"
        );
        // Phorge names its ~60 databases <namespace>_<application>: the namespace is the
        // instance's own database name, which the supervisor's grant covers (<name>\_%).
        assert_eq!(
            conf["storage.default-namespace"], conf["mysql.user"],
            "{app}"
        );
        let pass = conf["mysql.pass"].as_str().expect("a password");
        assert!(pass.len() >= 16, "{app}: {pass}");
        assert_eq!(conf["storage.local-disk.path"], "/var/lib/phorge/files");
        assert_eq!(conf["repository.default-local-path"], "/var/repo/");
        assert_eq!(conf["pygments.enabled"], true);
        assert_eq!(conf["phd.user"], "phorge");
        assert!(
            conf.get("auth.lock-config").is_none(),
            "locked by `bin/auth lock`"
        );
        // Every component of an instance reads the same configuration.
        for component in ["cdn", "daemons"] {
            assert_eq!(
                &json_file(&d, app, component, LOCAL_JSON),
                conf,
                "{app}/{component}"
            );
        }
    }
    for key in ["mysql.user", "mysql.pass", "storage.default-namespace"] {
        assert_ne!(a[key], b[key], "{key} is shared by two instances");
    }
    // The app's own read-only directory account, not the directory's admin.
    for (app, conf) in [
        (PUBLIC, provider(&d, PUBLIC)),
        (PRIVATE, provider(&d, PRIVATE)),
    ] {
        let p = &conf["properties"];
        assert_eq!(
            p["ldap:anoynmous-username"],
            format!("cn=app-{app},ou=system,{BASE_DN}")
        );
        assert!(p["ldap:anonymous-password"].as_str().unwrap().len() >= 16);
        assert_eq!(p["ldap:host"], "directory-ldap");
        assert_eq!(p["ldap:port"], 389);
        assert_eq!(p["ldap:dn"], format!("ou=people,{BASE_DN}"));
        assert_eq!(p["ldap:username-attribute"], "uid");
        assert_eq!(
            p["ldap:start-tls"], 0,
            "true would make Phorge dial ldaps://"
        );
    }
    assert_ne!(
        provider(&d, PUBLIC)["properties"]["ldap:anonymous-password"],
        provider(&d, PRIVATE)["properties"]["ldap:anonymous-password"]
    );
}

#[test]
fn the_private_instance_admits_its_collective_members_only() {
    let (_node, d) = sample(APPS);
    let members = format!("memberOf=cn=members,ou=fki,ou=collectives,{BASE_DN}");
    let public = search(&d, PUBLIC);
    let private = search(&d, PRIVATE);
    assert_eq!(public, "(&(uid=${login})(objectClass=inetOrgPerson))");
    assert!(!public.contains("memberOf"), "{public}");
    assert!(
        private.starts_with("(&(uid=${login})(&(objectClass=inetOrgPerson)"),
        "{private}"
    );
    assert!(private.contains(&members), "{private}");
    // Phorge substitutes ${login} (escaped) and otherwise sends the line as it is: it must
    // be one balanced filter.
    for f in [&public, &private] {
        let opened = f.matches('(').count();
        assert_eq!(opened, f.matches(')').count(), "{f}");
    }
    // Logins only through the directory, which vouches for the addresses.
    let p = provider(&d, PRIVATE);
    assert_eq!(p["providerClass"], "PhabricatorLDAPAuthProvider");
    assert_eq!(
        (p["providerType"].as_str(), p["providerDomain"].as_str()),
        (Some("ldap"), Some("self"))
    );
    for (flag, want) in [
        ("isEnabled", 1),
        ("shouldAllowLogin", 1),
        ("shouldAllowRegistration", 1),
        ("shouldAllowLink", 1),
        ("shouldAllowUnlink", 0),
        ("shouldTrustEmails", 1),
        ("shouldAutoLogin", 0),
    ] {
        assert_eq!(p[flag], want, "{flag}");
    }
    assert_eq!(local(&d, PRIVATE)["auth.require-approval"], false);
}

#[test]
fn every_key_written_is_one_phorge_declares() {
    let (_node, d) = sample(APPS);
    let config = known("phorge-config-keys.txt");
    let properties = known("phorge-ldap-provider-keys.txt");
    let columns = known("phorge-auth-provider-columns.txt");
    let mailer = known("phorge-smtp-mailer-keys.txt");
    for app in [PUBLIC, PRIVATE] {
        let conf = local(&d, app);
        for key in object(&conf).keys() {
            assert!(config.contains(key), "{app}: Phorge has no option {key}");
        }
        for entry in conf["cluster.mailers"].as_array().expect("mailers") {
            for key in object(entry).keys() {
                assert!(
                    mailer.contains(&format!("entry {key}")),
                    "mailer entry key {key}"
                );
            }
            assert_eq!(entry["type"], "smtp");
            for key in object(&entry["options"]).keys() {
                assert!(mailer.contains(&format!("smtp {key}")), "smtp option {key}");
            }
        }
        let p = provider(&d, app);
        for key in object(&p).keys() {
            assert!(columns.contains(key), "{app}: no provider column {key}");
        }
        for key in object(&p["properties"]).keys() {
            assert!(
                properties.contains(key),
                "{app}: LDAP provider has no property {key}"
            );
        }
        // Every property is written, so the read-back compares all of them.
        assert_eq!(object(&p["properties"]).len(), properties.len());
    }
}

#[test]
fn smtp_comes_from_node_yaml() {
    let (_node, d) = sample(APPS);
    let conf = local(&d, PUBLIC);
    assert_eq!(conf["metamta.default-address"], "noreply@example.coop");
    let mailers = conf["cluster.mailers"].as_array().expect("a list");
    assert_eq!(mailers.len(), 1);
    let o = &mailers[0]["options"];
    assert_eq!(o["host"], "mail.example.coop");
    assert_eq!(o["port"], 587, "PhabricatorMailSMTPAdapter wants an int");
    assert_eq!(o["user"], "noreply");
    // node.yaml's default security is STARTTLS, PHPMailer's "tls".
    assert_eq!(o["protocol"], "tls");
}

#[test]
fn daemon_pools_and_php_workers_follow_the_host() {
    let (_node, d) = sample(APPS);
    let conf = local(&d, PUBLIC);
    let pools = json_file(&d, PUBLIC, "daemons", DAEMONS_JSON);
    let taskmasters = conf["phd.taskmasters"].as_u64().expect("an int");
    assert!((1..=4).contains(&taskmasters), "{taskmasters}");
    let daemons = pools["daemons"].as_array().expect("daemons");
    let classes: Vec<&str> = daemons
        .iter()
        .map(|d| d["class"].as_str().unwrap())
        .collect();
    // What `bin/phd start` launches (PhabricatorDaemonManagementWorkflow::executeStartCommand).
    assert_eq!(
        classes,
        [
            "PhabricatorRepositoryPullLocalDaemon",
            "PhabricatorTriggerDaemon",
            "PhabricatorFactDaemon",
            "PhabricatorTaskmasterDaemon"
        ]
    );
    assert_eq!(daemons[3]["pool"].as_u64(), Some(taskmasters));
    // No `daemonize` and no `log`: the overseer stays in the foreground.
    assert_eq!(object(&pools).keys().collect::<Vec<_>>(), ["daemons"]);
    let fpm = file(&d, PUBLIC, "web", FPM);
    let children: u64 = fpm
        .lines()
        .find_map(|l| l.strip_prefix("pm.max_children = "))
        .expect("pm.max_children")
        .parse()
        .expect("a number");
    assert!([4, 8, 16].contains(&children), "{children}");
}

#[test]
fn components_share_the_data_volumes_and_the_hooks_run_as_phorge() {
    let (node, d) = sample(APPS);
    let loaded = node.loaded();
    let recipe = &loaded.recipes["phorge"].recipe;
    let mounts = |c: &str| -> Vec<(String, String, bool)> {
        recipe.components[c]
            .volumes
            .iter()
            .map(|v| (v.name.clone(), v.path.clone(), v.backup))
            .collect()
    };
    let repo = ("repo".to_string(), "/var/repo".to_string(), true);
    let files = (
        "files".to_string(),
        "/var/lib/phorge/files".to_string(),
        true,
    );
    let dump = ("dump".to_string(), "/var/lib/phorge/dump".to_string(), true);
    assert_eq!(mounts("web"), [repo.clone(), files.clone(), dump]);
    assert_eq!(mounts("daemons"), [repo, files.clone()]);
    assert_eq!(mounts("cdn"), [files]);
    for c in ["web", "cdn", "daemons"] {
        assert_eq!(recipe.components[c].build.as_deref(), Some("phorge"), "{c}");
    }

    for app in [PUBLIC, PRIVATE] {
        let hooks: Vec<_> = ["configure", "upgrade", "backup", "restore"]
            .iter()
            .map(|k| hook(&d, app, k))
            .collect();
        for h in &hooks {
            assert_eq!(h.user.as_deref(), Some("phorge"), "{app} {}", h.kind);
            assert_eq!(
                h.container,
                container(&d, app, "web").spec.name,
                "{}",
                h.kind
            );
        }
        assert_eq!(hooks[0].command, ["sh", CONFIGURE, ""]);
        assert_eq!(
            hooks[1].command,
            ["/opt/phorge/phorge/bin/storage", "upgrade", "--force"]
        );
        assert!(hooks[2].command.starts_with(&[
            "/opt/phorge/phorge/bin/storage".to_string(),
            "dump".to_string()
        ]));
        assert_eq!(
            hooks[2].command.last().map(String::as_str),
            Some("/var/lib/phorge/dump/phorge.sql.gz")
        );
        assert_eq!(hooks[3].command[..3], ["bash", "-o", "pipefail"]);
        assert!(hooks[3].command[4].contains("| /opt/phorge/phorge/bin/storage shell"));
    }
    // The admins setting reaches the hook as one argument, not as shell code.
    let (_n, d2) =
        sample("  - { recipe: phorge, host: projects, settings: { admins: \"ana, $(id)\" } }\n");
    assert_eq!(hook(&d2, PUBLIC, "configure").command[2], "ana, $(id)");
}

#[test]
fn the_routes_serve_the_application_and_its_file_domain() {
    let (node, _d) = sample(APPS);
    let loaded = node.loaded();
    let recipe = &loaded.recipes["phorge"].recipe;
    let web = recipe.components["web"].route.clone().expect("web route");
    assert_eq!(web.port, 8080);
    assert!(web.prefix.is_none());
    assert!(web.max_body.expect("max_body").0 >= 512 << 20);
    assert!(!web.websockets, "no Aphlict, no WebSockets");
    let cdn = recipe.components["cdn"].route.clone().expect("cdn route");
    assert_eq!(cdn.prefix.as_deref(), Some("files"));
    assert!(recipe.components["daemons"].route.is_none());
    let hosts = loaded.hostnames();
    for h in [
        "projects.commons.example.coop",
        "files.projects.commons.example.coop",
        "files.projects.fki.commons.example.coop",
    ] {
        assert!(hosts.iter().any(|x| x == h), "{h} not in {hosts:?}");
    }
    // nginx lets through what the route lets through.
    let (_n, d) = sample(APPS);
    assert!(file(&d, PUBLIC, "web", NGINX).contains("client_max_body_size 512m;"));
}

#[test]
fn generated_php_shell_and_json_are_valid() {
    let (_node, d) = sample(APPS);
    if std::env::var("DUMP").is_ok() {
        for path in [LOCAL_JSON, PROVIDER_JSON, CONFIGURE, NGINX, FPM] {
            eprintln!("===== {PRIVATE} {path}\n{}", file(&d, PRIVATE, "web", path));
        }
        eprintln!(
            "===== {PRIVATE} {DAEMONS_JSON}\n{}",
            file(&d, PRIVATE, "daemons", DAEMONS_JSON)
        );
    }
    for app in [PUBLIC, PRIVATE] {
        php_lint("ldap-provider.php", &file(&d, app, "web", PROVIDER_PHP));
        sh_check("sh", "configure.sh", &file(&d, app, "web", CONFIGURE));
        for (component, path) in [
            ("web", LOCAL_JSON),
            ("web", PROVIDER_JSON),
            ("daemons", DAEMONS_JSON),
        ] {
            json_file(&d, app, component, path);
        }
        for (component, path) in [("web", CONFIGURE), ("web", PROVIDER_PHP), ("web", NGINX)] {
            let text = file(&d, app, component, path);
            assert!(
                !text.contains("{{") && !text.contains("{%"),
                "{path}: {text}"
            );
        }
    }
    php_lint("db-ready.php", &image_file("db-ready.php"));
    for script in ["entrypoint.sh", "phorge-daemons.sh", "phorge-health.sh"] {
        sh_check("sh", script, &image_file(script));
    }
    sh_check("bash", "phorge-web.sh", &image_file("phorge-web.sh"));
}

fn sh_check(shell: &str, name: &str, text: &str) {
    let (_dir, path) = temp_file(name, text);
    let out = Command::new(shell)
        .arg("-n")
        .arg(&path)
        .output()
        .expect(shell);
    assert!(
        out.status.success(),
        "{shell} -n {name}: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A local image of our edge (it has Debian's nginx), if one was built on this machine.
fn edge_image() -> Option<String> {
    let out = Command::new("docker")
        .args([
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "commonscloud/edge",
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(str::to_string)
}

#[test]
fn nginx_accepts_the_generated_configuration() {
    let Some(image) = edge_image() else {
        eprintln!(
            "skipped: nginx -t needs nginx; no commonscloud/edge image on this machine \
             (the host has no nginx; build the edge, e.g. with the edge tests, to run this)"
        );
        return;
    };
    let (_node, d) = sample(APPS);
    for (app, component) in [(PUBLIC, "web"), (PRIVATE, "cdn")] {
        let (dir, _) = temp_file("nginx.conf", &file(&d, app, component, NGINX));
        let mount = format!("{}:/etc/phorge:ro", dir.path().display());
        // The image's entrypoint makes /run/phorge (nginx -t opens the pid file there).
        let out = Command::new("docker")
            .args([
                "run",
                "--rm",
                "--network",
                "none",
                "--entrypoint",
                "sh",
                "-v",
            ])
            .arg(&mount)
            .args([
                &image,
                "-c",
                "mkdir -p /run/phorge && nginx -t -e stderr -c /etc/phorge/nginx.conf",
            ])
            .output()
            .expect("docker");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && text.contains("test is successful"),
            "nginx -t ({app}/{component}, in {image}): {text}"
        );
    }
}

#[test]
fn php_fpm_accepts_the_generated_pool() {
    let fpm = ["php-fpm", "php-fpm8.2", "php-fpm8.3", "php-fpm8.4"]
        .iter()
        .flat_map(|b| [format!("/usr/sbin/{b}"), format!("/usr/local/sbin/{b}")])
        .find(|p| Path::new(p).exists());
    let Some(fpm) = fpm else {
        eprintln!(
            "skipped: php-fpm -t needs php-fpm, which this machine does not have \
             (the image installs it; ask for php-fpm in scripts/test to run this)"
        );
        return;
    };
    let (_node, d) = sample(APPS);
    let (_dir, path) = temp_file("php-fpm.conf", &file(&d, PUBLIC, "web", FPM));
    let out = Command::new(&fpm)
        .arg("-t")
        .arg("-y")
        .arg(&path)
        .output()
        .expect("php-fpm");
    assert!(
        out.status.success(),
        "{fpm} -t: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- The configure hook against a stand-in for Phorge -------------------------------------

/// Just enough of Phorge's script environment for ldap-provider.php: its storage class for
/// auth providers, users and configuration, kept in the JSON file $FAKE_DB. $FAKE_DROP names
/// a provider property the storage loses (to see the read-back catch it).
const FAKE_INIT: &str = r#"<?php
function id($x) { return $x; }
function fake_db() { return json_decode(file_get_contents(getenv('FAKE_DB')), true); }
function fake_put($db) { file_put_contents(getenv('FAKE_DB'), json_encode($db)); }
class PhabricatorLDAPAuthProvider {}
class PhabricatorPasswordAuthProvider {}
class PhabricatorEnv {
  static function getEnvConfig($key) {
    $db = fake_db();
    return isset($db['config'][$key]) ? $db['config'][$key] : null;
  }
}
class PhabricatorAuthProviderConfig {
  private $f = array();
  function __call($method, $args) {
    $what = lcfirst(substr($method, 3));
    if (strncmp($method, 'set', 3) === 0) { $this->f[$what] = $args[0]; return $this; }
    if (strncmp($method, 'get', 3) === 0) { return isset($this->f[$what]) ? $this->f[$what] : null; }
    throw new Exception("no method {$method}");
  }
  function getID() { return isset($this->f['id']) ? $this->f['id'] : null; }
  static function of($row) { $o = new self(); $o->f = $row; return $o; }
  function loadOneWhere($pattern) {
    $all = call_user_func_array(array($this, 'loadAllWhere'), func_get_args());
    if (count($all) > 1) { throw new Exception('more than one row'); }
    return $all ? $all[0] : null;
  }
  function loadAllWhere($pattern) {
    $a = array_slice(func_get_args(), 1);
    $out = array();
    foreach (fake_db()['providers'] as $r) {
      if ($pattern === 'providerType = %s AND providerDomain = %s') {
        $ok = $r['providerType'] === $a[0] && $r['providerDomain'] === $a[1];
      } else if ($pattern === 'providerClass = %s AND isEnabled = 1') {
        $ok = $r['providerClass'] === $a[0] && (int)$r['isEnabled'] === 1;
      } else {
        throw new Exception("unexpected query {$pattern}");
      }
      if ($ok) { $out[] = self::of($r); }
    }
    return $out;
  }
  function load($id) {
    foreach (fake_db()['providers'] as $r) { if ($r['id'] === $id) { return self::of($r); } }
    return null;
  }
  function save() {
    $db = fake_db();
    $row = $this->f;
    if (!isset($row['id'])) { $row['id'] = count($db['providers']) + 1; $this->f['id'] = $row['id']; }
    $drop = getenv('FAKE_DROP');
    if ($drop) { unset($row['properties'][$drop]); }
    $db['providers']['p'.$row['id']] = $row;
    fake_put($db);
    return $this;
  }
  function getProvider() {
    $class = $this->f['providerClass'];
    return class_exists($class) ? new $class() : null;
  }
}
class PhabricatorUser {
  private $row;
  static function validateUsername($name) { return (bool)preg_match('/^[a-zA-Z0-9._-]*[a-zA-Z0-9_-]\z/', $name); }
  function loadOneWhere($pattern, $name) {
    foreach (fake_db()['users'] as $u) { if ($u['userName'] === $name) { $o = new self(); $o->row = $u; return $o; } }
    return null;
  }
  function getIsAdmin() { return $this->row['isAdmin']; }
}
"#;

/// `bin/auth`: records its call; `lock` stores auth.lock-config (unless $FAKE_NO_LOCK).
const FAKE_AUTH: &str = r#"#!/usr/bin/env php
<?php
file_put_contents(getenv('FAKE_LOG'), 'auth '.implode(' ', array_slice($argv, 1))."\n", FILE_APPEND);
$db = json_decode(file_get_contents(getenv('FAKE_DB')), true);
if (isset($argv[1]) && $argv[1] === 'lock' && !getenv('FAKE_NO_LOCK')) {
  $db['config']['auth.lock-config'] = true;
}
file_put_contents(getenv('FAKE_DB'), json_encode($db));
"#;

const FAKE_RECORD: &str = "#!/bin/sh\necho \"$(basename \"$0\") $*\" >> \"$FAKE_LOG\"\n";

struct FakePhorge {
    dir: tempfile::TempDir,
}

impl FakePhorge {
    /// A Phorge with a password login, admin carol and user alice; the rendered hook files of
    /// `app` in conf/.
    fn new(d: &DesiredState, app: &str) -> FakePhorge {
        let dir = tempfile::tempdir().expect("temp dir");
        let put = |rel: &str, text: &str, mode: u32| {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).expect("mkdir");
            std::fs::write(&path, text).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        };
        put("phorge/scripts/__init_script__.php", FAKE_INIT, 0o644);
        put("phorge/bin/auth", FAKE_AUTH, 0o755);
        put("phorge/bin/storage", FAKE_RECORD, 0o755);
        put("phorge/bin/user", FAKE_RECORD, 0o755);
        put("lib/db-ready.php", "<?php exit(0);\n", 0o644);
        for path in [CONFIGURE, PROVIDER_PHP, PROVIDER_JSON] {
            let name = Path::new(path).file_name().unwrap().to_str().unwrap();
            put(&format!("conf/{name}"), &file(d, app, "web", path), 0o644);
        }
        let db = json!({
            "config": {},
            "providers": { "p1": {
                "id": 1, "providerClass": "PhabricatorPasswordAuthProvider",
                "providerType": "password", "providerDomain": "self", "isEnabled": 1,
                "properties": {}
            }},
            "users": [
                { "userName": "alice", "isAdmin": false },
                { "userName": "carol", "isAdmin": true }
            ]
        });
        put("db.json", &db.to_string(), 0o644);
        put("log", "", 0o644);
        FakePhorge { dir }
    }

    fn run(&self, admins: &str, env: &[(&str, &str)]) -> (bool, String) {
        let p = |rel: &str| self.dir.path().join(rel);
        let out = Command::new("sh")
            .arg(p("conf/configure.sh"))
            .arg(admins)
            .current_dir(self.dir.path())
            .env("PHORGE_ROOT", p("phorge"))
            .env("PHORGE_LIB", p("lib"))
            .env("PHORGE_CONF", p("conf"))
            .env("FAKE_DB", p("db.json"))
            .env("FAKE_LOG", p("log"))
            .envs(env.iter().copied())
            .output()
            .expect("sh");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    fn db(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.path().join("db.json")).expect("db");
        serde_json::from_str(&text).expect("json")
    }

    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("log"))
            .expect("log")
            .lines()
            .map(str::to_string)
            .collect()
    }
}

#[test]
fn the_configure_hook_writes_reads_back_and_locks_the_directory_login() {
    let (_node, d) = sample(APPS);
    let spec = provider(&d, PRIVATE);
    let fake = FakePhorge::new(&d, PRIVATE);
    // bob has no account yet, carol is an administrator already, the rest is no username.
    let admins = "alice, bob carol `touch pwned` $(touch pwned) *";
    for round in 1..=2 {
        let (ok, out) = fake.run(admins, &[]);
        assert!(ok, "round {round}: {out}");
        assert!(out.contains("reads back as written"), "{out}");
        assert!(out.contains("bob has not logged in yet"), "{out}");
        let db = fake.db();
        let rows: Vec<&Value> = object(&db["providers"]).values().collect();
        assert_eq!(
            rows.len(),
            2,
            "round {round}: one LDAP provider, upserted: {db}"
        );
        let ldap = rows
            .iter()
            .find(|r| r["providerType"] == "ldap")
            .expect("ldap row");
        assert_eq!(ldap["properties"], spec["properties"]);
        assert_eq!(ldap["providerClass"], "PhabricatorLDAPAuthProvider");
        assert_eq!(ldap["shouldAllowUnlink"], 0);
        let password = rows
            .iter()
            .find(|r| r["providerType"] == "password")
            .unwrap();
        assert_eq!(password["isEnabled"], 0, "password logins are off");
        assert_eq!(db["config"]["auth.lock-config"], true);
    }
    let log = fake.log();
    assert_eq!(
        log.iter()
            .filter(|l| *l == "storage upgrade --force")
            .count(),
        2,
        "{log:?}"
    );
    assert_eq!(
        log.iter()
            .filter(|l| l.starts_with("user "))
            .collect::<Vec<_>>(),
        ["user empower --user alice", "user empower --user alice"],
        "fake alice stays a non-admin, so both rounds empower her"
    );
    assert_eq!(log.iter().filter(|l| *l == "auth lock").count(), 2);
    // The lock comes after the provider is written: storage, then lock, per round.
    let order: Vec<&str> = log
        .iter()
        .filter(|l| l.starts_with("storage") || l.starts_with("auth"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        order,
        [
            "storage upgrade --force",
            "auth lock",
            "storage upgrade --force",
            "auth lock"
        ]
    );
    assert!(
        !fake.dir.path().join("pwned").exists(),
        "the admins setting ran as code"
    );
}

#[test]
fn the_configure_hook_fails_when_phorge_does_not_keep_what_it_wrote() {
    let (_node, d) = sample(APPS);
    let fake = FakePhorge::new(&d, PUBLIC);
    let (ok, out) = fake.run("", &[("FAKE_DROP", "ldap:dn")]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("property ldap:dn reads back as (none)"),
        "{out}"
    );

    let fake = FakePhorge::new(&d, PUBLIC);
    let (ok, out) = fake.run("", &[("FAKE_NO_LOCK", "1")]);
    assert!(!ok, "{out}");
    assert!(out.contains("auth.lock-config is not true"), "{out}");
    assert!(
        !fake.log().iter().any(|l| l.starts_with("user ")),
        "no admins asked"
    );
}

// ---- Live -----------------------------------------------------------------------------------

/// Live: build the image (fetches Phorge from GitHub), bring a public and a private instance
/// up with MariaDB and the directory, and log in through the edge with Phorge's LDAP form:
/// a directory login goes on to registration, a wrong password or a person outside the
/// collective gets the form back. Enabled by COMMONSCLOUD_LIVE_APPS=1 (docs/testing.md).
#[tokio::test(flavor = "multi_thread")]
async fn live_a_member_logs_in_and_an_outsider_does_not() {
    if !live() {
        eprintln!(
            "skipped: set COMMONSCLOUD_LIVE_APPS=1 to build Phorge (from GitHub) and log in \
             for real (see docs/testing.md)"
        );
        return;
    }
    let (node, _) = sample(APPS);
    let engine = common::engine().await;
    let report = node.up(&engine).await;
    assert!(report.apply.succeeded(), "{:?}", report.apply);
    let configured = report
        .apply
        .hooks
        .iter()
        .filter(|h| h.kind == "configure" && h.app.starts_with("projects"))
        .count();
    assert_eq!(configured, 2, "{:?}", report.apply.hooks);

    common::contract::live_people(&node);
    let password = common::contract::LIVE_PASSWORD;

    let (_, https) = commonscloud::ops::edge::ports(&engine, &node.name)
        .await
        .expect("edge ports");
    let this = &node;
    // Whether Phorge's LDAP form accepts the login: it then redirects (to registration, for
    // a first login); otherwise it shows the form again.
    let login = |host: &'static str, user: &'static str, secret: &'static str| async move {
        let fqdn = format!("{host}.commons.example.coop");
        let c = this
            .https_client(https, &[&fqdn])
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let base = format!("https://{fqdn}:{https}");
        let page = c
            .get(format!("{base}/auth/login/ldap:self/"))
            .send()
            .await
            .expect("GET the login form")
            .text()
            .await
            .expect("body");
        let marker = "name=\"__csrf__\" value=\"";
        let start = page.find(marker).expect("a CSRF token") + marker.len();
        let csrf = &page[start..start + page[start..].find('"').expect("end")];
        let r = c
            .post(format!("{base}/auth/login/ldap:self/"))
            .form(&[
                ("__csrf__", csrf),
                ("__form__", "1"),
                ("ldap_username", user),
                ("ldap_password", secret),
            ])
            .send()
            .await
            .expect("POST the login form");
        r.status().is_redirection()
    };
    assert!(
        login("projects", "alice", password).await,
        "alice on the public instance"
    );
    assert!(
        login("projects", "bob", password).await,
        "bob on the public instance"
    );
    assert!(
        login("projects.fki", "alice", password).await,
        "alice is in fki"
    );
    assert!(
        !login("projects.fki", "bob", password).await,
        "bob is not in fki"
    );
    assert!(
        !login("projects", "alice", "wrong").await,
        "a wrong password"
    );
}
