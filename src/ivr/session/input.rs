//! The caller's keys: barge-in, `*` to repeat, single-key choices, typed
//! numbers ended by `#` or the inter-digit timeout, and failed attempts
//! (re-ask with a prefix, or after too many hand the caller to a nurse).

use std::sync::Arc;
use std::time::Instant;

use super::{Ask, Failure, Session, Step, MAX_DIGITS};
use crate::identity::{Personnummer, PhoneNumber};
use crate::ivr::flow::{Choice, NodeKind, PromptItem};
use crate::ivr::{CaseMode, IvrAction};
use crate::media::dtmf::DtmfKey;

impl Session {
    pub(super) fn on_playback_done(&mut self, now: Instant, done: u64) {
        match &mut self.step {
            Step::Playing { token, then } if *token == done => {
                let then = *then;
                self.then(now, then);
            }
            Step::Asking {
                token, deadline, ..
            } if *token == Some(done) => {
                *token = None;
                *deadline = Some(now + self.flow.settings().digit_timeout);
            }
            _ => {} // stale or unknown token
        }
    }

    pub(super) fn on_key(&mut self, now: Instant, key: DtmfKey) {
        let (ask, failures, playing) = match &self.step {
            Step::Asking {
                ask,
                failures,
                token,
                ..
            } => (*ask, *failures, token.is_some()),
            Step::Recording { .. } => return self.on_key_while_recording(now, key),
            _ => return, // keys outside questions (greeting, advice, hold) are ignored
        };
        if playing {
            // Barge-in: the key stops the prompt and counts as input.
            self.actions.push_back(IvrAction::StopPlayback);
            if let Step::Asking { token, .. } = &mut self.step {
                *token = None;
            }
        }
        if key == DtmfKey::Star {
            self.ask(now, ask, failures, &[]);
            return;
        }
        if !self.multi_digit(ask) {
            match key {
                DtmfKey::Digit(d) if d <= 9 => self.on_choice(now, ask, d),
                _ => self.fail(now, Failure::Invalid),
            }
            return;
        }
        let inter_digit = self.flow.settings().inter_digit_timeout;
        let Step::Asking {
            digits, deadline, ..
        } = &mut self.step
        else {
            return;
        };
        match key {
            DtmfKey::Hash => {
                *deadline = None;
                let typed = std::mem::take(digits);
                self.on_number(now, typed);
            }
            DtmfKey::Digit(d) if d <= 9 && digits.len() < MAX_DIGITS => {
                digits.push(char::from(b'0' + d));
                *deadline = Some(now + inter_digit);
            }
            _ => {
                *deadline = None;
                self.fail(now, Failure::NodeInvalid);
            }
        }
    }

    /// A single-key answer to the current question.
    fn on_choice(&mut self, now: Instant, ask: Ask, digit: u8) {
        let flow = Arc::clone(&self.flow);
        let settings = flow.settings();
        match (&flow.node(self.node).kind, ask) {
            (NodeKind::Language { choices, next, .. }, Ask::Node) => {
                match choices.iter().find(|(d, _)| *d == digit) {
                    Some((_, lang)) => {
                        self.language = *lang;
                        self.enter(now, *next);
                    }
                    None => self.fail(now, Failure::Invalid),
                }
            }
            (NodeKind::Menu { q, choices, next }, Ask::Node) => {
                match choices.iter().find(|c| c.digit == digit) {
                    Some(Choice {
                        value,
                        text,
                        next: choice_next,
                        red_flag,
                        ..
                    }) => {
                        self.record(&q.question, &q.text, value, text);
                        if *red_flag {
                            self.red_flag = true;
                            self.enter(now, settings.red_flag_node);
                        } else {
                            self.enter(now, choice_next.unwrap_or(*next));
                        }
                    }
                    None => self.fail(now, Failure::Invalid),
                }
            }
            (
                NodeKind::YesNo {
                    q,
                    red_flag,
                    next,
                    yes_next,
                    no_next,
                },
                Ask::Node,
            ) => match digit {
                1 => {
                    self.record(&q.question, &q.text, "yes", &settings.yes_text);
                    if *red_flag {
                        self.red_flag = true;
                        self.enter(now, settings.red_flag_node);
                    } else {
                        self.enter(now, yes_next.unwrap_or(*next));
                    }
                }
                2 => {
                    self.record(&q.question, &q.text, "no", &settings.no_text);
                    self.enter(now, no_next.unwrap_or(*next));
                }
                _ => self.fail(now, Failure::Invalid),
            },
            (
                NodeKind::CallbackOffer {
                    number_entry,
                    hold,
                    next,
                    ..
                },
                Ask::Offer,
            ) => match digit {
                1 => {
                    self.callback_number = self.caller_id.clone();
                    self.enter(now, *next);
                }
                2 => self.enter(now, *number_entry),
                3 => self.enter(now, *hold),
                _ => self.fail(now, Failure::Invalid),
            },
            (NodeKind::NumberEntry { next, .. }, Ask::ReadBack) => match digit {
                1 => {
                    self.callback_number = self.entered.clone();
                    self.enter(now, *next);
                }
                2 => self.ask(now, Ask::Node, 0, &[]),
                _ => self.fail(now, Failure::Invalid),
            },
            (NodeKind::BookedCallback { .. }, Ask::Node | Ask::ConfirmCancel) => {
                self.on_booked_choice(now, ask, digit)
            }
            (NodeKind::SelfCare { .. }, Ask::SelfCareSms | Ask::SelfCareChoice) => {
                self.on_self_care_choice(now, ask, digit)
            }
            (NodeKind::SmsConsent { .. }, Ask::Node) => self.on_sms_consent(now, digit),
            // Hold instead: with a case of its own, if the store takes it now.
            (NodeKind::Register { .. }, Ask::StoreFailed) => match digit {
                1 => self.register(now, CaseMode::Hold, None),
                _ => self.fail(now, Failure::Invalid),
            },
            _ => self.fail(now, Failure::Invalid),
        }
    }

    /// A complete number (after `#` or the inter-digit timeout).
    pub(super) fn on_number(&mut self, now: Instant, typed: String) {
        let flow = Arc::clone(&self.flow);
        match &flow.node(self.node).kind {
            NodeKind::Personnummer { next, .. } => {
                if typed.is_empty() {
                    // `#` alone: the caller prefers not to give it.
                    self.enter(now, *next);
                    return;
                }
                match Personnummer::parse(&typed) {
                    Ok(p) if typed.len() == 12 => {
                        self.personnummer = Some(p);
                        self.enter(now, *next);
                    }
                    _ => self.fail(now, Failure::NodeInvalid),
                }
            }
            NodeKind::NumberEntry { .. } => {
                if typed.is_empty() {
                    self.fail(now, Failure::NoInput);
                    return;
                }
                match PhoneNumber::parse(&typed) {
                    Ok(number) => {
                        self.entered = Some(number);
                        self.ask(now, Ask::ReadBack, 0, &[]);
                    }
                    Err(_) => self.fail(now, Failure::NodeInvalid),
                }
            }
            NodeKind::BookedCallback { .. } => self.on_cancel_personnummer(now, &typed),
            _ => self.fail(now, Failure::Invalid),
        }
    }

    /// Counts a failed attempt: re-ask, or after too many, hand to a nurse.
    pub(super) fn fail(&mut self, now: Instant, why: Failure) {
        let Step::Asking { ask, failures, .. } = self.step else {
            return;
        };
        let failures = failures.saturating_add(1);
        let flow = Arc::clone(&self.flow);
        let settings = flow.settings();
        if let NodeKind::SmsConsent { next, .. } = flow.node(self.node).kind {
            // Consent is given or it is not: silence (or keys that never
            // make sense) goes on without it, never to a nurse.
            if matches!(why, Failure::NoInput) || failures > settings.max_failures {
                return self.enter(now, next);
            }
        }
        if failures > settings.max_failures {
            if ask == Ask::StoreFailed {
                // No answer after a failed registration: nothing is stored,
                // so the caller is told to call again.
                self.hold_failed(now);
            } else if matches!(flow.node(self.node).kind, NodeKind::BookedCallback { .. }) {
                // No answer about a booked callback: it stays booked.
                self.keep_booked(now);
            } else {
                self.enter(now, settings.nurse_node);
            }
            return;
        }
        let prefix: &[PromptItem] = match why {
            Failure::NoInput => &settings.no_input,
            Failure::Invalid => &settings.invalid,
            Failure::NodeInvalid => match &flow.node(self.node).kind {
                NodeKind::Personnummer { invalid, .. } | NodeKind::NumberEntry { invalid, .. } => {
                    invalid
                }
                _ => &settings.invalid,
            },
        };
        self.ask(now, ask, failures, prefix);
    }
}
