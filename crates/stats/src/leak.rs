//! The leak verdict: does the target's memory keep growing through a long
//! step? A soak test's question ("the gateway leaks 40 MB/h"), answered
//! from the memory series the step meter samples about once a second.
//!
//! The method: ordinary least squares of memory over time with the
//! slope's 95 % interval (Student's t, n − 2 degrees of freedom), on a
//! step of at least [`MIN_SPAN_S`] seconds, after dropping its first
//! [`SETTLE_SHARE`] (allocators and connection buffers grow once as a load
//! starts; that is a step, not a leak). A leak is suspected only when all
//! of these hold, so a flat or once-grown target makes no claim:
//!
//! - the interval excludes zero (the growth is not noise);
//! - the growth exceeds a floor: [`FLOOR_BYTES_PER_H`] and
//!   [`FLOOR_SHARE_PER_H`] of the memory at the start, per hour;
//! - it is sustained: the slope of the later half is at least
//!   [`SUSTAINED_SHARE`] of the whole slope (growth that stopped halfway
//!   is a cache filling, not a leak).
//!
//! Otherwise the verdict is "no growth detected", bounded by the
//! interval's upper end. Pure.

use crate::growth::CONFIDENCE;
use crate::number::bytes;
use scalewall_model::Step;

/// The shortest step judged, seconds.
pub const MIN_SPAN_S: f64 = 60.0;
/// Fewest samples judged (after the settling share is dropped).
pub const MIN_SAMPLES: usize = 20;
/// The share of the series dropped at its start.
pub const SETTLE_SHARE: f64 = 0.2;
/// Growth below this is no leak worth a finding, bytes per hour (1 MiB/h).
pub const FLOOR_BYTES_PER_H: f64 = 1024.0 * 1024.0;
/// … nor growth below this share of the starting memory per hour.
pub const FLOOR_SHARE_PER_H: f64 = 0.01;
/// The later half's slope must be at least this share of the whole slope.
pub const SUSTAINED_SHARE: f64 = 0.5;

/// The fitted growth of a memory series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryGrowth {
    /// The slope, bytes per hour.
    pub bytes_per_h: f64,
    /// The slope's 95 % interval, bytes per hour.
    pub low_bytes_per_h: f64,
    /// Its upper end.
    pub high_bytes_per_h: f64,
    /// Samples fitted.
    pub samples: usize,
    /// Time they span, seconds.
    pub span_s: f64,
    /// Memory at the first fitted sample, bytes.
    pub start_bytes: f64,
    /// The later half's slope, bytes per hour.
    pub later_bytes_per_h: f64,
    /// All the conditions of a suspected leak hold.
    pub leak: bool,
}

/// Why a series gets no verdict.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum NoVerdict {
    /// The step was shorter than [`MIN_SPAN_S`].
    #[error("the step lasted {span_s:.0} s; a leak verdict needs {MIN_SPAN_S:.0} s or more")]
    TooShort {
        /// Its span, seconds.
        span_s: f64,
    },
    /// Too few memory samples.
    #[error("{samples} memory samples; a leak verdict needs {MIN_SAMPLES}")]
    TooFewSamples {
        /// Samples there were.
        samples: usize,
    },
}

/// Slope, intercept and the slope's half-width at [`CONFIDENCE`].
fn slope_with_interval(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    let n = points.len() as f64;
    if n < 3.0 {
        return None;
    }
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_v = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_t) * (p.1 - mean_v)).sum();
    let slope = sxy / sxx;
    let intercept = mean_v - slope * mean_t;
    let sse: f64 = points
        .iter()
        .map(|p| (p.1 - intercept - slope * p.0).powi(2))
        .sum();
    let se = (sse / (n - 2.0) / sxx).sqrt();
    let t = StudentsT::new(0.0, 1.0, n - 2.0)
        .ok()?
        .inverse_cdf(0.5 + CONFIDENCE / 2.0);
    Some((slope, t * se))
}

/// The growth of a memory series of (seconds, bytes), oldest first,
/// sampled through a step of `step_s` seconds (the samples span a little
/// less: the first comes one interval in).
pub fn memory_growth(series: &[(f64, f64)], step_s: f64) -> Result<MemoryGrowth, NoVerdict> {
    if step_s < MIN_SPAN_S {
        return Err(NoVerdict::TooShort { span_s: step_s });
    }
    let settled = &series[(series.len() as f64 * SETTLE_SHARE).floor() as usize..];
    let too_few = NoVerdict::TooFewSamples {
        samples: settled.len(),
    };
    if settled.len() < MIN_SAMPLES {
        return Err(too_few);
    }
    let (slope, half_width) = slope_with_interval(settled).ok_or(too_few)?;
    let later = &settled[settled.len() / 2..];
    let later_slope = slope_with_interval(later).map_or(0.0, |(s, _)| s);
    let per_h = 3600.0;
    let start_bytes = settled[0].1;
    let bytes_per_h = slope * per_h;
    let floor = FLOOR_BYTES_PER_H.max(FLOOR_SHARE_PER_H * start_bytes);
    let leak =
        slope - half_width > 0.0 && bytes_per_h > floor && later_slope >= SUSTAINED_SHARE * slope;
    Ok(MemoryGrowth {
        bytes_per_h,
        low_bytes_per_h: (slope - half_width) * per_h,
        high_bytes_per_h: (slope + half_width) * per_h,
        samples: settled.len(),
        span_s: settled[settled.len() - 1].0 - settled[0].0,
        start_bytes,
        later_bytes_per_h: later_slope * per_h,
        leak,
    })
}

/// The target's memory series of a step, from its resource samples;
/// `None` when the step sampled no target memory at all.
pub fn of_step(step: &Step) -> Option<Result<MemoryGrowth, NoVerdict>> {
    let resources = step.resources.as_ref()?;
    let series: Vec<(f64, f64)> = resources
        .samples
        .iter()
        .filter_map(|s| Some((s.offset_s, s.target_rss_bytes? as f64)))
        .collect();
    if series.is_empty() {
        return None;
    }
    Some(memory_growth(&series, resources.wall_s))
}

/// A rate of memory growth as people read it (`120 MiB/h`, `-3 KiB/h`).
pub fn per_hour(bytes_per_h: f64) -> String {
    let sign = if bytes_per_h < 0.0 { "-" } else { "" };
    format!("{sign}{}/h", bytes(bytes_per_h.abs().round() as u64))
}

impl MemoryGrowth {
    /// The verdict in one sentence: "memory grows 38 MiB/h (95 %: 31–45
    /// MiB/h) over 60 s, suspected leak" or "no growth detected (≤ 2 MiB/h)".
    pub fn sentence(&self) -> String {
        if self.leak {
            format!(
                "memory grows {} (95 %: {} to {}) over {:.0} s, suspected leak",
                per_hour(self.bytes_per_h),
                per_hour(self.low_bytes_per_h),
                per_hour(self.high_bytes_per_h),
                self.span_s
            )
        } else {
            format!(
                "no growth detected (≤ {} over {:.0} s)",
                per_hour(self.high_bytes_per_h.max(0.0)),
                self.span_s
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1024.0 * 1024.0;

    /// A series of `n` samples a second apart: `start` plus `rate` bytes a
    /// second, with a deterministic ±`jitter` bytes.
    fn series(n: usize, start: f64, rate: f64, jitter: f64) -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| {
                let t = i as f64;
                let wobble = jitter * ((i * 7919 % 13) as f64 / 6.0 - 1.0);
                (t, start + rate * t + wobble)
            })
            .collect()
    }

    #[test]
    fn a_steady_leak_is_found_with_its_rate_and_interval() {
        // 2 MiB/s over 61 samples with 1 MiB of noise: 7,200 MiB/h.
        let g = memory_growth(&series(61, 50.0 * MIB, 2.0 * MIB, MIB), 61.0).unwrap();
        assert!(g.leak, "{g:?}");
        assert!((g.bytes_per_h / (7200.0 * MIB) - 1.0).abs() < 0.01, "{g:?}");
        assert!(g.low_bytes_per_h < g.bytes_per_h && g.bytes_per_h < g.high_bytes_per_h);
        assert_eq!(g.samples, 61 - 12);
        assert!(
            g.sentence().starts_with("memory grows 7.03 GiB/h (95 %: "),
            "{}",
            g.sentence()
        );
        assert!(g.sentence().ends_with("suspected leak"));
    }

    #[test]
    fn flat_noisy_stepped_and_short_series_make_no_claim() {
        // Flat with noise.
        let flat = memory_growth(&series(61, 50.0 * MIB, 0.0, MIB), 61.0).unwrap();
        assert!(!flat.leak, "{flat:?}");
        assert!(
            flat.sentence().starts_with("no growth detected (≤ "),
            "{}",
            flat.sentence()
        );
        // Grew 20 MiB in its first 30 s, then flat: a cache filling.
        let stepped: Vec<(f64, f64)> = (0..61)
            .map(|i| {
                let t = i as f64;
                (t, 50.0 * MIB + 20.0 * MIB * (t / 30.0).min(1.0))
            })
            .collect();
        let g = memory_growth(&stepped, 61.0).unwrap();
        assert!(g.low_bytes_per_h > 0.0, "the whole slope is real: {g:?}");
        assert!(!g.leak, "but it stopped: {g:?}");
        // Real but below the floor: 1 % of 1 GiB per hour is 10 MiB/h.
        let slow = memory_growth(&series(61, 1024.0 * MIB, 5.0 * MIB / 3600.0, 0.0), 61.0).unwrap();
        assert!(!slow.leak && slow.low_bytes_per_h > 0.0, "{slow:?}");
        // Too short, too few.
        assert_eq!(
            memory_growth(&series(30, MIB, MIB, 0.0), 30.0),
            Err(NoVerdict::TooShort { span_s: 30.0 })
        );
        let sparse: Vec<(f64, f64)> = (0..7).map(|i| (i as f64 * 10.0, MIB)).collect();
        assert_eq!(
            memory_growth(&sparse, 61.0),
            Err(NoVerdict::TooFewSamples { samples: 6 })
        );
    }
}
