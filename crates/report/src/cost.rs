//! Cost curves of a `--param` sweep as text or JSON (`scalewall sweep --exec … --param`).

use crate::number::{group, sig, sig_n, time_ms};
use scalewall_model::Run;
use scalewall_stats::cost::{CostFit, CostModel};
use scalewall_stats::summary::StepSummary;
use std::fmt::Write as _;

/// A model's term in `name` (`n`, `n·ln n`, `n²`); `None` for a constant.
fn term(model: CostModel, name: &str) -> Option<String> {
    match model {
        CostModel::Constant => None,
        CostModel::Linear => Some(name.to_string()),
        CostModel::NLogN => Some(format!("{name}·ln {name}")),
        CostModel::Quadratic => Some(format!("{name}²")),
    }
}

/// The fitted formula of a cost curve, in ms.
pub fn cost_formula(fit: &CostFit, name: &str) -> String {
    match term(fit.model, name) {
        None => format!("t = {}", time_ms(fit.intercept)),
        Some(term) => format!(
            "t = {} + {} ms × {term}",
            time_ms(fit.intercept),
            sig_n(fit.slope, 4)
        ),
    }
}

/// The fitted formula of a curve in another unit (memory in MiB):
/// `a MiB + b MiB × n`.
pub fn curve_formula(fit: &CostFit, name: &str, unit: &str) -> String {
    match term(fit.model, name) {
        None => format!("{} {unit}", sig(fit.intercept)),
        Some(term) => format!(
            "{} {unit} + {} {unit} × {term}",
            sig(fit.intercept),
            sig_n(fit.slope, 4)
        ),
    }
}

/// The text summary of a `sweep --param`: per value, the fit, the projections.
pub fn cost_text(run: &Run, name: &str, fits: Option<&[CostFit]>, project: &[f64]) -> String {
    let scenario = &run.scenarios[0];
    let mut out = String::new();
    let concurrency = scenario.steps.first().map_or(1, |s| s.concurrency);
    let _ = writeln!(
        out,
        "scalewall sweep {} — {name} through {} values at concurrency {concurrency}",
        scenario.target,
        scenario.steps.len()
    );
    let _ = writeln!(
        out,
        "  {:>10}  {:>10}  {:>11}  {:>11}  {:>11}  {:>7}  {:>11}  {:>12}",
        name, "ops/s", "mean", "p50", "p99", "errors", "CPU/op", "peak RSS/op"
    );
    for step in &scenario.steps {
        let summary = StepSummary::of(step);
        let commands = step.resources.as_ref().and_then(|r| r.commands.as_ref());
        let _ = writeln!(
            out,
            "  {:>10}  {:>10}  {:>11}  {:>11}  {:>11}  {:>7}  {:>11}  {:>12}",
            sig(step.param_value.unwrap_or(f64::NAN)),
            sig(step.achieved_rate_per_s),
            time_ms(step.latency_us.mean() / 1000.0),
            time_ms(summary.latency_ms.p50),
            time_ms(summary.latency_ms.p99),
            group(step.outcomes.errors_total()),
            commands.map_or("-".into(), |c| time_ms(c.cpu_ms_per_operation())),
            commands.map_or("-".into(), |c| crate::number::bytes(
                c.mean_peak_rss_bytes as u64
            ))
        );
    }
    match fits {
        None => {
            let _ = writeln!(
                out,
                "  cost curve   none: needs 3 measured values over 2 or more sizes"
            );
        }
        Some(fits) => {
            let best = &fits[0];
            let _ = writeln!(
                out,
                "  cost curve   {} — {} (R² {})",
                best.model.as_str(),
                cost_formula(best, name),
                crate::number::r_squared(best.r_squared)
            );
            let others: Vec<String> = fits[1..]
                .iter()
                .map(|f| {
                    format!(
                        "{} R² {}",
                        f.model.as_str(),
                        crate::number::r_squared(f.r_squared)
                    )
                })
                .collect();
            let _ = writeln!(out, "  also tried   {} (chosen by BIC)", others.join(", "));
            for &size in project {
                let _ = writeln!(
                    out,
                    "  projected    {name} = {} → {} per operation",
                    sig(size),
                    time_ms(best.predict(size))
                );
            }
        }
    }
    let _ = writeln!(out, "  run          {}", run.id);
    out
}

/// The JSON summary of a `sweep --param`.
pub fn cost_json(run: &Run, name: &str, fits: Option<&[CostFit]>, project: &[f64]) -> String {
    let scenario = &run.scenarios[0];
    let points: Vec<serde_json::Value> = scenario
        .steps
        .iter()
        .map(|step| {
            let summary = StepSummary::of(step);
            serde_json::json!({
                name: step.param_value,
                "concurrency": step.concurrency,
                "ops_per_s": step.achieved_rate_per_s,
                "mean_ms": step.latency_us.mean() / 1000.0,
                "p50_ms": summary.latency_ms.p50,
                "p99_ms": summary.latency_ms.p99,
                "responses": step.outcomes.responses,
                "errors": step.outcomes.errors_total(),
                // Each operation's process, from wait4 (absent unmetered).
                "commands": step.resources.as_ref().and_then(|r| r.commands.as_ref()).map(|c| serde_json::json!({
                    "operations": c.operations,
                    "cpu_ms_per_operation": c.cpu_ms_per_operation(),
                    "mean_peak_rss_bytes": c.mean_peak_rss_bytes,
                    "peak_rss_bytes": c.peak_rss_bytes,
                })),
            })
        })
        .collect();
    let fit_json = |f: &CostFit| {
        serde_json::json!({
            "model": f.model.as_str(),
            "intercept_ms": f.intercept,
            "slope_ms": f.slope,
            "r_squared": f.r_squared,
            "bic": f.bic,
        })
    };
    let doc = serde_json::json!({
        "run_id": run.id,
        "target": scenario.target,
        "parameter": name,
        "points": points,
        "fit": fits.map(|f| fit_json(&f[0])),
        "alternatives": fits.map(|f| f[1..].iter().map(fit_json).collect::<Vec<_>>()),
        "projections": fits.map(|f| project
            .iter()
            .map(|&size| serde_json::json!({ name: size, "ms": f[0].predict(size) }))
            .collect::<Vec<_>>()),
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
