//! The nurse's browser as a call leg: a WebRTC peer (webrtc-rs) that answers
//! the nurse page's offer and relays audio between the browser and the
//! service's media engine as plain RTP on loopback.
//!
//! ```text
//!  media engine ──plain RTP──▶ rtp_addr() ──▶ [BrowserLeg] ──SRTP──▶ browser
//!  media engine ◀──plain RTP── rtp_addr() ◀── [BrowserLeg] ◀──SRTP── browser
//!                (sent to set_rtp_target)
//! ```
//!
//! Audio only, PCMU (payload type 0, 8000 Hz) plus telephone-event (101 on
//! the plain side, whatever the browser chose on the WebRTC side). ICE is not
//! trickled: the browser sends its offer after gathering, and the answer comes
//! back with all of our candidates (host candidates on
//! [`WebRtcConfig::bind_ip`]). What the relay rewrites is listed in
//! `relay.rs`; payloads are never touched.

mod error;
mod offer;
mod relay;
#[cfg(test)]
mod tests;

pub use error::WebRtcError;

use ::webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use ::webrtc::media_stream::track_local::TrackLocal;
use ::webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use ::webrtc::peer_connection::{
    configure_rtcp_reports, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
    RTCSessionDescription, Registry, SettingEngineBuilder,
};
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::media::rtp as plain;

/// PCMU's static payload type, the same on both sides.
pub const PCMU_PT: u8 = 0;
/// telephone-event's payload type on the plain RTP side (as in our SIP SDP).
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// How long the answer may wait for our own candidates (host candidates
/// only: this is normally a few milliseconds).
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);
/// ICE consent: a browser that stops answering (tab closed, crashed, network
/// gone) is "disconnected" after this long without traffic ...
const ICE_DISCONNECTED_AFTER: Duration = Duration::from_secs(4);
/// ... and the leg ends ("failed") after this long. webrtc-rs does not notice
/// a browser's pc.close() any sooner; the page's hang-up goes through the API.
const ICE_FAILED_AFTER: Duration = Duration::from_secs(10);
/// How often we send ICE keepalives (consent checks) to the browser.
const ICE_KEEPALIVE: Duration = Duration::from_secs(2);
/// Largest datagram relayed (an Ethernet MTU is plenty for 20 ms of PCMU).
const MAX_DATAGRAM: usize = 1500;

/// Where browser legs listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebRtcConfig {
    /// The address our ICE host candidates are on: one the nurses' browsers
    /// can reach. An unspecified address (`0.0.0.0`) means every non-loopback
    /// interface of the host. Use `127.0.0.1` in tests.
    pub bind_ip: IpAddr,
}

/// One browser's audio, relayed as plain RTP. Dropping the leg closes it.
pub struct BrowserLeg {
    pc: Arc<dyn PeerConnection>,
    rtp_addr: SocketAddr,
    target: Arc<Mutex<Option<SocketAddr>>>,
    ended: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for BrowserLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserLeg")
            .field("rtp_addr", &self.rtp_addr)
            .field("ended", &*self.ended.borrow())
            .finish_non_exhaustive()
    }
}

impl BrowserLeg {
    /// Accepts the browser's complete offer (non-trickle), returns (leg, answer SDP with candidates).
    ///
    /// The offer must have an audio stream with PCMU and its ICE candidates;
    /// the answer has PCMU, the browser's telephone-event/8000 if it offered
    /// one, and every candidate we gathered. Media flows once the browser has
    /// applied the answer and ICE/DTLS complete; until then packets sent to
    /// [`rtp_addr`](Self::rtp_addr) are dropped.
    pub async fn accept(
        config: &WebRtcConfig,
        offer_sdp: &str,
    ) -> Result<(BrowserLeg, String), WebRtcError> {
        offer::check_offer(offer_sdp)?;
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(WebRtcError::RtpSocket)?;
        let rtp_addr = socket.local_addr().map_err(WebRtcError::RtpSocket)?;

        let mut media = MediaEngine::default();
        for (codec, payload_type) in [(pcmu(), PCMU_PT), (telephone_event(), TELEPHONE_EVENT_PT)] {
            media
                .register_codec(
                    RTCRtpCodecParameters {
                        rtp_codec: codec,
                        payload_type,
                    },
                    RtpCodecKind::Audio,
                )
                .map_err(WebRtcError::Negotiation)?;
        }
        // Sender and receiver reports only: no NACK, no TWCC, no header
        // extensions (nothing on the plain side could use them).
        let registry = configure_rtcp_reports(Registry::new());

        let (gathered_tx, mut gathered_rx) = watch::channel(false);
        let (ended_tx, _) = watch::channel(false);
        let (tracks_tx, tracks_rx) = mpsc::unbounded_channel();
        let handler = Arc::new(Events {
            gathered: gathered_tx,
            ended: ended_tx.clone(),
            tracks: tracks_tx,
        });
        let connection_error = |source| WebRtcError::Connection {
            bind_ip: config.bind_ip,
            source,
        };
        let settings = SettingEngineBuilder::new()
            .with_ice_timeouts(
                Some(ICE_DISCONNECTED_AFTER),
                Some(ICE_FAILED_AFTER),
                Some(ICE_KEEPALIVE),
            )
            .build();
        let pc: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_media_engine(media)
                .with_setting_engine(settings)
                .with_interceptor_registry(registry)
                .with_handler(handler)
                .with_udp_addrs(vec![SocketAddr::new(config.bind_ip, 0)])
                .build()
                .await
                .map_err(connection_error)?,
        );

        let ssrc: u32 = rand::random();
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "phone-entrance".to_owned(),
            format!("caller-{ssrc:08x}"),
            "caller".to_owned(),
            RtpCodecKind::Audio,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: pcmu(),
                ..Default::default()
            }],
        )));

        let answer = match negotiate(&pc, &track, offer_sdp, &mut gathered_rx, config).await {
            Ok(answer) => answer,
            Err(e) => {
                let _ = pc.close().await;
                return Err(e);
            }
        };
        let telephone_event_pt = offer::telephone_event_pt(&answer);
        tracing::info!(
            rtp = %rtp_addr,
            bind_ip = %config.bind_ip,
            telephone_event_pt = ?telephone_event_pt,
            "browser leg answered"
        );

        let socket = Arc::new(socket);
        let target = Arc::new(Mutex::new(None));
        let tasks = vec![
            tokio::spawn(to_browser(
                socket.clone(),
                track,
                relay::ToBrowser::new(ssrc, telephone_event_pt),
            )),
            tokio::spawn(from_browser(
                socket,
                tracks_rx,
                target.clone(),
                telephone_event_pt,
                ended_tx.clone(),
            )),
        ];
        Ok((
            BrowserLeg {
                pc,
                rtp_addr,
                target,
                ended: ended_tx,
                tasks,
            },
            answer,
        ))
    }

    /// Loopback UDP address where the leg receives plain RTP (PCMU PT 0, telephone-event PT 101) for the browser.
    ///
    /// Other payload types are dropped. Plain RTP from the browser is sent
    /// from this same address (symmetric RTP).
    pub fn rtp_addr(&self) -> SocketAddr {
        self.rtp_addr
    }

    /// Where the leg sends plain RTP it gets from the browser (PT 0 PCMU, PT 101 events).
    ///
    /// Until this is called the browser's audio is dropped; calling it again
    /// moves the stream. Sequence numbers, timestamps and SSRC are the browser's.
    pub fn set_rtp_target(&self, target: SocketAddr) {
        if let Ok(mut t) = self.target.lock() {
            *t = Some(target);
        }
    }

    /// Resolves when the browser side ends (hang-up, ICE/DTLS failure, close()).
    ///
    /// A browser that closes its peer connection or vanishes is noticed when
    /// ICE consent fails, about 10 s after its last packet (webrtc-rs does not
    /// act on the browser's DTLS close). A hang-up in the page is immediate
    /// only if the service calls [`close`](Self::close) for it.
    pub async fn ended(&self) {
        let mut rx = self.ended.subscribe();
        // An error means the sender is gone, which also means ended.
        let _ = rx.wait_for(|ended| *ended).await;
    }

    /// Closes the WebRTC connection and stops relaying; [`ended`](Self::ended)
    /// resolves. Calling it twice is harmless.
    pub async fn close(&self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Err(e) = self.pc.close().await {
            tracing::debug!(error = %e, "closing the browser leg's peer connection");
        }
        self.ended.send_replace(true);
    }
}

impl Drop for BrowserLeg {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        // webrtc-rs keeps its driver task (and sockets) running until close().
        if !*self.ended.borrow() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let pc = self.pc.clone();
                runtime.spawn(async move {
                    let _ = pc.close().await;
                });
            }
        }
    }
}

/// Applies the offer, answers, and waits for our candidates; returns the answer SDP.
async fn negotiate(
    pc: &Arc<dyn PeerConnection>,
    track: &Arc<TrackLocalStaticRTP>,
    offer_sdp: &str,
    gathered: &mut watch::Receiver<bool>,
    config: &WebRtcConfig,
) -> Result<String, WebRtcError> {
    pc.add_track(track.clone() as Arc<dyn TrackLocal>)
        .await
        .map_err(WebRtcError::Negotiation)?;
    let offer = RTCSessionDescription::offer(offer::only_pcmu_and_telephone_event(offer_sdp))
        .map_err(WebRtcError::Negotiation)?;
    pc.set_remote_description(offer)
        .await
        .map_err(WebRtcError::Negotiation)?;
    let answer = pc
        .create_answer(None)
        .await
        .map_err(WebRtcError::Negotiation)?;
    pc.set_local_description(answer)
        .await
        .map_err(WebRtcError::Negotiation)?;
    let timed_out = || WebRtcError::GatheringTimeout {
        bind_ip: config.bind_ip,
        waited: GATHER_TIMEOUT,
    };
    tokio::time::timeout(GATHER_TIMEOUT, gathered.wait_for(|done| *done))
        .await
        .map_err(|_| timed_out())?
        .map_err(|_| timed_out())?;
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or_else(timed_out)
}

fn pcmu() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "audio/PCMU".to_owned(),
        clock_rate: 8000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

fn telephone_event() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "audio/telephone-event".to_owned(),
        clock_rate: 8000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

/// webrtc-rs callbacks, turned into channel updates.
struct Events {
    gathered: watch::Sender<bool>,
    ended: watch::Sender<bool>,
    tracks: mpsc::UnboundedSender<Arc<dyn TrackRemote>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::info!(state = %state, "browser leg connection state");
        if matches!(
            state,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
        ) {
            self.ended.send_replace(true);
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(track);
    }
}

/// Service → browser: plain RTP from the loopback socket onto our track.
async fn to_browser(
    socket: Arc<UdpSocket>,
    track: Arc<TrackLocalStaticRTP>,
    mut rewrite: relay::ToBrowser,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut write_failures = 0u64;
    loop {
        let n = match socket.recv_from(&mut buf).await {
            Ok((n, _from)) => n,
            Err(e) => {
                // ICMP port unreachable from an earlier send shows up here on some systems.
                tracing::debug!(error = %e, "browser leg: loopback receive");
                continue;
            }
        };
        let Some(datagram) = buf.get(..n) else {
            continue;
        };
        if plain::is_rtcp(datagram) {
            continue;
        }
        let Ok(packet) = plain::parse(datagram) else {
            continue;
        };
        let h = packet.header;
        let Some(out) = rewrite.rewrite(relay::Fields {
            payload_type: h.payload_type,
            sequence: h.sequence,
            timestamp: h.timestamp,
            ssrc: h.ssrc,
            marker: h.marker,
        }) else {
            continue;
        };
        let rtp = rtc::rtp::packet::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                marker: out.marker,
                payload_type: out.payload_type,
                sequence_number: out.sequence,
                timestamp: out.timestamp,
                ssrc: out.ssrc,
                ..Default::default()
            },
            payload: bytes::Bytes::copy_from_slice(packet.payload),
        };
        // Fails until the track is bound (before the answer is applied);
        // those packets are simply not heard.
        if let Err(e) = track.write_rtp(rtp).await {
            write_failures += 1;
            if write_failures.is_power_of_two() {
                tracing::debug!(error = %e, write_failures, "browser leg: packet not sent to the browser");
            }
        }
    }
}

/// Browser → service: the browser's track as plain RTP to the target.
async fn from_browser(
    socket: Arc<UdpSocket>,
    mut tracks: mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>,
    target: Arc<Mutex<Option<SocketAddr>>>,
    telephone_event_pt: Option<u8>,
    ended: watch::Sender<bool>,
) {
    // One audio transceiver: one remote track. A second one (renegotiation)
    // replaces the first.
    let Some(mut track) = tracks.recv().await else {
        return;
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let event = tokio::select! {
            event = track.poll() => event,
            Some(next) = tracks.recv() => {
                track = next;
                continue;
            }
        };
        let packet = match event {
            Some(TrackRemoteEvent::OnRtpPacket(packet)) => packet,
            Some(TrackRemoteEvent::OnEnded) | None => {
                tracing::info!("browser leg: the browser's audio track ended");
                ended.send_replace(true);
                return;
            }
            Some(_) => continue,
        };
        let Some(payload_type) =
            relay::from_browser_pt(packet.header.payload_type, telephone_event_pt)
        else {
            continue;
        };
        let Some(to) = target.lock().ok().and_then(|t| *t) else {
            continue;
        };
        let header = plain::RtpHeader::new(
            payload_type,
            packet.header.sequence_number,
            packet.header.timestamp,
            packet.header.ssrc,
            packet.header.marker,
        );
        // Header extensions and CSRCs stay behind: they were negotiated with
        // the browser, not with the service.
        let Ok(len) = plain::write_packet(&header, &packet.payload, &mut buf) else {
            continue;
        };
        if let Err(e) = socket.send_to(&buf[..len], to).await {
            tracing::debug!(error = %e, target = %to, "browser leg: plain RTP send");
        }
    }
}
