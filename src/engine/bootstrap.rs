//! A Debian base image without a registry: `debootstrap --variant=minbase` from the host's own
//! Debian mirror, then `docker import` of the tree. Dockerfiles `FROM debian:<suite>-slim` then
//! build unchanged, and their `apt-get` uses the same mirror.

use super::client::Engine;
use super::error::{message_of, EngineError};
use super::labels;
use bollard::query_parameters::CreateImageOptionsBuilder;
use bytes::Bytes;
use futures_util::StreamExt;
use indicatif::ProgressBar;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// An operator's override of the mirror found in the apt sources.
const MIRROR_ENV: &str = "COMMONSCLOUD_DEBIAN_MIRROR";
const KEEP_LINES: usize = 20;

/// `debian:bookworm-slim` → `bookworm`.
pub(crate) fn debian_slim_suite(reference: &str) -> Option<String> {
    let (name, tag) = reference.split_once(':')?;
    let suite = tag.strip_suffix("-slim")?;
    (name == "debian" && !suite.is_empty() && suite.bytes().all(|b| b.is_ascii_lowercase()))
        .then(|| suite.to_string())
}

/// The main Debian archive among apt sources, given as `(file name, contents)` pairs: deb822
/// `.sources` stanzas (`URIs:`) and one-line `deb` entries. Security, updates and backports
/// sources are skipped, and so are archives that are not Debian's.
pub(crate) fn find_mirror(files: &[(String, String)]) -> Option<String> {
    let mut candidates = Vec::new();
    for (name, text) in files {
        if name.ends_with(".sources") {
            candidates.extend(deb822_candidates(text));
        } else {
            candidates.extend(one_line_candidates(text));
        }
    }
    candidates.into_iter().find(|uri| usable_uri(uri))
}

fn deb822_candidates(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stanzas: Vec<Vec<&str>> = vec![vec![]];
    for line in text.lines() {
        match stanzas.last_mut() {
            Some(s) if !line.trim().is_empty() => s.push(line),
            _ => stanzas.push(vec![]),
        }
    }
    for stanza in stanzas {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in stanza {
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some(last) = fields.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let get = |k: &str| {
            fields
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let is_deb = get("types").split_whitespace().any(|t| t == "deb");
        let enabled = !get("enabled").eq_ignore_ascii_case("no");
        let main_suite = get("suites").split_whitespace().any(is_main_suite);
        if is_deb && enabled && main_suite {
            out.extend(get("uris").split_whitespace().map(str::to_string));
        }
    }
    out
}

fn one_line_candidates(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line
            .strip_prefix("deb ")
            .or_else(|| line.strip_prefix("deb\t"))
        else {
            continue;
        };
        let rest = rest.trim_start();
        let rest = match rest.strip_prefix('[') {
            Some(r) => r.split_once(']').map(|(_, after)| after).unwrap_or(""),
            None => rest,
        };
        let mut words = rest.split_whitespace();
        if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
            if is_main_suite(suite) {
                out.push(uri.to_string());
            }
        }
    }
    out
}

fn is_main_suite(suite: &str) -> bool {
    !suite.contains('/')
        && !["-security", "-updates", "-backports", "-proposed-updates"]
            .iter()
            .any(|s| suite.ends_with(s))
}

fn usable_uri(uri: &str) -> bool {
    let scheme_ok = ["http://", "https://", "ftp://", "file:/"]
        .iter()
        .any(|s| uri.starts_with(s));
    scheme_ok && !uri.contains("security") && !uri.contains("ubuntu")
}

/// The mirror from `COMMONSCLOUD_DEBIAN_MIRROR`, else from the host's apt sources.
fn host_mirror() -> Option<String> {
    if let Some(m) = std::env::var(MIRROR_ENV)
        .ok()
        .filter(|m| !m.trim().is_empty())
    {
        return Some(m.trim().to_string());
    }
    let mut files = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut names: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        // deb822 files first: the format current Debian writes.
        names.sort_by_key(|p| p.extension().is_none_or(|e| e != "sources"));
        for p in names {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext == "sources" || ext == "list" {
                if let Ok(text) = std::fs::read_to_string(&p) {
                    files.push((p.display().to_string(), text));
                }
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string("/etc/apt/sources.list") {
        files.push(("/etc/apt/sources.list".to_string(), text));
    }
    find_mirror(&files)
}

fn find_debootstrap() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join("debootstrap"))
        .find(|p| p.is_file())
}

impl Engine {
    /// Make `debian:<suite>-slim` from the host's Debian mirror. One process at a time (a file
    /// lock); presence is checked again once the lock is held. Runs to the end even if the
    /// caller gives up, so that no half-made tree or mount is left behind.
    pub(crate) async fn bootstrap_debian(
        &self,
        reference: &str,
        suite: &str,
        bar: &ProgressBar,
    ) -> Result<(), EngineError> {
        let engine = self.clone();
        let (reference, suite, bar) = (reference.to_string(), suite.to_string(), bar.clone());
        let task =
            tokio::spawn(async move { engine.bootstrap_locked(&reference, &suite, &bar).await });
        task.await.map_err(|e| EngineError::Io {
            action: "the bootstrap task stopped".into(),
            source: std::io::Error::other(e),
        })?
    }

    async fn bootstrap_locked(
        &self,
        reference: &str,
        suite: &str,
        bar: &ProgressBar,
    ) -> Result<(), EngineError> {
        bar.set_message(format!(
            "bootstrap {reference}: waiting for the bootstrap lock"
        ));
        let lock = super::lock::lock("debian-bootstrap")
            .await
            .map_err(|source| EngineError::Io {
                action: "could not take the bootstrap lock".into(),
                source,
            })?;
        if self.image_exists(reference).await? {
            return Ok(());
        }
        let Some(debootstrap) = find_debootstrap() else {
            return Err(EngineError::NoDebootstrap {
                reference: reference.to_string(),
            });
        };
        let Some(mirror) = host_mirror() else {
            return Err(EngineError::NoMirror {
                reference: reference.to_string(),
            });
        };
        let fail = |message: String, last_lines: Vec<String>| EngineError::Bootstrap {
            reference: reference.to_string(),
            mirror: mirror.clone(),
            message,
            last_lines,
        };
        let root = RootDir::new(suite).map_err(|e| fail(e.to_string(), vec![]))?;
        bar.set_message(format!(
            "bootstrap {reference}: debootstrap {suite} from {mirror}"
        ));
        let mut cmd = tokio::process::Command::new(&debootstrap);
        cmd.arg("--variant=minbase")
            .arg(suite)
            .arg(root.path())
            .arg(&mirror);
        let (ok, code, last) = run_streaming(cmd, bar, reference)
            .await
            .map_err(|e| fail(format!("could not run debootstrap: {e}"), vec![]))?;
        if !ok {
            let message = match code {
                Some(c) => format!("debootstrap exited with code {c}"),
                None => "debootstrap was killed".to_string(),
            };
            return Err(fail(message, last));
        }
        tidy_rootfs(root.path())
            .map_err(|e| fail(format!("could not tidy the tree: {e}"), vec![]))?;
        bar.set_message(format!("bootstrap {reference}: importing into Docker"));
        self.import_tree(root.path(), reference, suite)
            .await
            .map_err(|m| fail(m, vec![]))?;
        let dir = root;
        tokio::task::spawn_blocking(move || dir.remove())
            .await
            .map_err(|e| fail(e.to_string(), vec![]))?;
        drop(lock);
        if self.image_exists(reference).await? {
            Ok(())
        } else {
            Err(fail(
                "Docker did not keep the imported image".into(),
                vec![],
            ))
        }
    }

    /// `tar -C dir -c . | docker import - reference`, with a label saying how it was made.
    async fn import_tree(&self, dir: &Path, reference: &str, suite: &str) -> Result<(), String> {
        let (repo, tag) = reference
            .rsplit_once(':')
            .ok_or_else(|| format!("{reference} has no tag"))?;
        let mut tar = tokio::process::Command::new("tar")
            .arg("--numeric-owner")
            .arg("-C")
            .arg(dir)
            .arg("-c")
            .arg(".")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not run tar: {e}"))?;
        let stdout = tar
            .stdout
            .take()
            .ok_or_else(|| "tar gave no output".to_string())?;
        let body = futures_util::stream::unfold(Some(stdout), |state| async move {
            let mut out = state?;
            let mut buf = vec![0u8; 256 * 1024];
            match out.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), Some(out)))
                }
                Err(e) => Some((Err(e), None)),
            }
        });
        let changes = vec![
            format!(
                "LABEL {}=\"debootstrap --variant=minbase {suite}\"",
                labels::BOOTSTRAPPED
            ),
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            "CMD [\"bash\"]".to_string(),
        ];
        let options = CreateImageOptionsBuilder::default()
            .from_src("-")
            .repo(repo)
            .tag(tag)
            .changes(changes)
            .message(&format!("debootstrap --variant=minbase {suite}"))
            .build();
        let mut stream =
            self.docker
                .create_image(Some(options), Some(bollard::body_try_stream(body)), None);
        let mut result = Ok(());
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                result = Err(message_of(&e));
            }
        }
        let out = tar
            .wait_with_output()
            .await
            .map_err(|e| format!("tar: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "tar failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        result
    }
}

/// Run `cmd`, showing each output line on `bar` and keeping the last ones for an error.
async fn run_streaming(
    mut cmd: tokio::process::Command,
    bar: &ProgressBar,
    what: &str,
) -> std::io::Result<(bool, Option<i32>, Vec<String>)> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut out = child.stdout.take().map(|s| BufReader::new(s).lines());
    let mut err = child.stderr.take().map(|s| BufReader::new(s).lines());
    let mut last: VecDeque<String> = VecDeque::new();
    while out.is_some() || err.is_some() {
        let line = tokio::select! {
            l = next_line(&mut out), if out.is_some() => l,
            l = next_line(&mut err), if err.is_some() => l,
        };
        if let Some(line) = line {
            bar.set_message(format!("bootstrap {what}: {line}"));
            if last.len() == KEEP_LINES {
                last.pop_front();
            }
            last.push_back(line);
        }
    }
    let status = child.wait().await?;
    Ok((status.success(), status.code(), last.into()))
}

/// The next line of a stream, or `None` (and the stream dropped) at its end.
async fn next_line<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut Option<tokio::io::Lines<R>>,
) -> Option<String> {
    let l = lines.as_mut()?;
    match l.next_line().await {
        Ok(Some(line)) => Some(line),
        _ => {
            *lines = None;
            None
        }
    }
}

/// Make the tree look like Debian's own slim image: no package caches or lists, no docs,
/// apt cleaning after itself, and nothing of this host's identity.
fn tidy_rootfs(root: &Path) -> std::io::Result<()> {
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_file()) && e.file_name() != "lock" {
                    std::fs::remove_file(e.path())?;
                }
            }
        }
    }
    for f in [
        "var/cache/apt/pkgcache.bin",
        "var/cache/apt/srcpkgcache.bin",
    ] {
        let _ = std::fs::remove_file(root.join(f));
    }
    for f in ["etc/hostname", "etc/resolv.conf"] {
        if root.join(f).exists() {
            std::fs::write(root.join(f), "")?;
        }
    }
    std::fs::create_dir_all(root.join("etc/apt/apt.conf.d"))?;
    std::fs::write(
        root.join("etc/apt/apt.conf.d/docker-clean"),
        "DPkg::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };\n\
         APT::Update::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };\n\
         Dir::Cache::pkgcache \"\";\nDir::Cache::srcpkgcache \"\";\n",
    )?;
    std::fs::write(
        root.join("etc/apt/apt.conf.d/docker-no-languages"),
        "Acquire::Languages \"none\";\n",
    )?;
    std::fs::create_dir_all(root.join("etc/dpkg/dpkg.cfg.d"))?;
    std::fs::write(
        root.join("etc/dpkg/dpkg.cfg.d/docker"),
        "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\n\
         path-exclude /usr/share/groff/*\npath-exclude /usr/share/info/*\n\
         path-exclude /usr/share/linda/*\npath-exclude /usr/share/lintian/overrides/*\n\
         path-exclude /usr/share/locale/*\npath-exclude /usr/share/man/*\n",
    )?;
    Ok(())
}

/// The scratch folder debootstrap fills; removed afterwards, mounts first.
struct RootDir {
    path: Option<PathBuf>,
}

impl RootDir {
    fn new(suite: &str) -> std::io::Result<RootDir> {
        let base = if Path::new("/var/tmp").is_dir() {
            PathBuf::from("/var/tmp")
        } else {
            std::env::temp_dir()
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = base.join(format!(
            "commonscloud-rootfs-{suite}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir(&path)?;
        Ok(RootDir { path: Some(path) })
    }

    fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new("/nonexistent"))
    }

    fn remove(mut self) {
        if let Some(p) = self.path.take() {
            remove_tree(&p);
        }
    }
}

impl Drop for RootDir {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            remove_tree(&p);
        }
    }
}

/// Unmount what an interrupted debootstrap may have left mounted under `root` (deepest
/// first), then delete the tree — but never delete through a mount that stays.
fn remove_tree(root: &Path) {
    let mounted = || -> Vec<String> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let prefix = root.display().to_string();
        let mut m: Vec<String> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|p| p.replace("\\040", " "))
            .filter(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
            .collect();
        m.sort_by_key(|p| std::cmp::Reverse(p.len()));
        m
    };
    for m in mounted() {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&m)
            .status();
    }
    if mounted().is_empty() {
        if let Err(e) = std::fs::remove_dir_all(root) {
            tracing::warn!("could not remove {}: {e}", root.display());
        }
    } else {
        tracing::warn!(
            "left {} in place: something is still mounted under it",
            root.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_debian_slim_images_can_be_bootstrapped() {
        assert_eq!(
            debian_slim_suite("debian:bookworm-slim").as_deref(),
            Some("bookworm")
        );
        assert_eq!(
            debian_slim_suite("debian:trixie-slim").as_deref(),
            Some("trixie")
        );
        assert_eq!(debian_slim_suite("debian:bookworm"), None);
        assert_eq!(debian_slim_suite("ubuntu:noble-slim"), None);
        assert_eq!(debian_slim_suite("debian:-slim"), None);
        assert_eq!(debian_slim_suite("debian:../x-slim"), None);
    }

    #[test]
    fn deb822_main_archive_is_found_and_security_skipped() {
        let sources = "Types: deb\nURIs: http://security.example/debian-security\n\
                       Suites: bookworm-security\nComponents: main\n\n\
                       Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n\
                       Types: deb\nURIs: http://mirror.example/debian\n\
                       Suites: bookworm bookworm-updates\nComponents: main\n";
        let files = vec![("debian.sources".to_string(), sources.to_string())];
        assert_eq!(
            find_mirror(&files).as_deref(),
            Some("http://mirror.example/debian")
        );
    }

    #[test]
    fn one_line_sources_with_options_are_read() {
        let list = "# comment\ndeb-src http://src.example/debian bookworm main\n\
                    deb http://mirror.example/debian-security bookworm-security main\n\
                    deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n";
        let files = vec![("/etc/apt/sources.list".to_string(), list.to_string())];
        assert_eq!(
            find_mirror(&files).as_deref(),
            Some("http://mirror.example/debian")
        );
    }

    #[test]
    fn disabled_stanzas_and_other_archives_are_not_mirrors() {
        let sources = "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n\
                       Enabled: no\n\nTypes: deb\nURIs: http://archive.example/ubuntu\n\
                       Suites: noble\n";
        let files = vec![("x.sources".to_string(), sources.to_string())];
        assert_eq!(find_mirror(&files), None);
    }
}
