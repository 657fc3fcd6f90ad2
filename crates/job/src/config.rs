//! `scalewall.toml`: the services of a system, the load scenarios to run
//! against them, and the thresholds that turn figures into findings.
//!
//! Parsing is pure: text in, a validated [`Config`] or a [`ConfigError`]
//! naming file, line and column out. `${VAR}` in a string value is replaced
//! by the environment variable (through a lookup function, so tests need no
//! environment); the values never reach outputs, because run records keep
//! URLs without credentials and header names without values. Each scenario
//! is checked by the same argument parser and validation as the
//! `bench`/`sweep` commands, so a scenario accepts exactly what the command
//! line does.

use crate::scenario::{self as cli, ScenarioCommand as Command, ScenarioLine as Cli};
use clap::Parser;
use scalewall_probe::custom::{CustomMetric, Source};
use scalewall_probe::process::ProcessSelector;
use scalewall_probe::prometheus::Aggregate;
use scalewall_probe::target::TargetSelector;
use scalewall_stats::capacity::{parse_quantity, DemandKind, ScalingKind};
use scalewall_stats::metrics::{MetricCatalog, HOST_FIGURES, STEP_FIGURES};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use toml::Spanned;

/// A commented example, written by `scalewall init`.
pub const EXAMPLE: &str = include_str!("../../../scalewall.example.toml");

/// A config mistake, located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ConfigError {
    /// The config file as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (characters).
    pub column: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Validates `[plan]`: every name refers to something declared, every
/// quantity has a known unit and is not negative, and the kinds agree.
fn parse_plan(
    check: &Checker<'_>,
    spanned: &Spanned<RawPlan>,
    services: &BTreeSet<String>,
    scenarios: &BTreeSet<String>,
    catalog: &MetricCatalog,
) -> Result<PlanConfig, ConfigError> {
    let raw = spanned.get_ref();
    let mut drivers: Vec<(String, f64)> = Vec::new();
    let mut driver_metrics: Vec<(String, String)> = Vec::new();
    for d in &raw.driver {
        let d = d.get_ref();
        if !valid_name(d.name.get_ref()) {
            return Err(check.at(
                d.name.span(),
                "driver name must be letters, digits, '-' or '_'",
            ));
        }
        if drivers.iter().any(|(n, _)| n == d.name.get_ref()) {
            return Err(check.at(
                d.name.span(),
                format!("a second driver named '{}'", d.name.get_ref()),
            ));
        }
        let current = *d.current.get_ref();
        if !(current.is_finite() && current >= 0.0) {
            return Err(check.at(d.current.span(), "current must be a number ≥ 0"));
        }
        drivers.push((d.name.get_ref().clone(), current));
        if let Some(metric) = &d.current_metric {
            if !catalog.knows(metric.get_ref()) {
                return Err(check.at(
                    metric.span(),
                    format!("current_metric: no run of this config produces '{}' (a [[metric]] name, e.g. api.active_agents)", metric.get_ref()),
                ));
            }
            driver_metrics.push((d.name.get_ref().clone(), metric.get_ref().clone()));
        }
    }
    if drivers.is_empty() {
        return Err(check.at(
            spanned.span(),
            "[plan] needs at least one [[plan.driver]] (name = \"agents\", current = 10)",
        ));
    }
    let driver_list = || {
        drivers
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut scales = Vec::new();
    let mut length = None;
    let no_scales = Spanned::new(0..0, BTreeMap::new());
    let raw_scales = raw.scales.as_ref().unwrap_or(&no_scales);
    for (name, values) in raw_scales.get_ref() {
        if !drivers.iter().any(|(n, _)| n == name) {
            return Err(check.at(
                raw_scales.span(),
                format!(
                    "scales: unknown driver '{name}' (drivers: {})",
                    driver_list()
                ),
            ));
        }
        if values.iter().any(|v| !(v.is_finite() && *v >= 0.0)) || values.is_empty() {
            return Err(check.at(
                raw_scales.span(),
                format!("scales.{name}: values must be numbers ≥ 0"),
            ));
        }
        if length.is_some_and(|l| l != values.len()) {
            return Err(check.at(
                raw_scales.span(),
                "scales: every driver needs the same number of values (the i-th of each make one scale point)",
            ));
        }
        length = Some(values.len());
        scales.push((name.clone(), values.clone()));
    }
    let mut components = Vec::new();
    for c in &raw.component {
        let c = c.get_ref();
        let service = c.service.get_ref();
        if !services.contains(service) {
            return Err(check.at(
                c.service.span(),
                format!(
                    "unknown component '{service}': a component is a service (services: {})",
                    services.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let mut kind = None;
        let mut per_unit = BTreeMap::new();
        for (driver, text) in c.demand.get_ref() {
            if !drivers.iter().any(|(n, _)| n == driver) {
                return Err(check.at(
                    c.demand.span(),
                    format!(
                        "demand: unknown driver '{driver}' (drivers: {})",
                        driver_list()
                    ),
                ));
            }
            let (k, value) = parse_quantity(text.get_ref())
                .map_err(|e| check.at(text.span(), format!("demand.{driver}: {e}")))?;
            if kind.is_some_and(|known| known != k) {
                return Err(check.at(
                    text.span(),
                    "every demand of a component must be of one kind (a rate, sessions or MB)",
                ));
            }
            kind = Some(k);
            per_unit.insert(driver.clone(), value);
        }
        let Some(kind) = kind else {
            return Err(check.at(
                c.demand.span(),
                "demand needs at least one driver, e.g. { agents = \"2/min\" }",
            ));
        };
        let capacity = match (&c.capacity, &c.capacity_from, &c.capacity_metric) {
            (None, None, Some(metric)) => {
                if !catalog.knows(metric.get_ref()) {
                    return Err(check.at(
                        metric.span(),
                        format!("capacity_metric: no run of this config produces '{}' (a [[metric]] name, e.g. db.pool_size)", metric.get_ref()),
                    ));
                }
                CapacitySource::Metric(metric.get_ref().clone())
            }
            (Some(text), None, None) => {
                let (k, value) = parse_quantity(text.get_ref())
                    .map_err(|e| check.at(text.span(), format!("capacity: {e}")))?;
                if k != kind {
                    return Err(check.at(
                        text.span(),
                        format!("capacity is in {}, the demand in {}", k.unit(), kind.unit()),
                    ));
                }
                CapacitySource::Declared(value)
            }
            (None, Some(name), None) => {
                if !scenarios.contains(name.get_ref()) {
                    return Err(check.at(
                        name.span(),
                        format!("capacity_from: unknown scenario '{}'", name.get_ref()),
                    ));
                }
                if kind == DemandKind::MemoryMb {
                    return Err(check.at(name.span(), "a memory capacity cannot be measured by load: declare capacity = \"…MB\""));
                }
                CapacitySource::Scenario {
                    name: name.get_ref().clone(),
                    max_p99_ms: c.max_p99_ms,
                }
            }
            _ => {
                return Err(check.at(
                    c.service.span(),
                    "a component needs exactly one of capacity = \"500/s\", capacity_from = \"<scenario>\" or capacity_metric = \"<metric>\"",
                ))
            }
        };
        let scaling = match c.scaling.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
            None | Some(("stateless", _)) => ScalingKind::Stateless,
            Some(("shardable", _)) => ScalingKind::Shardable,
            Some(("single", _)) => ScalingKind::Single,
            Some((other, span)) => {
                return Err(check.at(
                    span,
                    format!("unknown scaling '{other}' (stateless, shardable or single)"),
                ))
            }
        };
        let numbers_ok = c.cost_per_instance.is_none_or(|v| v >= 0.0)
            && c.cluster_sigma.is_none_or(|v| (0.0..=1.0).contains(&v))
            && c.cluster_kappa.is_none_or(|v| (0.0..=1.0).contains(&v))
            && c.instances != Some(0)
            && c.max_p99_ms.is_none_or(|v| v > 0.0);
        if !numbers_ok {
            return Err(check.at(
                c.service.span(),
                "instances ≥ 1, cost_per_instance ≥ 0, cluster_sigma and cluster_kappa in 0–1, max_p99_ms > 0",
            ));
        }
        components.push(PlanComponent {
            service: service.clone(),
            kind,
            per_unit,
            capacity,
            scaling,
            instances: c.instances.unwrap_or(1),
            cost_per_instance: c.cost_per_instance.unwrap_or(0.0),
            cluster: (
                c.cluster_sigma.unwrap_or(0.0),
                c.cluster_kappa.unwrap_or(0.0),
            ),
        });
    }
    if raw.wall == Some(0) {
        return Err(check.at(spanned.span(), "wall must be at least 1"));
    }
    for limit in &raw.limit {
        check_metric_name(check, &limit.get_ref().metric, catalog, scenarios)?;
    }
    let horizons = match &raw.horizons {
        None => Vec::new(),
        Some(list) => list
            .get_ref()
            .iter()
            .map(|h| {
                let days = humantime::parse_duration(h.trim())
                    .map(|d| d.as_secs_f64() / 86_400.0)
                    .map_err(|e| {
                        check.at(
                            list.span(),
                            format!("plan horizon '{h}': {e} (e.g. \"1 month\", \"3 months\", \"1 year\")"),
                        )
                    })?;
                Ok((h.trim().to_string(), days))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?,
    };
    Ok(PlanConfig {
        wall: raw.wall.unwrap_or(2),
        horizons,
        scales,
        drivers,
        driver_metrics,
        components,
        limits: raw
            .limit
            .iter()
            .map(|l| (l.get_ref().metric.get_ref().clone(), l.get_ref().limit))
            .collect(),
    })
}

/// A threshold's or limit's metric must be one a run of this config can
/// produce; otherwise its gate would be off without a word. The closest
/// known name is suggested.
fn check_metric_name(
    check: &Checker<'_>,
    metric: &Spanned<String>,
    catalog: &MetricCatalog,
    scenarios: &BTreeSet<String>,
) -> Result<(), ConfigError> {
    let name = metric.get_ref();
    if catalog.knows(name) {
        return Ok(());
    }
    let hint = match catalog.closest(name) {
        Some(closest) => format!("did you mean {closest}?"),
        None => format!(
            "a scenario's figures are <scenario>.{} (a sweep's per level: <scenario>.c<N>.<figure>, and <scenario>.max_rps); also {}, host.disk_used_pct[PATH], <service>.rss_mb, redis[HOST:PORT].used_memory_mb",
            STEP_FIGURES.join("|"),
            HOST_FIGURES.join(", ")
        ),
    };
    let example = scenarios.iter().next().map_or("api", String::as_str);
    Err(check.at(
        metric.span(),
        format!("no run of this config measures '{name}': {hint} (e.g. {example}.p99_ms)"),
    ))
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: Option<Spanned<String>>,
    history: Option<Spanned<RawHistory>>,
    #[serde(default)]
    service: Vec<Spanned<RawService>>,
    #[serde(default)]
    scenario: Vec<Spanned<RawScenario>>,
    #[serde(default)]
    threshold: Vec<Spanned<RawThreshold>>,
    #[serde(default)]
    report: RawReport,
    plan: Option<Spanned<RawPlan>>,
    watch: Option<Spanned<RawWatch>>,
    #[serde(default)]
    job: Vec<Spanned<RawJob>>,
    #[serde(default)]
    alert: Vec<Spanned<RawAlert>>,
    distributed: Option<Spanned<RawDistributed>>,
    #[serde(default)]
    metric: Vec<Spanned<RawMetric>>,
}

/// `[[metric]]`: a custom metric and its one source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    name: Spanned<String>,
    service: Option<Spanned<String>>,
    unit: Option<Spanned<String>>,
    better: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    prometheus: Option<Spanned<String>>,
    select: Option<Spanned<String>>,
    aggregate: Option<Spanned<String>>,
    rate_window: Option<Spanned<String>>,
    http: Option<Spanned<String>>,
    json: Option<Spanned<String>>,
    command: Option<Spanned<String>>,
    shell: Option<bool>,
    number: Option<Spanned<String>>,
    dir: Option<Spanned<String>>,
    during_load: Option<bool>,
}

/// `[distributed]`: every scenario's load runs on workers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDistributed {
    nats: Spanned<String>,
    workers: Option<Spanned<i64>>,
    creds: Option<Spanned<String>>,
}

/// `history = "path"`, or `[history]` with `path` and `keep_full`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawHistory {
    Path(String),
    Table {
        path: Option<String>,
        keep_full: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    listen: Option<Spanned<String>>,
    token: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: Spanned<String>,
    every: Option<Spanned<String>>,
    cron: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    scenarios: Option<Spanned<Vec<String>>>,
    services: Option<Spanned<Vec<String>>>,
    config: Option<Spanned<String>>,
    command: Option<Spanned<RawCommand>>,
    shell: Option<bool>,
    push: Option<Spanned<bool>>,
    grace: Option<Spanned<String>>,
}

/// `command = ["pg_dump", "test"]` or, with `shell = true`, a line.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawCommand {
    Line(String),
    Argv(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlert {
    url: Spanned<String>,
    format: Option<Spanned<String>>,
    on: Option<Spanned<Vec<String>>>,
    repeat: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    wall: Option<usize>,
    scales: Option<Spanned<BTreeMap<String, Vec<f64>>>>,
    #[serde(default)]
    driver: Vec<Spanned<RawDriver>>,
    #[serde(default)]
    component: Vec<Spanned<RawComponent>>,
    #[serde(default)]
    limit: Vec<Spanned<RawLimit>>,
    horizons: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDriver {
    name: Spanned<String>,
    current: Spanned<f64>,
    current_metric: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    service: Spanned<String>,
    demand: Spanned<BTreeMap<String, Spanned<String>>>,
    capacity: Option<Spanned<String>>,
    capacity_from: Option<Spanned<String>>,
    capacity_metric: Option<Spanned<String>>,
    max_p99_ms: Option<f64>,
    scaling: Option<Spanned<String>>,
    instances: Option<u32>,
    cost_per_instance: Option<f64>,
    cluster_sigma: Option<f64>,
    cluster_kappa: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimit {
    metric: Spanned<String>,
    limit: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    url: Option<Spanned<String>>,
    health: Option<Spanned<String>>,
    tcp: Option<Spanned<String>>,
    redis: Option<Spanned<String>>,
    postgres: Option<Spanned<String>>,
    nats: Option<Spanned<String>>,
    process: Option<Spanned<RawProcess>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcess {
    pid: Option<i32>,
    name: Option<String>,
    port: Option<u16>,
    cgroup: Option<String>,
    container: Option<String>,
    tree: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum ScenarioKind {
    Bench,
    Sweep,
    /// No load: its service is probed and judged only.
    Probe,
    /// A sweep that searches: the capacity under `slo`, or with
    /// `until_peak` the USL peak.
    Capacity,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    service: Option<Spanned<String>>,
    kind: ScenarioKind,
    /// A command run through `sh -c` as the operation (`--exec`), instead
    /// of a service's url.
    exec: Option<Spanned<String>>,
    /// Values of the `{name}`s in `exec` (`--param`): a value or a list
    /// (a sweep steps through a list).
    #[serde(default)]
    param: BTreeMap<String, toml::Value>,
    /// Sizes a parameter sweep's cost curve is projected to (`--project`).
    project: Option<Vec<f64>>,
    path: Option<String>,
    method: Option<String>,
    #[serde(default)]
    headers: Vec<Spanned<String>>,
    body: Option<Spanned<String>>,
    timeout: Option<String>,
    threads: Option<u32>,
    #[serde(default)]
    http2: bool,
    #[serde(default)]
    insecure: bool,
    connections: Option<u32>,
    duration: Option<String>,
    requests: Option<u64>,
    rate: Option<f64>,
    warmup: Option<String>,
    concurrency: Option<Vec<u32>>,
    step: Option<String>,
    #[serde(default)]
    connect_only: bool,
    message_size: Option<usize>,
    pipeline: Option<u32>,
    streams: Option<u32>,
    command: Option<String>,
    keyspace: Option<u64>,
    query: Option<String>,
    #[serde(default)]
    query_params: Vec<String>,
    nats_mode: Option<String>,
    subject: Option<String>,
    #[serde(default)]
    until_peak: bool,
    #[serde(default)]
    slo: Vec<String>,
    #[serde(default)]
    rate_search: bool,
    rate_connections: Option<u32>,
    start_rate: Option<f64>,
    max_level: Option<f64>,
    precision: Option<String>,
    budget: Option<String>,
    stages: Option<String>,
    #[serde(default)]
    checks: Vec<String>,
    stream: Option<String>,
    stream_done: Option<String>,
    /// Rows for the request's `{{column}}`s, relative to the config's folder.
    data: Option<String>,
    data_order: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThreshold {
    metric: Spanned<String>,
    warning: Option<f64>,
    critical: Option<f64>,
    #[serde(default)]
    direction: Direction,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReport {
    dir: Option<String>,
    #[serde(default)]
    formats: Vec<Spanned<String>>,
    keep: Option<Spanned<toml::Value>>,
}

/// Which side of a limit is bad.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Values above the limit breach it (latency, errors).
    #[default]
    Above,
    /// Values below the limit breach it (throughput).
    Below,
}

/// A service of the system: what to load and what to watch.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// Name used in metric names and reports.
    pub name: String,
    /// Base URL of its load target.
    pub url: Option<String>,
    /// HTTP health endpoint.
    pub health: Option<String>,
    /// `host:port` TCP check.
    pub tcp: Option<String>,
    /// Redis to read `INFO` from.
    pub redis: Option<String>,
    /// PostgreSQL to read statistics from.
    pub postgres: Option<String>,
    /// NATS monitoring endpoint.
    pub nats: Option<String>,
    /// The processes its probe snapshot reads (pid, name or port).
    pub process: Option<ProcessSelector>,
    /// The set of processes its scenarios' steps measure (the `process`
    /// key, with descendants unless `tree = false`, or a cgroup).
    pub target: Option<TargetSelector>,
}

/// A validated load scenario.
#[derive(Debug)]
pub struct Scenario {
    /// Name used in metric names.
    pub name: String,
    /// The service it loads.
    pub service: String,
    /// The command it is equivalent to.
    pub command: Command,
}

/// A limit on one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The metric name (see `stats::metrics`).
    pub metric: String,
    /// Breach at this value: a HIGH finding.
    pub warning: Option<f64>,
    /// Breach at this value: a CRITICAL finding.
    pub critical: Option<f64>,
    /// Which side is bad.
    pub direction: Direction,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReportFormat {
    /// Markdown.
    Markdown,
    /// JSON.
    Json,
    /// One self-contained HTML file.
    Html,
}

impl ReportFormat {
    /// The file extension of the format (`md`, `json`, `html`).
    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Markdown => "md",
            ReportFormat::Json => "json",
            ReportFormat::Html => "html",
        }
    }

    /// The format written with `extension`.
    pub fn from_extension(extension: &str) -> Option<ReportFormat> {
        match extension {
            "md" => Some(ReportFormat::Markdown),
            "json" => Some(ReportFormat::Json),
            "html" => Some(ReportFormat::Html),
            _ => None,
        }
    }
}

/// Where a component's capacity per instance comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum CapacitySource {
    /// Declared in the config, in the demand's base unit.
    Declared(f64),
    /// Measured by a scenario of the latest run.
    Scenario {
        /// The scenario's name.
        name: String,
        /// Only levels whose p99 is within this count (the highest such throughput).
        max_p99_ms: Option<f64>,
    },
    /// A metric of the latest run (a custom one, e.g. a pool's size), in
    /// the demand's base unit.
    Metric(String),
}

/// A component of the capacity plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanComponent {
    /// The service it is.
    pub service: String,
    /// What its demand measures.
    pub kind: DemandKind,
    /// Demand per driver unit, base unit.
    pub per_unit: BTreeMap<String, f64>,
    /// Capacity per instance.
    pub capacity: CapacitySource,
    /// How it grows.
    pub scaling: ScalingKind,
    /// Instances today.
    pub instances: u32,
    /// Cost of one instance.
    pub cost_per_instance: f64,
    /// USL across instances (σ, κ).
    pub cluster: (f64, f64),
}

/// The `[plan]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanConfig {
    /// Components strained together that make the scaling wall.
    pub wall: usize,
    /// Default scales per driver (equal lengths).
    pub scales: Vec<(String, Vec<f64>)>,
    /// Drivers with current values, in file order.
    pub drivers: Vec<(String, f64)>,
    /// Drivers whose current value is a metric of the latest run (driver,
    /// metric); the configured `current` stands when it has no value.
    pub driver_metrics: Vec<(String, String)>,
    /// Components.
    pub components: Vec<PlanComponent>,
    /// Extra limits to project growth against (metric, limit).
    pub limits: Vec<(String, f64)>,
    /// Horizons each projection's value is given at (`[plan] horizons`):
    /// as written, and in days.
    pub horizons: Vec<(String, f64)>,
}

/// `[watch]`: where the daemon serves its endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSettings {
    /// `host:port` (default 127.0.0.1:9477).
    pub listen: String,
    /// The bearer token every endpoint but `/health` requires, when set
    /// (required for a non-loopback `listen`).
    pub token: Option<String>,
}

/// The default `[watch] listen`.
pub const WATCH_LISTEN: &str = "127.0.0.1:9477";

/// A job's timeout when none is given (or its interval, when longer).
pub const DEFAULT_JOB_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// One `[[job]]`: scenarios run on a schedule by `scalewall watch`.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchJob {
    /// Name: its runs are stored under it.
    pub name: String,
    /// Interval between starts (1 s or more); for a cron schedule, the gap
    /// between its first two fires (what jitter is a share of).
    pub every: std::time::Duration,
    /// A cron schedule (UTC) instead of a fixed interval.
    pub cron: Option<crate::cron::Cron>,
    /// ± this share of the interval.
    pub jitter: f64,
    /// A run past this is cancelled (TIMEOUT); default: the interval or
    /// [`DEFAULT_JOB_TIMEOUT`], whichever is longer.
    pub timeout: std::time::Duration,
    /// The scenarios it runs (empty: every scenario of its config).
    pub scenarios: Vec<String>,
    /// Services it probes and judges beside those its scenarios load
    /// (`services = [...]`); a job with `scenarios` probes only these and
    /// its scenarios' services, so one service down fails only the jobs
    /// that use it.
    pub services: Vec<String>,
    /// Another config file whose scenarios it runs (relative to this one).
    pub config: Option<String>,
    /// What it runs: scalewall's own scenarios, a command, or nothing (a
    /// job that reports itself).
    pub kind: JobKind,
}

/// What a `[[job]]` is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum JobKind {
    /// Scenarios of a config (the default).
    #[default]
    Load,
    /// `command = [...]` (or a line with `shell = true`), run in the
    /// config file's folder: its exit code, duration, timeout and the last
    /// 4 KiB of its output decide and explain the run.
    Command {
        /// The program and its arguments (`sh -c LINE` for a shell line).
        argv: Vec<String>,
    },
    /// `push = true`: the job reports each run itself
    /// (`POST /api/jobs/<name>/runs` or `scalewall report-job`); no report
    /// within `every` + `grace` is a late run.
    Push {
        /// How long past `every` a report may come before the job is late.
        grace: std::time::Duration,
    },
}

impl JobKind {
    /// `load`, `command` or `push`: the job table's kind column.
    pub fn label(&self) -> &'static str {
        match self {
            JobKind::Load => "load",
            JobKind::Command { .. } => "command",
            JobKind::Push { .. } => "push",
        }
    }
}

/// A push job's default grace: 20 % of its interval.
pub const DEFAULT_PUSH_GRACE: f64 = 0.2;

/// What an alert listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertTrigger {
    /// A job's status changed.
    Status,
    /// A run had a finding at or above this severity.
    Finding(scalewall_model::Severity),
    /// A sweep's capacity peak dropped (a `capacity_drift` finding).
    CapacityDrift,
}

/// Parses one alert `on` entry: `status`, `finding>=LEVEL` or `capacity_drift`.
pub fn parse_trigger(text: &str) -> Result<AlertTrigger, String> {
    use scalewall_model::Severity;
    let text = text.trim();
    match text {
        "status" => return Ok(AlertTrigger::Status),
        "capacity_drift" => return Ok(AlertTrigger::CapacityDrift),
        _ => {}
    }
    let level = text.strip_prefix("finding>=").ok_or_else(|| {
        format!("alert on '{text}': expected \"status\", \"finding>=LEVEL\" or \"capacity_drift\"")
    })?;
    Ok(AlertTrigger::Finding(
        match level.to_ascii_uppercase().as_str() {
            "LOW" => Severity::Low,
            "MEDIUM" => Severity::Medium,
            "HIGH" => Severity::High,
            "CRITICAL" => Severity::Critical,
            _ => {
                return Err(format!(
                    "alert on '{text}': the level must be LOW, MEDIUM, HIGH or CRITICAL"
                ))
            }
        },
    ))
}

/// One `[[alert]]`: a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSpec {
    /// The URL (from the environment, usually: it holds a secret).
    pub url: String,
    /// Slack-compatible text instead of the JSON event.
    pub slack: bool,
    /// What it listens to (default: status changes and CRITICAL findings).
    pub on: Vec<AlertTrigger>,
    /// An alert that lasts is sent again no sooner than this after it was
    /// last sent (`repeat`, default [`ALERT_REPEAT`]).
    pub repeat: std::time::Duration,
}

/// How often a lasting alert is sent again by default (Alertmanager's
/// `repeat_interval`).
pub const ALERT_REPEAT: std::time::Duration = std::time::Duration::from_secs(4 * 3600);

/// A validated config.
#[derive(Debug)]
pub struct Config {
    /// The system's name: runs are compared with earlier runs of it.
    pub name: String,
    /// History database path.
    pub history: Option<String>,
    /// Retention: runs older than this keep their metrics, findings and
    /// summaries and drop their per-interval detail (`[history] keep_full`).
    pub keep_full: Option<std::time::Duration>,
    /// Services, in file order.
    pub services: Vec<Service>,
    /// Scenarios, in file order.
    pub scenarios: Vec<Scenario>,
    /// Thresholds.
    pub thresholds: Vec<Threshold>,
    /// Where reports are written.
    pub report_dir: Option<String>,
    /// Which reports are written.
    pub report_formats: BTreeSet<ReportFormat>,
    /// How long report files are kept (`[report] keep`); `None` keeps all.
    pub report_keep: Option<crate::files::ReportKeep>,
    /// The capacity plan, when configured.
    pub plan: Option<PlanConfig>,
    /// `[watch]`, when given.
    pub watch: Option<WatchSettings>,
    /// `[[job]]`s for `scalewall watch`.
    pub jobs: Vec<WatchJob>,
    /// `[[alert]]`s for `scalewall watch`.
    pub alerts: Vec<AlertSpec>,
    /// `[[metric]]`s: the service's own numbers, read with each snapshot.
    pub metrics: Vec<MetricSpec>,
}

/// A custom metric and how long its source may take.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSpec {
    /// The metric.
    pub metric: CustomMetric,
    /// Its source's time limit.
    pub timeout: std::time::Duration,
    /// Also read as each step of every scenario ends.
    pub during_load: bool,
}

struct Checker<'a> {
    file: &'a str,
    text: &'a str,
}

impl Checker<'_> {
    fn at(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_column(self.text, span.start);
        ConfigError {
            file: self.file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    /// Replaces `${VAR}` with the variable's value.
    fn interpolate(
        &self,
        value: &Spanned<String>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, ConfigError> {
        let text = value.get_ref();
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| self.at(value.span(), "'${' without a closing '}'"))?;
            let name = &after[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(self.at(
                    value.span(),
                    format!("'${{{name}}}' is not an environment variable name"),
                ));
            }
            let found = env(name).ok_or_else(|| {
                self.at(
                    value.span(),
                    format!("environment variable {name} is not set"),
                )
            })?;
            out.push_str(&found);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Every mistake of a config, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// Most unknown keys collected in one pass.
const MAX_MISTAKES: usize = 100;

/// Parses and validates config `text`, reporting every mistake it can find
/// in one pass, in file order. A mistake on a line that is one whole
/// `key = value` does not stop the search: the line is set aside and the
/// rest checked again. An unknown key (a typo such as `helth`) cannot
/// invent a mistake that way (a key the config does not know changes
/// nothing); a key with a wrong value can (its table then lacks it), so
/// what follows such a set-aside is kept only when it is not its
/// consequence: a mistake in the same table or a missing field ends the
/// search unreported, and a mistake in a `name`, `service` or `url` (other
/// tables name a service or load its url) ends it at once.
pub fn parse_all(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    available_cores: u32,
) -> Result<Config, ConfigErrors> {
    let mut current = text.to_string();
    let mut mistakes = Vec::new();
    // The tables (their header lines) whose value lines were set aside.
    let mut changed_tables: Vec<usize> = Vec::new();
    loop {
        match parse(file, &current, env, available_cores) {
            Ok(config) if mistakes.is_empty() => return Ok(config),
            Ok(_) => break,
            Err(error) => {
                let table = table_of(&current, error.line);
                let consequence = changed_tables.contains(&table)
                    || (!changed_tables.is_empty() && error.message.starts_with("missing field"));
                if consequence {
                    break;
                }
                let unknown = error.message.starts_with("unknown field");
                let referenced = matches!(
                    line_key(&current, error.line),
                    Some("name" | "service" | "url")
                );
                let set_aside = (unknown || !referenced)
                    && mistakes.len() < MAX_MISTAKES
                    && set_aside_line(&mut current, error.line);
                if set_aside && !unknown {
                    changed_tables.push(table);
                }
                mistakes.push(error);
                if !set_aside {
                    break;
                }
            }
        }
    }
    mistakes.sort_by_key(|e| (e.line, e.column));
    Err(ConfigErrors(mistakes))
}

/// The header line (1-based) of the table line `line` belongs to; 0 for
/// the top level.
fn table_of(text: &str, line: usize) -> usize {
    text.split('\n')
        .take(line)
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with('['))
        .map(|(i, _)| i + 1)
        .last()
        .unwrap_or(0)
}

/// The key of line `line` (1-based) when it is a `key = value` line.
fn line_key(text: &str, line: usize) -> Option<&str> {
    let l = text.split('\n').nth(line.checked_sub(1)?)?.trim();
    let (key, _) = l.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with('[') && !key.starts_with('#')).then_some(key)
}

/// Comments out line `line` (1-based) when it is one whole `key = value`
/// (brackets and quotes closed on the line), keeping every other line and
/// column where it was. False when it is not such a line.
fn set_aside_line(text: &mut String, line: usize) -> bool {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let Some(target) = lines.get_mut(line.wrapping_sub(1)) else {
        return false;
    };
    let trimmed = target.trim();
    let count = |c: char| trimmed.chars().filter(|&x| x == c).count();
    let whole = trimmed.contains('=')
        && !trimmed.starts_with('[')
        && count('[') == count(']')
        && count('{') == count('}')
        && count('"') % 2 == 0
        && !trimmed.contains("\"\"\"")
        && !trimmed.contains("'''");
    if !whole {
        return false;
    }
    target.insert(0, '#');
    *text = lines.join("\n");
    true
}

/// Parses and validates config `text` read from `file`; the first mistake.
pub fn parse(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    available_cores: u32,
) -> Result<Config, ConfigError> {
    let check = Checker { file, text };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_string();
        check.at(e.span().unwrap_or(0..0), message)
    })?;
    let name = match &raw.name {
        Some(name) if !valid_name(name.get_ref()) => {
            return Err(check.at(name.span(), "name must be letters, digits, '-' or '_'"))
        }
        Some(name) => name.get_ref().clone(),
        None => "system".to_string(),
    };
    let mut services = Vec::new();
    let mut service_names = BTreeSet::new();
    for spanned in &raw.service {
        let s = spanned.get_ref();
        if !valid_name(s.name.get_ref()) {
            return Err(check.at(
                s.name.span(),
                "service name must be letters, digits, '-' or '_'",
            ));
        }
        if !service_names.insert(s.name.get_ref().clone()) {
            return Err(check.at(
                s.name.span(),
                format!("a second service named '{}'", s.name.get_ref()),
            ));
        }
        let text_of = |v: &Option<Spanned<String>>| -> Result<Option<String>, ConfigError> {
            v.as_ref().map(|v| check.interpolate(v, env)).transpose()
        };
        let url = text_of(&s.url)?;
        if let (Some(u), Some(span)) = (&url, s.url.as_ref().map(Spanned::span)) {
            scalewall_load::target::Target::parse(u)
                .map_err(|e| check.at(span, format!("url: {e}")))?;
        }
        let target = match &s.process {
            None => None,
            Some(p) => {
                let raw = p.get_ref();
                let tree = raw.tree.unwrap_or(true);
                let roots = |roots| TargetSelector::Processes { roots, tree };
                Some(match (raw.pid, &raw.name, raw.port, &raw.cgroup, &raw.container) {
                    (Some(pid), None, None, None, None) => roots(ProcessSelector::Pid(pid)),
                    (None, Some(name), None, None, None) => {
                        roots(ProcessSelector::Name(name.clone()))
                    }
                    (None, None, Some(port), None, None) => roots(ProcessSelector::Port(port)),
                    (None, None, None, Some(path), None) if raw.tree.is_none() => {
                        TargetSelector::Cgroup(path.trim_matches('/').to_string())
                    }
                    (None, None, None, None, Some(name)) if raw.tree.is_none() => {
                        TargetSelector::Container(name.clone())
                    }
                    _ => {
                        return Err(check.at(
                            p.span(),
                            "process needs exactly one of pid, name, port, cgroup or container (tree goes with pid, name or port)",
                        ))
                    }
                })
            }
        };
        let process = match &target {
            Some(TargetSelector::Processes { roots, .. }) => Some(roots.clone()),
            _ => None,
        };
        services.push(Service {
            name: s.name.get_ref().clone(),
            url,
            health: text_of(&s.health)?,
            tcp: text_of(&s.tcp)?,
            redis: text_of(&s.redis)?,
            postgres: text_of(&s.postgres)?,
            nats: text_of(&s.nats)?,
            process,
            target,
        });
    }
    let mut catalog = MetricCatalog::new();
    for service in services.iter().filter(|s| s.process.is_some()) {
        catalog.add_process(&service.name);
    }
    let mut scenarios = Vec::new();
    let mut scenario_names = BTreeSet::new();
    for spanned in &raw.scenario {
        let s = spanned.get_ref();
        if !valid_name(s.name.get_ref()) {
            return Err(check.at(
                s.name.span(),
                "scenario name must be letters, digits, '-' or '_'",
            ));
        }
        if !scenario_names.insert(s.name.get_ref().clone()) {
            return Err(check.at(
                s.name.span(),
                format!("a second scenario named '{}'", s.name.get_ref()),
            ));
        }
        if matches!(s.kind, ScenarioKind::Probe) {
            scenarios.push(probe_scenario(&check, spanned, &services, env)?);
            continue;
        }
        let (service, url) = match (&s.service, &s.exec) {
            (Some(named), Some(exec)) => {
                return Err(check.at(
                    exec.span(),
                    format!(
                        "scenario '{}' has exec and service = \"{}\": exec runs a command, service loads its url; give one",
                        s.name.get_ref(),
                        named.get_ref()
                    ),
                ))
            }
            (None, None) => {
                return Err(check.at(
                    spanned.span(),
                    format!(
                        "scenario '{}' needs service = \"…\" (a service's url to load) or exec = \"…\" (a command)",
                        s.name.get_ref()
                    ),
                ))
            }
            (None, Some(_)) => (None, None),
            (Some(named), None) => {
                let service = services
                    .iter()
                    .find(|svc| svc.name == *named.get_ref())
                    .ok_or_else(|| {
                        check.at(
                            named.span(),
                            format!(
                                "unknown service '{}' (services: {})",
                                named.get_ref(),
                                services
                                    .iter()
                                    .map(|s| s.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    })?;
                let base = service.url.as_ref().ok_or_else(|| {
                    check.at(
                        named.span(),
                        format!("service '{}' has no url to load", service.name),
                    )
                })?;
                let url = match &s.path {
                    Some(path) => format!(
                        "{}/{}",
                        base.trim_end_matches('/'),
                        path.trim_start_matches('/')
                    ),
                    None => base.clone(),
                };
                (Some(service), Some(url))
            }
        };
        if s.exec.is_none() && !s.param.is_empty() {
            return Err(check.at(
                spanned.span(),
                format!(
                    "scenario '{}': param fills the {{name}}s of exec = \"…\"",
                    s.name.get_ref()
                ),
            ));
        }
        let argv = scenario_argv(&check, s, url, env)?;
        let mut cli = Cli::try_parse_from(&argv).map_err(|e| {
            let first = e.to_string();
            let first = first
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            check.at(
                spanned.span(),
                format!("scenario '{}': {first}", s.name.get_ref()),
            )
        })?;
        let invalid = |e: cli::ArgError| {
            check.at(
                spanned.span(),
                format!("scenario '{}': {e}", s.name.get_ref()),
            )
        };
        let request = match &mut cli.command {
            Command::Bench(args) => &mut args.request,
            Command::Sweep(args) => &mut args.request,
            // The command line never names it (a probe is taken above).
            Command::Probe => continue,
        };
        if request.target_process.is_none() {
            request.target_process = service.and_then(|s| s.target.clone());
        }
        if let (Some(d), None) = (&raw.distributed, &request.fleet.workers) {
            let d = d.get_ref();
            request.fleet.workers = Some(d.nats.get_ref().clone());
            request.fleet.nats_creds = d.creds.as_ref().map(|c| c.get_ref().into());
            if let Some(n) = &d.workers {
                let n = usize::try_from(*n.get_ref())
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| check.at(n.span(), "workers must be at least 1"))?;
                request.fleet.min_workers = n;
                request.fleet.max_workers = Some(n);
            }
        }
        match &cli.command {
            Command::Bench(args) => {
                cli::validate_bench(args, available_cores).map_err(invalid)?;
                catalog.add_bench(s.name.get_ref());
            }
            Command::Sweep(args) => {
                let plan = cli::validate_sweep(args, available_cores).map_err(invalid)?;
                if let Some((param, values)) = &plan.swept {
                    catalog.add_param_sweep(s.name.get_ref(), param, values);
                } else if plan.search.is_some() {
                    catalog.add_search(s.name.get_ref());
                } else {
                    let levels: Vec<u32> = plan.steps.iter().map(|step| step.connections).collect();
                    catalog.add_sweep(s.name.get_ref(), &levels);
                }
            }
            Command::Probe => {}
        }
        if s.exec.is_some() {
            catalog.add_command_figures(s.name.get_ref());
        }
        scenarios.push(Scenario {
            name: s.name.get_ref().clone(),
            service: service.map_or(String::new(), |s| s.name.clone()),
            command: cli.command,
        });
    }
    let metrics = parse_metrics(&check, &raw.metric, &services, env)?;
    for m in &metrics {
        catalog.add_custom(
            &m.metric.name,
            matches!(m.metric.source, Source::Dir { .. }),
        );
    }
    let mut thresholds = Vec::new();
    for spanned in &raw.threshold {
        let t = spanned.get_ref();
        let metric = t.metric.get_ref();
        check_metric_name(&check, &t.metric, &catalog, &scenario_names)?;
        match (t.warning, t.critical) {
            (None, None) => {
                return Err(check.at(
                    spanned.span(),
                    "a threshold needs warning, critical or both",
                ))
            }
            (Some(w), Some(c)) => {
                let ordered = match t.direction {
                    Direction::Above => w <= c,
                    Direction::Below => w >= c,
                };
                if !ordered {
                    return Err(check.at(
                        spanned.span(),
                        format!(
                            "warning {w} must come before critical {c} (direction '{}')",
                            if t.direction == Direction::Above {
                                "above"
                            } else {
                                "below"
                            }
                        ),
                    ));
                }
            }
            _ => {}
        }
        thresholds.push(Threshold {
            metric: metric.clone(),
            warning: t.warning,
            critical: t.critical,
            direction: t.direction,
        });
    }
    let mut report_formats = BTreeSet::new();
    for format in &raw.report.formats {
        report_formats.insert(match format.get_ref().as_str() {
            "md" | "markdown" => ReportFormat::Markdown,
            "json" => ReportFormat::Json,
            "html" => ReportFormat::Html,
            other => {
                return Err(check.at(
                    format.span(),
                    format!("unknown report format '{other}' (expected md, json or html)"),
                ))
            }
        });
    }
    let report_keep = match &raw.report.keep {
        None => None,
        Some(keep) => Some(match keep.get_ref() {
            toml::Value::Integer(n) if *n >= 1 => crate::files::ReportKeep::Runs(*n as usize),
            toml::Value::String(s) => {
                crate::files::ReportKeep::For(humantime::parse_duration(s.trim()).map_err(|e| {
                    check.at(
                        keep.span(),
                        format!("report keep '{s}': {e} (e.g. \"30d\")"),
                    )
                })?)
            }
            _ => {
                return Err(check.at(
                    keep.span(),
                    "report keep: a time (\"30d\") or a count of runs (500)",
                ))
            }
        }),
    };
    if report_formats.is_empty() {
        report_formats.insert(ReportFormat::Markdown);
        report_formats.insert(ReportFormat::Json);
        report_formats.insert(ReportFormat::Html);
    }
    let plan = raw
        .plan
        .as_ref()
        .map(|p| parse_plan(&check, p, &service_names, &scenario_names, &catalog))
        .transpose()?;
    let (watch, jobs, alerts) = parse_watch(&check, &raw, &scenario_names, env)?;
    let (history, keep_full) = match &raw.history {
        None => (None, None),
        Some(h) => match h.get_ref() {
            RawHistory::Path(path) => (Some(path.clone()), None),
            RawHistory::Table { path, keep_full } => {
                let keep = keep_full
                    .as_deref()
                    .map(|k| {
                        humantime::parse_duration(k.trim()).map_err(|e| {
                            check.at(
                                h.span(),
                                format!("history keep_full '{k}': {e} (e.g. \"30d\")"),
                            )
                        })
                    })
                    .transpose()?;
                (path.clone(), keep)
            }
        },
    };
    Ok(Config {
        plan,
        watch,
        jobs,
        alerts,
        name,
        history,
        keep_full,
        services,
        scenarios,
        thresholds,
        report_dir: raw.report.dir,
        report_keep,
        report_formats,
        metrics,
    })
}

/// `[[metric]]`s, validated: a name, at most one service it belongs to,
/// exactly one source, and that source's options.
fn parse_metrics(
    check: &Checker<'_>,
    raw: &[Spanned<RawMetric>],
    services: &[Service],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<MetricSpec>, ConfigError> {
    let mut out: Vec<MetricSpec> = Vec::new();
    for spanned in raw {
        let m = spanned.get_ref();
        let short = m.name.get_ref();
        if !valid_name(short) {
            return Err(check.at(
                m.name.span(),
                "metric name must be letters, digits, '-' or '_'",
            ));
        }
        let name = match &m.service {
            Some(service) => {
                if !services.iter().any(|s| s.name == *service.get_ref()) {
                    return Err(check.at(
                        service.span(),
                        format!("unknown service '{}'", service.get_ref()),
                    ));
                }
                format!("{}.{short}", service.get_ref())
            }
            None => short.clone(),
        };
        if out.iter().any(|o| o.metric.name == name) {
            return Err(check.at(m.name.span(), format!("a second metric named '{name}'")));
        }
        let duration = |v: &Option<Spanned<String>>, what: &str, default: u64| {
            v.as_ref()
                .map_or(Ok(std::time::Duration::from_millis(default)), |v| {
                    humantime::parse_duration(v.get_ref().trim()).map_err(|e| {
                        check.at(
                            v.span(),
                            format!("{what} '{}': {e} (e.g. \"2s\")", v.get_ref()),
                        )
                    })
                })
        };
        let timeout = duration(&m.timeout, "timeout", 5_000)?;
        let text = |v: &Spanned<String>| check.interpolate(v, env);
        let sources = [
            m.prometheus.as_ref().map(|_| "prometheus"),
            m.http.as_ref().map(|_| "http"),
            m.command.as_ref().map(|_| "command"),
            m.dir.as_ref().map(|_| "dir"),
        ];
        let named: Vec<&str> = sources.iter().flatten().copied().collect();
        if named.len() != 1 {
            return Err(check.at(
                spanned.span(),
                format!(
                    "metric '{short}' needs exactly one source: prometheus, http (with json), command or dir{}",
                    if named.is_empty() { String::new() } else { format!(" (it has {})", named.join(" and ")) }
                ),
            ));
        }
        let only_with = |v: &Option<Spanned<String>>, key: &str, source: &str| match v {
            Some(v) if named[0] != source => {
                Err(check.at(v.span(), format!("{key} goes with a {source} source")))
            }
            _ => Ok(()),
        };
        only_with(&m.select, "select", "prometheus")?;
        only_with(&m.aggregate, "aggregate", "prometheus")?;
        only_with(&m.rate_window, "rate_window", "prometheus")?;
        only_with(&m.json, "json", "http")?;
        only_with(&m.number, "number", "command")?;
        let source = if let Some(url) = &m.prometheus {
            let select = m.select.as_ref().ok_or_else(|| {
                check.at(spanned.span(), format!("metric '{short}': a prometheus source needs select = 'name{{label=\"value\"}}'"))
            })?;
            Source::Prometheus {
                url: text(url)?,
                select: select
                    .get_ref()
                    .parse()
                    .map_err(|e: String| check.at(select.span(), e))?,
                aggregate: match m.aggregate.as_ref() {
                    None => None,
                    Some(a) => Some(match a.get_ref().as_str() {
                        "sum" => Aggregate::Sum,
                        "max" => Aggregate::Max,
                        other => {
                            return Err(check.at(
                                a.span(),
                                format!("aggregate '{other}': use \"sum\" or \"max\""),
                            ))
                        }
                    }),
                },
                rate_window: duration(&m.rate_window, "rate_window", 1_000)?,
            }
        } else if let Some(url) = &m.http {
            let json = m.json.as_ref().ok_or_else(|| {
                check.at(
                    spanned.span(),
                    format!("metric '{short}': an http source needs json = \"$.path\""),
                )
            })?;
            Source::Json {
                url: text(url)?,
                path: json
                    .get_ref()
                    .parse()
                    .map_err(|e: String| check.at(json.span(), e))?,
            }
        } else if let Some(command) = &m.command {
            let line = text(command)?;
            let argv: Vec<String> = if m.shell == Some(true) {
                vec!["sh".into(), "-c".into(), line]
            } else {
                line.split_whitespace().map(String::from).collect()
            };
            if argv.is_empty() {
                return Err(check.at(command.span(), "an empty command"));
            }
            let number = match &m.number {
                None => scalewall_probe::custom::NumberPick::Only,
                Some(n) => scalewall_probe::custom::NumberPick::parse(n.get_ref())
                    .map_err(|e| check.at(n.span(), e))?,
            };
            Source::Command { argv, number }
        } else if let Some(dir) = &m.dir {
            Source::Dir {
                path: text(dir)?.into(),
            }
        } else {
            unreachable!("exactly one source was checked above")
        };
        let unit = match &m.unit {
            None => match &source {
                Source::Dir { .. } => "bytes".to_string(),
                _ => "count".to_string(),
            },
            Some(u) if scalewall_stats::metrics::CUSTOM_UNITS.contains(&u.get_ref().as_str()) => {
                u.get_ref().clone()
            }
            Some(u) => {
                return Err(check.at(
                    u.span(),
                    format!(
                        "unit '{}': use one of {}",
                        u.get_ref(),
                        scalewall_stats::metrics::CUSTOM_UNITS.join(", ")
                    ),
                ))
            }
        };
        let higher_is_better = match m.better.as_ref().map(|b| (b, b.get_ref().as_str())) {
            None | Some((_, "lower")) => false,
            Some((_, "higher")) => true,
            Some((b, other)) => {
                return Err(check.at(
                    b.span(),
                    format!("better '{other}': use \"higher\" or \"lower\""),
                ))
            }
        };
        out.push(MetricSpec {
            metric: CustomMetric {
                name,
                unit,
                higher_is_better,
                source,
            },
            timeout,
            during_load: m.during_load.unwrap_or(false),
        });
    }
    Ok(out)
}

/// What a `[[job]]` runs: `command`, `push` or scenarios, each with the
/// keys that go with it only.
fn job_kind(
    check: &Checker<'_>,
    j: &RawJob,
    span: std::ops::Range<usize>,
    name: &str,
    every: std::time::Duration,
) -> Result<JobKind, ConfigError> {
    let push = j.push.as_ref().is_some_and(|p| *p.get_ref());
    let external = j.command.is_some() || push;
    if external {
        let load_key = [
            ("scenarios", j.scenarios.as_ref().map(Spanned::span)),
            ("services", j.services.as_ref().map(Spanned::span)),
            ("config", j.config.as_ref().map(Spanned::span)),
        ]
        .into_iter()
        .find_map(|(key, span)| Some((key, span?)));
        if let Some((key, at)) = load_key {
            return Err(check.at(
                at,
                format!(
                    "job '{name}' runs {}: {key} belongs to a job of scenarios",
                    if push {
                        "nothing itself (push = true)"
                    } else {
                        "a command"
                    }
                ),
            ));
        }
    }
    if j.grace.is_some() && !push {
        return Err(check.at(
            j.grace.as_ref().map(Spanned::span).unwrap_or(span),
            format!("job '{name}': grace is for a push = true job"),
        ));
    }
    if j.shell.is_some() && j.command.is_none() {
        return Err(check.at(span, format!("job '{name}': shell goes with command")));
    }
    match (&j.command, push) {
        (Some(c), true) => Err(check.at(
            c.span(),
            format!("job '{name}' has both command and push = true: a command job is run by the daemon, a push job reports itself"),
        )),
        (Some(c), false) => {
            let shell = j.shell.unwrap_or(false);
            let argv = match (c.get_ref(), shell) {
                (RawCommand::Line(line), true) => {
                    vec!["sh".to_string(), "-c".to_string(), line.clone()]
                }
                (RawCommand::Line(line), false) => {
                    return Err(check.at(
                        c.span(),
                        format!("command \"{line}\" is a line: set shell = true to run it with sh -c, or give [\"program\", \"arg\", …]"),
                    ))
                }
                (RawCommand::Argv(_), true) => {
                    return Err(check.at(
                        c.span(),
                        "shell = true takes command = \"a line\", not a list",
                    ))
                }
                (RawCommand::Argv(argv), false) => argv.clone(),
            };
            if argv.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(check.at(c.span(), "command needs a program"));
            }
            Ok(JobKind::Command { argv })
        }
        (None, true) => {
            if j.every.is_none() {
                return Err(check.at(
                    span,
                    format!("push job '{name}' needs every = \"…\": how often it reports"),
                ));
            }
            let grace = match &j.grace {
                None => every.mul_f64(DEFAULT_PUSH_GRACE),
                Some(g) => parse_grace(g.get_ref(), every).map_err(|e| check.at(g.span(), e))?,
            };
            Ok(JobKind::Push { grace })
        }
        (None, false) => Ok(JobKind::Load),
    }
}

/// `grace = "20%"` (of `every`) or `"5m"`.
fn parse_grace(text: &str, every: std::time::Duration) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if let Some(share) = text.strip_suffix('%') {
        let share: f64 = share
            .trim()
            .parse()
            .ok()
            .filter(|p: &f64| p.is_finite() && *p >= 0.0)
            .ok_or_else(|| {
                format!("grace '{text}': expected a share like \"20%\" or a duration like \"5m\"")
            })?;
        return Ok(every.mul_f64(share / 100.0));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("grace '{text}': {e} (e.g. \"20%\" or \"5m\")"))
}

/// `[watch]`, `[[job]]` and `[[alert]]`, validated.
type WatchSections = (Option<WatchSettings>, Vec<WatchJob>, Vec<AlertSpec>);

/// `[watch]`, `[[job]]` and `[[alert]]`.
fn parse_watch(
    check: &Checker<'_>,
    raw: &RawConfig,
    scenario_names: &BTreeSet<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<WatchSections, ConfigError> {
    let watch = match &raw.watch {
        None => None,
        Some(w) => {
            let w = w.get_ref();
            let listen = match &w.listen {
                Some(l) => {
                    let text = check.interpolate(l, env)?;
                    text.parse::<std::net::SocketAddr>().map_err(|_| {
                        check.at(
                            l.span(),
                            format!("listen '{text}': expected HOST:PORT with an IP address"),
                        )
                    })?;
                    text
                }
                None => WATCH_LISTEN.to_string(),
            };
            let token = w
                .token
                .as_ref()
                .map(|t| check.interpolate(t, env))
                .transpose()?;
            if let (Some(t), Some(span)) = (&token, w.token.as_ref().map(Spanned::span)) {
                if t.len() < 16 {
                    return Err(check.at(span, "token must be at least 16 characters"));
                }
            }
            Some(WatchSettings { listen, token })
        }
    };
    let mut jobs: Vec<WatchJob> = Vec::new();
    for spanned in &raw.job {
        let j = spanned.get_ref();
        let name = j.name.get_ref();
        if !valid_name(name) {
            return Err(check.at(
                j.name.span(),
                "job name must be letters, digits, '-' or '_'",
            ));
        }
        if jobs.iter().any(|other| other.name == *name) {
            return Err(check.at(j.name.span(), format!("a second job named '{name}'")));
        }
        let duration = |v: &Spanned<String>, what: &str| {
            humantime::parse_duration(v.get_ref().trim()).map_err(|e| {
                check.at(
                    v.span(),
                    format!("{what} '{}': {e} (e.g. \"15m\", \"30s\")", v.get_ref()),
                )
            })
        };
        let (every, cron) = match (&j.every, &j.cron) {
            (Some(e), None) => {
                let every = duration(e, "every")?;
                if every < std::time::Duration::from_secs(1) {
                    return Err(check.at(e.span(), "every must be 1s or more"));
                }
                (every, None)
            }
            (None, Some(c)) => {
                let cron: crate::cron::Cron = c
                    .get_ref()
                    .parse()
                    .map_err(|e: String| check.at(c.span(), e))?;
                let now = std::time::SystemTime::now();
                let gap = cron
                    .next_after(now)
                    .and_then(|first| Some((first, cron.next_after(first)?)))
                    .and_then(|(first, second)| second.duration_since(first).ok())
                    .ok_or_else(|| {
                        check.at(c.span(), format!("cron '{}' never fires", c.get_ref()))
                    })?;
                (gap, Some(cron))
            }
            _ => {
                return Err(check.at(
                    spanned.span(),
                    format!(
                    "job '{name}' needs exactly one of every = \"15m\" or cron = \"*/15 * * * *\""
                ),
                ))
            }
        };
        let timeout = match &j.timeout {
            Some(t) => duration(t, "timeout")?,
            None => every.max(DEFAULT_JOB_TIMEOUT),
        };
        let jitter = match &j.jitter {
            Some(v) => parse_jitter(v.get_ref()).map_err(|e| check.at(v.span(), e))?,
            None => 0.0,
        };
        let scenarios = match &j.scenarios {
            Some(list) => {
                if j.config.is_none() {
                    if let Some(unknown) =
                        list.get_ref().iter().find(|s| !scenario_names.contains(*s))
                    {
                        return Err(check.at(
                            list.span(),
                            format!(
                                "job '{name}' names an unknown scenario '{unknown}' (scenarios: {})",
                                scenario_names.iter().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        ));
                    }
                }
                list.get_ref().clone()
            }
            None => Vec::new(),
        };
        let services = match &j.services {
            Some(list) => {
                if j.config.is_none() {
                    if let Some(unknown) = list
                        .get_ref()
                        .iter()
                        .find(|s| !raw.service.iter().any(|r| r.get_ref().name.get_ref() == *s))
                    {
                        return Err(check.at(
                            list.span(),
                            format!("job '{name}' names an unknown service '{unknown}'"),
                        ));
                    }
                }
                list.get_ref().clone()
            }
            None => Vec::new(),
        };
        let kind = job_kind(check, j, spanned.span(), name, every)?;
        if kind == JobKind::Load && j.config.is_none() && scenario_names.is_empty() {
            return Err(check.at(
                spanned.span(),
                format!("job '{name}' has no scenario to run: declare [[scenario]]s or give config = \"…\""),
            ));
        }
        jobs.push(WatchJob {
            name: name.clone(),
            every,
            cron,
            jitter,
            timeout,
            scenarios,
            services,
            config: j.config.as_ref().map(|c| c.get_ref().clone()),
            kind,
        });
    }
    let mut alerts = Vec::new();
    for spanned in &raw.alert {
        let a = spanned.get_ref();
        let url = check.interpolate(&a.url, env)?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(check.at(
                a.url.span(),
                "alert url must start with http:// or https://",
            ));
        }
        let slack = match &a.format {
            None => false,
            Some(f) => match f.get_ref().as_str() {
                "json" => false,
                "slack" => true,
                other => {
                    return Err(check.at(
                        f.span(),
                        format!("alert format '{other}': expected \"json\" or \"slack\""),
                    ))
                }
            },
        };
        let on = match &a.on {
            None => vec![
                AlertTrigger::Status,
                AlertTrigger::Finding(scalewall_model::Severity::Critical),
            ],
            Some(list) => list
                .get_ref()
                .iter()
                .map(|t| parse_trigger(t))
                .collect::<Result<_, _>>()
                .map_err(|e| check.at(list.span(), e))?,
        };
        let repeat = match &a.repeat {
            None => ALERT_REPEAT,
            Some(r) => humantime::parse_duration(r.get_ref().trim()).map_err(|e| {
                check.at(
                    r.span(),
                    format!("alert repeat '{}': {e} (e.g. \"4h\", \"30m\")", r.get_ref()),
                )
            })?,
        };
        alerts.push(AlertSpec {
            url,
            slack,
            on,
            repeat,
        });
    }
    Ok((watch, jobs, alerts))
}

/// Parses a jitter: "10%" or a share "0.1" (0–50 %).
pub fn parse_jitter(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let share = match text.strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().map(|p| p / 100.0),
        None => text.parse::<f64>(),
    }
    .map_err(|_| format!("jitter '{text}': expected a percentage such as \"10%\""))?;
    if !(0.0..=0.5).contains(&share) {
        return Err(format!("jitter '{text}' must be between 0% and 50%"));
    }
    Ok(share)
}

/// The `bench`/`sweep` command line a scenario stands for.
/// A `kind = "probe"` scenario: its service (any probe: url health, tcp,
/// redis, postgres, nats) is read and judged with the run's snapshot;
/// it sends no load, so any load key is a mistake said as such.
fn probe_scenario(
    check: &Checker<'_>,
    spanned: &Spanned<RawScenario>,
    services: &[Service],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Scenario, ConfigError> {
    let s = spanned.get_ref();
    let name = s.name.get_ref();
    let Some(named) = &s.service else {
        return Err(check.at(
            spanned.span(),
            format!("scenario '{name}': kind = \"probe\" needs the service = \"…\" it probes"),
        ));
    };
    if !services.iter().any(|svc| svc.name == *named.get_ref()) {
        return Err(check.at(
            named.span(),
            format!("unknown service '{}'", named.get_ref()),
        ));
    }
    if let Some(exec) = &s.exec {
        return Err(check.at(
            exec.span(),
            format!("scenario '{name}': kind = \"probe\" loads nothing, so exec does not apply"),
        ));
    }
    let argv = scenario_argv(check, s, None, env)?;
    if let Some(extra) = argv[2..].iter().find(|a| *a != "--no-progress") {
        let key = extra
            .trim_start_matches("--")
            .split('=')
            .next()
            .unwrap_or("")
            .replace('-', "_");
        return Err(check.at(
            spanned.span(),
            format!("scenario '{name}': kind = \"probe\" loads nothing, so {key} does not apply"),
        ));
    }
    Ok(Scenario {
        name: name.clone(),
        service: named.get_ref().clone(),
        command: Command::Probe,
    })
}

/// A `param` entry's values as `--param` takes them: `V` or `V1,V2,…`
/// (strings, numbers or booleans).
fn param_values(value: &toml::Value) -> Option<String> {
    let one = |v: &toml::Value| match v {
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Integer(n) => Some(n.to_string()),
        toml::Value::Float(x) => Some(x.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    };
    match value {
        toml::Value::Array(values) => values
            .iter()
            .map(one)
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        other => one(other),
    }
}

fn scenario_argv(
    check: &Checker<'_>,
    s: &RawScenario,
    url: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ConfigError> {
    let mut argv: Vec<String> = vec!["scalewall".into()];
    argv.push(match s.kind {
        ScenarioKind::Bench => "bench".into(),
        ScenarioKind::Sweep | ScenarioKind::Capacity => "sweep".into(),
        ScenarioKind::Probe => "probe".into(),
    });
    if matches!(s.kind, ScenarioKind::Capacity) && s.slo.is_empty() && !s.until_peak {
        return Err(check.at(
            s.name.span(),
            format!(
                "scenario '{}': kind = \"capacity\" needs slo = [\"p99<50ms\", …] or until_peak = true",
                s.name.get_ref()
            ),
        ));
    }
    match (url, &s.exec) {
        (Some(url), _) => argv.push(url),
        (None, Some(exec)) => {
            argv.push(format!("--exec={}", check.interpolate(exec, env)?));
            for (name, value) in &s.param {
                let values = param_values(value).ok_or_else(|| {
                    check.at(
                        s.name.span(),
                        format!(
                            "scenario '{}': param {name} takes a value or a list of values",
                            s.name.get_ref()
                        ),
                    )
                })?;
                argv.push(format!("--param={name}={values}"));
            }
            if let Some(sizes) = &s.project {
                let sizes: Vec<String> = sizes.iter().map(f64::to_string).collect();
                argv.push(format!("--project={}", sizes.join(",")));
            }
        }
        (None, None) => {}
    }
    let mut option = |flag: &str, value: Option<String>| {
        if let Some(value) = value {
            argv.push(format!("--{flag}={value}"));
        }
    };
    option("method", s.method.clone());
    option("timeout", s.timeout.clone());
    option("threads", s.threads.map(|t| t.to_string()));
    option("connections", s.connections.map(|c| c.to_string()));
    option("duration", s.duration.clone());
    option("requests", s.requests.map(|n| n.to_string()));
    option("rate", s.rate.map(|r| r.to_string()));
    option("warmup", s.warmup.clone());
    option(
        "concurrency",
        s.concurrency.as_ref().map(|levels| {
            levels
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }),
    );
    option("step", s.step.clone());
    option("message-size", s.message_size.map(|n| n.to_string()));
    option("pipeline", s.pipeline.map(|n| n.to_string()));
    option("streams", s.streams.map(|n| n.to_string()));
    option("command", s.command.clone());
    option("keyspace", s.keyspace.map(|n| n.to_string()));
    option("query", s.query.clone());
    option("nats-mode", s.nats_mode.clone());
    option("subject", s.subject.clone());
    option(
        "rate-connections",
        s.rate_connections.map(|n| n.to_string()),
    );
    option("start-rate", s.start_rate.map(|r| r.to_string()));
    option("max-level", s.max_level.map(|r| r.to_string()));
    option("precision", s.precision.clone());
    option("budget", s.budget.clone());
    option("stages", s.stages.clone());
    option("stream", s.stream.clone());
    option("stream-done", s.stream_done.clone());
    option(
        "data",
        s.data.as_ref().map(|data| {
            let folder = std::path::Path::new(check.file)
                .parent()
                .unwrap_or(std::path::Path::new(""));
            folder.join(data).display().to_string()
        }),
    );
    option("data-order", s.data_order.clone());
    for check in &s.checks {
        argv.push(format!("--check={check}"));
    }
    for slo in &s.slo {
        argv.push(format!("--slo={slo}"));
    }
    if s.until_peak {
        argv.push("--until-peak".into());
    }
    if s.rate_search {
        argv.push("--rate-search".into());
    }
    for param in &s.query_params {
        argv.push(format!("--query-param={param}"));
    }
    if s.connect_only {
        argv.push("--connect-only".into());
    }
    for header in &s.headers {
        argv.push(format!("--header={}", check.interpolate(header, env)?));
    }
    if let Some(body) = &s.body {
        argv.push(format!("--body={}", check.interpolate(body, env)?));
    }
    if s.http2 {
        argv.push("--http2".into());
    }
    if s.insecure {
        argv.push("--insecure".into());
    }
    argv.push("--no-progress".into());
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` is refused with a mistake located on `line` that says `says`.
    fn refused_at(text: &str, line: usize, says: &str) {
        let error = parse_text(text).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("scalewall.toml:{line}:")),
            "{text}: {error}"
        );
        assert!(error.contains(says), "{text}: {error}");
    }

    fn env(name: &str) -> Option<String> {
        (name == "API_TOKEN").then(|| "s3cret".to_string())
    }

    fn parse_text(text: &str) -> Result<Config, ConfigError> {
        parse("scalewall.toml", text, &env, 2)
    }

    const GOOD: &str = r#"
name = "shop"

[[service]]
name = "api"
url = "http://127.0.0.1:8080"
health = "http://127.0.0.1:8080/health"
process = { port = 8080 }

[[service]]
name = "cache"
redis = "redis://127.0.0.1:6379"

[[scenario]]
name = "api-get"
service = "api"
kind = "bench"
path = "/items"
connections = 8
duration = "2s"
headers = ["Authorization: Bearer ${API_TOKEN}"]

[[scenario]]
name = "api-sweep"
service = "api"
kind = "sweep"
concurrency = [1, 2, 4, 8]
step = "1s"
warmup = "200ms"

[[threshold]]
metric = "api-get.p99_ms"
warning = 50
critical = 100

[[threshold]]
metric = "api-get.rps"
critical = 100
direction = "below"
"#;

    /// Issue 17: `kind = "capacity"` is a sweep that searches; its SLOs are
    /// checked where they are written, and a threshold may name its
    /// `.capacity`.
    #[test]
    fn a_capacity_scenario_is_a_search_with_its_slos_checked() {
        let base = "[[service]]\nname = \"api\"\nurl = \"http://127.0.0.1:1\"\n\
                    [[scenario]]\nname = \"cap\"\nservice = \"api\"\nkind = \"capacity\"\n";
        let config = parse_text(&format!(
            "{base}slo = [\"p99<50ms\", \"errors<1%\"]\nrate_search = true\nstep = \"1s\"\nprecision = \"10%\"\n\
             [[threshold]]\nmetric = \"cap.capacity\"\ncritical = 100\ndirection = \"below\"\n"
        ))
        .unwrap();
        let Command::Sweep(args) = &config.scenarios[0].command else {
            panic!("a capacity scenario is a sweep");
        };
        let plan = cli::validate_sweep(args, 2).unwrap();
        let search = plan.search.expect("a search");
        // The two written, and the rate search's own: the target keeps up.
        assert_eq!(search.slos.len(), 3);
        assert_eq!(search.slos[2].text, "kept>98%");
        assert_eq!(search.open_connections, Some(64));
        match search.search {
            crate::scenario::Search::Capacity(c) => {
                assert_eq!((c.precision, c.integer, c.start), (0.1, false, 100.0));
            }
            other => panic!("{other:?}"),
        }
        let peak = parse_text(&format!("{base}until_peak = true\n")).unwrap();
        let Command::Sweep(args) = &peak.scenarios[0].command else {
            panic!("a capacity scenario is a sweep");
        };
        assert!(matches!(
            cli::validate_sweep(args, 2).unwrap().search.unwrap().search,
            crate::scenario::Search::Peak(_)
        ));
        let err = parse_text(base).unwrap_err().to_string();
        assert!(
            err.contains("needs slo = [\"p99<50ms\", …] or until_peak = true"),
            "{err}"
        );
        let err = parse_text(&format!("{base}slo = [\"p99<50\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("a latency takes a unit"), "{err}");
    }

    /// `http2 = true` with `streams = N`; streams alone are refused.
    #[test]
    fn a_scenario_takes_http2_streams() {
        let base = "[[service]]\nname = \"api\"\nurl = \"http://127.0.0.1:1\"\n\
                    [[scenario]]\nname = \"get\"\nservice = \"api\"\nkind = \"bench\"\n";
        let config = parse_text(&format!("{base}http2 = true\nstreams = 10\n")).unwrap();
        let Command::Bench(args) = &config.scenarios[0].command else {
            panic!("a bench scenario");
        };
        assert!(args.request.http2);
        assert_eq!(args.request.protocol.streams, 10);
        let err = parse_text(&format!("{base}streams = 10\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs --http2"), "{err}");
    }

    /// `[watch]`, `[[job]]` and `[[alert]]`: defaults, and located mistakes.
    #[test]
    fn watch_jobs_and_alerts_are_checked_where_they_are_written() {
        let base = "[[service]]\nname = \"api\"\nurl = \"http://127.0.0.1:1\"\n\
                    [[scenario]]\nname = \"get\"\nservice = \"api\"\nkind = \"bench\"\n";
        let config = parse_text(&format!(
            "{base}[[job]]\nname = \"api\"\nevery = \"15m\"\njitter = \"10%\"\nscenarios = [\"get\"]\n\
             [[alert]]\nurl = \"https://hooks.example.com/x\"\nformat = \"slack\"\non = [\"status\", \"finding>=HIGH\", \"capacity_drift\"]\n"
        ))
        .unwrap();
        let job = &config.jobs[0];
        assert_eq!(job.every, std::time::Duration::from_secs(900));
        assert_eq!(
            (job.jitter, job.timeout),
            (0.1, DEFAULT_JOB_TIMEOUT.max(job.every))
        );
        assert_eq!(
            config.alerts[0].on,
            [
                AlertTrigger::Status,
                AlertTrigger::Finding(scalewall_model::Severity::High),
                AlertTrigger::CapacityDrift
            ]
        );
        assert!(config.alerts[0].slack && config.watch.is_none());
        let cron = parse_text(&format!(
            "{base}[[job]]\nname = \"nightly\"\ncron = \"*/15 * * * *\"\n"
        ))
        .unwrap();
        assert_eq!(cron.jobs[0].every, std::time::Duration::from_secs(900));
        assert!(cron.jobs[0].cron.is_some());
        for (extra, line, says) in [
            (
                "[[job]]\nname = \"j\"\ncron = \"* * *\"\n",
                10,
                "expected 5 fields",
            ),
            ("[[job]]\nname = \"j\"\n", 8, "exactly one of every"),
            (
                "[[job]]\nname = \"j\"\nevery = \"500ms\"\n",
                10,
                "every must be 1s or more",
            ),
            (
                "[[job]]\nname = \"j\"\nevery = \"1m\"\nscenarios = [\"nope\"]\n",
                11,
                "unknown scenario 'nope'",
            ),
            (
                "[[job]]\nname = \"j\"\nevery = \"1m\"\njitter = \"90%\"\n",
                11,
                "between 0% and 50%",
            ),
            ("[[alert]]\nurl = \"ftp://x\"\n", 9, "http:// or https://"),
            (
                "[[alert]]\nurl = \"http://x\"\non = [\"finding>=BAD\"]\n",
                10,
                "LOW, MEDIUM, HIGH or CRITICAL",
            ),
            ("[watch]\nlisten = \"localhost\"\n", 9, "HOST:PORT"),
            ("[watch]\ntoken = \"short\"\n", 9, "at least 16 characters"),
        ] {
            refused_at(&format!("{base}{extra}"), line, says);
        }
    }

    /// Issue 29, item 1: an `exec` scenario runs a command instead of a
    /// service's url; `param` fills its `{name}`s; mistakes are located.
    #[test]
    fn exec_scenarios_take_a_command_and_its_params() {
        let config = parse_text(
            "[[scenario]]\nname = \"load\"\nkind = \"sweep\"\nexec = \"python3 plugins.py {n}\"\n\
             param = { n = [10, 50, 100] }\nstep = \"1s\"\n",
        )
        .unwrap();
        assert_eq!(config.scenarios[0].service, "");
        let Command::Sweep(args) = &config.scenarios[0].command else {
            panic!("a sweep");
        };
        assert_eq!(
            args.request.protocol.exec.as_deref(),
            Some("python3 plugins.py {n}")
        );
        assert_eq!(args.request.protocol.params, ["n=10,50,100"]);
        let service = "[[service]]\nname = \"api\"\nurl = \"http://127.0.0.1:1\"\n";
        for (text, line, says) in [
            (
                format!("{service}[[scenario]]\nname = \"s\"\nkind = \"bench\"\nservice = \"api\"\nexec = \"true\"\n"),
                8,
                "exec runs a command, service loads its url; give one",
            ),
            (
                "[[scenario]]\nname = \"s\"\nkind = \"bench\"\n".to_string(),
                1,
                "needs service = \"…\" (a service's url to load) or exec = \"…\" (a command)",
            ),
            (
                format!("{service}[[scenario]]\nname = \"s\"\nkind = \"bench\"\nservice = \"api\"\nparam = {{ n = 1 }}\n"),
                4,
                "param fills the {name}s of exec",
            ),
            (
                "[[scenario]]\nname = \"s\"\nkind = \"bench\"\nexec = \"echo {n}\"\nparam = { n = { a = 1 } }\n".to_string(),
                2,
                "param n takes a value or a list of values",
            ),
            (
                "[[scenario]]\nname = \"s\"\nkind = \"bench\"\nexec = \"echo {n}\"\n".to_string(),
                1,
                "no --param n=",
            ),
        ] {
            refused_at(&text, line, says);
        }
    }

    /// Issue 29, item 1: `kind = "probe"` loads nothing: its service (no
    /// url needed) is probed and judged; a load key is a located mistake.
    #[test]
    fn a_probe_scenario_names_a_service_and_nothing_to_load() {
        let base = "[[service]]\nname = \"cache\"\ntcp = \"127.0.0.1:6379\"\n";
        let config = parse_text(&format!(
            "{base}[[scenario]]\nname = \"cache-up\"\nkind = \"probe\"\nservice = \"cache\"\n"
        ))
        .unwrap();
        assert!(matches!(config.scenarios[0].command, Command::Probe));
        assert_eq!(config.scenarios[0].service, "cache");
        for (extra, line, says) in [
            (
                "[[scenario]]\nname = \"p\"\nkind = \"probe\"\nservice = \"cache\"\nduration = \"5s\"\n",
                4,
                "kind = \"probe\" loads nothing, so duration does not apply",
            ),
            (
                "[[scenario]]\nname = \"p\"\nkind = \"probe\"\n",
                4,
                "needs the service = \"…\" it probes",
            ),
            (
                "[[scenario]]\nname = \"p\"\nkind = \"probe\"\nservice = \"db\"\n",
                7,
                "unknown service 'db'",
            ),
        ] {
            refused_at(&format!("{base}{extra}"), line, says);
        }
    }

    /// Issue 29, item 2: command and push jobs need no scenario; each
    /// takes only its own keys, and a mistake is located.
    #[test]
    fn command_and_push_jobs_take_their_own_keys() {
        let config = parse_text(
            "[[job]]\nname = \"backup\"\nevery = \"1h\"\ncommand = [\"pg_dump\", \"test\"]\n\
             [[job]]\nname = \"tidy\"\ncron = \"0 3 * * *\"\ncommand = \"rm -f /tmp/x*\"\nshell = true\n\
             [[job]]\nname = \"nightly\"\nevery = \"1d\"\npush = true\n\
             [[job]]\nname = \"ci\"\nevery = \"10m\"\npush = true\ngrace = \"5m\"\n",
        )
        .unwrap();
        let kinds: Vec<&JobKind> = config.jobs.iter().map(|j| &j.kind).collect();
        assert_eq!(
            kinds,
            [
                &JobKind::Command {
                    argv: vec!["pg_dump".into(), "test".into()]
                },
                &JobKind::Command {
                    argv: vec!["sh".into(), "-c".into(), "rm -f /tmp/x*".into()]
                },
                // 20 % of a day by default.
                &JobKind::Push {
                    grace: std::time::Duration::from_secs(17_280)
                },
                &JobKind::Push {
                    grace: std::time::Duration::from_secs(300)
                },
            ]
        );
        let base = "[[service]]\nname = \"api\"\nurl = \"http://127.0.0.1:1\"\n\
                    [[scenario]]\nname = \"get\"\nservice = \"api\"\nkind = \"bench\"\n";
        for (extra, line, says) in [
            (
                "[[job]]\nname = \"j\"\nevery = \"1m\"\ncommand = \"ls | wc\"\n",
                11,
                "set shell = true",
            ),
            (
                "[[job]]\nname = \"j\"\nevery = \"1m\"\ncommand = [\"ls\"]\nshell = true\n",
                11,
                "not a list",
            ),
            (
                "[[job]]\nname = \"j\"\nevery = \"1m\"\ncommand = []\n",
                11,
                "needs a program",
            ),
            (
                "[[job]]\nname = \"j\"\nevery = \"1m\"\ncommand = [\"ls\"]\nscenarios = [\"get\"]\n",
                12,
                "scenarios belongs to a job of scenarios",
            ),
            (
                "[[job]]\nname = \"j\"\nevery = \"1m\"\ncommand = [\"ls\"]\npush = true\n",
                11,
                "both command and push",
            ),
            (
                "[[job]]\nname = \"j\"\ncron = \"0 3 * * *\"\npush = true\n",
                8,
                "needs every",
            ),
            (
                "[[job]]\nname = \"j\"\nevery = \"1m\"\npush = true\ngrace = \"soon\"\n",
                12,
                "grace 'soon'",
            ),
            (
                "[[job]]\nname = \"j\"\nevery = \"1m\"\ngrace = \"1m\"\n",
                11,
                "grace is for a push = true job",
            ),
        ] {
            refused_at(&format!("{base}{extra}"), line, says);
        }
    }

    /// `history = "path"` or `[history]` with `path` and `keep_full`.
    #[test]
    fn history_takes_a_path_or_a_table_with_retention() {
        let base = "[[service]]\nname = \"api\"\nurl = \"http://127.0.0.1:1\"\n";
        let config = parse_text(&format!("history = \"h.db\"\n{base}")).unwrap();
        assert_eq!(
            (config.history.as_deref(), config.keep_full),
            (Some("h.db"), None)
        );
        let config = parse_text(&format!(
            "{base}[history]\npath = \"h.db\"\nkeep_full = \"30d\"\n"
        ))
        .unwrap();
        assert_eq!(config.history.as_deref(), Some("h.db"));
        assert_eq!(
            config.keep_full,
            Some(std::time::Duration::from_secs(30 * 86_400))
        );
        let error = parse_text(&format!("{base}[history]\nkeep_full = \"soon\"\n")).unwrap_err();
        assert!(
            error.to_string().contains("history keep_full 'soon'"),
            "{error}"
        );
    }

    /// Issue 13: a service's `process` chooses its scenarios' target set.
    #[test]
    fn a_services_process_is_its_scenarios_target_set() {
        let config = |process: &str| {
            parse_text(&format!(
                "[[service]]\nname = \"db\"\nurl = \"http://127.0.0.1:1\"\nprocess = {process}\n\
                 [[scenario]]\nname = \"q\"\nservice = \"db\"\nkind = \"bench\"\n"
            ))
        };
        let target = |process: &str| {
            let config = config(process).unwrap();
            let Command::Bench(bench) = &config.scenarios[0].command else {
                panic!("bench expected")
            };
            bench.request.target_process.clone()
        };
        assert_eq!(
            target("{ name = \"postgres\" }"),
            Some(TargetSelector::Processes {
                roots: ProcessSelector::Name("postgres".into()),
                tree: true
            })
        );
        assert_eq!(
            target("{ pid = 7, tree = false }"),
            Some(TargetSelector::Processes {
                roots: ProcessSelector::Pid(7),
                tree: false
            })
        );
        assert_eq!(
            target("{ cgroup = \"/system.slice/postgresql.service\" }"),
            Some(TargetSelector::Cgroup(
                "system.slice/postgresql.service".into()
            ))
        );
        let error = config("{ cgroup = \"x\", tree = false }").unwrap_err();
        assert!(
            error.to_string().starts_with("scalewall.toml:4:"),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains("exactly one of pid, name, port, cgroup or container"),
            "{error}"
        );
    }

    #[test]
    fn the_example_and_a_full_config_are_accepted() {
        let config = parse_text(GOOD).unwrap();
        assert_eq!(config.name, "shop");
        assert_eq!(config.services.len(), 2);
        assert_eq!(
            config.services[0].process,
            Some(ProcessSelector::Port(8080))
        );
        let Command::Bench(bench) = &config.scenarios[0].command else {
            panic!("bench expected")
        };
        assert_eq!(
            bench.request.url.as_deref(),
            Some("http://127.0.0.1:8080/items")
        );
        assert_eq!(bench.connections, 8);
        assert_eq!(bench.request.headers, ["Authorization: Bearer s3cret"]);
        let Command::Sweep(sweep) = &config.scenarios[1].command else {
            panic!("sweep expected")
        };
        assert_eq!(sweep.concurrency, [1, 2, 4, 8]);
        assert_eq!(config.thresholds[1].direction, Direction::Below);
        assert!(config.report_formats.contains(&ReportFormat::Markdown));
        parse("scalewall.example.toml", EXAMPLE, &|_| Some("x".into()), 2).unwrap();
    }

    fn error_of(text: &str) -> ConfigError {
        parse_text(text).unwrap_err()
    }

    #[test]
    fn distributed_sends_every_scenario_to_its_workers() {
        let base = "[[service]]\nname = \"api\"\nurl = \"http://h\"\n[[scenario]]\nname = \"a\"\nservice = \"api\"\nkind = \"bench\"\n";
        let config = parse_text(&format!(
            "{base}[distributed]\nnats = \"nats://n:4222\"\nworkers = 3\n"
        ))
        .unwrap();
        let Command::Bench(bench) = &config.scenarios[0].command else {
            panic!("bench expected")
        };
        assert_eq!(
            bench.request.fleet.workers.as_deref(),
            Some("nats://n:4222")
        );
        assert_eq!(bench.request.fleet.min_workers, 3);
        assert_eq!(bench.request.fleet.max_workers, Some(3));
        let e = error_of(&format!(
            "{base}[distributed]\nnats = \"nats://n:4222\"\nworkers = 0\n"
        ));
        assert_eq!(
            (e.line, e.message.as_str()),
            (10, "workers must be at least 1")
        );
        let e = error_of(&format!("{base}[distributed]\nnat = \"x\"\n"));
        assert!(e.message.contains("unknown field `nat`"), "{}", e.message);
    }

    const PLAN_BASE: &str = "[[service]]\nname = \"api\"\nurl = \"http://h\"\n[[scenario]]\nname = \"api-scaling\"\nservice = \"api\"\nkind = \"sweep\"\n[plan]\nscales = { agents = [10, 50] }\n[[plan.driver]]\nname = \"agents\"\ncurrent = 5\n[[plan.component]]\n";

    #[test]
    fn a_plan_is_parsed_into_base_units() {
        let text = format!(
            "{PLAN_BASE}service = \"api\"\ndemand = {{ agents = \"30/min\" }}\ncapacity_from = \"api-scaling\"\nscaling = \"shardable\"\ninstances = 2\ncost_per_instance = 50\n"
        );
        let plan = parse_text(&text).unwrap().plan.unwrap();
        assert_eq!(plan.drivers, [("agents".to_string(), 5.0)]);
        assert_eq!(plan.scales, [("agents".to_string(), vec![10.0, 50.0])]);
        let c = &plan.components[0];
        assert_eq!((c.kind, c.per_unit["agents"]), (DemandKind::Rate, 0.5));
        assert_eq!(
            (c.scaling, c.instances, c.cost_per_instance),
            (ScalingKind::Shardable, 2, 50.0)
        );
        assert_eq!(plan.wall, 2);
    }

    #[test]
    fn plan_mistakes_name_the_place() {
        // unknown component: line 14 (service = …), column 11
        let e = error_of(&format!(
            "{PLAN_BASE}service = \"cache\"\ndemand = {{ agents = \"2/s\" }}\ncapacity = \"10/s\"\n"
        ));
        assert_eq!((e.line, e.column), (14, 11), "{e}");
        assert!(e.message.contains("unknown component 'cache'"), "{e}");
        // a unit typo, pointing at the value
        let e = error_of(&format!(
            "{PLAN_BASE}service = \"api\"\ndemand = {{ agents = \"2/mni\" }}\ncapacity = \"10/s\"\n"
        ));
        assert_eq!((e.line, e.column), (15, 21), "{e}");
        assert!(e.message.contains("unknown unit '/mni'"), "{e}");
        // a negative demand
        let e = error_of(&format!(
            "{PLAN_BASE}service = \"api\"\ndemand = {{ agents = \"-2/s\" }}\ncapacity = \"10/s\"\n"
        ));
        assert_eq!(e.line, 15, "{e}");
        assert!(e.message.contains("negative"), "{e}");
        // capacity in another kind than the demand, and an unknown driver
        let e = error_of(&format!(
            "{PLAN_BASE}service = \"api\"\ndemand = {{ agents = \"2/s\" }}\ncapacity = \"10 sessions\"\n"
        ));
        assert!(
            e.message
                .contains("capacity is in sessions, the demand in ops/s"),
            "{e}"
        );
        let e = error_of(&format!(
            "{PLAN_BASE}service = \"api\"\ndemand = {{ users = \"2/s\" }}\ncapacity = \"10/s\"\n"
        ));
        assert!(
            e.message
                .contains("unknown driver 'users' (drivers: agents)"),
            "{e}"
        );
    }

    #[test]
    fn each_kind_of_mistake_names_line_and_column() {
        // TOML syntax
        let e = error_of("name = \"x\"\n[[service]\nname = \"a\"\n");
        assert_eq!((e.line, e.file.as_str()), (2, "scalewall.toml"), "{e}");
        // unknown key (a typo)
        let e = error_of("[[service]]\nname = \"a\"\nurll = \"http://x\"\n");
        assert_eq!((e.line, e.column), (3, 1), "{e}");
        assert!(e.message.contains("unknown field `urll`"), "{e}");
        // wrong type
        let e = error_of("[[service]]\nname = \"a\"\nurl = \"http://h\"\n[[scenario]]\nname = \"s\"\nservice = \"a\"\nkind = \"bench\"\nconnections = \"many\"\n");
        assert_eq!(e.line, 8, "{e}");
        // unknown service
        let e = error_of("[[service]]\nname = \"a\"\nurl = \"http://h\"\n[[scenario]]\nname = \"s\"\nservice = \"b\"\nkind = \"bench\"\n");
        assert_eq!((e.line, e.column), (6, 11), "{e}");
        assert!(
            e.message.contains("unknown service 'b' (services: a)"),
            "{e}"
        );
        // a bad duration, through the command-line parser
        let e = error_of("[[service]]\nname = \"a\"\nurl = \"http://h\"\n[[scenario]]\nname = \"s\"\nservice = \"a\"\nkind = \"bench\"\nduration = \"5 parsecs\"\n");
        assert_eq!(e.line, 4, "{e}");
        assert!(
            e.message.contains("scenario 's'") && e.message.contains("5 parsecs"),
            "{e}"
        );
        // a missing environment variable
        let e = error_of("[[service]]\nname = \"a\"\nurl = \"http://${NOPE}/\"\n");
        assert_eq!((e.line, e.column), (3, 7), "{e}");
        assert!(e.message.contains("NOPE is not set"), "{e}");
        // a threshold on an unknown root, and one in the wrong order
        let e = error_of("[[threshold]]\nmetric = \"nothing.p99_ms\"\ncritical = 1\n");
        assert_eq!(e.line, 2, "{e}");
        let e = error_of(
            "[[threshold]]\nmetric = \"host.mem_used_pct\"\nwarning = 90\ncritical = 80\n",
        );
        assert!(
            e.message
                .contains("warning 90 must come before critical 80"),
            "{e}"
        );
        // an invalid URL
        let e = error_of("[[service]]\nname = \"a\"\nurl = \"ftp://h\"\n");
        assert_eq!(e.line, 3, "{e}");
        assert_eq!(
            e.to_string().split(':').take(3).collect::<Vec<_>>(),
            ["scalewall.toml", "3", "7"]
        );
    }

    /// Issue 21, item 2: `metric = "gw-get.p99ms"` was valid, and its gate
    /// was silently off.
    #[test]
    fn a_misspelled_metric_is_a_located_error_with_the_closest_name() {
        let base =
            "[[service]]\nname = \"gw\"\nurl = \"http://127.0.0.1:1\"\nprocess = { port = 1 }\n\
                    [[scenario]]\nname = \"gw-get\"\nservice = \"gw\"\nkind = \"bench\"\n";
        let e = error_of(&format!(
            "{base}[[threshold]]\nmetric = \"gw-get.p99ms\"\ncritical = 100\n"
        ));
        assert_eq!((e.line, e.column), (10, 10), "{e}");
        assert!(e.message.contains("did you mean gw-get.p99_ms?"), "{e}");
        // a sweep level that is not swept, and a plan limit, are checked too
        let e = error_of(&format!(
            "{base}[[threshold]]\nmetric = \"gw-get.c64.rps\"\nwarning = 1\n"
        ));
        assert!(
            e.message
                .contains("no run of this config measures 'gw-get.c64.rps'"),
            "{e}"
        );
        for good in [
            "gw-get.p99_ms",
            "gw.rss_mb",
            "host.disk_used_pct[/]",
            "host.load1",
        ] {
            parse_text(&format!(
                "{base}[[threshold]]\nmetric = \"{good}\"\nwarning = 1\n"
            ))
            .unwrap_or_else(|e| panic!("{good}: {e}"));
        }
    }

    /// Issue 21, item 3: `helth` on line 4 and `conections` on line 9 gave
    /// only line 9. Every mistake, in file order.
    #[test]
    fn every_unknown_key_is_reported_in_file_order() {
        let text = "name = \"x\"\n[[service]]\nname = \"api\"\nhelth = \"http://h/health\"\nurl = \"http://h\"\n\
                    [[scenario]]\nname = \"get\"\nservice = \"api\"\nconections = 4\nkind = \"bench\"\n";
        let ConfigErrors(mistakes) = parse_all("scalewall.toml", text, &env, 2).unwrap_err();
        let lines: Vec<usize> = mistakes.iter().map(|e| e.line).collect();
        assert_eq!(lines, [4, 9], "{mistakes:?}");
        assert!(
            mistakes[0].message.contains("unknown field `helth`"),
            "{}",
            mistakes[0]
        );
        assert!(
            mistakes[1].message.contains("unknown field `conections`"),
            "{}",
            mistakes[1]
        );
        // a semantic mistake after a typo is reported too, after it in the file
        let both = text.replace(
            "kind = \"bench\"",
            "kind = \"bench\"\n[[threshold]]\nmetric = \"get.p99ms\"\nwarning = 1",
        );
        let ConfigErrors(mistakes) = parse_all("scalewall.toml", &both, &env, 2).unwrap_err();
        assert_eq!(mistakes.len(), 3, "{mistakes:?}");
        assert!(
            mistakes[2].message.contains("did you mean get.p99_ms?"),
            "{}",
            mistakes[2]
        );
        assert!(parse_all("scalewall.toml", GOOD, &env, 2).is_ok());
    }

    /// Issue 29, item 9: a file with five different mistakes on five
    /// lines needed five calls. Now one, each located; a wrong value's
    /// consequence (its table then lacks the key) is not reported.
    #[test]
    fn five_mistakes_on_five_lines_are_five_located_errors() {
        let text = "name = \"x\"\n\
                    [[service]]\nname = \"api\"\nurl = \"http://h\"\nhelth = \"http://h/health\"\n\
                    [[scenario]]\nname = \"get\"\nservice = \"api\"\nkind = \"bench\"\nconnections = -4\n\
                    [watch]\nlisten = \"127.0.0.1:9477\"\n\
                    [[job]]\nname = \"j\"\nevery = \"15m\"\njitter = \"lots\"\n\
                    [[alert]]\nurl = \"http://h/hook\"\nrepeat = \"often\"\n\
                    [report]\nkeep = \"a while\"\n";
        let ConfigErrors(mistakes) = parse_all("scalewall.toml", text, &env, 2).unwrap_err();
        let lines: Vec<usize> = mistakes.iter().map(|e| e.line).collect();
        assert_eq!(lines, [5, 10, 16, 19, 21], "{mistakes:#?}");
        for (mistake, says) in mistakes.iter().zip([
            "unknown field `helth`",
            "expected u32",
            "lots",
            "alert repeat 'often'",
            "report keep 'a while'",
        ]) {
            assert!(mistake.message.contains(says), "{mistake}");
        }
        // A wrong url is loaded by scenarios elsewhere: the search stops
        // at it rather than report "service 'api' has no url" after it.
        let loaded = text.replace("url = \"http://h\"\nhelth", "url = \"ftp://h\"\nhelth");
        let ConfigErrors(mistakes) = parse_all("scalewall.toml", &loaded, &env, 2).unwrap_err();
        assert!(
            mistakes
                .iter()
                .any(|m| m.message.contains("unsupported scheme 'ftp'")),
            "{mistakes:#?}"
        );
        assert!(
            !mistakes.iter().any(|m| m.message.contains("has no url")),
            "{mistakes:#?}"
        );
        // A wrong name is referenced elsewhere: the search stops at it (no
        // "unknown service" for the scenario that names it).
        let named = "[[service]]\nname = \"a b\"\nurl = \"http://h\"\n[[scenario]]\nname = \"get\"\nservice = \"a b\"\nkind = \"bench\"\nconnections = -1\n";
        let ConfigErrors(mistakes) = parse_all("scalewall.toml", named, &env, 2).unwrap_err();
        let said: Vec<&str> = mistakes.iter().map(|m| m.message.as_str()).collect();
        assert_eq!(
            said,
            [
                "service name must be letters, digits, '-' or '_'",
                "invalid value: integer `-1`, expected u32"
            ]
        );
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_column("ab\nσκ = 1", 7), (2, 3));
        assert_eq!(line_column("", 0), (1, 1));
    }
}
