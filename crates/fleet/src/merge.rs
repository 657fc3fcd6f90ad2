//! Merging the workers' interval snapshots into one step: counts summed,
//! latency histograms added (an HDR histogram adds exactly, so the merged
//! p99 is the p99 of every response, never a mean of the workers' p99s),
//! each worker's own figures kept beside the total, and a snapshot seen
//! twice (a redelivery) or arriving after the step closed ignored by its
//! sequence number.

use scalewall_model::LatencyHistogram;
use std::collections::{BTreeMap, BTreeSet};

/// One worker's figures for one interval of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The worker's name.
    pub worker: String,
    /// The worker's sequence number for this step (1, 2, …).
    pub seq: u64,
    /// The interval it covers (0-based, from the common start).
    pub interval: u32,
    /// Responses.
    pub responses: u64,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// Latency of the responses, microseconds.
    pub latency_us: LatencyHistogram,
    /// Generator CPU used in the interval, seconds.
    pub generator_cpu_s: f64,
}

/// What became of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Merged into the step.
    Merged,
    /// Its sequence number was seen before: ignored.
    Duplicate,
    /// The step had closed: ignored.
    Late,
    /// From a worker that is not part of the step: ignored.
    Stranger,
}

/// One worker's part of the merged step.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkerFigures {
    /// Its connections.
    pub connections: u32,
    /// Responses it counted.
    pub responses: u64,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// Its latency histogram.
    pub latency_us: LatencyHistogram,
    /// Generator CPU it used, seconds.
    pub generator_cpu_s: f64,
    /// Snapshots merged.
    pub snapshots: u64,
    seen: BTreeSet<u64>,
}

impl WorkerFigures {
    /// Errors of every kind.
    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// One merged interval.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MergedInterval {
    /// Responses from every worker.
    pub responses: u64,
    /// Errors from every worker.
    pub errors: u64,
    /// Their latency, added.
    pub latency_us: LatencyHistogram,
}

/// The step as the workers' snapshots build it.
#[derive(Debug, Clone, Default)]
pub struct Merger {
    workers: BTreeMap<String, WorkerFigures>,
    intervals: BTreeMap<u32, MergedInterval>,
    latency_us: LatencyHistogram,
    closed: bool,
}

impl Merger {
    /// A step run by these workers (name, connections).
    pub fn new(workers: &[(String, u32)]) -> Merger {
        Merger {
            workers: workers
                .iter()
                .map(|(name, connections)| {
                    (
                        name.clone(),
                        WorkerFigures {
                            connections: *connections,
                            ..WorkerFigures::default()
                        },
                    )
                })
                .collect(),
            ..Merger::default()
        }
    }

    /// Adds one snapshot.
    pub fn add(&mut self, snapshot: &Snapshot) -> Added {
        if self.closed {
            return Added::Late;
        }
        let Some(worker) = self.workers.get_mut(&snapshot.worker) else {
            return Added::Stranger;
        };
        if !worker.seen.insert(snapshot.seq) {
            return Added::Duplicate;
        }
        let errors: u64 = snapshot.errors.values().sum();
        worker.responses += snapshot.responses;
        for (kind, n) in &snapshot.errors {
            *worker.errors.entry(kind.clone()).or_default() += n;
        }
        worker.latency_us.merge(&snapshot.latency_us);
        worker.generator_cpu_s += snapshot.generator_cpu_s;
        worker.snapshots += 1;
        let interval = self.intervals.entry(snapshot.interval).or_default();
        interval.responses += snapshot.responses;
        interval.errors += errors;
        interval.latency_us.merge(&snapshot.latency_us);
        self.latency_us.merge(&snapshot.latency_us);
        Added::Merged
    }

    /// Ends the step: later snapshots are [`Added::Late`].
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Every response's latency, from every worker.
    pub fn latency_us(&self) -> &LatencyHistogram {
        &self.latency_us
    }

    /// Responses from every worker.
    pub fn responses(&self) -> u64 {
        self.workers.values().map(|w| w.responses).sum()
    }

    /// The merged intervals, in order.
    pub fn intervals(&self) -> &BTreeMap<u32, MergedInterval> {
        &self.intervals
    }

    /// Each worker's own figures.
    pub fn workers(&self) -> &BTreeMap<String, WorkerFigures> {
        &self.workers
    }

    /// Workers that sent fewer than `intervals` snapshots (gone, or cut
    /// off): the step is degraded by their missing share.
    pub fn short_of(&self, intervals: u64) -> Vec<&str> {
        self.workers
            .iter()
            .filter(|(_, w)| w.snapshots < intervals)
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(worker: &str, seq: u64, interval: u32, latency_us: u64, n: u64) -> Snapshot {
        let mut h = LatencyHistogram::new();
        h.record_n(latency_us, n);
        Snapshot {
            worker: worker.into(),
            seq,
            interval,
            responses: n,
            errors: BTreeMap::new(),
            latency_us: h,
            generator_cpu_s: 0.1,
        }
    }

    /// Two workers see different latencies (a near and a far one): the
    /// merged histogram is their sum, and its p99 is the p99 of every
    /// response, not the mean of the two p99s.
    #[test]
    fn histograms_add_and_the_merged_p99_is_not_a_mean_of_p99s() {
        let mut merger = Merger::new(&[("near".into(), 8), ("far".into(), 8)]);
        // near: 9,000 responses at 1 ms; far: 1,000 at 50 ms.
        for k in 0..9 {
            assert_eq!(
                merger.add(&snapshot("near", k + 1, k as u32, 1_000, 1_000)),
                Added::Merged
            );
        }
        assert_eq!(
            merger.add(&snapshot("far", 1, 0, 50_000, 1_000)),
            Added::Merged
        );
        let mut sum = LatencyHistogram::new();
        for w in merger.workers().values() {
            sum.merge(&w.latency_us);
        }
        assert!(
            merger.latency_us() == &sum,
            "the merged histogram is the sum"
        );
        let p99 = |h: &LatencyHistogram| h.value_at_quantile(0.99) as f64 / 1000.0;
        let mean_of_p99s = (p99(&merger.workers()["near"].latency_us)
            + p99(&merger.workers()["far"].latency_us))
            / 2.0;
        // 10 % of all responses took 50 ms, so the p99 of every response is 50 ms;
        // the mean of the workers' p99s would say 25.5 ms.
        assert!((p99(merger.latency_us()) - 50.0).abs() < 0.1);
        assert!((mean_of_p99s - 25.5).abs() < 0.1);
        assert_eq!(merger.responses(), 10_000);
        assert_eq!(merger.intervals()[&0].responses, 2_000);
    }

    #[test]
    fn duplicates_late_snapshots_and_strangers_are_ignored_and_short_workers_named() {
        let mut merger = Merger::new(&[("a".into(), 2), ("b".into(), 2)]);
        assert_eq!(merger.add(&snapshot("a", 1, 0, 1_000, 10)), Added::Merged);
        assert_eq!(
            merger.add(&snapshot("a", 1, 0, 1_000, 10)),
            Added::Duplicate
        );
        assert_eq!(merger.add(&snapshot("x", 1, 0, 1_000, 10)), Added::Stranger);
        assert_eq!(merger.add(&snapshot("a", 2, 1, 1_000, 10)), Added::Merged);
        assert_eq!(merger.add(&snapshot("b", 1, 0, 1_000, 10)), Added::Merged);
        merger.close();
        assert_eq!(merger.add(&snapshot("b", 2, 1, 1_000, 10)), Added::Late);
        assert_eq!(merger.responses(), 30);
        assert_eq!(merger.short_of(2), vec!["b"]);
        assert_eq!(merger.workers()["a"].snapshots, 2);
    }
}
