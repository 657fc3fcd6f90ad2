//! Custom metrics (`[[metric]]`) end to end: `scalewall run` reads a
//! Prometheus endpoint served by the test (a gauge, a counter growing a
//! known amount per second, labelled series, a histogram, and a malformed
//! page), a demo server's JSON `/stats`, a folder the test builds and a
//! command; each becomes a metric of the run, thresholded and listed with
//! its source in the report's System health.

mod common;

use common::scalewall;
use scalewall_demo::{DemoConfig, RunningDemo};
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::Instant;

/// The counter grows this much per second.
const JOBS_PER_S: f64 = 250.0;

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Serves `/metrics` (a valid exposition whose counter grows at
/// [`JOBS_PER_S`]) and `/bad` (a malformed one).
fn exposition(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&byte[..n]),
        }
    }
    let started = *STARTED.get_or_init(Instant::now);
    let jobs = 1_000.0 + JOBS_PER_S * started.elapsed().as_secs_f64();
    let body = if head.starts_with(b"GET /bad") {
        "# TYPE queue_depth gauge\nqueue_depth{queue=\"default\" 42\n".to_string()
    } else {
        format!(
            "# HELP queue_depth Jobs waiting.\n# TYPE queue_depth gauge\nqueue_depth{{queue=\"default\"}} 42\nqueue_depth{{queue=\"slow\"}} 7\n# TYPE jobs_total counter\njobs_total {jobs}\n# TYPE rpc_seconds histogram\nrpc_seconds_bucket{{le=\"0.1\"}} 5\nrpc_seconds_bucket{{le=\"+Inf\"}} 9\nrpc_seconds_sum 1.5\nrpc_seconds_count 9\n"
        )
    };
    let _ = stream.write_all(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

#[test]
fn prometheus_json_dir_and_command_metrics_are_read_judged_and_listed() {
    let prometheus = common::raw_server(exposition);
    let demo = RunningDemo::start(([127, 0, 0, 1], 0).into(), DemoConfig::default(), 1)
        .expect("demo server starts");
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("workspace");
    std::fs::create_dir_all(tree.join("logs")).unwrap();
    std::fs::write(tree.join("a.bin"), vec![0u8; 4096]).unwrap();
    std::fs::write(tree.join("logs/b.log"), vec![0u8; 1000]).unwrap();
    let config = dir.path().join("scalewall.toml");
    std::fs::write(
        &config,
        format!(
            r#"name = "custom"

[[service]]
name = "api"
url = "{demo}"

[[scenario]]
name = "api-get"
service = "api"
kind = "bench"
connections = 2
requests = 500

[[metric]]
name = "queue_depth"
service = "api"
prometheus = "http://{prometheus}/metrics"
select = 'queue_depth{{queue="default"}}'

[[metric]]
name = "jobs_per_s"
service = "api"
unit = "/s"
better = "higher"
prometheus = "http://{prometheus}/metrics"
select = "jobs_total"

[[metric]]
name = "all_queues"
prometheus = "http://{prometheus}/metrics"
select = "queue_depth"
aggregate = "max"

[[metric]]
name = "broken"
prometheus = "http://{prometheus}/bad"
select = "queue_depth"

[[metric]]
name = "served"
service = "api"
http = "{demo}stats"
json = "$.requests"
during_load = true

[[metric]]
name = "workspace"
dir = "{tree}"

[[metric]]
name = "answer"
command = "echo 41.5"

[[threshold]]
metric = "api.queue_depth"
warning = 10
"#,
            demo = demo.url(),
            tree = tree.display()
        ),
    )
    .unwrap();
    let history = dir.path().join("h.db");
    let run = |format: &str| {
        scalewall(&[
            "run",
            "-f",
            config.to_str().unwrap(),
            "--history",
            history.to_str().unwrap(),
            "--no-progress",
            "-o",
            format,
            "--report-dir",
            dir.path().join("reports").to_str().unwrap(),
        ])
    };
    let first = run("json");
    let served_after_first = demo.requests_served();
    assert_eq!(served_after_first, 500);
    let out = run("json");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(first.status.code().is_some());
    let metric = |name: &str| {
        v["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no metric {name} in {:#}", v["metrics"]))
            .clone()
    };
    assert_eq!(metric("api.queue_depth")["value"], 42.0);
    assert_eq!(
        metric("api.queue_depth")["status"],
        "warning",
        "the threshold judged it"
    );
    let rate = metric("api.jobs_per_s")["value"].as_f64().unwrap();
    assert!(
        (rate - JOBS_PER_S).abs() <= JOBS_PER_S * 0.05,
        "counter rate {rate}/s"
    );
    assert_eq!(metric("all_queues")["value"], 42.0);
    // Read before the second run's load: the first run's 500 requests.
    assert_eq!(
        metric("api.served")["value"].as_f64().unwrap() as u64,
        served_after_first
    );
    assert_eq!(metric("workspace")["value"], 5096.0);
    assert_eq!(metric("workspace.files")["value"], 2.0);
    assert_eq!(metric("answer")["value"], 41.5);
    assert!(v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["name"] != "broken"));
    // The Markdown report lists each with its source; the broken one says why.
    let out = run("md");
    let report = String::from_utf8_lossy(&out.stdout);
    let section: String = report
        .lines()
        .skip_while(|l| *l != "Custom metrics")
        .take(8)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(report.contains("Custom metrics"), "{report}");
    assert!(
        report.contains(&format!("  api.queue_depth: 42   [prometheus http://{prometheus}/metrics queue_depth{{queue=\"default\"}}]")),
        "{report}"
    );
    let lines = [
        format!("  broken: UNAVAILABLE (http://{prometheus}/bad: line 2: a label needs name=\"value\")   [prometheus http://{prometheus}/bad queue_depth]"),
        format!("  workspace: 4.98 KiB in 2 files   [dir {}]", tree.display()),
        "  answer: 41.5   [command echo 41.5]".to_string(),
        "  api.served: 1,000   [json ".to_string(),
    ];
    for line in lines {
        assert!(section.contains(&line), "{line:?} missing from\n{section}");
    }
}

/// A custom count stored with five daily runs (116, 146, … a known 30 a
/// day) is projected to its `[[plan.limit]]`: by hand, 116 + 30·d = 1,000
/// at d = 29.47, so 25.47 days after the last run.
#[test]
fn a_custom_count_is_projected_to_its_limit() {
    use scalewall_history::History;
    use scalewall_model::health::CustomReading;
    use scalewall_model::Run;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let mut history = History::open(&db).unwrap();
    let real = Run::from_json(include_str!("fixtures/run-v1.json")).unwrap();
    for day in 0..5u32 {
        let mut run = Run {
            id: format!("memories-{day}"),
            started_at: format!("2026-11-{:02}T06:00:00Z", day + 1),
            subject: Some("brain".into()),
            scenarios: Vec::new(),
            findings: Vec::new(),
            ..real.clone()
        };
        let health = run
            .system_health
            .as_mut()
            .expect("the fixture has a snapshot");
        health.custom = vec![CustomReading {
            name: "memories".into(),
            source: "command count-memories".into(),
            unit: "count".into(),
            higher_is_better: false,
            value: Some(116.0 + 30.0 * f64::from(day)),
            files: None,
            error: None,
        }];
        let metrics = scalewall_stats::metrics::of_run(&run);
        assert!(metrics.iter().any(|m| m.name == "memories" && !m.gating));
        history
            .store(&run, &scalewall_job::compare::stored_metrics(&metrics))
            .unwrap();
    }
    drop(history);
    let config = dir.path().join("scalewall.toml");
    std::fs::write(
        &config,
        "name = \"brain\"\n[[service]]\nname = \"brain\"\ntcp = \"127.0.0.1:1\"\n\
         [[metric]]\nname = \"memories\"\ncommand = \"echo 0\"\n\
         [plan]\nscales = { agents = [20] }\n[[plan.driver]]\nname = \"agents\"\ncurrent = 10\n\
         [[plan.component]]\nservice = \"brain\"\ndemand = { agents = \"1/s\" }\ncapacity = \"100/s\"\nscaling = \"single\"\n\
         [[plan.limit]]\nmetric = \"memories\"\nlimit = 1000\n",
    )
    .unwrap();
    let out = scalewall(&[
        "plan",
        "-f",
        config.to_str().unwrap(),
        "--history",
        db.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let projection = plan["projections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["metric"] == "memories")
        .unwrap_or_else(|| panic!("no projection of memories: {plan:#}"));
    let days = projection["days_to_limit"].as_f64().unwrap();
    assert!(
        (days / 25.47 - 1.0).abs() < 0.05,
        "{days} days: {projection:#}"
    );
}

/// `scalewall probe --metric` reads a metric ad hoc; a failing one is
/// listed with why and does not fail the probe.
#[test]
fn probe_reads_metrics_given_on_the_command_line() {
    let out = scalewall(&[
        "probe",
        "--no-gpu",
        "--interval",
        "100ms",
        "--metric",
        "answer=command:echo 7",
        "--metric",
        "bad=command:echo seven",
        "-o",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["custom"][0]["name"], "answer");
    assert_eq!(v["custom"][0]["value"], 7.0);
    assert_eq!(
        v["custom"][1]["error"],
        "command 'echo seven' printed 'seven', not one number"
    );
    let out = scalewall(&["probe", "--no-gpu", "--metric", "x=ftp:y"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a malformed --metric is a usage error"
    );
}

/// Custom metrics in the plan: a pool of 100 sessions (read by a
/// command) as a component's capacity against 2 sessions per agent is
/// 40 % used at 20 agents and breaks past 50; today's 25 agents (read by
/// another) are 50 % of it.
#[test]
fn a_pool_size_metric_is_a_components_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("scalewall.toml");
    std::fs::write(
        &config,
        "name = \"pool\"\n[[service]]\nname = \"db\"\ntcp = \"127.0.0.1:1\"\n\
         [[metric]]\nname = \"pool_size\"\nservice = \"db\"\ncommand = \"echo 100\"\n\
         [[metric]]\nname = \"active_agents\"\ncommand = \"echo 25\"\n\
         [plan]\nscales = { agents = [20, 60] }\n[[plan.driver]]\nname = \"agents\"\ncurrent = 10\ncurrent_metric = \"active_agents\"\n\
         [[plan.component]]\nservice = \"db\"\ndemand = { agents = \"2 sessions\" }\ncapacity_metric = \"db.pool_size\"\nscaling = \"single\"\n",
    )
    .unwrap();
    let history = dir.path().join("h.db");
    let out = scalewall(&[
        "run",
        "-f",
        config.to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
        "--no-progress",
        "--report-dir",
        dir.path().join("reports").to_str().unwrap(),
    ]);
    assert!(
        out.status.code().is_some_and(|c| c != 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = scalewall(&[
        "plan",
        "-f",
        config.to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let db = &plan["components"][0];
    assert_eq!(db["capacity_source"], "metric db.pool_size");
    assert_eq!(db["capacity_per_instance"], 100.0);
    assert!(
        (db["cells"][0]["utilisation"].as_f64().unwrap() - 0.4).abs() < 1e-9,
        "{db:#}"
    );
    assert_eq!(db["cells"][1]["status"], "BREAKS", "{db:#}");
    assert_eq!(db["breaks_at"]["agents"], 50.0);
    assert_eq!(
        plan["drivers"][0]["current"], 25.0,
        "current from its metric"
    );
    assert!(
        (db["today"]["utilisation"].as_f64().unwrap() - 0.5).abs() < 1e-9,
        "{db:#}"
    );
}
