//! The 1177 phone entrance: SIP/RTP IVR, triage and the shared callback queue.
//! See `../shared/DESIGN.md` for the design; each module is one domain concept.

pub mod api;
pub mod app;
pub mod case;
pub mod config;
pub mod dialer;
pub mod identity;
pub mod ivr;
pub mod media;
pub mod queue;
pub mod sdp;
pub mod sip;
pub mod store;
pub mod supervisor;
pub mod triage;
pub mod webrtc;
