//! The IVR: a data-driven flow (`sip-config/ivr.toml`) interpreted per call by a
//! sans-IO [`Session`] that takes events (answered, digit, prompt done, timeout,
//! hangup, store results) and hands out actions (play, stop, estimate, register,
//! hold, hang up). The app wires it to media, the queue and the store.

pub mod config;
pub mod flow;
pub mod prompts;
pub mod session;
pub mod survey;

pub use config::{ConfigText, IvrConfig, IvrConfigError, IvrTexts};
pub use flow::{Flow, FlowError, NodeId};
pub use prompts::{Manifest, ManifestError};
pub use session::{
    Answer, BookedCallback, CallInfo, CallOutcome, CallerIdentity, CaseDraft, CaseMode, IvrAction,
    IvrEvent, RecordingEnd, Session,
};

use std::fmt;

/// The caller's language: Swedish first, English on request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    Sv,
    En,
}

impl Language {
    /// The prompt folder and manifest key: `"sv"` or `"en"`.
    pub fn code(self) -> &'static str {
        match self {
            Language::Sv => "sv",
            Language::En => "en",
        }
    }

    /// Parses `"sv"` / `"en"`.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "sv" => Some(Language::Sv),
            "en" => Some(Language::En),
            _ => None,
        }
    }

    /// Both languages, Swedish first.
    pub const ALL: [Language; 2] = [Language::Sv, Language::En];
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One recorded prompt to play: `prompts/<lang>/<id>.wav`. `Debug` hides
/// which digit a digit prompt is (a read-back number is personal data).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PromptRef {
    pub lang: Language,
    pub id: String,
}

impl PromptRef {
    pub fn new(lang: Language, id: impl Into<String>) -> Self {
        PromptRef {
            lang,
            id: id.into(),
        }
    }
}

impl fmt::Debug for PromptRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let is_digit = self.id.len() == 2
            && self.id.starts_with('d')
            && self.id.as_bytes().get(1).is_some_and(u8::is_ascii_digit);
        let id = if is_digit { "d?" } else { self.id.as_str() };
        write!(f, "{}/{}", self.lang.code(), id)
    }
}

/// A local wall-clock time (Europe/Stockholm), as spoken to callers, with the
/// day it falls on: a next-morning callback must not sound like today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime {
    /// 0 today, 1 tomorrow, 2 or more a later day.
    pub days_ahead: u8,
    pub hour: u8,
    pub minute: u8,
}

impl ClockTime {
    /// Today at `hour:minute`; `None` unless 0-23 : 0-59.
    pub fn new(hour: u8, minute: u8) -> Option<Self> {
        (hour < 24 && minute < 60).then_some(ClockTime {
            days_ahead: 0,
            hour,
            minute,
        })
    }

    /// The same time `days` days from today.
    pub fn days_ahead(self, days: u8) -> Self {
        ClockTime {
            days_ahead: days,
            ..self
        }
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "+{}d {:02}:{:02}",
            self.days_ahead, self.hour, self.minute
        )
    }
}
