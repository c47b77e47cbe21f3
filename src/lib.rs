//! The 1177 phone entrance: SIP/RTP IVR, triage and the shared callback queue.
//! See `../shared/DESIGN.md` for the design and README's Architecture for the
//! rooms: sans-IO cores below, the IO shell above, `service` wires them.

// Cores: bytes and time in, events out; no sockets, no clock, no files.
pub mod case;
pub mod identity;
pub mod ivr;
pub mod lockout;
pub mod media;
pub mod queue;
pub mod sdp;
pub mod sip;
pub mod triage;

// Shell: storage, files, calls, callbacks, HTTP.
pub mod admin;
pub mod api;
pub mod booking;
pub mod config;
pub mod dialer;
pub mod fhir;
pub mod listing;
pub mod live;
pub mod readiness;
pub mod service;
pub mod sms;
pub mod store;
pub mod supervisor;
pub mod sweeper;
pub mod telephony;
pub mod webrtc;
