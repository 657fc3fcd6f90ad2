//! Service health probes: an HTTP health endpoint (status code, latency and
//! the JSON `status` field when there is one) and a TCP port check (open or
//! closed, with connect latency). Each reading says healthy, degraded or down
//! and why.
//!
//! The HTTP check is a plain blocking HTTP/1.1 GET with `Connection: close`
//! and a deadline, not the load engine: one request per sample needs no
//! event loop. `https://` URLs go over rustls with the same certificate
//! checks as the load engine (`insecure` accepts any certificate, for one's
//! own test servers).

use crate::{Probe, ProbeError};
pub use scalewall_model::health::{HealthReading, HealthStatus};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Largest health response body read.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Verdict from an HTTP status code and body (pure).
pub fn classify_http(code: u16, body: &str) -> (HealthStatus, String) {
    if !(200..300).contains(&code) {
        return (HealthStatus::Down, format!("HTTP {code}"));
    }
    let reported = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("status").and_then(|s| s.as_str().map(str::to_string)));
    match reported {
        None => (HealthStatus::Healthy, format!("HTTP {code}")),
        Some(status) => {
            let verdict = match status.to_ascii_lowercase().as_str() {
                "ok" | "healthy" | "up" | "pass" | "passing" | "green" => HealthStatus::Healthy,
                "down" | "fail" | "failing" | "error" | "unhealthy" | "red" | "critical" => {
                    HealthStatus::Down
                }
                _ => HealthStatus::Degraded,
            };
            (verdict, format!("HTTP {code}, status \"{status}\""))
        }
    }
}

/// A parsed `http://host[:port]/path` health URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HttpUrl {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

fn parse_http_url(url: &str) -> Result<HttpUrl, String> {
    let (tls, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return Err("health URL must start with http:// or https://".into()),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
            h.trim_matches(['[', ']']).to_string(),
            p.parse().map_err(|_| format!("invalid port '{p}'"))?,
        ),
        _ => (
            authority.trim_matches(['[', ']']).to_string(),
            if tls { 443 } else { 80 },
        ),
    };
    if host.is_empty() {
        return Err("health URL has no host".into());
    }
    Ok(HttpUrl {
        tls,
        host,
        port,
        path: path.to_string(),
    })
}

/// Checks an HTTP health endpoint.
pub struct HttpHealthProbe {
    url: String,
    timeout: Duration,
    insecure: bool,
}

impl HttpHealthProbe {
    /// A probe of `url` that gives up after `timeout`.
    pub fn new(url: impl Into<String>, timeout: Duration) -> Self {
        HttpHealthProbe {
            url: url.into(),
            timeout,
            insecure: false,
        }
    }

    /// Accepts any TLS certificate (only for one's own test servers).
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    fn down(&self, detail: impl Into<String>, latency: Option<Duration>) -> HealthReading {
        HealthReading {
            target: self.url.clone(),
            status: HealthStatus::Down,
            latency_ms: latency.map(|d| d.as_secs_f64() * 1e3),
            http_status: None,
            detail: detail.into(),
        }
    }
}

fn connect(host: &str, port: u16, deadline: Instant) -> Result<(TcpStream, SocketAddr), String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = format!("{host}: no address");
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no connection within the timeout ({addr})"));
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return Ok((stream, addr)),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = format!("no connection within the timeout ({addr})")
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

/// A plain or TLS connection of one health request.
enum Connection {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Connection {
    fn socket(&self) -> &TcpStream {
        match self {
            Connection::Plain(s) => s,
            Connection::Tls(s) => &s.sock,
        }
    }
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Connection::Plain(s) => s.read(buf),
            Connection::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Connection::Plain(s) => s.write(buf),
            Connection::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Connection::Plain(s) => s.flush(),
            Connection::Tls(s) => s.flush(),
        }
    }
}

/// Wraps a connected socket in TLS for `host`; the handshake happens on the
/// first write, under the socket's timeouts.
fn tls_connection(stream: TcpStream, host: &str, insecure: bool) -> Result<Connection, String> {
    let config = scalewall_load::tls::client_config(&[b"http/1.1"], insecure);
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("TLS: invalid server name '{host}': {e}"))?;
    let session = rustls::ClientConnection::new(config, name).map_err(|e| format!("TLS: {e}"))?;
    Ok(Connection::Tls(Box::new(rustls::StreamOwned::new(
        session, stream,
    ))))
}

/// Reads the response until close, the size cap or the deadline.
fn read_response(
    stream: &mut Connection,
    deadline: Instant,
    max_bytes: usize,
) -> Result<Vec<u8>, String> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("no complete answer within the timeout".into());
        }
        stream
            .socket()
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(data),
            // A TLS peer that closes without close_notify: the data is whole
            // when it parses as a response (checked by the caller).
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !data.is_empty() => {
                return Ok(data)
            }
            Ok(n) => {
                data.extend_from_slice(&chunk[..n]);
                if data.len() > max_bytes {
                    return Ok(data);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err("no complete answer within the timeout".into())
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// A complete HTTP answer to a GET.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HttpAnswer {
    /// Status code.
    pub code: u16,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// Time from the start of the connect to the end of the answer.
    pub latency: Duration,
}

/// Why a GET brought no answer, and after how long when it got that far.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HttpFailure {
    /// In a few words.
    pub reason: String,
    /// Time until the failure, when the request was sent.
    pub latency: Option<Duration>,
}

fn failure(reason: impl Into<String>, latency: Option<Duration>) -> HttpFailure {
    HttpFailure {
        reason: reason.into(),
        latency,
    }
}

/// One blocking `GET url` with `Connection: close`, done within `timeout`;
/// `insecure` accepts any TLS certificate.
pub(crate) fn http_get(
    url: &str,
    timeout: Duration,
    insecure: bool,
) -> Result<HttpAnswer, HttpFailure> {
    http_request("GET", url, None, timeout, insecure, MAX_BODY_BYTES, None)
}

/// [`http_get`] reading up to `max_bytes` of the answer (a metrics page
/// is larger than a health answer).
pub(crate) fn http_get_limited(
    url: &str,
    timeout: Duration,
    insecure: bool,
    max_bytes: usize,
) -> Result<HttpAnswer, HttpFailure> {
    http_request("GET", url, None, timeout, insecure, max_bytes, None)
}

/// One blocking `POST url` of a JSON body (a webhook), done within
/// `timeout`: the status code, or why there is none.
pub fn http_post_json(url: &str, body: &str, timeout: Duration) -> Result<u16, String> {
    http_post_json_authorized(url, body, None, timeout).map(|(code, _)| code)
}

/// POSTs a JSON body with an optional bearer token: the status code and
/// the answer's body (lossy UTF-8), or why there is none.
pub fn http_post_json_authorized(
    url: &str,
    body: &str,
    bearer: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    http_request(
        "POST",
        url,
        Some(body),
        timeout,
        false,
        MAX_BODY_BYTES,
        bearer,
    )
    .map(|answer| {
        (
            answer.code,
            String::from_utf8_lossy(&answer.body).into_owned(),
        )
    })
    .map_err(|failed| failed.reason)
}

fn http_request(
    method: &str,
    url: &str,
    json_body: Option<&str>,
    timeout: Duration,
    insecure: bool,
    max_bytes: usize,
    bearer: Option<&str>,
) -> Result<HttpAnswer, HttpFailure> {
    let url = parse_http_url(url).map_err(|reason| failure(reason, None))?;
    let start = Instant::now();
    let deadline = start + timeout;
    let (socket, _) =
        connect(&url.host, url.port, deadline).map_err(|reason| failure(reason, None))?;
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    socket
        .set_write_timeout(Some(left))
        .and_then(|()| socket.set_read_timeout(Some(left)))
        .map_err(|e| failure(e.to_string(), None))?;
    let mut stream = if url.tls {
        tls_connection(socket, &url.host, insecure).map_err(|reason| failure(reason, None))?
    } else {
        Connection::Plain(socket)
    };
    let host_header = if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let body_headers = json_body.map_or(String::new(), |b| {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        )
    });
    let authorization = bearer.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!(
        "{method} {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: scalewall\r\nAccept: application/json\r\n{authorization}{body_headers}Connection: close\r\n\r\n{}",
        url.path,
        json_body.unwrap_or("")
    );
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| {
            let what = if url.tls {
                "TLS"
            } else {
                "cannot send the request"
            };
            failure(format!("{what}: {e}"), Some(start.elapsed()))
        })?;
    let data = read_response(&mut stream, deadline, max_bytes)
        .map_err(|reason| failure(reason, Some(start.elapsed())))?;
    let latency = start.elapsed();
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(&data) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return Err(failure("the answer is not an HTTP response", Some(latency))),
    };
    let chunked = response.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .contains("chunked")
    });
    Ok(HttpAnswer {
        code: response.code.unwrap_or(0),
        body: decode_body(&data[head_len..], chunked),
        latency,
    })
}

impl Probe for HttpHealthProbe {
    type Reading = HealthReading;

    /// Never fails: an unreachable endpoint is a `Down` reading.
    fn sample(&mut self) -> Result<HealthReading, ProbeError> {
        match http_get(&self.url, self.timeout, self.insecure) {
            Ok(answer) => {
                let (status, detail) =
                    classify_http(answer.code, &String::from_utf8_lossy(&answer.body));
                Ok(HealthReading {
                    target: self.url.clone(),
                    status,
                    latency_ms: Some(answer.latency.as_secs_f64() * 1e3),
                    http_status: Some(answer.code),
                    detail,
                })
            }
            Err(failed) => Ok(self.down(failed.reason, failed.latency)),
        }
    }
}

/// The body bytes, de-chunked when needed (malformed chunks end the body).
fn decode_body(raw: &[u8], chunked: bool) -> Vec<u8> {
    if !chunked {
        return raw.to_vec();
    }
    let mut out = Vec::new();
    let mut rest = raw;
    while let Ok(httparse::Status::Complete((line, size))) = httparse::parse_chunk_size(rest) {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size == 0 || rest.len() < line + size {
            break;
        }
        out.extend_from_slice(&rest[line..line + size]);
        rest = &rest[(line + size + 2).min(rest.len())..];
    }
    out
}

/// Checks that a TCP port accepts connections.
pub struct TcpHealthProbe {
    target: String,
    timeout: Duration,
}

impl TcpHealthProbe {
    /// A probe of `host:port` that gives up after `timeout`.
    pub fn new(target: impl Into<String>, timeout: Duration) -> Self {
        TcpHealthProbe {
            target: target.into(),
            timeout,
        }
    }
}

impl Probe for TcpHealthProbe {
    type Reading = HealthReading;

    /// Never fails: a closed port is a `Down` reading.
    fn sample(&mut self) -> Result<HealthReading, ProbeError> {
        let (host, port) = match self
            .target
            .rsplit_once(':')
            .map(|(h, p)| (h.trim_matches(['[', ']']), p.parse::<u16>()))
        {
            Some((host, Ok(port))) => (host.to_string(), port),
            _ => {
                return Ok(HealthReading {
                    target: self.target.clone(),
                    status: HealthStatus::Down,
                    latency_ms: None,
                    http_status: None,
                    detail: "expected host:port".into(),
                })
            }
        };
        let start = Instant::now();
        let reading = match connect(&host, port, start + self.timeout) {
            Ok((_, addr)) => HealthReading {
                target: self.target.clone(),
                status: HealthStatus::Healthy,
                latency_ms: Some(start.elapsed().as_secs_f64() * 1e3),
                http_status: None,
                detail: format!("open ({addr})"),
            },
            Err(reason) => HealthReading {
                target: self.target.clone(),
                status: HealthStatus::Down,
                latency_ms: None,
                http_status: None,
                detail: reason,
            },
        };
        Ok(reading)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_and_json_status_fields_are_classified() {
        let cases = [
            (200, r#"{"status":"healthy"}"#, HealthStatus::Healthy),
            (200, r#"{"status":"UP"}"#, HealthStatus::Healthy),
            (200, r#"{"status":"degraded"}"#, HealthStatus::Degraded),
            (200, r#"{"status":"mystery"}"#, HealthStatus::Degraded),
            (200, r#"{"status":"unhealthy"}"#, HealthStatus::Down),
            (204, "", HealthStatus::Healthy),
            (200, "plain ok", HealthStatus::Healthy),
        ];
        for (code, body, expected) in cases {
            assert_eq!(classify_http(code, body).0, expected, "{code} {body}");
        }
        let (status, detail) = classify_http(503, r#"{"status":"healthy"}"#);
        assert_eq!((status, detail.as_str()), (HealthStatus::Down, "HTTP 503"));
    }

    #[test]
    fn health_urls_are_parsed_or_refused_with_reasons() {
        assert_eq!(
            parse_http_url("http://127.0.0.1:8080/health").unwrap(),
            HttpUrl {
                tls: false,
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/health".into()
            }
        );
        assert_eq!(parse_http_url("http://localhost").unwrap().port, 80);
        let https = parse_http_url("https://x/health").unwrap();
        assert!(https.tls);
        assert_eq!(https.port, 443);
        assert!(parse_http_url("ftp://x/").is_err());
        assert!(parse_http_url("http://x:notaport/").is_err());
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        assert_eq!(
            decode_body(b"4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n", true),
            b"{\"a\":1}"
        );
        assert_eq!(decode_body(b"raw", false), b"raw");
    }
}
