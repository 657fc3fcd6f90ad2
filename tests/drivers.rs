//! The protocol drivers against real servers, each checked against a count
//! the server keeps itself (a Redis counter, a PostgreSQL sequence, a NATS
//! subscriber, echoed bytes, `sleep`'s known duration), and their failure
//! paths: refused connections, wrong credentials or database, a server
//! killed mid-run, and garbage where a protocol reply should be.

mod common;

use common::{f, free_port, json, psql, raw_server, redis_cli, scalewall, service_answers, Reaped};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ok_json(args: &[&str]) -> serde_json::Value {
    let out = scalewall(args);
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    json(&out)
}

fn fails_with(args: &[&str], needle: &str) {
    let out = scalewall(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: wanted '{needle}' in: {stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

/// demo-server with its TCP echo; returns (server, http port, echo port).
fn demo_with_echo() -> (Reaped, String, u16) {
    let echo = free_port();
    let (server, port) = common::demo_server_on(
        "127.0.0.1:0",
        &["--echo-listen", &format!("127.0.0.1:{echo}")],
    );
    for _ in 0..50 {
        if TcpStream::connect(("127.0.0.1", echo)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, port, echo)
}

#[test]
fn websocket_echo_counts_every_message_and_pipelines() {
    let (_server, port, _) = demo_with_echo();
    let url = format!("ws://127.0.0.1:{port}/ws");
    let v = ok_json(&[
        "bench",
        &url,
        "-c",
        "4",
        "-d",
        "1s",
        "--pipeline",
        "8",
        "--message-size",
        "100",
        "-o",
        "json",
        "--no-progress",
    ]);
    let messages = f(&v, "/requests");
    assert!(messages > 1000.0, "{v:#}");
    assert_eq!(f(&v, "/errors_total"), 0.0);
    // every call is 8 messages, every echo checked to be 100 bytes
    assert_eq!(messages % 8.0, 0.0);
    assert_eq!(f(&v, "/bytes_received"), messages * 100.0);
    // connect-only: each operation is one handshake
    let v = ok_json(&[
        "bench",
        &url,
        "--connect-only",
        "-c",
        "2",
        "-d",
        "500ms",
        "-o",
        "json",
        "--no-progress",
    ]);
    assert!(
        f(&v, "/requests") > 50.0 && f(&v, "/errors_total") == 0.0,
        "{v:#}"
    );
    // a path that is not a WebSocket endpoint: the handshake is refused, with the status
    fails_with(
        &[
            "bench",
            &format!("ws://127.0.0.1:{port}/items"),
            "-d",
            "300ms",
        ],
        "instead of 101",
    );
}

#[test]
fn tcp_echo_and_port_checks() {
    let (_server, _, echo) = demo_with_echo();
    let url = format!("tcp://127.0.0.1:{echo}");
    let v = ok_json(&[
        "bench",
        &url,
        "--message-size",
        "100",
        "-c",
        "2",
        "-d",
        "500ms",
        "-o",
        "json",
        "--no-progress",
    ]);
    assert!(f(&v, "/requests") > 100.0, "{v:#}");
    assert_eq!(f(&v, "/bytes_received"), f(&v, "/requests") * 100.0);
    let v = ok_json(&[
        "bench",
        &url,
        "-c",
        "1",
        "-d",
        "300ms",
        "-o",
        "json",
        "--no-progress",
    ]);
    assert!(
        f(&v, "/requests") > 10.0 && f(&v, "/errors_total") == 0.0,
        "{v:#}"
    );
    // a closed port
    let closed = format!("tcp://127.0.0.1:{}", free_port());
    fails_with(
        &["bench", &closed, "-d", "300ms"],
        "cannot connect to tcp://127.0.0.1",
    );
    // an echo that is not one
    let liar = raw_server(|mut s| {
        let mut buf = [0u8; 64];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 || s.write_all(&vec![b'z'; n]).is_err() {
                break;
            }
        }
    });
    fails_with(
        &[
            "bench",
            &format!("tcp://{liar}"),
            "--message-size",
            "8",
            "-d",
            "300ms",
        ],
        "not an echo",
    );
}

#[test]
fn redis_counts_match_the_servers_own_counter() {
    if !service_answers("Redis", 6379) {
        return;
    }
    let key = format!("scalewall-test-{}", std::process::id());
    redis_cli(6379, &["DEL", &key]);
    let command = format!("INCR {key}");
    let v = ok_json(&[
        "bench",
        "redis://127.0.0.1:6379",
        "--command",
        &command,
        "--pipeline",
        "10",
        "-c",
        "4",
        "-d",
        "1s",
        "-o",
        "json",
        "--no-progress",
    ]);
    let counted: f64 = redis_cli(6379, &["GET", &key]).parse().unwrap();
    redis_cli(6379, &["DEL", &key]);
    // the pre-flight check runs one call (10 commands) before the measured span
    assert_eq!(f(&v, "/requests") + 10.0, counted, "{v:#}");
    assert_eq!(f(&v, "/errors_total"), 0.0);
    // SET with a value size, GET over a key space
    let v = ok_json(&[
        "bench",
        "redis://127.0.0.1",
        "--command",
        "SET",
        "--message-size",
        "32",
        "--keyspace",
        "100",
        "-c",
        "2",
        "-d",
        "300ms",
        "-o",
        "json",
        "--no-progress",
    ]);
    assert!(f(&v, "/requests") > 100.0 && f(&v, "/errors_total") == 0.0);
    // a command the server refuses: its own words, one line
    fails_with(
        &[
            "bench",
            "redis://127.0.0.1",
            "--command",
            "NOSUCHCOMMAND x",
            "-d",
            "300ms",
        ],
        "unknown command",
    );
    fails_with(
        &["bench", "redis://:wrong@127.0.0.1", "-d", "300ms"],
        "auth error",
    );
}

#[test]
fn redis_refused_garbage_and_killed_mid_run() {
    let Ok(_) = Command::new("redis-server").arg("--version").output() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "redis-server needed under CI"
        );
        eprintln!("skipped: no redis-server");
        return;
    };
    let refused = format!("redis://127.0.0.1:{}", free_port());
    fails_with(&["bench", &refused, "-d", "300ms"], "cannot connect");
    let garbage = raw_server(|mut s| {
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n");
    });
    fails_with(
        &["bench", &format!("redis://{garbage}"), "-d", "300ms"],
        "is this Redis?",
    );
    // a private server, killed a second into a 3 s run
    let port = free_port();
    let mut server = Reaped(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "redis did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("redis://127.0.0.1:{port}");
    let bench = std::thread::spawn(move || {
        scalewall(&[
            "bench",
            &url,
            "-c",
            "2",
            "-d",
            "3s",
            "--timeout",
            "500ms",
            "-o",
            "json",
            "--no-progress",
        ])
    });
    std::thread::sleep(Duration::from_secs(1));
    let _ = server.0.kill();
    let out = bench.join().unwrap();
    let v = json(&out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(f(&v, "/requests") > 100.0, "{v:#}");
    let errors = f(&v, "/errors_total");
    assert!(errors > 0.0, "{v:#}");
    let kinds = v["errors"].as_object().unwrap();
    assert!(
        kinds
            .keys()
            .all(|k| k == "reset" || k == "connect" || k == "timeout"),
        "{kinds:?}"
    );
    assert!(
        f(&v, "/duration_s") < 3.5,
        "the run kept its schedule: {v:#}"
    );
}

#[test]
fn postgres_queries_match_a_sequence_and_errors_name_the_cause() {
    if !service_answers("PostgreSQL", 5432) {
        return;
    }
    let seq = format!("scalewall_test_seq_{}", std::process::id());
    psql(&format!(
        "DROP SEQUENCE IF EXISTS {seq}; CREATE SEQUENCE {seq}"
    ));
    let query = format!("SELECT nextval('{seq}') + $1::int");
    let v = ok_json(&[
        "bench",
        "postgres://postgres@127.0.0.1/test",
        "--query",
        &query,
        "--query-param",
        "random:1..100",
        "-c",
        "4",
        "-d",
        "1s",
        "-o",
        "json",
        "--no-progress",
    ]);
    let last: f64 = psql(&format!("SELECT last_value FROM {seq}"))
        .parse()
        .unwrap();
    psql(&format!("DROP SEQUENCE {seq}"));
    // Issue 21, item 11: the rows' bytes are not counted, so none are claimed.
    assert!(v["bytes_received"].is_null(), "{v:#}");
    assert!(v["bytes_received_note"]
        .as_str()
        .unwrap()
        .contains("PostgreSQL"));
    // one pre-flight query before the measured span
    assert_eq!(f(&v, "/requests") + 1.0, last, "{v:#}");
    assert_eq!(f(&v, "/errors_total"), 0.0);
    fails_with(
        &[
            "bench",
            "postgres://postgres@127.0.0.1/no_such_db",
            "-d",
            "300ms",
        ],
        "3D000",
    );
    fails_with(
        &[
            "bench",
            "postgres://no_such_role@127.0.0.1/test",
            "-d",
            "300ms",
        ],
        "auth error",
    );
    fails_with(
        &[
            "bench",
            "postgres://postgres@127.0.0.1/test",
            "--query",
            "SELECT * FROM no_such_table",
            "-d",
            "300ms",
        ],
        "42P01",
    );
    fails_with(
        &[
            "bench",
            &format!("postgres://postgres@127.0.0.1:{}/test", free_port()),
            "-d",
            "300ms",
        ],
        "cannot connect",
    );
}

#[test]
fn postgres_sessions_ended_mid_run_are_resets_and_reconnect() {
    if !service_answers("PostgreSQL", 5432) {
        return;
    }
    let bench = std::thread::spawn(|| {
        scalewall(&[
            "bench",
            "postgres://postgres@127.0.0.1/test",
            "-c",
            "2",
            "-d",
            "2s",
            "-o",
            "json",
            "--no-progress",
        ])
    });
    std::thread::sleep(Duration::from_millis(900));
    let ended = psql(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'scalewall' AND pid <> pg_backend_pid()) t",
    );
    let out = bench.join().unwrap();
    let v = json(&out);
    assert!(ended.parse::<u32>().unwrap() >= 1, "{ended}");
    assert!(f(&v, "/errors/reset") >= 1.0, "{v:#}");
    // the run went on after the sessions were ended
    assert!(f(&v, "/requests") > 100.0, "{v:#}");
}

/// Counts messages on `subject` with a plain socket until `quiet` passes without one.
fn nats_counter(subject: &str) -> (std::thread::JoinHandle<u64>, std::sync::mpsc::Receiver<()>) {
    let subject = subject.to_string();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let stream = TcpStream::connect("127.0.0.1:4222").unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap(); // INFO
        write!(
            writer,
            "CONNECT {{\"verbose\":false}}\r\nSUB {subject} 1\r\nPING\r\n"
        )
        .unwrap();
        reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut count = 0u64;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return count,
                Ok(_) => {}
            }
            if line.starts_with("PONG") {
                let _ = ready_tx.send(());
            } else if line.starts_with("PING") {
                writer.write_all(b"PONG\r\n").unwrap();
            } else if line.starts_with("MSG") {
                let size: usize = line.split_whitespace().last().unwrap().parse().unwrap();
                let mut payload = vec![0u8; size + 2];
                reader.read_exact(&mut payload).unwrap();
                count += 1;
            }
        }
    });
    (handle, ready)
}

#[test]
fn nats_publish_request_and_jetstream() {
    if !service_answers("NATS", 4222) {
        return;
    }
    let subject = format!("scalewall.test.{}", std::process::id());
    let (counter, ready) = nats_counter(&subject);
    ready.recv_timeout(Duration::from_secs(5)).unwrap();
    let v = ok_json(&[
        "bench",
        "nats://127.0.0.1",
        "--subject",
        &subject,
        "--pipeline",
        "16",
        "-c",
        "2",
        "-d",
        "1s",
        "-o",
        "json",
        "--no-progress",
    ]);
    let received = counter.join().unwrap() as f64;
    // the pre-flight call publishes one batch of 16 before the measured span
    assert_eq!(f(&v, "/requests") + 16.0, received, "{v:#}");
    assert!(
        v["bytes_received"].is_null(),
        "a publish has no reply: {v:#}"
    );
    let v = ok_json(&[
        "bench",
        "nats://127.0.0.1",
        "--nats-mode",
        "request",
        "--subject",
        &subject,
        "--message-size",
        "32",
        "-c",
        "2",
        "-d",
        "500ms",
        "-o",
        "json",
        "--no-progress",
    ]);
    assert!(
        f(&v, "/requests") > 100.0 && f(&v, "/errors_total") == 0.0,
        "{v:#}"
    );
    assert_eq!(f(&v, "/bytes_received"), f(&v, "/requests") * 32.0);
    let js_subject = format!("scalewall.js.{}", std::process::id());
    let v = ok_json(&[
        "bench",
        "nats://127.0.0.1",
        "--nats-mode",
        "jetstream",
        "--subject",
        &js_subject,
        "-c",
        "2",
        "-d",
        "500ms",
        "-o",
        "json",
        "--no-progress",
    ]);
    assert!(
        f(&v, "/requests") > 50.0 && f(&v, "/errors_total") == 0.0,
        "{v:#}"
    );
    let garbage = raw_server(|mut s| {
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n");
        std::thread::sleep(Duration::from_millis(500));
    });
    fails_with(
        &["bench", &format!("nats://{garbage}"), "-d", "300ms"],
        "is this a NATS server?",
    );
}

#[test]
fn exec_sweep_fits_the_known_linear_cost_of_sleep() {
    // `sleep 0.0{ms}` takes ms milliseconds plus a constant start-up cost.
    let out = scalewall(&[
        "sweep",
        "--exec",
        "sleep 0.0{ms}",
        "--param",
        "ms=10,20,40,80",
        "--step",
        "1s",
        "--warmup",
        "0s",
        "--project",
        "1000",
        "-o",
        "json",
        "--no-progress",
    ]);
    let v = json(&out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["fit"]["model"], "linear", "{v:#}");
    let slope = f(&v, "/fit/slope_ms");
    assert!((slope - 1.0).abs() < 0.1, "slope {slope} ms per ms: {v:#}");
    let at_1000 = f(&v, "/projections/0/ms");
    assert!((at_1000 / 1000.0 - 1.0).abs() < 0.1, "{at_1000}");
    assert!(f(&v, "/fit/r_squared") > 0.99);
    fails_with(
        &["bench", "--exec", "echo broken >&2; exit 3", "-d", "300ms"],
        "exit status 3: broken",
    );
    fails_with(
        &["bench", "--exec", "sleep {n}", "-d", "300ms"],
        "no --param n=",
    );
}

/// `scalewall run` in a fresh folder holding `config` as scalewall.toml:
/// its report (stdout), after checking it exited 0.
fn run_config(config: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("scalewall.toml"), config).unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("scalewall"))
        .args(["run", "--no-progress"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Issue 29, item 1: `exec` scenarios in a config, exactly the CLI's
/// `--exec` semantics: a bench with one `param` value and a sweep through
/// a list, whose report shows one row per value and the cost curve (the
/// known answer: `sleep 0.0{ms}` costs 1 ms per ms, 10 % as the CLI's test
/// allows), with a metric per value a threshold can name.
#[test]
fn exec_scenarios_in_a_config_bench_and_sweep_like_the_command_line() {
    let md = run_config(
        r#"name = "sleeps"
[[scenario]]
name = "sleep"
kind = "sweep"
exec = "sleep 0.0{ms}"
param = { ms = [10, 20, 40, 80] }
project = [1000]
step = "1s"
warmup = "0s"

[[scenario]]
name = "once"
kind = "bench"
exec = "sleep 0.0{ms}"
param = { ms = 10 }
duration = "500ms"
warmup = "0s"

[[threshold]]
metric = "sleep.ms80.p50_ms"
critical = 10000
"#,
    );
    assert!(
        md.contains("| ms | throughput (ops/s) | mean (ms) | p50 (ms) | p99 (ms) | errors |"),
        "{md}"
    );
    assert!(md.contains("exec sweep of ms, 4 values"), "{md}");
    let curve = md
        .lines()
        .find(|l| l.starts_with("**Cost curve:** linear — t = "))
        .unwrap_or_else(|| panic!("a linear cost curve: {md}"));
    let slope: f64 = curve
        .split(" ms + ")
        .nth(1)
        .and_then(|rest| rest.split(" ms × ms").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{curve}"));
    assert!(
        (slope - 1.0).abs() < 0.1,
        "slope {slope} ms per ms: {curve}"
    );
    assert!(md.contains("Projected: ms = 1,000 → "), "{md}");
    for metric in ["`sleep.ms10.p50_ms`", "`sleep.ms80.p50_ms`", "`once.rps`"] {
        assert!(md.contains(metric), "{metric}: {md}");
    }
    // No USL fit is attempted over one concurrency.
    assert!(!md.contains("No USL fit"), "{md}");
}

/// Issue 29, item 1: an `--exec` operation is metered from the kernel's
/// accounting of its process (`wait4`). The known answer: a script that
/// writes N × 4 MiB peaks at its interpreter's own size plus 4 MiB per N;
/// the sweep over N = 10, 50, 100 must find 4 MiB per N within 10 % and
/// project N = 500 to 2,000 MiB over the interpreter within 10 %. Steps
/// of 2 s: one N = 100 operation takes 0.5 s idle here, and a busy 2-core
/// CI machine must still complete several per value.
#[test]
fn an_exec_sweep_meters_each_operations_peak_memory_and_projects_it() {
    if Command::new("python3")
        .arg("-c")
        .arg("pass")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").is_err(),
            "python3 must be installed under CI (.ci/run installs it)"
        );
        eprintln!("skipped: no python3 here");
        return;
    }
    let md = run_config(
        r#"name = "allocations"
[[scenario]]
name = "alloc"
kind = "sweep"
exec = "python3 -c 'b = b\"x\" * ({n} * 4 * 1024 * 1024)'"
param = { n = [10, 50, 100] }
project = [500]
step = "2s"
warmup = "0s"

[[threshold]]
metric = "alloc.n100.op_peak_rss_mb"
critical = 100000
"#,
    );
    let curve = md
        .lines()
        .find(|l| l.starts_with("**Memory curve (peak RSS per operation):** linear — "))
        .unwrap_or_else(|| panic!("a linear memory curve: {md}"));
    let number = |text: &str| -> f64 { text.replace(',', "").parse().unwrap() };
    let formula = curve.split(" — ").nth(1).unwrap();
    let base = number(formula.split(" MiB + ").next().unwrap());
    let slope = number(
        formula
            .split(" MiB + ")
            .nth(1)
            .and_then(|r| r.split(" MiB × n").next())
            .unwrap(),
    );
    assert!(
        (slope / 4.0 - 1.0).abs() < 0.1,
        "{slope} MiB per N: {curve}"
    );
    let projected = md
        .lines()
        .find(|l| l.starts_with("Projected: n = 500 → ") && l.contains("MiB"))
        .unwrap_or_else(|| panic!("{md}"));
    let at_500 = number(
        projected
            .trim_start_matches("Projected: n = 500 → ")
            .split(" MiB")
            .next()
            .unwrap(),
    );
    assert!(
        ((at_500 - base) / 2000.0 - 1.0).abs() < 0.1,
        "{at_500} MiB at N = 500 over {base} MiB: {md}"
    );
    assert!(md.contains("`alloc.n100.op_peak_rss_mb`"), "{md}");
    assert!(md.contains("each operation's process (wait4, "), "{md}");
}

/// Issue 21, item 12: `--connect-only` against a server that does not keep
/// up with its accept queue showed ~1 s outliers and no reason. The header
/// says connect-only, and the kernel's listen-queue counters moved during
/// the step are the evidence.
#[test]
fn connect_only_names_itself_and_shows_listen_queue_overflows() {
    // A listener with a backlog of 1 that never accepts: the accept queue
    // fills at once and the kernel drops further handshakes.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    assert!(fd >= 0);
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
        },
        sin_zero: [0; 8],
    };
    let size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let mut bound = addr;
    let mut len = size;
    unsafe {
        assert_eq!(libc::bind(fd, (&raw const addr).cast(), size), 0);
        assert_eq!(libc::listen(fd, 1), 0);
        assert_eq!(
            libc::getsockname(fd, (&raw mut bound).cast(), &raw mut len),
            0
        );
    }
    let port = u16::from_be(bound.sin_port);
    let out = scalewall(&[
        "bench",
        &format!("tcp://127.0.0.1:{port}"),
        "--connect-only",
        "-c",
        "8",
        "-d",
        "2s",
        "--timeout",
        "3s",
        "--no-history",
        "--no-progress",
    ]);
    unsafe {
        libc::close(fd);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("connect-only (each operation is a new connection)"),
        "{text}"
    );
    assert!(
        text.contains("connection attempts at a full listen queue"),
        "the overflows are the evidence:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
