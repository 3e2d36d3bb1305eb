//! Carry a plan out: images, networks and volumes first, then removals, then containers in
//! dependency order — independent ones in parallel — each waiting for its health check.
//!
//! Every step is safe to interrupt: a rerun observes again and plans what is left.

use super::desired::{DesiredState, ImageSource};
use super::plan::{Action, Plan, Step};
use crate::engine::{labels, Engine, EngineError};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// How one container step ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum StepOutcome {
    Done {
        seconds: f64,
    },
    Failed {
        error: String,
    },
    /// Not attempted because a dependency failed.
    Skipped {
        because: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    pub container: String,
    pub app: String,
    pub component: String,
    pub action: Action,
    pub outcome: StepOutcome,
}

/// How a hook ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HookReport {
    pub app: String,
    pub kind: String,
    pub container: String,
    pub outcome: StepOutcome,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ApplyReport {
    pub steps: Vec<StepReport>,
    /// `configure` hooks run after an app's containers were (re)started.
    pub hooks: Vec<HookReport>,
    pub seconds: f64,
}

impl ApplyReport {
    pub fn failures(&self) -> impl Iterator<Item = &StepReport> {
        self.steps
            .iter()
            .filter(|s| matches!(s.outcome, StepOutcome::Failed { .. }))
    }
    pub fn succeeded(&self) -> bool {
        self.steps
            .iter()
            .map(|s| &s.outcome)
            .chain(self.hooks.iter().map(|h| &h.outcome))
            .all(|o| matches!(o, StepOutcome::Done { .. }))
    }
}

/// An error that stops the apply before any container step (image or network trouble).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("image {reference}: {source}")]
    Image {
        reference: String,
        source: EngineError,
    },
    #[error("{what} {name}: {source}")]
    Object {
        what: &'static str,
        name: String,
        source: EngineError,
    },
}

/// Where apply shows its progress: bars on a terminal, plain lines in a log, nothing for
/// `--json` and tests.
pub struct Progress {
    multi: MultiProgress,
    /// Print step lines to stderr ourselves (indicatif draws nothing off a terminal).
    plain: bool,
}

impl Progress {
    pub fn hidden() -> Self {
        Progress {
            multi: MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden()),
            plain: false,
        }
    }
    pub fn stderr() -> Self {
        let multi = MultiProgress::new();
        let plain = multi.is_hidden();
        Progress { multi, plain }
    }
    /// One finished step.
    pub fn line(&self, text: String) {
        if self.plain {
            eprintln!("{text}");
        } else {
            self.multi.println(text).ok();
        }
    }
    pub fn bar(&self, msg: String) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_message(msg);
        bar
    }
}

/// Apply `plan`, made from `desired`.
pub async fn apply(
    engine: &Engine,
    desired: &DesiredState,
    plan: &Plan,
    progress: &Progress,
) -> Result<ApplyReport, ApplyError> {
    let started = Instant::now();
    for img in &plan.images {
        let bar = progress.bar(String::new());
        let result = match &img.source {
            ImageSource::Build { context, reference } => {
                bar.set_message(format!("build {reference}"));
                // The label names the image folder, whoever builds it (the tag is its hash).
                let folder = context
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let labels = BTreeMap::from([(labels::IMAGE.to_string(), folder)]);
                engine.build(context, reference, &labels, &bar).await
            }
            ImageSource::Pull { reference } => {
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} {msg} {bar:24} {bytes}/{total_bytes} {elapsed}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(format!("pull {reference}"));
                engine.ensure_image(reference, &bar).await
            }
        };
        bar.finish_and_clear();
        result.map_err(|source| ApplyError::Image {
            reference: img.source.reference().to_string(),
            source,
        })?;
        progress.line(format!("✓ image {}", img.source.reference()));
    }
    for n in plan.networks.iter().filter(|n| n.action == Action::Create) {
        if let Some(spec) = desired.networks.iter().find(|s| s.name == n.name) {
            engine
                .ensure_network(spec)
                .await
                .map_err(|source| ApplyError::Object {
                    what: "network",
                    name: n.name.clone(),
                    source,
                })?;
        }
    }
    for v in &plan.volumes {
        if let Some(spec) = desired.volumes.iter().find(|s| s.name == v.name) {
            engine
                .ensure_volume(spec)
                .await
                .map_err(|source| ApplyError::Object {
                    what: "volume",
                    name: v.name.clone(),
                    source,
                })?;
        }
    }

    let mut report = ApplyReport::default();
    // Removals first (they free names), in parallel.
    let removals = plan
        .containers
        .iter()
        .filter(|s| s.action == Action::Remove)
        .map(|s| async move {
            let t = Instant::now();
            let r = remove_existing(engine, s).await;
            report_of(s, t, r.map_err(|e| StepError::Failed(e.to_string())))
        });
    report
        .steps
        .extend(futures_util::future::join_all(removals).await);

    // Containers in dependency order: every step is a shared future that first awaits the
    // futures of its dependencies, so independent branches run in parallel.
    let mut futures: BTreeMap<String, StepFuture<'_>> = BTreeMap::new();
    let order = topological(plan);
    // A kept container is waited for only when a changing step depends on it; a no-op apply
    // does not wait on (or inspect) anything.
    let awaited: BTreeSet<&str> = plan
        .containers
        .iter()
        .filter(|s| s.action != Action::Keep)
        .flat_map(|s| s.depends_on.iter().map(String::as_str))
        .collect();
    for step in &order {
        let deps: Vec<(String, StepFuture<'_>)> = step
            .depends_on
            .iter()
            .filter_map(|d| futures.get(d).map(|f| (d.clone(), f.clone())))
            .collect();
        let wait = awaited.contains(step.container.as_str());
        let fut = run_step(engine, desired, step, deps, wait, progress)
            .boxed()
            .shared();
        futures.insert(step.container.clone(), fut);
    }
    let all = order.iter().map(|step| {
        let fut = futures.get(&step.container).cloned();
        async move {
            let t = Instant::now();
            let r = match fut {
                Some(f) => f.await,
                None => Ok(()),
            };
            (step, t, r)
        }
    });
    for (step, t, r) in futures_util::future::join_all(all).await {
        if step.action == Action::Keep && r.is_ok() {
            continue;
        }
        report.steps.push(report_of(step, t, r));
    }

    report.hooks = configure_hooks(engine, desired, &report, progress).await;

    for n in plan.networks.iter().filter(|n| n.action == Action::Remove) {
        // A network still used by a container that failed to go away stays; the next run retries.
        let _ = engine.remove_network(&n.name).await;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Run the `configure` hook of every app one of whose containers was (re)started by this
/// apply, once all of that app's steps succeeded. Hooks are idempotent by contract.
async fn configure_hooks(
    engine: &Engine,
    desired: &DesiredState,
    report: &ApplyReport,
    progress: &Progress,
) -> Vec<HookReport> {
    let mut out = vec![];
    for hook in desired.hooks.iter().filter(|h| h.kind == "configure") {
        let steps: Vec<_> = report
            .steps
            .iter()
            .filter(|s| s.app == hook.app && s.action != Action::Remove)
            .collect();
        let started = !steps.is_empty();
        let all_done = steps
            .iter()
            .all(|s| matches!(s.outcome, StepOutcome::Done { .. }));
        if !started || !all_done {
            continue;
        }
        let t = Instant::now();
        let limit = Duration::from_secs(hook.timeout_secs);
        let result = match tokio::time::timeout(
            limit,
            engine.exec(&hook.container, &hook.command, hook.user.as_deref()),
        )
        .await
        {
            Err(_) => Err(format!(
                "the configure hook of `{}` did not finish within {}s",
                hook.app, hook.timeout_secs
            )),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(o)) if o.exit_code != 0 => Err(format!(
                "the configure hook of `{}` exited with {}: {}",
                hook.app,
                o.exit_code,
                last_lines(&format!("{}{}", o.stdout, o.stderr), 10)
            )),
            Ok(Ok(_)) => Ok(()),
        };
        let mark = if result.is_ok() { "✓" } else { "✗" };
        progress.line(format!("{mark} configure {}", hook.app));
        out.push(HookReport {
            app: hook.app.clone(),
            kind: hook.kind.clone(),
            container: hook.container.clone(),
            outcome: match result {
                Ok(()) => StepOutcome::Done {
                    seconds: t.elapsed().as_secs_f64(),
                },
                Err(error) => StepOutcome::Failed { error },
            },
        });
    }
    out
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn report_of(step: &Step, t: Instant, r: Result<(), StepError>) -> StepReport {
    let outcome = match r {
        Ok(()) => StepOutcome::Done {
            seconds: t.elapsed().as_secs_f64(),
        },
        Err(StepError::Skipped(because)) => StepOutcome::Skipped { because },
        Err(StepError::Failed(error)) => StepOutcome::Failed { error },
    };
    StepReport {
        container: step.container.clone(),
        app: step.app.clone(),
        component: step.component.clone(),
        action: step.action,
        outcome,
    }
}

/// Why a container step did not end well.
#[derive(Debug, Clone)]
enum StepError {
    Failed(String),
    /// Not attempted: a dependency failed.
    Skipped(String),
}

/// A container step, awaited by the steps that depend on it.
type StepFuture<'a> = Shared<BoxFuture<'a, Result<(), StepError>>>;

async fn run_step<'a>(
    engine: &'a Engine,
    desired: &'a DesiredState,
    step: &'a Step,
    deps: Vec<(String, StepFuture<'a>)>,
    awaited: bool,
    progress: &'a Progress,
) -> Result<(), StepError> {
    for (name, dep) in deps {
        if dep.await.is_err() {
            return Err(StepError::Skipped(format!("{name} did not become healthy")));
        }
    }
    let Some(d) = desired.container(&step.container) else {
        return Ok(());
    };
    let timeout = Duration::from_secs(d.health_timeout_secs);
    if step.action == Action::Keep {
        // Already running; a changing dependent still waits for it to be healthy.
        return match (&step.existing, awaited) {
            (Some(id), true) => engine
                .wait_healthy(id, timeout)
                .await
                .map_err(|e| StepError::Failed(e.to_string())),
            _ => Ok(()),
        };
    }
    let bar = progress.bar(format!(
        "{} {} ({})",
        step.action.verb(),
        step.container,
        step.reason.describe()
    ));
    let result = async {
        if step.action == Action::Recreate {
            remove_existing(engine, step).await?;
        }
        let id = engine.create_container(&d.spec).await?;
        engine.start_container(&id).await?;
        engine.wait_healthy(&id, timeout).await
    }
    .await;
    bar.finish_and_clear();
    let mark = if result.is_ok() { "✓" } else { "✗" };
    progress.line(format!(
        "{mark} {} {} ({})",
        step.action.verb(),
        step.container,
        step.reason.describe()
    ));
    result.map_err(|e| StepError::Failed(e.to_string()))
}

async fn remove_existing(engine: &Engine, step: &Step) -> Result<(), EngineError> {
    if let Some(id) = &step.existing {
        // No grace given: Docker uses the container's own stop timeout (the recipe's).
        engine.stop_container(id, None).await.ok();
        engine.remove_container(id).await?;
    }
    Ok(())
}

/// Non-removal steps, dependencies first. Validation refused cycles, so every step appears;
/// a dependency outside the plan (unknown name) is simply not awaited.
fn topological(plan: &Plan) -> Vec<&Step> {
    let steps: Vec<&Step> = plan
        .containers
        .iter()
        .filter(|s| s.action != Action::Remove)
        .collect();
    let mut out: Vec<&Step> = vec![];
    let mut placed = std::collections::BTreeSet::new();
    while out.len() < steps.len() {
        let before = out.len();
        for s in &steps {
            if !placed.contains(&s.container)
                && s.depends_on
                    .iter()
                    .all(|d| placed.contains(d) || !steps.iter().any(|x| &x.container == d))
            {
                placed.insert(s.container.clone());
                out.push(s);
            }
        }
        if out.len() == before {
            // A cycle slipped through: place the rest as they are rather than hang.
            out.extend(steps.iter().filter(|s| !placed.contains(&s.container)));
            break;
        }
    }
    out
}
