//! Staff sign-in over HTTP: cookies, sessions, roles, and the audit rows they
//! leave. Runs on SQLite, and on PostgreSQL when `PE_TEST_POSTGRES_URL` is set.

mod api_support;

use api_support::{Api, PASSWORD};
use phone_entrance::api::auth::Role;
use serde_json::json;

async fn login_sets_a_strict_http_only_cookie_and_me_answers(api: &Api) {
    api.user("anna", Role::Nurse).await;
    let reply = api
        .send(
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"username": "anna", "password": PASSWORD})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({"username": "anna", "role": "nurse", "unit": "1177", "unit_name": "1177 Vårdguiden"})
    );
    let cookie = reply
        .headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    for part in ["pe_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{part} missing in {cookie}");
    }
    let session = cookie.split(';').next().unwrap_or_default();
    let me = api.send("GET", "/api/v1/me", Some(session), None).await;
    assert_eq!(me.status, 200);
    assert_eq!(
        me.json(),
        json!({"username": "anna", "role": "nurse", "unit": "1177", "unit_name": "1177 Vårdguiden"})
    );

    let rows = api.audit().await;
    let login = rows.iter().find(|r| r.action == "auth.login");
    assert_eq!(
        login.map(|r| (r.actor.as_str(), r.ip.as_deref())),
        Some(("anna", Some("127.0.0.1")))
    );
}

async fn wrong_password_and_unknown_user_are_401_and_audited(api: &Api) {
    api.user("bo", Role::Supervisor).await;
    let wrong = api
        .send(
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"username": "bo", "password": "nope"})),
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.headers.get("set-cookie").is_none());
    assert!(wrong.json()["error"].is_string());
    // Someone typing a password into the name field must not land in the log.
    let unknown = api
        .send(
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"username": "hunter2-secret", "password": "x"})),
        )
        .await;
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.json(), wrong.json(), "same message either way");

    let rows = api.audit().await;
    let failed: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r.action == "auth.login_failed")
        .map(|r| (r.actor.as_str(), r.detail.as_str()))
        .collect();
    assert_eq!(
        failed,
        vec![("bo", "wrong password"), ("unknown", "unknown user name")]
    );
    assert!(rows
        .iter()
        .all(|r| !r.actor.contains("hunter2") && !r.detail.contains("hunter2")));
}

async fn bad_login_body_is_400(api: &Api) {
    let reply = api
        .send("POST", "/api/v1/login", None, Some(json!({"user": "anna"})))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
}

async fn logout_ends_the_session_and_clears_the_cookie(api: &Api) {
    let cookie = api.sign_in("cia", Role::Supervisor).await;
    assert_eq!(
        api.send("GET", "/api/v1/me", Some(&cookie), None)
            .await
            .json()["role"],
        "supervisor"
    );
    let out = api
        .send("POST", "/api/v1/logout", Some(&cookie), None)
        .await;
    assert_eq!(out.status, 204);
    let clear = out
        .headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(clear.contains("Max-Age=0"), "{clear}");
    assert_eq!(
        api.send("GET", "/api/v1/me", Some(&cookie), None)
            .await
            .status,
        401
    );
    // Logging out twice, or without a session, is fine.
    assert_eq!(
        api.send("POST", "/api/v1/logout", Some(&cookie), None)
            .await
            .status,
        204
    );
    assert!(api
        .audit()
        .await
        .iter()
        .any(|r| r.action == "auth.logout" && r.actor == "cia"));
}

async fn me_without_or_with_a_forged_session_is_401(api: &Api) {
    assert_eq!(api.send("GET", "/api/v1/me", None, None).await.status, 401);
    let forged = format!("pe_session={}", "a".repeat(64));
    assert_eq!(
        api.send("GET", "/api/v1/me", Some(&forged), None)
            .await
            .status,
        401
    );
    assert_eq!(
        api.send("GET", "/api/v1/me", Some("pe_session=x"), None)
            .await
            .status,
        401
    );
}

async fn nurse_is_403_where_a_supervisor_is_needed(api: &Api) {
    let nurse = api.sign_in("nils", Role::Nurse).await;
    let boss = api.sign_in("sara", Role::Supervisor).await;
    let denied = api
        .send("GET", "/test/supervisor-only", Some(&nurse), None)
        .await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    assert!(denied.json()["error"]
        .as_str()
        .unwrap_or_default()
        .contains("supervisor"));
    assert_eq!(
        api.send("GET", "/test/supervisor-only", Some(&boss), None)
            .await
            .status,
        200
    );
    assert_eq!(
        api.send("GET", "/test/supervisor-only", None, None)
            .await
            .status,
        401
    );
}

async fn staff_session_is_not_an_intake_token(api: &Api) {
    let nurse = api.sign_in("nora", Role::Nurse).await;
    let reply = api
        .send(
            "POST",
            "/api/v1/cases",
            Some(&nurse),
            Some(api_support::digital_case("x", 3)),
        )
        .await;
    assert_eq!(reply.status, 401);
}

on_both_databases!(
    login_sets_a_strict_http_only_cookie_and_me_answers,
    wrong_password_and_unknown_user_are_401_and_audited,
    bad_login_body_is_400,
    logout_ends_the_session_and_clears_the_cookie,
    me_without_or_with_a_forged_session_is_401,
    nurse_is_403_where_a_supervisor_is_needed,
    staff_session_is_not_an_intake_token,
);
