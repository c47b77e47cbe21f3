//! Leases, swept: a held case belongs to the node whose live call it is for
//! as long as that node's heartbeat (written by `readiness`) is fresh, and a
//! nurse's claim lasts until its lease ends unless renewed (by her page, or
//! while a callback for the case runs). Every node runs this sweeper, so the
//! held cases of a node that crashed or was cut off become callbacks to the
//! caller ID (or review cases, with no number) within about a lease and a
//! sweep, and a claim nobody renews goes back to the queue, whichever node
//! is left. The same sweep deletes the personal data of cases closed longer
//! than `retention_days` (queue.toml). The store makes each change once,
//! audited, even when nodes sweep at the same time.

use crate::store::Store;
use chrono::Utc;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use std::time::Duration;

/// A node whose heartbeat is older than this holds nothing any more
/// (heartbeats are written every 2 s).
pub const HOLD_LEASE: Duration = Duration::from_secs(15);
/// How often each node sweeps.
pub const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// What the sweeps did on this node, for `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct SweepCounters {
    /// `pe_holds_swept_total`: held cases whose node stopped.
    pub holds: Counter,
    /// `pe_claims_expired_total`: claims whose lease ran out.
    pub claims: Counter,
    /// `pe_cases_redacted_total`: closed cases whose personal data was
    /// deleted after `retention_days`.
    pub redacted: Counter,
}

impl SweepCounters {
    /// Registers both counters.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "pe_holds_swept",
            "Held cases turned into callbacks because their node stopped",
            self.holds.clone(),
        );
        registry.register(
            "pe_claims_expired",
            "Claims put back in the queue because nobody renewed their lease",
            self.claims.clone(),
        );
        registry.register(
            "pe_cases_redacted",
            "Closed cases whose personal data and voice note were deleted after retention_days",
            self.redacted.clone(),
        );
    }
}

/// Sweeps now and then every `every` until `stop`: lapsed holds first (so a
/// claimed held case whose caller is gone is a callback before its claim is
/// looked at), then expired claims, then closed cases past `retention`.
pub fn start(
    store: Store,
    every: Duration,
    retention: chrono::TimeDelta,
    counters: SweepCounters,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let lease = chrono::Duration::from_std(HOLD_LEASE).unwrap_or(chrono::Duration::MAX);
        loop {
            match store.sweep_lapsed_holds(lease, Utc::now()).await {
                Ok(ids) if !ids.is_empty() => {
                    tracing::warn!(
                        cases = ids.len(),
                        "held cases of a stopped node are callbacks now"
                    );
                    counters.holds.inc_by(ids.len() as u64);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "lease sweep failed"),
            }
            match store.sweep_expired_claims(Utc::now()).await {
                Ok(ids) if !ids.is_empty() => {
                    tracing::warn!(cases = ids.len(), "expired claims are back in the queue");
                    counters.claims.inc_by(ids.len() as u64);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "claim sweep failed"),
            }
            match store.redact_expired(retention, Utc::now()).await {
                Ok(ids) if !ids.is_empty() => {
                    tracing::info!(cases = ids.len(), "closed cases past retention redacted");
                    counters.redacted.inc_by(ids.len() as u64);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention sweep failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    })
}
