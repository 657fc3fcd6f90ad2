//! The Redis probe: `INFO` over a plain RESP connection (no client library
//! is needed for one command): used memory against `maxmemory`, clients,
//! operations per second, keys, uptime. Operations per second are computed
//! from `total_commands_processed` between samples when there is a previous
//! sample, and otherwise taken from Redis's own `instantaneous_ops_per_sec`.

use crate::{Probe, ProbeError};
pub use scalewall_model::health::RedisReading;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Parses the text of an `INFO` reply (pure); `target` labels the reading.
pub fn parse_info(target: &str, text: &str) -> RedisReading {
    let fields: BTreeMap<&str, &str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim_end_matches('\r').split_once(':'))
        .collect();
    let number = |key: &str| {
        fields
            .get(key)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let keys = fields
        .iter()
        .filter(|(k, _)| k.starts_with("db") && k[2..].chars().all(|c| c.is_ascii_digit()))
        .filter_map(|(_, v)| {
            v.split(',')
                .find_map(|part| part.strip_prefix("keys="))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .sum();
    let used = number("used_memory");
    let max = number("maxmemory");
    RedisReading {
        target: target.to_string(),
        version: fields.get("redis_version").unwrap_or(&"").to_string(),
        used_memory_bytes: used,
        maxmemory_bytes: max,
        used_memory_pct: (max > 0).then(|| 100.0 * used as f64 / max as f64),
        connected_clients: number("connected_clients"),
        ops_per_s: fields
            .get("instantaneous_ops_per_sec")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        total_commands: number("total_commands_processed"),
        keys,
        uptime_s: number("uptime_in_seconds"),
    }
}

/// Encodes a command as a RESP array of bulk strings.
fn command(parts: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", parts.len()).into_bytes();
    for part in parts {
        out.extend_from_slice(format!("${}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads one RESP reply: a bulk string's payload, or a simple string.
fn read_reply(reader: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    let line = line.trim_end();
    match line.chars().next() {
        Some('+') => Ok(line[1..].to_string()),
        Some('-') => Err(format!("Redis answered: {}", &line[1..])),
        Some('$') => {
            let len: usize = line[1..]
                .parse()
                .map_err(|_| format!("bad bulk length '{line}'"))?;
            let mut payload = vec![0u8; len + 2];
            reader.read_exact(&mut payload).map_err(|e| e.to_string())?;
            payload.truncate(len);
            Ok(String::from_utf8_lossy(&payload).into_owned())
        }
        None => Err("Redis closed the connection".into()),
        _ => Err(format!("not a Redis reply: '{line}'")),
    }
}

/// Samples one Redis server.
pub struct RedisProbe {
    target: String,
    password: Option<String>,
    timeout: Duration,
    previous: Option<(u64, Instant)>,
}

impl RedisProbe {
    /// A probe of `redis://[:password@]host[:port]` (or `host:port`).
    pub fn new(url: &str, timeout: Duration) -> RedisProbe {
        let rest = url.strip_prefix("redis://").unwrap_or(url);
        let rest = rest.split('/').next().unwrap_or(rest);
        let (password, authority) = match rest.rsplit_once('@') {
            Some((user_info, host)) => {
                let password = user_info.rsplit(':').next().unwrap_or(user_info);
                (Some(password.to_string()).filter(|p| !p.is_empty()), host)
            }
            None => (None, rest),
        };
        let target = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:6379")
        };
        RedisProbe {
            target,
            password,
            timeout,
            previous: None,
        }
    }

    fn info(&self) -> Result<String, String> {
        let addr = self
            .target
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.target))?
            .next()
            .ok_or_else(|| format!("{}: no address", self.target))?;
        let stream = TcpStream::connect_timeout(&addr, self.timeout).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(self.timeout))
            .map_err(|e| e.to_string())?;
        stream
            .set_write_timeout(Some(self.timeout))
            .map_err(|e| e.to_string())?;
        let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(stream);
        if let Some(password) = &self.password {
            writer
                .write_all(&command(&["AUTH", password]))
                .map_err(|e| e.to_string())?;
            read_reply(&mut reader)?;
        }
        writer
            .write_all(&command(&["INFO"]))
            .map_err(|e| e.to_string())?;
        read_reply(&mut reader)
    }
}

impl Probe for RedisProbe {
    type Reading = RedisReading;

    fn sample(&mut self) -> Result<RedisReading, ProbeError> {
        let text = self.info().map_err(|reason| ProbeError::Proc {
            what: format!("Redis INFO from {}", self.target),
            reason,
        })?;
        let mut reading = parse_info(&self.target, &text);
        let now = Instant::now();
        if let Some((commands, at)) = self.previous {
            let elapsed = now.duration_since(at).as_secs_f64();
            if elapsed > 0.0 {
                // The INFO command itself counts once per sample: leave it out.
                let delta = reading
                    .total_commands
                    .saturating_sub(commands)
                    .saturating_sub(1);
                reading.ops_per_s = delta as f64 / elapsed;
            }
        }
        self.previous = Some((reading.total_commands, now));
        Ok(reading)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:3600\r\n\r\n# Clients\r\nconnected_clients:3\r\n\r\n# Memory\r\nused_memory:2097152\r\nmaxmemory:8388608\r\n\r\n# Stats\r\ntotal_commands_processed:1234\r\ninstantaneous_ops_per_sec:56\r\n\r\n# Keyspace\r\ndb0:keys=10,expires=0,avg_ttl=0\r\ndb3:keys=5,expires=1,avg_ttl=10\r\n";

    #[test]
    fn info_is_parsed_into_typed_fields() {
        let r = parse_info("h:1", INFO);
        assert_eq!(r.version, "7.0.15");
        assert_eq!(
            (r.used_memory_bytes, r.maxmemory_bytes),
            (2_097_152, 8_388_608)
        );
        assert_eq!(r.used_memory_pct, Some(25.0));
        assert_eq!(
            (r.connected_clients, r.total_commands, r.keys, r.uptime_s),
            (3, 1234, 15, 3600)
        );
        assert_eq!(r.ops_per_s, 56.0);
        assert_eq!(parse_info("h:1", "maxmemory:0\r\n").used_memory_pct, None);
    }

    #[test]
    fn urls_give_target_and_password() {
        let p = RedisProbe::new("redis://:s3cret@127.0.0.1:6380/0", Duration::from_secs(1));
        assert_eq!(
            (p.target.as_str(), p.password.as_deref()),
            ("127.0.0.1:6380", Some("s3cret"))
        );
        assert_eq!(
            RedisProbe::new("localhost", Duration::from_secs(1)).target,
            "localhost:6379"
        );
    }

    #[test]
    fn commands_are_resp_arrays() {
        assert_eq!(command(&["INFO"]), b"*1\r\n$4\r\nINFO\r\n");
        assert_eq!(
            command(&["AUTH", "pw"]),
            b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n"
        );
    }
}
