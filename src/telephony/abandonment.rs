//! Where callers hang up in the IVR (issue 12, follow-up): a caller who
//! leaves before anything was registered is stored as (time, IVR node),
//! beside the call with the store deadline, so the call never waits on it.

use crate::ivr::CallOutcome;
use crate::store::Store;
use std::time::Duration;
use tokio_util::task::TaskTracker;
use tracing::warn;

/// Stores `outcome` if it is an abandonment; returns at once.
pub fn record(tasks: &TaskTracker, store: &Store, outcome: &CallOutcome, deadline: Duration) {
    let CallOutcome::Abandoned { node } = outcome else {
        return;
    };
    let (store, node, at) = (store.clone(), node.clone(), chrono::Utc::now());
    tasks.spawn(async move {
        match tokio::time::timeout(deadline, store.insert_ivr_abandonment(&node, at)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "IVR abandonment not recorded"),
            Err(_) => warn!("IVR abandonment not recorded in time"),
        }
    });
}
