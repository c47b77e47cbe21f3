//! First estimate of the callback time and the deadline of a case.
//!
//! Pure functions over numbers the caller fetched: the store counts the open cases
//! ahead (in queue order), this module turns that count into a time. A replay-based
//! estimator using recent handling times comes later; keep this API small.

use super::Priority;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// When a nurse will likely call back a case that has `ahead` open cases before it.
///
/// Model: `nurses` nurses each finish one case per `handling`; the new case is
/// started once the cases ahead have been shared out, i.e. after
/// `floor(ahead / nurses)` rounds. Zero nurses is treated as one, so the answer is a
/// (pessimistic) time rather than "never"; the caller decides about closed hours.
/// Saturates at the latest representable time instead of overflowing.
pub fn estimate_callback_at(
    now: DateTime<Utc>,
    ahead: usize,
    nurses: u32,
    handling: Duration,
) -> DateTime<Utc> {
    let nurses = u64::from(nurses.max(1));
    let rounds = u32::try_from(ahead as u64 / nurses).unwrap_or(u32::MAX);
    handling
        .checked_mul(rounds)
        .and_then(|wait| TimeDelta::from_std(wait).ok())
        .and_then(|wait| now.checked_add_signed(wait))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Deadline of a case: its registration time plus the target of its level.
/// Saturates at the latest representable time instead of overflowing.
pub fn deadline_for(
    registered_at: DateTime<Utc>,
    priority: Priority,
    targets: &LevelTargets,
) -> DateTime<Utc> {
    TimeDelta::from_std(targets.target(priority))
        .ok()
        .and_then(|target| registered_at.checked_add_signed(target))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Time targets per urgency level; index 0 is level 1.
///
/// The values are medical configuration (`sip-config/triage.toml`), passed in by the
/// caller; [`Default`] holds the design's phone targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LevelTargets {
    per_level: [Duration; 5],
}

impl LevelTargets {
    /// Targets for levels 1..=5, in that order.
    pub fn new(per_level: [Duration; 5]) -> LevelTargets {
        LevelTargets { per_level }
    }

    /// The target of one level.
    pub fn target(&self, priority: Priority) -> Duration {
        let index = usize::from(priority.level().saturating_sub(1));
        self.per_level.get(index).copied().unwrap_or(Duration::ZERO)
    }
}

impl Default for LevelTargets {
    /// 3 min, 30 min, 2 h, 8 h, 24 h: the phone targets in DESIGN.md section 3.
    fn default() -> LevelTargets {
        const MIN: u64 = 60;
        LevelTargets::new([
            Duration::from_secs(3 * MIN),
            Duration::from_secs(30 * MIN),
            Duration::from_secs(120 * MIN),
            Duration::from_secs(8 * 60 * MIN),
            Duration::from_secs(24 * 60 * MIN),
        ])
    }
}

/// Staffing figures for the first estimate, and how long a nurse's claim
/// lasts, from `sip-config/queue.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Nurses working the queue right now (1 or more).
    pub nurses_on_duty: u32,
    /// Average minutes a nurse spends on one case, call and notes (1-240).
    pub default_handling_minutes: u32,
    /// A claim nobody renews (the nurse's page is gone, no call is running)
    /// goes back to the queue after this many minutes (2-120).
    #[serde(default = "default_claim_lease_minutes")]
    pub claim_lease_minutes: u32,
    /// Caps on cases per number and on waiting callbacks (`[caps]`).
    #[serde(default)]
    pub caps: super::caps::QueueCaps,
    /// Days after closing that a case's personal data, voice note and
    /// recordings are deleted (1-3650; `retention`).
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
}

/// Closed cases keep their personal data this long by default.
fn default_retention_days() -> u32 {
    365
}

/// From a day (a case closed by mistake can be reopened that long) to ten years.
pub const RETENTION_DAYS_RANGE: std::ops::RangeInclusive<u32> = 1..=3650;

/// Claims last five minutes unless renewed; the nurse page renews every minute.
fn default_claim_lease_minutes() -> u32 {
    5
}

/// At least two minutes, so one missed renewal of the page (every minute)
/// does not end a claim.
pub const CLAIM_LEASE_MINUTES_RANGE: std::ops::RangeInclusive<u32> = 2..=120;

impl Default for QueueConfig {
    fn default() -> QueueConfig {
        QueueConfig {
            nurses_on_duty: 4,
            default_handling_minutes: 12,
            claim_lease_minutes: default_claim_lease_minutes(),
            caps: super::caps::QueueCaps::default(),
            retention_days: default_retention_days(),
        }
    }
}

/// `queue.toml` is not valid TOML or holds a value we cannot use.
#[derive(Debug, thiserror::Error)]
pub enum QueueConfigError {
    #[error("{path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: `{key}` = {value} is out of range: {fix}")]
    OutOfRange {
        path: PathBuf,
        key: &'static str,
        value: u32,
        fix: &'static str,
    },
    /// The `[retry]` table (see [`super::retry`]) is not valid.
    #[error(transparent)]
    Retry(#[from] super::retry::RetryConfigError),
}

impl QueueConfig {
    /// Parses and validates the TOML text of `queue.toml` (read by
    /// the shell's config module); `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<QueueConfig, QueueConfigError> {
        let parse_error = |e: toml::de::Error| QueueConfigError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        };
        let mut table: toml::Table = toml::from_str(text).map_err(parse_error)?;
        // The `[retry]` table is the retry policy's: validated here too, so
        // `check-config` covers it, and read with `RetryPolicy::parse`.
        super::retry::RetryPolicy::from_table_value(table.remove("retry"), path)?;
        let config: QueueConfig = table.try_into().map_err(parse_error)?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), QueueConfigError> {
        if self.nurses_on_duty == 0 {
            return Err(QueueConfigError::OutOfRange {
                path: path.to_path_buf(),
                key: "nurses_on_duty",
                value: self.nurses_on_duty,
                fix: "set at least 1 (the estimate needs someone to work the queue)",
            });
        }
        if !(1..=240).contains(&self.default_handling_minutes) {
            return Err(QueueConfigError::OutOfRange {
                path: path.to_path_buf(),
                key: "default_handling_minutes",
                value: self.default_handling_minutes,
                fix: "use the average minutes per case, between 1 and 240 (e.g. 12)",
            });
        }
        if !CLAIM_LEASE_MINUTES_RANGE.contains(&self.claim_lease_minutes) {
            return Err(QueueConfigError::OutOfRange {
                path: path.to_path_buf(),
                key: "claim_lease_minutes",
                value: self.claim_lease_minutes,
                fix: "use the minutes an unrenewed claim lasts, between 2 and 120 (e.g. 5)",
            });
        }
        if !RETENTION_DAYS_RANGE.contains(&self.retention_days) {
            return Err(QueueConfigError::OutOfRange {
                path: path.to_path_buf(),
                key: "retention_days",
                value: self.retention_days,
                fix: "use the days closed cases keep personal data, between 1 and 3650 (e.g. 365)",
            });
        }
        Ok(())
    }

    /// How long a closed case keeps its personal data.
    pub fn retention(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::days(i64::from(self.retention_days))
    }

    /// How long a claim lasts unless renewed.
    pub fn claim_lease(&self) -> Duration {
        Duration::from_secs(u64::from(self.claim_lease_minutes) * 60)
    }

    /// The default handling time as a duration.
    pub fn handling(&self) -> Duration {
        Duration::from_secs(u64::from(self.default_handling_minutes) * 60)
    }

    /// [`estimate_callback_at`] with this configuration.
    pub fn estimate_callback_at(&self, now: DateTime<Utc>, ahead: usize) -> DateTime<Utc> {
        estimate_callback_at(now, ahead, self.nurses_on_duty, self.handling())
    }
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

    fn mins(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    fn level(n: u8) -> Priority {
        Priority::new(n).unwrap_or(Priority::LOWEST)
    }

    #[test]
    fn empty_queue_is_called_back_now() {
        assert_eq!(estimate_callback_at(t0(), 0, 3, mins(12)), t0());
    }

    #[test]
    fn cases_ahead_are_shared_between_nurses() {
        // 4 ahead, 2 nurses: two full rounds before our turn.
        assert_eq!(
            estimate_callback_at(t0(), 4, 2, mins(12)),
            t0() + TimeDelta::minutes(24)
        );
        // 5 ahead, 2 nurses: still two rounds; the fifth is started alongside us.
        assert_eq!(
            estimate_callback_at(t0(), 5, 2, mins(12)),
            t0() + TimeDelta::minutes(24)
        );
        // Fewer ahead than nurses: a nurse is free now.
        assert_eq!(estimate_callback_at(t0(), 2, 3, mins(12)), t0());
    }

    #[test]
    fn zero_nurses_is_treated_as_one() {
        assert_eq!(
            estimate_callback_at(t0(), 3, 0, mins(10)),
            t0() + TimeDelta::minutes(30)
        );
    }

    #[test]
    fn huge_queue_saturates_instead_of_overflowing() {
        let at = estimate_callback_at(t0(), usize::MAX, 1, Duration::from_secs(u64::MAX / 2));
        assert_eq!(at, DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn estimate_grows_with_cases_ahead() {
        let mut last = t0();
        for ahead in 0..50 {
            let at = estimate_callback_at(t0(), ahead, 3, mins(12));
            assert!(at >= last);
            last = at;
        }
    }

    #[test]
    fn deadline_is_registration_plus_level_target() {
        let targets = LevelTargets::default();
        assert_eq!(
            deadline_for(t0(), level(1), &targets),
            t0() + TimeDelta::minutes(3)
        );
        assert_eq!(
            deadline_for(t0(), level(2), &targets),
            t0() + TimeDelta::minutes(30)
        );
        assert_eq!(
            deadline_for(t0(), level(5), &targets),
            t0() + TimeDelta::hours(24)
        );
        let custom = LevelTargets::new([mins(1), mins(2), mins(3), mins(4), mins(5)]);
        assert_eq!(
            deadline_for(t0(), level(4), &custom),
            t0() + TimeDelta::minutes(4)
        );
    }

    #[test]
    fn queue_config_file_in_repo_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sip-config/queue.toml");
        let config = QueueConfig::parse(&std::fs::read_to_string(&path).unwrap(), &path);
        assert!(config.is_ok(), "{config:?}");
    }

    #[test]
    fn queue_config_parses_and_estimates() {
        let config = QueueConfig::parse(
            "nurses_on_duty = 2\ndefault_handling_minutes = 10\n",
            Path::new("queue.toml"),
        );
        let config = match config {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(config.handling(), mins(10));
        assert_eq!(
            config.estimate_callback_at(t0(), 4),
            t0() + TimeDelta::minutes(20)
        );
        assert_eq!(config.claim_lease(), mins(5), "the default lease");
    }

    #[test]
    fn claim_lease_is_read_and_bounded() {
        let parse = |text: &str| QueueConfig::parse(text, Path::new("queue.toml"));
        let base = "nurses_on_duty = 2\ndefault_handling_minutes = 10\n";
        let config = parse(&format!("{base}claim_lease_minutes = 15\n"));
        assert_eq!(config.ok().map(|c| c.claim_lease()), Some(mins(15)));
        let err = parse(&format!("{base}claim_lease_minutes = 1\n"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("claim_lease_minutes") && err.contains("between 2 and 120"),
            "{err}"
        );
    }

    #[test]
    fn queue_config_error_names_file_key_and_fix() {
        let err = QueueConfig::parse(
            "nurses_on_duty = 0\ndefault_handling_minutes = 12\n",
            Path::new("sip-config/queue.toml"),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("sip-config/queue.toml"), "{err}");
        assert!(err.contains("nurses_on_duty"), "{err}");
        assert!(err.contains("at least 1"), "{err}");

        let err = QueueConfig::parse("nurses = 3\n", Path::new("queue.toml"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("queue.toml") && err.contains("nurses"),
            "{err}"
        );

        let err = QueueConfig::parse(
            "nurses_on_duty = 2\ndefault_handling_minutes = 0\n",
            Path::new("queue.toml"),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("default_handling_minutes"), "{err}");
    }

    #[test]
    fn queue_config_validates_the_retry_table() {
        let ok = QueueConfig::parse(
            "nurses_on_duty = 2\ndefault_handling_minutes = 10\n[retry]\nmax_attempts = 4\n",
            Path::new("queue.toml"),
        );
        assert!(ok.is_ok(), "{ok:?}");
        let err = QueueConfig::parse(
            "nurses_on_duty = 2\ndefault_handling_minutes = 10\n[retry]\ninterval_minutes = 999\n",
            Path::new("sip-config/queue.toml"),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("sip-config/queue.toml"), "{err}");
        assert!(err.contains("retry.interval_minutes"), "{err}");
    }
}
