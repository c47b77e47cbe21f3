//! In-band DTMF detection over 8 kHz linear audio with eight Goertzel filters.
//!
//! Fed 20 ms frames (160 samples). Quiet frames are rejected by an energy
//! gate before any filtering (most frames of most calls: this is the hot path
//! at thousands of calls). A frame holds a key when the strongest row and
//! column tones pass: twist (column up to 4 dB above / 8 dB below the row),
//! relative peak (every other row/column at least 8 dB weaker), and together
//! carry most of the frame's energy (speech and noise spread theirs). A key
//! is reported once it holds for two consecutive frames (40 ms), and another
//! key only after at least one frame without any key (debounce).

use super::DtmfKey;

/// Samples per analysis block (20 ms at 8 kHz).
pub const BLOCK: usize = 160;

const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Mean square below which a frame is skipped: about -30 dBm0 for the pair
/// (each tone amplitude ~250 of 32767), well under the -25 dBm0 per tone
/// that receivers must accept.
const MIN_MEAN_SQUARE: i64 = 250 * 250 / 2 * 2;
/// Column may be up to 4 dB stronger than the row (reverse twist).
const REVERSE_TWIST: f32 = 2.512;
/// Row may be up to 8 dB stronger than the column (normal twist).
const NORMAL_TWIST: f32 = 6.31;
/// Every other tone in the group must be at least 8 dB below the peak.
const RELATIVE_PEAK: f32 = 6.31;
/// The two tones must carry this share of the frame's energy.
const MIN_TONE_SHARE: f32 = 0.6;
/// Consecutive frames a key must hold before it is reported.
const HOLD_FRAMES: u8 = 2;
/// Frames without a key needed before the next report.
const GAP_FRAMES: u8 = 1;

fn coeff(f: f32) -> f32 {
    2.0 * (2.0 * std::f32::consts::PI * f / 8000.0).cos()
}

/// Goertzel power of the block at each of the 8 frequencies, scaled so that a
/// sine of amplitude `a` filling the block gives about `BLOCK * a^2 / 2`
/// (its energy), comparable with the sum of squares.
fn powers(block: &[i16; BLOCK]) -> [f32; 8] {
    let mut c = [0f32; 8];
    for (i, f) in ROWS.iter().chain(COLS.iter()).enumerate() {
        c[i] = coeff(*f);
    }
    let mut s1 = [0f32; 8];
    let mut s2 = [0f32; 8];
    for &x in block.iter() {
        let x = x as f32;
        for k in 0..8 {
            let s0 = x + c[k] * s1[k] - s2[k];
            s2[k] = s1[k];
            s1[k] = s0;
        }
    }
    let mut out = [0f32; 8];
    for k in 0..8 {
        let p = s1[k] * s1[k] + s2[k] * s2[k] - c[k] * s1[k] * s2[k];
        out[k] = p * 2.0 / BLOCK as f32;
    }
    out
}

/// The key held in one block, if any (stateless).
pub fn detect_block(block: &[i16; BLOCK]) -> Option<DtmfKey> {
    let energy: i64 = block.iter().map(|&s| (s as i64) * (s as i64)).sum();
    if energy < MIN_MEAN_SQUARE * BLOCK as i64 {
        return None;
    }
    let p = powers(block);
    let (rows, cols) = p.split_at(4);
    let best = |g: &[f32]| {
        let mut bi = 0;
        for i in 1..g.len() {
            if g[i] > g[bi] {
                bi = i;
            }
        }
        bi
    };
    let (r, c) = (best(rows), best(cols));
    let (rp, cp) = (rows[r], cols[c]);
    if cp > rp * REVERSE_TWIST || rp > cp * NORMAL_TWIST {
        return None;
    }
    let peak_ok = |g: &[f32], bi: usize| {
        g.iter()
            .enumerate()
            .all(|(i, &v)| i == bi || v * RELATIVE_PEAK < g[bi])
    };
    if !peak_ok(rows, r) || !peak_ok(cols, c) {
        return None;
    }
    if rp + cp < MIN_TONE_SHARE * energy as f32 {
        return None;
    }
    DtmfKey::from_char(KEYS[r][c])
}

/// Streaming in-band detector for one call. About 340 bytes; frames of any
/// length are accepted (160-sample frames take a copy-free fast path).
#[derive(Clone)]
pub struct InbandDetector {
    buf: [i16; BLOCK],
    fill: usize,
    candidate: Option<DtmfKey>,
    hold: u8,
    gap: u8,
    /// A key was reported and no gap has been seen since.
    latched: bool,
}

impl Default for InbandDetector {
    fn default() -> Self {
        InbandDetector {
            buf: [0; BLOCK],
            fill: 0,
            candidate: None,
            hold: 0,
            gap: GAP_FRAMES,
            latched: false,
        }
    }
}

impl std::fmt::Debug for InbandDetector {
    // No audio or key state in logs: it is the caller's input.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InbandDetector").finish_non_exhaustive()
    }
}

impl InbandDetector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds audio; returns a key when one has just been confirmed. With
    /// frames longer than 20 ms at most one key per call is returned, which
    /// is all the debounce allows anyway.
    pub fn push(&mut self, samples: &[i16]) -> Option<DtmfKey> {
        if self.fill == 0 && samples.len() == BLOCK {
            let block: &[i16; BLOCK] = samples.try_into().ok()?;
            return self.step(detect_block(block));
        }
        let mut found = None;
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (BLOCK - self.fill).min(rest.len());
            let (head, tail) = rest.split_at(take);
            self.buf[self.fill..self.fill + take].copy_from_slice(head);
            self.fill += take;
            rest = tail;
            if self.fill == BLOCK {
                self.fill = 0;
                let block = self.buf;
                if let Some(k) = self.step(detect_block(&block)) {
                    found = found.or(Some(k));
                }
            }
        }
        found
    }

    /// Clears all state (e.g. after a codec change).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    fn step(&mut self, key: Option<DtmfKey>) -> Option<DtmfKey> {
        let Some(k) = key else {
            self.candidate = None;
            self.hold = 0;
            self.gap = self.gap.saturating_add(1);
            if self.gap >= GAP_FRAMES {
                self.latched = false;
            }
            return None;
        };
        self.gap = 0;
        if self.candidate == Some(k) {
            self.hold = self.hold.saturating_add(1);
        } else {
            self.candidate = Some(k);
            self.hold = 1;
        }
        if self.hold >= HOLD_FRAMES && !self.latched {
            self.latched = true;
            return Some(k);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::tone_samples;
    use super::*;
    use crate::media::g711::Codec;

    /// Deterministic pseudo-random noise in -amp..amp.
    fn noise(n: usize, amp: i32, seed: u32) -> Vec<i16> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (((x >> 16) as i32 % (2 * amp + 1)) - amp) as i16
            })
            .collect()
    }

    fn mix(a: &[i16], b: &[i16]) -> Vec<i16> {
        a.iter()
            .zip(b)
            .map(|(x, y)| (*x as i32 + *y as i32).clamp(-32768, 32767) as i16)
            .collect()
    }

    fn through(codec: Codec, s: &[i16]) -> Vec<i16> {
        s.iter().map(|&x| codec.decode(codec.encode(x))).collect()
    }

    fn detect_all(samples: &[i16], frame: usize) -> Vec<DtmfKey> {
        let mut d = InbandDetector::new();
        samples.chunks(frame).filter_map(|c| d.push(c)).collect()
    }

    fn silence(ms: usize) -> Vec<i16> {
        vec![0; ms * 8]
    }

    fn all_keys() -> Vec<DtmfKey> {
        (0..16).filter_map(DtmfKey::from_event_code).collect()
    }

    #[test]
    fn each_of_the_16_keys_is_detected_once() {
        for key in all_keys() {
            let mut s = silence(30);
            s.extend(tone_samples(key, 100, 8000));
            s.extend(silence(60));
            assert_eq!(detect_all(&s, BLOCK), vec![key], "key {key}");
        }
    }

    #[test]
    fn tones_with_noise_through_g711_are_detected() {
        for (i, key) in all_keys().into_iter().enumerate() {
            for codec in [Codec::Pcmu, Codec::Pcma] {
                let mut s = silence(13);
                s.extend(tone_samples(key, 90, 4000));
                s.extend(silence(50));
                let s = mix(&s, &noise(s.len(), 300, i as u32 + 1));
                let s = through(codec, &s);
                assert_eq!(detect_all(&s, BLOCK), vec![key], "key {key} {codec:?}");
            }
        }
    }

    #[test]
    fn a_digit_sequence_with_short_pauses_is_detected_in_order() {
        let keys: Vec<_> = "19#*0".chars().filter_map(DtmfKey::from_char).collect();
        let mut s = Vec::new();
        for k in &keys {
            s.extend(tone_samples(*k, 70, 6000));
            s.extend(silence(50));
        }
        let s = through(Codec::Pcmu, &s);
        assert_eq!(detect_all(&s, BLOCK), keys);
    }

    #[test]
    fn same_key_twice_after_a_gap_reports_twice() {
        let k = DtmfKey::Digit(8);
        let mut s = tone_samples(k, 80, 6000);
        s.extend(silence(60));
        s.extend(tone_samples(k, 80, 6000));
        assert_eq!(detect_all(&s, BLOCK), vec![k, k]);
    }

    #[test]
    fn a_long_press_reports_once() {
        let k = DtmfKey::Digit(3);
        let s = tone_samples(k, 2000, 6000);
        assert_eq!(detect_all(&s, BLOCK), vec![k]);
    }

    #[test]
    fn odd_frame_sizes_are_buffered() {
        let k = DtmfKey::Letter('B');
        let mut s = silence(7);
        s.extend(tone_samples(k, 100, 6000));
        s.extend(silence(40));
        assert_eq!(detect_all(&s, 240), vec![k]);
        assert_eq!(detect_all(&s, 37), vec![k]);
    }

    #[test]
    fn a_single_frame_blip_is_not_a_key() {
        let mut s = silence(20);
        s.extend(tone_samples(DtmfKey::Digit(1), 20, 8000));
        s.extend(silence(40));
        assert!(detect_all(&s, BLOCK).is_empty());
    }

    #[test]
    fn quiet_tones_below_the_gate_are_ignored() {
        let s = tone_samples(DtmfKey::Digit(5), 200, 200);
        assert!(detect_all(&s, BLOCK).is_empty());
    }

    #[test]
    fn excessive_twist_is_rejected() {
        // Column 12 dB below the row: outside the 8 dB normal twist.
        let (lo, hi) = DtmfKey::Digit(5).frequencies();
        let s: Vec<i16> = (0..1600)
            .map(|i| {
                let t = i as f32 / 8000.0;
                (6000.0 * (2.0 * std::f32::consts::PI * lo * t).sin()
                    + 1500.0 * (2.0 * std::f32::consts::PI * hi * t).sin()) as i16
            })
            .collect();
        assert!(detect_all(&s, BLOCK).is_empty());
    }

    #[test]
    fn speech_like_signals_are_not_detected() {
        // A vowel-like harmonic series (f0 sweeping 100-220 Hz) with formants.
        let mut vowel = Vec::new();
        let mut phase = 0f32;
        for i in 0..8000 * 3 {
            let f0 = 100.0 + 120.0 * ((i as f32 / 8000.0) * 1.3).sin().abs();
            phase += 2.0 * std::f32::consts::PI * f0 / 8000.0;
            let mut v = 0f32;
            for h in 1..30 {
                let f = f0 * h as f32;
                let formant = 1.0 / (1.0 + ((f - 700.0) / 300.0).powi(2))
                    + 0.7 / (1.0 + ((f - 1220.0) / 250.0).powi(2))
                    + 0.3 / (1.0 + ((f - 2600.0) / 400.0).powi(2));
                v += formant * (phase * h as f32).sin();
            }
            vowel.push((v * 3000.0) as i16);
        }
        assert!(detect_all(&through(Codec::Pcmu, &vowel), BLOCK).is_empty());
        let loud_noise = noise(8000 * 3, 12000, 99);
        assert!(detect_all(&through(Codec::Pcma, &loud_noise), BLOCK).is_empty());
        // A slow chirp through the DTMF band.
        let chirp: Vec<i16> = (0..8000 * 3)
            .map(|i| {
                let t = i as f32 / 8000.0;
                (9000.0 * (2.0 * std::f32::consts::PI * (600.0 * t + 200.0 * t * t)).sin()) as i16
            })
            .collect();
        assert!(detect_all(&chirp, BLOCK).is_empty());
    }

    #[test]
    fn silent_frames_skip_filtering() {
        let block = [0i16; BLOCK];
        assert_eq!(detect_block(&block), None);
        let mut d = InbandDetector::new();
        for _ in 0..100 {
            assert_eq!(d.push(&block), None);
        }
    }
}
