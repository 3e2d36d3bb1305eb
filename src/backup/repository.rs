//! Where backups go: `backup.repository` of node.yaml, checked before restic ever sees it.
//!
//! Four kinds are accepted, written as restic writes them:
//!
//! | kind | example | credentials (from the secret store) |
//! |---|---|---|
//! | local | `/var/backups/commonscloud` | none |
//! | sftp | `sftp:backup@nas.example.coop:/srv/restic` | an SSH key and the host key in `known_hosts` |
//! | s3 | `s3:https://s3.example.coop/bucket/prefix` | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` |
//! | rest | `rest:https://backup.example.coop:8000/node1` | optional HTTP user and password |
//!
//! node.yaml never holds a credential: a password written into a URL is refused.

use super::error::BackupError;
use std::fmt;
use std::path::{Path, PathBuf};

/// A restic repository this node can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repository {
    /// A folder on this machine (or a mounted disk).
    Local { path: PathBuf },
    /// A folder on an SSH server, reached with `ssh` (keys only, never a password prompt).
    Sftp {
        user: Option<String>,
        host: String,
        port: Option<u16>,
        /// As restic takes it: absolute, or relative to the user's home.
        path: String,
    },
    /// A bucket (and prefix) of S3-compatible storage.
    S3 {
        /// `https://host[:port]` (or `http://` for a server on a trusted network).
        endpoint: String,
        bucket: String,
        prefix: Option<String>,
    },
    /// A restic REST server.
    Rest {
        /// `https://host[:port]/path/`, without credentials.
        url: String,
        /// The HTTP user, when node.yaml names one; the password comes from the secret store.
        user: Option<String>,
    },
}

/// The kind of a [`Repository`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RepositoryKind {
    Local,
    Sftp,
    S3,
    Rest,
}

impl RepositoryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RepositoryKind::Local => "local",
            RepositoryKind::Sftp => "sftp",
            RepositoryKind::S3 => "s3",
            RepositoryKind::Rest => "rest",
        }
    }

    /// What to check when the repository cannot be reached.
    pub fn unreachable_advice(self) -> &'static str {
        match self {
            RepositoryKind::Local => {
                "check that the disk holding it is mounted and the path is right"
            }
            RepositoryKind::Sftp => {
                "check that the SSH server answers, that its host key is in known_hosts (ssh \
                 runs in batch mode and never asks) and that the key is accepted"
            }
            RepositoryKind::S3 => {
                "check the endpoint URL, that this node can make outgoing HTTPS connections and \
                 that the storage's certificate is valid"
            }
            RepositoryKind::Rest => {
                "check that the REST server runs at that address, that this node can reach it \
                 and that its certificate is valid"
            }
        }
    }

    /// What to check when the repository refuses access.
    pub fn access_advice(self) -> &'static str {
        match self {
            RepositoryKind::Local => {
                "the supervisor must be able to read and write every file of the repository \
                 (run it as root, or fix the owner of the folder)"
            }
            RepositoryKind::Sftp => {
                "check that the SSH key is authorised for that user and that the user may write \
                 the folder"
            }
            RepositoryKind::S3 => {
                "check the access key and secret key in the secret store and that they may read \
                 and write the bucket"
            }
            RepositoryKind::Rest => {
                "check the REST user and password in the secret store (and the server's \
                 .htpasswd)"
            }
        }
    }
}

impl fmt::Display for RepositoryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Credentials for a remote repository. Debug never shows a secret.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Credentials(Creds);

#[derive(Clone, PartialEq, Eq, Default)]
enum Creds {
    #[default]
    None,
    S3 {
        access_key_id: String,
        secret_access_key: String,
        region: Option<String>,
    },
    Rest {
        user: String,
        password: String,
    },
}

impl Credentials {
    /// No credentials: a local or sftp repository, or a REST server without authentication.
    pub fn none() -> Credentials {
        Credentials(Creds::None)
    }

    /// The access key pair of S3-compatible storage.
    pub fn s3(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Credentials {
        Credentials(Creds::S3 {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            region: None,
        })
    }

    /// The region for S3 storage that needs one (`AWS_DEFAULT_REGION`).
    pub fn with_region(mut self, region: impl Into<String>) -> Credentials {
        if let Creds::S3 { region: r, .. } = &mut self.0 {
            *r = Some(region.into());
        }
        self
    }

    /// HTTP basic authentication of a REST server.
    pub fn rest(user: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials(Creds::Rest {
            user: user.into(),
            password: password.into(),
        })
    }

    /// The secret values, to be scrubbed from any output.
    pub(crate) fn secrets(&self) -> Vec<String> {
        match &self.0 {
            Creds::None => vec![],
            Creds::S3 {
                secret_access_key, ..
            } => vec![secret_access_key.clone()],
            Creds::Rest { password, .. } => {
                let encoded = userinfo_encode(password);
                if encoded == *password {
                    vec![password.clone()]
                } else {
                    vec![password.clone(), encoded]
                }
            }
        }
    }

    fn kind(&self) -> &'static str {
        match &self.0 {
            Creds::None => "none",
            Creds::S3 { .. } => "s3",
            Creds::Rest { .. } => "rest",
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, ***)", self.kind())
    }
}

const OTHER_BACKENDS: &[&str] = &["b2:", "azure:", "gs:", "swift:", "rclone:"];

impl Repository {
    /// Reads `backup.repository`; the error lists what is accepted.
    pub fn parse(value: &str) -> Result<Repository, BackupError> {
        let fail = |problem: &str| BackupError::InvalidRepository {
            value: value.to_string(),
            problem: problem.to_string(),
        };
        let v = value.trim();
        if v.is_empty() {
            return Err(fail("it is empty"));
        }
        if v.chars().any(|c| c.is_control()) {
            return Err(fail("it contains a control character"));
        }
        if let Some(rest) = v.strip_prefix("local:") {
            return Repository::parse_local(rest).map_err(|p| fail(&p));
        }
        if v.starts_with('/') {
            return Repository::parse_local(v).map_err(|p| fail(&p));
        }
        if let Some(rest) = v.strip_prefix("sftp:") {
            return parse_sftp(rest).map_err(|p| fail(&p));
        }
        if let Some(rest) = v.strip_prefix("s3:") {
            return parse_s3(rest).map_err(|p| fail(&p));
        }
        if let Some(rest) = v.strip_prefix("rest:") {
            return parse_rest(rest).map_err(|p| fail(&p));
        }
        if let Some(other) = OTHER_BACKENDS.iter().find(|p| v.starts_with(**p)) {
            return Err(fail(&format!(
                "restic knows `{other}` repositories but this node does not support them (yet)"
            )));
        }
        if v.starts_with("http://") || v.starts_with("https://") {
            return Err(fail(
                "a URL needs its kind in front: `rest:` for a restic REST server, `s3:` for S3 \
                 storage",
            ));
        }
        if v.contains('@') && v.contains(':') {
            return Err(fail("an SSH location needs `sftp:` in front"));
        }
        Err(fail(
            "a relative path depends on the folder the supervisor runs in; write it from `/`",
        ))
    }

    fn parse_local(path: &str) -> Result<Repository, String> {
        if !path.starts_with('/') {
            return Err("a local repository is an absolute path, starting with `/`".into());
        }
        if Path::new(path)
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err("the path must not go up with `..`".into());
        }
        Ok(Repository::Local {
            path: PathBuf::from(path),
        })
    }

    /// A local repository at `path` (e.g. `/repo` inside the backup container).
    pub fn local(path: impl Into<PathBuf>) -> Repository {
        Repository::Local { path: path.into() }
    }

    pub fn kind(&self) -> RepositoryKind {
        match self {
            Repository::Local { .. } => RepositoryKind::Local,
            Repository::Sftp { .. } => RepositoryKind::Sftp,
            Repository::S3 { .. } => RepositoryKind::S3,
            Repository::Rest { .. } => RepositoryKind::Rest,
        }
    }

    /// The folder of a local repository.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            Repository::Local { path } => Some(path),
            _ => None,
        }
    }

    /// The environment variables restic needs for this kind besides `RESTIC_REPOSITORY` and
    /// `RESTIC_PASSWORD_FILE` (set from [`Credentials`]).
    pub fn required_env(&self) -> &'static [&'static str] {
        match self {
            Repository::S3 { .. } => &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
            _ => &[],
        }
    }

    /// What this kind needs besides the repository password, for the operator.
    pub fn credentials_needed(&self) -> &'static str {
        match self {
            Repository::Local { .. } => "nothing more",
            Repository::Sftp { .. } => {
                "an SSH key authorised on the server (~/.ssh of the user running restic, or \
                 mounted at /root/.ssh in the backup container) and the server's host key in \
                 known_hosts"
            }
            Repository::S3 { .. } => {
                "an access key: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and \
                 AWS_DEFAULT_REGION if the storage needs one)"
            }
            Repository::Rest { .. } => {
                "a user and password if the REST server asks for them (given to restic inside \
                 the URL, never written in node.yaml)"
            }
        }
    }

    /// Checks that `creds` fit this kind of repository.
    pub fn check_credentials(&self, creds: &Credentials) -> Result<(), BackupError> {
        let missing = |missing: &str| BackupError::MissingCredentials {
            repository: self.to_string(),
            kind: self.kind().as_str(),
            missing: missing.to_string(),
        };
        match (self, &creds.0) {
            (Repository::S3 { .. }, Creds::S3 { .. }) => Ok(()),
            (Repository::S3 { .. }, _) => Err(missing("an access key id and a secret key")),
            (Repository::Rest { .. }, Creds::None | Creds::Rest { .. }) => Ok(()),
            (Repository::Local { .. } | Repository::Sftp { .. }, Creds::None) => Ok(()),
            (_, other) => Err(BackupError::InvalidRequest {
                what: "credentials",
                problem: format!(
                    "{} credentials given for the {} repository {}",
                    Credentials(other.clone()).kind(),
                    self.kind(),
                    self
                ),
            }),
        }
    }

    /// `RESTIC_REPOSITORY` and the credential variables, secrets included.
    pub(crate) fn environment(
        &self,
        creds: &Credentials,
    ) -> Result<Vec<(String, String)>, BackupError> {
        self.check_credentials(creds)?;
        let mut env = vec![("RESTIC_REPOSITORY".to_string(), self.location(creds))];
        if let Creds::S3 {
            access_key_id,
            secret_access_key,
            region,
        } = &creds.0
        {
            env.push(("AWS_ACCESS_KEY_ID".into(), access_key_id.clone()));
            env.push(("AWS_SECRET_ACCESS_KEY".into(), secret_access_key.clone()));
            if let Some(region) = region {
                env.push(("AWS_DEFAULT_REGION".into(), region.clone()));
            }
        }
        Ok(env)
    }

    /// The location as restic takes it, with REST credentials spliced into the URL.
    fn location(&self, creds: &Credentials) -> String {
        match (self, &creds.0) {
            (Repository::Rest { url, .. }, Creds::Rest { user, password }) => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
                format!(
                    "rest:{scheme}://{}:{}@{rest}",
                    userinfo_encode(user),
                    userinfo_encode(password)
                )
            }
            _ => self.to_string(),
        }
    }

    /// `-o` options restic needs for this kind.
    pub(crate) fn options(&self) -> Vec<String> {
        match self {
            // Batch mode: a missing key or an unknown host key fails at once instead of waiting
            // for someone to type at a prompt nobody sees.
            Repository::Sftp {
                user, host, port, ..
            } => {
                let mut cmd = String::from("ssh -o BatchMode=yes -o ServerAliveInterval=60");
                if let Some(port) = port {
                    cmd.push_str(&format!(" -p {port}"));
                }
                if let Some(user) = user {
                    cmd.push_str(&format!(" -l {user}"));
                }
                let host = host.trim_start_matches('[').trim_end_matches(']');
                cmd.push_str(&format!(" {host} -s sftp"));
                vec!["-o".into(), format!("sftp.command={cmd}")]
            }
            _ => vec![],
        }
    }
}

/// The location as restic writes it, without credentials: safe to show and log.
impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Repository::Local { path } => write!(f, "{}", path.display()),
            Repository::Sftp {
                user,
                host,
                port: None,
                path,
            } => {
                f.write_str("sftp:")?;
                if let Some(user) = user {
                    write!(f, "{user}@")?;
                }
                write!(f, "{host}:{path}")
            }
            Repository::Sftp {
                user,
                host,
                port: Some(port),
                path,
            } => {
                f.write_str("sftp://")?;
                if let Some(user) = user {
                    write!(f, "{user}@")?;
                }
                write!(f, "{host}:{port}/{path}")
            }
            Repository::S3 {
                endpoint,
                bucket,
                prefix,
            } => {
                write!(f, "s3:{endpoint}/{bucket}")?;
                if let Some(prefix) = prefix {
                    write!(f, "/{prefix}")?;
                }
                Ok(())
            }
            Repository::Rest { url, user: None } => write!(f, "rest:{url}"),
            Repository::Rest {
                url,
                user: Some(user),
            } => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
                write!(f, "rest:{scheme}://{user}@{rest}")
            }
        }
    }
}

fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
        && !host.starts_with('-')
}

fn valid_user(user: &str) -> bool {
    !user.is_empty()
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// `[user@]host:path` or `//[user@]host[:port]/path`.
fn parse_sftp(rest: &str) -> Result<Repository, String> {
    let example =
        "write `sftp:user@host:/path` (or `sftp://user@host:port//path` for another port)";
    if let Some(url) = rest.strip_prefix("//") {
        let (authority, path) = url
            .split_once('/')
            .ok_or_else(|| format!("no path after the host; {example}"))?;
        let (user, hostport) = split_user(authority)?;
        let (host, port) = split_port(hostport)?;
        if !valid_host(host) {
            return Err(format!("`{host}` is not a host name; {example}"));
        }
        if path.is_empty() {
            return Err(format!("no path after the host; {example}"));
        }
        return Ok(Repository::Sftp {
            user,
            host: host.to_string(),
            port,
            path: path.to_string(),
        });
    }
    let (user, after) = split_user_at(rest)?;
    let (host, path) = if after.starts_with('[') {
        let end = after
            .find("]:")
            .ok_or_else(|| format!("no `:` after the host; {example}"))?;
        (&after[..=end], &after[end + 2..])
    } else {
        after
            .split_once(':')
            .ok_or_else(|| format!("no `:` between host and path; {example}"))?
    };
    if !valid_host(host) {
        return Err(format!("`{host}` is not a host name; {example}"));
    }
    if path.is_empty() {
        return Err(format!("no path after `{host}:`; {example}"));
    }
    Ok(Repository::Sftp {
        user,
        host: host.to_string(),
        port: None,
        path: path.to_string(),
    })
}

/// Splits an optional `user@` off the front of an sftp location (the user part of
/// `user@host:path`, which has no password).
fn split_user_at(s: &str) -> Result<(Option<String>, &str), String> {
    match s.split_once('@') {
        None => Ok((None, s)),
        Some((user, rest)) => {
            if user.contains(':') {
                return Err(
                    "a password in the location would end up in node.yaml; use an SSH key".into(),
                );
            }
            if !valid_user(user) {
                return Err(format!("`{user}` is not a user name"));
            }
            Ok((Some(user.to_string()), rest))
        }
    }
}

/// Splits `user@` off a URL authority, refusing a password.
fn split_user(authority: &str) -> Result<(Option<String>, &str), String> {
    match authority.rsplit_once('@') {
        None => Ok((None, authority)),
        Some((userinfo, hostport)) => {
            if userinfo.contains(':') {
                return Err(
                    "a password in the URL would end up in node.yaml; it belongs in the secret \
                     store"
                        .into(),
                );
            }
            if !valid_user(userinfo) {
                return Err(format!("`{userinfo}` is not a user name"));
            }
            Ok((Some(userinfo.to_string()), hostport))
        }
    }
}

fn split_port(hostport: &str) -> Result<(&str, Option<u16>), String> {
    let colon = if hostport.starts_with('[') {
        hostport.find("]:").map(|i| i + 1)
    } else {
        hostport.rfind(':')
    };
    match colon {
        None => Ok((hostport, None)),
        Some(i) => {
            let port = &hostport[i + 1..];
            match port.parse::<u16>() {
                Ok(p) if p > 0 => Ok((&hostport[..i], Some(p))),
                _ => Err(format!("`{port}` is not a port number")),
            }
        }
    }
}

/// `https://host[:port]/bucket[/prefix]` or `host/bucket[/prefix]` (HTTPS).
fn parse_s3(rest: &str) -> Result<Repository, String> {
    let example = "write `s3:https://host/bucket` or `s3:https://host/bucket/prefix`";
    let (scheme, url) = match rest.split_once("://") {
        Some((s @ ("http" | "https"), url)) => (s, url),
        Some((s, _)) => return Err(format!("`{s}://` is neither http nor https; {example}")),
        None => ("https", rest),
    };
    let (authority, path) = url
        .split_once('/')
        .ok_or_else(|| format!("no bucket after the host; {example}"))?;
    if authority.contains('@') {
        return Err(
            "credentials in the URL would end up in node.yaml; the access key belongs in the \
             secret store"
                .into(),
        );
    }
    let (host, _port) = split_port(authority)?;
    if !valid_host(host) {
        return Err(format!("`{host}` is not a host name; {example}"));
    }
    let path = path.trim_end_matches('/');
    let (bucket, prefix) = match path.split_once('/') {
        Some((b, p)) => (b, Some(p.to_string())),
        None => (path, None),
    };
    if bucket.is_empty() {
        return Err(format!("no bucket after the host; {example}"));
    }
    if bucket.len() < 3
        || !bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    {
        return Err(format!(
            "`{bucket}` is not a bucket name (3 to 63 lower-case letters, digits, `-` and `.`)"
        ));
    }
    if prefix
        .as_deref()
        .is_some_and(|p| p.split('/').any(str::is_empty))
    {
        return Err(format!("the prefix has an empty part (`//`); {example}"));
    }
    Ok(Repository::S3 {
        endpoint: format!("{scheme}://{authority}"),
        bucket: bucket.to_string(),
        prefix,
    })
}

/// `http(s)://[user@]host[:port][/path]`.
fn parse_rest(rest: &str) -> Result<Repository, String> {
    let example = "write `rest:https://host:8000/` or `rest:https://host:8000/path`";
    let (scheme, url) = match rest.split_once("://") {
        Some((s @ ("http" | "https"), url)) => (s, url),
        _ => {
            return Err(format!(
                "a REST server is reached over http or https; {example}"
            ))
        }
    };
    let (authority, path) = match url.split_once('/') {
        Some((a, p)) => (a, p),
        None => (url, ""),
    };
    let (user, hostport) = split_user(authority)?;
    let (host, _port) = split_port(hostport)?;
    if !valid_host(host) {
        return Err(format!("`{host}` is not a host name; {example}"));
    }
    if path.contains(['?', '#']) {
        return Err(format!(
            "a query or fragment has no meaning here; {example}"
        ));
    }
    let path = path.trim_end_matches('/');
    let url = if path.is_empty() {
        format!("{scheme}://{hostport}/")
    } else {
        format!("{scheme}://{hostport}/{path}/")
    };
    Ok(Repository::Rest { url, user })
}

/// Percent-encodes what is not unreserved, for the userinfo of a URL.
fn userinfo_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Repository {
        Repository::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        match Repository::parse(s) {
            Ok(r) => panic!("{s} accepted as {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn accepted_forms_and_their_display() {
        for (input, shown, kind) in [
            ("/var/backups/cc", "/var/backups/cc", RepositoryKind::Local),
            ("local:/srv/repo", "/srv/repo", RepositoryKind::Local),
            (
                "sftp:backup@nas.example.coop:/srv/restic",
                "sftp:backup@nas.example.coop:/srv/restic",
                RepositoryKind::Sftp,
            ),
            ("sftp:nas:restic", "sftp:nas:restic", RepositoryKind::Sftp),
            (
                "sftp://backup@nas:2222//srv/restic",
                "sftp://backup@nas:2222//srv/restic",
                RepositoryKind::Sftp,
            ),
            (
                "s3:https://s3.example.coop/bucket/node1",
                "s3:https://s3.example.coop/bucket/node1",
                RepositoryKind::S3,
            ),
            (
                "s3:s3.amazonaws.com/my-bucket",
                "s3:https://s3.amazonaws.com/my-bucket",
                RepositoryKind::S3,
            ),
            (
                "s3:http://127.0.0.1:9000/bkt/a/b/",
                "s3:http://127.0.0.1:9000/bkt/a/b",
                RepositoryKind::S3,
            ),
            (
                "rest:https://backup.example.coop:8000/node1",
                "rest:https://backup.example.coop:8000/node1/",
                RepositoryKind::Rest,
            ),
            (
                "rest:http://127.0.0.1:8000",
                "rest:http://127.0.0.1:8000/",
                RepositoryKind::Rest,
            ),
            (
                "rest:https://node1@[::1]:8000/x",
                "rest:https://node1@[::1]:8000/x/",
                RepositoryKind::Rest,
            ),
        ] {
            let r = ok(input);
            assert_eq!(r.to_string(), shown, "{input}");
            assert_eq!(r.kind(), kind, "{input}");
            assert_eq!(ok(shown), r, "{shown} reads back");
        }
    }

    #[test]
    fn refused_forms_say_why_and_what_is_accepted() {
        for (input, why) in [
            ("", "it is empty"),
            ("backups/cc", "relative path"),
            ("/srv/../etc", "`..`"),
            ("https://host/x", "`rest:`"),
            ("b2:bucket:path", "does not support"),
            ("user@host:/srv", "`sftp:`"),
            ("sftp:host", "no `:`"),
            ("sftp:user:pw@host:/srv", "password"),
            ("s3:https://host", "no bucket"),
            ("s3:https://key:secret@host/bucket", "secret store"),
            ("s3:https://host/B_ucket", "bucket name"),
            ("rest:ftp://host/", "http or https"),
            ("rest:https://u:pw@host:8000/", "secret store"),
            ("rest:https://host:99999/", "port number"),
        ] {
            let e = err(input);
            assert!(e.contains(why), "{input}: {e}");
            assert!(e.contains("sftp:user@host:/path"), "{input}: {e}");
        }
    }

    #[test]
    fn rest_credentials_go_into_the_url_only() {
        let r = ok("rest:https://host:8000/n1");
        let env = r
            .environment(&Credentials::rest("node1", "p@ss/w:rd"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            env,
            vec![(
                "RESTIC_REPOSITORY".to_string(),
                "rest:https://node1:p%40ss%2Fw%3Ard@host:8000/n1/".to_string()
            )]
        );
        let creds = Credentials::rest("node1", "p@ss/w:rd");
        assert_eq!(creds.secrets(), vec!["p@ss/w:rd", "p%40ss%2Fw%3Ard"]);
        assert_eq!(format!("{creds:?}"), "Credentials(rest, ***)");
        assert!(!r.to_string().contains("node1"));
    }

    #[test]
    fn s3_needs_its_keys() {
        let r = ok("s3:https://host/bucket");
        assert_eq!(
            r.required_env(),
            &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        );
        let e = r
            .environment(&Credentials::none())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("needs an access key id"), "{e}");
        let env = r
            .environment(&Credentials::s3("AKID", "SECRET").with_region("eu-west-1"))
            .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "RESTIC_REPOSITORY",
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION"
            ]
        );
        assert!(ok("/srv/r")
            .check_credentials(&Credentials::s3("a", "b"))
            .is_err());
    }

    #[test]
    fn sftp_runs_ssh_in_batch_mode() {
        assert_eq!(
            ok("sftp://backup@nas:2222//srv/restic").options(),
            [
                "-o",
                "sftp.command=ssh -o BatchMode=yes -o ServerAliveInterval=60 -p 2222 -l backup \
                 nas -s sftp"
            ]
        );
        assert!(ok("/srv/r").options().is_empty());
    }
}
