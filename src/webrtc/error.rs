//! Why a browser leg could not be set up.

use std::net::IpAddr;
use std::time::Duration;
use thiserror::Error;

/// Why [`BrowserLeg::accept`](super::BrowserLeg::accept) failed. Every message
/// says what to change; the offer problems are the browser page's to fix and
/// map to 400, the others are the server's and map to 503.
#[derive(Debug, Error)]
pub enum WebRtcError {
    /// The offer is not SDP at all.
    #[error(
        "the browser's offer is not a readable SDP offer ({0}): send pc.localDescription.sdp \
         after createOffer() and setLocalDescription()"
    )]
    BadOffer(&'static str),
    /// No audio section that offers G.711 μ-law.
    #[error(
        "the browser's offer has no audio stream with PCMU (G.711 mu-law, payload type 0): \
         add an audio track (getUserMedia({{audio:true}})) and keep PCMU in setCodecPreferences"
    )]
    NoPcmuAudio,
    /// The offer was sent before ICE gathering finished.
    #[error(
        "the browser's offer has no ICE candidates: wait until pc.iceGatheringState is \
         \"complete\" before sending it (this service does not take trickled candidates)"
    )]
    NoCandidates,
    /// The loopback RTP socket could not be opened.
    #[error(
        "could not open the loopback RTP socket on 127.0.0.1: {0}; check that the loopback \
         interface is up and that ephemeral UDP ports are free"
    )]
    RtpSocket(#[source] std::io::Error),
    /// webrtc-rs refused to build the connection (usually: cannot bind `bind_ip`).
    #[error(
        "could not open a WebRTC connection on {bind_ip}: {source}; check that the WebRTC \
         bind address is an address of this host that browsers can reach"
    )]
    Connection {
        bind_ip: IpAddr,
        #[source]
        source: ::webrtc::error::Error,
    },
    /// The offer/answer exchange failed inside webrtc-rs.
    #[error(
        "could not answer the browser's offer: {0}; the page should offer one audio stream \
         with PCMU (see src/api/web/nurse.js)"
    )]
    Negotiation(#[source] ::webrtc::error::Error),
    /// Candidate gathering did not finish in time.
    #[error(
        "ICE candidate gathering on {bind_ip} did not complete within {waited:?}: check that \
         the WebRTC bind address is an up interface of this host"
    )]
    GatheringTimeout { bind_ip: IpAddr, waited: Duration },
}
