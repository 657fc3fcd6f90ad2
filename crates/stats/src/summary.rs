//! Latency and step summaries: the figures a bench prints, computed from the
//! merged HDR histogram (never by averaging percentiles).

use scalewall_model::{LatencyHistogram, Step};
use serde::Serialize;

/// Latency distribution in milliseconds, with its sample size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of latencies the figures are drawn from.
    pub count: u64,
    /// Arithmetic mean, ms.
    pub mean: f64,
    /// Standard deviation, ms.
    pub stdev: f64,
    /// Fastest, ms.
    pub min: f64,
    /// Median, ms.
    pub p50: f64,
    /// 90th percentile, ms.
    pub p90: f64,
    /// 95th percentile, ms.
    pub p95: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// 99.9th percentile, ms.
    pub p999: f64,
    /// Slowest, ms.
    pub max: f64,
}

/// Converts microseconds to milliseconds.
fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

impl LatencySummary {
    /// Summarises a histogram of microsecond latencies; all zeros when empty.
    pub fn from_histogram(h: &LatencyHistogram) -> Self {
        if h.is_empty() {
            return LatencySummary {
                count: 0,
                mean: 0.0,
                stdev: 0.0,
                min: 0.0,
                p50: 0.0,
                p90: 0.0,
                p95: 0.0,
                p99: 0.0,
                p999: 0.0,
                max: 0.0,
            };
        }
        LatencySummary {
            count: h.len(),
            mean: h.mean() / 1000.0,
            stdev: h.stdev() / 1000.0,
            min: ms(h.min()),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// The headline figures of one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepSummary {
    /// Responses received (any status).
    pub requests: u64,
    /// Responses per second over the measured span.
    pub rps: f64,
    /// Errors of every kind (status 4xx/5xx included).
    pub errors_total: u64,
    /// Errors as a share of operations attempted, 0–1.
    pub error_ratio: f64,
    /// Measured seconds.
    pub duration_s: f64,
    /// Latency (coordinated-omission corrected for the open model).
    pub latency_ms: LatencySummary,
    /// Open model: latency from actual send.
    pub uncorrected_latency_ms: Option<LatencySummary>,
    /// Open model: lag behind the schedule.
    pub schedule_lag_ms: Option<LatencySummary>,
}

impl StepSummary {
    /// Computes the headline figures of a step.
    pub fn of(step: &Step) -> Self {
        let operations = step.outcomes.operations();
        let errors_total = step.outcomes.errors_total();
        StepSummary {
            requests: step.outcomes.responses,
            rps: step.achieved_rate_per_s,
            errors_total,
            error_ratio: if operations == 0 {
                0.0
            } else {
                errors_total as f64 / operations as f64
            },
            duration_s: step.duration_s,
            latency_ms: LatencySummary::from_histogram(&step.latency_us),
            uncorrected_latency_ms: step
                .uncorrected_latency_us
                .as_ref()
                .map(LatencySummary::from_histogram),
            schedule_lag_ms: step
                .schedule_lag_us
                .as_ref()
                .map(LatencySummary::from_histogram),
        }
    }
}

/// The phases of a step's responses, milliseconds (HTTP).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PhasesSummary {
    /// Opening a connection: one value per connection opened.
    pub connect: LatencySummary,
    /// From the send (open model: the intended start) to the first byte.
    pub ttfb: LatencySummary,
    /// Streamed responses: from the send to the first event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_event: Option<LatencySummary>,
    /// Streamed responses: between consecutive events of a response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_gap: Option<LatencySummary>,
}

/// The events of a step's streamed responses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StreamSummary {
    /// Events received, every response.
    pub events: u64,
    /// Mean events per response.
    pub events_per_response: f64,
    /// Fewest events in one response.
    pub events_per_response_min: u64,
    /// Most events in one response.
    pub events_per_response_max: u64,
    /// Events per second over the measured span.
    pub events_per_s: f64,
}

impl PhasesSummary {
    /// The phases of a step that has them.
    pub fn of(step: &Step) -> Option<Self> {
        let p = step.phases.as_ref()?;
        Some(PhasesSummary {
            connect: LatencySummary::from_histogram(&p.connect_us),
            ttfb: LatencySummary::from_histogram(&p.ttfb_us),
            first_event: p
                .first_event_us
                .as_ref()
                .map(LatencySummary::from_histogram),
            event_gap: p.event_gap_us.as_ref().map(LatencySummary::from_histogram),
        })
    }
}

impl StreamSummary {
    /// The events of a step whose responses were streamed.
    pub fn of(step: &Step) -> Option<Self> {
        let p = step.phases.as_ref()?;
        let per = p.events_per_response.as_ref()?;
        let empty = per.is_empty();
        Some(StreamSummary {
            events: p.events,
            events_per_response: if empty { 0.0 } else { per.mean() },
            events_per_response_min: if empty { 0 } else { per.min() },
            events_per_response_max: if empty { 0 } else { per.max() },
            events_per_s: if step.duration_s > 0.0 {
                p.events as f64 / step.duration_s
            } else {
                0.0
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_histogram_in_milliseconds() {
        let mut h = LatencyHistogram::new();
        for us in 1..=10_000u64 {
            h.record(us);
        }
        let s = LatencySummary::from_histogram(&h);
        assert_eq!(s.count, 10_000);
        assert!((s.p50 - 5.0).abs() < 0.01, "{}", s.p50);
        assert!((s.p90 - 9.0).abs() < 0.01, "{}", s.p90);
        assert!((s.p95 - 9.5).abs() < 0.01, "{}", s.p95);
        assert!((s.p99 - 9.9).abs() < 0.01, "{}", s.p99);
        assert!((s.mean - 5.0005).abs() < 0.01, "{}", s.mean);
        assert!((s.max - 10.0).abs() < 0.01, "{}", s.max);
    }

    #[test]
    fn empty_histogram_summarises_to_zeros() {
        let s = LatencySummary::from_histogram(&LatencyHistogram::new());
        assert_eq!(s.count, 0);
        assert_eq!(s.p99, 0.0);
    }
}
