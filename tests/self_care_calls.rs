//! Self-care over real sockets: a simulated caller whose answers match a
//! triage.toml `[[self_care]]` route hears the advice and ends (a closed
//! self_care contact) or asks for a callback anyway (a normal case that keeps
//! the advice); closed hours with `when_closed = "advice"` play the advice
//! route and record the contact. Prompts are recognised in what the caller
//! heard.

mod common;

use common::audio::find_prompt;
use common::caller::{after_greeting, press, wait_for_prompt};
use common::TestService;
use phone_entrance::case::Outcome;
use phone_entrance::media::g711::Codec;
use phone_entrance::store::{CaseMode, CaseRecord, CaseStatus, Channel, Role};
use simulators::caller::{Call, CallConfig, DtmfMethod, EndReason};
use std::path::Path;
use std::time::Duration;

const M: DtmfMethod = DtmfMethod::Rfc4733;
const ENT: &str = "ear, nose or throat for days, not worsening";

/// Swedish, adult, five red flags "no", ear/nose/throat, days, not worsening.
const ENT_KEYS: [&str; 10] = ["1", "3", "2", "2", "2", "2", "2", "6", "2", "2"];
/// The same with fever: no self-care route.
const FEVER_KEYS: [&str; 10] = ["1", "3", "2", "2", "2", "2", "2", "1", "2", "2"];

async fn answer(call: &Call, keys: &[&str]) {
    after_greeting(call, &[]).await;
    for k in keys {
        press(call, k, M).await;
    }
}

async fn wait_bye(call: &Call) -> EndReason {
    tokio::time::timeout(Duration::from_secs(60), call.wait_ended())
        .await
        .expect("the service ends the call")
}

fn heard(call: &Call, id: &str) -> bool {
    !find_prompt(&call.received_audio().samples(), "sv", id, Codec::Pcmu).is_empty()
}

fn value<'a>(case: &'a CaseRecord, q: &str) -> Option<&'a str> {
    case.answers
        .iter()
        .find(|a| a.question_id == q)
        .map(|a| a.value.as_str())
}

/// Every case the store has (worklist or not), from its audit trail.
async fn all_cases(svc: &TestService) -> Vec<CaseRecord> {
    let store = svc.store().await;
    let mut out = Vec::new();
    for row in store.audit_rows(None, 500).await.expect("audit") {
        if row.action == "case.created" {
            if let Some(id) = row.case_id {
                out.extend(store.get_case(id).await.expect("read"));
            }
        }
    }
    out
}

/// Waits until a closed self-care contact is stored (it is written beside
/// the call, after the caller has heard goodbye).
async fn wait_for_contact(svc: &TestService) -> CaseRecord {
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let done: Vec<CaseRecord> = all_cases(svc)
            .await
            .into_iter()
            .filter(|c| c.status == CaseStatus::Done)
            .collect();
        if let Some(c) = done.into_iter().next() {
            return c;
        }
        assert!(tokio::time::Instant::now() < end, "no contact stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn outcome_of(svc: &TestService, case: &CaseRecord) -> Option<Outcome> {
    svc.store()
        .await
        .claim_info(case.id)
        .await
        .expect("claim info")
        .and_then(|i| i.outcome)
}

#[tokio::test]
async fn self_care_caller_hears_the_advice_and_ending_stores_a_closed_contact() {
    let svc = TestService::start().await;
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    answer(&call, &ENT_KEYS).await;
    wait_for_prompt(&call, "self_care_sms_keys", Duration::from_secs(60)).await;
    press(&call, "1", M).await; // an SMS with the link, please
    wait_for_prompt(&call, "self_care_choice_keys", Duration::from_secs(20)).await;
    press(&call, "2", M).await; // no callback: end
    assert_eq!(wait_bye(&call).await, EndReason::RemoteHangup);
    assert!(heard(&call, "self_care_ent"), "the category's advice");
    assert!(heard(&call, "goodbye"));
    assert!(
        !heard(&call, "ask_personnummer"),
        "no personnummer on this path"
    );
    assert!(
        !heard(&call, "callback_registered"),
        "never heard as a booking"
    );

    let case = wait_for_contact(&svc).await;
    assert_eq!(case.channel, Channel::Phone);
    assert_eq!(case.priority.level(), 4);
    assert_eq!(value(&case, "self_care_advice"), Some(ENT));
    assert_eq!(value(&case, "sms_consent"), Some("yes"));
    assert_eq!(value(&case, "self_care_choice"), Some("end"));
    assert_eq!(value(&case, "symptom"), Some("ear_nose_throat"));
    // The SMS needs the number; no personnummer was asked.
    assert_eq!(case.callback_number.as_deref(), Some("+46701234567"));
    assert_eq!(case.personnummer, None);
    assert_eq!(outcome_of(&svc, &case).await, Some(Outcome::SelfCare));
    assert!(svc.worklist().await.is_empty(), "nothing for the nurses");
    let metrics = svc.metrics().await;
    assert!(
        metrics.contains("pe_self_care_contacts_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pe_ivr_outcomes_total{outcome=\"self_care\"} 1"),
        "{metrics}"
    );
    // The supervisor sees it per route.
    svc.add_staff("sara", "super-pw", Role::Supervisor).await;
    let sara = svc.login("sara", "super-pw").await;
    let stats: serde_json::Value = sara
        .get(svc.http_url("/api/v1/supervisor/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(
        stats["self_care_today"],
        serde_json::json!([{"route": ENT, "advised": 1, "callback_requested": 0}]),
        "{stats}"
    );
    assert_eq!(stats["self_care_advised_today"], 1, "{stats}");
    assert_eq!(stats["self_care_callbacks_today"], 0, "{stats}");
    assert_eq!(stats["closed_advice_today"], 0, "{stats}");
    svc.stop().await;
}

#[tokio::test]
async fn self_care_caller_who_presses_one_gets_a_callback_case_with_the_advice() {
    let svc = TestService::start().await;
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    answer(&call, &ENT_KEYS).await;
    wait_for_prompt(&call, "self_care_sms_keys", Duration::from_secs(60)).await;
    press(&call, "2", M).await; // no SMS
    wait_for_prompt(&call, "self_care_choice_keys", Duration::from_secs(20)).await;
    press(&call, "1", M).await; // a nurse's callback anyway
    wait_for_prompt(&call, "ask_personnummer", Duration::from_secs(20)).await;
    press(&call, "#", M).await;
    wait_for_prompt(&call, "callback_offer_time", Duration::from_secs(20)).await;
    press(&call, "1", M).await; // the caller ID; SMS consent was answered already
    assert_eq!(wait_bye(&call).await, EndReason::RemoteHangup);
    assert!(heard(&call, "callback_registered"));
    assert!(!heard(&call, "sms_consent"), "not asked twice");

    let cases = svc.wait_for_cases(1, Duration::from_secs(5)).await;
    assert_eq!(cases.len(), 1);
    let case = &cases[0];
    assert_eq!(case.mode, CaseMode::Callback);
    assert_eq!(case.status, CaseStatus::Waiting);
    assert_eq!(value(case, "self_care_advice"), Some(ENT));
    assert_eq!(value(case, "self_care_choice"), Some("callback"));
    assert_eq!(value(case, "sms_consent"), Some("no"));
    assert_eq!(case.callback_number.as_deref(), Some("+46701234567"));
    let closed = all_cases(&svc)
        .await
        .into_iter()
        .filter(|c| c.status == CaseStatus::Done)
        .count();
    assert_eq!(closed, 0, "a case to work, not a closed contact");
    let counts = svc
        .store()
        .await
        .self_care_counts(chrono::Utc::now() - chrono::TimeDelta::hours(1))
        .await
        .expect("counts");
    assert_eq!(counts.routes.len(), 1);
    assert_eq!(counts.routes[0].advised, 1);
    assert_eq!(counts.routes[0].callback_requested, 1);
    svc.stop().await;
}

fn write_hours(dir: &Path, body: &str) {
    std::fs::write(dir.join("hours.toml"), body).expect("write hours.toml");
}

const NEVER_OPEN_ADVICE: &str = "when_closed = \"advice\"\n[weekly]\nmon = []\ntue = []\n\
    wed = []\nthu = []\nfri = []\nsat = []\nsun = []\n";

#[tokio::test]
async fn closed_hours_with_advice_route_play_the_advice_and_record_the_contact() {
    let svc = TestService::start_with(None, |dir| write_hours(dir, NEVER_OPEN_ADVICE)).await;
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    answer(&call, &FEVER_KEYS).await;
    press(&call, "#", M).await; // no personnummer
    wait_for_prompt(&call, "closed_advice", Duration::from_secs(20)).await;
    assert_eq!(wait_bye(&call).await, EndReason::RemoteHangup);
    assert!(heard(&call, "goodbye"));
    assert!(!heard(&call, "callback_offer_time"));
    assert!(!heard(&call, "callback_closed"), "not the hold route");
    assert!(!heard(&call, "connecting_nurse"));

    let case = wait_for_contact(&svc).await;
    assert_eq!(value(&case, "offer_closed"), Some("advice"));
    assert_eq!(value(&case, "symptom"), Some("fever"));
    assert_eq!(case.callback_number, None, "no SMS consent given");
    assert_eq!(outcome_of(&svc, &case).await, Some(Outcome::SelfCare));
    assert!(svc.worklist().await.is_empty());
    let metrics = svc.metrics().await;
    assert!(
        metrics.contains("pe_ivr_outcomes_total{outcome=\"closed_advice\"} 1"),
        "{metrics}"
    );
    svc.stop().await;
}
