//! No RTP reflection (issue 10, item 2): a call's media goes to the offered
//! address at once only when the trunk it came from vouches for it; other
//! offers get media only after RTP came from the offered IP, and then to
//! that packet's source. Other sources never take the stream or press keys.
//! Real sockets: 127.0.0.1 is the lab trunk, 127.0.0.2 the offered address
//! (a would-be victim), 127.0.0.3 a third party.

mod common;

use common::audio::find_prompt;
use common::{set_config, TestService};
use phone_entrance::media::dtmf::rfc4733::key_press_packets;
use phone_entrance::media::dtmf::DtmfKey;
use phone_entrance::media::g711::Codec;
use phone_entrance::media::rtp::{self, RtpHeader};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

/// A raw SIP peer on the lab trunk's address, with one dialog at a time.
struct Caller {
    sip: UdpSocket,
    server: SocketAddr,
    call_id: String,
    to_tag: String,
    cseq: u32,
}

/// The service's media address of the call.
struct Answered {
    caller: Caller,
    media: SocketAddr,
}

fn sdp(media: SocketAddr) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
m=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n",
        ip = media.ip(),
        port = media.port()
    )
}

impl Caller {
    fn request(&self, method: &str, cseq: u32, body: &str) -> String {
        let me = self.sip.local_addr().unwrap();
        let to_tag = if self.to_tag.is_empty() {
            String::new()
        } else {
            format!(";tag={}", self.to_tag)
        };
        let ctype = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        format!(
            "{method} sip:1177@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{cid}{cseq}{method}\r\n\
Max-Forwards: 70\r\nFrom: <sip:+46701234567@127.0.0.1>;tag=refl1\r\nTo: <sip:1177@127.0.0.1>{to_tag}\r\n\
Call-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContact: <sip:raw@{me}>\r\n{ctype}Content-Length: {len}\r\n\r\n{body}",
            cid = self.call_id,
            len = body.len()
        )
    }

    async fn send(&self, text: &str) {
        self.sip
            .send_to(text.as_bytes(), self.server)
            .await
            .unwrap();
    }

    /// The final response to the last request.
    async fn final_response(&self) -> String {
        let mut buf = vec![0u8; 65536];
        loop {
            let n = tokio::time::timeout(Duration::from_secs(5), self.sip.recv(&mut buf))
                .await
                .expect("a SIP response")
                .unwrap();
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            if text.starts_with("SIP/2.0 ") && !text.starts_with("SIP/2.0 1") {
                return text;
            }
        }
    }

    /// An INVITE (or re-INVITE) offering `media`; the ACK follows the 200.
    async fn invite(&mut self, media: SocketAddr) -> SocketAddr {
        self.cseq += 1;
        self.send(&self.request("INVITE", self.cseq, &sdp(media)))
            .await;
        let ok = self.final_response().await;
        assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
        if self.to_tag.is_empty() {
            let to = ok
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("to:"))
                .expect("To");
            self.to_tag = to.split("tag=").nth(1).expect("to-tag").trim().to_string();
        }
        self.send(&self.request("ACK", self.cseq, "")).await;
        answer_address(&ok)
    }
}

/// The c= and m=audio port of an SDP answer.
fn answer_address(resp: &str) -> SocketAddr {
    let ip = resp
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .expect("c= line")
        .trim();
    let port = resp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split_whitespace().next())
        .expect("m= line");
    format!("{ip}:{port}").parse().expect("media address")
}

/// Places a call from the lab trunk (127.0.0.1) whose SDP offers `media`.
async fn call(svc: &TestService, call_id: &str, media: SocketAddr) -> Answered {
    let mut caller = Caller {
        sip: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        server: svc.sip_addr(),
        call_id: call_id.to_string(),
        to_tag: String::new(),
        cseq: 0,
    };
    let media = caller.invite(media).await;
    Answered { caller, media }
}

async fn bind(ip: &str) -> UdpSocket {
    UdpSocket::bind((ip, 0))
        .await
        .expect("127.0.0.0/8 is all loopback on Linux")
}

/// RTP received on `sock` within `within`: (packets, decoded PCMU audio).
async fn receive(sock: &UdpSocket, within: Duration) -> (usize, Vec<i16>) {
    let end = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 2048];
    let (mut packets, mut audio) = (0, Vec::new());
    while let Ok(Ok(n)) = tokio::time::timeout_at(end, sock.recv(&mut buf)).await {
        packets += 1;
        if let Ok(p) = rtp::parse(&buf[..n]) {
            if p.header.payload_type == 0 {
                let mut pcm = vec![0i16; p.payload.len()];
                Codec::Pcmu.decode_into(p.payload, &mut pcm);
                audio.extend_from_slice(&pcm);
            }
        }
    }
    (packets, audio)
}

/// Sends one 20 ms PCMU silence packet.
async fn send_silence(from: &UdpSocket, to: SocketAddr, seq: u16) {
    let h = RtpHeader::new(0, seq, u32::from(seq) * 160, 0x5EED, seq == 1);
    let mut buf = [0u8; 200];
    let n = rtp::write_packet(&h, &[0xFF; 160], &mut buf).unwrap();
    from.send_to(&buf[..n], to).await.unwrap();
}

/// Sends one RFC 4733 key press (PT 101), paced as a phone does.
async fn press(from: &UdpSocket, to: SocketAddr, key: DtmfKey, seq: &mut u16) {
    for p in key_press_packets(key, 100, 10) {
        let h = RtpHeader::new(101, *seq, 80_000, 0x5EED, p.marker);
        *seq = seq.wrapping_add(1);
        let mut buf = [0u8; 64];
        let n = rtp::write_packet(&h, &p.payload, &mut buf).unwrap();
        from.send_to(&buf[..n], to).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A counter's value on /metrics (0 when absent).
async fn metric(svc: &TestService, series: &str) -> u64 {
    let text = reqwest::get(svc.http_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

const RFC4733_DIGITS: &str = "pe_digits_total{method=\"rfc4733\"}";

#[tokio::test]
async fn an_unverified_offer_gets_no_media_until_rtp_comes_from_it() {
    let svc = TestService::start().await;
    let victim = bind("127.0.0.2").await;
    let call = call(&svc, "refl-wait", victim.local_addr().unwrap()).await;
    let (packets, _) = receive(&victim, Duration::from_secs(3)).await;
    assert_eq!(packets, 0, "nothing towards an address that never sent RTP");
    assert!(metric(&svc, "pe_rtp_unlatched_suppressed_total").await > 100);
    // The address answers for itself: media follows, greeting from its start.
    send_silence(&victim, call.media, 1).await;
    let (packets, heard) = receive(&victim, Duration::from_secs(3)).await;
    assert!(packets > 100, "a 20 ms stream after the latch: {packets}");
    assert!(
        !find_prompt(&heard, "sv", "welcome", Codec::Pcmu).is_empty(),
        "the greeting waited for the latch"
    );
    svc.stop().await;
}

#[tokio::test]
async fn a_third_address_neither_takes_the_stream_nor_presses_keys() {
    let svc = TestService::start().await;
    let victim = bind("127.0.0.2").await;
    let intruder = bind("127.0.0.3").await;
    let call = call(&svc, "refl-hijack", victim.local_addr().unwrap()).await;
    send_silence(&victim, call.media, 1).await;
    assert!(receive(&victim, Duration::from_millis(500)).await.0 > 0);
    // The caller has been quiet for over a second: the old engine relatched here.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut seq = 1000;
    for _ in 0..20 {
        send_silence(&intruder, call.media, seq).await;
        seq += 1;
    }
    press(&intruder, call.media, DtmfKey::Digit(1), &mut seq).await;
    let (to_intruder, to_victim) = tokio::join!(
        receive(&intruder, Duration::from_secs(1)),
        receive(&victim, Duration::from_secs(1))
    );
    assert_eq!(to_intruder.0, 0, "the stream was not redirected");
    assert!(to_victim.0 > 30, "the caller still gets the stream");
    assert!(metric(&svc, "pe_rtp_foreign_source_dropped_total").await >= 25);
    assert_eq!(
        metric(&svc, RFC4733_DIGITS).await,
        0,
        "foreign keys are ignored"
    );
    // The caller's own key press is taken.
    let mut own = 2;
    press(&victim, call.media, DtmfKey::Digit(1), &mut own).await;
    let end = tokio::time::Instant::now() + Duration::from_secs(3);
    while metric(&svc, RFC4733_DIGITS).await == 0 {
        assert!(tokio::time::Instant::now() < end, "the caller's digit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    svc.stop().await;
}

#[tokio::test]
async fn the_lab_trunks_own_media_address_gets_media_at_once() {
    let svc = TestService::start().await;
    let phone = bind("127.0.0.1").await;
    let _call = call(&svc, "refl-trunk", phone.local_addr().unwrap()).await;
    let (packets, heard) = receive(&phone, Duration::from_secs(2)).await;
    assert!(packets > 50, "media without sending any: {packets}");
    assert!(!find_prompt(&heard, "sv", "welcome", Codec::Pcmu).is_empty());
    assert_eq!(metric(&svc, "pe_rtp_unlatched_suppressed_total").await, 0);
    svc.stop().await;
}

#[tokio::test]
async fn a_reinvite_to_an_unverified_address_waits_for_its_rtp() {
    let svc = TestService::start().await;
    let phone = bind("127.0.0.1").await;
    let elsewhere = bind("127.0.0.2").await;
    let mut call = call(&svc, "refl-reinvite", phone.local_addr().unwrap()).await;
    assert!(receive(&phone, Duration::from_millis(500)).await.0 > 0);
    call.caller.invite(elsewhere.local_addr().unwrap()).await;
    // In flight before the re-INVITE took effect, then silence.
    receive(&phone, Duration::from_millis(300)).await;
    let (to_old, to_new) = tokio::join!(
        receive(&phone, Duration::from_secs(2)),
        receive(&elsewhere, Duration::from_secs(2))
    );
    assert_eq!(to_old.0, 0, "the old address no longer gets media");
    assert_eq!(to_new.0, 0, "the new one not before it sends RTP");
    send_silence(&elsewhere, call.media, 1).await;
    assert!(receive(&elsewhere, Duration::from_secs(1)).await.0 > 20);
    svc.stop().await;
}

#[tokio::test]
async fn a_refused_address_never_gets_media_even_after_it_sends_rtp() {
    let svc = TestService::start_with(None, |dir| {
        set_config(dir, "trunks.toml", "allow_loopback_media", "false")
    })
    .await;
    let victim = bind("127.0.0.2").await;
    let call = call(&svc, "refl-refused", victim.local_addr().unwrap()).await;
    let (before, _) = receive(&victim, Duration::from_secs(2)).await;
    assert_eq!(before, 0);
    for seq in 1..=10 {
        send_silence(&victim, call.media, seq).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (after, _) = receive(&victim, Duration::from_secs(2)).await;
    assert_eq!(after, 0, "loopback media is refused without a trunk for it");
    assert!(metric(&svc, "pe_rtp_destination_refused_total").await > 100);
    svc.stop().await;
}
