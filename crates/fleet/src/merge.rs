//! Merging the workers' interval snapshots into one step: counts summed,
//! latency histograms added (an HDR histogram adds exactly, so the merged
//! p99 is the p99 of every response, never a mean of the workers' p99s),
//! each worker's own figures kept beside the total, and a snapshot seen
//! twice (a redelivery) or arriving after the step closed ignored by its
//! sequence number. [`Merger::step`] assembles the step's record, with a
//! [`WorkerShare`] per worker.

use scalewall_model::{
    merge_checks, Interval, LatencyHistogram, OutcomeCounts, Phases, Step, Warmup, WorkerShare,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One worker's figures for one interval of a step (a worker may send an
/// interval in several snapshots: they add).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The worker's name.
    pub worker: String,
    /// The worker's sequence number for this step (1, 2, …).
    pub seq: u64,
    /// The interval it covers (0-based, from the start of measurement).
    pub interval: u32,
    /// Outcomes in it.
    pub outcomes: OutcomeCounts,
    /// Latency of its responses, microseconds.
    pub latency_us: LatencyHistogram,
    /// Open model: latency from the actual send.
    pub uncorrected_latency_us: Option<LatencyHistogram>,
    /// Open model: how late sends were.
    pub schedule_lag_us: Option<LatencyHistogram>,
    /// The first message of each error kind.
    pub error_examples: BTreeMap<String, String>,
    /// CPU the worker process used since its previous snapshot, seconds.
    pub cpu_s: f64,
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

/// What the coordinator knows of a worker beyond its snapshots.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkerPart {
    /// Connections it was given.
    pub connections: u32,
    /// Open model: its rate.
    pub rate_per_s: Option<f64>,
    /// Its clock offset and uncertainty, seconds.
    pub clock: (f64, f64),
}

/// One worker's part of the merged step.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkerFigures {
    /// What it was given.
    pub part: WorkerPart,
    /// Its outcomes.
    pub outcomes: OutcomeCounts,
    /// Its latency histogram.
    pub latency_us: LatencyHistogram,
    /// Process CPU it reported, seconds.
    pub cpu_s: f64,
    /// Snapshots merged.
    pub snapshots: u64,
    seen: BTreeSet<u64>,
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
    outcomes: OutcomeCounts,
    uncorrected_latency_us: Option<LatencyHistogram>,
    schedule_lag_us: Option<LatencyHistogram>,
    error_examples: BTreeMap<String, String>,
    closed: bool,
}

/// The step as planned, for [`Merger::step`].
#[derive(Debug, Clone, PartialEq)]
pub struct StepFrame {
    /// Connections of every worker.
    pub connections: u32,
    /// Open model: the whole rate.
    pub rate_per_s: Option<f64>,
    /// Wall-clock start of measurement, RFC 3339.
    pub started_at: String,
    /// Length of an interval, seconds.
    pub interval_s: f64,
    /// Planned measured time, seconds (`None`: a count-bound step).
    pub planned_s: Option<f64>,
}

/// How a worker ended its part.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// It sent its own record of the step (intervals not needed).
    Finished(Box<Step>),
    /// It stopped answering, or failed: why.
    Lost(String),
}

impl Merger {
    /// A step run by these workers.
    pub fn new(workers: &[(String, WorkerPart)]) -> Merger {
        Merger {
            workers: workers
                .iter()
                .map(|(name, part)| {
                    (
                        name.clone(),
                        WorkerFigures {
                            part: part.clone(),
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
        worker.outcomes.merge(&snapshot.outcomes);
        worker.latency_us.merge(&snapshot.latency_us);
        worker.cpu_s += snapshot.cpu_s;
        worker.snapshots += 1;
        let interval = self.intervals.entry(snapshot.interval).or_default();
        interval.responses += snapshot.outcomes.responses;
        interval.errors += snapshot.outcomes.errors_total();
        interval.latency_us.merge(&snapshot.latency_us);
        self.outcomes.merge(&snapshot.outcomes);
        add_optional(
            &mut self.uncorrected_latency_us,
            &snapshot.uncorrected_latency_us,
        );
        add_optional(&mut self.schedule_lag_us, &snapshot.schedule_lag_us);
        for (kind, message) in &snapshot.error_examples {
            self.error_examples
                .entry(kind.clone())
                .or_insert_with(|| message.clone());
        }
        Added::Merged
    }

    /// Ends the step: later snapshots are [`Added::Late`].
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Every response's latency, from every worker: the sum of the
    /// workers' histograms (made on demand, once per worker, rather than
    /// once more per snapshot).
    pub fn latency_us(&self) -> LatencyHistogram {
        let mut total = LatencyHistogram::new();
        for w in self.workers.values() {
            total.merge(&w.latency_us);
        }
        total
    }

    /// Responses from every worker.
    pub fn responses(&self) -> u64 {
        self.outcomes.responses
    }

    /// The merged intervals, in order.
    pub fn intervals(&self) -> &BTreeMap<u32, MergedInterval> {
        &self.intervals
    }

    /// Each worker's own figures.
    pub fn workers(&self) -> &BTreeMap<String, WorkerFigures> {
        &self.workers
    }

    /// The step's record: every worker's snapshots merged, with each
    /// worker's share. `endings` says how each worker ended (a worker
    /// missing from it is lost, unanswering).
    pub fn step(&self, frame: &StepFrame, endings: &BTreeMap<String, Ending>) -> Step {
        let finished: Vec<&Step> = endings
            .values()
            .filter_map(|e| match e {
                Ending::Finished(step) => Some(step.as_ref()),
                Ending::Lost(_) => None,
            })
            .collect();
        let duration_s = finished
            .iter()
            .map(|s| s.duration_s)
            .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.max(d))))
            .or(frame.planned_s)
            .unwrap_or_else(|| {
                self.intervals
                    .keys()
                    .next_back()
                    .map_or(0.0, |&i| f64::from(i + 1) * frame.interval_s)
            });
        let count = ((duration_s / frame.interval_s).ceil() as u32)
            .max(self.intervals.keys().next_back().map_or(0, |&i| i + 1));
        let quantile = |h: &LatencyHistogram, q: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(q)
            }
        };
        let intervals = (0..count)
            .map(|index| {
                let offset_s = f64::from(index) * frame.interval_s;
                let merged = self.intervals.get(&index);
                let h = merged.map(|m| &m.latency_us);
                Interval {
                    offset_s,
                    duration_s: frame.interval_s.min((duration_s - offset_s).max(0.0)),
                    responses: merged.map_or(0, |m| m.responses),
                    errors: merged.map_or(0, |m| m.errors),
                    p50_us: h.map_or(0, |h| quantile(h, 0.5)),
                    p99_us: h.map_or(0, |h| quantile(h, 0.99)),
                    max_us: h.map_or(0, |h| if h.is_empty() { 0 } else { h.max() }),
                }
            })
            .collect();
        let mut warmup: Option<Warmup> = None;
        for w in finished.iter().filter_map(|s| s.warmup.as_ref()) {
            match warmup.as_mut() {
                None => warmup = Some(w.clone()),
                Some(total) => {
                    total.duration_s = total.duration_s.max(w.duration_s);
                    total.outcomes.merge(&w.outcomes);
                    total.latency_us.merge(&w.latency_us);
                }
            }
        }
        // Phases and check counts come with each worker's own record of
        // the step (its snapshots carry latency only): a lost worker's
        // are missing with it, as its `workers` entry says.
        let mut phases: Option<Phases> = None;
        let mut checks = Vec::new();
        for step in &finished {
            if let Some(p) = &step.phases {
                phases.get_or_insert_with(Phases::default).merge(p);
            }
            merge_checks(&mut checks, &step.checks);
        }
        let workers: Vec<WorkerShare> = self
            .workers
            .iter()
            .map(|(name, figures)| worker_share(name, figures, endings.get(name), quantile))
            .collect();
        Step {
            concurrency: frame.connections,
            target_rate_per_s: frame.rate_per_s,
            started_at: frame.started_at.clone(),
            duration_s,
            // A lost worker degrades the step (its share is missing, and
            // said so in `workers`) without cutting it short.
            completed: !finished.is_empty() && finished.iter().all(|s| s.completed),
            outcomes: self.outcomes.clone(),
            achieved_rate_per_s: if duration_s > 0.0 {
                self.outcomes.responses as f64 / duration_s
            } else {
                0.0
            },
            latency_us: self.latency_us(),
            uncorrected_latency_us: self.uncorrected_latency_us.clone(),
            schedule_lag_us: self.schedule_lag_us.clone(),
            warmup,
            intervals,
            error_examples: self.error_examples.clone(),
            generator_cpu_s: workers.iter().map(|w| w.generator_cpu_s).sum(),
            generator_wall_s: finished
                .iter()
                .map(|s| s.generator_wall_s)
                .fold(0.0, f64::max),
            generator_threads: finished.iter().map(|s| s.generator_threads).sum(),
            resources: None,
            param_value: None,
            stages: Vec::new(),
            workers,
            custom: Vec::new(),
            phases,
            checks,
        }
    }
}

fn worker_share(
    name: &str,
    figures: &WorkerFigures,
    ending: Option<&Ending>,
    quantile: impl Fn(&LatencyHistogram, f64) -> u64,
) -> WorkerShare {
    let ms = |us: u64| us as f64 / 1000.0;
    let (generator_cpu_s, generator_bound, lost) = match ending {
        Some(Ending::Finished(step)) => (
            step.generator_cpu_s,
            step.generator_busy_share() > scalewall_stats::sweep::GENERATOR_BOUND_SHARE,
            None,
        ),
        Some(Ending::Lost(why)) => (figures.cpu_s, false, Some(why.clone())),
        None => (
            figures.cpu_s,
            false,
            Some("it sent no end to its part".to_string()),
        ),
    };
    WorkerShare {
        name: name.to_string(),
        connections: figures.part.connections,
        rate_per_s: figures.part.rate_per_s,
        responses: figures.outcomes.responses,
        errors_total: figures.outcomes.errors_total(),
        p50_ms: ms(quantile(&figures.latency_us, 0.5)),
        p99_ms: ms(quantile(&figures.latency_us, 0.99)),
        max_ms: ms(if figures.latency_us.is_empty() {
            0
        } else {
            figures.latency_us.max()
        }),
        latency_us: figures.latency_us.clone(),
        generator_cpu_s,
        generator_bound,
        clock_offset_ms: figures.part.clock.0 * 1e3,
        clock_uncertainty_ms: figures.part.clock.1 * 1e3,
        snapshots: figures.snapshots,
        lost,
    }
}

fn add_optional(total: &mut Option<LatencyHistogram>, part: &Option<LatencyHistogram>) {
    if let Some(part) = part {
        total.get_or_insert_with(LatencyHistogram::new).merge(part);
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
            outcomes: OutcomeCounts {
                responses: n,
                status_codes: [(200, n)].into(),
                ..OutcomeCounts::default()
            },
            latency_us: h,
            uncorrected_latency_us: None,
            schedule_lag_us: None,
            error_examples: BTreeMap::new(),
            cpu_s: 0.1,
        }
    }

    fn part(connections: u32) -> WorkerPart {
        WorkerPart {
            connections,
            ..WorkerPart::default()
        }
    }

    fn frame() -> StepFrame {
        StepFrame {
            connections: 16,
            rate_per_s: None,
            started_at: "2026-12-03T00:00:00Z".into(),
            interval_s: 1.0,
            planned_s: Some(10.0),
        }
    }

    /// Two workers see different latencies (a near and a far one): the
    /// merged histogram is their sum, and its p99 is the p99 of every
    /// response, not the mean of the two p99s.
    #[test]
    fn histograms_add_and_the_merged_p99_is_not_a_mean_of_p99s() {
        let mut merger = Merger::new(&[("near".into(), part(8)), ("far".into(), part(8))]);
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
            merger.latency_us() == sum,
            "the merged histogram is the sum"
        );
        let p99 = |h: &LatencyHistogram| h.value_at_quantile(0.99) as f64 / 1000.0;
        let mean_of_p99s = (p99(&merger.workers()["near"].latency_us)
            + p99(&merger.workers()["far"].latency_us))
            / 2.0;
        // 10 % of all responses took 50 ms, so the p99 of every response is 50 ms;
        // the mean of the workers' p99s would say 25.5 ms.
        assert!((p99(&merger.latency_us()) - 50.0).abs() < 0.1);
        assert!((mean_of_p99s - 25.5).abs() < 0.1);
        assert_eq!(merger.responses(), 10_000);
        assert_eq!(merger.intervals()[&0].responses, 2_000);

        let step = merger.step(&frame(), &BTreeMap::new());
        assert_eq!(step.outcomes.responses, 10_000);
        assert_eq!(step.outcomes.status_codes[&200], 10_000);
        assert_eq!(step.intervals.len(), 10);
        assert_eq!(step.intervals[0].responses, 2_000);
        assert_eq!(
            step.intervals[0].p99_us,
            merger.intervals()[&0].latency_us.value_at_quantile(0.99)
        );
        assert!((step.achieved_rate_per_s - 1_000.0).abs() < 1e-9);
        assert!(!step.completed, "no worker said it finished");
        assert_eq!(step.workers.len(), 2);
        assert_eq!(step.workers[0].name, "far");
        assert_eq!(step.workers[0].responses, 1_000);
        assert!((step.workers[0].p99_ms - 50.0).abs() < 0.1);
        assert!(step.workers[1].lost.is_some());
    }

    #[test]
    fn duplicates_late_snapshots_and_strangers_are_ignored() {
        let mut merger = Merger::new(&[("a".into(), part(2)), ("b".into(), part(2))]);
        assert_eq!(merger.add(&snapshot("a", 1, 0, 1_000, 10)), Added::Merged);
        assert_eq!(
            merger.add(&snapshot("a", 1, 0, 1_000, 10)),
            Added::Duplicate
        );
        assert_eq!(merger.add(&snapshot("x", 1, 0, 1_000, 10)), Added::Stranger);
        assert_eq!(merger.add(&snapshot("a", 2, 1, 1_000, 10)), Added::Merged);
        // Two snapshots of one interval add.
        assert_eq!(merger.add(&snapshot("b", 1, 0, 1_000, 10)), Added::Merged);
        assert_eq!(merger.add(&snapshot("b", 2, 0, 1_000, 5)), Added::Merged);
        merger.close();
        assert_eq!(merger.add(&snapshot("b", 3, 1, 1_000, 10)), Added::Late);
        assert_eq!(merger.responses(), 35);
        assert_eq!(merger.intervals()[&0].responses, 25);
        assert_eq!(merger.workers()["a"].snapshots, 2);
    }

    /// A worker lost mid-step keeps what it sent before, and says why;
    /// the finished one's own record gives its CPU and duration.
    #[test]
    fn a_lost_worker_keeps_its_partial_share() {
        let mut merger = Merger::new(&[("a".into(), part(8)), ("b".into(), part(8))]);
        for k in 0..10 {
            merger.add(&snapshot("a", k + 1, k as u32, 2_000, 100));
        }
        for k in 0..3 {
            merger.add(&snapshot("b", k + 1, k as u32, 2_000, 100));
        }
        let mut finished = merger.step(&frame(), &BTreeMap::new());
        assert!(!finished.completed, "no worker said it finished");
        finished.duration_s = 10.2;
        finished.completed = true;
        finished.generator_cpu_s = 0.5;
        finished.generator_wall_s = 10.3;
        finished.generator_threads = 1;
        finished.workers.clear();
        let endings = BTreeMap::from([
            ("a".to_string(), Ending::Finished(Box::new(finished))),
            ("b".to_string(), Ending::Lost("no snapshot for 5 s".into())),
        ]);
        let step = merger.step(&frame(), &endings);
        assert!(step.completed, "the step ran to its end, degraded");
        assert!((step.duration_s - 10.2).abs() < 1e-9);
        assert_eq!(step.outcomes.responses, 1_300);
        assert_eq!(step.workers[1].responses, 300);
        assert_eq!(step.workers[1].lost.as_deref(), Some("no snapshot for 5 s"));
        assert!((step.workers[1].generator_cpu_s - 0.3).abs() < 1e-9);
        assert!((step.workers[0].generator_cpu_s - 0.5).abs() < 1e-9);
        assert_eq!(step.generator_threads, 1);
    }
    /// Each finished worker's phases and check counts add into the step:
    /// histograms exactly, counts summed check by check, the first
    /// failure kept from the worker that saw one.
    #[test]
    fn phases_and_checks_of_finished_workers_add() {
        let mut merger = Merger::new(&[("a".into(), part(2)), ("b".into(), part(2))]);
        merger.add(&snapshot("a", 1, 0, 1_000, 100));
        merger.add(&snapshot("b", 1, 0, 3_000, 50));
        let own = |ttfb_us: u64, n: u64, events: u64, failed: u64, example: Option<&str>| {
            let mut step = merger.step(&frame(), &BTreeMap::new());
            let mut ttfb = LatencyHistogram::new();
            ttfb.record_n(ttfb_us, n);
            let mut per_response = LatencyHistogram::new();
            per_response.record_n(events, n);
            step.phases = Some(Phases {
                ttfb_us: ttfb,
                events_per_response: Some(per_response),
                events: events * n,
                ..Phases::default()
            });
            step.checks = vec![
                scalewall_model::CheckResult {
                    check: "status=200".into(),
                    evaluated: n,
                    failed: 0,
                    first_failure: None,
                },
                scalewall_model::CheckResult {
                    check: "json $.ok == true".into(),
                    evaluated: n,
                    failed,
                    first_failure: example.map(String::from),
                },
            ];
            Ending::Finished(Box::new(step))
        };
        let endings = BTreeMap::from([
            ("a".to_string(), own(900, 100, 20, 0, None)),
            ("b".to_string(), own(2_900, 50, 20, 7, Some("got false"))),
        ]);
        let step = merger.step(&frame(), &endings);
        let phases = step.phases.expect("phases merged");
        let mut every_response = LatencyHistogram::new();
        every_response.record_n(900, 100);
        every_response.record_n(2_900, 50);
        assert!(phases.ttfb_us == every_response, "the sum of the two");
        assert_eq!(phases.events, 3_000);
        assert_eq!(phases.events_per_response.unwrap().len(), 150);
        assert_eq!(step.checks.len(), 2);
        assert_eq!(step.checks[0].evaluated, 150);
        assert_eq!(step.checks[1].evaluated, 150);
        assert_eq!(step.checks[1].failed, 7);
        assert_eq!(step.checks[1].first_failure.as_deref(), Some("got false"));
        // A lost worker's phases are missing with it.
        let endings = BTreeMap::from([
            ("a".to_string(), own(900, 100, 20, 0, None)),
            ("b".to_string(), Ending::Lost("gone".into())),
        ]);
        let step = merger.step(&frame(), &endings);
        assert_eq!(step.phases.unwrap().ttfb_us.len(), 100);
        assert_eq!(step.checks[1].failed, 0);
    }
}
