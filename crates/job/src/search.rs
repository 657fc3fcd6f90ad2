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
use scalewall_stats::search::{Capacity, Next, Peak, PeakStop, Probe};
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
        let protocol = scenario.as_ref().map_or("", |s| s.protocol.as_str());
        let level = match next(plan, &probes, protocol) {
            Next::Done(record) => break record,
            Next::Measure(_) if out_of_time(&probes) => break finish(plan, &probes, protocol),
            Next::Measure(level) => level,
        };
        let measured = load::load_args(
            request,
            &[],
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
            _ => {
                let protocol = scenario.as_ref().map_or("", |s| s.protocol.as_str());
                break finish(plan, &probes, protocol);
            }
        }
    };
    let mut scenario = scenario.unwrap_or_default();
    scenario.options.concurrency_levels = scenario.steps.iter().map(|s| s.concurrency).collect();
    scenario.search = Some(record);
    Ok(scenario)
}

/// The next level the search wants, or its answer as the run keeps it.
fn next(plan: &SearchPlan, probes: &[Probe], protocol: &str) -> Next<SearchRecord> {
    match &plan.search {
        Search::Peak(search) => match search.next(probes) {
            Next::Measure(level) => Next::Measure(level),
            Next::Done(peak) => Next::Done(peak_record(plan, peak, protocol)),
        },
        Search::Capacity(search) => match search.next(probes) {
            Next::Measure(level) => Next::Measure(level),
            Next::Done(capacity) => Next::Done(capacity_record(plan, capacity, protocol)),
        },
    }
}

/// The answer of a search ended before it wanted to (a stop request, the budget).
fn finish(plan: &SearchPlan, probes: &[Probe], protocol: &str) -> SearchRecord {
    match &plan.search {
        Search::Peak(search) => peak_record(plan, search.finish(probes), protocol),
        Search::Capacity(search) => capacity_record(plan, search.finish(probes), protocol),
    }
}

/// `open` or `closed`.
fn model(plan: &SearchPlan) -> &'static str {
    if plan.open_connections.is_some() {
        "open"
    } else {
        "closed"
    }
}

fn peak_record(plan: &SearchPlan, peak: Peak, protocol: &str) -> SearchRecord {
    SearchRecord {
        kind: plan.kind().into(),
        model: model(plan).into(),
        slos: plan.slos.iter().map(|s| s.text.clone()).collect(),
        value: peak.fit.as_ref().ok().and_then(|f| f.peak_concurrency()),
        low: peak.bracket.map(|b| b.0),
        high: peak.bracket.map(|b| b.1),
        unit: "connections".into(),
        limited_by: match &peak.stop {
            PeakStop::Slo(what) => Some(what.clone()),
            _ => None,
        },
        verdict: peak.sentence(rate_unit(protocol)),
    }
}

fn capacity_record(plan: &SearchPlan, capacity: Capacity, protocol: &str) -> SearchRecord {
    let unit = if plan.open_connections.is_some() {
        rate_unit(protocol).to_string()
    } else {
        "connections".to_string()
    };
    SearchRecord {
        kind: plan.kind().into(),
        model: model(plan).into(),
        slos: plan.slos.iter().map(|s| s.text.clone()).collect(),
        value: capacity.value,
        low: capacity.value,
        high: capacity.breaks_at,
        verdict: capacity.sentence(&plan.slos, &unit),
        unit,
        limited_by: capacity.limited_by,
    }
}
