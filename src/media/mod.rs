//! Media: RTP, G.711, DTMF detection, prompt playback and the media engine.

pub mod dtmf;
pub mod error;
pub mod g711;
pub mod player;
pub mod prompts;
pub mod recorder;
pub mod relay;
pub mod rtp;

pub use error::MediaError;
