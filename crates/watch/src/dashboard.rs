//! `/`: the dashboard, server-rendered, self-contained, without
//! JavaScript (it refreshes itself): the job table (interval, last run,
//! duration, errors, status as a text badge, next run), alert channels, the
//! latest findings with their evidence, and a sparkline of each job's
//! throughput over its last runs beside its latest key figures. Pure; its badges, sparklines and
//! stylesheet are the HTML report's ([`scalewall_report::components`]).

use crate::view::{AlertHealth, JobView};
use scalewall_model::Severity;
use scalewall_report::components;
use scalewall_report::html::escape;
use scalewall_stats::number::{count, sig};
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

fn when(unix_s: f64) -> String {
    let at = UNIX_EPOCH + std::time::Duration::from_secs_f64(unix_s.max(0.0));
    humantime::format_rfc3339_seconds(at).to_string()
}

fn relative(at: SystemTime) -> String {
    match at.duration_since(SystemTime::now()) {
        Ok(left) => format!("in {} s", left.as_secs()),
        Err(_) => "due".into(),
    }
}

/// A job's latest key figures, as the engine report lists them: each
/// scenario's throughput, p99 and error share for a load job; the exit code
/// for a command job (plain text).
fn key_figures(j: &JobView) -> String {
    if !j.writes_reports() {
        return j
            .last_run
            .as_ref()
            .and_then(|r| r.exit_code)
            .map_or(String::new(), |code| format!("exit code {code}"));
    }
    let Some(run) = &j.latest else {
        return String::new();
    };
    scalewall_stats::metrics::of_run(run)
        .iter()
        .filter(|m| crate::engine::key_metric(&m.name))
        .map(|m| format!("{} {} {}", m.name, sig(m.value), m.unit))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// One sparkline per job: its name, the metric and the values.
pub type Series = Vec<(String, String, Vec<f64>)>;

/// The page.
pub fn render(jobs: &[JobView], alerts: &[(String, AlertHealth)], series: &Series) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"10\"><meta name=\"color-scheme\" content=\"light dark\"><title>scalewall watch</title><style>{}td,th{{text-align:left}}.num{{text-align:right}}</style></head><body><h1>scalewall watch</h1>",
        components::STYLE
    );
    out.push_str("<h2>Jobs</h2><table><tr><th>job</th><th>every</th><th>last run</th><th class=num>duration</th><th class=num>runs</th><th class=num>errors</th><th class=num>skipped</th><th>status</th><th>next run</th><th>throughput, last runs; latest figures</th></tr>");
    for j in jobs {
        let last = j.last_run.as_ref();
        let status = if j.running {
            "running…".to_string()
        } else {
            String::new()
        };
        let spark = series.iter().find(|(job, _, _)| *job == j.name).map_or(
            String::new(),
            |(_, metric, values)| {
                format!(
                    "{} <small>{}</small><br>",
                    components::sparkline(values, None, metric),
                    escape(metric)
                )
            },
        );
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{} s</td><td>{}</td><td class=num>{}</td><td class=num>{}</td><td class=num>{}</td><td class=num>{}</td><td>{} ×{} {status}</td><td>{}</td><td>{spark}<small>{}</small></td></tr>",
            escape(&j.name),
            sig(j.every_s),
            last.map_or("—".into(), |r| {
                let link = if r.id.is_empty() || !j.writes_reports() {
                    when(r.started_unix_s)
                } else {
                    format!("<a href=\"/reports/{}.html\">{}</a>", escape(&r.id), when(r.started_unix_s))
                };
                match &r.error {
                    Some(e) => format!("{link}<br><small>{}</small>", escape(e)),
                    None => link,
                }
            }),
            last.map_or("—".into(), |r| format!("{} s", sig(r.duration_s))),
            j.state.runs,
            j.state.errors,
            j.state.skipped,
            components::status_badge(j.state.status.as_str()),
            j.state.consecutive,
            j.next_run.map_or("—".into(), relative),
            escape(&key_figures(j)),
        );
    }
    out.push_str("</table>");
    if !alerts.is_empty() {
        out.push_str("<h2>Alert channels</h2><table><tr><th>channel</th><th class=num>sent</th><th class=num>failed</th><th>state</th></tr>");
        for (label, h) in alerts {
            let state = match &h.last_error {
                Some(e) => format!("{} {}", components::status_badge("FAILING"), escape(e)),
                None => components::status_badge("OK"),
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=num>{}</td><td class=num>{}</td><td>{state}</td></tr>",
                escape(label),
                h.sent,
                h.failed
            );
        }
        out.push_str("</table>");
    }
    out.push_str("<h2>Latest findings</h2>");
    let mut any = false;
    for j in jobs {
        let Some(run) = &j.latest else { continue };
        let mut findings: Vec<_> = run
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Medium)
            .collect();
        if findings.is_empty() {
            continue;
        }
        any = true;
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let _ = write!(
            out,
            "<h3>{} ({})</h3><table><tr><th>severity</th><th>subject</th><th>finding</th><th>evidence</th><th>fix</th></tr>",
            escape(&j.name),
            count(findings.len() as u64, "finding", "findings")
        );
        for f in findings {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                components::severity_badge(f.severity),
                escape(&f.subject),
                escape(&f.message),
                escape(&f.evidence),
                escape(&f.fix)
            );
        }
        out.push_str("</table>");
    }
    if !any {
        out.push_str("<p>None at MEDIUM or above.</p>");
    }
    out.push_str("<p><a href=\"/api/status\">/api/status</a> · <a href=\"/metrics\">/metrics</a> · <a href=\"/health\">/health</a></p></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{RunOutcome, StatusState};

    #[test]
    fn the_page_has_the_job_table_badges_and_escapes_names() {
        let job = JobView {
            name: "api<1>".into(),
            every_s: 900.0,
            state: StatusState::default().after(RunOutcome::Failed),
            ..JobView::default()
        };
        let html = render(
            &[job],
            &[],
            &vec![("api<1>".into(), "api.rps".into(), vec![1.0, 2.0, 1.5])],
        );
        assert!(
            html.contains("<td>api&lt;1&gt;</td><td>900 s</td>"),
            "{html}"
        );
        assert!(
            html.contains("<span class=\"badge tone-bad\">FAILING</span> ×1"),
            "{html}"
        );
        assert!(html.contains("<polyline"), "{html}");
        assert!(!html.contains("<script"), "no JavaScript");
    }

    /// A load job's last run links to its report; a command job writes
    /// none, so its run is not a link (it led to a 404).
    #[test]
    fn only_a_load_jobs_run_links_to_a_report() {
        let with_run = |name: &str, kind: &'static str| JobView {
            name: name.into(),
            kind,
            last_run: Some(crate::view::LastRun {
                id: format!("run-of-{name}"),
                started_unix_s: 0.0,
                duration_s: 1.0,
                outcome: RunOutcome::Ok,
                error: None,
                exit_code: Some(0),
                output: None,
            }),
            ..JobView::default()
        };
        let html = render(
            &[with_run("api", "load"), with_run("backup", "command")],
            &[],
            &Vec::new(),
        );
        assert!(html.contains("href=\"/reports/run-of-api.html\""), "{html}");
        assert!(!html.contains("run-of-backup"), "{html}");
        assert!(html.contains("<small>exit code 0</small>"), "{html}");
    }

    /// Each job's latest key figures stand beside its sparkline (the engine
    /// report's test reads the same run: 2,452 req/s).
    #[test]
    fn a_jobs_latest_key_figures_are_shown() {
        let run = scalewall_model::Run::from_json(include_str!(
            "../../../tests/fixtures/report-run.json"
        ))
        .unwrap();
        let job = JobView {
            name: "gateway".into(),
            kind: "load",
            latest: Some(run),
            ..JobView::default()
        };
        let html = render(&[job], &[], &Vec::new());
        assert!(
            html.contains("gw-get.rps 2,452 req/s · gw-get.p99_ms "),
            "{html}"
        );
    }
}
