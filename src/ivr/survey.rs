//! The post-contact survey: after the nurse hung up, the resident still on
//! the line hears one or a few keypad questions (`[survey]` of `ivr.toml`).
//! Sans-IO like [`super::Session`]: events and `Instant`s in, actions out;
//! the dialer plays the prompts on the resident's leg and stores the result.
//!
//! Skippable by design: `#`, no key within the timeout, or hanging up end it
//! at once; an invalid key re-asks the question once, a second ends it.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::media::dtmf::DtmfKey;

/// A problem in `[survey]`; names the file, key and fix.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {problem}; fix: {fix}")]
pub struct SurveyConfigError {
    pub file: String,
    pub key: String,
    pub problem: String,
    pub fix: String,
}

/// Most questions a survey may ask (it must stay short).
pub const MAX_QUESTIONS: usize = 3;

/// One keypad question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyQuestion {
    /// Stable id, stored with the answers (`helped`).
    pub id: String,
    /// Prompt id in the manifest.
    pub prompt: String,
    /// The digits that answer it; the stored value is the digit.
    pub keys: BTreeSet<u8>,
}

/// `[survey]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyConfig {
    pub enabled: bool,
    /// Played once before the first question.
    pub intro: Vec<String>,
    /// Played after the last answer.
    pub thanks: Vec<String>,
    /// Played before a question is asked again after an invalid key.
    pub invalid: Vec<String>,
    pub questions: Vec<SurveyQuestion>,
    /// How long after a question's prompt a key may come.
    pub timeout: Duration,
}

impl Default for SurveyConfig {
    /// No `[survey]`: no survey.
    fn default() -> Self {
        SurveyConfig {
            enabled: false,
            intro: Vec::new(),
            thanks: Vec::new(),
            invalid: Vec::new(),
            questions: Vec::new(),
            timeout: Duration::from_secs(6),
        }
    }
}

// ivr.toml as a whole; only `[survey]` is read here (the flow parser reads the rest).
#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    survey: Option<RawSurvey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSurvey {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    intro: Vec<String>,
    #[serde(default)]
    thanks: Vec<String>,
    #[serde(default = "invalid_default")]
    invalid: Vec<String>,
    #[serde(default = "timeout_default")]
    timeout_s: u64,
    #[serde(default)]
    questions: Vec<RawQuestion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuestion {
    id: String,
    prompt: String,
    keys: String,
}

fn invalid_default() -> Vec<String> {
    vec!["invalid_choice".into()]
}
fn timeout_default() -> u64 {
    6
}

impl SurveyConfig {
    /// Reads `[survey]` from the text of `ivr.toml` (named `file` in errors).
    /// No section: disabled.
    pub fn from_toml(text: &str, file: &str) -> Result<SurveyConfig, SurveyConfigError> {
        let err = |key: &str, problem: String, fix: &str| SurveyConfigError {
            file: file.to_owned(),
            key: key.to_owned(),
            problem,
            fix: fix.to_owned(),
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            err(
                "survey",
                e.message().to_owned(),
                "keys are enabled, intro, thanks, invalid, timeout_s and [[survey.questions]] with id, prompt, keys",
            )
        })?;
        let Some(raw) = raw.survey else {
            return Ok(SurveyConfig::default());
        };
        if !(1..=30).contains(&raw.timeout_s) {
            return Err(err(
                "survey.timeout_s",
                format!("{} is out of range", raw.timeout_s),
                "use 1 to 30 seconds",
            ));
        }
        if raw.enabled && raw.questions.is_empty() {
            return Err(err(
                "survey.questions",
                "an enabled survey has no questions".into(),
                "add a [[survey.questions]] table, or set enabled = false",
            ));
        }
        if raw.questions.len() > MAX_QUESTIONS {
            return Err(err(
                "survey.questions",
                format!("{} questions", raw.questions.len()),
                &format!("ask at most {MAX_QUESTIONS}: residents hang up on long surveys"),
            ));
        }
        let mut questions: Vec<SurveyQuestion> = Vec::new();
        for (i, q) in raw.questions.into_iter().enumerate() {
            let key = |k: &str| format!("survey.questions[{i}].{k}");
            let id_ok = !q.id.is_empty()
                && q.id.len() <= 40
                && q.id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !id_ok {
                return Err(err(
                    &key("id"),
                    format!("\"{}\" is not a plain id", q.id),
                    "use 1-40 lowercase letters, digits or _ (e.g. \"helped\")",
                ));
            }
            if questions.iter().any(|o| o.id == q.id) {
                return Err(err(
                    &key("id"),
                    format!("\"{}\" is used twice", q.id),
                    "give every question its own id",
                ));
            }
            if q.prompt.trim().is_empty() {
                return Err(err(
                    &key("prompt"),
                    "empty".into(),
                    "name a prompt of prompts/manifest.toml",
                ));
            }
            let mut keys = BTreeSet::new();
            for c in q.keys.chars() {
                let Some(d) = c.to_digit(10) else {
                    return Err(err(
                        &key("keys"),
                        format!("'{c}' is not a digit"),
                        "list the digits that answer, e.g. \"12345\" (# skips, * repeats)",
                    ));
                };
                keys.insert(d as u8);
            }
            if keys.is_empty() {
                return Err(err(
                    &key("keys"),
                    "no keys".into(),
                    "list the digits that answer, e.g. \"12\"",
                ));
            }
            questions.push(SurveyQuestion {
                id: q.id,
                prompt: q.prompt,
                keys,
            });
        }
        Ok(SurveyConfig {
            enabled: raw.enabled,
            intro: raw.intro,
            thanks: raw.thanks,
            invalid: raw.invalid,
            questions,
            timeout: Duration::from_secs(raw.timeout_s),
        })
    }

    /// Every prompt id the survey can play (checked against the manifest and WAVs).
    pub fn prompt_ids(&self) -> BTreeSet<String> {
        let mut ids: BTreeSet<String> = self
            .intro
            .iter()
            .chain(&self.thanks)
            .chain(&self.invalid)
            .cloned()
            .collect();
        ids.extend(self.questions.iter().map(|q| q.prompt.clone()));
        ids
    }
}

/// What the survey is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyEvent {
    /// The playlist of `Play { token }` has been sent.
    PromptDone {
        token: u64,
    },
    Digit(DtmfKey),
    /// The resident hung up (or the leg was lost).
    Hangup,
}

/// What the shell does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SurveyAction {
    /// Stop what plays and play these prompt ids (in the resident's language).
    Play { prompts: Vec<String>, token: u64 },
    /// Over: hang up the leg and store [`Survey::result`].
    Finish,
}

/// How a survey ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyEnd {
    /// Every question answered.
    Answered,
    /// `#`, no key in time, or invalid keys twice.
    Skipped,
    /// The resident hung up before the end.
    HungUp,
}

/// The result: answers given (question id, digit), and how it ended.
/// Not `Debug`-logged anywhere: answers are the resident's.
#[derive(Clone, PartialEq, Eq)]
pub struct SurveyResult {
    pub answers: Vec<(String, u8)>,
    pub end: SurveyEnd,
}

impl std::fmt::Debug for SurveyResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SurveyResult {{ answers: {}, end: {:?} }}",
            self.answers.len(),
            self.end
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Question `q` is being played (`waiting` false) or awaits a key until the deadline.
    Asking {
        q: usize,
        retried: bool,
        waiting: bool,
    },
    Thanking,
    Done,
}

/// One resident's survey.
pub struct Survey<'a> {
    config: &'a SurveyConfig,
    phase: Phase,
    token: u64,
    deadline: Option<Instant>,
    answers: Vec<(String, u8)>,
    end: SurveyEnd,
}

impl<'a> Survey<'a> {
    /// A survey over `config` (enabled, with at least one question).
    pub fn new(config: &'a SurveyConfig) -> Survey<'a> {
        Survey {
            config,
            phase: Phase::Done,
            token: 0,
            deadline: None,
            answers: Vec::new(),
            end: SurveyEnd::Skipped,
        }
    }

    /// The first actions: the intro and the first question.
    pub fn start(&mut self) -> Vec<SurveyAction> {
        let Some(first) = self.config.questions.first() else {
            return self.finish(SurveyEnd::Skipped);
        };
        let mut prompts = self.config.intro.clone();
        prompts.push(first.prompt.clone());
        self.phase = Phase::Asking {
            q: 0,
            retried: false,
            waiting: false,
        };
        vec![self.play(prompts)]
    }

    /// When [`Survey::on_timeout`] is due, if a key is awaited.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// No key in time: skipped (what was answered is kept).
    pub fn on_timeout(&mut self, now: Instant) -> Vec<SurveyAction> {
        match self.deadline {
            Some(d) if now >= d => self.end_early(SurveyEnd::Skipped),
            _ => Vec::new(),
        }
    }

    /// Takes one event.
    pub fn handle(&mut self, now: Instant, event: SurveyEvent) -> Vec<SurveyAction> {
        match (self.phase, event) {
            (Phase::Done, _) => Vec::new(),
            (_, SurveyEvent::Hangup) => {
                // During the thanks the answers are complete (or skipped) already.
                let end = if self.phase == Phase::Thanking {
                    self.end
                } else {
                    SurveyEnd::HungUp
                };
                self.deadline = None;
                self.phase = Phase::Done;
                self.end = end;
                Vec::new()
            }
            (Phase::Thanking, SurveyEvent::PromptDone { token }) if token == self.token => {
                let end = self.end;
                self.finish(end)
            }
            (Phase::Asking { q, retried, .. }, SurveyEvent::PromptDone { token })
                if token == self.token =>
            {
                self.phase = Phase::Asking {
                    q,
                    retried,
                    waiting: true,
                };
                self.deadline = Some(now + self.config.timeout);
                Vec::new()
            }
            (Phase::Asking { q, retried, .. }, SurveyEvent::Digit(key)) => {
                self.key(q, retried, key)
            }
            _ => Vec::new(),
        }
    }

    /// The answers and how it ended (final once [`SurveyAction::Finish`] came
    /// or after a hangup).
    pub fn result(&self) -> SurveyResult {
        SurveyResult {
            answers: self.answers.clone(),
            end: self.end,
        }
    }

    /// True once over.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    fn key(&mut self, q: usize, retried: bool, key: DtmfKey) -> Vec<SurveyAction> {
        let Some(question) = self.config.questions.get(q) else {
            return self.finish(SurveyEnd::Skipped);
        };
        match key {
            DtmfKey::Hash => self.end_early(SurveyEnd::Skipped),
            // `*` repeats the question (DESIGN.md section 5), not counted as invalid.
            DtmfKey::Star => {
                self.phase = Phase::Asking {
                    q,
                    retried,
                    waiting: false,
                };
                vec![self.play(vec![question.prompt.clone()])]
            }
            DtmfKey::Digit(d) if question.keys.contains(&d) => {
                self.answers.push((question.id.clone(), d));
                match self.config.questions.get(q + 1) {
                    Some(next) => {
                        self.phase = Phase::Asking {
                            q: q + 1,
                            retried: false,
                            waiting: false,
                        };
                        vec![self.play(vec![next.prompt.clone()])]
                    }
                    None => {
                        self.end = SurveyEnd::Answered;
                        self.thank()
                    }
                }
            }
            _ if retried => self.end_early(SurveyEnd::Skipped),
            _ => {
                self.phase = Phase::Asking {
                    q,
                    retried: true,
                    waiting: false,
                };
                let mut prompts = self.config.invalid.clone();
                prompts.push(question.prompt.clone());
                vec![self.play(prompts)]
            }
        }
    }

    /// Ends before the last answer: thanks if something was answered.
    fn end_early(&mut self, end: SurveyEnd) -> Vec<SurveyAction> {
        self.end = end;
        if self.answers.is_empty() {
            self.finish(end)
        } else {
            self.thank()
        }
    }

    fn thank(&mut self) -> Vec<SurveyAction> {
        self.deadline = None;
        if self.config.thanks.is_empty() {
            let end = self.end;
            return self.finish(end);
        }
        self.phase = Phase::Thanking;
        vec![self.play(self.config.thanks.clone())]
    }

    fn finish(&mut self, end: SurveyEnd) -> Vec<SurveyAction> {
        self.end = end;
        self.deadline = None;
        self.phase = Phase::Done;
        vec![SurveyAction::Finish]
    }

    fn play(&mut self, prompts: Vec<String>) -> SurveyAction {
        self.token += 1;
        self.deadline = None;
        SurveyAction::Play {
            prompts,
            token: self.token,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
start = "x"
[survey]
enabled = true
intro = ["survey_intro"]
thanks = ["survey_thanks"]
timeout_s = 5
[[survey.questions]]
id = "helped"
prompt = "survey_helped"
keys = "12345"
[[survey.questions]]
id = "easy"
prompt = "survey_easy"
keys = "12"
"#;

    fn config() -> SurveyConfig {
        SurveyConfig::from_toml(TOML, "ivr.toml").unwrap()
    }

    fn token(actions: &[SurveyAction]) -> u64 {
        match actions.first() {
            Some(SurveyAction::Play { token, .. }) => *token,
            other => panic!("expected a prompt, got {other:?}"),
        }
    }

    fn prompts(actions: &[SurveyAction]) -> Vec<String> {
        match actions.first() {
            Some(SurveyAction::Play { prompts, .. }) => prompts.clone(),
            other => panic!("expected a prompt, got {other:?}"),
        }
    }

    #[test]
    fn two_answers_are_kept_then_thanks_then_finish() {
        let cfg = config();
        let mut s = Survey::new(&cfg);
        let t0 = Instant::now();
        let a = s.start();
        assert_eq!(prompts(&a), ["survey_intro", "survey_helped"]);
        assert_eq!(s.deadline(), None, "no timeout while the prompt plays");
        s.handle(t0, SurveyEvent::PromptDone { token: token(&a) });
        assert_eq!(s.deadline(), Some(t0 + Duration::from_secs(5)));
        let a = s.handle(t0, SurveyEvent::Digit(DtmfKey::Digit(4)));
        assert_eq!(prompts(&a), ["survey_easy"]);
        // Barge-in: a key while the question still plays is taken.
        let a = s.handle(t0, SurveyEvent::Digit(DtmfKey::Digit(1)));
        assert_eq!(prompts(&a), ["survey_thanks"]);
        let a = s.handle(t0, SurveyEvent::PromptDone { token: token(&a) });
        assert_eq!(a, [SurveyAction::Finish]);
        let r = s.result();
        assert_eq!(r.end, SurveyEnd::Answered);
        assert_eq!(r.answers, [("helped".into(), 4), ("easy".into(), 1)]);
        assert!(s.is_done());
    }

    #[test]
    fn no_key_within_the_timeout_skips_without_answers() {
        let cfg = config();
        let mut s = Survey::new(&cfg);
        let t0 = Instant::now();
        let a = s.start();
        s.handle(t0, SurveyEvent::PromptDone { token: token(&a) });
        assert!(s.on_timeout(t0 + Duration::from_secs(4)).is_empty());
        let a = s.on_timeout(t0 + Duration::from_secs(5));
        assert_eq!(a, [SurveyAction::Finish]);
        assert_eq!(s.result().end, SurveyEnd::Skipped);
        assert!(s.result().answers.is_empty());
    }

    #[test]
    fn hash_skips_and_keeps_what_was_answered() {
        let cfg = config();
        let mut s = Survey::new(&cfg);
        let t0 = Instant::now();
        s.start();
        s.handle(t0, SurveyEvent::Digit(DtmfKey::Digit(5)));
        let a = s.handle(t0, SurveyEvent::Digit(DtmfKey::Hash));
        assert_eq!(prompts(&a), ["survey_thanks"], "thanks for the one answer");
        let r = s.result();
        assert_eq!(r.end, SurveyEnd::Skipped);
        assert_eq!(r.answers, [("helped".into(), 5)]);
    }

    #[test]
    fn an_invalid_key_re_asks_once_then_ends() {
        let cfg = config();
        let mut s = Survey::new(&cfg);
        let t0 = Instant::now();
        s.start();
        let a = s.handle(t0, SurveyEvent::Digit(DtmfKey::Digit(9)));
        assert_eq!(prompts(&a), ["invalid_choice", "survey_helped"]);
        let a = s.handle(t0, SurveyEvent::Digit(DtmfKey::Digit(7)));
        assert_eq!(a, [SurveyAction::Finish]);
        assert_eq!(s.result().end, SurveyEnd::Skipped);
    }

    #[test]
    fn hangup_ends_silently_and_stale_prompt_ends_are_ignored() {
        let cfg = config();
        let mut s = Survey::new(&cfg);
        let t0 = Instant::now();
        let first = token(&s.start());
        let a = s.handle(t0, SurveyEvent::Digit(DtmfKey::Star));
        assert_eq!(prompts(&a), ["survey_helped"], "* repeats");
        // The first playlist's end arrives after the repeat started: ignored.
        s.handle(t0, SurveyEvent::PromptDone { token: first });
        assert_eq!(s.deadline(), None);
        assert!(s.handle(t0, SurveyEvent::Hangup).is_empty());
        assert_eq!(s.result().end, SurveyEnd::HungUp);
        assert!(s
            .handle(t0, SurveyEvent::Digit(DtmfKey::Digit(1)))
            .is_empty());
    }

    #[test]
    fn config_errors_name_file_key_and_fix() {
        let bad = TOML.replace("keys = \"12\"", "keys = \"1#\"");
        let e = SurveyConfig::from_toml(&bad, "sip-config/ivr.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sip-config/ivr.toml: survey.questions[1].keys"),
            "{e}"
        );
        assert!(e.contains("fix:"), "{e}");
        let bad = TOML.replace("id = \"easy\"", "id = \"helped\"");
        let e = SurveyConfig::from_toml(&bad, "ivr.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("used twice"), "{e}");
        let bad = TOML.replace("timeout_s = 5", "timeout_s = 0");
        assert!(SurveyConfig::from_toml(&bad, "ivr.toml").is_err());
        let bad = TOML.replace("timeout_s = 5", "timeout = 5");
        let e = SurveyConfig::from_toml(&bad, "ivr.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("timeout"), "{e}");
        let none = SurveyConfig::from_toml("start = \"x\"", "ivr.toml").unwrap();
        assert!(!none.enabled);
        assert_eq!(
            config().prompt_ids().into_iter().collect::<Vec<_>>(),
            [
                "invalid_choice",
                "survey_easy",
                "survey_helped",
                "survey_intro",
                "survey_thanks"
            ]
        );
    }
}
