//! Repeat callers over real sockets: a number that already waits for a
//! callback calls again (RFC 4733 keys from the simulated caller) and keeps
//! it, answers the questions again (the same case is updated: level up,
//! place kept; a red flag holds on it), cancels it only with 9 + 1 (and the
//! case's personnummer), or calls about someone else (a second case). A
//! caller who presses 2 and hangs up mid-questions changes nothing.

mod common;

use common::audio::find_prompt;
use common::caller::{after_greeting, decline_sms, press, wait_for_prompt, GREEN_KEYS};
use common::postgres::{drop_postgres_database, postgres_database};
use common::{set_config, TestService};
use phone_entrance::booking::RETRIAGED_BY_CALL;
use phone_entrance::media::g711::Codec;
use phone_entrance::store::{CaseMode, CaseRecord, CaseStatus, Store};
use simulators::caller::{Call, CallConfig, DtmfMethod, EndReason};
use std::time::Duration;

const M: DtmfMethod = DtmfMethod::Rfc4733;
/// The simulated caller's number (its From).
const CALLER: &str = "+46701234567";
const PNR: &str = "191212121212";

async fn wait_bye(call: &Call) -> EndReason {
    tokio::time::timeout(Duration::from_secs(60), call.wait_ended())
        .await
        .expect("the service ends the call")
}

/// A level-4 callback to the caller's number, registered 30 minutes ago.
async fn seed(store: &Store, personnummer: Option<&str>) -> CaseRecord {
    common::seed_booked_callback(store, CALLER, personnummer).await
}

/// Dials again, chooses Swedish and waits for the booked-callback menu.
async fn call_again(svc: &TestService) -> Call {
    let call = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    after_greeting(&call, &[]).await;
    press(&call, "1", M).await;
    wait_for_prompt(&call, "booked_callback_keys", Duration::from_secs(15)).await;
    call
}

fn heard(call: &Call, id: &str) -> bool {
    !find_prompt(&call.received_audio().samples(), "sv", id, Codec::Pcmu).is_empty()
}

async fn actions(store: &Store, case: &CaseRecord) -> Vec<String> {
    let rows = store.audit_rows(Some(case.id), 50).await.expect("audit");
    rows.into_iter().map(|r| r.action).collect()
}

#[tokio::test]
async fn answering_again_raises_the_level_of_the_same_case_which_keeps_its_place() {
    answering_again_updates_the_case(None).await;
}

/// The same on PostgreSQL, with the update seen on the live event stream.
#[tokio::test]
async fn answering_again_updates_the_case_on_postgres_too() {
    let url = postgres_database().await;
    answering_again_updates_the_case(Some(url.clone())).await;
    drop_postgres_database(&url).await;
}

async fn answering_again_updates_the_case(database_url: Option<String>) {
    let svc = TestService::start_with(database_url, |_| {}).await;
    let store = svc.store().await;
    let first = seed(&store, None).await;
    let version = store.queue_version().await.expect("queue version");
    let call = call_again(&svc).await;
    press(&call, "2", M).await; // answer the questions again
                                // Adult, no red flags, fever, a few days, now getting worse: level 3.
    for keys in ["3", "2", "2", "2", "2", "2", "1", "2", "1", "#"] {
        press(&call, keys, M).await;
    }
    assert_eq!(wait_bye(&call).await, EndReason::RemoteHangup);
    assert!(heard(&call, "booked_updated") && heard(&call, "klockan"));
    assert!(!heard(&call, "callback_offer_time"), "no second offer");

    let list = svc.worklist().await;
    assert_eq!(list.len(), 1, "no duplicate case");
    let case = &list[0];
    assert_eq!(case.id, first.id);
    assert_eq!(case.priority.level(), 3, "raised from 4");
    assert_eq!(case.registered_at, first.registered_at, "its place is kept");
    assert!(case.deadline < first.deadline, "the earlier deadline");
    assert!(case.estimated_callback_at <= first.estimated_callback_at);
    assert_eq!(case.status, CaseStatus::Waiting);
    assert_eq!(case.summary, RETRIAGED_BY_CALL);
    let worsening = case.answers.iter().find(|a| a.question_id == "worsening");
    assert_eq!(worsening.map(|a| a.value.as_str()), Some("yes"));
    assert!(actions(&store, case)
        .await
        .contains(&"case.retriaged".to_string()));
    // What the worklists' event stream follows (SQLite counter, PostgreSQL NOTIFY).
    assert!(store.queue_version().await.expect("queue version") > version);
    svc.stop().await;
}

#[tokio::test]
async fn a_red_flag_on_answering_again_holds_on_the_same_case() {
    let svc = TestService::start_with(None, |dir| set_config(dir, "ivr.toml", "wait_s", "2")).await;
    let store = svc.store().await;
    let first = seed(&store, None).await;
    let call = call_again(&svc).await;
    press(&call, "2", M).await;
    press(&call, "3", M).await; // an adult
    press(&call, "1", M).await; // severe breathing difficulty
    wait_for_prompt(&call, "hold_music", Duration::from_secs(30)).await;
    assert!(heard(&call, "advice_112"));
    let list = svc.worklist().await;
    assert_eq!(list.len(), 1, "the waiting case is the held one");
    let case = &list[0];
    assert_eq!(case.id, first.id);
    assert_eq!(
        (case.priority.level(), case.status, case.mode, case.red_flag),
        (1, CaseStatus::Holding, CaseMode::Hold, true)
    );
    assert_eq!(case.registered_at, first.registered_at);
    call.hangup().await.expect("hang up while holding");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let case = svc.case(&first.id.to_string()).await;
    assert_eq!(
        (case.priority.level(), case.status, case.mode),
        (1, CaseStatus::Waiting, CaseMode::Callback),
        "a held caller who leaves keeps the raised case as a callback"
    );
    svc.stop().await;
}

#[tokio::test]
async fn two_then_hanging_up_mid_questions_leaves_the_case_as_it_was() {
    let svc = TestService::start().await;
    let store = svc.store().await;
    let first = seed(&store, None).await;
    let call = call_again(&svc).await;
    press(&call, "2", M).await; // the old cancel key: now "answer again"
    wait_for_prompt(&call, "ask_about", Duration::from_secs(10)).await;
    press(&call, "3", M).await;
    press(&call, "2", M).await; // "no" to a red-flag question
    call.hangup().await.expect("hang up mid-questions");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let list = svc.worklist().await;
    assert_eq!(list.len(), 1);
    let case = &list[0];
    assert_eq!(case.id, first.id);
    assert_eq!(case.status, CaseStatus::Waiting, "nothing cancelled");
    assert_eq!(
        (case.priority, case.deadline, &case.answers, &case.summary),
        (
            first.priority,
            first.deadline,
            &first.answers,
            &first.summary
        ),
        "nothing changed"
    );
    assert_eq!(actions(&store, case).await, vec!["case.created"]);
    assert!(!heard(&call, "booked_cancelled"));
    svc.stop().await;
}

/// Calls again, presses 9, then each step's keys once its prompt started;
/// returns the call (ended by the service) and the case's status after it.
async fn cancel_call(
    svc: &TestService,
    case: &CaseRecord,
    steps: &[(&str, &str)],
) -> (Call, CaseStatus) {
    let call = call_again(svc).await;
    press(&call, "9", M).await;
    for (prompt, keys) in steps {
        wait_for_prompt(&call, prompt, Duration::from_secs(10)).await;
        press(&call, keys, M).await;
    }
    assert_eq!(wait_bye(&call).await, EndReason::RemoteHangup);
    let status = svc.case(&case.id.to_string()).await.status;
    (call, status)
}

const CONFIRM: &str = "booked_cancel_confirm";
const ASK_PNR: &str = "booked_cancel_personnummer";

#[tokio::test]
async fn nine_then_one_cancels_and_two_at_the_confirmation_keeps() {
    let svc = TestService::start().await;
    let store = svc.store().await;
    let first = seed(&store, None).await;

    let (call, status) = cancel_call(&svc, &first, &[(CONFIRM, "2")]).await; // no: keep it
    assert!(heard(&call, "booked_kept"));
    assert_eq!(status, CaseStatus::Waiting);

    let (call, status) = cancel_call(&svc, &first, &[(CONFIRM, "1")]).await;
    assert!(heard(&call, "booked_cancelled"));
    assert_eq!(status, CaseStatus::Cancelled);
    assert!(actions(&store, &first)
        .await
        .contains(&"case.cancel".to_string()));
    svc.stop().await;
}

#[tokio::test]
async fn cancelling_a_case_with_a_personnummer_needs_that_personnummer() {
    let svc = TestService::start().await;
    let store = svc.store().await;
    let first = seed(&store, Some(PNR)).await;

    // A valid personnummer, but not the case's.
    let wrong = [(CONFIRM, "1"), (ASK_PNR, "199001011239#")];
    let (call, status) = cancel_call(&svc, &first, &wrong).await;
    assert!(heard(&call, "booked_personnummer_mismatch"));
    assert!(!heard(&call, "booked_cancelled"));
    assert_eq!(status, CaseStatus::Waiting);

    let pnr = format!("{PNR}#");
    let right = [(CONFIRM, "1"), (ASK_PNR, pnr.as_str())];
    let (call, status) = cancel_call(&svc, &first, &right).await;
    assert!(heard(&call, "booked_cancelled"));
    assert_eq!(status, CaseStatus::Cancelled);
    svc.stop().await;
}

#[tokio::test]
async fn a_call_about_someone_else_makes_a_second_case() {
    let svc = TestService::start().await;
    let store = svc.store().await;
    let first = seed(&store, None).await;
    let call = call_again(&svc).await;
    // Someone else in the household, then the green answers after the
    // language (already chosen).
    press(&call, "3", M).await;
    for keys in &GREEN_KEYS[1..] {
        press(&call, keys, M).await;
    }
    press(&call, "#", M).await; // no personnummer
    wait_for_prompt(&call, "callback_offer_keys", Duration::from_secs(15)).await;
    press(&call, "1", M).await; // callback to this number
    decline_sms(&call, M).await;
    wait_for_prompt(&call, "callback_registered", Duration::from_secs(15)).await;
    call.hangup().await.expect("hang up");
    let list = svc.wait_for_cases(2, Duration::from_secs(5)).await;
    assert_eq!(list.len(), 2, "a second case");
    let second = list.iter().find(|c| c.id != first.id).expect("new case");
    assert_eq!(second.callback_number.as_deref(), Some(CALLER));
    let same = svc.case(&first.id.to_string()).await;
    assert_eq!(
        (same.status, same.priority, &same.answers),
        (CaseStatus::Waiting, first.priority, &first.answers),
        "the first case is untouched"
    );
    svc.stop().await;
}
