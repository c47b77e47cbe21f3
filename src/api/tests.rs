//! The router served on an ephemeral port and called over real HTTP.

use super::*;
use crate::queue::Priority;
use crate::store::tests::sqlite_test_db;
use crate::store::{Answer, CaseMode, CaseStatus, Channel, NewCase};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::Value;

/// Serves the router on 127.0.0.1:0; returns the base URL.
async fn serve(store: Store) -> String {
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => panic!("local_addr: {e}"),
    };
    let app =
        router(ApiState::new(store)).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// A nurse with a live session; returns the `Cookie` header value.
async fn nurse_cookie(store: &Store) -> String {
    let token = auth::new_token();
    let now = Utc::now();
    let _ = store
        .create_user("test-nurse", "$unused", auth::Role::Nurse, now)
        .await;
    if let Err(e) = store
        .create_session(
            &auth::sha256_hex(&token),
            "test-nurse",
            now,
            now + TimeDelta::hours(1),
        )
        .await
    {
        panic!("session: {e}");
    }
    format!("{}={token}", auth::SESSION_COOKIE)
}

/// GET and return (status, content type, body text).
async fn get(url: &str) -> (u16, String, String) {
    request(reqwest::Method::GET, url, None).await
}

/// GET with a session cookie.
async fn get_as(url: &str, cookie: &str) -> (u16, String, String) {
    request(reqwest::Method::GET, url, Some(cookie)).await
}

async fn request(
    method: reqwest::Method,
    url: &str,
    cookie: Option<&str>,
) -> (u16, String, String) {
    let mut builder = reqwest::Client::new().request(method, url);
    if let Some(c) = cookie {
        builder = builder.header("cookie", c);
    }
    let response = match builder.send().await {
        Ok(r) => r,
        Err(e) => panic!("request {url}: {e}"),
    };
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = response.text().await.unwrap_or_default();
    (status, content_type, body)
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn case(priority: u8, registered_min: i64, deadline_min: i64) -> NewCase {
    NewCase {
        channel: Channel::Phone,
        priority: Priority::new(priority).unwrap_or(Priority::LOWEST),
        mode: if priority == 1 {
            CaseMode::Hold
        } else {
            CaseMode::Callback
        },
        registered_at: t0() + TimeDelta::minutes(registered_min),
        deadline: t0() + TimeDelta::minutes(deadline_min),
        estimated_callback_at: Some(t0() + TimeDelta::minutes(registered_min + 12)),
        answers: vec![Answer {
            question_id: "chest_pain".into(),
            question_text: "Har du ont i bröstet?".into(),
            value: "2".into(),
            value_text: "Nej".into(),
        }],
        callback_number: Some("+46701234567".into()),
        personnummer: Some("191212121212".into()),
        language: "sv".into(),
        call_id: None,
        external_ref: None,
        summary: String::new(),
        red_flag: priority == 1,
    }
}

#[tokio::test]
async fn healthz_answers_ok() {
    let db = sqlite_test_db().await;
    let base = serve(db.store.clone()).await;
    let (status, _, body) = get(&format!("{base}/healthz")).await;
    assert_eq!((status, body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn readyz_is_ready_while_the_database_answers_and_503_after() {
    let db = sqlite_test_db().await;
    let base = serve(db.store.clone()).await;
    let (status, _, body) = get(&format!("{base}/readyz")).await;
    assert_eq!((status, body.as_str()), (200, "ready"));

    db.store.close().await;
    let (status, content_type, body) = get(&format!("{base}/readyz")).await;
    assert_eq!(status, 503);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let message = json(&body)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("not ready"), "{body}");
}

#[tokio::test]
async fn worklist_is_in_queue_order_with_public_fields_only() {
    let db = sqlite_test_db().await;
    let store = db.store.clone();
    let mut ids = Vec::new();
    for c in [
        case(4, 0, 480),
        case(2, 5, 35),
        case(1, 10, 13),
        case(3, 1, 35),
    ] {
        match store.insert_case(&c).await {
            Ok(r) => ids.push(r.id.to_string()),
            Err(e) => panic!("{e}"),
        }
    }
    // A closed case is not listed.
    if let Ok(done) = store.insert_case(&case(2, 0, 1)).await {
        let _ = store.set_status(done.id, CaseStatus::Done, t0()).await;
    }
    let cookie = nurse_cookie(&store).await;
    let base = serve(store).await;
    let (status, content_type, body) = get_as(&format!("{base}/api/v1/worklist"), &cookie).await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );

    let list = json(&body);
    let Some(items) = list.as_array() else {
        panic!("not an array: {body}")
    };
    let listed: Vec<&str> = items.iter().filter_map(|c| c["id"].as_str()).collect();
    // Level 1, then deadline 35 (registered 1 before 5), then deadline 480.
    let expected: Vec<&str> = [2usize, 3, 1, 0]
        .iter()
        .filter_map(|&i| ids.get(i).map(String::as_str))
        .collect();
    assert_eq!(listed, expected);

    let first = &items[0];
    assert_eq!(first["channel"], "phone");
    assert_eq!(first["priority"], 1);
    assert_eq!(first["status"], "holding");
    assert_eq!(first["red_flag"], true);
    assert_eq!(first["attempts"], 0);
    assert_eq!(first["language"], "sv");
    assert_eq!(first["registered_at"], "2025-03-01T09:10:00Z");
    assert_eq!(first["deadline"], "2025-03-01T09:13:00Z");
    assert_eq!(first["estimated_callback_at"], "2025-03-01T09:22:00Z");
    assert_eq!(first["answers"][0]["question_id"], "chest_pain");
    assert_eq!(first["answers"][0]["value_text"], "Nej");
    for item in items {
        let Some(fields) = item.as_object() else {
            panic!("not an object: {item}")
        };
        assert!(!fields.contains_key("callback_number"));
        assert!(!fields.contains_key("personnummer"));
    }
    assert!(!body.contains("4670123"), "callback number leaked: {body}");
    assert!(!body.contains("19121212"), "personnummer leaked: {body}");
}

#[tokio::test]
async fn empty_worklist_is_an_empty_array() {
    let db = sqlite_test_db().await;
    let cookie = nurse_cookie(&db.store).await;
    let base = serve(db.store.clone()).await;
    let (status, _, body) = get_as(&format!("{base}/api/v1/worklist"), &cookie).await;
    assert_eq!((status, body.as_str()), (200, "[]"));
}

#[tokio::test]
async fn unknown_route_is_a_json_404() {
    let db = sqlite_test_db().await;
    let base = serve(db.store.clone()).await;
    let (status, content_type, body) = get(&format!("{base}/api/v1/nope?pnr=191212121212")).await;
    assert_eq!(status, 404);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let message = json(&body)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("/api/v1/nope"), "{body}");
    assert!(!body.contains("191212"), "query string echoed: {body}");
}

#[tokio::test]
async fn wrong_method_is_a_json_405() {
    let db = sqlite_test_db().await;
    let base = serve(db.store.clone()).await;
    let (status, _, body) = request(
        reqwest::Method::DELETE,
        &format!("{base}/api/v1/worklist"),
        None,
    )
    .await;
    assert_eq!(status, 405);
    assert!(json(&body)["error"].is_string(), "{body}");
}

#[tokio::test]
async fn database_failure_is_a_json_500_without_details() {
    let db = sqlite_test_db().await;
    let cookie = nurse_cookie(&db.store).await;
    let base = serve(db.store.clone()).await;
    db.store.close().await;
    let (status, _, body) = get_as(&format!("{base}/api/v1/worklist"), &cookie).await;
    assert_eq!(status, 500);
    let message = json(&body)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("internal database error"), "{body}");
    assert!(
        !body.to_lowercase().contains("pool"),
        "internals leaked: {body}"
    );
}

#[tokio::test]
async fn worklist_without_a_session_is_401() {
    let db = sqlite_test_db().await;
    let base = serve(db.store.clone()).await;
    let (status, _, body) = get(&format!("{base}/api/v1/worklist")).await;
    assert_eq!(status, 401, "{body}");
    let forged = format!("{}={}", auth::SESSION_COOKIE, auth::new_token());
    let (status, _, _) = get_as(&format!("{base}/api/v1/worklist"), &forged).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn worklist_read_is_audited_with_user_address_and_the_cases_shown() {
    let db = sqlite_test_db().await;
    let cookie = nurse_cookie(&db.store).await;
    let shown = db
        .store
        .insert_case(&crate::store::tests::new_case(3, 0, 120))
        .await
        .unwrap();
    let base = serve(db.store.clone()).await;
    let (status, _, _) = get_as(&format!("{base}/api/v1/worklist"), &cookie).await;
    assert_eq!(status, 200);
    let rows = db.store.audit_rows(None, 10).await.unwrap_or_default();
    let read = rows.iter().find(|r| r.action == "worklist.read");
    assert_eq!(
        read.map(|r| (r.actor.as_str(), r.ip.as_deref(), r.detail.clone())),
        Some((
            "test-nurse",
            Some("127.0.0.1"),
            format!("cases=1 ids={}", shown.id)
        ))
    );
}
