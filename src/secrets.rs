//! Generated secrets (database passwords, LDAP bind passwords…), one file each.
//!
//! Layout: `<dir>/<scope>/<name>`, where the scope is an app instance id or `node`. Directories
//! are 0700 and files 0600; a store that other users can read is refused rather than silently
//! fixed, because the operator should learn that the secrets may have leaked.
//!
//! Secrets are 32 alphanumeric characters (about 190 bits): safe to paste in a shell, a URL, an
//! env file or an LDIF without quoting.

use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::distr::Alphanumeric;
use rand::Rng;

/// Length of a generated secret, in characters.
pub const SECRET_LEN: usize = 32;
/// Longest scope or name accepted (keeps file names well under any file-system limit).
const MAX_NAME_LEN: usize = 128;
/// Permission bits that must be clear on every directory and file of the store.
const OTHERS_MASK: u32 = 0o077;

/// Why the secret store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A file-system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Other users may read the store.
    #[error(
        "{} is accessible to other users (mode {mode:04o}): the secrets in it may have leaked; \
         run `chmod {fix:o} {}` after checking who could read it, and consider rotating them",
        path.display(),
        path.display()
    )]
    Insecure { path: PathBuf, mode: u32, fix: u32 },
    /// Something that should be a directory is not.
    #[error("{} is not a directory: move it away so the secret store can be created", path.display())]
    NotADirectory { path: PathBuf },
    /// A scope or name that could escape the store, or is otherwise malformed.
    #[error(
        "secret {what} `{value}` is not valid: use at most 128 lowercase letters, digits, `-` and \
         `_`, starting with a letter or a digit"
    )]
    InvalidName { what: &'static str, value: String },
    /// A secret file exists but holds nothing usable.
    #[error(
        "{} is empty: restore it from a backup, or remove it to generate a new secret \
         (the service using it must then be reconfigured)",
        path.display()
    )]
    Empty { path: PathBuf },
}

/// A secret value. Debug and Display print `***`, so it never ends up in a log by accident;
/// call [`Secret::expose`] where the value is really needed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The directory of generated secrets.
#[derive(Debug, Clone)]
pub struct SecretStore {
    dir: PathBuf,
}

impl SecretStore {
    /// Opens the store at `dir`, creating it (0700) when missing.
    ///
    /// Refuses a store whose directory, scope directories or files are accessible to group or
    /// others, saying which `chmod` restores it.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, SecretError> {
        let dir = dir.into();
        ensure_private_dir(&dir)?;
        for scope in read_dir_names(&dir)? {
            let scope_dir = dir.join(&scope);
            check_private(&scope_dir, true)?;
            for name in read_dir_names(&scope_dir)? {
                check_private(&scope_dir.join(name), false)?;
            }
        }
        Ok(SecretStore { dir })
    }

    /// The directory holding the store.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns the secret `name` of `scope`, generating and storing it on first use.
    ///
    /// Safe against a concurrent caller: both get the same value.
    pub fn get_or_create(&self, scope: &str, name: &str) -> Result<Secret, SecretError> {
        if let Some(secret) = self.get(scope, name)? {
            return Ok(secret);
        }
        let scope_dir = self.dir.join(scope);
        ensure_private_dir(&scope_dir)?;
        let path = scope_dir.join(name);
        let value = generate();
        let tmp = scope_dir.join(format!(".{name}.{}.tmp", generate()));
        write_new(&tmp, value.as_bytes())?;
        // A hard link publishes the complete file atomically and, unlike rename, never replaces
        // a secret another process published meanwhile.
        let published = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match published {
            Ok(()) => {
                sync_dir(&scope_dir)?;
                Ok(Secret(value))
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => self
                .get(scope, name)?
                .ok_or(SecretError::Empty { path: path.clone() }),
            Err(source) => Err(SecretError::Io {
                action: "cannot store secret",
                path,
                source,
            }),
        }
    }

    /// Returns the secret `name` of `scope` if it was generated.
    pub fn get(&self, scope: &str, name: &str) -> Result<Option<Secret>, SecretError> {
        validate("scope", scope)?;
        validate("name", name)?;
        let path = self.dir.join(scope).join(name);
        let content = match fs::read_to_string(&path) {
            Ok(content) => content,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SecretError::Io {
                    action: "cannot read secret",
                    path,
                    source,
                })
            }
        };
        check_private(&path, false)?;
        // An operator restoring a secret by hand may leave a trailing newline.
        let value = content.trim();
        if value.is_empty() {
            return Err(SecretError::Empty { path });
        }
        Ok(Some(Secret(value.to_owned())))
    }

    /// Names of the secrets of `scope`, sorted; empty when the scope has none.
    pub fn list(&self, scope: &str) -> Result<Vec<String>, SecretError> {
        validate("scope", scope)?;
        let scope_dir = self.dir.join(scope);
        if !scope_dir.exists() {
            return Ok(Vec::new());
        }
        Ok(read_dir_names(&scope_dir)?
            .into_iter()
            .filter(|n| validate("name", n).is_ok())
            .collect())
    }

    /// Scopes that hold secrets, sorted (to find those of apps no longer declared).
    pub fn scopes(&self) -> Result<Vec<String>, SecretError> {
        Ok(read_dir_names(&self.dir)?
            .into_iter()
            .filter(|n| validate("scope", n).is_ok())
            .collect())
    }

    /// Forgets every secret of `scope` (when its app instance is destroyed). Absent is fine.
    pub fn remove_scope(&self, scope: &str) -> Result<(), SecretError> {
        validate("scope", scope)?;
        let scope_dir = self.dir.join(scope);
        match fs::remove_dir_all(&scope_dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SecretError::Io {
                action: "cannot remove secrets in",
                path: scope_dir,
                source,
            }),
        }
    }
}

/// Checks a scope or a name: `^[a-z0-9][a-z0-9_-]*$`, so it cannot be `..`, hold a `/` or be
/// hidden.
fn validate(what: &'static str, value: &str) -> Result<(), SecretError> {
    let mut chars = value.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if first_ok && rest_ok && value.len() <= MAX_NAME_LEN {
        Ok(())
    } else {
        Err(SecretError::InvalidName {
            what,
            value: value.to_owned(),
        })
    }
}

fn generate() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(SECRET_LEN)
        .map(char::from)
        .collect()
}

/// Creates `dir` with mode 0700 when missing; otherwise checks that it is a private directory.
fn ensure_private_dir(dir: &Path) -> Result<(), SecretError> {
    match fs::metadata(dir) {
        Ok(_) => check_private(dir, true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| SecretError::Io {
                    action: "cannot create directory",
                    path: dir.to_path_buf(),
                    source,
                })?;
            // The umask may only remove bits, but an existing parent chain is not ours to fix;
            // make sure at least the store itself is private.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|source| {
                SecretError::Io {
                    action: "cannot set permissions of",
                    path: dir.to_path_buf(),
                    source,
                }
            })
        }
        Err(source) => Err(SecretError::Io {
            action: "cannot inspect",
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Refuses `path` when group or others have any access to it.
fn check_private(path: &Path, is_dir: bool) -> Result<(), SecretError> {
    let meta = fs::metadata(path).map_err(|source| SecretError::Io {
        action: "cannot inspect",
        path: path.to_path_buf(),
        source,
    })?;
    if is_dir && !meta.is_dir() {
        return Err(SecretError::NotADirectory {
            path: path.to_path_buf(),
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & OTHERS_MASK != 0 {
        return Err(SecretError::Insecure {
            path: path.to_path_buf(),
            mode,
            fix: if is_dir { 0o700 } else { 0o600 },
        });
    }
    Ok(())
}

/// Visible entries of `dir`, sorted; temporary files (dot-files) are skipped.
fn read_dir_names(dir: &Path) -> Result<Vec<String>, SecretError> {
    let io_err = |source| SecretError::Io {
        action: "cannot list",
        path: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        if let Some(name) = entry.file_name().to_str() {
            if !name.starts_with('.') {
                names.push(name.to_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Writes a new file with mode 0600 and flushes it to disk.
/// A temporary file readable by its owner only (0600), holding `content`; removed when
/// dropped. For a secret a tool must read from a file (restic's password).
pub fn private_temp_file(content: &[u8]) -> std::io::Result<tempfile::NamedTempFile> {
    use std::io::Write;
    let mut f = tempfile::Builder::new()
        .prefix(".cc-secret-")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile()?;
    f.write_all(content)?;
    f.flush()?;
    Ok(f)
}

fn write_new(path: &Path, content: &[u8]) -> Result<(), SecretError> {
    let io_err = |source| SecretError::Io {
        action: "cannot write secret",
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err)?;
    file.write_all(content).map_err(io_err)?;
    file.sync_all().map_err(io_err)
}

/// Makes a new directory entry durable.
fn sync_dir(dir: &Path) -> Result<(), SecretError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| SecretError::Io {
            action: "cannot sync directory",
            path: dir.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn store() -> (tempfile::TempDir, SecretStore) {
        let tmp = tempfile::tempdir().unwrap();
        let store = SecretStore::open(tmp.path().join("state/secrets")).unwrap();
        (tmp, store)
    }

    #[test]
    fn creates_private_directories_and_files() {
        let (_tmp, store) = store();
        assert_eq!(mode(store.dir()), 0o700);
        store.get_or_create("nextcloud", "db-password").unwrap();
        assert_eq!(mode(&store.dir().join("nextcloud")), 0o700);
        assert_eq!(mode(&store.dir().join("nextcloud/db-password")), 0o600);
    }

    #[test]
    fn generated_once_then_stable() {
        let (_tmp, store) = store();
        let a = store.get_or_create("nextcloud", "db-password").unwrap();
        let b = store.get_or_create("nextcloud", "db-password").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.expose().len(), SECRET_LEN);
        assert!(a.expose().chars().all(|c| c.is_ascii_alphanumeric()));
        let other = store.get_or_create("nextcloud", "admin-password").unwrap();
        assert_ne!(a, other);
        // Reopening reads the same value back.
        let again = SecretStore::open(store.dir()).unwrap();
        assert_eq!(again.get("nextcloud", "db-password").unwrap(), Some(a));
    }

    #[test]
    fn never_printed() {
        let secret = Secret("hunter2hunter2".into());
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(***)");
        assert_eq!(secret.expose(), "hunter2hunter2");
    }

    #[test]
    fn get_missing_is_none() {
        let (_tmp, store) = store();
        assert_eq!(store.get("portal", "session-key").unwrap(), None);
    }

    #[test]
    fn list_and_remove_scope() {
        let (_tmp, store) = store();
        assert!(store.list("discourse").unwrap().is_empty());
        store.get_or_create("discourse", "secret-key-base").unwrap();
        store.get_or_create("discourse", "db-password").unwrap();
        store.get_or_create("portal", "session-key").unwrap();
        assert_eq!(
            store.list("discourse").unwrap(),
            vec!["db-password".to_owned(), "secret-key-base".to_owned()]
        );
        assert_eq!(
            store.scopes().unwrap(),
            vec!["discourse".to_owned(), "portal".to_owned()]
        );
        store.remove_scope("discourse").unwrap();
        assert!(store.list("discourse").unwrap().is_empty());
        assert_eq!(store.get("discourse", "db-password").unwrap(), None);
        store.remove_scope("discourse").unwrap();
        assert!(store.get("portal", "session-key").unwrap().is_some());
    }

    #[test]
    fn refuses_path_traversal() {
        let (_tmp, store) = store();
        for (scope, name) in [
            ("..", "x"),
            ("a", "../../etc/passwd"),
            ("a/b", "x"),
            ("a", ".hidden"),
            ("", "x"),
            ("a", ""),
            ("Nextcloud", "x"),
            ("a", "-flag"),
            ("a.b", "x"),
        ] {
            let err = store.get_or_create(scope, name).unwrap_err();
            assert!(
                matches!(err, SecretError::InvalidName { .. }),
                "{scope}/{name}: {err}"
            );
        }
        assert!(matches!(
            store.remove_scope(".."),
            Err(SecretError::InvalidName { .. })
        ));
        assert!(matches!(
            store.list("../secrets"),
            Err(SecretError::InvalidName { .. })
        ));
        let long = "a".repeat(MAX_NAME_LEN + 1);
        assert!(store.get("a", &long).is_err());
        assert!(store.get("a", &"a".repeat(MAX_NAME_LEN)).is_ok());
    }

    #[test]
    fn refuses_readable_store_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("secrets");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let err = SecretStore::open(&dir).unwrap_err();
        assert!(matches!(err, SecretError::Insecure { mode: 0o755, .. }));
        let message = err.to_string();
        assert!(message.contains("chmod 700"), "{message}");
    }

    #[test]
    fn refuses_readable_secret_file() {
        let (_tmp, store) = store();
        store.get_or_create("portal", "session-key").unwrap();
        let file = store.dir().join("portal/session-key");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let err = SecretStore::open(store.dir()).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        assert!(matches!(
            store.get("portal", "session-key"),
            Err(SecretError::Insecure { .. })
        ));
    }

    #[test]
    fn refuses_readable_scope_directory() {
        let (_tmp, store) = store();
        store.get_or_create("portal", "session-key").unwrap();
        let scope = store.dir().join("portal");
        fs::set_permissions(&scope, fs::Permissions::from_mode(0o750)).unwrap();
        assert!(matches!(
            SecretStore::open(store.dir()),
            Err(SecretError::Insecure { .. })
        ));
        assert!(store.get_or_create("portal", "other").is_err());
    }

    #[test]
    fn hand_restored_secret_is_trimmed_and_empty_is_refused() {
        let (_tmp, store) = store();
        let scope = store.dir().join("ldap");
        DirBuilder::new().mode(0o700).create(&scope).unwrap();
        write_new(&scope.join("admin-password"), b"restored\n").unwrap();
        let got = store.get_or_create("ldap", "admin-password").unwrap();
        assert_eq!(got.expose(), "restored");
        write_new(&scope.join("empty"), b"").unwrap();
        assert!(matches!(
            store.get_or_create("ldap", "empty"),
            Err(SecretError::Empty { .. })
        ));
    }

    #[test]
    fn no_temporary_files_left() {
        let (_tmp, store) = store();
        store.get_or_create("portal", "session-key").unwrap();
        let entries: Vec<_> = fs::read_dir(store.dir().join("portal"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, vec![std::ffi::OsString::from("session-key")]);
    }

    #[test]
    fn concurrent_callers_agree() {
        let (_tmp, store) = store();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || store.get_or_create("portal", "session-key").unwrap())
            })
            .collect();
        let values: Vec<Secret> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(values.windows(2).all(|w| w[0] == w[1]));
    }
}
