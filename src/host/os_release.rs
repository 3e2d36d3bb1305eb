//! `/etc/os-release`: which distribution the host runs.

use std::fs;

/// The fields of `/etc/os-release` we use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// `debian`, `ubuntu`, `fedora`…
    pub id: String,
    /// Distributions this one derives from (`ID_LIKE`), e.g. `["debian"]` for Raspbian.
    pub id_like: Vec<String>,
    /// `12`, `24.04`… (empty for testing/unstable).
    pub version_id: String,
    /// Human name, e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub pretty_name: String,
}

impl OsRelease {
    /// Reads `/etc/os-release`, falling back to `/usr/lib/os-release`; `None` when neither is
    /// readable.
    pub fn read() -> Option<OsRelease> {
        ["/etc/os-release", "/usr/lib/os-release"]
            .iter()
            .find_map(|p| fs::read_to_string(p).ok())
            .map(|text| OsRelease::parse(&text))
    }

    /// Parses the `KEY=value` lines of an os-release file (values may be quoted).
    pub fn parse(text: &str) -> OsRelease {
        let mut os = OsRelease::default();
        for line in text.lines() {
            let Some((key, value)) = line.trim().split_once('=') else {
                continue;
            };
            let value = unquote(value.trim());
            match key.trim() {
                "ID" => os.id = value.to_ascii_lowercase(),
                "ID_LIKE" => {
                    os.id_like = value
                        .split_whitespace()
                        .map(str::to_ascii_lowercase)
                        .collect()
                }
                "VERSION_ID" => os.version_id = value,
                "PRETTY_NAME" => os.pretty_name = value,
                _ => {}
            }
        }
        if os.pretty_name.is_empty() {
            os.pretty_name = if os.id.is_empty() {
                "an unknown Linux distribution".to_owned()
            } else {
                os.id.clone()
            };
        }
        os
    }

    /// Debian or Ubuntu themselves: what we support and where `apt-get install docker.io` works.
    pub fn is_debian_or_ubuntu(&self) -> bool {
        matches!(self.id.as_str(), "debian" | "ubuntu")
    }

    /// A derivative of Debian or Ubuntu (Raspbian, Mint…): likely to work, not tested.
    pub fn is_debian_derivative(&self) -> bool {
        !self.is_debian_or_ubuntu()
            && self
                .id_like
                .iter()
                .any(|l| matches!(l.as_str(), "debian" | "ubuntu"))
    }
}

fn unquote(value: &str) -> String {
    let inner = ['"', '\'']
        .iter()
        .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
        .unwrap_or(value);
    inner.replace("\\\"", "\"").replace("\\\\", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debian() {
        let os = OsRelease::parse(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
             VERSION_ID=\"12\"\nID=debian\n",
        );
        assert_eq!(os.id, "debian");
        assert_eq!(os.version_id, "12");
        assert_eq!(os.pretty_name, "Debian GNU/Linux 12 (bookworm)");
        assert!(os.is_debian_or_ubuntu());
        assert!(!os.is_debian_derivative());
    }

    #[test]
    fn parses_derivative_and_single_quotes() {
        let os = OsRelease::parse("ID=linuxmint\nID_LIKE='ubuntu debian'\n# comment\n\nbroken\n");
        assert_eq!(os.id_like, vec!["ubuntu", "debian"]);
        assert!(!os.is_debian_or_ubuntu());
        assert!(os.is_debian_derivative());
        assert_eq!(os.pretty_name, "linuxmint");
    }

    #[test]
    fn empty_file() {
        let os = OsRelease::parse("");
        assert!(!os.is_debian_or_ubuntu());
        assert!(!os.is_debian_derivative());
        assert_eq!(os.pretty_name, "an unknown Linux distribution");
    }
}
