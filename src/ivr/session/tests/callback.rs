//! The callback offer and the case: the estimate, the number to call back
//! (caller ID or typed and read back), registering the case, and what the
//! caller hears when callbacks are closed or the store fails.

use super::*;

#[test]
fn scripted_callback_calls_behave_as_specified() {
    run_cases(cases());
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "green_callback_confirmed_after_store",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 191212121212# est=14:30 1 2 stored=c1@14:35 done done # done",
            outcome: registered("c1"),
            last: Some(IvrAction::Hangup),
            check: |h| {
                let d = h.draft().unwrap();
                assert_eq!(d.level, 4);
                assert_eq!(d.mode, CaseMode::Callback);
                assert_eq!(d.callback_number.as_ref().unwrap().e164(), "+46701234567");
                assert_eq!(d.personnummer.as_ref().unwrap().as_str(), "191212121212");
                assert_eq!(d.answers.len(), 10, "nine questions and sms_consent");
                assert!(!d.red_flag);
                assert_eq!(d.language, Language::Sv);
                let p = h.played();
                let offer = ["callback_offer_time", "klockan", "n14", "n30", "callback_offer_number", "d4", "d5", "d6", "d7"];
                assert!(p.windows(offer.len()).any(|w| w == offer), "{p:?}");
                let confirm = ["callback_registered", "klockan", "n14", "n35", "callback_registered_end"];
                assert!(p.windows(confirm.len()).any(|w| w == confirm), "{p:?}");
                assert!(h.log.contains(&IvrAction::RequestEstimate { level: 4 }));
            },
        },
        Case {
            name: "next_day_callback_is_said_as_tomorrow",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=+1d08:00 1 2 stored=c7@+2d08:00 done done # done",
            outcome: registered("c7"),
            last: Some(IvrAction::Hangup),
            check: |h| {
                let p = h.played();
                let offer = ["callback_offer_time", "tomorrow", "klockan", "n8", "callback_offer_number"];
                assert!(p.windows(offer.len()).any(|w| w == offer), "{p:?}");
                let confirm = ["callback_registered", "later_day", "klockan", "n8", "callback_registered_end"];
                assert!(p.windows(confirm.len()).any(|w| w == confirm), "{p:?}");
            },
        },
        Case {
            name: "withheld_caller_id_must_type_and_confirm_a_number",
            caller: None,
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 done 0701234567# 1 2 stored=c2@14:30 done done # done",
            outcome: registered("c2"),
            last: Some(IvrAction::Hangup),
            check: |h| {
                let p = h.played();
                let readback = ["you_entered", "d0", "d7", "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "confirm_number_keys"];
                assert!(p.windows(readback.len()).any(|w| w == readback), "{p:?}");
                assert!(!p.contains(&"callback_offer_number".to_owned()));
                let d = h.draft().unwrap();
                assert_eq!(d.callback_number.as_ref().unwrap().e164(), "+46701234567");
                assert!(d.personnummer.is_none());
            },
        },
        Case {
            name: "typed_number_replaces_caller_id_after_re_entry",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=09:05 2 08123456# 2 0812345678# 1 2 stored=c3@09:05 done done # done",
            outcome: registered("c3"),
            last: Some(IvrAction::Hangup),
            check: |h| {
                let d = h.draft().unwrap();
                assert_eq!(d.callback_number.as_ref().unwrap().e164(), "+46812345678");
                let p = h.played();
                let time = ["klockan", "n9", "d0", "n5"];
                assert!(p.windows(4).any(|w| w == time), "{p:?}");
            },
        },
        Case {
            name: "premium_rate_typed_number_is_refused_and_re_asked",
            caller: None,
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 done 0900123456#",
            outcome: None,
            last: None,
            check: |h| {
                let p = h.played();
                assert_eq!(p[p.len() - 2..], ["number_invalid", "enter_number"]);
                assert!(h.draft().is_none());
            },
        },
        Case {
            name: "inter_digit_timeout_ends_a_typed_number",
            caller: None,
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 done 0701234567 wait=4",
            outcome: None,
            last: None,
            check: |h| {
                assert!(!h.played().contains(&"you_entered".to_owned()));
                let mut h2 = Harness::new(None);
                h2.run("answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 done 0701234567 wait=5");
                assert!(h2.played().contains(&"you_entered".to_owned()));
            },
        },
        Case {
            name: "store_failure_never_confirms_and_offers_hold_with_a_case_of_its_own",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 2 storefail done 1 stored=h1@14:30",
            outcome: held(Some("h1"), 4),
            last: Some(IvrAction::Hold),
            check: |h| {
                let p = h.played();
                assert!(p.contains(&"register_failed".to_owned()));
                assert!(!p.contains(&"callback_registered".to_owned()));
                assert_eq!(h.draft().map(|d| d.mode), Some(CaseMode::Hold));
            },
        },
        Case {
            name: "nobody_holds_when_the_hold_case_cannot_be_stored_either",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 2 storefail done 1 storefail done",
            outcome: Some(CallOutcome::RegistrationFailed),
            last: Some(IvrAction::Hangup),
            check: |h| {
                let p = h.played();
                assert!(p.contains(&"hold_unavailable".to_owned()));
                assert!(!p.contains(&"hold_music".to_owned()));
                assert!(!h.log.contains(&IvrAction::Hold));
            },
        },
        Case {
            name: "a_store_that_never_answers_fails_at_the_deadline_and_nobody_holds",
            caller: Some(CALLER),
            // store_timeout_s = 8: no answer to either RegisterCase within it.
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 2 wait=9 done 1 wait=9 done",
            outcome: Some(CallOutcome::RegistrationFailed),
            last: Some(IvrAction::Hangup),
            check: |h| {
                let p = h.played();
                assert!(p.contains(&"register_failed".to_owned()));
                assert!(p.contains(&"hold_unavailable".to_owned()));
                assert!(!p.contains(&"callback_registered".to_owned()));
            },
        },
        Case {
            name: "a_late_store_answer_after_the_deadline_is_not_confirmed",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 2 wait=9 stored=c9@14:30 done",
            outcome: None,
            last: None,
            check: |h| {
                let p = h.played();
                assert!(p.contains(&"register_failed".to_owned()));
                assert!(!p.contains(&"callback_registered".to_owned()));
            },
        },
        Case {
            name: "store_failure_then_hangup_is_reported",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 2 storefail hangup",
            outcome: Some(CallOutcome::RegistrationFailed),
            last: None,
            check: |_| {},
        },
        Case {
            name: "callbacks_closed_hold_at_assessed_level",
            caller: Some(CALLER),
            script: "answer done done 1 1 2 2 2 2 2 4 2 2 # est=none done stored=c8@12:00 done",
            outcome: held(Some("c8"), 2),
            last: Some(IvrAction::Hold),
            check: |h| assert!(h.played().contains(&"callback_closed".to_owned())),
        },
        Case {
            name: "estimate_that_never_comes_is_treated_as_closed",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # wait=5",
            outcome: None,
            last: None,
            check: |h| assert_eq!(h.played().last().map(String::as_str), Some("callback_closed")),
        },
        Case {
            name: "caller_may_choose_hold_instead_of_callback",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 1 # est=14:30 3 stored=c10@14:30 done",
            outcome: held(Some("c10"), 3),
            last: Some(IvrAction::Hold),
            check: |h| assert_eq!(h.draft().unwrap().mode, CaseMode::Hold),
        },
    ]
}

#[test]
fn infant_raises_the_level_for_the_estimate() {
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1 1 2 2 2 2 2 4 2 2 #");
    assert_eq!(h.log.last(), Some(&IvrAction::RequestEstimate { level: 2 }));
}

#[test]
fn case_draft_debug_shows_no_personal_data() {
    let mut h = Harness::new(Some(CALLER));
    h.run(TO_PNR);
    h.run("191212121212# est=14:30 1 2");
    let d = h.draft().unwrap();
    let dbg = format!("{d:?} {:?}", h.s);
    for secret in [
        "191212121212",
        "1212-1212",
        "+46701234567",
        "0701234567",
        "Smärta",
        "\"pain\"",
    ] {
        assert!(!dbg.contains(secret), "{secret} leaked: {dbg}");
    }
    assert!(dbg.contains("symptom") || dbg.contains("answers: 10"));
}

#[test]
fn read_back_actions_do_not_show_the_digits_in_debug() {
    let mut h = Harness::new(None);
    h.run("answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 done 0701234567#");
    let dbg = format!("{:?}", h.log.last().unwrap());
    assert!(dbg.contains("sv/you_entered"), "{dbg}");
    assert!(dbg.contains("sv/d?"), "{dbg}");
    assert!(!dbg.contains("d7"), "{dbg}");
}

#[test]
fn a_red_flag_hold_that_cannot_be_stored_is_told_to_call_again_or_112() {
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1 3 1 done wait=10 storefail done");
    assert_eq!(h.outcome(), Some(&CallOutcome::RegistrationFailed));
    assert_eq!(h.log.last(), Some(&IvrAction::Hangup));
    assert!(h.played().contains(&"hold_unavailable".to_owned()));
    assert!(
        !h.log.contains(&IvrAction::Hold),
        "nobody holds without a case"
    );
}

#[test]
fn an_urgent_caller_who_drops_after_triage_is_registered_anyway() {
    // Infant (level 2): the offer is being said when the line drops.
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1 1 2 2 2 2 2 4 2 2 # est=14:30 hangup");
    let draft = h.draft().expect("registered after the hang-up");
    assert!(draft.dropped_in_ivr);
    assert_eq!((draft.level, draft.mode), (2, CaseMode::Callback));
    assert_eq!(
        draft.callback_number.as_ref().map(|n| n.e164().to_string()),
        PhoneNumber::from_caller_id(CALLER)
            .ok()
            .map(|n| n.e164().to_string())
    );
    assert!(matches!(h.outcome(), Some(CallOutcome::Abandoned { .. })));
}

#[test]
fn a_less_urgent_or_numberless_caller_who_drops_is_not_registered() {
    // Level 4 with a caller ID.
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 hangup");
    assert!(h.draft().is_none());
    // Level 2 with the number withheld.
    let mut h = Harness::new(None);
    h.run("answer done done 1 1 2 2 2 2 2 4 2 2 # est=14:30 hangup");
    assert!(h.draft().is_none());
    // Level 2 before triage is done (still answering questions).
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1 1 2 hangup");
    assert!(h.draft().is_none());
}

#[test]
fn a_slow_store_gets_one_moment_then_the_confirmation() {
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 2");
    assert!(!h.played().contains(&"one_moment".to_owned()));
    h.run("wait=2");
    assert_eq!(h.played().last().map(String::as_str), Some("one_moment"));
    h.run("wait=2 stored=c1@14:35");
    let p = h.played();
    assert_eq!(
        p.iter().filter(|id| *id == "one_moment").count(),
        1,
        "said once"
    );
    assert!(p.contains(&"callback_registered".to_owned()), "{p:?}");
}

#[test]
fn a_quick_store_needs_no_one_moment() {
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 2 stored=c1@14:35 wait=3");
    assert!(!h.played().contains(&"one_moment".to_owned()));
}
