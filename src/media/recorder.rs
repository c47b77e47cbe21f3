//! The voice-note recorder: collects the caller's decoded 8 kHz PCM, packet by
//! packet, up to a maximum length, and writes it as a WAV file (8 kHz mono
//! 16-bit, what the nurse's browser plays). Pure: samples in, bytes out.

use std::io::Cursor;
use std::time::Duration;

/// Samples per second of G.711 telephony audio.
pub const SAMPLE_RATE: u32 = 8000;

/// Mean absolute sample level above which a packet counts as speech (quiet
/// line noise stays well under it; a voice is several times louder).
pub const SPEECH_LEVEL: u32 = 400;

/// The WAV could not be written (in memory, so practically never).
#[derive(Debug, thiserror::Error)]
#[error("cannot write the voice note as WAV: {0}")]
pub struct RecorderError(#[from] hound::Error);

/// Audio of one recording, capped at `max` (longer input is dropped).
#[derive(Debug, Clone)]
pub struct VoiceRecorder {
    samples: Vec<i16>,
    max_samples: usize,
    heard_speech: bool,
}

impl VoiceRecorder {
    /// An empty recording that keeps at most `max` of audio.
    pub fn new(max: Duration) -> VoiceRecorder {
        let max_samples = (max.as_millis() as usize).saturating_mul(SAMPLE_RATE as usize) / 1000;
        VoiceRecorder {
            // One second up front; a long note grows as it comes.
            samples: Vec::with_capacity(max_samples.min(SAMPLE_RATE as usize)),
            max_samples,
            heard_speech: false,
        }
    }

    /// Appends one packet's samples (what does not fit under the cap is
    /// dropped); returns whether the packet is speech.
    pub fn push(&mut self, frame: &[i16]) -> bool {
        let speech = is_speech(frame);
        self.heard_speech |= speech;
        let room = self.max_samples.saturating_sub(self.samples.len());
        self.samples
            .extend_from_slice(&frame[..frame.len().min(room)]);
        speech
    }

    /// Whether any packet so far was speech (an all-quiet note is not worth keeping).
    pub fn heard_speech(&self) -> bool {
        self.heard_speech
    }

    /// True when the cap is reached.
    pub fn is_full(&self) -> bool {
        self.samples.len() >= self.max_samples
    }

    /// Length of the audio so far.
    pub fn duration(&self) -> Duration {
        samples_to_duration(self.samples.len())
    }

    /// The samples so far.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// The recording as a WAV file.
    pub fn to_wav(&self) -> Result<Vec<u8>, RecorderError> {
        wav_bytes(&self.samples)
    }
}

fn samples_to_duration(n: usize) -> Duration {
    Duration::from_micros(n as u64 * 1_000_000 / u64::from(SAMPLE_RATE))
}

/// Whether one packet's audio is loud enough to be speech.
pub fn is_speech(frame: &[i16]) -> bool {
    if frame.is_empty() {
        return false;
    }
    let sum: u64 = frame.iter().map(|s| u64::from(s.unsigned_abs())).sum();
    sum / frame.len() as u64 > u64::from(SPEECH_LEVEL)
}

/// `samples` as an 8 kHz mono 16-bit PCM WAV file.
pub fn wav_bytes(samples: &[i16]) -> Result<Vec<u8>, RecorderError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    {
        let mut w = hound::WavWriter::new(&mut out, spec)?;
        let mut w16 = w.get_i16_writer(samples.len() as u32);
        for &s in samples {
            w16.write_sample(s);
        }
        w16.flush()?;
        w.finalize()?;
    }
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(wav: &[u8]) -> (hound::WavSpec, Vec<i16>) {
        let r = hound::WavReader::new(Cursor::new(wav)).unwrap();
        let spec = r.spec();
        let s = r.into_samples::<i16>().map(|s| s.unwrap()).collect();
        (spec, s)
    }

    #[test]
    fn wav_is_8khz_mono_16_bit_with_the_samples() {
        let mut rec = VoiceRecorder::new(Duration::from_secs(30));
        let frame: Vec<i16> = (0..160).map(|i| (i * 100) as i16).collect();
        assert!(rec.push(&frame), "loud enough to be speech");
        rec.push(&frame);
        let (spec, samples) = read(&rec.to_wav().unwrap());
        assert_eq!(spec.sample_rate, 8000);
        assert_eq!(spec.channels, 1);
        assert_eq!(spec.bits_per_sample, 16);
        assert_eq!(samples.len(), 320);
        assert_eq!(&samples[..160], &frame[..]);
        assert_eq!(rec.duration(), Duration::from_millis(40));
    }

    #[test]
    fn recording_is_capped_at_its_maximum_length() {
        let mut rec = VoiceRecorder::new(Duration::from_millis(50));
        let frame = [1000i16; 160];
        rec.push(&frame);
        rec.push(&frame);
        assert!(!rec.is_full());
        rec.push(&frame);
        rec.push(&frame);
        assert!(rec.is_full(), "the third 20 ms frame fills 50 ms");
        assert_eq!(rec.samples().len(), 400);
        assert_eq!(read(&rec.to_wav().unwrap()).1.len(), 400);
    }

    #[test]
    fn quiet_packets_are_not_speech_and_a_voice_is() {
        let mut rec = VoiceRecorder::new(Duration::from_secs(30));
        let quiet = [30i16; 160];
        let loud: Vec<i16> = (0..160)
            .map(|i| if i % 2 == 0 { 3000 } else { -3000 })
            .collect();
        assert!(!rec.push(&quiet));
        assert!(!rec.heard_speech());
        assert!(rec.push(&loud));
        assert!(rec.heard_speech());
        assert!(!rec.push(&quiet));
        assert!(rec.heard_speech(), "once heard, the note is worth keeping");
        assert!(!is_speech(&[]));
    }

    #[test]
    fn empty_recording_is_a_valid_empty_wav() {
        let rec = VoiceRecorder::new(Duration::from_secs(1));
        let wav = rec.to_wav().unwrap();
        assert_eq!(wav.len(), 44);
        assert!(read(&wav).1.is_empty());
    }
}
