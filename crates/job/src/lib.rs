//! scalewall's job library: everything between the command line and the
//! engine crates. It owns the config (parse, validate, locate every
//! mistake), the scenario language shared by the command line and the
//! config, the load of one target, one job's sequence (probe → scenarios →
//! thresholds → comparison → findings → store → reports → plan), the
//! findings policy and the capacity plan's assembly.
//!
//! It never prints, never exits the process and reads no global state:
//! progress goes through an [`observer::Observer`], stopping through the
//! engine's `Control` token, and the clock and history store are passed in.
//! `scalewall run`, a `watch` daemon and a distributed coordinator all call
//! [`job::run_job`]; several jobs can run at once in one process.

#![deny(missing_docs)]

pub mod builtin;
pub mod compare;
pub mod config;
pub mod cron;
pub mod distributed;
pub mod error;
pub mod files;
pub mod findings;
pub mod fix;
pub mod host;
pub mod job;
pub mod load;
pub mod observer;
pub mod plan;
pub mod record;
pub mod scenario;
pub mod search;

pub use error::{JobError, Result};
