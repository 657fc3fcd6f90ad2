//! A ramping arrival rate's result per stage (`bench --stages`): the rate
//! the schedule intended (the stage's mean), the rate achieved, latency
//! from each operation's intended start, and errors. As text, Markdown
//! and JSON. Pure.

use crate::number::{change, group, sig};
use scalewall_model::{StageResult, Step};
use std::fmt::Write as _;

/// One stage's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRow {
    /// Start, seconds.
    pub offset_s: f64,
    /// Length, seconds.
    pub duration_s: f64,
    /// Intended rate at the start and at the end, per second.
    pub from_to: (f64, f64),
    /// The stage's mean intended rate, per second.
    pub intended_rate: f64,
    /// Operations completed in the stage per second.
    pub achieved_rate: f64,
    /// Median and 99th percentile latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Errors.
    pub errors: u64,
}

fn row(stage: &StageResult) -> StageRow {
    let quantile = |q: f64| {
        if stage.latency_us.is_empty() {
            0.0
        } else {
            stage.latency_us.value_at_quantile(q) as f64 / 1000.0
        }
    };
    StageRow {
        offset_s: stage.offset_s,
        duration_s: stage.duration_s,
        from_to: (stage.from_rate_per_s, stage.to_rate_per_s),
        intended_rate: stage.intended / stage.duration_s.max(1e-9),
        achieved_rate: stage.outcomes.operations() as f64 / stage.duration_s.max(1e-9),
        p50_ms: quantile(0.5),
        p99_ms: quantile(0.99),
        errors: stage.outcomes.errors_total(),
    }
}

/// Every stage of a step (empty for a step without stages).
pub fn rows(step: &Step) -> Vec<StageRow> {
    step.stages.iter().map(row).collect()
}

fn cells(k: usize, r: &StageRow, unit: &str) -> [String; 8] {
    let achieved = if r.intended_rate > 0.0 {
        format!(
            "{} {unit} ({})",
            sig(r.achieved_rate),
            change(r.achieved_rate / r.intended_rate - 1.0)
        )
    } else {
        format!("{} {unit}", sig(r.achieved_rate))
    };
    [
        (k + 1).to_string(),
        format!("{}–{} s", sig(r.offset_s), sig(r.offset_s + r.duration_s)),
        format!("{} → {}", sig(r.from_to.0), sig(r.from_to.1)),
        format!("{} {unit}", sig(r.intended_rate)),
        achieved,
        format!("{} ms", sig(r.p50_ms)),
        format!("{} ms", sig(r.p99_ms)),
        group(r.errors),
    ]
}

const HEAD: [&str; 8] = [
    "stage",
    "time",
    "rate ramp",
    "intended",
    "achieved",
    "p50",
    "p99",
    "errors",
];

/// The stages as a text table (the `bench` command).
pub fn text(step: &Step, unit: &str) -> String {
    let rows = rows(step);
    if rows.is_empty() {
        return String::new();
    }
    let mut table = vec![HEAD.map(String::from).to_vec()];
    table.extend(
        rows.iter()
            .enumerate()
            .map(|(k, r)| cells(k, r, unit).to_vec()),
    );
    let mut out = String::from("stages (latency from each operation's intended start):\n");
    out.push_str(&crate::table::aligned(&table, &[]));
    out
}

/// The stages as a Markdown table.
pub fn markdown(step: &Step, unit: &str) -> String {
    let rows = rows(step);
    if rows.is_empty() {
        return String::new();
    }
    let mut out = format!("\n| {} |\n|{}\n", HEAD.join(" | "), "---:|".repeat(8));
    for (k, r) in rows.iter().enumerate() {
        let _ = writeln!(out, "| {} |", cells(k, r, unit).join(" | "));
    }
    out
}

/// The stages as JSON.
pub fn json(step: &Step) -> Vec<serde_json::Value> {
    rows(step)
        .iter()
        .map(|r| {
            serde_json::json!({
                "offset_s": r.offset_s,
                "duration_s": r.duration_s,
                "from_rate_per_s": r.from_to.0,
                "to_rate_per_s": r.from_to.1,
                "intended_rate_per_s": r.intended_rate,
                "achieved_rate_per_s": r.achieved_rate,
                "p50_ms": r.p50_ms,
                "p99_ms": r.p99_ms,
                "errors": r.errors,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalewall_model::{LatencyHistogram, OutcomeCounts};

    #[test]
    fn a_stage_reports_its_intended_and_achieved_rates() {
        let mut latency = LatencyHistogram::new();
        for _ in 0..990 {
            latency.record(2_000);
        }
        for _ in 0..10 {
            latency.record(9_000);
        }
        let step = Step {
            stages: vec![StageResult {
                offset_s: 0.0,
                duration_s: 10.0,
                from_rate_per_s: 0.0,
                to_rate_per_s: 200.0,
                intended: 1000.0,
                outcomes: OutcomeCounts {
                    responses: 980,
                    errors: [("timeout".to_string(), 10)].into(),
                    ..OutcomeCounts::default()
                },
                latency_us: latency,
            }],
            ..Step::default()
        };
        let r = &rows(&step)[0];
        assert_eq!(
            (r.intended_rate, r.achieved_rate, r.errors),
            (100.0, 99.0, 10)
        );
        assert!(
            (r.p99_ms - 2.0).abs() < 0.01 && (r.p50_ms - 2.0).abs() < 0.01,
            "{r:?}"
        );
        let md = markdown(&step, "req/s");
        assert!(
            md.contains("| 1 | 0–10 s | 0 → 200 | 100 req/s | 99 req/s (-1 %) |"),
            "{md}"
        );
        assert!(
            text(&step, "req/s").contains("stages (latency from each operation's intended start):")
        );
    }
}
