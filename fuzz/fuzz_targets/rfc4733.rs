//! The RFC 4733 receiver (`media::dtmf::rfc4733::Rfc4733Receiver`) on a
//! stream of RTP packets with fake time. Each record is `[dt, len, packet]`:
//! `dt & 0x7f` steps the clock by 20 ms units, `dt & 0x80` fires the timer
//! first, `len` bytes of RTP datagram follow (`len == 0` resets the receiver).
//! As in a call, only the negotiated telephone-event type (101 here) is fed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_entrance::media::dtmf::rfc4733::{self, Rfc4733Receiver};
use phone_entrance::media::rtp;
use std::time::{Duration, Instant};

const TELEPHONE_EVENT: u8 = 101;

fuzz_target!(|data: &[u8]| {
    let mut rx = Rfc4733Receiver::new();
    let mut now = Instant::now();
    // The timestamp of the last reported event while only its own packets
    // followed: one more of those must not report again.
    let mut reported_run: Option<u32> = None;
    let mut rest = data;
    while let [dt, len, tail @ ..] = rest {
        now += Duration::from_millis(20 * u64::from(dt & 0x7f));
        if dt & 0x80 != 0 {
            rx.handle_timeout(now);
        }
        if let Some(at) = rx.poll_timeout() {
            assert!(rx.key_down(), "a timer without a key down");
            if at <= now {
                rx.handle_timeout(now);
                assert!(!rx.key_down(), "the timer did not end the event");
            }
        }
        let len = usize::from(*len).min(tail.len());
        let (datagram, tail) = tail.split_at(len);
        rest = tail;
        if len == 0 {
            rx.reset();
            reported_run = None;
            continue;
        }
        let Ok(packet) = rtp::parse(datagram) else {
            continue;
        };
        if packet.header.payload_type != TELEPHONE_EVENT {
            continue;
        }
        let Some(event) = rfc4733::decode_event(packet.payload) else {
            continue;
        };
        let ts = packet.header.timestamp;
        let reported = rx.push(now, ts, packet.header.marker, packet.payload);
        if reported_run.is_some_and(|run| run != ts) {
            reported_run = None;
        }
        if let Some(key) = reported {
            assert_eq!(key, event.key);
            assert_ne!(reported_run, Some(ts), "one event reported twice");
            assert_eq!(rx.key_down(), !event.end);
            reported_run = Some(ts);
        }
    }
});
