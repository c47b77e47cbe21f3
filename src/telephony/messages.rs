//! Supervisor messages played in the IVR's message slots: the `supervisor`
//! slot after the greeting plays the live settings' `greeting_message`, so the
//! next caller hears a change made on any node without a restart.

use crate::ivr::Language;
use crate::live::Live;
use crate::media::prompts::{ClipId, PromptLibrary};
use crate::supervisor::{GREETING_SLOT, MESSAGE_PREFIX};
use std::sync::Arc;

/// Slot name -> the prompt the supervisor chose, read at play time.
#[derive(Debug)]
pub struct Messages {
    live: Arc<Live>,
}

impl Messages {
    pub fn new(live: Arc<Live>) -> Messages {
        Messages { live }
    }

    /// The prompt id for `slot` now, if any (unknown slots play nothing).
    pub fn prompt_for(&self, slot: &str) -> Option<String> {
        if slot == GREETING_SLOT {
            self.live.settings().greeting_message
        } else {
            None
        }
    }

    /// The clips to play for `slot` now; empty when no message is set.
    pub fn clips(&self, slot: &str, lang: Language, prompts: &PromptLibrary) -> Vec<ClipId> {
        self.prompt_for(slot)
            .and_then(|id| prompts.lookup(lang.code(), &id))
            .into_iter()
            .collect()
    }
}

/// The message prompts a supervisor can choose (ids starting `msg_`), sorted.
pub fn available(prompts: &PromptLibrary) -> Vec<String> {
    let mut ids: Vec<String> = prompts
        .languages()
        .into_iter()
        .flat_map(|lang| prompts.ids(lang))
        .filter(|id| id.starts_with(MESSAGE_PREFIX))
        .map(str::to_string)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}
