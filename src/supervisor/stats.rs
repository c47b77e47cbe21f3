//! `/supervisor/stats`: the numbers a supervisor watches, computed from the
//! store's counts (pure, so the arithmetic is tested without a database).

use super::overdue::OverdueAlert;
use super::{OfferState, SupervisorSettings};
use crate::store::{SelfCareRouteCount, StatsCounts};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One urgency level's line.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LevelStats {
    pub level: u8,
    /// Open cases (waiting or holding) at this level.
    pub waiting: u32,
    /// When a case of this level registered now would be called back.
    pub estimated_callback_at: Option<DateTime<Utc>>,
    /// Minutes from now to that time.
    pub estimated_wait_minutes: Option<i64>,
}

/// Everything on the supervisor page.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SupervisorStats {
    pub generated_at: DateTime<Utc>,
    pub levels: Vec<LevelStats>,
    pub waiting_total: u32,
    /// Seconds the oldest open case has waited.
    pub oldest_wait_seconds: Option<i64>,
    /// Cases registered today that were claimed by their deadline, over those
    /// claimed or already past their deadline; `None` before there is any.
    pub share_within_target_today: Option<f64>,
    pub within_target_today: u32,
    pub missed_target_today: u32,
    /// Staff with activity in the last hour (any node).
    pub nurses_on_duty: u32,
    /// Calls in the IVR now, on this node.
    pub calls_in_ivr: i64,
    pub callbacks_today: u32,
    pub callback_capacity: u32,
    pub callback_offer: OfferState,
    /// Cases closed today as unreachable (every callback attempt failed); listed
    /// by `GET /api/v1/supervisor/unreachable`.
    pub unreachable_today: u32,
    /// Cases in the review list now (urgent cases not reached, held callers
    /// with no number who left), listed by `GET /api/v1/review`.
    pub in_review: u32,
    /// Cases refused today by a queue cap (`queue.toml [caps]`, any node):
    /// each is an audit row `case.refused`; `/metrics` counts them per cap.
    pub refused_today: u32,
    /// Open cases past their deadline (the supervisor's alert).
    pub overdue: OverdueAlert,
    /// Self-care advice given in the IVR today, per triage.toml route: how
    /// many heard it and how many then asked for a nurse's callback anyway.
    pub self_care_today: Vec<SelfCareRouteCount>,
    /// Callers given self-care advice today (all routes).
    pub self_care_advised_today: u32,
    /// Of those, callers who asked for a callback anyway.
    pub self_care_callbacks_today: u32,
    /// Callers the closed-hours advice route answered today (hours.toml
    /// when_closed / when_offer_closed = "advice"), recorded as contacts.
    pub closed_advice_today: u32,
    /// Phone cases the database refused since this node started: those
    /// callers heard it and were told to call again (an alert, not a count).
    pub case_store_failures: i64,
    /// Callers sent to `sip.toml`'s `fallback_uri` since this node started
    /// (their case could not be stored, or the database was down).
    pub fallback_transfers: i64,
    /// Transfers to the fallback that failed (not answered): those callers
    /// were told to call again.
    pub fallback_failures: i64,
    /// Waits per care unit (`units.toml`), filled in by the handler.
    pub units: Vec<super::unit_waits::UnitWaits>,
}

/// What this node counted about its calls (from its call metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeCalls {
    pub calls_in_ivr: i64,
    pub case_store_failures: i64,
    pub fallback_transfers: i64,
    pub fallback_failures: i64,
}

/// (within target, missed) among cases registered today: a case counts once it
/// was claimed, or once its deadline passed unclaimed.
pub fn target_counts(
    reached: &[(DateTime<Utc>, Option<DateTime<Utc>>)],
    now: DateTime<Utc>,
) -> (u32, u32) {
    let mut within = 0u32;
    let mut missed = 0u32;
    for (deadline, claimed) in reached {
        match claimed {
            Some(c) if c <= deadline => within = within.saturating_add(1),
            Some(_) => missed = missed.saturating_add(1),
            None if *deadline < now => missed = missed.saturating_add(1),
            None => {}
        }
    }
    (within, missed)
}

/// Builds the page's numbers; `estimates` holds each level's estimated callback time.
pub fn build(
    now: DateTime<Utc>,
    counts: &StatsCounts,
    settings: &SupervisorSettings,
    estimates: [Option<DateTime<Utc>>; 5],
    node: NodeCalls,
    overdue: OverdueAlert,
) -> SupervisorStats {
    let (within, missed) = target_counts(&counts.reached, now);
    let judged = within.saturating_add(missed);
    let levels = (1u8..=5)
        .zip(counts.open_per_level.iter().zip(estimates.iter()))
        .map(|(level, (waiting, est))| LevelStats {
            level,
            waiting: *waiting,
            estimated_callback_at: *est,
            estimated_wait_minutes: est.map(|t| (t - now).num_minutes().max(0)),
        })
        .collect();
    SupervisorStats {
        generated_at: now,
        levels,
        waiting_total: counts
            .open_per_level
            .iter()
            .copied()
            .fold(0, u32::saturating_add),
        oldest_wait_seconds: counts.oldest_open.map(|t| (now - t).num_seconds().max(0)),
        share_within_target_today: (judged > 0).then(|| f64::from(within) / f64::from(judged)),
        within_target_today: within,
        missed_target_today: missed,
        nurses_on_duty: counts.active_staff,
        calls_in_ivr: node.calls_in_ivr,
        callbacks_today: counts.callbacks_since,
        callback_capacity: settings.callback_capacity,
        callback_offer: settings.offer_state(now, counts.callbacks_since),
        unreachable_today: counts.unreachable_since,
        in_review: counts.in_review,
        refused_today: counts.refused_since,
        overdue,
        self_care_advised_today: counts
            .self_care
            .routes
            .iter()
            .fold(0, |n, r| n.saturating_add(r.advised)),
        self_care_callbacks_today: counts
            .self_care
            .routes
            .iter()
            .fold(0, |n, r| n.saturating_add(r.callback_requested)),
        self_care_today: counts.self_care.routes.clone(),
        closed_advice_today: counts.self_care.closed_advice,
        case_store_failures: node.case_store_failures,
        fallback_transfers: node.fallback_transfers,
        fallback_failures: node.fallback_failures,
        units: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 3, h, m, 0).single().unwrap()
    }

    #[test]
    fn share_counts_claimed_in_time_and_overdue_but_not_pending() {
        let reached = vec![
            (at(9, 0), Some(at(8, 50))), // in time
            (at(9, 0), Some(at(9, 10))), // late
            (at(9, 30), None),           // overdue now
            (at(11, 0), None),           // still has time: not judged
        ];
        assert_eq!(target_counts(&reached, at(10, 0)), (1, 2));
        let counts = StatsCounts {
            open_per_level: [1, 0, 2, 0, 0],
            oldest_open: Some(at(9, 0)),
            callbacks_since: 3,
            reached,
            active_staff: 2,
            unreachable_since: 2,
            in_review: 1,
            refused_since: 4,
            self_care: crate::store::SelfCareCounts {
                routes: vec![
                    SelfCareRouteCount {
                        route: "ent".into(),
                        advised: 3,
                        callback_requested: 1,
                    },
                    SelfCareRouteCount {
                        route: "skin".into(),
                        advised: 2,
                        callback_requested: 0,
                    },
                ],
                closed_advice: 2,
            },
        };
        let s = build(
            at(10, 0),
            &counts,
            &SupervisorSettings {
                callback_capacity: 3,
                ..SupervisorSettings::default()
            },
            [None, Some(at(10, 20)), None, None, None],
            NodeCalls {
                calls_in_ivr: 4,
                ..NodeCalls::default()
            },
            OverdueAlert::default(),
        );
        assert_eq!(s.waiting_total, 3);
        assert_eq!(s.oldest_wait_seconds, Some(3600));
        assert_eq!(s.share_within_target_today, Some(1.0 / 3.0));
        assert_eq!(s.levels[1].estimated_wait_minutes, Some(20));
        assert_eq!(s.callback_offer, OfferState::CapacityReached);
        assert_eq!(s.calls_in_ivr, 4);
        assert_eq!(s.unreachable_today, 2);
        assert_eq!(s.in_review, 1);
        assert_eq!(s.refused_today, 4);
        assert_eq!(s.self_care_today.len(), 2);
        assert_eq!(s.self_care_advised_today, 5);
        assert_eq!(s.self_care_callbacks_today, 1);
        assert_eq!(s.closed_advice_today, 2);
    }

    #[test]
    fn no_cases_today_means_no_share() {
        let s = build(
            at(10, 0),
            &StatsCounts::default(),
            &SupervisorSettings::default(),
            [None; 5],
            NodeCalls::default(),
            OverdueAlert::default(),
        );
        assert_eq!(s.share_within_target_today, None);
        assert_eq!(s.oldest_wait_seconds, None);
        assert_eq!(s.callback_offer, OfferState::Open);
    }
}
