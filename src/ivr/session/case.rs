//! The case the call leaves behind: the answers, their triage level, the
//! draft handed to the app (a new case, or after a re-triage the update of
//! the caller's waiting one), and what the caller hears once it is (or is
//! not) stored (a hold that cannot be stored goes to the fallback destination).

use std::sync::Arc;
use std::time::Instant;

use super::{Ask, Session, Step, Then, ONE_MOMENT_AFTER};
use crate::identity::PhoneNumber;
use crate::ivr::flow::NodeKind;
use crate::ivr::{Answer, CaseDraft, CaseMode, IvrAction};

impl Session {
    pub(super) fn record(&mut self, question: &str, text: &str, value: &str, value_text: &str) {
        self.answers.retain(|a| a.question_id != question);
        self.answers.push(Answer {
            question_id: question.to_owned(),
            question_text: text.to_owned(),
            value: value.to_owned(),
            value_text: value_text.to_owned(),
        });
        self.answer_map.insert(question, value);
    }

    /// Triage of the answers so far; a red flag is always level 1.
    pub(super) fn level(&self) -> u8 {
        if self.red_flag {
            1
        } else {
            self.triage.assess(&self.answer_map).level
        }
    }

    pub(super) fn register(&mut self, now: Instant, mode: CaseMode, max_level: Option<u8>) {
        let mut level = self.level();
        if let Some(cap) = max_level {
            level = level.min(cap);
        }
        self.held_level = level;
        self.case_mode = Some(mode);
        let callback_number = match mode {
            CaseMode::Callback => self.callback_number.clone(),
            // If a held caller hangs up, the case becomes a callback to this number.
            CaseMode::Hold => self
                .callback_number
                .clone()
                .or_else(|| self.caller_id.clone()),
        };
        let draft = self.draft(level, mode, callback_number, false);
        self.actions.push_back(IvrAction::RegisterCase(draft));
        self.step = Step::AwaitStore {
            mode,
            deadline: now + self.flow.settings().store_timeout,
        };
        self.moment_at = Some(now + ONE_MOMENT_AFTER);
    }

    /// What the IVR knows, as a case of `level` (a re-triage names the
    /// waiting case it updates).
    pub(super) fn draft(
        &self,
        level: u8,
        mode: CaseMode,
        callback_number: Option<PhoneNumber>,
        dropped_in_ivr: bool,
    ) -> CaseDraft {
        CaseDraft {
            level,
            mode,
            answers: self.answers.clone(),
            callback_number,
            language: self.language,
            personnummer: self.personnummer.clone(),
            red_flag: self.red_flag,
            matched_rules: self.triage.assess(&self.answer_map).matched_rules,
            dropped_in_ivr,
            updates: self.retriage.clone(),
        }
    }

    /// A caller who confirmed the callback number and hangs up at the SMS
    /// question (asked after the confirmation): the callback they confirmed
    /// is registered, without consent. Whether it was registered.
    pub(super) fn register_confirmed_on_hangup(&mut self) -> bool {
        let at_sms_question = matches!(self.flow.node(self.node).kind, NodeKind::SmsConsent { .. });
        let Some(number) = self.callback_number.clone() else {
            return false;
        };
        if !at_sms_question || self.case_mode.is_some() || self.dropped_registered {
            return false;
        }
        self.dropped_registered = true;
        let draft = self.draft(self.level(), CaseMode::Callback, Some(number), false);
        self.actions.push_back(IvrAction::RegisterCase(draft));
        true
    }

    /// A caller who hangs up after triage, before confirming, with an urgent
    /// enough level and a number to call: registered as a callback anyway,
    /// marked dropped (their mobile may have died mid-call).
    pub(super) fn register_dropped(&mut self) {
        let max = self.flow.settings().register_dropped_up_to_level;
        let number = self
            .callback_number
            .clone()
            .or_else(|| self.caller_id.clone());
        let level = self.level();
        if !self.triaged
            || self.case_mode.is_some()
            || self.dropped_registered
            || level > max
            || number.is_none()
        {
            return;
        }
        self.dropped_registered = true;
        let draft = self.draft(level, CaseMode::Callback, number, true);
        self.actions.push_back(IvrAction::RegisterCase(draft));
    }

    pub(super) fn on_stored(&mut self, now: Instant, mode: CaseMode, stored: bool) {
        if self.retriage.is_some() && mode == CaseMode::Callback {
            return self.on_retriaged(now, stored);
        }
        let flow = Arc::clone(&self.flow);
        match (&flow.node(self.node).kind, mode) {
            (
                NodeKind::Register {
                    confirmed, next, ..
                },
                CaseMode::Callback,
            ) => {
                if stored {
                    self.play(now, confirmed, false, Then::Goto(*next));
                } else {
                    self.ask(now, Ask::StoreFailed, 0, &[]);
                }
            }
            (NodeKind::Hold { prompts, .. }, CaseMode::Hold) if stored => {
                self.play(now, prompts, false, Then::Hold)
            }
            (_, CaseMode::Hold) if stored => self.then(now, Then::Hold),
            // Nobody holds without a stored case (nurses could not see them):
            // call again, or 112 if it is urgent.
            _ => self.hold_failed(now),
        }
    }

    /// The hold case could not be stored: to the fallback destination
    /// (once), else say so (call again, or 112) and end the call.
    pub(super) fn hold_failed(&mut self, now: Instant) {
        let flow = Arc::clone(&self.flow);
        if std::mem::take(&mut self.fallback) {
            let connecting = &flow.settings().fallback_connecting;
            return self.play(now, connecting, false, Then::Transfer);
        }
        self.play(now, &flow.settings().hold_failed, false, Then::Hangup)
    }
}
