//! A caller holding on another node: the nurse's node asks the holding node
//! through the store, and the holding node rings the nurse's phone (found
//! through the shared registrations) and bridges it to the live call, under
//! the call id the nurse's page polls (`callback_calls` shows it on every
//! node). If the holding node does not take the request in time the nurse is
//! told so; the case stays held, and if that node is down its lease lapses
//! and the sweeper turns the caller into a callback: nothing is lost.

use super::{DialError, Dialer, NurseLegRequest, Started};
use crate::store::held_pickups::{Pickup, PickupState};
use crate::store::{CaseRecord, CaseStatus};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// How long the holding node has to take a request.
const PICKUP_DEADLINE: Duration = Duration::from_secs(5);
/// How long the holding node waits for a just-registered caller to offer
/// itself to nurses.
const HELD_GRACE: Duration = Duration::from_secs(3);
/// How often the asking node looks at its request.
const ASK_POLL: Duration = Duration::from_millis(100);
/// How often a node looks for requests addressed to it.
pub const SERVE_EVERY: Duration = Duration::from_millis(250);

fn store_error(e: crate::store::StoreError) -> DialError {
    DialError::Internal(e.to_string())
}

impl Dialer {
    /// Asks the node holding `case`'s caller to connect `nurse`'s phone.
    pub(super) async fn pickup_elsewhere(
        &self,
        call_id: Uuid,
        case: &CaseRecord,
        nurse: &str,
    ) -> Result<Started, DialError> {
        let node = self.store.held_by(case.id).await.map_err(store_error)?;
        let Some(node) = node.filter(|n| *n != self.node) else {
            return Err(DialError::HeldElsewhere(case.id));
        };
        let pickup = Pickup {
            call_id,
            case_id: case.id,
            nurse: nurse.to_string(),
        };
        self.store
            .request_pickup(&pickup, &node, chrono::Utc::now())
            .await
            .map_err(store_error)?;
        tracing::info!(%call_id, case_id = %case.id, %node, "asked the holding node for the caller");
        let asked = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(ASK_POLL).await;
            let state = self
                .store
                .pickup_state(call_id)
                .await
                .map_err(store_error)?;
            let late = asked.elapsed() > PICKUP_DEADLINE;
            match state {
                Some(PickupState::Started) => {
                    self.metrics.pickup("started");
                    return Ok(Started {
                        call_id,
                        answer_sdp: None,
                    });
                }
                Some(PickupState::Failed(why)) => {
                    self.metrics.pickup("failed");
                    return Err(DialError::PickupFailed(why));
                }
                // Taken but silent for another deadline: that node broke mid-way.
                Some(PickupState::Taken) if asked.elapsed() > 2 * PICKUP_DEADLINE => {}
                Some(PickupState::Pending) if late => {
                    if !self
                        .store
                        .expire_pickup(call_id)
                        .await
                        .map_err(store_error)?
                    {
                        continue; // taken meanwhile: wait for its word
                    }
                }
                Some(PickupState::Pending | PickupState::Taken) => continue,
                Some(PickupState::Expired) | None => {}
            }
            self.metrics.pickup("expired");
            return Err(DialError::PickupTimeout {
                case: case.id,
                node,
            });
        }
    }

    /// Serves other nodes' requests for callers holding here until `stop`.
    pub fn serve_pickups(
        self: &Arc<Self>,
        mut stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match me.store.take_pickups(&me.node).await {
                    Ok(list) => {
                        for p in list {
                            let one = me.clone();
                            tokio::spawn(async move { one.serve(p).await });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "pickup requests not read"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(SERVE_EVERY) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        })
    }

    /// Starts one request's callback here (the caller holds here) and says
    /// how it went.
    async fn serve(self: Arc<Self>, p: Pickup) {
        let outcome = match self.pickup_case(&p).await {
            Ok(case) => {
                self.wait_held(&case).await;
                self.start_as(p.call_id, &case, &p.nurse, NurseLegRequest::Phone, false)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            Err(why) => Err(why),
        };
        if outcome.is_ok() {
            self.metrics.pickup("served");
        }
        tracing::info!(call_id = %p.call_id, case_id = %p.case_id, ok = outcome.is_ok(), "served a pickup for another node");
        if let Err(e) = self.store.finish_pickup(p.call_id, outcome).await {
            tracing::warn!(call_id = %p.call_id, error = %e, "pickup result not stored");
        }
    }

    /// A caller registers the held case a moment before the call offers
    /// itself to nurses (after the first prompts): wait that moment out.
    async fn wait_held(&self, case: &CaseRecord) {
        let id = case.id.to_string();
        let end = tokio::time::Instant::now() + HELD_GRACE;
        while self.telephony.held.get(&id).is_none() && tokio::time::Instant::now() < end {
            tokio::time::sleep(ASK_POLL).await;
        }
    }

    /// The case of a request, still claimed by the asking nurse.
    async fn pickup_case(&self, p: &Pickup) -> Result<CaseRecord, String> {
        let case = self
            .store
            .get_case(p.case_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("case {} not found", p.case_id))?;
        let claim = self
            .store
            .claim_info(p.case_id)
            .await
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        if case.status != CaseStatus::Claimed || claim.claimed_by.as_deref() != Some(&p.nurse) {
            return Err(format!("case {} is no longer claimed by you", p.case_id));
        }
        Ok(case)
    }
}
