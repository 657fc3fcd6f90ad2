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

use scalewall_model::ErrorKind;
use std::future::Future;

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
}

/// One open connection.
pub trait Connection {
    /// Runs one operation and waits for its complete response.
    fn call(&mut self) -> impl Future<Output = Result<Response, OpError>>;
}
