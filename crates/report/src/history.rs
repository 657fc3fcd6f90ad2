//! The history commands' output: the list of stored runs, and two runs
//! compared metric by metric, as text or JSON.

use crate::markdown::Changes;
use crate::number::{change, sig, sig_n};
use scalewall_stats::compare::Change;

/// One stored run as `scalewall history` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLine<'a> {
    /// Run id.
    pub id: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Start time.
    pub started_at: &'a str,
    /// Status.
    pub status: &'a str,
    /// Number of findings.
    pub findings: usize,
}

/// Stored runs as a table, newest first as given.
pub fn runs_table(rows: &[RunLine<'_>]) -> String {
    let mut out = format!(
        "{:<36}  {:<12}  {:<24}  {:<11}  {}\n",
        "run", "subject", "started", "status", "findings"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<36}  {:<12}  {:<24}  {:<11}  {}\n",
            r.id, r.subject, r.started_at, r.status, r.findings
        ));
    }
    out
}

/// Two runs compared, as text: one row per metric both have.
pub fn comparison_text(before: &str, after: &str, changes: &Changes) -> String {
    let mut out = format!(
        "{before} → {after} (Mann–Whitney U on per-second samples; a change needs p < 0.05 and ≥ 5 % between the whole-run values, then a move past the run-to-run noise: 3 robust σ of the last 10 completed runs)\n"
    );
    out.push_str(&format!(
        "{:<40}  {:>12}  {:>12}  {:>9}  {:>8}  decision\n",
        "metric", "before", "after", "change", "p"
    ));
    for c in &changes.comparisons {
        out.push_str(&format!(
            "{:<40}  {:>12}  {:>12}  {:>9}  {:>8}  {}\n",
            c.metric,
            sig(c.before),
            sig(c.after),
            change(c.relative_change),
            c.test.map_or("n/a".into(), |t| sig_n(t.p_value, 2)),
            match (c.change, &c.noise) {
                (Change::Regressed, _) => "REGRESSED".to_string(),
                (change, Some(noise)) => format!("{} ({noise})", change.as_str()),
                (change, None) => change.as_str().to_string(),
            }
        ));
    }
    out
}

/// Two runs compared, as one JSON object.
pub fn comparison_json(before: &str, after: &str, changes: &Changes) -> String {
    // Plain data with string keys always serialises.
    serde_json::to_string_pretty(&serde_json::json!({
        "before": before,
        "after": after,
        "comparisons": changes.comparisons,
    }))
    .expect("comparison JSON serialises")
        + "\n"
}
