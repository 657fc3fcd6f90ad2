//! The load commands: `bench` (one step, like wrk or oha), `sweep`
//! (concurrency levels and the USL fit, or an `--exec --param` cost curve),
//! `demo` (the built-in target with its known answer) and `demo-server`.

use crate::cli::{BenchArgs, DemoArgs, DemoServerArgs, OutputFormat, StoreArgs, SweepArgs};
use crate::exit::{self, Signals};
use crate::output::{check_writable, print_stdout, save_run, write_file};
use crate::progress::Terminal;
use anyhow::{bail, Context as _, Result};
use scalewall_demo::{DemoConfig, DemoState, RunningDemo, Stall};
use scalewall_history::History;
use scalewall_job::builtin::{self, DEMO_TARGET};
use scalewall_job::compare::stored_metrics;
use scalewall_job::findings;
use scalewall_job::host;
use scalewall_job::job::history_path;
use scalewall_job::load::{interrupted, load_args, run_load};
use scalewall_job::record::{new_run, SystemClock};
use scalewall_job::scenario::{self, SearchPlan, SweepPlan};
use scalewall_job::search::run_search;
use scalewall_load::engine::{Control, Pacing, StepPlan, StopAt};
use scalewall_load::target::Target;
use scalewall_model::{Run, RunStatus, Scenario};
use scalewall_report::number::{self, group};
use scalewall_report::search as search_report;
use scalewall_report::{bench, cost, svg, usl_table};
use scalewall_stats::sweep;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// The one run record of a load command, around its measured scenario;
/// its subject is the command's name.
fn run_of(subject: &str, started: SystemTime, control: &Control, scenario: Scenario) -> Run {
    let status = if interrupted(control, &scenario) {
        RunStatus::Interrupted
    } else {
        RunStatus::Completed
    };
    // A long step's target memory that kept growing is a finding of the
    // stored run, as in `run`.
    let findings = findings::leaks(&scenario);
    Run {
        subject: Some(subject.to_string()),
        findings,
        ..new_run(&SystemClock, started, status, vec![scenario])
    }
}

/// `scalewall bench`.
pub fn bench_command(args: &BenchArgs) -> Result<ExitCode> {
    let plan = scenario::validate_bench(args, host::available_cores())?;
    check_writable(&[(args.out.save.as_deref(), "--save")])?;
    let control = Control::new();
    let signals = exit::on_stop_signals(control.clone());
    let started = SystemTime::now();
    let observer = Terminal::observer(args.out.no_progress);
    let scenario = load_args(
        &args.request,
        &[],
        &plan.headers,
        &plan.params,
        None,
        &[plan.step],
        &control,
        observer.as_ref(),
    )?;
    let run = run_of("bench", started, &control, scenario);
    if run.scenarios[0].steps.is_empty() {
        bail!("interrupted before any request was measured");
    }
    let scenario = &run.scenarios[0];
    let step = &scenario.steps[0];
    let printed = match args.out.output {
        OutputFormat::Text => bench::bench_text(&run, scenario, step),
        OutputFormat::Json => bench::bench_json(&run, scenario, step) + "\n",
    };
    print_stdout(&printed)?;
    keep(&run, &args.out.store)?;
    if let Some(path) = &args.out.save {
        save_run(&run, path)?;
    }
    finish_code(&run, &signals)
}

/// `scalewall sweep`.
pub fn sweep_command(args: &SweepArgs) -> Result<ExitCode> {
    let plan = scenario::validate_sweep(args, host::available_cores())?;
    check_writable(&[
        (args.out.save.as_deref(), "--save"),
        (args.svg.as_deref(), "--svg"),
    ])?;
    let control = Control::new();
    let signals = exit::on_stop_signals(control.clone());
    if let Some((name, _)) = &plan.swept {
        return param_sweep_command(args, &plan, name, &control, &signals);
    }
    if let Some(search) = &plan.search {
        return search_command(args, &plan, search, &control, &signals);
    }
    let started = SystemTime::now();
    let observer = Terminal::observer(args.out.no_progress);
    let scenario = load_args(
        &args.request,
        &[],
        &plan.headers,
        &plan.params,
        None,
        &plan.steps,
        &control,
        observer.as_ref(),
    )?;
    let run = run_of("sweep", started, &control, scenario);
    let scenario = &run.scenarios[0];
    let analysis = sweep::analyse(sweep::points_of(&scenario.steps));
    let fit = analysis.fit.as_ref();
    let rows = usl_table::sweep_rows(&analysis.points, fit.ok());
    let mut warnings = analysis.warnings.clone();
    if run.status == RunStatus::Interrupted {
        warnings.insert(
            0,
            format!(
                "interrupted: {} of {} levels measured",
                scenario.steps.len(),
                plan.steps.len()
            ),
        );
    }
    let unit = number::rate_unit(&scenario.protocol);
    let printed = match args.out.output {
        OutputFormat::Text => {
            let heading = format!(
                "scalewall sweep {} — closed model, {} levels × {} (warm-up {}), {}",
                scenario.target,
                plan.steps.len(),
                humantime::format_duration(args.step),
                humantime::format_duration(args.warmup),
                scenario.protocol
            );
            let mut text = usl_table::usl_text(&heading, &rows, fit, &warnings, unit);
            if let Some(evidence) = sweep::wall_evidence(&scenario.steps) {
                text.push_str(&format!("why the wall stands there: {evidence}\n"));
            }
            if let Some(table) = bench::sweep_resources_text(&scenario.steps) {
                text.push_str(&table);
            }
            text.push_str(&format!("  run            {}\n", run.id));
            text
        }
        OutputFormat::Json => {
            let mut doc = usl_table::usl_json_value(Some(&run.id), &rows, fit, &warnings, unit);
            doc["resources"] = bench::sweep_resources_json(&scenario.steps);
            doc["wall_evidence"] = sweep::wall_evidence(&scenario.steps).into();
            serde_json::to_string_pretty(&doc).context("internal: sweep JSON")? + "\n"
        }
    };
    print_stdout(&printed)?;
    keep(&run, &args.out.store)?;
    if let Some(path) = &args.out.save {
        save_run(&run, path)?;
    }
    if let (Some(path), Ok(fit)) = (&args.svg, fit) {
        let points = sweep::fit_points(&analysis.points);
        let title = format!("USL sweep of {}", scenario.target);
        write_file(
            path,
            svg::usl_chart(&title, &points, fit, unit).as_bytes(),
            "--svg",
        )?;
    }
    let code = finish_code(&run, &signals)?;
    if let Err(error) = fit {
        if code == ExitCode::SUCCESS {
            bail!("no USL fit: {error}");
        }
    }
    Ok(code)
}

/// `sweep --until-peak` and `sweep --slo …`: the levels a search picks,
/// each in the table with whether it met the SLOs, the answer with its
/// bracket, and for a closed-model search the USL fit of its levels.
fn search_command(
    args: &SweepArgs,
    plan: &SweepPlan,
    search: &SearchPlan,
    control: &Control,
    signals: &Signals,
) -> Result<ExitCode> {
    let started = SystemTime::now();
    let observer = Terminal::observer(args.out.no_progress);
    let scenario = run_search(
        search,
        &args.request,
        &plan.headers,
        &plan.params,
        control,
        observer.as_ref(),
    )?;
    drop(observer);
    let run = run_of("sweep", started, control, scenario);
    let scenario = &run.scenarios[0];
    let record = scenario
        .search
        .as_ref()
        .context("internal: a search without its record")?;
    let unit = number::rate_unit(&scenario.protocol);
    // The USL fit of a closed-model search's levels (an open-model
    // search's levels are rates).
    let analysis = (record.model == "closed").then(|| {
        let mut steps = scenario.steps.clone();
        steps.sort_by_key(|s| s.concurrency);
        sweep::analyse(sweep::points_of(&steps))
    });
    let printed = match args.out.output {
        OutputFormat::Text => {
            let mut text = format!(
                "scalewall sweep {} — {}, steps of {} (warm-up {}), {}\n",
                scenario.target,
                search_report::heading(record),
                humantime::format_duration(args.step),
                humantime::format_duration(args.warmup),
                scenario.protocol
            );
            text.push_str(&search_report::text(scenario, record, unit));
            if let Some(analysis) = analysis.as_ref().filter(|a| a.fit.is_ok()) {
                let rows = usl_table::sweep_rows(&analysis.points, analysis.fit.as_ref().ok());
                text.push_str(&usl_table::usl_text(
                    "the USL fit of the measured levels",
                    &rows,
                    analysis.fit.as_ref(),
                    &analysis.warnings,
                    unit,
                ));
            }
            text.push_str(&format!("  run            {}\n", run.id));
            text
        }
        OutputFormat::Json => {
            let mut doc = match &analysis {
                Some(analysis) => {
                    let rows = usl_table::sweep_rows(&analysis.points, analysis.fit.as_ref().ok());
                    usl_table::usl_json_value(
                        Some(&run.id),
                        &rows,
                        analysis.fit.as_ref(),
                        &analysis.warnings,
                        unit,
                    )
                }
                None => serde_json::json!({ "run_id": run.id }),
            };
            let search_doc = search_report::json(scenario, record);
            let key = if record.kind == "capacity" {
                "capacity"
            } else {
                "search"
            };
            doc[key] = search_doc;
            serde_json::to_string_pretty(&doc).context("internal: sweep JSON")? + "\n"
        }
    };
    print_stdout(&printed)?;
    keep(&run, &args.out.store)?;
    if let Some(path) = &args.out.save {
        save_run(&run, path)?;
    }
    if let (Some(path), Some(Ok(fit))) = (&args.svg, analysis.as_ref().map(|a| &a.fit)) {
        let points = sweep::fit_points(&analysis.as_ref().map_or(vec![], |a| a.points.clone()));
        let title = format!("USL search of {}", scenario.target);
        write_file(
            path,
            svg::usl_chart(&title, &points, fit, unit).as_bytes(),
            "--svg",
        )?;
    }
    finish_code(&run, signals)
}

/// `sweep --exec … --param NAME=V1,V2,…`: one step per value at one
/// concurrency, then the cost curve of the mean time per operation.
fn param_sweep_command(
    args: &SweepArgs,
    plan: &SweepPlan,
    name: &str,
    control: &Control,
    signals: &Signals,
) -> Result<ExitCode> {
    let started = SystemTime::now();
    let observer = Terminal::observer(args.out.no_progress);
    let swept =
        scalewall_job::load::load_param_sweep(&args.request, plan, control, observer.as_ref())?;
    let Some(scenario) = swept else {
        bail!("interrupted before any value of --param {name} was measured");
    };
    let run = run_of("sweep", started, control, scenario);
    finish_param_sweep(args, run, name, signals)
}

fn finish_param_sweep(
    args: &SweepArgs,
    run: Run,
    name: &str,
    signals: &Signals,
) -> Result<ExitCode> {
    let scenario = &run.scenarios[0];
    let points: Vec<(f64, f64)> = scenario
        .steps
        .iter()
        .filter(|s| s.outcomes.responses > 0)
        .filter_map(|s| Some((s.param_value?, s.latency_us.mean() / 1000.0)))
        .collect();
    let fits = scalewall_stats::cost::fit(&points);
    let project = &args.request.protocol.project;
    let printed = match args.out.output {
        OutputFormat::Text => cost::cost_text(&run, name, fits.as_deref().ok(), project),
        OutputFormat::Json => cost::cost_json(&run, name, fits.as_deref().ok(), project) + "\n",
    };
    print_stdout(&printed)?;
    keep(&run, &args.out.store)?;
    if let Some(path) = &args.out.save {
        save_run(&run, path)?;
    }
    let code = finish_code(&run, signals)?;
    if let Err(error) = fits {
        if code == ExitCode::SUCCESS {
            bail!("no cost curve: {error}");
        }
    }
    Ok(code)
}

/// Stores a load command's run in the history (unless `--no-history`), so
/// the id it printed leads somewhere.
fn keep(run: &Run, store: &StoreArgs) -> Result<()> {
    if store.no_history {
        return Ok(());
    }
    let path = history_path(store.history.as_deref(), None);
    let metrics = scalewall_stats::metrics::of_run(run);
    History::open(&path)
        .and_then(|mut h| h.store(run, &stored_metrics(&metrics)))
        .map_err(|e| anyhow::anyhow!("the run was printed but not stored: {e}"))
}

/// The exit code for a finished load: stopped, all failed, or success.
fn finish_code(run: &Run, signals: &Signals) -> Result<ExitCode> {
    if run.status == RunStatus::Interrupted {
        return Ok(signals.stopped_code());
    }
    for scenario in &run.scenarios {
        for step in &scenario.steps {
            if step.outcomes.responses == 0 && step.outcomes.errors_total() > 0 {
                let first = step
                    .error_examples
                    .iter()
                    .next()
                    .map(|(kind, message)| format!(" (first {kind}: {message})"))
                    .unwrap_or_default();
                bail!(
                    "{}: every one of {} operations failed{first}",
                    scenario.target,
                    step.outcomes.operations()
                );
            }
        }
    }
    let lost: Vec<_> = run
        .scenarios
        .iter()
        .flat_map(findings::lost_workers)
        .collect();
    for finding in &lost {
        eprintln!(
            "scalewall: degraded: {} ({}); fix: {}",
            finding.message, finding.evidence, finding.fix
        );
    }
    Ok(exit::for_findings(findings::worst(&lost)))
}

/// `scalewall demo`.
pub fn demo_command(args: &DemoArgs) -> Result<ExitCode> {
    let server = RunningDemo::start(([127, 0, 0, 1], 0).into(), DEMO_TARGET, 1)
        .context("cannot start the demo server on 127.0.0.1")?;
    let target = Target::parse(&server.url())?;
    let request = builtin::request(&target);
    let plan = StepPlan {
        connections: args.connections.max(1),
        pacing: Pacing::Closed,
        stop: StopAt::Duration(args.duration),
        warmup: Duration::ZERO,
        timeout: Duration::from_secs(10),
        threads: 1,
        interval: Duration::from_secs(1),
    };
    let control = Control::new();
    let signals = exit::on_stop_signals(control.clone());
    let started = SystemTime::now();
    let observer = Terminal::observer(args.no_progress);
    let scenario = run_load(&request, &[plan], &control, observer.as_ref())?;
    let run = run_of("demo", started, &control, scenario);
    if run.scenarios[0].steps.is_empty() {
        bail!("interrupted before any request was measured");
    }
    let scenario = &run.scenarios[0];
    let step = &scenario.steps[0];
    let served = server.requests_served();
    let counted = step.responses_with_warmup();
    let expected = DEMO_TARGET
        .expected_throughput(step.concurrency)
        .unwrap_or(0.0);
    let deviation = if expected > 0.0 {
        step.achieved_rate_per_s / expected - 1.0
    } else {
        0.0
    };
    let printed = match args.output {
        OutputFormat::Text => {
            let mut text = bench::bench_text(&run, scenario, step);
            text.push_str(&format!(
                "\nknown answer: the demo server holds each request {} ms × (1 + {}(n−1) + {}·n(n−1)) with n in flight,\n\
                 so {} connections should see {} req/s (Universal Scalability Law); measured {} req/s ({}).\n\
                 the server counted {} requests; scalewall counted {} ({}).\n",
                DEMO_TARGET.latency.as_secs_f64() * 1000.0,
                DEMO_TARGET.sigma,
                DEMO_TARGET.kappa,
                step.concurrency,
                number::sig(expected),
                number::sig(step.achieved_rate_per_s),
                number::change(deviation),
                group(served),
                group(counted),
                if served == counted { "match" } else { "MISMATCH" },
            ));
            text
        }
        OutputFormat::Json => {
            let bench: serde_json::Value =
                serde_json::from_str(&bench::bench_json(&run, scenario, step))
                    .context("internal: bench JSON")?;
            let doc = serde_json::json!({
                "bench": bench,
                "known_answer": {
                    "expected_rps": expected,
                    "deviation_pct": deviation * 100.0,
                    "server_requests": served,
                    "client_requests": counted,
                }
            });
            serde_json::to_string_pretty(&doc).context("internal: demo JSON")? + "\n"
        }
    };
    print_stdout(&printed)?;
    keep(&run, &args.store)?;
    drop(server);
    finish_code(&run, &signals)
}

/// `scalewall demo-server`.
pub fn demo_server_command(args: &DemoServerArgs) -> Result<ExitCode> {
    let config = DemoConfig {
        latency: args.latency,
        sigma: args.sigma,
        kappa: args.kappa,
        error_rate: args.error_rate,
        bad_body_rate: args.bad_body_rate,
        stall: match (args.stall_after, args.stall_for) {
            (Some(after), Some(duration)) => Some(Stall { after, duration }),
            _ => None,
        },
    };
    config.validate()?;
    if let Some(rate) = args.leak {
        scalewall_demo::leak::start(rate).context("cannot start the leak thread")?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .thread_name("demo-server")
        .enable_all()
        .build()
        .context("cannot start the demo server runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr().context("cannot read the bound address")?;
        let state = DemoState::new(config).context("cannot start the hold timer")?;
        // One write: a test that reads the first line may close the pipe after it.
        let mut banner = format!(
            "demo-server listening on http://{addr}/ (latency {}, sigma {}, kappa {}, error rate {})\n  WebSocket echo on ws://{addr}/ws\n  Server-Sent Events on http://{addr}/stream?events=10&gap=5ms\n",
            humantime::format_duration(config.latency),
            config.sigma,
            config.kappa,
            config.error_rate
        );
        let echo = match args.echo_listen {
            Some(echo_addr) => {
                let echo = tokio::net::TcpListener::bind(echo_addr)
                    .await
                    .with_context(|| format!("cannot listen on {echo_addr} (--echo-listen)"))?;
                banner.push_str(&format!(
                    "  TCP echo on tcp://{}\n",
                    echo.local_addr().context("cannot read the echo address")?
                ));
                Some(echo)
            }
            None => None,
        };
        print!("{banner}");
        let _ = std::io::stdout().flush();
        let echo_serving = async {
            match echo {
                Some(listener) => scalewall_demo::echo::serve_tcp_echo(listener).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = scalewall_demo::serve(listener, state) => result.context("demo server stopped"),
            result = echo_serving => result.context("TCP echo stopped"),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
