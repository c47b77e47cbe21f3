//! Who may open a SIP transaction with us, decided before the transaction
//! layer keeps any state for the request: the `trunks.toml` ACL for new
//! INVITEs (403, or no answer at all for `drop`) and the per-source flood
//! limits for INVITE, REGISTER and OPTIONS (`sip::source_guard`: a stateless
//! 503 with Retry-After, a capped number of times per ban, then silence).
//! REGISTER and OPTIONS pass the ACL (desk phones authenticate with digest).

use super::signal::new_tag;
use crate::config::{Admission, SourcesConfig};
use crate::sip::message::{self, RequestInfo};
use crate::sip::source_guard::{
    GuardLimits, MethodClass, Rate, Refusal, SourceGuard, Verdict, ANSWERS_PER_BAN, MAX_SOURCES,
};
use crate::sip::{stateless, Admit, Peer};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Why a source's request or connection was refused (the metric's label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// An INVITE from a source `unknown_sources` rejects or drops.
    Acl,
    /// The request that emptied a bucket (a ban starts).
    Rate,
    /// A request during a ban.
    Banned,
    /// A TCP connection over `tcp_connections_per_source`.
    TcpCap,
}

impl Rejected {
    const ALL: [Rejected; 4] = [
        Rejected::Acl,
        Rejected::Rate,
        Rejected::Banned,
        Rejected::TcpCap,
    ];

    fn label(self) -> &'static str {
        match self {
            Rejected::Acl => "acl",
            Rejected::Rate => "rate",
            Rejected::Banned => "banned",
            Rejected::TcpCap => "tcp_cap",
        }
    }
}

/// What an operator sees of the source limits on `/metrics`.
#[derive(Debug, Default)]
pub struct SourceMetrics {
    rejected: Family<ReasonLabel, Counter>,
    pub bans: Counter,
    pub tcp_idle_closed: Counter,
    pub banned_sources: Gauge,
}

impl SourceMetrics {
    pub fn register(&self, registry: &mut Registry) {
        for r in Rejected::ALL {
            let _ = self
                .rejected
                .get_or_create(&ReasonLabel { reason: r.label() });
        }
        registry.register(
            "pe_sip_source_rejected",
            "SIP requests and TCP connections refused by trunks.toml (acl, rate, banned, tcp_cap)",
            self.rejected.clone(),
        );
        registry.register(
            "pe_sip_source_bans",
            "Sources banned for exceeding a per-source limit",
            self.bans.clone(),
        );
        registry.register(
            "pe_sip_tcp_idle_closed",
            "SIP TCP connections closed after tcp_idle_seconds without a message",
            self.tcp_idle_closed.clone(),
        );
        registry.register(
            "pe_sip_banned_sources",
            "Sources serving a ban now",
            self.banned_sources.clone(),
        );
    }

    pub fn rejected(&self, why: Rejected) {
        self.rejected
            .get_or_create(&ReasonLabel {
                reason: why.label(),
            })
            .inc();
    }
}

/// The ACL and the flood limits, asked by the transaction layer.
pub struct SourceGate {
    sources: Arc<SourcesConfig>,
    guard: SourceGuard,
    metrics: Arc<SourceMetrics>,
}

impl SourceGate {
    pub fn new(sources: Arc<SourcesConfig>, metrics: Arc<SourceMetrics>) -> Self {
        let l = &sources.limits;
        let limits = GuardLimits {
            rates: [
                Rate {
                    per_second: l.invite_per_second,
                    burst: l.invite_burst,
                },
                Rate {
                    per_second: l.register_per_second,
                    burst: l.register_burst,
                },
                Rate {
                    per_second: l.options_per_second,
                    burst: l.options_burst,
                },
            ],
            ban: sources.ban_time(),
            answers_per_ban: ANSWERS_PER_BAN,
            max_sources: MAX_SOURCES,
        };
        SourceGate {
            guard: SourceGuard::new(limits),
            sources,
            metrics,
        }
    }

    /// The word on a request that would open a server transaction.
    pub fn decide(
        &mut self,
        now: Instant,
        peer: &Peer,
        request: &rsip::Request,
        info: &RequestInfo,
    ) -> Admit {
        let Some(class) = MethodClass::of(&info.method) else {
            return Admit::Accept;
        };
        // One source whether a dual-stack socket reports it as IPv4 or IPv6.
        let ip = peer.addr.ip().to_canonical();
        // Only a new call is ACL'd: a re-INVITE belongs to a dialog we allowed
        // (or started, to a nurse's phone).
        let admission =
            (class == MethodClass::Invite && info.to_tag.is_none()).then(|| self.sources.admit(ip));
        if admission == Some(Admission::Drop) {
            self.metrics.rejected(Rejected::Acl);
            return Admit::Ignore;
        }
        if self.sources.limited(ip) {
            let verdict = self.guard.check(now, ip, class);
            let why = match verdict {
                Verdict::Pass => None,
                Verdict::Refuse { why, .. } | Verdict::Ignore { why } => Some(why),
            };
            if let Some(why) = why {
                self.metrics.rejected(match why {
                    Refusal::Rate => Rejected::Rate,
                    Refusal::Banned => Rejected::Banned,
                });
                if why == Refusal::Rate {
                    self.metrics.bans.inc();
                }
            }
            match verdict {
                Verdict::Pass => {}
                Verdict::Refuse { retry_after, .. } => {
                    let mut resp = stateless::with_reason(
                        message::response_to(request, 503, Some(&new_tag())),
                        "too many requests from this address",
                    );
                    message::add_header(&mut resp.headers, "Retry-After", retry_after.to_string());
                    return Admit::Answer(resp);
                }
                Verdict::Ignore { .. } => return Admit::Ignore,
            }
        }
        if admission == Some(Admission::Reject) {
            self.metrics.rejected(Rejected::Acl);
            return Admit::Answer(message::response_to(request, 403, Some(&new_tag())));
        }
        Admit::Accept
    }

    /// Housekeeping now and then: forgets sources with nothing to remember
    /// and updates the banned-sources gauge.
    pub fn tick(&mut self, now: Instant) {
        self.guard.forget_idle(now);
        let banned = i64::try_from(self.guard.banned(now)).unwrap_or(i64::MAX);
        self.metrics.banned_sources.set(banned);
    }

    /// Whether `ip` is exempt from per-source limits (a trunk).
    pub fn limited(&self, ip: std::net::IpAddr) -> bool {
        self.sources.limited(ip)
    }

    pub fn metrics(&self) -> &SourceMetrics {
        &self.metrics
    }
}
