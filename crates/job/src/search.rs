//! Running a search (`sweep --until-peak`, `sweep --slo`, a config's
//! `kind = "capacity"`): one step at a time, each at the level the search
//! picks from the steps before (the pure decisions are
//! [`scalewall_stats::search`]); every step is kept in the scenario, and
//! the answer in its [`SearchRecord`]. A stop request or the time budget
//! ends it with what was measured.

use crate::error::Result;
use crate::load;
use crate::observer::Observer;
use crate::scenario::{Param, RequestArgs, Search, SearchPlan};
use scalewall_load::engine::{Control, StopAt};
use scalewall_model::{Scenario, SearchRecord, Step};
use scalewall_stats::number::rate_unit;
use scalewall_stats::search::{Next, Probe};
use std::time::{Duration, Instant};

/// A measured step as the search sees it.
pub fn probe_of(plan: &SearchPlan, step: &Step) -> Probe {
    Probe::of_step(step, plan.level_of(step), &plan.slos)
}

/// How long a step of the plan takes, warm-up included.
fn step_time(plan: &SearchPlan) -> Duration {
    match plan.step.stop {
        StopAt::Duration(d) => d + plan.step.warmup,
        StopAt::Operations(_) => plan.step.warmup,
    }
}

/// Runs the search to its answer (or to a stop request or the budget).
pub fn run_search(
    plan: &SearchPlan,
    request: &RequestArgs,
    headers: &[(String, String)],
    params: &[Param],
    control: &Control,
    observer: &dyn Observer,
) -> Result<Scenario> {
    let started = Instant::now();
    let mut scenario: Option<Scenario> = None;
    let mut probes: Vec<Probe> = Vec::new();
    let out_of_time = |probes: &[Probe]| {
        control.is_stopped()
            || plan.budget.is_some_and(|budget| {
                !probes.is_empty() && started.elapsed() + step_time(plan) > budget
            })
    };
    let record = loop {
        let wanted = match &plan.search {
            Search::Peak(search) => match search.next(&probes) {
                Next::Measure(level) => Some(level),
                Next::Done(_) => None,
            },
            Search::Capacity(search) => match search.next(&probes) {
                Next::Measure(level) => Some(level),
                Next::Done(_) => None,
            },
        };
        let next = wanted.filter(|_| !out_of_time(&probes));
        let Some(level) = next else {
            // Cut short when the search wanted another level.
            break record_of(plan, &probes, wanted.is_some(), scenario.as_ref());
        };
        let measured = load::load_args(
            request,
            headers,
            params,
            None,
            &[plan.step_at(level)],
            control,
            observer,
        )?;
        let step_completed = measured.steps.iter().all(|s| s.completed);
        let step = measured.steps.last().cloned();
        match &mut scenario {
            None => scenario = Some(measured),
            Some(s) => s.steps.extend(measured.steps),
        }
        match step {
            Some(step) if step_completed => probes.push(probe_of(plan, &step)),
            // A step cut short (a stop request) is kept, never judged.
            _ => break record_of(plan, &probes, true, scenario.as_ref()),
        }
    };
    let mut scenario = scenario.unwrap_or_default();
    scenario.options.concurrency_levels = scenario.steps.iter().map(|s| s.concurrency).collect();
    scenario.search = Some(record);
    Ok(scenario)
}

/// The search's answer as the run keeps it.
fn record_of(
    plan: &SearchPlan,
    probes: &[Probe],
    cut_short: bool,
    scenario: Option<&Scenario>,
) -> SearchRecord {
    let rate = rate_unit(scenario.map_or("", |s| s.protocol.as_str()));
    let unit = if plan.open_connections.is_some() {
        rate.to_string()
    } else {
        "connections".to_string()
    };
    let slos: Vec<String> = plan.slos.iter().map(|s| s.text.clone()).collect();
    let model = if plan.open_connections.is_some() {
        "open"
    } else {
        "closed"
    };
    match &plan.search {
        Search::Peak(search) => {
            let peak = if cut_short {
                search.finish(probes)
            } else {
                match search.next(probes) {
                    Next::Done(peak) => peak,
                    Next::Measure(_) => search.finish(probes),
                }
            };
            SearchRecord {
                kind: plan.kind().into(),
                model: model.into(),
                slos,
                value: peak.fit.as_ref().ok().and_then(|f| f.peak_concurrency()),
                low: peak.bracket.map(|b| b.0),
                high: peak.bracket.map(|b| b.1),
                unit,
                limited_by: match &peak.stop {
                    scalewall_stats::search::PeakStop::Slo(what) => Some(what.clone()),
                    _ => None,
                },
                verdict: peak.sentence(rate),
            }
        }
        Search::Capacity(search) => {
            let capacity = if cut_short {
                search.finish(probes)
            } else {
                match search.next(probes) {
                    Next::Done(capacity) => capacity,
                    Next::Measure(_) => search.finish(probes),
                }
            };
            SearchRecord {
                kind: plan.kind().into(),
                model: model.into(),
                slos,
                value: capacity.value,
                low: capacity.value,
                high: capacity.breaks_at,
                unit: unit.clone(),
                verdict: capacity.sentence(&plan.slos, &unit),
                limited_by: capacity.limited_by,
            }
        }
    }
}
