//! HTTP/1.1 transport: a lean client codec for the hot loop.
//!
//! The request is encoded once and written as one buffer per operation; the
//! response head is parsed with `httparse` from a reused buffer and the body is
//! consumed (content-length, chunked, or read-to-close framing) without
//! allocating. This is why the generator costs less CPU per request than the
//! servers it measures; a general client (hyper, reqwest) allocates per request.

use super::stream::{connect_stream, tls_for, Stream};
use super::{CallInfo, Connection, Driver, HttpExtras, OpError, Response};
use crate::checks::{CheckSet, BODY_LIMIT};
use crate::events::EventScanner;
use crate::feed::{Escape, FedRequest};
use crate::target::Target;
use bytes::Bytes;
use rustls::pki_types::ServerName;
use scalewall_model::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsConnector;

/// What every request carries besides the target: method, headers, body.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    /// Request body (empty for none).
    pub body: Bytes,
    /// Rows for the request's placeholders, checks, streaming.
    pub extras: HttpExtras,
}

impl Default for RequestSpec {
    fn default() -> Self {
        RequestSpec {
            method: "GET".into(),
            headers: Vec::new(),
            body: Bytes::new(),
            extras: HttpExtras::default(),
        }
    }
}

/// Size of each connection's receive buffer; a response head must fit in it.
const RECEIVE_BUFFER_BYTES: usize = 16 * 1024;
/// Headers parsed per response; more is a protocol error.
const MAX_HEADERS: usize = 64;

/// Encodes the request line, headers and body once, for reuse on every call.
pub fn encode_request(target: &Target, spec: &RequestSpec) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + spec.body.len());
    let headers = spec.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
    encode_into(
        &mut out,
        &spec.method,
        target.path_and_query.as_bytes(),
        &target.host_header(),
        headers,
        &spec.body,
    );
    out
}

/// Writes one request: its line, a Host and User-Agent unless given,
/// the headers, a Content-Length where a body is allowed, and the body.
fn encode_into<'h>(
    out: &mut Vec<u8>,
    method: &str,
    path: &[u8],
    host: &str,
    headers: impl Iterator<Item = (&'h str, &'h [u8])> + Clone,
    body: &[u8],
) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let has = |name: &str| headers.clone().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !has("host") {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(host.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has("user-agent") {
        out.extend_from_slice(
            concat!("User-Agent: scalewall/", env!("CARGO_PKG_VERSION"), "\r\n").as_bytes(),
        );
    }
    for (name, value) in headers.clone() {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    let body_allowed = !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH");
    if body_allowed && !has("content-length") && !has("transfer-encoding") {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// A request filled from a row for each call (`--data`).
struct FedEncoder {
    fed: Arc<FedRequest>,
    method: String,
    host: String,
    path: Vec<u8>,
    values: Vec<Vec<u8>>,
    body: Vec<u8>,
    out: Vec<u8>,
}

impl FedEncoder {
    fn new(fed: Arc<FedRequest>, method: &str, host: String) -> Self {
        let values = vec![Vec::new(); fed.headers.len()];
        FedEncoder {
            fed,
            method: method.to_string(),
            host,
            path: Vec::new(),
            values,
            body: Vec::new(),
            out: Vec::new(),
        }
    }

    /// The next request, or why there is none.
    fn next(&mut self) -> Result<&[u8], OpError> {
        let fed = &self.fed;
        let row = fed
            .feed
            .next_row()
            .ok_or_else(|| OpError::feed_exhausted(&fed.feed))?;
        self.path.clear();
        fed.path.render_into(row, Escape::Url, &mut self.path);
        for ((_, template), value) in fed.headers.iter().zip(&mut self.values) {
            value.clear();
            template.render_into(row, Escape::None, value);
        }
        self.body.clear();
        fed.body.render_into(row, Escape::None, &mut self.body);
        self.out.clear();
        let headers = fed
            .headers
            .iter()
            .zip(&self.values)
            .map(|((name, _), value)| (name.as_str(), value.as_slice()));
        encode_into(
            &mut self.out,
            &self.method,
            &self.path,
            &self.host,
            headers,
            &self.body,
        );
        Ok(&self.out)
    }
}

/// Opens HTTP/1.1 connections (plain or TLS with ALPN `http/1.1`).
pub struct Http1Driver {
    addr: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    request: Bytes,
    expect_body: bool,
    extras: HttpExtras,
    method: String,
    host: String,
}

impl Http1Driver {
    /// A driver sending `spec` to `target` at `addr`.
    pub fn new(
        target: &Target,
        addr: SocketAddr,
        spec: &RequestSpec,
        tls_config: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Self, OpError> {
        let tls = tls_for(target, tls_config)?;
        Ok(Http1Driver {
            addr,
            tls,
            request: Bytes::from(encode_request(target, spec)),
            expect_body: !spec.method.eq_ignore_ascii_case("HEAD"),
            extras: spec.extras.clone(),
            method: spec.method.clone(),
            host: target.host_header(),
        })
    }
}

impl Driver for Http1Driver {
    type Conn = Http1Conn<Stream>;

    fn protocol(&self) -> &'static str {
        "http1"
    }

    async fn connect(&self) -> Result<Self::Conn, OpError> {
        let stream = connect_stream(self.addr, self.tls.as_ref()).await?;
        let conn = Http1Conn::new(stream, self.request.clone(), self.expect_body);
        Ok(conn.with_extras(&self.extras, &self.method, &self.host))
    }

    fn has_phases(&self) -> bool {
        true
    }

    fn checks(&self) -> Option<&CheckSet> {
        Some(&self.extras.checks)
    }
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// A parsed response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    status: u16,
    len: usize,
    framing: Framing,
    keep_alive: bool,
}

/// One HTTP/1.1 connection over any byte stream.
pub struct Http1Conn<S> {
    io: S,
    request: Bytes,
    expect_body: bool,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    info: CallInfo,
    checks: Arc<CheckSet>,
    /// The body is read (events counted, or kept for a check).
    inspect: bool,
    /// The body is kept (up to [`BODY_LIMIT`]) for a check.
    keep_body: bool,
    body: Vec<u8>,
    body_cut: bool,
    /// When the last read returned, for the events it completed.
    read_at: std::time::Instant,
    fed: Option<FedEncoder>,
}

fn closed_mid_response() -> OpError {
    OpError::new(ErrorKind::Reset, "connection closed mid-response")
}

fn protocol(message: impl Into<String>) -> OpError {
    OpError::new(ErrorKind::Protocol, message)
}

impl<S: AsyncRead + AsyncWrite + Unpin> Http1Conn<S> {
    /// Wraps an open stream; `request` is the encoded request sent per call.
    pub fn new(io: S, request: Bytes, expect_body: bool) -> Self {
        Http1Conn {
            io,
            request,
            expect_body,
            buf: vec![0u8; RECEIVE_BUFFER_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
            info: CallInfo::default(),
            checks: Arc::default(),
            inspect: false,
            keep_body: false,
            body: Vec::new(),
            body_cut: false,
            read_at: std::time::Instant::now(),
            fed: None,
        }
    }

    /// Takes a scenario's feed, checks and streaming; `method` and
    /// `host` build the fed requests.
    pub fn with_extras(mut self, extras: &HttpExtras, method: &str, host: &str) -> Self {
        self.checks = extras.checks.clone();
        self.keep_body = self.checks.needs_body();
        self.info.stream = extras.stream.as_ref().map(EventScanner::new);
        self.inspect = self.keep_body || self.info.stream.is_some();
        self.fed = extras
            .feed
            .clone()
            .map(|fed| FedEncoder::new(fed, method, host.to_string()));
        self
    }

    /// Hands `n` buffered body bytes to the event counter and the kept
    /// body, then consumes them.
    fn consume_body(&mut self, n: usize) {
        if self.inspect {
            let bytes = &self.buf[self.start..self.start + n];
            if let Some(stream) = self.info.stream.as_mut() {
                stream.feed(bytes, self.read_at);
            }
            if self.keep_body {
                let room = BODY_LIMIT - self.body.len();
                self.body_cut |= bytes.len() > room;
                self.body.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
        }
        self.start += n;
    }

    /// Reads more bytes into the buffer; `Ok(0)` means the peer closed.
    async fn fill(&mut self) -> Result<usize, OpError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start == 0 {
                return Err(protocol(format!(
                    "response head or chunk line longer than {RECEIVE_BUFFER_BYTES} bytes"
                )));
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = self
            .io
            .read(&mut self.buf[self.end..])
            .await
            .map_err(|e| OpError::from_io(&e))?;
        if n > 0 && (self.inspect || self.info.first_byte.is_none()) {
            let now = std::time::Instant::now();
            self.read_at = now;
            self.info.first_byte.get_or_insert(now);
        }
        self.end += n;
        Ok(n)
    }

    async fn read_head(&mut self) -> Result<Head, OpError> {
        loop {
            if self.end > self.start {
                let headers_judged = self
                    .checks
                    .needs_headers()
                    .then_some((&*self.checks, &mut self.info.verdict));
                if let Some(head) = parse_head(
                    &self.buf[self.start..self.end],
                    self.expect_body,
                    headers_judged,
                )? {
                    self.start += head.len;
                    if (100..200).contains(&head.status) {
                        if head.status == 101 {
                            return Err(protocol("unexpected 101 Switching Protocols"));
                        }
                        continue; // informational (e.g. 100 Continue): the real head follows
                    }
                    return Ok(head);
                }
            }
            let had_bytes = self.end > self.start;
            if self.fill().await? == 0 {
                return Err(if had_bytes {
                    closed_mid_response()
                } else {
                    OpError::new(ErrorKind::Reset, "connection closed before the response")
                });
            }
        }
    }

    /// Consumes exactly `n` body bytes.
    async fn skip_exact(&mut self, mut n: u64) -> Result<(), OpError> {
        loop {
            let buffered = (self.end - self.start) as u64;
            let take = buffered.min(n);
            self.consume_body(take as usize);
            n -= take;
            if n == 0 {
                return Ok(());
            }
            if self.fill().await? == 0 {
                return Err(closed_mid_response());
            }
        }
    }

    /// Consumes a chunked body; returns the wire bytes consumed.
    async fn skip_chunked(&mut self) -> Result<u64, OpError> {
        let mut wire = 0u64;
        loop {
            let (line, size) = loop {
                match httparse::parse_chunk_size(&self.buf[self.start..self.end]) {
                    Ok(httparse::Status::Complete(found)) => break found,
                    Ok(httparse::Status::Partial) => {
                        if self.fill().await? == 0 {
                            return Err(closed_mid_response());
                        }
                    }
                    Err(_) => return Err(protocol("invalid chunk size line")),
                }
            };
            self.start += line;
            wire += line as u64;
            if size == 0 {
                return Ok(wire + self.skip_trailers().await?);
            }
            self.skip_exact(size).await?;
            wire += size;
            while self.end - self.start < 2 {
                if self.fill().await? == 0 {
                    return Err(closed_mid_response());
                }
            }
            if &self.buf[self.start..self.start + 2] != b"\r\n" {
                return Err(protocol("chunk data not followed by CRLF"));
            }
            self.start += 2;
            wire += 2;
        }
    }

    /// Consumes trailer lines up to and including the final empty line.
    async fn skip_trailers(&mut self) -> Result<u64, OpError> {
        let mut wire = 0u64;
        loop {
            let window = &self.buf[self.start..self.end];
            if let Some(pos) = window.windows(2).position(|w| w == b"\r\n") {
                self.start += pos + 2;
                wire += pos as u64 + 2;
                if pos == 0 {
                    return Ok(wire);
                }
                continue;
            }
            if self.fill().await? == 0 {
                return Err(closed_mid_response());
            }
        }
    }

    /// Consumes everything until the peer closes.
    async fn skip_to_eof(&mut self) -> Result<u64, OpError> {
        let mut wire = (self.end - self.start) as u64;
        self.consume_body(self.end - self.start);
        loop {
            let n = self.fill().await?;
            if n == 0 {
                return Ok(wire);
            }
            wire += n as u64;
            self.consume_body(self.end - self.start);
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection for Http1Conn<S> {
    async fn call(&mut self) -> Result<Response, OpError> {
        self.info.begin();
        let request = match self.fed.as_mut() {
            Some(fed) => fed.next()?,
            None => &self.request,
        };
        self.io
            .write_all(request)
            .await
            .map_err(|e| OpError::from_io(&e))?;
        self.io.flush().await.map_err(|e| OpError::from_io(&e))?;
        let head = self.read_head().await?;
        // A head already in the buffer (sent before it was asked for)
        // arrived no later than now.
        self.info
            .first_byte
            .get_or_insert_with(std::time::Instant::now);
        self.checks
            .judge_status(head.status, &mut self.info.verdict);
        if self.keep_body {
            self.body.clear();
            self.body_cut = false;
        }
        let body_bytes = match head.framing {
            Framing::None => 0,
            Framing::Length(n) => {
                self.skip_exact(n).await?;
                n
            }
            Framing::Chunked => self.skip_chunked().await?,
            Framing::UntilClose => self.skip_to_eof().await?,
        };
        if let Some(stream) = self.info.stream.as_mut() {
            stream.finish(self.read_at);
            if stream.expects_done() && !stream.saw_done {
                return Err(protocol(
                    "the stream ended without its terminator (--stream-done)",
                ));
            }
        }
        if self.keep_body {
            self.checks
                .judge_body(&self.body, !self.body_cut, &mut self.info.verdict);
        }
        Ok(Response {
            status: head.status,
            bytes: head.len as u64 + body_bytes,
            keep_alive: head.keep_alive && head.framing != Framing::UntilClose,
        })
    }

    fn info(&mut self) -> Option<&mut CallInfo> {
        Some(&mut self.info)
    }
}

/// Parses a response head; `Ok(None)` when more bytes are needed.
/// With `judged`, the final head's headers are judged by the checks.
fn parse_head(
    bytes: &[u8],
    expect_body: bool,
    judged: Option<(&CheckSet, &mut crate::checks::Verdict)>,
) -> Result<Option<Head>, OpError> {
    // Uninitialised slots: initialising 64 headers (2 KiB) per response is
    // measurable on the hot path; httparse only reads the slots it filled.
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        bytes,
        &mut headers,
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(protocol(format!("invalid response head: {e}"))),
    };
    let status = response.code.unwrap_or(0);
    if let Some((checks, verdict)) = judged.filter(|_| !(100..200).contains(&status)) {
        checks.judge_headers(response.headers.iter().map(|h| (h.name, h.value)), verdict);
    }
    let http11 = response.version == Some(1);
    let mut keep_alive = http11;
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    for header in response.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| protocol("invalid Content-Length"))?;
            if content_length.is_some_and(|seen| seen != value) {
                return Err(protocol("conflicting Content-Length headers"));
            }
            content_length = Some(value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let value = String::from_utf8_lossy(header.value);
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in String::from_utf8_lossy(header.value).split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    let framing = if !expect_body || (100..200).contains(&status) || status == 204 || status == 304
    {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = content_length {
        if n == 0 {
            Framing::None
        } else {
            Framing::Length(n)
        }
    } else {
        Framing::UntilClose
    };
    Ok(Some(Head {
        status,
        len,
        framing,
        keep_alive,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    fn target() -> Target {
        Target::parse("http://127.0.0.1:8080/p?q=1").unwrap()
    }

    #[test]
    fn request_is_encoded_once_with_host_and_length() {
        let spec = RequestSpec {
            method: "POST".into(),
            headers: vec![("X-Test".into(), "1".into())],
            body: Bytes::from_static(b"hello"),
            extras: HttpExtras::default(),
        };
        let text = String::from_utf8(encode_request(&target(), &spec)).unwrap();
        assert!(
            text.starts_with("POST /p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"),
            "{text}"
        );
        assert!(text.contains("X-Test: 1\r\n"));
        assert!(text.ends_with("Content-Length: 5\r\n\r\nhello"), "{text}");
        let get = String::from_utf8(encode_request(&target(), &RequestSpec::default())).unwrap();
        assert!(!get.contains("Content-Length"), "{get}");
    }

    /// Runs `calls` requests against a scripted peer that answers with `wire`.
    async fn exchange(wire: &'static [u8], calls: usize) -> Vec<Result<Response, OpError>> {
        let (client, mut server) = duplex(64 * 1024);
        let peer = tokio::spawn(async move {
            let mut sink = vec![0u8; 4096];
            let _ = server.read(&mut sink).await;
            server.write_all(wire).await.unwrap();
            // keep reading requests until the client goes away, then close
            while let Ok(n) = server.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        });
        let mut conn = Http1Conn::new(client, Bytes::from_static(b"GET / HTTP/1.1\r\n\r\n"), true);
        let mut out = Vec::new();
        for _ in 0..calls {
            out.push(conn.call().await);
        }
        drop(conn);
        peer.await.unwrap();
        out
    }

    #[tokio::test]
    async fn content_length_bodies_and_pipelined_leftovers() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n";
        let r = exchange(wire, 2).await;
        let first = r[0].clone().unwrap();
        assert_eq!((first.status, first.keep_alive), (200, true));
        assert_eq!(first.bytes, 38 + 5);
        assert_eq!(r[1].clone().unwrap().status, 503);
    }

    #[tokio::test]
    async fn chunked_bodies_with_trailers() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: y\r\n\r\n";
        let r = exchange(wire, 1).await;
        let resp = r[0].clone().unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.bytes as usize, wire.len());
    }

    #[tokio::test]
    async fn body_until_close_then_no_reuse() {
        let wire = b"HTTP/1.0 200 OK\r\n\r\nall of this";
        let (client, mut server) = duplex(4096);
        tokio::spawn(async move {
            let mut sink = [0u8; 512];
            let _ = server.read(&mut sink).await;
            server.write_all(wire).await.unwrap();
            drop(server);
        });
        let mut conn = Http1Conn::new(client, Bytes::from_static(b"GET / HTTP/1.0\r\n\r\n"), true);
        let resp = conn.call().await.unwrap();
        assert!(!resp.keep_alive);
        assert_eq!(resp.bytes as usize, wire.len());
    }

    #[tokio::test]
    async fn connection_close_header_ends_keep_alive() {
        let r = exchange(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
            1,
        )
        .await;
        assert!(!r[0].clone().unwrap().keep_alive);
    }

    #[tokio::test]
    async fn informational_responses_are_skipped() {
        let r = exchange(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
            1,
        )
        .await;
        assert_eq!(r[0].clone().unwrap().status, 201);
    }

    #[tokio::test]
    async fn garbage_is_a_protocol_error() {
        let r = exchange(b"\x00\x01garbage that is not http\r\n\r\n", 1).await;
        assert_eq!(r[0].clone().unwrap_err().kind, ErrorKind::Protocol);
    }

    #[tokio::test]
    async fn truncated_body_is_a_reset() {
        let (client, mut server) = duplex(4096);
        tokio::spawn(async move {
            let mut sink = [0u8; 512];
            let _ = server.read(&mut sink).await;
            server
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
                .await
                .unwrap();
        });
        let mut conn = Http1Conn::new(client, Bytes::from_static(b"GET / HTTP/1.1\r\n\r\n"), true);
        let err = conn.call().await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Reset, "{err}");
    }

    #[tokio::test]
    async fn invalid_chunk_line_is_a_protocol_error() {
        let r = exchange(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            1,
        )
        .await;
        assert_eq!(r[0].clone().unwrap_err().kind, ErrorKind::Protocol);
    }

    #[test]
    fn head_and_no_content_responses_have_no_body() {
        let head = parse_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
            false,
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(head.framing, Framing::None);
        let head = parse_head(b"HTTP/1.1 204 No Content\r\n\r\n", true, None)
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, Framing::None);
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Len", true, None)
            .unwrap()
            .is_none());
        assert!(parse_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            true,
            None
        )
        .is_err());
    }
}
