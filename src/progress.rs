//! The live progress line on a terminal: a job observer drawn with
//! indicatif on stderr, hidden when stderr is not a terminal or with
//! `--no-progress`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use scalewall_job::observer::{Observer, Silent};
use scalewall_load::engine::LiveProgress;
use scalewall_report::number::{count, sig};
use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::Duration;

/// Draws each stage as a line and each step as a live spinner line.
pub struct Terminal {
    bar: Mutex<Option<ProgressBar>>,
}

impl Terminal {
    /// The observer a command uses: the terminal one when stderr is a
    /// terminal and progress was not turned off, else a silent one.
    pub fn observer(no_progress: bool) -> Box<dyn Observer> {
        if !no_progress && std::io::stderr().is_terminal() {
            Box::new(Terminal {
                bar: Mutex::new(None),
            })
        } else {
            Box::new(Silent)
        }
    }
}

impl Observer for Terminal {
    fn stage(&self, what: &str) {
        eprintln!("scalewall: {what}");
    }

    fn step_progress(&self, label: &str, live: &LiveProgress) {
        let Ok(mut bar) = self.bar.lock() else {
            return;
        };
        let bar = bar.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        bar.set_message(format!("{label}{}", progress_line(live)));
    }

    fn step_finished(&self) {
        if let Ok(mut bar) = self.bar.lock() {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
        }
    }
}

/// One line of live progress.
pub fn progress_line(live: &LiveProgress) -> String {
    if live.warming_up {
        return "warming up…".into();
    }
    let position = match (live.planned, live.planned_operations) {
        (Some(planned), _) => format!(
            "{:.1}s/{:.0}s",
            live.elapsed.as_secs_f64(),
            planned.as_secs_f64()
        ),
        (None, Some(n)) => format!("{}/{}", live.responses + live.errors, n),
        (None, None) => format!("{:.1}s", live.elapsed.as_secs_f64()),
    };
    format!(
        "[{position}] {}/s · {} · {} · p99 {} ms",
        sig(live.rate_per_s),
        count(live.responses, "response", "responses"),
        count(live.errors, "error", "errors"),
        sig(live.p99_ms)
    )
}
