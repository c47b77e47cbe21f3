//! The fallback destination over real sockets (`sip.toml` `fallback_uri`, a
//! simulated contact-centre queue): a caller whose hold case the database
//! refuses, or who calls while the database is down (also when it was down
//! at start), hears "connecting you to a nurse queue" and is bridged there;
//! never a confirmation of a case that is not stored. Once the database is
//! there, the node turns ready by itself and calls register again.

mod common;

use common::audio::find_prompt;
use common::caller::{
    after_greeting, answer_red_flag, answer_until_offer, decline_sms, press, wait_for_prompt,
};
use common::TestService;
use phone_entrance::media::g711::Codec;
use phone_entrance::store::{CaseMode, Store};
use simulators::caller::{Call, CallConfig, CallError, DtmfMethod};
use simulators::mini_uas::{MiniUas, UasBehavior};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;
use tokio::net::UdpSocket;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const M: DtmfMethod = DtmfMethod::Rfc4733;

/// The contact centre's queue: answers, plays 1000 Hz for the whole call
/// and listens for the caller's 600 Hz.
async fn queue() -> MiniUas {
    MiniUas::start(
        LOCAL,
        UasBehavior {
            tone_hz: 1000.0,
            prompt: UasBehavior::WHOLE_CALL,
            detect_hz: Some(600.0),
            ..Default::default()
        },
    )
    .await
    .expect("simulated fallback queue starts")
}

/// Points the copied `sip.toml` at `queue` (and shortens the 112 advice).
fn with_fallback(dir: &Path, queue: SocketAddr) {
    let path = dir.join("sip.toml");
    let mut text = std::fs::read_to_string(&path).expect("sip.toml");
    text.push_str(&format!("fallback_uri = \"sip:queue@{queue}\"\n"));
    std::fs::write(&path, text).expect("write sip.toml");
    common::set_config(dir, "ivr.toml", "wait_s", "2");
}

async fn metrics(svc: &TestService) -> String {
    reqwest::get(svc.http_url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

async fn readyz(svc: &TestService) -> u16 {
    reqwest::get(svc.http_url("/readyz"))
        .await
        .expect("readyz")
        .status()
        .as_u16()
}

/// Polls `/readyz` until it answers `want` (the probe runs every 2 s).
async fn readyz_until(svc: &TestService, want: u16, within: Duration) {
    let end = tokio::time::Instant::now() + within;
    loop {
        let got = readyz(svc).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "/readyz stayed {got}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The status of one SIP OPTIONS to the service.
async fn options(sip: SocketAddr) -> u16 {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let me = sock.local_addr().expect("addr");
    let branch = format!("z9hG4bK{}", uuid::Uuid::new_v4().simple());
    let msg = format!(
        "OPTIONS sip:1177@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch}\r\n\
Max-Forwards: 70\r\nFrom: <sip:probe@{me}>;tag=p1\r\nTo: <sip:1177@{sip}>\r\n\
Call-ID: {branch}@probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(msg.as_bytes(), sip).await.expect("send");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(3), sock.recv(&mut buf))
        .await
        .expect("OPTIONS answered")
        .expect("recv");
    let text = String::from_utf8_lossy(&buf[..n]);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line")
}

/// Waits until the queue has answered one call, and returns its Call-ID.
async fn queue_answered(queue: &MiniUas) -> String {
    let end = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some((id, _)) = queue.calls().into_iter().find(|(_, c)| c.answered) {
            return id;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "the fallback queue was never called"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The caller and the queue hear each other through the bridge.
async fn assert_bridged(call: &Call, queue: &MiniUas, queue_call: &str) {
    let tone: Vec<i16> = (0..8000 * 2)
        .map(|i| ((i as f64 * 2.0 * std::f64::consts::PI * 600.0 / 8000.0).sin() * 12000.0) as i16)
        .collect();
    call.play_audio(tone).expect("play");
    call.wait_sent().await.expect("sent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let q = queue.call(queue_call).expect("queue call");
    assert!(
        q.tone_frames_detected > 50,
        "the caller's 600 Hz reached the queue: {q:?}"
    );
    assert!(
        call.tone_frames(1000.0) > 50,
        "the queue's 1000 Hz reached the caller"
    );
}

/// Ends the call from the caller's side; the queue gets our BYE.
async fn hang_up(call: &Call, queue: &MiniUas, queue_call: &str) {
    call.hangup().await.expect("hangup");
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    while !queue.call(queue_call).is_some_and(|c| c.bye_received) {
        assert!(
            tokio::time::Instant::now() < end,
            "the queue leg was not hung up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn heard(call: &Call, id: &str) -> bool {
    !find_prompt(&call.received_audio().samples(), "sv", id, Codec::Pcmu).is_empty()
}

#[tokio::test]
async fn a_hold_the_database_refuses_is_bridged_to_the_fallback_queue() {
    let queue = queue().await;
    let svc = TestService::start_with(None, |dir| with_fallback(dir, queue.addr)).await;
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    // The cases table is gone (a broken disk or database): the red-flag
    // caller's hold case cannot be stored; the heartbeat still works.
    let pool = sqlx::SqlitePool::connect(&svc.database_url)
        .await
        .expect("sqlite");
    sqlx::query("ALTER TABLE cases RENAME TO cases_broken")
        .execute(&pool)
        .await
        .expect("rename");
    answer_red_flag(&call, M).await;
    wait_for_prompt(&call, "fallback_connecting", Duration::from_secs(20)).await;
    let queue_call = queue_answered(&queue).await;
    assert_bridged(&call, &queue, &queue_call).await;
    assert!(!heard(&call, "hold_music"), "nobody holds without a case");
    assert!(!heard(&call, "hold_unavailable"), "the queue answered");
    let text = metrics(&svc).await;
    assert!(text.contains("\npe_fallback_transfers_total 1\n"), "{text}");
    assert!(text.contains("\npe_fallback_failures_total 0\n"), "{text}");
    assert!(text.contains("pe_ivr_outcomes_total{outcome=\"fallback\"} 1"));
    assert!(text.contains("pe_ivr_outcomes_total{outcome=\"held\"} 0"));
    hang_up(&call, &queue, &queue_call).await;
    sqlx::query("ALTER TABLE cases_broken RENAME TO cases")
        .execute(&pool)
        .await
        .expect("rename back");
    assert!(svc.worklist().await.is_empty(), "no case was claimed");
    svc.stop().await;
}

#[tokio::test]
async fn a_fallback_that_does_not_answer_leaves_the_call_again_message() {
    let queue = MiniUas::start(
        LOCAL,
        UasBehavior {
            reject: Some(486),
            ..Default::default()
        },
    )
    .await
    .expect("queue");
    let svc = TestService::start_with(None, |dir| with_fallback(dir, queue.addr)).await;
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    let pool = sqlx::SqlitePool::connect(&svc.database_url)
        .await
        .expect("sqlite");
    sqlx::query("ALTER TABLE cases RENAME TO cases_broken")
        .execute(&pool)
        .await
        .expect("rename");
    answer_red_flag(&call, M).await;
    wait_for_prompt(&call, "hold_unavailable", Duration::from_secs(25)).await;
    assert!(heard(&call, "fallback_connecting"));
    assert_eq!(queue.calls().len(), 1, "the queue was tried");
    let text = metrics(&svc).await;
    assert!(text.contains("\npe_fallback_failures_total 1\n"), "{text}");
    assert!(text.contains("\npe_fallback_transfers_total 0\n"), "{text}");
    let _ = call.hangup().await;
    svc.stop().await;
}

/// Starts the service on `url` while its database is not there, checks that
/// it is not ready and sends callers to the fallback, then `appear`s the
/// database and checks that the node turns ready and registers cases.
async fn starts_without_its_database(url: String, appear: impl std::future::Future<Output = ()>) {
    let queue = queue().await;
    let svc =
        TestService::start_with(Some(url.clone()), |dir| with_fallback(dir, queue.addr)).await;
    assert_eq!(readyz(&svc).await, 503, "no database: not ready");
    assert_eq!(options(svc.sip_addr()).await, 503);
    // A call that reaches the node anyway goes to the fallback at once.
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    wait_for_prompt(&call, "fallback_connecting", Duration::from_secs(10)).await;
    let queue_call = queue_answered(&queue).await;
    assert_bridged(&call, &queue, &queue_call).await;
    assert!(
        !heard(&call, "welcome"),
        "no questions that cannot be stored"
    );
    hang_up(&call, &queue, &queue_call).await;

    appear.await;
    readyz_until(&svc, 200, Duration::from_secs(20)).await;
    assert_eq!(options(svc.sip_addr()).await, 200);
    // Migrated and taking cases: a caller confirms a callback.
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    answer_until_offer(&call, M).await;
    press(&call, "1", M).await;
    decline_sms(&call, M).await;
    wait_for_prompt(&call, "callback_registered", Duration::from_secs(15)).await;
    let cases = Store::connect(&url)
        .await
        .expect("store")
        .worklist()
        .await
        .expect("worklist");
    assert_eq!(cases.len(), 1, "the confirmed case is stored");
    assert_eq!(cases[0].mode, CaseMode::Callback);
    let _ = call.hangup().await;
    assert_eq!(
        queue.calls().len(),
        1,
        "only the first call went to the queue"
    );
    svc.stop().await;
}

#[tokio::test]
async fn sqlite_not_there_at_start_then_created() {
    // The database's directory cannot be made yet (a file is in the way,
    // like an unmounted volume); it can once the file is gone.
    let outer = tempfile::tempdir().expect("tempdir");
    let blocker = outer.path().join("volume");
    std::fs::write(&blocker, b"not a directory").expect("blocker");
    let url = format!("sqlite:{}", blocker.join("pe.db").display());
    starts_without_its_database(url, async move {
        std::fs::remove_file(&blocker).expect("remove blocker");
    })
    .await;
}

#[tokio::test]
async fn postgres_database_created_after_start() {
    let base = std::env::var("PE_TEST_POSTGRES_URL").expect(
        "PE_TEST_POSTGRES_URL: start PostgreSQL with eval \"$(bash .ci/start-postgres.sh)\"",
    );
    let name = format!("pe_late_{}", uuid::Uuid::new_v4().simple());
    let (server, _) = base.rsplit_once('/').expect("URL with a database name");
    let url = format!("{server}/{name}");
    let create = async {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&base).await.expect("postgres");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create database");
    };
    starts_without_its_database(url, create).await;
    use sqlx::Connection;
    if let Ok(mut admin) = sqlx::PgConnection::connect(&base).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await;
    }
}

#[tokio::test]
async fn without_a_fallback_invites_get_503_while_the_database_is_not_there() {
    let outer = tempfile::tempdir().expect("tempdir");
    let blocker = outer.path().join("volume");
    std::fs::write(&blocker, b"not a directory").expect("blocker");
    let url = format!("sqlite:{}", blocker.join("pe.db").display());
    let svc = TestService::start_with(Some(url), |_| {}).await;
    assert_eq!(readyz(&svc).await, 503);
    match Call::dial(CallConfig::new(svc.sip_addr())).await {
        Err(CallError::Rejected(503)) => {}
        other => panic!("expected 503, got {:?}", other.map(|_| "answered")),
    }
    assert!(metrics(&svc)
        .await
        .contains("\npe_calls_rejected_not_ready_total 1\n"));
    std::fs::remove_file(&blocker).expect("remove blocker");
    readyz_until(&svc, 200, Duration::from_secs(20)).await;
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered once ready");
    after_greeting(&call, &[]).await;
    let _ = call.hangup().await;
    svc.stop().await;
}

/// A PostgreSQL cluster of this test's own (`.ci/start-postgres.sh` on a
/// free port), so that it can be stopped and started under the service.
struct Cluster {
    bin: String,
    dir: String,
    port: u16,
    url: String,
}

impl Cluster {
    fn start_new() -> Cluster {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let out = std::process::Command::new("bash")
            .arg(common::repo_root().join(".ci/start-postgres.sh"))
            .env("PE_PG_PORT", port.to_string())
            .output()
            .expect("run .ci/start-postgres.sh");
        assert!(
            out.status.success(),
            "a PostgreSQL cluster for this test: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let exports = String::from_utf8_lossy(&out.stdout).to_string();
        let var = |name: &str| {
            exports
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("start-postgres.sh printed no {name}: {exports}"))
                .to_string()
        };
        Cluster {
            bin: var("PE_TEST_POSTGRES_BIN"),
            dir: var("PE_TEST_POSTGRES_DIR"),
            port,
            url: var("PE_TEST_POSTGRES_URL"),
        }
    }

    /// Runs `pg_ctl` with `args` (as the `postgres` user when we are root).
    fn pg_ctl(&self, args: &[&str]) -> bool {
        let pg_ctl = format!("{}/pg_ctl", self.bin);
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"));
        let mut cmd = if root {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--", &pg_ctl]);
            c
        } else {
            std::process::Command::new(&pg_ctl)
        };
        cmd.args(["-D", &format!("{}/data", self.dir)])
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    }

    fn stop(&self) {
        assert!(self.pg_ctl(&["-m", "fast", "-w", "stop"]), "pg_ctl stop");
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port, self.dir
        );
        let log = format!("{}/server.log", self.dir);
        assert!(
            self.pg_ctl(&["-l", &log, "-w", "-t", "60", "-o", &options, "start"]),
            "pg_ctl start"
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn postgres_stopped_mid_run_sends_callers_to_the_fallback_and_recovers() {
    let cluster = Cluster::start_new();
    let queue = queue().await;
    let svc = TestService::start_with(Some(cluster.url.clone()), |dir| {
        with_fallback(dir, queue.addr)
    })
    .await;
    readyz_until(&svc, 200, Duration::from_secs(10)).await;
    // A caller is at the callback offer (its estimate was read) when the
    // database stops.
    let first = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    answer_until_offer(&first, M).await;
    cluster.stop();
    press(&first, "1", M).await; // confirm: the registration fails
    decline_sms(&first, M).await;
    wait_for_prompt(&first, "register_failed", Duration::from_secs(15)).await;
    press(&first, "1", M).await; // hold instead: that fails too
    wait_for_prompt(&first, "fallback_connecting", Duration::from_secs(15)).await;
    let queue_call = queue_answered(&queue).await;
    assert_bridged(&first, &queue, &queue_call).await;
    assert!(
        !heard(&first, "callback_registered"),
        "no false confirmation"
    );
    assert!(!heard(&first, "hold_music"), "nobody holds without a case");
    hang_up(&first, &queue, &queue_call).await;
    readyz_until(&svc, 503, Duration::from_secs(15)).await;
    assert_eq!(options(svc.sip_addr()).await, 503);
    // A caller while it is down goes to the queue at once.
    let second = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    wait_for_prompt(&second, "fallback_connecting", Duration::from_secs(10)).await;
    let end = tokio::time::Instant::now() + Duration::from_secs(20);
    while queue.calls().values().filter(|c| c.answered).count() < 2 {
        assert!(
            tokio::time::Instant::now() < end,
            "second caller not bridged"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = second.hangup().await;

    cluster.start();
    readyz_until(&svc, 200, Duration::from_secs(20)).await;
    assert_eq!(options(svc.sip_addr()).await, 200);
    let third = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    answer_until_offer(&third, M).await;
    press(&third, "1", M).await;
    decline_sms(&third, M).await;
    wait_for_prompt(&third, "callback_registered", Duration::from_secs(15)).await;
    let cases = Store::connect(&cluster.url)
        .await
        .expect("store")
        .worklist()
        .await
        .expect("worklist");
    assert_eq!(cases.len(), 1, "only the confirmed case is stored");
    assert_eq!(cases[0].mode, CaseMode::Callback);
    let _ = third.hangup().await;
    let text = metrics(&svc).await;
    assert!(text.contains("\npe_fallback_transfers_total 2\n"), "{text}");
    svc.stop().await;
}
