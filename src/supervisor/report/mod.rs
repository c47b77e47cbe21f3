//! Follow-up figures (issue 12): rows from the store in, figures per
//! (period, channel, level, unit) out. Pure: no SQL, no clock; the same Rust
//! for SQLite and PostgreSQL, percentiles included (nearest rank).
//!
//! Definitions, so that the page, the CSV and the tests agree:
//! - contact: a case registered in the period (local Stockholm time);
//! - answer: the first answered callback leg to the resident, or for a held
//!   caller the nurse leg bridged to the call (`connected`);
//! - wait: answer - registration; within target: wait <= the level's target;
//! - needing a nurse: answered, or neither closed as self-care nor cancelled
//!   (the share within target is of these);
//! - first attempt: answered by callback with no failed attempt before;
//! - estimate error: |answer - estimated callback time told|.

pub mod charts;
pub mod csv;
pub mod period;

pub use period::{Period, Range};

use crate::case::Channel;
use crate::queue::{LevelTargets, Priority};
use crate::store::reports::{CaseFacts, ReportFacts};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The time zone all periods and hours are in.
pub const TIMEZONE: &str = "Europe/Stockholm";

/// A whole report (no personal data: counts and durations only).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub period: Period,
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub timezone: String,
    /// One row per (period, channel, level, unit) with any contact or handoff.
    pub rows: Vec<ReportRow>,
    /// Callers who hung up in the IVR before registering, per period and node.
    pub abandoned: Vec<AbandonedRow>,
    pub charts: charts::Charts,
}

/// Figures of one (period, channel, level, unit).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReportRow {
    /// First local day of the period.
    #[schema(value_type = String, format = Date)]
    pub period_start: NaiveDate,
    #[schema(value_type = String, example = "phone")]
    pub channel: Channel,
    pub level: u8,
    /// Unit id (units.toml); handoffs count on the unit handed off from.
    pub unit: String,
    pub contacts: u32,
    pub needing_nurse: u32,
    pub answered: u32,
    pub wait_p50_min: Option<f64>,
    pub wait_p90_min: Option<f64>,
    pub wait_max_min: Option<f64>,
    pub within_target: u32,
    /// within_target / needing_nurse.
    pub within_target_share: Option<f64>,
    pub first_attempt_reached: u32,
    pub unreachable: u32,
    pub self_care: u32,
    pub handoffs_out: u32,
    /// Answered cases that had been told an estimated callback time.
    pub estimates_compared: u32,
    pub estimate_error_p50_min: Option<f64>,
    pub estimate_error_p90_min: Option<f64>,
}

/// IVR hang-ups before registration at one node in one period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AbandonedRow {
    #[schema(value_type = String, format = Date)]
    pub period_start: NaiveDate,
    /// The IVR node (flow step id) the caller left at.
    pub node: String,
    pub count: u32,
}

/// One case with what the report derives from it.
struct Seen<'a> {
    case: &'a CaseFacts,
    day: NaiveDate,
    hour: usize,
    /// Seconds from registration to the nurse's answer.
    wait: Option<i64>,
    by_callback: bool,
    needing_nurse: bool,
    within: bool,
    /// Seconds between the answer and the time told.
    estimate_error: Option<i64>,
}

/// Computes the report. `unit_of` maps a stored unit (`None`: default) to its id.
pub fn build(
    facts: &ReportFacts,
    period: Period,
    range: Range,
    targets: &LevelTargets,
    unit_of: impl Fn(Option<&str>) -> String,
) -> Report {
    let seen = derive(facts, targets);
    let mut rows: BTreeMap<(NaiveDate, &'static str, u8, String), Acc> = BTreeMap::new();
    let mut keys: HashMap<&str, (NaiveDate, &'static str, u8)> = HashMap::new();
    for s in &seen {
        let key = (
            period.start_of(s.day),
            s.case.channel.as_str(),
            s.case.level,
            unit_of(s.case.unit.as_deref()),
        );
        keys.insert(&s.case.id, (key.0, key.1, key.2));
        rows.entry(key).or_default().add(s);
    }
    for (case_id, from_unit) in &facts.handoffs {
        if let Some(&(p, c, l)) = keys.get(case_id.as_str()) {
            let acc = rows.entry((p, c, l, from_unit.clone())).or_default();
            acc.handoffs_out = acc.handoffs_out.saturating_add(1);
        }
    }
    let rows = rows
        .into_iter()
        .map(|((period_start, channel, level, unit), acc)| {
            acc.row(period_start, channel, level, unit)
        })
        .collect();
    Report {
        period,
        from: range.from,
        to: range.to,
        timezone: TIMEZONE.to_string(),
        rows,
        abandoned: abandoned(facts, period),
        charts: charts::build(&seen, facts, range),
    }
}

/// A case's first callback answer and first bridged nurse answer.
type FirstAnswers = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Per case: its local day and hour, answer, wait and whether it was in time.
fn derive<'a>(facts: &'a ReportFacts, targets: &LevelTargets) -> Vec<Seen<'a>> {
    let mut answers: HashMap<&str, FirstAnswers> = HashMap::new();
    for leg in &facts.legs {
        let slot = answers.entry(leg.case_id.as_str()).or_default();
        let earliest =
            |t: Option<DateTime<Utc>>| Some(t.map_or(leg.answered_at, |t| t.min(leg.answered_at)));
        if leg.kind == "resident" {
            slot.0 = earliest(slot.0);
        } else if leg.result == "connected" {
            slot.1 = earliest(slot.1);
        }
    }
    facts
        .cases
        .iter()
        .map(|case| {
            let (callback, bridged) = answers.get(case.id.as_str()).copied().unwrap_or_default();
            let answer = callback.or(bridged);
            let wait = answer.map(|t| (t - case.registered_at).num_seconds().max(0));
            let target = Priority::new(case.level)
                .map(|p| targets.target(p).as_secs())
                .and_then(|s| i64::try_from(s).ok())
                .unwrap_or(0);
            let closed_without_nurse =
                case.outcome.as_deref() == Some("self_care") || case.status == "cancelled";
            let (day, hour) = period::local_day_hour(case.registered_at);
            Seen {
                case,
                day,
                hour,
                wait,
                by_callback: callback.is_some(),
                needing_nurse: answer.is_some() || !closed_without_nurse,
                within: wait.is_some_and(|w| w <= target),
                estimate_error: answer
                    .zip(case.estimated_callback_at)
                    .map(|(a, e)| (a - e).num_seconds().abs()),
            }
        })
        .collect()
}

fn abandoned(facts: &ReportFacts, period: Period) -> Vec<AbandonedRow> {
    let mut counts: BTreeMap<(NaiveDate, &str), u32> = BTreeMap::new();
    for (node, at) in &facts.abandoned {
        let start = period.start_of(period::local_day_hour(*at).0);
        let n = counts.entry((start, node.as_str())).or_default();
        *n = n.saturating_add(1);
    }
    counts
        .into_iter()
        .map(|((period_start, node), count)| AbandonedRow {
            period_start,
            node: node.to_string(),
            count,
        })
        .collect()
}

#[derive(Default)]
struct Acc {
    contacts: u32,
    needing: u32,
    within: u32,
    first_attempt: u32,
    unreachable: u32,
    self_care: u32,
    handoffs_out: u32,
    waits: Vec<i64>,
    errors: Vec<i64>,
}

impl Acc {
    fn add(&mut self, s: &Seen) {
        let bump = |n: &mut u32, yes: bool| *n = n.saturating_add(u32::from(yes));
        bump(&mut self.contacts, true);
        bump(&mut self.needing, s.needing_nurse);
        bump(&mut self.within, s.within);
        bump(
            &mut self.first_attempt,
            s.by_callback && s.case.attempts == 0,
        );
        bump(&mut self.unreachable, s.case.status == "unreachable");
        bump(
            &mut self.self_care,
            s.case.outcome.as_deref() == Some("self_care"),
        );
        self.waits.extend(s.wait);
        self.errors.extend(s.estimate_error);
    }

    fn row(mut self, period_start: NaiveDate, channel: &str, level: u8, unit: String) -> ReportRow {
        self.waits.sort_unstable();
        self.errors.sort_unstable();
        ReportRow {
            period_start,
            channel: channel.parse().unwrap_or(Channel::Phone),
            level,
            unit,
            contacts: self.contacts,
            needing_nurse: self.needing,
            answered: count(&self.waits),
            wait_p50_min: minutes(nearest_rank(&self.waits, 50)),
            wait_p90_min: minutes(nearest_rank(&self.waits, 90)),
            wait_max_min: minutes(self.waits.last().copied()),
            within_target: self.within,
            within_target_share: share(self.within, self.needing),
            first_attempt_reached: self.first_attempt,
            unreachable: self.unreachable,
            self_care: self.self_care,
            handoffs_out: self.handoffs_out,
            estimates_compared: count(&self.errors),
            estimate_error_p50_min: minutes(nearest_rank(&self.errors, 50)),
            estimate_error_p90_min: minutes(nearest_rank(&self.errors, 90)),
        }
    }
}

fn count<T>(v: &[T]) -> u32 {
    u32::try_from(v.len()).unwrap_or(u32::MAX)
}

/// The nearest-rank `p`th percentile of sorted values.
pub fn nearest_rank(sorted: &[i64], p: usize) -> Option<i64> {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// Seconds as minutes.
pub fn minutes(secs: Option<i64>) -> Option<f64> {
    secs.map(|s| s as f64 / 60.0)
}

/// `part / whole`, none of nothing.
pub fn share(part: u32, whole: u32) -> Option<f64> {
    (whole > 0).then(|| f64::from(part) / f64::from(whole))
}

#[cfg(test)]
mod tests;
