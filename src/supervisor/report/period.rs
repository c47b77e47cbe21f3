//! Report periods in Stockholm local time: what a query asks for and which
//! period a moment falls in.

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Europe::Stockholm;
use serde::{Deserialize, Serialize};

/// Longest range one report covers (a year and a bit).
pub const MAX_DAYS: i64 = 400;

/// How the figures are grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    /// ISO weeks, Monday first.
    Week,
    Month,
}

impl Period {
    pub fn parse(text: &str) -> Result<Period, String> {
        match text {
            "day" => Ok(Period::Day),
            "week" => Ok(Period::Week),
            "month" => Ok(Period::Month),
            other => Err(format!(
                "period {:?} is not known: use day, week or month",
                other.chars().take(20).collect::<String>()
            )),
        }
    }

    /// The first local day of the period `day` is in.
    pub fn start_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => day,
            Period::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Period::Month => day.with_day(1).unwrap_or(day),
        }
    }
}

/// A checked report range: local days `from..=to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Range {
    /// Parses `YYYY-MM-DD` dates; `to` is included and not before `from`.
    pub fn parse(from: &str, to: &str) -> Result<Range, String> {
        let date = |name: &str, text: &str| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                format!(
                    "{name} {:?} is not a date: use YYYY-MM-DD, e.g. 2026-11-01",
                    text.chars().take(20).collect::<String>()
                )
            })
        };
        let (from, to) = (date("from", from)?, date("to", to)?);
        if to < from {
            return Err(format!("to {to} is before from {from}"));
        }
        if (to - from).num_days() >= MAX_DAYS {
            return Err(format!(
                "the range is longer than {MAX_DAYS} days: ask for a shorter one"
            ));
        }
        if from.year() < 1971 || to.year() > 9998 {
            return Err("dates must be between 1971 and 9998".to_string());
        }
        Ok(Range { from, to })
    }

    /// `[start, end)` in UTC: local midnight of `from` to local midnight after `to`.
    pub fn utc(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (midnight(self.from), midnight(self.to + Days::new(1)))
    }

    /// Days in the range.
    pub fn days(&self) -> u32 {
        u32::try_from((self.to - self.from).num_days() + 1).unwrap_or(1)
    }
}

/// Local midnight of `day` (the first moment of the day if midnight is skipped).
fn midnight(day: NaiveDate) -> DateTime<Utc> {
    let local = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    Stockholm
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&local))
}

/// The local date and hour of `t`.
pub fn local_day_hour(t: DateTime<Utc>) -> (NaiveDate, usize) {
    let local = t.with_timezone(&Stockholm);
    (local.date_naive(), local.hour() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        // 2026-11-05 is a Thursday.
        assert_eq!(Period::Week.start_of(d(2026, 11, 5)), d(2026, 11, 2));
        assert_eq!(Period::Month.start_of(d(2026, 11, 5)), d(2026, 11, 1));
        assert_eq!(Period::Day.start_of(d(2026, 11, 5)), d(2026, 11, 5));
    }

    #[test]
    fn range_is_local_midnight_to_midnight() {
        let r = Range::parse("2026-11-01", "2026-11-30").unwrap();
        let (a, b) = r.utc();
        assert_eq!(a, Utc.with_ymd_and_hms(2026, 10, 31, 23, 0, 0).unwrap());
        assert_eq!(b, Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap());
        assert_eq!(r.days(), 30);
    }

    #[test]
    fn bad_ranges_say_what_to_send() {
        assert!(Range::parse("2026-11-31", "2026-12-01")
            .unwrap_err()
            .contains("YYYY-MM-DD"));
        assert!(Range::parse("2026-12-02", "2026-12-01")
            .unwrap_err()
            .contains("before"));
        assert!(Range::parse("2024-01-01", "2026-01-01")
            .unwrap_err()
            .contains("longer"));
        assert!(Period::parse("year")
            .unwrap_err()
            .contains("day, week or month"));
    }
}
