//! One job end to end: probe the system, run every scenario through the
//! load path, turn thresholds and failed checks into findings, compare with
//! the subject's earlier runs, store the run, render and write the reports,
//! and add the capacity plan. Without a config the job checks this host:
//! system health, the runtime suite and a self-check of the load path
//! against the built-in target, whose throughput is known in advance.
//!
//! A job never prints and never exits: progress goes to an [`Observer`],
//! a stop request arrives through the [`Control`] token, the clock and the
//! history store are passed in, and the result is an [`Outcome`]. Several
//! jobs can run at once in one process.

use crate::builtin::{self, DEMO_TARGET};
use crate::compare::{capacity_drift_findings, regression_findings, report_input, stored_metrics};
use crate::config::{self, Config, ReportFormat};
use crate::error::{Context as _, Result};
use crate::findings::{check_thresholds, exit_code_for, health_findings, worst};
use crate::fix::Fix;
use crate::load::{self, run_load};
use crate::observer::Observer;
use crate::record::{new_run, Clock};
use crate::{host, scenario};
use scalewall_demo::RunningDemo;
use scalewall_history::History;
use scalewall_load::engine::{Control, Pacing, StepPlan, StopAt};
use scalewall_load::target::Target;
use scalewall_model::health::{HealthStatus, Snapshot};
use scalewall_model::{Finding, Run, RunStatus, Scenario, Severity};
use scalewall_probe::snapshot::{self, SnapshotSpec};
use scalewall_report::{html, json, markdown};
use scalewall_stats::sweep;
use scalewall_stats::{metrics, number};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default history database.
pub const DEFAULT_HISTORY: &str = ".scalewall/history.db";
/// The default report folder.
pub const DEFAULT_REPORTS: &str = ".scalewall/reports";
/// Time per runtime-suite benchmark in the built-in job.
const SUITE_BUDGET_IN_RUN: Duration = Duration::from_millis(500);
/// How far the self-check's throughput may stray from the known answer.
const SELF_CHECK_TOLERANCE: f64 = 0.10;
/// The built-in self-check's measured time.
const SELF_CHECK_TIME: Duration = Duration::from_secs(3);
/// The built-in sweep's levels, their step and warm-up. The last lies past
/// the known peak (N* = 34.8): with 32 the highest, the peak was
/// extrapolated and its fit swung ±30 % between runs (σ and κ trade off),
/// a false MEDIUM finding on a healthy host.
const SELF_SWEEP_LEVELS: [u32; 7] = [1, 2, 4, 8, 16, 32, 64];
const SELF_SWEEP_STEP: Duration = Duration::from_secs(1);
const SELF_SWEEP_WARMUP: Duration = Duration::from_millis(200);
/// How far the self-sweep's fitted peak N* may stray from the known one.
const PEAK_TOLERANCE: f64 = 0.25;

/// Reads and validates a config file (`${VAR}` from the environment).
pub fn read_config(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    Ok(config::parse_all(
        &path.display().to_string(),
        &text,
        &|name| std::env::var(name).ok(),
        host::available_cores(),
    )?)
}

/// What `validate` reads an unset `${VAR}` as.
pub const UNSET_PLACEHOLDER: &str = "unset";

/// Reads and validates a config file as `validate` does: an unset `${VAR}`
/// does not stop the check (a password set only where the job runs); it
/// reads as [`UNSET_PLACEHOLDER`] and is named in the second value, so the
/// rest of the file is still checked. A run refuses it as before.
pub fn read_config_unset_allowed(path: &Path) -> Result<(Config, BTreeSet<String>)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    let unset = std::cell::RefCell::new(BTreeSet::new());
    let config = config::parse_all(
        &path.display().to_string(),
        &text,
        &|name| {
            std::env::var(name).ok().or_else(|| {
                unset.borrow_mut().insert(name.to_string());
                Some(UNSET_PLACEHOLDER.to_string())
            })
        },
        host::available_cores(),
    )?;
    Ok((config, unset.into_inner()))
}

/// The history database: the one given, else the config's, else the default.
pub fn history_path(given: Option<&Path>, config: Option<&Config>) -> PathBuf {
    given
        .map(Path::to_path_buf)
        .or_else(|| config.and_then(|c| c.history.clone()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_HISTORY))
}

/// What one job does.
#[derive(Debug)]
pub struct Job {
    /// The system's config; `None` runs the built-in host check.
    pub config: Option<Config>,
    /// Where the reports are written.
    pub report_dir: PathBuf,
    /// Which reports are written.
    pub formats: BTreeSet<ReportFormat>,
}

impl Job {
    /// The job of `config` (or the built-in one), with its report folder
    /// and formats taken from the config unless `report_dir` is given.
    pub fn new(config: Option<Config>, report_dir: Option<PathBuf>) -> Job {
        let report_dir = report_dir
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
        Job {
            config,
            report_dir,
            formats,
        }
    }
}

/// The history a job compares with and stores into.
pub struct HistoryStore<'a> {
    /// The open store.
    pub history: &'a mut History,
    /// Where it lives (listed among the artifacts).
    pub path: PathBuf,
}

/// What a job needs from the outside.
pub struct JobContext<'a> {
    /// Where "now" comes from.
    pub clock: &'a dyn Clock,
    /// Who hears about progress.
    pub observer: &'a dyn Observer,
    /// Stop requests (Ctrl-C, SIGTERM, a daemon's timeout).
    pub control: &'a Control,
    /// The history; `None` neither compares nor stores.
    pub history: Option<HistoryStore<'a>>,
}

/// The three reports of a run, rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Reports {
    /// Markdown.
    pub markdown: String,
    /// JSON.
    pub json: String,
    /// Self-contained HTML.
    pub html: String,
    /// The compact summary a terminal shows at the end, with ANSI colours.
    pub terminal: String,
}

impl Reports {
    /// The report in `format`.
    pub fn get(&self, format: ReportFormat) -> &str {
        match format {
            ReportFormat::Markdown => &self.markdown,
            ReportFormat::Json => &self.json,
            ReportFormat::Html => &self.html,
        }
    }
}

/// How a job ended.
#[derive(Debug)]
pub struct Outcome {
    /// The run record (stored, unless `store_error` says otherwise).
    pub run: Run,
    /// The worst finding.
    pub worst: Option<Severity>,
    /// The reports.
    pub reports: Reports,
    /// Files written (reports, then the history database when stored).
    pub written: Vec<PathBuf>,
    /// Files that could not be written, with why.
    pub write_errors: Vec<String>,
    /// Why the run could not be stored, when it could not.
    pub store_error: Option<String>,
}

/// Runs `job` to its end (or to a stop request, keeping what was measured).
/// Errors only when nothing can be measured at all (e.g. the built-in
/// target cannot start); an unreachable target or service is a finding.
pub fn run_job(job: &Job, mut ctx: JobContext<'_>) -> Result<Outcome> {
    let config = job.config.as_ref();
    // A report folder that cannot be written is found before any load, not
    // after it (and the Artifacts list names only files that are written).
    crate::files::check_writable_folder(&job.report_dir, "the report folder")?;
    let started = ctx.clock.now();
    let mut findings = Vec::new();
    let snapshot = probe_system(config, &mut findings);
    if let Some(snapshot) = &snapshot {
        let subject = config.map_or("host", |c| c.name.as_str());
        let last_up = match &ctx.history {
            Some(store) => last_healthy(store.history, subject, snapshot)?,
            None => BTreeMap::new(),
        };
        findings.extend(health_findings(snapshot, &last_up));
    }
    let mut scenarios = Vec::new();
    ctx.observer.planned(&planned_stages(config));
    match config {
        None => {
            ctx.observer.stage(&format!(
                "runtime suite (10 benchmarks × {SUITE_BUDGET_IN_RUN:?})"
            ));
            scenarios = run_suite(SUITE_BUDGET_IN_RUN, ctx.control, &mut findings)?;
            if !ctx.control.is_stopped() {
                scenarios.extend(self_check(ctx.observer, ctx.control, &mut findings)?);
            }
        }
        Some(config) => {
            let during_load: Vec<crate::config::MetricSpec> = config
                .metrics
                .iter()
                .filter(|m| m.during_load)
                .cloned()
                .collect();
            for scenario in &config.scenarios {
                if ctx.control.is_stopped() {
                    break;
                }
                ctx.observer.stage(&format!(
                    "scenario {} ({})",
                    scenario.name,
                    if scenario.service.is_empty() {
                        "a command"
                    } else {
                        &scenario.service
                    }
                ));
                if let Some(done) = run_scenario(
                    &scenario.name,
                    &scenario.command,
                    &during_load,
                    ctx.observer,
                    ctx.control,
                    &mut findings,
                )? {
                    scenarios.push(done);
                }
            }
        }
    }
    let status = if ctx.control.is_stopped() {
        RunStatus::Interrupted
    } else {
        RunStatus::Completed
    };
    let mut run = Run {
        subject: Some(config.map_or("host".to_string(), |c| c.name.clone())),
        system_health: snapshot,
        ..new_run(ctx.clock, started, status, scenarios)
    };
    let metrics = metrics::of_run(&run);
    if let Some(config) = config {
        let (statuses, breaches) = check_thresholds(&metrics, &config.thresholds);
        run.thresholds_checked = statuses.keys().cloned().collect();
        findings.extend(breaches);
    }
    if let Some(store) = &ctx.history {
        findings.extend(regression_findings(store.history, &run, &metrics)?);
        findings.extend(capacity_drift_findings(store.history, &run)?);
    }
    run.findings = findings;
    let stored = stored_metrics(&metrics);
    let store = |ctx: &mut JobContext<'_>, run: &Run| {
        ctx.history
            .as_mut()
            .and_then(|h| h.history.store(run, &stored).err().map(|e| e.to_string()))
    };
    // Stored before the plan (its projections read this run from the
    // history) and again after it, with the plan and the artifacts.
    let store_error = store(&mut ctx, &run);
    let mut artifacts: Vec<PathBuf> = job
        .formats
        .iter()
        .map(|f| job.report_dir.join(format!("{}.{}", run.id, f.extension())))
        .collect();
    if store_error.is_none() {
        if let Some(store) = &ctx.history {
            artifacts.push(store.path.clone());
        }
    }
    run.artifacts = artifacts.iter().map(|p| p.display().to_string()).collect();
    if let Some(config) = config {
        let history = ctx
            .history
            .as_ref()
            .filter(|_| store_error.is_none())
            .map(|store| &*store.history);
        // The plan's projections read this run from the history: it is
        // computed after the first store, then kept with the run.
        run.plan = crate::plan::for_run(config, &run, history);
    }
    let store_error = store_error.or_else(|| store(&mut ctx, &run));
    let history = ctx
        .history
        .as_ref()
        .filter(|_| store_error.is_none())
        .map(|store| &*store.history);
    let input = report_input(history, &run, &metrics)?;
    let reports = Reports {
        markdown: markdown::render(&input),
        json: json::report(&input, exit_code_for(&run.findings)),
        html: html::render(&input),
        terminal: scalewall_report::terminal::summary(
            &scalewall_report::overview::Overview::of(&input),
            true,
        ),
    };
    let (mut written, mut write_errors) = write_reports(&job.report_dir, &artifacts, &reports);
    // Retention: the reports of runs past `[report] keep` (this run's are
    // the newest, never dropped).
    if let Some(keep) = config.and_then(|c| c.report_keep) {
        if let Err(e) = crate::files::prune_reports(&job.report_dir, keep) {
            write_errors.push(e.to_string());
        }
    }
    if store_error.is_none() {
        written.extend(ctx.history.as_ref().map(|h| h.path.clone()));
    }
    Ok(Outcome {
        worst: worst(&run.findings),
        run,
        reports,
        written,
        write_errors,
        store_error,
    })
}

/// The stages a job will go through, each with the time its steps are
/// planned to take (warm-ups included; `None` when a step stops after a
/// count of operations, or its options are invalid and it will not run).
fn planned_stages(config: Option<&Config>) -> Vec<(String, Option<Duration>)> {
    let step_time = |s: &StepPlan| match s.stop {
        StopAt::Duration(d) => Some(d + s.warmup),
        StopAt::Operations(_) => None,
    };
    match config {
        None => vec![
            ("runtime suite".into(), Some(SUITE_BUDGET_IN_RUN * 10)),
            ("self-check".into(), Some(SELF_CHECK_TIME)),
            (
                "self-sweep".into(),
                Some((SELF_SWEEP_STEP + SELF_SWEEP_WARMUP) * SELF_SWEEP_LEVELS.len() as u32),
            ),
        ],
        Some(config) => {
            let cores = host::available_cores();
            config
                .scenarios
                .iter()
                .map(|s| {
                    let time = match &s.command {
                        scenario::ScenarioCommand::Bench(args) => {
                            scenario::validate_bench(args, cores)
                                .ok()
                                .and_then(|p| step_time(&p.step))
                        }
                        scenario::ScenarioCommand::Probe => Some(Duration::ZERO),
                        // A search's length is its budget, when it has one.
                        scenario::ScenarioCommand::Sweep(args) => {
                            scenario::validate_sweep(args, cores).ok().and_then(|p| {
                                match p.search {
                                    Some(search) => search.budget,
                                    None => p.steps.iter().map(step_time).sum(),
                                }
                            })
                        }
                    };
                    (s.name.clone(), time)
                })
                .collect()
        }
    }
}

/// Writes each report file atomically; the history database among the
/// artifacts is not a report and is skipped.
fn write_reports(
    dir: &Path,
    artifacts: &[PathBuf],
    reports: &Reports,
) -> (Vec<PathBuf>, Vec<String>) {
    let mut written = Vec::new();
    let mut errors = Vec::new();
    if let Err(error) = std::fs::create_dir_all(dir) {
        errors.push(format!(
            "cannot create the report folder {}: {error}",
            dir.display()
        ));
        return (written, errors);
    }
    for path in artifacts {
        let Some(format) = path
            .extension()
            .and_then(|e| e.to_str())
            .and_then(ReportFormat::from_extension)
        else {
            continue;
        };
        match crate::files::write_atomically(path, reports.get(format).as_bytes(), "the report to")
        {
            Ok(()) => written.push(path.clone()),
            Err(error) => errors.push(error.to_string()),
        }
    }
    (written, errors)
}

/// Stored runs searched for the last time a failing check was healthy.
const LAST_UP_RUNS: usize = 50;

/// For each health check of `snapshot` that is not healthy, when the
/// latest of the subject's last [`LAST_UP_RUNS`] stored runs saw it
/// healthy (absent when none did).
fn last_healthy(
    history: &History,
    subject: &str,
    snapshot: &Snapshot,
) -> Result<BTreeMap<String, String>> {
    let mut failing: Vec<&str> = snapshot
        .health
        .iter()
        .filter(|h| h.status != HealthStatus::Healthy)
        .map(|h| h.target.as_str())
        .collect();
    let mut found = BTreeMap::new();
    if failing.is_empty() {
        return Ok(found);
    }
    // Newest first: the first run that saw a check healthy is its last up.
    for row in history.list(Some(subject), LAST_UP_RUNS)? {
        let run = history.load(&row.id)?;
        let Some(health) = &run.system_health else {
            continue;
        };
        failing.retain(|target| {
            let up = health
                .health
                .iter()
                .any(|h| h.target == *target && h.status == HealthStatus::Healthy);
            if up {
                found.insert(target.to_string(), run.started_at.clone());
            }
            !up
        });
        if failing.is_empty() {
            break;
        }
    }
    Ok(found)
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
                fix: Fix::HostUnprobed.text(),
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
                snapshot
                    .unavailable
                    .extend(readings.unavailable.into_iter().map(|mut u| {
                        u.label.get_or_insert_with(|| service.name.clone());
                        u
                    }));
            }
            Err(error) => findings.push(Finding {
                severity: Severity::Critical,
                subject: service.name.clone(),
                message: format!("service {} could not be probed", service.name),
                evidence: error.to_string(),
                fix: Fix::ServiceUnprobed {
                    kind: "service",
                    target: &service.name,
                }
                .text(),
            }),
        }
    }
    snapshot.custom =
        sample_custom_metrics(config.map(|c| c.metrics.as_slice()).unwrap_or_default());
    Some(snapshot)
}

/// Reads every custom metric at once (each within its timeout); a source
/// that fails is a reading with its reason, never a failed run.
pub fn sample_custom_metrics(
    metrics: &[crate::config::MetricSpec],
) -> Vec<scalewall_model::health::CustomReading> {
    std::thread::scope(|scope| {
        let readers: Vec<_> = metrics
            .iter()
            .map(|m| scope.spawn(|| scalewall_probe::custom::sample(&m.metric, m.timeout)))
            .collect();
        readers
            .into_iter()
            .zip(metrics)
            .map(|(reader, m)| {
                reader.join().unwrap_or_else(|_| {
                    scalewall_probe::custom::reading(&m.metric, Some("its reader failed".into()))
                })
            })
            .collect()
    })
}

/// Runs one scenario's steps; an unreachable target is a finding.
fn run_scenario(
    name: &str,
    command: &scenario::ScenarioCommand,
    during_load: &[crate::config::MetricSpec],
    observer: &dyn Observer,
    control: &Control,
    findings: &mut Vec<Finding>,
) -> Result<Option<Scenario>> {
    let cores = host::available_cores();
    let loaded = match command {
        // Its service is probed with the run's snapshot; nothing to load.
        scenario::ScenarioCommand::Probe => return Ok(None),
        scenario::ScenarioCommand::Bench(args) => {
            let plan = scenario::validate_bench(args, cores)?;
            load::load_args(
                &args.request,
                during_load,
                &plan.headers,
                &plan.params,
                None,
                &[plan.step],
                control,
                observer,
            )
        }
        scenario::ScenarioCommand::Sweep(args) => {
            let plan = scenario::validate_sweep(args, cores)?;
            match (&plan.swept, &plan.search) {
                (Some(_), _) => {
                    match load::load_param_sweep(&args.request, &plan, control, observer) {
                        Ok(Some(scenario)) => Ok(scenario),
                        // Stopped before any value was measured.
                        Ok(None) => return Ok(None),
                        Err(error) => Err(error),
                    }
                }
                (None, Some(search)) => crate::search::run_search(
                    search,
                    &args.request,
                    &plan.headers,
                    &plan.params,
                    control,
                    observer,
                ),
                (None, None) => load::load_args(
                    &args.request,
                    during_load,
                    &plan.headers,
                    &plan.params,
                    None,
                    &plan.steps,
                    control,
                    observer,
                ),
            }
        }
    };
    match loaded {
        Ok(mut scenario) => {
            scenario.name = name.to_string();
            findings.extend(crate::findings::lost_workers(&scenario));
            findings.extend(crate::findings::leaks(&scenario));
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
                        fix: Fix::EveryOperationFailed {
                            scenario: name,
                            target: &scenario.target,
                        }
                        .text(),
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
                evidence: error.to_string(),
                fix: Fix::ScenarioFailed { scenario: name }.text(),
            });
            Ok(None)
        }
    }
}

/// The built-in job's load: a bench and a sweep of an in-process target
/// with a known throughput curve, each checked against it.
fn self_check(
    observer: &dyn Observer,
    control: &Control,
    findings: &mut Vec<Finding>,
) -> Result<Vec<Scenario>> {
    let server = RunningDemo::start(([127, 0, 0, 1], 0).into(), DEMO_TARGET, 1)
        .context("cannot start the built-in target on 127.0.0.1")?;
    let target = Target::parse(&server.url())?;
    let request = builtin::request(&target);
    let plan = |connections: u32, measured: Duration, warmup: Duration| StepPlan {
        connections,
        pacing: Pacing::Closed,
        stop: StopAt::Duration(measured),
        warmup,
        timeout: Duration::from_secs(10),
        threads: 1,
        interval: scenario::interval_for(measured),
    };
    let mut scenarios = Vec::new();
    observer.stage("self-check: the load path against a target with a known answer");
    let before = server.requests_served();
    let mut scenario = run_load(
        &request,
        &[plan(16, SELF_CHECK_TIME, Duration::ZERO)],
        control,
        observer,
    )?;
    scenario.name = "self-check".into();
    scenario.known_answer = Some(builtin::known_answer(&scenario.steps, SELF_CHECK_TOLERANCE));
    if let Some(step) = scenario.steps.first() {
        let served = server.requests_served() - before;
        let counted = step.responses_with_warmup();
        if served != counted {
            findings.push(Finding {
                severity: Severity::Critical,
                subject: "self-check".into(),
                message: "the load generator's count differs from the target's".into(),
                evidence: format!("target served {served}, scalewall counted {counted}"),
                fix: Fix::CountMismatch { served, counted }.text(),
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
                    "{} req/s measured vs {} req/s known ({}, tolerance ±{})",
                    number::sig(step.achieved_rate_per_s),
                    number::sig(expected),
                    number::change(deviation),
                    number::pct(SELF_CHECK_TOLERANCE * 100.0)
                ),
                fix: Fix::SelfCheckOff {
                    measured: step.achieved_rate_per_s,
                    known: expected,
                }
                .text(),
            });
        }
    }
    scenarios.push(scenario);
    if control.is_stopped() {
        return Ok(scenarios);
    }
    observer.stage("self-sweep: a concurrency sweep of the built-in target");
    let plans: Vec<StepPlan> = SELF_SWEEP_LEVELS
        .iter()
        .map(|&n| plan(n, SELF_SWEEP_STEP, SELF_SWEEP_WARMUP))
        .collect();
    let mut scenario = run_load(&request, &plans, control, observer)?;
    scenario.name = "self-sweep".into();
    scenario.known_answer = Some(builtin::known_answer(&scenario.steps, PEAK_TOLERANCE));
    let analysis = sweep::analyse(sweep::points_of(&scenario.steps));
    let known_peak =
        (DEMO_TARGET.kappa > 0.0).then(|| ((1.0 - DEMO_TARGET.sigma) / DEMO_TARGET.kappa).sqrt());
    if let (Ok(fit), Some(known)) = (&analysis.fit, known_peak) {
        if let Some(found) = fit.peak_concurrency() {
            let off = found / known - 1.0;
            if off.abs() > PEAK_TOLERANCE {
                findings.push(Finding {
                    severity: Severity::Medium,
                    subject: "self-sweep".into(),
                    message: "the USL fit of the built-in target misses its known peak".into(),
                    evidence: format!(
                        "N* {} fitted vs {} known ({})",
                        number::sig_n(found, 3),
                        number::sig_n(known, 3),
                        number::change(off)
                    ),
                    fix: Fix::SelfSweepOff { found, known }.text(),
                });
            }
        }
    }
    scenarios.push(scenario);
    Ok(scenarios)
}

/// Runs the runtime suite, turning any benchmark's errors into findings.
pub fn run_suite(
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
                    fix: Fix::SuiteFailed { benchmark: &s.name }.text(),
                });
            }
        }
    }
    Ok(scenarios)
}
