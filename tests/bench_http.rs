//! `scalewall bench` end to end: the real binary against servers whose
//! answers are known (demo-server) or that misbehave on purpose.

mod common;

use common::{f, json, raw_server, scalewall};
use scalewall_demo::{DemoConfig, RunningDemo, Stall};
use scalewall_model::Run;
use std::time::Duration;

fn demo(config: DemoConfig) -> RunningDemo {
    RunningDemo::start(([127, 0, 0, 1], 0).into(), config, 1).expect("demo server starts")
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The bound is the machine's: the hold is exact (a timer thread), and
/// what lies above it is two loopback trips, the server's and the
/// generator's wake-ups on a 2-core VM. Earlier sessions read p50 10.14-10.22
/// ms here; on 2026-12-07 the same VM read 10.19-10.34 ms over eight runs,
/// with this code and with the commit before it alike, so a 0.3 ms bound
/// failed one CI run in four. 0.5 ms holds that spread.
#[test]
fn latency_of_a_10ms_server_is_reported_within_0_5ms_and_counts_match_the_server() {
    // Hypervisor wake-up latency from idle vCPUs is not what is being tested.
    let _awake = common::KeepCpusAwake::start();
    let server = demo(DemoConfig {
        latency: Duration::from_millis(10),
        ..DemoConfig::default()
    });
    let out = scalewall(&["bench", &server.url(), "-c", "8", "-d", "2s", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let p50 = f(&v, "/latency_ms/p50");
    eprintln!("measured p50 {p50} ms against a 10 ms hold");
    assert!(
        (p50 - 10.0).abs() <= 0.5,
        "p50 {p50} ms is not within 0.5 ms of 10 ms"
    );
    let requests = f(&v, "/requests") as u64;
    assert_eq!(
        requests,
        server.requests_served(),
        "scalewall and the server disagree on the count"
    );
    // 8 connections × 1 request per 10 ms ≈ 800 req/s for 2 s
    let rps = f(&v, "/rps");
    assert!((700.0..=800.0).contains(&rps), "rps {rps}");
    assert_eq!(f(&v, "/errors_total"), 0.0);
}

#[test]
fn a_fixed_request_count_is_sent_exactly() {
    let server = demo(DemoConfig::default());
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "7",
        "-n",
        "1001",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(f(&v, "/requests") as u64, 1001);
    assert_eq!(server.requests_served(), 1001);
}

#[test]
fn injected_500s_are_counted_as_status_5xx_errors() {
    let server = demo(DemoConfig {
        error_rate: 0.2,
        ..DemoConfig::default()
    });
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "16",
        "-n",
        "3000",
        "-o",
        "json",
    ]);
    assert!(
        out.status.success(),
        "a run with some errors still completes: {}",
        stderr(&out)
    );
    let v = json(&out);
    let errors = f(&v, "/errors/status_5xx") as u64;
    assert_eq!(
        errors,
        server.errors_served(),
        "every 500 the server sent is counted"
    );
    assert_eq!(f(&v, "/status_codes/500") as u64, errors);
    let share = errors as f64 / 3000.0;
    assert!((share - 0.2).abs() < 0.03, "5xx share {share}");
    assert_eq!(f(&v, "/requests") as u64, 3000);
}

#[test]
fn open_model_achieves_its_target_rate_within_one_percent() {
    let server = demo(DemoConfig {
        latency: Duration::from_millis(1),
        ..DemoConfig::default()
    });
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "20",
        "-r",
        "400",
        "-d",
        "3s",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let rps = f(&v, "/rps");
    assert!(
        (rps - 400.0).abs() / 400.0 < 0.01,
        "achieved {rps} req/s for a target of 400"
    );
    assert_eq!(v["schedule_kept"], serde_json::Value::Bool(true));
    assert_eq!(f(&v, "/requests") as u64, 1200);
    assert_eq!(server.requests_served(), 1200);
}

#[test]
fn a_stall_shows_in_corrected_latency_but_hides_from_uncorrected() {
    // Server answers in 1 ms, but freezes for 200 ms one second in. With 4
    // connections only 4 requests see the stall from their actual send; the
    // ~100 requests scheduled during it see it from their intended start.
    let server = demo(DemoConfig {
        latency: Duration::from_millis(1),
        stall: Some(Stall {
            after: Duration::from_secs(1),
            duration: Duration::from_millis(200),
        }),
        ..DemoConfig::default()
    });
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "4",
        "-r",
        "500",
        "-d",
        "4s",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let corrected = f(&v, "/latency_ms/p99");
    let uncorrected = f(&v, "/uncorrected_latency_ms/p99");
    assert!(
        corrected >= 100.0,
        "corrected p99 {corrected} ms should reflect the 200 ms stall"
    );
    assert!(
        uncorrected < 20.0,
        "uncorrected p99 {uncorrected} ms should not"
    );
    assert!(
        f(&v, "/uncorrected_latency_ms/max") >= 150.0,
        "the stalled sends themselves are still seen"
    );
}

#[test]
fn http2_prior_knowledge_is_exercised() {
    let _awake = common::KeepCpusAwake::start(); // p50 is checked against a 2 ms hold
    let server = demo(DemoConfig {
        latency: Duration::from_millis(2),
        ..DemoConfig::default()
    });
    let out = scalewall(&[
        "bench",
        &server.url(),
        "--http2",
        "-c",
        "4",
        "-n",
        "400",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["protocol"], "http2");
    assert_eq!(f(&v, "/status_codes/200") as u64, 400);
    assert_eq!(server.requests_served(), 400);
    let p50 = f(&v, "/latency_ms/p50");
    assert!((2.0..2.5).contains(&p50), "p50 {p50}");
}

/// `--streams`: 10 streams on each of 4 connections keep 40 requests in
/// flight on at most 4 connections (the server counts both), and every
/// request the server answered is counted, in the closed and open models.
#[test]
fn http2_streams_multiplex_forty_requests_on_four_connections() {
    let server = demo(DemoConfig {
        latency: Duration::from_millis(20),
        ..DemoConfig::default()
    });
    let before = server.state().connections_accepted();
    let out = scalewall(&[
        "bench",
        &server.url(),
        "--http2",
        "--streams",
        "10",
        "-c",
        "4",
        "-t",
        "2",
        "-n",
        "2000",
        "-o",
        "json",
        "--no-history",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["protocol"], "http2");
    assert_eq!(f(&v, "/status_codes/200") as u64, 2000);
    assert_eq!(server.requests_served(), 2000, "the server's own count");
    let state = server.state();
    // The load's 4 connections, and the connection check before it.
    let connections = state.connections_accepted() - before;
    assert_eq!(connections, 5, "connections the server accepted");
    assert!(
        state.peak_open_connections() <= 5,
        "{} connections open at once",
        state.peak_open_connections()
    );
    // Each request is held 20 ms, so the 40 streams overlap.
    assert_eq!(state.peak_in_flight(), 40, "requests in flight at once");

    // Open model: 400/s for 1 s over the same 40 slots.
    let requests_before = server.requests_served();
    let out = scalewall(&[
        "bench",
        &server.url(),
        "--http2",
        "--streams",
        "10",
        "-c",
        "4",
        "-r",
        "400",
        "-d",
        "1s",
        "-o",
        "json",
        "--no-history",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let answered = server.requests_served() - requests_before;
    assert_eq!(
        f(&v, "/requests") as u64,
        answered,
        "the server's own count"
    );
    assert!(
        (390..=410).contains(&answered),
        "{answered} answered for 400 scheduled"
    );
}

/// The open model's rate is the schedule's: the last responses of a slow
/// server, sent on time and still in flight at the window's end, count
/// without stretching the window (they made a kept schedule read as
/// 191/s for 200/s, "not kept").
#[test]
fn open_model_rate_is_over_the_schedule_not_its_drain() {
    let server = demo(DemoConfig {
        latency: Duration::from_millis(50),
        ..DemoConfig::default()
    });
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "32",
        "-t",
        "2",
        "-r",
        "200",
        "-d",
        "1s",
        "-o",
        "json",
        "--no-history",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    // Two threads at 100/s each, due at 0, 10, … 990 ms and 5, … 995 ms.
    assert_eq!(f(&v, "/requests") as u64, 200);
    assert_eq!(server.requests_served(), 200, "the server's own count");
    assert!((f(&v, "/rps") - 200.0).abs() < 1e-9, "{}", v["rps"]);
    assert_eq!(v["schedule_kept"], true);
}

#[test]
fn streams_without_http2_are_refused_with_the_reason() {
    let out = scalewall(&["bench", "http://127.0.0.1:9/", "--streams", "4"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("--streams needs --http2"), "{err}");
}

#[test]
fn warm_up_is_measured_apart_and_excluded() {
    let server = demo(DemoConfig {
        latency: Duration::from_millis(5),
        ..DemoConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("run.json");
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "4",
        "-d",
        "1s",
        "--warmup",
        "500ms",
        "-o",
        "json",
        "--save",
        saved.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let run = Run::from_json(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let step = &run.scenarios[0].steps[0];
    let warm = step.warmup.as_ref().expect("warm-up recorded");
    assert!(warm.outcomes.responses > 200, "{}", warm.outcomes.responses);
    assert_eq!(step.outcomes.responses, f(&v, "/requests") as u64);
    assert_eq!(
        step.latency_us.len(),
        step.outcomes.responses,
        "one latency per response"
    );
    assert_eq!(
        step.outcomes.responses + warm.outcomes.responses,
        server.requests_served()
    );
    let per_interval: u64 = step.intervals.iter().map(|i| i.responses).sum();
    assert_eq!(
        per_interval, step.outcomes.responses,
        "intervals add up to the step"
    );
    // one second measured in samples of a tenth of it: ten intervals, or
    // eleven when the last responses land just after the deadline
    assert!(
        (10..=11).contains(&step.intervals.len()),
        "{} intervals",
        step.intervals.len()
    );
}

#[test]
fn unreachable_target_is_one_clear_line_and_exit_1() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}/");
    let out = scalewall(&["bench", &url, "-d", "1s"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot connect to")
            && err.contains(&closed.to_string())
            && err.contains("refused"),
        "{err}"
    );
}

#[test]
fn bad_urls_are_refused_before_any_load() {
    for (url, expect) in [
        ("localhost:8080", "not a valid URL"),
        ("ftp://127.0.0.1/", "unsupported scheme"),
        ("http://no-such-host.invalid/", "cannot resolve host"),
    ] {
        let out = scalewall(&["bench", url, "-d", "1s"]);
        assert_eq!(out.status.code(), Some(1), "{url}");
        assert!(stderr(&out).contains(expect), "{url}: {}", stderr(&out));
    }
}

#[test]
fn a_server_closing_mid_response_counts_resets_without_hanging() {
    let addr = raw_server(common::closes_mid_response);
    let out = scalewall(&[
        "bench",
        &format!("http://{addr}/"),
        "-c",
        "2",
        "-n",
        "20",
        "--timeout",
        "2s",
        "-o",
        "json",
    ]);
    // every operation failed: exit 1, but the figures are still printed
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(f(&v, "/errors/reset") as u64, 20);
    assert!(
        stderr(&out).contains("every one of 20 operations failed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_server_sending_garbage_counts_protocol_errors() {
    let addr = raw_server(common::sends_garbage);
    let out = scalewall(&[
        "bench",
        &format!("http://{addr}/"),
        "-c",
        "2",
        "-n",
        "10",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(f(&v, "/errors/protocol") as u64, 10);
    assert!(v["error_examples"]["protocol"]
        .as_str()
        .unwrap()
        .contains("invalid response head"));
}

#[test]
fn a_server_that_never_answers_counts_timeouts() {
    let addr = raw_server(common::never_answers);
    let out = scalewall(&[
        "bench",
        &format!("http://{addr}/"),
        "-c",
        "2",
        "-n",
        "4",
        "--timeout",
        "300ms",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(f(&v, "/errors/timeout") as u64, 4);
}

#[test]
fn ctrl_c_prints_what_was_measured_and_exits_130() {
    let server = demo(DemoConfig {
        latency: Duration::from_millis(5),
        ..DemoConfig::default()
    });
    let bin = assert_cmd::cargo::cargo_bin("scalewall");
    let child = std::process::Command::new(bin)
        .args(["bench", &server.url(), "-c", "4", "-d", "30s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("INTERRUPTED"), "{text}");
    let requests: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("requests"))
        .and_then(|rest| rest.split_whitespace().next())
        .map(|n| n.replace(',', "").parse().unwrap())
        .unwrap();
    assert!(requests > 200, "{requests} requests kept");
    assert_eq!(requests, server.requests_served());
}

#[test]
fn post_bodies_from_a_file_and_a_missing_file_is_named() {
    let server = demo(DemoConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.json");
    std::fs::write(&body, r#"{"prompt":"hello"}"#).unwrap();
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-m",
        "POST",
        "--body-file",
        body.to_str().unwrap(),
        "-H",
        "Content-Type: application/json",
        "-n",
        "50",
        "-c",
        "2",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(f(&json(&out), "/status_codes/200") as u64, 50);
    assert_eq!(server.requests_served(), 50);
    let missing = dir.path().join("missing.json");
    let out = scalewall(&[
        "bench",
        &server.url(),
        "--body-file",
        missing.to_str().unwrap(),
        "-n",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("cannot read --body-file {}", missing.display())),
        "{}",
        stderr(&out)
    );
}

/// Issue 21, item 10: `--save nodir/x/run.json` ran the whole test, then
/// failed to write it (exit 1, record lost). The path is checked first: the
/// error names --save, not the (unreachable) target.
#[test]
fn an_unwritable_save_path_is_refused_before_any_load() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("nodir/x/run.json");
    let started = std::time::Instant::now();
    let out = scalewall(&[
        "bench",
        "http://127.0.0.1:1/",
        "-d",
        "5s",
        "--save",
        save.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--save") && err.contains("does not exist"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "it loaded first"
    );
}

/// Issue 21, item 9: `bench` printed a run id that nothing stored. Every
/// load command stores its run (unless --no-history), so the id leads to
/// the record, by its full form or its random tail.
#[test]
fn a_bench_run_is_stored_and_its_printed_id_leads_to_it() {
    let server = RunningDemo::start(([127, 0, 0, 1], 0).into(), DemoConfig::default(), 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let db = db.to_str().unwrap();
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "2",
        "-n",
        "200",
        "-o",
        "json",
        "--history",
        db,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = json(&out)["run_id"].as_str().unwrap().to_string();
    let tail = &id[id.len() - 6..];
    let shown = scalewall(&["show", tail, "--history", db]);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let run = Run::from_json(&String::from_utf8_lossy(&shown.stdout)).unwrap();
    assert_eq!(run.id, id);
    assert_eq!(run.subject.as_deref(), Some("bench"));
    assert_eq!(run.scenarios[0].steps[0].outcomes.responses, 200);
    // --no-history stores nothing
    let other = dir.path().join("none.db");
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-n",
        "10",
        "--no-history",
        "--history",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "the two flags conflict");
    let out = scalewall(&["bench", &server.url(), "-n", "10", "--no-history"]);
    assert!(out.status.success());
}

/// Issue 18, item 3: open-model sends go out on time. Against a 1 ms
/// hold at 1,000/s, tokio's 1 ms timer made the send lag about 1.1 ms and
/// the corrected p50 2.1 ms against an uncorrected 1.1 ms. Each generator
/// thread now waits on a timerfd in its own event loop: the send lag p50
/// measured 0.05–0.07 ms and the corrected p50 0.05–0.08 ms above the
/// uncorrected. The bound here, 0.25 ms, leaves room for a slow VM
/// wake-up; the 1 ms tick cannot pass it.
#[test]
fn open_model_sends_on_time_so_corrected_latency_is_the_servers() {
    // Between sends the generator's vCPU halts; waking it is the
    // hypervisor's latency (it once put the lag p50 at 0.29 ms), not the
    // send clock's.
    let _awake = common::KeepCpusAwake::start();
    let server = demo(DemoConfig {
        latency: Duration::from_millis(1),
        ..DemoConfig::default()
    });
    let out = scalewall(&[
        "bench",
        &server.url(),
        "-c",
        "64",
        "-r",
        "1000",
        "-d",
        "3s",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let corrected = f(&v, "/latency_ms/p50");
    let uncorrected = f(&v, "/uncorrected_latency_ms/p50");
    let lag = f(&v, "/schedule_lag_ms/p50");
    eprintln!("p50 corrected {corrected} ms, uncorrected {uncorrected} ms, send lag {lag} ms");
    assert!(
        corrected - uncorrected < 0.25,
        "{corrected} vs {uncorrected}"
    );
    assert!(lag < 0.25, "send lag p50 {lag} ms");
}
