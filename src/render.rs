//! Renders bench and USL results as text tables or JSON objects: pure
//! functions from results to a `String`; the caller owns stdout.

use scalewall_model::{Run, Scenario, Step};
use scalewall_probe::health::HealthStatus;
use scalewall_probe::snapshot::Snapshot;
use scalewall_stats::cost::{CostFit, CostModel};
use scalewall_stats::summary::{LatencySummary, StepSummary};
use scalewall_stats::sweep::SweepPoint;
use scalewall_stats::usl::{round_sig, Point, UslError, UslFit};
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

/// Thousands separators for counts.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A float with thousands separators and `decimals` places.
pub fn group_f(x: f64, decimals: usize) -> String {
    let text = format!("{:.decimals$}", x.max(0.0));
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    let whole = group(whole.parse().unwrap_or(0));
    if frac.is_empty() {
        whole
    } else {
        format!("{whole}.{frac}")
    }
}

fn latency_line(label: &str, s: &LatencySummary) -> String {
    format!(
        "  {label:<14} mean {:.3}  p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}   (ms, n = {})\n",
        s.mean,
        s.p50,
        s.p90,
        s.p99,
        s.p999,
        s.max,
        group(s.count)
    )
}

/// The human-readable summary of a single-step scenario.
pub fn bench_text(run: &Run, scenario: &Scenario, step: &Step) -> String {
    let summary = StepSummary::of(step);
    let mut out = String::new();
    let http = scenario.protocol.starts_with("http");
    // Other protocols have operations (commands, queries, messages), not requests.
    let (noun, unit) = if http {
        ("requests", "req/s")
    } else {
        ("operations", "ops/s")
    };
    let model = match step.target_rate_per_s {
        Some(rate) => format!("open model at {} {unit}", group_f(rate, 0)),
        None => "closed model".to_string(),
    };
    let _ = writeln!(
        out,
        "scalewall bench {} — {} connections, {}, {}",
        scenario.target, step.concurrency, model, scenario.protocol
    );
    if !step.completed {
        let _ = writeln!(
            out,
            "  INTERRUPTED: partial results, {:.2} s measured",
            step.duration_s
        );
    }
    let _ = writeln!(
        out,
        "  {noun:<14} {} in {:.2} s   {} {unit}",
        group(summary.requests),
        summary.duration_s,
        group_f(summary.rps, 1)
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
            "{} ({:.2} % of {} operations): {}",
            group(summary.errors_total),
            summary.error_ratio * 100.0,
            group(step.outcomes.operations()),
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
    if let (Some(target), Some(lag)) = (step.target_rate_per_s, &summary.schedule_lag_ms) {
        let kept = if schedule_kept(step) == Some(true) {
            "schedule kept"
        } else {
            "SCHEDULE NOT KEPT: the target, the connection pool (-c) or the generator could not sustain the rate"
        };
        let _ = writeln!(
            out,
            "  schedule       target {} req/s, achieved {} req/s; send lag p99 {:.3} ms, max {:.3} ms — {kept}",
            group_f(target, 1),
            group_f(step.achieved_rate_per_s, 1),
            lag.p99,
            lag.max
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
    let _ = writeln!(
        out,
        "  received       {} bytes ({:.2} MB/s)",
        group(step.outcomes.bytes_received),
        if step.duration_s > 0.0 {
            step.outcomes.bytes_received as f64 / step.duration_s / 1e6
        } else {
            0.0
        }
    );
    if let Some(warmup) = &step.warmup {
        let _ = writeln!(
            out,
            "  warm-up        {:.2} s, {} responses, {} errors (excluded above)",
            warmup.duration_s,
            group(warmup.outcomes.responses),
            group(warmup.outcomes.errors_total())
        );
    }
    if let Some(line) = resources_line(step) {
        let _ = writeln!(out, "  resources      {line}");
    }
    let _ = writeln!(out, "  run            {}", run.id);
    out
}

/// What a step cost the host and the target, in one line.
pub fn resources_line(step: &Step) -> Option<String> {
    let r = step.resources.as_ref()?;
    let per_1000 = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
    let mut line = format!(
        "host CPU {:.1} % busy, {} CPU-s per 1,000 operations",
        r.host_cpu_busy_pct,
        per_1000(step.host_cpu_s_per_1000_ops())
    );
    match (&r.target, &r.target_note) {
        (Some(t), note) => {
            let growth = step.target_rss_growth_per_connection().unwrap_or(0.0);
            let sign = if growth < 0.0 { "-" } else { "+" };
            line.push_str(&format!(
                "; target {} (pid {}): {} CPU-s per 1,000 operations, RSS {} → {} ({sign}{} per connection)",
                t.name,
                t.pid,
                per_1000(step.target_cpu_s_per_1000_ops()),
                bytes(t.rss_start_bytes),
                bytes(t.rss_end_bytes),
                bytes(growth.abs() as u64)
            ));
            if let Some(note) = note {
                line.push_str(&format!(" ({note})"));
            }
        }
        (None, Some(note)) => line.push_str(&format!("; target not measured: {note}")),
        (None, None) => {}
    }
    Some(line)
}

/// A sweep's resource cost per concurrency level, as a table; `None` when
/// no step has resource figures.
pub fn sweep_resources_text(steps: &[Step]) -> Option<String> {
    if steps.iter().all(|s| s.resources.is_none()) {
        return None;
    }
    let per_1000 = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
    let mut out = String::new();
    let target = steps
        .iter()
        .find_map(|s| s.resources.as_ref()?.target.as_ref())
        .map(|t| format!("{} (pid {})", t.name, t.pid));
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
        "  {:>8}  {:>10}  {:>10}  {:>10}  {:>10}  {:>14}",
        "N", "host busy", "host CPU", "target CPU", "target RSS", "RSS/connection"
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
            "  {:>8}  {:>8.1} %  {:>10}  {:>10}  {:>10}  {:>14}",
            step.concurrency,
            r.host_cpu_busy_pct,
            per_1000(step.host_cpu_s_per_1000_ops()),
            per_1000(step.target_cpu_s_per_1000_ops()),
            rss,
            growth
        );
    }
    Some(out)
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

/// The resource figures of a step for JSON output.
fn resources_json(step: &Step) -> Option<serde_json::Value> {
    let r = step.resources.as_ref()?;
    Some(serde_json::json!({
        "wall_s": r.wall_s,
        "operations": step.operations_with_warmup(),
        "host_cpu_busy_pct": r.host_cpu_busy_pct,
        "host_cpu_s": r.host_cpu_s,
        "host_cpu_s_per_1000_ops": step.host_cpu_s_per_1000_ops(),
        "target": r.target.as_ref().map(|t| serde_json::json!({
            "pid": t.pid,
            "name": t.name,
            "cpu_s": t.cpu_s,
            "cpu_s_per_1000_ops": step.target_cpu_s_per_1000_ops(),
            "rss_start_bytes": t.rss_start_bytes,
            "rss_end_bytes": t.rss_end_bytes,
            "rss_growth_per_connection_bytes": step.target_rss_growth_per_connection(),
        })),
        "target_note": r.target_note,
        "samples": r.samples.len(),
    }))
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
    /// Response bytes received.
    pub bytes_received: u64,
    /// Open model: target rate.
    pub target_rate_per_s: Option<f64>,
    /// Open model: whether the achieved rate met the target.
    pub schedule_kept: Option<bool>,
    /// What the step cost the host and the target (warm-up included).
    pub resources: Option<serde_json::Value>,
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
        bytes_received: step.outcomes.bytes_received,
        target_rate_per_s: step.target_rate_per_s,
        schedule_kept: schedule_kept(step),
        resources: resources_json(step),
    };
    // Plain data with string keys always serialises.
    serde_json::to_string_pretty(&doc).expect("bench JSON serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(group_f(12345.678, 1), "12,345.7");
        assert_eq!(group_f(999.96, 1), "1,000.0");
        assert_eq!(group_f(5.0, 0), "5");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
        assert_eq!(uptime(90_061.0), "1 d 1 h");
    }
}

/// One row of a USL table: a measured level and what the fit says of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UslRow {
    /// Concurrency N.
    pub concurrency: f64,
    /// Measured throughput.
    pub throughput: f64,
    /// 99th percentile latency, ms (sweeps only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// Responses behind the figures (sweeps only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responses: Option<u64>,
    /// X / (λN).
    pub efficiency: Option<f64>,
    /// Modelled throughput at this N.
    pub fitted_throughput: Option<f64>,
    /// Honesty flags.
    pub flags: Vec<&'static str>,
}

/// Rows for a sweep's points.
pub fn sweep_rows(points: &[SweepPoint], fit: Option<&UslFit>) -> Vec<UslRow> {
    points
        .iter()
        .map(|p| UslRow {
            concurrency: f64::from(p.concurrency),
            throughput: p.throughput,
            p99_ms: Some(p.p99_ms),
            responses: Some(p.responses),
            efficiency: p.efficiency,
            fitted_throughput: fit.map(|f| f.throughput_at(f64::from(p.concurrency))),
            flags: p.flags.clone(),
        })
        .collect()
}

/// Rows for plain (concurrency, throughput) points.
pub fn point_rows(points: &[Point], fit: Option<&UslFit>) -> Vec<UslRow> {
    points
        .iter()
        .map(|p| UslRow {
            concurrency: p.concurrency,
            throughput: p.throughput,
            p99_ms: None,
            responses: None,
            efficiency: fit.map(|f| f.efficiency(p)),
            fitted_throughput: fit.map(|f| f.throughput_at(p.concurrency)),
            flags: Vec::new(),
        })
        .collect()
}

fn with_interval(value: f64, interval: Option<[f64; 2]>) -> String {
    match interval {
        Some([low, high]) => format!(
            "{} [{}, {}]",
            round_sig(value, 4),
            round_sig(low, 3),
            round_sig(high, 3)
        ),
        None => round_sig(value, 4),
    }
}

/// The USL section as text: table, fit, verdict, warnings.
pub fn usl_text(
    heading: &str,
    rows: &[UslRow],
    fit: Result<&UslFit, &UslError>,
    warnings: &[String],
    unit: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{heading}");
    let has_latency = rows.iter().any(|r| r.p99_ms.is_some());
    let _ = writeln!(
        out,
        "  {:>8}  {:>14}  {:>14}{}  {:>10}  flags",
        "N",
        format!("X ({unit})"),
        "USL X",
        if has_latency {
            format!("  {:>9}  {:>9}", "p99 (ms)", "responses")
        } else {
            String::new()
        },
        "efficiency"
    );
    for r in rows {
        let latency = match (r.p99_ms, r.responses) {
            (Some(p99), Some(n)) => format!("  {p99:>9.3}  {:>9}", group(n)),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:>8}  {:>14}  {:>14}{latency}  {:>10}  {}",
            if r.concurrency.fract() == 0.0 {
                format!("{}", r.concurrency)
            } else {
                round_sig(r.concurrency, 4)
            },
            group_f(r.throughput, 1),
            r.fitted_throughput.map_or("-".into(), |x| group_f(x, 1)),
            r.efficiency.map_or("-".into(), |e| format!("{e:.3}")),
            r.flags.join(",")
        );
    }
    match fit {
        Ok(fit) => {
            let ci = fit.confidence_95;
            let _ = writeln!(
                out,
                "  USL fit (n = {}): σ = {}  κ = {}  λ = {} {unit}",
                fit.points,
                with_interval(fit.sigma, ci.map(|c| c[0])),
                with_interval(fit.kappa, ci.map(|c| c[1])),
                with_interval(fit.lambda, ci.map(|c| c[2])),
            );
            let _ = writeln!(
                out,
                "  R² = {:.4}{}{}",
                fit.r_squared,
                fit.residual_standard_error
                    .map_or(String::new(), |rse| format!(
                        ", residual standard error {} {unit}",
                        round_sig(rse, 3)
                    )),
                if ci.is_some() {
                    "; [95 % intervals: estimate ± t(0.975, n−3)·SE]"
                } else {
                    "; no intervals with 3 points"
                }
            );
            if let Some(n) = fit.peak_concurrency() {
                let _ = writeln!(
                    out,
                    "  N* = √((1−σ)/κ) = {} (not rounded), X(N*) = {} {unit}",
                    round_sig(n, 4),
                    round_sig(fit.throughput_at(n), 4)
                );
            }
            if let Some(ceiling) = fit.amdahl_ceiling() {
                let _ = writeln!(
                    out,
                    "  Amdahl ceiling λ/σ = {} {unit}",
                    round_sig(ceiling, 4)
                );
            }
            let max_n = rows.iter().map(|r| r.concurrency).fold(0.0, f64::max);
            let _ = writeln!(out, "verdict: {}", fit.verdict().sentence(unit, max_n));
        }
        Err(error) => {
            let _ = writeln!(out, "  no USL fit: {error}");
        }
    }
    for warning in warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    out
}

/// The USL result as JSON: `usl`, `verdict`, `points`, `warnings`.
pub fn usl_json(
    run_id: Option<&str>,
    rows: &[UslRow],
    fit: Result<&UslFit, &UslError>,
    warnings: &[String],
    unit: &str,
) -> String {
    let doc = usl_json_value(run_id, rows, fit, warnings, unit);
    // Plain data with string keys always serialises.
    serde_json::to_string_pretty(&doc).expect("USL JSON serialises")
}

/// [`usl_json`] as a value, for callers that add sections.
pub fn usl_json_value(
    run_id: Option<&str>,
    rows: &[UslRow],
    fit: Result<&UslFit, &UslError>,
    warnings: &[String],
    unit: &str,
) -> serde_json::Value {
    let max_n = rows.iter().map(|r| r.concurrency).fold(0.0, f64::max);
    let usl = fit.ok().map(|f| {
        let named = |v: [f64; 3]| serde_json::json!({"sigma": v[0], "kappa": v[1], "lambda": v[2]});
        serde_json::json!({
            "sigma": f.sigma,
            "kappa": f.kappa,
            "lambda": f.lambda,
            "peak_concurrency": f.peak_concurrency(),
            "peak_throughput": f.peak_throughput(),
            "amdahl_ceiling": f.amdahl_ceiling(),
            "r_squared": f.r_squared,
            "residual_standard_error": f.residual_standard_error,
            "standard_errors": f.standard_errors.map(named),
            "confidence_95": f.confidence_95.map(|c| serde_json::json!({"sigma": c[0], "kappa": c[1], "lambda": c[2]})),
            "confidence_method": "estimate ± t(0.975, n−3)·SE, SE = sqrt(diag((JᵀJ)⁻¹)·RSS/(n−3))",
            "points": f.points,
            "wall": f.verdict(),
        })
    });
    serde_json::json!({
        "run_id": run_id,
        "unit": unit,
        "usl": usl,
        "verdict": fit.ok().map(|f| f.verdict().sentence(unit, max_n)),
        "fit_error": fit.err().map(ToString::to_string),
        "points": rows,
        "warnings": warnings,
    })
}

/// Bytes in binary units with one decimal (B, KiB, MiB, GiB, TiB).
pub fn bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// Seconds as days, hours and minutes.
fn uptime(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m} min {} s", s % 60),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

/// A probe snapshot as a "System health" section.
pub fn probe_text(snapshot: &Snapshot) -> String {
    let h = &snapshot.host;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "System health (rates over {:.1} s)",
        snapshot.interval_s
    );
    let cores: Vec<String> = h
        .cpu_busy_pct_per_core
        .iter()
        .map(|c| format!("{c:.1} %"))
        .collect();
    let _ = writeln!(
        out,
        "  CPU          {:.1} % busy (per core: {}); load average {:.2} / {:.2} / {:.2}",
        h.cpu_busy_pct,
        cores.join(", "),
        h.load_average[0],
        h.load_average[1],
        h.load_average[2]
    );
    let _ = writeln!(
        out,
        "  Memory       {} used of {} ({:.1} %), {} available; swap {} used of {}",
        bytes(h.mem_used_bytes),
        bytes(h.mem_total_bytes),
        h.mem_used_pct,
        bytes(h.mem_available_bytes),
        bytes(h.swap_used_bytes),
        bytes(h.swap_total_bytes)
    );
    let p = &h.processes;
    let _ = writeln!(
        out,
        "  Processes    {} total, {} running, {} sleeping, {} stopped, {} zombie",
        group(p.total),
        p.running,
        group(p.sleeping),
        p.stopped,
        p.zombie
    );
    let _ = writeln!(out, "  Uptime       {}", uptime(h.uptime_s));
    for d in &h.disks {
        let _ = writeln!(
            out,
            "  Disk {:<7} {} used of {} ({:.1} %), {} available",
            d.path,
            bytes(d.used_bytes),
            bytes(d.total_bytes),
            d.used_pct,
            bytes(d.available_bytes)
        );
    }
    for n in &h.network {
        let _ = writeln!(
            out,
            "  Net {:<8} rx {}/s, tx {}/s",
            n.interface,
            bytes(n.rx_bytes_per_s as u64),
            bytes(n.tx_bytes_per_s as u64)
        );
    }
    let _ = writeln!(out, "  Open files   {}", group(h.open_files));
    if !snapshot.processes.is_empty() {
        let _ = writeln!(out, "Processes");
        for g in &snapshot.processes {
            for r in &g.readings {
                let _ = writeln!(
                    out,
                    "  {} (pid {}, {}): RSS {}, CPU {:.1} %, {} threads, {} open fds, up {}",
                    r.name,
                    r.pid,
                    g.selector,
                    bytes(r.rss_bytes),
                    r.cpu_pct,
                    r.threads,
                    r.open_fds,
                    uptime(r.uptime_s)
                );
            }
        }
    }
    for r in &snapshot.redis {
        let limit = match (r.maxmemory_bytes, r.used_memory_pct) {
            (0, _) | (_, None) => "no maxmemory".to_string(),
            (max, Some(pct)) => format!("{pct:.1} % of maxmemory {}", bytes(max)),
        };
        let _ = writeln!(
            out,
            "Redis {} (v{}): {} used ({limit}), {} clients, {} ops/s, {} keys, up {}",
            r.target,
            r.version,
            bytes(r.used_memory_bytes),
            r.connected_clients,
            group_f(r.ops_per_s, 1),
            group(r.keys),
            uptime(r.uptime_s as f64)
        );
    }
    for r in &snapshot.postgres {
        let rate = r.transactions_per_s.map_or("-".into(), |x| group_f(x, 1));
        let hit = |x: Option<f64>| x.map_or("-".into(), |v| format!("{v:.2} %"));
        let _ = writeln!(
            out,
            "PostgreSQL {} (v{}): {} connections of {} ({:.1} %, {} active), {rate} tx/s, cache hit {} (interval {}), size {}",
            r.target,
            r.version,
            r.connections,
            r.max_connections,
            r.connections_pct,
            r.active_connections,
            hit(r.cache_hit_pct),
            hit(r.cache_hit_pct_interval),
            bytes(r.database_size_bytes)
        );
    }
    for r in &snapshot.nats {
        match (&r.stats, &r.detail) {
            (Some(s), _) => {
                let rate = |x: Option<f64>| x.map_or("-".into(), |v| group_f(v, 1));
                let js = s.jetstream.as_ref().map_or(String::new(), |j| {
                    format!(
                        "; JetStream {} streams, {} messages, {}",
                        j.streams,
                        group(j.messages),
                        bytes(j.bytes)
                    )
                });
                let _ = writeln!(
                    out,
                    "NATS {} (v{}): {} connections, {} subscriptions, in {} msg/s, out {} msg/s, {} slow consumers, RSS {}, CPU {:.1} %, up {}{js}",
                    r.target,
                    s.version,
                    s.connections,
                    s.subscriptions,
                    rate(s.in_msgs_per_s),
                    rate(s.out_msgs_per_s),
                    s.slow_consumers,
                    bytes(s.mem_bytes),
                    s.cpu_pct,
                    s.uptime
                );
            }
            (None, detail) => {
                let _ = writeln!(
                    out,
                    "NATS {}: unavailable ({})",
                    r.target,
                    detail.as_deref().unwrap_or("no reason given")
                );
            }
        }
    }
    if let Some(gpu) = &snapshot.gpu {
        if gpu.available {
            if gpu.devices.is_empty() {
                let _ = writeln!(out, "GPU          NVML loaded, no devices");
            }
            for d in &gpu.devices {
                let pct = |x: Option<u32>| x.map_or("-".into(), |v| format!("{v} %"));
                let _ = writeln!(
                    out,
                    "GPU {}        {}: memory {} of {} ({:.1} %), utilisation {}, memory bus {}, {}",
                    d.index,
                    d.name,
                    bytes(d.memory_used_bytes),
                    bytes(d.memory_total_bytes),
                    d.memory_used_pct,
                    pct(d.utilization_pct),
                    pct(d.memory_utilization_pct),
                    d.temperature_c.map_or("temperature -".into(), |t| format!("{t} °C"))
                );
            }
        } else {
            let _ = writeln!(
                out,
                "GPU          unavailable ({})",
                gpu.detail.as_deref().unwrap_or("no reason given")
            );
        }
    }
    if !snapshot.health.is_empty() {
        let _ = writeln!(out, "Health");
        for r in &snapshot.health {
            let status = match r.status {
                HealthStatus::Healthy => "healthy",
                HealthStatus::Degraded => "DEGRADED",
                HealthStatus::Down => "DOWN",
            };
            let latency = r
                .latency_ms
                .map_or(String::new(), |ms| format!(" in {ms:.2} ms"));
            let _ = writeln!(out, "  {}: {status}{latency} ({})", r.target, r.detail);
        }
    }
    out
}

/// The runtime suite as a table: one row per benchmark.
pub fn suite_text(scenarios: &[scalewall_model::Scenario]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scalewall runtime suite ({})",
        scenarios.first().map_or("", |s| s.options.method.as_str())
    );
    let _ = writeln!(
        out,
        "  {:<16} {:>10} {:>11} {:>11} {:>12} {:>14} {:>7}",
        "benchmark", "operations", "mean (µs)", "p95 (µs)", "ops/s", "inner ops/s", "errors"
    );
    for s in scenarios {
        let Some(step) = s.steps.first() else {
            continue;
        };
        let inner = s.options.requests.unwrap_or(1) as f64;
        let _ = writeln!(
            out,
            "  {:<16} {:>10} {:>11.1} {:>11} {:>12} {:>14} {:>7}",
            s.name.trim_start_matches("suite."),
            group(step.outcomes.responses),
            step.latency_us.mean(),
            group(step.latency_us.value_at_quantile(0.95)),
            group_f(step.achieved_rate_per_s, 1),
            group_f(step.achieved_rate_per_s * inner, 0),
            step.outcomes.errors_total()
        );
    }
    for s in scenarios {
        let _ = writeln!(
            out,
            "  {}: one operation = {}",
            s.name.trim_start_matches("suite."),
            s.target.trim_start_matches("runtime suite: ")
        );
    }
    out
}

/// A time in ms, printed in ms below 10 s and in s above.
fn time_ms(ms: f64) -> String {
    if ms >= 10_000.0 {
        format!("{} s", group_f(ms / 1000.0, 1))
    } else if ms >= 100.0 {
        format!("{} ms", group_f(ms, 0))
    } else {
        format!("{ms:.2} ms")
    }
}

/// The fitted formula of a cost curve, in ms.
pub fn cost_formula(fit: &CostFit, name: &str) -> String {
    let term = match fit.model {
        CostModel::Constant => return format!("t = {}", time_ms(fit.intercept)),
        CostModel::Linear => name.to_string(),
        CostModel::NLogN => format!("{name}·ln {name}"),
        CostModel::Quadratic => format!("{name}²"),
    };
    format!(
        "t = {} + {} ms × {term}",
        time_ms(fit.intercept),
        round_sig(fit.slope, 4)
    )
}

/// The text summary of a `sweep --param`: per value, the fit, the projections.
pub fn cost_text(run: &Run, name: &str, fits: Option<&[CostFit]>, project: &[f64]) -> String {
    let scenario = &run.scenarios[0];
    let mut out = String::new();
    let concurrency = scenario.steps.first().map_or(1, |s| s.concurrency);
    let _ = writeln!(
        out,
        "scalewall sweep {} — {name} through {} values at concurrency {concurrency}",
        scenario.target,
        scenario.steps.len()
    );
    let _ = writeln!(
        out,
        "  {:>10}  {:>10}  {:>11}  {:>11}  {:>11}  {:>7}",
        name, "ops/s", "mean", "p50", "p99", "errors"
    );
    for step in &scenario.steps {
        let summary = StepSummary::of(step);
        let _ = writeln!(
            out,
            "  {:>10}  {:>10}  {:>11}  {:>11}  {:>11}  {:>7}",
            group_f(step.param_value.unwrap_or(f64::NAN), 0),
            group_f(step.achieved_rate_per_s, 1),
            time_ms(step.latency_us.mean() / 1000.0),
            time_ms(summary.latency_ms.p50),
            time_ms(summary.latency_ms.p99),
            group(step.outcomes.errors_total())
        );
    }
    match fits {
        None => {
            let _ = writeln!(
                out,
                "  cost curve   none: needs 3 measured values over 2 or more sizes"
            );
        }
        Some(fits) => {
            let best = &fits[0];
            let _ = writeln!(
                out,
                "  cost curve   {} — {} (R² {:.4})",
                best.model.as_str(),
                cost_formula(best, name),
                best.r_squared
            );
            let others: Vec<String> = fits[1..]
                .iter()
                .map(|f| format!("{} R² {:.4}", f.model.as_str(), f.r_squared))
                .collect();
            let _ = writeln!(out, "  also tried   {} (chosen by BIC)", others.join(", "));
            for &size in project {
                let _ = writeln!(
                    out,
                    "  projected    {name} = {} → {} per operation",
                    group_f(size, 0),
                    time_ms(best.predict(size))
                );
            }
        }
    }
    let _ = writeln!(out, "  run          {}", run.id);
    out
}

/// The JSON summary of a `sweep --param`.
pub fn cost_json(run: &Run, name: &str, fits: Option<&[CostFit]>, project: &[f64]) -> String {
    let scenario = &run.scenarios[0];
    let points: Vec<serde_json::Value> = scenario
        .steps
        .iter()
        .map(|step| {
            let summary = StepSummary::of(step);
            serde_json::json!({
                name: step.param_value,
                "concurrency": step.concurrency,
                "ops_per_s": step.achieved_rate_per_s,
                "mean_ms": step.latency_us.mean() / 1000.0,
                "p50_ms": summary.latency_ms.p50,
                "p99_ms": summary.latency_ms.p99,
                "responses": step.outcomes.responses,
                "errors": step.outcomes.errors_total(),
            })
        })
        .collect();
    let fit_json = |f: &CostFit| {
        serde_json::json!({
            "model": f.model.as_str(),
            "intercept_ms": f.intercept,
            "slope_ms": f.slope,
            "r_squared": f.r_squared,
            "bic": f.bic,
        })
    };
    let doc = serde_json::json!({
        "run_id": run.id,
        "target": scenario.target,
        "parameter": name,
        "points": points,
        "fit": fits.map(|f| fit_json(&f[0])),
        "alternatives": fits.map(|f| f[1..].iter().map(fit_json).collect::<Vec<_>>()),
        "projections": fits.map(|f| project
            .iter()
            .map(|&size| serde_json::json!({ name: size, "ms": f[0].predict(size) }))
            .collect::<Vec<_>>()),
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
