//! `sip-config/staff.toml` (optional): how hard the staff side is to guess
//! into — sign-in and desk-phone REGISTER lockouts, the argon2 pool, session
//! idle time, the origins allowed to send state-changing requests.
//! Every key has a default; without the file the defaults apply.

use crate::lockout::Policy;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// Failure limits for one kind of sign-in.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LockoutConfig {
    /// Failures within the window that lock one account (or SIP user).
    pub max_failures_per_account: u32,
    /// Failures within the window that lock one client address (higher: a
    /// ward's nurses may share one NAT address).
    pub max_failures_per_address: u32,
    pub window_seconds: u64,
    /// The first lock; each further lock of the same key doubles it.
    pub lock_seconds: u64,
    pub max_lock_seconds: u64,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        let (account, address) = (Policy::PER_ACCOUNT, Policy::PER_ADDRESS);
        LockoutConfig {
            max_failures_per_account: account.max_failures,
            max_failures_per_address: address.max_failures,
            window_seconds: account.window.as_secs(),
            lock_seconds: account.base_lock.as_secs(),
            max_lock_seconds: account.max_lock.as_secs(),
        }
    }
}

impl LockoutConfig {
    fn policy(&self, max_failures: u32) -> Policy {
        Policy {
            max_failures,
            window: Duration::from_secs(self.window_seconds),
            base_lock: Duration::from_secs(self.lock_seconds),
            max_lock: Duration::from_secs(self.max_lock_seconds),
        }
    }

    /// The policy for account (or SIP user) keys.
    pub fn per_account(&self) -> Policy {
        self.policy(self.max_failures_per_account)
    }

    /// The policy for client address keys.
    pub fn per_address(&self) -> Policy {
        self.policy(self.max_failures_per_address)
    }
}

/// The settings of `staff.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaffConfig {
    /// Staff sign-in (`POST /api/v1/login`).
    pub login: LockoutConfig,
    /// Nurse desk phones' REGISTER digests.
    pub sip_register: LockoutConfig,
    /// Argon2 verifications running at once (each takes tens of ms of a core).
    pub hash_permits: usize,
    /// How long a sign-in waits for a free permit before it gets 503.
    pub hash_wait_ms: u64,
    /// A session unused this long ends (besides the 12 h cap).
    pub session_idle_seconds: u64,
    /// Origins (`https://host[:port]`) besides the service's own that may send
    /// state-changing requests with the session cookie (e.g. behind a proxy
    /// that rewrites Host).
    pub allowed_origins: Vec<String>,
}

impl Default for StaffConfig {
    fn default() -> Self {
        StaffConfig {
            login: LockoutConfig::default(),
            sip_register: LockoutConfig::default(),
            hash_permits: 1,
            hash_wait_ms: 2000,
            session_idle_seconds: 1800,
            allowed_origins: Vec::new(),
        }
    }
}

impl StaffConfig {
    /// Checks the text of `path`.
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<StaffConfig> {
        let cfg: StaffConfig =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let fail = |key: &str, fix: &str| anyhow::anyhow!("{}: {key}: {fix}", path.display());
        for (name, l) in [("login", &cfg.login), ("sip_register", &cfg.sip_register)] {
            if l.max_failures_per_account == 0 || l.max_failures_per_address == 0 {
                return Err(fail(name, "max_failures_* must be at least 1"));
            }
            if l.lock_seconds == 0 || l.max_lock_seconds < l.lock_seconds {
                return Err(fail(
                    name,
                    "lock_seconds must be at least 1 and max_lock_seconds at least lock_seconds",
                ));
            }
        }
        if !(1..=16).contains(&cfg.hash_permits) {
            return Err(fail("hash_permits", "use 1 or 2 (at most 16)"));
        }
        if cfg.session_idle_seconds == 0 {
            return Err(fail("session_idle_seconds", "must be at least 1"));
        }
        for origin in &cfg.allowed_origins {
            let host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            let ok = host.is_some_and(|h| !h.is_empty() && !h.contains(['/', '?', '#', '@']));
            if !ok {
                return Err(fail(
                    "allowed_origins",
                    &format!("{origin:?} is not an origin: write e.g. \"https://1177.example.se\""),
                ));
            }
        }
        Ok(cfg)
    }

    pub fn hash_wait(&self) -> Duration {
        Duration::from_millis(self.hash_wait_ms)
    }

    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_a_partial_file() {
        let path = Path::new("staff.toml");
        let cfg = StaffConfig::parse("", path).unwrap();
        assert_eq!(cfg.login.max_failures_per_account, 5);
        assert_eq!(cfg.hash_permits, 1);
        let cfg = StaffConfig::parse(
            "session_idle_seconds = 60\nallowed_origins = [\"https://a.example\"]\n[login]\nlock_seconds = 10\n",
            path,
        )
        .unwrap();
        assert_eq!(cfg.session_idle(), Duration::from_secs(60));
        assert_eq!(cfg.login.per_account().base_lock, Duration::from_secs(10));
        assert_eq!(cfg.login.per_address().max_failures, 20);
    }

    #[test]
    fn bad_values_name_the_key() {
        let path = Path::new("staff.toml");
        for (text, key) in [
            ("hash_permits = 0", "hash_permits"),
            ("allowed_origins = [\"a.example\"]", "allowed_origins"),
            (
                "allowed_origins = [\"https://a.example/x\"]",
                "allowed_origins",
            ),
            ("[login]\nmax_failures_per_account = 0", "login"),
            ("bogus = 1", "bogus"),
        ] {
            let e = StaffConfig::parse(text, path).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
