//! The `Run` record: everything one scalewall invocation asked for and measured.
//!
//! This crate is data only: serde types, no I/O and no async runtime. The load
//! engine fills a [`Run`], and every later stage (summaries, fits, storage,
//! comparison, rendering) reads only this record, so a report can always be
//! re-rendered from a stored run. The JSON form carries [`SCHEMA_VERSION`];
//! bump it whenever a field changes meaning or is removed.

#![deny(missing_docs)]

pub mod health;
mod histogram;
pub mod json_path;

pub use histogram::{HistogramError, LatencyHistogram};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the serialised [`Run`] document.
///
/// - 1: the first.
/// - 2: `system_health` is the typed [`health::Snapshot`] (in version 1 it
///   was the same document, typed only by the probe crate); version-1
///   records load unchanged.
pub const SCHEMA_VERSION: u32 = 2;

/// One invocation of scalewall: what was asked, where, when, and every step measured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
pub struct Run {
    /// Version of this document's schema ([`SCHEMA_VERSION`] when written).
    pub schema_version: u32,
    /// Unique id of the run (time-ordered).
    pub id: String,
    /// The tool that produced the record.
    pub tool: ToolInfo,
    /// Wall-clock start, RFC 3339 (UTC).
    pub started_at: String,
    /// Wall-clock end, RFC 3339 (UTC); empty while the run is in progress.
    pub finished_at: String,
    /// How the run ended.
    pub status: RunStatus,
    /// The machine that generated the load.
    pub host: HostInfo,
    /// One entry per load scenario (a target with its options).
    pub scenarios: Vec<Scenario>,
    /// The name of the system measured (from the config; `host` for the
    /// default job). Runs are compared with earlier runs of the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The probe snapshot taken before the load (host, processes, services,
    /// health checks, GPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_health: Option<health::Snapshot>,
    /// What the run found: threshold breaches and failed checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// The metrics that had thresholds (breaches are in `findings`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds_checked: Vec<String>,
    /// The files the run's job wrote (reports, the history database).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<String>,
    /// The capacity plan as it stood when the run was made (it depends on
    /// the config and the history of that moment), so a report rendered
    /// again shows it unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanRecord>,
}

/// A run's capacity plan, as its reports showed it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct PlanRecord {
    /// The `## Capacity plan` section (Markdown).
    pub markdown: String,
    /// The headline driver (the utilisation chart's x axis).
    pub driver: String,
    /// Per component: (driver value, utilisation %) from today through the scales.
    pub utilisation: Vec<(String, Vec<(f64, f64)>)>,
    /// The plan's JSON (as the JSON report's `plan`).
    pub json: serde_json::Value,
}

/// How much a finding matters.
#[derive(
    Debug,
    Clone,
    Copy,
    Serialize,
    Deserialize,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    schemars::JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Worth knowing.
    Low,
    /// Worth a look soon.
    Medium,
    /// Needs attention.
    High,
    /// Broken now.
    Critical,
}

/// One thing a run found, with its evidence.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// The metric or check it is about (e.g. `api.p99_ms`, `health.api`).
    pub subject: String,
    /// One sentence: what was found.
    pub message: String,
    /// The measurement behind it (e.g. `p99 142.3 ms > critical 100 ms`).
    pub evidence: String,
    /// What to do about it, with the measured figure in it (e.g. "bring
    /// api.p99_ms back under 100 ms (now 142.3 ms) …"); empty in records
    /// written before findings carried one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

/// Name and version of the tool that wrote a [`Run`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct ToolInfo {
    /// Always `scalewall`.
    pub name: String,
    /// The crate version.
    pub version: String,
}

/// How a run ended.
#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every step ran to its planned end.
    #[default]
    Completed,
    /// Stopped early by the user (Ctrl-C); what was measured is kept.
    Interrupted,
    /// Stopped by an error; what was measured before it is kept.
    Failed,
}

/// Facts about the load-generating host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct HostInfo {
    /// Host name.
    pub hostname: String,
    /// Operating system family (e.g. `linux`).
    pub os: String,
    /// Kernel release (e.g. `6.1.0-18-amd64`).
    pub kernel: String,
    /// CPU architecture (e.g. `x86_64`).
    pub arch: String,
    /// Logical CPUs available to the process.
    pub cores: u32,
    /// Physical memory in bytes (0 when unknown).
    pub memory_bytes: u64,
}

/// A target and how it was loaded, with the steps measured against it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
pub struct Scenario {
    /// Stable name used in metric names (`<scenario>.p99_ms`).
    pub name: String,
    /// Target URL with any credentials removed.
    pub target: String,
    /// Protocol driver that produced the operations (e.g. `http1`, `http2`).
    pub protocol: String,
    /// The resolved options the load ran with.
    pub options: LoadOptions,
    /// Steps in the order they ran (one for `bench`, one per level for `sweep`).
    pub steps: Vec<Step>,
    /// What the target is known to do, when it is a target with a known
    /// answer (the built-in one): the figures the measurement is checked
    /// against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_answer: Option<KnownAnswer>,
    /// What a search found, when the scenario searched its levels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchRecord>,
}
/// What a search found (`sweep --until-peak`, `sweep --slo`, a config's
/// `kind = "capacity"`); every level it measured is a step of the scenario.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct SearchRecord {
    /// `until_peak` (the USL peak, bracketed by measured levels) or
    /// `capacity` (the highest level that meets every SLO).
    pub kind: String,
    /// `closed` (levels are connections) or `open` (levels are arrival rates).
    pub model: String,
    /// The service level objectives, as written (`p99<50ms`).
    #[serde(default)]
    pub slos: Vec<String>,
    /// The answer: the capacity, or the fitted N*.
    pub value: Option<f64>,
    /// The measured level below it: the last that met every SLO, or the
    /// level just below N*.
    pub low: Option<f64>,
    /// The measured level above it: the first that broke an SLO, or the
    /// level just above N*.
    pub high: Option<f64>,
    /// The levels' unit: `connections`, or the rate's (`req/s`, `ops/s`).
    pub unit: String,
    /// What broke at `high` (`p99 11.2 ms ≥ the bound of p99<11ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limited_by: Option<String>,
    /// The answer in one sentence, with why the search stopped.
    pub verdict: String,
}

/// The known behaviour of a target whose scaling curve is set in advance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct KnownAnswer {
    /// The model, in words (e.g. the hold-time formula).
    pub model: String,
    /// Throughput the model gives at each step's concurrency, operations
    /// per second (one per step, in step order).
    pub throughput_per_s: Vec<f64>,
    /// The concurrency where the model's throughput peaks (USL N*), if any.
    pub peak_concurrency: Option<f64>,
    /// How far a measurement may stray and still agree, as a share (0.1 = ±10 %).
    pub tolerance: f64,
}

/// Resolved load options: everything needed to repeat a step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
pub struct LoadOptions {
    /// HTTP method (or the protocol's operation name).
    pub method: String,
    /// Request header names sent (values are not stored: they may hold secrets).
    pub header_names: Vec<String>,
    /// Request body size in bytes.
    pub body_bytes: u64,
    /// Concurrent connections (closed model) or the connection pool (open model).
    pub connections: u32,
    /// Open-model target rate in operations per second; `None` for the closed model.
    pub rate_per_s: Option<f64>,
    /// Planned measured duration in seconds, when the step is time-bound.
    pub duration_s: Option<f64>,
    /// Planned number of measured operations, when the step is count-bound.
    pub requests: Option<u64>,
    /// Warm-up before measurement, seconds.
    pub warmup_s: f64,
    /// Per-operation timeout, seconds.
    pub timeout_s: f64,
    /// Event-loop threads used by the generator.
    pub threads: u32,
    /// Sweeps: the concurrency levels stepped through (empty for a single step).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub concurrency_levels: Vec<u32>,
    /// Driver options other than HTTP's (e.g. `pipeline`, `command`,
    /// `message_bytes`, `query`, `nats_mode`, `exec`, `param.size`), as text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub protocol_options: BTreeMap<String, String>,
}

/// Counts by outcome for a span of operations.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct OutcomeCounts {
    /// Operations that completed with a response (any status).
    pub responses: u64,
    /// Responses by status code (HTTP status; protocols without one use 0).
    pub status_codes: BTreeMap<u16, u64>,
    /// Errors by kind ([`ErrorKind::as_str`] names). Status 4xx/5xx appear here too.
    pub errors: BTreeMap<String, u64>,
    /// Response bytes received: HTTP/1.1 counts the head and body as on the
    /// wire; HTTP/2 counts body bytes only (headers are HPACK-compressed).
    pub bytes_received: u64,
}

impl OutcomeCounts {
    /// Total errors of every kind.
    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Operations attempted that ended one way or another: responses plus
    /// transport errors (status errors are responses and are not counted twice).
    pub fn operations(&self) -> u64 {
        self.responses + self.transport_errors()
    }

    /// Errors that produced no response (connect, timeout, reset, protocol, …).
    pub fn transport_errors(&self) -> u64 {
        self.errors
            .iter()
            .filter(|(kind, _)| !ErrorKind::is_response_error_name(kind))
            .map(|(_, n)| n)
            .sum()
    }

    /// Adds another span's counts into this one.
    pub fn merge(&mut self, other: &OutcomeCounts) {
        self.responses += other.responses;
        self.bytes_received += other.bytes_received;
        for (code, n) in &other.status_codes {
            *self.status_codes.entry(*code).or_default() += n;
        }
        for (kind, n) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += n;
        }
    }
}

/// Why an operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// Could not open a connection (refused, unreachable, DNS).
    Connect,
    /// TLS handshake or certificate failure.
    Tls,
    /// No complete response within the timeout.
    Timeout,
    /// The peer reset or closed the connection mid-operation.
    Reset,
    /// HTTP/2: the server sent GOAWAY, so the request on its stream was
    /// never taken (the connection is being closed).
    GoAway,
    /// HTTP/2: the server reset this request's stream (RST_STREAM); the
    /// connection stays open.
    StreamReset,
    /// The peer sent bytes that do not parse as the protocol.
    Protocol,
    /// A response with a 4xx status.
    Status4xx,
    /// A response with a 5xx status.
    Status5xx,
    /// Any other I/O failure.
    Io,
    /// The server refused the credentials, or the database/user does not exist.
    Auth,
    /// The server answered the operation with an error: a Redis `-ERR`, a
    /// PostgreSQL error, a NATS `-ERR` or no responders, a command's non-zero exit.
    ServerError,
    /// A response that failed one of the scenario's checks (`--check`):
    /// a response was received, as for the status classes.
    Check,
}

impl ErrorKind {
    /// Every kind, in reporting order.
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::Connect,
        ErrorKind::Tls,
        ErrorKind::Timeout,
        ErrorKind::Reset,
        ErrorKind::GoAway,
        ErrorKind::StreamReset,
        ErrorKind::Protocol,
        ErrorKind::Status4xx,
        ErrorKind::Status5xx,
        ErrorKind::Io,
        ErrorKind::Auth,
        ErrorKind::ServerError,
        ErrorKind::Check,
    ];

    /// Stable name used in the record and in metric names.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::GoAway => "goaway",
            ErrorKind::StreamReset => "stream_reset",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Status4xx => "status_4xx",
            ErrorKind::Status5xx => "status_5xx",
            ErrorKind::Io => "io",
            ErrorKind::Auth => "auth",
            ErrorKind::ServerError => "server_error",
            ErrorKind::Check => "check",
        }
    }

    /// Whether the named kind is an error that came with a response (a
    /// status class, a failed check): counted among the responses too.
    pub fn is_response_error_name(name: &str) -> bool {
        name == ErrorKind::Status4xx.as_str()
            || name == ErrorKind::Status5xx.as_str()
            || name == ErrorKind::Check.as_str()
    }
}

/// One measured step: a fixed load (concurrency or rate) held for a while.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
pub struct Step {
    /// Concurrent connections during the step.
    pub concurrency: u32,
    /// Open-model target rate (operations/s); `None` for the closed model.
    pub target_rate_per_s: Option<f64>,
    /// Wall-clock start of measurement (after warm-up), RFC 3339.
    pub started_at: String,
    /// Measured seconds (warm-up excluded), by the monotonic clock: until
    /// the last response, or for a time-bound open-model step its scheduled
    /// window (the responses to operations sent in it count however late).
    pub duration_s: f64,
    /// Whether the step ran to its planned end (false when interrupted).
    pub completed: bool,
    /// Outcomes of the measured operations.
    pub outcomes: OutcomeCounts,
    /// Responses per second over the measured span.
    pub achieved_rate_per_s: f64,
    /// Latency of every measured response, in microseconds. For the open
    /// model this is measured from each operation's *intended* start
    /// (coordinated-omission corrected).
    pub latency_us: LatencyHistogram,
    /// Open model only: latency from the moment each request was actually sent.
    pub uncorrected_latency_us: Option<LatencyHistogram>,
    /// Open model only: how far behind schedule requests were sent, microseconds.
    pub schedule_lag_us: Option<LatencyHistogram>,
    /// Warm-up span: measured, kept, excluded from the figures above.
    pub warmup: Option<Warmup>,
    /// Per-interval samples (default one per second) for comparisons and charts.
    pub intervals: Vec<Interval>,
    /// The first message seen for each error kind, so a count has a cause.
    #[serde(default)]
    pub error_examples: BTreeMap<String, String>,
    /// CPU time (user + system) the generator threads used over the whole
    /// step, warm-up included, seconds.
    #[serde(default)]
    pub generator_cpu_s: f64,
    /// Wall time of the whole step, warm-up included, seconds.
    #[serde(default)]
    pub generator_wall_s: f64,
    /// Generator threads the step ran on.
    #[serde(default)]
    pub generator_threads: u32,
    /// What the step cost the host and the target process, when probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<StepResources>,
    /// A sweep of an `--exec` parameter: the value this step ran with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param_value: Option<f64>,
    /// A ramping arrival rate (`--stages`): the result of each stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageResult>,
    /// A distributed step: each worker's share and its own figures (the
    /// step's figures above are every worker's, merged exactly).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<WorkerShare>,
    /// Custom metrics read as the step ended (`during_load = true`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<health::CustomReading>,
    /// HTTP: the phases of each response (connect, first byte, streamed
    /// events), each its own histogram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<Phases>,
    /// The scenario's checks (`--check`): how many responses each failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckResult>,
}

/// The phases of a step's responses, microseconds. Phases that start at
/// the send (first byte, first event) are measured, in the open model,
/// from each request's intended start (coordinated-omission corrected),
/// as the latency is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
pub struct Phases {
    /// Opening a new connection (TCP, TLS, HTTP/2 handshake): one value
    /// per connection opened, not per request.
    pub connect_us: LatencyHistogram,
    /// From the send to the response's first byte (HTTP/2: its head).
    pub ttfb_us: LatencyHistogram,
    /// Streamed responses (`--stream`): from the send to the first event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_event_us: Option<LatencyHistogram>,
    /// Streamed responses: the time between consecutive events of one
    /// response, one value per gap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_gap_us: Option<LatencyHistogram>,
    /// Streamed responses: events counted in each response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_per_response: Option<LatencyHistogram>,
    /// Streamed responses: events received in the step, every response.
    #[serde(default)]
    pub events: u64,
}

fn merge_optional(mine: &mut Option<LatencyHistogram>, theirs: &Option<LatencyHistogram>) {
    if let Some(theirs) = theirs {
        mine.get_or_insert_with(LatencyHistogram::new).merge(theirs);
    }
}

impl Phases {
    /// Adds another part's phases (a generator thread's, a worker's):
    /// the histograms add exactly and the event counts sum.
    pub fn merge(&mut self, other: &Phases) {
        self.connect_us.merge(&other.connect_us);
        self.ttfb_us.merge(&other.ttfb_us);
        merge_optional(&mut self.first_event_us, &other.first_event_us);
        merge_optional(&mut self.event_gap_us, &other.event_gap_us);
        merge_optional(&mut self.events_per_response, &other.events_per_response);
        self.events += other.events;
    }
}

/// Adds another part's check counts to `into`, check by check (matched
/// by the check's text; one `into` lacks joins at the end). The first
/// failure shown stays the first part's that had one.
pub fn merge_checks(into: &mut Vec<CheckResult>, other: &[CheckResult]) {
    for theirs in other {
        match into.iter_mut().find(|mine| mine.check == theirs.check) {
            Some(mine) => {
                mine.evaluated += theirs.evaluated;
                mine.failed += theirs.failed;
                if mine.first_failure.is_none() {
                    mine.first_failure.clone_from(&theirs.first_failure);
                }
            }
            None => into.push(theirs.clone()),
        }
    }
}

/// One check of a scenario and how its responses fared.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct CheckResult {
    /// The check as written (`status=200`, `json $.ok == true`).
    pub check: String,
    /// Responses it was evaluated on.
    pub evaluated: u64,
    /// Responses that failed it.
    pub failed: u64,
    /// What the first failing response showed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<String>,
}

/// One worker's part of a distributed step: what it was given and what
/// it measured, so an overloaded, distant or lost worker is visible.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct WorkerShare {
    /// The worker's name.
    pub name: String,
    /// Connections it was given.
    pub connections: u32,
    /// Open model: the rate it was given, operations per second.
    pub rate_per_s: Option<f64>,
    /// Responses it measured.
    pub responses: u64,
    /// Its errors, every kind.
    pub errors_total: u64,
    /// Its latency percentiles, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest response.
    pub max_ms: f64,
    /// Every response it measured, microseconds: the step's histogram is
    /// the sum of its workers'.
    pub latency_us: LatencyHistogram,
    /// CPU its generator threads used, seconds (a lost worker: its process
    /// CPU up to its last snapshot).
    pub generator_cpu_s: f64,
    /// Its generator threads were more than 90 % busy: its figures may
    /// be the generator's limit, not the target's.
    pub generator_bound: bool,
    /// Its clock against the coordinator's, milliseconds (worker minus
    /// coordinator), and that estimate's uncertainty.
    pub clock_offset_ms: f64,
    /// ± this, milliseconds.
    pub clock_uncertainty_ms: f64,
    /// Interval snapshots received from it.
    pub snapshots: u64,
    /// Why its share is missing from part of the step (it stopped
    /// answering, or failed); `None` when it ran to the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<String>,
}

/// One stage of a ramping arrival rate: what it intended and what it got.
/// Operations count in the stage in which they completed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct StageResult {
    /// Stage start, seconds since measurement began.
    pub offset_s: f64,
    /// Stage length, seconds.
    pub duration_s: f64,
    /// The intended rate at the stage's start, operations per second.
    pub from_rate_per_s: f64,
    /// The intended rate at its end.
    pub to_rate_per_s: f64,
    /// Operations the schedule intended in the stage.
    pub intended: f64,
    /// Outcomes of the operations that completed in it.
    pub outcomes: OutcomeCounts,
    /// Their latency from each one's intended start, microseconds.
    pub latency_us: LatencyHistogram,
}

/// Resources used while a step ran (warm-up included), from cumulative
/// counters read at the step's start and end, plus a time series.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct StepResources {
    /// Wall time between the two counter readings, seconds.
    pub wall_s: f64,
    /// When the first counter reading was taken (RFC 3339, milliseconds):
    /// the span `wall_s` covers starts here, a little before the step's
    /// measured part (its connections and warm-up are inside it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Host CPU-seconds used (busy ticks of every core).
    pub host_cpu_s: f64,
    /// Host CPU busy share over the step, 0–100 (all cores).
    pub host_cpu_busy_pct: f64,
    /// The target's process, when it runs on this host in another process.
    pub target: Option<ProcessCost>,
    /// Why the target's process is not measured, when it is not.
    pub target_note: Option<String>,
    /// Samples taken about once a second during the step.
    pub samples: Vec<ResourceSample>,
    /// How often this host's kernel found a listen queue full during the
    /// step (read when the target runs on this host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_queue: Option<ListenQueue>,
    /// CPU-seconds scalewall's own process (the load generator and its
    /// sampler) used over the same span: the host's CPU splits into the
    /// generator, the target and everything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_cpu_s: Option<f64>,
    /// An `--exec` step: what each operation's own process tree cost, from
    /// the kernel's accounting when it was reaped (`wait4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<CommandCost>,
}

/// What the operations of an `--exec` step cost, each its own process tree
/// (`sh -c` and what it waited for), as the kernel accounted it when the
/// process was reaped (`wait4`): warm-up operations included.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct CommandCost {
    /// Operations whose process was reaped and accounted.
    pub operations: u64,
    /// User plus system CPU-seconds of every operation, summed.
    pub cpu_s: f64,
    /// The largest peak resident set of any operation (its largest
    /// process), bytes.
    pub peak_rss_bytes: u64,
    /// The mean of the operations' peak resident sets, bytes.
    pub mean_peak_rss_bytes: f64,
    /// The generator's own peak resident set, bytes: Linux counts the
    /// memory of the process that spawned an operation as the operation's
    /// until it execs, so a peak at or below this floor says only that the
    /// operation was no larger (a difference between sizes still holds).
    #[serde(default)]
    pub generator_peak_rss_bytes: u64,
}

impl CommandCost {
    /// CPU milliseconds per operation.
    pub fn cpu_ms_per_operation(&self) -> f64 {
        if self.operations == 0 {
            0.0
        } else {
            self.cpu_s * 1000.0 / self.operations as f64
        }
    }
}

/// Where a step's host CPU went, in CPU-seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuSplit {
    /// scalewall's own process.
    pub generator_s: f64,
    /// The target's processes (0 when not measured).
    pub target_s: f64,
    /// Everything else on the host.
    pub other_s: f64,
}

/// A host busier than this (% of all cores) while the generator and the
/// target share it is the limit, not the target.
pub const HOST_SATURATED_PCT: f64 = 90.0;

/// A target using this share of the cores it may run on is CPU-bound.
pub const TARGET_CPU_BOUND_SHARE: f64 = 0.9;

impl StepResources {
    /// The host's CPU split into the generator, the target and the rest,
    /// when the generator's own CPU was read.
    pub fn cpu_split(&self) -> Option<CpuSplit> {
        let generator_s = self.generator_cpu_s?;
        let target_s = self.target.as_ref().map_or(0.0, |t| t.cpu_s);
        Some(CpuSplit {
            generator_s,
            target_s,
            // The counters are whole clock ticks: a difference below a
            // nanosecond is the floating-point residue of their sum, not CPU.
            other_s: Some(self.host_cpu_s - generator_s - target_s)
                .filter(|other| *other >= 1e-9)
                .unwrap_or(0.0),
        })
    }

    /// The host, not the target, limited the step: it was more than
    /// [`HOST_SATURATED_PCT`] busy while the generator and the target (a
    /// process measured on this host) shared it.
    pub fn host_saturated(&self) -> bool {
        self.target.is_some() && self.host_cpu_busy_pct > HOST_SATURATED_PCT
    }

    /// The target's CPU over the step in cores (1.0 = one core all along).
    pub fn target_cores_used(&self) -> Option<f64> {
        let t = self.target.as_ref()?;
        (self.wall_s > 0.0).then(|| t.cpu_s / self.wall_s)
    }

    /// The target used at least [`TARGET_CPU_BOUND_SHARE`] of the cores it
    /// may run on.
    pub fn target_cpu_bound(&self) -> bool {
        match (
            self.target_cores_used(),
            self.target.as_ref().and_then(|t| t.cores),
        ) {
            (Some(used), Some(cores)) if cores > 0.0 => used >= TARGET_CPU_BOUND_SHARE * cores,
            _ => false,
        }
    }
}

/// The kernel's listen-queue counters moved during a step (`TcpExt` in
/// `/proc/net/netstat`): connection attempts a server did not accept in
/// time. A dropped SYN is retried by the client after 1 s, so these show as
/// latencies of about a second.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct ListenQueue {
    /// `ListenOverflows`: a SYN or the final ACK arrived for a full accept queue.
    pub overflows: u64,
    /// `ListenDrops`: connection attempts dropped at a listening socket, for any reason.
    pub drops: u64,
}

/// What the target used during a step: a set of processes (the listeners
/// of its port and their descendants, a process tree, or a cgroup), summed.
/// Older records hold one process: their new fields are empty.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ProcessCost {
    /// The first process of the set (the listener, the named process, or
    /// the cgroup's first member).
    pub pid: i32,
    /// Its command name.
    pub name: String,
    /// CPU-seconds (user + system) the whole set used, members that exited
    /// during the step included.
    pub cpu_s: f64,
    /// Memory of the set at the start, bytes: the sum of the members'
    /// proportional set size (shared pages counted once) where readable,
    /// else of their RSS; see `memory`.
    pub rss_start_bytes: u64,
    /// Memory of the set at the end, bytes (as `rss_start_bytes`).
    pub rss_end_bytes: u64,
    /// How the set was chosen ("TCP port 8080: listeners and descendants").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selection: String,
    /// User-mode CPU-seconds.
    #[serde(default)]
    pub cpu_user_s: f64,
    /// Kernel-mode CPU-seconds.
    #[serde(default)]
    pub cpu_system_s: f64,
    /// What the memory figures sum: `pss`, `rss` (PSS unreadable: shared
    /// pages counted once per process) or `cgroup` (`memory.current`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub memory: String,
    /// Threads at the end.
    #[serde(default)]
    pub threads: u64,
    /// Open file descriptors at the end.
    #[serde(default)]
    pub open_fds: u64,
    /// Bytes read from storage during the step (`/proc/PID/io` or the
    /// cgroup's `io.stat`), where readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_read_bytes: Option<u64>,
    /// Bytes written to storage during the step, where readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_write_bytes: Option<u64>,
    /// Voluntary context switches during the step (waiting: I/O, locks).
    #[serde(default)]
    pub voluntary_switches: u64,
    /// Involuntary context switches during the step (preempted: CPU contention).
    #[serde(default)]
    pub involuntary_switches: u64,
    /// Cores the set may run on (CPU affinity, or the cgroup's `cpu.max`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<f64>,
    /// The members at the end of the step, with their roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<TargetMember>,
    /// Processes that joined or left the set during the step.
    #[serde(default)]
    pub joined: u64,
    /// Members that exited during the step (their CPU is counted through
    /// their parent's reaped-children time when the parent is a member).
    #[serde(default)]
    pub exited: u64,
    /// What could not be seen ("2 members exited and their parent is not in
    /// the set: their CPU is not counted").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One process of a target set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct TargetMember {
    /// Process id.
    pub pid: i32,
    /// Command name.
    pub name: String,
    /// `listener` (holds the listening socket, parent outside the set),
    /// `worker` (holds it, parent inside), `child` (a descendant that does
    /// not), `member` (named by pid, name or cgroup).
    pub role: String,
}

/// One sample of host and target during a step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ResourceSample {
    /// Seconds since the step started.
    pub offset_s: f64,
    /// Host CPU busy share since the previous sample, 0–100.
    pub host_cpu_busy_pct: f64,
    /// Host memory in use, bytes.
    pub host_mem_used_bytes: u64,
    /// Target process CPU since the previous sample, % of one core.
    pub target_cpu_pct: Option<f64>,
    /// Target process resident memory, bytes.
    pub target_rss_bytes: Option<u64>,
}

impl Step {
    /// Operations the step ran, warm-up included (the span resources cover).
    pub fn operations_with_warmup(&self) -> u64 {
        self.outcomes.operations() + self.warmup.as_ref().map_or(0, |w| w.outcomes.operations())
    }

    /// Responses the step received, warm-up included (what a target counts).
    pub fn responses_with_warmup(&self) -> u64 {
        self.outcomes.responses + self.warmup.as_ref().map_or(0, |w| w.outcomes.responses)
    }

    /// Host CPU-seconds per 1,000 operations, when probed.
    pub fn host_cpu_s_per_1000_ops(&self) -> Option<f64> {
        let ops = self.operations_with_warmup();
        self.resources
            .as_ref()
            .filter(|_| ops > 0)
            .map(|r| r.host_cpu_s / ops as f64 * 1000.0)
    }

    /// Target CPU-seconds per 1,000 operations, when the target was measured.
    pub fn target_cpu_s_per_1000_ops(&self) -> Option<f64> {
        let ops = self.operations_with_warmup();
        self.resources
            .as_ref()
            .and_then(|r| r.target.as_ref())
            .filter(|_| ops > 0)
            .map(|t| t.cpu_s / ops as f64 * 1000.0)
    }

    /// Target RSS growth per connection over the step, bytes (may be negative).
    pub fn target_rss_growth_per_connection(&self) -> Option<f64> {
        self.resources
            .as_ref()
            .and_then(|r| r.target.as_ref())
            .map(|t| {
                (t.rss_end_bytes as f64 - t.rss_start_bytes as f64)
                    / f64::from(self.concurrency.max(1))
            })
    }
}

impl Step {
    /// Share of its threads' capacity the generator used (1.0 = every
    /// generator thread busy all the time); 0 when unknown.
    pub fn generator_busy_share(&self) -> f64 {
        let capacity = self.generator_wall_s * f64::from(self.generator_threads);
        if capacity > 0.0 {
            self.generator_cpu_s / capacity
        } else {
            0.0
        }
    }
}

/// What the warm-up span measured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Warmup {
    /// Warm-up seconds.
    pub duration_s: f64,
    /// Outcomes during warm-up.
    pub outcomes: OutcomeCounts,
    /// Latency during warm-up, microseconds.
    pub latency_us: LatencyHistogram,
}

/// Outcomes of one measured interval (one second by default).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Interval {
    /// Interval start, seconds since measurement began.
    pub offset_s: f64,
    /// Interval length, seconds.
    pub duration_s: f64,
    /// Responses in the interval.
    pub responses: u64,
    /// Errors in the interval (every kind).
    pub errors: u64,
    /// Median latency, microseconds (0 when no responses).
    pub p50_us: u64,
    /// 99th percentile latency, microseconds (0 when no responses).
    pub p99_us: u64,
    /// Slowest response, microseconds (0 when no responses).
    pub max_us: u64,
}

impl Run {
    /// Serialises the run as pretty JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).expect("Run serialises")
    }

    /// Parses a run, refusing documents from a newer schema.
    pub fn from_json(text: &str) -> Result<Run, RunParseError> {
        let value: serde_json::Value = serde_json::from_str(text)?;
        let version = value
            .get("schema_version")
            .and_then(serde_json::Value::as_u64)
            .ok_or(RunParseError::MissingVersion)?;
        if version > u64::from(SCHEMA_VERSION) {
            return Err(RunParseError::NewerSchema(version));
        }
        Ok(serde_json::from_value(value)?)
    }
}

/// Why a stored run could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RunParseError {
    /// The text is not a valid run document.
    #[error("not a scalewall run document: {0}")]
    Json(#[from] serde_json::Error),
    /// The document has no `schema_version`.
    #[error("not a scalewall run document: no schema_version field")]
    MissingVersion,
    /// Written by a newer scalewall.
    #[error("run document has schema version {0}, newer than this scalewall understands ({SCHEMA_VERSION}); upgrade scalewall")]
    NewerSchema(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clock-tick counters summed in floating point leave a residue
    /// (0.1 + 0.2 − 0.1 − 0.2 = 5.5e-17): it is no CPU, and shows as 0; a
    /// real remainder stays.
    #[test]
    fn the_cpu_split_has_no_floating_point_residue() {
        let split = |host: f64, generator: f64, target: f64| {
            StepResources {
                wall_s: 1.0,
                started_at: None,
                host_cpu_s: host,
                host_cpu_busy_pct: 0.0,
                target: Some(ProcessCost {
                    cpu_s: target,
                    ..ProcessCost::default()
                }),
                target_note: None,
                samples: vec![],
                listen_queue: None,
                generator_cpu_s: Some(generator),
                commands: None,
            }
            .cpu_split()
            .unwrap()
            .other_s
        };
        assert_eq!(split(0.1 + 0.2, 0.1, 0.2), 0.0);
        assert!((split(0.5, 0.1, 0.2) - 0.2).abs() < 1e-12);
    }

    fn sample_run() -> Run {
        let mut latency = LatencyHistogram::new();
        for us in [100, 200, 300, 10_000] {
            latency.record(us);
        }
        let mut outcomes = OutcomeCounts {
            responses: 4,
            ..OutcomeCounts::default()
        };
        outcomes.status_codes.insert(200, 3);
        outcomes.status_codes.insert(500, 1);
        outcomes.errors.insert("status_5xx".into(), 1);
        outcomes.errors.insert("timeout".into(), 2);
        Run {
            schema_version: SCHEMA_VERSION,
            id: "0193".into(),
            tool: ToolInfo {
                name: "scalewall".into(),
                version: "0.1.0".into(),
            },
            started_at: "2026-11-23T00:00:00Z".into(),
            finished_at: "2026-11-23T00:00:01Z".into(),
            status: RunStatus::Completed,
            host: HostInfo::default(),
            scenarios: vec![Scenario {
                name: "bench".into(),
                target: "http://127.0.0.1/".into(),
                protocol: "http1".into(),
                options: LoadOptions {
                    method: "GET".into(),
                    header_names: vec![],
                    body_bytes: 0,
                    connections: 1,
                    rate_per_s: None,
                    duration_s: Some(1.0),
                    requests: None,
                    warmup_s: 0.0,
                    timeout_s: 10.0,
                    threads: 1,
                    concurrency_levels: vec![],
                    protocol_options: BTreeMap::new(),
                },
                steps: vec![Step {
                    concurrency: 1,
                    target_rate_per_s: None,
                    started_at: "2026-11-23T00:00:00Z".into(),
                    duration_s: 1.0,
                    completed: true,
                    outcomes,
                    achieved_rate_per_s: 4.0,
                    latency_us: latency,
                    uncorrected_latency_us: None,
                    schedule_lag_us: None,
                    warmup: None,
                    intervals: vec![],
                    error_examples: BTreeMap::new(),
                    generator_cpu_s: 0.5,
                    generator_wall_s: 1.0,
                    generator_threads: 1,
                    resources: Some(StepResources {
                        wall_s: 1.0,
                        started_at: None,
                        host_cpu_s: 0.8,
                        host_cpu_busy_pct: 40.0,
                        target: Some(ProcessCost {
                            pid: 7,
                            name: "server".into(),
                            cpu_s: 0.2,
                            rss_start_bytes: 1000,
                            rss_end_bytes: 1400,
                            ..ProcessCost::default()
                        }),
                        target_note: None,
                        samples: vec![],
                        listen_queue: None,
                        generator_cpu_s: None,
                        commands: None,
                    }),
                    param_value: None,
                    stages: Vec::new(),
                    workers: Vec::new(),
                    custom: Vec::new(),
                    phases: None,
                    checks: Vec::new(),
                }],
                known_answer: None,
                search: None,
            }],
            subject: None,
            system_health: None,
            findings: Vec::new(),
            thresholds_checked: Vec::new(),
            artifacts: Vec::new(),
            plan: None,
        }
    }

    #[test]
    fn run_round_trips_through_json_with_histogram_intact() {
        let run = sample_run();
        let back = Run::from_json(&run.to_json()).unwrap();
        assert_eq!(back, run);
        let h = &back.scenarios[0].steps[0].latency_us;
        assert_eq!(h.len(), 4);
        assert_eq!(h.value_at_quantile(1.0), 10_007); // 3 significant digits: 10,000 → bucket top
    }

    #[test]
    fn newer_schema_is_refused_with_a_clear_message() {
        let text = sample_run().to_json().replace(
            &format!("\"schema_version\": {SCHEMA_VERSION}"),
            "\"schema_version\": 99",
        );
        let err = Run::from_json(&text).unwrap_err();
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }

    #[test]
    fn outcome_counts_separate_transport_errors_from_status_errors() {
        let run = sample_run();
        let o = &run.scenarios[0].steps[0].outcomes;
        assert_eq!(o.errors_total(), 3);
        assert_eq!(o.transport_errors(), 2);
        assert_eq!(o.operations(), 6);
        let step = &run.scenarios[0].steps[0];
        assert_eq!(step.generator_busy_share(), 0.5);
        // 6 operations: 0.8 host CPU-s → 133.3 per 1,000; target 0.2 → 33.3; +400 B over 1 connection
        assert!((step.host_cpu_s_per_1000_ops().unwrap() - 800.0 / 6.0).abs() < 1e-9);
        assert!((step.target_cpu_s_per_1000_ops().unwrap() - 200.0 / 6.0).abs() < 1e-9);
        assert_eq!(step.target_rss_growth_per_connection(), Some(400.0));
    }
}
