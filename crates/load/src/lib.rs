//! scalewall's load engine.
//!
//! One driver loop ([`engine::run_step`]) takes three separate inputs: a
//! transport ([`transport::Driver`], one per protocol), a pacing
//! ([`engine::Pacing`]: closed model with N connections, or an open model at a
//! fixed or linearly ramping arrival rate with coordinated-omission
//! correction) and a stop
//! condition ([`engine::StopAt`]: a duration or an operation count). Each
//! generator thread runs its own single-threaded tokio runtime, records into
//! its own histograms without locks, and ships one snapshot per interval down
//! a channel to a single collector, which builds the [`scalewall_model::Step`]
//! and feeds the live progress view.

#![deny(missing_docs)]

pub mod checks;
pub mod engine;
pub mod events;
pub mod feed;
pub mod ramp;
mod recorder;
pub mod send_clock;
pub mod target;
pub mod tls;
pub mod transport;

pub use engine::{
    run_step, run_step_with, Control, IntervalReport, LiveProgress, Pacing, StepHooks, StepPlan,
    StopAt,
};
pub use target::{Target, TargetError};
pub use transport::{Driver, OpError, Response};
