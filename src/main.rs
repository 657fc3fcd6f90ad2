//! The `scalewall` binary: parses arguments, wires the library crates
//! together, owns stdout/stderr and maps outcomes to exit codes.
//!
//! Exit codes: 0 success; 1 an error (bad input, unreachable target, every
//! operation failed, no USL fit possible, a file that cannot be written); 2 a
//! usage error (from the argument parser); 3, 4, 5 `scalewall run` found
//! MEDIUM, HIGH or CRITICAL findings (the worst decides); 130 interrupted by
//! Ctrl-C (results still printed and saved).

mod bench;
mod cli;
mod config;
mod host;
mod plan;
mod render;
mod run;

use anyhow::{bail, Context as _, Result};
use bench::{exec_command, install_ctrl_c, run_load, Endpoint, LoadRequest, ProtocolOptions};
use clap::Parser as _;
use cli::{
    BenchArgs, Cli, Command, DemoArgs, DemoServerArgs, FitArgs, OutputFormat, ProbeArgs,
    RequestArgs, SweepArgs,
};
use scalewall_demo::{DemoConfig, DemoState, RunningDemo, Stall};
use scalewall_load::engine::{Control, Pacing, StepPlan, StopAt};
use scalewall_load::target::Target;
use scalewall_load::transport::http1::RequestSpec;
use scalewall_model::{Run, RunStatus};
use scalewall_report::svg;
use scalewall_stats::{points_csv, sweep, usl};
use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Exit code after Ctrl-C.
pub const EXIT_INTERRUPTED: i32 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run_command(&args),
        Command::Init(args) => run::init_command(&args),
        Command::Validate(args) => run::validate_command(&args),
        Command::History(args) => run::history_command(&args),
        Command::Show(args) => run::show_command(&args),
        Command::Compare(args) => run::compare_command(&args),
        Command::Report(args) => run::report_command(&args),
        Command::Baseline(args) => run::baseline_command(&args),
        Command::Suite(args) => run::suite_command(&args),
        Command::Plan(args) => plan::plan_command(&args),
        Command::Bench(args) => bench_command(&args),
        Command::Sweep(args) => sweep_command(&args),
        Command::Fit(args) => fit_command(&args),
        Command::Probe(args) => probe_command(&args),
        Command::Demo(args) => demo_command(&args),
        Command::DemoServer(args) => demo_server_command(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("scalewall: error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn show_progress(no_progress: bool) -> bool {
    !no_progress && std::io::stderr().is_terminal()
}

/// Reads the request body named by the arguments.
fn request_body(args: &RequestArgs) -> Result<bytes::Bytes> {
    Ok(match (&args.body, &args.body_file) {
        (Some(text), _) => bytes::Bytes::from(text.clone().into_bytes()),
        (None, Some(path)) => bytes::Bytes::from(
            std::fs::read(path)
                .with_context(|| format!("cannot read --body-file {}", path.display()))?,
        ),
        (None, None) => bytes::Bytes::new(),
    })
}

/// Loads the target named by the request options through the planned
/// steps, with Ctrl-C stopping the load but keeping what was measured.
fn load_target(
    args: &RequestArgs,
    headers: &[(String, String)],
    params: &[cli::Param],
    no_progress: bool,
    plans: &[StepPlan],
) -> Result<Run> {
    let control = Control::new();
    install_ctrl_c(control.clone());
    load_target_with(args, headers, params, None, no_progress, plans, &control)
}

/// Loads the URL or the `--exec` command (with `swept` as the swept parameter's value).
fn load_target_with(
    args: &RequestArgs,
    headers: &[(String, String)],
    params: &[cli::Param],
    swept: Option<&str>,
    no_progress: bool,
    plans: &[StepPlan],
    control: &Control,
) -> Result<Run> {
    let target = args.url.as_deref().map(Target::parse).transpose()?;
    let endpoint = match (&target, &args.protocol.exec) {
        (Some(target), _) => Endpoint::Url(target),
        (None, Some(template)) => Endpoint::Exec(exec_command(template, params, swept)),
        (None, None) => bail!("give a target URL or --exec"),
    };
    let request = LoadRequest {
        endpoint,
        spec: RequestSpec {
            method: args.method.clone(),
            headers: headers.to_vec(),
            body: request_body(args)?,
        },
        http2: args.http2,
        insecure: args.insecure,
        progress: show_progress(no_progress),
        sample_interval: args.sample_interval,
        protocol: ProtocolOptions::from_args(&args.protocol),
    };
    run_load(&request, plans, control)
}

fn bench_command(args: &BenchArgs) -> Result<ExitCode> {
    let plan = cli::validate_bench(args, host::available_cores())?;
    let run = load_target(
        &args.request,
        &plan.headers,
        &plan.params,
        args.out.no_progress,
        &[plan.step],
    )?;
    let scenario = &run.scenarios[0];
    let Some(step) = scenario.steps.first() else {
        bail!("interrupted before any request was measured");
    };
    let printed = match args.out.output {
        OutputFormat::Text => render::bench_text(&run, scenario, step),
        OutputFormat::Json => render::bench_json(&run, scenario, step) + "\n",
    };
    print_stdout(&printed)?;
    if let Some(path) = &args.out.save {
        save_run(&run, path)?;
    }
    finish_code(&run)
}

fn sweep_command(args: &SweepArgs) -> Result<ExitCode> {
    let plan = cli::validate_sweep(args, host::available_cores())?;
    if let Some((name, values)) = &plan.swept {
        return param_sweep_command(args, &plan, name, values);
    }
    let run = load_target(
        &args.request,
        &plan.headers,
        &plan.params,
        args.out.no_progress,
        &plan.steps,
    )?;
    let scenario = &run.scenarios[0];
    let analysis = sweep::analyse(sweep::points_of(&scenario.steps));
    let fit = analysis.fit.as_ref();
    let rows = render::sweep_rows(&analysis.points, fit.ok());
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
            let mut text = render::usl_text(&heading, &rows, fit, &warnings, "req/s");
            if let Some(table) = render::sweep_resources_text(&scenario.steps) {
                text.push_str(&table);
            }
            text.push_str(&format!("  run            {}\n", run.id));
            text
        }
        OutputFormat::Json => {
            let mut doc = render::usl_json_value(Some(&run.id), &rows, fit, &warnings, "req/s");
            doc["resources"] = render::sweep_resources_json(&scenario.steps);
            serde_json::to_string_pretty(&doc).context("internal: sweep JSON")? + "\n"
        }
    };
    print_stdout(&printed)?;
    if let Some(path) = &args.out.save {
        save_run(&run, path)?;
    }
    if let (Some(path), Ok(fit)) = (&args.svg, fit) {
        let points: Vec<usl::Point> = rows
            .iter()
            .filter(|r| r.throughput > 0.0)
            .map(|r| usl::Point {
                concurrency: r.concurrency,
                throughput: r.throughput,
            })
            .collect();
        let title = format!("USL sweep of {}", scenario.target);
        write_atomically(
            path,
            svg::usl_chart(&title, &points, fit, "req/s").as_bytes(),
            "--svg",
        )?;
    }
    let code = finish_code(&run)?;
    if let Err(error) = fit {
        if code == ExitCode::SUCCESS {
            bail!("no USL fit: {error}");
        }
    }
    Ok(code)
}

/// `sweep --exec … --param NAME=V1,V2,…`: one step per value at one
/// concurrency, then the cost curve of the mean time per operation.
fn param_sweep_command(
    args: &SweepArgs,
    plan: &cli::SweepPlan,
    name: &str,
    values: &[f64],
) -> Result<ExitCode> {
    let control = Control::new();
    install_ctrl_c(control.clone());
    let swept_param = plan
        .params
        .iter()
        .find(|p| p.name == name)
        .context("internal: swept parameter missing")?;
    let mut run: Option<Run> = None;
    for ((value, text), step_plan) in values.iter().zip(&swept_param.values).zip(&plan.steps) {
        if control.is_stopped() {
            break;
        }
        let mut one = load_target_with(
            &args.request,
            &plan.headers,
            &plan.params,
            Some(text),
            args.out.no_progress,
            std::slice::from_ref(step_plan),
            &control,
        )?;
        let Some(mut step) = one.scenarios[0].steps.pop() else {
            break;
        };
        step.param_value = Some(*value);
        match &mut run {
            None => {
                one.scenarios[0].steps.push(step);
                let scenario = &mut one.scenarios[0];
                scenario.name = "sweep".into();
                scenario.target = format!(
                    "exec: {}",
                    args.request.protocol.exec.as_deref().unwrap_or("")
                );
                scenario.options.protocol_options.insert(
                    "exec".into(),
                    args.request.protocol.exec.clone().unwrap_or_default(),
                );
                scenario
                    .options
                    .protocol_options
                    .insert(format!("param.{name}"), swept_param.values.join(","));
                run = Some(one);
            }
            Some(run) => {
                run.scenarios[0].steps.push(step);
                run.finished_at = one.finished_at;
                if one.status == RunStatus::Interrupted {
                    run.status = RunStatus::Interrupted;
                }
            }
        }
    }
    let Some(run) = run else {
        bail!("interrupted before any value of --param {name} was measured");
    };
    let mut run = run;
    if control.is_stopped() {
        run.status = RunStatus::Interrupted;
    }
    finish_param_sweep(args, &run, name)
}

fn finish_param_sweep(args: &SweepArgs, run: &Run, name: &str) -> Result<ExitCode> {
    let scenario = &run.scenarios[0];
    let points: Vec<(f64, f64)> = scenario
        .steps
        .iter()
        .filter(|s| s.outcomes.responses > 0)
        .filter_map(|s| Some((s.param_value?, s.latency_us.mean() / 1000.0)))
        .collect();
    let fits = scalewall_stats::cost::fit(&points);
    let printed = match args.out.output {
        OutputFormat::Text => render::cost_text(
            run,
            name,
            fits.as_deref().ok(),
            &args.request.protocol.project,
        ),
        OutputFormat::Json => {
            render::cost_json(
                run,
                name,
                fits.as_deref().ok(),
                &args.request.protocol.project,
            ) + "\n"
        }
    };
    print_stdout(&printed)?;
    if let Some(path) = &args.out.save {
        save_run(run, path)?;
    }
    let code = finish_code(run)?;
    if let Err(error) = fits {
        if code == ExitCode::SUCCESS {
            bail!("no cost curve: {error}");
        }
    }
    Ok(code)
}

fn fit_command(args: &FitArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let points =
        points_csv::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let fit = usl::fit(&points).map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let warnings = sweep::fit_warnings(&points, &Ok(fit.clone()));
    let rows = render::point_rows(&points, Some(&fit));
    let printed = match args.output {
        OutputFormat::Text => render::usl_text(
            &format!(
                "scalewall fit {} — {} points",
                args.file.display(),
                points.len()
            ),
            &rows,
            Ok(&fit),
            &warnings,
            &args.unit,
        ),
        OutputFormat::Json => render::usl_json(None, &rows, Ok(&fit), &warnings, &args.unit) + "\n",
    };
    print_stdout(&printed)?;
    for warning in &warnings {
        eprintln!("scalewall: warning: {warning}");
    }
    if let Some(path) = &args.svg {
        let title = format!("USL fit of {}", args.file.display());
        write_atomically(
            path,
            svg::usl_chart(&title, &points, &fit, &args.unit).as_bytes(),
            "--svg",
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The exit code for a finished run: interrupted, all failed, or success.
fn finish_code(run: &Run) -> Result<ExitCode> {
    if run.status == RunStatus::Interrupted {
        return Ok(ExitCode::from(EXIT_INTERRUPTED as u8));
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
    Ok(ExitCode::SUCCESS)
}

fn print_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write results to stdout")
}

fn probe_command(args: &ProbeArgs) -> Result<ExitCode> {
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
    let snapshot = scalewall_probe::snapshot::take(&spec, args.interval)?;
    let printed = match args.output {
        OutputFormat::Text => render::probe_text(&snapshot),
        OutputFormat::Json => {
            serde_json::to_string_pretty(&snapshot).context("internal: probe JSON")? + "\n"
        }
    };
    print_stdout(&printed)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes to a temporary name beside `path`, then renames, so a full disk
/// never leaves a truncated file behind.
fn write_atomically(path: &Path, bytes: &[u8], what: &str) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| {
            format!(
                "cannot write {what} {} (results were printed above)",
                path.display()
            )
        })
}

/// Saves the run record (`--save`).
fn save_run(run: &Run, path: &Path) -> Result<()> {
    write_atomically(path, run.to_json().as_bytes(), "the run record to")
}

/// The demo target's settings: a curve with a visible wall near 35 clients.
const DEMO_TARGET: DemoConfig = DemoConfig {
    latency: Duration::from_millis(2),
    sigma: 0.03,
    kappa: 0.0008,
    error_rate: 0.0,
    stall: None,
};

/// A plain GET of the built-in target, sampled once a second.
fn built_in_request(target: &Target, progress: bool) -> LoadRequest<'_> {
    LoadRequest {
        endpoint: Endpoint::Url(target),
        spec: RequestSpec::default(),
        http2: false,
        insecure: false,
        progress,
        sample_interval: Duration::from_secs(1),
        protocol: ProtocolOptions::default(),
    }
}

fn demo_command(args: &DemoArgs) -> Result<ExitCode> {
    let server = RunningDemo::start(([127, 0, 0, 1], 0).into(), DEMO_TARGET, 1)
        .context("cannot start the demo server on 127.0.0.1")?;
    let target = Target::parse(&server.url())?;
    let request = built_in_request(&target, show_progress(args.no_progress));
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
    install_ctrl_c(control.clone());
    let run = run_load(&request, &[plan], &control)?;
    let scenario = &run.scenarios[0];
    let Some(step) = scenario.steps.first() else {
        bail!("interrupted before any request was measured");
    };
    let served = server.requests_served();
    let counted = step.responses_with_warmup();
    let expected = DEMO_TARGET
        .expected_throughput(step.concurrency)
        .unwrap_or(0.0);
    let deviation = if expected > 0.0 {
        (step.achieved_rate_per_s / expected - 1.0) * 100.0
    } else {
        0.0
    };
    let printed = match args.output {
        OutputFormat::Text => {
            let mut text = render::bench_text(&run, scenario, step);
            text.push_str(&format!(
                "\nknown answer: the demo server holds each request {} ms × (1 + {}(n−1) + {}·n(n−1)) with n in flight,\n\
                 so {} connections should see {} req/s (Universal Scalability Law); measured {} req/s ({deviation:+.1} %).\n\
                 the server counted {} requests; scalewall counted {} ({}).\n",
                DEMO_TARGET.latency.as_secs_f64() * 1000.0,
                DEMO_TARGET.sigma,
                DEMO_TARGET.kappa,
                step.concurrency,
                render::group_f(expected, 1),
                render::group_f(step.achieved_rate_per_s, 1),
                render::group(served),
                render::group(counted),
                if served == counted { "match" } else { "MISMATCH" },
            ));
            text
        }
        OutputFormat::Json => {
            let bench: serde_json::Value =
                serde_json::from_str(&render::bench_json(&run, scenario, step))
                    .context("internal: bench JSON")?;
            let doc = serde_json::json!({
                "bench": bench,
                "known_answer": {
                    "expected_rps": expected,
                    "deviation_pct": deviation,
                    "server_requests": served,
                    "client_requests": counted,
                }
            });
            serde_json::to_string_pretty(&doc).context("internal: demo JSON")? + "\n"
        }
    };
    print_stdout(&printed)?;
    drop(server);
    finish_code(&run)
}

fn demo_server_command(args: &DemoServerArgs) -> Result<ExitCode> {
    let config = DemoConfig {
        latency: args.latency,
        sigma: args.sigma,
        kappa: args.kappa,
        error_rate: args.error_rate,
        stall: match (args.stall_after, args.stall_for) {
            (Some(after), Some(duration)) => Some(Stall { after, duration }),
            _ => None,
        },
    };
    config.validate()?;
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
            "demo-server listening on http://{addr}/ (latency {}, sigma {}, kappa {}, error rate {})\n  WebSocket echo on ws://{addr}/ws\n",
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
