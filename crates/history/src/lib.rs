//! Run history: each run stored whole, as its versioned JSON, plus an
//! indexed table of its named metrics so listings and trends never parse
//! JSON. Two backends behind one [`Store`]: an embedded SQLite database
//! (`.scalewall/history.db`, the default; [`sqlite`]) and PostgreSQL
//! (`postgres://…`, so several coordinators and `watch` daemons share one
//! history; [`postgres`]). Each applies its versioned migrations on open
//! and refuses a database written by a newer scalewall; each writes a run
//! in one transaction.
//!
//! The rules that are not storage — which id a prefix names, what
//! retention keeps of a run — live here, once, for both.

#![deny(missing_docs)]

pub mod postgres;
pub mod sqlite;

use scalewall_model::Run;
use std::path::Path;

/// Why the history could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// SQLite failed.
    #[error("history database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// PostgreSQL failed.
    #[error("history database {url}: {source}")]
    Postgres {
        /// The database URL, without its password.
        url: String,
        /// PostgreSQL's error.
        source: ::postgres::Error,
    },
    /// A PostgreSQL history URL that cannot be used.
    #[error("history database {url}: {reason}")]
    BadUrl {
        /// The URL, without its password.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The folder for the database could not be made.
    #[error("cannot create {path}: {source}")]
    Folder {
        /// The folder.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// No run matches the id or prefix.
    #[error("no run '{0}' in the history")]
    NoRun(String),
    /// A prefix matches several runs.
    #[error("run id '{0}' matches {1} runs; give more characters")]
    Ambiguous(String, usize),
    /// The database was written by a newer scalewall.
    #[error("history database {path} has schema {found}; this scalewall knows up to {known}")]
    NewerSchema {
        /// The database file or URL.
        path: String,
        /// Its schema version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// A run that did not complete was named where only a complete one will do.
    #[error("run {id} is {status}: it measured only part of what was asked (use --force to make it the baseline anyway)")]
    NotCompleted {
        /// The run id.
        id: String,
        /// Its status.
        status: String,
    },
    /// A stored run's JSON could not be read.
    #[error("stored run {id} cannot be read: {reason}")]
    Corrupt {
        /// The run id.
        id: String,
        /// Why.
        reason: String,
    },
}

/// What [`History::prune`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pruned {
    /// Runs whose detail was dropped.
    pub runs: usize,
    /// Their stored size before, bytes (documents and samples).
    pub bytes_before: u64,
    /// And after.
    pub bytes_after: u64,
}

/// One stored metric value.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMetric {
    /// Dotted name.
    pub name: String,
    /// Headline value.
    pub value: f64,
    /// Per-interval samples.
    pub samples: Vec<f64>,
}

/// A row of the run listing.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    /// Run id.
    pub id: String,
    /// What was measured.
    pub subject: String,
    /// Start, RFC 3339.
    pub started_at: String,
    /// `completed`, `interrupted` or `failed`.
    pub status: String,
    /// How many findings the run has.
    pub findings: usize,
}

/// What a run is stored as: its record and the columns listings read.
#[derive(Debug, Clone)]
pub struct RunRecord<'a> {
    /// The run.
    pub run: &'a Run,
    /// Its subject.
    pub subject: String,
    /// Its status word.
    pub status: String,
    /// Its JSON.
    pub document: String,
}

/// The storage a history needs; SQLite and PostgreSQL implement it with
/// the same schema idea (runs, metrics, baselines).
pub trait Store: Send + std::fmt::Debug {
    /// Stores a run and its metrics in one transaction, replacing a run
    /// with the same id.
    fn store(&mut self, run: &RunRecord<'_>, metrics: &[StoredMetric]) -> Result<(), HistoryError>;
    /// In one transaction: every run started before `cutoff` not yet
    /// pruned gets the document `slim` makes of it, its metrics' samples
    /// dropped and its mark set.
    fn prune(
        &mut self,
        cutoff: &str,
        slim: &dyn Fn(&str, &str) -> Result<String, HistoryError>,
    ) -> Result<Pruned, HistoryError>;
    /// The newest runs, newest first; of one subject when given.
    fn list(&self, subject: Option<&str>, limit: usize) -> Result<Vec<RunRow>, HistoryError>;
    /// The id of the run `offset` places from the newest.
    fn newest(&self, offset: usize) -> Result<Option<String>, HistoryError>;
    /// Ids that start with `prefix`.
    fn ids_starting(&self, prefix: &str) -> Result<Vec<String>, HistoryError>;
    /// Ids that end with `tail`.
    fn ids_ending(&self, tail: &str) -> Result<Vec<String>, HistoryError>;
    /// The stored JSON of run `id`.
    fn document(&self, id: &str) -> Result<Option<String>, HistoryError>;
    /// Run `id`'s metrics, by name.
    fn metrics(&self, id: &str) -> Result<Vec<StoredMetric>, HistoryError>;
    /// The completed run of the same subject just before `id`.
    fn previous_of(&self, id: &str) -> Result<Option<String>, HistoryError>;
    /// The newest completed run of `subject`.
    fn latest_completed(&self, subject: &str) -> Result<Option<String>, HistoryError>;
    /// Up to `limit` values of `metric` for `subject`, newest first,
    /// from completed runs (and `until`) up to `until`.
    fn series_newest_first(
        &self,
        subject: &str,
        metric: &str,
        until: &str,
        limit: usize,
    ) -> Result<Vec<(String, f64)>, HistoryError>;
    /// Run `id`'s subject and status.
    fn subject_and_status(&self, id: &str) -> Result<Option<(String, String)>, HistoryError>;
    /// Makes `id` the baseline of `subject`.
    fn put_baseline(&mut self, subject: &str, id: &str) -> Result<(), HistoryError>;
    /// The baseline of `subject`.
    fn baseline(&self, subject: &str) -> Result<Option<String>, HistoryError>;
}

/// Whether `path` names a PostgreSQL history (`postgres://…`) rather
/// than a SQLite file.
pub fn is_database_url(path: &Path) -> bool {
    let text = path.to_string_lossy();
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// The history's location as shown to people: a PostgreSQL URL without
/// its password.
pub fn shown(path: &Path) -> String {
    if is_database_url(path) {
        postgres::redact(&path.to_string_lossy())
    } else {
        path.display().to_string()
    }
}

/// The run history.
#[derive(Debug)]
pub struct History {
    store: Box<dyn Store>,
}

impl History {
    /// Opens and migrates the history at `path`: a `postgres://` (or
    /// `postgresql://`) URL opens PostgreSQL (`?schema=NAME` picks the
    /// schema, default `scalewall`); anything else is a SQLite file,
    /// created with its folder when missing.
    pub fn open(path: &Path) -> Result<History, HistoryError> {
        let store: Box<dyn Store> = if is_database_url(path) {
            Box::new(postgres::PostgresStore::open(&path.to_string_lossy())?)
        } else {
            Box::new(sqlite::SqliteStore::open(path)?)
        };
        Ok(History { store })
    }

    /// Stores a run and its metrics in one transaction (replacing a run
    /// with the same id).
    pub fn store(&mut self, run: &Run, metrics: &[StoredMetric]) -> Result<(), HistoryError> {
        self.store.store(
            &RunRecord {
                run,
                subject: subject_of(run),
                status: status_of(run),
                document: run.to_json(),
            },
            metrics,
        )
    }

    /// Retention: runs started before `cutoff` (RFC 3339) keep their
    /// record, metrics, findings and summaries (latency histograms
    /// included, so their reports still render) and drop what grows with
    /// their length: the per-interval series of every step and of its
    /// resource samples, and the metrics' per-interval samples (so they
    /// are compared by value only). Each run is pruned once, in one
    /// transaction with the others.
    pub fn prune(&mut self, cutoff: &str) -> Result<Pruned, HistoryError> {
        self.store.prune(cutoff, &slim_document)
    }

    /// The most recent runs, newest first; of one subject when given.
    pub fn list(&self, subject: Option<&str>, limit: usize) -> Result<Vec<RunRow>, HistoryError> {
        self.store.list(subject, limit)
    }

    /// The full id of the run `id_or_prefix` names (`latest` and
    /// `previous` name the newest two).
    pub fn resolve(&self, id_or_prefix: &str) -> Result<String, HistoryError> {
        let offset = match id_or_prefix {
            "latest" => Some(0),
            "previous" => Some(1),
            _ => None,
        };
        if let Some(offset) = offset {
            return self
                .store
                .newest(offset)?
                .ok_or_else(|| HistoryError::NoRun(id_or_prefix.into()));
        }
        // Ids are time-ordered (UUIDv7): every id of a day starts alike, so a
        // unique tail (the random part) names a run too.
        let mut ids = self.store.ids_starting(id_or_prefix)?;
        if ids.is_empty() && id_or_prefix.len() >= 4 {
            ids = self.store.ids_ending(id_or_prefix)?;
        }
        match ids.as_slice() {
            [] => Err(HistoryError::NoRun(id_or_prefix.into())),
            [id] => Ok(id.clone()),
            _ => Err(HistoryError::Ambiguous(id_or_prefix.into(), ids.len())),
        }
    }

    /// The stored run `id` (a full id; see [`History::resolve`]).
    pub fn load(&self, id: &str) -> Result<Run, HistoryError> {
        let document = self
            .store
            .document(id)?
            .ok_or_else(|| HistoryError::NoRun(id.into()))?;
        Run::from_json(&document).map_err(|e| HistoryError::Corrupt {
            id: id.into(),
            reason: e.to_string(),
        })
    }

    /// The metrics stored for run `id`, by name.
    pub fn metrics(&self, id: &str) -> Result<Vec<StoredMetric>, HistoryError> {
        self.store.metrics(id)
    }

    /// The completed run of the same subject that started just before `id`,
    /// if any: an interrupted or failed run measured only part of what was
    /// asked, so nothing is compared with it.
    pub fn previous_of(&self, id: &str) -> Result<Option<String>, HistoryError> {
        self.store.previous_of(id)
    }

    /// The newest completed run of `subject`, if any (what a new run is
    /// compared with, and what a plan measures capacities from).
    pub fn latest_completed(&self, subject: &str) -> Result<Option<String>, HistoryError> {
        self.store.latest_completed(subject)
    }

    /// Up to `limit` values of one metric for one subject, oldest first,
    /// ending with run `until` (inclusive). Only completed runs give values
    /// (and `until` itself, whatever its status): a partial run's figures
    /// are not points of a trend or a projection.
    pub fn series(
        &self,
        subject: &str,
        metric: &str,
        until: &str,
        limit: usize,
    ) -> Result<Vec<(String, f64)>, HistoryError> {
        let mut rows = self
            .store
            .series_newest_first(subject, metric, until, limit)?;
        rows.reverse();
        Ok(rows)
    }

    /// Marks run `id` as the baseline of its subject. A run that did not
    /// complete measured only part of what was asked: it becomes the
    /// baseline only with `force`.
    pub fn set_baseline(&mut self, id: &str, force: bool) -> Result<String, HistoryError> {
        let (subject, status) = self
            .store
            .subject_and_status(id)?
            .ok_or_else(|| HistoryError::NoRun(id.into()))?;
        if status != "completed" && !force {
            return Err(HistoryError::NotCompleted {
                id: id.into(),
                status,
            });
        }
        self.store.put_baseline(&subject, id)?;
        Ok(subject)
    }

    /// The baseline run of a subject, if one is set.
    pub fn baseline(&self, subject: &str) -> Result<Option<String>, HistoryError> {
        self.store.baseline(subject)
    }
}

/// What retention keeps of a stored run: its per-interval series dropped.
fn slim_document(id: &str, document: &str) -> Result<String, HistoryError> {
    let mut run = Run::from_json(document).map_err(|e| HistoryError::Corrupt {
        id: id.to_string(),
        reason: e.to_string(),
    })?;
    for step in run.scenarios.iter_mut().flat_map(|s| s.steps.iter_mut()) {
        step.intervals.clear();
        if let Some(r) = step.resources.as_mut() {
            r.samples.clear();
        }
    }
    Ok(run.to_json())
}

/// The subject a run is filed under.
pub fn subject_of(run: &Run) -> String {
    run.subject.clone().unwrap_or_else(|| "host".into())
}

fn status_of(run: &Run) -> String {
    serde_json::to_value(run.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The test database (trust auth) the PostgreSQL backend is tested in.
    const TEST_DATABASE: &str = "postgres://postgres@127.0.0.1:5432/test";

    /// A fresh history on one backend: a SQLite file in a temporary
    /// folder, or a PostgreSQL schema of its own, dropped afterwards.
    struct Fresh {
        location: String,
        schema: Option<String>,
        _dir: Option<tempfile::TempDir>,
    }

    impl Fresh {
        fn open(&self) -> History {
            History::open(Path::new(&self.location)).unwrap()
        }
    }

    impl Drop for Fresh {
        fn drop(&mut self) {
            if let Some(schema) = &self.schema {
                if let Ok(mut client) =
                    ::postgres::Client::connect(TEST_DATABASE, ::postgres::NoTls)
                {
                    let _ =
                        client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
            }
        }
    }

    /// Runs `test` on a fresh SQLite history and, when the test database
    /// answers, a fresh PostgreSQL one (under `CI=true` it must answer).
    fn each_backend(test: impl Fn(&Fresh)) {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Fresh {
            location: dir.path().join("nested/history.db").display().to_string(),
            schema: None,
            _dir: Some(dir),
        };
        test(&sqlite);
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let answers = std::net::TcpStream::connect_timeout(
            &([127, 0, 0, 1], 5432).into(),
            std::time::Duration::from_millis(500),
        )
        .is_ok();
        if !answers {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "PostgreSQL must answer on 127.0.0.1:5432 under CI"
            );
            eprintln!("skipped the PostgreSQL backend: nothing answers on 127.0.0.1:5432");
            return;
        }
        let schema = format!(
            "scalewall_test_{}_{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let postgres = Fresh {
            location: format!("{TEST_DATABASE}?schema={schema}"),
            schema: Some(schema),
            _dir: None,
        };
        test(&postgres);
    }

    fn run(id: &str, started_at: &str, subject: &str) -> Run {
        Run {
            schema_version: scalewall_model::SCHEMA_VERSION,
            id: id.into(),
            started_at: started_at.into(),
            subject: Some(subject.into()),
            ..Run::default()
        }
    }

    fn metric(name: &str, value: f64) -> StoredMetric {
        StoredMetric {
            name: name.into(),
            value,
            samples: vec![value, value + 1.0],
        }
    }

    /// Retention: a real run older than the cutoff keeps its record,
    /// summaries and metric values and drops its per-interval detail; a
    /// newer one is untouched; a second prune does nothing.
    #[test]
    fn pruning_drops_per_interval_detail_of_old_runs_only() {
        each_backend(pruning_on);
    }

    fn pruning_on(fresh: &Fresh) {
        let mut h = fresh.open();
        let real = Run::from_json(include_str!("../../../tests/fixtures/run-v1.json")).unwrap();
        let old = Run {
            id: "old".into(),
            started_at: "2026-10-01T00:00:00Z".into(),
            ..real.clone()
        };
        let new = Run {
            id: "new".into(),
            started_at: "2026-12-01T00:00:00Z".into(),
            ..real.clone()
        };
        for r in [&old, &new] {
            h.store(r, &[metric("self-check.rps", 4776.0)]).unwrap();
        }
        let pruned = h.prune("2026-11-01T00:00:00Z").unwrap();
        assert_eq!(pruned.runs, 1);
        assert!(pruned.bytes_after * 2 < pruned.bytes_before, "{pruned:?}");
        let slim = h.load("old").unwrap();
        assert!(slim
            .scenarios
            .iter()
            .flat_map(|s| &s.steps)
            .all(|st| st.intervals.is_empty()));
        assert_eq!(slim.findings, real.findings);
        assert_eq!(
            slim.scenarios[0].steps[0].latency_us, real.scenarios[0].steps[0].latency_us,
            "the histograms stay: old reports still render"
        );
        assert_eq!(h.metrics("old").unwrap()[0].value, 4776.0);
        assert!(h.metrics("old").unwrap()[0].samples.is_empty());
        assert_eq!(h.load("new").unwrap(), Run { ..new });
        assert_eq!(h.prune("2026-11-01T00:00:00Z").unwrap().runs, 0);
    }

    #[test]
    fn runs_round_trip_with_their_metrics_and_order() {
        each_backend(round_trip_on);
    }

    fn round_trip_on(fresh: &Fresh) {
        let mut h = fresh.open();
        h.store(
            &run("r1", "2026-11-01T00:00:00Z", "api"),
            &[metric("api.rps", 100.0)],
        )
        .unwrap();
        h.store(
            &run("r2", "2026-11-02T00:00:00Z", "api"),
            &[metric("api.rps", 90.0)],
        )
        .unwrap();
        h.store(&run("x1", "2026-11-03T00:00:00Z", "other"), &[])
            .unwrap();
        drop(h);
        let h = fresh.open();
        let all = h.list(None, 10).unwrap();
        assert_eq!(
            all.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["x1", "r2", "r1"]
        );
        assert_eq!(h.list(Some("api"), 1).unwrap()[0].id, "r2");
        assert_eq!(h.load("r1").unwrap().id, "r1");
        assert_eq!(h.metrics("r2").unwrap(), vec![metric("api.rps", 90.0)]);
        assert_eq!(h.previous_of("r2").unwrap().as_deref(), Some("r1"));
        assert_eq!(h.previous_of("r1").unwrap(), None);
        assert_eq!(h.previous_of("x1").unwrap(), None, "other subject");
        assert_eq!(
            h.series("api", "api.rps", "r2", 10).unwrap(),
            vec![("r1".to_string(), 100.0), ("r2".to_string(), 90.0)]
        );
        assert_eq!(h.resolve("latest").unwrap(), "x1");
        assert_eq!(h.resolve("previous").unwrap(), "r2");
        assert_eq!(h.resolve("x").unwrap(), "x1");
        assert!(matches!(h.resolve("r"), Err(HistoryError::Ambiguous(_, 2))));
        assert!(matches!(h.resolve("zz"), Err(HistoryError::NoRun(_))));
    }

    /// Issue 21, item 9: `show 01a` said "matches 3 runs" when 4 did, and
    /// ids of one day share their start: a unique tail names a run too.
    #[test]
    fn prefixes_count_every_match_and_a_unique_tail_resolves() {
        each_backend(prefixes_on);
    }

    fn prefixes_on(fresh: &Fresh) {
        let mut h = fresh.open();
        for tail in ["aaaa1111", "bbbb2222", "cccc3333", "dddd4444"] {
            h.store(
                &run(&format!("01a23b15-{tail}"), "2026-11-01T00:00:00Z", "api"),
                &[],
            )
            .unwrap();
        }
        let e = h.resolve("01a").unwrap_err().to_string();
        assert!(e.contains("matches 4 runs"), "{e}");
        assert_eq!(h.resolve("cccc3333").unwrap(), "01a23b15-cccc3333");
        assert_eq!(h.resolve("3333").unwrap(), "01a23b15-cccc3333");
        assert!(h.resolve("333").is_err(), "too short to be a tail");
    }

    /// Issue 21, item 1: an interrupted run is never "previous", a point of
    /// a series, the latest completed run, or (without --force) a baseline.
    #[test]
    fn only_completed_runs_are_previous_series_points_and_baselines() {
        each_backend(only_completed_on);
    }

    fn only_completed_on(fresh: &Fresh) {
        let mut h = fresh.open();
        let interrupted = Run {
            status: scalewall_model::RunStatus::Interrupted,
            ..run("r2", "2026-11-02T00:00:00Z", "api")
        };
        h.store(
            &run("r1", "2026-11-01T00:00:00Z", "api"),
            &[metric("api.rps", 100.0)],
        )
        .unwrap();
        h.store(&interrupted, &[metric("api.rps", 0.0)]).unwrap();
        h.store(
            &run("r3", "2026-11-03T00:00:00Z", "api"),
            &[metric("api.rps", 101.0)],
        )
        .unwrap();
        assert_eq!(h.previous_of("r3").unwrap().as_deref(), Some("r1"));
        assert_eq!(h.previous_of("r2").unwrap().as_deref(), Some("r1"));
        let values: Vec<f64> = h
            .series("api", "api.rps", "r3", 10)
            .unwrap()
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        assert_eq!(values, [100.0, 101.0]);
        // The run asked about is its own last point, whatever its status.
        assert_eq!(h.series("api", "api.rps", "r2", 10).unwrap().len(), 2);
        assert_eq!(h.latest_completed("api").unwrap().as_deref(), Some("r3"));
        let refused = h.set_baseline("r2", false).unwrap_err().to_string();
        assert!(
            refused.contains("interrupted") && refused.contains("--force"),
            "{refused}"
        );
        assert_eq!(h.set_baseline("r2", true).unwrap(), "api");
    }

    #[test]
    fn baselines_are_per_subject() {
        each_backend(baselines_on);
    }

    fn baselines_on(fresh: &Fresh) {
        let mut h = fresh.open();
        h.store(&run("r1", "2026-11-01T00:00:00Z", "api"), &[])
            .unwrap();
        assert_eq!(h.baseline("api").unwrap(), None);
        assert_eq!(h.set_baseline("r1", false).unwrap(), "api");
        assert_eq!(h.baseline("api").unwrap().as_deref(), Some("r1"));
        assert!(h.set_baseline("nope", false).is_err());
    }

    /// The child side of the SIGKILL test: stores runs until killed. Ignored,
    /// so a normal run neither runs nor counts it; the test below starts it
    /// with `--ignored`.
    #[test]
    #[ignore = "the child process of a_writer_killed_mid_write_leaves_earlier_runs_intact"]
    fn writer_child_for_the_kill_test() {
        let path = std::env::var("SCALEWALL_HISTORY_KILL_TEST_DB")
            .expect("started by a_writer_killed_mid_write_leaves_earlier_runs_intact");
        let mut h = History::open(Path::new(&path)).unwrap();
        let samples: Vec<f64> = (0..1000).map(f64::from).collect();
        for i in 0.. {
            let metrics: Vec<StoredMetric> = (0..50)
                .map(|k| StoredMetric {
                    name: format!("m{k}"),
                    value: f64::from(i),
                    samples: samples.clone(),
                })
                .collect();
            h.store(
                &run(&format!("r{i:09}"), "2026-11-01T00:00:00Z", "kill"),
                &metrics,
            )
            .unwrap();
        }
    }

    #[test]
    fn a_writer_killed_mid_write_leaves_earlier_runs_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let mut h = History::open(&path).unwrap();
        h.store(
            &run("first", "2026-10-01T00:00:00Z", "kill"),
            &[metric("a", 1.0)],
        )
        .unwrap();
        drop(h);
        for delay_ms in [150, 230, 310] {
            let mut child = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "tests::writer_child_for_the_kill_test",
                    "--ignored",
                    "--nocapture",
                ])
                .env("SCALEWALL_HISTORY_KILL_TEST_DB", &path)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(delay_ms));
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            let h = History::open(&path).unwrap();
            let check: String = Connection::open(&path)
                .unwrap()
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(check, "ok");
            assert_eq!(h.load("first").unwrap().id, "first");
            assert_eq!(h.metrics("first").unwrap(), vec![metric("a", 1.0)]);
            let rows = h.list(Some("kill"), 1_000_000).unwrap();
            assert!(rows.len() > 1, "the child stored nothing in {delay_ms} ms");
            for row in &rows {
                // every stored run is whole: its record and all its metrics
                h.load(&row.id).unwrap();
                let n = h.metrics(&row.id).unwrap().len();
                assert!(n == 50 || row.id == "first", "{} has {n} metrics", row.id);
            }
        }
    }

    #[test]
    fn a_newer_schema_is_refused() {
        each_backend(|fresh| {
            drop(fresh.open());
            match &fresh.schema {
                None => Connection::open(&fresh.location)
                    .unwrap()
                    .execute_batch("PRAGMA user_version = 99")
                    .unwrap(),
                Some(schema) => {
                    ::postgres::Client::connect(TEST_DATABASE, ::postgres::NoTls)
                        .unwrap()
                        .batch_execute(&format!("UPDATE {schema}.schema_version SET version = 99"))
                        .unwrap();
                }
            }
            let error = History::open(Path::new(&fresh.location))
                .unwrap_err()
                .to_string();
            assert!(error.contains("schema 99"), "{error}");
            assert!(!error.contains("secret"));
        });
    }

    /// Two processes opening one fresh history at once both migrate it
    /// without a race (on SQLite they did not: "table runs already
    /// exists"), and share what each stores.
    #[test]
    fn two_writers_opening_a_fresh_history_share_it() {
        each_backend(|fresh| {
            let first = std::thread::scope(|scope| {
                let a = scope.spawn(|| fresh.open());
                let b = scope.spawn(|| fresh.open());
                let (mut a, mut b) = (a.join().unwrap(), b.join().unwrap());
                a.store(
                    &run("a1", "2026-11-01T00:00:00Z", "api"),
                    &[metric("api.rps", 1.0)],
                )
                .unwrap();
                b.store(
                    &run("b1", "2026-11-02T00:00:00Z", "api"),
                    &[metric("api.rps", 2.0)],
                )
                .unwrap();
                a.list(Some("api"), 10).unwrap()
            });
            assert_eq!(
                first.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
                ["b1", "a1"]
            );
        });
    }
}
