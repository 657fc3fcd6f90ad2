//! The NATS probe: the server's HTTP monitoring endpoint (`/varz`, and
//! `/jsz` for JetStream). A server started without monitoring (`-m PORT`)
//! has no endpoint; the reading then says "unavailable" and why, which is a
//! fact about the server, not a failure of the run.
//!
//! Message and byte rates come from the change of the `in_msgs`/`out_msgs`
//! and `in_bytes`/`out_bytes` counters between samples.

use crate::health::http_get;
use crate::{Probe, ProbeError};
pub use scalewall_model::health::{JetStreamReading, NatsReading, NatsStats};
use std::time::{Duration, Instant};

/// NATS's default monitoring port.
pub const DEFAULT_MONITOR_PORT: u16 = 8222;

/// Parses a `/varz` document (pure). Rates are left empty.
pub fn parse_varz(body: &str) -> Result<NatsStats, String> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("/varz is not JSON: {e}"))?;
    if v.get("server_id").is_none() {
        return Err("/varz has no server_id: not a NATS monitoring endpoint".into());
    }
    let count = |key: &str| v.get(key).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let text = |key: &str| {
        v.get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Ok(NatsStats {
        version: text("version"),
        connections: count("connections"),
        subscriptions: count("subscriptions"),
        slow_consumers: count("slow_consumers"),
        in_msgs: count("in_msgs"),
        out_msgs: count("out_msgs"),
        in_bytes: count("in_bytes"),
        out_bytes: count("out_bytes"),
        mem_bytes: count("mem"),
        cpu_pct: v
            .get("cpu")
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0),
        uptime: text("uptime"),
        in_msgs_per_s: None,
        out_msgs_per_s: None,
        in_bytes_per_s: None,
        out_bytes_per_s: None,
        jetstream: None,
    })
}

/// Parses a `/jsz` document (pure); `None` when JetStream is disabled.
pub fn parse_jsz(body: &str) -> Option<JetStreamReading> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    if v.get("disabled").and_then(serde_json::Value::as_bool) == Some(true) {
        return None;
    }
    let count = |key: &str| v.get(key).and_then(serde_json::Value::as_u64).unwrap_or(0);
    Some(JetStreamReading {
        streams: count("streams"),
        consumers: count("consumers"),
        messages: count("messages"),
        bytes: count("bytes"),
    })
}

/// Sets the rates of `now` from the previous sample's counters (pure).
pub fn with_rates(mut now: NatsStats, previous: &NatsStats, elapsed_s: f64) -> NatsStats {
    if elapsed_s > 0.0 {
        let rate = |a: u64, b: u64| Some(a.saturating_sub(b) as f64 / elapsed_s);
        now.in_msgs_per_s = rate(now.in_msgs, previous.in_msgs);
        now.out_msgs_per_s = rate(now.out_msgs, previous.out_msgs);
        now.in_bytes_per_s = rate(now.in_bytes, previous.in_bytes);
        now.out_bytes_per_s = rate(now.out_bytes, previous.out_bytes);
    }
    now
}

/// The monitoring base URL for what the user gave: an `http://` URL as it
/// is, or a `nats://host[:port]` client URL mapped to `http://host:8222`.
pub fn monitor_url(given: &str) -> String {
    match given.strip_prefix("nats://") {
        Some(rest) => {
            let authority = rest.split('/').next().unwrap_or(rest);
            let authority = authority.rsplit('@').next().unwrap_or(authority);
            let host = match authority.rsplit_once(':') {
                Some((host, _)) => host,
                None => authority,
            };
            format!("http://{host}:{DEFAULT_MONITOR_PORT}")
        }
        None => given.trim_end_matches('/').to_string(),
    }
}

/// Samples one NATS server's monitoring endpoint.
#[derive(Debug)]
pub struct NatsProbe {
    base: String,
    timeout: Duration,
    previous: Option<(NatsStats, Instant)>,
}

impl NatsProbe {
    /// A probe of the monitoring endpoint for `given` (see [`monitor_url`]).
    pub fn new(given: &str, timeout: Duration) -> NatsProbe {
        NatsProbe {
            base: monitor_url(given),
            timeout,
            previous: None,
        }
    }

    fn unavailable(&self, detail: String) -> NatsReading {
        NatsReading {
            target: self.base.clone(),
            available: false,
            detail: Some(detail),
            stats: None,
        }
    }
}

impl Probe for NatsProbe {
    type Reading = NatsReading;

    /// Never fails: no monitoring endpoint is an "unavailable" reading.
    fn sample(&mut self) -> Result<NatsReading, ProbeError> {
        let varz = match http_get(&format!("{}/varz", self.base), self.timeout, false) {
            Ok(answer) if answer.code == 200 => answer,
            Ok(answer) => {
                return Ok(self.unavailable(format!("/varz answered HTTP {}", answer.code)))
            }
            Err(failed) => {
                return Ok(self.unavailable(format!(
                    "no monitoring endpoint ({}); start nats-server with -m {DEFAULT_MONITOR_PORT}",
                    failed.reason
                )))
            }
        };
        let now = Instant::now();
        let mut stats = match parse_varz(&String::from_utf8_lossy(&varz.body)) {
            Ok(stats) => stats,
            Err(reason) => return Ok(self.unavailable(reason)),
        };
        if let Some((previous, at)) = &self.previous {
            stats = with_rates(stats, previous, now.duration_since(*at).as_secs_f64());
        }
        self.previous = Some((stats.clone(), now));
        stats.jetstream = http_get(&format!("{}/jsz", self.base), self.timeout, false)
            .ok()
            .filter(|answer| answer.code == 200)
            .and_then(|answer| parse_jsz(&String::from_utf8_lossy(&answer.body)));
        Ok(NatsReading {
            target: self.base.clone(),
            available: true,
            detail: None,
            stats: Some(stats),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARZ: &str = r#"{"server_id":"NABC","version":"2.10.18","connections":3,"subscriptions":7,
        "slow_consumers":1,"in_msgs":1000,"out_msgs":2000,"in_bytes":64000,"out_bytes":128000,
        "mem":16777216,"cpu":2.5,"uptime":"1h2m3s"}"#;

    #[test]
    fn varz_is_parsed_and_rates_come_from_counter_changes() {
        let before = parse_varz(VARZ).unwrap();
        assert_eq!(
            (before.connections, before.subscriptions, before.mem_bytes),
            (3, 7, 16 << 20)
        );
        assert_eq!((before.version.as_str(), before.cpu_pct), ("2.10.18", 2.5));
        let mut later = before.clone();
        later.in_msgs += 500;
        later.out_bytes += 4000;
        let rated = with_rates(later, &before, 2.0);
        assert_eq!(rated.in_msgs_per_s, Some(250.0));
        assert_eq!(rated.out_msgs_per_s, Some(0.0));
        assert_eq!(rated.out_bytes_per_s, Some(2000.0));
    }

    #[test]
    fn documents_that_are_not_nats_monitoring_are_refused() {
        assert!(parse_varz("<html>").is_err());
        assert!(parse_varz(r#"{"status":"ok"}"#).is_err());
    }

    #[test]
    fn jsz_gives_totals_unless_disabled() {
        let js = parse_jsz(r#"{"streams":2,"consumers":3,"messages":40,"bytes":5000}"#).unwrap();
        assert_eq!(
            (js.streams, js.consumers, js.messages, js.bytes),
            (2, 3, 40, 5000)
        );
        assert_eq!(parse_jsz(r#"{"disabled":true}"#), None);
    }

    #[test]
    fn client_urls_map_to_the_monitoring_port() {
        assert_eq!(
            monitor_url("nats://127.0.0.1:4222"),
            "http://127.0.0.1:8222"
        );
        assert_eq!(
            monitor_url("nats://u:p@nats.local"),
            "http://nats.local:8222"
        );
        assert_eq!(
            monitor_url("http://127.0.0.1:9000/"),
            "http://127.0.0.1:9000"
        );
    }
}
