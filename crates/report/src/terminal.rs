//! The compact summary a terminal shows when `scalewall run` ends: one
//! row per scenario (throughput, p50, p99, errors, change since the
//! previous run) and a line with the health score, the findings by
//! severity and each sweep's wall. Statuses are words, coloured with ANSI
//! escapes when asked (a terminal); without colour the words stand alone.
//! Pure.

use crate::components::severity_name;
use crate::number::{change, group, sig, sig_n};
use crate::overview::Overview;
use scalewall_model::Severity;
use scalewall_stats::compare::{Change, MetricComparison};
use std::fmt::Write as _;

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";

fn paint(text: &str, code: &str, colour: bool) -> String {
    if colour {
        format!("{code}{text}{RESET}")
    } else {
        text.to_string()
    }
}

fn severity_colour(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "\x1b[1;31m",
        Severity::High => "\x1b[1;33m",
        Severity::Medium => "\x1b[33m",
        Severity::Low => "\x1b[2m",
    }
}

fn change_cell(c: Option<&MetricComparison>) -> (String, &'static str) {
    match c {
        None => ("-".into(), ""),
        Some(c) => {
            let (word, code) = match c.change {
                Change::Improved => ("improved", "\x1b[32m"),
                Change::Regressed => ("REGRESSED", "\x1b[1;31m"),
                Change::Unchanged => ("unchanged", ""),
                Change::Untested => ("untested", "\x1b[2m"),
                Change::WithinNoise => ("within noise", "\x1b[2m"),
                Change::NoiseUnknown => ("noise unknown", "\x1b[2m"),
            };
            (format!("{} {word}", change(c.relative_change)), code)
        }
    }
}

/// Pads `text` to `width` characters (not bytes) on the left or right.
fn pad(text: &str, width: usize, right: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(text.chars().count()));
    if right {
        format!("{fill}{text}")
    } else {
        format!("{text}{fill}")
    }
}

/// The summary table and verdict lines.
pub fn summary(overview: &Overview<'_>, colour: bool) -> String {
    let mut rows: Vec<[(String, &'static str); 6]> = vec![[
        ("scenario".into(), BOLD),
        ("throughput".into(), BOLD),
        ("p50".into(), BOLD),
        ("p99".into(), BOLD),
        ("errors".into(), BOLD),
        ("throughput vs previous".into(), BOLD),
    ]];
    for row in &overview.rows {
        let name = match row.at_level {
            Some(n) => format!("{} (N = {n})", row.scenario),
            None => row.scenario.clone(),
        };
        rows.push([
            (name, ""),
            (format!("{} {}", sig(row.throughput), row.unit), ""),
            (format!("{} ms", sig(row.p50_ms)), ""),
            (format!("{} ms", sig(row.p99_ms)), ""),
            (
                group(row.errors),
                if row.errors > 0 { "\x1b[1;31m" } else { "" },
            ),
            change_cell(row.throughput_change.as_ref()),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].0.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    if !overview.rows.is_empty() {
        for row in &rows {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(c, (text, code))| {
                    let padded = pad(text, widths[c], (1..5).contains(&c));
                    if code.is_empty() {
                        padded
                    } else {
                        paint(&padded, code, colour)
                    }
                })
                .collect();
            let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
        }
    }
    let findings = if overview.counts.is_empty() {
        paint("no findings", "\x1b[32m", colour)
    } else {
        overview
            .counts
            .iter()
            .map(|(s, n)| {
                paint(
                    &format!("{n} {}", severity_name(*s)),
                    severity_colour(*s),
                    colour,
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let score = overview.health_score;
    let score_code = if score >= 8.0 {
        "\x1b[1;32m"
    } else if score >= 5.0 {
        "\x1b[1;33m"
    } else {
        "\x1b[1;31m"
    };
    let _ = writeln!(
        out,
        "  health {} · {findings}",
        paint(&format!("{} / 10", sig_n(score, 2)), score_code, colour)
    );
    for wall in &overview.walls {
        let text = match wall.peak {
            Some((n, x)) => format!(
                "N* ≈ {}, X(N*) ≈ {} {}",
                sig_n(n, 3),
                sig_n(x, 4),
                wall.unit
            ),
            None => wall.verdict.clone(),
        };
        let _ = writeln!(out, "  wall of {}: {text}", wall.scenario);
    }
    for (scenario, verdict) in &overview.searches {
        let _ = writeln!(out, "  search of {scenario}: {verdict}");
    }
    if let Some(plan) = &overview.plan {
        if let Some((component, at)) = &plan.first_break {
            let _ = writeln!(
                out,
                "  capacity: {component} breaks first, at ~{} {}",
                sig_n(*at, 3),
                plan.driver
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overview::ScenarioRow;

    fn overview() -> Overview<'static> {
        Overview {
            health_score: 6.0,
            counts: vec![(Severity::High, 1), (Severity::Low, 2)],
            top_findings: vec![],
            walls: vec![],
            searches: vec![],
            plan: None,
            rows: vec![ScenarioRow {
                scenario: "gw-get".into(),
                kind: "bench".into(),
                unit: "req/s",
                at_level: None,
                throughput: 2452.0,
                p50_ms: 3.251,
                p99_ms: 3.989,
                errors: 0,
                error_pct: 0.0,
                throughput_change: None,
                p99_change: None,
            }],
        }
    }

    #[test]
    fn the_summary_table_aligns_its_columns_and_colours_only_when_asked() {
        let plain = summary(&overview(), false);
        assert_eq!(
            plain,
            "  scenario   throughput       p50       p99  errors  throughput vs previous\n  \
             gw-get    2,452 req/s  3.251 ms  3.989 ms       0  -\n  \
             health 6 / 10 · 1 HIGH, 2 LOW\n"
        );
        let coloured = summary(&overview(), true);
        assert!(coloured.contains("\x1b[1;33m1 HIGH\x1b[0m"), "{coloured:?}");
        assert!(!plain.contains('\x1b'));
    }
}
