//! Property test: random events in random order keep the session's promises.

use super::*;

/// One random input for the property test.
#[derive(Debug, Clone)]
enum Input {
    Answer,
    Key(char),
    DoneCurrent,
    DoneOther(u64),
    Wait(u64),
    Estimate(Option<(u8, u8)>),
    Stored,
    StoreFailed,
    Hangup,
    Closing,
}

fn input() -> impl proptest::strategy::Strategy<Value = Input> {
    use proptest::prelude::*;
    prop_oneof![
        1 => Just(Input::Answer),
        8 => proptest::sample::select(vec!['0', '1', '2', '3', '4', '7', '9', '*', '#']).prop_map(Input::Key),
        6 => Just(Input::DoneCurrent),
        1 => (0u64..40).prop_map(Input::DoneOther),
        2 => (0u64..12).prop_map(Input::Wait),
        1 => proptest::option::of((0u8..24, 0u8..60)).prop_map(Input::Estimate),
        1 => Just(Input::Stored),
        1 => Just(Input::StoreFailed),
        1 => (0u8..40).prop_filter_map("rare", |n| match n {
            0 => Some(Input::Hangup),
            1 => Some(Input::Closing),
            _ => None,
        }),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Whatever arrives in whatever order: no panic, no confirmation before a
    /// stored case, nothing after the end, one outcome at most, valid levels.
    #[test]
    fn random_event_sequences_keep_the_session_invariants(
        caller in proptest::bool::ANY,
        inputs in proptest::collection::vec(input(), 0..160),
    ) {
        let mut h = Harness::new(caller.then_some(CALLER));
        let mut stored_seen = false;
        let mut ended_at = None;
        let mut held = false;
        let mut closing = false;
        for (i, inp) in inputs.iter().enumerate() {
            let acts = match inp {
                Input::Answer => h.ev(IvrEvent::Answered),
                Input::Key(c) => h.word(&c.to_string()),
                Input::DoneCurrent => match h.tokens.last().copied() {
                    Some(token) => h.ev(IvrEvent::PlaybackDone { token }),
                    None => Vec::new(),
                },
                Input::DoneOther(t) => h.ev(IvrEvent::PlaybackDone { token: *t }),
                Input::Wait(s) => h.word(&format!("wait={s}")),
                Input::Estimate(t) => {
                    h.ev(IvrEvent::Estimate(t.and_then(|(hh, mm)| ClockTime::new(hh, mm))))
                }
                Input::Stored => {
                    stored_seen = true;
                    h.ev(IvrEvent::CaseStored {
                        case_id: format!("c{i}"),
                        callback_at: ClockTime::new(12, 0).unwrap(),
                    })
                }
                Input::StoreFailed => h.ev(IvrEvent::CaseStoreFailed),
                Input::Hangup => h.ev(IvrEvent::Hangup),
                Input::Closing => {
                    // Before the answer the call is refused instead (nothing here).
                    let acts = h.ev(IvrEvent::Closing);
                    closing |= !acts.is_empty();
                    acts
                }
            };
            if ended_at.is_some() || (held && !closing) {
                proptest::prop_assert!(acts.is_empty(), "actions after the end: {acts:?}");
            }
            if closing {
                // Stopping: the closing message and the end, nothing of the walk.
                let walk = acts.iter().any(|a| match a {
                    IvrAction::Play { prompts, .. } => !prompts.iter().all(|p| p.id.starts_with("closing")),
                    IvrAction::Hangup | IvrAction::Outcome(_) | IvrAction::RegisterCase(_) | IvrAction::StopRecording { .. } => false,
                    _ => true,
                });
                proptest::prop_assert!(!walk, "the walk went on while closing: {acts:?}");
            }
            for a in &acts {
                match a {
                    IvrAction::Play { prompts, .. } => {
                        let confirms = prompts.iter().any(|p| p.id == "callback_registered");
                        proptest::prop_assert!(!confirms || stored_seen, "confirmed before stored");
                    }
                    IvrAction::RegisterCase(d) => {
                        proptest::prop_assert!((1..=5).contains(&d.level));
                        if d.red_flag {
                            proptest::prop_assert_eq!(d.level, 1);
                        }
                    }
                    IvrAction::Hold => held = true,
                    IvrAction::Hangup => ended_at = Some(i),
                    _ => {}
                }
            }
            if matches!(inp, Input::Hangup) {
                ended_at = Some(i);
            }
        }
        let outcomes = h.log.iter().filter(|a| matches!(a, IvrAction::Outcome(_))).count();
        proptest::prop_assert!(outcomes <= 1, "{outcomes} outcomes");
        // No token is issued twice: sorted, a repeat sits beside its twin for dedup.
        let mut unique = h.tokens.clone();
        unique.sort_unstable();
        unique.dedup();
        proptest::prop_assert_eq!(unique.len(), h.tokens.len(), "tokens must be fresh");
    }
}
