//! A worker's clock offset from request/reply round trips, as NTP reads
//! it: the coordinator notes when it sent a probe and when the reply came
//! back, the worker stamps its own clock in between; the round trip with
//! the shortest delay bounds the offset best (the worker's stamp lies
//! somewhere within it), so its midpoint is the estimate and half its
//! delay the uncertainty.

/// One round trip, in seconds on each side's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundTrip {
    /// Coordinator clock when the probe was sent.
    pub sent: f64,
    /// Worker clock when it answered.
    pub worker: f64,
    /// Coordinator clock when the answer arrived.
    pub received: f64,
}

/// A worker's clock against the coordinator's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Offset {
    /// Worker clock minus coordinator clock, seconds.
    pub offset_s: f64,
    /// The estimate is within ± this, seconds (half the best round trip).
    pub uncertainty_s: f64,
}

impl Offset {
    /// A coordinator time on the worker's clock.
    pub fn to_worker(&self, coordinator_time: f64) -> f64 {
        coordinator_time + self.offset_s
    }
}

/// The offset from the round trip with the shortest delay; `None` without
/// a usable one (a reply before its probe).
pub fn estimate(trips: &[RoundTrip]) -> Option<Offset> {
    trips
        .iter()
        .filter(|t| t.received >= t.sent)
        .min_by(|a, b| (a.received - a.sent).total_cmp(&(b.received - b.sent)))
        .map(|t| Offset {
            offset_s: t.worker - (t.sent + t.received) / 2.0,
            uncertainty_s: (t.received - t.sent) / 2.0,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker 2.5 s ahead, seen through round trips of uneven delay: the
    /// shortest trip gives the offset within its half-delay.
    #[test]
    fn the_shortest_round_trip_bounds_the_offset() {
        let true_offset = 2.5;
        // (sent, out delay, back delay)
        let trips: Vec<RoundTrip> = [
            (10.0, 0.004, 0.001),
            (11.0, 0.0004, 0.0006),
            (12.0, 0.02, 0.0),
        ]
        .iter()
        .map(|&(sent, out, back)| RoundTrip {
            sent,
            worker: sent + out + true_offset,
            received: sent + out + back,
        })
        .collect();
        let o = estimate(&trips).unwrap();
        assert!(
            (o.offset_s - true_offset).abs() <= o.uncertainty_s + 1e-12,
            "{o:?}"
        );
        assert!((o.uncertainty_s - 0.0005).abs() < 1e-12);
        assert!((o.to_worker(100.0) - 102.5).abs() < 0.001);
        assert_eq!(
            estimate(&[RoundTrip {
                sent: 2.0,
                worker: 0.0,
                received: 1.0
            }]),
            None
        );
    }
}
