//! A watched job's status and how each run moves it (pure).
//!
//! | status | when |
//! |---|---|
//! | `OK` | the last run completed without a CRITICAL finding |
//! | `FAILING` | the last run errored, a target was unreachable, or a CRITICAL finding |
//! | `TIMEOUT` | the last run passed its timeout: cancelled, kept as interrupted |
//! | `RECOVERING` | OK again after FAILING or TIMEOUT, until 2 consecutive OK runs |
//! | `PENDING` | no run yet |
//!
//! `consecutive` counts the runs in a row with the same outcome; runs due
//! while the job's previous run was still going are SKIPPED and counted.

use serde::Serialize;

/// Consecutive OK runs after a failure before a job is OK again.
pub const RECOVERY_RUNS: u32 = 2;

/// A job's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum JobStatus {
    /// No run yet.
    Pending,
    /// The last run was fine.
    Ok,
    /// OK again after a failure, not yet twice in a row.
    Recovering,
    /// The last run failed.
    Failing,
    /// The last run passed its timeout.
    Timeout,
}

impl JobStatus {
    /// The status as shown.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "PENDING",
            JobStatus::Ok => "OK",
            JobStatus::Recovering => "RECOVERING",
            JobStatus::Failing => "FAILING",
            JobStatus::Timeout => "TIMEOUT",
        }
    }

    /// A number for `/metrics` (0 OK … 4 TIMEOUT; PENDING −1).
    pub fn code(self) -> i32 {
        match self {
            JobStatus::Pending => -1,
            JobStatus::Ok => 0,
            JobStatus::Recovering => 1,
            JobStatus::Failing => 2,
            JobStatus::Timeout => 3,
        }
    }
}

/// How one run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Completed without a CRITICAL finding.
    Ok,
    /// Errored, unreachable, or a CRITICAL finding.
    Failed,
    /// Cancelled at its timeout.
    TimedOut,
}

/// A job's status with its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StatusState {
    /// The status.
    pub status: JobStatus,
    /// Runs in a row with the current outcome.
    pub consecutive: u32,
    /// Runs so far.
    pub runs: u64,
    /// Runs that failed or timed out so far.
    pub errors: u64,
    /// Due runs skipped because the previous one was still going.
    pub skipped: u64,
}

impl Default for StatusState {
    fn default() -> Self {
        StatusState {
            status: JobStatus::Pending,
            consecutive: 0,
            runs: 0,
            errors: 0,
            skipped: 0,
        }
    }
}

impl StatusState {
    /// The state after a run that ended with `outcome`.
    pub fn after(self, outcome: RunOutcome) -> StatusState {
        let (status, consecutive) = match (outcome, self.status) {
            (RunOutcome::Ok, JobStatus::Failing | JobStatus::Timeout) => (JobStatus::Recovering, 1),
            (RunOutcome::Ok, JobStatus::Recovering) => {
                let ok = self.consecutive + 1;
                if ok >= RECOVERY_RUNS {
                    (JobStatus::Ok, ok)
                } else {
                    (JobStatus::Recovering, ok)
                }
            }
            (RunOutcome::Ok, JobStatus::Ok) => (JobStatus::Ok, self.consecutive + 1),
            (RunOutcome::Ok, JobStatus::Pending) => (JobStatus::Ok, 1),
            (RunOutcome::Failed, JobStatus::Failing) => (JobStatus::Failing, self.consecutive + 1),
            (RunOutcome::Failed, _) => (JobStatus::Failing, 1),
            (RunOutcome::TimedOut, JobStatus::Timeout) => {
                (JobStatus::Timeout, self.consecutive + 1)
            }
            (RunOutcome::TimedOut, _) => (JobStatus::Timeout, 1),
        };
        StatusState {
            status,
            consecutive,
            runs: self.runs + 1,
            errors: self.errors + u64::from(outcome != RunOutcome::Ok),
            skipped: self.skipped,
        }
    }

    /// The state after `n` due runs were skipped.
    pub fn skipping(self, n: u64) -> StatusState {
        StatusState {
            skipped: self.skipped + n,
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_recovers_through_two_ok_runs() {
        let s = StatusState::default();
        let s = s.after(RunOutcome::Ok);
        assert_eq!((s.status, s.consecutive), (JobStatus::Ok, 1));
        let s = s.after(RunOutcome::Failed).after(RunOutcome::Failed);
        assert_eq!(
            (s.status, s.consecutive, s.errors),
            (JobStatus::Failing, 2, 2)
        );
        let s = s.after(RunOutcome::Ok);
        assert_eq!((s.status, s.consecutive), (JobStatus::Recovering, 1));
        let s = s.after(RunOutcome::Ok);
        assert_eq!((s.status, s.consecutive), (JobStatus::Ok, 2));
        let s = s.after(RunOutcome::TimedOut);
        assert_eq!((s.status, s.consecutive), (JobStatus::Timeout, 1));
        let s = s.after(RunOutcome::Ok).after(RunOutcome::Failed);
        assert_eq!((s.status, s.consecutive), (JobStatus::Failing, 1));
        assert_eq!((s.runs, s.errors), (8, 4));
        assert_eq!(s.skipping(3).skipped, 3);
    }
}
