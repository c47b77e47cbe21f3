//! Supervisor settings, statistics and the live event feed over real HTTP, and
//! a real call that follows a settings change without a restart.
//!
//! Sign-in is the real one (`POST /api/v1/login`); `staff()` below is the one
//! place that creates accounts.

mod common;

use common::caller::{answer_green_questions, press, wait_for_prompt};

use common::audio::find_prompt;
use common::postgres::{drop_postgres_database, postgres_database};
use common::TestService;
use phone_entrance::media::g711::Codec;
use phone_entrance::store::{CaseMode, Channel, NewCase, Role};
use reqwest::StatusCode;
use serde_json::{json, Value};
use simulators::caller::{Call, CallConfig, DtmfMethod};
use std::time::Duration;

/// Accounts for these tests: nina (nurse), sara (supervisor).
async fn staff(svc: &TestService) {
    svc.add_staff("nina", "nurse-pw", Role::Nurse).await;
    svc.add_staff("sara", "super-pw", Role::Supervisor).await;
}

async fn login(svc: &TestService, user: &str, pw: &str) -> reqwest::Client {
    svc.login(user, pw).await
}

fn new_case(level: u8) -> NewCase {
    let now = chrono::Utc::now();
    NewCase {
        channel: Channel::Digital,
        priority: phone_entrance::queue::Priority::new(level).expect("level"),
        mode: CaseMode::Callback,
        registered_at: now,
        deadline: now + chrono::TimeDelta::minutes(60),
        estimated_callback_at: None,
        answers: vec![],
        callback_number: Some("+46701234567".into()),
        personnummer: None,
        language: "sv".into(),
        call_id: None,
        external_ref: None,
        summary: String::new(),
        red_flag: false,
    }
}

#[tokio::test]
async fn supervisor_endpoints_need_a_session_and_the_supervisor_role() {
    let svc = TestService::start().await;
    staff(&svc).await;
    let anon = reqwest::Client::new();
    for path in [
        "/api/v1/supervisor/settings",
        "/api/v1/supervisor/stats",
        "/api/v1/supervisor/messages",
        "/api/v1/events",
    ] {
        let r = anon.get(svc.http_url(path)).send().await.expect("get");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let nurse = login(&svc, "nina", "nurse-pw").await;
    for path in [
        "/api/v1/supervisor/settings",
        "/api/v1/supervisor/stats",
        "/api/v1/supervisor/messages",
    ] {
        let r = nurse.get(svc.http_url(path)).send().await.expect("get");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let r = nurse
        .put(svc.http_url("/api/v1/supervisor/settings"))
        .json(
            &json!({"callback_capacity": 1, "callback_offer_open": false,
                      "greeting_message": null, "closures": []}),
        )
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    svc.stop().await;
}

#[tokio::test]
async fn settings_are_validated_persisted_audited_and_reloaded() {
    let svc = TestService::start().await;
    staff(&svc).await;
    let sup = login(&svc, "sara", "super-pw").await;
    let url = svc.http_url("/api/v1/supervisor/settings");
    let got: Value = sup
        .get(&url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(got["callback_offer_open"], json!(true));
    assert_eq!(got["greeting_message"], Value::Null);

    let msgs: Value = sup
        .get(svc.http_url("/api/v1/supervisor/messages"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(msgs
        .as_array()
        .expect("array")
        .iter()
        .any(|m| m["id"] == "msg_high_load"));
    // The page shows a message by its words, in the staff's language.
    let high_load = msgs
        .as_array()
        .and_then(|a| a.iter().find(|m| m["id"] == "msg_high_load"))
        .expect("msg_high_load");
    assert!(high_load["sv"]
        .as_str()
        .is_some_and(|t| t.starts_with("Just nu är det många som ringer")));
    assert!(high_load["en"]
        .as_str()
        .is_some_and(|t| t.starts_with("Right now many people are calling")));

    for (bad, why) in [
        (
            json!({"callback_capacity": 5, "callback_offer_open": true, "greeting_message": "welcome", "closures": []}),
            "greeting_message",
        ),
        (
            json!({"callback_capacity": 5, "callback_offer_open": true, "greeting_message": null,
                "closures": [{"from": "2025-03-03T10:00:00Z", "to": "2025-03-03T09:00:00Z", "reason": ""}]}),
            "closure 0",
        ),
        (
            json!({"callback_capacity": 5, "callback_offer_open": true, "greeting_message": null, "closures": [], "extra": 1}),
            "extra",
        ),
        (
            json!({"callback_capacity": -1, "callback_offer_open": true, "greeting_message": null, "closures": []}),
            "callback_capacity",
        ),
        (json!({"callback_offer_open": true}), "callback_capacity"),
    ] {
        let r = sup.put(&url).json(&bad).send().await.expect("put");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = r.json().await.expect("json");
        let msg = body["error"].as_str().unwrap_or_default();
        assert!(msg.contains(why), "{msg} should mention {why}");
    }

    let new = json!({"callback_capacity": 12, "callback_offer_open": false,
        "greeting_message": "msg_high_load",
        "closures": [{"from": "2030-01-01T08:00:00Z", "to": "2030-01-01T09:00:00Z", "reason": "APT"}]});
    let r = sup.put(&url).json(&new).send().await.expect("put");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.expect("json"), new);
    assert_eq!(
        sup.get(&url)
            .send()
            .await
            .expect("get")
            .json::<Value>()
            .await
            .expect("json"),
        new
    );
    // Persisted: a fresh store reads the same document.
    let stored = svc
        .store()
        .await
        .get_setting("supervisor")
        .await
        .expect("read");
    assert_eq!(
        serde_json::from_str::<Value>(&stored.expect("stored")).expect("json"),
        new
    );
    // Audited: who, what, from where.
    let pool = sqlx::SqlitePool::connect(&svc.database_url)
        .await
        .expect("pool");
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT actor, detail FROM audit_log WHERE action = 'settings.changed'")
            .fetch_all(&pool)
            .await
            .expect("audit");
    assert_eq!(rows.len(), 1, "bad requests write no audit rows");
    assert_eq!(rows[0].0, "sara");
    assert!(
        rows[0].1.contains("callback_offer_open=false") && rows[0].1.contains("from=127.0.0.1")
    );
    svc.stop().await;
}

#[tokio::test]
async fn stats_count_the_queue_and_todays_callbacks() {
    let svc = TestService::start().await;
    staff(&svc).await;
    let store = svc.store().await;
    store.insert_case(&new_case(2)).await.expect("insert");
    store.insert_case(&new_case(4)).await.expect("insert");
    store.insert_case(&new_case(4)).await.expect("insert");
    let sup = login(&svc, "sara", "super-pw").await;
    let s = supervisor_stats(&svc, &sup).await;
    assert_eq!(s["waiting_total"], json!(3));
    assert_eq!(s["levels"][1]["waiting"], json!(1));
    assert_eq!(s["levels"][3]["waiting"], json!(2));
    assert!(s["levels"][3]["estimated_wait_minutes"].is_i64(), "{s}");
    assert_eq!(s["callbacks_today"], json!(3));
    assert_eq!(s["callback_offer"], json!("open"));
    assert_eq!(s["calls_in_ivr"], json!(0));
    svc.stop().await;
}

#[tokio::test]
async fn a_case_past_its_deadline_alerts_the_supervisor_page_and_metrics() {
    let svc = TestService::start().await;
    staff(&svc).await;
    let store = svc.store().await;
    let now = chrono::Utc::now();
    let late = NewCase {
        registered_at: now - chrono::TimeDelta::minutes(90),
        deadline: now - chrono::TimeDelta::minutes(30),
        ..new_case(2)
    };
    let late_id = store.insert_case(&late).await.expect("insert").id;
    store.insert_case(&new_case(4)).await.expect("insert");
    let sup = login(&svc, "sara", "super-pw").await;
    let s = supervisor_stats(&svc, &sup).await;
    let overdue = &s["overdue"];
    assert_eq!(overdue["count"], json!(1), "{s}");
    assert_eq!(overdue["per_level"], json!([0, 1, 0, 0, 0]), "{s}");
    assert_eq!(overdue["cases"][0]["case_id"], json!(late_id), "{s}");
    assert_eq!(overdue["cases"][0]["level"], json!(2), "{s}");
    assert!(
        overdue["cases"][0]["minutes_over"].as_i64() >= Some(29),
        "{s}"
    );
    assert!(
        overdue["next_alert_at"].is_string(),
        "the level-4 case is next: {s}"
    );
    // The metrics follow the queue's change feed (SQLite polls its counter).
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = reqwest::get(svc.http_url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        if text.contains("pe_cases_overdue{level=\"2\"} 1") {
            assert!(text.contains("pe_cases_overdue{level=\"4\"} 0"), "{text}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "pe_cases_overdue never showed the case: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    svc.stop().await;
}

async fn supervisor_stats(svc: &TestService, client: &reqwest::Client) -> Value {
    client
        .get(svc.http_url("/api/v1/supervisor/stats"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

/// Reads SSE `data:` lines of `queue` events from a streaming response.
async fn next_queue_version(resp: &mut reqwest::Response, buf: &mut String) -> u64 {
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(i) = buf.find("\n\n") {
            let block: String = buf.drain(..i + 2).collect();
            if block.contains("event: queue") {
                let data = block
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .expect("data line");
                let v: Value = serde_json::from_str(data).expect("json");
                return v["version"].as_u64().expect("version");
            }
            continue;
        }
        let chunk = tokio::time::timeout_at(end, resp.chunk())
            .await
            .expect("an event in time")
            .expect("stream")
            .expect("not ended");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn events_report_a_case_written_by_another_connection() {
    let svc = TestService::start().await;
    staff(&svc).await;
    let nurse = login(&svc, "nina", "nurse-pw").await;
    let mut resp = nurse
        .get(svc.http_url("/api/v1/events"))
        .send()
        .await
        .expect("events");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("text/event-stream"));
    let mut buf = String::new();
    let first = next_queue_version(&mut resp, &mut buf).await;
    // Another process writes to the same database file.
    svc.store()
        .await
        .insert_case(&new_case(3))
        .await
        .expect("insert");
    let second = next_queue_version(&mut resp, &mut buf).await;
    assert!(second > first, "{second} > {first}");
    // Stopping ends the open stream (graceful shutdown must not hang on it).
    tokio::time::timeout(Duration::from_secs(10), svc.stop())
        .await
        .expect("stop with an open event stream");
    drop(resp);
}

#[tokio::test]
async fn pages_are_served_without_external_assets() {
    let svc = TestService::start().await;
    let c = reqwest::Client::new();
    for path in [
        "/login",
        "/nurse",
        "/supervisor",
        "/web/app.css",
        "/web/common.js",
        "/web/nurse.js",
        "/web/supervisor.js",
        "/web/i18n.js",
        "/web/login.js",
    ] {
        let r = c.get(svc.http_url(path)).send().await.expect("get");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(r.headers().contains_key("content-security-policy"));
        let text = r.text().await.expect("text");
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{path} links outside"
        );
    }
    svc.stop().await;
}

/// The supervisor closes the offer and picks a message; the very next call
/// hears the message after the greeting and the closed prompt instead of an offer.
#[tokio::test]
async fn next_call_hears_the_message_and_the_closed_offer() {
    let svc = TestService::start().await;
    staff(&svc).await;
    let sup = login(&svc, "sara", "super-pw").await;
    let r = sup
        .put(svc.http_url("/api/v1/supervisor/settings"))
        .json(
            &json!({"callback_capacity": 100, "callback_offer_open": false,
                      "greeting_message": "msg_high_load", "closures": []}),
        )
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::OK);

    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    answer_green_questions(&call, DtmfMethod::Rfc4733, &["msg_high_load"]).await;
    press(&call, "#", DtmfMethod::Rfc4733).await;
    wait_for_prompt(&call, "callback_closed", Duration::from_secs(15)).await;
    let heard = call.received_audio().samples();
    let welcome = find_prompt(&heard, "sv", "welcome", Codec::Pcmu);
    let message = find_prompt(&heard, "sv", "msg_high_load", Codec::Pcmu);
    assert!(!message.is_empty(), "the greeting message was not played");
    assert!(message[0] > welcome[0]);
    assert!(find_prompt(&heard, "sv", "callback_offer_time", Codec::Pcmu).is_empty());
    let _ = call.hangup().await;
    svc.stop().await;
}

/// Two nodes on one PostgreSQL database: a case written through node A shows up
/// on node B's event stream (LISTEN/NOTIFY), and B applies A's settings change.
#[tokio::test]
async fn postgres_nodes_share_queue_events_and_settings() {
    let url = postgres_database().await;
    let a = TestService::start_with(Some(url.clone()), |_| {}).await;
    let b = TestService::start_with(Some(url.clone()), |_| {}).await;
    staff(&a).await;
    let nurse_b = login(&b, "nina", "nurse-pw").await;
    let mut resp = nurse_b
        .get(b.http_url("/api/v1/events"))
        .send()
        .await
        .expect("events");
    let mut buf = String::new();
    let first = next_queue_version(&mut resp, &mut buf).await;
    a.store()
        .await
        .insert_case(&new_case(2))
        .await
        .expect("insert");
    let second = next_queue_version(&mut resp, &mut buf).await;
    assert!(second > first, "{second} > {first}");

    let sup_a = login(&a, "sara", "super-pw").await;
    let closed = json!({"callback_capacity": 3, "callback_offer_open": false,
                        "greeting_message": "msg_high_load", "closures": []});
    let r = sup_a
        .put(a.http_url("/api/v1/supervisor/settings"))
        .json(&closed)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::OK);
    let sup_b = login(&b, "sara", "super-pw").await;
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got: Value = sup_b
            .get(b.http_url("/api/v1/supervisor/settings"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        if got == closed {
            break;
        }
        assert!(tokio::time::Instant::now() < end, "node B kept {got}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::timeout(Duration::from_secs(10), b.stop())
        .await
        .expect("stop");
    drop(resp);
    a.stop().await;
    drop_postgres_database(&url).await;
}
