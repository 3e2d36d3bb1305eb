//! Where each field of a YAML file sits: field path → line and column of its key and value.
//!
//! serde-saphyr reports a location for syntax and type errors, but not the field path, and its
//! own `path_map` only exists with its `garde`/`validator` features. So we read the file a second
//! time with the event parser serde-saphyr re-exports (`granit_parser`) and record, for every
//! node, its path (rendered like `apps[2].host`), where its key and its value start, and scalar
//! text. Semantic checks find their node by path; type errors find their path by location.
//! A second parse of a file a person wrote is cheap next to anything the supervisor then does.

use serde_saphyr::granit_parser::{Event, Parser};
use std::collections::HashMap;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scalar,
    Sequence,
    Mapping,
    Alias,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Scalar => "a single value",
            Kind::Sequence => "a list",
            Kind::Mapping => "a mapping",
            Kind::Alias => "an alias",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub path: String,
    /// Where the key starts (mapping values only).
    pub key: Option<Pos>,
    /// Where the value starts.
    pub value: Pos,
    pub kind: Kind,
    /// The scalar text, for scalars.
    pub text: Option<String>,
}

/// Which part of a field a diagnostic points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Key,
    Value,
}

#[derive(Debug, Default)]
pub struct SourceMap {
    entries: Vec<Entry>,
    by_path: HashMap<String, usize>,
}

/// Appends a mapping key to a rendered path.
pub fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Appends a sequence index to a rendered path.
pub fn join_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

enum Frame {
    Map {
        path: String,
        /// The pending key and where it starts, once read.
        key: Option<(String, Pos)>,
    },
    Seq {
        path: String,
        next: usize,
    },
    /// A non-scalar mapping key: its contents have no path.
    Skip {
        depth: usize,
        pos: Pos,
    },
}

impl SourceMap {
    /// Reads as much of `text` as parses; a syntax error just ends the map early.
    pub fn parse(text: &str) -> SourceMap {
        let mut map = SourceMap::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut root_done = false;
        for next in Parser::new_from_str(text) {
            let Ok((event, span)) = next else { break };
            let pos = Pos {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            if let Some(Frame::Skip { depth, pos }) = stack.last_mut() {
                match event {
                    Event::SequenceStart(..) | Event::MappingStart(..) => *depth += 1,
                    Event::SequenceEnd | Event::MappingEnd => {
                        *depth -= 1;
                        if *depth == 0 {
                            let pos = *pos;
                            stack.pop();
                            if let Some(Frame::Map { key, .. }) = stack.last_mut() {
                                *key = Some(("?".into(), pos));
                            }
                        }
                    }
                    _ => {}
                }
                continue;
            }
            let (kind, text) = match &event {
                Event::Scalar(value, ..) => (Kind::Scalar, Some(value.to_string())),
                Event::SequenceStart(..) => (Kind::Sequence, None),
                Event::MappingStart(..) => (Kind::Mapping, None),
                Event::Alias(_) => (Kind::Alias, None),
                Event::SequenceEnd | Event::MappingEnd => {
                    stack.pop();
                    map.after_value(&mut stack);
                    continue;
                }
                Event::DocumentEnd => {
                    if !map.entries.is_empty() {
                        root_done = true;
                    }
                    continue;
                }
                _ => continue,
            };
            if root_done {
                // Only the first document counts; serde-saphyr refuses more than one anyway.
                break;
            }
            // Where does this node sit?
            let (path, key) = match stack.last_mut() {
                None => (String::new(), None),
                Some(Frame::Map {
                    key: slot @ None, ..
                }) => {
                    // A key.
                    match text {
                        Some(t) => *slot = Some((t, pos)),
                        None if kind != Kind::Alias => stack.push(Frame::Skip { depth: 1, pos }),
                        None => *slot = Some(("*".into(), pos)),
                    }
                    continue;
                }
                Some(Frame::Map {
                    path,
                    key: Some((k, kpos)),
                }) => (join_key(path, k), Some(*kpos)),
                Some(Frame::Seq { path, next }) => {
                    let p = join_index(path, *next);
                    *next += 1;
                    (p, None)
                }
                Some(Frame::Skip { .. }) => continue,
            };
            map.insert(Entry {
                path: path.clone(),
                key,
                value: pos,
                kind,
                text,
            });
            match kind {
                Kind::Mapping => stack.push(Frame::Map { path, key: None }),
                Kind::Sequence => stack.push(Frame::Seq { path, next: 0 }),
                Kind::Scalar | Kind::Alias => map.after_value(&mut stack),
            }
        }
        map
    }

    fn insert(&mut self, e: Entry) {
        self.by_path
            .entry(e.path.clone())
            .or_insert(self.entries.len());
        self.entries.push(e);
    }

    /// A value is complete: its parent mapping expects a key again.
    fn after_value(&self, stack: &mut [Frame]) {
        if let Some(Frame::Map { key, .. }) = stack.last_mut() {
            *key = None;
        }
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.by_path.get(path).map(|&i| &self.entries[i])
    }

    /// The position of `path` (its key or its value), or of its nearest ancestor present in
    /// the file (a missing field points at the mapping that should hold it).
    pub fn locate(&self, path: &str, target: Target) -> Option<Pos> {
        let mut p = path;
        loop {
            if let Some(e) = self.get(p) {
                return Some(match (target, e.key) {
                    (Target::Key, Some(k)) if p == path => k,
                    _ => e.value,
                });
            }
            if p.is_empty() {
                return None;
            }
            p = parent(p);
        }
    }

    /// The field whose key starts at `pos` (unknown fields, duplicate keys).
    pub fn key_at(&self, pos: Pos) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == Some(pos))
    }

    /// The outermost value starting at `pos` (type errors point at the value being read).
    pub fn value_at(&self, pos: Pos) -> Option<&Entry> {
        self.entries.iter().find(|e| e.value == pos)
    }

    /// The innermost mapping starting at `pos` (a missing field points at its mapping).
    pub fn mapping_at(&self, pos: Pos) -> Option<&Entry> {
        self.entries
            .iter()
            .filter(|e| e.value == pos && e.kind == Kind::Mapping)
            .max_by_key(|e| e.path.len())
    }

    /// The last field that starts at or before `pos` (syntax errors).
    pub fn last_before(&self, pos: Pos) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key.unwrap_or(e.value) <= pos)
    }
}

/// `apps[2].host` → `apps[2]` → `apps` → ``.
pub fn parent(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) => &path[..i],
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
domain: example.coop
apps:
  - recipe: wiki
    host: docs
    settings: {a: 1, b: [x, y]}
  - {recipe: notes, host: notes}
? [complex, key]
: ignored
after: 1
";

    fn pos(line: usize, column: usize) -> Pos {
        Pos { line, column }
    }

    #[test]
    fn records_keys_and_values_by_path() {
        let m = SourceMap::parse(DOC);
        assert_eq!(m.locate("domain", Target::Key), Some(pos(1, 1)));
        assert_eq!(m.locate("domain", Target::Value), Some(pos(1, 9)));
        assert_eq!(m.locate("apps[0]", Target::Value), Some(pos(3, 5)));
        assert_eq!(m.locate("apps[0].host", Target::Value), Some(pos(4, 11)));
        assert_eq!(
            m.locate("apps[0].settings.b[1]", Target::Value),
            Some(pos(5, 29))
        );
        assert_eq!(m.locate("apps[1].host", Target::Key), Some(pos(6, 21)));
        assert_eq!(m.locate("after", Target::Value), Some(pos(9, 8)));
        assert_eq!(
            m.get("apps[0].host").and_then(|e| e.text.as_deref()),
            Some("docs")
        );
    }

    #[test]
    fn missing_fields_fall_back_to_their_nearest_ancestor() {
        let m = SourceMap::parse(DOC);
        assert_eq!(m.locate("apps[1].collective", Target::Key), Some(pos(6, 5)));
        assert_eq!(m.locate("tls.email", Target::Value), Some(pos(1, 1)));
    }

    #[test]
    fn finds_paths_by_position() {
        let m = SourceMap::parse(DOC);
        assert_eq!(
            m.key_at(pos(4, 5)).map(|e| e.path.as_str()),
            Some("apps[0].host")
        );
        assert_eq!(
            m.value_at(pos(3, 5)).map(|e| e.path.as_str()),
            Some("apps[0]")
        );
        assert_eq!(m.mapping_at(pos(1, 1)).map(|e| e.path.as_str()), Some(""));
        assert_eq!(
            m.last_before(pos(5, 40)).map(|e| e.path.as_str()),
            Some("apps[0].settings.b[1]")
        );
    }

    #[test]
    fn a_syntax_error_keeps_what_came_before() {
        let m = SourceMap::parse("a: 1\nb: [\n");
        assert_eq!(m.locate("a", Target::Value), Some(pos(1, 4)));
        assert_eq!(m.locate("b", Target::Value), Some(pos(2, 4)));
    }

    #[test]
    fn parents() {
        assert_eq!(parent("apps[2].host"), "apps[2]");
        assert_eq!(parent("apps[2]"), "apps");
        assert_eq!(parent("apps"), "");
    }
}
