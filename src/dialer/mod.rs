//! Callbacks: the nurse leg (SIP phone or browser), the resident leg through
//! the trunk, the bridge between them, and the attempt's result. A caller
//! holding in the queue on this node is connected instead of dialled.

pub mod answer_metrics;
mod callback;
pub mod metrics;
mod mirror;
mod pickup;
pub mod survey;

use crate::store::{CaseRecord, Store};
use crate::telephony::{DialFailure, Telephony};
use metrics::CallbackMetrics;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::webrtc::WebRtcError;

/// Where a callback is in its life (the nurse page polls it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    NurseRinging,
    ResidentRinging,
    Announcing,
    Connected,
    Ended,
}

/// How a callback ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallResult {
    Connected,
    Busy,
    NoAnswer,
    Rejected,
    Failed,
    NurseUnavailable,
    Cancelled,
}

impl CallState {
    /// The snake_case text the API and the store use.
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::NurseRinging => "nurse_ringing",
            CallState::ResidentRinging => "resident_ringing",
            CallState::Announcing => "announcing",
            CallState::Connected => "connected",
            CallState::Ended => "ended",
        }
    }

    /// The state named by `text` (as written by [`CallState::as_str`]).
    pub fn parse(text: &str) -> Option<CallState> {
        [
            CallState::NurseRinging,
            CallState::ResidentRinging,
            CallState::Announcing,
            CallState::Connected,
            CallState::Ended,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

impl CallResult {
    /// The snake_case text the API and the store use.
    pub fn as_str(self) -> &'static str {
        match self {
            CallResult::Connected => "connected",
            CallResult::Busy => "busy",
            CallResult::NoAnswer => "no_answer",
            CallResult::Rejected => "rejected",
            CallResult::Failed => "failed",
            CallResult::NurseUnavailable => "nurse_unavailable",
            CallResult::Cancelled => "cancelled",
        }
    }

    /// The result named by `text` (as written by [`CallResult::as_str`]).
    pub fn parse(text: &str) -> Option<CallResult> {
        [
            CallResult::Connected,
            CallResult::Busy,
            CallResult::NoAnswer,
            CallResult::Rejected,
            CallResult::Failed,
            CallResult::NurseUnavailable,
            CallResult::Cancelled,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }
}

impl From<DialFailure> for CallResult {
    fn from(f: DialFailure) -> Self {
        match f {
            DialFailure::Busy(_) => CallResult::Busy,
            DialFailure::NoAnswer(_) => CallResult::NoAnswer,
            DialFailure::Rejected(_) => CallResult::Rejected,
            DialFailure::Failed(_) => CallResult::Failed,
            DialFailure::Cancelled => CallResult::Cancelled,
        }
    }
}

/// A callback as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallStatus {
    pub call_id: Uuid,
    pub case_id: Uuid,
    pub state: CallState,
    pub result: Option<CallResult>,
}

/// The nurse's side of the call, as asked for.
pub enum NurseLegRequest {
    /// Ring the nurse's SIP phone (registered, or a fixed address).
    Phone,
    /// The browser's WebRTC offer.
    Browser { offer_sdp: String },
}

/// Why a callback could not start.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error(
        "no SIP trunk is configured (sip-config/trunk.toml), so residents cannot be called back"
    )]
    NoTrunk,
    #[error("case {0} has no number to call (withheld caller ID)")]
    NoNumber(Uuid),
    #[error("the caller of case {0} is holding on another node of the service; take the call there, or wait: if they hang up it becomes a callback")]
    HeldElsewhere(Uuid),
    #[error("the node holding the caller of case {case} ({node}) did not answer in time; try again (if that node is down, its caller becomes a callback within a minute)")]
    PickupTimeout { case: Uuid, node: String },
    #[error("the node holding the caller could not connect you: {0}")]
    PickupFailed(String),
    #[error("a call for case {0} is already running")]
    AlreadyCalling(Uuid),
    #[error("your SIP phone is not registered and has no fixed address; register it or call from the browser")]
    NoNursePhone,
    #[error("browser call could not start: {0}")]
    Browser(String),
    #[error("the callback could not start: {0}")]
    Internal(String),
}

struct Running {
    status: watch::Receiver<CallStatus>,
    cancel: CancellationToken,
    nurse: String,
}

/// Starts and tracks callbacks on this node.
pub struct Dialer {
    telephony: Arc<Telephony>,
    metrics: Arc<CallbackMetrics>,
    store: Store,
    calls: Mutex<HashMap<Uuid, Running>>,
    retry: crate::queue::RetryPolicies,
    surveys: Arc<survey::Surveys>,
    /// This node's name, stored with each callback so other nodes can tell
    /// whose call it is.
    node: String,
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let running = self.calls.lock().map(|c| c.len()).unwrap_or(0);
        write!(f, "Dialer {{ calls: {running} }}")
    }
}

/// A started callback.
pub struct Started {
    pub call_id: Uuid,
    /// The SDP answer for a browser leg.
    pub answer_sdp: Option<String>,
}

impl Dialer {
    pub fn new(
        telephony: Arc<Telephony>,
        store: Store,
        retry: crate::queue::RetryPolicies,
        metrics: Arc<CallbackMetrics>,
        surveys: Arc<survey::Surveys>,
        node: &str,
    ) -> Arc<Dialer> {
        Arc::new(Dialer {
            telephony,
            metrics,
            store,
            retry,
            surveys,
            node: node.to_string(),
            calls: Mutex::new(HashMap::new()),
        })
    }

    /// Calls the resident of `case` (claimed by `nurse`) and connects the
    /// nurse; or connects the nurse to the caller holding for it.
    pub async fn start(
        self: &Arc<Self>,
        case: &CaseRecord,
        nurse: &str,
        leg: NurseLegRequest,
    ) -> Result<Started, DialError> {
        self.start_as(Uuid::new_v4(), case, nurse, leg, true).await
    }

    /// [`Dialer::start`] under `call_id`; a caller holding on another node
    /// is asked of that node when `forward` (a nurse's phone only: a
    /// browser leg ends on this node).
    async fn start_as(
        self: &Arc<Self>,
        call_id: Uuid,
        case: &CaseRecord,
        nurse: &str,
        leg: NurseLegRequest,
        forward: bool,
    ) -> Result<Started, DialError> {
        let held = self.telephony.held.get(&case.id.to_string());
        if held.is_none() {
            if case.mode == crate::store::CaseMode::Hold {
                // Still a live caller (a leaving caller turns the case into a callback).
                return match leg {
                    NurseLegRequest::Phone if forward => {
                        self.pickup_elsewhere(call_id, case, nurse).await
                    }
                    _ => Err(DialError::HeldElsewhere(case.id)),
                };
            }
            if self.telephony.trunk.is_none() {
                return Err(DialError::NoTrunk);
            }
            if case.callback_number.is_none() {
                return Err(DialError::NoNumber(case.id));
            }
        }
        let (status_tx, status_rx) = watch::channel(CallStatus {
            call_id,
            case_id: case.id,
            state: CallState::NurseRinging,
            result: None,
        });
        let cancel = CancellationToken::new();
        // Checked and taken under one lock: a double click starts one call.
        self.reserve(
            call_id,
            Running {
                status: status_rx,
                cancel: cancel.clone(),
                nurse: nurse.to_string(),
            },
        )?;
        let setup = self.nurse_setup(nurse, leg).await;
        let (nurse_side, answer_sdp) = match setup {
            Ok(s) => s,
            Err(e) => {
                if let Ok(mut calls) = self.calls.lock() {
                    calls.remove(&call_id);
                }
                return Err(e);
            }
        };
        // Every node answers the nurse's status poll from the store.
        let stored = self.store.clone();
        let shared = mirror::Mirror {
            store: self.store.clone(),
            nurse: nurse.to_string(),
            node: self.node.clone(),
            cancel: cancel.clone(),
        };
        let status_rx = status_tx.subscribe();
        self.telephony.tasks.spawn(async move {
            let before = chrono::Utc::now() - crate::store::callback_calls::KEEP_CALLBACK_CALLS;
            if let Err(e) = stored.prune_callback_calls(before).await {
                tracing::warn!(error = %e, "old callback rows not pruned");
            }
            shared.run(status_rx).await;
        });
        let job = callback::Callback {
            telephony: self.telephony.clone(),
            metrics: self.metrics.clone(),
            store: self.store.clone(),
            case: case.clone(),
            nurse: nurse.to_string(),
            call_id,
            status: status_tx,
            cancel,
            held,
            retry: self.retry,
            surveys: self.surveys.clone(),
        };
        let me = self.clone();
        self.telephony.tasks.spawn(async move {
            job.run(nurse_side).await;
            me.forget_later(call_id);
        });
        Ok(Started {
            call_id,
            answer_sdp,
        })
    }

    /// Registers a new call unless one for the same case is still running.
    fn reserve(&self, call_id: Uuid, running: Running) -> Result<(), DialError> {
        let case_id = running.status.borrow().case_id;
        let mut calls = self
            .calls
            .lock()
            .map_err(|_| DialError::Internal("call table poisoned".into()))?;
        let busy = calls.values().any(|r| {
            let s = r.status.borrow();
            s.case_id == case_id && s.state != CallState::Ended
        });
        if busy {
            return Err(DialError::AlreadyCalling(case_id));
        }
        calls.insert(call_id, running);
        Ok(())
    }

    /// The nurse's side as asked for: where her phone is, or the browser's
    /// accepted offer with our answer.
    async fn nurse_setup(
        &self,
        nurse: &str,
        leg: NurseLegRequest,
    ) -> Result<(callback::NurseSetup, Option<String>), DialError> {
        match leg {
            NurseLegRequest::Phone => {
                let target = self
                    .telephony
                    .nurse_phones
                    .find(nurse, std::time::Instant::now())
                    .await
                    .ok_or(DialError::NoNursePhone)?;
                Ok((callback::NurseSetup::Phone(target), None))
            }
            NurseLegRequest::Browser { offer_sdp } => {
                let (leg, answer) = callback::accept_browser(&self.telephony, &offer_sdp)
                    .await
                    .map_err(|e| match e {
                        WebRtcError::BadOffer(_)
                        | WebRtcError::NoPcmuAudio
                        | WebRtcError::NoCandidates => DialError::Browser(e.to_string()),
                        other => DialError::Internal(other.to_string()),
                    })?;
                Ok((callback::NurseSetup::Browser(leg), Some(answer)))
            }
        }
    }

    /// The status of a callback started by `nurse` (others see nothing):
    /// this node's own, else as another node stored it.
    pub async fn status(
        &self,
        call_id: Uuid,
        nurse: &str,
    ) -> Result<Option<CallStatus>, crate::store::StoreError> {
        if let Some(s) = self.local_status(call_id, nurse) {
            return Ok(Some(s));
        }
        let stored = self.store.callback_call(call_id).await?;
        Ok(stored
            .filter(|c| c.nurse == nurse)
            .and_then(|c| mirror::status_of(&c)))
    }

    fn local_status(&self, call_id: Uuid, nurse: &str) -> Option<CallStatus> {
        let calls = self.calls.lock().ok()?;
        let r = calls.get(&call_id).filter(|r| r.nurse == nurse)?;
        let s = r.status.borrow().clone();
        Some(s)
    }

    /// Ends a callback started by `nurse`: this node's at once, another
    /// node's through the store (that node hangs up within a poll);
    /// false when there is no running one.
    pub async fn hangup(
        &self,
        call_id: Uuid,
        nurse: &str,
    ) -> Result<bool, crate::store::StoreError> {
        let local = match self.calls.lock() {
            Ok(calls) => calls.get(&call_id).filter(|r| r.nurse == nurse).map(|r| {
                r.cancel.cancel();
            }),
            Err(_) => None,
        };
        if local.is_some() {
            return Ok(true);
        }
        self.store.request_callback_hangup(call_id, nurse).await
    }

    /// Ended calls stay visible for a while so the page can read the result.
    fn forget_later(self: &Arc<Self>, call_id: Uuid) {
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(300)).await;
            if let Ok(mut calls) = me.calls.lock() {
                calls.remove(&call_id);
            }
        });
    }
}
