//! Raw TCP (`tcp://host:port`). Without a payload an operation is one
//! connect, so the latency is the connect time and a refused connection is a
//! closed port. With `payload` bytes, an operation writes them and reads the
//! same number back on a kept connection (an echo round trip).

use super::{connect_stream, Connection, Driver, OpError, Response, Stream};
use scalewall_model::ErrorKind;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens TCP connections to one address.
pub struct TcpDriver {
    addr: SocketAddr,
    payload: Vec<u8>,
}

impl TcpDriver {
    /// A driver for `addr`; `payload_bytes` = 0 measures connects only.
    pub fn new(addr: SocketAddr, payload_bytes: usize) -> Self {
        // A recognisable, non-constant pattern so that an echo is checkable.
        let payload = (0..payload_bytes).map(|i| b'a' + (i % 26) as u8).collect();
        TcpDriver { addr, payload }
    }
}

/// One TCP connection.
pub struct TcpConnection {
    stream: TcpStream,
    payload: Vec<u8>,
    received: Vec<u8>,
}

impl Driver for TcpDriver {
    type Conn = TcpConnection;

    fn protocol(&self) -> &'static str {
        "tcp"
    }

    async fn connect(&self) -> Result<TcpConnection, OpError> {
        let stream = match connect_stream(self.addr, None).await? {
            Stream::Plain(stream) => stream,
            Stream::Tls(_) => {
                return Err(OpError::new(ErrorKind::Tls, "tcp:// is never TLS"));
            }
        };
        Ok(TcpConnection {
            stream,
            received: vec![0; self.payload.len()],
            payload: self.payload.clone(),
        })
    }
}

impl Connection for TcpConnection {
    async fn call(&mut self) -> Result<Response, OpError> {
        if self.payload.is_empty() {
            // Close with a reset: thousands of connects a second would
            // otherwise leave as many sockets in TIME_WAIT, and a reused
            // port then costs a 1 s SYN retransmit that is the loop's, not
            // the server's.
            let _ = set_linger_zero(&self.stream);
            return Ok(Response {
                status: 0,
                bytes: 0,
                keep_alive: false,
            });
        }
        self.stream
            .write_all(&self.payload)
            .await
            .map_err(|e| OpError::from_io(&e))?;
        self.stream
            .read_exact(&mut self.received)
            .await
            .map_err(|e| OpError::from_io(&e))?;
        if self.received != self.payload {
            return Err(OpError::new(
                ErrorKind::Protocol,
                format!(
                    "the peer answered {} bytes that differ from the {} sent (not an echo)",
                    self.received.len(),
                    self.payload.len()
                ),
            ));
        }
        Ok(Response {
            status: 0,
            bytes: self.received.len() as u64,
            keep_alive: true,
        })
    }
}

/// SO_LINGER 0: `close` sends RST and leaves no TIME_WAIT behind.
fn set_linger_zero(stream: &TcpStream) -> std::io::Result<()> {
    use std::os::fd::AsRawFd as _;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a correctly sized linger struct.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
