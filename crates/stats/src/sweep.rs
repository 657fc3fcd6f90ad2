//! Analysis of a concurrency sweep: one point per step, honesty checks per
//! step, and the USL fit over the usable points.
//!
//! Checks (each becomes a flag on the point):
//! - `errors`: the step had errors of some kind.
//! - `littles_law`: N ≈ X·R (Little's law, R the mean latency) is off by more
//!   than 10 %: the generator did not keep N requests in flight, or time was
//!   spent outside the measured request (connecting, queueing in the client).
//! - `generator_bound`: the generator threads were more than 90 % busy; the
//!   throughput may be the generator's limit, not the service's.
//! - `no_responses`: nothing completed; the point is left out of the fit.

use crate::usl::{self, Point, UslError, UslFit};
use scalewall_model::Step;
use serde::Serialize;

/// Relative Little's-law mismatch above which a step is flagged.
pub const LITTLES_LAW_TOLERANCE: f64 = 0.10;
/// Generator busy share above which a step is flagged generator-bound.
pub const GENERATOR_BOUND_SHARE: f64 = 0.90;
/// R² below which the fit is called poor.
pub const POOR_FIT_R_SQUARED: f64 = 0.9;
/// Points below which σ and κ are poorly determined (R `usl` warns too).
pub const FEW_POINTS: usize = 6;

/// One measured level of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepPoint {
    /// Concurrency N.
    pub concurrency: u32,
    /// Measured throughput, responses per second.
    pub throughput: f64,
    /// Mean latency, ms.
    pub mean_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Responses measured (the sample size behind the figures).
    pub responses: u64,
    /// Errors of every kind.
    pub errors: u64,
    /// N / (X·R): 1 when Little's law holds.
    pub littles_law_ratio: f64,
    /// Generator busy share, 0–1.
    pub generator_busy: f64,
    /// X / (λN) from the fit, when there is one.
    pub efficiency: Option<f64>,
    /// Honesty flags (see the module docs).
    pub flags: Vec<&'static str>,
}

/// A sweep's points, fit and warnings.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepAnalysis {
    /// One point per step, in order.
    pub points: Vec<SweepPoint>,
    /// The fit over points with responses.
    pub fit: Result<UslFit, UslError>,
    /// Warnings about the data or the fit, one sentence each.
    pub warnings: Vec<String>,
}

/// Turns steps into points with flags (no fit).
pub fn points_of(steps: &[Step]) -> Vec<SweepPoint> {
    steps
        .iter()
        .map(|step| {
            let x = step.achieved_rate_per_s;
            let mean_s = step.latency_us.mean() / 1e6;
            let n = f64::from(step.concurrency);
            let ratio = if x > 0.0 && mean_s > 0.0 {
                x * mean_s / n
            } else {
                0.0
            };
            let mut flags = Vec::new();
            if step.outcomes.responses == 0 {
                flags.push("no_responses");
            }
            if step.outcomes.errors_total() > 0 {
                flags.push("errors");
            }
            if step.outcomes.responses > 0 && (ratio - 1.0).abs() > LITTLES_LAW_TOLERANCE {
                flags.push("littles_law");
            }
            if step.generator_busy_share() > GENERATOR_BOUND_SHARE {
                flags.push("generator_bound");
            }
            SweepPoint {
                concurrency: step.concurrency,
                throughput: x,
                mean_ms: mean_s * 1e3,
                p99_ms: if step.latency_us.is_empty() {
                    0.0
                } else {
                    step.latency_us.value_at_quantile(0.99) as f64 / 1e3
                },
                responses: step.outcomes.responses,
                errors: step.outcomes.errors_total(),
                littles_law_ratio: ratio,
                generator_busy: step.generator_busy_share(),
                efficiency: None,
                flags,
            }
        })
        .collect()
}

impl SweepPoint {
    /// The (N, X) pair the USL is fitted to.
    pub fn usl_point(&self) -> Point {
        Point {
            concurrency: f64::from(self.concurrency),
            throughput: self.throughput,
        }
    }
}

/// The points a USL fit and its chart use: the levels that measured a
/// throughput. The one place sweep levels become fit points.
pub fn fit_points(points: &[SweepPoint]) -> Vec<Point> {
    points
        .iter()
        .filter(|p| p.responses > 0 && p.throughput > 0.0)
        .map(SweepPoint::usl_point)
        .collect()
}

/// Fits the USL to the points that have responses and collects warnings.
pub fn analyse(mut points: Vec<SweepPoint>) -> SweepAnalysis {
    let usable = fit_points(&points);
    let fit = usl::fit(&usable);
    let mut warnings = fit_warnings(&usable, &fit);
    if let Ok(fit) = &fit {
        for p in &mut points {
            if p.responses > 0 {
                p.efficiency = Some(fit.efficiency(&p.usl_point()));
            }
        }
    }
    let flagged = |flag: &str| -> Vec<String> {
        points
            .iter()
            .filter(|p| p.flags.contains(&flag))
            .map(|p| p.concurrency.to_string())
            .collect()
    };
    let generator_bound = flagged("generator_bound");
    if !generator_bound.is_empty() {
        warnings.push(format!(
            "the load generator was more than 90 % busy at N = {}: the fit may be limited by the generator, not the service",
            generator_bound.join(", ")
        ));
    }
    let with_errors = flagged("errors");
    if !with_errors.is_empty() {
        warnings.push(format!("steps with errors: N = {}", with_errors.join(", ")));
    }
    let littles = flagged("littles_law");
    if !littles.is_empty() {
        warnings.push(format!(
            "Little's law (N = X·R) is off by more than 10 % at N = {}: the generator did not hold N requests in flight",
            littles.join(", ")
        ));
    }
    SweepAnalysis {
        points,
        fit,
        warnings,
    }
}

/// Warnings about a fit: few points, poor R².
pub fn fit_warnings(points: &[Point], fit: &Result<UslFit, UslError>) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Ok(fit) = fit {
        if points.len() < FEW_POINTS {
            warnings.push(format!(
                "only {} points: σ and κ are poorly determined below {FEW_POINTS}",
                points.len()
            ));
        }
        if fit.r_squared < POOR_FIT_R_SQUARED {
            warnings.push(format!(
                "poor fit: R² = {} < {POOR_FIT_R_SQUARED}; the data may not follow the USL (noise, errors, or a limit outside the service)",
                crate::number::r_squared(fit.r_squared)
            ));
        }
    }
    warnings
}

/// Why the wall stands where it does, from the steps' resource readings:
/// which resource rose to its limit as throughput flattened (the target's
/// CPU, or the host's), or that none did. `None` when no step was metered.
/// Pure.
pub fn wall_evidence(steps: &[Step]) -> Option<String> {
    let rise = custom_rise(steps);
    match (resource_evidence(steps), rise) {
        (Some(evidence), Some(rise)) => Some(format!("{evidence}; {rise}")),
        (evidence, rise) => evidence.or(rise),
    }
}

/// The service's own number (a custom metric read as each step ended)
/// that rose most where throughput stopped growing: from the level
/// before the peak to the highest it reached after, at least doubling
/// ("api.queue_depth rose from 0 to 480 between N = 16 and N = 32").
/// Pure.
pub fn custom_rise(steps: &[Step]) -> Option<String> {
    use crate::number::sig;
    let peak = steps
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.achieved_rate_per_s.total_cmp(&b.1.achieved_rate_per_s))?
        .0;
    let from = peak.saturating_sub(1);
    let value = |step: &Step, name: &str| {
        step.custom
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.value)
    };
    let mut best: Option<(f64, String)> = None;
    for reading in &steps[from].custom {
        let Some(start) = reading.value else {
            continue;
        };
        let Some((top_step, top)) = steps[from + 1..]
            .iter()
            .filter_map(|s| Some((s, value(s, &reading.name)?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
        else {
            continue;
        };
        if top <= start || top < 2.0 * start {
            continue;
        }
        let ratio = (top + 1.0) / (start.max(0.0) + 1.0);
        if best.as_ref().is_none_or(|(r, _)| ratio > *r) {
            best = Some((
                ratio,
                format!(
                    "{} rose from {} to {} between N = {} and N = {}",
                    reading.name,
                    sig(start),
                    sig(top),
                    steps[from].concurrency,
                    top_step.concurrency
                ),
            ));
        }
    }
    best.map(|(_, sentence)| sentence)
}

/// The resource part of [`wall_evidence`].
fn resource_evidence(steps: &[Step]) -> Option<String> {
    use crate::number::{count, pct, sig};
    let metered: Vec<(&Step, &scalewall_model::StepResources)> = steps
        .iter()
        .filter_map(|s| s.resources.as_ref().map(|r| (s, r)))
        .collect();
    let peak = metered
        .iter()
        .enumerate()
        .max_by(|a, b| {
            a.1 .0
                .achieved_rate_per_s
                .total_cmp(&b.1 .0.achieved_rate_per_s)
        })?
        .0;
    // The levels where throughput stopped growing: the peak and beyond.
    let flat = &metered[peak..];
    if let Some((step, r)) = flat.iter().find(|(_, r)| r.target_cpu_bound()) {
        let used = r.target_cores_used().unwrap_or(0.0);
        let cores = r.target.as_ref().and_then(|t| t.cores).unwrap_or(0.0);
        return Some(format!(
            "the target's CPU reached {} of {} at N = {}: it is CPU-bound, and more concurrency only queues",
            pct(100.0 * used / cores.max(1e-9)),
            count(cores.round() as u64, "core", "cores"),
            step.concurrency
        ));
    }
    if let Some((step, r)) = flat.iter().find(|(_, r)| r.host_saturated()) {
        let split = r.cpu_split();
        return Some(format!(
            "the host was {} busy at N = {}{}: the host, not the target, is the limit; run the generator on another machine to find the target's own wall",
            pct(r.host_cpu_busy_pct),
            step.concurrency,
            split.map_or(String::new(), |s| format!(
                " (generator {} CPU-s, target {}, everything else {})",
                sig(s.generator_s),
                sig(s.target_s),
                sig(s.other_s)
            ))
        ));
    }
    let (step, r) = metered[peak];
    Some(match (r.target_cores_used(), r.target.as_ref().and_then(|t| t.cores)) {
        (Some(used), Some(cores)) => format!(
            "no resource rose to its limit: at N = {} the target used {} of {} and the host was {} busy, so the wall comes from contention or a limit outside the host (locks, a pool, a remote dependency)",
            step.concurrency,
            pct(100.0 * used / cores.max(1e-9)),
            count(cores.round() as u64, "core", "cores"),
            pct(r.host_cpu_busy_pct)
        ),
        _ => format!(
            "the target's processes were not measured ({}); the host was {} busy at N = {}",
            r.target_note.as_deref().unwrap_or("not on this host"),
            pct(r.host_cpu_busy_pct),
            step.concurrency
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalewall_model::{LatencyHistogram, OutcomeCounts};

    #[test]
    fn a_custom_metric_that_climbs_past_the_peak_is_named() {
        let level = |n: u32, rps: f64, depth: f64| Step {
            concurrency: n,
            achieved_rate_per_s: rps,
            custom: vec![scalewall_model::health::CustomReading {
                name: "api.queue_depth".into(),
                source: "prometheus".into(),
                unit: "count".into(),
                higher_is_better: false,
                value: Some(depth),
                files: None,
                error: None,
            }],
            ..Step::default()
        };
        let steps = [
            level(4, 400.0, 0.0),
            level(8, 800.0, 0.0),
            level(16, 1000.0, 2.0),
            level(32, 990.0, 480.0),
        ];
        assert_eq!(
            custom_rise(&steps).unwrap(),
            "api.queue_depth rose from 0 to 480 between N = 8 and N = 32"
        );
        assert_eq!(
            wall_evidence(&steps).unwrap(),
            "api.queue_depth rose from 0 to 480 between N = 8 and N = 32",
            "no step was metered: the rise is the evidence"
        );
        let flat = [
            level(4, 400.0, 10.0),
            level(8, 800.0, 11.0),
            level(16, 790.0, 12.0),
        ];
        assert_eq!(
            custom_rise(&flat),
            None,
            "a number that barely moves says nothing"
        );
    }

    fn step(concurrency: u32, rps: f64, latency_us: u64, errors: u64, busy: f64) -> Step {
        let mut latency = LatencyHistogram::new();
        for _ in 0..100 {
            latency.record(latency_us);
        }
        let mut outcomes = OutcomeCounts {
            responses: 100,
            ..OutcomeCounts::default()
        };
        if errors > 0 {
            outcomes.errors.insert("timeout".into(), errors);
        }
        Step {
            concurrency,
            target_rate_per_s: None,
            started_at: String::new(),
            duration_s: 1.0,
            completed: true,
            outcomes,
            achieved_rate_per_s: rps,
            latency_us: latency,
            uncorrected_latency_us: None,
            schedule_lag_us: None,
            warmup: None,
            intervals: vec![],
            error_examples: Default::default(),
            generator_cpu_s: busy,
            generator_wall_s: 1.0,
            generator_threads: 1,
            resources: None,
            param_value: None,
            stages: Vec::new(),
            workers: Vec::new(),
            custom: Vec::new(),
            phases: None,
            checks: Vec::new(),
        }
    }

    #[test]
    fn littles_law_generator_and_error_flags() {
        // N = 10, X = 1000/s, R = 10 ms → X·R = 10: holds
        let ok = &points_of(&[step(10, 1000.0, 10_000, 0, 0.2)])[0];
        assert!(ok.flags.is_empty(), "{:?}", ok.flags);
        assert!((ok.littles_law_ratio - 1.0).abs() < 0.01);
        // X·R = 1000 × 5 ms = 5 ≠ 10 → flagged; busy 95 % → generator-bound
        let bad = &points_of(&[step(10, 1000.0, 5_000, 3, 0.95)])[0];
        assert_eq!(bad.flags, vec!["errors", "littles_law", "generator_bound"]);
    }

    #[test]
    fn analysis_fits_and_warns() {
        let steps: Vec<Step> = [1u32, 2, 4, 8]
            .iter()
            .map(|&n| {
                let x = usl::usl(0.05, 0.01, 100.0, f64::from(n));
                step(n, x, (f64::from(n) / x * 1e6) as u64, 0, 0.1)
            })
            .collect();
        let analysis = analyse(points_of(&steps));
        let fit = analysis.fit.as_ref().unwrap();
        assert!((fit.sigma - 0.05).abs() < 1e-6 && (fit.kappa - 0.01).abs() < 1e-6);
        assert!(analysis
            .warnings
            .iter()
            .any(|w| w.contains("only 4 points")));
        assert!((analysis.points[0].efficiency.unwrap() - 1.0).abs() < 1e-6);
    }

    fn metered(concurrency: u32, rps: f64, host_busy: f64, target_cpu_s: f64) -> Step {
        Step {
            resources: Some(scalewall_model::StepResources {
                wall_s: 10.0,
                started_at: None,
                host_cpu_s: host_busy / 100.0 * 2.0 * 10.0,
                host_cpu_busy_pct: host_busy,
                target: Some(scalewall_model::ProcessCost {
                    cpu_s: target_cpu_s,
                    cores: Some(1.0),
                    ..Default::default()
                }),
                target_note: None,
                samples: vec![],
                listen_queue: None,
                generator_cpu_s: Some(1.0),
                commands: None,
            }),
            ..step(concurrency, rps, 1000, 0, 0.1)
        }
    }

    /// Issue 13, item 4: the verdict says which resource rose to its limit.
    #[test]
    fn the_wall_is_explained_by_the_resource_at_its_limit_or_by_none() {
        // The target's CPU reaches 97 % of its one core at N = 8.
        let cpu_bound = [
            metered(1, 1000.0, 30.0, 2.5),
            metered(4, 3500.0, 60.0, 8.0),
            metered(8, 3900.0, 70.0, 9.7),
            metered(16, 3800.0, 70.0, 9.7),
        ];
        let text = wall_evidence(&cpu_bound).unwrap();
        assert!(
            text.starts_with("the target's CPU reached 97 % of 1 core at N = 8: it is CPU-bound"),
            "{text}"
        );
        // The host at 95 % with the target at half a core: the host limits.
        let host = [metered(1, 1000.0, 40.0, 1.0), metered(8, 2000.0, 95.0, 5.0)];
        assert!(wall_evidence(&host)
            .unwrap()
            .starts_with("the host was 95 % busy at N = 8"));
        // Neither: contention or a limit outside the host.
        let neither = [metered(1, 1000.0, 20.0, 1.0), metered(8, 2000.0, 40.0, 3.0)];
        assert!(
            wall_evidence(&neither).unwrap().starts_with(
                "no resource rose to its limit: at N = 8 the target used 30 % of 1 core"
            ),
            "{}",
            wall_evidence(&neither).unwrap()
        );
        assert_eq!(wall_evidence(&[step(1, 10.0, 1000, 0, 0.1)]), None);
    }
}
