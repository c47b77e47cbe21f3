//! Domain types of a case that every channel shares (IVR, digital intake,
//! store, API), so a phone case and a digital case mean the same thing.

use serde::{Deserialize, Serialize};
use std::fmt;

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
