//! How often we try to reach a resident: after a failed callback attempt the case
//! goes back to the queue until `interval` has passed, and after `max_attempts`
//! failed attempts it is marked unreachable, or, at an urgent level (up to
//! `review_up_to_level`), goes to the review list for a nurse instead.
//!
//! Pure: the caller passes the time in. The policy is configuration, the `[retry]`
//! table of `sip-config/queue.toml`:
//!
//! ```toml
//! [retry]
//! max_attempts = 3       # failed attempts before the case is unreachable (1-10)
//! interval_minutes = 10  # earliest next attempt after a failed one (1-240)
//! review_up_to_level = 2 # levels 1..=this go to review, never closed (1-5)
//!
//! [retry.level.2]        # a level of its own (keys left out: as above)
//! max_attempts = 5
//! interval_minutes = 5
//! ```
//!
//! A retried case keeps its deadline, so it keeps its place in the queue order; it
//! is only held back from `claim-next` until its next attempt time.

use super::Priority;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bounds that keep a typo from becoming a problem.
pub const MAX_ATTEMPTS_RANGE: std::ops::RangeInclusive<u32> = 1..=10;
/// Minutes between attempts, at least one and at most four hours.
pub const INTERVAL_MINUTES_RANGE: std::ops::RangeInclusive<u32> = 1..=240;
/// Level 1 is always reviewed: an urgent case is never closed silently.
pub const REVIEW_UP_TO_LEVEL_RANGE: std::ops::RangeInclusive<u8> = 1..=5;

/// When a failed callback is tried again, and when we give up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Failed attempts after which the case is unreachable (1 or more).
    pub max_attempts: u32,
    /// Earliest time from a failed attempt to the next one.
    pub interval: chrono::Duration,
}

impl Default for RetryPolicy {
    /// Three attempts, ten minutes apart.
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            interval: TimeDelta::minutes(10),
        }
    }
}

/// The retry policy of each urgency level: `[retry]`, and `[retry.level.N]`
/// where a level needs more tries or a shorter wait; and which levels go to
/// the review list after their last attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicies {
    default: RetryPolicy,
    /// Index 0 = level 1.
    levels: [Option<RetryPolicy>; 5],
    /// Levels 1 to this go to review after the last attempt.
    review_up_to_level: u8,
}

impl Default for RetryPolicies {
    /// [`RetryPolicy::default`] for every level; levels 1-2 are reviewed.
    fn default() -> RetryPolicies {
        RetryPolicy::default().into()
    }
}

impl From<RetryPolicy> for RetryPolicies {
    /// One policy for every level; levels 1-2 are reviewed.
    fn from(policy: RetryPolicy) -> RetryPolicies {
        RetryPolicies {
            default: policy,
            levels: [None; 5],
            review_up_to_level: default_review_up_to_level(),
        }
    }
}

impl RetryPolicies {
    /// The step after a failed attempt at `now` on a case of `level` (see
    /// [`RetryPolicy::after_failure`]); where that says unreachable, a level up
    /// to `review_up_to_level` goes to review instead.
    pub fn after_failure(
        &self,
        level: Priority,
        failed_attempts: u32,
        now: DateTime<Utc>,
    ) -> AttemptOutcome {
        match self.for_level(level).after_failure(failed_attempts, now) {
            AttemptOutcome::Unreachable if level.level() <= self.review_up_to_level => {
                AttemptOutcome::Review
            }
            other => other,
        }
    }

    /// The policy for a case of `level`.
    pub fn for_level(&self, level: Priority) -> RetryPolicy {
        self.levels
            .get(usize::from(level.level()).saturating_sub(1))
            .copied()
            .flatten()
            .unwrap_or(self.default)
    }

    /// Parses `[retry]` and its `[retry.level.N]` tables out of the TOML text
    /// of `queue.toml`; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<RetryPolicies, RetryConfigError> {
        let section = RetrySection::from_text(text, path)?;
        let default = section.policy(path)?;
        let mut levels = [None; 5];
        for (key, level) in &section.level {
            let slot = key
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .and_then(|n| levels.get_mut(n - 1))
                .ok_or_else(|| RetryConfigError::Parse {
                    path: path.to_path_buf(),
                    message: format!("[retry.level.{key}]: a level is 1 to 5"),
                })?;
            *slot = Some(
                RetrySection {
                    max_attempts: level.max_attempts.unwrap_or(section.max_attempts),
                    interval_minutes: level.interval_minutes.unwrap_or(section.interval_minutes),
                    ..RetrySection::default()
                }
                .policy(path)?,
            );
        }
        Ok(RetryPolicies {
            default,
            levels,
            review_up_to_level: section.review_up_to_level,
        })
    }
}

/// What follows one callback attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The resident answered: the nurse goes on with the case.
    Connected,
    /// Back in the queue; not handed out by claim-next before this time.
    RetryAt(DateTime<Utc>),
    /// The last attempt failed: the case is closed as unreachable.
    Unreachable,
    /// The last attempt failed on an urgent case: it waits in the review list
    /// for a nurse (never closed, never dialled automatically).
    Review,
}

impl RetryPolicy {
    /// The step after a failed attempt at `now`, where `failed_attempts` counts the
    /// failed attempts of the case including this one. Another try `interval` from
    /// now while fewer than `max_attempts` have failed, otherwise unreachable.
    /// Saturates at the latest representable time instead of overflowing.
    pub fn after_failure(&self, failed_attempts: u32, now: DateTime<Utc>) -> AttemptOutcome {
        if failed_attempts >= self.max_attempts {
            return AttemptOutcome::Unreachable;
        }
        AttemptOutcome::RetryAt(
            now.checked_add_signed(self.interval)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        )
    }

    /// Parses the `[retry]` table out of the TOML text of `queue.toml` (defaults
    /// when the table or a key is missing) and validates it; `path` only names the
    /// file in errors. Other keys of the file are not looked at here.
    pub fn parse(text: &str, path: &Path) -> Result<RetryPolicy, RetryConfigError> {
        RetrySection::from_text(text, path)?.policy(path)
    }

    /// The policy from the value of the `retry` key, if present (shared with the
    /// queue configuration, so `check-config` validates it too).
    pub(crate) fn from_table_value(
        value: Option<toml::Value>,
        path: &Path,
    ) -> Result<RetryPolicy, RetryConfigError> {
        RetrySection::from_value(value, path)?.policy(path)
    }
}

/// The `[retry]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetrySection {
    #[serde(default = "default_max_attempts")]
    max_attempts: u32,
    #[serde(default = "default_interval_minutes")]
    interval_minutes: u32,
    #[serde(default = "default_review_up_to_level")]
    review_up_to_level: u8,
    /// `[retry.level.N]`: a level of its own.
    #[serde(default)]
    level: BTreeMap<String, LevelSection>,
}

/// A `[retry.level.N]` table; a key left out is the `[retry]` one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelSection {
    max_attempts: Option<u32>,
    interval_minutes: Option<u32>,
}

fn default_max_attempts() -> u32 {
    3
}

fn default_interval_minutes() -> u32 {
    10
}

fn default_review_up_to_level() -> u8 {
    2
}

impl Default for RetrySection {
    fn default() -> RetrySection {
        RetrySection {
            max_attempts: default_max_attempts(),
            interval_minutes: default_interval_minutes(),
            review_up_to_level: default_review_up_to_level(),
            level: BTreeMap::new(),
        }
    }
}

impl RetrySection {
    fn from_text(text: &str, path: &Path) -> Result<RetrySection, RetryConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| RetryConfigError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        RetrySection::from_value(table.remove("retry"), path)
    }

    fn from_value(
        value: Option<toml::Value>,
        path: &Path,
    ) -> Result<RetrySection, RetryConfigError> {
        match value {
            None => Ok(RetrySection::default()),
            Some(v) => v
                .try_into()
                .map_err(|e: toml::de::Error| RetryConfigError::Parse {
                    path: path.to_path_buf(),
                    message: format!("[retry]: {}", e.message()),
                }),
        }
    }

    fn policy(&self, path: &Path) -> Result<RetryPolicy, RetryConfigError> {
        if !MAX_ATTEMPTS_RANGE.contains(&self.max_attempts) {
            return Err(RetryConfigError::OutOfRange {
                path: path.to_path_buf(),
                key: "retry.max_attempts",
                value: self.max_attempts,
                fix: "use the number of callback attempts before a case is unreachable, 1 to 10 (e.g. 3)",
            });
        }
        if !INTERVAL_MINUTES_RANGE.contains(&self.interval_minutes) {
            return Err(RetryConfigError::OutOfRange {
                path: path.to_path_buf(),
                key: "retry.interval_minutes",
                value: self.interval_minutes,
                fix: "use the minutes to wait before calling again, 1 to 240 (e.g. 10)",
            });
        }
        if !REVIEW_UP_TO_LEVEL_RANGE.contains(&self.review_up_to_level) {
            return Err(RetryConfigError::OutOfRange {
                path: path.to_path_buf(),
                key: "retry.review_up_to_level",
                value: u32::from(self.review_up_to_level),
                fix: "use the least urgent level that goes to the review list after its last attempt, 1 to 5 (e.g. 2)",
            });
        }
        Ok(RetryPolicy {
            max_attempts: self.max_attempts,
            interval: TimeDelta::minutes(i64::from(self.interval_minutes)),
        })
    }
}

/// The `[retry]` table of `queue.toml` is not valid TOML or holds a value we cannot use.
#[derive(Debug, thiserror::Error)]
pub enum RetryConfigError {
    #[error("{path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: `{key}` = {value} is out of range: {fix}")]
    OutOfRange {
        path: PathBuf,
        key: &'static str,
        value: u32,
        fix: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    fn parse(text: &str) -> Result<RetryPolicy, String> {
        RetryPolicy::parse(text, Path::new("sip-config/queue.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn failed_attempt_before_the_last_is_retried_after_the_interval() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.after_failure(1, t0()),
            AttemptOutcome::RetryAt(t0() + TimeDelta::minutes(10))
        );
        assert_eq!(
            policy.after_failure(2, t0()),
            AttemptOutcome::RetryAt(t0() + TimeDelta::minutes(10))
        );
    }

    #[test]
    fn last_failed_attempt_makes_the_case_unreachable() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.after_failure(3, t0()), AttemptOutcome::Unreachable);
        // Attempts recorded beyond the limit (e.g. a lowered limit) stay unreachable.
        assert_eq!(policy.after_failure(7, t0()), AttemptOutcome::Unreachable);
        let once = RetryPolicy {
            max_attempts: 1,
            interval: TimeDelta::minutes(5),
        };
        assert_eq!(once.after_failure(1, t0()), AttemptOutcome::Unreachable);
    }

    #[test]
    fn retry_time_saturates_instead_of_overflowing() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.after_failure(1, DateTime::<Utc>::MAX_UTC),
            AttemptOutcome::RetryAt(DateTime::<Utc>::MAX_UTC)
        );
    }

    #[test]
    fn missing_retry_table_gives_the_defaults() {
        assert_eq!(
            parse("nurses_on_duty = 4\ndefault_handling_minutes = 12\n"),
            Ok(RetryPolicy::default())
        );
        assert_eq!(
            parse("[retry]\nmax_attempts = 5\n"),
            Ok(RetryPolicy {
                max_attempts: 5,
                interval: TimeDelta::minutes(10)
            })
        );
    }

    #[test]
    fn retry_table_is_read() {
        assert_eq!(
            parse("nurses_on_duty = 4\n[retry]\nmax_attempts = 2\ninterval_minutes = 30\n"),
            Ok(RetryPolicy {
                max_attempts: 2,
                interval: TimeDelta::minutes(30)
            })
        );
    }

    #[test]
    fn retry_error_names_file_key_and_fix() {
        let err = parse("[retry]\nmax_attempts = 0\n")
            .err()
            .unwrap_or_default();
        assert!(err.contains("sip-config/queue.toml"), "{err}");
        assert!(err.contains("retry.max_attempts"), "{err}");
        assert!(err.contains("1 to 10"), "{err}");

        let err = parse("[retry]\ninterval_minutes = 0\n")
            .err()
            .unwrap_or_default();
        assert!(err.contains("retry.interval_minutes"), "{err}");
        assert!(err.contains("1 to 240"), "{err}");

        let err = parse("[retry]\nattempts = 3\n").err().unwrap_or_default();
        assert!(
            err.contains("queue.toml") && err.contains("[retry]") && err.contains("attempts"),
            "{err}"
        );

        let err = parse("retry = 3\n").err().unwrap_or_default();
        assert!(err.contains("[retry]"), "{err}");
    }

    #[test]
    fn queue_config_file_in_repo_has_a_valid_retry_table() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sip-config/queue.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            RetryPolicy::parse(&text, &path).ok(),
            Some(RetryPolicy::default())
        );
    }

    #[test]
    fn last_failed_attempt_sends_urgent_levels_to_review() {
        let text = "[retry]\nmax_attempts = 3\nreview_up_to_level = 2\n";
        let p = RetryPolicies::parse(text, Path::new("queue.toml")).unwrap();
        let level = |n| Priority::new(n).unwrap();
        assert_eq!(p.after_failure(level(1), 3, t0()), AttemptOutcome::Review);
        assert_eq!(p.after_failure(level(2), 3, t0()), AttemptOutcome::Review);
        assert_eq!(
            p.after_failure(level(3), 3, t0()),
            AttemptOutcome::Unreachable
        );
        assert_eq!(
            p.after_failure(level(2), 2, t0()),
            AttemptOutcome::RetryAt(t0() + TimeDelta::minutes(10)),
            "before the last attempt an urgent case is simply retried"
        );
        let only_one =
            RetryPolicies::parse("[retry]\nreview_up_to_level = 1\n", Path::new("queue.toml"))
                .unwrap();
        assert_eq!(
            only_one.after_failure(level(2), 3, t0()),
            AttemptOutcome::Unreachable
        );
        assert_eq!(
            RetryPolicies::default().after_failure(level(2), 3, t0()),
            AttemptOutcome::Review,
            "levels 1-2 by default"
        );
        let err = RetryPolicies::parse("[retry]\nreview_up_to_level = 0\n", Path::new("q.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("retry.review_up_to_level") && err.contains("1 to 5"),
            "{err}"
        );
    }

    #[test]
    fn a_level_may_have_its_own_attempts_and_spacing() {
        let text = "[retry]\nmax_attempts = 3\ninterval_minutes = 10\n\
                    [retry.level.2]\nmax_attempts = 5\ninterval_minutes = 5\n\
                    [retry.level.1]\ninterval_minutes = 2\n";
        let p = RetryPolicies::parse(text, Path::new("queue.toml")).unwrap();
        let level = |n| p.for_level(Priority::new(n).unwrap());
        assert_eq!(
            level(2),
            RetryPolicy {
                max_attempts: 5,
                interval: TimeDelta::minutes(5)
            }
        );
        assert_eq!(
            level(1),
            RetryPolicy {
                max_attempts: 3,
                interval: TimeDelta::minutes(2)
            },
            "a key left out is the [retry] one"
        );
        assert_eq!(level(4), RetryPolicy::default());
        let err = RetryPolicies::parse("[retry.level.6]\nmax_attempts = 2\n", Path::new("q.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[retry.level.6]") && err.contains("1 to 5"),
            "{err}"
        );
        let err = RetryPolicies::parse("[retry.level.2]\nmax_attempts = 0\n", Path::new("q.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("max_attempts") && err.contains("1 to 10"),
            "{err}"
        );
    }
}
