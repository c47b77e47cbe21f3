//! Staffing forecast: the nurses needed each coming hour so that every level
//! meets its target share (share of cases started within the level's target).
//!
//! Method: a replay of the priority queue against the learnt arrivals, hour by
//! hour. Each hour starts from the work that must be done in it: every
//! expected case's handling time spread over its level's target (a level-5
//! case from the morning peak may be worked any time in the next 24 hours),
//! at most [`UTILISATION`] of the nurses' time; then the replay adds nurses
//! until each level's share holds in that hour. The spread keeps the plan
//! smooth (the replay alone would put off all long-target work to the hour
//! of its deadline); the replay catches what the average hides (the backlog
//! carried between hours, level 1 waiting for a free nurse).
//! Not Erlang C: the queue is worked in deadline order with targets from 3
//! minutes to 24 hours, so a level-5 case from the morning peak may wait until
//! night and still be on time. Erlang C assumes a steady state within the hour
//! and first-come order; it would staff every hour for its own arrivals and
//! ignore both the backlog carried between hours and the slack of long
//! targets. The replay uses the same order as the real queue ([`super::order`])
//! and the same expected arrivals as the callback estimate.
//!
//! A case is judged once: when a nurse starts it (within target or not), or at
//! the end of the hour its deadline passed unstarted. An hour meets the goal
//! when, for every level, the share within target of the cases judged so far
//! in the plan (once there are ten) is at least the level's target share.
//! Pure: no clock, no store.

use super::arrivals::{expected_times, ArrivalForecast};
use super::order::QueuedCase;
use super::{LevelTargets, Priority};
use chrono::{DateTime, TimeDelta, Utc};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::time::Duration;

/// At most this many nurses are planned for one hour.
pub const MAX_NURSES: u32 = 400;
/// Planned share of a nurse's hour spent on cases: the rest absorbs chance
/// (handling times vary, arrivals bunch) that the replay of averages does not see.
pub const UTILISATION: f64 = 0.85;
/// A level's share is checked once this many of its cases were judged.
const MIN_JUDGED: u32 = 10;
/// Expected arrivals replayed per level (bounds the work of one forecast).
const MAX_ARRIVALS: usize = 100_000;

/// What the forecast plans with.
#[derive(Clone, Debug)]
pub struct PlanInput<'a, Id> {
    /// Expected arrivals per level for the hours to plan (from its start).
    pub arrivals: &'a ArrivalForecast,
    /// Planned handling time per level (index 0 = level 1).
    pub handling: [Duration; 5],
    pub targets: &'a LevelTargets,
    /// Share of cases each level must start within target (0-1).
    pub shares: [f64; 5],
    /// Cases already waiting when the forecast starts.
    pub backlog: &'a [QueuedCase<Id>],
}

/// The plan for one hour.
#[derive(Clone, Debug, PartialEq)]
pub struct HourPlan {
    pub start: DateTime<Utc>,
    /// Expected new cases per level.
    pub expected: [f64; 5],
    /// Nurses needed on the queue.
    pub nurses: u32,
    /// Cases those nurses can finish in the hour at the planned handling times
    /// (weighted by the hour's expected level mix).
    pub capacity: f64,
    /// Replayed share within target per level (`None`: no case judged).
    pub within_target: [Option<f64>; 5],
}

/// A case in the planning replay: queue-order key and its index.
type Key = (bool, DateTime<Utc>, DateTime<Utc>, usize);

#[derive(Clone)]
struct State {
    waiting: BTreeSet<Key>,
    /// When each nurse still on from the previous hour is next free.
    free: Vec<DateTime<Utc>>,
    /// Next expected arrival not yet queued.
    next: usize,
}

struct Cases {
    level: Vec<u8>,
    /// Expected arrivals: (time, key) sorted by time.
    arrivals: Vec<(DateTime<Utc>, Key)>,
}

/// Plans every hour of `input.arrivals`.
pub fn plan<Id>(input: &PlanInput<'_, Id>) -> Vec<HourPlan> {
    let cases = cases(input);
    let mut state = State {
        waiting: input
            .backlog
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (a, d, r) = super::queue_key(c.priority, c.deadline, c.registered_at);
                (a, d, r, i)
            })
            .collect(),
        free: Vec::new(),
        next: 0,
    };
    let base = spread_load(input);
    // Met and judged so far per level: the share is held over the plan, so
    // a rare level-1 case a second too late does not call in a crowd.
    let mut so_far = [(0u32, 0u32); 5];
    let mut out = Vec::new();
    for (i, (start, expected)) in input.arrivals.hours().enumerate() {
        let trial = |n: u32| {
            let mut s = state.clone();
            let counts = run_hour(&mut s, &cases, input, start, n);
            (s, counts)
        };
        let meets = |counts: &[(u32, u32); 5]| {
            counts
                .iter()
                .zip(so_far)
                .zip(input.shares)
                .all(|(((met, judged), (m0, j0)), want)| {
                    let holds =
                        |met: u32, judged: u32| f64::from(met) + 1e-9 >= want * f64::from(judged);
                    // Over the plan so far, or (once it has slipped, which
                    // no nurse now can undo) in this hour alone.
                    judged + j0 < MIN_JUDGED || holds(met + m0, judged + j0) || holds(*met, *judged)
                })
        };
        let floor = base.get(i).copied().unwrap_or(0.0) / UTILISATION;
        let mut nurses = (floor.ceil() as u32).clamp(1, MAX_NURSES);
        // Past twice the workload (plus a few), more nurses is not the answer.
        let most = (nurses * 2 + 4).min(MAX_NURSES);
        let mut best = trial(nurses);
        while !meets(&best.1) && nurses < most {
            nurses += 1;
            best = trial(nurses);
        }
        let (next_state, counts) = best;
        state = next_state;
        for (acc, (met, judged)) in so_far.iter_mut().zip(counts) {
            *acc = (acc.0 + met, acc.1 + judged);
        }
        out.push(HourPlan {
            start,
            expected,
            nurses,
            capacity: capacity(nurses, &expected, &input.handling),
            within_target: counts
                .map(|(met, judged)| (judged > 0).then(|| f64::from(met) / f64::from(judged))),
        });
    }
    out
}

/// Handling times vary: equal ones would keep the nurses in lockstep, all
/// busy at once, and a level-1 case would wait for the whole pool. So case
/// `n` takes its level's time times 0.5-1.5, spread evenly (golden-ratio
/// sequence: mean 1, deterministic).
fn spread_factor(n: usize) -> f64 {
    const PHI: f64 = 0.618_033_988_749_895;
    0.5 + (n as f64 * PHI).fract()
}

/// Nurse-hours of work per hour: each case's handling time spread evenly
/// over its level's target from its arrival (overdue backlog: the first hour).
fn spread_load<Id>(input: &PlanInput<'_, Id>) -> Vec<f64> {
    let hours: Vec<[f64; 5]> = input.arrivals.hours().map(|(_, r)| r).collect();
    let mut load = vec![0.0; hours.len()];
    let span = |level: u8| {
        let target = Priority::new(level).map_or(Duration::ZERO, |p| input.targets.target(p));
        ((target.as_secs_f64() / 3600.0).ceil() as usize).max(1)
    };
    let work = |level: u8| {
        let i = usize::from(level.clamp(1, 5) - 1);
        input
            .handling
            .get(i)
            .map_or(0.0, |h| h.as_secs_f64() / 3600.0)
    };
    for (i, rates) in hours.iter().enumerate() {
        for (l, n) in (1u8..).zip(rates) {
            let (span, w) = (span(l), work(l));
            for slot in load.iter_mut().skip(i).take(span) {
                *slot += n * w / span as f64;
            }
        }
    }
    let start = input.arrivals.start();
    for c in input.backlog {
        let left = (c.deadline - start).num_seconds().max(0) as f64 / 3600.0;
        let span = (left.ceil() as usize).max(1);
        let w = work(c.priority.level());
        for slot in load.iter_mut().take(span) {
            *slot += w / span as f64;
        }
    }
    load
}

/// Cases `nurses` finish in an hour at `handling`, weighted by the level mix.
pub fn capacity(nurses: u32, expected: &[f64; 5], handling: &[Duration; 5]) -> f64 {
    let total: f64 = expected.iter().sum();
    let mean_secs = if total > 0.0 {
        expected
            .iter()
            .zip(handling)
            .map(|(n, h)| n * h.as_secs_f64())
            .sum::<f64>()
            / total
    } else {
        handling.iter().map(Duration::as_secs_f64).sum::<f64>() / 5.0
    };
    if mean_secs > 0.0 {
        f64::from(nurses) * 3600.0 / mean_secs
    } else {
        0.0
    }
}

/// The backlog, then the expected arrivals, as one numbered list of cases.
fn cases<Id>(input: &PlanInput<'_, Id>) -> Cases {
    let mut level: Vec<u8> = input.backlog.iter().map(|c| c.priority.level()).collect();
    let mut arrivals = Vec::new();
    let (from, until) = (input.arrivals.start(), input.arrivals.end());
    for lvl in 1..=5u8 {
        let Some(p) = Priority::new(lvl) else {
            continue;
        };
        let target = TimeDelta::from_std(input.targets.target(p)).unwrap_or(TimeDelta::MAX);
        let rate = |at| input.arrivals.rate(lvl, at).unwrap_or(0.0);
        for at in expected_times(from, until, MAX_ARRIVALS, rate) {
            let deadline = at
                .checked_add_signed(target)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            arrivals.push((at, (!p.is_immediate(), deadline, at, level.len())));
            level.push(lvl);
        }
    }
    arrivals.sort();
    Cases { level, arrivals }
}

/// Replays one hour from `start` with `nurses` on duty; returns per level
/// the cases judged in it: (within target, judged).
fn run_hour<Id>(
    s: &mut State,
    cases: &Cases,
    input: &PlanInput<'_, Id>,
    start: DateTime<Utc>,
    nurses: u32,
) -> [(u32, u32); 5] {
    let end = start + TimeDelta::hours(1);
    let mut met = [0u32; 5];
    let mut judged = [0u32; 5];
    let level_of = |key: &Key| usize::from(cases.level.get(key.3).copied().unwrap_or(5).max(1) - 1);
    // Nurses still busy from the last hour stay on (the earliest free first);
    // new ones start at the hour.
    s.free.sort();
    s.free.truncate(nurses as usize);
    let mut free: BinaryHeap<Reverse<DateTime<Utc>>> =
        s.free.iter().map(|f| Reverse((*f).max(start))).collect();
    while free.len() < nurses as usize {
        free.push(Reverse(start));
    }
    let mut done = Vec::new();
    while let Some(Reverse(at)) = free.pop() {
        if at >= end {
            done.push(at);
            continue;
        }
        while let Some((_, key)) = cases.arrivals.get(s.next).filter(|(t, _)| *t <= at) {
            s.waiting.insert(*key);
            s.next += 1;
        }
        match s.waiting.pop_first() {
            Some(key) => {
                let l = level_of(&key);
                let deadline = key.1;
                if at <= deadline {
                    met[l] += 1;
                    judged[l] += 1;
                } else if deadline >= start {
                    judged[l] += 1;
                }
                let took = input.handling.get(l).copied().unwrap_or_default();
                let took = took.mul_f64(spread_factor(key.3));
                free.push(Reverse(at + TimeDelta::from_std(took).unwrap_or_default()));
            }
            None => {
                let next = cases
                    .arrivals
                    .get(s.next)
                    .map_or(end, |(t, _)| (*t).min(end));
                free.push(Reverse(next.max(at + TimeDelta::seconds(1))));
            }
        }
    }
    while let Some((_, key)) = cases.arrivals.get(s.next).filter(|(t, _)| *t < end) {
        s.waiting.insert(*key);
        s.next += 1;
    }
    // Deadlines that passed in this hour unstarted are misses, judged once.
    for key in s.waiting.iter().filter(|k| k.1 >= start && k.1 < end) {
        judged[level_of(key)] += 1;
    }
    s.free = done;
    std::array::from_fn(|i| (met[i], judged[i]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 3, 0, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    fn mins(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    fn input<'a>(
        f: &'a ArrivalForecast,
        targets: &'a LevelTargets,
        backlog: &'a [QueuedCase<u32>],
    ) -> PlanInput<'a, u32> {
        PlanInput {
            arrivals: f,
            handling: [mins(12); 5],
            targets,
            shares: [0.9; 5],
            backlog,
        }
    }

    #[test]
    fn level_two_cases_need_their_work_done_within_the_hour() {
        // 30 level-2 cases an hour at 12 minutes: 6 nurse-hours of work an
        // hour, with a 30-minute target and nothing to carry.
        let f = ArrivalForecast::new(t0(), vec![[0.0, 30.0, 0.0, 0.0, 0.0]; 6]);
        let targets = LevelTargets::default();
        let plan = plan(&input(&f, &targets, &[]));
        assert_eq!(plan.len(), 6);
        for h in &plan[1..] {
            assert!((6..=8).contains(&h.nurses), "{h:?}");
            assert!(h.within_target[1].unwrap_or(0.0) >= 0.9);
            assert!((h.capacity - f64::from(h.nurses) * 5.0).abs() < 1e-9);
        }
    }

    #[test]
    fn long_targets_let_work_wait_for_quieter_hours() {
        // A burst of 60 level-5 cases in hour 0, nothing after: with a 24-hour
        // target the work may be spread, so fewer nurses than the burst needs
        // to clear it within the hour (12) are planned in any hour.
        let mut hours = vec![[0.0; 5]; 24];
        hours[0] = [0.0, 0.0, 0.0, 0.0, 60.0];
        let f = ArrivalForecast::new(t0(), hours);
        let targets = LevelTargets::default();
        let plan = plan(&input(&f, &targets, &[]));
        assert!(plan.iter().all(|h| h.nurses < 12), "{plan:?}");
        let served: f64 = plan.iter().map(|h| h.capacity).sum();
        assert!(served >= 60.0, "enough capacity over the day: {served}");
        assert!(plan
            .iter()
            .all(|h| h.within_target[4].is_none_or(|s| s >= 0.9)));
    }

    #[test]
    fn a_backlog_past_its_deadline_is_judged_once_and_needs_staff() {
        let targets = LevelTargets::default();
        // 40 level-3 cases registered 3 hours ago: all past their 2-hour target.
        let old = t0() - TimeDelta::hours(3);
        let backlog: Vec<QueuedCase<u32>> = (0..40)
            .map(|i| QueuedCase {
                id: i,
                priority: Priority::new(3).unwrap_or(Priority::LOWEST),
                registered_at: old,
                deadline: old + TimeDelta::hours(2),
            })
            .collect();
        let f = ArrivalForecast::new(t0(), vec![[0.0, 5.0, 0.0, 0.0, 0.0]; 3]);
        let plan = plan(&input(&f, &targets, &backlog));
        // Late cases are not judged again (their share is not in the hour),
        // but they sit ahead of nothing urgent: level 2 still needs its share.
        assert_eq!(plan[0].within_target[2], None);
        assert!(plan[0].within_target[1].unwrap_or(0.0) >= 0.9);
    }

    #[test]
    fn the_plan_is_deterministic_and_grows_with_arrivals() {
        let targets = LevelTargets::default();
        let mix = |n: f64| [0.02 * n, 0.1 * n, 0.28 * n, 0.4 * n, 0.2 * n];
        let quiet = ArrivalForecast::new(t0(), vec![mix(40.0); 24]);
        let busy = ArrivalForecast::new(t0(), vec![mix(120.0); 24]);
        let a = plan(&input(&quiet, &targets, &[]));
        let b = plan(&input(&busy, &targets, &[]));
        assert_eq!(a, plan(&input(&quiet, &targets, &[])));
        let sum = |p: &[HourPlan]| p.iter().map(|h| h.nurses).sum::<u32>();
        assert!(sum(&b) > sum(&a) * 2, "{} vs {}", sum(&b), sum(&a));
        // Over a steady day the nurse-hours cover the work (40 x 12 min = 8 a hour).
        assert!(sum(&a) >= 8 * 24 - 8, "{}", sum(&a));
    }

    #[test]
    fn capacity_weights_handling_by_the_level_mix() {
        let handling = [mins(6), mins(12), mins(12), mins(12), mins(30)];
        let c = capacity(2, &[1.0, 0.0, 0.0, 0.0, 1.0], &handling);
        assert!((c - 2.0 * 60.0 / 18.0).abs() < 1e-9);
        assert_eq!(capacity(0, &[1.0; 5], &handling), 0.0);
    }
}
