//! `sip-config/trunk.toml`: the SIP trunk that outbound callbacks go through.
//! Optional: without it the service takes calls but cannot call back (the
//! call API answers 503 and says so).

use serde::Deserialize;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

/// The trunk as configured, validated.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// Where every outbound INVITE is sent (the trunk's outbound proxy), host:port (UDP).
    pub proxy: String,
    /// Host part of the Request-URI: sip:+46701234567@domain.
    pub domain: String,
    /// The number residents see (From user), e.g. "1177".
    #[serde(default = "default_from_number")]
    pub from_number: String,
    /// Display name in From.
    #[serde(default = "default_from_display")]
    pub from_display: String,
    /// Digest username for 401/407 challenges (none: challenges fail the attempt).
    #[serde(default)]
    pub username: Option<String>,
    /// Digest password; `PE_TRUNK_PASSWORD` overrides it so it need not sit in a file.
    #[serde(default)]
    pub password: Option<String>,
    /// Give up on an unanswered resident after this long (CANCEL, result no_answer).
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_seconds: u64,
    /// Give up on an unanswered nurse phone after this long.
    #[serde(default = "default_nurse_ring_timeout")]
    pub nurse_ring_timeout_seconds: u64,
    #[serde(skip)]
    resolved: Option<SocketAddr>,
}

impl std::fmt::Debug for TrunkConfig {
    // The password never reaches logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkConfig")
            .field("proxy", &self.proxy)
            .field("domain", &self.domain)
            .field("from_number", &self.from_number)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

fn default_from_number() -> String {
    "1177".into()
}
fn default_from_display() -> String {
    "1177 Vardguiden".into()
}
fn default_ring_timeout() -> u64 {
    45
}
fn default_nurse_ring_timeout() -> u64 {
    30
}

impl TrunkConfig {
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<Self> {
        let mut t: TrunkConfig =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let file = path.display();
        t.resolved = Some(
            t.proxy
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{file}: proxy \"{}\" is not a reachable host:port; fix: e.g. proxy = \"192.0.2.20:5060\"",
                        t.proxy
                    )
                })?,
        );
        if t.domain.trim().is_empty() || t.domain.contains(['@', ' ', '<', '>']) {
            anyhow::bail!(
                "{file}: domain must be a host name, e.g. domain = \"trunk.example.net\""
            );
        }
        if t.from_number.is_empty()
            || !t
                .from_number
                .chars()
                .all(|c| c.is_ascii_digit() || c == '+')
        {
            anyhow::bail!(
                "{file}: from_number must be digits (optionally +), e.g. from_number = \"1177\""
            );
        }
        if !(5..=300).contains(&t.ring_timeout_seconds) {
            anyhow::bail!("{file}: ring_timeout_seconds must be 5-300");
        }
        if !(5..=300).contains(&t.nurse_ring_timeout_seconds) {
            anyhow::bail!("{file}: nurse_ring_timeout_seconds must be 5-300");
        }
        if let Ok(pw) = std::env::var("PE_TRUNK_PASSWORD") {
            t.password = Some(pw);
        }
        if t.password.is_some() && t.username.is_none() {
            anyhow::bail!("{file}: a password needs a username");
        }
        Ok(t)
    }

    /// The proxy's address, resolved at load time.
    pub fn proxy_addr(&self) -> SocketAddr {
        self.resolved
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5060)))
    }

    pub fn ring_timeout(&self) -> Duration {
        Duration::from_secs(self.ring_timeout_seconds)
    }

    pub fn nurse_ring_timeout(&self) -> Duration {
        Duration::from_secs(self.nurse_ring_timeout_seconds)
    }

    /// Digest credentials, when configured.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        Some((self.username.as_deref()?, self.password.as_deref()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<TrunkConfig> {
        TrunkConfig::parse(text, Path::new("trunk.toml"))
    }

    #[test]
    fn minimal_trunk_gets_defaults() {
        let t = parse("proxy = \"127.0.0.1:5070\"\ndomain = \"trunk.test\"\n").unwrap();
        assert_eq!(
            t.proxy_addr(),
            "127.0.0.1:5070".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(t.from_number, "1177");
        assert_eq!(t.ring_timeout(), Duration::from_secs(45));
        assert!(t.credentials().is_none());
    }

    #[test]
    fn bad_values_name_the_key_and_the_fix() {
        let e = parse("proxy = \"nowhere\"\ndomain = \"t\"\n").unwrap_err();
        assert!(e.to_string().contains("proxy"), "{e}");
        let e = parse("proxy = \"127.0.0.1:1\"\ndomain = \"a b\"\n").unwrap_err();
        assert!(e.to_string().contains("domain"), "{e}");
        let e = parse("proxy = \"127.0.0.1:1\"\ndomain = \"t\"\nring_timeout_seconds = 1\n")
            .unwrap_err();
        assert!(e.to_string().contains("ring_timeout_seconds"), "{e}");
        let e = parse("proxy = \"127.0.0.1:1\"\ndomain = \"t\"\npassword = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("username"), "{e}");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let t = parse(
            "proxy = \"127.0.0.1:1\"\ndomain = \"t\"\nusername = \"u\"\npassword = \"sekret\"\n",
        )
        .unwrap();
        assert!(!format!("{t:?}").contains("sekret"));
    }
}
