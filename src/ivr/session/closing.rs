//! The service is stopping with the caller still on the line: they hear why
//! before our BYE, and what the IVR knew is kept as on a hang-up.

use std::sync::Arc;
use std::time::Instant;

use super::{Session, Step, Then};
use crate::ivr::{IvrAction, RecordingEnd};

impl Session {
    pub(super) fn on_closing(&mut self, now: Instant) {
        if matches!(self.step, Step::Ringing | Step::Done) || self.closing {
            return;
        }
        self.closing = true;
        let flow = Arc::clone(&self.flow);
        let settings = flow.settings();
        if self.step == Step::Holding {
            // The held case becomes a callback when the call ends; only a caller
            // with a number can be told a nurse will call.
            let items = match self.caller_id {
                Some(_) => &settings.closing_held,
                None => &settings.closing,
            };
            self.play(now, items, false, Then::HangupHeld);
            return;
        }
        if matches!(self.step, Step::Recording { .. }) {
            self.actions.push_back(IvrAction::StopRecording {
                reason: RecordingEnd::Hangup,
            });
        }
        self.register_dropped();
        self.record_contact_on_hangup();
        self.play(now, &settings.closing, false, Then::Hangup);
    }
}
