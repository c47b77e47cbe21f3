//! RFC 4733 telephone-event: a sans-IO receiver that reports each key press
//! exactly once, the payload codec, and sender helpers.
//!
//! Reporting rule: a digit is reported on the FIRST packet we see of a new
//! event (low latency for the IVR). Events are keyed by their RTP timestamp
//! (RFC 4733 section 2.5.1.2: every packet of one event carries the event's
//! start timestamp), so the update packets and the three retransmitted end
//! packets of that event never report again, a later press of the same key
//! (new timestamp) reports again, and a press whose end packets are all lost
//! was already reported at its start. If the start packets are lost, the
//! first surviving packet (update or end) reports it.

use std::time::{Duration, Instant};

use super::DtmfKey;

/// Size of one event block on the wire.
pub const EVENT_LEN: usize = 4;

/// How long after its last packet an unfinished event is considered over.
/// Only affects long-event continuation handling, never reporting.
pub const EVENT_IDLE: Duration = Duration::from_millis(1000);

/// Late packets of an older event are ignored unless the stream has been
/// quiet this long (then the sender probably restarted its timestamps).
const RESTART_GAP: Duration = Duration::from_secs(2);

/// One decoded telephone-event block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub key: DtmfKey,
    pub end: bool,
    /// Power level, 0 to -63 dBm0 given as 0-63.
    pub volume: u8,
    /// Duration so far in timestamp units (8 kHz samples).
    pub duration: u16,
}

/// Encodes one event block into `out` (volume is clamped to 0-63).
pub fn encode_event(key: DtmfKey, end: bool, volume: u8, duration: u16, out: &mut [u8; 4]) {
    out[0] = key.event_code();
    out[1] = (u8::from(end) << 7) | volume.min(63);
    out[2..4].copy_from_slice(&duration.to_be_bytes());
}

/// Decodes the first event block of a payload; `None` for short payloads
/// and non-DTMF events (codes above 15, e.g. fax tones).
pub fn decode_event(payload: &[u8]) -> Option<Event> {
    let [code, flags, d0, d1, ..] = *payload else {
        return None;
    };
    Some(Event {
        key: DtmfKey::from_event_code(code)?,
        end: flags & 0x80 != 0,
        volume: flags & 0x3F,
        duration: u16::from_be_bytes([d0, d1]),
    })
}

#[derive(Debug, Clone, Copy)]
struct Current {
    timestamp: u32,
    key: DtmfKey,
    duration: u16,
    ended: bool,
    last_seen: Instant,
}

/// Turns a stream of telephone-event packets into key presses, each once.
/// Keeps ~32 bytes of state; feed it every packet of the negotiated
/// telephone-event payload type, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct Rfc4733Receiver {
    current: Option<Current>,
}

impl Rfc4733Receiver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the current event (call when the SSRC or the peer changes).
    pub fn reset(&mut self) {
        self.current = None;
    }

    /// Handles one packet; returns the key if this packet starts a new event.
    /// Malformed or non-DTMF payloads are ignored.
    pub fn push(
        &mut self,
        now: Instant,
        rtp_timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Option<DtmfKey> {
        let ev = decode_event(payload)?;
        if let Some(cur) = self.current.as_mut() {
            if cur.timestamp == rtp_timestamp {
                cur.last_seen = now;
                cur.ended |= ev.end;
                cur.duration = cur.duration.max(ev.duration);
                return None;
            }
            let ahead = rtp_timestamp.wrapping_sub(cur.timestamp) as i32;
            let quiet = now.saturating_duration_since(cur.last_seen);
            if ahead < 0 && quiet < RESTART_GAP {
                // A late packet of an earlier event (reordering, duplicates).
                return None;
            }
            // RFC 4733 section 2.5.1.3: an event longer than the 16-bit
            // duration continues in a new segment without the marker bit.
            let continues = !marker
                && !cur.ended
                && cur.key == ev.key
                && cur.duration >= 0xFFFF - 1600
                && ahead > 0
                && (ahead as u32) <= 0xFFFF + 1600
                && quiet < EVENT_IDLE;
            if continues {
                *cur = Current {
                    timestamp: rtp_timestamp,
                    duration: ev.duration,
                    ended: ev.end,
                    last_seen: now,
                    key: ev.key,
                };
                return None;
            }
        }
        self.current = Some(Current {
            timestamp: rtp_timestamp,
            key: ev.key,
            duration: ev.duration,
            ended: ev.end,
            last_seen: now,
        });
        Some(ev.key)
    }

    /// When `handle_timeout` should next run (an unfinished event going idle).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.current {
            Some(c) if !c.ended => Some(c.last_seen + EVENT_IDLE),
            _ => None,
        }
    }

    /// Marks an event whose end packets never came as ended. Idempotent. The
    /// digit itself was already reported at its start, so nothing is returned.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(c) = self.current.as_mut() {
            if now >= c.last_seen + EVENT_IDLE {
                c.ended = true;
            }
        }
    }

    /// True while a key is held down (an event is in progress).
    pub fn key_down(&self) -> bool {
        matches!(self.current, Some(c) if !c.ended)
    }
}

/// One packet of a key press as a sender schedules it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    /// Send time relative to the start of the key press.
    pub at_ms: u32,
    /// RTP marker bit (set on the first packet of the event only).
    pub marker: bool,
    pub payload: [u8; 4],
}

/// The packets of one key press, for the simulators: a start packet with the
/// marker, updates every 50 ms, then three end packets. All of them carry the
/// same RTP timestamp (the press's start), which the caller supplies.
pub fn key_press_packets(key: DtmfKey, duration_ms: u32, volume: u8) -> Vec<EventPacket> {
    let duration_ms = duration_ms.clamp(20, 8000);
    let mut out = Vec::with_capacity((duration_ms / 50 + 4) as usize);
    let mut at = 0;
    while at < duration_ms {
        let mut payload = [0; 4];
        let dur = (at.max(20) * 8).min(u16::MAX as u32) as u16;
        encode_event(key, false, volume, dur, &mut payload);
        out.push(EventPacket {
            at_ms: at,
            marker: at == 0,
            payload,
        });
        at += 50;
    }
    let mut end = [0; 4];
    encode_event(key, true, volume, (duration_ms * 8) as u16, &mut end);
    for i in 0..3 {
        out.push(EventPacket {
            at_ms: duration_ms + i * 20,
            marker: false,
            payload: end,
        });
    }
    out
}

/// A per-frame sender for the media engine: one call to `next_frame` per
/// 20 ms packet slot gives the event payload to send in that slot (marker on
/// the first), ending with three end packets. No allocation.
#[derive(Debug, Clone, Copy)]
pub struct EventSender {
    key: DtmfKey,
    volume: u8,
    frames_on: u16,
    frame: u16,
}

impl EventSender {
    /// A key press lasting `duration_ms` (rounded up to whole 20 ms frames).
    pub fn new(key: DtmfKey, duration_ms: u32, volume: u8) -> Self {
        let frames_on = duration_ms.div_ceil(20).clamp(1, 400) as u16;
        EventSender {
            key,
            volume,
            frames_on,
            frame: 0,
        }
    }

    /// The next payload and marker bit; `None` once the three end packets
    /// have been sent.
    pub fn next_frame(&mut self) -> Option<(bool, [u8; 4])> {
        if self.frame >= self.frames_on + 3 {
            return None;
        }
        let mut payload = [0; 4];
        let end = self.frame >= self.frames_on;
        let elapsed = (self.frame.min(self.frames_on - 1) as u32 + 1) * 160;
        encode_event(self.key, end, self.volume, elapsed as u16, &mut payload);
        let marker = self.frame == 0;
        self.frame += 1;
        Some((marker, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        Instant::now()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feeds a schedule to a receiver and collects what it reports.
    fn run(
        rx: &mut Rfc4733Receiver,
        start: Instant,
        ts: u32,
        pkts: &[EventPacket],
    ) -> Vec<DtmfKey> {
        pkts.iter()
            .filter_map(|p| rx.push(start + ms(p.at_ms as u64), ts, p.marker, &p.payload))
            .collect()
    }

    #[test]
    fn dtmf_triple_end_reports_once() {
        let mut rx = Rfc4733Receiver::new();
        let pkts = key_press_packets(DtmfKey::Digit(5), 200, 10);
        assert_eq!(pkts.iter().filter(|p| p.payload[1] & 0x80 != 0).count(), 3);
        let got = run(&mut rx, t0(), 1000, &pkts);
        assert_eq!(got, vec![DtmfKey::Digit(5)]);
        assert!(!rx.key_down());
    }

    #[test]
    fn dtmf_end_packets_all_lost_still_reports_digit() {
        let mut rx = Rfc4733Receiver::new();
        let now = t0();
        let pkts: Vec<_> = key_press_packets(DtmfKey::Hash, 200, 10)
            .into_iter()
            .filter(|p| p.payload[1] & 0x80 == 0)
            .collect();
        assert_eq!(run(&mut rx, now, 4000, &pkts), vec![DtmfKey::Hash]);
        assert!(rx.key_down());
        let deadline = rx.poll_timeout().unwrap();
        rx.handle_timeout(deadline);
        assert!(!rx.key_down());
        assert_eq!(rx.poll_timeout(), None);
    }

    #[test]
    fn dtmf_start_packets_lost_reports_on_first_end_packet() {
        let mut rx = Rfc4733Receiver::new();
        let pkts: Vec<_> = key_press_packets(DtmfKey::Digit(9), 120, 10)
            .into_iter()
            .filter(|p| p.payload[1] & 0x80 != 0)
            .collect();
        assert_eq!(run(&mut rx, t0(), 77, &pkts), vec![DtmfKey::Digit(9)]);
    }

    #[test]
    fn same_digit_twice_reports_twice() {
        let mut rx = Rfc4733Receiver::new();
        let now = t0();
        let pkts = key_press_packets(DtmfKey::Digit(1), 100, 10);
        assert_eq!(run(&mut rx, now, 8000, &pkts).len(), 1);
        assert_eq!(run(&mut rx, now + ms(300), 8000 + 2400, &pkts).len(), 1);
    }

    #[test]
    fn same_digit_twice_with_lost_end_packets_reports_twice() {
        let mut rx = Rfc4733Receiver::new();
        let now = t0();
        let pkts: Vec<_> = key_press_packets(DtmfKey::Digit(1), 100, 10)
            .into_iter()
            .filter(|p| p.payload[1] & 0x80 == 0)
            .collect();
        assert_eq!(run(&mut rx, now, 8000, &pkts).len(), 1);
        assert_eq!(run(&mut rx, now + ms(150), 8000 + 1200, &pkts).len(), 1);
    }

    #[test]
    fn late_end_packet_of_previous_event_is_ignored() {
        let mut rx = Rfc4733Receiver::new();
        let now = t0();
        let mut end = [0; 4];
        encode_event(DtmfKey::Digit(2), true, 10, 800, &mut end);
        assert!(rx.push(now, 100, true, &end).is_some());
        let mut start = [0; 4];
        encode_event(DtmfKey::Digit(3), false, 10, 160, &mut start);
        assert_eq!(
            rx.push(now + ms(200), 2000, true, &start),
            Some(DtmfKey::Digit(3))
        );
        assert_eq!(rx.push(now + ms(210), 100, false, &end), None);
    }

    #[test]
    fn timestamps_wrapping_around_still_report() {
        let mut rx = Rfc4733Receiver::new();
        let now = t0();
        let a = key_press_packets(DtmfKey::Star, 100, 10);
        assert_eq!(run(&mut rx, now, u32::MAX - 100, &a).len(), 1);
        assert_eq!(run(&mut rx, now + ms(300), 2000, &a).len(), 1);
    }

    #[test]
    fn sender_restarting_timestamps_after_a_pause_is_accepted() {
        let mut rx = Rfc4733Receiver::new();
        let now = t0();
        let a = key_press_packets(DtmfKey::Digit(4), 100, 10);
        assert_eq!(run(&mut rx, now, 1_000_000, &a).len(), 1);
        assert_eq!(run(&mut rx, now + ms(5000), 500, &a).len(), 1);
    }

    #[test]
    fn long_event_continuation_segment_is_not_a_new_press() {
        let mut rx = Rfc4733Receiver::new();
        let now = t0();
        let mut p = [0; 4];
        encode_event(DtmfKey::Digit(0), false, 10, 0xFFFF, &mut p);
        assert!(rx.push(now, 0, true, &p).is_some());
        encode_event(DtmfKey::Digit(0), false, 10, 400, &mut p);
        assert_eq!(rx.push(now + ms(50), 0xFFFF, false, &p), None);
        encode_event(DtmfKey::Digit(0), true, 10, 800, &mut p);
        assert_eq!(rx.push(now + ms(100), 0xFFFF, false, &p), None);
    }

    #[test]
    fn malformed_or_non_dtmf_payloads_are_ignored() {
        let mut rx = Rfc4733Receiver::new();
        let now = t0();
        assert_eq!(rx.push(now, 1, true, &[]), None);
        assert_eq!(rx.push(now, 1, true, &[5, 0, 1]), None);
        assert_eq!(rx.push(now, 1, true, &[32, 0, 1, 0]), None); // fax CNG event
        assert_eq!(rx.push(now, 1, true, &[255, 255, 255, 255]), None);
        assert!(!rx.key_down());
    }

    #[test]
    fn encode_decode_round_trip() {
        for code in 0..16 {
            let key = DtmfKey::from_event_code(code).unwrap();
            let mut b = [0; 4];
            encode_event(key, code % 2 == 0, 200, 1234, &mut b);
            let ev = decode_event(&b).unwrap();
            assert_eq!(
                (ev.key, ev.end, ev.volume, ev.duration),
                (key, code % 2 == 0, 63, 1234)
            );
        }
    }

    #[test]
    fn event_sender_marks_first_and_ends_with_three_end_packets() {
        let mut s = EventSender::new(DtmfKey::Digit(7), 100, 10);
        let mut frames = Vec::new();
        while let Some(f) = s.next_frame() {
            frames.push(f);
        }
        assert_eq!(frames.len(), 5 + 3);
        assert!(frames[0].0 && frames[1..].iter().all(|f| !f.0));
        let ends: Vec<_> = frames
            .iter()
            .filter_map(|f| decode_event(&f.1))
            .filter(|e| e.end)
            .collect();
        assert_eq!(ends.len(), 3);
        assert!(ends.iter().all(|e| e.duration == 800));
        let mut rx = Rfc4733Receiver::new();
        let now = t0();
        let got: Vec<_> = frames
            .iter()
            .filter_map(|f| rx.push(now, 42, f.0, &f.1))
            .collect();
        assert_eq!(got, vec![DtmfKey::Digit(7)]);
    }
}
