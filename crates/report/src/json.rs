//! The JSON report of one run: its status, findings, metrics with their
//! threshold status, changes since the previous run and the baseline,
//! trends, USL fits, artifacts and the capacity plan. Pure, like the
//! Markdown report it mirrors.

use crate::markdown::{Changes, ReportInput, Status};

/// The subject of a run that names none (as the history files it).
const DEFAULT_SUBJECT: &str = "host";

/// The JSON report (`exit_code`: what the run exits with, for CI).
pub fn report(input: &ReportInput<'_>, exit_code: u8) -> String {
    let metric_rows: Vec<serde_json::Value> = input
        .metrics
        .iter()
        .map(|m| {
            serde_json::json!({
                "name": m.name,
                "value": m.value,
                "unit": m.unit,
                "better": m.better,
                "status": input.statuses.get(&m.name).map(|s| match s {
                    Status::Ok => "ok",
                    Status::Warning => "warning",
                    Status::Critical => "critical",
                }),
                "samples": m.samples.len(),
            })
        })
        .collect();
    let changes = |c: &Option<Changes>| {
        c.as_ref()
            .map(|c| serde_json::json!({"against": c.against, "comparisons": c.comparisons}))
    };
    let sweeps: Vec<serde_json::Value> = input
        .sweeps
        .iter()
        .map(|s| {
            serde_json::json!({
                "scenario": s.scenario,
                "usl": s.fit.as_ref().ok().map(|f| serde_json::json!({
                    "sigma": f.sigma, "kappa": f.kappa, "lambda": f.lambda,
                    "r_squared": f.r_squared,
                    "peak_concurrency": f.peak_concurrency(),
                    "peak_throughput": f.peak_throughput(),
                })),
                "fit_error": s.fit.as_ref().err(),
                "verdict": s.verdict,
                "warnings": s.warnings,
            })
        })
        .collect();
    let mut doc = serde_json::json!({
        "run_id": input.run.id,
        "subject": input.run.subject.as_deref().unwrap_or(DEFAULT_SUBJECT),
        "status": input.run.status,
        "started_at": input.run.started_at,
        "finished_at": input.run.finished_at,
        "exit_code": exit_code,
        "findings": input.run.findings,
        "metrics": metric_rows,
        "changes_since_previous": changes(&input.previous),
        "changes_since_baseline": changes(&input.baseline),
        "trends": input.trends.iter().map(|(m, t, n)| serde_json::json!({"metric": m, "trend": t, "runs": n})).collect::<Vec<_>>(),
        "sweeps": sweeps,
        "searches": input.run.scenarios.iter().filter_map(|s| Some(crate::search::json(s, s.search.as_ref()?))).collect::<Vec<_>>(),
        "artifacts": input.artifacts,
        "plan": input.run.plan.as_ref().map(|p| &p.json),
    });
    // Only where a scenario has phases or checks (older runs read as before).
    let responses = responses(input);
    if let (false, Some(map)) = (responses.is_empty(), doc.as_object_mut()) {
        map.insert("responses".into(), responses.into());
    }
    serde_json::to_string_pretty(&doc).expect("report JSON serialises") + "\n"
}

/// The phases, streamed events and checks of each one-step scenario
/// that has them.
fn responses(input: &ReportInput<'_>) -> Vec<serde_json::Value> {
    input
        .run
        .scenarios
        .iter()
        .filter_map(|s| match s.steps.as_slice() {
            [step] if step.phases.is_some() || !step.checks.is_empty() => Some(serde_json::json!({
                "scenario": s.name,
                "phases_ms": scalewall_stats::summary::PhasesSummary::of(step),
                "events": scalewall_stats::summary::StreamSummary::of(step),
                "checks": crate::bench::checks_json(step),
            })),
            _ => None,
        })
        .collect()
}
