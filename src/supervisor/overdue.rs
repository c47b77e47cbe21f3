//! The supervisor's overdue alert (DESIGN.md section 3): open cases past
//! their deadline, from the queue order, and when the next one will be.
//! Case ids and levels only: no personal data.

use crate::queue::{Queue, QueuedCase};
use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use uuid::Uuid;

/// At most this many overdue cases are listed (the count covers all).
pub const MAX_LISTED: usize = 50;

/// One open case past its deadline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OverdueCase {
    pub case_id: Uuid,
    pub level: u8,
    pub deadline: DateTime<Utc>,
    /// Whole minutes past the deadline.
    pub minutes_over: i64,
}

/// Open cases past their deadline now, most urgent first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OverdueAlert {
    pub count: u32,
    /// Overdue cases per level (index 0 = level 1).
    pub per_level: [u32; 5],
    /// The first `MAX_LISTED` in queue order.
    pub cases: Vec<OverdueCase>,
    /// When the next case that is still in time passes its deadline.
    pub next_alert_at: Option<DateTime<Utc>>,
}

impl OverdueAlert {
    /// The alert for the open cases `open` at `now`.
    pub fn at(open: &[QueuedCase<Uuid>], now: DateTime<Utc>) -> OverdueAlert {
        let queue: Queue<Uuid> = open.iter().cloned().collect();
        let mut alert = OverdueAlert {
            next_alert_at: queue.next_alert(now),
            ..OverdueAlert::default()
        };
        for case in queue.overdue(now) {
            let level = case.priority.level();
            alert.count = alert.count.saturating_add(1);
            if let Some(n) = alert
                .per_level
                .get_mut(usize::from(level).saturating_sub(1))
            {
                *n = n.saturating_add(1);
            }
            if alert.cases.len() < MAX_LISTED {
                alert.cases.push(OverdueCase {
                    case_id: case.id,
                    level,
                    deadline: case.deadline,
                    minutes_over: (now - case.deadline).num_minutes().max(0),
                });
            }
        }
        alert
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LevelLabel {
    level: u8,
}

/// `pe_cases_overdue{level}` on `/metrics`, set from the latest alert.
#[derive(Debug, Default)]
pub struct OverdueMetrics {
    overdue: Family<LevelLabel, Gauge>,
}

impl OverdueMetrics {
    pub fn register(&self, registry: &mut Registry) {
        self.set(&OverdueAlert::default());
        registry.register(
            "pe_cases_overdue",
            "Open cases past their deadline, per level",
            self.overdue.clone(),
        );
    }

    pub fn set(&self, alert: &OverdueAlert) {
        for (level, n) in (1u8..=5).zip(alert.per_level) {
            self.overdue
                .get_or_create(&LevelLabel { level })
                .set(i64::from(n));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Priority;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 3, h, m, 0).single().unwrap()
    }

    fn case(n: u128, level: u8, deadline: DateTime<Utc>) -> QueuedCase<Uuid> {
        QueuedCase {
            id: Uuid::from_u128(n),
            priority: Priority::new(level).unwrap(),
            registered_at: at(8, 0),
            deadline,
        }
    }

    #[test]
    fn lists_cases_past_their_deadline_in_queue_order_and_the_next_alert() {
        let open = vec![
            case(1, 4, at(9, 0)),
            case(2, 2, at(9, 30)),
            case(3, 3, at(11, 0)),
            case(4, 1, at(9, 50)),
        ];
        let alert = OverdueAlert::at(&open, at(10, 0));
        assert_eq!(alert.count, 3);
        assert_eq!(alert.per_level, [1, 1, 0, 1, 0]);
        let order: Vec<u128> = alert.cases.iter().map(|c| c.case_id.as_u128()).collect();
        assert_eq!(
            order,
            vec![4, 1, 2],
            "level 1 first, then earliest deadline"
        );
        assert_eq!(alert.cases[1].minutes_over, 60);
        assert_eq!(alert.next_alert_at, Some(at(11, 0)));
    }

    #[test]
    fn gauges_follow_the_alert_per_level() {
        let metrics = OverdueMetrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        metrics.set(&OverdueAlert::at(&[case(1, 2, at(9, 0))], at(10, 0)));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("pe_cases_overdue{level=\"2\"} 1"), "{text}");
        assert!(text.contains("pe_cases_overdue{level=\"1\"} 0"), "{text}");
    }
}
