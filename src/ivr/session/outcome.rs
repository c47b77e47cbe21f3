//! How the call ended, reported once as `IvrAction::Outcome`: when the
//! caller hangs up, or when the session hangs up itself.

use super::{Session, Step, Then};
use crate::ivr::flow::NodeKind;
use crate::ivr::{CallOutcome, CaseMode, IvrAction, RecordingEnd};

impl Session {
    pub(super) fn on_hangup(&mut self) {
        if !self.register_confirmed_on_hangup() {
            self.register_dropped();
        }
        self.record_contact_on_hangup();
        if matches!(self.step, Step::Recording { .. }) {
            // What the caller said so far is still stored.
            self.actions.push_back(IvrAction::StopRecording {
                reason: RecordingEnd::Hangup,
            });
        }
        let in_advice = matches!(self.flow.node(self.node).kind, NodeKind::Advice112 { .. });
        let outcome = match (&self.step, &self.case_id, self.case_mode) {
            (Step::Holding | Step::Done, _, _) => None,
            // Held, then told the service is stopping: reported when the hold began.
            (
                Step::Playing {
                    then: Then::HangupHeld,
                    ..
                },
                _,
                _,
            ) => None,
            (_, Some(id), Some(CaseMode::Callback)) => Some(self.callback_outcome(id)),
            // A held caller who leaves keeps the case (it becomes a callback).
            (_, Some(id), _) => Some(CallOutcome::Held {
                case_id: Some(id.clone()),
                level: self.held_level,
            }),
            (_, None, _) if self.contact.is_some() => Some(self.self_care_outcome()),
            (Step::AdviceWait { .. }, None, _) => Some(CallOutcome::AdvisedToCall112),
            (Step::Playing { .. }, None, _) if in_advice => Some(CallOutcome::AdvisedToCall112),
            _ if self.store_failed => Some(CallOutcome::RegistrationFailed),
            (_, None, _) if self.booked_cancelled.is_some() => {
                self.booked.as_ref().map(|b| CallOutcome::BookedCallback {
                    case_id: b.case_id.clone(),
                    cancelled: self.booked_cancelled == Some(true),
                })
            }
            _ => Some(CallOutcome::Abandoned {
                node: self.node_name().to_owned(),
            }),
        };
        if let Some(outcome) = outcome {
            self.actions.push_back(IvrAction::Outcome(outcome));
        }
        self.step = Step::Done;
    }

    pub(super) fn finish_hangup(&mut self) {
        let outcome = match &self.case_id {
            Some(id) if self.case_mode == Some(CaseMode::Callback) => self.callback_outcome(id),
            Some(id) => CallOutcome::Held {
                case_id: Some(id.clone()),
                level: self.held_level,
            },
            None if self.contact.is_some() => self.self_care_outcome(),
            None if self.store_failed => CallOutcome::RegistrationFailed,
            None => match (&self.booked, self.booked_cancelled) {
                (Some(b), Some(cancelled)) => CallOutcome::BookedCallback {
                    case_id: b.case_id.clone(),
                    cancelled,
                },
                _ => CallOutcome::Abandoned {
                    node: self.node_name().to_owned(),
                },
            },
        };
        self.actions.push_back(IvrAction::Outcome(outcome));
        self.actions.push_back(IvrAction::Hangup);
        self.step = Step::Done;
    }

    /// Advice instead of a case (the contact is recorded closed).
    fn self_care_outcome(&self) -> CallOutcome {
        CallOutcome::SelfCare {
            closed_offer: self.contact == Some(true),
        }
    }

    /// A stored callback: a repeat caller's re-triaged case, or a new one
    /// (also when the waiting case had gone and the answers made their own).
    fn callback_outcome(&self, case_id: &str) -> CallOutcome {
        let stored = case_id.to_owned();
        if self.retriage.as_deref() == Some(case_id) {
            CallOutcome::BookedRetriaged { case_id: stored }
        } else {
            CallOutcome::CallbackRegistered { case_id: stored }
        }
    }
}
