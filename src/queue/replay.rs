//! The priority-aware estimated callback time: replay the queue against the
//! nurses on duty.
//!
//! The replay hands the cases, in queue order, to whichever nurse is free first;
//! a nurse works only while the service is open and spends the recent handling
//! time of the case's level on it. Cases that will arrive later and overtake
//! (more urgent, earlier deadline) are replayed too, at the recent arrival rate
//! per level, so a level-4 case is not promised the time a plain FIFO count
//! would give it. A case's estimate is when a nurse is expected to start on it.

use super::arrivals::{expected_times, ArrivalForecast};
use super::hours::OpeningHours;
use super::order::{OrderKey, QueuedCase};
use super::{LevelTargets, Priority};
use chrono::{DateTime, TimeDelta, Utc};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::time::Duration;

/// At most this many expected arrivals per level are replayed (keeps a replay
/// bounded; per level, so level 1 never crowds out the others).
const MAX_VIRTUAL: usize = 4_000;
/// Level-1 arrivals overtake every later case, so past the last real case's
/// deadline they are replayed this much longer (the replay may run late).
const IMMEDIATE_TAIL: TimeDelta = TimeDelta::hours(24);

/// Recent handling times (claim to outcome), per level, with a default until
/// there is history.
#[derive(Clone, Debug)]
pub struct HandlingTimes {
    default: Duration,
    recent: [VecDeque<Duration>; 5],
    keep: usize,
}

impl HandlingTimes {
    /// Below this many samples a level borrows the all-level mean, then the default.
    pub const MIN_SAMPLES: usize = 5;

    /// Samples kept per level: a mean of 50 moves by ~8% by chance, which is
    /// most of an hour on a level-5 case told 10 hours ahead.
    pub const KEEP: usize = 400;

    /// No history yet: every level takes `default`. Keeps the last
    /// [`HandlingTimes::KEEP`] per level.
    pub fn new(default: Duration) -> HandlingTimes {
        HandlingTimes {
            default,
            recent: Default::default(),
            keep: Self::KEEP,
        }
    }

    /// The history as stored (index 0 = level 1, oldest first), the last
    /// [`HandlingTimes::KEEP`] per level kept.
    pub fn from_recent(default: Duration, recent: [Vec<Duration>; 5]) -> HandlingTimes {
        let mut times = HandlingTimes::new(default);
        for (q, samples) in times.recent.iter_mut().zip(recent) {
            let skip = samples.len().saturating_sub(Self::KEEP);
            q.extend(samples.into_iter().skip(skip));
        }
        times
    }

    /// One finished case of `level` took `took`.
    pub fn record(&mut self, level: Priority, took: Duration) {
        if let Some(q) = self.recent.get_mut(usize::from(level.level() - 1)) {
            if q.len() == self.keep {
                q.pop_front();
            }
            q.push_back(took);
        }
    }

    /// The handling time to plan with for a case of `level`.
    pub fn for_level(&self, level: Priority) -> Duration {
        let own = self.recent.get(usize::from(level.level() - 1));
        if let Some(mean) = own.and_then(|q| mean(q.iter(), q.len())) {
            return mean;
        }
        let all = self.recent.iter().map(VecDeque::len).sum();
        mean(self.recent.iter().flatten(), all).unwrap_or(self.default)
    }
}

fn mean<'a>(xs: impl Iterator<Item = &'a Duration>, n: usize) -> Option<Duration> {
    if n < HandlingTimes::MIN_SAMPLES {
        return None;
    }
    let total: Duration = xs.sum();
    Some(total / u32::try_from(n).ok()?)
}

/// Cases per hour recently registered, per level (index 0 = level 1).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ArrivalRates {
    pub per_hour: [f64; 5],
}

impl ArrivalRates {
    /// Rates from counts registered in the last `window`.
    pub fn from_counts(counts: [u32; 5], window: Duration) -> ArrivalRates {
        let hours = window.as_secs_f64() / 3600.0;
        let mut per_hour = [0.0; 5];
        if hours > 0.0 {
            for (rate, count) in per_hour.iter_mut().zip(counts) {
                *rate = f64::from(count) / hours;
            }
        }
        ArrivalRates { per_hour }
    }
}

/// Everything a replay needs besides the queue.
#[derive(Clone, Debug)]
pub struct Staffing<'a> {
    /// Nurses working the queue; 0 is treated as 1 (a pessimistic time, not "never").
    pub nurses: u32,
    /// When nurses now busy with a claimed case will be free (one entry per busy nurse).
    pub busy_until: Vec<DateTime<Utc>>,
    pub handling: &'a HandlingTimes,
    pub hours: &'a OpeningHours,
    pub targets: &'a LevelTargets,
    /// Recent flat rate: used where `forecast` does not reach (or is `None`).
    pub arrivals: ArrivalRates,
    /// Expected arrivals per coming hour (the learnt profile), if any.
    pub forecast: Option<&'a ArrivalForecast>,
    /// No callback starts before this (e.g. the day's capacity is used up).
    pub not_before: Option<DateTime<Utc>>,
}

/// When `busy` nurses now on a case will likely be free, not knowing when each
/// started: spread evenly over one handling time (the order statistics of a
/// uniform residual), rather than all at once.
pub fn busy_spread(now: DateTime<Utc>, busy: usize, handling: Duration) -> Vec<DateTime<Utc>> {
    let n = u32::try_from(busy).unwrap_or(u32::MAX);
    (1..=n)
        .map(|i| {
            let share = handling.mul_f64(f64::from(i) / (f64::from(n) + 1.0));
            now + TimeDelta::from_std(share).unwrap_or_default()
        })
        .collect()
}

/// A case in the replay: a real one or an expected arrival.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot<Id> {
    Real(Id),
    Expected(u32),
}

/// Replays `cases` (any order) and returns each case's expected start, in queue
/// order. A case gets `None` only when the calendar never opens again.
pub fn replay<Id: Ord + Clone>(
    now: DateTime<Utc>,
    cases: &[QueuedCase<Id>],
    staff: &Staffing<'_>,
) -> Vec<(Id, Option<DateTime<Utc>>)> {
    let earliest = staff.not_before.map_or(now, |t| t.max(now));
    // Nurses by the time they are next free (open time only).
    let mut free: BinaryHeap<Reverse<DateTime<Utc>>> = BinaryHeap::new();
    let nurses = staff.nurses.max(1) as usize;
    let mut busy = staff.busy_until.clone();
    busy.sort();
    for i in 0..nurses {
        let at = busy.get(i).copied().unwrap_or(earliest).max(earliest);
        match staff.hours.open_at_or_after(at) {
            Some(t) => free.push(Reverse(t)),
            None => return cases.iter().map(|c| (c.id.clone(), None)).collect(),
        }
    }

    // Waiting: real cases now; expected ones join when they arrive.
    let mut waiting: BTreeSet<OrderKey<Slot<Id>>> = cases
        .iter()
        .map(|c| {
            let (a, d, r, _) = c.key();
            (a, d, r, Slot::Real(c.id.clone()))
        })
        .collect();
    let last_real = waiting.last().map(|k| (k.0, k.1));
    let mut expected = expected_arrivals(now, staff, last_real);
    expected.reverse(); // pop from the back = earliest first

    let levels: BTreeMap<&Id, Priority> = cases.iter().map(|c| (&c.id, c.priority)).collect();
    let mut out: BTreeMap<OrderKey<Slot<Id>>, Option<DateTime<Utc>>> = BTreeMap::new();
    let mut real_left = cases.len();
    while real_left > 0 {
        let Some(Reverse(at)) = free.pop() else { break };
        while expected.last().is_some_and(|e| e.0 <= at) {
            if let Some((_, key)) = expected.pop() {
                waiting.insert(key);
            }
        }
        let Some(key) = waiting.pop_first() else {
            break;
        };
        let level = match &key.3 {
            Slot::Real(id) => {
                real_left -= 1;
                levels.get(id).copied().unwrap_or(Priority::LOWEST)
            }
            Slot::Expected(level) => Priority::new(*level as u8).unwrap_or(Priority::LOWEST),
        };
        let done = staff
            .hours
            .add_open_time(at, staff.handling.for_level(level))
            .and_then(|t| staff.hours.open_at_or_after(t));
        if let Slot::Real(_) = key.3 {
            out.insert(key, Some(at));
        }
        match done {
            Some(t) => free.push(Reverse(t)),
            None if free.is_empty() => break,
            None => {}
        }
    }
    let mut result: Vec<(Id, Option<DateTime<Utc>>)> = Vec::with_capacity(cases.len());
    let mut seen: BTreeSet<Id> = BTreeSet::new();
    for (key, at) in out {
        if let Slot::Real(id) = key.3 {
            seen.insert(id.clone());
            result.push((id, at));
        }
    }
    // Cases the replay could not place (calendar closed for good) get `None`.
    let mut rest: Vec<&QueuedCase<Id>> = cases.iter().filter(|c| !seen.contains(&c.id)).collect();
    rest.sort_by_key(|c| c.key());
    result.extend(rest.into_iter().map(|c| (c.id.clone(), None)));
    result
}

/// Expected arrivals that would sort before the last real case, earliest first,
/// at each level's expected rate for the hour they fall in.
fn expected_arrivals<Id: Ord + Clone>(
    now: DateTime<Utc>,
    staff: &Staffing<'_>,
    last_real: Option<(bool, DateTime<Utc>)>,
) -> Vec<(DateTime<Utc>, OrderKey<Slot<Id>>)> {
    let Some((last_not_immediate, last_deadline)) = last_real else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for level in 1..=5u8 {
        let Some(p) = Priority::new(level) else {
            continue;
        };
        let Ok(target) = TimeDelta::from_std(staff.targets.target(p)) else {
            continue;
        };
        let not_immediate = !p.is_immediate();
        // Arrivals from `until` on would sort after the last real case.
        let until = if not_immediate || !last_not_immediate {
            last_deadline - target + TimeDelta::milliseconds(1)
        } else {
            last_deadline + IMMEDIATE_TAIL
        };
        let flat = staff
            .arrivals
            .per_hour
            .get(usize::from(level - 1))
            .copied()
            .unwrap_or(0.0);
        let rate = |at: DateTime<Utc>| {
            staff
                .forecast
                .and_then(|f| f.rate(level, at))
                .unwrap_or(flat)
        };
        for at in expected_times(now, until, MAX_VIRTUAL, rate) {
            let deadline = at + target;
            if (not_immediate, deadline) > (last_not_immediate, last_deadline) {
                break;
            }
            out.push((
                at,
                (
                    not_immediate,
                    deadline,
                    at,
                    Slot::Expected(u32::from(level)),
                ),
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    out
}

/// A queued case or the one being estimated; on equal keys the queued one was first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Candidate<Id> {
    Queued(Id),
    New,
}

/// The expected start for one case of `priority` registered now (not yet queued).
pub fn estimate_new<Id: Ord + Clone>(
    now: DateTime<Utc>,
    priority: Priority,
    queued: &[QueuedCase<Id>],
    staff: &Staffing<'_>,
) -> Option<DateTime<Utc>> {
    let deadline = super::deadline_for(now, priority, staff.targets);
    // Only cases ahead of the new one matter for its start.
    let mut cases: Vec<QueuedCase<Candidate<Id>>> = queued
        .iter()
        .filter(|c| (c.key().0, c.deadline) <= (!priority.is_immediate(), deadline))
        .map(|c| QueuedCase {
            id: Candidate::Queued(c.id.clone()),
            priority: c.priority,
            registered_at: c.registered_at,
            deadline: c.deadline,
        })
        .collect();
    cases.push(QueuedCase {
        id: Candidate::New,
        priority,
        registered_at: now,
        deadline,
    });
    replay(now, &cases, staff)
        .into_iter()
        .find(|(id, _)| *id == Candidate::New)
        .and_then(|(_, at)| at)
}

/// Keeps estimates from moving earlier while a case has not moved up the queue,
/// so a time once shown is not replaced by an earlier one on a mere re-replay.
#[derive(Clone, Debug, Default)]
pub struct EstimateBook<Id: Ord> {
    last: BTreeMap<Id, (usize, DateTime<Utc>)>,
}

impl<Id: Ord + Clone> EstimateBook<Id> {
    pub fn new() -> Self {
        EstimateBook {
            last: BTreeMap::new(),
        }
    }

    /// The estimate to show for `id` with `ahead` cases before it: the fresh one,
    /// unless the case has not moved up and the previous one was later.
    pub fn update(&mut self, id: &Id, ahead: usize, fresh: DateTime<Utc>) -> DateTime<Utc> {
        let shown = match self.last.get(id) {
            Some((prev_ahead, prev)) if ahead >= *prev_ahead => fresh.max(*prev),
            _ => fresh,
        };
        self.last.insert(id.clone(), (ahead, shown));
        shown
    }

    /// Forgets cases no longer queued.
    pub fn retain(&mut self, mut keep: impl FnMut(&Id) -> bool) {
        self.last.retain(|id, _| keep(id));
    }
}

#[cfg(test)]
mod tests;
