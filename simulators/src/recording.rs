//! What a simulated caller heard: decoded frames with arrival times, RFC 4733
//! events, and a WAV writer (8 kHz mono 16-bit) for listening to a test call.

use std::path::Path;
use std::time::Duration;

use phone_entrance::media::dtmf::DtmfKey;

/// One received audio packet, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedFrame {
    /// Arrival time since media started (the answer).
    pub at: Duration,
    pub seq: u16,
    pub timestamp: u32,
    pub samples: Vec<i16>,
}

/// One RFC 4733 event from the peer, merged across its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedEvent {
    /// Arrival of its first packet since media started.
    pub at: Duration,
    /// The key, if the event code is a DTMF key.
    pub key: Option<DtmfKey>,
    pub event: u8,
    /// RTP timestamp identifying the event.
    pub timestamp: u32,
    /// An end packet was seen.
    pub ended: bool,
    /// Longest duration reported, in samples.
    pub duration: u16,
}

/// The received side of a call.
#[derive(Debug, Clone, Default)]
pub struct ReceivedAudio {
    frames: Vec<ReceivedFrame>,
    events: Vec<ReceivedEvent>,
}

/// The WAV file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing WAV: {0}")]
pub struct WavError(#[from] hound::Error);

/// Gaps longer than this in RTP time are not filled with silence (a new
/// timestamp base, not a pause).
const MAX_FILL_SAMPLES: u32 = 8000 * 10;

impl ReceivedAudio {
    pub(crate) fn push_frame(&mut self, at: Duration, seq: u16, timestamp: u32, samples: Vec<i16>) {
        self.frames.push(ReceivedFrame {
            at,
            seq,
            timestamp,
            samples,
        });
    }

    pub(crate) fn push_event(&mut self, ev: ReceivedEvent) {
        if let Some(e) = self
            .events
            .iter_mut()
            .rev()
            .take(4)
            .find(|e| e.timestamp == ev.timestamp && e.event == ev.event)
        {
            e.ended |= ev.ended;
            e.duration = e.duration.max(ev.duration);
        } else {
            self.events.push(ev);
        }
    }

    /// Audio frames in arrival order.
    pub fn frames(&self) -> &[ReceivedFrame] {
        &self.frames
    }

    /// Telephone events in arrival order, one per key press.
    pub fn events(&self) -> &[ReceivedEvent] {
        &self.events
    }

    /// The received keys as a string (e.g. `"12#"`).
    pub fn event_keys(&self) -> String {
        self.events
            .iter()
            .filter_map(|e| e.key.map(|k| k.to_char()))
            .collect()
    }

    /// All audio as one 8 kHz signal placed by RTP timestamp: pauses in the
    /// sender's timeline become silence, duplicates and late frames are dropped.
    pub fn samples(&self) -> Vec<i16> {
        let mut out: Vec<i16> = Vec::new();
        let mut base: Option<(u32, usize)> = None; // (timestamp, index in out)
        for f in &self.frames {
            let pos = match base {
                None => {
                    base = Some((f.timestamp, 0));
                    0
                }
                Some((ts0, idx0)) => {
                    let delta = f.timestamp.wrapping_sub(ts0);
                    let expected = idx0 + delta as usize;
                    if delta > u32::MAX / 2 || expected + f.samples.len() <= out.len() {
                        continue; // late or duplicate
                    }
                    if expected > out.len() + MAX_FILL_SAMPLES as usize {
                        base = Some((f.timestamp, out.len()));
                        out.len()
                    } else {
                        expected
                    }
                }
            };
            if pos > out.len() {
                out.resize(pos, 0);
            }
            out.truncate(pos);
            out.extend_from_slice(&f.samples);
        }
        out
    }

    /// How many received frames are dominated by a tone of `hz` (Goertzel,
    /// see [`crate::tone::frame_has_tone`]): e.g. "the caller heard the
    /// nurse's 1000 Hz" or "no 440 Hz prompt after the bridge".
    pub fn tone_frames(&self, hz: f32) -> usize {
        self.frames
            .iter()
            .filter(|f| crate::tone::frame_has_tone(&f.samples, hz))
            .count()
    }

    /// Total received audio duration by sample count.
    pub fn duration(&self) -> Duration {
        let n: usize = self.frames.iter().map(|f| f.samples.len()).sum();
        Duration::from_micros(n as u64 * 125)
    }

    /// Writes `samples()` as an 8 kHz mono 16-bit WAV file.
    pub fn save_wav(&self, path: &Path) -> Result<(), WavError> {
        write_wav(path, &self.samples())
    }
}

/// Writes 8 kHz mono 16-bit samples to a WAV file.
pub fn write_wav(path: &Path, samples: &[i16]) -> Result<(), WavError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    for s in samples {
        w.write_sample(*s)?;
    }
    w.finalize()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio(frames: &[(u32, i16)]) -> ReceivedAudio {
        let mut a = ReceivedAudio::default();
        for (i, (ts, v)) in frames.iter().enumerate() {
            a.push_frame(
                Duration::from_millis(i as u64 * 20),
                i as u16,
                *ts,
                vec![*v; 160],
            );
        }
        a
    }

    #[test]
    fn tone_frames_counts_only_frames_of_that_frequency() {
        let mut a = ReceivedAudio::default();
        for i in 0..10u64 {
            let hz = if i < 6 { 1000.0 } else { 440.0 };
            let f = crate::tone::sine(hz, 8000, i * 160, 160);
            a.push_frame(Duration::from_millis(i * 20), i as u16, (i * 160) as u32, f);
        }
        a.push_frame(Duration::from_millis(200), 10, 1600, vec![0; 160]);
        assert_eq!(a.tone_frames(1000.0), 6);
        assert_eq!(a.tone_frames(440.0), 4);
        assert_eq!(a.tone_frames(600.0), 0);
    }

    #[test]
    fn samples_fill_timestamp_gaps_and_drop_duplicates() {
        let a = audio(&[(1000, 1), (1160, 2), (1160, 9), (1640, 3)]);
        let s = a.samples();
        assert_eq!(s.len(), 160 * 5);
        assert_eq!(s[0], 1);
        assert_eq!(s[160], 2);
        assert_eq!(s[320], 0);
        assert_eq!(s[640], 3);
    }

    #[test]
    fn timestamp_jump_starts_a_new_segment() {
        let a = audio(&[(u32::MAX - 159, 1), (1_000_000, 2)]);
        assert_eq!(a.samples().len(), 320);
    }

    #[test]
    fn wav_file_is_valid_8khz_mono() {
        let a = audio(&[(0, 100), (160, -100)]);
        let path = std::env::temp_dir().join(format!("pe-caller-test-{}.wav", std::process::id()));
        a.save_wav(&path).unwrap();
        let mut r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.spec().sample_rate, 8000);
        assert_eq!(r.spec().channels, 1);
        assert_eq!(r.spec().bits_per_sample, 16);
        let s: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
        assert_eq!(s.len(), 320);
        assert_eq!((s[0], s[319]), (100, -100));
        let _ = std::fs::remove_file(path);
    }
}
