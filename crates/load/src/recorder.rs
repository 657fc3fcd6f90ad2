//! Per-thread accumulation of outcomes: fixed arrays and HDR histograms, no
//! maps and no allocation per operation. Snapshots are shipped to the
//! collector once per interval and merged there.

use crate::transport::{CallInfo, OpError, Response};
use scalewall_model::{CheckResult, ErrorKind, LatencyHistogram, OutcomeCounts, Phases};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Status codes tracked individually (`0..1000` covers every 3-digit code).
const STATUS_SLOTS: usize = 1000;

/// Outcomes of a span of operations on one thread.
#[derive(Clone)]
pub(crate) struct Accumulator {
    pub latency: LatencyHistogram,
    pub uncorrected: Option<LatencyHistogram>,
    pub lag: Option<LatencyHistogram>,
    status: Box<[u64]>,
    errors: [u64; ErrorKind::ALL.len()],
    pub responses: u64,
    bytes: u64,
    /// The first message seen for each error kind.
    examples: BTreeMap<&'static str, String>,
    /// Phases and checks, for the drivers that report them (made on the
    /// first such call: the other drivers never carry them).
    extras: Option<Box<Extras>>,
}

/// A span's phase histograms and check counts.
#[derive(Clone, Default)]
struct Extras {
    phases: Phases,
    checks: Vec<CheckTally>,
}

#[derive(Clone, Default)]
struct CheckTally {
    evaluated: u64,
    failed: u64,
    first_failure: Option<String>,
}

impl Extras {
    fn merge(&mut self, other: &Extras) {
        self.phases.merge(&other.phases);
        if self.checks.len() < other.checks.len() {
            self.checks
                .resize(other.checks.len(), CheckTally::default());
        }
        for (mine, theirs) in self.checks.iter_mut().zip(&other.checks) {
            mine.evaluated += theirs.evaluated;
            mine.failed += theirs.failed;
            if mine.first_failure.is_none() {
                mine.first_failure.clone_from(&theirs.first_failure);
            }
        }
    }
}

/// Whole microseconds in a duration, saturating.
#[inline]
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Accumulator {
    /// An empty accumulator; `open_model` adds the uncorrected and lag histograms.
    pub fn new(open_model: bool) -> Self {
        Accumulator {
            latency: LatencyHistogram::new(),
            uncorrected: open_model.then(LatencyHistogram::new),
            lag: open_model.then(LatencyHistogram::new),
            status: vec![0; STATUS_SLOTS].into_boxed_slice(),
            errors: [0; ErrorKind::ALL.len()],
            responses: 0,
            bytes: 0,
            examples: BTreeMap::new(),
            extras: None,
        }
    }

    fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// Records the time a new connection took to open.
    pub fn record_connect(&mut self, took: Duration) {
        self.extras().phases.connect_us.record(micros(took));
    }

    /// Records what a call saw besides its response: its first byte and
    /// events from `origin` (the intended start in the open model, else
    /// the send), and the `checks` it failed (`checks` names them).
    /// A failed check makes the response an error of kind `check`,
    /// unless its status already made it one.
    pub fn record_call(
        &mut self,
        response: &Response,
        info: &CallInfo,
        origin: Instant,
        checks: usize,
    ) {
        let extras = self.extras();
        let p = &mut extras.phases;
        if let Some(first) = info.first_byte {
            p.ttfb_us
                .record(micros(first.saturating_duration_since(origin)));
        }
        if let Some(stream) = &info.stream {
            if let Some(first) = stream.first_event {
                p.first_event_us
                    .get_or_insert_with(LatencyHistogram::new)
                    .record(micros(first.saturating_duration_since(origin)));
            }
            let gaps = p.event_gap_us.get_or_insert_with(LatencyHistogram::new);
            for &gap in &stream.gaps_us {
                gaps.record(gap);
            }
            p.events_per_response
                .get_or_insert_with(LatencyHistogram::new)
                .record(u64::from(stream.events));
            p.events += u64::from(stream.events);
        }
        if checks == 0 {
            return;
        }
        if extras.checks.len() < checks {
            extras.checks.resize(checks, CheckTally::default());
        }
        let verdict = &info.verdict;
        for (i, tally) in extras.checks.iter_mut().enumerate().take(checks) {
            tally.evaluated += 1;
            if verdict.failed & (1 << i) != 0 {
                tally.failed += 1;
                if tally.first_failure.is_none() {
                    tally.first_failure = verdict.note(i).map(String::from);
                }
            }
        }
        if verdict.failed != 0 && !(400..600).contains(&response.status) {
            self.errors[ErrorKind::Check as usize] += 1;
            if let Some(first) = verdict.first() {
                self.examples
                    .entry(ErrorKind::Check.as_str())
                    .or_insert_with(|| first.to_string());
            }
        }
    }

    /// The span's phases, if its driver reports them.
    pub fn phases(&self) -> Option<Phases> {
        self.extras.as_ref().map(|e| e.phases.clone())
    }

    /// The span's check results, named by `names` in order.
    pub fn check_results(&self, names: &[String]) -> Vec<CheckResult> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let tally = self
                    .extras
                    .as_ref()
                    .and_then(|e| e.checks.get(i))
                    .cloned()
                    .unwrap_or_default();
                CheckResult {
                    check: name.clone(),
                    evaluated: tally.evaluated,
                    failed: tally.failed,
                    first_failure: tally.first_failure,
                }
            })
            .collect()
    }

    /// Records a completed operation.
    ///
    /// `intended` is the scheduled start (open model), `sent` when it was
    /// actually started, `done` when its response completed. `count` is the
    /// operations the call completed (pipelining), each with its latency.
    #[inline]
    pub fn record_response(
        &mut self,
        response: &Response,
        intended: Option<Instant>,
        sent: Instant,
        done: Instant,
        count: u32,
    ) {
        let count = u64::from(count.max(1));
        match intended {
            Some(intended) => {
                self.latency
                    .record_n(micros(done.saturating_duration_since(intended)), count);
                if let Some(h) = self.uncorrected.as_mut() {
                    h.record_n(micros(done.saturating_duration_since(sent)), count);
                }
                if let Some(h) = self.lag.as_mut() {
                    h.record_n(micros(sent.saturating_duration_since(intended)), count);
                }
            }
            None => self
                .latency
                .record_n(micros(done.saturating_duration_since(sent)), count),
        }
        self.responses += count;
        self.bytes += response.bytes;
        let slot = usize::from(response.status).min(STATUS_SLOTS - 1);
        self.status[slot] += count;
        match response.status {
            400..=499 => self.errors[ErrorKind::Status4xx as usize] += count,
            500..=599 => self.errors[ErrorKind::Status5xx as usize] += count,
            _ => {}
        }
    }

    /// Records a failed operation.
    pub fn record_error(&mut self, error: OpError) {
        self.errors[error.kind as usize] += 1;
        self.examples
            .entry(error.kind.as_str())
            .or_insert(error.message);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.responses == 0 && self.errors.iter().all(|&n| n == 0)
    }

    /// Errors of every kind.
    pub fn errors_total(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Returns the recorded span and leaves this accumulator empty.
    pub fn take(&mut self) -> Accumulator {
        // The extras move to the snapshot (the next call makes new ones).
        let extras = self.extras.take();
        let mut snapshot = self.clone();
        snapshot.extras = extras;
        self.latency.clear();
        if let Some(h) = self.uncorrected.as_mut() {
            h.clear();
        }
        if let Some(h) = self.lag.as_mut() {
            h.clear();
        }
        self.status.fill(0);
        self.errors = [0; ErrorKind::ALL.len()];
        self.responses = 0;
        self.bytes = 0;
        self.examples.clear();
        snapshot
    }

    /// Adds another span into this one.
    pub fn merge(&mut self, other: &Accumulator) {
        self.latency.merge(&other.latency);
        if let (Some(mine), Some(theirs)) = (self.uncorrected.as_mut(), other.uncorrected.as_ref())
        {
            mine.merge(theirs);
        }
        if let (Some(mine), Some(theirs)) = (self.lag.as_mut(), other.lag.as_ref()) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.status.iter_mut().zip(other.status.iter()) {
            *mine += theirs;
        }
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors.iter()) {
            *mine += theirs;
        }
        self.responses += other.responses;
        self.bytes += other.bytes;
        for (kind, message) in &other.examples {
            self.examples.entry(kind).or_insert_with(|| message.clone());
        }
        match (self.extras.as_mut(), other.extras.as_ref()) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, Some(theirs)) => self.extras = Some(theirs.clone()),
            _ => {}
        }
    }

    /// The counts in the record's form.
    pub fn outcome_counts(&self) -> OutcomeCounts {
        let mut counts = OutcomeCounts {
            responses: self.responses,
            bytes_received: self.bytes,
            ..OutcomeCounts::default()
        };
        for (code, &n) in self.status.iter().enumerate() {
            if n > 0 {
                // STATUS_SLOTS fits in u16
                counts.status_codes.insert(code as u16, n);
            }
        }
        for kind in ErrorKind::ALL {
            let n = self.errors[kind as usize];
            if n > 0 {
                counts.errors.insert(kind.as_str().to_string(), n);
            }
        }
        counts
    }

    /// First message per error kind.
    pub fn error_examples(&self) -> BTreeMap<String, String> {
        self.examples
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_errors_are_responses_and_errors_at_once() {
        let mut acc = Accumulator::new(false);
        let t = Instant::now();
        let later = t + Duration::from_millis(2);
        for status in [200, 404, 500, 503] {
            acc.record_response(
                &Response {
                    status,
                    bytes: 10,
                    keep_alive: true,
                },
                None,
                t,
                later,
                1,
            );
        }
        acc.record_error(OpError::new(ErrorKind::Timeout, "slow"));
        let counts = acc.outcome_counts();
        assert_eq!(counts.responses, 4);
        assert_eq!(counts.errors["status_4xx"], 1);
        assert_eq!(counts.errors["status_5xx"], 2);
        assert_eq!(counts.errors["timeout"], 1);
        assert_eq!(counts.operations(), 5);
        assert_eq!(counts.bytes_received, 40);
        assert_eq!(acc.latency.value_at_quantile(0.5), 2000);
    }

    #[test]
    fn open_model_latency_runs_from_the_intended_start() {
        let mut acc = Accumulator::new(true);
        let intended = Instant::now();
        let sent = intended + Duration::from_millis(50);
        let done = sent + Duration::from_millis(1);
        acc.record_response(
            &Response {
                status: 200,
                bytes: 0,
                keep_alive: true,
            },
            Some(intended),
            sent,
            done,
            1,
        );
        assert_eq!(acc.latency.max(), 51_007);
        assert_eq!(acc.uncorrected.as_ref().unwrap().max(), 1000);
        assert_eq!(acc.lag.as_ref().unwrap().max(), 50_015);
    }

    #[test]
    fn take_leaves_an_empty_accumulator_and_merge_restores() {
        let mut acc = Accumulator::new(false);
        let t = Instant::now();
        acc.record_response(
            &Response {
                status: 200,
                bytes: 1,
                keep_alive: true,
            },
            None,
            t,
            t,
            1,
        );
        let snapshot = acc.take();
        assert!(acc.is_empty());
        assert!(!snapshot.is_empty());
        acc.merge(&snapshot);
        assert_eq!(acc.responses, 1);
    }
}
