//! USL tables: measured levels beside the fitted model, as text or JSON
//! (`scalewall sweep`, `fit`).

use crate::number::{group, sig, sig_n};
use scalewall_stats::sweep::SweepPoint;
use scalewall_stats::usl::{Point, UslError, UslFit};
use serde::Serialize;
use std::fmt::Write as _;

/// One row of a USL table: a measured level and what the fit says of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UslRow {
    /// Concurrency N.
    pub concurrency: f64,
    /// Measured throughput.
    pub throughput: f64,
    /// 99th percentile latency, ms (sweeps only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// Responses behind the figures (sweeps only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responses: Option<u64>,
    /// X / (λN).
    pub efficiency: Option<f64>,
    /// Modelled throughput at this N.
    pub fitted_throughput: Option<f64>,
    /// Honesty flags.
    pub flags: Vec<&'static str>,
}

/// Rows for a sweep's points.
pub fn sweep_rows(points: &[SweepPoint], fit: Option<&UslFit>) -> Vec<UslRow> {
    points
        .iter()
        .map(|p| UslRow {
            concurrency: f64::from(p.concurrency),
            throughput: p.throughput,
            p99_ms: Some(p.p99_ms),
            responses: Some(p.responses),
            efficiency: p.efficiency,
            fitted_throughput: fit.map(|f| f.throughput_at(f64::from(p.concurrency))),
            flags: p.flags.clone(),
        })
        .collect()
}

/// Rows for plain (concurrency, throughput) points.
pub fn point_rows(points: &[Point], fit: Option<&UslFit>) -> Vec<UslRow> {
    points
        .iter()
        .map(|p| UslRow {
            concurrency: p.concurrency,
            throughput: p.throughput,
            p99_ms: None,
            responses: None,
            efficiency: fit.map(|f| f.efficiency(p)),
            fitted_throughput: fit.map(|f| f.throughput_at(p.concurrency)),
            flags: Vec::new(),
        })
        .collect()
}

fn with_interval(value: f64, interval: Option<[f64; 2]>) -> String {
    match interval {
        Some([low, high]) => format!(
            "{} [{}, {}]",
            sig_n(value, 4),
            sig_n(low, 3),
            sig_n(high, 3)
        ),
        None => sig_n(value, 4),
    }
}

/// The USL section as text: table, fit, verdict, warnings.
pub fn usl_text(
    heading: &str,
    rows: &[UslRow],
    fit: Result<&UslFit, &UslError>,
    warnings: &[String],
    unit: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{heading}");
    let has_latency = rows.iter().any(|r| r.p99_ms.is_some());
    let _ = writeln!(
        out,
        "  {:>8}  {:>14}  {:>14}{}  {:>10}  flags",
        "N",
        format!("X ({unit})"),
        "USL X",
        if has_latency {
            format!("  {:>9}  {:>9}", "p99 (ms)", "responses")
        } else {
            String::new()
        },
        "efficiency"
    );
    for r in rows {
        let latency = match (r.p99_ms, r.responses) {
            (Some(p99), Some(n)) => format!("  {:>9}  {:>9}", sig(p99), group(n)),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:>8}  {:>14}  {:>14}{latency}  {:>10}  {}",
            if r.concurrency.fract() == 0.0 {
                format!("{}", r.concurrency)
            } else {
                sig_n(r.concurrency, 4)
            },
            sig(r.throughput),
            r.fitted_throughput.map_or("-".into(), sig),
            r.efficiency.map_or("-".into(), |e| sig_n(e, 3)),
            r.flags.join(",")
        );
    }
    match fit {
        Ok(fit) => {
            let ci = fit.confidence_95;
            let _ = writeln!(
                out,
                "  USL fit (n = {}): σ = {}  κ = {}  λ = {} {unit}",
                fit.points,
                with_interval(fit.sigma, ci.map(|c| c[0])),
                with_interval(fit.kappa, ci.map(|c| c[1])),
                with_interval(fit.lambda, ci.map(|c| c[2])),
            );
            let _ = writeln!(
                out,
                "  R² = {}{}{}",
                crate::number::r_squared(fit.r_squared),
                fit.residual_standard_error
                    .map_or(String::new(), |rse| format!(
                        ", residual standard error {} {unit}",
                        sig_n(rse, 3)
                    )),
                if ci.is_some() {
                    "; [95 % intervals: estimate ± t(0.975, n−3)·SE]"
                } else {
                    "; no intervals with 3 points"
                }
            );
            if let Some(n) = fit.peak_concurrency() {
                let _ = writeln!(
                    out,
                    "  N* = √((1−σ)/κ) = {} (not rounded), X(N*) = {} {unit}",
                    sig_n(n, 4),
                    sig_n(fit.throughput_at(n), 4)
                );
            }
            if let Some(ceiling) = fit.amdahl_ceiling() {
                let _ = writeln!(out, "  Amdahl ceiling λ/σ = {} {unit}", sig_n(ceiling, 4));
            }
            let max_n = rows.iter().map(|r| r.concurrency).fold(0.0, f64::max);
            let _ = writeln!(out, "verdict: {}", fit.verdict().sentence(unit, max_n));
        }
        Err(error) => {
            let _ = writeln!(out, "  no USL fit: {error}");
        }
    }
    for warning in warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    out
}

/// The USL result as JSON: `usl`, `verdict`, `points`, `warnings`.
pub fn usl_json(
    run_id: Option<&str>,
    rows: &[UslRow],
    fit: Result<&UslFit, &UslError>,
    warnings: &[String],
    unit: &str,
) -> String {
    let doc = usl_json_value(run_id, rows, fit, warnings, unit);
    // Plain data with string keys always serialises.
    serde_json::to_string_pretty(&doc).expect("USL JSON serialises")
}

/// [`usl_json`] as a value, for callers that add sections.
pub fn usl_json_value(
    run_id: Option<&str>,
    rows: &[UslRow],
    fit: Result<&UslFit, &UslError>,
    warnings: &[String],
    unit: &str,
) -> serde_json::Value {
    let max_n = rows.iter().map(|r| r.concurrency).fold(0.0, f64::max);
    let usl = fit.ok().map(|f| {
        let named = |v: [f64; 3]| serde_json::json!({"sigma": v[0], "kappa": v[1], "lambda": v[2]});
        serde_json::json!({
            "sigma": f.sigma,
            "kappa": f.kappa,
            "lambda": f.lambda,
            "peak_concurrency": f.peak_concurrency(),
            "peak_throughput": f.peak_throughput(),
            "amdahl_ceiling": f.amdahl_ceiling(),
            "r_squared": f.r_squared,
            "residual_standard_error": f.residual_standard_error,
            "standard_errors": f.standard_errors.map(named),
            "confidence_95": f.confidence_95.map(|c| serde_json::json!({"sigma": c[0], "kappa": c[1], "lambda": c[2]})),
            "confidence_method": "estimate ± t(0.975, n−3)·SE, SE = sqrt(diag((JᵀJ)⁻¹)·RSS/(n−3))",
            "points": f.points,
            "wall": f.verdict(),
        })
    });
    serde_json::json!({
        "run_id": run_id,
        "unit": unit,
        "usl": usl,
        "verdict": fit.ok().map(|f| f.verdict().sentence(unit, max_n)),
        "fit_error": fit.err().map(ToString::to_string),
        "points": rows,
        "warnings": warnings,
    })
}
