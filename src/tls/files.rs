//! Small file operations with the guarantees the store relies on: private directories, files
//! written in full under a temporary name and renamed into place, never half-written.

use super::TlsError;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Creates `dir` (and its parents) with mode 0700 if missing.
pub(crate) fn private_dir(dir: &Path) -> Result<(), TlsError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| TlsError::io("create directory", dir, e))
}

/// A name next to `path` that no other writer uses.
pub(crate) fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{:016x}", rand::random::<u64>()))
}

/// Writes a new file `path` with `mode`, failing if it exists (the file is complete once this
/// returns: written and synced).
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| TlsError::io("create", path, e))?;
    // The umask may have narrowed the mode; a public certificate should stay readable.
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| TlsError::io("set the mode of", path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| TlsError::io("write", path, e))
}

/// Replaces `path` with `bytes` atomically: readers see the old content or the new, never a mix.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    let tmp = temp_sibling(path);
    write_new(&tmp, bytes, mode)?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        TlsError::io("replace", path, e)
    })
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|e| TlsError::io("read", path, e))
}

/// Reads a file that may be missing.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, TlsError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TlsError::io("read", path, e)),
    }
}

/// Refuses a private key that group or others can read.
pub(crate) fn check_private(path: &Path) -> Result<(), TlsError> {
    let meta = fs::metadata(path).map_err(|e| TlsError::io("inspect", path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(TlsError::KeyPermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Points the symlink `link` at `target` atomically (a new link renamed over the old one).
pub(crate) fn replace_symlink(target: &Path, link: &Path) -> Result<(), TlsError> {
    let tmp = temp_sibling(link);
    std::os::unix::fs::symlink(target, &tmp)
        .map_err(|e| TlsError::io("create symlink", &tmp, e))?;
    fs::rename(&tmp, link).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        TlsError::io("replace", link, e)
    })
}
