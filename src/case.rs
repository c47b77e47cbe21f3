//! The case model that every channel shares (IVR, digital intake, store, API), so
//! a phone case and a digital case mean the same thing: where it came from, how
//! urgent, where it is in its life, how the resident is reached, the answers.
//! Personal data (callback number, personnummer, answers) is kept out of
//! `Debug`, so a stray `{:?}` in a log cannot leak it.

use crate::queue::Priority;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// One answered question, as the nurse reads it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Stable question id from the flow or the digital form (e.g. `rf_breathing`).
    pub question_id: String,
    /// The question as asked, in the caller's language.
    pub question_text: String,
    /// Machine value that triage reads (e.g. `yes`, `infant`).
    pub value: String,
    /// The answer in words (e.g. `Ja`).
    pub value_text: String,
}

impl fmt::Debug for Answer {
    // The answer itself is personal data: only the question id is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer")
            .field("question_id", &self.question_id)
            .finish_non_exhaustive()
    }
}

/// Error for a text (stored, or sent by a client) that is not one of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            #[allow(dead_code)]
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in the database and sent in JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($text => Ok($name::$variant),)+
                    // Capped: the text came from outside.
                    other => Err(UnknownValue {
                        kind: $kind,
                        value: other.chars().take(40).collect(),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use text_enum;

text_enum!(
    /// Where a case came from.
    Channel, "channel" {
        /// The IVR.
        Phone => "phone",
        /// 1177 direkt, posted through the API.
        Digital => "digital",
    }
);

text_enum!(
    /// Where a case is in its life.
    CaseStatus, "status" {
        /// In the queue for a callback.
        Waiting => "waiting",
        /// The caller is still on the line, held for a nurse (level 1).
        Holding => "holding",
        /// A nurse has taken it.
        Claimed => "claimed",
        /// Handled.
        Done => "done",
        /// Withdrawn (merged, or cancelled by staff).
        Cancelled => "cancelled",
        /// No answer after the last callback attempt.
        Unreachable => "unreachable",
        /// Open, but not for the dialler: a nurse must look at it first
        /// (why: [`ReviewReason`]). Only a claim by hand takes it.
        Review => "review",
    }
);

text_enum!(
    /// Why a case waits in the review list instead of the callback queue.
    ReviewReason, "review reason" {
        /// Every callback attempt failed on an urgent case (levels up to
        /// `review_up_to_level` in `queue.toml`): never closed silently.
        NotReached => "not_reached",
        /// A held caller with a withheld number left: nobody can be called back.
        NoNumber => "no_number",
        /// The number's red-flag calls keep ending before a nurse answers
        /// (`red_flags_per_number_per_day` in `queue.toml`): a person or a
        /// script in trouble; a nurse decides, the queue top is not flooded.
        RepeatedRedFlags => "repeated_red_flags",
    }
);

text_enum!(
    /// How the resident is to be reached.
    CaseMode, "mode" {
        /// We call back.
        Callback => "callback",
        /// The resident holds on the line and is connected live.
        Hold => "hold",
    }
);

impl CaseStatus {
    /// Open cases are the ones in the worklist.
    pub fn is_open(self) -> bool {
        matches!(self, CaseStatus::Waiting | CaseStatus::Holding)
    }
}

text_enum!(
    /// How a nurse closed a contact.
    Outcome, "outcome" {
        /// Self-care advice given.
        SelfCare => "self_care",
        /// Booked at a health centre (vårdcentral).
        HealthCentre => "health_centre",
        /// Referred to emergency care.
        EmergencyCare => "emergency_care",
        /// 112 called.
        Called112 => "called_112",
        /// Nobody answered the callback: the case goes back to the queue.
        NoAnswer => "no_answer",
        /// Anything else (the note says what).
        Other => "other",
    }
);

/// A case to register. The caller has already validated the callback number
/// (E.164) and the personnummer; the store keeps them as given.
#[derive(Clone, PartialEq, Eq)]
pub struct NewCase {
    pub channel: Channel,
    pub priority: Priority,
    /// `Hold` registers the case as `holding`, `Callback` as `waiting`.
    pub mode: CaseMode,
    pub registered_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub estimated_callback_at: Option<DateTime<Utc>>,
    pub answers: Vec<Answer>,
    /// E.164, e.g. `+46701234567`.
    pub callback_number: Option<String>,
    pub personnummer: Option<String>,
    /// Language code of the conversation, e.g. `sv` or `en`.
    pub language: String,
    /// SIP Call-ID of the call that registered the case.
    pub call_id: Option<String>,
    /// The digital intake's id; unique, for idempotent posts.
    pub external_ref: Option<String>,
    /// Short free text for the nurse (no personal data expected, still not logged).
    pub summary: String,
    pub red_flag: bool,
}

impl NewCase {
    /// The status a new case starts in.
    pub fn initial_status(&self) -> CaseStatus {
        match self.mode {
            CaseMode::Hold => CaseStatus::Holding,
            CaseMode::Callback => CaseStatus::Waiting,
        }
    }
}

impl fmt::Debug for NewCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewCase")
            .field("channel", &self.channel)
            .field("priority", &self.priority)
            .field("mode", &self.mode)
            .field("registered_at", &self.registered_at)
            .field("deadline", &self.deadline)
            .field("answers", &self.answers.len())
            .field("red_flag", &self.red_flag)
            .finish_non_exhaustive()
    }
}

/// A stored case.
#[derive(Clone, PartialEq, Eq)]
pub struct CaseRecord {
    pub id: Uuid,
    pub channel: Channel,
    pub priority: Priority,
    pub status: CaseStatus,
    pub mode: CaseMode,
    pub registered_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub estimated_callback_at: Option<DateTime<Utc>>,
    pub answers: Vec<Answer>,
    pub callback_number: Option<String>,
    pub personnummer: Option<String>,
    pub language: String,
    pub call_id: Option<String>,
    pub external_ref: Option<String>,
    pub summary: String,
    pub attempts: u32,
    pub red_flag: bool,
    /// After a failed callback attempt: claim-next passes the case over until then.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Set when the case went to the review list (kept after it is closed).
    pub review_reason: Option<ReviewReason>,
}

impl fmt::Debug for CaseRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaseRecord")
            .field("id", &self.id)
            .field("channel", &self.channel)
            .field("priority", &self.priority)
            .field("status", &self.status)
            .field("mode", &self.mode)
            .field("registered_at", &self.registered_at)
            .field("deadline", &self.deadline)
            .field("estimated_callback_at", &self.estimated_callback_at)
            .field("answers", &self.answers.len())
            .field("attempts", &self.attempts)
            .field("red_flag", &self.red_flag)
            .field("next_attempt_at", &self.next_attempt_at)
            .field("review_reason", &self.review_reason)
            .finish_non_exhaustive()
    }
}

/// The summary of a self-care contact (advice given in the IVR, no callback).
pub const SELF_CARE_CONTACT: &str = "self-care advice in the IVR";
/// The summary of a contact the closed-hours advice route ended (it never
/// queues, so the arrival counts leave it out like self-care contacts).
pub const CLOSED_ADVICE_CONTACT: &str = "callback offer closed: advised another route";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_their_stored_text() {
        for s in [
            CaseStatus::Waiting,
            CaseStatus::Holding,
            CaseStatus::Claimed,
            CaseStatus::Done,
            CaseStatus::Cancelled,
            CaseStatus::Unreachable,
            CaseStatus::Review,
        ] {
            assert_eq!(s.as_str().parse::<CaseStatus>().ok(), Some(s));
            assert_eq!(
                serde_json::to_string(&s).ok(),
                Some(format!("\"{}\"", s.as_str()))
            );
        }
        assert_eq!("phone".parse::<Channel>().ok(), Some(Channel::Phone));
        assert_eq!("hold".parse::<CaseMode>().ok(), Some(CaseMode::Hold));
        assert!("bogus".parse::<CaseMode>().is_err());
    }

    #[test]
    fn debug_never_shows_personal_data() {
        let record = CaseRecord {
            id: Uuid::nil(),
            channel: Channel::Phone,
            priority: Priority::LOWEST,
            status: CaseStatus::Waiting,
            mode: CaseMode::Callback,
            registered_at: DateTime::<Utc>::MIN_UTC,
            deadline: DateTime::<Utc>::MIN_UTC,
            estimated_callback_at: None,
            answers: vec![Answer {
                question_id: "q1".into(),
                question_text: "Har du ont i bröstet?".into(),
                value: "1".into(),
                value_text: "Ja, svår smärta".into(),
            }],
            callback_number: Some("+46701234567".into()),
            personnummer: Some("19121212-1212".into()),
            language: "sv".into(),
            call_id: Some("abc@host".into()),
            external_ref: None,
            summary: "Ont i bröstet sedan igår".into(),
            attempts: 0,
            red_flag: false,
            next_attempt_at: None,
            review_reason: None,
        };
        let text = format!("{record:?} {:?}", record.answers);
        for secret in [
            "46701234567",
            "1212-1212",
            "Ja, svår",
            "bröstet",
            "abc@host",
        ] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
    }
}
