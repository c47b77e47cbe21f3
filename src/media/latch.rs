//! Where one call's RTP may go, and whose RTP it takes: no reflection, no
//! hijack. A sans-IO core the media engine asks once per frame sent and
//! once per packet received (an IP compare, no allocation).
//!
//! Anybody can send an INVITE whose SDP names a victim's address, and
//! INVITEs need no authentication. So media goes out at once only to an
//! address the call's trunk vouches for ([`Trust::Trusted`]). Otherwise it
//! waits until RTP arrives from the offered IP and then goes to that
//! packet's exact source (symmetric RTP, RFC 4961, port included for NAT).
//! It never goes to a [`Trust::Refused`] address. Packets from any other IP
//! are foreign: not played, not decoded for DTMF, never latched onto.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// A latched source is replaced by another port of the offered IP only
/// after this much quiet (a phone that restarts its stream).
pub const RELATCH_AFTER: Duration = Duration::from_secs(1);

/// How far the offered media address is believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// In the media networks of the trunk the call was signalled from (for
    /// an outbound leg: the trunk our INVITE went to): send at once.
    Trusted,
    /// Anybody's offer: send only after RTP came from the offered IP.
    Unverified,
    /// Media may never go there (loopback, link-local, multicast, ...).
    Refused,
}

impl Trust {
    /// `trusted`: the offered IP is in the signalling trunk's media
    /// networks; `allowed`: media may ever be sent to it.
    pub fn classify(trusted: bool, allowed: bool) -> Trust {
        match (trusted, allowed) {
            (_, false) => Trust::Refused,
            (true, true) => Trust::Trusted,
            (false, true) => Trust::Unverified,
        }
    }
}

/// What to do with the next frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// To this address.
    Send(SocketAddr),
    /// Nothing yet: no RTP has come from the offered IP.
    AwaitLatch,
    /// Nothing ever (until a re-offer).
    Refused,
}

/// The latch of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latch {
    offered: SocketAddr,
    /// The offered IP in canonical form (an IPv4-mapped source matches).
    expected: IpAddr,
    trust: Trust,
    /// The source latched onto and when its last packet came.
    latched: Option<(SocketAddr, Instant)>,
}

impl Latch {
    /// A stream towards the `offered` SDP address.
    pub fn new(offered: SocketAddr, trust: Trust) -> Latch {
        Latch {
            offered,
            expected: offered.ip().to_canonical(),
            trust,
            latched: None,
        }
    }

    /// A new offer (re-INVITE, answer after early media): the same address
    /// and trust keep the latch; anything else starts over.
    pub fn reoffer(&mut self, offered: SocketAddr, trust: Trust) {
        if offered != self.offered || trust != self.trust {
            *self = Latch::new(offered, trust);
        }
    }

    /// Where the next frame goes.
    pub fn destination(&self) -> Destination {
        match (self.trust, self.latched) {
            (Trust::Refused, _) => Destination::Refused,
            (_, Some((source, _))) => Destination::Send(source),
            (Trust::Trusted, None) => Destination::Send(self.offered),
            (Trust::Unverified, None) => Destination::AwaitLatch,
        }
    }

    /// The cheap check before parsing: `from` has the offered IP.
    pub fn from_offered_ip(&self, from: SocketAddr) -> bool {
        from.ip().to_canonical() == self.expected
    }

    /// A valid RTP packet of this stream arrived from `from` at `now`:
    /// true to take it (and latch onto `from`), false to drop it as
    /// foreign (another IP, or another port of the offered IP while the
    /// latched source is active).
    pub fn on_packet(&mut self, from: SocketAddr, now: Instant) -> bool {
        if !self.from_offered_ip(from) {
            return false;
        }
        if let Some((source, last)) = self.latched {
            if source != from && now.saturating_duration_since(last) < RELATCH_AFTER {
                return false;
            }
        }
        self.latched = Some((from, now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn trust_is_refused_whenever_the_destination_is_not_allowed() {
        assert_eq!(Trust::classify(true, true), Trust::Trusted);
        assert_eq!(Trust::classify(false, true), Trust::Unverified);
        assert_eq!(Trust::classify(false, false), Trust::Refused);
        assert_eq!(Trust::classify(true, false), Trust::Refused);
    }

    #[test]
    fn trusted_offer_gets_media_at_once_then_follows_the_source_port() {
        let t0 = Instant::now();
        let mut l = Latch::new(addr("192.0.2.1:4000"), Trust::Trusted);
        assert_eq!(l.destination(), Destination::Send(addr("192.0.2.1:4000")));
        assert!(l.on_packet(addr("192.0.2.1:4002"), t0));
        assert_eq!(l.destination(), Destination::Send(addr("192.0.2.1:4002")));
    }

    #[test]
    fn unverified_offer_waits_for_rtp_from_the_offered_ip_then_sends_to_its_exact_source() {
        let t0 = Instant::now();
        let mut l = Latch::new(addr("203.0.113.7:4000"), Trust::Unverified);
        assert_eq!(l.destination(), Destination::AwaitLatch);
        // NAT: the port differs from the offer; the source port wins.
        assert!(l.on_packet(addr("203.0.113.7:61000"), t0));
        assert_eq!(
            l.destination(),
            Destination::Send(addr("203.0.113.7:61000"))
        );
    }

    #[test]
    fn other_ips_are_foreign_before_and_after_latching_and_after_any_quiet() {
        let t0 = Instant::now();
        let mut l = Latch::new(addr("203.0.113.7:4000"), Trust::Unverified);
        assert!(!l.on_packet(addr("198.51.100.9:4000"), t0));
        assert_eq!(l.destination(), Destination::AwaitLatch);
        assert!(l.on_packet(addr("203.0.113.7:4000"), t0));
        let later = t0 + Duration::from_secs(60);
        assert!(!l.on_packet(addr("198.51.100.9:4000"), later));
        assert_eq!(l.destination(), Destination::Send(addr("203.0.113.7:4000")));
        let mut trusted = Latch::new(addr("192.0.2.1:4000"), Trust::Trusted);
        assert!(!trusted.on_packet(addr("192.0.2.2:4000"), later));
        assert_eq!(
            trusted.destination(),
            Destination::Send(addr("192.0.2.1:4000"))
        );
    }

    #[test]
    fn another_port_of_the_offered_ip_takes_over_only_after_quiet() {
        let t0 = Instant::now();
        let mut l = Latch::new(addr("203.0.113.7:4000"), Trust::Unverified);
        assert!(l.on_packet(addr("203.0.113.7:4000"), t0));
        let soon = t0 + Duration::from_millis(500);
        assert!(!l.on_packet(addr("203.0.113.7:5000"), soon));
        assert!(l.on_packet(addr("203.0.113.7:4000"), soon));
        let quiet = soon + RELATCH_AFTER;
        assert!(l.on_packet(addr("203.0.113.7:5000"), quiet));
        assert_eq!(l.destination(), Destination::Send(addr("203.0.113.7:5000")));
    }

    #[test]
    fn refused_destination_is_never_sent_to_even_after_rtp() {
        let t0 = Instant::now();
        let mut l = Latch::new(addr("127.0.0.2:4000"), Trust::Refused);
        assert_eq!(l.destination(), Destination::Refused);
        assert!(l.on_packet(addr("127.0.0.2:4000"), t0));
        assert_eq!(l.destination(), Destination::Refused);
    }

    #[test]
    fn a_new_offer_starts_over_and_the_same_offer_keeps_the_latch() {
        let t0 = Instant::now();
        let mut l = Latch::new(addr("203.0.113.7:4000"), Trust::Unverified);
        assert!(l.on_packet(addr("203.0.113.7:4000"), t0));
        l.reoffer(addr("203.0.113.7:4000"), Trust::Unverified);
        assert_eq!(l.destination(), Destination::Send(addr("203.0.113.7:4000")));
        l.reoffer(addr("198.51.100.9:4000"), Trust::Unverified);
        assert_eq!(l.destination(), Destination::AwaitLatch);
        // The old address is now foreign.
        assert!(!l.on_packet(addr("203.0.113.7:4000"), t0));
        l.reoffer(addr("198.51.100.9:4000"), Trust::Refused);
        assert_eq!(l.destination(), Destination::Refused);
    }

    #[test]
    fn an_ipv4_mapped_source_matches_an_ipv4_offer() {
        let t0 = Instant::now();
        let mut l = Latch::new(addr("203.0.113.7:4000"), Trust::Unverified);
        let mapped = addr("[::ffff:203.0.113.7]:4000");
        assert!(l.on_packet(mapped, t0));
        // Sent back exactly as received (the socket is IPv6).
        assert_eq!(l.destination(), Destination::Send(mapped));
    }
}
