//! Self-care: after the questions, answers that match a `[[self_care]]`
//! route of triage.toml hear its advice, may ask for an SMS with its link
//! (answer `sms_consent`), and choose a nurse's callback anyway (1: the
//! normal path, the case keeps `self_care_advice`) or to end (2). The
//! closed-hours advice route (hours.toml "advice") ends the same way. A
//! contact that ends without a case is recorded beside the call
//! (`RecordContact`, outcome self_care): nothing is confirmed to the
//! caller, so nobody waits for the write. Also the `sms_consent` question
//! of the callback path.

use std::sync::Arc;
use std::time::Instant;

use super::{Ask, Failure, Session, Then};
use crate::ivr::flow::{
    NodeKind, PromptItem, OFFER_CLOSED, SELF_CARE_ADVICE, SELF_CARE_CHOICE, SMS_CONSENT,
};
use crate::ivr::{CaseMode, IvrAction};

/// The question texts the nurse reads beside the answers (Swedish).
const SMS_CONSENT_TEXT: &str = "Sms med länk eller bekräftelse";
const SELF_CARE_ADVICE_TEXT: &str = "Egenvårdsråd i telefonen";
const SELF_CARE_CHOICE_TEXT: &str = "Efter egenvårdsrådet";
const OFFER_CLOSED_TEXT: &str = "Uppringning stängd";

/// Keys after the advice (DESIGN.md section 5: yes = 1, no = 2).
const YES: u8 = 1;
const NO: u8 = 2;

impl Session {
    /// Entering a `self_care` node: the matching route's advice, or `next`.
    pub(super) fn enter_self_care(&mut self, now: Instant) {
        let flow = Arc::clone(&self.flow);
        let NodeKind::SelfCare { next, .. } = &flow.node(self.node).kind else {
            return;
        };
        let level = self.level();
        let route = match self.retriage {
            // A repeat caller's waiting case is updated, never closed as advice.
            Some(_) => None,
            None => self
                .triage
                .self_care(&self.answer_map, level, self.red_flag)
                .map(|r| (r.name.clone(), r.advice.clone())),
        };
        let Some((name, advice)) = route else {
            return self.enter(now, *next);
        };
        self.give_advice(&name);
        let ask = if self.caller_id.is_some() {
            Ask::SelfCareSms
        } else {
            Ask::SelfCareChoice
        };
        let advice = [PromptItem::Fixed {
            id: advice,
            lang: None,
        }];
        self.play(now, &advice, false, Then::Ask(ask));
    }

    /// Notes that the caller heard route `name`'s advice (kept in the answers).
    fn give_advice(&mut self, name: &str) {
        self.self_care = Some(name.to_owned());
        self.record(SELF_CARE_ADVICE, SELF_CARE_ADVICE_TEXT, name, name);
    }

    /// A key after the advice: the SMS question, then callback (1) or end (2).
    pub(super) fn on_self_care_choice(&mut self, now: Instant, ask: Ask, digit: u8) {
        let flow = Arc::clone(&self.flow);
        let NodeKind::SelfCare { next, end, .. } = &flow.node(self.node).kind else {
            return;
        };
        match (ask, digit) {
            (Ask::SelfCareSms, YES | NO) => {
                self.record_consent(digit == YES);
                self.ask(now, Ask::SelfCareChoice, 0, &[]);
            }
            (Ask::SelfCareChoice, YES) => {
                self.record(
                    SELF_CARE_CHOICE,
                    SELF_CARE_CHOICE_TEXT,
                    "callback",
                    "Uppringning ändå",
                );
                self.enter(now, *next);
            }
            (Ask::SelfCareChoice, NO) => {
                self.record(
                    SELF_CARE_CHOICE,
                    SELF_CARE_CHOICE_TEXT,
                    "end",
                    "Avslutade samtalet",
                );
                self.record_contact(false);
                self.enter(now, *end);
            }
            _ => self.fail(now, Failure::Invalid),
        }
    }

    fn record_consent(&mut self, yes: bool) {
        let settings = Arc::clone(&self.flow);
        let settings = settings.settings();
        let (value, text) = if yes {
            ("yes", &settings.yes_text)
        } else {
            ("no", &settings.no_text)
        };
        self.record(SMS_CONSENT, SMS_CONSENT_TEXT, value, text);
    }

    /// hours.toml sends this caller to advice instead of a callback: the
    /// advice (and the route's self-care advice, unless heard already), the
    /// contact recorded, then the node's `advice_end`. A node without
    /// `advice_end` takes the closed path (hold) as before.
    pub(super) fn on_advise_other_route(&mut self, now: Instant) {
        let flow = Arc::clone(&self.flow);
        let NodeKind::CallbackOffer {
            advice, advice_end, ..
        } = &flow.node(self.node).kind
        else {
            return;
        };
        let Some(end) = *advice_end else {
            return self.on_estimate(now, None);
        };
        let mut items = advice.clone();
        if self.self_care.is_none() {
            let level = self.level();
            let route = self
                .triage
                .self_care(&self.answer_map, level, self.red_flag)
                .map(|r| (r.name.clone(), r.advice.clone()));
            if let Some((name, prompt)) = route {
                self.give_advice(&name);
                items.push(PromptItem::Fixed {
                    id: prompt,
                    lang: None,
                });
            }
        }
        self.record(
            OFFER_CLOSED,
            OFFER_CLOSED_TEXT,
            "advice",
            "Råd om annan vårdväg",
        );
        self.record_contact(true);
        self.play(now, &items, false, Then::Goto(end));
    }

    /// Hands the contact to the app to store closed (outcome self_care):
    /// the answers, the level, and the number only when the caller asked
    /// for the SMS (it needs it); never a personnummer. Once per call.
    pub(super) fn record_contact(&mut self, closed_offer: bool) {
        if self.contact.is_some() {
            return;
        }
        self.contact = Some(closed_offer);
        let consent = self.answer_map.get(SMS_CONSENT) == Some("yes");
        let number = match consent {
            true => self
                .callback_number
                .clone()
                .or_else(|| self.caller_id.clone()),
            false => None,
        };
        let mut draft = self.draft(self.level(), CaseMode::Callback, number, false);
        draft.personnummer = None;
        self.actions.push_back(IvrAction::RecordContact(draft));
    }

    /// A caller who hangs up after the advice without a case: the contact
    /// is recorded all the same.
    pub(super) fn record_contact_on_hangup(&mut self) {
        if self.self_care.is_some() && self.case_id.is_none() && self.case_mode.is_none() {
            self.record_contact(false);
        }
    }

    /// Entering an `sms_consent` node: asked only with a callback number
    /// and no answer yet.
    pub(super) fn enter_sms_consent(&mut self, now: Instant) {
        let NodeKind::SmsConsent { next, .. } = self.flow.node(self.node).kind else {
            return;
        };
        if self.callback_number.is_none() || self.answer_map.get(SMS_CONSENT).is_some() {
            return self.enter(now, next);
        }
        self.ask(now, Ask::Node, 0, &[]);
    }

    /// 1 yes, 2 no; other keys re-ask (see `fail`).
    pub(super) fn on_sms_consent(&mut self, now: Instant, digit: u8) {
        let NodeKind::SmsConsent { next, .. } = self.flow.node(self.node).kind else {
            return;
        };
        match digit {
            YES | NO => {
                self.record_consent(digit == YES);
                self.enter(now, next);
            }
            _ => self.fail(now, Failure::Invalid),
        }
    }
}
