//! `systemctl stop` with callers in every state: the real binary gets
//! SIGTERM; callers still in the IVR after `drain_seconds` hear the closing
//! message before our BYE, held callers hear that a nurse will call; every
//! case the IVR knew about is stored once, and the process exits cleanly.

mod common;

use common::caller::after_greeting;
use common::caller::{
    answer_red_flag, answer_until_offer, decline_sms, press, wait_for_prompt, GREEN_KEYS,
};
use common::node::Node;
use common::{copy_config, set_config};
use phone_entrance::booking::DROPPED_IN_IVR;
use phone_entrance::store::{CaseMode, CaseStatus, Store};
use simulators::caller::{Call, CallConfig, DtmfMethod, EndReason};
use std::time::Duration;

const M: DtmfMethod = DtmfMethod::Rfc4733;

async fn dial(node: &Node, number: &str) -> Call {
    let mut cfg = CallConfig::new(node.sip);
    cfg.from_user = number.into();
    Call::dial(cfg).await.expect("answered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_tells_every_caller_and_loses_no_case() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = copy_config(dir.path());
    set_config(&config, "ivr.toml", "wait_s", "2");
    set_config(&config, "sip.toml", "drain_seconds", "1");
    let url = format!("sqlite:{}", dir.path().join("pe.db").display());
    let mut node = Node::start(&config, &url, "42000-42999");

    // Mid-questions: only the language chosen.
    let asking = async {
        let call = dial(&node, "+46701000001").await;
        after_greeting(&call, &[]).await;
        press(&call, "1", M).await;
        call
    };
    // Level 2 (an infant), triaged, hearing the callback offer.
    let offered = async {
        let call = dial(&node, "+46701000002").await;
        after_greeting(&call, &[]).await;
        let mut keys = GREEN_KEYS;
        keys[1] = "1";
        for k in keys {
            press(&call, k, M).await;
        }
        press(&call, "#", M).await;
        wait_for_prompt(&call, "callback_offer_time", Duration::from_secs(15)).await;
        call
    };
    // Confirmed a callback: its case is stored before the stop.
    let confirmed = async {
        let call = dial(&node, "+46701000003").await;
        answer_until_offer(&call, M).await;
        press(&call, "1", M).await;
        decline_sms(&call, M).await;
        wait_for_prompt(&call, "callback_registered", Duration::from_secs(15)).await;
        call
    };
    // Red flag: holding for a nurse.
    let held = async {
        let call = dial(&node, "+46701000004").await;
        answer_red_flag(&call, M).await;
        wait_for_prompt(&call, "hold_music", Duration::from_secs(20)).await;
        call
    };
    let (asking, offered, confirmed, held) = tokio::join!(asking, offered, confirmed, held);

    node.terminate();
    for (call, prompt) in [
        (&asking, "closing"),
        (&offered, "closing"),
        (&held, "closing_held"),
    ] {
        wait_for_prompt(call, prompt, Duration::from_secs(10)).await;
        let end = tokio::time::timeout(Duration::from_secs(20), call.wait_ended())
            .await
            .expect("the service hangs up after the message");
        assert_eq!(end, EndReason::RemoteHangup, "our BYE ends the call");
    }
    let status = node.wait_exit(Duration::from_secs(40)).await;
    assert!(status.success(), "clean exit: {status:?}");
    drop(confirmed);

    let store = Store::connect(&url).await.expect("store");
    let cases = store.worklist().await.expect("worklist");
    let by_number = |n: &str| {
        let found: Vec<_> = cases
            .iter()
            .filter(|c| c.callback_number.as_deref() == Some(n))
            .collect();
        assert!(found.len() <= 1, "duplicate cases for {n}");
        found.first().copied().cloned()
    };
    assert!(by_number("+46701000001").is_none(), "not triaged: no case");
    let dropped = by_number("+46701000002").expect("the triaged caller's case");
    assert_eq!(dropped.summary, DROPPED_IN_IVR);
    assert_eq!(dropped.priority.level(), 2);
    let booked = by_number("+46701000003").expect("the confirmed callback");
    assert_eq!(booked.status, CaseStatus::Waiting);
    let callback = by_number("+46701000004").expect("the held caller's case");
    assert_eq!(
        (callback.status, callback.mode),
        (CaseStatus::Waiting, CaseMode::Callback),
        "held callers become callbacks"
    );
    assert_eq!(callback.priority.level(), 1);
    assert_eq!(cases.len(), 3, "{cases:?}");
}
