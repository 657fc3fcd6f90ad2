//! Distributed runs, the pure part (issue 15): how a coordinator splits
//! one step's load across workers so the parts add up exactly
//! ([`split`]), how it reads each worker's clock from request/reply round
//! trips so they start together ([`clock`]), and how it merges the
//! workers' interval snapshots — histograms added, never percentiles
//! averaged — while keeping each worker's own figures and ignoring late
//! or repeated snapshots ([`merge`]); which targets a worker may load
//! ([`allow`]). No I/O: the NATS control plane calls these.

#![deny(missing_docs)]

pub mod allow;
pub mod clock;
pub mod merge;
pub mod split;

/// Whether a coordinator and a worker may work together: the same
/// scalewall version, else an error naming both.
pub fn check_versions(coordinator: &str, worker: &str) -> Result<(), String> {
    if coordinator == worker {
        Ok(())
    } else {
        Err(format!(
            "worker runs scalewall {worker}, the coordinator {coordinator}: versions must match"
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_must_match_and_the_refusal_names_both() {
        assert!(super::check_versions("0.1.0", "0.1.0").is_ok());
        assert_eq!(
            super::check_versions("0.1.0", "0.2.0").unwrap_err(),
            "worker runs scalewall 0.2.0, the coordinator 0.1.0: versions must match"
        );
    }
}
