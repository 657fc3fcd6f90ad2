//! The analysis commands that load nothing: `fit` (the USL fitted to a CSV
//! of measurements) and `plan` (the capacity plan from the config and the
//! latest stored run).

use crate::cli::{FitArgs, OutputFormat, PlanArgs};
use crate::output::{check_writable, print_stdout, write_file};
use anyhow::{anyhow, bail, Context as _, Result};
use scalewall_history::History;
use scalewall_job::job::{history_path, read_config};
use scalewall_job::plan::{build, parse_scales};
use scalewall_report::plan::{json, markdown};
use scalewall_report::{svg, usl_table};
use scalewall_stats::{points_csv, sweep, usl};
use std::process::ExitCode;

/// `scalewall fit`.
pub fn fit_command(args: &FitArgs) -> Result<ExitCode> {
    check_writable(&[(args.svg.as_deref(), "--svg")])?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let points =
        points_csv::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let fit = usl::fit(&points).map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let warnings = sweep::fit_warnings(&points, &Ok(fit.clone()));
    let rows = usl_table::point_rows(&points, Some(&fit));
    let printed = match args.output {
        OutputFormat::Text => usl_table::usl_text(
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
        OutputFormat::Json => {
            usl_table::usl_json(None, &rows, Ok(&fit), &warnings, &args.unit) + "\n"
        }
    };
    print_stdout(&printed)?;
    for warning in &warnings {
        eprintln!("scalewall: warning: {warning}");
    }
    if let Some(path) = &args.svg {
        let title = format!("USL fit of {}", args.file.display());
        write_file(
            path,
            svg::usl_chart(&title, &points, &fit, &args.unit).as_bytes(),
            "--svg",
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `scalewall plan`.
pub fn plan_command(args: &PlanArgs) -> Result<ExitCode> {
    let path = args
        .config
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("scalewall.toml"));
    let config = read_config(&path)?;
    let Some(plan_config) = &config.plan else {
        bail!(
            "{} has no [plan] section (see `scalewall init` for an example)",
            path.display()
        );
    };
    let history_path = history_path(args.history.history.as_deref(), Some(&config));
    if !scalewall_history::is_database_url(&history_path) && !history_path.exists() {
        bail!(
            "no history at {}: run `scalewall run -f {}` first to measure the capacities",
            history_path.display(),
            path.display()
        );
    }
    let history = History::open(&history_path)?;
    let latest = history.latest_completed(&config.name)?.ok_or_else(|| {
        anyhow!(
            "no completed run of '{}' in {}",
            config.name,
            scalewall_history::shown(&history_path)
        )
    })?;
    let run = history.load(&latest)?;
    let scales = if args.scale.is_empty() {
        plan_config.scales.clone()
    } else {
        parse_scales(&args.scale)?
    };
    let report = build(&config, plan_config, &scales, &run, Some(&history))?;
    let printed = match args.output {
        OutputFormat::Text => markdown(&report),
        OutputFormat::Json => serde_json::to_string_pretty(&json(&report))? + "\n",
    };
    print_stdout(&printed)?;
    Ok(ExitCode::SUCCESS)
}
