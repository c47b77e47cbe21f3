//! A nurse calls a resident from the browser: headless Chromium with a fake
//! microphone (a 1000 Hz WAV) takes a case and presses Call; the service
//! answers its WebRTC offer, dials the resident (a simulator behind the
//! trunk) and bridges. The resident must hear the nurse's tone and the page
//! the resident's. Skipped without chromium/node unless `CI` is set.

mod common;

use common::{repo_root, TestService};
use phone_entrance::store::Role;
use simulators::mini_uas::{MiniUas, UasBehavior};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const NURSE_HZ: f32 = 1000.0;
const RESIDENT_HZ: f32 = 600.0;

fn tone_wav(path: &std::path::Path, hz: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    for i in 0..48_000 * 20 {
        let t = i as f32 / 48_000.0;
        let v = (t * hz * std::f32::consts::TAU).sin() * 12_000.0;
        w.write_sample(v as i16).expect("sample");
    }
    w.finalize().expect("wav written");
}

#[tokio::test]
async fn nurse_calls_from_the_browser_and_both_hear_each_other() {
    let dir = common::browser::ready();
    let resident = MiniUas::start(
        std::net::IpAddr::from([127, 0, 0, 1]),
        UasBehavior {
            tone_hz: RESIDENT_HZ,
            prompt: UasBehavior::WHOLE_CALL,
            detect_hz: Some(NURSE_HZ),
            ..Default::default()
        },
    )
    .await
    .expect("resident");
    let trunk = resident.addr;
    let svc = TestService::start_with(None, move |dir| {
        std::fs::write(
            dir.join("trunk.toml"),
            format!("proxy = \"{trunk}\"\ndomain = \"trunk.test\"\n"),
        )
        .expect("trunk.toml");
        // This test is about the legs' teardown: no survey keeps the resident.
        common::set_config(dir, "ivr.toml", "enabled", "false");
    })
    .await;
    svc.add_staff("nina", "nurse-pw", Role::Nurse).await;
    let case = svc
        .store()
        .await
        .insert_case(&common::callback::callback_case(3))
        .await
        .expect("case");
    let artifacts = repo_root().join("test-artifacts/browser");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let tmp = tempfile::tempdir().expect("tmp");
    let mic = tmp.path().join("mic.wav");
    tone_wav(&mic, NURSE_HZ);
    let profile = tmp.path().join("profile");
    let mut child = common::browser::node(&dir, "nurse_call.mjs")
        .env("PE_BASE_URL", svc.http_url(""))
        .env("PE_ARTIFACTS", &artifacts)
        .env("PE_PROFILE", &profile)
        .env("PE_NURSE", "nina:nurse-pw")
        .env("PE_MIC_WAV", &mic)
        .env("PE_RESIDENT_HZ", RESIDENT_HZ.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut log = Vec::new();
    let walk = async {
        while let Some(line) = out.next_line().await.expect("read") {
            eprintln!("browser: {line}");
            log.push(line);
        }
    };
    tokio::time::timeout(Duration::from_secs(120), walk)
        .await
        .expect("the browser call finishes in time");
    let status = child.wait().await.expect("node exits");
    assert!(
        status.success() && log.iter().any(|l| l == "DONE"),
        "browser call failed:\n{}",
        log.join("\n")
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls = resident.calls();
    let r = calls.values().next().expect("the resident was called");
    assert!(r.answered, "{r:?}");
    assert!(
        r.bye_received,
        "hang-up in the page ends the resident's leg: {r:?}"
    );
    assert!(
        r.tone_frames_detected > 25,
        "the resident heard the nurse's microphone (1000 Hz): {r:?}"
    );
    let legs = svc
        .store()
        .await
        .call_legs_for_case(case.id)
        .await
        .expect("legs");
    assert!(
        legs.iter().any(|l| l.kind.as_str() == "nurse_browser"),
        "{legs:?}"
    );
    svc.stop().await;
}
