//! Two real nodes on one PostgreSQL database behind Kamailio
//! (ops/kamailio/kamailio.cfg), as `scripts/cluster.sh up` runs them: calls
//! through the edge spread over both nodes; after `kill -9` of one node new
//! calls land on the other, the dead node's held callers become callbacks
//! once its lease lapses, no case is lost and every worklist shows one order.

mod common;
#[path = "interop/support.rs"]
mod support;

use common::caller::answer_red_flag;
use common::kamailio::{Kamailio, KAMAILIO};
use common::node::Node;
use common::postgres::{drop_postgres_database, postgres_database};
use common::{copy_config, login_at, set_config};
use phone_entrance::store::{CaseMode, CaseRecord, CaseStatus, Role, Store};
use simulators::caller::{Call, CallConfig, DtmfMethod};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use support::{free_udp_port, metric, peer_missing};

const TEST: &str = "cluster";
/// Kamailio probes every node this often (seconds).
const PROBE_INTERVAL_S: u32 = 1;

/// Dials through the edge; the node that answered is the one its RTP goes
/// to (no media relay in between).
async fn dial(edge: SocketAddr) -> (Call, IpAddr) {
    let call = Call::dial(CallConfig::new(edge)).await.expect("answered");
    let node = call.answer().expect("SDP answer").rtp_addr.ip();
    (call, node)
}

/// `n` callers dialled one after the other, then answering the red-flag
/// questions together: they hold for a nurse.
async fn held_callers(edge: &Kamailio, n: usize) -> Vec<(Call, IpAddr)> {
    let mut calls = Vec::new();
    for _ in 0..n {
        calls.push(dial(edge.sip).await);
    }
    futures::future::join_all(
        calls
            .iter()
            .map(|(call, _)| answer_red_flag(call, DtmfMethod::Rfc4733)),
    )
    .await;
    calls
}

async fn calls_answered(node: &Node) -> f64 {
    let text = reqwest::get(format!("http://{}/metrics", node.http))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    metric(&text, "pe_calls_total").unwrap_or(0.0)
}

/// The worklist order as a nurse on `node` sees it (case ids).
async fn worklist_ids(nurse: &reqwest::Client, node: &Node) -> Vec<String> {
    let r = nurse
        .get(format!("http://{}/api/v1/worklist", node.http))
        .send()
        .await
        .expect("worklist");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let cases: Vec<serde_json::Value> = r.json().await.expect("json");
    cases
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect()
}

/// The stored worklist once `done` holds for it (within 45 s).
async fn wait_cases(store: &Store, done: impl Fn(&[CaseRecord]) -> bool) -> Vec<CaseRecord> {
    let end = tokio::time::Instant::now() + Duration::from_secs(45);
    loop {
        let cases = store.worklist().await.expect("worklist");
        if done(&cases) {
            return cases;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "the cases did not get there: {:?}",
            cases.iter().map(|c| (c.status, c.mode)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_through_kamailio_spread_and_fail_over_when_a_node_dies() {
    if !std::path::Path::new(KAMAILIO).exists() {
        peer_missing(TEST, "kamailio is not installed (apt-get install kamailio)");
    }
    let url = postgres_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = copy_config(dir.path());
    set_config(&config, "ivr.toml", "wait_s", "2");
    // Two "hosts" on loopback, each its own SIP address and RTP range.
    let mut node_a = Node::start_on(&config, &url, "46000-46499", "127.0.0.2:0");
    let node_b = Node::start_on(&config, &url, "46500-46999", "127.0.0.3:0");
    let edge_addr: SocketAddr = format!("127.0.0.1:{}", free_udp_port())
        .parse()
        .expect("addr");
    let edge = Kamailio::start(edge_addr, &[node_a.sip, node_b.sip], PROBE_INTERVAL_S, 1000);

    let store = Store::connect(&url).await.expect("store");
    let hash = phone_entrance::api::auth::hash_password("pw-nina-1177").expect("hash");
    store
        .create_user("nina", &hash, Role::Nurse, chrono::Utc::now())
        .await
        .expect("user");

    // (i) Four callers through the edge: round robin gives each node two.
    let first = held_callers(&edge, 4).await;
    let on = |ip: IpAddr| first.iter().filter(|(_, n)| *n == ip).count();
    assert_eq!(on(node_a.sip.ip()), 2, "calls on node A");
    assert_eq!(on(node_b.sip.ip()), 2, "calls on node B");
    assert_eq!(calls_answered(&node_a).await, 2.0);
    assert_eq!(calls_answered(&node_b).await, 2.0);
    let held = wait_cases(&store, |cases| {
        cases
            .iter()
            .filter(|c| c.status == CaseStatus::Holding)
            .count()
            >= 4
    })
    .await;
    assert_eq!(held.len(), 4);

    // One queue, one order, whichever node a nurse's page talks to.
    let nurse_a = login_at(node_a.http, "nina", "pw-nina-1177").await;
    let nurse_b = login_at(node_b.http, "nina", "pw-nina-1177").await;
    let order = worklist_ids(&nurse_b, &node_b).await;
    assert_eq!(order.len(), 4);
    assert_eq!(worklist_ids(&nurse_a, &node_a).await, order);

    // (ii) kill -9 node A: no BYE, no OPTIONS answers any more.
    node_a.kill();
    let killed = tokio::time::Instant::now();
    let mut after = Vec::new();
    for _ in 0..2 {
        let call = match Call::dial(CallConfig::new(edge.sip)).await {
            Ok(call) => call,
            Err(e) => panic!("not answered by node B: {e:?}; edge log {:#?}", edge.log()),
        };
        let ip = call.answer().expect("SDP answer").rtp_addr.ip();
        assert_eq!(ip, node_b.sip.ip(), "a new call after the kill");
        after.push(call);
    }
    println!(
        "two new calls answered by node B {:?} after the kill",
        killed.elapsed()
    );
    // Once a probe has marked A down, calls go to B without a failover try.
    tokio::time::sleep(Duration::from_secs(u64::from(PROBE_INTERVAL_S) * 2 + 1)).await;
    for call in &after {
        answer_red_flag(call, DtmfMethod::Rfc4733).await;
    }
    let direct = Call::dial(CallConfig::new(edge.sip))
        .await
        .expect("answered");
    assert_eq!(
        direct.answer().expect("SDP answer").rtp_addr.ip(),
        node_b.sip.ip()
    );
    answer_red_flag(&direct, DtmfMethod::Rfc4733).await;
    assert_eq!(calls_answered(&node_b).await, 5.0);
    assert!(
        edge.log().iter().any(|l| l.contains("node down")),
        "Kamailio's probe saw node A die: {:?}",
        edge.log()
    );

    // A's two held callers become callbacks to their caller ID once A's
    // lease lapses (any node's sweeper); every caller has a case.
    let cases = wait_cases(&store, |cases| {
        cases.len() >= 7
            && cases
                .iter()
                .filter(|c| c.mode == CaseMode::Callback)
                .count()
                >= 2
    })
    .await;
    assert_eq!(cases.len(), 7, "every caller's case, none lost, none twice");
    let callbacks: Vec<_> = cases
        .iter()
        .filter(|c| c.mode == CaseMode::Callback)
        .collect();
    assert_eq!(callbacks.len(), 2, "A's held callers");
    for case in &callbacks {
        assert_eq!(case.status, CaseStatus::Waiting);
        assert_eq!(case.callback_number.as_deref(), Some("+46701234567"));
        assert_eq!(case.priority.level(), 1, "keeps its level");
        let audit = store.audit_rows(Some(case.id), 20).await.expect("audit");
        assert!(
            audit
                .iter()
                .any(|r| r.action == "case.hold_lease_lapsed" && r.actor == "sweeper"),
            "{audit:?}"
        );
    }
    let ids: std::collections::HashSet<_> = cases.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), 7);
    for old in &held {
        assert!(ids.contains(&old.id), "case {} was lost", old.id);
    }
    // The surviving node's list is the database's queue order.
    let on_b = worklist_ids(&nurse_b, &node_b).await;
    let stored: Vec<String> = cases.iter().map(|c| c.id.to_string()).collect();
    assert_eq!(on_b, stored);

    drop(first);
    drop(after);
    drop(direct);
    drop(edge);
    drop(node_b);
    drop_postgres_database(&url).await;
}
