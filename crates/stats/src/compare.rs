//! Comparing one metric between two runs with a statistical decision rather
//! than a raw percentage.
//!
//! Each metric carries its per-interval samples (per-second throughput, p99
//! per second, …). Two runs' samples are compared with the two-sided
//! Mann–Whitney U test (normal approximation with tie correction and
//! continuity correction, as R's `wilcox.test(exact = FALSE)` and SciPy's
//! `mannwhitneyu(method = "asymptotic")` compute it); the size of the
//! change is the change of the whole-run values, the same figures shown as
//! before and after. A change is called improved
//! or regressed only when it is both significant (p < α) and larger than
//! the noise threshold; with too few samples it is "untested" and only the
//! raw change is shown.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};

/// Which direction of a metric is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// More is better (throughput).
    Higher,
    /// Less is better (latency, errors, CPU per operation).
    Lower,
}

/// The outcome of one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Significantly better by more than the noise threshold.
    Improved,
    /// Significantly worse by more than the noise threshold.
    Regressed,
    /// Not significant, or within the noise threshold.
    Unchanged,
    /// Too few samples on one side to test.
    Untested,
    /// Significant between the two runs, but within the subject's
    /// run-to-run noise (two unchanged runs on a shared host differ so).
    WithinNoise,
    /// Significant between the two runs; the subject's run-to-run noise is
    /// not known yet (too few earlier runs), so no claim is made.
    NoiseUnknown,
}

impl Change {
    /// The decision in words, as the reports print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Improved => "improved",
            Change::Regressed => "regressed",
            Change::Unchanged => "unchanged",
            Change::Untested => "untested (too few samples)",
            Change::WithinNoise => "within the run-to-run noise",
            Change::NoiseUnknown => "noise unknown",
        }
    }
}

/// The decision rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Significance level of the test.
    pub alpha: f64,
    /// Smallest relative change of the whole-run value that counts (0.05 = 5 %).
    pub noise: f64,
    /// Fewest samples per side for the test.
    pub min_samples: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            alpha: 0.05,
            noise: 0.05,
            min_samples: 5,
        }
    }
}

/// The Mann–Whitney U test result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MannWhitney {
    /// U of the first sample.
    pub u: f64,
    /// Two-sided p-value (normal approximation, tie and continuity corrected).
    pub p_value: f64,
}

/// Two-sided Mann–Whitney U test of `a` against `b`; `None` when either is
/// empty.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let mut rank_sum_a = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let average_rank = (i + j) as f64 / 2.0 + 1.0;
        let tied = (j - i + 1) as f64;
        tie_term += tied * tied * tied - tied;
        rank_sum_a += average_rank * all[i..=j].iter().filter(|(_, in_a)| *in_a).count() as f64;
        i = j + 1;
    }
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u = rank_sum_a - n1f * (n1f + 1.0) / 2.0;
    let mean = n1f * n2f / 2.0;
    let variance = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    let p_value = if variance <= 0.0 {
        1.0 // every value equal
    } else {
        let z = ((u - mean).abs() - 0.5).max(0.0) / variance.sqrt();
        let normal = Normal::new(0.0, 1.0).expect("standard normal");
        (2.0 * (1.0 - normal.cdf(z))).min(1.0)
    };
    Some(MannWhitney { u, p_value })
}

/// The median of a sample (mean of the middle two for even sizes).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

/// One metric compared between a run and an earlier one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricComparison {
    /// The metric (e.g. `demo.p99_ms`).
    pub metric: String,
    /// The earlier run's value.
    pub before: f64,
    /// This run's value.
    pub after: f64,
    /// Relative change from `before` to `after` (the whole-run values).
    pub relative_change: f64,
    /// The test, when there were enough samples.
    pub test: Option<MannWhitney>,
    /// Samples on each side.
    pub samples: [usize; 2],
    /// The decision.
    pub change: Change,
    /// How the change compares with the subject's run-to-run noise, when
    /// that was judged (see [`Change::WithinNoise`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise: Option<String>,
}

/// Compares one metric: `before`/`after` are the headline values,
/// `*_samples` the per-interval samples behind them.
pub fn compare(
    metric: &str,
    better: Better,
    before: (f64, &[f64]),
    after: (f64, &[f64]),
    policy: &Policy,
) -> MetricComparison {
    let relative = |old: f64, new: f64| {
        if old != 0.0 {
            new / old - 1.0
        } else if new == 0.0 {
            0.0
        } else {
            f64::INFINITY.copysign(new)
        }
    };
    // One statistic per row: before, after and the change are all the
    // whole-run values; the samples only decide whether the change is
    // significant (a shift of the per-interval median could disagree with
    // the change shown: 86,646 → 86,353 was once shown as −6.7 %).
    let relative_change = relative(before.0, after.0);
    let enough = before.1.len() >= policy.min_samples && after.1.len() >= policy.min_samples;
    let test = if enough {
        mann_whitney(before.1, after.1)
    } else {
        None
    };
    let change = match test {
        None => Change::Untested,
        Some(t) if t.p_value >= policy.alpha || relative_change.abs() < policy.noise => {
            Change::Unchanged
        }
        Some(_) => {
            let went_up = relative_change > 0.0;
            if went_up == (better == Better::Higher) {
                Change::Improved
            } else {
                Change::Regressed
            }
        }
    };
    MetricComparison {
        metric: metric.to_string(),
        before: before.0,
        after: after.0,
        relative_change,
        test,
        samples: [before.1.len(), after.1.len()],
        change,
        noise: None,
    }
}

/// The overall direction of a metric over several runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Trend {
    /// Each change got better or stayed, and at least one got better.
    Improving,
    /// No significant change, or changes both ways.
    Stable,
    /// Each change got worse or stayed, and at least one got worse.
    Degrading,
}

/// Fewest consecutive comparisons (so runs − 1) behind a trend: two runs
/// make one change, not a direction.
pub const MIN_TREND_CHANGES: usize = 2;

/// The trend of consecutive comparisons (oldest first), or `None` when the
/// data cannot carry a claim: fewer than [`MIN_TREND_CHANGES`] changes, or
/// any of them untested (a run whose steps were too short to give the
/// metric enough samples says nothing about its direction, and "stable"
/// would be as much a claim as "degrading").
pub fn trend(changes: &[Change]) -> Option<Trend> {
    if changes.len() < MIN_TREND_CHANGES || changes.contains(&Change::Untested) {
        return None;
    }
    let worse = changes.iter().filter(|c| **c == Change::Regressed).count();
    let better = changes.iter().filter(|c| **c == Change::Improved).count();
    Some(match (better, worse) {
        (0, w) if w > 0 => Trend::Degrading,
        (b, 0) if b > 0 => Trend::Improving,
        _ => Trend::Stable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers from SciPy 1.x: mannwhitneyu(a, b, method="asymptotic").
    #[test]
    fn mann_whitney_matches_scipy() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [6.0, 7.0, 8.0, 9.0, 10.0];
        let t = mann_whitney(&a, &b).unwrap();
        assert_eq!(t.u, 0.0);
        assert!((t.p_value - 0.012185780355344813).abs() < 1e-9, "{t:?}");

        let a = [10.0, 12.0, 12.0, 15.0, 11.0, 13.0, 14.0];
        let b = [12.0, 16.0, 18.0, 17.0, 15.0, 19.0, 16.0, 20.0];
        let t = mann_whitney(&a, &b).unwrap();
        assert_eq!(t.u, 4.5);
        assert!((t.p_value - 0.007448270920772158).abs() < 1e-9, "{t:?}");

        let a = [1.0, 1.1, 0.9, 1.05, 0.95, 1.02];
        let b = [1.01, 0.99, 1.03, 0.97, 1.0, 1.04];
        let t = mann_whitney(&a, &b).unwrap();
        assert_eq!(t.u, 18.5);
        assert!((t.p_value - 1.0).abs() < 1e-12);

        assert_eq!(mann_whitney(&[], &b), None);
        assert_eq!(mann_whitney(&[3.0, 3.0], &[3.0, 3.0]).unwrap().p_value, 1.0);
    }

    /// Issue 21, item 5: `86646 → 86353` was shown as −6.7 % (the move of
    /// the per-interval median). The change is of the values shown.
    #[test]
    fn the_change_is_of_the_values_shown() {
        let before: Vec<f64> = (0..10).map(|i| 90_000.0 + f64::from(i)).collect();
        let after: Vec<f64> = (0..10).map(|i| 84_000.0 + f64::from(i)).collect();
        let c = compare(
            "api-get.rps",
            Better::Higher,
            (86_646.0, &before),
            (86_353.0, &after),
            &Policy::default(),
        );
        assert!((c.relative_change - (86_353.0 / 86_646.0 - 1.0)).abs() < 1e-12);
        assert!(
            c.test.is_some_and(|t| t.p_value < 0.05),
            "the samples did move"
        );
        assert_eq!(c.change, Change::Unchanged, "but the figure moved 0.34 %");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    fn samples(center: f64, spread: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| center + spread * ((i as f64 * 0.618).fract() - 0.5))
            .collect()
    }

    #[test]
    fn a_clear_slowdown_is_a_regression_and_noise_is_not() {
        let policy = Policy::default();
        let before = samples(10.0, 0.4, 10);
        let slower = samples(15.0, 0.4, 10);
        let c = compare(
            "x.p99_ms",
            Better::Lower,
            (10.0, &before),
            (15.0, &slower),
            &policy,
        );
        assert_eq!(c.change, Change::Regressed);
        assert!((c.relative_change - 0.5).abs() < 0.05);
        let c = compare(
            "x.rps",
            Better::Higher,
            (10.0, &before),
            (15.0, &slower),
            &policy,
        );
        assert_eq!(c.change, Change::Improved);

        let same = samples(10.02, 0.4, 10);
        let c = compare(
            "x.p99_ms",
            Better::Lower,
            (10.0, &before),
            (10.02, &same),
            &policy,
        );
        assert_eq!(c.change, Change::Unchanged);

        // Significant but below the 5 % noise threshold: unchanged.
        let tiny = samples(10.3, 0.01, 10);
        let tight = samples(10.0, 0.01, 10);
        let c = compare(
            "x.p99_ms",
            Better::Lower,
            (10.0, &tight),
            (10.3, &tiny),
            &policy,
        );
        assert!(c.test.unwrap().p_value < 0.05);
        assert_eq!(c.change, Change::Unchanged);

        let c = compare(
            "x.p99_ms",
            Better::Lower,
            (10.0, &before[..3]),
            (20.0, &slower),
            &policy,
        );
        assert_eq!(c.change, Change::Untested);
        assert_eq!(c.relative_change, 1.0);
    }

    #[test]
    fn trends_need_a_consistent_direction() {
        use Change::*;
        assert_eq!(trend(&[Unchanged, Regressed]), Some(Trend::Degrading));
        assert_eq!(trend(&[Improved, Unchanged]), Some(Trend::Improving));
        assert_eq!(trend(&[Improved, Regressed]), Some(Trend::Stable));
        assert_eq!(trend(&[Unchanged, Unchanged]), Some(Trend::Stable));
    }

    /// Issue 21, item 4: steps too short to measure a figure make no trend,
    /// not even "stable"; nor do two runs.
    #[test]
    fn untested_or_too_few_changes_make_no_trend() {
        use Change::*;
        assert_eq!(trend(&[Unchanged, Untested]), None);
        assert_eq!(trend(&[Untested, Regressed]), None);
        assert_eq!(trend(&[Regressed]), None);
        assert_eq!(trend(&[]), None);
    }
}
