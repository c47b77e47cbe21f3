//! The booked-callback step: a caller who already waits for a callback hears
//! when it comes, then keeps it (1) or cancels it (2). Only a committed
//! cancellation is confirmed; no answer keeps the callback.

use std::sync::Arc;
use std::time::Instant;

use super::{Ask, Failure, Session, Step, Then};
use crate::ivr::flow::NodeKind;
use crate::ivr::{BookedCallback, IvrAction};

impl Session {
    /// Entering a `booked_callback` node: looks the caller's number up, or
    /// goes on at once when the number is withheld.
    pub(super) fn enter_booked(&mut self, now: Instant) {
        let flow = Arc::clone(&self.flow);
        let NodeKind::BookedCallback { next, .. } = &flow.node(self.node).kind else {
            return;
        };
        match &self.caller_id {
            Some(number) => {
                self.actions.push_back(IvrAction::FindBookedCallback {
                    number: number.clone(),
                });
                self.step = Step::AwaitBooked {
                    deadline: now + flow.settings().estimate_timeout,
                };
            }
            None => self.enter(now, *next),
        }
    }

    pub(super) fn on_booked(&mut self, now: Instant, booked: Option<BookedCallback>) {
        let NodeKind::BookedCallback { next, .. } = self.flow.node(self.node).kind else {
            return;
        };
        match booked {
            Some(b) => {
                self.booked = Some(b);
                self.ask(now, Ask::Node, 0, &[]);
            }
            None => self.enter(now, next),
        }
    }

    /// Only a committed cancellation is confirmed to the caller.
    pub(super) fn on_cancelled(&mut self, now: Instant, cancelled: bool) {
        let flow = Arc::clone(&self.flow);
        let NodeKind::BookedCallback {
            cancelled: said,
            cancel_failed,
            keep,
            done,
            ..
        } = &flow.node(self.node).kind
        else {
            return;
        };
        self.booked_cancelled = Some(cancelled);
        if cancelled {
            self.play(now, said, false, Then::Goto(*done));
        } else {
            self.play(now, cancel_failed, false, Then::Goto(*keep));
        }
    }

    /// A key to "1 keeps it, 2 cancels it".
    pub(super) fn on_booked_choice(&mut self, now: Instant, digit: u8) {
        let flow = Arc::clone(&self.flow);
        let NodeKind::BookedCallback { keep, .. } = &flow.node(self.node).kind else {
            return;
        };
        match digit {
            1 => self.keep_booked(now),
            2 => match &self.booked {
                Some(b) => {
                    self.actions.push_back(IvrAction::CancelCase {
                        case_id: b.case_id.clone(),
                    });
                    self.step = Step::AwaitCancel {
                        deadline: now + self.flow.settings().store_timeout,
                    };
                }
                None => self.enter(now, *keep),
            },
            _ => self.fail(now, Failure::Invalid),
        }
    }

    /// The callback stays booked (the caller pressed 1 or never answered).
    pub(super) fn keep_booked(&mut self, now: Instant) {
        let flow = Arc::clone(&self.flow);
        if let NodeKind::BookedCallback { kept, keep, .. } = &flow.node(self.node).kind {
            self.booked_cancelled = Some(false);
            self.play(now, kept, false, Then::Goto(*keep));
        }
    }
}
