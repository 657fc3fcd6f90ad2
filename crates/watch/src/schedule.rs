//! When a watched job runs next (pure): every interval from its last
//! start, moved by a random share of ± its jitter so jobs on one interval
//! spread out; slots that passed while a run was still going are skipped
//! (and counted), never run late in a burst.

use std::time::{Duration, SystemTime};

/// A job's schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The interval between starts (for a cron schedule: what jitter is a
    /// share of).
    pub every: Duration,
    /// ± this share of the interval (0.1 = ±10 %).
    pub jitter: f64,
    /// Fire times from a cron expression instead of a fixed interval.
    pub cron: Option<scalewall_job::cron::Cron>,
}

/// The next start and the slots skipped to reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    /// When the job runs next.
    pub at: SystemTime,
    /// Due starts that passed while the previous run was going.
    pub skipped: u64,
}

impl Schedule {
    /// The offset of one start: `unit` in [0, 1) maps to −jitter … +jitter
    /// of the interval.
    fn offset(&self, unit: f64) -> (Duration, bool) {
        let share = (2.0 * unit.clamp(0.0, 1.0) - 1.0) * self.jitter;
        (self.every.mul_f64(share.abs()), share < 0.0)
    }

    fn shifted(&self, at: SystemTime, unit: f64) -> SystemTime {
        match self.offset(unit) {
            (d, true) => at.checked_sub(d).unwrap_or(at),
            (d, false) => at + d,
        }
    }

    /// The first start of a daemon at `now`: one interval after the job's
    /// last stored start (a restart resumes the schedule), or, with no
    /// history, within the first jitter span so jobs do not all fire at once.
    pub fn first(&self, now: SystemTime, last_start: Option<SystemTime>, unit: f64) -> SystemTime {
        if let Some(cron) = &self.cron {
            let fire = cron.next_after(now).unwrap_or(now + self.every);
            return self.shifted(fire, unit).max(now);
        }
        match last_start {
            Some(last) => self.shifted(last + self.every, unit).max(now),
            None => now + self.every.mul_f64(self.jitter * unit.clamp(0.0, 1.0)),
        }
    }

    /// The start after a run that started at `started` and ended at
    /// `ended`: the first interval slot after the end, jittered.
    pub fn after(&self, started: SystemTime, ended: SystemTime, unit: f64) -> Next {
        if let Some(cron) = &self.cron {
            // Fires that passed while the run went are skipped.
            let mut skipped = 0;
            let mut fire = cron.next_after(started);
            while let Some(at) = fire.filter(|at| *at <= ended) {
                skipped += 1;
                fire = cron.next_after(at);
            }
            let at = fire.unwrap_or(ended + self.every);
            return Next {
                at: self.shifted(at, unit).max(ended),
                skipped,
            };
        }
        let every = self.every.as_secs_f64().max(1e-3);
        let ran = ended
            .duration_since(started)
            .unwrap_or_default()
            .as_secs_f64();
        // Slots at started + k·every for k ≥ 1 that the run overlapped.
        let skipped = (ran / every).floor() as u64;
        let slot = started + self.every.mul_f64((skipped + 1) as f64);
        Next {
            at: self.shifted(slot, unit).max(ended),
            skipped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn starts_stay_within_the_jitter_and_resume_from_history() {
        let s = Schedule {
            every: Duration::from_secs(100),
            jitter: 0.1,
            cron: None,
        };
        // unit 0 → −10 %, 0.5 → on time, 1 → +10 %.
        assert_eq!(s.after(t(1000), t(1010), 0.0).at, t(1090));
        assert_eq!(s.after(t(1000), t(1010), 0.5).at, t(1100));
        assert_eq!(s.after(t(1000), t(1010), 1.0).at, t(1110));
        // A restart: one interval after the last stored start, or now if
        // that passed.
        assert_eq!(s.first(t(1050), Some(t(1000)), 0.5), t(1100));
        assert_eq!(s.first(t(5000), Some(t(1000)), 0.5), t(5000));
        // No history: within the first jitter span (≤ 10 s).
        assert_eq!(s.first(t(0), None, 1.0), t(10));
    }

    #[test]
    fn slots_passed_during_a_long_run_are_skipped_not_run_in_a_burst() {
        let s = Schedule {
            every: Duration::from_secs(10),
            jitter: 0.0,
            cron: None,
        };
        let next = s.after(t(0), t(25), 0.5);
        assert_eq!(
            next,
            Next {
                at: t(30),
                skipped: 2
            }
        );
        let next = s.after(t(0), t(3), 0.5);
        assert_eq!(
            next,
            Next {
                at: t(10),
                skipped: 0
            }
        );
    }

    #[test]
    fn a_cron_schedule_fires_on_its_minutes_and_skips_the_ones_a_run_overran() {
        let s = Schedule {
            every: Duration::from_secs(900),
            jitter: 0.0,
            cron: Some("*/15 * * * *".parse().unwrap()),
        };
        let at = |m: u64| t(1_796_300_000 / 900 * 900 + m * 60);
        assert_eq!(s.first(at(1), None, 0.5), at(15));
        // A run from :15 to :47 overran the :30 and :45 fires.
        assert_eq!(
            s.after(at(15), at(47), 0.5),
            Next {
                at: at(60),
                skipped: 2
            }
        );
    }
}
