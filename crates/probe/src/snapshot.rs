//! One snapshot of everything asked for: the host, chosen processes and
//! health checks, with rates measured over a short interval.

use crate::gpu::{GpuProbe, GpuReading};
use crate::health::{HttpHealthProbe, TcpHealthProbe};
use crate::host::HostProbe;
use crate::nats::NatsProbe;
use crate::postgres::PostgresProbe;
use crate::process::{ProcessProbe, ProcessSelector};
use crate::redis::RedisProbe;
use crate::{Probe, ProbeError};
pub use scalewall_model::health::{ProcessGroup, Snapshot, Unavailable};
use std::time::Duration;

/// What a snapshot should cover.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SnapshotSpec {
    /// Processes to measure, each with an optional label (a service name).
    pub processes: Vec<(ProcessSelector, Option<String>)>,
    /// HTTP health URLs.
    pub http_health: Vec<String>,
    /// `host:port` TCP checks.
    pub tcp_health: Vec<String>,
    /// Paths whose filesystem usage to report.
    pub disk_paths: Vec<String>,
    /// Redis servers (`redis://[:password@]host:port`).
    pub redis: Vec<String>,
    /// PostgreSQL databases (`postgres://user@host:port/db`).
    pub postgres: Vec<String>,
    /// NATS servers (monitoring `http://host:8222` or `nats://host:4222`).
    pub nats: Vec<String>,
    /// Whether to read the NVIDIA GPUs.
    pub gpu: bool,
    /// Timeout of each health check.
    pub health_timeout: Duration,
    /// Accept any TLS certificate in `https://` health checks.
    pub insecure_tls: bool,
}

/// A target as shown: its URL without credentials.
fn shown(url: &str) -> String {
    scalewall_load::target::Target::parse(url).map_or_else(|_| url.to_string(), |t| t.display)
}

/// Takes a snapshot: counters now, health checks, then the rest after
/// `interval`. Only an unreadable host fails it: a process selector that
/// matches nothing or a data store that cannot be read is listed in
/// `unavailable` with the reason, as a down health check is shown as down.
pub fn take(spec: &SnapshotSpec, interval: Duration) -> Result<Snapshot, ProbeError> {
    let mut host = HostProbe::new(spec.disk_paths.clone())?;
    let mut unavailable = Vec::new();
    let mut lost = |kind: &str, target: String, label: Option<String>, error: ProbeError| {
        unavailable.push(Unavailable {
            kind: kind.into(),
            target,
            label,
            reason: error.to_string(),
        });
    };
    let mut processes = Vec::new();
    for (selector, label) in &spec.processes {
        match ProcessProbe::new(selector) {
            Ok(probe) => processes.push((selector.to_string(), label.clone(), probe)),
            Err(error) => lost("process", selector.to_string(), label.clone(), error),
        }
    }
    let mut redis = Vec::new();
    for url in &spec.redis {
        let mut probe = RedisProbe::new(url, spec.health_timeout);
        // The first reading sets the counters the rate is measured from.
        match probe.sample() {
            Ok(_) => redis.push((url, probe)),
            Err(error) => lost("redis", shown(url), None, error),
        }
    }
    let mut postgres = Vec::new();
    for url in &spec.postgres {
        match PostgresProbe::new(url, spec.health_timeout).and_then(|mut probe| {
            probe.sample()?;
            Ok(probe)
        }) {
            Ok(probe) => postgres.push((url, probe)),
            Err(error) => lost("postgres", shown(url), None, error),
        }
    }
    let mut nats: Vec<NatsProbe> = spec
        .nats
        .iter()
        .map(|url| NatsProbe::new(url, spec.health_timeout))
        .collect();
    for probe in &mut nats {
        probe.sample()?;
    }
    let gpu = spec.gpu.then(|| {
        GpuProbe::new()
            .sample()
            .unwrap_or_else(|error| GpuReading::unavailable(error.to_string()))
    });
    let started = std::time::Instant::now();
    let mut health = Vec::new();
    for url in &spec.http_health {
        health.push(
            HttpHealthProbe::new(url.clone(), spec.health_timeout)
                .insecure(spec.insecure_tls)
                .sample()?,
        );
    }
    for target in &spec.tcp_health {
        health.push(TcpHealthProbe::new(target.clone(), spec.health_timeout).sample()?);
    }
    std::thread::sleep(interval.saturating_sub(started.elapsed()));
    let host = host.sample()?;
    let mut groups = Vec::new();
    for (selector, label, mut probe) in processes {
        match probe.sample() {
            Ok(readings) => groups.push(ProcessGroup {
                selector,
                label,
                readings,
            }),
            Err(error) => lost("process", selector, label, error),
        }
    }
    let mut redis_readings = Vec::new();
    for (url, mut probe) in redis {
        match probe.sample() {
            Ok(reading) => redis_readings.push(reading),
            Err(error) => lost("redis", shown(url), None, error),
        }
    }
    let mut postgres_readings = Vec::new();
    for (url, mut probe) in postgres {
        match probe.sample() {
            Ok(reading) => postgres_readings.push(reading),
            Err(error) => lost("postgres", shown(url), None, error),
        }
    }
    let nats = nats
        .iter_mut()
        .map(Probe::sample)
        .collect::<Result<Vec<_>, ProbeError>>()?;
    Ok(Snapshot {
        interval_s: started.elapsed().as_secs_f64().max(interval.as_secs_f64()),
        host,
        processes: groups,
        health,
        redis: redis_readings,
        postgres: postgres_readings,
        nats,
        unavailable,
        gpu,
        custom: Vec::new(),
    })
}
