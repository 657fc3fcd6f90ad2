//! The host probe: CPU (overall and per core), load average, memory and
//! swap, processes by state, uptime, disk usage of chosen paths, network
//! bytes/s per interface and open file handles, from Linux `/proc`.

use crate::{percent, Probe, ProbeError};
use procfs::prelude::*;
use procfs::{CpuTime, KernelStats};
pub use scalewall_model::health::{DiskUsage, HostReading, NetworkRate, ProcessCounts};
use std::collections::BTreeMap;
use std::time::Instant;

/// Busy and total ticks of a CPU time record (idle and iowait count as idle).
pub fn busy_and_total(t: &CpuTime) -> (u64, u64) {
    let idle = t.idle + t.iowait.unwrap_or(0);
    let busy = t.user
        + t.nice
        + t.system
        + t.irq.unwrap_or(0)
        + t.softirq.unwrap_or(0)
        + t.steal.unwrap_or(0);
    (busy, busy + idle)
}

/// Busy share between two CPU time records, 0–100.
pub fn busy_pct(before: &CpuTime, after: &CpuTime) -> f64 {
    let (b0, t0) = busy_and_total(before);
    let (b1, t1) = busy_and_total(after);
    percent(b1.saturating_sub(b0) as f64, t1.saturating_sub(t0) as f64)
}

/// Memory available to new work (MemAvailable, or free + cached on an
/// old kernel) and the rest of the total, in use, in bytes.
pub fn available_and_used(mem: &procfs::Meminfo) -> (u64, u64) {
    let available = mem.mem_available.unwrap_or(mem.mem_free + mem.cached);
    (available, mem.mem_total.saturating_sub(available))
}

/// Samples the host; keeps counters to report rates between samples.
pub struct HostProbe {
    disk_paths: Vec<String>,
    cpu: KernelStats,
    net: BTreeMap<String, (u64, u64)>,
    at: Instant,
}

fn network_totals() -> Result<BTreeMap<String, (u64, u64)>, ProbeError> {
    let dev = procfs::net::dev_status().map_err(|e| ProbeError::proc("/proc/net/dev", e))?;
    Ok(dev
        .into_iter()
        .map(|(name, s)| (name, (s.recv_bytes, s.sent_bytes)))
        .collect())
}

/// Disk usage of the filesystem holding `path` (statvfs).
pub fn disk_usage(path: &str) -> Result<DiskUsage, ProbeError> {
    let c_path = std::ffi::CString::new(path).map_err(|e| ProbeError::Disk {
        path: path.to_string(),
        reason: e.to_string(),
    })?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: statvfs writes into the valid pointer for a NUL-terminated path.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(ProbeError::Disk {
            path: path.to_string(),
            reason: std::io::Error::last_os_error().to_string(),
        });
    }
    // SAFETY: statvfs succeeded, so the struct is initialised.
    let stat = unsafe { stat.assume_init() };
    // statvfs field widths differ between platforms (u32 on some): widen all.
    #[allow(clippy::unnecessary_cast)]
    let (fragment, blocks, free_blocks, available_blocks) = (
        stat.f_frsize as u64,
        stat.f_blocks as u64,
        stat.f_bfree as u64,
        stat.f_bavail as u64,
    );
    let total = blocks * fragment;
    let free = free_blocks * fragment;
    let available = available_blocks * fragment;
    let used = total.saturating_sub(free);
    Ok(DiskUsage {
        path: path.to_string(),
        total_bytes: total,
        used_bytes: used,
        available_bytes: available,
        used_pct: percent(used as f64, (used + available) as f64),
    })
}

/// Counts every process in /proc by state.
pub fn process_counts() -> Result<ProcessCounts, ProbeError> {
    let mut counts = ProcessCounts::default();
    let all = procfs::process::all_processes().map_err(|e| ProbeError::proc("/proc", e))?;
    for process in all.flatten() {
        // A process may exit between listing and reading: skip it.
        if let Ok(stat) = process.stat() {
            counts.add_state(stat.state);
        }
    }
    Ok(counts)
}

impl HostProbe {
    /// A probe reporting disk usage for `disk_paths`; rates start now.
    pub fn new(disk_paths: Vec<String>) -> Result<Self, ProbeError> {
        Ok(HostProbe {
            disk_paths,
            cpu: KernelStats::current().map_err(|e| ProbeError::proc("/proc/stat", e))?,
            net: network_totals()?,
            at: Instant::now(),
        })
    }
}

impl Probe for HostProbe {
    type Reading = HostReading;

    fn sample(&mut self) -> Result<HostReading, ProbeError> {
        let cpu = KernelStats::current().map_err(|e| ProbeError::proc("/proc/stat", e))?;
        let net = network_totals()?;
        let now = Instant::now();
        let elapsed = now.duration_since(self.at).as_secs_f64();
        let per_core = self
            .cpu
            .cpu_time
            .iter()
            .zip(&cpu.cpu_time)
            .map(|(before, after)| busy_pct(before, after))
            .collect();
        let network = net
            .iter()
            .map(|(name, &(rx, tx))| {
                let (rx0, tx0) = self.net.get(name).copied().unwrap_or((rx, tx));
                let rate = |now: u64, before: u64| {
                    if elapsed > 0.0 {
                        now.saturating_sub(before) as f64 / elapsed
                    } else {
                        0.0
                    }
                };
                NetworkRate {
                    interface: name.clone(),
                    rx_bytes_per_s: rate(rx, rx0),
                    tx_bytes_per_s: rate(tx, tx0),
                }
            })
            .collect();
        let mem = procfs::Meminfo::current().map_err(|e| ProbeError::proc("/proc/meminfo", e))?;
        let (available, used) = available_and_used(&mem);
        let load =
            procfs::LoadAverage::current().map_err(|e| ProbeError::proc("/proc/loadavg", e))?;
        let uptime = procfs::Uptime::current().map_err(|e| ProbeError::proc("/proc/uptime", e))?;
        let open_files = std::fs::read_to_string("/proc/sys/fs/file-nr")
            .ok()
            .and_then(|text| text.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0);
        let disks = self
            .disk_paths
            .iter()
            .map(|p| disk_usage(p))
            .collect::<Result<Vec<_>, _>>()?;
        let reading = HostReading {
            cpu_busy_pct: busy_pct(&self.cpu.total, &cpu.total),
            cpu_busy_pct_per_core: per_core,
            load_average: [
                f64::from(load.one),
                f64::from(load.five),
                f64::from(load.fifteen),
            ],
            mem_total_bytes: mem.mem_total,
            mem_used_bytes: used,
            mem_available_bytes: available,
            mem_used_pct: percent(used as f64, mem.mem_total as f64),
            swap_total_bytes: mem.swap_total,
            swap_used_bytes: mem.swap_total.saturating_sub(mem.swap_free),
            processes: process_counts()?,
            uptime_s: uptime.uptime,
            disks,
            network,
            open_files,
        };
        self.cpu = cpu;
        self.net = net;
        self.at = now;
        Ok(reading)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(user: u64, system: u64, idle: u64, iowait: u64) -> CpuTime {
        let line = format!("cpu {user} 0 {system} {idle} {iowait} 0 0 0 0 0");
        let text = format!("{line}\nctxt 1\nbtime 1\nprocesses 1\n");
        let stats = KernelStats::from_read(text.as_bytes(), procfs::current_system_info()).unwrap();
        stats.total
    }

    #[test]
    fn busy_share_counts_iowait_as_idle() {
        let before = cpu(100, 50, 800, 50);
        let after = cpu(160, 70, 880, 90); // busy +80, idle +80+40
        assert!((busy_pct(&before, &after) - 40.0).abs() < 1e-9);
        assert_eq!(busy_pct(&before, &before), 0.0);
    }

    #[test]
    fn process_states_are_counted_like_top() {
        let mut counts = ProcessCounts::default();
        for state in ['R', 'S', 'S', 'D', 'I', 'Z', 'T'] {
            counts.add_state(state);
        }
        assert_eq!(
            counts,
            ProcessCounts {
                total: 7,
                running: 1,
                sleeping: 4,
                stopped: 1,
                zombie: 1
            }
        );
    }

    #[test]
    fn disk_usage_of_a_missing_path_is_an_error_naming_it() {
        let err = disk_usage("/no/such/path").unwrap_err().to_string();
        assert!(err.contains("/no/such/path"), "{err}");
    }
}
