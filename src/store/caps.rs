//! The queue's caps (`queue.toml [caps]`), enforced where cases are
//! registered: inside the registering transaction, after the new rows are
//! written (so SQLite's write lock is held and the counts include them). A
//! refused case is rolled back and leaves an audit row `case.refused` (the
//! cap, channel and level: no number) and a count on `/metrics`.

use super::audit::AuditRecord;
use super::Store;
use crate::case::{CaseRecord, Channel};
use crate::queue::Cap;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Cases registered by one callback number since `$2`.
pub(super) const FROM_NUMBER_SQL: &str =
    "SELECT COUNT(*) FROM cases WHERE callback_number = $1 AND registered_at > $2";
/// Callbacks waiting now.
pub(super) const PENDING_SQL: &str =
    "SELECT COUNT(*) FROM cases WHERE status = 'waiting' AND mode = 'callback'";
/// A red-flag phone callback (`$1`) goes to the review list when its number
/// left more than `$3` of them since `$2`, itself included (queue.toml
/// `red_flags_per_number_per_day`). Returns its id when it did.
pub(super) const REPEATED_RED_FLAGS_SQL: &str = "UPDATE cases SET status = 'review', \
     review_reason = 'repeated_red_flags' \
     WHERE id = $1 AND status = 'waiting' AND mode = 'callback' AND channel = 'phone' \
     AND red_flag = TRUE AND callback_number IS NOT NULL \
     AND (SELECT COUNT(*) FROM cases o WHERE o.callback_number = cases.callback_number \
          AND o.channel = 'phone' AND o.mode = 'callback' AND o.red_flag = TRUE \
          AND o.registered_at > $2) > $3 RETURNING id";

/// Refusals since `$1` (the supervisor's "refused today").
pub(super) const REFUSED_SINCE_SQL: &str =
    "SELECT COUNT(*) FROM audit_log WHERE action = 'case.refused' AND at >= $1";

/// `pe_cases_refused_total{cap}`: cases this node refused by a cap;
/// `pe_cases_repeated_red_flags_total`: red-flag callbacks it sent to review.
#[derive(Clone, Debug, Default)]
pub struct CapCounters {
    refused: Family<Vec<(String, String)>, Counter>,
    repeated_red_flags: Counter,
}

impl CapCounters {
    pub fn register(&self, registry: &mut Registry) {
        for cap in Cap::ALL {
            let _ = self.refused.get_or_create(&label(cap));
        }
        registry.register(
            "pe_cases_refused",
            "Cases refused by a queue cap (queue.toml [caps]): per_number or pending_total",
            self.refused.clone(),
        );
        registry.register(
            "pe_cases_repeated_red_flags",
            "Red-flag phone callbacks sent to the review list: their number left more than \
             red_flags_per_number_per_day (queue.toml [caps]) in 24 hours",
            self.repeated_red_flags.clone(),
        );
    }

    fn count(&self, cap: Cap) {
        self.refused.get_or_create(&label(cap)).inc();
    }

    pub(super) fn count_flagged(&self, cases: usize) {
        self.repeated_red_flags.inc_by(cases as u64);
    }

    /// Refusals so far on this node.
    pub fn get(&self, cap: Cap) -> u64 {
        self.refused.get_or_create(&label(cap)).get()
    }

    /// Red-flag callbacks sent to review so far on this node.
    pub fn repeated_red_flags(&self) -> u64 {
        self.repeated_red_flags.get()
    }
}

/// The audit row of a case sent to review by `red_flags_per_number_per_day`.
pub(super) fn repeated_red_flags_audit(
    id: uuid::Uuid,
    at: chrono::DateTime<chrono::Utc>,
) -> AuditRecord {
    AuditRecord::new(
        at,
        "ivr",
        "case.review",
        Some(id),
        "reason=repeated_red_flags",
        None,
    )
}

fn label(cap: Cap) -> Vec<(String, String)> {
    vec![("cap".to_string(), cap.as_str().to_string())]
}

impl Store {
    /// Counts and audits that `cap` refused `case` (already rolled back).
    pub(super) async fn note_refusal(&self, cap: Cap, case: &CaseRecord) {
        self.cap_counters.count(cap);
        let actor = match case.channel {
            Channel::Phone => "ivr",
            Channel::Digital => "digital-intake",
        };
        let detail = format!(
            "cap={} channel={} priority={} mode={}",
            cap.as_str(),
            case.channel,
            case.priority,
            case.mode
        );
        let audit = AuditRecord::new(
            case.registered_at,
            actor,
            "case.refused",
            None,
            detail,
            None,
        );
        if let Err(e) = self.audit(&audit).await {
            tracing::warn!(error = %e, "refused case not audited");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{new_case, on_both_backends, postgres_test_db, sqlite_test_db};
    use super::*;
    use crate::queue::QueueCaps;
    use crate::store::StoreError;

    on_both_backends!(
        caps_refuse_beyond_the_limit_audited_and_counted,
        repeated_red_flag_callbacks_go_to_review_not_the_queue_top,
    );

    fn from(number: &str, level: u8) -> crate::case::NewCase {
        let mut c = new_case(level, 0, 120);
        c.callback_number = Some(number.into());
        c
    }

    async fn caps_refuse_beyond_the_limit_audited_and_counted(store: Store) {
        let store = store.with_caps(QueueCaps {
            per_number_per_day: 2,
            max_pending_callbacks: 3,
            ..QueueCaps::OFF
        });
        for _ in 0..2 {
            store.insert_case(&from("+46701111111", 3)).await.unwrap();
        }
        let third = store.insert_case(&from("+46701111111", 3)).await;
        assert!(
            matches!(third, Err(StoreError::CapReached(Cap::PerNumber))),
            "{third:?}"
        );
        store.insert_case(&from("+46702222222", 4)).await.unwrap();
        let full = store.insert_case(&from("+46703333333", 4)).await;
        assert!(
            matches!(full, Err(StoreError::CapReached(Cap::PendingTotal))),
            "{full:?}"
        );
        // A caller on the line may still hold for a nurse.
        let held = store.insert_case(&from("+46704444444", 1)).await;
        assert!(held.is_ok(), "{held:?}");
        assert_eq!(store.worklist().await.unwrap().len(), 4);
        let refused: Vec<String> = store
            .audit_rows(None, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.action == "case.refused")
            .map(|r| r.detail)
            .collect();
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(refused[0].starts_with("cap=per_number channel=phone"));
        assert!(refused.iter().all(|d| !d.contains("4670")), "no number");
        assert_eq!(store.cap_counters().get(Cap::PerNumber), 1);
        assert_eq!(store.cap_counters().get(Cap::PendingTotal), 1);
    }

    async fn repeated_red_flag_callbacks_go_to_review_not_the_queue_top(store: Store) {
        use crate::case::{CaseMode, CaseStatus, ReviewReason};
        let store = store.with_caps(QueueCaps {
            red_flags_per_number_per_day: 2,
            ..QueueCaps::OFF
        });
        let dropped = |minute: i64| {
            let mut c = from("+46705555555", 1);
            c.mode = CaseMode::Callback;
            c.registered_at += chrono::TimeDelta::minutes(minute);
            c
        };
        for minute in 0..2 {
            let c = store.insert_case(&dropped(minute)).await.unwrap();
            assert_eq!(c.status, CaseStatus::Waiting);
        }
        // A third dropped red flag, and a held one whose caller hangs up.
        let third = store.insert_case(&dropped(2)).await.unwrap();
        assert_eq!(
            (third.status, third.review_reason),
            (CaseStatus::Review, Some(ReviewReason::RepeatedRedFlags))
        );
        let held = store.insert_case(&from("+46705555555", 1)).await.unwrap();
        assert_eq!(
            held.status,
            CaseStatus::Holding,
            "on the line: a nurse takes it"
        );
        let left = store
            .holding_caller_hung_up(held.id, held.registered_at)
            .await
            .unwrap();
        assert_eq!(
            (left.status, left.review_reason),
            (CaseStatus::Review, Some(ReviewReason::RepeatedRedFlags))
        );
        let stored = store.get_case(third.id).await.unwrap().unwrap();
        assert_eq!(stored.review_reason, Some(ReviewReason::RepeatedRedFlags));
        assert_eq!(store.worklist().await.unwrap().len(), 2, "two in the queue");
        assert_eq!(store.review_list().await.unwrap().len(), 2, "nothing lost");
        // Another number and a non-red-flag case are not affected.
        let mut other = dropped(3);
        other.callback_number = Some("+46707777777".into());
        assert_eq!(
            store.insert_case(&other).await.unwrap().status,
            CaseStatus::Waiting
        );
        let mut calm = from("+46706666666", 3);
        calm.registered_at += chrono::TimeDelta::minutes(4);
        assert_eq!(
            store.insert_case(&calm).await.unwrap().status,
            CaseStatus::Waiting
        );
        let reviews = store
            .audit_rows(None, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.action == "case.review")
            .count();
        assert_eq!(reviews, 2);
        assert_eq!(store.cap_counters().repeated_red_flags(), 2);
    }
}
