//! Redis (`redis://[[user]:password@]host:port[/db]`), RESP2 over TCP.
//!
//! An operation is one command; with a pipeline depth P a call writes P
//! commands at once and reads P replies, as `redis-benchmark -P` does. The
//! command is given as words: `PING`, `GET`, `SET` (which take a key from the
//! key space and a value of the configured size), or any command with
//! `{key}` and `{value}` placeholders, e.g. `HSET h {key} {value}`. An error
//! reply (`-ERR …`) counts as a `server_error`; anything that is not RESP is a
//! protocol error. With a data feed (`--data`) every command takes a row
//! and its words' `{{column}}` placeholders are filled from it.

use super::read_buffer::ReadBuffer;
use super::{connect_stream, Connection, Driver, OpError, Response, Stream};
use crate::feed::FedTexts;
use scalewall_model::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// Largest bulk reply accepted (Redis's own proto-max-bulk-len default).
const MAX_BULK_BYTES: i64 = 512 * 1024 * 1024;
/// Deepest nesting of arrays accepted.
const MAX_DEPTH: usize = 16;

/// What to send.
#[derive(Debug, Clone)]
pub struct RedisWorkload {
    /// Command words; `{key}` and `{value}` are replaced on every call.
    pub command: Vec<String>,
    /// The rows that fill the words' `{{column}}` placeholders, one row a
    /// command (the feed's texts are the words, in order).
    pub feed: Option<Arc<FedTexts>>,
    /// Keys are `key:<n>` with n uniform in `0..keyspace`.
    pub keyspace: u64,
    /// Bytes of `{value}`.
    pub value_bytes: usize,
    /// Commands per round trip.
    pub pipeline: u32,
}

impl RedisWorkload {
    /// Expands the short forms `GET`, `SET`, `INCR`, `LPUSH`, `DEL` into their
    /// full words with placeholders; other commands are taken as written.
    pub fn new(command: &str, keyspace: u64, value_bytes: usize, pipeline: u32) -> Self {
        let words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
        let command = match words.as_slice() {
            [one] if one.eq_ignore_ascii_case("get") => vec!["GET".into(), "{key}".into()],
            [one] if one.eq_ignore_ascii_case("set") => {
                vec!["SET".into(), "{key}".into(), "{value}".into()]
            }
            [one] if one.eq_ignore_ascii_case("incr") => vec!["INCR".into(), "{key}".into()],
            [one] if one.eq_ignore_ascii_case("del") => vec!["DEL".into(), "{key}".into()],
            [one] if one.eq_ignore_ascii_case("lpush") => {
                vec!["LPUSH".into(), "{key}".into(), "{value}".into()]
            }
            [] => vec!["PING".into()],
            _ => words,
        };
        RedisWorkload {
            command,
            feed: None,
            keyspace: keyspace.max(1),
            value_bytes,
            pipeline: pipeline.max(1),
        }
    }
}

/// Opens Redis connections.
pub struct RedisDriver {
    addr: SocketAddr,
    auth: Option<(Option<String>, String)>,
    database: Option<u32>,
    workload: RedisWorkload,
    value: Vec<u8>,
}

impl RedisDriver {
    /// A driver for `addr`, authenticating when a password is given, selecting `database`.
    pub fn new(
        addr: SocketAddr,
        user: Option<String>,
        password: Option<String>,
        database: Option<u32>,
        workload: RedisWorkload,
    ) -> Self {
        RedisDriver {
            addr,
            auth: password.map(|p| (user, p)),
            database,
            value: vec![b'x'; workload.value_bytes],
            workload,
        }
    }
}

/// One Redis connection.
pub struct RedisConnection {
    stream: Stream,
    out: Vec<u8>,
    rx: ReadBuffer,
    command: Vec<String>,
    feed: Option<Arc<FedTexts>>,
    /// The words filled from the current row.
    filled: Vec<Vec<u8>>,
    keyspace: u64,
    value: Vec<u8>,
    pipeline: u32,
}

/// A parsed reply, reduced to what the load test needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Any non-error reply.
    Value,
    /// An error reply, with its text.
    Error(String),
}

/// Parses one RESP2 reply at the front of `buf`: `Ok(None)` when more bytes
/// are needed, else the reply and the bytes it took.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    parse_at(buf, 0, 0)
}

fn parse_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Reply, usize)>, String> {
    if depth > MAX_DEPTH {
        return Err("arrays nested deeper than 16".into());
    }
    let Some(line_end) = find_crlf(buf, at) else {
        if buf.len() - at > 64 * 1024 {
            return Err("a reply line over 64 KiB without CRLF".into());
        }
        return Ok(None);
    };
    let Some(&tag) = buf.get(at) else {
        return Ok(None);
    };
    let line = &buf[at + 1..line_end];
    let after = line_end + 2;
    let number = || -> Result<i64, String> {
        std::str::from_utf8(line)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .ok_or_else(|| format!("'{}' is not a RESP length", String::from_utf8_lossy(line)))
    };
    match tag {
        b'+' | b':' => Ok(Some((Reply::Value, after - at))),
        b'-' => Ok(Some((
            Reply::Error(String::from_utf8_lossy(line).into_owned()),
            after - at,
        ))),
        b'$' => {
            let len = number()?;
            if len < 0 {
                return Ok(Some((Reply::Value, after - at)));
            }
            if len > MAX_BULK_BYTES {
                return Err(format!("a bulk reply of {len} bytes"));
            }
            let end = after + len as usize + 2;
            if buf.len() < end {
                return Ok(None);
            }
            if &buf[end - 2..end] != b"\r\n" {
                return Err("a bulk reply not ended by CRLF".into());
            }
            Ok(Some((Reply::Value, end - at)))
        }
        b'*' => {
            let count = number()?;
            let mut pos = after;
            let mut first_error = None;
            for _ in 0..count.max(0) {
                match parse_at(buf, pos, depth + 1)? {
                    None => return Ok(None),
                    Some((reply, used)) => {
                        if let (Reply::Error(e), None) = (&reply, &first_error) {
                            first_error = Some(e.clone());
                        }
                        pos += used;
                    }
                }
            }
            let reply = first_error.map_or(Reply::Value, Reply::Error);
            Ok(Some((reply, pos - at)))
        }
        other => Err(format!(
            "the server sent 0x{other:02x} where a RESP reply starts (+ - : $ *); is this Redis?"
        )),
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| from + p)
}

/// Appends one command as a RESP array of bulk strings.
fn encode_command(out: &mut Vec<u8>, words: &[&[u8]]) {
    out.push(b'*');
    out.extend_from_slice(words.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for word in words {
        out.push(b'$');
        out.extend_from_slice(word.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(word);
        out.extend_from_slice(b"\r\n");
    }
}

impl Driver for RedisDriver {
    type Conn = RedisConnection;

    fn protocol(&self) -> &'static str {
        "redis"
    }

    fn batch(&self) -> u32 {
        self.workload.pipeline
    }

    async fn connect(&self) -> Result<RedisConnection, OpError> {
        let stream = connect_stream(self.addr, None).await?;
        let mut conn = RedisConnection {
            stream,
            out: Vec::with_capacity(256),
            rx: ReadBuffer::new(16 * 1024),
            command: self.workload.command.clone(),
            feed: self.workload.feed.clone(),
            filled: vec![Vec::new(); self.workload.command.len()],
            keyspace: self.workload.keyspace,
            value: self.value.clone(),
            pipeline: self.workload.pipeline,
        };
        if let Some((user, password)) = &self.auth {
            let mut words: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = user {
                words.push(user.as_bytes());
            }
            words.push(password.as_bytes());
            if let Reply::Error(e) = conn.request(&words).await? {
                return Err(OpError::new(
                    ErrorKind::Auth,
                    format!("{}: AUTH: {e}", self.addr),
                ));
            }
        }
        if let Some(db) = self.database {
            let db = db.to_string();
            if let Reply::Error(e) = conn.request(&[b"SELECT", db.as_bytes()]).await? {
                return Err(OpError::new(
                    ErrorKind::Auth,
                    format!("{}: SELECT {db}: {e}", self.addr),
                ));
            }
        }
        // A server that needs a password answers the first command with -NOAUTH.
        if let Reply::Error(e) = conn.request(&[b"PING"]).await? {
            let kind = if e.starts_with("NOAUTH") || e.starts_with("WRONGPASS") {
                ErrorKind::Auth
            } else {
                ErrorKind::ServerError
            };
            return Err(OpError::new(kind, format!("{}: {e}", self.addr)));
        }
        Ok(conn)
    }
}

impl RedisConnection {
    /// Sends one command and reads its reply (set-up only, not the hot path).
    async fn request(&mut self, words: &[&[u8]]) -> Result<Reply, OpError> {
        self.out.clear();
        encode_command(&mut self.out, words);
        self.stream
            .write_all(&self.out)
            .await
            .map_err(|e| OpError::from_io(&e))?;
        self.read_reply().await.map(|(reply, _)| reply)
    }

    /// Reads one reply; returns it with its size in bytes.
    async fn read_reply(&mut self) -> Result<(Reply, usize), OpError> {
        loop {
            match parse_reply(self.rx.pending()) {
                Ok(Some((reply, used))) => {
                    self.rx.consume(used);
                    return Ok((reply, used));
                }
                Ok(None) => self.rx.fill(&mut self.stream, "Redis server").await?,
                Err(e) => return Err(OpError::new(ErrorKind::Protocol, e)),
            }
        }
    }
}

impl Connection for RedisConnection {
    async fn call(&mut self) -> Result<Response, OpError> {
        self.out.clear();
        for _ in 0..self.pipeline {
            if let Some(feed) = &self.feed {
                if !feed.next_into(&mut self.filled) {
                    return Err(OpError::feed_exhausted(&feed.feed));
                }
            }
            let key = format!("key:{:012}", fastrand::u64(..self.keyspace));
            let words: Vec<&[u8]> = self
                .command
                .iter()
                .zip(&self.filled)
                .map(|(w, filled)| match w.as_str() {
                    "{key}" => key.as_bytes(),
                    "{value}" => self.value.as_slice(),
                    _ if self.feed.is_some() => filled.as_slice(),
                    other => other.as_bytes(),
                })
                .collect();
            encode_command(&mut self.out, &words);
        }
        self.stream
            .write_all(&self.out)
            .await
            .map_err(|e| OpError::from_io(&e))?;
        let mut bytes = 0u64;
        let mut first_error = None;
        for _ in 0..self.pipeline {
            let (reply, used) = self.read_reply().await?;
            bytes += used as u64;
            if let (Reply::Error(e), None) = (reply, &first_error) {
                first_error = Some(e);
            }
        }
        if let Some(e) = first_error {
            return Err(OpError::new(ErrorKind::ServerError, e));
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
    fn parses_every_resp2_type_and_waits_for_more() {
        let cases: [(&[u8], Reply, usize); 6] = [
            (b"+OK\r\n", Reply::Value, 5),
            (b":42\r\n", Reply::Value, 5),
            (b"$3\r\nxxx\r\n", Reply::Value, 9),
            (b"$-1\r\n", Reply::Value, 5),
            (b"*2\r\n$1\r\na\r\n:1\r\n", Reply::Value, 15),
            (
                b"-ERR wrong type\r\n",
                Reply::Error("ERR wrong type".into()),
                17,
            ),
        ];
        for (bytes, reply, used) in cases {
            assert_eq!(parse_reply(bytes), Ok(Some((reply, used))), "{bytes:?}");
            for cut in 0..bytes.len() {
                assert_eq!(parse_reply(&bytes[..cut]), Ok(None), "{bytes:?} cut {cut}");
            }
        }
    }

    #[test]
    fn garbage_and_absurd_lengths_are_protocol_errors() {
        assert!(parse_reply(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_reply(b"$abc\r\n").is_err());
        assert!(parse_reply(b"$99999999999\r\n").is_err());
        assert!(parse_reply(b"$3\r\nxxxyy").is_err());
        let deep = "*1\r\n".repeat(40) + ":1\r\n";
        assert!(parse_reply(deep.as_bytes()).is_err());
    }

    #[test]
    fn short_forms_expand_and_commands_encode_as_resp_arrays() {
        let w = RedisWorkload::new("set", 10, 3, 1);
        assert_eq!(w.command, ["SET", "{key}", "{value}"]);
        assert_eq!(RedisWorkload::new("", 10, 3, 0).command, ["PING"]);
        assert_eq!(RedisWorkload::new("", 10, 3, 0).pipeline, 1);
        assert_eq!(
            RedisWorkload::new("HSET h {key} v", 1, 1, 1).command,
            ["HSET", "h", "{key}", "v"]
        );
        let mut out = Vec::new();
        encode_command(&mut out, &[b"GET", b"key:1"]);
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n");
    }
}
