//! The HTML report: one self-contained file (inline CSS, inline SVG, no
//! scripts, no external assets) holding the Markdown report's sections,
//! converted from the exact Markdown [`crate::markdown`] writes, plus charts:
//! latency percentiles per scenario, each sweep with its fitted USL curve,
//! host and target CPU through the load steps, and key metrics over the
//! last runs.

use crate::markdown::{self, ReportInput};
use crate::svg::{self, Series};
use scalewall_stats::summary::StepSummary;
use scalewall_stats::sweep;
use std::fmt::Write as _;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;padding:.8em;overflow:auto}\
blockquote{border-left:4px solid #d62728;margin:.5em 0;padding:.2em .8em;background:#fff4f4}\
code{background:#f2f2f2;padding:0 3px}svg{max-width:100%;height:auto;margin:.5em 0}";

/// Escapes text for HTML (and SVG) content and attributes.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Inline Markdown of the report: `code` and **bold**, HTML escaped.
fn inline(text: &str) -> String {
    let escaped = escape(text);
    let mut out = String::new();
    let mut in_code = false;
    for (k, part) in escaped.split('`').enumerate() {
        if k > 0 {
            out.push_str(if in_code { "</code>" } else { "<code>" });
            in_code = !in_code;
        }
        if in_code {
            out.push_str(part);
        } else {
            let mut bold = false;
            for (j, piece) in part.split("**").enumerate() {
                if j > 0 {
                    out.push_str(if bold { "</strong>" } else { "<strong>" });
                    bold = !bold;
                }
                out.push_str(piece);
            }
            if bold {
                out.push_str("</strong>");
            }
        }
    }
    if in_code {
        out.push_str("</code>");
    }
    out
}

/// Cells of a Markdown table row (`\|` is a literal bar).
fn cells(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
    let mut cells = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cells.last_mut().expect("one cell").push('|');
                chars.next();
            }
            '|' => cells.push(String::new()),
            _ => cells.last_mut().expect("one cell").push(c),
        }
    }
    cells.into_iter().map(|c| c.trim().to_string()).collect()
}

/// Converts the report's Markdown subset to HTML (pure).
pub fn markdown_to_html(md: &str) -> String {
    let mut out = String::new();
    let mut lines = md.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("### ") {
            let _ = writeln!(out, "<h3>{}</h3>", inline(rest));
        } else if let Some(rest) = line.strip_prefix("## ") {
            let _ = writeln!(out, "<h2>{}</h2>", inline(rest));
        } else if let Some(rest) = line.strip_prefix("# ") {
            let _ = writeln!(out, "<h1>{}</h1>", inline(rest));
        } else if line.starts_with("```") {
            out.push_str("<pre>");
            for code in lines.by_ref() {
                if code.starts_with("```") {
                    break;
                }
                out.push_str(&escape(code));
                out.push('\n');
            }
            out.push_str("</pre>\n");
        } else if let Some(rest) = line.strip_prefix("> ") {
            let _ = writeln!(out, "<blockquote>{}</blockquote>", inline(rest));
        } else if line.starts_with("- ") {
            out.push_str("<ul>\n");
            let mut item = Some(line);
            while let Some(l) = item {
                let _ = writeln!(out, "<li>{}</li>", inline(&l[2..]));
                item = lines.next_if(|n| n.starts_with("- "));
            }
            out.push_str("</ul>\n");
        } else if line.starts_with('|') {
            out.push_str("<table>\n");
            let head = cells(line);
            let _ = writeln!(
                out,
                "<tr>{}</tr>",
                head.iter()
                    .map(|c| format!("<th>{}</th>", inline(c)))
                    .collect::<String>()
            );
            lines.next_if(|n| n.starts_with("|-") || n.starts_with("|:"));
            while let Some(row) = lines.next_if(|n| n.starts_with('|')) {
                let _ = writeln!(
                    out,
                    "<tr>{}</tr>",
                    cells(row)
                        .iter()
                        .map(|c| format!("<td>{}</td>", inline(c)))
                        .collect::<String>()
                );
            }
            out.push_str("</table>\n");
        } else if !line.trim().is_empty() {
            let _ = writeln!(out, "<p>{}</p>", inline(line));
        }
    }
    out
}

/// The charts of a report, as inline SVG (pure).
pub fn charts(input: &ReportInput<'_>) -> Vec<String> {
    let mut charts = Vec::new();
    for scenario in &input.run.scenarios {
        if let [step] = scenario.steps.as_slice() {
            let l = StepSummary::of(step).latency_ms;
            if l.count > 0 {
                charts.push(svg::bar_chart(
                    &format!("{}: latency percentiles", scenario.name),
                    "ms",
                    &[
                        ("p50".into(), l.p50),
                        ("p90".into(), l.p90),
                        ("p99".into(), l.p99),
                        ("p99.9".into(), l.p999),
                        ("max".into(), l.max),
                    ],
                ));
            }
        }
    }
    for sweep in &input.sweeps {
        let (Ok(fit), Some(scenario)) = (
            &sweep.fit,
            input
                .run
                .scenarios
                .iter()
                .find(|s| s.name == sweep.scenario),
        ) else {
            continue;
        };
        let points = sweep::fit_points(&sweep::points_of(&scenario.steps));
        charts.push(svg::usl_chart(
            &format!("{}: throughput and the USL fit", sweep.scenario),
            &points,
            fit,
            sweep.unit,
        ));
    }
    for scenario in &input.run.scenarios {
        let mut host = Vec::new();
        let mut target = Vec::new();
        let mut spans = Vec::new();
        let mut offset = 0.0;
        for step in &scenario.steps {
            let Some(r) = &step.resources else { continue };
            for sample in &r.samples {
                host.push((offset + sample.offset_s, sample.host_cpu_busy_pct));
                if let Some(cpu) = sample.target_cpu_pct {
                    target.push((offset + sample.offset_s, cpu));
                }
            }
            spans.push((offset, offset + r.wall_s, format!("N={}", step.concurrency)));
            offset += r.wall_s;
        }
        if host.len() < 2 {
            continue;
        }
        let mut series = vec![Series {
            name: "host CPU busy %".into(),
            points: host,
        }];
        if target.len() >= 2 {
            series.push(Series {
                name: "target CPU % of a core".into(),
                points: target,
            });
        }
        charts.push(svg::line_chart(
            &format!("{}: CPU during the load steps", scenario.name),
            "seconds",
            "%",
            &series,
            &spans,
        ));
    }
    if let Some(plan) = &input.plan {
        if plan.utilisation.iter().any(|s| s.points.len() >= 2) {
            charts.push(svg::line_chart(
                &format!("Utilisation of each component vs {}", plan.driver),
                &plan.driver,
                "% of capacity",
                &plan.utilisation,
                &[],
            ));
        }
    }
    for (metric, values) in &input.history_series {
        if values.len() >= 2 {
            charts.push(svg::line_chart(
                &format!("{metric} over the last {} runs", values.len()),
                "run (oldest first)",
                metric,
                &[Series {
                    name: metric.clone(),
                    points: values
                        .iter()
                        .enumerate()
                        .map(|(k, v)| ((k + 1) as f64, *v))
                        .collect(),
                }],
                &[],
            ));
        }
    }
    charts
}

/// Renders the self-contained HTML report.
pub fn render(input: &ReportInput<'_>) -> String {
    let body = markdown_to_html(&markdown::render(input));
    let charts = charts(input);
    let mut chart_section = String::new();
    if !charts.is_empty() {
        chart_section.push_str("<h2>Charts</h2>\n");
        for chart in &charts {
            chart_section.push_str(chart);
            chart_section.push('\n');
        }
    }
    let body = match body.find("<h2>Findings</h2>") {
        Some(at) => format!("{}{chart_section}{}", &body[..at], &body[at..]),
        None => body + &chart_section,
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>scalewall report: {}</title><style>{STYLE}</style></head><body>\n{body}</body></html>\n",
        escape(input.run.subject.as_deref().unwrap_or("host"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_markdown_subset_becomes_html() {
        let md = "# Title <x>\n\n- a `b` **c**\n- d\n\n| h1 | h2 |\n|---|---:|\n| x \\| y | 2 |\n\n```text\n<raw>\n```\n> **Interrupted** now\n";
        let html = markdown_to_html(md);
        assert!(html.contains("<h1>Title &lt;x&gt;</h1>"));
        assert!(
            html.contains("<ul>\n<li>a <code>b</code> <strong>c</strong></li>\n<li>d</li>\n</ul>")
        );
        assert!(html.contains("<tr><th>h1</th><th>h2</th></tr>\n<tr><td>x | y</td><td>2</td></tr>"));
        assert!(html.contains("<pre>&lt;raw&gt;\n</pre>"));
        assert!(html.contains("<blockquote><strong>Interrupted</strong> now</blockquote>"));
    }
}
