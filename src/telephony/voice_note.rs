//! Recording a caller's voice note: taps the call's media stream (decoded
//! 8 kHz PCM per received packet), feeds the pure [`VoiceRecorder`] as packets
//! arrive (telling the IVR when the caller speaks, so it can end on silence),
//! and on stop writes the WAV to the store, linked to the case. A note without
//! any speech is not stored.
//! The call task owns one `VoiceNote` while the IVR's `Record` runs.

use crate::booking::Booking;
use crate::ivr::RecordingEnd;
use crate::media::engine::MediaStream;
use crate::media::recorder::VoiceRecorder;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{info, warn};
use uuid::Uuid;

/// How long to collect packets still in flight after `stop_recording`.
const DRAIN_IDLE: Duration = Duration::from_millis(60);

/// One recording in progress.
pub struct VoiceNote {
    case_id: Uuid,
    frames: mpsc::UnboundedReceiver<Vec<i16>>,
    recorder: VoiceRecorder,
}

impl std::fmt::Debug for VoiceNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceNote")
            .field("case_id", &self.case_id)
            .field("recorded", &self.recorder.duration())
            .finish()
    }
}

impl VoiceNote {
    /// A recording for `case_id` (at most `max`) and the sender to hand to the
    /// media stream's recorder tap. `None` when `case_id` is not a case id.
    pub fn new(
        case_id: &str,
        max: Duration,
    ) -> Option<(VoiceNote, mpsc::UnboundedSender<Vec<i16>>)> {
        let case_id = Uuid::parse_str(case_id).ok()?;
        let (tx, frames) = mpsc::unbounded_channel();
        Some((
            VoiceNote {
                case_id,
                frames,
                recorder: VoiceRecorder::new(max),
            },
            tx,
        ))
    }

    /// Starts recording `stream` for `case_id`.
    pub fn start(stream: Option<&MediaStream>, case_id: &str, max: Duration) -> Option<VoiceNote> {
        let Some((note, tx)) = VoiceNote::new(case_id, max) else {
            warn!("voice note for an unparsable case id: not recorded");
            return None;
        };
        if let Some(s) = stream {
            s.record(tx);
        }
        Some(note)
    }

    /// The next received packet of the recording in progress; never resolves
    /// while there is none (for `select!`).
    pub async fn next_frame(note: &mut Option<VoiceNote>) -> Vec<i16> {
        match note.as_mut() {
            Some(n) => match n.frames.recv().await {
                Some(frame) => frame,
                None => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }

    /// Adds one packet; returns whether it is speech (for `CallerSpeaking`).
    pub fn push(&mut self, frame: &[i16]) -> bool {
        self.recorder.push(frame)
    }

    /// Stops the stream's tap: what is still in flight is taken by `finish`.
    pub fn stop_tap(&self, stream: Option<&MediaStream>) {
        if let Some(s) = stream {
            s.stop_recording();
        }
    }

    /// Takes the packets still in flight and stores the note if any speech
    /// was heard. Returns whether a note was stored.
    pub async fn finish(mut self, booking: &Booking, reason: RecordingEnd) -> bool {
        while let Ok(Some(frame)) = tokio::time::timeout(DRAIN_IDLE, self.frames.recv()).await {
            self.recorder.push(&frame);
        }
        let seconds = self.recorder.duration().as_secs_f32();
        if !self.recorder.heard_speech() {
            info!(case = %self.case_id, ?reason, seconds, "voice note without speech: not stored");
            return false;
        }
        let wav = match self.recorder.to_wav() {
            Ok(w) => w,
            Err(e) => {
                warn!(error = %e, "voice note not stored");
                return false;
            }
        };
        match booking.save_voice_note(self.case_id, &wav).await {
            Ok(()) => {
                info!(case = %self.case_id, ?reason, seconds, "voice note stored");
                true
            }
            Err(e) => {
                warn!(case = %self.case_id, error = %e, "voice note not stored");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn packets_from_the_tap_are_recorded_and_speech_is_flagged() {
        let (note, tx) =
            VoiceNote::new(&Uuid::new_v4().to_string(), Duration::from_secs(30)).unwrap();
        let mut current = Some(note);
        tx.send(vec![0; 160]).unwrap();
        tx.send(vec![3000; 160]).unwrap();
        let mut speech = Vec::new();
        for _ in 0..2 {
            let frame = VoiceNote::next_frame(&mut current).await;
            speech.push(current.as_mut().is_some_and(|n| n.push(&frame)));
        }
        assert_eq!(speech, [false, true]);
        let note = current.take().unwrap();
        assert_eq!(note.recorder.duration(), Duration::from_millis(40));
    }

    #[test]
    fn a_bad_case_id_records_nothing() {
        assert!(VoiceNote::new("not-a-uuid", Duration::from_secs(1)).is_none());
    }
}
