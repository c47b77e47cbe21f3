//! Voice notes (`GET /cases/{id}/voice-note`, the case's `has_voice_note`) and
//! the digital channel's cancel (`POST /cases/cancel`), with their audit rows.
//! Runs on SQLite, and on PostgreSQL when `PE_TEST_POSTGRES_URL` is set.

mod api_support;

use api_support::{digital_case, Api, Reply, INTAKE_TOKEN, OTHER_INTAKE_TOKEN};
use phone_entrance::api::auth::Role;
use phone_entrance::media::recorder::wav_bytes;
use serde_json::{json, Value};

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_string()
}

async fn new_case(api: &Api, external_ref: &str) -> uuid::Uuid {
    let reply = api
        .intake(
            Some(INTAKE_TOKEN),
            &digital_case(external_ref, 3).to_string(),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    id_of(&reply.json()).parse().expect("uuid")
}

async fn cancel(api: &Api, token: Option<&str>, body: &str) -> Reply {
    let mut request = reqwest::Client::new()
        .post(api.url("/api/v1/cases/cancel"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let response = request.send().await.expect("request");
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap_or_default(),
    }
}

async fn voice_note_is_served_as_wav_to_staff_and_audited(api: &Api) {
    let nurse = api.sign_in("anna", Role::Nurse).await;
    let id = new_case(api, "v-1").await;
    let path = format!("/api/v1/cases/{id}/voice-note");
    let reply = api.send("GET", &path, Some(&nurse), None).await;
    assert_eq!(reply.status, 404, "no note yet: {}", reply.text);
    let case = api
        .send("GET", &format!("/api/v1/cases/{id}"), Some(&nurse), None)
        .await;
    assert_eq!(case.json()["has_voice_note"], false);

    let samples: Vec<i16> = (0..8000).map(|i| ((i % 40) * 200 - 4000) as i16).collect();
    let wav = wav_bytes(&samples).expect("wav");
    api.store
        .save_voice_note(id, &wav, chrono::Utc::now())
        .await
        .expect("save");
    assert_eq!(api.send("GET", &path, None, None).await.status, 401);
    let response = reqwest::Client::new()
        .get(api.url(&path))
        .header("cookie", &nurse)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("audio/wav")
    );
    assert_eq!(response.bytes().await.expect("body").as_ref(), &wav[..]);
    let case = api
        .send("GET", &format!("/api/v1/cases/{id}"), Some(&nurse), None)
        .await;
    assert_eq!(case.json()["has_voice_note"], true);

    let supervisor = api.sign_in("sara", Role::Supervisor).await;
    assert_eq!(
        api.send("GET", &path, Some(&supervisor), None).await.status,
        200
    );
    let reads: Vec<_> = api
        .store
        .audit_rows(Some(id), 50)
        .await
        .expect("audit")
        .into_iter()
        .filter(|r| r.action == "voice_note.read")
        .map(|r| (r.actor, r.ip))
        .collect();
    assert_eq!(
        reads,
        vec![
            ("anna".to_string(), Some("127.0.0.1".to_string())),
            ("sara".to_string(), Some("127.0.0.1".to_string()))
        ]
    );
    let bad = api
        .send("GET", "/api/v1/cases/nope/voice-note", Some(&nurse), None)
        .await;
    assert_eq!(bad.status, 400);
}

async fn intake_cancels_its_own_waiting_case(api: &Api) {
    let id = new_case(api, "c-1").await;
    let body = json!({"external_ref": "c-1"}).to_string();
    assert_eq!(cancel(api, None, &body).await.status, 401);
    // Another client's reference space does not contain it.
    assert_eq!(
        cancel(api, Some(OTHER_INTAKE_TOKEN), &body).await.status,
        404
    );
    let reply = cancel(api, Some(INTAKE_TOKEN), &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["id"], id.to_string());
    assert_eq!(reply.json()["status"], "cancelled");
    assert!(api.store.worklist().await.expect("worklist").is_empty());
    // A retried cancel answers the same.
    let again = cancel(api, Some(INTAKE_TOKEN), &body).await;
    assert_eq!(again.status, 200, "{}", again.text);
    let rows = api.store.audit_rows(Some(id), 20).await.expect("audit");
    let cancels: Vec<_> = rows
        .iter()
        .filter(|r| r.action == "case.cancel")
        .map(|r| r.actor.as_str())
        .collect();
    assert_eq!(cancels, vec!["intake:1177-direkt"]);
    assert!(rows
        .iter()
        .any(|r| r.action == "intake.cancel" && r.ip.as_deref() == Some("127.0.0.1")));
}

async fn intake_cancel_of_unknown_or_claimed_case_is_refused(api: &Api) {
    let unknown = json!({"external_ref": "never-posted"}).to_string();
    assert_eq!(cancel(api, Some(INTAKE_TOKEN), &unknown).await.status, 404);
    assert_eq!(cancel(api, Some(INTAKE_TOKEN), "{}").await.status, 400);
    assert_eq!(
        cancel(api, Some(INTAKE_TOKEN), r#"{"external_ref":""}"#)
            .await
            .status,
        400
    );
    let id = new_case(api, "c-2").await;
    let nurse = api.sign_in("anna", Role::Nurse).await;
    let claim = api
        .send(
            "POST",
            &format!("/api/v1/cases/{id}/claim"),
            Some(&nurse),
            None,
        )
        .await;
    assert_eq!(claim.status, 200, "{}", claim.text);
    let body = json!({"external_ref": "c-2"}).to_string();
    let reply = cancel(api, Some(INTAKE_TOKEN), &body).await;
    assert_eq!(reply.status, 409, "{}", reply.text);
    assert!(reply.json()["error"]
        .as_str()
        .unwrap_or_default()
        .contains("claimed"));
}

async fn openapi_describes_voice_note_and_cancel(api: &Api) {
    let doc = api.send("GET", "/openapi.json", None, None).await.json();
    assert!(doc["paths"]["/api/v1/cases/{id}/voice-note"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/cases/cancel"]["post"].is_object());
    assert!(doc["components"]["schemas"]["CancelRequest"].is_object());
}

on_both_databases!(
    voice_note_is_served_as_wav_to_staff_and_audited,
    intake_cancels_its_own_waiting_case,
    intake_cancel_of_unknown_or_claimed_case_is_refused,
    openapi_describes_voice_note_and_cancel,
);
