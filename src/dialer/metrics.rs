//! Callback counters for `/metrics`: how many run, how they ended.

use super::CallResult;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// Callbacks on this node.
#[derive(Debug, Default)]
pub struct CallbackMetrics {
    pub active: Gauge,
    results: Family<ResultLabel, Counter>,
    /// Calls the trunk failed (5xx, no answer from it, our credentials refused).
    pub trunk_failures: Counter,
    /// `pe_held_pickups_total{result}`: callers held on another node taken
    /// by a nurse here (started, failed, expired), and served here for
    /// another node's nurse (served).
    pickups: Family<ResultLabel, Counter>,
    /// Contact-to-answer and estimate-error histograms.
    pub answers: super::answer_metrics::AnswerMetrics,
}

impl CallbackMetrics {
    /// Puts the counters on `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "pe_callbacks_active",
            "Callbacks (nurse and resident legs) running on this node",
            self.active.clone(),
        );
        for result in RESULTS {
            let _ = self.results.get_or_create(&ResultLabel { result });
        }
        registry.register("pe_callbacks", "How callbacks ended", self.results.clone());
        registry.register(
            "pe_trunk_failures",
            "Callbacks the trunk failed (no attempt at the resident used)",
            self.trunk_failures.clone(),
        );
        for result in PICKUP_RESULTS {
            let _ = self.pickups.get_or_create(&ResultLabel { result });
        }
        registry.register(
            "pe_held_pickups",
            "Held callers on another node taken by a nurse here (started, failed, expired) or served here (served)",
            self.pickups.clone(),
        );
        self.answers.register(registry);
    }

    /// Counts a cross-node pickup: one of [`PICKUP_RESULTS`].
    pub fn pickup(&self, result: &'static str) {
        self.pickups.get_or_create(&ResultLabel { result }).inc();
    }

    /// Counts how a callback ended.
    pub fn ended(&self, result: CallResult) {
        let result = result.as_str();
        self.results.get_or_create(&ResultLabel { result }).inc();
    }
}

/// `pe_held_pickups_total` results.
pub const PICKUP_RESULTS: [&str; 4] = ["started", "failed", "expired", "served"];

const RESULTS: [&str; 7] = [
    "connected",
    "busy",
    "no_answer",
    "rejected",
    "failed",
    "nurse_unavailable",
    "cancelled",
];
