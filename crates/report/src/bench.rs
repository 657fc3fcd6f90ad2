//! A bench step as text or JSON (`scalewall bench`, `demo`), and the
//! resources each step cost (also shown per level by `sweep`).

use crate::number::{bytes, count, group, pct, rate_unit, sig, sig_n};
use scalewall_model::{ProcessCost, Run, Scenario, Step};
use scalewall_stats::summary::{LatencySummary, PhasesSummary, StepSummary, StreamSummary};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Open-model steps whose achieved rate falls below this share of the target
/// are reported as not keeping the schedule.
const SCHEDULE_KEPT_SHARE: f64 = 0.99;

/// Whether an open-model step kept its schedule (`None` for the closed model).
pub fn schedule_kept(step: &Step) -> Option<bool> {
    step.target_rate_per_s
        .map(|target| step.achieved_rate_per_s >= SCHEDULE_KEPT_SHARE * target)
}

fn latency_line(label: &str, s: &LatencySummary) -> String {
    format!(
        "  {label:<14} mean {}  p50 {}  p90 {}  p95 {}  p99 {}  p99.9 {}  max {}   (ms, n = {})\n",
        sig(s.mean),
        sig(s.p50),
        sig(s.p90),
        sig(s.p95),
        sig(s.p99),
        sig(s.p999),
        sig(s.max),
        group(s.count)
    )
}

/// The human-readable summary of a single-step scenario.
pub fn bench_text(run: &Run, scenario: &Scenario, step: &Step) -> String {
    let summary = StepSummary::of(step);
    let mut out = String::new();
    let http = scenario.protocol.starts_with("http");
    // Other protocols have operations (commands, queries, messages), not requests.
    let noun = if http { "requests" } else { "operations" };
    let unit = rate_unit(&scenario.protocol);
    let model = match step.target_rate_per_s {
        Some(rate) if !step.stages.is_empty() => format!(
            "open model ramping over {} (mean {} {unit})",
            count(step.stages.len() as u64, "stage", "stages"),
            sig(rate)
        ),
        Some(rate) => format!("open model at {} {unit}", sig(rate)),
        None => "closed model".to_string(),
    };
    let connect_only = scenario
        .options
        .protocol_options
        .get("connect_only")
        .is_some_and(|v| v == "true");
    // HTTP/2 `--streams`: each connection carries several requests at once.
    let streams = scenario
        .options
        .protocol_options
        .get("streams")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&s| s > 1)
        .map(|s| {
            format!(
                " × {s} streams ({} in flight)",
                group(s * u64::from(step.concurrency))
            )
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "scalewall bench {} — {}{streams}, {}, {}{}",
        scenario.target,
        count(u64::from(step.concurrency), "connection", "connections"),
        model,
        scenario.protocol,
        if connect_only {
            ", connect-only (each operation is a new connection)"
        } else {
            ""
        }
    );
    if !step.completed {
        let _ = writeln!(
            out,
            "  INTERRUPTED: partial results, {} s measured",
            sig(step.duration_s)
        );
    }
    let _ = writeln!(
        out,
        "  {noun:<14} {} in {} s   {} {unit}",
        group(summary.requests),
        sig(summary.duration_s),
        sig(summary.rps)
    );
    let errors = if summary.errors_total == 0 {
        "0".to_string()
    } else {
        let kinds: Vec<String> = step
            .outcomes
            .errors
            .iter()
            .map(|(kind, n)| format!("{kind} {}", group(*n)))
            .collect();
        format!(
            "{} ({} of {}): {}",
            group(summary.errors_total),
            pct(summary.error_ratio * 100.0),
            count(step.outcomes.operations(), "operation", "operations"),
            kinds.join(", ")
        )
    };
    let _ = writeln!(out, "  errors         {errors}");
    for (kind, message) in &step.error_examples {
        let _ = writeln!(out, "    first {kind}: {message}");
    }
    let label = if step.target_rate_per_s.is_some() {
        "latency*"
    } else {
        "latency"
    };
    out.push_str(&latency_line(label, &summary.latency_ms));
    if let Some(uncorrected) = &summary.uncorrected_latency_ms {
        out.push_str(&latency_line("uncorrected", uncorrected));
    }
    out.push_str(&phases_text(step));
    out.push_str(&checks_text(step));
    if let (Some(target), Some(lag)) = (step.target_rate_per_s, &summary.schedule_lag_ms) {
        let kept = if schedule_kept(step) == Some(true) {
            "schedule kept"
        } else {
            "SCHEDULE NOT KEPT: the target, the connection pool (-c) or the generator could not sustain the rate"
        };
        let _ = writeln!(
            out,
            "  schedule       target {} {unit}, achieved {} {unit}; send lag p99 {} ms, max {} ms — {kept}",
            sig(target),
            sig(step.achieved_rate_per_s),
            sig(lag.p99),
            sig(lag.max)
        );
        let _ = writeln!(
            out,
            "  * measured from each request's intended start (coordinated omission corrected); \"uncorrected\" from the actual send"
        );
    }
    let codes: Vec<String> = step
        .outcomes
        .status_codes
        .iter()
        .map(|(code, n)| format!("{code}: {}", group(*n)))
        .collect();
    if http {
        let _ = writeln!(
            out,
            "  status codes   {}",
            if codes.is_empty() {
                "none".into()
            } else {
                codes.join(", ")
            }
        );
    }
    match bytes_not_counted(scenario) {
        Some(reason) => {
            let _ = writeln!(out, "  received       n/a ({reason})");
        }
        None => {
            let _ = writeln!(
                out,
                "  received       {} ({} MB/s)",
                count(step.outcomes.bytes_received, "byte", "bytes"),
                sig(if step.duration_s > 0.0 {
                    step.outcomes.bytes_received as f64 / step.duration_s / 1e6
                } else {
                    0.0
                })
            );
        }
    }
    if let Some(warmup) = &step.warmup {
        let _ = writeln!(
            out,
            "  warm-up        {} s, {}, {} (excluded above)",
            sig(warmup.duration_s),
            count(warmup.outcomes.responses, "response", "responses"),
            count(warmup.outcomes.errors_total(), "error", "errors")
        );
    }
    if let Some(line) = resources_line(step) {
        let _ = writeln!(out, "  resources      {line}");
    }
    // A short step makes no leak claim and says nothing of one.
    if let Some(Ok(growth)) = scalewall_stats::leak::of_step(step) {
        let _ = writeln!(out, "  target memory  {}", growth.sentence());
    }
    out.push_str(&crate::stages::text(
        step,
        crate::number::rate_unit(&scenario.protocol),
    ));
    out.push_str(&crate::workers::text(step));
    let _ = writeln!(out, "  run            {}", run.id);
    out
}

/// The members of a target set in a few words ("3 processes: nginx 100
/// listener, nginx 101 worker, nginx 102 worker"; long lists are cut).
fn members_text(t: &ProcessCost) -> String {
    if t.members.is_empty() {
        return format!("{} (pid {})", t.name, t.pid);
    }
    const SHOWN: usize = 4;
    let mut names: Vec<String> = t
        .members
        .iter()
        .take(SHOWN)
        .map(|m| format!("{} {} {}", m.name, m.pid, m.role))
        .collect();
    if t.members.len() > SHOWN {
        names.push(format!("{} more", t.members.len() - SHOWN));
    }
    format!(
        "{}: {}",
        count(t.members.len() as u64, "process", "processes"),
        names.join(", ")
    )
}

/// What a step cost the host and the target, in one line.
pub fn resources_line(step: &Step) -> Option<String> {
    let r = step.resources.as_ref()?;
    let per_1000 = |x: Option<f64>| x.map_or("n/a".to_string(), sig);
    let mut line = format!(
        "host CPU {} busy, {} CPU-s per 1,000 operations",
        pct(r.host_cpu_busy_pct),
        per_1000(step.host_cpu_s_per_1000_ops())
    );
    if let Some(split) = r.cpu_split() {
        line.push_str(&format!(
            " (of its {} CPU-s: generator {}, target {}, everything else {})",
            sig(r.host_cpu_s),
            sig(split.generator_s),
            sig(split.target_s),
            sig(split.other_s)
        ));
    }
    match (&r.target, &r.target_note) {
        (Some(t), note) => {
            let growth = step.target_rss_growth_per_connection().unwrap_or(0.0);
            let sign = if growth < 0.0 { "-" } else { "+" };
            let selection = if t.selection.is_empty() {
                String::new()
            } else {
                format!("{}, ", t.selection)
            };
            line.push_str(&format!(
                "; target ({selection}{}): {} CPU-s per 1,000 operations",
                members_text(t),
                per_1000(step.target_cpu_s_per_1000_ops()),
            ));
            if t.cpu_user_s + t.cpu_system_s > 0.0 {
                line.push_str(&format!(
                    " (user {}, system {} CPU-s",
                    sig(t.cpu_user_s),
                    sig(t.cpu_system_s)
                ));
                match (r.target_cores_used(), t.cores) {
                    (Some(used), Some(cores)) => line.push_str(&format!(
                        "; {} of {})",
                        pct(100.0 * used / cores),
                        count(cores.round() as u64, "core", "cores")
                    )),
                    _ => line.push(')'),
                }
            }
            let memory = match t.memory.as_str() {
                "pss" => "PSS ",
                "cgroup" => "cgroup memory ",
                "rss" => "RSS ",
                _ => "RSS ",
            };
            line.push_str(&format!(
                ", {memory}{} → {} ({sign}{} per connection)",
                bytes(t.rss_start_bytes),
                bytes(t.rss_end_bytes),
                bytes(growth.abs() as u64)
            ));
            if !t.members.is_empty() {
                line.push_str(&format!(
                    ", {}, {}, {} voluntary and {} involuntary context switches",
                    count(t.threads, "thread", "threads"),
                    count(t.open_fds, "open fd", "open fds"),
                    group(t.voluntary_switches),
                    group(t.involuntary_switches)
                ));
                match (t.disk_read_bytes, t.disk_write_bytes) {
                    (Some(read), Some(written)) => line.push_str(&format!(
                        ", disk read {} and written {}",
                        bytes(read),
                        bytes(written)
                    )),
                    _ => line.push_str(", disk I/O unreadable"),
                }
            }
            if t.exited + t.joined > 0 {
                line.push_str(&format!(
                    "; {} joined and {} left the set during the step",
                    count(t.joined, "process", "processes"),
                    group(t.exited)
                ));
            }
            for note in t.notes.iter().chain(note) {
                line.push_str(&format!(" ({note})"));
            }
        }
        (None, Some(note)) => line.push_str(&format!("; target not measured: {note}")),
        (None, None) => {}
    }
    if let Some(c) = &r.commands {
        line.push_str(&format!(
            "; each operation's process (wait4, {}): {} ms CPU, peak RSS {} mean, {} largest (floor: the generator's own {} counts until the exec)",
            count(c.operations, "operation", "operations"),
            sig(c.cpu_ms_per_operation()),
            bytes(c.mean_peak_rss_bytes as u64),
            bytes(c.peak_rss_bytes),
            bytes(c.generator_peak_rss_bytes)
        ));
    }
    if r.host_saturated() {
        line.push_str(&format!(
            "; HOST SATURATED: the host was {} busy with the generator and the target on it, so the host, not the target, limited this step",
            pct(r.host_cpu_busy_pct)
        ));
    } else if r.target_cpu_bound() {
        line.push_str("; TARGET CPU-BOUND: it used at least 90 % of the cores it may run on");
    }
    if let Some(queue) = r.listen_queue.filter(|q| q.overflows > 0 || q.drops > 0) {
        line.push_str(&format!(
            "; the kernel dropped {} at a full listen queue ({} ListenOverflows): the server did not accept them in time, and each dropped SYN is retried after 1 s, which shows as latencies of about a second",
            count(queue.drops, "connection attempt", "connection attempts"),
            group(queue.overflows)
        ));
    }
    Some(line)
}

/// A sweep's resource cost per concurrency level, as a table; `None` when
/// no step has resource figures.
pub fn sweep_resources_text(steps: &[Step]) -> Option<String> {
    if steps.iter().all(|s| s.resources.is_none()) {
        return None;
    }
    let per_1000 = |x: Option<f64>| x.map_or("n/a".to_string(), sig);
    let mut out = String::new();
    let target = steps
        .iter()
        .find_map(|s| s.resources.as_ref()?.target.as_ref())
        .map(|t| {
            if t.selection.is_empty() {
                format!("{} (pid {})", t.name, t.pid)
            } else {
                format!("{}, {}", t.selection, members_text(t))
            }
        });
    let _ = writeln!(
        out,
        "resources per level (CPU-s per 1,000 operations; target: {})",
        target.as_deref().unwrap_or_else(|| steps
            .iter()
            .find_map(|s| s.resources.as_ref()?.target_note.as_deref())
            .unwrap_or("not measured"))
    );
    let _ = writeln!(
        out,
        "  {:>8}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>14}  flags",
        "N", "host busy", "host CPU", "target CPU", "target use", "target mem", "mem/connection"
    );
    for step in steps {
        let Some(r) = &step.resources else { continue };
        let (rss, growth) = match &r.target {
            Some(t) => {
                let growth = step.target_rss_growth_per_connection().unwrap_or(0.0);
                let sign = if growth < 0.0 { "-" } else { "+" };
                (
                    bytes(t.rss_end_bytes),
                    format!("{sign}{}", bytes(growth.abs() as u64)),
                )
            }
            None => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "  {:>8}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>14}  {}",
            group(u64::from(step.concurrency)),
            pct(r.host_cpu_busy_pct),
            per_1000(step.host_cpu_s_per_1000_ops()),
            per_1000(step.target_cpu_s_per_1000_ops()),
            r.target_cores_used()
                .map_or("n/a".into(), |c| format!("{} cores", sig_n(c, 3))),
            rss,
            growth,
            step_flags(r).join(",")
        );
    }
    Some(out)
}

/// The flags of a step's resources: `host_saturated`, `target_cpu_bound`.
pub fn step_flags(r: &scalewall_model::StepResources) -> Vec<&'static str> {
    let mut flags = Vec::new();
    if r.host_saturated() {
        flags.push("host_saturated");
    }
    if r.target_cpu_bound() {
        flags.push("target_cpu_bound");
    }
    flags
}

/// A sweep's resource figures per level for JSON output.
pub fn sweep_resources_json(steps: &[Step]) -> serde_json::Value {
    steps
        .iter()
        .map(|step| {
            serde_json::json!({
                "concurrency": step.concurrency,
                "resources": resources_json(step),
            })
        })
        .collect()
}

/// The leak verdict of a step's target memory for JSON output: the slope
/// and its interval in bytes per hour and the verdict (`suspected_leak`,
/// `no_growth`), `not_judged` with the reason, or null with no series.
fn memory_growth_json(step: &Step) -> Option<serde_json::Value> {
    Some(match scalewall_stats::leak::of_step(step)? {
        Ok(g) => serde_json::json!({
            "verdict": if g.leak { "suspected_leak" } else { "no_growth" },
            "bytes_per_h": g.bytes_per_h,
            "low_bytes_per_h": g.low_bytes_per_h,
            "high_bytes_per_h": g.high_bytes_per_h,
            "later_half_bytes_per_h": g.later_bytes_per_h,
            "samples": g.samples,
            "span_s": g.span_s,
            "start_bytes": g.start_bytes,
            "sentence": g.sentence(),
        }),
        Err(why) => serde_json::json!({
            "verdict": "not_judged",
            "reason": why.to_string(),
        }),
    })
}

/// The resource figures of a step for JSON output.
fn resources_json(step: &Step) -> Option<serde_json::Value> {
    let r = step.resources.as_ref()?;
    Some(serde_json::json!({
        "wall_s": r.wall_s,
        "started_at": r.started_at,
        "operations": step.operations_with_warmup(),
        "host_cpu_busy_pct": r.host_cpu_busy_pct,
        "host_cpu_s": r.host_cpu_s,
        "host_cpu_s_per_1000_ops": step.host_cpu_s_per_1000_ops(),
        "generator_cpu_s": r.generator_cpu_s,
        "other_cpu_s": r.cpu_split().map(|s| s.other_s),
        "flags": step_flags(r),
        "target": r.target.as_ref().map(|t| serde_json::json!({
            "pid": t.pid,
            "name": t.name,
            "selection": t.selection,
            "cpu_s": t.cpu_s,
            "cpu_user_s": t.cpu_user_s,
            "cpu_system_s": t.cpu_system_s,
            "cpu_s_per_1000_ops": step.target_cpu_s_per_1000_ops(),
            "cores_used": r.target_cores_used(),
            "cores": t.cores,
            "memory": t.memory,
            "rss_start_bytes": t.rss_start_bytes,
            "rss_end_bytes": t.rss_end_bytes,
            "rss_growth_per_connection_bytes": step.target_rss_growth_per_connection(),
            "threads": t.threads,
            "open_fds": t.open_fds,
            "disk_read_bytes": t.disk_read_bytes,
            "disk_write_bytes": t.disk_write_bytes,
            "voluntary_switches": t.voluntary_switches,
            "involuntary_switches": t.involuntary_switches,
            "members": t.members,
            "joined": t.joined,
            "exited": t.exited,
            "notes": t.notes,
        })),
        "target_note": r.target_note,
        "memory_growth": memory_growth_json(step),
        "samples": r.samples.len(),
        "listen_queue": r.listen_queue,
    }))
}

/// The phases of a step's responses as latency lines (time to first
/// byte, connect, and a streamed response's first event, event gaps and
/// events); empty for a step without them.
pub fn phases_text(step: &Step) -> String {
    let Some(phases) = PhasesSummary::of(step) else {
        return String::new();
    };
    let mut out = String::new();
    let corrected = if step.target_rate_per_s.is_some() {
        "*"
    } else {
        ""
    };
    out.push_str(&latency_line(
        &format!("first byte{corrected}"),
        &phases.ttfb,
    ));
    if let Some(first) = &phases.first_event {
        out.push_str(&latency_line(&format!("first event{corrected}"), first));
    }
    if let Some(gap) = &phases.event_gap {
        out.push_str(&latency_line("event gap", gap));
    }
    if let Some(events) = StreamSummary::of(step) {
        let _ = writeln!(
            out,
            "  events         {} per response (mean; {}–{}), {} events/s, {} in all",
            sig(events.events_per_response),
            group(events.events_per_response_min),
            group(events.events_per_response_max),
            sig(events.events_per_s),
            group(events.events)
        );
    }
    if phases.connect.count > 0 {
        out.push_str(&latency_line("connect", &phases.connect));
    }
    out
}

/// The failures of each check, with what the first failing response showed.
pub fn checks_text(step: &Step) -> String {
    let mut out = String::new();
    for check in &step.checks {
        let share = if check.evaluated == 0 {
            0.0
        } else {
            check.failed as f64 / check.evaluated as f64 * 100.0
        };
        let verdict = if check.failed == 0 {
            format!("passed {}", count(check.evaluated, "response", "responses"))
        } else {
            format!(
                "FAILED {} of {} ({})",
                group(check.failed),
                count(check.evaluated, "response", "responses"),
                pct(share)
            )
        };
        let _ = writeln!(out, "  check          {}: {verdict}", check.check);
        if let Some(first) = &check.first_failure {
            let _ = writeln!(out, "    first failure: {first}");
        }
    }
    out
}

/// A check in the JSON form.
#[derive(Debug, Serialize)]
pub struct CheckJson<'a> {
    /// The check as written.
    pub check: &'a str,
    /// Responses it judged.
    pub evaluated: u64,
    /// Responses that failed it.
    pub failed: u64,
    /// Their share of the judged, 0–1.
    pub failed_ratio: f64,
    /// What the first failing response showed.
    pub first_failure: Option<&'a str>,
}

/// The checks of a step in the JSON form.
pub fn checks_json(step: &Step) -> Vec<CheckJson<'_>> {
    step.checks
        .iter()
        .map(|c| CheckJson {
            check: &c.check,
            evaluated: c.evaluated,
            failed: c.failed,
            failed_ratio: if c.evaluated == 0 {
                0.0
            } else {
                c.failed as f64 / c.evaluated as f64
            },
            first_failure: c.first_failure.as_deref(),
        })
        .collect()
}

/// The JSON form of a bench result.
#[derive(Debug, Serialize)]
pub struct BenchJson<'a> {
    /// Run id.
    pub run_id: &'a str,
    /// Target URL.
    pub target: &'a str,
    /// Protocol driver.
    pub protocol: &'a str,
    /// Connections.
    pub connections: u32,
    /// False when interrupted.
    pub completed: bool,
    /// Headline figures (requests, rps, errors_total, latency_ms, …).
    #[serde(flatten)]
    pub summary: StepSummary,
    /// Errors by kind.
    pub errors: &'a BTreeMap<String, u64>,
    /// First message per error kind.
    pub error_examples: &'a BTreeMap<String, String>,
    /// Responses by status code.
    pub status_codes: BTreeMap<String, u64>,
    /// Response bytes received (`null` where the driver does not count them).
    pub bytes_received: Option<u64>,
    /// Why the received bytes are not counted, where they are not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_received_note: Option<&'static str>,
    /// Open model: target rate.
    pub target_rate_per_s: Option<f64>,
    /// Open model: whether the achieved rate met the target.
    pub schedule_kept: Option<bool>,
    /// What the step cost the host and the target (warm-up included).
    pub resources: Option<serde_json::Value>,
    /// A ramping rate's result per stage.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<serde_json::Value>,
    /// A distributed step: each worker's share and figures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<serde_json::Value>,
    /// HTTP: the phases of the responses (connect, ttfb, and for streamed
    /// responses first_event and event_gap), milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phases_ms: Option<PhasesSummary>,
    /// Streamed responses: mean events per response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_per_response: Option<f64>,
    /// Streamed responses: events, their spread per response and their rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<StreamSummary>,
    /// The checks and how many responses failed each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckJson<'a>>,
}

/// Why a scenario's received bytes were not counted, when they were not:
/// its 0 would read as a measurement. (The PostgreSQL client does not
/// expose the rows' wire size; a NATS publish and a connection set-up have
/// no reply; a command's output is not read as bytes.)
pub fn bytes_not_counted(scenario: &Scenario) -> Option<&'static str> {
    let option = |key: &str| {
        scenario
            .options
            .protocol_options
            .get(key)
            .map(String::as_str)
    };
    if option("connect_only") == Some("true") {
        return Some("each operation is a connection set-up; nothing is read");
    }
    match scenario.protocol.as_str() {
        "postgres" => Some("the PostgreSQL driver does not see the rows' wire size"),
        "exec" => Some("a command's output is not counted"),
        "nats" if option("nats_mode") == Some("publish") => {
            Some("a NATS publish has no reply to count")
        }
        _ => None,
    }
}

/// Renders the JSON form of a single-step scenario.
pub fn bench_json(run: &Run, scenario: &Scenario, step: &Step) -> String {
    let doc = BenchJson {
        run_id: &run.id,
        target: &scenario.target,
        protocol: &scenario.protocol,
        connections: step.concurrency,
        completed: step.completed,
        summary: StepSummary::of(step),
        errors: &step.outcomes.errors,
        error_examples: &step.error_examples,
        status_codes: step
            .outcomes
            .status_codes
            .iter()
            .map(|(code, n)| (code.to_string(), *n))
            .collect(),
        bytes_received: bytes_not_counted(scenario)
            .is_none()
            .then_some(step.outcomes.bytes_received),
        bytes_received_note: bytes_not_counted(scenario),
        target_rate_per_s: step.target_rate_per_s,
        schedule_kept: schedule_kept(step),
        resources: resources_json(step),
        stages: crate::stages::json(step),
        workers: crate::workers::json(step),
        phases_ms: PhasesSummary::of(step),
        events_per_response: StreamSummary::of(step).map(|e| e.events_per_response),
        events: StreamSummary::of(step),
        checks: checks_json(step),
    };
    // Plain data with string keys always serialises.
    serde_json::to_string_pretty(&doc).expect("bench JSON serialises")
}
