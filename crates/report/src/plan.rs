//! The capacity plan as Markdown and JSON: utilisation of every component
//! at every scale, statuses, the first break, the scaling wall, instances
//! and cost, growth projections and recommendations. Pure: the job library
//! builds a [`PlanReport`] from the config, the run and the history.

use crate::markdown::PlanSection;
use crate::svg::Series;
use scalewall_stats::capacity::{self, Horizon, Plan, Status};
use scalewall_stats::growth::{AtHorizon, Crossing, GrowthFit, MIN_RUNS};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One projected metric.
#[derive(Debug, Clone)]
pub struct Projection {
    /// The metric.
    pub metric: String,
    /// The limit it is projected against.
    pub limit: f64,
    /// Its latest value.
    pub last: f64,
    /// Stored values used.
    pub points: usize,
    /// Days from the first to the latest of those values.
    pub span_days: f64,
    /// The better trend, or why there is none.
    pub fit: Result<GrowthFit, String>,
    /// When the trend reaches the limit, with the interval and whether the
    /// data can carry the claim (`None` without a trend).
    pub crossing: Option<Crossing>,
    /// The trend's value at each `[plan] horizons` entry (as written), with
    /// its interval (`None` without a trend).
    pub horizons: Vec<(String, Option<AtHorizon>)>,
}

/// A projection's value at a horizon, in words: "1,234 (95 %: 1,100–1,370)",
/// "beyond the data" marked, "—" without a trend.
fn horizon_text(h: Option<&AtHorizon>) -> String {
    match h {
        None => "—".into(),
        Some(h) => {
            let mut text = format!(
                "{} (95 %: {}–{})",
                num(h.value),
                num(h.interval.0),
                num(h.interval.1)
            );
            if h.beyond_data {
                text.push_str("; beyond the data");
            }
            text
        }
    }
}

impl Projection {
    /// Days from the latest run until the trend reaches the limit, when it
    /// is projected at all.
    pub fn days_to_limit(&self) -> Option<f64> {
        match self.crossing {
            Some(Crossing::At { days, .. }) => Some(days),
            _ => None,
        }
    }
}

/// When a projection reaches its limit, in words with its evidence.
fn crossing_text(p: &Projection) -> String {
    match &p.crossing {
        None => "—".to_string(),
        Some(Crossing::TooFewRuns { runs }) => {
            format!("not projected: {runs} completed runs, {MIN_RUNS} needed")
        }
        Some(Crossing::Never) => "not at the current trend".to_string(),
        Some(Crossing::At { days, .. }) if *days <= 0.0 => "already".to_string(),
        Some(Crossing::At {
            days,
            interval,
            beyond_data,
        }) => {
            let range = if interval.1.is_finite() {
                format!("{}–{} days", num(interval.0), num(interval.1))
            } else {
                format!("{} days or never", num(interval.0))
            };
            let mut text = format!("in ≈ {} days (95 %: {range})", num(*days));
            if *beyond_data {
                text.push_str(&format!(
                    "; beyond the data: the runs span {} days",
                    num(p.span_days)
                ));
            }
            text
        }
    }
}

/// Everything the plan section shows.
#[derive(Debug, Clone)]
pub struct PlanReport {
    /// The run the capacities were measured in.
    pub run_id: String,
    /// Drivers with today's values.
    pub drivers: Vec<(String, f64)>,
    /// The computed plan.
    pub plan: Plan,
    /// Growth projections.
    pub projections: Vec<Projection>,
    /// Health score 0–10 and the finding counts behind it.
    pub health: (f64, BTreeMap<String, usize>),
}

fn marker(status: Status) -> &'static str {
    match status {
        Status::Ok => "🟢",
        Status::Strained => "🟡",
        Status::Critical => "🟠",
        Status::Breaks => "🔴",
    }
}

fn num(x: f64) -> String {
    crate::number::sig(x)
}

fn scale_label(scale: &BTreeMap<String, f64>, drivers: &[(String, f64)]) -> String {
    drivers
        .iter()
        .filter_map(|(d, _)| scale.get(d).map(|v| format!("{d} {}", num(*v))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The plan as a Markdown section (also the text output of `scalewall plan`).
pub fn markdown(report: &PlanReport) -> String {
    let plan = &report.plan;
    let mut out = String::from("## Capacity plan\n\n");
    let today: Vec<String> = report
        .drivers
        .iter()
        .map(|(d, v)| format!("{d} {}", num(*v)))
        .collect();
    let _ = writeln!(
        out,
        "Today: {}. {} Status: 🟢 OK < 60 % · 🟡 STRAINED ≥ 60 % · 🟠 CRITICAL ≥ 85 % · 🔴 BREAKS ≥ 100 % (or past the USL peak).\n",
        today.join(", "),
        if report.run_id.is_empty() {
            "Capacities as declared (no stored run).".to_string()
        } else {
            format!("Capacities from run `{}`.", report.run_id)
        }
    );
    let labels: Vec<String> = plan
        .scales
        .iter()
        .map(|s| scale_label(s, &report.drivers))
        .collect();
    let _ = writeln!(
        out,
        "| component | capacity per instance | today | {} | breaks at |",
        labels.join(" | ")
    );
    let _ = writeln!(out, "|---|---|---|{}---|", "---|".repeat(labels.len()));
    for c in &plan.components {
        let comp = &c.component;
        let cell = |cell: &capacity::Cell| {
            format!(
                "{} {} {}",
                marker(cell.status),
                crate::number::pct(cell.utilisation * 100.0),
                cell.status.as_str()
            )
        };
        let cells: Vec<String> = c.cells.iter().map(cell).collect();
        let breaks = match &c.breaks_at {
            Some(b) => {
                let at: Vec<String> = report
                    .drivers
                    .iter()
                    .filter_map(|(d, _)| b.values.get(d).map(|v| format!("~{} {d}", num(*v))))
                    .collect();
                at.join(", ")
            }
            None => "beyond the scales".into(),
        };
        let _ = writeln!(
            out,
            "| {} ({} ×{}) | {} {} ({}) | {} | {} | {} |",
            comp.name,
            comp.scaling.as_str(),
            comp.instances,
            num(comp.per_instance()),
            comp.kind.unit(),
            comp.capacity_source,
            cell(&c.today),
            cells.join(" | "),
            breaks
        );
    }
    out.push('\n');
    match plan.wall {
        Some(i) => {
            let strained: Vec<&str> = plan
                .components
                .iter()
                .filter(|c| c.cells[i].status >= Status::Strained)
                .map(|c| c.component.name.as_str())
                .collect();
            let _ = writeln!(
                out,
                "**Scaling wall: {}** — {} are strained or broken together there; their upgrades must land at the same time.\n",
                labels[i],
                strained.join(", ")
            );
        }
        None => {
            let _ = writeln!(out, "**Scaling wall:** not reached within these scales.\n");
        }
    }
    let _ = writeln!(out, "| to stay under 60 % | {} |", labels.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(labels.len()));
    for c in &plan.components {
        let needed: Vec<String> = c
            .cells
            .iter()
            .map(|cell| match cell.instances_needed {
                Some(k) => format!("{k} × {}", c.component.name),
                None => "cannot scale out".into(),
            })
            .collect();
        let _ = writeln!(out, "| {} | {} |", c.component.name, needed.join(" | "));
    }
    let costs: Vec<String> = plan
        .cost
        .iter()
        .map(|c| c.map_or("—".into(), num))
        .collect();
    let _ = writeln!(out, "| cost | {} |", costs.join(" | "));
    if let Some((headline, _)) = report.drivers.first() {
        let per_unit: Vec<String> = plan
            .cost
            .iter()
            .zip(&plan.scales)
            .map(|(cost, scale)| match (cost, scale.get(headline)) {
                (Some(c), Some(v)) if *v > 0.0 => num(c / v),
                _ => "—".into(),
            })
            .collect();
        let _ = writeln!(out, "| cost ÷ {headline} | {} |", per_unit.join(" | "));
    }
    out.push('\n');
    out.push_str("### Recommendations\n\n");
    if plan.recommendations.is_empty() {
        out.push_str("None: every component stays under 60 % at every scale.\n\n");
    }
    for horizon in [
        Horizon::Immediate,
        Horizon::ShortTerm,
        Horizon::MediumTerm,
        Horizon::LongTerm,
    ] {
        let items: Vec<&str> = plan
            .recommendations
            .iter()
            .filter(|r| r.horizon == horizon)
            .map(|r| r.text.as_str())
            .collect();
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out, "**{}**\n", horizon.as_str());
        for item in items {
            let _ = writeln!(out, "- {item}");
        }
        out.push('\n');
    }
    if !report.projections.is_empty() {
        out.push_str("### Growth projections\n\n");
        let labels: Vec<&str> = report
            .projections
            .first()
            .map(|p| p.horizons.iter().map(|(l, _)| l.as_str()).collect())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| metric | latest | limit | trend over runs | R² | reaches the limit |{}\n|---|---|---|---|---|---|{}",
            labels
                .iter()
                .map(|l| format!(" in {l} |"))
                .collect::<String>(),
            "---|".repeat(labels.len())
        );
        for p in &report.projections {
            let (trend, r2) = match &p.fit {
                Ok(f) => (
                    format!(
                        "{} ({})",
                        f.model.as_str(),
                        crate::number::count(p.points as u64, "run", "runs")
                    ),
                    crate::number::r_squared(f.r_squared),
                ),
                Err(e) => (format!("none: {e}"), "—".into()),
            };
            let when = crossing_text(p);
            let at: String = p
                .horizons
                .iter()
                .map(|(_, h)| format!(" {} |", horizon_text(h.as_ref())))
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {trend} | {r2} | {when} |{at}",
                p.metric,
                num(p.last),
                num(p.limit)
            );
        }
        out.push('\n');
    }
    let (score, counts) = &report.health;
    let terms: Vec<String> = capacity::HEALTH_PENALTY
        .iter()
        .map(|(name, points)| {
            format!(
                "{points}×{} {name}",
                counts.get(*name).copied().unwrap_or(0)
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "### Health score\n\n**{} / 10** = 10 − {} (never below 0).",
        crate::number::sig_n(*score, 2),
        terms.join(" − ")
    );
    out
}

/// The plan as JSON.
pub fn json(report: &PlanReport) -> serde_json::Value {
    let plan = &report.plan;
    let cell = |c: &capacity::Cell| {
        serde_json::json!({
            "demand": c.demand,
            "utilisation": c.utilisation,
            "status": c.status.as_str(),
            "instances_needed": c.instances_needed,
            "cost": c.cost,
        })
    };
    serde_json::json!({
        "run_id": report.run_id,
        "drivers": report.drivers.iter().map(|(d, v)| serde_json::json!({"name": d, "current": v})).collect::<Vec<_>>(),
        "scales": plan.scales,
        "components": plan.components.iter().map(|c| serde_json::json!({
            "name": c.component.name,
            "kind": c.component.kind.unit(),
            "scaling": c.component.scaling.as_str(),
            "instances": c.component.instances,
            "capacity_per_instance": c.component.per_instance(),
            "capacity_source": c.component.capacity_source,
            "usl": c.component.usl.map(|u| serde_json::json!({"sigma": u.sigma, "kappa": u.kappa, "peak_concurrency": if u.peak_concurrency.is_finite() { Some(u.peak_concurrency) } else { None }})),
            "today": cell(&c.today),
            "cells": c.cells.iter().map(cell).collect::<Vec<_>>(),
            "breaks_at": c.breaks_at.as_ref().map(|b| b.values.clone()),
        })).collect::<Vec<_>>(),
        "wall": plan.wall.map(|i| plan.scales[i].clone()),
        "cost": plan.cost,
        "recommendations": plan.recommendations.iter().map(|r| serde_json::json!({
            "horizon": r.horizon.as_str(),
            "component": r.component,
            "text": r.text,
        })).collect::<Vec<_>>(),
        "projections": report.projections.iter().map(|p| serde_json::json!({
            "metric": p.metric,
            "latest": p.last,
            "limit": p.limit,
            "runs": p.points,
            "trend": p.fit.as_ref().ok().map(|f| f.model.as_str()),
            "r_squared": p.fit.as_ref().ok().map(|f| f.r_squared),
            "days_to_limit": p.days_to_limit(),
            "interval_days": match &p.crossing {
                Some(Crossing::At { interval, .. }) => serde_json::json!([
                    interval.0,
                    if interval.1.is_finite() { serde_json::json!(interval.1) } else { serde_json::Value::Null }
                ]),
                _ => serde_json::Value::Null,
            },
            "beyond_data": matches!(&p.crossing, Some(Crossing::At { beyond_data: true, .. })),
            "horizons": p.horizons.iter().map(|(label, h)| serde_json::json!({
                "horizon": label,
                "days": h.map(|h| h.days),
                "value": h.map(|h| h.value),
                "interval": h.map(|h| [h.interval.0, h.interval.1]),
                "beyond_data": h.map(|h| h.beyond_data),
            })).collect::<Vec<_>>(),
            "projected": matches!(&p.crossing, Some(Crossing::At { .. } | Crossing::Never)),
            "span_days": p.span_days,
        })).collect::<Vec<_>>(),
        "health_score": report.health.0,
        "findings_by_severity": report.health.1,
    })
}

/// The plan as a report section, with utilisation against the headline driver.
pub fn section(report: &PlanReport) -> PlanSection {
    let driver = report
        .drivers
        .first()
        .map(|d| d.0.clone())
        .unwrap_or_default();
    let today = report.drivers.first().map_or(0.0, |d| d.1);
    let utilisation =
        report
            .plan
            .components
            .iter()
            .map(|c| {
                let mut points = vec![(today, c.today.utilisation * 100.0)];
                points.extend(c.cells.iter().zip(&report.plan.scales).filter_map(
                    |(cell, scale)| Some((*scale.get(&driver)?, cell.utilisation * 100.0)),
                ));
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                Series {
                    name: c.component.name.clone(),
                    points,
                }
            })
            .collect();
    PlanSection {
        markdown: markdown(report),
        driver,
        utilisation,
    }
}
