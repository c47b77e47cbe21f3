//! Leases on held cases: a held case belongs to the node whose live call it
//! is for as long as that node's heartbeat (written by `readiness`) is
//! fresh. Every node runs this sweeper, so the held cases of a node that
//! crashed or was cut off become callbacks to the caller ID within about a
//! lease and a sweep, whichever node is left.

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

/// Sweeps now and then every `every` until `stop`; counts what it turned
/// into callbacks on `swept`.
pub fn start(
    store: Store,
    every: Duration,
    swept: Counter,
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
                    swept.inc_by(ids.len() as u64);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "lease sweep failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    })
}

/// `pe_holds_swept_total` on `/metrics`.
pub fn register(swept: &Counter, registry: &mut Registry) {
    registry.register(
        "pe_holds_swept",
        "Held cases turned into callbacks because their node stopped",
        swept.clone(),
    );
}
