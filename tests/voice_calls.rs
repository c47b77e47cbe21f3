//! Whole calls over real sockets for the voice note and the booked-callback
//! check: the simulator speaks after the tone and a nurse fetches the note as
//! a WAV; a second call from the same number hears the booked time and
//! cancels it (9, then 1 to confirm). tests/repeat_callers.rs has the rest.

mod common;

use common::audio::find_prompt;
use common::caller::{after_greeting, answer_green_questions, decline_sms, press, wait_for_prompt};
use common::TestService;
use phone_entrance::media::g711::Codec;
use phone_entrance::store::{CaseStatus, Role};
use simulators::caller::{Call, CallConfig, DtmfMethod, EndReason, InfoFormat};
use simulators::script::speech_like;
use std::time::Duration;

const METHOD: DtmfMethod = DtmfMethod::Rfc4733;
/// Keys as SIP INFO: the media engine (for now) stops decoding a caller's
/// audio once it has seen an RFC 4733 event, which leaves the recorder silent.
const INFO: DtmfMethod = DtmfMethod::SipInfo(InfoFormat::DtmfRelay);

async fn wait_bye(call: &Call) -> EndReason {
    tokio::time::timeout(Duration::from_secs(40), call.wait_ended())
        .await
        .expect("the service ends the call")
}

/// A green caller up to the confirmation of the callback.
async fn register_green_callback(svc: &TestService, method: DtmfMethod) -> Call {
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    answer_green_questions(&call, method, &[]).await;
    press(&call, "#", method).await; // skip personnummer
    tokio::time::sleep(Duration::from_millis(1500)).await;
    press(&call, "1", method).await; // callback to the caller ID
    decline_sms(&call, method).await;
    call
}

/// A signed-in HTTP client for a new nurse.
async fn nurse(svc: &TestService) -> reqwest::Client {
    svc.add_staff("nina", "nurse-password-1", Role::Nurse).await;
    svc.login("nina", "nurse-password-1").await
}

fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt()
}

#[tokio::test]
async fn caller_leaves_a_voice_note_that_the_nurse_gets_as_wav() {
    voice_note_reaches_the_nurse(INFO).await;
}

#[tokio::test]
async fn caller_using_rfc4733_keys_leaves_a_voice_note_too() {
    voice_note_reaches_the_nurse(METHOD).await;
}

async fn voice_note_reaches_the_nurse(method: DtmfMethod) {
    let svc = TestService::start().await;
    let call = register_green_callback(&svc, method).await;
    // Confirmation, then "describe your problem after the tone" and the tone.
    wait_for_prompt(&call, "voice_note", Duration::from_secs(25)).await;
    wait_for_prompt(&call, "beep", Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    call.play_audio(speech_like(Duration::from_secs(3)))
        .expect("speak");
    call.wait_sent().await.expect("spoken");
    press(&call, "#", method).await;
    assert_eq!(wait_bye(&call).await, EndReason::RemoteHangup);
    let heard = call.received_audio().samples();
    let beep = find_prompt(&heard, "sv", "beep", Codec::Pcmu);
    let goodbye = find_prompt(&heard, "sv", "goodbye", Codec::Pcmu);
    assert!(!beep.is_empty() && !goodbye.is_empty());
    assert!(
        goodbye[0] > beep[0] + 3 * 8000,
        "goodbye came before the note ended"
    );

    let cases = svc.wait_for_cases(1, Duration::from_secs(5)).await;
    let id = cases[0].id;
    let http = nurse(&svc).await;
    let case: serde_json::Value = http
        .get(svc.http_url(&format!("/api/v1/cases/{id}")))
        .send()
        .await
        .expect("case")
        .json()
        .await
        .expect("json");
    assert_eq!(case["has_voice_note"], true);
    let r = http
        .get(svc.http_url(&format!("/api/v1/cases/{id}/voice-note")))
        .send()
        .await
        .expect("voice note");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "audio/wav");
    let bytes = r.bytes().await.expect("body");
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes.to_vec())).expect("a WAV");
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8000, 1, 16)
    );
    let samples: Vec<i16> = reader
        .into_samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    let seconds = samples.len() as f64 / 8000.0;
    assert!((3.0..10.0).contains(&seconds), "note is {seconds:.2} s");
    // The three seconds of speech are in it (G.711 round trip: energy, not bytes).
    let loud = samples.chunks(160).filter(|f| rms(f) > 700.0).count();
    assert!(loud >= 145, "only {loud} loud 20 ms frames in the note");
    let sent = rms(&speech_like(Duration::from_secs(3)));
    let best = samples.chunks(8000).map(rms).fold(0.0, f64::max);
    assert!(
        best > sent * 0.7 && best < sent * 1.3,
        "level {best:.0} vs sent {sent:.0}"
    );
    svc.stop().await;
}

#[tokio::test]
async fn caller_who_hangs_up_during_the_voice_note_keeps_what_was_said() {
    let svc = TestService::start().await;
    let call = register_green_callback(&svc, INFO).await;
    wait_for_prompt(&call, "beep", Duration::from_secs(35)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    call.play_audio(speech_like(Duration::from_secs(2)))
        .expect("speak");
    call.wait_sent().await.expect("spoken");
    call.hangup().await.expect("hang up");
    let cases = svc.wait_for_cases(1, Duration::from_secs(5)).await;
    let store = svc.store().await;
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    let wav = loop {
        if let Some(w) = store.voice_note(cases[0].id).await.expect("read") {
            break w;
        }
        assert!(tokio::time::Instant::now() < end, "no voice note stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let reader = hound::WavReader::new(std::io::Cursor::new(wav)).expect("a WAV");
    let samples: Vec<i16> = reader
        .into_samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    assert!(samples.chunks(160).filter(|f| rms(f) > 700.0).count() >= 80);
    svc.stop().await;
}

#[tokio::test]
async fn second_call_from_the_same_number_hears_the_booked_time_and_cancels() {
    let svc = TestService::start().await;
    let first = register_green_callback(&svc, METHOD).await;
    // No voice note: the caller stays quiet after the tone and the IVR goes on.
    assert_eq!(wait_bye(&first).await, EndReason::RemoteHangup);
    let cases = svc.wait_for_cases(1, Duration::from_secs(5)).await;
    let booked = cases[0].id;
    let store = svc.store().await;
    assert_eq!(store.voice_note(booked).await.expect("read"), None);

    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    after_greeting(&call, &[]).await;
    press(&call, "1", METHOD).await; // Swedish
    wait_for_prompt(&call, "booked_callback_keys", Duration::from_secs(15)).await;
    press(&call, "9", METHOD).await; // cancel it (2 is "answer again")
    wait_for_prompt(&call, "booked_cancel_confirm", Duration::from_secs(10)).await;
    press(&call, "1", METHOD).await; // confirm
    assert_eq!(wait_bye(&call).await, EndReason::RemoteHangup);
    let heard = call.received_audio().samples();
    for id in ["booked_callback", "klockan", "booked_cancelled", "goodbye"] {
        assert!(
            !find_prompt(&heard, "sv", id, Codec::Pcmu).is_empty(),
            "caller did not hear {id}"
        );
    }
    assert!(find_prompt(&heard, "sv", "ask_about", Codec::Pcmu).is_empty());

    let case = store.get_case(booked).await.expect("read").expect("case");
    assert_eq!(case.status, CaseStatus::Cancelled);
    assert!(svc.worklist().await.is_empty(), "no new case either");
    let audit = store.audit_rows(Some(booked), 20).await.expect("audit");
    assert!(audit
        .iter()
        .any(|r| r.action == "case.cancel" && r.actor == "ivr"));
    svc.stop().await;
}

#[tokio::test]
async fn second_call_can_keep_the_booked_callback() {
    let svc = TestService::start().await;
    let first = register_green_callback(&svc, METHOD).await;
    assert_eq!(wait_bye(&first).await, EndReason::RemoteHangup);
    let cases = svc.wait_for_cases(1, Duration::from_secs(5)).await;

    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    after_greeting(&call, &[]).await;
    press(&call, "1", METHOD).await;
    wait_for_prompt(&call, "booked_callback_keys", Duration::from_secs(15)).await;
    press(&call, "1", METHOD).await; // keep it
    assert_eq!(wait_bye(&call).await, EndReason::RemoteHangup);
    let heard = call.received_audio().samples();
    assert!(!find_prompt(&heard, "sv", "booked_kept", Codec::Pcmu).is_empty());
    let list = svc.worklist().await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, cases[0].id);
    assert_eq!(list[0].status, CaseStatus::Waiting);
    svc.stop().await;
}
