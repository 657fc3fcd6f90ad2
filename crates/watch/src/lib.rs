//! `scalewall watch`: the continuous engine. Jobs (`[[job]]`: scenarios on
//! an interval with jitter and a timeout) run through the job library, one
//! at a time; each run is stored, reported and compared like `scalewall
//! run`; each job has a status (OK, RECOVERING, FAILING, TIMEOUT) that
//! alerts (`[[alert]]` webhooks) follow; a small HTTP server shows the
//! dashboard, `/health`, `/api/status` and `/metrics`, and takes push
//! jobs' reports. External jobs ([`external`]: a `command` the daemon
//! runs, a `push` job that reports itself) share the statuses and alerts.
//!
//! [`schedule`], [`status`], [`alert`] bodies, [`exposition`],
//! [`dashboard`], [`engine`] and [`view`] are pure; [`daemon`], [`server`]
//! and [`external::run_command`] hold the threads, sockets and processes.

#![deny(missing_docs)]

pub mod alert;
pub mod daemon;
pub mod dashboard;
pub mod engine;
pub mod exposition;
pub mod external;
pub mod schedule;
pub mod server;
pub mod status;
pub mod view;

/// Why the daemon cannot start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The config does not describe a daemon that can run.
    #[error("{0}")]
    Config(String),
    /// The listening socket could not be opened.
    #[error("cannot listen on {address}: {reason}")]
    Listen {
        /// The address.
        address: String,
        /// Why.
        reason: String,
    },
}
