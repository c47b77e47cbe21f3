//! Queue simulation: a day of 2,000 cases with a realistic level mix and a
//! morning peak, worked by N nurses in queue order. Each case is told the
//! replayed estimate at registration (as the IVR would: expected arrivals,
//! recent handling times, busy nurses finishing spread over one handling time).
//! The service has four weeks of history before the measured day: the old
//! model (BEFORE) replays a flat rate from the last two hours, the new one
//! (AFTER) the profile learnt per weekday and hour from those weeks, corrected
//! by the last two hours. Prints, per level, the share called within target,
//! the longest wait and the estimate error, side by side. Timing figures are
//! printed, never asserted (`cargo test --test queue_simulation -- --nocapture`).
//!
//! The staffing forecast is checked against the same simulation: its nurses
//! per hour for a week run the queue, and each level's share within target
//! must reach the target share (deterministic: fixed seeds, simulated time).

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use phone_entrance::queue::arrivals::hour_start;
use phone_entrance::queue::forecast::{self, HourPlan, PlanInput};
use phone_entrance::queue::{
    busy_spread, estimate_new, ArrivalProfile, ArrivalRates, Correction, HandlingTimes, HourCount,
    LevelTargets, OpeningHours, Priority, Queue, QueuedCase, Staffing,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

const CASES_PER_DAY: usize = 2000;
/// Share of cases per level 1..=5.
const MIX: [f64; 5] = [0.02, 0.10, 0.28, 0.40, 0.20];
const DEFAULT_HANDLING_MIN: f64 = 12.0;
/// Days of history the service has before the measured day.
const HISTORY_DAYS: i64 = 27;

struct Outcome {
    level: u8,
    waited: TimeDelta,
    error_min: f64,
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 3, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Arrival weight by local hour: quiet nights, a morning peak, an evening bump.
fn hour_weight(h: u32) -> f64 {
    match h {
        0..=5 => 0.3,
        6..=7 => 1.0,
        8..=11 => 2.2,
        12..=16 => 1.5,
        17..=21 => 1.2,
        _ => 0.6,
    }
}

fn arrivals(rng: &mut StdRng) -> Vec<(DateTime<Utc>, u8)> {
    day_arrivals(rng, t0())
}

/// Another day's arrivals, with its own seed (the measured day keeps `seed`).
fn other_day(seed: u64, day: i64) -> Vec<(DateTime<Utc>, u8)> {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(day.unsigned_abs() * 7919));
    day_arrivals(&mut rng, t0() + TimeDelta::days(day))
}

fn day_arrivals(rng: &mut StdRng, day: DateTime<Utc>) -> Vec<(DateTime<Utc>, u8)> {
    let total: f64 = (0..24).map(hour_weight).sum();
    let mut out = Vec::with_capacity(CASES_PER_DAY);
    for h in 0..24u32 {
        let n = (CASES_PER_DAY as f64 * hour_weight(h) / total).round() as usize;
        for _ in 0..n {
            let at =
                day + TimeDelta::hours(i64::from(h)) + TimeDelta::seconds(rng.gen_range(0..3600));
            let x: f64 = rng.gen();
            let mut acc = 0.0;
            let mut level = 5u8;
            for (i, share) in MIX.iter().enumerate() {
                acc += share;
                if x < acc {
                    level = i as u8 + 1;
                    break;
                }
            }
            out.push((at, level));
        }
    }
    out.sort();
    out
}

/// Gamma(3, 4 min): mean 12 minutes, a long right tail.
fn handling(rng: &mut StdRng) -> Duration {
    let mins: f64 = (0..3).map(|_| -4.0 * (1.0 - rng.gen::<f64>()).ln()).sum();
    Duration::from_secs_f64(mins.clamp(2.0, 90.0) * 60.0)
}

/// A registered case: level, registration time, the estimate it was told.
struct Registered {
    level: u8,
    at: DateTime<Utc>,
    told: Option<DateTime<Utc>>,
    /// Registered on the measured day (the days around it only load the queue).
    measured: bool,
}

/// The simulated service: the queue, the nurses and what has happened so far.
struct Sim {
    rng: StdRng,
    queue: Queue<usize>,
    cases: Vec<Registered>,
    /// When each nurse is next free.
    free: BinaryHeap<Reverse<DateTime<Utc>>>,
    /// Handling times not yet known to the service (the case is still going on).
    ongoing: Vec<(DateTime<Utc>, Priority, Duration)>,
    outcomes: Vec<Outcome>,
}

impl Sim {
    /// Nurses take cases in queue order until `until` (or until the queue is empty).
    fn dispatch(&mut self, until: Option<DateTime<Utc>>) {
        while let Some(Reverse(f)) = self.free.peek().copied() {
            if until.is_some_and(|u| f > u) || self.queue.is_empty() {
                break;
            }
            self.free.pop();
            let Some(c) = self.queue.pop_next() else {
                break;
            };
            let start = f.max(c.registered_at);
            let took = handling(&mut self.rng);
            let end = start + TimeDelta::from_std(took).unwrap_or_default();
            self.free.push(Reverse(end));
            self.ongoing.push((end, c.priority, took));
            let r = &self.cases[c.id];
            if std::env::var_os("SIM_DEBUG").is_some() && c.id % 25 == 0 {
                eprintln!(
                    "L{} reg {} told {:?} start {}",
                    r.level,
                    r.at.format("%H:%M"),
                    r.told.map(|e| e.format("%d %H:%M").to_string()),
                    start.format("%d %H:%M")
                );
            }
            if !r.measured {
                continue;
            }
            self.outcomes.push(Outcome {
                level: r.level,
                waited: start - r.at,
                error_min: r
                    .told
                    .map_or(f64::NAN, |e| (start - e).num_seconds() as f64 / 60.0),
            });
        }
    }
}

/// How the service expects arrivals.
#[derive(Clone, Copy)]
enum Model<'a> {
    /// The old model: the flat rate of the last two hours.
    Flat,
    /// The learnt weekday-hour profile, corrected by the last two hours.
    Profile(&'a ArrivalProfile),
}

/// The history the service has: arrivals of the `HISTORY_DAYS` days before
/// the measured day, and the profile learnt from them (as the store counts).
fn history(seed: u64) -> (Vec<(DateTime<Utc>, u8)>, ArrivalProfile) {
    let mut past = Vec::new();
    for day in -HISTORY_DAYS..0 {
        past.extend(other_day(seed, day));
    }
    let mut counts: std::collections::BTreeMap<(DateTime<Utc>, u8), u32> = Default::default();
    for (at, level) in &past {
        *counts.entry((hour_start(*at), *level)).or_default() += 1;
    }
    let counts: Vec<HourCount> = counts
        .into_iter()
        .map(|((hour, level), count)| HourCount { hour, level, count })
        .collect();
    let from = t0() - TimeDelta::days(HISTORY_DAYS);
    let profile = ArrivalProfile::learn(chrono_tz::Europe::Stockholm, &counts, from, t0());
    (past, profile)
}

/// Runs the day before (to start with its backlog), the measured day (each
/// case told its estimate) and the day after (whose cases overtake the
/// measured day's level-5 ones, as the estimate expects); measures the
/// measured day's cases.
fn simulate(
    nurses: usize,
    seed: u64,
    model: Model<'_>,
    past: &[(DateTime<Utc>, u8)],
) -> Vec<Outcome> {
    let mut rng = StdRng::seed_from_u64(seed);
    let day = arrivals(&mut rng);
    let mut arrivals = other_day(seed, -1);
    arrivals.extend(day);
    arrivals.extend(other_day(seed, 1));
    let past: Vec<(DateTime<Utc>, u8)> = past
        .iter()
        .filter(|(t, _)| *t < t0() - TimeDelta::days(1))
        .copied()
        .collect();
    let targets = LevelTargets::default();
    let hours = OpeningHours::default();
    let mut history = HandlingTimes::new(Duration::from_secs_f64(DEFAULT_HANDLING_MIN * 60.0));
    // The previous day's last hours are known too.
    let mut recent: VecDeque<(DateTime<Utc>, u8)> = past
        .iter()
        .filter(|(t, _)| *t >= t0() - TimeDelta::days(1) - TimeDelta::hours(2))
        .copied()
        .collect();
    let mut sim = Sim {
        rng,
        queue: Queue::new(),
        cases: Vec::new(),
        free: (0..nurses)
            .map(|_| Reverse(t0() - TimeDelta::days(1)))
            .collect(),
        ongoing: Vec::new(),
        outcomes: Vec::new(),
    };
    let measured_day = t0()..t0() + TimeDelta::days(1);
    for (at, level) in arrivals {
        sim.dispatch(Some(at));
        // What the service knows now: finished handling times, arrivals in the last 2 h.
        sim.ongoing.retain(|(end, p, took)| {
            if *end <= at {
                history.record(*p, *took);
                false
            } else {
                true
            }
        });
        while recent
            .front()
            .is_some_and(|(t, _)| *t < at - TimeDelta::hours(2))
        {
            recent.pop_front();
        }
        let mut counts = [0u32; 5];
        for (_, l) in &recent {
            counts[usize::from(*l - 1)] += 1;
        }
        let measured = measured_day.contains(&at);
        let forecast = match model {
            _ if !measured => None,
            Model::Flat => None,
            Model::Profile(p) => {
                let expected = p.expected_between(at - TimeDelta::hours(2), at);
                let correction = Correction::from_recent(counts.iter().sum(), expected);
                Some(p.forecast(at, 48, correction))
            }
        };
        let busy = sim.free.iter().filter(|Reverse(f)| *f > at).count();
        let priority = Priority::new(level).unwrap_or(Priority::LOWEST);
        let open: Vec<QueuedCase<usize>> = sim.queue.iter().cloned().collect();
        let staff = Staffing {
            nurses: nurses as u32,
            busy_until: busy_spread(at, busy, history.for_level(Priority::LOWEST)),
            handling: &history,
            hours: &hours,
            targets: &targets,
            arrivals: ArrivalRates::from_counts(counts, Duration::from_secs(7200)),
            forecast: forecast.as_ref(),
            not_before: None,
        };
        let told = measured
            .then(|| estimate_new(at, priority, &open, &staff))
            .flatten();
        let id = sim.cases.len();
        sim.cases.push(Registered {
            level,
            at,
            told,
            measured,
        });
        sim.queue.insert(QueuedCase {
            id,
            priority,
            registered_at: at,
            deadline: phone_entrance::queue::deadline_for(at, priority, &targets),
        });
        recent.push_back((at, level));
    }
    sim.dispatch(None);
    sim.outcomes
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// One level's figures: cases, share within target, max wait, |error| p50 and
/// p90, signed median error.
struct LevelFigures {
    cases: usize,
    within: f64,
    max: TimeDelta,
    p50: f64,
    p90: f64,
    signed: f64,
}

fn figures(outcomes: &[Outcome], level: u8) -> LevelFigures {
    let targets = LevelTargets::default();
    let p = Priority::new(level).unwrap_or(Priority::LOWEST);
    let target = TimeDelta::from_std(targets.target(p)).unwrap_or_default();
    let mine: Vec<&Outcome> = outcomes.iter().filter(|o| o.level == level).collect();
    let within = mine.iter().filter(|o| o.waited <= target).count();
    let mut abs: Vec<f64> = mine
        .iter()
        .map(|o| o.error_min.abs())
        .filter(|e| e.is_finite())
        .collect();
    abs.sort_by(f64::total_cmp);
    let mut signed: Vec<f64> = mine
        .iter()
        .map(|o| o.error_min)
        .filter(|e| e.is_finite())
        .collect();
    signed.sort_by(f64::total_cmp);
    LevelFigures {
        cases: mine.len(),
        within: 100.0 * within as f64 / mine.len().max(1) as f64,
        max: mine.iter().map(|o| o.waited).max().unwrap_or_default(),
        p50: percentile(&abs, 0.5),
        p90: percentile(&abs, 0.9),
        signed: percentile(&signed, 0.5),
    }
}

fn report(nurses: usize, before: &[Outcome], after: &[Outcome]) {
    println!(
        "\n== {CASES_PER_DAY} cases/day, {nurses} nurses, handling mean {DEFAULT_HANDLING_MIN} min, \
         day {HISTORY_DAYS}+1 (after {HISTORY_DAYS} days of history) =="
    );
    println!(
        "             |------------- BEFORE (flat 2 h rate) -------------|  \
         |------------- AFTER (weekday-hour profile) --------|"
    );
    println!(
        "level cases  within  max wait  |err| p50   p90  signed p50  \
         within  max wait  |err| p50   p90  signed p50"
    );
    for level in 1..=5u8 {
        let b = figures(before, level);
        let a = figures(after, level);
        let goal = if level <= 3 { 15.0 } else { 30.0 };
        let ok = a.p50 < goal && a.p90 < 60.0;
        println!(
            "{level:>5} {:>5}  {:>5.1}%  {:>3}h{:02}m  {:>9.1} {:>5.1} {:>11.1}  \
             {:>5.1}%  {:>3}h{:02}m  {:>9.1} {:>5.1} {:>11.1}  goal p50<{goal:.0} p90<60: {}",
            b.cases,
            b.within,
            b.max.num_hours(),
            b.max.num_minutes() % 60,
            b.p50,
            b.p90,
            b.signed,
            a.within,
            a.max.num_hours(),
            a.max.num_minutes() % 60,
            a.p50,
            a.p90,
            a.signed,
            if ok { "met" } else { "NOT met" },
        );
    }
    for (name, outcomes) in [("before", before), ("after", after)] {
        let mut abs: Vec<f64> = outcomes
            .iter()
            .map(|o| o.error_min.abs())
            .filter(|e| e.is_finite())
            .collect();
        abs.sort_by(f64::total_cmp);
        println!(
            "all {name:<6} {:>5} cases: estimate error |actual - told| median {:.1} min, p90 {:.1} min",
            outcomes.len(),
            percentile(&abs, 0.5),
            percentile(&abs, 0.9)
        );
    }
}

fn nurse_counts() -> Vec<usize> {
    match std::env::var("SIM_NURSES")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        Some(n) => vec![n],
        None => vec![16, 18, 22],
    }
}

#[test]
fn queue_simulation_prints_targets_waits_and_estimate_error() {
    let (past, profile) = history(1177);
    for nurses in nurse_counts() {
        let before = simulate(nurses, 1177, Model::Flat, &past);
        let after = simulate(nurses, 1177, Model::Profile(&profile), &past);
        // Sanity only: every case was served exactly once.
        let n = arrivals(&mut StdRng::seed_from_u64(1177)).len();
        assert_eq!((before.len(), after.len()), (n, n));
        report(nurses, &before, &after);
    }
}

/// Target shares (0-1) per level from the shipped triage.toml.
fn target_shares() -> [f64; 5] {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sip-config/triage.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    match phone_entrance::triage::Triage::from_toml(&text, "triage.toml") {
        Ok(t) => t.target_shares(),
        Err(e) => panic!("{e}"),
    }
}

/// Runs `days` days of arrivals (day 0 = the measured day) with the nurses
/// on duty per hour from `plan` (the last hour's figure after its end);
/// returns each case's level and wait.
fn simulate_roster(seed: u64, days: i64, plan: &[HourPlan]) -> Vec<Outcome> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut all = arrivals(&mut rng);
    for day in 1..days {
        all.extend(other_day(seed, day));
    }
    let start = plan.first().map_or(t0(), |h| h.start);
    let last = plan.last().map_or(1, |h| h.nurses as usize);
    let on_duty = |at: DateTime<Utc>| -> usize {
        let i = (at - start).num_hours();
        usize::try_from(i)
            .ok()
            .and_then(|i| plan.get(i))
            .map_or(last, |h| h.nurses as usize)
    };
    // When nurse `i` is next on duty at or after `at`.
    let next_on_duty = |i: usize, at: DateTime<Utc>| -> DateTime<Utc> {
        let mut t = at;
        for _ in 0..24 * 14 {
            if on_duty(t) > i {
                return t;
            }
            t = hour_start(t) + TimeDelta::hours(1);
        }
        t
    };
    let max = plan.iter().map(|h| h.nurses as usize).max().unwrap_or(1);
    let targets = LevelTargets::default();
    let mut queue: Queue<usize> = Queue::new();
    let mut free: BinaryHeap<Reverse<(DateTime<Utc>, usize)>> =
        (0..max).map(|i| Reverse((start, i))).collect();
    let mut levels = Vec::new();
    let mut outcomes = Vec::new();
    let mut dispatch =
        |queue: &mut Queue<usize>, until: Option<DateTime<Utc>>, levels: &[(u8, DateTime<Utc>)]| {
            while let Some(Reverse((f, i))) = free.peek().copied() {
                let on = next_on_duty(i, f);
                if on != f {
                    free.pop();
                    free.push(Reverse((on, i)));
                    continue;
                }
                if until.is_some_and(|u| f > u) || queue.is_empty() {
                    break;
                }
                free.pop();
                let Some(c) = queue.pop_next() else { break };
                let begin = f.max(c.registered_at);
                if on_duty(begin) <= i {
                    // Off duty by the time the case is there: someone else takes it.
                    free.push(Reverse((next_on_duty(i, begin), i)));
                    queue.insert(c);
                    continue;
                }
                let took = handling(&mut rng);
                free.push(Reverse((
                    begin + TimeDelta::from_std(took).unwrap_or_default(),
                    i,
                )));
                let (level, at) = levels[c.id];
                outcomes.push(Outcome {
                    level,
                    waited: begin - at,
                    error_min: f64::NAN,
                });
            }
        };
    for (at, level) in all {
        dispatch(&mut queue, Some(at), &levels);
        let priority = Priority::new(level).unwrap_or(Priority::LOWEST);
        let id = levels.len();
        levels.push((level, at));
        queue.insert(QueuedCase {
            id,
            priority,
            registered_at: at,
            deadline: phone_entrance::queue::deadline_for(at, priority, &targets),
        });
    }
    dispatch(&mut queue, None, &levels);
    outcomes
}

#[test]
fn forecast_staffing_meets_each_levels_target_share_in_the_simulation() {
    let (_, profile) = history(1177);
    let shares = target_shares();
    let targets = LevelTargets::default();
    let week = profile.forecast(t0(), 7 * 24, Correction::NONE);
    let handling = [Duration::from_secs_f64(DEFAULT_HANDLING_MIN * 60.0); 5];
    let plan = forecast::plan(&PlanInput::<usize> {
        arrivals: &week,
        handling,
        targets: &targets,
        shares,
        backlog: &[],
    });
    println!("\n== staffing forecast from the learnt profile, day 1 (Monday) ==");
    println!("hour  expected  nurses  capacity/h");
    for h in plan.iter().take(24) {
        println!(
            "{}  {:>8.1}  {:>6}  {:>10.1}",
            h.start.format("%H:%M"),
            h.expected.iter().sum::<f64>(),
            h.nurses,
            h.capacity
        );
    }
    let nurse_hours: Vec<u32> = plan
        .chunks(24)
        .map(|d| d.iter().map(|h| h.nurses).sum())
        .collect();
    println!("nurse-hours per day for the week: {nurse_hours:?} (flat 16 nurses = 384)");
    let outcomes = simulate_roster(1177, 7, &plan);
    println!("simulated week with the forecast staffing: share within target");
    println!("level  cases  within target  target share  max wait");
    let mut all_met = true;
    for level in 1..=5u8 {
        let f = figures(&outcomes, level);
        let want = 100.0 * shares[usize::from(level - 1)];
        let met = f.within + 1e-9 >= want;
        all_met &= met;
        println!(
            "{level:>5}  {:>5}  {:>12.1}%  {:>11.0}%  {:>3}h{:02}m  {}",
            f.cases,
            f.within,
            want,
            f.max.num_hours(),
            f.max.num_minutes() % 60,
            if met { "met" } else { "NOT met" }
        );
    }
    assert_eq!(
        outcomes.len(),
        7 * arrivals(&mut StdRng::seed_from_u64(1177)).len()
    );
    assert!(
        all_met,
        "the forecast staffing must meet every level's target share"
    );
}
