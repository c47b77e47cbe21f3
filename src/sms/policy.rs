//! What to do after a send, sans IO: the gateway's answer classified
//! ([`classify`]), a row's next step ([`verdict`]: sent, again later with
//! exponential backoff, or failed), and the dispatcher's pause while the
//! gateway fails ([`GatewayHealth`]: one probe per backoff, not a flood).
//! Time comes in as arguments.

use chrono::{DateTime, TimeDelta, Utc};
use std::time::{Duration, Instant};

/// Backoff and give-up (`[retry]` of `sms.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failure; doubles per failure.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// A row still unsent this long after it was queued fails.
    pub give_up_after: Duration,
}

impl RetryPolicy {
    /// The wait after `failures` failures in a row (1 = the first):
    /// `initial * 2^(failures-1)`, at most `max`.
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.initial
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// How a send ended, as far as the outbox cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendResult {
    /// The gateway took it (with its id, when it gave one).
    Accepted { gateway_id: Option<String> },
    /// Worth trying again: no connection, timeout, 5xx, 429.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The gateway refused this message (4xx other than 408/429): not retried.
    Refused { reason: String },
}

/// Classifies an HTTP answer: `reason` is the gateway's own text (already
/// stripped of digits, see `gateway`).
pub fn classify(
    status: u16,
    retry_after: Option<&str>,
    gateway_id: Option<String>,
    reason: Option<&str>,
) -> SendResult {
    let with_reason = |head: String| match reason.filter(|r| !r.is_empty()) {
        Some(r) => format!("{head}: {r}"),
        None => head,
    };
    match status {
        200..=299 => SendResult::Accepted { gateway_id },
        429 => SendResult::Transient {
            reason: "HTTP 429 (rate limited)".into(),
            retry_after: retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        },
        408 => SendResult::Transient {
            reason: "HTTP 408".into(),
            retry_after: None,
        },
        400..=499 => SendResult::Refused {
            reason: with_reason(format!("gateway refused it with HTTP {status}")),
        },
        _ => SendResult::Transient {
            reason: format!("HTTP {status}"),
            retry_after: None,
        },
    }
}

/// A row's next step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Sent { gateway_id: Option<String> },
    RetryAt { at: DateTime<Utc>, reason: String },
    Failed { reason: String },
}

/// The next step for a row queued at `created_at` after its `attempts`-th
/// send ended in `result` at `now`. A transient failure waits
/// [`RetryPolicy::delay`] (or the gateway's `Retry-After`, if longer, up to
/// `max`); past `give_up_after` since queuing the row fails instead.
pub fn verdict(
    policy: &RetryPolicy,
    attempts: u32,
    created_at: DateTime<Utc>,
    result: SendResult,
    now: DateTime<Utc>,
) -> Verdict {
    match result {
        SendResult::Accepted { gateway_id } => Verdict::Sent { gateway_id },
        SendResult::Refused { reason } => Verdict::Failed { reason },
        SendResult::Transient {
            reason,
            retry_after,
        } => {
            let wait = policy
                .delay(attempts)
                .max(retry_after.unwrap_or_default().min(policy.max));
            let at = now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX);
            let give_up = TimeDelta::from_std(policy.give_up_after).unwrap_or(TimeDelta::MAX);
            if at - created_at > give_up {
                Verdict::Failed {
                    reason: format!(
                        "gave up after {} h of failures; last: {reason}",
                        policy.give_up_after.as_secs() / 3600
                    ),
                }
            } else {
                Verdict::RetryAt { at, reason }
            }
        }
    }
}

/// The dispatcher's view of the gateway: after a failure it sends nothing
/// until the backoff has passed, then probes again; a success resets it.
#[derive(Clone, Debug, Default)]
pub struct GatewayHealth {
    failures: u32,
    paused_until: Option<Instant>,
}

impl GatewayHealth {
    /// A send failed at `now`: pause for the next backoff (or `Retry-After`,
    /// if longer, up to `max`). Returns the end of the pause.
    pub fn failed(
        &mut self,
        policy: &RetryPolicy,
        now: Instant,
        retry_after: Option<Duration>,
    ) -> Instant {
        self.failures = self.failures.saturating_add(1);
        let wait = policy
            .delay(self.failures)
            .max(retry_after.unwrap_or_default().min(policy.max));
        let until = now + wait;
        self.paused_until = Some(until);
        until
    }

    /// A send went through: no pause.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.paused_until = None;
    }

    /// Whether the last send failed.
    pub fn failing(&self) -> bool {
        self.failures > 0
    }

    /// How long to wait at `now` before sending (zero: go).
    pub fn wait(&self, now: Instant) -> Duration {
        self.paused_until
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(300),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    #[test]
    fn backoff_doubles_from_initial_up_to_max() {
        let p = policy();
        let waits: Vec<u64> = (1..=9).map(|n| p.delay(n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(p.delay(u32::MAX), p.max);
    }

    #[test]
    fn statuses_are_classified() {
        let ok = classify(201, None, Some("m1".into()), None);
        assert_eq!(
            ok,
            SendResult::Accepted {
                gateway_id: Some("m1".into())
            }
        );
        for status in [500, 502, 503, 504, 408] {
            assert!(
                matches!(
                    classify(status, None, None, None),
                    SendResult::Transient { .. }
                ),
                "{status}"
            );
        }
        assert_eq!(
            classify(429, Some("120"), None, None),
            SendResult::Transient {
                reason: "HTTP 429 (rate limited)".into(),
                retry_after: Some(Duration::from_secs(120)),
            }
        );
        let refused = classify(400, None, None, Some("invalid recipient"));
        assert_eq!(
            refused,
            SendResult::Refused {
                reason: "gateway refused it with HTTP 400: invalid recipient".into()
            }
        );
        assert!(matches!(
            classify(401, None, None, None),
            SendResult::Refused { .. }
        ));
    }

    #[test]
    fn transient_failures_retry_with_backoff_then_give_up() {
        let p = policy();
        let created = t0();
        let fail = || SendResult::Transient {
            reason: "connection refused".into(),
            retry_after: None,
        };
        let v = verdict(&p, 1, created, fail(), created);
        assert_eq!(
            v,
            Verdict::RetryAt {
                at: created + TimeDelta::seconds(5),
                reason: "connection refused".into()
            }
        );
        let later = created + TimeDelta::minutes(10);
        let v = verdict(&p, 4, created, fail(), later);
        assert!(matches!(v, Verdict::RetryAt { at, .. } if at == later + TimeDelta::seconds(40)));
        // The next try would land past 24 h after queuing: failed, counted.
        let late = created + TimeDelta::hours(24) - TimeDelta::seconds(100);
        let v = verdict(&p, 20, created, fail(), late);
        assert!(
            matches!(v, Verdict::Failed { ref reason } if reason.starts_with("gave up after 24 h")),
            "{v:?}"
        );
    }

    #[test]
    fn retry_after_is_honoured_up_to_max() {
        let p = policy();
        let limited = |secs| SendResult::Transient {
            reason: "HTTP 429".into(),
            retry_after: Some(Duration::from_secs(secs)),
        };
        let v = verdict(&p, 1, t0(), limited(60), t0());
        assert!(matches!(v, Verdict::RetryAt { at, .. } if at == t0() + TimeDelta::seconds(60)));
        let v = verdict(&p, 1, t0(), limited(100_000), t0());
        assert!(matches!(v, Verdict::RetryAt { at, .. } if at == t0() + TimeDelta::seconds(300)));
    }

    #[test]
    fn refused_fails_at_once_and_accepted_is_sent() {
        let v = verdict(
            &policy(),
            1,
            t0(),
            SendResult::Refused {
                reason: "HTTP 400".into(),
            },
            t0(),
        );
        assert_eq!(
            v,
            Verdict::Failed {
                reason: "HTTP 400".into()
            }
        );
        let v = verdict(
            &policy(),
            3,
            t0(),
            SendResult::Accepted { gateway_id: None },
            t0(),
        );
        assert_eq!(v, Verdict::Sent { gateway_id: None });
    }

    #[test]
    fn gateway_pause_grows_while_it_fails_and_ends_on_success() {
        let p = policy();
        let start = Instant::now();
        let mut h = GatewayHealth::default();
        assert_eq!(h.wait(start), Duration::ZERO);
        let until = h.failed(&p, start, None);
        assert_eq!(until - start, Duration::from_secs(5));
        assert_eq!(
            h.wait(start + Duration::from_secs(2)),
            Duration::from_secs(3)
        );
        assert_eq!(h.wait(start + Duration::from_secs(6)), Duration::ZERO);
        let until = h.failed(&p, start + Duration::from_secs(6), None);
        assert_eq!(until - start, Duration::from_secs(16));
        let until = h.failed(&p, start, Some(Duration::from_secs(90)));
        assert_eq!(until - start, Duration::from_secs(90));
        h.succeeded();
        assert_eq!(h.wait(start), Duration::ZERO);
    }
}
