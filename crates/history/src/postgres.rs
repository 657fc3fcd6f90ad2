//! The PostgreSQL backend (`history = "postgres://…"`): the same runs,
//! metrics and baselines as the SQLite file, in a schema of their own
//! (`?schema=NAME`, default `scalewall`), so several coordinators and
//! `watch` daemons share one history. Migrations are versioned in a
//! `schema_version` table and applied under an advisory lock, so two
//! processes opening a fresh database at once do not race; each run is
//! written in one transaction. Text columns that are ordered (ids,
//! times) use the C collation: byte order, as in SQLite.

use crate::sqlite::{parse_samples, samples_json};
use crate::{HistoryError, Pruned, RunRecord, RunRow, Store, StoredMetric};
use postgres::{Client, NoTls};
use std::cell::RefCell;

/// Migrations, in order; entry *i* takes the schema from version *i* to *i + 1*.
const MIGRATIONS: &[&str] = &["CREATE TABLE runs (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        subject TEXT NOT NULL,
        started_at TEXT COLLATE \"C\" NOT NULL,
        status TEXT NOT NULL,
        document TEXT NOT NULL,
        findings BIGINT NOT NULL DEFAULT 0,
        pruned BOOLEAN NOT NULL DEFAULT false
    );
    CREATE INDEX runs_by_subject ON runs (subject, started_at, id);
    CREATE INDEX runs_by_time ON runs (started_at, id);
    CREATE TABLE metrics (
        run_id TEXT COLLATE \"C\" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        samples TEXT,
        PRIMARY KEY (run_id, name)
    );
    CREATE INDEX metrics_by_name ON metrics (name, run_id);
    CREATE TABLE baselines (
        subject TEXT PRIMARY KEY,
        run_id TEXT COLLATE \"C\" NOT NULL REFERENCES runs (id) ON DELETE CASCADE
    );"];

/// The advisory lock key migrations hold (an arbitrary constant: "scal").
const MIGRATION_LOCK: i64 = 0x7363_616c;

/// A history in PostgreSQL.
pub struct PostgresStore {
    client: RefCell<Client>,
    /// The URL as shown: without its password.
    url: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.url)
            .finish()
    }
}

/// A URL without its password.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The URL without the `schema` parameter, and the schema it named.
pub fn split_schema(url: &str) -> Result<(String, String), String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut schema = "scalewall".to_string();
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("schema", name)) => schema = name.to_string(),
            _ => rest.push(pair),
        }
    }
    if schema.is_empty()
        || schema.len() > 63
        || !schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        || schema.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(format!(
            "schema '{schema}': use lower-case letters, digits and '_' (not first), at most 63"
        ));
    }
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, schema))
}

impl PostgresStore {
    /// Connects, makes the schema when missing and migrates it.
    pub fn open(url: &str) -> Result<PostgresStore, HistoryError> {
        let shown = redact(url);
        let (connect_to, schema) = split_schema(url).map_err(|reason| HistoryError::BadUrl {
            url: shown.clone(),
            reason,
        })?;
        let wrap = |source| HistoryError::Postgres {
            url: shown.clone(),
            source,
        };
        let client = Client::connect(&connect_to, NoTls).map_err(wrap)?;
        let store = PostgresStore {
            client: RefCell::new(client),
            url: shown,
        };
        store.migrate(&schema)?;
        Ok(store)
    }

    fn pg(&self, source: postgres::Error) -> HistoryError {
        HistoryError::Postgres {
            url: self.url.clone(),
            source,
        }
    }

    /// Makes the schema and applies the missing migrations, holding an
    /// advisory lock: concurrent `CREATE SCHEMA IF NOT EXISTS` (or two
    /// first migrations) would otherwise collide.
    fn migrate(&self, schema: &str) -> Result<(), HistoryError> {
        let mut client = self.client.borrow_mut();
        let mut tx = client.transaction().map_err(|e| self.pg(e))?;
        tx.batch_execute(&format!(
            "SET client_min_messages = warning;
             SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
             CREATE SCHEMA IF NOT EXISTS {schema};
             SET search_path TO {schema};
             CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL);"
        ))
        .map_err(|e| self.pg(e))?;
        let version: i64 = tx
            .query_opt("SELECT version FROM schema_version", &[])
            .map_err(|e| self.pg(e))?
            .map_or(0, |row| row.get(0));
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(HistoryError::NewerSchema {
                path: self.url.clone(),
                found: version,
                known,
            });
        }
        for sql in MIGRATIONS.iter().skip(version as usize) {
            tx.batch_execute(sql).map_err(|e| self.pg(e))?;
        }
        if version < known {
            tx.execute("DELETE FROM schema_version", &[])
                .map_err(|e| self.pg(e))?;
            tx.execute("INSERT INTO schema_version VALUES ($1)", &[&known])
                .map_err(|e| self.pg(e))?;
        }
        tx.commit().map_err(|e| self.pg(e))
    }

    fn ids(&self, sql: &str, value: &str) -> Result<Vec<String>, HistoryError> {
        Ok(self
            .client
            .borrow_mut()
            .query(sql, &[&value])
            .map_err(|e| self.pg(e))?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn one(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Option<String>, HistoryError> {
        Ok(self
            .client
            .borrow_mut()
            .query_opt(sql, params)
            .map_err(|e| self.pg(e))?
            .map(|r| r.get(0)))
    }
}

impl Store for PostgresStore {
    fn store(&mut self, run: &RunRecord<'_>, metrics: &[StoredMetric]) -> Result<(), HistoryError> {
        let url = self.url.clone();
        let wrap = |source| HistoryError::Postgres {
            url: url.clone(),
            source,
        };
        let mut client = self.client.borrow_mut();
        let mut tx = client.transaction().map_err(wrap)?;
        tx.execute("DELETE FROM runs WHERE id = $1", &[&run.run.id])
            .map_err(wrap)?;
        tx.execute(
            "INSERT INTO runs (id, subject, started_at, status, document, findings) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &run.run.id,
                &run.subject,
                &run.run.started_at,
                &run.status,
                &run.document,
                &(run.run.findings.len() as i64),
            ],
        )
        .map_err(wrap)?;
        let insert = tx
            .prepare(
                "INSERT INTO metrics (run_id, name, value, samples) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (run_id, name) DO UPDATE SET value = excluded.value, samples = excluded.samples",
            )
            .map_err(wrap)?;
        for m in metrics {
            tx.execute(&insert, &[&run.run.id, &m.name, &m.value, &samples_json(m)])
                .map_err(wrap)?;
        }
        tx.commit().map_err(wrap)
    }

    fn prune(
        &mut self,
        cutoff: &str,
        slim: &dyn Fn(&str, &str) -> Result<String, HistoryError>,
    ) -> Result<Pruned, HistoryError> {
        let url = self.url.clone();
        let wrap = |source| HistoryError::Postgres {
            url: url.clone(),
            source,
        };
        let mut client = self.client.borrow_mut();
        let mut tx = client.transaction().map_err(wrap)?;
        let rows = tx
            .query(
                "SELECT id, document,
                        (SELECT coalesce(sum(length(samples)), 0) FROM metrics WHERE run_id = runs.id)::BIGINT
                 FROM runs WHERE started_at < $1 AND NOT pruned FOR UPDATE",
                &[&cutoff],
            )
            .map_err(wrap)?;
        let mut done = Pruned::default();
        for row in rows {
            let (id, document, samples_bytes): (String, String, i64) =
                (row.get(0), row.get(1), row.get(2));
            let thin = slim(&id, &document)?;
            done.runs += 1;
            done.bytes_before += document.len() as u64 + samples_bytes as u64;
            done.bytes_after += thin.len() as u64;
            tx.execute(
                "UPDATE runs SET document = $2, pruned = true WHERE id = $1",
                &[&id, &thin],
            )
            .map_err(wrap)?;
            tx.execute(
                "UPDATE metrics SET samples = NULL WHERE run_id = $1",
                &[&id],
            )
            .map_err(wrap)?;
        }
        tx.commit().map_err(wrap)?;
        Ok(done)
    }

    fn list(&self, subject: Option<&str>, limit: usize) -> Result<Vec<RunRow>, HistoryError> {
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows = self
            .client
            .borrow_mut()
            .query(
                "SELECT id, subject, started_at, status, findings FROM runs
                 WHERE $1::TEXT IS NULL OR subject = $1
                 ORDER BY started_at DESC, id DESC LIMIT $2",
                &[&subject, &limit],
            )
            .map_err(|e| self.pg(e))?;
        Ok(rows
            .iter()
            .map(|r| RunRow {
                id: r.get(0),
                subject: r.get(1),
                started_at: r.get(2),
                status: r.get(3),
                findings: r.get::<_, i64>(4) as usize,
            })
            .collect())
    }

    fn newest(&self, offset: usize) -> Result<Option<String>, HistoryError> {
        self.one(
            "SELECT id FROM runs ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET $1",
            &[&(offset as i64)],
        )
    }

    fn ids_starting(&self, prefix: &str) -> Result<Vec<String>, HistoryError> {
        self.ids("SELECT id FROM runs WHERE starts_with(id, $1)", prefix)
    }

    fn ids_ending(&self, tail: &str) -> Result<Vec<String>, HistoryError> {
        self.ids("SELECT id FROM runs WHERE right(id, length($1)) = $1", tail)
    }

    fn document(&self, id: &str) -> Result<Option<String>, HistoryError> {
        self.one("SELECT document FROM runs WHERE id = $1", &[&id])
    }

    fn metrics(&self, id: &str) -> Result<Vec<StoredMetric>, HistoryError> {
        let rows = self
            .client
            .borrow_mut()
            .query(
                "SELECT name, value, samples FROM metrics WHERE run_id = $1 ORDER BY name COLLATE \"C\"",
                &[&id],
            )
            .map_err(|e| self.pg(e))?;
        Ok(rows
            .iter()
            .map(|r| StoredMetric {
                name: r.get(0),
                value: r.get(1),
                samples: parse_samples(r.get(2)),
            })
            .collect())
    }

    fn previous_of(&self, id: &str) -> Result<Option<String>, HistoryError> {
        self.one(
            "SELECT p.id FROM runs r JOIN runs p ON p.subject = r.subject
             AND (p.started_at, p.id) < (r.started_at, r.id) AND p.status = 'completed'
             WHERE r.id = $1 ORDER BY p.started_at DESC, p.id DESC LIMIT 1",
            &[&id],
        )
    }

    fn latest_completed(&self, subject: &str) -> Result<Option<String>, HistoryError> {
        self.one(
            "SELECT id FROM runs WHERE subject = $1 AND status = 'completed'
             ORDER BY started_at DESC, id DESC LIMIT 1",
            &[&subject],
        )
    }

    fn series_newest_first(
        &self,
        subject: &str,
        metric: &str,
        until: &str,
        limit: usize,
    ) -> Result<Vec<(String, f64)>, HistoryError> {
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows = self
            .client
            .borrow_mut()
            .query(
                "SELECT r.id, m.value FROM runs r JOIN metrics m ON m.run_id = r.id
                 WHERE m.name = $1 AND r.subject = $2
                   AND (r.status = 'completed' OR r.id = $3)
                   AND (r.started_at, r.id) <= (SELECT started_at, id FROM runs WHERE id = $3)
                 ORDER BY r.started_at DESC, r.id DESC LIMIT $4",
                &[&metric, &subject, &until, &limit],
            )
            .map_err(|e| self.pg(e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn subject_and_status(&self, id: &str) -> Result<Option<(String, String)>, HistoryError> {
        Ok(self
            .client
            .borrow_mut()
            .query_opt("SELECT subject, status FROM runs WHERE id = $1", &[&id])
            .map_err(|e| self.pg(e))?
            .map(|r| (r.get(0), r.get(1))))
    }

    fn put_baseline(&mut self, subject: &str, id: &str) -> Result<(), HistoryError> {
        self.client
            .borrow_mut()
            .execute(
                "INSERT INTO baselines (subject, run_id) VALUES ($1, $2)
                 ON CONFLICT (subject) DO UPDATE SET run_id = excluded.run_id",
                &[&subject, &id],
            )
            .map(|_| ())
            .map_err(|e| self.pg(e))
    }

    fn baseline(&self, subject: &str) -> Result<Option<String>, HistoryError> {
        self.one(
            "SELECT run_id FROM baselines WHERE subject = $1",
            &[&subject],
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_comes_out_of_the_url_and_passwords_never_show() {
        assert_eq!(
            super::split_schema("postgres://u@h/test?schema=sw_1&sslmode=disable").unwrap(),
            (
                "postgres://u@h/test?sslmode=disable".to_string(),
                "sw_1".to_string()
            )
        );
        assert_eq!(
            super::split_schema("postgres://u@h/test").unwrap().1,
            "scalewall"
        );
        assert!(super::split_schema("postgres://h/t?schema=x;drop").is_err());
        assert_eq!(
            super::redact("postgres://u:secret@h:5432/t"),
            "postgres://u@h:5432/t"
        );
    }
}
