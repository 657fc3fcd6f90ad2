//! Meters what one load step costs: cumulative CPU counters of the host, of
//! scalewall's own process (the generator) and of the target's set of
//! processes read at the step's start and end (exact, whatever the sampling
//! rate), and a background sampler recording a time series about once per
//! interval in between.

use crate::host::{available_and_used, busy_and_total};
use crate::process::cpu_ticks;
use crate::target::{self, TargetReading, TargetSelector};
use crate::ProbeError;
use procfs::prelude::*;
use procfs::process::Process;
use scalewall_model::{ListenQueue, ResourceSample, StepResources};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Host busy and total CPU ticks so far, from one read of /proc/stat.
fn host_ticks() -> Result<(u64, u64), ProbeError> {
    let stats = procfs::KernelStats::current().map_err(|e| ProbeError::proc("/proc/stat", e))?;
    Ok(busy_and_total(&stats.total))
}

/// This process's CPU ticks (user + system, every thread).
fn own_ticks() -> Option<u64> {
    Process::myself()
        .ok()
        .and_then(|p| cpu_ticks(&p).ok())
        .map(|(_, ticks)| ticks)
}

/// What a time-series sample reads of the host: its CPU busy share since
/// the last sample and the memory in use. Two small files; the full host
/// probe also walks every process, which is no part of the series.
struct SeriesProbe {
    busy: u64,
    total: u64,
}

impl SeriesProbe {
    fn new() -> Result<SeriesProbe, ProbeError> {
        let (busy, total) = host_ticks()?;
        Ok(SeriesProbe { busy, total })
    }

    /// (CPU busy %, memory used in bytes) now.
    fn sample(&mut self) -> Result<(f64, u64), ProbeError> {
        let (busy, total) = host_ticks()?;
        let busy_pct = crate::percent(
            busy.saturating_sub(self.busy) as f64,
            total.saturating_sub(self.total) as f64,
        );
        (self.busy, self.total) = (busy, total);
        let mem = procfs::Meminfo::current().map_err(|e| ProbeError::proc("/proc/meminfo", e))?;
        Ok((busy_pct, available_and_used(&mem).1))
    }
}

/// Puts the calling thread under `SCHED_IDLE`: it runs only on CPU time
/// the generator threads leave, and a generator thread that wakes (a
/// response, a send falling due) takes the core back at once. A sample
/// takes a few milliseconds of /proc reads; at normal priority it would
/// hold a generator thread off its core that long, and every send due
/// meanwhile would leave late. The price: on a host with every core busy
/// the samples come late and fewer; the step's own figures, read on the
/// calling thread at its start and end, stay exact. (Best effort: where
/// the call fails the sampler keeps its priority.)
fn yield_to_generators() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sets the calling thread's (pid 0) policy from a valid
        // sched_param; it touches no memory of ours.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    }
}

/// A step being metered.
pub struct StepMeter {
    started: Instant,
    started_at: std::time::SystemTime,
    host_busy: u64,
    host_total: u64,
    own_ticks: Option<u64>,
    target: Option<(TargetSelector, TargetReading)>,
    stop: Arc<AtomicBool>,
    sampler: JoinHandle<Vec<ResourceSample>>,
}

/// The sampler reads a target set (a scan of /proc) at most this often;
/// samples in between carry no target figures.
const RESOLVE_EVERY: Duration = Duration::from_secs(1);

impl StepMeter {
    /// Reads the counters and starts sampling every `interval`. The target
    /// set leaves out this scalewall process.
    pub fn start(
        target: Option<&TargetSelector>,
        interval: Duration,
    ) -> Result<StepMeter, ProbeError> {
        let me = std::process::id() as i32;
        let target = match target {
            Some(selector) => Some((selector.clone(), target::read(selector, me, false)?)),
            None => None,
        };
        let mut host = SeriesProbe::new()?;
        let sampled = target.as_ref().map(|(s, _)| s.clone());
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let started = Instant::now();
        let started_at = std::time::SystemTime::now();
        let ticks_per_s = procfs::ticks_per_second() as f64;
        let sampler = std::thread::Builder::new()
            .name("scalewall-sampler".into())
            .spawn(move || {
                yield_to_generators();
                let mut samples = Vec::new();
                let mut next = started + interval;
                let mut previous: Option<(f64, Instant)> = None;
                let mut read_at: Option<Instant> = None;
                while !stop_flag.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if now < next {
                        std::thread::sleep((next - now).min(Duration::from_millis(50)));
                        continue;
                    }
                    next += interval;
                    let Ok((host_cpu_busy_pct, host_mem_used_bytes)) = host.sample() else {
                        continue;
                    };
                    // Reading a set scans /proc: at most once a second.
                    let due = read_at.is_none_or(|at| now.duration_since(at) >= RESOLVE_EVERY);
                    let reading = sampled
                        .as_ref()
                        .filter(|_| due)
                        .and_then(|s| target::read(s, me, true).ok());
                    if reading.is_some() {
                        read_at = Some(now);
                    }
                    let (cpu_pct, rss) = match &reading {
                        Some(r) => {
                            let cpu = r.cpu_s(ticks_per_s);
                            let at = Instant::now();
                            let pct = previous.map(|(cpu0, at0)| {
                                100.0 * (cpu - cpu0).max(0.0)
                                    / at.duration_since(at0).as_secs_f64().max(1e-9)
                            });
                            previous = Some((cpu, at));
                            (pct, Some(r.rss_bytes()))
                        }
                        None => (None, None),
                    };
                    samples.push(ResourceSample {
                        offset_s: started.elapsed().as_secs_f64(),
                        host_cpu_busy_pct,
                        host_mem_used_bytes,
                        target_cpu_pct: cpu_pct,
                        target_rss_bytes: rss,
                    });
                }
                samples
            })
            .map_err(|e| ProbeError::proc("the sampler thread", e))?;
        let (host_busy, host_total) = host_ticks()?;
        Ok(StepMeter {
            started,
            started_at,
            host_busy,
            host_total,
            own_ticks: own_ticks(),
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
        let generator_cpu_s = self
            .own_ticks
            .zip(own_ticks())
            .map(|(then, now)| now.saturating_sub(then) as f64 / ticks_per_s);
        let mut target_note = None;
        let me = std::process::id() as i32;
        let target = match &self.target {
            Some((selector, start)) => match target::read(selector, me, false) {
                Ok(end) => Some(target::cost(selector, start, &end, ticks_per_s)),
                Err(_) => {
                    target_note = Some(format!(
                        "the target's processes ({selector}) exited during the step"
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
            started_at: Some(humantime::format_rfc3339_millis(self.started_at).to_string()),
            host_cpu_s: busy as f64 / ticks_per_s,
            host_cpu_busy_pct: crate::percent(busy as f64, total as f64),
            target,
            target_note,
            samples,
            listen_queue: None,
            generator_cpu_s,
            commands: None,
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

    /// The sampler never holds a generator thread off its core: it runs
    /// under `SCHED_IDLE` (policy 5), the generator threads as they were.
    #[test]
    fn the_sampler_thread_runs_only_on_time_the_generators_leave() {
        let meter = StepMeter::start(None, Duration::from_millis(50)).unwrap();
        let policy_of = |name: &str| -> Option<i32> {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .flatten()
                .find(|task| {
                    std::fs::read_to_string(task.path().join("comm"))
                        .is_ok_and(|comm| comm.trim() == name)
                })
                .and_then(|task| task.file_name().to_str()?.parse::<i32>().ok())
                // SAFETY: reads the policy of a thread of this process.
                .map(|tid| unsafe { libc::sched_getscheduler(tid) })
        };
        // The sampler sets its policy as it starts; give it that moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut policy = None;
        while Instant::now() < deadline {
            policy = policy_of("scalewall-sampl");
            if policy == Some(libc::SCHED_IDLE) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let resources = meter.finish().unwrap();
        assert_eq!(policy, Some(libc::SCHED_IDLE), "the sampler's policy");
        // SAFETY: reads the policy of the calling thread.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
        assert!(resources.host_cpu_busy_pct >= 0.0);
    }

    #[test]
    fn a_busy_child_costs_about_one_cpu_second_per_second() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let selector = TargetSelector::Processes {
            roots: crate::process::ProcessSelector::Pid(child.id() as i32),
            tree: true,
        };
        let meter = StepMeter::start(Some(&selector), Duration::from_millis(200)).unwrap();
        std::thread::sleep(Duration::from_millis(2300));
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
            (9..=12).contains(&resources.samples.len()),
            "{} samples",
            resources.samples.len()
        );
        // The set is read at most once a second: the target's rate needs two.
        let rated = resources
            .samples
            .iter()
            .filter(|s| s.target_cpu_pct.is_some())
            .count();
        assert!(rated >= 1, "{:?}", resources.samples);
        // A core of the host's is busy throughout: each sample's host share
        // is at least that core's (all of it, on a one-core host).
        let cores = procfs::KernelStats::current().unwrap().cpu_time.len() as f64;
        for sample in &resources.samples {
            assert!(
                sample.host_cpu_busy_pct >= 90.0 / cores,
                "host busy {}% with {cores} cores",
                sample.host_cpu_busy_pct
            );
        }
        // The generator (this process) idled; the busy child is the target.
        let split = resources.cpu_split().unwrap();
        assert!(split.generator_s < 0.3 * split.target_s, "{split:?}");
    }
}
