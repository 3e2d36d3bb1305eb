//! Errors a person can act on: file, line, column, field path, what is wrong and what to do.

use std::fmt;
use std::path::PathBuf;

/// One problem found in `node.yaml` or a `recipe.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as it was given to the loader.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column (in characters), when known.
    pub column: Option<usize>,
    /// Field path such as `apps[2].host` or `components.web.volumes[0].path`; empty for the whole file.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl Diagnostic {
    /// A problem about a whole file (missing, unreadable), with no position.
    pub fn file(
        file: impl Into<PathBuf>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.into(),
            line: None,
            column: None,
            path: String::new(),
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `node.yaml:14:5: apps[2].host: `cloud` is already used by apps[0] — pick another host name`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if !self.hint.is_empty() {
            write!(f, " — {}", self.hint)?;
        }
        Ok(())
    }
}

/// Every problem found in one load, in file then position order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Report problems found in `from` (a candidate copy) against `to`, the file the person
    /// edits.
    pub fn rename_file(&mut self, from: &std::path::Path, to: &std::path::Path) {
        for d in &mut self.0 {
            if d.file == from {
                d.file = to.to_path_buf();
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Sorts by file, then position; problems without a position come first in their file.
    pub fn sort(&mut self) {
        self.0
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    }

    /// `Ok(value)` when nothing was found, the diagnostics otherwise.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    /// One diagnostic per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
impl std::error::Error for Diagnostic {}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize, path: &str, message: &str, hint: &str) -> Diagnostic {
        Diagnostic {
            file: "node.yaml".into(),
            line: Some(line),
            column: Some(column),
            path: path.into(),
            message: message.into(),
            hint: hint.into(),
        }
    }

    #[test]
    fn displays_file_position_path_message_and_hint() {
        let d = at(
            14,
            5,
            "apps[2].host",
            "`cloud` is already used by apps[0]",
            "pick another host name",
        );
        assert_eq!(
            d.to_string(),
            "node.yaml:14:5: apps[2].host: `cloud` is already used by apps[0] — pick another host name"
        );
    }

    #[test]
    fn leaves_out_what_is_unknown() {
        let d = Diagnostic::file("/etc/x/node.yaml", "cannot read the file", "");
        assert_eq!(d.to_string(), "/etc/x/node.yaml: cannot read the file");
        let d = at(1, 1, "", "the file is empty", "write `domain:`");
        assert_eq!(
            d.to_string(),
            "node.yaml:1:1: the file is empty — write `domain:`"
        );
    }

    #[test]
    fn many_diagnostics_are_one_per_line_sorted_by_position() {
        let mut ds = Diagnostics(vec![at(9, 1, "b", "two", "x"), at(2, 3, "a", "one", "y")]);
        ds.sort();
        assert_eq!(
            ds.to_string(),
            "node.yaml:2:3: a: one — y\nnode.yaml:9:1: b: two — x"
        );
        assert_eq!(ds.len(), 2);
        assert!(ds.into_result(()).is_err());
        assert_eq!(Diagnostics::default().into_result(7), Ok(7));
    }
}
