//! SMS to residents who consented: a callback's confirmation, "we tried to
//! call you" after a failed attempt, and self-care advice with its 1177.se
//! link. The store queues each SMS in the outbox in the same transaction as
//! its cause (`store::sms`); the [`dispatcher`] sends them through the HTTP
//! gateway of `sms.toml` ([`gateway`]) with backoff ([`policy`]) so a gateway
//! outage loses nothing; delivery reports come back through the API. No SMS
//! text or number ever reaches a log.

pub mod dispatcher;
pub mod gateway;
pub mod policy;
pub mod templates;

pub use policy::RetryPolicy;
pub use templates::{SmsComposer, Templates};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// The gateway and the dispatcher's timing, validated (`sms.toml`).
#[derive(Clone)]
pub struct SmsSettings {
    /// Where messages are POSTed (http or https).
    pub url: reqwest::Url,
    /// Bearer token for the gateway, read from the environment.
    pub token: Option<String>,
    /// The sender name residents see.
    pub sender: String,
    /// Per request (connect and answer).
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// How often an idle dispatcher looks for new rows.
    pub poll: Duration,
    /// The SHA-256 (hex) of the token delivery reports must carry; none:
    /// reports are refused.
    pub status_token_sha256: Option<String>,
}

impl std::fmt::Debug for SmsSettings {
    // Tokens never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsSettings")
            .field("url", &self.url.as_str())
            .field("sender", &self.sender)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// The SMS counters on `/metrics`, shared by the dispatcher and the API.
#[derive(Debug, Default)]
pub struct SmsMetrics {
    /// `pe_sms_queued`: rows not yet sent (all nodes).
    pub queued: Gauge,
    /// `pe_sms_oldest_queued_age_seconds`: how long the oldest of them waits.
    pub oldest_queued_age: Gauge<f64, AtomicU64>,
    /// `pe_sms_sent_total`: taken by the gateway (this node).
    pub sent: Counter,
    /// `pe_sms_failed_total`: refused, undeliverable or given up.
    pub failed: Counter,
    /// `pe_sms_gateway_errors_total`: sends that failed and wait for a retry.
    pub gateway_errors: Counter,
    /// `pe_sms_delivered_total`: delivery reports saying delivered.
    pub delivered: Counter,
}

impl SmsMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "pe_sms_queued",
            "SMS in the outbox not yet taken by the gateway",
            self.queued.clone(),
        );
        registry.register(
            "pe_sms_oldest_queued_age_seconds",
            "Age of the oldest SMS not yet taken by the gateway",
            self.oldest_queued_age.clone(),
        );
        registry.register("pe_sms_sent", "SMS taken by the gateway", self.sent.clone());
        registry.register(
            "pe_sms_failed",
            "SMS refused by the gateway, reported undeliverable, or given up after give_up_after_hours",
            self.failed.clone(),
        );
        registry.register(
            "pe_sms_gateway_errors",
            "SMS sends that failed on the gateway (no connection, timeout, 5xx, 429) and will be retried",
            self.gateway_errors.clone(),
        );
        registry.register(
            "pe_sms_delivered",
            "SMS the gateway reported delivered",
            self.delivered.clone(),
        );
    }
}

/// What the delivery-report endpoint needs.
#[derive(Clone, Debug)]
pub struct SmsReports {
    pub status_token_sha256: Option<String>,
    pub metrics: std::sync::Arc<SmsMetrics>,
}
