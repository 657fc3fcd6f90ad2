//! The PostgreSQL probe: one query per sample over one kept connection, from
//! the server's own statistics views: client connections against
//! `max_connections`, transactions per second (`xact_commit +
//! xact_rollback` of the database, between samples), the buffer cache hit
//! ratio (lifetime, and over the interval when there was a previous sample)
//! and the database size.
//!
//! PostgreSQL (15 and later) publishes a session's counters lazily: when the
//! session ends, when it has been idle about a second, and otherwise at
//! least once a minute. Sessions that are busy without pause (a load test's
//! connections) therefore show up late: their transactions land in the
//! interval in which they go idle or disconnect. Over a whole load step that
//! closes its connections the count is exact (the test checks it to the
//! transaction); within the step, per-second rates are lumpy.

use crate::{Probe, ProbeError};
pub use scalewall_model::health::PostgresReading;
use std::time::{Duration, Instant};

/// The server's counters as one query returns them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PostgresCounters {
    /// Client connections.
    pub connections: u64,
    /// Active client connections.
    pub active_connections: u64,
    /// `max_connections`.
    pub max_connections: u64,
    /// `xact_commit + xact_rollback`.
    pub transactions: u64,
    /// `blks_hit`.
    pub blocks_hit: u64,
    /// `blks_read`.
    pub blocks_read: u64,
    /// `pg_database_size`.
    pub database_size_bytes: u64,
}

/// The statistics query: one row, one transaction.
const STATS_QUERY: &str = "SELECT \
    current_setting('server_version'), \
    (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'), \
    (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND state = 'active'), \
    current_setting('max_connections')::bigint, \
    d.xact_commit + d.xact_rollback, d.blks_hit, d.blks_read, \
    pg_database_size(d.datid) \
    FROM pg_stat_database d WHERE d.datname = current_database()";

fn hit_pct(hit: u64, read: u64) -> Option<f64> {
    let total = hit + read;
    (total > 0).then(|| 100.0 * hit as f64 / total as f64)
}

/// Builds a reading from the counters now and, when there is one, the
/// previous sample's counters and the seconds between them (pure).
pub fn reading_from(
    target: &str,
    version: &str,
    now: &PostgresCounters,
    previous: Option<(&PostgresCounters, f64)>,
) -> PostgresReading {
    let (transactions_per_s, cache_hit_pct_interval) = match previous {
        Some((before, elapsed)) if elapsed > 0.0 => {
            // Each sample is one transaction of the probe's own.
            let delta = now
                .transactions
                .saturating_sub(before.transactions)
                .saturating_sub(1);
            (
                Some(delta as f64 / elapsed),
                hit_pct(
                    now.blocks_hit.saturating_sub(before.blocks_hit),
                    now.blocks_read.saturating_sub(before.blocks_read),
                ),
            )
        }
        _ => (None, None),
    };
    PostgresReading {
        target: target.to_string(),
        version: version.to_string(),
        connections: now.connections,
        active_connections: now.active_connections,
        max_connections: now.max_connections,
        connections_pct: crate::percent(now.connections as f64, now.max_connections as f64),
        transactions: now.transactions,
        transactions_per_s,
        cache_hit_pct: hit_pct(now.blocks_hit, now.blocks_read),
        cache_hit_pct_interval,
        database_size_bytes: now.database_size_bytes,
    }
}

/// Samples one PostgreSQL database.
pub struct PostgresProbe {
    config: postgres::Config,
    target: String,
    client: Option<postgres::Client>,
    previous: Option<(PostgresCounters, Instant)>,
}

impl std::fmt::Debug for PostgresProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresProbe")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// `host:port/database` of a configuration, never its password.
fn describe(config: &postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{database}")
}

impl PostgresProbe {
    /// A probe of `postgres://user[:password]@host[:port]/database` (or a
    /// `key=value` connection string), giving up on a connect after `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<PostgresProbe, ProbeError> {
        let mut config: postgres::Config = url.parse().map_err(|e| ProbeError::Proc {
            what: "PostgreSQL URL".into(),
            reason: format!("{e}"),
        })?;
        if config.get_user().is_none() {
            config.user("postgres");
        }
        config.connect_timeout(timeout);
        config.application_name("scalewall-probe");
        let target = describe(&config);
        Ok(PostgresProbe {
            config,
            target,
            client: None,
            previous: None,
        })
    }

    /// What is probed, as `host:port/database`.
    pub fn target(&self) -> &str {
        &self.target
    }

    fn query(&mut self) -> Result<(String, PostgresCounters), String> {
        if self.client.is_none() {
            self.client = Some(
                self.config
                    .connect(postgres::NoTls)
                    .map_err(|e| error_text(&e))?,
            );
        }
        let client = self.client.as_mut().expect("connected above");
        let row = match client.query_one(STATS_QUERY, &[]) {
            Ok(row) => row,
            Err(e) => {
                self.client = None; // reconnect next time
                return Err(error_text(&e));
            }
        };
        let count = |i: usize| -> Result<u64, String> {
            let value: i64 = row.try_get(i).map_err(|e| error_text(&e))?;
            Ok(u64::try_from(value).unwrap_or(0))
        };
        let version: String = row.try_get(0).map_err(|e| error_text(&e))?;
        Ok((
            version,
            PostgresCounters {
                connections: count(1)?,
                active_connections: count(2)?,
                max_connections: count(3)?,
                transactions: count(4)?,
                blocks_hit: count(5)?,
                blocks_read: count(6)?,
                database_size_bytes: count(7)?,
            },
        ))
    }
}

/// The error with its cause: `postgres::Error`'s own text can be as short
/// as "db error".
fn error_text(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    match std::error::Error::source(error) {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}

impl Probe for PostgresProbe {
    type Reading = PostgresReading;

    fn sample(&mut self) -> Result<PostgresReading, ProbeError> {
        let (version, counters) = self.query().map_err(|reason| ProbeError::Proc {
            what: format!("PostgreSQL statistics from {}", self.target),
            reason,
        })?;
        let now = Instant::now();
        let previous = self
            .previous
            .as_ref()
            .map(|(c, at)| (c, now.duration_since(*at).as_secs_f64()));
        let reading = reading_from(&self.target, &version, &counters, previous);
        self.previous = Some((counters, now));
        Ok(reading)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(transactions: u64, hit: u64, read: u64) -> PostgresCounters {
        PostgresCounters {
            connections: 5,
            active_connections: 1,
            max_connections: 100,
            transactions,
            blocks_hit: hit,
            blocks_read: read,
            database_size_bytes: 8 << 20,
        }
    }

    #[test]
    fn first_sample_has_no_rates() {
        let r = reading_from("h:5432/test", "15.19", &counters(1000, 990, 10), None);
        assert_eq!(r.transactions_per_s, None);
        assert_eq!(r.cache_hit_pct, Some(99.0));
        assert_eq!(r.cache_hit_pct_interval, None);
        assert_eq!(r.connections_pct, 5.0);
    }

    #[test]
    fn rates_come_from_the_change_between_samples_less_the_probes_own() {
        let before = counters(1000, 990, 10);
        let now = counters(1201, 1290, 110);
        let r = reading_from("h:5432/test", "15.19", &now, Some((&before, 2.0)));
        assert_eq!(r.transactions_per_s, Some(100.0));
        assert_eq!(r.cache_hit_pct_interval, Some(75.0));
        let idle = reading_from("h", "15", &before, Some((&before, 1.0)));
        assert_eq!(idle.transactions_per_s, Some(0.0));
        assert_eq!(idle.cache_hit_pct_interval, None);
        assert_eq!(hit_pct(0, 0), None);
    }

    #[test]
    fn the_target_names_host_port_and_database_but_not_the_password() {
        let p = PostgresProbe::new(
            "postgres://app:s3cret@db.example:5433/orders",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(p.target(), "db.example:5433/orders");
        let p = PostgresProbe::new("host=127.0.0.1 dbname=test", Duration::from_secs(1)).unwrap();
        assert_eq!(p.target(), "127.0.0.1:5432/test");
        assert!(PostgresProbe::new("postgres://h:notaport/x", Duration::from_secs(1)).is_err());
    }
}
