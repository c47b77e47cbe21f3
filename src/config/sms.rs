//! `sip-config/sms.toml`: the HTTP SMS gateway, backoff and the message
//! templates. Optional: without the file, or with `enabled = false`, no SMS
//! is queued. Secrets are never in the file: `token_env` and
//! `status_token_env` name environment variables.

use crate::sms::{RetryPolicy, SmsSettings, Templates};
use serde::Deserialize;
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsFile {
    #[serde(default = "yes")]
    enabled: bool,
    url: String,
    #[serde(default)]
    token_env: Option<String>,
    sender: String,
    #[serde(default = "default_timeout")]
    timeout_seconds: u64,
    #[serde(default)]
    status_token_env: Option<String>,
    #[serde(default = "default_poll")]
    poll_ms: u64,
    #[serde(default)]
    retry: RetryFile,
    templates: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryFile {
    #[serde(default = "default_initial")]
    initial_backoff_ms: u64,
    #[serde(default = "default_max")]
    max_backoff_ms: u64,
    #[serde(default = "default_give_up")]
    give_up_after_hours: u64,
}

impl Default for RetryFile {
    fn default() -> Self {
        RetryFile {
            initial_backoff_ms: default_initial(),
            max_backoff_ms: default_max(),
            give_up_after_hours: default_give_up(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_timeout() -> u64 {
    10
}
fn default_poll() -> u64 {
    1000
}
fn default_initial() -> u64 {
    5_000
}
fn default_max() -> u64 {
    300_000
}
fn default_give_up() -> u64 {
    24
}

/// SMS configured and switched on.
#[derive(Clone, Debug)]
pub struct SmsConfig {
    pub settings: SmsSettings,
    pub templates: Templates,
}

impl SmsConfig {
    /// Parses and checks the file's text; `None` when `enabled = false`
    /// (the rest is still checked). Reads the tokens from the environment.
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<Option<SmsConfig>> {
        let file = path.display();
        let f: SmsFile = toml::from_str(text).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
        let templates = Templates::new(&f.templates).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
        let url = reqwest::Url::parse(&f.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{file}: url must be an http(s) URL; fix: e.g. url = \"https://sms.example.net/v1/messages\""
                )
            })?;
        let alpha = f.sender.len() <= 11
            && f.sender
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == ' ');
        let numeric = f.sender.len() <= 16
            && f.sender
                .trim_start_matches('+')
                .chars()
                .all(|c| c.is_ascii_digit());
        if f.sender.trim().is_empty() || !(alpha || numeric) {
            anyhow::bail!(
                "{file}: sender must be up to 11 letters or digits, or a number; fix: e.g. sender = \"1177\""
            );
        }
        if !(1..=120).contains(&f.timeout_seconds) {
            anyhow::bail!("{file}: timeout_seconds must be 1-120");
        }
        if !(10..=60_000).contains(&f.poll_ms) {
            anyhow::bail!("{file}: poll_ms must be 10-60000");
        }
        let r = &f.retry;
        if r.initial_backoff_ms < 10 || r.max_backoff_ms < r.initial_backoff_ms {
            anyhow::bail!(
                "{file}: retry.initial_backoff_ms must be at least 10 and at most retry.max_backoff_ms"
            );
        }
        if !(1..=168).contains(&r.give_up_after_hours) {
            anyhow::bail!("{file}: retry.give_up_after_hours must be 1-168");
        }
        if !f.enabled {
            return Ok(None);
        }
        let token = f
            .token_env
            .as_deref()
            .map(|name| secret(name, "token_env", &file))
            .transpose()?;
        let status_token_sha256 = f
            .status_token_env
            .as_deref()
            .map(|name| secret(name, "status_token_env", &file))
            .transpose()?
            .map(|t| hex::encode(sha2::Sha256::digest(t.as_bytes())));
        Ok(Some(SmsConfig {
            settings: SmsSettings {
                url,
                token,
                sender: f.sender,
                timeout: Duration::from_secs(f.timeout_seconds),
                retry: RetryPolicy {
                    initial: Duration::from_millis(r.initial_backoff_ms),
                    max: Duration::from_millis(r.max_backoff_ms),
                    give_up_after: Duration::from_secs(r.give_up_after_hours * 3600),
                },
                poll: Duration::from_millis(f.poll_ms),
                status_token_sha256,
            },
            templates,
        }))
    }
}

/// The secret in environment variable `name` (named by `key`).
fn secret(name: &str, key: &str, file: &std::path::Display<'_>) -> anyhow::Result<String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => anyhow::bail!(
            "{file}: {key} names {name}, which is not set; fix: export {name}=<secret> before starting (or set enabled = false)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/sip-config/sms.toml"))
            .expect("shipped sms.toml")
    }

    fn parse(text: &str) -> anyhow::Result<Option<SmsConfig>> {
        SmsConfig::parse(text, Path::new("sms.toml"))
    }

    #[test]
    fn shipped_file_is_valid_and_off() {
        assert!(matches!(parse(&shipped()), Ok(None)));
    }

    #[test]
    fn enabled_without_the_token_in_the_environment_names_the_variable() {
        let text = shipped()
            .replace("enabled = false", "enabled = true")
            .replace("PE_SMS_TOKEN", "PE_SMS_TOKEN_UNSET_IN_TESTS");
        let e = parse(&text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("sms.toml: token_env names PE_SMS_TOKEN_UNSET_IN_TESTS"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = parse(&shipped().replace("timeout_seconds = 10", "timeout_seconds = 0"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("timeout_seconds"), "{e}");
        let e = parse(&shipped().replace("{time}", "{tid}"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("sms.toml: templates.callback_confirmation"),
            "{e}"
        );
        let e = parse(&shipped().replace("url = \"https", "url = \"ftp"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("url must be"), "{e}");
    }
}
