//! The main job and its config: `run` (one job through the job library),
//! `init`, `validate`, and `suite` (the runtime suite alone).

use crate::cli::{InitArgs, OutputFormat, ReportFormatArg, RunArgs, SuiteArgs, ValidateArgs};
use crate::exit;
use crate::output::{check_writable, print_stdout, save_run, write_file};
use crate::progress::Terminal;
use anyhow::{bail, Result};
use scalewall_history::History;
use scalewall_job::config::{self, ReportFormat};
use scalewall_job::job::{history_path, read_config, run_job, HistoryStore, Job, JobContext};
use scalewall_job::record::{new_run, SystemClock};
use scalewall_load::engine::Control;
use scalewall_model::{Run, RunStatus};
use scalewall_report::number::count;
use scalewall_report::suite;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// `scalewall run`.
pub fn run_command(args: &RunArgs) -> Result<ExitCode> {
    let config_path = args.config.clone().or_else(|| {
        let default = PathBuf::from("scalewall.toml");
        default.exists().then_some(default)
    });
    let config = config_path.as_deref().map(read_config).transpose()?;
    let history_file = history_path(args.history.history.as_deref(), config.as_ref());
    let mut history = if args.no_history {
        None
    } else {
        Some(History::open(&history_file)?)
    };
    let job = Job::new(config, args.report_dir.clone());
    let control = Control::new();
    let signals = exit::on_stop_signals(control.clone());
    let observer = Terminal::observer(args.no_progress);
    let outcome = run_job(
        &job,
        JobContext {
            clock: &SystemClock,
            observer: observer.as_ref(),
            control: &control,
            history: history.as_mut().map(|history| HistoryStore {
                history,
                path: history_file.clone(),
            }),
        },
    )?;
    // The bar is cleared before the report and the summary are printed.
    drop(observer);
    print_stdout(outcome.reports.get(match args.output {
        ReportFormatArg::Md => ReportFormat::Markdown,
        ReportFormatArg::Json => ReportFormat::Json,
        ReportFormatArg::Html => ReportFormat::Html,
    }))?;
    if Terminal::enabled(args.no_progress) {
        eprint!("\n{}", colour_for_stderr(&outcome.reports.terminal));
        if let Some(html) = outcome
            .written
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == "html"))
        {
            eprintln!("  report: {}", html.display());
        }
    }
    if let Some(error) = outcome.write_errors.first() {
        bail!("{error}");
    }
    if let Some(error) = outcome.store_error {
        bail!("the run was reported but not stored: {error}");
    }
    if outcome.run.status == RunStatus::Interrupted {
        return Ok(signals.stopped_code());
    }
    Ok(exit::for_findings(outcome.worst))
}

/// The terminal summary as stderr should show it: without its ANSI
/// colours when `NO_COLOR` is set (<https://no-color.org>).
fn colour_for_stderr(text: &str) -> String {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        strip_ansi(text)
    } else {
        text.to_string()
    }
}

/// `text` without its ANSI colour sequences (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `scalewall init`.
pub fn init_command(args: &InitArgs) -> Result<ExitCode> {
    if args.path.exists() && !args.force {
        bail!(
            "{} exists; use --force to overwrite it",
            args.path.display()
        );
    }
    write_file(&args.path, config::EXAMPLE.as_bytes(), "the config to")?;
    print_stdout(&format!(
        "wrote {}: edit the services and scenarios, then `scalewall validate` and `scalewall run`\n",
        args.path.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// `scalewall validate`.
pub fn validate_command(args: &ValidateArgs) -> Result<ExitCode> {
    let path = args.config_path();
    let (config, unset) = scalewall_job::job::read_config_unset_allowed(&path)?;
    for name in &unset {
        eprintln!(
            "scalewall: warning: {}: environment variable {name} is not set (checked as \"{}\"; a run needs it)",
            path.display(),
            scalewall_job::job::UNSET_PLACEHOLDER
        );
    }
    let mut parts = vec![
        count(config.services.len() as u64, "service", "services"),
        count(config.scenarios.len() as u64, "scenario", "scenarios"),
        count(config.thresholds.len() as u64, "threshold", "thresholds"),
    ];
    if !config.jobs.is_empty() {
        parts.push(count(config.jobs.len() as u64, "watch job", "watch jobs"));
    }
    if !config.alerts.is_empty() {
        parts.push(count(config.alerts.len() as u64, "alert", "alerts"));
    }
    print_stdout(&format!(
        "{}: valid — {}\n",
        path.display(),
        parts.join(", ")
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// `scalewall suite`.
pub fn suite_command(args: &SuiteArgs) -> Result<ExitCode> {
    if args.budget < Duration::from_millis(10) || args.budget > Duration::from_secs(600) {
        bail!("--budget must be between 10ms and 10m");
    }
    check_writable(&[(args.save.as_deref(), "--save")])?;
    let control = Control::new();
    let signals = exit::on_stop_signals(control.clone());
    let started = SystemTime::now();
    let mut findings = Vec::new();
    let scenarios = scalewall_job::job::run_suite(args.budget, &control, &mut findings)?;
    let status = if control.is_stopped() {
        RunStatus::Interrupted
    } else {
        RunStatus::Completed
    };
    let run = Run {
        subject: Some("suite".into()),
        findings,
        ..new_run(&SystemClock, started, status, scenarios)
    };
    let printed = match args.output {
        OutputFormat::Text => suite::suite_text(&run.scenarios),
        OutputFormat::Json => suite::suite_json(&run, scalewall_suite::SUITE_VERSION),
    };
    print_stdout(&printed)?;
    if let Some(path) = &args.save {
        save_run(&run, path)?;
    }
    if run.status == RunStatus::Interrupted {
        return Ok(signals.stopped_code());
    }
    if let Some(finding) = run.findings.first() {
        bail!("{}: {}", finding.message, finding.evidence);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_sequences_strip_to_the_words() {
        assert_eq!(
            strip_ansi("health \x1b[1;33m6 / 10\x1b[0m · \x1b[1;31m1 HIGH\x1b[0m"),
            "health 6 / 10 · 1 HIGH"
        );
    }
}
