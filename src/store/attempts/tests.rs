//! Attempts, retries and call legs on both backends.

use super::*;
use crate::store::tests::{on_both_backends, postgres_test_db, sqlite_test_db};
use crate::store::{
    Answer, CaseMode, CaseRecord, CaseStatus, Channel, NewCase, Outcome, ReviewReason,
};
use chrono::{TimeDelta, TimeZone};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn min(m: i64) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(m)
}

fn case(level: u8, minute: i64, mode: CaseMode) -> NewCase {
    NewCase {
        channel: Channel::Phone,
        priority: Priority::new(level).unwrap_or(Priority::LOWEST),
        mode,
        registered_at: min(minute),
        deadline: min(minute + 30 * i64::from(level)),
        estimated_callback_at: None,
        answers: vec![Answer {
            question_id: "q".into(),
            question_text: "Q?".into(),
            value: "1".into(),
            value_text: "Ja".into(),
        }],
        callback_number: Some("+46701234567".into()),
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

async fn insert(store: &Store, c: &NewCase) -> CaseRecord {
    store
        .insert_case(c)
        .await
        .unwrap_or_else(|e| panic!("insert: {e}"))
}

async fn get(store: &Store, id: Uuid) -> CaseRecord {
    match store.get_case(id).await {
        Ok(Some(c)) => c,
        other => panic!("get_case: {other:?}"),
    }
}

async fn claim(store: &Store, id: Uuid, who: &str, at: DateTime<Utc>) {
    if let Err(e) = store.claim(id, &nurse(who), at).await {
        panic!("claim: {e}");
    }
}

async fn attempt(
    store: &Store,
    id: Uuid,
    who: &str,
    result: AttemptResult,
    at: DateTime<Utc>,
) -> AttemptOutcome {
    store
        .record_attempt(id, who, result, &RetryPolicies::default(), at)
        .await
        .unwrap_or_else(|e| panic!("record_attempt: {e}"))
}

async fn failed_attempts_retry_then_the_last_makes_the_case_unreachable(store: Store) {
    let c = insert(&store, &case(3, 0, CaseMode::Callback)).await;

    claim(&store, c.id, "anna", min(1)).await;
    let first = attempt(&store, c.id, "anna", AttemptResult::Busy, min(2)).await;
    assert_eq!(first, AttemptOutcome::RetryAt(min(12)));
    let after = get(&store, c.id).await;
    assert_eq!(after.status, CaseStatus::Waiting);
    assert_eq!(after.attempts, 1);
    assert_eq!(after.next_attempt_at, Some(min(12)));
    assert_eq!(
        after.deadline, c.deadline,
        "a retried case keeps its deadline"
    );
    let info = store
        .claim_info(c.id)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert_eq!(info.claimed_by, None, "the claim ends");

    // Second attempt: a nurse may still claim it explicitly before its time.
    claim(&store, c.id, "bo", min(5)).await;
    let second = attempt(&store, c.id, "bo", AttemptResult::NoAnswer, min(6)).await;
    assert_eq!(second, AttemptOutcome::RetryAt(min(16)));

    claim(&store, c.id, "anna", min(20)).await;
    let third = attempt(&store, c.id, "anna", AttemptResult::Failed, min(21)).await;
    assert_eq!(third, AttemptOutcome::Unreachable);
    let closed = get(&store, c.id).await;
    assert_eq!(closed.status, CaseStatus::Unreachable);
    assert_eq!(closed.attempts, 3);
    assert_eq!(closed.next_attempt_at, None);
    let info = store
        .claim_info(c.id)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert_eq!(info.closed_at, Some(min(21)));
    assert_eq!(info.claimed_by, None);
    assert!(store.worklist().await.unwrap_or_default().is_empty());

    let trail: Vec<(String, String, String)> = store
        .audit_rows(Some(c.id), 100)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.action == "case.attempt")
        .map(|r| (r.actor, r.detail, r.at.to_rfc3339()))
        .collect();
    assert_eq!(
        trail,
        vec![
            (
                "anna".to_string(),
                "result=busy attempts=1 then=retry".to_string(),
                min(2).to_rfc3339()
            ),
            (
                "bo".to_string(),
                "result=no_answer attempts=2 then=retry".to_string(),
                min(6).to_rfc3339()
            ),
            (
                "anna".to_string(),
                "result=failed attempts=3 then=unreachable".to_string(),
                min(21).to_rfc3339()
            ),
        ]
    );

    // Listed for the supervisor from the day it was closed.
    let listed = store.unreachable_since(t0()).await.unwrap_or_default();
    assert_eq!(
        listed,
        vec![UnreachableCase {
            id: c.id,
            priority: c.priority,
            attempts: 3,
            registered_at: c.registered_at,
            deadline: c.deadline,
            closed_at: Some(min(21)),
        }]
    );
    assert_eq!(store.count_unreachable_since(t0()).await.ok(), Some(1));
    assert_eq!(store.count_unreachable_since(min(22)).await.ok(), Some(0));
    assert!(store
        .unreachable_since(min(22))
        .await
        .unwrap_or_default()
        .is_empty());
}

async fn connected_attempt_keeps_the_claim_and_changes_nothing_else(store: Store) {
    let c = insert(&store, &case(2, 0, CaseMode::Callback)).await;
    claim(&store, c.id, "anna", min(1)).await;
    let version = store.queue_version().await.unwrap_or(0);
    let outcome = attempt(&store, c.id, "anna", AttemptResult::Connected, min(2)).await;
    assert_eq!(outcome, AttemptOutcome::Connected);
    let after = get(&store, c.id).await;
    assert_eq!((after.status, after.attempts), (CaseStatus::Claimed, 0));
    assert_eq!(after.next_attempt_at, None);
    assert_eq!(
        store.queue_version().await.unwrap_or(0),
        version,
        "the case row is untouched"
    );
    let last = store
        .audit_rows(Some(c.id), 100)
        .await
        .unwrap_or_default()
        .pop()
        .map(|r| (r.action, r.actor, r.detail));
    assert_eq!(
        last,
        Some((
            "case.attempt".to_string(),
            "anna".to_string(),
            "result=connected".to_string()
        ))
    );
}

/// Busy three times: a level-4 case closes as unreachable, a level-2 case
/// lands in the review list (open, unclaimed, not dialled) for a nurse.
async fn last_attempt_on_an_urgent_case_goes_to_review_not_closed(store: Store) {
    let urgent = insert(&store, &case(2, 0, CaseMode::Callback)).await;
    let routine = insert(&store, &case(4, 0, CaseMode::Callback)).await;
    for (n, c) in [&urgent, &routine].into_iter().enumerate() {
        for i in 0..3 {
            let at = min(10 * i + n as i64);
            claim(&store, c.id, "anna", at).await;
            attempt(&store, c.id, "anna", AttemptResult::Busy, at).await;
        }
    }
    let closed = get(&store, routine.id).await;
    assert_eq!(
        (closed.status, closed.review_reason),
        (CaseStatus::Unreachable, None)
    );
    let review = get(&store, urgent.id).await;
    assert_eq!(
        (review.status, review.review_reason, review.attempts),
        (CaseStatus::Review, Some(ReviewReason::NotReached), 3)
    );
    let info = store.claim_info(urgent.id).await.ok().flatten();
    let info = info.unwrap_or_default();
    assert_eq!((info.claimed_by, info.closed_at), (None, None), "open");
    assert_eq!(
        store.review_list().await.unwrap_or_default(),
        vec![review.clone()]
    );
    assert!(
        store.worklist().await.unwrap_or_default().is_empty(),
        "not in the callback queue"
    );
    assert!(
        store
            .claim_next(&nurse("bo"), min(500))
            .await
            .ok()
            .flatten()
            .is_none(),
        "take-next never hands out a review case"
    );
    let trail = store.audit_rows(Some(urgent.id), 100).await;
    assert!(
        trail
            .unwrap_or_default()
            .iter()
            .any(|r| r.detail == "result=busy attempts=3 then=review"),
        "audited"
    );
    // A nurse claims it by hand; released, it goes back to review; closed
    // with an outcome, it is done.
    claim(&store, urgent.id, "bo", min(60)).await;
    let back = store.release(urgent.id, &nurse("bo"), min(61)).await;
    assert_eq!(back.ok().map(|c| c.status), Some(CaseStatus::Review));
    claim(&store, urgent.id, "bo", min(62)).await;
    let done = store
        .record_outcome(urgent.id, Outcome::Other, "", &nurse("bo"), min(63))
        .await;
    assert_eq!(done.ok().map(|c| c.status), Some(CaseStatus::Done));
    assert!(store.review_list().await.unwrap_or_default().is_empty());
}

async fn failed_attempt_wakes_the_worklists(store: Store) {
    let c = insert(&store, &case(2, 0, CaseMode::Callback)).await;
    claim(&store, c.id, "anna", min(1)).await;
    let version = store.queue_version().await.unwrap_or(0);
    attempt(&store, c.id, "anna", AttemptResult::Rejected, min(2)).await;
    assert!(store.queue_version().await.unwrap_or(0) > version);
}

async fn attempt_needs_the_callers_claim(store: Store) {
    let c = insert(&store, &case(3, 0, CaseMode::Callback)).await;
    let policy = RetryPolicies::default();
    for result in [AttemptResult::Connected, AttemptResult::Busy] {
        assert!(matches!(
            store
                .record_attempt(c.id, "anna", result, &policy, min(1))
                .await,
            Err(ClaimError::WrongStatus {
                status: CaseStatus::Waiting,
                ..
            })
        ));
    }
    claim(&store, c.id, "bo", min(1)).await;
    for result in [AttemptResult::Connected, AttemptResult::NoAnswer] {
        assert!(matches!(
            store
                .record_attempt(c.id, "anna", result, &policy, min(2))
                .await,
            Err(ClaimError::NotYours(_))
        ));
    }
    assert!(matches!(
        store
            .record_attempt(Uuid::new_v4(), "anna", AttemptResult::Busy, &policy, min(2))
            .await,
        Err(ClaimError::NotFound(_))
    ));
    let after = get(&store, c.id).await;
    assert_eq!((after.status, after.attempts), (CaseStatus::Claimed, 0));
    let attempts = store
        .audit_rows(Some(c.id), 100)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.action == "case.attempt")
        .count();
    assert_eq!(attempts, 0, "refused attempts leave no audit row");
}

async fn failed_attempt_on_a_held_caller_becomes_a_callback(store: Store) {
    let c = insert(&store, &case(1, 0, CaseMode::Hold)).await;
    assert_eq!(c.status, CaseStatus::Holding);
    claim(&store, c.id, "anna", min(1)).await;
    let outcome = attempt(&store, c.id, "anna", AttemptResult::NoAnswer, min(1)).await;
    assert_eq!(outcome, AttemptOutcome::RetryAt(min(11)));
    let after = get(&store, c.id).await;
    assert_eq!(
        (after.status, after.mode),
        (CaseStatus::Waiting, CaseMode::Callback)
    );
}

async fn claim_next_passes_over_cases_waiting_for_their_next_attempt(store: Store) {
    // The level-2 case is ahead in queue order but waits for its next attempt.
    let retried = insert(&store, &case(2, 0, CaseMode::Callback)).await;
    let other = insert(&store, &case(4, 1, CaseMode::Callback)).await;
    claim(&store, retried.id, "anna", min(2)).await;
    attempt(&store, retried.id, "anna", AttemptResult::Busy, min(3)).await;

    // The worklist still shows it, in queue order, with its next attempt time.
    let list = store.worklist().await.unwrap_or_default();
    let rows: Vec<(Uuid, Option<DateTime<Utc>>)> =
        list.iter().map(|c| (c.id, c.next_attempt_at)).collect();
    assert_eq!(rows, vec![(retried.id, Some(min(13))), (other.id, None)]);

    let next = store.claim_next(&nurse("bo"), min(5)).await.ok().flatten();
    assert_eq!(next.map(|c| c.id), Some(other.id));
    assert_eq!(
        store.claim_next(&nurse("bo"), min(12)).await.ok().flatten(),
        None,
        "nothing else is due yet"
    );
    let due = store.claim_next(&nurse("bo"), min(13)).await.ok().flatten();
    assert_eq!(due.map(|c| c.id), Some(retried.id), "due at its time");
}

fn leg(case_id: Option<Uuid>, kind: LegKind, start: i64) -> CallLeg {
    CallLeg {
        id: Uuid::new_v4(),
        case_id,
        direction: if kind == LegKind::Ivr {
            LegDirection::Inbound
        } else {
            LegDirection::Outbound
        },
        kind,
        started_at: min(start) + TimeDelta::microseconds(250),
        answered_at: Some(min(start) + TimeDelta::seconds(7)),
        ended_at: min(start + 4),
        result: "completed".into(),
        sip_status: Some(200),
        ended_by: Some("remote".into()),
    }
}

async fn call_legs_round_trip_per_case(store: Store) {
    let c = insert(&store, &case(3, 0, CaseMode::Callback)).await;
    let other = insert(&store, &case(3, 0, CaseMode::Callback)).await;
    let nurse_leg = leg(Some(c.id), LegKind::NurseBrowser, 10);
    let mut resident = leg(Some(c.id), LegKind::Resident, 5);
    resident.answered_at = None;
    resident.result = AttemptResult::Busy.as_str().into();
    resident.sip_status = Some(486);
    resident.ended_by = None;
    let ivr = leg(None, LegKind::Ivr, 0);
    let elsewhere = leg(Some(other.id), LegKind::NursePhone, 1);
    for l in [&nurse_leg, &resident, &ivr, &elsewhere] {
        if let Err(e) = store.insert_call_leg(l).await {
            panic!("insert_call_leg: {e}");
        }
    }
    let legs = store.call_legs_for_case(c.id).await.unwrap_or_default();
    assert_eq!(legs, vec![resident, nurse_leg], "oldest first");
    assert!(store
        .call_legs_for_case(Uuid::new_v4())
        .await
        .unwrap_or_default()
        .is_empty());
}

async fn invalid_call_legs_are_refused(store: Store) {
    let mut bad = vec![];
    let mut l = leg(None, LegKind::Resident, 0);
    l.result = String::new();
    bad.push(l);
    let mut l = leg(None, LegKind::Resident, 0);
    l.result = "x".repeat(41);
    bad.push(l);
    let mut l = leg(None, LegKind::Resident, 0);
    l.sip_status = Some(99);
    bad.push(l);
    let mut l = leg(None, LegKind::Resident, 0);
    l.ended_by = Some("nurse".into());
    bad.push(l);
    let mut l = leg(None, LegKind::Resident, 5);
    l.ended_at = min(1);
    bad.push(l);
    for l in bad {
        assert!(
            matches!(
                store.insert_call_leg(&l).await,
                Err(StoreError::InvalidCallLeg { .. })
            ),
            "{l:?}"
        );
    }
    // A leg of a case that does not exist is refused by the database.
    assert!(store
        .insert_call_leg(&leg(Some(Uuid::new_v4()), LegKind::Resident, 0))
        .await
        .is_err());
}

#[test]
fn attempt_results_and_leg_kinds_use_snake_case_text() {
    for r in AttemptResult::ALL {
        assert_eq!(r.as_str().parse::<AttemptResult>().ok(), Some(*r));
        assert_eq!(
            serde_json::to_string(r).ok(),
            Some(format!("\"{}\"", r.as_str()))
        );
    }
    assert_eq!(AttemptResult::NoAnswer.as_str(), "no_answer");
    assert_eq!(LegKind::NurseBrowser.as_str(), "nurse_browser");
    for k in LegKind::ALL {
        assert_eq!(k.as_str().parse::<LegKind>().ok(), Some(*k));
    }
    for d in LegDirection::ALL {
        assert_eq!(d.as_str().parse::<LegDirection>().ok(), Some(*d));
    }
    assert!("ringing".parse::<AttemptResult>().is_err());
}

on_both_backends!(
    failed_attempts_retry_then_the_last_makes_the_case_unreachable,
    last_attempt_on_an_urgent_case_goes_to_review_not_closed,
    connected_attempt_keeps_the_claim_and_changes_nothing_else,
    failed_attempt_wakes_the_worklists,
    attempt_needs_the_callers_claim,
    failed_attempt_on_a_held_caller_becomes_a_callback,
    claim_next_passes_over_cases_waiting_for_their_next_attempt,
    call_legs_round_trip_per_case,
    invalid_call_legs_are_refused,
);
