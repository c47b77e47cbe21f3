//! Turning a node's prompt items into recorded prompts: fixed prompts,
//! clock times ("klockan" + n14 + n30) and digits read back one by one.

use super::Session;
use crate::ivr::flow::{
    digit_prompt, number_prompt, PromptItem, CLOCK_PROMPT, LATER_DAY_PROMPT, TOMORROW_PROMPT,
};
use crate::ivr::{ClockTime, PromptRef};

impl Session {
    pub(super) fn expand(&self, items: &[PromptItem]) -> Vec<PromptRef> {
        let mut out = Vec::with_capacity(items.len() + 4);
        for item in items {
            match item {
                PromptItem::Fixed { id, lang } => {
                    out.push(PromptRef::new(lang.unwrap_or(self.language), id.clone()))
                }
                PromptItem::EstimateTime => self.push_time(&mut out, self.estimate),
                PromptItem::CallbackTime => self.push_time(&mut out, self.callback_at),
                PromptItem::BookedTime => {
                    self.push_time(&mut out, self.booked.as_ref().map(|b| b.at))
                }
                PromptItem::CallerLastFour => {
                    if let Some(n) = &self.caller_id {
                        self.push_digits(&mut out, n.last_four());
                    }
                }
                PromptItem::EnteredNumber => {
                    if let Some(n) = &self.entered {
                        self.push_digits(&mut out, &n.national_digits());
                    }
                }
            }
        }
        out
    }

    /// "klockan" + n14 + n30; 14:00 is "klockan n14", 14:05 "klockan n14 d0 n5";
    /// "tomorrow" (or "later_day") first when it is not today.
    fn push_time(&self, out: &mut Vec<PromptRef>, time: Option<ClockTime>) {
        let Some(t) = time else { return };
        match t.days_ahead {
            0 => {}
            1 => out.push(PromptRef::new(self.language, TOMORROW_PROMPT)),
            _ => out.push(PromptRef::new(self.language, LATER_DAY_PROMPT)),
        }
        out.push(PromptRef::new(self.language, CLOCK_PROMPT));
        out.push(PromptRef::new(self.language, number_prompt(t.hour)));
        if t.minute > 0 {
            if t.minute < 10 {
                out.push(PromptRef::new(self.language, digit_prompt(0)));
            }
            out.push(PromptRef::new(self.language, number_prompt(t.minute)));
        }
    }

    fn push_digits(&self, out: &mut Vec<PromptRef>, digits: &str) {
        for b in digits.bytes().filter(u8::is_ascii_digit) {
            out.push(PromptRef::new(self.language, digit_prompt(b - b'0')));
        }
    }
}
