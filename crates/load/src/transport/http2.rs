//! HTTP/2 transport over hyper: h2c with prior knowledge for `http://`
//! targets, TLS with ALPN `h2` for `https://`. Each connection carries
//! `streams` requests at once (`--streams`, default 1, so `-c N` means N
//! concurrent requests as for HTTP/1.1); the engine runs a worker per
//! stream and [`Driver::open_stream`] gives each its handle on the
//! connection. A GOAWAY and a stream reset are errors of their own kinds.

use super::http1::RequestSpec;
use super::stream::{connect_stream, tls_for, Stream};
use super::{CallInfo, Connection, Driver, HttpExtras, OpError, Response};
use crate::checks::{CheckSet, BODY_LIMIT};
use crate::events::EventScanner;
use crate::feed::Escape;
use crate::target::Target;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use scalewall_model::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_rustls::TlsConnector;

/// Opens HTTP/2 connections.
pub struct Http2Driver {
    addr: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    template: Arc<RequestTemplate>,
    streams: u32,
}

/// The receive window of each stream: a response body up to this size
/// arrives without waiting for a WINDOW_UPDATE (the protocol's default,
/// 64 KiB, stalls larger bodies for a round trip per window).
const STREAM_WINDOW: u32 = 4 << 20;
/// HTTP/2's largest window.
const MAX_WINDOW: u32 = (1 << 31) - 1;

/// The parts of a request reused on every call.
struct RequestTemplate {
    method: Method,
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    extras: HttpExtras,
    /// `scheme://authority`, before a fed request's path.
    origin: String,
}

impl Http2Driver {
    /// A driver sending `spec` to `target` at `addr`, `streams` requests
    /// at once on each connection.
    pub fn new(
        target: &Target,
        addr: SocketAddr,
        spec: &RequestSpec,
        tls_config: Option<Arc<rustls::ClientConfig>>,
        streams: u32,
    ) -> Result<Self, OpError> {
        let invalid = |what: String| OpError::new(ErrorKind::Protocol, what);
        let method = Method::from_bytes(spec.method.as_bytes())
            .map_err(|_| invalid(format!("invalid HTTP method '{}'", spec.method)))?;
        let uri: Uri = target
            .display
            .parse()
            .map_err(|e| invalid(format!("invalid URL {}: {e}", target.display)))?;
        let mut headers = Vec::with_capacity(spec.headers.len());
        for (name, value) in &spec.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("invalid header name '{name}'")))?;
            if name == http::header::HOST || name == http::header::CONNECTION {
                continue; // HTTP/2 carries the authority in :authority and forbids Connection
            }
            let value = HeaderValue::from_str(value)
                .map_err(|_| invalid(format!("invalid value for header '{name}'")))?;
            headers.push((name, value));
        }
        let tls = tls_for(target, tls_config)?;
        let origin = match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
            _ => return Err(invalid(format!("{} has no scheme or host", target.display))),
        };
        Ok(Http2Driver {
            addr,
            tls,
            template: Arc::new(RequestTemplate {
                method,
                uri,
                headers,
                body: spec.body.clone(),
                extras: spec.extras.clone(),
                origin,
            }),
            streams: streams.max(1),
        })
    }
}

/// One HTTP/2 connection.
pub struct Http2Conn {
    sender: http2::SendRequest<Full<Bytes>>,
    template: Arc<RequestTemplate>,
    info: CallInfo,
    body: Vec<u8>,
}

impl Http2Conn {
    fn new(sender: http2::SendRequest<Full<Bytes>>, template: Arc<RequestTemplate>) -> Self {
        let info = CallInfo {
            stream: template.extras.stream.as_ref().map(EventScanner::new),
            ..CallInfo::default()
        };
        Http2Conn {
            sender,
            template,
            info,
            body: Vec::new(),
        }
    }

    /// This call's request: the template's, or filled from the next row.
    fn request(&self) -> Result<Request<Full<Bytes>>, OpError> {
        let t = &self.template;
        let invalid = |what: String| OpError::new(ErrorKind::Protocol, what);
        let mut request = Request::builder().method(t.method.clone());
        let body = match &t.extras.feed {
            None => {
                request = request.uri(t.uri.clone());
                if let Some(headers) = request.headers_mut() {
                    for (name, value) in &t.headers {
                        headers.append(name.clone(), value.clone());
                    }
                }
                t.body.clone()
            }
            Some(fed) => {
                let row = fed
                    .feed
                    .next_row()
                    .ok_or_else(|| OpError::feed_exhausted(&fed.feed))?;
                let mut uri = t.origin.clone().into_bytes();
                fed.path.render_into(row, Escape::Url, &mut uri);
                let uri = Uri::try_from(uri).map_err(|e| invalid(format!("a fed URL: {e}")))?;
                request = request.uri(uri);
                if let Some(headers) = request.headers_mut() {
                    for (name, template) in &fed.headers {
                        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                            continue; // refused when the driver was made
                        };
                        if name == http::header::HOST || name == http::header::CONNECTION {
                            continue;
                        }
                        let value = HeaderValue::from_bytes(&template.render(row, Escape::None))
                            .map_err(|_| invalid(format!("a fed value for header '{name}'")))?;
                        headers.append(name, value);
                    }
                }
                Bytes::from(fed.body.render(row, Escape::None))
            }
        };
        request
            .body(Full::new(body))
            .map_err(|e| invalid(e.to_string()))
    }
}

fn classify(err: &hyper::Error) -> OpError {
    let h2 = std::error::Error::source(err).and_then(|e| e.downcast_ref::<h2::Error>());
    let kind = if h2.is_some_and(h2::Error::is_go_away) {
        // The server is closing the connection: this stream was not taken.
        ErrorKind::GoAway
    } else if h2.is_some_and(h2::Error::is_reset) {
        // RST_STREAM: the server refused or cancelled this one request.
        ErrorKind::StreamReset
    } else if err.is_timeout() {
        ErrorKind::Timeout
    } else if err.is_parse() || err.is_user() {
        ErrorKind::Protocol
    } else {
        // Closed, cancelled, an incomplete message, a broken connection.
        ErrorKind::Reset
    };
    let mut message = err.to_string();
    if let Some(source) = std::error::Error::source(err) {
        message = format!("{message}: {source}");
    }
    OpError::new(kind, message)
}

impl Driver for Http2Driver {
    type Conn = Http2Conn;

    fn protocol(&self) -> &'static str {
        "http2"
    }

    fn streams(&self) -> u32 {
        self.streams
    }

    fn open_stream(&self, conn: &Http2Conn) -> Option<Http2Conn> {
        (!conn.sender.is_closed())
            .then(|| Http2Conn::new(conn.sender.clone(), conn.template.clone()))
    }

    async fn connect(&self) -> Result<Http2Conn, OpError> {
        let stream = connect_stream(self.addr, self.tls.as_ref()).await?;
        if matches!(stream, Stream::Tls(_)) && stream.alpn() != Some(b"h2") {
            return Err(OpError::new(
                ErrorKind::Tls,
                format!(
                    "{} did not agree to HTTP/2 in the TLS handshake (ALPN)",
                    self.addr
                ),
            ));
        }
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(
                STREAM_WINDOW.saturating_mul(self.streams).min(MAX_WINDOW),
            )
            // Room for every stream's request before the server's SETTINGS.
            .initial_max_send_streams(self.streams as usize)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| {
                let mut err = classify(&e);
                err.message = format!("HTTP/2 handshake with {}: {}", self.addr, err.message);
                err
            })?;
        // The connection task ends when the sender is dropped or the peer closes.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Http2Conn::new(sender, self.template.clone()))
    }

    fn has_phases(&self) -> bool {
        true
    }

    fn checks(&self) -> Option<&CheckSet> {
        Some(&self.template.extras.checks)
    }
}

impl Connection for Http2Conn {
    async fn call(&mut self) -> Result<Response, OpError> {
        self.info.begin();
        let request = self.request()?;
        self.sender.ready().await.map_err(|e| classify(&e))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| classify(&e))?;
        self.info.first_byte = Some(std::time::Instant::now());
        let status = response.status().as_u16();
        let checks = self.template.extras.checks.clone();
        checks.judge_status(status, &mut self.info.verdict);
        if checks.needs_headers() {
            let headers: Vec<(&str, &[u8])> = response
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_bytes()))
                .collect();
            checks.judge_headers(headers.into_iter(), &mut self.info.verdict);
        }
        let keep_body = checks.needs_body();
        self.body.clear();
        let mut cut = false;
        let mut body = response.into_body();
        let mut bytes = 0u64;
        let mut last_at = std::time::Instant::now();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| classify(&e))?;
            if let Some(data) = frame.data_ref() {
                bytes += data.len() as u64;
                if let Some(stream) = self.info.stream.as_mut() {
                    last_at = std::time::Instant::now();
                    stream.feed(data, last_at);
                }
                if keep_body {
                    let room = BODY_LIMIT - self.body.len();
                    cut |= data.len() > room;
                    self.body.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
        }
        if let Some(stream) = self.info.stream.as_mut() {
            stream.finish(last_at);
            if stream.expects_done() && !stream.saw_done {
                return Err(OpError::new(
                    ErrorKind::Protocol,
                    "the stream ended without its terminator (--stream-done)",
                ));
            }
        }
        if keep_body {
            checks.judge_body(&self.body, !cut, &mut self.info.verdict);
        }
        Ok(Response {
            status,
            bytes,
            keep_alive: !self.sender.is_closed(),
        })
    }

    fn info(&mut self) -> Option<&mut CallInfo> {
        Some(&mut self.info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An h2c server that answers its first request and resets its second
    /// (REFUSED_STREAM).
    async fn resetting_server(listener: tokio::net::TcpListener) {
        let (socket, _) = listener.accept().await.unwrap();
        let mut connection = h2::server::handshake(socket).await.unwrap();
        let mut seen = 0;
        while let Some(request) = connection.accept().await {
            let Ok((_, mut respond)) = request else { break };
            seen += 1;
            if seen == 1 {
                let response = http::Response::builder().status(200).body(()).unwrap();
                respond.send_response(response, true).unwrap();
            } else {
                respond.send_reset(h2::Reason::REFUSED_STREAM);
            }
        }
    }

    /// A raw h2c server that takes no stream: at the client's first
    /// request it sends GOAWAY (last stream 0) and keeps the socket open.
    async fn goaway_server(listener: tokio::net::TcpListener) {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut preface = [0u8; 24];
        socket.read_exact(&mut preface).await.unwrap();
        // Our SETTINGS (none) and the acknowledgement of the client's.
        socket
            .write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0])
            .await
            .unwrap();
        loop {
            let mut head = [0u8; 9];
            if socket.read_exact(&mut head).await.is_err() {
                return;
            }
            let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0u8; length];
            socket.read_exact(&mut payload).await.unwrap();
            if head[3] == 1 {
                // HEADERS: GOAWAY, last stream 0, NO_ERROR.
                let mut goaway = vec![0, 0, 8, 7, 0, 0, 0, 0, 0];
                goaway.extend_from_slice(&[0; 8]);
                socket.write_all(&goaway).await.unwrap();
                break;
            }
        }
        let mut rest = Vec::new();
        let _ = socket.read_to_end(&mut rest).await;
    }

    fn driver_for(addr: SocketAddr) -> Http2Driver {
        let target = Target::parse(&format!("http://{addr}/")).unwrap();
        Http2Driver::new(&target, addr, &RequestSpec::default(), None, 1).unwrap()
    }

    #[test]
    fn a_stream_reset_and_a_goaway_are_errors_of_their_own_kinds() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let driver = driver_for(listener.local_addr().unwrap());
            tokio::spawn(resetting_server(listener));
            let mut conn = driver.connect().await.unwrap();
            assert_eq!(conn.call().await.unwrap().status, 200);
            let reset = conn.call().await.unwrap_err();
            assert_eq!(reset.kind, ErrorKind::StreamReset, "{reset}");
            // A reset leaves the connection open: a new stream on it works.
            let mut again = driver.open_stream(&conn).expect("the connection is open");
            assert_eq!(again.call().await.unwrap_err().kind, ErrorKind::StreamReset);

            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let driver = driver_for(listener.local_addr().unwrap());
            tokio::spawn(goaway_server(listener));
            let mut conn = driver.connect().await.unwrap();
            let away = conn.call().await.unwrap_err();
            assert_eq!(away.kind, ErrorKind::GoAway, "{away}");
        });
    }
}
