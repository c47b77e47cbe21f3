//! Interop: SIPp (Debian `sip-tester`, an independent SIP implementation)
//! places a handful of IVR calls in the DESIGN.md section 6 benchmark shape
//! (tests/interop/sipp/ivr_call.xml: answer, listen, one RFC 4733 digit, x3,
//! hang up; PCMU both ways) against the in-process service.
//!
//! Passes when SIPp reports 0 failed calls and the service decoded every
//! digit and saw every call abandoned after the third answer. No figures are
//! asserted: `tests/interop/sipp/bench.sh` measures against a release build.
//! Skipped with a note when sipp or python3 is missing, failed when `CI` is set.
//!
//! `sipp_trunk_*`: SIPp is the SIP trunk of a callback
//! (tests/interop/sipp/trunk_digest_uas.xml): it challenges the resident
//! INVITE with 401 or 407 and answers only valid digest credentials.

mod common;
#[path = "interop/support.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::callback;
use common::{repo_root, TestService};

const CALLS: usize = 4;

/// The final "Successful call" / "Failed call" cumulative counters of SIPp's screen.
fn sipp_counter(screen: &str, label: &str) -> Option<u64> {
    screen
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with(label))?
        .split('|')
        .nth(2)?
        .trim()
        .parse()
        .ok()
}

fn prepare(dir: &Path) {
    let sipp_dir = repo_root().join("tests/interop/sipp");
    std::fs::copy(sipp_dir.join("ivr_call.xml"), dir.join("ivr_call.xml")).expect("scenario");
    let status = Command::new("python3")
        .arg(sipp_dir.join("make_call_pcap.py"))
        .arg(dir.join("ivr_call.pcap"))
        .status()
        .expect("python3");
    assert!(status.success(), "make_call_pcap.py failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_ivr_calls_with_rfc4733_digits_all_succeed() {
    sipp_calls(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_ivr_calls_over_tcp_all_succeed() {
    // t1: one TCP connection for all calls, as a trunk would.
    sipp_calls(&["-t", "t1"]).await;
}

/// Runs `CALLS` scenario calls (SIPp flags `extra`) and checks SIPp and the service agree.
async fn sipp_calls(extra: &[&str]) {
    for (tool, arg) in [("sipp", "-v"), ("python3", "--version")] {
        if !support::installed(tool, arg) {
            return support::peer_missing("interop_sipp", &format!("{tool} is not installed"));
        }
    }
    let svc = TestService::start().await;
    let work = tempfile::tempdir().expect("tempdir");
    prepare(work.path());

    let sip = svc.sip_addr();
    let sip_port = support::free_udp_port();
    let media_port = support::free_udp_port();
    let mut cmd = Command::new("sipp");
    cmd.current_dir(work.path())
        .arg(sip.to_string())
        .args(["-sf", "ivr_call.xml", "-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .args(["-p", &sip_port.to_string(), "-mp", &media_port.to_string()])
        .args([
            "-m",
            &CALLS.to_string(),
            "-l",
            &CALLS.to_string(),
            "-r",
            "2",
        ])
        .args([
            "-nostdin",
            "-trace_err",
            "-timeout",
            "90s",
            "-timeout_error",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run sipp");
    let screen = String::from_utf8_lossy(&out.stdout);
    let errors = std::fs::read_dir(work.path())
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    let context = format!(
        "sipp exit {:?}\n{screen}\n{}\nerrors:\n{errors}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sipp_counter(&screen, "Failed call"), Some(0), "{context}");
    assert_eq!(
        sipp_counter(&screen, "Successful call"),
        Some(CALLS as u64),
        "{context}"
    );
    assert!(out.status.success(), "{context}");

    // Every key of every call reached the IVR as an RFC 4733 event, and every
    // call got as far as the first red-flag question's follow-up.
    // The call tasks finish just after the 200 to BYE: poll briefly.
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = reqwest::get(svc.http_url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        if support::metric(&metrics, "pe_calls_active") == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let digits = support::metric(&metrics, "pe_digits_total{method=\"rfc4733\"}");
    assert_eq!(digits, Some(3.0 * CALLS as f64), "{metrics}");
    let abandoned = support::metric(&metrics, "pe_ivr_outcomes_total{outcome=\"abandoned\"}");
    assert_eq!(abandoned, Some(CALLS as f64), "{metrics}");
    assert_eq!(
        support::metric(&metrics, "pe_calls_active"),
        Some(0.0),
        "{metrics}"
    );
    assert!(
        svc.worklist().await.is_empty(),
        "abandoned calls store no case"
    );
    svc.stop().await;
}

#[test]
fn sipp_counter_reads_the_cumulative_column() {
    let screen = "  Successful call        |        0                  |        4                 \n  Failed call            |        0                  |        0                 \n";
    assert_eq!(sipp_counter(screen, "Successful call"), Some(4));
    assert_eq!(sipp_counter(screen, "Failed call"), Some(0));
}

#[test]
fn metric_reads_labelled_samples() {
    let text = "# HELP x\npe_digits_total{method=\"rfc4733\"} 12\npe_calls_active 0\n";
    assert_eq!(
        support::metric(text, "pe_digits_total{method=\"rfc4733\"}"),
        Some(12.0)
    );
    assert_eq!(support::metric(text, "pe_calls_active"), Some(0.0));
    assert_eq!(support::metric(text, "pe_missing"), None);
}

/// The trunk's digest credentials in these tests.
const TRUNK_USER: &str = "pe-trunk";
const TRUNK_PASSWORD: &str = "trunk-secret-1177";

/// How the SIPp trunk challenges: 401 (SIPp checks the response itself with
/// `<verifyauth>`) or 407 (SIPp 3.6.1's verifyauth cannot read
/// Proxy-Authorization: the test recomputes the response from SIPp's log).
#[derive(Clone, Copy, Debug)]
enum Challenge {
    Www401,
    Proxy407,
}

/// tests/interop/sipp/trunk_digest_uas.xml with the placeholders filled in.
fn trunk_scenario(challenge: Challenge) -> String {
    let template =
        std::fs::read_to_string(repo_root().join("tests/interop/sipp/trunk_digest_uas.xml"))
            .expect("scenario");
    let (status, header, credentials, verify) = match challenge {
        Challenge::Www401 => (
            "401 Unauthorized",
            "WWW-Authenticate",
            "Authorization:",
            format!(
                "<verifyauth assign_to=\"authvalid\" username=\"{TRUNK_USER}\" password=\"{TRUNK_PASSWORD}\"/>"
            ),
        ),
        Challenge::Proxy407 => (
            "407 Proxy Authentication Required",
            "Proxy-Authenticate",
            "Proxy-Authorization:",
            "<ereg regexp=\"^ *Digest \" search_in=\"hdr\" header=\"Proxy-Authorization:\" assign_to=\"authvalid\"/>"
                .to_string(),
        ),
    };
    template
        .replace("@CHALLENGE_STATUS@", status)
        .replace("@CHALLENGE_HEADER@", header)
        .replace("@CREDENTIALS@", credentials)
        .replace("@VERIFY@", &verify)
}

/// One `name=value` or `name="value"` parameter of a Digest header value.
fn digest_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value
        .trim()
        .trim_start_matches("Digest")
        .split(',')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().trim_matches('"'))
}

fn md5_hex(text: &str) -> String {
    use md5::{Digest, Md5};
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// RFC 2617 (qop=auth) response for an INVITE, computed here from the
/// header's own parameters and the password: independent of `sip::digest`.
fn expected_response(credentials: &str, password: &str) -> Option<String> {
    let p = |n| digest_param(credentials, n);
    let ha1 = md5_hex(&format!("{}:{}:{password}", p("username")?, p("realm")?));
    let ha2 = md5_hex(&format!("INVITE:{}", p("uri")?));
    Some(md5_hex(&format!(
        "{ha1}:{}:{}:{}:{}:{ha2}",
        p("nonce")?,
        p("nc")?,
        p("cnonce")?,
        p("qop")?
    )))
}

/// What the SIPp trunk run saw.
struct TrunkRun {
    exit: Option<i32>,
    logs: String,
    context: String,
}

/// Starts SIPp as the trunk (UAS, one call), a mini UAS as nina's phone and
/// the service with `password`; claims a case and calls. `connected` says
/// whether the call should connect: then the nurse hangs up from the page.
/// Returns the call's final status and the SIPp run.
async fn trunk_call(
    challenge: Challenge,
    password: &str,
    connected: bool,
) -> Option<(serde_json::Value, TrunkRun)> {
    use simulators::mini_uas::{MiniUas, UasBehavior};
    if !support::installed("sipp", "-v") {
        support::peer_missing("interop_sipp_trunk", "sipp is not installed");
        return None;
    }
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join("trunk.xml"), trunk_scenario(challenge)).expect("scenario");
    let sip_port = support::free_udp_port();
    let media_port = support::free_udp_port();
    let screen = std::fs::File::create(work.path().join("screen.txt")).expect("screen file");
    let mut sipp = tokio::process::Command::new("sipp")
        .current_dir(work.path())
        .args(["-sf", "trunk.xml", "-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .args(["-p", &sip_port.to_string(), "-mp", &media_port.to_string()])
        .args([
            "-m",
            "1",
            "-nostdin",
            "-trace_logs",
            "-trace_err",
            "-trace_msg",
        ])
        .args(["-timeout", "90s", "-timeout_error", "-rtp_echo"])
        .stdin(Stdio::null())
        .stdout(screen)
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("run sipp");
    // SIPp binds its port before it reads the scenario's first message.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let nurse = MiniUas::start(
        std::net::IpAddr::from([127, 0, 0, 1]),
        UasBehavior::default(),
    )
    .await
    .expect("nurse");
    let trunk = std::net::SocketAddr::from(([127, 0, 0, 1], sip_port));
    let svc = callback::service_with_trunk(
        trunk,
        &format!("username = \"{TRUNK_USER}\"\npassword = \"{password}\"\n"),
        nurse.addr,
        // The scenario expects our BYE right after the nurse's hang-up: no survey.
        |dir| common::set_config(dir, "ivr.toml", "enabled", "false"),
    )
    .await;
    let (nina, _case, call_id) = callback::claim_and_call(&svc, 3).await;
    if connected {
        let s =
            callback::wait_for_state(&svc, &nina, &call_id, "connected", Duration::from_secs(30))
                .await;
        if s["state"] == "connected" {
            tokio::time::sleep(Duration::from_secs(1)).await;
            callback::hang_up(&svc, &nina, &call_id).await;
        }
    }
    let status =
        callback::wait_for_state(&svc, &nina, &call_id, "ended", Duration::from_secs(30)).await;
    let exit = match tokio::time::timeout(Duration::from_secs(20), sipp.wait()).await {
        Ok(status) => status.expect("sipp").code(),
        Err(_) => {
            // Not finished: stop it (it writes its logs) and report what it saw.
            let _ = sipp.start_kill();
            let _ = sipp.wait().await;
            None
        }
    };
    let read = |suffix: &str| {
        std::fs::read_dir(work.path())
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<String>()
    };
    let logs = read("_logs.log");
    let context = format!(
        "call {status}\nsipp exit {exit:?}\n{}\nlogs:\n{logs}\nerrors:\n{}\nmessages:\n{}",
        read("screen.txt")
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n"),
        read("_errors.log"),
        read("_messages.log"),
    );
    svc.stop().await;
    Some((
        status,
        TrunkRun {
            exit,
            logs,
            context,
        },
    ))
}

/// The credentials line SIPp logged for the authenticated INVITE.
fn logged_credentials(logs: &str) -> Option<&str> {
    logs.lines()
        .find_map(|l| l.split_once("credentials: ").map(|(_, v)| v.trim()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_trunk_401_digest_is_verified_by_sipp_and_the_resident_is_connected() {
    let Some((status, run)) = trunk_call(Challenge::Www401, TRUNK_PASSWORD, true).await else {
        return;
    };
    let ctx = &run.context;
    assert_eq!(status["result"], "connected", "{ctx}");
    assert!(
        run.logs.contains("auth ok"),
        "SIPp's verifyauth accepted: {ctx}"
    );
    assert_eq!(run.exit, Some(0), "SIPp completed the scenario: {ctx}");
    let cred = logged_credentials(&run.logs).expect("credentials logged");
    assert_eq!(digest_param(cred, "username"), Some(TRUNK_USER), "{cred}");
    assert_eq!(
        digest_param(cred, "opaque"),
        Some("sipp-opaque-1177"),
        "{cred}"
    );
    eprintln!("SIPp verified: Authorization: {cred}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_trunk_407_gets_proxy_authorization_and_the_resident_is_connected() {
    let Some((status, run)) = trunk_call(Challenge::Proxy407, TRUNK_PASSWORD, true).await else {
        return;
    };
    let ctx = &run.context;
    assert_eq!(status["result"], "connected", "{ctx}");
    assert!(run.logs.contains("auth ok"), "{ctx}");
    assert_eq!(run.exit, Some(0), "SIPp completed the scenario: {ctx}");
    let cred = logged_credentials(&run.logs).expect("Proxy-Authorization logged");
    let resident_uri = format!("sip:{}@trunk.test", callback::RESIDENT);
    assert_eq!(
        digest_param(cred, "uri"),
        Some(resident_uri.as_str()),
        "{cred}"
    );
    assert_eq!(digest_param(cred, "realm"), Some("trunk.test"), "{cred}");
    assert_eq!(digest_param(cred, "qop"), Some("auth"), "{cred}");
    assert_eq!(digest_param(cred, "nc"), Some("00000001"), "{cred}");
    assert_eq!(
        digest_param(cred, "opaque"),
        Some("sipp-opaque-1177"),
        "{cred}"
    );
    assert_eq!(
        digest_param(cred, "response").map(str::to_string),
        expected_response(cred, TRUNK_PASSWORD),
        "Proxy-Authorization's response for the configured password: {cred}"
    );
    eprintln!("Proxy-Authorization checked: {cred}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_trunk_refuses_a_wrong_password_and_the_attempt_fails() {
    let Some((status, run)) = trunk_call(Challenge::Www401, "not-the-password", false).await else {
        return;
    };
    let ctx = &run.context;
    assert!(
        run.logs.contains("auth rejected"),
        "SIPp's verifyauth refused: {ctx}"
    );
    assert!(!run.logs.contains("auth ok"), "{ctx}");
    assert_eq!(run.exit, Some(0), "SIPp completed the 403 branch: {ctx}");
    // Refused credentials are our trunk configuration, not the resident declining.
    assert_eq!(status["result"], "failed", "{ctx}");
}
