//! Reading configuration and prompts off the disk: the file layout
//! (`<config dir>/ivr.toml`, `<prompts dir>/<lang>/<id>.wav`, ...); the files'
//! contents go to the cores' parsers.

use std::path::{Path, PathBuf};

use crate::ivr::prompts::wav_path;
use crate::ivr::{ConfigText, IvrConfig, IvrConfigError, IvrTexts};
use crate::media::prompts::{PromptLibrary, PromptWav};
use crate::media::MediaError;
use crate::queue::{
    HoursError, OpeningHours, QueueConfig, QueueConfigError, RetryConfigError, RetryPolicies,
};

/// A file that could not be read; names the file.
#[derive(Debug, thiserror::Error)]
#[error("reading {}: {source}", path.display())]
pub struct ReadError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Any problem reading or validating the configuration or the prompts; each
/// names the file (and, past reading, the key and the fix).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The prompt directory could not be listed.
    #[error("prompt directory {}: {source}; fix: point the config at a folder holding <lang>/<id>.wav", path.display())]
    PromptDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Ivr(#[from] IvrConfigError),
    #[error(transparent)]
    Queue(#[from] QueueConfigError),
    #[error(transparent)]
    Retry(#[from] RetryConfigError),
    #[error(transparent)]
    Hours(#[from] HoursError),
    #[error(transparent)]
    Prompts(#[from] MediaError),
}

/// Reads a whole UTF-8 text file.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    std::fs::read_to_string(path).map_err(|source| ReadError {
        path: path.to_path_buf(),
        source,
    })
}

/// A text file, or `None` when there is no such file (optional files).
pub fn read_optional(path: &Path) -> Result<Option<String>, ReadError> {
    match read_text(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads a whole file as bytes.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, ReadError> {
    std::fs::read(path).map_err(|source| ReadError {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a whole UTF-8 text file, named by its path for the parser's errors.
pub fn read_config_text(path: &Path) -> Result<ConfigText, ReadError> {
    Ok(ConfigText {
        name: path.display().to_string(),
        text: read_text(path)?,
    })
}

/// Reads `<config_dir>/ivr.toml`, `<config_dir>/triage.toml` and
/// `<prompts_dir>/manifest.toml` and checks them as one whole
/// ([`IvrConfig::parse`]), against the WAV files in `prompts_dir`.
pub fn read_ivr(config_dir: &Path, prompts_dir: &Path) -> Result<IvrConfig, ConfigError> {
    let texts = IvrTexts {
        flow: read_config_text(&config_dir.join("ivr.toml"))?,
        triage: read_config_text(&config_dir.join("triage.toml"))?,
        manifest: read_config_text(&prompts_dir.join("manifest.toml"))?,
    };
    let has_wav = |lang, id: &str| wav_path(prompts_dir, lang, id).is_file();
    Ok(IvrConfig::parse(&texts, prompts_dir, &has_wav)?)
}

/// Reads and validates `<config_dir>/queue.toml` (its `[retry]` table too).
pub fn read_queue(config_dir: &Path) -> Result<QueueConfig, ConfigError> {
    let path = config_dir.join("queue.toml");
    Ok(QueueConfig::parse(&read_text(&path)?, &path)?)
}

/// Reads the retry policy, the `[retry]` table of `<config_dir>/queue.toml`.
pub fn read_retry(config_dir: &Path) -> Result<RetryPolicies, ConfigError> {
    let path = config_dir.join("queue.toml");
    Ok(RetryPolicies::parse(&read_text(&path)?, &path)?)
}

/// Reads and validates `<config_dir>/hours.toml`; without that file the
/// service is open around the clock ([`OpeningHours::default`]).
pub fn read_hours(config_dir: &Path) -> Result<OpeningHours, ConfigError> {
    let path = config_dir.join("hours.toml");
    match read_optional(&path)? {
        Some(text) => Ok(OpeningHours::parse(&text, &path)?),
        None => Ok(OpeningHours::default()),
    }
}

/// Reads `<prompts_dir>/<lang>/<id>.wav` for every language subfolder, in
/// sorted order, and encodes them into a [`PromptLibrary`]. Files that are not
/// `.wav` are skipped; a bad WAV fails the load, naming the file.
pub fn read_prompts(prompts_dir: &Path) -> Result<PromptLibrary, ConfigError> {
    let mut wavs = Vec::new();
    for lang_dir in sorted_entries(prompts_dir)? {
        if !lang_dir.is_dir() {
            continue;
        }
        let Some(lang) = lang_dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        for path in sorted_entries(&lang_dir)? {
            let is_wav = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
            if !is_wav || !path.is_file() {
                continue;
            }
            let Some(id) = path.file_stem().and_then(|n| n.to_str()) else {
                return Err(MediaError::Prompt {
                    path,
                    reason: "file name is not UTF-8; fix: rename it".into(),
                }
                .into());
            };
            wavs.push(PromptWav {
                lang: lang.to_owned(),
                id: id.to_owned(),
                bytes: read_bytes(&path)?,
                path,
            });
        }
    }
    Ok(PromptLibrary::from_wavs(wavs)?)
}

/// The entries of a prompt folder, sorted by path.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let listing_error = |source| ConfigError::PromptDir {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(listing_error)? {
        out.push(entry.map_err(listing_error)?.path());
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711::Codec;
    use crate::media::prompts::wav_bytes;
    use std::time::Duration;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
    }

    #[test]
    fn shipped_configuration_loads_as_a_whole() {
        let c = read_ivr(&root().join("sip-config"), &root().join("prompts")).unwrap();
        assert_eq!(c.triage.default_level(), 4);
        assert!(c.manifest.contains("welcome"));
    }

    #[test]
    fn shipped_queue_retry_and_hours_files_are_valid() {
        let dir = root().join("sip-config");
        assert!(read_queue(&dir).is_ok());
        let retry = read_retry(&dir).unwrap();
        let level = |n| retry.for_level(crate::queue::Priority::new(n).unwrap());
        assert_eq!(level(4), crate::queue::RetryPolicy::default());
        assert!(level(2).max_attempts > level(4).max_attempts, "{retry:?}");
        assert!(level(1).interval < level(4).interval, "{retry:?}");
        let h = read_hours(&dir);
        assert!(h.is_ok(), "{h:?}");
    }

    #[test]
    fn missing_wav_is_named_with_a_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            root().join("prompts/manifest.toml"),
            dir.path().join("manifest.toml"),
        )
        .unwrap();
        let err = read_ivr(&root().join("sip-config"), dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains(".wav"), "{err}");
        assert!(err.contains("generate.sh"), "{err}");
    }

    #[test]
    fn missing_config_dir_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_ivr(dir.path(), &root().join("prompts"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ivr.toml"), "{err}");
        let err = read_queue(dir.path()).unwrap_err().to_string();
        assert!(
            err.starts_with("reading ") && err.contains("queue.toml: "),
            "{err}"
        );
    }

    #[test]
    fn missing_hours_file_means_always_open() {
        let h = read_hours(Path::new("/nonexistent"));
        let monday_8_local = chrono::DateTime::parse_from_rfc3339("2025-03-03T08:00:00+01:00")
            .unwrap()
            .to_utc();
        assert!(h.as_ref().is_ok_and(|h| h.is_open(monday_8_local)), "{h:?}");
    }

    #[test]
    fn loads_every_language_folder_and_encodes_both_codecs() {
        let dir = tempfile::tempdir().unwrap();
        for lang in ["sv", "en"] {
            std::fs::create_dir(dir.path().join(lang)).unwrap();
            let write = |name: &str, bytes: Vec<u8>| {
                std::fs::write(dir.path().join(lang).join(name), bytes).unwrap()
            };
            write("welcome.wav", wav_bytes(8000, 1, &[1000; 400]));
            write("bye.wav", wav_bytes(8000, 1, &[-1000; 160]));
        }
        std::fs::write(dir.path().join("sv").join("README.txt"), "not audio").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "top-level file").unwrap();
        let lib = read_prompts(dir.path()).unwrap();
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
    fn a_bad_wav_in_the_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("en")).unwrap();
        std::fs::write(dir.path().join("en").join("junk.wav"), b"RIFF....nope").unwrap();
        let err = read_prompts(dir.path()).unwrap_err().to_string();
        assert!(err.contains("junk.wav"), "{err}");
    }

    #[test]
    fn missing_directory_is_an_error_with_a_fix() {
        let err = read_prompts(Path::new("/nonexistent/prompts")).unwrap_err();
        assert!(err.to_string().contains("fix"), "{err}");
    }
}
