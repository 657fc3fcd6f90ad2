//! The process probe: RSS, CPU %, threads, open file descriptors and uptime
//! of processes chosen by pid, by name, or by the TCP port they listen on
//! (the listening socket's inode is asked of the kernel's socket
//! diagnostics, or found in /proc/net/tcp{,6}, and matched against every
//! process's open descriptors).

use crate::{Probe, ProbeError};
use procfs::net::TcpState;
use procfs::prelude::*;
use procfs::process::{FDTarget, Process};
pub use scalewall_model::health::ProcessReading;
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

/// How to find the processes to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessSelector {
    /// One process id.
    Pid(i32),
    /// Every process whose command name or executable file name is this.
    Name(String),
    /// The processes holding a TCP socket listening on this port.
    Port(u16),
}

impl std::fmt::Display for ProcessSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProcessSelector::Pid(pid) => write!(f, "pid {pid}"),
            ProcessSelector::Name(name) => write!(f, "name '{name}'"),
            ProcessSelector::Port(port) => write!(f, "TCP port {port} (listening)"),
        }
    }
}

/// The kernel's `comm` is the executable name cut to 15 bytes.
const COMM_LENGTH: usize = 15;

fn name_matches(process: &Process, comm: &str, wanted: &str) -> bool {
    let truncated: String = wanted.chars().take(COMM_LENGTH).collect();
    if comm == wanted || (wanted.len() > COMM_LENGTH && comm == truncated) {
        return true;
    }
    process
        .exe()
        .ok()
        .and_then(|exe| exe.file_name().map(|n| n.to_string_lossy() == wanted))
        .unwrap_or(false)
}

/// Socket inodes listening on TCP `port` (IPv4 and IPv6): the kernel's
/// socket-diagnostics answer, or /proc/net/tcp where netlink is refused.
pub fn listening_inodes(port: u16) -> Result<HashSet<u64>, ProbeError> {
    if let Ok(inodes) = crate::sock_diag::listening_inodes(port) {
        return Ok(inodes);
    }
    let mut inodes = HashSet::new();
    let v4 = procfs::net::tcp().map_err(|e| ProbeError::proc("/proc/net/tcp", e))?;
    // IPv6 may be disabled; an unreadable tcp6 table is not an error.
    let v6 = procfs::net::tcp6().unwrap_or_default();
    for entry in v4.into_iter().chain(v6) {
        if entry.state == TcpState::Listen && entry.local_address.port() == port {
            inodes.insert(entry.inode);
        }
    }
    Ok(inodes)
}

/// The process ids the selector names now.
pub fn resolve(selector: &ProcessSelector) -> Result<Vec<i32>, ProbeError> {
    let pids: Vec<i32> = match selector {
        ProcessSelector::Pid(pid) => {
            if Process::new(*pid).is_ok() {
                vec![*pid]
            } else {
                Vec::new()
            }
        }
        ProcessSelector::Name(name) => procfs::process::all_processes()
            .map_err(|e| ProbeError::proc("/proc", e))?
            .flatten()
            .filter(|p| p.stat().is_ok_and(|s| name_matches(p, &s.comm, name)))
            .map(|p| p.pid)
            .collect(),
        ProcessSelector::Port(port) => {
            let inodes = listening_inodes(*port)?;
            if inodes.is_empty() {
                Vec::new()
            } else {
                procfs::process::all_processes()
                    .map_err(|e| ProbeError::proc("/proc", e))?
                    .flatten()
                    .filter(|p| {
                        p.fd().is_ok_and(|fds| {
                            fds.flatten()
                                .any(|fd| matches!(fd.target, FDTarget::Socket(inode) if inodes.contains(&inode)))
                        })
                    })
                    .map(|p| p.pid)
                    .collect()
            }
        }
    };
    if pids.is_empty() {
        return Err(ProbeError::NoProcess(selector.to_string()));
    }
    Ok(pids)
}

/// Samples the processes a selector names (resolved once, at creation).
pub struct ProcessProbe {
    pids: Vec<i32>,
    previous: BTreeMap<i32, (u64, Instant)>,
    ticks_per_s: f64,
    page_bytes: u64,
}

/// A process's stat record and its CPU ticks (user + system).
pub(crate) fn cpu_ticks(process: &Process) -> Result<(procfs::process::Stat, u64), ProbeError> {
    let stat = process
        .stat()
        .map_err(|e| ProbeError::proc(format!("/proc/{}/stat", process.pid), e))?;
    let ticks = stat.utime + stat.stime;
    Ok((stat, ticks))
}

/// CPU time (user + system) this process has used so far, seconds;
/// `None` where /proc cannot say.
pub fn own_cpu_s() -> Option<f64> {
    let (_, ticks) = cpu_ticks(&Process::myself().ok()?).ok()?;
    Some(ticks as f64 / procfs::ticks_per_second() as f64)
}

impl ProcessProbe {
    /// Resolves the selector; CPU % is measured from now.
    pub fn new(selector: &ProcessSelector) -> Result<Self, ProbeError> {
        let pids = resolve(selector)?;
        let now = Instant::now();
        let mut previous = BTreeMap::new();
        for &pid in &pids {
            if let Ok(process) = Process::new(pid) {
                if let Ok((_, ticks)) = cpu_ticks(&process) {
                    previous.insert(pid, (ticks, now));
                }
            }
        }
        Ok(ProcessProbe {
            pids,
            previous,
            ticks_per_s: procfs::ticks_per_second() as f64,
            page_bytes: procfs::page_size(),
        })
    }

    /// The process ids being watched.
    pub fn pids(&self) -> &[i32] {
        &self.pids
    }
}

impl Probe for ProcessProbe {
    type Reading = Vec<ProcessReading>;

    fn sample(&mut self) -> Result<Vec<ProcessReading>, ProbeError> {
        let uptime = procfs::Uptime::current()
            .map_err(|e| ProbeError::proc("/proc/uptime", e))?
            .uptime;
        let mut readings = Vec::with_capacity(self.pids.len());
        for &pid in &self.pids {
            // A process that exited since the last sample is left out.
            let Ok(process) = Process::new(pid) else {
                continue;
            };
            let Ok((stat, ticks)) = cpu_ticks(&process) else {
                continue;
            };
            let now = Instant::now();
            let (ticks0, at0) = self.previous.get(&pid).copied().unwrap_or((ticks, now));
            let elapsed = now.duration_since(at0).as_secs_f64();
            let cpu_pct = if elapsed > 0.0 {
                100.0 * ticks.saturating_sub(ticks0) as f64 / self.ticks_per_s / elapsed
            } else {
                0.0
            };
            self.previous.insert(pid, (ticks, now));
            readings.push(ProcessReading {
                pid,
                name: stat.comm.clone(),
                rss_bytes: stat.rss * self.page_bytes,
                pss_bytes: std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
                    .ok()
                    .and_then(|t| crate::target::parse_pss(&t)),
                cpu_pct,
                threads: stat.num_threads,
                open_fds: process.fd_count().map_or(0, |n| n as u64),
                uptime_s: (uptime - stat.starttime as f64 / self.ticks_per_s).max(0.0),
            });
        }
        if readings.is_empty() {
            return Err(ProbeError::NoProcess(format!(
                "pids {:?} (all exited)",
                self.pids
            )));
        }
        Ok(readings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_found_by_pid_and_name_and_measured() {
        let me = std::process::id() as i32;
        let mut probe = ProcessProbe::new(&ProcessSelector::Pid(me)).unwrap();
        let reading = &probe.sample().unwrap()[0];
        assert_eq!(reading.pid, me);
        assert!(reading.rss_bytes > 1 << 20, "{reading:?}");
        assert!(reading.threads >= 1 && reading.open_fds >= 3);
        let comm = reading.name.clone();
        assert!(resolve(&ProcessSelector::Name(comm)).unwrap().contains(&me));
    }

    #[test]
    fn missing_processes_are_named_in_the_error() {
        let err = resolve(&ProcessSelector::Name("no-such-process-xyz".into())).unwrap_err();
        assert!(err.to_string().contains("no-such-process-xyz"), "{err}");
        // Port 1 is privileged and unused on test machines.
        assert!(resolve(&ProcessSelector::Port(1)).is_err());
    }

    #[test]
    fn a_listening_socket_of_this_process_is_found_by_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let pids = resolve(&ProcessSelector::Port(port)).unwrap();
        assert_eq!(pids, vec![std::process::id() as i32]);
    }
}
