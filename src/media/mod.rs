//! Media: RTP, G.711, DTMF detection, prompt playback and the media engine.

pub mod dtmf;
pub mod g711;
