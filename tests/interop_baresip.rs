//! Interop: baresip (Debian's independent SIP user agent, not our code) calls
//! the service, answers the IVR with RFC 4733 digits and registers a callback.
//!
//! baresip runs headless: UDP (or TCP) only, G.711 u-law, a sine-wave source, no audio
//! device, driven over its `ctrl_tcp` interface (netstring-framed JSON:
//! `dial`, `sndcode`, `quit`; it reports `CALL_ESTABLISHED`, `CALL_CLOSED`).
//! Skipped with a note when baresip is missing, failed instead when `CI` is set.
//!
//! Run: `cargo test --test interop_baresip -- --nocapture`.

mod common;
#[path = "interop/support.rs"]
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{prompt_seconds, TestService};
use phone_entrance::store::{CaseMode, CaseStatus};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const MODULES: [&str; 5] = [
    "g711.so",
    "ausine.so",
    "account.so",
    "menu.so",
    "ctrl_tcp.so",
];

/// Where Debian (and a source build) put baresip's modules; `BARESIP_MODULES` overrides.
fn module_dir() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var_os("BARESIP_MODULES")
        .map(|p| vec![PathBuf::from(p)])
        .unwrap_or_else(|| {
            [
                "/usr/lib/baresip/modules",
                "/usr/lib/x86_64-linux-gnu/baresip/modules",
                "/usr/local/lib/baresip/modules",
            ]
            .iter()
            .map(PathBuf::from)
            .collect()
        });
    candidates
        .into_iter()
        .find(|d| MODULES.iter().all(|m| d.join(m).exists()))
}

/// `Ok(modules dir)` when baresip can run here; otherwise why not.
fn baresip_ready() -> Result<PathBuf, String> {
    if !support::installed("baresip", "-h") {
        return Err("baresip is not installed (apt-get install -y baresip-core)".into());
    }
    module_dir()
        .ok_or_else(|| format!("baresip modules {MODULES:?} not found (set BARESIP_MODULES)"))
}

fn fill(template: &str, vars: &[(&str, String)]) -> String {
    vars.iter().fold(template.to_string(), |t, (k, v)| {
        t.replace(&format!("{{{{{k}}}}}"), v)
    })
}

/// A running baresip; killed (and reaped) on drop so a failed test leaves nothing behind.
struct Baresip {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Baresip {
    fn spawn(modules: &Path, ctrl_port: u16, user: &str, transport: &str) -> Baresip {
        Baresip::spawn_with(modules, ctrl_port, user, transport, None, "")
    }

    /// `account` replaces the template's account line; `extra_config` lines
    /// are appended to the config (modules, TLS CA, ...).
    fn spawn_with(
        modules: &Path,
        ctrl_port: u16,
        user: &str,
        transport: &str,
        account: Option<&str>,
        extra_config: &str,
    ) -> Baresip {
        let dir = tempfile::tempdir().expect("tempdir");
        // A 100-port window for RTP per instance (by its control port) so parallel runs rarely meet.
        let low = 42000 + 100 * (ctrl_port % 80);
        let vars = [
            ("RTP_LOW", low.to_string()),
            ("RTP_HIGH", (low + 99).to_string()),
            ("MODULE_PATH", modules.display().to_string()),
            ("CTRL_PORT", ctrl_port.to_string()),
            ("USER", user.to_string()),
            ("TRANSPORT", transport.to_string()),
        ];
        let config = fill(include_str!("interop/baresip/config.tmpl"), &vars) + extra_config;
        std::fs::write(dir.path().join("config"), config).expect("config");
        let accounts = match account {
            Some(line) => format!("{line}\n"),
            None => fill(include_str!("interop/baresip/accounts.tmpl"), &vars),
        };
        std::fs::write(dir.path().join("accounts"), accounts).expect("accounts");
        let log = dir.path().join("baresip.log");
        let out = std::fs::File::create(&log).expect("log");
        let err = out.try_clone().expect("log");
        // -s: SIP trace into the log, which the test reads for the BYE.
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .arg("-s")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn baresip");
        Baresip {
            child,
            log,
            _dir: dir,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for baresip to exit by itself (after `quit`), so its log is flushed.
    async fn wait_exit(&mut self, timeout: Duration) -> bool {
        let end = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// baresip's ctrl_tcp: netstrings (`len:json,`) both ways.
struct Ctrl {
    writer: OwnedWriteHalf,
    messages: mpsc::UnboundedReceiver<Value>,
    /// Everything seen so far, for assertions and failure messages.
    seen: Vec<Value>,
    next_token: u32,
}

impl Ctrl {
    async fn connect(port: u16, timeout: Duration) -> Ctrl {
        let end = tokio::time::Instant::now() + timeout;
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", port)).await {
                Ok(s) => break s,
                Err(e) if tokio::time::Instant::now() > end => {
                    panic!("baresip ctrl_tcp on {port}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let (mut reader, writer) = stream.into_split();
        let (tx, messages) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n) = reader.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                while let Some((msg, used)) = parse_netstring(&buf) {
                    buf.drain(..used);
                    if let Ok(v) = serde_json::from_slice::<Value>(&msg) {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ctrl {
            writer,
            messages,
            seen: Vec::new(),
            next_token: 0,
        }
    }

    /// Sends a command and waits for its response; panics if baresip refuses it.
    async fn command(&mut self, command: &str, params: &str) {
        self.next_token += 1;
        let token = format!("t{}", self.next_token);
        let body = json!({ "command": command, "params": params, "token": token }).to_string();
        let frame = format!("{}:{},", body.len(), body);
        self.writer
            .write_all(frame.as_bytes())
            .await
            .expect("ctrl write");
        let resp = self
            .wait_for(Duration::from_secs(10), |v| {
                v["response"] == true && v["token"] == token.as_str()
            })
            .await
            .unwrap_or_else(|| panic!("no response to {command}; seen {:?}", self.seen));
        assert_eq!(resp["ok"], true, "{command} {params}: {resp}");
    }

    /// The first message (from now on) matching `pred`, or `None` after `timeout`.
    async fn wait_for(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let end = tokio::time::Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.messages.recv()).await {
                Ok(Some(v)) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return Some(v);
                    }
                }
                Ok(None) | Err(_) => return None,
            }
        }
    }

    async fn wait_event(&mut self, kind: &str, timeout: Duration) -> Option<Value> {
        self.wait_for(timeout, |v| v["event"] == true && v["type"] == kind)
            .await
    }

    /// One key as an RFC 4733 event (baresip sends start, updates and three end packets).
    async fn key(&mut self, key: char) {
        self.command("sndcode", &key.to_string()).await;
    }

    fn saw_event(&self, kind: &str) -> bool {
        self.seen
            .iter()
            .any(|v| v["event"] == true && v["type"] == kind)
    }
}

/// `len:payload,` at the front of `buf` -> (payload, bytes used).
fn parse_netstring(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    let colon = buf.iter().position(|&b| b == b':')?;
    let len: usize = std::str::from_utf8(buf.get(..colon)?)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let payload = buf.get(colon + 1..colon + 1 + len)?;
    (buf.get(colon + 1 + len) == Some(&b',')).then(|| (payload.to_vec(), colon + len + 2))
}

/// SIP requests in baresip's `-s` trace: (direction "in"/"out", method line).
fn traced_requests(log: &str, service: SocketAddr, transport: &str) -> Vec<(&'static str, String)> {
    let proto = transport.to_ascii_uppercase();
    let from_service = format!("{proto} {service} -> ");
    let to_service = format!(" -> {service}");
    let mut out = Vec::new();
    let mut dir = None;
    for line in log.lines() {
        if line.starts_with(&format!("{proto} ")) {
            dir = if line.starts_with(&from_service) {
                Some("in")
            } else if line.ends_with(&to_service) {
                Some("out")
            } else {
                None
            };
            continue;
        }
        if let Some(d) = dir.take() {
            if !line.starts_with("SIP/2.0") {
                out.push((d, line.to_string()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_green_call_registers_callback_and_service_hangs_up() {
    green_call("udp", "+46701234567").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_green_call_over_tcp() {
    green_call("tcp", "+46731234567").await;
}

/// A live call from baresip to a fresh service.
struct Dialled {
    svc: TestService,
    bs: Baresip,
    ctrl: Ctrl,
    call_id: String,
}

/// Starts the service and baresip and places the call; `None` when skipped.
async fn dial(transport: &str, caller: &str) -> Option<Dialled> {
    let modules = match baresip_ready() {
        Ok(m) => m,
        Err(reason) => {
            support::peer_missing("interop_baresip", &reason);
            return None;
        }
    };
    let svc = TestService::start().await;
    let sip = svc.sip_addr();
    let ctrl_port = support::free_tcp_port();
    let bs = Baresip::spawn(&modules, ctrl_port, caller, transport);
    let mut ctrl = Ctrl::connect(ctrl_port, Duration::from_secs(10)).await;
    let target = match transport {
        "tcp" => format!("sip:1177@{sip};transport=tcp"),
        _ => format!("sip:1177@{sip}"),
    };
    ctrl.command("dial", &target).await;
    let est = ctrl
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(15))
        .await;
    let est = est.unwrap_or_else(|| {
        panic!(
            "call not established; seen {:?}\n{}",
            ctrl.seen,
            bs.log_text()
        )
    });
    let call_id = est["id"].as_str().expect("call id").to_string();
    Some(Dialled {
        svc,
        bs,
        ctrl,
        call_id,
    })
}

/// Keys during the greeting are ignored on purpose: wait it out, so that the
/// next key answers the language question during its prompt (barge-in).
async fn wait_out_greeting() {
    let greeting = prompt_seconds("sv", "welcome") + prompt_seconds("sv", "emergency_112");
    tokio::time::sleep(Duration::from_secs_f64(greeting + 1.2)).await;
}

/// The green call (see tests/common and /tmp/smoke/green.toml) from baresip over `transport`.
async fn green_call(transport: &str, caller: &str) {
    let Some(Dialled {
        svc,
        mut bs,
        mut ctrl,
        call_id,
    }) = dial(transport, caller).await
    else {
        return;
    };
    let sip = svc.sip_addr();
    wait_out_greeting().await;
    // Swedish, adult, five red flags "no", fever, days, not worsening, skip personnummer.
    for key in "1322222122#".chars() {
        ctrl.key(key).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    // The estimate and the callback offer start; confirm the caller-ID number.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    ctrl.key('1').await;
    // "An SMS about your callback?": no.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ctrl.key('2').await;

    // The service reads the confirmation and says goodbye, then sends BYE.
    let closed = ctrl
        .wait_event("CALL_CLOSED", Duration::from_secs(60))
        .await;
    let closed = closed.unwrap_or_else(|| panic!("call never ended; seen {:?}", ctrl.seen));
    assert_eq!(
        closed["param"], "Connection reset by peer",
        "closed by the far end: {closed}"
    );
    assert!(!ctrl.saw_event("CALL_FAILED"));

    let cases = svc.wait_for_cases(1, Duration::from_secs(10)).await;
    let case = cases
        .iter()
        .find(|c| c.call_id.as_deref() == Some(call_id.as_str()))
        .unwrap_or_else(|| panic!("no case for call {call_id}: {cases:?}"));
    support::assert_green_case(case, caller);

    // The SIP trace: the BYE came from the service, baresip sent none.
    ctrl.command("quit", "").await;
    assert!(
        bs.wait_exit(Duration::from_secs(10)).await,
        "baresip did not quit"
    );
    let log = bs.log_text();
    let requests = traced_requests(&log, sip, transport);
    assert!(
        requests
            .iter()
            .any(|(d, l)| *d == "in" && l.starts_with("BYE ")),
        "no BYE from the service in baresip's trace: {requests:?}"
    );
    assert!(
        !requests
            .iter()
            .any(|(d, l)| *d == "out" && l.starts_with("BYE ")),
        "baresip hung up itself: {requests:?}"
    );
    assert!(
        log.contains("send DTMF digit end: '#'"),
        "baresip sent RFC 4733 events"
    );
    svc.stop().await;
}

#[test]
fn netstring_parses_complete_frames_only() {
    assert_eq!(parse_netstring(b"3:abc,rest"), Some((b"abc".to_vec(), 6)));
    assert_eq!(parse_netstring(b"3:ab"), None);
    assert_eq!(parse_netstring(b"3:abcd"), None);
    assert_eq!(parse_netstring(b"x:abc,"), None);
}

/// Red flag (breathing: yes): 112 advice, then a level-1 hold in the queue;
/// the caller hangs up while hold music plays (BYE from baresip) and the case
/// stays, turned into a callback to the caller ID (DESIGN.md section 4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_red_flag_caller_hangs_up_in_queue_keeps_case() {
    // "connecting_nurse" (3.7 s) plays before the hold music.
    red_flag_hangup("+46761234567", Duration::from_secs(6)).await;
}

/// The same, hanging up while "connecting_nurse" still plays, right after
/// the case was stored. Fails on c3bd8df: the inbound call (then `app::call`) turns a held case into
/// a callback only once `IvrAction::Hold` has set `holding` (after that
/// prompt), so the case stays `holding`/`hold` with nobody on the line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_red_flag_hangup_during_hold_announcement_keeps_case() {
    red_flag_hangup("+46761234568", Duration::from_millis(300)).await;
}

/// Red-flag call; hangs up `after_case` after the holding case appears.
async fn red_flag_hangup(caller: &str, after_case: Duration) {
    let Some(Dialled {
        svc,
        bs: _bs,
        mut ctrl,
        call_id,
    }) = dial("udp", caller).await
    else {
        return;
    };
    wait_out_greeting().await;
    // Swedish, adult, severe breathing difficulty: yes.
    for key in "131".chars() {
        ctrl.key(key).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    // The advice plays (and waits), then the case is registered as holding.
    let end = tokio::time::Instant::now() + Duration::from_secs(60);
    let held = loop {
        let cases = svc.worklist().await;
        if let Some(c) = cases
            .into_iter()
            .find(|c| c.call_id.as_deref() == Some(call_id.as_str()))
        {
            break c;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "no holding case for {call_id}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(held.priority.level(), 1);
    assert!(held.red_flag);
    assert_eq!(held.mode, CaseMode::Hold);
    assert!(
        ctrl.wait_event("CALL_CLOSED", Duration::from_millis(500))
            .await
            .is_none(),
        "still holding"
    );

    tokio::time::sleep(after_case).await;
    // baresip 1.0 reports no CALL_CLOSED for its own hangup: the case shows it.
    ctrl.command("hangup", "").await;
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    let case = loop {
        let cases = svc.worklist().await;
        let c = cases
            .into_iter()
            .find(|c| c.call_id.as_deref() == Some(call_id.as_str()));
        match c {
            Some(c) if c.mode == CaseMode::Callback => break c,
            _ if tokio::time::Instant::now() > end => panic!(
                "case not turned into a callback: {:?}",
                svc.worklist().await
            ),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    assert_eq!(case.status, CaseStatus::Waiting);
    assert_eq!(case.priority.level(), 1, "stays at the head of the queue");
    assert_eq!(case.callback_number.as_deref(), Some(caller));
    let answers: Vec<(&str, &str)> = case
        .answers
        .iter()
        .map(|a| (a.question_id.as_str(), a.value.as_str()))
        .collect();
    assert_eq!(
        answers,
        [("about", "adult"), ("rf_breathing", "yes")],
        "{case:?}"
    );
    svc.stop().await;
}

// ---- SIP over TLS and SRTP (SDES) -------------------------------------

/// Modules the TLS tests load besides `MODULES`: SDES SRTP, and the audio
/// dumper that writes what baresip decoded (after SRTP) to a WAV file.
const TLS_MODULES: [&str; 2] = ["srtp.so", "sndfile.so"];

/// baresip with its TLS modules, or why not.
fn baresip_tls_ready(test: &str) -> Option<PathBuf> {
    let modules = match baresip_ready() {
        Ok(m) => m,
        Err(reason) => {
            support::peer_missing(test, &reason);
            return None;
        }
    };
    if let Some(m) = TLS_MODULES.iter().find(|m| !modules.join(m).exists()) {
        support::peer_missing(test, &format!("baresip module {m} is missing"));
        return None;
    }
    Some(modules)
}

/// baresip config lines for TLS (trusting the service's certificate) and SRTP,
/// dumping decoded audio into `dump_dir`.
fn tls_client_config(ca: &Path, dump_dir: &Path) -> String {
    format!(
        "module\t\t\tsrtp.so\nmodule\t\t\tsndfile.so\nsnd_path\t\t{}\nsip_cafile\t\t{}\n",
        dump_dir.display(),
        ca.display()
    )
}

async fn metrics(svc: &TestService) -> String {
    reqwest::get(svc.http_url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

/// The green call from baresip over TLS with SRTP (RTP/SAVP, AES_CM_128_HMAC_SHA1_80):
/// its encrypted RFC 4733 keys answer the IVR, it decrypts the prompt, and the
/// service took only packets that authenticated with the SDES key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_green_call_over_tls_with_srtp() {
    let test = "baresip_green_call_over_tls_with_srtp";
    let Some(modules) = baresip_tls_ready(test) else {
        return;
    };
    let caller = "+46721234567";
    let svc = TestService::start_with(None, common::tls::enable_tls).await;
    let tls = svc.running.tls_addr.expect("TLS listener");
    let dumps = tempfile::tempdir().expect("dump dir");
    let ctrl_port = support::free_tcp_port();
    let account = format!("<sip:{caller}@127.0.0.1>;regint=0;audio_codecs=PCMU;mediaenc=srtp-mand");
    let ca = svc.dir.path().join("sip-config").join("tls.crt");
    let mut bs = Baresip::spawn_with(
        &modules,
        ctrl_port,
        caller,
        "tls",
        Some(&account),
        &tls_client_config(&ca, dumps.path()),
    );
    let mut ctrl = Ctrl::connect(ctrl_port, Duration::from_secs(10)).await;
    ctrl.command("dial", &format!("sip:1177@{tls};transport=tls"))
        .await;
    let est = ctrl
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("not established; seen {:?}\n{}", ctrl.seen, bs.log_text()));
    let call_id = est["id"].as_str().expect("call id").to_string();
    wait_out_greeting().await;
    for key in "1322222122#".chars() {
        ctrl.key(key).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    tokio::time::sleep(Duration::from_millis(2000)).await;
    ctrl.key('1').await;
    // "An SMS about your callback?": no.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ctrl.key('2').await;
    let closed = ctrl
        .wait_event("CALL_CLOSED", Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("call never ended; seen {:?}", ctrl.seen));
    assert_eq!(closed["param"], "Connection reset by peer", "{closed}");

    // The encrypted keys reached the IVR: the green case is stored.
    let cases = svc.wait_for_cases(1, Duration::from_secs(10)).await;
    let case = cases
        .iter()
        .find(|c| c.call_id.as_deref() == Some(call_id.as_str()))
        .unwrap_or_else(|| panic!("no case for call {call_id}: {cases:?}"));
    support::assert_green_case(case, caller);

    // Every packet the service took authenticated with baresip's SDES key
    // (plain RTP or a wrong key would have been counted as rejected).
    let m = metrics(&svc).await;
    let get = |name: &str| support::metric(&m, name).unwrap_or(-1.0);
    assert_eq!(get("pe_calls_srtp_total"), 1.0, "{m}");
    assert_eq!(get("pe_srtp_rejected_total"), 0.0, "{m}");
    assert!(get("pe_rtp_packets_in_total") > 500.0, "{m}");
    assert!(get("pe_sip_tls_connections_total") >= 1.0, "{m}");

    ctrl.command("quit", "").await;
    assert!(
        bs.wait_exit(Duration::from_secs(10)).await,
        "baresip did not quit"
    );
    let log = bs.log_text();
    // Signalling went over TLS both ways, and the BYE came from the service.
    let requests = traced_requests(&log, tls, "tls");
    assert!(
        requests
            .iter()
            .any(|(d, l)| *d == "out" && l.starts_with("INVITE ")),
        "INVITE over TLS: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|(d, l)| *d == "in" && l.starts_with("BYE ")),
        "BYE from the service over TLS: {requests:?}"
    );
    assert!(
        log.contains("Contact: <sip:1177@") && log.contains(";transport=tls>"),
        "{log}"
    );
    assert!(log.contains(" RTP/SAVP 0 101"), "the answer is RTP/SAVP");
    assert_srtp_both_ways(&log);

    // baresip decrypted and decoded the service's prompt: the greeting's
    // G.711 frames are in its dump of the received audio, bit for bit.
    let heard = decoded_audio(dumps.path());
    let welcome = common::audio::prompt_start(
        "sv",
        "welcome",
        phone_entrance::media::g711::Codec::Pcmu,
        50,
    );
    let (at, score) = common::audio::best_match(&heard, &welcome, 4000, 24_000);
    assert!(
        score > 0.99,
        "the greeting is not in the first 3 s of the {} decoded samples: best {score:.4} at {at}",
        heard.len()
    );
    svc.stop().await;
}

/// Plain RTP (RTP/AVP without a=crypto) over TLS gets 488 under
/// `srtp = "required_on_tls"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_plain_rtp_over_tls_gets_488_when_srtp_is_required() {
    let test = "baresip_plain_rtp_over_tls_gets_488_when_srtp_is_required";
    let Some(modules) = baresip_tls_ready(test) else {
        return;
    };
    let svc = TestService::start_with(None, common::tls::enable_tls).await;
    let tls = svc.running.tls_addr.expect("TLS listener");
    let dumps = tempfile::tempdir().expect("dump dir");
    let ctrl_port = support::free_tcp_port();
    let ca = svc.dir.path().join("sip-config").join("tls.crt");
    let bs = Baresip::spawn_with(
        &modules,
        ctrl_port,
        "+46721234568",
        "tls",
        None,
        &tls_client_config(&ca, dumps.path()),
    );
    let mut ctrl = Ctrl::connect(ctrl_port, Duration::from_secs(10)).await;
    ctrl.command("dial", &format!("sip:1177@{tls};transport=tls"))
        .await;
    let closed = ctrl
        .wait_event("CALL_CLOSED", Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("no CALL_CLOSED; seen {:?}\n{}", ctrl.seen, bs.log_text()));
    assert!(
        closed["param"].as_str().unwrap_or("").contains("488"),
        "{closed}"
    );
    assert!(!ctrl.saw_event("CALL_ESTABLISHED"));
    let m = metrics(&svc).await;
    assert_eq!(
        support::metric(&m, "pe_calls_rejected_srtp_total"),
        Some(1.0),
        "{m}"
    );
    svc.stop().await;
}

/// A nurse's desk phone (baresip) registers over TLS with its digest
/// credentials; the callback rings it on that TLS connection offering SDES
/// SRTP, it answers with its key, and the resident behind the trunk (plain
/// RTP) and the nurse hear each other through the bridge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_nurse_phone_registers_over_tls_and_is_rung_over_tls() {
    use simulators::mini_uas::{MiniUas, UasBehavior};
    let test = "baresip_nurse_phone_registers_over_tls_and_is_rung_over_tls";
    let Some(modules) = baresip_tls_ready(test) else {
        return;
    };
    let local = std::net::IpAddr::from([127, 0, 0, 1]);
    let resident = MiniUas::start(
        local,
        UasBehavior {
            // After callback_intro (8 s): 6 s of the bridge.
            bye_after: Some(Duration::from_secs(14)),
            tone_hz: 600.0,
            prompt: UasBehavior::WHOLE_CALL,
            // baresip's ausine: what the nurse says, decrypted and relayed.
            detect_hz: Some(440.0),
            ..Default::default()
        },
    )
    .await
    .expect("resident");
    let svc = common::callback::service_with_trunk(resident.addr, "", resident.addr, |dir| {
        // No fixed phone: only the TLS registration says where nina is.
        std::fs::write(dir.join("nurse-phones.toml"), "").expect("no fixed phones");
        common::tls::enable_tls(dir);
    })
    .await;
    let tls = svc.running.tls_addr.expect("TLS listener");
    let ha1 = phone_entrance::sip::digest::ha1("nina", "1177.local", "phone-secret-1");
    assert!(svc
        .store()
        .await
        .set_sip_ha1("nina", Some(&ha1))
        .await
        .expect("ha1"));
    let dumps = tempfile::tempdir().expect("dump dir");
    let ctrl_port = support::free_tcp_port();
    let ca = svc.dir.path().join("sip-config").join("tls.crt");
    let account = format!(
        "<sip:nina@{tls};transport=tls>;auth_pass=phone-secret-1;regint=300;answermode=auto;audio_codecs=PCMU;mediaenc=srtp"
    );
    let mut bs = Baresip::spawn_with(
        &modules,
        ctrl_port,
        "nina",
        "tls",
        Some(&account),
        &tls_client_config(&ca, dumps.path()),
    );
    let mut ctrl = Ctrl::connect(ctrl_port, Duration::from_secs(10)).await;
    // It registers at start, before the control connection: its log says when.
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    while !bs.log_text().contains("{0/TLS/v4} 200 OK") {
        assert!(
            tokio::time::Instant::now() < end,
            "not registered over TLS:\n{}",
            bs.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (nina, _case, call_id) = common::callback::claim_and_call(&svc, 3).await;
    let s =
        common::callback::wait_for_state(&svc, &nina, &call_id, "ended", Duration::from_secs(30))
            .await;
    assert_eq!(s["result"], "connected", "{s}\n{}", bs.log_text());
    let calls = resident.calls();
    let r = calls.values().next().expect("the resident was called");
    assert!(
        r.tone_frames_detected > 50,
        "the resident heard the nurse's SRTP audio, decrypted: {r:?}\n{}",
        bs.log_text()
    );
    ctrl.command("quit", "").await;
    assert!(
        bs.wait_exit(Duration::from_secs(10)).await,
        "baresip did not quit"
    );
    let log = bs.log_text();
    let requests = traced_requests(&log, tls, "tls");
    assert!(
        requests
            .iter()
            .any(|(d, l)| *d == "out" && l.starts_with("REGISTER ")),
        "REGISTER over TLS: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|(d, l)| *d == "in" && l.starts_with("INVITE sip:nina")),
        "the callback's INVITE came over TLS: {requests:?}"
    );
    assert!(log.contains("Via: SIP/2.0/TLS "), "{log}");
    assert_srtp_both_ways(&log);
    // The nurse heard the resident's 600 Hz, which we encrypted for her.
    let heard = decoded_audio(dumps.path());
    let tone_frames = heard
        .chunks(160)
        .filter(|f| simulators::tone::frame_has_tone(f, 600.0))
        .count();
    assert!(
        tone_frames > 50,
        "the nurse heard {tone_frames} frames of the resident's tone"
    );
    let m = metrics(&svc).await;
    assert_eq!(
        support::metric(&m, "pe_srtp_rejected_total"),
        Some(0.0),
        "{m}"
    );
    svc.stop().await;
}

/// baresip's log says SRTP ran with our suite and it decrypted every packet.
fn assert_srtp_both_ways(log: &str) {
    assert!(
        log.contains("srtp: audio: SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_80)"),
        "{log}"
    );
    assert!(
        !log.contains("failed to decrypt"),
        "baresip could not decrypt: {log}"
    );
}

/// The audio baresip decoded (its sndfile module's `*-dec.wav` in `dir`).
fn decoded_audio(dir: &std::path::Path) -> Vec<i16> {
    let dump = std::fs::read_dir(dir)
        .expect("dumps")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip's decoded audio");
    hound::WavReader::open(&dump)
        .expect("wav")
        .samples::<i16>()
        .filter_map(Result::ok)
        .collect()
}
