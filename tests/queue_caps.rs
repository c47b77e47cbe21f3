//! Queue caps over real sockets (`queue.toml [caps]`): a number over its
//! daily cap is refused on the phone (a red-flag caller still hears the 112
//! advice, then that nobody could take the call; never a booking) and over
//! the intake API (429 that says why); supervisors see the refusals on
//! /metrics and in the stats. SQLite and PostgreSQL.

mod common;

use common::caller::{answer_red_flag, wait_for_prompt};
use common::postgres::{drop_postgres_database, postgres_database};
use common::{set_config, TestService};
use phone_entrance::store::Role;
use phone_entrance::store::{CaseStatus, ReviewReason};
use simulators::caller::{Call, CallConfig, DtmfMethod, EndReason};
use std::time::Duration;

const TOKEN: &str = "caps-intake-test-token-0123456789";

async fn start(database_url: Option<String>) -> TestService {
    TestService::start_with(database_url, |dir| {
        set_config(dir, "queue.toml", "per_number_per_day", "1");
        set_config(dir, "ivr.toml", "wait_s", "2");
        let line = format!(
            "[[client]]\nname = \"1177-direkt\"\ntoken_sha256 = \"{}\"\n",
            phone_entrance::api::auth::sha256_hex(TOKEN)
        );
        std::fs::write(dir.join("intake-clients.toml"), line).expect("clients");
    })
    .await
}

async fn caps_bite_on_the_phone_and_the_intake(database_url: Option<String>) {
    let svc = start(database_url).await;
    // The number's one case today (already cancelled: no booked callback to offer).
    let store = svc.store().await;
    let first = phone_entrance::store::NewCase {
        channel: phone_entrance::store::Channel::Digital,
        priority: phone_entrance::queue::Priority::new(3).expect("level"),
        mode: phone_entrance::store::CaseMode::Callback,
        registered_at: chrono::Utc::now(),
        deadline: chrono::Utc::now() + chrono::Duration::hours(2),
        estimated_callback_at: None,
        answers: Vec::new(),
        callback_number: Some("+46701234567".into()),
        personnummer: None,
        language: "sv".into(),
        call_id: None,
        external_ref: None,
        summary: String::new(),
        red_flag: false,
    };
    let stored = store.insert_case(&first).await.expect("first case");
    store
        .cancel_case(stored.id, "ivr", chrono::Utc::now())
        .await
        .expect("cancel");

    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    answer_red_flag(&call, DtmfMethod::Rfc4733).await;
    wait_for_prompt(&call, "advice_112", Duration::from_secs(30)).await;
    wait_for_prompt(&call, "hold_unavailable", Duration::from_secs(30)).await;
    let ended = tokio::time::timeout(Duration::from_secs(30), call.wait_ended()).await;
    assert_eq!(ended.ok(), Some(EndReason::RemoteHangup));
    assert!(svc.worklist().await.is_empty(), "nothing was queued");

    let body = serde_json::json!({
        "external_ref": "caps-1",
        "level": 2,
        "answers": [{"question_id": "fever", "question_text": "Har du feber?", "answer": "Ja"}],
        "callback_number": "070-123 45 67",
        "personnummer": "19121212-1212",
        "summary": "Feber",
        "language": "sv"
    });
    let r = reqwest::Client::new()
        .post(svc.http_url("/api/v1/cases"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
    let text = r.text().await.expect("body");
    assert!(text.contains("per_number_per_day"), "{text}");
    assert!(!text.contains("4567"), "no number in the answer: {text}");
    assert!(svc.worklist().await.is_empty(), "nothing was queued");

    let metrics = svc.metrics().await;
    assert!(
        metrics.contains("pe_cases_refused_total{cap=\"per_number\"} 2"),
        "{metrics}"
    );
    svc.add_staff("sara", "supervisor-pw", Role::Supervisor)
        .await;
    let sara = svc.login("sara", "supervisor-pw").await;
    let stats: serde_json::Value = sara
        .get(svc.http_url("/api/v1/supervisor/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["refused_today"], 2, "{stats}");
    svc.stop().await;
}

#[tokio::test]
async fn per_number_cap_bites_on_sip_and_intake_sqlite() {
    caps_bite_on_the_phone_and_the_intake(None).await;
}

#[tokio::test]
async fn per_number_cap_bites_on_sip_and_intake_postgres() {
    let url = postgres_database().await;
    caps_bite_on_the_phone_and_the_intake(Some(url.clone())).await;
    drop_postgres_database(&url).await;
}

/// A red-flag caller on hold who hangs up, twice in a day with
/// `red_flags_per_number_per_day = 1`: the first becomes a callback, the
/// second goes to the review list (`repeated_red_flags`), stored and counted,
/// not to the top of the queue.
#[tokio::test]
async fn repeated_red_flag_hangups_go_to_the_review_list() {
    let svc = TestService::start_with(None, |dir| {
        set_config(dir, "queue.toml", "red_flags_per_number_per_day", "1");
        set_config(dir, "ivr.toml", "wait_s", "2");
    })
    .await;
    let store = svc.store().await;
    let mut statuses = Vec::new();
    for round in 0..2 {
        let call = Call::dial(CallConfig::new(svc.sip_addr()))
            .await
            .expect("answered");
        answer_red_flag(&call, DtmfMethod::Rfc4733).await;
        let held = svc.wait_for_cases(1, Duration::from_secs(30)).await;
        let id = held[0].id.to_string();
        wait_for_prompt(&call, "hold_music", Duration::from_secs(30)).await;
        call.hangup().await.expect("hangup");
        let end = tokio::time::Instant::now() + Duration::from_secs(10);
        while svc.case(&id).await.status == CaseStatus::Holding {
            assert!(
                tokio::time::Instant::now() < end,
                "the held case was not turned"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let case = svc.case(&id).await;
        statuses.push((case.status, case.review_reason));
        // A cancelled first case: the second call is not a repeat caller.
        if round == 0 {
            store
                .cancel_case(case.id, "ivr", chrono::Utc::now())
                .await
                .expect("cancel");
        }
    }
    assert_eq!(
        statuses,
        vec![
            (CaseStatus::Waiting, None),
            (CaseStatus::Review, Some(ReviewReason::RepeatedRedFlags))
        ]
    );
    assert!(svc.worklist().await.is_empty(), "not on top of the queue");
    let metrics = svc.metrics().await;
    assert!(
        metrics.contains("pe_cases_repeated_red_flags_total 1"),
        "{metrics}"
    );
    svc.stop().await;
}
