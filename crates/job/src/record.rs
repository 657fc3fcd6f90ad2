//! Builds the one `Run` record of a command or a job: a fresh id, this tool,
//! this host, and the times from the clock it is given.

use crate::host;
use scalewall_model::{Run, RunStatus, Scenario, ToolInfo, SCHEMA_VERSION};
use std::time::SystemTime;

/// Where a job reads the wall-clock time (passed in, so a test or the
/// `watch` daemon can control it).
pub trait Clock: Sync {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A run record started at `started` and ending at the clock's now, with a
/// fresh time-ordered id, this tool and this host.
pub fn new_run(
    clock: &dyn Clock,
    started: SystemTime,
    status: RunStatus,
    scenarios: Vec<Scenario>,
) -> Run {
    Run {
        schema_version: SCHEMA_VERSION,
        id: uuid::Uuid::now_v7().to_string(),
        tool: ToolInfo {
            name: "scalewall".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        started_at: humantime::format_rfc3339_millis(started).to_string(),
        finished_at: humantime::format_rfc3339_millis(clock.now()).to_string(),
        status,
        host: host::describe(),
        scenarios,
        ..Run::default()
    }
}
