//! `scalewall run` and the history commands: the main job end to end.
//!
//! A run probes the system (host, GPU, each service's health, process and
//! data-store readings), runs every scenario through the same load path as
//! `bench`/`sweep`, turns thresholds and failed checks into findings,
//! compares each metric with the previous run of the same subject and with
//! its baseline, stores the run in the history and writes the reports.
//! Without a config it checks this host: system health plus a self-check of
//! the load path against the built-in target, whose throughput at each
//! concurrency is known in advance.
//!
//! Exit codes (CI pipelines gate on them): 0 no findings or only LOW; 3 the
//! worst finding is MEDIUM; 4 HIGH; 5 CRITICAL; 1 an error; 2 a usage
//! error; 130 interrupted by Ctrl-C (what was measured is stored and
//! reported, with status `interrupted`).

use crate::bench::{install_ctrl_c, new_run, run_load};
use crate::cli::{
    self, BaselineArgs, CompareArgs, HistoryArgs, HistoryPath, InitArgs, OutputFormat, ReportArgs,
    ReportFormatArg, RunArgs, ShowArgs, ValidateArgs,
};
use crate::config::{self, Config, Direction, ReportFormat, Threshold};
use crate::{host, render, DEMO_TARGET};
use anyhow::{bail, Context as _, Result};
use scalewall_demo::RunningDemo;
use scalewall_history::{History, StoredMetric};
use scalewall_load::engine::{Control, Pacing, StepPlan, StopAt};
use scalewall_load::target::Target;
use scalewall_model::{Finding, Run, RunStatus, Scenario, Severity};
use scalewall_probe::health::HealthStatus;
use scalewall_probe::snapshot::{self, Snapshot, SnapshotSpec};
use scalewall_report::html;
use scalewall_report::markdown::{self, Changes, ReportInput, Status, SweepSection};
use scalewall_stats::compare::{self, Change, Policy, Trend};
use scalewall_stats::metrics::{self, Metric};
use scalewall_stats::{sweep, usl};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// The default history database.
const DEFAULT_HISTORY: &str = ".scalewall/history.db";
/// The default report folder.
const DEFAULT_REPORTS: &str = ".scalewall/reports";
/// Runs behind a trend.
const TREND_RUNS: usize = 5;
/// Time per runtime-suite benchmark in the built-in job.
const SUITE_BUDGET_IN_RUN: Duration = Duration::from_millis(500);
/// How far the self-check's throughput may stray from the known answer.
const SELF_CHECK_TOLERANCE: f64 = 0.10;

/// The exit code for the worst finding.
pub fn exit_code_for(findings: &[Finding]) -> u8 {
    match findings.iter().map(|f| f.severity).max() {
        None | Some(Severity::Low) => 0,
        Some(Severity::Medium) => 3,
        Some(Severity::High) => 4,
        Some(Severity::Critical) => 5,
    }
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
                    usl::round_sig(m.value, 4),
                    m.unit,
                    limit,
                    m.unit
                ),
            });
        }
    }
    (statuses, findings)
}

/// Earlier runs whose spread of a metric tells run-to-run noise.
const NOISE_RUNS: usize = 3;
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
                "more than {NOISE_MARGIN}× the largest move between the {} earlier runs ({:.1} %)",
                earlier.len(),
                spread * 100.0
            ),
        ),
        Some(spread) => (
            Severity::Low,
            format!(
                "within {NOISE_MARGIN}× the largest move between the {} earlier runs ({:.1} %)",
                earlier.len(),
                spread * 100.0
            ),
        ),
        None => (
            Severity::Low,
            format!(
                "run-to-run noise not known yet: {} earlier run(s), {NOISE_RUNS} needed",
                earlier.len()
            ),
        ),
    }
}

/// Findings for metrics that regressed significantly since the previous run.
fn regression_findings(h: &History, run: &Run, metrics: &[Metric]) -> Result<Vec<Finding>> {
    let subject = scalewall_history::subject_of(run);
    let earlier = h.list(Some(&subject), NOISE_RUNS)?;
    let Some(previous) = earlier.first() else {
        return Ok(Vec::new());
    };
    let changes = changes_against(h, &previous.id, metrics)?;
    let mut findings = Vec::new();
    for c in changes
        .comparisons
        .iter()
        .filter(|c| c.change == Change::Regressed)
    {
        let values: Vec<f64> = h
            .series(&subject, &c.metric, &previous.id, NOISE_RUNS)?
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        let gating = metrics.iter().any(|m| m.name == c.metric && m.gating);
        let (severity, noise) = if gating {
            regression_severity(c.relative_change, &values)
        } else {
            (
                Severity::Low,
                "describes the host, not the system under load: reported, never gating".to_string(),
            )
        };
        findings.push(Finding {
            severity,
            subject: c.metric.clone(),
            message: format!("{} regressed since the previous run", c.metric),
            evidence: format!(
                "{} → {} ({:+.1} % in the median, Mann–Whitney p = {}, {} vs {} samples; {noise})",
                usl::round_sig(c.before, 4),
                usl::round_sig(c.after, 4),
                c.relative_change * 100.0,
                c.test.map_or("-".into(), |t| usl::round_sig(t.p_value, 2)),
                c.samples[0],
                c.samples[1]
            ),
        });
    }
    Ok(findings)
}

/// Findings of the health checks in a snapshot (pure).
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
        .collect()
}

pub(crate) fn history_path(given: &HistoryPath, config: Option<&Config>) -> PathBuf {
    given
        .history
        .clone()
        .or_else(|| config.and_then(|c| c.history.clone()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_HISTORY))
}

pub(crate) fn read_config(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    Ok(config::parse(
        &path.display().to_string(),
        &text,
        &|name| std::env::var(name).ok(),
        host::available_cores(),
    )?)
}

/// `scalewall init`.
pub fn init_command(args: &InitArgs) -> Result<ExitCode> {
    if args.path.exists() && !args.force {
        bail!(
            "{} exists; use --force to overwrite it",
            args.path.display()
        );
    }
    crate::write_atomically(&args.path, config::EXAMPLE.as_bytes(), "the config to")?;
    println!(
        "wrote {}: edit the services and scenarios, then `scalewall validate` and `scalewall run`",
        args.path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `scalewall validate`.
pub fn validate_command(args: &ValidateArgs) -> Result<ExitCode> {
    let config = read_config(&args.path)?;
    println!(
        "{}: valid — {} services, {} scenarios, {} thresholds",
        args.path.display(),
        config.services.len(),
        config.scenarios.len(),
        config.thresholds.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The snapshot of the system: host, GPU and health checks over one
/// second, then each service's own readings apart, so one unreachable
/// service becomes a finding instead of stopping the run.
fn probe_system(config: Option<&Config>, findings: &mut Vec<Finding>) -> Option<Snapshot> {
    let timeout = Duration::from_secs(2);
    let mut spec = SnapshotSpec {
        disk_paths: vec!["/".into()],
        gpu: true,
        health_timeout: timeout,
        ..SnapshotSpec::default()
    };
    for service in config.map(|c| c.services.as_slice()).unwrap_or_default() {
        spec.http_health.extend(service.health.clone());
        spec.tcp_health.extend(service.tcp.clone());
    }
    let mut snapshot = match snapshot::take(&spec, Duration::from_secs(1)) {
        Ok(snapshot) => snapshot,
        Err(error) => {
            findings.push(Finding {
                severity: Severity::Medium,
                subject: "host".into(),
                message: "the host could not be probed".into(),
                evidence: error.to_string(),
            });
            return None;
        }
    };
    for service in config.map(|c| c.services.as_slice()).unwrap_or_default() {
        let one = SnapshotSpec {
            processes: service
                .process
                .clone()
                .map(|p| vec![(p, Some(service.name.clone()))])
                .unwrap_or_default(),
            redis: service.redis.clone().into_iter().collect(),
            postgres: service.postgres.clone().into_iter().collect(),
            nats: service.nats.clone().into_iter().collect(),
            health_timeout: timeout,
            ..SnapshotSpec::default()
        };
        if one.processes.is_empty()
            && one.redis.is_empty()
            && one.postgres.is_empty()
            && one.nats.is_empty()
        {
            continue;
        }
        match snapshot::take(&one, Duration::from_millis(500)) {
            Ok(readings) => {
                snapshot.processes.extend(readings.processes);
                snapshot.redis.extend(readings.redis);
                snapshot.postgres.extend(readings.postgres);
                snapshot.nats.extend(readings.nats);
            }
            Err(error) => findings.push(Finding {
                severity: Severity::Critical,
                subject: service.name.clone(),
                message: format!("service {} could not be probed", service.name),
                evidence: error.to_string(),
            }),
        }
    }
    findings.extend(health_findings(&snapshot));
    Some(snapshot)
}

/// Runs one scenario's steps; an unreachable target is a finding.
fn run_scenario(
    name: &str,
    command: &cli::Command,
    progress: bool,
    control: &Control,
    findings: &mut Vec<Finding>,
) -> Result<Option<Scenario>> {
    let cores = host::available_cores();
    let (request_args, plans, headers, params) = match command {
        cli::Command::Bench(args) => {
            let plan = cli::validate_bench(args, cores)?;
            (&args.request, vec![plan.step], plan.headers, plan.params)
        }
        cli::Command::Sweep(args) => {
            let plan = cli::validate_sweep(args, cores)?;
            if let Some((param, _)) = plan.swept {
                bail!("scenario {name}: sweeping --param {param} is for `scalewall sweep`; a scenario takes one value");
            }
            (&args.request, plan.steps, plan.headers, plan.params)
        }
        _ => bail!("internal: scenario {name} is not bench or sweep"),
    };
    let loaded = crate::load_target_with(
        request_args,
        &headers,
        &params,
        None,
        !progress,
        &plans,
        control,
    );
    match loaded {
        Ok(mut run) => {
            let mut scenario = run.scenarios.remove(0);
            scenario.name = name.to_string();
            for step in &scenario.steps {
                if step.outcomes.responses == 0 && step.outcomes.errors_total() > 0 {
                    findings.push(Finding {
                        severity: Severity::Critical,
                        subject: name.to_string(),
                        message: format!("every operation of scenario {name} failed"),
                        evidence: step
                            .error_examples
                            .iter()
                            .next()
                            .map(|(kind, msg)| format!("first {kind}: {msg}"))
                            .unwrap_or_default(),
                    });
                }
            }
            Ok(Some(scenario))
        }
        Err(error) => {
            findings.push(Finding {
                severity: Severity::Critical,
                subject: name.to_string(),
                message: format!("scenario {name} could not run"),
                evidence: format!("{error:#}"),
            });
            Ok(None)
        }
    }
}

/// The built-in job's load: a bench and a sweep of an in-process target
/// with a known throughput curve, each checked against it.
fn self_check(
    progress: bool,
    control: &Control,
    findings: &mut Vec<Finding>,
) -> Result<Vec<Scenario>> {
    let server = RunningDemo::start(([127, 0, 0, 1], 0).into(), DEMO_TARGET, 1)
        .context("cannot start the built-in target on 127.0.0.1")?;
    let target = Target::parse(&server.url())?;
    let request = crate::built_in_request(&target, progress);
    let plan = |connections: u32, measured: Duration, warmup: Duration| StepPlan {
        connections,
        pacing: Pacing::Closed,
        stop: StopAt::Duration(measured),
        warmup,
        timeout: Duration::from_secs(10),
        threads: 1,
        interval: cli::interval_for(measured),
    };
    let mut scenarios = Vec::new();
    let before = server.requests_served();
    let mut bench = run_load(
        &request,
        &[plan(16, Duration::from_secs(3), Duration::ZERO)],
        control,
    )?;
    let mut scenario = bench.scenarios.remove(0);
    scenario.name = "self-check".into();
    if let Some(step) = scenario.steps.first() {
        let served = server.requests_served() - before;
        let counted = step.responses_with_warmup();
        if served != counted {
            findings.push(Finding {
                severity: Severity::Critical,
                subject: "self-check".into(),
                message: "the load generator's count differs from the target's".into(),
                evidence: format!("target served {served}, scalewall counted {counted}"),
            });
        }
        let expected = DEMO_TARGET
            .expected_throughput(step.concurrency)
            .unwrap_or(0.0);
        let deviation = step.achieved_rate_per_s / expected - 1.0;
        if step.completed && deviation.abs() > SELF_CHECK_TOLERANCE {
            findings.push(Finding {
                severity: Severity::High,
                subject: "self-check.rps".into(),
                message:
                    "the load path is off the known answer: this host's measurements are suspect"
                        .into(),
                evidence: format!(
                    "{:.1} req/s measured vs {:.1} req/s known ({:+.1} %, tolerance ±{:.0} %)",
                    step.achieved_rate_per_s,
                    expected,
                    deviation * 100.0,
                    SELF_CHECK_TOLERANCE * 100.0
                ),
            });
        }
    }
    scenarios.push(scenario);
    if control.is_stopped() {
        return Ok(scenarios);
    }
    let levels = [1, 2, 4, 8, 16, 32];
    let plans: Vec<StepPlan> = levels
        .iter()
        .map(|&n| plan(n, Duration::from_secs(1), Duration::from_millis(200)))
        .collect();
    let mut swept = run_load(&request, &plans, control)?;
    let mut scenario = swept.scenarios.remove(0);
    scenario.name = "self-sweep".into();
    let analysis = sweep::analyse(sweep::points_of(&scenario.steps));
    let known_peak =
        (DEMO_TARGET.kappa > 0.0).then(|| ((1.0 - DEMO_TARGET.sigma) / DEMO_TARGET.kappa).sqrt());
    if let (Ok(fit), Some(known)) = (&analysis.fit, known_peak) {
        if let Some(found) = fit.peak_concurrency() {
            let off = found / known - 1.0;
            if off.abs() > 0.25 {
                findings.push(Finding {
                    severity: Severity::Medium,
                    subject: "self-sweep".into(),
                    message: "the USL fit of the built-in target misses its known peak".into(),
                    evidence: format!(
                        "N* {found:.1} fitted vs {known:.1} known ({:+.0} %)",
                        off * 100.0
                    ),
                });
            }
        }
    }
    scenarios.push(scenario);
    Ok(scenarios)
}

/// Runs the runtime suite, turning any benchmark's errors into findings.
fn run_suite(
    budget: Duration,
    control: &Control,
    findings: &mut Vec<Finding>,
) -> Result<Vec<Scenario>> {
    let scenarios = scalewall_suite::run(budget, host::available_cores() as usize, &|| {
        control.is_stopped()
    })?;
    for s in &scenarios {
        if let Some(step) = s.steps.first() {
            if let Some((_, message)) = step.error_examples.iter().next() {
                findings.push(Finding {
                    severity: Severity::High,
                    subject: s.name.clone(),
                    message: format!("runtime benchmark {} failed", s.name),
                    evidence: message.clone(),
                });
            }
        }
    }
    Ok(scenarios)
}

/// `scalewall suite`.
pub fn suite_command(args: &cli::SuiteArgs) -> Result<ExitCode> {
    if args.budget < Duration::from_millis(10) || args.budget > Duration::from_secs(600) {
        bail!("--budget must be between 10ms and 10m");
    }
    let control = Control::new();
    install_ctrl_c(control.clone());
    let started = SystemTime::now();
    let mut findings = Vec::new();
    let scenarios = run_suite(args.budget, &control, &mut findings)?;
    let status = if control.is_stopped() {
        RunStatus::Interrupted
    } else {
        RunStatus::Completed
    };
    let run = Run {
        subject: Some("suite".into()),
        findings,
        ..new_run(started, status, scenarios)
    };
    let printed = match args.output {
        OutputFormat::Text => render::suite_text(&run.scenarios),
        OutputFormat::Json => {
            let rows: Vec<serde_json::Value> = run
                .scenarios
                .iter()
                .filter_map(|s| {
                    let step = s.steps.first()?;
                    Some(serde_json::json!({
                        "benchmark": s.name.trim_start_matches("suite."),
                        "operation": s.target.trim_start_matches("runtime suite: "),
                        "operations": step.outcomes.responses,
                        "mean_us": step.latency_us.mean(),
                        "p95_us": step.latency_us.value_at_quantile(0.95),
                        "ops_per_s": step.achieved_rate_per_s,
                        "inner_ops_per_operation": s.options.requests,
                        "errors": step.outcomes.errors_total(),
                        "first_error": step.error_examples.values().next(),
                    }))
                })
                .collect();
            serde_json::to_string_pretty(&serde_json::json!({
                "run_id": run.id,
                "suite": scalewall_suite::SUITE_VERSION,
                "completed": run.status == RunStatus::Completed,
                "benchmarks": rows,
            }))? + "\n"
        }
    };
    crate::print_stdout(&printed)?;
    if let Some(path) = &args.save {
        crate::save_run(&run, path)?;
    }
    if run.status == RunStatus::Interrupted {
        return Ok(ExitCode::from(crate::EXIT_INTERRUPTED as u8));
    }
    if !run.findings.is_empty() {
        bail!("{}: {}", run.findings[0].message, run.findings[0].evidence);
    }
    Ok(ExitCode::SUCCESS)
}

/// The USL sections of a run's sweeps (pure).
fn sweep_sections(run: &Run) -> Vec<SweepSection> {
    run.scenarios
        .iter()
        .filter(|s| s.steps.len() > 1)
        .map(|s| {
            let analysis = sweep::analyse(sweep::points_of(&s.steps));
            let max_n = s.steps.iter().map(|st| st.concurrency).max().unwrap_or(0);
            SweepSection {
                scenario: s.name.clone(),
                verdict: analysis
                    .fit
                    .as_ref()
                    .ok()
                    .map(|f| f.verdict().sentence("ops/s", f64::from(max_n))),
                fit: analysis.fit.map_err(|e| e.to_string()),
                warnings: analysis.warnings,
            }
        })
        .collect()
}

fn stored_metrics(metrics: &[Metric]) -> Vec<StoredMetric> {
    metrics
        .iter()
        .map(|m| StoredMetric {
            name: m.name.clone(),
            value: m.value,
            samples: m.samples.clone(),
        })
        .collect()
}

/// Compares a run's metrics with a stored run's.
fn changes_against(history: &History, against: &str, metrics: &[Metric]) -> Result<Changes> {
    let before: BTreeMap<String, StoredMetric> = history
        .metrics(against)?
        .into_iter()
        .map(|m| (m.name.clone(), m))
        .collect();
    let policy = Policy::default();
    let comparisons = metrics
        .iter()
        .filter_map(|m| {
            let b = before.get(&m.name)?;
            Some(compare::compare(
                &m.name,
                m.better,
                (b.value, &b.samples),
                (m.value, &m.samples),
                &policy,
            ))
        })
        .collect();
    Ok(Changes {
        against: against.to_string(),
        comparisons,
    })
}

/// The trend of each metric over the subject's last runs up to `id`.
fn trends(history: &History, run: &Run, metrics: &[Metric]) -> Result<Vec<(String, Trend, usize)>> {
    let subject = scalewall_history::subject_of(run);
    let ids: Vec<String> = history
        .list(Some(&subject), 1000)?
        .into_iter()
        .skip_while(|r| r.id != run.id)
        .take(TREND_RUNS)
        .map(|r| r.id)
        .collect();
    if ids.len() < 3 {
        return Ok(Vec::new());
    }
    let mut by_run: Vec<BTreeMap<String, StoredMetric>> = Vec::new();
    for id in ids.iter().rev() {
        by_run.push(
            history
                .metrics(id)?
                .into_iter()
                .map(|m| (m.name.clone(), m))
                .collect(),
        );
    }
    let policy = Policy::default();
    Ok(metrics
        .iter()
        .filter(|m| !m.samples.is_empty())
        .map(|m| {
            let changes: Vec<Change> = by_run
                .windows(2)
                .filter_map(|pair| {
                    let (a, b) = (pair[0].get(&m.name)?, pair[1].get(&m.name)?);
                    Some(
                        compare::compare(
                            &m.name,
                            m.better,
                            (a.value, &a.samples),
                            (b.value, &b.samples),
                            &policy,
                        )
                        .change,
                    )
                })
                .collect();
            (m.name.clone(), compare::trend(&changes), ids.len())
        })
        .collect())
}

/// Everything the report of a stored run shows.
fn report_input<'a>(
    history: Option<&History>,
    run: &'a Run,
    metrics: &'a [Metric],
    artifacts: Vec<String>,
) -> Result<ReportInput<'a>> {
    let mut statuses = BTreeMap::new();
    for name in &run.thresholds_checked {
        statuses.insert(name.clone(), Status::Ok);
    }
    for f in &run.findings {
        if run.thresholds_checked.contains(&f.subject) {
            let status = if f.severity == Severity::Critical {
                Status::Critical
            } else {
                Status::Warning
            };
            statuses.insert(f.subject.clone(), status);
        }
    }
    let history_series = match history {
        Some(h) => {
            let subject = scalewall_history::subject_of(run);
            let mut series = Vec::new();
            for m in metrics.iter().filter(|m| {
                m.name.ends_with(".rps") && !m.name.contains(".c")
                    || m.name.ends_with(".max_rps")
                    || m.name.ends_with(".p99_ms") && !m.name.contains(".c")
            }) {
                let values: Vec<f64> = h
                    .series(&subject, &m.name, &run.id, 20)?
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect();
                series.push((m.name.clone(), values));
            }
            series
        }
        None => Vec::new(),
    };
    let (previous, baseline, trends) = match history {
        Some(h) => {
            let previous = h
                .previous_of(&run.id)?
                .map(|id| changes_against(h, &id, metrics))
                .transpose()?;
            let baseline = h
                .baseline(&scalewall_history::subject_of(run))?
                .filter(|id| *id != run.id)
                .map(|id| changes_against(h, &id, metrics))
                .transpose()?;
            (previous, baseline, trends(h, run, metrics)?)
        }
        None => (None, None, Vec::new()),
    };
    let health_text = run
        .system_health
        .as_ref()
        .and_then(|v| serde_json::from_value::<Snapshot>(v.clone()).ok())
        .map(|s| render::probe_text(&s));
    Ok(ReportInput {
        run,
        metrics,
        statuses,
        previous,
        baseline,
        trends,
        sweeps: sweep_sections(run),
        health_text,
        artifacts,
        history_series,
        plan: None,
    })
}

/// The JSON report.
fn report_json(input: &ReportInput<'_>, plan: Option<serde_json::Value>) -> String {
    let metric_rows: Vec<serde_json::Value> = input
        .metrics
        .iter()
        .map(|m| {
            serde_json::json!({
                "name": m.name,
                "value": m.value,
                "unit": m.unit,
                "better": m.better,
                "status": input.statuses.get(&m.name).map(|s| match s {
                    Status::Ok => "ok",
                    Status::Warning => "warning",
                    Status::Critical => "critical",
                }),
                "samples": m.samples.len(),
            })
        })
        .collect();
    let changes = |c: &Option<Changes>| {
        c.as_ref()
            .map(|c| serde_json::json!({"against": c.against, "comparisons": c.comparisons}))
    };
    let sweeps: Vec<serde_json::Value> = input
        .sweeps
        .iter()
        .map(|s| {
            serde_json::json!({
                "scenario": s.scenario,
                "usl": s.fit.as_ref().ok().map(|f| serde_json::json!({
                    "sigma": f.sigma, "kappa": f.kappa, "lambda": f.lambda,
                    "r_squared": f.r_squared,
                    "peak_concurrency": f.peak_concurrency(),
                    "peak_throughput": f.peak_throughput(),
                })),
                "fit_error": s.fit.as_ref().err(),
                "verdict": s.verdict,
                "warnings": s.warnings,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "run_id": input.run.id,
        "subject": scalewall_history::subject_of(input.run),
        "status": input.run.status,
        "started_at": input.run.started_at,
        "finished_at": input.run.finished_at,
        "exit_code": exit_code_for(&input.run.findings),
        "findings": input.run.findings,
        "metrics": metric_rows,
        "changes_since_previous": changes(&input.previous),
        "changes_since_baseline": changes(&input.baseline),
        "trends": input.trends.iter().map(|(m, t, n)| serde_json::json!({"metric": m, "trend": t, "runs": n})).collect::<Vec<_>>(),
        "sweeps": sweeps,
        "artifacts": input.artifacts,
        "plan": plan,
    });
    serde_json::to_string_pretty(&doc).expect("report JSON serialises") + "\n"
}

/// `scalewall run`.
pub fn run_command(args: &RunArgs) -> Result<ExitCode> {
    let config_path = args.config.clone().or_else(|| {
        let default = PathBuf::from("scalewall.toml");
        default.exists().then_some(default)
    });
    let config = config_path.as_deref().map(read_config).transpose()?;
    let mut history = if args.no_history {
        None
    } else {
        Some(History::open(&history_path(
            &args.history,
            config.as_ref(),
        ))?)
    };
    let control = Control::new();
    install_ctrl_c(control.clone());
    let progress = crate::show_progress(args.no_progress);
    let started = SystemTime::now();
    let mut findings = Vec::new();
    let snapshot = probe_system(config.as_ref(), &mut findings);
    let mut scenarios = Vec::new();
    match &config {
        None => {
            if progress {
                eprintln!("scalewall: runtime suite (10 benchmarks × {SUITE_BUDGET_IN_RUN:?})");
            }
            scenarios = run_suite(SUITE_BUDGET_IN_RUN, &control, &mut findings)?;
            if !control.is_stopped() {
                scenarios.extend(self_check(progress, &control, &mut findings)?);
            }
        }
        Some(config) => {
            for scenario in &config.scenarios {
                if control.is_stopped() {
                    break;
                }
                if progress {
                    eprintln!(
                        "scalewall: scenario {} ({})",
                        scenario.name, scenario.service
                    );
                }
                if let Some(done) = run_scenario(
                    &scenario.name,
                    &scenario.command,
                    progress,
                    &control,
                    &mut findings,
                )? {
                    scenarios.push(done);
                }
            }
        }
    }
    let status = if control.is_stopped() {
        RunStatus::Interrupted
    } else {
        RunStatus::Completed
    };
    let mut run = Run {
        subject: Some(
            config
                .as_ref()
                .map_or("host".to_string(), |c| c.name.clone()),
        ),
        system_health: snapshot.as_ref().and_then(|s| serde_json::to_value(s).ok()),
        ..new_run(started, status, scenarios)
    };
    let metrics = metrics::of_run(&run);
    if let Some(config) = &config {
        let (statuses, breaches) = check_thresholds(&metrics, &config.thresholds);
        run.thresholds_checked = statuses.keys().cloned().collect();
        findings.extend(breaches);
    }
    if let Some(h) = &history {
        findings.extend(regression_findings(h, &run, &metrics)?);
    }
    run.findings = findings;
    let store_error = history
        .as_mut()
        .and_then(|h| h.store(&run, &stored_metrics(&metrics)).err());
    let report_dir = args
        .report_dir
        .clone()
        .or_else(|| {
            config
                .as_ref()
                .and_then(|c| c.report_dir.clone())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_REPORTS));
    let formats = config
        .as_ref()
        .map(|c| c.report_formats.clone())
        .unwrap_or_else(|| {
            [
                ReportFormat::Markdown,
                ReportFormat::Json,
                ReportFormat::Html,
            ]
            .into()
        });
    let mut artifacts: Vec<String> = formats
        .iter()
        .map(|f| match f {
            ReportFormat::Markdown => "md",
            ReportFormat::Json => "json",
            ReportFormat::Html => "html",
        })
        .map(|ext| {
            report_dir
                .join(format!("{}.{ext}", run.id))
                .display()
                .to_string()
        })
        .collect();
    if history.is_some() && store_error.is_none() {
        artifacts.push(
            history_path(&args.history, config.as_ref())
                .display()
                .to_string(),
        );
    }
    let history = history.filter(|_| store_error.is_none());
    let mut input = report_input(history.as_ref(), &run, &metrics, artifacts.clone())?;
    let mut plan_json = None;
    if let Some(config) = &config {
        let plan = crate::plan::for_run(config, &run, history.as_ref());
        plan_json = plan.as_ref().map(|(_, json)| json.clone());
        input.plan = plan.map(|(section, _)| section);
    }
    let md = markdown::render(&input);
    let json = report_json(&input, plan_json);
    let html = html::render(&input);
    crate::print_stdout(match args.output {
        ReportFormatArg::Md => &md,
        ReportFormatArg::Json => &json,
        ReportFormatArg::Html => &html,
    })?;
    std::fs::create_dir_all(&report_dir)
        .with_context(|| format!("cannot create the report folder {}", report_dir.display()))?;
    for path in artifacts.iter().filter(|a| !a.ends_with(".db")) {
        let body = match Path::new(path).extension().and_then(|e| e.to_str()) {
            Some("md") => &md,
            Some("json") => &json,
            _ => &html,
        };
        crate::write_atomically(Path::new(path), body.as_bytes(), "the report to")?;
    }
    if let Some(error) = store_error {
        bail!("the run was reported but not stored: {error}");
    }
    if run.status == RunStatus::Interrupted {
        return Ok(ExitCode::from(crate::EXIT_INTERRUPTED as u8));
    }
    Ok(ExitCode::from(exit_code_for(&run.findings)))
}

fn open_history(given: &HistoryPath) -> Result<History> {
    let path = history_path(given, None);
    if !path.exists() {
        bail!(
            "no history at {} (run `scalewall run` first, or give --history)",
            path.display()
        );
    }
    Ok(History::open(&path)?)
}

/// `scalewall history`.
pub fn history_command(args: &HistoryArgs) -> Result<ExitCode> {
    let history = open_history(&args.history)?;
    let rows = history.list(args.subject.as_deref(), args.limit)?;
    let mut out = format!(
        "{:<36}  {:<12}  {:<24}  {:<11}  {}\n",
        "run", "subject", "started", "status", "findings"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<36}  {:<12}  {:<24}  {:<11}  {}\n",
            r.id, r.subject, r.started_at, r.status, r.findings
        ));
    }
    crate::print_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// `scalewall show`.
pub fn show_command(args: &ShowArgs) -> Result<ExitCode> {
    let history = open_history(&args.history)?;
    let id = history.resolve(&args.run)?;
    crate::print_stdout(&(history.load(&id)?.to_json() + "\n"))?;
    Ok(ExitCode::SUCCESS)
}

/// `scalewall compare`.
pub fn compare_command(args: &CompareArgs) -> Result<ExitCode> {
    let history = open_history(&args.history)?;
    let before = history.resolve(&args.before)?;
    let after = history.resolve(&args.after)?;
    let run = history.load(&after)?;
    let metrics = metrics::of_run(&run);
    let changes = changes_against(&history, &before, &metrics)?;
    let printed = match args.output {
        OutputFormat::Json => {
            serde_json::to_string_pretty(&serde_json::json!({
                "before": before,
                "after": after,
                "comparisons": changes.comparisons,
            }))? + "\n"
        }
        OutputFormat::Text => {
            let mut out = format!(
                "{before} → {after} (Mann–Whitney U on per-second samples; a change needs p < 0.05 and ≥ 5 % in the median)\n"
            );
            out.push_str(&format!(
                "{:<40}  {:>12}  {:>12}  {:>9}  {:>8}  decision\n",
                "metric", "before", "after", "change", "p"
            ));
            for c in &changes.comparisons {
                out.push_str(&format!(
                    "{:<40}  {:>12}  {:>12}  {:>8.1}%  {:>8}  {:?}\n",
                    c.metric,
                    usl::round_sig(c.before, 4),
                    usl::round_sig(c.after, 4),
                    c.relative_change * 100.0,
                    c.test.map_or("-".into(), |t| usl::round_sig(t.p_value, 2)),
                    c.change
                ));
            }
            out
        }
    };
    crate::print_stdout(&printed)?;
    Ok(ExitCode::SUCCESS)
}

/// `scalewall report`.
pub fn report_command(args: &ReportArgs) -> Result<ExitCode> {
    let history = open_history(&args.history)?;
    let id = history.resolve(&args.run)?;
    let run = history.load(&id)?;
    let metrics = metrics::of_run(&run);
    let input = report_input(Some(&history), &run, &metrics, Vec::new())?;
    crate::print_stdout(&match args.format {
        ReportFormatArg::Md => markdown::render(&input),
        ReportFormatArg::Json => report_json(&input, None),
        ReportFormatArg::Html => html::render(&input),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `scalewall baseline set`.
pub fn baseline_command(args: &BaselineArgs) -> Result<ExitCode> {
    let mut history = open_history(&args.history)?;
    let id = history.resolve(&args.run)?;
    let subject = history.set_baseline(&id)?;
    println!("baseline of {subject}: {id}");
    Ok(ExitCode::SUCCESS)
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
        assert!(note.contains("1 earlier run(s), 3 needed"), "{note}");
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
        assert_eq!(findings[0].evidence, "120.0 ms > critical 100 ms");
        assert_eq!(findings[1].evidence, "80.00 ms < warning 100 ms");
        assert_eq!(exit_code_for(&findings), 5);
        assert_eq!(exit_code_for(&findings[1..]), 4);
        assert_eq!(exit_code_for(&findings[2..]), 0);
        assert_eq!(exit_code_for(&[]), 0);
    }
}
