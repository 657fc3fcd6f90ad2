//! `/metrics`: the jobs in the Prometheus text exposition format (pure).
//!
//! Names follow the Prometheus conventions: a `scalewall_` prefix, base
//! units (seconds, ratios), `_total` for counters, one `# HELP` and
//! `# TYPE` per family, label values escaped (`\\`, `\"`, `\n`). A job's
//! status is one series per status with value 1 for the current one.

use crate::status::JobStatus;
use crate::view::{unix_s, JobView};
use scalewall_model::Severity;
use scalewall_stats::summary::StepSummary;
use scalewall_stats::sweep;
use std::fmt::Write as _;

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One metric family being written.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn start<'o>(out: &'o mut String, name: &str, kind: &str, help: &str) -> Family<'o> {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        if !value.is_finite() {
            return;
        }
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        let _ = writeln!(self.out, "{name}{{{}}} {value}", labels.join(","));
    }
}

const STATUSES: [JobStatus; 5] = [
    JobStatus::Pending,
    JobStatus::Ok,
    JobStatus::Recovering,
    JobStatus::Failing,
    JobStatus::Timeout,
];

/// A counter of a job.
type JobFigure = fn(&JobView) -> f64;
/// A gauge of a job, when known.
type JobGauge = fn(&JobView) -> Option<f64>;

/// The exposition of every job.
pub fn render(jobs: &[JobView]) -> String {
    let mut out = String::new();
    let name = "scalewall_job_status";
    let mut f = Family::start(
        &mut out,
        name,
        "gauge",
        "1 for the job's current status (OK, RECOVERING, FAILING, TIMEOUT, PENDING).",
    );
    for j in jobs {
        for s in STATUSES {
            f.sample(
                name,
                &[("job", j.name.as_str()), ("status", s.as_str())],
                f64::from(u8::from(j.state.status == s)),
            );
        }
    }
    let counters: [(&str, &str, JobFigure); 3] = [
        (
            "scalewall_job_runs_total",
            "Runs of the job since the daemon started.",
            |j| j.state.runs as f64,
        ),
        (
            "scalewall_job_errors_total",
            "Runs that failed or timed out since the daemon started.",
            |j| j.state.errors as f64,
        ),
        (
            "scalewall_job_skipped_total",
            "Due runs skipped because the previous run was still going.",
            |j| j.state.skipped as f64,
        ),
    ];
    for (name, help, value) in counters {
        let mut f = Family::start(&mut out, name, "counter", help);
        for j in jobs {
            f.sample(name, &[("job", j.name.as_str())], value(j));
        }
    }
    let gauges: [(&str, &str, JobGauge); 4] = [
        (
            "scalewall_job_consecutive",
            "Runs in a row with the current status.",
            |j| Some(f64::from(j.state.consecutive)),
        ),
        (
            "scalewall_job_last_run_timestamp_seconds",
            "Start of the job's last run, Unix time.",
            |j| j.last_run.as_ref().map(|r| r.started_unix_s),
        ),
        (
            "scalewall_job_last_run_duration_seconds",
            "Wall time of the job's last run.",
            |j| j.last_run.as_ref().map(|r| r.duration_s),
        ),
        (
            "scalewall_job_next_run_timestamp_seconds",
            "When the job runs next, Unix time.",
            |j| j.next_run.map(unix_s),
        ),
    ];
    for (name, help, value) in gauges {
        let mut f = Family::start(&mut out, name, "gauge", help);
        for j in jobs {
            if let Some(v) = value(j) {
                f.sample(name, &[("job", j.name.as_str())], v);
            }
        }
    }
    scenario_families(&mut out, jobs);
    let name = "scalewall_findings";
    let mut f = Family::start(
        &mut out,
        name,
        "gauge",
        "Findings of the job's last run by severity.",
    );
    for j in jobs {
        let Some(run) = &j.latest else { continue };
        for severity in [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ] {
            let n = run
                .findings
                .iter()
                .filter(|x| x.severity == severity)
                .count();
            let label = format!("{severity:?}").to_uppercase();
            f.sample(
                name,
                &[("job", j.name.as_str()), ("severity", label.as_str())],
                n as f64,
            );
        }
    }
    out
}

/// Per scenario of each job's last run: throughput, latency quantiles,
/// error ratio (one-step scenarios, or a sweep's highest level), and the
/// USL parameters of sweeps.
fn scenario_families(out: &mut String, jobs: &[JobView]) {
    type Figure = fn(&StepSummary) -> f64;
    let figures: [(&str, &str, Figure); 4] = [
        (
            "scalewall_scenario_throughput_per_second",
            "Operations per second of the scenario's last step.",
            |s| s.rps,
        ),
        (
            "scalewall_scenario_latency_p50_seconds",
            "Median latency of the scenario's last step.",
            |s| s.latency_ms.p50 / 1e3,
        ),
        (
            "scalewall_scenario_latency_p99_seconds",
            "99th percentile latency of the scenario's last step.",
            |s| s.latency_ms.p99 / 1e3,
        ),
        (
            "scalewall_scenario_error_ratio",
            "Share of operations that failed in the scenario's last step.",
            |s| s.error_ratio,
        ),
    ];
    for (name, help, figure) in figures {
        let mut f = Family::start(out, name, "gauge", help);
        for j in jobs {
            let Some(run) = &j.latest else { continue };
            for scenario in &run.scenarios {
                if let Some(step) = scenario.steps.last() {
                    f.sample(
                        name,
                        &[
                            ("job", j.name.as_str()),
                            ("scenario", scenario.name.as_str()),
                        ],
                        figure(&StepSummary::of(step)),
                    );
                }
            }
        }
    }
    type UslFigure = fn(&scalewall_stats::usl::UslFit) -> Option<f64>;
    let usl: [(&str, &str, UslFigure); 5] = [
        (
            "scalewall_usl_sigma",
            "USL contention σ of the scenario's sweep.",
            |f| Some(f.sigma),
        ),
        (
            "scalewall_usl_kappa",
            "USL coherency κ of the scenario's sweep.",
            |f| Some(f.kappa),
        ),
        (
            "scalewall_usl_lambda",
            "USL single-client throughput λ, operations per second.",
            |f| Some(f.lambda),
        ),
        (
            "scalewall_usl_peak_concurrency",
            "USL peak concurrency N*.",
            |f| f.peak_concurrency(),
        ),
        (
            "scalewall_usl_peak_throughput_per_second",
            "USL throughput at the peak X(N*), operations per second.",
            |f| f.peak_throughput(),
        ),
    ];
    for (name, help, figure) in usl {
        let mut f = Family::start(out, name, "gauge", help);
        for j in jobs {
            let Some(run) = &j.latest else { continue };
            for scenario in run.scenarios.iter().filter(|s| s.steps.len() > 2) {
                if let Ok(fit) = sweep::analyse(sweep::points_of(&scenario.steps)).fit {
                    if let Some(v) = figure(&fit) {
                        f.sample(
                            name,
                            &[
                                ("job", j.name.as_str()),
                                ("scenario", scenario.name.as_str()),
                            ],
                            v,
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{RunOutcome, StatusState};

    #[test]
    fn families_have_help_type_and_escaped_labels() {
        let job = JobView {
            name: "a\"b".into(),
            state: StatusState::default().after(RunOutcome::Failed),
            ..JobView::default()
        };
        let text = render(&[job]);
        assert!(
            text.contains("# TYPE scalewall_job_runs_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("scalewall_job_status{job=\"a\\\"b\",status=\"FAILING\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("scalewall_job_status{job=\"a\\\"b\",status=\"OK\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("scalewall_job_errors_total{job=\"a\\\"b\"} 1\n"),
            "{text}"
        );
        // Every sample's family was declared before it.
        let mut declared = std::collections::BTreeSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.insert(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let family = line.split('{').next().unwrap();
                assert!(declared.contains(family), "{line}");
            }
        }
    }
}
