//! The capacity plan end to end: three demo-servers with known USL
//! coefficients stand in for three components; `scalewall run` sweeps them
//! and `scalewall plan` must find that the one with the worst κ breaks
//! first, at the scale computed by hand from its true curve.

mod common;

use common::{demo_server_child, f, json, scalewall};
use std::path::Path;

/// X(N*) of demo-server's curve, by hand: N* = √((1 − σ)/κ),
/// X = N* / (latency · (1 + σ(N* − 1) + κN*(N* − 1))).
fn true_peak(latency_s: f64, sigma: f64, kappa: f64) -> f64 {
    let n = ((1.0 - sigma) / kappa).sqrt();
    n / (latency_s * (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0)))
}

/// `scalewall plan -f CONFIG --history HISTORY EXTRA…`.
fn plan_of(config: &Path, history: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "plan",
        "-f",
        config.to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    scalewall(&args)
}

/// The plan's JSON; the command must succeed.
fn plan_json(config: &Path, history: &Path) -> serde_json::Value {
    let out = plan_of(config, history, &["-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out)
}

#[test]
fn the_component_with_the_worst_kappa_breaks_first_where_the_hand_calculation_says() {
    let curves = [
        ("worst", 0.02, 0.01),
        ("mid", 0.02, 0.001),
        ("flat", 0.05, 0.0),
    ];
    let mut servers = Vec::new();
    let mut config = String::from("name = \"plan-e2e\"\n");
    for (name, sigma, kappa) in curves {
        let (server, port) = demo_server_child(&[
            "--latency",
            "2ms",
            "--sigma",
            &sigma.to_string(),
            "--kappa",
            &kappa.to_string(),
        ]);
        servers.push(server);
        config.push_str(&format!(
            "[[service]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:{port}/\"\n\
             [[scenario]]\nname = \"{name}-sweep\"\nservice = \"{name}\"\nkind = \"sweep\"\n\
             concurrency = [1, 2, 4, 8, 16, 32]\nstep = \"700ms\"\nwarmup = \"200ms\"\n"
        ));
    }
    config.push_str("[plan]\nscales = { agents = [100, 200, 300, 600] }\n[[plan.driver]]\nname = \"agents\"\ncurrent = 10\n");
    for (name, _, _) in curves {
        config.push_str(&format!(
            "[[plan.component]]\nservice = \"{name}\"\ndemand = {{ agents = \"10/s\" }}\ncapacity_from = \"{name}-sweep\"\ncost_per_instance = 10\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("scalewall.toml");
    std::fs::write(&config_path, &config).unwrap();
    let history = dir.path().join("h.db");
    let reports = dir.path().join("reports");
    let (cfg, hist, rep) = (
        config_path.to_str().unwrap(),
        history.to_str().unwrap(),
        reports.to_str().unwrap(),
    );
    let out = scalewall(&[
        "run",
        "-f",
        cfg,
        "--history",
        hist,
        "--report-dir",
        rep,
        "-o",
        "json",
        "--no-progress",
    ]);
    let report = json(&out);
    assert!(
        report["plan"]["components"].is_array(),
        "the run's JSON report has the plan: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(
        reports.join(format!("{}.html", report["run_id"].as_str().unwrap())),
    )
    .unwrap();
    assert!(
        html.contains("Capacity plan") && html.contains("Utilisation of each component vs agents")
    );
    // Issue 21, item 6: `report RUN` lost the plan, its chart and the
    // artifacts; rendered again, each report is the one the run wrote.
    let id = report["run_id"].as_str().unwrap();
    for (format, ext) in [("md", "md"), ("json", "json"), ("html", "html")] {
        let again = scalewall(&["report", id, "--history", hist, "--format", format]);
        let written = std::fs::read_to_string(reports.join(format!("{id}.{ext}"))).unwrap();
        assert_eq!(String::from_utf8_lossy(&again.stdout), written, "{format}");
    }

    let out = scalewall(&["plan", "-f", cfg, "--history", hist, "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan = json(&out);
    let breaks: Vec<(String, f64)> = plan["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            Some((
                c["name"].as_str()?.to_string(),
                c["breaks_at"]["agents"].as_f64()?,
            ))
        })
        .collect();
    let first = breaks
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or_else(|| panic!("nothing breaks: {plan:#}"));
    assert_eq!(first.0, "worst", "{breaks:?}");
    // 10 req/s per agent against the true X(N*) of σ 0.02, κ 0.01, 2 ms: ≈ 240 agents
    let expected = true_peak(0.002, 0.02, 0.01) / 10.0;
    eprintln!(
        "worst breaks at {:.1} agents, hand calculation {expected:.1} ({:+.1} %)",
        first.1,
        100.0 * (first.1 / expected - 1.0)
    );
    // On an idle machine this reads 2.5-3.2 % low (four runs). The three
    // sweeps share 2 cores with their three servers, and one CI run on a
    // disturbed host read every curve slower (σ fitted 0.07 for 0.02, the
    // mid curve's κ 0 for 0.001) and this figure 17 % low, though `worst`
    // still broke first: the bound allows a host that slow.
    assert!(
        (first.1 / expected - 1.0).abs() < 0.25,
        "breaks at {} agents, hand calculation {expected:.1}: {plan:#}",
        first.1
    );
    // its recommendation names κ and the scale it bites at
    let recs = plan["recommendations"].as_array().unwrap();
    let worst = recs
        .iter()
        .find(|r| r["component"] == "worst")
        .expect("a recommendation for the worst component");
    let text = worst["text"].as_str().unwrap();
    assert!(text.contains("κ = ") && text.contains("agents"), "{text}");
    // the wall: at 300 agents the worst breaks, but only it → the wall is where a second joins
    let wall = plan["wall"]["agents"].as_f64();
    assert!(wall.is_some_and(|w| w >= 300.0), "{plan:#}");
    assert!(f(&plan, "/health_score") <= 10.0);
    // the text form is the report's Markdown section
    let out = scalewall(&[
        "plan",
        "-f",
        cfg,
        "--history",
        hist,
        "--scale",
        "agents=100,250",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("## Capacity plan") && text.contains("| worst (stateless ×1)"),
        "{text}"
    );
    drop(servers);
}

#[test]
fn growth_over_stored_runs_projects_the_crossing_day_of_a_known_slope() {
    use scalewall_history::{History, StoredMetric};
    use scalewall_model::Run;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let mut history = History::open(&db).unwrap();
    // cache memory grows 5 MB a day from 100 MB (±1 MB of noise), one run a day
    for day in 0..10u32 {
        let run = Run {
            schema_version: scalewall_model::SCHEMA_VERSION,
            id: format!("growth-{day:02}"),
            started_at: format!("2026-11-{:02}T06:00:00Z", day + 1),
            subject: Some("growing".into()),
            ..Run::default()
        };
        let noise = if day % 2 == 0 { 1.0 } else { -1.0 };
        let value = 100.0 + 5.0 * f64::from(day) + noise;
        history
            .store(
                &run,
                &[StoredMetric {
                    name: "cache.rss_mb".into(),
                    value,
                    samples: vec![value],
                }],
            )
            .unwrap();
    }
    drop(history);
    let config = dir.path().join("scalewall.toml");
    std::fs::write(
        &config,
        // cache.rss_mb needs the service's process measured (issue 21: a
        // limit on a metric no run can produce is a config error).
        "name = \"growing\"\n[[service]]\nname = \"cache\"\ntcp = \"127.0.0.1:6379\"\nprocess = { port = 6379 }\n\
         [plan]\nscales = { users = [2000] }\nhorizons = [\"1 week\", \"1 month\"]\n[[plan.driver]]\nname = \"users\"\ncurrent = 1000\n\
         [[plan.component]]\nservice = \"cache\"\ndemand = { users = \"0.1MB\" }\ncapacity = \"512MB\"\nscaling = \"single\"\n\
         [[plan.limit]]\nmetric = \"cache.rss_mb\"\nlimit = 512\n",
    )
    .unwrap();
    let plan = plan_json(&config, &db);
    let projection = &plan["projections"][0];
    assert_eq!(projection["trend"], "linear", "{plan:#}");
    // by hand: 100 + 5·d = 512 at d = 82.4; the last run is day 9 → 73.4 days
    let days = f(projection, "/days_to_limit");
    assert!((days / 73.4 - 1.0).abs() < 0.05, "{days} days: {plan:#}");
    assert!(f(projection, "/r_squared") > 0.99);
    // 73 days past runs spanning 9: said to be beyond the data, with an
    // interval around the crossing (issue 21, item 4)
    assert_eq!(projection["beyond_data"], true, "{plan:#}");
    let low = f(projection, "/interval_days/0");
    assert!(low < days, "{plan:#}");
    // Issue 29, item 6: the value at each horizon, by hand 100 + 5·d from
    // the last run (day 9): a week is day 16, 180; a month (30.44 days,
    // as humantime counts one) is day 39.44, 297.2, beyond the 9 days of
    // runs × 3.
    let week = &projection["horizons"][0];
    assert_eq!(week["horizon"], "1 week", "{plan:#}");
    assert!((f(week, "/value") / 180.0 - 1.0).abs() < 0.01, "{week:#}");
    assert!(
        f(week, "/interval/0") < f(week, "/value") && f(week, "/value") < f(week, "/interval/1")
    );
    assert_eq!(week["beyond_data"], false, "{week:#}");
    let month = &projection["horizons"][1];
    assert!((f(month, "/value") / 297.2 - 1.0).abs() < 0.01, "{month:#}");
    assert_eq!(month["beyond_data"], true, "{month:#}");
    let text = plan_of(&config, &db, &[]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("| in 1 week | in 1 month |"), "{text}");
    assert!(text.contains("; beyond the data |"), "{text}");
    // memory demand: 0.1 MB per user, 1,000 users → 100 MB of 512 today; 2,000 → 200 MB
    let cell = &plan["components"][0]["cells"][0];
    assert!((f(cell, "/utilisation") - 200.0 / 512.0).abs() < 1e-9);
}

/// Issue 29, item 9: `scalewall plan -f` on a `watch` config answered "no
/// completed run of 'agent-platform'", since `watch` stores runs under job
/// names. Each measured capacity is read from the latest completed run of
/// the job that ran it; a plan of declared capacities needs no run at all.
#[test]
fn a_watch_configs_plan_reads_each_capacity_from_the_job_that_measured_it() {
    use scalewall_history::History;
    use scalewall_model::Run;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    // A real stored run with a 6-level sweep `gw-scaling` (X(N*) ≈ 2,592
    // req/s), stored as `watch` stores it: under its job's name.
    let mut run = Run::from_json(include_str!("fixtures/report-run.json")).unwrap();
    run.subject = Some("gateway-job".into());
    run.plan = None;
    let metrics = scalewall_stats::metrics::of_run(&run);
    History::open(&db)
        .unwrap()
        .store(&run, &scalewall_job::compare::stored_metrics(&metrics))
        .unwrap();
    let config = |capacity: &str| {
        format!(
            "name = \"agent-platform\"\n\
             [[service]]\nname = \"gateway\"\nurl = \"http://127.0.0.1:1/\"\n\
             [[scenario]]\nname = \"gw-scaling\"\nservice = \"gateway\"\nkind = \"sweep\"\nconcurrency = [1, 2, 4]\n\
             [watch]\nlisten = \"127.0.0.1:9477\"\n\
             [[job]]\nname = \"gateway-job\"\nevery = \"15m\"\nscenarios = [\"gw-scaling\"]\n\
             [plan]\nscales = {{ agents = [40, 400] }}\n[[plan.driver]]\nname = \"agents\"\ncurrent = 40\n\
             [[plan.component]]\nservice = \"gateway\"\ndemand = {{ agents = \"10/s\" }}\n{capacity}\n"
        )
    };
    let path = dir.path().join("scalewall.toml");
    std::fs::write(&path, config("capacity_from = \"gw-scaling\"")).unwrap();
    let plan = plan_json(&path, &db);
    let capacity = f(&plan, "/components/0/capacity_per_instance");
    assert!((capacity / 2592.0 - 1.0).abs() < 0.01, "{plan:#}");
    assert_eq!(plan["run_id"], run.id.as_str(), "{plan:#}");
    // The config's own latest run lacks the sweep: the capacity comes from
    // the job's run, and the plan says so.
    let mut own = run.clone();
    own.id = "01a23c5f-0000-7000-8000-000000000000".into();
    own.subject = Some("agent-platform".into());
    own.scenarios.retain(|s| s.name != "gw-scaling");
    let metrics = scalewall_stats::metrics::of_run(&own);
    History::open(&db)
        .unwrap()
        .store(&own, &scalewall_job::compare::stored_metrics(&metrics))
        .unwrap();
    let plan = plan_json(&path, &db);
    assert_eq!(plan["run_id"], own.id.as_str(), "{plan:#}");
    assert_eq!(
        plan["capacity_runs"][0]["run_id"],
        run.id.as_str(),
        "{plan:#}"
    );
    assert_eq!(
        plan["capacity_runs"][0]["subject"], "gateway-job",
        "{plan:#}"
    );
    let capacity = f(&plan, "/components/0/capacity_per_instance");
    assert!((capacity / 2592.0 - 1.0).abs() < 0.01, "{plan:#}");

    // Declared capacities need no run, nor even a history.
    std::fs::write(&path, config("capacity = \"500/s\"")).unwrap();
    let none = dir.path().join("none.db");
    let out = plan_of(&path, &none, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Capacities as declared (no stored run)."),
        "{text}"
    );
    // A measured capacity with no run says which subjects it searched.
    std::fs::write(&path, config("capacity_from = \"gw-scaling\"")).unwrap();
    let out = plan_of(&path, &none, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no completed run of 'agent-platform' or 'gateway-job'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
