//! RFC 3261 section 17 transactions (with RFC 6026's Accepted state) as plain
//! state machines: each takes events and time in and writes what to send,
//! what to tell the TU and which timers to arm into an [`Outbox`].

pub mod client_invite;
pub mod client_non_invite;
pub mod server_invite;
pub mod server_non_invite;

use bytes::Bytes;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The RFC 3261 timer values (section 17.1.1.1, table 4).
#[derive(Debug, Clone, Copy)]
pub struct TimerConfig {
    /// RTT estimate, 500 ms.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network, 5 s.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64*T1: the give-up time of Timers B, F, H, J, L and M.
    pub fn t64(&self) -> Duration {
        self.t1 * 64
    }
}

/// The RFC 3261 / RFC 6026 timers, named as in the RFCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// INVITE request retransmit (client, UDP); doubles without cap.
    A,
    /// INVITE transaction timeout (client).
    B,
    /// Wait for response retransmits after a non-2xx final (client INVITE).
    D,
    /// Non-INVITE request retransmit (client, UDP); capped at T2.
    E,
    /// Non-INVITE transaction timeout (client).
    F,
    /// INVITE final response retransmit (server, UDP); capped at T2.
    G,
    /// Wait for ACK of a non-2xx final (server INVITE).
    H,
    /// Wait for ACK retransmits (server INVITE).
    I,
    /// Wait for request retransmits (server non-INVITE).
    J,
    /// Wait for response retransmits (client non-INVITE).
    K,
    /// RFC 6026: server INVITE stays Accepted to absorb retransmissions.
    L,
    /// RFC 6026: client INVITE stays Accepted to pass on retransmitted 2xx.
    M,
    /// RFC 3261 section 13.3.1.4: the UAS core retransmits 2xx until the ACK.
    Retransmit2xx,
}

/// How a message travels; decides whether the retransmit timers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    /// SIP over TLS (RFC 3261 section 26.2): a TCP connection with TLS on it.
    Tls,
}

impl Transport {
    /// Reliable transports do not retransmit and collapse the wait timers to zero.
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }

    /// The token used in Via headers.
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// The `transport` URI parameter value (`udp`, `tcp`, `tls`).
    pub fn uri_param(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

/// Where a message came from or goes to. `conn` names the TCP or TLS connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub addr: SocketAddr,
    pub transport: Transport,
    pub conn: Option<u64>,
}

/// What a transaction tells the layer (which turns it into a `SipEvent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxSignal {
    /// A client transaction got a response (provisional or final) for the TU.
    Response,
    /// A client transaction timed out (Timer B or F) without a final response.
    Timeout,
    /// The server INVITE's 2xx was never acknowledged within 64*T1.
    AckTimeout,
    /// A non-2xx final response was never acknowledged (Timer H).
    NoAckForFailure,
    /// An ACK for the 2xx arrived (the layer hands the ACK to the TU).
    Acked,
}

/// Everything one step of a transaction asks for.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Bytes to send to the transaction's peer, in order.
    pub send: Vec<Bytes>,
    /// Timers to (re)arm; a timer not re-armed after it fired is gone.
    pub arm: Vec<(Timer, Instant)>,
    /// Timers to cancel.
    pub cancel: Vec<Timer>,
    /// Signals for the TU.
    pub signals: Vec<TxSignal>,
    /// The transaction has ended and can be forgotten.
    pub terminated: bool,
}

impl Outbox {
    pub(crate) fn arm(&mut self, timer: Timer, at: Instant) {
        self.arm.push((timer, at));
    }
}

/// The response class that decides a transaction's next state.
pub(crate) fn class(status: u16) -> u16 {
    status / 100
}
