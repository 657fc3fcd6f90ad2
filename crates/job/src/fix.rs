//! What to do about a finding. Every kind of finding scalewall makes has a
//! fix: one line, with the measured figure in it, so a report says what to
//! try as well as what is wrong ("raise `timeout` to 1.5× the longest
//! completed run, 812 s, or shorten the job"). Pure: the facts come in,
//! the line goes out; the match in [`Fix::text`] makes a new kind without
//! a fix a compile error.

use scalewall_stats::number::{sig, sig_n};

/// A finding's kind with the facts its fix needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Fix<'a> {
    /// This host's own readings failed.
    HostUnprobed,
    /// A service's process, Redis, PostgreSQL or NATS could not be read.
    ServiceUnprobed {
        /// `process`, `redis`, `postgres` or `nats`.
        kind: &'a str,
        /// What was asked (`host:port`, a selector in words).
        target: &'a str,
    },
    /// A health check failed: down, or answering degraded.
    HealthCheck {
        /// The URL or `host:port`.
        target: &'a str,
        /// When it last answered healthy in a stored run, if ever.
        last_up: Option<&'a str>,
    },
    /// Every operation of a scenario failed.
    EveryOperationFailed {
        /// The scenario.
        scenario: &'a str,
        /// The scenario's target as written.
        target: &'a str,
    },
    /// A scenario could not start.
    ScenarioFailed {
        /// The scenario.
        scenario: &'a str,
    },
    /// The built-in target served a different count than scalewall counted.
    CountMismatch {
        /// The target's count.
        served: u64,
        /// scalewall's count.
        counted: u64,
    },
    /// The self-check's throughput is off the known answer.
    SelfCheckOff {
        /// Measured, operations/s.
        measured: f64,
        /// Known, operations/s.
        known: f64,
    },
    /// The self-sweep's fitted peak is off the known one.
    SelfSweepOff {
        /// Fitted N*.
        found: f64,
        /// Known N*.
        known: f64,
    },
    /// A runtime benchmark failed.
    SuiteFailed {
        /// The benchmark.
        benchmark: &'a str,
    },
    /// A metric is past a threshold.
    ThresholdBreach {
        /// The metric.
        metric: &'a str,
        /// Its value.
        value: f64,
        /// The limit it passed.
        limit: f64,
        /// The metric's unit.
        unit: &'a str,
        /// Worse is above the limit (latency) rather than below (rate).
        above: bool,
    },
    /// A threshold names a metric the run did not measure.
    ThresholdUnmeasured {
        /// The metric.
        metric: &'a str,
    },
    /// A thresholded figure came from a step that did not finish.
    PartialStep {
        /// The metric.
        metric: &'a str,
    },
    /// A metric regressed since the previous run.
    Regression {
        /// The metric.
        metric: &'a str,
        /// This run.
        run: &'a str,
        /// The previous completed run.
        previous: &'a str,
    },
    /// A sweep's fitted capacity dropped.
    CapacityDrift {
        /// This run.
        run: &'a str,
        /// The run it is compared with.
        previous: &'a str,
        /// The peak before and now, with the rate's unit.
        before: f64,
        /// The peak now.
        now: f64,
        /// `req/s`, `ops/s`, …
        unit: &'a str,
    },
    /// A worker was lost mid-step.
    WorkerLost {
        /// The worker's name.
        worker: &'a str,
        /// Its share of the connections.
        connections: u32,
        /// The step's connections.
        of: u32,
    },
    /// The target's memory kept growing through a long step.
    Leak {
        /// The growth, bytes per hour.
        bytes_per_h: f64,
    },
    /// A watched job passed its timeout.
    Timeout {
        /// The job's timeout, seconds.
        timeout_s: f64,
        /// The longest completed run of the job in the history, seconds.
        longest_completed_s: Option<f64>,
    },
    /// A command job exited non-zero or was killed by a signal.
    CommandFailed {
        /// The command as the config gave it.
        command: &'a str,
        /// "exit code 2" or "signal 9".
        ended: &'a str,
    },
    /// A push job reported an error.
    ReportedError {
        /// The job's name.
        job: &'a str,
    },
    /// A push job sent no report within its interval and grace.
    LatePush {
        /// The job's name.
        job: &'a str,
        /// When it last reported (RFC 3339), if ever.
        last_report: Option<&'a str>,
        /// Its interval plus grace, seconds.
        due_s: f64,
    },
}

/// A timeout this much above the longest completed run leaves room for a
/// slower day without hiding a hung run.
pub const TIMEOUT_HEADROOM: f64 = 1.5;

impl Fix<'_> {
    /// The fix, one line.
    pub fn text(&self) -> String {
        match self {
            Fix::HostUnprobed => "scalewall reads this host from Linux's /proc and /sys: run \
                                  `scalewall probe` here to see which reading fails"
                .into(),
            Fix::ServiceUnprobed { kind, target } => {
                let flag = match *kind {
                    "redis" => Some("--redis"),
                    "postgres" => Some("--postgres"),
                    "nats" => Some("--nats"),
                    "process" => Some("--process"),
                    _ => None,
                };
                match flag {
                    Some(flag) => format!(
                        "check that the {kind} target {target} is up and reachable from this host: `scalewall probe {flag} {target}`"
                    ),
                    None => format!(
                        "check that {target}'s processes and data stores are up and reachable from this host, and that scalewall may read them"
                    ),
                }
            }
            Fix::HealthCheck { target, last_up } => {
                let flag = if target.contains("://") {
                    "--health"
                } else {
                    "--tcp"
                };
                let since = match last_up {
                    Some(at) => format!("last up at {at}"),
                    None => "not up in any stored run".into(),
                };
                format!("{since}; restart or repair it, then `scalewall probe {flag} {target}`")
            }
            Fix::EveryOperationFailed { scenario, target } => format!(
                "the target of {scenario} answered nothing usable: check it with one request, \
                 `scalewall bench {target} -n 1`, and the scenario's address and credentials"
            ),
            Fix::ScenarioFailed { scenario } => format!(
                "correct scenario {scenario} or its target (`scalewall validate -f CONFIG` names \
                 each mistake), then run again"
            ),
            Fix::CountMismatch { served, counted } => format!(
                "the target served {served} and scalewall counted {counted}: a counting bug in \
                 scalewall; report it with this run's record (`scalewall show latest`)"
            ),
            Fix::SelfCheckOff { measured, known } => format!(
                "this host gave {} ops/s where {} is known: something else is using it; run \
                 again when it is quieter, or put the load on workers (`--workers`)",
                sig(*measured),
                sig(*known)
            ),
            Fix::SelfSweepOff { found, known } => format!(
                "the fit found N* {} where {} is known: the host was too noisy for a sweep; run \
                 again when it is quieter before trusting this run's fits",
                sig_n(*found, 3),
                sig_n(*known, 3)
            ),
            Fix::SuiteFailed { benchmark } => format!(
                "run `scalewall suite` alone to see {benchmark}'s error; the other benchmarks' \
                 figures stand"
            ),
            Fix::ThresholdBreach {
                metric,
                value,
                limit,
                unit,
                above,
            } => format!(
                "bring {metric} back {} {} {unit} (now {} {unit}): find what changed \
                 (`scalewall compare previous latest`), or move the threshold if the new \
                 level is expected",
                if *above { "under" } else { "over" },
                sig(*limit),
                sig(*value)
            ),
            Fix::ThresholdUnmeasured { metric } => format!(
                "name a metric this run measures (`scalewall show latest` lists them) or remove \
                 the threshold on {metric}"
            ),
            Fix::PartialStep { metric } => format!(
                "let {metric}'s step run to its end: no Ctrl-C, and a job timeout longer than \
                 the scenario"
            ),
            Fix::Regression {
                metric,
                run,
                previous,
            } => format!(
                "first run past the noise for {metric}: {run}; see what moved with \
                 `scalewall compare {previous} {run}`"
            ),
            Fix::CapacityDrift {
                run,
                previous,
                before,
                now,
                unit,
            } => format!(
                "the peak fell from {} to {} {unit}: see which levels moved with \
                 `scalewall compare {previous} {run}`, then look at what changed in between",
                sig(*before),
                sig(*now)
            ),
            Fix::WorkerLost {
                worker,
                connections,
                of,
            } => format!(
                "check worker {worker}'s host and its NATS connection, then run the step again: \
                 its {connections} of {of} connections are missing after its last snapshot"
            ),
            Fix::Leak { bytes_per_h } => format!(
                "at {} the target grows {} a day: find what it keeps (two heap profiles an \
                 hour apart show it), and until then restart it before it reaches its memory \
                 limit",
                scalewall_stats::leak::per_hour(*bytes_per_h),
                scalewall_stats::number::bytes((bytes_per_h * 24.0).max(0.0) as u64)
            ),
            Fix::Timeout {
                timeout_s,
                longest_completed_s,
            } => match longest_completed_s {
                Some(longest) => format!(
                    "raise `timeout` to {TIMEOUT_HEADROOM}× the longest completed run, {} s, or \
                     shorten the job (timeout now {} s)",
                    sig((longest * TIMEOUT_HEADROOM).ceil()),
                    sig(*timeout_s)
                ),
                None => format!(
                    "no run of this job has completed within {} s: raise `timeout` or shorten \
                     the job",
                    sig(*timeout_s)
                ),
            },
            Fix::CommandFailed { command, ended } => format!(
                "it ended with {ended}: read the last output (`last_run.output` in /api/status) \
                 and run it by hand from the config's folder: `{command}`"
            ),
            Fix::ReportedError { job } => format!(
                "the job said it failed (its message is the evidence): mend it; its next \
                 `scalewall report-job {job} --status ok` clears the status"
            ),
            Fix::LatePush {
                job,
                last_report,
                due_s,
            } => format!(
                "no report within {} s{}: check the job's scheduler, and that it ends with \
                 `scalewall report-job {job} --status ok`",
                sig(*due_s),
                last_report.map_or(String::new(), |at| format!(" (last at {at})"))
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each kind, with figures a test can find again in the line.
    fn every_kind() -> Vec<(Fix<'static>, &'static str)> {
        vec![
            (Fix::HostUnprobed, "scalewall probe"),
            (
                Fix::ServiceUnprobed {
                    kind: "redis",
                    target: "127.0.0.1:6379",
                },
                "scalewall probe --redis 127.0.0.1:6379",
            ),
            (
                Fix::HealthCheck {
                    target: "http://127.0.0.1:8080/health",
                    last_up: Some("2026-12-07T09:24:00Z"),
                },
                "last up at 2026-12-07T09:24:00Z",
            ),
            (
                Fix::EveryOperationFailed {
                    scenario: "api",
                    target: "http://127.0.0.1:8080/",
                },
                "scalewall bench http://127.0.0.1:8080/ -n 1",
            ),
            (
                Fix::ScenarioFailed { scenario: "api" },
                "scalewall validate",
            ),
            (
                Fix::CountMismatch {
                    served: 1000,
                    counted: 999,
                },
                "served 1000 and scalewall counted 999",
            ),
            (
                Fix::SelfCheckOff {
                    measured: 1500.0,
                    known: 2000.0,
                },
                "1,500 ops/s where 2,000",
            ),
            (
                Fix::SelfSweepOff {
                    found: 44.2,
                    known: 35.7,
                },
                "N* 44.2 where 35.7",
            ),
            (Fix::SuiteFailed { benchmark: "fs" }, "fs's error"),
            (
                Fix::ThresholdBreach {
                    metric: "api.p99_ms",
                    value: 142.3,
                    limit: 100.0,
                    unit: "ms",
                    above: true,
                },
                "back under 100 ms (now 142.3 ms)",
            ),
            (
                Fix::ThresholdUnmeasured {
                    metric: "nope.p99_ms",
                },
                "nope.p99_ms",
            ),
            (Fix::PartialStep { metric: "api.rps" }, "api.rps's step"),
            (
                Fix::Regression {
                    metric: "api.rps",
                    run: "R2",
                    previous: "R1",
                },
                "`scalewall compare R1 R2`",
            ),
            (
                Fix::CapacityDrift {
                    run: "R2",
                    previous: "R1",
                    before: 2000.0,
                    now: 1500.0,
                    unit: "req/s",
                },
                "from 2,000 to 1,500 req/s",
            ),
            (
                Fix::WorkerLost {
                    worker: "w2",
                    connections: 8,
                    of: 16,
                },
                "its 8 of 16 connections",
            ),
            (
                Fix::Leak {
                    bytes_per_h: 40.0 * 1024.0 * 1024.0,
                },
                "at 40 MiB/h the target grows 960 MiB a day",
            ),
            (
                Fix::Timeout {
                    timeout_s: 600.0,
                    longest_completed_s: Some(541.2),
                },
                "the longest completed run, 812 s",
            ),
            (
                Fix::CommandFailed {
                    command: "pg_dump test",
                    ended: "exit code 2",
                },
                "exit code 2",
            ),
            (
                Fix::ReportedError { job: "backup" },
                "report-job backup --status ok",
            ),
            (
                Fix::LatePush {
                    job: "backup",
                    last_report: Some("2026-12-07T03:00:00Z"),
                    due_s: 90_000.0,
                },
                "90,000 s (last at 2026-12-07T03:00:00Z)",
            ),
        ]
    }

    /// Every kind's fix names its figure (the example: a 600 s
    /// timeout whose longest completed run took 541.2 s → 812 s).
    #[test]
    fn every_finding_kind_has_a_fix_with_its_figure() {
        let kinds = every_kind();
        for (fix, figure) in &kinds {
            let text = fix.text();
            assert!(text.contains(figure), "{fix:?}: {text}");
            assert!(!text.contains('\n'), "one line: {text}");
        }
        // One example per variant: a kind added to the enum is added here.
        let distinct: std::collections::BTreeSet<_> = kinds
            .iter()
            .map(|(fix, _)| std::mem::discriminant(fix))
            .map(|d| format!("{d:?}"))
            .collect();
        assert_eq!(distinct.len(), kinds.len());
        assert_eq!(kinds.len(), 20);
    }

    #[test]
    fn a_fix_reads_the_direction_and_the_history_it_was_given() {
        let below = Fix::ThresholdBreach {
            metric: "api.rps",
            value: 80.0,
            limit: 100.0,
            unit: "req/s",
            above: false,
        };
        assert!(below.text().contains("back over 100 req/s (now 80 req/s)"));
        let never = Fix::HealthCheck {
            target: "127.0.0.1:5432",
            last_up: None,
        };
        assert!(never.text().starts_with("not up in any stored run"));
        assert!(never
            .text()
            .contains("scalewall probe --tcp 127.0.0.1:5432"));
        let first = Fix::Timeout {
            timeout_s: 60.0,
            longest_completed_s: None,
        };
        assert!(first
            .text()
            .contains("no run of this job has completed within 60 s"));
    }
}
