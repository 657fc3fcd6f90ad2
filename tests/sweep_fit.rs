//! `scalewall sweep` and `scalewall fit` end to end: known answers from a
//! demo-server with an injected USL curve and from the R `usl` package's
//! published data, and clear errors for bad input.

mod common;

use common::{f, json, scalewall};
use scalewall_demo::{DemoConfig, RunningDemo};
use scalewall_stats::number::sig_n;
use std::time::Duration;

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn sweep_recovers_the_injected_sigma_kappa_and_peak_within_15_percent() {
    // Hypervisor wake-up latency would add a constant to every request and
    // bias σ and κ low; it is not what is being tested.
    let _awake = common::KeepCpusAwake::start();
    let (sigma, kappa) = (0.05, 0.002);
    let server = RunningDemo::start(
        ([127, 0, 0, 1], 0).into(),
        DemoConfig {
            latency: Duration::from_millis(5),
            sigma,
            kappa,
            ..DemoConfig::default()
        },
        1,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("sweep.svg");
    let out = scalewall(&[
        "sweep",
        &server.url(),
        "--concurrency",
        "1,2,4,8,16,24,32,48",
        "--step",
        "2s",
        "--warmup",
        "500ms",
        "-o",
        "json",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    eprintln!(
        "fitted σ {} κ {} N* {} (injected 0.05, 0.002, 21.79)",
        v["usl"]["sigma"], v["usl"]["kappa"], v["usl"]["peak_concurrency"]
    );
    let within = |got: f64, want: f64, what: &str| {
        assert!(
            (got / want - 1.0).abs() <= 0.15,
            "{what}: fitted {got}, injected {want}\n{v:#}"
        );
    };
    within(f(&v, "/usl/sigma"), sigma, "σ");
    within(f(&v, "/usl/kappa"), kappa, "κ");
    within(
        f(&v, "/usl/peak_concurrency"),
        ((1.0 - sigma) / kappa).sqrt(),
        "N*",
    );
    assert!(f(&v, "/usl/r_squared") > 0.98);
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 8);
    for p in points {
        assert_eq!(
            p["flags"],
            serde_json::json!([]),
            "no step should be flagged: {p}"
        );
        assert!(p["p99_ms"].as_f64().unwrap() > 5.0);
    }
    assert!(
        v["verdict"].as_str().unwrap().starts_with("peaks at ≈ "),
        "{}",
        v["verdict"]
    );
    // Each level's cost, measured on the server's process: this test's own.
    let levels = v["resources"].as_array().unwrap();
    assert_eq!(levels.len(), 8);
    for (level, point) in levels.iter().zip(points) {
        assert_eq!(f(level, "/concurrency"), f(point, "/concurrency"));
        let r = &level["resources"];
        assert_eq!(r["target"]["pid"], std::process::id(), "{r:#}");
        assert!(f(r, "/operations") >= f(point, "/responses"), "{r:#}");
        assert!(f(r, "/target/cpu_s_per_1000_ops") > 0.0, "{r:#}");
    }
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(chart.matches(r#"class="measured""#).count(), 8);
    assert!(chart.contains(r#"class="usl-fit""#) && chart.contains(r#"class="peak""#));
}

#[test]
fn fit_reproduces_the_r_usl_package_example() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("usl.csv");
    std::fs::write(
        &csv,
        "load,tput\n1,1\n2,1.8868\n4,3.0769\n6,3.5294\n8,3.5398\n10,3.3557\n",
    )
    .unwrap();
    let out = scalewall(&["fit", csv.to_str().unwrap(), "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    // R: signif(coef(u), 3) → alpha 0.02, beta 0.02, gamma 1.00
    let sig3 = |x: f64| sig_n(x, 3);
    assert_eq!(sig3(f(&v, "/usl/sigma")), "0.02");
    assert_eq!(sig3(f(&v, "/usl/kappa")), "0.02");
    assert_eq!(sig3(f(&v, "/usl/lambda")), "1");
    // N* = √((1 − 0.02)/0.02) = 7
    assert!((f(&v, "/usl/peak_concurrency") - 7.0).abs() < 0.05);
    assert_eq!(v["points"].as_array().unwrap().len(), 6);
    let text = scalewall(&["fit", csv.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("verdict: peaks at ≈ 7"), "{text}");
}

#[test]
fn fit_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "n,x\n1,10\n2,abc\n",
            "line 3: throughput 'abc' (column 2) is not a number",
        ),
        (
            "1,10\n0,20\n4,30\n",
            "line 2: concurrency must be a finite number > 0, got 0",
        ),
        (
            "1,10\n2,-20\n4,30\n",
            "line 2: throughput must be a finite number > 0, got -20",
        ),
        (
            "1,10\n1,11\n2,19\n",
            "at least 3 distinct concurrency levels, got 2",
        ),
        ("1,10\n2\n", "line 2: expected 2 columns"),
    ];
    for (i, (content, expected)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.csv"));
        std::fs::write(&path, content).unwrap();
        let out = scalewall(&["fit", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{content}");
        let err = stderr(&out);
        assert!(
            err.contains(path.to_str().unwrap()) && err.contains(expected),
            "{content:?} → {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let missing = scalewall(&["fit", "/nonexistent/data.csv"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("cannot read /nonexistent/data.csv"));
}

#[test]
fn a_poor_fit_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noise.csv");
    std::fs::write(&path, "1,50\n2,5\n3,60\n4,4\n5,55\n6,6\n").unwrap();
    let out = scalewall(&["fit", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: poor fit: R² ="),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sweep_refuses_too_few_levels_and_unreachable_targets() {
    let out = scalewall(&["sweep", "http://127.0.0.1:9/", "--concurrency", "1,2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("at least 3 distinct levels"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = scalewall(&["sweep", &format!("http://{closed}/"), "--step", "1s"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot connect to"),
        "{}",
        stderr(&out)
    );
}
