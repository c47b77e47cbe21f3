//! Digital intake, the worklist, case reads, claims and outcomes over HTTP, with
//! the audit rows each leaves. Runs on SQLite, and on PostgreSQL when
//! `PE_TEST_POSTGRES_URL` is set.

mod api_support;

use api_support::{digital_case, Api, INTAKE_TOKEN};
use phone_entrance::api::auth::Role;
use serde_json::{json, Value};
use std::collections::HashSet;

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_string()
}

async fn post(api: &Api, body: &Value) -> api_support::Reply {
    api.intake(Some(INTAKE_TOKEN), &body.to_string()).await
}

async fn intake_needs_a_known_bearer_token(api: &Api) {
    let body = digital_case("ref-1", 3).to_string();
    for token in [None, Some("wrong-token")] {
        let reply = api.intake(token, &body).await;
        assert_eq!(reply.status, 401, "{}", reply.text);
        assert_eq!(
            reply
                .headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
    }
    assert!(api.store.worklist().await.unwrap_or_default().is_empty());
}

async fn intake_registers_a_case_and_answers_201(api: &Api) {
    let reply = post(api, &digital_case("ref-1", 3)).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let v = reply.json();
    assert_eq!(v["queue_position"], 1);
    assert!(v["estimated_callback_at"].is_string(), "{v}");
    let id = id_of(&v);
    let stored = api
        .store
        .get_case(id.parse().unwrap_or_default())
        .await
        .ok()
        .flatten();
    let Some(stored) = stored else {
        panic!("case {id} not stored")
    };
    assert_eq!(stored.channel.as_str(), "digital");
    assert_eq!(stored.priority.level(), 3);
    assert_eq!(stored.callback_number.as_deref(), Some("+46701234567"));
    assert_eq!(stored.personnummer.as_deref(), Some("191212121212"));
    assert_eq!(stored.answers.len(), 2);
    assert_eq!(stored.summary, "Feber sedan tre dagar");

    // A more urgent case goes ahead of it.
    let urgent = post(api, &digital_case("ref-2", 2)).await.json();
    assert_eq!(urgent["queue_position"], 1);
    let later = post(api, &digital_case("ref-3", 5)).await.json();
    assert_eq!(later["queue_position"], 3);

    let rows = api
        .store
        .audit_rows(stored.id.into(), 10)
        .await
        .unwrap_or_default();
    let actions: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.action.as_str(), r.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("case.created", "digital-intake"),
            ("intake.post", "intake:1177-direkt")
        ]
    );
    assert_eq!(rows.get(1).and_then(|r| r.ip.as_deref()), Some("127.0.0.1"));
}

async fn intake_repost_is_idempotent_and_a_conflict_is_409(api: &Api) {
    let first = post(api, &digital_case("ref-9", 4)).await;
    assert_eq!(first.status, 201);
    let again = post(api, &digital_case("ref-9", 4)).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(id_of(&again.json()), id_of(&first.json()));
    assert_eq!(again.json()["queue_position"], 1);
    assert_eq!(
        again.json()["estimated_callback_at"],
        first.json()["estimated_callback_at"]
    );

    let mut changed = digital_case("ref-9", 4);
    changed["summary"] = json!("Något annat");
    let conflict = post(api, &changed).await;
    assert_eq!(conflict.status, 409, "{}", conflict.text);
    assert!(conflict.json()["error"]
        .as_str()
        .unwrap_or_default()
        .contains("external_ref"));
    assert_eq!(api.store.worklist().await.unwrap_or_default().len(), 1);

    let id = id_of(&first.json()).parse().unwrap_or_default();
    let actions: Vec<String> = api
        .store
        .audit_rows(Some(id), 10)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(
        actions,
        [
            "case.created",
            "intake.post",
            "intake.repost",
            "intake.conflict"
        ]
    );
}

async fn intake_refuses_bad_input_with_a_clear_message(api: &Api) {
    let with = |key: &str, value: Value| {
        let mut body = digital_case("ref-bad", 3);
        body[key] = value;
        body.to_string()
    };
    let mut missing = digital_case("ref-bad", 3);
    if let Some(o) = missing.as_object_mut() {
        o.remove("personnummer");
    }
    let cases: Vec<(String, &str)> = vec![
        (with("level", json!(0)), "unknown level"),
        (with("level", json!(6)), "unknown level"),
        (with("level", json!("urgent")), "expected"),
        (
            with("personnummer", json!("19121212-1213")),
            "invalid personnummer",
        ),
        (
            with("personnummer", json!("19121312-1212")),
            "invalid personnummer",
        ),
        (
            with("callback_number", json!("0900-123456")),
            "invalid callback_number",
        ),
        (with("external_ref", json!("")), "external_ref"),
        (
            with("answers", json!([{"question_id": "q"}])),
            "missing field",
        ),
        (with("colour", json!("red")), "unknown field `colour`"),
        (with("language", json!("de")), "unknown language"),
        (missing.to_string(), "missing field `personnummer`"),
        ("{not json".to_string(), "not valid JSON"),
    ];
    for (body, expected) in cases {
        let reply = api.intake(Some(INTAKE_TOKEN), &body).await;
        assert_eq!(reply.status, 400, "{body} -> {}", reply.text);
        let message = reply.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            message.contains(expected),
            "{body}: {message:?} lacks {expected:?}"
        );
        assert!(
            !message.contains("1213") && !message.contains("0900-123456"),
            "echoed: {message}"
        );
    }
    let mut big = digital_case("ref-big", 3);
    big["summary"] = json!("x".repeat(70 * 1024));
    let reply = api.intake(Some(INTAKE_TOKEN), &big.to_string()).await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert!(reply.json()["error"].is_string());
    assert!(api.store.worklist().await.unwrap_or_default().is_empty());
}

async fn worklist_shows_phone_and_digital_cases_in_one_order(api: &Api) {
    let nurse = api.sign_in("anna", Role::Nurse).await;
    let digital_2 = id_of(&post(api, &digital_case("d-2", 2)).await.json());
    let digital_4 = id_of(&post(api, &digital_case("d-4", 4)).await.json());
    let list = api
        .send("GET", "/api/v1/worklist", Some(&nurse), None)
        .await;
    assert_eq!(list.status, 200);
    let ids: Vec<String> = list
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, vec![digital_2, digital_4]);
    assert_eq!(list.json()[0]["channel"], "digital");
    assert_eq!(
        list.json()[0]["answers"][0]["value_text"],
        "Ja, över 39 grader"
    );
    assert!(
        !list.text.contains("4670123") && !list.text.contains("19121212"),
        "{}",
        list.text
    );
    assert_eq!(
        api.send("GET", "/api/v1/worklist", None, None).await.status,
        401
    );
}

async fn case_read_shows_personal_data_and_is_audited(api: &Api) {
    let nurse = api.sign_in("anna", Role::Nurse).await;
    let id = id_of(&post(api, &digital_case("d-1", 3)).await.json());
    let path = format!("/api/v1/cases/{id}");
    assert_eq!(api.send("GET", &path, None, None).await.status, 401);
    let reply = api.send("GET", &path, Some(&nurse), None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let case = reply.json();
    assert_eq!(case["callback_number"], "+46701234567");
    assert_eq!(case["personnummer"], "191212121212");
    assert_eq!(case["summary"], "Feber sedan tre dagar");
    assert_eq!(case["status"], "waiting");
    assert_eq!(
        api.send("GET", "/api/v1/cases/not-a-uuid", Some(&nurse), None)
            .await
            .status,
        400
    );
    let unknown = format!("/api/v1/cases/{}", uuid::Uuid::new_v4());
    assert_eq!(
        api.send("GET", &unknown, Some(&nurse), None).await.status,
        404
    );

    let rows = api
        .store
        .audit_rows(id.parse().ok(), 10)
        .await
        .unwrap_or_default();
    let read = rows.iter().find(|r| r.action == "case.read");
    assert_eq!(
        read.map(|r| (r.actor.as_str(), r.ip.as_deref())),
        Some(("anna", Some("127.0.0.1")))
    );
    assert_eq!(
        rows.iter().filter(|r| r.action == "case.read").count(),
        1,
        "401/404 leave no read"
    );
}

async fn claim_next_release_and_outcome(api: &Api) {
    let anna = api.sign_in("anna", Role::Nurse).await;
    let bo = api.sign_in("bo", Role::Nurse).await;
    let sara = api.sign_in("sara", Role::Supervisor).await;
    assert_eq!(
        api.send("POST", "/api/v1/claim-next", None, None)
            .await
            .status,
        401
    );
    assert_eq!(
        api.send("POST", "/api/v1/claim-next", Some(&anna), None)
            .await
            .status,
        204
    );

    let low = id_of(&post(api, &digital_case("c-4", 4)).await.json());
    let high = id_of(&post(api, &digital_case("c-2", 2)).await.json());
    let got = api
        .send("POST", "/api/v1/claim-next", Some(&anna), None)
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(id_of(&got.json()), high, "most urgent first");
    assert_eq!(got.json()["status"], "claimed");
    assert_eq!(got.json()["claimed_by"], "anna");
    assert_eq!(
        got.json()["callback_number"],
        "+46701234567",
        "the number to call"
    );

    let path = |id: &str, what: &str| format!("/api/v1/cases/{id}/{what}");
    // Taken already: 409; someone else's: 403 for a nurse.
    assert_eq!(
        api.send("POST", &path(&high, "claim"), Some(&bo), None)
            .await
            .status,
        409
    );
    assert_eq!(
        api.send("POST", &path(&high, "release"), Some(&bo), None)
            .await
            .status,
        403
    );
    let outcome = |o: &str| Some(json!({"outcome": o, "note": "råd om vila"}));
    assert_eq!(
        api.send(
            "POST",
            &path(&high, "outcome"),
            Some(&bo),
            outcome("self_care")
        )
        .await
        .status,
        403
    );
    assert_eq!(
        api.send("POST", &path(&low, "release"), Some(&anna), None)
            .await
            .status,
        409,
        "not claimed"
    );

    let released = api
        .send("POST", &path(&high, "release"), Some(&anna), None)
        .await;
    assert_eq!(released.status, 200, "{}", released.text);
    assert_eq!(released.json()["status"], "waiting");

    // Bo claims it by id, nobody answers: back waiting with one attempt.
    assert_eq!(
        api.send("POST", &path(&high, "claim"), Some(&bo), None)
            .await
            .status,
        200
    );
    let bad = api
        .send("POST", &path(&high, "outcome"), Some(&bo), outcome("cured"))
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]
        .as_str()
        .unwrap_or_default()
        .contains("self_care"));
    let no_answer = api
        .send(
            "POST",
            &path(&high, "outcome"),
            Some(&bo),
            outcome("no_answer"),
        )
        .await;
    assert_eq!(
        no_answer.json(),
        json!({"id": high, "status": "waiting", "attempts": 1})
    );

    // Anna claims again; the supervisor may release her claim.
    assert_eq!(
        api.send("POST", &path(&high, "claim"), Some(&anna), None)
            .await
            .status,
        200
    );
    assert_eq!(
        api.send("POST", &path(&high, "release"), Some(&sara), None)
            .await
            .status,
        200
    );

    // Claim and close.
    assert_eq!(
        id_of(
            &api.send("POST", "/api/v1/claim-next", Some(&sara), None)
                .await
                .json()
        ),
        high
    );
    let done = api
        .send(
            "POST",
            &path(&high, "outcome"),
            Some(&sara),
            outcome("health_centre"),
        )
        .await;
    assert_eq!(done.json()["status"], "done", "{}", done.text);
    assert_eq!(
        api.send("POST", &path(&high, "claim"), Some(&anna), None)
            .await
            .status,
        409
    );
    let missing = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        api.send("POST", &path(&missing, "claim"), Some(&anna), None)
            .await
            .status,
        404
    );
    assert_eq!(
        api.send("POST", &path("nope", "claim"), Some(&anna), None)
            .await
            .status,
        400
    );

    let view = api
        .send("GET", &format!("/api/v1/cases/{high}"), Some(&anna), None)
        .await
        .json();
    assert_eq!(view["outcome"], "health_centre");
    assert_eq!(view["outcome_note"], "råd om vila");

    let trail: Vec<(String, String)> = api
        .store
        .audit_rows(high.parse().ok(), 50)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r.action, r.actor))
        .collect();
    let expected = [
        ("case.created", "digital-intake"),
        ("intake.post", "intake:1177-direkt"),
        ("case.claim", "anna"),
        ("case.release", "anna"),
        ("case.claim", "bo"),
        ("case.outcome", "bo"),
        ("case.claim", "anna"),
        ("case.release", "sara"),
        ("case.claim", "sara"),
        ("case.outcome", "sara"),
        ("case.read", "anna"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(trail, expected);
}

async fn concurrent_claim_next_over_http_hands_each_case_out_once(api: &Api) {
    let mut ids = HashSet::new();
    for i in 0..12 {
        ids.insert(id_of(
            &post(api, &digital_case(&format!("p-{i}"), 2 + i % 4))
                .await
                .json(),
        ));
    }
    let mut cookies = Vec::new();
    for n in 0..4 {
        cookies.push(api.sign_in(&format!("nurse{n}"), Role::Nurse).await);
    }
    let mut tasks = Vec::new();
    for cookie in cookies {
        let url = api.url("/api/v1/claim-next");
        let origin = api.base.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut got = Vec::new();
            loop {
                let r = client
                    .post(&url)
                    .header("cookie", &cookie)
                    .header("origin", &origin)
                    .send()
                    .await;
                let Ok(r) = r else {
                    return Err("request failed".to_string());
                };
                match r.status().as_u16() {
                    204 => return Ok(got),
                    200 => {
                        let v: Value = r.json().await.unwrap_or(Value::Null);
                        got.push(id_of(&v));
                    }
                    other => return Err(format!("status {other}")),
                }
            }
        }));
    }
    let mut claimed = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(got)) => claimed.extend(got),
            Ok(Err(e)) => panic!("{e}"),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(claimed.len(), 12, "no case twice");
    assert_eq!(claimed.into_iter().collect::<HashSet<_>>(), ids);
}

/// A failed callback waits for its next attempt (shown in the worklist, skipped
/// by claim-next); after the last attempt the supervisor sees it as unreachable.
async fn failed_callbacks_wait_then_show_up_as_unreachable_for_the_supervisor(api: &Api) {
    use phone_entrance::queue::{AttemptOutcome, RetryPolicies, RetryPolicy};
    use phone_entrance::store::AttemptResult;
    let anna = api.sign_in("anna", Role::Nurse).await;
    let sara = api.sign_in("sara", Role::Supervisor).await;
    let id = id_of(&post(api, &digital_case("ref-retry", 3)).await.json());
    let case_id: uuid::Uuid = id.parse().unwrap_or_default();
    let policy: RetryPolicies = RetryPolicy {
        max_attempts: 2,
        interval: chrono::Duration::minutes(10),
    }
    .into();

    let claimed = api
        .send("POST", "/api/v1/claim-next", Some(&anna), None)
        .await;
    assert_eq!(id_of(&claimed.json()), id);
    assert!(claimed.json()["next_attempt_at"].is_null());
    let first = api
        .store
        .record_attempt(
            case_id,
            "anna",
            AttemptResult::NoAnswer,
            &policy,
            chrono::Utc::now(),
        )
        .await;
    assert!(matches!(first, Ok(AttemptOutcome::RetryAt(_))), "{first:?}");

    let list = api
        .send("GET", "/api/v1/worklist", Some(&anna), None)
        .await
        .json();
    assert_eq!(list[0]["id"], json!(id));
    assert_eq!(list[0]["attempts"], 1);
    assert!(list[0]["next_attempt_at"].is_string(), "{list}");
    assert_eq!(
        api.send("POST", "/api/v1/claim-next", Some(&anna), None)
            .await
            .status,
        204,
        "not due yet"
    );

    // A nurse may still call it now; this attempt is the last one.
    let claim = format!("/api/v1/cases/{id}/claim");
    assert_eq!(
        api.send("POST", &claim, Some(&anna), None).await.status,
        200
    );
    let last = api
        .store
        .record_attempt(
            case_id,
            "anna",
            AttemptResult::Busy,
            &policy,
            chrono::Utc::now(),
        )
        .await;
    assert!(matches!(last, Ok(AttemptOutcome::Unreachable)), "{last:?}");

    let stats = api
        .send("GET", "/api/v1/supervisor/stats", Some(&sara), None)
        .await
        .json();
    assert_eq!(stats["unreachable_today"], 1, "{stats}");
    assert_eq!(
        api.send("GET", "/api/v1/supervisor/unreachable", Some(&anna), None)
            .await
            .status,
        403
    );
    let reply = api
        .send("GET", "/api/v1/supervisor/unreachable", Some(&sara), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let listed = reply.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["id"], json!(id));
    assert_eq!(listed[0]["priority"], 3);
    assert_eq!(listed[0]["attempts"], 2);
    for key in ["registered_at", "deadline", "closed_at"] {
        assert!(listed[0][key].is_string(), "{key}: {listed}");
    }
    assert!(
        !reply.text.contains("4670") && !reply.text.contains("1212"),
        "no personal data: {}",
        reply.text
    );
    let read = api
        .audit()
        .await
        .into_iter()
        .find(|r| r.action == "unreachable.read");
    assert_eq!(
        read.map(|r| (r.actor, r.detail)),
        Some(("sara".to_string(), "cases=1".to_string()))
    );
}

/// A claim carries its lease; only its holder renews it, and not after it ended.
async fn the_claim_holder_renews_her_lease(api: &Api) {
    let anna = api.sign_in("anna", Role::Nurse).await;
    let bo = api.sign_in("bo", Role::Nurse).await;
    let id = id_of(&post(api, &digital_case("ref-lease", 3)).await.json());
    let renew = format!("/api/v1/cases/{id}/claim/renew");
    assert_eq!(api.send("POST", &renew, None, None).await.status, 401);
    assert_eq!(
        api.send("POST", &renew, Some(&anna), None).await.status,
        409,
        "nothing to renew before the claim"
    );
    let claimed = api
        .send(
            "POST",
            &format!("/api/v1/cases/{id}/claim"),
            Some(&anna),
            None,
        )
        .await
        .json();
    let at = |v: &Value, key: &str| {
        v[key]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .unwrap_or_else(|| panic!("{key} in {v}"))
    };
    let lease = at(&claimed, "claim_expires_at") - at(&claimed, "claimed_at");
    assert_eq!(lease, chrono::Duration::minutes(5), "the default lease");
    let renewed = api.send("POST", &renew, Some(&anna), None).await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    assert_eq!(renewed.json()["id"], json!(id));
    assert!(at(&renewed.json(), "claim_expires_at") >= at(&claimed, "claim_expires_at"));
    assert_eq!(api.send("POST", &renew, Some(&bo), None).await.status, 403);
    let release = format!("/api/v1/cases/{id}/release");
    assert_eq!(
        api.send("POST", &release, Some(&anna), None).await.status,
        200
    );
    assert_eq!(
        api.send("POST", &renew, Some(&anna), None).await.status,
        409,
        "a released (or expired) claim is not renewed back"
    );
}

/// An urgent case nobody reached is in the review list: nurses read it (audited),
/// "Take next" passes it over, a nurse claims it by hand and closes it.
async fn nurses_read_and_close_the_review_list(api: &Api) {
    use phone_entrance::queue::{AttemptOutcome, RetryPolicies, RetryPolicy};
    use phone_entrance::store::AttemptResult;
    let anna = api.sign_in("anna", Role::Nurse).await;
    let id = id_of(&post(api, &digital_case("ref-review", 2)).await.json());
    let case_id: uuid::Uuid = id.parse().unwrap_or_default();
    let once: RetryPolicies = RetryPolicy {
        max_attempts: 1,
        interval: chrono::Duration::minutes(10),
    }
    .into();
    let claim = format!("/api/v1/cases/{id}/claim");
    assert_eq!(
        api.send("POST", &claim, Some(&anna), None).await.status,
        200
    );
    let last = api
        .store
        .record_attempt(
            case_id,
            "anna",
            AttemptResult::Busy,
            &once,
            chrono::Utc::now(),
        )
        .await;
    assert!(matches!(last, Ok(AttemptOutcome::Review)), "{last:?}");

    assert_eq!(
        api.send("GET", "/api/v1/review", None, None).await.status,
        401
    );
    let list = api.send("GET", "/api/v1/review", Some(&anna), None).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let list = list.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["id"], json!(id));
    assert_eq!(list[0]["status"], "review");
    assert_eq!(list[0]["review_reason"], "not_reached");
    assert_eq!(list[0]["attempts"], 1);
    assert!(
        list[0].get("callback_number").is_none(),
        "no number in the list"
    );
    let read = api
        .store
        .audit_rows(None, 100)
        .await
        .unwrap_or_default()
        .into_iter()
        .any(|r| {
            r.action == "review.read"
                && r.actor == "anna"
                && r.detail == format!("cases=1 ids={id}")
        });
    assert!(read, "the read is audited with the case ids shown");
    let worklist = api.send("GET", "/api/v1/worklist", Some(&anna), None).await;
    assert_eq!(
        worklist.json(),
        json!([]),
        "not a callback waiting to be dialled"
    );
    assert_eq!(
        api.send("POST", "/api/v1/claim-next", Some(&anna), None)
            .await
            .status,
        204
    );
    let taken = api.send("POST", &claim, Some(&anna), None).await;
    assert_eq!(taken.status, 200, "{}", taken.text);
    assert_eq!(taken.json()["review_reason"], "not_reached");
    assert_eq!(taken.json()["callback_number"], "+46701234567");
    let done = api
        .send(
            "POST",
            &format!("/api/v1/cases/{id}/outcome"),
            Some(&anna),
            Some(json!({"outcome": "other", "note": "reached by SMS"})),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json()["status"], "done");
    let list = api.send("GET", "/api/v1/review", Some(&anna), None).await;
    assert_eq!(list.json(), json!([]));
}

async fn openapi_describes_the_endpoints(api: &Api) {
    let reply = api.send("GET", "/openapi.json", None, None).await;
    assert_eq!(reply.status, 200);
    let doc = reply.json();
    assert!(doc["openapi"]
        .as_str()
        .unwrap_or_default()
        .starts_with("3."));
    for path in [
        "/api/v1/login",
        "/api/v1/logout",
        "/api/v1/me",
        "/api/v1/cases",
        "/api/v1/cases/{id}",
        "/api/v1/worklist",
        "/api/v1/claim-next",
        "/api/v1/cases/{id}/claim",
        "/api/v1/cases/{id}/release",
        "/api/v1/cases/{id}/outcome",
        "/api/v1/events",
        "/api/v1/supervisor/settings",
        "/api/v1/supervisor/messages",
        "/api/v1/supervisor/stats",
        "/api/v1/supervisor/unreachable",
        "/api/v1/review",
        "/api/v1/cases/{id}/claim/renew",
        "/api/v1/cases/{id}/call",
        "/api/v1/calls/{call_id}",
        "/api/v1/calls/{call_id}/hangup",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["IntakeRequest"].is_object());
}

on_both_databases!(
    intake_needs_a_known_bearer_token,
    intake_registers_a_case_and_answers_201,
    intake_repost_is_idempotent_and_a_conflict_is_409,
    intake_refuses_bad_input_with_a_clear_message,
    worklist_shows_phone_and_digital_cases_in_one_order,
    case_read_shows_personal_data_and_is_audited,
    claim_next_release_and_outcome,
    concurrent_claim_next_over_http_hands_each_case_out_once,
    failed_callbacks_wait_then_show_up_as_unreachable_for_the_supervisor,
    the_claim_holder_renews_her_lease,
    nurses_read_and_close_the_review_list,
    openapi_describes_the_endpoints,
);
