//! The IVR's configuration as one checked whole, for start-up and
//! `phone-entrance check-config`: `ivr.toml` + `triage.toml` + the prompt
//! manifest, cross-checked against each other and against the WAV files there
//! are. Pure: the shell's config module reads the files and passes their text in.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::prompts::{wav_path, Manifest, ManifestError};
use super::survey::{SurveyConfig, SurveyConfigError};
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
    #[error(transparent)]
    Survey(#[from] SurveyConfigError),
    /// A prompt the flow plays has no audio file.
    #[error("{path}: missing prompt audio for \"{id}\"; fix: run prompts/generate.sh or add a recording (8000 Hz mono 16-bit WAV)")]
    MissingWav { id: String, path: PathBuf },
}

/// One configuration file's text and the name its errors give it (its path).
#[derive(Debug, Clone)]
pub struct ConfigText {
    pub name: String,
    pub text: String,
}

/// The texts the IVR configuration is made of.
#[derive(Debug, Clone)]
pub struct IvrTexts {
    /// `ivr.toml`.
    pub flow: ConfigText,
    /// `triage.toml`.
    pub triage: ConfigText,
    /// The prompt manifest, `manifest.toml`.
    pub manifest: ConfigText,
}

/// The validated IVR configuration, shared by every call.
#[derive(Debug, Clone)]
pub struct IvrConfig {
    pub flow: Arc<Flow>,
    pub triage: Arc<Triage>,
    pub manifest: Arc<Manifest>,
    /// The post-contact survey (`[survey]`; disabled when absent).
    pub survey: Arc<SurveyConfig>,
    /// The folder holding `sv/` and `en/` prompt WAVs.
    pub prompts_dir: PathBuf,
}

impl IvrConfig {
    /// Parses the flow, triage rules and manifest, and checks that every prompt
    /// the flow can play is listed and has a WAV in both languages (`has_wav`
    /// answers whether `<prompts_dir>/<lang>/<id>.wav` exists; the path only
    /// names the file in errors), and that every triage rule uses a question
    /// and value the flow produces.
    pub fn parse(
        texts: &IvrTexts,
        prompts_dir: &Path,
        has_wav: &dyn Fn(Language, &str) -> bool,
    ) -> Result<Self, IvrConfigError> {
        let flow = Flow::from_toml_named(&texts.flow.text, &texts.flow.name)?;
        let triage = Triage::from_toml(&texts.triage.text, &texts.triage.name)?;
        let manifest = Manifest::from_toml(&texts.manifest.text, &texts.manifest.name)?;
        flow.validate(&|id| manifest.contains(id))?;
        triage.check_answers_known(&texts.triage.name, &|q, v| flow.knows_answer(q, v))?;
        // Self-care advice is played from triage.toml's routes.
        let mut ids = flow.prompt_ids();
        for r in triage.self_care_routes() {
            if !manifest.contains(&r.advice) {
                return Err(TriageError::Invalid {
                    file: texts.triage.name.clone(),
                    key: format!("self_care (\"{}\").advice", r.name),
                    problem: format!("prompt \"{}\" is not in the prompt manifest", r.advice),
                    fix: "add it to prompts/manifest.toml (sv and en) and run prompts/generate.sh"
                        .into(),
                }
                .into());
            }
            ids.insert(r.advice.clone());
        }
        let survey = SurveyConfig::from_toml(&texts.flow.text, &texts.flow.name)?;
        for id in survey.prompt_ids() {
            if !manifest.contains(&id) {
                return Err(SurveyConfigError {
                    file: texts.flow.name.clone(),
                    key: "survey".into(),
                    problem: format!("prompt \"{id}\" is not in the prompt manifest"),
                    fix: "add it to prompts/manifest.toml (sv and en) and run prompts/generate.sh"
                        .into(),
                }
                .into());
            }
            ids.insert(id);
        }
        for id in ids {
            for lang in Language::ALL {
                if !has_wav(lang, &id) {
                    let path = wav_path(prompts_dir, lang, &id);
                    return Err(IvrConfigError::MissingWav { id, path });
                }
            }
        }
        Ok(IvrConfig {
            flow: Arc::new(flow),
            triage: Arc::new(triage),
            manifest: Arc::new(manifest),
            survey: Arc::new(survey),
            prompts_dir: prompts_dir.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(file: &str) -> ConfigText {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        ConfigText {
            name: file.to_owned(),
            text: std::fs::read_to_string(path).unwrap(),
        }
    }

    fn shipped_texts() -> IvrTexts {
        IvrTexts {
            flow: shipped("sip-config/ivr.toml"),
            triage: shipped("sip-config/triage.toml"),
            manifest: shipped("prompts/manifest.toml"),
        }
    }

    #[test]
    fn self_care_advice_must_be_in_the_manifest_with_audio() {
        let mut texts = shipped_texts();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
        let has = |lang: Language, id: &str| wav_path(&root, lang, id).exists();
        assert!(IvrConfig::parse(&texts, &root, &has).is_ok());
        let err = IvrConfig::parse(&texts, &root, &|l, id| id != "self_care_skin" && has(l, id))
            .unwrap_err()
            .to_string();
        assert!(err.contains("self_care_skin"), "{err}");
        texts.triage.text = texts
            .triage
            .text
            .replace("advice = \"self_care_skin\"", "advice = \"self_care_hud\"");
        let err = IvrConfig::parse(&texts, &root, &has)
            .unwrap_err()
            .to_string();
        assert!(err.contains("triage.toml"), "{err}");
        assert!(
            err.contains("(\"skin or rash, not worsening\").advice"),
            "{err}"
        );
        assert!(err.contains("manifest"), "{err}");
    }

    #[test]
    fn missing_wav_is_named_with_a_fix() {
        let texts = shipped_texts();
        let err = IvrConfig::parse(&texts, Path::new("prompts"), &|_, _| false)
            .unwrap_err()
            .to_string();
        assert!(err.contains(".wav"), "{err}");
        assert!(err.contains("generate.sh"), "{err}");
    }

    #[test]
    fn survey_prompts_must_be_in_the_manifest_with_audio() {
        let mut texts = shipped_texts();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
        let has = |lang: Language, id: &str| wav_path(&root, lang, id).exists();
        let config = IvrConfig::parse(&texts, &root, &has).unwrap();
        assert!(config.survey.enabled, "the shipped survey is on");
        assert_eq!(config.survey.questions.len(), 2);
        let err = IvrConfig::parse(&texts, &root, &|l, id| id != "survey_easy" && has(l, id))
            .unwrap_err()
            .to_string();
        assert!(err.contains("survey_easy.wav"), "{err}");
        texts.flow.text = texts
            .flow
            .text
            .replace("prompt = \"survey_easy\"", "prompt = \"survey_lätt\"");
        let err = IvrConfig::parse(&texts, &root, &has)
            .unwrap_err()
            .to_string();
        assert!(err.contains("sip-config/ivr.toml: survey"), "{err}");
        assert!(err.contains("survey_lätt"), "{err}");
        assert!(err.contains("manifest"), "{err}");
    }
}
