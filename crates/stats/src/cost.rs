//! Cost curves: how the time of an operation grows with a size (plugins
//! loaded, rows processed). Four shapes are fitted by least squares, each as
//! `t(n) = a + b·f(n)` with `f` = 0 (constant), n, n·ln n and n², and the one
//! with the lowest BIC (`m·ln(SSE/m) + k·ln m`, k = 1 for the constant and 2
//! otherwise) is chosen, so a shape with a slope must earn its parameter.
//! The chosen curve projects the time at sizes beyond those measured.

/// A shape of growth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostModel {
    /// Does not grow with n.
    Constant,
    /// a + b·n.
    Linear,
    /// a + b·n·ln n.
    NLogN,
    /// a + b·n².
    Quadratic,
}

impl CostModel {
    /// Every model, simplest first.
    pub const ALL: [CostModel; 4] = [
        CostModel::Constant,
        CostModel::Linear,
        CostModel::NLogN,
        CostModel::Quadratic,
    ];

    /// The growth term f(n).
    pub fn term(self, n: f64) -> f64 {
        match self {
            CostModel::Constant => 0.0,
            CostModel::Linear => n,
            CostModel::NLogN => {
                if n > 0.0 {
                    n * n.ln()
                } else {
                    0.0
                }
            }
            CostModel::Quadratic => n * n,
        }
    }

    /// Name as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            CostModel::Constant => "constant",
            CostModel::Linear => "linear",
            CostModel::NLogN => "n·log n",
            CostModel::Quadratic => "quadratic",
        }
    }

    fn parameters(self) -> f64 {
        if self == CostModel::Constant {
            1.0
        } else {
            2.0
        }
    }
}

/// One fitted shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostFit {
    /// The shape.
    pub model: CostModel,
    /// Intercept a (the cost at size 0).
    pub intercept: f64,
    /// Slope b on f(n).
    pub slope: f64,
    /// Coefficient of determination on the measured points.
    pub r_squared: f64,
    /// Sum of squared residuals.
    pub sse: f64,
    /// Bayesian information criterion (lower is better).
    pub bic: f64,
}

impl CostFit {
    /// The fitted time at size n.
    pub fn predict(&self, n: f64) -> f64 {
        self.intercept + self.slope * self.model.term(n)
    }
}

/// Why no curve could be fitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostFitError {
    /// Fewer than 3 points, or fewer than 2 distinct sizes.
    #[error("a cost curve needs at least 3 points over 2 or more distinct sizes")]
    TooFewPoints,
    /// A size or time that is negative or not finite.
    #[error("sizes and times must be finite and non-negative")]
    BadValue,
}

/// Fits `model` to (size, time) points by ordinary least squares.
pub fn fit_model(points: &[(f64, f64)], model: CostModel) -> CostFit {
    let m = points.len() as f64;
    let mean_t = points.iter().map(|p| p.1).sum::<f64>() / m;
    let (intercept, slope) = if model == CostModel::Constant {
        (mean_t, 0.0)
    } else {
        let mean_f = points.iter().map(|p| model.term(p.0)).sum::<f64>() / m;
        let sxy: f64 = points
            .iter()
            .map(|p| (model.term(p.0) - mean_f) * (p.1 - mean_t))
            .sum();
        let sxx: f64 = points
            .iter()
            .map(|p| (model.term(p.0) - mean_f).powi(2))
            .sum();
        let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        (mean_t - slope * mean_f, slope)
    };
    let sse: f64 = points
        .iter()
        .map(|p| (p.1 - (intercept + slope * model.term(p.0))).powi(2))
        .sum();
    let sst: f64 = points.iter().map(|p| (p.1 - mean_t).powi(2)).sum();
    let r_squared = if sst > 0.0 { 1.0 - sse / sst } else { 1.0 };
    // A perfect fit would give ln 0; a floor relative to the data keeps BIC finite.
    let floor = (sst.max(mean_t * mean_t) * 1e-12).max(f64::MIN_POSITIVE);
    let bic = m * ((sse.max(floor)) / m).ln() + model.parameters() * m.ln();
    CostFit {
        model,
        intercept,
        slope,
        r_squared,
        sse,
        bic,
    }
}

/// Fits every shape and returns them best first (lowest BIC). Shapes with a
/// negative slope (time falling as size grows) are ranked after the others.
pub fn fit(points: &[(f64, f64)]) -> Result<Vec<CostFit>, CostFitError> {
    if points
        .iter()
        .any(|p| !p.0.is_finite() || !p.1.is_finite() || p.0 < 0.0 || p.1 < 0.0)
    {
        return Err(CostFitError::BadValue);
    }
    let mut sizes: Vec<f64> = points.iter().map(|p| p.0).collect();
    sizes.sort_by(f64::total_cmp);
    sizes.dedup();
    if points.len() < 3 || sizes.len() < 2 {
        return Err(CostFitError::TooFewPoints);
    }
    let mut fits: Vec<CostFit> = CostModel::ALL
        .iter()
        .map(|&model| fit_model(points, model))
        .collect();
    fits.sort_by(|a, b| {
        (a.slope < 0.0)
            .cmp(&(b.slope < 0.0))
            .then(a.bic.total_cmp(&b.bic))
    });
    Ok(fits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(f: impl Fn(f64) -> f64, sizes: &[f64]) -> Vec<(f64, f64)> {
        sizes.iter().map(|&n| (n, f(n))).collect()
    }

    const SIZES: [f64; 5] = [10.0, 50.0, 100.0, 500.0, 1000.0];

    #[test]
    fn each_shape_is_recognised_from_its_own_curve() {
        type Curve = fn(f64) -> f64;
        let cases: [(CostModel, Curve); 4] = [
            (CostModel::Constant, |_| 12.0),
            (CostModel::Linear, |n| 5.0 + 0.2 * n),
            (CostModel::NLogN, |n| 5.0 + 0.03 * n * n.ln()),
            (CostModel::Quadratic, |n| 5.0 + 0.0004 * n * n),
        ];
        for (model, f) in cases {
            let best = fit(&points(f, &SIZES)).unwrap()[0];
            assert_eq!(best.model, model, "{best:?}");
        }
    }

    #[test]
    fn linear_coefficients_and_projection_are_exact_by_hand() {
        // t = 5 ms + 0.2 ms per plugin: 1,000 → 205 ms, 10,000 → 2,005 ms
        let best = fit(&points(|n| 5.0 + 0.2 * n, &SIZES)).unwrap()[0];
        assert!((best.intercept - 5.0).abs() < 1e-9 && (best.slope - 0.2).abs() < 1e-12);
        assert!((best.predict(10_000.0) - 2005.0).abs() < 1e-6);
        assert!((best.r_squared - 1.0).abs() < 1e-12);
    }

    #[test]
    fn noisy_linear_data_still_picks_linear_and_reports_fit_quality() {
        // ±3 % alternating noise on 2 + 0.1·n
        let noisy: Vec<(f64, f64)> = [10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
            .iter()
            .enumerate()
            .map(|(i, &n)| (n, (2.0 + 0.1 * n) * if i % 2 == 0 { 1.03 } else { 0.97 }))
            .collect();
        let best = fit(&noisy).unwrap()[0];
        assert_eq!(best.model, CostModel::Linear);
        assert!(
            best.r_squared > 0.99 && best.r_squared < 1.0,
            "{}",
            best.r_squared
        );
    }

    #[test]
    fn refuses_too_little_or_bad_data() {
        assert_eq!(
            fit(&[(1.0, 1.0), (2.0, 2.0)]),
            Err(CostFitError::TooFewPoints)
        );
        assert_eq!(
            fit(&[(5.0, 1.0), (5.0, 2.0), (5.0, 3.0)]),
            Err(CostFitError::TooFewPoints)
        );
        assert_eq!(
            fit(&[(1.0, f64::NAN), (2.0, 2.0), (3.0, 3.0)]),
            Err(CostFitError::BadValue)
        );
    }
}
