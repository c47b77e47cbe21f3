//! Interop: SIPp (Debian `sip-tester`, an independent SIP implementation)
//! places a handful of IVR calls in the DESIGN.md section 6 benchmark shape
//! (tests/interop/sipp/ivr_call.xml: answer, listen, one RFC 4733 digit, x3,
//! hang up; PCMU both ways) against the in-process service.
//!
//! Passes when SIPp reports 0 failed calls and the service decoded every
//! digit and saw every call abandoned after the third answer. No figures are
//! asserted: `tests/interop/sipp/bench.sh` measures against a release build.
//! Skipped with a note when sipp or python3 is missing, failed when `CI` is set.

mod common;
#[path = "interop/support.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

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
            return support::skip_or_fail("interop_sipp", &format!("{tool} is not installed"));
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
