//! Probes: readings of the host, of processes and of service health.
//!
//! Every probe implements [`Probe`]: `sample()` returns one typed reading.
//! Probes that report rates (CPU %, bytes/s) keep the previous counters and
//! report the change since their last sample, so the first reading of such a
//! probe covers the time since it was created. Linux `/proc` is read through
//! the `procfs` crate; the arithmetic on the counters is pure and tested on
//! fixed inputs.

#![deny(missing_docs)]

pub mod custom;
pub mod gpu;
pub mod health;
pub mod host;
pub mod nats;
pub mod postgres;
pub mod process;
pub mod prometheus;
pub mod redis;
pub mod snapshot;
mod sock_diag;
pub mod step_meter;
pub mod target;

/// A source of readings.
pub trait Probe {
    /// What one sample holds.
    type Reading;

    /// Takes one reading.
    fn sample(&mut self) -> Result<Self::Reading, ProbeError>;
}

/// Why a probe could not take a reading.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A /proc file could not be read or parsed.
    #[error("cannot read {what}: {reason}")]
    Proc {
        /// The file or item.
        what: String,
        /// The underlying error.
        reason: String,
    },
    /// The selected process does not exist (any more).
    #[error("no process matches {0}")]
    NoProcess(String),
    /// A path for disk usage could not be examined.
    #[error("cannot read disk usage of {path}: {reason}")]
    Disk {
        /// The path given.
        path: String,
        /// The OS error.
        reason: String,
    },
}

impl ProbeError {
    pub(crate) fn proc(what: impl Into<String>, err: impl std::fmt::Display) -> Self {
        ProbeError::Proc {
            what: what.into(),
            reason: err.to_string(),
        }
    }
}

/// Percentage of `part` in `whole`, 0 when `whole` is 0.
pub(crate) fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        100.0 * part / whole
    } else {
        0.0
    }
}
