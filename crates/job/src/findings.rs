//! The findings policy: which measurements become findings, at which
//! severity, and what the worst one means for a CI gate. Pure functions of
//! metrics, thresholds, snapshots and earlier values.

use crate::config::{Direction, Threshold};
use scalewall_model::health::{HealthStatus, Snapshot};
use scalewall_model::{Finding, Severity};
use scalewall_report::markdown::Status;
use scalewall_stats::metrics::Metric;
use scalewall_stats::number::{count, pct, sig};
use std::collections::BTreeMap;

/// The exit code a CI gate reads for the worst finding: 0 none or LOW,
/// 3 MEDIUM, 4 HIGH, 5 CRITICAL (the binary's exit-code table uses this).
pub fn gate_code(worst: Option<Severity>) -> u8 {
    match worst {
        None | Some(Severity::Low) => 0,
        Some(Severity::Medium) => 3,
        Some(Severity::High) => 4,
        Some(Severity::Critical) => 5,
    }
}

/// The exit code for the worst of `findings` (see [`gate_code`]).
pub fn exit_code_for(findings: &[Finding]) -> u8 {
    gate_code(worst(findings))
}

/// The worst severity among `findings`.
pub fn worst(findings: &[Finding]) -> Option<Severity> {
    findings.iter().map(|f| f.severity).max()
}

/// Threshold statuses and the findings of breaches (pure).
pub fn check_thresholds(
    metrics: &[Metric],
    thresholds: &[Threshold],
) -> (BTreeMap<String, Status>, Vec<Finding>) {
    let mut statuses = BTreeMap::new();
    let mut findings = Vec::new();
    for t in thresholds {
        let Some(m) = metrics.iter().find(|m| m.name == t.metric) else {
            findings.push(Finding {
                severity: Severity::Low,
                subject: t.metric.clone(),
                message: "a threshold names a metric this run did not measure".into(),
                evidence: format!("no metric '{}' in this run", t.metric),
            });
            continue;
        };
        if !m.complete {
            findings.push(Finding {
                severity: Severity::Low,
                subject: t.metric.clone(),
                message: format!("{} was not measured: its step did not run to its end", m.name),
                evidence: format!(
                    "{} {} from a partial step (interrupted or stopped); not judged against the threshold",
                    sig(m.value),
                    m.unit
                ),
            });
            continue;
        }
        let breached = |limit: f64| match t.direction {
            Direction::Above => m.value > limit,
            Direction::Below => m.value < limit,
        };
        let side = match t.direction {
            Direction::Above => ">",
            Direction::Below => "<",
        };
        let (status, limit_name, limit) = match (t.critical, t.warning) {
            (Some(c), _) if breached(c) => (Status::Critical, "critical", c),
            (_, Some(w)) if breached(w) => (Status::Warning, "warning", w),
            _ => (Status::Ok, "", 0.0),
        };
        statuses.insert(m.name.clone(), status);
        if status != Status::Ok {
            findings.push(Finding {
                severity: if status == Status::Critical {
                    Severity::Critical
                } else {
                    Severity::High
                },
                subject: m.name.clone(),
                message: format!("{} is past its {limit_name} limit", m.name),
                evidence: format!(
                    "{} {} {side} {limit_name} {} {}",
                    sig(m.value),
                    m.unit,
                    sig(limit),
                    m.unit
                ),
            });
        }
    }
    (statuses, findings)
}

/// Earlier runs whose spread of a metric tells run-to-run noise.
pub const NOISE_RUNS: usize = 3;
/// How many times the largest earlier move a regression must exceed to gate:
/// the largest of two moves underestimates the noise, and a run holds dozens
/// of metrics (seen: once, 2 of 80 metrics of an unchanged host went past
/// 1× their spread).
const NOISE_MARGIN: f64 = 2.0;

/// The largest relative move of a metric between consecutive earlier runs
/// (oldest first): how much it moves when nothing changed. `None` with
/// fewer than [`NOISE_RUNS`] values (pure).
pub fn run_to_run_spread(values: &[f64]) -> Option<f64> {
    (values.len() >= NOISE_RUNS).then(|| {
        values
            .windows(2)
            .filter(|w| w[0] != 0.0)
            .map(|w| (w[1] / w[0] - 1.0).abs())
            .fold(0.0, f64::max)
    })
}

/// The severity of a significant regression: MEDIUM (it gates CI) when it
/// moved more than [`NOISE_MARGIN`] times the most the metric moved between
/// earlier runs; LOW when it
/// did not, or when the history is too short to know the run-to-run noise
/// (within-run samples cannot show noise between runs: two identical runs
/// of a micro-benchmark differ by 20 % on a VM). Pure.
pub fn regression_severity(relative_change: f64, earlier: &[f64]) -> (Severity, String) {
    match run_to_run_spread(earlier) {
        Some(spread) if relative_change.abs() > NOISE_MARGIN * spread => (
            Severity::Medium,
            format!(
                "more than {NOISE_MARGIN}× the largest move between the {} earlier runs ({})",
                earlier.len(),
                pct(spread * 100.0)
            ),
        ),
        Some(spread) => (
            Severity::Low,
            format!(
                "within {NOISE_MARGIN}× the largest move between the {} earlier runs ({})",
                earlier.len(),
                pct(spread * 100.0)
            ),
        ),
        None => (
            Severity::Low,
            format!(
                "run-to-run noise not known yet: {}, {NOISE_RUNS} needed",
                count(earlier.len() as u64, "earlier run", "earlier runs")
            ),
        ),
    }
}

/// Findings of the health checks in a snapshot, and of the targets it
/// could not read (pure).
pub fn health_findings(snapshot: &Snapshot) -> Vec<Finding> {
    snapshot
        .health
        .iter()
        .filter(|h| h.status != HealthStatus::Healthy)
        .map(|h| Finding {
            severity: if h.status == HealthStatus::Down {
                Severity::Critical
            } else {
                Severity::High
            },
            subject: format!("health {}", h.target),
            message: format!(
                "{} is {}",
                h.target,
                if h.status == HealthStatus::Down {
                    "down"
                } else {
                    "degraded"
                }
            ),
            evidence: h.detail.clone(),
        })
        .chain(snapshot.unavailable.iter().map(|u| Finding {
            severity: Severity::Critical,
            subject: u.label.clone().unwrap_or_else(|| u.target.clone()),
            message: match &u.label {
                Some(service) => format!("service {service} could not be probed"),
                None => format!("{} {} could not be probed", u.kind, u.target),
            },
            evidence: format!("{} {}: {}", u.kind, u.target, u.reason),
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalewall_stats::compare::Better;

    fn metric(name: &str, value: f64) -> Metric {
        Metric {
            name: name.into(),
            value,
            unit: "ms",
            better: Better::Lower,
            samples: vec![],
            gating: true,
            complete: true,
        }
    }

    fn threshold(
        metric: &str,
        warning: Option<f64>,
        critical: Option<f64>,
        direction: Direction,
    ) -> Threshold {
        Threshold {
            metric: metric.into(),
            warning,
            critical,
            direction,
        }
    }

    #[test]
    fn a_regression_gates_only_beyond_the_noise_history_has_shown() {
        assert_eq!(run_to_run_spread(&[100.0, 90.0]), None);
        let spread = run_to_run_spread(&[100.0, 110.0, 99.0]).unwrap();
        assert!((spread - 0.1).abs() < 1e-12, "{spread}");
        assert_eq!(
            regression_severity(-0.3, &[100.0, 110.0, 99.0]).0,
            Severity::Medium
        );
        assert_eq!(
            regression_severity(-0.08, &[100.0, 110.0, 99.0]).0,
            Severity::Low
        );
        let (severity, note) = regression_severity(-0.5, &[100.0]);
        assert_eq!(severity, Severity::Low);
        assert!(note.contains("1 earlier run, 3 needed"), "{note}");
    }

    /// Issue 21, item 1: Ctrl-C in a warm-up stored `api-get.rps 0 ops/s
    /// CRITICAL`. A figure of a partial step is not measured: LOW, no status.
    #[test]
    fn a_partial_steps_figure_is_not_judged_against_its_threshold() {
        let partial = Metric {
            complete: false,
            ..metric("api-get.rps", 0.0)
        };
        let thresholds = [threshold(
            "api-get.rps",
            Some(200.0),
            Some(100.0),
            Direction::Below,
        )];
        let (statuses, findings) = check_thresholds(&[partial], &thresholds);
        assert!(statuses.is_empty(), "{statuses:?}");
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Low);
        assert!(
            findings[0].message.contains("was not measured"),
            "{}",
            findings[0].message
        );
        assert_eq!(exit_code_for(&findings), 0);
    }

    #[test]
    fn thresholds_give_statuses_and_findings_by_severity() {
        let metrics = [
            metric("api.p99_ms", 120.0),
            metric("api.rps", 80.0),
            metric("db.p99_ms", 10.0),
        ];
        let thresholds = [
            threshold("api.p99_ms", Some(50.0), Some(100.0), Direction::Above),
            threshold("api.rps", Some(100.0), Some(50.0), Direction::Below),
            threshold("db.p99_ms", Some(50.0), None, Direction::Above),
            threshold("nope.p99_ms", None, Some(1.0), Direction::Above),
        ];
        let (statuses, findings) = check_thresholds(&metrics, &thresholds);
        assert_eq!(statuses["api.p99_ms"], Status::Critical);
        assert_eq!(statuses["api.rps"], Status::Warning);
        assert_eq!(statuses["db.p99_ms"], Status::Ok);
        let severities: Vec<Severity> = findings.iter().map(|f| f.severity).collect();
        assert_eq!(
            severities,
            [Severity::Critical, Severity::High, Severity::Low]
        );
        assert_eq!(findings[0].evidence, "120 ms > critical 100 ms");
        assert_eq!(findings[1].evidence, "80 ms < warning 100 ms");
        assert_eq!(exit_code_for(&findings), 5);
        assert_eq!(exit_code_for(&findings[1..]), 4);
        assert_eq!(exit_code_for(&findings[2..]), 0);
        assert_eq!(exit_code_for(&[]), 0);
    }
}
