//! The target of a load step as a set of processes, and what the set used.
//!
//! A prefork server (nginx, PostgreSQL, gunicorn, php-fpm) does its work in
//! workers and children, not in the process that opened the port; a server
//! in a container is a cgroup. A target is therefore chosen as a set:
//!
//! - by TCP port: every process holding the listening socket, plus all
//!   their descendants;
//! - by pid or name: those processes, plus their descendants unless
//!   `tree` is off;
//! - by cgroup (v2): every process in it, with CPU read from the cgroup's
//!   own `cpu.stat` (exact, exited members included).
//!
//! For process sets the CPU of the set is `Σ (utime + stime + cutime +
//! cstime)` over the members alive at a reading: a member's time moves
//! into its parent's reaped-children time when it exits and is waited for,
//! so the sum stays a cumulative counter while the reaper is a member, and
//! the difference of two readings is the set's CPU between them, children
//! born and reaped in between included. Members that exit with a parent
//! outside the set are lost to it, and the cost says so.
//!
//! Memory is the sum of the members' proportional set size
//! (`/proc/PID/smaps_rollup`: shared pages divided among their sharers),
//! falling back to RSS, and saying so, where PSS cannot be read.

use crate::process::ProcessSelector;
use crate::ProbeError;
use procfs::process::Process;
use scalewall_model::{ProcessCost, TargetMember};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// How a target's processes are chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSelector {
    /// Processes (port, pid or name), with their descendants when `tree`.
    Processes {
        /// Which processes are the roots of the set.
        roots: ProcessSelector,
        /// Whether their descendants belong to the set.
        tree: bool,
    },
    /// A cgroup v2 path, relative to the cgroup2 mount
    /// (`system.slice/postgresql.service`).
    Cgroup(String),
    /// A container by name or id: its cgroup, found from the id that
    /// `docker inspect` (or `podman inspect`) gives.
    Container(String),
}

impl std::fmt::Display for TargetSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetSelector::Processes {
                roots: ProcessSelector::Port(port),
                tree: true,
            } => write!(f, "TCP port {port}: listeners and their descendants"),
            TargetSelector::Processes { roots, tree: true } => {
                write!(f, "{roots} and descendants")
            }
            TargetSelector::Processes { roots, tree: false } => write!(f, "{roots} only"),
            TargetSelector::Cgroup(path) => write!(f, "cgroup {path}"),
            TargetSelector::Container(name) => write!(f, "container {name}"),
        }
    }
}

impl std::str::FromStr for TargetSelector {
    type Err = String;

    /// `port:N`, `pid:N`, `name:NAME` or `cgroup:PATH`; a `!` after the
    /// kind (`pid!:N`) leaves the descendants out.
    fn from_str(text: &str) -> Result<Self, String> {
        let (kind, value) = text.split_once(':').ok_or_else(|| {
            format!("'{text}': expected port:N, pid:N, name:NAME, cgroup:PATH or container:NAME")
        })?;
        let (kind, tree) = match kind.strip_suffix('!') {
            Some(kind) => (kind, false),
            None => (kind, true),
        };
        let number = |what: &str| format!("'{text}': {what} must be a number");
        let roots = match kind {
            "port" => ProcessSelector::Port(value.parse().map_err(|_| number("the port"))?),
            "pid" => ProcessSelector::Pid(value.parse().map_err(|_| number("the pid"))?),
            "name" if !value.is_empty() => ProcessSelector::Name(value.to_string()),
            "cgroup" if !value.is_empty() => {
                return Ok(TargetSelector::Cgroup(value.trim_matches('/').to_string()))
            }
            "container" if !value.is_empty() => {
                return Ok(TargetSelector::Container(value.to_string()))
            }
            _ => {
                return Err(format!(
                    "'{text}': expected port:N, pid:N, name:NAME, cgroup:PATH or container:NAME"
                ))
            }
        };
        Ok(TargetSelector::Processes { roots, tree })
    }
}

/// One process's cumulative counters.
#[derive(Debug, Clone, PartialEq)]
struct Counters {
    pid: i32,
    ppid: i32,
    name: String,
    role: &'static str,
    /// utime, stime, cutime, cstime in clock ticks.
    user_ticks: u64,
    system_ticks: u64,
    children_user_ticks: u64,
    children_system_ticks: u64,
    rss_bytes: u64,
    pss_bytes: Option<u64>,
    threads: u64,
    open_fds: u64,
    read_bytes: Option<u64>,
    write_bytes: Option<u64>,
    voluntary: u64,
    involuntary: u64,
}

/// A cgroup's own counters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CgroupCounters {
    usage_usec: u64,
    user_usec: u64,
    system_usec: u64,
    memory_bytes: Option<u64>,
    read_bytes: Option<u64>,
    write_bytes: Option<u64>,
    cores: Option<f64>,
}

/// One reading of a target set.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetReading {
    members: Vec<Counters>,
    cgroup: Option<CgroupCounters>,
    cores: Option<f64>,
}

impl TargetReading {
    /// The members' pids.
    pub fn pids(&self) -> Vec<i32> {
        self.members.iter().map(|m| m.pid).collect()
    }

    /// CPU ticks of the set so far (process sets; see the module docs).
    fn set_ticks(&self) -> u64 {
        self.members
            .iter()
            .map(|m| {
                m.user_ticks + m.system_ticks + m.children_user_ticks + m.children_system_ticks
            })
            .sum()
    }

    /// The set's resident memory now (RSS sum: cheap, for samples).
    pub fn rss_bytes(&self) -> u64 {
        self.members.iter().map(|m| m.rss_bytes).sum()
    }

    /// The set's CPU so far in seconds, for rates between samples.
    pub fn cpu_s(&self, ticks_per_s: f64) -> f64 {
        match &self.cgroup {
            Some(c) => c.usage_usec as f64 / 1e6,
            None => self.set_ticks() as f64 / ticks_per_s,
        }
    }

    /// Memory of the set and what it sums.
    fn memory(&self) -> (u64, &'static str) {
        if let Some(bytes) = self.cgroup.and_then(|c| c.memory_bytes) {
            return (bytes, "cgroup");
        }
        if self.members.iter().all(|m| m.pss_bytes.is_some()) {
            (self.members.iter().filter_map(|m| m.pss_bytes).sum(), "pss")
        } else {
            (self.rss_bytes(), "rss")
        }
    }
}

/// A process table: pid → (ppid, comm).
fn process_table() -> Result<BTreeMap<i32, (i32, String)>, ProbeError> {
    let mut table = BTreeMap::new();
    for process in procfs::process::all_processes()
        .map_err(|e| ProbeError::proc("/proc", e))?
        .flatten()
    {
        if let Ok(stat) = process.stat() {
            table.insert(process.pid, (stat.ppid, stat.comm));
        }
    }
    Ok(table)
}

/// The pids holding a socket listening on `port` (none: an empty set).
fn listeners(port: u16) -> Result<HashSet<i32>, ProbeError> {
    match crate::process::resolve(&ProcessSelector::Port(port)) {
        Ok(pids) => Ok(pids.into_iter().collect()),
        Err(ProbeError::NoProcess(_)) => Ok(HashSet::new()),
        Err(e) => Err(e),
    }
}

/// The members of a process set with their roles (pure over the table).
fn members_of(
    table: &BTreeMap<i32, (i32, String)>,
    roots: &BTreeSet<i32>,
    holders: &HashSet<i32>,
    tree: bool,
    by_port: bool,
) -> Vec<(i32, &'static str)> {
    let mut set: BTreeSet<i32> = roots.clone();
    if tree {
        // Descendants: repeat until no process joins (the table is small).
        loop {
            let before = set.len();
            for (pid, (ppid, _)) in table {
                if set.contains(ppid) {
                    set.insert(*pid);
                }
            }
            if set.len() == before {
                break;
            }
        }
    }
    set.into_iter()
        .map(|pid| {
            let parent_inside = table
                .get(&pid)
                .is_some_and(|(ppid, _)| roots.contains(ppid) || holders.contains(ppid));
            let role = match (by_port, holders.contains(&pid), parent_inside) {
                (true, true, false) => "listener",
                (true, true, true) => "worker",
                (_, false, _) if !roots.contains(&pid) => "child",
                _ => "member",
            };
            (pid, role)
        })
        .collect()
}

/// The cgroup2 mount point, from /proc/self/mountinfo.
fn cgroup2_mount() -> Result<PathBuf, ProbeError> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| ProbeError::proc("/proc/self/mountinfo", e))?;
    text.lines()
        .find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            (right.split_whitespace().next() == Some("cgroup2"))
                .then(|| left.split_whitespace().nth(4).map(PathBuf::from))
                .flatten()
        })
        .ok_or_else(|| ProbeError::NoProcess("a cgroup v2 hierarchy (none is mounted)".into()))
}

/// The cgroup (relative to the cgroup2 mount) whose last path element
/// names the container id: `system.slice/docker-<id>.scope` (systemd
/// driver), `docker/<id>` (cgroupfs driver), `…/libpod-<id>.scope`
/// (podman). Pure over the list of cgroup paths.
pub fn container_cgroup<'a>(paths: &'a [String], id: &str) -> Option<&'a str> {
    paths
        .iter()
        .filter(|p| {
            let last = p.rsplit('/').next().unwrap_or(p);
            last == id || last.contains(&format!("-{id}.scope"))
        })
        .min_by_key(|p| p.len())
        .map(String::as_str)
}

/// A container's full id, from `docker inspect` or `podman inspect`.
fn container_id(name: &str) -> Result<String, ProbeError> {
    for tool in ["docker", "podman"] {
        let out = std::process::Command::new(tool)
            .args(["inspect", "--format", "{{.Id}}", name])
            .output();
        if let Ok(out) = out {
            let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !id.is_empty() {
                return Ok(id);
            }
        }
    }
    Err(ProbeError::NoProcess(format!(
        "container {name} (neither docker nor podman knows it)"
    )))
}

/// The cgroup of a container by name or id.
pub fn cgroup_of_container(name: &str) -> Result<String, ProbeError> {
    let id = container_id(name)?;
    let mount = cgroup2_mount()?;
    let mut paths = Vec::new();
    let mut stack = vec![mount.clone()];
    // A bounded walk of the cgroup tree (directories only).
    while let Some(dir) = stack.pop() {
        if paths.len() > 100_000 {
            break;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                let path = entry.path();
                if let Ok(relative) = path.strip_prefix(&mount) {
                    paths.push(relative.display().to_string());
                }
                stack.push(path);
            }
        }
    }
    container_cgroup(&paths, &id)
        .map(str::to_string)
        .ok_or_else(|| ProbeError::NoProcess(format!("the cgroup of container {name} ({id})")))
}

/// The directory of a cgroup v2 path.
pub fn cgroup_dir(path: &str) -> Result<PathBuf, ProbeError> {
    let dir = cgroup2_mount()?.join(path.trim_matches('/'));
    if !dir.join("cgroup.procs").exists() {
        return Err(ProbeError::NoProcess(format!(
            "cgroup {path} ({} does not exist)",
            dir.display()
        )));
    }
    Ok(dir)
}

fn read_keyed(path: &Path) -> BTreeMap<String, u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(char::is_whitespace)?;
            Some((key.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// `rbytes`/`wbytes` summed over the devices of an `io.stat` text (pure).
pub fn parse_io_stat(text: &str) -> (u64, u64) {
    let mut totals = (0, 0);
    for field in text.split_whitespace() {
        if let Some(v) = field.strip_prefix("rbytes=") {
            totals.0 += v.parse().unwrap_or(0);
        } else if let Some(v) = field.strip_prefix("wbytes=") {
            totals.1 += v.parse().unwrap_or(0);
        }
    }
    totals
}

/// Cores a `cpu.max` text allows ("max 100000" → none; "200000 100000" → 2).
pub fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut fields = text.split_whitespace();
    let quota: f64 = fields.next()?.parse().ok()?;
    let period: f64 = fields.next()?.parse().ok()?;
    (period > 0.0).then(|| quota / period)
}

fn cgroup_counters(dir: &Path) -> CgroupCounters {
    let cpu = read_keyed(&dir.join("cpu.stat"));
    let io = std::fs::read_to_string(dir.join("io.stat"))
        .ok()
        .map(|t| parse_io_stat(&t));
    CgroupCounters {
        usage_usec: cpu.get("usage_usec").copied().unwrap_or(0),
        user_usec: cpu.get("user_usec").copied().unwrap_or(0),
        system_usec: cpu.get("system_usec").copied().unwrap_or(0),
        memory_bytes: std::fs::read_to_string(dir.join("memory.current"))
            .ok()
            .and_then(|t| t.trim().parse().ok()),
        read_bytes: io.map(|(r, _)| r),
        write_bytes: io.map(|(_, w)| w),
        cores: std::fs::read_to_string(dir.join("cpu.max"))
            .ok()
            .and_then(|t| parse_cpu_max(&t)),
    }
}

/// The `Pss:` line of a `smaps_rollup` text, in bytes (pure).
pub fn parse_pss(smaps_rollup: &str) -> Option<u64> {
    smaps_rollup.lines().find_map(|line| {
        let kb: u64 = line
            .strip_prefix("Pss:")?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    })
}

fn counters(pid: i32, role: &'static str, page_bytes: u64) -> Option<Counters> {
    let process = Process::new(pid).ok()?;
    let stat = process.stat().ok()?;
    let status = process.status().ok();
    let io = process.io().ok();
    let pss_bytes = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|t| parse_pss(&t));
    Some(Counters {
        pid,
        ppid: stat.ppid,
        name: stat.comm.clone(),
        role,
        user_ticks: stat.utime,
        system_ticks: stat.stime,
        children_user_ticks: stat.cutime.max(0) as u64,
        children_system_ticks: stat.cstime.max(0) as u64,
        rss_bytes: stat.rss * page_bytes,
        pss_bytes,
        threads: stat.num_threads.max(0) as u64,
        open_fds: process.fd_count().map_or(0, |n| n as u64),
        read_bytes: io.as_ref().map(|io| io.read_bytes),
        write_bytes: io.as_ref().map(|io| io.write_bytes),
        voluntary: status
            .as_ref()
            .and_then(|s| s.voluntary_ctxt_switches)
            .unwrap_or(0),
        involuntary: status
            .as_ref()
            .and_then(|s| s.nonvoluntary_ctxt_switches)
            .unwrap_or(0),
    })
}

/// The cores a process may run on (its CPU affinity).
fn affinity_cores(pid: i32) -> Option<f64> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the kernel fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer and size describe `set`, which outlives the call.
    let rc = unsafe { libc::sched_getaffinity(pid, std::mem::size_of_val(&set), &mut set) };
    // SAFETY: `set` was filled by the kernel above.
    (rc == 0).then(|| unsafe { libc::CPU_COUNT(&set) } as f64)
}

/// Members with their roles, and a cgroup's own counters when the set is one.
type Members = (Vec<(i32, &'static str)>, Option<CgroupCounters>);

/// The members of a cgroup and its counters.
fn cgroup_members(path: &str) -> Result<Members, ProbeError> {
    let dir = cgroup_dir(path)?;
    let procs = std::fs::read_to_string(dir.join("cgroup.procs"))
        .map_err(|e| ProbeError::proc(dir.join("cgroup.procs").display().to_string(), e))?;
    let pids = procs
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .map(|pid| (pid, "member"))
        .collect();
    Ok((pids, Some(cgroup_counters(&dir))))
}

/// Reads the set now: resolves its members (leaving out `exclude`, this
/// scalewall process) and their counters. `light` skips the costly reads
/// (PSS, io, fds) for time-series samples.
pub fn read(
    selector: &TargetSelector,
    exclude: i32,
    light: bool,
) -> Result<TargetReading, ProbeError> {
    let page_bytes = procfs::page_size();
    let (pids, cgroup): Members = match selector {
        TargetSelector::Cgroup(path) => cgroup_members(path)?,
        TargetSelector::Container(name) => cgroup_members(&cgroup_of_container(name)?)?,
        TargetSelector::Processes { roots, tree } => {
            let table = process_table()?;
            let (root_pids, holders): (BTreeSet<i32>, HashSet<i32>) = match roots {
                ProcessSelector::Port(port) => {
                    let holders = listeners(*port)?;
                    // The roots are the holders whose parent does not hold it.
                    let roots = holders
                        .iter()
                        .copied()
                        .filter(|pid| {
                            table
                                .get(pid)
                                .is_none_or(|(ppid, _)| !holders.contains(ppid))
                        })
                        .collect();
                    (roots, holders)
                }
                other => (
                    crate::process::resolve(other)?.into_iter().collect(),
                    HashSet::new(),
                ),
            };
            let by_port = matches!(roots, ProcessSelector::Port(_));
            let mut members = members_of(&table, &root_pids, &holders, *tree, by_port);
            members.retain(|(pid, _)| *pid != exclude);
            (members, None)
        }
    };
    let members: Vec<Counters> = pids
        .into_iter()
        .filter(|(pid, _)| *pid != exclude)
        .filter_map(|(pid, role)| {
            let mut c = counters(pid, role, page_bytes)?;
            if light {
                c.pss_bytes = None;
            }
            Some(c)
        })
        .collect();
    if members.is_empty() && cgroup.is_none() {
        return Err(ProbeError::NoProcess(selector.to_string()));
    }
    let cores = cgroup
        .and_then(|c| c.cores)
        .or_else(|| members.first().and_then(|m| affinity_cores(m.pid)));
    Ok(TargetReading {
        members,
        cgroup,
        cores,
    })
}

/// What the set used between two readings (pure).
pub fn cost(
    selector: &TargetSelector,
    start: &TargetReading,
    end: &TargetReading,
    ticks_per_s: f64,
) -> ProcessCost {
    let before: BTreeMap<i32, &Counters> = start.members.iter().map(|m| (m.pid, m)).collect();
    let after: BTreeMap<i32, &Counters> = end.members.iter().map(|m| (m.pid, m)).collect();
    let exited: Vec<&Counters> = start
        .members
        .iter()
        .filter(|m| !after.contains_key(&m.pid))
        .collect();
    let joined = end
        .members
        .iter()
        .filter(|m| !before.contains_key(&m.pid))
        .count() as u64;
    let mut notes = Vec::new();
    let (cpu_user_s, cpu_system_s) = match (&start.cgroup, &end.cgroup) {
        (Some(a), Some(b)) => (
            b.user_usec.saturating_sub(a.user_usec) as f64 / 1e6,
            b.system_usec.saturating_sub(a.system_usec) as f64 / 1e6,
        ),
        _ => {
            let user = |r: &TargetReading| -> u64 {
                r.members
                    .iter()
                    .map(|m| m.user_ticks + m.children_user_ticks)
                    .sum()
            };
            let system = |r: &TargetReading| -> u64 {
                r.members
                    .iter()
                    .map(|m| m.system_ticks + m.children_system_ticks)
                    .sum()
            };
            let orphaned = exited
                .iter()
                .filter(|m| !after.contains_key(&m.ppid))
                .count();
            if orphaned > 0 {
                notes.push(format!(
                    "{orphaned} member(s) exited during the step and their parent is not in the set: their CPU is not counted"
                ));
            }
            (
                user(end).saturating_sub(user(start)) as f64 / ticks_per_s,
                system(end).saturating_sub(system(start)) as f64 / ticks_per_s,
            )
        }
    };
    let cpu_s = match (&start.cgroup, &end.cgroup) {
        (Some(a), Some(b)) => b.usage_usec.saturating_sub(a.usage_usec) as f64 / 1e6,
        _ => cpu_user_s + cpu_system_s,
    };
    let (memory_start, _) = start.memory();
    let (memory_end, memory) = end.memory();
    if memory == "rss" {
        notes.push(
            "memory is the sum of RSS (PSS unreadable): pages shared between members are counted once per member".into(),
        );
    }
    let moved = |f: fn(&Counters) -> Option<u64>| -> Option<u64> {
        // Over the members present at both readings (counters of an exited
        // process are gone with it).
        let mut total = 0;
        for m in &end.members {
            let now = f(m)?;
            let then = before.get(&m.pid).map_or(Some(0), |b| f(b))?;
            total += now.saturating_sub(then);
        }
        Some(total)
    };
    let (disk_read_bytes, disk_write_bytes) = match (&start.cgroup, &end.cgroup) {
        (Some(a), Some(b)) if a.read_bytes.is_some() => (
            b.read_bytes
                .zip(a.read_bytes)
                .map(|(b, a)| b.saturating_sub(a)),
            b.write_bytes
                .zip(a.write_bytes)
                .map(|(b, a)| b.saturating_sub(a)),
        ),
        _ => (moved(|m| m.read_bytes), moved(|m| m.write_bytes)),
    };
    let switches = |f: fn(&Counters) -> u64| -> u64 {
        end.members
            .iter()
            .map(|m| f(m).saturating_sub(before.get(&m.pid).map_or(0, |b| f(b))))
            .sum()
    };
    let first = end.members.first().or(start.members.first());
    ProcessCost {
        pid: first.map_or(0, |m| m.pid),
        name: first.map_or_else(String::new, |m| m.name.clone()),
        cpu_s,
        rss_start_bytes: memory_start,
        rss_end_bytes: memory_end,
        selection: selector.to_string(),
        cpu_user_s,
        cpu_system_s,
        memory: memory.to_string(),
        threads: end.members.iter().map(|m| m.threads).sum(),
        open_fds: end.members.iter().map(|m| m.open_fds).sum(),
        disk_read_bytes,
        disk_write_bytes,
        voluntary_switches: switches(|m| m.voluntary),
        involuntary_switches: switches(|m| m.involuntary),
        cores: end.cores.or(start.cores),
        members: end
            .members
            .iter()
            .map(|m| TargetMember {
                pid: m.pid,
                name: m.name.clone(),
                role: m.role.to_string(),
            })
            .collect(),
        joined,
        exited: exited.len() as u64,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[(i32, i32, &str)]) -> BTreeMap<i32, (i32, String)> {
        rows.iter()
            .map(|&(pid, ppid, name)| (pid, (ppid, name.to_string())))
            .collect()
    }

    #[test]
    fn a_port_selects_listeners_workers_and_their_children() {
        // nginx: master 10 and workers 11, 12 hold the socket; 12 forked 13.
        let t = table(&[
            (1, 0, "init"),
            (10, 1, "nginx"),
            (11, 10, "nginx"),
            (12, 10, "nginx"),
            (13, 12, "helper"),
            (20, 1, "other"),
        ]);
        let holders: HashSet<i32> = [10, 11, 12].into();
        let roots: BTreeSet<i32> = [10].into();
        let members = members_of(&t, &roots, &holders, true, true);
        assert_eq!(
            members,
            vec![
                (10, "listener"),
                (11, "worker"),
                (12, "worker"),
                (13, "child")
            ]
        );
        assert_eq!(
            members_of(&t, &roots, &holders, false, true),
            vec![(10, "listener")]
        );
    }

    fn member(pid: i32, ppid: i32, ticks: [u64; 4]) -> Counters {
        Counters {
            pid,
            ppid,
            name: "srv".into(),
            role: "member",
            user_ticks: ticks[0],
            system_ticks: ticks[1],
            children_user_ticks: ticks[2],
            children_system_ticks: ticks[3],
            rss_bytes: 100,
            pss_bytes: Some(40),
            threads: 1,
            open_fds: 3,
            read_bytes: Some(0),
            write_bytes: Some(0),
            voluntary: 0,
            involuntary: 0,
        }
    }

    fn reading(members: Vec<Counters>) -> TargetReading {
        TargetReading {
            members,
            cgroup: None,
            cores: Some(1.0),
        }
    }

    /// A child that used 30 ticks and was reaped by its parent (a member)
    /// moves into the parent's cutime: counted once. One born and reaped
    /// within the step (20 ticks) is counted through the parent too.
    #[test]
    fn exited_children_count_through_their_parent() {
        let start = reading(vec![
            member(10, 1, [100, 0, 0, 0]),
            member(11, 10, [50, 0, 0, 0]),
        ]);
        // 11 used 30 more ticks (80 in all) and exited; a short-lived child
        // used 20; the parent 5 of its own.
        let end = reading(vec![member(10, 1, [105, 0, 100, 0])]);
        let selector = TargetSelector::Processes {
            roots: ProcessSelector::Pid(10),
            tree: true,
        };
        let cost = cost(&selector, &start, &end, 100.0);
        assert!((cost.cpu_s - 0.55).abs() < 1e-9, "{}", cost.cpu_s);
        assert_eq!((cost.exited, cost.joined), (1, 0));
        assert!(cost.notes.is_empty(), "{:?}", cost.notes);
        assert_eq!((cost.rss_end_bytes, cost.memory.as_str()), (40, "pss"));
        // An exited member whose parent is outside the set is said, not hidden.
        let orphan = reading(vec![
            member(10, 1, [100, 0, 0, 0]),
            member(30, 2, [5, 0, 0, 0]),
        ]);
        let cost = super::cost(
            &selector,
            &orphan,
            &reading(vec![member(10, 1, [100, 0, 0, 0])]),
            100.0,
        );
        assert!(cost.notes[0].contains("not counted"), "{:?}", cost.notes);
    }

    #[test]
    fn selectors_parse_and_cgroup_files_read() {
        assert_eq!(
            "port:8080".parse(),
            Ok(TargetSelector::Processes {
                roots: ProcessSelector::Port(8080),
                tree: true
            })
        );
        assert_eq!(
            "pid!:42".parse(),
            Ok(TargetSelector::Processes {
                roots: ProcessSelector::Pid(42),
                tree: false
            })
        );
        assert_eq!(
            "cgroup:/system.slice/pg.service".parse(),
            Ok(TargetSelector::Cgroup("system.slice/pg.service".into()))
        );
        assert_eq!(
            "container:pg".parse(),
            Ok(TargetSelector::Container("pg".into()))
        );
        let paths: Vec<String> = [
            "system.slice",
            "system.slice/docker-abc123.scope",
            "system.slice/docker-abc123.scope/init",
            "docker/def456",
            "user.slice/libpod-789.scope",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            container_cgroup(&paths, "abc123"),
            Some("system.slice/docker-abc123.scope")
        );
        assert_eq!(container_cgroup(&paths, "def456"), Some("docker/def456"));
        assert_eq!(
            container_cgroup(&paths, "789"),
            Some("user.slice/libpod-789.scope")
        );
        assert_eq!(container_cgroup(&paths, "nope"), None);
        assert!("port:x".parse::<TargetSelector>().is_err());
        assert!("nginx".parse::<TargetSelector>().is_err());
        assert_eq!(
            parse_io_stat("8:0 rbytes=100 wbytes=20 rios=1\n8:16 rbytes=5 wbytes=1\n"),
            (105, 21)
        );
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("200000 100000\n"), Some(2.0));
        assert_eq!(
            parse_pss("Rss:  2048 kB\nPss:   1024 kB\nPss_Anon: 3 kB\n"),
            Some(1024 * 1024)
        );
    }

    #[test]
    fn this_process_is_read_as_a_one_member_set() {
        let me = std::process::id() as i32;
        let selector = TargetSelector::Processes {
            roots: ProcessSelector::Pid(me),
            tree: false,
        };
        let r = read(&selector, 0, false).unwrap();
        assert_eq!(r.pids(), vec![me]);
        assert!(r.members[0].threads >= 1 && r.cores.unwrap_or(0.0) >= 1.0);
        assert!(
            read(&selector, me, true).is_err(),
            "excluding itself leaves nothing"
        );
    }
}
