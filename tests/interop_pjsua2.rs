//! Interop: PJSIP (pjsua2 from PyPI, `pip install pjsua2-python`) calls the
//! service through tests/interop/pjsua2_call.py: UDP, PCMU, null audio
//! device, keys as RFC 4733 events or SIP INFO; the green call registers a callback and the
//! service ends the call with BYE.
//!
//! The Python that has pjsua2 comes from `PJSUA2_PYTHON` (e.g. a venv's
//! `bin/python`), else `python3`. pjsua2 is not a Debian package: without it
//! the test skips with a note; with `CI` set it fails only when CI asked for
//! it by setting `PJSUA2_PYTHON`.

mod common;
#[path = "interop/support.rs"]
mod support;

use std::process::Stdio;
use std::time::Duration;

use common::{prompt_seconds, repo_root, TestService};
use serde_json::Value;

fn python() -> (String, bool) {
    match std::env::var("PJSUA2_PYTHON") {
        Ok(p) if !p.is_empty() => (p, true),
        _ => ("python3".to_string(), false),
    }
}

fn has_pjsua2(python: &str) -> bool {
    std::process::Command::new(python)
        .args(["-c", "import pjsua2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pjsua2_green_call_registers_callback_and_service_hangs_up() {
    green_call("rfc4733", "+46701234568").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pjsua2_green_call_with_sip_info_keys() {
    green_call("info", "+46761234568").await;
}

/// The green call from pjsua2 with keys sent as `dtmf` (rfc4733 | info).
async fn green_call(dtmf: &str, caller: &str) {
    let (python, requested) = python();
    if !has_pjsua2(&python) {
        let reason =
            format!("{python} cannot import pjsua2 (pip install pjsua2-python; set PJSUA2_PYTHON)");
        if requested {
            support::skip_or_fail("interop_pjsua2", &reason);
        } else {
            eprintln!("SKIPPED interop_pjsua2: {reason}");
        }
        return;
    }
    let svc = TestService::start().await;
    let lead = prompt_seconds("sv", "welcome") + prompt_seconds("sv", "emergency_112") + 1.2;
    let child = tokio::process::Command::new(&python)
        .arg(repo_root().join("tests/interop/pjsua2_call.py"))
        .args(["--uri", &format!("sip:1177@{}", svc.sip_addr())])
        .args([
            "--user",
            caller,
            "--dtmf",
            dtmf,
            "--lead-s",
            &format!("{lead:.2}"),
        ])
        // Swedish, adult, five red flags "no", fever, days, not worsening,
        // skip personnummer; after the callback offer starts, 1 = confirm.
        .args([
            "--keys",
            "1322222122#",
            "--gap-s",
            "0.7",
            "--then",
            "2.0:1",
            "--timeout-s",
            "60",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn python");
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("pjsua2 script timed out")
        .expect("pjsua2 script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: String = stderr.lines().rev().take(40).collect::<Vec<_>>().join("\n");
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "no JSON from the script; exit {:?}\n{stdout}\n{tail}",
                out.status
            )
        });
    assert!(out.status.success(), "{report}\n{tail}");
    assert_eq!(report["error"], Value::Null, "{report}\n{tail}");
    assert_eq!(report["established"], true, "{report}");
    assert_eq!(report["keys_sent"], "1322222122#1", "{report}");
    assert_eq!(
        report["ended_by_remote"], true,
        "the service must end the call: {report}"
    );
    assert_eq!(
        report["bye_received"], true,
        "no BYE in pjsip's log: {report}"
    );

    let call_id = report["call_id"].as_str().expect("call id").to_string();
    let cases = svc.wait_for_cases(1, Duration::from_secs(10)).await;
    let case = cases
        .iter()
        .find(|c| c.call_id.as_deref() == Some(call_id.as_str()))
        .unwrap_or_else(|| panic!("no case for call {call_id}: {cases:?}"));
    support::assert_green_case(case, caller);
    svc.stop().await;
}
