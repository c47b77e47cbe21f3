//! Care units and handoff over real HTTP against the running service with the
//! shipped `units.toml` (1177, vc-markaryd, vc-stromsnasbruk): a 1177 nurse
//! hands a case to Vårdcentralen Markaryd, whose nurse takes and closes it;
//! every refusal; the intake naming a unit; supervisors' waits per unit;
//! `create-user --unit` and `check-config` through the real binary.

mod common;

use common::postgres::{drop_postgres_database, postgres_database};
use common::TestService;
use phone_entrance::store::{Answer, CaseMode, Channel, NewCase, Role};
use reqwest::Client;
use serde_json::{json, Value};
use std::time::Duration;

const TOKEN: &str = "units-intake-token-0123456789";
const M: &str = "vc-markaryd";

async fn start(database_url: Option<String>) -> TestService {
    TestService::start_with(database_url, |dir| {
        let line = format!(
            "[[client]]\nname = \"1177-direkt\"\ntoken_sha256 = \"{}\"\n",
            phone_entrance::api::auth::sha256_hex(TOKEN)
        );
        std::fs::write(dir.join("intake-clients.toml"), line).expect("clients");
    })
    .await
}

/// A signed-in staff member of `unit` (`None`: the default unit).
async fn staff(svc: &TestService, name: &str, role: Role, unit: Option<&str>) -> Client {
    svc.add_staff(name, "units-password-1", role).await;
    if let Some(unit) = unit {
        let set = svc.store().await.set_user_unit(name, Some(unit)).await;
        assert!(matches!(set, Ok(true)), "{set:?}");
    }
    svc.login(name, "units-password-1").await
}

async fn call(
    svc: &TestService,
    client: &Client,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client.request(method, svc.http_url(path));
    if let Some(b) = body {
        request = request.json(&b);
    }
    let reply = request.send().await.expect("request");
    let status = reply.status().as_u16();
    let text = reply.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Posts a digital case; returns (status, body).
async fn intake(svc: &TestService, reference: &str, level: u8, unit: Option<&str>) -> (u16, Value) {
    let mut body = json!({
        "external_ref": reference,
        "level": level,
        "answers": [{"question_id": "fever", "question_text": "Har du feber?", "answer": "Ja"}],
        "callback_number": "0701234567",
        "personnummer": "19121212-1212",
    });
    if let Some(u) = unit {
        body["unit"] = json!(u);
    }
    let reply = Client::new()
        .post(svc.http_url("/api/v1/cases"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("intake");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

async fn new_case(svc: &TestService, reference: &str, level: u8) -> String {
    let (status, body) = intake(svc, reference, level, None).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_string()
}

async fn list_ids(svc: &TestService, client: &Client, path: &str) -> Vec<String> {
    let (status, body) = call(svc, client, "GET", path, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body.as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect()
}

fn error(body: &Value) -> String {
    body["error"].as_str().unwrap_or_default().to_string()
}

/// Reads `queue` events off an open SSE response until one has a version
/// above `above` (any, for `None`); returns that version.
async fn next_version(events: &mut reqwest::Response, above: Option<u64>) -> u64 {
    let mut buffer = String::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), events.chunk())
            .await
            .expect("a live event in time")
            .expect("stream")
            .expect("open stream");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        let newest = buffer
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .filter_map(|v| v["version"].as_u64())
            .max();
        if let Some(v) = newest.filter(|v| above.is_none_or(|a| *v > a)) {
            return v;
        }
    }
}

async fn handoff_happy_path(database_url: Option<String>) {
    let svc = start(database_url).await;
    let anna = staff(&svc, "anna", Role::Nurse, None).await;
    let mia = staff(&svc, "mia", Role::Nurse, Some(M)).await;
    let (_, me) = call(&svc, &mia, "GET", "/api/v1/me", None).await;
    assert_eq!(
        (me["unit"].as_str(), me["unit_name"].as_str()),
        (Some(M), Some("Vårdcentralen Markaryd"))
    );
    let (_, me) = call(&svc, &anna, "GET", "/api/v1/me", None).await;
    assert_eq!(me["unit"], "1177");

    let id = new_case(&svc, "u-1", 3).await;
    assert_eq!(
        list_ids(&svc, &anna, "/api/v1/worklist").await,
        vec![id.clone()]
    );
    assert!(list_ids(&svc, &mia, "/api/v1/worklist").await.is_empty());

    // Markaryd's page is open: it hears of the handoff live.
    let mut events = mia
        .get(svc.http_url("/api/v1/events"))
        .send()
        .await
        .expect("events");
    assert_eq!(events.status().as_u16(), 200);
    let before = next_version(&mut events, None).await;

    let (status, claimed) = call(
        &svc,
        &anna,
        "POST",
        &format!("/api/v1/cases/{id}/claim"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{claimed}");
    assert_eq!(
        (
            claimed["unit"].as_str(),
            claimed["handoffs"].as_array().map(Vec::len)
        ),
        (Some("1177"), Some(0))
    );
    let note = "Behöver läkarbesök inom en vecka; ring efter 13.";
    let (status, done) = call(
        &svc,
        &anna,
        "POST",
        &format!("/api/v1/cases/{id}/handoff"),
        Some(json!({"unit": M, "note": note})),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (done["unit"].as_str(), done["status"].as_str()),
        (Some(M), Some("waiting"))
    );
    assert!(next_version(&mut events, Some(before)).await > before);
    drop(events);

    assert!(
        list_ids(&svc, &anna, "/api/v1/worklist").await.is_empty(),
        "1177 no longer lists it"
    );
    assert_eq!(
        list_ids(&svc, &mia, "/api/v1/worklist").await,
        vec![id.clone()]
    );
    let (status, case) = call(&svc, &mia, "GET", &format!("/api/v1/cases/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(case["unit"], M);
    assert_eq!(case["claimed_by"], Value::Null, "the claim was released");
    let step = &case["handoffs"][0];
    assert_eq!(
        (
            &step["from_unit"],
            &step["to_unit"],
            &step["to_name"],
            &step["by"],
            &step["note"]
        ),
        (
            &json!("1177"),
            &json!(M),
            &json!("Vårdcentralen Markaryd"),
            &json!("anna"),
            &json!(note)
        )
    );
    // Anna cannot take it back from Markaryd's list.
    let (status, body) = call(
        &svc,
        &anna,
        "POST",
        &format!("/api/v1/cases/{id}/claim"),
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");

    let (status, _) = call(
        &svc,
        &mia,
        "POST",
        &format!("/api/v1/cases/{id}/claim"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, closed) = call(
        &svc,
        &mia,
        "POST",
        &format!("/api/v1/cases/{id}/outcome"),
        Some(json!({"outcome": "health_centre", "note": "bokad tisdag"})),
    )
    .await;
    assert_eq!((status, closed["status"].as_str()), (200, Some("done")));
    assert!(list_ids(&svc, &mia, "/api/v1/worklist").await.is_empty());

    // Every step is in the audit log, by whom.
    let store = svc.store().await;
    let trail = store
        .audit_rows(Some(id.parse().expect("uuid")), 100)
        .await
        .expect("audit");
    let steps: Vec<(String, String)> = trail
        .iter()
        .filter(|r| r.action != "case.read")
        .map(|r| (r.action.clone(), r.actor.clone()))
        .collect();
    let want = [
        ("case.created", "digital-intake"),
        ("case.claim", "anna"),
        ("case.handoff", "anna"),
        ("case.claim", "mia"),
        ("case.outcome", "mia"),
    ];
    let mut it = steps.iter();
    for (action, actor) in want {
        assert!(
            it.any(|(a, b)| a == action && b == actor),
            "{action} by {actor} in order: {steps:?}"
        );
    }
    let handoff = trail
        .iter()
        .find(|r| r.action == "case.handoff")
        .expect("handoff row");
    assert_eq!(handoff.detail, "from=1177 to=vc-markaryd");
    assert_eq!(handoff.ip.as_deref(), Some("127.0.0.1"));
    assert!(
        trail.iter().all(|r| !r.detail.contains("läkarbesök")),
        "the note stays out of the audit log"
    );

    // Hand back: Markaryd passes a case back to the nurse line.
    let back = new_case(&svc, "u-2", 4).await;
    call(
        &svc,
        &anna,
        "POST",
        &format!("/api/v1/cases/{back}/claim"),
        None,
    )
    .await;
    let (status, _) = call(
        &svc,
        &anna,
        "POST",
        &format!("/api/v1/cases/{back}/handoff"),
        Some(json!({"unit": M})),
    )
    .await;
    assert_eq!(status, 200);
    call(
        &svc,
        &mia,
        "POST",
        &format!("/api/v1/cases/{back}/claim"),
        None,
    )
    .await;
    let (status, body) = call(
        &svc,
        &mia,
        "POST",
        &format!("/api/v1/cases/{back}/handoff"),
        Some(json!({"unit": "1177", "note": "Inte listad hos oss"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        list_ids(&svc, &anna, "/api/v1/worklist").await,
        vec![back.clone()]
    );
    let (_, case) = call(&svc, &anna, "GET", &format!("/api/v1/cases/{back}"), None).await;
    let way: Vec<(String, String)> = case["handoffs"]
        .as_array()
        .expect("handoffs")
        .iter()
        .map(|h| {
            (
                h["from_unit"].as_str().unwrap_or_default().into(),
                h["to_unit"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    assert_eq!(
        way,
        vec![("1177".into(), M.into()), (M.into(), "1177".into())]
    );
    // Take next stays within one's own unit.
    let (status, next) = call(&svc, &mia, "POST", "/api/v1/claim-next", None).await;
    assert_eq!(status, 204, "{next}");
    let metrics = svc.metrics().await;
    for line in [
        "pe_case_handoffs_total{to_unit=\"vc-markaryd\"} 2",
        "pe_case_handoffs_total{to_unit=\"1177\"} 1",
        "pe_case_handoffs_refused_total 0",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    svc.stop().await;
}

#[tokio::test]
async fn a_1177_nurse_hands_a_case_to_markaryd_whose_nurse_closes_it() {
    handoff_happy_path(None).await;
}

#[tokio::test]
async fn a_1177_nurse_hands_a_case_to_markaryd_whose_nurse_closes_it_postgres() {
    let url = postgres_database().await;
    handoff_happy_path(Some(url.clone())).await;
    drop_postgres_database(&url).await;
}

#[tokio::test]
async fn handoff_refusals_say_why_and_change_nothing() {
    let svc = start(None).await;
    let anna = staff(&svc, "anna", Role::Nurse, None).await;
    let bo = staff(&svc, "bo", Role::Nurse, None).await;
    let mia = staff(&svc, "mia", Role::Nurse, Some(M)).await;
    let sara = staff(&svc, "sara", Role::Supervisor, None).await;
    let a = new_case(&svc, "r-a", 3).await;
    let urgent = new_case(&svc, "r-b", 2).await;
    let other = new_case(&svc, "r-c", 4).await;
    let handoff = |id: &str| format!("/api/v1/cases/{id}/handoff");
    let to_m = || Some(json!({"unit": M, "note": "x"}));

    let (status, body) = call(&svc, &anna, "POST", &handoff(&a), to_m()).await;
    assert_eq!(status, 409, "{body}");
    assert!(error(&body).contains("claim it first"), "{body}");

    call(
        &svc,
        &anna,
        "POST",
        &format!("/api/v1/cases/{a}/claim"),
        None,
    )
    .await;
    let (status, body) = call(&svc, &bo, "POST", &handoff(&a), to_m()).await;
    assert_eq!(status, 403, "{body}");
    assert!(error(&body).contains("another nurse"), "{body}");

    let (status, body) = call(
        &svc,
        &anna,
        "POST",
        &handoff(&a),
        Some(json!({"unit": "vc-nowhere"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error(&body).contains("unknown unit") && error(&body).contains(M),
        "{body}"
    );

    let long = "å".repeat(501);
    let (status, body) = call(
        &svc,
        &anna,
        "POST",
        &handoff(&a),
        Some(json!({"unit": M, "note": long})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(error(&body).contains("500 characters"), "{body}");

    let (status, body) = call(
        &svc,
        &anna,
        "POST",
        &handoff(&a),
        Some(json!({"unit": "1177"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(error(&body).contains("already with"), "{body}");

    let (status, body) = call(
        &svc,
        &anna,
        "POST",
        &handoff(&a),
        Some(json!({"unit": M, "extra": 1})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = call(
        &svc,
        &anna,
        "POST",
        "/api/v1/cases/not-a-uuid/handoff",
        to_m(),
    )
    .await;
    assert_eq!(status, 400);

    call(
        &svc,
        &anna,
        "POST",
        &format!("/api/v1/cases/{urgent}/claim"),
        None,
    )
    .await;
    let (status, body) = call(&svc, &anna, "POST", &handoff(&urgent), to_m()).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        error(&body).contains("takes levels 3, 4, 5 only; this case is level 2"),
        "{body}"
    );

    // A nurse of another unit may neither claim nor list the nurse line's cases.
    let (status, body) = call(
        &svc,
        &mia,
        "POST",
        &format!("/api/v1/cases/{other}/claim"),
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(error(&body).contains("1177 Vårdguiden"), "{body}");
    let (status, body) = call(&svc, &mia, "GET", "/api/v1/worklist?unit=1177", None).await;
    assert_eq!(status, 403, "{body}");
    assert!(error(&body).contains("own list"), "{body}");
    let (status, body) = call(&svc, &mia, "GET", "/api/v1/review?unit=1177", None).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(&svc, &sara, "GET", "/api/v1/worklist?unit=nowhere", None).await;
    assert_eq!(status, 400, "{body}");
    // A supervisor sees any unit's list.
    assert_eq!(
        list_ids(&svc, &sara, "/api/v1/worklist?unit=1177").await,
        vec![other.clone()]
    );
    assert!(list_ids(&svc, &sara, &format!("/api/v1/worklist?unit={M}"))
        .await
        .is_empty());

    // Closed cases stay closed.
    call(
        &svc,
        &anna,
        "POST",
        &format!("/api/v1/cases/{a}/outcome"),
        Some(json!({"outcome": "self_care"})),
    )
    .await;
    let (status, body) = call(&svc, &anna, "POST", &handoff(&a), to_m()).await;
    assert_eq!(status, 409, "{body}");
    assert!(error(&body).contains("closed"), "{body}");

    let (status, units) = call(&svc, &anna, "GET", "/api/v1/units", None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = units
        .as_array()
        .expect("units")
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["1177", M, "vc-stromsnasbruk"]);

    // Nothing moved: no handoff rows, nothing in Markaryd's list.
    let store = svc.store().await;
    for id in [&a, &urgent, &other] {
        let steps = store
            .handoffs(id.parse().expect("uuid"))
            .await
            .expect("handoffs");
        assert!(steps.is_empty(), "{id}: {steps:?}");
    }
    assert!(list_ids(&svc, &mia, "/api/v1/worklist").await.is_empty());
    let metrics = svc.metrics().await;
    assert!(
        metrics.contains("pe_case_handoffs_refused_total 9"),
        "{metrics}"
    );
    svc.stop().await;
}

#[tokio::test]
async fn the_intake_can_name_a_unit() {
    let svc = start(None).await;
    let anna = staff(&svc, "anna", Role::Nurse, None).await;
    let mia = staff(&svc, "mia", Role::Nurse, Some(M)).await;
    let (status, body) = intake(&svc, "i-1", 4, Some(M)).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_string();
    assert_eq!(
        list_ids(&svc, &mia, "/api/v1/worklist").await,
        vec![id.clone()]
    );
    assert!(list_ids(&svc, &anna, "/api/v1/worklist").await.is_empty());

    let (status, body) = intake(&svc, "i-2", 4, Some("vc-nowhere")).await;
    assert_eq!(status, 400, "{body}");
    assert!(error(&body).starts_with("unit: unknown unit"), "{body}");
    let (status, body) = intake(&svc, "i-3", 1, Some(M)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error(&body).starts_with("unit: vc-markaryd takes levels 3, 4, 5"),
        "{body}"
    );
    let (status, body) = intake(&svc, "i-4", 4, Some("1177")).await;
    assert_eq!(status, 201, "{body}");

    let store = svc.store().await;
    let rows = store
        .audit_rows(Some(id.parse().expect("uuid")), 10)
        .await
        .expect("audit");
    assert!(
        rows.iter()
            .any(|r| r.action == "intake.post" && r.detail == "level=4 unit=vc-markaryd"),
        "{rows:?}"
    );
    assert_eq!(list_ids(&svc, &anna, "/api/v1/worklist").await.len(), 1);
    svc.stop().await;
}

#[tokio::test]
async fn supervisors_see_waits_per_unit() {
    let svc = start(None).await;
    let sara = staff(&svc, "sara", Role::Supervisor, None).await;
    let nina = staff(&svc, "nina", Role::Nurse, None).await;
    let store = svc.store().await;
    let case = |level: u8, minutes_ago: i64, target: i64| {
        let at = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
        NewCase {
            channel: Channel::Phone,
            priority: phone_entrance::queue::Priority::new(level).expect("level"),
            mode: CaseMode::Callback,
            registered_at: at,
            deadline: at + chrono::Duration::minutes(target),
            estimated_callback_at: None,
            answers: vec![Answer {
                question_id: "q".into(),
                question_text: "Q?".into(),
                value: "1".into(),
                value_text: "Ja".into(),
            }],
            callback_number: Some("+46701234567".into()),
            personnummer: None,
            language: "sv".into(),
            call_id: None,
            external_ref: None,
            summary: String::new(),
            red_flag: false,
        }
    };
    store
        .insert_case(&case(3, 120, 60))
        .await
        .expect("over target");
    store.insert_case(&case(4, 10, 240)).await.expect("in time");
    store
        .insert_case_in_unit(&case(4, 30, 240), Some(M))
        .await
        .expect("markaryd");
    let (status, stats) = call(&svc, &sara, "GET", "/api/v1/supervisor/stats", None).await;
    assert_eq!(status, 200, "{stats}");
    let units = stats["units"].as_array().expect("units");
    let line = |id: &str| {
        units
            .iter()
            .find(|u| u["unit"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let nurse_line = line("1177");
    assert_eq!(
        (
            nurse_line["waiting"].as_u64(),
            nurse_line["over_target"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert!(
        nurse_line["oldest_wait_seconds"].as_i64().unwrap_or(0) >= 7190,
        "{nurse_line}"
    );
    let m = line(M);
    assert_eq!(
        (
            m["waiting"].as_u64(),
            m["over_target"].as_u64(),
            m["name"].as_str()
        ),
        (Some(1), Some(0), Some("Vårdcentralen Markaryd"))
    );
    let oldest = m["oldest_wait_seconds"].as_i64().unwrap_or(0);
    assert!((1790..1900).contains(&oldest), "{m}");
    let s = line("vc-stromsnasbruk");
    assert_eq!(
        (s["waiting"].as_u64(), s["oldest_wait_seconds"].clone()),
        (Some(0), Value::Null)
    );
    let (status, _) = call(&svc, &nina, "GET", "/api/v1/supervisor/stats", None).await;
    assert_eq!(status, 403);
    svc.stop().await;
}

fn run(args: &[&str], password: Option<&str>) -> (bool, String) {
    let mut command = std::process::Command::new(common::node::binary());
    command.args(args).env("RUST_LOG", "warn");
    if let Some(pw) = password {
        command.env("PE_PASSWORD", pw);
    }
    let out = command.output().expect("phone-entrance runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn create_user_puts_staff_in_a_unit_and_check_config_names_units_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::copy_config(dir.path());
    let config = config.to_str().expect("utf-8 path");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("pe.db").display());
    let create = |name: &'static str, unit: Option<&'static str>| {
        let mut args = vec![
            "create-user",
            "--username",
            name,
            "--config",
            config,
            "--database-url",
            url.as_str(),
        ];
        if let Some(u) = unit {
            args.extend(["--unit", u]);
        }
        run(&args, Some("a-long-enough-password"))
    };
    let (ok, text) = create("mia", Some(M));
    assert!(ok, "{text}");
    assert!(
        text.contains("created nurse mia in unit vc-markaryd"),
        "{text}"
    );
    let (ok, text) = create("anna", None);
    assert!(ok, "{text}");
    let (ok, text) = create("olle", Some("vc-nowhere"));
    assert!(!ok, "{text}");
    assert!(
        text.contains("--unit: unknown unit \"vc-nowhere\"") && text.contains(M),
        "{text}"
    );

    let store = phone_entrance::store::Store::connect(&url)
        .await
        .expect("store");
    assert_eq!(
        store.user_unit("mia").await.expect("unit"),
        Some(Some(M.to_string()))
    );
    assert_eq!(
        store.user_unit("anna").await.expect("unit"),
        Some(None),
        "the default unit"
    );
    assert_eq!(
        store.user_unit("olle").await.expect("unit"),
        None,
        "not created"
    );
    let audit = store.audit_rows(None, 10).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|r| r.action == "user.created" && r.detail.ends_with("unit=vc-markaryd")),
        "{audit:?}"
    );
    // --update without --unit keeps the unit.
    let (ok, text) = run(
        &[
            "create-user",
            "--username",
            "mia",
            "--update",
            "--config",
            config,
            "--database-url",
            url.as_str(),
        ],
        Some("another-long-password"),
    );
    assert!(ok, "{text}");
    assert_eq!(
        store.user_unit("mia").await.expect("unit"),
        Some(Some(M.to_string()))
    );
    store.close().await;

    // Two defaults: check-config names the file, the key and the fix.
    let units = std::path::Path::new(config).join("units.toml");
    let text = std::fs::read_to_string(&units).expect("units.toml");
    let broken = text.replacen(
        "levels = [3, 4, 5]\n",
        "levels = [1, 2, 3, 4, 5]\ndefault = true\n",
        1,
    );
    std::fs::write(&units, broken).expect("write");
    let (ok, text) = run(
        &[
            "check-config",
            "--config",
            config,
            "--prompts",
            common::repo_root().join("prompts").to_str().expect("path"),
        ],
        None,
    );
    assert!(!ok, "{text}");
    assert!(
        text.contains("units.toml") && text.contains("unit.default") && text.contains("fix"),
        "{text}"
    );
}
