//! The two-leg bridge and the recorder tap, over real loopback sockets.

use std::net::UdpSocket;
use std::time::Duration;

use tokio::sync::mpsc::unbounded_channel;

use super::tests::{engine, next_event, params, peer, recv_rtp, send_rtp, stream_addr};
use super::*;
use crate::media::rtp::RtpHeader;

/// Reads packets until one whose payload starts with `byte` (silence sent
/// before the bridge may still be queued).
fn recv_payload(sock: &UdpSocket, byte: u8) -> Option<(RtpHeader, Vec<u8>)> {
    for _ in 0..200 {
        let (h, p) = recv_rtp(sock)?;
        if p.first() == Some(&byte) {
            return Some((h, p));
        }
    }
    None
}

#[test]
fn bridge_relays_audio_both_ways_under_each_legs_own_ssrc() {
    let engine = engine();
    let (pa, pb) = (peer(), peer());
    let (tx, _rx) = unbounded_channel();
    let a = engine
        .open(params(pa.local_addr().unwrap(), None), tx.clone())
        .unwrap();
    let b = engine
        .open_beside(&a.link(), params(pb.local_addr().unwrap(), None), tx)
        .unwrap();
    let (before_b, _) = recv_rtp(&pb).unwrap();
    let (before_a, _) = recv_rtp(&pa).unwrap();
    a.bridge(&b.link()).unwrap();
    std::thread::sleep(Duration::from_millis(60));

    let mut last: Option<RtpHeader> = None;
    for i in 0..5u16 {
        send_rtp(
            &pa,
            stream_addr(&a),
            0,
            7000 + i,
            160 * u32::from(i),
            false,
            &[0x11; 160],
        );
        let (h, payload) = recv_payload(&pb, 0x11).expect("A's audio comes out of B");
        assert_eq!(h.ssrc, before_b.ssrc, "B keeps its own SSRC");
        assert_eq!(payload, vec![0x11; 160]);
        if let Some(prev) = last {
            assert_eq!(h.sequence, prev.sequence.wrapping_add(1));
            assert_eq!(h.timestamp, prev.timestamp.wrapping_add(160));
            assert!(!h.marker);
        } else {
            assert!(h.marker, "a new talk spurt starts with the marker");
            let ahead = h.sequence.wrapping_sub(before_b.sequence);
            assert!(
                ahead > 0 && ahead < 100,
                "seq continues B's stream: +{ahead}"
            );
        }
        last = Some(h);
    }
    send_rtp(&pb, stream_addr(&b), 0, 1, 0, false, &[0x22; 160]);
    let (h, _) = recv_payload(&pa, 0x22).expect("B's audio comes out of A");
    assert_eq!(h.ssrc, before_a.ssrc);
}

#[test]
fn bridge_converts_alaw_to_ulaw_and_relays_events_with_the_peers_payload_type() {
    let engine = engine();
    let (pa, pb) = (peer(), peer());
    let (tx, _rx) = unbounded_channel();
    let mut alaw = params(pa.local_addr().unwrap(), Some(101));
    alaw.codec = Codec::Pcma;
    alaw.payload_type = 8;
    let a = engine.open(alaw, tx.clone()).unwrap();
    let b = engine
        .open_beside(&a.link(), params(pb.local_addr().unwrap(), Some(96)), tx)
        .unwrap();
    a.bridge(&b.link()).unwrap();
    std::thread::sleep(Duration::from_millis(60));
    let loud = Codec::Pcma.encode(8000);
    send_rtp(&pa, stream_addr(&a), 8, 1, 0, false, &[loud; 160]);
    let want = Codec::Pcmu.encode(Codec::Pcma.decode(loud));
    let (h, payload) = recv_payload(&pb, want).expect("converted audio");
    assert_eq!(h.payload_type, 0);
    assert_eq!(payload, vec![want; 160]);
    // An RFC 4733 event for key 5.
    send_rtp(&pa, stream_addr(&a), 101, 2, 160, true, &[5, 10, 0, 160]);
    let mut seen = None;
    for _ in 0..50 {
        let (h, p) = recv_rtp(&pb).unwrap();
        if h.payload_type == 96 {
            seen = Some(p);
            break;
        }
    }
    assert_eq!(seen, Some(vec![5, 10, 0, 160]));
}

#[test]
fn streams_on_different_workers_are_not_bridgeable() {
    let engine = engine();
    let p = peer();
    let (tx, _rx) = unbounded_channel();
    let a = engine
        .open(params(p.local_addr().unwrap(), None), tx.clone())
        .unwrap();
    let b = engine
        .open(params(p.local_addr().unwrap(), None), tx)
        .unwrap();
    assert!(matches!(
        a.bridge(&b.link()),
        Err(MediaError::NotBridgeable)
    ));
}

#[test]
fn unbridge_resumes_each_legs_own_silence() {
    let engine = engine();
    let (pa, pb) = (peer(), peer());
    let (tx, _rx) = unbounded_channel();
    let a = engine
        .open(params(pa.local_addr().unwrap(), None), tx.clone())
        .unwrap();
    let b = engine
        .open_beside(&a.link(), params(pb.local_addr().unwrap(), None), tx)
        .unwrap();
    a.bridge(&b.link()).unwrap();
    send_rtp(&pa, stream_addr(&a), 0, 1, 0, false, &[0x11; 160]);
    recv_payload(&pb, 0x11).unwrap();
    b.unbridge();
    let (h, _) = recv_payload(&pb, 0xFF).expect("silence again after unbridge");
    assert_eq!(h.payload_type, 0);
}

#[test]
fn recorder_still_gets_audio_after_rfc4733_keys() {
    let engine = engine();
    let p = peer();
    let (tx, _rx) = unbounded_channel();
    let s = engine
        .open(params(p.local_addr().unwrap(), Some(101)), tx)
        .unwrap();
    let (rec_tx, mut rec_rx) = unbounded_channel();
    s.record(rec_tx);
    std::thread::sleep(Duration::from_millis(60));
    // A key as an RFC 4733 event, then speech.
    send_rtp(&p, stream_addr(&s), 101, 1, 0, true, &[5, 0x8a, 0, 160]);
    let loud = Codec::Pcmu.encode(5000);
    send_rtp(&p, stream_addr(&s), 0, 2, 160, false, &[loud; 160]);
    let frame =
        next_event(&mut rec_rx, Duration::from_secs(2)).expect("speech after a key is recorded");
    assert_eq!(frame, vec![Codec::Pcmu.decode(loud); 160]);
}

#[test]
fn recorder_gets_decoded_audio_until_stopped() {
    let engine = engine();
    let p = peer();
    let (tx, _rx) = unbounded_channel();
    let s = engine
        .open(params(p.local_addr().unwrap(), None), tx)
        .unwrap();
    let (rec_tx, mut rec_rx) = unbounded_channel();
    s.record(rec_tx);
    std::thread::sleep(Duration::from_millis(60));
    let loud = Codec::Pcmu.encode(5000);
    send_rtp(&p, stream_addr(&s), 0, 1, 0, false, &[loud; 160]);
    let frame = next_event(&mut rec_rx, Duration::from_secs(2)).expect("a recorded frame");
    assert_eq!(frame, vec![Codec::Pcmu.decode(loud); 160]);
}

/// `cargo test --release --lib bridge_latency -- --ignored --nocapture`
/// Prints the bridge's added latency (RTP into leg A -> out of leg B) with
/// PE_BENCH_PAIRS bridged calls (100) beside PE_BENCH_IVR plain streams (1000)
/// for PE_BENCH_SECS (10). Asserts nothing about speed.
#[test]
#[ignore = "benchmark: prints figures, run by hand"]
fn bridge_latency() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (pairs, ivr, secs) = (
        env("PE_BENCH_PAIRS", 100),
        env("PE_BENCH_IVR", 1000),
        env("PE_BENCH_SECS", 10),
    );
    let mut cfg = MediaConfig::new(
        IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        (40000, 59998),
        Arc::new(PromptLibrary::from_samples([("sv", "x", &[0i16; 160][..])])),
    );
    cfg.workers = 2;
    let engine = MediaEngine::start(cfg).unwrap();
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let out = UdpSocket::bind("127.0.0.1:0").unwrap();
    out.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let (tx, _rx) = unbounded_channel();
    let mut keep = Vec::new();
    for _ in 0..ivr {
        keep.push(
            engine
                .open(params(sink.local_addr().unwrap(), None), tx.clone())
                .unwrap(),
        );
    }
    let mut inputs = Vec::new();
    for _ in 0..pairs {
        let a = engine
            .open(params(sink.local_addr().unwrap(), None), tx.clone())
            .unwrap();
        let b = engine
            .open_beside(
                &a.link(),
                params(out.local_addr().unwrap(), None),
                tx.clone(),
            )
            .unwrap();
        a.bridge(&b.link()).unwrap();
        inputs.push(stream_addr(&a));
        keep.push(a);
        keep.push(b);
    }
    let base = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut next = Instant::now();
            let mut seq = 0u16;
            while !stop.load(Ordering::Relaxed) {
                for to in &inputs {
                    let mut payload = [0xFFu8; 160];
                    let nanos = base.elapsed().as_nanos() as u64;
                    payload[..8].copy_from_slice(&nanos.to_le_bytes());
                    send_rtp(&sock, *to, 0, seq, u32::from(seq) * 160, false, &payload);
                }
                seq = seq.wrapping_add(1);
                next += Duration::from_millis(20);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        })
    };
    let warmup = Instant::now() + Duration::from_secs(1);
    let end = Instant::now() + Duration::from_secs(secs as u64);
    let mut lat_us: Vec<u64> = Vec::new();
    let mut buf = [0u8; 1500];
    while Instant::now() < end {
        let Ok(n) = out.recv(&mut buf) else { continue };
        let now = base.elapsed().as_nanos() as u64;
        let Ok(p) = crate::media::rtp::parse(&buf[..n]) else {
            continue;
        };
        let Some(stamp) = p.payload.get(..8) else {
            continue;
        };
        let sent = u64::from_le_bytes(stamp.try_into().unwrap());
        if sent > 0 && Instant::now() > warmup && p.payload[8] == 0xFF {
            lat_us.push(now.saturating_sub(sent) / 1000);
        }
    }
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    lat_us.sort_unstable();
    let pct = |q: f64| {
        lat_us
            .get(((lat_us.len() as f64 * q) as usize).min(lat_us.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let stats = engine.stats();
    println!(
        "bridge latency: {pairs} bridged calls + {ivr} IVR streams, {secs} s: {} packets relayed; \
         RTP in -> out p50 {} us, p90 {} us, p99 {} us, max {} us; late ticks {}, skipped frames {}",
        lat_us.len(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        lat_us.last().copied().unwrap_or(0),
        stats.late_ticks,
        stats.skipped_frames,
    );
    drop(keep);
}
