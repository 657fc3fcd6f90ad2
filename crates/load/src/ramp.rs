//! An open-model arrival rate that ramps linearly from one target to the
//! next over stages (`--stages 30s:100,1m:1000,30s:0`, as k6's
//! ramping-arrival-rate executor), and when each operation is due under it.
//! Pure: the engine asks [`RateRamp::time_of`] for the intended start of
//! the k-th operation and measures latency from it, so a ramp is
//! coordinated-omission corrected exactly as a fixed rate is.

use std::time::Duration;

/// Stages of a linearly ramping arrival rate.
#[derive(Debug, Clone, PartialEq)]
pub struct RateRamp {
    /// The rate at the start of the first stage, operations per second.
    pub start_rate: f64,
    /// Each stage: its length and the rate it ends at.
    pub stages: Vec<(Duration, f64)>,
}

/// Why a stage list was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("--stages '{text}': {why} (e.g. 30s:100,1m:1000,30s:0 — each stage's length and the rate it ramps to)")]
pub struct RampError {
    text: String,
    why: String,
}

impl RateRamp {
    /// Parses `30s:100,1m:1000,30s:0` (the first stage starts at 0/s) with
    /// `duration` parsing each length.
    pub fn parse(
        text: &str,
        duration: impl Fn(&str) -> Result<Duration, String>,
    ) -> Result<RateRamp, RampError> {
        let fail = |why: String| RampError {
            text: text.to_string(),
            why,
        };
        let mut stages = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (length, rate) = part
                .split_once(':')
                .ok_or_else(|| fail(format!("'{part}' is not LENGTH:RATE")))?;
            let length = duration(length).map_err(fail)?;
            if length.is_zero() {
                return Err(fail(format!("'{part}' lasts no time")));
            }
            let rate: f64 = rate
                .trim()
                .trim_end_matches("/s")
                .parse()
                .map_err(|_| fail(format!("'{rate}' is not a rate")))?;
            if !(rate.is_finite() && rate >= 0.0) {
                return Err(fail(format!("'{rate}' is not a rate of 0 or more")));
            }
            stages.push((length, rate));
        }
        if stages.is_empty() {
            return Err(fail("no stage".into()));
        }
        Ok(RateRamp {
            start_rate: 0.0,
            stages,
        })
    }

    /// The whole ramp's length.
    pub fn total(&self) -> Duration {
        self.stages.iter().map(|s| s.0).sum()
    }

    /// Each stage as (start s, length s, rate at its start, rate at its end).
    pub fn spans(&self) -> Vec<(f64, f64, f64, f64)> {
        let mut at = 0.0;
        let mut from = self.start_rate;
        self.stages
            .iter()
            .map(|(length, to)| {
                let span = (at, length.as_secs_f64(), from, *to);
                at += length.as_secs_f64();
                from = *to;
                span
            })
            .collect()
    }

    /// Operations intended from the start to `t` seconds: the integral of
    /// the rate.
    pub fn count_until(&self, t: f64) -> f64 {
        self.spans()
            .into_iter()
            .map(|(start, length, a, b)| {
                let tau = (t - start).clamp(0.0, length);
                a * tau + (b - a) * tau * tau / (2.0 * length)
            })
            .sum()
    }

    /// Operations the schedule intends in the whole ramp.
    pub fn intended(&self) -> f64 {
        self.count_until(self.total().as_secs_f64())
    }

    /// Seconds from the start at which `count` operations are due (the
    /// integral of the rate reaches `count`); `None` past the ramp's end.
    pub fn time_of(&self, count: f64) -> Option<f64> {
        let mut before = 0.0;
        for (start, length, a, b) in self.spans() {
            let in_stage = (a + b) / 2.0 * length;
            if count <= before + in_stage {
                let x = count - before;
                // a·τ + (b − a)·τ²/(2L) = x, solved in the form that stays
                // exact when b = a and when a = 0.
                let slope = (b - a) / length;
                let root = (a * a + 2.0 * slope * x).max(0.0).sqrt();
                let tau = if a + root > 0.0 {
                    2.0 * x / (a + root)
                } else {
                    0.0
                };
                return Some(start + tau.min(length));
            }
            before += in_stage;
        }
        None
    }

    /// The mean intended rate over the ramp.
    pub fn mean_rate(&self) -> f64 {
        let total = self.total().as_secs_f64();
        if total > 0.0 {
            self.intended() / total
        } else {
            0.0
        }
    }

    /// The highest rate of the ramp.
    pub fn peak_rate(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.1)
            .fold(self.start_rate, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(text: &str) -> Result<Duration, String> {
        text.trim_end_matches('s')
            .parse::<f64>()
            .map(Duration::from_secs_f64)
            .map_err(|_| format!("'{text}' is not a duration"))
    }

    #[test]
    fn stages_parse_and_refuse_nonsense() {
        let ramp = RateRamp::parse("10s:100, 20s:1000,10s:0", seconds).unwrap();
        assert_eq!(ramp.total(), Duration::from_secs(40));
        assert_eq!(ramp.stages[1], (Duration::from_secs(20), 1000.0));
        // 0→100 over 10 s: 500; 100→1000 over 20 s: 11,000; 1000→0 over 10 s: 5,000.
        assert!((ramp.intended() - 16_500.0).abs() < 1e-6);
        assert_eq!(ramp.peak_rate(), 1000.0);
        for bad in ["", "10s", "10s:x", "0s:5", "10s:-1", "x:5"] {
            assert!(RateRamp::parse(bad, seconds).is_err(), "{bad}");
        }
    }

    #[test]
    fn due_times_invert_the_integral_of_the_rate() {
        let ramp = RateRamp::parse("10s:100,20s:100,10s:0", seconds).unwrap();
        // 0→100 over 10 s: count(t) = 5t², so the 125th is due at 5 s.
        assert!((ramp.time_of(125.0).unwrap() - 5.0).abs() < 1e-9);
        // The flat stage: one every 10 ms after the first 500.
        assert!((ramp.time_of(600.0).unwrap() - 11.0).abs() < 1e-9);
        for k in [1.0, 77.0, 500.0, 1234.0, 2499.0, 3000.0] {
            let t = ramp.time_of(k).unwrap();
            assert!((ramp.count_until(t) - k).abs() < 1e-6, "{k} at {t}");
        }
        assert_eq!(ramp.time_of(3001.0), None);
        assert_eq!(ramp.time_of(0.0), Some(0.0));
    }
}
