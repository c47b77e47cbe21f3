//! Simulators for the 1177 phone entrance. The caller is an independent SIP
//! user agent client (UDP/TCP) with RTP media, three DTMF methods and a
//! recorder; scripts drive it from TOML; the load mode drives thousands of
//! calls from a few tasks.
//!
//! Layout: sans-IO cores (`uac` for signalling, `media` for RTP) with the
//! tokio shells in `caller` (one call) and `load` (many calls).

pub mod caller;
pub mod digest;
pub mod fhir_register;
pub mod load;
pub mod media;
pub mod mini_uas;
pub mod mix;
pub mod mmsg;
pub mod procstat;
pub mod recording;
pub mod reflect;
pub mod rtp;
pub mod scrape;
pub mod script;
pub mod sdp;
pub mod sip;
pub mod sms_gateway;
pub mod tone;
pub mod uac;

pub use phone_entrance::media::dtmf::DtmfKey;
pub use phone_entrance::media::g711::Codec;
