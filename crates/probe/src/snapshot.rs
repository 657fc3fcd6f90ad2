//! One snapshot of everything asked for: the host, chosen processes and
//! health checks, with rates measured over a short interval.

use crate::gpu::GpuProbe;
use crate::health::{HttpHealthProbe, TcpHealthProbe};
use crate::host::HostProbe;
use crate::nats::NatsProbe;
use crate::postgres::PostgresProbe;
use crate::process::{ProcessProbe, ProcessSelector};
use crate::redis::RedisProbe;
use crate::{Probe, ProbeError};
pub use scalewall_model::health::{ProcessGroup, Snapshot};
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

/// Takes a snapshot: counters now, health checks, then the rest after `interval`.
pub fn take(spec: &SnapshotSpec, interval: Duration) -> Result<Snapshot, ProbeError> {
    let mut host = HostProbe::new(spec.disk_paths.clone())?;
    let mut processes = spec
        .processes
        .iter()
        .map(|(selector, label)| {
            Ok((
                selector.to_string(),
                label.clone(),
                ProcessProbe::new(selector)?,
            ))
        })
        .collect::<Result<Vec<_>, ProbeError>>()?;
    let mut redis = spec
        .redis
        .iter()
        .map(|url| {
            let mut probe = RedisProbe::new(url, spec.health_timeout);
            probe.sample()?; // first reading: counters for the rate
            Ok(probe)
        })
        .collect::<Result<Vec<_>, ProbeError>>()?;
    let mut postgres = spec
        .postgres
        .iter()
        .map(|url| {
            let mut probe = PostgresProbe::new(url, spec.health_timeout)?;
            probe.sample()?;
            Ok(probe)
        })
        .collect::<Result<Vec<_>, ProbeError>>()?;
    let mut nats: Vec<NatsProbe> = spec
        .nats
        .iter()
        .map(|url| NatsProbe::new(url, spec.health_timeout))
        .collect();
    for probe in &mut nats {
        probe.sample()?;
    }
    let gpu = spec.gpu.then(|| GpuProbe::new().sample()).transpose()?;
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
    let processes = processes
        .iter_mut()
        .map(|(selector, label, probe)| {
            Ok(ProcessGroup {
                selector: selector.clone(),
                label: label.clone(),
                readings: probe.sample()?,
            })
        })
        .collect::<Result<Vec<_>, ProbeError>>()?;
    let redis = redis
        .iter_mut()
        .map(Probe::sample)
        .collect::<Result<Vec<_>, ProbeError>>()?;
    let postgres = postgres
        .iter_mut()
        .map(Probe::sample)
        .collect::<Result<Vec<_>, ProbeError>>()?;
    let nats = nats
        .iter_mut()
        .map(Probe::sample)
        .collect::<Result<Vec<_>, ProbeError>>()?;
    Ok(Snapshot {
        interval_s: started.elapsed().as_secs_f64().max(interval.as_secs_f64()),
        host,
        processes,
        health,
        redis,
        postgres,
        nats,
        gpu,
    })
}
