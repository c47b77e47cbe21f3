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
//!
//! This file drives the walk (events, timers, entering nodes, asking); the
//! steps live beside it: `input` (keys and typed numbers), `booked` (a
//! callback the caller already has: keep, re-triage, someone else, cancel),
//! `voice` (the voice note), `case` (the answers and the case draft),
//! `outcome` (how the call ended) and `speak` (prompt items to recorded
//! prompts).

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::flow::{Flow, NodeId, NodeKind, PromptItem};
use super::{ClockTime, Language, PromptRef};
use crate::identity::{Personnummer, PhoneNumber};
use crate::triage::{Answers, Triage};

mod booked;
mod case;
mod closing;
mod input;
mod outcome;
mod self_care;
mod speak;
mod types;
mod voice;
pub use types::{
    Answer, BookedCallback, CallInfo, CallOutcome, CallerIdentity, CaseDraft, CaseMode, IvrAction,
    IvrEvent, RecordingEnd,
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
    /// Booked callback: "press 1 to confirm the cancellation".
    ConfirmCancel,
    /// Booked callback with a personnummer: type it (+ `#`) to cancel.
    CancelPersonnummer,
    /// After self-care advice: an SMS with the link? 1 yes, 2 no.
    SelfCareSms,
    /// After self-care advice: 1 a nurse's callback anyway, 2 end.
    SelfCareChoice,
}

/// What to do when a non-interactive playback ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    Goto(NodeId),
    AdviceWait(Duration),
    Hold,
    Hangup,
    /// End a held call: its outcome (held) was reported when it began.
    HangupHeld,
    /// Transfer to the fallback destination.
    Transfer,
    /// Start the voice note: at most `max`, `silence` without speech ends it.
    Record {
        max: Duration,
        silence: Duration,
    },
    /// Ask a question of the current node.
    Ask(Ask),
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
        deadline: Instant,
    },
    /// Waiting for `BookedCallback` (treated as none at the deadline).
    AwaitBooked {
        deadline: Instant,
    },
    AwaitCancel {
        deadline: Instant,
    },
    /// The caller is being recorded until `#`, hang-up, `deadline` (the
    /// maximum length) or `quiet_until` (no speech for the node's silence).
    Recording {
        deadline: Instant,
        quiet_until: Instant,
        silence: Duration,
    },
    /// `StopRecording` issued; waiting for `RecordingDone`.
    AwaitRecording {
        deadline: Instant,
    },
    Holding,
    /// `Transfer` issued: waiting for `Transferred` or `TransferFailed`
    /// (the app's ring timeout bounds it).
    Transferring,
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
/// A store answer slower than this: the caller hears "one moment" meanwhile.
const ONE_MOMENT_AFTER: Duration = Duration::from_secs(1);
/// Guard against a flow whose nodes hand over without waiting (broken config).
const MAX_HOPS: u32 = 64;

/// One call's IVR state machine.
pub struct Session {
    flow: Arc<Flow>,
    triage: Arc<Triage>,
    caller_id: Option<PhoneNumber>,
    identity: CallerIdentity,
    /// A fallback destination exists and was not tried yet.
    fallback: bool,
    store_down: bool,
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
    /// Triage is done (the callback offer was reached): the level is known.
    triaged: bool,
    /// The caller's already waiting callback, once found.
    booked: Option<BookedCallback>,
    /// Kept (`false`) or cancelled (`true`) the booked callback.
    booked_cancelled: Option<bool>,
    /// A dropped caller's case was asked for (at most once).
    dropped_registered: bool,
    /// The service is stopping: the closing message plays, then we hang up.
    closing: bool,
    /// While a store write is awaited: when to say "one moment".
    moment_at: Option<Instant>,
    /// The booked-callback node the caller chose at (its prompts and targets
    /// are needed again at the end of a re-triage).
    booked_node: Option<NodeId>,
    /// Re-triage: the waiting case these answers update (no new case).
    retriage: Option<String>,
    /// The self-care route whose advice the caller heard.
    self_care: Option<String>,
    /// The contact was handed over to be stored closed (`true`: the
    /// callback offer was closed and advice given instead).
    contact: Option<bool>,
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
            identity: call.identity,
            fallback: call.fallback,
            store_down: call.store_down,
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
            triaged: false,
            booked: None,
            booked_cancelled: None,
            dropped_registered: false,
            closing: false,
            moment_at: None,
            booked_node: None,
            retriage: None,
            self_care: None,
            contact: None,
        }
    }

    /// Feeds one event. Drain `poll_action` afterwards.
    pub fn handle(&mut self, now: Instant, event: IvrEvent) {
        self.hops = 0;
        match event {
            IvrEvent::Answered if self.step != Step::Ringing => {}
            IvrEvent::Answered => {
                if self.store_down && self.fallback {
                    // Nothing can be stored now: straight to the fallback.
                    self.store_failed = true;
                    self.fallback = false;
                    let flow = Arc::clone(&self.flow);
                    self.play(
                        now,
                        &flow.settings().fallback_not_ready,
                        false,
                        Then::Transfer,
                    );
                } else {
                    self.enter(now, self.flow.start());
                }
            }
            IvrEvent::Digit(key) => self.on_key(now, key),
            IvrEvent::PlaybackDone { token } => self.on_playback_done(now, token),
            IvrEvent::Hangup => self.on_hangup(),
            IvrEvent::Closing => self.on_closing(now),
            IvrEvent::Estimate(t) => {
                if matches!(self.step, Step::AwaitEstimate { .. }) {
                    self.on_estimate(now, t);
                }
            }
            IvrEvent::AdviseOtherRoute => {
                if matches!(self.step, Step::AwaitEstimate { .. }) {
                    self.on_advise_other_route(now);
                }
            }
            IvrEvent::CaseStored {
                case_id,
                callback_at,
            } => {
                if let Step::AwaitStore { mode, .. } = self.step {
                    self.case_id = Some(case_id);
                    self.callback_at = Some(callback_at);
                    self.on_stored(now, mode, true);
                }
            }
            IvrEvent::CaseStoreFailed => {
                if let Step::AwaitStore { mode, .. } = self.step {
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
                if matches!(self.step, Step::AwaitCancel { .. }) {
                    self.on_cancelled(now, true);
                }
            }
            IvrEvent::CaseCancelFailed => {
                if matches!(self.step, Step::AwaitCancel { .. }) {
                    self.on_cancelled(now, false);
                }
            }
            IvrEvent::CallerSpeaking => self.on_caller_speaking(now),
            IvrEvent::RecordingDone { .. } => self.on_recording_done(now),
            IvrEvent::Transferred => {
                if self.step == Step::Transferring {
                    self.actions
                        .push_back(IvrAction::Outcome(CallOutcome::Fallback));
                    self.step = Step::Done;
                }
            }
            IvrEvent::TransferFailed => {
                if self.step == Step::Transferring {
                    self.hold_failed(now);
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
        if let Some(moment) = self.pending_moment() {
            return self.step_deadline().map(|d| d.min(moment));
        }
        self.step_deadline()
    }

    /// "One moment" is due at this time (a write awaited, not said yet).
    fn pending_moment(&self) -> Option<Instant> {
        match self.step {
            Step::AwaitStore { .. } | Step::AwaitCancel { .. } => self.moment_at,
            _ => None,
        }
    }

    fn step_deadline(&self) -> Option<Instant> {
        match &self.step {
            Step::Asking { deadline, .. } => *deadline,
            Step::AdviceWait { deadline }
            | Step::AwaitEstimate { deadline }
            | Step::AwaitBooked { deadline }
            | Step::AwaitStore { deadline, .. }
            | Step::AwaitCancel { deadline }
            | Step::AwaitRecording { deadline } => Some(*deadline),
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
        if self.pending_moment().is_some_and(|at| at <= now) {
            self.moment_at = None;
            let prompts = self.expand(&Arc::clone(&self.flow).settings().one_moment);
            if !prompts.is_empty() {
                // Its end is not waited for: the store's answer moves on.
                let token = self.token();
                self.actions.push_back(IvrAction::Play {
                    prompts,
                    token,
                    barge_in: false,
                });
            }
        }
        match self.step_deadline() {
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
            // A write that did not answer in time counts as failed; if it
            // lands later the app keeps what it must (a held case becomes
            // a callback), but the caller is not told it was stored.
            Step::AwaitStore { mode, .. } => {
                let mode = *mode;
                self.store_failed = true;
                self.on_stored(now, mode, false);
            }
            Step::AwaitCancel { .. } => self.on_cancelled(now, false),
            Step::AwaitRecording { .. } => self.on_recording_done(now),
            Step::Recording { .. } => self.on_recording_timeout(now),
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

    /// The service is stopping and the closing message is on (`Closing`).
    pub fn is_closing(&self) -> bool {
        self.closing && self.step != Step::Done
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
            Step::AwaitCancel { .. } => "await_cancel",
            Step::Recording { .. } => "recording",
            Step::AwaitRecording { .. } => "await_recording",
            Step::Holding => "holding",
            Step::Transferring => "transferring",
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
                self.triaged = true;
                let level = self.level();
                if self.red_flag || !self.triage.callback_allowed(level) {
                    self.enter(now, *hold);
                } else if self.retriage.is_some() {
                    // A re-triaged case keeps its callback: update it now.
                    self.callback_number = self.caller_id.clone();
                    self.register(now, CaseMode::Callback, None);
                } else {
                    self.actions.push_back(IvrAction::RequestEstimate { level });
                    self.step = Step::AwaitEstimate {
                        deadline: now + flow.settings().estimate_timeout,
                    };
                }
            }
            NodeKind::Register { .. } => self.register(now, CaseMode::Callback, None),
            NodeKind::Hold { prompts, max_level } => {
                if self.case_id.is_some() {
                    self.play(now, prompts, false, Then::Hold);
                } else {
                    self.register(now, CaseMode::Hold, *max_level);
                }
            }
            NodeKind::Goodbye { prompts } => self.play(now, prompts, false, Then::Hangup),
            NodeKind::BookedCallback { .. } => self.enter_booked(now),
            NodeKind::VoiceNote { .. } => self.enter_voice_note(now),
            NodeKind::SelfCare { .. } => self.enter_self_care(now),
            NodeKind::SmsConsent { .. } => self.enter_sms_consent(now),
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
            Then::HangupHeld => {
                self.actions.push_back(IvrAction::Hangup);
                self.step = Step::Done;
            }
            Then::Transfer => {
                self.actions.push_back(IvrAction::Transfer);
                self.step = Step::Transferring;
            }
            Then::Record { max, silence } => self.start_recording(now, max, silence),
            Then::Ask(ask) => self.ask(now, ask, 0, &[]),
        }
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
            | (NodeKind::SmsConsent { prompts, .. }, Ask::Node)
            | (NodeKind::Personnummer { prompts, .. }, Ask::Node)
            | (NodeKind::NumberEntry { prompts, .. }, Ask::Node) => prompts,
            (NodeKind::Menu { q, .. }, Ask::Node) | (NodeKind::YesNo { q, .. }, Ask::Node) => {
                &q.prompts
            }
            (NodeKind::CallbackOffer { offer, .. }, Ask::Offer) => offer,
            (NodeKind::SelfCare { sms, .. }, Ask::SelfCareSms) => sms,
            (NodeKind::SelfCare { choice, .. }, Ask::SelfCareChoice) => choice,
            (NodeKind::BookedCallback { say, .. }, Ask::Node) => &say.menu,
            (NodeKind::BookedCallback { say, .. }, Ask::ConfirmCancel) => &say.confirm_cancel,
            (NodeKind::BookedCallback { say, .. }, Ask::CancelPersonnummer) => {
                &say.cancel_personnummer
            }
            (NodeKind::NumberEntry { read_back, .. }, Ask::ReadBack) => read_back,
            (NodeKind::Register { failed, .. }, Ask::StoreFailed) => failed,
            _ => &[],
        }
    }

    fn multi_digit(&self, ask: Ask) -> bool {
        ask == Ask::CancelPersonnummer
            || ask == Ask::Node
                && matches!(
                    self.flow.node(self.node).kind,
                    NodeKind::Personnummer { .. } | NodeKind::NumberEntry { .. }
                )
    }

    // ---- the callback offer ----------------------------------------------------

    /// The answer to `RequestEstimate` (`None` also when it never came):
    /// offer a callback, or say callbacks are closed and go to hold.
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
}

#[cfg(test)]
mod tests;
