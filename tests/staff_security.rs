//! The staff side against an attacker, over real HTTP on SQLite and
//! PostgreSQL: sign-in lockout and its lift, cross-site changes (foreign
//! Origin, text/plain), uncacheable answers, session idle expiry, and
//! `phone-entrance disable-user` ending a session at once.

mod api_support;

use api_support::{Api, PASSWORD};
use phone_entrance::api::auth::Role;
use phone_entrance::config::StaffConfig;
use serde_json::json;
use std::time::Duration;

/// Short idle time (so a test can outwait it), defaults otherwise.
fn idle_config() -> StaffConfig {
    StaffConfig {
        session_idle_seconds: 2,
        ..StaffConfig::default()
    }
}

async fn login(api: &Api, user: &str, password: &str) -> api_support::Reply {
    api.send(
        "POST",
        "/api/v1/login",
        None,
        Some(json!({"username": user, "password": password})),
    )
    .await
}

fn session_of(reply: &api_support::Reply) -> String {
    let set = reply
        .headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    set.split(';').next().unwrap_or_default().to_string()
}

async fn five_wrong_passwords_lock_the_account_until_a_supervisor_lifts_it(api: &Api) {
    api.user("anna", Role::Nurse).await;
    let sup = api.sign_in("sara", Role::Supervisor).await;
    for _ in 0..5 {
        assert_eq!(login(api, "anna", "guess").await.status, 401);
    }
    // Locked: the right password is refused too, with Retry-After.
    let locked = login(api, "anna", PASSWORD).await;
    assert_eq!(locked.status, 429, "{}", locked.text);
    let retry: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((60..=301).contains(&retry), "Retry-After {retry}");
    // A name that is no account locks the same way (no enumeration).
    for _ in 0..5 {
        assert_eq!(login(api, "nobody", "guess").await.status, 401);
    }
    assert_eq!(login(api, "nobody", "guess").await.status, 429);

    let list = api
        .send("GET", "/api/v1/supervisor/lockouts", Some(&sup), None)
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    let locks = list.json();
    let names: Vec<&str> = locks
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap_or_default())
        .collect();
    assert!(names.contains(&"anna"), "{locks}");
    assert!(names.iter().any(|n| n.starts_with("unknown:")), "{locks}");
    assert!(
        !names.contains(&"nobody"),
        "typed names that are no account are hashed"
    );

    let nurse = api.sign_in("nils", Role::Nurse).await;
    let lift = json!({"kind": "account", "name": "anna"});
    let by_nurse = api
        .send(
            "POST",
            "/api/v1/supervisor/lockouts/lift",
            Some(&nurse),
            Some(lift.clone()),
        )
        .await;
    assert_eq!(by_nurse.status, 403);
    let lifted = api
        .send(
            "POST",
            "/api/v1/supervisor/lockouts/lift",
            Some(&sup),
            Some(lift.clone()),
        )
        .await;
    assert_eq!(lifted.status, 204, "{}", lifted.text);
    assert_eq!(login(api, "anna", PASSWORD).await.status, 200);
    let again = api
        .send(
            "POST",
            "/api/v1/supervisor/lockouts/lift",
            Some(&sup),
            Some(lift),
        )
        .await;
    assert_eq!(again.status, 404);
    let rows = api.audit().await;
    assert!(rows
        .iter()
        .any(|r| r.action == "auth.locked" && r.actor == "anna"));
    assert!(rows.iter().any(|r| r.action == "auth.lock_lifted"
        && r.actor == "sara"
        && r.detail == "account=anna"));
}

async fn twenty_failures_from_one_address_lock_the_address(api: &Api) {
    api.user("bo", Role::Nurse).await;
    let sup = api.sign_in("sara", Role::Supervisor).await;
    for i in 0..20 {
        // Different names: no account lock, only the address counts them all.
        assert_eq!(login(api, &format!("guess{i}"), "x").await.status, 401);
    }
    assert_eq!(login(api, "bo", PASSWORD).await.status, 429);
    let lift = json!({"kind": "address", "name": "127.0.0.1"});
    let lifted = api
        .send(
            "POST",
            "/api/v1/supervisor/lockouts/lift",
            Some(&sup),
            Some(lift),
        )
        .await;
    assert_eq!(lifted.status, 204, "{}", lifted.text);
    assert_eq!(login(api, "bo", PASSWORD).await.status, 200);
}

async fn cross_site_changes_are_refused(api: &Api) {
    let sup = api.sign_in("sara", Role::Supervisor).await;
    let settings = api
        .send("GET", "/api/v1/supervisor/settings", Some(&sup), None)
        .await;
    assert_eq!(settings.status, 200);
    assert_eq!(settings.headers["cache-control"], "no-store");
    let client = reqwest::Client::new();
    let url = api.url("/api/v1/supervisor/settings");
    // The attacker's page: the cookie rides along, the Origin is theirs.
    let evil = client
        .put(&url)
        .header("cookie", &sup)
        .header("origin", "http://evil.example")
        .json(&settings.json())
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status().as_u16(), 403);
    // No Origin and no Referer: refused too.
    let bare = client
        .put(&url)
        .header("cookie", &sup)
        .json(&settings.json())
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status().as_u16(), 403);
    // Our own page by Referer only: fine.
    let own = client
        .put(&url)
        .header("cookie", &sup)
        .header("referer", api.url("/supervisor"))
        .json(&settings.json())
        .send()
        .await
        .unwrap();
    assert_eq!(own.status().as_u16(), 200);
    // A "simple" cross-site request: text/plain body.
    let plain = client
        .post(api.url("/api/v1/claim-next"))
        .header("cookie", &sup)
        .header("origin", &api.base)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status().as_u16(), 415);
    assert_eq!(plain.headers()["cache-control"], "no-store");
    // A client system with its bearer token is not cookie-authenticated.
    let intake = client
        .post(api.url("/api/v1/cases"))
        .header(
            "authorization",
            format!("Bearer {}", api_support::INTAKE_TOKEN),
        )
        .header("origin", "http://elsewhere.example")
        .json(&api_support::digital_case("csrf-1", 3))
        .send()
        .await
        .unwrap();
    assert_eq!(intake.status().as_u16(), 201);
    // A sign-in from a foreign page (login CSRF) is refused.
    let forged = client
        .post(api.url("/api/v1/login"))
        .header("origin", "http://evil.example")
        .json(&json!({"username": "sara", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
}

async fn an_idle_session_expires(api: &Api) {
    api.user("ida", Role::Nurse).await;
    let session = session_of(&login(api, "ida", PASSWORD).await);
    // Used within the idle time, it lives on past it.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        let me = api.send("GET", "/api/v1/me", Some(&session), None).await;
        assert_eq!(me.status, 200);
    }
    // The page's own refreshes (marked background) do not count as use.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        let refresh = reqwest::Client::new()
            .get(api.url("/api/v1/me"))
            .header("cookie", &session)
            .header("x-pe-background", "1")
            .send()
            .await
            .unwrap();
        if refresh.status() == 401 {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let me = api.send("GET", "/api/v1/me", Some(&session), None).await;
    assert_eq!(me.status, 401, "idle for longer than session_idle_seconds");
}

async fn disable_user_ends_the_session_at_once(api: &Api) {
    api.user("dan", Role::Nurse).await;
    let session = session_of(&login(api, "dan", PASSWORD).await);
    assert_eq!(
        api.send("GET", "/api/v1/me", Some(&session), None)
            .await
            .status,
        200
    );
    admin(api, &["disable-user", "dan"]);
    assert_eq!(
        api.send("GET", "/api/v1/me", Some(&session), None)
            .await
            .status,
        401
    );
    assert_eq!(login(api, "dan", PASSWORD).await.status, 401);
    admin(api, &["enable-user", "dan"]);
    assert_eq!(login(api, "dan", PASSWORD).await.status, 200);
    let rows = api.audit().await;
    assert!(rows
        .iter()
        .any(|r| r.action == "user.disabled" && r.detail == "user=dan"));
    assert!(rows.iter().any(|r| r.action == "user.enabled"));
}

/// Runs `phone-entrance <args>` (a copy: the shared target dir may be rebuilt).
fn admin(api: &Api, args: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("phone-entrance");
    std::fs::copy(env!("CARGO_BIN_EXE_phone-entrance"), &bin).expect("copy the binary");
    let out = std::process::Command::new(&bin)
        .args(args)
        .env("DATABASE_URL", &api.database_url)
        .output()
        .expect("run phone-entrance");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

on_both_databases!(
    five_wrong_passwords_lock_the_account_until_a_supervisor_lifts_it,
    twenty_failures_from_one_address_lock_the_address,
    cross_site_changes_are_refused,
    disable_user_ends_the_session_at_once,
);

mod idle {
    on_both_databases_with!(super::super::idle_config; an_idle_session_expires);

    use super::*;
}
