//! demo-server: an HTTP/1.1 + h2c target whose answers are known in advance.
//!
//! Tests, benchmarks and `scalewall demo` measure it because its behaviour is
//! set, not observed: each request is held for `latency × (1 + σ(n−1) +
//! κ·n(n−1))`, where n is the number of requests in flight when it arrives
//! (itself included), so closed-loop throughput follows the Universal
//! Scalability Law X(N) = N / (latency · (1 + σ(N−1) + κN(N−1))) exactly.
//! Holds are timed by a dedicated thread ([`timer`]) because tokio's timer
//! wheel has 1 ms granularity. `--error-rate` answers a share of requests with
//! 500, and a stall window can freeze it to create the coordinated-omission
//! case. `GET /health` and `GET /stats` are never delayed or counted, and
//! `GET /ws` is a WebSocket echo ([`echo`]).
//!
//! For streamed responses, checks and data feeds: `GET
//! /stream?events=N&gap=5ms` answers Server-Sent Events, `N` of them
//! `gap` apart after the hold; `--bad-body-rate` answers a share of
//! requests `200 {"ok":false}` (the others `{"ok":true}`); and `/stats`
//! counts the distinct request bodies (and WebSocket messages) seen and
//! how many came again.

#![deny(missing_docs)]

pub mod echo;
pub mod leak;
pub mod timer;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::collections::HashSet;
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use timer::PreciseTimer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

/// A window during which the server freezes: requests arriving in it are
/// held until it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    /// When the stall begins, counted from the first load request served.
    pub after: Duration,
    /// How long it lasts.
    pub duration: Duration,
}

/// How the demo server behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemoConfig {
    /// Hold time of a request when it is alone.
    pub latency: Duration,
    /// USL contention σ: a linear cost per other request in flight.
    pub sigma: f64,
    /// USL coherency κ: a quadratic cost in requests in flight.
    pub kappa: f64,
    /// Share of load requests answered with 500 (0–1).
    pub error_rate: f64,
    /// Optional stall window.
    pub stall: Option<Stall>,
    /// Share of load requests answered `200 {"ok":false}` (0–1); when it
    /// is above 0 the others are answered `{"ok":true}`.
    pub bad_body_rate: f64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            latency: Duration::ZERO,
            sigma: 0.0,
            kappa: 0.0,
            error_rate: 0.0,
            stall: None,
            bad_body_rate: 0.0,
        }
    }
}

/// Why a demo server configuration is unusable.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DemoConfigError {
    /// σ or κ is negative or not finite.
    #[error("--{name} must be a finite number ≥ 0, got {value}")]
    Coefficient {
        /// `sigma` or `kappa`.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// Error rate outside 0–1.
    #[error("--error-rate must be between 0 and 1, got {0}")]
    ErrorRate(f64),
    /// Bad-body rate outside 0–1.
    #[error("--bad-body-rate must be between 0 and 1, got {0}")]
    BadBodyRate(f64),
}

impl DemoConfig {
    /// Checks the coefficients.
    pub fn validate(&self) -> Result<(), DemoConfigError> {
        for (name, value) in [("sigma", self.sigma), ("kappa", self.kappa)] {
            if !value.is_finite() || value < 0.0 {
                return Err(DemoConfigError::Coefficient { name, value });
            }
        }
        if !(0.0..=1.0).contains(&self.error_rate) || self.error_rate.is_nan() {
            return Err(DemoConfigError::ErrorRate(self.error_rate));
        }
        if !(0.0..=1.0).contains(&self.bad_body_rate) || self.bad_body_rate.is_nan() {
            return Err(DemoConfigError::BadBodyRate(self.bad_body_rate));
        }
        Ok(())
    }

    /// Hold time for a request arriving with `in_flight` requests (itself included).
    pub fn hold(&self, in_flight: usize) -> Duration {
        let n = in_flight.max(1) as f64;
        let factor = 1.0 + self.sigma * (n - 1.0) + self.kappa * n * (n - 1.0);
        self.latency.mul_f64(factor)
    }

    /// The throughput the server sustains under a closed loop of `clients`
    /// (requests/s), by the USL; `None` when latency is zero.
    pub fn expected_throughput(&self, clients: u32) -> Option<f64> {
        let hold = self.hold(clients as usize).as_secs_f64();
        (hold > 0.0).then(|| f64::from(clients) / hold)
    }
}

/// Counters and shared machinery of one server.
pub struct DemoState {
    config: DemoConfig,
    requests: AtomicU64,
    errors: AtomicU64,
    in_flight: AtomicUsize,
    /// The most load requests ever in flight at once.
    peak_in_flight: AtomicUsize,
    /// Connections accepted, and open now.
    connections: AtomicU64,
    open_connections: AtomicUsize,
    /// The most connections ever open at once.
    peak_open_connections: AtomicUsize,
    draws: AtomicU64,
    /// Sum of (response ready − deadline) over held requests, nanoseconds.
    overshoot_ns: AtomicU64,
    held: AtomicU64,
    first_request: OnceLock<Instant>,
    timer: PreciseTimer,
    /// Answers with `{"ok":false}`.
    bad_bodies: AtomicU64,
    /// Hashes of the non-empty request bodies seen, and how many bodies
    /// had been seen before.
    bodies: Mutex<HashSet<u64>>,
    repeated_bodies: AtomicU64,
    body_draws: AtomicU64,
}

impl DemoState {
    /// State for a server with `config` (starts the hold timer thread).
    pub fn new(config: DemoConfig) -> std::io::Result<Arc<Self>> {
        Ok(Arc::new(DemoState {
            config,
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
            connections: AtomicU64::new(0),
            open_connections: AtomicUsize::new(0),
            peak_open_connections: AtomicUsize::new(0),
            draws: AtomicU64::new(0),
            overshoot_ns: AtomicU64::new(0),
            held: AtomicU64::new(0),
            first_request: OnceLock::new(),
            timer: PreciseTimer::start()?,
            bad_bodies: AtomicU64::new(0),
            bodies: Mutex::new(HashSet::new()),
            repeated_bodies: AtomicU64::new(0),
            body_draws: AtomicU64::new(0),
        }))
    }

    /// Load requests answered so far (`/health` and `/stats` excluded).
    pub fn requests_served(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Load requests answered with an injected 500.
    pub fn errors_served(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The most load requests that were ever in flight at once (HTTP/2
    /// streams on one connection each count).
    pub fn peak_in_flight(&self) -> usize {
        self.peak_in_flight.load(Ordering::Relaxed)
    }

    /// Connections accepted so far.
    pub fn connections_accepted(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// The most connections that were ever open at once.
    pub fn peak_open_connections(&self) -> usize {
        self.peak_open_connections.load(Ordering::Relaxed)
    }

    /// Mean time by which held requests overran their hold, microseconds:
    /// how far the server itself is from its known answer.
    pub fn mean_hold_overshoot_us(&self) -> f64 {
        let held = self.held.load(Ordering::Relaxed);
        if held == 0 {
            return 0.0;
        }
        self.overshoot_ns.load(Ordering::Relaxed) as f64 / held as f64 / 1e3
    }

    /// Load requests answered `{"ok":false}` (`--bad-body-rate`).
    pub fn bad_bodies_served(&self) -> u64 {
        self.bad_bodies.load(Ordering::Relaxed)
    }

    /// Distinct non-empty request bodies seen so far.
    pub fn distinct_bodies(&self) -> usize {
        self.bodies.lock().map_or(0, |b| b.len())
    }

    /// Non-empty request bodies that had been seen before.
    pub fn repeated_bodies(&self) -> u64 {
        self.repeated_bodies.load(Ordering::Relaxed)
    }

    /// Notes a request body: distinct, or seen before.
    fn note_body(&self, body: &[u8]) {
        if body.is_empty() {
            return;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        body.hash(&mut hasher);
        let fresh = self
            .bodies
            .lock()
            .map(|mut seen| seen.insert(hasher.finish()))
            .unwrap_or(true);
        if !fresh {
            self.repeated_bodies.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A deterministic uniform draw in [0, 1) (SplitMix64 over a counter).
    fn draw(&self) -> f64 {
        splitmix(&self.draws)
    }
}

/// The next of a deterministic sequence of uniform draws in [0, 1)
/// (SplitMix64 over `counter`).
fn splitmix(counter: &AtomicU64) -> f64 {
    {
        let mut z = counter
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Decrements the in-flight count even when the client goes away mid-hold
/// (and the open-connection count when a connection ends).
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body: whole, or a stream of events.
pub type DemoBody = http_body_util::Either<Full<Bytes>, EventBody>;

/// A body whose chunks (Server-Sent Events) come from a task that times them.
pub struct EventBody(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|data| Ok(hyper::body::Frame::data(data))))
    }
}

/// `/stream?events=N&gap=D`: the number of events (default 10, at most
/// 100,000) and the gap between them (default 5 ms).
fn stream_query(query: Option<&str>) -> Result<(u32, Duration), String> {
    let mut events = 10u32;
    let mut gap = Duration::from_millis(5);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("events", n)) => {
                events = n
                    .parse()
                    .ok()
                    .filter(|&n| n <= 100_000)
                    .ok_or_else(|| format!("events={n}: give a count of at most 100000"))?;
            }
            Some(("gap", d)) => {
                gap = humantime::parse_duration(d)
                    .map_err(|e| format!("gap={d}: {e} (e.g. gap=5ms)"))?;
            }
            _ => return Err(format!("unknown parameter '{pair}' (events=N, gap=5ms)")),
        }
    }
    Ok((events, gap))
}

/// Sends `events` SSE events `gap` apart, the first at once.
fn event_stream(state: Arc<DemoState>, events: u32, gap: Duration) -> Response<DemoBody> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let start = Instant::now();
        for i in 0..events {
            let due = start + gap * i;
            if due > Instant::now() {
                state.timer.sleep_until(due).await;
            }
            let event = Bytes::from(format!("id: {i}\ndata: {{\"event\":{i}}}\n\n"));
            if tx.send(event).await.is_err() {
                return; // the client went away
            }
        }
    });
    let mut response = Response::new(http_body_util::Either::Right(EventBody(rx)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    response
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<DemoBody> {
    let mut response = Response::new(http_body_util::Either::Left(Full::new(Bytes::from(body))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

async fn handle(
    request: Request<Incoming>,
    state: Arc<DemoState>,
) -> Result<Response<DemoBody>, Infallible> {
    match request.uri().path() {
        "/ws" => {
            return Ok(echo::websocket_upgrade::<Full<Bytes>>(request, {
                let state = state.clone();
                move |message: &[u8]| state.note_body(message)
            })
            .map(http_body_util::Either::Left))
        }
        "/health" => {
            return Ok(text(
                StatusCode::OK,
                "application/json",
                r#"{"status":"healthy"}"#.into(),
            ));
        }
        "/stats" => {
            let body = format!(
                r#"{{"requests":{},"errors":{},"bad_bodies":{},"in_flight":{},"peak_in_flight":{},"connections":{},"open_connections":{},"peak_open_connections":{},"distinct_bodies":{},"repeated_bodies":{},"hold_overshoot_us_mean":{:.1}}}"#,
                state.requests_served(),
                state.errors_served(),
                state.bad_bodies_served(),
                state.in_flight.load(Ordering::Relaxed),
                state.peak_in_flight(),
                state.connections_accepted(),
                state.open_connections.load(Ordering::Relaxed),
                state.peak_open_connections(),
                state.distinct_bodies(),
                state.repeated_bodies(),
                state.mean_hold_overshoot_us()
            );
            return Ok(text(StatusCode::OK, "application/json", body));
        }
        _ => {}
    }
    let stream = match request.uri().path() {
        "/stream" => match stream_query(request.uri().query()) {
            Ok(stream) => Some(stream),
            Err(why) => {
                return Ok(text(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    format!("/stream: {why}\n"),
                ))
            }
        },
        _ => None,
    };
    let arrival = Instant::now();
    let n = state.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    let _guard = InFlight(&state.in_flight);
    state.peak_in_flight.fetch_max(n, Ordering::Relaxed);
    // Read any request body before answering; only its hash is kept.
    if let Ok(body) = request.into_body().collect().await {
        state.note_body(&body.to_bytes());
    }
    let mut deadline = arrival + state.config.hold(n);
    if let Some(stall) = state.config.stall {
        let first = *state.first_request.get_or_init(|| arrival);
        let stall_start = first + stall.after;
        let stall_end = stall_start + stall.duration;
        if arrival >= stall_start && arrival < stall_end {
            deadline = deadline.max(stall_end);
        }
    }
    if deadline > Instant::now() {
        state.timer.sleep_until(deadline).await;
        let overshoot = Instant::now().saturating_duration_since(deadline);
        state.overshoot_ns.fetch_add(
            u64::try_from(overshoot.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        state.held.fetch_add(1, Ordering::Relaxed);
    }
    state.requests.fetch_add(1, Ordering::Relaxed);
    if state.config.error_rate > 0.0 && state.draw() < state.config.error_rate {
        state.errors.fetch_add(1, Ordering::Relaxed);
        return Ok(text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "injected error\n".into(),
        ));
    }
    if let Some((events, gap)) = stream {
        return Ok(event_stream(state.clone(), events, gap));
    }
    if state.config.bad_body_rate > 0.0 {
        let bad = splitmix(&state.body_draws) < state.config.bad_body_rate;
        if bad {
            state.bad_bodies.fetch_add(1, Ordering::Relaxed);
        }
        let body = if bad {
            r#"{"ok":false}"#
        } else {
            r#"{"ok":true}"#
        };
        return Ok(text(StatusCode::OK, "application/json", body.into()));
    }
    Ok(text(StatusCode::OK, "text/plain", "ok\n".into()))
}

/// Serves one connection (HTTP/1.1, or HTTP/2 when the client opens with the
/// h2 preface) until it closes.
pub async fn serve_connection<I>(io: I, state: Arc<DemoState>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    state.connections.fetch_add(1, Ordering::Relaxed);
    let open = state.open_connections.fetch_add(1, Ordering::Relaxed) + 1;
    state
        .peak_open_connections
        .fetch_max(open, Ordering::Relaxed);
    let counted = state.clone();
    let _open = InFlight(&counted.open_connections);
    let service = hyper::service::service_fn(move |request| handle(request, state.clone()));
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .await;
}

/// Accepts connections forever.
pub async fn serve(listener: TcpListener, state: Arc<DemoState>) -> std::io::Result<()> {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors or similar: keep serving the connections we have.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(stream, state.clone()));
    }
}

/// A demo server running on its own threads in this process.
pub struct RunningDemo {
    addr: SocketAddr,
    state: Arc<DemoState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningDemo {
    /// Binds `listen` and serves on a runtime with `threads` workers.
    pub fn start(
        listen: SocketAddr,
        config: DemoConfig,
        threads: usize,
    ) -> std::io::Result<RunningDemo> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("demo-server")
            .enable_all()
            .build()?;
        let listener = runtime.block_on(TcpListener::bind(listen))?;
        let addr = listener.local_addr()?;
        let state = DemoState::new(config)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serving = state.clone();
        let thread = std::thread::Builder::new()
            .name("demo-server-main".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        _ = serve(listener, serving) => {}
                        _ = rx => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(RunningDemo {
            addr,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/` of this server.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Load requests answered so far.
    pub fn requests_served(&self) -> u64 {
        self.state.requests_served()
    }

    /// Requests answered with an injected 500.
    pub fn errors_served(&self) -> u64 {
        self.state.errors_served()
    }

    /// The server's counters (connections, peaks).
    pub fn state(&self) -> &DemoState {
        &self.state
    }
}

impl Drop for RunningDemo {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_follows_the_usl_denominator() {
        let config = DemoConfig {
            latency: Duration::from_millis(10),
            sigma: 0.05,
            kappa: 0.002,
            ..DemoConfig::default()
        };
        assert_eq!(config.hold(1), Duration::from_millis(10));
        // n = 4: 1 + 0.05·3 + 0.002·4·3 = 1.174
        let hold = config.hold(4).as_secs_f64();
        assert!((hold - 0.01174).abs() < 1e-9, "{hold}");
        let x = config.expected_throughput(4).unwrap();
        assert!((x - 4.0 / 0.01174).abs() < 1e-6, "{x}");
    }

    #[test]
    fn draws_are_uniform_enough_for_error_rates() {
        let state = DemoState::new(DemoConfig::default()).unwrap();
        let n = 100_000;
        let below = (0..n).filter(|_| state.draw() < 0.2).count();
        let share = below as f64 / n as f64;
        assert!((share - 0.2).abs() < 0.01, "{share}");
    }

    /// One request over a fresh connection (`Connection: close`): the
    /// response's bytes, each read with the time it arrived.
    fn exchange(demo: &RunningDemo, request: &str) -> Vec<(Instant, Vec<u8>)> {
        use std::io::{Read, Write};
        let mut socket = std::net::TcpStream::connect(demo.addr()).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        socket.write_all(request.as_bytes()).unwrap();
        let mut reads = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match socket.read(&mut buf) {
                Ok(0) => return reads,
                Ok(n) => reads.push((Instant::now(), buf[..n].to_vec())),
                Err(e) => panic!("reading the response: {e}"),
            }
        }
    }

    fn text_of(reads: &[(Instant, Vec<u8>)]) -> String {
        String::from_utf8_lossy(
            &reads
                .iter()
                .flat_map(|(_, b)| b.clone())
                .collect::<Vec<_>>(),
        )
        .into_owned()
    }

    #[test]
    fn stream_sends_a_known_number_of_events_a_gap_apart() {
        let demo =
            RunningDemo::start(([127, 0, 0, 1], 0).into(), DemoConfig::default(), 1).unwrap();
        let sent = Instant::now();
        let reads = exchange(
            &demo,
            "GET /stream?events=20&gap=5ms HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let text = text_of(&reads);
        assert!(text.contains("content-type: text/event-stream"), "{text}");
        let ids: Vec<u32> = text
            .lines()
            .filter_map(|l| l.strip_prefix("id: "))
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(ids, (0..20).collect::<Vec<_>>());
        assert_eq!(text.matches("data: {\"event\":").count(), 20);
        // The last event is due 19 gaps after the first.
        let last = reads.last().unwrap().0;
        assert!(
            last - sent >= Duration::from_millis(95),
            "{:?}",
            last - sent
        );
        assert_eq!(demo.requests_served(), 1);

        let bad = exchange(
            &demo,
            "GET /stream?events=x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let text = text_of(&bad);
        assert!(text.starts_with("HTTP/1.1 400"), "{text}");
        assert!(text.contains("events=x: give a count"), "{text}");
    }

    #[test]
    fn bad_bodies_are_a_known_share_and_request_bodies_are_counted() {
        let config = DemoConfig {
            bad_body_rate: 0.1,
            ..DemoConfig::default()
        };
        let state = DemoState::new(config).unwrap();
        let n = 1_000;
        let bad = (0..n)
            .filter(|_| splitmix(&state.body_draws) < config.bad_body_rate)
            .count();
        assert!((90..=110).contains(&bad), "{bad} of {n}");

        let demo = RunningDemo::start(([127, 0, 0, 1], 0).into(), config, 1).unwrap();
        let mut answers = Vec::new();
        for body in ["a=1", "a=2", "a=1"] {
            let request = format!(
                "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            answers.push(text_of(&exchange(&demo, &request)));
        }
        for answer in &answers {
            assert!(
                answer.ends_with(r#"{"ok":true}"#) || answer.ends_with(r#"{"ok":false}"#),
                "{answer}"
            );
        }
        let bad = answers
            .iter()
            .filter(|a| a.ends_with(r#"{"ok":false}"#))
            .count();
        assert_eq!(bad as u64, demo.state().bad_bodies_served());
        assert_eq!(demo.state().distinct_bodies(), 2);
        assert_eq!(demo.state().repeated_bodies(), 1);
    }

    #[test]
    fn bad_coefficients_are_refused() {
        let bad = DemoConfig {
            sigma: -0.1,
            ..DemoConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = DemoConfig {
            error_rate: 1.5,
            ..DemoConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = DemoConfig {
            bad_body_rate: -0.1,
            ..DemoConfig::default()
        };
        assert!(bad.validate().is_err());
        assert!(DemoConfig::default().validate().is_ok());
    }
}
