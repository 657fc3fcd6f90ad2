//! Subprocess (`--exec 'CMD'`): an operation runs the command through
//! `sh -c` and waits for it to exit; concurrency is the number of instances
//! running at once. A non-zero exit is a `server_error` naming the status and
//! the first line of stderr; a command still running at the timeout is
//! killed with its process group. `{name}` placeholders are filled from
//! `--param` before the driver is built (see [`substitute`]). Each process
//! is reaped with `wait4`, so its CPU and peak memory go to the driver's
//! [`Meter`].

use super::{Connection, Driver, OpError, Response};
use scalewall_model::{CommandCost, ErrorKind};
use std::io::Read;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Replaces every `{name}` in `template` with `value`.
pub fn substitute(template: &str, name: &str, value: &str) -> String {
    template.replace(&format!("{{{name}}}"), value)
}

/// The `{name}` placeholders a template uses, in order of first use.
pub fn placeholders(template: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        if !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !found.iter().any(|f| f == name)
        {
            found.push(name.to_string());
        }
        rest = &after[close + 1..];
    }
    found
}

/// What the operations' processes cost, summed as each is reaped: shared
/// by a driver's instances and read (and reset) by whoever measures a step.
#[derive(Debug, Default)]
pub struct Meter {
    operations: AtomicU64,
    cpu_us: AtomicU64,
    peak_rss_max: AtomicU64,
    peak_rss_sum: AtomicU64,
}

impl Meter {
    fn add(&self, cpu_us: u64, peak_rss_bytes: u64) {
        self.operations.fetch_add(1, Ordering::Relaxed);
        self.cpu_us.fetch_add(cpu_us, Ordering::Relaxed);
        self.peak_rss_max
            .fetch_max(peak_rss_bytes, Ordering::Relaxed);
        self.peak_rss_sum
            .fetch_add(peak_rss_bytes, Ordering::Relaxed);
    }

    /// What was accounted since the last take, and starts afresh.
    pub fn take(&self) -> CommandCost {
        let operations = self.operations.swap(0, Ordering::Relaxed);
        let cpu_us = self.cpu_us.swap(0, Ordering::Relaxed);
        let max = self.peak_rss_max.swap(0, Ordering::Relaxed);
        let sum = self.peak_rss_sum.swap(0, Ordering::Relaxed);
        CommandCost {
            operations,
            cpu_s: cpu_us as f64 / 1e6,
            peak_rss_bytes: max,
            mean_peak_rss_bytes: if operations == 0 {
                0.0
            } else {
                sum as f64 / operations as f64
            },
            generator_peak_rss_bytes: own_peak_rss_bytes(),
        }
    }
}

/// Linux counts ru_maxrss in KiB, macOS in bytes.
const RSS_UNIT: u64 = if cfg!(target_os = "macos") { 1 } else { 1024 };

/// This process's own peak resident set, bytes (0 when unreadable).
fn own_peak_rss_bytes() -> u64 {
    // SAFETY: getrusage fills plain data about this process.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return 0;
        }
        usage
    };
    (usage.ru_maxrss.max(0) as u64).saturating_mul(RSS_UNIT)
}

/// Runs one shell command per operation.
pub struct ExecDriver {
    command: String,
    meter: Arc<Meter>,
}

impl ExecDriver {
    /// A driver running `command` (placeholders already filled).
    pub fn new(command: &str) -> Self {
        ExecDriver::metered(command, Arc::new(Meter::default()))
    }

    /// A driver whose operations' costs go to `meter`.
    pub fn metered(command: &str, meter: Arc<Meter>) -> Self {
        ExecDriver {
            command: command.to_string(),
            meter,
        }
    }
}

/// A slot for one running instance.
pub struct ExecSlot {
    command: String,
    meter: Arc<Meter>,
}

impl Driver for ExecDriver {
    type Conn = ExecSlot;

    fn protocol(&self) -> &'static str {
        "exec"
    }

    async fn connect(&self) -> Result<ExecSlot, OpError> {
        Ok(ExecSlot {
            command: self.command.clone(),
            meter: self.meter.clone(),
        })
    }
}

/// How one operation's process ended, from `wait4`.
struct Reaped {
    /// The wait status.
    status: i32,
    /// User plus system CPU, microseconds.
    cpu_us: u64,
    /// Peak resident set of its largest process, bytes.
    peak_rss_bytes: u64,
    /// The first 4 KiB of its stderr.
    stderr: Vec<u8>,
}

/// Kills a running operation's process group when its future is dropped
/// (the operation's timeout) before the process was reaped; `reaped` is
/// set, under its lock, before the pid is freed, so the signal never
/// reaches another process.
struct KillOnDrop {
    pid: i32,
    reaped: Arc<Mutex<bool>>,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let reaped = self.reaped.lock().unwrap_or_else(|e| e.into_inner());
        if !*reaped {
            // SAFETY: kill only sends a signal, to the process group this
            // operation started (not yet reaped: the pid is still its own).
            unsafe {
                libc::kill(-self.pid, libc::SIGKILL);
            }
        }
    }
}

/// Reads the first 4 KiB of `stderr` (draining the rest), waits for the
/// process to exit without reaping it, marks it reaped, then reaps it with
/// its resource usage (blocking).
fn reap(
    pid: i32,
    stderr: Option<std::process::ChildStderr>,
    reaped: &Mutex<bool>,
) -> std::io::Result<Reaped> {
    let mut kept = Vec::new();
    if let Some(mut pipe) = stderr {
        let mut chunk = [0u8; 4096];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) if kept.len() < 4096 => kept.extend_from_slice(&chunk[..n]),
                Ok(_) => {}
            }
        }
    }
    // SAFETY: waitid with WNOWAIT only waits for the exit of our own child
    // and leaves it unreaped; the siginfo is plain data.
    let exited = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        loop {
            let r = libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            );
            if r == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                break r;
            }
        }
    };
    if exited != 0 {
        return Err(std::io::Error::last_os_error());
    }
    *reaped.lock().unwrap_or_else(|e| e.into_inner()) = true;
    let mut status = 0;
    // SAFETY: wait4 reaps our own exited child and fills plain data.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::wait4(pid, &mut status, 0, &mut usage) != pid {
            return Err(std::io::Error::last_os_error());
        }
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Ok(Reaped {
        status,
        cpu_us: micros(usage.ru_utime) + micros(usage.ru_stime),
        peak_rss_bytes: (usage.ru_maxrss.max(0) as u64).saturating_mul(RSS_UNIT),
        stderr: kept,
    })
}

impl Connection for ExecSlot {
    async fn call(&mut self) -> Result<Response, OpError> {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| OpError::new(ErrorKind::Connect, format!("cannot start sh: {e}")))?;
        let pid = child.id() as i32;
        let stderr = child.stderr.take();
        let reaped = Arc::new(Mutex::new(false));
        let _kill = KillOnDrop {
            pid,
            reaped: reaped.clone(),
        };
        let ended = tokio::task::spawn_blocking(move || reap(pid, stderr, &reaped))
            .await
            .map_err(|e| OpError::new(ErrorKind::Io, format!("waiting for the command: {e}")))?
            .map_err(|e| OpError::new(ErrorKind::Io, format!("waiting for the command: {e}")))?;
        self.meter.add(ended.cpu_us, ended.peak_rss_bytes);
        let exited = libc::WIFEXITED(ended.status);
        if exited && libc::WEXITSTATUS(ended.status) == 0 {
            return Ok(Response {
                status: 0,
                bytes: 0,
                keep_alive: true,
            });
        }
        let first_line = String::from_utf8_lossy(&ended.stderr)
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string();
        let how = if exited {
            format!("exit status {}", libc::WEXITSTATUS(ended.status))
        } else {
            "killed by a signal".to_string()
        };
        Err(OpError::new(
            ErrorKind::ServerError,
            if first_line.is_empty() {
                how
            } else {
                format!("{how}: {first_line}")
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_once_each_and_filled() {
        let t = "load --plugins {size} --seed {seed} --again {size} {not valid} {}";
        assert_eq!(placeholders(t), ["size", "seed"]);
        assert_eq!(
            substitute(t, "size", "10"),
            "load --plugins 10 --seed {seed} --again 10 {not valid} {}"
        );
    }
}
