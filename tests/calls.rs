//! Whole calls over real sockets: the simulator dials the service, answers
//! the IVR with each DTMF method, and we check the stored case, the SIP
//! responses and the audio the caller heard.

mod common;

use common::audio::find_prompt;
use common::caller::{
    after_greeting, answer_green_questions, answer_red_flag, answer_until_offer, decline_sms,
    press, wait_for_prompt,
};
use common::{prompt_seconds, set_config, TestService};
use phone_entrance::media::g711::Codec;
use phone_entrance::store::{CaseMode, CaseStatus, Role};
use simulators::caller::{
    Call, CallConfig, CallError, DtmfMethod, EndReason, InfoFormat, Transport,
};
use simulators::sdp::OfferedCodec;
use std::time::Duration;

async fn wait_bye(call: &Call) -> EndReason {
    tokio::time::timeout(Duration::from_secs(40), call.wait_ended())
        .await
        .expect("the service ends the call")
}

async fn green_call(method: DtmfMethod, cfg: impl FnOnce(&mut CallConfig)) -> (TestService, Call) {
    let svc = TestService::start().await;
    let mut config = CallConfig::new(svc.sip_addr());
    cfg(&mut config);
    let call = Call::dial(config).await.expect("answered");
    answer_until_offer(&call, method).await;
    press(&call, "1", method).await; // confirm the caller ID as callback number
    decline_sms(&call, method).await;
    assert_eq!(wait_bye(&call).await, EndReason::RemoteHangup);
    (svc, call)
}

async fn assert_green_case(svc: &TestService) {
    let cases = svc.wait_for_cases(1, Duration::from_secs(5)).await;
    assert_eq!(cases.len(), 1);
    let case = &cases[0];
    assert_eq!(case.priority.level(), 4);
    assert_eq!(case.mode, CaseMode::Callback);
    assert_eq!(case.status, CaseStatus::Waiting);
    assert_eq!(case.callback_number.as_deref(), Some("+46701234567"));
    assert_eq!(case.language, "sv");
    assert_eq!(case.personnummer, None);
    let answer = |q: &str| {
        case.answers
            .iter()
            .find(|a| a.question_id == q)
            .map(|a| a.value.clone())
    };
    assert_eq!(answer("about").as_deref(), Some("adult"));
    assert_eq!(answer("rf_breathing").as_deref(), Some("no"));
    assert_eq!(answer("symptom").as_deref(), Some("fever"));
    assert_eq!(answer("duration").as_deref(), Some("days"));
    assert_eq!(answer("worsening").as_deref(), Some("no"));
    assert!(case.call_id.is_some());
    assert!(case.estimated_callback_at.is_some());
}

#[tokio::test]
async fn green_callback_with_rfc4733_is_registered_and_confirmed() {
    let (svc, call) = green_call(DtmfMethod::Rfc4733, |_| {}).await;
    assert_green_case(&svc).await;
    let heard = call.received_audio().samples();
    for id in [
        "welcome",
        "ask_about",
        "callback_offer_time",
        "callback_registered",
        "goodbye",
    ] {
        assert!(
            !find_prompt(&heard, "sv", id, Codec::Pcmu).is_empty(),
            "caller did not hear {id}"
        );
    }
    // The confirmation comes after the offer, never before.
    let offer = find_prompt(&heard, "sv", "callback_offer_time", Codec::Pcmu)[0];
    let confirmed = find_prompt(&heard, "sv", "callback_registered", Codec::Pcmu)[0];
    assert!(confirmed > offer);
    svc.stop().await;
}

#[tokio::test]
async fn green_callback_with_sip_info_dtmf_relay() {
    let (svc, _) = green_call(DtmfMethod::SipInfo(InfoFormat::DtmfRelay), |_| {}).await;
    assert_green_case(&svc).await;
    svc.stop().await;
}

#[tokio::test]
async fn green_callback_with_sip_info_application_dtmf() {
    let (svc, _) = green_call(DtmfMethod::SipInfo(InfoFormat::Dtmf), |_| {}).await;
    assert_green_case(&svc).await;
    svc.stop().await;
}

#[tokio::test]
async fn green_callback_with_inband_tones_and_no_telephone_event() {
    let (svc, _) = green_call(DtmfMethod::InBand, |c| c.telephone_event = false).await;
    assert_green_case(&svc).await;
    svc.stop().await;
}

#[tokio::test]
async fn pcma_only_offer_is_answered_with_pcma() {
    let (svc, call) =
        green_call(DtmfMethod::Rfc4733, |c| c.codecs = vec![OfferedCodec::Pcma]).await;
    assert_eq!(call.answer().expect("sdp answer").payload_type, 8);
    assert_green_case(&svc).await;
    let heard = call.received_audio().samples();
    assert!(!find_prompt(&heard, "sv", "welcome", Codec::Pcma).is_empty());
    svc.stop().await;
}

#[tokio::test]
async fn call_over_tcp_registers_a_callback() {
    let (svc, _) = green_call(DtmfMethod::Rfc4733, |c| c.transport = Transport::Tcp).await;
    assert_green_case(&svc).await;
    svc.stop().await;
}

#[tokio::test]
async fn offer_without_g711_gets_488() {
    let svc = TestService::start().await;
    let mut config = CallConfig::new(svc.sip_addr());
    config.codecs = vec![OfferedCodec::G729];
    match Call::dial(config).await {
        Err(CallError::Rejected(code)) => assert_eq!(code, 488),
        other => panic!("expected 488, got {:?}", other.map(|_| ())),
    }
    svc.stop().await;
}

#[tokio::test]
async fn cancel_before_answer_gets_487() {
    let svc =
        TestService::start_with(None, |dir| set_config(dir, "sip.toml", "ring_ms", "3000")).await;
    let call = Call::start(CallConfig::new(svc.sip_addr()))
        .await
        .expect("INVITE sent");
    assert_eq!(call.wait_provisional().await.expect("ringing"), 180);
    assert!(call.provisional_codes().contains(&180));
    let end = call.cancel().await.expect("cancelled");
    assert_eq!(end, EndReason::Cancelled);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(svc.worklist().await.is_empty());
    svc.stop().await;
}

#[tokio::test]
async fn withheld_caller_id_must_type_a_number() {
    let svc = TestService::start().await;
    let mut config = CallConfig::new(svc.sip_addr());
    config.from_user = "anonymous".into();
    let call = Call::dial(config).await.expect("answered");
    let m = DtmfMethod::Rfc4733;
    answer_green_questions(&call, m, &[]).await;
    press(&call, "#", m).await;
    // The offer for a withheld number tells the time, then asks for a number.
    wait_for_prompt(&call, "enter_number", Duration::from_secs(20)).await;
    press(&call, "0701112233#", m).await;
    wait_for_prompt(&call, "you_entered", Duration::from_secs(10)).await;
    press(&call, "1", m).await; // the read-back is right
    decline_sms(&call, m).await;
    assert_eq!(wait_bye(&call).await, EndReason::RemoteHangup);
    let cases = svc.wait_for_cases(1, Duration::from_secs(5)).await;
    assert_eq!(cases[0].callback_number.as_deref(), Some("+46701112233"));
    let heard = call.received_audio().samples();
    assert!(
        !find_prompt(&heard, "sv", "you_entered", Codec::Pcmu).is_empty(),
        "number read back"
    );
    svc.stop().await;
}

#[tokio::test]
async fn caller_can_type_another_callback_number_and_personnummer() {
    let svc = TestService::start().await;
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    let m = DtmfMethod::Rfc4733;
    answer_green_questions(&call, m, &[]).await;
    press(&call, "199001011239#", m).await; // a valid personnummer (Luhn)
    tokio::time::sleep(Duration::from_millis(1500)).await;
    press(&call, "2", m).await; // type another number
    press(&call, "08123456#", m).await;
    wait_for_prompt(&call, "you_entered", Duration::from_secs(10)).await;
    press(&call, "1", m).await;
    decline_sms(&call, m).await;
    assert_eq!(wait_bye(&call).await, EndReason::RemoteHangup);
    let cases = svc.wait_for_cases(1, Duration::from_secs(5)).await;
    assert_eq!(cases[0].callback_number.as_deref(), Some("+468123456"));
    assert_eq!(cases[0].personnummer.as_deref(), Some("199001011239"));
    svc.stop().await;
}

#[tokio::test]
async fn red_flag_gets_112_advice_then_level_one_hold_that_survives_hangup() {
    let svc = TestService::start_with(None, |dir| set_config(dir, "ivr.toml", "wait_s", "2")).await;
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    answer_red_flag(&call, DtmfMethod::Rfc4733).await;
    // Advice, a 2 s wait, then the level 1 case is stored and the caller holds.
    let cases = svc.wait_for_cases(1, Duration::from_secs(30)).await;
    assert_eq!(cases.len(), 1, "level 1 case registered while holding");
    assert_eq!(cases[0].priority.level(), 1);
    assert!(cases[0].red_flag);
    assert_eq!(cases[0].status, CaseStatus::Holding);
    wait_for_prompt(&call, "hold_music", Duration::from_secs(20)).await;
    let heard = call.received_audio().samples();
    assert!(!find_prompt(&heard, "sv", "advice_112", Codec::Pcmu).is_empty());
    call.hangup().await.expect("hangup");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cases = svc.worklist().await;
    assert_eq!(
        cases[0].status,
        CaseStatus::Waiting,
        "the held case becomes a callback"
    );
    assert_eq!(cases[0].mode, CaseMode::Callback);
    assert_eq!(cases[0].callback_number.as_deref(), Some("+46701234567"));
    svc.stop().await;
}

/// A red-flag caller with a withheld number holds, then hangs up: there is
/// no number to call back, so the case goes to the nurses' review list
/// (`no_number`), never into the callback queue as a call nobody can make.
#[tokio::test]
async fn withheld_holding_caller_who_hangs_up_goes_to_the_review_list() {
    let svc = TestService::start_with(None, |dir| set_config(dir, "ivr.toml", "wait_s", "2")).await;
    let mut config = CallConfig::new(svc.sip_addr());
    config.from_user = "anonymous".into();
    let call = Call::dial(config).await.expect("answered");
    answer_red_flag(&call, DtmfMethod::Rfc4733).await;
    let cases = svc.wait_for_cases(1, Duration::from_secs(30)).await;
    assert_eq!(cases.len(), 1, "level 1 case registered while holding");
    let id = cases[0].id.to_string();
    assert_eq!(cases[0].callback_number, None);
    wait_for_prompt(&call, "hold_music", Duration::from_secs(20)).await;
    call.hangup().await.expect("hangup");
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    while svc.case(&id).await.status == CaseStatus::Holding && tokio::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let case = svc.case(&id).await;
    assert_eq!(
        (case.status, case.mode, case.review_reason),
        (
            CaseStatus::Review,
            CaseMode::Callback,
            Some(phone_entrance::store::ReviewReason::NoNumber)
        )
    );
    assert!(svc.worklist().await.is_empty(), "not a callback to dial");
    svc.add_staff("nina", "nurse-pw", Role::Nurse).await;
    let nina = svc.login("nina", "nurse-pw").await;
    let review: serde_json::Value = nina
        .get(svc.http_url("/api/v1/review"))
        .send()
        .await
        .expect("review")
        .json()
        .await
        .expect("json");
    assert_eq!(review[0]["id"], id.as_str(), "{review}");
    assert_eq!(review[0]["review_reason"], "no_number");
    svc.stop().await;
}

#[tokio::test]
async fn no_input_is_asked_again_then_routed_to_a_nurse() {
    let svc = TestService::start_with(None, |dir| {
        set_config(dir, "ivr.toml", "digit_timeout_s", "1")
    })
    .await;
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    after_greeting(&call, &[]).await;
    press(&call, "1", DtmfMethod::Rfc4733).await;
    // No answer to "who is it about": asked three times, then held for a nurse.
    let cases = svc.wait_for_cases(1, Duration::from_secs(60)).await;
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].mode, CaseMode::Hold);
    assert!(
        cases[0].priority.level() <= 3,
        "a call needing a nurse is at least level 3"
    );
    let heard = call.received_audio().samples();
    assert!(
        find_prompt(&heard, "sv", "ask_about", Codec::Pcmu).len() >= 3,
        "the question was asked three times"
    );
    call.hangup().await.expect("hangup");
    svc.stop().await;
}

#[tokio::test]
async fn star_repeats_the_question_and_keys_barge_in() {
    let svc = TestService::start().await;
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    let m = DtmfMethod::Rfc4733;
    after_greeting(&call, &[]).await;
    press(&call, "1", m).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    press(&call, "*", m).await; // repeat "who is it about"
    tokio::time::sleep(Duration::from_millis(600)).await;
    press(&call, "3", m).await; // barge-in on the repeated prompt
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let heard = call.received_audio().samples();
    let asked = find_prompt(&heard, "sv", "ask_about", Codec::Pcmu);
    assert_eq!(asked.len(), 2, "asked, then repeated after *");
    let next = find_prompt(&heard, "sv", "ask_rf_breathing", Codec::Pcmu);
    assert_eq!(next.len(), 1, "the key moved on to the next question");
    let full_prompt = (prompt_seconds("sv", "ask_about") * 8000.0) as usize;
    assert!(
        next[0] - asked[1] < full_prompt,
        "the key cut the prompt short (barge-in)"
    );
    call.hangup().await.expect("hangup");
    svc.stop().await;
}

#[tokio::test]
async fn store_failure_is_never_confirmed_to_the_caller() {
    let svc = TestService::start().await;
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    let m = DtmfMethod::Rfc4733;
    answer_green_questions(&call, m, &[]).await;
    press(&call, "#", m).await;
    // The estimate reads the cases: break the table only once the callback is
    // offered, so it is the registration that fails (a disk or database failure).
    wait_for_prompt(&call, "callback_offer_time", Duration::from_secs(10)).await;
    let pool = sqlx::SqlitePool::connect(&svc.database_url)
        .await
        .expect("sqlite");
    sqlx::query("ALTER TABLE cases RENAME TO cases_broken")
        .execute(&pool)
        .await
        .expect("rename");
    press(&call, "1", m).await;
    decline_sms(&call, m).await;
    // Instead of a confirmation: "your callback could not be registered,
    // press 1 to hold for a nurse" (ivr.toml, nodes.register.failed).
    wait_for_prompt(&call, "register_failed", Duration::from_secs(10)).await;
    // Holding instead needs a case too, and the store still refuses it:
    // nobody holds invisibly, the caller is told to call again (or 112).
    press(&call, "1", m).await;
    assert_eq!(wait_bye(&call).await, EndReason::RemoteHangup);
    let heard = call.received_audio().samples();
    assert!(
        find_prompt(&heard, "sv", "callback_registered", Codec::Pcmu).is_empty(),
        "no false confirmation"
    );
    assert!(
        find_prompt(&heard, "sv", "hold_music", Codec::Pcmu).is_empty(),
        "no hold without a stored case"
    );
    let failed = find_prompt(&heard, "sv", "register_failed", Codec::Pcmu);
    let call_again = find_prompt(&heard, "sv", "hold_unavailable", Codec::Pcmu);
    assert!(!call_again.is_empty(), "told to call again or 112");
    assert!(call_again[0] > failed[0], "after the failure was said");
    let metrics = reqwest::get(svc.http_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains("pe_ivr_outcomes_total{outcome=\"callback\"} 1"));
    assert!(metrics.contains("pe_ivr_outcomes_total{outcome=\"held\"} 0"));
    assert!(metrics.contains("pe_ivr_outcomes_total{outcome=\"registration_failed\"} 1"));
    assert!(metrics.contains("\npe_case_store_failures_total 2\n"));
    // Once the database is back, the supervisor page shows what happened.
    sqlx::query("ALTER TABLE cases_broken RENAME TO cases")
        .execute(&pool)
        .await
        .expect("rename back");
    svc.add_staff("sara", "super-pw", Role::Supervisor).await;
    let sup = svc.login("sara", "super-pw").await;
    let stats: serde_json::Value = sup
        .get(svc.http_url("/api/v1/supervisor/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["case_store_failures"], 2, "{stats}");
    svc.stop().await;
}

#[tokio::test]
async fn readme_walkthrough_script_registers_a_callback() {
    let svc = TestService::start().await;
    let script = simulators::script::Script::load(
        &common::repo_root().join("tests/scripts/green-callback.toml"),
    )
    .expect("script");
    let report = simulators::script::run_script(CallConfig::new(svc.sip_addr()), &script).await;
    assert!(report.ok(), "script failed: {:?}", report.error);
    assert!(report.bye_from_server);
    assert_eq!(svc.wait_for_cases(1, Duration::from_secs(5)).await.len(), 1);
    svc.stop().await;
}

#[tokio::test]
async fn an_urgent_caller_whose_line_drops_after_triage_is_called_back() {
    let svc = TestService::start().await;
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    let m = DtmfMethod::Rfc4733;
    after_greeting(&call, &[]).await;
    // An infant under 3 months (level 2), otherwise the green answers.
    for keys in ["1", "1", "2", "2", "2", "2", "2", "1", "2", "2", "#"] {
        press(&call, keys, m).await;
    }
    wait_for_prompt(&call, "callback_offer_time", Duration::from_secs(10)).await;
    call.hangup().await.expect("hang up before confirming");
    let cases = svc.wait_for_cases(1, Duration::from_secs(10)).await;
    assert_eq!(cases.len(), 1, "registered although not confirmed");
    let case = &cases[0];
    assert_eq!(case.priority.level(), 2);
    assert_eq!(case.mode, CaseMode::Callback);
    assert_eq!(case.summary, phone_entrance::booking::DROPPED_IN_IVR);
    assert_eq!(case.callback_number.as_deref(), Some("+46701234567"));
    svc.stop().await;
}
