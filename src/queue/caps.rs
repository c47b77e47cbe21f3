//! Caps against flooding the queue (DESIGN.md section 3, anti-fraud): cases
//! per callback number per day, and waiting callbacks in total. Read from the
//! `[caps]` table of `queue.toml`; the store enforces them when it registers
//! a case from either channel.

use serde::Deserialize;

/// The `[caps]` table of `queue.toml`. `0` turns a cap off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueCaps {
    /// Cases one callback number may register in 24 hours (both channels,
    /// any status, held calls included).
    pub per_number_per_day: u32,
    /// Waiting callback cases in total; beyond it new callbacks are refused
    /// (a caller on the line may still hold for a nurse).
    pub max_pending_callbacks: u32,
    /// Red-flag phone cases one number may leave as callbacks (the caller
    /// hung up before a nurse answered) in 24 hours; further ones go to the
    /// review list (`repeated_red_flags`) instead of the top of the queue.
    pub red_flags_per_number_per_day: u32,
}

impl Default for QueueCaps {
    fn default() -> QueueCaps {
        QueueCaps {
            per_number_per_day: 20,
            max_pending_callbacks: 5000,
            red_flags_per_number_per_day: 3,
        }
    }
}

/// Which cap refused a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cap {
    PerNumber,
    PendingTotal,
}

impl Cap {
    /// Every cap, for counters.
    pub const ALL: [Cap; 2] = [Cap::PerNumber, Cap::PendingTotal];

    /// The label on `/metrics` and in the audit detail.
    pub fn as_str(self) -> &'static str {
        match self {
            Cap::PerNumber => "per_number",
            Cap::PendingTotal => "pending_total",
        }
    }
}

impl std::fmt::Display for Cap {
    /// What a client is told (no number in it).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cap::PerNumber => {
                "this callback number has registered too many cases in the last 24 hours \
                 (per_number_per_day in queue.toml); the case was not registered"
            }
            Cap::PendingTotal => {
                "the callback queue is full (max_pending_callbacks in queue.toml); \
                 the case was not registered"
            }
        })
    }
}

impl QueueCaps {
    /// No caps (a store opened without `queue.toml`: tools and tests).
    pub const OFF: QueueCaps = QueueCaps {
        per_number_per_day: 0,
        max_pending_callbacks: 0,
        red_flags_per_number_per_day: 0,
    };

    /// Whether a red-flag callback from a number that left `count` of them
    /// in 24 hours (this one included) goes to the review list.
    pub fn red_flags_repeated(&self, count: u64) -> bool {
        over(self.red_flags_per_number_per_day, Some(count))
    }

    /// The cap a new case breaks, given how many cases its number registered
    /// in 24 h and how many callbacks wait, both counting the new case.
    pub fn broken(&self, from_number: Option<u64>, pending: Option<u64>) -> Option<Cap> {
        if over(self.per_number_per_day, from_number) {
            Some(Cap::PerNumber)
        } else if over(self.max_pending_callbacks, pending) {
            Some(Cap::PendingTotal)
        } else {
            None
        }
    }
}

/// `n` is beyond `cap` (0: no cap).
fn over(cap: u32, n: Option<u64>) -> bool {
    cap > 0 && n.is_some_and(|n| n > u64::from(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_bites_only_beyond_its_limit_and_zero_turns_it_off() {
        let caps = QueueCaps {
            per_number_per_day: 2,
            max_pending_callbacks: 10,
            red_flags_per_number_per_day: 3,
        };
        assert_eq!(caps.broken(Some(2), Some(10)), None);
        assert_eq!(caps.broken(Some(3), Some(1)), Some(Cap::PerNumber));
        assert_eq!(caps.broken(None, Some(11)), Some(Cap::PendingTotal));
        assert_eq!(caps.broken(Some(1), None), None);
        assert!(!caps.red_flags_repeated(3));
        assert!(caps.red_flags_repeated(4));
        let off = QueueCaps::OFF;
        assert_eq!(off.broken(Some(100), Some(100)), None);
        assert!(!off.red_flags_repeated(100));
    }
}
