//! What merging costs the coordinator (issue 15's scale on paper): 100
//! workers' interval snapshots, each with a realistic latency histogram
//! (10,000 responses spread over 1–50 ms, plus the open model's two other
//! histograms), decoded from their JSON wire form and merged; then a
//! 60-interval step of 100 workers assembled. Prints the time per merge of
//! 100 snapshots, per snapshot (= coordinator CPU per worker-second at one
//! snapshot a second), the wire size, and the projection to 100 and
//! 1,000 workers.
//!
//!   cargo run --release -p scalewall-fleet --example merge_cost

use scalewall_fleet::merge::{Ending, Merger, Snapshot, StepFrame, WorkerPart};
use scalewall_model::{LatencyHistogram, OutcomeCounts};
use std::collections::BTreeMap;
use std::time::Instant;

const WORKERS: usize = 100;

fn histogram(seed: u64) -> LatencyHistogram {
    let mut h = LatencyHistogram::new();
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    for _ in 0..10_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // 1 ms to ~50 ms, denser at the low end.
        let u = (x >> 11) as f64 / (1u64 << 53) as f64;
        h.record((1_000.0 * (50f64).powf(u * u)) as u64);
    }
    h
}

fn snapshot(worker: usize, interval: u32) -> Snapshot {
    open_snapshot(worker, interval, true)
}

fn open_snapshot(worker: usize, interval: u32, open_model: bool) -> Snapshot {
    let latency = histogram(worker as u64 * 1_000 + u64::from(interval));
    Snapshot {
        worker: format!("w{worker}"),
        seq: u64::from(interval) + 1,
        interval,
        outcomes: OutcomeCounts {
            responses: 10_000,
            status_codes: [(200, 10_000)].into(),
            bytes_received: 1_040_000,
            ..OutcomeCounts::default()
        },
        uncorrected_latency_us: open_model.then(|| latency.clone()),
        schedule_lag_us: open_model.then(|| histogram(7)),
        latency_us: latency,
        error_examples: BTreeMap::new(),
        cpu_s: 0.2,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let parts: Vec<(String, WorkerPart)> = (0..WORKERS)
        .map(|w| (format!("w{w}"), WorkerPart::default()))
        .collect();
    let mut per_interval_ms = [0.0; 2];
    let mut bytes = [0; 2];
    for (k, open_model) in [false, true].into_iter().enumerate() {
        let wire: Vec<Vec<u8>> = (0..WORKERS)
            .map(|w| serde_json::to_vec(&open_snapshot(w, 0, open_model)).unwrap())
            .collect();
        bytes[k] = wire.iter().map(Vec::len).sum::<usize>() / WORKERS;
        // One interval of 100 workers: decode and merge, 30 rounds.
        let mut rounds = Vec::new();
        for _ in 0..30 {
            let mut merger = Merger::new(&parts);
            let started = Instant::now();
            for payload in &wire {
                let s: Snapshot = serde_json::from_slice(payload).unwrap();
                merger.add(&s);
            }
            rounds.push(started.elapsed().as_secs_f64() * 1e3);
            assert_eq!(merger.responses(), WORKERS as u64 * 10_000);
        }
        per_interval_ms[k] = median(rounds);
    }

    // A 60-interval step of 100 workers: merge every snapshot, assemble.
    let mut merger = Merger::new(&parts);
    for interval in 0..60u32 {
        for w in 0..WORKERS {
            merger.add(&snapshot(w, interval));
        }
    }
    let endings: BTreeMap<String, Ending> = BTreeMap::new();
    let frame = StepFrame {
        connections: 1_000,
        rate_per_s: None,
        started_at: "2026-12-03T00:00:00Z".into(),
        interval_s: 1.0,
        planned_s: Some(60.0),
    };
    let started = Instant::now();
    let step = merger.step(&frame, &endings);
    let assemble_ms = started.elapsed().as_secs_f64() * 1e3;
    assert_eq!(step.outcomes.responses, 60 * WORKERS as u64 * 10_000);

    for (k, model) in ["closed model (1 histogram)", "open model (3 histograms)"]
        .iter()
        .enumerate()
    {
        let per_snapshot_us = per_interval_ms[k] * 1e3 / WORKERS as f64;
        println!("{model}: a snapshot is {} bytes on the wire", bytes[k]);
        println!(
            "  merge 100 workers' snapshots  {:.2} ms (decode + add; target < 10 ms); {per_snapshot_us:.0} µs each = coordinator CPU per worker-second at 1 snapshot/s",
            per_interval_ms[k]
        );
        for workers in [100.0, 1_000.0] {
            println!(
                "  {workers:>5} workers, 1 s intervals: {:.1} % of one core merging, {:.1} MB/s of snapshots, {workers} NATS messages/s",
                workers * per_snapshot_us / 1e4,
                workers * bytes[k] as f64 / 1e6
            );
        }
    }
    println!("assemble a 60-interval step     {assemble_ms:.1} ms (100 workers, per-worker figures included)");
}
