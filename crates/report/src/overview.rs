//! What a reader needs first, computed once for both the Markdown and the
//! HTML report: the health score, the findings by severity with the worst
//! ones, each sweep's scaling wall and what limits it, the capacity plan's
//! first break, and one row of key figures per scenario with its change
//! since the previous run. Pure: everything comes from a [`ReportInput`].

use crate::markdown::ReportInput;
use scalewall_model::{Finding, PlanRecord, Severity};
use scalewall_stats::capacity;
use scalewall_stats::compare::MetricComparison;
use scalewall_stats::metrics;
use scalewall_stats::number::{rate_unit, sig};
use scalewall_stats::summary::StepSummary;
use std::collections::BTreeMap;

/// How many findings the summary lists (the rest are in the Findings section).
pub const TOP_FINDINGS: usize = 5;

/// One sweep's scaling wall.
#[derive(Debug, Clone, PartialEq)]
pub struct Wall {
    /// The sweep scenario.
    pub scenario: String,
    /// Its throughput unit.
    pub unit: &'static str,
    /// N* and X(N*), when the fit has a peak.
    pub peak: Option<(f64, f64)>,
    /// The verdict sentence, or why there is no fit.
    pub verdict: String,
    /// What limits throughput there, from the resource readings.
    pub limited_by: Option<String>,
}

/// The capacity plan in one line: where it first breaks.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanHeadline {
    /// The headline driver (e.g. `agents`).
    pub driver: String,
    /// Its value today.
    pub today: Option<f64>,
    /// The component that breaks first and the driver value where it does.
    pub first_break: Option<(String, f64)>,
    /// The scale where several components strain or break together.
    pub wall: Option<String>,
    /// The worst status of any component today, and which.
    pub worst_today: Option<(String, String)>,
}

/// One scenario's key figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioRow {
    /// Scenario name.
    pub scenario: String,
    /// The protocol and `bench`, or `sweep, K levels`.
    pub kind: String,
    /// Throughput unit.
    pub unit: &'static str,
    /// For a sweep: the level with the highest throughput, whose figures the row shows.
    pub at_level: Option<u32>,
    /// Responses per second.
    pub throughput: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Errors (every kind).
    pub errors: u64,
    /// Errors as a share of operations, %.
    pub error_pct: f64,
    /// Throughput compared with the previous run.
    pub throughput_change: Option<MetricComparison>,
    /// p99 compared with the previous run.
    pub p99_change: Option<MetricComparison>,
}

/// The summary of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview<'a> {
    /// 0–10 from the findings ([`capacity::health_score`]).
    pub health_score: f64,
    /// Findings per severity, worst first, only the severities present.
    pub counts: Vec<(Severity, usize)>,
    /// The worst findings, at most [`TOP_FINDINGS`].
    pub top_findings: Vec<&'a Finding>,
    /// Every sweep's wall.
    pub walls: Vec<Wall>,
    /// Every search's verdict: (scenario, sentence).
    pub searches: Vec<(String, String)>,
    /// The capacity plan's headline.
    pub plan: Option<PlanHeadline>,
    /// One row per scenario that measured something.
    pub rows: Vec<ScenarioRow>,
}

/// The formula behind [`Overview::health_score`], for the reader.
pub fn health_formula() -> String {
    let terms: Vec<String> = capacity::HEALTH_PENALTY
        .iter()
        .map(|(name, points)| format!("{points}×{name}"))
        .collect();
    format!("10 − {}, never below 0", terms.join(" − "))
}

impl<'a> Overview<'a> {
    /// The overview of a report's input.
    pub fn of(input: &ReportInput<'a>) -> Overview<'a> {
        let run = input.run;
        let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
        let mut counts: BTreeMap<std::cmp::Reverse<Severity>, usize> = BTreeMap::new();
        for f in &run.findings {
            *by_name
                .entry(crate::components::severity_name(f.severity).to_string())
                .or_default() += 1;
            *counts.entry(std::cmp::Reverse(f.severity)).or_default() += 1;
        }
        let mut top: Vec<&Finding> = run.findings.iter().collect();
        top.sort_by_key(|f| std::cmp::Reverse(f.severity));
        top.truncate(TOP_FINDINGS);
        Overview {
            health_score: capacity::health_score(&by_name),
            counts: counts.into_iter().map(|(s, n)| (s.0, n)).collect(),
            top_findings: top,
            walls: walls(input),
            searches: run
                .scenarios
                .iter()
                .filter_map(|s| Some((s.name.clone(), s.search.as_ref()?.verdict.clone())))
                .collect(),
            plan: run.plan.as_ref().and_then(plan_headline),
            rows: rows(input),
        }
    }
}

fn walls(input: &ReportInput<'_>) -> Vec<Wall> {
    input
        .sweeps
        .iter()
        .map(|s| Wall {
            scenario: s.scenario.clone(),
            unit: s.unit,
            peak: s
                .fit
                .as_ref()
                .ok()
                .and_then(|f| f.peak_concurrency().map(|n| (n, f.throughput_at(n)))),
            verdict: match (&s.verdict, &s.fit) {
                (Some(v), _) => v.clone(),
                (None, Err(reason)) => format!("no USL fit: {reason}"),
                (None, Ok(_)) => "no verdict".into(),
            },
            limited_by: s.evidence.clone(),
        })
        .collect()
}

/// The plan's headline from the plan a run kept (its JSON form).
pub fn plan_headline(plan: &PlanRecord) -> Option<PlanHeadline> {
    let json = &plan.json;
    let driver = json["drivers"][0]["name"].as_str()?.to_string();
    let today = json["drivers"][0]["current"].as_f64();
    let components = json["components"].as_array()?;
    let first_break = components
        .iter()
        .filter_map(|c| {
            Some((
                c["name"].as_str()?.to_string(),
                c["breaks_at"][driver.as_str()].as_f64()?,
            ))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let rank = |s: &str| match s {
        "BREAKS" => 3,
        "CRITICAL" => 2,
        "STRAINED" => 1,
        _ => 0,
    };
    let worst_today = components
        .iter()
        .filter_map(|c| {
            Some((
                c["name"].as_str()?.to_string(),
                c["today"]["status"].as_str()?.to_string(),
            ))
        })
        .max_by_key(|(_, status)| rank(status));
    let wall = json["wall"].as_object().map(|scale| {
        scale
            .iter()
            .filter_map(|(d, v)| Some(format!("{} {d}", sig(v.as_f64()?))))
            .collect::<Vec<_>>()
            .join(", ")
    });
    Some(PlanHeadline {
        driver,
        today,
        first_break,
        wall,
        worst_today,
    })
}

fn rows(input: &ReportInput<'_>) -> Vec<ScenarioRow> {
    let previous = input.previous_by_metric();
    input
        .run
        .scenarios
        .iter()
        .filter_map(|scenario| {
            let summaries: Vec<(u32, StepSummary)> = scenario
                .steps
                .iter()
                .map(|s| (s.concurrency, StepSummary::of(s)))
                .collect();
            let sweep = summaries.len() > 1;
            // A capacity search's row shows the level at its capacity; any
            // other scenario's, its highest throughput.
            let at_capacity = scenario
                .search
                .as_ref()
                .filter(|r| r.kind == "capacity")
                .and_then(|r| {
                    let value = r.value?;
                    scenario
                        .steps
                        .iter()
                        .position(|s| (crate::search::level_of(r, s) - value).abs() < 1e-9)
                });
            let (best_index, (level, best)) = match at_capacity {
                Some(k) => (k, &summaries[k]),
                None => summaries
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1 .1.rps.total_cmp(&b.1 .1.rps))?,
            };
            let open_search = scenario.search.as_ref().filter(|r| r.model == "open");
            // The names the run's metrics carry (`metrics::of_run`).
            let prefix = if sweep {
                format!(
                    "{}.{}",
                    scenario.name,
                    metrics::level_name(scenario, &scenario.steps[best_index])
                )
            } else {
                scenario.name.clone()
            };
            let errors: u64 = summaries.iter().map(|(_, s)| s.errors_total).sum();
            let operations: u64 = summaries
                .iter()
                .map(|(_, s)| s.requests + s.errors_total)
                .sum();
            Some(ScenarioRow {
                scenario: scenario.name.clone(),
                kind: match (&scenario.search, sweep) {
                    (Some(r), _) if r.kind == "capacity" => format!(
                        "{} capacity search, {} levels (at its capacity: {} {})",
                        scenario.protocol,
                        summaries.len(),
                        r.value.map_or("none".into(), scalewall_stats::number::sig),
                        r.unit
                    ),
                    (Some(_), _) => {
                        format!(
                            "{} peak search, {} levels",
                            scenario.protocol,
                            summaries.len()
                        )
                    }
                    (None, true) => match metrics::swept_param(scenario) {
                        // One concurrency, sizes stepped: the best size by
                        // throughput is the smallest, which says nothing.
                        Some(name) => format!(
                            "{} sweep of {name}, {} values",
                            scenario.protocol,
                            summaries.len()
                        ),
                        None => format!("{} sweep, {} levels", scenario.protocol, summaries.len()),
                    },
                    (None, false) => format!("{} bench", scenario.protocol),
                },
                unit: rate_unit(&scenario.protocol),
                // A closed-model sweep's or peak search's best level (a
                // capacity search names its level in `kind`).
                at_level: (sweep
                    && open_search.is_none()
                    && at_capacity.is_none()
                    && metrics::swept_param(scenario).is_none())
                .then_some(*level),
                throughput: best.rps,
                p50_ms: best.latency_ms.p50,
                p99_ms: best.latency_ms.p99,
                errors,
                error_pct: if operations > 0 {
                    errors as f64 / operations as f64 * 100.0
                } else {
                    0.0
                },
                throughput_change: previous
                    .get(format!("{prefix}.rps").as_str())
                    .map(|c| (*c).clone()),
                p99_change: previous
                    .get(format!("{prefix}.p99_ms").as_str())
                    .map(|c| (*c).clone()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_headline_names_the_first_component_to_break() {
        let plan = PlanRecord {
            markdown: String::new(),
            driver: "agents".into(),
            utilisation: vec![],
            json: serde_json::json!({
                "drivers": [{"name": "agents", "current": 10.0}],
                "components": [
                    {"name": "db", "breaks_at": {"agents": 400.0}, "today": {"status": "STRAINED"}},
                    {"name": "api", "breaks_at": {"agents": 250.0}, "today": {"status": "OK"}},
                    {"name": "cache", "breaks_at": null, "today": {"status": "OK"}}
                ],
                "wall": {"agents": 300.0}
            }),
        };
        let headline = plan_headline(&plan).unwrap();
        assert_eq!(headline.first_break, Some(("api".into(), 250.0)));
        assert_eq!(headline.wall.as_deref(), Some("300 agents"));
        assert_eq!(headline.worst_today, Some(("db".into(), "STRAINED".into())));
        assert_eq!(headline.today, Some(10.0));
    }

    #[test]
    fn the_health_formula_names_every_penalty() {
        assert_eq!(
            health_formula(),
            "10 − 4×CRITICAL − 2×HIGH − 1×MEDIUM − 0.25×LOW, never below 0"
        );
    }
}
