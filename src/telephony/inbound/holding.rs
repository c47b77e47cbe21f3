//! A caller holding in the queue: hold music, their place and wait said now
//! and then (from the shared queue snapshot), and the nurse who takes the
//! case bridged to the live call by the dialer.

use super::Call;
use crate::telephony::held::{HeldCall, HeldCommand};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};

impl Call {
    /// Lets the dialer connect the nurse who takes the held case to this call.
    pub(super) fn offer_to_nurses(&mut self) {
        let (Some(case_id), Some(stream)) = (&self.held_case, &self.stream) else {
            return;
        };
        let (tx, rx) = mpsc::unbounded_channel();
        self.ctx.held.insert(
            case_id,
            HeldCall {
                link: stream.link(),
                commands: tx,
            },
        );
        self.held_commands = Some(rx);
    }

    pub(super) async fn on_held_command(&mut self, cmd: HeldCommand) {
        match cmd {
            HeldCommand::Connect { nurse, done } => {
                let Some(stream) = &self.stream else {
                    return;
                };
                stream.stop_playback();
                if let Err(e) = stream.bridge(&nurse) {
                    warn!(error = %e, "cannot bridge the held caller to the nurse");
                    return;
                }
                info!("held caller connected to a nurse");
                self.holding = false;
                // The nurse has the case now: leaving no longer makes it a callback.
                if let Some(id) = self.held_case.take() {
                    self.ctx.held.remove(&id);
                }
                self.nurse_connected = Some(done);
                self.cdr.nurse_connected = true;
            }
            HeldCommand::NurseLeft => {
                self.nurse_connected = None;
                self.hangup().await;
            }
        }
    }

    pub(super) fn announce_due(&self) -> bool {
        let every = self.ctx.config.hold_announcement_seconds;
        every > 0
            && self.held_case.is_some()
            && self
                .last_announcement
                .map(|at| at.elapsed().as_secs() >= every)
                .unwrap_or(true)
    }

    /// Says the caller's place in the queue and the estimated wait, from the
    /// shared queue snapshot (not yet there: music now, try again after it).
    pub(super) fn announce_place(&mut self) {
        let Some(case_id) = self.held_case.clone() else {
            return self.play_hold_music();
        };
        let Some((place, minutes)) = self.ctx.booking.hold_position(&case_id, chrono::Utc::now())
        else {
            return self.play_hold_music();
        };
        self.last_announcement = Some(Instant::now());
        let lang = self.session.hold_music().lang;
        let clips: Vec<_> = crate::telephony::hold_announcement::announcement(place, minutes)
            .iter()
            .filter_map(|id| self.ctx.prompts.lookup(lang.code(), id))
            .collect();
        let token = u64::MAX - 1_000_000 - rand::thread_rng().gen_range(0..1_000_000);
        self.announce_token = Some(token);
        match &self.stream {
            Some(s) if !clips.is_empty() => s.play(clips, token),
            _ => self.play_hold_music(),
        }
    }

    pub(super) fn play_hold_music(&mut self) {
        let music = self.session.hold_music();
        let token = u64::MAX - rand::thread_rng().gen_range(0..1_000_000);
        self.hold_token = Some(token);
        if let (Some(s), Some(clip)) = (
            &self.stream,
            self.ctx.prompts.lookup(music.lang.code(), &music.id),
        ) {
            s.play(vec![clip], token);
        }
    }
}
