//! The SQLite backend (the default): one file, WAL mode with
//! `synchronous = NORMAL`, each run written in one transaction, so a
//! process killed mid-write leaves the earlier runs intact and the
//! database readable. The schema version is SQLite's `user_version`.

use crate::{HistoryError, Pruned, RunRecord, RunRow, Store, StoredMetric};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

/// Migrations, in order; entry *i* takes the schema from version *i* to *i + 1*.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        started_at TEXT NOT NULL,
        status TEXT NOT NULL,
        document TEXT NOT NULL
    );
    CREATE INDEX runs_by_subject ON runs (subject, started_at);
    CREATE TABLE metrics (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value REAL NOT NULL,
        samples TEXT,
        PRIMARY KEY (run_id, name)
    ) WITHOUT ROWID;
    CREATE INDEX metrics_by_name ON metrics (name, run_id);
    CREATE TABLE baselines (
        subject TEXT PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE
    );",
    // 2: the findings count is a column (listing 10,000 real-size runs
    // parsed every document: 1.4 s), and runs are indexed by time alone.
    "ALTER TABLE runs ADD COLUMN findings INTEGER NOT NULL DEFAULT 0;
    UPDATE runs SET findings = coalesce(json_array_length(document, '$.findings'), 0);
    CREATE INDEX runs_by_time ON runs (started_at, id);",
    // 3: retention marks the runs whose per-interval detail was dropped.
    "ALTER TABLE runs ADD COLUMN pruned INTEGER NOT NULL DEFAULT 0;",
];

/// A history in a SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Connection,
    path: String,
}

/// How long opening a history waits for another process's lock.
const OPEN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// SQLite's "database is locked".
fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::DatabaseBusy
    )
}

impl SqliteStore {
    /// Opens (creating when missing, with its folder) and migrates the
    /// database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, HistoryError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| HistoryError::Folder {
                path: parent.display().to_string(),
                source,
            })?;
        }
        let shown = path.display().to_string();
        let wrap = |source| HistoryError::Sqlite {
            path: shown.clone(),
            source,
        };
        let connection = Connection::open(path).map_err(wrap)?;
        // The wait comes first: switching a fresh file to WAL takes a lock
        // another opener may hold.
        connection.busy_timeout(OPEN_WAIT).map_err(wrap)?;
        // Two openers switching one fresh file to WAL at once each hold a
        // read lock and want the write lock: SQLite answers one of them
        // "busy" at once, without waiting (it would deadlock). That one
        // tries again, within the same bound.
        let began = std::time::Instant::now();
        loop {
            match connection.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            ) {
                Ok(()) => break,
                Err(e) if is_busy(&e) && began.elapsed() < OPEN_WAIT => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => return Err(wrap(e)),
            }
        }
        let mut store = SqliteStore {
            connection,
            path: shown,
        };
        store.migrate()?;
        Ok(store)
    }

    fn sqlite(&self, source: rusqlite::Error) -> HistoryError {
        HistoryError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Applies the missing migrations, each in an immediate (write-locked)
    /// transaction that reads the version again: two processes opening a
    /// fresh file at once take turns instead of both creating its tables.
    fn migrate(&mut self) -> Result<(), HistoryError> {
        let known = MIGRATIONS.len() as i64;
        loop {
            let path = self.path.clone();
            let wrap = |source| HistoryError::Sqlite {
                path: path.clone(),
                source,
            };
            let tx = self
                .connection
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(wrap)?;
            let version: i64 = tx
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(wrap)?;
            if version > known {
                return Err(HistoryError::NewerSchema {
                    path: self.path.clone(),
                    found: version,
                    known,
                });
            }
            if version == known {
                return Ok(());
            }
            tx.execute_batch(MIGRATIONS[version as usize])
                .and_then(|()| tx.execute_batch(&format!("PRAGMA user_version = {}", version + 1)))
                .and_then(|()| tx.commit())
                .map_err(wrap)?;
        }
    }

    /// Every run id matching a condition on `?1`.
    fn ids_where(&self, condition: &str, value: &str) -> Result<Vec<String>, HistoryError> {
        let mut statement = self
            .connection
            .prepare(&format!("SELECT id FROM runs WHERE {condition}"))
            .map_err(|e| self.sqlite(e))?;
        let ids = statement
            .query_map(params![value], |r| r.get::<_, String>(0))
            .map_err(|e| self.sqlite(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sqlite(e))?;
        Ok(ids)
    }

    fn one_id(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Option<String>, HistoryError> {
        self.connection
            .query_row(sql, params, |r| r.get(0))
            .optional()
            .map_err(|e| self.sqlite(e))
    }
}

impl Store for SqliteStore {
    fn store(&mut self, run: &RunRecord<'_>, metrics: &[StoredMetric]) -> Result<(), HistoryError> {
        let path = self.path.clone();
        let wrap = |source| HistoryError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.connection.transaction().map_err(wrap)?;
        tx.execute("DELETE FROM runs WHERE id = ?1", params![run.run.id])
            .map_err(wrap)?;
        tx.execute(
            "INSERT INTO runs (id, subject, started_at, status, document, findings) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                run.run.id,
                run.subject,
                run.run.started_at,
                run.status,
                run.document,
                run.run.findings.len() as i64
            ],
        )
        .map_err(wrap)?;
        {
            let mut insert = tx
                .prepare("INSERT OR REPLACE INTO metrics (run_id, name, value, samples) VALUES (?1, ?2, ?3, ?4)")
                .map_err(wrap)?;
            for m in metrics {
                insert
                    .execute(params![run.run.id, m.name, m.value, samples_json(m)])
                    .map_err(wrap)?;
            }
        }
        tx.commit().map_err(wrap)
    }

    fn prune(
        &mut self,
        cutoff: &str,
        slim: &dyn Fn(&str, &str) -> Result<String, HistoryError>,
    ) -> Result<Pruned, HistoryError> {
        let path = self.path.clone();
        let wrap = |source| HistoryError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.connection.transaction().map_err(wrap)?;
        let mut done = Pruned::default();
        {
            let mut select = tx
                .prepare(
                    "SELECT id, document,
                            (SELECT coalesce(sum(length(samples)), 0) FROM metrics WHERE run_id = runs.id)
                     FROM runs WHERE started_at < ?1 AND pruned = 0",
                )
                .map_err(wrap)?;
            let rows = select
                .query_map(params![cutoff], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .map_err(wrap)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(wrap)?;
            let mut update = tx
                .prepare("UPDATE runs SET document = ?2, pruned = 1 WHERE id = ?1")
                .map_err(wrap)?;
            let mut clear = tx
                .prepare("UPDATE metrics SET samples = NULL WHERE run_id = ?1")
                .map_err(wrap)?;
            for (id, document, samples_bytes) in rows {
                let thin = slim(&id, &document)?;
                done.runs += 1;
                done.bytes_before += document.len() as u64 + samples_bytes as u64;
                done.bytes_after += thin.len() as u64;
                update.execute(params![id, thin]).map_err(wrap)?;
                clear.execute(params![id]).map_err(wrap)?;
            }
        }
        tx.commit().map_err(wrap)?;
        Ok(done)
    }

    fn list(&self, subject: Option<&str>, limit: usize) -> Result<Vec<RunRow>, HistoryError> {
        // Two statements, so each walks its index (subject, time / time).
        let mut statement = self
            .connection
            .prepare_cached(if subject.is_some() {
                "SELECT id, subject, started_at, status, findings FROM runs
                 WHERE subject = ?1 ORDER BY started_at DESC, id DESC LIMIT ?2"
            } else {
                "SELECT id, subject, started_at, status, findings FROM runs
                 WHERE ?1 IS NULL ORDER BY started_at DESC, id DESC LIMIT ?2"
            })
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map(params![subject, limit as i64], |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    subject: r.get(1)?,
                    started_at: r.get(2)?,
                    status: r.get(3)?,
                    findings: r.get::<_, i64>(4)? as usize,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sqlite(e))
    }

    fn newest(&self, offset: usize) -> Result<Option<String>, HistoryError> {
        self.one_id(
            "SELECT id FROM runs ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET ?1",
            params![offset as i64],
        )
    }

    fn ids_starting(&self, prefix: &str) -> Result<Vec<String>, HistoryError> {
        self.ids_where("id >= ?1 AND id < ?1 || x'ff'", prefix)
    }

    fn ids_ending(&self, tail: &str) -> Result<Vec<String>, HistoryError> {
        self.ids_where("id LIKE '%' || ?1", tail)
    }

    fn document(&self, id: &str) -> Result<Option<String>, HistoryError> {
        self.one_id("SELECT document FROM runs WHERE id = ?1", params![id])
    }

    fn metrics(&self, id: &str) -> Result<Vec<StoredMetric>, HistoryError> {
        let mut statement = self
            .connection
            .prepare("SELECT name, value, samples FROM metrics WHERE run_id = ?1 ORDER BY name")
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map(params![id], |r| {
                let samples: Option<String> = r.get(2)?;
                Ok(StoredMetric {
                    name: r.get(0)?,
                    value: r.get(1)?,
                    samples: parse_samples(samples),
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sqlite(e))
    }

    fn previous_of(&self, id: &str) -> Result<Option<String>, HistoryError> {
        self.one_id(
            "SELECT p.id FROM runs r JOIN runs p ON p.subject = r.subject
             AND (p.started_at, p.id) < (r.started_at, r.id) AND p.status = 'completed'
             WHERE r.id = ?1 ORDER BY p.started_at DESC, p.id DESC LIMIT 1",
            params![id],
        )
    }

    fn latest_completed(&self, subject: &str) -> Result<Option<String>, HistoryError> {
        self.one_id(
            "SELECT id FROM runs WHERE subject = ?1 AND status = 'completed'
             ORDER BY started_at DESC, id DESC LIMIT 1",
            params![subject],
        )
    }

    fn series_newest_first(
        &self,
        subject: &str,
        metric: &str,
        until: &str,
        limit: usize,
    ) -> Result<Vec<(String, f64)>, HistoryError> {
        let mut statement = self
            .connection
            .prepare_cached(
                // CROSS JOIN keeps runs the outer loop: the subject's runs
                // newest first (runs_by_subject), each metric looked up by
                // its key, stopping at the limit (joining from the metric
                // side read every run's value of the name: 10,000 rows).
                "SELECT r.id, m.value FROM runs r CROSS JOIN metrics m
                 WHERE m.run_id = r.id AND m.name = ?1 AND r.subject = ?2
                   AND (r.status = 'completed' OR r.id = ?3)
                   AND (r.started_at, r.id) <= (SELECT started_at, id FROM runs WHERE id = ?3)
                 ORDER BY r.started_at DESC, r.id DESC LIMIT ?4",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map(params![metric, subject, until, limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(|e| self.sqlite(e))?
            .collect::<Result<Vec<(String, f64)>, _>>()
            .map_err(|e| self.sqlite(e))?;
        Ok(rows)
    }

    fn subject_and_status(&self, id: &str) -> Result<Option<(String, String)>, HistoryError> {
        self.connection
            .query_row(
                "SELECT subject, status FROM runs WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.sqlite(e))
    }

    fn put_baseline(&mut self, subject: &str, id: &str) -> Result<(), HistoryError> {
        self.connection
            .execute(
                "INSERT OR REPLACE INTO baselines (subject, run_id) VALUES (?1, ?2)",
                params![subject, id],
            )
            .map(|_| ())
            .map_err(|e| self.sqlite(e))
    }

    fn baseline(&self, subject: &str) -> Result<Option<String>, HistoryError> {
        self.one_id(
            "SELECT run_id FROM baselines WHERE subject = ?1",
            params![subject],
        )
    }
}

/// A metric's samples as stored (`None` when it has none).
pub(crate) fn samples_json(m: &StoredMetric) -> Option<String> {
    (!m.samples.is_empty()).then(|| serde_json::to_string(&m.samples).expect("numbers serialise"))
}

/// Stored samples back (none when absent or unreadable).
pub(crate) fn parse_samples(samples: Option<String>) -> Vec<f64> {
    samples
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}
