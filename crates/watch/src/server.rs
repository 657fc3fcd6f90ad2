//! The daemon's HTTP endpoints: a small blocking HTTP/1.1 server (one
//! thread per connection, `Connection: close`, GET only but for a push
//! job's `POST /api/jobs/<name>/runs`, 64 KiB at most) over the shared
//! state. With a token, every endpoint but `/health` needs
//! `Authorization: Bearer TOKEN` (compared in constant time).

use crate::daemon::{lock, PushRefused, Shared};
use crate::{dashboard, exposition, view};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest request head read.
const MAX_HEAD: usize = 16 * 1024;
/// The largest request body taken (a push job's report).
const MAX_BODY: usize = crate::external::MAX_REPORT;

/// How long a scheduler may be silent before `/health` says it is stuck:
/// a waiting schedule thread beats at least this often (it wakes for its
/// next run; a run in progress is not silence).
const HEARTBEAT_GRACE: Duration = Duration::from_secs(3600);

/// An answer.
pub struct Answer {
    /// Status code.
    pub code: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
}

fn answer(code: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Answer {
    Answer {
        code,
        content_type,
        body: body.into(),
    }
}

/// Equal in constant time (for the token).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the history can be written: its folder exists and is writable.
fn history_writable(path: &Path) -> Result<(), String> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let probe = folder.join(format!(".scalewall-health-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| {
            format!(
                "the history folder {} is not writable: {e}",
                folder.display()
            )
        })
}

/// `/health`: 200 healthy or degraded (an alert channel failing), 503
/// with the reason when the scheduler is stuck or the history unwritable.
fn health(shared: &Shared) -> Answer {
    let silent = lock(&shared.heartbeat).elapsed();
    let running = lock(&shared.jobs).iter().any(|j| j.running);
    let problem = if silent > HEARTBEAT_GRACE && !running {
        Some(format!(
            "the scheduler has not run for {} s",
            silent.as_secs()
        ))
    } else {
        history_writable(&shared.history_path).err()
    };
    if let Some(reason) = problem {
        return answer(
            503,
            "application/json",
            serde_json::json!({"status": "unhealthy", "reason": reason}).to_string(),
        );
    }
    let failing: Vec<String> = lock(&shared.alerts)
        .iter()
        .filter_map(|(label, h)| {
            h.last_error
                .as_ref()
                .map(|e| format!("alert channel {label}: {e}"))
        })
        .collect();
    let body = if failing.is_empty() {
        serde_json::json!({"status": "healthy"})
    } else {
        serde_json::json!({"status": "degraded", "reason": failing.join("; ")})
    };
    answer(200, "application/json", body.to_string())
}

/// A stored report, by the name the report folder holds (`<run-id>.html`).
fn report(shared: &Shared, name: &str) -> Answer {
    let valid = name.ends_with(".html")
        && name.len() < 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !name.contains("..");
    if !valid {
        return answer(404, "text/plain", "no such report\n");
    }
    match std::fs::read(shared.report_dir.join(name)) {
        Ok(body) => answer(200, "text/html; charset=utf-8", body),
        Err(_) => answer(404, "text/plain", "no such report\n"),
    }
}

/// One request as [`route`] reads it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `HEAD` or `POST`.
    pub method: &'a str,
    /// The path with its query.
    pub path: &'a str,
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The body (a push job's report).
    pub body: &'a [u8],
}

/// Routes one request (pure over the shared state, apart from reading a
/// report file and probing the history folder).
pub fn route(shared: &Shared, token: Option<&str>, request: &Request<'_>) -> Answer {
    let path = request.path.split('?').next().unwrap_or("/");
    let pushed_job = path
        .strip_prefix("/api/jobs/")
        .and_then(|rest| rest.strip_suffix("/runs"));
    let method = request.method;
    if method == "POST" && pushed_job.is_none() || !["GET", "HEAD", "POST"].contains(&method) {
        return answer(
            405,
            "text/plain",
            "GET only, but POST /api/jobs/<name>/runs\n",
        );
    }
    if path == "/health" {
        return health(shared);
    }
    if let Some(token) = token {
        let given = request
            .authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same(given.as_bytes(), token.as_bytes()) {
            return answer(401, "text/plain", "a bearer token is required\n");
        }
    }
    if let Some(job) = pushed_job {
        if method != "POST" {
            return answer(405, "text/plain", "POST a run: {\"status\":\"ok\"}\n");
        }
        return match shared.push_report(job, request.body) {
            Ok(()) => answer(
                202,
                "application/json",
                serde_json::json!({"accepted": true, "job": job}).to_string(),
            ),
            Err(PushRefused::NoSuchJob(push_jobs)) => answer(
                404,
                "text/plain",
                format!(
                    "no push job '{job}' (push jobs: {})\n",
                    if push_jobs.is_empty() {
                        "none".to_string()
                    } else {
                        push_jobs.join(", ")
                    }
                ),
            ),
            Err(PushRefused::Invalid(why)) => answer(400, "text/plain", format!("{why}\n")),
        };
    }
    match path {
        "/" => {
            let jobs = lock(&shared.jobs).clone();
            let alerts = lock(&shared.alerts).clone();
            let series = throughput_series(shared, &jobs);
            answer(
                200,
                "text/html; charset=utf-8",
                dashboard::render(&jobs, &alerts, &series),
            )
        }
        "/api/status" => {
            let jobs = lock(&shared.jobs).clone();
            let alerts = lock(&shared.alerts).clone();
            answer(
                200,
                "application/json",
                view::status_json(&jobs, &alerts).to_string(),
            )
        }
        "/report" => {
            let [_, html, _] = crate::daemon::engine_reports(shared);
            answer(200, "text/html; charset=utf-8", html)
        }
        "/report.json" => {
            let [_, _, json] = crate::daemon::engine_reports(shared);
            answer(200, "application/json", json)
        }
        "/metrics" => {
            let jobs = lock(&shared.jobs).clone();
            answer(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                exposition::render(&jobs),
            )
        }
        _ => match path.strip_prefix("/reports/") {
            Some(name) => report(shared, name),
            None => answer(404, "text/plain", "not found\n"),
        },
    }
}

/// Each job's first throughput metric over its last runs, from the history.
fn throughput_series(shared: &Shared, jobs: &[view::JobView]) -> dashboard::Series {
    let Ok(history) = scalewall_history::History::open(&shared.history_path) else {
        return Vec::new();
    };
    jobs.iter()
        .filter_map(|j| {
            let run = j.latest.as_ref()?;
            let metric = scalewall_stats::metrics::of_run(run)
                .into_iter()
                .find(|m| m.name.ends_with(".rps") || m.name.ends_with(".max_rps"))?;
            let values: Vec<f64> = history
                .series(&j.name, &metric.name, &run.id, 20)
                .ok()?
                .into_iter()
                .map(|(_, v)| v)
                .collect();
            Some((j.name.clone(), metric.name, values))
        })
        .collect()
}

fn serve_connection(mut stream: TcpStream, shared: &Shared, token: Option<&str>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    let started = Instant::now();
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if head.len() > MAX_HEAD || started.elapsed() > Duration::from_secs(5) {
            return;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    let answer = match request.parse(&head) {
        Ok(httparse::Status::Complete(head_len)) => {
            let header = |name: &str| {
                request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .map(|h| String::from_utf8_lossy(h.value).into_owned())
            };
            let authorization = header("authorization");
            let length = header("content-length").map(|v| v.trim().parse::<usize>());
            let mut body = head[head_len..].to_vec();
            match length {
                Some(Err(_)) => answer(400, "text/plain", "bad Content-Length\n"),
                Some(Ok(n)) if n > MAX_BODY => answer(
                    413,
                    "text/plain",
                    format!("a body of at most {MAX_BODY} bytes\n"),
                ),
                length => {
                    let wanted = length.and_then(Result::ok).unwrap_or(0);
                    while body.len() < wanted && started.elapsed() < Duration::from_secs(5) {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => body.extend_from_slice(&buf[..n]),
                        }
                    }
                    if body.len() < wanted {
                        answer(400, "text/plain", "the body ended early\n")
                    } else {
                        body.truncate(wanted);
                        route(
                            shared,
                            token,
                            &Request {
                                method: request.method.unwrap_or(""),
                                path: request.path.unwrap_or("/"),
                                authorization: authorization.as_deref(),
                                body: &body,
                            },
                        )
                    }
                }
            }
        }
        _ => answer(400, "text/plain", "bad request\n"),
    };
    let reason = match answer.code {
        200 => "OK",
        202 => "Accepted",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        503 => "Service Unavailable",
        _ => "Bad Request",
    };
    let head_only = request.method == Some("HEAD");
    let _ = write!(
        stream,
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        answer.code,
        answer.content_type,
        answer.body.len()
    );
    if !head_only {
        let _ = stream.write_all(&answer.body);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap memory to the system (a
    // dashboard request reads the history: its memory is not kept).
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Serves until a stop request; returns when stopped. Accepting blocks
/// in its own thread (no polling: an idle daemon costs next to nothing);
/// this thread looks at the stop flag once a second.
pub fn serve(listener: TcpListener, shared: Arc<Shared>, token: Option<String>) {
    let accepting = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("scalewall-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    if shared.stop.is_stopped() {
                        return;
                    }
                    let (shared, token) = (shared.clone(), token.clone());
                    let _ = std::thread::Builder::new()
                        .name("scalewall-http".into())
                        .spawn(move || serve_connection(stream, &shared, token.as_deref()));
                }
            })
    };
    if accepting.is_err() {
        return;
    }
    while !shared.stop.is_stopped() {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!same(b"0123456789abcdef", b"0123456789abcdeg"));
        assert!(!same(b"0123", b"01234"));
    }
}
