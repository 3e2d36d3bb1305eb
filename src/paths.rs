//! Where the node keeps things: its configuration, its state and the shared recipes and images.
//!
//! Defaults follow the FHS so a packaged install needs no flags; a checkout works too, because
//! the current directory wins when it holds `recipes/` and `images/`.

use std::env;
use std::path::{Path, PathBuf};

/// Default location of the desired state written by the operator.
pub const DEFAULT_CONFIG: &str = "/etc/commonscloud/node.yaml";
/// Default location of the supervisor's own state (journal, secrets, lock).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/commonscloud";
/// Where a distribution package puts `recipes/` and `images/`.
pub const DEFAULT_SHARE_DIR: &str = "/usr/share/commonscloud";
/// Environment variable naming the share directory, between the flag and the guesses.
pub const SHARE_ENV: &str = "COMMONSCLOUD_SHARE";

/// The places the node reads from and writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePaths {
    /// `node.yaml`, the desired state.
    pub config: PathBuf,
    /// The supervisor's state directory.
    pub state_dir: PathBuf,
    /// One folder per app, each with its `recipe.yaml`.
    pub recipes_dir: PathBuf,
    /// One folder per image we build.
    pub images_dir: PathBuf,
}

impl NodePaths {
    /// Resolves every path: explicit values first, then defaults.
    ///
    /// The share directory (holding `recipes/` and `images/`) is, in order: `share_dir`, the
    /// `COMMONSCLOUD_SHARE` environment variable, the current directory when it has both
    /// `recipes/` and `images/`, `../share/commonscloud` next to the executable when it exists,
    /// and finally `/usr/share/commonscloud`.
    pub fn resolve(
        config: Option<PathBuf>,
        state_dir: Option<PathBuf>,
        share_dir: Option<PathBuf>,
    ) -> NodePaths {
        let share = share_dir.unwrap_or_else(|| {
            resolve_share(
                env::var_os(SHARE_ENV).map(PathBuf::from),
                env::current_dir().ok().as_deref(),
                env::current_exe().ok().as_deref(),
            )
        });
        NodePaths::from_parts(
            config.unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG)),
            state_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
            &share,
        )
    }

    /// Builds the paths from a config file, a state directory and a share directory.
    pub fn from_parts(config: PathBuf, state_dir: PathBuf, share_dir: &Path) -> NodePaths {
        NodePaths {
            config,
            state_dir,
            recipes_dir: share_dir.join("recipes"),
            images_dir: share_dir.join("images"),
        }
    }

    /// Directory of generated secrets (see [`crate::secrets::SecretStore`]).
    pub fn secrets_dir(&self) -> PathBuf {
        self.state_dir.join("secrets")
    }

    /// The node's certificates, its local CA and its ACME account (see
    /// [`crate::tls::CertStore`]).
    pub fn tls_dir(&self) -> PathBuf {
        self.state_dir.join("tls")
    }

    /// SQLite journal of operations (see [`crate::state::Journal`]).
    pub fn journal_file(&self) -> PathBuf {
        self.state_dir.join("journal.sqlite3")
    }

    /// Lock file held by the process that changes the node.
    pub fn lock_file(&self) -> PathBuf {
        self.state_dir.join("lock")
    }
}

/// Picks the share directory from the environment value, the current directory and the
/// executable's path; the first that applies wins.
fn resolve_share(from_env: Option<PathBuf>, cwd: Option<&Path>, exe: Option<&Path>) -> PathBuf {
    if let Some(dir) = from_env.filter(|d| !d.as_os_str().is_empty()) {
        return dir;
    }
    if let Some(cwd) = cwd {
        if cwd.join("recipes").is_dir() && cwd.join("images").is_dir() {
            return cwd.to_path_buf();
        }
    }
    // `<prefix>/bin/commonscloud` ships its data in `<prefix>/share/commonscloud`.
    if let Some(prefix) = exe.and_then(Path::parent).and_then(Path::parent) {
        let beside = prefix.join("share/commonscloud");
        if beside.is_dir() {
            return beside;
        }
    }
    PathBuf::from(DEFAULT_SHARE_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn explicit_values_win() {
        let p = NodePaths::resolve(
            Some("/tmp/n.yaml".into()),
            Some("/tmp/state".into()),
            Some("/tmp/share".into()),
        );
        assert_eq!(p.config, PathBuf::from("/tmp/n.yaml"));
        assert_eq!(p.state_dir, PathBuf::from("/tmp/state"));
        assert_eq!(p.recipes_dir, PathBuf::from("/tmp/share/recipes"));
        assert_eq!(p.images_dir, PathBuf::from("/tmp/share/images"));
    }

    #[test]
    fn defaults_for_config_and_state() {
        let p = NodePaths::resolve(None, None, Some("/s".into()));
        assert_eq!(p.config, PathBuf::from(DEFAULT_CONFIG));
        assert_eq!(p.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
    }

    #[test]
    fn files_in_state_dir() {
        let p = NodePaths::from_parts("/c".into(), "/var/lib/cc".into(), Path::new("/s"));
        assert_eq!(p.secrets_dir(), PathBuf::from("/var/lib/cc/secrets"));
        assert_eq!(
            p.journal_file(),
            PathBuf::from("/var/lib/cc/journal.sqlite3")
        );
        assert_eq!(p.lock_file(), PathBuf::from("/var/lib/cc/lock"));
    }

    #[test]
    fn env_beats_current_directory() {
        let cwd = tempfile::tempdir().unwrap();
        fs::create_dir(cwd.path().join("recipes")).unwrap();
        fs::create_dir(cwd.path().join("images")).unwrap();
        let got = resolve_share(Some("/from/env".into()), Some(cwd.path()), None);
        assert_eq!(got, PathBuf::from("/from/env"));
    }

    #[test]
    fn empty_env_is_ignored() {
        let got = resolve_share(Some(PathBuf::new()), None, None);
        assert_eq!(got, PathBuf::from(DEFAULT_SHARE_DIR));
    }

    #[test]
    fn checkout_directory_is_used_when_complete() {
        let cwd = tempfile::tempdir().unwrap();
        fs::create_dir(cwd.path().join("recipes")).unwrap();
        assert_eq!(
            resolve_share(None, Some(cwd.path()), None),
            PathBuf::from(DEFAULT_SHARE_DIR),
            "recipes/ alone is not a share directory"
        );
        fs::create_dir(cwd.path().join("images")).unwrap();
        assert_eq!(resolve_share(None, Some(cwd.path()), None), cwd.path());
    }

    #[test]
    fn share_beside_executable() {
        let prefix = tempfile::tempdir().unwrap();
        fs::create_dir(prefix.path().join("bin")).unwrap();
        let exe = prefix.path().join("bin/commonscloud");
        let empty_cwd = tempfile::tempdir().unwrap();
        assert_eq!(
            resolve_share(None, Some(empty_cwd.path()), Some(&exe)),
            PathBuf::from(DEFAULT_SHARE_DIR)
        );
        fs::create_dir_all(prefix.path().join("share/commonscloud")).unwrap();
        let got = resolve_share(None, Some(empty_cwd.path()), Some(&exe));
        assert_eq!(got, prefix.path().join("share/commonscloud"));
    }
}
