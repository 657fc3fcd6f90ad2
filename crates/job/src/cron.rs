//! Five-field cron expressions (minute hour day-of-month month day-of-week,
//! in UTC), as `cron = "*/15 * * * *"` in a `[[job]]`: `*`, numbers,
//! ranges `a-b`, lists `a,b`, steps `*/n` and `a-b/n`; day of week 0–7
//! (0 and 7 are Sunday). As in Vixie cron, when both day fields are
//! restricted a day matching either one fires. Pure.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    any_day: bool,
    any_weekday: bool,
}

fn field(text: &str, low: u32, high: u32, what: &str) -> Result<(Vec<bool>, bool), String> {
    let mut set = vec![false; high as usize + 1];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("{what} step '{s}' is not a positive number"))?,
            ),
            None => (part, 1),
        };
        let number = |t: &str| {
            t.parse::<u32>()
                .ok()
                .filter(|v| (low..=high).contains(v))
                .ok_or_else(|| format!("{what} '{t}' is not a number in {low}–{high}"))
        };
        let (from, to) = match range {
            "*" => (low, high),
            r => match r.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None if step > 1 => (number(r)?, high),
                None => (number(r)?, number(r)?),
            },
        };
        if from > to {
            return Err(format!("{what} range '{range}' runs backwards"));
        }
        let mut v = from;
        while v <= to {
            set[v as usize] = true;
            v += step;
        }
    }
    Ok((set, text == "*"))
}

impl std::str::FromStr for Cron {
    type Err = String;

    fn from_str(text: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields[..] else {
            return Err(format!(
                "cron '{text}': expected 5 fields (minute hour day-of-month month day-of-week)"
            ));
        };
        let (minutes, _) = field(minute, 0, 59, "minute")?;
        let (hours, _) = field(hour, 0, 23, "hour")?;
        let (days, any_day) = field(day, 1, 31, "day of month")?;
        let (months, _) = field(month, 1, 12, "month")?;
        let (mut weekdays, any_weekday) = field(weekday, 0, 7, "day of week")?;
        if weekdays[7] {
            weekdays[0] = true;
        }
        Ok(Cron {
            minutes,
            hours,
            days,
            months,
            weekdays,
            any_day,
            any_weekday,
        })
    }
}

/// Civil date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

impl Cron {
    fn day_matches(&self, days: i64) -> bool {
        let (_, month, day) = civil(days);
        // 1970-01-01 was a Thursday (4).
        let weekday = (days + 4).rem_euclid(7) as usize;
        if !self.months[month as usize] {
            return false;
        }
        let by_day = self.days[day as usize];
        let by_weekday = self.weekdays[weekday];
        match (self.any_day, self.any_weekday) {
            (true, true) => true,
            (false, true) => by_day,
            (true, false) => by_weekday,
            (false, false) => by_day || by_weekday,
        }
    }

    /// The first fire time strictly after `after` (whole minutes, UTC),
    /// within about 4 years; `None` for an expression that never fires
    /// (e.g. 31 February).
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        let secs = after.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64;
        let mut minute = secs / 60 + 1;
        let limit = minute + 4 * 366 * 24 * 60;
        while minute < limit {
            let days = minute.div_euclid(24 * 60);
            if !self.day_matches(days) {
                minute = (days + 1) * 24 * 60;
                continue;
            }
            let in_day = minute.rem_euclid(24 * 60);
            let (h, m) = ((in_day / 60) as usize, (in_day % 60) as usize);
            if !self.hours[h] {
                minute = minute - m as i64 + 60;
                continue;
            }
            if self.minutes[m] {
                return Some(UNIX_EPOCH + Duration::from_secs(minute as u64 * 60));
            }
            minute += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    fn next(expr: &str, after: &str) -> String {
        let cron: Cron = expr.parse().unwrap();
        humantime::format_rfc3339_seconds(cron.next_after(at(after)).unwrap()).to_string()
    }

    #[test]
    fn expressions_fire_when_cron_would() {
        assert_eq!(
            next("*/15 * * * *", "2026-12-03T12:07:30Z"),
            "2026-12-03T12:15:00Z"
        );
        assert_eq!(
            next("*/15 * * * *", "2026-12-03T12:15:00Z"),
            "2026-12-03T12:30:00Z"
        );
        assert_eq!(
            next("0 3 * * *", "2026-12-03T12:00:00Z"),
            "2026-12-04T03:00:00Z"
        );
        // 2026-12-07 is a Monday; 1-5 is Monday to Friday.
        assert_eq!(
            next("30 9 * * 1-5", "2026-12-05T10:00:00Z"),
            "2026-12-07T09:30:00Z"
        );
        assert_eq!(
            next("0 0 1 */3 *", "2026-12-03T00:00:00Z"),
            "2027-01-01T00:00:00Z"
        );
        assert_eq!(
            next("0 12 29 2 *", "2026-03-01T00:00:00Z"),
            "2028-02-29T12:00:00Z"
        );
        // Both day fields restricted: either fires (the 1st, or a Sunday).
        assert_eq!(
            next("0 0 1 * 0", "2026-12-02T00:00:00Z"),
            "2026-12-06T00:00:00Z"
        );
        assert_eq!(
            next("0 0 * * 7", "2026-12-02T00:00:00Z"),
            "2026-12-06T00:00:00Z"
        );
        let never: Cron = "0 0 31 2 *".parse().unwrap();
        assert_eq!(never.next_after(at("2026-01-01T00:00:00Z")), None);
        for bad in [
            "* * * *",
            "60 * * * *",
            "*/0 * * * *",
            "5-1 * * * *",
            "x * * * *",
        ] {
            assert!(bad.parse::<Cron>().is_err(), "{bad}");
        }
    }
}
