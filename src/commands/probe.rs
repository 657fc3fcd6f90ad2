//! `scalewall probe`: one snapshot of the host, chosen processes, health
//! checks and data stores, printed as the report's "System health".

use crate::cli::{OutputFormat, ProbeArgs};
use crate::exit;
use crate::output::print_stdout;
use anyhow::{bail, Context as _, Result};
use scalewall_job::findings;
use scalewall_report::probe::probe_text;
use std::process::ExitCode;
use std::time::Duration;

/// `scalewall probe`.
pub fn probe_command(args: &ProbeArgs) -> Result<ExitCode> {
    use scalewall_probe::process::ProcessSelector;
    if args.interval.is_zero() || args.interval > Duration::from_secs(600) {
        bail!("--interval must be more than 0 and at most 10m");
    }
    let processes = args
        .pid
        .iter()
        .map(|&pid| (ProcessSelector::Pid(pid), None))
        .chain(
            args.processes
                .iter()
                .map(|name| (ProcessSelector::Name(name.clone()), None)),
        )
        .chain(
            args.port
                .iter()
                .map(|&port| (ProcessSelector::Port(port), None)),
        )
        .collect();
    let spec = scalewall_probe::snapshot::SnapshotSpec {
        processes,
        http_health: args.health.clone(),
        tcp_health: args.tcp.clone(),
        disk_paths: if args.disk.is_empty() {
            vec!["/".into()]
        } else {
            args.disk.clone()
        },
        redis: args.redis.clone(),
        postgres: args.postgres.clone(),
        nats: args.nats.clone(),
        gpu: !args.no_gpu,
        insecure_tls: args.insecure,
        health_timeout: args.timeout,
    };
    let mut snapshot = scalewall_probe::snapshot::take(&spec, args.interval)?;
    snapshot.custom = scalewall_job::job::sample_custom_metrics(
        &args
            .metric
            .iter()
            .map(|metric| scalewall_job::config::MetricSpec {
                metric: metric.clone(),
                timeout: args.timeout,
                during_load: false,
            })
            .collect::<Vec<_>>(),
    );
    let printed = match args.output {
        OutputFormat::Text => probe_text(&snapshot),
        OutputFormat::Json => {
            serde_json::to_string_pretty(&snapshot).context("internal: probe JSON")? + "\n"
        }
    };
    print_stdout(&printed)?;
    // The worst reading decides, as the worst finding does for `run`: a
    // degraded check 4, a down check or an unreadable target 5.
    Ok(exit::for_findings(findings::worst(
        &findings::health_findings(&snapshot, &Default::default()),
    )))
}
