//! Driving the default IVR flow from a simulated caller: the key sequences
//! and waits every whole-call test shares.

use super::audio::find_prompt;
use super::prompt_seconds;
use phone_entrance::media::g711::Codec;
use simulators::caller::{Call, DtmfMethod};
use std::time::Duration;

/// Pause after each key so the next prompt has started (barge-in stops it).
pub const STEP: Duration = Duration::from_millis(350);

/// A green (level 4) caller up to the personnummer: Swedish, adult, five
/// red flags "no", fever, a few days, not getting worse.
pub const GREEN_KEYS: [&str; 10] = ["1", "3", "2", "2", "2", "2", "2", "1", "2", "2"];

/// Sends `keys` and waits `STEP`.
pub async fn press(call: &Call, keys: &str, method: DtmfMethod) {
    call.send_digits(keys, method).expect("send digits");
    call.wait_sent().await.expect("digits sent");
    tokio::time::sleep(STEP).await;
}

/// Waits out the greeting (keys are ignored during the 112 warning) and any
/// supervisor message played after it (`extra` prompt ids).
pub async fn after_greeting(call: &Call, extra: &[&str]) {
    call.wait_for_audio(Duration::from_secs(5))
        .await
        .expect("greeting audio");
    let intro: f64 = ["welcome", "emergency_112"]
        .iter()
        .chain(extra)
        .map(|id| prompt_seconds("sv", id))
        .sum();
    tokio::time::sleep(Duration::from_secs_f64(intro + 0.3)).await;
}

/// Greeting, then every question of a green caller up to the personnummer.
pub async fn answer_green_questions(call: &Call, method: DtmfMethod, extra: &[&str]) {
    after_greeting(call, extra).await;
    for keys in GREEN_KEYS {
        press(call, keys, method).await;
    }
}

/// The green answers, no personnummer, and the callback offer heard.
pub async fn answer_until_offer(call: &Call, method: DtmfMethod) {
    answer_green_questions(call, method, &[]).await;
    press(call, "#", method).await; // skip personnummer
    tokio::time::sleep(Duration::from_millis(1500)).await; // the offer starts with the estimate
}

/// After the callback number is confirmed: "an SMS about your callback?",
/// answered 2 (no), so the case is registered at once.
pub async fn decline_sms(call: &Call, method: DtmfMethod) {
    wait_for_prompt(call, "sms_consent", Duration::from_secs(10)).await;
    press(call, "2", method).await;
}

/// After the greeting: Swedish, about an adult, severe breathing difficulty.
pub async fn answer_red_flag(call: &Call, method: DtmfMethod) {
    after_greeting(call, &[]).await;
    press(call, "1", method).await;
    press(call, "3", method).await;
    press(call, "1", method).await;
}

/// Polls the received audio until prompt `id` has started playing.
pub async fn wait_for_prompt(call: &Call, id: &str, timeout: Duration) {
    let end = tokio::time::Instant::now() + timeout;
    // The call's codec shapes the samples: match the prompt as either law.
    let heard = |samples: &[i16]| {
        [Codec::Pcmu, Codec::Pcma]
            .into_iter()
            .any(|codec| !find_prompt(samples, "sv", id, codec).is_empty())
    };
    while !heard(&call.received_audio().samples()) {
        assert!(
            tokio::time::Instant::now() < end,
            "prompt {id} was not heard within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
