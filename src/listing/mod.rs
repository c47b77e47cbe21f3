//! Listing (fast vårdkontakt): which health centre a resident is listed at,
//! looked up by personnummer in the region's FHIR R4 population register
//! (`sip-config/listing.toml`) and stored on the case, so the nurse sees
//! "Listad vid: ...". A background worker ([`worker`]) does it beside the call
//! loop, which never waits for it; a failed or slow look-up is stored as
//! `unknown`. No file (or `enabled = false`): no look-ups.

pub mod client;
pub mod worker;

pub use crate::store::{Listing, ListingStatus};
pub use client::{ListingClient, HSA_ID_SYSTEM, PERSONNUMMER_SYSTEM};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// `sip-config/listing.toml`, validated. `Debug` leaves out the token.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListingConfig {
    /// `false` keeps the file but does no look-ups.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The register's FHIR base URL, e.g. `http://register.region.internal/fhir`.
    pub base_url: String,
    /// The whole look-up (search and, if needed, the Organization) ends then.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Name of the environment variable holding a bearer token (none: no auth).
    #[serde(default)]
    pub token_env: Option<String>,
    /// How often the worker looks for new cases.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    #[serde(skip)]
    token: Option<String>,
}

fn yes() -> bool {
    true
}
fn default_timeout_ms() -> u64 {
    1500
}
fn default_poll_ms() -> u64 {
    1000
}

impl std::fmt::Debug for ListingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListingConfig")
            .field("enabled", &self.enabled)
            .field("base_url", &self.base_url)
            .field("timeout_ms", &self.timeout_ms)
            .field("token_env", &self.token_env)
            .finish_non_exhaustive()
    }
}

impl ListingConfig {
    /// Parses and checks the file; `env` reads the token's variable.
    pub fn parse(
        text: &str,
        path: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<ListingConfig> {
        let file = path.display();
        let mut c: ListingConfig =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
        c.base_url = c.base_url.trim_end_matches('/').to_string();
        if !c.base_url.starts_with("http://") {
            anyhow::bail!(
                "{file}: base_url \"{}\" must be an http:// URL (https is not supported yet: use a TLS-terminating proxy on the same host); fix: e.g. base_url = \"http://127.0.0.1:8090/fhir\"",
                c.base_url
            );
        }
        if !(100..=30_000).contains(&c.timeout_ms) {
            anyhow::bail!(
                "{file}: timeout_ms = {} is out of range; fix: 100 to 30000 (default 1500)",
                c.timeout_ms
            );
        }
        if !(50..=60_000).contains(&c.poll_ms) {
            anyhow::bail!(
                "{file}: poll_ms = {} is out of range; fix: 50 to 60000 (default 1000)",
                c.poll_ms
            );
        }
        if let Some(var) = &c.token_env {
            c.token = Some(env(var).filter(|t| !t.is_empty()).ok_or_else(|| {
                anyhow::anyhow!("{file}: token_env names {var}, which is not set; fix: export {var}=<token> or remove token_env")
            })?);
        }
        Ok(c)
    }

    /// The bearer token, if configured.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn poll_every(&self) -> Duration {
        Duration::from_millis(self.poll_ms)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// `pe_listing_lookups_total{result="found"|"none"|"unknown"}`.
#[derive(Clone, Debug, Default)]
pub struct ListingMetrics {
    lookups: Family<ResultLabel, Counter>,
}

impl ListingMetrics {
    pub fn register(&self, registry: &mut Registry) {
        for status in [
            ListingStatus::Found,
            ListingStatus::None,
            ListingStatus::Unknown,
        ] {
            let _ = self.count(status);
        }
        registry.register(
            "pe_listing_lookups",
            "Listing look-ups in the population register, by result",
            self.lookups.clone(),
        );
    }

    fn count(&self, status: ListingStatus) -> Counter {
        self.lookups
            .get_or_create(&ResultLabel {
                result: status.as_str(),
            })
            .clone()
    }

    /// Counts one finished look-up.
    pub fn record(&self, status: ListingStatus) {
        self.count(status).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<ListingConfig> {
        ListingConfig::parse(text, Path::new("listing.toml"), |v| {
            (v == "PE_LISTING_TOKEN").then(|| "secret".to_string())
        })
    }

    #[test]
    fn defaults_and_token_from_the_environment() {
        let c =
            parse("base_url = \"http://127.0.0.1:8090/fhir/\"\ntoken_env = \"PE_LISTING_TOKEN\"")
                .unwrap_or_else(|e| panic!("{e}"));
        assert!(c.enabled);
        assert_eq!(c.base_url, "http://127.0.0.1:8090/fhir");
        assert_eq!(c.timeout(), Duration::from_millis(1500));
        assert_eq!(c.token(), Some("secret"));
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn errors_name_file_key_and_fix() {
        let e = parse("base_url = \"ftp://x\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("listing.toml") && e.contains("base_url") && e.contains("fix"),
            "{e}"
        );
        let e = parse("base_url = \"http://x\"\ntimeout_ms = 5")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("timeout_ms"), "{e}");
        let e = parse("base_url = \"http://x\"\ntoken_env = \"NOPE\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("NOPE") && e.contains("fix"), "{e}");
        assert!(parse("base_url = \"http://x\"\nbogus = 1").is_err());
    }
}
