//! What protects the staff side besides passwords: sign-in lockouts (counted
//! in the store, so every node enforces them), a bounded pool for argon2
//! (a sign-in flood must not take the cores that pace the media), the
//! session idle time, the origins allowed with the session cookie, and
//! whether the cookie is `Secure`.

use crate::config::StaffConfig;
use crate::lockout::Policy;
use crate::store::LockKind;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct LoginMetrics {
    /// Argon2 verifications running now, and the most ever at once.
    pub hashes_running: Gauge,
    pub hashes_running_peak: Gauge,
    /// Sign-ins turned away because every hash permit stayed busy.
    pub busy: Counter,
    /// Sign-ins refused because the account or address was locked.
    pub locked: Counter,
    /// Locks started.
    pub lockouts: Counter,
}

impl LoginMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "pe_login_hashes_running",
            "Password hashes (argon2) being verified now",
            self.hashes_running.clone(),
        );
        registry.register(
            "pe_login_hashes_running_peak",
            "Most password hashes ever verified at once (bounded by hash_permits)",
            self.hashes_running_peak.clone(),
        );
        registry.register(
            "pe_login_busy",
            "Sign-ins answered 503 because every hash permit stayed busy",
            self.busy.clone(),
        );
        registry.register(
            "pe_login_locked",
            "Sign-ins refused (429) because the account or address is locked",
            self.locked.clone(),
        );
        registry.register(
            "pe_login_lockouts",
            "Sign-in locks started",
            self.lockouts.clone(),
        );
    }
}

/// The staff side's guard settings and the argon2 pool. See the module docs.
#[derive(Debug)]
pub struct StaffGuard {
    pub account_policy: Policy,
    pub address_policy: Policy,
    pub session_idle: chrono::TimeDelta,
    /// Origins besides the request's own Host that may use the cookie.
    pub allowed_origins: Vec<String>,
    /// `Secure` on the session cookie (off only for a loopback HTTP bind).
    pub cookie_secure: bool,
    pub metrics: std::sync::Arc<LoginMetrics>,
    permits: Semaphore,
    hash_wait: Duration,
    running: AtomicI64,
}

/// No hash permit came free in time.
#[derive(Debug)]
pub struct Busy;

impl StaffGuard {
    /// From `staff.toml`; `cookie_secure` from the HTTP bind address.
    pub fn new(cfg: &StaffConfig, cookie_secure: bool) -> StaffGuard {
        StaffGuard {
            account_policy: cfg.login.per_account(),
            address_policy: cfg.login.per_address(),
            session_idle: chrono::TimeDelta::from_std(cfg.session_idle())
                .unwrap_or(chrono::TimeDelta::MAX),
            allowed_origins: cfg
                .allowed_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            cookie_secure,
            metrics: Default::default(),
            permits: Semaphore::new(cfg.hash_permits),
            hash_wait: cfg.hash_wait(),
            running: AtomicI64::new(0),
        }
    }

    /// Whether the cookie should be `Secure` for an HTTP bind on `ip`:
    /// always, except on loopback (plain-HTTP development and tests).
    pub fn secure_cookie_for(ip: IpAddr) -> bool {
        !ip.is_loopback()
    }

    /// Runs `verify` (argon2) on the blocking pool once one of the few hash
    /// permits is free; waits at most `hash_wait` for it.
    pub async fn verify<F>(&self, verify: F) -> Result<bool, Busy>
    where
        F: FnOnce() -> bool + Send + 'static,
    {
        let permit = tokio::time::timeout(self.hash_wait, self.permits.acquire())
            .await
            .map_err(|_| {
                self.metrics.busy.inc();
                Busy
            })?
            .map_err(|_| Busy)?;
        let now_running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.metrics.hashes_running.set(now_running);
        if now_running > self.metrics.hashes_running_peak.get() {
            self.metrics.hashes_running_peak.set(now_running);
        }
        let matches = tokio::task::spawn_blocking(verify).await.unwrap_or(false);
        let left = self.running.fetch_sub(1, Ordering::SeqCst) - 1;
        self.metrics.hashes_running.set(left);
        drop(permit);
        Ok(matches)
    }

    /// The keys a sign-in is counted under: the typed name and the address.
    /// A name that is no account is kept only as a short hash (people type
    /// passwords into the name field), so unknown and known names lock alike.
    pub fn keys(typed: &str, is_account: bool, ip: Option<IpAddr>) -> Vec<(LockKind, String)> {
        let mut keys = Vec::with_capacity(2);
        let name = if is_account {
            typed.to_string()
        } else {
            format!("unknown:{}", &super::auth::sha256_hex(typed)[..12])
        };
        keys.push((LockKind::Account, name));
        if let Some(ip) = ip {
            keys.push((LockKind::Address, ip.to_string()));
        }
        keys
    }

    pub fn policy(&self, kind: LockKind) -> &Policy {
        match kind {
            LockKind::Account => &self.account_policy,
            LockKind::Address => &self.address_policy,
        }
    }
}

impl Default for StaffGuard {
    /// Defaults of `staff.toml`, cookie not `Secure` (handler tests on loopback).
    fn default() -> Self {
        StaffGuard::new(&StaffConfig::default(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn no_more_hashes_run_at_once_than_there_are_permits() {
        let cfg = StaffConfig {
            hash_permits: 2,
            hash_wait_ms: 10_000,
            ..StaffConfig::default()
        };
        let guard = Arc::new(StaffGuard::new(&cfg, true));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let g = guard.clone();
            tasks.push(tokio::spawn(async move {
                g.verify(|| {
                    std::thread::sleep(Duration::from_millis(20));
                    true
                })
                .await
                .is_ok()
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap());
        }
        assert!(guard.metrics.hashes_running_peak.get() <= 2);
        assert_eq!(guard.metrics.hashes_running.get(), 0);
    }

    #[test]
    fn unknown_names_are_kept_as_a_hash() {
        let keys = StaffGuard::keys("hunter2-password", false, None);
        assert_eq!(keys.len(), 1);
        assert!(keys[0].1.starts_with("unknown:") && !keys[0].1.contains("hunter2"));
        let keys = StaffGuard::keys("anna", true, Some([10, 0, 0, 1].into()));
        assert_eq!(keys[0], (LockKind::Account, "anna".into()));
        assert_eq!(keys[1], (LockKind::Address, "10.0.0.1".into()));
        assert!(StaffGuard::secure_cookie_for([0, 0, 0, 0].into()));
        assert!(!StaffGuard::secure_cookie_for([127, 0, 0, 1].into()));
    }
}
