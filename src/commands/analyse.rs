//! The analysis commands that load nothing: `fit` (the USL fitted to a CSV
//! of measurements) and `plan` (the capacity plan from the config and the
//! latest stored run).

use crate::cli::{FitArgs, OutputFormat, PlanArgs};
use crate::output::{check_writable, print_stdout, write_file};
use anyhow::{bail, Context as _, Result};
use scalewall_history::History;
use scalewall_job::job::{history_path, read_config};
use scalewall_job::plan::{build, parse_scales, plan_run};
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
    let history = if scalewall_history::is_database_url(&history_path) || history_path.exists() {
        Some(History::open(&history_path)?)
    } else {
        None
    };
    // Measured capacities come from the config's runs or its watch jobs';
    // a plan of declared capacities needs no run.
    let (run, taken_from) =
        plan_run(history.as_ref(), &config, plan_config).with_context(|| {
            format!(
                "history {}: run `scalewall run -f {}` (or `scalewall watch`) first",
                scalewall_history::shown(&history_path),
                path.display()
            )
        })?;
    let scales = if args.scale.is_empty() {
        plan_config.scales.clone()
    } else {
        parse_scales(&args.scale)?
    };
    let report = build(&config, plan_config, &scales, &run, history.as_ref())?;
    let printed = match args.output {
        OutputFormat::Text => {
            let mut text = markdown(&report);
            for (scenario, id, subject) in &taken_from {
                text.push_str(&format!(
                    "Capacity of `{scenario}` from run `{id}` (of `{subject}`).\n"
                ));
            }
            text
        }
        OutputFormat::Json => {
            let mut doc = json(&report);
            doc["capacity_runs"] = taken_from
                .iter()
                .map(|(scenario, id, subject)| {
                    serde_json::json!({"scenario": scenario, "run_id": id, "subject": subject})
                })
                .collect::<Vec<_>>()
                .into();
            serde_json::to_string_pretty(&doc)? + "\n"
        }
    };
    print_stdout(&printed)?;
    Ok(ExitCode::SUCCESS)
}
