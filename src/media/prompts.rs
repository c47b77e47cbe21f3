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

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, MediaError> {
    let read = std::fs::read_dir(dir).map_err(|source| MediaError::PromptDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for entry in read {
        let entry = entry.map_err(|source| MediaError::PromptDir {
            path: dir.to_path_buf(),
            source,
        })?;
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

/// Reads one WAV and checks it is 8000 Hz mono 16-bit PCM.
fn read_wav(path: &Path) -> Result<Vec<i16>, MediaError> {
    const FIX: &str =
        "fix: convert it with `sox in.wav -r 8000 -c 1 -b 16 -e signed-integer out.wav`";
    let reader = hound::WavReader::open(path)
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
    /// Loads `dir/<lang>/<id>.wav` for every language subfolder. Files that
    /// are not `.wav` are skipped; a bad WAV fails the load, naming the file.
    pub fn load(dir: &Path) -> Result<PromptLibrary, MediaError> {
        let mut lib = PromptLibrary::default();
        for lang_dir in sorted_entries(dir)? {
            if !lang_dir.is_dir() {
                continue;
            }
            let Some(lang) = lang_dir.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let lang = lang.to_owned();
            for file in sorted_entries(&lang_dir)? {
                let is_wav = file
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
                if !is_wav || !file.is_file() {
                    continue;
                }
                let Some(id) = file.file_stem().and_then(|n| n.to_str()) else {
                    return Err(prompt_err(&file, "file name is not UTF-8; fix: rename it"));
                };
                let samples = read_wav(&file)?;
                lib.add(&lang, id, &samples);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[i16]) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for s in samples {
            w.write_sample(*s).unwrap();
        }
        w.finalize().unwrap();
    }

    #[test]
    fn loads_every_language_folder_and_encodes_both_codecs() {
        let dir = tempfile::tempdir().unwrap();
        for lang in ["sv", "en"] {
            std::fs::create_dir(dir.path().join(lang)).unwrap();
            write_wav(
                &dir.path().join(lang).join("welcome.wav"),
                8000,
                1,
                &[1000; 400],
            );
            write_wav(
                &dir.path().join(lang).join("bye.wav"),
                8000,
                1,
                &[-1000; 160],
            );
        }
        std::fs::write(dir.path().join("sv").join("README.txt"), "not audio").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "top-level file").unwrap();
        let lib = PromptLibrary::load(dir.path()).unwrap();
        assert_eq!(lib.languages(), vec!["en", "sv"]);
        assert_eq!(lib.ids("sv"), vec!["bye", "welcome"]);
        assert_eq!(lib.len(), 4);
        let w = lib.lookup("sv", "welcome").unwrap();
        assert_eq!(lib.name(w), Some(("sv", "welcome")));
        assert_eq!(lib.frames(w, Codec::Pcmu).len(), 3);
        assert_eq!(lib.duration(w), Duration::from_millis(50));
        let u = lib.frames(w, Codec::Pcmu);
        let a = lib.frames(w, Codec::Pcma);
        assert_eq!(u[0][0], Codec::Pcmu.encode(1000));
        assert_eq!(a[0][0], Codec::Pcma.encode(1000));
        // The last frame is padded with silence after the 80 real samples.
        assert_eq!(u[2][79], Codec::Pcmu.encode(1000));
        assert_eq!(u[2][80..], [0xFF; 80]);
        assert_eq!(a[2][80..], [0xD5; 80]);
        assert_eq!(lib.lookup("sv", "missing"), None);
        assert_eq!(lib.lookup("de", "welcome"), None);
    }

    #[test]
    fn wrong_sample_rate_error_names_file_and_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sv")).unwrap();
        write_wav(&dir.path().join("sv").join("hello.wav"), 16000, 1, &[0; 10]);
        let err = PromptLibrary::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("hello.wav"), "{err}");
        assert!(err.contains("16000 Hz") && err.contains("sox"), "{err}");
    }

    #[test]
    fn stereo_and_garbage_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("en")).unwrap();
        write_wav(&dir.path().join("en").join("stereo.wav"), 8000, 2, &[0; 10]);
        assert!(PromptLibrary::load(dir.path()).is_err());
        std::fs::remove_file(dir.path().join("en").join("stereo.wav")).unwrap();
        std::fs::write(dir.path().join("en").join("junk.wav"), b"RIFF....nope").unwrap();
        let err = PromptLibrary::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("junk.wav"), "{err}");
    }

    #[test]
    fn missing_directory_is_an_error_with_a_fix() {
        let err = PromptLibrary::load(Path::new("/nonexistent/prompts")).unwrap_err();
        assert!(err.to_string().contains("fix"), "{err}");
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
