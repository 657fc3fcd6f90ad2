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

#![deny(missing_docs)]

pub mod echo;
pub mod timer;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
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
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            latency: Duration::ZERO,
            sigma: 0.0,
            kappa: 0.0,
            error_rate: 0.0,
            stall: None,
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

    /// A deterministic uniform draw in [0, 1) (SplitMix64 over a counter).
    fn draw(&self) -> f64 {
        let mut z = self
            .draws
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

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
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
) -> Result<Response<Full<Bytes>>, Infallible> {
    match request.uri().path() {
        "/ws" => return Ok(echo::websocket_upgrade(request)),
        "/health" => {
            return Ok(text(
                StatusCode::OK,
                "application/json",
                r#"{"status":"healthy"}"#.into(),
            ));
        }
        "/stats" => {
            let body = format!(
                r#"{{"requests":{},"errors":{},"in_flight":{},"peak_in_flight":{},"connections":{},"open_connections":{},"peak_open_connections":{},"hold_overshoot_us_mean":{:.1}}}"#,
                state.requests_served(),
                state.errors_served(),
                state.in_flight.load(Ordering::Relaxed),
                state.peak_in_flight(),
                state.connections_accepted(),
                state.open_connections.load(Ordering::Relaxed),
                state.peak_open_connections(),
                state.mean_hold_overshoot_us()
            );
            return Ok(text(StatusCode::OK, "application/json", body));
        }
        _ => {}
    }
    let arrival = Instant::now();
    let n = state.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    let _guard = InFlight(&state.in_flight);
    state.peak_in_flight.fetch_max(n, Ordering::Relaxed);
    // Read (and discard) any request body before answering.
    let _ = request.into_body().collect().await;
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
        assert!(DemoConfig::default().validate().is_ok());
    }
}
