//! The IVR flow: `sip-config/ivr.toml` parsed into typed, validated nodes.
//!
//! The flow is data so the medical owner can change questions without code.
//! Every `next` is resolved to a node index at load time, digits are checked to
//! be unique, and [`Flow::validate`] checks every prompt against the manifest.
//! A [`crate::ivr::Session`] interprets the nodes.

use std::collections::BTreeSet;
use std::time::Duration;

use super::Language;

/// A flow configuration error; says which file and key, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// Not valid TOML, an unknown `kind`, or a wrongly typed key.
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    /// A value is missing, dangling or inconsistent.
    #[error("{file}: {key}: {problem}; fix: {fix}")]
    Invalid {
        file: String,
        key: String,
        problem: String,
        fix: String,
    },
}

/// Index of a node in [`Flow::nodes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(pub(crate) usize);

/// One element of a prompt list: a recorded prompt, or a value spoken by
/// joining number/digit prompts at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptItem {
    /// A prompt from the manifest; `lang` forces a language (`"en:choose_language"`).
    Fixed { id: String, lang: Option<Language> },
    /// `{estimate_time}`: "klockan" + hour + minute of the estimated callback.
    EstimateTime,
    /// `{callback_time}`: the time the store confirmed.
    CallbackTime,
    /// `{caller_last_four}`: the caller ID's last four digits, one by one.
    CallerLastFour,
    /// `{entered_number}`: the typed number, digit by digit.
    EnteredNumber,
    /// `{booked_time}`: the time of the caller's already booked callback.
    BookedTime,
}

/// A question the caller answers; the answer is recorded under `question`.
#[derive(Debug, Clone)]
pub struct Question {
    /// Answer key, also used by triage rules.
    pub question: String,
    /// Human text for the nurse's worklist (Swedish).
    pub text: String,
    pub prompts: Vec<PromptItem>,
}

/// One menu choice.
#[derive(Debug, Clone)]
pub struct Choice {
    pub digit: u8,
    pub value: String,
    pub text: String,
    /// Overrides the menu's `next`.
    pub next: Option<NodeId>,
    /// Choosing it sends the caller to the red-flag (112 advice) node.
    pub red_flag: bool,
}

/// What a node does. See `sip-config/ivr.toml` for the keys of each kind.
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// Play prompts (no barge-in), then go on.
    Play {
        prompts: Vec<PromptItem>,
        next: NodeId,
    },
    /// A message slot the app fills (e.g. a supervisor message); may be empty.
    Message { slot: String, next: NodeId },
    /// Choose the language: digit -> language.
    Language {
        prompts: Vec<PromptItem>,
        choices: Vec<(u8, Language)>,
        next: NodeId,
    },
    /// Single-digit menu.
    Menu {
        q: Question,
        choices: Vec<Choice>,
        next: NodeId,
    },
    /// 1 = yes, 2 = no. `red_flag`: yes goes to the red-flag node.
    YesNo {
        q: Question,
        red_flag: bool,
        next: NodeId,
        yes_next: Option<NodeId>,
        no_next: Option<NodeId>,
    },
    /// "Call 112"; wait `wait`; a caller who stays goes on to `next` (a level-1 hold).
    Advice112 {
        prompts: Vec<PromptItem>,
        wait: Duration,
        next: NodeId,
    },
    /// 12 digits + `#`; `#` alone skips; Luhn-checked, invalid re-asks.
    Personnummer {
        prompts: Vec<PromptItem>,
        invalid: Vec<PromptItem>,
        next: NodeId,
    },
    /// Estimate + offer: 1 confirm caller ID, 2 type another, 3 hold instead.
    /// When `hours.toml` routes the caller to advice (`when_closed` or
    /// `when_offer_closed` = "advice"): `advice`, then the matching self-care
    /// route's advice (if not heard already), the contact is recorded and the
    /// call goes to `advice_end`; without `advice_end`, the closed path (hold).
    CallbackOffer {
        offer: Vec<PromptItem>,
        offer_withheld: Vec<PromptItem>,
        closed: Vec<PromptItem>,
        advice: Vec<PromptItem>,
        advice_end: Option<NodeId>,
        number_entry: NodeId,
        hold: NodeId,
        next: NodeId,
    },
    /// After the questions: when a `[[self_care]]` route of triage.toml
    /// matches, its advice prompt; then, with a caller ID, `sms` (1 yes, 2 no:
    /// answer `sms_consent`); then `choice`: 1 a nurse's callback anyway
    /// (`next`), 2 the contact is recorded (outcome self_care) and `end`.
    /// No route (or a red flag, or a re-triage): `next` at once.
    SelfCare {
        sms: Vec<PromptItem>,
        choice: Vec<PromptItem>,
        next: NodeId,
        end: NodeId,
    },
    /// "An SMS about it?" 1 yes, 2 no (answer `sms_consent`), asked only when
    /// a callback number is known and the caller has not answered it yet.
    /// Consent must be given: no answer goes on as no, so do invalid keys
    /// after `max_failures` re-asks (never to the nurse: it is no triage).
    SmsConsent {
        prompts: Vec<PromptItem>,
        next: NodeId,
    },
    /// Typed callback number + `#`, read back: 1 confirm, 2 re-enter.
    NumberEntry {
        prompts: Vec<PromptItem>,
        invalid: Vec<PromptItem>,
        read_back: Vec<PromptItem>,
        next: NodeId,
    },
    /// Register the callback case; only a stored case is confirmed.
    Register {
        confirmed: Vec<PromptItem>,
        failed: Vec<PromptItem>,
        next: NodeId,
    },
    /// Register a hold case (level capped at `max_level`), play, then hold for a nurse.
    Hold {
        prompts: Vec<PromptItem>,
        max_level: Option<u8>,
    },
    /// Play, then hang up.
    Goodbye { prompts: Vec<PromptItem> },
    /// A caller ID that already has a waiting callback hears its time
    /// (`prompts`, with `{booked_time}`) and chooses (keys in
    /// `session::booked`): 1 keeps it (`kept`, then `keep`); 2 answers the
    /// questions again from `retriage`, and at the end the waiting case is
    /// updated (`updated` with `{callback_time}` once stored, else
    /// `update_failed`; then `keep`); 3 is a call about someone else (`next`,
    /// a new case); 9 asks `confirm_cancel` (1 confirms), then, when the case
    /// has a personnummer, `cancel_personnummer` (a mismatch says
    /// `personnummer_mismatch` and keeps it); `cancelled` after the store
    /// commit, then `done`, or `cancel_failed`, then `keep`. No booking (or
    /// no caller ID): `next`. The prompt lists are in `say`.
    BookedCallback {
        say: BookedPrompts,
        retriage: NodeId,
        keep: NodeId,
        done: NodeId,
        next: NodeId,
    },
    /// After a stored callback: `prompts` (ending in the tone), then record the
    /// caller for at most `max`; `#`, `silence` without speech, or hanging up
    /// ends it. Then `next`. Skipped when no callback case is stored.
    VoiceNote {
        prompts: Vec<PromptItem>,
        max: Duration,
        silence: Duration,
        next: NodeId,
    },
}

/// What a `booked_callback` node says at each moment (the keys in
/// ivr.toml have the same names; `menu` is its `prompts`).
#[derive(Debug, Clone)]
pub struct BookedPrompts {
    /// The booked time and the keys.
    pub menu: Vec<PromptItem>,
    pub kept: Vec<PromptItem>,
    pub cancelled: Vec<PromptItem>,
    pub cancel_failed: Vec<PromptItem>,
    pub confirm_cancel: Vec<PromptItem>,
    pub cancel_personnummer: Vec<PromptItem>,
    pub personnummer_mismatch: Vec<PromptItem>,
    pub updated: Vec<PromptItem>,
    pub update_failed: Vec<PromptItem>,
}

impl BookedPrompts {
    /// Every list, for the manifest check.
    pub fn all(&self) -> [&[PromptItem]; 9] {
        [
            &self.menu,
            &self.kept,
            &self.cancelled,
            &self.cancel_failed,
            &self.confirm_cancel,
            &self.cancel_personnummer,
            &self.personnummer_mismatch,
            &self.updated,
            &self.update_failed,
        ]
    }
}

/// One named node.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub kind: NodeKind,
}

/// Flow-wide settings (`[settings]`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub default_language: Language,
    /// Wait for the first key after a question prompt ends.
    pub digit_timeout: Duration,
    /// Wait between keys of a number.
    pub inter_digit_timeout: Duration,
    /// Failures that still get the question again; one more means "needs a nurse".
    pub max_failures: u8,
    /// How long to wait for the app's `Estimate` before treating offers as closed.
    pub estimate_timeout: Duration,
    /// How long to wait for a write (case, cancellation, voice note) before
    /// treating it as failed: the caller is never left in silence.
    pub store_timeout: Duration,
    /// A caller who hangs up after triage at this level or more urgent
    /// (1 = most urgent; 0 = never) is registered as a callback anyway.
    pub register_dropped_up_to_level: u8,
    pub red_flag_node: NodeId,
    pub nurse_node: NodeId,
    pub no_input: Vec<PromptItem>,
    /// Said when a hold case cannot be stored: nobody holds without a case,
    /// so the caller is told to call again (or 112) and the call ends.
    pub hold_failed: Vec<PromptItem>,
    /// Said while a store write takes longer than a second.
    pub one_moment: Vec<PromptItem>,
    /// Said before our BYE when the service stops (drain over) with the
    /// caller still in the IVR: call again, or 112 if urgent.
    pub closing: Vec<PromptItem>,
    /// Said instead to a held caller whose case becomes a callback.
    pub closing_held: Vec<PromptItem>,
    /// Said before a caller whose case cannot be stored is transferred to
    /// `sip.toml`'s `fallback_uri` (in the caller's language).
    pub fallback_connecting: Vec<PromptItem>,
    /// Said to a caller who reaches a node whose database is down, before
    /// the transfer to the fallback (no language chosen yet: both).
    pub fallback_not_ready: Vec<PromptItem>,
    pub invalid: Vec<PromptItem>,
    pub hold_music: String,
    pub yes_text: String,
    pub no_text: String,
}

/// A validated flow.
#[derive(Debug, Clone)]
pub struct Flow {
    start: NodeId,
    nodes: Vec<Node>,
    settings: Settings,
}

/// Prompts that spoken times and digits are built from.
pub const CLOCK_PROMPT: &str = "klockan";
/// Said before the time of a callback tomorrow ("i morgon").
pub const TOMORROW_PROMPT: &str = "tomorrow";
/// Said before the time of a callback two or more days away ("en senare dag").
pub const LATER_DAY_PROMPT: &str = "later_day";

/// The answer a caller's SMS consent is recorded under (`yes` / `no`); the
/// SMS outbox sends only when it is `yes`.
pub const SMS_CONSENT: &str = "sms_consent";
/// The answer naming the self-care route whose advice the caller heard.
pub const SELF_CARE_ADVICE: &str = "self_care_advice";
/// After self-care advice: `callback` (a nurse's callback anyway) or `end`.
pub const SELF_CARE_CHOICE: &str = "self_care_choice";
/// Set (`advice`) when hours.toml's advice route answered instead of a callback.
pub const OFFER_CLOSED: &str = "offer_closed";

/// The number prompt `n0`..`n59`.
pub fn number_prompt(n: u8) -> String {
    format!("n{n}")
}

/// The digit prompt `d0`..`d9`.
pub fn digit_prompt(d: u8) -> String {
    format!("d{d}")
}

mod parse;

impl Flow {
    /// Checks that every prompt the flow can play exists (`prompt_exists(id)`),
    /// including `klockan`, `n0`..`n59` and `d0`..`d9` when times or digits are spoken.
    pub fn validate(&self, prompt_exists: &dyn Fn(&str) -> bool) -> Result<(), FlowError> {
        for id in self.prompt_ids() {
            if !prompt_exists(&id) {
                return Err(FlowError::Invalid {
                    file: "ivr.toml".into(),
                    key: format!("prompt \"{id}\""),
                    problem: "is not in the prompt manifest".into(),
                    fix: "add it to prompts/manifest.toml and run prompts/generate.sh".into(),
                });
            }
        }
        Ok(())
    }

    /// Every prompt id the flow can play (placeholders expanded to their parts).
    pub fn prompt_ids(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut add = |items: &[PromptItem]| {
            for it in items {
                match it {
                    PromptItem::Fixed { id, .. } => {
                        out.insert(id.clone());
                    }
                    PromptItem::EstimateTime
                    | PromptItem::CallbackTime
                    | PromptItem::BookedTime => {
                        out.insert(CLOCK_PROMPT.to_owned());
                        out.insert(TOMORROW_PROMPT.to_owned());
                        out.insert(LATER_DAY_PROMPT.to_owned());
                        out.extend((0..60).map(number_prompt));
                        out.insert(digit_prompt(0));
                    }
                    PromptItem::CallerLastFour | PromptItem::EnteredNumber => {
                        out.extend((0..10).map(digit_prompt));
                    }
                }
            }
        };
        add(&self.settings.no_input);
        add(&self.settings.invalid);
        add(&self.settings.hold_failed);
        add(&self.settings.fallback_connecting);
        add(&self.settings.fallback_not_ready);
        for n in &self.nodes {
            match &n.kind {
                NodeKind::Play { prompts, .. }
                | NodeKind::Language { prompts, .. }
                | NodeKind::Advice112 { prompts, .. }
                | NodeKind::Hold { prompts, .. }
                | NodeKind::Goodbye { prompts } => add(prompts),
                NodeKind::Menu { q, .. } | NodeKind::YesNo { q, .. } => add(&q.prompts),
                NodeKind::Personnummer {
                    prompts, invalid, ..
                } => {
                    add(prompts);
                    add(invalid);
                }
                NodeKind::CallbackOffer {
                    offer,
                    offer_withheld,
                    closed,
                    advice,
                    ..
                } => {
                    add(offer);
                    add(offer_withheld);
                    add(closed);
                    add(advice);
                }
                NodeKind::SelfCare { sms, choice, .. } => {
                    add(sms);
                    add(choice);
                }
                NodeKind::SmsConsent { prompts, .. } => add(prompts),
                NodeKind::NumberEntry {
                    prompts,
                    invalid,
                    read_back,
                    ..
                } => {
                    add(prompts);
                    add(invalid);
                    add(read_back);
                }
                NodeKind::Register {
                    confirmed, failed, ..
                } => {
                    add(confirmed);
                    add(failed);
                }
                NodeKind::BookedCallback { say, .. } => {
                    for list in say.all() {
                        add(list);
                    }
                }
                NodeKind::VoiceNote { prompts, .. } => add(prompts),
                NodeKind::Message { .. } => {}
            }
        }
        out.insert(self.settings.hold_music.clone());
        out
    }

    /// Whether the flow can record `value` for `question` (for triage cross-checks).
    pub fn knows_answer(&self, question: &str, value: &str) -> bool {
        self.nodes.iter().any(|n| match &n.kind {
            NodeKind::Menu { q, choices, .. } => {
                q.question == question && choices.iter().any(|c| c.value == value)
            }
            NodeKind::YesNo { q, .. } => {
                q.question == question && (value == "yes" || value == "no")
            }
            NodeKind::SelfCare { .. } | NodeKind::SmsConsent { .. } => {
                question == SMS_CONSENT && (value == "yes" || value == "no")
            }
            _ => false,
        })
    }

    /// The first node.
    pub fn start(&self) -> NodeId {
        self.start
    }

    /// A node by id (ids come from this flow, so the index is always in range).
    pub fn node(&self, id: NodeId) -> &Node {
        // NodeIds are only created by this module from indices into `nodes`.
        &self.nodes[id.0]
    }

    /// All nodes, sorted by name.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Flow-wide settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// The shipped `sip-config/ivr.toml`, for tests across the crate.
#[cfg(test)]
pub(crate) fn shipped_text() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sip-config/ivr.toml");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod tests;
