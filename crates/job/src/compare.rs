//! A run against its history: metric-by-metric comparisons with a stored
//! run (Mann–Whitney U on per-interval samples), trends over the last runs,
//! regression findings gated by the run-to-run noise, and everything a
//! report of a stored run shows.

use crate::error::Result;
use crate::findings::{regression_severity, NOISE_WINDOW};
use scalewall_history::{History, StoredMetric};
use scalewall_model::{Finding, Run, Severity};
use scalewall_report::markdown::{Changes, PlanSection, ReportInput, Status, SweepSection};
use scalewall_stats::compare::{self, Change, Policy, Trend};
use scalewall_stats::metrics::Metric;
use scalewall_stats::number::{self, change, count, rate_unit, sig, sig_n};
use scalewall_stats::sweep;
use std::collections::BTreeMap;

/// Runs behind a trend.
const TREND_RUNS: usize = 5;

/// Findings for metrics that regressed significantly since the previous run.
pub fn regression_findings(h: &History, run: &Run, metrics: &[Metric]) -> Result<Vec<Finding>> {
    let subject = scalewall_history::subject_of(run);
    let Some(previous) = h.latest_completed(&subject)? else {
        return Ok(Vec::new());
    };
    let changes = changes_against(h, &previous, metrics)?;
    let mut findings = Vec::new();
    for c in changes
        .comparisons
        .iter()
        .filter(|c| c.change == Change::Regressed)
    {
        // The earlier completed runs, ending with the previous one.
        let values: Vec<f64> = h
            .series(&subject, &c.metric, &previous, NOISE_WINDOW)?
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        let metric = metrics.iter().find(|m| m.name == c.metric);
        let gating = metric.is_some_and(|m| m.gating);
        let better = metric.map_or(scalewall_stats::compare::Better::Lower, |m| m.better);
        let (severity, noise) = if gating {
            regression_severity(c.after, &values, better)
        } else {
            (
                Severity::Low,
                "describes the host, not the system under load: reported, never gating".to_string(),
            )
        };
        findings.push(Finding {
            severity,
            subject: c.metric.clone(),
            message: format!("{} regressed since the previous run", c.metric),
            evidence: format!(
                "{} → {} ({}, Mann–Whitney p = {}, {} vs {}; {noise})",
                sig(c.before),
                sig(c.after),
                change(c.relative_change),
                c.test.map_or("n/a".into(), |t| sig_n(t.p_value, 2)),
                count(c.samples[0] as u64, "sample", "samples"),
                count(c.samples[1] as u64, "sample", "samples")
            ),
            fix: crate::fix::Fix::Regression {
                metric: &c.metric,
                run: &run.id,
                previous: &previous,
            }
            .text(),
        });
    }
    Ok(findings)
}

/// The subject prefix of capacity-drift findings (`capacity_drift.<scenario>`).
pub const CAPACITY_DRIFT: &str = "capacity_drift";

/// A sweep's capacity: the fitted peak X(N*) with N*, σ and κ.
#[derive(Debug, Clone, Copy)]
struct Capacity {
    peak: f64,
    n: f64,
    sigma: f64,
    kappa: f64,
}

/// A sweep's capacity, when it has a fitted peak (pure).
fn capacity_of(steps: &[scalewall_model::Step]) -> Option<Capacity> {
    if steps.len() < 3 || !steps.iter().all(|s| s.completed) {
        return None;
    }
    let fit = sweep::analyse(sweep::points_of(steps)).fit.ok()?;
    Some(Capacity {
        peak: fit.peak_throughput()?,
        n: fit.peak_concurrency()?,
        sigma: fit.sigma,
        kappa: fit.kappa,
    })
}

/// Capacity drift: for each sweep of `run`, its fitted peak X(N*) against
/// the peaks of the subject's earlier completed runs, through the same gate
/// as regressions (the robust run-to-run noise of the last runs, a large
/// drop at once, a moderate one when confirmed). A MEDIUM drop is a
/// finding `capacity_drift.<scenario>` with the before and after.
pub fn capacity_drift_findings(h: &History, run: &Run) -> Result<Vec<Finding>> {
    let subject = scalewall_history::subject_of(run);
    let earlier_ids: Vec<String> = h
        .list(Some(&subject), 1000)?
        .into_iter()
        .filter(|r| r.status == "completed" && r.id != run.id && r.started_at < run.started_at)
        .take(NOISE_WINDOW)
        .map(|r| r.id)
        .collect();
    let mut earlier_runs = Vec::new();
    for id in earlier_ids.iter().rev() {
        earlier_runs.push(h.load(id)?);
    }
    let mut findings = Vec::new();
    for scenario in &run.scenarios {
        let Some(now) = capacity_of(&scenario.steps) else {
            continue;
        };
        let earlier: Vec<(&str, Capacity)> = earlier_runs
            .iter()
            .filter_map(|r| {
                let s = r.scenarios.iter().find(|s| s.name == scenario.name)?;
                Some((r.id.as_str(), capacity_of(&s.steps)?))
            })
            .collect();
        let peaks: Vec<f64> = earlier.iter().map(|(_, c)| c.peak).collect();
        let (severity, basis) =
            regression_severity(now.peak, &peaks, scalewall_stats::compare::Better::Higher);
        if severity < Severity::Medium {
            continue;
        }
        let Some((previous_id, then)) = earlier.last() else {
            continue;
        };
        let unit = number::rate_unit(&scenario.protocol);
        findings.push(Finding {
            severity,
            subject: format!("{CAPACITY_DRIFT}.{}", scenario.name),
            message: format!("the capacity peak of {} dropped", scenario.name),
            evidence: format!(
                "X(N*) {} → {} {unit} ({}), N* {} → {}, σ {} → {}, κ {} → {} since run {previous_id}; {basis}",
                sig(then.peak),
                sig(now.peak),
                change(now.peak / then.peak - 1.0),
                sig_n(then.n, 3),
                sig_n(now.n, 3),
                sig(then.sigma),
                sig(now.sigma),
                sig(then.kappa),
                sig(now.kappa),
            ),
            fix: crate::fix::Fix::CapacityDrift {
                run: &run.id,
                previous: previous_id,
                before: then.peak,
                now: now.peak,
                unit,
            }
            .text(),
        });
    }
    Ok(findings)
}

/// The USL sections of a run's sweeps (pure).
pub fn sweep_sections(run: &Run) -> Vec<SweepSection> {
    run.scenarios
        .iter()
        .filter(|s| s.steps.len() > 1)
        // A `--param` sweep's levels are sizes at one concurrency: its
        // cost curve is in its load results.
        .filter(|s| scalewall_stats::metrics::swept_param(s).is_none())
        // An open-model search's levels are rates, not concurrency.
        .filter(|s| s.search.as_ref().is_none_or(|r| r.model != "open"))
        .map(|s| {
            let analysis = sweep::analyse(sweep::points_of(&s.steps));
            let max_n = s.steps.iter().map(|st| st.concurrency).max().unwrap_or(0);
            let unit = rate_unit(&s.protocol);
            SweepSection {
                scenario: s.name.clone(),
                unit,
                evidence: sweep::wall_evidence(&s.steps),
                verdict: analysis
                    .fit
                    .as_ref()
                    .ok()
                    .map(|f| f.verdict().sentence(unit, f64::from(max_n))),
                fit: analysis.fit.map_err(|e| e.to_string()),
                warnings: analysis.warnings,
            }
        })
        .collect()
}

/// Stores runs with their metrics, in the order given (oldest first):
/// how a run written elsewhere (a fixture, an export) joins a history.
pub fn store_runs(history: &mut History, runs: &[Run]) -> Result<()> {
    for run in runs {
        history.store(run, &stored_metrics(&scalewall_stats::metrics::of_run(run)))?;
    }
    Ok(())
}

/// The metrics as the history stores them (name, value, samples).
pub fn stored_metrics(metrics: &[Metric]) -> Vec<StoredMetric> {
    metrics
        .iter()
        .map(|m| StoredMetric {
            name: m.name.clone(),
            value: m.value,
            samples: m.samples.clone(),
        })
        .collect()
}

/// Compares a run's metrics with a stored run's.
pub fn changes_against(history: &History, against: &str, metrics: &[Metric]) -> Result<Changes> {
    let before: BTreeMap<String, StoredMetric> = history
        .metrics(against)?
        .into_iter()
        .map(|m| (m.name.clone(), m))
        .collect();
    let policy = Policy::default();
    let comparisons = metrics
        .iter()
        .filter(|m| m.complete)
        .filter_map(|m| {
            let b = before.get(&m.name)?;
            Some(compare::compare(
                &m.name,
                m.better,
                (b.value, &b.samples),
                (m.value, &m.samples),
                &policy,
            ))
        })
        .collect();
    Ok(Changes {
        against: against.to_string(),
        comparisons,
    })
}

/// A move this many robust standard deviations from the recent median is
/// past the run-to-run noise (as the regression gate's moderate bound).
const NOISE_Z: f64 = 3.0;

/// Judges each significant change of `changes` (a later run against the
/// earlier run `changes.against`) against the subject's run-to-run noise:
/// the median and MAD of its completed runs up to the earlier one (as the
/// regression gate does, [`crate::findings::run_to_run_noise`]). A move
/// within [`NOISE_Z`] robust σ becomes [`Change::WithinNoise`]; with too
/// few runs to know the noise, [`Change::NoiseUnknown`]. Per-second
/// samples within two runs cannot show the noise between runs: two
/// unchanged nginx runs a minute apart once read +14.8 % "improved"
/// (p = 0.021).
pub fn gate_by_noise(h: &History, subject: &str, mut changes: Changes) -> Result<Changes> {
    for c in changes
        .comparisons
        .iter_mut()
        .filter(|c| matches!(c.change, Change::Improved | Change::Regressed))
    {
        let earlier: Vec<f64> = h
            .series(subject, &c.metric, &changes.against, NOISE_WINDOW)?
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        match crate::findings::run_to_run_noise(&earlier) {
            None => {
                c.change = Change::NoiseUnknown;
                c.noise = Some(format!(
                    "run-to-run noise not known yet: {}, {} needed",
                    count(earlier.len() as u64, "earlier run", "earlier runs"),
                    crate::findings::NOISE_RUNS
                ));
            }
            Some((level, sigma)) => {
                let z = (c.after / level - 1.0) / sigma;
                let basis = format!(
                    "{} robust σ from the median {} of the last {} (σ = {})",
                    sig_n(z.abs(), 2),
                    sig(level),
                    count(earlier.len() as u64, "run", "runs"),
                    number::pct(sigma * 100.0)
                );
                if z.abs() <= NOISE_Z {
                    c.change = Change::WithinNoise;
                    c.noise = Some(format!("{basis}: within the run-to-run noise"));
                } else {
                    c.noise = Some(format!("{basis}: past the run-to-run noise"));
                }
            }
        }
    }
    Ok(changes)
}

/// The trend of each metric over the subject's last runs up to `id`.
fn trends(history: &History, run: &Run, metrics: &[Metric]) -> Result<Vec<(String, Trend, usize)>> {
    let subject = scalewall_history::subject_of(run);
    let ids: Vec<String> = history
        .list(Some(&subject), 1000)?
        .into_iter()
        .skip_while(|r| r.id != run.id)
        .filter(|r| r.status == "completed")
        .take(TREND_RUNS)
        .map(|r| r.id)
        .collect();
    if ids.len() < 3 {
        return Ok(Vec::new());
    }
    let mut by_run: Vec<BTreeMap<String, StoredMetric>> = Vec::new();
    for id in ids.iter().rev() {
        by_run.push(
            history
                .metrics(id)?
                .into_iter()
                .map(|m| (m.name.clone(), m))
                .collect(),
        );
    }
    let policy = Policy::default();
    Ok(metrics
        .iter()
        .filter(|m| m.complete && m.samples.len() >= policy.min_samples)
        .filter_map(|m| {
            // A run without the metric breaks the chain: its change is
            // untested, and an untested change makes no trend.
            let changes: Vec<Change> = by_run
                .windows(2)
                .map(|pair| match (pair[0].get(&m.name), pair[1].get(&m.name)) {
                    (Some(a), Some(b)) => {
                        compare::compare(
                            &m.name,
                            m.better,
                            (a.value, &a.samples),
                            (b.value, &b.samples),
                            &policy,
                        )
                        .change
                    }
                    _ => Change::Untested,
                })
                .collect();
            compare::trend(&changes).map(|t| (m.name.clone(), t, ids.len()))
        })
        .collect())
}

/// Everything the report of a stored run shows.
pub fn report_input<'a>(
    history: Option<&History>,
    run: &'a Run,
    metrics: &'a [Metric],
) -> Result<ReportInput<'a>> {
    let mut statuses = BTreeMap::new();
    for name in &run.thresholds_checked {
        statuses.insert(name.clone(), Status::Ok);
    }
    for f in &run.findings {
        if let Some(status) = crate::findings::breach_status(f) {
            statuses.insert(f.subject.clone(), status);
        }
    }
    let history_series = match history {
        Some(h) => {
            let subject = scalewall_history::subject_of(run);
            let mut series = Vec::new();
            for m in metrics.iter().filter(|m| {
                m.name.ends_with(".rps") && !m.name.contains(".c")
                    || m.name.ends_with(".max_rps")
                    || m.name.ends_with(".p99_ms") && !m.name.contains(".c")
            }) {
                series.push((m.name.clone(), h.series(&subject, &m.name, &run.id, 20)?));
            }
            series
        }
        None => Vec::new(),
    };
    let (previous, baseline, trends) = match history {
        Some(h) => {
            let subject = scalewall_history::subject_of(run);
            let gated = |id: String| -> Result<Changes> {
                gate_by_noise(h, &subject, changes_against(h, &id, metrics)?)
            };
            let previous = h.previous_of(&run.id)?.map(gated).transpose()?;
            let baseline = h
                .baseline(&subject)?
                .filter(|id| *id != run.id)
                .map(gated)
                .transpose()?;
            (previous, baseline, trends(h, run, metrics)?)
        }
        None => (None, None, Vec::new()),
    };
    let health_text = run
        .system_health
        .as_ref()
        .map(scalewall_report::probe::probe_text);
    Ok(ReportInput {
        run,
        metrics,
        statuses,
        previous,
        baseline,
        trends,
        sweeps: sweep_sections(run),
        health_text,
        artifacts: run.artifacts.clone(),
        history_series,
        plan: run.plan.as_ref().map(PlanSection::of),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalewall_stats::compare::Better;

    fn metric(name: &str, value: f64, samples: usize) -> Metric {
        Metric {
            name: name.into(),
            value,
            unit: "ops/s",
            better: Better::Higher,
            // A spread of ±1 % around the value, as a steady step gives.
            samples: (0..samples)
                .map(|k| value * (0.99 + 0.02 * k as f64 / samples.max(1) as f64))
                .collect(),
            gating: true,
            complete: true,
        }
    }

    fn run(id: &str, day: u32) -> Run {
        Run {
            id: id.into(),
            started_at: format!("2026-11-{day:02}T00:00:00Z"),
            subject: Some("api".into()),
            ..Run::default()
        }
    }

    /// Issue 29, item 8: a change between two runs counts only past the
    /// subject's run-to-run noise. Seven runs around 1,000 ops/s (±6 %,
    /// robust σ 5.9 %): an 8 % move that the per-second samples call
    /// significant is within that noise, a 30 % one is past it; with two
    /// runs the noise is not
    /// known, and `compare` says so instead of "improved".
    #[test]
    fn a_change_between_two_runs_is_judged_against_the_noise_between_runs() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(&dir.path().join("history.db")).unwrap();
        let earlier = [1000.0, 1060.0, 950.0, 1040.0, 960.0, 1050.0, 1000.0];
        for (k, rps) in earlier.into_iter().enumerate() {
            let r = run(&format!("r{k}"), k as u32 + 1);
            h.store(&r, &stored_metrics(&[metric("api.rps", rps, 10)]))
                .unwrap();
        }
        let judged = |rps: f64| {
            let changes = changes_against(&h, "r6", &[metric("api.rps", rps, 10)]).unwrap();
            assert_eq!(changes.comparisons[0].change, Change::Improved, "{rps}");
            gate_by_noise(&h, "api", changes).unwrap().comparisons[0].clone()
        };
        let small = judged(1080.0);
        assert_eq!(small.change, Change::WithinNoise, "{small:?}");
        assert!(
            small
                .noise
                .as_deref()
                .unwrap()
                .ends_with("within the run-to-run noise"),
            "{small:?}"
        );
        let large = judged(1300.0);
        assert_eq!(large.change, Change::Improved, "{large:?}");
        assert!(large
            .noise
            .as_deref()
            .unwrap()
            .contains("past the run-to-run noise"));
        // Two runs: the noise between runs is not known.
        let changes = changes_against(&h, "r1", &[metric("api.rps", 1150.0, 10)]).unwrap();
        let unknown = gate_by_noise(&h, "api", changes).unwrap().comparisons[0].clone();
        assert_eq!(unknown.change, Change::NoiseUnknown);
        assert_eq!(
            unknown.noise.as_deref(),
            Some("run-to-run noise not known yet: 2 earlier runs, 5 needed")
        );
    }

    /// Issue 21, item 4: a third run's summary listed 13 trend bullets from
    /// 1-second sweep steps. A step of one second has one per-second sample:
    /// too few to test a change, so no trend is claimed, not even "stable";
    /// a 10-second step falling 20 % a run is a trend.
    #[test]
    fn steps_too_short_to_measure_make_no_trend() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(&dir.path().join("history.db")).unwrap();
        let mut last = Vec::new();
        for (k, rps) in [1000.0, 800.0, 640.0].into_iter().enumerate() {
            let metrics = vec![
                metric("api.rps", rps, 10),
                metric("api-scaling.c8.rps", rps, 1),
                metric("api-scaling.c16.rps", rps, 4),
            ];
            let r = run(&format!("r{k}"), k as u32 + 1);
            h.store(&r, &stored_metrics(&metrics)).unwrap();
            last = metrics;
        }
        let third = h.load("r2").unwrap();
        let trends = trends(&h, &third, &last).unwrap();
        assert_eq!(trends, vec![("api.rps".to_string(), Trend::Degrading, 3)]);

        // Two runs make one change, not a trend.
        let second = h.load("r1").unwrap();
        assert_eq!(trends_of(&h, &second), Vec::new());
    }

    fn trends_of(h: &History, run: &Run) -> Vec<(String, Trend, usize)> {
        trends(h, run, &[metric("api.rps", 800.0, 10)]).unwrap()
    }

    fn sweep_run(id: &str, day: u32, kappa: f64, wobble: f64) -> Run {
        let steps = [1u32, 2, 4, 8, 16, 32]
            .iter()
            .map(|&n| {
                let x = scalewall_stats::usl::usl(0.02, kappa, 500.0, f64::from(n)) * wobble;
                let mut latency = scalewall_model::LatencyHistogram::new();
                latency.record((f64::from(n) / x * 1e6) as u64);
                scalewall_model::Step {
                    concurrency: n,
                    completed: true,
                    achieved_rate_per_s: x,
                    latency_us: latency,
                    outcomes: scalewall_model::OutcomeCounts {
                        responses: 1000,
                        ..Default::default()
                    },
                    ..Default::default()
                }
            })
            .collect();
        Run {
            scenarios: vec![scalewall_model::Scenario {
                name: "api-scaling".into(),
                protocol: "http1".into(),
                steps,
                ..Default::default()
            }],
            ..run(id, day)
        }
    }

    /// Issue 14: a sweep's capacity peak that drops beyond the run-to-run
    /// noise is a capacity_drift finding; one within it is not.
    #[test]
    fn a_capacity_peak_that_drops_past_the_noise_is_a_drift_finding() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(&dir.path().join("history.db")).unwrap();
        // Eight runs of κ = 0.001 with ±2 % run-to-run wobble.
        for (k, wobble) in [1.0, 1.02, 0.98, 1.01, 0.99, 1.0, 1.02, 0.985]
            .into_iter()
            .enumerate()
        {
            let r = sweep_run(&format!("r{k}"), k as u32 + 1, 0.001, wobble);
            h.store(&r, &[]).unwrap();
        }
        // Within the noise: nothing.
        let same = sweep_run("r8", 20, 0.001, 0.99);
        h.store(&same, &[]).unwrap();
        assert_eq!(capacity_drift_findings(&h, &same).unwrap(), vec![]);
        // κ 0.001 → 0.004: N* from 31 to 16, X(N*) down by a third.
        let drifted = sweep_run("r9", 21, 0.004, 1.0);
        h.store(&drifted, &[]).unwrap();
        let findings = capacity_drift_findings(&h, &drifted).unwrap();
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].subject, "capacity_drift.api-scaling");
        assert_eq!(findings[0].severity, Severity::Medium);
        assert!(
            findings[0].evidence.starts_with("X(N*) 6,")
                && findings[0].evidence.contains("req/s (-"),
            "{}",
            findings[0].evidence
        );
    }
}
