//! A real SMTP server for tests: Debian's aiosmtpd (`python3-aiosmtpd`) on a free loopback
//! port, storing every message it receives in a Maildir that the test reads back.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestSmtp {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

/// One message as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Received {
    /// The first link in the text body that starts with `prefix` (e.g. `http://…/confirm/`).
    pub fn link(&self, prefix: &str) -> String {
        let start = self
            .text
            .find(prefix)
            .unwrap_or_else(|| panic!("no link {prefix} in:\n{}", self.text));
        self.text[start..]
            .split(|c: char| c.is_whitespace())
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

/// A free port on loopback (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

impl TestSmtp {
    pub fn start() -> TestSmtp {
        TestSmtp::start_on(free_port())
    }

    /// Start on `port` (a test that wants the server down first picks the port, then starts).
    pub fn start_on(port: u16) -> TestSmtp {
        TestSmtp::start_at("127.0.0.1", port)
    }

    /// Start on every address of the host, so containers reach it through their network's
    /// gateway (the portal as the supervisor runs it).
    pub fn start_for_containers() -> TestSmtp {
        TestSmtp::start_at("0.0.0.0", free_port())
    }

    fn start_at(address: &str, port: u16) -> TestSmtp {
        let dir = tempfile::tempdir().expect("temp dir");
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("{address}:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("box"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3-aiosmtpd (apt install python3-aiosmtpd)");
        let smtp = TestSmtp { port, dir, child };
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "aiosmtpd did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        smtp
    }

    fn new_dir(&self) -> PathBuf {
        self.dir.path().join("box").join("new")
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        let Ok(entries) = std::fs::read_dir(self.new_dir()) else {
            return vec![];
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort_by_key(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .unwrap_or(std::time::SystemTime::UNIX_EPOCH)
        });
        files
            .iter()
            .filter_map(|p| parse(&std::fs::read(p).ok()?))
            .collect()
    }

    /// Messages to `to`.
    pub fn to(&self, to: &str) -> Vec<Received> {
        self.messages()
            .into_iter()
            .filter(|m| m.to.eq_ignore_ascii_case(to))
            .collect()
    }

    /// Wait for the `n`-th (1-based) message to `to`.
    pub async fn wait_nth(&self, to: &str, n: usize) -> Received {
        let t = Instant::now();
        loop {
            let got = self.to(to);
            if got.len() >= n {
                return got[n - 1].clone();
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "no message #{n} to {to} after 20 s; received: {:#?}",
                self.messages()
                    .iter()
                    .map(|m| (&m.to, &m.subject))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait for a message to `to` whose subject contains `subject`.
    pub async fn wait_for(&self, to: &str, subject: &str) -> Received {
        let t = Instant::now();
        loop {
            if let Some(m) = self
                .to(to)
                .into_iter()
                .find(|m| m.subject.contains(subject))
            {
                return m;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "no message to {to} about {subject:?} after 20 s; received: {:#?}",
                self.messages()
                    .iter()
                    .map(|m| (&m.to, &m.subject))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn parse(raw: &[u8]) -> Option<Received> {
    let mail = mailparse::parse_mail(raw).ok()?;
    let header = |name: &str| {
        mail.headers
            .iter()
            .find(|h| h.get_key().eq_ignore_ascii_case(name))
            .map(|h| h.get_value())
            .unwrap_or_default()
    };
    let mut text = String::new();
    let mut html = String::new();
    let mut parts = vec![&mail];
    while let Some(p) = parts.pop() {
        if p.subparts.is_empty() {
            let body = p.get_body().unwrap_or_default();
            match p.ctype.mimetype.as_str() {
                "text/plain" => text = body,
                "text/html" => html = body,
                _ => {}
            }
        } else {
            parts.extend(p.subparts.iter());
        }
    }
    let to = header("X-RcptTo");
    Some(Received {
        to: if to.is_empty() { header("To") } else { to },
        subject: header("Subject"),
        text,
        html,
    })
}

impl Drop for TestSmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
