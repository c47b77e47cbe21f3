//! The engine's SRTP hook over real loopback sockets: what leaves the port
//! is SRTP (the prompt's G.711 bytes never appear, every packet carries the
//! tag and decrypts with our key), and only packets that authenticate with
//! the peer's key reach the call (encrypted RFC 4733 keys give a digit;
//! plain RTP and a wrong key are counted and dropped).

use std::net::UdpSocket;
use std::time::Duration;

use tokio::sync::mpsc::unbounded_channel;

use super::tests::{engine, engine_sending, next_event, params, peer, stream_addr};
use super::*;
use crate::media::dtmf::rfc4733::key_press_packets;
use crate::media::rtp::{self, RtpHeader};
use crate::media::srtp::{MasterKey, SrtpSuite};

/// The keys of our stream and the matching session of the far end.
fn keys() -> (SrtpKeys, SrtpSession) {
    let (ours, theirs) = (MasterKey::random(), MasterKey::random());
    let suite = SrtpSuite::AesCm128HmacSha1_80;
    let far = SrtpSession::new(&SrtpKeys {
        suite,
        local: theirs.clone(),
        remote: ours.clone(),
    })
    .unwrap();
    let keys = SrtpKeys {
        suite,
        local: ours,
        remote: theirs,
    };
    (keys, far)
}

fn recv(sock: &UdpSocket) -> Option<Vec<u8>> {
    let mut buf = [0u8; 1500];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    Some(buf.get(..n)?.to_vec())
}

fn plain_packet(pt: u8, seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 1500];
    let h = RtpHeader::new(pt, seq, ts, 0xABCD, marker);
    let n = rtp::write_packet(&h, payload, &mut buf).unwrap();
    buf[..n].to_vec()
}

#[test]
fn the_prompt_leaves_encrypted_and_decrypts_with_our_key_via_io_uring() {
    prompt_leaves_encrypted(BatchSend::IoUring);
}

#[test]
fn the_prompt_leaves_encrypted_and_decrypts_with_our_key_via_sendto() {
    prompt_leaves_encrypted(BatchSend::Syscall);
}

fn prompt_leaves_encrypted(mode: BatchSend) {
    let engine = engine_sending(mode);
    let peer = peer();
    let (keys, mut far) = keys();
    let (tx, _rx) = unbounded_channel();
    let stream = engine
        .open_secure(params(peer.local_addr().unwrap(), None), Some(&keys), tx)
        .unwrap();
    let clip = super::tests::library_clip();
    stream.play(vec![clip], 1);
    let loud = Codec::Pcmu.encode(4000);
    let mut decrypted_audio = 0;
    for _ in 0..20 {
        let wire = recv(&peer).expect("a packet");
        assert_eq!(wire.len(), 12 + 160 + 10, "header, payload, 80-bit tag");
        assert!(
            wire[12..172] != [loud; 160] && wire[12..172] != [0xFF; 160],
            "no plain G.711 on the wire"
        );
        let mut plain = [0u8; 1500];
        let n = far.unprotect(&wire, &mut plain).expect("authenticates");
        let p = rtp::parse(&plain[..n]).unwrap();
        if p.payload == [loud; 160] {
            decrypted_audio += 1;
        }
    }
    assert_eq!(decrypted_audio, 10, "the whole clip, once");
}

#[test]
fn encrypted_keys_give_a_digit_and_forged_or_plain_packets_are_dropped() {
    let engine = engine();
    let peer = peer();
    let (keys, mut far) = keys();
    let (tx, mut rx) = unbounded_channel();
    let stream = engine
        .open_secure(
            params(peer.local_addr().unwrap(), Some(101)),
            Some(&keys),
            tx,
        )
        .unwrap();
    let to = stream_addr(&stream);
    let before = engine.stats().srtp_rejected_in;
    // Plain RTP and a packet under someone else's key: counted, never heard.
    let (_, mut stranger) = keys_for_stranger(&keys);
    let mut wire = [0u8; 1500];
    for (i, p) in key_press_packets(DtmfKey::Digit(7), 120, 10)
        .iter()
        .enumerate()
    {
        let pkt = plain_packet(101, i as u16, 800, p.marker, &p.payload);
        peer.send_to(&pkt, to).unwrap();
        let n = stranger.protect(&pkt, &mut wire).unwrap();
        peer.send_to(&wire[..n], to).unwrap();
    }
    assert_eq!(next_event(&mut rx, Duration::from_millis(300)), None);
    for (i, p) in key_press_packets(DtmfKey::Digit(5), 120, 10)
        .iter()
        .enumerate()
    {
        let pkt = plain_packet(101, 100 + i as u16, 8000, p.marker, &p.payload);
        let n = far.protect(&pkt, &mut wire).unwrap();
        peer.send_to(&wire[..n], to).unwrap();
    }
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(2)),
        Some(MediaEvent::Digit {
            key: DtmfKey::Digit(5),
            source: DtmfSource::Rfc4733,
        })
    );
    assert!(engine.stats().srtp_rejected_in - before >= 10);
}

/// A far end that sends under its own, unannounced key.
fn keys_for_stranger(keys: &SrtpKeys) -> (SrtpKeys, SrtpSession) {
    let k = SrtpKeys {
        suite: keys.suite,
        local: MasterKey::random(),
        remote: keys.local.clone(),
    };
    let s = SrtpSession::new(&k).unwrap();
    (k, s)
}
