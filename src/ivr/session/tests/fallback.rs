//! A caller whose case cannot be stored goes to the fallback destination
//! when one is configured: message, `Transfer`, and the call-again message
//! only when the transfer fails.

use super::*;

fn with_fallback(store_down: bool) -> Harness {
    Harness::with(CallInfo {
        caller_id: Some(PhoneNumber::from_caller_id(CALLER).unwrap()),
        identity: CallerIdentity::Trusted,
        fallback: true,
        store_down,
    })
}

/// Green answers, the offer, "1": the callback fails; "1": the hold fails too.
const BOTH_FAIL: &str =
    "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 2 storefail done 1 storefail";

#[test]
fn a_hold_the_store_refuses_goes_to_the_fallback_and_is_never_confirmed() {
    let mut h = with_fallback(false);
    h.run(BOTH_FAIL);
    let acts = h.run("done");
    assert_eq!(acts, vec![IvrAction::Transfer]);
    assert!(h.played().contains(&"fallback_connecting".to_owned()));
    h.run("transferred");
    assert_eq!(h.outcome(), Some(&CallOutcome::Fallback));
    assert!(h.s.is_finished());
    let p = h.played();
    assert!(!p.contains(&"hold_unavailable".to_owned()));
    assert!(!p.contains(&"hold_music".to_owned()));
    assert!(!p.contains(&"callback_registered".to_owned()));
}

#[test]
fn a_fallback_that_does_not_answer_leaves_the_call_again_message() {
    let mut h = with_fallback(false);
    h.run(BOTH_FAIL);
    h.run("done transferfail");
    assert!(h.played().ends_with(&["hold_unavailable".to_owned()]));
    // Tried once: the call ends after the message, no second transfer.
    let acts = h.run("done");
    assert_eq!(acts.last(), Some(&IvrAction::Hangup));
    assert_eq!(h.outcome(), Some(&CallOutcome::RegistrationFailed));
    assert_eq!(
        h.log.iter().filter(|a| **a == IvrAction::Transfer).count(),
        1
    );
}

#[test]
fn a_store_timeout_on_the_hold_goes_to_the_fallback_too() {
    let mut h = with_fallback(false);
    h.run("answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 2 wait=9 done 1 wait=9");
    assert_eq!(h.run("done"), vec![IvrAction::Transfer]);
}

#[test]
fn with_the_store_down_the_call_goes_straight_to_the_fallback_in_both_languages() {
    let mut h = with_fallback(true);
    h.run("answer");
    assert_eq!(
        h.played(),
        vec![
            "fallback_connecting".to_owned(),
            "fallback_connecting".to_owned()
        ]
    );
    assert_eq!(h.run("done"), vec![IvrAction::Transfer]);
    assert!(h.draft().is_none(), "nothing asked, nothing registered");
    h.run("hangup");
    assert_eq!(h.outcome(), Some(&CallOutcome::RegistrationFailed));
}

#[test]
fn without_a_fallback_the_store_down_flag_changes_nothing() {
    let mut h = Harness::with(CallInfo {
        store_down: true,
        ..CallInfo::default()
    });
    h.run("answer");
    assert_eq!(
        h.played(),
        vec!["welcome".to_owned(), "emergency_112".to_owned()]
    );
}
