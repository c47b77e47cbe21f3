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
/// Refusals since `$1` (the supervisor's "refused today").
pub(super) const REFUSED_SINCE_SQL: &str =
    "SELECT COUNT(*) FROM audit_log WHERE action = 'case.refused' AND at >= $1";

/// `pe_cases_refused_total{cap}`: cases this node refused by a cap.
#[derive(Clone, Debug, Default)]
pub struct CapCounters(Family<Vec<(String, String)>, Counter>);

impl CapCounters {
    pub fn register(&self, registry: &mut Registry) {
        for cap in Cap::ALL {
            let _ = self.0.get_or_create(&label(cap));
        }
        registry.register(
            "pe_cases_refused",
            "Cases refused by a queue cap (queue.toml [caps]): per_number or pending_total",
            self.0.clone(),
        );
    }

    fn count(&self, cap: Cap) {
        self.0.get_or_create(&label(cap)).inc();
    }

    /// Refusals so far on this node.
    pub fn get(&self, cap: Cap) -> u64 {
        self.0.get_or_create(&label(cap)).get()
    }
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

    on_both_backends!(caps_refuse_beyond_the_limit_audited_and_counted,);

    fn from(number: &str, level: u8) -> crate::case::NewCase {
        let mut c = new_case(level, 0, 120);
        c.callback_number = Some(number.into());
        c
    }

    async fn caps_refuse_beyond_the_limit_audited_and_counted(store: Store) {
        let store = store.with_caps(QueueCaps {
            per_number_per_day: 2,
            max_pending_callbacks: 3,
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
}
