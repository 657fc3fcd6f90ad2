//! Runs load for `bench`, `sweep`, `demo` and every scenario of a job:
//! resolve and check the target once, pick the driver by scheme, run each
//! planned step (reporting live progress to the observer) and return the
//! measured scenario. The caller builds the one `Run` record around it.

use crate::error::{Context as _, JobError, Result};
use crate::observer::Observer;
use crate::scenario::{DataOrderArg, Param, RequestArgs, ONE_PER_ROW};
use scalewall_load::checks::CheckSet;
use scalewall_load::engine::{
    run_step_with, Control, IntervalReport, LiveProgress, Pacing, StepHooks, StepPlan, StopAt,
};
use scalewall_load::events::{StreamFormat, StreamSpec};
use scalewall_load::feed::{FedRequest, FedTexts, Feed, FeedOrder};
use scalewall_load::target::{Scheme, Target};
use scalewall_load::tls;
use scalewall_load::transport::connect_only::ConnectOnly;
use scalewall_load::transport::exec::ExecDriver;
use scalewall_load::transport::http1::{Http1Driver, RequestSpec};
use scalewall_load::transport::http2::Http2Driver;
use scalewall_load::transport::nats::{NatsAuth, NatsDriver, NatsMode};
use scalewall_load::transport::postgres::{PostgresDriver, QueryParam};
use scalewall_load::transport::redis::{RedisDriver, RedisWorkload};
use scalewall_load::transport::tcp::TcpDriver;
use scalewall_load::transport::ws::{WsDriver, WsMessage};
use scalewall_load::transport::HttpExtras;
use scalewall_load::transport::{Connection as _, Driver};
use scalewall_model::{ErrorKind, LoadOptions, Scenario, Step};
use scalewall_probe::process::{self, ProcessSelector};
use scalewall_probe::step_meter::{self, StepMeter};
use scalewall_probe::target::TargetSelector;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Options of the non-HTTP drivers, resolved.
#[derive(Debug, Clone)]
pub struct ProtocolOptions {
    /// Each operation is one connection set-up.
    pub connect_only: bool,
    /// Message/payload/value bytes (`None`: the driver's default).
    pub message_size: Option<usize>,
    /// Operations per round trip.
    pub pipeline: u32,
    /// HTTP/2 requests in flight on each connection.
    pub streams: u32,
    /// Redis command words.
    pub redis_command: String,
    /// Redis key space.
    pub keyspace: u64,
    /// PostgreSQL query.
    pub query: String,
    /// PostgreSQL parameters.
    pub query_params: Vec<QueryParam>,
    /// NATS mode.
    pub nats_mode: NatsMode,
    /// NATS subject.
    pub subject: String,
    /// The rows that fill a Redis command's words, a PostgreSQL query's
    /// parameters or a WebSocket message (`--data`; HTTP's feed is in the
    /// request's extras).
    pub feed: Option<Arc<FedTexts>>,
}

impl Default for ProtocolOptions {
    fn default() -> Self {
        ProtocolOptions {
            connect_only: false,
            message_size: None,
            pipeline: 1,
            streams: 1,
            redis_command: "PING".into(),
            keyspace: 100_000,
            query: "SELECT 1".into(),
            query_params: Vec::new(),
            nats_mode: NatsMode::Publish,
            subject: "scalewall.bench".into(),
            feed: None,
        }
    }
}

impl ProtocolOptions {
    /// The options given on the command line (already validated).
    pub fn from_args(args: &crate::scenario::ProtocolArgs) -> Self {
        let defaults = ProtocolOptions::default();
        ProtocolOptions {
            connect_only: args.connect_only,
            message_size: args.message_size,
            pipeline: args.pipeline.max(1),
            streams: args.streams.max(1),
            redis_command: args.command.clone().unwrap_or(defaults.redis_command),
            keyspace: args.keyspace.max(1),
            query: args.query.clone().unwrap_or(defaults.query),
            query_params: args
                .query_params
                .iter()
                .filter_map(|p| QueryParam::parse(p).ok())
                .collect(),
            nats_mode: match args.nats_mode {
                crate::scenario::NatsModeArg::Publish => NatsMode::Publish,
                crate::scenario::NatsModeArg::Request => NatsMode::Request,
                crate::scenario::NatsModeArg::Jetstream => NatsMode::JetStream,
            },
            subject: args.subject.clone(),
            feed: None,
        }
    }
}

/// The `--exec` template with every parameter's value filled in: the first
/// value of each, or `swept` for the parameter being swept.
pub fn exec_command(template: &str, params: &[Param], swept: Option<&str>) -> String {
    params.iter().fold(template.to_string(), |command, p| {
        let value = match swept {
            Some(v) if p.values.len() > 1 => v,
            _ => p.values[0].as_str(),
        };
        scalewall_load::transport::exec::substitute(&command, &p.name, value)
    })
}

/// What is loaded: a URL, or a command run as the operation.
pub enum Endpoint<'a> {
    /// A parsed URL; its scheme picks the driver.
    Url(&'a Target),
    /// A shell command (placeholders filled).
    Exec(String),
}

/// What to load and how.
pub struct LoadRequest<'a> {
    /// The target.
    pub endpoint: Endpoint<'a>,
    /// Method, headers, body (HTTP).
    pub spec: RequestSpec,
    /// HTTP/2 instead of HTTP/1.1.
    pub http2: bool,
    /// Accept any TLS certificate.
    pub insecure: bool,
    /// How often host and target resources are sampled during each step.
    pub sample_interval: Duration,
    /// The target's processes, when chosen (else: the listeners of a local
    /// target's port and their descendants).
    pub target_process: Option<TargetSelector>,
    /// Options of the other drivers.
    pub protocol: ProtocolOptions,
    /// Run each step on remote workers (a distributed run) instead of here.
    pub fleet: Option<crate::distributed::FleetOptions>,
    /// Custom metrics read as each step ends (`during_load = true`).
    pub during_load: Vec<crate::config::MetricSpec>,
}

/// A worker's part in a distributed step: when to start, its place in
/// the common schedule, and where each interval's figures go.
pub struct Joined<'a> {
    /// The common start (warm-up included), on this machine's clock.
    pub start_at: std::time::SystemTime,
    /// Open model: this worker's first operation is due this long after it.
    pub phase: Duration,
    /// Receives each measured interval.
    pub on_interval: &'a mut dyn FnMut(IntervalReport),
}

/// Runs one step of the plan (the engine here, or a fleet of workers).
pub(crate) type StepRunner<'a> =
    dyn FnMut(&StepPlan, &mut dyn FnMut(&LiveProgress)) -> Result<Step> + 'a;

impl LoadRequest<'_> {
    /// The target as recorded and shown.
    pub fn display(&self) -> String {
        match &self.endpoint {
            Endpoint::Url(target) => target.display.clone(),
            Endpoint::Exec(command) => format!("exec: {command}"),
        }
    }

    /// The rows of `--data`, whichever driver they fill.
    pub fn feed(&self) -> Option<&Feed> {
        let http = self.spec.extras.feed.as_ref().map(|f| &f.feed);
        http.or(self.protocol.feed.as_ref().map(|f| &f.feed))
    }
}

/// Reads the request body named by the arguments.
fn request_body(args: &RequestArgs) -> Result<bytes::Bytes> {
    Ok(match (&args.body, &args.body_file) {
        (Some(text), _) => bytes::Bytes::from(text.clone().into_bytes()),
        (None, Some(path)) => bytes::Bytes::from(
            std::fs::read(path)
                .with_context(|| format!("cannot read --body-file {}", path.display()))?,
        ),
        (None, None) => bytes::Bytes::new(),
    })
}

/// A `--param` sweep (`sweep --exec 'CMD {n}' --param n=10,50,100`, or a
/// config `exec` sweep with a list): one step per value of the swept
/// parameter at one concurrency, in one scenario whose steps carry their
/// values; the sizes to project go with it (`project`). `None` when
/// stopped before any value was measured.
pub fn load_param_sweep(
    args: &RequestArgs,
    plan: &crate::scenario::SweepPlan,
    control: &Control,
    observer: &dyn Observer,
) -> Result<Option<Scenario>> {
    let Some((name, values)) = &plan.swept else {
        return Err(JobError::msg("internal: no swept parameter"));
    };
    let swept_param = plan
        .params
        .iter()
        .find(|p| &p.name == name)
        .ok_or_else(|| JobError::msg("internal: swept parameter missing"))?;
    let exec = args.protocol.exec.clone().unwrap_or_default();
    let mut swept: Option<Scenario> = None;
    for ((value, text), step_plan) in values.iter().zip(&swept_param.values).zip(&plan.steps) {
        if control.is_stopped() {
            break;
        }
        let mut one = load_args(
            args,
            &[],
            &plan.headers,
            &plan.params,
            Some(text),
            std::slice::from_ref(step_plan),
            control,
            observer,
        )?;
        let Some(mut step) = one.steps.pop() else {
            break;
        };
        step.param_value = Some(*value);
        match &mut swept {
            None => {
                one.steps.push(step);
                one.name = "sweep".into();
                one.target = format!("exec: {exec}");
                let options = &mut one.options.protocol_options;
                options.insert("exec".into(), exec.clone());
                options.insert(format!("param.{name}"), swept_param.values.join(","));
                if !args.protocol.project.is_empty() {
                    let sizes: Vec<String> = args
                        .protocol
                        .project
                        .iter()
                        .map(|s| s.to_string())
                        .collect();
                    options.insert("project".into(), sizes.join(","));
                }
                swept = Some(one);
            }
            Some(scenario) => scenario.steps.push(step),
        }
    }
    Ok(swept)
}

/// Loads the URL or the `--exec` command of `args` (with `swept` as the
/// swept `--param`'s value) through the planned steps.
#[allow(clippy::too_many_arguments)] // the scenario's pieces, each distinct
pub fn load_args(
    args: &RequestArgs,
    during_load: &[crate::config::MetricSpec],
    headers: &[(String, String)],
    params: &[Param],
    swept: Option<&str>,
    plans: &[StepPlan],
    control: &Control,
    observer: &dyn Observer,
) -> Result<Scenario> {
    let (url, path_template) = match args.url.as_deref() {
        Some(url) if args.http.data.is_some() => {
            let (parseable, path) = url_template(url);
            (Some(parseable), Some(path))
        }
        url => (url.map(String::from), None),
    };
    let mut target = url.as_deref().map(Target::parse).transpose()?;
    if let (Some(target), Some(raw)) = (target.as_mut(), args.url.as_ref()) {
        if path_template.is_some() {
            raw.clone_into(&mut target.display);
        }
    }
    let endpoint = match (&target, &args.protocol.exec) {
        (Some(target), _) => Endpoint::Url(target),
        (None, Some(template)) => Endpoint::Exec(exec_command(template, params, swept)),
        (None, None) => crate::bail!("give a target URL or --exec"),
    };
    let body = request_body(args)?;
    let mut protocol = ProtocolOptions::from_args(&args.protocol);
    let mut http_feed = read_feed(&args.http)?;
    if let Some(target) = target.as_ref().filter(|t| !t.scheme.is_http()) {
        if let Some(feed) = http_feed.take() {
            let fed = fed_texts(target.scheme, &protocol, &body, feed)?;
            protocol.feed = Some(Arc::new(fed));
        }
    }
    let extras = http_extras(
        &args.http,
        http_feed,
        path_template.as_deref(),
        headers,
        &body,
    )?;
    let request = LoadRequest {
        endpoint,
        spec: RequestSpec {
            method: args.method.clone(),
            headers: headers.to_vec(),
            body,
            extras,
        },
        http2: args.http2,
        insecure: args.insecure,
        sample_interval: args.sample_interval,
        target_process: args.target_process.clone(),
        protocol,
        fleet: crate::distributed::FleetOptions::from_args(&args.fleet, args.threads)?,
        during_load: during_load.to_vec(),
    };
    let plans = match request.feed().filter(|f| f.order() == FeedOrder::Unique) {
        None => plans.to_vec(),
        Some(feed) => one_request_per_row(plans, feed)?,
    };
    run_load(&request, &plans, control, observer)
}

/// A URL with `{{column}}` placeholders as one the URL parser takes
/// (each placeholder a `0`) and its path and query as written.
fn url_template(url: &str) -> (String, String) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let path_at = url[after_scheme..]
        .find(['/', '?'])
        .map_or(url.len(), |i| after_scheme + i);
    let path = match &url[path_at..] {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    let mut parseable = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(open) = rest.find("{{") {
        parseable.push_str(&rest[..open]);
        match rest[open..].find("}}") {
            Some(close) => {
                parseable.push('0');
                rest = &rest[open + close + 2..];
            }
            None => {
                rest = &rest[open..];
                break;
            }
        }
    }
    parseable.push_str(rest);
    (parseable, path)
}

/// The rows of `--data`, read and parsed before any load.
fn read_feed(args: &crate::scenario::HttpArgs) -> Result<Option<Feed>> {
    let Some(path) = &args.data else {
        return Ok(None);
    };
    let order = match args.data_order {
        DataOrderArg::Sequential => FeedOrder::Sequential,
        DataOrderArg::Random => FeedOrder::Random,
        DataOrderArg::Unique => FeedOrder::Unique,
    };
    Feed::read(path, order)
        .map(Some)
        .map_err(|e| JobError::msg(e.to_string()))
}

/// What a feed fills outside HTTP: a Redis command's words, a PostgreSQL
/// query's parameters (a `random:` one keeps its draw), a WebSocket
/// message (the `--body`).
pub(crate) fn fed_texts(
    scheme: Scheme,
    protocol: &ProtocolOptions,
    body: &[u8],
    feed: Feed,
) -> Result<FedTexts> {
    let (place, texts) = match scheme {
        Scheme::Redis => (
            "--command",
            RedisWorkload::new(&protocol.redis_command, 1, 0, 1).command,
        ),
        Scheme::Postgres => (
            "--query-param",
            protocol
                .query_params
                .iter()
                .map(|p| match p {
                    QueryParam::Text(text) => text.clone(),
                    QueryParam::Random { .. } => String::new(),
                })
                .collect(),
        ),
        Scheme::Ws | Scheme::Wss => {
            let Ok(body) = std::str::from_utf8(body) else {
                crate::bail!("--data fills a WebSocket text message: --body must be UTF-8 text");
            };
            if body.is_empty() {
                crate::bail!(
                    "--data on a WebSocket target fills the {{{{column}}}} of --body (the message): give --body"
                );
            }
            ("--body", vec![body.to_string()])
        }
        other => crate::bail!(
            "--data fills HTTP requests, WebSocket messages, Redis commands and PostgreSQL parameters, not {} operations",
            other.as_str()
        ),
    };
    FedTexts::new(feed, place, &texts).map_err(|e| JobError::msg(e.to_string()))
}

/// The checks, streaming and feed of an HTTP scenario; the feed's
/// templates are checked against its rows here, before any load.
fn http_extras(
    args: &crate::scenario::HttpArgs,
    feed: Option<Feed>,
    path_template: Option<&str>,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<HttpExtras> {
    let checks = CheckSet::parse(&args.checks).map_err(JobError::msg)?;
    let stream = args.stream.map(|format| StreamSpec {
        format: match format {
            crate::scenario::StreamArg::Sse => StreamFormat::Sse,
            crate::scenario::StreamArg::Lines => StreamFormat::Lines,
        },
        done: args.stream_done.clone(),
    });
    let feed = match feed {
        None => None,
        Some(feed) => {
            let fed = FedRequest::new(feed, path_template.unwrap_or("/"), headers, body)
                .map_err(|e| JobError::msg(e.to_string()))?;
            Some(Arc::new(fed))
        }
    };
    Ok(HttpExtras {
        feed,
        checks: Arc::new(checks),
        stream,
    })
}

/// A unique feed's bench: one request per row (`-n` at most the rows).
fn one_request_per_row(plans: &[StepPlan], feed: &Feed) -> Result<Vec<StepPlan>> {
    let rows = feed.len() as u64;
    let source = &feed.source_name;
    plans
        .iter()
        .map(|plan| {
            let mut plan = plan.clone();
            plan.stop = match plan.stop {
                StopAt::Operations(ONE_PER_ROW) => StopAt::Operations(rows),
                StopAt::Operations(n) if n > rows => crate::bail!(
                    "-n {n} is more than the {rows} rows of {source}: --data-order unique sends each row once"
                ),
                StopAt::Operations(n) => StopAt::Operations(n),
                StopAt::Duration(_) => crate::bail!(
                    "--data-order unique sends each row once: the step is counted in requests, not time"
                ),
            };
            Ok(plan)
        })
        .collect()
}

/// Runs the planned steps in order and returns the measured scenario
/// (named `bench` or `sweep`; callers rename it). After a stop request the
/// step in progress is kept (partial) and no further step starts: see
/// [`interrupted`] for the run's status.
pub fn run_load(
    request: &LoadRequest<'_>,
    plans: &[StepPlan],
    control: &Control,
    observer: &dyn Observer,
) -> Result<Scenario> {
    let first = plans
        .first()
        .ok_or_else(|| JobError::msg("no load steps planned"))?;
    let (protocol, steps) = match &request.fleet {
        Some(fleet) => {
            crate::distributed::coordinator::measure(request, fleet, plans, control, observer)?
        }
        None => measure_endpoint(request, plans, control, observer, None)?,
    };
    let mut options = load_options(request, first);
    if plans.len() > 1 {
        options.concurrency_levels = plans.iter().map(|p| p.connections).collect();
    }
    Ok(Scenario {
        name: if plans.len() > 1 {
            "sweep".into()
        } else {
            "bench".into()
        },
        target: request.display(),
        protocol: protocol.into(),
        options,
        steps,
        known_answer: None,
        search: None,
    })
}

/// Whether a load was cut short: a stop was requested or a step did not
/// run to its planned end.
pub fn interrupted(control: &Control, scenario: &Scenario) -> bool {
    control.is_stopped() || scenario.steps.iter().any(|s| !s.completed)
}

/// Picks the driver for the endpoint, checks it once and measures every
/// step (as a worker of a distributed step when `joined`).
pub(crate) fn measure_endpoint(
    request: &LoadRequest<'_>,
    plans: &[StepPlan],
    control: &Control,
    observer: &dyn Observer,
    joined: Option<Joined<'_>>,
) -> Result<(&'static str, Vec<Step>)> {
    let timeout = plans.first().map_or(Duration::from_secs(10), |p| p.timeout);
    let mut load = Load {
        request,
        plans,
        control,
        observer,
        joined,
        timeout,
        exec_meter: None,
    };
    let target = match &request.endpoint {
        Endpoint::Exec(command) => {
            // A command has no address; the one placeholder address is never used.
            let none = [SocketAddr::from(([0, 0, 0, 0], 0))];
            let meter = Arc::new(scalewall_load::transport::exec::Meter::default());
            load.exec_meter = Some(meter.clone());
            return load.drive(&none, |_| Ok(ExecDriver::metered(command, meter.clone())));
        }
        Endpoint::Url(target) => *target,
    };
    let addrs = target.resolve()?;
    let p = &request.protocol;
    let tls_config = |alpn: &[&[u8]]| Some(tls::client_config(alpn, request.insecure));
    match target.scheme {
        Scheme::Http | Scheme::Https if request.http2 => {
            let tls = tls_config(&[b"h2"]);
            load.drive(&addrs, |addr| {
                Http2Driver::new(target, addr, &request.spec, tls.clone(), p.streams)
            })
        }
        Scheme::Http | Scheme::Https => {
            let tls = tls_config(&[b"http/1.1"]);
            load.drive(&addrs, |addr| {
                Http1Driver::new(target, addr, &request.spec, tls.clone())
            })
        }
        Scheme::Ws | Scheme::Wss => {
            let tls = tls_config(&[b"http/1.1"]);
            load.drive(&addrs, |addr| {
                WsDriver::new(
                    target,
                    addr,
                    ws_message(&request.spec.body, p),
                    p.pipeline,
                    tls.clone(),
                )
            })
        }
        Scheme::Tcp => load.drive(&addrs, |addr| {
            Ok(TcpDriver::new(addr, p.message_size.unwrap_or(0)))
        }),
        Scheme::Redis => {
            let database = match target.path_name() {
                "" => None,
                db => Some(db.parse::<u32>().map_err(|_| {
                    JobError::msg(format!(
                        "{}: '/{db}' is not a Redis database number",
                        target.display
                    ))
                })?),
            };
            let mut workload = RedisWorkload::new(
                &p.redis_command,
                p.keyspace,
                p.message_size.unwrap_or(3),
                p.pipeline,
            );
            workload.feed = p.feed.clone();
            load.drive(&addrs, |addr| {
                Ok(RedisDriver::new(
                    addr,
                    target.user.clone(),
                    target.password.clone(),
                    database,
                    workload.clone(),
                ))
            })
        }
        Scheme::Postgres => load.drive(&addrs, |addr| {
            Ok(PostgresDriver::new(
                target,
                addr,
                &p.query,
                p.query_params.clone(),
                p.feed.clone(),
            ))
        }),
        Scheme::Nats => load.drive(&addrs, |addr| {
            NatsDriver::new(
                addr,
                NatsAuth {
                    user: target.user.clone(),
                    password: target.password.clone(),
                },
                p.nats_mode,
                &p.subject,
                p.message_size.unwrap_or(64),
                p.pipeline,
            )
        }),
    }
}

/// A WebSocket load's messages: the feed's, the body (text when it is
/// UTF-8, else binary), or binary ones of `--message-size`.
fn ws_message(body: &[u8], p: &ProtocolOptions) -> WsMessage {
    match (&p.feed, std::str::from_utf8(body)) {
        (Some(feed), _) => WsMessage::Fed(feed.clone()),
        (None, _) if body.is_empty() => WsMessage::Sized(p.message_size.unwrap_or(64)),
        (None, Ok(text)) => WsMessage::Text(text.to_string()),
        (None, Err(_)) => WsMessage::Binary(body.to_vec()),
    }
}

/// What every driver of an endpoint is run with.
struct Load<'a, 'j> {
    request: &'a LoadRequest<'a>,
    plans: &'a [StepPlan],
    control: &'a Control,
    observer: &'a dyn Observer,
    joined: Option<Joined<'j>>,
    timeout: Duration,
    /// An `--exec` load's meter of its operations' processes.
    exec_meter: Option<Arc<scalewall_load::transport::exec::Meter>>,
}

impl Load<'_, '_> {
    /// Checks the driver (one connection, and one operation for the
    /// non-HTTP drivers) and measures the steps, each operation a
    /// connection set-up under `--connect-only`.
    fn drive<D: Driver>(
        self,
        addrs: &[SocketAddr],
        make: impl Fn(SocketAddr) -> Result<D, scalewall_load::OpError>,
    ) -> Result<(&'static str, Vec<Step>)> {
        let Load {
            request,
            plans,
            control,
            observer,
            mut joined,
            timeout,
            exec_meter,
        } = self;
        // A fed operation is the user's row: the check never takes one
        // (a unique feed would lose it, an INSERT would write it twice).
        let check_call = !matches!(&request.endpoint, Endpoint::Url(t) if t.scheme.is_http())
            && request.protocol.feed.is_none();
        let driver = preflight(request, timeout, addrs, check_call, make)?;
        let protocol = driver.protocol();
        fn runner<'a, 'j: 'a, D: Driver>(
            driver: Arc<D>,
            control: &'a Control,
            joined: &'a mut Option<Joined<'j>>,
        ) -> Box<StepRunner<'a>> {
            Box::new(move |plan, on_progress| {
                let hooks = match joined.as_mut() {
                    Some(j) => StepHooks {
                        start_at: Some(j.start_at),
                        phase: j.phase,
                        on_interval: Some(&mut *j.on_interval),
                    },
                    None => StepHooks::default(),
                };
                Ok(run_step_with(
                    driver.clone(),
                    plan,
                    control,
                    on_progress,
                    hooks,
                )?)
            })
        }
        let mut run_one = if request.protocol.connect_only {
            runner(Arc::new(ConnectOnly(driver)), control, &mut joined)
        } else {
            runner(Arc::new(driver), control, &mut joined)
        };
        let steps = measure_all(
            request,
            addrs,
            plans,
            control,
            observer,
            &mut *run_one,
            exec_meter.as_deref(),
        )?;
        Ok((protocol, steps))
    }
}

fn load_options(request: &LoadRequest<'_>, plan: &StepPlan) -> LoadOptions {
    let p = &request.protocol;
    let mut protocol_options = std::collections::BTreeMap::new();
    let mut method = request.spec.method.clone();
    let scheme = match &request.endpoint {
        Endpoint::Url(target) => Some(target.scheme),
        Endpoint::Exec(command) => {
            method = "exec".into();
            protocol_options.insert("exec".to_string(), command.clone());
            None
        }
    };
    if p.connect_only {
        protocol_options.insert("connect_only".into(), "true".into());
    }
    if request.http2 {
        protocol_options.insert("streams".into(), p.streams.to_string());
    }
    let extras = &request.spec.extras;
    for (i, check) in extras.checks.names().into_iter().enumerate() {
        protocol_options.insert(format!("check.{}", i + 1), check);
    }
    if let Some(stream) = &extras.stream {
        let format = match stream.format {
            StreamFormat::Sse => "sse",
            StreamFormat::Lines => "lines",
        };
        protocol_options.insert("stream".into(), format.into());
        if let Some(done) = &stream.done {
            protocol_options.insert("stream_done".into(), done.clone());
        }
    }
    if let Some(feed) = request.feed() {
        protocol_options.insert("data".into(), feed.source_name.clone());
        protocol_options.insert("data_order".into(), feed.order().as_str().into());
        protocol_options.insert("data_rows".into(), feed.len().to_string());
    }
    if let Some(scheme) = scheme.filter(|s| !s.is_http()) {
        let message_size = |default: usize| p.message_size.unwrap_or(default).to_string();
        match scheme {
            Scheme::Ws | Scheme::Wss => {
                method = "echo".into();
                if request.spec.body.is_empty() {
                    protocol_options.insert("message_bytes".into(), message_size(64));
                } else {
                    let message = String::from_utf8_lossy(&request.spec.body).into_owned();
                    protocol_options.insert("message".into(), message);
                }
                protocol_options.insert("pipeline".into(), p.pipeline.to_string());
            }
            Scheme::Tcp => {
                let bytes = p.message_size.unwrap_or(0);
                method = if bytes == 0 { "connect" } else { "echo" }.into();
                protocol_options.insert("message_bytes".into(), bytes.to_string());
            }
            Scheme::Redis => {
                method = p.redis_command.clone();
                protocol_options.insert("command".into(), p.redis_command.clone());
                protocol_options.insert("keyspace".into(), p.keyspace.to_string());
                protocol_options.insert("value_bytes".into(), message_size(3));
                protocol_options.insert("pipeline".into(), p.pipeline.to_string());
            }
            Scheme::Postgres => {
                method = "query".into();
                protocol_options.insert("query".into(), p.query.clone());
                for (i, param) in p.query_params.iter().enumerate() {
                    protocol_options.insert(format!("query_param.{}", i + 1), format!("{param:?}"));
                }
            }
            Scheme::Nats => {
                method = format!("{:?}", p.nats_mode).to_lowercase();
                protocol_options.insert("nats_mode".into(), method.clone());
                protocol_options.insert("subject".into(), p.subject.clone());
                protocol_options.insert("message_bytes".into(), message_size(64));
                protocol_options.insert("pipeline".into(), p.pipeline.to_string());
            }
            Scheme::Http | Scheme::Https => {}
        }
    }
    LoadOptions {
        method,
        protocol_options,
        header_names: request
            .spec
            .headers
            .iter()
            .map(|(n, _)| n.clone())
            .collect(),
        body_bytes: request.spec.body.len() as u64,
        connections: plan.connections,
        rate_per_s: match &plan.pacing {
            Pacing::Closed => None,
            Pacing::Open { rate_per_s } => Some(*rate_per_s),
            Pacing::Ramp(ramp) => Some(ramp.mean_rate()),
        },
        duration_s: match plan.stop {
            StopAt::Duration(d) => Some(d.as_secs_f64()),
            StopAt::Operations(_) => None,
        },
        requests: match plan.stop {
            StopAt::Operations(n) => Some(n),
            StopAt::Duration(_) => None,
        },
        warmup_s: plan.warmup.as_secs_f64(),
        timeout_s: plan.timeout.as_secs_f64(),
        threads: plan.effective_threads(),
        concurrency_levels: Vec::new(),
    }
}

/// Opens one connection to each resolved address until one works; the
/// working address is the one loaded. With `check_call` (not HTTP, and no
/// data feed), one operation must succeed too, so a wrong query, command or
/// subject stops before the load with the server's own words. Fails with
/// the target and the reason.
fn preflight<D: Driver>(
    request: &LoadRequest<'_>,
    timeout: Duration,
    addrs: &[SocketAddr],
    check_call: bool,
    make: impl Fn(SocketAddr) -> Result<D, scalewall_load::OpError>,
) -> Result<D> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the connection check")?;
    let mut last_error = None;
    let display = request.display();
    for &addr in addrs {
        let driver = make(addr).map_err(|e| JobError::msg(format!("{display}: {}", e.message)))?;
        let attempt = runtime.block_on(async {
            tokio::time::timeout(timeout, async {
                let mut connection = driver.connect().await?;
                if check_call {
                    connection.call().await?;
                }
                Ok::<_, scalewall_load::OpError>(())
            })
            .await
        });
        match attempt {
            Ok(Ok(())) => return Ok(driver),
            Ok(Err(e)) if check_call && !matches!(e.kind, ErrorKind::Connect) => {
                // The server answered: another address would answer the same.
                return Err(JobError::msg(format!(
                    "{display}: {} error: {}",
                    e.kind.as_str(),
                    e.message
                )));
            }
            Ok(Err(e)) => last_error = Some(e.message),
            Err(_) => {
                last_error = Some(format!(
                    "{addr}: no connection within {}",
                    humantime::format_duration(timeout)
                ))
            }
        }
    }
    Err(JobError::msg(format!(
        "cannot connect to {display}: {}",
        last_error.unwrap_or_else(|| "no address".into())
    )))
}

/// Measures every planned step with `run_one`, sampling this host's and a
/// local target's resources around each.
pub(crate) fn measure_all(
    request: &LoadRequest<'_>,
    addrs: &[SocketAddr],
    plans: &[StepPlan],
    control: &Control,
    observer: &dyn Observer,
    run_one: &mut StepRunner<'_>,
    exec_meter: Option<&scalewall_load::transport::exec::Meter>,
) -> Result<Vec<Step>> {
    let (target_set, target_note) = match &request.endpoint {
        Endpoint::Url(target) => local_target_set(target, addrs, request.target_process.as_ref()),
        Endpoint::Exec(_) => (
            None,
            Some("each operation is its own short-lived process".to_string()),
        ),
    };
    let local = matches!(&request.endpoint, Endpoint::Url(_))
        && !addrs.is_empty()
        && addrs.iter().all(|a| a.ip().is_loopback());
    let mut steps = Vec::with_capacity(plans.len());
    for (index, plan) in plans.iter().enumerate() {
        if control.is_stopped() {
            break;
        }
        let label = if plans.len() > 1 {
            format!(
                "step {}/{} (N = {}) ",
                index + 1,
                plans.len(),
                plan.connections
            )
        } else {
            String::new()
        };
        let mut on_progress = |live: &LiveProgress| {
            observer.step_progress(&label, live);
        };
        // Probing must never cost the measurement: a probe failure only
        // leaves the step without resource figures.
        let meter = StepMeter::start(target_set.as_ref(), request.sample_interval);
        // The kernel's listen-queue counters are this host's: they say
        // something of the target only when it runs here.
        let queue_before = local.then(step_meter::listen_queue_now).flatten();
        // What the preflight's or the last step's operations cost is not
        // this step's.
        if let Some(meter) = exec_meter {
            meter.take();
        }
        let step = run_one(plan, &mut on_progress);
        observer.step_finished();
        let commands = exec_meter.map(|m| m.take()).filter(|c| c.operations > 0);
        let mut step = step?;
        let queue_after = queue_before.and_then(|_| step_meter::listen_queue_now());
        step.resources = meter
            .ok()
            .and_then(|m| m.finish().ok())
            .map(|mut resources| {
                if resources.target_note.is_none() {
                    resources.target_note = target_note.clone();
                }
                resources.listen_queue = queue_before
                    .zip(queue_after)
                    .map(|(before, after)| step_meter::listen_queue_moved(before, after));
                resources
            });
        if let Some(commands) = commands {
            step.resources
                .get_or_insert_with(|| scalewall_model::StepResources {
                    target_note: target_note.clone(),
                    ..Default::default()
                })
                .commands = Some(commands);
        }
        // The service's own numbers as the step ends, beside its resources.
        step.custom = crate::job::sample_custom_metrics(&request.during_load);
        steps.push(step);
    }
    Ok(steps)
}

/// The processes serving the target on this host (the listeners of its
/// port and their descendants, or the set `chosen` names), or why there
/// are none.
fn local_target_set(
    target: &Target,
    addrs: &[SocketAddr],
    chosen: Option<&TargetSelector>,
) -> (Option<TargetSelector>, Option<String>) {
    if let Some(selector) = chosen {
        return (Some(selector.clone()), None);
    }
    let local = !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback());
    if !local {
        return (None, Some("the target is not on this host".into()));
    }
    let me = std::process::id() as i32;
    match process::resolve(&ProcessSelector::Port(target.port)) {
        Ok(pids) if pids.iter().all(|&pid| pid == me) => (
            None,
            Some(
                "the target runs inside this scalewall process; its CPU cannot be told apart"
                    .into(),
            ),
        ),
        Ok(_) => (
            Some(TargetSelector::Processes {
                roots: ProcessSelector::Port(target.port),
                tree: true,
            }),
            None,
        ),
        Err(error) => (None, Some(error.to_string())),
    }
}
