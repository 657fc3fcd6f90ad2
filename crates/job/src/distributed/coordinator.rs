//! The coordinator of a distributed run: `bench`, `sweep` and `run` with
//! `--workers`. It finds the live workers, reads each one's clock, and
//! for every step splits the load exactly, sends each worker its part
//! with one common start (on that worker's clock), merges their interval
//! snapshots as they arrive (histograms added) and assembles the step
//! with each worker's own figures. A worker that stops answering
//! mid-step is marked lost with what it sent; a worker that does not
//! take its part in time is dropped and the step re-split among the
//! rest, when `--min-workers` allows.

use super::{
    connect, decode, encode, subject, unix_s, AssignReply, Assignment, ClockReading, Hello, Report,
    WireFeed, WireLoad, VERSION,
};
use crate::error::{JobError, Result};
use crate::load::{Endpoint, LoadRequest};
use crate::observer::Observer;
use futures_util::StreamExt as _;
use scalewall_fleet::clock::{self, Offset, RoundTrip};
use scalewall_fleet::merge::{Added, Ending, Merger, StepFrame, WorkerPart};
use scalewall_fleet::split;
use scalewall_load::engine::{Control, LiveProgress, Pacing, StepPlan, StopAt};
use scalewall_model::Step;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime};

use super::FleetOptions;

/// How long discovery waits for workers to answer (longer, up to
/// [`DISCOVERY_MAX`], while fewer than `--min-workers` have).
const DISCOVERY_WAIT: Duration = Duration::from_millis(500);
/// The longest discovery waits for enough workers.
const DISCOVERY_MAX: Duration = Duration::from_secs(3);
/// Clock round trips per worker.
const CLOCK_TRIPS: usize = 5;
/// How long a worker has to take its part.
const ASSIGN_WAIT: Duration = Duration::from_millis(1500);
/// The common start is this far after the assignments go out.
const START_LEAD: Duration = Duration::from_millis(2000);
/// A worker with no heartbeat for this long is lost.
const LOST_AFTER: Duration = Duration::from_secs(3);
/// How long after a step's planned end (and its timeout) a worker's end
/// may take to arrive.
const END_GRACE: Duration = Duration::from_secs(5);
/// How long a retry waits for the parts it cancelled to end.
const CANCEL_WAIT: Duration = Duration::from_secs(3);
/// Attempts to start a step when workers fail to take their parts.
const START_ATTEMPTS: usize = 3;

/// A worker taking part, with its clock.
#[derive(Debug, Clone)]
struct Member {
    name: String,
    clock: Offset,
}

/// Measures every planned step on the fleet; the protocol and the steps,
/// as the local path returns them.
pub fn measure(
    request: &LoadRequest<'_>,
    fleet: &FleetOptions,
    plans: &[StepPlan],
    control: &Control,
    observer: &dyn Observer,
) -> Result<(&'static str, Vec<Step>)> {
    let load = WireLoad::of(request)?;
    if plans.iter().any(|p| matches!(p.pacing, Pacing::Ramp(_))) {
        crate::bail!("--stages (a ramping rate) cannot run on workers yet; use --rate");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| JobError::msg(format!("cannot start the coordinator's runtime: {e}")))?;
    let client = runtime.block_on(connect(
        &fleet.nats,
        fleet.creds.as_ref(),
        "scalewall-coordinator",
    ))?;
    let mut members = runtime.block_on(discover(&client, fleet))?;
    observer.stage(&format!(
        "distributed: {} workers ({})",
        members.len(),
        members
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    // The coordinator samples its own host, and the target when it runs here.
    let addrs = match &request.endpoint {
        Endpoint::Url(target) => target.resolve().unwrap_or_default(),
        Endpoint::Exec(_) => Vec::new(),
    };
    let run = uuid::Uuid::now_v7().simple().to_string();
    let mut protocol: Option<String> = None;
    let mut index = 0u32;
    let mut run_one = |plan: &StepPlan, on_progress: &mut dyn FnMut(&LiveProgress)| {
        let step = runtime.block_on(run_step(
            &client,
            &run,
            index,
            (&load, request),
            plan,
            fleet,
            &mut members,
            control,
            on_progress,
            &mut protocol,
        ));
        index += 1;
        step
    };
    let steps = crate::load::measure_all(
        request,
        &addrs,
        plans,
        control,
        observer,
        &mut run_one,
        None,
    )?;
    let protocol = match protocol.as_deref() {
        Some("http1") => "http1",
        Some("http2") => "http2",
        Some("websocket") => "websocket",
        Some("tcp") => "tcp",
        Some("redis") => "redis",
        Some("postgres") => "postgres",
        Some("nats") => "nats",
        _ => "unknown",
    };
    Ok((protocol, steps))
}

/// The live workers of the fleet's NATS, with their clocks: every one
/// that answers (up to `--max-workers`, by name), at least
/// `--min-workers`, all of this version.
async fn discover(client: &async_nats::Client, fleet: &FleetOptions) -> Result<Vec<Member>> {
    let began = tokio::time::Instant::now();
    let (hellos, busy) = loop {
        let (hellos, busy) = discovery_round(client, fleet.min_workers, began).await?;
        // A busy worker may be ending a part just cancelled (a run that
        // stopped a moment ago): ask again, within the discovery's time.
        if busy.is_empty() || began.elapsed() >= DISCOVERY_MAX {
            break (hellos, busy);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let mut names: Vec<String> = hellos.into_keys().collect();
    if let Some(max) = fleet.max_workers {
        names.truncate(max);
    }
    let mut members = Vec::new();
    for name in names {
        if let Some(clock) = read_clock(client, &name).await {
            members.push(Member { name, clock });
        }
    }
    if members.len() < fleet.min_workers {
        crate::bail!(
            "{} live worker{} on NATS at {} ({}{}), --min-workers {}",
            members.len(),
            if members.len() == 1 { "" } else { "s" },
            super::redact(&fleet.nats),
            if members.is_empty() {
                "none answered".to_string()
            } else {
                members
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            if busy.is_empty() {
                String::new()
            } else {
                format!("; {}", busy.join(", "))
            },
            fleet.min_workers
        );
    }
    Ok(members)
}

/// One discovery request: the free workers that answered (by name) and
/// the busy ones in words. Waits [`DISCOVERY_WAIT`], or while fewer than
/// `min_workers` are free, until [`DISCOVERY_MAX`] after `began`.
async fn discovery_round(
    client: &async_nats::Client,
    min_workers: usize,
    began: tokio::time::Instant,
) -> Result<(BTreeMap<String, Hello>, Vec<String>)> {
    let nats = |e: &dyn std::fmt::Display| JobError::msg(format!("NATS: {e}"));
    let inbox = client.new_inbox();
    let mut answers = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| nats(&e))?;
    client
        .publish_with_reply(subject::DISCOVER, inbox, bytes::Bytes::new())
        .await
        .map_err(|e| nats(&e))?;
    client.flush().await.map_err(|e| nats(&e))?;
    let asked = tokio::time::Instant::now();
    let mut hellos: BTreeMap<String, Hello> = BTreeMap::new();
    let mut busy: Vec<String> = Vec::new();
    loop {
        let until = if hellos.len() >= min_workers {
            asked + DISCOVERY_WAIT
        } else {
            (began + DISCOVERY_MAX).max(asked + DISCOVERY_WAIT)
        };
        match tokio::time::timeout_at(until, answers.next()).await {
            Ok(Some(message)) => {
                let hello: Hello = decode(&message.payload, "worker hello")?;
                if let Err(why) = scalewall_fleet::check_versions(VERSION, &hello.version) {
                    crate::bail!("worker {}: {why}", hello.name);
                }
                if let Some(run) = &hello.busy_with {
                    busy.push(format!("{} (busy with run {run})", hello.name));
                    continue;
                }
                if hellos.insert(hello.name.clone(), hello.clone()).is_some() {
                    crate::bail!(
                        "two workers answer to the name {}: give each its own --name",
                        hello.name
                    );
                }
            }
            Ok(None) | Err(_) => return Ok((hellos, busy)),
        }
    }
}

/// A worker's clock offset from a few request/reply round trips.
async fn read_clock(client: &async_nats::Client, name: &str) -> Option<Offset> {
    let mut trips = Vec::with_capacity(CLOCK_TRIPS);
    for _ in 0..CLOCK_TRIPS {
        let sent = unix_s(SystemTime::now());
        let reply = tokio::time::timeout(
            Duration::from_secs(1),
            client.request(subject::worker(name, "clock"), bytes::Bytes::new()),
        )
        .await
        .ok()?
        .ok()?;
        let received = unix_s(SystemTime::now());
        let reading: ClockReading = decode(&reply.payload, "clock reading").ok()?;
        trips.push(RoundTrip {
            sent,
            worker: reading.now_s,
            received,
        });
    }
    clock::estimate(&trips)
}

/// Runs one step on the members: split, assign, collect, merge. Members
/// lost in it are dropped for the steps after.
#[allow(clippy::too_many_arguments)] // one call site; each argument is a distinct piece
async fn run_step(
    client: &async_nats::Client,
    run: &str,
    index: u32,
    (load, request): (&WireLoad, &LoadRequest<'_>),
    plan: &StepPlan,
    fleet: &FleetOptions,
    members: &mut Vec<Member>,
    control: &Control,
    on_progress: &mut dyn FnMut(&LiveProgress),
    protocol: &mut Option<String>,
) -> Result<Step> {
    let nats = |e: &dyn std::fmt::Display| JobError::msg(format!("NATS: {e}"));
    let rate = match plan.pacing {
        Pacing::Open { rate_per_s } => Some(rate_per_s),
        _ => None,
    };
    let mut heartbeats = client
        .subscribe(subject::HEARTBEATS)
        .await
        .map_err(|e| nats(&e))?;
    // Assign, dropping workers that do not take their part in time.
    let mut attempt = 0;
    // The process of each worker that took its part.
    let mut instances: BTreeMap<String, String> = BTreeMap::new();
    let (start, parts, mut reports, step_run) = loop {
        attempt += 1;
        // Each attempt is its own run on the wire: a part cancelled in an
        // earlier attempt can never be taken for this one's.
        let step_run = format!("{run}-{index}-{attempt}");
        let mut reports = client
            .subscribe(subject::reports(&step_run))
            .await
            .map_err(|e| nats(&e))?;
        if members.len() < fleet.min_workers {
            crate::bail!(
                "{} worker{} left, --min-workers {}",
                members.len(),
                if members.len() == 1 { "" } else { "s" },
                fleet.min_workers
            );
        }
        let shares = split::split(plan.connections, rate, members.len())
            .map_err(|e| JobError::msg(e.to_string()))?;
        let start = SystemTime::now() + START_LEAD;
        let operations = match plan.stop {
            StopAt::Operations(n) => Some(n),
            StopAt::Duration(_) => None,
        };
        let assignments: Vec<(Member, Assignment)> = members
            .iter()
            .zip(&shares)
            .enumerate()
            .map(|(k, (member, share))| {
                let feed = WireFeed::share(request, k, shares.len(), operations)?;
                Ok((
                    member.clone(),
                    Assignment {
                        version: VERSION.to_string(),
                        run: step_run.clone(),
                        step: index,
                        load: load.clone(),
                        connections: share.connections,
                        rate_per_s: share.rate_per_s,
                        phase_s: share.phase_s,
                        warmup_s: plan.warmup.as_secs_f64(),
                        duration_s: match plan.stop {
                            StopAt::Duration(d) => Some(d.as_secs_f64()),
                            StopAt::Operations(_) => None,
                        },
                        requests: match plan.stop {
                            StopAt::Operations(n) => Some(split::part(n, k, shares.len())),
                            StopAt::Duration(_) => None,
                        },
                        timeout_s: plan.timeout.as_secs_f64(),
                        threads: fleet.threads.unwrap_or(0),
                        interval_s: plan.interval.as_secs_f64(),
                        start_at_s: member.clock.to_worker(unix_s(start)),
                        feed,
                    },
                ))
            })
            .collect::<Result<_>>()?;
        // A message over the server's limit would be refused on the wire;
        // say which worker's part and by how much, before any load.
        let limit = client.server_info().max_payload;
        let messages: Vec<bytes::Bytes> = assignments.iter().map(|(_, a)| encode(a)).collect();
        for ((member, _), message) in assignments.iter().zip(&messages) {
            let size = message.len();
            if limit > 0 && size > limit {
                crate::bail!(
                    "worker {}'s part of the step is {size} bytes (its --data rows included), more than the NATS server's max_payload of {limit}",
                    member.name
                );
            }
        }
        let answers = futures_util::future::join_all(assignments.iter().zip(messages).map(
            |((member, _), message)| {
                tokio::time::timeout(
                    ASSIGN_WAIT,
                    client.request(subject::worker(&member.name, "assign"), message),
                )
            },
        ))
        .await;
        let mut taken = Vec::new();
        instances.clear();
        let mut missing = Vec::new();
        let mut refused = Vec::new();
        for ((member, assignment), answer) in assignments.into_iter().zip(answers) {
            match answer {
                Ok(Ok(message)) => {
                    match decode::<AssignReply>(&message.payload, "assignment reply") {
                        Ok(AssignReply::Accepted(instance)) => {
                            taken.push((member, assignment));
                            instances.insert(taken[taken.len() - 1].0.name.clone(), instance);
                        }
                        Ok(AssignReply::Refused(why)) => {
                            refused.push(format!("worker {}: {why}", member.name))
                        }
                        Err(e) => refused.push(format!("worker {}: {e}", member.name)),
                    }
                }
                Ok(Err(e)) => missing.push(format!("{} ({e})", member.name)),
                Err(_) => missing.push(format!(
                    "{} (no answer within {} ms)",
                    member.name,
                    ASSIGN_WAIT.as_millis()
                )),
            }
        }
        if !refused.is_empty() || !missing.is_empty() {
            cancel(
                client,
                &step_run,
                taken.iter().map(|(m, _)| m.name.as_str()),
            )
            .await;
        }
        if !refused.is_empty() {
            crate::bail!("{}", refused.join("; "));
        }
        if missing.is_empty() {
            break (start, taken, reports, step_run);
        }
        let gone: BTreeSet<String> = missing
            .iter()
            .map(|m| m.split(' ').next().unwrap_or("").to_string())
            .collect();
        members.retain(|m| !gone.contains(&m.name));
        if attempt >= START_ATTEMPTS || members.len() < fleet.min_workers {
            crate::bail!(
                "workers did not take their part in time: {}; {} left, --min-workers {}",
                missing.join(", "),
                members.len(),
                fleet.min_workers
            );
        }
        // The cancelled parts end (each worker says so) before the retry
        // gives those workers new ones.
        let mut ending: BTreeSet<String> = taken.iter().map(|(m, _)| m.name.clone()).collect();
        let wait = tokio::time::sleep(CANCEL_WAIT);
        tokio::pin!(wait);
        while !ending.is_empty() {
            tokio::select! {
                Some(message) = reports.next() => {
                    if let Ok(Report::Done { worker, .. }) = decode::<Report>(&message.payload, "worker report") {
                        ending.remove(&worker);
                    }
                }
                () = &mut wait => break,
            }
        }
    };

    let mut merger = Merger::new(
        &parts
            .iter()
            .map(|(member, a)| {
                (
                    member.name.clone(),
                    WorkerPart {
                        connections: a.connections,
                        rate_per_s: a.rate_per_s,
                        clock: (member.clock.offset_s, member.clock.uncertainty_s),
                    },
                )
            })
            .collect::<Vec<_>>(),
    );
    let names: BTreeSet<String> = parts.iter().map(|(m, _)| m.name.clone()).collect();
    let measure_start = start + plan.warmup;
    let deadline = match plan.stop {
        StopAt::Duration(d) => Some(measure_start + d + plan.timeout + END_GRACE),
        StopAt::Operations(_) => None,
    };
    let mut endings: BTreeMap<String, Ending> = BTreeMap::new();
    let mut last_heard: BTreeMap<String, Instant> =
        names.iter().map(|n| (n.clone(), Instant::now())).collect();
    let mut failure: Option<String> = None;
    let mut cancelled_at: Option<SystemTime> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last_progress = Instant::now();
    while endings.len() < names.len() {
        tokio::select! {
            Some(message) = reports.next() => {
                match decode::<Report>(&message.payload, "worker report") {
                    Ok(Report::Snapshot(snapshot)) => {
                        if merger.add(&snapshot) == Added::Merged {
                            last_heard.insert(snapshot.worker.clone(), Instant::now());
                        }
                    }
                    Ok(Report::Done { worker, step, protocol: p, error }) => {
                        if !names.contains(&worker) || endings.contains_key(&worker) {
                            continue;
                        }
                        if protocol.is_none() && !p.is_empty() {
                            *protocol = Some(p);
                        }
                        match (step, error) {
                            (Some(step), None) => {
                                endings.insert(worker, Ending::Finished(step));
                            }
                            (_, error) => {
                                let why = error.unwrap_or_else(|| "no step".into());
                                failure.get_or_insert_with(|| format!("worker {worker}: {why}"));
                                endings.insert(worker, Ending::Lost(why));
                            }
                        }
                    }
                    // A malformed report is dropped; the sender's heartbeat
                    // and end still decide its fate.
                    Err(_) => {}
                }
            }
            Some(message) = heartbeats.next() => {
                let Ok(hello) = decode::<Hello>(&message.payload, "heartbeat") else {
                    continue;
                };
                match instances.get(&hello.name) {
                    Some(instance) if *instance == hello.instance => {
                        last_heard.insert(hello.name, Instant::now());
                    }
                    // The same name, another process: the one that took
                    // the part is gone, whatever the name still says.
                    Some(_) if !endings.contains_key(&hello.name) => {
                        let snapshots = merger.workers().get(&hello.name).map_or(0, |w| w.snapshots);
                        endings.insert(hello.name, Ending::Lost(format!(
                            "it restarted mid-step, after {snapshots} snapshots"
                        )));
                    }
                    _ => {}
                }
            }
            _ = tick.tick() => {
                let now = SystemTime::now();
                if (control.is_stopped() || failure.is_some()) && cancelled_at.is_none() {
                    cancelled_at = Some(now);
                    cancel(client, &step_run, names.iter().filter(|n| !endings.contains_key(*n)).map(String::as_str)).await;
                }
                for name in &names {
                    if endings.contains_key(name) {
                        continue;
                    }
                    let silent = last_heard[name].elapsed();
                    let past_deadline = deadline.is_some_and(|d| now > d)
                        || cancelled_at.is_some_and(|c| now > c + plan.timeout.min(Duration::from_secs(2)) + END_GRACE);
                    if silent >= LOST_AFTER {
                        endings.insert(name.clone(), Ending::Lost(format!(
                            "no word from it for {} s, after {} snapshots",
                            LOST_AFTER.as_secs(),
                            merger.workers().get(name).map_or(0, |w| w.snapshots)
                        )));
                    } else if past_deadline {
                        endings.insert(name.clone(), Ending::Lost(
                            "its part did not end in time".to_string(),
                        ));
                    }
                }
                // The merged p99 sums every worker's histogram: once a second.
                if last_progress.elapsed() >= Duration::from_secs(1) {
                    last_progress = Instant::now();
                    on_progress(&live(&merger, plan, measure_start));
                }
            }
        }
    }
    merger.close();
    if let Some(failure) = failure {
        return Err(JobError::msg(failure));
    }
    let lost: BTreeSet<String> = endings
        .iter()
        .filter(|(_, e)| matches!(e, Ending::Lost(_)))
        .map(|(n, _)| n.clone())
        .collect();
    members.retain(|m| !lost.contains(&m.name));
    let frame = StepFrame {
        connections: plan.connections,
        rate_per_s: rate,
        started_at: humantime::format_rfc3339_millis(measure_start).to_string(),
        interval_s: plan.interval.as_secs_f64(),
        planned_s: match plan.stop {
            StopAt::Duration(d) => Some(d.as_secs_f64()),
            StopAt::Operations(_) => None,
        },
    };
    let mut step = merger.step(&frame, &endings);
    if control.is_stopped() {
        step.completed = false;
    }
    Ok(step)
}

/// Asks the named workers to stop the run's step now.
async fn cancel<'a>(client: &async_nats::Client, run: &str, names: impl Iterator<Item = &'a str>) {
    for name in names {
        let _ = client
            .publish(subject::worker(name, "cancel"), run.to_string().into())
            .await;
    }
    let _ = client.flush().await;
}

/// The live figures of a distributed step so far.
fn live(merger: &Merger, plan: &StepPlan, measure_start: SystemTime) -> LiveProgress {
    let now = SystemTime::now();
    let elapsed = now.duration_since(measure_start).unwrap_or_default();
    let responses = merger.responses();
    let errors: u64 = merger.intervals().values().map(|i| i.errors).sum();
    LiveProgress {
        warming_up: now < measure_start,
        elapsed,
        planned: match plan.stop {
            StopAt::Duration(d) => Some(d),
            StopAt::Operations(_) => None,
        },
        planned_operations: match plan.stop {
            StopAt::Operations(n) => Some(n),
            StopAt::Duration(_) => None,
        },
        responses,
        errors,
        rate_per_s: if elapsed.is_zero() {
            0.0
        } else {
            responses as f64 / elapsed.as_secs_f64()
        },
        p99_ms: {
            let latency = merger.latency_us();
            if latency.is_empty() {
                0.0
            } else {
                latency.value_at_quantile(0.99) as f64 / 1000.0
            }
        },
    }
}
