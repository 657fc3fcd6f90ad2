//! A stored run renders to the same bytes as the day it was written: the
//! Markdown and JSON reports of a fixed record (a version-1 run written by
//! an earlier scalewall, `tests/fixtures/run-v1.json`) against checked-in
//! files. `UPDATE_SNAPSHOTS=1 cargo test -p scalewall-job --test
//! golden_report` rewrites them after a deliberate change to a renderer.

use scalewall_job::compare::report_input;
use scalewall_job::findings::exit_code_for;
use scalewall_model::Run;
use scalewall_report::{json, markdown};
use scalewall_stats::metrics;
use std::path::PathBuf;

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn check(rendered: &str, golden: &str) {
    let path = repo_file(golden);
    if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, rendered).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    if rendered != expected {
        let line = rendered
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .map_or(
                rendered.lines().count().min(expected.lines().count()),
                |i| i,
            );
        panic!(
            "{} differs from the rendered report at line {}:\n  rendered: {:?}\n  expected: {:?}",
            path.display(),
            line + 1,
            rendered.lines().nth(line),
            expected.lines().nth(line)
        );
    }
}

#[test]
fn a_stored_run_renders_to_its_golden_reports() {
    let text = std::fs::read_to_string(repo_file("tests/fixtures/run-v1.json")).unwrap();
    let run = Run::from_json(&text).unwrap();
    let metrics = metrics::of_run(&run);
    let input = report_input(None, &run, &metrics).unwrap();
    check(&markdown::render(&input), "tests/fixtures/run-v1.report.md");
    check(
        &json::report(&input, exit_code_for(&run.findings)),
        "tests/fixtures/run-v1.report.json",
    );
}

/// The two runs of the report fixture (`tests/fixtures/report-*.json`: an
/// agent gateway, a demo server with a known curve, a bench, a sweep, a
/// capacity plan and thresholds; the second run after κ rose from 0.005
/// to 0.008), stored in a fresh history with the first as the baseline.
fn gateway_runs(dir: &std::path::Path) -> (scalewall_history::History, Run) {
    let load = |name: &str| {
        let text = std::fs::read_to_string(repo_file(&format!("tests/fixtures/{name}"))).unwrap();
        Run::from_json(&text).unwrap()
    };
    let runs = [load("report-previous.json"), load("report-run.json")];
    let mut history = scalewall_history::History::open(&dir.join("history.db")).unwrap();
    scalewall_job::compare::store_runs(&mut history, &runs).unwrap();
    history.set_baseline(&runs[0].id, false).unwrap();
    let [_, run] = runs;
    (history, run)
}

/// Issue 16: the Markdown of a run with a sweep, a bench, a plan,
/// findings, a previous run and a baseline, summary first.
#[test]
fn a_run_with_a_sweep_a_bench_a_plan_and_a_previous_run_renders_to_its_golden_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let (history, run) = gateway_runs(dir.path());
    let metrics = metrics::of_run(&run);
    let input = report_input(Some(&history), &run, &metrics).unwrap();
    let text = markdown::render(&input);
    check(&text, "tests/fixtures/report-run.report.md");
    // The summary comes first and holds the verdicts.
    let summary = text.find("## Summary").unwrap();
    assert!(summary < text.find("## Key metrics").unwrap());
    assert!(text.find("## Key metrics").unwrap() < text.find("## All metrics").unwrap());
    let summary_text = &text[summary..text.find("## Key metrics").unwrap()];
    for needle in [
        "**Health score 6 / 10**",
        "**9 findings**: 1 HIGH, 8 LOW",
        "Scaling wall of `gw-scaling`: N* ≈ 11.3",
        "Capacity plan: `gateway` breaks first",
        "Since the previous run",
    ] {
        assert!(
            summary_text.contains(needle),
            "{needle} missing:\n{summary_text}"
        );
    }
    // Emoji only beside their word.
    for (marker, word) in [
        ("🟢", "OK"),
        ("🟡", "STRAINED"),
        ("🟠", "CRITICAL"),
        ("🔴", "BREAKS"),
    ] {
        for (at, _) in text.match_indices(marker) {
            let rest = &text[at + marker.len()..];
            let cell_end = rest.find(['|', '·', '\n']).unwrap_or(rest.len());
            assert!(
                rest[..cell_end].contains(word),
                "{marker} without {word}: {}",
                &rest[..cell_end]
            );
        }
    }
}

/// Issue 16: the HTML report of a 10-scenario run stays under 300 KB,
/// self-contained (no scripts, no external references).
#[test]
fn the_html_report_of_ten_scenarios_stays_under_its_size_budget() {
    let dir = tempfile::tempdir().unwrap();
    let (history, mut run) = gateway_runs(dir.path());
    let scenarios = run.scenarios.clone();
    run.scenarios = (0..5)
        .flat_map(|k| {
            scenarios.iter().map(move |s| scalewall_model::Scenario {
                name: format!("{}-{k}", s.name),
                ..s.clone()
            })
        })
        .collect();
    assert_eq!(run.scenarios.len(), 10);
    let metrics = metrics::of_run(&run);
    let input = report_input(Some(&history), &run, &metrics).unwrap();
    let html = scalewall_report::html::render(&input);
    eprintln!("10-scenario HTML report: {} bytes", html.len());
    assert!(html.len() < 300_000, "{} bytes", html.len());
    assert!(
        !html.contains("<script") && !html.contains("src=\"http") && !html.contains("href=\"http")
    );
    assert_eq!(html.matches("class=\"panel\"").count(), 10);
}
