//! SMS over real HTTP: the real service (its dispatcher, its intake, its
//! callbacks) sends through the SMS gateway simulator, which can fail on
//! purpose, and the simulator posts delivery reports back.

mod common;

use common::callback::{claim_and_call_case, service_with_trunk, wait_for_state, RESIDENT};
use common::{repo_root, set_config, TestService};
use phone_entrance::store::{CaseRecord, NewCase, Role, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};
use simulators::mini_uas::{MiniUas, UasBehavior};
use simulators::sms_gateway::{Mode, SmsGatewaySim};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const INTAKE_TOKEN: &str = "sms-intake-test-token-0123456789";
const GATEWAY_TOKEN: &str = "gateway-token-for-the-sms-tests";
const STATUS_TOKEN: &str = "status-token-for-the-sms-tests";

/// Switches SMS on in a copied config, at `gateway`, with short backoffs,
/// and lets the intake client post.
fn enable_sms(dir: &Path, gateway: &str) {
    // The same values in every test: tests of this file share the process.
    std::env::set_var("PE_TEST_SMS_TOKEN", GATEWAY_TOKEN);
    std::env::set_var("PE_TEST_SMS_STATUS_TOKEN", STATUS_TOKEN);
    for (key, value) in [
        ("enabled", "true".to_string()),
        ("url", format!("\"{gateway}\"")),
        ("token_env", "\"PE_TEST_SMS_TOKEN\"".to_string()),
        (
            "status_token_env",
            "\"PE_TEST_SMS_STATUS_TOKEN\"".to_string(),
        ),
        ("timeout_seconds", "2".to_string()),
        ("poll_ms", "50".to_string()),
        ("initial_backoff_ms", "20".to_string()),
        ("max_backoff_ms", "200".to_string()),
    ] {
        set_config(dir, "sms.toml", key, &value);
    }
    let clients = format!(
        "[[client]]\nname = \"1177-direkt\"\ntoken_sha256 = \"{}\"\n",
        phone_entrance::api::auth::sha256_hex(INTAKE_TOKEN)
    );
    std::fs::write(dir.join("intake-clients.toml"), clients).expect("intake-clients.toml");
}

async fn gateway() -> SmsGatewaySim {
    let sim = SmsGatewaySim::start(LOCAL).await.expect("SMS simulator");
    sim.require_token(GATEWAY_TOKEN);
    sim
}

async fn service(sim: &SmsGatewaySim, database_url: Option<String>) -> TestService {
    let url = sim.url();
    TestService::start_with(database_url, |dir| enable_sms(dir, &url)).await
}

/// Posts a digital case; its JSON answer.
async fn post_case(
    svc: &TestService,
    external_ref: &str,
    number: &str,
    language: &str,
    consent: Option<bool>,
) -> Value {
    let mut body = json!({
        "external_ref": external_ref,
        "level": 4,
        "answers": [{"question_id": "fever", "question_text": "Feber?", "answer": "Ja"}],
        "callback_number": number,
        "personnummer": "19121212-1212",
        "language": language,
    });
    if let Some(c) = consent {
        body["sms_consent"] = json!(c);
    }
    let r = reqwest::Client::new()
        .post(svc.http_url("/api/v1/cases"))
        .bearer_auth(INTAKE_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("post case");
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.expect("json")
}

/// Waits until the simulator took `n` messages (or `within` passed).
async fn wait_received(sim: &SmsGatewaySim, n: usize, within: Duration) -> usize {
    let end = tokio::time::Instant::now() + within;
    loop {
        let got = sim.received().len();
        if got >= n || tokio::time::Instant::now() > end {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of a metric line (`name value`), if present.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// The case JSON a nurse reads.
async fn case_view(svc: &TestService, nina: &reqwest::Client, id: &str) -> Value {
    nina.get(svc.http_url(&format!("/api/v1/cases/{id}")))
        .send()
        .await
        .expect("case")
        .json()
        .await
        .expect("json")
}

/// Polls the case until its first SMS has `status`; that SMS's JSON.
async fn wait_sms_status(
    svc: &TestService,
    nina: &reqwest::Client,
    id: &str,
    status: &str,
) -> Value {
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let view = case_view(svc, nina, id).await;
        let sms = view["sms"][0].clone();
        if sms["status"] == status || tokio::time::Instant::now() > end {
            return sms;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn local_time(utc: &str) -> String {
    let t: chrono::DateTime<chrono::Utc> = utc.parse().expect("time");
    t.with_timezone(&chrono_tz::Europe::Stockholm)
        .format("%H:%M")
        .to_string()
}

#[tokio::test]
async fn consent_brings_the_confirmation_with_the_estimated_time_in_the_callers_language() {
    let sim = gateway().await;
    let svc = service(&sim, None).await;
    // Without consent first: once the later SMS arrive these had their turn.
    post_case(&svc, "no-1", "0701111111", "sv", Some(false)).await;
    post_case(&svc, "no-2", "0702222222", "sv", None).await;
    let en = post_case(&svc, "yes-en", "0703333333", "en", Some(true)).await;
    let sv = post_case(&svc, "yes-sv", "0704444444", "sv", Some(true)).await;
    assert_eq!(wait_received(&sim, 2, Duration::from_secs(10)).await, 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = sim.received();
    assert_eq!(got.len(), 2, "only the consenting residents get an SMS");
    let by_number: HashMap<&str, &str> = got
        .iter()
        .map(|m| (m.to.as_str(), m.message.as_str()))
        .collect();
    let en_text = by_number["+46703333333"];
    let en_time = local_time(en["estimated_callback_at"].as_str().expect("estimate"));
    assert!(
        en_text.starts_with("1177: A nurse will call you back"),
        "{en_text}"
    );
    assert!(
        en_text.contains(&format!("at {en_time}.")),
        "{en_text} / {en_time}"
    );
    assert!(en_text.contains("Call 112 if it gets worse"), "{en_text}");
    let sv_text = by_number["+46704444444"];
    let sv_time = local_time(sv["estimated_callback_at"].as_str().expect("estimate"));
    assert!(
        sv_text.contains(&format!("kl {sv_time}.")),
        "{sv_text} / {sv_time}"
    );
    assert!(sv_text.contains("Ring 112 om det blir värre"), "{sv_text}");
    assert!(got.iter().all(|m| m.from == "1177"));
    // The nurse sees kind and status, never the text.
    svc.add_staff("nina", "nurse-pw", Role::Nurse).await;
    let nina = svc.login("nina", "nurse-pw").await;
    let id = sv["id"].as_str().expect("id");
    let sms = wait_sms_status(&svc, &nina, id, "sent").await;
    assert_eq!(sms["kind"], "callback_confirmation", "{sms}");
    let view = case_view(&svc, &nina, id).await.to_string();
    assert!(!view.contains("Ring 112"), "no SMS text in the case JSON");
    let metrics = svc.metrics().await;
    assert_eq!(
        metric(&metrics, "pe_sms_sent_total"),
        Some(2.0),
        "{metrics}"
    );
    svc.stop().await;
}

#[tokio::test]
async fn delivery_report_marks_the_sms_delivered() {
    let sim = gateway().await;
    let svc = service(&sim, None).await;
    let case = post_case(&svc, "d-1", "0701234567", "sv", Some(true)).await;
    assert_eq!(wait_received(&sim, 1, Duration::from_secs(10)).await, 1);
    svc.add_staff("nina", "nurse-pw", Role::Nurse).await;
    let nina = svc.login("nina", "nurse-pw").await;
    let id = case["id"].as_str().expect("id");
    wait_sms_status(&svc, &nina, id, "sent").await;
    let report_url = svc.http_url("/api/v1/sms/status");
    let gateway_id = sim.received()[0].id.clone();
    let wrong = sim
        .report(&report_url, "nope", &gateway_id, "delivered")
        .await;
    assert_eq!(wrong.expect("report"), 401);
    let unknown = sim
        .report(&report_url, STATUS_TOKEN, "sim-unknown", "delivered")
        .await;
    assert_eq!(unknown.expect("report"), 404);
    let ok = sim
        .report(&report_url, STATUS_TOKEN, &gateway_id, "delivered")
        .await;
    assert_eq!(ok.expect("report"), 204);
    let sms = wait_sms_status(&svc, &nina, id, "delivered").await;
    assert_eq!(sms["status"], "delivered", "{sms}");
    assert!(sms["delivered_at"].is_string(), "{sms}");
    let metrics = svc.metrics().await;
    assert_eq!(
        metric(&metrics, "pe_sms_delivered_total"),
        Some(1.0),
        "{metrics}"
    );
    svc.stop().await;
}

#[tokio::test]
async fn gateway_refusing_with_400_fails_the_sms_without_retrying() {
    let sim = gateway().await;
    sim.set_mode(Mode::Fail { status: 400 });
    let svc = service(&sim, None).await;
    let case = post_case(&svc, "f-1", "0701234567", "sv", Some(true)).await;
    svc.add_staff("nina", "nurse-pw", Role::Nurse).await;
    let nina = svc.login("nina", "nurse-pw").await;
    let sms = wait_sms_status(&svc, &nina, case["id"].as_str().expect("id"), "failed").await;
    assert_eq!(sms["status"], "failed", "{sms}");
    let error = sms["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("HTTP 400"), "{error}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.refused(), 1, "a 400 is not retried");
    let metrics = svc.metrics().await;
    assert_eq!(
        metric(&metrics, "pe_sms_failed_total"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(metric(&metrics, "pe_sms_queued"), Some(0.0), "{metrics}");
    svc.stop().await;
}

#[tokio::test]
async fn a_missed_callback_brings_we_tried_to_call_you() {
    let sms = gateway().await;
    let resident = MiniUas::start(
        LOCAL,
        UasBehavior {
            reject: Some(486),
            ..Default::default()
        },
    )
    .await
    .expect("resident");
    let nurse = MiniUas::start(LOCAL, UasBehavior::default())
        .await
        .expect("nurse");
    let url = sms.url();
    let svc = service_with_trunk(resident.addr, "", nurse.addr, |dir| enable_sms(dir, &url)).await;
    let case = post_case(&svc, "m-1", RESIDENT, "sv", Some(true)).await;
    let id = case["id"].as_str().expect("id");
    let nina = svc.login("nina", "nurse-pw").await;
    let call_id = claim_and_call_case(&svc, &nina, id).await;
    let s = wait_for_state(&svc, &nina, &call_id, "ended", Duration::from_secs(20)).await;
    assert_eq!(s["result"], "busy", "{s}");
    assert_eq!(wait_received(&sms, 2, Duration::from_secs(10)).await, 2);
    let got = sms.received();
    assert!(
        got[0].message.contains("Du blir uppringd"),
        "{}",
        got[0].message
    );
    assert!(
        got[1].message.contains("Vi har försökt ringa dig"),
        "{}",
        got[1].message
    );
    assert!(got.iter().all(|m| m.to == RESIDENT));
    let view = case_view(&svc, &nina, id).await;
    let kinds: Vec<&str> = view["sms"]
        .as_array()
        .expect("sms")
        .iter()
        .filter_map(|s| s["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["callback_confirmation", "callback_missed"]);
    svc.stop().await;
}

/// Callback cases registered like the IVR's, through a store that renders
/// SMS with the service's own `sms.toml` (batches, as group commit does).
async fn register_with_consent(svc: &TestService, numbers: &[String]) -> Vec<CaseRecord> {
    let dir = svc.dir.path().join("sip-config");
    let text = std::fs::read_to_string(dir.join("sms.toml")).expect("sms.toml");
    let sms = phone_entrance::config::SmsConfig::parse(&text, &dir.join("sms.toml"))
        .expect("valid")
        .expect("enabled");
    let composer = phone_entrance::sms::SmsComposer::new(
        sms.templates,
        chrono_tz::Europe::Stockholm,
        Default::default(),
    );
    let store = Store::connect(&svc.database_url)
        .await
        .expect("store")
        .with_sms(std::sync::Arc::new(composer));
    let mut cases: Vec<NewCase> = Vec::new();
    for number in numbers {
        let mut case = common::callback::callback_case(4);
        case.callback_number = Some(number.clone());
        case.estimated_callback_at = Some(case.registered_at + chrono::Duration::minutes(90));
        case.answers = vec![phone_entrance::store::Answer {
            question_id: "sms_consent".into(),
            question_text: "SMS?".into(),
            value: "yes".into(),
            value_text: "Ja".into(),
        }];
        cases.push(case);
    }
    let mut stored = Vec::new();
    for chunk in cases.chunks(100) {
        let rows: Vec<_> = chunk.iter().map(|c| (c, None)).collect();
        stored.extend(store.insert_cases_held_by(&rows).await.expect("registered"));
    }
    stored
}

#[tokio::test]
async fn gateway_down_for_ten_minutes_loses_nothing_and_sends_in_order_after_recovery() {
    gateway_down_for_ten_minutes(None).await;
}

#[tokio::test]
async fn gateway_down_for_ten_minutes_loses_nothing_and_sends_in_order_after_recovery_postgres() {
    let url = common::postgres::postgres_database().await;
    gateway_down_for_ten_minutes(Some(url.clone())).await;
    common::postgres::drop_postgres_database(&url).await;
}

async fn gateway_down_for_ten_minutes(database_url: Option<String>) {
    let mut sim = gateway().await;
    let svc = service(&sim, database_url).await;
    sim.stop().await;
    // Ten minutes at a busy hour's one SMS a second: 600, to 20 residents
    // (30 each, so order per number matters).
    let numbers: Vec<String> = (0..600).map(|i| format!("+4670555{:04}", i % 20)).collect();
    let cases = register_with_consent(&svc, &numbers).await;
    // Down: connection refused, then 503 for a while. Nothing is lost or given up.
    let end = tokio::time::Instant::now() + Duration::from_secs(2);
    let mut metrics = svc.metrics().await;
    while tokio::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(200)).await;
        metrics = svc.metrics().await;
    }
    assert_eq!(metric(&metrics, "pe_sms_queued"), Some(600.0), "{metrics}");
    assert!(
        metric(&metrics, "pe_sms_gateway_errors_total").unwrap_or(0.0) > 0.0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "pe_sms_oldest_queued_age_seconds").unwrap_or(0.0) > 1.0,
        "{metrics}"
    );
    sim.set_mode(Mode::Fail { status: 503 });
    sim.resume().await.expect("gateway answers again");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(sim.refused() > 0, "the 503s were tried");
    assert!(sim.received().is_empty());
    sim.set_mode(Mode::Accept);
    let recovered = std::time::Instant::now();
    assert_eq!(wait_received(&sim, 600, Duration::from_secs(90)).await, 600);
    eprintln!(
        "600 queued SMS sent {:?} after the gateway recovered",
        recovered.elapsed()
    );
    let got = sim.received();
    // Each SMS once, and per number in the order the cases were registered.
    let store = svc.store().await;
    let mut created: HashMap<String, (String, usize)> = HashMap::new();
    for (i, case) in cases.iter().enumerate() {
        let sms = store.sms_for_case(case.id).await.expect("sms");
        assert_eq!(sms.len(), 1);
        created.insert(sms[0].id.to_string(), (numbers[i].clone(), i));
    }
    let mut last_per_number: HashMap<String, usize> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for m in &got {
        let (number, index) = created.get(&m.reference).expect("an outbox row");
        assert_eq!(&m.to, number);
        assert!(seen.insert(m.reference.clone()), "sent twice");
        if let Some(before) = last_per_number.insert(number.clone(), *index) {
            assert!(before < *index, "{number}: SMS {index} overtook {before}");
        }
    }
    assert_eq!(seen.len(), 600);
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = svc.metrics().await;
        if metric(&metrics, "pe_sms_queued") == Some(0.0) || tokio::time::Instant::now() > end {
            assert_eq!(metric(&metrics, "pe_sms_queued"), Some(0.0), "{metrics}");
            assert_eq!(
                metric(&metrics, "pe_sms_sent_total"),
                Some(600.0),
                "{metrics}"
            );
            assert_eq!(
                metric(&metrics, "pe_sms_failed_total"),
                Some(0.0),
                "{metrics}"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    svc.stop().await;
}

#[tokio::test]
async fn queued_sms_are_sent_after_a_service_restart() {
    let mut sim = gateway().await;
    sim.stop().await;
    let first = service(&sim, None).await;
    let a1 = post_case(&first, "r-1", "0701234567", "sv", Some(true)).await;
    let b = post_case(&first, "r-2", "0707654321", "en", Some(true)).await;
    let a2 = post_case(&first, "r-3", "0701234567", "en", Some(true)).await;
    // Tried and failed while the gateway is down; then the service stops.
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    while metric(&first.metrics().await, "pe_sms_gateway_errors_total").unwrap_or(0.0) < 1.0
        && tokio::time::Instant::now() < end
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let TestService {
        running,
        dir,
        database_url,
    } = first;
    running.stop().await;
    sim.resume().await.expect("gateway back");
    let second = service(&sim, Some(database_url)).await;
    assert_eq!(wait_received(&sim, 3, Duration::from_secs(10)).await, 3);
    let got = sim.received();
    let to_a: Vec<&str> = got
        .iter()
        .filter(|m| m.to == "+46701234567")
        .map(|m| m.message.as_str())
        .collect();
    assert_eq!(to_a.len(), 2);
    assert!(
        to_a[0].contains("Du blir uppringd"),
        "first the Swedish one: {to_a:?}"
    );
    assert!(to_a[1].contains("A nurse will call you back"), "{to_a:?}");
    let store = second.store().await;
    for case in [&a1, &b, &a2] {
        let id = case["id"].as_str().expect("id").parse().expect("uuid");
        let sms = store.sms_for_case(id).await.expect("sms");
        assert_eq!(sms.len(), 1, "one SMS per case, also across the restart");
    }
    second.stop().await;
    drop(dir);
}

#[tokio::test]
async fn check_config_names_a_missing_gateway_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::copy_config(dir.path());
    set_config(&config, "sms.toml", "enabled", "true");
    set_config(
        &config,
        "sms.toml",
        "token_env",
        "\"PE_TEST_SMS_TOKEN_NEVER_SET\"",
    );
    let e = phone_entrance::service::check_config(&config, &repo_root().join("prompts"))
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(
        e.contains("sms.toml: token_env names PE_TEST_SMS_TOKEN_NEVER_SET"),
        "{e}"
    );
}

#[tokio::test]
async fn a_gateway_slower_than_the_timeout_is_retried_until_it_answers() {
    // timeout_seconds = 2 in these tests.
    let sim = gateway().await;
    sim.set_mode(Mode::Slow { delay_ms: 2500 });
    let svc = service(&sim, None).await;
    let case = post_case(&svc, "s-1", "0701234567", "sv", Some(true)).await;
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    while metric(&svc.metrics().await, "pe_sms_gateway_errors_total").unwrap_or(0.0) < 1.0
        && tokio::time::Instant::now() < end
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sim.set_mode(Mode::Accept);
    svc.add_staff("nina", "nurse-pw", Role::Nurse).await;
    let nina = svc.login("nina", "nurse-pw").await;
    let id = case["id"].as_str().expect("id");
    let sms = wait_sms_status(&svc, &nina, id, "sent").await;
    assert_eq!(sms["status"], "sent", "{sms}");
    assert!(sms["attempts"].as_u64().unwrap_or(0) >= 2, "{sms}");
    // A send that timed out may still have landed: every copy carries the
    // same reference, so the gateway can drop repeats.
    let got = sim.received();
    assert!(!got.is_empty());
    assert!(got.iter().all(|m| m.reference == got[0].reference));
    svc.stop().await;
}

#[tokio::test]
async fn two_nodes_on_postgresql_send_each_sms_once_and_in_order() {
    let url = common::postgres::postgres_database().await;
    let sim = gateway().await;
    sim.set_mode(Mode::Slow { delay_ms: 5 });
    let a = service(&sim, Some(url.clone())).await;
    let b = service(&sim, Some(url.clone())).await;
    let numbers: Vec<String> = (0..200).map(|i| format!("+4670666{:04}", i % 10)).collect();
    let cases = register_with_consent(&a, &numbers).await;
    assert_eq!(wait_received(&sim, 200, Duration::from_secs(60)).await, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = sim.received();
    assert_eq!(got.len(), 200, "no SMS sent by both nodes");
    let store = a.store().await;
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, case) in cases.iter().enumerate() {
        let sms = store.sms_for_case(case.id).await.expect("sms");
        index.insert(sms[0].id.to_string(), i);
    }
    let mut last: HashMap<&str, usize> = HashMap::new();
    for m in &got {
        let i = index[&m.reference];
        if let Some(before) = last.insert(m.to.as_str(), i) {
            assert!(before < i, "{}: SMS {i} overtook {before}", m.to);
        }
    }
    let sent = |text: String| metric(&text, "pe_sms_sent_total").unwrap_or(0.0);
    let (sa, sb) = (sent(a.metrics().await), sent(b.metrics().await));
    eprintln!("node a sent {sa}, node b sent {sb}");
    assert_eq!(sa + sb, 200.0);
    store.close().await;
    a.stop().await;
    b.stop().await;
    common::postgres::drop_postgres_database(&url).await;
}

/// Swedish, adult, five red flags "no", ear/nose/throat, days, not worsening:
/// the ENT self-care route of the shipped triage.toml.
const ENT_KEYS: [&str; 10] = ["1", "3", "2", "2", "2", "2", "2", "6", "2", "2"];
const ENT_LINK: &str = "https://www.1177.se/sjukdomar--besvar/oron-nasa-och-hals/";

/// A self-care caller who wants the SMS and ends; then one who wants the SMS
/// and a nurse's callback anyway: the advice's link reaches the gateway for
/// both, the second also gets the callback confirmation, after the link.
/// One self-care caller from `caller` who asks for the SMS, then presses
/// `choice` (1 a callback anyway, 2 end).
async fn self_care_call(server: std::net::SocketAddr, caller: &str, choice: &str) {
    use common::caller::{after_greeting, press, wait_for_prompt};
    use simulators::caller::{Call, CallConfig, DtmfMethod};
    const M: DtmfMethod = DtmfMethod::Rfc4733;
    let mut config = CallConfig::new(server);
    config.from_user = caller.to_string();
    let call = Call::dial(config).await.expect("answered");
    after_greeting(&call, &[]).await;
    for k in ENT_KEYS {
        press(&call, k, M).await;
    }
    wait_for_prompt(&call, "self_care_sms_keys", Duration::from_secs(60)).await;
    press(&call, "1", M).await; // an SMS with the link
    wait_for_prompt(&call, "self_care_choice_keys", Duration::from_secs(20)).await;
    press(&call, choice, M).await;
    if choice == "1" {
        wait_for_prompt(&call, "ask_personnummer", Duration::from_secs(20)).await;
        press(&call, "#", M).await;
        wait_for_prompt(&call, "callback_offer_time", Duration::from_secs(20)).await;
        press(&call, "1", M).await; // call back on the caller ID
    }
    tokio::time::timeout(Duration::from_secs(60), call.wait_ended())
        .await
        .expect("the service ends the call");
}

/// A self-care caller who wants the SMS and ends, and one who wants the SMS
/// and a nurse's callback anyway: the advice's link reaches the gateway for
/// both; the second also gets the callback confirmation, after the link.
#[tokio::test]
async fn self_care_callers_get_the_advice_link_by_sms() {
    let sim = gateway().await;
    let svc = service(&sim, None).await;
    tokio::join!(
        self_care_call(svc.sip_addr(), "+46701111111", "2"),
        self_care_call(svc.sip_addr(), "+46702222222", "1"),
    );
    assert_eq!(wait_received(&sim, 3, Duration::from_secs(15)).await, 3);
    let got = sim.received();
    let to = |n: &str| got.iter().filter(|m| m.to == n).collect::<Vec<_>>();
    let ended = to("+46701111111");
    assert_eq!(ended.len(), 1, "the advice only");
    assert!(
        ended[0].message.contains(ENT_LINK),
        "link in the advice SMS"
    );
    let callback = to("+46702222222");
    assert_eq!(callback.len(), 2, "the advice, then the confirmation");
    assert!(callback[0].message.contains(ENT_LINK));
    assert!(
        callback[1].message.contains("uppringd"),
        "confirmation second"
    );
    svc.stop().await;
}
