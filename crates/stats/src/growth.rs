//! Growth over time: when will a stored metric cross its limit?
//!
//! Two trends are fitted to (time in days, value): linear by ordinary least
//! squares, as Prometheus' `predict_linear`, and exponential by least squares
//! on ln(value) (values must be positive). Both are scored by R² on the
//! original scale, so they are compared on the same footing, and the better
//! one projects the crossing time of the limit; the fit quality is reported
//! with it.

/// A trend shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrowthModel {
    /// v = a + b·t.
    Linear,
    /// v = a·e^(b·t).
    Exponential,
}

impl GrowthModel {
    /// Name as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            GrowthModel::Linear => "linear",
            GrowthModel::Exponential => "exponential",
        }
    }
}

/// A fitted trend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GrowthFit {
    /// The shape.
    pub model: GrowthModel,
    /// a: the value at t = 0 (both shapes).
    pub a: f64,
    /// b: per day (linear: units per day; exponential: growth rate per day).
    pub b: f64,
    /// R² on the original values.
    pub r_squared: f64,
}

impl GrowthFit {
    /// The trend's value at day t.
    pub fn predict(&self, t: f64) -> f64 {
        match self.model {
            GrowthModel::Linear => self.a + self.b * t,
            GrowthModel::Exponential => self.a * (self.b * t).exp(),
        }
    }

    /// The day at which the trend reaches `limit`, if it ever does moving
    /// forward from `from` (already past it: `from`).
    pub fn crossing(&self, limit: f64, from: f64) -> Option<f64> {
        let now = self.predict(from);
        let rising = limit >= now;
        if (rising && self.b <= 0.0) || (!rising && self.b >= 0.0) {
            return (now == limit).then_some(from);
        }
        let t = match self.model {
            GrowthModel::Linear => (limit - self.a) / self.b,
            GrowthModel::Exponential => {
                if limit <= 0.0 || self.a <= 0.0 {
                    return None;
                }
                (limit / self.a).ln() / self.b
            }
        };
        (t.is_finite()).then_some(t.max(from))
    }
}

/// Why no trend could be fitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrowthError {
    /// Fewer than 2 points at distinct times.
    #[error("a trend needs at least 2 points at different times")]
    TooFewPoints,
    /// A time or value that is not finite.
    #[error("times and values must be finite")]
    BadValue,
}

fn least_squares(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_v = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_t) * (p.1 - mean_v)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
    let b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (mean_v - b * mean_t, b)
}

fn r_squared(points: &[(f64, f64)], fit: &GrowthFit) -> f64 {
    let mean = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    let sst: f64 = points.iter().map(|p| (p.1 - mean).powi(2)).sum();
    let sse: f64 = points
        .iter()
        .map(|p| (p.1 - fit.predict(p.0)).powi(2))
        .sum();
    if sst > 0.0 {
        1.0 - sse / sst
    } else if sse == 0.0 {
        1.0
    } else {
        0.0
    }
}

/// Fits both trends; best (highest R²) first. The exponential is left out
/// when a value is not positive.
pub fn fit(points: &[(f64, f64)]) -> Result<Vec<GrowthFit>, GrowthError> {
    if points.iter().any(|p| !p.0.is_finite() || !p.1.is_finite()) {
        return Err(GrowthError::BadValue);
    }
    let distinct = points
        .iter()
        .any(|p| (p.0 - points[0].0).abs() > f64::EPSILON);
    if points.len() < 2 || !distinct {
        return Err(GrowthError::TooFewPoints);
    }
    let (a, b) = least_squares(points);
    let mut linear = GrowthFit {
        model: GrowthModel::Linear,
        a,
        b,
        r_squared: 0.0,
    };
    linear.r_squared = r_squared(points, &linear);
    let mut fits = vec![linear];
    if points.iter().all(|p| p.1 > 0.0) {
        let logs: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.1.ln())).collect();
        let (ln_a, b) = least_squares(&logs);
        let mut exponential = GrowthFit {
            model: GrowthModel::Exponential,
            a: ln_a.exp(),
            b,
            r_squared: 0.0,
        };
        exponential.r_squared = r_squared(points, &exponential);
        fits.push(exponential);
    }
    fits.sort_by(|x, y| y.r_squared.total_cmp(&x.r_squared));
    Ok(fits)
}

/// Fewest completed runs a projection is drawn from: two points always
/// fit a line exactly (R² = 1), so two say nothing about a trend.
pub const MIN_RUNS: usize = 3;

/// How far past the observed span a crossing may lie and still be called a
/// projection rather than a guess: the span's multiple.
pub const MAX_EXTRAPOLATION: f64 = 3.0;

/// Confidence of the crossing-time interval.
pub const CONFIDENCE: f64 = 0.95;

/// When the trend of a metric reaches its limit, with the evidence's quality.
#[derive(Debug, Clone, PartialEq)]
pub enum Crossing {
    /// Too few runs to claim a trend.
    TooFewRuns {
        /// Runs available.
        runs: usize,
    },
    /// The trend does not reach the limit (flat, or moving away from it).
    Never,
    /// The trend reaches the limit.
    At {
        /// Days from the latest run (0: already past it).
        days: f64,
        /// The 95 % interval of that time, days from the latest run; the
        /// upper end is infinite when the slope may be zero or reversed.
        interval: (f64, f64),
        /// The crossing lies more than [`MAX_EXTRAPOLATION`] times the
        /// observed span past the latest run: beyond the data.
        beyond_data: bool,
    },
}

/// Projects when the trend of `points` (days, value), oldest first,
/// reaches `limit`: the better fit, the crossing from the latest point, and
/// the interval of the crossing time from the slope's standard error
/// (Student t with n − 2 degrees of freedom, on the log scale for the
/// exponential trend). Pure.
pub fn project(points: &[(f64, f64)], limit: f64) -> Result<(GrowthFit, Crossing), GrowthError> {
    let best = fit(points)?[0];
    if points.len() < MIN_RUNS {
        return Ok((best, Crossing::TooFewRuns { runs: points.len() }));
    }
    let last = points[points.len() - 1].0;
    let first = points[0].0;
    let Some(at) = best.crossing(limit, last) else {
        return Ok((best, Crossing::Never));
    };
    let days = at - last;
    // The interval: the slope at its 95 % bounds, through the mean point.
    let (scale_points, scaled_limit): (Vec<(f64, f64)>, f64) = match best.model {
        GrowthModel::Linear => (points.to_vec(), limit),
        GrowthModel::Exponential => (points.iter().map(|p| (p.0, p.1.ln())).collect(), limit.ln()),
    };
    let interval = crossing_interval(&scale_points, scaled_limit, last).unwrap_or((days, days));
    let span = last - first;
    Ok((
        best,
        Crossing::At {
            days,
            interval,
            beyond_data: days > MAX_EXTRAPOLATION * span,
        },
    ))
}

/// A trend's value at a horizon, with the 95 % interval of the trend
/// there (the fitted line's confidence band: where the trend itself lies,
/// not where one run may land).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AtHorizon {
    /// Days past the latest run.
    pub days: f64,
    /// The trend's value there.
    pub value: f64,
    /// The interval's ends.
    pub interval: (f64, f64),
    /// The horizon lies more than [`MAX_EXTRAPOLATION`] times the observed
    /// span past the latest run: beyond the data.
    pub beyond_data: bool,
}

/// The value of the better trend of `points` (days, value), oldest first,
/// `days` past the latest point, with its interval: on the log scale for
/// the exponential trend, so its interval is not symmetric. `None` with
/// fewer than [`MIN_RUNS`] points or no trend. Pure.
pub fn at_horizon(points: &[(f64, f64)], days: f64) -> Option<AtHorizon> {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    if points.len() < MIN_RUNS {
        return None;
    }
    let best = fit(points).ok()?[0];
    let last = points[points.len() - 1].0;
    let t_at = last + days;
    let scaled: Vec<(f64, f64)> = match best.model {
        GrowthModel::Linear => points.to_vec(),
        GrowthModel::Exponential => points.iter().map(|p| (p.0, p.1.ln())).collect(),
    };
    let n = scaled.len() as f64;
    let (a, b) = least_squares(&scaled);
    let mean_t = scaled.iter().map(|p| p.0).sum::<f64>() / n;
    let sxx: f64 = scaled.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
    let sse: f64 = scaled.iter().map(|p| (p.1 - a - b * p.0).powi(2)).sum();
    let s = (sse / (n - 2.0)).sqrt();
    let se = s * (1.0 / n + (t_at - mean_t).powi(2) / sxx).sqrt();
    let t = StudentsT::new(0.0, 1.0, n - 2.0)
        .ok()?
        .inverse_cdf(0.5 + CONFIDENCE / 2.0);
    let centre = a + b * t_at;
    let back = |v: f64| match best.model {
        GrowthModel::Linear => v,
        GrowthModel::Exponential => v.exp(),
    };
    Some(AtHorizon {
        days,
        value: best.predict(t_at),
        interval: (back(centre - t * se), back(centre + t * se)),
        beyond_data: days > MAX_EXTRAPOLATION * (last - points[0].0),
    })
}

/// The crossing times (days after `from`) of the lines through the mean
/// point with the slope at the ends of its confidence interval.
fn crossing_interval(points: &[(f64, f64)], limit: f64, from: f64) -> Option<(f64, f64)> {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    let n = points.len() as f64;
    let (a, b) = least_squares(points);
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_v = a + b * mean_t;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
    let sse: f64 = points.iter().map(|p| (p.1 - a - b * p.0).powi(2)).sum();
    let se = (sse / (n - 2.0) / sxx).sqrt();
    let t = StudentsT::new(0.0, 1.0, n - 2.0)
        .ok()?
        .inverse_cdf(0.5 + CONFIDENCE / 2.0);
    let when = |slope: f64| -> f64 {
        let at = mean_t + (limit - mean_v) / slope;
        if at.is_finite() {
            (at - from).max(0.0)
        } else {
            f64::INFINITY
        }
    };
    let (steep, shallow) = if b > 0.0 {
        (b + t * se, b - t * se)
    } else {
        (b - t * se, b + t * se)
    };
    let low = when(steep);
    // A shallow slope of the other sign never reaches the limit.
    let high = if shallow.signum() != b.signum() || shallow == 0.0 {
        f64::INFINITY
    } else {
        when(shallow)
    };
    Some((low.min(high), high.max(low)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 29, item 6: a metric growing 2 a day from 40 over ten days,
    /// with ±0.5 of noise (60 at day 10), is worth 120 thirty days past
    /// the latest run (day 40); the interval
    /// holds it, widens with the horizon, and a year is beyond the data.
    #[test]
    fn a_trends_value_at_a_horizon_has_its_interval() {
        let points: Vec<(f64, f64)> = (0..=10)
            .map(|d| {
                (
                    d as f64,
                    40.0 + 2.0 * d as f64 + if d % 2 == 0 { 0.5 } else { -0.5 },
                )
            })
            .collect();
        let month = at_horizon(&points, 30.0).unwrap();
        assert!((month.value - 120.0).abs() < 1.0, "{month:?}");
        assert!(month.interval.0 < month.value && month.value < month.interval.1);
        assert!(
            month.interval.0 > 110.0 && month.interval.1 < 130.0,
            "{month:?}"
        );
        assert!(!month.beyond_data);
        let year = at_horizon(&points, 365.0).unwrap();
        assert!(year.beyond_data);
        assert!(
            year.interval.1 - year.interval.0 > month.interval.1 - month.interval.0,
            "{year:?}"
        );
        assert_eq!(at_horizon(&points[..2], 30.0), None);
    }

    /// Issue 21, item 4: two runs 33 s apart projected "linear, R² 1.000,
    /// in ≈ 0.11 days". Two runs make no trend.
    #[test]
    fn two_runs_make_no_projection() {
        let minute = 1.0 / 1440.0;
        let (_, crossing) = project(&[(0.0, 40.0), (0.55 * minute, 41.0)], 95.0).unwrap();
        assert_eq!(crossing, Crossing::TooFewRuns { runs: 2 });
    }

    #[test]
    fn a_noisy_trend_gets_a_wide_interval_and_a_far_one_is_beyond_the_data() {
        // 100, 105, 109, 116, 119 over 4 days: about 4.8 per day, limit 200
        let points = [
            (0.0, 100.0),
            (1.0, 105.0),
            (2.0, 109.0),
            (3.0, 116.0),
            (4.0, 119.0),
        ];
        let (fit, crossing) = project(&points, 140.0).unwrap();
        assert_eq!(fit.model, GrowthModel::Linear);
        let Crossing::At {
            days,
            interval,
            beyond_data,
        } = crossing
        else {
            panic!("{crossing:?}")
        };
        // by hand: Sxy = 49, Sxx = 10, slope 4.9/day, intercept 100.0:
        // 140 at t = 40 / 4.9 = 8.163, 4.163 days after day 4
        assert!((days - 4.163).abs() < 0.001, "{days}");
        assert!(interval.0 < days && days < interval.1, "{interval:?}");
        assert!(!beyond_data);
        let Crossing::At { beyond_data, .. } = project(&points, 400.0).unwrap().1 else {
            panic!()
        };
        assert!(beyond_data, "57 days past a 4-day span");
        assert_eq!(project(&points, 50.0).unwrap().1, Crossing::Never);
    }

    #[test]
    fn a_known_linear_slope_crosses_on_the_day_computed_by_hand() {
        // 100 MB growing 5 MB/day, limit 512 MB: (512 − 100) / 5 = 82.4 days
        let points: Vec<(f64, f64)> = (0..10)
            .map(|d| (d as f64, 100.0 + 5.0 * d as f64))
            .collect();
        let best = fit(&points).unwrap()[0];
        assert_eq!(best.model, GrowthModel::Linear);
        let day = best.crossing(512.0, 9.0).unwrap();
        assert!((day - 82.4).abs() / 82.4 < 1e-9, "{day}");
    }

    #[test]
    fn exponential_growth_is_recognised_and_projected() {
        // doubling every 7 days from 10: 10·2^(t/7) reaches 640 at t = 42
        let points: Vec<(f64, f64)> = (0..15)
            .map(|d| (d as f64, 10.0 * 2f64.powf(d as f64 / 7.0)))
            .collect();
        let best = fit(&points).unwrap()[0];
        assert_eq!(best.model, GrowthModel::Exponential);
        let day = best.crossing(640.0, 14.0).unwrap();
        assert!((day - 42.0).abs() < 1e-6, "{day}");
    }

    #[test]
    fn a_flat_or_falling_trend_never_crosses_and_bad_input_is_refused() {
        let flat = fit(&[(0.0, 5.0), (1.0, 5.0), (2.0, 5.0)]).unwrap()[0];
        assert_eq!(flat.crossing(10.0, 2.0), None);
        let falling = fit(&[(0.0, 9.0), (1.0, 8.0), (2.0, 7.0)]).unwrap()[0];
        assert_eq!(falling.crossing(10.0, 2.0), None);
        // falling towards a lower limit crosses it
        assert!((falling.crossing(3.0, 2.0).unwrap() - 6.0).abs() < 1e-9);
        assert_eq!(fit(&[(1.0, 1.0)]), Err(GrowthError::TooFewPoints));
        assert_eq!(
            fit(&[(1.0, 1.0), (1.0, 2.0)]),
            Err(GrowthError::TooFewPoints)
        );
        assert_eq!(
            fit(&[(1.0, f64::NAN), (2.0, 2.0)]),
            Err(GrowthError::BadValue)
        );
    }
}
