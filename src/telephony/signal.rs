//! What the SIP driver and the call legs say to each other: the driver
//! routes a dialog's messages to its leg (`CallInput`), legs ask the driver
//! to send (`SipCommand`). Neither side imports the other.

use crate::sip::message::RequestInfo;
use crate::sip::{Peer, Transport, TxId};
use rand::Rng;
use std::net::SocketAddr;
use tokio::sync::mpsc;

/// What call tasks ask of the SIP shell.
#[derive(Debug)]
pub enum SipCommand {
    /// Answer the request of server transaction `tx`.
    Respond { tx: TxId, response: rsip::Response },
    /// Send a request in a new client transaction for `call_id`.
    Request {
        call_id: String,
        peer: Peer,
        request: rsip::Request,
    },
    /// The call is over: forget its Call-ID.
    Ended { call_id: String },
    /// An outbound leg we start: route its responses and in-dialog requests
    /// (by Call-ID) to `inbox`.
    Attach {
        call_id: String,
        inbox: mpsc::UnboundedSender<CallInput>,
    },
    /// Send outside any transaction (the ACK for a 2xx, re-sent per 2xx).
    Stateless {
        peer: Peer,
        message: rsip::SipMessage,
    },
    /// A nurse phone's REGISTER, with the user's digest secret looked up.
    Register {
        tx: TxId,
        request: Box<rsip::Request>,
        info: Box<RequestInfo>,
        peer: Peer,
        ha1: Option<String>,
    },
}

/// What we accept, for Allow headers.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, REGISTER";

/// What the SIP shell tells a call.
#[derive(Debug)]
pub enum CallInput {
    /// A request inside the dialog (BYE, INFO, re-INVITE, UPDATE, OPTIONS).
    Request {
        tx: TxId,
        request: Box<rsip::Request>,
        info: Box<RequestInfo>,
    },
    /// The ACK for our 2xx (may carry the SDP answer of a late offer).
    Ack { request: rsip::Request },
    /// The caller cancelled before we answered.
    Cancelled,
    /// Our 2xx was never acknowledged.
    AckTimeout,
    /// A response to our request (our BYE, an outbound INVITE).
    Response {
        response: Box<rsip::Response>,
        info: Box<crate::sip::message::ResponseInfo>,
    },
    /// Our request got no response.
    Timeout,
    /// The service is stopping.
    Shutdown,
}

/// The INVITE that starts a call.
pub struct NewCall {
    pub tx: TxId,
    pub request: rsip::Request,
    pub info: RequestInfo,
    pub peer: Peer,
    pub local_sip: Option<SocketAddr>,
    /// Our SIP-over-TLS port, when we listen for TLS.
    pub tls_port: Option<u16>,
    /// The node cannot store now: the call goes to the fallback destination.
    pub store_down: bool,
    /// It came from a trunk with `trust_identity` (trunks.toml): its
    /// P-Asserted-Identity (or From) is the caller's verified number.
    pub identity_trusted: bool,
}

/// Our Contact for a dialog over `transport`: `sips:` when the peer used a
/// SIPS URI (RFC 3261 section 8.1.1.8), else `;transport=` naming the
/// transport, so the peer's in-dialog requests come back the same way.
pub fn contact(user: &str, host: &str, transport: Transport, sips: bool) -> String {
    if sips && transport == Transport::Tls {
        format!("<sips:{user}@{host}>")
    } else {
        format!("<sip:{user}@{host};transport={}>", transport.uri_param())
    }
}

/// A random tag or branch suffix (RFC 3261 asks for 32 bits of randomness).
pub fn new_tag() -> String {
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}
