//! Human units in YAML: durations (`30s`, `2m`, `1h30m`) and sizes (`512M`, `2G`).

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
        return Err("empty duration".into());
    }
    if let Ok(n) = s.parse::<f64>() {
        return if n.is_finite() && n >= 0.0 {
            Ok(Seconds(n))
        } else {
            Err(format!("`{s}` is not a duration"))
        };
    }
    let mut total = 0.0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
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
            .map_err(|_| format!("`{s}` is not a duration: write e.g. 30s, 2m or 1h30m"))?;
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
                        "`{s}`: unknown unit `{unit}`; use ms, s, m, h or d"
                    ))
                }
            };
    }
    if !num.is_empty() {
        return Err(format!("`{s}`: a number without unit at the end; write e.g. 30s"));
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
        .map_err(|_| format!("`{s}` is not a size: write e.g. 512M or 2G"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "ki" | "kib" => 1 << 10,
        "m" | "mb" | "mi" | "mib" => 1 << 20,
        "g" | "gb" | "gi" | "gib" => 1 << 30,
        "t" | "tb" | "ti" | "tib" => 1 << 40,
        other => return Err(format!("`{s}`: unknown unit `{other}`; use k, M, G or T")),
    };
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{s}` is not a size"));
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
        const UNITS: [(&str, u64); 4] = [("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("k", 1 << 10)];
        for (u, m) in UNITS {
            if self.0 >= m && self.0 % m == 0 {
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
