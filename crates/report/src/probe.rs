//! A system-health snapshot as text (`scalewall probe`, the report's
//! "System health").

use crate::number::{bytes, count, group, pct, sig, sig_n, time_ms, uptime};
use scalewall_model::health::{HealthStatus, Snapshot};
use std::fmt::Write as _;

/// A probe snapshot as a "System health" section.
pub fn probe_text(snapshot: &Snapshot) -> String {
    let h = &snapshot.host;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "System health (rates over {} s)",
        sig(snapshot.interval_s)
    );
    let cores: Vec<String> = h.cpu_busy_pct_per_core.iter().map(|c| pct(*c)).collect();
    let _ = writeln!(
        out,
        "  CPU          {} busy (per core: {}); load average {} / {} / {}",
        pct(h.cpu_busy_pct),
        cores.join(", "),
        sig_n(h.load_average[0], 3),
        sig_n(h.load_average[1], 3),
        sig_n(h.load_average[2], 3)
    );
    let _ = writeln!(
        out,
        "  Memory       {} used of {} ({}), {} available; swap {} used of {}",
        bytes(h.mem_used_bytes),
        bytes(h.mem_total_bytes),
        pct(h.mem_used_pct),
        bytes(h.mem_available_bytes),
        bytes(h.swap_used_bytes),
        bytes(h.swap_total_bytes)
    );
    let p = &h.processes;
    let _ = writeln!(
        out,
        "  Processes    {} total, {} running, {} sleeping, {} stopped, {} zombie",
        group(p.total),
        p.running,
        group(p.sleeping),
        p.stopped,
        p.zombie
    );
    let _ = writeln!(out, "  Uptime       {}", uptime(h.uptime_s));
    for d in &h.disks {
        let _ = writeln!(
            out,
            "  Disk {:<7} {} used of {} ({}), {} available",
            d.path,
            bytes(d.used_bytes),
            bytes(d.total_bytes),
            pct(d.used_pct),
            bytes(d.available_bytes)
        );
    }
    for n in &h.network {
        let _ = writeln!(
            out,
            "  Net {:<8} rx {}/s, tx {}/s",
            n.interface,
            bytes(n.rx_bytes_per_s as u64),
            bytes(n.tx_bytes_per_s as u64)
        );
    }
    let _ = writeln!(out, "  Open files   {}", group(h.open_files));
    if !snapshot.processes.is_empty() {
        let _ = writeln!(out, "Processes");
        for g in &snapshot.processes {
            for r in &g.readings {
                let _ = writeln!(
                    out,
                    "  {} (pid {}, {}): RSS {}, CPU {}, {}, {}, up {}",
                    r.name,
                    r.pid,
                    g.selector,
                    bytes(r.rss_bytes),
                    pct(r.cpu_pct),
                    count(r.threads.max(0) as u64, "thread", "threads"),
                    count(r.open_fds, "open fd", "open fds"),
                    uptime(r.uptime_s)
                );
            }
        }
    }
    for r in &snapshot.redis {
        let limit = match (r.maxmemory_bytes, r.used_memory_pct) {
            (0, _) | (_, None) => "no maxmemory".to_string(),
            (max, Some(used)) => format!("{} of maxmemory {}", pct(used), bytes(max)),
        };
        let _ = writeln!(
            out,
            "Redis {} (v{}): {} used ({limit}), {}, {} ops/s, {}, up {}",
            r.target,
            r.version,
            bytes(r.used_memory_bytes),
            count(r.connected_clients, "client", "clients"),
            sig(r.ops_per_s),
            count(r.keys, "key", "keys"),
            uptime(r.uptime_s as f64)
        );
    }
    for r in &snapshot.postgres {
        let rate = r.transactions_per_s.map_or("n/a".into(), sig);
        let hit = |x: Option<f64>| x.map_or("n/a".into(), pct);
        let _ = writeln!(
            out,
            "PostgreSQL {} (v{}): {} connections of {} ({}, {} active), {rate} tx/s, cache hit {} (interval {}), size {}",
            r.target,
            r.version,
            r.connections,
            r.max_connections,
            pct(r.connections_pct),
            r.active_connections,
            hit(r.cache_hit_pct),
            hit(r.cache_hit_pct_interval),
            bytes(r.database_size_bytes)
        );
    }
    for r in &snapshot.nats {
        match (&r.stats, &r.detail) {
            (Some(s), _) => {
                let rate = |x: Option<f64>| x.map_or("n/a".into(), sig);
                let js = s.jetstream.as_ref().map_or(String::new(), |j| {
                    format!(
                        "; JetStream {} streams, {} messages, {}",
                        j.streams,
                        group(j.messages),
                        bytes(j.bytes)
                    )
                });
                let _ = writeln!(
                    out,
                    "NATS {} (v{}): {} connections, {} subscriptions, in {} msg/s, out {} msg/s, {} slow consumers, RSS {}, CPU {}, up {}{js}",
                    r.target,
                    s.version,
                    s.connections,
                    s.subscriptions,
                    rate(s.in_msgs_per_s),
                    rate(s.out_msgs_per_s),
                    s.slow_consumers,
                    bytes(s.mem_bytes),
                    pct(s.cpu_pct),
                    s.uptime
                );
            }
            (None, detail) => {
                let _ = writeln!(
                    out,
                    "NATS {}: unavailable ({})",
                    r.target,
                    detail.as_deref().unwrap_or("no reason given")
                );
            }
        }
    }
    if let Some(gpu) = &snapshot.gpu {
        if gpu.available {
            if gpu.devices.is_empty() {
                let _ = writeln!(out, "GPU          NVML loaded, no devices");
            }
            for d in &gpu.devices {
                let share = |x: Option<u32>| x.map_or("n/a".into(), |v| format!("{v} %"));
                let _ = writeln!(
                    out,
                    "GPU {}        {}: memory {} of {} ({}), utilisation {}, memory bus {}, {}",
                    d.index,
                    d.name,
                    bytes(d.memory_used_bytes),
                    bytes(d.memory_total_bytes),
                    pct(d.memory_used_pct),
                    share(d.utilization_pct),
                    share(d.memory_utilization_pct),
                    d.temperature_c
                        .map_or("temperature -".into(), |t| format!("{t} °C"))
                );
            }
        } else {
            let _ = writeln!(
                out,
                "GPU          unavailable ({})",
                gpu.detail.as_deref().unwrap_or("no reason given")
            );
        }
    }
    if !snapshot.health.is_empty() {
        let _ = writeln!(out, "Health");
        for r in &snapshot.health {
            let status = match r.status {
                HealthStatus::Healthy => "healthy",
                HealthStatus::Degraded => "DEGRADED",
                HealthStatus::Down => "DOWN",
            };
            let latency = r
                .latency_ms
                .map_or(String::new(), |ms| format!(" in {}", time_ms(ms)));
            let _ = writeln!(out, "  {}: {status}{latency} ({})", r.target, r.detail);
        }
    }
    if !snapshot.custom.is_empty() {
        let _ = writeln!(out, "Custom metrics");
        for c in &snapshot.custom {
            let value = match (c.value, &c.error) {
                (Some(v), _) => {
                    let shown = match c.unit.as_str() {
                        "bytes" => bytes(v as u64),
                        "count" => crate::number::sig(v),
                        unit => format!("{} {unit}", crate::number::sig(v)),
                    };
                    match c.files {
                        Some(files) => {
                            format!(
                                "{shown} in {}",
                                crate::number::count(files, "file", "files")
                            )
                        }
                        None => shown,
                    }
                }
                (None, error) => format!(
                    "UNAVAILABLE ({})",
                    error.as_deref().unwrap_or("no reason given")
                ),
            };
            let _ = writeln!(out, "  {}: {value}   [{}]", c.name, c.source);
        }
    }
    if !snapshot.unavailable.is_empty() {
        let _ = writeln!(out, "Unavailable");
        for u in &snapshot.unavailable {
            let label = u
                .label
                .as_ref()
                .map_or(String::new(), |l| format!(" [{l}]"));
            let _ = writeln!(
                out,
                "  {} {}{label}: UNAVAILABLE ({})",
                u.kind, u.target, u.reason
            );
        }
    }
    out
}
