//! Listing columns on both backends: which cases are due, one claim per
//! case, the stored answer read back.

use super::*;
use crate::queue::Priority;
use crate::store::tests::{on_both_backends, postgres_test_db, sqlite_test_db};
use crate::store::{CaseMode, Channel, NewCase};

fn case(personnummer: Option<&str>, at: DateTime<Utc>) -> NewCase {
    NewCase {
        // A phone case: the IVR registers personnummer too (digital ones: tests/fhir.rs).
        channel: Channel::Phone,
        priority: Priority::new(3).unwrap_or(Priority::LOWEST),
        mode: CaseMode::Callback,
        registered_at: at,
        deadline: at + TimeDelta::hours(2),
        estimated_callback_at: None,
        answers: Vec::new(),
        callback_number: Some("+46701234567".into()),
        personnummer: personnummer.map(str::to_string),
        language: "sv".into(),
        call_id: None,
        external_ref: None,
        summary: String::new(),
        red_flag: false,
    }
}

async fn insert(store: &Store, c: &NewCase) -> Uuid {
    store
        .insert_case(c)
        .await
        .unwrap_or_else(|e| panic!("insert: {e}"))
        .id
}

async fn due_cases_are_claimed_once_and_the_answer_reads_back(store: Store) {
    let now = Utc::now();
    let with = insert(&store, &case(Some("191212121212"), now)).await;
    let _without = insert(&store, &case(None, now)).await;
    let _old = insert(
        &store,
        &case(Some("191212121212"), now - TimeDelta::hours(30)),
    )
    .await;
    assert!(store
        .get_listing(with)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .is_none());

    let due = store
        .claim_listing_lookups(now, 10)
        .await
        .unwrap_or_else(|e| panic!("claim: {e}"));
    let ids: Vec<Uuid> = due.iter().map(|d| d.case_id).collect();
    assert_eq!(ids, vec![with], "only the recent case with a personnummer");
    assert_eq!(due[0].personnummer, "191212121212");
    let pending = store
        .get_listing(with)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pending.map(|l| l.status), Some(ListingStatus::Pending));
    // A second node (or the next round) does not get it again while fresh...
    let again = store
        .claim_listing_lookups(now + TimeDelta::seconds(5), 10)
        .await
        .unwrap_or_else(|e| panic!("claim: {e}"));
    assert!(again.is_empty());
    // ...but takes over a claim whose node went quiet.
    let stale = store
        .claim_listing_lookups(now + STALE_CLAIM + TimeDelta::seconds(1), 10)
        .await
        .unwrap_or_else(|e| panic!("claim: {e}"));
    assert_eq!(stale.len(), 1);

    let found = Listing {
        status: ListingStatus::Found,
        hsa_id: Some("SE2321000065-VC1".into()),
        name: Some("Vårdcentralen Markaryd".into()),
        checked_at: Some(now),
    };
    store
        .save_listing(with, &found)
        .await
        .unwrap_or_else(|e| panic!("save: {e}"));
    let back = store
        .get_listing(with)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("listing"));
    assert_eq!(back.status, ListingStatus::Found);
    assert_eq!(back.hsa_id, found.hsa_id);
    assert_eq!(back.name, found.name);
    let later = store
        .claim_listing_lookups(now + TimeDelta::hours(1), 10)
        .await
        .unwrap_or_else(|e| panic!("claim: {e}"));
    assert!(later.is_empty(), "a found listing is not looked up again");
    assert!(matches!(
        store.save_listing(Uuid::new_v4(), &found).await,
        Err(StoreError::NotFound(_))
    ));
}

on_both_backends!(due_cases_are_claimed_once_and_the_answer_reads_back);
