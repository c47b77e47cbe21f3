//! The one shared queue: urgency levels, queue order and the estimated callback time.
//!
//! Pure code: no SQL and no clock. The store keeps the cases; this module says what
//! the numbers mean: the order ([`order`]), the opening hours ([`hours`]), the
//! replayed estimate ([`replay`]), what the IVR may offer ([`offer`]) and when a
//! failed callback is tried again ([`retry`]).

pub mod arrivals;
pub mod caps;
pub mod estimate;
pub mod forecast;
pub mod hours;
pub mod offer;
pub mod order;
pub mod replay;
pub mod retry;

pub use arrivals::{ArrivalForecast, ArrivalProfile, Correction, HourCount};
pub use caps::{Cap, QueueCaps};
pub use estimate::{
    deadline_for, estimate_callback_at, LevelTargets, QueueConfig, QueueConfigError,
};
pub use hours::{ClosedRoute, Closure, HoursError, OpeningHours, WeeklyHours};
pub use offer::{decide, ClosedReason, Offer, OfferInput, OfferSwitches};
pub use order::{Queue, QueuedCase};
pub use replay::{
    busy_spread, estimate_new, replay, ArrivalRates, EstimateBook, HandlingTimes, Staffing,
};
pub use retry::{AttemptOutcome, RetryConfigError, RetryPolicies, RetryPolicy};

use serde::{Deserialize, Serialize};
use std::fmt;

/// An urgency level 1-5 on the 1177 direkt scale (1 = assess immediately).
///
/// Constructed only through [`Priority::new`] or `TryFrom`, so a value is always in range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Priority(u8);

impl Priority {
    /// Level 1, "Omgående": held live at the head of the queue.
    pub const IMMEDIATE: Priority = Priority(1);
    /// The least urgent level, 5, "Avvakta".
    pub const LOWEST: Priority = Priority(5);

    /// The level, or `None` when `level` is outside 1-5.
    pub fn new(level: u8) -> Option<Priority> {
        (1..=5).contains(&level).then_some(Priority(level))
    }

    /// The level as a number 1-5.
    pub fn level(self) -> u8 {
        self.0
    }

    /// Level 1 goes before every other case regardless of deadline.
    pub fn is_immediate(self) -> bool {
        self.0 == 1
    }
}

/// A level outside 1-5.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("priority {0} is out of range: expected a level from 1 (most urgent) to 5")]
pub struct PriorityOutOfRange(pub i64);

impl TryFrom<u8> for Priority {
    type Error = PriorityOutOfRange;
    fn try_from(level: u8) -> Result<Self, Self::Error> {
        Priority::new(level).ok_or(PriorityOutOfRange(i64::from(level)))
    }
}

impl TryFrom<i64> for Priority {
    type Error = PriorityOutOfRange;
    fn try_from(level: i64) -> Result<Self, Self::Error> {
        u8::try_from(level)
            .ok()
            .and_then(Priority::new)
            .ok_or(PriorityOutOfRange(level))
    }
}

impl From<Priority> for u8 {
    fn from(p: Priority) -> u8 {
        p.0
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Queue-order key of an open case: level 1 first, then earliest deadline, then
/// earliest registration. The store's `ORDER BY` implements the same order; this
/// is the reference for estimators and tests.
pub fn queue_key<T: Ord + Copy>(priority: Priority, deadline: T, registered_at: T) -> (bool, T, T) {
    (!priority.is_immediate(), deadline, registered_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_accepts_only_levels_one_to_five() {
        assert_eq!(Priority::new(0), None);
        assert_eq!(Priority::new(6), None);
        for level in 1..=5u8 {
            assert_eq!(Priority::new(level).map(Priority::level), Some(level));
        }
        assert!(Priority::try_from(-1i64).is_err());
        assert!(Priority::try_from(300i64).is_err());
        assert_eq!(Priority::try_from(3i64).ok(), Priority::new(3));
    }

    #[test]
    fn priority_json_is_a_plain_number_and_validated() {
        let p = Priority::new(2);
        assert_eq!(serde_json::to_string(&p).ok().as_deref(), Some("2"));
        assert!(serde_json::from_str::<Priority>("9").is_err());
        assert_eq!(serde_json::from_str::<Priority>("4").ok(), Priority::new(4));
    }

    #[test]
    fn level_one_sorts_before_an_earlier_deadline() {
        let one = queue_key(Priority::IMMEDIATE, 50, 1);
        let two = queue_key(Priority(2), 10, 0);
        let two_later = queue_key(Priority(2), 10, 5);
        let mut keys = vec![two_later, one, two];
        keys.sort();
        assert_eq!(keys, vec![one, two, two_later]);
    }
}
