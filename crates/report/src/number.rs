//! The one number format every renderer uses (it lives in
//! `scalewall_stats::number`, where the verdict sentences use it too).

pub use scalewall_stats::number::*;
