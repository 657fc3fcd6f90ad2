//! Issue 16: the HTML report as a reader sees it, in headless Chromium at
//! 1280×900. The report of a fixed run (an agent gateway: a bench, a sweep,
//! a capacity plan, findings, a previous run and a baseline; the same
//! fixture as the golden Markdown) loads without a console message; the
//! summary, the health score and the findings come before any table of
//! more than 10 rows; no status is an emoji alone; screenshots of the
//! first screen (light and dark) are written to the test output folder
//! and their paths printed.

mod common;

use common::Browser;
use scalewall_job::compare::{report_input, store_runs};
use scalewall_model::Run;
use scalewall_stats::metrics;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> Run {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    Run::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Rows of each `<table>` of a page, with where the table starts.
fn tables(dom: &str) -> Vec<(usize, usize)> {
    dom.match_indices("<table")
        .map(|(at, _)| {
            let end = dom[at..].find("</table>").map_or(dom.len(), |e| at + e);
            (at, dom[at..end].matches("<tr").count())
        })
        .collect()
}

#[test]
fn the_report_opens_in_a_browser_summary_first_with_badges_not_glyphs() {
    let dir = tempfile::tempdir().unwrap();
    let runs = [fixture("report-previous.json"), fixture("report-run.json")];
    let mut history = scalewall_history::History::open(&dir.path().join("h.db")).unwrap();
    store_runs(&mut history, &runs).unwrap();
    history.set_baseline(&runs[0].id, false).unwrap();
    let run = &runs[1];
    let metrics = metrics::of_run(run);
    let html =
        scalewall_report::html::render(&report_input(Some(&history), run, &metrics).unwrap());
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let page = out.join("report.html");
    std::fs::write(&page, &html).unwrap();
    eprintln!("report: {}", page.display());

    // What holds without a browser: the page's own order and wording.
    for marker in ["🟢", "🟡", "🟠", "🔴"] {
        assert!(
            !html.contains(marker),
            "{marker}: a status conveyed by a glyph"
        );
    }
    assert!(!html.contains("<script"), "no scripts");

    let Some(browser) = Browser::find() else {
        return;
    };
    let url = format!("file://{}", page.display());
    let dom = browser.dom(&url);
    let at = |needle: &str| {
        dom.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing from the rendered page"))
    };
    let summary = at("id=\"summary\"");
    let score = at("Health score");
    let top_findings = at("id=\"top-findings\"");
    let findings = at("id=\"findings\"");
    let long_table = tables(&dom)
        .into_iter()
        .find(|(_, rows)| *rows > 10)
        .map(|(start, _)| start)
        .expect("the page has a table of more than 10 rows (the metrics, the findings)");
    assert!(
        summary < score && score < top_findings && top_findings < long_table && findings < long_table,
        "summary {summary}, score {score}, top findings {top_findings}, findings {findings}, first long table {long_table}"
    );
    // The summary holds the verdicts: the wall and the plan's first break.
    let summary_text = &dom[summary..at("id=\"key-metrics\"")];
    for needle in [
        "6 / 10",
        "HIGH</span>",
        "Scaling wall of <code>gw-scaling</code>",
        "N* ≈ 11.3",
        "breaks first",
    ] {
        assert!(
            summary_text.contains(needle),
            "{needle} missing from the summary"
        );
    }
    // Every plan status is a badge with its word.
    let plan = &dom[at("id=\"capacity-plan\"")..];
    assert!(
        plan.contains("class=\"badge tone-bad\">BREAKS</span>"),
        "plan statuses as badges"
    );
    browser.screenshot(&url, &out.join("report-first-screen.png"), &[]);
    browser.screenshot(
        &url,
        &out.join("report-first-screen-dark.png"),
        &[
            "--force-dark-mode".to_string(),
            "--blink-settings=preferredColorScheme=0".to_string(),
        ],
    );
}
