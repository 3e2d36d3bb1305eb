//! The journey in a real browser (Debian's headless Chromium over WebDriver): register → open
//! the link from the received mail → an admin approves → set a password → sign in → the home
//! page shows the service links. A screenshot of each page goes to
//! `target/test-artifacts/portal/`.

mod common;

use common::portal::{Setup, World, PASSWORD};
use common::smtp::free_port;
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    let port = free_port();
    let child = Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium-driver (apt install chromium chromium-driver)");
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        port,
        _profile: tempfile::tempdir().expect("profile dir"),
    }
}

async fn browser(driver: &Driver) -> Client {
    // Several rustls providers are compiled in (ring, and aws-lc through other crates): pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let profile = driver._profile.path().display().to_string();
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=420,900", "--lang=en-US",
                format!("--user-data-dir={profile}")
            ]
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!("an object")
    };
    ClientBuilder::rustls()
        .expect("rustls")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session")
}

struct Shots {
    dir: PathBuf,
    n: usize,
}

impl Shots {
    fn new() -> Shots {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/portal");
        std::fs::create_dir_all(&dir).expect("artifacts dir");
        Shots { dir, n: 0 }
    }

    async fn take(&mut self, b: &Client, name: &str) {
        self.n += 1;
        let png = b.screenshot().await.expect("screenshot");
        std::fs::write(self.dir.join(format!("{:02}-{name}.png", self.n)), png).expect("write");
    }
}

async fn fill(b: &Client, id: &str, text: &str) {
    b.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"))
        .send_keys(text)
        .await
        .expect("type");
}

async fn submit(b: &Client) {
    b.find(Locator::Css("main form button[type=submit]"))
        .await
        .expect("a submit button in the page")
        .click()
        .await
        .expect("click");
}

async fn text(b: &Client) -> String {
    b.source().await.expect("page source")
}

/// Wait until the page shows `needle` (a click returns before the next page has loaded).
async fn wait_text(b: &Client, needle: &str) -> String {
    let t = Instant::now();
    loop {
        let page = text(b).await;
        if page.contains(needle) {
            return page;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "no {needle:?} in:\n{page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_confirm_approve_set_password_sign_in_in_chromium() {
    let w = World::new(Setup {
        smtp_port: None,
        ..Setup::default()
    })
    .await;
    let driver = chromedriver();
    let b = browser(&driver).await;
    let mut shots = Shots::new();
    let base = w.portal.url.clone();

    b.goto(&format!("{base}/register")).await.expect("goto");
    shots.take(&b, "register").await;
    fill(&b, "name", "Ana Martí").await;
    fill(&b, "username", "ana").await;
    fill(&b, "email", "ana@example.test").await;
    b.find(Locator::Id("collective"))
        .await
        .expect("select")
        .select_by_value("fki")
        .await
        .expect("choose fki");
    fill(&b, "message", "I edit the wiki.").await;
    shots.take(&b, "register-filled").await;
    submit(&b).await;
    wait_text(&b, "Check your email").await;
    shots.take(&b, "register-sent").await;

    let mail = w.smtp.wait_for("ana@example.test", "Confirm").await;
    b.goto(&mail.link(&format!("{base}/confirm/")))
        .await
        .expect("goto");
    shots.take(&b, "confirm").await;
    submit(&b).await;
    wait_text(&b, "Address confirmed").await;
    shots.take(&b, "confirmed").await;

    // alice, an admin of fki, approves in the same browser, then signs out.
    w.smtp.wait_for("alice@example.test", "New request").await;
    b.goto(&format!("{base}/signin")).await.expect("goto");
    fill(&b, "username", "alice").await;
    fill(&b, "password", PASSWORD).await;
    submit(&b).await;
    wait_text(&b, "Hello, Alice").await;
    b.goto(&format!("{base}/admin/fki")).await.expect("goto");
    wait_text(&b, "I edit the wiki.").await;
    shots.take(&b, "admin-requests").await;
    b.find(Locator::Css("article.request form.inline button"))
        .await
        .expect("approve button")
        .click()
        .await
        .expect("approve");
    wait_text(&b, "Approved.").await;
    shots.take(&b, "admin-approved").await;
    b.find(Locator::Css("header form button"))
        .await
        .expect("sign out")
        .click()
        .await
        .expect("sign out");
    wait_text(&b, "signed out").await;

    let mail = w.smtp.wait_for("ana@example.test", "approved").await;
    b.goto(&mail.link(&format!("{base}/password/set/")))
        .await
        .expect("goto");
    shots.take(&b, "set-password").await;
    fill(&b, "password", PASSWORD).await;
    fill(&b, "password2", PASSWORD).await;
    submit(&b).await;
    wait_text(&b, "Hello, Ana Martí").await;
    shots.take(&b, "home-after-password").await;

    // Sign out and in again through the form.
    b.find(Locator::Css("header form button"))
        .await
        .expect("sign out")
        .click()
        .await
        .expect("sign out");
    wait_text(&b, "signed out").await;
    shots.take(&b, "signed-out").await;
    fill(&b, "username", "ana").await;
    fill(&b, "password", PASSWORD).await;
    submit(&b).await;
    wait_text(&b, "Hello, Ana Martí").await;
    let links: Vec<String> = {
        let mut out = vec![];
        for e in b.find_all(Locator::Css(".service a")).await.expect("links") {
            out.push(e.attr("href").await.expect("href").unwrap_or_default());
        }
        out
    };
    assert_eq!(
        links,
        [
            "https://cloud.example.test/",
            "https://wiki-fki.example.test/"
        ],
        "public services and fki's"
    );
    shots.take(&b, "home").await;
    // The same page in Catalan, from the switcher.
    b.find(Locator::Css("a[hreflang=ca]"))
        .await
        .expect("switcher")
        .click()
        .await
        .expect("switch");
    wait_text(&b, "Els meus serveis").await;
    shots.take(&b, "home-ca").await;
    b.close().await.expect("close");
}
