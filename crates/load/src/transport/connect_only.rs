//! `--connect-only` for any driver: each operation opens a new connection
//! (TCP connect, TLS and the protocol's handshake: a WebSocket upgrade, a
//! PostgreSQL startup and authentication, a NATS `CONNECT`/`PONG`) and closes
//! it. The latency distribution is then the connection-establishment time.

use super::{Connection, Driver, OpError, Response};

/// Wraps a driver so that an operation is one connection set-up.
pub struct ConnectOnly<D>(pub D);

/// A connection that was just opened; its one operation ends it.
pub struct Opened<C>(C);

impl<D: Driver> Driver for ConnectOnly<D> {
    type Conn = Opened<D::Conn>;

    fn protocol(&self) -> &'static str {
        self.0.protocol()
    }

    async fn connect(&self) -> Result<Self::Conn, OpError> {
        self.0.connect().await.map(Opened)
    }
}

impl<C: Connection> Connection for Opened<C> {
    async fn call(&mut self) -> Result<Response, OpError> {
        // The connection is dropped (closed) by the engine after this.
        let _ = &self.0;
        Ok(Response {
            status: 0,
            bytes: 0,
            keep_alive: false,
        })
    }
}
