//! Issue 17: finding the capacity instead of measuring guessed levels,
//! against a demo server with a known curve: each request is held
//! 5 ms × (1 + 0.05(n−1) + 0.002·n(n−1)) with n in flight, so
//! N* = √(0.95/0.002) = 21.8 and X(N*) ≈ 1,480 req/s, and the hold passes
//! 11 ms at n = 15.7.

mod common;

use common::{f, json, scalewall};
use scalewall_demo::{DemoConfig, RunningDemo};
use std::time::{Duration, Instant};

fn known_server(error_rate: f64) -> RunningDemo {
    server_of(Duration::from_millis(5), error_rate)
}

fn server_of(latency: Duration, error_rate: f64) -> RunningDemo {
    RunningDemo::start(
        ([127, 0, 0, 1], 0).into(),
        DemoConfig {
            latency,
            sigma: 0.05,
            kappa: 0.002,
            error_rate,
            ..DemoConfig::default()
        },
        1,
    )
    .unwrap()
}

fn search(url: &str, step: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "sweep",
        url,
        "--step",
        step,
        "--warmup",
        "300ms",
        "--no-history",
        "--no-progress",
        "-o",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = scalewall(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out)
}

fn levels(doc: &serde_json::Value) -> Vec<(f64, f64, bool)> {
    doc["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["level"].as_f64().unwrap(),
                l["p99_ms"].as_f64().unwrap(),
                l["met_slos"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn until_peak_brackets_the_known_peak_without_being_told_any_level() {
    let _awake = common::KeepCpusAwake::start();
    let server = known_server(0.0);
    let started = Instant::now();
    let v = search(&server.url(), "2s", &["--until-peak"]);
    let took = started.elapsed();
    let n = f(&v, "/usl/peak_concurrency");
    eprintln!(
        "until-peak: N* {n:.2} in {took:?}: {}",
        v["search"]["verdict"]
    );
    assert!((n / 21.8 - 1.0).abs() < 0.15, "N* {n}");
    let (low, high) = (f(&v, "/search/low"), f(&v, "/search/high"));
    assert!(low < n && n < high, "bracket {low}–{high} around {n}");
    let measured: Vec<f64> = levels(&v["search"]).iter().map(|l| l.0).collect();
    assert!(measured.contains(&low) && measured.contains(&high));
    assert!(
        v["search"]["verdict"]
            .as_str()
            .unwrap()
            .starts_with("peak measured: N* ≈"),
        "{}",
        v["search"]["verdict"]
    );
    assert!(took < Duration::from_secs(60), "{took:?}");
}

/// The known answer, p99 < 11 ms at 5 ms: the hold passes 11 ms
/// at n = 15.7, so 15 connections. The demo server holds a request with a
/// timer that fires on a millisecond tick, and the p99 adds that and the
/// generator's scheduling (1–3 ms on a 2-core machine), which at 5 ms moves
/// the answer by up to 4 connections (the hold grows 0.55 ms a connection
/// there). The same curve at 20 ms (the hold grows 2.2 ms a connection)
/// with the same bound scaled keeps the answer at 15 ± 1. The bound is on
/// the p90: at 20 ms a 2 s step has about 700 responses, too few to judge
/// a p99 (1,000 needed), and every response takes the hold, so p90 and
/// p99 pass 44 ms together.
/// What must hold exactly: the answer is bracketed by adjacent measured
/// levels, the lower meeting the SLO and the upper breaking it.
#[test]
fn the_capacity_under_a_p99_slo_is_bracketed_by_adjacent_levels() {
    let _awake = common::KeepCpusAwake::start();
    let server = server_of(Duration::from_millis(20), 0.0);
    let v = search(&server.url(), "2s", &["--slo", "p90<44ms"]);
    let c = &v["capacity"];
    eprintln!("capacity: {}", c["verdict"]);
    assert_eq!(c["kind"], "capacity");
    assert_eq!(
        (c["model"].as_str(), c["unit"].as_str()),
        (Some("closed"), Some("connections"))
    );
    let (value, high) = (f(c, "/value"), f(c, "/high"));
    assert_eq!(high, value + 1.0, "adjacent levels");
    assert!((14.0..=16.0).contains(&value), "{value}");
    let measured = levels(c);
    let at = |level: f64| *measured.iter().find(|l| l.0 == level).unwrap();
    assert!(at(value).2 && !at(high).2);
    assert!(c["limited_by"].as_str().unwrap().contains("p90<44ms"));
    // Every probed level is in the record, in the order measured: doubling,
    // then bisection.
    assert_eq!(
        &measured.iter().map(|l| l.0).collect::<Vec<_>>()[..5],
        &[1.0, 2.0, 4.0, 8.0, 16.0]
    );
}

/// Under a loose latency bound the open model's capacity is the peak
/// throughput X(N*) ≈ 1,480 req/s: below it the queue settles, above it
/// it grows without end.
#[test]
fn a_rate_search_finds_the_rate_the_target_sustains() {
    let _awake = common::KeepCpusAwake::start();
    let server = known_server(0.0);
    let v = search(&server.url(), "2s", &["--rate-search", "--slo", "p99<50ms"]);
    let c = &v["capacity"];
    eprintln!("rate capacity: {}", c["verdict"]);
    assert_eq!(
        (c["model"].as_str(), c["unit"].as_str()),
        (Some("open"), Some("req/s"))
    );
    let (value, high) = (f(c, "/value"), f(c, "/high"));
    assert!((value / 1480.0 - 1.0).abs() < 0.15, "{value}");
    assert!((high - value) / value <= 0.05, "bracket {value}–{high}");
    // The level is a rate the generator kept: the achieved throughput of the
    // capacity step is the rate asked for.
    let step = c["levels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["level"].as_f64() == Some(value))
        .unwrap();
    assert!(
        (f(step, "/throughput") / value - 1.0).abs() < 0.02,
        "{step}"
    );
}

#[test]
fn a_search_stops_raising_the_load_when_errors_pass_half_and_says_so() {
    let server = known_server(0.6);
    let v = search(&server.url(), "500ms", &["--slo", "errors<1%"]);
    let c = &v["capacity"];
    let verdict = c["verdict"].as_str().unwrap();
    assert!(
        verdict.contains("stopped raising the load") && verdict.contains("failed at 1"),
        "{verdict}"
    );
    assert_eq!(c["levels"].as_array().unwrap().len(), 1);
    assert!(c["value"].is_null());
}

#[test]
fn bad_search_options_are_refused_before_any_load() {
    for (args, expected) in [
        (vec!["--slo", "p99<10"], "a latency takes a unit"),
        (vec!["--slo", "p99>10ms"], "latency and errors take <"),
        (vec!["--rate-search"], "--slo"),
        (
            vec!["--until-peak", "--rate-search", "--slo", "p99<1s"],
            "cannot be used with",
        ),
        (
            vec!["--slo", "p99<1s", "--precision", "150%"],
            "between 0 and 100 %",
        ),
    ] {
        let mut full = vec!["sweep", "http://127.0.0.1:9/"];
        full.extend_from_slice(&args);
        let out = scalewall(&full);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(expected),
            "{args:?}: {err}"
        );
    }
}

/// `kind = "capacity"` in a config: `scalewall run` searches, the report
/// shows every level and the answer, and the plan divides demand by the
/// throughput at the capacity under the SLO (not by X(N*)).
#[test]
fn a_capacity_scenario_runs_in_the_main_job_and_feeds_the_plan() {
    let server = known_server(0.0);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("scalewall.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"cap-e2e\"\n[[service]]\nname = \"api\"\nurl = \"{}\"\n\
             [[scenario]]\nname = \"api-capacity\"\nservice = \"api\"\nkind = \"capacity\"\n\
             slo = [\"p90<50ms\"]\nstep = \"500ms\"\nwarmup = \"100ms\"\n\
             [plan]\nscales = {{ agents = [100, 1000] }}\n[[plan.driver]]\nname = \"agents\"\ncurrent = 10\n\
             [[plan.component]]\nservice = \"api\"\ndemand = {{ agents = \"1/s\" }}\ncapacity_from = \"api-capacity\"\n",
            server.url()
        ),
    )
    .unwrap();
    let (cfg, history, reports) = (
        config.to_str().unwrap().to_string(),
        dir.path().join("h.db").to_str().unwrap().to_string(),
        dir.path().join("reports").to_str().unwrap().to_string(),
    );
    let out = scalewall(&[
        "run",
        "-f",
        &cfg,
        "--history",
        &history,
        "--report-dir",
        &reports,
        "-o",
        "json",
        "--no-progress",
    ]);
    let report = json(&out);
    let search = &report["searches"][0];
    assert_eq!(search["scenario"], "api-capacity", "{report}");
    let value = f(search, "/value");
    let at_capacity = search["levels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["level"].as_f64() == Some(value))
        .unwrap();
    let capacity = &report["plan"]["components"][0];
    assert!(
        capacity["capacity_source"]
            .as_str()
            .unwrap()
            .starts_with("capacity of api-capacity under p90<50ms"),
        "{capacity}"
    );
    assert!(
        (f(capacity, "/capacity_per_instance") / f(at_capacity, "/throughput") - 1.0).abs() < 1e-9,
        "the plan's capacity is the throughput at the capacity level"
    );
    let md = std::fs::read_to_string(
        dir.path()
            .join("reports")
            .join(format!("{}.md", report["run_id"].as_str().unwrap())),
    )
    .unwrap();
    assert!(
        md.contains("- Search of `api-capacity`: capacity under p90<50ms:"),
        "{md}"
    );
    assert!(
        md.contains("**Search**: capacity search under p90<50ms"),
        "{md}"
    );
    assert!(report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "api-capacity.capacity" && m["value"].as_f64() == Some(value)));
}

/// Issue 17: a 3-stage ramp of the arrival rate (0 → 300 → 900 → 0 per
/// second) keeps its schedule: each stage's achieved rate within 2 % of
/// the rate it intended, the total equal to the schedule's integral.
#[test]
fn a_ramped_rate_achieves_each_stage_within_two_percent() {
    let server = server_of(Duration::from_millis(2), 0.0);
    let out = scalewall(&[
        "bench",
        &server.url(),
        "--stages",
        "2s:300,3s:900,2s:0",
        "-c",
        "32",
        "--no-history",
        "-o",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    let stages = v["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3);
    for (stage, intended) in stages.iter().zip([150.0, 600.0, 450.0]) {
        assert_eq!(f(stage, "/intended_rate_per_s"), intended);
        let achieved = f(stage, "/achieved_rate_per_s");
        assert!((achieved / intended - 1.0).abs() < 0.02, "{stage}");
    }
    // 0→300 over 2 s, 300→900 over 3 s, 900→0 over 2 s: 300 + 1,800 + 900.
    assert_eq!(f(&v, "/requests"), 3000.0);
    assert_eq!(v["schedule_kept"], true);
}

/// The known answer for the open model: a server with the file's curve
/// scaled to 20 ms holds each request h(n) = 20 ms × (1 + 0.05(n−1) +
/// 0.002·n(n−1)), so a bound of 32 ms holds while n < 9.66 requests are in
/// flight, and by Little's law n = rate × hold, so the rate that keeps it
/// is 9.66 / 32 ms ≈ 302 req/s (within 15 %). Sends go out on time (the
/// precise timer; with tokio's 1 ms timer the generator's own lateness
/// moved the answer by a quarter).
///
/// Both choices keep what the test measures away from the machine. The
/// bound sits at 81 % of the server's peak: at the 11 ms on the
/// 5 ms curve (n = 15.7, 97 % of the peak) a burst of 12 extra requests in
/// flight (an 8 ms stall of this 2-core VM's vCPU) passed the curve's upper
/// fixed point, the queue ran away, and the answer read 800–1,350 from run
/// to run. And the 20 ms scale makes the debug build's ≈ 0.5 ms of request
/// overhead 3 % of the answer, where on the 5 ms curve it took 10 % of it
/// (1,050–1,100 for 1,207). The bound is on the p90: every response takes
/// the hold, so p90 and p99 pass it at the same n, but the p99 also catches
/// the machine's scheduling tail.
#[test]
fn a_rate_search_under_a_tight_bound_finds_the_rate_littles_law_gives() {
    let _awake = common::KeepCpusAwake::start();
    let server = server_of(Duration::from_millis(20), 0.0);
    let v = search(&server.url(), "2s", &["--rate-search", "--slo", "p90<32ms"]);
    let c = &v["capacity"];
    eprintln!("rate capacity under p90<32ms: {}", c["verdict"]);
    let value = f(c, "/value");
    assert!((value / 302.0 - 1.0).abs() < 0.15, "{value}");
}
