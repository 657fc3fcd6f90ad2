//! The built-in target: an in-process demo server whose throughput at each
//! concurrency is known in advance (the Universal Scalability Law with
//! fixed σ and κ), loaded by `scalewall demo` and the built-in job's
//! self-check.

use crate::load::{Endpoint, LoadRequest, ProtocolOptions};
use scalewall_demo::DemoConfig;
use scalewall_load::target::Target;
use scalewall_load::transport::http1::RequestSpec;
use scalewall_model::{KnownAnswer, Step};
use std::time::Duration;

/// The built-in target's settings: a curve with a visible wall near 35 clients.
pub const DEMO_TARGET: DemoConfig = DemoConfig {
    latency: Duration::from_millis(2),
    sigma: 0.03,
    kappa: 0.0008,
    error_rate: 0.0,
    stall: None,
    bad_body_rate: 0.0,
};

/// A plain GET of the built-in target, sampled once a second.
pub fn request(target: &Target) -> LoadRequest<'_> {
    LoadRequest {
        endpoint: Endpoint::Url(target),
        spec: RequestSpec::default(),
        http2: false,
        insecure: false,
        sample_interval: Duration::from_secs(1),
        target_process: None,
        protocol: ProtocolOptions::default(),
        fleet: None,
        during_load: Vec::new(),
    }
}

/// What the built-in target is known to do at the steps' concurrencies;
/// `tolerance` is how far the checked figure may stray (a step's
/// throughput, or a sweep's fitted peak).
pub fn known_answer(steps: &[Step], tolerance: f64) -> KnownAnswer {
    let target = DEMO_TARGET;
    KnownAnswer {
        model: format!(
            "the built-in target holds each request {} ms × (1 + {}(n−1) + {}·n(n−1)) with n in flight",
            target.latency.as_secs_f64() * 1000.0,
            target.sigma,
            target.kappa
        ),
        throughput_per_s: steps
            .iter()
            .map(|s| target.expected_throughput(s.concurrency).unwrap_or(0.0))
            .collect(),
        peak_concurrency: (target.kappa > 0.0)
            .then(|| ((1.0 - target.sigma) / target.kappa).sqrt()),
        tolerance,
    }
}
