//! Reading `ivr.toml`: the raw serde shapes and their resolution into typed,
//! validated nodes (names -> indices, digits, placeholders, kinds of targets).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde::Deserialize;

use super::*;

// ---- raw serde shapes -------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    start: String,
    settings: RawSettings,
    nodes: BTreeMap<String, RawNode>,
    /// `[survey]` is read by `ivr::survey`.
    #[serde(default)]
    #[allow(dead_code)]
    survey: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(default = "default_lang")]
    default_language: String,
    #[serde(default = "six")]
    digit_timeout_s: u64,
    #[serde(default = "five")]
    inter_digit_timeout_s: u64,
    #[serde(default = "two")]
    max_failures: u8,
    #[serde(default = "five")]
    estimate_timeout_s: u64,
    #[serde(default = "eight")]
    store_timeout_s: u64,
    #[serde(default = "two_u8")]
    register_dropped_up_to_level: u8,
    red_flag_node: String,
    nurse_node: String,
    no_input: Vec<String>,
    #[serde(default = "hold_unavailable")]
    hold_failed: Vec<String>,
    #[serde(default = "one_moment")]
    one_moment: Vec<String>,
    #[serde(default = "closing")]
    closing: Vec<String>,
    #[serde(default = "closing_held")]
    closing_held: Vec<String>,
    #[serde(default = "fallback_connecting")]
    fallback_connecting: Vec<String>,
    #[serde(default = "fallback_not_ready")]
    fallback_not_ready: Vec<String>,
    invalid: Vec<String>,
    hold_music: String,
    #[serde(default = "ja")]
    yes_text: String,
    #[serde(default = "nej")]
    no_text: String,
}

fn default_lang() -> String {
    "sv".into()
}
fn six() -> u64 {
    6
}
fn hold_unavailable() -> Vec<String> {
    vec!["hold_unavailable".into()]
}
fn one_moment() -> Vec<String> {
    vec!["one_moment".into()]
}
fn closing() -> Vec<String> {
    vec!["closing".into()]
}
fn closing_held() -> Vec<String> {
    vec!["closing_held".into()]
}
fn fallback_connecting() -> Vec<String> {
    vec!["fallback_connecting".into()]
}
fn fallback_not_ready() -> Vec<String> {
    vec![
        "sv:fallback_connecting".into(),
        "en:fallback_connecting".into(),
    ]
}
fn two_u8() -> u8 {
    2
}
fn eight() -> u64 {
    8
}
fn five() -> u64 {
    5
}
fn thirty() -> u64 {
    30
}
fn two() -> u8 {
    2
}
fn ja() -> String {
    "Ja".into()
}
fn nej() -> String {
    "Nej".into()
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RawNode {
    Play {
        prompts: Vec<String>,
        next: String,
    },
    Message {
        slot: String,
        next: String,
    },
    Language {
        prompts: Vec<String>,
        choices: BTreeMap<String, String>,
        next: String,
    },
    Menu {
        question: String,
        text: String,
        prompts: Vec<String>,
        choices: Vec<RawChoice>,
        next: String,
    },
    YesNo {
        question: String,
        text: String,
        prompts: Vec<String>,
        #[serde(default)]
        red_flag: bool,
        next: String,
        yes_next: Option<String>,
        no_next: Option<String>,
    },
    #[serde(rename = "advice_112")]
    Advice112 {
        prompts: Vec<String>,
        wait_s: u64,
        next: String,
    },
    Personnummer {
        prompts: Vec<String>,
        invalid: Vec<String>,
        next: String,
    },
    CallbackOffer {
        offer: Vec<String>,
        offer_withheld: Vec<String>,
        closed: Vec<String>,
        #[serde(default)]
        advice: Vec<String>,
        advice_end: Option<String>,
        number_entry: String,
        hold: String,
        next: String,
    },
    SelfCare {
        sms: Vec<String>,
        choice: Vec<String>,
        next: String,
        end: String,
    },
    SmsConsent {
        prompts: Vec<String>,
        next: String,
    },
    NumberEntry {
        prompts: Vec<String>,
        invalid: Vec<String>,
        read_back: Vec<String>,
        next: String,
    },
    Register {
        confirmed: Vec<String>,
        failed: Vec<String>,
        next: String,
    },
    Hold {
        prompts: Vec<String>,
        max_level: Option<u8>,
    },
    Goodbye {
        prompts: Vec<String>,
    },
    BookedCallback {
        prompts: Vec<String>,
        #[serde(default)]
        kept: Vec<String>,
        cancelled: Vec<String>,
        cancel_failed: Vec<String>,
        confirm_cancel: Vec<String>,
        cancel_personnummer: Vec<String>,
        personnummer_mismatch: Vec<String>,
        updated: Vec<String>,
        update_failed: Vec<String>,
        retriage: String,
        keep: String,
        done: String,
        next: String,
    },
    VoiceNote {
        prompts: Vec<String>,
        #[serde(default = "thirty")]
        max_s: u64,
        #[serde(default = "five")]
        silence_s: u64,
        next: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChoice {
    digit: u8,
    value: String,
    text: String,
    next: Option<String>,
    #[serde(default)]
    red_flag: bool,
}

/// Longest voice note a flow may ask for (memory: 16 KB per second).
const MAX_VOICE_NOTE_S: u64 = 300;

/// Resolves names and prompt items while remembering the file for errors.
struct Ctx<'a> {
    file: &'a str,
    index: HashMap<String, usize>,
}

impl Ctx<'_> {
    fn err(&self, key: impl Into<String>, problem: impl Into<String>, fix: &str) -> FlowError {
        FlowError::Invalid {
            file: self.file.to_owned(),
            key: key.into(),
            problem: problem.into(),
            fix: fix.to_owned(),
        }
    }

    fn node(&self, key: &str, name: &str) -> Result<NodeId, FlowError> {
        self.index.get(name).map(|&i| NodeId(i)).ok_or_else(|| {
            self.err(
                key,
                format!("refers to unknown node \"{name}\""),
                "use the name of a [nodes.NAME] table in this file",
            )
        })
    }

    fn opt_node(&self, key: &str, name: &Option<String>) -> Result<Option<NodeId>, FlowError> {
        name.as_deref().map(|n| self.node(key, n)).transpose()
    }

    fn prompts(&self, key: &str, items: &[String]) -> Result<Vec<PromptItem>, FlowError> {
        items
            .iter()
            .enumerate()
            .map(|(i, s)| self.prompt(&format!("{key}[{i}]"), s))
            .collect()
    }

    fn prompt(&self, key: &str, s: &str) -> Result<PromptItem, FlowError> {
        let item =
            match s {
                "{estimate_time}" => PromptItem::EstimateTime,
                "{callback_time}" => PromptItem::CallbackTime,
                "{caller_last_four}" => PromptItem::CallerLastFour,
                "{entered_number}" => PromptItem::EnteredNumber,
                "{booked_time}" => PromptItem::BookedTime,
                _ if s.starts_with('{') => return Err(self.err(
                    key,
                    format!("unknown placeholder {s}"),
                    "use {estimate_time}, {callback_time}, {booked_time}, {caller_last_four} or {entered_number}",
                )),
                _ => {
                    let (lang, id) = match s.split_once(':') {
                        Some((l, id)) => {
                            let lang = Language::from_code(l).ok_or_else(|| {
                                self.err(
                                    key,
                                    format!("unknown language prefix \"{l}:\""),
                                    "use sv: or en:",
                                )
                            })?;
                            (Some(lang), id)
                        }
                        None => (None, s),
                    };
                    if id.is_empty()
                        || !id
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    {
                        return Err(self.err(
                            key,
                            format!("prompt id \"{id}\" is not a plain name"),
                            "use letters, digits, _ and - (the WAV file name without .wav)",
                        ));
                    }
                    PromptItem::Fixed {
                        id: id.to_owned(),
                        lang,
                    }
                }
            };
        Ok(item)
    }

    fn question(
        &self,
        key: &str,
        question: String,
        text: String,
        prompts: &[String],
    ) -> Result<Question, FlowError> {
        if question.is_empty() {
            return Err(self.err(
                format!("{key}.question"),
                "is empty",
                "name the answer, e.g. \"about\"",
            ));
        }
        Ok(Question {
            question,
            text,
            prompts: self.prompts(&format!("{key}.prompts"), prompts)?,
        })
    }
}

fn check_digit(ctx: &Ctx, key: &str, digit: u8, seen: &mut BTreeSet<u8>) -> Result<(), FlowError> {
    if digit > 9 {
        return Err(ctx.err(
            key,
            format!("digit {digit} is not a key"),
            "use 0-9 (* repeats, # ends input)",
        ));
    }
    if !seen.insert(digit) {
        return Err(ctx.err(
            key,
            format!("digit {digit} is used twice"),
            "give each choice its own digit",
        ));
    }
    Ok(())
}

impl Flow {
    /// Parses a flow from TOML text (errors name `ivr.toml`).
    pub fn from_toml(text: &str) -> Result<Self, FlowError> {
        Self::from_toml_named(text, "ivr.toml")
    }

    /// Parses a flow; `file` names the source in errors.
    pub fn from_toml_named(text: &str, file: &str) -> Result<Self, FlowError> {
        let raw: RawFlow = toml::from_str(text).map_err(|e| FlowError::Parse {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        let names: Vec<String> = raw.nodes.keys().cloned().collect();
        let ctx = Ctx {
            file,
            index: names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i))
                .collect(),
        };
        let mut nodes = Vec::with_capacity(names.len());
        let mut questions = BTreeSet::new();
        for (name, raw_node) in raw.nodes {
            let k = format!("nodes.{name}");
            let key = |field: &str| format!("{k}.{field}");
            let kind = match raw_node {
                RawNode::Play { prompts, next } => NodeKind::Play {
                    prompts: ctx.prompts(&key("prompts"), &prompts)?,
                    next: ctx.node(&key("next"), &next)?,
                },
                RawNode::Message { slot, next } => NodeKind::Message {
                    slot,
                    next: ctx.node(&key("next"), &next)?,
                },
                RawNode::Language {
                    prompts,
                    choices,
                    next,
                } => {
                    let mut seen = BTreeSet::new();
                    let mut list = Vec::new();
                    for (d, code) in choices {
                        let ck = key(&format!("choices.{d}"));
                        let digit: u8 = d.parse().map_err(|_| {
                            ctx.err(&ck, "is not a digit", "use keys \"1\", \"2\", ...")
                        })?;
                        check_digit(&ctx, &ck, digit, &mut seen)?;
                        let lang = Language::from_code(&code).ok_or_else(|| {
                            ctx.err(
                                &ck,
                                format!("unknown language \"{code}\""),
                                "use \"sv\" or \"en\"",
                            )
                        })?;
                        list.push((digit, lang));
                    }
                    if list.is_empty() {
                        return Err(ctx.err(
                            key("choices"),
                            "is empty",
                            "e.g. choices = { \"1\" = \"sv\", \"2\" = \"en\" }",
                        ));
                    }
                    NodeKind::Language {
                        prompts: ctx.prompts(&key("prompts"), &prompts)?,
                        choices: list,
                        next: ctx.node(&key("next"), &next)?,
                    }
                }
                RawNode::Menu {
                    question,
                    text,
                    prompts,
                    choices,
                    next,
                } => {
                    let q = ctx.question(&k, question, text, &prompts)?;
                    if !questions.insert(q.question.clone()) {
                        return Err(ctx.err(
                            key("question"),
                            format!("\"{}\" is asked twice", q.question),
                            "give each question its own id",
                        ));
                    }
                    if choices.is_empty() {
                        return Err(ctx.err(
                            key("choices"),
                            "is empty",
                            "add { digit = 1, value = \"...\", text = \"...\" }",
                        ));
                    }
                    let mut seen = BTreeSet::new();
                    let mut values = BTreeSet::new();
                    let mut list = Vec::with_capacity(choices.len());
                    for (i, c) in choices.into_iter().enumerate() {
                        let ck = key(&format!("choices[{i}]"));
                        check_digit(&ctx, &ck, c.digit, &mut seen)?;
                        if !values.insert(c.value.clone()) {
                            return Err(ctx.err(
                                &ck,
                                format!("value \"{}\" is used twice", c.value),
                                "give each choice its own value",
                            ));
                        }
                        list.push(Choice {
                            digit: c.digit,
                            value: c.value,
                            text: c.text,
                            next: ctx.opt_node(&format!("{ck}.next"), &c.next)?,
                            red_flag: c.red_flag,
                        });
                    }
                    NodeKind::Menu {
                        q,
                        choices: list,
                        next: ctx.node(&key("next"), &next)?,
                    }
                }
                RawNode::YesNo {
                    question,
                    text,
                    prompts,
                    red_flag,
                    next,
                    yes_next,
                    no_next,
                } => {
                    let q = ctx.question(&k, question, text, &prompts)?;
                    if !questions.insert(q.question.clone()) {
                        return Err(ctx.err(
                            key("question"),
                            format!("\"{}\" is asked twice", q.question),
                            "give each question its own id",
                        ));
                    }
                    if red_flag && yes_next.is_some() {
                        return Err(ctx.err(
                            key("yes_next"),
                            "is set on a red_flag question",
                            "remove yes_next: a red-flag yes goes to settings.red_flag_node",
                        ));
                    }
                    NodeKind::YesNo {
                        q,
                        red_flag,
                        next: ctx.node(&key("next"), &next)?,
                        yes_next: ctx.opt_node(&key("yes_next"), &yes_next)?,
                        no_next: ctx.opt_node(&key("no_next"), &no_next)?,
                    }
                }
                RawNode::Advice112 {
                    prompts,
                    wait_s,
                    next,
                } => NodeKind::Advice112 {
                    prompts: ctx.prompts(&key("prompts"), &prompts)?,
                    wait: Duration::from_secs(wait_s),
                    next: ctx.node(&key("next"), &next)?,
                },
                RawNode::Personnummer {
                    prompts,
                    invalid,
                    next,
                } => NodeKind::Personnummer {
                    prompts: ctx.prompts(&key("prompts"), &prompts)?,
                    invalid: ctx.prompts(&key("invalid"), &invalid)?,
                    next: ctx.node(&key("next"), &next)?,
                },
                RawNode::CallbackOffer {
                    offer,
                    offer_withheld,
                    closed,
                    advice,
                    advice_end,
                    number_entry,
                    hold,
                    next,
                } => NodeKind::CallbackOffer {
                    offer: ctx.prompts(&key("offer"), &offer)?,
                    offer_withheld: ctx.prompts(&key("offer_withheld"), &offer_withheld)?,
                    closed: ctx.prompts(&key("closed"), &closed)?,
                    advice: ctx.prompts(&key("advice"), &advice)?,
                    advice_end: ctx.opt_node(&key("advice_end"), &advice_end)?,
                    number_entry: ctx.node(&key("number_entry"), &number_entry)?,
                    hold: ctx.node(&key("hold"), &hold)?,
                    next: ctx.node(&key("next"), &next)?,
                },
                RawNode::SelfCare {
                    sms,
                    choice,
                    next,
                    end,
                } => NodeKind::SelfCare {
                    sms: ctx.prompts(&key("sms"), &sms)?,
                    choice: ctx.prompts(&key("choice"), &choice)?,
                    next: ctx.node(&key("next"), &next)?,
                    end: ctx.node(&key("end"), &end)?,
                },
                RawNode::SmsConsent { prompts, next } => NodeKind::SmsConsent {
                    prompts: ctx.prompts(&key("prompts"), &prompts)?,
                    next: ctx.node(&key("next"), &next)?,
                },
                RawNode::NumberEntry {
                    prompts,
                    invalid,
                    read_back,
                    next,
                } => NodeKind::NumberEntry {
                    prompts: ctx.prompts(&key("prompts"), &prompts)?,
                    invalid: ctx.prompts(&key("invalid"), &invalid)?,
                    read_back: ctx.prompts(&key("read_back"), &read_back)?,
                    next: ctx.node(&key("next"), &next)?,
                },
                RawNode::Register {
                    confirmed,
                    failed,
                    next,
                } => NodeKind::Register {
                    confirmed: ctx.prompts(&key("confirmed"), &confirmed)?,
                    failed: ctx.prompts(&key("failed"), &failed)?,
                    next: ctx.node(&key("next"), &next)?,
                },
                RawNode::Hold { prompts, max_level } => {
                    if max_level.is_some_and(|l| !(1..=5).contains(&l)) {
                        return Err(ctx.err(
                            key("max_level"),
                            "is not a level",
                            "use 1-5 or leave it out",
                        ));
                    }
                    NodeKind::Hold {
                        prompts: ctx.prompts(&key("prompts"), &prompts)?,
                        max_level,
                    }
                }
                RawNode::Goodbye { prompts } => NodeKind::Goodbye {
                    prompts: ctx.prompts(&key("prompts"), &prompts)?,
                },
                RawNode::BookedCallback {
                    prompts,
                    kept,
                    cancelled,
                    cancel_failed,
                    confirm_cancel,
                    cancel_personnummer,
                    personnummer_mismatch,
                    updated,
                    update_failed,
                    retriage,
                    keep,
                    done,
                    next,
                } => NodeKind::BookedCallback {
                    say: BookedPrompts {
                        menu: ctx.prompts(&key("prompts"), &prompts)?,
                        kept: ctx.prompts(&key("kept"), &kept)?,
                        cancelled: ctx.prompts(&key("cancelled"), &cancelled)?,
                        cancel_failed: ctx.prompts(&key("cancel_failed"), &cancel_failed)?,
                        confirm_cancel: ctx.prompts(&key("confirm_cancel"), &confirm_cancel)?,
                        cancel_personnummer: ctx
                            .prompts(&key("cancel_personnummer"), &cancel_personnummer)?,
                        personnummer_mismatch: ctx
                            .prompts(&key("personnummer_mismatch"), &personnummer_mismatch)?,
                        updated: ctx.prompts(&key("updated"), &updated)?,
                        update_failed: ctx.prompts(&key("update_failed"), &update_failed)?,
                    },
                    retriage: ctx.node(&key("retriage"), &retriage)?,
                    keep: ctx.node(&key("keep"), &keep)?,
                    done: ctx.node(&key("done"), &done)?,
                    next: ctx.node(&key("next"), &next)?,
                },
                RawNode::VoiceNote {
                    prompts,
                    max_s,
                    silence_s,
                    next,
                } => {
                    if !(1..=MAX_VOICE_NOTE_S).contains(&max_s) {
                        return Err(ctx.err(
                            key("max_s"),
                            format!("{max_s} seconds is not a voice-note length"),
                            "use 1 to 300 seconds (the default is 30)",
                        ));
                    }
                    if silence_s == 0 {
                        return Err(ctx.err(
                            key("silence_s"),
                            "is 0 seconds",
                            "use e.g. silence_s = 5 (quiet this long ends the recording)",
                        ));
                    }
                    NodeKind::VoiceNote {
                        prompts: ctx.prompts(&key("prompts"), &prompts)?,
                        max: Duration::from_secs(max_s),
                        silence: Duration::from_secs(silence_s),
                        next: ctx.node(&key("next"), &next)?,
                    }
                }
            };
            nodes.push(Node { id: name, kind });
        }
        let s = raw.settings;
        let settings = Settings {
            default_language: Language::from_code(&s.default_language).ok_or_else(|| {
                ctx.err(
                    "settings.default_language",
                    format!("unknown language \"{}\"", s.default_language),
                    "use \"sv\" or \"en\"",
                )
            })?,
            digit_timeout: Duration::from_secs(s.digit_timeout_s),
            inter_digit_timeout: Duration::from_secs(s.inter_digit_timeout_s),
            max_failures: s.max_failures,
            estimate_timeout: Duration::from_secs(s.estimate_timeout_s),
            store_timeout: Duration::from_secs(s.store_timeout_s),
            register_dropped_up_to_level: s.register_dropped_up_to_level,
            red_flag_node: ctx.node("settings.red_flag_node", &s.red_flag_node)?,
            nurse_node: ctx.node("settings.nurse_node", &s.nurse_node)?,
            no_input: ctx.prompts("settings.no_input", &s.no_input)?,
            hold_failed: ctx.prompts("settings.hold_failed", &s.hold_failed)?,
            one_moment: ctx.prompts("settings.one_moment", &s.one_moment)?,
            closing: ctx.prompts("settings.closing", &s.closing)?,
            closing_held: ctx.prompts("settings.closing_held", &s.closing_held)?,
            fallback_connecting: ctx
                .prompts("settings.fallback_connecting", &s.fallback_connecting)?,
            fallback_not_ready: ctx
                .prompts("settings.fallback_not_ready", &s.fallback_not_ready)?,
            invalid: ctx.prompts("settings.invalid", &s.invalid)?,
            hold_music: s.hold_music,
            yes_text: s.yes_text,
            no_text: s.no_text,
        };
        if [
            s.digit_timeout_s,
            s.inter_digit_timeout_s,
            s.estimate_timeout_s,
            s.store_timeout_s,
        ]
        .contains(&0)
        {
            return Err(ctx.err(
                "settings",
                "a timeout is 0 seconds",
                "use digit_timeout_s = 6, inter_digit_timeout_s = 5, estimate_timeout_s = 5, store_timeout_s = 8",
            ));
        }
        let flow = Flow {
            start: ctx.node("start", &raw.start)?,
            nodes,
            settings,
        };
        flow.check_kinds(&ctx)?;
        Ok(flow)
    }

    /// Targets that must be of a particular kind.
    fn check_kinds(&self, ctx: &Ctx) -> Result<(), FlowError> {
        let is_hold = |id: NodeId| matches!(self.node(id).kind, NodeKind::Hold { .. });
        let is_goodbye = |id: NodeId| matches!(self.node(id).kind, NodeKind::Goodbye { .. });
        let must_end = |n: &Node, field: &str| {
            ctx.err(
                format!("nodes.{}.{field}", n.id),
                "is not a goodbye node",
                "point it at a kind = \"goodbye\" node: the call ends after advice",
            )
        };
        if !is_hold(self.settings.nurse_node) {
            return Err(ctx.err(
                "settings.nurse_node",
                "is not a hold node",
                "point it at a node with kind = \"hold\"",
            ));
        }
        if !matches!(
            self.node(self.settings.red_flag_node).kind,
            NodeKind::Advice112 { .. } | NodeKind::Hold { .. }
        ) {
            return Err(ctx.err(
                "settings.red_flag_node",
                "is not an advice_112 or hold node",
                "point it at the kind = \"advice_112\" node",
            ));
        }
        for n in &self.nodes {
            match &n.kind {
                NodeKind::SelfCare { end, .. } if !is_goodbye(*end) => {
                    return Err(must_end(n, "end"));
                }
                NodeKind::CallbackOffer {
                    advice_end: Some(end),
                    ..
                } if !is_goodbye(*end) => return Err(must_end(n, "advice_end")),
                NodeKind::CallbackOffer {
                    number_entry, hold, ..
                } => {
                    if !matches!(self.node(*number_entry).kind, NodeKind::NumberEntry { .. }) {
                        return Err(ctx.err(
                            format!("nodes.{}.number_entry", n.id),
                            "is not a number_entry node",
                            "point it at a kind = \"number_entry\" node",
                        ));
                    }
                    if !is_hold(*hold) {
                        return Err(ctx.err(
                            format!("nodes.{}.hold", n.id),
                            "is not a hold node",
                            "point it at a kind = \"hold\" node",
                        ));
                    }
                }
                NodeKind::BookedCallback { retriage, .. }
                    if matches!(self.node(*retriage).kind, NodeKind::BookedCallback { .. }) =>
                {
                    return Err(ctx.err(
                        format!("nodes.{}.retriage", n.id),
                        "is a booked_callback node",
                        "point it at the first triage question (e.g. \"about\")",
                    ));
                }
                NodeKind::Advice112 { next, .. } if !is_hold(*next) => {
                    return Err(ctx.err(
                        format!("nodes.{}.next", n.id),
                        "is not a hold node",
                        "a caller who stays after 112 advice must be held for a nurse",
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}
