//! Pure statistics over scalewall's measurements: no I/O, no clocks.
//!
//! [`summary`] turns recorded histograms and counts into the figures every
//! report prints (percentiles in milliseconds, rates, error shares). [`usl`] and
//! [`sweep`] fit the Universal Scalability Law; [`metrics`] names a run's
//! figures and [`compare`] decides whether they changed between runs;
//! [`cost`] fits how an operation's time grows with a size; [`capacity`]
//! plans what breaks as the system grows and [`growth`] projects stored
//! metrics over time.

#![deny(missing_docs)]

pub mod capacity;
pub mod compare;
pub mod cost;
pub mod growth;
pub mod leak;
pub mod metrics;
pub mod number;
pub mod points_csv;
pub mod search;
pub mod summary;
pub mod sweep;
pub mod usl;
