//! PostgreSQL (`postgres://user[:password]@host:port/database`), over
//! tokio-postgres. Connections = concurrency; each connection prepares the
//! query once and then runs it as a prepared statement (extended protocol)
//! per operation, reading every row. Parameters are sent as text, so the
//! server converts them to the column types as it would a literal; a
//! parameter written `random:LO..HI` is a fresh uniform integer per call
//! (the shape of `pgbench -S`). With a data feed (`--data`) each call
//! takes a row and fills the parameters' `{{column}}` placeholders.
//!
//! Errors: wrong password, unknown user or database are `auth`; an error the
//! server reports for the query is `server_error` with its SQLSTATE; a
//! connection the server ends (shutdown, `pg_terminate_backend`) is `reset`.

use super::{Connection, Driver, OpError, Response};
use crate::feed::FedTexts;
use crate::target::Target;
use bytes::BytesMut;
use scalewall_model::ErrorKind;
use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_postgres::types::{Format, IsNull, ToSql, Type};
use tokio_postgres::NoTls;

/// One query parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryParam {
    /// The same text every time.
    Text(String),
    /// A uniform integer in `low..=high`, drawn per call.
    Random {
        /// Smallest value.
        low: i64,
        /// Largest value.
        high: i64,
    },
}

impl QueryParam {
    /// Parses `random:LO..HI` or a literal.
    pub fn parse(text: &str) -> Result<QueryParam, String> {
        let Some(range) = text.strip_prefix("random:") else {
            return Ok(QueryParam::Text(text.to_string()));
        };
        let parsed = range.split_once("..").and_then(|(l, h)| {
            Some((l.trim().parse::<i64>().ok()?, h.trim().parse::<i64>().ok()?))
        });
        match parsed {
            Some((low, high)) if low <= high => Ok(QueryParam::Random { low, high }),
            _ => Err(format!(
                "'{text}': write random:LOW..HIGH with integers, LOW ≤ HIGH (e.g. random:1..100000)"
            )),
        }
    }

    fn draw(&self) -> String {
        match self {
            QueryParam::Text(t) => t.clone(),
            QueryParam::Random { low, high } => fastrand::i64(*low..=*high).to_string(),
        }
    }
}

/// A parameter in PostgreSQL's text format: accepted for any column type.
#[derive(Debug)]
struct TextParam(String);

impl ToSql for TextParam {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Opens PostgreSQL connections.
pub struct PostgresDriver {
    config: tokio_postgres::Config,
    where_: String,
    query: String,
    params: Vec<QueryParam>,
    feed: Option<Arc<FedTexts>>,
}

impl PostgresDriver {
    /// A driver for `target` (user `postgres` and the user's database when
    /// not given) at `addr`; `feed`'s texts are the parameters, in order
    /// (a `random:` one is drawn, not filled).
    pub fn new(
        target: &Target,
        addr: SocketAddr,
        query: &str,
        params: Vec<QueryParam>,
        feed: Option<Arc<FedTexts>>,
    ) -> Self {
        let user = target.user.clone().unwrap_or_else(|| "postgres".into());
        let dbname = match target.path_name() {
            "" => user.clone(),
            name => name.to_string(),
        };
        let mut config = tokio_postgres::Config::new();
        config
            .host(addr.ip().to_string())
            .port(addr.port())
            .user(&user)
            .dbname(&dbname)
            .application_name("scalewall");
        if let Some(password) = &target.password {
            config.password(password);
        }
        PostgresDriver {
            config,
            where_: format!("{addr}/{dbname}"),
            query: query.to_string(),
            params,
            feed,
        }
    }
}

/// One PostgreSQL session with the query prepared.
pub struct PostgresConnection {
    client: tokio_postgres::Client,
    statement: tokio_postgres::Statement,
    params: Vec<QueryParam>,
    feed: Option<Arc<FedTexts>>,
    /// The parameters filled from the current row.
    filled: Vec<Vec<u8>>,
}

/// Classifies a tokio-postgres error and words it with the server's message.
pub fn classify(error: &tokio_postgres::Error, connecting: bool) -> OpError {
    use tokio_postgres::error::SqlState;
    if let Some(db) = error.as_db_error() {
        let code = db.code();
        let kind = if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            || *code == SqlState::INVALID_CATALOG_NAME
            || *code == SqlState::TOO_MANY_CONNECTIONS
        {
            ErrorKind::Auth
        } else if *code == SqlState::ADMIN_SHUTDOWN || *code == SqlState::CRASH_SHUTDOWN {
            ErrorKind::Reset
        } else {
            ErrorKind::ServerError
        };
        return OpError::new(
            kind,
            format!("{} {}: {}", db.severity(), code.code(), db.message()),
        );
    }
    let kind = if error.is_closed() {
        ErrorKind::Reset
    } else if let Some(io) = error
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
    {
        if connecting {
            ErrorKind::Connect
        } else {
            OpError::from_io(io).kind
        }
    } else if connecting {
        ErrorKind::Connect
    } else {
        ErrorKind::Protocol
    };
    let message = match error.source() {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    };
    OpError::new(kind, message)
}

impl Driver for PostgresDriver {
    type Conn = PostgresConnection;

    fn protocol(&self) -> &'static str {
        "postgres"
    }

    async fn connect(&self) -> Result<PostgresConnection, OpError> {
        let where_ = |e: OpError| OpError::new(e.kind, format!("{}: {}", self.where_, e.message));
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| where_(classify(&e, true)))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let statement = client
            .prepare(&self.query)
            .await
            .map_err(|e| where_(classify(&e, false)))?;
        if statement.params().len() != self.params.len() {
            return Err(OpError::new(
                ErrorKind::ServerError,
                format!(
                    "the query takes {} parameter(s), {} given",
                    statement.params().len(),
                    self.params.len()
                ),
            ));
        }
        Ok(PostgresConnection {
            client,
            statement,
            params: self.params.clone(),
            feed: self.feed.clone(),
            filled: vec![Vec::new(); self.params.len()],
        })
    }
}

impl Connection for PostgresConnection {
    async fn call(&mut self) -> Result<Response, OpError> {
        if let Some(feed) = &self.feed {
            if !feed.next_into(&mut self.filled) {
                return Err(OpError::feed_exhausted(&feed.feed));
            }
        }
        let fed = self.feed.is_some();
        let values: Vec<TextParam> = self
            .params
            .iter()
            .zip(&self.filled)
            .map(|(p, filled)| match p {
                QueryParam::Text(_) if fed => {
                    TextParam(String::from_utf8_lossy(filled).into_owned())
                }
                p => TextParam(p.draw()),
            })
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let rows = self
            .client
            .query(&self.statement, &refs)
            .await
            .map_err(|e| classify(&e, false))?;
        // tokio-postgres does not expose the rows' wire size; rows are read in full.
        let _ = rows.len();
        let bytes = 0;
        Ok(Response {
            status: 0,
            bytes,
            keep_alive: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_parameters_parse_and_stay_in_range() {
        assert_eq!(
            QueryParam::parse("random:1..100000"),
            Ok(QueryParam::Random {
                low: 1,
                high: 100_000
            })
        );
        assert_eq!(QueryParam::parse("abc"), Ok(QueryParam::Text("abc".into())));
        assert!(QueryParam::parse("random:5..1").is_err());
        assert!(QueryParam::parse("random:x").is_err());
        let p = QueryParam::Random { low: 3, high: 5 };
        for _ in 0..100 {
            let v: i64 = p.draw().parse().unwrap();
            assert!((3..=5).contains(&v));
        }
    }
}
