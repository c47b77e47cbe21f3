//! Loading the IVR's configuration as one checked whole, for start-up and
//! `phone-entrance check-config`: `ivr.toml` + `triage.toml` + the prompt
//! manifest and its WAV files, cross-checked against each other.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::prompts::{wav_path, Manifest, ManifestError};
use super::{Flow, FlowError, Language};
use crate::triage::{Triage, TriageError};

/// Any problem in the IVR configuration; each names the file, key and fix.
#[derive(Debug, thiserror::Error)]
pub enum IvrConfigError {
    #[error(transparent)]
    Flow(#[from] FlowError),
    #[error(transparent)]
    Triage(#[from] TriageError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A prompt the flow plays has no audio file.
    #[error("{path}: missing prompt audio for \"{id}\"; fix: run prompts/generate.sh or add a recording (8000 Hz mono 16-bit WAV)")]
    MissingWav { id: String, path: PathBuf },
}

/// The validated IVR configuration, shared by every call.
#[derive(Debug, Clone)]
pub struct IvrConfig {
    pub flow: Arc<Flow>,
    pub triage: Arc<Triage>,
    pub manifest: Arc<Manifest>,
    /// The folder holding `sv/` and `en/` prompt WAVs.
    pub prompts_dir: PathBuf,
}

impl IvrConfig {
    /// Loads `<config_dir>/ivr.toml`, `<config_dir>/triage.toml` and
    /// `<prompts_dir>/manifest.toml`, and checks that every prompt the flow can
    /// play is listed and has a WAV in both languages, and that every triage rule
    /// uses a question and value the flow produces.
    pub fn load(config_dir: &Path, prompts_dir: &Path) -> Result<Self, IvrConfigError> {
        let flow = Flow::load(&config_dir.join("ivr.toml"))?;
        let triage_file = config_dir.join("triage.toml");
        let triage = Triage::load(&triage_file)?;
        let manifest = Manifest::load(&prompts_dir.join("manifest.toml"))?;
        flow.validate(&|id| manifest.contains(id))?;
        triage.check_answers_known(&triage_file.display().to_string(), &|q, v| {
            flow.knows_answer(q, v)
        })?;
        for id in flow.prompt_ids() {
            for lang in Language::ALL {
                let path = wav_path(prompts_dir, lang, &id);
                if !path.is_file() {
                    return Err(IvrConfigError::MissingWav { id, path });
                }
            }
        }
        Ok(IvrConfig {
            flow: Arc::new(flow),
            triage: Arc::new(triage),
            manifest: Arc::new(manifest),
            prompts_dir: prompts_dir.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
    }

    #[test]
    fn shipped_configuration_loads_as_a_whole() {
        let c = IvrConfig::load(&root().join("sip-config"), &root().join("prompts")).unwrap();
        assert_eq!(c.triage.default_level(), 4);
        assert!(c.manifest.contains("welcome"));
    }

    #[test]
    fn missing_wav_is_named_with_a_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            root().join("prompts/manifest.toml"),
            dir.path().join("manifest.toml"),
        )
        .unwrap();
        let err = IvrConfig::load(&root().join("sip-config"), dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains(".wav"), "{err}");
        assert!(err.contains("generate.sh"), "{err}");
    }

    #[test]
    fn missing_config_dir_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = IvrConfig::load(dir.path(), &root().join("prompts"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ivr.toml"), "{err}");
    }
}
