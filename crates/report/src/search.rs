//! A search's levels and answer (`sweep --until-peak`, `sweep --slo`, a
//! config's `kind = "capacity"`): every level in the order it was
//! measured, with whether it met the SLOs, and the verdict. As text (the
//! `sweep` command), Markdown (the report) and JSON. Pure.

use crate::number::{group, pct, sig};
use scalewall_model::{Scenario, SearchRecord, Step};
use scalewall_stats::search::{broken, unjudged, Probe, Slo};
use scalewall_stats::summary::StepSummary;
use std::fmt::Write as _;

/// One measured level of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelRow {
    /// Connections, or the arrival rate.
    pub level: f64,
    /// Responses per second.
    pub throughput: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Errors.
    pub errors: u64,
    /// Errors as a share of operations, %.
    pub error_pct: f64,
    /// `None` when it met every SLO, else what broke (and `None` without SLOs).
    pub broke: Option<String>,
    /// SLOs the level had too few responses to judge.
    pub unjudged: Vec<String>,
}

/// The SLOs a record names (they parsed when the search ran).
fn slos_of(record: &SearchRecord) -> Vec<Slo> {
    record.slos.iter().filter_map(|s| s.parse().ok()).collect()
}

/// The level a step of a searched scenario stood at.
pub fn level_of(record: &SearchRecord, step: &Step) -> f64 {
    match (record.model.as_str(), step.target_rate_per_s) {
        ("open", Some(rate)) => rate,
        _ => f64::from(step.concurrency),
    }
}

/// Every level of a searched scenario, in the order measured.
pub fn rows(scenario: &Scenario, record: &SearchRecord) -> Vec<LevelRow> {
    let slos = slos_of(record);
    scenario
        .steps
        .iter()
        .map(|step| {
            let level = level_of(record, step);
            let s = StepSummary::of(step);
            let probe = Probe::of_step(step, level, &slos);
            LevelRow {
                level,
                throughput: s.rps,
                p50_ms: s.latency_ms.p50,
                p99_ms: s.latency_ms.p99,
                errors: s.errors_total,
                error_pct: s.error_ratio * 100.0,
                broke: broken(&slos, &probe),
                unjudged: unjudged(&slos, &probe),
            }
        })
        .collect()
}

/// What a search looked for, in words.
pub fn heading(record: &SearchRecord) -> String {
    let model = if record.model == "open" {
        "open model: the levels are arrival rates"
    } else {
        "closed model: the levels are connections"
    };
    match record.kind.as_str() {
        "capacity" => format!("capacity search under {} ({model})", record.slos.join(", ")),
        _ if record.slos.is_empty() => format!("search to the USL peak ({model})"),
        _ => format!(
            "search to the USL peak within {} ({model})",
            record.slos.join(", ")
        ),
    }
}

fn slo_cell(row: &LevelRow, record: &SearchRecord) -> String {
    match (&row.broke, record.slos.is_empty()) {
        (_, true) => "-".into(),
        (None, false) if row.unjudged.is_empty() => "met".into(),
        (None, false) => format!("not broken ({})", row.unjudged.join("; ")),
        (Some(what), false) => format!("BROKEN: {what}"),
    }
}

/// The levels as a Markdown table, then the verdict.
pub fn markdown(scenario: &Scenario, record: &SearchRecord, rate_unit: &str) -> String {
    let mut out = format!(
        "**Search**: {}; {} levels measured.\n\n",
        heading(record),
        scenario.steps.len()
    );
    let _ = writeln!(
        out,
        "| # | level ({}) | throughput ({rate_unit}) | p50 (ms) | p99 (ms) | errors | SLOs |",
        record.unit
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---|");
    for (k, row) in rows(scenario, record).iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            k + 1,
            sig(row.level),
            sig(row.throughput),
            sig(row.p50_ms),
            sig(row.p99_ms),
            group(row.errors),
            slo_cell(row, record).replace('|', "\\|")
        );
    }
    let _ = writeln!(out, "\n**Verdict:** {}.\n", record.verdict);
    out
}

/// The levels as a text table, then the verdict (the `sweep` command).
pub fn text(scenario: &Scenario, record: &SearchRecord, rate_unit: &str) -> String {
    let rows = rows(scenario, record);
    let mut table = vec![vec![
        "#".to_string(),
        format!("level ({})", record.unit),
        "throughput".into(),
        "p50".into(),
        "p99".into(),
        "errors".into(),
        "SLOs".into(),
    ]];
    for (k, row) in rows.iter().enumerate() {
        table.push(vec![
            (k + 1).to_string(),
            sig(row.level),
            format!("{} {rate_unit}", sig(row.throughput)),
            format!("{} ms", sig(row.p50_ms)),
            format!("{} ms", sig(row.p99_ms)),
            format!("{} ({})", group(row.errors), pct(row.error_pct)),
            slo_cell(row, record),
        ]);
    }
    let mut out = crate::table::aligned(&table, &[6]);
    let _ = writeln!(out, "  verdict: {}", record.verdict);
    out
}

/// A search as JSON: the answer (`kind`, `model`, `value`, `low`, `high`,
/// `unit`, `slos`, `limited_by`, `verdict`) and every level.
pub fn json(scenario: &Scenario, record: &SearchRecord) -> serde_json::Value {
    serde_json::json!({
        "scenario": scenario.name,
        "kind": record.kind,
        "model": record.model,
        "value": record.value,
        "low": record.low,
        "high": record.high,
        "unit": record.unit,
        "slos": record.slos,
        "limited_by": record.limited_by,
        "verdict": record.verdict,
        "levels": rows(scenario, record).iter().map(|r| serde_json::json!({
            "level": r.level,
            "throughput": r.throughput,
            "p50_ms": r.p50_ms,
            "p99_ms": r.p99_ms,
            "errors": r.errors,
            "met_slos": r.broke.is_none(),
            "broke": r.broke,
            "unjudged": r.unjudged,
        })).collect::<Vec<_>>(),
    })
}
