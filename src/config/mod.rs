//! The configuration files: reads `sip-config/` and the prompts, hands the
//! text to each core's parser, and checks them against each other once at
//! start-up (`phone-entrance check-config` runs just this). The cores never
//! touch the filesystem; this is the one place that does.

mod nurse_phones;
mod sip;
mod trunk;

pub use nurse_phones::FixedPhones;
pub use sip::SipConfig;
pub use trunk::TrunkConfig;

use crate::ivr::{Flow, IvrConfig};
use crate::media::prompts::PromptLibrary;
use crate::queue::{OpeningHours, QueueConfig, RetryPolicy};
use crate::triage::Triage;
use std::path::Path;
use std::sync::Arc;

/// All configuration, loaded and cross-checked.
pub struct Config {
    pub sip: SipConfig,
    pub flow: Arc<Flow>,
    pub triage: Arc<Triage>,
    pub queue: QueueConfig,
    pub hours: OpeningHours,
    pub prompts: PromptLibrary,
    /// The trunk for callbacks (none: no callbacks).
    pub trunk: Option<TrunkConfig>,
    pub nurse_phones: FixedPhones,
    pub retry: RetryPolicy,
}

impl Config {
    /// Loads and validates `config_dir` and `prompts_dir`.
    pub fn load(config_dir: &Path, prompts_dir: &Path) -> anyhow::Result<Config> {
        let sip_path = config_dir.join("sip.toml");
        let sip = SipConfig::parse(&read_text(&sip_path)?, &sip_path)?;
        // Flow, triage and manifest checked against each other and the WAV files.
        let ivr = IvrConfig::load(config_dir, prompts_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
        let queue = QueueConfig::load(&config_dir.join("queue.toml"))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let hours = OpeningHours::load_or_default(&config_dir.join("hours.toml"))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let prompts = PromptLibrary::load(prompts_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
        let trunk_path = config_dir.join("trunk.toml");
        let trunk = read_optional(&trunk_path)?
            .map(|text| TrunkConfig::parse(&text, &trunk_path))
            .transpose()?;
        let phones_path = config_dir.join("nurse-phones.toml");
        let nurse_phones = read_optional(&phones_path)?
            .map(|text| FixedPhones::parse(&text, &phones_path))
            .transpose()?
            .unwrap_or_default();
        let retry = RetryPolicy::load(&config_dir.join("queue.toml"))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Config {
            sip,
            flow: ivr.flow,
            triage: ivr.triage,
            queue,
            hours,
            prompts,
            trunk,
            nurse_phones,
            retry,
        })
    }
}

/// A file's text; the error names the file.
pub fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))
}

/// A file's text, or `None` when there is no such file.
pub fn read_optional(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("{}: cannot read: {e}", path.display())),
    }
}
