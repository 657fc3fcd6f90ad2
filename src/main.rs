//! The `scalewall` binary: parses arguments and dispatches each command to
//! its file under `commands/`. Exit codes and stop signals live in `exit`,
//! stdout and file writes in `output`, the live progress line in
//! `progress`; everything else is the job library's and the engine crates'.

mod cli;
mod commands;
mod exit;
mod output;
mod progress;

use clap::{CommandFactory as _, FromArgMatches as _};
use cli::{Cli, Command};
use commands::{analyse, history, load, probe, run, watch, worker};
use std::process::ExitCode;

fn main() -> ExitCode {
    let matches = Cli::command()
        .after_long_help(exit::help_text())
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let result = match cli.command {
        Command::Run(args) => run::run_command(&args),
        Command::Init(args) => run::init_command(&args),
        Command::Validate(args) => run::validate_command(&args),
        Command::Suite(args) => run::suite_command(&args),
        Command::History(args) => history::history_command(&args),
        Command::Show(args) => history::show_command(&args),
        Command::Compare(args) => history::compare_command(&args),
        Command::Report(args) => history::report_command(&args),
        Command::Baseline(args) => history::baseline_command(&args),
        Command::Plan(args) => analyse::plan_command(&args),
        Command::Fit(args) => analyse::fit_command(&args),
        Command::Bench(args) => load::bench_command(&args),
        Command::Sweep(args) => load::sweep_command(&args),
        Command::Demo(args) => load::demo_command(&args),
        Command::DemoServer(args) => load::demo_server_command(&args),
        Command::Probe(args) => probe::probe_command(&args),
        Command::Watch(args) => watch::watch_command(&args),
        Command::Status(args) => watch::status_command(&args),
        Command::ReportJob(args) => watch::report_job_command(&args),
        Command::Worker(args) => worker::worker_command(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            // One line per mistake (a config can have several).
            for line in format!("{error:#}").lines() {
                eprintln!("scalewall: error: {line}");
            }
            ExitCode::from(exit::ERROR)
        }
    }
}
