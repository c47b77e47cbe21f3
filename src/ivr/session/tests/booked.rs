//! A caller who already has a callback booked: it is said, kept with 1 or
//! by not answering, cancelled with 2 only once the cancel is committed.

use super::*;

fn booked(id: &str, cancelled: bool) -> Option<CallOutcome> {
    Some(CallOutcome::BookedCallback {
        case_id: id.into(),
        cancelled,
    })
}

#[test]
fn scripted_booked_callback_calls_behave_as_specified() {
    run_cases(cases());
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "booked_callback_is_said_and_kept_with_one",
            caller: Some(CALLER),
            script: "answer done done booked=b1@15:20 1 done 1 done done",
            outcome: booked("b1", false),
            last: Some(IvrAction::Hangup),
            check: |h| {
                let p = h.played();
                let said = [
                    "booked_callback",
                    "klockan",
                    "n15",
                    "n20",
                    "booked_callback_keys",
                ];
                assert!(p.windows(said.len()).any(|w| w == said), "{p:?}");
                assert_eq!(p[p.len() - 2..], ["booked_kept", "goodbye"]);
                assert!(h.draft().is_none());
                assert!(!h
                    .log
                    .iter()
                    .any(|a| matches!(a, IvrAction::CancelCase { .. })));
            },
        },
        Case {
            name: "booked_callback_cancelled_with_two_is_confirmed_after_the_commit",
            caller: Some(CALLER),
            script: "answer done done booked=b1@15:20 1 done 2",
            outcome: None,
            last: Some(IvrAction::CancelCase {
                case_id: "b1".into(),
            }),
            check: |h| {
                assert!(!h.played().contains(&"booked_cancelled".to_owned()));
                let mut h2 = Harness::new(Some(CALLER));
                h2.run("answer done done booked=b1@15:20 1 done 2 cancelled done done");
                let p = h2.played();
                assert_eq!(p[p.len() - 2..], ["booked_cancelled", "goodbye"]);
                assert_eq!(h2.outcome(), booked("b1", true).as_ref());
                assert_eq!(h2.log.last(), Some(&IvrAction::Hangup));
            },
        },
        Case {
            name: "failed_cancel_says_the_callback_stays",
            caller: Some(CALLER),
            script: "answer done done booked=b1@15:20 1 done 2 cancelfail done done",
            outcome: booked("b1", false),
            last: Some(IvrAction::Hangup),
            check: |h| {
                let p = h.played();
                assert_eq!(p[p.len() - 2..], ["booked_cancel_failed", "goodbye"]);
            },
        },
        Case {
            name: "no_booked_callback_goes_on_to_the_questions",
            caller: Some(CALLER),
            script: "answer done done 1",
            outcome: None,
            last: None,
            check: |h| {
                assert!(h
                    .log
                    .iter()
                    .any(|a| matches!(a, IvrAction::FindBookedCallback { .. })));
                assert_eq!(h.played().last().map(String::as_str), Some("ask_about"));
            },
        },
        Case {
            name: "withheld_caller_is_not_looked_up_for_a_booking",
            caller: None,
            script: "answer done done 1",
            outcome: None,
            last: None,
            check: |h| {
                assert!(!h
                    .log
                    .iter()
                    .any(|a| matches!(a, IvrAction::FindBookedCallback { .. })));
                assert_eq!(h.played().last().map(String::as_str), Some("ask_about"));
            },
        },
    ]
}

#[test]
fn booked_callback_lookup_that_never_answers_goes_on_after_the_timeout() {
    let mut h = Harness::new(Some(CALLER));
    h.booked = None;
    // Take the lookup out of the harness's hands: drive the session directly.
    h.run("answer done done");
    h.s.handle(h.now, IvrEvent::Digit(DtmfKey::Digit(1)));
    let acts: Vec<IvrAction> = std::iter::from_fn(|| h.s.poll_action()).collect();
    assert!(
        matches!(acts.last(), Some(IvrAction::FindBookedCallback { .. })),
        "{acts:?}"
    );
    let deadline = h.s.poll_timeout().unwrap();
    h.s.handle_timeout(deadline);
    let acts: Vec<IvrAction> = std::iter::from_fn(|| h.s.poll_action()).collect();
    assert_eq!(played(&acts), ["ask_about"]);
}

#[test]
fn unanswered_booked_question_keeps_the_callback() {
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done booked=b1@15:20 1 done wait=6 done wait=6 done wait=6");
    assert!(!h
        .log
        .iter()
        .any(|a| matches!(a, IvrAction::CancelCase { .. })));
    assert!(
        h.draft().is_none(),
        "no hold case for a caller who already has one"
    );
    assert_eq!(h.played().last().map(String::as_str), Some("booked_kept"));
}
