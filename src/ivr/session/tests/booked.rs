//! A caller who already has a callback booked: it is said, kept with 1 or
//! by not answering; 2 answers the questions again and updates that case
//! (never cancels); 3 is a new call about someone else; 9 cancels after a
//! confirmation (and the case's personnummer), confirmed only once committed.

use super::*;

/// The case was not cancelled and the call ended with `said`, then goodbye.
fn kept_after(h: &Harness, said: &str) {
    assert!(!cancelled_any(h));
    let p = h.played();
    assert_eq!(p[p.len() - 2..], [said, "goodbye"]);
}

fn cancelled_any(h: &Harness) -> bool {
    h.log
        .iter()
        .any(|a| matches!(a, IvrAction::CancelCase { .. }))
}

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
            name: "booked_callback_cancelled_with_nine_and_one_is_confirmed_after_the_commit",
            caller: Some(CALLER),
            script: "answer done done booked=b1@15:20 1 done 9 done 1",
            outcome: None,
            last: Some(IvrAction::CancelCase {
                case_id: "b1".into(),
            }),
            check: |h| {
                assert!(h.played().contains(&"booked_cancel_confirm".to_owned()));
                assert!(!h.played().contains(&"booked_cancelled".to_owned()));
                let mut h2 = Harness::new(Some(CALLER));
                h2.run("answer done done booked=b1@15:20 1 done 9 1 cancelled done done");
                let p = h2.played();
                assert_eq!(p[p.len() - 2..], ["booked_cancelled", "goodbye"]);
                assert_eq!(h2.outcome(), booked("b1", true).as_ref());
                assert_eq!(h2.log.last(), Some(&IvrAction::Hangup));
            },
        },
        Case {
            name: "two_at_the_cancel_confirmation_keeps_the_callback",
            caller: Some(CALLER),
            script: "answer done done booked=b1@15:20 1 done 9 2 done done",
            outcome: booked("b1", false),
            last: Some(IvrAction::Hangup),
            check: |h| {
                kept_after(h, "booked_kept");
            },
        },
        Case {
            name: "cancelling_a_case_with_a_personnummer_needs_that_personnummer",
            caller: Some(CALLER),
            script: "answer done done booked=b1@15:20+pnr 1 done 9 1 191212121212#",
            outcome: None,
            last: Some(IvrAction::CancelCase {
                case_id: "b1".into(),
            }),
            check: |h| {
                assert!(h
                    .played()
                    .contains(&"booked_cancel_personnummer".to_owned()));
            },
        },
        Case {
            name: "another_personnummer_keeps_the_case_and_says_so",
            caller: Some(CALLER),
            script: "answer done done booked=b1@15:20+pnr 1 done 9 1 199001011239# done done",
            outcome: booked("b1", false),
            last: Some(IvrAction::Hangup),
            check: |h| {
                kept_after(h, "booked_personnummer_mismatch");
            },
        },
        Case {
            name: "no_personnummer_typed_for_a_cancel_keeps_the_case",
            caller: Some(CALLER),
            script: "answer done done booked=b1@15:20+pnr 1 done 9 1 # # 123# done done",
            outcome: booked("b1", false),
            last: Some(IvrAction::Hangup),
            check: |h| {
                kept_after(h, "booked_kept");
            },
        },
        Case {
            name: "invalid_keys_re_ask_then_keep_the_callback",
            caller: Some(CALLER),
            script: "answer done done booked=b1@15:20 1 done 5 4 * 8 done done",
            outcome: booked("b1", false),
            last: Some(IvrAction::Hangup),
            check: |h| {
                assert!(!cancelled_any(h));
                assert!(h.draft().is_none());
                let asked = h
                    .played()
                    .iter()
                    .filter(|p| *p == "booked_callback_keys")
                    .count();
                assert_eq!(asked, 4, "first ask, two re-asks and the repeat (*)");
                let p = h.played();
                assert_eq!(p[p.len() - 2..], ["booked_kept", "goodbye"]);
            },
        },
        Case {
            name: "two_answers_the_questions_again_and_updates_the_waiting_case",
            caller: Some(CALLER),
            // Adult, no red flags, pain, days, now getting worse: level 3.
            script: "answer done done booked=b1@15:20 1 done 2 3 2 2 2 2 2 4 2 1 # \
                     stored=b1@14:05 done done",
            outcome: Some(CallOutcome::BookedRetriaged {
                case_id: "b1".into(),
            }),
            last: Some(IvrAction::Hangup),
            check: |h| {
                assert!(!cancelled_any(h));
                assert!(
                    !h.log
                        .iter()
                        .any(|a| matches!(a, IvrAction::RequestEstimate { .. })),
                    "no new offer: the case keeps its callback"
                );
                let d = h.draft().expect("update");
                assert_eq!(d.updates.as_deref(), Some("b1"));
                assert_eq!((d.level, d.mode), (3, CaseMode::Callback));
                assert_eq!(d.answers.len(), 9);
                let p = h.played();
                let said = ["booked_updated", "klockan", "n14", "d0", "n5", "goodbye"];
                assert!(p.ends_with(&said.map(String::from)), "{p:?}");
            },
        },
        Case {
            name: "re_triage_to_a_red_flag_holds_on_the_same_case",
            caller: Some(CALLER),
            script: "answer done done booked=b1@15:20 1 done 2 3 1 done wait=10 \
                     stored=b1@14:05 done",
            outcome: held(Some("b1"), 1),
            last: Some(IvrAction::Hold),
            check: |h| {
                assert!(h.played().contains(&"advice_112".to_owned()));
                let d = h.draft().expect("update");
                assert_eq!(d.updates.as_deref(), Some("b1"));
                assert_eq!((d.level, d.mode, d.red_flag), (1, CaseMode::Hold, true));
                let drafts = h
                    .log
                    .iter()
                    .filter(|a| matches!(a, IvrAction::RegisterCase(_)))
                    .count();
                assert_eq!(drafts, 1, "no second case");
            },
        },
        Case {
            name: "re_triage_abandoned_mid_questions_leaves_the_case_alone",
            caller: Some(CALLER),
            script: "answer done done booked=b1@15:20 1 done 2 3 2 2 hangup",
            outcome: Some(CallOutcome::Abandoned {
                node: "rf_stroke".into(),
            }),
            last: None,
            check: |h| {
                assert!(!cancelled_any(h));
                assert!(h.draft().is_none(), "nothing written");
            },
        },
        Case {
            name: "re_triage_whose_update_fails_says_the_callback_stays",
            caller: Some(CALLER),
            script: "answer done done booked=b1@15:20 1 done 2 3 2 2 2 2 2 4 2 1 # \
                     storefail done done",
            outcome: Some(CallOutcome::RegistrationFailed),
            last: Some(IvrAction::Hangup),
            check: |h| {
                let p = h.played();
                assert_eq!(p[p.len() - 2..], ["booked_update_failed", "goodbye"]);
                assert!(!p.contains(&"booked_updated".to_owned()));
            },
        },
        Case {
            name: "three_is_a_new_call_about_someone_else",
            caller: Some(CALLER),
            script: "answer done done booked=b1@15:20 1 done 3 3 2 2 2 2 2 4 2 2 # est=15:00 1 2",
            outcome: None,
            last: None,
            check: |h| {
                assert!(!cancelled_any(h));
                let d = h.draft().expect("a new case");
                assert_eq!(d.updates, None);
                assert_eq!(d.mode, CaseMode::Callback);
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

/// An unverified number (From from an untrusted source) is never looked up:
/// the caller hears no booked callback and cannot cancel one, and is asked
/// the questions as a new caller; the number is still offered for the callback.
#[test]
fn an_untrusted_caller_id_is_treated_as_a_new_caller() {
    let mut h = Harness::with(CallInfo {
        caller_id: Some(PhoneNumber::from_caller_id(CALLER).unwrap()),
        identity: CallerIdentity::Untrusted,
        ..CallInfo::default()
    });
    h.run("answer done done 1 done");
    assert!(!h
        .log
        .iter()
        .any(|a| matches!(a, IvrAction::FindBookedCallback { .. })));
    assert!(!h.played().iter().any(|p| p.starts_with("booked")));
    let mut trusted = Harness::new(Some(CALLER));
    trusted.run("answer done done 1 done");
    assert!(trusted
        .log
        .iter()
        .any(|a| matches!(a, IvrAction::FindBookedCallback { .. })));
}
