//! The browser leg against a second webrtc-rs peer playing the browser (with
//! Chrome's payload type numbers), over real loopback sockets.

use super::offer::{telephone_event_pt, CHROME_OFFER};
use super::*;
use crate::media::g711::Codec;
use std::f32::consts::PI;

/// Generous bound so a broken leg fails the test instead of hanging it (not a
/// speed assertion: on a healthy machine everything happens in milliseconds).
const PATIENCE: Duration = Duration::from_secs(20);

fn loopback() -> WebRtcConfig {
    WebRtcConfig {
        bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

/// Chrome's number for telephone-event/8000.
const BROWSER_TE_8K: u8 = 126;

/// An 8 kHz PCMU tone, 20 ms per packet, phase continuous across packets.
struct Tone {
    freq: f32,
    n: u32,
}

impl Tone {
    fn new(freq: f32) -> Self {
        Tone { freq, n: 0 }
    }

    fn next_frame(&mut self) -> Vec<u8> {
        let samples: Vec<i16> = (0..160)
            .map(|i| {
                let t = (self.n + i) as f32 / 8000.0;
                (8000.0 * (2.0 * PI * self.freq * t).sin()) as i16
            })
            .collect();
        self.n += 160;
        let mut out = vec![0u8; 160];
        Codec::Pcmu.encode_into(&samples, &mut out);
        out
    }
}

/// Goertzel power of `freq` in 8 kHz samples.
fn power(samples: &[i16], freq: f32) -> f32 {
    let c = 2.0 * (2.0 * PI * freq / 8000.0).cos();
    let (mut s1, mut s2) = (0f32, 0f32);
    for &x in samples {
        let s0 = x as f32 + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - c * s1 * s2
}

fn decode(payloads: &[Vec<u8>]) -> Vec<i16> {
    let mut pcm = Vec::new();
    for p in payloads {
        let mut frame = vec![0i16; p.len()];
        Codec::Pcmu.decode_into(p, &mut frame);
        pcm.extend(frame);
    }
    pcm
}

/// The tone at `freq` is at least 20 dB above each of the other frequencies.
fn assert_tone(pcm: &[i16], freq: f32, others: &[f32]) {
    assert!(pcm.len() >= 800, "only {} samples", pcm.len());
    let p = power(pcm, freq);
    for &o in others {
        let q = power(pcm, o);
        assert!(p > 100.0 * q, "{freq} Hz power {p} vs {o} Hz power {q}");
    }
}

struct BrowserEvents {
    gathered: watch::Sender<bool>,
    packets: mpsc::UnboundedSender<rtc::rtp::packet::Packet>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for BrowserEvents {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let packets = self.packets.clone();
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(p) => {
                        let _ = packets.send(p);
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
        });
    }
}

/// A webrtc-rs peer that offers like Chrome: opus first, then PCMU, and
/// telephone-event/8000 as 126. (Chrome also offers telephone-event/48000 as
/// 110, which webrtc-rs cannot offer beside the 8 kHz one; the Chrome offer
/// test covers it.)
struct Browser {
    pc: Arc<dyn PeerConnection>,
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    gathered: watch::Receiver<bool>,
    packets: mpsc::UnboundedReceiver<rtc::rtp::packet::Packet>,
}

impl Browser {
    async fn new() -> Browser {
        let mut media = MediaEngine::default();
        let codecs: Vec<RTCRtpCodecParameters> = [
            ("audio/opus", 48000, 2, "minptime=10;useinbandfec=1", 111),
            ("audio/PCMU", 8000, 0, "", 0),
            ("audio/telephone-event", 8000, 0, "", BROWSER_TE_8K),
        ]
        .into_iter()
        .map(|(mime, rate, channels, fmtp, pt)| RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: mime.to_owned(),
                clock_rate: rate,
                channels,
                sdp_fmtp_line: fmtp.to_owned(),
                rtcp_feedback: vec![],
            },
            payload_type: pt,
        })
        .collect();
        for codec in &codecs {
            media
                .register_codec(codec.clone(), RtpCodecKind::Audio)
                .unwrap();
        }
        let (gathered_tx, gathered) = watch::channel(false);
        let (packets_tx, packets) = mpsc::unbounded_channel();
        let pc: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_media_engine(media)
                .with_interceptor_registry(configure_rtcp_reports(Registry::new()))
                .with_handler(Arc::new(BrowserEvents {
                    gathered: gathered_tx,
                    packets: packets_tx,
                }))
                .with_udp_addrs(vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 0))])
                .build()
                .await
                .unwrap(),
        );
        let ssrc = 0xB80B_5E12;
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "nurse-mic".to_owned(),
            "mic".to_owned(),
            "mic".to_owned(),
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
        pc.add_track(track.clone() as Arc<dyn TrackLocal>)
            .await
            .unwrap();
        // What Chrome offers by default (webrtc-rs would offer the track's codec only).
        for transceiver in pc.get_transceivers().await {
            transceiver
                .set_codec_preferences(codecs.clone())
                .await
                .unwrap();
        }
        Browser {
            pc,
            track,
            ssrc,
            gathered,
            packets,
        }
    }

    /// The complete offer, as the nurse page sends it (after gathering).
    async fn offer(&mut self) -> String {
        let offer = self.pc.create_offer(None).await.unwrap();
        self.pc.set_local_description(offer).await.unwrap();
        tokio::time::timeout(PATIENCE, self.gathered.wait_for(|g| *g))
            .await
            .expect("browser gathered its candidates")
            .unwrap();
        self.pc.local_description().await.unwrap().sdp
    }

    async fn apply_answer(&self, answer: String) {
        self.pc
            .set_remote_description(RTCSessionDescription::answer(answer).unwrap())
            .await
            .unwrap();
    }

    async fn send(&self, payload_type: u8, sequence: u16, timestamp: u32, payload: Vec<u8>) {
        let packet = rtc::rtp::packet::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                payload_type,
                sequence_number: sequence,
                timestamp,
                ssrc: self.ssrc,
                ..Default::default()
            },
            payload: payload.into(),
        };
        // Fails until DTLS is up; the loop sending it just tries again.
        let _ = self.track.write_rtp(packet).await;
    }
}

/// The service's media engine side: plain RTP on loopback.
async fn service_socket() -> Arc<UdpSocket> {
    Arc::new(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap())
}

fn plain_packet(payload_type: u8, sequence: u16, timestamp: u32, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 12 + payload.len()];
    let header = plain::RtpHeader::new(payload_type, sequence, timestamp, 0x5E41_CE00, false);
    let n = plain::write_packet(&header, payload, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// A telephone-event payload: key 5, end bit, volume 10, duration 800.
const EVENT_5_END: [u8; 4] = [5, 0x8A, 0x03, 0x20];

#[tokio::test]
async fn browser_and_service_hear_each_others_pcmu_tone_and_events() {
    let mut browser = Browser::new().await;
    let offer = browser.offer().await;
    let (leg, answer) = BrowserLeg::accept(&loopback(), &offer).await.unwrap();
    assert!(answer.contains("a=candidate:"), "answer has candidates");
    assert_eq!(
        telephone_event_pt(&answer),
        Some(BROWSER_TE_8K),
        "offer:\n{offer}\nanswer:\n{answer}"
    );
    browser.apply_answer(answer).await;

    // Service → browser: a 1000 Hz tone and an event every tenth packet.
    let service = service_socket().await;
    let to_leg = leg.rtp_addr();
    assert!(to_leg.ip().is_loopback());
    let sender = {
        let service = service.clone();
        tokio::spawn(async move {
            let mut tone = Tone::new(1000.0);
            for i in 0u16.. {
                let ts = 4000 + u32::from(i) * 160;
                let datagram = if i % 10 == 9 {
                    plain_packet(TELEPHONE_EVENT_PT, 100 + i, ts, &EVENT_5_END)
                } else {
                    plain_packet(PCMU_PT, 100 + i, ts, &tone.next_frame())
                };
                let _ = service.send_to(&datagram, to_leg).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut audio = Vec::new();
    let mut events = Vec::new();
    let mut ssrcs = std::collections::BTreeSet::new();
    tokio::time::timeout(PATIENCE, async {
        while audio.len() < 25 || events.is_empty() {
            let p = browser.packets.recv().await.expect("browser track open");
            ssrcs.insert(p.header.ssrc);
            match p.header.payload_type {
                PCMU_PT => audio.push(p.payload.to_vec()),
                BROWSER_TE_8K => events.push(p.payload.to_vec()),
                other => panic!("browser got payload type {other}"),
            }
        }
    })
    .await
    .expect("the browser heard the service's tone and events");
    sender.abort();
    assert_eq!(ssrcs.len(), 1, "one stream towards the browser");
    assert_tone(&decode(&audio), 1000.0, &[600.0, 1400.0]);
    assert_eq!(events[0], EVENT_5_END.to_vec());

    // Browser → service: a 600 Hz tone and an event as 126.
    let service_rx = service_socket().await;
    leg.set_rtp_target(service_rx.local_addr().unwrap());
    let browser = Arc::new(browser);
    let sender = {
        let browser = browser.clone();
        tokio::spawn(async move {
            let mut tone = Tone::new(600.0);
            for i in 0u16.. {
                let ts = 9000 + u32::from(i) * 160;
                if i % 10 == 9 {
                    browser
                        .send(BROWSER_TE_8K, 7 + i, ts, EVENT_5_END.to_vec())
                        .await;
                } else {
                    browser.send(PCMU_PT, 7 + i, ts, tone.next_frame()).await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut audio = Vec::new();
    let mut events = Vec::new();
    let mut buf = [0u8; 1500];
    tokio::time::timeout(PATIENCE, async {
        while audio.len() < 25 || events.is_empty() {
            let (n, from) = service_rx.recv_from(&mut buf).await.unwrap();
            assert_eq!(from, leg.rtp_addr(), "symmetric RTP: sent from rtp_addr()");
            let p = plain::parse(&buf[..n]).unwrap();
            assert_eq!(p.header.ssrc, browser.ssrc, "browser's SSRC kept");
            match p.header.payload_type {
                PCMU_PT => audio.push(p.payload.to_vec()),
                TELEPHONE_EVENT_PT => events.push(p.payload.to_vec()),
                other => panic!("service got payload type {other}"),
            }
        }
    })
    .await
    .expect("the service heard the browser's tone and events");
    sender.abort();
    assert_tone(&decode(&audio), 600.0, &[1000.0, 1400.0]);
    assert_eq!(events[0], EVENT_5_END.to_vec());

    // The browser hangs up.
    browser.pc.close().await.unwrap();
    tokio::time::timeout(PATIENCE, leg.ended())
        .await
        .expect("ended() resolves after the browser closed");
    leg.close().await;
}

#[tokio::test]
async fn chrome_offer_is_answered_with_pcmu_and_telephone_event_8000_only() {
    let (leg, answer) = BrowserLeg::accept(&loopback(), CHROME_OFFER).await.unwrap();
    let m = answer
        .lines()
        .find(|l| l.starts_with("m=audio"))
        .expect("an audio section");
    let formats: Vec<&str> = m.split_whitespace().skip(3).collect();
    assert!(formats.contains(&"0"), "{m}");
    assert!(formats.contains(&"126"), "{m}");
    for refused in ["111", "63", "9", "8", "13"] {
        assert!(!formats.contains(&refused), "{m}");
    }
    assert_eq!(telephone_event_pt(&answer), Some(126));
    assert!(
        answer
            .lines()
            .any(|l| l.starts_with("a=candidate:") && l.contains(" 127.0.0.1 ")),
        "host candidate on bind_ip"
    );
    leg.close().await;
    tokio::time::timeout(PATIENCE, leg.ended())
        .await
        .expect("close() ends the leg");
}

#[tokio::test]
async fn trickle_offer_without_candidates_is_refused_with_advice() {
    let offer: String = CHROME_OFFER
        .lines()
        .filter(|l| !l.starts_with("a=candidate:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let err = BrowserLeg::accept(&loopback(), &offer).await.unwrap_err();
    assert!(matches!(err, WebRtcError::NoCandidates));
    assert!(err.to_string().contains("iceGatheringState"));
}
