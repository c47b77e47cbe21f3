//! Helpers shared by the interop tests (included with `#[path]`).
#![allow(dead_code)]

use std::process::{Command, Stdio};

/// True when `program --version`-style probing finds it on PATH.
pub fn installed(program: &str, probe_arg: &str) -> bool {
    Command::new(program)
        .arg(probe_arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A missing tool fails the test: an interop test never passes unrun.
pub fn peer_missing(test: &str, reason: &str) {
    panic!("{test} cannot run: {reason}");
}

pub fn free_tcp_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

pub fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

/// The value of an unlabelled or labelled Prometheus sample, e.g.
/// `pe_digits_total{method="rfc4733"}`.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The stored case of the green call (Swedish, adult, five red flags "no",
/// fever, days, not worsening, no personnummer, callback to the caller ID).
pub fn assert_green_case(case: &phone_entrance::store::CaseRecord, caller: &str) {
    use phone_entrance::store::{CaseMode, CaseStatus, Channel};
    use std::collections::BTreeMap;
    assert_eq!(case.channel, Channel::Phone);
    assert_eq!(case.mode, CaseMode::Callback);
    assert_eq!(case.status, CaseStatus::Waiting);
    // sip-config/triage.toml: no red flag, no raising rule -> default level 4.
    assert_eq!(case.priority.level(), 4);
    assert!(!case.red_flag);
    assert_eq!(case.language, "sv");
    assert_eq!(
        case.callback_number.as_deref(),
        Some(caller),
        "callback to the From user"
    );
    assert!(case.personnummer.is_none());
    let answers: BTreeMap<&str, &str> = case
        .answers
        .iter()
        .map(|a| (a.question_id.as_str(), a.value.as_str()))
        .collect();
    let expected: BTreeMap<&str, &str> = [
        ("about", "adult"),
        ("rf_breathing", "no"),
        ("rf_chest_pain", "no"),
        ("rf_stroke", "no"),
        ("rf_bleeding", "no"),
        ("rf_unconscious", "no"),
        ("symptom", "fever"),
        ("duration", "days"),
        ("worsening", "no"),
        // The scripted callers decline the SMS about their callback.
        ("sms_consent", "no"),
    ]
    .into_iter()
    .collect();
    assert_eq!(answers, expected);
}
