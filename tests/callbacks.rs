//! Callbacks over real sockets: a nurse takes a case and calls; the service
//! rings the nurse's SIP phone (a simulator), then the resident through the
//! trunk (another simulator), says who is calling and bridges the two.

mod common;

use common::callback::{self, claim_and_call, service_with_trunk, wait_for_state};
use common::TestService;
use phone_entrance::store::{CaseStatus, ReviewReason, Role};
use reqwest::StatusCode;
use serde_json::{json, Value};
use simulators::mini_uas::{MiniUas, UasBehavior};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A simulated phone (resident behind the trunk, or a nurse's desk phone).
async fn phone(behavior: UasBehavior) -> MiniUas {
    MiniUas::start(LOCAL, behavior)
        .await
        .expect("simulated phone starts")
}

/// A phone that plays `hz` for the whole call and listens for `detect`.
fn talking(hz: f32, detect: f32) -> UasBehavior {
    UasBehavior {
        tone_hz: hz,
        prompt: UasBehavior::WHOLE_CALL,
        detect_hz: Some(detect),
        ..Default::default()
    }
}

/// A service whose trunk is `resident` and whose nurse "nina" has her phone
/// at `nurse`; `edit` may change the copied config further.
async fn service_with(
    resident: &MiniUas,
    nurse: &MiniUas,
    edit: impl FnOnce(&std::path::Path),
) -> TestService {
    service_with_trunk(resident.addr, "", nurse.addr, edit).await
}

#[tokio::test]
async fn nurse_phone_then_resident_are_bridged_and_the_resident_hangs_up() {
    let resident = phone(UasBehavior {
        bye_after: Some(Duration::from_secs(14)),
        ..talking(600.0, 1000.0)
    })
    .await;
    let nurse = phone(talking(1000.0, 600.0)).await;
    let svc = service_with(&resident, &nurse, |_| {}).await;
    let (nina, case, call_id) = claim_and_call(&svc, 3).await;
    let s = wait_for_state(&svc, &nina, &call_id, "connected", Duration::from_secs(20)).await;
    assert_eq!(s["state"], "connected", "{s}");
    let s = wait_for_state(&svc, &nina, &call_id, "ended", Duration::from_secs(20)).await;
    assert_eq!(s["result"], "connected", "{s}");
    let r = resident.calls();
    let n = nurse.calls();
    eprintln!("resident {r:?}\nnurse {n:?}");
    let r = r.values().next().expect("resident was called");
    let n = n.values().next().expect("nurse was called");
    assert!(r.answered && n.answered);
    assert!(r.from.contains("1177"), "resident sees 1177: {}", r.from);
    // Each side's tone arrives at the other: ~6 s bridged after the 8 s intro.
    assert!(
        n.tone_frames_detected > 100,
        "nurse heard the resident's 600 Hz: {n:?}"
    );
    assert!(
        r.tone_frames_detected > 100,
        "resident heard the nurse's 1000 Hz: {r:?}"
    );
    assert!(
        n.bye_received,
        "the nurse leg is hung up after the resident left"
    );
    let store = svc.store().await;
    let id = case.parse().expect("uuid");
    let legs = store.call_legs_for_case(id).await.expect("legs");
    let kinds: Vec<_> = legs
        .iter()
        .map(|l| (l.kind.as_str(), l.result.as_str(), l.ended_by.as_deref()))
        .collect();
    assert!(
        kinds.contains(&("resident", "connected", Some("remote"))),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("nurse_phone", "connected", Some("local"))),
        "{kinds:?}"
    );
    let c = store.get_case(id).await.expect("get").expect("case");
    assert_eq!(
        c.status,
        CaseStatus::Claimed,
        "stays with the nurse for the outcome"
    );
    assert_eq!(c.attempts, 0);
    svc.stop().await;
}

/// A case of `level` called back through a trunk that answers `status`: the
/// service, the nurse's phone, the ended call's status and the case id.
async fn call_a_refusing_resident(status: u16, level: u8) -> (TestService, MiniUas, Value, String) {
    let resident = phone(UasBehavior {
        reject: Some(status),
        ..Default::default()
    })
    .await;
    let nurse = phone(UasBehavior::default()).await;
    let svc = service_with(&resident, &nurse, |_| {}).await;
    let (nina, case, call_id) = claim_and_call(&svc, level).await;
    let s = wait_for_state(&svc, &nina, &call_id, "ended", Duration::from_secs(20)).await;
    (svc, nurse, s, case)
}

#[tokio::test]
async fn busy_resident_ends_the_attempt_as_busy_and_frees_the_nurse() {
    let (svc, nurse, s, case) = call_a_refusing_resident(486, 3).await;
    assert_eq!(s["result"], "busy", "{s}");
    let n = nurse.calls();
    let n = n.values().next().expect("nurse was called");
    assert!(n.answered && n.bye_received, "nurse leg ended: {n:?}");
    let store = svc.store().await;
    let id = case.parse().expect("uuid");
    let c = store.get_case(id).await.expect("get").expect("case");
    assert_eq!(c.status, CaseStatus::Waiting, "back in the queue");
    assert_eq!(c.attempts, 1);
    let next = c.next_attempt_at.expect("a next attempt time");
    let wait = next - chrono::Utc::now();
    assert!(
        wait > chrono::TimeDelta::minutes(8) && wait <= chrono::TimeDelta::minutes(10),
        "{wait}"
    );
    let legs = store.call_legs_for_case(id).await.expect("legs");
    assert!(
        legs.iter().any(|l| l.kind.as_str() == "resident"
            && l.result == "busy"
            && l.sip_status == Some(486)),
        "{legs:?}"
    );
    let metrics = svc.metrics().await;
    assert!(
        metrics.contains("pe_callbacks_total{result=\"busy\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("pe_callbacks_active 0"), "{metrics}");
    svc.stop().await;
}

#[tokio::test]
async fn an_urgent_case_is_tried_again_sooner_by_its_levels_retry_policy() {
    // queue.toml: [retry.level.2] interval_minutes = 5 (the others wait 10).
    let (svc, _nurse, s, case) = call_a_refusing_resident(486, 2).await;
    assert_eq!(s["result"], "busy", "{s}");
    let c = svc.case(&case).await;
    assert_eq!((c.status, c.attempts), (CaseStatus::Waiting, 1));
    let wait = c.next_attempt_at.expect("a next attempt time") - chrono::Utc::now();
    assert!(
        wait > chrono::TimeDelta::minutes(3) && wait <= chrono::TimeDelta::minutes(5),
        "{wait}"
    );
    svc.stop().await;
}

/// The resident is busy three times: a level-4 case is then closed as
/// unreachable, a level-2 case is never closed silently: it lands in the
/// review list, which nurses (and the supervisor's count) see over HTTP.
#[tokio::test]
async fn busy_three_times_closes_level_four_but_puts_level_two_in_review() {
    let resident = phone(UasBehavior {
        reject: Some(486),
        ..Default::default()
    })
    .await;
    let nurse = phone(UasBehavior::default()).await;
    let svc = service_with(&resident, &nurse, |dir| {
        // Three attempts at every level (the shipped file gives 1-2 five).
        std::fs::write(
            dir.join("queue.toml"),
            "nurses_on_duty = 4\ndefault_handling_minutes = 12\n\
             [retry]\nmax_attempts = 3\ninterval_minutes = 10\nreview_up_to_level = 2\n",
        )
        .expect("queue.toml");
    })
    .await;
    let nina = svc.login("nina", "nurse-pw").await;
    let store = svc.store().await;
    let mut cases = Vec::new();
    for level in [4, 2] {
        let case = store
            .insert_case(&callback::callback_case(level))
            .await
            .expect("case")
            .id
            .to_string();
        for attempt in 1..=3 {
            let call_id = callback::claim_and_call_case(&svc, &nina, &case).await;
            let s = wait_for_state(&svc, &nina, &call_id, "ended", Duration::from_secs(20)).await;
            assert_eq!(s["result"], "busy", "level {level}, attempt {attempt}: {s}");
        }
        cases.push(case);
    }
    assert_eq!(resident.calls().len(), 6, "the resident rang six times");
    let routine = svc.case(&cases[0]).await;
    assert_eq!(
        (routine.status, routine.attempts, routine.review_reason),
        (CaseStatus::Unreachable, 3, None)
    );
    let urgent = svc.case(&cases[1]).await;
    assert_eq!(
        (urgent.status, urgent.attempts, urgent.review_reason),
        (CaseStatus::Review, 3, Some(ReviewReason::NotReached))
    );
    let get = |path: &'static str, who: reqwest::Client| {
        let url = svc.http_url(path);
        async move {
            let r = who.get(url).send().await.expect("get");
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            r.json::<Value>().await.expect("json")
        }
    };
    let review = get("/api/v1/review", nina.clone()).await;
    let listed: Vec<&str> = review
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(listed, vec![cases[1].as_str()], "{review}");
    assert_eq!(review[0]["review_reason"], "not_reached");
    assert_eq!(review[0]["priority"], 2);
    assert_eq!(
        get("/api/v1/worklist", nina.clone()).await,
        json!([]),
        "neither waits to be dialled"
    );
    svc.add_staff("sara", "super-pw", Role::Supervisor).await;
    let sara = svc.login("sara", "super-pw").await;
    let stats = get("/api/v1/supervisor/stats", sara).await;
    assert_eq!(stats["in_review"], 1, "{stats}");
    assert_eq!(stats["unreachable_today"], 1, "{stats}");
    svc.stop().await;
}

#[tokio::test]
async fn a_failing_trunk_uses_no_attempt_and_puts_the_case_back() {
    let (svc, _nurse, s, case) = call_a_refusing_resident(503, 3).await;
    assert_eq!(s["result"], "failed", "{s}");
    let c = svc.case(&case).await;
    assert_eq!(c.status, CaseStatus::Waiting, "back in the queue");
    assert_eq!(c.attempts, 0, "the trunk's failure is not the resident's");
    assert_eq!(c.next_attempt_at, None, "any nurse may try again at once");
    let metrics = svc.metrics().await;
    assert!(metrics.contains("pe_trunk_failures_total 1"), "{metrics}");
    svc.stop().await;
}

#[tokio::test]
async fn unanswered_resident_is_cancelled_after_the_ring_timeout() {
    let resident = phone(UasBehavior {
        ring: Duration::from_secs(120),
        ..Default::default()
    })
    .await;
    let nurse = phone(UasBehavior {
        detect_hz: Some(425.0),
        ..Default::default()
    })
    .await;
    let svc = service_with(&resident, &nurse, |dir| {
        common::set_config(dir, "trunk.toml", "ring_timeout_seconds", "5");
        common::set_config(dir, "queue.toml", "max_attempts", "1");
    })
    .await;
    let (nina, case, call_id) = claim_and_call(&svc, 3).await;
    let s = wait_for_state(
        &svc,
        &nina,
        &call_id,
        "resident_ringing",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(s["state"], "resident_ringing", "{s}");
    let s = wait_for_state(&svc, &nina, &call_id, "ended", Duration::from_secs(20)).await;
    assert_eq!(s["result"], "no_answer", "{s}");
    let r = resident.calls();
    let r = r.values().next().expect("resident was called");
    assert!(
        r.cancelled && !r.answered,
        "CANCEL reached the resident: {r:?}"
    );
    let n = nurse.calls();
    let n = n.values().next().expect("nurse");
    assert!(
        n.tone_frames_detected >= 40,
        "the nurse heard the 425 Hz ring tone: {n:?}"
    );
    // One attempt allowed here: the case is now unreachable.
    let c = svc.case(&case).await;
    assert_eq!(c.status, CaseStatus::Unreachable);
    assert_eq!(c.attempts, 1);
    svc.stop().await;
}

#[tokio::test]
async fn nurse_hanging_up_from_the_page_ends_both_legs() {
    let resident = phone(UasBehavior {
        prompt: Duration::from_secs(60),
        ..Default::default()
    })
    .await;
    let nurse = phone(UasBehavior::default()).await;
    // The survey after a nurse's hang-up is tests/surveys.rs; here both legs end at once.
    let svc = service_with(&resident, &nurse, |dir| {
        common::set_config(dir, "ivr.toml", "enabled", "false");
    })
    .await;
    let (nina, _case, call_id) = claim_and_call(&svc, 2).await;
    let s = wait_for_state(&svc, &nina, &call_id, "connected", Duration::from_secs(20)).await;
    assert_eq!(s["state"], "connected", "{s}");
    let r = nina
        .post(svc.http_url(&format!("/api/v1/calls/{call_id}/hangup")))
        .send()
        .await
        .expect("hangup");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let s = wait_for_state(&svc, &nina, &call_id, "ended", Duration::from_secs(10)).await;
    assert_eq!(s["result"], "connected", "{s}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = resident.calls();
    let n = nurse.calls();
    assert!(r.values().next().expect("resident").bye_received);
    assert!(n.values().next().expect("nurse").bye_received);
    svc.stop().await;
}

#[tokio::test]
async fn call_api_refuses_cases_not_claimed_by_the_nurse() {
    let resident = phone(UasBehavior::default()).await;
    let nurse = phone(UasBehavior::default()).await;
    let svc = service_with(&resident, &nurse, |_| {}).await;
    let case = svc
        .store()
        .await
        .insert_case(&callback::callback_case(3))
        .await
        .expect("case");
    let nina = svc.login("nina", "nurse-pw").await;
    let url = svc.http_url(&format!("/api/v1/cases/{}/call", case.id));
    let r = nina
        .post(&url)
        .json(&json!({"nurse_leg": "phone"}))
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = nina
        .post(&url)
        .json(&json!({"nurse_leg": "pigeon"}))
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["error"].as_str().unwrap_or("").contains("browser"),
        "{body}"
    );
    let r = reqwest::Client::new()
        .post(&url)
        .json(&json!({"nurse_leg": "phone"}))
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        resident.calls().is_empty() && nurse.calls().is_empty(),
        "nobody was called"
    );
    svc.stop().await;
}

#[tokio::test]
async fn holding_caller_hears_place_in_queue_then_is_connected_to_the_nurse() {
    use common::caller::{after_greeting, press, wait_for_prompt};
    use simulators::caller::{Call, CallConfig, DtmfMethod};
    let resident = phone(UasBehavior::default()).await;
    let nurse = phone(talking(1000.0, 600.0)).await;
    let svc = service_with(&resident, &nurse, |dir| {
        common::set_config(dir, "ivr.toml", "wait_s", "2");
    })
    .await;
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    let m = DtmfMethod::Rfc4733;
    after_greeting(&call, &[]).await;
    press(&call, "1", m).await;
    press(&call, "3", m).await;
    press(&call, "1", m).await; // a red flag: level 1, held
    let cases = svc.wait_for_cases(1, Duration::from_secs(30)).await;
    assert_eq!(cases[0].status, CaseStatus::Holding);
    wait_for_prompt(&call, "hold_music", Duration::from_secs(20)).await;
    // After one round of music: "you are number 1 in the queue".
    wait_for_prompt(&call, "queue_position", Duration::from_secs(15)).await;

    let nina = svc.login("nina", "nurse-pw").await;
    let r = nina
        .post(svc.http_url("/api/v1/claim-next"))
        .send()
        .await
        .expect("claim");
    assert_eq!(r.status(), StatusCode::OK);
    let r = nina
        .post(svc.http_url(&format!("/api/v1/cases/{}/call", cases[0].id)))
        .json(&json!({"nurse_leg": "phone"}))
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let call_id = r.json::<Value>().await.expect("json")["call_id"]
        .as_str()
        .expect("id")
        .to_string();
    let s = wait_for_state(&svc, &nina, &call_id, "connected", Duration::from_secs(15)).await;
    assert_eq!(s["state"], "connected", "{s}");
    assert!(
        resident.calls().is_empty(),
        "a holding caller is not dialled"
    );
    // The bridge is the nurse's answer for a held caller (follow-up histograms).
    let metrics = svc.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"pe_contact_to_answer_seconds_count{level="1",channel="phone"} 1"#),
        "{metrics}"
    );
    // The caller speaks (a tone): the nurse hears it.
    let tone: Vec<i16> = (0..8000 * 2)
        .map(|i| ((i as f64 * 2.0 * std::f64::consts::PI * 600.0 / 8000.0).sin() * 12000.0) as i16)
        .collect();
    call.play_audio(tone).expect("play");
    call.wait_sent().await.expect("sent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let n = nurse.calls();
    let n = n.values().next().expect("nurse rung");
    assert!(
        n.tone_frames_detected > 50,
        "the caller's 600 Hz reached the nurse: {n:?}"
    );
    assert!(
        call.tone_frames(1000.0) > 50,
        "the nurse's 1000 Hz reached the caller"
    );
    call.hangup().await.expect("hangup");
    let s = wait_for_state(&svc, &nina, &call_id, "ended", Duration::from_secs(10)).await;
    assert_eq!(s["result"], "connected", "{s}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(nurse.calls().values().next().expect("nurse").bye_received);
    let c = svc
        .store()
        .await
        .get_case(cases[0].id)
        .await
        .expect("get")
        .expect("case");
    assert_eq!(
        c.status,
        CaseStatus::Claimed,
        "the nurse keeps the case for the outcome"
    );
    // The call task writes its row as it finishes, just after the hang-up.
    let mut legs = Vec::new();
    for _ in 0..50 {
        legs = svc
            .store()
            .await
            .call_legs_for_case(cases[0].id)
            .await
            .expect("legs");
        if legs.iter().any(|l| l.kind.as_str() == "ivr") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows: Vec<_> = legs
        .iter()
        .map(|l| (l.kind.as_str(), l.result.as_str(), l.ended_by.as_deref()))
        .collect();
    assert!(
        rows.contains(&("ivr", "connected_to_nurse", Some("remote"))),
        "the caller's own leg has its row: {rows:?}"
    );
    assert!(rows.iter().any(|r| r.0 == "nurse_phone"), "{rows:?}");
    svc.stop().await;
}

#[tokio::test]
async fn registered_nurse_phone_is_rung_and_hears_the_resident() {
    use simulators::mini_uas::Registration;
    let resident = phone(UasBehavior {
        bye_after: Some(Duration::from_secs(12)),
        ..talking(600.0, 1000.0)
    })
    .await;
    // No fixed address for this nurse: only her registration says where she is.
    let unused = phone(UasBehavior::default()).await;
    let svc = service_with(&resident, &unused, |dir| {
        std::fs::write(dir.join("nurse-phones.toml"), "").expect("no fixed phones");
    })
    .await;
    let ha1 = phone_entrance::sip::digest::ha1("nina", "1177.local", "phone-secret-1");
    assert!(svc
        .store()
        .await
        .set_sip_ha1("nina", Some(&ha1))
        .await
        .expect("ha1"));
    let nurse = phone(UasBehavior {
        register: Some(Registration {
            registrar: svc.sip_addr(),
            user: "nina".into(),
            password: "phone-secret-1".into(),
            expires: 300,
        }),
        ..talking(1000.0, 600.0)
    })
    .await;
    assert!(
        nurse.wait_registered(Duration::from_secs(5)).await,
        "{:?}",
        nurse.registration()
    );
    let reg = nurse.registration().expect("log");
    assert!(reg.challenges >= 1, "digest challenge answered: {reg:?}");
    let (nina, _case, call_id) = claim_and_call(&svc, 3).await;
    let s = wait_for_state(&svc, &nina, &call_id, "ended", Duration::from_secs(30)).await;
    assert_eq!(s["result"], "connected", "{s}");
    let n = nurse.calls();
    let n = n.values().next().expect("the registered phone was rung");
    let r = resident.calls();
    let r = r.values().next().expect("resident");
    assert!(
        n.tone_frames_detected > 50,
        "nurse heard the resident's 600 Hz: {n:?}"
    );
    assert!(
        r.tone_frames_detected > 50,
        "resident heard the nurse's 1000 Hz: {r:?}"
    );
    assert!(unused.calls().is_empty());
    svc.stop().await;
}

#[tokio::test]
async fn network_announcement_in_early_media_reaches_the_nurse() {
    // The trunk plays "the number cannot be reached" (a 600 Hz tone here) in a
    // 183 with SDP, then fails the call with 480.
    let resident = phone(UasBehavior {
        ring: Duration::from_secs(3),
        announce_then_fail: Some(480),
        ..talking(600.0, 1000.0)
    })
    .await;
    let nurse = phone(talking(1000.0, 600.0)).await;
    let svc = service_with(&resident, &nurse, |_| {}).await;
    let (nina, case, call_id) = claim_and_call(&svc, 3).await;
    let s = wait_for_state(&svc, &nina, &call_id, "ended", Duration::from_secs(20)).await;
    assert_eq!(s["result"], "no_answer", "{s}");
    let r = resident.calls();
    let r = r.values().next().expect("resident");
    assert!(
        !r.answered && r.tone_frames_detected == 0,
        "nothing reached the resident before an answer: {r:?}"
    );
    let n = nurse.calls();
    let n = n.values().next().expect("nurse");
    assert!(
        n.tone_frames_detected > 50,
        "the nurse heard the announcement: {n:?}"
    );
    let id = case.parse().expect("uuid");
    let legs = svc
        .store()
        .await
        .call_legs_for_case(id)
        .await
        .expect("legs");
    assert!(
        legs.iter()
            .any(|l| l.kind.as_str() == "resident" && l.sip_status == Some(480)),
        "{legs:?}"
    );
    svc.stop().await;
}
