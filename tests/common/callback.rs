//! Callback set-up shared by the callback tests: a service with a trunk and
//! a nurse phone, a case to call, and the call API.

use super::TestService;
use phone_entrance::store::{CaseMode, Channel, NewCase, Role};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

/// The resident's number on the case (and the Request-URI user at the trunk).
pub const RESIDENT: &str = "+46701234567";

/// A service whose trunk proxy is `trunk` (plus `trunk_extra` TOML lines, e.g.
/// credentials) and whose nurse "nina" has her phone at `nurse`; `edit` may
/// change the copied config further.
pub async fn service_with_trunk(
    trunk: SocketAddr,
    trunk_extra: &str,
    nurse: SocketAddr,
    edit: impl FnOnce(&std::path::Path),
) -> TestService {
    let svc = service_with_trunk_on(None, trunk, trunk_extra, nurse, edit).await;
    svc.add_staff("nina", "nurse-pw", Role::Nurse).await;
    svc
}

/// Like [`service_with_trunk`] on the database at `database_url` (a node of
/// a cluster: nobody is added to it).
pub async fn service_with_trunk_on(
    database_url: Option<String>,
    trunk: SocketAddr,
    trunk_extra: &str,
    nurse: SocketAddr,
    edit: impl FnOnce(&std::path::Path),
) -> TestService {
    let trunk_toml = format!(
        "proxy = \"{trunk}\"\ndomain = \"trunk.test\"\nring_timeout_seconds = 30\n{trunk_extra}"
    );
    TestService::start_with(database_url, move |dir| {
        std::fs::write(dir.join("trunk.toml"), trunk_toml).expect("trunk.toml");
        std::fs::write(
            dir.join("nurse-phones.toml"),
            format!("[phones]\nnina = \"sip:nina@{nurse}\"\n"),
        )
        .expect("nurse-phones.toml");
        edit(dir);
    })
    .await
}

/// A waiting phone callback case of `level` to `RESIDENT`, registered now.
pub fn callback_case(level: u8) -> NewCase {
    let now = chrono::Utc::now();
    NewCase {
        channel: Channel::Phone,
        priority: phone_entrance::queue::Priority::new(level).expect("level"),
        mode: CaseMode::Callback,
        registered_at: now,
        deadline: now + chrono::TimeDelta::minutes(120),
        estimated_callback_at: None,
        answers: vec![],
        callback_number: Some(RESIDENT.into()),
        personnummer: None,
        language: "sv".into(),
        call_id: None,
        external_ref: None,
        summary: String::new(),
        red_flag: false,
    }
}

/// Registers a callback case of `level`, claims it as nina and starts the
/// call with her phone: (nina's client, case id, call id).
pub async fn claim_and_call(svc: &TestService, level: u8) -> (reqwest::Client, String, String) {
    let case = svc
        .store()
        .await
        .insert_case(&callback_case(level))
        .await
        .expect("case");
    let nina = svc.login("nina", "nurse-pw").await;
    let case = case.id.to_string();
    let call_id = claim_and_call_case(svc, &nina, &case).await;
    (nina, case, call_id)
}

/// Claims `case` as `nina` (by hand: also before its next attempt time) and
/// starts the call with her phone; the call id.
pub async fn claim_and_call_case(svc: &TestService, nina: &reqwest::Client, case: &str) -> String {
    let r = nina
        .post(svc.http_url(&format!("/api/v1/cases/{case}/claim")))
        .send()
        .await
        .expect("claim");
    assert_eq!(r.status(), StatusCode::OK);
    let r = nina
        .post(svc.http_url(&format!("/api/v1/cases/{case}/call")))
        .json(&json!({"nurse_leg": "phone"}))
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{:?}", r.text().await);
    let body: Value = r.json().await.expect("json");
    body["call_id"].as_str().expect("call_id").to_string()
}

/// `GET /api/v1/calls/{id}`.
pub async fn call_status(svc: &TestService, nina: &reqwest::Client, call_id: &str) -> Value {
    nina.get(svc.http_url(&format!("/api/v1/calls/{call_id}")))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json")
}

/// Polls the call until its state is `state` or `within` has passed; the last status.
pub async fn wait_for_state(
    svc: &TestService,
    nina: &reqwest::Client,
    call_id: &str,
    state: &str,
    within: Duration,
) -> Value {
    let end = tokio::time::Instant::now() + within;
    loop {
        let s = call_status(svc, nina, call_id).await;
        if s["state"] == state || tokio::time::Instant::now() > end {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `POST /api/v1/calls/{id}/hangup` (the nurse ends the call from the page).
pub async fn hang_up(svc: &TestService, nina: &reqwest::Client, call_id: &str) {
    let r = nina
        .post(svc.http_url(&format!("/api/v1/calls/{call_id}/hangup")))
        .send()
        .await
        .expect("hangup");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}
