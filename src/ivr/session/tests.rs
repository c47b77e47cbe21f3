//! Table-driven session tests with a fake clock, over the shipped ivr.toml and
//! triage.toml. A script is a list of words:
//! `answer`, `done` (last playback finished), `stale` (an old token finished),
//! keypad words like `1` or `0701234567#` (one Digit per key, sent at once so a
//! key during a prompt is a barge-in), `wait=N` (N seconds pass, timers fire),
//! `est=HH:MM` / `est=none`, `stored=ID@HH:MM`, `storefail`, `hangup`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::ivr::flow::Flow;
use crate::media::dtmf::DtmfKey;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipped() -> (Arc<Flow>, Arc<Triage>) {
    let flow = Flow::load(&root().join("sip-config/ivr.toml")).unwrap();
    let triage = Triage::load(&root().join("sip-config/triage.toml")).unwrap();
    (Arc::new(flow), Arc::new(triage))
}

struct Harness {
    s: Session,
    now: Instant,
    tokens: Vec<u64>,
    log: Vec<IvrAction>,
    /// The answer to `FindBookedCallback` (given at once, like the app does).
    booked: Option<BookedCallback>,
    /// Answers `StopRecording` with `RecordingDone` at once.
    auto_recording_done: bool,
}

impl Harness {
    fn new(caller: Option<&str>) -> Self {
        let (flow, triage) = shipped();
        let now = Instant::now();
        let call = CallInfo {
            caller_id: caller.map(|c| PhoneNumber::from_caller_id(c).unwrap()),
        };
        Harness {
            s: Session::new(flow, triage, call, now),
            now,
            tokens: Vec::new(),
            log: Vec::new(),
            booked: None,
            auto_recording_done: true,
        }
    }

    fn drain(&mut self) -> Vec<IvrAction> {
        let mut out = Vec::new();
        while let Some(a) = self.s.poll_action() {
            let reply = match &a {
                IvrAction::Play { token, .. } | IvrAction::PlayMessage { token, .. } => {
                    self.tokens.push(*token);
                    None
                }
                IvrAction::FindBookedCallback { .. } => {
                    Some(IvrEvent::BookedCallback(self.booked.clone()))
                }
                IvrAction::StopRecording { .. } if self.auto_recording_done => {
                    Some(IvrEvent::RecordingDone { saved: true })
                }
                _ => None,
            };
            out.push(a);
            if let Some(ev) = reply {
                self.s.handle(self.now, ev);
            }
        }
        self.log.extend(out.iter().cloned());
        out
    }

    fn ev(&mut self, e: IvrEvent) -> Vec<IvrAction> {
        self.s.handle(self.now, e);
        self.drain()
    }

    /// Runs a script; returns the actions it produced.
    fn run(&mut self, script: &str) -> Vec<IvrAction> {
        let mut out = Vec::new();
        for word in script.split_whitespace() {
            let acts = self.word(word);
            out.extend(acts);
        }
        out
    }

    fn word(&mut self, word: &str) -> Vec<IvrAction> {
        // `HH:MM` today, `+Nd` first for N days ahead (`+1d08:00`).
        let clock = |t: &str| {
            let (days, t) = match t.strip_prefix('+').and_then(|r| r.split_once('d')) {
                Some((d, rest)) => (d.parse().unwrap(), rest),
                None => (0, t),
            };
            let (h, m) = t.split_once(':').unwrap();
            ClockTime::new(h.parse().unwrap(), m.parse().unwrap())
                .unwrap()
                .days_ahead(days)
        };
        match word {
            "answer" => self.ev(IvrEvent::Answered),
            "done" => {
                let token = *self.tokens.last().expect("nothing played");
                self.ev(IvrEvent::PlaybackDone { token })
            }
            "stale" => {
                let n = self.tokens.len();
                let token = if n >= 2 { self.tokens[n - 2] } else { 0 };
                self.ev(IvrEvent::PlaybackDone { token })
            }
            "storefail" => self.ev(IvrEvent::CaseStoreFailed),
            "cancelled" => self.ev(IvrEvent::CaseCancelled),
            "cancelfail" => self.ev(IvrEvent::CaseCancelFailed),
            "speak" => self.ev(IvrEvent::CallerSpeaking),
            "recorded" => self.ev(IvrEvent::RecordingDone { saved: true }),
            w if w.starts_with("booked=") => {
                let (id, t) = w[7..].split_once('@').unwrap();
                self.booked = Some(BookedCallback {
                    case_id: id.to_owned(),
                    at: clock(t),
                });
                Vec::new()
            }
            "hangup" => self.ev(IvrEvent::Hangup),
            "est=none" => self.ev(IvrEvent::Estimate(None)),
            w if w.starts_with("est=") => self.ev(IvrEvent::Estimate(Some(clock(&w[4..])))),
            w if w.starts_with("stored=") => {
                let (id, t) = w[7..].split_once('@').unwrap();
                self.ev(IvrEvent::CaseStored {
                    case_id: id.to_owned(),
                    callback_at: clock(t),
                })
            }
            w if w.starts_with("wait=") => {
                let secs: u64 = w[5..].parse().unwrap();
                let end = self.now + Duration::from_secs(secs);
                let mut out = Vec::new();
                // Fire every timer that falls due on the way, like a driver would.
                while let Some(t) = self.s.poll_timeout().filter(|t| *t <= end) {
                    self.now = self.now.max(t);
                    self.s.handle_timeout(self.now);
                    out.extend(self.drain());
                }
                self.now = end;
                out
            }
            keys => {
                let mut out = Vec::new();
                for c in keys.chars() {
                    let key = DtmfKey::from_char(c).unwrap_or_else(|| panic!("bad word {word}"));
                    out.extend(self.ev(IvrEvent::Digit(key)));
                }
                out
            }
        }
    }

    fn outcome(&self) -> Option<&CallOutcome> {
        self.log.iter().rev().find_map(|a| match a {
            IvrAction::Outcome(o) => Some(o),
            _ => None,
        })
    }

    fn draft(&self) -> Option<&CaseDraft> {
        self.log.iter().rev().find_map(|a| match a {
            IvrAction::RegisterCase(d) => Some(d),
            _ => None,
        })
    }

    fn played(&self) -> Vec<String> {
        played(&self.log)
    }
}

/// Prompt ids of all Play actions, in order.
fn played(actions: &[IvrAction]) -> Vec<String> {
    actions
        .iter()
        .flat_map(|a| match a {
            IvrAction::Play { prompts, .. } => prompts.iter().map(|p| p.id.clone()).collect(),
            _ => Vec::new(),
        })
        .collect()
}

const CALLER: &str = "sip:+46701234567@trunk.example";
/// Swedish; adult; five red flags "no"; pain; days; not worsening.
const TO_PNR: &str = "answer done done 1 3 2 2 2 2 2 4 2 2";
/// A green caller up to the start of the voice-note recording.
fn h_script_to_recording() -> &'static str {
    "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 stored=c1@14:35 done done"
}

const PNR: &str = "191212121212#";

type Check = fn(&Harness);

struct Case {
    name: &'static str,
    caller: Option<&'static str>,
    script: &'static str,
    outcome: Option<CallOutcome>,
    last: Option<IvrAction>,
    check: Check,
}

fn registered(id: &str) -> Option<CallOutcome> {
    Some(CallOutcome::CallbackRegistered { case_id: id.into() })
}

fn held(id: Option<&str>, level: u8) -> Option<CallOutcome> {
    Some(CallOutcome::Held {
        case_id: id.map(Into::into),
        level,
    })
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "green_callback_confirmed_after_store",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 191212121212# est=14:30 1 stored=c1@14:35 done done # done",
            outcome: registered("c1"),
            last: Some(IvrAction::Hangup),
            check: |h| {
                let d = h.draft().unwrap();
                assert_eq!(d.level, 4);
                assert_eq!(d.mode, CaseMode::Callback);
                assert_eq!(d.callback_number.as_ref().unwrap().e164(), "+46701234567");
                assert_eq!(d.personnummer.as_ref().unwrap().as_str(), "191212121212");
                assert_eq!(d.answers.len(), 9);
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
                assert!(!format!("{d:?}").contains("chest"), "rule names reveal answers");
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
            name: "next_day_callback_is_said_as_tomorrow",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=+1d08:00 1 stored=c7@+2d08:00 done done # done",
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
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 done 0701234567# 1 stored=c2@14:30 done done # done",
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
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=09:05 2 08123456# 2 0812345678# 1 stored=c3@09:05 done done # done",
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
                let n = h.played().iter().filter(|p| *p == "personnummer_invalid").count();
                assert_eq!(n, 2);
            },
        },
        Case {
            name: "hash_alone_skips_personnummer",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 stored=c7@14:30",
            outcome: None,
            last: None,
            check: |h| assert!(h.draft().unwrap().personnummer.is_none()),
        },
        Case {
            name: "store_failure_never_confirms_and_offers_hold",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 storefail done 1",
            outcome: held(None, 4),
            last: Some(IvrAction::Hold),
            check: |h| {
                let p = h.played();
                assert!(p.contains(&"register_failed".to_owned()));
                assert!(!p.contains(&"callback_registered".to_owned()));
            },
        },
        Case {
            name: "store_failure_then_hangup_is_reported",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 storefail hangup",
            outcome: Some(CallOutcome::RegistrationFailed),
            last: None,
            check: |_| {},
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
            name: "voice_note_is_recorded_after_the_confirmation_and_hash_ends_it",
            caller: Some(CALLER),
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 stored=3f2c@14:35 done done # done",
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
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 stored=c1@14:35 done done speak wait=4 speak wait=4 speak",
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
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 stored=c1@14:35 done done speak wait=3 speak wait=4 wait=1 done",
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
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 stored=c1@14:35 done done hangup",
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
            script: "answer done done 1 3 2 2 2 2 2 4 2 2 # est=14:30 1 storefail done 1",
            outcome: held(None, 4),
            last: Some(IvrAction::Hold),
            check: |h| {
                assert!(!h.log.iter().any(|a| matches!(a, IvrAction::Record { .. })));
            },
        },
        Case {
            name: "booked_callback_is_said_and_kept_with_one",
            caller: Some(CALLER),
            script: "answer done done booked=b1@15:20 1 done 1 done done",
            outcome: Some(CallOutcome::BookedCallback {
                case_id: "b1".into(),
                cancelled: false,
            }),
            last: Some(IvrAction::Hangup),
            check: |h| {
                let p = h.played();
                let said = ["booked_callback", "klockan", "n15", "n20", "booked_callback_keys"];
                assert!(p.windows(said.len()).any(|w| w == said), "{p:?}");
                assert_eq!(p[p.len() - 2..], ["booked_kept", "goodbye"]);
                assert!(h.draft().is_none());
                assert!(!h.log.iter().any(|a| matches!(a, IvrAction::CancelCase { .. })));
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
                assert_eq!(
                    h2.outcome(),
                    Some(&CallOutcome::BookedCallback {
                        case_id: "b1".into(),
                        cancelled: true
                    })
                );
                assert_eq!(h2.log.last(), Some(&IvrAction::Hangup));
            },
        },
        Case {
            name: "failed_cancel_says_the_callback_stays",
            caller: Some(CALLER),
            script: "answer done done booked=b1@15:20 1 done 2 cancelfail done done",
            outcome: Some(CallOutcome::BookedCallback {
                case_id: "b1".into(),
                cancelled: false,
            }),
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
                assert!(h.log.iter().any(|a| matches!(a, IvrAction::FindBookedCallback { .. })));
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
                assert!(!h.log.iter().any(|a| matches!(a, IvrAction::FindBookedCallback { .. })));
                assert_eq!(h.played().last().map(String::as_str), Some("ask_about"));
            },
        },
    ]
}

#[test]
fn scripted_calls_behave_as_specified() {
    for case in cases() {
        let mut h = Harness::new(case.caller);
        h.run(case.script);
        assert_eq!(h.outcome(), case.outcome.as_ref(), "{}: outcome", case.name);
        if let Some(last) = &case.last {
            assert_eq!(h.log.last(), Some(last), "{}: last action", case.name);
        }
        (case.check)(&h);
    }
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
fn infant_raises_the_level_for_the_estimate() {
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1 1 2 2 2 2 2 4 2 2 #");
    assert_eq!(h.log.last(), Some(&IvrAction::RequestEstimate { level: 2 }));
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
fn case_draft_debug_shows_no_personal_data() {
    let mut h = Harness::new(Some(CALLER));
    h.run(TO_PNR);
    h.run("191212121212# est=14:30 1");
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
    assert!(dbg.contains("symptom") || dbg.contains("answers: 9"));
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
fn a_flow_loop_of_empty_nodes_ends_the_call_instead_of_spinning() {
    let text = std::fs::read_to_string(root().join("sip-config/ivr.toml")).unwrap();
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

#[test]
fn hold_goes_ahead_when_the_hold_case_cannot_be_stored() {
    let mut h = Harness::new(Some(CALLER));
    h.run("answer done done 1 3 1 done wait=10 storefail done");
    assert_eq!(h.outcome(), held(None, 1).as_ref());
    assert_eq!(h.log.last(), Some(&IvrAction::Hold));
}

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
        1 => (0u8..40).prop_filter_map("rare", |n| (n == 0).then_some(Input::Hangup)),
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
            };
            if ended_at.is_some() {
                proptest::prop_assert!(acts.is_empty(), "actions after the end: {acts:?}");
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
                    IvrAction::Hold | IvrAction::Hangup => ended_at = Some(i),
                    _ => {}
                }
            }
            if matches!(inp, Input::Hangup) {
                ended_at = Some(i);
            }
        }
        let outcomes = h.log.iter().filter(|a| matches!(a, IvrAction::Outcome(_))).count();
        proptest::prop_assert!(outcomes <= 1, "{outcomes} outcomes");
        let mut sorted = h.tokens.clone();
        sorted.dedup();
        proptest::prop_assert_eq!(sorted, h.tokens.clone(), "tokens must be fresh");
    }
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
