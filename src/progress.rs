//! Live progress on a terminal: a job observer drawn with indicatif on
//! stderr — an overall bar with the time elapsed and the time left (from
//! the job's planned stage times), the current stage and step, and the
//! step's live figures. Hidden when stderr is not a terminal or with
//! `--no-progress`; then nothing but the report is printed.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use scalewall_job::observer::{Observer, Silent};
use scalewall_load::engine::LiveProgress;
use scalewall_report::number::{count, sig};
use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the job stands against its plan.
#[derive(Debug, Default)]
struct Position {
    /// Planned time of each stage (zero where it is not known).
    stages: Vec<(String, Duration)>,
    /// Stages begun so far.
    begun: usize,
    /// When the current stage began.
    stage_started: Option<Instant>,
}

impl Position {
    fn total(&self) -> Duration {
        self.stages.iter().map(|s| s.1).sum()
    }

    /// Planned time behind us: the stages done, plus the current one's
    /// elapsed time up to its plan.
    fn done(&self, now: Instant) -> Duration {
        let finished: Duration = self
            .stages
            .iter()
            .take(self.begun.saturating_sub(1))
            .map(|s| s.1)
            .sum();
        let current = match (self.begun.checked_sub(1), self.stage_started) {
            (Some(k), Some(at)) => self
                .stages
                .get(k)
                .map_or(Duration::ZERO, |s| now.duration_since(at).min(s.1)),
            _ => Duration::ZERO,
        };
        finished + current
    }
}

/// The bar and where the job stands, shared with the ticker thread.
struct Shared {
    bar: ProgressBar,
    position: Mutex<Position>,
    started: Instant,
    stopped: AtomicBool,
}

/// Draws the overall bar and the live step line; a ticker thread moves
/// the bar through stages that report no live figures (the runtime suite).
pub struct Terminal {
    shared: Arc<Shared>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Terminal {
    /// The observer a command uses: the terminal one when stderr is a
    /// terminal and progress was not turned off, else a silent one.
    pub fn observer(no_progress: bool) -> Box<dyn Observer> {
        if Terminal::enabled(no_progress) {
            Box::new(Terminal::new())
        } else {
            Box::new(Silent)
        }
    }

    /// Whether progress is drawn: stderr is a terminal and it was not
    /// turned off.
    pub fn enabled(no_progress: bool) -> bool {
        !no_progress && std::io::stderr().is_terminal()
    }

    fn new() -> Terminal {
        let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner:.cyan} [{bar:32.cyan/blue}] {percent:>3} % · {elapsed} elapsed · {prefix}\n  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        let shared = Arc::new(Shared {
            bar,
            position: Mutex::new(Position::default()),
            started: Instant::now(),
            stopped: AtomicBool::new(false),
        });
        let ticking = Arc::clone(&shared);
        let ticker = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                while !ticking.stopped.load(Ordering::Relaxed) {
                    ticking.redraw();
                    std::thread::sleep(Duration::from_millis(250));
                }
            })
            .ok();
        Terminal { shared, ticker }
    }
}

impl Shared {
    /// Moves the bar to where the plan says the job is, and the time left.
    fn redraw(&self) {
        let Ok(position) = self.position.lock() else {
            return;
        };
        let total = position.total();
        if total.is_zero() {
            return;
        }
        let done = position.done(Instant::now());
        self.bar
            .set_position((done.as_secs_f64() / total.as_secs_f64() * 1000.0) as u64);
        let stage = position
            .begun
            .checked_sub(1)
            .and_then(|k| position.stages.get(k))
            .map_or(String::new(), |s| {
                format!(
                    " · stage {}/{}: {}",
                    position.begun,
                    position.stages.len(),
                    s.0
                )
            });
        self.bar.set_prefix(format!(
            "~{} left{stage}",
            clock(total.saturating_sub(done))
        ));
    }
}

/// Minutes and seconds (`1:05`), or seconds under a minute (`42 s`).
fn clock(d: Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

impl Observer for Terminal {
    fn planned(&self, stages: &[(String, Option<Duration>)]) {
        let shared = &self.shared;
        if let Ok(mut position) = shared.position.lock() {
            position.stages = stages
                .iter()
                .map(|(name, time)| (name.clone(), time.unwrap_or_default()))
                .collect();
        }
        shared.redraw();
    }

    fn stage(&self, what: &str) {
        let shared = &self.shared;
        if let Ok(mut position) = shared.position.lock() {
            position.begun += 1;
            position.stage_started = Some(Instant::now());
        }
        shared.bar.println(format!(
            "scalewall: {what} ({} in)",
            clock(shared.started.elapsed())
        ));
        shared.bar.set_message(what.to_string());
        shared.redraw();
    }

    fn step_progress(&self, label: &str, live: &LiveProgress) {
        self.shared
            .bar
            .set_message(format!("{label}{}", progress_line(live)));
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
        self.shared.bar.finish_and_clear();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_follows_the_plan_and_never_runs_past_a_stage() {
        let start = Instant::now();
        let mut p = Position {
            stages: vec![
                ("a".into(), Duration::from_secs(10)),
                ("b".into(), Duration::from_secs(20)),
            ],
            begun: 1,
            stage_started: Some(start),
        };
        assert_eq!(p.total(), Duration::from_secs(30));
        assert_eq!(
            p.done(start + Duration::from_secs(4)),
            Duration::from_secs(4)
        );
        // A stage that overruns its plan holds at its planned end.
        assert_eq!(
            p.done(start + Duration::from_secs(15)),
            Duration::from_secs(10)
        );
        p.begun = 2;
        assert_eq!(
            p.done(start + Duration::from_secs(5)),
            Duration::from_secs(15)
        );
        assert_eq!(clock(Duration::from_secs(65)), "1:05");
        assert_eq!(clock(Duration::from_millis(41_600)), "42 s");
    }
}
