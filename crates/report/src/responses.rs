//! What a step's responses said beyond their latency: the phases of each
//! (connect, first byte, a streamed response's first event, gaps and
//! events) and the checks they failed, as Markdown tables (the HTML
//! report draws the same tables).

use crate::number::{group, pct, sig};
use scalewall_model::Step;
use scalewall_stats::summary::{LatencySummary, PhasesSummary, StreamSummary};
use std::fmt::Write as _;

fn phase_row(out: &mut String, name: &str, s: &LatencySummary) {
    let _ = writeln!(
        out,
        "| {name} | {} ms | {} ms | {} ms | {} ms | {} |",
        sig(s.p50),
        sig(s.p90),
        sig(s.p99),
        sig(s.max),
        group(s.count)
    );
}

/// The phases and checks of a step (empty when it has neither).
pub fn markdown(step: &Step) -> String {
    let mut out = String::new();
    if let Some(p) = PhasesSummary::of(step) {
        let corrected = if step.target_rate_per_s.is_some() {
            " (from each request's intended start)"
        } else {
            ""
        };
        let _ = writeln!(out, "\nPhases of the responses{corrected}:\n");
        let _ = writeln!(out, "| phase | p50 | p90 | p99 | max | n |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        phase_row(&mut out, "first byte", &p.ttfb);
        if let Some(first) = &p.first_event {
            phase_row(&mut out, "first event", first);
        }
        if let Some(gap) = &p.event_gap {
            phase_row(&mut out, "event gap", gap);
        }
        if p.connect.count > 0 {
            phase_row(&mut out, "connect (per connection)", &p.connect);
        }
        if let Some(e) = StreamSummary::of(step) {
            let _ = writeln!(
                out,
                "\nStreamed events: {} per response (mean; {}–{}), {} events/s, {} in all.",
                sig(e.events_per_response),
                group(e.events_per_response_min),
                group(e.events_per_response_max),
                sig(e.events_per_s),
                group(e.events)
            );
        }
    }
    if !step.checks.is_empty() {
        let _ = writeln!(out, "\n| check | judged | failed | first failure |");
        let _ = writeln!(out, "|---|---:|---:|---|");
        for c in &step.checks {
            let share = if c.evaluated == 0 {
                0.0
            } else {
                c.failed as f64 / c.evaluated as f64 * 100.0
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} ({}) | {} |",
                c.check.replace('|', "\\|"),
                group(c.evaluated),
                group(c.failed),
                pct(share),
                c.first_failure
                    .as_deref()
                    .map_or("-".to_string(), |f| f.replace('|', "\\|"))
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalewall_model::{CheckResult, LatencyHistogram, Phases};

    #[test]
    fn phases_and_checks_become_tables_with_their_sample_sizes() {
        let mut ttfb = LatencyHistogram::new();
        for us in [10_000, 10_100, 10_200, 10_300] {
            ttfb.record(us);
        }
        let mut per = LatencyHistogram::new();
        per.record_n(20, 4);
        let step = Step {
            duration_s: 2.0,
            phases: Some(Phases {
                ttfb_us: ttfb.clone(),
                first_event_us: Some(ttfb),
                events_per_response: Some(per),
                events: 80,
                ..Phases::default()
            }),
            checks: vec![CheckResult {
                check: "json $.ok == true".into(),
                evaluated: 4,
                failed: 1,
                first_failure: Some("json $.ok == true: got false".into()),
            }],
            ..Step::default()
        };
        let text = markdown(&step);
        assert!(text.contains("| first byte | 10.1 ms |"), "{text}");
        assert!(text.contains("| first event |"), "{text}");
        assert!(!text.contains("connect"), "{text}");
        assert!(text.contains("20 per response (mean; 20–20), 40 events/s, 80 in all"));
        assert!(
            text.contains("| `json $.ok == true` | 4 | 1 (25 %) | json $.ok == true: got false |"),
            "{text}"
        );
        assert_eq!(markdown(&Step::default()), "");
    }
}
