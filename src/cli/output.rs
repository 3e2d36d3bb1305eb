//! Human output (tables) and `--json`.

use crate::host::{Check, CheckStatus};
use crate::ops::{StatusRow, UpReport};
use crate::reconcile::apply::StepOutcome;
use crate::reconcile::plan::Plan;
use crate::state::JournalEntry;
use serde::Serialize;

/// Write to standard output. When the reader went away (`| head`), stop quietly, as Unix
/// tools do, instead of panicking like `println!`.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(super::exit::OK);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(super::exit::FAILED);
    }
}

/// `println!` through [`emit`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::output::emit(&format!("{}\n", format!($($arg)*)))
    };
}
pub(crate) use say;

/// `1 app`, `2 apps`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `2026-11-25T22:51:42.550158005Z` → `2026-11-25 22:51:42Z`, for tables.
fn short_time(rfc3339: &str) -> String {
    let (date_time, zone) = match rfc3339.split_once('.') {
        Some((dt, rest)) => (dt, rest.trim_start_matches(|c: char| c.is_ascii_digit())),
        None => (rfc3339, ""),
    };
    format!("{}{zone}", date_time.replacen('T', " ", 1))
}

pub fn json<T: Serialize + ?Sized>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => say!("{s}"),
        Err(e) => eprintln!("error: cannot write JSON: {e}"),
    }
}

pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        say!("{}", s.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

pub fn plan(plan: &Plan) {
    if plan.is_noop() {
        say!("node `{}`: nothing to do", plan.node);
        return;
    }
    let mut rows = vec![];
    for i in &plan.images {
        let verb = match i.source {
            crate::reconcile::ImageSource::Build { .. } => "build",
            crate::reconcile::ImageSource::Pull { .. } => "pull",
        };
        rows.push(vec![
            verb.to_string(),
            "image".into(),
            i.source.reference().to_string(),
            i.reason.describe().into(),
        ]);
    }
    for (kind, list) in [("network", &plan.networks), ("volume", &plan.volumes)] {
        for n in list {
            rows.push(vec![
                n.action.verb().into(),
                kind.into(),
                n.name.clone(),
                n.reason.describe().into(),
            ]);
        }
    }
    for s in plan.changes() {
        rows.push(vec![
            s.action.verb().into(),
            "container".into(),
            s.container.clone(),
            s.reason.describe().into(),
        ]);
    }
    say!("node `{}`: {}", plan.node, count(rows.len(), "change"));
    table(&["ACTION", "KIND", "NAME", "REASON"], &rows);
}

pub fn up(report: &UpReport) {
    if let Some(edge) = &report.edge {
        super::certs::print_edge(edge);
    }
    let edge_changed = report.edge.as_ref().is_some_and(|e| {
        matches!(e.pushed, crate::ops::edge::Pushed::Reloaded(_))
            || e.certificates
                .hosts
                .iter()
                .any(|h| h.action != crate::ops::certs::CertAction::Kept)
    });
    if report.plan.is_noop() && edge_changed {
        say!(
            "node `{}`: containers already as declared; the edge was updated (journal #{})",
            report.plan.node,
            report.journal_id
        );
        return;
    }
    if report.plan.is_noop() {
        say!(
            "node `{}`: already as declared, nothing changed (journal #{})",
            report.plan.node,
            report.journal_id
        );
        return;
    }
    let failures: Vec<_> = report.apply.failures().collect();
    for h in &report.apply.hooks {
        if let StepOutcome::Failed { error } = &h.outcome {
            eprintln!("✗ {} hook of {}: {error}", h.kind, h.app);
        }
    }
    for s in &report.apply.steps {
        if let StepOutcome::Skipped { because } = &s.outcome {
            eprintln!("skipped {} {}: {because}", s.action.verb(), s.container);
        }
    }
    if report.apply.succeeded() {
        say!(
            "node `{}` is up: {} in {:.1}s (journal #{})",
            report.plan.node,
            count(report.apply.steps.len(), "change"),
            report.apply.seconds,
            report.journal_id
        );
    } else {
        for f in &failures {
            if let StepOutcome::Failed { error } = &f.outcome {
                eprintln!("✗ {} {}: {error}", f.action.verb(), f.container);
            }
        }
        eprintln!(
            "node `{}`: {} of {} steps failed; other apps were left as they are (journal #{})",
            report.plan.node,
            failures.len(),
            report.apply.steps.len(),
            report.journal_id
        );
    }
}

pub fn status(rows: &[StatusRow]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.app.clone(),
                r.component.clone(),
                if r.declared {
                    r.state.clone()
                } else {
                    format!("{} (undeclared)", r.state)
                },
                r.health.clone(),
                r.version.clone().unwrap_or_else(|| "-".into()),
                r.since
                    .as_deref()
                    .map(short_time)
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(
        &["APP", "COMPONENT", "STATE", "HEALTH", "VERSION", "SINCE"],
        &rows,
    );
}

pub fn checks(checks: &[Check]) {
    for c in checks {
        let mark = match c.status {
            CheckStatus::Ok => "ok  ",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "FAIL",
        };
        say!("{mark}  {}: {}", c.name, c.detail);
        if c.status != CheckStatus::Ok {
            if let Some(h) = &c.hint {
                say!("      → {h}");
            }
        }
    }
}

pub fn history(entries: &[JournalEntry]) {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                short_time(
                    &e.started_at
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                ),
                e.operation.clone(),
                e.node.clone(),
                e.outcome
                    .map(|o| o.to_string())
                    .unwrap_or_else(|| "running".into()),
            ]
        })
        .collect();
    table(&["ID", "STARTED", "OPERATION", "NODE", "OUTCOME"], &rows);
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_time_drops_fractions_and_keeps_the_zone() {
        assert_eq!(
            super::short_time("2026-11-25T22:51:42.550158005Z"),
            "2026-11-25 22:51:42Z"
        );
        assert_eq!(
            super::short_time("2026-11-25T22:51:42+01:00"),
            "2026-11-25 22:51:42+01:00"
        );
    }
}
