//! Collects semantic problems of one file, each placed by its field path.

use super::diag::{Diagnostic, Diagnostics};
use super::source::{Pos, SourceMap, Target};
use std::path::Path;

pub(crate) struct Report<'a> {
    file: &'a Path,
    map: &'a SourceMap,
    pub(crate) out: Diagnostics,
}

impl<'a> Report<'a> {
    pub(crate) fn new(file: &'a Path, map: &'a SourceMap) -> Self {
        Report {
            file,
            map,
            out: Diagnostics::default(),
        }
    }

    /// A problem with the value at `path` (or its nearest ancestor present in the file).
    pub(crate) fn value(
        &mut self,
        path: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(path, Target::Value, message.into(), hint.into());
    }

    /// A problem with the key of the field at `path` (a name that is a mapping key).
    pub(crate) fn key(&mut self, path: &str, message: impl Into<String>, hint: impl Into<String>) {
        self.push(path, Target::Key, message.into(), hint.into());
    }

    fn push(&mut self, path: &str, target: Target, message: String, hint: String) {
        let pos = self.map.locate(path, target);
        self.out
            .push(diagnostic(self.file, pos, path, message, hint));
    }
}

pub(crate) fn diagnostic(
    file: &Path,
    pos: Option<Pos>,
    path: &str,
    message: String,
    hint: String,
) -> Diagnostic {
    Diagnostic {
        file: file.to_path_buf(),
        line: pos.map(|p| p.line),
        column: pos.map(|p| p.column),
        path: path.to_string(),
        message,
        hint,
    }
}
