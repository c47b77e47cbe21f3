//! The service stops with the caller on the line: the closing message, then
//! our hang-up; what the IVR knew is kept, outcomes are reported once.

use super::*;

fn outcomes(h: &Harness) -> usize {
    h.log
        .iter()
        .filter(|a| matches!(a, IvrAction::Outcome(_)))
        .count()
}

#[test]
fn a_caller_mid_questions_hears_the_closing_message_then_we_hang_up() {
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1 3 closing");
    assert_eq!(h.played().last().map(String::as_str), Some("closing"));
    assert_ne!(
        h.log.last(),
        Some(&IvrAction::Hangup),
        "not before the message"
    );
    h.run("2 2 done");
    assert_eq!(h.log.last(), Some(&IvrAction::Hangup));
    assert!(matches!(h.outcome(), Some(CallOutcome::Abandoned { .. })));
    assert!(h.draft().is_none(), "not triaged: nothing to register");
    assert_eq!(outcomes(&h), 1);
}

#[test]
fn an_urgent_triaged_caller_is_registered_once_when_the_service_stops() {
    // Infant (level 2) hearing the offer; hangs up during the closing message.
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1 1 2 2 2 2 2 4 2 2 # est=14:30 closing hangup");
    let drafts = h
        .log
        .iter()
        .filter(|a| matches!(a, IvrAction::RegisterCase(_)))
        .count();
    assert_eq!(drafts, 1, "{:?}", h.log);
    assert!(h.draft().unwrap().dropped_in_ivr);
    assert!(h.played().contains(&"closing".to_owned()));
}

#[test]
fn a_held_caller_with_a_number_is_told_a_nurse_will_call() {
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1 3 1 done wait=10 stored=c9@10:00 done");
    assert_eq!(h.log.last(), Some(&IvrAction::Hold));
    h.run("closing done");
    assert_eq!(h.played().last().map(String::as_str), Some("closing_held"));
    assert_eq!(h.log.last(), Some(&IvrAction::Hangup));
    assert_eq!(outcomes(&h), 1, "the hold was reported once: {:?}", h.log);
    assert_eq!(h.outcome(), held(Some("c9"), 1).as_ref());
}

#[test]
fn a_held_caller_who_hangs_up_during_the_message_is_reported_once() {
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1 3 1 done wait=10 stored=c9@10:00 done closing hangup");
    assert_eq!(outcomes(&h), 1, "{:?}", h.log);
}

#[test]
fn a_numberless_held_caller_hears_the_general_message() {
    let mut h = Harness::new(None);
    h.run("answer done done 1 3 1 done wait=10 stored=c9@10:00 done closing");
    assert_eq!(h.played().last().map(String::as_str), Some("closing"));
}

#[test]
fn keys_and_late_store_answers_do_not_resume_the_walk() {
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 2 closing stored=c1@14:35 1 2");
    assert_eq!(h.played().last().map(String::as_str), Some("closing"));
    assert!(!h.played().contains(&"callback_registered".to_owned()));
    h.run("closing done");
    assert_eq!(h.log.last(), Some(&IvrAction::Hangup));
}

#[test]
fn closing_before_answer_or_after_the_end_does_nothing() {
    let mut h = Harness::new(Some(CALLER));
    assert!(h.run("closing").is_empty());
    h.run("answer done done 1 hangup");
    assert!(h.run("closing").is_empty());
}
