//! Tenant calendars: which local day an instant falls on, and when a local day's run happens.
//!
//! Days are calendar days in the tenant's IANA zone (SPEC §3). Counting is done on local
//! *dates*, never by dividing durations by 24 hours, so a daylight-saving change (a 23- or
//! 25-hour day) never shifts a count.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

pub const DEFAULT_EVALUATION_HOUR: u8 = 6;

/// The years a date or an instant RuleKit reads may fall in, everywhere (events, automations,
/// the API, the command line): billing data's years with room to spare. A date outside them is
/// a typo, and date arithmetic near the calendar's ends is not worth the risk.
pub const YEARS: std::ops::RangeInclusive<i32> = 1970..=2200;

/// [`parse_date`]'s rule, in words.
pub const DATE_RULE: &str = "must be a date, YYYY-MM-DD, from 1970 to 2200";

/// A `YYYY-MM-DD` date in [`YEARS`].
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    use chrono::Datelike;
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .filter(|d| YEARS.contains(&d.year()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantCalendar {
    pub timezone: Tz,
    /// Local hour (0-23) of the daily run.
    pub evaluation_hour: u8,
}

impl Default for TenantCalendar {
    fn default() -> Self {
        Self {
            timezone: Tz::UTC,
            evaluation_hour: DEFAULT_EVALUATION_HOUR,
        }
    }
}

impl TenantCalendar {
    pub fn new(timezone: Tz, evaluation_hour: u8) -> Self {
        Self {
            timezone,
            evaluation_hour,
        }
    }

    /// The tenant's local date at instant `t`.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.timezone).date_naive()
    }

    /// The instant of the daily run for local date `d`: `evaluation_hour`:00 local time.
    ///
    /// When that local time does not exist (clocks jump forward over it) the run happens at the
    /// first local time after the gap; when it exists twice (clocks fall back) at the first.
    pub fn run_instant(&self, d: NaiveDate) -> DateTime<Utc> {
        let time = NaiveTime::from_hms_opt(u32::from(self.evaluation_hour.min(23)), 0, 0)
            .unwrap_or(NaiveTime::MIN);
        self.first_instant_at_or_after(d, time)
    }

    /// The date a step at day `day` of a clock that started at `start` (local date `since`)
    /// is first due (SPEC §8.1): the run of `since + day`, except that a day-0 step of a clock
    /// that started at or after its day's run is first due at the next day's run.
    pub fn first_due(&self, day: u16, start: DateTime<Utc>, since: NaiveDate) -> NaiveDate {
        let due = since
            .checked_add_days(chrono::Days::new(u64::from(day)))
            .unwrap_or(NaiveDate::MAX);
        if day == 0 && start >= self.run_instant(since) {
            due.succ_opt().unwrap_or(due)
        } else {
            due
        }
    }

    /// The instant local date `d` begins (its first existing local time).
    pub fn start_of_day(&self, d: NaiveDate) -> DateTime<Utc> {
        self.first_instant_at_or_after(d, NaiveTime::MIN)
    }

    fn first_instant_at_or_after(&self, d: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let mut local = d.and_time(time);
        // Every zone's gaps are whole quarter hours and last at most a few hours, so stepping
        // by 15 minutes lands exactly on the end of the gap.
        for _ in 0..=4 * 24 {
            match self.timezone.from_local_datetime(&local) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                    return t.with_timezone(&Utc);
                }
                LocalResult::None => local += Duration::minutes(15),
            }
        }
        // Unreachable for real zones; fall back to reading the local time as UTC.
        Utc.from_utc_datetime(&d.and_time(time))
    }
}

/// Whole calendar days from `from` to `to` (negative when `to` is earlier).
pub fn days_between(from: NaiveDate, to: NaiveDate) -> i64 {
    (to - from).num_days()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn when_the_run_hour_falls_in_a_spring_forward_gap_should_run_when_the_gap_ends() {
        // America/New_York, 2026-03-08: 02:00 EST jumps to 03:00 EDT.
        let cal = TenantCalendar::new(chrono_tz::America::New_York, 2);
        assert_eq!(
            cal.run_instant(date("2026-03-08")),
            at("2026-03-08T03:00:00-04:00")
        );
    }

    #[test]
    fn when_the_run_hour_exists_twice_should_run_at_the_first() {
        // America/New_York, 2026-11-01: 01:00 happens twice; the first is EDT.
        let cal = TenantCalendar::new(chrono_tz::America::New_York, 1);
        assert_eq!(
            cal.run_instant(date("2026-11-01")),
            at("2026-11-01T01:00:00-04:00")
        );
    }

    #[test]
    fn when_the_zone_is_ahead_of_utc_should_date_instants_by_local_time() {
        let cal = TenantCalendar::new(chrono_tz::Pacific::Auckland, 6);
        // 2026-11-14T20:00Z is 09:00 on the 15th in Auckland (NZDT, +13).
        assert_eq!(
            cal.local_date(at("2026-11-14T20:00:00Z")),
            date("2026-11-15")
        );
        assert_eq!(
            cal.run_instant(date("2026-11-15")),
            at("2026-11-14T17:00:00Z")
        );
    }
}
