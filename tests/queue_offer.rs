//! The IVR respects opening hours, the daily callback capacity and the
//! supervisor's closed offer: whole calls over real sockets against the
//! in-process service with an edited `hours.toml`.

mod common;

use common::caller::{answer_green_questions, decline_sms, press, wait_for_prompt};

use chrono::{Datelike, Duration as ChronoDuration, Timelike, Utc};
use common::audio::find_prompt;
use common::TestService;
use phone_entrance::media::g711::Codec;
use phone_entrance::queue::Priority;
use phone_entrance::store::{CaseMode, CaseStatus, Channel, NewCase};
use simulators::caller::{Call, CallConfig, DtmfMethod};
use std::path::Path;
use std::time::Duration;

const M: DtmfMethod = DtmfMethod::Rfc4733;

/// A level-4 caller with the personnummer skipped: the callback offer (or its
/// closed route) is next.
async fn to_the_offer(call: &Call) {
    answer_green_questions(call, M, &[]).await;
    press(call, "#", M).await;
}

fn write_hours(dir: &Path, body: &str) {
    std::fs::write(dir.join("hours.toml"), body).expect("write hours.toml");
}

const NEVER_OPEN: &str = "when_closed = \"hold\"\n[weekly]\nmon = []\ntue = []\nwed = []\n\
    thu = []\nfri = []\nsat = []\nsun = []\n";

/// Closed hours, "hold" route: the caller hears the closed message and holds
/// for a nurse; the case waits as a hold at its level.
#[tokio::test]
async fn after_hours_with_hold_route_plays_closed_and_holds() {
    let svc = TestService::start_with(None, |dir| write_hours(dir, NEVER_OPEN)).await;
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    to_the_offer(&call).await;
    wait_for_prompt(&call, "connecting_nurse", Duration::from_secs(25)).await;
    let heard = call.received_audio().samples();
    assert!(!find_prompt(&heard, "sv", "callback_closed", Codec::Pcmu).is_empty());
    assert!(find_prompt(&heard, "sv", "callback_offer_time", Codec::Pcmu).is_empty());
    let cases = svc.wait_for_cases(1, Duration::from_secs(5)).await;
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].mode, CaseMode::Hold);
    assert_eq!(cases[0].status, CaseStatus::Holding);
    assert_eq!(cases[0].priority.level(), 4);
    call.hangup().await.expect("hangup");
    svc.stop().await;
}

/// Today's capacity is used up: the caller is offered the next day's opening
/// and the case is stored with that time.
#[tokio::test]
async fn full_day_offers_a_callback_at_the_next_opening() {
    let hours = "daily_callback_capacity = 1\nwhen_closed = \"next_opening\"\n[weekly]\n\
        mon = [\"08:00-20:00\"]\ntue = [\"08:00-20:00\"]\nwed = [\"08:00-20:00\"]\n\
        thu = [\"08:00-20:00\"]\nfri = [\"08:00-20:00\"]\nsat = [\"08:00-20:00\"]\n\
        sun = [\"08:00-20:00\"]\n";
    let svc = TestService::start_with(None, |dir| write_hours(dir, hours)).await;
    // One digital callback registered today fills the day.
    let now = Utc::now();
    let p = Priority::new(5).expect("level");
    svc.store()
        .await
        .insert_case(&NewCase {
            channel: Channel::Digital,
            priority: p,
            mode: CaseMode::Callback,
            registered_at: now,
            deadline: now + ChronoDuration::hours(24),
            estimated_callback_at: None,
            answers: Vec::new(),
            callback_number: Some("+46701234500".into()),
            personnummer: None,
            language: "sv".into(),
            call_id: None,
            external_ref: Some("fill-the-day".into()),
            summary: String::new(),
            red_flag: false,
        })
        .await
        .expect("insert");

    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    to_the_offer(&call).await;
    wait_for_prompt(&call, "callback_offer_time", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    press(&call, "1", M).await; // confirm the caller ID
    decline_sms(&call, M).await;
    wait_for_prompt(&call, "callback_registered", Duration::from_secs(30)).await;
    let heard = call.received_audio().samples();
    assert!(
        !find_prompt(&heard, "sv", "tomorrow", Codec::Pcmu).is_empty(),
        "a next-day callback is said as tomorrow"
    );

    let cases = svc.wait_for_cases(2, Duration::from_secs(5)).await;
    let phone = cases
        .iter()
        .find(|c| c.channel == Channel::Phone)
        .expect("phone case");
    let at = phone
        .estimated_callback_at
        .expect("estimate")
        .with_timezone(&chrono_tz::Europe::Stockholm);
    let today = now
        .with_timezone(&chrono_tz::Europe::Stockholm)
        .date_naive();
    assert_eq!(at.date_naive(), today.succ_opt().expect("tomorrow"));
    assert_eq!((at.hour(), at.minute()), (8, 0), "{at}");
    assert!(at.year() >= 2025);
    call.hangup().await.ok();
    svc.stop().await;
}

/// The supervisor closes the callback offer: the next level-4 caller hears the
/// closed message and holds; no restart needed.
#[tokio::test]
async fn supervisor_closed_offer_takes_effect_for_the_next_caller() {
    let svc = TestService::start().await;
    let live = &svc.running.live;
    let mut closed = live.settings();
    closed.callback_offer_open = false;
    live.update(closed, "sara", "offer closed", chrono::Utc::now())
        .await
        .expect("settings saved");
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    to_the_offer(&call).await;
    wait_for_prompt(&call, "connecting_nurse", Duration::from_secs(25)).await;
    let heard = call.received_audio().samples();
    assert!(!find_prompt(&heard, "sv", "callback_closed", Codec::Pcmu).is_empty());
    call.hangup().await.expect("hangup");
    svc.stop().await;
}

/// A digital case gets the same replayed estimate as a phone caller of its
/// level would (one queue, one estimate for both channels).
#[tokio::test]
async fn digital_case_gets_the_replayed_estimate_of_the_shared_queue() {
    let token = "digital-intake-test-token-0123456789";
    let svc = TestService::start_with(None, |dir| {
        let line = format!(
            "[[client]]\nname = \"1177-direkt\"\ntoken_sha256 = \"{}\"\n",
            phone_entrance::api::auth::sha256_hex(token)
        );
        std::fs::write(dir.join("intake-clients.toml"), line).expect("clients");
    })
    .await;
    let body = serde_json::json!({
        "external_ref": "d-1",
        "level": 3,
        "answers": [{"question_id": "fever", "question_text": "Har du feber?", "answer": "Ja"}],
        "callback_number": "070-123 45 67",
        "personnummer": "19121212-1212",
        "summary": "Feber",
        "language": "sv"
    });
    // A three-hour closure: the shared replay puts the call after it.
    let before = chrono::Utc::now();
    let live = &svc.running.live;
    let mut closed = live.settings();
    closed.closures = vec![phone_entrance::queue::Closure {
        from: before - chrono::Duration::minutes(1),
        to: before + chrono::Duration::hours(3),
        reason: "system change".into(),
    }];
    live.update(closed, "sara", "closure", before)
        .await
        .expect("settings");
    let r = reqwest::Client::new()
        .post(svc.http_url("/api/v1/cases"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let created: serde_json::Value = r.json().await.expect("json");
    let told: chrono::DateTime<chrono::Utc> = created["estimated_callback_at"]
        .as_str()
        .expect("estimate")
        .parse()
        .expect("time");
    let replayed = svc
        .running
        .booking
        .callback_estimate(Priority::new(3).expect("level"), before)
        .await
        .expect("estimate");
    let diff = (told - replayed).num_seconds().abs();
    assert!(
        diff <= 60,
        "digital estimate {told} differs from the replay {replayed}"
    );
    svc.stop().await;
}
