//! Alerts: what a watched run says to a webhook, and its delivery with
//! retries. The events and bodies are pure; delivery goes through a small
//! [`Sender`] trait so tests can count attempts.
//!
//! A channel that fails after every retry is not silent: its health (sent,
//! failed, last error) is on `/api/status` and turns `/health` degraded.

use crate::status::JobStatus;
use scalewall_model::Finding;
#[cfg(test)]
use scalewall_model::Severity;
use std::time::Duration;

pub use scalewall_job::config::{parse_trigger, AlertSpec as AlertRule, AlertTrigger as Trigger};

/// A webhook URL as shown: scheme and host only (webhook paths and user
/// info hold tokens).
pub fn label(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    format!("{scheme}://{host}/…")
}

/// What happened in one run of a job, as alerts see it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEvent<'a> {
    /// Job name.
    pub job: &'a str,
    /// Status before the run.
    pub previous: JobStatus,
    /// Status after it.
    pub status: JobStatus,
    /// The run's id (empty when no record exists).
    pub run_id: &'a str,
    /// Why the run failed, when it did.
    pub error: Option<&'a str>,
    /// The run's findings.
    pub findings: &'a [Finding],
    /// Where its report is, when one was written.
    pub report: Option<&'a str>,
}

/// The findings of `event` a rule fires on, and whether its status change
/// does (pure).
fn fires<'e>(rule: &AlertRule, event: &'e RunEvent<'_>) -> Option<Vec<&'e Finding>> {
    let status_changed = event.previous != event.status && event.previous != JobStatus::Pending
        || event.previous == JobStatus::Pending && event.status != JobStatus::Ok;
    let mut fired = false;
    let mut findings = Vec::new();
    for trigger in &rule.on {
        match trigger {
            Trigger::Status => fired |= status_changed,
            Trigger::Finding(level) => {
                for f in event.findings.iter().filter(|f| f.severity >= *level) {
                    if !findings.contains(&f) {
                        findings.push(f);
                    }
                }
            }
            Trigger::CapacityDrift => {
                for f in event.findings.iter().filter(|f| {
                    f.subject
                        .starts_with(scalewall_job::compare::CAPACITY_DRIFT)
                }) {
                    if !findings.contains(&f) {
                        findings.push(f);
                    }
                }
            }
        }
    }
    (fired || !findings.is_empty()).then_some(findings)
}

/// The body a rule sends for `event`, or `None` when it does not fire (pure).
pub fn body(rule: &AlertRule, event: &RunEvent<'_>) -> Option<String> {
    let findings = fires(rule, event)?;
    if rule.slack {
        let mut text = format!(
            "scalewall: job {} is {} (was {})",
            event.job,
            event.status.as_str(),
            event.previous.as_str()
        );
        if let Some(error) = event.error {
            text.push_str(&format!(": {error}"));
        }
        for f in &findings {
            text.push_str(&format!(
                "\n• {:?} {}: {} ({})",
                f.severity, f.subject, f.message, f.evidence
            ));
        }
        if let Some(report) = event.report {
            text.push_str(&format!("\nreport: {report}"));
        }
        return Some(serde_json::json!({ "text": text }).to_string());
    }
    Some(
        serde_json::json!({
            "job": event.job,
            "status": event.status.as_str(),
            "previous_status": event.previous.as_str(),
            "run": event.run_id,
            "error": event.error,
            "findings": findings,
            "report": event.report,
        })
        .to_string(),
    )
}

/// Delivers a body to a URL.
pub trait Sender: Send + Sync {
    /// One attempt: the HTTP status, or why there is none.
    fn post(&self, url: &str, body: &str) -> Result<u16, String>;
}

/// Plain HTTP(S) POST with a timeout.
pub struct HttpSender {
    /// Per attempt.
    pub timeout: Duration,
}

impl Sender for HttpSender {
    fn post(&self, url: &str, body: &str) -> Result<u16, String> {
        scalewall_probe::health::http_post_json(url, body, self.timeout)
    }
}

/// Attempts per alert.
pub const ATTEMPTS: u32 = 3;

/// Sends `body` with up to [`ATTEMPTS`] attempts, waiting `backoff`, then
/// twice that, between them; a 2xx answer delivers it.
pub fn deliver(
    sender: &dyn Sender,
    url: &str,
    body: &str,
    backoff: Duration,
) -> Result<(), String> {
    let mut wait = backoff;
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match sender.post(url, body) {
            Ok(code) if (200..300).contains(&code) => return Ok(()),
            Ok(code) => last = format!("HTTP {code}"),
            Err(e) => last = e,
        }
        if attempt < ATTEMPTS {
            std::thread::sleep(wait);
            wait *= 2;
        }
    }
    Err(format!("{ATTEMPTS} attempts failed, the last: {last}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn finding(severity: Severity) -> Finding {
        Finding {
            severity,
            subject: "api.p99_ms".into(),
            message: "api.p99_ms is past its critical limit".into(),
            evidence: "120 ms > critical 100 ms".into(),
        }
    }

    fn rule(on: &[&str]) -> AlertRule {
        AlertRule {
            url: "https://user:pw@hooks.example.com/services/T0/SECRET".into(),
            slack: false,
            on: on.iter().map(|t| parse_trigger(t).unwrap()).collect(),
        }
    }

    #[test]
    fn rules_fire_on_status_changes_and_findings_at_their_level() {
        let findings = [finding(Severity::Medium), finding(Severity::Critical)];
        let event = RunEvent {
            job: "api",
            previous: JobStatus::Ok,
            status: JobStatus::Failing,
            run_id: "r1",
            error: None,
            findings: &findings,
            report: Some("/reports/r1.html"),
        };
        let body: serde_json::Value =
            serde_json::from_str(&body(&rule(&["status"]), &event).unwrap()).unwrap();
        assert_eq!(body["status"], "FAILING");
        assert_eq!(body["previous_status"], "OK");
        assert_eq!(body["findings"].as_array().unwrap().len(), 0);
        let body: serde_json::Value =
            serde_json::from_str(&super::body(&rule(&["finding>=HIGH"]), &event).unwrap()).unwrap();
        assert_eq!(body["findings"][0]["severity"], "CRITICAL");
        assert_eq!(body["findings"].as_array().unwrap().len(), 1);
        // No change, no finding at the level: nothing is sent.
        let quiet = RunEvent {
            previous: JobStatus::Ok,
            status: JobStatus::Ok,
            findings: &findings[..1],
            ..event.clone()
        };
        assert_eq!(
            super::body(&rule(&["status", "finding>=HIGH"]), &quiet),
            None
        );
        // The first run going well is not a change worth a page.
        let first = RunEvent {
            previous: JobStatus::Pending,
            ..quiet.clone()
        };
        assert_eq!(super::body(&rule(&["status"]), &first), None);
        let slack = AlertRule {
            slack: true,
            ..rule(&["status"])
        };
        let text: serde_json::Value =
            serde_json::from_str(&super::body(&slack, &event).unwrap()).unwrap();
        assert!(text["text"]
            .as_str()
            .unwrap()
            .starts_with("scalewall: job api is FAILING (was OK)"));
        assert_eq!(label(&rule(&[]).url), "https://hooks.example.com/…");
        assert!(parse_trigger("finding>=SEVERE").is_err() && parse_trigger("drift").is_err());
    }

    struct Flaky {
        answers: Mutex<Vec<Result<u16, String>>>,
    }

    impl Sender for Flaky {
        fn post(&self, _: &str, _: &str) -> Result<u16, String> {
            self.answers.lock().unwrap().remove(0)
        }
    }

    #[test]
    fn delivery_retries_then_reports_the_last_failure() {
        let flaky = Flaky {
            answers: Mutex::new(vec![Err("refused".into()), Ok(503), Ok(200)]),
        };
        assert_eq!(deliver(&flaky, "u", "{}", Duration::from_millis(1)), Ok(()));
        let down = Flaky {
            answers: Mutex::new(vec![Err("refused".into()), Ok(500), Ok(502)]),
        };
        assert_eq!(
            deliver(&down, "u", "{}", Duration::from_millis(1)),
            Err("3 attempts failed, the last: HTTP 502".into())
        );
    }
}
