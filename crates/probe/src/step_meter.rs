//! Meters what one load step costs: cumulative CPU counters of the host and
//! of the target's process read at the step's start and end (exact, whatever
//! the sampling rate), and a background sampler recording a time series
//! about once per interval in between.

use crate::host::{busy_and_total, HostProbe};
use crate::process::{cpu_ticks, ProcessProbe, ProcessSelector};
use crate::{Probe, ProbeError};
use procfs::prelude::*;
use procfs::process::Process;
use scalewall_model::{ListenQueue, ProcessCost, ResourceSample, StepResources};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Host busy and total CPU ticks so far, from one read of /proc/stat.
fn host_ticks() -> Result<(u64, u64), ProbeError> {
    let stats = procfs::KernelStats::current().map_err(|e| ProbeError::proc("/proc/stat", e))?;
    Ok(busy_and_total(&stats.total))
}

/// CPU ticks (user + system), RSS in bytes and command name of a process.
fn process_counters(pid: i32) -> Result<(u64, u64, String), ProbeError> {
    let process = Process::new(pid).map_err(|e| ProbeError::proc(format!("/proc/{pid}"), e))?;
    let (stat, ticks) = cpu_ticks(&process)?;
    Ok((ticks, stat.rss * procfs::page_size(), stat.comm))
}

/// A step being metered.
pub struct StepMeter {
    started: Instant,
    host_busy: u64,
    host_total: u64,
    target: Option<(i32, u64, u64)>,
    stop: Arc<AtomicBool>,
    sampler: JoinHandle<Vec<ResourceSample>>,
}

impl StepMeter {
    /// Reads the counters and starts sampling every `interval`.
    pub fn start(target_pid: Option<i32>, interval: Duration) -> Result<StepMeter, ProbeError> {
        let target = match target_pid {
            Some(pid) => {
                let (ticks, rss, _) = process_counters(pid)?;
                Some((pid, ticks, rss))
            }
            None => None,
        };
        let mut host = HostProbe::new(Vec::new())?;
        let mut process = match target_pid {
            Some(pid) => Some(ProcessProbe::new(&ProcessSelector::Pid(pid))?),
            None => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let started = Instant::now();
        let sampler = std::thread::Builder::new()
            .name("scalewall-sampler".into())
            .spawn(move || {
                let mut samples = Vec::new();
                let mut next = started + interval;
                while !stop_flag.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if now < next {
                        std::thread::sleep((next - now).min(Duration::from_millis(50)));
                        continue;
                    }
                    next += interval;
                    let Ok(h) = host.sample() else { continue };
                    let p = process
                        .as_mut()
                        .and_then(|p| p.sample().ok())
                        .and_then(|r| r.into_iter().next());
                    samples.push(ResourceSample {
                        offset_s: started.elapsed().as_secs_f64(),
                        host_cpu_busy_pct: h.cpu_busy_pct,
                        host_mem_used_bytes: h.mem_used_bytes,
                        target_cpu_pct: p.as_ref().map(|p| p.cpu_pct),
                        target_rss_bytes: p.as_ref().map(|p| p.rss_bytes),
                    });
                }
                samples
            })
            .map_err(|e| ProbeError::proc("the sampler thread", e))?;
        let (host_busy, host_total) = host_ticks()?;
        Ok(StepMeter {
            started,
            host_busy,
            host_total,
            target,
            stop,
            sampler,
        })
    }

    /// Reads the counters again and stops the sampler.
    pub fn finish(self) -> Result<StepResources, ProbeError> {
        let wall_s = self.started.elapsed().as_secs_f64();
        let ticks_per_s = procfs::ticks_per_second() as f64;
        let (busy, total) = host_ticks()?;
        let (busy, total) = (
            busy.saturating_sub(self.host_busy),
            total.saturating_sub(self.host_total),
        );
        let mut target_note = None;
        let target = match self.target {
            Some((pid, ticks0, rss0)) => match process_counters(pid) {
                Ok((ticks, rss, name)) => Some(ProcessCost {
                    pid,
                    name,
                    cpu_s: ticks.saturating_sub(ticks0) as f64 / ticks_per_s,
                    rss_start_bytes: rss0,
                    rss_end_bytes: rss,
                }),
                Err(_) => {
                    target_note = Some(format!(
                        "the target's process (pid {pid}) exited during the step"
                    ));
                    None
                }
            },
            None => None,
        };
        self.stop.store(true, Ordering::Relaxed);
        let samples = self.sampler.join().unwrap_or_default();
        Ok(StepResources {
            wall_s,
            host_cpu_s: busy as f64 / ticks_per_s,
            host_cpu_busy_pct: crate::percent(busy as f64, total as f64),
            target,
            target_note,
            samples,
            listen_queue: None,
        })
    }
}

/// `ListenOverflows` and `ListenDrops` from a `/proc/net/netstat` text
/// (pure): the `TcpExt:` header line names the fields, the next
/// `TcpExt:` line holds their values.
pub fn parse_listen_queue(netstat: &str) -> Option<ListenQueue> {
    let mut lines = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let names: Vec<&str> = lines.next()?.split_whitespace().collect();
    let values: Vec<&str> = lines.next()?.split_whitespace().collect();
    let field = |name: &str| -> Option<u64> {
        let at = names.iter().position(|n| *n == name)?;
        values.get(at)?.parse().ok()
    };
    Some(ListenQueue {
        overflows: field("ListenOverflows")?,
        drops: field("ListenDrops")?,
    })
}

/// This host's listen-queue counters now (`None` where they cannot be read).
pub fn listen_queue_now() -> Option<ListenQueue> {
    parse_listen_queue(&std::fs::read_to_string("/proc/net/netstat").ok()?)
}

/// How far the counters moved between two readings.
pub fn listen_queue_moved(before: ListenQueue, after: ListenQueue) -> ListenQueue {
    ListenQueue {
        overflows: after.overflows.saturating_sub(before.overflows),
        drops: after.drops.saturating_sub(before.drops),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_queue_counters_are_read_by_name() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPBacklogDrop\n\
                    TcpExt: 0 17 19 0\n\
                    IpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(
            parse_listen_queue(text),
            Some(ListenQueue {
                overflows: 17,
                drops: 19
            })
        );
        assert_eq!(parse_listen_queue("IpExt: A\nIpExt: 1\n"), None);
        let moved = listen_queue_moved(
            ListenQueue {
                overflows: 5,
                drops: 6,
            },
            ListenQueue {
                overflows: 9,
                drops: 6,
            },
        );
        assert_eq!(
            moved,
            ListenQueue {
                overflows: 4,
                drops: 0
            }
        );
    }

    #[test]
    fn a_busy_child_costs_about_one_cpu_second_per_second() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let meter = StepMeter::start(Some(child.id() as i32), Duration::from_millis(200)).unwrap();
        std::thread::sleep(Duration::from_millis(1200));
        let resources = meter.finish().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let target = resources.target.clone().unwrap();
        let share = target.cpu_s / resources.wall_s;
        assert!(
            (0.8..=1.05).contains(&share),
            "busy child used {share} of a core"
        );
        assert!(resources.host_cpu_s >= target.cpu_s * 0.9, "{resources:?}");
        assert!(
            (4..=7).contains(&resources.samples.len()),
            "{} samples",
            resources.samples.len()
        );
        assert!(resources.samples.iter().all(|s| s.target_cpu_pct.is_some()));
    }
}
