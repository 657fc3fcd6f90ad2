//! The scenario language: the options of a load (`bench` and `sweep`),
//! shared by the command line and the config's `[[scenario]]`, and their
//! pure validation into engine plans.
//!
//! Parsing (clap) and validation here do no I/O; loads resolve and connect
//! afterwards. Field docs are the `--help` text of `scalewall bench` and
//! `scalewall sweep`, whose argument types these are.

use clap::{Args, Parser, Subcommand, ValueEnum};
use scalewall_load::engine::{Pacing, StepPlan, StopAt};
use scalewall_load::ramp::RateRamp;
use scalewall_probe::target::TargetSelector;
use scalewall_stats::search::{CapacitySearch, PeakSearch, Slo};
use std::path::PathBuf;
use std::time::Duration;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A human-readable summary table.
    Text,
    /// One JSON object on stdout.
    Json,
}

/// How to reach the target and what to send (shared by bench and sweep).
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Target URL; the scheme picks the driver: http(s)://host[:port]/path,
    /// ws(s)://host[:port]/path, tcp://host:port, redis://[:password@]host[:port][/db],
    /// postgres://user[:password]@host[:port]/database, nats://[user:password@]host[:port].
    #[arg(required_unless_present = "exec", conflicts_with = "exec")]
    pub url: Option<String>,
    /// HTTP method.
    #[arg(short = 'm', long, default_value = "GET")]
    pub method: String,
    /// Extra header, "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Request body (for ws:// targets, the text message sent instead of
    /// binary ones of --message-size).
    #[arg(short = 'b', long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Read the request body from a file.
    #[arg(long, value_name = "PATH")]
    pub body_file: Option<PathBuf>,
    /// Per-request timeout, connecting included.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub timeout: Duration,
    /// Generator threads (default: the cores available to this process).
    #[arg(short = 't', long)]
    pub threads: Option<u32>,
    /// Use HTTP/2 (h2c prior knowledge for http://, ALPN h2 for https://).
    #[arg(long)]
    pub http2: bool,
    /// Accept any TLS certificate (only for your own test servers).
    #[arg(long)]
    pub insecure: bool,
    /// How often host and target-process resources are sampled during load (10ms–1m).
    #[arg(long, value_parser = parse_sample_interval, default_value = "1s")]
    pub sample_interval: Duration,
    /// The target's processes to measure: port:N, pid:N, name:NAME (each with
    /// its descendants; pid!:N for the process alone), cgroup:PATH (cgroup
    /// v2) or container:NAME (its cgroup, via docker or podman inspect).
    /// Default: the listeners of a local target's port and their
    /// descendants.
    #[arg(long, value_name = "SELECTOR")]
    pub target_process: Option<TargetSelector>,
    /// Responses and requests of an HTTP scenario.
    #[command(flatten)]
    pub http: HttpArgs,
    /// Options of the other protocols.
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    /// Distributed load.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// What an HTTP scenario checks in each response, how it reads a streamed
/// one, and the rows that vary its requests.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Responses and data")]
pub struct HttpArgs {
    /// A check every response must pass, else it is an error of kind check
    /// (repeatable): status=200, status in 200..299, body contains "…",
    /// body matches /re/, json $.path == value, json $.path exists,
    /// header Name: value, ttfb<200ms.
    #[arg(long = "check", value_name = "CHECK")]
    pub checks: Vec<String>,
    /// Count the events of each streamed response: sse (text/event-stream)
    /// or lines (one event per line); adds time to first event, the gaps
    /// between events and events per response.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub stream: Option<StreamArg>,
    /// The data (sse) or line (lines) that ends a stream, e.g. '[DONE]': not
    /// counted as an event; a stream that ends without it is a protocol error.
    #[arg(long, value_name = "TEXT", requires = "stream")]
    pub stream_done: Option<String>,
    /// Rows (.csv with a header row, or .jsonl) whose {{column}} fill the
    /// URL's path and query, the headers and the body: one row per request.
    /// Also a WebSocket --body message, Redis --command words and
    /// PostgreSQL --query-param values: one row per operation.
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// The order requests take rows in: sequential (wrapping), random, or
    /// unique (each row once; a bench then sends at most one request per
    /// row, by default exactly one).
    #[arg(long, value_enum, default_value_t = DataOrderArg::Sequential, requires = "data")]
    pub data_order: DataOrderArg,
}

/// Streamed body formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StreamArg {
    /// Server-Sent Events.
    Sse,
    /// One event per non-empty line.
    Lines,
}

/// Orders of a data feed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum DataOrderArg {
    /// File order across every connection, wrapping.
    #[default]
    Sequential,
    /// A random row for each request.
    Random,
    /// Each row at most once.
    Unique,
}

/// The operation count of a bench whose `unique` feed decides it: one
/// request per row, known once the rows are read.
pub const ONE_PER_ROW: u64 = u64::MAX;

/// Options of a distributed run: the load is split across `scalewall
/// worker`s reached through NATS.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Distributed load")]
pub struct FleetArgs {
    /// Run the load on the `scalewall worker`s listening on this NATS
    /// server (nats://[user:password@|token@]host:port, tls:// for TLS),
    /// split exactly across them, histograms merged by addition.
    #[arg(long, value_name = "NATS_URL")]
    pub workers: Option<String>,
    /// Refuse to run with fewer live workers than this.
    #[arg(long, default_value_t = 1, requires = "workers")]
    pub min_workers: usize,
    /// Use at most this many workers (default: every live one).
    #[arg(long, requires = "workers")]
    pub max_workers: Option<usize>,
    /// NATS credentials file (JWT and NKey seed) for the control plane.
    #[arg(long, value_name = "PATH", requires = "workers")]
    pub nats_creds: Option<PathBuf>,
}

/// NATS load modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NatsModeArg {
    /// Publish (each batch flushed with PING/PONG).
    Publish,
    /// Request/reply through scalewall's own responder.
    Request,
    /// JetStream publish with acknowledgement.
    Jetstream,
}

/// Options of the non-HTTP drivers.
#[derive(Debug, Args)]
#[command(next_help_heading = "Protocol options")]
pub struct ProtocolArgs {
    /// Run a command as the operation (through sh -c) instead of loading a
    /// URL; -c is the number of instances at once. {name} is replaced by --param.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// Value(s) for a {name} in --exec, NAME=V1[,V2…]; several values are
    /// swept by `sweep`, which fits the cost curve.
    #[arg(long = "param", value_name = "NAME=VALUES")]
    pub params: Vec<String>,
    /// sweep --param: project the time per operation at these sizes.
    #[arg(long, value_delimiter = ',', value_name = "SIZES")]
    pub project: Vec<f64>,
    /// Each operation opens a new connection (TCP, TLS, handshake) and closes
    /// it: measures connection establishment.
    #[arg(long)]
    pub connect_only: bool,
    /// Bytes per message: WebSocket message (default 64), NATS payload (64),
    /// Redis {value} (3), TCP echo payload (0 = connect only).
    #[arg(long, value_name = "BYTES")]
    pub message_size: Option<usize>,
    /// Operations per round trip: Redis pipeline depth, WebSocket messages
    /// in flight per connection, NATS messages per flush or requests in flight.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub pipeline: u32,
    /// HTTP/2 requests in flight on each connection (with --http2): -c 4
    /// --streams 10 keeps 40 requests in flight on 4 connections.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub streams: u32,
    /// Redis command: PING, GET, SET, INCR, or any command with {key} and {value}.
    #[arg(long, value_name = "WORDS")]
    pub command: Option<String>,
    /// Redis keys are key:<n> with n uniform below this.
    #[arg(long, default_value_t = 100_000)]
    pub keyspace: u64,
    /// PostgreSQL query, run as a prepared statement (default SELECT 1).
    #[arg(long, value_name = "SQL")]
    pub query: Option<String>,
    /// PostgreSQL query parameter $1, $2, … in order: text, or random:LOW..HIGH (repeatable).
    #[arg(long = "query-param", value_name = "VALUE")]
    pub query_params: Vec<String>,
    /// NATS mode.
    #[arg(long, value_enum, default_value_t = NatsModeArg::Publish)]
    pub nats_mode: NatsModeArg,
    /// NATS subject.
    #[arg(long, default_value = "scalewall.bench")]
    pub subject: String,
}

/// How results come out (shared by bench and sweep).
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Also write the full run record (versioned JSON, with histograms) to this file.
    #[arg(long, value_name = "PATH")]
    pub save: Option<PathBuf>,
    /// Never draw the live progress line.
    #[arg(long)]
    pub no_progress: bool,
    /// Where the run is stored.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Where a load command stores its run (shared by bench, sweep and demo).
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Store the run in this history database (default .scalewall/history.db),
    /// so `show`, `compare` and `report` work on the printed id.
    #[arg(long, value_name = "PATH", conflicts_with = "no_history")]
    pub history: Option<PathBuf>,
    /// Do not store the run.
    #[arg(long)]
    pub no_history: bool,
}

/// Options of `scalewall bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Target and request.
    #[command(flatten)]
    pub request: RequestArgs,
    /// Concurrent connections, each with one request in flight.
    #[arg(short = 'c', long, default_value_t = 50)]
    pub connections: u32,
    /// Measured duration (e.g. 10s, 1m); the default when neither -d nor -n is given is 10s.
    #[arg(short = 'd', long, value_parser = parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,
    /// Number of measured requests to send instead of a duration.
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Open model: send this many requests per second on a fixed schedule;
    /// latency is measured from each request's intended start
    /// (coordinated-omission corrected).
    #[arg(short = 'r', long)]
    pub rate: Option<f64>,
    /// Open model with a ramping rate: stages of LENGTH:RATE (e.g. 30s:100,1m:1000,30s:0),
    /// the rate going linearly from 0/s to each stage's target over its length; a result
    /// per stage. Lengths are multiples of 100ms.
    #[arg(long, value_name = "STAGES", conflicts_with_all = ["rate", "duration", "requests"])]
    pub stages: Option<String>,
    /// Warm-up before measuring: measured and reported apart, excluded from results.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub warmup: Duration,
    /// Output options.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// The interval of a ramp's samples: the longest of 1 s, 500, 200 and
/// 100 ms that divides every stage (so each stage starts on a boundary).
fn ramp_interval(ramp: &RateRamp) -> Result<Duration, ArgError> {
    [1000u128, 500, 200, 100]
        .into_iter()
        .find(|ms| {
            ramp.stages
                .iter()
                .all(|(d, _)| d.as_millis() % ms == 0 && d.subsec_nanos() % 1_000_000 == 0)
        })
        .map(|ms| Duration::from_millis(ms as u64))
        .ok_or_else(|| {
            ArgError::Range("--stages: every stage's length must be a multiple of 100ms".into())
        })
}

/// Options of `scalewall sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Target and request.
    #[command(flatten)]
    pub request: RequestArgs,
    /// Concurrency levels, comma-separated (at least 3 distinct for the fit).
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,32")]
    pub concurrency: Vec<u32>,
    /// Measured time per level.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub step: Duration,
    /// Warm-up before each level (measured, excluded).
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub warmup: Duration,
    /// Draw the measured points, the fitted curve, linear scaling and N* to this SVG file.
    #[arg(long, value_name = "PATH")]
    pub svg: Option<PathBuf>,
    /// Search: grow the levels geometrically (1, 2, 4, …; --concurrency is not needed)
    /// until throughput passes its USL peak by two levels, then refine around N*.
    #[arg(long, conflicts_with = "rate_search")]
    pub until_peak: bool,
    /// A service level objective every step must meet (repeatable): p99<50ms, p50<10ms,
    /// max<1s, errors<1%, rps>1000. Without --until-peak: search the capacity under them
    /// (expanding, then bisection).
    #[arg(long = "slo", value_name = "EXPR")]
    pub slos: Vec<String>,
    /// Search the arrival rate (open model) that meets the --slo bounds, instead of the
    /// connections.
    #[arg(long, requires = "slos")]
    pub rate_search: bool,
    /// Connections that carry a rate search's arrivals.
    #[arg(long, default_value_t = 64)]
    pub rate_connections: u32,
    /// The first rate of a rate search, operations per second.
    #[arg(long, default_value_t = 100.0)]
    pub start_rate: f64,
    /// The highest level a search may measure (connections; for a rate search, operations
    /// per second).
    #[arg(long)]
    pub max_level: Option<f64>,
    /// A capacity search stops when its bracket is this narrow (relative).
    #[arg(long, value_parser = parse_fraction, default_value = "5%")]
    pub precision: f64,
    /// A search stops when the next step would pass this much time (its result then says so).
    #[arg(long, value_parser = parse_duration)]
    pub budget: Option<Duration>,
    /// Output options.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Parses `5%` or `0.05`.
fn parse_fraction(text: &str) -> Result<f64, String> {
    let value = match text.trim().strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => text.trim().parse::<f64>(),
    }
    .map_err(|_| format!("'{text}' is not a fraction (5% or 0.05)"))?;
    if value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(format!("'{text}' must be between 0 and 100 %"))
    }
}

/// A scenario: a bench or a sweep, as its command line says it.
#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// One load step.
    Bench(BenchArgs),
    /// Concurrency levels and a USL fit.
    Sweep(SweepArgs),
    /// No load (a config's `kind = "probe"`): its service's health and the
    /// custom metrics are read and judged, nothing is sent.
    #[command(skip)]
    Probe,
}

/// Parses `scalewall bench|sweep ARGS…` into a scenario (the config's
/// scenarios are checked by exactly the command line's parser).
#[derive(Debug, Parser)]
#[command(name = "scalewall")]
pub struct ScenarioLine {
    /// The scenario.
    #[command(subcommand)]
    pub command: ScenarioCommand,
}

fn parse_sample_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_duration(text)?;
    if interval < Duration::from_millis(10) || interval > Duration::from_secs(60) {
        return Err(format!("'{text}' is outside 10ms–1m"));
    }
    Ok(interval)
}

/// Parses a duration such as `10s`, `2.5ms`, `500us`, `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    // humantime does not take fractions; accept "<number><unit>" for those.
    if let Some(split) = text.find(|c: char| c.is_ascii_alphabetic()) {
        let (number, unit) = text.split_at(split);
        if number.contains('.') {
            let value: f64 = number
                .parse()
                .map_err(|_| format!("'{text}' is not a duration (try 10s, 2.5ms, 500us)"))?;
            let seconds = match unit {
                "ns" => value / 1e9,
                "us" | "µs" => value / 1e6,
                "ms" => value / 1e3,
                "s" => value,
                "m" | "min" => value * 60.0,
                "h" => value * 3600.0,
                _ => {
                    return Err(format!(
                        "'{text}': unknown unit '{unit}' (use us, ms, s, m or h)"
                    ))
                }
            };
            return Duration::try_from_secs_f64(seconds)
                .map_err(|_| format!("'{text}' must be a non-negative duration"));
        }
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("'{text}' is not a duration ({e}); try 10s, 2.5ms, 500us"))
}

/// Longest measured duration accepted (a safety cap on load).
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// Highest open-model rate accepted, requests per second.
pub const MAX_RATE: f64 = 10_000_000.0;
/// Most connections accepted.
pub const MAX_CONNECTIONS: u32 = 100_000;

/// A validated bench request: the engine plan plus what the command needs.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchPlan {
    /// The engine's step plan.
    pub step: StepPlan,
    /// Parsed extra headers.
    pub headers: Vec<(String, String)>,
    /// `--exec` parameters, one value each.
    pub params: Vec<Param>,
}

/// Why bench arguments are unusable.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ArgError {
    /// A header without a colon.
    #[error("header '{0}' must look like 'Name: value'")]
    Header(String),
    /// A number outside its range.
    #[error("{0}")]
    Range(String),
}

/// A `--param NAME=V1,V2…`.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The placeholder's name.
    pub name: String,
    /// Its values, in the order given.
    pub values: Vec<String>,
}

/// Parses and checks the `--param`s against the `--exec` template: every
/// placeholder needs a value and every parameter a placeholder.
pub fn validate_params(exec: Option<&str>, params: &[String]) -> Result<Vec<Param>, ArgError> {
    let parsed = params
        .iter()
        .map(|p| {
            let (name, values) = p.split_once('=').ok_or_else(|| {
                ArgError::Range(format!("--param '{p}' must look like NAME=V1,V2,…"))
            })?;
            let values: Vec<String> = values
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            if name.trim().is_empty() || values.is_empty() {
                return Err(ArgError::Range(format!(
                    "--param '{p}' needs a name and at least one value"
                )));
            }
            Ok(Param {
                name: name.trim().to_string(),
                values,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let Some(template) = exec else {
        if let Some(p) = parsed.first() {
            return Err(ArgError::Range(format!(
                "--param {} applies only to --exec",
                p.name
            )));
        }
        return Ok(parsed);
    };
    let used = scalewall_load::transport::exec::placeholders(template);
    for name in &used {
        if !parsed.iter().any(|p| &p.name == name) {
            return Err(ArgError::Range(format!(
                "--exec uses {{{name}}} but no --param {name}=… gives it a value"
            )));
        }
    }
    for p in &parsed {
        if !used.contains(&p.name) {
            return Err(ArgError::Range(format!(
                "--param {} is not used: --exec has no {{{}}}",
                p.name, p.name
            )));
        }
    }
    if parsed.iter().filter(|p| p.values.len() > 1).count() > 1 {
        return Err(ArgError::Range(
            "only one --param may have several values (the one swept)".into(),
        ));
    }
    Ok(parsed)
}

/// Validated request options shared by bench and sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestPlan {
    /// Parsed extra headers.
    pub headers: Vec<(String, String)>,
    /// Generator threads.
    pub threads: u32,
    /// Per-request timeout.
    pub timeout: Duration,
    /// `--exec` parameters.
    pub params: Vec<Param>,
}

/// Validates the shared request options without I/O.
pub fn validate_request(args: &RequestArgs, available_cores: u32) -> Result<RequestPlan, ArgError> {
    if args.timeout.is_zero() {
        return Err(ArgError::Range("--timeout must be more than 0".into()));
    }
    let threads = match args.threads {
        Some(0) => return Err(ArgError::Range("--threads must be at least 1".into())),
        Some(t) => t,
        None => available_cores.max(1),
    };
    let headers = args
        .headers
        .iter()
        .map(|h| match h.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_string(), value.trim().to_string()))
            }
            _ => Err(ArgError::Header(h.clone())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let p = &args.protocol;
    if p.streams == 0 || p.streams > 1_000 {
        return Err(ArgError::Range(format!(
            "--streams must be between 1 and 1000, got {}",
            p.streams
        )));
    }
    if p.streams > 1 && !args.http2 {
        return Err(ArgError::Range(
            "--streams needs --http2 (an HTTP/1.1 connection carries one request at a time)".into(),
        ));
    }
    if p.pipeline == 0 || p.pipeline > 10_000 {
        return Err(ArgError::Range(format!(
            "--pipeline must be between 1 and 10000, got {}",
            p.pipeline
        )));
    }
    if p.message_size.is_some_and(|n| n > 64 << 20) {
        return Err(ArgError::Range(
            "--message-size must be at most 64 MiB".into(),
        ));
    }
    if p.keyspace == 0 {
        return Err(ArgError::Range("--keyspace must be at least 1".into()));
    }
    for param in &p.query_params {
        scalewall_load::transport::postgres::QueryParam::parse(param)
            .map_err(|e| ArgError::Range(format!("--query-param {e}")))?;
    }
    let params = validate_params(p.exec.as_deref(), &p.params)?;
    if let Some(url) = &args.url {
        check_protocol_options(url, args)?;
    }
    let h = &args.http;
    scalewall_load::checks::CheckSet::parse(&h.checks).map_err(ArgError::Range)?;
    if h.stream_done.as_deref().is_some_and(str::is_empty) {
        return Err(ArgError::Range("--stream-done needs a text".into()));
    }
    if h.data.is_some() && p.exec.is_some() {
        return Err(ArgError::Range(
            "--data fills a target URL's requests; --exec takes its values from --param".into(),
        ));
    }
    let uses_http = !h.checks.is_empty() || h.stream.is_some() || h.data.is_some();
    if uses_http && p.connect_only {
        return Err(ArgError::Range(
            "--check, --stream and --data need requests; --connect-only sends none".into(),
        ));
    }
    Ok(RequestPlan {
        headers,
        threads,
        timeout: args.timeout,
        params,
    })
}

/// Refuses options that the URL's driver would ignore, naming the option.
fn check_protocol_options(url: &str, args: &RequestArgs) -> Result<(), ArgError> {
    use scalewall_load::target::Scheme;
    let Some(scheme) = url
        .split_once("://")
        .and_then(|(s, _)| scalewall_load::target::Target::parse(&format!("{s}://x:1")).ok())
        .map(|t| t.scheme)
    else {
        return Ok(()); // the URL's own error is reported when it is parsed
    };
    let p = &args.protocol;
    let http_only = args.method != "GET" || !args.headers.is_empty() || args.http2;
    let has_body = args.body.is_some() || args.body_file.is_some();
    let is_ws = matches!(scheme, Scheme::Ws | Scheme::Wss);
    let h = &args.http;
    let judged = !h.checks.is_empty() || h.stream.is_some();
    let misplaced = [
        (
            http_only && !scheme.is_http(),
            "--method/--header/--http2",
            "http(s)",
        ),
        (
            has_body && !scheme.is_http() && !is_ws,
            "--body/--body-file",
            "http(s) or ws(s)",
        ),
        (judged && !scheme.is_http(), "--check/--stream", "http(s)"),
        (
            h.data.is_some()
                && !scheme.is_http()
                && !matches!(
                    scheme,
                    Scheme::Ws | Scheme::Wss | Scheme::Redis | Scheme::Postgres
                ),
            "--data",
            "http(s), ws(s), redis or postgres",
        ),
        (
            p.command.is_some() && scheme != Scheme::Redis,
            "--command",
            "redis",
        ),
        (
            p.keyspace != 100_000 && scheme != Scheme::Redis,
            "--keyspace",
            "redis",
        ),
        (
            (p.query.is_some() || !p.query_params.is_empty()) && scheme != Scheme::Postgres,
            "--query/--query-param",
            "postgres",
        ),
        (
            (p.nats_mode != NatsModeArg::Publish || p.subject != "scalewall.bench")
                && scheme != Scheme::Nats,
            "--nats-mode/--subject",
            "nats",
        ),
        (
            p.pipeline > 1
                && !matches!(
                    scheme,
                    Scheme::Redis | Scheme::Ws | Scheme::Wss | Scheme::Nats
                ),
            "--pipeline",
            "redis, ws(s) or nats",
        ),
        (
            p.message_size.is_some()
                && matches!(scheme, Scheme::Http | Scheme::Https | Scheme::Postgres),
            "--message-size",
            "ws(s), tcp, redis or nats",
        ),
    ];
    if is_ws && has_body && p.message_size.is_some() {
        return Err(ArgError::Range(
            "--body is the WebSocket message; --message-size sizes a binary one: give one of them"
                .into(),
        ));
    }
    if h.data.is_some() && h.data_order == DataOrderArg::Unique && p.pipeline > 1 {
        return Err(ArgError::Range(format!(
            "--data-order unique sends each row once, one operation a call: --pipeline {} would overrun the rows (use --pipeline 1 or another order)",
            p.pipeline
        )));
    }
    for (wrong, option, schemes) in misplaced {
        if wrong {
            return Err(ArgError::Range(format!(
                "{option} applies to {schemes}:// targets, not {}://",
                scheme.as_str()
            )));
        }
    }
    Ok(())
}

fn check_connections(n: u32, flag: &str) -> Result<(), ArgError> {
    if n == 0 || n > MAX_CONNECTIONS {
        return Err(ArgError::Range(format!(
            "{flag} must be between 1 and {MAX_CONNECTIONS}, got {n}"
        )));
    }
    Ok(())
}

fn check_duration(d: Duration, flag: &str) -> Result<(), ArgError> {
    if d.is_zero() || d > MAX_DURATION {
        return Err(ArgError::Range(format!(
            "{flag} must be more than 0 and at most 24h, got {}",
            humantime::format_duration(d)
        )));
    }
    Ok(())
}

/// Validates bench arguments without doing any I/O.
pub fn validate_bench(args: &BenchArgs, available_cores: u32) -> Result<BenchPlan, ArgError> {
    let request = validate_request(&args.request, available_cores)?;
    check_connections(args.connections, "--connections")?;
    if let Some(p) = request.params.iter().find(|p| p.values.len() > 1) {
        return Err(ArgError::Range(format!(
            "bench takes one value per --param ({} has {}); `scalewall sweep` steps through several",
            p.name,
            p.values.len()
        )));
    }
    let unique = args.request.http.data_order == DataOrderArg::Unique;
    if unique && (args.duration.is_some() || args.stages.is_some() || !args.warmup.is_zero()) {
        return Err(ArgError::Range(
            "--data-order unique sends each row once: give -n (at most the rows) or nothing, \
             and no --duration, --stages or --warmup"
                .into(),
        ));
    }
    let stop = match (args.duration, args.requests) {
        (_, Some(0)) => return Err(ArgError::Range("--requests must be at least 1".into())),
        (_, Some(n)) => StopAt::Operations(n),
        (None, None) if unique => StopAt::Operations(ONE_PER_ROW),
        (Some(d), None) => {
            check_duration(d, "--duration")?;
            StopAt::Duration(d)
        }
        (None, None) => StopAt::Duration(Duration::from_secs(10)),
    };
    if args.warmup > MAX_DURATION {
        return Err(ArgError::Range("--warmup must be at most 24h".into()));
    }
    if let Some(text) = &args.stages {
        let ramp =
            RateRamp::parse(text, parse_duration).map_err(|e| ArgError::Range(e.to_string()))?;
        if !args.warmup.is_zero() {
            return Err(ArgError::Range(
                "--stages starts from 0/s: it takes no --warmup".into(),
            ));
        }
        if ramp.peak_rate() > MAX_RATE {
            return Err(ArgError::Range(format!(
                "--stages: a rate must be at most {MAX_RATE} requests/s"
            )));
        }
        check_duration(ramp.total(), "--stages (in all)")?;
        let interval = ramp_interval(&ramp)?;
        return Ok(BenchPlan {
            params: request.params,
            step: StepPlan {
                connections: args.connections,
                stop: StopAt::Duration(ramp.total()),
                pacing: Pacing::Ramp(std::sync::Arc::new(ramp)),
                warmup: Duration::ZERO,
                timeout: request.timeout,
                threads: request.threads,
                interval,
            },
            headers: request.headers,
        });
    }
    let pacing = match args.rate {
        None => Pacing::Closed,
        Some(rate) if rate.is_finite() && rate > 0.0 && rate <= MAX_RATE => {
            Pacing::Open { rate_per_s: rate }
        }
        Some(rate) => {
            return Err(ArgError::Range(format!(
                "--rate must be more than 0 and at most {MAX_RATE} requests/s, got {rate}"
            )))
        }
    };
    Ok(BenchPlan {
        params: request.params,
        step: StepPlan {
            connections: args.connections,
            pacing,
            stop,
            warmup: args.warmup,
            timeout: request.timeout,
            threads: request.threads,
            interval: match stop {
                StopAt::Duration(d) => interval_for(d),
                StopAt::Operations(_) => Duration::from_secs(1),
            },
        },
        headers: request.headers,
    })
}

/// A validated sweep: one closed-model step per level, in ascending order.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPlan {
    /// Step plans, one per distinct level, ascending.
    pub steps: Vec<StepPlan>,
    /// Parsed extra headers.
    pub headers: Vec<(String, String)>,
    /// `--exec` parameters.
    pub params: Vec<Param>,
    /// The `--param` with several values, when the sweep steps through it
    /// (at one concurrency) instead of through concurrency levels; its values
    /// are numbers, in the order of `steps`.
    pub swept: Option<(String, Vec<f64>)>,
    /// A search of the levels (`--until-peak`, `--slo`): `steps` is empty
    /// and the search picks each level from the ones measured before.
    pub search: Option<SearchPlan>,
}

/// Which search a sweep runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Search {
    /// To the USL peak and past it.
    Peak(PeakSearch),
    /// The capacity under SLOs: connections (closed) or a rate (open).
    Capacity(CapacitySearch),
}

/// A sweep that searches its levels.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPlan {
    /// The search.
    pub search: Search,
    /// Its SLOs.
    pub slos: Vec<Slo>,
    /// Levels are arrival rates (open model) on this many connections.
    pub open_connections: Option<u32>,
    /// A step as the search runs it, at any level.
    pub step: StepPlan,
    /// The time it may take.
    pub budget: Option<Duration>,
}

impl SearchPlan {
    /// The step that measures `level`.
    pub fn step_at(&self, level: f64) -> StepPlan {
        match self.open_connections {
            Some(connections) => StepPlan {
                connections,
                pacing: Pacing::Open { rate_per_s: level },
                ..self.step.clone()
            },
            None => StepPlan {
                connections: level.round().max(1.0) as u32,
                ..self.step.clone()
            },
        }
    }

    /// The level a measured step stood at.
    pub fn level_of(&self, step: &scalewall_model::Step) -> f64 {
        match self.open_connections {
            Some(_) => step.target_rate_per_s.unwrap_or(step.achieved_rate_per_s),
            None => f64::from(step.concurrency),
        }
    }

    /// `search` in the record: `until_peak` or `capacity`.
    pub fn kind(&self) -> &'static str {
        match self.search {
            Search::Peak(_) => "until_peak",
            Search::Capacity(_) => "capacity",
        }
    }
}

/// The share of its arrival rate a rate search's level must achieve
/// (`bench` says "schedule kept" at 99 % of a whole run; a short search
/// step's last responses, still in flight at its end, cost about 1 %).
pub const RATE_KEPT_SHARE: f64 = 0.98;

/// The default `sweep --concurrency` levels.
pub const DEFAULT_SWEEP_LEVELS: [u32; 6] = [1, 2, 4, 8, 16, 32];

/// The length of the per-interval samples of a step measured for `d`: a
/// tenth of it, between 100 ms and 1 s, so that even short steps give the
/// run comparison about ten samples.
pub fn interval_for(d: Duration) -> Duration {
    (d / 10).clamp(Duration::from_millis(100), Duration::from_secs(1))
}

/// Validates sweep arguments without doing any I/O.
pub fn validate_sweep(args: &SweepArgs, available_cores: u32) -> Result<SweepPlan, ArgError> {
    let request = validate_request(&args.request, available_cores)?;
    if args.request.http.data_order == DataOrderArg::Unique {
        return Err(ArgError::Range(
            "--data-order unique sends each row once: a bench can, a sweep's levels cannot \
             (use sequential or random)"
                .into(),
        ));
    }
    let mut levels = args.concurrency.clone();
    for &n in &levels {
        check_connections(n, "--concurrency levels")?;
    }
    levels.sort_unstable();
    levels.dedup();
    check_duration(args.step, "--step")?;
    if args.warmup > MAX_DURATION {
        return Err(ArgError::Range("--warmup must be at most 24h".into()));
    }
    let slos = args
        .slos
        .iter()
        .map(|text| {
            text.parse::<Slo>()
                .map_err(|e| ArgError::Range(e.to_string()))
        })
        .collect::<Result<Vec<Slo>, ArgError>>()?;
    let closed_step = |connections: u32| StepPlan {
        connections,
        pacing: Pacing::Closed,
        stop: StopAt::Duration(args.step),
        warmup: args.warmup,
        timeout: request.timeout,
        threads: request.threads,
        interval: interval_for(args.step),
    };
    if let Some(param) = request.params.iter().find(|p| p.values.len() > 1) {
        let connections = match levels.as_slice() {
            _ if args.concurrency == DEFAULT_SWEEP_LEVELS => 1,
            [one] => *one,
            _ => {
                return Err(ArgError::Range(format!(
                    "a sweep of --param {} runs at one concurrency: give --concurrency N",
                    param.name
                )))
            }
        };
        let values = param
            .values
            .iter()
            .map(|v| match v.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
                _ => Err(ArgError::Range(format!(
                    "--param {}: '{v}' is not a non-negative number (a swept size must be)",
                    param.name
                ))),
            })
            .collect::<Result<Vec<f64>, _>>()?;
        if values.len() < 3 {
            return Err(ArgError::Range(format!(
                "--param {} needs at least 3 values to fit a cost curve",
                param.name
            )));
        }
        return Ok(SweepPlan {
            steps: vec![closed_step(connections); values.len()],
            headers: request.headers,
            swept: Some((param.name.clone(), values)),
            params: request.params,
            search: None,
        });
    }
    if args.until_peak || !slos.is_empty() {
        if request.params.iter().any(|p| p.values.len() > 1) {
            return Err(ArgError::Range(
                "a search runs one value per --param".into(),
            ));
        }
        if !(args.start_rate.is_finite() && args.start_rate > 0.0) {
            return Err(ArgError::Range("--start-rate must be > 0".into()));
        }
        check_connections(args.rate_connections, "--rate-connections")?;
        let max = args.max_level.unwrap_or(if args.rate_search {
            1e6
        } else {
            f64::from(MAX_CONNECTIONS.min(1024))
        });
        if !(max.is_finite() && max >= 1.0) || !args.rate_search && max > f64::from(MAX_CONNECTIONS)
        {
            return Err(ArgError::Range(format!(
                "--max-level must be between 1 and {}",
                if args.rate_search {
                    1e9
                } else {
                    f64::from(MAX_CONNECTIONS)
                }
            )));
        }
        // A rate search also asks that the target keep up with its
        // arrivals: past its capacity the queue grows even while the
        // latency bound still holds over a short step.
        let mut slos = slos;
        if args.rate_search {
            slos.push(Slo::rate_kept(RATE_KEPT_SHARE));
        }
        let search = if args.until_peak {
            Search::Peak(PeakSearch {
                start: 1.0,
                factor: 2.0,
                max,
                slos: slos.clone(),
                refine: 2,
            })
        } else {
            Search::Capacity(CapacitySearch {
                slos: slos.clone(),
                start: if args.rate_search {
                    args.start_rate.min(max)
                } else {
                    1.0
                },
                min: 1.0,
                max,
                precision: args.precision,
                integer: !args.rate_search,
            })
        };
        return Ok(SweepPlan {
            steps: Vec::new(),
            headers: request.headers,
            params: request.params,
            swept: None,
            search: Some(SearchPlan {
                search,
                slos,
                open_connections: args.rate_search.then_some(args.rate_connections),
                step: closed_step(1),
                budget: args.budget,
            }),
        });
    }
    if levels.len() < 3 {
        return Err(ArgError::Range(format!(
            "--concurrency needs at least 3 distinct levels for a USL fit, got {}",
            levels.len()
        )));
    }
    Ok(SweepPlan {
        steps: levels.into_iter().map(closed_step).collect(),
        headers: request.headers,
        params: request.params,
        swept: None,
        search: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `scalewall SUBCOMMAND ARGV…`.
    fn parse(subcommand: &str, argv: &[&str]) -> ScenarioCommand {
        let mut full = vec!["scalewall", subcommand];
        full.extend_from_slice(argv);
        ScenarioLine::try_parse_from(full).unwrap().command
    }

    fn bench(argv: &[&str]) -> BenchArgs {
        match parse("bench", argv) {
            ScenarioCommand::Bench(args) => args,
            other => panic!("{other:?}"),
        }
    }

    fn sweep(argv: &[&str]) -> SweepArgs {
        match parse("sweep", argv) {
            ScenarioCommand::Sweep(args) => args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn durations_take_units_and_fractions() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(
            parse_duration("2.5ms").unwrap(),
            Duration::from_micros(2500)
        );
        assert_eq!(parse_duration("500us").unwrap(), Duration::from_micros(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("1.5parsecs").is_err());
    }

    #[test]
    fn defaults_are_a_ten_second_closed_bench() {
        let plan = validate_bench(&bench(&["http://127.0.0.1/"]), 2).unwrap();
        assert_eq!(plan.step.stop, StopAt::Duration(Duration::from_secs(10)));
        assert_eq!(plan.step.pacing, Pacing::Closed);
        assert_eq!(plan.step.connections, 50);
        assert_eq!(plan.step.threads, 2);
    }

    #[test]
    fn each_flag_reaches_the_plan() {
        let plan = validate_bench(
            &bench(&[
                "u",
                "-c",
                "8",
                "-n",
                "1000",
                "-r",
                "250",
                "--warmup",
                "1s",
                "--timeout",
                "2s",
                "-t",
                "3",
                "-H",
                "X-A: b",
            ]),
            2,
        )
        .unwrap();
        assert_eq!(plan.step.connections, 8);
        assert_eq!(plan.step.stop, StopAt::Operations(1000));
        assert_eq!(plan.step.pacing, Pacing::Open { rate_per_s: 250.0 });
        assert_eq!(plan.step.warmup, Duration::from_secs(1));
        assert_eq!(plan.step.timeout, Duration::from_secs(2));
        assert_eq!(plan.step.threads, 3);
        assert_eq!(plan.headers, vec![("X-A".to_string(), "b".to_string())]);
    }

    #[test]
    fn out_of_range_values_are_refused_with_the_flag_named() {
        for argv in [
            vec!["u", "-c", "0"],
            vec!["u", "-n", "0"],
            vec!["u", "--rate=-5"],
            vec!["u", "-r", "0"],
            vec!["u", "-d", "0s"],
            vec!["u", "-d", "25h"],
            vec!["u", "-t", "0"],
            vec!["u", "--timeout", "0s"],
        ] {
            let err = validate_bench(&bench(&argv), 2).unwrap_err().to_string();
            assert!(err.starts_with("--"), "{argv:?}: {err}");
        }
        let err = validate_bench(&bench(&["u", "-H", "no colon"]), 2).unwrap_err();
        assert_eq!(err, ArgError::Header("no colon".into()));
    }

    #[test]
    fn sweep_levels_are_sorted_deduplicated_and_need_three() {
        let plan = validate_sweep(
            &sweep(&[
                "u",
                "--concurrency",
                "8,1,4,4,2",
                "--step",
                "2s",
                "--warmup",
                "1s",
            ]),
            2,
        )
        .unwrap();
        let levels: Vec<u32> = plan.steps.iter().map(|s| s.connections).collect();
        assert_eq!(levels, vec![1, 2, 4, 8]);
        assert!(plan
            .steps
            .iter()
            .all(|s| s.stop == StopAt::Duration(Duration::from_secs(2))
                && s.warmup == Duration::from_secs(1)
                && s.pacing == Pacing::Closed));
        let defaults = validate_sweep(&sweep(&["u"]), 2).unwrap();
        assert_eq!(defaults.steps.len(), 6);
        assert!(validate_sweep(&sweep(&["u", "--concurrency", "1,2,2"]), 2)
            .unwrap_err()
            .to_string()
            .contains("at least 3 distinct"));
        assert!(validate_sweep(&sweep(&["u", "--concurrency", "0,1,2"]), 2).is_err());
        assert!(validate_sweep(&sweep(&["u", "--step", "0s"]), 2).is_err());
    }

    #[test]
    fn sample_intervals_are_a_tenth_of_the_step_within_bounds() {
        assert_eq!(
            interval_for(Duration::from_secs(60)),
            Duration::from_secs(1)
        );
        assert_eq!(
            interval_for(Duration::from_secs(3)),
            Duration::from_millis(300)
        );
        assert_eq!(
            interval_for(Duration::from_millis(500)),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn duration_and_count_are_exclusive() {
        assert!(
            ScenarioLine::try_parse_from(["scalewall", "bench", "u", "-d", "1s", "-n", "5"])
                .is_err()
        );
    }
}
