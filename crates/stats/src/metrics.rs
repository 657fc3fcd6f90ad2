//! The named metrics of a run: the figures history indexes, thresholds
//! check and comparisons test (`<scenario>.rps`, `<scenario>.p99_ms`,
//! `host.mem_used_pct`, …), each with the per-interval samples behind it
//! where there are any.
//!
//! Names: a one-step scenario's figures are `<scenario>.<figure>`; a sweep's
//! are per level, `<scenario>.c<N>.<figure>`, plus `<scenario>.max_rps`.

use crate::compare::Better;
use crate::summary::StepSummary;
use scalewall_model::health::Snapshot;
use scalewall_model::{Run, Scenario, Step};
use serde::Serialize;

/// One named figure of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    /// Dotted name.
    pub name: String,
    /// The headline value.
    pub value: f64,
    /// Unit, for display.
    pub unit: &'static str,
    /// Which direction is good.
    pub better: Better,
    /// Per-interval samples behind the value (empty for one-off readings).
    #[serde(skip)]
    pub samples: Vec<f64>,
    /// Whether a regression of it may gate CI: true for load against a
    /// target; false for figures that describe the host (the runtime suite,
    /// host gauges), which drift with the machine rather than the system.
    pub gating: bool,
    /// Whether it was measured as planned: false for the figures of a step
    /// that did not run to its end (interrupted, or stopped by an error)
    /// and for a sweep's `max_rps` when a level is missing or partial. Such
    /// a figure is shown, never judged: no threshold, no comparison.
    pub complete: bool,
}

fn metric(
    name: String,
    value: f64,
    unit: &'static str,
    better: Better,
    samples: Vec<f64>,
) -> Metric {
    Metric {
        name,
        value,
        unit,
        better,
        samples,
        gating: true,
        complete: true,
    }
}

/// Marks the figures of a step that did not run to its end as incomplete.
fn mark_complete(metrics: &mut [Metric], complete: bool) {
    for m in metrics {
        m.complete = complete;
    }
}

/// The figures a load step can have: `<scenario>.<figure>` for a one-step
/// scenario, `<scenario>.c<N>.<figure>` for each level of a sweep.
pub const STEP_FIGURES: [&str; 7] = [
    "rps",
    "p50_ms",
    "p99_ms",
    "error_pct",
    "host_cpu_s_per_1000",
    "target_cpu_s_per_1000",
    "target_rss_mb",
];

/// The figures of an HTTP step's phases and checks, where it has them:
/// time to first byte, a streamed response's first event, event gaps and
/// events per second, and the share of responses that failed a check.
pub const RESPONSE_FIGURES: [&str; 6] = [
    "ttfb_p99_ms",
    "first_event_p50_ms",
    "first_event_p99_ms",
    "event_gap_p99_ms",
    "events_per_s",
    "check_failed_pct",
];

/// The host's own figures (from the run's snapshot).
pub const HOST_FIGURES: [&str; 3] = ["host.cpu_busy_pct", "host.mem_used_pct", "host.load1"];

/// Every metric name a run of a given config can produce, to check the
/// names a config's thresholds and limits use before anything runs (a
/// misspelled name would otherwise switch its gate off in silence).
#[derive(Debug, Clone, Default)]
pub struct MetricCatalog {
    names: std::collections::BTreeSet<String>,
}

impl MetricCatalog {
    /// A catalog with the host's figures.
    pub fn new() -> MetricCatalog {
        MetricCatalog {
            names: HOST_FIGURES.iter().map(|n| n.to_string()).collect(),
        }
    }

    /// A one-step scenario's figures.
    pub fn add_bench(&mut self, scenario: &str) {
        for figure in STEP_FIGURES.iter().chain(&RESPONSE_FIGURES) {
            self.names.insert(format!("{scenario}.{figure}"));
        }
    }

    /// A sweep's figures at each level, and its `max_rps`.
    pub fn add_sweep(&mut self, scenario: &str, levels: &[u32]) {
        for level in levels {
            self.add_bench(&format!("{scenario}.c{level}"));
        }
        self.names.insert(format!("{scenario}.max_rps"));
    }

    /// A `--param` sweep's figures: `<scenario>.<param><value>.*` per
    /// value, and its `max_rps`.
    pub fn add_param_sweep(&mut self, scenario: &str, param: &str, values: &[f64]) {
        for value in values {
            self.add_bench(&format!("{scenario}.{param}{}", param_level(*value)));
        }
        self.names.insert(format!("{scenario}.max_rps"));
    }

    /// An `--exec` scenario's figures of each operation's process, beside
    /// every level's throughput already added.
    pub fn add_command_figures(&mut self, scenario: &str) {
        let levels: Vec<String> = self
            .names
            .iter()
            .filter(|n| n.starts_with(&format!("{scenario}.")))
            .filter_map(|n| n.strip_suffix(".rps").map(str::to_string))
            .collect();
        for level in levels {
            for figure in COMMAND_FIGURES {
                self.names.insert(format!("{level}.{figure}"));
            }
        }
    }

    /// A searched sweep's figures known before it runs (its levels are
    /// not): `<scenario>.max_rps` and `<scenario>.capacity`.
    pub fn add_search(&mut self, scenario: &str) {
        self.names.insert(format!("{scenario}.max_rps"));
        self.names.insert(format!("{scenario}.capacity"));
    }

    /// A custom metric (`[[metric]]`), and a folder's `<name>.files`.
    pub fn add_custom(&mut self, name: &str, folder: bool) {
        self.names.insert(name.to_string());
        if folder {
            self.names.insert(format!("{name}.files"));
        }
    }

    /// A service whose processes are measured: `<service>.rss_mb`.
    pub fn add_process(&mut self, service: &str) {
        self.names.insert(format!("{service}.rss_mb"));
    }

    /// Whether a run can produce `name` (a disk's `host.disk_used_pct[PATH]`
    /// and a Redis server's `redis[HOST:PORT].used_memory_mb` for any path
    /// or server).
    pub fn knows(&self, name: &str) -> bool {
        let bracketed = |prefix: &str, suffix: &str| {
            name.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(suffix))
                .is_some_and(|inner| !inner.is_empty() && !inner.contains(']'))
        };
        self.names.contains(name)
            || bracketed("host.disk_used_pct[", "]")
            || bracketed("redis[", "].used_memory_mb")
    }

    /// The known name closest to `name` (fewest single-character edits),
    /// when it is close enough to be a likely misspelling.
    pub fn closest(&self, name: &str) -> Option<&str> {
        let (distance, best) = self
            .names
            .iter()
            .map(|known| (edit_distance(name, known), known.as_str()))
            .min()?;
        (distance <= 3.max(name.chars().count() / 4)).then_some(best)
    }
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Names of the host-describing scenarios' protocol (the runtime suite).
const HOST_PROTOCOLS: [&str; 1] = ["suite"];

/// Intervals shorter than this share of the longest interval are left out
/// of the samples: a partial last interval would skew the rates.
const MIN_INTERVAL_SHARE: f64 = 0.5;

/// Fewest responses in an interval for its p99 to be a sample: below this
/// an interval's p99 is one of its few slowest responses, and one hiccup of
/// the host moves it by tens of percent (seen between two identical runs).
const MIN_RESPONSES_FOR_P99: u64 = 1000;

/// Fewest responses in an interval for its median to be a sample.
const MIN_RESPONSES_FOR_P50: u64 = 20;

/// Fewest operations in an interval for its error percentage to be a
/// sample: below 100 one error moves it by more than a percentage point.
const MIN_OPERATIONS_FOR_ERROR_PCT: u64 = 100;

/// A step's intervals long enough to be samples: at least
/// [`MIN_INTERVAL_SHARE`] of the longest (the last one, cut short by the
/// step's end, holds too few operations to be a rate).
pub fn full_intervals(step: &Step) -> Vec<&scalewall_model::Interval> {
    let longest = step
        .intervals
        .iter()
        .map(|i| i.duration_s)
        .fold(0.0, f64::max);
    step.intervals
        .iter()
        .filter(|i| i.duration_s > 0.0 && i.duration_s >= MIN_INTERVAL_SHARE * longest)
        .collect()
}

fn step_metrics(prefix: &str, step: &Step, rate_unit: &'static str, out: &mut Vec<Metric>) {
    custom_metrics(&format!("{prefix}."), &step.custom, out);
    if let Some(c) = step.resources.as_ref().and_then(|r| r.commands.as_ref()) {
        out.push(metric(
            format!("{prefix}.{}", COMMAND_FIGURES[0]),
            c.cpu_ms_per_operation(),
            "ms",
            Better::Lower,
            vec![],
        ));
        out.push(metric(
            format!("{prefix}.{}", COMMAND_FIGURES[1]),
            c.mean_peak_rss_bytes / MIB,
            "MiB",
            Better::Lower,
            vec![],
        ));
    }
    let summary = StepSummary::of(step);
    let full = full_intervals(step);
    let with_responses: Vec<_> = full.iter().filter(|i| i.responses > 0).collect();
    out.push(metric(
        format!("{prefix}.rps"),
        summary.rps,
        rate_unit,
        Better::Higher,
        full.iter()
            .map(|i| i.responses as f64 / i.duration_s)
            .collect(),
    ));
    if summary.latency_ms.count > 0 {
        out.push(metric(
            format!("{prefix}.p50_ms"),
            summary.latency_ms.p50,
            "ms",
            Better::Lower,
            with_responses
                .iter()
                .filter(|i| i.responses >= MIN_RESPONSES_FOR_P50)
                .map(|i| i.p50_us as f64 / 1e3)
                .collect(),
        ));
        out.push(metric(
            format!("{prefix}.p99_ms"),
            summary.latency_ms.p99,
            "ms",
            Better::Lower,
            with_responses
                .iter()
                .filter(|i| i.responses >= MIN_RESPONSES_FOR_P99)
                .map(|i| i.p99_us as f64 / 1e3)
                .collect(),
        ));
    }
    out.push(metric(
        format!("{prefix}.error_pct"),
        summary.error_ratio * 100.0,
        "%",
        Better::Lower,
        full.iter()
            .filter(|i| i.responses + i.errors >= MIN_OPERATIONS_FOR_ERROR_PCT)
            .map(|i| 100.0 * i.errors as f64 / (i.responses + i.errors) as f64)
            .collect(),
    ));
    if let Some(v) = step.host_cpu_s_per_1000_ops() {
        out.push(metric(
            format!("{prefix}.host_cpu_s_per_1000"),
            v,
            "CPU-s",
            Better::Lower,
            vec![],
        ));
    }
    if let Some(v) = step.target_cpu_s_per_1000_ops() {
        out.push(metric(
            format!("{prefix}.target_cpu_s_per_1000"),
            v,
            "CPU-s",
            Better::Lower,
            vec![],
        ));
    }
    response_metrics(prefix, step, out);
    if let Some(target) = step.resources.as_ref().and_then(|r| r.target.as_ref()) {
        out.push(metric(
            format!("{prefix}.target_rss_mb"),
            target.rss_end_bytes as f64 / 1_048_576.0,
            "MiB",
            Better::Lower,
            vec![],
        ));
    }
}

/// [`RESPONSE_FIGURES`] of a step that has phases or checks. They have no
/// per-interval samples, so they are judged by thresholds, not by the
/// run-to-run comparison.
fn response_metrics(prefix: &str, step: &Step, out: &mut Vec<Metric>) {
    let mut push = |figure: &str, value: f64, unit: &'static str, better: Better| {
        out.push(metric(
            format!("{prefix}.{figure}"),
            value,
            unit,
            better,
            vec![],
        ));
    };
    if let Some(p) = crate::summary::PhasesSummary::of(step) {
        if p.ttfb.count > 0 {
            push("ttfb_p99_ms", p.ttfb.p99, "ms", Better::Lower);
        }
        if let Some(first) = p.first_event.filter(|s| s.count > 0) {
            push("first_event_p50_ms", first.p50, "ms", Better::Lower);
            push("first_event_p99_ms", first.p99, "ms", Better::Lower);
        }
        if let Some(gap) = p.event_gap.filter(|s| s.count > 0) {
            push("event_gap_p99_ms", gap.p99, "ms", Better::Lower);
        }
    }
    if let Some(events) = crate::summary::StreamSummary::of(step) {
        push("events_per_s", events.events_per_s, "/s", Better::Higher);
    }
    if !step.checks.is_empty() && step.outcomes.responses > 0 {
        let failed = step
            .outcomes
            .errors
            .get(scalewall_model::ErrorKind::Check.as_str())
            .copied()
            .unwrap_or(0);
        push(
            "check_failed_pct",
            100.0 * failed as f64 / step.outcomes.responses as f64,
            "%",
            Better::Lower,
        );
    }
}

/// Host figures from the run's probe snapshot. A process group (one
/// service, or every process of one name) is one `<name>.rss_mb`: the sum
/// over its processes, so a prefork server is named once, as a whole.
fn host_metrics(health: &Snapshot, out: &mut Vec<Metric>) {
    let host = &health.host;
    out.push(metric(
        "host.cpu_busy_pct".into(),
        host.cpu_busy_pct,
        "%",
        Better::Lower,
        vec![],
    ));
    out.push(metric(
        "host.mem_used_pct".into(),
        host.mem_used_pct,
        "%",
        Better::Lower,
        vec![],
    ));
    out.push(metric(
        "host.load1".into(),
        host.load_average[0],
        "",
        Better::Lower,
        vec![],
    ));
    for disk in &host.disks {
        out.push(metric(
            format!("host.disk_used_pct[{}]", disk.path),
            disk.used_pct,
            "%",
            Better::Lower,
            vec![],
        ));
    }
    // Per group: the sum of PSS when every member's is known (a prefork
    // server's shared pages once), else of RSS.
    let mut rss_by_name: Vec<(String, u64, Option<u64>)> = Vec::new();
    for group in &health.processes {
        for reading in &group.readings {
            let name = group.label.as_deref().unwrap_or(&reading.name);
            match rss_by_name.iter_mut().find(|(n, _, _)| n == name) {
                Some((_, rss, pss)) => {
                    *rss += reading.rss_bytes;
                    *pss = pss.zip(reading.pss_bytes).map(|(a, b)| a + b);
                }
                None => rss_by_name.push((name.to_string(), reading.rss_bytes, reading.pss_bytes)),
            }
        }
    }
    for (name, rss, pss) in rss_by_name {
        let rss_bytes = pss.unwrap_or(rss);
        out.push(metric(
            format!("{name}.rss_mb"),
            rss_bytes as f64 / 1_048_576.0,
            "MiB",
            Better::Lower,
            vec![],
        ));
    }
    for r in &health.redis {
        out.push(metric(
            format!("redis[{}].used_memory_mb", r.target),
            r.used_memory_bytes as f64 / 1_048_576.0,
            "MiB",
            Better::Lower,
            vec![],
        ));
    }
    custom_metrics("", &health.custom, out);
}

/// Custom metrics under their own names (`prefix` first: a step's
/// `<scenario>[.<level>].`); a source that failed gives no value (it is
/// listed, with why, in the report's health section).
fn custom_metrics(
    prefix: &str,
    readings: &[scalewall_model::health::CustomReading],
    out: &mut Vec<Metric>,
) {
    for c in readings {
        let better = if c.higher_is_better {
            Better::Higher
        } else {
            Better::Lower
        };
        // A service's own number drifts with its data (a record count
        // grows by design): shown and compared, gated only by thresholds.
        let mut push = |name: String, value: f64, unit: &'static str| {
            out.push(Metric {
                gating: false,
                ..metric(format!("{prefix}{name}"), value, unit, better, vec![])
            });
        };
        if let Some(value) = c.value {
            push(c.name.clone(), value, custom_unit(&c.unit));
        }
        if let Some(files) = c.files {
            push(format!("{}.files", c.name), files as f64, "count");
        }
    }
}

/// The units a custom metric may have (`[[metric]] unit`).
pub const CUSTOM_UNITS: &[&str] = &["count", "bytes", "ms", "s", "/s", "%", "MiB"];

/// A custom metric's unit as a metric carries it (`count` when unknown:
/// the config admits only [`CUSTOM_UNITS`]).
fn custom_unit(unit: &str) -> &'static str {
    CUSTOM_UNITS
        .iter()
        .find(|u| **u == unit)
        .copied()
        .unwrap_or("count")
}

/// A level's part of a metric name: `c<N>` for a concurrency level, `r<R>`
/// for the arrival rate of an open-model search (its steps share one
/// connection count).
pub fn level_name(scenario: &Scenario, step: &Step) -> String {
    if let (Some(name), Some(value)) = (swept_param(scenario), step.param_value) {
        return format!("{name}{}", param_level(value));
    }
    match (
        scenario.search.as_ref().is_some_and(|r| r.model == "open"),
        step.target_rate_per_s,
    ) {
        (true, Some(rate)) => format!("r{}", rate.round()),
        _ => format!("c{}", step.concurrency),
    }
}

/// The `--param` a scenario's steps step through (`sweep --exec … --param
/// n=10,50,100`, or a config `exec` sweep): its name, when its steps carry
/// the values (pure).
pub fn swept_param(scenario: &Scenario) -> Option<&str> {
    if !scenario.steps.iter().any(|s| s.param_value.is_some()) {
        return None;
    }
    scenario
        .options
        .protocol_options
        .keys()
        .find_map(|k| k.strip_prefix("param."))
}

/// A parameter value as a metric name's level: `10`, `0_5` for 0.5.
fn param_level(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value}").replace(['.', '-'], "_")
    }
}

/// An `--exec` step's figures of each operation's process: CPU ms per
/// operation and mean peak RSS in MiB.
pub const COMMAND_FIGURES: [&str; 2] = ["op_cpu_ms", "op_peak_rss_mb"];

const MIB: f64 = 1024.0 * 1024.0;

/// Every named metric of a run, in a stable order.
pub fn of_run(run: &Run) -> Vec<Metric> {
    let mut out = Vec::new();
    for scenario in &run.scenarios {
        let first = out.len();
        let rate_unit = crate::number::rate_unit(&scenario.protocol);
        match scenario.steps.as_slice() {
            [] => {}
            [step] => {
                step_metrics(&scenario.name, step, rate_unit, &mut out);
                mark_complete(&mut out[first..], step.completed);
            }
            steps => {
                // A search may measure a level twice (never in this
                // search, but a name must stay unique): the first wins.
                let mut seen = std::collections::BTreeSet::new();
                for step in steps {
                    let level = level_name(scenario, step);
                    if !seen.insert(level.clone()) {
                        continue;
                    }
                    let step_first = out.len();
                    step_metrics(
                        &format!("{}.{level}", scenario.name),
                        step,
                        rate_unit,
                        &mut out,
                    );
                    mark_complete(&mut out[step_first..], step.completed);
                }
                let planned = scenario.options.concurrency_levels.len();
                let every_level =
                    steps.iter().all(|s| s.completed) && (planned == 0 || steps.len() >= planned);
                let max = steps
                    .iter()
                    .map(|s| StepSummary::of(s).rps)
                    .fold(0.0, f64::max);
                out.push(Metric {
                    complete: every_level,
                    ..metric(
                        format!("{}.max_rps", scenario.name),
                        max,
                        rate_unit,
                        Better::Higher,
                        vec![],
                    )
                });
                if let Some(value) = scenario
                    .search
                    .as_ref()
                    .filter(|r| r.kind == "capacity")
                    .and_then(|r| r.value)
                {
                    out.push(Metric {
                        complete: every_level,
                        ..metric(
                            format!("{}.capacity", scenario.name),
                            value,
                            if scenario.search.as_ref().is_some_and(|r| r.model == "open") {
                                rate_unit
                            } else {
                                "connections"
                            },
                            Better::Higher,
                            vec![],
                        )
                    });
                }
            }
        }
        if HOST_PROTOCOLS.contains(&scenario.protocol.as_str()) {
            for m in &mut out[first..] {
                m.gating = false;
            }
        }
    }
    if let Some(health) = &run.system_health {
        let first = out.len();
        host_metrics(health, &mut out);
        for m in &mut out[first..] {
            m.gating = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalewall_model::{Interval, LatencyHistogram, OutcomeCounts, Scenario};

    fn step(concurrency: u32, responses: u64, duration_s: f64) -> Step {
        let mut latency = LatencyHistogram::new();
        for i in 0..responses {
            latency.record(1000 + i % 100);
        }
        let outcomes = OutcomeCounts {
            responses,
            ..OutcomeCounts::default()
        };
        let intervals = (0..duration_s as usize)
            .map(|k| Interval {
                offset_s: k as f64,
                duration_s: 1.0,
                responses: responses / duration_s as u64,
                errors: 0,
                p50_us: 1050,
                p99_us: 1099,
                max_us: 1100,
            })
            .chain(std::iter::once(Interval {
                offset_s: duration_s,
                duration_s: 0.01,
                responses: 1,
                errors: 0,
                p50_us: 1,
                p99_us: 1,
                max_us: 1,
            }))
            .collect();
        Step {
            concurrency,
            duration_s,
            achieved_rate_per_s: responses as f64 / duration_s,
            outcomes,
            latency_us: latency,
            intervals,
            ..Step::default()
        }
    }

    fn scenario(name: &str, steps: Vec<Step>) -> Scenario {
        Scenario {
            name: name.into(),
            steps,
            known_answer: None,
            search: None,
            ..Scenario::default()
        }
    }

    #[test]
    fn a_bench_gives_rate_latency_and_errors_with_per_second_samples() {
        let mut run = Run::default();
        run.scenarios
            .push(scenario("api", vec![step(8, 4000, 4.0)]));
        let metrics = of_run(&run);
        let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["api.rps", "api.p50_ms", "api.p99_ms", "api.error_pct"]
        );
        assert_eq!(metrics[0].value, 1000.0);
        assert_eq!(
            metrics[0].samples,
            vec![1000.0; 4],
            "partial interval left out"
        );
        assert_eq!(metrics[2].samples, vec![1.099; 4]);
        let mut few = Run::default();
        few.scenarios.push(scenario("api", vec![step(8, 400, 4.0)]));
        assert!(
            of_run(&few)[2].samples.is_empty(),
            "100 responses per interval: p99 untested"
        );
        assert_eq!(of_run(&few)[1].samples.len(), 4, "p50 needs 20");
        assert_eq!(metrics[3].value, 0.0);
        // Each kind has its own minimum: 10 operations a second is enough
        // for a rate, too few for a median or an error percentage.
        let mut sparse = Run::default();
        sparse
            .scenarios
            .push(scenario("api", vec![step(1, 40, 4.0)]));
        let sparse = of_run(&sparse);
        let samples: Vec<usize> = sparse.iter().map(|m| m.samples.len()).collect();
        assert_eq!(samples, [4, 0, 0, 0], "rps, p50, p99, error_pct");
    }

    #[test]
    fn a_sweep_is_named_per_level_with_its_maximum() {
        let mut run = Run::default();
        run.scenarios.push(scenario(
            "cache",
            vec![step(1, 1000, 2.0), step(4, 3000, 2.0)],
        ));
        let metrics = of_run(&run);
        let find = |n: &str| metrics.iter().find(|m| m.name == n).unwrap().value;
        assert_eq!(find("cache.c1.rps"), 500.0);
        assert_eq!(find("cache.c4.rps"), 1500.0);
        assert_eq!(find("cache.max_rps"), 1500.0);
        assert!(metrics.iter().all(|m| m.gating));
        let mut suite = scenario("suite.cpu", vec![step(1, 1000, 2.0)]);
        suite.protocol = "suite".into();
        run.scenarios = vec![suite];
        assert!(
            of_run(&run).iter().all(|m| !m.gating),
            "the runtime suite describes the host"
        );
    }

    #[test]
    fn the_catalog_knows_what_a_config_can_produce_and_suggests_the_closest() {
        let mut catalog = MetricCatalog::new();
        catalog.add_bench("gw-get");
        catalog.add_sweep("gw-scaling", &[1, 2, 4]);
        catalog.add_process("gateway");
        for name in [
            "gw-get.p99_ms",
            "gw-scaling.c4.rps",
            "gw-scaling.max_rps",
            "gateway.rss_mb",
            "host.mem_used_pct",
            "host.disk_used_pct[/var]",
            "redis[127.0.0.1:6379].used_memory_mb",
        ] {
            assert!(catalog.knows(name), "{name}");
        }
        for name in [
            "gw-get.p99ms",
            "gw-scaling.c8.rps",
            "host.disk_used_pct[]",
            "health.api",
        ] {
            assert!(!catalog.knows(name), "{name}");
        }
        assert_eq!(catalog.closest("gw-get.p99ms"), Some("gw-get.p99_ms"));
        assert_eq!(
            catalog.closest("gw-scaling.maxrps"),
            Some("gw-scaling.max_rps")
        );
        assert_eq!(catalog.closest("something.else.entirely"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn host_figures_come_from_the_snapshot() {
        let run = Run {
            system_health: Some(
                serde_json::from_value(serde_json::json!({
                    "interval_s": 1.0,
                    "host": {"cpu_busy_pct": 12.5, "cpu_busy_pct_per_core": [12.5],
                             "load_average": [0.5, 0.4, 0.3],
                             "mem_total_bytes": 100, "mem_used_bytes": 40, "mem_available_bytes": 60,
                             "mem_used_pct": 40.0, "swap_total_bytes": 0, "swap_used_bytes": 0,
                             "processes": {"total": 1, "running": 1, "sleeping": 0, "stopped": 0, "zombie": 0},
                             "uptime_s": 10.0, "network": [], "open_files": 1,
                             "disks": [{"path": "/", "total_bytes": 10, "used_bytes": 7,
                                        "available_bytes": 3, "used_pct": 70.0}]},
                    "processes": [
                        {"selector": "TCP port 80 (listening)", "label": "api", "readings": [
                            {"pid": 1, "name": "api-bin", "rss_bytes": 10485760, "cpu_pct": 0.0,
                             "threads": 1, "open_fds": 3, "uptime_s": 1.0},
                            {"pid": 2, "name": "api-bin", "rss_bytes": 1048576, "cpu_pct": 0.0,
                             "threads": 1, "open_fds": 3, "uptime_s": 1.0}]}],
                    "health": [],
                    "redis": [{"target": "127.0.0.1:6379", "version": "7", "used_memory_bytes": 2097152,
                               "maxmemory_bytes": 0, "used_memory_pct": null, "connected_clients": 1,
                               "ops_per_s": 0.0, "total_commands": 1, "keys": 0, "uptime_s": 1}]
                }))
                .unwrap(),
            ),
            ..Run::default()
        };
        let metrics = of_run(&run);
        let find = |n: &str| metrics.iter().find(|m| m.name == n).map(|m| m.value);
        assert_eq!(find("host.mem_used_pct"), Some(40.0));
        assert_eq!(find("host.load1"), Some(0.5));
        assert_eq!(find("host.disk_used_pct[/]"), Some(70.0));
        assert_eq!(
            find("api.rss_mb"),
            Some(11.0),
            "one row per service, its processes summed"
        );
        assert_eq!(metrics.iter().filter(|m| m.name == "api.rss_mb").count(), 1);
        assert_eq!(find("redis[127.0.0.1:6379].used_memory_mb"), Some(2.0));
        // With every member's PSS known, the group is their PSS: two
        // workers sharing 8 MiB count it once, not twice.
        let mut shared = run.clone();
        let group = &mut shared.system_health.as_mut().unwrap().processes[0];
        group.readings[0].pss_bytes = Some(6 * 1_048_576);
        group.readings[1].pss_bytes = Some(5 * 1_048_576);
        let metrics = of_run(&shared);
        let rss = metrics
            .iter()
            .find(|m| m.name == "api.rss_mb")
            .unwrap()
            .value;
        assert_eq!(rss, 11.0);
        shared.system_health.as_mut().unwrap().processes[0].readings[0].pss_bytes = Some(1_048_576);
        let rss = of_run(&shared)
            .into_iter()
            .find(|m| m.name == "api.rss_mb")
            .unwrap()
            .value;
        assert_eq!(rss, 6.0, "PSS summed");
        shared.system_health.as_mut().unwrap().processes[0].readings[1].pss_bytes = None;
        let rss = of_run(&shared)
            .into_iter()
            .find(|m| m.name == "api.rss_mb")
            .unwrap()
            .value;
        assert_eq!(rss, 11.0, "RSS when one member's PSS is unknown");
        assert!(metrics.iter().all(|m| !m.gating));
    }
}
