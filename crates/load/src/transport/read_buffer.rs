//! The receive buffer shared by the framed protocols (RESP, the NATS
//! protocol, WebSocket frames): bytes are read in chunks, parsed from the
//! front and consumed; the consumed prefix is dropped only when more room
//! is needed, so a parse never copies.

use super::OpError;
use scalewall_model::ErrorKind;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes received and not yet parsed.
pub(crate) struct ReadBuffer {
    buf: Vec<u8>,
    start: usize,
    chunk: usize,
}

impl ReadBuffer {
    /// An empty buffer reading `chunk` bytes at a time.
    pub fn new(chunk: usize) -> Self {
        ReadBuffer {
            buf: Vec::with_capacity(chunk),
            start: 0,
            chunk,
        }
    }

    /// A buffer that already holds `bytes` (read past a handshake).
    pub fn with_bytes(bytes: Vec<u8>, chunk: usize) -> Self {
        ReadBuffer {
            buf: bytes,
            start: 0,
            chunk,
        }
    }

    /// The unparsed bytes.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Marks `n` bytes at the front as parsed.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Reads at least one more byte; the peer closing is a reset naming `peer`.
    pub async fn fill<R: AsyncRead + Unpin>(
        &mut self,
        stream: &mut R,
        peer: &str,
    ) -> Result<(), OpError> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + self.chunk, 0);
        let read = stream.read(&mut self.buf[len..]).await;
        let n = match read {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(len);
                return Err(OpError::from_io(&e));
            }
        };
        self.buf.truncate(len + n);
        if n == 0 {
            return Err(OpError::new(
                ErrorKind::Reset,
                format!("the {peer} closed the connection"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn fills_consumes_and_reports_a_closed_peer() {
        let mut rx = ReadBuffer::with_bytes(b"ab".to_vec(), 4);
        let mut source: &[u8] = b"cdefgh";
        rx.consume(1);
        rx.fill(&mut source, "test server").await.unwrap();
        assert_eq!(rx.pending(), b"bcdef");
        rx.consume(5);
        assert_eq!(rx.pending(), b"");
        rx.fill(&mut source, "test server").await.unwrap();
        assert_eq!(rx.pending(), b"gh");
        let e = rx.fill(&mut source, "test server").await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Reset);
        assert_eq!(e.message, "the test server closed the connection");
    }
}
