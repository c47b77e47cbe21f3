//! The caller's media leg as a sans-IO state machine: paced 20 ms sending
//! (silence, queued audio, in-band tones or RFC 4733 events) and a receiver that
//! records decoded audio with arrival times, telephone events and speech levels.
//! Drivers call `poll_transmit(now)` until it returns `None`, then sleep until
//! `poll_timeout()`; `handle_rtp(now, ..)` for every datagram from the peer.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use phone_entrance::media::dtmf::{tone_samples, DtmfKey};
use phone_entrance::media::g711::Codec;

use crate::recording::{ReceivedAudio, ReceivedEvent};
use crate::rtp::{self, RtpHeader, TelephoneEvent};

/// Samples per 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
const FRAME: Duration = Duration::from_millis(20);
/// RFC 4733 update interval while a key is held.
const EVENT_UPDATE: Duration = Duration::from_millis(50);
/// Pause after each key so the far end sees distinct presses.
const INTER_DIGIT_GAP_MS: u32 = 80;
/// After a stall longer than this, jump ahead instead of bursting old frames.
const MAX_CATCH_UP: Duration = Duration::from_millis(200);
/// Peak amplitude of generated in-band tones (about -12 dBFS per tone pair).
const TONE_AMPLITUDE: i16 = 8000;

/// How a key press is put into the media stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaDigit {
    /// RFC 4733 telephone-event packets.
    Rfc4733,
    /// DTMF tone pair mixed into the G.711 audio.
    InBand,
}

/// Fixed parameters of one leg, fixed once the SDP answer is known.
#[derive(Debug, Clone, Copy)]
pub struct MediaConfig {
    pub codec: Codec,
    pub payload_type: u8,
    pub telephone_event_pt: Option<u8>,
    pub ssrc: u32,
    pub initial_seq: u16,
    pub initial_timestamp: u32,
    /// Keep decoded frames (calls in tests: yes; load runs: no, stats only).
    pub record_audio: bool,
    /// Mean absolute sample level above which a frame counts as speech.
    pub speech_level: u16,
}

impl MediaConfig {
    /// Defaults for a codec, with random-ish identifiers from `seed`.
    pub fn new(codec: Codec, payload_type: u8, telephone_event_pt: Option<u8>, seed: u64) -> Self {
        MediaConfig {
            codec,
            payload_type,
            telephone_event_pt,
            ssrc: (seed as u32) | 1,
            initial_seq: (seed >> 32) as u16,
            initial_timestamp: (seed >> 16) as u32,
            record_audio: true,
            speech_level: DEFAULT_SPEECH_LEVEL,
        }
    }
}

/// Default speech threshold: well above G.711 idle noise, far below any prompt.
pub const DEFAULT_SPEECH_LEVEL: u16 = 200;

enum Job {
    Samples(VecDeque<i16>),
    Event { code: u8, duration_ms: u32 },
}

struct ActiveEvent {
    code: u8,
    timestamp: u32,
    total: u16,
    started: Instant,
    next_at: Instant,
    ends_sent: u8,
}

/// What a received datagram was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxKind {
    Audio,
    Event,
    /// Unknown payload type or not RTP at all: ignored.
    Ignored,
}

/// Counters a driver aggregates (load runs) or reports (single calls).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    pub packets_out: u64,
    pub packets_in: u64,
    pub digits_sent: u64,
}

/// One call's RTP sending and receiving. See the module docs for the drive rule.
pub struct MediaLeg {
    cfg: MediaConfig,
    seq: u16,
    ts: u32,
    next_frame: Option<Instant>,
    jobs: VecDeque<Job>,
    event: Option<ActiveEvent>,
    stats: MediaStats,
    started_at: Option<Instant>,
    last_arrival: Option<Instant>,
    last_loud: Option<Instant>,
    received: ReceivedAudio,
}

impl MediaLeg {
    pub fn new(cfg: MediaConfig) -> Self {
        MediaLeg {
            cfg,
            seq: cfg.initial_seq,
            ts: cfg.initial_timestamp,
            next_frame: None,
            jobs: VecDeque::new(),
            event: None,
            stats: MediaStats::default(),
            started_at: None,
            last_arrival: None,
            last_loud: None,
            received: ReceivedAudio::default(),
        }
    }

    /// The negotiated parameters.
    pub fn config(&self) -> &MediaConfig {
        &self.cfg
    }

    /// Starts the 20 ms clock (at answer); the first frame is due at `now`.
    pub fn start(&mut self, now: Instant) {
        if self.next_frame.is_none() {
            self.next_frame = Some(now);
            self.started_at = Some(now);
        }
    }

    /// Stops sending (after hangup); received data stays readable.
    pub fn stop(&mut self) {
        self.next_frame = None;
        self.event = None;
        self.jobs.clear();
    }

    /// Queues a key press after anything already queued. Falls back to in-band
    /// when RFC 4733 was asked for but not negotiated (a real phone does this).
    pub fn queue_digit(&mut self, key: DtmfKey, method: MediaDigit, duration_ms: u32) {
        let rfc = method == MediaDigit::Rfc4733 && self.cfg.telephone_event_pt.is_some();
        if rfc {
            self.jobs.push_back(Job::Event {
                code: key.event_code(),
                duration_ms: duration_ms.max(40),
            });
        } else {
            self.jobs.push_back(Job::Samples(
                tone_samples(key, duration_ms, TONE_AMPLITUDE).into(),
            ));
        }
        self.queue_audio(vec![0; (INTER_DIGIT_GAP_MS * 8) as usize]);
        self.stats.digits_sent += 1;
    }

    /// Queues linear 8 kHz samples to send (e.g. a spoken voice note).
    pub fn queue_audio(&mut self, samples: Vec<i16>) {
        if let Some(Job::Samples(q)) = self.jobs.back_mut() {
            q.extend(samples);
        } else {
            self.jobs.push_back(Job::Samples(samples.into()));
        }
    }

    /// True while queued digits or audio have not all been sent.
    pub fn is_sending_queued(&self) -> bool {
        !self.jobs.is_empty() || self.event.is_some()
    }

    /// When `poll_transmit` next has something to send.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let frame = self.next_frame?;
        Some(match &self.event {
            Some(e) => frame.min(e.next_at),
            None => frame,
        })
    }

    /// The next packet due at `now`, written into `out` (cleared first).
    /// Returns false when nothing more is due.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        out.clear();
        let Some(mut next_frame) = self.next_frame else {
            return false;
        };
        if now.saturating_duration_since(next_frame) > MAX_CATCH_UP {
            while now.saturating_duration_since(next_frame) > FRAME {
                next_frame += FRAME;
                self.ts = self.ts.wrapping_add(FRAME_SAMPLES as u32);
            }
            self.next_frame = Some(next_frame);
        }
        loop {
            if let Some(ev) = &self.event {
                if ev.next_at <= now && ev.next_at <= next_frame {
                    self.send_event_packet(out);
                    return true;
                }
            }
            if next_frame > now {
                return false;
            }
            let slot_ts = self.ts;
            let slot_at = next_frame;
            self.ts = self.ts.wrapping_add(FRAME_SAMPLES as u32);
            next_frame += FRAME;
            self.next_frame = Some(next_frame);
            if self.event.is_some() {
                continue; // audio is muted while an event plays
            }
            if let Some(Job::Event { code, duration_ms }) = self.jobs.front() {
                let total = (duration_ms * 8).min(u16::MAX as u32) as u16;
                self.event = Some(ActiveEvent {
                    code: *code,
                    timestamp: slot_ts,
                    total,
                    started: slot_at,
                    next_at: slot_at,
                    ends_sent: 0,
                });
                self.jobs.pop_front();
                self.send_event_packet(out);
                return true;
            }
            self.send_audio_frame(slot_ts, out);
            return true;
        }
    }

    fn send_audio_frame(&mut self, ts: u32, out: &mut Vec<u8>) {
        let mut frame = [self.cfg.codec.silence(); FRAME_SAMPLES];
        if let Some(Job::Samples(q)) = self.jobs.front_mut() {
            for b in frame.iter_mut() {
                match q.pop_front() {
                    Some(s) => *b = self.cfg.codec.encode(s),
                    None => break,
                }
            }
            if q.is_empty() {
                self.jobs.pop_front();
            }
        }
        let h = RtpHeader {
            marker: false,
            payload_type: self.cfg.payload_type,
            seq: self.next_seq(),
            timestamp: ts,
            ssrc: self.cfg.ssrc,
        };
        rtp::write_packet(&h, &frame, out);
        self.stats.packets_out += 1;
    }

    fn send_event_packet(&mut self, out: &mut Vec<u8>) {
        let Some(pt) = self.cfg.telephone_event_pt else {
            self.event = None;
            return;
        };
        let Some(mut ev) = self.event.take() else {
            return;
        };
        let elapsed = ev.next_at.saturating_duration_since(ev.started);
        let elapsed_samples = (elapsed.as_micros() / 125).min(u16::MAX as u128) as u16;
        let first = ev.ends_sent == 0 && elapsed.is_zero();
        let end = elapsed_samples >= ev.total;
        let payload = TelephoneEvent {
            event: ev.code,
            end,
            volume: 10,
            duration: if end {
                ev.total
            } else {
                elapsed_samples.max(FRAME_SAMPLES as u16)
            },
        };
        let h = RtpHeader {
            marker: first,
            payload_type: pt,
            seq: self.next_seq(),
            timestamp: ev.timestamp,
            ssrc: self.cfg.ssrc,
        };
        rtp::write_packet(&h, &payload.encode(), out);
        self.stats.packets_out += 1;
        if end {
            ev.ends_sent += 1;
            if ev.ends_sent >= 3 {
                return; // event finished; audio resumes on the next slot
            }
            ev.next_at += FRAME;
        } else {
            let end_at = ev.started + Duration::from_micros(ev.total as u64 * 125);
            ev.next_at = (ev.next_at + EVENT_UPDATE).min(end_at);
        }
        self.event = Some(ev);
    }

    fn next_seq(&mut self) -> u16 {
        let s = self.seq;
        self.seq = self.seq.wrapping_add(1);
        s
    }

    /// Feeds one datagram from the peer. Returns what it was and the gap since
    /// the previous RTP packet (for inter-arrival statistics).
    pub fn handle_rtp(&mut self, now: Instant, datagram: &[u8]) -> (RxKind, Option<Duration>) {
        let Ok(p) = rtp::parse(datagram) else {
            return (RxKind::Ignored, None);
        };
        let pt = p.header.payload_type;
        let kind = if Some(pt) == self.cfg.telephone_event_pt {
            RxKind::Event
        } else if pt == self.cfg.payload_type || pt == self.cfg.codec.payload_type() {
            RxKind::Audio
        } else {
            return (RxKind::Ignored, None);
        };
        self.stats.packets_in += 1;
        let gap = self.last_arrival.map(|t| now.saturating_duration_since(t));
        self.last_arrival = Some(now);
        let since_start = now.saturating_duration_since(self.started_at.unwrap_or(now));
        match kind {
            RxKind::Event => {
                if let Some(ev) = TelephoneEvent::decode(p.payload) {
                    self.received.push_event(ReceivedEvent {
                        at: since_start,
                        key: DtmfKey::from_event_code(ev.event),
                        event: ev.event,
                        timestamp: p.header.timestamp,
                        ended: ev.end,
                        duration: ev.duration,
                    });
                }
            }
            _ => {
                let level = mean_abs(self.cfg.codec, p.payload);
                if level >= self.cfg.speech_level {
                    self.last_loud = Some(now);
                }
                if self.cfg.record_audio {
                    let mut samples = vec![0i16; p.payload.len()];
                    self.cfg.codec.decode_into(p.payload, &mut samples);
                    self.received.push_frame(
                        since_start,
                        p.header.seq,
                        p.header.timestamp,
                        samples,
                    );
                }
            }
        }
        (kind, gap)
    }

    /// When the last frame louder than the speech level arrived.
    pub fn last_speech(&self) -> Option<Instant> {
        self.last_loud
    }

    /// When the last RTP packet arrived.
    pub fn last_packet(&self) -> Option<Instant> {
        self.last_arrival
    }

    /// Everything received so far (frames only if `record_audio`).
    pub fn received(&self) -> &ReceivedAudio {
        &self.received
    }

    /// Counters since the leg was created.
    pub fn stats(&self) -> MediaStats {
        self.stats
    }
}

fn mean_abs(codec: Codec, payload: &[u8]) -> u16 {
    if payload.is_empty() {
        return 0;
    }
    let sum: u64 = payload
        .iter()
        .map(|b| codec.decode(*b).unsigned_abs() as u64)
        .sum();
    (sum / payload.len() as u64).min(u16::MAX as u64) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(te: Option<u8>) -> MediaLeg {
        MediaLeg::new(MediaConfig::new(Codec::Pcmu, 0, te, 0x1234_5678_9abc_def0))
    }

    /// Drives the leg for `ms` milliseconds in 1 ms steps; returns (time offset, packet).
    fn drive(leg: &mut MediaLeg, t0: Instant, ms: u64) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for i in 0..=ms {
            let now = t0 + Duration::from_millis(i);
            while leg.poll_transmit(now, &mut buf) {
                out.push((i, buf.clone()));
            }
        }
        out
    }

    #[test]
    fn silence_is_sent_every_20_ms_with_steady_timestamps() {
        let mut l = leg(None);
        let t0 = Instant::now();
        l.start(t0);
        let pkts = drive(&mut l, t0, 199);
        assert_eq!(pkts.len(), 10);
        for (i, (at, p)) in pkts.iter().enumerate() {
            assert_eq!(*at, i as u64 * 20);
            let p = rtp::parse(p).unwrap();
            assert_eq!(p.payload, &[0xff; 160][..]);
            let first = rtp::parse(&pkts[0].1).unwrap().header;
            assert_eq!(
                p.header.timestamp.wrapping_sub(first.timestamp),
                160 * i as u32
            );
            assert_eq!(p.header.seq.wrapping_sub(first.seq), i as u16);
        }
    }

    #[test]
    fn late_tick_catches_up_without_drift() {
        let mut l = leg(None);
        let t0 = Instant::now();
        l.start(t0);
        let mut buf = Vec::new();
        let mut n = 0;
        while l.poll_transmit(t0 + Duration::from_millis(70), &mut buf) {
            n += 1;
        }
        assert_eq!(n, 4); // frames due at 0, 20, 40, 60
        assert_eq!(l.poll_timeout(), Some(t0 + Duration::from_millis(80)));
    }

    #[test]
    fn rfc4733_digit_has_marker_start_50ms_updates_and_three_ends() {
        let mut l = leg(Some(101));
        let t0 = Instant::now();
        l.start(t0);
        l.queue_digit(DtmfKey::Hash, MediaDigit::Rfc4733, 160);
        let pkts = drive(&mut l, t0, 400);
        let events: Vec<(u64, RtpHeader, TelephoneEvent)> = pkts
            .iter()
            .filter_map(|(at, p)| {
                let p = rtp::parse(p).unwrap();
                (p.header.payload_type == 101)
                    .then(|| (*at, p.header, TelephoneEvent::decode(p.payload).unwrap()))
            })
            .collect();
        let times: Vec<u64> = events.iter().map(|e| e.0).collect();
        assert_eq!(times, vec![0, 50, 100, 150, 160, 180, 200]);
        assert!(events[0].1.marker);
        assert!(events[1..].iter().all(|e| !e.1.marker));
        assert!(events
            .iter()
            .all(|e| e.1.timestamp == events[0].1.timestamp));
        assert!(events.iter().all(|e| e.2.event == 11));
        let ends: Vec<_> = events.iter().filter(|e| e.2.end).collect();
        assert_eq!(ends.len(), 3);
        assert!(ends.iter().all(|e| e.2.duration == 1280));
        assert_eq!(events[1].2.duration, 400);
        // No audio while the key is down; audio resumes afterwards.
        let audio: Vec<u64> = pkts
            .iter()
            .filter(|(_, p)| rtp::parse(p).unwrap().header.payload_type == 0)
            .map(|(at, _)| *at)
            .collect();
        assert!(audio.iter().all(|t| *t >= 200));
        assert!(!audio.is_empty());
        assert_eq!(l.stats().digits_sent, 1);
    }

    #[test]
    fn inband_digit_is_loud_audio_and_falls_back_without_telephone_event() {
        let mut tx = leg(None);
        let t0 = Instant::now();
        tx.start(t0);
        tx.queue_digit(DtmfKey::Digit(5), MediaDigit::Rfc4733, 100);
        let pkts = drive(&mut tx, t0, 300);
        let mut rx = leg(None);
        rx.start(t0);
        for (at, p) in &pkts {
            rx.handle_rtp(t0 + Duration::from_millis(*at), p);
        }
        assert_eq!(rx.last_speech(), Some(t0 + Duration::from_millis(80)));
        assert_eq!(rx.received().frames().len(), pkts.len());
        assert_eq!(rx.stats().packets_in, pkts.len() as u64);
    }

    #[test]
    fn received_events_are_recorded_once_per_timestamp() {
        let mut tx = leg(Some(101));
        let t0 = Instant::now();
        tx.start(t0);
        tx.queue_digit(DtmfKey::Digit(1), MediaDigit::Rfc4733, 100);
        tx.queue_digit(DtmfKey::Digit(1), MediaDigit::Rfc4733, 100);
        let pkts = drive(&mut tx, t0, 600);
        let mut rx = leg(Some(101));
        rx.start(t0);
        for (at, p) in &pkts {
            rx.handle_rtp(t0 + Duration::from_millis(*at), p);
        }
        let keys: Vec<_> = rx.received().events().iter().map(|e| e.key).collect();
        assert_eq!(keys, vec![Some(DtmfKey::Digit(1)), Some(DtmfKey::Digit(1))]);
        assert!(rx.received().events().iter().all(|e| e.ended));
    }

    #[test]
    fn garbage_and_unknown_payload_types_are_ignored() {
        let mut rx = leg(Some(101));
        let t0 = Instant::now();
        assert_eq!(rx.handle_rtp(t0, &[1, 2, 3]).0, RxKind::Ignored);
        let mut p = Vec::new();
        let h = RtpHeader {
            marker: false,
            payload_type: 96,
            seq: 1,
            timestamp: 1,
            ssrc: 1,
        };
        rtp::write_packet(&h, &[0; 160], &mut p);
        assert_eq!(rx.handle_rtp(t0, &p).0, RxKind::Ignored);
        assert_eq!(rx.stats().packets_in, 0);
    }
}
