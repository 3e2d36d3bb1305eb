use super::*;
use crate::model::{Route, RouteEntry};

fn route(fqdn: &str, app: &str, component: &str, port: u16, path: &str) -> RouteEntry {
    RouteEntry {
        fqdn: fqdn.into(),
        app: app.into(),
        component: component.into(),
        route: Route {
            port,
            prefix: None,
            path: path.into(),
            websockets: false,
            max_body: None,
            timeout: None,
        },
    }
}

fn settings(port: u16) -> EdgeSettings {
    EdgeSettings {
        node: "n1".into(),
        https_port: port,
        hsts: true,
    }
}

fn tls() -> Option<SiteTls> {
    Some(SiteTls {
        fullchain_pem: b"CERT".to_vec(),
        key_pem: b"KEY".to_vec(),
    })
}

#[test]
fn one_site_per_host_with_its_locations() {
    let s = sites(&[
        route("cloud.x.coop", "cloud", "web", 80, "/"),
        route("cloud.x.coop", "cloud", "push", 7867, "/push"),
        route("wiki.x.coop", "wiki", "web", 8080, "/"),
    ]);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].host, "cloud.x.coop");
    assert_eq!(s[0].locations[1].upstream, "cloud-push:7867");
    assert_eq!(s[0].locations[1].log, "cloud.x.coop-push");
    assert_eq!(s[1].locations[0].log, "wiki.x.coop");
    assert_eq!(s[1].locations[0].max_body, DEFAULT_MAX_BODY);
}

#[test]
fn a_host_without_certificate_has_no_https_server() {
    let mut s = sites(&[
        route("a.x.coop", "a", "web", 80, "/"),
        route("b.x.coop", "b", "web", 80, "/"),
    ]);
    s[0].tls = tls();
    let r = render(&s, &settings(443)).expect("renders");
    let conf =
        String::from_utf8(r.file("nginx.conf").expect("conf").contents.clone()).expect("utf-8");
    assert!(conf.contains("ssl_certificate certs/a.x.coop.pem;"));
    assert!(!conf.contains("certs/b.x.coop.pem"));
    assert!(conf.contains("return 308 https://$host$request_uri;"));
    assert!(conf.contains("The certificate of b.x.coop is not ready yet"));
    assert_eq!(r.file("certs/a.x.coop.key").expect("key").mode, 0o600);
    assert!(r.file("certs/b.x.coop.key").is_none());
    assert!(conf.contains(&format!("return 200 \"{}\\n\"", r.name)));
}

#[test]
fn redirects_name_a_port_other_than_443() {
    let mut s = sites(&[route("a.x.coop", "a", "web", 80, "/")]);
    s[0].tls = tls();
    let r = render(&s, &settings(8443)).expect("renders");
    let conf = String::from_utf8_lossy(&r.file("nginx.conf").expect("conf").contents).to_string();
    assert!(conf.contains("return 308 https://$host:8443$request_uri;"));
}

#[test]
fn the_name_changes_with_any_file_and_only_then() {
    let mut s = sites(&[route("a.x.coop", "a", "web", 80, "/")]);
    s[0].tls = tls();
    let one = render(&s, &settings(443)).expect("renders");
    assert_eq!(one.name, render(&s, &settings(443)).expect("renders").name);
    s[0].tls = Some(SiteTls {
        fullchain_pem: b"CERT2".to_vec(),
        key_pem: b"KEY".to_vec(),
    });
    assert_ne!(one.name, render(&s, &settings(443)).expect("renders").name);
}

#[test]
fn websockets_body_and_timeout_reach_the_location() {
    let mut r = route("a.x.coop", "a", "web", 80, "/");
    r.route.websockets = true;
    r.route.max_body = Some(crate::model::units::ByteSize(1 << 30));
    r.route.timeout = Some(crate::model::units::Seconds(3600.0));
    let mut s = sites(&[r]);
    s[0].tls = tls();
    let out = render(&s, &settings(443)).expect("renders");
    let conf = String::from_utf8_lossy(&out.file("nginx.conf").expect("conf").contents).to_string();
    assert!(conf.contains("proxy_set_header Upgrade $http_upgrade;"));
    assert!(conf.contains("client_max_body_size 1073741824;"));
    assert!(conf.contains("proxy_read_timeout 3600s;"));
}

#[test]
fn odd_characters_never_reach_nginx() {
    let mut s = sites(&[route("a.x.coop", "a", "web", 80, "/x;return 200")]);
    s[0].tls = tls();
    let e = render(&s, &settings(443)).expect_err("refused");
    assert!(e.message.contains("';'"), "{}", e.message);
}
