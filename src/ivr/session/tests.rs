//! Table-driven session tests with a fake clock, over the shipped ivr.toml and
//! triage.toml. A script is a list of words:
//! `answer`, `done` (last playback finished), `stale` (an old token finished),
//! keypad words like `1` or `0701234567#` (one Digit per key, sent at once so a
//! key during a prompt is a barge-in), `wait=N` (N seconds pass, timers fire),
//! `est=HH:MM` / `est=none`, `stored=ID@HH:MM`, `storefail`, `hangup`,
//! `booked=ID@HH:MM` (`+pnr`: with personnummer `PNR`), `cancelled`, `cancelfail`, `closing` (the service stops),
//! `advise` (hours.toml answers the estimate with its advice route).
//!
//! This file holds the harness every test shares; the tests are in `tests/`
//! by theme: `questions`, `callback`, `voice_note`, `booked`, and
//! `invariants` (the property test).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::ivr::flow::Flow;
use crate::media::dtmf::DtmfKey;

mod booked;
mod callback;
mod closing;
mod fallback;
mod invariants;
mod questions;
mod self_care;
mod voice_note;

fn shipped() -> (Arc<Flow>, Arc<Triage>) {
    let flow = Flow::from_toml(&crate::ivr::flow::shipped_text()).unwrap();
    let triage = crate::triage::shipped();
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
        // As from a trusted trunk (the untrusted case has its own tests).
        Harness::with(CallInfo {
            caller_id: caller.map(|c| PhoneNumber::from_caller_id(c).unwrap()),
            identity: CallerIdentity::Trusted,
            ..CallInfo::default()
        })
    }

    fn with(call: CallInfo) -> Self {
        let (flow, triage) = shipped();
        let now = Instant::now();
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
            "transferred" => self.ev(IvrEvent::Transferred),
            "transferfail" => self.ev(IvrEvent::TransferFailed),
            "cancelled" => self.ev(IvrEvent::CaseCancelled),
            "cancelfail" => self.ev(IvrEvent::CaseCancelFailed),
            "speak" => self.ev(IvrEvent::CallerSpeaking),
            "recorded" => self.ev(IvrEvent::RecordingDone { saved: true }),
            // `booked=ID@HH:MM`, `+pnr` when the case has personnummer `PNR`.
            w if w.starts_with("booked=") => {
                let (id, t) = w[7..].split_once('@').unwrap();
                let (t, pnr) = match t.strip_suffix("+pnr") {
                    Some(t) => (t, Some(Personnummer::parse(&PNR[..12]).unwrap())),
                    None => (t, None),
                };
                self.booked = Some(BookedCallback {
                    case_id: id.to_owned(),
                    at: clock(t),
                    personnummer: pnr,
                });
                Vec::new()
            }
            "hangup" => self.ev(IvrEvent::Hangup),
            "closing" => self.ev(IvrEvent::Closing),
            "est=none" => self.ev(IvrEvent::Estimate(None)),
            "advise" => self.ev(IvrEvent::AdviseOtherRoute),
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

    /// The last contact handed over to be stored closed (self-care).
    fn contact(&self) -> Option<&CaseDraft> {
        self.log.iter().rev().find_map(|a| match a {
            IvrAction::RecordContact(d) => Some(d),
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

/// Runs each scripted call and checks its outcome, last action and `check`.
fn run_cases(cases: Vec<Case>) {
    for case in cases {
        let mut h = Harness::new(case.caller);
        h.run(case.script);
        assert_eq!(h.outcome(), case.outcome.as_ref(), "{}: outcome", case.name);
        if let Some(last) = &case.last {
            assert_eq!(h.log.last(), Some(last), "{}: last action", case.name);
        }
        (case.check)(&h);
    }
}
