//! The realistic 1177 caller mix for `pe-caller load --mix realistic`: a
//! seeded plan of how each call ends, and per call a small script of keys and
//! waits that a tick drives (sans-IO: time and "when did we last hear speech"
//! come in, keys and a hang-up come out).
//!
//! The keys follow sip-config/ivr.toml: 1 Swedish; 3 adult; 2 ("no") to the
//! five red-flag questions, or 1 to the first (breathing: 112 advice, then a
//! level-1 hold, but these callers hang up in the advice); 1 fever, 2 days, 2 not worsening (no self-care route
//! matches); # skips the personnummer; at the callback offer 1 confirms the
//! caller ID or 3 holds; 2 declines the SMS. Keys barge in on prompts, as
//! tests/scripts/green-callback.toml does.

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// How a call is meant to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Answers the questions, books a callback, hangs up after the confirmation.
    Booked,
    /// Chooses to hold at the callback offer, hangs up after a while.
    Held,
    /// Says yes to a red-flag question and hangs up during the 112 advice
    /// (to call 112; staying on would go straight to a nurse's hold).
    RedFlag,
    /// Hangs up in the welcome or in the middle of the questions.
    EarlyHangup,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Booked,
        Outcome::Held,
        Outcome::RedFlag,
        Outcome::EarlyHangup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Booked => "booked",
            Outcome::Held => "held",
            Outcome::RedFlag => "red_flag",
            Outcome::EarlyHangup => "early_hangup",
        }
    }

    /// The service's `pe_ivr_outcomes_total` label this outcome should count under.
    pub fn service_label(self) -> &'static str {
        match self {
            Outcome::Booked => "callback",
            Outcome::Held => "held",
            Outcome::RedFlag => "advised_112",
            Outcome::EarlyHangup => "abandoned",
        }
    }
}

/// Shares of each outcome in percent (need not sum to 100: they are weights).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MixShares {
    pub booked: f64,
    pub held: f64,
    pub red_flag: f64,
    pub early: f64,
}

impl Default for MixShares {
    /// Most callers book, some hold, a few red flags and early hang-ups.
    fn default() -> Self {
        MixShares {
            booked: 70.0,
            held: 15.0,
            red_flag: 5.0,
            early: 10.0,
        }
    }
}

impl std::str::FromStr for MixShares {
    type Err = String;

    /// `booked=70,held=15,red_flag=5,early=10` (missing names keep the default).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut m = MixShares::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected name=percent, e.g. held=15"))?;
            let v: f64 = v
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| *v >= 0.0 && v.is_finite())
                .ok_or_else(|| format!("{part:?}: the share must be a number >= 0"))?;
            match k.trim() {
                "booked" => m.booked = v,
                "held" => m.held = v,
                "red_flag" => m.red_flag = v,
                "early" => m.early = v,
                other => {
                    return Err(format!(
                        "unknown outcome {other:?}: use booked, held, red_flag or early"
                    ))
                }
            }
        }
        if m.booked + m.held + m.red_flag + m.early <= 0.0 {
            return Err("all shares are zero".into());
        }
        Ok(m)
    }
}

/// The outcome of each of `calls` calls, drawn with `seed`: the same seed
/// gives the same plan.
pub fn plan(seed: u64, calls: usize, shares: &MixShares) -> Vec<Outcome> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let w = [shares.booked, shares.held, shares.red_flag, shares.early];
    let total: f64 = w.iter().sum();
    (0..calls)
        .map(|_| {
            let mut x = rng.gen::<f64>() * total;
            for (o, share) in Outcome::ALL.iter().zip(w) {
                if x < share {
                    return *o;
                }
                x -= share;
            }
            Outcome::Booked
        })
        .collect()
}

/// One scripted action.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Wait this long.
    Wait(Duration),
    /// Wait for a prompt (speech) and then this much quiet (at most 30 s).
    Quiet(Duration),
    /// Send these keys (RFC 4733), one after the other.
    Keys(&'static str),
    Hangup,
}

/// The greeting (welcome, 112 reminder, language menu) before the first key.
const GREETING: Duration = Duration::from_secs(10);
/// Between answers: keys barge in on each question.
const BETWEEN: Duration = Duration::from_millis(700);
const QUIET: Duration = Duration::from_millis(1500);
const QUIET_TIMEOUT: Duration = Duration::from_secs(30);

/// Answers up to and including the callback offer's question: language,
/// about, five red flags, symptom, duration, worsening, personnummer skipped.
const ANSWERS: [&str; 11] = ["1", "3", "2", "2", "2", "2", "2", "1", "2", "2", "#"];

fn answer_steps(steps: &mut Vec<Step>, answers: &[&'static str]) {
    steps.push(Step::Wait(GREETING));
    for (i, a) in answers.iter().enumerate() {
        if i > 0 {
            steps.push(Step::Wait(BETWEEN));
        }
        steps.push(Step::Keys(a));
    }
}

/// The script of one call with outcome `o`; `rng` varies the waits.
pub fn script(o: Outcome, rng: &mut impl Rng) -> Vec<Step> {
    let mut s = Vec::new();
    match o {
        Outcome::Booked => {
            answer_steps(&mut s, &ANSWERS);
            // The estimate is looked up after the personnummer.
            s.push(Step::Wait(Duration::from_secs(2)));
            s.push(Step::Keys("1")); // confirm the caller ID as callback number
            s.push(Step::Quiet(QUIET));
            s.push(Step::Keys("2")); // no SMS
            s.push(Step::Quiet(QUIET)); // the confirmation
            s.push(Step::Hangup);
        }
        Outcome::Held => {
            answer_steps(&mut s, &ANSWERS);
            s.push(Step::Wait(Duration::from_secs(2)));
            s.push(Step::Keys("3")); // hold for a nurse
            s.push(Step::Wait(Duration::from_secs(rng.gen_range(10..=30))));
            s.push(Step::Hangup);
        }
        Outcome::RedFlag => {
            answer_steps(&mut s, &["1", "3", "1"]); // breathing trouble: yes
                                                    // Inside the 112 advice (its prompt, then wait_s = 10).
            s.push(Step::Wait(Duration::from_millis(
                rng.gen_range(3000..=8000),
            )));
            s.push(Step::Hangup);
        }
        Outcome::EarlyHangup => {
            if rng.gen_bool(0.5) {
                s.push(Step::Wait(Duration::from_millis(
                    rng.gen_range(1000..=8000),
                )));
            } else {
                let answered = rng.gen_range(1..ANSWERS.len());
                answer_steps(&mut s, ANSWERS.get(..answered).unwrap_or(&ANSWERS));
                s.push(Step::Wait(BETWEEN / 2));
            }
            s.push(Step::Hangup);
        }
    }
    s
}

/// What the runner wants done now.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Keys(&'static str),
    Hangup,
}

/// Walks a script with injected time.
#[derive(Debug, Clone)]
pub struct ScriptRunner {
    steps: Vec<Step>,
    next: usize,
    /// When the current step began.
    since: Instant,
    /// A `Quiet` step has heard speech since it began.
    heard: bool,
}

impl ScriptRunner {
    /// Starts at `answered` (the 200 OK).
    pub fn new(steps: Vec<Step>, answered: Instant) -> Self {
        ScriptRunner {
            steps,
            next: 0,
            since: answered,
            heard: false,
        }
    }

    /// All steps done.
    pub fn is_done(&self) -> bool {
        self.next >= self.steps.len()
    }

    /// Advances at `now` given when speech was last heard; returns the next
    /// action due (call again until `None`).
    pub fn poll(&mut self, now: Instant, last_speech: Option<Instant>) -> Option<Action> {
        loop {
            let step = self.steps.get(self.next)?.clone();
            match step {
                Step::Wait(d) => {
                    if now < self.since + d {
                        return None;
                    }
                    self.advance(self.since + d);
                }
                Step::Quiet(q) => {
                    if last_speech.is_some_and(|t| t >= self.since) {
                        self.heard = true;
                    }
                    let quiet_since = last_speech.map_or(self.since, |t| t.max(self.since));
                    let quiet = self.heard && now.saturating_duration_since(quiet_since) >= q;
                    if !quiet && now < self.since + QUIET_TIMEOUT {
                        return None;
                    }
                    self.advance(now);
                }
                Step::Keys(k) => {
                    self.advance(now);
                    return Some(Action::Keys(k));
                }
                Step::Hangup => {
                    self.advance(now);
                    return Some(Action::Hangup);
                }
            }
        }
    }

    fn advance(&mut self, at: Instant) {
        self.next += 1;
        self.since = at;
        self.heard = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_is_seeded_and_follows_the_shares() {
        let shares = MixShares::default();
        let a = plan(7, 10_000, &shares);
        assert_eq!(a, plan(7, 10_000, &shares));
        assert_ne!(a, plan(8, 10_000, &shares));
        let count = |o| a.iter().filter(|x| **x == o).count();
        assert!((6700..7300).contains(&count(Outcome::Booked)));
        assert!((1300..1700).contains(&count(Outcome::Held)));
        assert!((380..620).contains(&count(Outcome::RedFlag)));
        assert!((850..1150).contains(&count(Outcome::EarlyHangup)));
    }

    #[test]
    fn zero_share_never_planned_and_shares_parse() {
        let s: MixShares = "booked=0,held=1,red_flag=0,early=0".parse().unwrap();
        assert!(plan(1, 500, &s).iter().all(|o| *o == Outcome::Held));
        let d: MixShares = "held=20".parse().unwrap();
        assert_eq!((d.held, d.booked), (20.0, 70.0));
        assert!("held".parse::<MixShares>().is_err());
        assert!("nurse=3".parse::<MixShares>().is_err());
        assert!("booked=0,held=0,red_flag=0,early=0"
            .parse::<MixShares>()
            .is_err());
    }

    fn keys(steps: &[Step]) -> String {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Keys(k) => Some(*k),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn scripts_answer_as_ivr_toml_expects() {
        let mut rng = SmallRng::seed_from_u64(1);
        assert_eq!(keys(&script(Outcome::Booked, &mut rng)), "1322222122#12");
        assert_eq!(keys(&script(Outcome::Held, &mut rng)), "1322222122#3");
        assert_eq!(keys(&script(Outcome::RedFlag, &mut rng)), "131");
        for _ in 0..50 {
            let s = script(Outcome::EarlyHangup, &mut rng);
            assert_eq!(s.last(), Some(&Step::Hangup));
            assert!(keys(&s).len() < ANSWERS.len(), "hangs up before the offer");
        }
    }

    #[test]
    fn runner_waits_sends_keys_and_waits_for_quiet_after_speech() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut r = ScriptRunner::new(
            vec![
                Step::Wait(Duration::from_secs(1)),
                Step::Keys("1"),
                Step::Quiet(Duration::from_millis(1500)),
                Step::Keys("2"),
                Step::Hangup,
            ],
            t0,
        );
        assert_eq!(r.poll(ms(999), None), None);
        assert_eq!(r.poll(ms(1000), None), Some(Action::Keys("1")));
        // Quiet before any speech does not count: the prompt has not started.
        assert_eq!(r.poll(ms(3000), None), None);
        assert_eq!(r.poll(ms(3100), Some(ms(3100))), None);
        assert_eq!(r.poll(ms(4500), Some(ms(3100))), None);
        assert_eq!(r.poll(ms(4600), Some(ms(3100))), Some(Action::Keys("2")));
        assert_eq!(r.poll(ms(4600), Some(ms(3100))), Some(Action::Hangup));
        assert!(r.is_done());
        assert_eq!(r.poll(ms(9000), None), None);
    }

    #[test]
    fn quiet_step_gives_up_after_its_timeout() {
        let t0 = Instant::now();
        let mut r = ScriptRunner::new(vec![Step::Quiet(QUIET), Step::Hangup], t0);
        assert_eq!(r.poll(t0 + Duration::from_secs(29), None), None);
        assert_eq!(r.poll(t0 + QUIET_TIMEOUT, None), Some(Action::Hangup));
    }
}
