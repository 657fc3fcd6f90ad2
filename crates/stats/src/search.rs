//! Finding the capacity instead of measuring guessed levels (pure: each
//! search decides the next level from the levels measured so far; the
//! caller runs the steps).
//!
//! - [`PeakSearch`] (`sweep --until-peak`): levels grow geometrically until
//!   throughput stops rising beyond its noise and at least two measured
//!   levels lie past the fitted USL peak N* (or an SLO or error bound is
//!   crossed, or the maximum level is reached); then two levels refine
//!   around N*, so the peak is measured, bracketed by levels, not
//!   extrapolated.
//! - [`CapacitySearch`] (`--slo`): the highest level (connections, or an
//!   arrival rate) that meets every [`Slo`] for a whole step: expanding by
//!   doubling until a level fails, then bisection to the precision. The
//!   answer comes with its bracket: the last level that met the SLOs and
//!   the first that broke one, and which SLO broke.
//!
//! Both stop raising the load when errors pass half the operations or the
//! target stops answering ([`Abort`]), and say so.

use crate::number::{pct, sig};
use crate::summary::StepSummary;
use crate::usl::{self, Point, UslFit};
use scalewall_model::Step;
use std::fmt;
use std::str::FromStr;

/// Errors above this share of a step's operations stop a search.
pub const ABORT_ERROR_PCT: f64 = 50.0;

/// The figure an SLO bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SloFigure {
    /// A latency percentile (50, 90, 99, 99.9), milliseconds.
    Percentile(f64),
    /// The slowest response, milliseconds.
    Max,
    /// Errors as a share of operations, %.
    ErrorPct,
    /// Throughput, operations per second.
    Throughput,
    /// Open model: the throughput as a share of the arrival rate asked
    /// for, % (a target that falls behind its arrivals is past its
    /// capacity whatever its latency says yet).
    RateKept,
}

/// A service level objective a step must meet for its whole span:
/// `p99<50ms`, `p50<10ms`, `max<1s`, `errors<1%`, `rps>1000`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// What it bounds.
    pub figure: SloFigure,
    /// The bound, in the figure's unit (ms, %, ops/s).
    pub limit: f64,
    /// As the user wrote it.
    pub text: String,
}

/// Why an SLO expression was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("SLO '{text}': {why} (e.g. p99<50ms, p50<10ms, max<1s, errors<1%, rps>1000)")]
pub struct SloError {
    text: String,
    why: String,
}

fn milliseconds(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic() || c == 'µ')?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.trim().parse().ok()?;
    let scale = match unit.trim() {
        "us" | "µs" => 1e-3,
        "ms" => 1.0,
        "s" => 1e3,
        _ => return None,
    };
    (value.is_finite() && value > 0.0).then_some(value * scale)
}

impl FromStr for Slo {
    type Err = SloError;

    fn from_str(text: &str) -> Result<Slo, SloError> {
        let fail = |why: &str| SloError {
            text: text.to_string(),
            why: why.to_string(),
        };
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let (name, op, value) = if let Some((n, v)) = compact.split_once('<') {
            (n, '<', v)
        } else if let Some((n, v)) = compact.split_once('>') {
            (n, '>', v)
        } else {
            return Err(fail("no < or >"));
        };
        let name = name.to_ascii_lowercase();
        let (figure, limit) = match (name.as_str(), op) {
            ("errors" | "error", '<') => {
                let v = value
                    .strip_suffix('%')
                    .ok_or_else(|| fail("an error bound is a percentage"))?;
                let v: f64 = v.parse().map_err(|_| fail("not a number"))?;
                if !(0.0..=100.0).contains(&v) {
                    return Err(fail("a percentage is 0–100"));
                }
                (SloFigure::ErrorPct, v)
            }
            ("rps" | "throughput", '>') => {
                let v: f64 = value
                    .trim_end_matches("/s")
                    .parse()
                    .map_err(|_| fail("not a number"))?;
                if !(v.is_finite() && v > 0.0) {
                    return Err(fail("throughput must be > 0"));
                }
                (SloFigure::Throughput, v)
            }
            ("kept", '>') => {
                let v = value
                    .strip_suffix('%')
                    .ok_or_else(|| fail("a kept rate is a percentage"))?;
                let v: f64 = v.parse().map_err(|_| fail("not a number"))?;
                if !(v > 0.0 && v <= 100.0) {
                    return Err(fail("a percentage is 0–100"));
                }
                (SloFigure::RateKept, v)
            }
            ("max", '<') => (
                SloFigure::Max,
                milliseconds(value).ok_or_else(|| fail("a latency takes a unit: us, ms or s"))?,
            ),
            (p, '<') if p.starts_with('p') => {
                let q: f64 = p[1..].parse().map_err(|_| fail("unknown percentile"))?;
                if !(q > 0.0 && q < 100.0) {
                    return Err(fail("a percentile is between 0 and 100"));
                }
                (
                    SloFigure::Percentile(q),
                    milliseconds(value)
                        .ok_or_else(|| fail("a latency takes a unit: us, ms or s"))?,
                )
            }
            _ => return Err(fail("latency and errors take <, throughput takes >")),
        };
        Ok(Slo {
            figure,
            limit,
            text: compact,
        })
    }
}

/// One measured level, as a search sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Connections (closed model) or arrival rate (open model).
    pub level: f64,
    /// Responses per second.
    pub throughput: f64,
    /// Per-interval throughput samples (for the noise).
    pub samples: Vec<f64>,
    /// Latency percentiles, ms: (percentile, value), ascending.
    pub percentiles_ms: Vec<(f64, f64)>,
    /// Slowest response, ms.
    pub max_ms: f64,
    /// Errors as a share of operations, %.
    pub error_pct: f64,
    /// Responses.
    pub responses: u64,
}

impl Probe {
    /// A measured step at `level`, with every percentile `slos` name read
    /// from its histogram.
    pub fn of_step(step: &Step, level: f64, slos: &[Slo]) -> Probe {
        let summary = StepSummary::of(step);
        let samples = crate::metrics::full_intervals(step)
            .into_iter()
            .map(|i| i.responses as f64 / i.duration_s)
            .collect();
        let mut quantiles: Vec<f64> = vec![50.0, 90.0, 99.0, 99.9];
        quantiles.extend(slos.iter().filter_map(|s| match s.figure {
            SloFigure::Percentile(q) => Some(q),
            _ => None,
        }));
        quantiles.sort_by(f64::total_cmp);
        quantiles.dedup();
        Probe {
            level,
            throughput: summary.rps,
            samples,
            percentiles_ms: quantiles
                .into_iter()
                .map(|q| {
                    (
                        q,
                        step.latency_us.value_at_quantile(q / 100.0) as f64 / 1000.0,
                    )
                })
                .collect(),
            max_ms: summary.latency_ms.max,
            error_pct: summary.error_ratio * 100.0,
            responses: summary.requests,
        }
    }

    /// The value of a latency percentile (the nearest one measured at or
    /// above it).
    fn percentile(&self, q: f64) -> f64 {
        self.percentiles_ms
            .iter()
            .find(|(p, _)| *p >= q - 1e-9)
            .or(self.percentiles_ms.last())
            .map_or(f64::INFINITY, |(_, v)| *v)
    }

    /// Half the width of the throughput's 95 % interval, relative (at
    /// least 1 %): what a change must beat to count as a rise.
    pub fn noise(&self) -> f64 {
        let n = self.samples.len();
        if n < 2 || self.throughput <= 0.0 {
            return 0.05;
        }
        let mean = self.samples.iter().sum::<f64>() / n as f64;
        let var = self.samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (2.0 * var.sqrt() / (n as f64).sqrt() / self.throughput).max(0.01)
    }
}

impl Slo {
    /// The open model's implicit bound: a level whose throughput falls
    /// below `share` (0.98) of its arrival rate did not sustain it.
    pub fn rate_kept(share: f64) -> Slo {
        Slo {
            figure: SloFigure::RateKept,
            limit: share * 100.0,
            text: format!("kept>{}%", sig(share * 100.0)),
        }
    }

    /// The step's value of the bounded figure.
    pub fn measured(&self, p: &Probe) -> f64 {
        match self.figure {
            SloFigure::Percentile(q) => p.percentile(q),
            SloFigure::Max => p.max_ms,
            SloFigure::ErrorPct => p.error_pct,
            SloFigure::Throughput => p.throughput,
            SloFigure::RateKept => {
                if p.level > 0.0 {
                    p.throughput / p.level * 100.0
                } else {
                    0.0
                }
            }
        }
    }

    /// Responses a step needs before its percentile can break this bound:
    /// ten beyond the percentile (1,000 for p99, 20 for p50), as a p99
    /// sample needs 1,000 responses elsewhere in scalewall. A step with
    /// fewer cannot claim a break: one slow response would decide it.
    pub fn responses_needed(&self) -> u64 {
        match self.figure {
            SloFigure::Percentile(q) => (10.0 / (1.0 - q / 100.0)).ceil() as u64,
            _ => 1,
        }
    }

    /// Whether a step has enough responses to judge this bound.
    pub fn judgeable(&self, p: &Probe) -> bool {
        p.responses >= self.responses_needed()
    }

    /// Whether the step met it (a step without responses meets no latency
    /// or throughput bound; one with too few to judge a percentile has not
    /// broken it).
    pub fn met(&self, p: &Probe) -> bool {
        if p.responses > 0 && !self.judgeable(p) {
            return true;
        }
        let value = self.measured(p);
        match self.figure {
            SloFigure::Throughput => value > self.limit,
            SloFigure::RateKept => value >= self.limit,
            _ => p.responses > 0 && value < self.limit,
        }
    }

    /// `p99 11.4 ms` — the figure and its measured value.
    pub fn describe(&self, p: &Probe) -> String {
        let value = self.measured(p);
        match self.figure {
            SloFigure::Percentile(q) => format!("p{} {} ms", sig(q), sig(value)),
            SloFigure::Max => format!("max {} ms", sig(value)),
            SloFigure::ErrorPct => format!("errors {}", pct(value)),
            SloFigure::Throughput => format!("throughput {}/s", sig(value)),
            SloFigure::RateKept => format!("throughput {} of the rate", pct(value)),
        }
    }
}

/// Why a search stopped raising the load early.
#[derive(Debug, Clone, PartialEq)]
pub enum Abort {
    /// More than [`ABORT_ERROR_PCT`] of a step's operations failed.
    Errors {
        /// The level.
        level: f64,
        /// Its error share, %.
        error_pct: f64,
    },
    /// A step got no response at all.
    NoAnswer {
        /// The level.
        level: f64,
    },
}

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Abort::Errors { level, error_pct } => write!(
                f,
                "stopped raising the load: {} of the operations failed at {} (more than {})",
                pct(*error_pct),
                sig(*level),
                pct(ABORT_ERROR_PCT)
            ),
            Abort::NoAnswer { level } => write!(
                f,
                "stopped raising the load: the target gave no response at {}",
                sig(*level)
            ),
        }
    }
}

/// The abort a probe calls for, when it does.
pub fn abort_of(p: &Probe) -> Option<Abort> {
    if p.responses == 0 {
        Some(Abort::NoAnswer { level: p.level })
    } else if p.error_pct > ABORT_ERROR_PCT {
        Some(Abort::Errors {
            level: p.level,
            error_pct: p.error_pct,
        })
    } else {
        None
    }
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next<T> {
    /// Measure this level.
    Measure(f64),
    /// The search is over.
    Done(T),
}

/// Why a capacity search ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CapacityStop {
    /// A level that meets the SLOs and one that breaks them, within the precision.
    Bracketed,
    /// Every level up to the maximum met the SLOs.
    AtMaximum,
    /// Even the lowest level broke an SLO.
    LowestFails,
    /// Errors or silence stopped the search.
    Aborted(Abort),
    /// The time budget ran out (the caller's decision).
    Budget,
}

/// The capacity under the SLOs.
#[derive(Debug, Clone, PartialEq)]
pub struct Capacity {
    /// The highest level that met every SLO (`None` when none did).
    pub value: Option<f64>,
    /// The lowest level that broke one (`None` when none did).
    pub breaks_at: Option<f64>,
    /// What broke at `breaks_at`: `p99 11.4 ms ≥ p99<11ms`.
    pub limited_by: Option<String>,
    /// Why the search ended.
    pub stop: CapacityStop,
}

impl Capacity {
    /// The answer in one sentence, with its bracket and what broke:
    /// `capacity under p99<11ms: 15 connections (16 connections breaks
    /// it: p99 11.15 ms ≥ the bound of p99<11ms)`.
    pub fn sentence(&self, slos: &[Slo], unit: &str) -> String {
        let under = slos
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let what = self.limited_by.as_deref().unwrap_or("an SLO broke");
        let mut s = match (self.value, self.breaks_at) {
            (Some(v), Some(h)) => format!(
                "capacity under {under}: {} {unit} ({} {unit} breaks it: {what})",
                sig(v),
                sig(h)
            ),
            (Some(v), None) => format!(
                "capacity under {under}: at least {} {unit} (no level measured broke them)",
                sig(v)
            ),
            (None, Some(h)) => format!(
                "no capacity under {under}: even {} {unit} breaks them ({what})",
                sig(h)
            ),
            (None, None) => format!(
                "no capacity under {under}: no level had enough responses to judge them (a p99 needs 1,000 a step, a p50 20: lengthen --step)"
            ),
        };
        match &self.stop {
            CapacityStop::Aborted(a) => s.push_str(&format!("; {a}")),
            CapacityStop::Budget => s.push_str("; stopped: the time budget ran out"),
            CapacityStop::AtMaximum => s.push_str("; stopped at the maximum level"),
            CapacityStop::Bracketed | CapacityStop::LowestFails => {}
        }
        s
    }
}

/// Expanding, then bisection, to the highest level that meets every SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacitySearch {
    /// The objectives.
    pub slos: Vec<Slo>,
    /// The first level.
    pub start: f64,
    /// The lowest level worth measuring (1 connection; a rate's floor).
    pub min: f64,
    /// The highest level it may measure.
    pub max: f64,
    /// Stop when the bracket is this narrow, relative (0.05 = 5 %).
    pub precision: f64,
    /// Levels are whole numbers (connections).
    pub integer: bool,
}

/// The SLOs a probe had too few responses to judge, in words
/// (`p99<11ms needs 1,000 responses, had 200`).
pub fn unjudged(slos: &[Slo], p: &Probe) -> Vec<String> {
    slos.iter()
        .filter(|s| p.responses > 0 && !s.judgeable(p))
        .map(|s| {
            format!(
                "{} needs {} responses, had {}",
                s.text,
                crate::number::group(s.responses_needed()),
                crate::number::group(p.responses)
            )
        })
        .collect()
}

/// The first SLO a probe breaks, with its measured value
/// (`p99 11.15 ms ≥ the bound of p99<11ms`).
pub fn broken(slos: &[Slo], p: &Probe) -> Option<String> {
    slos.iter().find(|s| !s.met(p)).map(|s| {
        let relation = if matches!(s.figure, SloFigure::Throughput | SloFigure::RateKept) {
            "≤"
        } else {
            "≥"
        };
        format!("{} {relation} the bound of {}", s.describe(p), s.text)
    })
}

impl CapacitySearch {
    fn round(&self, level: f64) -> f64 {
        let level = level.clamp(self.min, self.max);
        if self.integer {
            level.round().max(1.0)
        } else {
            level
        }
    }

    fn outcome(&self, probes: &[Probe], stop: CapacityStop) -> Capacity {
        let (low, high) = bracket(&self.slos, probes);
        Capacity {
            value: low.map(|p| p.level),
            breaks_at: high.map(|p| p.level),
            limited_by: high.and_then(|p| broken(&self.slos, p)),
            stop,
        }
    }

    /// Ends the search where it stands (the time budget ran out).
    pub fn finish(&self, probes: &[Probe]) -> Capacity {
        self.outcome(probes, CapacityStop::Budget)
    }

    /// The next level to measure, or the answer.
    pub fn next(&self, probes: &[Probe]) -> Next<Capacity> {
        if probes.is_empty() {
            return Next::Measure(self.round(self.start));
        }
        if let Some(abort) = probes.iter().find_map(abort_of) {
            return Next::Done(self.outcome(probes, CapacityStop::Aborted(abort)));
        }
        let (low, high) = bracket(&self.slos, probes);
        let measured = |level: f64| probes.iter().any(|p| (p.level - level).abs() < 1e-9);
        match (low, high) {
            (_, None) => {
                let top = probes.iter().map(|p| p.level).fold(f64::MIN, f64::max);
                if top >= self.max {
                    Next::Done(self.outcome(probes, CapacityStop::AtMaximum))
                } else {
                    Next::Measure(self.round(top * 2.0))
                }
            }
            (None, Some(high)) => {
                let lower = self.round(high.level / 2.0);
                // Below a broken level nothing met the SLOs on enough
                // responses: a lower level that was measured already ends it.
                if high.level <= self.min || measured(lower) {
                    Next::Done(self.outcome(probes, CapacityStop::LowestFails))
                } else {
                    Next::Measure(lower)
                }
            }
            (Some(low), Some(high)) => {
                let narrow = if self.integer {
                    high.level - low.level <= 1.0
                } else {
                    false
                } || (high.level - low.level) / low.level <= self.precision;
                let middle = self.round((low.level + high.level) / 2.0);
                if narrow || measured(middle) {
                    Next::Done(self.outcome(probes, CapacityStop::Bracketed))
                } else {
                    Next::Measure(middle)
                }
            }
        }
    }
}

/// The lowest level that breaks an SLO, and the highest level below it
/// that meets them all.
fn bracket<'a>(slos: &[Slo], probes: &'a [Probe]) -> (Option<&'a Probe>, Option<&'a Probe>) {
    let high = probes
        .iter()
        .filter(|p| broken(slos, p).is_some())
        .min_by(|a, b| a.level.total_cmp(&b.level));
    // Only a level judged on enough responses counts as meeting them.
    let low = probes
        .iter()
        .filter(|p| {
            broken(slos, p).is_none()
                && unjudged(slos, p).is_empty()
                && high.is_none_or(|h| p.level < h.level)
        })
        .max_by(|a, b| a.level.total_cmp(&b.level));
    (low, high)
}

/// Why a peak search ended.
#[derive(Debug, Clone, PartialEq)]
pub enum PeakStop {
    /// The peak is bracketed: levels were measured on both sides of N*.
    Bracketed,
    /// An SLO broke before the peak.
    Slo(String),
    /// The maximum level was reached.
    AtMaximum,
    /// Errors or silence stopped the search.
    Aborted(Abort),
    /// The time budget ran out (the caller's decision).
    Budget,
}

/// The result of a peak search.
#[derive(Debug, Clone, PartialEq)]
pub struct Peak {
    /// The USL fit of every measured level, or why there is none.
    pub fit: Result<UslFit, String>,
    /// The measured levels just below and just above N*, when both exist.
    pub bracket: Option<(f64, f64)>,
    /// Why it ended.
    pub stop: PeakStop,
}

impl Peak {
    /// The verdict in one sentence: whether the peak was measured.
    pub fn sentence(&self, unit: &str) -> String {
        let n = self.fit.as_ref().ok().and_then(UslFit::peak_concurrency);
        let mut s = match (&self.fit, n, self.bracket) {
            (Ok(fit), Some(n), Some((lo, hi))) => format!(
                "peak measured: N* ≈ {} at {} {unit}, bracketed by the levels {} and {}",
                crate::number::sig_n(n, 3),
                crate::number::sig_n(fit.throughput_at(n), 4),
                sig(lo),
                sig(hi)
            ),
            (Ok(_), Some(n), None) => format!(
                "peak not bracketed: the fit puts N* at ≈ {}, outside the measured levels",
                crate::number::sig_n(n, 3)
            ),
            (Ok(_), None, _) => "no peak: throughput kept rising over the measured levels".into(),
            (Err(e), _, _) => format!("no USL fit: {e}"),
        };
        match &self.stop {
            PeakStop::Slo(what) => s.push_str(&format!("; stopped at an SLO: {what}")),
            PeakStop::AtMaximum => s.push_str("; stopped at the maximum level"),
            PeakStop::Aborted(a) => s.push_str(&format!("; {a}")),
            PeakStop::Budget => s.push_str("; stopped: the time budget ran out"),
            PeakStop::Bracketed => {}
        }
        s
    }
}

/// Levels growing geometrically to past the USL peak, then refined around it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeakSearch {
    /// The first level.
    pub start: f64,
    /// Growth factor between levels (2).
    pub factor: f64,
    /// The highest level it may measure.
    pub max: f64,
    /// Bounds that stop the growth when a level breaks one.
    pub slos: Vec<Slo>,
    /// Levels measured around N* once it is passed (2).
    pub refine: usize,
}

fn fit_of(probes: &[Probe]) -> Result<UslFit, String> {
    let points: Vec<Point> = probes
        .iter()
        .filter(|p| p.throughput > 0.0 && p.responses > 0)
        .map(|p| Point {
            concurrency: p.level,
            throughput: p.throughput,
        })
        .collect();
    usl::fit(&points).map_err(|e| e.to_string())
}

impl PeakSearch {
    fn outcome(&self, probes: &[Probe], stop: PeakStop) -> Peak {
        let fit = fit_of(probes);
        let bracket = fit
            .as_ref()
            .ok()
            .and_then(UslFit::peak_concurrency)
            .and_then(|n| {
                let below = probes
                    .iter()
                    .map(|p| p.level)
                    .filter(|l| *l <= n)
                    .fold(None, |m: Option<f64>, l| Some(m.map_or(l, |m| m.max(l))));
                let above = probes
                    .iter()
                    .map(|p| p.level)
                    .filter(|l| *l > n)
                    .fold(None, |m: Option<f64>, l| Some(m.map_or(l, |m| m.min(l))));
                below.zip(above)
            });
        Peak { fit, bracket, stop }
    }

    /// Ends the search where it stands (the time budget ran out).
    pub fn finish(&self, probes: &[Probe]) -> Peak {
        self.outcome(probes, PeakStop::Budget)
    }

    /// Whether the growth phase is over, and why.
    fn grown(&self, probes: &[Probe]) -> Option<PeakStop> {
        let last = probes.last()?;
        if let Some(abort) = abort_of(last) {
            return Some(PeakStop::Aborted(abort));
        }
        if let Some(what) = broken(&self.slos, last) {
            return Some(PeakStop::Slo(what));
        }
        let best = probes
            .iter()
            .max_by(|a, b| a.throughput.total_cmp(&b.throughput))?;
        let rising =
            last.level > best.level || last.throughput > best.throughput * (1.0 - best.noise());
        let stalled = !rising
            || last.throughput <= best.throughput * (1.0 + best.noise()) && last.level > best.level;
        if let Some(n) = fit_of(probes)
            .ok()
            .as_ref()
            .and_then(UslFit::peak_concurrency)
        {
            let past = probes.iter().filter(|p| p.level > n).count();
            if past >= 2 && stalled {
                return Some(PeakStop::Bracketed);
            }
        }
        if last.level * self.factor > self.max && last.level >= self.max {
            return Some(PeakStop::AtMaximum);
        }
        None
    }

    /// The next level to measure, or the result.
    pub fn next(&self, probes: &[Probe]) -> Next<Peak> {
        if probes.is_empty() {
            return Next::Measure(self.start.max(1.0).round());
        }
        // The growth phase ends at the first level where it should; the
        // levels after it are the refinement.
        let grown_at = (1..=probes.len()).find_map(|k| self.grown(&probes[..k]).map(|s| (k, s)));
        let Some((k, stop)) = grown_at else {
            let top = probes.iter().map(|p| p.level).fold(f64::MIN, f64::max);
            return Next::Measure((top * self.factor).round().min(self.max).max(top + 1.0));
        };
        if matches!(stop, PeakStop::Aborted(_)) {
            return Next::Done(self.outcome(probes, stop));
        }
        let refined = probes.len() - k;
        if refined < self.refine {
            if let Some(level) = self.refinement(probes, &probes[..k]) {
                return Next::Measure(level);
            }
        }
        Next::Done(self.outcome(probes, stop))
    }

    /// An unmeasured level between N* (fitted on every probe) and the
    /// levels around it when the growth stopped (their geometric
    /// midpoints with N*), nearest to N* first: one on each side.
    fn refinement(&self, probes: &[Probe], grown: &[Probe]) -> Option<f64> {
        let n = fit_of(probes).ok()?.peak_concurrency()?;
        let levels: Vec<f64> = grown.iter().map(|p| p.level).collect();
        let below = levels
            .iter()
            .copied()
            .filter(|l| *l <= n)
            .fold(f64::NAN, f64::max);
        let above = levels
            .iter()
            .copied()
            .filter(|l| *l > n)
            .fold(f64::NAN, f64::min);
        let mut candidates = Vec::new();
        if below.is_finite() {
            candidates.push((below * n).sqrt().round());
        }
        if above.is_finite() {
            candidates.push((n * above).sqrt().round());
        }
        candidates
            .into_iter()
            .filter(|c| {
                *c >= 1.0 && *c <= self.max && !probes.iter().any(|p| (p.level - c).abs() < 0.5)
            })
            .min_by(|a, b| (a - n).abs().total_cmp(&(b - n).abs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step of a server whose requests are held
    /// `latency` × (1 + σ(n−1) + κn(n−1)) with n in flight: throughput
    /// n / hold, every response taking the hold (so every percentile
    /// equals it).
    fn closed_probe(n: f64, latency_ms: f64, sigma: f64, kappa: f64) -> Probe {
        let hold = latency_ms * (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0));
        let x = n / hold * 1000.0;
        Probe {
            level: n,
            throughput: x,
            samples: vec![x * 0.99, x, x * 1.01, x],
            percentiles_ms: vec![(50.0, hold), (99.0, hold), (99.9, hold)],
            max_ms: hold,
            error_pct: 0.0,
            responses: (x * 2.0) as u64,
        }
    }

    fn run<T>(next: impl Fn(&[Probe]) -> Next<T>, probe: impl Fn(f64) -> Probe) -> (T, Vec<f64>) {
        let mut probes = Vec::new();
        for _ in 0..40 {
            match next(&probes) {
                Next::Measure(level) => probes.push(probe(level)),
                Next::Done(t) => return (t, probes.iter().map(|p| p.level).collect()),
            }
        }
        panic!(
            "the search did not end: {:?}",
            probes.iter().map(|p| p.level).collect::<Vec<_>>()
        );
    }

    #[test]
    fn slos_parse_with_their_units_and_refuse_nonsense() {
        let p99: Slo = "p99<11ms".parse().unwrap();
        assert_eq!((p99.figure, p99.limit), (SloFigure::Percentile(99.0), 11.0));
        let max: Slo = "max < 1s".parse().unwrap();
        assert_eq!((max.figure, max.limit), (SloFigure::Max, 1000.0));
        let p999: Slo = "p99.9<500us".parse().unwrap();
        assert_eq!(
            (p999.figure, p999.limit),
            (SloFigure::Percentile(99.9), 0.5)
        );
        let errors: Slo = "errors<1%".parse().unwrap();
        assert_eq!((errors.figure, errors.limit), (SloFigure::ErrorPct, 1.0));
        let kept = Slo::rate_kept(0.98);
        assert_eq!(
            kept.text.parse::<Slo>().unwrap(),
            kept,
            "it reads back from a stored run"
        );
        let rps: Slo = "rps>1000".parse().unwrap();
        assert_eq!((rps.figure, rps.limit), (SloFigure::Throughput, 1000.0));
        for bad in [
            "p99>10ms",
            "p99<10",
            "errors<1",
            "rps<5",
            "p100<1ms",
            "latency<1ms",
            "p99",
        ] {
            assert!(bad.parse::<Slo>().is_err(), "{bad}");
        }
        // A p99 judged on 200 responses is the second-slowest response: it
        // cannot break the bound; 1,000 can.
        let slow = Probe {
            level: 1.0,
            throughput: 100.0,
            samples: vec![],
            percentiles_ms: vec![(99.0, 20.0)],
            max_ms: 20.0,
            error_pct: 0.0,
            responses: 200,
        };
        assert!(p99.met(&slow));
        assert_eq!(
            unjudged(std::slice::from_ref(&p99), &slow),
            vec!["p99<11ms needs 1,000 responses, had 200"]
        );
        assert!(!p99.met(&Probe {
            responses: 1000,
            ..slow
        }));
        let e = "p99<10".parse::<Slo>().unwrap_err().to_string();
        assert!(e.starts_with("SLO 'p99<10': a latency takes a unit"), "{e}");
    }

    /// Issue 17's known answer: 5 ms, σ 0.05, κ 0.002 holds a request
    /// 11 ms at n = 15.7, so 15 connections meet p99 < 11 ms and 16 break it.
    #[test]
    fn the_capacity_under_an_slo_is_bracketed_to_one_connection() {
        let search = CapacitySearch {
            slos: vec!["p99<11ms".parse().unwrap()],
            start: 1.0,
            min: 1.0,
            max: 1024.0,
            precision: 0.05,
            integer: true,
        };
        let (capacity, levels) = run(|p| search.next(p), |n| closed_probe(n, 5.0, 0.05, 0.002));
        assert_eq!(capacity.value, Some(15.0), "{levels:?}");
        assert_eq!(capacity.breaks_at, Some(16.0));
        assert_eq!(capacity.stop, CapacityStop::Bracketed);
        assert_eq!(
            capacity.limited_by.as_deref(),
            Some("p99 11.15 ms ≥ the bound of p99<11ms")
        );
        assert_eq!(levels, vec![1.0, 2.0, 4.0, 8.0, 16.0, 12.0, 14.0, 15.0]);
        assert_eq!(
            capacity.sentence(&search.slos, "connections"),
            "capacity under p99<11ms: 15 connections (16 connections breaks it: p99 11.15 ms ≥ the bound of p99<11ms)"
        );
    }

    #[test]
    fn a_rate_search_stops_at_its_precision() {
        // An open-model target that meets p99 < 11 ms up to 1,430/s.
        let probe = |rate: f64| Probe {
            level: rate,
            throughput: rate,
            samples: vec![rate; 4],
            percentiles_ms: vec![(99.0, if rate <= 1430.0 { 8.0 } else { 40.0 })],
            max_ms: 50.0,
            error_pct: 0.0,
            // 2 s steps: a p99 is judged from 500/s up.
            responses: (rate * 2.0) as u64,
        };
        let search = CapacitySearch {
            slos: vec!["p99<11ms".parse().unwrap()],
            start: 100.0,
            min: 1.0,
            max: 1e6,
            precision: 0.05,
            integer: false,
        };
        let (capacity, _) = run(|p| search.next(p), probe);
        let (low, high) = (capacity.value.unwrap(), capacity.breaks_at.unwrap());
        assert!(
            low <= 1430.0 && high > 1430.0 && (high - low) / low <= 0.05,
            "{low}–{high}"
        );
    }

    #[test]
    fn searches_stop_on_errors_silence_the_maximum_or_a_failing_start() {
        let failing = |rate: f64| Probe {
            error_pct: if rate > 300.0 { 80.0 } else { 0.0 },
            ..closed_probe(rate, 1.0, 0.0, 0.0)
        };
        let search = CapacitySearch {
            slos: vec!["errors<1%".parse().unwrap()],
            start: 100.0,
            min: 1.0,
            max: 1e6,
            precision: 0.05,
            integer: false,
        };
        let (capacity, levels) = run(|p| search.next(p), failing);
        assert_eq!(levels, vec![100.0, 200.0, 400.0]);
        assert!(
            matches!(capacity.stop, CapacityStop::Aborted(Abort::Errors { level, .. }) if level == 400.0)
        );
        assert_eq!(capacity.value, Some(200.0));

        let silent = |n: f64| Probe {
            responses: 0,
            ..closed_probe(n, 1.0, 0.0, 0.0)
        };
        let (capacity, _) = run(|p| search.next(p), silent);
        assert_eq!(
            capacity.stop,
            CapacityStop::Aborted(Abort::NoAnswer { level: 100.0 })
        );
        assert!(capacity.stop != CapacityStop::Bracketed);

        let generous = CapacitySearch {
            max: 64.0,
            integer: true,
            start: 1.0,
            ..search.clone()
        };
        let (capacity, levels) = run(|p| generous.next(p), |n| closed_probe(n, 1.0, 0.0, 0.0));
        assert_eq!(
            (capacity.value, capacity.stop.clone()),
            (Some(64.0), CapacityStop::AtMaximum)
        );
        assert_eq!(levels.last(), Some(&64.0));

        // Too few responses to judge a p99 anywhere: no capacity is claimed.
        let thin = CapacitySearch {
            slos: vec!["p99<10ms".parse().unwrap()],
            max: 16.0,
            integer: true,
            start: 1.0,
            ..search.clone()
        };
        let sparse = |n: f64| Probe {
            responses: 50,
            ..closed_probe(n, 1.0, 0.0, 0.0)
        };
        let (capacity, levels) = run(|p| thin.next(p), sparse);
        assert_eq!((capacity.value, capacity.breaks_at), (None, None));
        assert_eq!(levels, vec![1.0, 2.0, 4.0, 8.0, 16.0]);
        assert!(
            capacity
                .sentence(&thin.slos, "connections")
                .contains("no level had enough responses to judge them"),
            "{}",
            capacity.sentence(&thin.slos, "connections")
        );

        let strict = CapacitySearch {
            slos: vec!["p99<0.5ms".parse().unwrap()],
            start: 4.0,
            integer: true,
            ..search
        };
        let (capacity, levels) = run(|p| strict.next(p), |n| closed_probe(n, 1.0, 0.0, 0.0));
        assert_eq!(
            (capacity.value, capacity.stop),
            (None, CapacityStop::LowestFails)
        );
        assert_eq!(levels, vec![4.0, 2.0, 1.0]);
    }

    /// Issue 17's known answer: N* = √((1 − 0.05)/0.002) = 21.8; the search
    /// measures levels on both sides of it without being told any level.
    #[test]
    fn the_peak_search_brackets_the_known_peak() {
        let search = PeakSearch {
            start: 1.0,
            factor: 2.0,
            max: 1024.0,
            slos: vec![],
            refine: 2,
        };
        let (peak, levels) = run(|p| search.next(p), |n| closed_probe(n, 5.0, 0.05, 0.002));
        let n = peak.fit.as_ref().unwrap().peak_concurrency().unwrap();
        assert!((n / 21.8 - 1.0).abs() < 0.02, "N* {n}");
        let (lo, hi) = peak.bracket.unwrap();
        assert!(lo < n && n < hi, "{lo} {n} {hi}");
        assert_eq!(peak.stop, PeakStop::Bracketed);
        assert_eq!(
            &levels[..7],
            &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
            "{levels:?}"
        );
        assert_eq!(
            &levels[7..],
            &[19.0, 26.0],
            "one refinement on each side of N*"
        );
        assert!(
            peak.sentence("req/s")
                .starts_with("peak measured: N* ≈ 21.8"),
            "{}",
            peak.sentence("req/s")
        );
    }

    #[test]
    fn the_peak_search_stops_at_an_slo_and_without_a_peak_at_the_maximum() {
        let search = PeakSearch {
            start: 1.0,
            factor: 2.0,
            max: 64.0,
            slos: vec!["p99<8ms".parse().unwrap()],
            refine: 2,
        };
        let (peak, levels) = run(|p| search.next(p), |n| closed_probe(n, 5.0, 0.05, 0.002));
        assert!(matches!(peak.stop, PeakStop::Slo(_)), "{:?}", peak.stop);
        assert_eq!(&levels[..4], &[1.0, 2.0, 4.0, 8.0]);
        let linear = PeakSearch {
            slos: vec![],
            ..search
        };
        let (peak, levels) = run(|p| linear.next(p), |n| closed_probe(n, 5.0, 0.0, 0.0));
        assert_eq!(peak.stop, PeakStop::AtMaximum);
        assert_eq!(levels, vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]);
        assert!(
            peak.sentence("req/s").contains("no peak"),
            "{}",
            peak.sentence("req/s")
        );
    }
}
