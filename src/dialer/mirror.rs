//! A running callback's state in the store, so any node answers the nurse's
//! status poll and takes her hangup: beside the call (the call never waits on
//! the database), written on every change, with a poll for a hangup asked for
//! on another node.

use super::{CallResult, CallState, CallStatus};
use crate::store::{Store, StoredCallback};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often a running callback looks for a hangup asked on another node.
const HANGUP_POLL: Duration = Duration::from_millis(500);
/// A store write that takes longer is given up (the next change retries).
const WRITE_DEADLINE: Duration = Duration::from_secs(5);

pub(super) struct Mirror {
    pub store: Store,
    pub nurse: String,
    pub node: String,
    pub cancel: CancellationToken,
}

impl Mirror {
    /// Writes each state until the call has ended.
    pub async fn run(self, mut status: watch::Receiver<CallStatus>) {
        loop {
            let now = status.borrow_and_update().clone();
            self.write(&now).await;
            if now.state == CallState::Ended {
                return;
            }
            tokio::select! {
                changed = status.changed() => {
                    if changed.is_err() {
                        // The call is gone: its last state is final.
                        let last = status.borrow().clone();
                        self.write(&last).await;
                        return;
                    }
                }
                _ = tokio::time::sleep(HANGUP_POLL) => self.follow_hangup(&now).await,
            }
        }
    }

    async fn write(&self, s: &CallStatus) {
        let row = StoredCallback {
            call_id: s.call_id,
            case_id: s.case_id,
            nurse: self.nurse.clone(),
            node: self.node.clone(),
            state: s.state.as_str().to_string(),
            result: s.result.map(|r| r.as_str().to_string()),
            hangup_requested: false,
        };
        let put = self.store.put_callback_call(&row, chrono::Utc::now());
        match tokio::time::timeout(WRITE_DEADLINE, put).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(call_id = %s.call_id, error = %e, "callback state not stored")
            }
            Err(_) => tracing::warn!(call_id = %s.call_id, "callback state not stored in time"),
        }
    }

    async fn follow_hangup(&self, s: &CallStatus) {
        let read = self.store.callback_call(s.call_id);
        if let Ok(Ok(Some(row))) = tokio::time::timeout(WRITE_DEADLINE, read).await {
            if row.hangup_requested {
                tracing::info!(call_id = %s.call_id, "hangup asked on another node");
                self.cancel.cancel();
            }
        }
    }
}

/// The API's view of a stored callback; `None` for a row this build cannot read.
pub(super) fn status_of(row: &StoredCallback) -> Option<CallStatus> {
    let result = match &row.result {
        Some(r) => Some(CallResult::parse(r)?),
        None => None,
    };
    Some(CallStatus {
        call_id: row.call_id,
        case_id: row.case_id,
        state: CallState::parse(&row.state)?,
        result,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn stored_texts_read_back_as_the_same_status() {
        for state in [
            "nurse_ringing",
            "resident_ringing",
            "announcing",
            "connected",
            "ended",
        ] {
            let row = StoredCallback {
                call_id: Uuid::from_u128(1),
                case_id: Uuid::from_u128(2),
                nurse: "nina".into(),
                node: "a".into(),
                state: state.into(),
                result: Some("no_answer".into()),
                hangup_requested: false,
            };
            let s = status_of(&row).expect("readable");
            assert_eq!(s.state.as_str(), state);
            assert_eq!(s.result, Some(CallResult::NoAnswer));
            // The API's JSON says the same texts.
            let json = serde_json::to_value(&s).expect("json");
            assert_eq!(json["state"], state);
        }
        let odd = StoredCallback {
            call_id: Uuid::from_u128(1),
            case_id: Uuid::from_u128(2),
            nurse: "nina".into(),
            node: "a".into(),
            state: "dancing".into(),
            result: None,
            hangup_requested: false,
        };
        assert!(status_of(&odd).is_none());
    }
}
