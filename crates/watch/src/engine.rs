//! The engine report: one report of the whole `watch` daemon, rewritten
//! after every run (`engine.md`, `engine.html`, `engine.json` in the report
//! folder, `/report`, `scalewall status --report`). The seeds' layout is
//! its model: a header with when it was made and when the next analysis
//! is due, the job table, each job's key figures and what changed since
//! its previous run (judged against the run-to-run noise), the overall
//! trend with the rule that decided it, totals, findings by severity each
//! with its fix, resources and headroom, and the alert channels. Pure: the
//! daemon hands in what it knows.

use crate::status::JobStatus;
use crate::view::{unix_s, AlertHealth, JobView};
use scalewall_model::{Finding, Run, Scenario};
use scalewall_report::components::severity_name;
use scalewall_report::markdown::{cell, Changes};
use scalewall_stats::compare::Change;
use scalewall_stats::number::{bytes, change, count, group, pct, rate_unit, sig, sig_n};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the engine report is made of.
pub struct EngineInput<'a> {
    /// When it is made.
    pub generated: SystemTime,
    /// The jobs, in config order.
    pub jobs: &'a [JobView],
    /// Each job's latest run against its previous one, noise-gated.
    pub changes: &'a BTreeMap<String, Changes>,
    /// The alert channels and their health.
    pub alerts: &'a [(String, AlertHealth)],
}

/// The overall direction across the jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overall {
    /// Past-the-noise improvements, no regression, every job OK.
    Improving,
    /// Nothing moved past the noise, or moves both ways.
    Stable,
    /// A job FAILING or TIMEOUT, or past-the-noise regressions and no
    /// improvement.
    Degrading,
}

impl Overall {
    /// As printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Overall::Improving => "IMPROVING",
            Overall::Stable => "STABLE",
            Overall::Degrading => "DEGRADING",
        }
    }
}

/// The rule behind [`Overall`], as the report prints it.
pub const TREND_RULE: &str = "DEGRADING when a job is FAILING or TIMEOUT, or metrics regressed past their run-to-run noise and none improved; IMPROVING when metrics improved past the noise, none regressed and every job is OK or RECOVERING; STABLE otherwise";

/// One figure of a job's latest run with its change since the previous.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyFigure {
    /// The metric (`<scenario>.rps`).
    pub metric: String,
    /// Its value.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
    /// The change since the job's previous run, when compared.
    pub change: Option<(f64, Change)>,
}

/// Everything the report says, computed once for every format.
#[derive(Debug, Clone, PartialEq)]
pub struct Engine {
    /// When it was made (RFC 3339, UTC).
    pub generated: String,
    /// The earliest next run of any job (RFC 3339, UTC).
    pub next_analysis: Option<String>,
    /// Per job, in config order: its key figures.
    pub figures: Vec<(String, Vec<KeyFigure>)>,
    /// `(job, metric, change)` past the noise, better.
    pub improved: Vec<(String, String, f64)>,
    /// `(job, metric, change)` past the noise, worse.
    pub regressed: Vec<(String, String, f64)>,
    /// The overall direction.
    pub overall: Overall,
    /// Operations, errors and the summed throughput of the latest runs.
    pub totals: Totals,
    /// `(job, finding)`, worst first.
    pub findings: Vec<(String, Finding)>,
    /// Each sweep's fitted capacity.
    pub capacities: Vec<Capacity>,
}

/// A sweep's fitted capacity.
#[derive(Debug, Clone, PartialEq)]
pub struct Capacity {
    /// The job.
    pub job: String,
    /// The sweep scenario.
    pub scenario: String,
    /// X(N*), the fitted peak throughput.
    pub peak: f64,
    /// N*, where it peaks.
    pub at: f64,
    /// The highest level the sweep measured: an N* past it is extrapolated.
    pub highest_level: u32,
    /// The rate's unit.
    pub unit: &'static str,
}

/// Totals across the jobs' latest runs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    /// Operations attempted.
    pub operations: u64,
    /// Errors of every kind.
    pub errors: u64,
    /// Throughput summed over scenarios (each scenario's best step).
    pub throughput: f64,
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A scenario's headline figure (`<scenario>.rps`, `.p99_ms`,
/// `.error_pct`), which the engine report and the dashboard show.
pub(crate) fn key_metric(name: &str) -> bool {
    // A scenario's headline figures, not each sweep level's.
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() == 2 && matches!(parts[1], "rps" | "p99_ms" | "error_pct")
}

fn scenario_totals(s: &Scenario) -> Totals {
    Totals {
        operations: s.steps.iter().map(|st| st.outcomes.operations()).sum(),
        errors: s.steps.iter().map(|st| st.outcomes.errors_total()).sum(),
        throughput: s
            .steps
            .iter()
            .map(|st| st.achieved_rate_per_s)
            .fold(0.0, f64::max),
    }
}

fn capacity(s: &Scenario) -> Option<(f64, f64)> {
    if s.steps.len() < 3 || !s.steps.iter().all(|st| st.completed) {
        return None;
    }
    let fit = scalewall_stats::sweep::analyse(scalewall_stats::sweep::points_of(&s.steps))
        .fit
        .ok()?;
    Some((fit.peak_throughput()?, fit.peak_concurrency()?))
}

impl Engine {
    /// Computes the report's content (pure).
    pub fn of(input: &EngineInput<'_>) -> Engine {
        let mut figures = Vec::new();
        let (mut improved, mut regressed) = (Vec::new(), Vec::new());
        let mut totals = Totals::default();
        let mut findings = Vec::new();
        let mut capacities = Vec::new();
        for job in input.jobs {
            let Some(run) = &job.latest else {
                figures.push((job.name.clone(), Vec::new()));
                continue;
            };
            let changes = input.changes.get(&job.name);
            let mut key = Vec::new();
            for m in scalewall_stats::metrics::of_run(run)
                .iter()
                .filter(|m| key_metric(&m.name))
            {
                let compared = changes
                    .and_then(|c| c.comparisons.iter().find(|x| x.metric == m.name))
                    .map(|c| (c.relative_change, c.change));
                key.push(KeyFigure {
                    metric: m.name.clone(),
                    value: m.value,
                    unit: m.unit,
                    change: compared,
                });
            }
            for c in changes.map_or(&[][..], |c| &c.comparisons[..]) {
                let entry = (job.name.clone(), c.metric.clone(), c.relative_change);
                match c.change {
                    Change::Improved => improved.push(entry),
                    Change::Regressed => regressed.push(entry),
                    _ => {}
                }
            }
            figures.push((job.name.clone(), key));
            for s in &run.scenarios {
                let t = scenario_totals(s);
                totals.operations += t.operations;
                totals.errors += t.errors;
                totals.throughput += t.throughput;
                if let Some((peak, at)) = capacity(s) {
                    capacities.push(Capacity {
                        job: job.name.clone(),
                        scenario: s.name.clone(),
                        peak,
                        at,
                        highest_level: s.steps.iter().map(|st| st.concurrency).max().unwrap_or(0),
                        unit: rate_unit(&s.protocol),
                    });
                }
            }
            findings.extend(run.findings.iter().map(|f| (job.name.clone(), f.clone())));
        }
        findings.sort_by_key(|(_, f)| std::cmp::Reverse(f.severity));
        let failing = input
            .jobs
            .iter()
            .any(|j| matches!(j.state.status, JobStatus::Failing | JobStatus::Timeout));
        let all_ok = input
            .jobs
            .iter()
            .all(|j| matches!(j.state.status, JobStatus::Ok | JobStatus::Recovering));
        let overall = if failing || (!regressed.is_empty() && improved.is_empty()) {
            Overall::Degrading
        } else if !improved.is_empty() && regressed.is_empty() && all_ok {
            Overall::Improving
        } else {
            Overall::Stable
        };
        Engine {
            generated: rfc3339(input.generated),
            // A job already due (waiting for another's run) is due now.
            next_analysis: input
                .jobs
                .iter()
                .filter_map(|j| j.next_run)
                .min()
                .map(|at| rfc3339(at.max(input.generated))),
            figures,
            improved,
            regressed,
            overall,
            totals,
            findings,
            capacities,
        }
    }
}

fn latest_run(jobs: &[JobView]) -> Option<&Run> {
    jobs.iter()
        .filter_map(|j| j.latest.as_ref())
        .filter(|r| r.system_health.is_some())
        .max_by(|a, b| a.started_at.cmp(&b.started_at))
}

/// A job's kind (`load` for a view made without one).
fn kind_of(j: &JobView) -> &'static str {
    if j.kind.is_empty() {
        "load"
    } else {
        j.kind
    }
}

/// What an external job's last run says: how it ended, its time, its exit
/// code and the end of its output.
fn external_line(j: &JobView) -> String {
    let Some(last) = &j.last_run else {
        return "no run recorded yet".into();
    };
    let mut line = format!(
        "last run {} after {} s",
        match last.outcome {
            crate::status::RunOutcome::Ok => "ok",
            crate::status::RunOutcome::Failed => "failed",
            crate::status::RunOutcome::TimedOut => "timed out",
        },
        sig(last.duration_s)
    );
    if let Some(code) = last.exit_code {
        let _ = write!(line, ", exit code {code}");
    }
    if let Some(quoted) = last
        .output
        .as_deref()
        .map(crate::external::last_lines)
        .filter(|q| !q.is_empty())
    {
        let _ = write!(line, "; output: `{}`", quoted.replace('`', "'"));
    }
    line
}

fn when_unix(s: f64) -> String {
    rfc3339(UNIX_EPOCH + Duration::from_secs_f64(s.max(0.0)))
}

fn change_text(c: Option<(f64, Change)>) -> String {
    match c {
        None => "—".into(),
        Some((rel, Change::Regressed)) => format!("{} **regressed**", change(rel)),
        Some((rel, kind)) => format!("{} {}", change(rel), kind.as_str()),
    }
}

/// The engine report in Markdown.
pub fn markdown(input: &EngineInput<'_>) -> String {
    markdown_of(&Engine::of(input), input)
}

/// The report in every format — Markdown, HTML and JSON — from one
/// computation of its content (each sweep's USL fit among it).
pub fn render(input: &EngineInput<'_>) -> (String, String, serde_json::Value) {
    let e = Engine::of(input);
    let md = markdown_of(&e, input);
    let page = page_of(&md);
    (md, page, json_of(&e, input))
}

fn markdown_of(e: &Engine, input: &EngineInput<'_>) -> String {
    let mut out = String::from("# scalewall engine report\n\n");
    let _ = writeln!(
        out,
        "Made {} (UTC) · **next analysis {}** · overall trend **{}**\n",
        e.generated,
        e.next_analysis.as_deref().unwrap_or("not scheduled"),
        e.overall.as_str()
    );
    out.push_str("## Jobs\n\n| job | kind | interval | runs | errors | consecutive | status | last run | duration | next run |\n|---|---|---:|---:|---:|---:|---|---|---:|---|\n");
    for j in input.jobs {
        let last = j.last_run.as_ref();
        let _ = writeln!(
            out,
            "| {} | {} | {} s | {} | {} | {} | {}{} | {} | {} | {} |",
            j.name,
            kind_of(j),
            sig(j.every_s),
            group(j.state.runs),
            group(j.state.errors),
            j.state.consecutive,
            j.state.status.as_str(),
            if j.running { " (running)" } else { "" },
            last.map_or("never".into(), |l| {
                if l.id.is_empty() || !j.writes_reports() {
                    when_unix(l.started_unix_s)
                } else {
                    format!("[{}](reports/{}.html)", when_unix(l.started_unix_s), l.id)
                }
            }),
            last.map_or("—".into(), |l| format!("{} s", sig(l.duration_s))),
            j.next_run.map_or("—".into(), rfc3339),
        );
    }
    out.push_str("\n## Key figures and changes since each job's previous run\n\n");
    for ((job, figures), view) in e.figures.iter().zip(input.jobs) {
        if kind_of(view) != "load" {
            let _ = writeln!(
                out,
                "- **{job}** ({}): {}.",
                kind_of(view),
                external_line(view)
            );
            continue;
        }
        if figures.is_empty() {
            let why = if view.latest.is_some() {
                "its latest run measured no load (see its findings)"
            } else {
                "no run recorded yet"
            };
            let _ = writeln!(out, "- **{job}**: {why}.");
            continue;
        }
        let shown: Vec<String> = figures
            .iter()
            .map(|f| {
                format!(
                    "`{}` {} {} ({})",
                    f.metric,
                    sig(f.value),
                    f.unit,
                    change_text(f.change)
                )
            })
            .collect();
        let _ = writeln!(out, "- **{job}**: {}", shown.join("; "));
    }
    let listed = |out: &mut String, title: &str, items: &[(String, String, f64)]| {
        let _ = write!(out, "\n**{title}:** ");
        if items.is_empty() {
            out.push_str("none.\n");
        } else {
            let text: Vec<String> = items
                .iter()
                .map(|(job, m, rel)| format!("{job} `{m}` {}", change(*rel)))
                .collect();
            let _ = writeln!(out, "{}.", text.join(", "));
        }
    };
    listed(&mut out, "Improved since the last run", &e.improved);
    listed(&mut out, "Regressed since the last run", &e.regressed);
    let _ = writeln!(
        out,
        "\n**Overall trend: {}** ({TREND_RULE}; changes count only past each subject's run-to-run noise).\n",
        e.overall.as_str()
    );
    let _ = writeln!(
        out,
        "## Totals\n\nAcross the latest runs: {} operations, {} ({}), {} ops/s summed over scenarios (each at its best step).\n",
        group(e.totals.operations),
        count(e.totals.errors, "error", "errors"),
        pct(if e.totals.operations > 0 {
            100.0 * e.totals.errors as f64 / e.totals.operations as f64
        } else {
            0.0
        }),
        sig(e.totals.throughput)
    );
    out.push_str("## Findings\n\n");
    if e.findings.is_empty() {
        out.push_str("None.\n\n");
    } else {
        out.push_str(
            "| severity | job | subject | finding | evidence | fix |\n|---|---|---|---|---|---|\n",
        );
        for (job, f) in &e.findings {
            let _ = writeln!(
                out,
                "| {} | {job} | `{}` | {} | {} | {} |",
                severity_name(f.severity),
                f.subject,
                cell(&f.message),
                cell(&f.evidence),
                if f.fix.is_empty() {
                    "—".to_string()
                } else {
                    cell(&f.fix)
                }
            );
        }
        out.push('\n');
    }
    out.push_str("## Resources and headroom\n\n");
    match latest_run(input.jobs).and_then(|r| Some((r, r.system_health.as_ref()?))) {
        Some((run, health)) => {
            let h = &health.host;
            let _ = writeln!(
                out,
                "- Host at the start of run {} ({}): CPU {} busy ({} headroom), load {} / {} / {}, memory {} of {} used ({}){}.",
                run.id,
                run.started_at,
                pct(h.cpu_busy_pct),
                pct((100.0 - h.cpu_busy_pct).max(0.0)),
                sig_n(h.load_average[0], 3),
                sig_n(h.load_average[1], 3),
                sig_n(h.load_average[2], 3),
                bytes(h.mem_used_bytes),
                bytes(h.mem_total_bytes),
                pct(h.mem_used_pct),
                h.disks
                    .iter()
                    .map(|d| format!(", disk {} {} used ({} free)", d.path, pct(d.used_pct), bytes(d.available_bytes)))
                    .collect::<String>()
            );
        }
        None => out.push_str("- No run has read this host yet.\n"),
    }
    if e.capacities.is_empty() {
        out.push_str("- No sweep has measured a capacity yet.\n");
    }
    for c in &e.capacities {
        let beyond = if c.at > f64::from(c.highest_level) {
            format!(
                "; beyond the highest level measured, {}: extrapolated",
                c.highest_level
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "- {} `{}`: capacity X(N*) ≈ {} {} at N* ≈ {} (USL fit of its latest sweep{beyond}).",
            c.job,
            c.scenario,
            sig(c.peak),
            c.unit,
            sig_n(c.at, 3)
        );
    }
    out.push_str("\n## Alert channels\n\n");
    if input.alerts.is_empty() {
        out.push_str("None configured.\n");
    }
    for (label, health) in input.alerts {
        let _ = writeln!(
            out,
            "- {label}: {} sent, {} failed{}",
            health.sent,
            health.failed,
            health
                .last_error
                .as_ref()
                .map_or(String::new(), |e| format!(", last error: {e}"))
        );
    }
    out
}

/// The engine report as JSON.
pub fn json(input: &EngineInput<'_>) -> serde_json::Value {
    json_of(&Engine::of(input), input)
}

fn json_of(e: &Engine, input: &EngineInput<'_>) -> serde_json::Value {
    let moved = |items: &[(String, String, f64)]| -> Vec<serde_json::Value> {
        items
            .iter()
            .map(|(job, metric, rel)| {
                serde_json::json!({"job": job, "metric": metric, "relative_change": rel})
            })
            .collect()
    };
    serde_json::json!({
        "generated": e.generated,
        "next_analysis": e.next_analysis,
        "jobs": input.jobs.iter().map(|j| serde_json::json!({
            "name": j.name,
            "kind": kind_of(j),
            "every_s": j.every_s,
            "runs": j.state.runs,
            "errors": j.state.errors,
            "consecutive": j.state.consecutive,
            "status": j.state.status,
            "running": j.running,
            "last_run": j.last_run,
            "next_run": j.next_run.map(unix_s),
            "figures": e.figures.iter().find(|(n, _)| *n == j.name).map(|(_, f)| f.iter().map(|k| serde_json::json!({
                "metric": k.metric,
                "value": k.value,
                "unit": k.unit,
                "relative_change": k.change.map(|c| c.0),
                "change": k.change.map(|c| c.1),
            })).collect::<Vec<_>>()),
        })).collect::<Vec<_>>(),
        "improved": moved(&e.improved),
        "regressed": moved(&e.regressed),
        "overall_trend": e.overall.as_str(),
        "trend_rule": TREND_RULE,
        "totals": {
            "operations": e.totals.operations,
            "errors": e.totals.errors,
            "throughput_per_s": e.totals.throughput,
        },
        "findings": e.findings.iter().map(|(job, f)| serde_json::json!({
            "job": job,
            "severity": f.severity,
            "subject": f.subject,
            "message": f.message,
            "evidence": f.evidence,
            "fix": f.fix,
        })).collect::<Vec<_>>(),
        "capacities": e.capacities.iter().map(|c| serde_json::json!({
            "job": c.job,
            "scenario": c.scenario,
            "peak": c.peak,
            "peak_concurrency": c.at,
            "highest_level": c.highest_level,
            "extrapolated": c.at > f64::from(c.highest_level),
            "unit": c.unit,
        })).collect::<Vec<_>>(),
        "alerts": input.alerts.iter().map(|(label, h)| serde_json::json!({
            "url": label, "sent": h.sent, "failed": h.failed, "last_error": h.last_error,
        })).collect::<Vec<_>>(),
    })
}

/// Markdown's inline marks in an escaped line: `**bold**`, `` `code` ``
/// and `[text](reports/ID.html)` links (pure).
fn inline(escaped: &str) -> String {
    let mut out = String::new();
    let mut rest = escaped;
    while let Some(at) = rest.find(['*', '`', '[']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let pair = |open: &str, close: &str, tag: &str| -> Option<(String, usize)> {
            let body = tail.strip_prefix(open)?;
            let end = body.find(close)?;
            Some((
                format!("<{tag}>{}</{tag}>", &body[..end]),
                open.len() + end + close.len(),
            ))
        };
        let link = || -> Option<(String, usize)> {
            let body = tail.strip_prefix('[')?;
            let text_end = body.find("](")?;
            let url_start = text_end + 2;
            let url_end = url_start + body[url_start..].find(')')?;
            let url = &body[url_start..url_end];
            // Only the daemon's own report links.
            url.starts_with("reports/").then(|| {
                (
                    format!("<a href=\"/{url}\">{}</a>", &body[..text_end]),
                    1 + url_end + 1,
                )
            })
        };
        let found = pair("**", "**", "strong")
            .or_else(|| pair("`", "`", "code"))
            .or_else(link);
        match found {
            Some((html, used)) => {
                out.push_str(&html);
                rest = &tail[used..];
            }
            None => {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The engine report as a self-contained page: the Markdown's sections as
/// HTML with the report's stylesheet (every string escaped first).
pub fn html(input: &EngineInput<'_>) -> String {
    page_of(&markdown(input))
}

/// The page of the report's Markdown.
fn page_of(md: &str) -> String {
    use scalewall_report::html::escape;
    let escape = |text: &str| inline(&escape(text));
    let mut out = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"color-scheme\" content=\"light dark\"><title>scalewall engine report</title><style>{}</style></head><body>",
        scalewall_report::components::STYLE
    );
    let mut in_table = false;
    for line in md.lines() {
        if line.starts_with('|') {
            if line.starts_with("|---") {
                continue;
            }
            let cells: Vec<String> = line
                .trim_matches('|')
                .split(" | ")
                .map(|c| escape(c.trim()))
                .collect();
            if !in_table {
                out.push_str("<table><tr>");
                for c in &cells {
                    let _ = write!(out, "<th scope=\"col\" class=\"text\">{c}</th>");
                }
                out.push_str("</tr>");
                in_table = true;
            } else {
                out.push_str("<tr>");
                for c in &cells {
                    let _ = write!(out, "<td class=\"text\">{c}</td>");
                }
                out.push_str("</tr>");
            }
            continue;
        }
        if in_table {
            out.push_str("</table>");
            in_table = false;
        }
        if let Some(h) = line.strip_prefix("## ") {
            let _ = write!(out, "<h2>{}</h2>", escape(h));
        } else if let Some(h) = line.strip_prefix("# ") {
            let _ = write!(out, "<h1>{}</h1>", escape(h));
        } else if let Some(item) = line.strip_prefix("- ") {
            let _ = write!(out, "<p>• {}</p>", escape(item));
        } else if !line.trim().is_empty() {
            let _ = write!(out, "<p>{}</p>", escape(line));
        }
    }
    if in_table {
        out.push_str("</table>");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{RunOutcome, StatusState};
    use crate::view::LastRun;
    use scalewall_stats::compare::{Better, MetricComparison};

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    /// A fixed daemon state: the gateway's latest run is a real stored run
    /// (a bench and a 6-level sweep, with findings), its rps regressed past
    /// the noise; the stores job is FAILING with no record; one alert
    /// channel. Every section of the report says what the state holds.
    #[test]
    fn the_engine_report_holds_every_job_the_next_analysis_totals_and_fixes() {
        let mut run =
            Run::from_json(include_str!("../../../tests/fixtures/report-run.json")).unwrap();
        run.findings[0].fix = "bring gw-get.p99_ms back under 3 ms (now 3.989 ms)".into();
        let jobs = vec![
            JobView {
                name: "gateway".into(),
                kind: "load",
                every_s: 900.0,
                state: StatusState {
                    status: JobStatus::Ok,
                    consecutive: 3,
                    runs: 12,
                    errors: 1,
                    skipped: 0,
                },
                last_run: Some(LastRun {
                    id: run.id.clone(),
                    started_unix_s: 1_796_662_800.0,
                    duration_s: 41.5,
                    outcome: RunOutcome::Ok,
                    error: None,
                    exit_code: None,
                    output: None,
                }),
                next_run: Some(at(1_796_663_700)),
                running: false,
                latest: Some(run.clone()),
            },
            JobView {
                name: "stores".into(),
                kind: "load",
                every_s: 300.0,
                state: StatusState {
                    status: JobStatus::Failing,
                    consecutive: 2,
                    runs: 5,
                    errors: 2,
                    skipped: 0,
                },
                last_run: None,
                next_run: Some(at(1_796_663_100)),
                running: false,
                latest: None,
            },
            JobView {
                name: "backup".into(),
                kind: "command",
                every_s: 3600.0,
                state: StatusState {
                    status: JobStatus::Failing,
                    consecutive: 1,
                    runs: 1,
                    errors: 1,
                    skipped: 0,
                },
                last_run: Some(LastRun {
                    id: "0193a000-0000-7000-8000-000000000001".into(),
                    started_unix_s: 1_796_662_000.0,
                    duration_s: 2.5,
                    outcome: RunOutcome::Failed,
                    error: Some("job backup ended with exit code 2".into()),
                    exit_code: Some(2),
                    output: Some("starting\npg_dump: error: disk full\n".into()),
                }),
                next_run: Some(at(1_796_665_600)),
                running: false,
                latest: None,
            },
        ];
        let mut changes = BTreeMap::new();
        changes.insert(
            "gateway".to_string(),
            Changes {
                against: "previous".into(),
                comparisons: vec![MetricComparison {
                    metric: "gw-get.rps".into(),
                    before: 2719.0,
                    after: 2452.0,
                    relative_change: 2452.0 / 2719.0 - 1.0,
                    test: None,
                    samples: [10, 10],
                    change: Change::Regressed,
                    noise: Some("7.1 robust σ".into()),
                }],
            },
        );
        let _ = Better::Higher;
        let alerts = vec![(
            "http://127.0.0.1/…".to_string(),
            AlertHealth {
                sent: 4,
                failed: 1,
                last_error: Some("HTTP 502".into()),
            },
        )];
        let input = EngineInput {
            generated: at(1_796_662_900),
            jobs: &jobs,
            changes: &changes,
            alerts: &alerts,
        };
        let md = markdown(&input);
        assert!(md.contains("Made 2026-12-07T17:01:40Z (UTC) · **next analysis 2026-12-07T17:05:00Z** · overall trend **DEGRADING**"), "{md}");
        assert!(
            md.contains("| gateway | load | 900 s | 12 | 1 | 3 | OK | ["),
            "{md}"
        );
        assert!(md.contains("| stores | load | 300 s | 5 | 2 | 2 | FAILING | never | — | 2026-12-07T17:05:00Z |"), "{md}");
        assert!(
            md.contains("`gw-get.rps` 2,452 req/s (-9.82 % **regressed**)"),
            "{md}"
        );
        assert!(
            md.contains("**Regressed since the last run:** gateway `gw-get.rps` -9.82 %."),
            "{md}"
        );
        assert!(
            md.contains("**Improved since the last run:** none."),
            "{md}"
        );
        assert!(md.contains("- **stores**: no run recorded yet."), "{md}");
        // A command job: its kind, no report link, how it ended and why.
        assert!(
            md.contains("| backup | command | 3,600 s | 1 | 1 | 1 | FAILING | 2026-12-07T16:46:40Z | 2.5 s |"),
            "{md}"
        );
        assert!(
            md.contains("- **backup** (command): last run failed after 2.5 s, exit code 2; output: `starting ⏎ pg_dump: error: disk full`."),
            "{md}"
        );
        // Totals are the run's own counts.
        let e = Engine::of(&input);
        let operations: u64 = run
            .scenarios
            .iter()
            .flat_map(|s| &s.steps)
            .map(|s| s.outcomes.operations())
            .sum();
        assert_eq!(e.totals.operations, operations);
        assert!(
            md.contains(&format!(
                "Across the latest runs: {} operations",
                group(operations)
            )),
            "{md}"
        );
        // Every finding is listed, worst first, the fix beside it.
        assert_eq!(e.findings.len(), run.findings.len());
        assert!(md.contains("| fix |"), "{md}");
        assert!(
            md.contains("bring gw-get.p99_ms back under 3 ms (now 3.989 ms)"),
            "{md}"
        );
        assert!(
            md.contains("- gateway `gw-scaling`: capacity X(N*) ≈ 2,592 req/s at N* ≈ 11.3"),
            "{md}"
        );
        assert!(
            md.contains("- http://127.0.0.1/…: 4 sent, 1 failed, last error: HTTP 502"),
            "{md}"
        );
        assert!(md.contains("- Host at the start of run"), "{md}");
        // The page escapes what it shows and keeps the report links.
        let page = html(&input);
        assert!(page.contains("<h1>scalewall engine report</h1>"), "{page}");
        assert!(page.contains("<td class=\"text\">stores</td>"), "{page}");
        assert!(
            page.contains(&format!("<a href=\"/reports/{}.html\">", run.id)),
            "{page}"
        );
        assert!(page.contains("<strong>DEGRADING</strong>"), "{page}");
        assert!(!page.contains("**"), "{page}");
        let doc = json(&input);
        // One computation serves every format alike.
        assert_eq!(render(&input), (md.clone(), page.clone(), doc.clone()));
        assert_eq!(doc["next_analysis"], "2026-12-07T17:05:00Z");
        assert_eq!(doc["overall_trend"], "DEGRADING");
        assert_eq!(doc["jobs"][1]["status"], "FAILING");
        assert_eq!(doc["regressed"][0]["metric"], "gw-get.rps");
    }

    #[test]
    fn the_trend_rule_needs_moves_past_the_noise_and_healthy_jobs() {
        let job = |status| JobView {
            name: "j".into(),
            state: StatusState {
                status,
                ..StatusState::default()
            },
            latest: Some(Run::default()),
            ..JobView::default()
        };
        let comparison = |change| MetricComparison {
            metric: "j.rps".into(),
            before: 1.0,
            after: 1.1,
            relative_change: 0.1,
            test: None,
            samples: [10, 10],
            change,
            noise: None,
        };
        let overall = |status, change| {
            let jobs = [job(status)];
            let mut changes = BTreeMap::new();
            changes.insert(
                "j".to_string(),
                Changes {
                    against: "p".into(),
                    comparisons: vec![comparison(change)],
                },
            );
            Engine::of(&EngineInput {
                generated: at(0),
                jobs: &jobs,
                changes: &changes,
                alerts: &[],
            })
            .overall
        };
        assert_eq!(overall(JobStatus::Ok, Change::Improved), Overall::Improving);
        assert_eq!(overall(JobStatus::Ok, Change::WithinNoise), Overall::Stable);
        assert_eq!(
            overall(JobStatus::Ok, Change::NoiseUnknown),
            Overall::Stable
        );
        assert_eq!(
            overall(JobStatus::Ok, Change::Regressed),
            Overall::Degrading
        );
        assert_eq!(
            overall(JobStatus::Timeout, Change::Improved),
            Overall::Degrading
        );
    }
}
