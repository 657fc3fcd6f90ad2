//! The Universal Scalability Law (Gunther, *Guerrilla Capacity Planning*,
//! 2007): X(N) = λN / (1 + σ(N−1) + κN(N−1)).
//!
//! σ (contention) is the serialised share of the work, κ (coherency) the
//! cost of keeping N workers consistent, λ the throughput of one worker. All
//! three are fitted at once by **bounded** nonlinear least squares on
//! throughput (Levenberg–Marquardt via MPFIT, analytic Jacobian), as the R
//! package `usl` does: 0 ≤ σ ≤ 1, 0 ≤ κ ≤ 1, λ ≥ 0. Without the bounds a data
//! set with no retrograde region can return κ < 0, a nonsense "no peak";
//! with them κ lands on 0 and the verdict is "no wall: Amdahl-limited".
//!
//! Start values follow R `usl` (σ = 0.01, κ = 1e-4, λ = max(X/N)); a few
//! more starts guard against local minima and the lowest residual wins.
//! Standard errors are `sqrt(diag((JᵀJ)⁻¹) · RSS/(n−3))` with J the model's
//! Jacobian at the solution (bounds ignored, as R does); the 95 % intervals
//! are estimate ± t(0.975, n−3) · SE. Three distinct concurrency levels are
//! the minimum (then there are no intervals); fewer than six are allowed
//! with a warning, as R `usl` warns.

use rmpfit::{MPConfig, MPError, MPFitter, MPPar, MPResult, MPSide};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// One measured (concurrency, throughput) pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Concurrency N (clients, connections, workers).
    pub concurrency: f64,
    /// Throughput X at that concurrency (operations per unit time).
    pub throughput: f64,
}

/// Why a fit could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UslError {
    /// Fewer than three distinct concurrency levels.
    #[error("the USL needs at least 3 distinct concurrency levels, got {0}")]
    TooFewLevels(usize),
    /// A value that is zero, negative, NaN or infinite.
    #[error("point {index}: concurrency and throughput must be finite and > 0 (got N = {concurrency}, X = {throughput})")]
    InvalidPoint {
        /// 0-based index of the point.
        index: usize,
        /// Its concurrency.
        concurrency: f64,
        /// Its throughput.
        throughput: f64,
    },
    /// The optimiser failed.
    #[error("the USL fit did not converge: {0}")]
    NoConvergence(String),
}

/// A fitted Universal Scalability Law model with its quality figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UslFit {
    /// Contention σ.
    pub sigma: f64,
    /// Coherency κ.
    pub kappa: f64,
    /// Throughput of one worker λ (the units of the input throughput).
    pub lambda: f64,
    /// Standard errors of σ, κ, λ (`None` with fewer than 4 points or a singular fit).
    pub standard_errors: Option<[f64; 3]>,
    /// 95 % confidence intervals of σ, κ, λ (t distribution, n − 3 degrees of freedom).
    pub confidence_95: Option<[[f64; 2]; 3]>,
    /// Coefficient of determination of throughput.
    pub r_squared: f64,
    /// Residual standard error sqrt(RSS / (n − 3)) (`None` with 3 points).
    pub residual_standard_error: Option<f64>,
    /// Residual sum of squares.
    pub rss: f64,
    /// Points fitted.
    pub points: usize,
}

/// What the fitted model says about the wall.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// Throughput peaks at `concurrency` and falls beyond it: the wall.
    Peak {
        /// N* = √((1 − σ)/κ), not rounded.
        concurrency: f64,
        /// X(N*).
        throughput: f64,
    },
    /// κ = 0, σ > 0: no peak, throughput approaches λ/σ.
    AmdahlLimited {
        /// The ceiling λ/σ.
        ceiling: f64,
    },
    /// σ = κ = 0: linear scaling over the measured range.
    Linear,
}

/// κ (and σ) at or below this are treated as zero: the bound was reached.
const ZERO_COEFFICIENT: f64 = 1e-12;

impl UslFit {
    /// Modelled throughput at concurrency `n`.
    pub fn throughput_at(&self, n: f64) -> f64 {
        usl(self.sigma, self.kappa, self.lambda, n)
    }

    /// Modelled response time at `n` by Little's law, R(N) = N / X(N).
    pub fn response_time_at(&self, n: f64) -> f64 {
        n / self.throughput_at(n)
    }

    /// Efficiency of a measured point: X / (λN), 1 for perfect linear scaling.
    pub fn efficiency(&self, point: &Point) -> f64 {
        point.throughput / (self.lambda * point.concurrency)
    }

    /// The peak concurrency N* = √((1 − σ)/κ), when κ > 0.
    pub fn peak_concurrency(&self) -> Option<f64> {
        (self.kappa > ZERO_COEFFICIENT && self.sigma < 1.0)
            .then(|| ((1.0 - self.sigma) / self.kappa).sqrt())
    }

    /// X(N*), when there is a peak.
    pub fn peak_throughput(&self) -> Option<f64> {
        self.peak_concurrency().map(|n| self.throughput_at(n))
    }

    /// The Amdahl ceiling λ/σ, when σ > 0.
    pub fn amdahl_ceiling(&self) -> Option<f64> {
        (self.sigma > ZERO_COEFFICIENT).then(|| self.lambda / self.sigma)
    }

    /// The verdict on the wall.
    pub fn verdict(&self) -> Verdict {
        match (self.peak_concurrency(), self.amdahl_ceiling()) {
            (Some(concurrency), _) => Verdict::Peak {
                concurrency,
                throughput: self.throughput_at(concurrency),
            },
            (None, Some(ceiling)) => Verdict::AmdahlLimited { ceiling },
            (None, None) => Verdict::Linear,
        }
    }
}

impl Verdict {
    /// The verdict in one sentence; `unit` names the throughput (e.g. `req/s`).
    pub fn sentence(&self, unit: &str, max_measured: f64) -> String {
        match *self {
            Verdict::Peak { concurrency, throughput } => {
                let mut s = format!(
                    "peaks at ≈ {} concurrent at {} {unit}; beyond that throughput falls",
                    crate::number::sig_n(concurrency, 3),
                    crate::number::sig_n(throughput, 4)
                );
                if concurrency > 2.0 * max_measured {
                    s.push_str(&format!(
                        " (N* lies beyond the measured range, up to {}: an extrapolation)",
                        crate::number::sig_n(max_measured, 3)
                    ));
                }
                s
            }
            Verdict::AmdahlLimited { ceiling } => format!(
                "no wall: Amdahl-limited (κ = 0), throughput approaches a ceiling of λ/σ ≈ {} {unit}",
                crate::number::sig_n(ceiling, 4)
            ),
            Verdict::Linear => "no wall: throughput scales linearly over the measured range (σ = κ = 0)".to_string(),
        }
    }
}

/// X(N) = λN / (1 + σ(N−1) + κN(N−1)).
pub fn usl(sigma: f64, kappa: f64, lambda: f64, n: f64) -> f64 {
    lambda * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
}

/// Partial derivatives of X(N) with respect to σ, κ, λ.
fn gradient(sigma: f64, kappa: f64, lambda: f64, n: f64) -> [f64; 3] {
    let d = 1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0);
    let d2 = d * d;
    [
        -lambda * n * (n - 1.0) / d2,
        -lambda * n * n * (n - 1.0) / d2,
        n / d,
    ]
}

struct Problem<'a> {
    points: &'a [Point],
    bounds: [MPPar; 3],
    config: MPConfig,
}

impl MPFitter for Problem<'_> {
    fn eval(&mut self, p: &[f64], deviates: &mut [f64]) -> MPResult<()> {
        for (d, point) in deviates.iter_mut().zip(self.points) {
            *d = point.throughput - usl(p[0], p[1], p[2], point.concurrency);
        }
        if deviates.iter().all(|d| d.is_finite()) {
            Ok(())
        } else {
            Err(MPError::Nan)
        }
    }

    fn number_of_points(&self) -> usize {
        self.points.len()
    }

    fn config(&self) -> &MPConfig {
        &self.config
    }

    fn parameters(&self) -> &[MPPar] {
        &self.bounds
    }

    fn jacobian(
        &mut self,
        p: &[f64],
        deviates: &mut [f64],
        derivs: &mut [Option<Vec<f64>>],
    ) -> MPResult<()> {
        self.eval(p, deviates)?;
        for (k, point) in self.points.iter().enumerate() {
            let g = gradient(p[0], p[1], p[2], point.concurrency);
            for (column, partial) in derivs.iter_mut().zip(g) {
                if let Some(column) = column {
                    column[k] = -partial; // deviate = y − f
                }
            }
        }
        Ok(())
    }
}

fn bound(low: f64, high: Option<f64>) -> MPPar {
    let mut par = MPPar::new();
    par.limited_low = true;
    par.limit_low = low;
    if let Some(high) = high {
        par.limited_up = true;
        par.limit_up = high;
    }
    par.side = MPSide::User;
    par
}

fn rss_of(points: &[Point], p: &[f64; 3]) -> f64 {
    points
        .iter()
        .map(|pt| (pt.throughput - usl(p[0], p[1], p[2], pt.concurrency)).powi(2))
        .sum()
}

/// Checks the points and counts distinct concurrency levels.
fn validate(points: &[Point]) -> Result<(), UslError> {
    for (index, p) in points.iter().enumerate() {
        let ok = |v: f64| v.is_finite() && v > 0.0;
        if !ok(p.concurrency) || !ok(p.throughput) {
            return Err(UslError::InvalidPoint {
                index,
                concurrency: p.concurrency,
                throughput: p.throughput,
            });
        }
    }
    let mut levels: Vec<f64> = points.iter().map(|p| p.concurrency).collect();
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    if levels.len() < 3 {
        return Err(UslError::TooFewLevels(levels.len()));
    }
    Ok(())
}

/// Fits σ, κ, λ to the points.
pub fn fit(points: &[Point]) -> Result<UslFit, UslError> {
    validate(points)?;
    let lambda0 = points
        .iter()
        .map(|p| p.throughput / p.concurrency)
        .fold(f64::MIN, f64::max);
    let starts = [
        [0.01, 1e-4, lambda0], // R usl's start
        [0.1, 1e-3, lambda0],
        [0.3, 1e-2, lambda0],
        [0.001, 1e-6, lambda0],
        [0.5, 0.1, lambda0 * 2.0],
    ];
    let mut best: Option<([f64; 3], f64)> = None;
    let mut last_error = String::new();
    for start in starts {
        let mut problem = Problem {
            points,
            bounds: [
                bound(0.0, Some(1.0)),
                bound(0.0, Some(1.0)),
                bound(0.0, None),
            ],
            config: MPConfig {
                ftol: 1e-15,
                xtol: 1e-15,
                gtol: 1e-15,
                max_iter: 500,
                ..MPConfig::new()
            },
        };
        let mut params = start;
        match problem.mpfit(&mut params) {
            Ok(_) if params.iter().all(|v| v.is_finite()) => {
                let rss = rss_of(points, &params);
                if best.is_none_or(|(_, b)| rss < b) {
                    best = Some((params, rss));
                }
            }
            Ok(_) => last_error = "non-finite parameters".into(),
            Err(e) => last_error = format!("{e}"),
        }
    }
    let (p, rss) = best.ok_or(UslError::NoConvergence(last_error))?;
    // Bounds hold by construction; clamp away rounding below zero.
    let (sigma, kappa, lambda) = (p[0].clamp(0.0, 1.0), p[1].clamp(0.0, 1.0), p[2].max(0.0));
    Ok(summarise(points, sigma, kappa, lambda, rss))
}

fn summarise(points: &[Point], sigma: f64, kappa: f64, lambda: f64, rss: f64) -> UslFit {
    let n = points.len();
    let mean = points.iter().map(|p| p.throughput).sum::<f64>() / n as f64;
    let tss: f64 = points.iter().map(|p| (p.throughput - mean).powi(2)).sum();
    let r_squared = if tss > 0.0 { 1.0 - rss / tss } else { 1.0 };
    let dof = n.saturating_sub(3);
    let residual_standard_error = (dof > 0).then(|| (rss / dof as f64).sqrt());
    let standard_errors = residual_standard_error.and_then(|rse| {
        // JᵀJ of the model at the solution
        let mut jtj = [[0.0f64; 3]; 3];
        for p in points {
            let g = gradient(sigma, kappa, lambda, p.concurrency);
            for i in 0..3 {
                for j in 0..3 {
                    jtj[i][j] += g[i] * g[j];
                }
            }
        }
        let inverse = invert3(&jtj)?;
        let se = [0, 1, 2].map(|i| (inverse[i][i].max(0.0)).sqrt() * rse);
        se.iter().all(|v| v.is_finite()).then_some(se)
    });
    let confidence_95 = standard_errors.and_then(|se| {
        let t = StudentsT::new(0.0, 1.0, dof as f64)
            .ok()?
            .inverse_cdf(0.975);
        let estimates = [sigma, kappa, lambda];
        Some([0, 1, 2].map(|i| [estimates[i] - t * se[i], estimates[i] + t * se[i]]))
    });
    UslFit {
        sigma,
        kappa,
        lambda,
        standard_errors,
        confidence_95,
        r_squared,
        residual_standard_error,
        rss,
        points: n,
    }
}

/// Inverse of a symmetric 3×3 matrix; `None` when (nearly) singular.
fn invert3(m: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let cof =
        |r0: usize, r1: usize, c0: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    let c00 = cof(1, 2, 1, 2);
    let c01 = -cof(1, 2, 0, 2);
    let c02 = cof(1, 2, 0, 1);
    let det = m[0][0] * c00 + m[0][1] * c01 + m[0][2] * c02;
    let scale = m.iter().flatten().fold(0.0f64, |a, v| a.max(v.abs()));
    if !det.is_finite() || det.abs() <= f64::EPSILON * scale.powi(3) {
        return None;
    }
    let adj = [
        [c00, -cof(0, 2, 1, 2), cof(0, 1, 1, 2)],
        [c01, cof(0, 2, 0, 2), -cof(0, 1, 0, 2)],
        [c02, -cof(0, 2, 0, 1), cof(0, 1, 0, 1)],
    ];
    Some(adj.map(|row| row.map(|v| v / det)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn points(ns: &[f64], xs: &[f64]) -> Vec<Point> {
        ns.iter()
            .zip(xs)
            .map(|(&concurrency, &throughput)| Point {
                concurrency,
                throughput,
            })
            .collect()
    }

    fn sig3(x: f64) -> f64 {
        let scale = 10f64.powi(2 - x.abs().log10().floor() as i32);
        (x * scale).round() / scale
    }

    /// R `usl` package, tests/coef.R: alpha = 0.02, beta = 0.02, gamma = 1.00 to 3 s.f.
    #[test]
    fn matches_the_r_usl_package_published_example() {
        let data = points(
            &[1., 2., 4., 6., 8., 10.],
            &[1., 1.8868, 3.0769, 3.5294, 3.5398, 3.3557],
        );
        let fit = fit(&data).unwrap();
        assert_eq!(sig3(fit.sigma), 0.02, "σ {}", fit.sigma);
        assert_eq!(sig3(fit.kappa), 0.02, "κ {}", fit.kappa);
        assert_eq!(sig3(fit.lambda), 1.00, "λ {}", fit.lambda);
        assert!(fit.r_squared > 0.999);
        let peak = fit.peak_concurrency().unwrap();
        assert!((peak - (0.98f64 / 0.02).sqrt()).abs() < 0.05, "N* {peak}");
        assert!(matches!(fit.verdict(), Verdict::Peak { .. }));
        let ci = fit.confidence_95.unwrap();
        for (i, v) in [fit.sigma, fit.kappa, fit.lambda].iter().enumerate() {
            assert!(ci[i][0] <= *v && *v <= ci[i][1]);
        }
    }

    #[test]
    fn data_without_n_equal_1_still_fits() {
        let truth = (0.04, 0.001, 120.0);
        let ns = [2., 4., 8., 16., 32., 64.];
        let xs: Vec<f64> = ns
            .iter()
            .map(|&n| usl(truth.0, truth.1, truth.2, n))
            .collect();
        let fit = fit(&points(&ns, &xs)).unwrap();
        assert!(
            (fit.sigma - truth.0).abs() < 1e-6 * truth.0.max(1.0),
            "{fit:?}"
        );
        assert!((fit.kappa / truth.1 - 1.0).abs() < 1e-6, "{fit:?}");
        assert!((fit.lambda / truth.2 - 1.0).abs() < 1e-6, "{fit:?}");
    }

    #[test]
    fn amdahl_data_puts_kappa_on_its_bound_and_reports_a_ceiling() {
        // pure Amdahl: σ = 0.1, κ = 0 → ceiling λ/σ = 500
        let ns = [1., 2., 4., 8., 16., 32., 64.];
        let xs: Vec<f64> = ns.iter().map(|&n| usl(0.1, 0.0, 50.0, n)).collect();
        let fit = fit(&points(&ns, &xs)).unwrap();
        assert!(fit.kappa.abs() < 1e-9, "κ {}", fit.kappa);
        match fit.verdict() {
            Verdict::AmdahlLimited { ceiling } => {
                assert!((ceiling - 500.0).abs() < 1e-3, "{ceiling}")
            }
            other => panic!("{other:?}"),
        }
        assert!(fit
            .verdict()
            .sentence("req/s", 64.0)
            .starts_with("no wall: Amdahl-limited"));
    }

    #[test]
    fn linear_data_is_linear() {
        let ns = [1., 2., 4., 8.];
        let xs: Vec<f64> = ns.iter().map(|&n| 10.0 * n).collect();
        let fit = fit(&points(&ns, &xs)).unwrap();
        assert_eq!(fit.verdict(), Verdict::Linear);
        assert!(
            (fit.efficiency(&Point {
                concurrency: 8.0,
                throughput: 80.0
            }) - 1.0)
                .abs()
                < 1e-9
        );
    }

    #[test]
    fn too_few_levels_and_bad_values_are_errors() {
        assert_eq!(
            fit(&points(&[1., 1., 2.], &[1., 1.1, 2.])),
            Err(UslError::TooFewLevels(2))
        );
        assert!(matches!(
            fit(&points(&[1., 2., 0.], &[1., 2., 3.])),
            Err(UslError::InvalidPoint { index: 2, .. })
        ));
        assert!(matches!(
            fit(&points(&[1., 2., 3.], &[1., f64::NAN, 3.])),
            Err(UslError::InvalidPoint { index: 1, .. })
        ));
    }

    #[test]
    fn three_points_fit_without_intervals() {
        let ns = [1., 4., 16.];
        let xs: Vec<f64> = ns.iter().map(|&n| usl(0.05, 0.002, 10.0, n)).collect();
        let fit = fit(&points(&ns, &xs)).unwrap();
        assert!(fit.confidence_95.is_none() && fit.residual_standard_error.is_none());
        assert!((fit.kappa / 0.002 - 1.0).abs() < 1e-6);
    }

    #[test]
    #[allow(clippy::needless_range_loop)] // index notation mirrors the matrix algebra
    fn inverse_of_a_known_matrix() {
        let m = [[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]];
        let inv = invert3(&m).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| m[i][k] * inv[k][j]).sum();
                assert!((v - f64::from(u8::from(i == j))).abs() < 1e-12);
            }
        }
        assert!(invert3(&[[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 1.0, 1.0]]).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn noise_free_curves_are_recovered(
            sigma in 0.001f64..0.5,
            kappa in 1e-5f64..0.01,
            lambda in 1.0f64..10_000.0,
        ) {
            let ns = [1., 2., 4., 8., 16., 32., 64.];
            let xs: Vec<f64> = ns.iter().map(|&n| usl(sigma, kappa, lambda, n)).collect();
            let fit = fit(&points(&ns, &xs)).unwrap();
            prop_assert!((fit.sigma / sigma - 1.0).abs() < 1e-6, "σ {} vs {}", fit.sigma, sigma);
            prop_assert!((fit.kappa / kappa - 1.0).abs() < 1e-6, "κ {} vs {}", fit.kappa, kappa);
            prop_assert!((fit.lambda / lambda - 1.0).abs() < 1e-6, "λ {} vs {}", fit.lambda, lambda);
        }

        #[test]
        fn any_positive_data_gives_bounded_finite_parameters(
            data in proptest::collection::vec((1u32..200, 0.001f64..1e6), 3..20),
        ) {
            let pts: Vec<Point> = data.iter().map(|&(n, x)| Point { concurrency: f64::from(n), throughput: x }).collect();
            match fit(&pts) {
                Ok(f) => {
                    prop_assert!(f.sigma >= 0.0 && f.kappa >= 0.0 && f.lambda >= 0.0);
                    prop_assert!(f.sigma.is_finite() && f.kappa.is_finite() && f.lambda.is_finite());
                    prop_assert!(f.r_squared.is_finite());
                }
                Err(UslError::TooFewLevels(_)) => {}
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}
