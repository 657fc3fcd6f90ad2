//! A client byte stream, plain TCP or TLS, and the connect step shared by the
//! HTTP drivers.

use super::OpError;
use rustls::pki_types::ServerName;
use scalewall_model::ErrorKind;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Plain or TLS client stream.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// The ALPN protocol the server selected, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(s) => s.get_ref().1.alpn_protocol(),
        }
    }
}

/// Opens a TCP connection (no Nagle) and, when `tls` is given, completes the
/// TLS handshake for `server_name`.
pub async fn connect_stream(
    addr: SocketAddr,
    tls: Option<&(TlsConnector, ServerName<'static>)>,
) -> Result<Stream, OpError> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| OpError::new(ErrorKind::Connect, format!("{addr}: {e}")))?;
    tcp.set_nodelay(true)
        .map_err(|e| OpError::new(ErrorKind::Connect, format!("{addr}: {e}")))?;
    match tls {
        None => Ok(Stream::Plain(tcp)),
        Some((connector, name)) => {
            let stream = connector.connect(name.clone(), tcp).await.map_err(|e| {
                let kind = match e.kind() {
                    io::ErrorKind::InvalidData | io::ErrorKind::Other => ErrorKind::Tls,
                    _ => OpError::from_io(&e).kind,
                };
                OpError::new(kind, format!("TLS handshake with {addr}: {e}"))
            })?;
            Ok(Stream::Tls(Box::new(stream)))
        }
    }
}

/// The TLS connector and server name a target needs: `None` for a plain
/// scheme; an error for a TLS scheme without a configuration.
pub fn tls_for(
    target: &crate::target::Target,
    tls_config: Option<Arc<rustls::ClientConfig>>,
) -> Result<Option<(TlsConnector, ServerName<'static>)>, OpError> {
    match (target.scheme.is_tls(), tls_config) {
        (true, Some(config)) => tls_parts(&target.host, config).map(Some),
        (true, None) => Err(OpError::new(
            ErrorKind::Tls,
            format!(
                "a {}:// target needs a TLS configuration",
                target.scheme.as_str()
            ),
        )),
        (false, _) => Ok(None),
    }
}

/// Builds the TLS connector and server name for a host.
pub fn tls_parts(
    host: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<(TlsConnector, ServerName<'static>), OpError> {
    let name = ServerName::try_from(host.to_string()).map_err(|e| {
        OpError::new(
            ErrorKind::Tls,
            format!("'{host}' is not a valid TLS server name: {e}"),
        )
    })?;
    Ok((TlsConnector::from(config), name))
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
