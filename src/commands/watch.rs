//! `watch` (the daemon, or `--once`) and `status` (the jobs' statuses from
//! the history, without a daemon).

use crate::cli::{OutputFormat, PushedStatus, ReportJobArgs, StatusArgs, WatchArgs};
use crate::exit;
use crate::output::print_stdout;
use anyhow::{Context, Result};
use scalewall_history::History;
use scalewall_job::job::{history_path, read_config};
use scalewall_load::engine::Control;
use scalewall_stats::number::sig;
use scalewall_watch::alert::HttpSender;
use scalewall_watch::daemon::{self, Shared, WatchPlan};
use scalewall_watch::server;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Per alert attempt.
const ALERT_TIMEOUT: Duration = Duration::from_secs(10);

/// `scalewall watch`.
pub fn watch_command(args: &WatchArgs) -> Result<ExitCode> {
    daemon::limit_memory_arenas();
    let config = read_config(&args.config)?;
    let history_file = history_path(args.history.history.as_deref(), Some(&config));
    // The history must open before anything is scheduled.
    History::open(&history_file)?;
    let plan = Arc::new(WatchPlan::of(
        &args.config,
        &config,
        history_file,
        args.report_dir.clone(),
    )?);
    let stop = Control::new();
    let signals = exit::on_stop_signals(stop.clone());
    let report_dir = daemon::report_dir_of(&plan);
    let shared = Arc::new(Shared::new(&plan, stop.clone(), report_dir));
    let sender = Arc::new(HttpSender {
        timeout: ALERT_TIMEOUT,
    });
    if args.once {
        let code = daemon::once(&plan, &shared, sender.as_ref());
        if stop.is_stopped() {
            return Ok(signals.stopped_code());
        }
        return Ok(ExitCode::from(code));
    }
    let listener = std::net::TcpListener::bind(&plan.settings.listen)
        .with_context(|| format!("cannot listen on {}", plan.settings.listen))?;
    eprintln!(
        "scalewall watch: {} on http://{}/ (dashboard, /health, /api/status, /metrics); Ctrl-C or SIGTERM stops it",
        plan.jobs
            .iter()
            .map(|j| format!("{} every {}", j.name, humantime::format_duration(j.every)))
            .collect::<Vec<_>>()
            .join(", "),
        listener.local_addr().map_or(plan.settings.listen.clone(), |a| a.to_string())
    );
    let threads = daemon::start(plan.clone(), shared.clone(), sender);
    server::serve(listener, shared.clone(), plan.settings.token.clone());
    daemon::stop(&shared);
    for thread in threads {
        let _ = thread.join();
    }
    Ok(ExitCode::SUCCESS)
}

/// When a job runs next after a run that started at `last`: its cron
/// expression's next firing, or `last` plus its interval (the daemon's
/// jitter moves it by up to its share).
fn next_run(
    job: &scalewall_job::config::WatchJob,
    last: std::time::SystemTime,
) -> Option<std::time::SystemTime> {
    match &job.cron {
        Some(cron) => cron.next_after(last),
        None => Some(last + job.every),
    }
}

/// How long `report-job` waits for the daemon.
const REPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// `scalewall report-job`.
pub fn report_job_command(args: &ReportJobArgs) -> Result<ExitCode> {
    let duration_s = match &args.duration {
        None => 0.0,
        Some(text) => match text.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => s,
            _ => humantime::parse_duration(text.trim())
                .with_context(|| {
                    format!("--duration '{text}': expected \"12s\", \"1m 30s\" or seconds")
                })?
                .as_secs_f64(),
        },
    };
    let given_token = args.token.clone().or_else(|| {
        std::env::var("SCALEWALL_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
    });
    let (url, token) = match &args.url {
        Some(url) => (url.trim_end_matches('/').to_string(), given_token),
        None => {
            let config = read_config(&args.config)?;
            let settings = config.watch.as_ref();
            let listen =
                settings.map_or(scalewall_job::config::WATCH_LISTEN, |w| w.listen.as_str());
            let token = given_token.or_else(|| settings.and_then(|w| w.token.clone()));
            // A daemon listening on every address answers on loopback.
            let listen = listen
                .replace("0.0.0.0:", "127.0.0.1:")
                .replace("[::]:", "[::1]:");
            (format!("http://{listen}"), token)
        }
    };
    let status = match args.status {
        PushedStatus::Ok => "ok",
        PushedStatus::Error => "error",
        PushedStatus::Timeout => "timeout",
    };
    let body = serde_json::json!({
        "status": status,
        "duration_s": duration_s,
        "message": args.message.clone().unwrap_or_default(),
    })
    .to_string();
    let endpoint = format!("{url}/api/jobs/{}/runs", args.name);
    let (code, answer) = scalewall_probe::health::http_post_json_authorized(
        &endpoint,
        &body,
        token.as_deref(),
        REPORT_TIMEOUT,
    )
    .map_err(|e| anyhow::anyhow!("cannot report to the daemon at {endpoint}: {e}"))?;
    if code != 202 {
        anyhow::bail!(
            "the daemon at {endpoint} refused the report (HTTP {code}): {}",
            answer.trim()
        );
    }
    eprintln!("scalewall: reported {} {status} to {url}", args.name);
    Ok(ExitCode::SUCCESS)
}

/// `scalewall status`.
pub fn status_command(args: &StatusArgs) -> Result<ExitCode> {
    let config = read_config(&args.config)?;
    if args.report {
        let dir = scalewall_job::job::Job::new(Some(config), args.report_dir.clone()).report_dir;
        let name = match args.output {
            OutputFormat::Json => "engine.json",
            OutputFormat::Text => "engine.md",
        };
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no engine report at {}: `scalewall watch` writes it after each run",
                path.display()
            )
        })?;
        print_stdout(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let history_file = history_path(args.history.history.as_deref(), Some(&config));
    let history = History::open(&history_file)?;
    let mut rows = Vec::new();
    for job in &config.jobs {
        let (last, state, latest) = daemon::resume(&history, &job.name);
        rows.push((job, last, state, latest));
    }
    let printed = match args.output {
        OutputFormat::Json => {
            let jobs: Vec<serde_json::Value> = rows
                .iter()
                .map(|(job, last, state, latest)| {
                    serde_json::json!({
                        "name": job.name,
                        "every_s": job.every.as_secs_f64(),
                        "status": state.status,
                        "consecutive": state.consecutive,
                        "last_run": latest.as_ref().map(|r| r.id.clone()),
                        "last_start": last.map(|t| humantime::format_rfc3339_seconds(t).to_string()),
                        "next_run": last.and_then(|t| next_run(job, t)).map(|t| humantime::format_rfc3339_seconds(t).to_string()),
                    })
                })
                .collect();
            serde_json::to_string_pretty(&serde_json::json!({ "jobs": jobs }))? + "\n"
        }
        OutputFormat::Text => {
            let mut out = format!(
                "{:<20}  {:>9}  {:<20}  {:<11}  {:>11}  {}\n",
                "job", "every", "last run", "status", "consecutive", "next run"
            );
            for (job, last, state, _) in &rows {
                out.push_str(&format!(
                    "{:<20}  {:>9}  {:<20}  {:<11}  {:>11}  {}\n",
                    job.name,
                    format!("{} s", sig(job.every.as_secs_f64())),
                    last.map_or("never".into(), |t| humantime::format_rfc3339_seconds(t)
                        .to_string()),
                    state.status.as_str(),
                    state.consecutive,
                    match last {
                        None => "when the daemon starts".into(),
                        Some(t) => next_run(job, *t).map_or("never (cron)".into(), |t| {
                            humantime::format_rfc3339_seconds(t).to_string()
                        }),
                    }
                ));
            }
            out
        }
    };
    print_stdout(&printed)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn job(every: Duration, cron: Option<&str>) -> scalewall_job::config::WatchJob {
        scalewall_job::config::WatchJob {
            name: "j".into(),
            every,
            cron: cron.map(|c| c.parse().unwrap()),
            jitter: 0.0,
            timeout: Duration::from_secs(600),
            scenarios: Vec::new(),
            services: Vec::new(),
            config: None,
            kind: scalewall_job::config::JobKind::Load,
        }
    }

    /// Issue 29, item 9: `status` took a cron job's next run as its last
    /// start plus the gap between the expression's first two firings.
    /// "0 9,17 * * *" fires at 09:00 and 17:00: after a 17:00 run the next
    /// is 09:00 the day after, not 17:00 + 8 h = 01:00.
    #[test]
    fn a_cron_jobs_next_run_comes_from_its_expression() {
        // 2026-12-07T17:00:00Z.
        let last = UNIX_EPOCH + Duration::from_secs(1_796_662_800);
        assert_eq!(
            humantime::format_rfc3339_seconds(last).to_string(),
            "2026-12-07T17:00:00Z"
        );
        let cron = job(Duration::from_secs(8 * 3600), Some("0 9,17 * * *"));
        assert_eq!(
            humantime::format_rfc3339_seconds(next_run(&cron, last).unwrap()).to_string(),
            "2026-12-08T09:00:00Z"
        );
        let every = job(Duration::from_secs(900), None);
        assert_eq!(
            next_run(&every, last),
            Some(last + Duration::from_secs(900))
        );
    }
}
