//! Command-line arguments (clap): the commands and their options. Parsing
//! does no I/O. The load options of `bench` and `sweep` are the job
//! library's scenario language (`scalewall_job::scenario`), shared with the
//! config. Field docs are the `--help` text.

use clap::{Args, Parser, Subcommand, ValueEnum};
pub use scalewall_job::scenario::{parse_duration, BenchArgs, OutputFormat, StoreArgs, SweepArgs};
use std::path::PathBuf;
use std::time::Duration;

/// Find your scaling wall before your users do.
///
/// Load-tests services, sweeps concurrency and fits the Universal Scalability
/// Law to predict where throughput stops growing.
#[derive(Debug, Parser)]
#[command(name = "scalewall", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The main job: probe, load every scenario, check thresholds, compare
    /// with earlier runs, store the run and write the report. Without a
    /// config (and no ./scalewall.toml) it checks this host: system health
    /// and an end-to-end self-check of the load path against a built-in
    /// target with a known answer.
    Run(RunArgs),
    /// Write a commented example config.
    Init(InitArgs),
    /// Check a config and say where each mistake is.
    Validate(ValidateArgs),
    /// List stored runs, newest first.
    History(HistoryArgs),
    /// Print a stored run's full record (versioned JSON).
    Show(ShowArgs),
    /// Compare two stored runs metric by metric (Mann–Whitney U on per-second samples).
    Compare(CompareArgs),
    /// Render a stored run's report again.
    Report(ReportArgs),
    /// Mark a stored run as the baseline its subject's later runs are compared with.
    Baseline(BaselineArgs),
    /// Run the built-in runtime suite: fixed micro-benchmarks of this machine
    /// and runtime (allocation, CPU, workers, JSON, file+fsync, thread and
    /// task spawn, mutex, channel, context switch), comparable across hosts and days.
    Suite(SuiteArgs),
    /// The capacity plan: utilisation of every component at every scale of
    /// the growth drivers, the first break, the scaling wall, instances and
    /// cost, growth projections and recommendations, from the config's
    /// [plan] and the latest stored run.
    Plan(PlanArgs),
    /// Load-test one target (like wrk or oha): latency percentiles, throughput, errors.
    Bench(BenchArgs),
    /// Step through concurrency levels and fit the Universal Scalability Law:
    /// where does throughput stop growing?
    Sweep(SweepArgs),
    /// Fit the Universal Scalability Law to (concurrency, throughput) pairs in a CSV file.
    Fit(FitArgs),
    /// One snapshot of host, process and service health, like a report's "System health".
    Probe(ProbeArgs),
    /// Start a built-in demo target and bench it: scalewall in one command.
    Demo(DemoArgs),
    /// Serve the built-in target with a known latency and scaling curve.
    DemoServer(DemoServerArgs),
    /// The continuous engine: run the config's [[job]]s on their schedules
    /// (one run at a time), keep each job's status (OK, RECOVERING,
    /// FAILING, TIMEOUT), send [[alert]]s, and serve a dashboard, /health,
    /// /api/status and /metrics on [watch] listen (127.0.0.1:9477).
    Watch(WatchArgs),
    /// The watched jobs' statuses from the history, without a daemon.
    Status(StatusArgs),
    /// Report a run of a push job (`[[job]] push = true`) to the running
    /// daemon: POST /api/jobs/NAME/runs on [watch] listen, with its token.
    /// End a cron job, a CI task or a backup script with it; a push job
    /// with no report within `every` + `grace` turns FAILING ("late").
    ReportJob(ReportJobArgs),
    /// A load generator for distributed runs: waits on NATS for the parts
    /// a coordinator (`bench`, `sweep` or `run` with --workers) assigns,
    /// runs each with the same engine and streams its figures back every
    /// interval. It loads only the targets --allow-target names (default:
    /// loopback only). Ctrl-C or SIGTERM stops it, ending a part in progress.
    Worker(WorkerArgs),
}

/// Options of `scalewall worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The NATS server: nats://[user:password@|token@]host:port, tls:// for TLS.
    #[arg(long, value_name = "NATS_URL")]
    pub nats: String,
    /// This worker's name, unique on the NATS server (default: host name and process id).
    #[arg(long)]
    pub name: Option<String>,
    /// A target this worker may load (repeatable): a host name, *.domain,
    /// either with :port, an address or network (10.0.0.0/8), or * for any.
    /// Default: loopback only.
    #[arg(long = "allow-target", value_name = "PATTERN")]
    pub allow_targets: Vec<scalewall_fleet::allow::Pattern>,
    /// NATS credentials file (JWT and NKey seed).
    #[arg(long, value_name = "PATH")]
    pub nats_creds: Option<PathBuf>,
}

/// Options of `scalewall watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Config file with [[job]]s.
    #[arg(
        short = 'f',
        long,
        value_name = "PATH",
        default_value = "scalewall.toml"
    )]
    pub config: PathBuf,
    /// History database.
    #[command(flatten)]
    pub history: HistoryPath,
    /// Write the reports into this folder (default: the config's, else .scalewall/reports).
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Run every job once, in order, and exit with the worst exit code (for cron or a systemd timer).
    #[arg(long)]
    pub once: bool,
}

/// Options of `scalewall status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Config file with [[job]]s.
    #[arg(
        short = 'f',
        long,
        value_name = "PATH",
        default_value = "scalewall.toml"
    )]
    pub config: PathBuf,
    /// History database.
    #[command(flatten)]
    pub history: HistoryPath,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Print the engine report the daemon last wrote (engine.md, or
    /// engine.json with -o json) from its report folder.
    #[arg(long)]
    pub report: bool,
    /// The daemon's report folder, when `watch` was given --report-dir.
    #[arg(long, value_name = "DIR", requires = "report")]
    pub report_dir: Option<PathBuf>,
}

/// How a pushed run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PushedStatus {
    /// It did its work.
    Ok,
    /// It failed (say why with --message).
    Error,
    /// It ran out of time.
    Timeout,
}

/// Options of `scalewall report-job`.
#[derive(Debug, Args)]
pub struct ReportJobArgs {
    /// The push job's name, as its [[job]] gives it.
    pub name: String,
    /// How the run ended.
    #[arg(long, value_enum)]
    pub status: PushedStatus,
    /// How long the run took ("12s", "1m 30s", or seconds).
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// What the job says about the run (kept with it; the last 4 KiB).
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
    /// Config file with the [watch] section (its listen and token).
    #[arg(
        short = 'f',
        long,
        value_name = "PATH",
        default_value = "scalewall.toml"
    )]
    pub config: PathBuf,
    /// The daemon's address instead of the config's [watch] listen
    /// (http://HOST:PORT).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The daemon's token instead of the config's (or $SCALEWALL_TOKEN).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

/// Where the run history lives (shared by the history commands).
#[derive(Debug, Args)]
pub struct HistoryPath {
    /// History database (default: the config's `history`, else .scalewall/history.db).
    #[arg(long, value_name = "PATH")]
    pub history: Option<PathBuf>,
}

/// Options of `scalewall run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config file (default: ./scalewall.toml when it exists, else the built-in host check).
    #[arg(short = 'f', long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// History database.
    #[command(flatten)]
    pub history: HistoryPath,
    /// Do not store the run or compare it with earlier runs.
    #[arg(long)]
    pub no_history: bool,
    /// Write the reports into this folder (default: the config's, else .scalewall/reports).
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Which report to print (all the configured ones are written to the report folder).
    #[arg(short = 'o', long, value_enum, default_value_t = ReportFormatArg::Md)]
    pub output: ReportFormatArg,
    /// Never draw the progress bar or the closing summary table on stderr (they are drawn
    /// only when stderr is a terminal; NO_COLOR drops the table's colours).
    #[arg(long)]
    pub no_progress: bool,
}

/// Report formats on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormatArg {
    /// Markdown.
    Md,
    /// JSON.
    Json,
    /// One self-contained HTML file with charts.
    Html,
}

/// Options of `scalewall suite`.
#[derive(Debug, Args)]
pub struct SuiteArgs {
    /// Time per benchmark (10 benchmarks; the default totals about 15 s).
    #[arg(long, value_parser = parse_duration, default_value = "1500ms")]
    pub budget: Duration,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Also write the full run record (versioned JSON) to this file.
    #[arg(long, value_name = "PATH")]
    pub save: Option<PathBuf>,
}

/// Options of `scalewall plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Config file with a [plan] section.
    #[arg(short = 'f', long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Scale points of a driver, NAME=V1,V2,… (repeatable; the i-th values
    /// of each make one point; default: the config's [plan] scales).
    #[arg(long, value_name = "NAME=VALUES")]
    pub scale: Vec<String>,
    /// History database.
    #[command(flatten)]
    pub history: HistoryPath,
    /// Output format (text is the Markdown section of the report).
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Options of `scalewall init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write it.
    #[arg(default_value = "scalewall.toml")]
    pub path: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// Options of `scalewall validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The config to check (as every command takes it).
    #[arg(
        short = 'f',
        long = "config",
        value_name = "PATH",
        conflicts_with = "path"
    )]
    pub config: Option<PathBuf>,
    /// The config to check, as a plain argument (default scalewall.toml).
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
}

impl ValidateArgs {
    /// The config named by `-f`, the argument, or `scalewall.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .or_else(|| self.path.clone())
            .unwrap_or_else(|| PathBuf::from("scalewall.toml"))
    }
}

/// Options of `scalewall history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// History database.
    #[command(flatten)]
    pub history: HistoryPath,
    /// Only runs of this subject (the config's name; `host` for the built-in job).
    #[arg(long)]
    pub subject: Option<String>,
    /// How many runs.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: usize,
    /// What to do instead of listing.
    #[command(subcommand)]
    pub action: Option<HistoryAction>,
}

/// `scalewall history` actions.
#[derive(Debug, Subcommand)]
pub enum HistoryAction {
    /// Retention: runs older than --keep-full (or the config's [history]
    /// keep_full) keep their record, metrics, findings and summaries and
    /// drop their per-interval detail (`scalewall watch` does this after
    /// each run).
    Prune(PruneArgs),
}

/// Options of `scalewall history prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Keep full detail for runs younger than this (e.g. 30d).
    #[arg(long, value_parser = parse_duration)]
    pub keep_full: Option<std::time::Duration>,
    /// Config file whose [history] keep_full and path apply (default: ./scalewall.toml when it exists).
    #[arg(short = 'f', long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// History database.
    #[command(flatten)]
    pub history: HistoryPath,
}

/// Options of `scalewall show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Run id, a unique prefix or tail of one, `latest` or `previous`.
    pub run: String,
    /// History database.
    #[command(flatten)]
    pub history: HistoryPath,
}

/// Options of `scalewall compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The earlier run (id, prefix, `latest`, `previous`).
    pub before: String,
    /// The later run.
    pub after: String,
    /// History database.
    #[command(flatten)]
    pub history: HistoryPath,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Options of `scalewall report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run id, a unique prefix or tail of one, `latest` or `previous`.
    #[arg(default_value = "latest")]
    pub run: String,
    /// Format (`-o` as in every other command; `--format` still works).
    #[arg(short = 'o', long = "output", visible_alias = "format", value_enum, default_value_t = ReportFormatArg::Md)]
    pub format: ReportFormatArg,
    /// History database.
    #[command(flatten)]
    pub history: HistoryPath,
}

/// Options of `scalewall baseline`.
#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// `set`.
    #[arg(value_parser = ["set"])]
    pub action: String,
    /// Run id, a unique prefix or tail of one, `latest` or `previous`.
    pub run: String,
    /// History database.
    #[command(flatten)]
    pub history: HistoryPath,
    /// Accept a run that did not complete (interrupted or failed) as the baseline.
    #[arg(long)]
    pub force: bool,
}

/// Options of `scalewall fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// CSV file: concurrency in the first column, throughput in the second; an optional header row.
    pub file: PathBuf,
    /// Unit of the throughput column, for the output.
    #[arg(long, default_value = "req/s")]
    pub unit: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Draw the points, the fitted curve, linear scaling and N* to this SVG file.
    #[arg(long, value_name = "PATH")]
    pub svg: Option<PathBuf>,
}

/// Options of `scalewall probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// A custom metric to read (repeatable): NAME=prometheus:URL|SELECTOR,
    /// NAME=json:URL|$.path, NAME=command:CMD or NAME=dir:PATH.
    #[arg(long, value_name = "NAME=SOURCE", value_parser = scalewall_probe::custom::parse_ad_hoc)]
    pub metric: Vec<scalewall_probe::custom::CustomMetric>,
    /// Measure the process with this id (repeatable).
    #[arg(long, value_name = "PID")]
    pub pid: Vec<i32>,
    /// Measure every process with this command or executable name (repeatable).
    #[arg(long = "process", value_name = "NAME")]
    pub processes: Vec<String>,
    /// Measure the processes listening on this TCP port (repeatable).
    #[arg(long, value_name = "PORT")]
    pub port: Vec<u16>,
    /// Check an HTTP health endpoint, http[s]://host:port/path (repeatable).
    #[arg(long, value_name = "URL")]
    pub health: Vec<String>,
    /// Check that host:port accepts TCP connections (repeatable).
    #[arg(long, value_name = "HOST:PORT")]
    pub tcp: Vec<String>,
    /// Report disk usage of the filesystem holding this path (repeatable; default /).
    #[arg(long, value_name = "PATH")]
    pub disk: Vec<String>,
    /// Read INFO from a Redis server, redis://[:password@]host:port (repeatable).
    #[arg(long, value_name = "URL")]
    pub redis: Vec<String>,
    /// Read the statistics views of a PostgreSQL database,
    /// postgres://user[:password]@host:port/database (repeatable).
    #[arg(long, value_name = "URL")]
    pub postgres: Vec<String>,
    /// Read a NATS server's monitoring endpoint, http://host:8222 or
    /// nats://host:4222 (mapped to port 8222) (repeatable).
    #[arg(long, value_name = "URL")]
    pub nats: Vec<String>,
    /// Do not look for NVIDIA GPUs (NVML).
    #[arg(long)]
    pub no_gpu: bool,
    /// Accept any TLS certificate in https:// health checks (only for your own test servers).
    #[arg(long)]
    pub insecure: bool,
    /// Time over which CPU and network rates are measured.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub interval: Duration,
    /// Timeout of each health check.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub timeout: Duration,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Options of `scalewall demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Concurrent connections.
    #[arg(short = 'c', long, default_value_t = 16)]
    pub connections: u32,
    /// Measured duration.
    #[arg(short = 'd', long, value_parser = parse_duration, default_value = "5s")]
    pub duration: Duration,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Never draw the live progress line.
    #[arg(long)]
    pub no_progress: bool,
    /// Where the run is stored.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Options of `scalewall demo-server`.
#[derive(Debug, Args)]
pub struct DemoServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Hold time of a request that is alone (e.g. 10ms, 2.5ms, 500us).
    #[arg(long, value_parser = parse_duration, default_value = "0ms")]
    pub latency: Duration,
    /// USL contention σ: hold grows by latency·σ per other request in flight.
    #[arg(long, default_value_t = 0.0)]
    pub sigma: f64,
    /// USL coherency κ: hold grows by latency·κ·n(n−1) with n requests in flight.
    #[arg(long, default_value_t = 0.0)]
    pub kappa: f64,
    /// Share of requests answered with 500 (0–1).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share of requests answered 200 {"ok":false} (0–1); the others are
    /// then answered {"ok":true}: a known share for response checks.
    #[arg(long, default_value_t = 0.0)]
    pub bad_body_rate: f64,
    /// Leak memory at this rate (e.g. 2MiB/s): allocated, touched and
    /// never freed, the known answer for the leak verdict.
    #[arg(long, value_parser = scalewall_demo::leak::parse_rate, value_name = "RATE")]
    pub leak: Option<u64>,
    /// Freeze the server this long after its first request (with --stall-for).
    #[arg(long, value_parser = parse_duration, requires = "stall_for")]
    pub stall_after: Option<Duration>,
    /// Length of the freeze: requests arriving in it wait until it ends.
    #[arg(long, value_parser = parse_duration, requires = "stall_after")]
    pub stall_for: Option<Duration>,
    /// Server worker threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Also serve a raw TCP echo on this address (for tcp:// loads).
    #[arg(long, value_name = "ADDR")]
    pub echo_listen: Option<std::net::SocketAddr>,
}
