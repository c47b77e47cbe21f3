//! A node killed with SIGKILL while a caller holds: the real binary, a real
//! call, `kill -9`, and another node on the same database. The held case
//! must not stay "holding" forever: once the dead node's lease lapses, the
//! other node's sweeper turns it into a callback to the caller ID.

mod common;

use common::caller::answer_red_flag;
use common::node::Node;
use common::postgres::{drop_postgres_database, postgres_database};
use common::{copy_config, set_config, TestService};
use phone_entrance::store::{CaseMode, CaseStatus, Store};
use simulators::caller::{Call, CallConfig, DtmfMethod};
use std::time::Duration;

async fn holding_case(store: &Store) -> Option<phone_entrance::store::CaseRecord> {
    let cases = store.worklist().await.ok()?;
    cases.into_iter().find(|c| c.status == CaseStatus::Holding)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_caller_of_a_killed_node_becomes_a_callback_swept_by_another_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("pe.db").display());
    held_caller_of_a_killed_node(&dir, &url).await;
}

/// Two nodes on one PostgreSQL database, as in production.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_another_node_sweeps_the_killed_nodes_held_caller() {
    let url = postgres_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    held_caller_of_a_killed_node(&dir, &url).await;
    drop_postgres_database(&url).await;
}

async fn held_caller_of_a_killed_node(dir: &tempfile::TempDir, url: &str) {
    let url = url.to_string();
    let config = copy_config(dir.path());
    set_config(&config, "ivr.toml", "wait_s", "2");
    let mut node_a = Node::start(&config, &url, "41000-41999");

    // A red-flag caller stays on the line and holds on node A.
    let call = Call::dial(CallConfig::new(node_a.sip))
        .await
        .expect("answered");
    answer_red_flag(&call, DtmfMethod::Rfc4733).await;
    let store = Store::connect(&url).await.expect("store");
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    let held = loop {
        if let Some(c) = holding_case(&store).await {
            break c;
        }
        assert!(tokio::time::Instant::now() < end, "no held case on node A");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(held.mode, CaseMode::Hold);

    // kill -9: no BYE, no end-of-call bookkeeping on node A.
    node_a.kill();
    drop(call);

    // Node B on the same database sweeps A's held case once A's lease lapses.
    let node_b = TestService::start_with(Some(url.clone()), |_| {}).await;
    let end = tokio::time::Instant::now() + Duration::from_secs(45);
    let case = loop {
        let c = store.get_case(held.id).await.expect("read").expect("case");
        if c.mode == CaseMode::Callback {
            break c;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "the held case of the killed node is still {:?}/{:?}",
            c.status,
            c.mode
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(case.status, CaseStatus::Waiting, "back in the queue");
    assert_eq!(case.callback_number.as_deref(), Some("+46701234567"));
    assert_eq!(case.priority.level(), 1, "keeps its level and place");
    let audit = store.audit_rows(Some(held.id), 20).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|r| r.action == "case.hold_lease_lapsed" && r.actor == "sweeper"),
        "{audit:?}"
    );
    node_b.stop().await;
}

/// A nurse whose browser died mid-case: nobody renews her claim, so any
/// node's sweeper puts the case back in the queue, audited and counted on
/// `/metrics`; a claim within its lease stays.
#[tokio::test]
async fn an_unrenewed_claim_goes_back_to_the_queue_and_is_counted() {
    use common::callback::callback_case;
    use phone_entrance::store::Actor;
    let svc = TestService::start().await;
    let store = svc.store().await;
    let nina = Actor {
        username: "nina",
        ip: None,
        may_override: false,
    };
    let now = chrono::Utc::now();
    let stale = store.insert_case(&callback_case(3)).await.expect("case");
    let fresh = store.insert_case(&callback_case(3)).await.expect("case");
    // Claimed ten minutes ago: the five-minute lease (queue.toml) ran out.
    store
        .claim(stale.id, &nina, now - chrono::TimeDelta::minutes(10))
        .await
        .expect("claim");
    store.claim(fresh.id, &nina, now).await.expect("claim");
    let end = tokio::time::Instant::now() + Duration::from_secs(20);
    while svc.case(&stale.id.to_string()).await.status != CaseStatus::Waiting
        && tokio::time::Instant::now() < end
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        svc.case(&stale.id.to_string()).await.status,
        CaseStatus::Waiting
    );
    assert_eq!(
        svc.case(&fresh.id.to_string()).await.status,
        CaseStatus::Claimed
    );
    let audit = store.audit_rows(Some(stale.id), 10).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|r| r.action == "claim.expired" && r.actor == "system"),
        "{audit:?}"
    );
    let metrics = svc.metrics().await;
    assert!(metrics.contains("pe_claims_expired_total 1"), "{metrics}");
    svc.stop().await;
}
