//! Media: RTP, G.711, DTMF detection, prompt playback (sans-IO cores) and
//! `engine`, the threaded shell that drives them over UDP sockets. No core
//! module here imports `engine`.

pub mod dtmf;
pub mod engine;
pub mod error;
pub mod g711;
pub mod latch;
pub mod player;
pub mod prompts;
pub mod recorder;
pub mod relay;
pub mod rtp;
pub mod srtp;

pub use error::MediaError;
