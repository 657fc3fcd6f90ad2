//! The capacity plan of a system, from its config's `[plan]` and the
//! measurements of a stored run (`scalewall plan`, and the plan section of
//! every report).
//!
//! It reads the config and the history, turns each
//! component's capacity source into a number (a sweep's USL peak, the
//! highest throughput within a latency limit, or the declared figure), and
//! hands everything to the pure [`scalewall_stats::capacity`] model. Growth
//! projections fit each thresholded metric (and each `[[plan.limit]]`) over
//! the stored runs; the health score comes from the run's findings.

use crate::config::{CapacitySource, Config, PlanConfig};
use crate::error::{Context as _, JobError, Result};
use scalewall_history::{subject_of, History};
use scalewall_model::{PlanRecord, Run, Severity};
use scalewall_report::plan::{json, section, PlanReport, Projection};
use scalewall_stats::capacity::{self, Component, DemandKind, PlanInput, UslShape};
use scalewall_stats::growth;
use scalewall_stats::summary::StepSummary;
use scalewall_stats::sweep;
use std::collections::BTreeMap;

/// A capacity search's answer as a plan's capacity: the throughput the
/// step at the capacity level achieved (closed model: its connections are
/// the concurrency capacity), which is what a plan should divide demand
/// by — the load the service carries within its SLOs, not X(N*).
fn capacity_under_slos(
    found: &scalewall_model::Scenario,
    record: &scalewall_model::SearchRecord,
    kind: DemandKind,
) -> Result<(f64, String, Option<UslShape>)> {
    let Some(value) = record.value else {
        return Err(JobError::msg(format!(
            "scenario '{}' found no capacity: {}",
            found.name, record.verdict
        )));
    };
    let source = format!(
        "capacity of {} under {}: {} {}",
        found.name,
        record.slos.join(", "),
        scalewall_stats::number::sig(value),
        record.unit
    );
    if kind == DemandKind::Concurrency {
        if record.model != "closed" {
            return Err(JobError::msg(format!(
                "scenario '{}' searched a rate; a concurrency capacity needs a closed-model search",
                found.name
            )));
        }
        return Ok((value, source, None));
    }
    let at = found
        .steps
        .iter()
        .find(|s| (scalewall_report::search::level_of(record, s) - value).abs() < 1e-9)
        .map(|s| s.achieved_rate_per_s)
        .ok_or_else(|| {
            JobError::msg(format!("scenario '{}' lost its capacity step", found.name))
        })?;
    Ok((at, source, None))
}

/// Capacity per instance measured by a scenario of `run`, with its source
/// and USL shape: a capacity search's answer, else the sweep's USL peak.
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
            JobError::msg(format!(
                "run {} has no scenario '{scenario}' to measure capacity with",
                run.id
            ))
        })?;
    if let Some(record) = found.search.as_ref().filter(|r| r.kind == "capacity") {
        return capacity_under_slos(found, record, kind);
    }
    let analysis = sweep::analyse(sweep::points_of(&found.steps));
    let fit = analysis.fit.ok().filter(|_| found.steps.len() >= 3);
    let usl = fit.as_ref().map(|f| UslShape {
        sigma: f.sigma,
        kappa: f.kappa,
        peak_concurrency: f.peak_concurrency().unwrap_or(f64::INFINITY),
    });
    // The capacity plan's recommendations cite why the wall stands there.
    let why = sweep::wall_evidence(&found.steps)
        .filter(|_| found.steps.len() > 1)
        .map_or(String::new(), |e| format!("; {e}"));
    let measured_max = found
        .steps
        .iter()
        .map(|s| s.achieved_rate_per_s)
        .fold(0.0, f64::max);
    if kind == DemandKind::Concurrency {
        let peak = usl
            .map(|u| u.peak_concurrency)
            .filter(|n| n.is_finite())
            .ok_or_else(|| JobError::msg(format!("scenario '{scenario}' shows no USL peak concurrency (a sweep with a wall is needed); declare capacity = \"N sessions\"")))?;
        return Ok((peak, format!("USL peak N* of {scenario}{why}"), usl));
    }
    if let Some(limit) = max_p99_ms {
        let best = found
            .steps
            .iter()
            .filter(|s| StepSummary::of(s).latency_ms.p99 <= limit && s.outcomes.responses > 0)
            .map(|s| (s.achieved_rate_per_s, s.concurrency))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let (rate, n) = best.ok_or_else(|| {
            JobError::msg(format!(
                "no level of scenario '{scenario}' kept p99 within {limit} ms"
            ))
        })?;
        return Ok((
            rate,
            format!("highest rate of {scenario} with p99 ≤ {limit} ms (N = {n})"),
            usl,
        ));
    }
    match fit.as_ref().and_then(|f| f.peak_throughput()) {
        Some(peak) => Ok((peak, format!("USL peak X(N*) of {scenario}{why}"), usl)),
        None if measured_max > 0.0 => Ok((
            measured_max,
            format!("highest measured rate of {scenario}"),
            usl,
        )),
        None => crate::bail!("scenario '{scenario}' measured no throughput"),
    }
}

/// Parses `--scale NAME=V1,V2,…` values.
pub fn parse_scales(given: &[String]) -> Result<Vec<(String, Vec<f64>)>> {
    given
        .iter()
        .map(|s| {
            let (name, values) = s.split_once('=').ok_or_else(|| {
                JobError::msg(format!("--scale '{s}' must look like agents=10,50,100"))
            })?;
            let values = values
                .split(',')
                .map(|v| match v.trim().parse::<f64>() {
                    Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
                    _ => Err(JobError::msg(format!(
                        "--scale {name}: '{v}' is not a number ≥ 0"
                    ))),
                })
                .collect::<Result<Vec<f64>>>()?;
            Ok((name.trim().to_string(), values))
        })
        .collect()
}

/// A scenario a plan took from another run: (scenario, run id, subject).
pub type TakenFrom = (String, String, String);

/// The run `scalewall plan` reads measured figures from: the latest
/// completed run of the config's name or, where it has none, the newest
/// latest completed run of its `[[job]]`s (`watch` stores runs under job
/// names); each `capacity_from` scenario that run lacks is taken from the
/// newest of those runs that measured it, so a plan over a `watch` config
/// reads every capacity from the job that ran it. With no run at all, a
/// plan whose capacities are all declared (or read from metrics that have
/// none) gets an empty run of the config's name; one that needs a
/// measurement is an error naming the subjects searched. The second value
/// names each scenario taken from another run: (scenario, run id, subject).
pub fn plan_run(
    history: Option<&History>,
    config: &Config,
    plan_config: &PlanConfig,
) -> Result<(Run, Vec<TakenFrom>)> {
    let mut subjects = vec![config.name.clone()];
    subjects.extend(config.jobs.iter().map(|j| j.name.clone()));
    let mut latest: Vec<Run> = Vec::new();
    if let Some(history) = history {
        for subject in &subjects {
            if let Some(id) = history.latest_completed(subject)? {
                latest.push(history.load(&id)?);
            }
        }
    }
    let own = latest
        .iter()
        .position(|r| r.subject.as_deref() == Some(config.name.as_str()));
    let newest = latest
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.started_at.cmp(&b.1.started_at))
        .map(|(i, _)| i);
    let measured: Vec<&str> = plan_config
        .components
        .iter()
        .filter_map(|c| match &c.capacity {
            CapacitySource::Scenario { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let mut run = match own.or(newest) {
        Some(i) => latest.remove(i),
        None if measured.is_empty() => Run {
            subject: Some(config.name.clone()),
            ..Run::default()
        },
        None => crate::bail!(
            "no completed run of {} to measure the capacities from",
            subjects
                .iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    };
    let mut taken_from = Vec::new();
    for name in measured {
        if run.scenarios.iter().any(|s| s.name == name) {
            continue;
        }
        let source = latest
            .iter()
            .filter(|r| r.scenarios.iter().any(|s| s.name == name))
            .max_by(|a, b| a.started_at.cmp(&b.started_at));
        if let Some(source) = source {
            if let Some(scenario) = source.scenarios.iter().find(|s| s.name == name) {
                run.scenarios.push(scenario.clone());
                taken_from.push((name.to_string(), source.id.clone(), subject_of(source)));
            }
        }
    }
    Ok((run, taken_from))
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
        crate::bail!("no scales: give --scale agents=10,50,100 or [plan] scales = {{ agents = [10, 50, 100] }}");
    }
    for (name, values) in scales {
        if !plan_config.drivers.iter().any(|(d, _)| d == name) {
            crate::bail!(
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
            crate::bail!("every --scale needs the same number of values (the i-th of each make one scale point)");
        }
    }
    // Drivers measured by a metric of the run take its value as current.
    let run_metrics = scalewall_stats::metrics::of_run(run);
    let drivers: Vec<(String, f64)> = plan_config
        .drivers
        .iter()
        .map(|(name, current)| {
            let measured = plan_config
                .driver_metrics
                .iter()
                .find(|(d, _)| d == name)
                .and_then(|(_, metric)| run_metrics.iter().find(|m| m.name == *metric))
                .map(|m| m.value);
            (name.clone(), measured.unwrap_or(*current))
        })
        .collect();
    let mut components = Vec::new();
    for c in &plan_config.components {
        let (capacity, source, usl) = match &c.capacity {
            CapacitySource::Declared(value) => (*value, "declared".to_string(), None),
            CapacitySource::Scenario { name, max_p99_ms } => {
                measured_capacity(run, name, c.kind, *max_p99_ms)
                    .with_context(|| format!("plan component {}", c.service))?
            }
            CapacitySource::Metric(name) => {
                let value = run_metrics
                    .iter()
                    .find(|m| m.name == *name)
                    .map(|m| m.value)
                    .with_context(|| {
                        format!(
                            "plan component {}: capacity_metric {name} has no value in run {} (its source failed, or it was not read)",
                            c.service, run.id
                        )
                    })?;
                (value, format!("metric {name}"), None)
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
        drivers: drivers.clone(),
        components,
        scales: (0..length)
            .map(|i| scales.iter().map(|(n, v)| (n.clone(), v[i])).collect())
            .collect(),
        wall_components: plan_config.wall,
    };
    let plan = capacity::plan(&input);
    // A plan of declared capacities alone may have no stored run to
    // project from.
    let projections = match history {
        Some(history) if !run.id.is_empty() => projections(config, plan_config, run, history)?,
        _ => Vec::new(),
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
        drivers,
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
        .filter(|row| row.status == "completed")
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
        let (Some(&(first_t, _)), Some(&(last_t, last))) = (points.first(), points.last()) else {
            continue;
        };
        let projected = growth::project(&points, limit);
        let horizons = plan_config
            .horizons
            .iter()
            .map(|(label, days)| (label.clone(), growth::at_horizon(&points, *days)))
            .collect();
        out.push(Projection {
            horizons,
            metric,
            limit,
            last,
            points: points.len(),
            span_days: last_t - first_t,
            fit: projected
                .as_ref()
                .map(|(fit, _)| *fit)
                .map_err(|e| e.to_string()),
            crossing: projected.ok().map(|(_, crossing)| crossing),
        });
    }
    Ok(out)
}

/// The plan of a run of `config` at its configured scales, as the run keeps
/// it (its report section, chart data and JSON); `None` without a `[plan]`
/// or scales. A plan that cannot be computed (a capacity scenario that
/// failed) is a section saying why.
pub fn for_run(config: &Config, run: &Run, history: Option<&History>) -> Option<PlanRecord> {
    let plan_config = config.plan.as_ref()?;
    if plan_config.scales.is_empty() {
        return None;
    }
    Some(
        match build(config, plan_config, &plan_config.scales, run, history) {
            Ok(report) => {
                let section = section(&report);
                PlanRecord {
                    markdown: section.markdown,
                    driver: section.driver,
                    utilisation: section
                        .utilisation
                        .into_iter()
                        .map(|series| (series.name, series.points))
                        .collect(),
                    json: json(&report),
                }
            }
            Err(error) => PlanRecord {
                markdown: format!("## Capacity plan\n\nNot computed: {error}.\n"),
                driver: String::new(),
                utilisation: Vec::new(),
                json: serde_json::json!({ "error": error.to_string() }),
            },
        },
    )
}
