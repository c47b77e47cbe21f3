//! A simulated month for the follow-up reports (issue 12), written through
//! the store API from a fixed seed, and the plan it followed: what the test
//! computes the expected figures from, without the database.

use chrono::{DateTime, Datelike, TimeDelta, TimeZone, Utc};
use phone_entrance::queue::{AttemptOutcome, Priority, RetryPolicies};
use phone_entrance::store::{
    Actor, AttemptResult, CallLeg, CaseMode, Channel, LegDirection, LegKind, NewCase, Store,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Nurses whose audited work counts as on duty (create them as nurses).
pub const NURSES: [&str; 3] = ["nina", "olle", "pia"];
/// The second unit in the shipped units.toml.
pub const OTHER_UNIT: &str = "vc-markaryd";
pub const DEFAULT_UNIT: &str = "1177";

/// One generated contact, as planned.
#[derive(Clone, Debug)]
pub struct Planned {
    pub channel: Channel,
    pub level: u8,
    pub registered: DateTime<Utc>,
    pub told: Option<DateTime<Utc>>,
    /// The nurse's answer and whether it was a callback (else a held caller).
    pub answer: Option<(DateTime<Utc>, bool)>,
    pub failed_before: u32,
    pub unreachable: bool,
    pub self_care: bool,
    /// Handed off from the default unit to `OTHER_UNIT`.
    pub handed_off: bool,
}

/// Everything seeded.
#[derive(Debug, Default)]
pub struct Month {
    pub cases: Vec<Planned>,
    /// (IVR node, time).
    pub abandoned: Vec<(String, DateTime<Utc>)>,
    /// (nurse, time) of each audited nurse action.
    pub nurse_actions: Vec<(String, DateTime<Utc>)>,
}

fn new_case(p: &Planned) -> NewCase {
    NewCase {
        channel: p.channel,
        priority: Priority::new(p.level).expect("level"),
        mode: CaseMode::Callback,
        registered_at: p.registered,
        deadline: p.registered + TimeDelta::hours(1),
        estimated_callback_at: p.told,
        answers: Vec::new(),
        callback_number: None,
        personnummer: None,
        language: "sv".into(),
        call_id: None,
        external_ref: None,
        summary: String::new(),
        red_flag: p.level == 1,
    }
}

fn leg(case: Uuid, kind: LegKind, at: DateTime<Utc>, answered: bool, result: &str) -> CallLeg {
    CallLeg {
        id: Uuid::new_v4(),
        case_id: Some(case),
        direction: LegDirection::Outbound,
        kind,
        started_at: at - TimeDelta::seconds(20),
        answered_at: answered.then_some(at),
        ended_at: at + TimeDelta::minutes(4),
        result: result.into(),
        sip_status: Some(if answered { 200 } else { 486 }),
        ended_by: Some("local".into()),
    }
}

/// Seeds `days` days from `first` (a UTC midnight) with about `per_day`
/// contacts a day, deterministic for `seed`.
pub async fn seed_month(
    store: &Store,
    first: DateTime<Utc>,
    days: i64,
    per_day: u32,
    seed: u64,
) -> Month {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut month = Month::default();
    let policy = RetryPolicies::default();
    for day in 0..days {
        for _ in 0..per_day {
            let minute = rng.gen_range(6 * 60..21 * 60);
            let registered = first
                + TimeDelta::days(day)
                + TimeDelta::minutes(minute)
                + TimeDelta::seconds(rng.gen_range(0..60));
            let level = rng.gen_range(1..=5u8);
            let channel = if level > 1 && rng.gen_bool(0.3) {
                Channel::Digital
            } else {
                Channel::Phone
            };
            let roll = rng.gen_range(0..100);
            let nurse = NURSES[rng.gen_range(0..NURSES.len())];
            let mut p = Planned {
                channel,
                level,
                registered,
                told: (level > 1 && rng.gen_bool(0.8))
                    .then(|| registered + TimeDelta::minutes(rng.gen_range(5..300))),
                answer: None,
                failed_before: 0,
                unreachable: false,
                self_care: false,
                handed_off: false,
            };
            if channel == Channel::Phone && level >= 4 && roll < 15 {
                p.self_care = true;
                store
                    .insert_contact(&new_case(&p), registered)
                    .await
                    .expect("contact");
                month.cases.push(p);
                continue;
            }
            let id = store.insert_case(&new_case(&p)).await.expect("case").id;
            let actor = Actor {
                username: nurse,
                ip: None,
                may_override: false,
            };
            if roll >= 90 {
                // Never picked up within the month: open.
                month.cases.push(p);
                continue;
            }
            let wait = TimeDelta::seconds(rng.gen_range(60..(i64::from(level) * 3 * 3600)));
            let mut at = registered + wait / 2;
            p.failed_before = if roll < 30 { 1 } else { 0 };
            let unreachable = level >= 3 && roll >= 85;
            let failures = if unreachable { 10 } else { p.failed_before };
            for _ in 0..failures {
                store.claim(id, &actor, at).await.expect("claim");
                month.nurse_actions.push((nurse.into(), at));
                store
                    .insert_call_leg(&leg(id, LegKind::Resident, at, false, "busy"))
                    .await
                    .expect("leg");
                let out = store
                    .record_attempt(id, nurse, AttemptResult::Busy, &policy, at)
                    .await
                    .expect("attempt");
                month.nurse_actions.push((nurse.into(), at));
                at += TimeDelta::minutes(20);
                if out == AttemptOutcome::Unreachable {
                    p.unreachable = true;
                    break;
                }
            }
            if unreachable {
                p.failed_before = 0;
                assert!(p.unreachable, "retry policy ended in unreachable");
                month.cases.push(p);
                continue;
            }
            let answered = registered + wait;
            store.claim(id, &actor, answered).await.expect("claim");
            month.nurse_actions.push((nurse.into(), answered));
            let held = level == 1 && rng.gen_bool(0.5);
            let nurse_kind = if rng.gen_bool(0.5) {
                LegKind::NursePhone
            } else {
                LegKind::NurseBrowser
            };
            // The nurse answers a little before the resident does.
            store
                .insert_call_leg(&leg(
                    id,
                    nurse_kind,
                    answered - TimeDelta::seconds(15),
                    true,
                    "connected",
                ))
                .await
                .expect("leg");
            if !held {
                store
                    .insert_call_leg(&leg(id, LegKind::Resident, answered, true, "connected"))
                    .await
                    .expect("leg");
            }
            let nurse_answer = if held {
                answered - TimeDelta::seconds(15)
            } else {
                answered
            };
            store
                .record_attempt(id, nurse, AttemptResult::Connected, &policy, answered)
                .await
                .expect("attempt");
            month.nurse_actions.push((nurse.into(), answered));
            p.answer = Some((nurse_answer, !held));
            if level >= 3 && rng.gen_bool(0.2) {
                store
                    .hand_off(
                        id,
                        OTHER_UNIT,
                        Some(OTHER_UNIT),
                        DEFAULT_UNIT,
                        "",
                        &actor,
                        answered + TimeDelta::minutes(5),
                    )
                    .await
                    .expect("hand off");
                month
                    .nurse_actions
                    .push((nurse.into(), answered + TimeDelta::minutes(5)));
                p.handed_off = true;
            }
            month.cases.push(p);
        }
        for _ in 0..rng.gen_range(0..4) {
            let node = ["greeting", "language", "q_breathing", "q_fever"][rng.gen_range(0..4)];
            let at =
                first + TimeDelta::days(day) + TimeDelta::minutes(rng.gen_range(6 * 60..21 * 60));
            store
                .insert_ivr_abandonment(node, at)
                .await
                .expect("abandonment");
            month.abandoned.push((node.into(), at));
        }
    }
    month
}

/// UTC midnight of a date (the seeded month starts there).
pub fn utc_day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
        .single()
        .expect("date")
}

/// The local (Stockholm) date of `t`, as the report groups it.
pub fn local_date(t: DateTime<Utc>) -> chrono::NaiveDate {
    t.with_timezone(&chrono_tz::Europe::Stockholm).date_naive()
}

/// Monday of `t`'s local week.
pub fn local_week(t: DateTime<Utc>) -> chrono::NaiveDate {
    let d = local_date(t);
    d - TimeDelta::days(i64::from(d.weekday().num_days_from_monday()))
}

/// Parses the CSV export (no quoted cells in it): the header and a map
/// header -> cell per data row.
pub fn parse_csv(text: &str) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .split(',')
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), header.len(), "row {l}");
            header
                .iter()
                .cloned()
                .zip(cells.iter().map(|c| c.to_string()))
                .collect()
        })
        .collect();
    (header, rows)
}
