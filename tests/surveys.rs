//! The post-contact survey over real sockets: a nurse calls back through the
//! trunk (a simulated resident), the two are bridged, the nurse hangs up, and
//! the resident, still on the line, hears the survey and presses keys (RFC
//! 4733 and SIP INFO). The answers reach the summary with nothing that leads
//! to the case; a resident who presses nothing is skipped; one who hangs up
//! first gets no survey.

mod common;

use common::audio::find_prompt;
use common::callback::{claim_and_call, service_with_trunk, wait_for_state};
use common::{set_config, TestService};
use phone_entrance::store::Role;
use serde_json::Value;
use simulators::mini_uas::{MiniUas, UasBehavior, UasCallLog};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The nurse's phone: hangs up `after` its answer (the callback intro is
/// about 8 s, so 10 s leaves the two bridged for a moment).
async fn nurse_hanging_up_after(after: Option<Duration>) -> MiniUas {
    MiniUas::start(
        LOCAL,
        UasBehavior {
            bye_after: after,
            prompt: UasBehavior::WHOLE_CALL,
            ..Default::default()
        },
    )
    .await
    .expect("nurse phone")
}

/// The resident behind the trunk: records what it hears and presses `keys`.
async fn resident(keys: Vec<(Duration, char)>, bye_after: Option<Duration>) -> MiniUas {
    MiniUas::start(
        LOCAL,
        UasBehavior {
            record: true,
            keys,
            bye_after,
            prompt: Duration::ZERO,
            ..Default::default()
        },
    )
    .await
    .expect("resident phone")
}

/// Waits until the resident's call has ended (either side's BYE).
async fn resident_call_ends(phone: &MiniUas, within: Duration) -> UasCallLog {
    let end = tokio::time::Instant::now() + within;
    loop {
        if let Some(c) = phone.calls().into_values().next() {
            if c.bye_received || c.bye_sent || tokio::time::Instant::now() > end {
                return c;
            }
        } else if tokio::time::Instant::now() > end {
            panic!("the resident was never called");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn heard(log: &UasCallLog, id: &str) -> bool {
    let codec = log.codec.expect("codec negotiated");
    !find_prompt(&log.heard, "sv", id, codec).is_empty()
}

/// The supervisor's summary for today.
async fn summary(svc: &TestService) -> Value {
    svc.add_staff("sam", "super-pw", Role::Supervisor).await;
    let sam = svc.login("sam", "super-pw").await;
    let day = chrono::Utc::now().format("%Y-%m-%d");
    let r = sam
        .get(svc.http_url(&format!("/api/v1/surveys/summary?from={day}&to={day}")))
        .send()
        .await
        .expect("summary");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    r.json().await.expect("json")
}

/// Waits for the survey store job (it runs beside the call, with a deadline).
async fn summary_with(svc: &TestService, responses: u64) -> Value {
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = summary(svc).await;
        if s["overall"]["responses"] == responses || tokio::time::Instant::now() > end {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

#[tokio::test]
async fn nurse_hangs_up_and_the_resident_answers_the_survey_anonymously() {
    // Seconds after the resident's answer: intro 8 s, bridged, the nurse
    // leaves at ~10 s, the survey intro (7 s) and question 1 (7 s) follow.
    // A key during a question's prompt is taken too (barge-in), so the
    // presses sit well inside each question's window.
    // The first answer as RFC 4733, the second as SIP INFO.
    let phone = MiniUas::start(
        LOCAL,
        UasBehavior {
            record: true,
            keys: vec![(Duration::from_secs(22), '4')],
            info_keys: vec![(Duration::from_secs(28), '1')],
            prompt: Duration::ZERO,
            ..Default::default()
        },
    )
    .await
    .expect("resident phone");
    let nurse = nurse_hanging_up_after(Some(Duration::from_secs(10))).await;
    let svc = service_with_trunk(phone.addr, "", nurse.addr, |_| {}).await;
    let (nina, case, call_id) = claim_and_call(&svc, 3).await;
    let s = wait_for_state(&svc, &nina, &call_id, "ended", Duration::from_secs(25)).await;
    assert_eq!(s["result"], "connected", "{s}");
    let log = resident_call_ends(&phone, Duration::from_secs(45)).await;
    assert_eq!(log.keys_sent, "4", "{}", log.keys_sent);
    assert!(log.bye_received, "we hang up after the thanks");
    assert!(heard(&log, "callback_intro"));
    assert!(heard(&log, "survey_intro"), "the survey started");
    assert!(heard(&log, "survey_helped"));
    assert!(heard(&log, "survey_easy"));
    assert!(heard(&log, "survey_thanks"));
    let n = nurse.calls().into_values().next().expect("nurse called");
    assert!(n.bye_sent, "the nurse hung up");
    let s = summary_with(&svc, 1).await;
    assert_eq!(s["overall"]["responses"], 1, "{s}");
    let q = |id: &str| -> Value {
        s["overall"]["questions"]
            .as_array()
            .and_then(|qs| qs.iter().find(|q| q["question"] == id).cloned())
            .unwrap_or(Value::Null)
    };
    assert_eq!(q("helped")["mean"], 4.0, "{s}");
    assert_eq!(q("easy")["distribution"]["1"], 1, "{s}");
    assert_eq!(s["by_channel"][0]["key"], "phone");
    assert_eq!(s["by_level"][0]["key"], "3");
    // Nothing in the results leads back to the case or the resident.
    let text = s.to_string();
    assert!(!text.contains(&case), "{text}");
    assert!(!text.contains("46701234567"), "{text}");
    let m = svc.metrics().await;
    assert_eq!(metric(&m, "pe_surveys_offered_total"), 1.0);
    assert_eq!(metric(&m, "pe_surveys_answered_total"), 1.0);
    svc.stop().await;
}

#[tokio::test]
async fn a_resident_who_presses_nothing_is_skipped_cleanly() {
    let phone = resident(Vec::new(), None).await;
    let nurse = nurse_hanging_up_after(Some(Duration::from_secs(10))).await;
    let svc = service_with_trunk(phone.addr, "", nurse.addr, |dir| {
        set_config(dir, "ivr.toml", "timeout_s", "2");
    })
    .await;
    let (nina, _case, call_id) = claim_and_call(&svc, 4).await;
    let s = wait_for_state(&svc, &nina, &call_id, "ended", Duration::from_secs(25)).await;
    assert_eq!(s["result"], "connected", "{s}");
    let log = resident_call_ends(&phone, Duration::from_secs(40)).await;
    assert!(log.bye_received, "we hang up after the timeout");
    assert!(heard(&log, "survey_helped"));
    assert!(!heard(&log, "survey_easy"), "no second question");
    assert!(!heard(&log, "survey_thanks"), "no thanks without answers");
    let s = summary(&svc).await;
    assert_eq!(s["overall"]["responses"], 0, "{s}");
    let m = svc.metrics().await;
    assert_eq!(metric(&m, "pe_surveys_offered_total"), 1.0);
    assert_eq!(
        metric(&m, "pe_surveys_skipped_total{reason=\"skipped\"}"),
        1.0
    );
    svc.stop().await;
}

#[tokio::test]
async fn a_resident_who_hangs_up_first_gets_no_survey() {
    let phone = resident(Vec::new(), Some(Duration::from_secs(10))).await;
    let nurse = nurse_hanging_up_after(None).await;
    let svc = service_with_trunk(phone.addr, "", nurse.addr, |_| {}).await;
    let (nina, _case, call_id) = claim_and_call(&svc, 3).await;
    let s = wait_for_state(&svc, &nina, &call_id, "ended", Duration::from_secs(25)).await;
    assert_eq!(s["result"], "connected", "{s}");
    let log = resident_call_ends(&phone, Duration::from_secs(5)).await;
    assert!(log.bye_sent, "the resident hung up");
    assert!(!heard(&log, "survey_intro"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let n = nurse.calls().into_values().next().expect("nurse called");
    assert!(n.bye_received, "the nurse's leg ends with the resident's");
    let m = svc.metrics().await;
    assert_eq!(metric(&m, "pe_surveys_offered_total"), 0.0);
    svc.stop().await;
}
