//! Distributed runs over NATS (issue 15): the control and data plane
//! between a coordinator (`bench`, `sweep` or `run` with `--workers`) and
//! its `scalewall worker`s. The pure parts — the exact split, clock
//! offsets, the merge, the allow-list — are `scalewall_fleet`'s; this
//! module is the I/O around them: the wire messages, the subjects, the
//! connection, the [`worker`] loop and the [`coordinator`].
//!
//! Subjects (`scalewall.` prefix):
//! - `discover`: a request every idle or busy worker answers with its [`Hello`];
//! - `heartbeat.NAME`: each worker's [`Hello`], every second;
//! - `worker.NAME.clock`: a request answered with the worker's clock;
//! - `worker.NAME.assign`: an [`Assignment`], answered [`AssignReply`];
//! - `worker.NAME.cancel`: stop the named run's step now;
//! - `run.ID.reports`: the workers' [`Report`]s (snapshots, then their end).

pub mod coordinator;
pub mod worker;

use crate::error::{JobError, Result};
use crate::load::ProtocolOptions;
use crate::scenario::FleetArgs;
use scalewall_fleet::merge::Snapshot;
use scalewall_fleet::split;
use scalewall_load::checks::CheckSet;
use scalewall_load::events::{StreamFormat, StreamSpec};
use scalewall_load::feed::{Feed, FeedOrder};
use scalewall_load::transport::nats::NatsMode;
use scalewall_load::transport::postgres::QueryParam;
use scalewall_load::transport::HttpExtras;
use scalewall_model::Step;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// This build's version: a coordinator and its workers must match.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How often a worker says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// Where a distributed run finds its workers.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetOptions {
    /// The NATS server's URL.
    pub nats: String,
    /// Refuse to run with fewer live workers.
    pub min_workers: usize,
    /// Use at most this many.
    pub max_workers: Option<usize>,
    /// A NATS credentials file.
    pub creds: Option<PathBuf>,
    /// Generator threads on each worker, when `--threads` was given
    /// (else each worker uses its cores).
    pub threads: Option<u32>,
}

impl FleetOptions {
    /// The options given, when `--workers` was (`threads`: `--threads`).
    pub fn from_args(args: &FleetArgs, threads: Option<u32>) -> Result<Option<FleetOptions>> {
        let Some(nats) = &args.workers else {
            return Ok(None);
        };
        if args.min_workers == 0 {
            crate::bail!("--min-workers must be at least 1");
        }
        if let Some(max) = args.max_workers {
            if max < args.min_workers {
                crate::bail!(
                    "--max-workers {max} is below --min-workers {}",
                    args.min_workers
                );
            }
        }
        Ok(Some(FleetOptions {
            nats: nats.clone(),
            min_workers: args.min_workers,
            max_workers: args.max_workers,
            creds: args.nats_creds.clone(),
            threads,
        }))
    }
}

/// Connects to NATS: user and password (or a token, as the user-info
/// alone) from the URL, a credentials file, TLS for `tls://`. One line
/// naming the server when it cannot.
pub async fn connect(url: &str, creds: Option<&PathBuf>, name: &str) -> Result<async_nats::Client> {
    let shown = redact(url);
    let addr: async_nats::ServerAddr = url
        .parse()
        .map_err(|e| JobError::msg(format!("NATS URL {shown}: {e}")))?;
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(3))
        .max_reconnects(Some(3));
    match (addr.username(), addr.password()) {
        (Some(user), Some(pass)) => {
            options = options.user_and_password(user.to_string(), pass.to_string())
        }
        (Some(token), None) => options = options.token(token.to_string()),
        _ => {}
    }
    if let Some(path) = creds {
        options = options
            .credentials_file(path)
            .await
            .map_err(|e| JobError::msg(format!("NATS credentials file {}: {e}", path.display())))?;
    }
    options
        .connect(addr)
        .await
        .map_err(|e| JobError::msg(format!("cannot reach NATS at {shown}: {e}")))
}

/// The URL without its user-info (passwords and tokens are never shown).
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Subject names.
pub mod subject {
    /// Every worker answers a request here.
    pub const DISCOVER: &str = "scalewall.discover";
    /// A worker's heartbeat.
    pub fn heartbeat(name: &str) -> String {
        format!("scalewall.heartbeat.{name}")
    }
    /// Every worker's heartbeats.
    pub const HEARTBEATS: &str = "scalewall.heartbeat.*";
    /// A worker's own requests (`clock`, `assign`, `cancel`).
    pub fn worker(name: &str, what: &str) -> String {
        format!("scalewall.worker.{name}.{what}")
    }
    /// A run's reports.
    pub fn reports(run: &str) -> String {
        format!("scalewall.run.{run}.reports")
    }
}

/// A worker, as it introduces itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Its name (unique among the workers on one NATS).
    pub name: String,
    /// This process of it: a worker restarted under the same name has
    /// another, so its heartbeats never pass for the lost one's.
    pub instance: String,
    /// Its scalewall version.
    pub version: String,
    /// Cores it may use.
    pub cores: u32,
    /// The run it is working on, if any.
    pub busy_with: Option<String>,
}

/// A worker's clock, for the offset estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockReading {
    /// Seconds since the Unix epoch on the worker's clock.
    pub now_s: f64,
}

/// What to load: everything a worker needs to build the same request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireLoad {
    /// The target URL, credentials included.
    pub url: String,
    /// HTTP method.
    pub method: String,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// HTTP/2.
    pub http2: bool,
    /// Accept any certificate.
    pub insecure: bool,
    /// Each operation is a connection set-up.
    pub connect_only: bool,
    /// Message/payload/value bytes.
    pub message_size: Option<usize>,
    /// Operations per round trip.
    pub pipeline: u32,
    /// HTTP/2 streams per connection.
    pub streams: u32,
    /// Redis command.
    pub redis_command: String,
    /// Redis key space.
    pub keyspace: u64,
    /// PostgreSQL query.
    pub query: String,
    /// Its parameters (`text` or `random:LOW..HIGH`).
    pub query_params: Vec<String>,
    /// NATS mode: publish, request or jetstream.
    pub nats_mode: String,
    /// NATS subject.
    pub subject: String,
    /// The response checks, as written (`--check`).
    #[serde(default)]
    pub checks: Vec<String>,
    /// How a streamed body is cut into events (`--stream`): `sse` or `lines`.
    #[serde(default)]
    pub stream: Option<String>,
    /// The stream's terminator (`--stream-done`).
    #[serde(default)]
    pub stream_done: Option<String>,
}

impl WireLoad {
    /// The load of `request` (a URL with its credentials).
    pub fn of(request: &crate::load::LoadRequest<'_>) -> Result<WireLoad> {
        let target = match &request.endpoint {
            crate::load::Endpoint::Url(target) => *target,
            crate::load::Endpoint::Exec(_) => {
                crate::bail!("--exec cannot run on workers: a worker runs no commands it is sent")
            }
        };
        let p = &request.protocol;
        Ok(WireLoad {
            url: target.url_with_credentials(),
            method: request.spec.method.clone(),
            headers: request.spec.headers.clone(),
            body: request.spec.body.to_vec(),
            http2: request.http2,
            insecure: request.insecure,
            connect_only: p.connect_only,
            message_size: p.message_size,
            pipeline: p.pipeline,
            streams: p.streams,
            redis_command: p.redis_command.clone(),
            keyspace: p.keyspace,
            query: p.query.clone(),
            query_params: p
                .query_params
                .iter()
                .map(|q| match q {
                    QueryParam::Text(t) => t.clone(),
                    QueryParam::Random { low, high } => format!("random:{low}..{high}"),
                })
                .collect(),
            nats_mode: match p.nats_mode {
                NatsMode::Publish => "publish",
                NatsMode::Request => "request",
                NatsMode::JetStream => "jetstream",
            }
            .into(),
            subject: p.subject.clone(),
            checks: request.spec.extras.checks.names(),
            stream: request.spec.extras.stream.as_ref().map(|s| {
                match s.format {
                    StreamFormat::Sse => "sse",
                    StreamFormat::Lines => "lines",
                }
                .to_string()
            }),
            stream_done: request
                .spec
                .extras
                .stream
                .as_ref()
                .and_then(|s| s.done.clone()),
        })
    }

    /// The checks and streaming back (a feed comes with each worker's
    /// assignment: [`WireFeed`]).
    pub fn extras(&self) -> Result<HttpExtras> {
        let stream = match self.stream.as_deref() {
            None => None,
            Some(format) => Some(StreamSpec {
                format: match format {
                    "sse" => StreamFormat::Sse,
                    "lines" => StreamFormat::Lines,
                    other => crate::bail!("unknown stream format '{other}'"),
                },
                done: self.stream_done.clone(),
            }),
        };
        Ok(HttpExtras {
            feed: None,
            checks: Arc::new(CheckSet::parse(&self.checks).map_err(JobError::msg)?),
            stream,
        })
    }

    /// The protocol options back.
    pub fn protocol(&self) -> Result<ProtocolOptions> {
        Ok(ProtocolOptions {
            connect_only: self.connect_only,
            message_size: self.message_size,
            pipeline: self.pipeline.max(1),
            streams: self.streams.max(1),
            redis_command: self.redis_command.clone(),
            keyspace: self.keyspace.max(1),
            query: self.query.clone(),
            query_params: self
                .query_params
                .iter()
                .map(|q| QueryParam::parse(q).map_err(JobError::msg))
                .collect::<Result<_>>()?,
            nats_mode: match self.nats_mode.as_str() {
                "publish" => NatsMode::Publish,
                "request" => NatsMode::Request,
                "jetstream" => NatsMode::JetStream,
                other => crate::bail!("unknown NATS mode '{other}'"),
            },
            subject: self.subject.clone(),
            // Each worker's rows come with its assignment (`WireFeed`).
            feed: None,
        })
    }
}

/// One worker's rows of a `--data` feed (dealt out by
/// [`split::row_share`]) and, for HTTP, the URL's path template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireFeed {
    /// The file, as named on the coordinator's machine.
    pub source: String,
    /// Its columns.
    pub columns: Vec<String>,
    /// This worker's rows, in the order it takes them.
    pub rows: Vec<Vec<String>>,
    /// `sequential`, `random` or `unique`.
    pub order: String,
    /// HTTP: the URL's path and query as written, placeholders and all.
    pub path: Option<String>,
}

impl WireFeed {
    /// Worker `k`'s share of `request`'s feed, if it has one; `operations`
    /// is the step's count (a `unique` feed is dealt out by it).
    pub fn share(
        request: &crate::load::LoadRequest<'_>,
        k: usize,
        workers: usize,
        operations: Option<u64>,
    ) -> Result<Option<WireFeed>> {
        let Some(feed) = request.feed() else {
            return Ok(None);
        };
        let unique = feed.order() == FeedOrder::Unique;
        if unique && operations.is_some_and(|n| n < workers as u64) {
            crate::bail!(
                "--data-order unique over {workers} workers needs at least {workers} requests (-n): each worker takes its own rows"
            );
        }
        let share = split::row_share(feed.len(), unique, operations, k, workers);
        let rows = feed.rows();
        Ok(Some(WireFeed {
            source: feed.source_name.clone(),
            columns: feed.columns.clone(),
            rows: (0..share.count)
                .map(|i| rows[(share.first + i) % rows.len()].clone())
                .collect(),
            order: feed.order().as_str().into(),
            path: request
                .spec
                .extras
                .feed
                .as_ref()
                .map(|fed| fed.path.text(&fed.feed.columns)),
        }))
    }

    /// The rows as a feed again.
    pub fn feed(&self) -> Result<Feed> {
        let order = match self.order.as_str() {
            "sequential" => FeedOrder::Sequential,
            "random" => FeedOrder::Random,
            "unique" => FeedOrder::Unique,
            other => crate::bail!("unknown feed order '{other}'"),
        };
        Feed::from_rows(&self.source, self.columns.clone(), self.rows.clone(), order)
            .map_err(|e| JobError::msg(e.to_string()))
    }
}

/// One worker's part of one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// The coordinator's version.
    pub version: String,
    /// The run (subjects are named by it).
    pub run: String,
    /// The step's index in the run.
    pub step: u32,
    /// What to load.
    pub load: WireLoad,
    /// This worker's connections.
    pub connections: u32,
    /// Open model: this worker's rate.
    pub rate_per_s: Option<f64>,
    /// Open model: its first operation's place after the start, seconds.
    pub phase_s: f64,
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// Measured time, seconds (or `requests`).
    pub duration_s: Option<f64>,
    /// Measured operations.
    pub requests: Option<u64>,
    /// Per-operation timeout, seconds.
    pub timeout_s: f64,
    /// Generator threads (0: the worker's cores).
    pub threads: u32,
    /// Interval length, seconds.
    pub interval_s: f64,
    /// The common start, Unix seconds on the worker's clock.
    pub start_at_s: f64,
    /// Its rows of the scenario's `--data` feed.
    #[serde(default)]
    pub feed: Option<WireFeed>,
}

/// A worker's answer to an assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AssignReply {
    /// It will start at the given time; its instance.
    Accepted(String),
    /// It will not, and why.
    Refused(String),
}

/// What a worker sends on a run's report subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Report {
    /// One interval's figures (or part of one).
    Snapshot(Box<Snapshot>),
    /// Its part ended: its own record of the step (without intervals,
    /// which its snapshots carried) and the protocol, or why it failed.
    Done {
        /// The worker.
        worker: String,
        /// The step, when it ran.
        step: Option<Box<Step>>,
        /// The driver's protocol name.
        protocol: String,
        /// Why it could not run.
        error: Option<String>,
    },
}

/// Seconds since the Unix epoch.
pub fn unix_s(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A time from Unix seconds.
pub fn from_unix_s(s: f64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs_f64(s.max(0.0))
}

/// A message as JSON bytes.
pub fn encode<T: Serialize>(message: &T) -> bytes::Bytes {
    // Plain data with string keys always serialises.
    serde_json::to_vec(message)
        .expect("wire message serialises")
        .into()
}

/// A message from JSON bytes, or what is wrong with it.
pub fn decode<T: for<'de> Deserialize<'de>>(payload: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(payload).map_err(|e| JobError::msg(format!("malformed {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show() {
        assert_eq!(redact("nats://u:secret@h:4222"), "nats://h:4222");
        assert_eq!(redact("tls://tok@h:4222"), "tls://h:4222");
        assert_eq!(redact("nats://h:4222"), "nats://h:4222");
    }

    #[test]
    fn a_load_goes_over_the_wire_and_back() {
        let target = scalewall_load::Target::parse("redis://:pw@127.0.0.1:6379/2").unwrap();
        let request = crate::load::LoadRequest {
            endpoint: crate::load::Endpoint::Url(&target),
            spec: scalewall_load::transport::http1::RequestSpec {
                method: "GET".into(),
                headers: vec![("X-A".into(), "1".into())],
                body: bytes::Bytes::from_static(b"hi"),
                extras: Default::default(),
            },
            http2: false,
            insecure: false,
            sample_interval: Duration::from_secs(1),
            target_process: None,
            protocol: ProtocolOptions {
                query_params: vec![QueryParam::Random { low: 1, high: 9 }],
                nats_mode: NatsMode::Request,
                ..ProtocolOptions::default()
            },
            fleet: None,
            during_load: Vec::new(),
        };
        let wire = WireLoad::of(&request).unwrap();
        let back: WireLoad = decode(&encode(&wire), "load").unwrap();
        assert_eq!(back, wire);
        let parsed = scalewall_load::Target::parse(&back.url).unwrap();
        assert_eq!(parsed.password.as_deref(), Some("pw"));
        assert_eq!(parsed.path_name(), "2");
        let protocol = back.protocol().unwrap();
        assert_eq!(protocol.query_params, request.protocol.query_params);
        assert_eq!(protocol.nats_mode, NatsMode::Request);
    }
}
