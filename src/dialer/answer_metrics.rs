//! Histograms for live dashboards, observed the moment a nurse's call is
//! answered (not read back from the database): time from contact to answer
//! per level and channel, and how far the callback time told was off.

use crate::store::CaseRecord;
use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LevelChannel {
    level: u8,
    channel: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Level {
    level: u8,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// 30 s to 2 days: level 1's minutes to level 5's day.
const WAIT_BUCKETS: [f64; 15] = [
    30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
    57600.0, 86400.0, 172800.0,
];
const ERROR_BUCKETS: [f64; 10] = [
    60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
];

fn wait_histogram() -> Histogram {
    Histogram::new(WAIT_BUCKETS)
}

fn error_histogram() -> Histogram {
    Histogram::new(ERROR_BUCKETS)
}

/// The two answer histograms.
#[derive(Debug)]
pub struct AnswerMetrics {
    wait: Histograms<LevelChannel>,
    estimate_error: Histograms<Level>,
}

impl Default for AnswerMetrics {
    fn default() -> AnswerMetrics {
        AnswerMetrics {
            wait: Family::new_with_constructor(wait_histogram),
            estimate_error: Family::new_with_constructor(error_histogram),
        }
    }
}

impl AnswerMetrics {
    pub fn register(&self, registry: &mut Registry) {
        // Every series exists from the start, so dashboards see zeros.
        for level in 1..=5 {
            for channel in ["phone", "digital"] {
                let _ = self.wait.get_or_create(&LevelChannel { level, channel });
            }
            let _ = self.estimate_error.get_or_create(&Level { level });
        }
        registry.register(
            "pe_contact_to_answer_seconds",
            "Time from a contact (case registered) to a nurse's answer (callback answered or held caller bridged)",
            self.wait.clone(),
        );
        registry.register(
            "pe_estimate_error_seconds",
            "Absolute difference between the callback time told and the nurse's answer",
            self.estimate_error.clone(),
        );
    }

    /// A nurse's call for `case` was answered at `at`.
    pub fn answered(&self, case: &CaseRecord, at: DateTime<Utc>) {
        let level = case.priority.level();
        let wait = (at - case.registered_at).num_milliseconds().max(0) as f64 / 1000.0;
        self.wait
            .get_or_create(&LevelChannel {
                level,
                channel: case.channel.as_str(),
            })
            .observe(wait);
        if let Some(told) = case.estimated_callback_at {
            let error = (at - told).num_milliseconds().abs() as f64 / 1000.0;
            self.estimate_error
                .get_or_create(&Level { level })
                .observe(error);
        }
    }
}
