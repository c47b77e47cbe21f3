//! Queue simulation: a day of 2,000 cases with a realistic level mix and a
//! morning peak, worked by N nurses in queue order. Each case is told the
//! replayed estimate at registration (as the IVR would: recent arrival rates,
//! recent handling times, busy nurses finishing spread over one handling time). Prints, per level, the
//! share called within target and the longest wait, and the estimate error.
//! Figures are printed, never asserted (`cargo test --test queue_simulation -- --nocapture`).

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use phone_entrance::queue::{
    busy_spread, estimate_new, ArrivalRates, HandlingTimes, LevelTargets, OpeningHours, Priority,
    Queue, QueuedCase, Staffing,
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
    let total: f64 = (0..24).map(hour_weight).sum();
    let mut out = Vec::with_capacity(CASES_PER_DAY);
    for h in 0..24u32 {
        let n = (CASES_PER_DAY as f64 * hour_weight(h) / total).round() as usize;
        for _ in 0..n {
            let at =
                t0() + TimeDelta::hours(i64::from(h)) + TimeDelta::seconds(rng.gen_range(0..3600));
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

fn simulate(nurses: usize, seed: u64) -> Vec<Outcome> {
    let mut rng = StdRng::seed_from_u64(seed);
    let arrivals = arrivals(&mut rng);
    let targets = LevelTargets::default();
    let hours = OpeningHours::default();
    let mut history = HandlingTimes::new(Duration::from_secs_f64(DEFAULT_HANDLING_MIN * 60.0));
    let mut recent: VecDeque<(DateTime<Utc>, u8)> = VecDeque::new();
    let mut sim = Sim {
        rng,
        queue: Queue::new(),
        cases: Vec::new(),
        free: (0..nurses).map(|_| Reverse(t0())).collect(),
        ongoing: Vec::new(),
        outcomes: Vec::new(),
    };
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
            not_before: None,
        };
        let told = estimate_new(at, priority, &open, &staff);
        let id = sim.cases.len();
        sim.cases.push(Registered { level, at, told });
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

fn report(nurses: usize, outcomes: &[Outcome]) {
    let targets = LevelTargets::default();
    println!("\n== {CASES_PER_DAY} cases/day, {nurses} nurses, handling mean {DEFAULT_HANDLING_MIN} min ==");
    println!(
        "level  cases  within target  max wait   est. error |median| p90 (min)  signed median"
    );
    for level in 1..=5u8 {
        let p = Priority::new(level).unwrap_or(Priority::LOWEST);
        let target = TimeDelta::from_std(targets.target(p)).unwrap_or_default();
        let mine: Vec<&Outcome> = outcomes.iter().filter(|o| o.level == level).collect();
        let within = mine.iter().filter(|o| o.waited <= target).count();
        let max = mine.iter().map(|o| o.waited).max().unwrap_or_default();
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
        println!(
            "{level:>5}  {:>5}  {:>12.1}%  {:>4}h{:02}m   {:>10.1}  {:>9.1}  {:>13.1}",
            mine.len(),
            100.0 * within as f64 / mine.len().max(1) as f64,
            max.num_hours(),
            max.num_minutes() % 60,
            percentile(&abs, 0.5),
            percentile(&abs, 0.9),
            percentile(&signed, 0.5),
        );
    }
    let mut abs: Vec<f64> = outcomes
        .iter()
        .map(|o| o.error_min.abs())
        .filter(|e| e.is_finite())
        .collect();
    abs.sort_by(f64::total_cmp);
    println!(
        "all    {:>5}  estimate error |actual - told|: median {:.1} min, p90 {:.1} min",
        outcomes.len(),
        percentile(&abs, 0.5),
        percentile(&abs, 0.9)
    );
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
    for nurses in nurse_counts() {
        let outcomes = simulate(nurses, 1177);
        // Sanity only: every case was served exactly once.
        assert_eq!(
            outcomes.len(),
            arrivals(&mut StdRng::seed_from_u64(1177)).len()
        );
        report(nurses, &outcomes);
    }
}
