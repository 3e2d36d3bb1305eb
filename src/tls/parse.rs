//! Reading certificates and keys (PEM), host names, fingerprints. Pure functions over bytes.

use super::TlsError;
use rcgen::KeyPair;
use sha2::{Digest, Sha256};
use std::path::Path;
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

/// Checks that `host` is a DNS host name we can put in a certificate and use as a file name:
/// lowercase ASCII labels of letters, digits and inner hyphens, 1 to 63 characters each,
/// 253 at most in all, no trailing dot, no wildcard.
pub fn validate_host(host: &str) -> Result<(), TlsError> {
    let bad = |reason: &str| TlsError::InvalidHost {
        host: host.to_string(),
        reason: reason.to_string(),
    };
    if host.is_empty() {
        return Err(bad("it is empty"));
    }
    if host.len() > 253 {
        return Err(bad("it is longer than 253 characters"));
    }
    if host.starts_with("*.") {
        return Err(bad(
            "wildcards are not host names; list each host (wildcard certificates need DNS-01)",
        ));
    }
    if host.ends_with('.') {
        return Err(bad("remove the trailing dot"));
    }
    for label in host.split('.') {
        if label.is_empty() {
            return Err(bad("it has an empty label (two dots in a row?)"));
        }
        if label.len() > 63 {
            return Err(bad("a label is longer than 63 characters"));
        }
        if label.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad("write it in lowercase"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad(
                "only letters a-z, digits and hyphens are allowed (write IDNs in their xn-- form)",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("a label starts or ends with a hyphen"));
        }
    }
    Ok(())
}

/// Whether a certificate naming `names` is valid for `host`: an exact name, or `*.rest` where
/// `host` is one label followed by `.rest` (RFC 6125: the wildcard covers exactly one label).
pub(crate) fn names_cover(names: &[String], host: &str) -> bool {
    names.iter().any(|name| {
        let name = name.to_ascii_lowercase();
        if name == host {
            return true;
        }
        match (name.strip_prefix("*."), host.split_once('.')) {
            (Some(rest), Some((first, host_rest))) => !first.is_empty() && rest == host_rest,
            _ => false,
        }
    })
}

/// SHA-256 of `der` as uppercase hex pairs joined by colons, the form browsers show.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex = hex::encode_upper(digest);
    hex.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// What we need to know about one certificate.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub names: Vec<String>,
    pub subject: String,
    pub issuer: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub fingerprint: String,
    pub serial: String,
    /// The subject public key's bits (what `KeyPair::public_key_raw` gives for its key).
    pub public_key: Vec<u8>,
}

/// The PEM blocks of `bytes`, as (label, DER).
fn pem_blocks(path: &Path, bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, TlsError> {
    let mut out = Vec::new();
    for block in Pem::iter_from_buffer(bytes) {
        match block {
            Ok(Pem {
                label, contents, ..
            }) => out.push((label, contents)),
            Err(e) => {
                return Err(TlsError::invalid(
                    path,
                    format!("not a readable PEM file ({e})"),
                ))
            }
        }
    }
    Ok(out)
}

pub(crate) fn parse_der(path: &Path, der: &[u8]) -> Result<Parsed, TlsError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| TlsError::invalid(path, format!("not a valid X.509 certificate ({e})")))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(n) = name {
                names.push(n.to_ascii_lowercase());
            }
        }
    }
    Ok(Parsed {
        names,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        fingerprint: fingerprint(der),
        serial: cert.raw_serial_as_string(),
        public_key: cert.public_key().subject_public_key.data.to_vec(),
    })
}

/// Every certificate of a PEM file, in order (leaf first in a full chain). Other blocks
/// (a private key in the same file) are ignored.
pub(crate) fn parse_chain(path: &Path, bytes: &[u8]) -> Result<Vec<Parsed>, TlsError> {
    let certs = pem_blocks(path, bytes)?
        .into_iter()
        .filter(|(label, _)| label == "CERTIFICATE")
        .map(|(_, der)| parse_der(path, &der))
        .collect::<Result<Vec<_>, _>>()?;
    if certs.is_empty() {
        return Err(TlsError::invalid(
            path,
            "holds no certificate (expected -----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certs)
}

/// Reads a private key in PEM: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1
/// (`EC PRIVATE KEY`). Encrypted keys are refused: nginx would need a passphrase at each start.
pub(crate) fn parse_key(path: &Path, bytes: &[u8]) -> Result<KeyPair, TlsError> {
    let blocks = pem_blocks(path, bytes)?;
    let found = blocks
        .iter()
        .find(|(label, _)| label.ends_with("PRIVATE KEY"))
        .ok_or_else(|| {
            TlsError::invalid(
                path,
                "holds no private key (expected -----BEGIN PRIVATE KEY-----)",
            )
        })?;
    let pkcs8 = match found.0.as_str() {
        "PRIVATE KEY" => found.1.clone(),
        "RSA PRIVATE KEY" => pkcs1_to_pkcs8(&found.1),
        "EC PRIVATE KEY" => sec1_to_pkcs8(&found.1).ok_or_else(|| {
            TlsError::invalid(path, "the EC private key names no curve; convert it with `openssl pkcs8 -topk8 -nocrypt`")
        })?,
        "ENCRYPTED PRIVATE KEY" => {
            return Err(TlsError::invalid(
                path,
                "the private key is encrypted; decrypt it with `openssl pkey -in KEY -out KEY.plain`",
            ))
        }
        other => {
            return Err(TlsError::invalid(
                path,
                format!("unsupported key type `{other}`"),
            ))
        }
    };
    KeyPair::try_from(pkcs8.as_slice()).map_err(|e| {
        TlsError::invalid(
            path,
            format!("unsupported or damaged private key ({e}); use an RSA (2048-8192 bits), ECDSA P-256/P-384 or Ed25519 key"),
        )
    })
}

/// DER tag-length-value encoding.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// Reads one DER element: (tag, content, rest).
fn der_next(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

fn private_key_info(algorithm: Vec<u8>, key: &[u8]) -> Vec<u8> {
    let mut body = der(0x02, &[0]);
    body.extend(der(0x30, &algorithm));
    body.extend(der(0x04, key));
    der(0x30, &body)
}

/// Wraps an RSAPrivateKey (PKCS#1) into a PrivateKeyInfo (PKCS#8).
fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    let mut alg = der(0x06, OID_RSA_ENCRYPTION);
    alg.extend(der(0x05, &[]));
    private_key_info(alg, pkcs1)
}

/// Wraps an ECPrivateKey (SEC1) into a PrivateKeyInfo (PKCS#8), taking the curve from its
/// `parameters` field.
fn sec1_to_pkcs8(sec1: &[u8]) -> Option<Vec<u8>> {
    let (tag, body, _) = der_next(sec1)?;
    if tag != 0x30 {
        return None;
    }
    let mut rest = body;
    while !rest.is_empty() {
        let (tag, content, next) = der_next(rest)?;
        if tag == 0xa0 {
            let (oid_tag, curve, _) = der_next(content)?;
            if oid_tag != 0x06 {
                return None;
            }
            let mut alg = der(0x06, OID_EC_PUBLIC_KEY);
            alg.extend(der(0x06, curve));
            return Some(private_key_info(alg, sec1));
        }
        rest = next;
    }
    None
}

/// Whether `key` is the private half of the certificate's public key.
pub(crate) fn key_matches(cert: &Parsed, key: &KeyPair) -> bool {
    cert.public_key == key.public_key_raw()
}

/// The first certificate of `chain` whose key is `key`, if it is the first one (a full chain
/// lists the leaf first).
pub(crate) fn leaf_of<'a>(
    chain: &'a [Parsed],
    key: &KeyPair,
    cert_path: &Path,
    key_path: &Path,
) -> Result<&'a Parsed, TlsError> {
    match chain.first() {
        Some(leaf) if key_matches(leaf, key) => Ok(leaf),
        _ if chain.iter().any(|c| key_matches(c, key)) => Err(TlsError::invalid(
            cert_path,
            "the certificate for this key is not the first one; list the server certificate \
             first, then its intermediates",
        )),
        _ => Err(TlsError::KeyMismatch {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_colon_separated_uppercase_sha256() {
        // SHA-256("abc")
        assert_eq!(
            fingerprint(b"abc"),
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
        assert_eq!(fingerprint(b"").len(), 32 * 3 - 1);
    }

    #[test]
    fn host_names() {
        for ok in [
            "cloud.example.coop",
            "a",
            "x-1.b2.test",
            "xn--bcher-kva.example",
        ] {
            validate_host(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let long_label = format!("{}.coop", "a".repeat(64));
        let long_name = format!("{}a", "abcdefghi.".repeat(26));
        for bad in [
            "",
            "Cloud.example",
            "*.example.coop",
            "a..b",
            "a.b.",
            "-a.b",
            "a-.b",
            "a_b.c",
            "../etc",
            "a/b",
            "a b",
            "é.coop",
            long_label.as_str(),
            long_name.as_str(),
        ] {
            assert!(validate_host(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn wildcards_cover_one_label() {
        let names = vec!["*.example.coop".to_string(), "example.coop".to_string()];
        assert!(names_cover(&names, "cloud.example.coop"));
        assert!(names_cover(&names, "example.coop"));
        assert!(!names_cover(&names, "a.cloud.example.coop"));
        assert!(!names_cover(&names, "other.coop"));
        assert!(!names_cover(
            &["cloud.example.coop".into()],
            "agora.example.coop"
        ));
    }

    #[test]
    fn der_lengths() {
        assert_eq!(der(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        let long = vec![0u8; 300];
        let enc = der(0x04, &long);
        assert_eq!(&enc[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let (tag, content, rest) = der_next(&enc).expect("parses");
        assert_eq!((tag, content.len(), rest.len()), (0x04, 300, 0));
        assert!(der_next(&[0x04, 0x05, 1]).is_none());
    }
}
