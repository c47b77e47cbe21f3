//! Engine tests over real loopback sockets. They assert order and counts,
//! never tight timing; waits are bounded by generous timeouts.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::*;
use crate::media::dtmf::rfc4733::key_press_packets;
use crate::media::dtmf::tone_samples;
use crate::media::rtp::{self, RtpHeader};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const RANGE: (u16, u16) = (31000, 39998);

fn library() -> Arc<PromptLibrary> {
    let clip = vec![4000i16; 160 * 10]; // 200 ms, 10 frames
    Arc::new(PromptLibrary::from_samples([("sv", "hello", &clip[..])]))
}

/// The 10-frame clip of `engine()`'s library.
pub(super) fn library_clip() -> ClipId {
    library().lookup("sv", "hello").unwrap()
}

/// The send path the engine tests use: io_uring where the kernel has it;
/// `PE_TEST_MEDIA_SEND=syscall` runs them all over one sendto per frame.
fn default_send() -> BatchSend {
    match std::env::var("PE_TEST_MEDIA_SEND").as_deref() {
        Ok("syscall") => BatchSend::Syscall,
        _ => BatchSend::Auto,
    }
}

fn engine_with(timeout: Duration, range: (u16, u16)) -> MediaEngine {
    let mut cfg = MediaConfig::new(LOCAL, range, library());
    cfg.rtp_timeout = timeout;
    cfg.batch_send = default_send();
    MediaEngine::start(cfg).unwrap()
}

pub(super) fn engine() -> MediaEngine {
    engine_with(Duration::from_secs(30), RANGE)
}

/// An engine sending with `mode`, checked to be in force.
pub(super) fn engine_sending(mode: BatchSend) -> MediaEngine {
    let mut cfg = MediaConfig::new(LOCAL, RANGE, library());
    cfg.batch_send = mode;
    let engine = MediaEngine::start(cfg).unwrap();
    let expected = match mode {
        BatchSend::Syscall => SendMode::Syscall,
        BatchSend::IoUring | BatchSend::Auto => SendMode::IoUring,
    };
    assert_eq!(
        engine.send_mode(),
        expected,
        "io_uring works on this kernel"
    );
    engine
}

pub(super) fn peer() -> UdpSocket {
    let s = UdpSocket::bind((LOCAL, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

pub(super) fn params(remote: SocketAddr, te: Option<u8>) -> StreamParams {
    StreamParams {
        codec: Codec::Pcmu,
        payload_type: 0,
        telephone_event_pt: te,
        remote,
        trust: Trust::Trusted,
    }
}

/// Receives one RTP packet as (header, payload).
pub(super) fn recv_rtp(sock: &UdpSocket) -> Option<(RtpHeader, Vec<u8>)> {
    let mut buf = [0u8; 1500];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    let p = rtp::parse(buf.get(..n)?).ok()?;
    Some((p.header, p.payload.to_vec()))
}

pub(super) fn next_event<T>(rx: &mut UnboundedReceiver<T>, within: Duration) -> Option<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async { tokio::time::timeout(within, rx.recv()).await.ok().flatten() })
}

pub(super) fn stream_addr(s: &MediaStream) -> SocketAddr {
    SocketAddr::new(LOCAL, s.local_port())
}

pub(super) fn send_rtp(
    from: &UdpSocket,
    to: SocketAddr,
    pt: u8,
    seq: u16,
    ts: u32,
    marker: bool,
    payload: &[u8],
) {
    let mut buf = [0u8; 1500];
    let h = RtpHeader::new(pt, seq, ts, 0xABCD, marker);
    let n = rtp::write_packet(&h, payload, &mut buf).unwrap();
    from.send_to(&buf[..n], to).unwrap();
}

#[test]
fn stream_plays_clip_with_continuous_seq_and_timestamps_via_io_uring() {
    plays_clip_with_continuous_seq_and_timestamps(BatchSend::IoUring);
}

#[test]
fn stream_plays_clip_with_continuous_seq_and_timestamps_via_sendto() {
    plays_clip_with_continuous_seq_and_timestamps(BatchSend::Syscall);
}

fn plays_clip_with_continuous_seq_and_timestamps(mode: BatchSend) {
    let engine = engine_sending(mode);
    let peer = peer();
    let (tx, mut rx) = unbounded_channel();
    let stream = engine
        .open(params(peer.local_addr().unwrap(), None), tx)
        .unwrap();
    assert_eq!(stream.local_port() % 2, 0);
    let clip = library().lookup("sv", "hello").unwrap();
    stream.play(vec![clip], 42);
    let first = recv_rtp(&peer).unwrap();
    assert!(first.0.marker, "first packet carries the marker");
    let mut prev = first.0;
    let mut audio = usize::from(first.1[0] == Codec::Pcmu.encode(4000));
    let mut arrivals = vec![Instant::now()];
    for _ in 0..25 {
        let (h, payload) = recv_rtp(&peer).unwrap();
        arrivals.push(Instant::now());
        assert!(!h.marker);
        assert_eq!(h.ssrc, prev.ssrc);
        assert_eq!(h.payload_type, 0);
        assert_eq!(h.sequence, prev.sequence.wrapping_add(1));
        assert_eq!(h.timestamp, prev.timestamp.wrapping_add(160));
        assert_eq!(payload.len(), 160);
        if payload[0] == Codec::Pcmu.encode(4000) {
            audio += 1;
        } else {
            assert_eq!(payload, vec![0xFF; 160]);
        }
        prev = h;
    }
    assert_eq!(audio, 10, "the whole clip, once");
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(2)),
        Some(MediaEvent::PlaybackDone { token: 42 })
    );
    let span = arrivals[arrivals.len() - 1] - arrivals[0];
    eprintln!("26 packets over {span:?} (expect ~500 ms)");
    assert!(
        span >= Duration::from_millis(300),
        "paced, not burst: {span:?}"
    );
    // Completions are counted at the end of the tick that sent them.
    let stats = wait_for_stats(&engine, |s| s.packets_out >= 26);
    assert!(stats.packets_out >= 26, "{stats:?}");
    assert_eq!(stats.send_errors, 0, "{stats:?}");
}

#[test]
fn rfc4733_packets_give_one_digit_event() {
    let engine = engine();
    let peer = peer();
    let (tx, mut rx) = unbounded_channel();
    let stream = engine
        .open(params(peer.local_addr().unwrap(), Some(101)), tx)
        .unwrap();
    let to = stream_addr(&stream);
    for (i, p) in key_press_packets(DtmfKey::Digit(5), 120, 10)
        .iter()
        .enumerate()
    {
        send_rtp(&peer, to, 101, i as u16, 8000, p.marker, &p.payload);
    }
    for (i, p) in key_press_packets(DtmfKey::Digit(5), 120, 10)
        .iter()
        .enumerate()
    {
        send_rtp(&peer, to, 101, 100 + i as u16, 16000, p.marker, &p.payload);
    }
    let want = MediaEvent::Digit {
        key: DtmfKey::Digit(5),
        source: DtmfSource::Rfc4733,
    };
    assert_eq!(next_event(&mut rx, Duration::from_secs(2)), Some(want));
    assert_eq!(next_event(&mut rx, Duration::from_secs(2)), Some(want));
    assert_eq!(next_event(&mut rx, Duration::from_millis(200)), None);
}

#[test]
fn inband_tone_gives_digit_event() {
    let engine = engine();
    let peer = peer();
    let (tx, mut rx) = unbounded_channel();
    let stream = engine
        .open(params(peer.local_addr().unwrap(), None), tx)
        .unwrap();
    let mut samples = vec![0i16; 160];
    samples.extend(tone_samples(DtmfKey::Hash, 100, 8000));
    samples.extend(vec![0i16; 320]);
    for (i, chunk) in samples.chunks(160).enumerate() {
        let mut payload = [0u8; 160];
        Codec::Pcmu.encode_into(chunk, &mut payload);
        send_rtp(
            &peer,
            stream_addr(&stream),
            0,
            i as u16,
            i as u32 * 160,
            i == 0,
            &payload,
        );
    }
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(2)),
        Some(MediaEvent::Digit {
            key: DtmfKey::Hash,
            source: DtmfSource::InBand
        })
    );
    assert_eq!(next_event(&mut rx, Duration::from_millis(200)), None);
}

#[test]
fn symmetric_rtp_latches_to_where_packets_come_from() {
    let engine = engine();
    let nowhere = UdpSocket::bind((LOCAL, 0)).unwrap(); // what SDP said
    let natted = peer(); // where the caller really is
    let (tx, _rx) = unbounded_channel();
    let stream = engine
        .open(params(nowhere.local_addr().unwrap(), None), tx)
        .unwrap();
    send_rtp(&natted, stream_addr(&stream), 0, 1, 160, true, &[0xFF; 160]);
    let got = recv_rtp(&natted);
    assert!(got.is_some(), "engine now sends to the packet's source");
    // A third party cannot take over while the peer is active.
    let intruder = peer();
    send_rtp(
        &natted,
        stream_addr(&stream),
        0,
        2,
        320,
        false,
        &[0xFF; 160],
    );
    send_rtp(
        &intruder,
        stream_addr(&stream),
        0,
        9,
        999,
        false,
        &[0xFF; 160],
    );
    intruder
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(recv_rtp(&intruder).is_none());
}

#[test]
fn rtcp_and_garbage_are_ignored() {
    let engine = engine();
    let peer = peer();
    let (tx, mut rx) = unbounded_channel();
    let stream = engine
        .open(params(peer.local_addr().unwrap(), Some(101)), tx)
        .unwrap();
    let to = stream_addr(&stream);
    peer.send_to(&[0x80, 200, 0, 6, 1, 2, 3, 4], to).unwrap();
    peer.send_to(&[0x00, 1, 2], to).unwrap();
    peer.send_to(&[0x8F; 20], to).unwrap();
    send_rtp(&peer, to, 101, 1, 77, true, &[11, 0x0A, 0, 160]);
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(2)),
        Some(MediaEvent::Digit {
            key: DtmfKey::Hash,
            source: DtmfSource::Rfc4733
        })
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while engine.stats().malformed_in < 2 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(engine.stats().malformed_in, 2);
}

#[test]
fn hold_stops_sending_and_resume_restarts_with_marker() {
    let engine = engine();
    let peer = peer();
    let (tx, _rx) = unbounded_channel();
    let stream = engine
        .open(params(peer.local_addr().unwrap(), None), tx)
        .unwrap();
    recv_rtp(&peer).unwrap();
    stream.set_hold(true);
    peer.set_read_timeout(Some(Duration::from_millis(150)))
        .unwrap();
    let mut last = None;
    while let Some((h, _)) = recv_rtp(&peer) {
        last = Some(h); // in flight before the hold landed
    }
    assert!(recv_rtp(&peer).is_none(), "silent while held");
    stream.set_hold(false);
    peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let (h, _) = recv_rtp(&peer).unwrap();
    assert!(h.marker, "talkspurt restarts with the marker");
    if let Some(l) = last {
        assert_eq!(h.sequence, l.sequence.wrapping_add(1), "no sequence gap");
        assert!(
            h.timestamp.wrapping_sub(l.timestamp) >= 160 * 10,
            "timestamp kept running"
        );
    }
}

#[test]
fn rtp_timeout_counts_from_open_and_not_while_held() {
    let engine = engine_with(Duration::from_millis(200), RANGE);
    let peer = peer();
    let (tx, mut rx) = unbounded_channel();
    let _a = engine
        .open(params(peer.local_addr().unwrap(), None), tx)
        .unwrap();
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(3)),
        Some(MediaEvent::RtpTimeout)
    );
    assert_eq!(
        next_event(&mut rx, Duration::from_millis(400)),
        None,
        "reported once"
    );
    let (tx, mut rx) = unbounded_channel();
    let b = engine
        .open(params(peer.local_addr().unwrap(), None), tx)
        .unwrap();
    b.set_hold(true);
    assert_eq!(next_event(&mut rx, Duration::from_millis(600)), None);
    // Incoming RTP keeps a stream alive.
    let (tx, mut rx) = unbounded_channel();
    let c = engine
        .open(params(peer.local_addr().unwrap(), None), tx)
        .unwrap();
    for i in 0..8 {
        send_rtp(
            &peer,
            stream_addr(&c),
            0,
            i,
            i as u32 * 160,
            false,
            &[0xFF; 160],
        );
        assert_eq!(next_event(&mut rx, Duration::from_millis(100)), None);
    }
}

#[test]
fn update_switches_codec_and_destination_without_breaking_the_stream() {
    let engine = engine();
    let old = peer();
    let new = peer();
    let (tx, _rx) = unbounded_channel();
    let stream = engine
        .open(params(old.local_addr().unwrap(), None), tx)
        .unwrap();
    let (before, _) = recv_rtp(&old).unwrap();
    stream.update(StreamParams {
        codec: Codec::Pcma,
        payload_type: 8,
        telephone_event_pt: None,
        remote: new.local_addr().unwrap(),
        trust: Trust::Trusted,
    });
    let (h, payload) = recv_rtp(&new).unwrap();
    assert_eq!(h.payload_type, 8);
    assert_eq!(payload, vec![0xD5; 160]);
    assert_eq!(h.ssrc, before.ssrc);
    assert!(h.sequence.wrapping_sub(before.sequence) < 100);
}

#[test]
fn dropped_stream_frees_its_port() {
    // Find a free even port and give the engine exactly that one.
    let port = loop {
        let p = UdpSocket::bind((LOCAL, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if p.is_multiple_of(2) && p < 65534 {
            break p;
        }
    };
    let engine = engine_with(Duration::from_secs(30), (port, port + 1));
    let peer = peer();
    let (tx, _rx) = unbounded_channel();
    let first = engine
        .open(params(peer.local_addr().unwrap(), None), tx.clone())
        .unwrap();
    assert_eq!(first.local_port(), port);
    assert!(matches!(
        engine.open(params(peer.local_addr().unwrap(), None), tx.clone()),
        Err(MediaError::NoFreePort { .. })
    ));
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(3);
    let again = loop {
        match engine.open(params(peer.local_addr().unwrap(), None), tx.clone()) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::yield_now(),
            Err(e) => panic!("port never freed: {e}"),
        }
    };
    assert_eq!(again.local_port(), port);
}

#[test]
fn engine_stats_count_streams_and_shutdown_refuses_new_streams() {
    let engine = engine();
    let peer = peer();
    let (tx, _rx) = unbounded_channel();
    let s = engine
        .open(params(peer.local_addr().unwrap(), None), tx.clone())
        .unwrap();
    recv_rtp(&peer).unwrap();
    assert_eq!(engine.stats().streams, 1);
    assert!(format!(
        "{:?}",
        MediaEvent::Digit {
            key: DtmfKey::Digit(4),
            source: DtmfSource::InBand
        }
    )
    .contains("masked"));
    engine.shutdown();
    drop(s);
    assert!(matches!(
        engine.open(params(peer.local_addr().unwrap(), None), tx),
        Err(MediaError::EngineStopped)
    ));
}

#[path = "bench.rs"]
mod bench;

fn bound_on(last: u8) -> UdpSocket {
    let s = UdpSocket::bind((Ipv4Addr::new(127, 0, 0, last), 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s
}

fn wait_for_stats(engine: &MediaEngine, done: impl Fn(&MediaStats) -> bool) -> MediaStats {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let s = engine.stats();
        if done(&s) || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn unverified_stream_waits_for_rtp_from_the_offered_ip_and_ignores_other_ips() {
    let engine = engine();
    let offered = bound_on(2);
    let other = bound_on(3);
    let (tx, mut rx) = unbounded_channel();
    let stream = engine
        .open(
            StreamParams {
                trust: Trust::Unverified,
                ..params(offered.local_addr().unwrap(), Some(101))
            },
            tx,
        )
        .unwrap();
    stream.play(vec![library().lookup("sv", "hello").unwrap()], 1);
    let to = stream_addr(&stream);
    assert!(recv_rtp(&offered).is_none(), "nothing before the latch");
    // Another IP: its audio and keys are dropped, it gets nothing back.
    send_rtp(&other, to, 0, 1, 160, true, &[0xFF; 160]);
    for (i, p) in key_press_packets(DtmfKey::Digit(5), 120, 10)
        .iter()
        .enumerate()
    {
        send_rtp(&other, to, 101, 2 + i as u16, 800, p.marker, &p.payload);
    }
    assert!(recv_rtp(&other).is_none());
    assert_eq!(next_event(&mut rx, Duration::from_millis(200)), None);
    // The offered IP (another port: NAT) latches; the clip starts from its top.
    let nat = bound_on(2);
    send_rtp(&nat, to, 0, 1, 160, true, &[0xFF; 160]);
    let (first, payload) = recv_rtp(&nat).expect("media after the latch");
    assert!(first.marker);
    assert_eq!(payload[0], Codec::Pcmu.encode(4000), "the playlist waited");
    assert!(recv_rtp(&offered).is_none(), "sent to the packet's source");
    let s = wait_for_stats(&engine, |s| s.foreign_dropped >= 7);
    assert!(s.foreign_dropped >= 7, "{s:?}");
    assert!(s.unlatched_suppressed >= 10, "{s:?}");
    assert_eq!(s.digits, 0);
}

#[test]
fn refused_stream_never_sends_but_its_playlist_runs() {
    let engine = engine();
    let offered = bound_on(2);
    let (tx, mut rx) = unbounded_channel();
    let stream = engine
        .open(
            StreamParams {
                trust: Trust::Refused,
                ..params(offered.local_addr().unwrap(), None)
            },
            tx,
        )
        .unwrap();
    stream.play(vec![library().lookup("sv", "hello").unwrap()], 7);
    send_rtp(
        &offered,
        stream_addr(&stream),
        0,
        1,
        160,
        true,
        &[0xFF; 160],
    );
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(2)),
        Some(MediaEvent::PlaybackDone { token: 7 })
    );
    assert!(recv_rtp(&offered).is_none());
    let s = wait_for_stats(&engine, |s| s.destination_refused >= 10);
    assert!(s.destination_refused >= 10, "{s:?}");
    assert_eq!(s.packets_out, 0);
}
