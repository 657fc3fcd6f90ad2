//! `scalewall worker`: a load generator for distributed runs, until a
//! stop signal.

use crate::cli::WorkerArgs;
use crate::exit;
use anyhow::Result;
use scalewall_fleet::allow::AllowList;
use scalewall_job::distributed::worker::{self, WorkerLog, WorkerOptions};
use scalewall_load::engine::Control;
use std::process::ExitCode;

/// Worker lines go to stderr, each with the time.
struct Stderr;

impl WorkerLog for Stderr {
    fn line(&self, text: &str) {
        eprintln!(
            "{} scalewall worker: {text}",
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        );
    }
}

/// `scalewall worker`.
pub fn worker_command(args: &WorkerArgs) -> Result<ExitCode> {
    let name = match &args.name {
        Some(name) => name.clone(),
        None => format!(
            "{}-{}",
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h
                    .trim()
                    .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-"))
                .unwrap_or_else(|_| "worker".into()),
            std::process::id()
        ),
    };
    let control = Control::new();
    let signals = exit::on_stop_signals(control.clone());
    worker::serve(
        &WorkerOptions {
            nats: args.nats.clone(),
            creds: args.nats_creds.clone(),
            name,
            allow: AllowList(args.allow_targets.clone()),
        },
        &control,
        &Stderr,
    )?;
    Ok(signals.stopped_code())
}
