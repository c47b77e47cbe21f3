//! The survey API over real HTTP on both databases: the digital channel posts
//! anonymous answers with its intake bearer token (bad input is a 400 that
//! names the field), and supervisors read the summary per channel, level and
//! unit.

mod api_support;

use api_support::{Api, INTAKE_TOKEN};
use phone_entrance::api::auth::Role;
use serde_json::{json, Value};

async fn post(api: &Api, token: Option<&str>, body: &str) -> (u16, String) {
    let mut r = reqwest::Client::new()
        .post(api.url("/api/v1/surveys"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let reply = r.send().await.expect("post");
    let status = reply.status().as_u16();
    (status, reply.text().await.unwrap_or_default())
}

fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

async fn digital_surveys_are_stored_and_summarised_per_group(api: &Api) {
    for body in [
        json!({"channel": "digital", "level": 3, "answers": {"helped": 5, "easy": 1}}),
        json!({"level": 3, "answers": {"helped": 2}}),
        json!({"level": 2, "unit": "1177", "answers": {"helped": 4, "easy": 2}}),
    ] {
        let (status, text) = post(api, Some(INTAKE_TOKEN), &body.to_string()).await;
        assert_eq!(status, 201, "{text}");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap()["status"],
            "stored"
        );
    }
    let sam = api.sign_in("sam", Role::Supervisor).await;
    let day = today();
    let r = api
        .send(
            "GET",
            &format!("/api/v1/surveys/summary?from={day}&to={day}"),
            Some(&sam),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let s = r.json();
    assert_eq!(s["overall"]["responses"], 3, "{s}");
    let helped = s["overall"]["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["question"] == "helped")
        .cloned()
        .unwrap();
    assert_eq!(helped["answered"], 3);
    assert!((helped["mean"].as_f64().unwrap() - 11.0 / 3.0).abs() < 1e-9);
    assert_eq!(helped["distribution"], json!({"2": 1, "4": 1, "5": 1}));
    assert_eq!(s["by_channel"][0]["key"], "digital");
    let levels: Vec<(String, u64)> = s["by_level"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_owned(),
                g["responses"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(levels, [("2".to_owned(), 1), ("3".to_owned(), 2)]);
    // The default unit is named by its id, never null.
    assert!(s["by_unit"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["key"].is_string()));
    // A range without answers is empty, not an error.
    let r = api
        .send(
            "GET",
            "/api/v1/surveys/summary?from=2001-01-01&to=2001-01-31",
            Some(&sam),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["overall"]["responses"], 0);
}

async fn bad_survey_posts_get_400_with_the_field_named(api: &Api) {
    let cases = [
        (r#"{"level": 9, "answers": {"helped": 3}}"#, "level"),
        (r#"{"level": 3, "answers": {}}"#, "answers"),
        (
            r#"{"level": 3, "answers": {"helped": 11}}"#,
            "answers.helped",
        ),
        (r#"{"level": 3, "answers": {"Helped!": 1}}"#, "question id"),
        (
            r#"{"channel": "phone", "level": 3, "answers": {"helped": 1}}"#,
            "channel",
        ),
        (
            r#"{"level": 3, "answers": {"helped": 1}, "case_id": "x"}"#,
            "unknown field",
        ),
        (
            r#"{"level": 3, "unit": "nowhere", "answers": {"helped": 1}}"#,
            "unit",
        ),
        (r#"{"level": 3, "answers": {"helped": 1}"#, "not valid JSON"),
    ];
    for (body, needle) in cases {
        let (status, text) = post(api, Some(INTAKE_TOKEN), body).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains(needle), "{body}: {text}");
    }
    let (status, _) = post(api, None, r#"{"level": 3, "answers": {"helped": 1}}"#).await;
    assert_eq!(status, 401);
    let (status, _) = post(
        api,
        Some("wrong-token"),
        r#"{"level": 3, "answers": {"helped": 1}}"#,
    )
    .await;
    assert_eq!(status, 401);
}

async fn the_summary_is_for_supervisors_with_a_valid_range(api: &Api) {
    let nina = api.sign_in("nina", Role::Nurse).await;
    let day = today();
    let path = format!("/api/v1/surveys/summary?from={day}&to={day}");
    assert_eq!(api.send("GET", &path, Some(&nina), None).await.status, 403);
    assert_eq!(api.send("GET", &path, None, None).await.status, 401);
    let sam = api.sign_in("sam", Role::Supervisor).await;
    for bad in [
        "/api/v1/surveys/summary",
        "/api/v1/surveys/summary?from=2030-03-05&to=2030-03-01",
        "/api/v1/surveys/summary?from=yesterday&to=2030-03-01",
        "/api/v1/surveys/summary?from=2020-01-01&to=2030-03-01",
    ] {
        let r = api.send("GET", bad, Some(&sam), None).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
    let r = api
        .send(
            "GET",
            "/api/v1/surveys/summary?from=2030-03-01T06:00:00Z&to=2030-03-01T18:00:00%2B01:00",
            Some(&sam),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["to"], "2030-03-01T17:00:00Z");
    let doc = api.send("GET", "/openapi.json", None, None).await.json();
    assert!(doc["paths"]["/api/v1/surveys"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/surveys/summary"]["get"].is_object());
    assert!(doc["components"]["schemas"]["SurveyPost"].is_object());
}

on_both_databases!(
    digital_surveys_are_stored_and_summarised_per_group,
    bad_survey_posts_get_400_with_the_field_named,
    the_summary_is_for_supervisors_with_a_valid_range,
);
