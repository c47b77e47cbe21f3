//! The series behind the reports page's three charts.
//!
//! Nurses on duty are not scheduled anywhere in the project; what it does
//! record is each nurse's audited actions (claims, calls, outcomes), so a
//! nurse counts as on duty in an hour in which they did at least one.

use super::{nearest_rank, period, share, Seen};
use crate::store::reports::ReportFacts;
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// Chart series (hours are local Stockholm hours 0-23).
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Charts {
    /// Median wait (minutes) by hour of registration, per level 1-5.
    pub waits_by_hour: Vec<LevelHours>,
    /// Contacts per hour of the day, averaged over the range's days.
    pub arrivals_by_hour: Vec<f64>,
    /// Nurses with audited work in the hour, averaged over the range's days.
    pub nurses_by_hour: Vec<f64>,
    /// Share within target per ISO week (Monday first), per level and in all.
    pub within_target_by_week: Vec<WeekShare>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LevelHours {
    pub level: u8,
    /// 24 values; none where no case of that hour was answered.
    pub wait_p50_min: Vec<Option<f64>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WeekShare {
    #[schema(value_type = String, format = Date)]
    pub week_start: NaiveDate,
    /// Levels 1-5 in order.
    pub levels: Vec<Option<f64>>,
    pub all: Option<f64>,
}

pub(super) fn build(seen: &[Seen], facts: &ReportFacts, range: period::Range) -> Charts {
    let days = f64::from(range.days().max(1));
    let mut waits = vec![vec![Vec::new(); 24]; 5];
    let mut arrivals = [0u32; 24];
    // (within, needing) per week and level (index 5: all levels).
    let mut weeks: BTreeMap<NaiveDate, [(u32, u32); 6]> = BTreeMap::new();
    for s in seen {
        let level = usize::from(s.case.level.clamp(1, 5)) - 1;
        if let (Some(w), Some(slot)) =
            (s.wait, waits.get_mut(level).and_then(|l| l.get_mut(s.hour)))
        {
            slot.push(w);
        }
        if let Some(a) = arrivals.get_mut(s.hour) {
            *a = a.saturating_add(1);
        }
        let week = weeks
            .entry(super::Period::Week.start_of(s.day))
            .or_default();
        for i in [level, 5] {
            if let Some((within, needing)) = week.get_mut(i) {
                *within = within.saturating_add(u32::from(s.within));
                *needing = needing.saturating_add(u32::from(s.needing_nurse));
            }
        }
    }
    let on_duty: HashSet<(NaiveDate, usize, &str)> = facts
        .nurse_activity
        .iter()
        .map(|(nurse, at)| {
            let (day, hour) = period::local_day_hour(*at);
            (day, hour, nurse.as_str())
        })
        .collect();
    let mut nurses = [0u32; 24];
    for (_, hour, _) in &on_duty {
        if let Some(n) = nurses.get_mut(*hour) {
            *n = n.saturating_add(1);
        }
    }
    Charts {
        waits_by_hour: waits
            .into_iter()
            .zip(1u8..)
            .map(|(hours, level)| LevelHours {
                level,
                wait_p50_min: hours
                    .into_iter()
                    .map(|mut w| {
                        w.sort_unstable();
                        super::minutes(nearest_rank(&w, 50))
                    })
                    .collect(),
            })
            .collect(),
        arrivals_by_hour: arrivals.iter().map(|&n| f64::from(n) / days).collect(),
        nurses_by_hour: nurses.iter().map(|&n| f64::from(n) / days).collect(),
        within_target_by_week: weeks
            .into_iter()
            .map(|(week_start, levels)| WeekShare {
                week_start,
                levels: levels.iter().take(5).map(|&(w, n)| share(w, n)).collect(),
                all: levels.get(5).and_then(|&(w, n)| share(w, n)),
            })
            .collect(),
    }
}
