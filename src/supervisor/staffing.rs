//! The staffing forecast as the supervisor page shows it: nurses needed per
//! hour for the next week (from [`crate::queue::forecast`]), beside the
//! nurses on duty now and the callback capacity each implies, with a summary
//! per local day. No personal data: counts only.

use crate::queue::forecast::{self, HourPlan, PlanInput};
use crate::queue::{ArrivalProfile, LevelTargets, QueuedCase};
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

/// Hours in the forecast: the next day and the rest of the week.
pub const HOURS: usize = 7 * 24;

/// What the forecast plans with.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanSettings {
    pub tz: Tz,
    pub targets: LevelTargets,
    /// Target share per level (0-1), triage.toml.
    pub shares: [f64; 5],
    /// Handling time per level.
    pub handling: [Duration; 5],
    /// Nurses on the queue now.
    pub nurses_on_duty: u32,
}

/// `GET /api/v1/supervisor/forecast`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct StaffingForecast {
    pub generated_at: DateTime<Utc>,
    /// Nurses on the queue now (queue.toml or the supervisor's figure).
    pub nurses_on_duty: u32,
    /// False until a day of cases is in the database: then `hours` is empty.
    pub learnt: bool,
    /// Target share per level 1-5, percent.
    pub target_share_percent: Vec<f64>,
    /// The coming hours, from the current one.
    pub hours: Vec<ForecastHour>,
    /// Per local day of `hours`.
    pub days: Vec<ForecastDay>,
}

/// One hour of the forecast.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ForecastHour {
    pub start: DateTime<Utc>,
    /// Expected new cases, all levels, both channels.
    pub expected_cases: f64,
    /// Expected new cases per level 1-5.
    pub expected_per_level: Vec<f64>,
    /// Nurses needed for every level's target share.
    pub nurses_needed: u32,
    /// Cases the needed nurses can finish in the hour.
    pub callback_capacity: f64,
    /// Cases the nurses on duty now could finish in the hour.
    pub capacity_on_duty: f64,
}

/// One local day of the forecast.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ForecastDay {
    /// Local date, `YYYY-MM-DD`.
    pub date: String,
    pub expected_cases: f64,
    /// Sum over the day's hours of the nurses needed.
    pub nurse_hours: u32,
    /// Most nurses needed in one hour.
    pub peak_nurses: u32,
    /// Cases the needed staffing can finish that day.
    pub callback_capacity: f64,
}

/// Plans `hours` hours from `now` against the profile (corrected by `recent`
/// cases in the `window` before now) and the `open` cases.
pub fn plan<Id>(
    settings: &PlanSettings,
    profile: &ArrivalProfile,
    now: DateTime<Utc>,
    (recent, window): (u32, TimeDelta),
    open: &[QueuedCase<Id>],
    hours: usize,
) -> StaffingForecast {
    let learnt = profile.is_learnt();
    let plan = if learnt {
        let arrivals = profile.corrected(now, recent, window, hours);
        forecast::plan(&PlanInput {
            arrivals: &arrivals,
            handling: settings.handling,
            targets: &settings.targets,
            shares: settings.shares,
            backlog: open,
        })
    } else {
        Vec::new()
    };
    view(settings, now, learnt, &plan)
}

fn view(
    settings: &PlanSettings,
    now: DateTime<Utc>,
    learnt: bool,
    plan: &[HourPlan],
) -> StaffingForecast {
    let hours: Vec<ForecastHour> = plan
        .iter()
        .map(|h| ForecastHour {
            start: h.start,
            expected_cases: h.expected.iter().sum(),
            expected_per_level: h.expected.to_vec(),
            nurses_needed: h.nurses,
            callback_capacity: h.capacity,
            capacity_on_duty: forecast::capacity(
                settings.nurses_on_duty,
                &h.expected,
                &settings.handling,
            ),
        })
        .collect();
    let mut days: Vec<ForecastDay> = Vec::new();
    for h in &hours {
        let date = h
            .start
            .with_timezone(&settings.tz)
            .format("%Y-%m-%d")
            .to_string();
        if days.last().is_none_or(|d| d.date != date) {
            days.push(ForecastDay {
                date,
                expected_cases: 0.0,
                nurse_hours: 0,
                peak_nurses: 0,
                callback_capacity: 0.0,
            });
        }
        if let Some(d) = days.last_mut() {
            d.expected_cases += h.expected_cases;
            d.nurse_hours += h.nurses_needed;
            d.peak_nurses = d.peak_nurses.max(h.nurses_needed);
            d.callback_capacity += h.callback_capacity;
        }
    }
    StaffingForecast {
        generated_at: now,
        nurses_on_duty: settings.nurses_on_duty,
        learnt,
        target_share_percent: settings.shares.iter().map(|s| s * 100.0).collect(),
        hours,
        days,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::HourCount;
    use chrono::TimeZone;

    fn settings() -> PlanSettings {
        PlanSettings {
            tz: chrono_tz::Europe::Stockholm,
            targets: LevelTargets::default(),
            shares: [0.9; 5],
            handling: [Duration::from_secs(600); 5],
            nurses_on_duty: 3,
        }
    }

    #[test]
    fn the_view_sums_days_and_prices_the_nurses_on_duty() {
        let now = Utc
            .with_ymd_and_hms(2025, 3, 3, 10, 20, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let from = now - TimeDelta::weeks(2);
        // 12 level-3 cases every hour of the two weeks before.
        let counts: Vec<HourCount> = (0..24 * 14)
            .map(|h| HourCount {
                hour: crate::queue::arrivals::hour_start(from) + TimeDelta::hours(h),
                level: 3,
                count: 12,
            })
            .collect();
        let profile = ArrivalProfile::learn(settings().tz, &counts, from, now);
        let open: [QueuedCase<u32>; 0] = [];
        let f = plan(
            &settings(),
            &profile,
            now,
            (24, TimeDelta::hours(2)),
            &open,
            48,
        );
        assert!(f.learnt);
        assert_eq!(f.hours.len(), 48);
        assert_eq!(f.hours[0].start, now - TimeDelta::minutes(20));
        assert_eq!(
            f.hours[5].expected_per_level,
            vec![0.0, 0.0, 12.0, 0.0, 0.0]
        );
        // 12 cases of 10 minutes an hour: 2 nurse-hours of work.
        assert!(
            (2..=4).contains(&f.hours[5].nurses_needed),
            "{:?}",
            f.hours[5]
        );
        assert_eq!(f.hours[5].capacity_on_duty, 18.0);
        let days: u32 = f.days.iter().map(|d| d.nurse_hours).sum();
        let hours: u32 = f.hours.iter().map(|h| h.nurses_needed).sum();
        assert_eq!(days, hours);
        assert_eq!(f.days[0].date, "2025-03-03");
        assert_eq!(
            f.days.len(),
            3,
            "the rest of Monday, Tuesday, part of Wednesday"
        );
        assert_eq!(f.target_share_percent, vec![90.0; 5]);
    }

    #[test]
    fn without_history_the_forecast_is_empty_and_says_so() {
        let now = Utc::now();
        let profile = ArrivalProfile::learn(settings().tz, &[], now, now);
        let open: [QueuedCase<u32>; 0] = [];
        let f = plan(
            &settings(),
            &profile,
            now,
            (0, TimeDelta::hours(2)),
            &open,
            24,
        );
        assert!(!f.learnt);
        assert!(f.hours.is_empty() && f.days.is_empty());
        assert_eq!(f.nurses_on_duty, 3);
    }
}
