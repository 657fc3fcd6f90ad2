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
