//! `scalewall worker`: waits on NATS for assignments and runs each with
//! the same engine as `bench` and `sweep`, streaming one snapshot per
//! interval to the coordinator. It answers discovery and clock requests,
//! says it is alive every second, refuses targets outside its allow-list
//! and a coordinator of another version, obeys cancel, and ends an
//! assignment at its planned end even when the coordinator has gone.

use super::{
    connect, decode, encode, from_unix_s, subject, unix_s, AssignReply, Assignment, ClockReading,
    Hello, Report, VERSION,
};
use crate::error::{JobError, Result};
use crate::load::{Endpoint, Joined, LoadRequest};
use crate::observer::Silent;
use futures_util::StreamExt as _;
use scalewall_fleet::allow::AllowList;
use scalewall_fleet::merge::Snapshot;
use scalewall_load::engine::{Control, IntervalReport, Pacing, StepPlan, StopAt};
use scalewall_load::feed::FedRequest;
use scalewall_load::transport::http1::RequestSpec;
use scalewall_load::Target;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How a worker is started.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The NATS server's URL.
    pub nats: String,
    /// A NATS credentials file.
    pub creds: Option<PathBuf>,
    /// Its name (unique among the workers on one NATS).
    pub name: String,
    /// The targets it may load.
    pub allow: AllowList,
}

/// What a worker tells its operator (one line each).
pub trait WorkerLog: Sync {
    /// Something happened.
    fn line(&self, text: &str);
}

/// The assignment in progress: its run and its stop switch.
type Busy = Arc<Mutex<Option<(String, Control)>>>;

/// Serves assignments until `control` is stopped (SIGTERM, Ctrl-C); the
/// step in progress is then cancelled and its end still sent.
pub fn serve(options: &WorkerOptions, control: &Control, log: &dyn WorkerLog) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| JobError::msg(format!("cannot start the worker's runtime: {e}")))?;
    runtime.block_on(serve_async(options, control, log))
}

async fn serve_async(
    options: &WorkerOptions,
    control: &Control,
    log: &dyn WorkerLog,
) -> Result<()> {
    if options.name.is_empty()
        || !options
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        crate::bail!(
            "worker name '{}': use letters, digits, '-' or '_'",
            options.name
        );
    }
    let client = connect(
        &options.nats,
        options.creds.as_ref(),
        &format!("scalewall-worker-{}", options.name),
    )
    .await?;
    let nats_error = |e: &dyn std::fmt::Display| JobError::msg(format!("NATS: {e}"));
    let mut discover = client
        .subscribe(subject::DISCOVER)
        .await
        .map_err(|e| nats_error(&e))?;
    let mut own = client
        .subscribe(subject::worker(&options.name, "*"))
        .await
        .map_err(|e| nats_error(&e))?;
    client.flush().await.map_err(|e| nats_error(&e))?;
    log.line(&format!(
        "worker {} ready on {} (scalewall {VERSION}); targets allowed: {}",
        options.name,
        super::redact(&options.nats),
        options.allow.describe()
    ));
    let busy: Busy = Arc::new(Mutex::new(None));
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<(String, bytes::Bytes)>();
    let mut steps: Vec<std::thread::JoinHandle<()>> = Vec::new();
    let mut heartbeat = tokio::time::interval(super::HEARTBEAT);
    let mut stop_check = tokio::time::interval(Duration::from_millis(100));
    let instance = uuid::Uuid::now_v7().simple().to_string();
    let hello = |busy: &Busy| Hello {
        name: options.name.clone(),
        instance: instance.clone(),
        version: VERSION.to_string(),
        cores: crate::host::available_cores(),
        busy_with: busy
            .lock()
            .ok()
            .and_then(|b| b.as_ref().map(|(run, _)| run.clone())),
    };
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                let _ = client
                    .publish(subject::heartbeat(&options.name), encode(&hello(&busy)))
                    .await;
            }
            _ = stop_check.tick() => {
                if control.is_stopped() {
                    break;
                }
            }
            Some(message) = discover.next() => {
                if let Some(reply) = message.reply {
                    let _ = client.publish(reply, encode(&hello(&busy))).await;
                }
            }
            Some(message) = own.next() => {
                let what = message.subject.as_str().rsplit('.').next().unwrap_or("");
                match what {
                    "clock" => {
                        if let Some(reply) = message.reply {
                            let reading = ClockReading { now_s: unix_s(std::time::SystemTime::now()) };
                            let _ = client.publish(reply, encode(&reading)).await;
                        }
                    }
                    "assign" => {
                        let answer = match accept(&message.payload, options, &busy) {
                            Ok(assignment) => {
                                log.line(&format!(
                                    "run {} step {}: {} connections{} against {}",
                                    assignment.run,
                                    assignment.step,
                                    assignment.connections,
                                    assignment.rate_per_s.map_or(String::new(), |r| format!(" at {r:.1}/s")),
                                    Target::parse(&assignment.load.url).map_or_else(|_| "?".into(), |t| t.display)
                                ));
                                steps.retain(|h| !h.is_finished());
                                steps.push(start_step(assignment, options.name.clone(), busy.clone(), out_tx.clone()));
                                AssignReply::Accepted(instance.clone())
                            }
                            Err(why) => {
                                log.line(&format!("refused an assignment: {why}"));
                                AssignReply::Refused(why)
                            }
                        };
                        if let Some(reply) = message.reply {
                            let _ = client.publish(reply, encode(&answer)).await;
                        }
                    }
                    "cancel" => {
                        let run = String::from_utf8_lossy(&message.payload).to_string();
                        if let Ok(guard) = busy.lock() {
                            if let Some((current, step_control)) = guard.as_ref() {
                                if *current == run {
                                    log.line(&format!("run {run}: cancelled by the coordinator"));
                                    step_control.request_stop();
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            Some((to, payload)) = out_rx.recv() => {
                let _ = client.publish(to, payload).await;
            }
        }
    }
    // Stopping: the step in progress ends now, and its end is still sent.
    if let Ok(guard) = busy.lock() {
        if let Some((_, step_control)) = guard.as_ref() {
            step_control.request_stop();
        }
    }
    drop(out_tx);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while let Ok(Some((to, payload))) = tokio::time::timeout_at(deadline, out_rx.recv()).await {
        let _ = client.publish(to, payload).await;
    }
    let _ = client.flush().await;
    log.line(&format!("worker {} stopped", options.name));
    Ok(())
}

/// Checks an assignment: its version, this worker being free, its target
/// parsed, resolved and allowed. Marks the worker busy when it is taken.
fn accept(payload: &[u8], options: &WorkerOptions, busy: &Busy) -> Result<Assignment, String> {
    let assignment: Assignment = decode(payload, "assignment").map_err(|e| e.to_string())?;
    scalewall_fleet::check_versions(&assignment.version, VERSION)?;
    let target = Target::parse(&assignment.load.url).map_err(|e| e.to_string())?;
    let addrs = target.resolve().map_err(|e| e.to_string())?;
    let ips: Vec<std::net::IpAddr> = addrs.iter().map(|a| a.ip()).collect();
    if !options.allow.allows(&target.host, target.port, &ips) {
        return Err(format!(
            "worker {} does not load {}: allowed targets are {}",
            options.name,
            target.display,
            options.allow.describe()
        ));
    }
    let mut guard = busy
        .lock()
        .map_err(|_| "worker state poisoned".to_string())?;
    if let Some((run, _)) = guard.as_ref() {
        return Err(format!("worker {} is busy with run {run}", options.name));
    }
    *guard = Some((assignment.run.clone(), Control::new()));
    Ok(assignment)
}

/// Runs the assignment on its own thread; sends its snapshots and its end.
fn start_step(
    assignment: Assignment,
    name: String,
    busy: Busy,
    out: mpsc::UnboundedSender<(String, bytes::Bytes)>,
) -> std::thread::JoinHandle<()> {
    let control = busy
        .lock()
        .ok()
        .and_then(|b| b.as_ref().map(|(_, c)| c.clone()))
        .unwrap_or_default();
    std::thread::spawn(move || {
        let to = subject::reports(&assignment.run);
        let (protocol, outcome) = run_assignment(&assignment, &name, &control, &mut |snapshot| {
            let _ = out.send((to.clone(), encode(&Report::Snapshot(Box::new(snapshot)))));
        });
        let done = match outcome {
            Ok(mut step) => {
                // The snapshots carried the intervals.
                step.intervals.clear();
                Report::Done {
                    worker: name.clone(),
                    step: Some(Box::new(step)),
                    protocol,
                    error: None,
                }
            }
            Err(error) => Report::Done {
                worker: name.clone(),
                step: None,
                protocol,
                error: Some(error.to_string()),
            },
        };
        let _ = out.send((to, encode(&done)));
        if let Ok(mut guard) = busy.lock() {
            *guard = None;
        }
    })
}

/// Builds the request and the step of an assignment and runs it.
fn run_assignment(
    assignment: &Assignment,
    name: &str,
    control: &Control,
    send: &mut dyn FnMut(Snapshot),
) -> (String, Result<scalewall_model::Step>) {
    let mut protocol = String::new();
    let result = (|| {
        let target = Target::parse(&assignment.load.url)?;
        let load = &assignment.load;
        let body = bytes::Bytes::from(load.body.clone());
        let mut extras = load.extras()?;
        let mut options = load.protocol()?;
        if let Some(wire) = &assignment.feed {
            // This worker's rows fill the same places they fill locally.
            let feed = wire.feed()?;
            if target.scheme.is_http() {
                let path = wire.path.as_deref().unwrap_or("/");
                let fed = FedRequest::new(feed, path, &load.headers, &body)
                    .map_err(|e| JobError::msg(e.to_string()))?;
                extras.feed = Some(Arc::new(fed));
            } else {
                let fed = crate::load::fed_texts(target.scheme, &options, &body, feed)?;
                options.feed = Some(Arc::new(fed));
            }
        }
        let request = LoadRequest {
            endpoint: Endpoint::Url(&target),
            spec: RequestSpec {
                method: load.method.clone(),
                headers: load.headers.clone(),
                body,
                extras,
            },
            http2: load.http2,
            insecure: load.insecure,
            sample_interval: Duration::from_secs(1),
            target_process: None,
            protocol: options,
            fleet: None,
            during_load: Vec::new(),
        };
        let secs = |s: f64| Duration::from_secs_f64(s.max(0.0));
        let plan = StepPlan {
            connections: assignment.connections,
            pacing: match assignment.rate_per_s {
                Some(rate_per_s) => Pacing::Open { rate_per_s },
                None => Pacing::Closed,
            },
            stop: match (assignment.duration_s, assignment.requests) {
                (_, Some(n)) => StopAt::Operations(n),
                (Some(d), None) => StopAt::Duration(secs(d)),
                (None, None) => crate::bail!("an assignment with neither a duration nor a count"),
            },
            warmup: secs(assignment.warmup_s),
            timeout: secs(assignment.timeout_s),
            threads: if assignment.threads == 0 {
                crate::host::available_cores()
            } else {
                assignment.threads
            },
            interval: secs(assignment.interval_s),
        };
        let mut seq = 0u64;
        let mut cpu_before = scalewall_probe::process::own_cpu_s().unwrap_or(0.0);
        let mut on_interval = |report: IntervalReport| {
            seq += 1;
            let cpu_now = scalewall_probe::process::own_cpu_s().unwrap_or(cpu_before);
            let cpu_s = (cpu_now - cpu_before).max(0.0);
            cpu_before = cpu_now;
            send(Snapshot {
                worker: name.to_string(),
                seq,
                interval: report.index,
                outcomes: report.outcomes,
                latency_us: report.latency_us,
                uncorrected_latency_us: report.uncorrected_latency_us,
                schedule_lag_us: report.schedule_lag_us,
                error_examples: report.error_examples,
                cpu_s,
            });
        };
        let joined = Joined {
            start_at: from_unix_s(assignment.start_at_s),
            phase: secs(assignment.phase_s),
            on_interval: &mut on_interval,
        };
        let (driver, mut steps) =
            crate::load::measure_endpoint(&request, &[plan], control, &Silent, Some(joined))?;
        protocol = driver.to_string();
        steps
            .pop()
            .ok_or_else(|| JobError::msg("stopped before the step began"))
    })();
    (protocol, result)
}
