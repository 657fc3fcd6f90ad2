//! The one place that decides how the process ends: the exit-code table
//! (also printed in the README, and tested against it) and the stop
//! signals. SIGINT (Ctrl-C), SIGTERM and SIGHUP all stop a command the same
//! way: no new work starts, requests in flight finish, and what was measured
//! is printed, stored and reported; the exit code then says which signal
//! it was (128 + its number). A second signal exits at once.

use scalewall_job::findings;
use scalewall_load::engine::Control;
use scalewall_model::Severity;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

/// Success: no findings, or only LOW ones.
pub const SUCCESS: u8 = 0;
/// An error: bad input, an unreachable target, every operation failed, no
/// fit possible, a file that cannot be written.
pub const ERROR: u8 = 1;
/// A usage error (the argument parser's own exit code).
pub const USAGE: u8 = 2;
/// Stopped by Ctrl-C (SIGINT): 128 + 2.
pub const INTERRUPTED: u8 = 130;

/// Every exit code with its meaning, in the README's words (the README's
/// table is tested against this).
pub const TABLE: &[(u8, &str)] = &[
    (SUCCESS, "success (for `run`: no findings, or only LOW ones)"),
    (ERROR, "an error: bad input, an unreachable target, all operations failed, no fit, a file not written"),
    (USAGE, "a usage error (unknown flag, missing argument)"),
    (3, "`run`: the worst finding is MEDIUM"),
    (4, "`run`: the worst finding is HIGH; `bench`/`sweep`: a worker was lost mid-step (degraded); `probe`: a degraded health check"),
    (5, "`run`: the worst finding is CRITICAL; `probe`: a check down or a target unreadable"),
    (129, "stopped by SIGHUP (terminal closed); what was measured is kept"),
    (INTERRUPTED, "stopped by Ctrl-C (SIGINT); what was measured is kept"),
    (143, "stopped by SIGTERM; what was measured is kept"),
];

/// The exit-code table as `--help` shows it.
pub fn help_text() -> String {
    let mut text = String::from("Exit codes:\n");
    for (code, meaning) in TABLE {
        text.push_str(&format!("  {code:>3}  {meaning}\n"));
    }
    text
}

/// The exit code for a run's worst finding (3, 4, 5; 0 for none or LOW).
pub fn for_findings(worst: Option<Severity>) -> ExitCode {
    ExitCode::from(findings::gate_code(worst))
}

/// The stop signals of this process, once installed.
#[derive(Debug, Clone)]
pub struct Signals {
    /// The first stop signal received (0: none yet).
    received: Arc<AtomicI32>,
}

impl Signals {
    /// The exit code of a command that a stop ended: 128 + the signal's
    /// number (130 when the stop came some other way).
    pub fn stopped_code(&self) -> ExitCode {
        match self.received.load(Ordering::SeqCst) {
            0 => ExitCode::from(INTERRUPTED),
            signal => ExitCode::from(128 + signal as u8),
        }
    }
}

/// Stops `control` on the first SIGINT, SIGTERM or SIGHUP; a second one
/// exits at once with 128 + its number.
pub fn on_stop_signals(control: Control) -> Signals {
    let signals = Signals {
        received: Arc::new(AtomicI32::new(0)),
    };
    let received = signals.received.clone();
    let spawned = std::thread::Builder::new()
        .name("stop-signals".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(wait_for_stops(control, received));
        });
    if spawned.is_err() {
        eprintln!("scalewall: warning: signal handler unavailable; Ctrl-C will discard results");
    }
    signals
}

async fn wait_for_stops(control: Control, received: Arc<AtomicI32>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate), Ok(mut hangup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        eprintln!(
            "scalewall: warning: signal handler unavailable; a stop signal will discard results"
        );
        return;
    };
    let mut first = true;
    loop {
        let (number, name) = tokio::select! {
            _ = interrupt.recv() => (libc::SIGINT, "Ctrl-C"),
            _ = terminate.recv() => (libc::SIGTERM, "SIGTERM"),
            _ = hangup.recv() => (libc::SIGHUP, "SIGHUP"),
        };
        if !first {
            std::process::exit(128 + number);
        }
        first = false;
        received.store(number, Ordering::SeqCst);
        control.request_stop();
        eprintln!(
            "scalewall: stopping ({name}): finishing requests in flight ({name} again to abort)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_exit_code_table_is_the_code() {
        let readme = include_str!("../README.md");
        let section = readme
            .split("\n## Exit codes\n")
            .nth(1)
            .expect("README has an Exit codes section");
        let section = section.split("\n## ").next().unwrap_or(section);
        let rows: Vec<(u8, String)> = section
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
                let code = cells.first()?.trim().parse().ok()?;
                Some((code, cells.get(1)?.trim().to_string()))
            })
            .collect();
        let table: Vec<(u8, String)> = TABLE.iter().map(|(c, m)| (*c, m.to_string())).collect();
        assert_eq!(rows, table);
    }

    #[test]
    fn a_stop_exits_with_its_signal() {
        let signals = Signals {
            received: Arc::new(AtomicI32::new(0)),
        };
        assert_eq!(signals.stopped_code(), ExitCode::from(INTERRUPTED));
        signals.received.store(libc::SIGTERM, Ordering::SeqCst);
        assert_eq!(signals.stopped_code(), ExitCode::from(143));
        signals.received.store(libc::SIGHUP, Ordering::SeqCst);
        assert_eq!(signals.stopped_code(), ExitCode::from(129));
    }
}
