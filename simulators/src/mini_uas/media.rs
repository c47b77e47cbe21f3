//! One call's RTP: the prompt tone (again after every key), then silence,
//! every 20 ms; counts what arrives (RFC 4733 keys, loud frames, a tone).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::{Calls, UasBehavior};
use crate::rtp::{self, RtpHeader, TelephoneEvent};
use crate::sdp;
use crate::tone;

pub(super) async fn media(
    calls: Calls,
    call_id: String,
    sock: UdpSocket,
    offer: sdp::SdpAnswer,
    behavior: &UasBehavior,
    stop: Arc<AtomicBool>,
    replay: Arc<AtomicBool>,
) {
    let codec = offer.codec;
    let (tone_hz, detect_hz) = (behavior.tone_hz, behavior.detect_hz);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let prompt_frames = u64::try_from(behavior.prompt.as_millis() / 20).unwrap_or(u64::MAX);
    let (mut seq, mut ts, mut n) = (0u16, 0u32, 0u64);
    let mut buf = vec![0u8; 2048];
    let mut pkt = Vec::with_capacity(200);
    let mut last_event_ts: Option<u32> = None;
    // Like an IVR: every key press (RFC 4733 or INFO) starts the prompt again.
    let mut prompt_from = 0u64;
    // Scripted key presses: (frame number, event code), earliest first.
    let mut keys: std::collections::VecDeque<(u64, u8)> = behavior
        .keys
        .iter()
        .filter_map(|(at, k)| {
            let code = crate::DtmfKey::from_char(*k)?.event_code();
            Some((u64::try_from(at.as_millis() / 20).unwrap_or(u64::MAX), code))
        })
        .collect();
    while !stop.load(Ordering::SeqCst) {
        tokio::select! {
            _ = tick.tick() => {
                if keys.front().is_some_and(|(at, _)| *at <= n) {
                    if let Some((_, code)) = keys.pop_front() {
                        if let Some(pt) = offer.telephone_event_pt {
                            send_event(&sock, offer.rtp_addr, pt, &mut seq, ts, code).await;
                            if let Ok(mut m) = calls.lock() {
                                if let Some(c) = m.get_mut(&call_id) {
                                    if let Some(k) = crate::DtmfKey::from_event_code(code) {
                                        c.log.keys_sent.push(k.to_char());
                                    }
                                }
                            }
                        }
                    }
                }
                let mut frame = [codec.silence(); 160];
                if replay.swap(false, Ordering::SeqCst) {
                    prompt_from = n;
                }
                if n - prompt_from < prompt_frames {
                    let samples = tone::sine(tone_hz, 8000, (n - prompt_from) * 160, 160);
                    for (b, s) in frame.iter_mut().zip(samples) {
                        *b = codec.encode(s);
                    }
                }
                pkt.clear();
                rtp::write_packet(&RtpHeader { marker: n == 0, payload_type: offer.payload_type, seq, timestamp: ts, ssrc: 0x5e55_1011 }, &frame, &mut pkt);
                let _ = sock.send_to(&pkt, offer.rtp_addr).await;
                seq = seq.wrapping_add(1);
                ts = ts.wrapping_add(160);
                n += 1;
                if let Ok(mut m) = calls.lock() {
                    if let Some(c) = m.get_mut(&call_id) { c.log.rtp_out += 1; }
                }
            }
            r = sock.recv_from(&mut buf) => {
                let Ok((len, _)) = r else { continue };
                let Ok(p) = rtp::parse(buf.get(..len).unwrap_or_default()) else { continue };
                let Ok(mut m) = calls.lock() else { continue };
                let Some(c) = m.get_mut(&call_id) else { continue };
                c.log.rtp_in += 1;
                if Some(p.header.payload_type) == offer.telephone_event_pt {
                    if let Some(ev) = TelephoneEvent::decode(p.payload) {
                        if last_event_ts != Some(p.header.timestamp) {
                            last_event_ts = Some(p.header.timestamp);
                            replay.store(true, Ordering::SeqCst);
                            if let Some(k) = crate::DtmfKey::from_event_code(ev.event) {
                                c.log.rfc4733_digits.push(k.to_char());
                            }
                        }
                    }
                } else if !p.payload.is_empty() {
                    if behavior.record {
                        c.log.heard.extend(p.payload.iter().map(|b| codec.decode(*b)));
                    }
                    let level: u64 = p.payload.iter().map(|b| codec.decode(*b).unsigned_abs() as u64).sum::<u64>() / p.payload.len() as u64;
                    if level > 500 { c.log.loud_frames += 1; }
                    if let Some(hz) = detect_hz {
                        let samples: Vec<i16> = p.payload.iter().map(|b| codec.decode(*b)).collect();
                        if tone::frame_has_tone(&samples, hz) { c.log.tone_frames_detected += 1; }
                    }
                }
            }
        }
    }
}

/// One RFC 4733 key press of 100 ms at `ts`: a start packet (marker), then
/// three end packets, as phones send it.
async fn send_event(
    sock: &UdpSocket,
    to: std::net::SocketAddr,
    pt: u8,
    seq: &mut u16,
    ts: u32,
    code: u8,
) {
    let mut pkt = Vec::with_capacity(20);
    for (i, (end, duration)) in [(false, 400u16), (true, 800), (true, 800), (true, 800)]
        .into_iter()
        .enumerate()
    {
        let ev = TelephoneEvent {
            event: code,
            end,
            volume: 10,
            duration,
        };
        pkt.clear();
        let header = RtpHeader {
            marker: i == 0,
            payload_type: pt,
            seq: *seq,
            timestamp: ts,
            ssrc: 0x5e55_1011,
        };
        rtp::write_packet(&header, &ev.encode(), &mut pkt);
        let _ = sock.send_to(&pkt, to).await;
        *seq = seq.wrapping_add(1);
    }
}
