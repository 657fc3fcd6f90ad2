//! `scalewall plan`: the capacity plan of a system, from its config's
//! `[plan]` and the measurements of its latest stored run.
//!
//! This is the edge: it reads the config and the history, turns each
//! component's capacity source into a number (a sweep's USL peak, the
//! highest throughput within a latency limit, or the declared figure), and
//! hands everything to the pure [`scalewall_stats::capacity`] model. Growth
//! projections fit each thresholded metric (and each `[[plan.limit]]`) over
//! the stored runs; the health score comes from the run's findings.

use crate::cli::{OutputFormat, PlanArgs};
use crate::config::{CapacitySource, Config, PlanConfig};
use anyhow::{anyhow, bail, Context as _, Result};
use scalewall_history::{subject_of, History};
use scalewall_model::{Run, Severity};
use scalewall_report::markdown::PlanSection;
use scalewall_report::svg::Series;
use scalewall_stats::capacity::{
    self, Component, DemandKind, Horizon, Plan, PlanInput, Status, UslShape,
};
use scalewall_stats::growth::{self, GrowthFit};
use scalewall_stats::summary::StepSummary;
use scalewall_stats::sweep;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

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
    /// The better trend, or why there is none.
    pub fit: Result<GrowthFit, String>,
    /// Days from the latest run until the trend crosses the limit.
    pub days_to_limit: Option<f64>,
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

/// Capacity per instance measured by a scenario of `run`, with its source and USL shape.
pub fn measured_capacity(
    run: &Run,
    scenario: &str,
    kind: DemandKind,
    max_p99_ms: Option<f64>,
) -> Result<(f64, String, Option<UslShape>)> {
    let found = run
        .scenarios
        .iter()
        .find(|s| s.name == scenario)
        .ok_or_else(|| {
            anyhow!(
                "run {} has no scenario '{scenario}' to measure capacity with",
                run.id
            )
        })?;
    let analysis = sweep::analyse(sweep::points_of(&found.steps));
    let fit = analysis.fit.ok().filter(|_| found.steps.len() >= 3);
    let usl = fit.as_ref().map(|f| UslShape {
        sigma: f.sigma,
        kappa: f.kappa,
        peak_concurrency: f.peak_concurrency().unwrap_or(f64::INFINITY),
    });
    let measured_max = found
        .steps
        .iter()
        .map(|s| s.achieved_rate_per_s)
        .fold(0.0, f64::max);
    if kind == DemandKind::Concurrency {
        let peak = usl
            .map(|u| u.peak_concurrency)
            .filter(|n| n.is_finite())
            .ok_or_else(|| anyhow!("scenario '{scenario}' shows no USL peak concurrency (a sweep with a wall is needed); declare capacity = \"N sessions\""))?;
        return Ok((peak, format!("USL peak N* of {scenario}"), usl));
    }
    if let Some(limit) = max_p99_ms {
        let best = found
            .steps
            .iter()
            .filter(|s| StepSummary::of(s).latency_ms.p99 <= limit && s.outcomes.responses > 0)
            .map(|s| (s.achieved_rate_per_s, s.concurrency))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let (rate, n) = best.ok_or_else(|| {
            anyhow!("no level of scenario '{scenario}' kept p99 within {limit} ms")
        })?;
        return Ok((
            rate,
            format!("highest rate of {scenario} with p99 ≤ {limit} ms (N = {n})"),
            usl,
        ));
    }
    match fit.as_ref().and_then(|f| f.peak_throughput()) {
        Some(peak) => Ok((peak, format!("USL peak X(N*) of {scenario}"), usl)),
        None if measured_max > 0.0 => Ok((
            measured_max,
            format!("highest measured rate of {scenario}"),
            usl,
        )),
        None => bail!("scenario '{scenario}' measured no throughput"),
    }
}

/// Parses `--scale NAME=V1,V2,…` values.
pub fn parse_scales(given: &[String]) -> Result<Vec<(String, Vec<f64>)>> {
    given
        .iter()
        .map(|s| {
            let (name, values) = s
                .split_once('=')
                .ok_or_else(|| anyhow!("--scale '{s}' must look like agents=10,50,100"))?;
            let values = values
                .split(',')
                .map(|v| match v.trim().parse::<f64>() {
                    Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
                    _ => Err(anyhow!("--scale {name}: '{v}' is not a number ≥ 0")),
                })
                .collect::<Result<Vec<f64>>>()?;
            Ok((name.trim().to_string(), values))
        })
        .collect()
}

/// Builds the plan of `config` at `scales` from `run` (and `history` for projections).
pub fn build(
    config: &Config,
    plan_config: &PlanConfig,
    scales: &[(String, Vec<f64>)],
    run: &Run,
    history: Option<&History>,
) -> Result<PlanReport> {
    let length = scales.first().map_or(0, |s| s.1.len());
    if length == 0 {
        bail!("no scales: give --scale agents=10,50,100 or [plan] scales = {{ agents = [10, 50, 100] }}");
    }
    for (name, values) in scales {
        if !plan_config.drivers.iter().any(|(d, _)| d == name) {
            bail!(
                "--scale {name}: not a driver of [plan] (drivers: {})",
                plan_config
                    .drivers
                    .iter()
                    .map(|(d, _)| d.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if values.len() != length {
            bail!("every --scale needs the same number of values (the i-th of each make one scale point)");
        }
    }
    let mut components = Vec::new();
    for c in &plan_config.components {
        let (capacity, source, usl) = match &c.capacity {
            CapacitySource::Declared(value) => (*value, "declared".to_string(), None),
            CapacitySource::Scenario { name, max_p99_ms } => {
                measured_capacity(run, name, c.kind, *max_p99_ms)
                    .with_context(|| format!("plan component {}", c.service))?
            }
        };
        components.push(Component {
            name: c.service.clone(),
            kind: c.kind,
            per_unit: c.per_unit.clone(),
            capacity,
            capacity_source: source,
            usl,
            scaling: c.scaling,
            instances: c.instances,
            cost_per_instance: c.cost_per_instance,
            cluster: c.cluster,
        });
    }
    let input = PlanInput {
        drivers: plan_config.drivers.clone(),
        components,
        scales: (0..length)
            .map(|i| scales.iter().map(|(n, v)| (n.clone(), v[i])).collect())
            .collect(),
        wall_components: plan_config.wall,
    };
    let plan = capacity::plan(&input);
    let projections = match history {
        Some(history) => projections(config, plan_config, run, history)?,
        None => Vec::new(),
    };
    let mut counts = BTreeMap::new();
    for finding in &run.findings {
        let name = match finding.severity {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
        };
        *counts.entry(name.to_string()).or_insert(0) += 1;
    }
    Ok(PlanReport {
        run_id: run.id.clone(),
        drivers: plan_config.drivers.clone(),
        plan,
        projections,
        health: (capacity::health_score(&counts), counts),
    })
}

/// Projects every thresholded metric (against its critical, else warning
/// limit) and every `[[plan.limit]]` over the subject's stored runs.
fn projections(
    config: &Config,
    plan_config: &PlanConfig,
    run: &Run,
    history: &History,
) -> Result<Vec<Projection>> {
    let subject = subject_of(run);
    let times: BTreeMap<String, f64> = history
        .list(Some(&subject), 10_000)?
        .into_iter()
        .filter_map(|row| {
            let t = humantime::parse_rfc3339(&row.started_at).ok()?;
            let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64();
            Some((row.id, secs / 86_400.0))
        })
        .collect();
    let mut limits: Vec<(String, f64)> = config
        .thresholds
        .iter()
        .filter_map(|t| Some((t.metric.clone(), t.critical.or(t.warning)?)))
        .collect();
    limits.extend(plan_config.limits.iter().cloned());
    let mut out = Vec::new();
    for (metric, limit) in limits {
        let series = history.series(&subject, &metric, &run.id, 200)?;
        let points: Vec<(f64, f64)> = series
            .iter()
            .filter_map(|(id, v)| Some((*times.get(id)?, *v)))
            .collect();
        let Some(&(last_t, last)) = points.last() else {
            continue;
        };
        let fit = growth::fit(&points)
            .map(|fits| fits[0])
            .map_err(|e| e.to_string());
        let days_to_limit = fit
            .as_ref()
            .ok()
            .and_then(|f| f.crossing(limit, last_t))
            .map(|t| t - last_t);
        out.push(Projection {
            metric,
            limit,
            last,
            points: points.len(),
            fit,
            days_to_limit,
        });
    }
    Ok(out)
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
    if !x.is_finite() {
        "∞".into()
    } else if x.abs() >= 100.0 || x.fract() == 0.0 {
        crate::render::group_f(x, 0)
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
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
        "Today: {}. Capacities from run `{}`. Status: 🟢 OK < 60 % · 🟡 STRAINED ≥ 60 % · 🟠 CRITICAL ≥ 85 % · 🔴 BREAKS ≥ 100 % (or past the USL peak).\n",
        today.join(", "),
        report.run_id
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
                "{} {:.0} % {}",
                marker(cell.status),
                cell.utilisation * 100.0,
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
        out.push_str("| metric | latest | limit | trend over runs | R² | reaches the limit |\n|---|---|---|---|---|---|\n");
        for p in &report.projections {
            let (trend, r2) = match &p.fit {
                Ok(f) => (
                    format!("{} ({} runs)", f.model.as_str(), p.points),
                    format!("{:.3}", f.r_squared),
                ),
                Err(e) => (format!("none: {e}"), "—".into()),
            };
            let when = match (&p.fit, p.days_to_limit) {
                (Err(_), _) => "—".to_string(),
                (Ok(_), Some(d)) if d <= 0.0 => "already".to_string(),
                (Ok(_), Some(d)) => format!("in ≈ {} days", num(d)),
                (Ok(_), None) => "not at the current trend".to_string(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {trend} | {r2} | {when} |",
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
        "### Health score\n\n**{score:.1} / 10** = 10 − {} (never below 0).",
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
            "days_to_limit": p.days_to_limit,
        })).collect::<Vec<_>>(),
        "health_score": report.health.0,
        "findings_by_severity": report.health.1,
    })
}

/// The report's plan section (and its JSON) for a run of `config` at its configured
/// scales; `None` without a `[plan]` or scales. A plan that cannot be
/// computed (a capacity scenario that failed) is a section saying why.
pub fn for_run(
    config: &Config,
    run: &Run,
    history: Option<&History>,
) -> Option<(PlanSection, serde_json::Value)> {
    let plan_config = config.plan.as_ref()?;
    if plan_config.scales.is_empty() {
        return None;
    }
    match build(config, plan_config, &plan_config.scales, run, history) {
        Ok(report) => Some((section(&report), json(&report))),
        Err(error) => Some((
            PlanSection {
                markdown: format!("## Capacity plan\n\nNot computed: {error:#}.\n"),
                driver: String::new(),
                utilisation: Vec::new(),
            },
            serde_json::json!({ "error": format!("{error:#}") }),
        )),
    }
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

/// `scalewall plan`.
pub fn plan_command(args: &PlanArgs) -> Result<ExitCode> {
    let path = args
        .config
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("scalewall.toml"));
    let config = crate::run::read_config(&path)?;
    let Some(plan_config) = &config.plan else {
        bail!(
            "{} has no [plan] section (see `scalewall init` for an example)",
            path.display()
        );
    };
    let history_path = crate::run::history_path(&args.history, Some(&config));
    if !history_path.exists() {
        bail!(
            "no history at {}: run `scalewall run -f {}` first to measure the capacities",
            history_path.display(),
            path.display()
        );
    }
    let history = History::open(&history_path)?;
    let latest = history
        .list(Some(&config.name), 1)?
        .into_iter()
        .next()
        .ok_or_else(|| {
            anyhow!(
                "no stored run of '{}' in {}",
                config.name,
                history_path.display()
            )
        })?;
    let run = history.load(&latest.id)?;
    let scales = if args.scale.is_empty() {
        plan_config.scales.clone()
    } else {
        parse_scales(&args.scale)?
    };
    let report = build(&config, plan_config, &scales, &run, Some(&history))?;
    let printed = match args.output {
        OutputFormat::Text => markdown(&report),
        OutputFormat::Json => serde_json::to_string_pretty(&json(&report))? + "\n",
    };
    crate::print_stdout(&printed)?;
    Ok(ExitCode::SUCCESS)
}
