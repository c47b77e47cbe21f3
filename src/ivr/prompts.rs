//! The prompt manifest (`prompts/manifest.toml`): prompt id -> text per language,
//! or a synthesised sound (hold music, beep). `prompts/generate.sh` turns it into
//! `prompts/<lang>/<id>.wav` (8 kHz mono 16-bit); a studio recording replaces a
//! WAV file with no code change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Language;

/// A manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not valid TOML or wrongly typed.
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    /// An entry lacks text for a language and is not synthesised.
    #[error("{file}: prompts.{id}: {problem}; fix: {fix}")]
    Invalid {
        file: String,
        id: String,
        problem: String,
        fix: String,
    },
}

/// One manifest entry.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PromptEntry {
    /// Swedish text for speech synthesis (or the recording script).
    pub sv: Option<String>,
    /// English text.
    pub en: Option<String>,
    /// A synthesised sound instead of speech (`"hold_music"`, `"beep"`).
    pub synth: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    prompts: BTreeMap<String, PromptEntry>,
}

/// The validated prompt manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    prompts: BTreeMap<String, PromptEntry>,
}

impl Manifest {
    /// Parses manifest text; `file` names the source in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        for (id, e) in &raw.prompts {
            let spoken = e.sv.is_some() && e.en.is_some();
            if spoken == e.synth.is_some() {
                return Err(ManifestError::Invalid {
                    file: file.to_owned(),
                    id: id.clone(),
                    problem: "needs either both sv and en texts, or synth".into(),
                    fix: "write sv = \"...\" and en = \"...\" (or synth = \"beep\")".into(),
                });
            }
        }
        Ok(Manifest {
            prompts: raw.prompts,
        })
    }

    /// Whether a prompt id is listed.
    pub fn contains(&self, id: &str) -> bool {
        self.prompts.contains_key(id)
    }

    /// All prompt ids.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.prompts.keys().map(String::as_str)
    }

    /// An entry by id.
    pub fn entry(&self, id: &str) -> Option<&PromptEntry> {
        self.prompts.get(id)
    }

    /// The spoken text of a prompt in a language (`None` for synthesised sounds).
    pub fn text(&self, id: &str, lang: Language) -> Option<&str> {
        let e = self.prompts.get(id)?;
        match lang {
            Language::Sv => e.sv.as_deref(),
            Language::En => e.en.as_deref(),
        }
    }
}

/// Where a prompt's audio lives: `<root>/<lang>/<id>.wav`.
pub fn wav_path(root: &Path, lang: Language, id: &str) -> PathBuf {
    root.join(lang.code()).join(format!("{id}.wav"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ivr::Flow;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
    }

    fn shipped_manifest() -> Manifest {
        let text = std::fs::read_to_string(root().join("prompts/manifest.toml")).unwrap();
        Manifest::from_toml(&text, "manifest.toml").unwrap()
    }

    #[test]
    fn entries_need_both_languages_or_a_synth() {
        let ok = "[prompts.a]\nsv = \"Hej\"\nen = \"Hi\"\n[prompts.b]\nsynth = \"beep\"\n";
        let m = Manifest::from_toml(ok, "m.toml").unwrap();
        assert_eq!(m.text("a", Language::En), Some("Hi"));
        assert_eq!(m.text("b", Language::Sv), None);
        let bad = "[prompts.a]\nsv = \"Hej\"\n";
        let err = Manifest::from_toml(bad, "m.toml").unwrap_err().to_string();
        assert!(err.contains("prompts.a"), "{err}");
    }

    #[test]
    fn every_prompt_of_the_default_flow_is_in_the_manifest_and_recorded_in_both_languages() {
        let root = root();
        let manifest = shipped_manifest();
        let flow = Flow::from_toml(&crate::ivr::flow::shipped_text()).unwrap();
        flow.validate(&|id| manifest.contains(id)).unwrap();
        let mut missing = Vec::new();
        for id in flow.prompt_ids() {
            for lang in Language::ALL {
                let path = wav_path(&root.join("prompts"), lang, &id);
                match hound::WavReader::open(&path) {
                    Ok(r) => {
                        let spec = r.spec();
                        assert_eq!(spec.sample_rate, 8000, "{}", path.display());
                        assert_eq!(spec.channels, 1, "{}", path.display());
                        assert_eq!(spec.bits_per_sample, 16, "{}", path.display());
                        assert!(r.duration() > 0, "{} is empty", path.display());
                    }
                    Err(_) => missing.push(path.display().to_string()),
                }
            }
        }
        assert!(
            missing.is_empty(),
            "missing WAVs (run prompts/generate.sh): {missing:?}"
        );
    }

    #[test]
    fn every_manifest_prompt_has_wavs() {
        let root = root();
        let manifest = shipped_manifest();
        for id in manifest.ids() {
            for lang in Language::ALL {
                let path = wav_path(&root.join("prompts"), lang, id);
                assert!(
                    path.is_file(),
                    "{} missing: run prompts/generate.sh",
                    path.display()
                );
            }
        }
    }
}
