//! The system-health snapshot: typed readings of the host, chosen
//! processes, health checks, data stores and GPUs at one moment, as the
//! probe crate takes them and a [`crate::Run`] keeps them.
//!
//! Data only: the probes that fill these types live in `scalewall-probe`;
//! the metrics, findings and renderers read them from here, typed.

use serde::{Deserialize, Serialize};

// GPUs.
/// One GPU's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GpuDevice {
    /// NVML index.
    pub index: u32,
    /// Product name.
    pub name: String,
    /// Memory in use, bytes.
    pub memory_used_bytes: u64,
    /// Memory in all, bytes.
    pub memory_total_bytes: u64,
    /// Memory in use, 0–100.
    pub memory_used_pct: f64,
    /// Share of the last sample period in which a kernel ran, 0–100.
    pub utilization_pct: Option<u32>,
    /// Share of it in which memory was read or written, 0–100.
    pub memory_utilization_pct: Option<u32>,
    /// Die temperature, °C.
    pub temperature_c: Option<u32>,
}

/// The GPUs of the host, or why they cannot be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GpuReading {
    /// Whether NVML could be loaded and initialised.
    pub available: bool,
    /// Why not, when unavailable.
    pub detail: Option<String>,
    /// NVIDIA driver version, when available.
    pub driver_version: Option<String>,
    /// One entry per device.
    pub devices: Vec<GpuDevice>,
}

impl GpuReading {
    /// The reading of a host whose GPUs cannot be read.
    pub fn unavailable(detail: impl Into<String>) -> GpuReading {
        GpuReading {
            available: false,
            detail: Some(detail.into()),
            driver_version: None,
            devices: Vec::new(),
        }
    }
}

// Health checks.
/// Overall verdict of a health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Answered and reports itself healthy.
    Healthy,
    /// Answered, but reports a problem (or an unrecognised status).
    Degraded,
    /// Did not answer usefully: refused, timed out, or an error status.
    Down,
}

/// One health check result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HealthReading {
    /// What was checked (URL or host:port).
    pub target: String,
    /// The verdict.
    pub status: HealthStatus,
    /// Time to the answer (HTTP: full response; TCP: connect), ms.
    pub latency_ms: Option<f64>,
    /// HTTP status code, when one was received.
    pub http_status: Option<u16>,
    /// Why, in a few words (e.g. `status "degraded"`, `connection refused`).
    pub detail: String,
}

// The host.
/// One reading of the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostReading {
    /// CPU busy share since the previous sample, 0–100 (all cores).
    pub cpu_busy_pct: f64,
    /// CPU busy share per core since the previous sample, 0–100.
    pub cpu_busy_pct_per_core: Vec<f64>,
    /// Load average over 1, 5 and 15 minutes.
    pub load_average: [f64; 3],
    /// Physical memory, bytes.
    pub mem_total_bytes: u64,
    /// Memory in use (total − available), bytes.
    pub mem_used_bytes: u64,
    /// Memory available for new work without swapping, bytes.
    pub mem_available_bytes: u64,
    /// Used share of physical memory, 0–100.
    pub mem_used_pct: f64,
    /// Swap size, bytes.
    pub swap_total_bytes: u64,
    /// Swap in use, bytes.
    pub swap_used_bytes: u64,
    /// Processes by state.
    pub processes: ProcessCounts,
    /// Seconds since boot.
    pub uptime_s: f64,
    /// Disk usage of the requested paths.
    pub disks: Vec<DiskUsage>,
    /// Network throughput per interface since the previous sample.
    pub network: Vec<NetworkRate>,
    /// File handles allocated system-wide.
    pub open_files: u64,
}

/// Processes by scheduler state (as `top` counts them).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct ProcessCounts {
    /// All processes.
    pub total: u64,
    /// Running or runnable (R).
    pub running: u64,
    /// Sleeping, interruptible or not, and idle kernel threads (S, D, I).
    pub sleeping: u64,
    /// Stopped or traced (T, t).
    pub stopped: u64,
    /// Zombies (Z).
    pub zombie: u64,
}

impl ProcessCounts {
    /// Counts one process by its state letter.
    pub fn add_state(&mut self, state: char) {
        self.total += 1;
        match state {
            'R' => self.running += 1,
            'S' | 'D' | 'I' => self.sleeping += 1,
            'T' | 't' => self.stopped += 1,
            'Z' => self.zombie += 1,
            _ => {}
        }
    }
}

/// Space on the filesystem holding a path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DiskUsage {
    /// The path asked about.
    pub path: String,
    /// Filesystem size, bytes.
    pub total_bytes: u64,
    /// Used, bytes.
    pub used_bytes: u64,
    /// Available to unprivileged users, bytes.
    pub available_bytes: u64,
    /// Used share as `df` reports it: used / (used + available), 0–100.
    pub used_pct: f64,
}

/// Bytes per second through one interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NetworkRate {
    /// Interface name.
    pub interface: String,
    /// Received bytes per second.
    pub rx_bytes_per_s: f64,
    /// Sent bytes per second.
    pub tx_bytes_per_s: f64,
}

// NATS.
/// JetStream totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JetStreamReading {
    /// Streams.
    pub streams: u64,
    /// Consumers.
    pub consumers: u64,
    /// Messages stored.
    pub messages: u64,
    /// Bytes stored.
    pub bytes: u64,
}

/// The counters and gauges of `/varz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NatsStats {
    /// Server version.
    pub version: String,
    /// Client connections now.
    pub connections: u64,
    /// Subscriptions now.
    pub subscriptions: u64,
    /// Slow consumers, ever.
    pub slow_consumers: u64,
    /// Messages in, ever.
    pub in_msgs: u64,
    /// Messages out, ever.
    pub out_msgs: u64,
    /// Bytes in, ever.
    pub in_bytes: u64,
    /// Bytes out, ever.
    pub out_bytes: u64,
    /// Server resident memory, bytes.
    pub mem_bytes: u64,
    /// Server CPU, % of one core, as the server reports it.
    pub cpu_pct: f64,
    /// Uptime as the server writes it (e.g. `1h2m3s`).
    pub uptime: String,
    /// Messages in per second since the previous sample.
    pub in_msgs_per_s: Option<f64>,
    /// Messages out per second since the previous sample.
    pub out_msgs_per_s: Option<f64>,
    /// Bytes in per second since the previous sample.
    pub in_bytes_per_s: Option<f64>,
    /// Bytes out per second since the previous sample.
    pub out_bytes_per_s: Option<f64>,
    /// JetStream totals, when JetStream is enabled.
    pub jetstream: Option<JetStreamReading>,
}

/// One reading of a NATS server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NatsReading {
    /// The monitoring URL asked.
    pub target: String,
    /// Whether the monitoring endpoint answered.
    pub available: bool,
    /// Why not, when it is unavailable.
    pub detail: Option<String>,
    /// The figures, when available.
    pub stats: Option<NatsStats>,
}

// PostgreSQL.
/// One reading of a PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PostgresReading {
    /// The server and database checked (`host:port/database`), no password.
    pub target: String,
    /// `server_version`.
    pub version: String,
    /// Client connections to the whole server (`pg_stat_activity`).
    pub connections: u64,
    /// Of those, the ones running a statement now (state `active`).
    pub active_connections: u64,
    /// `max_connections`.
    pub max_connections: u64,
    /// Connections as a share of `max_connections`, 0–100.
    pub connections_pct: f64,
    /// Committed plus rolled-back transactions of the database, ever.
    pub transactions: u64,
    /// Transactions per second since the previous sample (the probe's own
    /// query is left out); `None` on the first sample.
    pub transactions_per_s: Option<f64>,
    /// Buffer cache hits as a share of block reads since statistics reset.
    pub cache_hit_pct: Option<f64>,
    /// The same over the interval since the previous sample, when any block
    /// was read in it.
    pub cache_hit_pct_interval: Option<f64>,
    /// `pg_database_size` of the database, bytes.
    pub database_size_bytes: u64,
}

// Processes.
/// One reading of one process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProcessReading {
    /// Process id.
    pub pid: i32,
    /// Command name.
    pub name: String,
    /// Resident memory, bytes.
    pub rss_bytes: u64,
    /// Proportional set size (shared pages divided among their sharers),
    /// bytes, where `/proc/PID/smaps_rollup` is readable: what a process
    /// group's members sum to without counting shared memory twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pss_bytes: Option<u64>,
    /// CPU used since the previous sample, % of one core (above 100 with several threads busy).
    pub cpu_pct: f64,
    /// Threads.
    pub threads: i64,
    /// Open file descriptors (0 when not permitted to look).
    pub open_fds: u64,
    /// Seconds since the process started.
    pub uptime_s: f64,
}

// Redis.
/// One reading of a Redis server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RedisReading {
    /// The server checked (`host:port`).
    pub target: String,
    /// `redis_version`.
    pub version: String,
    /// `used_memory`, bytes.
    pub used_memory_bytes: u64,
    /// `maxmemory`, bytes (0: no limit).
    pub maxmemory_bytes: u64,
    /// Used share of `maxmemory`, 0–100, when a limit is set.
    pub used_memory_pct: Option<f64>,
    /// `connected_clients`.
    pub connected_clients: u64,
    /// Commands per second (see the module docs for the source).
    pub ops_per_s: f64,
    /// `total_commands_processed`.
    pub total_commands: u64,
    /// Keys across every database (`db0:keys=…`).
    pub keys: u64,
    /// `uptime_in_seconds`.
    pub uptime_s: u64,
}

// The snapshot.
/// The processes one selector matched, and their readings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProcessGroup {
    /// The selector, in words (e.g. `TCP port 8080 (listening)`).
    pub selector: String,
    /// The label given with the selector (a service name), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// One reading per matching process.
    pub readings: Vec<ProcessReading>,
}

/// Host, processes and health at one moment (rates over `interval_s`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Snapshot {
    /// Seconds over which CPU and network rates were measured.
    pub interval_s: f64,
    /// The host.
    pub host: HostReading,
    /// The processes asked for.
    #[serde(default)]
    pub processes: Vec<ProcessGroup>,
    /// The health checks asked for, HTTP first.
    #[serde(default)]
    pub health: Vec<HealthReading>,
    /// The Redis servers asked for (operations per second over the interval).
    #[serde(default)]
    pub redis: Vec<RedisReading>,
    /// The PostgreSQL databases asked for (transactions per second over the interval).
    #[serde(default)]
    pub postgres: Vec<PostgresReading>,
    /// The NATS servers asked for (message rates over the interval).
    #[serde(default)]
    pub nats: Vec<NatsReading>,
    /// Targets that could not be read (a selector that matches nothing, a
    /// data store that refuses or does not answer), each with the reason;
    /// the rest of the snapshot is still taken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<Unavailable>,
    /// The GPUs, when asked for.
    #[serde(default)]
    pub gpu: Option<GpuReading>,
    /// The config's custom metrics (`[[metric]]`), each a number or why
    /// there is none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<CustomReading>,
}

/// One custom metric's reading: a number only the service knows (a queue
/// depth, a record count, a folder's size), from the source named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomReading {
    /// Its metric name (`<service>.<name>` when attached to a service).
    pub name: String,
    /// Where it was read, in a few words (no password).
    pub source: String,
    /// Its unit (`count`, `bytes`, `ms`, `/s`, `%`).
    pub unit: String,
    /// Whether more is better (comparisons read it so).
    #[serde(default)]
    pub higher_is_better: bool,
    /// The number; `None` when the source failed.
    pub value: Option<f64>,
    /// A folder's file count (a `dir` source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    /// Why there is no number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A target of a snapshot that could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Unavailable {
    /// What kind of target: `process`, `redis`, `postgres` or `nats`.
    pub kind: String,
    /// The target as asked (a selector in words, or `host:port`), no password.
    pub target: String,
    /// The label given with it (a service name), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Why it could not be read.
    pub reason: String,
}
