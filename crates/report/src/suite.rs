//! The runtime suite as a table (`scalewall suite`).

use crate::number::{group, sig};
use scalewall_model::Run;
use std::fmt::Write as _;

/// The runtime suite as a table: one row per benchmark.
pub fn suite_text(scenarios: &[scalewall_model::Scenario]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scalewall runtime suite ({})",
        scenarios.first().map_or("", |s| s.options.method.as_str())
    );
    let _ = writeln!(
        out,
        "  {:<16} {:>10} {:>11} {:>11} {:>12} {:>14} {:>7}",
        "benchmark", "operations", "mean (µs)", "p95 (µs)", "ops/s", "inner ops/s", "errors"
    );
    for s in scenarios {
        let Some(step) = s.steps.first() else {
            continue;
        };
        let inner = s.options.requests.unwrap_or(1) as f64;
        let _ = writeln!(
            out,
            "  {:<16} {:>10} {:>11} {:>11} {:>12} {:>14} {:>7}",
            s.name.trim_start_matches("suite."),
            group(step.outcomes.responses),
            sig(step.latency_us.mean()),
            group(step.latency_us.value_at_quantile(0.95)),
            sig(step.achieved_rate_per_s),
            sig(step.achieved_rate_per_s * inner),
            group(step.outcomes.errors_total())
        );
    }
    for s in scenarios {
        let _ = writeln!(
            out,
            "  {}: one operation = {}",
            s.name.trim_start_matches("suite."),
            s.target.trim_start_matches("runtime suite: ")
        );
    }
    out
}

/// The runtime suite as one JSON object: the run, the suite's version,
/// whether it completed, and one row per benchmark.
pub fn suite_json(run: &Run, suite_version: &str) -> String {
    let rows: Vec<serde_json::Value> = run
        .scenarios
        .iter()
        .filter_map(|s| {
            let step = s.steps.first()?;
            Some(serde_json::json!({
                "benchmark": s.name.trim_start_matches("suite."),
                "operation": s.target.trim_start_matches("runtime suite: "),
                "operations": step.outcomes.responses,
                "mean_us": step.latency_us.mean(),
                "p95_us": step.latency_us.value_at_quantile(0.95),
                "ops_per_s": step.achieved_rate_per_s,
                "inner_ops_per_operation": s.options.requests,
                "errors": step.outcomes.errors_total(),
                "first_error": step.error_examples.values().next(),
            }))
        })
        .collect();
    // Plain data with string keys always serialises.
    serde_json::to_string_pretty(&serde_json::json!({
        "run_id": run.id,
        "suite": suite_version,
        "completed": run.status == scalewall_model::RunStatus::Completed,
        "benchmarks": rows,
    }))
    .expect("suite JSON serialises")
        + "\n"
}
