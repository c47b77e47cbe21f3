//! Chaos: the real binary is killed with SIGKILL at a random moment during
//! 50 concurrent calls, five rounds, each restart on the same database and
//! SIP port. Every caller who heard a confirmation has exactly one case,
//! every caller who held has a callback once the leases are swept, nothing
//! is duplicated, and the old calls' dialogs get 481 from the new process.

mod common;

use common::audio::find_prompt;
use common::caller::{answer_red_flag, answer_until_offer, decline_sms, press};
use common::node::Node;
use common::{copy_config, set_config};
use phone_entrance::media::g711::Codec;
use phone_entrance::store::{CaseMode, CaseStatus, Store};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use simulators::caller::{Call, CallConfig, DtmfMethod};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const ROUNDS: u32 = 5;
const CALLS: u32 = 50;
const M: DtmfMethod = DtmfMethod::Rfc4733;

#[derive(Clone, Copy, Debug)]
enum Script {
    /// Level 4 callback, confirmed with 1.
    Callback,
    /// Red flag: held for a nurse.
    RedFlag,
    /// Level 4, chooses to hold (3) at the offer.
    ChoosesHold,
}

async fn walk(call: &Call, script: Script) {
    match script {
        Script::Callback => {
            answer_until_offer(call, M).await;
            press(call, "1", M).await;
            decline_sms(call, M).await;
        }
        Script::RedFlag => answer_red_flag(call, M).await,
        Script::ChoosesHold => {
            answer_until_offer(call, M).await;
            press(call, "3", M).await;
        }
    }
    // Stay on the line until the kill.
    std::future::pending::<()>().await;
}

struct Placed {
    number: String,
    call: Arc<Call>,
}

/// What a caller heard, read from the audio after the kill.
fn heard(call: &Call, id: &str) -> bool {
    !find_prompt(&call.received_audio().samples(), "sv", id, Codec::Pcmu).is_empty()
}

/// An in-dialog BYE for a dialog the restarted process never saw; its status.
async fn stale_bye(server: SocketAddr, call_id: &str) -> u16 {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("udp");
    let local = sock.local_addr().expect("addr");
    let bye = format!(
        "BYE sip:1177@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKstale{}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:caller@{local}>;tag=oldfrom\r\n\
         To: <sip:1177@{server}>;tag=oldto\r\nCall-ID: {call_id}\r\nCSeq: 9 BYE\r\n\
         Content-Length: 0\r\n\r\n",
        rand::random::<u32>()
    );
    sock.send_to(bye.as_bytes(), server).await.expect("send");
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .expect("an answer to the stale BYE")
        .expect("recv");
    let text = String::from_utf8_lossy(&buf[..n]);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_50_calls_five_times_loses_no_case() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = copy_config(dir.path());
    set_config(&config, "ivr.toml", "wait_s", "2");
    let url = format!("sqlite:{}", dir.path().join("pe.db").display());
    let sip_bind = format!("127.0.0.1:{}", free_port());
    let mut rng = SmallRng::seed_from_u64(1177);
    // number -> (heard a confirmation, held)
    let mut expect: HashMap<String, (bool, bool)> = HashMap::new();
    let mut stale: Vec<String> = Vec::new();
    let mut kills = Vec::new();

    for round in 0..ROUNDS {
        let mut node = Node::start_on(&config, &url, "43000-43999", &sip_bind);
        if let Some(call_id) = stale.pop() {
            assert_eq!(
                stale_bye(node.sip, &call_id).await,
                481,
                "a dialog of the killed process"
            );
        }
        let mut placed = Vec::new();
        let mut walks = Vec::new();
        for i in 0..CALLS {
            let number = format!("+46702{round}{i:05}");
            let script = match rng.gen_range(0..4) {
                0 => Script::RedFlag,
                1 => Script::ChoosesHold,
                _ => Script::Callback,
            };
            let mut cfg = CallConfig::new(node.sip);
            cfg.from_user = number.clone();
            let start_after = Duration::from_millis(rng.gen_range(0..8_000));
            let (tx, rx) = tokio::sync::oneshot::channel();
            walks.push(tokio::spawn(async move {
                tokio::time::sleep(start_after).await;
                let call = Arc::new(Call::dial(cfg).await.expect("answered"));
                let _ = tx.send(call.clone());
                walk(&call, script).await;
            }));
            placed.push((number, rx));
        }
        let kill_after = Duration::from_millis(rng.gen_range(10_000..40_000));
        tokio::time::sleep(kill_after).await;
        node.kill();
        kills.push(kill_after);
        for w in &walks {
            w.abort();
        }
        let placed: Vec<Placed> = placed
            .into_iter()
            .filter_map(|(number, mut rx)| rx.try_recv().ok().map(|call| Placed { number, call }))
            .collect();
        for p in &placed {
            let confirmed = heard(&p.call, "callback_registered");
            let held = heard(&p.call, "hold_music");
            expect.insert(p.number.clone(), (confirmed, held));
        }
        if let Some(p) = placed.first() {
            stale.push(p.call.call_id());
        }
        eprintln!(
            "round {round}: killed after {kill_after:?}, {} calls up, {} confirmed, {} held",
            placed.len(),
            placed.iter().filter(|p| expect[&p.number].0).count(),
            placed.iter().filter(|p| expect[&p.number].1).count(),
        );
    }

    // A last restart sweeps the held cases of the killed runs.
    let node = Node::start_on(&config, &url, "43000-43999", &sip_bind);
    if let Some(call_id) = stale.pop() {
        assert_eq!(stale_bye(node.sip, &call_id).await, 481);
    }
    let store = Store::connect(&url).await.expect("store");
    let end = tokio::time::Instant::now() + Duration::from_secs(60);
    let cases = loop {
        let cases = store.worklist().await.expect("worklist");
        if cases.iter().all(|c| c.status != CaseStatus::Holding) {
            break cases;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "held cases of killed runs were never swept"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    drop(node);

    let mut per_number: HashMap<&str, Vec<_>> = HashMap::new();
    for c in &cases {
        let n = c
            .callback_number
            .as_deref()
            .expect("every phone case has a number");
        per_number.entry(n).or_default().push(c);
    }
    for (number, found) in &per_number {
        assert_eq!(found.len(), 1, "duplicate cases for {number}");
    }
    let (mut confirmed, mut held) = (0, 0);
    for (number, (heard_confirmation, heard_hold)) in &expect {
        let case = per_number.get(number.as_str()).and_then(|v| v.first());
        if *heard_confirmation {
            confirmed += 1;
            let case = case.unwrap_or_else(|| panic!("{number} heard a confirmation: no case"));
            assert_eq!(case.mode, CaseMode::Callback);
        }
        if *heard_hold {
            held += 1;
            let case = case.unwrap_or_else(|| panic!("{number} held without a case"));
            assert_eq!(
                (case.status, case.mode),
                (CaseStatus::Waiting, CaseMode::Callback),
                "{number}: a held caller of a killed run is a callback now"
            );
        }
    }
    eprintln!(
        "chaos: {ROUNDS} kills at {kills:?}, {} calls, {confirmed} confirmed, {held} held, \
         {} cases, 0 lost, 0 duplicated",
        expect.len(),
        cases.len()
    );
    assert!(
        confirmed > 0 && held > 0,
        "the kills should catch both kinds"
    );
}
