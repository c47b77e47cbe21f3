//! The arrival model: expected cases per level for each coming hour.
//!
//! Calls and digital contacts feed one queue and follow the clock: quiet
//! nights, a morning peak, and weekdays unlike weekends. A flat rate from the
//! last two hours (what the estimate used before) is hours wrong for a level-4
//! case registered at 08:00, whose wait is set by the peak still to come. So
//! the model learns the mean arrivals per (weekday, local hour, level) over
//! past weeks ([`ArrivalProfile`]), and scales the near hours by how the last
//! hours compared with the profile ([`Correction`]): a bounded ratio that
//! fades out, so a burst moves the next hours and not next week.
//!
//! Pure: the store supplies hourly counts, the caller passes the time.

use chrono::{DateTime, Datelike, DurationRound, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;

/// Slots per week and level: `[weekday from Monday][local hour][level - 1]`.
type WeekSlots = [[[f64; 5]; 24]; 7];

/// Cases registered in one UTC hour at one level (what the store counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HourCount {
    /// Start of the UTC hour.
    pub hour: DateTime<Utc>,
    /// Level 1-5.
    pub level: u8,
    pub count: u32,
}

/// Mean arrivals per weekday, local hour and level, learnt from past weeks.
#[derive(Clone, Debug, PartialEq)]
pub struct ArrivalProfile {
    tz: Tz,
    mean: WeekSlots,
    /// Hours of history behind the means (0: nothing learnt).
    hours_seen: u32,
}

/// The start of the hour holding `at`.
pub fn hour_start(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

impl ArrivalProfile {
    /// Learns from `counts` of the hours in `[from, until)` (whole hours; a
    /// slot's mean divides by how often that weekday-hour occurs from the
    /// first case on, so hours without cases count as zero).
    pub fn learn(
        tz: Tz,
        counts: &[HourCount],
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> ArrivalProfile {
        let until = hour_start(until);
        // The history starts at the first case: a service two weeks old is
        // not averaged over four weeks, and an empty one has learnt nothing.
        let first = counts
            .iter()
            .filter(|c| (1..=5).contains(&c.level) && c.hour >= from && c.hour < until)
            .map(|c| hour_start(c.hour))
            .min();
        let from = first.map_or(until, |f| f.max(hour_start(from)));
        let mut seen = [[0u32; 24]; 7];
        let mut hours_seen = 0;
        let mut at = from;
        while at < until {
            let (d, h) = slot(tz, at);
            seen[d][h] += 1;
            hours_seen += 1;
            at += TimeDelta::hours(1);
        }
        let mut sum: WeekSlots = [[[0.0; 5]; 24]; 7];
        for c in counts {
            let level = usize::from(c.level);
            if !(1..=5).contains(&level) || c.hour < from || c.hour >= until {
                continue;
            }
            let (d, h) = slot(tz, hour_start(c.hour));
            sum[d][h][level - 1] += f64::from(c.count);
        }
        for (d, hours) in sum.iter_mut().enumerate() {
            for (h, levels) in hours.iter_mut().enumerate() {
                let n = f64::from(seen[d][h].max(1));
                for x in levels.iter_mut() {
                    *x /= n;
                }
            }
        }
        ArrivalProfile {
            tz,
            mean: sum,
            hours_seen,
        }
    }

    /// Whether there is any history (else callers keep the flat recent rate).
    pub fn is_learnt(&self) -> bool {
        self.hours_seen >= 24
    }

    /// Expected cases per level in the hour holding `at` (a rate per hour).
    pub fn rate_at(&self, at: DateTime<Utc>) -> [f64; 5] {
        let (d, h) = slot(self.tz, hour_start(at));
        self.mean[d][h]
    }

    /// Expected cases, all levels, in `[from, to)` (partial hours pro rata).
    pub fn expected_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
        let mut total = 0.0;
        let mut at = from;
        while at < to {
            let end = (hour_start(at) + TimeDelta::hours(1)).min(to);
            let part = (end - at).num_seconds() as f64 / 3600.0;
            total += self.rate_at(at).iter().sum::<f64>() * part;
            at = end;
        }
        total
    }

    /// The forecast for `hours` hours from `now`, corrected by `recent` cases
    /// registered in the `window` before `now`.
    pub fn corrected(
        &self,
        now: DateTime<Utc>,
        recent: u32,
        window: TimeDelta,
        hours: usize,
    ) -> ArrivalForecast {
        let correction = Correction::from_recent(recent, self.expected_between(now - window, now));
        self.forecast(now, hours, correction)
    }

    /// The expected arrivals for `hours` hours from the hour holding `now`,
    /// the near ones scaled by `correction`.
    pub fn forecast(
        &self,
        now: DateTime<Utc>,
        hours: usize,
        correction: Correction,
    ) -> ArrivalForecast {
        let start = hour_start(now);
        let per_hour = (0..hours)
            .map(|i| {
                let at = start + TimeDelta::hours(i64::try_from(i).unwrap_or(i64::MAX));
                let factor = correction.factor_after(at - start);
                self.rate_at(at).map(|r| r * factor)
            })
            .collect();
        ArrivalForecast { start, per_hour }
    }
}

fn slot(tz: Tz, at: DateTime<Utc>) -> (usize, usize) {
    let local = at.with_timezone(&tz);
    (
        local.weekday().num_days_from_monday() as usize,
        local.hour() as usize,
    )
}

/// How much busier the last hours were than the profile expected.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Correction {
    ratio: f64,
}

impl Correction {
    /// Never scales the profile by more than this (or less than its inverse):
    /// a short burst or lull is evidence, not a new normal.
    pub const MAX_RATIO: f64 = 2.0;
    /// Pseudo-cases added to both sides, so a quiet night's 1 case against
    /// 0.5 expected is not read as "twice as busy".
    const PRIOR: f64 = 10.0;
    /// The correction fades to nothing over this many hours.
    const FADE_HOURS: f64 = 6.0;

    /// No correction.
    pub const NONE: Correction = Correction { ratio: 1.0 };

    /// `actual` cases registered in a recent window where the profile
    /// expected `expected`.
    pub fn from_recent(actual: u32, expected: f64) -> Correction {
        let expected = if expected.is_finite() {
            expected.max(0.0)
        } else {
            0.0
        };
        let ratio = (f64::from(actual) + Self::PRIOR) / (expected + Self::PRIOR);
        Correction {
            ratio: ratio.clamp(1.0 / Self::MAX_RATIO, Self::MAX_RATIO),
        }
    }

    /// The ratio recent/expected, bounded.
    pub fn ratio(self) -> f64 {
        self.ratio
    }

    /// The factor for an hour starting `ahead` from now: the full ratio now,
    /// fading linearly to 1.
    pub fn factor_after(self, ahead: TimeDelta) -> f64 {
        let hours = ahead.num_seconds() as f64 / 3600.0;
        let weight = (1.0 - hours / Self::FADE_HOURS).clamp(0.0, 1.0);
        1.0 + (self.ratio - 1.0) * weight
    }
}

/// Expected cases per level for consecutive hours from `start` (an hour start).
#[derive(Clone, Debug, PartialEq)]
pub struct ArrivalForecast {
    start: DateTime<Utc>,
    per_hour: Vec<[f64; 5]>,
}

impl ArrivalForecast {
    /// A forecast from explicit hourly rates (tests, simulations).
    pub fn new(start: DateTime<Utc>, per_hour: Vec<[f64; 5]>) -> ArrivalForecast {
        ArrivalForecast {
            start: hour_start(start),
            per_hour,
        }
    }

    /// The first hour covered.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// The hours covered, each with its expected cases per level.
    pub fn hours(&self) -> impl Iterator<Item = (DateTime<Utc>, [f64; 5])> + '_ {
        self.per_hour.iter().enumerate().map(|(i, r)| {
            let i = i64::try_from(i).unwrap_or(i64::MAX);
            (self.start + TimeDelta::hours(i), *r)
        })
    }

    /// Rate per hour of `level` (1-5) at `at`; `None` outside the forecast.
    pub fn rate(&self, level: u8, at: DateTime<Utc>) -> Option<f64> {
        if at < self.start {
            return None;
        }
        let i = usize::try_from((at - self.start).num_hours()).ok()?;
        let r = self
            .per_hour
            .get(i)?
            .get(usize::from(level).checked_sub(1)?)?;
        Some(*r)
    }

    /// The end of the last hour covered.
    pub fn end(&self) -> DateTime<Utc> {
        let n = i64::try_from(self.per_hour.len()).unwrap_or(i64::MAX);
        self.start + TimeDelta::hours(n)
    }
}

/// Deterministic arrival times of a piecewise-constant rate: one arrival each
/// time the expected count since `from` reaches a whole number. `rate(at)`
/// gives cases per hour, constant within each hour; stops at `until` or after
/// `max` arrivals. A flat rate gives the evenly spaced arrivals of the old model.
pub fn expected_times(
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    max: usize,
    rate: impl Fn(DateTime<Utc>) -> f64,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut owed = 1.0; // expected cases still to come before the next arrival
    let mut at = from;
    while at < until && out.len() < max {
        let end = (hour_start(at) + TimeDelta::hours(1)).min(until);
        let r = rate(at);
        if !(r.is_finite() && r > 0.0) {
            at = end;
            continue;
        }
        let to_end = (end - at).num_milliseconds() as f64 / 3_600_000.0;
        if owed <= r * to_end {
            let ms = (owed / r * 3_600_000.0).ceil().max(1.0) as i64;
            at += TimeDelta::milliseconds(ms);
            out.push(at);
            owed = 1.0;
        } else {
            owed -= r * to_end;
            at = end;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const TZ: Tz = chrono_tz::Europe::Stockholm;

    /// Monday 2025-03-03 00:00 local (CET, UTC+1).
    fn monday() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 2, 23, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    fn h(n: i64) -> TimeDelta {
        TimeDelta::hours(n)
    }

    /// `weeks` weeks before `monday()`: 10 level-4 cases each weekday 08-09
    /// local, 2 each Sunday 08-09.
    fn history(weeks: i64) -> (Vec<HourCount>, DateTime<Utc>) {
        let from = monday() - TimeDelta::weeks(weeks);
        let mut counts = Vec::new();
        for day in 0..weeks * 7 {
            let hour = from + TimeDelta::days(day) + h(8);
            let count = if day % 7 == 6 { 2 } else { 10 };
            counts.push(HourCount {
                hour,
                level: 4,
                count,
            });
        }
        (counts, from)
    }

    #[test]
    fn the_profile_learns_weekday_and_local_hour_means() {
        let (counts, from) = history(4);
        let p = ArrivalProfile::learn(TZ, &counts, from, monday());
        assert!(p.is_learnt());
        assert_eq!(p.rate_at(monday() + h(8))[3], 10.0, "Monday 08 local");
        assert_eq!(p.rate_at(monday() + h(8) + TimeDelta::minutes(59))[3], 10.0);
        assert_eq!(p.rate_at(monday() + h(9))[3], 0.0, "Monday 09: none");
        assert_eq!(p.rate_at(monday() + h(7))[3], 0.0, "Monday 07: none");
        assert_eq!(p.rate_at(monday() + TimeDelta::days(6) + h(8))[3], 2.0);
        assert_eq!(p.rate_at(monday() + h(8))[0], 0.0, "other levels");
    }

    #[test]
    fn a_slot_averages_over_the_weeks_it_occurred_even_without_cases() {
        // Only the latest Monday 08 had cases: the mean over 4 Mondays is a quarter.
        let from = monday() - TimeDelta::weeks(4);
        let counts = [
            HourCount {
                hour: from,
                level: 5,
                count: 1,
            },
            HourCount {
                hour: monday() - TimeDelta::weeks(1) + h(8),
                level: 2,
                count: 8,
            },
        ];
        let p = ArrivalProfile::learn(TZ, &counts, from, monday());
        assert_eq!(p.rate_at(monday() + h(8))[1], 2.0);
        // Without the early case the history is one week: a mean of 8.
        let p = ArrivalProfile::learn(TZ, &counts[1..], from, monday());
        assert_eq!(p.rate_at(monday() + h(8))[1], 8.0);
    }

    #[test]
    fn counts_outside_the_span_or_levels_are_ignored() {
        let from = monday() - TimeDelta::weeks(1);
        let counts = [
            HourCount {
                hour: from - h(1),
                level: 2,
                count: 99,
            },
            HourCount {
                hour: from + h(1),
                level: 7,
                count: 99,
            },
        ];
        let p = ArrivalProfile::learn(TZ, &counts, from, monday());
        assert_eq!(p.expected_between(from, monday()), 0.0);
    }

    #[test]
    fn no_history_is_not_learnt() {
        let p = ArrivalProfile::learn(TZ, &[], monday(), monday() + h(3));
        assert!(!p.is_learnt());
    }

    #[test]
    fn expected_between_counts_partial_hours() {
        let (counts, from) = history(2);
        let p = ArrivalProfile::learn(TZ, &counts, from, monday());
        let half = monday() + h(8) + TimeDelta::minutes(30);
        assert!((p.expected_between(half, monday() + h(10)) - 5.0).abs() < 1e-9);
    }

    #[test]
    fn correction_is_bounded_damped_and_fades() {
        assert_eq!(Correction::from_recent(0, 0.0).ratio(), 1.0);
        // 1 case where 0.5 were expected is noise, not "twice as busy".
        assert!(Correction::from_recent(1, 0.5).ratio() < 1.1);
        assert_eq!(Correction::from_recent(1000, 10.0).ratio(), 2.0);
        assert_eq!(Correction::from_recent(0, 1000.0).ratio(), 0.5);
        assert_eq!(Correction::from_recent(5, f64::NAN).ratio(), 1.5);
        let c = Correction::from_recent(190, 90.0); // 200 / 100
        assert!((c.ratio() - 2.0).abs() < 1e-9);
        assert!((c.factor_after(h(0)) - 2.0).abs() < 1e-9);
        assert!((c.factor_after(h(3)) - 1.5).abs() < 1e-9);
        assert_eq!(c.factor_after(h(6)), 1.0);
        assert_eq!(c.factor_after(h(48)), 1.0);
    }

    #[test]
    fn the_forecast_follows_the_profile_with_the_correction_fading() {
        let (counts, from) = history(4);
        let p = ArrivalProfile::learn(TZ, &counts, from, monday());
        let now = monday() + h(8) + TimeDelta::minutes(10);
        let f = p.forecast(now, 48, Correction::from_recent(190, 90.0));
        assert_eq!(f.start(), monday() + h(8));
        assert_eq!(f.end(), monday() + h(56));
        assert_eq!(f.rate(4, now), Some(20.0), "ratio 2 in the first hour");
        assert_eq!(f.rate(4, monday() + h(32)), Some(10.0), "Tuesday: faded");
        assert_eq!(f.rate(4, monday() + h(33)), Some(0.0));
        assert_eq!(f.rate(4, monday() + h(56)), None, "past the end");
        assert_eq!(f.rate(6, now), None);
        assert_eq!(f.hours().count(), 48);
    }

    #[test]
    fn expected_times_follow_the_rate_hour_by_hour() {
        let t = monday();
        // 2 per hour in hour 0, none in hour 1, 4 per hour in hour 2.
        let rate = |at: DateTime<Utc>| match (at - t).num_hours() {
            0 => 2.0,
            1 => 0.0,
            2 => 4.0,
            _ => 0.0,
        };
        let times = expected_times(t, t + h(3), 100, rate);
        let mins: Vec<i64> = times.iter().map(|a| (*a - t).num_minutes()).collect();
        assert_eq!(mins, vec![30, 60, 135, 150, 165, 180]);
        assert_eq!(expected_times(t, t + h(3), 2, rate).len(), 2, "capped");
    }

    #[test]
    fn a_flat_rate_gives_evenly_spaced_arrivals() {
        let t = monday() + TimeDelta::minutes(7);
        let times = expected_times(t, t + h(2), 100, |_| 3.0);
        let gaps: Vec<i64> = times
            .windows(2)
            .map(|w| (w[1] - w[0]).num_minutes())
            .collect();
        assert_eq!(times.len(), 6);
        assert!(gaps.iter().all(|g| *g == 20), "{gaps:?}");
        assert_eq!((times[0] - t).num_minutes(), 20);
    }
}
