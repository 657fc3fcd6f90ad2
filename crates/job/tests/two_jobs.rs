//! Two jobs at once in one process, each against its own demo target with
//! a known latency, each with its own history: every job gets its own
//! measurements, findings, stored run and reports (what the `watch` daemon
//! and a distributed coordinator rely on).

use scalewall_demo::{DemoConfig, RunningDemo};
use scalewall_history::History;
use scalewall_job::config;
use scalewall_job::job::{run_job, HistoryStore, Job, JobContext, Outcome};
use scalewall_job::observer::Silent;
use scalewall_job::record::SystemClock;
use scalewall_load::engine::Control;
use scalewall_model::{RunStatus, Severity};
use std::path::Path;
use std::time::Duration;

/// A config loading `url` with 4 connections for 2 s, with a p99 limit:
/// warning above 20 ms, critical above 60 ms.
fn config_text(name: &str, url: &str) -> String {
    format!(
        r#"
name = "{name}"

[[service]]
name = "api"
url = "{url}"

[[scenario]]
name = "get"
service = "api"
kind = "bench"
connections = 4
duration = "2s"

[[threshold]]
metric = "get.p99_ms"
warning = 20
critical = 60
"#
    )
}

fn run_one(name: &str, url: &str, dir: &Path) -> Outcome {
    let text = config_text(name, url);
    let config = config::parse(&format!("{name}.toml"), &text, &|_| None, 2).unwrap();
    let job = Job::new(Some(config), Some(dir.join("reports")));
    let history_path = dir.join("history.db");
    let mut history = History::open(&history_path).unwrap();
    let control = Control::new();
    run_job(
        &job,
        JobContext {
            clock: &SystemClock,
            observer: &Silent,
            control: &control,
            history: Some(HistoryStore {
                history: &mut history,
                path: history_path.clone(),
            }),
        },
    )
    .unwrap()
}

fn demo(latency_ms: u64) -> RunningDemo {
    let config = DemoConfig {
        latency: Duration::from_millis(latency_ms),
        ..DemoConfig::default()
    };
    RunningDemo::start(([127, 0, 0, 1], 0).into(), config, 1).unwrap()
}

#[test]
fn two_jobs_at_once_keep_their_own_measurements_findings_and_history() {
    // Holds of 2 ms and 30 ms: with 4 connections and no contention the
    // known throughputs are 4 / 2 ms = 2,000 req/s and 4 / 30 ms ≈ 133 req/s,
    // and only the slow target's p99 passes the 20 ms warning limit.
    let fast = demo(2);
    let slow = demo(30);
    let fast_dir = tempfile::tempdir().unwrap();
    let slow_dir = tempfile::tempdir().unwrap();
    let (fast_outcome, slow_outcome) = std::thread::scope(|scope| {
        let f = scope.spawn(|| run_one("fast", &fast.url(), fast_dir.path()));
        let s = scope.spawn(|| run_one("slow", &slow.url(), slow_dir.path()));
        (f.join().unwrap(), s.join().unwrap())
    });

    for (outcome, subject, known_rps) in [
        (&fast_outcome, "fast", 2000.0),
        (&slow_outcome, "slow", 4.0 / 0.030),
    ] {
        let run = &outcome.run;
        assert_eq!(run.status, RunStatus::Completed, "{subject}");
        assert_eq!(run.subject.as_deref(), Some(subject));
        let step = &run.scenarios[0].steps[0];
        let deviation = step.achieved_rate_per_s / known_rps - 1.0;
        assert!(
            deviation.abs() < 0.2,
            "{subject}: {} req/s measured, {known_rps} known",
            step.achieved_rate_per_s
        );
        assert!(
            outcome.write_errors.is_empty(),
            "{:?}",
            outcome.write_errors
        );
        assert!(outcome.store_error.is_none(), "{:?}", outcome.store_error);
        // Three reports and the history database, each on disk.
        assert_eq!(outcome.written.len(), 4, "{:?}", outcome.written);
        for path in &outcome.written {
            assert!(path.exists(), "{}", path.display());
        }
        assert!(outcome.reports.markdown.contains(&run.id));
    }

    assert_eq!(fast_outcome.worst, None, "{:?}", fast_outcome.run.findings);
    assert_eq!(slow_outcome.worst, Some(Severity::High));
    let breach = &slow_outcome.run.findings[0];
    assert_eq!(breach.subject, "get.p99_ms");
    assert!(
        breach.evidence.contains("> warning 20 ms"),
        "{}",
        breach.evidence
    );

    // Each history holds its own job's run, and only that.
    for (dir, outcome) in [(&fast_dir, &fast_outcome), (&slow_dir, &slow_outcome)] {
        let history = History::open(&dir.path().join("history.db")).unwrap();
        let rows = history.list(None, 10).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, outcome.run.id);
    }
}
