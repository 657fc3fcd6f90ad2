//! WebSocket (`ws://`, `wss://`, RFC 6455): the client driver and the frame
//! codec (shared with demo-server's echo endpoint).
//!
//! An operation sends `in_flight` messages ([`WsMessage`]: binary of
//! `--message-size` bytes, the text of `--body`, or that text filled from a
//! data feed's row per message) and waits for all of their echoes; each
//! message counts as one operation with the call's round-trip latency. The opening handshake (TCP, TLS, HTTP
//! upgrade, `Sec-WebSocket-Accept` check) happens on connect, so
//! `--connect-only` measures its distribution. Pings from the server are
//! answered; a close frame ends the connection as a reset.

use super::read_buffer::ReadBuffer;
use super::stream::{connect_stream, tls_for, Stream};
use super::{Connection, Driver, OpError, Response};
use crate::feed::FedTexts;
use crate::target::Target;
use base64::Engine as _;
use rustls::pki_types::ServerName;
use scalewall_model::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

/// The GUID every server appends to the client's key (RFC 6455 §1.3).
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Largest message accepted from a peer (a guard against garbage lengths).
pub const MAX_MESSAGE_BYTES: u64 = 64 * 1024 * 1024;
/// Largest handshake response head.
const MAX_HANDSHAKE_BYTES: usize = 16 * 1024;

/// Frame opcodes.
pub mod opcode {
    /// Continuation of a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// UTF-8 text message.
    pub const TEXT: u8 = 0x1;
    /// Binary message.
    pub const BINARY: u8 = 0x2;
    /// Close.
    pub const CLOSE: u8 = 0x8;
    /// Ping.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;
}

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`.
pub fn accept_key(client_key: &str) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(client_key.as_bytes());
    sha.update(ACCEPT_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes())
}

/// Appends one frame (FIN set) to `out`; a client masks with `mask`.
pub fn encode_frame(out: &mut Vec<u8>, op: u8, payload: &[u8], mask: Option<[u8; 4]>) {
    out.push(0x80 | (op & 0x0F));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        None => out.extend_from_slice(payload),
        Some(key) => {
            out.extend_from_slice(&key);
            let start = out.len();
            out.extend_from_slice(payload);
            apply_mask(&mut out[start..], key);
        }
    }
}

/// XORs `data` with the repeating mask key (masking and unmasking alike).
pub fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= key[i & 3];
    }
}

/// A frame header parsed from the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    /// Final fragment of its message.
    pub fin: bool,
    /// Opcode.
    pub op: u8,
    /// Mask key, when the sender masked (clients must, servers must not).
    pub mask: Option<[u8; 4]>,
    /// Bytes of header.
    pub header_len: usize,
    /// Bytes of payload.
    pub payload_len: usize,
}

/// Why bytes are not a WebSocket frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Reserved bits set without an extension that defines them.
    #[error("reserved bits set in a frame header (byte 0x{0:02x})")]
    Reserved(u8),
    /// An opcode RFC 6455 does not define.
    #[error("unknown opcode 0x{0:x}")]
    Opcode(u8),
    /// A payload beyond [`MAX_MESSAGE_BYTES`].
    #[error("a frame announces {0} bytes (over the 64 MiB limit)")]
    TooLong(u64),
    /// A control frame over 125 bytes or fragmented.
    #[error("control frame 0x{0:x} is fragmented or longer than 125 bytes")]
    Control(u8),
}

/// Parses a frame header at the front of `buf`: `Ok(None)` when more bytes are needed.
pub fn parse_head(buf: &[u8]) -> Result<Option<FrameHead>, FrameError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    if buf[0] & 0x70 != 0 {
        return Err(FrameError::Reserved(buf[0]));
    }
    let fin = buf[0] & 0x80 != 0;
    let op = buf[0] & 0x0F;
    if !matches!(op, 0x0..=0x2 | 0x8..=0xA) {
        return Err(FrameError::Opcode(op));
    }
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        n => (u64::from(n), 2),
    };
    if len > MAX_MESSAGE_BYTES {
        return Err(FrameError::TooLong(len));
    }
    if op >= 0x8 && (!fin || len > 125) {
        return Err(FrameError::Control(op));
    }
    let mask = if masked {
        if buf.len() < at + 4 {
            return Ok(None);
        }
        let key = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
        at += 4;
        Some(key)
    } else {
        None
    };
    Ok(Some(FrameHead {
        fin,
        op,
        mask,
        header_len: at,
        payload_len: len as usize,
    }))
}

/// Opens WebSocket connections to one URL.
pub struct WsDriver {
    addr: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    handshake_target: String,
    host_header: String,
    op: u8,
    message: Vec<u8>,
    feed: Option<Arc<FedTexts>>,
    in_flight: u32,
}

/// The messages a WebSocket load sends.
#[derive(Debug, Clone)]
pub enum WsMessage {
    /// Binary messages of this many bytes (`--message-size`).
    Sized(usize),
    /// These bytes, as a binary message (a `--body-file` that is not UTF-8).
    Binary(Vec<u8>),
    /// This text (`--body`), as a text message.
    Text(String),
    /// A text message filled from the feed's next row, one per message
    /// (`--body` with `--data`; the feed's one text is the body).
    Fed(Arc<FedTexts>),
}

impl WsDriver {
    /// A driver sending `in_flight` messages per call.
    pub fn new(
        target: &Target,
        addr: SocketAddr,
        message: WsMessage,
        in_flight: u32,
        tls_config: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Self, OpError> {
        let tls = tls_for(target, tls_config)?;
        let (op, message, feed) = match message {
            WsMessage::Sized(bytes) => (
                opcode::BINARY,
                (0..bytes).map(|i| b'a' + (i % 26) as u8).collect(),
                None,
            ),
            WsMessage::Binary(bytes) => (opcode::BINARY, bytes, None),
            WsMessage::Text(text) => (opcode::TEXT, text.into_bytes(), None),
            WsMessage::Fed(feed) => (opcode::TEXT, Vec::new(), Some(feed)),
        };
        Ok(WsDriver {
            addr,
            tls,
            handshake_target: target.path_and_query.clone(),
            host_header: target.host_header(),
            op,
            message,
            feed,
            in_flight: in_flight.max(1),
        })
    }
}

/// One upgraded WebSocket connection.
pub struct WsConnection {
    stream: Stream,
    op: u8,
    message: Vec<u8>,
    feed: Option<Arc<FedTexts>>,
    /// The message filled from the current row.
    filled: [Vec<u8>; 1],
    /// The length of each message of the call in flight, in order.
    sent: Vec<usize>,
    in_flight: u32,
    out: Vec<u8>,
    rx: ReadBuffer,
    /// The message being reassembled from fragments.
    partial: Vec<u8>,
}

impl Driver for WsDriver {
    type Conn = WsConnection;

    fn protocol(&self) -> &'static str {
        "websocket"
    }

    fn batch(&self) -> u32 {
        self.in_flight
    }

    async fn connect(&self) -> Result<WsConnection, OpError> {
        let mut stream = connect_stream(self.addr, self.tls.as_ref()).await?;
        let key =
            base64::engine::general_purpose::STANDARD.encode(fastrand::u128(..).to_le_bytes());
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n",
            self.handshake_target, self.host_header
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| OpError::from_io(&e))?;
        let mut buf = Vec::with_capacity(4096);
        let head_len = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            if buf.len() > MAX_HANDSHAKE_BYTES {
                return Err(OpError::new(
                    ErrorKind::Protocol,
                    "WebSocket handshake: response head over 16 KiB",
                ));
            }
            let mut chunk = [0u8; 4096];
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| OpError::from_io(&e))?;
            if n == 0 {
                return Err(OpError::new(
                    ErrorKind::Reset,
                    "WebSocket handshake: the server closed the connection",
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        check_handshake(&buf[..head_len], &key)?;
        buf.drain(..head_len);
        Ok(WsConnection {
            stream,
            op: self.op,
            message: self.message.clone(),
            feed: self.feed.clone(),
            filled: [Vec::new()],
            sent: Vec::with_capacity(self.in_flight as usize),
            in_flight: self.in_flight,
            out: Vec::with_capacity((self.message.len() + 14) * self.in_flight as usize),
            rx: ReadBuffer::with_bytes(buf, 64 * 1024),
            partial: Vec::new(),
        })
    }
}

/// Checks a 101 answer with the right `Sec-WebSocket-Accept`.
fn check_handshake(head: &[u8], key: &str) -> Result<(), OpError> {
    let protocol =
        |m: String| OpError::new(ErrorKind::Protocol, format!("WebSocket handshake: {m}"));
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(protocol("incomplete response head".into())),
        Err(e) => return Err(protocol(format!("not an HTTP response ({e})"))),
    }
    let code = response.code.unwrap_or(0);
    if code != 101 {
        let kind = match code {
            400..=499 => ErrorKind::Status4xx,
            500..=599 => ErrorKind::Status5xx,
            _ => ErrorKind::Protocol,
        };
        return Err(OpError::new(
            kind,
            format!("WebSocket handshake: the server answered {code} instead of 101 Switching Protocols"),
        ));
    }
    let accept = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|h| String::from_utf8_lossy(h.value).trim().to_string());
    match accept {
        Some(value) if value == accept_key(key) => Ok(()),
        Some(value) => Err(protocol(format!("wrong Sec-WebSocket-Accept '{value}'"))),
        None => Err(protocol("no Sec-WebSocket-Accept header".into())),
    }
}

impl WsConnection {
    /// Reads the next complete data message; returns its length.
    async fn next_message(&mut self) -> Result<usize, OpError> {
        loop {
            let head = match parse_head(self.rx.pending()) {
                Ok(Some(head)) => head,
                Ok(None) => {
                    self.rx.fill(&mut self.stream, "WebSocket server").await?;
                    continue;
                }
                Err(e) => return Err(OpError::new(ErrorKind::Protocol, e.to_string())),
            };
            let total = head.header_len + head.payload_len;
            while self.rx.pending().len() < total {
                self.rx.fill(&mut self.stream, "WebSocket server").await?;
            }
            let payload = &self.rx.pending()[head.header_len..total];
            match head.op {
                opcode::PING => {
                    let mut payload = payload.to_vec();
                    self.rx.consume(total);
                    if let Some(key) = head.mask {
                        apply_mask(&mut payload, key);
                    }
                    let mut pong = Vec::with_capacity(payload.len() + 6);
                    encode_frame(
                        &mut pong,
                        opcode::PONG,
                        &payload,
                        Some(fastrand::u32(..).to_ne_bytes()),
                    );
                    self.stream
                        .write_all(&pong)
                        .await
                        .map_err(|e| OpError::from_io(&e))?;
                }
                opcode::PONG => self.rx.consume(total),
                opcode::CLOSE => {
                    return Err(OpError::new(
                        ErrorKind::Reset,
                        "the server sent a WebSocket close frame",
                    ))
                }
                _ => {
                    if head.fin && self.partial.is_empty() {
                        self.rx.consume(total);
                        if head.op == opcode::CONTINUATION {
                            return Err(OpError::new(
                                ErrorKind::Protocol,
                                "a continuation frame without a message to continue",
                            ));
                        }
                        return Ok(head.payload_len);
                    }
                    self.partial.extend_from_slice(payload);
                    self.rx.consume(total);
                    if self.partial.len() as u64 > MAX_MESSAGE_BYTES {
                        return Err(OpError::new(
                            ErrorKind::Protocol,
                            "a fragmented message over the 64 MiB limit",
                        ));
                    }
                    if head.fin {
                        let len = self.partial.len();
                        self.partial.clear();
                        return Ok(len);
                    }
                }
            }
        }
    }
}

impl Connection for WsConnection {
    async fn call(&mut self) -> Result<Response, OpError> {
        self.out.clear();
        self.sent.clear();
        for _ in 0..self.in_flight {
            let message = match &self.feed {
                None => &self.message,
                Some(feed) => {
                    if !feed.next_into(&mut self.filled) {
                        return Err(OpError::feed_exhausted(&feed.feed));
                    }
                    &self.filled[0]
                }
            };
            let mask = fastrand::u32(..).to_ne_bytes();
            encode_frame(&mut self.out, self.op, message, Some(mask));
            self.sent.push(message.len());
        }
        self.stream
            .write_all(&self.out)
            .await
            .map_err(|e| OpError::from_io(&e))?;
        let mut bytes = 0u64;
        for i in 0..self.sent.len() {
            let len = self.next_message().await?;
            let sent = self.sent[i];
            if len != sent {
                return Err(OpError::new(
                    ErrorKind::Protocol,
                    format!("the echo has {len} bytes, the message sent had {sent}"),
                ));
            }
            bytes += len as u64;
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
    fn accept_key_matches_rfc_6455_example() {
        // RFC 6455 §1.3: this key must give this accept value.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn frames_round_trip_at_every_length_encoding() {
        for len in [0usize, 5, 125, 126, 65_535, 65_536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = Vec::new();
            encode_frame(&mut out, opcode::BINARY, &payload, Some([1, 2, 3, 4]));
            let head = parse_head(&out).unwrap().unwrap();
            assert_eq!((head.fin, head.op, head.payload_len), (true, 2, len));
            assert_eq!(out.len(), head.header_len + len);
            let mut body = out[head.header_len..].to_vec();
            apply_mask(&mut body, head.mask.unwrap());
            assert_eq!(body, payload);
            // every proper prefix of the header asks for more bytes
            for cut in 0..head.header_len {
                assert_eq!(parse_head(&out[..cut]), Ok(None), "len {len} cut {cut}");
            }
        }
    }

    #[test]
    fn rfc_6455_unmasked_hello_example_parses() {
        // §5.7: a single-frame unmasked text message "Hello"
        let frame = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let head = parse_head(&frame).unwrap().unwrap();
        assert_eq!(
            (head.op, head.mask, head.header_len, head.payload_len),
            (1, None, 2, 5)
        );
        assert_eq!(&frame[2..], b"Hello");
    }

    #[test]
    fn garbage_is_rejected_not_buffered_forever() {
        assert_eq!(parse_head(&[0xF1, 0]), Err(FrameError::Reserved(0xF1)));
        assert_eq!(parse_head(&[0x83, 0]), Err(FrameError::Opcode(3)));
        let mut huge = vec![0x82, 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(matches!(parse_head(&huge), Err(FrameError::TooLong(_))));
        assert_eq!(parse_head(&[0x09, 0]), Err(FrameError::Control(9)));
    }

    #[test]
    fn handshake_checks_status_and_accept() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let ok = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert!(check_handshake(ok, key).is_ok());
        let wrong = b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: AAAA\r\n\r\n";
        assert_eq!(
            check_handshake(wrong, key).unwrap_err().kind,
            ErrorKind::Protocol
        );
        let refused = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            check_handshake(refused, key).unwrap_err().kind,
            ErrorKind::Status4xx
        );
        assert_eq!(
            check_handshake(b"SSH-2.0-OpenSSH\r\n\r\n", key)
                .unwrap_err()
                .kind,
            ErrorKind::Protocol
        );
    }
}
