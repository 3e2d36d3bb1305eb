//! Pulling from a real registry: Debian's `docker-registry` serving on loopback, our hello
//! image pushed to it, then pulled back by a pinned `name:tag@sha256:…` reference — by the
//! engine (with its progress bar) and by `up` (a recipe with `image:`).
//!
//! The pushed image is hello plus one layer of random bytes: hello's own layers stay on the
//! engine (other tests use them), so without a layer of its own the pull would download nothing.

mod common;

use common::*;
use commonscloud::engine::{labels, Engine};
use commonscloud::reconcile::plan::{Action, ImageStep, Reason};
use commonscloud::reconcile::ImageSource;
use indicatif::ProgressBar;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REGISTRY: &str = "/usr/bin/docker-registry";
/// Longest wait for a started registry to answer `GET /v2/`.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// Size of the pushed image's own layer.
const BLOB_BYTES: usize = 2 << 20;
const NO_SUCH_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

fn run_id() -> String {
    format!("{:08x}", rand::random::<u32>())
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new(DOCKER).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim().to_string()
}

/// A `docker-registry serve` on 127.0.0.1, storing in a temp folder; killed when dropped.
struct Registry {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        assert!(
            Path::new(REGISTRY).exists(),
            "{REGISTRY} is missing: run scripts/test, which installs it \
             (Debian package docker-registry)"
        );
        let mut registry = Registry {
            child: None,
            port: 0,
            dir: tempfile::tempdir().unwrap(),
        };
        // The port is free when we look; another process may take it before the registry
        // binds it, so a registry that exits at once is tried again on another port.
        for _ in 0..3 {
            registry.port = free_port();
            let config = registry.dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
                     storage:\n  filesystem:\n    rootdirectory: {}\n\
                     http:\n  addr: 127.0.0.1:{}\n  secret: {}\n",
                    registry.dir.path().join("data").display(),
                    registry.port,
                    run_id()
                ),
            )
            .unwrap();
            let log = std::fs::File::create(registry.log_path()).unwrap();
            let child = Command::new(REGISTRY)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("could not start {REGISTRY}: {e}"));
            registry.child = Some(child);
            let deadline = Instant::now() + READY_WITHIN;
            while Instant::now() < deadline {
                if registry.answers() {
                    return registry;
                }
                let exited = registry.child.as_mut().unwrap().try_wait().unwrap();
                if exited.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if registry
                .child
                .as_mut()
                .unwrap()
                .try_wait()
                .unwrap()
                .is_none()
            {
                panic!(
                    "the registry on port {} did not answer GET /v2/ within {READY_WITHIN:?}:\n{}",
                    registry.port,
                    registry.log()
                );
            }
            registry.child = None;
        }
        panic!(
            "the registry exited three times at start; its last log:\n{}",
            registry.log()
        );
    }

    /// `127.0.0.1:<port>`, the registry part of an image reference.
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log_path(&self) -> std::path::PathBuf {
        self.dir.path().join("registry.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Whether `GET /v2/` answers 200.
    fn answers(&self) -> bool {
        let addr = (Ipv4Addr::LOCALHOST, self.port).into();
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
            return false;
        };
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let request = format!("GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.host());
        let mut response = String::new();
        s.write_all(request.as_bytes()).is_ok()
            && s.read_to_string(&mut response).is_ok()
            && response.split_whitespace().nth(1) == Some("200")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Our image in the registry. Dropping it removes every local name of it, and the image.
struct Pushed {
    /// `127.0.0.1:<port>/cc-hello-<run>:1.0`
    tag: String,
    /// `<tag>@sha256:…`, as a recipe pins it.
    pinned: String,
    /// `127.0.0.1:<port>/cc-hello-<run>@sha256:…`, the name a pull by digest leaves.
    by_digest: String,
    /// The image id (`sha256:…`), the same before the push and after the pull.
    id: String,
}

impl Pushed {
    /// Remove the image from the engine, so that the next pull downloads it.
    async fn forget_locally(&self, engine: &Engine) {
        // Untagging the last tag also drops the repository's digest names; both are tried.
        docker(&["rmi", &self.tag]);
        docker(&["rmi", &self.by_digest]);
        assert_eq!(
            engine.image_id(&self.id).await.unwrap(),
            None,
            "the image is gone from the engine"
        );
        assert!(!engine.image_exists(&self.pinned).await.unwrap());
    }
}

impl Drop for Pushed {
    fn drop(&mut self) {
        for name in [&self.tag, &self.by_digest] {
            if !name.is_empty() {
                let _ = Command::new(DOCKER).args(["rmi", name]).output();
            }
        }
        // The random layer makes the id ours alone.
        let _ = Command::new(DOCKER).args(["rmi", "-f", &self.id]).output();
    }
}

/// Build hello plus a random layer as `<registry>/cc-hello-<run>:1.0` and push it.
async fn push_hello(engine: &Engine, registry: &Registry, run: &str) -> Pushed {
    let bar = ProgressBar::hidden();
    let image_labels = BTreeMap::from([(labels::IMAGE.to_string(), "hello".to_string())]);
    let hello = engine
        .ensure_built(
            &repo().join("images/hello"),
            "commonscloud/hello",
            &image_labels,
            &bar,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM {}\nCOPY blob /blob\n", hello.reference),
    )
    .unwrap();
    let mut blob = vec![0u8; BLOB_BYTES];
    rand::fill(&mut blob[..]);
    std::fs::write(context.path().join("blob"), blob).unwrap();
    let repository = format!("{}/cc-hello-{run}", registry.host());
    let tag = format!("{repository}:1.0");
    engine
        .build(context.path(), &tag, &BTreeMap::new(), &bar)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = engine.image_id(&tag).await.unwrap().expect("built");
    let mut pushed = Pushed {
        tag,
        pinned: String::new(),
        by_digest: String::new(),
        id,
    };

    let t = Instant::now();
    let out = docker(&["push", &pushed.tag]);
    assert!(
        out.status.success(),
        "docker push {}: {}\n{}\nregistry log:\n{}",
        pushed.tag,
        text(&out.stdout),
        text(&out.stderr),
        registry.log()
    );
    eprintln!("pushed {} in {:?}", pushed.tag, t.elapsed());
    let digests = docker(&["inspect", "-f", "{{json .RepoDigests}}", &pushed.tag]);
    let digests: Vec<String> = serde_json::from_slice(&digests.stdout).unwrap();
    pushed.by_digest = digests
        .into_iter()
        .find(|d| d.starts_with(&format!("{repository}@sha256:")))
        .unwrap_or_else(|| panic!("no digest of {repository} after the push"));
    let digest = pushed.by_digest.rsplit('@').next().unwrap().to_string();
    assert!(
        text(&out.stdout).contains(&format!("1.0: digest: {digest} ")),
        "the push reported the same digest: {}",
        text(&out.stdout)
    );
    pushed.pinned = format!("{}@{digest}", pushed.tag);
    pushed
}

#[tokio::test(flavor = "multi_thread")]
async fn the_engine_pulls_a_pinned_reference_with_progress_and_names_a_missing_one() {
    let engine = engine().await;
    let run = run_id();
    let registry = Registry::start();
    let image = push_hello(&engine, &registry, &run).await;
    image.forget_locally(&engine).await;

    let bar = ProgressBar::hidden();
    let t = Instant::now();
    engine
        .pull(&image.pinned, &bar)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("pulled {} in {:?}", image.pinned, t.elapsed());
    assert_eq!(
        engine.image_id(&image.pinned).await.unwrap().as_deref(),
        Some(image.id.as_str()),
        "the pinned reference names the pushed image"
    );
    assert!(engine.image_exists(&image.by_digest).await.unwrap());
    // Only the random layer was downloaded (hello's are on the engine); the bar counted it
    // in bytes, and ended full.
    let length = bar.length().unwrap_or(0);
    assert!(
        length >= BLOB_BYTES as u64 && length < 2 * BLOB_BYTES as u64,
        "bar length {length}: about the random layer's {BLOB_BYTES} bytes"
    );
    assert_eq!(bar.position(), length, "the bar ended full");
    assert!(bar.message().contains(&image.pinned), "{}", bar.message());

    // Pulling what is already there is quick and changes nothing.
    let t = Instant::now();
    engine
        .pull(&image.pinned, &ProgressBar::hidden())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());

    // A repository the registry lacks, and a digest that is not the tag's: the digest is what
    // is pulled, so both fail, quickly, naming the reference and the registry's answer.
    let missing = [
        format!("{}/cc-missing-{run}:1.0@{NO_SUCH_DIGEST}", registry.host()),
        format!("{}@{NO_SUCH_DIGEST}", image.tag),
    ];
    for reference in &missing {
        let t = Instant::now();
        let err = engine
            .pull(reference, &ProgressBar::hidden())
            .await
            .expect_err("nothing to pull");
        assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
        let message = err.to_string();
        assert!(message.contains(reference), "{message}");
        assert!(message.contains("manifest unknown"), "{message}");
        assert!(!engine.image_exists(reference).await.unwrap());
    }
    // What `up` calls: the same, said as a missing image.
    let err = engine
        .ensure_image(&missing[0], &ProgressBar::hidden())
        .await
        .expect_err("nothing to pull");
    let message = err.to_string();
    assert!(
        message.contains(&missing[0]) && message.contains("manifest unknown"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn up_pulls_a_recipe_image_pinned_by_digest_and_then_has_nothing_to_do() {
    let engine = engine().await;
    let run = run_id();
    let registry = Registry::start();
    let image = push_hello(&engine, &registry, &run).await;
    image.forget_locally(&engine).await;

    // Declared after the image, so dropped first: its containers go before the image.
    let node = TestNode::new(&[]);
    let recipe = node.share().join("recipes/pulled");
    std::fs::create_dir_all(&recipe).unwrap();
    std::fs::write(
        recipe.join("recipe.yaml"),
        format!(
            "id: pulled\nversion: 1.0.0-1\ncomponents:\n  web:\n    image: {}\n    volumes:\n      - name: data\n        path: /data\n    health:\n      cmd: [busybox, wget, -q, -O, /dev/null, \"http://127.0.0.1:8080/health\"]\n      interval: 1s\n      timeout: 1s\n      retries: 3\n",
            image.pinned
        ),
    )
    .unwrap();
    node.write_apps(&[("pulled", "pulled", None)]);
    let web = node.container_name("pulled", "web");
    let volume = format!("cc-{}-pulled-data", node.name);

    let plan = node.plan(&engine).await;
    assert_eq!(
        plan.images,
        vec![ImageStep {
            source: ImageSource::Pull {
                reference: image.pinned.clone()
            },
            reason: Reason::Missing,
        }]
    );
    assert_eq!(
        changes(&plan),
        vec![(web.clone(), Action::Create, Reason::Missing)]
    );

    let t = Instant::now();
    let report = node.up(&engine).await;
    assert!(report.apply.succeeded(), "{:?}", report.apply);
    eprintln!("up (pull, create, healthy) in {:?}", t.elapsed());
    assert_eq!(
        node.inspect(&web, "{{.State.Health.Status}}").as_deref(),
        Some("healthy")
    );
    assert_eq!(
        node.inspect(&web, "{{.Image}}").as_deref(),
        Some(image.id.as_str())
    );
    assert_eq!(
        node.inspect(&web, "{{.Config.Image}}").as_deref(),
        Some(image.pinned.as_str())
    );
    assert!(node.volume_exists(&volume), "{volume}");
    let out = node.docker(&["exec", &web, "cat", "/data/starts.log"]);
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "{}",
        text(&out.stdout)
    );

    let again = node.plan(&engine).await;
    assert!(
        again.is_noop(),
        "second plan: images {:?}, changes {:?}",
        again.images,
        changes(&again)
    );
}
