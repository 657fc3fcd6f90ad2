//! The HTML report: one self-contained page (inline CSS, inline SVG, no
//! scripts, no external assets) laid out for a reader with 30 seconds.
//! The first screen holds the summary: outcome, health score, findings by
//! severity with the worst ones and their evidence, each sweep's scaling
//! wall and what limits it, the capacity plan's first break; then one row
//! of key figures per scenario (every metric in a collapsed block), the
//! findings, a panel per scenario with its tables beside its charts
//! (latency percentiles, throughput and p99 over time, CPU through the
//! steps, the USL curve), the capacity plan, key metrics over the last
//! runs with the baseline marked, the changes, the system's health and
//! the artifacts. Statuses are badges that say their word; dark mode
//! follows `prefers-color-scheme`; the page prints. Pure.

use crate::components::{self, badge, card, details, panel, severity_badge, status_badge, Tone};
use crate::markdown::{self, ReportInput};
use crate::number::{count, pct, sig, sig_n};
use crate::overview::{health_formula, Overview};
use crate::svg::{self, Series};
use scalewall_model::{Finding, RunStatus, Scenario, Step};
use scalewall_stats::compare::{Change, MetricComparison};
use scalewall_stats::summary::StepSummary;
use scalewall_stats::sweep;
use std::fmt::Write as _;

/// Height of the charts inside a scenario panel (they are half the page wide).
const PANEL_CHART_HEIGHT: f64 = 340.0;

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
    convert(md, false)
}

/// [`markdown_to_html`] for a half-page panel: a table of one row (a
/// bench step's eleven figures) stands on its side, a figure a row.
fn panel_html(md: &str) -> String {
    convert(md, true)
}

fn convert(md: &str, single_rows_on_their_side: bool) -> String {
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
            let head = cells(line);
            lines.next_if(|n| n.starts_with("|-") || n.starts_with("|:"));
            let mut rows = Vec::new();
            while let Some(row) = lines.next_if(|n| n.starts_with('|')) {
                rows.push(cells(row));
            }
            out.push_str("<table>\n");
            if let ([row], true) = (rows.as_slice(), single_rows_on_their_side) {
                for (name, value) in head.iter().zip(row) {
                    let _ = writeln!(
                        out,
                        "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
                        inline(name),
                        inline(value)
                    );
                }
            } else {
                let _ = writeln!(
                    out,
                    "<tr>{}</tr>",
                    head.iter()
                        .map(|c| format!("<th scope=\"col\">{}</th>", inline(c)))
                        .collect::<String>()
                );
                for row in rows {
                    let _ = writeln!(
                        out,
                        "<tr>{}</tr>",
                        row.iter()
                            .map(|c| format!("<td>{}</td>", inline(c)))
                            .collect::<String>()
                    );
                }
            }
            out.push_str("</table>\n");
        } else if !line.trim().is_empty() {
            let _ = writeln!(out, "<p>{}</p>", inline(line));
        }
    }
    out
}

/// The capacity plan's status markers (kept beside their word in the
/// Markdown) become badges: the word on its colour, no glyph.
pub fn plan_badges(html: &str) -> String {
    const MARKERS: [&str; 4] = ["🟢", "🟡", "🟠", "🔴"];
    const WORDS: [&str; 4] = ["STRAINED", "CRITICAL", "BREAKS", "OK"];
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some((at, marker)) = MARKERS
        .iter()
        .filter_map(|m| rest.find(m).map(|at| (at, *m)))
        .min()
    {
        out.push_str(&rest[..at]);
        rest = rest[at + marker.len()..].trim_start_matches(' ');
        let end = rest.find(['<', '·']).unwrap_or(rest.len());
        let segment = &rest[..end];
        let word = WORDS
            .iter()
            .filter_map(|w| {
                segment.match_indices(w).find(|(i, _)| {
                    let before = segment[..*i].chars().next_back();
                    let after = segment[i + w.len()..].chars().next();
                    !before.is_some_and(char::is_alphanumeric)
                        && !after.is_some_and(char::is_alphanumeric)
                })
            })
            .min();
        match word {
            Some((i, w)) => {
                out.push_str(&status_badge(w));
                let remainder = format!("{}{}", &segment[..i], &segment[i + w.len()..]);
                let remainder = remainder.trim();
                if !remainder.is_empty() {
                    out.push(' ');
                    out.push_str(remainder);
                }
                if end < rest.len() && rest[end..].starts_with('·') {
                    out.push(' ');
                }
            }
            None => out.push_str(segment),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn latency_chart(scenario: &Scenario, step: &Step) -> Option<String> {
    let l = StepSummary::of(step).latency_ms;
    (l.count > 0).then(|| {
        svg::bar_chart(
            &format!("{}: latency percentiles", scenario.name),
            "ms",
            &[
                ("p50".into(), l.p50),
                ("p90".into(), l.p90),
                ("p95".into(), l.p95),
                ("p99".into(), l.p99),
                ("p99.9".into(), l.p999),
                ("max".into(), l.max),
            ],
        )
    })
}

/// Throughput and p50/p99 over the step, from its per-interval samples.
fn over_time_charts(scenario: &Scenario, step: &Step, unit: &str) -> Vec<String> {
    let full = scalewall_stats::metrics::full_intervals(step);
    if full.len() < 2 {
        return Vec::new();
    }
    let mid = |i: &scalewall_model::Interval| i.offset_s + i.duration_s / 2.0;
    let throughput = Series {
        name: format!("throughput ({unit})"),
        points: full
            .iter()
            .map(|i| (mid(i), i.responses as f64 / i.duration_s))
            .collect(),
    };
    let answered: Vec<_> = full.iter().filter(|i| i.responses > 0).collect();
    let mut charts = vec![svg::line_chart_sized(
        &format!("{}: throughput per interval", scenario.name),
        "seconds",
        unit,
        &[throughput],
        &[],
        PANEL_CHART_HEIGHT,
    )];
    if answered.len() >= 2 {
        charts.push(svg::line_chart_sized(
            &format!("{}: latency per interval", scenario.name),
            "seconds",
            "ms",
            &[
                Series {
                    name: "p50".into(),
                    points: answered
                        .iter()
                        .map(|i| (mid(i), i.p50_us as f64 / 1000.0))
                        .collect(),
                },
                Series {
                    name: "p99".into(),
                    points: answered
                        .iter()
                        .map(|i| (mid(i), i.p99_us as f64 / 1000.0))
                        .collect(),
                },
            ],
            &[],
            PANEL_CHART_HEIGHT,
        ));
    }
    charts
}

/// Host and target CPU through a scenario's steps, each step a shaded span.
fn cpu_chart(scenario: &Scenario) -> Option<String> {
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
        if scenario.steps.len() > 1 {
            spans.push((
                offset,
                offset + r.wall_s,
                markdown::level_label(scenario, step).replace(' ', ""),
            ));
        }
        offset += r.wall_s;
    }
    if host.len() < 2 {
        return None;
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
    Some(svg::line_chart_sized(
        &format!("{}: CPU during the load", scenario.name),
        "seconds",
        "%",
        &series,
        &spans,
        PANEL_CHART_HEIGHT,
    ))
}

/// p50 and p99 at each level of a sweep.
fn latency_by_level_chart(scenario: &Scenario) -> Option<String> {
    let level = |step: &Step| match &scenario.search {
        Some(record) => crate::search::level_of(record, step),
        None => f64::from(step.concurrency),
    };
    let mut summaries: Vec<(f64, StepSummary)> = scenario
        .steps
        .iter()
        .map(|s| (level(s), StepSummary::of(s)))
        .filter(|(_, s)| s.latency_ms.count > 0)
        .collect();
    // A search measures its levels out of order.
    summaries.sort_by(|a, b| a.0.total_cmp(&b.0));
    let x_label = match &scenario.search {
        Some(record) if record.model == "open" => format!("arrival rate ({})", record.unit),
        _ => "concurrency N".to_string(),
    };
    (summaries.len() >= 2).then(|| {
        svg::line_chart_sized(
            &format!("{}: latency at each level", scenario.name),
            &x_label,
            "ms",
            &[
                Series {
                    name: "p50".into(),
                    points: summaries
                        .iter()
                        .map(|(n, s)| (*n, s.latency_ms.p50))
                        .collect(),
                },
                Series {
                    name: "p99".into(),
                    points: summaries
                        .iter()
                        .map(|(n, s)| (*n, s.latency_ms.p99))
                        .collect(),
                },
            ],
            &[],
            PANEL_CHART_HEIGHT,
        )
    })
}

/// The charts of one scenario's panel.
fn scenario_charts(input: &ReportInput<'_>, scenario: &Scenario) -> Vec<String> {
    let unit = crate::number::rate_unit(&scenario.protocol);
    let mut charts = Vec::new();
    match scenario.steps.as_slice() {
        [] => {}
        [step] => {
            charts.extend(latency_chart(scenario, step));
            charts.extend(over_time_charts(scenario, step, unit));
        }
        steps => {
            let section = input.sweeps.iter().find(|s| s.scenario == scenario.name);
            if let Some(Ok(fit)) = section.map(|s| &s.fit) {
                let points = sweep::fit_points(&sweep::points_of(steps));
                charts.push(svg::usl_chart(
                    &format!("{}: throughput and the USL fit", scenario.name),
                    &points,
                    fit,
                    unit,
                ));
            }
            charts.extend(latency_by_level_chart(scenario));
        }
    }
    charts.extend(cpu_chart(scenario));
    charts
}

/// Every chart of a report, in page order (pure).
pub fn charts(input: &ReportInput<'_>) -> Vec<String> {
    let mut charts: Vec<String> = input
        .run
        .scenarios
        .iter()
        .flat_map(|s| scenario_charts(input, s))
        .collect();
    charts.extend(plan_chart(input));
    charts.extend(history_charts(input));
    charts
}

fn plan_chart(input: &ReportInput<'_>) -> Option<String> {
    let plan = input.plan.as_ref()?;
    plan.utilisation
        .iter()
        .any(|s| s.points.len() >= 2)
        .then(|| {
            svg::line_chart(
                &format!("Utilisation of each component vs {}", plan.driver),
                &plan.driver,
                "% of capacity",
                &plan.utilisation,
                &[],
            )
        })
}

/// Where the baseline run stands in a history series, when it is there.
fn baseline_index(input: &ReportInput<'_>, values: &[(String, f64)]) -> Option<usize> {
    let baseline = &input.baseline.as_ref()?.against;
    values.iter().position(|(id, _)| id == baseline)
}

fn history_charts(input: &ReportInput<'_>) -> Vec<String> {
    input
        .history_series
        .iter()
        .filter(|(_, values)| values.len() >= 2)
        .map(|(metric, values)| {
            let spans: Vec<(f64, f64, String)> = baseline_index(input, values)
                .map(|k| {
                    let x = (k + 1) as f64;
                    (x - 0.3, x + 0.3, "baseline".to_string())
                })
                .into_iter()
                .collect();
            svg::line_chart_sized(
                &format!("{metric} over the last {} runs", values.len()),
                "run (oldest first)",
                metric,
                &[Series {
                    name: metric.clone(),
                    points: values
                        .iter()
                        .enumerate()
                        .map(|(k, (_, v))| ((k + 1) as f64, *v))
                        .collect(),
                }],
                &spans,
                PANEL_CHART_HEIGHT,
            )
        })
        .collect()
}

fn outcome_word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Completed => "COMPLETED",
        RunStatus::Interrupted => "INTERRUPTED",
        RunStatus::Failed => "FAILED",
    }
}

fn decision_badge(c: &MetricComparison) -> String {
    let (word, tone) = match c.change {
        Change::Improved => ("IMPROVED", Tone::Good),
        Change::Regressed => ("REGRESSED", Tone::Bad),
        Change::Unchanged => ("UNCHANGED", Tone::Neutral),
        Change::Untested => ("UNTESTED", Tone::Neutral),
        Change::WithinNoise => ("WITHIN NOISE", Tone::Neutral),
        Change::NoiseUnknown => ("NOISE UNKNOWN", Tone::Neutral),
    };
    let p = c.test.map_or(String::new(), |t| {
        format!(" <small>p = {}</small>", sig_n(t.p_value, 2))
    });
    format!(
        "{} {}{p}",
        escape(&crate::number::change(c.relative_change)),
        badge(word, tone)
    )
}

fn findings_table(findings: &[&Finding]) -> String {
    // Records written before findings carried a fix render as they did.
    let fixes = findings.iter().any(|f| !f.fix.is_empty());
    let mut out = String::from("<table><tr><th scope=\"col\">severity</th><th scope=\"col\" class=\"text\">subject</th><th scope=\"col\" class=\"text\">finding</th><th scope=\"col\" class=\"text\">evidence</th>");
    if fixes {
        out.push_str("<th scope=\"col\" class=\"text\">fix</th>");
    }
    out.push_str("</tr>");
    for f in findings {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"text\"><code>{}</code></td><td class=\"text\">{}</td><td class=\"text\">{}</td>",
            severity_badge(f.severity),
            escape(&f.subject),
            escape(&f.message),
            escape(&f.evidence)
        );
        if fixes {
            let _ = write!(out, "<td class=\"text\">{}</td>", escape(&f.fix));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>\n");
    out
}

fn header(out: &mut String, input: &ReportInput<'_>) {
    let run = input.run;
    let _ = writeln!(
        out,
        "<header><h1>scalewall report: {}</h1><p class=\"meta\">{} · run <code>{}</code> · {} → {} · scalewall {} · host {} ({}, {} {})</p></header>",
        escape(run.subject.as_deref().unwrap_or("host")),
        status_badge(outcome_word(run.status)),
        escape(&run.id),
        escape(&run.started_at),
        escape(&run.finished_at),
        escape(&run.tool.version),
        escape(&run.host.hostname),
        count(u64::from(run.host.cores), "core", "cores"),
        escape(&run.host.os),
        escape(&run.host.kernel),
    );
    if run.status == RunStatus::Interrupted {
        out.push_str("<blockquote><strong>Interrupted</strong> (Ctrl-C): the figures below cover what was measured before the stop.</blockquote>\n");
    }
}

fn summary(out: &mut String, input: &ReportInput<'_>, overview: &Overview<'_>) {
    let run = input.run;
    out.push_str(
        "<section id=\"summary\" class=\"summary\" aria-label=\"Summary\"><div class=\"cards\">",
    );
    let duration = run
        .scenarios
        .iter()
        .flat_map(|s| &s.steps)
        .map(|s| s.generator_wall_s)
        .sum::<f64>();
    out.push_str(&card(
        "Outcome",
        &status_badge(outcome_word(run.status)),
        &format!(
            "{} · {} s of load",
            count(run.scenarios.len() as u64, "scenario", "scenarios"),
            sig_n(duration, 3)
        ),
    ));
    let score = overview.health_score;
    let tone = if score >= 8.0 {
        Tone::Good
    } else if score >= 5.0 {
        Tone::Warn
    } else {
        Tone::Bad
    };
    let word = match tone {
        Tone::Good => "GOOD",
        Tone::Warn => "FAIR",
        _ => "POOR",
    };
    out.push_str(&card(
        "Health score",
        &format!("{} / 10 {}", sig_n(score, 2), badge(word, tone)),
        &escape(&health_formula()),
    ));
    let counts = if overview.counts.is_empty() {
        badge("NONE", Tone::Good)
    } else {
        overview
            .counts
            .iter()
            .map(|(s, n)| format!("{n} {}", severity_badge(*s)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    out.push_str(&card(
        "Findings",
        &counts,
        &count(run.findings.len() as u64, "finding", "findings"),
    ));
    match &input.previous {
        Some(changes) => {
            let n = |c: Change| changes.comparisons.iter().filter(|x| x.change == c).count();
            let regressed = n(Change::Regressed);
            let value = if regressed > 0 {
                format!("{regressed} {}", badge("REGRESSED", Tone::Bad))
            } else {
                badge("NO REGRESSION", Tone::Good)
            };
            out.push_str(&card(
                "Since the previous run",
                &value,
                &format!(
                    "{} improved, {} unchanged, {} untested · vs <code>{}</code>",
                    n(Change::Improved),
                    n(Change::Unchanged),
                    n(Change::Untested),
                    escape(&changes.against)
                ),
            ));
        }
        None => out.push_str(&card(
            "Since the previous run",
            &badge("FIRST RUN", Tone::Neutral),
            "nothing to compare with yet",
        )),
    }
    if let Some(plan) = &overview.plan {
        let value = match &plan.first_break {
            Some((_, at)) => format!("~{} {}", escape(&sig_n(*at, 3)), escape(&plan.driver)),
            None => badge("HOLDS", Tone::Good),
        };
        let mut detail = match &plan.first_break {
            Some((component, _)) => format!("<code>{}</code> breaks first", escape(component)),
            None => "no component breaks within the planned scales".into(),
        };
        if let Some(today) = plan.today {
            let _ = write!(
                detail,
                " · today {} {}",
                escape(&sig(today)),
                escape(&plan.driver)
            );
        }
        match &plan.worst_today {
            Some((_, status)) if status == "OK" => {
                let _ = write!(detail, ", every component {}", status_badge("OK"));
            }
            Some((component, status)) => {
                let _ = write!(
                    detail,
                    ", <code>{}</code> {}",
                    escape(component),
                    status_badge(status)
                );
            }
            None => {}
        }
        out.push_str(&card("Capacity plan", &value, &detail));
    }
    out.push_str("</div>\n");
    if !overview.top_findings.is_empty() {
        let more = run.findings.len() - overview.top_findings.len();
        let _ = write!(
            out,
            "<h2 id=\"top-findings\">Top findings</h2>{}",
            findings_table(&overview.top_findings)
        );
        if more > 0 {
            let _ = write!(
                out,
                "<p><a href=\"#findings\">{} more in Findings</a></p>",
                more
            );
        }
    }
    let mut verdicts = Vec::new();
    for wall in &overview.walls {
        verdicts.push(format!(
            "<li><strong>Scaling wall of <code>{}</code></strong>: {}</li>",
            escape(&wall.scenario),
            inline(&markdown::wall_sentence(wall))
        ));
    }
    for (scenario, verdict) in &overview.searches {
        verdicts.push(format!(
            "<li><strong>Search of <code>{}</code></strong>: {}</li>",
            escape(scenario),
            escape(verdict)
        ));
    }
    if let Some(plan) = &overview.plan {
        verdicts.push(format!(
            "<li><strong>Capacity plan</strong>: {}</li>",
            inline(&markdown::plan_sentence(plan))
        ));
    }
    for (metric, trend, runs) in &input.trends {
        if *trend != scalewall_stats::compare::Trend::Stable {
            verdicts.push(format!(
                "<li>Trend of <code>{}</code> over the last {runs} runs: {}</li>",
                escape(metric),
                status_badge(&format!("{trend:?}").to_uppercase())
            ));
        }
    }
    if !verdicts.is_empty() {
        let _ = write!(out, "<h2>Verdicts</h2><ul>{}</ul>", verdicts.concat());
    }
    out.push_str("</section>\n");
}

fn key_metrics(out: &mut String, input: &ReportInput<'_>, overview: &Overview<'_>) {
    out.push_str("<section id=\"key-metrics\"><h2>Key metrics</h2>");
    if overview.rows.is_empty() {
        out.push_str("<p>No load was measured.</p>");
    } else {
        out.push_str("<table><tr><th scope=\"col\">scenario</th><th scope=\"col\" class=\"text\">kind</th><th scope=\"col\">throughput</th><th scope=\"col\">p50</th><th scope=\"col\">p99</th><th scope=\"col\">errors</th><th scope=\"col\">throughput vs previous</th><th scope=\"col\">p99 vs previous</th><th scope=\"col\">last runs</th></tr>");
        for row in &overview.rows {
            let kind = match row.at_level {
                Some(n) => format!("{} (best: N = {n})", row.kind),
                None => row.kind.clone(),
            };
            let metric = match row.at_level {
                Some(_) => format!("{}.max_rps", row.scenario),
                None => format!("{}.rps", row.scenario),
            };
            let spark = input
                .history_series
                .iter()
                .find(|(m, _)| *m == metric)
                .map_or(String::new(), |(m, values)| {
                    let v: Vec<f64> = values.iter().map(|(_, v)| *v).collect();
                    components::sparkline(&v, baseline_index(input, values), m)
                });
            let errors = if row.errors > 0 {
                format!(
                    "{} ({}) {}",
                    crate::number::group(row.errors),
                    pct(row.error_pct),
                    badge("ERRORS", Tone::Bad)
                )
            } else {
                "0".into()
            };
            let _ = write!(
                out,
                "<tr><td><a href=\"#scenario-{id}\">{}</a></td><td class=\"text\">{}</td><td class=\"num\">{} {}</td><td class=\"num\">{} ms</td><td class=\"num\">{} ms</td><td class=\"num\">{errors}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{spark}</td></tr>",
                escape(&row.scenario),
                escape(&kind),
                sig(row.throughput),
                row.unit,
                sig(row.p50_ms),
                sig(row.p99_ms),
                row.throughput_change.as_ref().map_or("-".into(), decision_badge),
                row.p99_change.as_ref().map_or("-".into(), decision_badge),
                id = escape(&row.scenario)
            );
        }
        out.push_str("</table>\n");
    }
    let breached: Vec<String> = input
        .statuses
        .iter()
        .filter(|(_, s)| **s != markdown::Status::Ok)
        .map(|(name, s)| {
            let word = if *s == markdown::Status::Critical {
                "CRITICAL"
            } else {
                "WARNING"
            };
            format!("<code>{}</code> {}", escape(name), status_badge(word))
        })
        .collect();
    if !input.statuses.is_empty() {
        let _ = write!(
            out,
            "<p>Thresholds: {} checked; {}</p>",
            input.statuses.len(),
            if breached.is_empty() {
                badge("ALL OK", Tone::Good)
            } else {
                format!("past their limits: {}", breached.join(", "))
            }
        );
    }
    if !input.metrics.is_empty() {
        let _ = write!(
            out,
            "<p><a href=\"#all-metrics\">Every metric ({})</a>, with its threshold status and its change.</p>",
            count(input.metrics.len() as u64, "metric", "metrics")
        );
    }
    out.push_str("</section>\n");
}

/// `All metrics`: every named metric, collapsed.
fn all_metrics(out: &mut String, input: &ReportInput<'_>) {
    if !input.metrics.is_empty() {
        let mut table = String::new();
        let previous = input.previous_by_metric();
        table.push_str("<table><tr><th scope=\"col\">metric</th><th scope=\"col\">value</th><th scope=\"col\">status</th><th scope=\"col\">vs previous</th></tr>");
        for m in input.metrics {
            let status = match input.statuses.get(&m.name) {
                Some(markdown::Status::Ok) => status_badge("OK"),
                Some(markdown::Status::Warning) => status_badge("WARNING"),
                Some(markdown::Status::Critical) => status_badge("CRITICAL"),
                None => "-".into(),
            };
            let _ = write!(
                table,
                "<tr><td><code>{}</code></td><td>{} {}</td><td>{status}</td><td>{}</td></tr>",
                escape(&m.name),
                sig(m.value),
                escape(m.unit),
                previous
                    .get(m.name.as_str())
                    .map_or("-".into(), |c| decision_badge(c))
            );
        }
        table.push_str("</table>");
        let _ = writeln!(
            out,
            "<section id=\"all-metrics\"><h2>All metrics</h2>{}</section>",
            details(
                &format!(
                    "{} with their status and change",
                    count(input.metrics.len() as u64, "metric", "metrics")
                ),
                &table,
            )
        );
    }
}

fn findings(out: &mut String, input: &ReportInput<'_>) {
    out.push_str("<section id=\"findings\"><h2>Findings</h2>");
    if input.run.findings.is_empty() {
        out.push_str("<p>None.</p>");
    } else {
        let mut all: Vec<&Finding> = input.run.findings.iter().collect();
        all.sort_by_key(|f| std::cmp::Reverse(f.severity));
        out.push_str(&findings_table(&all));
    }
    out.push_str("</section>\n");
}

fn scenarios(out: &mut String, input: &ReportInput<'_>) {
    if input.run.scenarios.is_empty() {
        return;
    }
    out.push_str("<section id=\"scenarios\"><h2>Scenarios</h2>");
    for scenario in &input.run.scenarios {
        let mut body = panel_html(&markdown::scenario_body(input, scenario));
        if let Some(section) = input.sweeps.iter().find(|s| s.scenario == scenario.name) {
            body.push_str(&panel_html(&markdown::sweep_body(input, section)));
        }
        let resources = markdown::resource_lines(scenario);
        if !resources.is_empty() {
            body.push_str("<h4>Resources during the load</h4>");
            body.push_str(&panel_html(&resources.join("\n")));
        }
        let kind = if scenario.steps.len() > 1 {
            badge("SWEEP", Tone::Neutral)
        } else {
            badge("BENCH", Tone::Neutral)
        };
        out.push_str(&panel(
            &format!("scenario-{}", scenario.name),
            &format!("{} {kind}", escape(&scenario.name)),
            &body,
            &scenario_charts(input, scenario),
        ));
    }
    out.push_str("</section>\n");
}

fn plan(out: &mut String, input: &ReportInput<'_>) {
    let Some(plan) = &input.plan else { return };
    out.push_str("<section id=\"capacity-plan\">");
    out.push_str(&plan_badges(&markdown_to_html(&plan.markdown)));
    if let Some(chart) = plan_chart(input) {
        let _ = write!(out, "<figure>{chart}</figure>");
    }
    out.push_str("</section>\n");
}

fn history(out: &mut String, input: &ReportInput<'_>) {
    let charts = history_charts(input);
    if charts.is_empty() {
        return;
    }
    out.push_str("<section id=\"history\"><h2>Over the last runs</h2>");
    if let Some(baseline) = &input.baseline {
        let _ = write!(
            out,
            "<p>The shaded run is the baseline, <code>{}</code>.</p>",
            escape(&baseline.against)
        );
    }
    out.push_str("<div class=\"panel-body\">");
    for chart in charts {
        let _ = write!(out, "<figure>{chart}</figure>");
    }
    out.push_str("</div></section>\n");
}

fn changes(out: &mut String, input: &ReportInput<'_>) {
    for (title, changes) in [
        ("Changes since the last run", &input.previous),
        ("Changes since the baseline", &input.baseline),
    ] {
        let Some(changes) = changes else { continue };
        let mut table = String::from("<p>Each metric's per-second samples compared with the two-sided Mann–Whitney U test; a change counts when p &lt; 0.05 and the whole-run value moved by at least 5 %, and then only past the subject's run-to-run noise (3 robust σ of its last 10 completed runs; “noise unknown” with fewer than 5).</p><table><tr><th scope=\"col\">metric</th><th scope=\"col\">before</th><th scope=\"col\">after</th><th scope=\"col\">change</th><th scope=\"col\">samples</th></tr>");
        for c in &changes.comparisons {
            let _ = write!(
                table,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td></tr>",
                escape(&c.metric),
                sig(c.before),
                sig(c.after),
                decision_badge(c),
                c.samples[0],
                c.samples[1]
            );
        }
        table.push_str("</table>");
        let regressed = changes
            .comparisons
            .iter()
            .filter(|c| c.change == Change::Regressed)
            .count();
        let _ = writeln!(
            out,
            "<section><h2>{title} (<code>{}</code>)</h2>{}</section>",
            escape(&changes.against),
            details(
                &format!(
                    "{} compared, {regressed} regressed",
                    count(changes.comparisons.len() as u64, "metric", "metrics")
                ),
                &table
            )
        );
    }
}

/// Renders the self-contained HTML report.
pub fn render(input: &ReportInput<'_>) -> String {
    let overview = Overview::of(input);
    let mut body = String::new();
    header(&mut body, input);
    summary(&mut body, input, &overview);
    key_metrics(&mut body, input, &overview);
    findings(&mut body, input);
    scenarios(&mut body, input);
    plan(&mut body, input);
    history(&mut body, input);
    changes(&mut body, input);
    all_metrics(&mut body, input);
    if let Some(health) = &input.health_text {
        let _ = writeln!(
            body,
            "<section id=\"system-health\"><h2>System health</h2><pre>{}</pre></section>",
            escape(health)
        );
    }
    if !input.artifacts.is_empty() {
        body.push_str("<section id=\"artifacts\"><h2>Artifacts</h2><ul>");
        for a in &input.artifacts {
            let _ = write!(body, "<li><code>{}</code></li>", escape(a));
        }
        body.push_str("</ul></section>\n");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"color-scheme\" content=\"light dark\"><title>scalewall report: {}</title><style>{}</style></head><body>\n{body}</body></html>\n",
        escape(input.run.subject.as_deref().unwrap_or("host")),
        components::STYLE
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
        assert!(html.contains(
            "<tr><th scope=\"col\">h1</th><th scope=\"col\">h2</th></tr>\n<tr><td>x | y</td><td>2</td></tr>"
        ));
        assert!(html.contains("<pre>&lt;raw&gt;\n</pre>"));
        assert!(html.contains("<blockquote><strong>Interrupted</strong> now</blockquote>"));
    }

    #[test]
    fn plan_markers_become_badges_that_say_their_word() {
        let html = markdown_to_html(
            "Status: 🟢 OK < 60 % · 🔴 BREAKS ≥ 100 % (or past the USL peak).\n\n| component | today | x2 |\n|---|---|---|\n| api | 🟡 72 % STRAINED | 🔴 130 % BREAKS |\n",
        );
        let html = plan_badges(&html);
        for marker in ["🟢", "🟡", "🟠", "🔴"] {
            assert!(!html.contains(marker), "{html}");
        }
        assert!(
            html.contains("Status: <span class=\"badge tone-good\">OK</span> &lt; 60 % · <span class=\"badge tone-bad\">BREAKS</span> ≥ 100 % (or past the USL peak)."),
            "{html}"
        );
        assert!(
            html.contains("<td><span class=\"badge tone-warn\">STRAINED</span> 72 %</td>"),
            "{html}"
        );
    }

    #[test]
    fn the_summary_comes_before_every_long_table_and_no_status_is_a_glyph() {
        use scalewall_model::{Finding, Run, Severity};
        let run = Run {
            id: "r1".into(),
            subject: Some("shop".into()),
            findings: (0..8)
                .map(|k| Finding {
                    severity: if k == 3 {
                        Severity::Critical
                    } else {
                        Severity::Low
                    },
                    subject: format!("s{k}"),
                    message: format!("finding {k}"),
                    evidence: format!("evidence <{k}>"),
                    fix: if k == 3 {
                        "raise <it>".into()
                    } else {
                        String::new()
                    },
                })
                .collect(),
            ..Run::default()
        };
        let input = ReportInput::bare(&run, &[]);
        let html = render(&input);
        let summary = html.find("id=\"summary\"").unwrap();
        let score = html.find("Health score").unwrap();
        let top = html.find("id=\"top-findings\"").unwrap();
        let all = html.find("id=\"findings\"").unwrap();
        assert!(summary < score && score < top && top < all);
        // 10 − 4 − 7 × 0.25 = 4.25, shown to two significant digits.
        assert!(
            html.contains("4.3 / 10 <span class=\"badge tone-bad\">POOR</span>"),
            "{html}"
        );
        // The top findings: the CRITICAL one first, five in all.
        let top_table = &html[top..all];
        assert_eq!(top_table.matches("<tr><td><span class=\"badge").count(), 5);
        assert!(top_table.find("CRITICAL").unwrap() < top_table.find("LOW").unwrap());
        assert!(top_table.contains("evidence &lt;3&gt;"));
        assert!(top_table.contains("<td class=\"text\">raise &lt;it&gt;</td>"));
        assert!(html.contains("3 more in Findings"));
        assert!(!html.contains("<script"));
    }
}
