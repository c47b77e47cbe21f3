//! Supervisor messages played in the IVR's message slots (e.g. "high load"
//! after the greeting). Changed at run time; the next caller hears the change.

use crate::ivr::Language;
use crate::media::prompts::{ClipId, PromptLibrary};
use std::collections::HashMap;
use std::sync::RwLock;

/// Slot name -> prompt id (from `prompts/<lang>/`).
#[derive(Debug, Default)]
pub struct Messages {
    slots: RwLock<HashMap<String, String>>,
}

impl Messages {
    /// Sets (or with `None` clears) the prompt played in `slot`.
    pub fn set(&self, slot: &str, prompt: Option<String>) {
        if let Ok(mut s) = self.slots.write() {
            match prompt {
                Some(p) => s.insert(slot.to_string(), p),
                None => s.remove(slot),
            };
        }
    }

    /// The clips to play for `slot` now; empty when no message is set.
    pub fn clips(&self, slot: &str, lang: Language, prompts: &PromptLibrary) -> Vec<ClipId> {
        let Ok(s) = self.slots.read() else {
            return Vec::new();
        };
        s.get(slot)
            .and_then(|id| prompts.lookup(lang.code(), id))
            .into_iter()
            .collect()
    }
}
