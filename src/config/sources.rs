//! `sip-config/trunks.toml`: who may send us calls, whose caller identity we
//! believe, where media may go, and the per-source flood limits. (Not the
//! outbound `trunk.toml`, which says where callbacks are sent.)
//!
//! Without the file every source may call, no caller identity is trusted,
//! media waits for the caller's first RTP packet, and the default limits apply.

use ipnet::IpNet;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

/// What happens to an INVITE from a source that is no listed trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnknownSources {
    /// Taken as a call with an untrusted identity (a service open to the public SIP network).
    #[default]
    Allow,
    /// Answered 403 Forbidden.
    Reject,
    /// Not answered at all (scanners learn nothing).
    Drop,
}

/// One trunk (or SBC) that sends us calls.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trunk {
    pub name: String,
    /// Where its SIP comes from.
    pub networks: Vec<IpNet>,
    /// Where its media may be sent before any RTP arrives (default: `networks`).
    #[serde(default)]
    pub media_networks: Vec<IpNet>,
    /// Its P-Asserted-Identity (or From when it sends none) is the caller's
    /// verified number (RFC 3325 trust domain).
    #[serde(default)]
    pub trust_identity: bool,
    /// Per-source limits do not apply to it (it carries everybody's calls).
    #[serde(default = "yes")]
    pub exempt_from_limits: bool,
}

/// Per-source flood limits: token buckets per source IP, then a ban
/// (the idea of Kamailio's pike module).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceLimits {
    /// INVITEs per second per source, with this burst.
    #[serde(default = "default_invite_rate")]
    pub invite_per_second: f64,
    #[serde(default = "default_invite_burst")]
    pub invite_burst: u32,
    #[serde(default = "default_register_rate")]
    pub register_per_second: f64,
    #[serde(default = "default_register_burst")]
    pub register_burst: u32,
    #[serde(default = "default_options_rate")]
    pub options_per_second: f64,
    #[serde(default = "default_options_burst")]
    pub options_burst: u32,
    /// A source over a limit is ignored this long.
    #[serde(default = "default_ban_seconds")]
    pub ban_seconds: u64,
    /// Open SIP TCP connections per source IP.
    #[serde(default = "default_tcp_per_source")]
    pub tcp_connections_per_source: usize,
    /// A SIP TCP connection with no message for this long is closed.
    #[serde(default = "default_tcp_idle")]
    pub tcp_idle_seconds: u64,
}

impl Default for SourceLimits {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

fn yes() -> bool {
    true
}
fn default_invite_rate() -> f64 {
    2.0
}
fn default_invite_burst() -> u32 {
    10
}
fn default_register_rate() -> f64 {
    1.0
}
fn default_register_burst() -> u32 {
    10
}
fn default_options_rate() -> f64 {
    2.0
}
fn default_options_burst() -> u32 {
    10
}
fn default_ban_seconds() -> u64 {
    60
}
fn default_tcp_per_source() -> usize {
    32
}
fn default_tcp_idle() -> u64 {
    300
}

/// The sources configuration, validated.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    #[serde(default)]
    pub unknown_sources: UnknownSources,
    /// Media to loopback, link-local, multicast or unspecified addresses is
    /// never sent unless this is on (a lab on one machine) or the address is
    /// in a trunk's `media_networks`.
    #[serde(default)]
    pub allow_loopback_media: bool,
    #[serde(default, rename = "trunk")]
    pub trunks: Vec<Trunk>,
    #[serde(default)]
    pub limits: SourceLimits,
}

/// How the service treats an INVITE's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission<'a> {
    Trunk(&'a Trunk),
    /// Any other source, when `unknown_sources = "allow"`: identity untrusted.
    Untrusted,
    Reject,
    Drop,
}

impl SourcesConfig {
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<Self> {
        let mut s: SourcesConfig =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let file = path.display();
        for t in &mut s.trunks {
            if t.name.trim().is_empty() {
                anyhow::bail!("{file}: every [[trunk]] needs a name");
            }
            if t.networks.is_empty() {
                anyhow::bail!(
                    "{file}: trunk \"{}\" lists no networks; fix: networks = [\"192.0.2.0/24\"]",
                    t.name
                );
            }
            if t.media_networks.is_empty() {
                t.media_networks = t.networks.clone();
            }
        }
        let l = &s.limits;
        for (name, rate, burst) in [
            ("invite", l.invite_per_second, l.invite_burst),
            ("register", l.register_per_second, l.register_burst),
            ("options", l.options_per_second, l.options_burst),
        ] {
            if !(rate > 0.0 && rate.is_finite()) || burst == 0 {
                anyhow::bail!(
                    "{file}: [limits] {name}_per_second must be above 0 and {name}_burst at least 1"
                );
            }
        }
        if l.tcp_connections_per_source == 0 || l.tcp_idle_seconds == 0 {
            anyhow::bail!(
                "{file}: [limits] tcp_connections_per_source and tcp_idle_seconds must be at least 1"
            );
        }
        Ok(s)
    }

    /// The trunk whose signalling networks hold `ip` (an IPv4-mapped IPv6
    /// address, as a dual-stack socket reports IPv4 peers, counts as IPv4).
    pub fn trunk_for(&self, ip: IpAddr) -> Option<&Trunk> {
        let ip = ip.to_canonical();
        self.trunks
            .iter()
            .find(|t| t.networks.iter().any(|n| n.contains(&ip)))
    }

    /// What to do with an INVITE from `ip`.
    pub fn admit(&self, ip: IpAddr) -> Admission<'_> {
        match (self.trunk_for(ip), self.unknown_sources) {
            (Some(t), _) => Admission::Trunk(t),
            (None, UnknownSources::Allow) => Admission::Untrusted,
            (None, UnknownSources::Reject) => Admission::Reject,
            (None, UnknownSources::Drop) => Admission::Drop,
        }
    }

    /// Whether the caller identity of a request from `ip` is verified.
    pub fn trusts_identity(&self, ip: IpAddr) -> bool {
        self.trunk_for(ip).is_some_and(|t| t.trust_identity)
    }

    /// Whether per-source limits apply to `ip`.
    pub fn limited(&self, ip: IpAddr) -> bool {
        !self.trunk_for(ip).is_some_and(|t| t.exempt_from_limits)
    }

    /// Media for a call signalled from `signalling` may go to `media` before
    /// any RTP has come from there: it is in that trunk's media networks.
    pub fn media_trusted(&self, signalling: IpAddr, media: IpAddr) -> bool {
        self.trunk_for(signalling)
            .is_some_and(|t| t.media_networks.iter().any(|n| n.contains(&media)))
    }

    /// Media may ever be sent to `ip` (after latching, for untrusted calls).
    pub fn media_destination_allowed(&self, ip: IpAddr) -> bool {
        if !special_address(ip) || self.allow_loopback_media {
            return true;
        }
        self.trunks
            .iter()
            .any(|t| t.media_networks.iter().any(|n| n.contains(&ip)))
    }

    pub fn ban_time(&self) -> Duration {
        Duration::from_secs(self.limits.ban_seconds)
    }

    pub fn tcp_idle(&self) -> Duration {
        Duration::from_secs(self.limits.tcp_idle_seconds)
    }
}

/// Loopback, link-local, multicast, unspecified or broadcast: never a caller's media.
fn special_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_unspecified()
                || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| special_address(IpAddr::V4(v4)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SourcesConfig {
        SourcesConfig::parse(text, Path::new("trunks.toml")).expect("parses")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const LAB: &str = r#"
unknown_sources = "reject"
[[trunk]]
name = "operator"
networks = ["192.0.2.0/24"]
media_networks = ["198.51.100.0/24"]
trust_identity = true
[[trunk]]
name = "sbc"
networks = ["203.0.113.5/32"]
"#;

    #[test]
    fn a_source_is_a_trunk_or_what_unknown_sources_says() {
        let s = parse(LAB);
        assert!(matches!(s.admit(ip("192.0.2.7")), Admission::Trunk(t) if t.name == "operator"));
        assert_eq!(s.admit(ip("203.0.113.6")), Admission::Reject);
        let open = parse("unknown_sources = \"drop\"");
        assert_eq!(open.admit(ip("203.0.113.6")), Admission::Drop);
        assert_eq!(parse("").admit(ip("203.0.113.6")), Admission::Untrusted);
    }

    #[test]
    fn identity_is_trusted_only_from_a_trunk_that_says_so() {
        let s = parse(LAB);
        assert!(s.trusts_identity(ip("192.0.2.7")));
        assert!(!s.trusts_identity(ip("203.0.113.5")));
        assert!(!s.trusts_identity(ip("10.0.0.1")));
        assert!(!parse("").trusts_identity(ip("127.0.0.1")));
        assert!(
            s.trusts_identity(ip("::ffff:192.0.2.7")),
            "dual-stack socket"
        );
    }

    #[test]
    fn media_networks_default_to_the_signalling_networks() {
        let s = parse(LAB);
        assert!(s.media_trusted(ip("192.0.2.7"), ip("198.51.100.9")));
        assert!(!s.media_trusted(ip("192.0.2.7"), ip("192.0.2.8")));
        assert!(s.media_trusted(ip("203.0.113.5"), ip("203.0.113.5")));
        assert!(!s.media_trusted(ip("10.0.0.1"), ip("10.0.0.1")));
    }

    #[test]
    fn loopback_link_local_and_multicast_media_need_configuring() {
        let s = parse(LAB);
        for bad in [
            "127.0.0.2",
            "169.254.1.1",
            "224.0.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
        ] {
            assert!(!s.media_destination_allowed(ip(bad)), "{bad}");
        }
        assert!(s.media_destination_allowed(ip("10.1.2.3")));
        let lab = parse("allow_loopback_media = true");
        assert!(lab.media_destination_allowed(ip("127.0.0.2")));
        let trunk_on_loopback = parse("[[trunk]]\nname = \"lab\"\nnetworks = [\"127.0.0.1/32\"]");
        assert!(trunk_on_loopback.media_destination_allowed(ip("127.0.0.1")));
        assert!(!trunk_on_loopback.media_destination_allowed(ip("127.0.0.2")));
    }

    #[test]
    fn bad_files_are_refused_with_the_fix() {
        let err = SourcesConfig::parse("[[trunk]]\nname = \"x\"\nnetworks = []", Path::new("t"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("networks = ["), "{err}");
        assert!(SourcesConfig::parse("[limits]\ninvite_burst = 0", Path::new("t")).is_err());
        assert!(SourcesConfig::parse("unknown_sources = \"maybe\"", Path::new("t")).is_err());
        assert!(SourcesConfig::parse(
            "[[trunk]]\nname = \"x\"\nnetworks = [\"300.1.1.1/8\"]",
            Path::new("t")
        )
        .is_err());
    }

    #[test]
    fn limits_have_defaults() {
        let s = parse("[limits]\ninvite_per_second = 5.0");
        assert_eq!(s.limits.invite_per_second, 5.0);
        assert_eq!(s.limits.invite_burst, 10);
        assert_eq!(s.ban_time(), Duration::from_secs(60));
    }
}
