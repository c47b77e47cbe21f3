//! The voice note: after a confirmed callback the caller describes the
//! problem after a beep. `#`, the node's maximum length, the node's silence
//! without speech or hanging up ends the recording; the call goes on only
//! once the app reports it stored.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Session, Step, Then};
use crate::ivr::flow::NodeKind;
use crate::ivr::{CaseMode, IvrAction, RecordingEnd};
use crate::media::dtmf::DtmfKey;

impl Session {
    /// Entering a `voice_note` node: only a caller with a stored callback is
    /// recorded (after the node's prompts); everyone else goes straight on.
    pub(super) fn enter_voice_note(&mut self, now: Instant) {
        let flow = Arc::clone(&self.flow);
        let NodeKind::VoiceNote {
            prompts,
            max,
            silence,
            next,
        } = &flow.node(self.node).kind
        else {
            return;
        };
        if self.case_id.is_some() && self.case_mode == Some(CaseMode::Callback) {
            let then = Then::Record {
                max: *max,
                silence: *silence,
            };
            self.play(now, prompts, false, then);
        } else {
            self.enter(now, *next);
        }
    }

    /// The prompts are done: record at most `max`, ended early by `silence`.
    pub(super) fn start_recording(&mut self, now: Instant, max: Duration, silence: Duration) {
        match self.case_id.clone() {
            Some(case_id) => {
                self.actions.push_back(IvrAction::Record { case_id, max });
                self.step = Step::Recording {
                    deadline: now + max,
                    quiet_until: now + silence,
                    silence,
                };
            }
            None => self.finish_hangup(),
        }
    }

    /// Speech heard: the silence limit counts again from `now`.
    pub(super) fn on_caller_speaking(&mut self, now: Instant) {
        if let Step::Recording {
            quiet_until,
            silence,
            ..
        } = &mut self.step
        {
            *quiet_until = now + *silence;
        }
    }

    /// `#` ends the voice note; other keys are just sound in it.
    pub(super) fn on_key_while_recording(&mut self, now: Instant, key: DtmfKey) {
        if key == DtmfKey::Hash {
            self.stop_recording(now, RecordingEnd::Hash);
        }
    }

    /// The maximum length or the silence limit is reached.
    pub(super) fn on_recording_timeout(&mut self, now: Instant) {
        let Step::Recording { deadline, .. } = self.step else {
            return;
        };
        let reason = if deadline <= now {
            RecordingEnd::MaxDuration
        } else {
            RecordingEnd::Silence
        };
        self.stop_recording(now, reason);
    }

    fn stop_recording(&mut self, now: Instant, reason: RecordingEnd) {
        self.actions.push_back(IvrAction::StopRecording { reason });
        self.step = Step::AwaitRecording {
            deadline: now + self.flow.settings().store_timeout,
        };
    }

    /// The voice note is stored (or there was nothing to store): go on.
    pub(super) fn on_recording_done(&mut self, now: Instant) {
        if matches!(self.step, Step::AwaitRecording { .. }) {
            if let NodeKind::VoiceNote { next, .. } = self.flow.node(self.node).kind {
                self.enter(now, next);
            }
        }
    }
}
