//! The call runtime: the IO shell around the `sip`, `sdp`, `media` and `ivr`
//! cores. The SIP driver owns the sockets and routes each dialog to its leg;
//! an inbound leg runs the IVR (`inbound`), an outbound leg rings a resident
//! or a nurse's phone (`outbound`). Holding callers, voice notes, the
//! call-detail rows and the call counters live here too. Callbacks (which
//! legs to start, in which order) are the dialer's job, on top of this.

pub mod abandonment;
pub mod call_record;
pub mod dial_failure;
pub mod driver;
pub mod held;
pub mod hold_announcement;
pub mod inbound;
pub mod messages;
pub mod metrics;
pub mod nurse_phones;
pub mod outbound;
pub mod secure_media;
pub mod signal;
pub mod source_gate;
pub mod store_jobs;
pub mod trunk_auth;
pub mod voice_note;

pub use dial_failure::DialFailure;
pub use driver::SipDriver;
pub use held::HeldCalls;
pub use inbound::InboundCalls;
pub use metrics::CallMetrics;
pub use nurse_phones::NursePhones;

use crate::config::TrunkConfig;
use crate::media::engine::MediaEngine;
use crate::media::prompts::PromptLibrary;
use signal::SipCommand;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

/// How a leg we start reaches the SIP driver, and where we say we are.
#[derive(Clone, Debug)]
pub struct SipHandle {
    pub commands: mpsc::UnboundedSender<SipCommand>,
    /// The address in our Via, Contact and SDP.
    pub advertise_ip: IpAddr,
    /// Our SIP port.
    pub port: u16,
    /// Our SIP-over-TLS port, when `tls_bind` is set.
    pub tls_port: Option<u16>,
    pub user_agent: String,
    /// `sip.toml` `srtp`: legs to TLS phones offer SDES keys unless `off`.
    pub srtp: crate::config::SrtpPolicy,
}

impl SipHandle {
    /// `ip:port` for Via and Contact (UDP and TCP).
    pub fn via_host(&self) -> String {
        format!("{}:{}", self.advertise_ip, self.port)
    }

    /// `ip:port` for the Via and Contact of a message over `transport`:
    /// the TLS port for TLS, so in-dialog requests come back encrypted.
    pub fn host_for(&self, transport: crate::sip::Transport) -> String {
        match (transport, self.tls_port) {
            (crate::sip::Transport::Tls, Some(port)) => format!("{}:{port}", self.advertise_ip),
            _ => self.via_host(),
        }
    }
}

/// What the dialer needs to start legs: the narrow handle to this runtime.
pub struct Telephony {
    pub sip: SipHandle,
    pub media: MediaEngine,
    pub prompts: Arc<PromptLibrary>,
    /// Callers holding in the queue on this node.
    pub held: Arc<HeldCalls>,
    /// The trunk for callbacks (none: no callbacks).
    pub trunk: Option<TrunkConfig>,
    /// Where the nurses' SIP phones are.
    pub nurse_phones: Arc<NursePhones>,
    /// Callback calls: a stopping service waits for them.
    pub tasks: tokio_util::task::TaskTracker,
}

/// Longest closing message a stopping service plays before its BYE.
pub(crate) const CLOSING_MAX: std::time::Duration = std::time::Duration::from_secs(12);

/// Sleeps until `deadline`, or forever when a core has no timer armed (for `select!`).
pub(crate) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
