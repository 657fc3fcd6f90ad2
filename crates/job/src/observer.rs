//! How a job tells the outside what it is doing, without printing: the
//! binary draws a progress line from these calls, the `watch` daemon could
//! publish them, a test can record them. Every method has a silent default.

use scalewall_load::engine::LiveProgress;

/// Receives a job's progress. Called from the job's thread; implementations
/// must be cheap (a step reports a few times a second).
pub trait Observer: Sync {
    /// Once, before the first stage: every stage the job will go through,
    /// in order, with the time its load is planned to take (`None` when
    /// it is not known in advance, e.g. a step that stops after a count).
    fn planned(&self, _stages: &[(String, Option<std::time::Duration>)]) {}
    /// A stage begins: `what` is one line (e.g. `scenario api-get (api)`).
    fn stage(&self, _what: &str) {}
    /// Live figures of the step in progress; `label` names the step within
    /// its scenario (`step 2/6 (N = 2) `, or empty for a single step).
    fn step_progress(&self, _label: &str, _live: &LiveProgress) {}
    /// The step in progress ended (finished, stopped or failed).
    fn step_finished(&self) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}
