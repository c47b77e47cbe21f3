//! Browser tests: headless Chromium (Debian's `chromium`) driven by
//! playwright-core (`tests/browser/`, installed with `npm ci` on first run)
//! through the staff pages of an in-process service. Screenshots go to
//! `test-artifacts/browser/`. Then a simulated call checks that the settings
//! the supervisor saved in the browser apply to the very next caller.
//!
//! Without chromium or node the test fails.

mod common;

use common::caller::{answer_green_questions, press, wait_for_prompt};

use common::audio::find_prompt;
use common::{repo_root, TestService};
use phone_entrance::media::g711::Codec;
use phone_entrance::store::{Answer, CaseMode, Channel, NewCase, Role};
use simulators::caller::{Call, CallConfig, DtmfMethod};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Accounts for the walk-through: a nurse and a supervisor.
async fn staff(svc: &TestService) -> (&'static str, &'static str) {
    svc.add_staff("nina", "nurse-pw", Role::Nurse).await;
    svc.add_staff("sara", "super-pw", Role::Supervisor).await;
    ("nina:nurse-pw", "sara:super-pw")
}

fn case(level: u8, channel: Channel, minutes_ago: i64, q: &str, a: &str) -> NewCase {
    let registered = chrono::Utc::now() - chrono::TimeDelta::minutes(minutes_ago);
    NewCase {
        channel,
        priority: phone_entrance::queue::Priority::new(level).expect("level"),
        mode: CaseMode::Callback,
        registered_at: registered,
        deadline: registered + chrono::TimeDelta::minutes(30 * i64::from(level)),
        estimated_callback_at: None,
        answers: vec![Answer {
            question_id: "q".into(),
            question_text: q.into(),
            value: "1".into(),
            value_text: a.into(),
        }],
        callback_number: Some("+46701234567".into()),
        personnummer: None,
        language: "sv".into(),
        call_id: None,
        external_ref: None,
        summary: String::new(),
        red_flag: false,
    }
}

#[tokio::test]
async fn nurse_and_supervisor_pages_in_headless_chromium() {
    let dir = common::browser::ready();
    let artifacts = repo_root().join("test-artifacts/browser");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let svc = TestService::start().await;
    let (nurse, supervisor) = staff(&svc).await;
    let store = svc.store().await;
    store
        .insert_case(&case(4, Channel::Phone, 20, "Fever?", "Yes"))
        .await
        .expect("phone case");
    store
        .insert_case(&case(
            2,
            Channel::Digital,
            5,
            "Breathing difficulty?",
            "Yes",
        ))
        .await
        .expect("digital case");
    // An urgent case nobody reached: in the review list, not the queue.
    let review = store
        .insert_case(&case(2, Channel::Phone, 40, "Fever?", "Yes"))
        .await
        .expect("review case");
    let nina = phone_entrance::store::Actor {
        username: "nina",
        ip: None,
        may_override: false,
    };
    store
        .claim(review.id, &nina, chrono::Utc::now())
        .await
        .expect("claim");
    let once: phone_entrance::queue::RetryPolicies = phone_entrance::queue::RetryPolicy {
        max_attempts: 1,
        interval: chrono::TimeDelta::minutes(10),
    }
    .into();
    store
        .record_attempt(
            review.id,
            "nina",
            phone_entrance::store::AttemptResult::Busy,
            &once,
            chrono::Utc::now(),
        )
        .await
        .expect("last attempt");

    // A nurse locked out by wrong passwords: the supervisor lifts it in the page.
    svc.add_staff("lena", "nurse-pw-2", Role::Nurse).await;
    for _ in 0..5 {
        let wrong = reqwest::Client::new()
            .post(svc.http_url("/api/v1/login"))
            .json(&serde_json::json!({"username": "lena", "password": "guess"}))
            .send()
            .await
            .expect("login");
        assert_eq!(wrong.status().as_u16(), 401);
    }

    let profile = tempfile::tempdir().expect("profile dir");
    let mut child = common::browser::node(&dir, "staff_pages.mjs")
        .env("PE_BASE_URL", svc.http_url(""))
        .env("PE_ARTIFACTS", &artifacts)
        .env("PE_PROFILE", profile.path())
        .env("PE_NURSE", nurse)
        .env("PE_SUPERVISOR", supervisor)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut log = Vec::new();
    let walk = async {
        while let Some(line) = out.next_line().await.expect("read") {
            eprintln!("browser: {line}");
            if line == "NEED_CASE" {
                store
                    .insert_case(&case(1, Channel::Phone, 0, "Chest pain?", "Yes"))
                    .await
                    .expect("level 1 case");
                stdin.write_all(b"ok\n").await.expect("write");
            }
            log.push(line);
        }
    };
    tokio::time::timeout(Duration::from_secs(120), walk)
        .await
        .expect("the browser walk finishes in time");
    let status = child.wait().await.expect("node exits");
    assert!(
        status.success() && log.iter().any(|l| l == "DONE"),
        "browser walk failed:\n{}",
        log.join("\n")
    );
    for shot in ["nurse-worklist.png", "supervisor.png"] {
        assert!(artifacts.join(shot).exists(), "{shot} saved");
    }

    // The settings saved in the browser reach the very next caller.
    // Another number than the seeded cases': theirs would hear its booked callback.
    let mut config = CallConfig::new(svc.sip_addr());
    config.from_user = "+46709876543".into();
    let call = Call::dial(config).await.expect("answered");
    answer_green_questions(&call, DtmfMethod::Rfc4733, &["msg_high_load"]).await;
    press(&call, "#", DtmfMethod::Rfc4733).await;
    wait_for_prompt(&call, "callback_closed", Duration::from_secs(15)).await;
    let heard = call.received_audio().samples();
    assert!(!find_prompt(&heard, "sv", "msg_high_load", Codec::Pcmu).is_empty());
    let _ = call.save_wav(&artifacts.join("call-after-supervisor-change.wav"));
    let _ = call.hangup().await;
    svc.stop().await;
}
