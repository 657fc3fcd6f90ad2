//! Renders a bench result as a text table or a JSON object: pure functions
//! from the `Run` record to a `String`; the caller owns stdout.

use scalewall_model::{Run, Scenario, Step};
use scalewall_stats::summary::{LatencySummary, StepSummary};
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
    let model = match step.target_rate_per_s {
        Some(rate) => format!("open model at {} req/s", group_f(rate, 0)),
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
        "  requests       {} in {:.2} s   {} req/s",
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
            "SCHEDULE NOT KEPT: the target or the generator could not sustain the rate"
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
    let _ = writeln!(
        out,
        "  status codes   {}",
        if codes.is_empty() {
            "none".into()
        } else {
            codes.join(", ")
        }
    );
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
    let _ = writeln!(out, "  run            {}", run.id);
    out
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
    }
}
