//! The 1177 phone entrance: SIP/RTP IVR, triage and the shared callback queue.
//! See `../shared/DESIGN.md` for the design; each module is one domain concept.

pub mod identity;
pub mod ivr;
pub mod media;
pub mod triage;
