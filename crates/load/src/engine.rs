//! The one driver loop: run a step of load against any [`Driver`].
//!
//! Inputs are kept apart: the transport (a [`Driver`]), the pacing
//! ([`Pacing::Closed`]: each connection sends its next request as soon as the
//! last completes; [`Pacing::Open`]: requests are scheduled at fixed intended
//! times and latency is measured from the intended time, correcting
//! coordinated omission as wrk2 does) and the stop condition ([`StopAt`]).
//!
//! Threads: each generator thread owns a single-threaded tokio runtime (no
//! work stealing on the hot path) and a share of the connections. Operations
//! are classified as warm-up or measured by their (intended) start time.
//! Every interval each thread sends its snapshot to the collector on the
//! calling thread, which merges histograms (never percentiles), reports live
//! progress and assembles the [`Step`].

use crate::ramp::RateRamp;
use crate::recorder::Accumulator;
use crate::send_clock::SendClock;
use crate::transport::{Connection, Driver, OpError};
use scalewall_model::{
    ErrorKind, Interval, LatencyHistogram, OutcomeCounts, StageResult, Step, Warmup,
};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How operations are paced.
#[derive(Debug, Clone, PartialEq)]
pub enum Pacing {
    /// Closed model: every connection keeps one operation in flight.
    Closed,
    /// Open model: operations start at a constant rate, whatever the latency.
    Open {
        /// Target arrival rate, operations per second.
        rate_per_s: f64,
    },
    /// Open model whose rate ramps linearly between stage targets; the
    /// step lasts the whole ramp and reports a result per stage.
    Ramp(Arc<RateRamp>),
}

/// When each of a thread's operations is due.
#[derive(Debug, Clone)]
enum Schedule {
    /// Every `period`, from `phase`.
    Fixed { period: Duration, phase: Duration },
    /// The thread takes `share` of a ramp's operations, offset by `phase`
    /// of one operation so the threads interleave.
    Ramp {
        ramp: Arc<RateRamp>,
        share: f64,
        phase: f64,
    },
}

impl Schedule {
    /// When the thread's `k`-th operation is due after the start; `None`
    /// when the schedule has ended.
    fn due(&self, k: u64) -> Option<Duration> {
        match self {
            Schedule::Fixed { period, phase } => Some(
                *phase
                    + period
                        .checked_mul(u32::try_from(k).unwrap_or(u32::MAX))
                        .unwrap_or(Duration::MAX / 2),
            ),
            Schedule::Ramp { ramp, share, phase } => ramp
                .time_of((k as f64 + phase) / share)
                .map(Duration::from_secs_f64),
        }
    }
}

/// When a step ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopAt {
    /// After this much measured time (warm-up not included).
    Duration(Duration),
    /// After this many measured operations (attempts, errors included).
    Operations(u64),
}

/// Everything the engine needs to run one step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepPlan {
    /// Concurrent connections.
    pub connections: u32,
    /// Closed or open model.
    pub pacing: Pacing,
    /// Stop condition for the measured span.
    pub stop: StopAt,
    /// Warm-up before measurement (measured, reported apart).
    pub warmup: Duration,
    /// Per-operation timeout (connecting included).
    pub timeout: Duration,
    /// Generator threads (each with its own event loop).
    pub threads: u32,
    /// Length of the per-interval samples.
    pub interval: Duration,
}

impl StepPlan {
    /// Generator threads actually used: never more than connections.
    pub fn effective_threads(&self) -> u32 {
        self.threads.clamp(1, self.connections.max(1))
    }
}

/// Shared stop switch (Ctrl-C), safe to flip from any thread.
#[derive(Debug, Clone, Default)]
pub struct Control {
    stop: Arc<AtomicBool>,
}

impl Control {
    /// A control that has not been stopped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every running step to stop starting operations and finish.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was requested.
    pub fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// A live view of a running step, for progress displays.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveProgress {
    /// Still in warm-up.
    pub warming_up: bool,
    /// Measured time so far.
    pub elapsed: Duration,
    /// Planned measured time, when the step is time-bound.
    pub planned: Option<Duration>,
    /// Planned operations, when the step is count-bound.
    pub planned_operations: Option<u64>,
    /// Measured responses so far.
    pub responses: u64,
    /// Measured errors so far (every kind).
    pub errors: u64,
    /// Responses per second over the measured time so far.
    pub rate_per_s: f64,
    /// 99th percentile latency so far, ms.
    pub p99_ms: f64,
}

/// How long in-flight operations may finish after a stop request.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Lead time so that every thread starts on the same schedule.
const START_DELAY: Duration = Duration::from_millis(20);
/// How long after an interval's end its report waits for a thread that
/// has not reported it (a thread with nothing in the interval sends nothing).
const INTERVAL_GRACE: Duration = Duration::from_millis(200);
/// Longest single sleep while waiting, so a stop request is seen promptly.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// Why a step could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A generator thread or its runtime could not be created.
    #[error("cannot start load generator thread: {0}")]
    Thread(std::io::Error),
}

/// The fixed schedule of a step, shared by every thread.
#[derive(Debug, Clone, Copy)]
struct Timeline {
    start: Instant,
    measure_start: Instant,
    measure_end: Option<Instant>,
}

/// Per-thread configuration.
#[derive(Debug, Clone)]
struct ThreadPlan {
    index: u32,
    connections: u32,
    /// Open model: when this thread's operations are due.
    schedule: Option<Schedule>,
    /// Count-bound steps: measured operations this thread may start.
    quota: Option<u64>,
    timeout: Duration,
    interval: Duration,
}

/// Messages from generator threads to the collector.
enum Report {
    Interval {
        index: u32,
        acc: Accumulator,
    },
    Finished {
        warmup: Accumulator,
        last_completion: Option<Instant>,
        cpu: Duration,
    },
}

/// State shared by the tasks of one generator thread (never crosses threads).
struct ThreadState {
    warmup: RefCell<Accumulator>,
    interval: RefCell<Accumulator>,
    interval_index: Cell<u32>,
    last_completion: Cell<Option<Instant>>,
    next_op: Cell<u64>,
    quota_left: Cell<Option<u64>>,
    live_workers: Cell<u32>,
    /// Open model: the clock its sends wait on (tokio's timer fires on
    /// 1 ms ticks, which made most of a fast target's corrected latency the
    /// generator's own lateness); set once the thread's runtime runs.
    send_clock: RefCell<Option<SendClock>>,
    /// Tasks to stop when the last worker ends (the ticker, the supervisor).
    on_last_worker: RefCell<Vec<tokio::task::AbortHandle>>,
}

/// One measured interval of a step, every generator thread's figures
/// merged: what a worker of a distributed run streams to its coordinator.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalReport {
    /// The interval's index from the start of measurement.
    pub index: u32,
    /// Its outcomes.
    pub outcomes: OutcomeCounts,
    /// Latency of its responses, microseconds (open model: from the intended start).
    pub latency_us: LatencyHistogram,
    /// Open model: latency from the actual send.
    pub uncorrected_latency_us: Option<LatencyHistogram>,
    /// Open model: how late sends were.
    pub schedule_lag_us: Option<LatencyHistogram>,
    /// The first message of each error kind.
    pub error_examples: BTreeMap<String, String>,
}

impl IntervalReport {
    fn of(index: u32, acc: &Accumulator) -> IntervalReport {
        IntervalReport {
            index,
            outcomes: acc.outcome_counts(),
            latency_us: acc.latency.clone(),
            uncorrected_latency_us: acc.uncorrected.clone(),
            schedule_lag_us: acc.lag.clone(),
            error_examples: acc.error_examples(),
        }
    }
}

/// How a step joins others: what a worker of a distributed run needs
/// beyond the [`StepPlan`]. The default is a step on its own.
#[derive(Default)]
pub struct StepHooks<'a> {
    /// Start (warm-up included) at this wall-clock time, so the workers of
    /// a distributed step start together; `None`, or a time already past:
    /// at once.
    pub start_at: Option<SystemTime>,
    /// Open model: this generator's place in a schedule shared with other
    /// generators (its first operation is due this long after the start).
    pub phase: Duration,
    /// Called with each measured interval once every thread has reported
    /// it (the rest when the step ends), in the order they complete.
    pub on_interval: Option<&'a mut dyn FnMut(IntervalReport)>,
}

/// Runs one step and returns its record. Blocks until the step ends.
pub fn run_step<D: Driver>(
    driver: Arc<D>,
    plan: &StepPlan,
    control: &Control,
    on_progress: &mut dyn FnMut(&LiveProgress),
) -> Result<Step, EngineError> {
    run_step_with(driver, plan, control, on_progress, StepHooks::default())
}

/// [`run_step`] as one generator among several (see [`StepHooks`]).
pub fn run_step_with<D: Driver>(
    driver: Arc<D>,
    plan: &StepPlan,
    control: &Control,
    on_progress: &mut dyn FnMut(&LiveProgress),
    mut hooks: StepHooks<'_>,
) -> Result<Step, EngineError> {
    let threads = plan.effective_threads();
    let connections = plan.connections.max(1);
    let open_model = !matches!(plan.pacing, Pacing::Closed);
    let lead = hooks
        .start_at
        .and_then(|at| at.duration_since(SystemTime::now()).ok())
        .unwrap_or_default()
        .max(START_DELAY);
    let start = Instant::now() + lead;
    let measure_start = start + plan.warmup;
    let timeline = Timeline {
        start,
        measure_start,
        measure_end: match plan.stop {
            StopAt::Duration(d) => Some(measure_start + d),
            StopAt::Operations(_) => None,
        },
    };
    let wall_measure_start = SystemTime::now() + lead + plan.warmup;

    let (tx, rx) = mpsc::channel::<Report>();
    let mut handles = Vec::with_capacity(threads as usize);
    for index in 0..threads {
        let share = |total: u64| {
            total / u64::from(threads) + u64::from(u64::from(index) < total % u64::from(threads))
        };
        let thread_connections = share(u64::from(connections)) as u32;
        let thread_share = f64::from(thread_connections) / f64::from(connections);
        let schedule = match &plan.pacing {
            Pacing::Closed => None,
            Pacing::Open { rate_per_s } => {
                let thread_rate = rate_per_s * thread_share;
                let period = Duration::from_secs_f64(1.0 / thread_rate.max(1e-9));
                let phase = hooks.phase + period.mul_f64(f64::from(index) / f64::from(threads));
                Some(Schedule::Fixed { period, phase })
            }
            Pacing::Ramp(ramp) => Some(Schedule::Ramp {
                ramp: ramp.clone(),
                share: thread_share.max(1e-9),
                phase: f64::from(index) / f64::from(threads),
            }),
        };
        let thread_plan = ThreadPlan {
            index,
            connections: thread_connections,
            schedule,
            quota: match plan.stop {
                StopAt::Operations(n) => Some(share(n)),
                StopAt::Duration(_) => None,
            },
            timeout: plan.timeout,
            interval: plan.interval,
        };
        let driver = driver.clone();
        let control = control.clone();
        let tx = tx.clone();
        let handle = std::thread::Builder::new()
            .name(format!("scalewall-gen-{index}"))
            .spawn(move || generator_thread(driver, thread_plan, timeline, control, tx, open_model))
            .map_err(EngineError::Thread)?;
        handles.push(handle);
    }
    drop(tx);

    let stage_spans = match &plan.pacing {
        Pacing::Ramp(ramp) => ramp.spans(),
        _ => Vec::new(),
    };
    let mut stage_accs: Vec<Accumulator> = stage_spans
        .iter()
        .map(|_| Accumulator::new(open_model))
        .collect();
    // Collect: merge per-index snapshots from all threads.
    let mut intervals = IntervalWindow::new(open_model);
    let mut total = Accumulator::new(open_model);
    let mut warmup = Accumulator::new(open_model);
    let mut last_completion: Option<Instant> = None;
    let mut finished = 0u32;
    let mut generator_cpu = Duration::ZERO;
    // Intervals not yet reported by every thread (for `on_interval`).
    let mut pending: BTreeMap<u32, (u32, Accumulator)> = BTreeMap::new();
    let mut last_shown = Instant::now();
    let mut live = LiveProgress {
        warming_up: !plan.warmup.is_zero(),
        elapsed: Duration::ZERO,
        planned: match plan.stop {
            StopAt::Duration(d) => Some(d),
            StopAt::Operations(_) => None,
        },
        planned_operations: match plan.stop {
            StopAt::Operations(n) => Some(n),
            StopAt::Duration(_) => None,
        },
        responses: 0,
        errors: 0,
        rate_per_s: 0.0,
        p99_ms: 0.0,
    };
    while finished < threads {
        match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(Report::Interval { index, acc }) => {
                total.merge(&acc);
                intervals.add(index, &acc);
                if hooks.on_interval.is_some() {
                    let (seen, merged) = pending
                        .entry(index)
                        .or_insert_with(|| (0, Accumulator::new(open_model)));
                    *seen += 1;
                    merged.merge(&acc);
                }
                // A ramp's stages start on interval boundaries (the plan's
                // interval divides every stage's length).
                let at = f64::from(index) * plan.interval.as_secs_f64();
                if let Some(k) = stage_spans.iter().rposition(|s| s.0 <= at + 1e-9) {
                    stage_accs[k].merge(&acc);
                }
            }
            Ok(Report::Finished {
                warmup: thread_warmup,
                last_completion: thread_last,
                cpu,
            }) => {
                generator_cpu += cpu;
                warmup.merge(&thread_warmup);
                last_completion = last_completion.max(thread_last);
                finished += 1;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let now = Instant::now();
        if let Some(on_interval) = hooks.on_interval.as_mut() {
            // An interval goes out once every thread has reported it, or
            // soon after its end (a thread with nothing in it sends
            // nothing); a straggler's report goes out on its own — the
            // receiver adds them, so nothing is lost either way.
            let due: Vec<u32> = pending
                .iter()
                .filter(|(&index, (seen, _))| {
                    *seen >= threads
                        || now >= measure_start + plan.interval * (index + 1) + INTERVAL_GRACE
                })
                .map(|(&index, _)| index)
                .collect();
            for index in due {
                if let Some((_, merged)) = pending.remove(&index) {
                    on_interval(IntervalReport::of(index, &merged));
                }
            }
        }
        if now.duration_since(last_shown) >= Duration::from_millis(250) {
            last_shown = now;
            live.warming_up = now < measure_start;
            live.elapsed = now.saturating_duration_since(measure_start);
            live.responses = total.responses;
            live.errors = total.errors_total();
            live.rate_per_s = if live.elapsed.is_zero() {
                0.0
            } else {
                total.responses as f64 / live.elapsed.as_secs_f64()
            };
            live.p99_ms = total.latency.value_at_quantile(0.99) as f64 / 1000.0;
            on_progress(&live);
        }
    }
    if let Some(on_interval) = hooks.on_interval.as_mut() {
        // Intervals some thread never reached (it ended early).
        for (index, (_, merged)) in pending {
            on_interval(IntervalReport::of(index, &merged));
        }
    }
    for handle in handles {
        // A generator thread that panicked has already reported nothing more;
        // the step is assembled from what arrived.
        let _ = handle.join();
    }

    let interrupted = control.is_stopped();
    let measured_end = match (timeline.measure_end, last_completion) {
        // Open model: the rate is the schedule's, over its window. Sends
        // stop at the window's end, so the responses still in flight then
        // (at most one per connection) were sent in it and count; the time
        // they took to drain is not the schedule's (it made 9,000
        // operations sent on time over 3 s read as 2,965/s, below the
        // schedule).
        (Some(end), _) if !interrupted && open_model => end,
        (Some(end), Some(last)) if !interrupted => end.max(last),
        (Some(end), None) if !interrupted => end,
        (_, Some(last)) => last.max(measure_start),
        (_, None) => Instant::now().max(measure_start),
    };
    let duration = measured_end.saturating_duration_since(measure_start);
    let phases = driver
        .has_phases()
        .then(|| total.phases().unwrap_or_default());
    let checks = driver
        .checks()
        .filter(|c| !c.is_empty())
        .map(|c| total.check_results(&c.names()))
        .unwrap_or_default();
    let mut step = assemble_step(
        plan,
        open_model,
        total,
        warmup,
        intervals,
        duration,
        wall_measure_start,
        !interrupted,
    );
    step.phases = phases;
    step.checks = checks;
    step.stages = stage_spans
        .iter()
        .zip(&stage_accs)
        .map(|(&(offset_s, duration_s, from, to), acc)| StageResult {
            offset_s,
            duration_s,
            from_rate_per_s: from,
            to_rate_per_s: to,
            intended: (from + to) / 2.0 * duration_s,
            outcomes: acc.outcome_counts(),
            latency_us: acc.latency.clone(),
        })
        .collect();
    step.generator_cpu_s = generator_cpu.as_secs_f64();
    step.generator_wall_s = Instant::now()
        .saturating_duration_since(start)
        .as_secs_f64();
    step.generator_threads = threads;
    Ok(step)
}

/// Figures kept for one interval once its histograms are dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct IntervalSummary {
    responses: u64,
    errors: u64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
}

impl IntervalSummary {
    fn of(acc: &Accumulator) -> Self {
        let latency = &acc.latency;
        let quantile = |q| {
            if latency.is_empty() {
                0
            } else {
                latency.value_at_quantile(q)
            }
        };
        IntervalSummary {
            responses: acc.responses,
            errors: acc.errors_total(),
            p50_us: quantile(0.5),
            p99_us: quantile(0.99),
            max_us: if latency.is_empty() { 0 } else { latency.max() },
        }
    }
}

/// Per-interval merging with bounded memory: the histograms of the last few
/// intervals stay open for reports from every thread; older intervals are
/// reduced to their summary. (Keeping every interval's histogram, about
/// 190 KB each, grew the generator by ~35 MB over a 200 s step.)
struct IntervalWindow {
    open_model: bool,
    open: BTreeMap<u32, Accumulator>,
    closed: BTreeMap<u32, IntervalSummary>,
    newest: u32,
}

/// Intervals this far behind the newest report are closed. Threads tick on
/// the same boundaries, so a thread's report is never that late unless its
/// core was starved for seconds; such a late report still adds its counts
/// and maximum exactly, but cannot change the closed percentiles.
const OPEN_INTERVALS: u32 = 5;

impl IntervalWindow {
    fn new(open_model: bool) -> Self {
        IntervalWindow {
            open_model,
            open: BTreeMap::new(),
            closed: BTreeMap::new(),
            newest: 0,
        }
    }

    fn add(&mut self, index: u32, acc: &Accumulator) {
        if let Some(summary) = self.closed.get_mut(&index) {
            summary.responses += acc.responses;
            summary.errors += acc.errors_total();
            summary.max_us = summary.max_us.max(if acc.latency.is_empty() {
                0
            } else {
                acc.latency.max()
            });
            return;
        }
        let open_model = self.open_model;
        self.open
            .entry(index)
            .or_insert_with(|| Accumulator::new(open_model))
            .merge(acc);
        self.newest = self.newest.max(index);
        while let Some((&oldest, _)) = self.open.first_key_value() {
            if oldest + OPEN_INTERVALS > self.newest {
                break;
            }
            if let Some((index, acc)) = self.open.pop_first() {
                self.closed.insert(index, IntervalSummary::of(&acc));
            }
        }
    }

    fn finish(mut self) -> BTreeMap<u32, IntervalSummary> {
        while let Some((index, acc)) = self.open.pop_first() {
            self.closed.insert(index, IntervalSummary::of(&acc));
        }
        self.closed
    }
}

#[allow(clippy::too_many_arguments)] // one call site; each argument is a distinct piece of the step
fn assemble_step(
    plan: &StepPlan,
    open_model: bool,
    total: Accumulator,
    warmup: Accumulator,
    intervals: IntervalWindow,
    duration: Duration,
    wall_measure_start: SystemTime,
    completed: bool,
) -> Step {
    let interval_s = plan.interval.as_secs_f64();
    let duration_s = duration.as_secs_f64();
    let intervals = intervals.finish();
    let last_index = intervals.keys().next_back().copied().unwrap_or(0);
    let count = ((duration_s / interval_s).ceil() as u32).max(last_index + 1);
    let mut samples = Vec::with_capacity(count as usize);
    for index in 0..count {
        let offset_s = f64::from(index) * interval_s;
        let summary = intervals.get(&index).copied().unwrap_or_default();
        samples.push(Interval {
            offset_s,
            duration_s: interval_s.min((duration_s - offset_s).max(0.0)),
            responses: summary.responses,
            errors: summary.errors,
            p50_us: summary.p50_us,
            p99_us: summary.p99_us,
            max_us: summary.max_us,
        });
    }
    let warmup_record = (!plan.warmup.is_zero()).then(|| Warmup {
        duration_s: plan.warmup.as_secs_f64(),
        outcomes: warmup.outcome_counts(),
        latency_us: warmup.latency.clone(),
    });
    let mut error_examples = warmup.error_examples();
    error_examples.extend(total.error_examples());
    Step {
        concurrency: plan.connections,
        target_rate_per_s: match &plan.pacing {
            Pacing::Closed => None,
            Pacing::Open { rate_per_s } => Some(*rate_per_s),
            Pacing::Ramp(ramp) => Some(ramp.mean_rate()),
        },
        started_at: humantime::format_rfc3339_millis(wall_measure_start).to_string(),
        duration_s,
        completed,
        outcomes: total.outcome_counts(),
        achieved_rate_per_s: if duration_s > 0.0 {
            total.responses as f64 / duration_s
        } else {
            0.0
        },
        latency_us: total.latency.clone(),
        uncorrected_latency_us: if open_model {
            total.uncorrected.clone()
        } else {
            None
        },
        schedule_lag_us: if open_model { total.lag.clone() } else { None },
        warmup: warmup_record,
        intervals: samples,
        error_examples,
        generator_cpu_s: 0.0,
        generator_wall_s: 0.0,
        generator_threads: 0,
        resources: None,
        param_value: None,
        stages: Vec::new(),
        workers: Vec::new(),
        custom: Vec::new(),
        phases: None,
        checks: Vec::new(),
    }
}

fn generator_thread<D: Driver>(
    driver: Arc<D>,
    plan: ThreadPlan,
    timeline: Timeline,
    control: Control,
    tx: mpsc::Sender<Report>,
    open_model: bool,
) {
    // A multiplexing driver carries `streams` workers on each connection.
    let streams = driver.streams().max(1);
    let state = Rc::new(ThreadState {
        warmup: RefCell::new(Accumulator::new(open_model)),
        interval: RefCell::new(Accumulator::new(open_model)),
        interval_index: Cell::new(0),
        last_completion: Cell::new(None),
        next_op: Cell::new(0),
        quota_left: Cell::new(plan.quota),
        live_workers: Cell::new(plan.connections * streams),
        send_clock: RefCell::new(None),
        on_last_worker: RefCell::new(Vec::new()),
    });
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            state.interval.borrow_mut().record_error(OpError::new(
                ErrorKind::Io,
                format!("generator thread {} has no runtime: {e}", plan.index),
            ));
            finish(&state, &tx);
            return;
        }
    };
    // The LocalSet is itself the future run to completion: it ends when every
    // task on it has ended. (A supervising future passed to `block_on` would
    // be re-polled on every task wake-up, a cost paid per request.)
    let local = tokio::task::LocalSet::new();
    // The open model's send clock lives on this thread's event loop (a
    // clock that cannot start leaves the sends on tokio's timer).
    let dispatcher = if plan.schedule.is_some() {
        let _runtime = runtime.enter();
        SendClock::new().ok().map(|clock| {
            *state.send_clock.borrow_mut() = Some(clock.clone());
            local.spawn_local(clock.dispatch())
        })
    } else {
        None
    };
    let mut workers = Vec::with_capacity((plan.connections * streams) as usize);
    for _ in 0..plan.connections {
        let shared = (streams > 1).then(SharedConn::new);
        for _ in 0..streams {
            workers.push(local.spawn_local(worker(
                driver.clone(),
                state.clone(),
                plan.clone(),
                timeline,
                control.clone(),
                shared.clone(),
            )));
        }
    }
    let ticker = local.spawn_local(ticker(
        state.clone(),
        plan.interval,
        timeline.measure_start,
        tx.clone(),
    ));
    let supervisor = local.spawn_local(supervise(
        control.clone(),
        STOP_GRACE.min(plan.timeout),
        workers,
        ticker.abort_handle(),
    ));
    let mut helpers = vec![ticker.abort_handle(), supervisor.abort_handle()];
    helpers.extend(dispatcher.map(|d| d.abort_handle()));
    *state.on_last_worker.borrow_mut() = helpers;
    runtime.block_on(local);
    finish(&state, &tx);
}

/// Sends the thread's last partial interval and its warm-up span.
fn finish(state: &ThreadState, tx: &mpsc::Sender<Report>) {
    let acc = state.interval.borrow_mut().take();
    if !acc.is_empty() {
        let _ = tx.send(Report::Interval {
            index: state.interval_index.get(),
            acc,
        });
    }
    let warmup = state.warmup.borrow_mut().take();
    let _ = tx.send(Report::Finished {
        warmup,
        last_completion: state.last_completion.get(),
        cpu: thread_cpu_time(),
    });
}

/// CPU time (user + system) used so far by the calling thread.
fn thread_cpu_time() -> Duration {
    #[cfg(target_os = "linux")]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage writes a rusage into the valid pointer it is given.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
        if rc == 0 {
            // SAFETY: getrusage succeeded, so the struct is initialised.
            let usage = unsafe { usage.assume_init() };
            let tv = |t: libc::timeval| {
                Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.max(0) as u32) * 1000)
            };
            return tv(usage.ru_utime) + tv(usage.ru_stime);
        }
    }
    Duration::ZERO
}

/// Ships one snapshot per interval boundary.
async fn ticker(
    state: Rc<ThreadState>,
    interval: Duration,
    measure_start: Instant,
    tx: mpsc::Sender<Report>,
) {
    loop {
        let index = state.interval_index.get();
        let boundary = measure_start + interval * (index + 1);
        tokio::time::sleep_until(boundary.into()).await;
        let acc = state.interval.borrow_mut().take();
        state.interval_index.set(index + 1);
        if !acc.is_empty() && tx.send(Report::Interval { index, acc }).is_err() {
            return;
        }
    }
}

/// Sleeps until `at`, waking regularly to honour a stop request. Returns false if stopped.
async fn wait_until(at: Instant, control: &Control) -> bool {
    loop {
        let now = Instant::now();
        if now >= at {
            return true;
        }
        if control.is_stopped() {
            return false;
        }
        tokio::time::sleep_until((at.min(now + WAIT_SLICE)).into()).await;
    }
}

/// How far ahead of a send the coarse (tokio) wait hands over to the
/// send clock.
const PRECISE_SPAN: Duration = Duration::from_millis(3);

/// Waits for an open-model send time: tokio's timer (in stop-aware slices)
/// until shortly before it, then the thread's send clock, so the send goes
/// out one event-loop wake-up after `at`, never before. Returns false if
/// stopped.
async fn wait_until_due(at: Instant, control: &Control, timer: Option<&SendClock>) -> bool {
    let Some(timer) = timer else {
        return wait_until(at, control).await;
    };
    if let Some(coarse) = at.checked_sub(PRECISE_SPAN) {
        if !wait_until(coarse, control).await {
            return false;
        }
    }
    if Instant::now() < at {
        timer.sleep_until(at).await;
    }
    !control.is_stopped()
}

/// Takes one call's operations from the thread's measured-operation quota; false when spent.
fn take_quota(state: &ThreadState, batch: u32) -> bool {
    match state.quota_left.get() {
        None => true,
        Some(0) => false,
        Some(n) => {
            state
                .quota_left
                .set(Some(n.saturating_sub(u64::from(batch.max(1)))));
            true
        }
    }
}

/// One connection's loop (one stream's, for a multiplexing driver): pick
/// the next operation, run it, record it.
async fn worker<D: Driver>(
    driver: Arc<D>,
    state: Rc<ThreadState>,
    plan: ThreadPlan,
    timeline: Timeline,
    control: Control,
    shared: Option<Rc<SharedConn<D::Conn>>>,
) {
    let mut conn: Option<D::Conn> = None;
    let mut connect_failures = 0u32;
    let batch = driver.batch().max(1);
    let has_phases = driver.has_phases();
    let checks = driver.checks().filter(|c| !c.is_empty());
    let watchdog = tokio::time::sleep(plan.timeout);
    tokio::pin!(watchdog);
    // Every thread starts on the same instant, so no operation predates the
    // step (an early one would be misfiled as warm-up).
    let started = wait_until(timeline.start, &control).await;
    loop {
        if !started || control.is_stopped() {
            break;
        }
        // Decide when the next operation starts and whether it is measured.
        let intended = match &plan.schedule {
            None => None,
            Some(schedule) => {
                let k = state.next_op.get();
                state.next_op.set(k + 1);
                match schedule.due(k) {
                    Some(due) => timeline.start.checked_add(due),
                    // The ramp is over.
                    None => break,
                }
            }
        };
        let now = Instant::now();
        let start_at = intended.unwrap_or(now);
        if timeline
            .measure_end
            .is_some_and(|end| start_at >= end || now >= end)
        {
            break;
        }
        let measured = start_at >= timeline.measure_start;
        if measured && !take_quota(&state, batch) {
            break;
        }
        if let Some(at) = intended {
            let clock = state.send_clock.borrow().clone();
            if !wait_until_due(at, &control, clock.as_ref()).await {
                break;
            }
        }
        // Closed model: the clock read above is the send time (one read fewer per request).
        let sent = if intended.is_some() {
            Instant::now()
        } else {
            now
        };
        let mut connected = None;
        let result = attempt(
            &*driver,
            &mut conn,
            shared.as_deref(),
            plan.timeout,
            sent,
            watchdog.as_mut(),
            &mut connected,
        )
        .await;
        let done = Instant::now();
        let target = if measured {
            &state.interval
        } else {
            &state.warmup
        };
        if let (true, Some(took)) = (has_phases, connected) {
            target.borrow_mut().record_connect(took);
        }
        match result {
            Ok(response) => {
                connect_failures = 0;
                let mut acc = target.borrow_mut();
                acc.record_response(&response, intended, sent, done, batch);
                if let Some(info) = conn.as_mut().filter(|_| has_phases).and_then(|c| c.info()) {
                    // Phases that start at the send run, in the open model,
                    // from the intended start, as the latency does.
                    let origin = intended.unwrap_or(sent);
                    if let (Some(checks), Some(first)) = (checks, info.first_byte) {
                        checks
                            .judge_ttfb(first.saturating_duration_since(origin), &mut info.verdict);
                    }
                    acc.record_call(&response, info, origin, checks.map_or(0, |c| c.len()));
                }
                drop(acc);
                if !response.keep_alive {
                    conn = None;
                }
            }
            Err(error) => {
                conn = None;
                let is_connect = error.kind == ErrorKind::Connect;
                target.borrow_mut().record_error(error);
                if is_connect {
                    // Back off against a target that refuses connections, so the
                    // generator does not spin; 10 ms doubling up to 1 s.
                    connect_failures += 1;
                    let backoff = Duration::from_millis(10u64 << connect_failures.min(7))
                        .min(Duration::from_secs(1));
                    if !wait_until(Instant::now() + backoff, &control).await {
                        break;
                    }
                }
            }
        }
        if measured {
            state.last_completion.set(Some(done));
        }
    }
    let left = state.live_workers.get() - 1;
    state.live_workers.set(left);
    if left == 0 {
        for task in state.on_last_worker.borrow_mut().drain(..) {
            task.abort();
        }
    }
}

/// One connection carried by several workers (a multiplexing driver's
/// streams): the handle they open their streams from, and whether one of
/// them is connecting it now (so a dropped connection is replaced by one
/// new connection, not one per stream).
struct SharedConn<C> {
    handle: RefCell<Option<C>>,
    connecting: Cell<bool>,
    connected: tokio::sync::Notify,
}

impl<C> SharedConn<C> {
    fn new() -> Rc<Self> {
        Rc::new(SharedConn {
            handle: RefCell::new(None),
            connecting: Cell::new(false),
            connected: tokio::sync::Notify::new(),
        })
    }
}

/// Ends a worker's turn at connecting a shared connection, however it
/// ends (connected, failed, or abandoned at the timeout), and wakes the
/// workers waiting for it.
struct ConnectingTurn<'a, C>(&'a SharedConn<C>);

impl<C> Drop for ConnectingTurn<'_, C> {
    fn drop(&mut self) {
        self.0.connecting.set(false);
        self.0.connected.notify_waiters();
    }
}

/// A connection handle for one worker: a connection of its own, or a
/// stream on the connection its group shares (connecting that connection
/// when it is missing or closed and no other worker of the group is).
async fn open<D: Driver>(
    driver: &D,
    shared: Option<&SharedConn<D::Conn>>,
    connected: &mut Option<Duration>,
) -> Result<D::Conn, OpError> {
    let Some(shared) = shared else {
        return timed_connect(driver, connected).await;
    };
    loop {
        // Registered before the checks, so a connect that ends between
        // them and the wait still wakes this worker.
        let connected = shared.connected.notified();
        tokio::pin!(connected);
        connected.as_mut().enable();
        let stream = shared
            .handle
            .borrow()
            .as_ref()
            .and_then(|c| driver.open_stream(c));
        if let Some(stream) = stream {
            return Ok(stream);
        }
        if !shared.connecting.get() {
            break;
        }
        connected.await;
    }
    shared.connecting.set(true);
    let _turn = ConnectingTurn(shared);
    let conn = timed_connect(driver, connected).await?;
    *shared.handle.borrow_mut() = driver.open_stream(&conn);
    Ok(conn)
}

/// Opens a connection, noting how long it took when it opened.
async fn timed_connect<D: Driver>(
    driver: &D,
    connected: &mut Option<Duration>,
) -> Result<D::Conn, OpError> {
    let began = Instant::now();
    let conn = driver.connect().await?;
    *connected = Some(began.elapsed());
    Ok(conn)
}

/// After a stop request, gives operations in flight `grace` to finish, then
/// abandons them. Aborted by the last worker when the step ends normally.
async fn supervise(
    control: Control,
    grace: Duration,
    workers: Vec<tokio::task::JoinHandle<()>>,
    ticker: tokio::task::AbortHandle,
) {
    while !control.is_stopped() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(grace).await;
    // Aborted workers never reach their exit code, so stop the ticker here too.
    ticker.abort();
    for worker in workers {
        worker.abort();
    }
}

/// Runs one operation within the timeout, connecting first when needed.
///
/// `watchdog` is the connection's own timer, kept armed across operations: a
/// timer per operation would enter and leave tokio's timer wheel on every
/// request, one of the larger costs of a closed loop. When the watchdog
/// fires before this operation's deadline (it was armed for an earlier
/// one), it is re-armed; so it is touched about once per timeout period.
async fn attempt<D: Driver>(
    driver: &D,
    conn: &mut Option<D::Conn>,
    shared: Option<&SharedConn<D::Conn>>,
    timeout: Duration,
    started: Instant,
    mut watchdog: std::pin::Pin<&mut tokio::time::Sleep>,
    connected: &mut Option<Duration>,
) -> Result<crate::Response, OpError> {
    let deadline = started + timeout;
    if watchdog.deadline().into_std() > deadline {
        watchdog.as_mut().reset(deadline.into());
    }
    let work = async {
        if conn.is_none() {
            *conn = Some(open(driver, shared, connected).await?);
        }
        match conn.as_mut() {
            Some(c) => c.call().await,
            None => Err(OpError::new(
                ErrorKind::Io,
                "connection missing after connect",
            )),
        }
    };
    tokio::pin!(work);
    loop {
        tokio::select! {
            biased;
            result = &mut work => return result,
            () = watchdog.as_mut() => {
                if Instant::now() >= deadline {
                    return Err(OpError::new(
                        ErrorKind::Timeout,
                        format!("no complete response within {}", humantime::format_duration(timeout)),
                    ));
                }
                watchdog.as_mut().reset(deadline.into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Response;

    fn acc_with(latencies_us: &[u64]) -> Accumulator {
        let mut acc = Accumulator::new(false);
        let t = Instant::now();
        for &us in latencies_us {
            let response = Response {
                status: 200,
                bytes: 0,
                keep_alive: true,
            };
            acc.record_response(&response, None, t, t + Duration::from_micros(us), 1);
        }
        acc
    }

    #[test]
    fn interval_window_merges_threads_and_keeps_memory_bounded() {
        let mut window = IntervalWindow::new(false);
        for index in 0..50u32 {
            // two threads per interval: their union has p50 = 100 µs, max = 900 µs
            window.add(index, &acc_with(&[100, 100, 100]));
            window.add(index, &acc_with(&[100, 900]));
            assert!(
                window.open.len() <= OPEN_INTERVALS as usize,
                "{} open",
                window.open.len()
            );
        }
        // a report far too late still adds its counts and maximum
        window.add(3, &acc_with(&[5_000]));
        let closed = window.finish();
        assert_eq!(closed.len(), 50);
        let first = closed[&0];
        assert_eq!((first.responses, first.p50_us, first.max_us), (5, 100, 900));
        let late = closed[&3];
        assert_eq!((late.responses, late.max_us), (6, 5_003)); // 3 significant digits: bucket top
    }
}
