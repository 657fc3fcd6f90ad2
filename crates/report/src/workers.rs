//! The workers of a distributed step: who took part, how the load was
//! split, each one's own figures beside the merged ones, and which were
//! lost with what they sent before. Pure.

use crate::number::{group, sig};
use scalewall_model::{Step, WorkerShare};
use std::fmt::Write as _;

/// One sentence on the split: "3 workers, 16 connections split 6/5/5".
pub fn split_sentence(step: &Step) -> Option<String> {
    if step.workers.is_empty() {
        return None;
    }
    let connections: Vec<String> = step
        .workers
        .iter()
        .map(|w| w.connections.to_string())
        .collect();
    let mut sentence = format!(
        "{} worker{}, {} connections split {}",
        step.workers.len(),
        if step.workers.len() == 1 { "" } else { "s" },
        group(u64::from(step.concurrency)),
        connections.join("/")
    );
    if let Some(rate) = step.target_rate_per_s {
        let _ = write!(
            sentence,
            ", {} /s split into interleaved shares of {} /s",
            sig(rate),
            sig(rate / step.workers.len() as f64)
        );
    }
    sentence.push_str("; latency histograms merged by addition");
    Some(sentence)
}

/// Why a worker's share is partly missing, in a few words.
pub fn lost_words(w: &WorkerShare) -> Option<String> {
    w.lost.as_ref().map(|why| {
        format!(
            "LOST: {why}; kept what it sent ({} responses), its {} connections missing after that",
            group(w.responses),
            w.connections
        )
    })
}

fn cells(w: &WorkerShare) -> Vec<String> {
    vec![
        w.name.clone(),
        w.connections.to_string(),
        group(w.responses),
        group(w.errors_total),
        sig(w.p50_ms),
        sig(w.p99_ms),
        sig(w.generator_cpu_s),
        if w.generator_bound { "yes" } else { "no" }.into(),
        format!("{}±{}", sig(w.clock_offset_ms), sig(w.clock_uncertainty_ms)),
        lost_words(w).unwrap_or_else(|| "ok".into()),
    ]
}

const HEAD: [&str; 10] = [
    "worker",
    "conns",
    "responses",
    "errors",
    "p50 ms",
    "p99 ms",
    "CPU s",
    "gen. bound",
    "clock ms",
    "status",
];

/// The workers as text lines under `bench`'s figures.
pub fn text(step: &Step) -> String {
    let Some(sentence) = split_sentence(step) else {
        return String::new();
    };
    let mut out = format!("  workers        {sentence}\n");
    let mut rows = vec![HEAD.map(String::from).to_vec()];
    rows.extend(step.workers.iter().map(cells));
    for line in crate::table::aligned(&rows, &[0, 9]).lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// The workers as a Markdown table.
pub fn markdown(step: &Step) -> String {
    let Some(sentence) = split_sentence(step) else {
        return String::new();
    };
    let mut out = format!(
        "\nWorkers: {sentence}.\n\n| {} |\n|---|{}---|\n",
        HEAD.join(" | "),
        "---:|".repeat(8)
    );
    for w in &step.workers {
        let _ = writeln!(out, "| {} |", cells(w).join(" | "));
    }
    out
}

/// The workers as `bench -o json` lists them.
pub fn json(step: &Step) -> Vec<serde_json::Value> {
    step.workers
        .iter()
        .map(|w| {
            serde_json::json!({
                "name": w.name,
                "connections": w.connections,
                "rate_per_s": w.rate_per_s,
                "requests": w.responses,
                "errors_total": w.errors_total,
                "latency_ms": {"p50": w.p50_ms, "p99": w.p99_ms, "max": w.max_ms},
                "generator_cpu_s": w.generator_cpu_s,
                "generator_bound": w.generator_bound,
                "clock_offset_ms": w.clock_offset_ms,
                "clock_uncertainty_ms": w.clock_uncertainty_ms,
                "snapshots": w.snapshots,
                "lost": w.lost,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(name: &str, connections: u32, lost: Option<&str>) -> WorkerShare {
        WorkerShare {
            name: name.into(),
            connections,
            rate_per_s: None,
            responses: 1_234,
            errors_total: 0,
            p50_ms: 10.3,
            p99_ms: 13.0,
            max_ms: 15.0,
            latency_us: scalewall_model::LatencyHistogram::new(),
            generator_cpu_s: 0.12,
            generator_bound: false,
            clock_offset_ms: 0.01,
            clock_uncertainty_ms: 0.2,
            snapshots: 3,
            lost: lost.map(String::from),
        }
    }

    #[test]
    fn the_split_and_a_lost_worker_are_named() {
        let step = Step {
            concurrency: 16,
            workers: vec![
                share("w1", 6, None),
                share("w2", 5, Some("no word from it for 3 s, after 3 snapshots")),
                share("w3", 5, None),
            ],
            ..Step::default()
        };
        assert_eq!(
            split_sentence(&step).unwrap(),
            "3 workers, 16 connections split 6/5/5; latency histograms merged by addition"
        );
        let text = text(&step);
        assert!(text.contains("LOST: no word from it for 3 s, after 3 snapshots; kept what it sent (1,234 responses), its 5 connections missing after that"), "{text}");
        assert_eq!(text.lines().count(), 5);
        let json = json(&step);
        assert_eq!(json[0]["requests"], 1_234);
        assert_eq!(
            json[1]["lost"],
            "no word from it for 3 s, after 3 snapshots"
        );
        assert!(markdown(&step).contains("| w3 | 5 | 1,234 |"));
        assert_eq!(super::text(&Step::default()), "");
    }
}
