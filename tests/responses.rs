//! Issue 19: what a response says, not only that it came. Streamed
//! responses, checks and data feeds against demo-server, whose answers are
//! known: `/stream?events=N&gap=D` sends N Server-Sent Events D apart after
//! its hold, `--bad-body-rate` answers a counted share `{"ok":false}`, and
//! `/stats` counts the distinct request bodies (and WebSocket messages) it
//! saw. Feeds of Redis commands and PostgreSQL parameters are counted by
//! the real servers.

mod common;

use common::{f, json, psql, redis_cli, rows_file, scalewall, service_answers, thousand_rows};
use scalewall_demo::{DemoConfig, RunningDemo};
use std::time::Duration;

fn demo(latency_ms: u64, bad_body_rate: f64) -> RunningDemo {
    RunningDemo::start(
        ([127, 0, 0, 1], 0).into(),
        DemoConfig {
            latency: Duration::from_millis(latency_ms),
            bad_body_rate,
            ..DemoConfig::default()
        },
        2,
    )
    .unwrap()
}

fn bench(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["bench", "--no-history", "--no-progress", "-o", "json"];
    all.extend_from_slice(args);
    let out = scalewall(&all);
    assert!(
        out.status.code().is_some_and(|c| c == 0 || c == 3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out)
}

/// The issue's known answer for a stream: 20 events 5 ms apart after a
/// 10 ms hold. The first event comes with the hold, every response has
/// exactly 20 events, the gaps' median is the server's 5 ms, and the
/// whole response takes the hold plus 19 gaps.
fn check_stream(v: &serde_json::Value) {
    eprintln!("{:#}", v["phases_ms"]);
    assert_eq!(f(v, "/errors_total"), 0.0, "{v:#}");
    let responses = f(v, "/requests");
    assert!(responses >= 20.0, "{responses}");
    assert_eq!(f(v, "/events_per_response"), 20.0);
    assert_eq!(f(v, "/events/events_per_response_min"), 20.0);
    assert_eq!(f(v, "/events/events_per_response_max"), 20.0);
    assert_eq!(f(v, "/events/events"), 20.0 * responses);
    let first = f(v, "/phases_ms/first_event/p50");
    assert!((10.0..11.5).contains(&first), "first event p50 {first} ms");
    let gap = f(v, "/phases_ms/event_gap/p50");
    assert!((gap - 5.0).abs() < 0.5, "event gap p50 {gap} ms");
    assert_eq!(f(v, "/phases_ms/event_gap/count"), 19.0 * responses);
    let total = f(v, "/latency_ms/p50");
    assert!((total - 105.0).abs() < 2.0, "duration p50 {total} ms");
    let ttfb = f(v, "/phases_ms/ttfb/p50");
    assert!(
        ttfb <= first + 0.05,
        "ttfb {ttfb} after the first event {first}"
    );
    // One connect per connection (4), each a loopback set-up.
    assert_eq!(f(v, "/phases_ms/connect/count"), 4.0);
    assert!(f(v, "/phases_ms/connect/max") < 20.0);
}

#[test]
fn a_streamed_response_has_its_first_event_gaps_and_count() {
    let server = demo(10, 0.0);
    let url = format!("{}stream?events=20&gap=5ms", server.url());
    let v = bench(&[&url, "--stream", "sse", "-c", "4", "-d", "1s"]);
    check_stream(&v);
    assert_eq!(f(&v, "/requests"), server.requests_served() as f64);
}

#[test]
fn a_streamed_response_over_http2_has_the_same_answer() {
    let server = demo(10, 0.0);
    let url = format!("{}stream?events=20&gap=5ms", server.url());
    let v = bench(&[&url, "--http2", "--stream", "sse", "-c", "4", "-d", "1s"]);
    check_stream(&v);
}

#[test]
fn a_stream_without_its_terminator_is_a_protocol_error() {
    let server = demo(1, 0.0);
    let url = format!("{}stream?events=3&gap=1ms", server.url());
    let out = scalewall(&[
        "bench",
        &url,
        "--stream",
        "sse",
        "--stream-done",
        "[DONE]",
        "-c",
        "2",
        "-n",
        "20",
        "--no-history",
        "--no-progress",
    ]);
    // Every response failed: the bench says so in one line and fails.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("every one of 20 operations failed (first protocol: the stream ended without its terminator"),
        "{stderr}"
    );
}

/// The bad-body share is counted by the server itself: the check's
/// failures are exactly the `{"ok":false}` bodies it sent (and so, over
/// 2,000 requests, 10 % within a point).
#[test]
fn a_json_check_fails_exactly_the_bad_bodies() {
    for http2 in [false, true] {
        let server = demo(0, 0.1);
        let mut args = vec![
            server.url(),
            "--check".into(),
            "json $.ok == true".into(),
            "--check".into(),
            "status=200".into(),
            "-c".into(),
            "8".into(),
            "-n".into(),
            "2000".into(),
        ];
        if http2 {
            args.push("--http2".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let v = bench(&args);
        let bad = server.state().bad_bodies_served() as f64;
        assert_eq!(f(&v, "/requests"), 2000.0);
        assert_eq!(f(&v, "/checks/0/failed"), bad, "{v:#}");
        assert_eq!(f(&v, "/checks/0/evaluated"), 2000.0);
        assert_eq!(f(&v, "/checks/1/failed"), 0.0);
        assert_eq!(f(&v, "/errors/check"), bad);
        let share = f(&v, "/checks/0/failed_ratio");
        assert!((share - 0.1).abs() < 0.01, "{share}");
        assert_eq!(
            v["checks"][0]["first_failure"],
            "json $.ok == true: got false"
        );
        // A failed check is a response: the operations are the requests.
        assert_eq!(f(&v, "/error_ratio"), bad / 2000.0);
    }
}

/// demo-server answers `ok` as text/plain (with no bad bodies asked for).
#[test]
fn status_header_body_and_ttfb_checks_judge_what_came() {
    let server = demo(5, 0.0);
    let v = bench(&[
        &server.url(),
        "--check",
        "status in 200..299",
        "--check",
        "header content-type: text/plain",
        "--check",
        "body contains \"ok\"",
        "--check",
        "body matches /^o[k]\\s*$/",
        "--check",
        "ttfb<2ms",
        "--check",
        "status=201",
        "-c",
        "2",
        "-n",
        "100",
    ]);
    let failed: Vec<f64> = (0..6)
        .map(|i| f(&v, &format!("/checks/{i}/failed")))
        .collect();
    // The 5 ms hold misses ttfb<2ms every time; 200 is never 201.
    assert_eq!(failed, [0.0, 0.0, 0.0, 0.0, 100.0, 100.0], "{v:#}");
    // The first failure is the first response judged: the server holds
    // every answer 5 ms, so its first byte came 5 ms after the send at the
    // least. How much later is the machine's: the first request of a fresh
    // connection on a busy 2-core host read 6.1 ms once (this asserted
    // "after 5." and failed 1 run in 5), so the bound above is loose.
    let first = v["checks"][4]["first_failure"].as_str().unwrap();
    let after_ms: f64 = first
        .strip_prefix("ttfb<2ms: first byte after ")
        .and_then(|rest| rest.strip_suffix(" ms"))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("{first}"));
    assert!((5.0..100.0).contains(&after_ms), "{first}");
    assert_eq!(v["checks"][5]["first_failure"], "status=201: got 200");
    assert_eq!(f(&v, "/errors/check"), 100.0);
}

/// The issue's known answer for a feed: 1,000 rows in unique order are
/// 1,000 requests, and the server saw 1,000 distinct bodies, none twice.
#[test]
fn a_unique_feed_sends_every_row_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let rows = thousand_rows(dir.path());
    for http2 in [false, true] {
        let server = demo(0, 0.0);
        let url = format!("{}items/{{{{id}}}}?who={{{{name}}}}", server.url());
        let mut args = vec![
            url.as_str(),
            "-m",
            "POST",
            "-b",
            r#"{"id":{{id}},"name":"{{name}}"}"#,
            "-H",
            "X-User: {{name}}",
            "--data",
            &rows,
            "--data-order",
            "unique",
            "-c",
            "8",
        ];
        if http2 {
            args.push("--http2");
        }
        let v = bench(&args);
        assert_eq!(f(&v, "/requests"), 1000.0, "{v:#}");
        assert_eq!(f(&v, "/errors_total"), 0.0);
        let state = server.state();
        assert_eq!(state.requests_served(), 1000);
        assert_eq!(state.distinct_bodies(), 1000);
        assert_eq!(f(&stats(&server), "/repeated_bodies"), 0.0);
    }
}

fn stats(server: &RunningDemo) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream
        .write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str(body).unwrap()
}

/// Sequential rows wrap (3 rows, 9 requests: each body three times); a
/// JSON-lines feed fills the same way.
#[test]
fn sequential_and_jsonl_feeds_wrap_and_fill() {
    let dir = tempfile::tempdir().unwrap();
    let rows = rows_file(
        dir.path(),
        "rows.jsonl",
        "{\"k\":\"a\",\"n\":1}\n{\"k\":\"b\",\"n\":2}\n{\"k\":\"c\",\"n\":3}\n",
    );
    let server = demo(0, 0.0);
    let v = bench(&[
        &server.url(),
        "-m",
        "POST",
        "-b",
        "{{k}}={{n}}",
        "--data",
        &rows,
        "-c",
        "1",
        "-n",
        "9",
    ]);
    assert_eq!(f(&v, "/requests"), 9.0);
    let s = stats(&server);
    assert_eq!(f(&s, "/distinct_bodies"), 3.0);
    assert_eq!(f(&s, "/repeated_bodies"), 6.0);
}

/// A bench of `target` with `args`, each of the 1,000 rows in `dir` once,
/// on 4 connections; it must send exactly them, without an error.
fn bench_each_row_once(dir: &std::path::Path, target: &str, args: &[&str]) -> serde_json::Value {
    let rows = thousand_rows(dir);
    let mut all = vec![target];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--data", &rows, "--data-order", "unique", "-c", "4"]);
    let v = bench(&all);
    assert_eq!(f(&v, "/requests"), 1000.0, "{v:#}");
    assert_eq!(f(&v, "/errors_total"), 0.0, "{v:#}");
    v
}

/// WebSocket messages from a unique feed: 1,000 messages, each row once,
/// and demo-server's echo saw 1,000 distinct messages.
#[test]
fn a_unique_feed_fills_websocket_messages_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let server = demo(0, 0.0);
    let url = format!("ws://{}/ws", server.addr());
    let body = r#"{"id":{{id}},"name":"{{name}}"}"#;
    bench_each_row_once(dir.path(), &url, &["-b", body]);
    assert_eq!(server.state().distinct_bodies(), 1000);
    assert_eq!(f(&stats(&server), "/repeated_bodies"), 0.0);
    // Without a feed, --body is one text message sent every time (and
    // once more by the pre-load check, which runs one operation).
    let v = bench(&[&url, "-b", "hello", "-n", "100", "-c", "2"]);
    assert_eq!(f(&v, "/requests"), 100.0, "{v:#}");
    assert_eq!(f(&v, "/bytes_received"), 500.0);
    assert_eq!(server.state().distinct_bodies(), 1001);
    assert_eq!(f(&stats(&server), "/repeated_bodies"), 100.0);
    // A --body-file that is not UTF-8 goes as it is, a binary message.
    let binary = dir.path().join("message.bin");
    std::fs::write(&binary, [0xff, 0xfe, 0, 1, 2, 3, 4]).unwrap();
    let file = binary.display().to_string();
    let v = bench(&[&url, "--body-file", &file, "-n", "10", "-c", "1"]);
    assert_eq!(f(&v, "/requests"), 10.0, "{v:#}");
    assert_eq!(f(&v, "/bytes_received"), 70.0);
    assert_eq!(server.state().distinct_bodies(), 1002);
}

/// Redis commands from a unique feed: `HSET h {{id}} {{name}}` over 1,000
/// rows leaves exactly 1,000 fields, each with its row's name.
#[test]
fn a_unique_feed_fills_redis_commands_once_each() {
    if !service_answers("Redis", 6379) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hash = format!("scalewall-feed-{}", std::process::id());
    redis_cli(6379, &["DEL", &hash]);
    let command = format!("HSET {hash} {{{{id}}}} {{{{name}}}}");
    bench_each_row_once(
        dir.path(),
        "redis://127.0.0.1:6379",
        &["--command", &command],
    );
    let fields = redis_cli(6379, &["HLEN", &hash]);
    let name = redis_cli(6379, &["HGET", &hash, "500"]);
    redis_cli(6379, &["DEL", &hash]);
    assert_eq!(fields, "1000");
    assert_eq!(name, "user, 500");
}

/// PostgreSQL parameters from a unique feed: 1,000 INSERTs into a table
/// keyed by id (a repeated row would fail on the key) leave 1,000 rows,
/// each with its row's name.
#[test]
fn a_unique_feed_fills_postgres_parameters_once_each() {
    if !service_answers("PostgreSQL", 5432) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let table = format!("scalewall_feed_{}", std::process::id());
    psql(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int PRIMARY KEY, name text)"
    ));
    let query = format!("INSERT INTO {table} (id, name) VALUES ($1, $2)");
    bench_each_row_once(
        dir.path(),
        "postgres://postgres@127.0.0.1/test",
        &[
            "--query",
            &query,
            "--query-param",
            "{{id}}",
            "--query-param",
            "{{name}}",
        ],
    );
    let counted = psql(&format!("SELECT count(*), count(DISTINCT id) FROM {table}"));
    let name = psql(&format!("SELECT name FROM {table} WHERE id = 500"));
    psql(&format!("DROP TABLE {table}"));
    assert_eq!(counted, "1000|1000");
    assert_eq!(name, "user, 500");
}

/// A feed where it cannot fill anything, or would overrun its rows: one
/// line each, before any load.
#[test]
fn a_feed_outside_what_it_fills_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rows = rows_file(dir.path(), "rows.csv", "id\n1\n2\n");
    let server = demo(0, 0.0);
    let ws = format!("ws://{}/ws", server.addr());
    let cases: [(&[&str], &str); 5] = [
        (
            &["nats://127.0.0.1:4222", "--data", &rows],
            "--data applies to http(s), ws(s), redis or postgres:// targets, not nats://",
        ),
        (&[&ws, "--data", &rows], "give --body"),
        (
            &[
                "redis://127.0.0.1:6379",
                "--command",
                "GET",
                "--data",
                &rows,
            ],
            "no {{column}} in --command",
        ),
        (
            &[
                "redis://127.0.0.1:6379",
                "--command",
                "GET {{id}}",
                "--pipeline",
                "4",
                "--data",
                &rows,
                "--data-order",
                "unique",
            ],
            "--pipeline 4 would overrun the rows",
        ),
        (
            &["--exec", "true", "--data", &rows],
            "--exec takes its values from --param",
        ),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["bench", "--no-history", "--no-progress"];
        args.extend_from_slice(extra);
        let out = scalewall(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
    assert_eq!(server.state().distinct_bodies(), 0);
}

/// A placeholder naming no column, a ragged row, a unique feed asked
/// for more requests than rows: each a one-line error before any load.
#[test]
fn a_bad_feed_is_refused_before_any_load() {
    let dir = tempfile::tempdir().unwrap();
    let rows = rows_file(dir.path(), "rows.csv", "id\n1\n2\n");
    let ragged = rows_file(dir.path(), "ragged.csv", "id,name\n1,a\n2\n");
    let server = demo(0, 0.0);
    let url = server.url();
    let cases: [(&[&str], &str); 4] = [
        (
            &["-b", "{{user}}", "--data", &rows],
            "the body: {{user}} is not a column of",
        ),
        (
            &["-b", "{{id}}", "--data", &ragged],
            "ragged.csv:3: 1 fields",
        ),
        (
            &[
                "-b",
                "{{id}}",
                "--data",
                &rows,
                "--data-order",
                "unique",
                "-n",
                "3",
            ],
            "-n 3 is more than the 2 rows",
        ),
        (&["--data", &rows], "no {{column}} in the URL"),
    ];
    for (extra, expected) in cases {
        let mut args = vec![
            "bench",
            url.as_str(),
            "-d",
            "1s",
            "--no-history",
            "--no-progress",
        ];
        if extra.contains(&"unique") {
            args.retain(|a| *a != "-d" && *a != "1s");
        }
        args.extend_from_slice(extra);
        let out = scalewall(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
    assert_eq!(server.requests_served(), 0);
}

/// A config scenario takes the same options, its data file relative to
/// the config.
#[test]
fn a_config_scenario_checks_streams_and_feeds() {
    let dir = tempfile::tempdir().unwrap();
    rows_file(dir.path(), "users.csv", "id\n1\n2\n3\n4\n");
    let server = demo(1, 0.1);
    let config = format!(
        r#"name = "agents"

[[service]]
name = "gateway"
url = "{url}"

[[scenario]]
name = "chat"
service = "gateway"
kind = "bench"
path = "/?user={{{{id}}}}"
connections = 2
requests = 200
checks = ["json $.ok == true", "status=200"]
data = "users.csv"
data_order = "random"

[[scenario]]
name = "tokens"
service = "gateway"
kind = "bench"
path = "/stream?events=5&gap=1ms"
connections = 2
requests = 20
stream = "sse"
"#,
        url = server.url().trim_end_matches('/')
    );
    let path = dir.path().join("scalewall.toml");
    std::fs::write(&path, config).unwrap();
    let out = scalewall(&[
        "run",
        "-f",
        path.to_str().unwrap(),
        "--no-history",
        "--no-progress",
        "-o",
        "json",
        "--report-dir",
        dir.path().join("reports").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some_and(|c| c != 1 && c != 2),
        "{:?} {stderr}",
        out.status
    );
    let v = json(&out);
    let text = v.to_string();
    assert!(text.contains("json $.ok == true"), "{stderr}");
    let report = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.path().extension().is_some_and(|x| x == "md"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .expect("a Markdown report");
    assert!(report.contains("json $.ok == true"), "{report}");
    assert!(report.contains("first event"), "{report}");
}
