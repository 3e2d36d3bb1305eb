//! Human units in YAML: durations (`30s`, `2m`, `1h30m`) and sizes (`512M`, `2G`).
//!
//! Parse errors read `<what is wrong> — <what to do>`; the loader splits them at ` — ` into a
//! diagnostic's message and hint.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A duration in seconds, written `90`, `30s`, `2m`, `1h30m` or `500ms`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Seconds(pub f64);

/// A size in bytes, written `1048576`, `512k`, `512M`, `2G` (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl Seconds {
    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.0)
    }
    pub fn as_nanos(self) -> i64 {
        (self.0 * 1e9) as i64
    }
}

pub fn parse_seconds(s: &str) -> Result<Seconds, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("the duration is empty — write e.g. 30s, 2m or 1h30m".into());
    }
    if let Ok(n) = s.parse::<f64>() {
        return if n.is_finite() && n >= 0.0 {
            Ok(Seconds(n))
        } else {
            Err(format!(
                "`{s}` is not a duration — write e.g. 30s, 2m or 1h30m"
            ))
        };
    }
    let mut total = 0.0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = String::from(c);
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let value: f64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a duration — write e.g. 30s, 2m or 1h30m"))?;
        num.clear();
        total += value
            * match unit.as_str() {
                "ms" => 0.001,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                "d" => 86400.0,
                _ => {
                    return Err(format!(
                        "`{s}` has an unknown unit `{unit}` — use ms, s, m, h or d, e.g. 1h30m"
                    ))
                }
            };
    }
    if !num.is_empty() {
        return Err(format!(
            "`{s}` ends with a number without unit — write e.g. 1m30s"
        ));
    }
    Ok(Seconds(total))
}

pub fn parse_bytes(s: &str) -> Result<ByteSize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size — write e.g. 512M or 2G"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "ki" | "kib" => 1 << 10,
        "m" | "mb" | "mi" | "mib" => 1 << 20,
        "g" | "gb" | "gi" | "gib" => 1 << 30,
        "t" | "tb" | "ti" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "`{s}` has an unknown unit `{other}` — use k, M, G or T, e.g. 512M"
            ))
        }
    };
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{s}` is not a size — write e.g. 512M or 2G"));
    }
    Ok(ByteSize((value * mult as f64) as u64))
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 4] = [
            ("T", 1 << 40),
            ("G", 1 << 30),
            ("M", 1 << 20),
            ("k", 1 << 10),
        ];
        for (u, m) in UNITS {
            if self.0 >= m && self.0.is_multiple_of(m) {
                return write!(f, "{}{}", self.0 / m, u);
            }
        }
        write!(f, "{}", self.0)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    N(f64),
    S(String),
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrStr::deserialize(d)? {
            NumOrStr::N(n) => parse_seconds(&n.to_string()).map_err(serde::de::Error::custom),
            NumOrStr::S(s) => parse_seconds(&s).map_err(serde::de::Error::custom),
        }
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrStr::deserialize(d)? {
            NumOrStr::N(n) => parse_bytes(&n.to_string()).map_err(serde::de::Error::custom),
            NumOrStr::S(s) => parse_bytes(&s).map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> f64 {
        match parse_seconds(s) {
            Ok(v) => v.0,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn bytes(s: &str) -> u64 {
        match parse_bytes(s) {
            Ok(v) => v.0,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn durations() {
        assert_eq!(secs("90"), 90.0);
        assert_eq!(secs("1.5"), 1.5);
        assert_eq!(secs("30s"), 30.0);
        assert_eq!(secs("2m"), 120.0);
        assert_eq!(secs("1h30m"), 5400.0);
        assert_eq!(secs("1h 30m"), 5400.0);
        assert_eq!(secs("500ms"), 0.5);
        assert_eq!(secs("1d"), 86400.0);
        assert_eq!(secs(" 10s "), 10.0);
        assert_eq!(secs("0"), 0.0);
    }

    #[test]
    fn bad_durations_say_what_to_write() {
        for bad in ["", "s", "10x", "1h30", "-5s", "1.2.3s", "NaN", "inf", "-1"] {
            let e = parse_seconds(bad).expect_err(bad);
            assert!(e.contains(" — "), "{bad}: {e}");
        }
        assert!(parse_seconds("10x")
            .expect_err("10x")
            .contains("unknown unit `x`"));
        assert!(parse_seconds("1h30")
            .expect_err("1h30")
            .contains("without unit"));
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes("1048576"), 1 << 20);
        assert_eq!(bytes("512k"), 512 << 10);
        assert_eq!(bytes("512M"), 512 << 20);
        assert_eq!(bytes("512MiB"), 512 << 20);
        assert_eq!(bytes("2G"), 2 << 30);
        assert_eq!(bytes("2 g"), 2 << 30);
        assert_eq!(bytes("1.5G"), 3 << 29);
        assert_eq!(bytes("1T"), 1 << 40);
        assert_eq!(bytes("10b"), 10);
    }

    #[test]
    fn bad_sizes_say_what_to_write() {
        for bad in ["", "M", "12Q", "-1M", "1e3", "many"] {
            let e = parse_bytes(bad).expect_err(bad);
            assert!(e.contains(" — "), "{bad}: {e}");
        }
        assert!(parse_bytes("12Q")
            .expect_err("12Q")
            .contains("unknown unit `q`"));
    }

    #[test]
    fn display_round_trips() {
        for s in ["30s", "1.5s", "0s"] {
            assert_eq!(parse_seconds(s).map(|v| v.to_string()).as_deref(), Ok(s));
        }
        for s in ["512M", "2G", "1T", "3k", "1000"] {
            assert_eq!(parse_bytes(s).map(|v| v.to_string()).as_deref(), Ok(s));
        }
        assert_eq!(
            Seconds(1.5).as_duration(),
            std::time::Duration::from_millis(1500)
        );
        assert_eq!(Seconds(2.0).as_nanos(), 2_000_000_000);
    }

    #[test]
    fn yaml_accepts_numbers_and_strings() {
        #[derive(Deserialize)]
        struct T {
            a: Seconds,
            b: Seconds,
            c: ByteSize,
            d: ByteSize,
        }
        let t: T = serde_saphyr::from_str("a: 30\nb: 1m\nc: 4096\nd: 4M\n").expect("parses");
        assert_eq!((t.a.0, t.b.0, t.c.0, t.d.0), (30.0, 60.0, 4096, 4 << 20));
        let e = serde_saphyr::from_str::<T>("a: soon\nb: 1m\nc: 1\nd: 1\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("`soon` is not a duration"), "{e}");
    }
}
