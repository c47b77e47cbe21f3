//! The outbox on both backends: what is queued with what, the per-number
//! order of claims, leases, verdicts and delivery reports.

use super::*;
use crate::queue::{Priority, RetryPolicies};
use crate::store::claims::Actor;
use crate::store::tests::{on_both_backends, postgres_test_db, sqlite_test_db};
use crate::store::{AttemptResult, Channel, NewCase};
use chrono::{TimeDelta, TimeZone};

on_both_backends!(
    confirmation_is_queued_with_a_consenting_callback_only,
    each_number_is_served_strictly_in_creation_order,
    a_leased_row_is_not_claimed_again_until_its_lease_ends,
    missed_call_sms_is_queued_once_per_failed_attempt,
    delivery_reports_mark_rows_delivered_or_failed,
    self_care_advice_needs_consent_and_an_https_link,
    nothing_is_queued_without_sms_configured,
);

/// Bodies that show what went in: kind, language and the UTC time.
struct PlainTexts;

impl SmsTexts for PlainTexts {
    fn body(&self, kind: SmsKind, language: &str, facts: &SmsFacts<'_>) -> Option<String> {
        let extra = match kind {
            SmsKind::CallbackConfirmation => facts.callback_at?.format("%H:%M").to_string(),
            SmsKind::SelfCareAdvice => facts.link?.to_string(),
            SmsKind::CallbackMissed => String::new(),
        };
        Some(format!("{kind} {language} {extra}"))
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn at(seconds: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(seconds)
}

fn with_texts(store: Store) -> Store {
    store.with_sms(Arc::new(PlainTexts))
}

fn consent(yes: bool) -> Answer {
    Answer {
        question_id: SMS_CONSENT.into(),
        question_text: "SMS?".into(),
        value: if yes { "yes" } else { "no" }.into(),
        value_text: if yes { "Ja" } else { "Nej" }.into(),
    }
}

fn callback(number: &str, second: i64, consent_yes: Option<bool>) -> NewCase {
    NewCase {
        channel: Channel::Phone,
        priority: Priority::new(3).unwrap_or(Priority::LOWEST),
        mode: CaseMode::Callback,
        registered_at: at(second),
        deadline: at(second + 7200),
        estimated_callback_at: Some(at(second + 1800)),
        answers: consent_yes.map(consent).into_iter().collect(),
        callback_number: Some(number.into()),
        personnummer: None,
        language: "sv".into(),
        call_id: None,
        external_ref: None,
        summary: String::new(),
        red_flag: false,
    }
}

async fn insert(store: &Store, case: &NewCase) -> CaseRecord {
    store
        .insert_case(case)
        .await
        .unwrap_or_else(|e| panic!("insert: {e}"))
}

async fn sms_of(store: &Store, id: Uuid) -> Vec<SmsSummary> {
    store
        .sms_for_case(id)
        .await
        .unwrap_or_else(|e| panic!("sms: {e}"))
}

async fn claim(store: &Store, now: DateTime<Utc>) -> Vec<OutgoingSms> {
    store
        .claim_sms(now, now + TimeDelta::minutes(1), 50)
        .await
        .unwrap_or_else(|e| panic!("claim: {e}"))
}

async fn confirmation_is_queued_with_a_consenting_callback_only(store: Store) {
    let store = with_texts(store);
    let yes = insert(&store, &callback("+46701111111", 0, Some(true))).await;
    let no = insert(&store, &callback("+46702222222", 1, Some(false))).await;
    let silent = insert(&store, &callback("+46703333333", 2, None)).await;
    let mut held = callback("+46704444444", 3, Some(true));
    held.mode = CaseMode::Hold;
    let held = insert(&store, &held).await;
    let queued = sms_of(&store, yes.id).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (queued[0].kind, queued[0].status),
        (SmsKind::CallbackConfirmation, SmsStatus::Queued)
    );
    for id in [no.id, silent.id, held.id] {
        assert!(sms_of(&store, id).await.is_empty());
    }
    let rows = claim(&store, at(10)).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].to_number, "+46701111111");
    assert_eq!(rows[0].body, "callback_confirmation sv 09:30");
    assert_eq!(rows[0].attempts, 1);
}

async fn each_number_is_served_strictly_in_creation_order(store: Store) {
    let store = with_texts(store);
    // Three SMS to A, two to B, interleaved.
    let mut cases = Vec::new();
    for (i, number) in ["A", "B", "A", "B", "A"].iter().enumerate() {
        let n = if *number == "A" {
            "+46701111111"
        } else {
            "+46702222222"
        };
        cases.push(insert(&store, &callback(n, i as i64, Some(true))).await);
    }
    let first = claim(&store, at(10)).await;
    let firsts: Vec<Uuid> = first.iter().map(|r| r.case_id).collect();
    assert_eq!(
        firsts,
        [cases[0].id, cases[1].id],
        "one per number, oldest first"
    );
    assert!(claim(&store, at(10)).await.is_empty(), "heads are leased");
    // A's first fails for now: A's later SMS wait behind it; B goes on.
    store
        .sms_retry(first[0].id, at(100), "HTTP 503")
        .await
        .expect("retry");
    store
        .sms_sent(first[1].id, "g-1", at(11))
        .await
        .expect("sent");
    let next = claim(&store, at(12)).await;
    let nexts: Vec<Uuid> = next.iter().map(|r| r.case_id).collect();
    assert_eq!(nexts, [cases[3].id], "B's second; A waits for its first");
    store
        .sms_sent(next[0].id, "g-2", at(12))
        .await
        .expect("sent");
    assert!(claim(&store, at(50)).await.is_empty());
    // A's first comes back when due, then the rest of A in order.
    let mut order = Vec::new();
    let mut now = 100;
    loop {
        let rows = claim(&store, at(now)).await;
        if rows.is_empty() {
            break;
        }
        assert_eq!(rows.len(), 1, "A's SMS one at a time");
        store
            .sms_sent(rows[0].id, &format!("g-{now}"), at(now))
            .await
            .expect("sent");
        order.push(rows[0].case_id);
        now += 1;
    }
    assert_eq!(order, [cases[0].id, cases[2].id, cases[4].id]);
    assert_eq!(store.sms_backlog().await.expect("backlog"), (0, None));
}

async fn a_leased_row_is_not_claimed_again_until_its_lease_ends(store: Store) {
    let store = with_texts(store);
    let case = insert(&store, &callback("+46701111111", 0, Some(true))).await;
    let rows = claim(&store, at(10)).await;
    assert_eq!(rows.len(), 1);
    assert!(claim(&store, at(30)).await.is_empty(), "leased to 70 s");
    let (n, oldest) = store.sms_backlog().await.expect("backlog");
    assert_eq!((n, oldest), (1, Some(case.registered_at)));
    // The node that held it died: after the lease another one takes it.
    let again = claim(&store, at(71)).await;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (rows[0].id, 2));
    store
        .sms_failed(again[0].id, "gateway refused it with HTTP 400")
        .await
        .expect("failed");
    let listed = sms_of(&store, case.id).await;
    assert_eq!(listed[0].status, SmsStatus::Failed);
    assert_eq!(
        listed[0].last_error.as_deref(),
        Some("gateway refused it with HTTP 400")
    );
    assert!(claim(&store, at(200)).await.is_empty(), "failed is final");
}

async fn missed_call_sms_is_queued_once_per_failed_attempt(store: Store) {
    let store = with_texts(store);
    let case = insert(&store, &callback("+46701111111", 0, Some(true))).await;
    let nurse = Actor {
        username: "anna",
        ip: None,
        may_override: false,
    };
    let policy = RetryPolicies::default();
    for (round, result) in [AttemptResult::NoAnswer, AttemptResult::Busy]
        .iter()
        .enumerate()
    {
        let now = at(60 * (round as i64 + 1) * 20);
        store.claim(case.id, &nurse, now).await.expect("claim");
        store
            .record_attempt(case.id, "anna", *result, &policy, now)
            .await
            .expect("attempt");
    }
    // A trunk failure is no attempt at the resident: no SMS.
    let now = at(3600);
    store.claim(case.id, &nurse, now).await.expect("claim");
    store
        .record_attempt(case.id, "anna", AttemptResult::Failed, &policy, now)
        .await
        .expect("attempt");
    let kinds: Vec<SmsKind> = sms_of(&store, case.id)
        .await
        .iter()
        .map(|s| s.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            SmsKind::CallbackConfirmation,
            SmsKind::CallbackMissed,
            SmsKind::CallbackMissed
        ]
    );
    // Without consent: nothing after a missed call either.
    let quiet = insert(&store, &callback("+46702222222", 1, Some(false))).await;
    store
        .claim(quiet.id, &nurse, at(4000))
        .await
        .expect("claim");
    store
        .record_attempt(quiet.id, "anna", AttemptResult::NoAnswer, &policy, at(4000))
        .await
        .expect("attempt");
    assert!(sms_of(&store, quiet.id).await.is_empty());
}

async fn delivery_reports_mark_rows_delivered_or_failed(store: Store) {
    let store = with_texts(store);
    let a = insert(&store, &callback("+46701111111", 0, Some(true))).await;
    let b = insert(&store, &callback("+46702222222", 1, Some(true))).await;
    let rows = claim(&store, at(10)).await;
    for (row, id) in rows.iter().zip(["gw-a", "gw-b"]) {
        store.sms_sent(row.id, id, at(11)).await.expect("sent");
    }
    let report = |id: &'static str, delivered: bool| {
        let store = store.clone();
        async move {
            store
                .sms_delivery_report(id, delivered.then(|| at(20)), "delivery report: failed")
                .await
                .expect("report")
        }
    };
    assert_eq!(report("gw-a", true).await, ReportResult::Updated);
    assert_eq!(report("gw-a", true).await, ReportResult::AlreadyFinal);
    assert_eq!(report("gw-b", false).await, ReportResult::Updated);
    assert_eq!(report("gw-nope", true).await, ReportResult::Unknown);
    let a = sms_of(&store, a.id).await;
    assert_eq!(a[0].status, SmsStatus::Delivered);
    assert_eq!(
        (a[0].sent_at, a[0].delivered_at),
        (Some(at(11)), Some(at(20)))
    );
    let b = sms_of(&store, b.id).await;
    assert_eq!(b[0].status, SmsStatus::Failed);
}

async fn self_care_advice_needs_consent_and_an_https_link(store: Store) {
    let store = with_texts(store);
    let yes = insert(&store, &callback("+46701111111", 0, Some(true))).await;
    let no = insert(&store, &callback("+46702222222", 1, Some(false))).await;
    let link = "https://www.1177.se/halsa/forkylning";
    assert!(store
        .enqueue_self_care_advice(yes.id, link, at(5))
        .await
        .expect("queued"));
    assert!(
        !store
            .enqueue_self_care_advice(yes.id, link, at(6))
            .await
            .expect("once"),
        "once per case"
    );
    assert!(!store
        .enqueue_self_care_advice(no.id, link, at(5))
        .await
        .expect("no consent"));
    for bad in ["http://1177.se/x", "https://1177.se/a b", "javascript:x"] {
        assert!(matches!(
            store.enqueue_self_care_advice(yes.id, bad, at(5)).await,
            Err(StoreError::SmsLink)
        ));
    }
    let kinds: Vec<SmsKind> = sms_of(&store, yes.id)
        .await
        .iter()
        .map(|s| s.kind)
        .collect();
    assert_eq!(
        kinds,
        [SmsKind::CallbackConfirmation, SmsKind::SelfCareAdvice]
    );
}

async fn nothing_is_queued_without_sms_configured(store: Store) {
    let case = insert(&store, &callback("+46701111111", 0, Some(true))).await;
    assert!(sms_of(&store, case.id).await.is_empty());
    assert!(!store
        .enqueue_self_care_advice(case.id, "https://www.1177.se/x", at(1))
        .await
        .expect("off"));
}

/// Two nodes claiming at once never get the same row.
async fn two_nodes_never_claim_the_same_row(url: &str, first: Store) {
    let first = with_texts(first);
    let second = with_texts(Store::connect(url).await.expect("second node"));
    for i in 0..40 {
        insert(&first, &callback(&format!("+4670{:07}", i), i, Some(true))).await;
    }
    let grab = |store: Store| async move {
        let mut ids = Vec::new();
        for _ in 0..10 {
            let rows = store
                .claim_sms(at(100), at(160), 3)
                .await
                .unwrap_or_else(|e| panic!("claim: {e}"));
            ids.extend(rows.iter().map(|r| r.id));
        }
        ids
    };
    let (a, b) = tokio::join!(grab(first.clone()), grab(second.clone()));
    let mut all: Vec<Uuid> = a.iter().chain(&b).copied().collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "a row was claimed twice");
    assert_eq!(n, 40, "every row claimed once");
    second.close().await;
}

#[tokio::test]
async fn two_nodes_never_claim_the_same_row_sqlite() {
    let db = sqlite_test_db().await;
    two_nodes_never_claim_the_same_row(&db.url.clone(), db.store.clone()).await;
    db.finish().await;
}

#[tokio::test]
async fn two_nodes_never_claim_the_same_row_postgres() {
    let db = postgres_test_db().await;
    two_nodes_never_claim_the_same_row(&db.url.clone(), db.store.clone()).await;
    db.finish().await;
}
