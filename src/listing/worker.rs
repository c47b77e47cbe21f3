//! The look-up loop: every `poll_ms` it claims up to a batch of new cases with
//! a personnummer (phone or digital, see `Store::claim_listing_lookups`),
//! looks each up and stores the answer. It runs as its own task beside the
//! call loop, which never waits for it; a store error waits for the next round.

use super::{ListingClient, ListingConfig, ListingMetrics};
use crate::store::Store;
use chrono::Utc;

/// Cases claimed per round.
const BATCH: u32 = 20;

/// Starts the loop; it ends when `stop` turns true.
pub fn start(
    store: Store,
    config: &ListingConfig,
    metrics: ListingMetrics,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let client = ListingClient::new(config);
    let every = config.poll_every();
    tokio::spawn(async move {
        loop {
            match store.claim_listing_lookups(Utc::now(), BATCH).await {
                Ok(due) => {
                    for case in due {
                        let listing = client.lookup(&case.personnummer).await;
                        metrics.record(listing.status);
                        if let Err(e) = store.save_listing(case.case_id, &listing).await {
                            tracing::warn!(case_id = %case.case_id, error = %e, "listing not stored");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "listing look-ups not claimed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    })
}
