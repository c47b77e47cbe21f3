//! A sans-IO playlist player: hands out one 20 ms G.711 frame per call,
//! prompt audio while a playlist runs and silence otherwise, and records
//! `PlaybackDone` when a playlist has been fully handed out. It borrows
//! frames from the shared `PromptLibrary`: no audio copy, no allocation per
//! frame.

use super::g711::Codec;
use super::prompts::{silence_frame, ClipId, FrameBuf, PromptLibrary};

/// A finished playlist, identified by the token given to `play`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaybackDone {
    pub token: u64,
}

/// Plays a list of clips back to back.
#[derive(Debug, Default)]
pub struct Player {
    playlist: Vec<ClipId>,
    clip: usize,
    frame: usize,
    token: u64,
    active: bool,
    done: Option<PlaybackDone>,
}

impl Player {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a playlist, replacing any running one. A replaced or stopped
    /// playlist never reports `PlaybackDone`; an empty one reports it on the
    /// next frame.
    pub fn play(&mut self, clips: Vec<ClipId>, token: u64) {
        self.playlist = clips;
        self.clip = 0;
        self.frame = 0;
        self.token = token;
        self.active = true;
    }

    /// Stops playback silently (no `PlaybackDone`).
    pub fn stop(&mut self) {
        self.active = false;
        self.playlist.clear();
    }

    /// True while a playlist has frames left to hand out.
    pub fn is_playing(&self) -> bool {
        self.active
    }

    /// The next frame to send: prompt audio, or silence when idle. Call once
    /// per 20 ms slot; then check `poll_done`.
    pub fn next_frame<'a>(&mut self, lib: &'a PromptLibrary, codec: Codec) -> &'a FrameBuf {
        if !self.active {
            return silence_frame(codec);
        }
        // Skip finished (or empty/unknown) clips until a frame is found.
        while let Some(&clip) = self.playlist.get(self.clip) {
            let frames = lib.frames(clip, codec);
            if let Some(f) = frames.get(self.frame) {
                self.frame += 1;
                if self.frame >= frames.len() && self.clip + 1 >= self.playlist.len() {
                    self.finish();
                }
                return f;
            }
            self.clip += 1;
            self.frame = 0;
        }
        self.finish();
        silence_frame(codec)
    }

    fn finish(&mut self) {
        self.active = false;
        self.done = Some(PlaybackDone { token: self.token });
    }

    /// Takes the recorded `PlaybackDone`, if a playlist just finished.
    pub fn poll_done(&mut self) -> Option<PlaybackDone> {
        self.done.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lib() -> PromptLibrary {
        let a = vec![1000i16; 320]; // 2 frames
        let b = [-1000i16; 100]; // 1 padded frame
        PromptLibrary::from_samples([
            ("sv", "a", &a[..]),
            ("sv", "b", &b[..]),
            ("sv", "e", &[][..]),
        ])
    }

    #[test]
    fn idle_player_sends_silence() {
        let lib = lib();
        let mut p = Player::new();
        assert_eq!(p.next_frame(&lib, Codec::Pcmu), &[0xFF; 160]);
        assert_eq!(p.next_frame(&lib, Codec::Pcma), &[0xD5; 160]);
        assert_eq!(p.poll_done(), None);
    }

    #[test]
    fn playlist_plays_in_order_then_reports_done_once() {
        let lib = lib();
        let a = lib.lookup("sv", "a").unwrap();
        let b = lib.lookup("sv", "b").unwrap();
        let mut p = Player::new();
        p.play(vec![a, b], 7);
        let hi = Codec::Pcmu.encode(1000);
        let lo = Codec::Pcmu.encode(-1000);
        assert_eq!(p.next_frame(&lib, Codec::Pcmu)[0], hi);
        assert_eq!(p.next_frame(&lib, Codec::Pcmu)[0], hi);
        assert_eq!(p.poll_done(), None);
        assert_eq!(p.next_frame(&lib, Codec::Pcmu)[0], lo);
        assert_eq!(p.poll_done(), Some(PlaybackDone { token: 7 }));
        assert!(!p.is_playing());
        assert_eq!(p.next_frame(&lib, Codec::Pcmu), &[0xFF; 160]);
        assert_eq!(p.poll_done(), None);
    }

    #[test]
    fn empty_clips_are_skipped_and_empty_playlist_reports_done() {
        let lib = lib();
        let e = lib.lookup("sv", "e").unwrap();
        let b = lib.lookup("sv", "b").unwrap();
        let mut p = Player::new();
        p.play(vec![e, b, e], 1);
        assert_eq!(
            p.next_frame(&lib, Codec::Pcma)[0],
            Codec::Pcma.encode(-1000)
        );
        assert_eq!(p.next_frame(&lib, Codec::Pcma), &[0xD5; 160]);
        assert_eq!(p.poll_done(), Some(PlaybackDone { token: 1 }));
        p.play(vec![], 2);
        assert_eq!(p.next_frame(&lib, Codec::Pcma), &[0xD5; 160]);
        assert_eq!(p.poll_done(), Some(PlaybackDone { token: 2 }));
    }

    #[test]
    fn replaced_or_stopped_playlist_reports_nothing() {
        let lib = lib();
        let a = lib.lookup("sv", "a").unwrap();
        let mut p = Player::new();
        p.play(vec![a], 1);
        p.next_frame(&lib, Codec::Pcmu);
        p.play(vec![a], 2);
        for _ in 0..2 {
            p.next_frame(&lib, Codec::Pcmu);
        }
        assert_eq!(p.poll_done(), Some(PlaybackDone { token: 2 }));
        p.play(vec![a], 3);
        p.stop();
        for _ in 0..5 {
            p.next_frame(&lib, Codec::Pcmu);
        }
        assert_eq!(p.poll_done(), None);
    }

    #[test]
    fn unknown_clip_ids_finish_immediately() {
        let lib = lib();
        let mut p = Player::new();
        p.play(vec![ClipId(1000)], 9);
        assert_eq!(p.next_frame(&lib, Codec::Pcmu), &[0xFF; 160]);
        assert_eq!(p.poll_done(), Some(PlaybackDone { token: 9 }));
    }
}
