//! Follow-up figures observed live, over real sockets: an answered callback
//! shows in the `/metrics` answer histograms, and a caller who hangs up in
//! the IVR is stored with the node they left at and shows in the report.

mod common;

use common::callback::{
    callback_case, claim_and_call_case, hang_up, service_with_trunk, wait_for_state,
};
use common::caller::wait_for_prompt;
use common::TestService;
use phone_entrance::store::Role;
use serde_json::Value;
use simulators::caller::{Call, CallConfig};
use simulators::mini_uas::{MiniUas, UasBehavior};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The value of one sample line of the metrics text.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn an_answered_callback_is_observed_in_the_answer_histograms() {
    let resident = MiniUas::start(LOCAL, UasBehavior::default())
        .await
        .expect("resident");
    let nurse = MiniUas::start(LOCAL, UasBehavior::default())
        .await
        .expect("nurse");
    let svc = service_with_trunk(resident.addr, "", nurse.addr, |_| {}).await;
    let wait = r#"pe_contact_to_answer_seconds_count{level="3",channel="phone"}"#;
    let error = r#"pe_estimate_error_seconds_count{level="3"}"#;
    let before = svc.metrics().await;
    assert_eq!(
        sample(&before, wait),
        Some(0.0),
        "series exist from the start"
    );
    let mut case = callback_case(3);
    case.registered_at -= chrono::TimeDelta::minutes(40);
    case.estimated_callback_at = Some(chrono::Utc::now() - chrono::TimeDelta::minutes(10));
    let case = svc.store().await.insert_case(&case).await.expect("case");
    let nina = svc.login("nina", "nurse-pw").await;
    let call_id = claim_and_call_case(&svc, &nina, &case.id.to_string()).await;
    let s = wait_for_state(&svc, &nina, &call_id, "connected", Duration::from_secs(30)).await;
    assert_eq!(s["state"], "connected", "{s}");
    let after = svc.metrics().await;
    assert_eq!(sample(&after, wait), Some(1.0), "{after}");
    assert_eq!(sample(&after, error), Some(1.0));
    let sum = sample(
        &after,
        r#"pe_contact_to_answer_seconds_sum{level="3",channel="phone"}"#,
    )
    .expect("sum");
    assert!((2400.0..2700.0).contains(&sum), "about 40 minutes: {sum}");
    // 40 min wait lands in the (1800, 3600] bucket, not below.
    assert_eq!(
        sample(
            &after,
            r#"pe_contact_to_answer_seconds_bucket{le="1800.0",level="3",channel="phone"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &after,
            r#"pe_contact_to_answer_seconds_bucket{le="3600.0",level="3",channel="phone"}"#
        ),
        Some(1.0)
    );
    hang_up(&svc, &nina, &call_id).await;
    svc.stop().await;
}

#[tokio::test]
async fn a_caller_who_hangs_up_in_the_ivr_is_reported_with_the_node() {
    let svc = TestService::start().await;
    svc.add_staff("sara", "super-pw", Role::Supervisor).await;
    let call = Call::start(CallConfig::new(svc.sip_addr()))
        .await
        .expect("INVITE sent");
    wait_for_prompt(&call, "welcome", Duration::from_secs(20)).await;
    call.hangup().await.expect("hangup");
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Stockholm)
        .date_naive();
    let sara = svc.login("sara", "super-pw").await;
    let url = svc.http_url(&format!(
        "/api/v1/reports?period=day&from={today}&to={today}"
    ));
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    let abandoned = loop {
        let r: Value = sara
            .get(&url)
            .send()
            .await
            .expect("report")
            .json()
            .await
            .expect("json");
        let rows = r["abandoned"].as_array().cloned().unwrap_or_default();
        if !rows.is_empty() || tokio::time::Instant::now() > end {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(abandoned.len(), 1, "{abandoned:?}");
    assert_eq!(abandoned[0]["count"], 1);
    let node = abandoned[0]["node"].as_str().expect("node");
    eprintln!("left at {node}");
    assert_eq!(node, "greeting", "hung up during the welcome");
    svc.stop().await;
}
