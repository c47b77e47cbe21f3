//! Units and handoffs on both backends: the unit worklists, claiming within a
//! unit, the one-transaction handoff and its refusals, per-unit waits.

use super::*;
use crate::queue::Priority;
use crate::store::tests::{on_both_backends, postgres_test_db, sqlite_test_db};
use crate::store::{Answer, Channel, NewCase, Role};
use chrono::{TimeDelta, TimeZone};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn case(level: u8, mode: CaseMode) -> NewCase {
    NewCase {
        channel: Channel::Phone,
        priority: Priority::new(level).unwrap_or(Priority::LOWEST),
        mode,
        registered_at: t0(),
        deadline: t0() + TimeDelta::minutes(30 * i64::from(level)),
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
        ip: Some("10.0.0.9".into()),
        may_override: false,
    }
}

async fn insert(store: &Store, c: &NewCase) -> Uuid {
    store
        .insert_case(c)
        .await
        .unwrap_or_else(|e| panic!("insert: {e}"))
        .id
}

fn ids(cases: &[CaseRecord]) -> Vec<Uuid> {
    cases.iter().map(|c| c.id).collect()
}

const M: &str = "vc-markaryd";

async fn handoff_moves_the_case_between_unit_worklists(store: Store) {
    let a = insert(&store, &case(3, CaseMode::Callback)).await;
    let b = insert(&store, &case(4, CaseMode::Callback)).await;
    assert_eq!(
        ids(&store.unit_worklist(None).await.unwrap_or_default()),
        vec![a, b]
    );
    assert!(store
        .unit_worklist(Some(M))
        .await
        .unwrap_or_default()
        .is_empty());

    let anna = nurse("anna");
    assert!(store.claim_in(a, &anna, Some(None), t0()).await.is_ok());
    let moved = store
        .hand_off(a, M, Some(M), "1177", "needs a GP visit", &anna, t0())
        .await
        .unwrap_or_else(|e| panic!("handoff: {e}"));
    assert_eq!(moved.status, CaseStatus::Waiting);
    assert_eq!(
        store.case_unit(a).await.ok().flatten(),
        Some(Some(M.into()))
    );
    assert_eq!(
        ids(&store.unit_worklist(None).await.unwrap_or_default()),
        vec![b]
    );
    assert_eq!(
        ids(&store.unit_worklist(Some(M)).await.unwrap_or_default()),
        vec![a]
    );
    let info = store.claim_info(a).await.ok().flatten().unwrap_or_default();
    assert_eq!(info.claimed_by, None, "the claim is released");

    // The nurse line can no longer claim it; Markaryd can, and hands it back.
    assert!(matches!(
        store.claim_in(a, &nurse("bo"), Some(None), t0()).await,
        Err(crate::store::ClaimError::WrongStatus { .. })
    ));
    assert_eq!(
        store
            .claim_next_in(&nurse("bo"), Some(None), t0())
            .await
            .ok()
            .flatten()
            .map(|c| c.id),
        Some(b),
        "claim-next stays in the unit"
    );
    let mia = nurse("mia");
    assert!(store.claim_in(a, &mia, Some(Some(M)), t0()).await.is_ok());
    let later = t0() + TimeDelta::minutes(5);
    assert!(store
        .hand_off(a, "1177", None, "1177", "level rose", &mia, later)
        .await
        .is_ok());
    assert_eq!(store.case_unit(a).await.ok().flatten(), Some(None));

    let steps = store.handoffs(a).await.unwrap_or_default();
    let flat: Vec<(&str, &str, &str, &str)> = steps
        .iter()
        .map(|h| {
            (
                h.from_unit.as_str(),
                h.to_unit.as_str(),
                h.by_user.as_str(),
                h.note.as_str(),
            )
        })
        .collect();
    assert_eq!(
        flat,
        vec![
            ("1177", M, "anna", "needs a GP visit"),
            (M, "1177", "mia", "level rose")
        ]
    );
    assert_eq!(steps.get(1).map(|h| h.at), Some(later));
    let trail = store.audit_rows(Some(a), 100).await.unwrap_or_default();
    let handoffs: Vec<(&str, &str)> = trail
        .iter()
        .filter(|r| r.action == "case.handoff")
        .map(|r| (r.actor.as_str(), r.detail.as_str()))
        .collect();
    assert_eq!(
        handoffs,
        vec![
            ("anna", "from=1177 to=vc-markaryd"),
            ("mia", "from=vc-markaryd to=1177")
        ]
    );
    assert!(
        trail.iter().all(|r| !r.detail.contains("GP visit")),
        "note in audit"
    );
    assert_eq!(
        trail
            .iter()
            .find(|r| r.action == "case.handoff")
            .and_then(|r| r.ip.as_deref()),
        Some("10.0.0.9")
    );
}

async fn handoff_refusals_change_nothing(store: Store) {
    let anna = nurse("anna");
    let waiting = insert(&store, &case(3, CaseMode::Callback)).await;
    assert!(matches!(
        store
            .hand_off(waiting, M, Some(M), "1177", "", &anna, t0())
            .await,
        Err(HandoffError::WrongStatus {
            status: CaseStatus::Waiting,
            ..
        })
    ));
    assert!(store.claim(waiting, &anna, t0()).await.is_ok());
    assert!(matches!(
        store
            .hand_off(waiting, M, Some(M), "1177", "", &nurse("bo"), t0())
            .await,
        Err(HandoffError::NotYours(_))
    ));
    assert!(matches!(
        store
            .hand_off(waiting, "1177", None, "1177", "", &anna, t0())
            .await,
        Err(HandoffError::SameUnit { .. })
    ));
    let held = insert(&store, &case(3, CaseMode::Hold)).await;
    assert!(store.claim(held, &anna, t0()).await.is_ok());
    assert!(matches!(
        store
            .hand_off(held, M, Some(M), "1177", "", &anna, t0())
            .await,
        Err(HandoffError::Holding(_))
    ));
    assert!(matches!(
        store
            .hand_off(Uuid::nil(), M, Some(M), "1177", "", &anna, t0())
            .await,
        Err(HandoffError::NotFound(_))
    ));
    // Closed: an outcome ends it.
    assert!(store
        .record_outcome(waiting, crate::store::Outcome::SelfCare, "", &anna, t0())
        .await
        .is_ok());
    assert!(matches!(
        store
            .hand_off(waiting, M, Some(M), "1177", "", &anna, t0())
            .await,
        Err(HandoffError::WrongStatus {
            status: CaseStatus::Done,
            ..
        })
    ));
    assert!(store.handoffs(waiting).await.unwrap_or_default().is_empty());
    assert!(store.handoffs(held).await.unwrap_or_default().is_empty());
    // The table refuses a note over the limit even if a caller forgot.
    let long = "x".repeat(MAX_HANDOFF_NOTE_CHARS + 1);
    let other = insert(&store, &case(4, CaseMode::Callback)).await;
    assert!(store.claim(other, &anna, t0()).await.is_ok());
    assert!(matches!(
        store
            .hand_off(other, M, Some(M), "1177", &long, &anna, t0())
            .await,
        Err(HandoffError::Store(_))
    ));
    assert_eq!(store.case_unit(other).await.ok().flatten(), Some(None));
}

async fn intake_in_a_unit_and_staff_units_round_trip(store: Store) {
    let c = store
        .insert_case_in_unit(&case(4, CaseMode::Callback), Some(M))
        .await
        .unwrap_or_else(|e| panic!("insert: {e}"));
    assert_eq!(
        store.case_unit(c.id).await.ok().flatten(),
        Some(Some(M.into()))
    );
    assert_eq!(
        ids(&store.unit_worklist(Some(M)).await.unwrap_or_default()),
        vec![c.id]
    );
    assert!(store
        .unit_review_list(Some(M))
        .await
        .unwrap_or_default()
        .is_empty());

    assert_eq!(store.user_unit("mia").await.ok(), Some(None), "no account");
    assert!(store
        .create_user("mia", "$h", Role::Nurse, t0())
        .await
        .unwrap_or(false));
    assert_eq!(
        store.user_unit("mia").await.ok(),
        Some(Some(None)),
        "default unit"
    );
    assert!(store.set_user_unit("mia", Some(M)).await.unwrap_or(false));
    assert_eq!(
        store.user_unit("mia").await.ok(),
        Some(Some(Some(M.into())))
    );
    assert!(!store.set_user_unit("nobody", Some(M)).await.unwrap_or(true));
}

async fn unit_waits_count_open_cases_oldest_and_over_target(store: Store) {
    // Levels 1 and 2 have deadlines at t0+30 and t0+60 min.
    let a = insert(&store, &case(1, CaseMode::Callback)).await;
    let _b = insert(&store, &case(2, CaseMode::Callback)).await;
    let c = store
        .insert_case_in_unit(&case(3, CaseMode::Callback), Some(M))
        .await
        .map(|c| c.id)
        .unwrap_or_else(|e| panic!("insert: {e}"));
    assert!(store.claim(a, &nurse("anna"), t0()).await.is_ok());
    let _ = c;
    let mut waits = store
        .unit_waits(t0() + TimeDelta::minutes(45))
        .await
        .unwrap_or_default();
    waits.sort_by(|x, y| x.unit.cmp(&y.unit));
    assert_eq!(
        waits,
        vec![
            UnitWaitCounts {
                unit: None,
                waiting: 1,
                oldest: Some(t0()),
                over_target: 0,
            },
            UnitWaitCounts {
                unit: Some(M.into()),
                waiting: 1,
                oldest: Some(t0()),
                over_target: 0,
            },
        ]
    );
    let late = store
        .unit_waits(t0() + TimeDelta::minutes(95))
        .await
        .unwrap_or_default();
    let over: u32 = late.iter().map(|w| w.over_target).sum();
    assert_eq!(over, 2, "{late:?}");
}

async fn a_repeat_call_that_raises_the_level_brings_the_case_back_to_the_nurse_line(store: Store) {
    let id = store
        .insert_case_in_unit(&case(4, CaseMode::Callback), Some(M))
        .await
        .map(|c| c.id)
        .unwrap_or_else(|e| panic!("insert: {e}"));
    let same = store
        .retriage_case(id, &case(4, CaseMode::Callback), None, t0())
        .await;
    assert!(matches!(same, Ok(Some(_))), "{same:?}");
    assert_eq!(
        store.case_unit(id).await.ok().flatten(),
        Some(Some(M.into()))
    );
    let worse = store
        .retriage_case(id, &case(2, CaseMode::Callback), None, t0())
        .await;
    assert!(matches!(worse, Ok(Some(_))), "{worse:?}");
    assert_eq!(store.case_unit(id).await.ok().flatten(), Some(None));
}

on_both_backends!(
    a_repeat_call_that_raises_the_level_brings_the_case_back_to_the_nurse_line,
    handoff_moves_the_case_between_unit_worklists,
    handoff_refusals_change_nothing,
    intake_in_a_unit_and_staff_units_round_trip,
    unit_waits_count_open_cases_oldest_and_over_target,
);
