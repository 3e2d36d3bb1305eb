//! A build folder as Docker sees it: its content hash (the image tag) and its tar archive.

use sha2::{Digest, Sha256};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One entry of a build folder, in a stable order.
struct Entry {
    /// Relative path with `/` separators.
    rel: String,
    path: PathBuf,
    kind: Kind,
    mode: u32,
}

enum Kind {
    Dir,
    File,
    Symlink(PathBuf),
}

/// Every entry under `dir`, sorted by relative path; symlinks are not followed.
fn walk(dir: &Path) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for item in std::fs::read_dir(dir.join(&rel))? {
            let item = item?;
            let rel = rel.join(item.file_name());
            let path = item.path();
            let meta = std::fs::symlink_metadata(&path)?;
            let rel_str = rel
                .to_str()
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} is not a UTF-8 file name", path.display()),
                    )
                })?
                .to_string();
            // Modes as git keeps them (executable or not), so that a checkout made under
            // another umask hashes and builds the same.
            let mode = if meta.is_dir() || meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            let kind = if meta.file_type().is_symlink() {
                Kind::Symlink(std::fs::read_link(&path)?)
            } else if meta.is_dir() {
                stack.push(rel.clone());
                Kind::Dir
            } else if meta.is_file() {
                Kind::File
            } else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} is neither a file, a folder nor a symlink",
                        path.display()
                    ),
                ));
            };
            out.push(Entry {
                rel: rel_str,
                path,
                kind,
                mode,
            });
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// A deterministic sha256 (hex) of a build folder: its relative paths in order, each entry's
/// kind and mode (executable or not, as git sees it), and file contents or link targets. A changed folder means a new hash, hence
/// a new image tag; an unchanged one means the image can be reused.
pub fn context_hash(dir: &Path) -> io::Result<String> {
    let mut h = Sha256::new();
    for e in walk(dir)? {
        h.update(e.rel.as_bytes());
        h.update([0]);
        h.update(format!("{:o}", e.mode).as_bytes());
        h.update([0]);
        match &e.kind {
            Kind::Dir => h.update(b"d"),
            Kind::Symlink(target) => {
                h.update(b"l");
                h.update(target.as_os_str().as_encoded_bytes());
            }
            Kind::File => {
                let contents = std::fs::read(&e.path)?;
                h.update(b"f");
                h.update((contents.len() as u64).to_le_bytes());
                h.update(&contents);
            }
        }
        h.update([0]);
    }
    Ok(hex::encode(h.finalize()))
}

/// The folder as a tar archive (Docker's build context), with fixed owners and times so
/// that the same folder always sends the same bytes.
pub(crate) fn context_tar(dir: &Path) -> io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.mode(tar::HeaderMode::Deterministic);
    b.follow_symlinks(false);
    for e in walk(dir)? {
        let mut header = tar::Header::new_gnu();
        header.set_mode(e.mode);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        match &e.kind {
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                b.append_data(&mut header, format!("{}/", e.rel), io::empty())?;
            }
            Kind::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                b.append_link(&mut header, &e.rel, target)?;
            }
            Kind::File => {
                let contents = std::fs::read(&e.path)?;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(contents.len() as u64);
                b.append_data(&mut header, &e.rel, contents.as_slice())?;
            }
        }
    }
    b.into_inner()
}

/// The images named by `FROM` in a Dockerfile, in order, leaving out `scratch`, earlier build
/// stages and references built from `ARG`s (which cannot be resolved here).
pub(crate) fn from_images(dockerfile: &str) -> Vec<String> {
    let mut stages: Vec<String> = Vec::new();
    let mut images = Vec::new();
    for line in logical_lines(dockerfile) {
        let mut words = line.split_whitespace();
        if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            continue;
        }
        let mut words = words.skip_while(|w| w.starts_with("--"));
        let Some(image) = words.next() else { continue };
        let known_stage = stages.iter().any(|s| s.eq_ignore_ascii_case(image));
        if let (Some(as_), Some(name)) = (words.next(), words.next()) {
            if as_.eq_ignore_ascii_case("AS") {
                stages.push(name.to_ascii_lowercase());
            }
        }
        if image.eq_ignore_ascii_case("scratch")
            || image.contains('$')
            || known_stage
            || images.iter().any(|i: &String| i == image)
        {
            continue;
        }
        images.push(image.to_string());
    }
    images
}

/// Dockerfile lines with `\` continuations joined and comments dropped.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if current.is_empty() && (line.starts_with('#') || line.is_empty()) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(line);
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_lines_skip_stages_scratch_and_args() {
        let df = "# syntax\nARG BASE=debian\nFROM --platform=linux/amd64 debian:bookworm-slim AS build\n\
                  RUN make \\\n  all\nFROM build AS test\nFROM scratch\nFROM ${BASE}:x\n\
                  from debian:bookworm-slim\nFROM nginx:1.27\n";
        assert_eq!(from_images(df), vec!["debian:bookworm-slim", "nginx:1.27"]);
    }
}
