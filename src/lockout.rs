//! Failed-authentication counting with growing lockouts, sans-IO: the same
//! policy for staff sign-ins (counted in the database, see `store::lockouts`)
//! and for SIP REGISTER digests (counted in memory by [`Tracker`]).
//!
//! `max_failures` failures within `window` lock the key (an account, a user
//! name or a source address) for `base_lock`; each further lockout of the same
//! key doubles that, up to `max_lock`. A success clears the key.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How many failures lock, for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures within `window` that lock the key.
    pub max_failures: u32,
    /// Failures older than this no longer count.
    pub window: Duration,
    /// The first lockout's length.
    pub base_lock: Duration,
    /// The longest lockout (doubling stops here).
    pub max_lock: Duration,
}

impl Policy {
    /// For one account or user name: 5 failures in 15 minutes lock it for
    /// 5 minutes, then 10, 20, ... up to an hour.
    pub const PER_ACCOUNT: Policy = Policy {
        max_failures: 5,
        window: Duration::from_secs(900),
        base_lock: Duration::from_secs(300),
        max_lock: Duration::from_secs(3600),
    };

    /// For one client address: more failures (a ward's nurses may share one
    /// NAT address), the same times.
    pub const PER_ADDRESS: Policy = Policy {
        max_failures: 20,
        ..Policy::PER_ACCOUNT
    };

    /// The length of the lockout that follows `previous` earlier lockouts.
    pub fn lock_for(&self, previous: u32) -> Duration {
        let factor = 1u32.checked_shl(previous.min(16)).unwrap_or(u32::MAX);
        self.base_lock
            .checked_mul(factor)
            .unwrap_or(self.max_lock)
            .min(self.max_lock)
    }

    /// One more failure of a key that has `failures` counted in the window
    /// (0 when the window has passed) and `lockouts` earlier lockouts.
    pub fn after_failure(&self, failures: u32, lockouts: u32) -> Step {
        let failures = failures.saturating_add(1);
        if failures < self.max_failures {
            return Step {
                failures,
                lockouts,
                lock: None,
            };
        }
        Step {
            failures: 0,
            lockouts: lockouts.saturating_add(1),
            lock: Some(self.lock_for(lockouts)),
        }
    }
}

/// A key's counters after a failure, and the lock it starts, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub failures: u32,
    pub lockouts: u32,
    pub lock: Option<Duration>,
}

/// One key's failure count and lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub failures: u32,
    pub last_failure: Instant,
    pub locked_until: Option<Instant>,
    /// Lockouts so far (the next one lasts twice as long).
    pub lockouts: u32,
}

/// In-memory counters per key (for one node's SIP registrar).
#[derive(Debug)]
pub struct Tracker<K> {
    policy: Policy,
    entries: HashMap<K, Entry>,
    /// Keys kept at most (an attacker cycling user names cannot grow it
    /// without bound; the oldest quiet keys go first).
    capacity: usize,
}

impl<K: Hash + Eq + Clone> Tracker<K> {
    pub fn new(policy: Policy, capacity: usize) -> Self {
        Tracker {
            policy,
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Until when `key` is locked, if it is now.
    pub fn locked_until(&self, key: &K, now: Instant) -> Option<Instant> {
        self.entries
            .get(key)
            .and_then(|e| e.locked_until)
            .filter(|t| *t > now)
    }

    /// Counts a failure; returns the new lock's end when this one locks the key.
    pub fn fail(&mut self, key: &K, now: Instant) -> Option<Instant> {
        if !self.entries.contains_key(key) && self.entries.len() >= self.capacity {
            self.evict(now);
        }
        let policy = self.policy;
        let entry = self.entries.entry(key.clone()).or_insert(Entry {
            failures: 0,
            last_failure: now,
            locked_until: None,
            lockouts: 0,
        });
        let counted = if now.saturating_duration_since(entry.last_failure) > policy.window {
            0
        } else {
            entry.failures
        };
        let step = policy.after_failure(counted, entry.lockouts);
        entry.failures = step.failures;
        entry.lockouts = step.lockouts;
        entry.last_failure = now;
        let until = now + step.lock?;
        entry.locked_until = Some(until);
        Some(until)
    }

    /// A success: forget the key.
    pub fn succeed(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Lifts a lock (and its history) by hand.
    pub fn lift(&mut self, key: &K) -> bool {
        self.entries.remove(key).is_some()
    }

    /// Keys locked now, with the end of their lock.
    pub fn locked(&self, now: Instant) -> Vec<(K, Instant)> {
        self.entries
            .iter()
            .filter_map(|(k, e)| e.locked_until.filter(|t| *t > now).map(|t| (k.clone(), t)))
            .collect()
    }

    /// Drops keys that are neither locked nor failed recently, then (if still
    /// full) the quietest ones.
    fn evict(&mut self, now: Instant) {
        let window = self.policy.window;
        let max_lock = self.policy.max_lock;
        self.entries.retain(|_, e| {
            e.locked_until.is_some_and(|t| t > now)
                || now.saturating_duration_since(e.last_failure) <= window.max(max_lock)
        });
        while self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .filter(|(_, e)| e.locked_until.is_none_or(|t| t <= now))
                .min_by_key(|(_, e)| e.last_failure)
                .or_else(|| self.entries.iter().min_by_key(|(_, e)| e.last_failure))
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    self.entries.remove(&k);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            max_failures: 3,
            window: Duration::from_secs(60),
            base_lock: Duration::from_secs(10),
            max_lock: Duration::from_secs(35),
        }
    }

    #[test]
    fn lockouts_double_up_to_the_maximum() {
        let p = policy();
        assert_eq!(p.lock_for(0), Duration::from_secs(10));
        assert_eq!(p.lock_for(1), Duration::from_secs(20));
        assert_eq!(p.lock_for(2), Duration::from_secs(35));
        assert_eq!(p.lock_for(40), Duration::from_secs(35));
    }

    #[test]
    fn third_failure_locks_and_the_lock_ends() {
        let t0 = Instant::now();
        let mut t = Tracker::new(policy(), 100);
        assert_eq!(t.fail(&"anna", t0), None);
        assert_eq!(t.fail(&"anna", t0), None);
        let until = t.fail(&"anna", t0);
        assert_eq!(until, Some(t0 + Duration::from_secs(10)));
        assert_eq!(t.locked_until(&"anna", t0), until);
        assert_eq!(t.locked_until(&"bo", t0), None);
        assert_eq!(t.locked_until(&"anna", t0 + Duration::from_secs(10)), None);
        // The second lockout is twice as long.
        let later = t0 + Duration::from_secs(11);
        t.fail(&"anna", later);
        t.fail(&"anna", later);
        assert_eq!(
            t.fail(&"anna", later),
            Some(later + Duration::from_secs(20))
        );
        assert_eq!(t.locked(later).len(), 1);
        assert!(t.lift(&"anna"));
        assert_eq!(t.locked_until(&"anna", later), None);
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let t0 = Instant::now();
        let mut t = Tracker::new(policy(), 100);
        t.fail(&"anna", t0);
        t.fail(&"anna", t0);
        assert_eq!(t.fail(&"anna", t0 + Duration::from_secs(61)), None);
        t.succeed(&"anna");
        assert_eq!(t.fail(&"anna", t0 + Duration::from_secs(62)), None);
    }

    #[test]
    fn a_full_tracker_keeps_locked_keys_and_stays_bounded() {
        let t0 = Instant::now();
        let mut t = Tracker::new(policy(), 4);
        for _ in 0..3 {
            t.fail(&0u32, t0);
        }
        for k in 1..9u32 {
            t.fail(&k, t0 + Duration::from_secs(u64::from(k)));
        }
        assert!(t.entries.len() <= 4);
        assert!(t.locked_until(&0, t0 + Duration::from_secs(5)).is_some());
    }
}
