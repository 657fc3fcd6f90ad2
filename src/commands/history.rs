//! The history commands: `history` (stored runs), `show` (one run's
//! record), `compare` (two runs, metric by metric), `report` (a stored
//! run's report rendered again) and `baseline`.

use crate::cli::{
    BaselineArgs, CompareArgs, HistoryAction, HistoryArgs, HistoryPath, OutputFormat, PruneArgs,
    ReportArgs, ReportFormatArg, ShowArgs,
};
use crate::output::print_stdout;
use anyhow::{bail, Result};
use scalewall_history::History;
use scalewall_job::compare::{changes_against, gate_by_noise, report_input};
use scalewall_job::findings::exit_code_for;
use scalewall_job::job::history_path;
use scalewall_report::history::{comparison_json, comparison_text, runs_table, RunLine};
use scalewall_report::{html, json, markdown};
use scalewall_stats::metrics;
use scalewall_stats::number::{bytes, count};
use std::process::ExitCode;

fn open_history(given: &HistoryPath) -> Result<History> {
    let path = history_path(given.history.as_deref(), None);
    if !scalewall_history::is_database_url(&path) && !path.exists() {
        bail!(
            "no history at {} (run `scalewall run` first, or give --history)",
            path.display()
        );
    }
    Ok(History::open(&path)?)
}

/// `scalewall history`.
pub fn history_command(args: &HistoryArgs) -> Result<ExitCode> {
    if let Some(HistoryAction::Prune(prune)) = &args.action {
        return prune_command(prune);
    }
    let history = open_history(&args.history)?;
    let rows = history.list(args.subject.as_deref(), args.limit)?;
    let lines: Vec<RunLine<'_>> = rows
        .iter()
        .map(|r| RunLine {
            id: &r.id,
            subject: &r.subject,
            started_at: &r.started_at,
            status: &r.status,
            findings: r.findings,
        })
        .collect();
    print_stdout(&runs_table(&lines))?;
    Ok(ExitCode::SUCCESS)
}

/// `scalewall history prune`.
fn prune_command(args: &PruneArgs) -> Result<ExitCode> {
    let config_path = args.config.clone().or_else(|| {
        let default = std::path::PathBuf::from("scalewall.toml");
        default.exists().then_some(default)
    });
    let config = config_path
        .as_deref()
        .map(scalewall_job::job::read_config)
        .transpose()?;
    let Some(keep_full) = args.keep_full.or(config.as_ref().and_then(|c| c.keep_full)) else {
        bail!("give --keep-full (e.g. 30d) or a config with [history] keep_full");
    };
    let path = history_path(args.history.history.as_deref(), config.as_ref());
    let mut history = History::open(&path)?;
    let cutoff = std::time::SystemTime::now()
        .checked_sub(keep_full)
        .unwrap_or(std::time::UNIX_EPOCH);
    let cutoff = humantime::format_rfc3339_millis(cutoff).to_string();
    let pruned = history.prune(&cutoff)?;
    print_stdout(&format!(
        "pruned {} older than {cutoff}: {} → {}\n",
        count(pruned.runs as u64, "run", "runs"),
        bytes(pruned.bytes_before),
        bytes(pruned.bytes_after)
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// `scalewall show`.
pub fn show_command(args: &ShowArgs) -> Result<ExitCode> {
    let history = open_history(&args.history)?;
    let id = history.resolve(&args.run)?;
    print_stdout(&(history.load(&id)?.to_json() + "\n"))?;
    Ok(ExitCode::SUCCESS)
}

/// `scalewall compare`.
pub fn compare_command(args: &CompareArgs) -> Result<ExitCode> {
    let history = open_history(&args.history)?;
    let before = history.resolve(&args.before)?;
    let after = history.resolve(&args.after)?;
    let run = history.load(&after)?;
    let metrics = metrics::of_run(&run);
    let changes = gate_by_noise(
        &history,
        &scalewall_history::subject_of(&run),
        changes_against(&history, &before, &metrics)?,
    )?;
    print_stdout(&match args.output {
        OutputFormat::Json => comparison_json(&before, &after, &changes),
        OutputFormat::Text => comparison_text(&before, &after, &changes),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `scalewall report`.
pub fn report_command(args: &ReportArgs) -> Result<ExitCode> {
    let history = open_history(&args.history)?;
    let id = history.resolve(&args.run)?;
    let run = history.load(&id)?;
    let metrics = metrics::of_run(&run);
    let input = report_input(Some(&history), &run, &metrics)?;
    print_stdout(&match args.format {
        ReportFormatArg::Md => markdown::render(&input),
        ReportFormatArg::Json => json::report(&input, exit_code_for(&run.findings)),
        ReportFormatArg::Html => html::render(&input),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `scalewall baseline set`.
pub fn baseline_command(args: &BaselineArgs) -> Result<ExitCode> {
    let mut history = open_history(&args.history)?;
    let id = history.resolve(&args.run)?;
    let subject = history.set_baseline(&id, args.force)?;
    print_stdout(&format!("baseline of {subject}: {id}\n"))?;
    Ok(ExitCode::SUCCESS)
}
