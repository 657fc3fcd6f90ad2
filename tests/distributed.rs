//! Distributed runs end to end: a private nats-server on a free port,
//! `scalewall worker` processes, and the coordinator (`bench --workers`)
//! against in-process demo servers whose answers are known. Every child
//! is killed when its guard drops; every wait is bounded.

mod common;

use common::{f, free_port, json, scalewall, under_ci, Reaped};
use scalewall_demo::{DemoConfig, RunningDemo};
use scalewall_model::{LatencyHistogram, Run};
use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One distributed test at a time: three workers, a nats-server and a
/// target on two cores are load enough; two such sets would measure each
/// other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A private nats-server and its workers.
struct Fleet {
    url: String,
    workers: Vec<(String, Reaped)>,
    // Dropped after the workers.
    _nats: Reaped,
    // Released last, once every child is gone.
    _turn: std::sync::MutexGuard<'static, ()>,
}

/// The nats-server binary, when installed (under CI it must be).
fn nats_server() -> Option<&'static str> {
    let found = [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists());
    if found.is_none() {
        assert!(!under_ci(), "nats-server is not installed (CI=true)");
        eprintln!("skipped: nats-server is not installed");
    }
    found
}

impl Fleet {
    /// A nats-server and `workers` workers named w1, w2, … (each with
    /// the extra arguments), all ready.
    fn start(workers: usize, extra: &[&str]) -> Option<Fleet> {
        Fleet::start_with_token(None, workers, extra)
    }

    /// As [`Fleet::start`], the nats-server requiring `token` when given
    /// (the URL then carries it).
    fn start_with_token(token: Option<&str>, workers: usize, extra: &[&str]) -> Option<Fleet> {
        let binary = nats_server()?;
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let port = free_port();
        let nats = Reaped(
            Command::new(binary)
                .args(["-a", "127.0.0.1", "-p", &port.to_string()])
                .args(token.map(|t| ["--auth", t]).iter().flatten())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nats-server starts"),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut fleet = Fleet {
            _turn: turn,
            url: match token {
                Some(t) => format!("nats://{t}@127.0.0.1:{port}"),
                None => format!("nats://127.0.0.1:{port}"),
            },
            workers: Vec::new(),
            _nats: nats,
        };
        for k in 1..=workers {
            fleet.add_worker(&format!("w{k}"), extra);
        }
        Some(fleet)
    }

    /// Starts a worker and waits for it to say it is ready.
    fn add_worker(&mut self, name: &str, extra: &[&str]) {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("scalewall"))
            .args(["worker", "--nats", &self.url, "--name", name])
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .expect("worker starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[worker] {line}");
                let _ = tx.send(line);
            }
        });
        let guard = Reaped(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("ready on") => break,
                Ok(_) => {}
                Err(_) => panic!("worker {name} did not become ready"),
            }
        }
        self.workers.push((name.to_string(), guard));
    }
}

fn demo(latency_ms: u64) -> RunningDemo {
    RunningDemo::start(
        ([127, 0, 0, 1], 0).into(),
        DemoConfig {
            latency: Duration::from_millis(latency_ms),
            ..DemoConfig::default()
        },
        2,
    )
    .expect("demo server starts")
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Three workers split 12 connections against a 10 ms server: the total
/// is the server's own count, the merged p50 is the server's hold, each
/// worker's part is listed, and the stored step's histogram is exactly
/// the sum of its workers' histograms.
#[test]
fn three_workers_split_the_load_and_their_merged_figures_are_the_servers() {
    let Some(fleet) = Fleet::start(3, &[]) else {
        return;
    };
    let _awake = common::KeepCpusAwake::start();
    let server = demo(10);
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("run.json");
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "12",
        "-d",
        "3s",
        // One generator thread per worker: three workers on this 2-core
        // machine beside nats-server and the target (with a thread per
        // core each, six threads queued for two cores and added their
        // wake-ups to the latency).
        "-t",
        "1",
        "--workers",
        &fleet.url,
        "-o",
        "json",
        "--save",
        saved.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let requests = f(&v, "/requests") as u64;
    assert_eq!(
        requests,
        server.requests_served(),
        "the coordinator and the server disagree on the count"
    );
    let p50 = f(&v, "/latency_ms/p50");
    eprintln!("merged p50 {p50} ms against a 10 ms hold");
    // As for the one-process bench (tests/bench_http.rs): this VM read
    // a local p50 of 10.19-10.34 ms on 2026-12-07 with this code and the
    // commit before it alike, and the merged p50 10.327 ms in one CI run,
    // where earlier sessions read 10.17-10.22; 0.5 ms holds that spread.
    assert!((p50 - 10.0).abs() <= 0.5, "p50 {p50} ms");
    let workers = v["workers"].as_array().expect("workers listed");
    assert_eq!(workers.len(), 3);
    let connections: Vec<u64> = workers
        .iter()
        .map(|w| w["connections"].as_u64().unwrap())
        .collect();
    assert_eq!(connections, vec![4, 4, 4]);
    let per_worker: u64 = workers
        .iter()
        .map(|w| w["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(per_worker, requests);
    assert!(workers
        .iter()
        .all(|w| w["requests"].as_u64().unwrap() > 100 && w["lost"].is_null()));

    let run = Run::from_json(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let step = &run.scenarios[0].steps[0];
    let mut sum = LatencyHistogram::new();
    for w in &step.workers {
        sum.merge(&w.latency_us);
    }
    assert!(
        sum == step.latency_us,
        "the step's histogram is the sum of its workers'"
    );
    let per_interval: u64 = step.intervals.iter().map(|i| i.responses).sum();
    assert_eq!(
        per_interval, requests,
        "every snapshot landed in an interval"
    );
}

/// Checks and streams run on the workers (issue 19): the merged check
/// failures are exactly the `{"ok":false}` bodies the server counted, and
/// a stream of 5 events each has exactly 5 per response, gaps and first
/// events included, however the responses were split.
#[test]
fn checks_and_streams_run_on_workers_and_their_counts_merge_exactly() {
    let Some(fleet) = Fleet::start(2, &[]) else {
        return;
    };
    let server = RunningDemo::start(
        ([127, 0, 0, 1], 0).into(),
        DemoConfig {
            bad_body_rate: 0.1,
            ..DemoConfig::default()
        },
        2,
    )
    .expect("demo server starts");
    let url = server.url();
    let common = ["-t", "1", "--workers", &fleet.url, "-o", "json"];
    let mut args = vec!["bench", &url, "--check", "json $.ok == true", "-c", "4"];
    args.extend(["-n", "1000", "--no-history"]);
    args.extend(common);
    let out = scalewall(&args);
    // A failed check fails the bench's error budget: exit 0 or 3.
    assert!(
        out.status.code().is_some_and(|c| c == 0 || c == 3),
        "{}",
        stderr(&out)
    );
    let v = json(&out);
    let bad = server.state().bad_bodies_served() as f64;
    assert_eq!(f(&v, "/requests"), 1000.0);
    assert_eq!(f(&v, "/checks/0/evaluated"), 1000.0);
    assert_eq!(f(&v, "/checks/0/failed"), bad, "{:#}", v["checks"]);
    assert_eq!(f(&v, "/errors/check"), bad);
    assert!(bad > 50.0, "{bad} bad bodies of 1,000");
    let workers = v["workers"].as_array().expect("workers listed");
    assert!(workers
        .iter()
        .all(|w| w["requests"].as_u64().unwrap() > 100));

    let stream = format!("{url}stream?events=5&gap=2ms");
    let mut args = vec!["bench", &stream, "--stream", "sse", "-c", "4"];
    args.extend(["-n", "200", "--no-history"]);
    args.extend(common);
    let out = scalewall(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(f(&v, "/errors_total"), 0.0, "{v:#}");
    assert_eq!(f(&v, "/requests"), 200.0);
    assert_eq!(f(&v, "/events_per_response"), 5.0);
    assert_eq!(f(&v, "/events/events"), 1000.0);
    assert_eq!(f(&v, "/phases_ms/event_gap/count"), 800.0);
    assert_eq!(f(&v, "/phases_ms/first_event/count"), 200.0);
    let gap = f(&v, "/phases_ms/event_gap/p50");
    assert!((gap - 2.0).abs() < 0.5, "event gap p50 {gap} ms");
    // One connect per connection, two on each worker.
    assert_eq!(f(&v, "/phases_ms/connect/count"), 4.0);
}

/// A unique feed over two workers: each takes its own rows, so 1,000
/// rows are 1,000 requests and the server saw 1,000 distinct bodies; the
/// URL's path and a header are filled as they are locally.
#[test]
fn a_unique_feed_is_dealt_out_to_the_workers_each_row_once() {
    let Some(fleet) = Fleet::start(2, &[]) else {
        return;
    };
    let server = demo(0);
    let dir = tempfile::tempdir().unwrap();
    let rows = common::thousand_rows(dir.path());
    // A bench of `target` with `args`, each row once, on the workers.
    let each_row_once = |target: &str, args: &[&str]| {
        let mut all = vec!["bench", target];
        all.extend_from_slice(args);
        all.extend([
            "--data",
            &rows,
            "--data-order",
            "unique",
            "-c",
            "4",
            "-t",
            "1",
        ]);
        all.extend(["--workers", &fleet.url, "--no-history", "-o", "json"]);
        scalewall(&all)
    };
    let url = format!("{}items/{{{{id}}}}?who={{{{name}}}}", server.url());
    let out = each_row_once(
        &url,
        &[
            "-m",
            "POST",
            "-b",
            r#"{"id":{{id}},"name":"{{name}}"}"#,
            "-H",
            "X-User: {{name}}",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(f(&v, "/requests"), 1000.0, "{v:#}");
    assert_eq!(f(&v, "/errors_total"), 0.0);
    let parts: Vec<u64> = v["workers"]
        .as_array()
        .expect("workers listed")
        .iter()
        .map(|w| w["requests"].as_u64().unwrap())
        .collect();
    assert_eq!(parts, vec![500, 500]);
    assert_eq!(server.requests_served(), 1000);
    assert_eq!(server.state().distinct_bodies(), 1000);
    assert_eq!(server.state().repeated_bodies(), 0);
    // The same rows fill Redis commands on the workers: 1,000 fields.
    if common::service_answers("Redis", 6379) {
        let hash = format!("scalewall-fleet-feed-{}", std::process::id());
        common::redis_cli(6379, &["DEL", &hash]);
        let command = format!("HSET {hash} {{{{id}}}} {{{{name}}}}");
        let out = each_row_once("redis://127.0.0.1:6379", &["--command", &command]);
        let fields = common::redis_cli(6379, &["HLEN", &hash]);
        let name = common::redis_cli(6379, &["HGET", &hash, "999"]);
        common::redis_cli(6379, &["DEL", &hash]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(f(&json(&out), "/requests"), 1000.0);
        assert_eq!(fields, "1000");
        assert_eq!(name, "user, 999");
    }
    // A sequential feed goes whole to each worker: one over the NATS
    // server's max_payload (1 MiB) is refused before any load.
    let big = dir.path().join("big.csv");
    let mut csv = String::from("id,pad\n");
    for i in 0..20_000 {
        csv.push_str(&format!("{i},{}\n", "x".repeat(60)));
    }
    std::fs::write(&big, csv).unwrap();
    // A bench on the workers that is refused, saying `why`, before any load.
    let refused = |target: &str, args: &[&str], why: &str| {
        let served = server.requests_served();
        let mut all = vec!["bench", target, "-c", "2", "--no-history"];
        all.extend_from_slice(args);
        all.extend(["--workers", &fleet.url]);
        let out = scalewall(&all);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
        assert_eq!(server.requests_served(), served, "no load was sent");
    };
    let by_id = format!("{}items/{{{{id}}}}", server.url());
    refused(
        &by_id,
        &["--data", big.to_str().unwrap(), "-d", "1s"],
        "more than the NATS server's max_payload of 1048576",
    );
    // More workers than requests cannot each take their own rows.
    refused(
        &url,
        &["--data", &rows, "--data-order", "unique", "-n", "1"],
        "--data-order unique over 2 workers needs at least 2 requests",
    );
}

/// Open model: 3,000/s over three workers, each sending every third
/// operation of one schedule: every scheduled operation is sent (the
/// arrival rate is kept exactly) and the sends were on time.
#[test]
fn three_workers_keep_an_open_models_schedule() {
    let Some(fleet) = Fleet::start(3, &[]) else {
        return;
    };
    let _awake = common::KeepCpusAwake::start();
    let server = demo(1);
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "30",
        "-r",
        "3000",
        "-d",
        "3s",
        "--workers",
        &fleet.url,
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let rps = f(&v, "/rps");
    let requests = f(&v, "/requests") as u64;
    eprintln!(
        "{requests} requests, {rps}/s of 3,000/s; lag p50 {} ms, p99 {} ms",
        f(&v, "/schedule_lag_ms/p50"),
        f(&v, "/schedule_lag_ms/p99")
    );
    // Every operation of the 3 s schedule was sent and answered: the
    // arrival rate was 3,000/s exactly. The response rate also counts the
    // drain of the last responses (tens of ms on this 2-core machine).
    assert_eq!(requests, 9_000);
    assert!((rps - 3000.0).abs() <= 60.0, "achieved {rps}/s");
    assert!(f(&v, "/schedule_lag_ms/p50") < 1.0, "sends were late: {v}");
    assert_eq!(f(&v, "/requests") as u64, server.requests_served());
    for w in v["workers"].as_array().unwrap() {
        assert!((f(w, "/rate_per_s") - 1000.0).abs() < 1e-6);
    }
}

/// A worker killed mid-step: the step completes on the others, the lost
/// worker is named with what it sent before, and the exit code is that
/// of a degraded run (4).
#[test]
fn a_worker_killed_mid_step_degrades_the_step_and_keeps_its_partial_share() {
    let Some(mut fleet) = Fleet::start(3, &[]) else {
        return;
    };
    let server = demo(5);
    let url = server.url();
    let nats = fleet.url.clone();
    let coordinator = std::thread::spawn(move || {
        scalewall(&[
            "bench",
            &url,
            "-c",
            "9",
            "-d",
            "6s",
            "--workers",
            &nats,
            "-o",
            "json",
        ])
    });
    // Start lead (2 s) plus 2 s of load, then kill w2 without warning.
    std::thread::sleep(Duration::from_millis(4500));
    let (_, mut victim) = fleet.workers.remove(1);
    victim.0.kill().unwrap();
    let out = coordinator.join().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("worker w2 was lost mid-step"), "{err}");
    let v = json(&out);
    let workers = v["workers"].as_array().unwrap();
    let w2 = workers.iter().find(|w| w["name"] == "w2").unwrap();
    assert!(
        w2["lost"].as_str().unwrap().contains("no word from it"),
        "{w2}"
    );
    let partial = w2["requests"].as_u64().unwrap();
    let full = workers.iter().find(|w| w["name"] == "w1").unwrap()["requests"]
        .as_u64()
        .unwrap();
    eprintln!("w2 sent {partial} responses before it died; w1 {full}");
    assert!(
        partial > 0 && partial < full * 3 / 4,
        "w2 {partial}, w1 {full}"
    );
    assert_eq!(v["completed"], true);
    // The server counted what w2 had in flight after its last snapshot too.
    assert!(f(&v, "/requests") as u64 <= server.requests_served());
}

/// A worker loads only what its allow-list names; the refusal reaches
/// the coordinator's error.
#[test]
fn a_worker_refuses_a_target_outside_its_allow_list() {
    let Some(fleet) = Fleet::start(1, &["--allow-target", "10.0.0.0/8"]) else {
        return;
    };
    let server = demo(1);
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "2",
        "-d",
        "1s",
        "--workers",
        &fleet.url,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("worker w1: worker w1 does not load http://127.0.0.1:")
            && err.contains("allowed targets are 10.0.0.0/8"),
        "{err}"
    );
    assert_eq!(server.requests_served(), 0);
}

/// Too few workers, an unreachable NATS, and a worker of another version
/// are each one clear error.
#[test]
fn too_few_workers_no_nats_and_another_version_are_refused() {
    let Some(fleet) = Fleet::start(1, &[]) else {
        return;
    };
    let server = demo(1);
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "2",
        "-d",
        "1s",
        "--workers",
        &fleet.url,
        "--min-workers",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("1 live worker on NATS at"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("(w1), --min-workers 2"),
        "{}",
        stderr(&out)
    );

    let nowhere = format!("nats://127.0.0.1:{}", free_port());
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "2",
        "-d",
        "1s",
        "--workers",
        &nowhere,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("cannot reach NATS at {nowhere}")),
        "{err}"
    );

    // A worker of another version (spoken in raw NATS protocol) answers
    // discovery: the coordinator refuses, naming both versions.
    let port: u16 = fleet.url.rsplit(':').next().unwrap().parse().unwrap();
    let _old = fake_worker(port, "old", "0.0.1", false);
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "2",
        "-d",
        "1s",
        "--workers",
        &fleet.url,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "worker old: worker runs scalewall 0.0.1, the coordinator {}: versions must match",
            env!("CARGO_PKG_VERSION")
        )),
        "{err}"
    );
    assert_eq!(server.requests_served(), 0);
}

/// A fake worker speaking the NATS protocol by hand: it answers
/// discovery as `name` of scalewall `version`, answers clock readings
/// when `clock`, and never takes a part it is assigned. It stops with its
/// connection.
fn fake_worker(port: u16, name: &str, version: &str, clock: bool) -> std::thread::JoinHandle<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(
            format!("CONNECT {{\"verbose\":false}}\r\nSUB scalewall.discover 1\r\nSUB scalewall.worker.{name}.* 2\r\nPING\r\n")
                .as_bytes(),
        )
        .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("PONG") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "nats closed");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let hello = format!(
        r#"{{"name":"{name}","instance":"fake","version":"{version}","cores":1,"busy_with":null}}"#
    );
    std::thread::spawn(move || {
        let mut pending = String::new();
        let reply = |stream: &mut TcpStream, to: &str, body: &str| {
            let _ = stream.write_all(format!("PUB {to} {}\r\n{body}\r\n", body.len()).as_bytes());
        };
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                return;
            }
            pending.push_str(&String::from_utf8_lossy(&buf[..n]));
            while let Some(end) = pending.find("\r\n") {
                let line = pending[..end].to_string();
                pending.drain(..end + 2);
                let words: Vec<&str> = line.split(' ').collect();
                if words.first() == Some(&"PING") {
                    let _ = stream.write_all(b"PONG\r\n");
                }
                // MSG <subject> <sid> <reply> <bytes>; the payload line
                // that follows is skipped as a line of its own.
                if words.first() == Some(&"MSG") && words.len() == 5 {
                    let (subject, to) = (words[1], words[3]);
                    if subject == "scalewall.discover" {
                        reply(&mut stream, to, &hello);
                    } else if subject.ends_with(".clock") && clock {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_secs_f64();
                        reply(&mut stream, to, &format!(r#"{{"now_s":{now}}}"#));
                    }
                }
            }
        }
    })
}

/// A worker that answers discovery and its clock but never takes its
/// part is dropped, and the step re-split among the rest, when
/// `--min-workers` allows; otherwise the run is refused, naming it.
#[test]
fn a_worker_that_does_not_take_its_part_is_dropped_when_min_workers_allows() {
    let Some(fleet) = Fleet::start(1, &[]) else {
        return;
    };
    let port: u16 = fleet.url.rsplit(':').next().unwrap().parse().unwrap();
    let _mute = fake_worker(port, "mute", env!("CARGO_PKG_VERSION"), true);
    let server = demo(1);
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "4",
        "-d",
        "1s",
        "--workers",
        &fleet.url,
        "--min-workers",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("workers did not take their part in time: mute (no answer within 1500 ms); 1 left, --min-workers 2"),
        "{err}"
    );
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "4",
        "-d",
        "1s",
        "--workers",
        &fleet.url,
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let workers = v["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1);
    assert_eq!(workers[0]["name"], "w1");
    assert_eq!(workers[0]["connections"], 4);
    assert_eq!(f(&v, "/requests") as u64, server.requests_served());
}

/// A NATS server that wants a token: workers and coordinator that carry
/// it in the URL work; one without it gets one line naming the server.
#[test]
fn a_token_in_the_url_authenticates_and_its_absence_is_one_error_line() {
    let Some(fleet) = Fleet::start_with_token(Some("s3cret-token"), 1, &[]) else {
        return;
    };
    let server = demo(1);
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "2",
        "-d",
        "1s",
        "--workers",
        &fleet.url,
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["workers"][0]["name"], "w1");
    let without = fleet.url.replace("s3cret-token@", "");
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "2",
        "-d",
        "1s",
        "--workers",
        &without,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("cannot reach NATS at {without}")),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

/// `scalewall run` with `[distributed]` in its config, storing into a
/// PostgreSQL history (a schema of its own, dropped after): the scenario
/// runs on the two workers, and `history`, `compare` and `report` read
/// the shared history back.
#[test]
fn run_on_workers_into_a_postgres_history() {
    if !common::service_answers("PostgreSQL", 5432) {
        return;
    }
    let Some(fleet) = Fleet::start(2, &[]) else {
        return;
    };
    let server = demo(2);
    let schema = format!("scalewall_e2e_{}", std::process::id());
    let history = format!("postgres://postgres@127.0.0.1:5432/test?schema={schema}");
    struct DropSchema(String);
    impl Drop for DropSchema {
        fn drop(&mut self) {
            let _ = Command::new("psql")
                .args(["-h", "127.0.0.1", "-U", "postgres", "test", "-qc"])
                .arg(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0))
                .output();
        }
    }
    let _cleanup = DropSchema(schema.clone());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("scalewall.toml"),
        format!(
            r#"name = "fleet-e2e"
history = "{history}"

[distributed]
nats = "{nats}"
workers = 2

[[service]]
name = "api"
url = "{url}"

[[scenario]]
name = "api-get"
service = "api"
kind = "bench"
connections = 4
duration = "2s"
"#,
            nats = fleet.url,
            url = server.url()
        ),
    )
    .unwrap();
    let in_dir = |args: &[&str]| {
        Command::new(assert_cmd::cargo::cargo_bin("scalewall"))
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    for _ in 0..2 {
        let out = in_dir(&["run", "--no-progress"]);
        assert!(
            out.status.code().is_some_and(|c| c != 1 && c < 128),
            "{}",
            stderr(&out)
        );
    }
    let out = in_dir(&["history", "--history", &history]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(listing.matches("fleet-e2e").count(), 2, "{listing}");
    let out = in_dir(&["show", "latest", "--history", &history]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = Run::from_json(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let step = &run.scenarios[0].steps[0];
    assert_eq!(step.workers.len(), 2);
    assert_eq!(step.workers.iter().map(|w| w.connections).sum::<u32>(), 4);
    assert_eq!(
        step.workers.iter().map(|w| w.responses).sum::<u64>(),
        step.outcomes.responses
    );
    let out = in_dir(&["compare", "previous", "latest", "--history", &history]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("api-get.rps"));
    let out = in_dir(&["report", "latest", "--history", &history]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A coordinator killed mid-step: its worker still ends the part at its
/// planned end (the server stops counting), and is free for the next run.
#[test]
fn a_worker_ends_its_part_on_time_when_its_coordinator_dies() {
    let Some(fleet) = Fleet::start(1, &[]) else {
        return;
    };
    let server = demo(2);
    let mut coordinator = Reaped(
        Command::new(assert_cmd::cargo::cargo_bin("scalewall"))
            .args([
                "bench",
                &server.url(),
                "-c",
                "2",
                "-d",
                "3s",
                "--workers",
                &fleet.url,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    // Past the 2 s start lead and into the load, then gone without a word.
    std::thread::sleep(Duration::from_millis(3500));
    coordinator.0.kill().unwrap();
    coordinator.0.wait().unwrap();
    let during = server.requests_served();
    assert!(during > 0, "the part had started");
    // Its planned end: 2 s lead + 3 s of load (+ margin).
    std::thread::sleep(Duration::from_millis(6500).saturating_sub(started.elapsed()));
    let at_end = server.requests_served();
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        server.requests_served(),
        at_end,
        "the worker kept loading after its part's end"
    );
    assert!(
        at_end > during,
        "the part went on after its coordinator died"
    );
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "2",
        "-d",
        "1s",
        "--workers",
        &fleet.url,
    ]);
    assert!(
        out.status.success(),
        "the worker is free again: {}",
        stderr(&out)
    );
}

/// A worker killed and restarted under the same name mid-step: the new
/// process's heartbeats do not pass for the lost one's; the part is lost
/// at once, not at the step's deadline.
#[test]
fn a_worker_restarted_mid_step_is_not_taken_for_the_one_that_died() {
    let Some(mut fleet) = Fleet::start(2, &[]) else {
        return;
    };
    let server = demo(5);
    let url = server.url();
    let nats = fleet.url.clone();
    let started = Instant::now();
    let coordinator = std::thread::spawn(move || {
        scalewall(&[
            "bench",
            &url,
            "-c",
            "4",
            "-d",
            "5s",
            "-t",
            "1",
            "--workers",
            &nats,
            "-o",
            "json",
        ])
    });
    std::thread::sleep(Duration::from_millis(3500));
    let (_, mut victim) = fleet.workers.remove(1);
    victim.0.kill().unwrap();
    drop(victim);
    fleet.add_worker("w2", &[]);
    let out = coordinator.join().unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let v = json(&out);
    let w2 = v["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "w2")
        .unwrap()
        .clone();
    assert!(
        w2["lost"]
            .as_str()
            .unwrap()
            .contains("it restarted mid-step"),
        "{w2}"
    );
    // 2 s lead + 5 s of load and a little: not the 22 s deadline.
    assert!(took < Duration::from_secs(12), "{took:?}");
}
