//! Tone generation and detection (Goertzel) for 8 kHz audio frames: the mini
//! UAS plays a chosen frequency and counts frames that carry one; the caller
//! counts frames of a chosen frequency in what it heard (e.g. "the held
//! caller hears the nurse's phone").

/// Sample rate of all simulator audio.
pub const SAMPLE_RATE: f32 = 8000.0;

/// Frames quieter than this mean absolute level never count as a tone
/// (G.711 idle noise and silence stay out).
pub const MIN_TONE_LEVEL: u32 = 100;

/// Share of a frame's energy that must sit at the frequency for a match.
/// A clean tone scores about 1.0; another tone 150 Hz or more away scores
/// under 0.1 in a 20 ms frame.
pub const TONE_SHARE: f32 = 0.4;

/// Goertzel power of `hz` in `samples`, normalised to the frame's energy:
/// about 1.0 for a pure sine at `hz`, near 0.0 for silence or other tones.
pub fn tone_share(samples: &[i16], hz: f32) -> f32 {
    let n = samples.len();
    if n == 0 {
        return 0.0;
    }
    let w = 2.0 * std::f32::consts::PI * hz / SAMPLE_RATE;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    let mut energy = 0.0f32;
    for &x in samples {
        let x = f32::from(x);
        energy += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    if energy <= 0.0 {
        return 0.0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power / (n as f32 * energy)
}

/// Whether a frame is loud enough and dominated by `hz`.
pub fn frame_has_tone(samples: &[i16], hz: f32) -> bool {
    if samples.is_empty() {
        return false;
    }
    let level: u64 = samples
        .iter()
        .map(|s| u64::from(s.unsigned_abs()))
        .sum::<u64>()
        / samples.len() as u64;
    level >= u64::from(MIN_TONE_LEVEL) && tone_share(samples, hz) >= TONE_SHARE
}

/// `count` samples of a sine at `hz` with peak `amplitude`, starting at
/// sample index `start` (so consecutive frames join without a click).
pub fn sine(hz: f32, amplitude: i16, start: u64, count: usize) -> Vec<i16> {
    (0..count)
        .map(|i| {
            let t = (start + i as u64) as f64 / f64::from(SAMPLE_RATE);
            let v = f64::from(amplitude) * (2.0 * std::f64::consts::PI * f64::from(hz) * t).sin();
            v as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Codec;

    #[test]
    fn pure_tone_is_detected_at_its_frequency_only() {
        let f = sine(1000.0, 8000, 0, 160);
        assert!(frame_has_tone(&f, 1000.0));
        assert!(!frame_has_tone(&f, 600.0));
        assert!(!frame_has_tone(&f, 440.0));
        assert!(tone_share(&f, 1000.0) > 0.9);
    }

    #[test]
    fn tone_survives_g711_and_any_frame_offset() {
        for start in [0u64, 37, 160 * 51] {
            for codec in [Codec::Pcmu, Codec::Pcma] {
                let f: Vec<i16> = sine(600.0, 6000, start, 160)
                    .into_iter()
                    .map(|s| codec.decode(codec.encode(s)))
                    .collect();
                assert!(frame_has_tone(&f, 600.0), "{codec:?} at {start}");
                assert!(!frame_has_tone(&f, 440.0));
            }
        }
    }

    #[test]
    fn silence_quiet_noise_and_mixtures_are_not_a_tone() {
        assert!(!frame_has_tone(&[0; 160], 440.0));
        assert!(!frame_has_tone(&[], 440.0));
        assert!(!frame_has_tone(&sine(440.0, 50, 0, 160), 440.0));
        // A DTMF pair (697 + 1209 Hz) is not 1000 Hz.
        let a = sine(697.0, 4000, 0, 160);
        let b = sine(1209.0, 4000, 0, 160);
        let pair: Vec<i16> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        assert!(!frame_has_tone(&pair, 1000.0));
    }
}
