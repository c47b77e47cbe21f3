//! The queue order in memory: level 1 first, then earliest deadline first, then
//! earliest registration, then id. The store's `ORDER BY` is the same order; this
//! is the reference the estimator replays and the property tests check.
//!
//! Earliest-deadline-first cannot starve a case: anything registered after a
//! case's deadline has a later deadline, so only level 1 can still overtake it.

use super::{queue_key, Priority};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// What the order needs to know about an open case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedCase<Id> {
    pub id: Id,
    pub priority: Priority,
    pub registered_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
}

/// Sort key: (not level 1, deadline, registered, id).
pub type OrderKey<Id> = (bool, DateTime<Utc>, DateTime<Utc>, Id);

impl<Id: Clone> QueuedCase<Id> {
    /// The key this case sorts by.
    pub fn key(&self) -> OrderKey<Id> {
        let (not_immediate, deadline, registered) =
            queue_key(self.priority, self.deadline, self.registered_at);
        (not_immediate, deadline, registered, self.id.clone())
    }
}

/// Open cases in queue order; ids are unique.
#[derive(Clone, Debug)]
pub struct Queue<Id: Ord + Clone> {
    order: BTreeSet<OrderKey<Id>>,
    cases: BTreeMap<Id, QueuedCase<Id>>,
}

impl<Id: Ord + Clone> Default for Queue<Id> {
    fn default() -> Self {
        Queue {
            order: BTreeSet::new(),
            cases: BTreeMap::new(),
        }
    }
}

impl<Id: Ord + Clone> Queue<Id> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a case, replacing one with the same id (a merged repeat call, a new level).
    pub fn insert(&mut self, case: QueuedCase<Id>) {
        self.remove(&case.id);
        self.order.insert(case.key());
        self.cases.insert(case.id.clone(), case);
    }

    /// Takes a case out (claimed, cancelled); `None` if it was not queued.
    pub fn remove(&mut self, id: &Id) -> Option<QueuedCase<Id>> {
        let case = self.cases.remove(id)?;
        self.order.remove(&case.key());
        Some(case)
    }

    /// The case a nurse should take next.
    pub fn next(&self) -> Option<&QueuedCase<Id>> {
        self.order.first().and_then(|k| self.cases.get(&k.3))
    }

    /// Removes and returns the next case.
    pub fn pop_next(&mut self) -> Option<QueuedCase<Id>> {
        let key = self.order.pop_first()?;
        self.cases.remove(&key.3)
    }

    /// All cases, most urgent first.
    pub fn iter(&self) -> impl Iterator<Item = &QueuedCase<Id>> + '_ {
        self.order.iter().filter_map(|k| self.cases.get(&k.3))
    }

    /// How many cases are ahead of `id` (0 = next); `None` if not queued.
    pub fn position(&self, id: &Id) -> Option<usize> {
        let key = self.cases.get(id)?.key();
        Some(self.order.range(..key).count())
    }

    /// How many queued cases a new case with this key would have ahead of it.
    pub fn ahead_of(&self, priority: Priority, deadline: DateTime<Utc>) -> usize {
        let (not_immediate, deadline, _) = queue_key(priority, deadline, deadline);
        self.order
            .iter()
            .take_while(|k| (k.0, k.1) <= (not_immediate, deadline))
            .count()
    }

    /// Cases past their deadline at `now`, most urgent first (the supervisor's alert list).
    pub fn overdue(&self, now: DateTime<Utc>) -> impl Iterator<Item = &QueuedCase<Id>> + '_ {
        self.iter().filter(move |c| c.deadline < now)
    }

    /// When the next case that is not yet overdue at `now` becomes overdue.
    pub fn next_alert(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cases
            .values()
            .map(|c| c.deadline)
            .filter(|d| *d >= now)
            .min()
    }

    pub fn len(&self) -> usize {
        self.cases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }
}

impl<Id: Ord + Clone> FromIterator<QueuedCase<Id>> for Queue<Id> {
    fn from_iter<T: IntoIterator<Item = QueuedCase<Id>>>(iter: T) -> Self {
        let mut q = Queue::new();
        for c in iter {
            q.insert(c);
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{deadline_for, LevelTargets};
    use chrono::{TimeDelta, TimeZone};
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 3, 9, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    fn case(id: u32, level: u8, at_min: i64) -> QueuedCase<u32> {
        let p = Priority::new(level).unwrap_or(Priority::LOWEST);
        let at = t0() + TimeDelta::minutes(at_min);
        QueuedCase {
            id,
            priority: p,
            registered_at: at,
            deadline: deadline_for(at, p, &LevelTargets::default()),
        }
    }

    #[test]
    fn level_one_goes_first_then_earliest_deadline() {
        let q: Queue<u32> = [case(1, 4, 0), case(2, 2, 10), case(3, 1, 20), case(4, 3, 0)]
            .into_iter()
            .collect();
        let ids: Vec<u32> = q.iter().map(|c| c.id).collect();
        // level 1; L2 deadline 09:40; L3 deadline 11:00; L4 deadline 17:00.
        assert_eq!(ids, vec![3, 2, 4, 1]);
        assert_eq!(q.position(&4), Some(2));
        assert_eq!(q.next().map(|c| c.id), Some(3));
    }

    #[test]
    fn reinsert_replaces_the_case() {
        let mut q: Queue<u32> = [case(1, 5, 0), case(2, 4, 0)].into_iter().collect();
        q.insert(case(1, 2, 0));
        assert_eq!(q.len(), 2);
        assert_eq!(q.next().map(|c| c.id), Some(1));
        assert_eq!(q.remove(&1).map(|c| c.priority.level()), Some(2));
        assert_eq!(q.remove(&1), None);
    }

    #[test]
    fn overdue_and_next_alert() {
        let q: Queue<u32> = [case(1, 2, 0), case(2, 3, 0)].into_iter().collect();
        let now = t0() + TimeDelta::minutes(31);
        let late: Vec<u32> = q.overdue(now).map(|c| c.id).collect();
        assert_eq!(late, vec![1]);
        assert_eq!(q.next_alert(now), Some(t0() + TimeDelta::minutes(120)));
    }

    #[test]
    fn ahead_of_counts_ties_as_ahead() {
        let q: Queue<u32> = [case(1, 3, 0), case(2, 3, 5)].into_iter().collect();
        let d = t0() + TimeDelta::minutes(120);
        assert_eq!(
            q.ahead_of(Priority::new(3).unwrap_or(Priority::LOWEST), d),
            1
        );
        assert_eq!(q.ahead_of(Priority::IMMEDIATE, d), 0);
    }

    fn arrivals() -> impl Strategy<Value = Vec<(u8, i64)>> {
        // (level, minutes after the previous arrival); level 1 rare.
        prop::collection::vec(
            (prop_oneof![1 => Just(1u8), 9 => 2u8..=5], 0i64..20),
            1..120,
        )
    }

    proptest! {
        /// A more urgent case registered later is never called after a less urgent
        /// one with a later deadline, whatever happened in between.
        #[test]
        fn later_more_urgent_case_with_earlier_deadline_goes_first(
            arr in arrivals(),
            serve_every in 1usize..4,
        ) {
            let mut q = Queue::new();
            // (case, step registered, step served)
            let mut served: Vec<(QueuedCase<u32>, usize, usize)> = Vec::new();
            let mut reg_step = BTreeMap::new();
            let mut at = 0i64;
            let mut step = 0usize;
            for (i, (level, gap)) in arr.iter().enumerate() {
                at += gap;
                step = i;
                q.insert(case(i as u32, *level, at));
                reg_step.insert(i as u32, i);
                if i % serve_every == 0 {
                    if let Some(c) = q.pop_next() { served.push((c, i, i)); }
                }
            }
            while let Some(c) = q.pop_next() {
                step += 1;
                served.push((c, 0, step));
            }
            prop_assert_eq!(served.len(), arr.len());
            for (i, (a, _, served_a)) in served.iter().enumerate() {
                for (b, _, _) in &served[i + 1..] {
                    let b_registered = reg_step.get(&b.id).copied().unwrap_or(usize::MAX);
                    let b_was_waiting = b_registered <= *served_a;
                    prop_assert!(!(b_was_waiting && b.key() < a.key()),
                        "{:?} served before the more urgent {:?}", a, b);
                }
            }
        }

        /// With new cases arriving forever exactly as fast as nurses work, every
        /// case is served: after its deadline only level 1 can overtake it.
        #[test]
        fn no_case_is_skipped_forever(arr in arrivals(), backlog in 0usize..10) {
            let mut q = Queue::new();
            let mut id = 0u32;
            for _ in 0..backlog {
                q.insert(case(id, 5, 0));
                id += 1;
            }
            let mut at = 0i64;
            let mut step = 0usize;
            while at < 3 * 24 * 60 {
                let (level, gap) = arr[step % arr.len()];
                step += 1;
                at += gap.max(1);
                // A level-1 arrival comes with an ordinary one; nurses take both.
                let mut arriving = vec![level.max(2)];
                if level == 1 {
                    arriving.push(1);
                }
                for l in &arriving {
                    q.insert(case(id, *l, at));
                    id += 1;
                }
                for _ in &arriving {
                    let Some(c) = q.pop_next() else { break };
                    for other in q.iter() {
                        prop_assert!(other.key() > c.key());
                    }
                }
            }
            // Everything still waiting registered in the last two days.
            for c in q.iter() {
                prop_assert!(c.registered_at > t0() + TimeDelta::hours(24), "{:?} starved", c);
            }
        }
    }
}
