//! Text → typed values: YAML syntax, types, unknown and missing fields, each turned into a
//! diagnostic with position, field path and what to do.
//!
//! serde stops at the first such error, so a file that does not parse reports one problem;
//! semantic checks (in `validate_*`) then collect every problem of a file that does.

use super::diag::{Diagnostic, Diagnostics};
use super::node::NodeConfig;
use super::recipe::Recipe;
use super::report::diagnostic;
use super::source::{join_key, parent, Kind, Pos, SourceMap, Target};
use serde::de::DeserializeOwned;
use serde_saphyr::Error as YamlError;
use std::path::Path;

/// Which of our two files is being read, for the hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Doc {
    Node,
    Recipe,
}

impl Doc {
    fn docs(self) -> &'static str {
        match self {
            Doc::Node => "docs/node.md",
            Doc::Recipe => "docs/recipes.md",
        }
    }
}

/// Parses `node.yaml` text: syntax, types and unknown fields. `file` only names the file in
/// diagnostics.
pub fn parse_node(text: &str, file: &Path) -> Result<NodeConfig, Diagnostics> {
    parse_with_map(text, file, Doc::Node).map(|(node, _)| node)
}

/// Parses `recipe.yaml` text: syntax, types and unknown fields. `file` only names the file in
/// diagnostics.
pub fn parse_recipe(text: &str, file: &Path) -> Result<Recipe, Diagnostics> {
    parse_with_map(text, file, Doc::Recipe).map(|(recipe, _)| recipe)
}

/// Parses and keeps the source map, so semantic checks can place their findings.
pub(crate) fn parse_with_map<T: DeserializeOwned>(
    text: &str,
    file: &Path,
    doc: Doc,
) -> Result<(T, SourceMap), Diagnostics> {
    let map = SourceMap::parse(text);
    match serde_saphyr::from_str::<T>(text) {
        Ok(value) => Ok((value, map)),
        Err(err) => Err(from_yaml_error(&err, &map, file, doc).into()),
    }
}

fn from_yaml_error(err: &YamlError, map: &SourceMap, file: &Path, doc: Doc) -> Diagnostic {
    let mut pos = err.location().map(|l| Pos {
        line: l.line() as usize,
        column: l.column() as usize,
    });
    let inner = innermost(err);
    let value_path = || {
        pos.and_then(|p| map.value_at(p).or_else(|| map.last_before(p)))
            .map(|e| e.path.clone())
            .unwrap_or_default()
    };
    let found = || {
        pos.and_then(|p| map.value_at(p))
            .map(|e| match (&e.kind, &e.text) {
                (Kind::Scalar, Some(t)) if t.is_empty() => "nothing".to_string(),
                (Kind::Scalar, Some(t)) => format!("`{t}`"),
                (kind, _) => kind.describe().to_string(),
            })
    };
    let (path, message, hint) = match inner {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => {
            let path = pos
                .and_then(|p| map.key_at(p))
                .map(|e| e.path.clone())
                .unwrap_or_else(|| field.clone());
            let hint = match suggest(field, expected) {
                _ if expected.is_empty() => "remove it".to_string(),
                Some(close) => format!(
                    "did you mean `{close}`? allowed here: {}",
                    expected.join(", ")
                ),
                None => format!("remove it; allowed here: {}", expected.join(", ")),
            };
            (path, format!("unknown field `{field}`"), hint)
        }
        YamlError::SerdeMissingField { field, .. } => {
            // serde-saphyr points at the mapping's last key; we point at the mapping itself.
            let parent = pos
                .and_then(|p| {
                    map.key_at(p)
                        .map(|e| parent(&e.path).to_string())
                        .or_else(|| {
                            map.mapping_at(p)
                                .or_else(|| map.value_at(p))
                                .map(|e| e.path.clone())
                        })
                })
                .unwrap_or_default();
            pos = map.locate(&parent, Target::Value).or(pos);
            (
                join_key(&parent, field),
                format!("missing field `{field}`"),
                format!("add `{field}:` (see {})", doc.docs()),
            )
        }
        YamlError::SerdeUnknownVariant {
            variant, expected, ..
        } => (
            value_path(),
            format!("unknown value `{variant}`"),
            format!("use one of: {}", expected.join(", ")),
        ),
        YamlError::InvalidScalar { ty, .. } => {
            let wanted = describe_type(ty);
            let message = match found() {
                Some(f) => format!("{f} is not {wanted}"),
                None => format!("expected {wanted}"),
            };
            (value_path(), message, format!("write {wanted}"))
        }
        YamlError::SerdeInvalidType {
            unexpected,
            expected,
            ..
        }
        | YamlError::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => (
            value_path(),
            format!("expected {expected}, found {unexpected}"),
            format!("write {expected} here (see {})", doc.docs()),
        ),
        YamlError::Unexpected { expected, .. } => {
            let expected = describe_expected(expected);
            let message = match found() {
                Some(f) => format!("expected {expected}, found {f}"),
                None => format!("expected {expected}"),
            };
            (
                value_path(),
                message,
                format!("write {expected} here (see {})", doc.docs()),
            )
        }
        YamlError::NullIntoString { .. } => (
            value_path(),
            "expected a value, found nothing".into(),
            "write a value, or remove the field".into(),
        ),
        YamlError::DuplicateMappingKey { key, .. } => {
            let path = pos
                .and_then(|p| map.key_at(p))
                .map(|e| e.path.clone())
                .unwrap_or_default();
            let name = key.clone().unwrap_or_else(|| "this key".into());
            (
                path,
                format!("`{name}` is given twice in the same mapping"),
                "keep only one of them".into(),
            )
        }
        YamlError::Eof { .. } if map.get("").is_none() => (
            String::new(),
            "the file is empty".into(),
            format!("write the fields described in {}", doc.docs()),
        ),
        YamlError::MultipleDocuments { .. } => (
            String::new(),
            "the file holds more than one YAML document".into(),
            "keep a single document: remove the `---` separators".into(),
        ),
        YamlError::Message { msg, .. } => {
            let (message, hint) = match msg.split_once(" — ") {
                Some((m, h)) => (m.to_string(), h.to_string()),
                None => (msg.clone(), format!("see {}", doc.docs())),
            };
            (value_path(), message, hint)
        }
        other => {
            // Syntax errors and the rarer cases: the parser's own words, without its position.
            let text = other.to_string();
            let message = match text.rfind(" at line ") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            let path = pos
                .and_then(|p| map.last_before(p))
                .map(|e| e.path.clone())
                .unwrap_or_default();
            (
                path,
                message,
                "fix the YAML here: check indentation, quotes, brackets and `key: value` pairs"
                    .into(),
            )
        }
    };
    // serde-saphyr points a missing field of the root mapping at 1:1 even in an empty mapping;
    // a position is still better than none.
    diagnostic(file, pos, &path, message, hint)
}

/// Unwraps snippet and alias wrappers down to the error that says what went wrong.
fn innermost(err: &YamlError) -> &YamlError {
    match err.without_snippet() {
        YamlError::AliasError { error, .. } => innermost(error),
        other => other,
    }
}

fn describe_type(ty: &str) -> String {
    match ty {
        "bool" | "boolean" => "`true` or `false`".into(),
        "u8" | "u16" | "u32" | "u64" | "usize" => {
            let max = match ty {
                "u8" => u8::MAX as u64,
                "u16" => u16::MAX as u64,
                "u32" => u32::MAX as u64,
                _ => u64::MAX,
            };
            format!("a whole number from 0 to {max}")
        }
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "char" => "a single character".into(),
        other => format!("a {other}"),
    }
}

fn describe_expected(expected: &str) -> String {
    match expected {
        "string scalar" => "a single value".into(),
        "sequence start" => "a list".into(),
        "mapping start" => "a mapping".into(),
        other => other.into(),
    }
}

/// The allowed name closest to a misspelt one, if it is close enough to be a likely typo.
fn suggest(field: &str, allowed: &[&'static str]) -> Option<&'static str> {
    allowed
        .iter()
        .map(|a| (distance(field, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// Levenshtein distance, for short field names.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_err(text: &str) -> Diagnostic {
        match parse_node(text, Path::new("node.yaml")) {
            Ok(n) => panic!("parsed: {n:?}"),
            Err(ds) => {
                let [d]: [Diagnostic; 1] = ds.0.try_into().expect("exactly one diagnostic");
                d
            }
        }
    }

    fn at(d: &Diagnostic) -> (Option<usize>, Option<usize>, &str) {
        (d.line, d.column, d.path.as_str())
    }

    #[test]
    fn unknown_field_names_the_allowed_ones_and_a_likely_typo() {
        let d = node_err("domain: a.coop\ncolectives: []\n");
        assert_eq!(at(&d), (Some(2), Some(1), "colectives"));
        assert_eq!(d.message, "unknown field `colectives`");
        assert!(
            d.hint.starts_with("did you mean `collectives`?"),
            "{}",
            d.hint
        );
        assert!(d.hint.contains("domain, operator, tls"), "{}", d.hint);
    }

    #[test]
    fn missing_field_points_at_its_mapping() {
        let d = node_err("domain: a.coop\napps:\n  - host: cloud\n");
        assert_eq!(at(&d), (Some(3), Some(5), "apps[0].recipe"));
        assert_eq!(d.message, "missing field `recipe`");
    }

    #[test]
    fn wrong_types_say_what_was_expected_and_found() {
        let d = node_err("domain: a.coop\nsmtp: {host: m, from: a@b.c, port: many}\n");
        assert_eq!(at(&d), (Some(2), Some(36), "smtp.port"));
        assert_eq!(d.message, "`many` is not a whole number from 0 to 65535");
        let d = node_err("domain: [a, b]\n");
        assert_eq!(at(&d), (Some(1), Some(9), "domain"));
        assert_eq!(d.message, "expected a single value, found a list");
        let d = node_err("domain: a.coop\ntls: {mode: letsencrypt}\n");
        assert_eq!(at(&d), (Some(2), Some(13), "tls.mode"));
        assert!(d.hint.contains("acme, self-signed, provided"), "{}", d.hint);
    }

    #[test]
    fn syntax_errors_and_empty_files() {
        let d = node_err("domain: a.coop\napps: [\n");
        assert_eq!(d.line, Some(2));
        assert!(d.hint.contains("fix the YAML"), "{}", d.hint);
        let d = node_err("");
        assert_eq!(d.message, "the file is empty");
        let d = node_err("domain: a.coop\ndomain: b.coop\n");
        assert_eq!(at(&d), (Some(2), Some(1), "domain"));
        assert!(d.message.contains("given twice"));
    }

    #[test]
    fn empty_values_and_flow_mappings() {
        let d = node_err("domain: a.coop\napps:\n  - recipe: wiki\n    host:\n");
        assert_eq!(at(&d), (Some(4), Some(9), "apps[0].host"), "{d}");
        // An empty optional section is the same as no section.
        let node = parse_node("domain: a.coop\noperator:\n", Path::new("node.yaml"));
        assert_eq!(node.map(|n| n.operator), Ok(None));
        let d = node_err("domain: a.coop\napps: [{host: a}, {recipe: x}]\n");
        assert_eq!(at(&d), (Some(2), Some(8), "apps[0].recipe"), "{d}");
        let d = node_err("domain: a.coop\noperator: {name: x}\n");
        assert_eq!(at(&d), (Some(2), Some(11), "operator.email"), "{d}");
    }

    #[test]
    fn edit_distance() {
        assert_eq!(distance("colectives", "collectives"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(suggest("hots", &["host", "recipe"]), Some("host"));
        assert_eq!(suggest("zzzzzz", &["host", "recipe"]), None);
    }
}
