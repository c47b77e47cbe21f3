//! A repeat caller's re-triage updates their waiting case: the level rises,
//! never falls; the case keeps its place; a case no longer waiting is left
//! alone.

use super::*;

on_both_backends!(
    retriage_raises_the_level_and_keeps_the_place,
    retriage_never_lowers_the_level_or_delays_the_deadline,
    retriage_to_a_hold_is_held_by_the_node,
    retriage_leaves_a_case_that_no_longer_waits_alone,
);

fn answered_again(priority: u8, at_min: i64, target_min: i64) -> NewCase {
    let mut case = new_case(priority, at_min, at_min + target_min);
    case.answers[0].value = "1".into();
    case.answers[0].value_text = "Ja".into();
    case.summary = "answered again".into();
    case
}

async fn retriage_raises_the_level_and_keeps_the_place(store: Store) {
    let first = insert(&store, &new_case(4, 0, 480)).await;
    let other = insert(&store, &new_case(3, 10, 130)).await;
    let now = t0() + TimeDelta::minutes(60);
    let mut again = answered_again(3, 60, 120);
    again.personnummer = Some("191212121212".into());
    let after = store
        .retriage_case(first.id, &again, None, now)
        .await
        .unwrap()
        .expect("still waiting");
    assert_eq!(after.id, first.id);
    assert_eq!(after.priority, level(3), "raised");
    assert_eq!(after.registered_at, first.registered_at, "its place");
    assert_eq!(after.deadline, again.deadline.trunc_subsecs(6), "earlier");
    assert_eq!(after.answers, again.answers);
    assert_eq!(after.summary, "answered again");
    assert_eq!(after.personnummer.as_deref(), Some("191212121212"));
    assert_eq!(
        (after.status, after.mode),
        (CaseStatus::Waiting, CaseMode::Callback)
    );
    assert_eq!(worklist_ids(&store).await, vec![other.id, first.id]);
    let audit = store.audit_rows(Some(first.id), 10).await.unwrap();
    let row = audit
        .iter()
        .find(|r| r.action == "case.retriaged")
        .expect("audited");
    assert_eq!(row.actor, "ivr");
    assert!(!row.detail.contains("191212"), "no personal data");
}

async fn retriage_never_lowers_the_level_or_delays_the_deadline(store: Store) {
    let mut urgent = new_case(2, 0, 30);
    urgent.personnummer = Some("191212121212".into());
    urgent.summary = "Ont i örat sedan i går".into();
    let first = insert(&store, &urgent).await;
    let mut again = answered_again(5, 20, 1440);
    again.personnummer = Some("199001011239".into());
    let after = store
        .retriage_case(first.id, &again, None, t0() + TimeDelta::minutes(20))
        .await
        .unwrap()
        .expect("still waiting");
    assert_eq!(after.priority, level(2));
    assert_eq!(after.deadline, first.deadline);
    assert_eq!(after.estimated_callback_at, first.estimated_callback_at);
    assert_eq!(after.answers, again.answers, "the newest answers");
    assert_eq!(
        after.personnummer, first.personnummer,
        "the first one stays"
    );
}

async fn retriage_to_a_hold_is_held_by_the_node(store: Store) {
    let first = insert(&store, &new_case(4, 0, 480)).await;
    let now = t0() + TimeDelta::minutes(30);
    let again = answered_again(1, 30, 3);
    let after = store
        .retriage_case(first.id, &again, Some("node-a"), now)
        .await
        .unwrap()
        .expect("still waiting");
    assert_eq!(
        (after.priority, after.status, after.mode, after.red_flag),
        (level(1), CaseStatus::Holding, CaseMode::Hold, true)
    );
    // The hold carries node-a's lease: without its heartbeat it is swept back.
    let swept = store
        .sweep_lapsed_holds(TimeDelta::seconds(15), now)
        .await
        .unwrap();
    assert_eq!(swept, vec![first.id]);
}

async fn retriage_leaves_a_case_that_no_longer_waits_alone(store: Store) {
    let first = insert(&store, &new_case(4, 0, 480)).await;
    store
        .set_status(first.id, CaseStatus::Claimed, t0())
        .await
        .unwrap();
    let again = answered_again(2, 5, 30);
    let now = t0() + TimeDelta::minutes(5);
    assert!(store
        .retriage_case(first.id, &again, None, now)
        .await
        .unwrap()
        .is_none());
    let same = store.get_case(first.id).await.unwrap().unwrap();
    assert_eq!((same.priority, same.answers), (level(4), first.answers));
    assert!(store
        .retriage_case(Uuid::new_v4(), &again, None, now)
        .await
        .unwrap()
        .is_none());
}
