//! The daemon: each `[[job]]` on its own schedule thread, one run at a
//! time across jobs (two loads at once would measure each other), every
//! run the job library's run (stored, reported, compared), statuses and
//! alerts updated after each, the endpoints served from what it knows.
//!
//! A run that errors or panics marks its job FAILING and never stops the
//! daemon; a run past its timeout is cancelled (kept as interrupted) and
//! marks it TIMEOUT. A stop request (SIGTERM, Ctrl-C) starts no new run,
//! cancels the running one (kept as interrupted) and returns.

use crate::alert::{self, AlertRule, RunEvent, Sender};
use crate::external::{self, Ended, ExternalRun, TIMEOUT_SUBJECT};
use crate::schedule::Schedule;
use crate::status::{JobStatus, RunOutcome, StatusState};
use crate::view::{unix_s, AlertHealth, JobView, LastRun};
use crate::WatchError;
use scalewall_history::History;
use scalewall_job::config::{Config, JobKind, WatchJob, WatchSettings, WATCH_LISTEN};
use scalewall_job::job::{read_config, run_job, HistoryStore, Job, JobContext};
use scalewall_job::observer::Silent;
use scalewall_job::record::SystemClock;
use scalewall_load::engine::Control;
use scalewall_model::{Run, RunStatus, Severity};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// How often a running run's watchdog looks at its deadline and the stop flag.
const TICK: Duration = Duration::from_millis(50);
/// How often an idle schedule thread looks at the stop flag (an idle
/// daemon must cost next to nothing: 10 jobs wake 10 times a second).
const WAIT_SLICE: Duration = Duration::from_secs(1);

/// Everything the daemon needs, from the config.
#[derive(Debug, Clone)]
pub struct WatchPlan {
    /// The config file the jobs come from.
    pub config_path: PathBuf,
    /// `[watch]`.
    pub settings: WatchSettings,
    /// `[[job]]`s.
    pub jobs: Vec<WatchJob>,
    /// `[[alert]]`s.
    pub alerts: Vec<AlertRule>,
    /// The history database.
    pub history_path: PathBuf,
    /// Where reports go (else the config's).
    pub report_dir: Option<PathBuf>,
    /// Retention (`[history] keep_full`): older runs are pruned after each run.
    pub keep_full: Option<Duration>,
}

impl WatchPlan {
    /// The plan of a config, refusing a non-loopback listen without token.
    pub fn of(
        config_path: &Path,
        config: &Config,
        history_path: PathBuf,
        report_dir: Option<PathBuf>,
    ) -> Result<WatchPlan, WatchError> {
        if config.jobs.is_empty() {
            return Err(WatchError::Config(format!(
                "{} has no [[job]]: add one (name, every, scenarios) for `scalewall watch`",
                config_path.display()
            )));
        }
        let settings = config.watch.clone().unwrap_or(WatchSettings {
            listen: WATCH_LISTEN.to_string(),
            token: None,
        });
        let address: std::net::SocketAddr = settings.listen.parse().map_err(|_| {
            WatchError::Config(format!("listen '{}' is not HOST:PORT", settings.listen))
        })?;
        if !address.ip().is_loopback() && settings.token.is_none() {
            return Err(WatchError::Config(format!(
                "[watch] listen = \"{}\" is not loopback: set token = \"${{SCALEWALL_TOKEN}}\" (16+ characters) so the endpoints are not open to the network",
                settings.listen
            )));
        }
        Ok(WatchPlan {
            config_path: config_path.to_path_buf(),
            settings,
            jobs: config.jobs.clone(),
            alerts: config.alerts.clone(),
            history_path,
            report_dir,
            keep_full: config.keep_full,
        })
    }
}

/// What every thread shares.
pub struct Shared {
    /// The jobs as the endpoints show them, in config order.
    pub jobs: Mutex<Vec<JobView>>,
    /// Each alert channel's label and health.
    pub alerts: Mutex<Vec<(String, AlertHealth)>>,
    /// What each alert rule has fired and not yet resolved, in rule order.
    ledgers: Mutex<Vec<alert::Ledger>>,
    /// Each job's latest run against its previous one (noise-gated), for
    /// the engine report.
    pub changes: Mutex<std::collections::BTreeMap<String, scalewall_report::markdown::Changes>>,
    /// The daemon's stop request.
    pub stop: Control,
    /// The running run's stop control.
    active: Mutex<Option<Control>>,
    /// One run at a time.
    run_lock: Mutex<()>,
    /// The last time a scheduler thread was alive.
    pub heartbeat: Mutex<Instant>,
    /// The history database path.
    pub history_path: PathBuf,
    /// Where reports are written, for `/reports/…`.
    pub report_dir: PathBuf,
    /// Reports of push jobs not yet recorded, by job.
    pushed: Mutex<std::collections::BTreeMap<String, Vec<ExternalRun>>>,
    /// Wakes the push jobs' threads when a report comes.
    pushed_signal: Condvar,
    /// The push jobs' names, in config order.
    push_jobs: Vec<String>,
}

/// Why a push report was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushRefused {
    /// No push job of that name (the names of those there are).
    NoSuchJob(Vec<String>),
    /// The body is not a report.
    Invalid(String),
}

/// Locks a mutex, recovering it from a thread that panicked holding it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// The shared state of a plan.
    pub fn new(plan: &WatchPlan, stop: Control, report_dir: PathBuf) -> Shared {
        Shared {
            jobs: Mutex::new(
                plan.jobs
                    .iter()
                    .map(|j| JobView {
                        name: j.name.clone(),
                        kind: j.kind.label(),
                        every_s: j.every.as_secs_f64(),
                        ..JobView::default()
                    })
                    .collect(),
            ),
            alerts: Mutex::new(
                plan.alerts
                    .iter()
                    .map(|a| (alert::label(&a.url), AlertHealth::default()))
                    .collect(),
            ),
            ledgers: Mutex::new(
                plan.alerts
                    .iter()
                    .map(|_| alert::Ledger::default())
                    .collect(),
            ),
            changes: Mutex::new(std::collections::BTreeMap::new()),
            stop,
            active: Mutex::new(None),
            run_lock: Mutex::new(()),
            heartbeat: Mutex::new(Instant::now()),
            history_path: plan.history_path.clone(),
            report_dir,
            pushed: Mutex::new(std::collections::BTreeMap::new()),
            pushed_signal: Condvar::new(),
            push_jobs: plan
                .jobs
                .iter()
                .filter(|j| matches!(j.kind, JobKind::Push { .. }))
                .map(|j| j.name.clone())
                .collect(),
        }
    }

    /// Takes a push job's report (`POST /api/jobs/<name>/runs`): its
    /// thread records it at once.
    pub fn push_report(&self, job: &str, body: &[u8]) -> Result<(), PushRefused> {
        if !self.push_jobs.iter().any(|name| name == job) {
            return Err(PushRefused::NoSuchJob(self.push_jobs.clone()));
        }
        let report = external::Report::parse(body).map_err(PushRefused::Invalid)?;
        lock(&self.pushed)
            .entry(job.to_string())
            .or_default()
            .push(report.into_run(SystemTime::now()));
        self.pushed_signal.notify_all();
        Ok(())
    }

    fn update(&self, job: &str, change: impl FnOnce(&mut JobView)) {
        if let Some(view) = lock(&self.jobs).iter_mut().find(|v| v.name == job) {
            change(view);
        }
    }
}

/// The report folder of a plan: the one given, else the config's, else
/// the job library's default.
pub fn report_dir_of(plan: &WatchPlan) -> PathBuf {
    let config = read_config(&plan.config_path).ok();
    Job::new(config, plan.report_dir.clone()).report_dir
}

/// A uniform number in [0, 1) for jitter.
fn unit() -> f64 {
    fastrand::f64()
}

/// The config file a job's scenarios come from.
fn config_of(plan: &WatchPlan, job: &WatchJob) -> PathBuf {
    match &job.config {
        Some(other) => plan
            .config_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(other),
        None => plan.config_path.clone(),
    }
}

/// The config a job runs: its scenarios only, stored under its name.
fn job_config(path: &Path, job: &WatchJob) -> Result<Config, String> {
    let mut config = read_config(path).map_err(|e| e.to_string())?;
    if !job.scenarios.is_empty() {
        let missing: Vec<&String> = job
            .scenarios
            .iter()
            .filter(|name| !config.scenarios.iter().any(|s| &s.name == *name))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "{} has no scenario {}",
                path.display(),
                missing
                    .iter()
                    .map(|s| format!("'{s}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        // Thresholds of scenarios this job does not run would only say
        // "not measured"; the plan needs every scenario it names.
        let all: Vec<String> = config.scenarios.iter().map(|s| s.name.clone()).collect();
        config.scenarios.retain(|s| job.scenarios.contains(&s.name));
        // Probed and judged: the services its scenarios load and those it
        // names, so a service down fails only the jobs that use it.
        let used: Vec<String> = config
            .scenarios
            .iter()
            .map(|s| s.service.clone())
            .chain(job.services.iter().cloned())
            .collect();
        config.services.retain(|s| used.contains(&s.name));
        config.thresholds.retain(|t| {
            let scenario = t.metric.split('.').next().unwrap_or("");
            !all.iter().any(|s| s == scenario) || job.scenarios.iter().any(|s| s == scenario)
        });
        config.plan = None;
    }
    config.name = job.name.clone();
    Ok(config)
}

/// Completed runs a timeout's fix sizes the new timeout by.
const TIMEOUT_SIZING_RUNS: usize = 20;

/// The longest of the job's last [`TIMEOUT_SIZING_RUNS`] completed runs,
/// seconds (`None` when none completed or the history cannot be read).
fn longest_completed_s(history: &History, job: &str) -> Option<f64> {
    let rows = history.list(Some(job), TIMEOUT_SIZING_RUNS).ok()?;
    rows.iter()
        .filter(|r| r.status == "completed")
        .filter_map(|r| {
            let run = history.load(&r.id).ok()?;
            let started = humantime::parse_rfc3339(&run.started_at).ok()?;
            let finished = humantime::parse_rfc3339(&run.finished_at).ok()?;
            Some(finished.duration_since(started).ok()?.as_secs_f64())
        })
        .reduce(f64::max)
}

fn timeout_finding(job: &WatchJob, longest_completed_s: Option<f64>) -> scalewall_model::Finding {
    scalewall_model::Finding {
        severity: Severity::High,
        subject: TIMEOUT_SUBJECT.into(),
        message: format!("job {} passed its timeout: the run was cancelled", job.name),
        evidence: format!(
            "timeout {}; what was measured before it is kept",
            humantime::format_duration(job.timeout)
        ),
        fix: scalewall_job::fix::Fix::Timeout {
            timeout_s: job.timeout.as_secs_f64(),
            longest_completed_s,
        }
        .text(),
    }
}

/// One finished run of a job.
pub struct Ran {
    /// How it ended.
    pub outcome: RunOutcome,
    /// What the job shows of it.
    pub last: LastRun,
    /// Its record, when one exists.
    pub run: Option<Run>,
    /// Its exit code as `scalewall run` would give it.
    pub exit_code: u8,
    /// Its HTML report's name under the report folder, when written.
    pub report: Option<String>,
}

/// Runs one job once, now: never panics, never returns an error (both
/// become a FAILING outcome with the reason).
pub fn run_once(plan: &WatchPlan, shared: &Shared, job: &WatchJob) -> Ran {
    let started = SystemTime::now();
    let clock = Instant::now();
    let control = Control::new();
    *lock(&shared.active) = Some(control.clone());
    // The timeout: a watchdog stops the run's control.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let timed_out_flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let control = control.clone();
        let flag = timed_out_flag.clone();
        let daemon = shared.stop.clone();
        let timeout = job.timeout;
        std::thread::spawn(move || {
            let deadline = Instant::now() + timeout;
            loop {
                match done_rx.recv_timeout(TICK) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return false,
                }
                if daemon.is_stopped() {
                    control.request_stop();
                    return false;
                }
                if Instant::now() >= deadline {
                    flag.store(true, std::sync::atomic::Ordering::SeqCst);
                    control.request_stop();
                    return true;
                }
            }
        })
    };
    let path = config_of(plan, job);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| -> Result<_, String> {
        let config = job_config(&path, job)?;
        let job_spec = Job::new(Some(config), Some(shared.report_dir.clone()));
        let mut history = History::open(&shared.history_path).map_err(|e| e.to_string())?;
        let mut done = run_job(
            &job_spec,
            JobContext {
                clock: &SystemClock,
                observer: &Silent,
                control: &control,
                history: Some(HistoryStore {
                    history: &mut history,
                    path: shared.history_path.clone(),
                }),
            },
        )
        .map_err(|e| e.to_string())?;
        if timed_out_flag.load(std::sync::atomic::Ordering::SeqCst) {
            // The record says why it stopped: an interrupted run with this
            // finding is a TIMEOUT when the status is replayed; one without
            // was stopped with the daemon.
            let longest = longest_completed_s(&history, &job.name);
            done.run.findings.push(timeout_finding(job, longest));
            done.worst = done.run.findings.iter().map(|f| f.severity).max();
            if done.store_error.is_none() {
                let metrics = scalewall_job::compare::stored_metrics(
                    &scalewall_stats::metrics::of_run(&done.run),
                );
                if let Err(e) = history.store(&done.run, &metrics) {
                    done.store_error = Some(e.to_string());
                }
            }
        }
        Ok(done)
    }));
    let _ = done_tx.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    *lock(&shared.active) = None;
    let duration_s = clock.elapsed().as_secs_f64();
    let last = |outcome, id: String, error: Option<String>| LastRun {
        id,
        started_unix_s: unix_s(started),
        duration_s,
        outcome,
        error,
        exit_code: None,
        output: None,
    };
    match result {
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown".into());
            Ran {
                outcome: RunOutcome::Failed,
                last: last(
                    RunOutcome::Failed,
                    String::new(),
                    Some(format!("the run panicked: {why}")),
                ),
                run: None,
                exit_code: 1,
                report: None,
            }
        }
        Ok(Err(error)) => Ran {
            outcome: RunOutcome::Failed,
            last: last(RunOutcome::Failed, String::new(), Some(error)),
            run: None,
            exit_code: 1,
            report: None,
        },
        Ok(Ok(done)) => {
            let worst = done.worst;
            let (outcome, error) = if timed_out {
                (
                    RunOutcome::TimedOut,
                    Some(format!(
                        "passed its timeout of {}: cancelled, kept as interrupted",
                        humantime::format_duration(job.timeout)
                    )),
                )
            } else if let Some(e) = done
                .store_error
                .clone()
                .or(done.write_errors.first().cloned())
            {
                (RunOutcome::Failed, Some(e))
            } else if worst == Some(Severity::Critical) {
                let f = done
                    .run
                    .findings
                    .iter()
                    .find(|f| f.severity == Severity::Critical)
                    .map(|f| format!("{}: {}", f.subject, f.message));
                (RunOutcome::Failed, f)
            } else {
                (RunOutcome::Ok, None)
            };
            let report = done
                .written
                .iter()
                .find(|p| p.extension().is_some_and(|e| e == "html"))
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned());
            // As `scalewall run` exits: by the worst finding, and 1 at
            // least for a run that did not end as planned.
            let gate = scalewall_job::findings::gate_code(worst);
            let exit_code =
                if timed_out || done.store_error.is_some() || !done.write_errors.is_empty() {
                    gate.max(1)
                } else {
                    gate
                };
            Ran {
                outcome,
                last: last(outcome, done.run.id.clone(), error),
                run: Some(done.run),
                exit_code,
                report,
            }
        }
    }
}

/// Runs a load or command job once, now.
fn run_scheduled(plan: &WatchPlan, shared: &Shared, job: &WatchJob) -> Ran {
    match &job.kind {
        JobKind::Command { argv } => run_command_job(plan, shared, job, argv),
        JobKind::Load | JobKind::Push { .. } => run_once(plan, shared, job),
    }
}

/// Runs a command job once, in the config file's folder, and stores it.
fn run_command_job(plan: &WatchPlan, shared: &Shared, job: &WatchJob, argv: &[String]) -> Ran {
    let folder = match plan.config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let control = Control::new();
    *lock(&shared.active) = Some(control.clone());
    let ran = external::run_command(argv, &folder, job.timeout, &control);
    *lock(&shared.active) = None;
    if ran.ended == Ended::Stopped {
        // Stopped with the daemon: not the job's doing, not stored.
        return Ran {
            outcome: RunOutcome::Failed,
            last: LastRun {
                id: String::new(),
                started_unix_s: unix_s(ran.started),
                duration_s: ran.duration_s,
                outcome: RunOutcome::Failed,
                error: Some("stopped with the daemon".into()),
                exit_code: None,
                output: Some(ran.output),
            },
            run: None,
            exit_code: 1,
            report: None,
        };
    }
    ran_external(shared, job, ran)
}

/// A command as one line, for a fix to quote (`sh -c LINE` as LINE).
fn command_line(argv: &[String]) -> String {
    match argv {
        [sh, c, line] if sh == "sh" && c == "-c" => line.clone(),
        _ => argv.join(" "),
    }
}

/// Stores an external job's run with the finding that explains it, and
/// makes it a [`Ran`] (a failure to store it is the run's error).
fn ran_external(shared: &Shared, job: &WatchJob, ran: ExternalRun) -> Ran {
    let line = match &job.kind {
        JobKind::Command { argv } => command_line(argv),
        _ => String::new(),
    };
    let source = match &job.kind {
        JobKind::Push { grace } => external::Source::Push {
            due_s: (job.every + *grace).as_secs_f64(),
        },
        _ => external::Source::Command(&line),
    };
    let history = History::open(&shared.history_path);
    let finding = match (&ran.ended, &source) {
        (Ended::TimedOut, external::Source::Command(_)) => Some(timeout_finding(
            job,
            history
                .as_ref()
                .ok()
                .and_then(|h| longest_completed_s(h, &job.name)),
        )),
        _ => external::finding_of(&job.name, &source, &ran),
    };
    let record = external::record_of(&job.name, &ran, finding);
    let metrics = if ran.ended == Ended::Ok {
        vec![scalewall_history::StoredMetric {
            name: external::DURATION_METRIC.into(),
            value: ran.duration_s,
            samples: Vec::new(),
        }]
    } else {
        Vec::new()
    };
    let store_error = match history {
        Ok(mut history) => history
            .store(&record, &metrics)
            .err()
            .map(|e| e.to_string()),
        Err(e) => Some(e.to_string()),
    };
    let outcome = match (&ran.ended, &store_error) {
        (Ended::Ok, None) => RunOutcome::Ok,
        (Ended::TimedOut, _) => RunOutcome::TimedOut,
        _ => RunOutcome::Failed,
    };
    let error = store_error.or_else(|| {
        record
            .findings
            .first()
            .map(|f| format!("{}: {}", f.message, f.evidence))
    });
    let worst = record.findings.iter().map(|f| f.severity).max();
    let exit_code = match outcome {
        RunOutcome::Ok => scalewall_job::findings::gate_code(worst),
        _ => scalewall_job::findings::gate_code(worst).max(1),
    };
    Ran {
        outcome,
        last: LastRun {
            id: record.id.clone(),
            started_unix_s: unix_s(ran.started),
            duration_s: ran.duration_s,
            outcome,
            error,
            exit_code: ran.exit_code,
            output: Some(ran.output).filter(|o| !o.is_empty()),
        },
        run: Some(record),
        exit_code,
        report: None,
    }
}

/// When a push job last reported, from its stored runs (a late run is
/// not a report).
fn last_report_of(history: &History, job: &str) -> Option<SystemTime> {
    let rows = history.list(Some(job), RESUME_RUNS).ok()?;
    rows.iter().find_map(|row| {
        let run = history.load(&row.id).ok()?;
        if run
            .findings
            .iter()
            .any(|f| f.subject == external::LATE_SUBJECT)
        {
            return None;
        }
        humantime::parse_rfc3339_weak(&run.finished_at).ok()
    })
}

/// A push job's thread: records each report as it comes, and a late run
/// each `every` while none comes within `every` + `grace` of the last.
fn push_loop(
    plan: &WatchPlan,
    shared: &Shared,
    sender: &dyn Sender,
    job: &WatchJob,
    grace: Duration,
) {
    let last_start = resume_job(shared, job);
    let mut last_report = History::open(&shared.history_path)
        .ok()
        .and_then(|h| last_report_of(&h, &job.name));
    let due = job.every + grace;
    let now = SystemTime::now();
    // Due `every` + `grace` after the last report (or this start); after a
    // late run stored before a restart, the next late one is `every` on.
    let mut deadline = last_report.unwrap_or(now) + due;
    if let Some(start) = last_start.filter(|s| Some(*s) > last_report) {
        deadline = deadline.max(start + job.every);
    }
    let mut late_since: Option<SystemTime> = None;
    loop {
        shared.update(&job.name, |v| v.next_run = Some(deadline));
        let report = {
            let mut pushed = lock(&shared.pushed);
            loop {
                *lock(&shared.heartbeat) = Instant::now();
                if shared.stop.is_stopped() {
                    return;
                }
                if let Some(waiting) = pushed.get_mut(&job.name).filter(|w| !w.is_empty()) {
                    break Some(waiting.remove(0));
                }
                let left = match deadline.duration_since(SystemTime::now()) {
                    Ok(left) if !left.is_zero() => left,
                    _ => break None,
                };
                pushed = match shared
                    .pushed_signal
                    .wait_timeout(pushed, left.min(WAIT_SLICE))
                {
                    Ok((guard, _)) => guard,
                    Err(poisoned) => poisoned.into_inner().0,
                };
            }
        };
        let now = SystemTime::now();
        let ran = match report {
            Some(ran) => {
                last_report = Some(now);
                late_since = None;
                deadline = now + due;
                ran
            }
            None => {
                let since = *late_since.get_or_insert(deadline);
                deadline += job.every;
                ExternalRun {
                    started: now,
                    duration_s: 0.0,
                    ended: Ended::Late {
                        since,
                        last: last_report,
                    },
                    exit_code: None,
                    output: String::new(),
                }
            }
        };
        let ran = ran_external(shared, job, ran);
        record(shared, plan, sender, job, ran);
        prune(plan);
    }
}

/// A long-lived process gives memory back: glibc keeps what a run or a
/// request freed in per-thread arenas, so a daemon that once read 10,000
/// stored runs would hold it for good. Few arenas, trimmed after each run.
pub fn limit_memory_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called at start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn give_memory_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Retention after a run: runs older than `keep_full` drop their
/// per-interval detail (a failure only skips it: the next run tries again).
fn prune(plan: &WatchPlan) {
    let Some(keep_full) = plan.keep_full else {
        return;
    };
    let cutoff = SystemTime::now()
        .checked_sub(keep_full)
        .unwrap_or(std::time::UNIX_EPOCH);
    if let Ok(mut history) = History::open(&plan.history_path) {
        let _ = history.prune(&humantime::format_rfc3339_millis(cutoff).to_string());
    }
}

/// A run against its job's previous run, judged against the job's
/// run-to-run noise (`None` for a first run or an unreadable history).
fn job_changes(plan: &WatchPlan, run: &Run) -> Option<scalewall_report::markdown::Changes> {
    let history = History::open(&plan.history_path).ok()?;
    let previous = history.previous_of(&run.id).ok()??;
    let metrics = scalewall_stats::metrics::of_run(run);
    let changes = scalewall_job::compare::changes_against(&history, &previous, &metrics).ok()?;
    scalewall_job::compare::gate_by_noise(&history, &scalewall_history::subject_of(run), changes)
        .ok()
}

/// The engine report's file names in the report folder.
pub const ENGINE_REPORT: [&str; 3] = ["engine.md", "engine.html", "engine.json"];

/// The engine report of what the daemon knows now, in every format.
pub fn engine_reports(shared: &Shared) -> [String; 3] {
    let jobs = lock(&shared.jobs).clone();
    let alerts = lock(&shared.alerts).clone();
    let changes = lock(&shared.changes).clone();
    let input = crate::engine::EngineInput {
        generated: SystemTime::now(),
        jobs: &jobs,
        changes: &changes,
        alerts: &alerts,
    };
    let (markdown, html, json) = crate::engine::render(&input);
    [
        markdown,
        html,
        serde_json::to_string_pretty(&json).unwrap_or_default() + "\n",
    ]
}

/// Rewrites `engine.md`, `engine.html` and `engine.json` in the report
/// folder (a failure is said on stderr; the daemon goes on).
fn write_engine_report(shared: &Shared) {
    for (name, text) in ENGINE_REPORT.iter().zip(engine_reports(shared)) {
        let path = shared.report_dir.join(name);
        if let Err(e) =
            scalewall_job::files::write_atomically(&path, text.as_bytes(), "the engine report to")
        {
            eprintln!("scalewall watch: {e}");
        }
    }
}

/// Records a run in the shared state and sends its alerts.
fn record(shared: &Shared, plan: &WatchPlan, sender: &dyn Sender, job: &WatchJob, ran: Ran) {
    let mut previous = JobStatus::Pending;
    let mut status = JobStatus::Pending;
    shared.update(&job.name, |view| {
        previous = view.state.status;
        view.state = view.state.after(ran.outcome);
        status = view.state.status;
        view.last_run = Some(ran.last.clone());
        if let Some(run) = &ran.run {
            view.latest = Some(run.clone());
        }
    });
    if let Some(changes) = ran.run.as_ref().and_then(|run| job_changes(plan, run)) {
        lock(&shared.changes).insert(job.name.clone(), changes);
    }
    write_engine_report(shared);
    let findings = ran.run.as_ref().map_or(&[][..], |r| &r.findings[..]);
    let report = ran.report.as_ref().map(|r| format!("/reports/{r}"));
    let event = RunEvent {
        job: &job.name,
        previous,
        status,
        run_id: &ran.last.id,
        error: ran.last.error.as_deref(),
        findings,
        report: report.as_deref(),
    };
    let now = SystemTime::now();
    // Saved however the alerts go: the counters and ledgers it holds.
    struct SaveAfter<'a>(&'a Shared);
    impl Drop for SaveAfter<'_> {
        fn drop(&mut self) {
            save_state(self.0);
        }
    }
    let _save = SaveAfter(shared);
    for (index, rule) in plan.alerts.iter().enumerate() {
        let notice = lock(&shared.ledgers)
            .get_mut(index)
            .and_then(|ledger| ledger.notice(rule, &event, now));
        let Some(notice) = notice else {
            continue;
        };
        let body = alert::body(rule, &event, &notice);
        let delivered = alert::deliver(sender, &rule.url, &body, Duration::from_millis(500));
        if let Some((_, health)) = lock(&shared.alerts).get_mut(index) {
            match delivered {
                Ok(()) => {
                    health.sent += 1;
                    health.last_error = None;
                }
                Err(e) => {
                    health.failed += 1;
                    health.last_error = Some(e);
                }
            }
        }
    }
}

/// The daemon's counters and firing alerts, kept in the report folder so
/// a restarted daemon resumes them: what the history cannot tell (skipped
/// slots, runs that failed before a record existed, alerts sent).
pub const STATE_FILE: &str = "watch-state.json";

/// What [`STATE_FILE`] holds.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct SavedState {
    /// Per job: runs, errors, skipped.
    jobs: std::collections::BTreeMap<String, [u64; 3]>,
    /// Per alert rule, in config order.
    alerts: Vec<SavedChannel>,
}

/// One alert channel's counts and what it has firing.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct SavedChannel {
    /// Its label (scheme and host): a rule whose channel changed starts afresh.
    channel: String,
    sent: u64,
    failed: u64,
    firing: Vec<alert::SavedFiring>,
}

/// Writes [`STATE_FILE`] (a failure is said on stderr; the daemon goes on).
fn save_state(shared: &Shared) {
    let state = SavedState {
        jobs: lock(&shared.jobs)
            .iter()
            .map(|j| {
                (
                    j.name.clone(),
                    [j.state.runs, j.state.errors, j.state.skipped],
                )
            })
            .collect(),
        alerts: lock(&shared.alerts)
            .iter()
            .zip(lock(&shared.ledgers).iter())
            .map(|((label, health), ledger)| SavedChannel {
                channel: label.clone(),
                sent: health.sent,
                failed: health.failed,
                firing: ledger.saved(),
            })
            .collect(),
    };
    let text = serde_json::to_string_pretty(&state).unwrap_or_default() + "\n";
    if let Err(e) = scalewall_job::files::write_atomically(
        &shared.report_dir.join(STATE_FILE),
        text.as_bytes(),
        "the daemon's counters to",
    ) {
        eprintln!("scalewall watch: {e}");
    }
}

/// Resumes the counters and firing alerts of the daemon that ran before
/// (creating the report folder first):
/// from [`STATE_FILE`], else each job's runs and errors replayed from its
/// stored runs (skipped slots and alert counts are then unknown: 0).
pub fn restore_state(shared: &Shared) {
    // The report folder holds the state and the engine report, whether or
    // not a job writes run reports (an external job does not).
    if let Err(e) = std::fs::create_dir_all(&shared.report_dir) {
        eprintln!(
            "scalewall watch: cannot create the report folder {}: {e}",
            shared.report_dir.display()
        );
    }
    let saved: Option<SavedState> = std::fs::read(shared.report_dir.join(STATE_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let Some(saved) = saved else {
        let Ok(history) = History::open(&shared.history_path) else {
            return;
        };
        for view in lock(&shared.jobs).iter_mut() {
            let (runs, errors) = replayed_counts(&history, &view.name);
            view.state.runs = runs;
            view.state.errors = errors;
        }
        return;
    };
    for view in lock(&shared.jobs).iter_mut() {
        if let Some([runs, errors, skipped]) = saved.jobs.get(&view.name) {
            view.state.runs = *runs;
            view.state.errors = *errors;
            view.state.skipped = *skipped;
        }
    }
    let mut ledgers = lock(&shared.ledgers);
    for (index, (label, health)) in lock(&shared.alerts).iter_mut().enumerate() {
        let Some(channel) = saved.alerts.get(index).filter(|c| c.channel == *label) else {
            continue;
        };
        health.sent = channel.sent;
        health.failed = channel.failed;
        if let Some(ledger) = ledgers.get_mut(index) {
            *ledger = alert::Ledger::restored(&channel.firing);
        }
    }
}

/// Stored runs of a job counted as the daemon counts its runs: every run
/// but those stopped with the daemon, and errors among them (a run is
/// loaded only when its row cannot tell: it has findings or did not
/// complete).
fn replayed_counts(history: &History, job: &str) -> (u64, u64) {
    let rows = history.list(Some(job), usize::MAX >> 1).unwrap_or_default();
    let (mut runs, mut errors) = (0, 0);
    for row in &rows {
        let outcome = if row.status == "completed" && row.findings == 0 {
            Some(RunOutcome::Ok)
        } else {
            history.load(&row.id).ok().and_then(|run| outcome_of(&run))
        };
        if let Some(outcome) = outcome {
            runs += 1;
            errors += u64::from(outcome != RunOutcome::Ok);
        }
    }
    (runs, errors)
}

/// Runs of a job replayed for its status (the last ones, oldest first).
const RESUME_RUNS: usize = 10;

/// A job's status replayed from its stored runs, and its last start (a
/// restarted daemon resumes its schedule from it). Runs that failed before
/// a record existed are not stored, so they are not in the replay.
pub fn resume(history: &History, job: &str) -> (Option<SystemTime>, StatusState, Option<Run>) {
    let rows = history.list(Some(job), RESUME_RUNS).unwrap_or_default();
    let mut state = StatusState::default();
    let mut latest = None;
    for row in rows.iter().rev() {
        if let Ok(run) = history.load(&row.id) {
            if let Some(outcome) = outcome_of(&run) {
                state = state.after(outcome);
            }
            latest = Some(run);
        }
    }
    let last = rows
        .first()
        .and_then(|r| humantime::parse_rfc3339_weak(&r.started_at).ok());
    (last, state, latest)
}

/// Sleeps until `at` or a stop request; false when stopped.
fn wait_until(stop: &Control, at: SystemTime) -> bool {
    loop {
        if stop.is_stopped() {
            return false;
        }
        let now = SystemTime::now();
        match at.duration_since(now) {
            Ok(left) if !left.is_zero() => std::thread::sleep(left.min(WAIT_SLICE)),
            _ => return true,
        }
    }
}

/// A job's status from its stored runs, shown at once; its last start.
fn resume_job(shared: &Shared, job: &WatchJob) -> Option<SystemTime> {
    let (last_start, state, latest) = match History::open(&shared.history_path) {
        Ok(history) => resume(&history, &job.name),
        Err(_) => (None, StatusState::default(), None),
    };
    // The status carries over; the counters were resumed at the start
    // ([`restore_state`]).
    shared.update(&job.name, |v| {
        v.state = StatusState {
            runs: v.state.runs,
            errors: v.state.errors,
            skipped: v.state.skipped,
            ..state
        };
        v.latest = latest;
    });
    last_start
}

/// One job's schedule thread.
fn schedule_loop(plan: &WatchPlan, shared: &Shared, sender: &dyn Sender, job: &WatchJob) {
    if let JobKind::Push { grace } = job.kind {
        return push_loop(plan, shared, sender, job, grace);
    }
    let schedule = Schedule {
        every: job.every,
        jitter: job.jitter,
        cron: job.cron.clone(),
    };
    let last_start = resume_job(shared, job);
    let mut next = schedule.first(SystemTime::now(), last_start, unit());
    loop {
        shared.update(&job.name, |v| v.next_run = Some(next));
        *lock(&shared.heartbeat) = Instant::now();
        if !wait_until(&shared.stop, next) {
            return;
        }
        let guard = lock(&shared.run_lock);
        if shared.stop.is_stopped() {
            return;
        }
        let started = SystemTime::now();
        shared.update(&job.name, |v| v.running = true);
        let ran = run_scheduled(plan, shared, job);
        drop(guard);
        shared.update(&job.name, |v| v.running = false);
        if shared.stop.is_stopped() && ran.outcome != RunOutcome::Ok {
            // Cancelled by the daemon's stop: kept as interrupted, not a
            // job failure.
            shared.update(&job.name, |v| v.last_run = Some(ran.last.clone()));
            return;
        }
        record(shared, plan, sender, job, ran);
        prune(plan);
        give_memory_back();
        let after = schedule.after(started, SystemTime::now(), unit());
        if after.skipped > 0 {
            shared.update(&job.name, |v| v.state = v.state.skipping(after.skipped));
            save_state(shared);
        }
        next = after.at;
    }
}

/// Starts every job's schedule thread; they return after a stop request.
pub fn start(
    plan: Arc<WatchPlan>,
    shared: Arc<Shared>,
    sender: Arc<dyn Sender>,
) -> Vec<std::thread::JoinHandle<()>> {
    restore_state(&shared);
    (0..plan.jobs.len())
        .map(|index| {
            let (plan, shared, sender) = (plan.clone(), shared.clone(), sender.clone());
            std::thread::Builder::new()
                .name(format!("scalewall-job-{}", plan.jobs[index].name))
                .spawn(move || {
                    let job = plan.jobs[index].clone();
                    // A panic outside a run (in the schedule itself) must
                    // not take the daemon down: the job is marked failing.
                    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        schedule_loop(&plan, &shared, sender.as_ref(), &job)
                    }));
                    if result.is_err() {
                        shared.update(&job.name, |v| v.state = v.state.after(RunOutcome::Failed));
                    }
                })
                .expect("a job thread starts")
        })
        .collect()
}

/// Stops the daemon: no new runs, the running one cancelled.
pub fn stop(shared: &Shared) {
    shared.stop.request_stop();
    if let Some(active) = lock(&shared.active).as_ref() {
        active.request_stop();
    }
}

/// `watch --once`: every job once, in order; the worst exit code.
pub fn once(plan: &WatchPlan, shared: &Shared, sender: &dyn Sender) -> u8 {
    restore_state(shared);
    let mut worst = 0;
    for job in &plan.jobs {
        if shared.stop.is_stopped() {
            break;
        }
        if matches!(job.kind, JobKind::Push { .. }) {
            // It reports itself; there is nothing to run.
            continue;
        }
        let ran = run_scheduled(plan, shared, job);
        worst = worst.max(ran.exit_code);
        record(shared, plan, sender, job, ran);
        prune(plan);
    }
    worst
}

/// How a stored run of a job ended, for the status replay; `None` for a
/// run stopped with the daemon (not the job's doing).
pub fn outcome_of(run: &Run) -> Option<RunOutcome> {
    let critical = run
        .findings
        .iter()
        .any(|f| f.severity == Severity::Critical);
    let timed_out = run.findings.iter().any(|f| f.subject == TIMEOUT_SUBJECT);
    match run.status {
        RunStatus::Completed if !critical => Some(RunOutcome::Ok),
        RunStatus::Completed | RunStatus::Failed => Some(RunOutcome::Failed),
        RunStatus::Interrupted if timed_out => Some(RunOutcome::TimedOut),
        RunStatus::Interrupted => None,
    }
}
