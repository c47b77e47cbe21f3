//! The voice note after a confirmed callback: how it starts, what ends it
//! (`#`, maximum length, silence, hang-up) and that goodbye waits for it.

use super::*;

/// A green caller up to the start of the voice-note recording.
fn h_script_to_recording() -> &'static str {
    "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 2 stored=c1@14:35 done done"
}

#[test]
fn scripted_voice_note_calls_behave_as_specified() {
    run_cases(cases());
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "voice_note_is_recorded_after_the_confirmation_and_hash_ends_it",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 2 stored=3f2c@14:35 done done # done",
            outcome: registered("3f2c"),
            last: Some(IvrAction::Hangup),
            check: |h| {
                let p = h.played();
                let note = ["callback_registered_end", "voice_note", "beep", "goodbye"];
                assert!(p.windows(note.len()).any(|w| w == note), "{p:?}");
                let record = h.log.iter().position(|a| matches!(a, IvrAction::Record { .. }));
                let stop = h.log.iter().position(|a| {
                    a == &IvrAction::StopRecording {
                        reason: RecordingEnd::Hash,
                    }
                });
                assert!(record.is_some() && stop > record, "{:?}", h.log);
                assert!(h.log.contains(&IvrAction::Record {
                    case_id: "3f2c".into(),
                    max: Duration::from_secs(30),
                }));
            },
        },
        Case {
            name: "voice_note_ends_at_its_maximum_length",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 2 stored=c1@14:35 done done speak wait=4 speak wait=4 speak",
            outcome: None,
            last: None,
            check: |h| {
                assert!(h.log.iter().any(|a| matches!(a, IvrAction::Record { .. })));
                assert!(!h.log.iter().any(|a| matches!(a, IvrAction::StopRecording { .. })));
                let mut h2 = Harness::new(Some(CALLER));
                h2.run(h_script_to_recording());
                // Speaking all along: only the maximum length ends it.
                for _ in 0..29 {
                    h2.run("speak wait=1");
                }
                assert!(!h2.log.iter().any(|a| matches!(a, IvrAction::StopRecording { .. })));
                let acts = h2.run("speak wait=1");
                assert_eq!(
                    acts.first(),
                    Some(&IvrAction::StopRecording {
                        reason: RecordingEnd::MaxDuration
                    })
                );
                assert!(played(&acts).contains(&"goodbye".to_owned()));
                assert!(h.s.poll_timeout().is_some());
            },
        },
        Case {
            name: "voice_note_ends_when_the_caller_is_quiet",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 2 stored=c1@14:35 done done speak wait=3 speak wait=4 wait=1 done",
            outcome: registered("c1"),
            last: Some(IvrAction::Hangup),
            check: |h| {
                assert!(h.log.contains(&IvrAction::StopRecording {
                    reason: RecordingEnd::Silence
                }));
            },
        },
        Case {
            name: "hangup_during_the_voice_note_still_stores_it",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 2 stored=c1@14:35 done done hangup",
            outcome: registered("c1"),
            last: Some(IvrAction::Outcome(CallOutcome::CallbackRegistered {
                case_id: "c1".into(),
            })),
            check: |h| {
                assert!(h.log.contains(&IvrAction::StopRecording {
                    reason: RecordingEnd::Hangup
                }));
                assert!(h.s.is_finished());
                assert!(!h.log.contains(&IvrAction::Hangup));
            },
        },
        Case {
            name: "no_voice_note_when_the_store_failed",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 2 storefail done 1 stored=h1@14:30",
            outcome: held(Some("h1"), 4),
            last: Some(IvrAction::Hold),
            check: |h| {
                assert!(!h.log.iter().any(|a| matches!(a, IvrAction::Record { .. })));
            },
        },
    ]
}

#[test]
fn keys_other_than_hash_during_the_voice_note_do_not_end_it() {
    let mut h = Harness::new(Some(CALLER));
    h.run(h_script_to_recording());
    assert!(h.run("1 2 *").is_empty());
    assert!(h.s.poll_timeout().is_some());
    let acts = h.run("#");
    assert_eq!(
        acts.first(),
        Some(&IvrAction::StopRecording {
            reason: RecordingEnd::Hash
        })
    );
}

#[test]
fn goodbye_waits_for_the_voice_note_to_be_stored() {
    let mut h = Harness::new(Some(CALLER));
    h.auto_recording_done = false;
    h.run(h_script_to_recording());
    let acts = h.run("#");
    assert_eq!(played(&acts), Vec::<String>::new());
    let acts = h.run("recorded");
    assert_eq!(played(&acts), ["goodbye"]);
}
