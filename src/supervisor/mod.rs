//! Supervisor settings and statistics. The settings live in the database
//! (`settings` table, key `supervisor`) and every node follows changes live
//! (the `live` module), so the next caller hears a change without a restart.

pub mod overdue;
pub mod report;
pub mod staffing;
pub mod stats;
pub mod unit_waits;

pub use stats::{LevelStats, SupervisorStats};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Default daily callback capacity before a supervisor sets one.
pub const DEFAULT_CALLBACK_CAPACITY: u32 = 2000;
/// Upper bounds that keep a typo from becoming a problem.
pub const MAX_CALLBACK_CAPACITY: u32 = 100_000;
pub const MAX_CLOSURES: usize = 100;
pub const MAX_REASON_CHARS: usize = 200;
/// Message prompts are the ones whose id starts with this.
pub const MESSAGE_PREFIX: &str = "msg_";
/// The IVR message slot the greeting message is played in (`ivr.toml`).
pub const GREETING_SLOT: &str = "supervisor";

/// What a supervisor can change at run time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupervisorSettings {
    /// Callbacks registered per day (Stockholm time) before the offer closes.
    pub callback_capacity: u32,
    /// False: callers are not offered a callback (the IVR's closed path).
    pub callback_offer_open: bool,
    /// A `msg_*` prompt played after the greeting, or none.
    pub greeting_message: Option<String>,
    /// Periods when the callback offer is closed (e.g. a staff meeting).
    pub closures: Vec<Closure>,
}

/// One ad-hoc closure of the callback offer (the same type `hours.toml` uses).
pub use crate::queue::Closure;

impl Default for SupervisorSettings {
    fn default() -> Self {
        SupervisorSettings {
            callback_capacity: DEFAULT_CALLBACK_CAPACITY,
            callback_offer_open: true,
            greeting_message: None,
            closures: Vec::new(),
        }
    }
}

/// A settings document that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("callback_capacity {0} is too large: at most {MAX_CALLBACK_CAPACITY}")]
    CapacityTooLarge(u32),
    #[error(
        "greeting_message {0:?} is not an available message: see GET /api/v1/supervisor/messages"
    )]
    UnknownMessage(String),
    #[error("at most {MAX_CLOSURES} closures")]
    TooManyClosures,
    #[error("closure {0}: \"from\" must be before \"to\"")]
    ClosureEmpty(usize),
    #[error("closure {0}: reason is longer than {MAX_REASON_CHARS} characters")]
    ReasonTooLong(usize),
}

/// Whether the callback offer is open for a caller now, and if not why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferState {
    Open,
    /// The supervisor closed the offer.
    ClosedBySupervisor,
    /// Inside an ad-hoc closure.
    Closure,
    /// Today's callback capacity is used up.
    CapacityReached,
}

impl SupervisorSettings {
    /// Checks limits; `messages` are the available message prompt ids.
    pub fn validate(&self, messages: &[String]) -> Result<(), SettingsError> {
        if self.callback_capacity > MAX_CALLBACK_CAPACITY {
            return Err(SettingsError::CapacityTooLarge(self.callback_capacity));
        }
        if let Some(m) = &self.greeting_message {
            if !m.starts_with(MESSAGE_PREFIX) || !messages.iter().any(|a| a == m) {
                let shown: String = m.chars().take(60).collect();
                return Err(SettingsError::UnknownMessage(shown));
            }
        }
        if self.closures.len() > MAX_CLOSURES {
            return Err(SettingsError::TooManyClosures);
        }
        for (i, c) in self.closures.iter().enumerate() {
            if c.from >= c.to {
                return Err(SettingsError::ClosureEmpty(i));
            }
            if c.reason.chars().count() > MAX_REASON_CHARS {
                return Err(SettingsError::ReasonTooLong(i));
            }
        }
        Ok(())
    }

    /// The closure covering `now`, if any (`from` inclusive, `to` exclusive).
    pub fn closure_at(&self, now: DateTime<Utc>) -> Option<&Closure> {
        self.closures.iter().find(|c| c.from <= now && now < c.to)
    }

    /// The offer state for a caller at `now` with `callbacks_today` registered.
    pub fn offer_state(&self, now: DateTime<Utc>, callbacks_today: u32) -> OfferState {
        if !self.callback_offer_open {
            OfferState::ClosedBySupervisor
        } else if self.closure_at(now).is_some() {
            OfferState::Closure
        } else if callbacks_today >= self.callback_capacity {
            OfferState::CapacityReached
        } else {
            OfferState::Open
        }
    }

    /// One line for the audit log (no personal data: settings hold none).
    pub fn audit_detail(&self) -> String {
        format!(
            "callback_capacity={} callback_offer_open={} greeting_message={} closures={}",
            self.callback_capacity,
            self.callback_offer_open,
            self.greeting_message.as_deref().unwrap_or("none"),
            self.closures.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 3, h, 0, 0).single().unwrap()
    }

    fn msgs() -> Vec<String> {
        vec!["msg_high_load".to_string()]
    }

    #[test]
    fn offer_closed_by_switch_closure_or_capacity() {
        let mut s = SupervisorSettings {
            callback_capacity: 10,
            ..SupervisorSettings::default()
        };
        assert_eq!(s.offer_state(at(9), 9), OfferState::Open);
        assert_eq!(s.offer_state(at(9), 10), OfferState::CapacityReached);
        s.closures.push(Closure {
            from: at(9),
            to: at(10),
            reason: "APT".into(),
        });
        assert_eq!(s.offer_state(at(9), 0), OfferState::Closure);
        assert_eq!(
            s.offer_state(at(10), 0),
            OfferState::Open,
            "to is exclusive"
        );
        s.callback_offer_open = false;
        assert_eq!(s.offer_state(at(12), 0), OfferState::ClosedBySupervisor);
    }

    #[test]
    fn validation_refuses_unknown_message_empty_closure_and_huge_capacity() {
        let ok = SupervisorSettings {
            greeting_message: Some("msg_high_load".into()),
            ..SupervisorSettings::default()
        };
        assert_eq!(ok.validate(&msgs()), Ok(()));
        let bad = SupervisorSettings {
            greeting_message: Some("welcome".into()),
            ..SupervisorSettings::default()
        };
        assert!(matches!(
            bad.validate(&msgs()),
            Err(SettingsError::UnknownMessage(_))
        ));
        let bad = SupervisorSettings {
            closures: vec![Closure {
                from: at(10),
                to: at(10),
                reason: String::new(),
            }],
            ..SupervisorSettings::default()
        };
        assert_eq!(bad.validate(&msgs()), Err(SettingsError::ClosureEmpty(0)));
        let bad = SupervisorSettings {
            callback_capacity: MAX_CALLBACK_CAPACITY + 1,
            ..SupervisorSettings::default()
        };
        assert!(bad.validate(&msgs()).is_err());
    }

    #[test]
    fn json_shape_matches_the_contract_and_refuses_unknown_fields() {
        let s: SupervisorSettings = serde_json::from_str(
            r#"{"callback_capacity":5,"callback_offer_open":false,"greeting_message":null,
                "closures":[{"from":"2025-03-03T09:00:00Z","to":"2025-03-03T10:00:00Z","reason":"x"}]}"#,
        )
        .unwrap();
        assert_eq!(s.closures.len(), 1);
        assert!(serde_json::from_str::<SupervisorSettings>(
            r#"{"callback_capacity":5,"callback_offer_open":false,"greeting_message":null,"closures":[],"x":1}"#
        )
        .is_err());
    }
}
