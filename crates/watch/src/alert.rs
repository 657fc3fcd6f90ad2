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
use std::time::{Duration, SystemTime};

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

/// Findings, each with the key its alert is remembered by.
type Keyed<'e> = Vec<(String, &'e Finding)>;

/// What is wrong in `event` that `rule` listens to, each with the key it
/// is remembered by while it lasts: a FAILING or TIMEOUT status
/// (`status FAILING`), and each finding at the rule's level
/// (`<subject>: <message>`). `None` in place of the findings when the run
/// left no record (it failed before one existed): its findings are not
/// known, so none starts or ends (pure).
fn problems<'e>(rule: &AlertRule, event: &'e RunEvent<'_>) -> (Option<String>, Option<Keyed<'e>>) {
    let mut status = None;
    let mut findings: Vec<(String, &Finding)> = Vec::new();
    let mut add = |f: &'e Finding| {
        let key = format!("{}: {}", f.subject, f.message);
        if !findings.iter().any(|(k, _)| *k == key) {
            findings.push((key, f));
        }
    };
    for trigger in &rule.on {
        match trigger {
            Trigger::Status => {
                if matches!(event.status, JobStatus::Failing | JobStatus::Timeout) {
                    status = Some(format!("status {}", event.status.as_str()));
                }
            }
            Trigger::Finding(level) => {
                event
                    .findings
                    .iter()
                    .filter(|f| f.severity >= *level)
                    .for_each(&mut add);
            }
            Trigger::CapacityDrift => {
                event
                    .findings
                    .iter()
                    .filter(|f| {
                        f.subject
                            .starts_with(scalewall_job::compare::CAPACITY_DRIFT)
                    })
                    .for_each(&mut add);
            }
        }
    }
    let known = !event.run_id.is_empty();
    (status, known.then_some(findings))
}

/// An alert that is firing: since when, and when it was last sent.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Firing {
    since: SystemTime,
    last_sent: SystemTime,
}

/// An alert that ended, with how long it lasted.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// Its key (`status FAILING`, `<subject>: <message>`).
    pub alert: String,
    /// When it started.
    pub since: SystemTime,
    /// How long it lasted.
    pub lasted: Duration,
}

/// What a rule says after one run: the alerts that start or are due to be
/// repeated, and those that ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice<'e> {
    /// The job's problem status starts or repeats (`FAILING`, `TIMEOUT`).
    pub status: Option<String>,
    /// The findings that start or repeat.
    pub findings: Vec<&'e Finding>,
    /// The alerts that were firing and are over.
    pub resolved: Vec<Resolved>,
    /// Every alert sent is a repeat of one already sent.
    pub repeat: bool,
}

/// What one rule has fired and not yet resolved, per job: an alert is sent
/// when it starts, again only once `repeat` has passed since it was last
/// sent while it lasts, and a "resolved" message when it ends
/// (Alertmanager's semantics). Pure: the time comes in.
#[derive(Debug, Default)]
pub struct Ledger {
    firing: std::collections::BTreeMap<(String, String), Firing>,
}

/// One firing alert as a restarted daemon takes it back.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedFiring {
    /// The job it is about.
    pub job: String,
    /// What fired: a status, or a finding's subject and message.
    pub key: String,
    /// When it started, seconds since the Unix epoch.
    pub since_unix_s: f64,
    /// When it was last sent, seconds since the Unix epoch.
    pub last_sent_unix_s: f64,
}

impl Ledger {
    /// What is firing, to keep across a restart (pure).
    pub fn saved(&self) -> Vec<SavedFiring> {
        self.firing
            .iter()
            .map(|((job, key), f)| SavedFiring {
                job: job.clone(),
                key: key.clone(),
                since_unix_s: crate::view::unix_s(f.since),
                last_sent_unix_s: crate::view::unix_s(f.last_sent),
            })
            .collect()
    }

    /// A ledger holding what a stopped daemon had firing (pure).
    pub fn restored(saved: &[SavedFiring]) -> Ledger {
        let at =
            |s: f64| std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(s.clamp(0.0, 1e12));
        Ledger {
            firing: saved
                .iter()
                .map(|f| {
                    (
                        (f.job.clone(), f.key.clone()),
                        Firing {
                            since: at(f.since_unix_s),
                            last_sent: at(f.last_sent_unix_s),
                        },
                    )
                })
                .collect(),
        }
    }

    /// Takes one run's event at `now`; `None` when there is nothing to say.
    pub fn notice<'e>(
        &mut self,
        rule: &AlertRule,
        event: &'e RunEvent<'_>,
        now: SystemTime,
    ) -> Option<Notice<'e>> {
        let (status, findings) = problems(rule, event);
        let mut current: Vec<(String, Option<&'e Finding>)> = Vec::new();
        if let Some(key) = &status {
            current.push((key.clone(), None));
        }
        if let Some(findings) = &findings {
            current.extend(findings.iter().map(|(k, f)| (k.clone(), Some(*f))));
        }
        let mut notice = Notice {
            status: None,
            findings: Vec::new(),
            resolved: Vec::new(),
            repeat: true,
        };
        for (key, finding) in &current {
            let slot = (event.job.to_string(), key.clone());
            let due = match self.firing.get_mut(&slot) {
                None => {
                    self.firing.insert(
                        slot,
                        Firing {
                            since: now,
                            last_sent: now,
                        },
                    );
                    notice.repeat = false;
                    true
                }
                Some(f) => {
                    let due = now.duration_since(f.last_sent).unwrap_or_default() >= rule.repeat;
                    if due {
                        f.last_sent = now;
                    }
                    due
                }
            };
            if due {
                match finding {
                    Some(f) => notice.findings.push(f),
                    None => notice.status = Some(key.clone()),
                }
            }
        }
        // What fired for this job and is not wrong now has ended; a run
        // whose findings are unknown ends only its status.
        let ended: Vec<(String, String)> = self
            .firing
            .keys()
            .filter(|(job, key)| {
                job == event.job
                    && !current.iter().any(|(k, _)| k == key)
                    && (findings.is_some() || key.starts_with("status "))
            })
            .cloned()
            .collect();
        for slot in ended {
            if let Some(f) = self.firing.remove(&slot) {
                notice.resolved.push(Resolved {
                    alert: slot.1,
                    since: f.since,
                    lasted: now.duration_since(f.since).unwrap_or_default(),
                });
            }
        }
        let firing = notice.status.is_some() || !notice.findings.is_empty();
        notice.repeat &= firing;
        (firing || !notice.resolved.is_empty()).then_some(notice)
    }
}

/// A duration in whole seconds, as people read it (`5m 2s`).
fn lasted_text(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// The body a rule sends for `event` and what its ledger made of it (pure).
pub fn body(rule: &AlertRule, event: &RunEvent<'_>, notice: &Notice<'_>) -> String {
    let firing = notice.status.is_some() || !notice.findings.is_empty();
    if rule.slack {
        let mut text = if firing {
            format!(
                "scalewall: job {} is {} (was {}){}",
                event.job,
                event.status.as_str(),
                event.previous.as_str(),
                if notice.repeat { ", still" } else { "" }
            )
        } else {
            format!(
                "scalewall: job {} is {} (was {}): resolved",
                event.job,
                event.status.as_str(),
                event.previous.as_str()
            )
        };
        if let Some(error) = event.error.filter(|_| firing) {
            text.push_str(&format!(": {error}"));
        }
        for f in &notice.findings {
            text.push_str(&format!(
                "\n• {:?} {}: {} ({})",
                f.severity, f.subject, f.message, f.evidence
            ));
            if !f.fix.is_empty() {
                text.push_str(&format!("\n  fix: {}", f.fix));
            }
        }
        for r in &notice.resolved {
            text.push_str(&format!(
                "\n✓ resolved after {}: {}",
                lasted_text(r.lasted),
                r.alert
            ));
        }
        if let Some(report) = event.report {
            text.push_str(&format!("\nreport: {report}"));
        }
        return serde_json::json!({ "text": text }).to_string();
    }
    let resolved: Vec<serde_json::Value> = notice
        .resolved
        .iter()
        .map(|r| {
            serde_json::json!({
                "alert": r.alert,
                "since": humantime::format_rfc3339_seconds(r.since).to_string(),
                "duration_s": r.lasted.as_secs_f64(),
                "duration": lasted_text(r.lasted),
            })
        })
        .collect();
    serde_json::json!({
        "job": event.job,
        "state": if firing { "firing" } else { "resolved" },
        "repeat": notice.repeat,
        "status": event.status.as_str(),
        "previous_status": event.previous.as_str(),
        "run": event.run_id,
        "error": event.error,
        "findings": notice.findings,
        "resolved": resolved,
        "report": event.report,
    })
    .to_string()
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
            fix: String::new(),
        }
    }

    fn rule(on: &[&str]) -> AlertRule {
        AlertRule {
            url: "https://user:pw@hooks.example.com/services/T0/SECRET".into(),
            slack: false,
            on: on.iter().map(|t| parse_trigger(t).unwrap()).collect(),
            repeat: Duration::from_secs(4 * 3600),
        }
    }

    fn at(minutes: u64) -> SystemTime {
        std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + minutes * 60)
    }

    fn json(rule: &AlertRule, event: &RunEvent<'_>, notice: &Notice<'_>) -> serde_json::Value {
        serde_json::from_str(&body(rule, event, notice)).unwrap()
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
        let status = rule(&["status"]);
        let notice = Ledger::default().notice(&status, &event, at(0)).unwrap();
        let sent = json(&status, &event, &notice);
        assert_eq!(sent["status"], "FAILING");
        assert_eq!(sent["state"], "firing");
        assert_eq!(sent["previous_status"], "OK");
        assert_eq!(sent["findings"].as_array().unwrap().len(), 0);
        let high = rule(&["finding>=HIGH"]);
        let notice = Ledger::default().notice(&high, &event, at(0)).unwrap();
        let sent = json(&high, &event, &notice);
        assert_eq!(sent["findings"][0]["severity"], "CRITICAL");
        assert_eq!(sent["findings"].as_array().unwrap().len(), 1);
        // No problem status, no finding at the level: nothing is sent.
        let quiet = RunEvent {
            previous: JobStatus::Ok,
            status: JobStatus::Ok,
            findings: &findings[..1],
            ..event.clone()
        };
        let both = rule(&["status", "finding>=HIGH"]);
        assert_eq!(Ledger::default().notice(&both, &quiet, at(0)), None);
        // The first run going well is not a change worth a page.
        let first = RunEvent {
            previous: JobStatus::Pending,
            ..quiet.clone()
        };
        assert_eq!(Ledger::default().notice(&status, &first, at(0)), None);
        let slack = AlertRule {
            slack: true,
            ..rule(&["status"])
        };
        let notice = Ledger::default().notice(&slack, &event, at(0)).unwrap();
        let text = json(&slack, &event, &notice);
        assert!(text["text"]
            .as_str()
            .unwrap()
            .starts_with("scalewall: job api is FAILING (was OK)"));
        assert_eq!(label(&rule(&[]).url), "https://hooks.example.com/…");
        assert!(parse_trigger("finding>=SEVERE").is_err() && parse_trigger("drift").is_err());
    }

    /// Alertmanager's semantics: a lasting problem is sent once, again
    /// only after `repeat`, and its end is sent once as resolved, with how
    /// long it lasted. Issue 29's trial: a service down for five runs a
    /// minute apart sent the same FAILING alert five times.
    #[test]
    fn a_lasting_problem_fires_once_repeats_after_its_interval_and_resolves_once() {
        let critical = [finding(Severity::Critical)];
        let rule = rule(&["status", "finding>=HIGH"]);
        let failing = |previous| RunEvent {
            job: "gateway",
            previous,
            status: JobStatus::Failing,
            run_id: "r",
            error: Some("gateway is down"),
            findings: &critical,
            report: None,
        };
        let mut ledger = Ledger::default();
        let first = failing(JobStatus::Ok);
        let notice = ledger.notice(&rule, &first, at(0)).unwrap();
        assert_eq!(notice.status.as_deref(), Some("status FAILING"));
        assert_eq!(notice.findings.len(), 1);
        assert!(!notice.repeat);
        // Four more failing runs a minute apart: nothing.
        let again = failing(JobStatus::Failing);
        for minute in 1..5 {
            assert_eq!(ledger.notice(&rule, &again, at(minute)), None, "{minute}");
        }
        // Another job's problem is its own alert.
        let other = RunEvent {
            job: "stores",
            ..failing(JobStatus::Ok)
        };
        assert!(ledger.notice(&rule, &other, at(5)).is_some());
        // Four hours after it was sent, it is sent again, as a repeat.
        let notice = ledger.notice(&rule, &again, at(240)).unwrap();
        assert!(notice.repeat && notice.status.is_some(), "{notice:?}");
        assert_eq!(ledger.notice(&rule, &again, at(241)), None);
        // A restarted daemon takes back what was firing: still nothing.
        let mut ledger = Ledger::restored(&ledger.saved());
        assert_eq!(ledger.notice(&rule, &again, at(241)), None);
        // A run that left no record does not end the findings' alert.
        let unknown = RunEvent {
            run_id: "",
            findings: &[],
            ..failing(JobStatus::Failing)
        };
        assert_eq!(ledger.notice(&rule, &unknown, at(242)), None);
        // It recovers: one resolved message for both, with the duration.
        let recovered = RunEvent {
            previous: JobStatus::Failing,
            status: JobStatus::Recovering,
            error: None,
            findings: &[],
            ..again.clone()
        };
        let notice = ledger.notice(&rule, &recovered, at(250)).unwrap();
        assert!(notice.status.is_none() && notice.findings.is_empty());
        let ended: Vec<&str> = notice.resolved.iter().map(|r| r.alert.as_str()).collect();
        assert_eq!(
            ended,
            [
                "api.p99_ms: api.p99_ms is past its critical limit",
                "status FAILING"
            ]
        );
        assert_eq!(notice.resolved[1].lasted, Duration::from_secs(250 * 60));
        let sent = json(&rule, &recovered, &notice);
        assert_eq!(sent["state"], "resolved");
        assert_eq!(sent["resolved"][1]["duration_s"], 15000.0);
        assert_eq!(sent["resolved"][1]["duration"], "4h 10m");
        // OK after RECOVERING: already resolved, nothing more.
        let ok = RunEvent {
            previous: JobStatus::Recovering,
            status: JobStatus::Ok,
            ..recovered.clone()
        };
        assert_eq!(ledger.notice(&rule, &ok, at(251)), None);
        // And a new failure is a new alert.
        assert!(
            !ledger
                .notice(&rule, &failing(JobStatus::Ok), at(260))
                .unwrap()
                .repeat
        );
        let slack = AlertRule {
            slack: true,
            ..rule.clone()
        };
        let mut ledger = Ledger::default();
        ledger.notice(&slack, &first, at(0));
        let notice = ledger.notice(&slack, &recovered, at(3)).unwrap();
        let text = json(&slack, &recovered, &notice)["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            text.starts_with("scalewall: job gateway is RECOVERING (was FAILING): resolved"),
            "{text}"
        );
        assert!(
            text.contains("✓ resolved after 3m: status FAILING"),
            "{text}"
        );
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
