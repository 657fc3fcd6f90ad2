//! Runs load for `bench`, `sweep` and `demo`: resolve and check the target
//! once, run each planned step with live progress, and wrap the steps in a
//! `Run` record.

use crate::{host, render};
use anyhow::{anyhow, Context as _, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use scalewall_load::engine::{run_step, Control, LiveProgress, Pacing, StepPlan, StopAt};
use scalewall_load::target::Target;
use scalewall_load::tls;
use scalewall_load::transport::http1::{Http1Driver, RequestSpec};
use scalewall_load::transport::http2::Http2Driver;
use scalewall_load::transport::Driver;
use scalewall_model::{LoadOptions, Run, RunStatus, Scenario, Step, ToolInfo, SCHEMA_VERSION};
use scalewall_probe::process::{self, ProcessSelector};
use scalewall_probe::step_meter::StepMeter;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What to load and how.
pub struct LoadRequest<'a> {
    /// Parsed target.
    pub target: &'a Target,
    /// Method, headers, body.
    pub spec: RequestSpec,
    /// HTTP/2 instead of HTTP/1.1.
    pub http2: bool,
    /// Accept any TLS certificate.
    pub insecure: bool,
    /// Draw live progress on a terminal.
    pub progress: bool,
    /// How often host and target resources are sampled during each step.
    pub sample_interval: Duration,
}

/// Runs the planned steps in order and returns the run record. After Ctrl-C
/// the step in progress is kept (partial), no further step starts, and the
/// status is `interrupted`.
pub fn run_load(request: &LoadRequest<'_>, plans: &[StepPlan], control: &Control) -> Result<Run> {
    let started = SystemTime::now();
    let first = plans
        .first()
        .ok_or_else(|| anyhow!("no load steps planned"))?;
    let addrs = request.target.resolve()?;
    let alpn: &[&[u8]] = if request.http2 {
        &[b"h2"]
    } else {
        &[b"http/1.1"]
    };
    let tls_config = Some(tls::client_config(alpn, request.insecure));
    let (protocol, steps) = if request.http2 {
        let driver = preflight(request, first.timeout, &addrs, |addr| {
            Http2Driver::new(request.target, addr, &request.spec, tls_config.clone())
        })?;
        (
            "http2",
            measure_all(driver, request, &addrs, plans, control)?,
        )
    } else {
        let driver = preflight(request, first.timeout, &addrs, |addr| {
            Http1Driver::new(request.target, addr, &request.spec, tls_config.clone())
        })?;
        (
            "http1",
            measure_all(driver, request, &addrs, plans, control)?,
        )
    };
    let status = if control.is_stopped() || steps.iter().any(|s| !s.completed) {
        RunStatus::Interrupted
    } else {
        RunStatus::Completed
    };
    let mut options = load_options(request, first);
    if plans.len() > 1 {
        options.concurrency_levels = plans.iter().map(|p| p.connections).collect();
    }
    Ok(new_run(
        started,
        status,
        vec![Scenario {
            name: if plans.len() > 1 {
                "sweep".into()
            } else {
                "bench".into()
            },
            target: request.target.display.clone(),
            protocol: protocol.into(),
            options,
            steps,
        }],
    ))
}

/// A run record started at `started` and ending now, with a fresh
/// time-ordered id, this tool and this host.
pub fn new_run(started: SystemTime, status: RunStatus, scenarios: Vec<Scenario>) -> Run {
    Run {
        schema_version: SCHEMA_VERSION,
        id: uuid::Uuid::now_v7().to_string(),
        tool: ToolInfo {
            name: "scalewall".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        started_at: humantime::format_rfc3339_millis(started).to_string(),
        finished_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        status,
        host: host::describe(),
        scenarios,
        ..Run::default()
    }
}

fn load_options(request: &LoadRequest<'_>, plan: &StepPlan) -> LoadOptions {
    LoadOptions {
        method: request.spec.method.clone(),
        header_names: request
            .spec
            .headers
            .iter()
            .map(|(n, _)| n.clone())
            .collect(),
        body_bytes: request.spec.body.len() as u64,
        connections: plan.connections,
        rate_per_s: match plan.pacing {
            Pacing::Closed => None,
            Pacing::Open { rate_per_s } => Some(rate_per_s),
        },
        duration_s: match plan.stop {
            StopAt::Duration(d) => Some(d.as_secs_f64()),
            StopAt::Operations(_) => None,
        },
        requests: match plan.stop {
            StopAt::Operations(n) => Some(n),
            StopAt::Duration(_) => None,
        },
        warmup_s: plan.warmup.as_secs_f64(),
        timeout_s: plan.timeout.as_secs_f64(),
        threads: plan.effective_threads(),
        concurrency_levels: Vec::new(),
    }
}

/// Opens one connection to each resolved address until one works; the
/// working address is the one loaded. Fails with the target and the reason.
fn preflight<D: Driver>(
    request: &LoadRequest<'_>,
    timeout: Duration,
    addrs: &[SocketAddr],
    make: impl Fn(SocketAddr) -> Result<D, scalewall_load::OpError>,
) -> Result<Arc<D>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the connection check")?;
    let mut last_error = None;
    for &addr in addrs {
        let driver =
            make(addr).map_err(|e| anyhow!("{}: {}", request.target.display, e.message))?;
        let attempt =
            runtime.block_on(async { tokio::time::timeout(timeout, driver.connect()).await });
        match attempt {
            Ok(Ok(_connection)) => return Ok(Arc::new(driver)),
            Ok(Err(e)) => last_error = Some(e.message),
            Err(_) => {
                last_error = Some(format!(
                    "{addr}: no connection within {}",
                    humantime::format_duration(timeout)
                ))
            }
        }
    }
    Err(anyhow!(
        "cannot connect to {}: {}",
        request.target.display,
        last_error.unwrap_or_else(|| "no address".into())
    ))
}

fn measure_all<D: Driver>(
    driver: Arc<D>,
    request: &LoadRequest<'_>,
    addrs: &[SocketAddr],
    plans: &[StepPlan],
    control: &Control,
) -> Result<Vec<Step>> {
    let bar = request.progress.then(|| {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let (target_pid, target_note) = local_target_process(request.target, addrs);
    let mut steps = Vec::with_capacity(plans.len());
    for (index, plan) in plans.iter().enumerate() {
        if control.is_stopped() {
            break;
        }
        let prefix = if plans.len() > 1 {
            format!(
                "step {}/{} (N = {}) ",
                index + 1,
                plans.len(),
                plan.connections
            )
        } else {
            String::new()
        };
        let mut on_progress = |live: &LiveProgress| {
            if let Some(bar) = &bar {
                bar.set_message(format!("{prefix}{}", progress_line(live)));
            }
        };
        // Probing must never cost the measurement: a probe failure only
        // leaves the step without resource figures.
        let meter = StepMeter::start(target_pid, request.sample_interval);
        let mut step = run_step(driver.clone(), plan, control, &mut on_progress)?;
        step.resources = meter
            .ok()
            .and_then(|m| m.finish().ok())
            .map(|mut resources| {
                if resources.target_note.is_none() {
                    resources.target_note = target_note.clone();
                }
                resources
            });
        steps.push(step);
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(steps)
}

/// The process serving the target on this host, or why there is none.
fn local_target_process(target: &Target, addrs: &[SocketAddr]) -> (Option<i32>, Option<String>) {
    let local = addrs.iter().all(|a| a.ip().is_loopback());
    if !local {
        return (None, Some("the target is not on this host".into()));
    }
    let me = std::process::id() as i32;
    match process::resolve(&ProcessSelector::Port(target.port)) {
        Ok(pids) => {
            let others: Vec<i32> = pids.into_iter().filter(|&pid| pid != me).collect();
            match others.as_slice() {
                [] => (
                    None,
                    Some("the target runs inside this scalewall process; its CPU cannot be told apart".into()),
                ),
                [pid] => (Some(*pid), None),
                [pid, ..] => (
                    Some(*pid),
                    Some(format!(
                        "{} processes listen on port {}; measuring pid {pid}",
                        others.len(),
                        target.port
                    )),
                ),
            }
        }
        Err(error) => (None, Some(error.to_string())),
    }
}

/// One line of live progress.
pub fn progress_line(live: &LiveProgress) -> String {
    if live.warming_up {
        return "warming up…".into();
    }
    let position = match (live.planned, live.planned_operations) {
        (Some(planned), _) => format!(
            "{:.1}s/{:.0}s",
            live.elapsed.as_secs_f64(),
            planned.as_secs_f64()
        ),
        (None, Some(n)) => format!("{}/{}", live.responses + live.errors, n),
        (None, None) => format!("{:.1}s", live.elapsed.as_secs_f64()),
    };
    format!(
        "[{position}] {} req/s · {} responses · {} errors · p99 {:.2} ms",
        render::group_f(live.rate_per_s, 0),
        render::group(live.responses),
        render::group(live.errors),
        live.p99_ms
    )
}

/// Stops the control on the first Ctrl-C; a second one exits at once.
pub fn install_ctrl_c(control: Control) {
    let spawned = std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if tokio::signal::ctrl_c().await.is_err() {
                    return;
                }
                control.request_stop();
                eprintln!(
                    "scalewall: stopping: finishing requests in flight (Ctrl-C again to abort)"
                );
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(crate::EXIT_INTERRUPTED);
                }
            });
        });
    if spawned.is_err() {
        eprintln!("scalewall: warning: Ctrl-C handler unavailable; Ctrl-C will discard results");
    }
}
