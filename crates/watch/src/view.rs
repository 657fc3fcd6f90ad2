//! What the daemon knows of each job, as the endpoints show it (pure data),
//! and the JSON of `/api/status`.

use crate::status::{RunOutcome, StatusState};
use scalewall_model::{Run, Severity};
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

/// The last run of a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastRun {
    /// Run id (empty when the run failed before a record existed).
    pub id: String,
    /// Start, seconds since the Unix epoch.
    pub started_unix_s: f64,
    /// Wall time, seconds.
    pub duration_s: f64,
    /// How it ended.
    pub outcome: RunOutcome,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A command job's exit code, when it exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// A command job's last 4 KiB of output, or a push job's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// One job as the endpoints show it.
#[derive(Debug, Clone, Default)]
pub struct JobView {
    /// Job name.
    pub name: String,
    /// `load`, `command` or `push`.
    pub kind: &'static str,
    /// Interval, seconds.
    pub every_s: f64,
    /// Status and counters.
    pub state: StatusState,
    /// The last run.
    pub last_run: Option<LastRun>,
    /// The next start, when scheduled.
    pub next_run: Option<SystemTime>,
    /// Whether a run is going now.
    pub running: bool,
    /// The last run's record (figures for `/metrics` and the dashboard).
    pub latest: Option<Run>,
}

impl JobView {
    /// Whether its runs have reports to link to: a load job's do; a
    /// command or push job writes none.
    pub fn writes_reports(&self) -> bool {
        self.kind.is_empty() || self.kind == "load"
    }
}

/// An alert channel's health.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AlertHealth {
    /// Alerts delivered.
    pub sent: u64,
    /// Alerts that failed after every retry.
    pub failed: u64,
    /// The last failure, when the last attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Seconds since the Unix epoch.
pub fn unix_s(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The worst finding of a run.
pub fn worst(run: &Run) -> Option<Severity> {
    run.findings.iter().map(|f| f.severity).max()
}

/// `/api/status` (pure).
pub fn status_json(jobs: &[JobView], alerts: &[(String, AlertHealth)]) -> serde_json::Value {
    serde_json::json!({
        "jobs": jobs.iter().map(|j| serde_json::json!({
            "name": j.name,
            "kind": j.kind,
            "every_s": j.every_s,
            "status": j.state.status,
            "consecutive": j.state.consecutive,
            "runs": j.state.runs,
            "errors": j.state.errors,
            "skipped": j.state.skipped,
            "running": j.running,
            "last_run": j.last_run,
            "next_run": j.next_run.map(unix_s),
        })).collect::<Vec<_>>(),
        "alerts": alerts.iter().map(|(url, health)| serde_json::json!({
            "url": url,
            "sent": health.sent,
            "failed": health.failed,
            "last_error": health.last_error,
        })).collect::<Vec<_>>(),
    })
}
