//! Per-source flood limits (the idea of Kamailio's pike module): a token
//! bucket per source IP and method class, and a ban of the whole source when
//! one bucket runs dry. Sans-IO: the caller passes the time in.
//!
//! Answers while banned: a refused request gets a cheap stateless 503 with
//! Retry-After (the remaining ban) so a real client backs off instead of
//! retrying into silence, but only `answers_per_ban` of them per ban; after
//! that the source is ignored until the ban ends. A forged source address
//! therefore draws at most burst + `answers_per_ban` small answers per ban
//! period: we are no reflector.
//!
//! Memory: at most `max_sources` sources are tracked. A full table first
//! forgets sources whose buckets have refilled (they carry no state), then
//! the least recently seen eighth, banned ones last, so a flood of forged
//! addresses costs bounded memory and amortised constant time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The requests limited separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodClass {
    Invite,
    Register,
    Options,
}

impl MethodClass {
    /// The class of `method`; other methods are not limited.
    pub fn of(method: &rsip::Method) -> Option<MethodClass> {
        match method {
            rsip::Method::Invite => Some(MethodClass::Invite),
            rsip::Method::Register => Some(MethodClass::Register),
            rsip::Method::Options => Some(MethodClass::Options),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One token bucket's shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

/// The guard's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardLimits {
    /// Indexed by [`MethodClass`]: INVITE, REGISTER, OPTIONS.
    pub rates: [Rate; 3],
    pub ban: Duration,
    /// 503 answers per ban before the source is ignored.
    pub answers_per_ban: u32,
    pub max_sources: usize,
}

/// 503 answers a banned source gets per ban (then silence).
pub const ANSWERS_PER_BAN: u32 = 32;
/// Sources tracked at most.
pub const MAX_SOURCES: usize = 65_536;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This request emptied a bucket: the ban starts now.
    Rate,
    /// The source is serving a ban.
    Banned,
}

/// The guard's word on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Answer 503 with `Retry-After: retry_after` seconds.
    Refuse {
        why: Refusal,
        retry_after: u64,
    },
    /// Send nothing (the ban's answers are used up).
    Ignore {
        why: Refusal,
    },
}

#[derive(Debug, Clone)]
struct Source {
    tokens: [f64; 3],
    updated: Instant,
    banned_until: Option<Instant>,
    answers: u32,
}

/// The per-source table. See the module docs.
#[derive(Debug)]
pub struct SourceGuard {
    limits: GuardLimits,
    sources: HashMap<IpAddr, Source>,
    /// Time after which an untouched bucket is full again.
    refill_all: Duration,
}

impl SourceGuard {
    pub fn new(limits: GuardLimits) -> Self {
        let refill_all = limits
            .rates
            .iter()
            .map(|r| Duration::from_secs_f64(f64::from(r.burst) / r.per_second.max(1e-9)))
            .max()
            .unwrap_or_default();
        SourceGuard {
            limits,
            sources: HashMap::new(),
            refill_all,
        }
    }

    /// Counts one `class` request from `ip` at `now`.
    pub fn check(&mut self, now: Instant, ip: IpAddr, class: MethodClass) -> Verdict {
        if !self.sources.contains_key(&ip) && self.sources.len() >= self.limits.max_sources {
            self.make_room(now);
        }
        let limits = &self.limits;
        let source = self.sources.entry(ip).or_insert_with(|| Source {
            tokens: limits.rates.map(|r| f64::from(r.burst)),
            updated: now,
            banned_until: None,
            answers: 0,
        });
        if let Some(until) = source.banned_until {
            if now < until {
                return answer(limits, source, Refusal::Banned, until - now);
            }
            // Served: a fresh start.
            source.banned_until = None;
            source.answers = 0;
            source.tokens = limits.rates.map(|r| f64::from(r.burst));
            source.updated = now;
        }
        let elapsed = now.saturating_duration_since(source.updated).as_secs_f64();
        for (tokens, rate) in source.tokens.iter_mut().zip(limits.rates) {
            *tokens = (*tokens + elapsed * rate.per_second).min(f64::from(rate.burst));
        }
        source.updated = now;
        let tokens = &mut source.tokens[class.index()];
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return Verdict::Pass;
        }
        source.banned_until = Some(now + limits.ban);
        answer(limits, source, Refusal::Rate, limits.ban)
    }

    /// Sources serving a ban at `now` (for the gauge; a full scan).
    pub fn banned(&self, now: Instant) -> usize {
        self.sources
            .values()
            .filter(|s| s.banned_until.is_some_and(|u| u > now))
            .count()
    }

    /// Sources tracked now.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }

    /// Forgets sources that carry no state (buckets full, no ban): call now
    /// and then so an idle table shrinks.
    pub fn forget_idle(&mut self, now: Instant) {
        let refill = self.refill_all;
        self.sources.retain(|_, s| !idle(s, now, refill));
    }

    fn make_room(&mut self, now: Instant) {
        self.forget_idle(now);
        if self.sources.len() < self.limits.max_sources {
            return;
        }
        // Still full of live sources: drop the least recently seen eighth,
        // banned sources last.
        let mut order: Vec<(bool, Instant, IpAddr)> = self
            .sources
            .iter()
            .map(|(ip, s)| (s.banned_until.is_some_and(|u| u > now), s.updated, *ip))
            .collect();
        let n = (order.len() / 8).max(1);
        order.select_nth_unstable(n - 1);
        for (_, _, ip) in order.into_iter().take(n) {
            self.sources.remove(&ip);
        }
    }
}

fn idle(s: &Source, now: Instant, refill: Duration) -> bool {
    s.banned_until.is_none_or(|u| u <= now) && now.saturating_duration_since(s.updated) >= refill
}

fn answer(limits: &GuardLimits, source: &mut Source, why: Refusal, left: Duration) -> Verdict {
    if source.answers >= limits.answers_per_ban {
        return Verdict::Ignore { why };
    }
    source.answers += 1;
    // Whole seconds, rounded up: the client must not come back early.
    let retry_after = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    Verdict::Refuse { why, retry_after }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> GuardLimits {
        GuardLimits {
            rates: [
                Rate {
                    per_second: 2.0,
                    burst: 3,
                },
                Rate {
                    per_second: 1.0,
                    burst: 2,
                },
                Rate {
                    per_second: 1.0,
                    burst: 2,
                },
            ],
            ban: Duration::from_secs(10),
            answers_per_ban: 2,
            max_sources: 16,
        }
    }

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n))
    }

    const INVITE: MethodClass = MethodClass::Invite;

    #[test]
    fn a_burst_passes_then_the_source_is_banned_with_the_ban_as_retry_after() {
        let mut g = SourceGuard::new(limits());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(g.check(t0, ip(1), INVITE), Verdict::Pass);
        }
        assert_eq!(
            g.check(t0, ip(1), INVITE),
            Verdict::Refuse {
                why: Refusal::Rate,
                retry_after: 10
            }
        );
        assert_eq!(g.banned(t0), 1);
        // The whole source is banned, not only its INVITEs; the answer says what is left.
        let later = t0 + Duration::from_millis(3_500);
        assert_eq!(
            g.check(later, ip(1), MethodClass::Options),
            Verdict::Refuse {
                why: Refusal::Banned,
                retry_after: 7
            }
        );
        // Another source is untouched.
        assert_eq!(g.check(later, ip(2), INVITE), Verdict::Pass);
    }

    #[test]
    fn answers_during_a_ban_are_capped_then_silent() {
        let mut g = SourceGuard::new(limits());
        let t0 = Instant::now();
        for _ in 0..3 {
            g.check(t0, ip(1), INVITE);
        }
        assert!(matches!(g.check(t0, ip(1), INVITE), Verdict::Refuse { .. }));
        assert!(matches!(g.check(t0, ip(1), INVITE), Verdict::Refuse { .. }));
        for _ in 0..100 {
            assert_eq!(
                g.check(t0, ip(1), INVITE),
                Verdict::Ignore {
                    why: Refusal::Banned
                }
            );
        }
    }

    #[test]
    fn the_ban_expires_and_the_source_starts_afresh() {
        let mut g = SourceGuard::new(limits());
        let t0 = Instant::now();
        for _ in 0..4 {
            g.check(t0, ip(1), INVITE);
        }
        let end = t0 + Duration::from_secs(10);
        assert_eq!(g.banned(end), 0);
        for _ in 0..3 {
            assert_eq!(g.check(end, ip(1), INVITE), Verdict::Pass);
        }
        assert!(matches!(
            g.check(end, ip(1), INVITE),
            Verdict::Refuse {
                why: Refusal::Rate,
                ..
            }
        ));
    }

    #[test]
    fn buckets_refill_at_their_rate_and_classes_are_separate() {
        let mut g = SourceGuard::new(limits());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(g.check(t0, ip(1), INVITE), Verdict::Pass);
        }
        // REGISTERs have their own bucket.
        assert_eq!(g.check(t0, ip(1), MethodClass::Register), Verdict::Pass);
        // 2 per second: one token after 500 ms, steady traffic at the rate passes.
        let mut t = t0;
        for _ in 0..20 {
            t += Duration::from_millis(500);
            assert_eq!(g.check(t, ip(1), INVITE), Verdict::Pass);
        }
    }

    #[test]
    fn the_table_is_bounded_and_keeps_banned_sources_longest() {
        let mut g = SourceGuard::new(limits());
        let t0 = Instant::now();
        for _ in 0..4 {
            g.check(t0, ip(0), INVITE);
        }
        let mut t = t0;
        for n in 1..1_000 {
            t += Duration::from_millis(1);
            assert_eq!(g.check(t, ip(n), INVITE), Verdict::Pass);
            assert!(g.tracked() <= 16);
        }
        assert!(matches!(
            g.check(t, ip(0), INVITE),
            Verdict::Refuse {
                why: Refusal::Banned,
                ..
            }
        ));
    }

    #[test]
    fn idle_sources_are_forgotten() {
        let mut g = SourceGuard::new(limits());
        let t0 = Instant::now();
        g.check(t0, ip(1), INVITE);
        for _ in 0..4 {
            g.check(t0, ip(2), INVITE);
        }
        g.forget_idle(t0 + Duration::from_secs(3));
        assert_eq!(g.tracked(), 1, "the banned source stays");
        g.forget_idle(t0 + Duration::from_secs(11));
        assert_eq!(g.tracked(), 0);
    }
}
