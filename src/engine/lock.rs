//! Machine-wide locks (a file lock in the temp folder), so that two processes — or two tests
//! of one binary — do not bootstrap or build the same image at once.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::PathBuf;

/// Wait for and take the lock called `name`. It is released when the file is dropped.
pub(crate) async fn lock(name: &str) -> std::io::Result<File> {
    let path = lock_path(name);
    tokio::task::spawn_blocking(move || {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        f.lock()?;
        Ok(f)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// `commonscloud-<name>.lock`, with anything unusual in `name` replaced by its hash.
pub(crate) fn lock_path(name: &str) -> PathBuf {
    let safe = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let file = if safe {
        format!("commonscloud-{name}.lock")
    } else {
        let h = hex::encode(Sha256::digest(name.as_bytes()));
        format!("commonscloud-{}.lock", &h[..16])
    };
    std::env::temp_dir().join(file)
}
