//! The built-in runtime suite: a fixed, versioned set of micro-benchmarks
//! of the machine and the runtime, so two hosts or two days can be
//! compared. Each benchmark repeats one *operation* (a batch of inner work
//! sized to take tens of microseconds or more, so the µs histograms resolve
//! it) for a time budget and becomes one [`Scenario`] of a [`Run`] with one
//! step: operations, per-operation latency, operations per second, errors,
//! and ten per-interval samples for run comparison.
//!
//! Changing what a benchmark does changes its numbers: bump
//! [`SUITE_VERSION`] (it is the scenarios' `method`) whenever one changes.

#![deny(missing_docs)]

use scalewall_model::{Interval, LatencyHistogram, LoadOptions, OutcomeCounts, Scenario, Step};
use std::hint::black_box;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Version of the benchmark definitions.
pub const SUITE_VERSION: &str = "suite-v1";

/// Samples per benchmark for run comparison.
const INTERVALS: usize = 10;

/// One benchmark: its name, what one operation is, and the operation.
struct Benchmark {
    name: &'static str,
    operation: &'static str,
    /// Inner operations in one operation (per worker when `per_worker` > 0).
    inner_ops: u64,
    /// Inner operations are per worker thread: multiply by this many per worker.
    per_worker: u64,
    run: fn(&mut Context) -> Result<(), String>,
}

/// State a benchmark may keep between operations.
struct Context {
    scratch: std::path::PathBuf,
    runtime: tokio::runtime::Runtime,
    workers: usize,
    seed: u64,
}

fn alloc(_: &mut Context) -> Result<(), String> {
    for size in [64usize, 512, 4096, 32768] {
        let blocks: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; size]).collect();
        black_box(&blocks);
    }
    Ok(())
}

/// A fixed integer workload (xorshift mixing), the same on every host.
fn compute(seed: u64, rounds: u32) -> u64 {
    let mut x = seed | 1;
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
    }
    x
}

fn cpu(ctx: &mut Context) -> Result<(), String> {
    ctx.seed = black_box(compute(ctx.seed, 100_000));
    Ok(())
}

fn workers(ctx: &mut Context) -> Result<(), String> {
    let seed = ctx.seed;
    std::thread::scope(|scope| {
        for w in 0..ctx.workers {
            scope.spawn(move || black_box(compute(seed + w as u64, 100_000)));
        }
    });
    Ok(())
}

#[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
struct Order {
    id: u64,
    customer: String,
    items: Vec<(String, u32, f64)>,
    note: Option<String>,
}

fn json(ctx: &mut Context) -> Result<(), String> {
    let order = Order {
        id: ctx.seed,
        customer: "customer-00042".into(),
        items: (0..20)
            .map(|i| (format!("sku-{i:05}"), i, f64::from(i) * 1.25))
            .collect(),
        note: Some("leave at the door".into()),
    };
    for _ in 0..10 {
        let text = serde_json::to_string(&order).map_err(|e| e.to_string())?;
        let back: Order = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if back != order {
            return Err("JSON round trip changed the value".into());
        }
    }
    Ok(())
}

fn file(ctx: &mut Context) -> Result<(), String> {
    use std::io::{Read, Write};
    let path = ctx.scratch.join("suite-file");
    let data = vec![0x5au8; 64 * 1024];
    let mut f = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(&data).map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())?;
    let mut back = Vec::with_capacity(data.len());
    std::fs::File::open(&path)
        .and_then(|mut f| f.read_to_end(&mut back))
        .map_err(|e| e.to_string())?;
    if back != data {
        return Err("read back differs from what was written".into());
    }
    Ok(())
}

fn thread_spawn(_: &mut Context) -> Result<(), String> {
    for _ in 0..10 {
        std::thread::spawn(|| black_box(1))
            .join()
            .map_err(|_| "thread panicked".to_string())?;
    }
    Ok(())
}

fn task_spawn(ctx: &mut Context) -> Result<(), String> {
    ctx.runtime.block_on(async {
        let handles: Vec<_> = (0..100u64)
            .map(|i| tokio::spawn(async move { i * 2 }))
            .collect();
        for h in handles {
            h.await.map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

fn mutex(ctx: &mut Context) -> Result<(), String> {
    let counter = Arc::new(Mutex::new(0u64));
    let threads = ctx.workers * 2;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let counter = Arc::clone(&counter);
            scope.spawn(move || {
                for _ in 0..1000 {
                    *counter.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                }
            });
        }
    });
    let total = *counter.lock().unwrap_or_else(|p| p.into_inner());
    if total != threads as u64 * 1000 {
        return Err(format!("lost increments: {total}"));
    }
    Ok(())
}

fn channel(_: &mut Context) -> Result<(), String> {
    let (tx, rx) = mpsc::sync_channel::<u64>(128);
    let producer = std::thread::spawn(move || {
        for i in 0..10_000 {
            if tx.send(i).is_err() {
                break;
            }
        }
    });
    let received: u64 = rx.iter().count() as u64;
    producer
        .join()
        .map_err(|_| "producer panicked".to_string())?;
    if received != 10_000 {
        return Err(format!("{received} of 10000 messages arrived"));
    }
    Ok(())
}

fn context_switch(_: &mut Context) -> Result<(), String> {
    let (ping_tx, ping_rx) = mpsc::sync_channel::<u32>(0);
    let (pong_tx, pong_rx) = mpsc::sync_channel::<u32>(0);
    let echo = std::thread::spawn(move || {
        for v in ping_rx {
            if pong_tx.send(v).is_err() {
                break;
            }
        }
    });
    for i in 0..500 {
        ping_tx.send(i).map_err(|e| e.to_string())?;
        if pong_rx.recv().map_err(|e| e.to_string())? != i {
            return Err("echo out of order".into());
        }
    }
    drop(ping_tx);
    echo.join()
        .map_err(|_| "echo thread panicked".to_string())?;
    Ok(())
}

const BENCHMARKS: [Benchmark; 10] = [
    Benchmark {
        name: "alloc",
        operation: "256 allocations of 64 B–32 KiB, filled and freed",
        inner_ops: 256,
        per_worker: 0,
        run: alloc,
    },
    Benchmark {
        name: "cpu",
        operation: "100,000 rounds of integer mixing on one core",
        inner_ops: 100_000,
        per_worker: 0,
        run: cpu,
    },
    Benchmark {
        name: "workers",
        operation: "the cpu operation on every available core at once",
        inner_ops: 100_000,
        per_worker: 1,
        run: workers,
    },
    Benchmark {
        name: "json",
        operation: "10 serialise + parse round trips of a 20-item order",
        inner_ops: 10,
        per_worker: 0,
        run: json,
    },
    Benchmark {
        name: "file",
        operation: "write 64 KiB, fsync, read back",
        inner_ops: 1,
        per_worker: 0,
        run: file,
    },
    Benchmark {
        name: "thread-spawn",
        operation: "10 OS threads spawned and joined",
        inner_ops: 10,
        per_worker: 0,
        run: thread_spawn,
    },
    Benchmark {
        name: "task-spawn",
        operation: "100 tokio tasks spawned and awaited",
        inner_ops: 100,
        per_worker: 0,
        run: task_spawn,
    },
    Benchmark {
        name: "mutex",
        operation: "2 × cores threads × 1,000 increments of one mutex",
        inner_ops: 1000,
        per_worker: 2,
        run: mutex,
    },
    Benchmark {
        name: "channel",
        operation: "10,000 messages through a bounded channel between two threads",
        inner_ops: 10_000,
        per_worker: 0,
        run: channel,
    },
    Benchmark {
        name: "context-switch",
        operation: "500 ping-pong round trips between two threads (2 switches each)",
        inner_ops: 1000,
        per_worker: 0,
        run: context_switch,
    },
];

/// The benchmarks' names and what one operation of each is.
pub fn benchmarks() -> Vec<(&'static str, &'static str)> {
    BENCHMARKS.iter().map(|b| (b.name, b.operation)).collect()
}

/// Why the suite could not run.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The scratch folder or the runtime could not be set up.
    #[error("cannot set up the runtime suite: {0}")]
    Setup(String),
}

/// Runs every benchmark for about `budget` each; `stop` is polled between
/// operations (Ctrl-C). Returns one scenario per benchmark run, named
/// `suite.<name>`; `inner_ops` per operation is in its `requests` option.
pub fn run(
    budget: Duration,
    workers: usize,
    stop: &dyn Fn() -> bool,
) -> Result<Vec<Scenario>, SuiteError> {
    let scratch = tempfile_dir()?;
    let mut ctx = Context {
        scratch: scratch.clone(),
        runtime: tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| SuiteError::Setup(e.to_string()))?,
        workers: workers.max(1),
        seed: 0x9e37_79b9_7f4a_7c15,
    };
    let mut scenarios = Vec::new();
    for bench in &BENCHMARKS {
        if stop() {
            break;
        }
        scenarios.push(measure(bench, &mut ctx, budget, stop));
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(scenarios)
}

fn tempfile_dir() -> Result<std::path::PathBuf, SuiteError> {
    let dir = std::env::temp_dir().join(format!("scalewall-suite-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| SuiteError::Setup(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

fn measure(
    bench: &Benchmark,
    ctx: &mut Context,
    budget: Duration,
    stop: &dyn Fn() -> bool,
) -> Scenario {
    let slice = budget / INTERVALS as u32;
    let mut latency = LatencyHistogram::new();
    let mut outcomes = OutcomeCounts::default();
    let mut errors = std::collections::BTreeMap::new();
    let mut intervals = Vec::with_capacity(INTERVALS);
    // One untimed operation first: page faults and lazy set-up.
    let _ = (bench.run)(ctx);
    let measuring = Instant::now();
    for k in 0..INTERVALS {
        let mut slice_latency = LatencyHistogram::new();
        let (mut ok, mut failed) = (0u64, 0u64);
        let slice_start = Instant::now();
        loop {
            let t0 = Instant::now();
            let result = (bench.run)(ctx);
            let micros = t0.elapsed().as_micros() as u64;
            match result {
                Ok(()) => {
                    ok += 1;
                    slice_latency.record(micros);
                }
                Err(message) => {
                    failed += 1;
                    errors.entry("error".to_string()).or_insert(message);
                }
            }
            if slice_start.elapsed() >= slice || stop() {
                break;
            }
        }
        let duration_s = slice_start.elapsed().as_secs_f64();
        intervals.push(Interval {
            offset_s: (slice_start - measuring).as_secs_f64(),
            duration_s,
            responses: ok,
            errors: failed,
            p50_us: slice_latency.value_at_quantile(0.5),
            p99_us: slice_latency.value_at_quantile(0.99),
            max_us: slice_latency.max(),
        });
        latency.merge(&slice_latency);
        outcomes.responses += ok;
        if failed > 0 {
            *outcomes.errors.entry("error".into()).or_default() += failed;
        }
        if stop() && k + 1 < INTERVALS {
            break;
        }
    }
    let duration_s = measuring.elapsed().as_secs_f64();
    Scenario {
        name: format!("suite.{}", bench.name),
        target: format!("runtime suite: {}", bench.operation),
        protocol: "suite".into(),
        options: LoadOptions {
            method: SUITE_VERSION.into(),
            connections: 1,
            duration_s: Some(budget.as_secs_f64()),
            requests: Some(if bench.per_worker > 0 {
                bench.inner_ops * bench.per_worker * ctx.workers as u64
            } else {
                bench.inner_ops
            }),
            ..LoadOptions::default()
        },
        steps: vec![Step {
            concurrency: 1,
            duration_s,
            completed: intervals.len() == INTERVALS,
            achieved_rate_per_s: outcomes.responses as f64 / duration_s.max(1e-9),
            outcomes,
            latency_us: latency,
            intervals,
            error_examples: errors,
            ..Step::default()
        }],
        known_answer: None,
        search: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_benchmark_runs_and_checks_its_own_result() {
        let scenarios = run(Duration::from_millis(100), 2, &|| false).unwrap();
        assert_eq!(scenarios.len(), BENCHMARKS.len());
        for s in &scenarios {
            let step = &s.steps[0];
            assert!(step.outcomes.responses > 0, "{} ran nothing", s.name);
            assert_eq!(
                step.outcomes.errors_total(),
                0,
                "{}: {:?}",
                s.name,
                step.error_examples
            );
            assert_eq!(step.intervals.len(), INTERVALS, "{}", s.name);
            let per_interval: u64 = step.intervals.iter().map(|i| i.responses).sum();
            assert_eq!(per_interval, step.outcomes.responses);
            assert_eq!(step.latency_us.len(), step.outcomes.responses);
        }
    }

    #[test]
    fn the_workload_is_deterministic() {
        assert_eq!(compute(1, 1000), compute(1, 1000));
        assert_ne!(compute(1, 1000), compute(2, 1000));
    }

    #[test]
    fn a_stop_request_ends_the_suite_early() {
        let scenarios = run(Duration::from_secs(10), 1, &|| true).unwrap();
        assert!(scenarios.is_empty());
    }
}
