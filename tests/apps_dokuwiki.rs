//! The end-to-end proof of issue 6 on the real stack: the directory, the edge with TLS, the
//! portal as the supervisor runs it (mail to a real SMTP server) and DokuWiki instances
//! logging people in through LDAP. A person onboarded through the portal logs in to the wiki
//! over HTTPS; a member of collective fki cannot log in to collective other's wiki; a disabled
//! person can no longer log in; removing an instance removes its bind account.

mod common;

use common::portal::{Client, PASSWORD};
use common::smtp::TestSmtp;
use common::{engine, TestNode};

fn write_node(node: &TestNode, smtp: &TestSmtp, gateway: &str, apps: &str) {
    let yaml = format!(
        "name: {n}\ndomain: {n}.localhost\ntls: {{ mode: self-signed }}\n{edge}\
operator: {{ name: Test, email: operator@example.test }}\n\
smtp: {{ host: {gateway}, port: {port}, from: noreply@example.test, security: none }}\n\
collectives:\n  - {{ id: fki, name: Free Knowledge Institute, admins: [alice] }}\n  - {{ id: other, name: Other }}\n\
apps:\n{apps}",
        n = node.name,
        edge = common::TEST_EDGE,
        port = smtp.port,
    );
    std::fs::write(&node.paths.config, yaml).expect("node.yaml");
}

const WIKIS: &str = "  - { recipe: dokuwiki, host: wiki }\n  - { recipe: dokuwiki, host: wiki.fki, collective: fki }\n  - { recipe: dokuwiki, host: wiki.other, collective: other }\n";

/// The host's address on Docker's default bridge: containers reach the host through it.
fn docker_gateway(node: &TestNode) -> String {
    let out = node.docker(&[
        "network",
        "inspect",
        "bridge",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
    ]);
    let ip = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!ip.is_empty(), "no gateway on Docker's bridge");
    ip
}

/// An HTTPS client that trusts the node's CA and reaches `hosts` through the edge; it keeps
/// cookies and does not follow redirects.
fn https(node: &TestNode, https: u16, hosts: &[String]) -> reqwest::Client {
    let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
    node.https_client(https, &hosts)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Log in to the DokuWiki at `host` as `user`; whether the wiki then shows them logged in.
async fn wiki_login(node: &TestNode, port: u16, host: &str, user: &str, password: &str) -> bool {
    let c = Client::over(
        &format!("https://{host}:{port}"),
        https(node, port, &[host.to_string()]),
    );
    let form = c.get("/doku.php?id=start&do=login").await;
    assert_eq!(form.status, 200, "{host}: {}", form.body);
    let marker = "name=\"sectok\" value=\"";
    let sectok = form
        .body
        .find(marker)
        .map(|i| {
            let rest = &form.body[i + marker.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_string()
        })
        .unwrap_or_default();
    let p = c
        .post_raw(
            "/doku.php",
            &[
                ("id", "start"),
                ("do", "login"),
                ("sectok", &sectok),
                ("u", user),
                ("p", password),
            ],
        )
        .await;
    assert!([200, 302, 403].contains(&p.status), "{host}: {}", p.status);
    if let Some(to) = &p.location {
        // The edge forwards the host and the scheme: the wiki redirects to itself, in HTTPS.
        assert!(
            to.starts_with(&format!("https://{host}")),
            "{host}: redirected to {to}"
        );
    }
    let page = c.get("/doku.php?id=start").await;
    assert_eq!(page.status, 200, "{host}: {}", page.body);
    let ok = page.has(&format!("(<bdi>{user}</bdi>)")) && page.has("do=logout");
    if std::env::var("DEBUG_WIKI").is_ok() {
        eprintln!(
            "== {host} {user}: post {} {:?}\n{}\n== page\n{}",
            p.status, p.location, p.body, page.body
        );
    }
    ok
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_onboarded_through_the_portal_logs_in_to_the_wikis_the_directory_allows() {
    let node = TestNode::new(&[]);
    let smtp = TestSmtp::start_for_containers();
    let gateway = docker_gateway(&node);
    write_node(&node, &smtp, &gateway, WIKIS);
    let engine = engine().await;
    let report = node.up(&engine).await;
    assert!(report.apply.succeeded(), "{:?}", report.apply);
    // Every instance's configure hook bound to the directory with its own account.
    let configured: Vec<&str> = report
        .apply
        .hooks
        .iter()
        .filter(|h| h.kind == "configure" && h.app.starts_with("wiki"))
        .map(|h| h.app.as_str())
        .collect();
    assert_eq!(configured.len(), 3, "{:?}", report.apply.hooks);

    // alice, fki's admin, exists before the portal is used (the operator made her).
    node.cli_ok(
        &[
            "user",
            "add",
            "alice",
            "--name",
            "Alice Admin",
            "--email",
            "alice@example.test",
        ],
        None,
    );
    node.cli_ok(&["user", "passwd", "alice"], Some(PASSWORD));
    let again = node.up(&engine).await; // grants her fki's admin rights
    assert!(again.apply.succeeded(), "{:?}", again.apply);

    let (_, port) = commonscloud::ops::edge::ports(&engine, &node.name)
        .await
        .expect("edge ports");
    let domain = format!("{}.localhost", node.name);
    let portal_host = format!("portal.{domain}");
    let portal = format!("https://{portal_host}:{port}");
    let web = |c: &str| format!("https://{portal_host}/{c}");
    let local = |link: String| link.replacen(&format!("https://{portal_host}"), &portal, 1);

    // Ana registers for fki through the portal and confirms her address from the mail.
    let ana = Client::over(
        &portal,
        https(&node, port, std::slice::from_ref(&portal_host)),
    );
    let p = ana
        .submit(
            "/register",
            "/register",
            &[
                ("name", "Ana Nova"),
                ("username", "ana"),
                ("email", "ana@example.test"),
                ("collective", "fki"),
                ("message", "I keep the minutes."),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let mail = smtp.wait_for("ana@example.test", "Confirm").await;
    let link = local(mail.link(&web("confirm/")));
    let page = ana.get(&link).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let p = ana.post_raw(&link, &[("csrf", &page.csrf())]).await;
    assert!(p.has("Address confirmed"), "{}", p.body);

    // Alice approves; Ana sets her password from the link she gets.
    smtp.wait_for("alice@example.test", "New request to join fki")
        .await;
    let alice = Client::over(
        &portal,
        https(&node, port, std::slice::from_ref(&portal_host)),
    );
    alice.sign_in("alice", PASSWORD).await;
    let path = common::portal::World::request_path(&alice, "fki", "ana").await;
    let p = alice
        .submit(
            "/admin/fki",
            &format!("/admin/fki/{path}"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(
        p.location.as_deref(),
        Some("/admin/fki?done=approved"),
        "{}",
        p.body
    );
    let mail = smtp.wait_for("ana@example.test", "approved").await;
    let set = local(mail.link(&web("password/set/")));
    let form = ana.get(&set).await;
    let p = ana
        .post_raw(
            &set,
            &[
                ("csrf", &form.csrf()),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert!(
        p.status == 303 || p.status == 200,
        "{} {}",
        p.status,
        p.body
    );

    // Over HTTPS through the edge, by LDAP: the public wiki and fki's let her in; other's not.
    let wiki = format!("wiki.{domain}");
    let fki = format!("wiki.fki.{domain}");
    let other = format!("wiki.other.{domain}");
    assert!(
        wiki_login(&node, port, &wiki, "ana", PASSWORD).await,
        "public wiki"
    );
    assert!(
        wiki_login(&node, port, &fki, "ana", PASSWORD).await,
        "fki's wiki"
    );
    assert!(
        !wiki_login(&node, port, &other, "ana", PASSWORD).await,
        "other's wiki"
    );
    assert!(
        !wiki_login(&node, port, &fki, "ana", "not-her-password-1").await,
        "wrong password"
    );
    // A private wiki shows nothing to people who are not logged in.
    let anon = Client::over(
        &format!("https://{fki}:{port}"),
        https(&node, port, std::slice::from_ref(&fki)),
    );
    let page = anon.get("/doku.php?id=start").await;
    assert!(
        page.has("Permission Denied") || page.status == 403,
        "{}",
        page.body
    );

    // Disabled, she can no longer log in anywhere.
    node.cli_ok(&["user", "disable", "ana"], None);
    assert!(
        !wiki_login(&node, port, &wiki, "ana", PASSWORD).await,
        "disabled, public wiki"
    );
    assert!(
        !wiki_login(&node, port, &fki, "ana", PASSWORD).await,
        "disabled, fki's wiki"
    );

    // Removing other's wiki removes its bind account (and its access group).
    let account = format!("cn=app-wiki-other,ou=system,dc={},dc=localhost", node.name);
    let shown = node.cli_ok(&["app", "info", "wiki-other", "--json"], None);
    assert!(shown.contains(&account), "{shown}");
    let out = node.cli_ok(&["app", "remove", "wiki-other", "--purge", "--yes"], None);
    assert!(out.contains(&account), "{out}");
    let yaml = std::fs::read_to_string(&node.paths.config).expect("node.yaml");
    assert!(!yaml.contains("wiki.other"), "{yaml}");
    assert!(
        yaml.contains("host: wiki.fki"),
        "the other apps stay: {yaml}"
    );
    assert!(node
        .inspect(&node.container_name("wiki-other", "web"), "{{.Name}}")
        .is_none());
    assert!(!node.volume_exists(&format!("cc-{}-wiki-other-data", node.name)));
    let system = format!("ou=system,dc={},dc=localhost", node.name);
    let found = node
        .ldapsearch(&engine, Some(&system), "(cn=app-*)", &["cn"])
        .await;
    let listed = String::from_utf8_lossy(&found.stdout);
    assert!(listed.contains("cn: app-wiki-fki"), "{listed}");
    assert!(!listed.contains("app-wiki-other"), "{listed}");
}
