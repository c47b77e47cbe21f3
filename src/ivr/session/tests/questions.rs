//! The questions: answers by key, barge-in, `*` to repeat, timeouts and
//! failed attempts (to a nurse), the 112 advice, the caller's language,
//! and timers and tokens that must not move the call on.

use super::*;

#[test]
fn scripted_question_calls_behave_as_specified() {
    run_cases(cases());
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "red_flag_yes_gives_112_advice_then_level_one_hold",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 1 done wait=10 stored=c9@10:00 done",
            outcome: held(Some("c9"), 1),
            last: Some(IvrAction::Hold),
            check: |h| {
                let d = h.draft().unwrap();
                assert_eq!((d.level, d.mode, d.red_flag), (1, CaseMode::Hold, true));
                assert_eq!(d.callback_number.as_ref().unwrap().e164(), "+46701234567");
                assert!(h.played().contains(&"advice_112".to_owned()));
                assert!(d.matched_rules.iter().any(|r| r.contains("chest pain")));
                assert!(
                    !format!("{d:?}").contains("chest"),
                    "rule names reveal answers"
                );
            },
        },
        Case {
            name: "red_flag_caller_who_hangs_up_to_call_112_registers_nothing",
            caller: Some(CALLER),
            script: "answer done done 1 3 1 done wait=3 hangup",
            outcome: Some(CallOutcome::AdvisedToCall112),
            last: None,
            check: |h| assert!(h.draft().is_none()),
        },
        Case {
            name: "keys_during_112_advice_and_wait_are_ignored",
            caller: Some(CALLER),
            script: "answer done done 1 3 1 2 done 2 wait=9",
            outcome: None,
            last: None,
            check: |h| {
                assert!(h.draft().is_none());
                assert!(h.s.poll_timeout().is_some());
            },
        },
        Case {
            name: "timeouts_three_times_send_caller_to_nurse_with_level_three",
            caller: Some(CALLER),
            script: "answer done done 1 done wait=6 done wait=6 done wait=6 stored=c4@11:00 done",
            outcome: held(Some("c4"), 3),
            last: Some(IvrAction::Hold),
            check: |h| {
                let d = h.draft().unwrap();
                assert_eq!((d.level, d.mode), (3, CaseMode::Hold));
                let no_input = h.played().iter().filter(|p| *p == "no_input").count();
                assert_eq!(no_input, 2);
            },
        },
        Case {
            name: "invalid_keys_three_times_send_caller_to_nurse",
            caller: Some(CALLER),
            script: "answer done done 1 7 8 9 stored=c5@11:00 done",
            outcome: held(Some("c5"), 3),
            last: Some(IvrAction::Hold),
            check: |h| {
                let invalid = h.played().iter().filter(|p| *p == "invalid_choice").count();
                assert_eq!(invalid, 2);
            },
        },
        Case {
            name: "nurse_case_keeps_a_more_urgent_level",
            caller: Some(CALLER),
            script: "answer done done 1 1 2 2 2 2 2 4 * * 7 8 9 stored=c6@11:00 done",
            outcome: held(Some("c6"), 2),
            last: Some(IvrAction::Hold),
            check: |h| assert_eq!(h.draft().unwrap().level, 2),
        },
        Case {
            name: "digit_timeout_starts_only_after_the_question_prompt_ends",
            caller: Some(CALLER),
            script: "answer done done 1 wait=60",
            outcome: None,
            last: None,
            check: |h| {
                assert!(h.s.poll_timeout().is_none());
                assert!(!h.played().contains(&"no_input".to_owned()));
            },
        },
        Case {
            name: "invalid_personnummer_is_re_asked_then_accepted",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 191212121213# 1912121212# 191212121212#",
            outcome: None,
            last: Some(IvrAction::RequestEstimate { level: 4 }),
            check: |h| {
                let n = h
                    .played()
                    .iter()
                    .filter(|p| *p == "personnummer_invalid")
                    .count();
                assert_eq!(n, 2);
            },
        },
        Case {
            name: "hash_alone_skips_personnummer",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 2 stored=c7@14:30",
            outcome: None,
            last: None,
            check: |h| assert!(h.draft().unwrap().personnummer.is_none()),
        },
        Case {
            name: "english_caller_hears_english_prompts",
            caller: Some(CALLER),
            script: "answer done done 2 3",
            outcome: None,
            last: None,
            check: |h| {
                let langs: Vec<(Language, String)> = h
                    .log
                    .iter()
                    .flat_map(|a| match a {
                        IvrAction::Play { prompts, .. } => {
                            prompts.iter().map(|p| (p.lang, p.id.clone())).collect()
                        }
                        _ => Vec::new(),
                    })
                    .collect();
                assert_eq!(langs[0], (Language::Sv, "welcome".into()));
                assert!(langs.contains(&(Language::Sv, "choose_language".into())));
                assert!(langs.contains(&(Language::En, "choose_language".into())));
                assert!(langs.contains(&(Language::En, "ask_about".into())));
                assert!(langs.contains(&(Language::En, "ask_rf_breathing".into())));
                assert_eq!(h.s.language(), Language::En);
                assert_eq!(h.s.hold_music().lang, Language::En);
            },
        },
        Case {
            name: "supervisor_message_slot_is_played_in_order",
            caller: Some(CALLER),
            script: "answer done",
            outcome: None,
            last: Some(IvrAction::PlayMessage {
                slot: "supervisor".into(),
                language: Language::Sv,
                token: 2,
            }),
            check: |_| {},
        },
        Case {
            name: "hangup_mid_flow_is_abandoned_at_its_node",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 hangup 1",
            outcome: Some(CallOutcome::Abandoned {
                node: "rf_chest_pain".into(),
            }),
            last: Some(IvrAction::Outcome(CallOutcome::Abandoned {
                node: "rf_chest_pain".into(),
            })),
            check: |h| assert!(h.s.is_finished()),
        },
    ]
}

#[test]
fn barge_in_stops_the_prompt_and_counts_as_input() {
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done");
    let acts = h.run("1");
    assert_eq!(acts.first(), Some(&IvrAction::StopPlayback));
    assert_eq!(played(&acts), ["ask_about"]);
    // Without barge-in (prompt already done) there is nothing to stop.
    let acts = h.run("done 3");
    assert!(!acts.contains(&IvrAction::StopPlayback));
    assert_eq!(played(&acts), ["ask_rf_breathing"]);
}

#[test]
fn star_repeats_the_question_without_counting_a_failure() {
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1");
    for _ in 0..5 {
        let acts = h.run("*");
        assert_eq!(played(&acts), ["ask_about"]);
    }
    let acts = h.run("3");
    assert_eq!(played(&acts), ["ask_rf_breathing"]);
}

#[test]
fn star_clears_a_half_typed_number() {
    let mut h = Harness::new(Some(CALLER));
    h.run(TO_PNR);
    h.run("1912*");
    h.run(PNR);
    assert!(h.log.contains(&IvrAction::RequestEstimate { level: 4 }));
    assert!(!h.played().contains(&"personnummer_invalid".to_owned()));
}

#[test]
fn stale_playback_tokens_are_ignored() {
    let mut h = Harness::new(Some(CALLER));
    h.run("answer");
    assert!(h.run("stale").is_empty(), "token 0 was never issued");
    h.run("done done 1");
    // The greeting's token again: must not advance past the current question.
    let greeting = h.tokens[0];
    assert!(h.ev(IvrEvent::PlaybackDone { token: greeting }).is_empty());
    assert!(
        h.s.poll_timeout().is_none(),
        "the question prompt is still playing"
    );
    assert!(h.ev(IvrEvent::PlaybackDone { token: 999 }).is_empty());
}

#[test]
fn events_before_answer_and_after_end_do_nothing() {
    let mut h = Harness::new(Some(CALLER));
    assert!(h.run("1 2 est=14:30 stored=x@10:00 storefail").is_empty());
    h.run("answer hangup");
    assert!(h.run("answer 1 done est=14:30 wait=100").is_empty());
    assert!(h.s.is_finished());
}

#[test]
fn handle_timeout_is_idempotent_and_early_calls_do_nothing() {
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1 done");
    let deadline = h.s.poll_timeout().unwrap();
    h.s.handle_timeout(deadline - Duration::from_millis(1));
    assert!(h.drain().is_empty());
    h.s.handle_timeout(deadline);
    assert_eq!(played(&h.drain()), ["no_input", "ask_about"]);
    h.s.handle_timeout(deadline);
    assert!(h.drain().is_empty());
}

#[test]
fn a_flow_loop_of_empty_nodes_ends_the_call_instead_of_spinning() {
    let text = crate::ivr::flow::shipped_text();
    let looped = text.replace(
        "[nodes.greeting]\nkind = \"play\"\nprompts = [\"welcome\", \"emergency_112\"]\nnext = \"supervisor_message\"",
        "[nodes.greeting]\nkind = \"play\"\nprompts = []\nnext = \"greeting\"",
    );
    assert_ne!(text, looped);
    let flow = Arc::new(Flow::from_toml(&looped).unwrap());
    let (_, triage) = shipped();
    let now = Instant::now();
    let mut s = Session::new(flow, triage, CallInfo::default(), now);
    s.handle(now, IvrEvent::Answered);
    let mut acts = Vec::new();
    while let Some(a) = s.poll_action() {
        acts.push(a);
    }
    assert_eq!(acts.last(), Some(&IvrAction::Hangup));
}
