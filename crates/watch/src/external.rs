//! External jobs: the jobs people already have, under the same schedule,
//! statuses, alerts and reports as scalewall's own loads.
//!
//! - A `command` job: the daemon runs the program (in the config file's
//!   folder, in its own process group); its exit code, duration, timeout
//!   and the last 4 KiB of its output decide and explain the run.
//! - A `push` job reports each run itself (`POST /api/jobs/<name>/runs` or
//!   `scalewall report-job`); no report within `every` + `grace` is a late
//!   run.
//!
//! Each run becomes a stored `Run` record (no scenarios; its duration as
//! the metric `duration_s`; a finding that explains a failure), so a
//! restarted daemon replays it and the reports show it as any other run.
//! [`run_command`] is the I/O edge; the rest is pure.

use scalewall_job::fix::Fix;
use scalewall_load::engine::Control;
use scalewall_model::{Finding, Run, RunStatus, Severity};
use scalewall_stats::number::sig;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The output of a command kept for its status: the last 4 KiB.
pub const OUTPUT_TAIL: usize = 4096;

/// The characters of output a failure's evidence quotes (its last lines).
const EVIDENCE_CHARS: usize = 300;

/// How often a running command's exit, deadline and the stop flag are looked at.
const POLL: Duration = Duration::from_millis(20);

/// After a command exits, how long its output may take to drain (a
/// grandchild that keeps the pipe open does not hold the daemon).
const DRAIN: Duration = Duration::from_secs(1);

/// How an external run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// Exit code 0, or a report with status "ok".
    Ok,
    /// A command's non-zero exit ("exit code 2", "signal 9", "could not
    /// start: …"), or a report with status "error" (its message).
    Failed(String),
    /// Past the timeout (the command was killed), or a report with status
    /// "timeout".
    TimedOut,
    /// No report within `every` + `grace`.
    Late {
        /// When the missed report was due.
        since: SystemTime,
        /// The last report's time, if any.
        last: Option<SystemTime>,
    },
    /// Stopped with the daemon (not the job's doing).
    Stopped,
}

/// One run of an external job.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalRun {
    /// When it started.
    pub started: SystemTime,
    /// Wall time, seconds.
    pub duration_s: f64,
    /// How it ended.
    pub ended: Ended,
    /// A command's exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The last [`OUTPUT_TAIL`] bytes of its output, or a report's message.
    pub output: String,
}

/// The last `OUTPUT_TAIL` bytes of what a command wrote, shared with the
/// thread that reads its pipe.
#[derive(Default)]
struct Tail(Vec<u8>);

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
        if self.0.len() > OUTPUT_TAIL {
            let cut = self.0.len() - OUTPUT_TAIL;
            self.0.drain(..cut);
        }
    }
}

/// Runs `argv` in `dir` with stdout and stderr in one pipe, until it exits,
/// `timeout` passes (its whole process group is killed) or `stop` is
/// requested (killed too).
pub fn run_command(argv: &[String], dir: &Path, timeout: Duration, stop: &Control) -> ExternalRun {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let started = SystemTime::now();
    let clock = Instant::now();
    let finish = |ended: Ended, exit_code: Option<i32>, output: String| ExternalRun {
        started,
        duration_s: clock.elapsed().as_secs_f64(),
        ended,
        exit_code,
        output,
    };
    let (reader, writer) = match std::io::pipe() {
        Ok(pair) => pair,
        Err(e) => {
            return finish(
                Ended::Failed(format!("could not start: {e}")),
                None,
                String::new(),
            )
        }
    };
    let mut command = std::process::Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .process_group(0);
    match writer.try_clone() {
        Ok(second) => {
            command.stdout(second).stderr(writer);
        }
        Err(e) => {
            return finish(
                Ended::Failed(format!("could not start: {e}")),
                None,
                String::new(),
            )
        }
    }
    let spawned = command.spawn();
    // The parent's copies of the pipe's write end go with the command, so
    // the reader sees the end of the output when the process group ends.
    drop(command);
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            return finish(
                Ended::Failed(format!("could not start {}: {e}", argv[0])),
                None,
                String::new(),
            )
        }
    };
    let tail = Arc::new(Mutex::new(Tail::default()));
    let (drained_tx, drained_rx) = std::sync::mpsc::channel::<()>();
    {
        let tail = tail.clone();
        let mut reader = reader;
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                crate::daemon::lock(&tail).push(&buf[..n]);
            }
            let _ = drained_tx.send(());
        });
    }
    let kill_group = |child: &std::process::Child| {
        // SAFETY: kill only sends a signal; the negative pid names the
        // process group the command was started in.
        unsafe {
            libc::kill(-(child.id() as i32), libc::SIGKILL);
        }
    };
    let deadline = clock + timeout;
    let ended = loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                break match (status.code(), status.signal()) {
                    (Some(0), _) => (Ended::Ok, Some(0)),
                    (Some(code), _) => (Ended::Failed(format!("exit code {code}")), Some(code)),
                    (None, Some(signal)) => (Ended::Failed(format!("signal {signal}")), None),
                    (None, None) => (Ended::Failed("an unknown end".into()), None),
                };
            }
            Ok(None) => {}
            Err(e) => break (Ended::Failed(format!("could not wait for it: {e}")), None),
        }
        if stop.is_stopped() || Instant::now() >= deadline {
            kill_group(&child);
            let _ = child.wait();
            break if stop.is_stopped() {
                (Ended::Stopped, None)
            } else {
                (Ended::TimedOut, None)
            };
        }
        std::thread::sleep(POLL);
    };
    // A grandchild of a killed command may still hold the pipe: end it too.
    if ended.0 != Ended::Ok {
        kill_group(&child);
    }
    let _ = drained_rx.recv_timeout(DRAIN);
    let output = String::from_utf8_lossy(&crate::daemon::lock(&tail).0).into_owned();
    finish(ended.0, ended.1, output)
}

/// A push job's report, as `POST /api/jobs/<name>/runs` takes it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// `ok`, `error` or `timeout`.
    pub status: String,
    /// How long the job's run took, seconds (0 when not given).
    #[serde(default)]
    pub duration_s: f64,
    /// What the job says about it.
    #[serde(default)]
    pub message: String,
}

/// The largest report body taken.
pub const MAX_REPORT: usize = 64 * 1024;

impl Report {
    /// A report from a request body, or why it is refused (pure).
    pub fn parse(body: &[u8]) -> Result<Report, String> {
        let report: Report = serde_json::from_slice(body).map_err(|e| {
            format!(
                "expected {{\"status\": \"ok\"|\"error\"|\"timeout\", \"duration_s\": …, \"message\": …}}: {e}"
            )
        })?;
        if !["ok", "error", "timeout"].contains(&report.status.as_str()) {
            return Err(format!(
                "status '{}': expected \"ok\", \"error\" or \"timeout\"",
                report.status
            ));
        }
        if !report.duration_s.is_finite() || report.duration_s < 0.0 {
            return Err(format!(
                "duration_s {}: expected seconds, 0 or more",
                report.duration_s
            ));
        }
        Ok(report)
    }

    /// The run it reports, received at `now` (it started `duration_s`
    /// before).
    pub fn into_run(self, now: SystemTime) -> ExternalRun {
        let ended = match self.status.as_str() {
            "ok" => Ended::Ok,
            "timeout" => Ended::TimedOut,
            _ => Ended::Failed(if self.message.is_empty() {
                "status error".into()
            } else {
                self.message.clone()
            }),
        };
        let mut output = self.message;
        if output.len() > OUTPUT_TAIL {
            let mut cut = output.len() - OUTPUT_TAIL;
            while !output.is_char_boundary(cut) {
                cut += 1;
            }
            output.drain(..cut);
        }
        ExternalRun {
            started: now
                .checked_sub(Duration::from_secs_f64(self.duration_s.min(1e9)))
                .unwrap_or(now),
            duration_s: self.duration_s,
            ended,
            exit_code: None,
            output,
        }
    }
}

/// The last lines of `output`, at most [`EVIDENCE_CHARS`] characters, on
/// one line (pure).
pub fn last_lines(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut length = 0;
    for line in lines.iter().rev() {
        let n = line.chars().count();
        if length + n > EVIDENCE_CHARS && !kept.is_empty() {
            break;
        }
        kept.push(line);
        length += n + 3;
    }
    kept.reverse();
    let text = kept.join(" ⏎ ");
    if text.chars().count() > EVIDENCE_CHARS {
        let tail: String = text
            .chars()
            .rev()
            .take(EVIDENCE_CHARS)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    } else {
        text
    }
}

/// What an external job is, for its record's findings.
pub enum Source<'a> {
    /// A command job: the command as one line.
    Command(&'a str),
    /// A push job: its interval plus grace, seconds.
    Push {
        /// `every` + `grace`, seconds.
        due_s: f64,
    },
}

/// The subject of a timed-out run's finding (as a load job's).
pub const TIMEOUT_SUBJECT: &str = "watch.timeout";
/// The subject of a failed command's or a failed report's finding.
pub const FAILED_SUBJECT: &str = "job.failed";
/// The subject of a late push job's finding.
pub const LATE_SUBJECT: &str = "job.late";

/// The finding that explains a run that did not end well (pure); `None`
/// for an ok run, a stopped one, and a timeout (the daemon's own timeout
/// finding says it).
pub fn finding_of(job: &str, source: &Source<'_>, run: &ExternalRun) -> Option<Finding> {
    match &run.ended {
        Ended::Ok | Ended::Stopped => None,
        Ended::TimedOut => match source {
            // A command's timeout: the daemon's own finding says it.
            Source::Command(_) => None,
            Source::Push { .. } => Some(Finding {
                severity: Severity::High,
                subject: TIMEOUT_SUBJECT.into(),
                message: format!("job {job} reported a timeout"),
                evidence: match last_lines(&run.output) {
                    quoted if quoted.is_empty() => format!("after {} s", sig(run.duration_s)),
                    quoted => format!("its message: {quoted}; after {} s", sig(run.duration_s)),
                },
                fix: Fix::ReportedError { job }.text(),
            }),
        },
        Ended::Failed(why) => {
            let evidence = match last_lines(&run.output) {
                quoted if quoted.is_empty() => "no output".to_string(),
                quoted => format!("last output: {quoted}"),
            };
            let (message, fix) = match source {
                Source::Command(command) => (
                    format!("job {job} ended with {why}"),
                    Fix::CommandFailed {
                        command,
                        ended: why,
                    }
                    .text(),
                ),
                Source::Push { .. } => (
                    format!("job {job} reported an error"),
                    Fix::ReportedError { job }.text(),
                ),
            };
            Some(Finding {
                severity: Severity::High,
                subject: FAILED_SUBJECT.into(),
                message,
                evidence: format!("{evidence}; after {} s", sig(run.duration_s)),
                fix,
            })
        }
        Ended::Late { since, last } => {
            let last = last.map(|t| humantime::format_rfc3339_seconds(t).to_string());
            let due_s = match source {
                Source::Push { due_s } => *due_s,
                Source::Command(_) => 0.0,
            };
            Some(Finding {
                severity: Severity::High,
                subject: LATE_SUBJECT.into(),
                message: format!(
                    "job {job} is late since {}",
                    humantime::format_rfc3339_seconds(*since)
                ),
                evidence: match &last {
                    Some(at) => format!("last report at {at}; due every {} s", sig(due_s)),
                    None => format!(
                        "no report since the daemon started; due every {} s",
                        sig(due_s)
                    ),
                },
                fix: Fix::LatePush {
                    job,
                    last_report: last.as_deref(),
                    due_s,
                }
                .text(),
            })
        }
    }
}

/// The stored record of an external run (pure but for the id and host):
/// completed when it ended well, failed when it failed or was late,
/// interrupted at a timeout or a stop; `finding` explains it.
pub fn record_of(job: &str, run: &ExternalRun, finding: Option<Finding>) -> Run {
    let status = match run.ended {
        Ended::Ok => RunStatus::Completed,
        Ended::Failed(_) | Ended::Late { .. } => RunStatus::Failed,
        Ended::TimedOut | Ended::Stopped => RunStatus::Interrupted,
    };
    let finished = run.started + Duration::from_secs_f64(run.duration_s.clamp(0.0, 1e9));
    let clock = At(finished);
    let mut record = scalewall_job::record::new_run(&clock, run.started, status, Vec::new());
    record.subject = Some(job.to_string());
    record.findings.extend(finding);
    record
}

/// A fixed clock: a record's end time.
struct At(SystemTime);

impl scalewall_job::record::Clock for At {
    fn now(&self) -> SystemTime {
        self.0
    }
}

/// The metric an external run stores: its duration when it completed.
pub const DURATION_METRIC: &str = "duration_s";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_taken_whole_or_refused_with_the_reason() {
        let ok =
            Report::parse(br#"{"status":"ok","duration_s":12.5,"message":"3 files"}"#).unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let run = ok.into_run(now);
        assert_eq!(run.ended, Ended::Ok);
        assert_eq!(run.started, now - Duration::from_millis(12_500));
        assert_eq!(run.output, "3 files");
        let error = Report::parse(br#"{"status":"error","message":"disk full"}"#).unwrap();
        assert_eq!(error.into_run(now).ended, Ended::Failed("disk full".into()));
        for (body, why) in [
            (&br#"{"status":"fine"}"#[..], "status 'fine'"),
            (br#"{"status":"ok","duration_s":-1}"#, "duration_s -1"),
            (br#"{"status":"ok","extra":1}"#, "unknown field"),
            (b"not json", "expected {"),
        ] {
            let e = Report::parse(body).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn a_failure_quotes_its_last_output_lines_and_a_late_job_its_last_report() {
        let failed = ExternalRun {
            started: SystemTime::UNIX_EPOCH,
            duration_s: 2.0,
            ended: Ended::Failed("exit code 2".into()),
            exit_code: Some(2),
            output: "starting\n\npg_dump: error: connection refused\n".into(),
        };
        let f = finding_of("backup", &Source::Command("pg_dump test"), &failed).unwrap();
        assert_eq!(f.subject, FAILED_SUBJECT);
        assert_eq!(f.message, "job backup ended with exit code 2");
        assert_eq!(
            f.evidence,
            "last output: starting ⏎ pg_dump: error: connection refused; after 2 s"
        );
        assert!(f.fix.contains("`pg_dump test`"), "{}", f.fix);
        let record = record_of("backup", &failed, Some(f));
        assert_eq!(record.status, RunStatus::Failed);
        assert_eq!(record.finished_at, "1970-01-01T00:00:02.000Z");
        assert_eq!(record.subject.as_deref(), Some("backup"));

        let late = ExternalRun {
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(10_800),
            duration_s: 0.0,
            ended: Ended::Late {
                since: SystemTime::UNIX_EPOCH + Duration::from_secs(7200),
                last: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(3600)),
            },
            exit_code: None,
            output: String::new(),
        };
        let f = finding_of("nightly", &Source::Push { due_s: 3600.0 }, &late).unwrap();
        assert_eq!(f.message, "job nightly is late since 1970-01-01T02:00:00Z");
        assert!(f
            .evidence
            .starts_with("last report at 1970-01-01T01:00:00Z"));
        assert!(f.fix.contains("scalewall report-job nightly --status ok"));
    }

    #[test]
    fn long_output_keeps_its_end() {
        let long = format!("{}\nthe end", "x".repeat(1000));
        assert_eq!(last_lines(&long), "the end");
        let one = "y".repeat(1000);
        let quoted = last_lines(&one);
        assert!(quoted.starts_with('…') && quoted.chars().count() == EVIDENCE_CHARS + 1);
        let mut tail = Tail::default();
        tail.push(&[b'a'; 5000]);
        tail.push(b"end");
        assert_eq!(tail.0.len(), OUTPUT_TAIL);
        assert!(tail.0.ends_with(b"aend"));
    }

    #[test]
    fn a_command_gives_its_exit_code_output_and_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let stop = Control::new();
        let line = |l: &str| vec!["sh".to_string(), "-c".to_string(), l.to_string()];
        let failed = run_command(
            &line("echo out; echo err >&2; pwd; exit 3"),
            dir.path(),
            Duration::from_secs(30),
            &stop,
        );
        assert_eq!(failed.ended, Ended::Failed("exit code 3".into()));
        assert_eq!(failed.exit_code, Some(3));
        let cwd = dir.path().canonicalize().unwrap();
        assert_eq!(failed.output, format!("out\nerr\n{}\n", cwd.display()));
        // A command that outlives its timeout is killed with its children:
        // `sleep` here holds the pipe, and the run still ends in time
        // (0.3 s timeout; 10 s bounds a busy 2-core machine's scheduling).
        let hung = run_command(
            &line("echo started; sleep 30 & sleep 30"),
            dir.path(),
            Duration::from_millis(300),
            &stop,
        );
        assert_eq!(hung.ended, Ended::TimedOut);
        assert!(
            (0.3..10.0).contains(&hung.duration_s),
            "{}",
            hung.duration_s
        );
        assert_eq!(hung.output, "started\n");
        let missing = run_command(
            &["/no/such/program".to_string()],
            dir.path(),
            Duration::from_secs(5),
            &stop,
        );
        assert!(
            matches!(&missing.ended, Ended::Failed(why) if why.starts_with("could not start /no/such/program")),
            "{missing:?}"
        );
    }
}
