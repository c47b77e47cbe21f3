//! The prompt library: every recorded prompt, encoded once at start-up to
//! both PCMU and PCMA as 20 ms frames in one shared immutable buffer per
//! codec. Calls hold a `ClipId` and a frame index, never a copy of audio.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::MediaError;
use super::g711::Codec;

/// Bytes (and samples) in one 20 ms G.711 frame at 8 kHz.
pub const FRAME_BYTES: usize = 160;

/// One 20 ms G.711 payload.
pub type FrameBuf = [u8; FRAME_BYTES];

/// A silent PCMU frame.
pub static SILENCE_PCMU: FrameBuf = [0xFF; FRAME_BYTES];
/// A silent PCMA frame.
pub static SILENCE_PCMA: FrameBuf = [0xD5; FRAME_BYTES];

/// The silent frame for a codec.
pub fn silence_frame(codec: Codec) -> &'static FrameBuf {
    match codec {
        Codec::Pcmu => &SILENCE_PCMU,
        Codec::Pcma => &SILENCE_PCMA,
    }
}

/// A handle to one prompt in a `PromptLibrary` (cheap to copy and store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClipId(pub u32);

#[derive(Debug)]
struct Clip {
    lang: String,
    id: String,
    first_frame: usize,
    frames: usize,
    samples: usize,
}

/// All prompts of all languages. Immutable after construction; share it
/// behind an `Arc`.
#[derive(Debug, Default)]
pub struct PromptLibrary {
    clips: Vec<Clip>,
    index: HashMap<String, HashMap<String, ClipId>>,
    pcmu: Vec<FrameBuf>,
    pcma: Vec<FrameBuf>,
}

fn prompt_err(path: &Path, reason: impl Into<String>) -> MediaError {
    MediaError::Prompt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// One prompt recording as the shell read it from `<dir>/<lang>/<id>.wav`.
#[derive(Debug, Clone)]
pub struct PromptWav {
    pub lang: String,
    pub id: String,
    /// Where it was read from; names it in errors.
    pub path: PathBuf,
    /// The whole WAV file.
    pub bytes: Vec<u8>,
}

/// Decodes one WAV file and checks it is 8000 Hz mono 16-bit PCM.
fn decode_wav(path: &Path, bytes: &[u8]) -> Result<Vec<i16>, MediaError> {
    const FIX: &str =
        "fix: convert it with `sox in.wav -r 8000 -c 1 -b 16 -e signed-integer out.wav`";
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes))
        .map_err(|e| prompt_err(path, format!("cannot read WAV ({e}); {FIX}")))?;
    let spec = reader.spec();
    if spec.sample_rate != 8000
        || spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(prompt_err(
            path,
            format!(
                "is {} Hz, {} channel(s), {}-bit {:?}; expected 8000 Hz mono 16-bit PCM; {FIX}",
                spec.sample_rate, spec.channels, spec.bits_per_sample, spec.sample_format
            ),
        ));
    }
    reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| prompt_err(path, format!("corrupt audio data ({e}); {FIX}")))
}

impl PromptLibrary {
    /// Decodes and encodes every recording, in the order given (which sets the
    /// `ClipId`s). A bad WAV fails the whole library, naming the file.
    pub fn from_wavs<I>(wavs: I) -> Result<PromptLibrary, MediaError>
    where
        I: IntoIterator<Item = PromptWav>,
    {
        let mut lib = PromptLibrary::default();
        for wav in wavs {
            let samples = decode_wav(&wav.path, &wav.bytes)?;
            lib.add(&wav.lang, &wav.id, &samples);
        }
        Ok(lib)
    }

    /// Builds a library from in-memory 8 kHz samples: `(lang, id, samples)`.
    pub fn from_samples<'a, I>(clips: I) -> PromptLibrary
    where
        I: IntoIterator<Item = (&'a str, &'a str, &'a [i16])>,
    {
        let mut lib = PromptLibrary::default();
        for (lang, id, samples) in clips {
            lib.add(lang, id, samples);
        }
        lib
    }

    /// Adds (or replaces the index entry of) one clip, encoding it both ways.
    fn add(&mut self, lang: &str, id: &str, samples: &[i16]) -> ClipId {
        let clip = ClipId(self.clips.len() as u32);
        let first_frame = self.pcmu.len();
        for chunk in samples.chunks(FRAME_BYTES) {
            let mut u = SILENCE_PCMU;
            let mut a = SILENCE_PCMA;
            Codec::Pcmu.encode_into(chunk, &mut u);
            Codec::Pcma.encode_into(chunk, &mut a);
            self.pcmu.push(u);
            self.pcma.push(a);
        }
        self.clips.push(Clip {
            lang: lang.to_owned(),
            id: id.to_owned(),
            first_frame,
            frames: self.pcmu.len() - first_frame,
            samples: samples.len(),
        });
        self.index
            .entry(lang.to_owned())
            .or_default()
            .insert(id.to_owned(), clip);
        clip
    }

    /// The clip for a language and prompt id.
    pub fn lookup(&self, lang: &str, id: &str) -> Option<ClipId> {
        self.index.get(lang)?.get(id).copied()
    }

    /// All 20 ms frames of a clip in a codec (empty for an unknown clip).
    pub fn frames(&self, clip: ClipId, codec: Codec) -> &[FrameBuf] {
        let Some(c) = self.clips.get(clip.0 as usize) else {
            return &[];
        };
        let all = match codec {
            Codec::Pcmu => &self.pcmu,
            Codec::Pcma => &self.pcma,
        };
        all.get(c.first_frame..c.first_frame + c.frames)
            .unwrap_or(&[])
    }

    /// Playing time of a clip (exact, before padding to whole frames).
    pub fn duration(&self, clip: ClipId) -> Duration {
        let samples = self.clips.get(clip.0 as usize).map_or(0, |c| c.samples);
        Duration::from_micros(samples as u64 * 125)
    }

    /// The language and id a clip was loaded as.
    pub fn name(&self, clip: ClipId) -> Option<(&str, &str)> {
        self.clips
            .get(clip.0 as usize)
            .map(|c| (c.lang.as_str(), c.id.as_str()))
    }

    /// The languages present, sorted.
    pub fn languages(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.index.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// The prompt ids of a language, sorted (empty for an unknown language).
    pub fn ids(&self, lang: &str) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .index
            .get(lang)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// Number of clips.
    pub fn len(&self) -> usize {
        self.clips.len()
    }

    /// True when no prompt is loaded.
    pub fn is_empty(&self) -> bool {
        self.clips.is_empty()
    }
}

/// A WAV file's bytes holding `samples`, for tests across the crate.
#[cfg(test)]
pub(crate) fn wav_bytes(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
    for s in samples {
        w.write_sample(*s).unwrap();
    }
    w.finalize().unwrap();
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(lang: &str, name: &str, bytes: Vec<u8>) -> PromptWav {
        PromptWav {
            lang: lang.into(),
            id: name.trim_end_matches(".wav").into(),
            path: Path::new("prompts").join(lang).join(name),
            bytes,
        }
    }

    #[test]
    fn wrong_sample_rate_error_names_file_and_fix() {
        let hello = wav("sv", "hello.wav", wav_bytes(16000, 1, &[0; 10]));
        let err = PromptLibrary::from_wavs([hello]).unwrap_err().to_string();
        assert!(err.contains("hello.wav"), "{err}");
        assert!(err.contains("16000 Hz") && err.contains("sox"), "{err}");
    }

    #[test]
    fn stereo_and_garbage_files_are_refused() {
        let stereo = wav("en", "stereo.wav", wav_bytes(8000, 2, &[0; 10]));
        assert!(PromptLibrary::from_wavs([stereo]).is_err());
        let junk = wav("en", "junk.wav", b"RIFF....nope".to_vec());
        let err = PromptLibrary::from_wavs([junk]).unwrap_err().to_string();
        assert!(err.contains("junk.wav"), "{err}");
    }

    #[test]
    fn from_samples_and_unknown_clips() {
        let tone: Vec<i16> = (0..320).map(|i| (i * 50) as i16).collect();
        let lib = PromptLibrary::from_samples([("sv", "a", &tone[..]), ("sv", "empty", &[][..])]);
        let a = lib.lookup("sv", "a").unwrap();
        assert_eq!(lib.frames(a, Codec::Pcma).len(), 2);
        let e = lib.lookup("sv", "empty").unwrap();
        assert!(lib.frames(e, Codec::Pcmu).is_empty());
        assert!(lib.frames(ClipId(99), Codec::Pcmu).is_empty());
        assert_eq!(lib.duration(ClipId(99)), Duration::ZERO);
        assert!(lib.ids("xx").is_empty());
    }
}
