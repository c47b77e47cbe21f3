//! SIP signalling core: message reading (rsip plus fixes), TCP framing,
//! RFC 3261 transactions and the transaction layer. Pure: no sockets, no clock.

pub mod dialog;
pub mod digest;
pub mod dtmf_info;
pub mod error;
pub mod framing;
pub mod layer;
pub mod message;
pub mod registrations;
pub mod source_guard;
pub mod stateless;
pub mod tcp_guard;
pub mod transaction;

pub use error::SipError;
pub use layer::{Admit, SipEvent, SipLayer, Transmit, TxId};
pub use transaction::{Peer, TimerConfig, Transport};

#[cfg(test)]
mod layer_tests;
