//! A latency histogram with the measurement rules baked in: microsecond
//! values, 3 significant digits, 1 µs to 1 hour, mergeable, and serialised as
//! the HdrHistogram V2 format in base64 so any HdrHistogram tool can read it.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency tracked, microseconds (one hour); larger values saturate.
pub const MAX_TRACKABLE_US: u64 = 3_600_000_000;
/// Significant decimal digits kept for every value.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// HDR histogram of latencies in microseconds.
#[derive(Clone, PartialEq)]
pub struct LatencyHistogram(Histogram<u64>);

/// Why a serialised histogram could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    /// Not valid base64.
    #[error("histogram is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// Not a valid HdrHistogram V2 payload.
    #[error("histogram payload is not HdrHistogram V2: {0:?}")]
    Payload(hdrhistogram::serialization::DeserializeError),
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("len", &self.0.len())
            .field("min", &self.0.min())
            .field("max", &self.0.max())
            .finish()
    }
}

impl LatencyHistogram {
    /// An empty histogram with the standard bounds.
    pub fn new() -> Self {
        // Bounds and precision are constants within the library's limits.
        let h = Histogram::new_with_bounds(1, MAX_TRACKABLE_US, SIGNIFICANT_DIGITS)
            .expect("constant histogram bounds are valid");
        LatencyHistogram(h)
    }

    /// Records one latency; values above [`MAX_TRACKABLE_US`] saturate at it.
    #[inline]
    pub fn record(&mut self, micros: u64) {
        self.0.saturating_record(micros);
    }

    /// Records `count` operations of the same latency (a pipelined batch).
    #[inline]
    pub fn record_n(&mut self, micros: u64, count: u64) {
        self.0.saturating_record_n(micros, count);
    }

    /// Adds every value of `other` into this histogram.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        // Both sides share the same bounds, so adding cannot fail.
        self.0.add(&other.0).expect("histograms share bounds");
    }

    /// Removes every value, keeping the allocation.
    pub fn clear(&mut self) {
        self.0.reset();
    }

    /// Number of recorded values.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Value at quantile `q` in `[0, 1]` (highest equivalent value of its bucket).
    pub fn value_at_quantile(&self, q: f64) -> u64 {
        self.0.value_at_quantile(q)
    }

    /// Arithmetic mean of the recorded values.
    pub fn mean(&self) -> f64 {
        self.0.mean()
    }

    /// Largest recorded value (bucket-equivalent).
    pub fn max(&self) -> u64 {
        self.0.max()
    }

    /// Smallest recorded value (bucket-equivalent).
    pub fn min(&self) -> u64 {
        self.0.min()
    }

    /// Standard deviation of the recorded values.
    pub fn stdev(&self) -> f64 {
        self.0.stdev()
    }

    /// The underlying HdrHistogram, for statistics this wrapper does not expose.
    pub fn inner(&self) -> &Histogram<u64> {
        &self.0
    }

    /// HdrHistogram V2 payload, base64-encoded.
    pub fn to_base64(&self) -> String {
        let mut bytes = Vec::new();
        // Writing into a Vec cannot fail for a well-formed histogram.
        V2Serializer::new()
            .serialize(&self.0, &mut bytes)
            .expect("serialising a histogram into memory");
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Reads a histogram written by [`LatencyHistogram::to_base64`].
    pub fn from_base64(text: &str) -> Result<Self, HistogramError> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(text)?;
        let decoded: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(HistogramError::Payload)?;
        // A histogram written with the standard bounds is used as read;
        // any other is added into one that has them (one pass and one
        // allocation fewer for every snapshot a coordinator reads).
        if decoded.low() == 1
            && decoded.high() == MAX_TRACKABLE_US
            && decoded.sigfig() == SIGNIFICANT_DIGITS
            && !decoded.is_auto_resize()
        {
            return Ok(LatencyHistogram(decoded));
        }
        let mut h = LatencyHistogram::new();
        h.0.add(&decoded).map_err(|_| {
            HistogramError::Payload(
                hdrhistogram::serialization::DeserializeError::UsizeTypeTooSmall,
            )
        })?;
        Ok(h)
    }
}

impl Serialize for LatencyHistogram {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for LatencyHistogram {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        LatencyHistogram::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// In the JSON document a histogram is one string: the HdrHistogram V2
/// serialisation (DEFLATE-compressed), base64-encoded.
impl schemars::JsonSchema for LatencyHistogram {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "LatencyHistogram".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An HDR histogram of microseconds (3 significant digits): the V2 compressed serialisation, base64-encoded."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        let mut all = LatencyHistogram::new();
        for v in 1..=1000u64 {
            if v % 2 == 0 {
                a.record(v)
            } else {
                b.record(v)
            }
            all.record(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(a.value_at_quantile(0.5), 500);
    }

    #[test]
    fn values_keep_three_significant_digits() {
        let mut h = LatencyHistogram::new();
        h.record(123_456);
        let v = h.value_at_quantile(1.0);
        assert!((v as f64 - 123_456.0).abs() / 123_456.0 < 1e-3, "{v}");
    }

    #[test]
    fn huge_values_saturate_instead_of_failing() {
        let mut h = LatencyHistogram::new();
        h.record(u64::MAX);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn garbage_base64_is_an_error_not_a_panic() {
        assert!(LatencyHistogram::from_base64("not base64!!").is_err());
        assert!(LatencyHistogram::from_base64("AAAA").is_err());
    }
}
