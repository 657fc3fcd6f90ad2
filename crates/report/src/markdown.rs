//! The Markdown report of one run: executive summary, key metrics with
//! their threshold status and change since the last run, load results per
//! scenario, scalability with the USL verdict, resources, system health,
//! findings by severity with their evidence, changes since the last run and
//! the baseline, artifacts. Pure: everything comes in [`ReportInput`], so a
//! stored run renders again to the same text.

use crate::components::severity_name;
use crate::number::{change, count, pct, rate_unit, sig, sig_n};
use crate::overview::{health_formula, Overview, PlanHeadline, Wall};
use scalewall_model::{Finding, KnownAnswer, PlanRecord, Run, RunStatus, Scenario, Step};
use scalewall_stats::compare::{Change, MetricComparison, Trend};
use scalewall_stats::metrics::Metric;
use scalewall_stats::summary::StepSummary;
use scalewall_stats::usl::UslFit;
use std::collections::BTreeMap;
use std::fmt::Write;

/// A run's figures compared with one earlier run.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    /// The earlier run's id.
    pub against: String,
    /// One entry per metric both runs have.
    pub comparisons: Vec<MetricComparison>,
}

/// A sweep scenario's USL result.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSection {
    /// Scenario name.
    pub scenario: String,
    /// Its throughput's unit (`req/s` for HTTP, `ops/s` otherwise).
    pub unit: &'static str,
    /// The fit, or why there is none.
    pub fit: Result<UslFit, String>,
    /// The verdict sentence.
    pub verdict: Option<String>,
    /// Why the wall stands where it does, from the resource readings.
    pub evidence: Option<String>,
    /// Fit warnings.
    pub warnings: Vec<String>,
}

/// Threshold status of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Within its limits.
    Ok,
    /// Past its warning limit.
    Warning,
    /// Past its critical limit.
    Critical,
}

/// Everything one report shows.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// The run.
    pub run: &'a Run,
    /// Its named metrics.
    pub metrics: &'a [Metric],
    /// Threshold status of the metrics that have thresholds.
    pub statuses: BTreeMap<String, Status>,
    /// Compared with the previous run of the same subject.
    pub previous: Option<Changes>,
    /// Compared with the subject's baseline.
    pub baseline: Option<Changes>,
    /// Trend per metric over the last runs, and how many runs.
    pub trends: Vec<(String, Trend, usize)>,
    /// USL results of sweep scenarios.
    pub sweeps: Vec<SweepSection>,
    /// The "System health" text (the probe snapshot rendered).
    pub health_text: Option<String>,
    /// Files written by the run.
    pub artifacts: Vec<String>,
    /// Key metrics over the subject's last runs (oldest first), each
    /// value with its run's id (so the baseline can be marked), for charts.
    pub history_series: Vec<(String, Vec<(String, f64)>)>,
    /// The capacity plan, when the config has one.
    pub plan: Option<PlanSection>,
}

impl<'a> ReportInput<'a> {
    /// The report of a run alone: no history, no sweeps, no plan.
    pub fn bare(run: &'a Run, metrics: &'a [Metric]) -> ReportInput<'a> {
        ReportInput {
            run,
            metrics,
            statuses: BTreeMap::new(),
            previous: None,
            baseline: None,
            trends: Vec::new(),
            sweeps: Vec::new(),
            health_text: None,
            artifacts: Vec::new(),
            history_series: Vec::new(),
            plan: None,
        }
    }

    /// Each metric's comparison with the previous run, by name.
    pub fn previous_by_metric(&self) -> BTreeMap<&str, &MetricComparison> {
        self.previous
            .iter()
            .flat_map(|c| c.comparisons.iter())
            .map(|c| (c.metric.as_str(), c))
            .collect()
    }
}

/// The capacity plan as the report shows it: its Markdown section (from
/// the job library's plan) and the utilisation of each component
/// against the headline driver, for the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSection {
    /// The `## Capacity plan` section.
    pub markdown: String,
    /// The headline driver (the chart's x axis).
    pub driver: String,
    /// Per component: (driver value, utilisation %) from today through the scales.
    pub utilisation: Vec<crate::svg::Series>,
}

impl PlanSection {
    /// The section of a plan a run kept.
    pub fn of(record: &PlanRecord) -> PlanSection {
        PlanSection {
            markdown: record.markdown.clone(),
            driver: record.driver.clone(),
            utilisation: record
                .utilisation
                .iter()
                .map(|(name, points)| crate::svg::Series {
                    name: name.clone(),
                    points: points.clone(),
                })
                .collect(),
        }
    }
}

fn change_name(c: Change) -> &'static str {
    match c {
        Change::Improved => "improved",
        Change::Regressed => "**regressed**",
        Change::Unchanged => "unchanged",
        Change::Untested => "untested",
        Change::WithinNoise => "within noise",
        Change::NoiseUnknown => "noise unknown",
    }
}

/// Escapes the characters Markdown tables treat specially.
pub fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn change_summary(changes: &Changes) -> String {
    let count = |c: Change| changes.comparisons.iter().filter(|x| x.change == c).count();
    let mut summary = format!(
        "{} regressed, {} improved, {} unchanged, {} untested",
        count(Change::Regressed),
        count(Change::Improved),
        count(Change::Unchanged),
        count(Change::Untested)
    );
    // Significant moves the run-to-run noise does not confirm (named only
    // when there are some, so older reports read as they did).
    for (change, name) in [
        (Change::WithinNoise, "within the run-to-run noise"),
        (Change::NoiseUnknown, "with the noise not known yet"),
    ] {
        if count(change) > 0 {
            summary.push_str(&format!(", {} {name}", count(change)));
        }
    }
    summary
}

/// Whether a measurement agrees with its known answer, in words.
fn agreement(off: f64, tolerance: f64) -> String {
    let tolerance_pct = tolerance * 100.0;
    if off.abs() <= tolerance {
        format!("within the tolerance of ±{}", pct(tolerance_pct))
    } else {
        format!(
            "**off** by more than the tolerance of ±{}",
            pct(tolerance_pct)
        )
    }
}

/// A step's throughput beside the known answer for its concurrency.
fn known_throughput_line(known: &KnownAnswer, step: &Step, unit: &str) -> String {
    let Some(&expected) = known.throughput_per_s.first() else {
        return format!(
            "**Known answer:** {} (no figure for this step).",
            known.model
        );
    };
    let measured = StepSummary::of(step).rps;
    let off = if expected > 0.0 {
        measured / expected - 1.0
    } else {
        0.0
    };
    format!(
        "**Known answer:** {}, so N = {} should see {} {unit}; measured {} {unit} ({}): {}.",
        known.model,
        step.concurrency,
        sig(expected),
        sig(measured),
        change(off),
        agreement(off, known.tolerance)
    )
}

/// A sweep's fitted peak beside the known one.
fn known_peak_line(known: &KnownAnswer, fit: Option<&UslFit>) -> Option<String> {
    let peak = known.peak_concurrency?;
    Some(match fit.and_then(UslFit::peak_concurrency) {
        Some(found) => {
            let off = found / peak - 1.0;
            format!(
                "**Known answer:** N* = {} ({}); fitted N* = {} ({}): {}.",
                sig_n(peak, 3),
                known.model,
                sig_n(found, 3),
                change(off),
                agreement(off, known.tolerance)
            )
        }
        None => format!(
            "**Known answer:** N* = {} ({}); the fit found no peak.",
            sig_n(peak, 3),
            known.model
        ),
    })
}

fn load_step_table(out: &mut String, step: &Step, unit: &str) {
    let s = StepSummary::of(step);
    let l = &s.latency_ms;
    let _ = writeln!(
        out,
        "| connections | rate target | duration | responses | throughput | p50 | p90 | p95 | p99 | p99.9 | max | errors |"
    );
    let _ = writeln!(
        out,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        out,
        "| {} | {} | {} s | {} | {} {unit} | {} ms | {} ms | {} ms | {} ms | {} ms | {} ms | {} ({}) |",
        crate::number::group(u64::from(step.concurrency)),
        step.target_rate_per_s
            .map_or("closed".into(), |r| format!("{} {unit}", sig(r))),
        sig(s.duration_s),
        crate::number::group(s.requests),
        sig(s.rps),
        sig(l.p50),
        sig(l.p90),
        sig(l.p95),
        sig(l.p99),
        sig(l.p999),
        sig(l.max),
        crate::number::group(s.errors_total),
        pct(s.error_ratio * 100.0)
    );
    if !step.outcomes.errors.is_empty() {
        let kinds: Vec<String> = step
            .outcomes
            .errors
            .iter()
            .map(|(kind, n)| match step.error_examples.get(kind) {
                Some(example) => format!(
                    "{kind} {} (first: {})",
                    crate::number::group(*n),
                    cell(example)
                ),
                None => format!("{kind} {}", crate::number::group(*n)),
            })
            .collect();
        let _ = writeln!(out, "\nErrors by kind: {}.", kinds.join("; "));
    }
}

/// A comparison in a few words: the change, the decision, its p-value.
pub fn change_words(c: &MetricComparison) -> String {
    format!(
        "{} {}{}",
        change(c.relative_change),
        change_name(c.change),
        c.test
            .map_or(String::new(), |t| format!(" (p = {})", sig_n(t.p_value, 2)))
    )
}

/// The plan's headline in one sentence (without the leading label).
pub fn plan_sentence(plan: &PlanHeadline) -> String {
    let mut text = match &plan.first_break {
        Some((component, at)) => format!(
            "`{component}` breaks first, at ~{} {}",
            sig_n(*at, 3),
            plan.driver
        ),
        None => "no component breaks within the planned scales".to_string(),
    };
    if let Some(today) = plan.today {
        let _ = write!(text, " (today {} {})", sig(today), plan.driver);
    }
    if let Some(wall) = &plan.wall {
        let _ = write!(text, "; scaling wall at {wall}");
    }
    if let Some((component, status)) = &plan.worst_today {
        if status != "OK" {
            let _ = write!(text, "; today `{component}` is {status}");
        }
    }
    text
}

/// A sweep's wall in one sentence (without the leading label).
pub fn wall_sentence(wall: &Wall) -> String {
    let mut text = match wall.peak {
        Some((n, x)) => format!(
            "N* ≈ {}, X(N*) ≈ {} {}: {}",
            sig_n(n, 3),
            sig_n(x, 4),
            wall.unit,
            wall.verdict
        ),
        None => wall.verdict.clone(),
    };
    if let Some(limit) = &wall.limited_by {
        let _ = write!(text, "; limited by: {limit}");
    }
    text
}

/// `## Summary`: the outcome, health score, findings with the worst ones,
/// each sweep's wall, the capacity plan's first break, changes and trends.
fn summary_section(out: &mut String, input: &ReportInput<'_>, overview: &Overview<'_>) {
    let subject = input.run.subject.as_deref().unwrap_or("host");
    let _ = writeln!(out, "## Summary\n");
    let _ = writeln!(
        out,
        "- **Health score {} / 10** ({}).",
        sig_n(overview.health_score, 2),
        health_formula()
    );
    if overview.counts.is_empty() {
        let _ = writeln!(out, "- No findings.");
    } else {
        let counts: Vec<String> = overview
            .counts
            .iter()
            .map(|(s, n)| format!("{n} {}", severity_name(*s)))
            .collect();
        let _ = writeln!(
            out,
            "- **{}**: {}; the worst:",
            count(input.run.findings.len() as u64, "finding", "findings"),
            counts.join(", ")
        );
        for f in &overview.top_findings {
            let _ = writeln!(
                out,
                "  - **{}** `{}`: {} ({}).{}",
                severity_name(f.severity),
                f.subject,
                f.message.replace('\n', " "),
                f.evidence.replace('\n', " "),
                if f.fix.is_empty() {
                    String::new()
                } else {
                    format!(" Fix: {}.", f.fix.replace('\n', " "))
                }
            );
        }
    }
    for wall in &overview.walls {
        let _ = writeln!(
            out,
            "- Scaling wall of `{}`: {}.",
            wall.scenario,
            wall_sentence(wall)
        );
    }
    for (scenario, verdict) in &overview.searches {
        let _ = writeln!(out, "- Search of `{scenario}`: {verdict}.");
    }
    if let Some(plan) = &overview.plan {
        let _ = writeln!(out, "- Capacity plan: {}.", plan_sentence(plan));
    }
    match &input.previous {
        Some(changes) => {
            let _ = writeln!(
                out,
                "- Since the previous run `{}`: {}.",
                changes.against,
                change_summary(changes)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "- First run of `{subject}`: nothing to compare with yet."
            );
        }
    }
    for (metric, trend, runs) in &input.trends {
        if *trend != Trend::Stable {
            let _ = writeln!(
                out,
                "- Trend of `{metric}` over the last {runs} runs: **{trend:?}**.",
            );
        }
    }
    let _ = writeln!(out);
}

/// `## Key metrics`: one row per scenario; every metric is under
/// `## All metrics`.
fn key_metrics_section(out: &mut String, input: &ReportInput<'_>, overview: &Overview<'_>) {
    let _ = writeln!(out, "## Key metrics\n");
    if overview.rows.is_empty() {
        let _ = writeln!(out, "No load was measured.\n");
    } else {
        let _ = writeln!(
            out,
            "| scenario | kind | throughput | p50 | p99 | errors | throughput vs previous | p99 vs previous |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---|---|");
        for row in &overview.rows {
            let kind = match row.at_level {
                Some(n) => format!("{} (best: N = {n})", row.kind),
                None => row.kind.clone(),
            };
            let _ = writeln!(
                out,
                "| {} | {kind} | {} {} | {} ms | {} ms | {} ({}) | {} | {} |",
                row.scenario,
                sig(row.throughput),
                row.unit,
                sig(row.p50_ms),
                sig(row.p99_ms),
                crate::number::group(row.errors),
                pct(row.error_pct),
                row.throughput_change
                    .as_ref()
                    .map_or("-".into(), change_words),
                row.p99_change.as_ref().map_or("-".into(), change_words),
            );
        }
        let _ = writeln!(out);
    }
    let breached: Vec<String> = input
        .statuses
        .iter()
        .filter(|(_, s)| **s != Status::Ok)
        .map(|(name, s)| {
            format!(
                "`{name}` {}",
                if *s == Status::Critical {
                    "CRITICAL"
                } else {
                    "WARNING"
                }
            )
        })
        .collect();
    if !input.statuses.is_empty() {
        let _ = writeln!(
            out,
            "Thresholds: {} checked, {}.\n",
            input.statuses.len(),
            if breached.is_empty() {
                "all OK".to_string()
            } else {
                format!("past their limits: {}", breached.join(", "))
            }
        );
    }
}

/// `## All metrics`: every named metric with its threshold status and its
/// change since the previous run.
fn all_metrics_section(out: &mut String, input: &ReportInput<'_>) {
    if input.metrics.is_empty() {
        return;
    }
    let previous = input.previous_by_metric();
    let _ = writeln!(out, "## All metrics\n");
    let _ = writeln!(out, "| metric | value | status | vs previous |");
    let _ = writeln!(out, "|---|---:|---|---|");
    for m in input.metrics {
        let status = match input.statuses.get(&m.name) {
            Some(Status::Ok) => "OK",
            Some(Status::Warning) => "**WARNING**",
            Some(Status::Critical) => "**CRITICAL**",
            None => "-",
        };
        let _ = writeln!(
            out,
            "| `{}` | {} {} | {status} | {} |",
            m.name,
            sig(m.value),
            m.unit,
            previous
                .get(m.name.as_str())
                .map_or("-".to_string(), |c| change_words(c))
        );
    }
    let _ = writeln!(out);
}

/// `## Findings`: every finding, worst first, with its evidence.
fn findings_section(out: &mut String, findings: &[Finding]) {
    let _ = writeln!(out, "## Findings\n");
    if findings.is_empty() {
        let _ = writeln!(out, "None.\n");
    } else {
        let mut findings: Vec<&Finding> = findings.iter().collect();
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        // Records written before findings carried a fix render as they did.
        let fixes = findings.iter().any(|f| !f.fix.is_empty());
        if fixes {
            let _ = writeln!(out, "| severity | subject | finding | evidence | fix |");
            let _ = writeln!(out, "|---|---|---|---|---|");
        } else {
            let _ = writeln!(out, "| severity | subject | finding | evidence |");
            let _ = writeln!(out, "|---|---|---|---|");
        }
        for f in findings {
            let fix = if fixes {
                format!(" {} |", cell(&f.fix))
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} |{fix}",
                severity_name(f.severity),
                f.subject,
                cell(&f.message),
                cell(&f.evidence)
            );
        }
        let _ = writeln!(out);
    }
}

/// What the report says of one scenario under its heading: target and
/// protocol, then its step's table or its sweep's level table (Markdown).
pub fn scenario_body(input: &ReportInput<'_>, scenario: &Scenario) -> String {
    let mut out = String::new();
    let unit = rate_unit(&scenario.protocol);
    let _ = writeln!(
        out,
        "`{}` over {}, {} operations.\n",
        scenario.target, scenario.protocol, scenario.options.method
    );
    if let Some(record) = &scenario.search {
        out.push_str(&crate::search::markdown(scenario, record, unit));
        return out;
    }
    match scenario.steps.as_slice() {
        [] => {
            let _ = writeln!(out, "No step was measured.\n");
        }
        [step] => {
            load_step_table(&mut out, step, unit);
            out.push_str(&crate::responses::markdown(step));
            out.push_str(&crate::stages::markdown(step, unit));
            out.push_str(&crate::workers::markdown(step));
            let _ = writeln!(out);
            if let Some(known) = &scenario.known_answer {
                let _ = writeln!(out, "{}\n", known_throughput_line(known, step, unit));
            }
        }
        _ if scalewall_stats::metrics::swept_param(scenario).is_some() => {
            param_sweep_table(&mut out, scenario, unit);
        }
        steps => {
            let sweep = input.sweeps.iter().find(|s| s.scenario == scenario.name);
            let fit = sweep.and_then(|s| s.fit.as_ref().ok());
            let _ = writeln!(
                out,
                "| N | throughput ({unit}) | USL fit | p50 (ms) | p99 (ms) | errors |"
            );
            let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|");
            for step in steps {
                let s = StepSummary::of(step);
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} |",
                    step.concurrency,
                    sig(s.rps),
                    fit.map_or("-".into(), |f| sig(
                        f.throughput_at(f64::from(step.concurrency))
                    )),
                    sig(s.latency_ms.p50),
                    sig(s.latency_ms.p99),
                    crate::number::group(s.errors_total)
                );
            }
            let _ = writeln!(out);
        }
    }
    out
}

/// What the report says of one sweep's USL fit: the coefficients, the
/// peak, the verdict, why the wall stands there, the known answer and the
/// fit's warnings (Markdown).
pub fn sweep_body(input: &ReportInput<'_>, sweep: &SweepSection) -> String {
    let mut out = String::new();
    match &sweep.fit {
        Ok(f) => {
            let _ = writeln!(
                out,
                "X(N) = λN / (1 + σ(N−1) + κN(N−1)) with σ = {}, κ = {}, λ = {} {}; R² = {}, {}.",
                sig(f.sigma),
                sig(f.kappa),
                sig(f.lambda),
                sweep.unit,
                crate::number::r_squared(f.r_squared),
                count(f.points as u64, "point", "points")
            );
            if let Some(n) = f.peak_concurrency() {
                let _ = writeln!(
                    out,
                    "Peak N* = √((1−σ)/κ) = {} at X(N*) = {} {}.",
                    sig(n),
                    sig(f.throughput_at(n)),
                    sweep.unit
                );
            }
        }
        Err(reason) => {
            let _ = writeln!(out, "No USL fit: {reason}.");
        }
    }
    if let Some(verdict) = &sweep.verdict {
        let _ = writeln!(out, "\n**Verdict:** {verdict}.");
    }
    if let Some(evidence) = &sweep.evidence {
        let _ = writeln!(out, "\n**Why the wall stands there:** {evidence}.");
    }
    let known = input
        .run
        .scenarios
        .iter()
        .find(|s| s.name == sweep.scenario)
        .and_then(|s| s.known_answer.as_ref());
    if let Some(line) = known.and_then(|k| known_peak_line(k, sweep.fit.as_ref().ok())) {
        let _ = writeln!(out, "\n{line}");
    }
    for warning in &sweep.warnings {
        let _ = writeln!(out, "\n> warning: {warning}");
    }
    let _ = writeln!(out);
    out
}

/// A `--param` sweep's steps (one per value, at one concurrency) and the
/// cost curve of its mean time per operation (Markdown).
fn param_sweep_table(out: &mut String, scenario: &Scenario, unit: &str) {
    let name = scalewall_stats::metrics::swept_param(scenario).unwrap_or("value");
    let concurrency = scenario.steps.first().map_or(1, |s| s.concurrency);
    let commands = |st: &Step| st.resources.as_ref().and_then(|r| r.commands.clone());
    let metered = scenario.steps.iter().any(|st| commands(st).is_some());
    let _ = write!(
        out,
        "At N = {concurrency}, one step per value of `{name}`.\n\n| {name} | throughput ({unit}) | mean (ms) | p50 (ms) | p99 (ms) | errors |"
    );
    if metered {
        let _ = write!(
            out,
            " CPU per operation (ms) | peak RSS per operation (MiB) |"
        );
    }
    let _ = writeln!(
        out,
        "\n|---:|---:|---:|---:|---:|---:|{}",
        if metered { "---:|---:|" } else { "" }
    );
    for step in &scenario.steps {
        let s = StepSummary::of(step);
        let _ = write!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            step.param_value.map_or("-".into(), sig),
            sig(s.rps),
            sig(step.latency_us.mean() / 1000.0),
            sig(s.latency_ms.p50),
            sig(s.latency_ms.p99),
            crate::number::group(s.errors_total)
        );
        if metered {
            let _ = write!(
                out,
                " {} | {} |",
                commands(step).map_or("-".into(), |c| sig(c.cpu_ms_per_operation())),
                commands(step).map_or("-".into(), |c| sig(c.mean_peak_rss_bytes / MIB))
            );
        }
        let _ = writeln!(out);
    }
    let projected: Vec<f64> = scenario
        .options
        .protocol_options
        .get("project")
        .map(|list| {
            list.split(',')
                .filter_map(|v| v.parse::<f64>().ok())
                .collect()
        })
        .unwrap_or_default();
    let measured: Vec<&Step> = scenario
        .steps
        .iter()
        .filter(|s| s.outcomes.responses > 0 && s.param_value.is_some())
        .collect();
    let largest = measured
        .iter()
        .filter_map(|s| s.param_value)
        .fold(0.0, f64::max);
    let curve = |label: &str, points: Vec<(f64, f64)>, unit: &str, out: &mut String| {
        match scalewall_stats::cost::fit(&points) {
            Ok(fits) => {
                let Some(best) = fits.first() else { return };
                let formula = if unit == "ms" {
                    crate::cost::cost_formula(best, name)
                } else {
                    crate::cost::curve_formula(best, name, unit)
                };
                let _ = writeln!(
                    out,
                    "\n**{label}:** {} — {formula} (R² {}; chosen by BIC among {}).",
                    best.model.as_str(),
                    crate::number::r_squared(best.r_squared),
                    fits.len()
                );
                for &size in &projected {
                    let _ = writeln!(
                        out,
                        "\nProjected: {name} = {} → {} {unit} per operation{}.",
                        sig(size),
                        sig(best.predict(size)),
                        if size > largest {
                            format!(" (beyond the measured {}: an extrapolation)", sig(largest))
                        } else {
                            String::new()
                        }
                    );
                }
            }
            Err(e) => {
                let _ = writeln!(out, "\nNo {}: {e}.", label.to_lowercase());
            }
        }
    };
    let times = measured
        .iter()
        .filter_map(|s| Some((s.param_value?, s.latency_us.mean() / 1000.0)))
        .collect();
    curve("Cost curve", times, "ms", out);
    if metered {
        let memory = measured
            .iter()
            .filter_map(|s| Some((s.param_value?, commands(s)?.mean_peak_rss_bytes / MIB)))
            .collect();
        curve("Memory curve (peak RSS per operation)", memory, "MiB", out);
    }
    let _ = writeln!(out);
}

const MIB: f64 = 1024.0 * 1024.0;

/// A step's level in words: `N = 16`, `n = 50` for a `--param` sweep, or a
/// searched rate `1,350 req/s`.
pub fn level_label(scenario: &Scenario, step: &Step) -> String {
    if let (Some(name), Some(value)) = (
        scalewall_stats::metrics::swept_param(scenario),
        step.param_value,
    ) {
        return format!("{name} = {}", sig(value));
    }
    match scenario.search.as_ref().filter(|r| r.model == "open") {
        Some(record) => format!(
            "{} {}",
            sig(crate::search::level_of(record, step)),
            record.unit
        ),
        None => format!("N = {}", step.concurrency),
    }
}

/// The resources each step of a scenario used, one Markdown list item a step.
pub fn resource_lines(scenario: &Scenario) -> Vec<String> {
    scenario
        .steps
        .iter()
        .filter_map(|st| {
            crate::bench::resources_line(st)
                .map(|l| format!("- `{}` {}: {l}", scenario.name, level_label(scenario, st)))
        })
        .collect()
}

/// Renders the report.
pub fn render(input: &ReportInput<'_>) -> String {
    let run = input.run;
    let subject = run.subject.as_deref().unwrap_or("host");
    let mut out = String::new();
    let _ = writeln!(out, "# scalewall report: {subject}\n");
    let _ = writeln!(
        out,
        "Run `{}` · {} → {} · {} · scalewall {} · host {} ({} cores, {} {})\n",
        run.id,
        run.started_at,
        run.finished_at,
        match run.status {
            RunStatus::Completed => "completed",
            RunStatus::Interrupted => "INTERRUPTED",
            RunStatus::Failed => "FAILED",
        },
        run.tool.version,
        run.host.hostname,
        run.host.cores,
        run.host.os,
        run.host.kernel
    );
    if run.status == RunStatus::Interrupted {
        let _ = writeln!(
            out,
            "> **Interrupted** (Ctrl-C): the figures below cover what was measured before the stop.\n"
        );
    }

    let overview = Overview::of(input);
    summary_section(&mut out, input, &overview);
    key_metrics_section(&mut out, input, &overview);
    findings_section(&mut out, &run.findings);

    let _ = writeln!(out, "## Load results\n");
    if run.scenarios.is_empty() {
        let _ = writeln!(out, "No load scenarios ran.\n");
    }
    for scenario in &run.scenarios {
        let _ = writeln!(out, "### {}\n", scenario.name);
        out.push_str(&scenario_body(input, scenario));
    }

    if !input.sweeps.is_empty() {
        let _ = writeln!(out, "## Scalability (Universal Scalability Law)\n");
        for sweep in &input.sweeps {
            let _ = writeln!(out, "### {}\n", sweep.scenario);
            out.push_str(&sweep_body(input, sweep));
        }
    }

    let resource_lines: Vec<String> = run.scenarios.iter().flat_map(resource_lines).collect();
    if !resource_lines.is_empty() {
        let _ = writeln!(out, "## Resources during load\n");
        for line in resource_lines {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(out);
    }

    if let Some(plan) = &input.plan {
        out.push_str(&plan.markdown);
        out.push('\n');
    }

    for (title, changes) in [
        ("Changes since the last run", &input.previous),
        ("Changes since the baseline", &input.baseline),
    ] {
        let Some(changes) = changes else { continue };
        let _ = writeln!(
            out,
            "## {title} (`{}`)\n\nEach metric's per-second samples compared with the two-sided Mann–Whitney U test; a change counts when p < 0.05 and the whole-run value moved by at least 5 %, and then only past the subject's run-to-run noise (3 robust σ of its last 10 completed runs; \"noise unknown\" with fewer than 5).\n",
            changes.against
        );
        let _ = writeln!(
            out,
            "| metric | before | after | change | p | samples | decision |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---|");
        for c in &changes.comparisons {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} / {} | {} |",
                c.metric,
                sig(c.before),
                sig(c.after),
                change(c.relative_change),
                c.test.map_or("-".into(), |t| sig_n(t.p_value, 2)),
                c.samples[0],
                c.samples[1],
                change_name(c.change)
            );
        }
        let _ = writeln!(out);
    }

    all_metrics_section(&mut out, input);
    if let Some(health) = &input.health_text {
        let _ = writeln!(out, "## System health\n\n```text\n{}```\n", health);
    }
    if !input.artifacts.is_empty() {
        let _ = writeln!(out, "## Artifacts\n");
        for a in &input.artifacts {
            let _ = writeln!(out, "- `{a}`");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalewall_model::Severity;
    use scalewall_stats::compare::{compare, Better, Policy};

    fn input_run() -> Run {
        Run {
            id: "r2".into(),
            subject: Some("shop".into()),
            status: RunStatus::Interrupted,
            findings: vec![
                Finding {
                    severity: Severity::High,
                    subject: "api.p99_ms".into(),
                    message: "p99 above its warning limit".into(),
                    evidence: "p99 60 ms > warning 50 ms".into(),
                    fix: String::new(),
                },
                Finding {
                    severity: Severity::Critical,
                    subject: "health.api".into(),
                    message: "api is down | refused".into(),
                    evidence: "connection refused".into(),
                    fix: String::new(),
                },
            ],
            ..Run::default()
        }
    }

    #[test]
    fn the_report_has_every_section_in_order_with_findings_worst_first() {
        let run = input_run();
        let metrics = vec![Metric {
            name: "api.p99_ms".into(),
            value: 60.0,
            unit: "ms",
            better: Better::Lower,
            samples: vec![],
            gating: true,
            complete: true,
        }];
        let before: Vec<f64> = (0..10).map(|i| 40.0 + f64::from(i) * 0.1).collect();
        let after: Vec<f64> = (0..10).map(|i| 60.0 + f64::from(i) * 0.1).collect();
        let comparison = compare(
            "api.p99_ms",
            Better::Lower,
            (40.0, &before),
            (60.0, &after),
            &Policy::default(),
        );
        let input = ReportInput {
            run: &run,
            metrics: &metrics,
            statuses: [("api.p99_ms".to_string(), Status::Warning)].into(),
            previous: Some(Changes {
                against: "r1".into(),
                comparisons: vec![comparison],
            }),
            baseline: None,
            trends: vec![("api.p99_ms".into(), Trend::Degrading, 3)],
            sweeps: vec![],
            health_text: Some("System health\n  CPU 1 %\n".into()),
            artifacts: vec![".scalewall/reports/r2.md".into()],
            history_series: vec![],
            plan: None,
        };
        let text = render(&input);
        let order = [
            "# scalewall report: shop",
            "> **Interrupted**",
            "## Summary",
            "- **Health score 4 / 10** (10 − 4×CRITICAL",
            "**2 findings**: 1 CRITICAL, 1 HIGH; the worst:",
            "  - **CRITICAL** `health.api`: api is down | refused (connection refused).",
            "  - **HIGH** `api.p99_ms`",
            "Since the previous run `r1`: 1 regressed, 0 improved",
            "Trend of `api.p99_ms` over the last 3 runs: **Degrading**",
            "## Key metrics",
            "Thresholds: 1 checked, past their limits: `api.p99_ms` WARNING.",
            "## Findings",
            "| CRITICAL | `health.api` | api is down \\| refused |",
            "| HIGH | `api.p99_ms` |",
            "## Load results",
            "## Changes since the last run (`r1`)",
            "## All metrics",
            "| `api.p99_ms` | 60 ms | **WARNING** | +50 % **regressed** (p = 0.00018) |",
            "## System health",
            "## Artifacts",
        ];
        let mut from = 0;
        for needle in order {
            let at = text[from..]
                .find(needle)
                .unwrap_or_else(|| panic!("'{needle}' missing after byte {from}:\n{text}"));
            from += at + needle.len();
        }
    }

    #[test]
    fn a_first_clean_run_says_so() {
        let run = Run::default();
        let text = render(&ReportInput::bare(&run, &[]));
        assert!(text.contains("- No findings."));
        assert!(text.contains("First run of `host`"));
        assert!(!text.contains("## Changes since"));
    }
}
