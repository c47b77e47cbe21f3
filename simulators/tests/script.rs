//! Scripted calls against the mini UAS, which replays its prompt after each key.

use std::net::IpAddr;
use std::time::Duration;

use simulators::caller::{CallConfig, CallState, EndReason};
use simulators::mini_uas::{MiniUas, UasBehavior};
use simulators::script::{run_script, Script};

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

#[tokio::test]
async fn script_waits_for_each_prompt_and_sends_keys_by_two_methods() {
    let uas = MiniUas::start(LOCAL, UasBehavior::default()).await.unwrap();
    let script = Script::from_toml(
        r#"
from = "+46701234567"
dtmf = "rfc4733"
timeout_ms = 5000
[[step]]
wait_for_silence_ms = 300
[[step]]
keys = "1"
[[step]]
wait_for_silence_ms = 300
[[step]]
keys = "12#"
method = "info"
[[step]]
wait_for_silence_ms = 300
[[step]]
hangup = true
"#,
    )
    .unwrap();
    let report = run_script(CallConfig::new(uas.addr), &script).await;
    assert!(report.ok(), "{:?}", report.error);
    assert_eq!(report.steps_completed, 6);
    assert_eq!(
        report.final_state,
        CallState::Terminated(EndReason::LocalHangup)
    );
    assert!(!report.bye_from_server);
    // Three prompts of 300 ms each were heard; the audio is placed by timestamp.
    let loud = report
        .received_audio
        .samples()
        .chunks(160)
        .filter(|f| f.iter().map(|s| s.unsigned_abs() as u64).sum::<u64>() / 160 > 500)
        .count();
    assert!(loud >= 3 * 14, "only {loud} loud frames");
    let log = uas.call(&report.call_id).unwrap();
    assert_eq!(log.rfc4733_digits, "1");
    assert_eq!(log.infos.len(), 3);
}

#[tokio::test]
async fn script_reports_server_bye_and_rejection() {
    let uas = MiniUas::start(
        LOCAL,
        UasBehavior {
            bye_after: Some(Duration::from_millis(400)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let script =
        Script::from_toml("[[step]]\nwait_for_silence_ms = 50\n[[step]]\nwait_for_bye = true\n")
            .unwrap();
    let report = run_script(CallConfig::new(uas.addr), &script).await;
    assert!(report.ok(), "{:?}", report.error);
    assert!(report.bye_from_server);

    // A script step that outlives the call fails with the step named.
    let script = Script::from_toml("[[step]]\nwait_ms = 3000\n").unwrap();
    let report = run_script(CallConfig::new(uas.addr), &script).await;
    assert!(report.bye_from_server);
    assert!(report.error.unwrap().starts_with("step 1"));

    let busy = MiniUas::start(
        LOCAL,
        UasBehavior {
            reject: Some(486),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let report = run_script(CallConfig::new(busy.addr), &script).await;
    assert_eq!(report.rejected, Some(486));
    assert!(!report.answered);
}

#[tokio::test]
async fn wait_for_silence_times_out_without_speech() {
    let uas = MiniUas::start(
        LOCAL,
        UasBehavior {
            prompt: Duration::ZERO,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let script =
        Script::from_toml("[[step]]\nwait_for_silence_ms = 100\ntimeout_ms = 300\n").unwrap();
    let report = run_script(CallConfig::new(uas.addr), &script).await;
    let err = report.error.unwrap();
    assert!(err.contains("timed out waiting for silence"), "{err}");
    assert!(report.answered);
}
