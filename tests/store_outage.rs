//! A slow or blocked database over real sockets: the call's loop goes on
//! answering the caller while its store work waits.

mod common;

use common::caller::{answer_until_offer, press};
use common::TestService;
use phone_entrance::store::CaseMode;
use simulators::caller::{Call, CallConfig, DtmfMethod, EndReason};
use sqlx::Connection;
use std::time::Duration;

async fn metric(svc: &TestService, name: &str) -> Option<f64> {
    let text = reqwest::get(svc.http_url("/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn bye_is_answered_while_the_registration_waits_for_a_locked_database() {
    let svc = TestService::start().await;
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    let m = DtmfMethod::Rfc4733;
    answer_until_offer(&call, m).await; // the offer's estimate is a read
                                        // Another writer holds the database: the registration's insert waits
                                        // for it (up to the store's 5 s busy timeout).
    let mut lock = sqlx::SqliteConnection::connect(&svc.database_url)
        .await
        .expect("sqlite");
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut lock)
        .await
        .expect("lock");
    press(&call, "1", m).await; // confirm the number: the insert starts and blocks
    let ended = call.hangup().await.expect("BYE answered");
    assert_eq!(ended, EndReason::LocalHangup);
    // Still inside the lock: the insert has neither failed nor landed, so
    // the BYE did not wait for it.
    assert_eq!(
        metric(&svc, "pe_case_store_failures_total").await,
        Some(0.0),
        "the registration gave up before the BYE was answered"
    );
    sqlx::query("ROLLBACK")
        .execute(&mut lock)
        .await
        .expect("unlock");
    // Once the database is free the case lands: the caller confirmed it.
    let cases = svc.wait_for_cases(1, Duration::from_secs(10)).await;
    assert_eq!(
        cases.len(),
        1,
        "the confirmed case is stored after the lock"
    );
    assert_eq!(cases[0].mode, CaseMode::Callback);
    assert_eq!(
        metric(&svc, "pe_case_store_failures_total").await,
        Some(0.0)
    );
    svc.stop().await;
}
