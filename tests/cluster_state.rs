//! Several nodes on one PostgreSQL database, as in production: state that
//! used to live in one node's memory is seen by every node. Each test runs
//! two services over real sockets on one fresh database.

mod common;

use common::callback::{self, callback_case, service_with_trunk_on};
use common::postgres::{drop_postgres_database, postgres_database};
use common::TestService;
use phone_entrance::store::{Actor, Role};
use reqwest::StatusCode;
use serde_json::{json, Value};
use simulators::mini_uas::{MiniUas, UasBehavior};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn phone(behavior: UasBehavior) -> MiniUas {
    MiniUas::start(LOCAL, behavior)
        .await
        .expect("simulated phone starts")
}

/// Polls `GET /calls/{id}` on `svc` until `want` holds or `within` passed.
async fn status_until(
    svc: &TestService,
    nina: &reqwest::Client,
    call_id: &str,
    within: Duration,
    want: impl Fn(&Value) -> bool,
) -> Value {
    let end = tokio::time::Instant::now() + within;
    loop {
        let r = nina
            .get(svc.http_url(&format!("/api/v1/calls/{call_id}")))
            .send()
            .await
            .expect("status");
        let s: Value = if r.status() == StatusCode::OK {
            r.json().await.expect("json")
        } else {
            json!({"http": r.status().as_u16()})
        };
        if want(&s) || tokio::time::Instant::now() > end {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_running_on_one_node_is_followed_and_hung_up_from_another() {
    let url = postgres_database().await;
    let resident = phone(UasBehavior {
        tone_hz: 600.0,
        prompt: UasBehavior::WHOLE_CALL,
        ..Default::default()
    })
    .await;
    let nurse = phone(UasBehavior {
        tone_hz: 1000.0,
        prompt: UasBehavior::WHOLE_CALL,
        ..Default::default()
    })
    .await;
    let a = service_with_trunk_on(Some(url.clone()), resident.addr, "", nurse.addr, |_| {}).await;
    let b = TestService::start_with(Some(url.clone()), |_| {}).await;
    a.add_staff("nina", "nurse-pw", Role::Nurse).await;
    let case = a
        .store()
        .await
        .insert_case(&callback_case(3))
        .await
        .expect("case");
    let nina_a = a.login("nina", "nurse-pw").await;
    let nina_b = b.login("nina", "nurse-pw").await;
    let call_id = callback::claim_and_call_case(&a, &nina_a, &case.id.to_string()).await;

    // Node B follows node A's call through the store.
    let s = status_until(&b, &nina_b, &call_id, Duration::from_secs(25), |s| {
        s["state"] == "connected"
    })
    .await;
    assert_eq!(s["state"], "connected", "node B sees the call: {s}");
    assert_eq!(s["case_id"], case.id.to_string());
    // Another nurse sees nothing of it on either node.
    a.add_staff("bo", "nurse-pw", Role::Nurse).await;
    let bo = b.login("bo", "nurse-pw").await;
    let r = bo
        .get(b.http_url(&format!("/api/v1/calls/{call_id}")))
        .send()
        .await
        .expect("status");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = bo
        .post(b.http_url(&format!("/api/v1/calls/{call_id}/hangup")))
        .send()
        .await
        .expect("hangup");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Nina hangs up on node B; node A ends both legs.
    callback::hang_up(&b, &nina_b, &call_id).await;
    let s = status_until(&b, &nina_b, &call_id, Duration::from_secs(10), |s| {
        s["state"] == "ended"
    })
    .await;
    assert_eq!(s["state"], "ended", "{s}");
    assert_eq!(s["result"], "connected", "{s}");
    let on_a = status_until(&a, &nina_a, &call_id, Duration::from_secs(1), |_| true).await;
    assert_eq!(on_a["state"], "ended", "node A agrees: {on_a}");
    // The nurse's leg ends (the resident's stays for the survey, if on).
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n = nurse.calls();
        let n = n.values().next().expect("the nurse leg was placed");
        if n.bye_received {
            break;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "the nurse leg gets a BYE: {n:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(resident.calls().values().any(|r| r.answered));
    // Nothing lost: the case stays with nina for her outcome.
    let c = a.case(&case.id.to_string()).await;
    assert_eq!(c.status, phone_entrance::store::CaseStatus::Claimed);
    a.stop().await;
    b.stop().await;
    drop_postgres_database(&url).await;
}

/// `pe_handling_time_seconds{level="n"}` from a `/metrics` text.
fn handling_seconds(metrics: &str, level: u8) -> Option<u64> {
    let key = format!("pe_handling_time_seconds{{level=\"{level}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handling_times_of_one_nodes_nurses_feed_the_other_nodes_estimates() {
    let url = postgres_database().await;
    let a = TestService::start_with(Some(url.clone()), |_| {}).await;
    let b = TestService::start_with(Some(url.clone()), |_| {}).await;
    a.add_staff("nina", "nurse-pw", Role::Nurse).await;
    let default = handling_seconds(&b.metrics().await, 3).expect("metric on node B");
    assert!(default >= 60, "the configured default first: {default}");

    // Five level-3 cases claimed three minutes ago, closed through node A.
    let store = a.store().await;
    let nina = a.login("nina", "nurse-pw").await;
    let actor = Actor {
        username: "nina",
        ip: None,
        may_override: false,
    };
    for _ in 0..5 {
        let c = store.insert_case(&callback_case(3)).await.expect("case");
        let claimed = chrono::Utc::now() - chrono::TimeDelta::minutes(3);
        store.claim(c.id, &actor, claimed).await.expect("claim");
        let r = nina
            .post(a.http_url(&format!("/api/v1/cases/{}/outcome", c.id)))
            .json(&json!({"outcome": "self_care", "note": ""}))
            .send()
            .await
            .expect("outcome");
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    }
    let end = tokio::time::Instant::now() + Duration::from_secs(20);
    let seen = loop {
        let seen = handling_seconds(&b.metrics().await, 3).expect("metric");
        if (170..=200).contains(&seen) || tokio::time::Instant::now() > end {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        (170..=200).contains(&seen),
        "node B plans with node A's three minutes, not {seen} s"
    );
    a.stop().await;
    b.stop().await;
    drop_postgres_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nurse_phone_registered_through_one_node_is_rung_by_another() {
    use simulators::mini_uas::Registration;
    let url = postgres_database().await;
    let resident = phone(UasBehavior {
        bye_after: Some(Duration::from_secs(12)),
        tone_hz: 600.0,
        prompt: UasBehavior::WHOLE_CALL,
        detect_hz: Some(1000.0),
        ..Default::default()
    })
    .await;
    // Node A has the trunk and no fixed address for nina.
    let unused = phone(UasBehavior::default()).await;
    let a = service_with_trunk_on(Some(url.clone()), resident.addr, "", unused.addr, |dir| {
        std::fs::write(dir.join("nurse-phones.toml"), "").expect("no fixed phones");
    })
    .await;
    let b = TestService::start_with(Some(url.clone()), |_| {}).await;
    a.add_staff("nina", "nurse-pw", Role::Nurse).await;
    let store = a.store().await;
    let ha1 = phone_entrance::sip::digest::ha1("nina", "1177.local", "phone-secret-1");
    assert!(store.set_sip_ha1("nina", Some(&ha1)).await.expect("ha1"));
    // Her phone registers with node B (digest as ever).
    let nurse = phone(UasBehavior {
        register: Some(Registration {
            registrar: b.sip_addr(),
            user: "nina".into(),
            password: "phone-secret-1".into(),
            expires: 300,
        }),
        tone_hz: 1000.0,
        prompt: UasBehavior::WHOLE_CALL,
        detect_hz: Some(600.0),
        ..Default::default()
    })
    .await;
    assert!(
        nurse.wait_registered(Duration::from_secs(5)).await,
        "{:?}",
        nurse.registration()
    );
    assert!(nurse.registration().expect("log").challenges >= 1);
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    while store
        .nurse_registrations("nina", chrono::Utc::now())
        .await
        .expect("read")
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < end,
            "node B shared the binding"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Nina calls back from node A: node A rings the phone registered at B.
    let case = store.insert_case(&callback_case(3)).await.expect("case");
    let nina = a.login("nina", "nurse-pw").await;
    let call_id = callback::claim_and_call_case(&a, &nina, &case.id.to_string()).await;
    let s = callback::wait_for_state(&a, &nina, &call_id, "ended", Duration::from_secs(30)).await;
    assert_eq!(s["result"], "connected", "{s}");
    let n = nurse.calls();
    let n = n
        .values()
        .next()
        .expect("the phone registered at B was rung");
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
    assert!(
        a.metrics()
            .await
            .contains("pe_nurse_phone_lookups_total{source=\"cluster\"} 1"),
        "node A counts a cluster lookup"
    );
    a.stop().await;
    b.stop().await;
    drop_postgres_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nurse_on_one_node_takes_a_caller_holding_on_another_and_both_hear_each_other() {
    use common::caller::{answer_red_flag, wait_for_prompt};
    use simulators::caller::{Call, CallConfig, DtmfMethod};
    use simulators::mini_uas::Registration;
    let url = postgres_database().await;
    let a = TestService::start_with(Some(url.clone()), |dir| {
        common::set_config(dir, "ivr.toml", "wait_s", "2");
    })
    .await;
    let b = TestService::start_with(Some(url.clone()), |dir| {
        std::fs::write(dir.join("nurse-phones.toml"), "").expect("no fixed phones");
    })
    .await;
    b.add_staff("nina", "nurse-pw", Role::Nurse).await;
    let store = b.store().await;
    let ha1 = phone_entrance::sip::digest::ha1("nina", "1177.local", "phone-secret-1");
    assert!(store.set_sip_ha1("nina", Some(&ha1)).await.expect("ha1"));
    // Nina's desk phone registers with node B, where she is signed in.
    let nurse = phone(UasBehavior {
        register: Some(Registration {
            registrar: b.sip_addr(),
            user: "nina".into(),
            password: "phone-secret-1".into(),
            expires: 300,
        }),
        tone_hz: 1000.0,
        prompt: UasBehavior::WHOLE_CALL,
        detect_hz: Some(600.0),
        ..Default::default()
    })
    .await;
    assert!(nurse.wait_registered(Duration::from_secs(5)).await);

    // A red-flag caller holds on node A.
    let call = Call::dial(CallConfig::new(a.sip_addr()))
        .await
        .expect("answered");
    answer_red_flag(&call, DtmfMethod::Rfc4733).await;
    let cases = a.wait_for_cases(1, Duration::from_secs(30)).await;
    let case = cases.first().expect("a held case").clone();
    assert_eq!(case.status, phone_entrance::store::CaseStatus::Holding);
    wait_for_prompt(&call, "hold_music", Duration::from_secs(20)).await;

    // Nina takes it on node B and calls with her phone.
    let nina = b.login("nina", "nurse-pw").await;
    let call_id = callback::claim_and_call_case(&b, &nina, &case.id.to_string()).await;
    let s = status_until(&b, &nina, &call_id, Duration::from_secs(15), |s| {
        s["state"] == "connected"
    })
    .await;
    assert_eq!(s["state"], "connected", "{s}");
    // The caller speaks (600 Hz); the nurse's phone plays 1000 Hz.
    let tone: Vec<i16> = (0..8000 * 2)
        .map(|i| ((i as f64 * 2.0 * std::f64::consts::PI * 600.0 / 8000.0).sin() * 12000.0) as i16)
        .collect();
    call.play_audio(tone).expect("play");
    call.wait_sent().await.expect("sent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let n = nurse.calls();
    let n = n.values().next().expect("the nurse's phone was rung");
    assert!(
        n.tone_frames_detected > 50,
        "the caller's 600 Hz reached the nurse: {n:?}"
    );
    assert!(
        call.tone_frames(1000.0) > 50,
        "the nurse's 1000 Hz reached the caller"
    );
    call.hangup().await.expect("hangup");
    let s = status_until(&b, &nina, &call_id, Duration::from_secs(10), |s| {
        s["state"] == "ended"
    })
    .await;
    assert_eq!(s["result"], "connected", "{s}");
    // Nothing lost: the case stays with nina for her outcome.
    let c = b.case(&case.id.to_string()).await;
    assert_eq!(c.status, phone_entrance::store::CaseStatus::Claimed);
    let metrics = b.metrics().await;
    assert!(
        metrics.contains("pe_held_pickups_total{result=\"started\"} 1"),
        "node B counts the pickup"
    );
    assert!(a
        .metrics()
        .await
        .contains("pe_held_pickups_total{result=\"served\"} 1"));
    a.stop().await;
    b.stop().await;
    drop_postgres_database(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pickup_the_holding_node_never_takes_expires_and_nothing_is_lost() {
    let url = postgres_database().await;
    let b = TestService::start_with(Some(url.clone()), |_| {}).await;
    b.add_staff("nina", "nurse-pw", Role::Nurse).await;
    let store = b.store().await;
    // Held by a node that is not running (its lease is the sweeper's business).
    let mut new = callback_case(1);
    new.mode = phone_entrance::store::CaseMode::Hold;
    let case = store
        .insert_case_held_by(&new, Some("gone/00000000"))
        .await
        .expect("case");
    let nina = b.login("nina", "nurse-pw").await;
    let r = nina
        .post(b.http_url(&format!("/api/v1/cases/{}/claim", case.id)))
        .send()
        .await
        .expect("claim");
    assert_eq!(r.status(), StatusCode::OK);
    let r = nina
        .post(b.http_url(&format!("/api/v1/cases/{}/call", case.id)))
        .json(&json!({"nurse_leg": "phone"}))
        .send()
        .await
        .expect("call");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = r.text().await.expect("text");
    assert!(text.contains("gone/00000000"), "names the node: {text}");
    // Nothing lost: still nina's, held or (that node's lease lapsed) a
    // callback to the caller ID.
    let c = b.case(&case.id.to_string()).await;
    assert_eq!(c.status, phone_entrance::store::CaseStatus::Claimed);
    assert_eq!(c.callback_number.as_deref(), Some(callback::RESIDENT));
    assert!(b
        .metrics()
        .await
        .contains("pe_held_pickups_total{result=\"expired\"} 1"));
    b.stop().await;
    drop_postgres_database(&url).await;
}
