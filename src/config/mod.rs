//! The configuration files: reads `sip-config/` and the prompts, hands the
//! text to each core's parser, and checks them against each other once at
//! start-up (`phone-entrance check-config` runs just this). The cores never
//! touch the filesystem; this is the one place that does.

mod files;
mod media;
mod nurse_phones;
mod sip;
mod sms;
mod sources;
mod staff;
mod tls;
mod trunk;
mod units;

pub use files::{
    read_bytes, read_config_text, read_hours, read_ivr, read_optional, read_prompts, read_queue,
    read_retry, read_text, ConfigError, ReadError,
};
pub use media::{usable_cpus, BatchSend, MediaSettings, ThreadPriority};
pub use nurse_phones::FixedPhones;
pub use sip::{even_ports, SipConfig, SrtpPolicy, DEFAULT_RTP_PORTS};
pub use sms::SmsConfig;
pub use sources::{Admission, SourceLimits, SourcesConfig, Trunk, UnknownSources};
pub use staff::{LockoutConfig, StaffConfig};
pub use trunk::TrunkConfig;
pub use units::{read_units, Unit, UnitKind, Units, UnitsError};

use crate::ivr::Flow;
use crate::media::prompts::PromptLibrary;
use crate::queue::{OpeningHours, QueueConfig, RetryPolicies};
use crate::triage::Triage;
use std::path::Path;
use std::sync::Arc;

/// All configuration, loaded and cross-checked.
pub struct Config {
    pub sip: SipConfig,
    pub flow: Arc<Flow>,
    pub triage: Arc<Triage>,
    /// The post-contact survey (`ivr.toml` `[survey]`).
    pub survey: Arc<crate::ivr::survey::SurveyConfig>,
    pub queue: QueueConfig,
    pub hours: OpeningHours,
    pub prompts: PromptLibrary,
    /// Prompt texts per language (the staff pages show a message's words).
    pub manifest: Arc<crate::ivr::prompts::Manifest>,
    /// The trunk for callbacks (none: no callbacks).
    pub trunk: Option<TrunkConfig>,
    pub nurse_phones: FixedPhones,
    pub retry: RetryPolicies,
    /// Sign-in and REGISTER lockouts, sessions, origins (`staff.toml`).
    pub staff: StaffConfig,
    /// Inbound trunks, trusted identities, media destinations, flood limits (`trunks.toml`).
    pub sources: SourcesConfig,
    /// The SMS gateway and templates (`sms.toml`; none: no SMS).
    pub sms: Option<SmsConfig>,
    /// The population register for listing look-ups (`listing.toml`; none: off).
    pub listing: Option<crate::listing::ListingConfig>,
    /// Care units and the default one new cases land in (`units.toml`).
    pub units: Units,
}

impl Config {
    /// Loads and validates `config_dir` and `prompts_dir`.
    pub fn load(config_dir: &Path, prompts_dir: &Path) -> anyhow::Result<Config> {
        let sip_path = config_dir.join("sip.toml");
        let sip = SipConfig::parse(&read_text(&sip_path)?, &sip_path)?;
        // Flow, triage and manifest checked against each other and the WAV files.
        let ivr = read_ivr(config_dir, prompts_dir)?;
        let queue = read_queue(config_dir)?;
        let hours = read_hours(config_dir)?;
        let prompts = read_prompts(prompts_dir)?;
        let trunk_path = config_dir.join("trunk.toml");
        let trunk = read_optional(&trunk_path)?
            .map(|text| TrunkConfig::parse(&text, &trunk_path))
            .transpose()?;
        let phones_path = config_dir.join("nurse-phones.toml");
        let nurse_phones = read_optional(&phones_path)?
            .map(|text| FixedPhones::parse(&text, &phones_path))
            .transpose()?
            .unwrap_or_default();
        let retry = read_retry(config_dir)?;
        let staff_path = config_dir.join("staff.toml");
        let staff = read_optional(&staff_path)?
            .map(|text| StaffConfig::parse(&text, &staff_path))
            .transpose()?
            .unwrap_or_default();
        let sources_path = config_dir.join("trunks.toml");
        let sources = read_optional(&sources_path)?
            .map(|text| SourcesConfig::parse(&text, &sources_path))
            .transpose()?
            .unwrap_or_default();
        let sms_path = config_dir.join("sms.toml");
        let sms = read_optional(&sms_path)?
            .map(|text| SmsConfig::parse(&text, &sms_path))
            .transpose()?
            .flatten();
        let listing_path = config_dir.join("listing.toml");
        let listing = read_optional(&listing_path)?
            .map(|text| {
                crate::listing::ListingConfig::parse(&text, &listing_path, |v| {
                    std::env::var(v).ok()
                })
            })
            .transpose()?
            .filter(|l| l.enabled);
        let units = read_units(config_dir)?;
        Ok(Config {
            sip,
            flow: ivr.flow,
            triage: ivr.triage,
            survey: ivr.survey,
            queue,
            hours,
            prompts,
            manifest: ivr.manifest,
            trunk,
            nurse_phones,
            retry,
            staff,
            sources,
            sms,
            listing,
            units,
        })
    }
}
