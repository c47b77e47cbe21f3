use super::*;
use crate::queue::hours::minutes;
use crate::queue::{deadline_for, ArrivalForecast, Queue};
use chrono::TimeZone;
use proptest::prelude::*;
use std::path::Path;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 3, 9, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn level(n: u8) -> Priority {
    Priority::new(n).unwrap_or(Priority::LOWEST)
}

fn case(id: u32, lvl: u8, at_min: i64) -> QueuedCase<u32> {
    let at = t0() + TimeDelta::minutes(at_min);
    QueuedCase {
        id,
        priority: level(lvl),
        registered_at: at,
        deadline: deadline_for(at, level(lvl), &LevelTargets::default()),
    }
}

struct Fixture {
    handling: HandlingTimes,
    hours: OpeningHours,
    targets: LevelTargets,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            handling: HandlingTimes::new(minutes(10)),
            hours: OpeningHours::default(),
            targets: LevelTargets::default(),
        }
    }

    fn staff(&self, nurses: u32) -> Staffing<'_> {
        Staffing {
            nurses,
            busy_until: Vec::new(),
            handling: &self.handling,
            hours: &self.hours,
            targets: &self.targets,
            arrivals: ArrivalRates::default(),
            forecast: None,
            not_before: None,
        }
    }
}

fn at_min(m: i64) -> Option<DateTime<Utc>> {
    Some(t0() + TimeDelta::minutes(m))
}

#[test]
fn replay_shares_cases_between_nurses_in_queue_order() {
    let f = Fixture::new();
    let cases = vec![case(1, 4, 0), case(2, 3, 0), case(3, 2, 0), case(4, 5, 0)];
    let out = replay(t0(), &cases, &f.staff(2));
    // Order 3 (L2), 2 (L3), 1 (L4), 4 (L5); two nurses, 10 minutes each.
    assert_eq!(
        out,
        vec![
            (3, at_min(0)),
            (2, at_min(0)),
            (1, at_min(10)),
            (4, at_min(10))
        ]
    );
}

#[test]
fn busy_nurses_start_when_their_case_is_done() {
    let f = Fixture::new();
    let mut staff = f.staff(2);
    staff.busy_until = vec![t0() + TimeDelta::minutes(4), t0() + TimeDelta::minutes(7)];
    let out = replay(t0(), &[case(1, 3, 0), case(2, 3, 1)], &staff);
    assert_eq!(out, vec![(1, at_min(4)), (2, at_min(7))]);
}

#[test]
fn handling_time_comes_from_history_per_level_then_overall_then_default() {
    let mut h = HandlingTimes::new(minutes(12));
    assert_eq!(h.for_level(level(3)), minutes(12));
    for _ in 0..5 {
        h.record(level(2), minutes(20));
    }
    assert_eq!(h.for_level(level(2)), minutes(20));
    // Level 4 has no history of its own: the all-level mean.
    assert_eq!(h.for_level(level(4)), minutes(20));
    for _ in 0..5 {
        h.record(level(4), minutes(6));
    }
    assert_eq!(h.for_level(level(4)), minutes(6));
    assert_eq!(h.for_level(level(5)), minutes(13));
}

#[test]
fn stored_history_keeps_the_newest_samples_per_level() {
    let mut level3 = vec![minutes(60); 10];
    level3.extend(vec![minutes(5); HandlingTimes::KEEP]);
    let h = HandlingTimes::from_recent(
        minutes(12),
        [vec![], vec![minutes(20); 5], level3, vec![], vec![]],
    );
    assert_eq!(h.for_level(level(2)), minutes(20));
    // The 10 oldest (60 min) fell out of the window.
    assert_eq!(h.for_level(level(3)), minutes(5));
    assert_eq!(
        HandlingTimes::from_recent(minutes(12), Default::default()).for_level(level(1)),
        minutes(12)
    );
}

#[test]
fn expected_urgent_arrivals_push_a_low_level_case_back() {
    let f = Fixture::new();
    let mut staff = f.staff(1);
    let queued = vec![case(1, 4, 0)];
    let fifo = estimate_new(t0(), level(4), &queued, &staff);
    // Six level-2 cases an hour will arrive and overtake a level-4 case.
    staff.arrivals.per_hour = [0.0, 6.0, 0.0, 0.0, 0.0];
    let aware = estimate_new(t0(), level(4), &queued, &staff);
    assert_eq!(fifo, at_min(10));
    assert!(aware > fifo, "{aware:?} vs {fifo:?}");
    // ...but not a level-2 case registered now (the arrivals have later deadlines).
    let urgent = estimate_new(t0(), level(2), &queued, &staff);
    assert_eq!(urgent, at_min(0));
}

#[test]
fn a_coming_peak_in_the_forecast_pushes_a_low_level_case_back() {
    let f = Fixture::new();
    let mut staff = f.staff(2);
    staff.arrivals.per_hour = [0.0, 1.0, 0.0, 0.0, 0.0];
    // 20 level-4 cases ahead: 100 minutes of work for two nurses.
    let queued: Vec<_> = (0..20).map(|i| case(i, 4, -60)).collect();
    let flat = estimate_new(t0(), level(4), &queued, &staff).unwrap_or(t0());
    // The last hours were quiet, but the profile expects 12 level-2 cases an
    // hour (all the two nurses can do) from the next hour: they overtake.
    let mut hours = vec![[0.0, 1.0, 0.0, 0.0, 0.0]];
    hours.extend(std::iter::repeat_n([0.0, 12.0, 0.0, 0.0, 0.0], 8));
    let forecast = ArrivalForecast::new(t0(), hours);
    staff.forecast = Some(&forecast);
    let aware = estimate_new(t0(), level(4), &queued, &staff).unwrap_or(t0());
    assert!(flat < t0() + TimeDelta::hours(3), "{flat}");
    assert!(aware >= t0() + TimeDelta::hours(6), "{aware}");
}

#[test]
fn urgent_arrivals_do_not_crowd_out_the_other_levels() {
    // Level-1 arrivals sort before everything, so they must not use up the
    // replay's budget of expected arrivals before the level-2 ones are placed.
    let f = Fixture::new();
    let mut staff = f.staff(1);
    staff.arrivals.per_hour = [1.0, 6.0, 0.0, 0.0, 0.0];
    let with_level_one = estimate_new(t0(), level(4), &[case(1, 4, 0)], &staff);
    staff.arrivals.per_hour = [0.0, 6.0, 0.0, 0.0, 0.0];
    let without = estimate_new(t0(), level(4), &[case(1, 4, 0)], &staff);
    assert!(
        with_level_one >= without,
        "{with_level_one:?} vs {without:?}"
    );
    assert!(without > at_min(10));
}

#[test]
fn new_case_estimate_ignores_less_urgent_cases() {
    let f = Fixture::new();
    let queued: Vec<_> = (0..10).map(|i| case(i, 5, 0)).collect();
    assert_eq!(
        estimate_new(t0(), level(3), &queued, &f.staff(1)),
        at_min(0)
    );
    assert_eq!(
        estimate_new(t0(), level(5), &queued, &f.staff(2)),
        at_min(50)
    );
}

#[test]
fn closed_service_starts_at_the_next_opening() {
    let text = "[weekly]\nmon = [\"10:00-11:00\"]\ntue = [\"10:00-11:00\"]\nwed = []\nthu = []\nfri = []\nsat = []\nsun = []\n";
    let hours = match OpeningHours::parse(text, Path::new("hours.toml")) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    };
    let f = Fixture {
        hours,
        ..Fixture::new()
    };
    // t0 is 10:00 local on Monday (UTC+1): 6 cases of 10 minutes fill the hour.
    let queued: Vec<_> = (0..6).map(|i| case(i, 4, 0)).collect();
    let at = estimate_new(t0(), level(4), &queued, &f.staff(1));
    assert_eq!(at, Some(t0() + TimeDelta::days(1)), "Tuesday 10:00");
    // Never open again: no estimate.
    let never = "[weekly]\nmon = []\ntue = []\nwed = []\nthu = []\nfri = []\nsat = []\nsun = []\n";
    let hours = OpeningHours::parse(never, Path::new("h.toml")).unwrap_or_default();
    let f = Fixture {
        hours,
        ..Fixture::new()
    };
    assert_eq!(estimate_new(t0(), level(4), &queued, &f.staff(1)), None);
}

#[test]
fn estimate_book_keeps_a_shown_time_until_the_case_moves_up() {
    let mut book = EstimateBook::new();
    let id = 7u32;
    assert_eq!(book.update(&id, 3, t0()), t0());
    let earlier = t0() - TimeDelta::minutes(5);
    assert_eq!(book.update(&id, 3, earlier), t0(), "not moved: keep");
    assert_eq!(book.update(&id, 2, earlier), earlier, "moved up: fresh");
    book.retain(|_| false);
    assert_eq!(
        book.update(&id, 5, earlier - TimeDelta::minutes(1)),
        earlier - TimeDelta::minutes(1)
    );
}

#[test]
fn zero_nurses_is_treated_as_one() {
    let f = Fixture::new();
    assert_eq!(
        estimate_new(t0(), level(4), &[case(1, 4, 0)], &f.staff(0)),
        at_min(10)
    );
}

fn queue_strategy() -> impl Strategy<Value = Vec<(u8, i64)>> {
    prop::collection::vec((1u8..=5, 0i64..600), 0..40)
}

proptest! {
    /// No estimate lies before now, and every queued case gets one (24 h service).
    #[test]
    fn every_case_gets_an_estimate_not_before_now(
        cases in queue_strategy(),
        nurses in 0u32..6,
        rates in prop::array::uniform5(0.0f64..8.0),
    ) {
        let f = Fixture::new();
        let mut staff = f.staff(nurses);
        staff.arrivals.per_hour = rates;
        let now = t0() + TimeDelta::minutes(600);
        let queued: Vec<_> = cases.iter().enumerate().map(|(i, (l, m))| case(i as u32, *l, *m)).collect();
        let out = replay(now, &queued, &staff);
        prop_assert_eq!(out.len(), queued.len());
        let order: Vec<u32> = queued.iter().cloned().collect::<Queue<u32>>().iter().map(|c| c.id).collect();
        let ids: Vec<u32> = out.iter().map(|(id, _)| *id).collect();
        prop_assert_eq!(ids, order);
        for (_, at) in out {
            prop_assert!(at.is_some_and(|t| t >= now));
        }
    }

    /// Estimates never go backwards in time for a case that has not moved: as the
    /// clock runs with the same queue ahead, the time shown only stays or grows.
    #[test]
    fn estimates_never_go_backwards_for_a_case_that_has_not_moved(
        cases in queue_strategy(),
        nurses in 1u32..5,
        rates in prop::array::uniform5(0.0f64..6.0),
        steps in prop::collection::vec(0i64..90, 1..8),
    ) {
        let f = Fixture::new();
        let mut staff = f.staff(nurses);
        staff.arrivals.per_hour = rates;
        let queued: Vec<_> = cases.iter().enumerate().map(|(i, (l, m))| case(i as u32, *l, *m)).collect();
        let q: Queue<u32> = queued.iter().cloned().collect();
        let mut book = EstimateBook::new();
        let mut shown: BTreeMap<u32, DateTime<Utc>> = BTreeMap::new();
        let mut now = t0() + TimeDelta::minutes(600);
        for step in steps {
            now += TimeDelta::minutes(step);
            for (id, at) in replay(now, &queued, &staff) {
                let Some(at) = at else { continue };
                let ahead = q.position(&id).unwrap_or(0);
                let show = book.update(&id, ahead, at);
                prop_assert!(show >= at);
                if let Some(prev) = shown.insert(id, show) {
                    prop_assert!(show >= prev, "case {} went from {} to {}", id, prev, show);
                }
            }
        }
    }

    /// Without expected arrivals and with one handling time, the raw replay is
    /// itself monotone in the clock (no book needed).
    #[test]
    fn plain_replay_is_monotone_in_time(
        cases in queue_strategy(),
        nurses in 1u32..5,
        step in 0i64..120,
    ) {
        let f = Fixture::new();
        let staff = f.staff(nurses);
        let queued: Vec<_> = cases.iter().enumerate().map(|(i, (l, m))| case(i as u32, *l, *m)).collect();
        let now = t0() + TimeDelta::minutes(600);
        let before: BTreeMap<u32, Option<DateTime<Utc>>> = replay(now, &queued, &staff).into_iter().collect();
        let after = replay(now + TimeDelta::minutes(step), &queued, &staff);
        for (id, at) in after {
            prop_assert!(at >= before.get(&id).copied().flatten());
        }
    }
}
