//! The booked-callback step: a caller whose number already waits for a
//! callback hears when it comes, then keeps it (1), answers the questions
//! again (2: re-triage; the waiting case is updated at the end, see `case`),
//! calls about someone else in the household (3: a normal new call and a
//! new case) or cancels it (9, then 1 to confirm, then the case's
//! personnummer when it has one). "2" is "no" in every other menu, so it
//! never cancels. Invalid keys re-ask; no answer keeps the callback. Only a
//! committed cancellation or update is confirmed.

use std::sync::Arc;
use std::time::Instant;

use super::{Ask, Failure, Session, Step, Then, ONE_MOMENT_AFTER};
use crate::identity::Personnummer;
use crate::ivr::flow::NodeKind;
use crate::ivr::{BookedCallback, CallerIdentity, IvrAction};

/// Keys of the booked-callback menu (DESIGN.md section 5 keeps 2 as "no").
const KEEP: u8 = 1;
const RETRIAGE: u8 = 2;
const SOMEONE_ELSE: u8 = 3;
const CANCEL: u8 = 9;
/// "Press 1 to confirm the cancellation"; 2 (no) keeps it.
const CONFIRM: u8 = 1;
const NO: u8 = 2;

impl Session {
    /// Entering a `booked_callback` node: looks the caller's number up, or
    /// goes on at once when the number is withheld or unverified (a forged
    /// From must not hear about, or cancel, someone else's callback).
    pub(super) fn enter_booked(&mut self, now: Instant) {
        let flow = Arc::clone(&self.flow);
        let NodeKind::BookedCallback { next, .. } = &flow.node(self.node).kind else {
            return;
        };
        match (&self.caller_id, self.identity) {
            (Some(number), CallerIdentity::Trusted) => {
                self.actions.push_back(IvrAction::FindBookedCallback {
                    number: number.clone(),
                });
                self.step = Step::AwaitBooked {
                    deadline: now + flow.settings().estimate_timeout,
                };
            }
            _ => self.enter(now, *next),
        }
    }

    pub(super) fn on_booked(&mut self, now: Instant, booked: Option<BookedCallback>) {
        let NodeKind::BookedCallback { next, .. } = self.flow.node(self.node).kind else {
            return;
        };
        match booked {
            Some(b) => {
                self.booked = Some(b);
                self.booked_node = Some(self.node);
                self.ask(now, Ask::Node, 0, &[]);
            }
            None => self.enter(now, next),
        }
    }

    /// Only a committed cancellation is confirmed to the caller.
    pub(super) fn on_cancelled(&mut self, now: Instant, cancelled: bool) {
        let flow = Arc::clone(&self.flow);
        let NodeKind::BookedCallback {
            say, keep, done, ..
        } = &flow.node(self.node).kind
        else {
            return;
        };
        self.booked_cancelled = Some(cancelled);
        if cancelled {
            self.play(now, &say.cancelled, false, Then::Goto(*done));
        } else {
            self.play(now, &say.cancel_failed, false, Then::Goto(*keep));
        }
    }

    /// A key to the booked-callback menu or to its cancel confirmation.
    pub(super) fn on_booked_choice(&mut self, now: Instant, ask: Ask, digit: u8) {
        let flow = Arc::clone(&self.flow);
        let NodeKind::BookedCallback { retriage, next, .. } = &flow.node(self.node).kind else {
            return;
        };
        match (ask, digit) {
            (Ask::Node, KEEP) | (Ask::ConfirmCancel, NO) => self.keep_booked(now),
            (Ask::Node, RETRIAGE) => {
                // The questions as for a new caller; at the end the waiting
                // case is updated instead of a new one added.
                self.retriage = self.booked.as_ref().map(|b| b.case_id.clone());
                self.enter(now, *retriage);
            }
            (Ask::Node, SOMEONE_ELSE) => self.enter(now, *next),
            (Ask::Node, CANCEL) => self.ask(now, Ask::ConfirmCancel, 0, &[]),
            (Ask::ConfirmCancel, CONFIRM) => {
                if self
                    .booked
                    .as_ref()
                    .is_some_and(|b| b.personnummer.is_some())
                {
                    self.ask(now, Ask::CancelPersonnummer, 0, &[]);
                } else {
                    self.cancel_booked(now);
                }
            }
            _ => self.fail(now, Failure::Invalid),
        }
    }

    /// The personnummer typed to cancel: the case's cancels, another keeps
    /// the case (and says so). Compared here, never logged or said.
    pub(super) fn on_cancel_personnummer(&mut self, now: Instant, typed: &str) {
        if typed.is_empty() {
            return self.fail(now, Failure::NoInput);
        }
        let typed = match Personnummer::parse(typed) {
            Ok(p) if typed.len() == 12 => p,
            _ => return self.fail(now, Failure::NodeInvalid),
        };
        let matches = self
            .booked
            .as_ref()
            .is_some_and(|b| b.personnummer.as_ref() == Some(&typed));
        if matches {
            self.cancel_booked(now);
            return;
        }
        let flow = Arc::clone(&self.flow);
        if let NodeKind::BookedCallback { say, keep, .. } = &flow.node(self.node).kind {
            self.booked_cancelled = Some(false);
            self.play(now, &say.personnummer_mismatch, false, Then::Goto(*keep));
        }
    }

    fn cancel_booked(&mut self, now: Instant) {
        match &self.booked {
            Some(b) => {
                self.actions.push_back(IvrAction::CancelCase {
                    case_id: b.case_id.clone(),
                });
                self.step = Step::AwaitCancel {
                    deadline: now + self.flow.settings().store_timeout,
                };
                self.moment_at = Some(now + ONE_MOMENT_AFTER);
            }
            None => self.keep_booked(now),
        }
    }

    /// The callback stays booked (the caller pressed 1 or never answered).
    pub(super) fn keep_booked(&mut self, now: Instant) {
        let flow = Arc::clone(&self.flow);
        if let NodeKind::BookedCallback { say, keep, .. } = &flow.node(self.node).kind {
            self.booked_cancelled = Some(false);
            self.play(now, &say.kept, false, Then::Goto(*keep));
        }
    }

    /// The re-triaged case was updated (`stored`) or not: say which, then
    /// the booked node's `keep`. Only what was stored is confirmed.
    pub(super) fn on_retriaged(&mut self, now: Instant, stored: bool) {
        let flow = Arc::clone(&self.flow);
        let Some(id) = self.booked_node else {
            return self.hold_failed(now);
        };
        if let NodeKind::BookedCallback { say, keep, .. } = &flow.node(id).kind {
            let said = if stored {
                &say.updated
            } else {
                &say.update_failed
            };
            self.play(now, said, false, Then::Goto(*keep));
        }
    }
}
