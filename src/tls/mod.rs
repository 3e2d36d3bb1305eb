//! Certificates for the edge: a node-local CA (self-signed mode), certificates given by the
//! operator (provided mode) and ACME (acme mode), kept in one [`CertStore`].
//!
//! This module knows files, X.509 and the ACME protocol. It knows nothing of Docker, LDAP or
//! nginx: the edge reads [`CertStore::paths`], and answers HTTP-01 challenges through an
//! [`Http01Responder`] that the caller implements (or the generic [`WebrootResponder`]).
//!
//! Layout of the store (all directories 0700, private keys 0600):
//!
//! ```text
//! <dir>/ca/ca.pem, ca.key.pem           the local CA (created once, ECDSA P-256, 10 years)
//! <dir>/archive/<host>/<version>/       fullchain.pem, key.pem, source: one issued certificate
//! <dir>/live/<host> -> ../archive/<host>/<version>   the certificate being served
//! <dir>/acme/account.json               the ACME account (its key) and its directory URL
//! ```
//!
//! A new certificate is written into a fresh version directory, parsed and matched against its
//! key, and only then published by replacing the `live/<host>` symlink with a rename. That is
//! atomic: the edge sees the old pair or the new pair, never a mix, and a failed issuance
//! leaves the previous certificate serving.

mod acme;
mod backoff;
mod files;
mod parse;
mod store;

pub use acme::{
    acme_issue, acme_order, checked_token, AcmeRequest, AcmeSettings, ChallengeSolver,
    Http01Responder, WebrootResponder,
};
pub use backoff::Backoff;
pub use parse::{fingerprint, validate_host};
pub use store::{CertPaths, CertStore};

use std::path::PathBuf;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Where a certificate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertSource {
    /// Signed by the node's own CA (mode `self-signed`).
    Local,
    /// Issued by an ACME server (mode `acme`).
    Acme,
    /// Given by the operator (mode `provided`).
    Provided,
}

impl CertSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CertSource::Local => "local",
            CertSource::Acme => "acme",
            CertSource::Provided => "provided",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<CertSource> {
        match s.trim() {
            "local" => Some(CertSource::Local),
            "acme" => Some(CertSource::Acme),
            "provided" => Some(CertSource::Provided),
            _ => None,
        }
    }
}

impl std::fmt::Display for CertSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the store holds for one host: the leaf certificate being served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub host: String,
    /// The DNS names of the certificate (subject alternative names).
    pub names: Vec<String>,
    /// The issuer's distinguished name, as `CN=…, O=…`.
    pub issuer: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// SHA-256 of the leaf's DER, `AA:BB:…`.
    pub fingerprint: String,
    /// The serial number in hex, `0a:1b:…`.
    pub serial: String,
    pub source: CertSource,
}

impl CertInfo {
    /// Whether this certificate is valid for `host` (exactly, or through a `*.` wildcard one
    /// label deep).
    pub fn covers(&self, host: &str) -> bool {
        parse::names_cover(&self.names, host)
    }

    /// The moment from which [`needs_renewal`] is true: when a third of the lifetime remains.
    pub fn renewal_at(&self) -> OffsetDateTime {
        self.not_after - (self.not_after - self.not_before) / 3
    }
}

impl serde::Serialize for CertInfo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("CertInfo", 9)?;
        st.serialize_field("host", &self.host)?;
        st.serialize_field("names", &self.names)?;
        st.serialize_field("issuer", &self.issuer)?;
        st.serialize_field("not_before", &rfc3339(self.not_before))?;
        st.serialize_field("not_after", &rfc3339(self.not_after))?;
        st.serialize_field("fingerprint", &self.fingerprint)?;
        st.serialize_field("serial", &self.serial)?;
        st.serialize_field("source", self.source.as_str())?;
        st.end()
    }
}

/// The node's local CA, as people who install it need to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaInfo {
    /// The CA certificate (PEM): the file people download and trust.
    pub path: PathBuf,
    pub subject: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// SHA-256 of the CA certificate's DER, `AA:BB:…`: what people compare before trusting it.
    pub fingerprint: String,
}

impl serde::Serialize for CaInfo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("CaInfo", 5)?;
        st.serialize_field("path", &self.path)?;
        st.serialize_field("subject", &self.subject)?;
        st.serialize_field("not_before", &rfc3339(self.not_before))?;
        st.serialize_field("not_after", &rfc3339(self.not_after))?;
        st.serialize_field("fingerprint", &self.fingerprint)?;
        st.end()
    }
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// True when less than a third of the certificate's lifetime remains (or it has expired).
///
/// With Let's Encrypt's 90 days this renews 30 days before expiry, with pebble's or any
/// shorter lifetime it scales down, so short-lived certificates renew in time too.
pub fn needs_renewal(info: &CertInfo, now: OffsetDateTime) -> bool {
    now >= info.renewal_at()
}

/// How long before expiry a provided certificate is warned about: the operator has to act.
pub const PROVIDED_WARNING: time::Duration = time::Duration::days(30);

/// A sentence for the operator when a certificate is expired or about to be, else `None`.
///
/// - provided certificates: warned within [`PROVIDED_WARNING`] of expiry, since only the
///   operator can replace them;
/// - ACME and local certificates renew by themselves when a third of their lifetime remains;
///   a warning means renewal has kept failing until only a sixth remains.
pub fn expiry_warning(info: &CertInfo, now: OffsetDateTime) -> Option<String> {
    let host = &info.host;
    let when = rfc3339(info.not_after);
    if now >= info.not_after {
        let fix = match info.source {
            CertSource::Provided => "install a new certificate and key for it",
            CertSource::Acme => "run `commonscloud certs renew` and read its error",
            CertSource::Local => "run `commonscloud certs renew` to issue a new one",
        };
        return Some(format!(
            "the certificate for {host} expired on {when}: browsers refuse it; {fix}"
        ));
    }
    let left = info.not_after - now;
    let days = left.whole_days();
    match info.source {
        CertSource::Provided if left <= PROVIDED_WARNING => Some(format!(
            "the provided certificate for {host} expires on {when} (in {days} days); \
             install a renewed certificate and key before then"
        )),
        CertSource::Acme | CertSource::Local if left <= (info.not_after - info.not_before) / 6 => {
            Some(format!(
                "the certificate for {host} expires on {when} (in {days} days) and has not been \
                 renewed yet; run `commonscloud certs renew` and read its error"
            ))
        }
        _ => None,
    }
}

/// Why a host needs a (new) certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DueReason {
    /// The store has no certificate for this host.
    Missing,
    /// The certificate does not cover the host (its names changed).
    NamesDiffer { names: Vec<String> },
    /// The certificate comes from another mode (e.g. a local one after switching to ACME).
    SourceDiffers { source: CertSource },
    /// A third or less of its lifetime remains.
    RenewalDue { not_after: OffsetDateTime },
    /// It has expired.
    Expired { not_after: OffsetDateTime },
}

impl std::fmt::Display for DueReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DueReason::Missing => f.write_str("no certificate yet"),
            DueReason::NamesDiffer { names } => {
                write!(f, "the certificate names {} only", names.join(", "))
            }
            DueReason::SourceDiffers { source } => {
                write!(f, "the certificate is a {source} one")
            }
            DueReason::RenewalDue { not_after } => {
                write!(f, "renewal due (expires {})", rfc3339(*not_after))
            }
            DueReason::Expired { not_after } => write!(f, "expired on {}", rfc3339(*not_after)),
        }
    }
}

/// A host that needs issuance, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub host: String,
    pub reason: DueReason,
}

/// Which of `hosts` need a certificate from `source` now: missing, not covering the host,
/// from another source, or due for renewal. Hosts that are fine are left out. Provided
/// certificates are never "due" for renewal here (nobody can renew them but the operator;
/// see [`expiry_warning`]), only missing or not covering.
pub fn renewal_due<S: AsRef<str>>(
    store: &CertStore,
    hosts: &[S],
    source: CertSource,
    now: OffsetDateTime,
) -> Result<Vec<Due>, TlsError> {
    let mut due = Vec::new();
    for host in hosts {
        let host = host.as_ref();
        validate_host(host)?;
        let reason = match store.current(host)? {
            None => Some(DueReason::Missing),
            Some(info) if !info.covers(host) => Some(DueReason::NamesDiffer { names: info.names }),
            Some(info) if info.source != source => Some(DueReason::SourceDiffers {
                source: info.source,
            }),
            Some(_) if source == CertSource::Provided => None,
            Some(info) if now >= info.not_after => Some(DueReason::Expired {
                not_after: info.not_after,
            }),
            Some(info) if needs_renewal(&info, now) => Some(DueReason::RenewalDue {
                not_after: info.not_after,
            }),
            Some(_) => None,
        };
        if let Some(reason) = reason {
            due.push(Due {
                host: host.to_string(),
                reason,
            });
        }
    }
    Ok(due)
}

/// Everything that can go wrong with certificates, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{host}` is not a valid host name: {reason}")]
    InvalidHost { host: String, reason: String },
    #[error(
        "there is no local CA at {path} yet; it is created when the node runs in `self-signed` \
         mode (commonscloud up)"
    )]
    CaMissing { path: PathBuf },
    #[error("{path} can be read by group or others (mode {mode:o}); run `chmod 600 {path}`")]
    KeyPermissions { path: PathBuf, mode: u32 },
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    #[error(
        "the private key {key} does not belong to the certificate {cert}; give the key that \
         was generated with the certificate request"
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error(
        "the certificate {path} does not cover {host} (it names {names}); get a certificate \
         that lists {host} or a matching wildcard"
    )]
    NotCovered {
        path: PathBuf,
        host: String,
        names: String,
    },
    #[error(
        "the certificate {path} expired on {not_after}; ask your certificate provider for a \
         renewed one"
    )]
    Expired { path: PathBuf, not_after: String },
    #[error("the certificate {path} is valid only from {not_before}; check this machine's clock")]
    NotYetValid { path: PathBuf, not_before: String },
    #[error("could not generate a key or certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error(
        "ACME server unreachable at {url}: {detail}; check the directory URL and that this node \
         can make outgoing HTTPS connections (it is retried later with backoff)"
    )]
    AcmeUnreachable { url: String, detail: String },
    #[error(
        "the ACME server at {url} did not answer within {:.1} s while {step}; it is retried \
         later with backoff", after.as_secs_f64()
    )]
    AcmeTimeout {
        url: String,
        step: &'static str,
        after: Duration,
    },
    #[error("the ACME server at {url} refused while {step}: {detail}")]
    AcmeRefused {
        url: String,
        step: String,
        detail: String,
    },
    #[error(
        "the ACME server at {url} could not validate {name}: {detail}; check that DNS for {name} \
         points at this node and that http://{name}/.well-known/acme-challenge/ reaches it on \
         port 80"
    )]
    AcmeChallenge {
        url: String,
        name: String,
        detail: String,
    },
    #[error("the ACME server at {url} returned an unusable certificate for {host}: {problem}")]
    AcmeCertificate {
        url: String,
        host: String,
        problem: String,
    },
    #[error(
        "the ACME account file {path} is unreadable ({problem}); move it away to register a new \
         account"
    )]
    Account { path: PathBuf, problem: String },
    #[error("could not publish the ACME challenge answer for token {token}: {problem}")]
    Responder { token: String, problem: String },
    #[error(
        "{name} is a wildcard: wildcard certificates need the DNS-01 challenge, which this node \
         does not answer yet; list each host instead"
    )]
    WildcardNeedsDns01 { name: String },
}

impl TlsError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        TlsError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        TlsError::Invalid {
            path: path.into(),
            problem: problem.into(),
        }
    }

    /// Worth retrying later by itself (the server was unreachable or slow), as opposed to an
    /// error that needs someone to fix something first (DNS, a refused order, a bad file).
    /// The renewal loop retries transient errors with [`Backoff`] and tells the operator about
    /// the others at once.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            TlsError::AcmeUnreachable { .. } | TlsError::AcmeTimeout { .. }
        )
    }
}

#[cfg(test)]
mod tests;
