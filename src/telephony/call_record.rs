//! The call-detail row of an inbound IVR call, filled in as the call goes
//! and written once when it ends (no phone number in it).

use crate::ivr::CallOutcome;
use crate::store::{CallLeg, LegDirection, LegKind, Store};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What the row will say.
#[derive(Debug)]
pub struct InboundRecord {
    pub started_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_by_caller: bool,
    pub nurse_connected: bool,
    result: Option<&'static str>,
    case_id: Option<Uuid>,
}

impl InboundRecord {
    pub fn new(started_at: DateTime<Utc>) -> Self {
        InboundRecord {
            started_at,
            answered_at: None,
            ended_by_caller: false,
            nurse_connected: false,
            result: None,
            case_id: None,
        }
    }

    /// Takes the IVR's outcome (the first one counts).
    pub fn outcome(&mut self, o: &CallOutcome) {
        if self.result.is_none() {
            self.result = Some(o.label());
        }
        if self.case_id.is_none() {
            self.case_id = o.case_id().and_then(|id| Uuid::parse_str(id).ok());
        }
    }

    /// The row as it stands at `ended_at`.
    pub fn row(&self, ended_at: DateTime<Utc>) -> CallLeg {
        let result = if self.nurse_connected {
            "connected_to_nurse"
        } else {
            self.result.unwrap_or("ended")
        };
        CallLeg {
            id: Uuid::new_v4(),
            case_id: self.case_id,
            direction: LegDirection::Inbound,
            kind: LegKind::Ivr,
            started_at: self.started_at,
            answered_at: self.answered_at,
            ended_at,
            result: result.to_string(),
            sip_status: self.answered_at.map(|_| 200),
            ended_by: Some(
                if self.ended_by_caller {
                    "remote"
                } else {
                    "local"
                }
                .to_string(),
            ),
        }
    }

    /// Stores the row; a failure is logged, never fatal to the call.
    pub async fn write(&self, store: &Store) {
        if let Err(e) = store.insert_call_leg(&self.row(Utc::now())).await {
            tracing::warn!(error = %e, "call-detail row of the IVR call not stored");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_carries_outcome_case_and_who_hung_up() {
        let t0 = Utc::now();
        let mut r = InboundRecord::new(t0);
        r.answered_at = Some(t0);
        let id = Uuid::new_v4();
        r.outcome(&CallOutcome::CallbackRegistered {
            case_id: id.to_string(),
        });
        r.outcome(&CallOutcome::Abandoned { node: "x".into() });
        r.ended_by_caller = true;
        let row = r.row(t0);
        assert_eq!(row.result, "callback_registered");
        assert_eq!(row.case_id, Some(id));
        assert_eq!(row.ended_by.as_deref(), Some("remote"));
        assert_eq!(row.sip_status, Some(200));
        r.nurse_connected = true;
        assert_eq!(r.row(t0).result, "connected_to_nurse");
    }
}
