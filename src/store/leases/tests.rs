//! Claim leases on both backends: expiry, renewal, where an expired claim
//! goes, and two nodes sweeping at once.

use super::*;
use crate::queue::Priority;
use crate::store::tests::{on_both_backends, postgres_test_db, sqlite_test_db};
use crate::store::{Answer, CaseMode, CaseRecord, CaseStatus, Channel, NewCase};
use chrono::TimeZone;
use std::collections::HashSet;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn min(m: i64) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(m)
}

fn case(mode: CaseMode, number: Option<&str>) -> NewCase {
    NewCase {
        channel: Channel::Phone,
        priority: Priority::new(2).unwrap_or(Priority::LOWEST),
        mode,
        registered_at: t0(),
        deadline: min(60),
        estimated_callback_at: None,
        answers: vec![Answer {
            question_id: "q".into(),
            question_text: "Q?".into(),
            value: "1".into(),
            value_text: "Ja".into(),
        }],
        callback_number: number.map(str::to_string),
        personnummer: None,
        language: "sv".into(),
        call_id: None,
        external_ref: None,
        summary: String::new(),
        red_flag: false,
    }
}

fn nurse(name: &str) -> Actor<'_> {
    Actor {
        username: name,
        ip: None,
        may_override: false,
    }
}

/// A case claimed by anna at `at` (5-minute lease).
async fn claimed(store: &Store, mode: CaseMode, at: DateTime<Utc>) -> CaseRecord {
    let c = store
        .insert_case(&case(mode, Some("+46701234567")))
        .await
        .unwrap_or_else(|e| panic!("insert: {e}"));
    store
        .claim(c.id, &nurse("anna"), at)
        .await
        .unwrap_or_else(|e| panic!("claim: {e}"))
}

async fn status(store: &Store, id: Uuid) -> CaseStatus {
    match store.get_case(id).await {
        Ok(Some(c)) => c.status,
        other => panic!("get_case: {other:?}"),
    }
}

async fn claim(store: &Store, id: Uuid) -> crate::store::ClaimInfo {
    match store.claim_info(id).await {
        Ok(Some(info)) => info,
        other => panic!("claim_info: {other:?}"),
    }
}

async fn sweep(store: &Store, at: DateTime<Utc>) -> Vec<Uuid> {
    store
        .sweep_expired_claims(at)
        .await
        .unwrap_or_else(|e| panic!("sweep: {e}"))
}

async fn expired_claim_goes_back_to_waiting_with_an_audit_row(store: Store) {
    let c = claimed(&store, CaseMode::Callback, min(0)).await;
    let info = claim(&store, c.id).await;
    assert_eq!(
        info.claim_expires_at,
        Some(min(5)),
        "the lease is 5 minutes"
    );
    assert!(sweep(&store, min(4)).await.is_empty(), "still leased");
    assert_eq!(sweep(&store, min(6)).await, vec![c.id]);
    assert_eq!(status(&store, c.id).await, CaseStatus::Waiting);
    let info = claim(&store, c.id).await;
    assert_eq!((info.claimed_by, info.claim_expires_at), (None, None));
    let audit = store.audit_rows(Some(c.id), 10).await.unwrap_or_default();
    let expired: Vec<_> = audit
        .iter()
        .filter(|r| r.action == "claim.expired")
        .collect();
    assert_eq!(expired.len(), 1, "{audit:?}");
    assert_eq!(expired[0].actor, "system");
    assert_eq!(expired[0].at, min(6));
    assert!(
        expired[0].detail.contains("claimed_by=anna") && expired[0].detail.contains("waiting"),
        "{}",
        expired[0].detail
    );
    assert!(sweep(&store, min(7)).await.is_empty(), "once");
    // Back in the queue: take-next hands it out again.
    let next = store.claim_next(&nurse("bo"), min(8)).await.ok().flatten();
    assert_eq!(next.map(|c| c.id), Some(c.id));
}

async fn renewed_claim_is_not_swept(store: Store) {
    let c = claimed(&store, CaseMode::Callback, min(0)).await;
    let until = store.renew_claim(c.id, "anna", min(4)).await;
    assert_eq!(until.ok(), Some(min(9)));
    assert!(
        sweep(&store, min(6)).await.is_empty(),
        "renewed at 4: until 9"
    );
    assert_eq!(status(&store, c.id).await, CaseStatus::Claimed);
    assert!(matches!(
        store.renew_claim(c.id, "bo", min(6)).await,
        Err(ClaimError::NotYours(_))
    ));
    assert_eq!(sweep(&store, min(10)).await, vec![c.id]);
    assert!(
        matches!(
            store.renew_claim(c.id, "anna", min(11)).await,
            Err(ClaimError::WrongStatus {
                status: CaseStatus::Waiting,
                ..
            })
        ),
        "a swept claim cannot be renewed: the page says so"
    );
}

async fn expired_claim_goes_back_where_it_came_from(store: Store) {
    // A caller still holding: back to holding.
    let held = claimed(&store, CaseMode::Hold, min(0)).await;
    // A review case (withheld caller left): back to review.
    let withheld = store
        .insert_case_held_by(&case(CaseMode::Hold, None), Some("gone-node"))
        .await
        .unwrap_or_else(|e| panic!("insert: {e}"));
    let lapsed = store
        .sweep_lapsed_holds(TimeDelta::seconds(15), min(0))
        .await;
    assert_eq!(lapsed.ok(), Some(vec![withheld.id]));
    assert_eq!(status(&store, withheld.id).await, CaseStatus::Review);
    store
        .claim(withheld.id, &nurse("anna"), min(0))
        .await
        .unwrap_or_else(|e| panic!("claim review case: {e}"));
    let mut swept = sweep(&store, min(6)).await;
    swept.sort();
    let mut want = vec![held.id, withheld.id];
    want.sort();
    assert_eq!(swept, want);
    assert_eq!(status(&store, held.id).await, CaseStatus::Holding);
    assert_eq!(status(&store, withheld.id).await, CaseStatus::Review);
}

async fn claim_from_before_leases_expires_a_lease_after_its_claim(store: Store) {
    let c = claimed(&store, CaseMode::Callback, min(0)).await;
    store
        .execute_raw(&format!(
            "UPDATE cases SET claim_expires_at = NULL WHERE id = '{}'",
            c.id
        ))
        .await
        .unwrap_or_else(|e| panic!("raw: {e}"));
    assert!(sweep(&store, min(4)).await.is_empty());
    assert_eq!(sweep(&store, min(6)).await, vec![c.id]);
}

on_both_backends!(
    expired_claim_goes_back_to_waiting_with_an_audit_row,
    renewed_claim_is_not_swept,
    expired_claim_goes_back_where_it_came_from,
    claim_from_before_leases_expires_a_lease_after_its_claim,
);

/// Two nodes (two `Store` handles on one database) sweep the same expired
/// claims at once: every claim comes back exactly once, with one audit row.
async fn two_nodes_sweeping_at_once_return_each_claim_once(a: Store, b: Store) {
    let mut ids = HashSet::new();
    for i in 0..20 {
        ids.insert(claimed(&a, CaseMode::Callback, min(i % 3)).await.id);
    }
    let (ra, rb) = tokio::join!(
        a.sweep_expired_claims(min(30)),
        b.sweep_expired_claims(min(30))
    );
    let (ra, rb) = (
        ra.unwrap_or_else(|e| panic!("node a: {e}")),
        rb.unwrap_or_else(|e| panic!("node b: {e}")),
    );
    let all: Vec<Uuid> = ra.iter().chain(rb.iter()).copied().collect();
    let unique: HashSet<Uuid> = all.iter().copied().collect();
    assert_eq!(all.len(), 20, "each once: a {} + b {}", ra.len(), rb.len());
    assert_eq!(unique, ids);
    let audit = a.audit_rows(None, 1000).await.unwrap_or_default();
    let expired = audit.iter().filter(|r| r.action == "claim.expired").count();
    assert_eq!(expired, 20);
}

#[tokio::test]
async fn two_nodes_sweeping_at_once_sqlite() {
    let db = sqlite_test_db().await;
    let other = Store::connect(&db.url).await.expect("second node");
    two_nodes_sweeping_at_once_return_each_claim_once(db.store.clone(), other.clone()).await;
    other.close().await;
    db.finish().await;
}

#[tokio::test]
async fn two_nodes_sweeping_at_once_postgres() {
    let db = postgres_test_db().await;
    let other = Store::connect(&db.url).await.expect("second node");
    two_nodes_sweeping_at_once_return_each_claim_once(db.store.clone(), other.clone()).await;
    other.close().await;
    db.finish().await;
}
