//! The certificate store: the local CA, and one served certificate per host.

use super::files::{
    check_private, private_dir, read, read_optional, replace_symlink, temp_sibling, write_new,
};
use super::parse::{self, leaf_of, parse_chain, parse_key, validate_host, Parsed};
use super::{rfc3339, CaInfo, CertInfo, CertSource, TlsError};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use std::fs;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// Lifetime of the local CA.
pub const CA_LIFETIME: Duration = Duration::days(3650);
/// Lifetime of a certificate signed by the local CA (as Let's Encrypt's, so both modes renew
/// on the same rhythm).
pub const LOCAL_LIFETIME: Duration = Duration::days(90);
/// Certificates are dated this much in the past, for clients whose clock is a little behind.
const BACKDATE: Duration = Duration::minutes(5);
/// A certificate valid only from further in the future than this is refused.
const CLOCK_SKEW: Duration = Duration::minutes(5);
/// Issued versions kept per host besides the one served (to go back by hand if needed).
const KEEP_PREVIOUS: usize = 2;

const FULLCHAIN: &str = "fullchain.pem";
const KEY: &str = "key.pem";
const SOURCE: &str = "source";

/// The files the edge serves for one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPaths {
    /// The leaf certificate followed by its intermediates (PEM).
    pub fullchain: PathBuf,
    /// Its private key (PEM, mode 0600).
    pub key: PathBuf,
}

/// The certificates of one node, under one directory (usually `<state>/tls`).
#[derive(Debug, Clone)]
pub struct CertStore {
    dir: PathBuf,
}

impl CertStore {
    /// Opens the store at `dir`, creating it (mode 0700) if needed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<CertStore, TlsError> {
        let dir = dir.into();
        for sub in ["", "live", "archive"] {
            private_dir(&dir.join(sub))?;
        }
        Ok(CertStore { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The local CA's certificate (PEM): the file people download and trust.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.dir.join("ca").join("ca.pem")
    }

    fn ca_key_path(&self) -> PathBuf {
        self.dir.join("ca").join("ca.key.pem")
    }

    pub(crate) fn acme_dir(&self) -> PathBuf {
        self.dir.join("acme")
    }

    /// Where the edge finds the certificate of `host`. The paths go through the symlink
    /// `live/<host>`, which is swapped atomically when a new certificate is installed.
    pub fn paths(&self, host: &str) -> CertPaths {
        let live = self.dir.join("live").join(host);
        CertPaths {
            fullchain: live.join(FULLCHAIN),
            key: live.join(KEY),
        }
    }

    /// Creates the local CA the first time (ECDSA P-256, valid ten years, key 0600), and
    /// loads it afterwards. Concurrent first calls agree on one CA: each builds its own in a
    /// temporary directory and the first rename wins.
    pub fn ensure_ca(&self, node_name: &str, now: OffsetDateTime) -> Result<CaInfo, TlsError> {
        if let Some(info) = self.ca_info()? {
            check_private(&self.ca_key_path())?;
            return Ok(info);
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            format!("CommonsCloud local CA ({node_name})"),
        );
        dn.push(DnType::OrganizationName, "CommonsCloud");
        // Two CAs of one node name (a node rebuilt without its state) must not share a
        // subject: clients look trust anchors up by subject.
        dn.push(
            DnType::OrganizationalUnitName,
            format!("ca-{:08x}", rand::random::<u32>()),
        );
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now - BACKDATE;
        params.not_after = now + CA_LIFETIME;
        params.serial_number = Some(random_serial());
        let cert = params.self_signed(&key)?;

        let tmp = temp_sibling(&self.dir.join("ca"));
        private_dir(&tmp)?;
        let written = write_new(&tmp.join("ca.pem"), cert.pem().as_bytes(), 0o644).and_then(|()| {
            write_new(
                &tmp.join("ca.key.pem"),
                key.serialize_pem().as_bytes(),
                0o600,
            )
        });
        if let Err(e) = written {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        if let Err(e) = fs::rename(&tmp, self.dir.join("ca")) {
            let _ = fs::remove_dir_all(&tmp);
            // Someone else created it first (ENOTEMPTY/EEXIST): theirs is the CA.
            if !self.ca_cert_path().exists() {
                return Err(TlsError::io("create", self.dir.join("ca"), e));
            }
        }
        self.ca_info()?.ok_or_else(|| TlsError::CaMissing {
            path: self.ca_cert_path(),
        })
    }

    /// The local CA, if it exists.
    pub fn ca_info(&self) -> Result<Option<CaInfo>, TlsError> {
        let path = self.ca_cert_path();
        let Some(pem) = read_optional(&path)? else {
            return Ok(None);
        };
        let ca = parse_chain(&path, &pem)?.swap_remove(0);
        Ok(Some(CaInfo {
            path,
            subject: ca.subject,
            not_before: ca.not_before,
            not_after: ca.not_after,
            fingerprint: ca.fingerprint,
        }))
    }

    /// Signs a certificate for `host` with the local CA: ECDSA P-256, SAN = host, 90 days,
    /// server authentication only. Installed only once complete.
    pub fn issue_local(&self, host: &str, now: OffsetDateTime) -> Result<CertInfo, TlsError> {
        validate_host(host)?;
        let ca_path = self.ca_cert_path();
        let Some(ca_pem) = read_optional(&ca_path)? else {
            return Err(TlsError::CaMissing { path: ca_path });
        };
        let ca_pem = String::from_utf8(ca_pem)
            .map_err(|_| TlsError::invalid(&ca_path, "is not a text PEM file"))?;
        let key_path = self.ca_key_path();
        check_private(&key_path)?;
        let ca_key = parse_key(&key_path, &read(&key_path)?)?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, &ca_key).map_err(|e| {
            TlsError::invalid(&ca_path, format!("not a usable CA certificate ({e})"))
        })?;

        let mut params = CertificateParams::new(vec![host.to_string()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = now - BACKDATE;
        params.not_after = now + LOCAL_LIFETIME;
        params.serial_number = Some(random_serial());
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, &issuer)?;
        self.install(
            host,
            cert.pem().as_bytes(),
            key.serialize_pem().as_bytes(),
            CertSource::Local,
            now,
        )
    }

    /// Installs a certificate given by the operator (mode `provided`) for each of `hosts`,
    /// after checking that the key belongs to it, that it covers every host and that it is
    /// valid now. Nothing is installed unless all checks pass. The files are copied in, so the
    /// operator's originals can move.
    pub fn install_provided<S: AsRef<str>>(
        &self,
        hosts: &[S],
        cert_pem_path: &Path,
        key_pem_path: &Path,
        now: OffsetDateTime,
    ) -> Result<Vec<CertInfo>, TlsError> {
        let cert_pem = read(cert_pem_path)?;
        let key_pem = read(key_pem_path)?;
        for host in hosts {
            validate_host(host.as_ref())?;
            check(
                host.as_ref(),
                &cert_pem,
                &key_pem,
                cert_pem_path,
                key_pem_path,
                now,
            )?;
        }
        hosts
            .iter()
            .map(|host| {
                self.install(
                    host.as_ref(),
                    &cert_pem,
                    &key_pem,
                    CertSource::Provided,
                    now,
                )
            })
            .collect()
    }

    /// Validates the pair and then publishes it as the certificate of `host`: written to a
    /// fresh version directory, then the `live/<host>` symlink is replaced by a rename.
    pub(crate) fn install(
        &self,
        host: &str,
        fullchain_pem: &[u8],
        key_pem: &[u8],
        source: CertSource,
        now: OffsetDateTime,
    ) -> Result<CertInfo, TlsError> {
        validate_host(host)?;
        let leaf = check(
            host,
            fullchain_pem,
            key_pem,
            Path::new("(new certificate)"),
            Path::new("(new key)"),
            now,
        )?;
        let archive = self.dir.join("archive").join(host);
        private_dir(&archive)?;
        let version = format!(
            "{:012}-{:08x}",
            now.unix_timestamp().max(0),
            rand::random::<u32>()
        );
        let vdir = archive.join(&version);
        private_dir(&vdir)?;
        let written = write_new(&vdir.join(FULLCHAIN), fullchain_pem, 0o644)
            .and_then(|()| write_new(&vdir.join(KEY), key_pem, 0o600))
            .and_then(|()| write_new(&vdir.join(SOURCE), source.as_str().as_bytes(), 0o644));
        if let Err(e) = written {
            let _ = fs::remove_dir_all(&vdir);
            return Err(e);
        }
        let link = self.dir.join("live").join(host);
        let target = Path::new("..").join("archive").join(host).join(&version);
        if let Err(e) = replace_symlink(&target, &link) {
            let _ = fs::remove_dir_all(&vdir);
            return Err(e);
        }
        self.prune(host, &version);
        Ok(info(host, &leaf, source))
    }

    /// Removes versions older than the served one and the [`KEEP_PREVIOUS`] before it.
    /// Best effort: a leftover directory costs only disk space.
    fn prune(&self, host: &str, served: &str) {
        let archive = self.dir.join("archive").join(host);
        let Ok(entries) = fs::read_dir(&archive) else {
            return;
        };
        let mut versions: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.') && n.as_str() < served)
            .collect();
        versions.sort();
        let drop = versions.len().saturating_sub(KEEP_PREVIOUS);
        for old in &versions[..drop] {
            if let Err(e) = fs::remove_dir_all(archive.join(old)) {
                tracing::warn!(
                    "could not remove old certificate {}/{old}: {e}",
                    archive.display()
                );
            }
        }
    }

    /// The certificate served for `host`, if any.
    pub fn current(&self, host: &str) -> Result<Option<CertInfo>, TlsError> {
        validate_host(host)?;
        let paths = self.paths(host);
        let Some(pem) = read_optional(&paths.fullchain)? else {
            return Ok(None);
        };
        let leaf = parse_chain(&paths.fullchain, &pem)?.swap_remove(0);
        let source_path = paths.fullchain.with_file_name(SOURCE);
        let source = read_optional(&source_path)?
            .and_then(|s| CertSource::parse(&String::from_utf8_lossy(&s)))
            .ok_or_else(|| TlsError::invalid(&source_path, "missing or unknown source"))?;
        Ok(Some(info(host, &leaf, source)))
    }

    /// Every served certificate, by host name.
    pub fn list(&self) -> Result<Vec<CertInfo>, TlsError> {
        let live = self.dir.join("live");
        let entries = fs::read_dir(&live).map_err(|e| TlsError::io("list", &live, e))?;
        let mut hosts: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| validate_host(n).is_ok())
            .collect();
        hosts.sort();
        let mut out = Vec::new();
        for host in hosts {
            if let Some(info) = self.current(&host)? {
                out.push(info);
            }
        }
        Ok(out)
    }
}

/// Everything a certificate must satisfy before it is served for `host`.
fn check(
    host: &str,
    fullchain_pem: &[u8],
    key_pem: &[u8],
    cert_path: &Path,
    key_path: &Path,
    now: OffsetDateTime,
) -> Result<Parsed, TlsError> {
    let chain = parse_chain(cert_path, fullchain_pem)?;
    let key = parse_key(key_path, key_pem)?;
    let leaf = leaf_of(&chain, &key, cert_path, key_path)?;
    if !parse::names_cover(&leaf.names, host) {
        return Err(TlsError::NotCovered {
            path: cert_path.to_path_buf(),
            host: host.to_string(),
            names: if leaf.names.is_empty() {
                "no DNS name".to_string()
            } else {
                leaf.names.join(", ")
            },
        });
    }
    if now >= leaf.not_after {
        return Err(TlsError::Expired {
            path: cert_path.to_path_buf(),
            not_after: rfc3339(leaf.not_after),
        });
    }
    if leaf.not_before > now + CLOCK_SKEW {
        return Err(TlsError::NotYetValid {
            path: cert_path.to_path_buf(),
            not_before: rfc3339(leaf.not_before),
        });
    }
    Ok(leaf.clone())
}

fn info(host: &str, leaf: &Parsed, source: CertSource) -> CertInfo {
    CertInfo {
        host: host.to_string(),
        names: leaf.names.clone(),
        issuer: leaf.issuer.clone(),
        not_before: leaf.not_before,
        not_after: leaf.not_after,
        fingerprint: leaf.fingerprint.clone(),
        serial: leaf.serial.clone(),
        source,
    }
}

/// 16 random bytes, positive (RFC 5280 wants a positive serial of at most 20 octets).
fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}
