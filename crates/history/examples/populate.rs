//! Fills a history database for the history benchmark (`bench/history.sh`):
//! `populate PATH COUNT [TEMPLATE.json]`. With a template (a real stored
//! run, e.g. tests/fixtures/run-v1.json, 82 KB), every run is a copy of it
//! under a new id and time, so documents have a real run's size; without,
//! an empty run. Each has two scenarios' worth of metrics with ten samples
//! each, like a small real config.

use scalewall_history::{History, StoredMetric};
use scalewall_model::Run;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: populate PATH COUNT");
    let count: usize = args
        .next()
        .and_then(|c| c.parse().ok())
        .expect("usage: populate PATH COUNT");
    let template: Run = match args.next() {
        Some(file) => Run::from_json(&std::fs::read_to_string(file).expect("template readable"))
            .expect("template is a run"),
        None => Run::default(),
    };
    let named = if template.scenarios.is_empty() {
        Vec::new()
    } else {
        scalewall_stats::metrics::of_run(&template)
    };
    let mut history = History::open(std::path::Path::new(&path)).expect("open");
    for i in 0..count {
        let run = Run {
            schema_version: scalewall_model::SCHEMA_VERSION,
            id: format!("run-{i:08}"),
            started_at: format!("2026-01-01T00:00:00.{i:08}Z"),
            subject: Some("bench".into()),
            ..template.clone()
        };
        // The template's own metrics (the ones a report looks up), moved a
        // little per run; eight synthetic ones without a template.
        let metrics: Vec<StoredMetric> = if named.is_empty() {
            [
                "api.rps",
                "api.p50_ms",
                "api.p99_ms",
                "api.error_pct",
                "db.rps",
                "db.p50_ms",
                "db.p99_ms",
                "host.mem_used_pct",
            ]
            .iter()
            .enumerate()
            .map(|(k, name)| StoredMetric {
                name: (*name).to_string(),
                value: (i + k) as f64,
                samples: (0..10).map(|s| (i + k + s) as f64).collect(),
            })
            .collect()
        } else {
            named
                .iter()
                .map(|m| StoredMetric {
                    name: m.name.clone(),
                    value: m.value * (1.0 + (i % 7) as f64 * 0.001),
                    samples: m.samples.clone(),
                })
                .collect()
        };
        history.store(&run, &metrics).expect("store");
    }
}
