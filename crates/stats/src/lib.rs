//! Pure statistics over scalewall's measurements: no I/O, no clocks.
//!
//! [`summary`] turns recorded histograms and counts into the figures every
//! report prints (percentiles in milliseconds, rates, error shares). Later
//! modules add the Universal Scalability Law fit and run comparison.

#![deny(missing_docs)]

pub mod points_csv;
pub mod summary;
pub mod sweep;
pub mod usl;
