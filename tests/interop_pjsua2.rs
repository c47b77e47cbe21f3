//! Interop: PJSIP (pjsua2 from PyPI, `pip install pjsua2-python`) calls the
//! service through tests/interop/pjsua2_call.py: UDP, PCMU, null audio
//! device, keys as RFC 4733 events or SIP INFO; the green call registers a callback and the
//! service ends the call with BYE.
//!
//! `pjsua2_resident_answers_the_callback_and_both_sides_hear_each_other`:
//! pjsua2 is the resident behind the trunk (tests/interop/pjsua2_answer.py):
//! it answers the service's INVITE, plays 600 Hz and records what it hears;
//! the nurse's phone is the mini UAS playing 1000 Hz.
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

use common::callback;
use common::{prompt_seconds, repo_root, TestService};
use serde_json::Value;

fn python() -> String {
    match std::env::var("PJSUA2_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => "python3".to_string(),
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

/// The pjsua2 Python to use; a test without one fails.
fn pjsua2_or_skip(test: &str) -> Option<String> {
    let python = python();
    if has_pjsua2(&python) {
        return Some(python);
    }
    let reason =
        format!("{python} cannot import pjsua2 (pip install pjsua2-python; set PJSUA2_PYTHON)");
    support::peer_missing(test, &reason);
    None
}

/// The green call from pjsua2 with keys sent as `dtmf` (rfc4733 | info).
async fn green_call(dtmf: &str, caller: &str) {
    let Some(python) = pjsua2_or_skip("interop_pjsua2") else {
        return;
    };
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
        // skip personnummer; after the callback offer starts, 1 = confirm;
        // then 2 = no SMS.
        .args([
            "--keys",
            "1322222122#",
            "--gap-s",
            "0.7",
            "--then",
            "2.0:1",
            // "An SMS about your callback?": no.
            "--then",
            "1.5:2",
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
    assert_eq!(report["keys_sent"], "1322222122#12", "{report}");
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

/// What the resident (pjsua2) heard, in 20 ms frames of the recording.
struct Heard {
    samples: Vec<i16>,
}

impl Heard {
    fn read(path: &std::path::Path) -> Heard {
        let mut r = hound::WavReader::open(path).expect("pjsua2's recording");
        let spec = r.spec();
        assert_eq!(
            (spec.sample_rate, spec.channels, spec.bits_per_sample),
            (8000, 1, 16),
            "the script records 8 kHz mono 16-bit"
        );
        let samples = r.samples::<i16>().map(|s| s.expect("sample")).collect();
        Heard { samples }
    }

    fn frames(&self) -> impl Iterator<Item = &[i16]> {
        self.samples.chunks_exact(160)
    }

    /// Index of the first of `run` consecutive frames that carry `hz`.
    fn first_tone_run(&self, hz: f32, run: usize) -> Option<usize> {
        let hits: Vec<bool> = self
            .frames()
            .map(|f| simulators::tone::frame_has_tone(f, hz))
            .collect();
        hits.windows(run).position(|w| w.iter().all(|&h| h))
    }

    fn tone_frames(&self, hz: f32) -> usize {
        self.frames()
            .filter(|f| simulators::tone::frame_has_tone(f, hz))
            .count()
    }

    /// Frames in `range` whose mean level says someone is speaking.
    fn loud_frames(&self, range: std::ops::Range<usize>) -> usize {
        self.frames()
            .skip(range.start)
            .take(range.len())
            .filter(|f| f.iter().map(|s| u64::from(s.unsigned_abs())).sum::<u64>() / 160 > 300)
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pjsua2_resident_answers_the_callback_and_both_sides_hear_each_other() {
    use simulators::mini_uas::{MiniUas, UasBehavior};
    use tokio::io::AsyncBufReadExt;
    const TEST: &str = "interop_pjsua2_resident";
    let Some(python) = pjsua2_or_skip(TEST) else {
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let wav = work.path().join("resident-heard.wav");
    // pjsua2 listens first: its port becomes the trunk's proxy.
    let mut child = tokio::process::Command::new(&python)
        .arg(repo_root().join("tests/interop/pjsua2_answer.py"))
        .arg("--record")
        .arg(&wav)
        .args([
            "--tone-hz",
            "600",
            "--hangup-after-s",
            "14",
            "--timeout-s",
            "60",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn python");
    let stderr = child.stderr.take().expect("stderr");
    let log = tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let mut all = Vec::new();
        while let Ok(Some(l)) = lines.next_line().await {
            all.push(l);
        }
        all
    });
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut reports = Vec::<Value>::new();
    let port = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = stdout.next_line().await {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if let Some(p) = v["listening"].as_u64() {
                    return Some(p as u16);
                }
                reports.push(v);
            }
        }
        None
    })
    .await
    .expect("pjsua2 did not start")
    .expect("no listening port from pjsua2_answer.py");
    let resident_addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));

    let nurse = MiniUas::start(
        std::net::IpAddr::from([127, 0, 0, 1]),
        UasBehavior {
            tone_hz: 1000.0,
            prompt: UasBehavior::WHOLE_CALL,
            detect_hz: Some(600.0),
            ..Default::default()
        },
    )
    .await
    .expect("nurse");
    let svc = callback::service_with_trunk(resident_addr, "", nurse.addr, |_| {}).await;
    let (nina, _case, call_id) = callback::claim_and_call(&svc, 3).await;
    let connected =
        callback::wait_for_state(&svc, &nina, &call_id, "connected", Duration::from_secs(30)).await;
    let ended =
        callback::wait_for_state(&svc, &nina, &call_id, "ended", Duration::from_secs(30)).await;

    let report = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = stdout.next_line().await {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                return Some(v);
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let status = child.wait().await.expect("pjsua2 script");
    let log = log.await.unwrap_or_default();
    let tail = log
        .iter()
        .rev()
        .take(60)
        .rev()
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    let report = report.unwrap_or_else(|| panic!("no JSON report; exit {status:?}\n{tail}"));
    eprintln!("pjsua2 resident: {report}");
    assert!(status.success(), "{report}\n{tail}");
    assert_eq!(report["error"], Value::Null, "{report}\n{tail}");
    assert_eq!(connected["state"], "connected", "{connected}\n{report}");
    assert_eq!(ended["result"], "connected", "{ended}\n{report}");
    assert_eq!(report["confirmed"], true, "{report}");
    assert_eq!(
        report["hung_up_locally"], true,
        "the resident ends the call: {report}"
    );
    assert_eq!(report["codec"], "PCMU", "{report}");
    let from = report["from"].as_str().unwrap_or("");
    assert!(from.contains("1177"), "the resident sees 1177: {from}");
    let ruri = report["request_uri"].as_str().unwrap_or("");
    assert_eq!(ruri, format!("sip:{}@trunk.test", callback::RESIDENT));

    // The nurse heard the resident's 600 Hz once bridged (~6 s of 14).
    let n = nurse.calls();
    let n = n.values().next().expect("the nurse was rung");
    eprintln!("nurse phone: {n:?}");
    assert!(n.answered && n.bye_received, "nurse leg ended: {n:?}");
    assert!(
        n.tone_frames_detected > 150,
        "the nurse heard pjsua2's 600 Hz: {n:?}"
    );

    // The resident heard "callback_intro" first, then the nurse's 1000 Hz.
    let heard = Heard::read(&wav);
    let frames = heard.samples.len() / 160;
    let tone = heard.tone_frames(1000.0);
    let first_tone = heard.first_tone_run(1000.0, 5);
    let intro_s = common::prompt_seconds("sv", "callback_intro");
    let first_loud = (0..frames).find(|&i| heard.loud_frames(i..i + 1) == 1);
    // The intro's first second, as the service encodes it, against what
    // pjsua2 decoded (its adaptive jitter buffer may shift or drop frames).
    let intro = common::audio::prompt_start(
        "sv",
        "callback_intro",
        phone_entrance::media::g711::Codec::Pcmu,
        100,
    );
    let (intro_at, matched, voiced) =
        common::audio::chunks_heard(&heard.samples, &intro, 8000, 16000);
    eprintln!(
        "pjsua2 recording: {frames} frames, {tone} with 1000 Hz, first 1000 Hz run at frame {first_tone:?}, \
         first loud frame {first_loud:?}; callback_intro ({intro_s:.2} s) starts at sample {intro_at}, \
         {matched} of its first {voiced} voiced 50 ms chunks heard (correlation > 0.99)"
    );
    assert!(
        voiced >= 10 && matched * 10 >= voiced * 8,
        "callback_intro is what the resident heard first: {matched} of {voiced} chunks"
    );
    let first_tone = first_tone.expect("the nurse's 1000 Hz reached pjsua2");
    assert!(tone > 150, "the resident heard the nurse's 1000 Hz: {tone}");
    let first_loud = first_loud.expect("pjsua2 heard something");
    // The intro fills the time before the nurse: speech, and at least its length.
    let intro_frames = (intro_s * 50.0) as usize;
    assert!(
        first_tone >= first_loud + intro_frames - 10,
        "the nurse was heard {} frames after the first sound, before the {intro_frames}-frame intro ended",
        first_tone - first_loud
    );
    let speech = heard.loud_frames(first_loud..first_tone);
    assert!(
        speech > intro_frames / 3,
        "callback_intro's speech before the nurse: {speech} loud frames of {}",
        first_tone - first_loud
    );
    svc.stop().await;
}
