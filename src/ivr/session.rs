//! One call's walk through the flow: a sans-IO state machine.
//!
//! Drive it like every core here (ANCHORS.md 7.2): feed [`Session::handle`] or
//! [`Session::handle_timeout`], then drain [`Session::poll_action`] until `None`
//! and re-arm the timer from [`Session::poll_timeout`]. The session never reads
//! the clock: every input carries `now`.
//!
//! Guarantees: a callback is confirmed to the caller only after `CaseStored`;
//! stale `PlaybackDone` tokens are ignored; a key during a question prompt stops
//! the prompt and counts as input; three failed attempts at a question send the
//! caller to the nurse node (a hold case of level 3 or more urgent).

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::flow::{Choice, Flow, NodeId, NodeKind, PromptItem};
use super::{ClockTime, Language, PromptRef};
use crate::identity::{Personnummer, PhoneNumber};
use crate::media::dtmf::DtmfKey;
use crate::triage::{Answers, Triage};

mod speak;
mod types;
pub use types::{
    Answer, BookedCallback, CallInfo, CallOutcome, CaseDraft, CaseMode, IvrAction, IvrEvent,
    RecordingEnd,
};

/// Which question of the current node is being asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    /// The node's own question (language, menu, yes/no, personnummer, number).
    Node,
    /// Callback offer: 1 confirm, 2 another number, 3 hold.
    Offer,
    /// Typed number read back: 1 confirm, 2 re-enter.
    ReadBack,
    /// Store failed: 1 hold.
    StoreFailed,
}

/// What to do when a non-interactive playback ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    Goto(NodeId),
    AdviceWait(Duration),
    Hold,
    Hangup,
    /// Start the voice note: at most `max`, `silence` without speech ends it.
    Record {
        max: Duration,
        silence: Duration,
    },
}

#[derive(Clone, PartialEq, Eq)]
enum Step {
    Ringing,
    Playing {
        token: u64,
        then: Then,
    },
    Asking {
        ask: Ask,
        /// `Some` while the question prompt plays.
        token: Option<u64>,
        digits: String,
        deadline: Option<Instant>,
        failures: u8,
    },
    AdviceWait {
        deadline: Instant,
    },
    AwaitEstimate {
        deadline: Instant,
    },
    AwaitStore {
        mode: CaseMode,
    },
    /// Waiting for `BookedCallback` (treated as none at the deadline).
    AwaitBooked {
        deadline: Instant,
    },
    AwaitCancel,
    /// The caller is being recorded until `#`, hang-up, `deadline` (the
    /// maximum length) or `quiet_until` (no speech for the node's silence).
    Recording {
        deadline: Instant,
        quiet_until: Instant,
        silence: Duration,
    },
    /// `StopRecording` issued; waiting for `RecordingDone`.
    AwaitRecording,
    Holding,
    Done,
}

/// Why an attempt at a question failed (chooses the re-ask prefix).
enum Failure {
    NoInput,
    Invalid,
    /// The node's own "that was not valid" prompts.
    NodeInvalid,
}

/// The most digits we collect for a number (longest valid input is 13).
const MAX_DIGITS: usize = 16;
/// Guard against a flow whose nodes hand over without waiting (broken config).
const MAX_HOPS: u32 = 64;

/// One call's IVR state machine.
pub struct Session {
    flow: Arc<Flow>,
    triage: Arc<Triage>,
    caller_id: Option<PhoneNumber>,
    language: Language,
    node: NodeId,
    step: Step,
    actions: VecDeque<IvrAction>,
    next_token: u64,
    hops: u32,
    answers: Vec<Answer>,
    answer_map: Answers,
    red_flag: bool,
    personnummer: Option<Personnummer>,
    callback_number: Option<PhoneNumber>,
    entered: Option<PhoneNumber>,
    estimate: Option<ClockTime>,
    callback_at: Option<ClockTime>,
    case_id: Option<String>,
    held_level: u8,
    case_mode: Option<CaseMode>,
    store_failed: bool,
    /// The caller's already waiting callback, once found.
    booked: Option<BookedCallback>,
    /// Kept (`false`) or cancelled (`true`) the booked callback.
    booked_cancelled: Option<bool>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("node", &self.flow.node(self.node).id)
            .field("step", &self.step_name())
            .field("language", &self.language)
            .field("answers", &self.answers.len())
            .field("red_flag", &self.red_flag)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session for a new incoming call; nothing happens until `Answered`.
    pub fn new(flow: Arc<Flow>, triage: Arc<Triage>, call: CallInfo, _now: Instant) -> Self {
        let language = flow.settings().default_language;
        let node = flow.start();
        Session {
            flow,
            triage,
            caller_id: call.caller_id,
            language,
            node,
            step: Step::Ringing,
            actions: VecDeque::new(),
            next_token: 1,
            hops: 0,
            answers: Vec::new(),
            answer_map: Answers::new(),
            red_flag: false,
            personnummer: None,
            callback_number: None,
            entered: None,
            estimate: None,
            callback_at: None,
            case_id: None,
            held_level: 0,
            case_mode: None,
            store_failed: false,
            booked: None,
            booked_cancelled: None,
        }
    }

    /// Feeds one event. Drain `poll_action` afterwards.
    pub fn handle(&mut self, now: Instant, event: IvrEvent) {
        self.hops = 0;
        match event {
            IvrEvent::Answered => {
                if self.step == Step::Ringing {
                    self.enter(now, self.flow.start());
                }
            }
            IvrEvent::Digit(key) => self.on_key(now, key),
            IvrEvent::PlaybackDone { token } => self.on_playback_done(now, token),
            IvrEvent::Hangup => self.on_hangup(),
            IvrEvent::Estimate(t) => {
                if matches!(self.step, Step::AwaitEstimate { .. }) {
                    self.on_estimate(now, t);
                }
            }
            IvrEvent::CaseStored {
                case_id,
                callback_at,
            } => {
                if let Step::AwaitStore { mode } = self.step {
                    self.case_id = Some(case_id);
                    self.callback_at = Some(callback_at);
                    self.on_stored(now, mode, true);
                }
            }
            IvrEvent::CaseStoreFailed => {
                if let Step::AwaitStore { mode } = self.step {
                    self.store_failed = true;
                    self.on_stored(now, mode, false);
                }
            }
            IvrEvent::BookedCallback(booked) => {
                if matches!(self.step, Step::AwaitBooked { .. }) {
                    self.on_booked(now, booked);
                }
            }
            IvrEvent::CaseCancelled => {
                if self.step == Step::AwaitCancel {
                    self.on_cancelled(now, true);
                }
            }
            IvrEvent::CaseCancelFailed => {
                if self.step == Step::AwaitCancel {
                    self.on_cancelled(now, false);
                }
            }
            IvrEvent::CallerSpeaking => {
                if let Step::Recording {
                    quiet_until,
                    silence,
                    ..
                } = &mut self.step
                {
                    *quiet_until = now + *silence;
                }
            }
            IvrEvent::RecordingDone { .. } => {
                if self.step == Step::AwaitRecording {
                    if let NodeKind::VoiceNote { next, .. } = self.flow.node(self.node).kind {
                        self.enter(now, next);
                    }
                }
            }
        }
    }

    /// The next action to carry out, in order.
    pub fn poll_action(&mut self) -> Option<IvrAction> {
        self.actions.pop_front()
    }

    /// When `handle_timeout` must be called next, if at all.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.step {
            Step::Asking { deadline, .. } => *deadline,
            Step::AdviceWait { deadline }
            | Step::AwaitEstimate { deadline }
            | Step::AwaitBooked { deadline } => Some(*deadline),
            Step::Recording {
                deadline,
                quiet_until,
                ..
            } => Some((*deadline).min(*quiet_until)),
            _ => None,
        }
    }

    /// Fires a due timer; calling it early or twice does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.hops = 0;
        match self.poll_timeout() {
            Some(deadline) if deadline <= now => {}
            _ => return,
        }
        match &mut self.step {
            Step::Asking {
                digits, deadline, ..
            } => {
                *deadline = None;
                if digits.is_empty() {
                    self.fail(now, Failure::NoInput);
                } else {
                    // Inter-digit timeout ends a number like `#` does.
                    let typed = std::mem::take(digits);
                    self.on_number(now, typed);
                }
            }
            Step::AdviceWait { .. } => {
                if let NodeKind::Advice112 { next, .. } = self.flow.node(self.node).kind {
                    self.enter(now, next);
                }
            }
            Step::AwaitEstimate { .. } => self.on_estimate(now, None),
            Step::AwaitBooked { .. } => self.on_booked(now, None),
            Step::Recording { deadline, .. } => {
                let reason = if *deadline <= now {
                    RecordingEnd::MaxDuration
                } else {
                    RecordingEnd::Silence
                };
                self.stop_recording(reason);
            }
            _ => {}
        }
    }

    /// The caller's language so far.
    pub fn language(&self) -> Language {
        self.language
    }

    /// The hold-loop prompt to play after `Hold`, in the caller's language.
    pub fn hold_music(&self) -> PromptRef {
        PromptRef::new(self.language, self.flow.settings().hold_music.clone())
    }

    /// True after `Hold` or `Hangup` was issued or the caller hung up.
    pub fn is_finished(&self) -> bool {
        matches!(self.step, Step::Holding | Step::Done)
    }

    /// The case id once stored.
    pub fn case_id(&self) -> Option<&str> {
        self.case_id.as_deref()
    }

    /// The answers given so far (personal data: do not log).
    pub fn answers(&self) -> &[Answer] {
        &self.answers
    }

    /// The name of the current node (for tracing spans).
    pub fn node_name(&self) -> &str {
        &self.flow.node(self.node).id
    }

    /// The step without its data (typed digits are personal data).
    fn step_name(&self) -> &'static str {
        match self.step {
            Step::Ringing => "ringing",
            Step::Playing { .. } => "playing",
            Step::Asking { .. } => "asking",
            Step::AdviceWait { .. } => "advice_wait",
            Step::AwaitEstimate { .. } => "await_estimate",
            Step::AwaitStore { .. } => "await_store",
            Step::AwaitBooked { .. } => "await_booked",
            Step::AwaitCancel => "await_cancel",
            Step::Recording { .. } => "recording",
            Step::AwaitRecording => "await_recording",
            Step::Holding => "holding",
            Step::Done => "done",
        }
    }

    // ---- entering nodes ------------------------------------------------------

    fn enter(&mut self, now: Instant, id: NodeId) {
        self.hops += 1;
        if self.hops > MAX_HOPS {
            // Broken invariant of the flow config (a loop of empty nodes): end safely.
            self.finish_hangup();
            return;
        }
        self.node = id;
        let flow = Arc::clone(&self.flow);
        match &flow.node(id).kind {
            NodeKind::Play { prompts, next } => self.play(now, prompts, false, Then::Goto(*next)),
            NodeKind::Message { slot, next } => {
                let token = self.token();
                self.actions.push_back(IvrAction::PlayMessage {
                    slot: slot.clone(),
                    language: self.language,
                    token,
                });
                self.step = Step::Playing {
                    token,
                    then: Then::Goto(*next),
                };
            }
            NodeKind::Language { .. }
            | NodeKind::Menu { .. }
            | NodeKind::YesNo { .. }
            | NodeKind::Personnummer { .. }
            | NodeKind::NumberEntry { .. } => self.ask(now, Ask::Node, 0, &[]),
            NodeKind::Advice112 { prompts, wait, .. } => {
                self.red_flag = true;
                self.play(now, prompts, false, Then::AdviceWait(*wait));
            }
            NodeKind::CallbackOffer { hold, .. } => {
                let level = self.level();
                if self.red_flag || !self.triage.callback_allowed(level) {
                    self.enter(now, *hold);
                } else {
                    self.actions.push_back(IvrAction::RequestEstimate { level });
                    self.step = Step::AwaitEstimate {
                        deadline: now + flow.settings().estimate_timeout,
                    };
                }
            }
            NodeKind::Register { .. } => self.register(CaseMode::Callback, None),
            NodeKind::Hold { prompts, max_level } => {
                if self.case_id.is_some() {
                    self.play(now, prompts, false, Then::Hold);
                } else {
                    self.register(CaseMode::Hold, *max_level);
                }
            }
            NodeKind::Goodbye { prompts } => self.play(now, prompts, false, Then::Hangup),
            NodeKind::BookedCallback { next, .. } => match &self.caller_id {
                Some(number) => {
                    self.actions.push_back(IvrAction::FindBookedCallback {
                        number: number.clone(),
                    });
                    self.step = Step::AwaitBooked {
                        deadline: now + flow.settings().estimate_timeout,
                    };
                }
                None => self.enter(now, *next),
            },
            NodeKind::VoiceNote {
                prompts,
                max,
                silence,
                next,
            } => {
                if self.case_id.is_some() && self.case_mode == Some(CaseMode::Callback) {
                    let then = Then::Record {
                        max: *max,
                        silence: *silence,
                    };
                    self.play(now, prompts, false, then);
                } else {
                    self.enter(now, *next);
                }
            }
        }
    }

    fn token(&mut self) -> u64 {
        let t = self.next_token;
        self.next_token += 1;
        t
    }

    /// Plays non-interactive prompts; an empty list goes on at once.
    fn play(&mut self, now: Instant, items: &[PromptItem], barge_in: bool, then: Then) {
        let prompts = self.expand(items);
        if prompts.is_empty() {
            self.then(now, then);
            return;
        }
        let token = self.token();
        self.actions.push_back(IvrAction::Play {
            prompts,
            token,
            barge_in,
        });
        self.step = Step::Playing { token, then };
    }

    fn then(&mut self, now: Instant, then: Then) {
        match then {
            Then::Goto(id) => self.enter(now, id),
            Then::AdviceWait(wait) => {
                self.step = Step::AdviceWait {
                    deadline: now + wait,
                }
            }
            Then::Hold => {
                self.actions
                    .push_back(IvrAction::Outcome(CallOutcome::Held {
                        case_id: self.case_id.clone(),
                        level: self.held_level,
                    }));
                self.actions.push_back(IvrAction::Hold);
                self.step = Step::Holding;
            }
            Then::Hangup => self.finish_hangup(),
            Then::Record { max, silence } => match self.case_id.clone() {
                Some(case_id) => {
                    self.actions.push_back(IvrAction::Record { case_id, max });
                    self.step = Step::Recording {
                        deadline: now + max,
                        quiet_until: now + silence,
                        silence,
                    };
                }
                None => self.finish_hangup(),
            },
        }
    }

    fn stop_recording(&mut self, reason: RecordingEnd) {
        self.actions.push_back(IvrAction::StopRecording { reason });
        self.step = Step::AwaitRecording;
    }

    fn finish_hangup(&mut self) {
        let outcome = match &self.case_id {
            Some(id) if self.case_mode == Some(CaseMode::Callback) => {
                CallOutcome::CallbackRegistered {
                    case_id: id.clone(),
                }
            }
            Some(id) => CallOutcome::Held {
                case_id: Some(id.clone()),
                level: self.held_level,
            },
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

    /// Asks a question: optional prefix (e.g. "I did not get that") + its prompts.
    fn ask(&mut self, now: Instant, ask: Ask, failures: u8, prefix: &[PromptItem]) {
        let mut items = prefix.to_vec();
        items.extend_from_slice(self.ask_prompts(ask));
        let prompts = self.expand(&items);
        let (token, deadline) = if prompts.is_empty() {
            (None, Some(now + self.flow.settings().digit_timeout))
        } else {
            let token = self.token();
            self.actions.push_back(IvrAction::Play {
                prompts,
                token,
                barge_in: true,
            });
            (Some(token), None)
        };
        self.step = Step::Asking {
            ask,
            token,
            digits: String::new(),
            deadline,
            failures,
        };
    }

    fn ask_prompts(&self, ask: Ask) -> &[PromptItem] {
        match (&self.flow.node(self.node).kind, ask) {
            (NodeKind::Language { prompts, .. }, Ask::Node)
            | (NodeKind::Personnummer { prompts, .. }, Ask::Node)
            | (NodeKind::NumberEntry { prompts, .. }, Ask::Node) => prompts,
            (NodeKind::Menu { q, .. }, Ask::Node) | (NodeKind::YesNo { q, .. }, Ask::Node) => {
                &q.prompts
            }
            (NodeKind::CallbackOffer { offer, .. }, Ask::Offer) => offer,
            (NodeKind::BookedCallback { prompts, .. }, Ask::Node) => prompts,
            (NodeKind::NumberEntry { read_back, .. }, Ask::ReadBack) => read_back,
            (NodeKind::Register { failed, .. }, Ask::StoreFailed) => failed,
            _ => &[],
        }
    }

    fn multi_digit(&self, ask: Ask) -> bool {
        ask == Ask::Node
            && matches!(
                self.flow.node(self.node).kind,
                NodeKind::Personnummer { .. } | NodeKind::NumberEntry { .. }
            )
    }

    // ---- input ---------------------------------------------------------------

    fn on_playback_done(&mut self, now: Instant, done: u64) {
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

    fn on_key(&mut self, now: Instant, key: DtmfKey) {
        let (ask, failures, playing) = match &self.step {
            Step::Asking {
                ask,
                failures,
                token,
                ..
            } => (*ask, *failures, token.is_some()),
            Step::Recording { .. } => {
                // `#` ends the voice note; other keys are just sound in it.
                if key == DtmfKey::Hash {
                    self.stop_recording(RecordingEnd::Hash);
                }
                return;
            }
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
            (NodeKind::BookedCallback { kept, keep, .. }, Ask::Node) => match digit {
                1 => {
                    self.booked_cancelled = Some(false);
                    self.play(now, kept, false, Then::Goto(*keep));
                }
                2 => match &self.booked {
                    Some(b) => {
                        self.actions.push_back(IvrAction::CancelCase {
                            case_id: b.case_id.clone(),
                        });
                        self.step = Step::AwaitCancel;
                    }
                    None => self.enter(now, *keep),
                },
                _ => self.fail(now, Failure::Invalid),
            },
            (NodeKind::Register { .. }, Ask::StoreFailed) => match digit {
                1 => self.then(now, Then::Hold),
                _ => self.fail(now, Failure::Invalid),
            },
            _ => self.fail(now, Failure::Invalid),
        }
    }

    /// A complete number (after `#` or the inter-digit timeout).
    fn on_number(&mut self, now: Instant, typed: String) {
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
            _ => self.fail(now, Failure::Invalid),
        }
    }

    /// Counts a failed attempt: re-ask, or after too many, hand to a nurse.
    fn fail(&mut self, now: Instant, why: Failure) {
        let Step::Asking { ask, failures, .. } = self.step else {
            return;
        };
        let failures = failures.saturating_add(1);
        let flow = Arc::clone(&self.flow);
        let settings = flow.settings();
        if failures > settings.max_failures {
            if ask == Ask::StoreFailed {
                // The store is down: registering again would fail too.
                self.then(now, Then::Hold);
            } else if let NodeKind::BookedCallback { kept, keep, .. } = &flow.node(self.node).kind {
                // No answer about a booked callback: it stays booked.
                self.booked_cancelled = Some(false);
                self.play(now, kept, false, Then::Goto(*keep));
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

    fn on_estimate(&mut self, now: Instant, estimate: Option<ClockTime>) {
        let flow = Arc::clone(&self.flow);
        let NodeKind::CallbackOffer {
            offer_withheld,
            closed,
            number_entry,
            hold,
            ..
        } = &flow.node(self.node).kind
        else {
            return;
        };
        match estimate {
            Some(t) => {
                self.estimate = Some(t);
                if self.caller_id.is_some() {
                    self.ask(now, Ask::Offer, 0, &[]);
                } else {
                    self.play(now, offer_withheld, false, Then::Goto(*number_entry));
                }
            }
            None => self.play(now, closed, false, Then::Goto(*hold)),
        }
    }

    fn on_booked(&mut self, now: Instant, booked: Option<BookedCallback>) {
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
    fn on_cancelled(&mut self, now: Instant, cancelled: bool) {
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

    fn on_stored(&mut self, now: Instant, mode: CaseMode, stored: bool) {
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
            // A hold goes ahead even if the store failed: never leave a caller.
            (NodeKind::Hold { prompts, .. }, CaseMode::Hold) => {
                self.play(now, prompts, false, Then::Hold)
            }
            _ => self.then(now, Then::Hold),
        }
    }

    fn on_hangup(&mut self) {
        if matches!(self.step, Step::Recording { .. }) {
            // What the caller said so far is still stored.
            self.actions.push_back(IvrAction::StopRecording {
                reason: RecordingEnd::Hangup,
            });
        }
        let in_advice = matches!(self.flow.node(self.node).kind, NodeKind::Advice112 { .. });
        let outcome = match (&self.step, &self.case_id, self.case_mode) {
            (Step::Holding | Step::Done, _, _) => None,
            (_, Some(id), Some(CaseMode::Callback)) => Some(CallOutcome::CallbackRegistered {
                case_id: id.clone(),
            }),
            // A held caller who leaves keeps the case (it becomes a callback).
            (_, Some(id), _) => Some(CallOutcome::Held {
                case_id: Some(id.clone()),
                level: self.held_level,
            }),
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

    // ---- cases -------------------------------------------------------------------

    fn record(&mut self, question: &str, text: &str, value: &str, value_text: &str) {
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
    fn level(&self) -> u8 {
        if self.red_flag {
            1
        } else {
            self.triage.assess(&self.answer_map).level
        }
    }

    fn register(&mut self, mode: CaseMode, max_level: Option<u8>) {
        let assessment = self.triage.assess(&self.answer_map);
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
        let draft = CaseDraft {
            level,
            mode,
            answers: self.answers.clone(),
            callback_number,
            language: self.language,
            personnummer: self.personnummer.clone(),
            red_flag: self.red_flag,
            matched_rules: assessment.matched_rules,
        };
        self.actions.push_back(IvrAction::RegisterCase(draft));
        self.step = Step::AwaitStore { mode };
    }
}

#[cfg(test)]
mod tests;
