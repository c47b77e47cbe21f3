//! `sip-config/sip.toml`: the SIP side of the service (entrance numbers,
//! capacity, timers). Validated once at start-up.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The SIP settings, with defaults for everything but the entrance numbers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// Request-URI / To users that reach the IVR (e.g. "1177").
    pub entrance_numbers: Vec<String>,
    /// Concurrent calls before new INVITEs get 503 with Retry-After.
    #[serde(default = "default_max_calls")]
    pub max_concurrent_calls: usize,
    /// Seconds in the Retry-After of an overload 503.
    #[serde(default = "default_retry_after")]
    pub retry_after_seconds: u32,
    /// No RTP from the caller for this long (after answer, not on hold) ends the call.
    #[serde(default = "default_rtp_timeout")]
    pub rtp_timeout_seconds: u64,
    /// Media worker threads (default: one per core).
    #[serde(default)]
    pub media_workers: Option<usize>,
    /// Address put in SDP and Contact when the bind address is 0.0.0.0.
    #[serde(default)]
    pub advertise_ip: Option<std::net::IpAddr>,
    /// Ring this long (180 Ringing) before answering; 0 answers at once.
    #[serde(default)]
    pub ring_ms: u64,
    /// A caller holding in the queue hears their place and wait this often (0: never).
    #[serde(default = "default_hold_announcement")]
    pub hold_announcement_seconds: u64,
    /// On SIGTERM, callers still in the IVR get this long to finish before
    /// they are hung up (held callers become callbacks at once).
    #[serde(default = "default_drain_seconds")]
    pub drain_seconds: u64,
    /// The Server / User-Agent header.
    #[serde(default = "default_user_agent")]
    pub user_agent: String,
    /// Digest realm for nurse phones registering here. The stored SIP
    /// credentials (HA1) depend on it: changing it means setting every SIP
    /// password again (`create-user --update --sip-password`).
    #[serde(default = "default_sip_realm")]
    pub sip_realm: String,
    /// Where callers go when their case cannot be stored (a hold the database
    /// refused, or a call while the database is down), e.g. the contact
    /// centre's plain phone queue `sip:queue@pbx.example`: they hear a short
    /// message and are bridged there (UDP). None: they are told to call
    /// again (or 112), and while the database is down INVITEs get 503.
    #[serde(default)]
    pub fallback_uri: Option<String>,
    /// Give up on an unanswered fallback after this long (the caller then
    /// hears the call-again message).
    #[serde(default = "default_fallback_ring")]
    pub fallback_ring_seconds: u64,
    /// `fallback_uri`'s host and port, resolved once at load time.
    #[serde(skip)]
    fallback_addr: Option<SocketAddr>,
}

fn default_max_calls() -> usize {
    6000
}
fn default_retry_after() -> u32 {
    10
}
fn default_rtp_timeout() -> u64 {
    30
}
fn default_hold_announcement() -> u64 {
    45
}
fn default_drain_seconds() -> u64 {
    30
}
fn default_fallback_ring() -> u64 {
    20
}
fn default_sip_realm() -> String {
    "1177.local".to_string()
}
fn default_user_agent() -> String {
    format!("phone-entrance/{}", env!("CARGO_PKG_VERSION"))
}

impl SipConfig {
    /// Checks the text of `path`; errors name the file and the fix.
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<Self> {
        let mut s: SipConfig =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if s.entrance_numbers.is_empty() || s.entrance_numbers.iter().any(|n| n.trim().is_empty()) {
            anyhow::bail!(
                "{}: entrance_numbers must list at least one number, e.g. [\"1177\"]",
                path.display()
            );
        }
        if s.max_concurrent_calls == 0 {
            anyhow::bail!(
                "{}: max_concurrent_calls must be at least 1",
                path.display()
            );
        }
        if s.rtp_timeout_seconds < 5 {
            anyhow::bail!(
                "{}: rtp_timeout_seconds must be at least 5 (phones pause RTP briefly)",
                path.display()
            );
        }
        if s.sip_realm.trim().is_empty()
            || s.sip_realm
                .chars()
                .any(|c| c == '"' || c == '\\' || c.is_control())
        {
            anyhow::bail!(
                "{}: sip_realm must be a non-empty name without quotes or backslashes, e.g. \"1177.local\"",
                path.display()
            );
        }
        if let Some(uri) = &s.fallback_uri {
            s.fallback_addr = Some(super::nurse_phones::uri_addr(uri).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: fallback_uri \"{uri}\" has no reachable host:port; fix: e.g. fallback_uri = \"sip:queue@192.0.2.30:5060\"",
                    path.display()
                )
            })?);
        }
        if !(5..=120).contains(&s.fallback_ring_seconds) {
            anyhow::bail!("{}: fallback_ring_seconds must be 5-120", path.display());
        }
        Ok(s)
    }

    /// The fallback destination: its URI and where its INVITE goes.
    pub fn fallback(&self) -> Option<(&str, SocketAddr)> {
        Some((self.fallback_uri.as_deref()?, self.fallback_addr?))
    }

    pub fn fallback_ring(&self) -> Duration {
        Duration::from_secs(self.fallback_ring_seconds)
    }

    pub fn drain_time(&self) -> Duration {
        Duration::from_secs(self.drain_seconds)
    }

    pub fn rtp_timeout(&self) -> Duration {
        Duration::from_secs(self.rtp_timeout_seconds)
    }

    /// Whether a Request-URI or To user reaches the IVR.
    pub fn is_entrance(&self, user: &str) -> bool {
        self.entrance_numbers.iter().any(|n| n == user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_empty_numbers_are_refused() {
        let p = Path::new("sip.toml");
        let s = SipConfig::parse("entrance_numbers = [\"1177\"]", p).unwrap();
        assert!(s.is_entrance("1177") && !s.is_entrance("112"));
        assert_eq!(s.max_concurrent_calls, 6000);
        let e = SipConfig::parse("entrance_numbers = []", p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sip.toml") && e.contains("entrance_numbers"),
            "{e}"
        );
        assert!(SipConfig::parse("entrance_numbers = [\"1177\"]\nbogus = 1", p).is_err());
        assert_eq!(s.sip_realm, "1177.local");
        let e = SipConfig::parse("entrance_numbers = [\"1177\"]\nsip_realm = \"a\\\"b\"", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("sip_realm"), "{e}");
    }

    #[test]
    fn the_fallback_is_resolved_at_load_and_an_unreachable_one_is_refused() {
        let p = Path::new("sip.toml");
        let s = SipConfig::parse("entrance_numbers = [\"1177\"]", p).unwrap();
        assert!(s.fallback().is_none());
        let s = SipConfig::parse(
            "entrance_numbers = [\"1177\"]\nfallback_uri = \"sip:queue@127.0.0.1:5099\"",
            p,
        )
        .unwrap();
        let (uri, addr) = s.fallback().unwrap();
        assert_eq!(uri, "sip:queue@127.0.0.1:5099");
        assert_eq!(addr, SocketAddr::from(([127, 0, 0, 1], 5099)));
        let e = SipConfig::parse(
            "entrance_numbers = [\"1177\"]\nfallback_uri = \"tel:112\"",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("fallback_uri"), "{e}");
    }
}
