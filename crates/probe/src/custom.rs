//! Custom metrics (`[[metric]]`): the numbers only the service knows —
//! a queue depth, a pool's use, a record count, a folder's size — read
//! from a Prometheus endpoint, a JSON field of an HTTP answer, a
//! command's output or a directory walk. Each reading is a number or the
//! reason there is none; a failing source never fails the run.

use crate::prometheus::{self, Aggregate, Kind, Selector};
use scalewall_model::health::CustomReading;
pub use scalewall_model::json_path::JsonPath;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where a custom metric's number comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A Prometheus text endpoint; a counter is read twice, `rate_window`
    /// apart, and given as a rate per second.
    Prometheus {
        /// The endpoint.
        url: String,
        /// The series.
        select: Selector,
        /// How several matching series combine.
        aggregate: Option<Aggregate>,
        /// Time between a counter's two readings.
        rate_window: Duration,
    },
    /// A field of an HTTP GET's JSON answer.
    Json {
        /// The URL.
        url: String,
        /// The field, as an RFC 9535 singular query (`$.a.b[0]`).
        path: JsonPath,
    },
    /// A number in a command's standard output.
    Command {
        /// The program and its arguments (`sh -c` and one string when
        /// the config asks for a shell).
        argv: Vec<String>,
        /// Which number of the output is the reading.
        number: NumberPick,
    },
    /// The total size of the files under a folder (and, as
    /// `<name>.files`, their count); symlinks are not followed.
    Dir {
        /// The folder.
        path: PathBuf,
    },
}

impl Source {
    /// The source in a few words, for the report.
    pub fn describe(&self) -> String {
        match self {
            Source::Prometheus { url, select, .. } => format!("prometheus {url} {select}"),
            Source::Json { url, path } => format!("json {url} {}", path.text),
            Source::Command { argv, .. } => format!("command {}", argv.join(" ")),
            Source::Dir { path } => format!("dir {}", path.display()),
        }
    }
}

/// Which number of a command's output is the reading (`number = …`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NumberPick {
    /// The output's only number: the whole output, or the one word of it
    /// that is a number (`wc -l FILE` prints `42 FILE`); several numbers
    /// are refused as ambiguous.
    #[default]
    Only,
    /// The first word that is a number (`number = "first"`).
    First,
    /// The last word that is a number (`number = "last"`).
    Last,
    /// The first match of a regular expression: its first capture group,
    /// or the whole match when it has none (`number = "/used=(\\d+)/"`).
    Regex(String),
}

impl NumberPick {
    /// Reads `number = "first" | "last" | "/regex/"`, checking the regex.
    pub fn parse(text: &str) -> Result<NumberPick, String> {
        match text {
            "first" => Ok(NumberPick::First),
            "last" => Ok(NumberPick::Last),
            _ => {
                let pattern = text
                    .strip_prefix('/')
                    .and_then(|t| t.strip_suffix('/'))
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| {
                        format!("number '{text}': expected \"first\", \"last\" or a /regex/")
                    })?;
                regex::Regex::new(pattern).map_err(|e| format!("number '{text}': {e}"))?;
                Ok(NumberPick::Regex(pattern.to_string()))
            }
        }
    }

    /// The number `text` holds, as this pick reads it (pure).
    pub fn pick(&self, text: &str) -> Result<f64, String> {
        let number = |word: &str| word.parse::<f64>().ok().filter(|v| v.is_finite());
        let mut numbers = text.split_whitespace().filter_map(number);
        match self {
            NumberPick::Only => number(text.trim()).map(Ok).unwrap_or_else(|| {
                match (numbers.next(), numbers.next()) {
                    (Some(v), None) => Ok(v),
                    (None, _) => Err("not one number".into()),
                    (Some(_), Some(_)) => Err(
                        "not one number but several: say which with number = \"first\", \"last\" or a /regex/"
                            .into(),
                    ),
                }
            }),
            NumberPick::First => numbers.next().ok_or_else(|| "no number in it".into()),
            NumberPick::Last => numbers.next_back().ok_or_else(|| "no number in it".into()),
            NumberPick::Regex(pattern) => {
                let re = regex::Regex::new(pattern).map_err(|e| e.to_string())?;
                let caps = re
                    .captures(text)
                    .ok_or_else(|| format!("no match for /{pattern}/"))?;
                let found = caps
                    .get(1)
                    .or_else(|| caps.get(0))
                    .map_or("", |m| m.as_str());
                number(found.trim())
                    .ok_or_else(|| format!("/{pattern}/ matched '{found}', not a number"))
            }
        }
    }
}

/// One `[[metric]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomMetric {
    /// Its metric name (`<service>.<name>` when attached to a service).
    pub name: String,
    /// Its unit (`count`, `bytes`, `ms`, `/s`, `%`).
    pub unit: String,
    /// Whether more is better (for comparisons).
    pub higher_is_better: bool,
    /// Where it is read.
    pub source: Source,
}

/// A metric given on the command line (`scalewall probe --metric`):
/// `NAME=prometheus:URL|SELECTOR`, `NAME=json:URL|$.path`,
/// `NAME=command:PROGRAM ARGS…` or `NAME=dir:PATH`.
pub fn parse_ad_hoc(text: &str) -> Result<CustomMetric, String> {
    let usage = "write NAME=prometheus:URL|SELECTOR, NAME=json:URL|$.path, NAME=command:CMD or NAME=dir:PATH";
    let (name, source) = text
        .split_once('=')
        .ok_or_else(|| format!("--metric '{text}': {usage}"))?;
    let (kind, rest) = source
        .split_once(':')
        .ok_or_else(|| format!("--metric '{text}': {usage}"))?;
    let split = |what: &str| {
        rest.rsplit_once('|')
            .map(|(url, tail)| (url.to_string(), tail.to_string()))
            .ok_or_else(|| format!("--metric '{text}': {kind} needs URL|{what}"))
    };
    let (source, unit) = match kind {
        "prometheus" => {
            let (url, select) = split("SELECTOR")?;
            (
                Source::Prometheus {
                    url,
                    select: select.parse()?,
                    aggregate: None,
                    rate_window: Duration::from_secs(1),
                },
                "count",
            )
        }
        "json" => {
            let (url, path) = split("$.path")?;
            (
                Source::Json {
                    url,
                    path: path.parse()?,
                },
                "count",
            )
        }
        "command" => (
            Source::Command {
                argv: rest.split_whitespace().map(String::from).collect(),
                number: NumberPick::Only,
            },
            "count",
        ),
        "dir" => (
            Source::Dir {
                path: PathBuf::from(rest),
            },
            "bytes",
        ),
        other => {
            return Err(format!(
                "--metric '{text}': unknown source '{other}'; {usage}"
            ))
        }
    };
    if name.is_empty() {
        return Err(format!("--metric '{text}': a name comes before '='"));
    }
    Ok(CustomMetric {
        name: name.to_string(),
        unit: unit.to_string(),
        higher_is_better: false,
        source,
    })
}

/// Largest answer or output read.
const MAX_BYTES: usize = 8 * 1024 * 1024;
/// Most entries a directory walk visits.
pub const MAX_ENTRIES: u64 = 1_000_000;

/// A reading of `metric` with no number yet (`error`: why there is none).
pub fn reading(metric: &CustomMetric, error: Option<String>) -> CustomReading {
    CustomReading {
        name: metric.name.clone(),
        source: metric.source.describe(),
        unit: metric.unit.clone(),
        higher_is_better: metric.higher_is_better,
        value: None,
        files: None,
        error,
    }
}

/// Reads the metric once, within `timeout`.
pub fn sample(metric: &CustomMetric, timeout: Duration) -> CustomReading {
    let mut reading = reading(metric, None);
    let result = match &metric.source {
        Source::Prometheus {
            url,
            select,
            aggregate,
            rate_window,
        } => read_prometheus(url, select, *aggregate, *rate_window, timeout),
        Source::Json { url, path } => get_text(url, timeout).and_then(|body| {
            let value: serde_json::Value = serde_json::from_str(&body)
                .map_err(|e| format!("{url}: the answer is not JSON: {e}"))?;
            path.number(&value)
        }),
        Source::Command { argv, number } => run_command(argv, number, timeout),
        Source::Dir { path } => walk(path).map(|(bytes, files)| {
            reading.files = Some(files);
            bytes as f64
        }),
    };
    match result {
        Ok(value) => reading.value = Some(value),
        Err(error) => reading.error = Some(error),
    }
    reading
}

fn get_text(url: &str, timeout: Duration) -> Result<String, String> {
    let answer = crate::health::http_get_limited(url, timeout, false, MAX_BYTES)
        .map_err(|f| format!("{url}: {}", f.reason))?;
    if !(200..300).contains(&answer.code) {
        return Err(format!("{url}: HTTP {}", answer.code));
    }
    String::from_utf8(answer.body).map_err(|_| format!("{url}: the answer is not UTF-8 text"))
}

fn read_prometheus(
    url: &str,
    select: &Selector,
    aggregate: Option<Aggregate>,
    rate_window: Duration,
    timeout: Duration,
) -> Result<f64, String> {
    let read = || -> Result<(f64, Kind, Instant), String> {
        let text = get_text(url, timeout)?;
        let at = Instant::now();
        let exposition = prometheus::parse(&text).map_err(|e| format!("{url}: {e}"))?;
        let (value, kind) = prometheus::select(&exposition, select, aggregate)
            .map_err(|e| format!("{url}: {e}"))?;
        Ok((value, kind, at))
    };
    let (first, kind, first_at) = read()?;
    if kind == Kind::Gauge {
        return Ok(first);
    }
    std::thread::sleep(rate_window);
    let (second, _, second_at) = read()?;
    prometheus::counter_rate(first, second, (second_at - first_at).as_secs_f64())
        .ok_or_else(|| format!("{url}: no time between the counter's two readings"))
}

/// Runs the command and reads the number `number` picks from its output.
fn run_command(argv: &[String], number: &NumberPick, timeout: Duration) -> Result<f64, String> {
    let shown = argv.join(" ");
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| "an empty command".to_string())?;
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("command '{shown}' cannot start: {e}"))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = (&mut stdout).take(MAX_BYTES as u64).read_to_end(&mut out);
        out
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "command '{shown}' was killed: no answer within {} ms",
                    timeout.as_millis()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("command '{shown}': {e}")),
        }
    };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("command '{shown}' failed ({status})"));
    }
    let text = String::from_utf8_lossy(&out);
    let text = text.trim();
    number.pick(text).map_err(|why| {
        let shown_out: String = text.chars().take(60).collect();
        format!("command '{shown}' printed '{shown_out}', {why}")
    })
}

/// Total bytes and regular files under `root` (symlinks not followed,
/// at most [`MAX_ENTRIES`] entries).
pub fn walk(root: &Path) -> Result<(u64, u64), String> {
    let meta = std::fs::symlink_metadata(root).map_err(|e| format!("{}: {e}", root.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a folder", root.display()));
    }
    let (mut bytes, mut files, mut seen) = (0u64, 0u64, 0u64);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            // An unreadable subfolder is left out; the root must be readable.
            Err(e) if dir == root => return Err(format!("{}: {e}", root.display())),
            Err(_) => continue,
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES {
                return Err(format!(
                    "{}: more than {MAX_ENTRIES} entries; name a smaller folder",
                    root.display()
                ));
            }
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                bytes += meta.len();
                files += 1;
            }
        }
    }
    Ok((bytes, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ad_hoc_metrics_name_their_source() {
        let m = parse_ad_hoc(r#"depth=prometheus:http://h:9090/metrics|queue_depth{queue="a"}"#)
            .unwrap();
        assert_eq!(m.name, "depth");
        assert_eq!(
            m.source.describe(),
            r#"prometheus http://h:9090/metrics queue_depth{queue="a"}"#
        );
        let m = parse_ad_hoc("n=json:http://h/stats|$.requests").unwrap();
        assert_eq!(m.source.describe(), "json http://h/stats $.requests");
        assert_eq!(parse_ad_hoc("logs=dir:/var/log").unwrap().unit, "bytes");
        assert!(parse_ad_hoc("x").unwrap_err().contains("NAME=prometheus"));
        assert!(parse_ad_hoc("x=ftp:y")
            .unwrap_err()
            .contains("unknown source 'ftp'"));
        assert!(parse_ad_hoc("x=json:http://h/")
            .unwrap_err()
            .contains("json needs URL|$.path"));
    }

    #[test]
    fn singular_json_paths_name_one_number() {
        let doc: serde_json::Value = serde_json::from_str(
            r#"{"requests": 1027, "brain": {"memories": [{"count": "116"}, {"count": 3}]}, "a b": 1.5}"#,
        )
        .unwrap();
        let path = |p: &str| p.parse::<JsonPath>().unwrap();
        assert_eq!(path("$.requests").number(&doc).unwrap(), 1027.0);
        assert_eq!(
            path("$.brain.memories[0].count").number(&doc).unwrap(),
            116.0
        );
        assert_eq!(
            path("$['brain']['memories'][-1]['count']")
                .number(&doc)
                .unwrap(),
            3.0
        );
        assert_eq!(path("$['a b']").number(&doc).unwrap(), 1.5);
        assert_eq!(
            path("$.brain").number(&doc).unwrap_err(),
            r#"$.brain is {"memories":[{"count":"116"},{"count":3}]}, not a number"#
        );
        assert!(path("$.nope")
            .number(&doc)
            .unwrap_err()
            .contains("names nothing"));
        assert!("$..requests".parse::<JsonPath>().is_err());
        assert!("$.items[*]"
            .parse::<JsonPath>()
            .unwrap_err()
            .contains("several values"));
        assert!("requests"
            .parse::<JsonPath>()
            .unwrap_err()
            .contains("starts with $"));
    }

    #[test]
    fn a_folder_walk_counts_bytes_and_files_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("x"), vec![0u8; 1000]).unwrap();
        std::fs::write(dir.path().join("a/y"), vec![0u8; 234]).unwrap();
        std::fs::write(dir.path().join("a/b/z"), vec![0u8; 10]).unwrap();
        std::os::unix::fs::symlink("/usr", dir.path().join("a/link")).unwrap();
        assert_eq!(walk(dir.path()).unwrap(), (1244, 3));
        assert!(walk(&dir.path().join("x"))
            .unwrap_err()
            .contains("is not a folder"));
    }

    #[test]
    fn a_pick_reads_the_number_it_names_or_says_why_not() {
        let text = "used 12 of 40 slots, 3.5 ms";
        assert_eq!(NumberPick::First.pick(text), Ok(12.0));
        assert_eq!(NumberPick::Last.pick(text), Ok(3.5));
        let re = NumberPick::parse("/of (\\d+) slots/").unwrap();
        assert_eq!(re.pick(text), Ok(40.0));
        assert_eq!(
            NumberPick::parse("/\\d+\\.\\d+/").unwrap().pick(text),
            Ok(3.5)
        );
        assert!(NumberPick::Only
            .pick(text)
            .unwrap_err()
            .starts_with("not one number but several"));
        assert_eq!(NumberPick::Only.pick(" 7\n"), Ok(7.0));
        assert_eq!(NumberPick::Only.pick("42 /var/log/app.log"), Ok(42.0));
        assert_eq!(
            NumberPick::First.pick("none here"),
            Err("no number in it".into())
        );
        assert_eq!(
            re.pick("no slots"),
            Err("no match for /of (\\d+) slots/".into())
        );
        assert_eq!(NumberPick::parse("first"), Ok(NumberPick::First));
        assert!(NumberPick::parse("middle")
            .unwrap_err()
            .contains("expected \"first\", \"last\" or a /regex/"));
        assert!(NumberPick::parse("/(unclosed/").is_err());
        // NaN and infinity are no readings.
        assert_eq!(NumberPick::Only.pick("NaN"), Err("not one number".into()));
    }

    #[test]
    fn a_command_prints_one_number_or_says_why_not() {
        let argv = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let second = Duration::from_secs(2);
        let only = &NumberPick::Only;
        assert_eq!(run_command(&argv("echo 42.5"), only, second).unwrap(), 42.5);
        let e = run_command(&argv("echo many words"), only, second).unwrap_err();
        assert_eq!(
            e,
            "command 'echo many words' printed 'many words', not one number"
        );
        // The README's example, `wc -l FILE`, prints the count and the name.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.log");
        std::fs::write(&file, "a\nb\nc\n").unwrap();
        let wc = vec!["wc".to_string(), "-l".into(), file.display().to_string()];
        assert_eq!(run_command(&wc, only, second).unwrap(), 3.0);
        let started = Instant::now();
        let e = run_command(&argv("sleep 30"), only, Duration::from_millis(300)).unwrap_err();
        assert_eq!(e, "command 'sleep 30' was killed: no answer within 300 ms");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(run_command(&argv("false"), only, second)
            .unwrap_err()
            .contains("failed"));
        assert!(run_command(&argv("/no/such"), only, second)
            .unwrap_err()
            .contains("cannot start"));
    }
}
