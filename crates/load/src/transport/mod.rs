//! Transports: one [`Driver`] per protocol. A driver opens connections; a
//! connection handle performs one operation at a time (a multiplexing
//! driver hands out several handles on one connection: HTTP/2 streams). The engine never looks
//! inside: adding a protocol is one new file implementing these two traits.

pub mod connect_only;
pub mod exec;
pub mod http1;
pub mod http2;
pub mod nats;
pub mod postgres;
mod read_buffer;
pub mod redis;
mod stream;
pub mod tcp;
pub mod ws;

pub use stream::{connect_stream, Stream};

use crate::checks::{CheckSet, Verdict};
use crate::events::{EventScanner, StreamSpec};
use scalewall_model::ErrorKind;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// What an HTTP scenario asks beyond one fixed request and its arrival:
/// rows that fill the request's placeholders, checks of each response,
/// and how a streamed body is cut into events.
#[derive(Debug, Clone, Default)]
pub struct HttpExtras {
    /// The request's templates and the rows that fill them (`--data`).
    pub feed: Option<Arc<crate::feed::FedRequest>>,
    /// The response checks (`--check`); empty for none.
    pub checks: Arc<CheckSet>,
    /// Count the body's events (`--stream`).
    pub stream: Option<StreamSpec>,
}

/// What one call saw besides its [`Response`]: when its first byte came,
/// its streamed events, the checks it failed. The connection fills it;
/// the engine reads it after each call ([`Connection::info`]).
#[derive(Debug, Clone, Default)]
pub struct CallInfo {
    /// When the response's first byte arrived (HTTP/2: its head).
    pub first_byte: Option<Instant>,
    /// The events of a streamed body.
    pub stream: Option<EventScanner>,
    /// The checks it failed (the time-to-first-byte ones are the engine's).
    pub verdict: Verdict,
}

impl CallInfo {
    /// Ready for the next call.
    pub fn begin(&mut self) {
        self.first_byte = None;
        if let Some(stream) = self.stream.as_mut() {
            stream.reset();
        }
        self.verdict.clear();
    }
}

/// A completed operation: the peer answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// Protocol status (HTTP status code; 0 where the protocol has none).
    pub status: u16,
    /// Bytes received for this operation.
    pub bytes: u64,
    /// Whether the connection may be reused for the next operation.
    pub keep_alive: bool,
}

/// A failed operation: its kind, and a message for the first occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    /// Classification used in the counts.
    pub kind: ErrorKind,
    /// Human-readable cause.
    pub message: String,
}

impl OpError {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        OpError {
            kind,
            message: message.into(),
        }
    }

    /// A request that finds its `unique` feed used up.
    pub fn feed_exhausted(feed: &crate::feed::Feed) -> Self {
        OpError::new(ErrorKind::Io, feed.exhausted())
    }

    /// Classifies an I/O error that happened on an established connection.
    pub fn from_io(err: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let kind = match err.kind() {
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                ErrorKind::Reset
            }
            K::TimedOut => ErrorKind::Timeout,
            K::InvalidData => ErrorKind::Protocol,
            _ => ErrorKind::Io,
        };
        OpError::new(kind, err.to_string())
    }
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

/// Opens connections to one target. Shared by every generator thread.
pub trait Driver: Send + Sync + 'static {
    /// A connection able to run operations one after another.
    type Conn: Connection + 'static;

    /// Protocol name recorded in the run (e.g. `http1`).
    fn protocol(&self) -> &'static str;

    /// Opens one connection (TCP, TLS, protocol handshake).
    fn connect(&self) -> impl Future<Output = Result<Self::Conn, OpError>>;

    /// Operations one call completes (pipelining: Redis commands per round
    /// trip, WebSocket messages in flight, NATS publishes per flush). Each
    /// is counted as a response with the call's latency, as redis-benchmark
    /// counts pipelined requests.
    fn batch(&self) -> u32 {
        1
    }

    /// Operations one connection carries at once (HTTP/2 streams). The
    /// engine runs this many workers on each connection: the first to need
    /// it connects, the others take [`Driver::open_stream`] on it.
    fn streams(&self) -> u32 {
        1
    }

    /// Another handle on the open connection `conn`, for a driver whose
    /// connections multiplex; `None` when it can carry no more (closed, or
    /// the driver does not multiplex).
    fn open_stream(&self, conn: &Self::Conn) -> Option<Self::Conn> {
        let _ = conn;
        None
    }

    /// Whether its calls report phases ([`Connection::info`]): the engine
    /// then records connect times and the phases of each response.
    fn has_phases(&self) -> bool {
        false
    }

    /// The response checks its calls are judged by (the engine judges
    /// the time-to-first-byte ones and counts every failure).
    fn checks(&self) -> Option<&CheckSet> {
        None
    }
}

/// One open connection.
pub trait Connection {
    /// Runs one operation and waits for its complete response.
    fn call(&mut self) -> impl Future<Output = Result<Response, OpError>>;

    /// What the last call saw besides its response, where the protocol
    /// tells (HTTP); the engine reads it after each call.
    fn info(&mut self) -> Option<&mut CallInfo> {
        None
    }
}
