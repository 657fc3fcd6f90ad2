//! NATS (`nats://[user:password@]host:port`), the client protocol over TCP.
//!
//! Modes:
//! - **publish**: a call publishes `batch` messages and a `PING`; the server's
//!   `PONG` says it has processed them, so the latency is a flush round trip
//!   and each message counts as one operation.
//! - **request**: request/reply round trip. scalewall runs its own responder
//!   (a queue subscription on its own thread and connection) that answers each
//!   request with its payload; a request nobody answers is a `server_error`
//!   ("no responders").
//! - **jetstream**: publish with acknowledgement: the reply is the stream's
//!   ack (`{"stream":…,"seq":…}`) or its error. When no stream captures the
//!   subject, scalewall creates a memory stream for it and deletes it when the
//!   load ends.

use super::read_buffer::ReadBuffer;
use super::{connect_stream, Connection, Driver, OpError, Response, Stream};
use scalewall_model::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Largest message accepted (the server's default max_payload is 1 MiB; 64 MiB is a generous guard).
const MAX_PAYLOAD: usize = 64 * 1024 * 1024;
/// Queue group of scalewall's responders.
const RESPONDER_QUEUE: &str = "scalewall-responders";

/// What a call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatsMode {
    /// Fire-and-forget publishes, flushed with PING/PONG.
    Publish,
    /// Request/reply through scalewall's responder.
    Request,
    /// JetStream publish with acknowledgement.
    JetStream,
}

/// One protocol message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOp {
    /// `INFO {json}`.
    Info(String),
    /// `MSG`/`HMSG`: a delivered message.
    Msg {
        /// Subject it was published to.
        subject: String,
        /// Reply subject, if any.
        reply: Option<String>,
        /// Payload (headers removed).
        payload: Vec<u8>,
        /// Status from the headers (`NATS/1.0 503` = no responders).
        status: Option<u16>,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK`.
    Ok,
    /// `-ERR 'text'`.
    Err(String),
}

/// Parses one server message at the front of `buf`: `Ok(None)` when more bytes are needed.
pub fn parse_server_op(buf: &[u8]) -> Result<Option<(ServerOp, usize)>, String> {
    let Some(line_end) = buf.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() > 64 * 1024 {
            return Err("a protocol line over 64 KiB".into());
        }
        return Ok(None);
    };
    let line = std::str::from_utf8(&buf[..line_end])
        .map_err(|_| "a protocol line that is not UTF-8".to_string())?;
    let after = line_end + 2;
    let (verb, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
    let upper = verb.to_ascii_uppercase();
    match upper.as_str() {
        "PING" => Ok(Some((ServerOp::Ping, after))),
        "PONG" => Ok(Some((ServerOp::Pong, after))),
        "+OK" => Ok(Some((ServerOp::Ok, after))),
        "-ERR" => Ok(Some((
            ServerOp::Err(rest.trim().trim_matches('\'').to_string()),
            after,
        ))),
        "INFO" => Ok(Some((ServerOp::Info(rest.trim().to_string()), after))),
        "MSG" | "HMSG" => {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let number = |t: &str| {
                t.parse::<usize>()
                    .map_err(|_| format!("'{line}': '{t}' is not a byte count"))
            };
            let (subject, reply, header_len, total) = match (upper.as_str(), fields.as_slice()) {
                ("MSG", [s, _sid, n]) => (*s, None, 0, number(n)?),
                ("MSG", [s, _sid, r, n]) => (*s, Some(*r), 0, number(n)?),
                ("HMSG", [s, _sid, h, n]) => (*s, None, number(h)?, number(n)?),
                ("HMSG", [s, _sid, r, h, n]) => (*s, Some(*r), number(h)?, number(n)?),
                _ => return Err(format!("'{line}' is not a well-formed {upper}")),
            };
            if total > MAX_PAYLOAD || header_len > total {
                return Err(format!("'{line}': impossible sizes"));
            }
            let end = after + total + 2;
            if buf.len() < end {
                return Ok(None);
            }
            if &buf[end - 2..end] != b"\r\n" {
                return Err(format!("'{line}': the payload is not followed by CRLF"));
            }
            let headers = &buf[after..after + header_len];
            let status = (header_len > 0)
                .then(|| {
                    let first = headers.split(|&b| b == b'\r').next().unwrap_or(&[]);
                    let first = String::from_utf8_lossy(first);
                    first
                        .strip_prefix("NATS/1.0")
                        .and_then(|s| s.split_whitespace().next())
                        .and_then(|code| code.parse::<u16>().ok())
                })
                .flatten();
            Ok(Some((
                ServerOp::Msg {
                    subject: subject.to_string(),
                    reply: reply.map(str::to_string),
                    payload: buf[after + header_len..after + total].to_vec(),
                    status,
                },
                end,
            )))
        }
        _ => Err(format!(
            "'{}' is not a NATS server message; is this a NATS server?",
            line.chars().take(40).collect::<String>()
        )),
    }
}

/// A client connection speaking the protocol (used by the driver, the responder and set-up).
pub struct NatsClient {
    stream: Stream,
    rx: ReadBuffer,
}

/// Credentials and identity for `CONNECT`.
#[derive(Debug, Clone, Default)]
pub struct NatsAuth {
    /// User name.
    pub user: Option<String>,
    /// Password (or a token, when no user is given).
    pub password: Option<String>,
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl NatsClient {
    /// Connects, reads `INFO`, sends `CONNECT` and waits for the `PONG` that confirms it.
    pub async fn connect(addr: SocketAddr, auth: &NatsAuth) -> Result<NatsClient, OpError> {
        let mut client = NatsClient {
            stream: connect_stream(addr, None).await?,
            rx: ReadBuffer::new(16 * 1024),
        };
        match client.next_op().await? {
            ServerOp::Info(_) => {}
            other => {
                return Err(OpError::new(
                    ErrorKind::Protocol,
                    format!("{addr}: expected INFO from a NATS server, got {other:?}"),
                ))
            }
        }
        let mut connect = String::from(
            r#"CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1,"name":"scalewall","lang":"rust","version":"0""#,
        );
        match (&auth.user, &auth.password) {
            (Some(user), password) => {
                connect.push_str(&format!(",\"user\":{}", json_string(user)));
                if let Some(password) = password {
                    connect.push_str(&format!(",\"pass\":{}", json_string(password)));
                }
            }
            (None, Some(token)) => {
                connect.push_str(&format!(",\"auth_token\":{}", json_string(token)))
            }
            (None, None) => {}
        }
        connect.push_str("}\r\nPING\r\n");
        client.write(connect.as_bytes()).await?;
        loop {
            match client.next_op().await? {
                ServerOp::Pong => return Ok(client),
                ServerOp::Err(e) => {
                    let kind = if e.to_ascii_lowercase().contains("authorization") {
                        ErrorKind::Auth
                    } else {
                        ErrorKind::ServerError
                    };
                    return Err(OpError::new(kind, format!("{addr}: {e}")));
                }
                _ => {}
            }
        }
    }

    /// Writes bytes.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), OpError> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| OpError::from_io(&e))
    }

    /// Reads the next server message, answering the server's PINGs.
    pub async fn next_op(&mut self) -> Result<ServerOp, OpError> {
        loop {
            match parse_server_op(self.rx.pending()) {
                Ok(Some((op, used))) => {
                    self.rx.consume(used);
                    if op == ServerOp::Ping {
                        self.write(b"PONG\r\n").await?;
                        continue;
                    }
                    return Ok(op);
                }
                Ok(None) => self.rx.fill(&mut self.stream, "NATS server").await?,
                Err(e) => return Err(OpError::new(ErrorKind::Protocol, e)),
            }
        }
    }

    /// Sends one request and waits up to 5 s for its reply on a fresh inbox
    /// with its own subscription id (set-up only).
    pub async fn request(&mut self, subject: &str, payload: &[u8]) -> Result<ServerOp, OpError> {
        let sid = 1000 + fastrand::u32(..1_000_000);
        let inbox = format!("_INBOX.scalewall.{:016x}", fastrand::u64(..));
        let mut out = format!(
            "SUB {inbox} {sid}\r\nPUB {subject} {inbox} {}\r\n",
            payload.len()
        )
        .into_bytes();
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\r\n");
        self.write(&out).await?;
        let wait = async {
            loop {
                match self.next_op().await? {
                    msg @ ServerOp::Msg { .. } => return Ok(msg),
                    ServerOp::Err(e) => return Err(OpError::new(ErrorKind::ServerError, e)),
                    _ => {}
                }
            }
        };
        let reply = tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .map_err(|_| {
                OpError::new(
                    ErrorKind::Timeout,
                    format!("no reply to a request on {subject} within 5 s"),
                )
            })??;
        self.write(format!("UNSUB {sid}\r\n").as_bytes()).await?;
        Ok(reply)
    }
}

/// Opens NATS connections for one mode.
pub struct NatsDriver {
    addr: SocketAddr,
    auth: NatsAuth,
    mode: NatsMode,
    subject: String,
    payload: Vec<u8>,
    batch: u32,
    next_inbox: AtomicU64,
    responder: Option<Responder>,
    created_stream: Option<String>,
}

/// scalewall's own responder for request mode: a thread with its own runtime.
struct Responder {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, OpError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| OpError::new(ErrorKind::Io, format!("cannot start a runtime: {e}")))?;
    Ok(runtime.block_on(future))
}

/// Name of the stream scalewall creates for a subject.
fn stream_name(subject: &str) -> String {
    let cleaned: String = subject
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("SCALEWALL_{cleaned}")
}

impl NatsDriver {
    /// A driver for `addr`. Request mode starts the responder here; JetStream
    /// mode makes sure a stream captures `subject`. Blocking: call before load.
    pub fn new(
        addr: SocketAddr,
        auth: NatsAuth,
        mode: NatsMode,
        subject: &str,
        payload_bytes: usize,
        batch: u32,
    ) -> Result<Self, OpError> {
        let mut driver = NatsDriver {
            addr,
            auth,
            mode,
            subject: subject.to_string(),
            payload: (0..payload_bytes).map(|i| b'a' + (i % 26) as u8).collect(),
            batch: batch.max(1),
            next_inbox: AtomicU64::new(0),
            responder: None,
            created_stream: None,
        };
        match mode {
            NatsMode::Publish => {}
            NatsMode::Request => driver.responder = Some(driver.start_responder()?),
            NatsMode::JetStream => driver.created_stream = driver.ensure_stream()?,
        }
        Ok(driver)
    }

    fn start_responder(&self) -> Result<Responder, OpError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let (addr, auth, subject) = (self.addr, self.auth.clone(), self.subject.clone());
        let thread = std::thread::Builder::new()
            .name("nats-responder".into())
            .spawn(move || {
                let served = block_on(async move {
                    let mut client = match NatsClient::connect(addr, &auth).await {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let sub = format!("SUB {subject} {RESPONDER_QUEUE} 1\r\nPING\r\n");
                    if let Err(e) = client.write(sub.as_bytes()).await {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                    let mut ready = Some(ready_tx);
                    let mut out = Vec::with_capacity(4096);
                    while !stop_flag.load(Ordering::Relaxed) {
                        let op = tokio::time::timeout(Duration::from_millis(100), client.next_op())
                            .await;
                        match op {
                            Err(_) => continue,
                            Ok(Err(_)) => return,
                            Ok(Ok(ServerOp::Pong)) => {
                                if let Some(tx) = ready.take() {
                                    let _ = tx.send(Ok(()));
                                }
                            }
                            Ok(Ok(ServerOp::Msg {
                                reply: Some(reply),
                                payload,
                                ..
                            })) => {
                                out.clear();
                                out.extend_from_slice(
                                    format!("PUB {reply} {}\r\n", payload.len()).as_bytes(),
                                );
                                out.extend_from_slice(&payload);
                                out.extend_from_slice(b"\r\n");
                                if client.write(&out).await.is_err() {
                                    return;
                                }
                            }
                            Ok(Ok(_)) => {}
                        }
                    }
                });
                let _ = served;
            })
            .map_err(|e| {
                OpError::new(
                    ErrorKind::Io,
                    format!("cannot start the NATS responder: {e}"),
                )
            })?;
        let responder = Responder {
            stop,
            thread: Some(thread),
        };
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(responder),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(OpError::new(
                ErrorKind::Timeout,
                "the NATS responder did not subscribe within 10 s",
            )),
        }
    }

    /// Creates a memory stream for the subject unless one already captures it.
    fn ensure_stream(&self) -> Result<Option<String>, OpError> {
        let (addr, auth, subject) = (self.addr, self.auth.clone(), self.subject.clone());
        block_on(async move {
            let mut client = NatsClient::connect(addr, &auth).await?;
            // A publish nobody captures is answered "no responders" (503).
            if let ServerOp::Msg { status: None, .. } = client.request(&subject, b"probe").await? {
                return Ok(None);
            }
            let name = stream_name(&subject);
            let config = format!(
                r#"{{"name":"{name}","subjects":[{}],"storage":"memory","retention":"limits","max_msgs":1000000,"max_bytes":268435456,"discard":"old","num_replicas":1}}"#,
                json_string(&subject)
            );
            match client
                .request(&format!("$JS.API.STREAM.CREATE.{name}"), config.as_bytes())
                .await?
            {
                ServerOp::Msg {
                    payload, status, ..
                } => {
                    let text = String::from_utf8_lossy(&payload);
                    if status == Some(503) {
                        return Err(OpError::new(
                            ErrorKind::ServerError,
                            format!("{addr}: JetStream is not enabled on this server (start nats-server with -js)"),
                        ));
                    }
                    if text.contains("\"error\"") {
                        return Err(OpError::new(
                            ErrorKind::ServerError,
                            format!("{addr}: cannot create stream {name}: {text}"),
                        ));
                    }
                    Ok(Some(name))
                }
                other => Err(OpError::new(
                    ErrorKind::Protocol,
                    format!("unexpected answer to a stream create: {other:?}"),
                )),
            }
        })?
    }
}

impl Drop for NatsDriver {
    fn drop(&mut self) {
        if let Some(name) = self.created_stream.take() {
            let (addr, auth) = (self.addr, self.auth.clone());
            let _ = block_on(async move {
                let work = async {
                    let mut client = NatsClient::connect(addr, &auth).await?;
                    client
                        .request(&format!("$JS.API.STREAM.DELETE.{name}"), b"")
                        .await
                };
                tokio::time::timeout(Duration::from_secs(5), work).await
            });
        }
    }
}

/// One NATS connection.
pub struct NatsConnection {
    client: NatsClient,
    mode: NatsMode,
    /// Publish mode: the batch and its PING, encoded once.
    publish_bytes: Vec<u8>,
    out: Vec<u8>,
    batch: u32,
    subject: String,
    payload: Vec<u8>,
    /// Request and JetStream modes: this connection's inbox prefix.
    inbox: String,
    sent: u64,
}

impl Driver for NatsDriver {
    type Conn = NatsConnection;

    fn protocol(&self) -> &'static str {
        "nats"
    }

    fn batch(&self) -> u32 {
        self.batch
    }

    async fn connect(&self) -> Result<NatsConnection, OpError> {
        let mut client = NatsClient::connect(self.addr, &self.auth).await?;
        let inbox = format!(
            "_INBOX.scalewall.{:x}.{}",
            std::process::id(),
            self.next_inbox.fetch_add(1, Ordering::Relaxed)
        );
        let mut publish_bytes = Vec::new();
        if self.mode == NatsMode::Publish {
            for _ in 0..self.batch {
                publish_bytes.extend_from_slice(
                    format!("PUB {} {}\r\n", self.subject, self.payload.len()).as_bytes(),
                );
                publish_bytes.extend_from_slice(&self.payload);
                publish_bytes.extend_from_slice(b"\r\n");
            }
            publish_bytes.extend_from_slice(b"PING\r\n");
        } else {
            client
                .write(format!("SUB {inbox}.* 1\r\n").as_bytes())
                .await?;
        }
        Ok(NatsConnection {
            client,
            mode: self.mode,
            publish_bytes,
            out: Vec::with_capacity((self.payload.len() + 96) * self.batch as usize),
            batch: self.batch,
            subject: self.subject.clone(),
            payload: self.payload.clone(),
            inbox,
            sent: 0,
        })
    }
}

impl Connection for NatsConnection {
    async fn call(&mut self) -> Result<Response, OpError> {
        if self.mode == NatsMode::Publish {
            self.client.write(&self.publish_bytes).await?;
            loop {
                match self.client.next_op().await? {
                    ServerOp::Pong => {
                        return Ok(Response {
                            status: 0,
                            bytes: 0,
                            keep_alive: true,
                        })
                    }
                    ServerOp::Err(e) => return Err(OpError::new(ErrorKind::ServerError, e)),
                    _ => {}
                }
            }
        }
        self.out.clear();
        let first = self.sent;
        for _ in 0..self.batch {
            let header = format!(
                "PUB {} {}.{} {}\r\n",
                self.subject,
                self.inbox,
                self.sent,
                self.payload.len()
            );
            self.sent += 1;
            self.out.extend_from_slice(header.as_bytes());
            self.out.extend_from_slice(&self.payload);
            self.out.extend_from_slice(b"\r\n");
        }
        self.client.write(&self.out).await?;
        let mut received = 0u32;
        let mut bytes = 0u64;
        while received < self.batch {
            match self.client.next_op().await? {
                ServerOp::Msg {
                    subject,
                    payload,
                    status,
                    ..
                } => {
                    // Replies to an earlier, timed-out call are skipped.
                    let seq = subject
                        .rsplit('.')
                        .next()
                        .and_then(|n| n.parse::<u64>().ok());
                    if seq.is_none_or(|n| n < first) {
                        continue;
                    }
                    received += 1;
                    bytes += payload.len() as u64;
                    if status == Some(503) {
                        let what = if self.mode == NatsMode::JetStream {
                            "no stream captures the subject"
                        } else {
                            "no responders on the subject"
                        };
                        return Err(OpError::new(
                            ErrorKind::ServerError,
                            format!("{}: {what}", self.subject),
                        ));
                    }
                    match self.mode {
                        NatsMode::JetStream => {
                            let text = String::from_utf8_lossy(&payload);
                            if !text.contains("\"seq\"") || text.contains("\"error\"") {
                                return Err(OpError::new(
                                    ErrorKind::ServerError,
                                    format!("JetStream did not acknowledge: {text}"),
                                ));
                            }
                        }
                        _ => {
                            if payload != self.payload {
                                return Err(OpError::new(
                                    ErrorKind::Protocol,
                                    "the reply differs from the request payload",
                                ));
                            }
                        }
                    }
                }
                ServerOp::Err(e) => return Err(OpError::new(ErrorKind::ServerError, e)),
                _ => {}
            }
        }
        Ok(Response {
            status: 0,
            bytes,
            keep_alive: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_messages_and_waits_for_more() {
        let msg = b"MSG a.b 1 _INBOX.x.7 5\r\nhello\r\n";
        let (op, used) = parse_server_op(msg).unwrap().unwrap();
        assert_eq!(used, msg.len());
        assert_eq!(
            op,
            ServerOp::Msg {
                subject: "a.b".into(),
                reply: Some("_INBOX.x.7".into()),
                payload: b"hello".to_vec(),
                status: None
            }
        );
        for cut in 0..msg.len() {
            assert_eq!(parse_server_op(&msg[..cut]), Ok(None), "cut {cut}");
        }
        let no_responders = b"HMSG _INBOX.x.1 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n";
        let (op, _) = parse_server_op(no_responders).unwrap().unwrap();
        assert!(
            matches!(op, ServerOp::Msg { status: Some(503), ref payload, .. } if payload.is_empty())
        );
        assert_eq!(
            parse_server_op(b"-ERR 'Authorization Violation'\r\n")
                .unwrap()
                .unwrap()
                .0,
            ServerOp::Err("Authorization Violation".into())
        );
        assert_eq!(
            parse_server_op(b"PONG\r\n").unwrap().unwrap(),
            (ServerOp::Pong, 6)
        );
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        assert!(parse_server_op(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_server_op(b"MSG a 1 notanumber\r\n").is_err());
        assert!(parse_server_op(b"MSG a 1 3\r\nabcXY").is_err());
        assert!(parse_server_op(b"MSG a 1 999999999999\r\n").is_err());
    }

    #[test]
    fn stream_names_are_valid_and_json_is_escaped() {
        assert_eq!(stream_name("bench.js.>"), "SCALEWALL_BENCH_JS__");
        assert_eq!(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
