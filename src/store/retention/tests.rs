//! Retention on both backends: what is due is redacted once, audited; open
//! and recently closed cases keep everything.

use super::*;
use crate::store::tests::{new_case, on_both_backends, postgres_test_db, sqlite_test_db};
use crate::store::CaseStatus;
use chrono::TimeZone;

on_both_backends!(
    closed_cases_lose_personal_data_after_retention_audited_once,
    open_and_recently_closed_cases_keep_their_data,
);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap()
}

fn wav() -> Vec<u8> {
    let mut w = b"RIFF".to_vec();
    w.resize(200, 1);
    w
}

async fn closed_cases_lose_personal_data_after_retention_audited_once(store: Store) {
    let mut c = new_case(3, 0, 120);
    c.personnummer = Some("191212121212".into());
    c.summary = "Feber sedan tre dagar".into();
    let c = store.insert_case(&c).await.unwrap();
    store.save_voice_note(c.id, &wav(), t0()).await.unwrap();
    store.cancel_case(c.id, "ivr", t0()).await.unwrap();
    let retention = TimeDelta::days(30);
    let early = store
        .redact_expired(retention, t0() + TimeDelta::days(29))
        .await;
    assert_eq!(early.unwrap(), Vec::<Uuid>::new(), "not due yet");
    // Two nodes sweep at once: one redacts, the other finds nothing.
    let later = t0() + TimeDelta::days(31);
    let (a, b) = tokio::join!(
        store.redact_expired(retention, later),
        store.redact_expired(retention, later)
    );
    let mut all = a.unwrap();
    all.extend(b.unwrap());
    assert_eq!(all, vec![c.id]);
    let after = store.get_case(c.id).await.unwrap().unwrap();
    assert_eq!(after.status, CaseStatus::Cancelled);
    assert_eq!(
        (
            after.personnummer,
            after.callback_number,
            after.summary.as_str()
        ),
        (None, None, "")
    );
    assert_eq!(after.answers.len(), 1);
    assert_eq!(after.answers[0].value, "2", "the structured value stays");
    assert_eq!(after.answers[0].value_text, "", "the words go");
    assert_eq!(store.voice_note(c.id).await.unwrap(), None);
    let redacted: Vec<_> = store
        .audit_rows(Some(c.id), 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "case.redacted")
        .collect();
    assert_eq!(redacted.len(), 1);
    assert_eq!(redacted[0].actor, "system");
    assert!(
        redacted[0].detail.contains("voice_notes=1"),
        "{:?}",
        redacted[0]
    );
    assert!(!redacted[0].detail.contains("1212"));
    assert_eq!(store.verify_audit_chain().await.unwrap().broken, None);
}

async fn open_and_recently_closed_cases_keep_their_data(store: Store) {
    let open = store.insert_case(&new_case(3, 0, 120)).await.unwrap();
    let recent = store.insert_case(&new_case(4, 1, 120)).await.unwrap();
    store
        .cancel_case(recent.id, "ivr", t0() + TimeDelta::days(10))
        .await
        .unwrap();
    let done = store
        .redact_expired(TimeDelta::days(30), t0() + TimeDelta::days(31))
        .await
        .unwrap();
    assert!(done.is_empty(), "{done:?}");
    for id in [open.id, recent.id] {
        let case = store.get_case(id).await.unwrap().unwrap();
        assert_eq!(case.callback_number.as_deref(), Some("+46701234567"));
    }
}
