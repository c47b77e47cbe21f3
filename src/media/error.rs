//! The one error enum for the media core and engine.

use std::path::PathBuf;

/// Everything that can go wrong in `media`. Parse errors carry only sizes and
/// numbers, never packet contents (which may hold a caller's voice or keys).
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The datagram is shorter than the RTP header it claims to have.
    #[error("RTP packet truncated: {len} bytes, header needs {needed}")]
    Truncated { len: usize, needed: usize },
    /// RTP version field is not 2.
    #[error("RTP version {0} is not supported (expected 2)")]
    BadVersion(u8),
    /// The padding count is zero or longer than the payload.
    #[error("RTP padding of {padding} bytes does not fit a {len}-byte packet")]
    BadPadding { padding: usize, len: usize },
    /// The caller's buffer cannot hold the packet being written.
    #[error("output buffer of {have} bytes is too small: need {need}")]
    BufferTooSmall { have: usize, need: usize },
    /// A prompt WAV file could not be decoded or has the wrong format.
    #[error("prompt {path}: {reason}")]
    Prompt { path: PathBuf, reason: String },
    /// No free even port was left in the configured RTP range.
    #[error("no free RTP port in {low}-{high}; fix: widen --rtp-ports or lower concurrency")]
    NoFreePort { low: u16, high: u16 },
    /// A socket operation failed.
    #[error("media socket: {0}")]
    Io(#[from] std::io::Error),
    /// Two streams on different workers (or engines) cannot be bridged.
    #[error("streams on different media workers cannot be bridged; fix: open the second with MediaEngine::open_beside")]
    NotBridgeable,
    /// The SRTP transform could not be set up with the negotiated keys.
    #[error("SRTP could not be set up for this stream")]
    Srtp,
    /// The media engine's workers have stopped (shutdown in progress).
    #[error("media engine is shut down")]
    EngineStopped,
}
