//! The portal as the supervisor runs it: its own container (the supervisor's executable on
//! the Debian base), configured from node.yaml, behind the edge, talking to the directory.

mod common;

use common::{engine, TestNode};
use commonscloud::ops;

#[tokio::test(flavor = "multi_thread")]
async fn the_portal_runs_behind_the_edge_and_talks_to_the_directory() {
    let node = TestNode::new(&[("hello", "hello", None)]);
    let engine = engine().await;
    let report = node.up(&engine).await;
    assert!(report.apply.succeeded(), "{:?}", report.apply);
    let container = node.container_name("portal", "web");
    assert_eq!(
        node.inspect(&container, "{{.State.Health.Status}}")
            .as_deref(),
        Some("healthy")
    );
    // No Docker socket, no host path: only its own volume and tmpfs.
    let mounts = node
        .inspect(&container, "{{range .Mounts}}{{.Type}}:{{.Source}} {{end}}")
        .unwrap_or_default();
    assert!(
        !mounts.contains("docker.sock") && !mounts.contains("bind:"),
        "{mounts}"
    );

    let (_, https) = ops::edge::ports(&engine, &node.name).await.expect("ports");
    let host = format!("portal.{}.localhost", node.name);
    let ca = std::fs::read(node.paths.tls_dir().join("ca/ca.pem")).expect("the node CA");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("pem"))
        .tls_built_in_root_certs(false)
        .resolve(&host, ([127, 0, 0, 1], https).into())
        .build()
        .expect("client");
    let base = format!("https://{host}:{https}");

    // Health through the edge: the portal reaches the directory with its own account.
    let health: serde_json::Value = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["directory"], "ok", "{health}");

    // The sign-in page, with the portal's own security headers and a Secure cookie (the
    // public URL is https).
    let r = client
        .get(format!("{base}/signin"))
        .send()
        .await
        .expect("signin");
    assert_eq!(r.status(), 200);
    let csp = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    assert!(cookies.iter().any(|c| c.contains("Secure")), "{cookies:?}");
    let page = r.text().await.expect("page");
    assert!(page.contains("<form"), "{page}");

    // People can download the node's CA from the portal: the same certificate.
    let served = client
        .get(format!("{base}/ca.pem"))
        .send()
        .await
        .expect("ca.pem")
        .bytes()
        .await
        .expect("body");
    assert_eq!(&served[..], &ca[..]);

    // The registration form lists the node's collectives from the directory; the config holds
    // the node's services.
    let config = node.docker(&["exec", &container, "cat", "/etc/commonscloud/portal.yaml"]);
    let config: serde_json::Value =
        serde_json::from_slice(&config.stdout).expect("the portal's config is JSON/YAML");
    assert_eq!(config["services"][0]["id"], "hello", "{config}");
    assert_eq!(
        config["services"][0]["url"],
        format!("https://hello.{}.localhost/", node.name),
        "{config}"
    );
    assert!(
        !config.to_string().contains("password\":\""),
        "no password in the config"
    );

    // A second up leaves the portal's container as it is.
    let id = node.inspect(&container, "{{.Id}}");
    let again = node.up(&engine).await;
    assert!(again.plan.is_noop(), "{:?}", again.plan);
    assert_eq!(node.inspect(&container, "{{.Id}}"), id);
}
