use super::*;
use crate::store::reports::LegFacts;
use chrono::TimeZone;

fn at(day: u32, hour: u32, min: u32) -> DateTime<Utc> {
    // November: Stockholm is UTC+1.
    Utc.with_ymd_and_hms(2026, 11, day, hour, min, 0).unwrap()
}

fn case(id: &str, level: u8, registered: DateTime<Utc>) -> CaseFacts {
    CaseFacts {
        id: id.into(),
        channel: Channel::Phone,
        level,
        unit: None,
        registered_at: registered,
        estimated_callback_at: None,
        outcome: None,
        status: "done".into(),
        attempts: 0,
    }
}

fn leg(case_id: &str, kind: &str, answered: DateTime<Utc>, result: &str) -> LegFacts {
    LegFacts {
        case_id: case_id.into(),
        kind: kind.into(),
        answered_at: answered,
        result: result.into(),
    }
}

fn range() -> Range {
    Range::parse("2026-11-02", "2026-11-15").unwrap()
}

fn report(facts: &ReportFacts, period: Period) -> Report {
    build(facts, period, range(), &LevelTargets::default(), |u| {
        u.unwrap_or("1177").to_string()
    })
}

#[test]
fn callback_answer_wait_target_and_estimate_error() {
    let mut a = case("a", 2, at(2, 8, 0));
    a.estimated_callback_at = Some(at(2, 8, 10));
    let mut b = case("b", 2, at(2, 9, 0));
    b.attempts = 1;
    let facts = ReportFacts {
        cases: vec![a, b],
        legs: vec![
            // The nurse leg answers first; the resident's answer counts.
            leg("a", "nurse_phone", at(2, 8, 19), "connected"),
            leg("a", "resident", at(2, 8, 20), "connected"),
            leg("b", "resident", at(2, 9, 45), "connected"),
        ],
        ..ReportFacts::default()
    };
    let r = report(&facts, Period::Day);
    assert_eq!(r.rows.len(), 1);
    let row = &r.rows[0];
    assert_eq!((row.contacts, row.answered, row.needing_nurse), (2, 2, 2));
    assert_eq!(row.wait_p50_min, Some(20.0));
    assert_eq!(row.wait_p90_min, Some(45.0));
    assert_eq!(row.wait_max_min, Some(45.0));
    // Level 2's target is 30 minutes.
    assert_eq!(row.within_target, 1);
    assert_eq!(row.within_target_share, Some(0.5));
    assert_eq!(row.first_attempt_reached, 1);
    assert_eq!(row.estimates_compared, 1);
    assert_eq!(row.estimate_error_p50_min, Some(10.0));
}

#[test]
fn held_caller_counts_the_bridged_nurse_and_self_care_needs_no_nurse() {
    let mut s = case("s", 5, at(3, 10, 0));
    s.outcome = Some("self_care".into());
    let facts = ReportFacts {
        cases: vec![case("h", 1, at(3, 10, 0)), s],
        legs: vec![
            leg("h", "nurse_browser", at(3, 10, 1), "caller_left"),
            leg("h", "nurse_browser", at(3, 10, 2), "connected"),
        ],
        ..ReportFacts::default()
    };
    let r = report(&facts, Period::Week);
    let l1 = r.rows.iter().find(|r| r.level == 1).unwrap();
    assert_eq!(l1.wait_max_min, Some(2.0));
    assert_eq!(l1.within_target, 1);
    assert_eq!(l1.first_attempt_reached, 0, "no callback");
    let l5 = r.rows.iter().find(|r| r.level == 5).unwrap();
    assert_eq!(
        (l5.self_care, l5.needing_nurse, l5.within_target_share),
        (1, 0, None)
    );
    assert_eq!(
        l1.period_start,
        NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()
    );
}

#[test]
fn handoffs_count_on_the_unit_handed_from_and_abandonments_per_node() {
    let mut c = case("c", 3, at(4, 12, 0));
    c.unit = Some("vc".into());
    let facts = ReportFacts {
        cases: vec![c],
        handoffs: vec![("c".into(), "1177".into())],
        abandoned: vec![
            ("q_fever".into(), at(4, 12, 0)),
            ("q_fever".into(), at(5, 12, 0)),
            ("greeting".into(), at(5, 13, 0)),
        ],
        ..ReportFacts::default()
    };
    let r = report(&facts, Period::Month);
    let units: Vec<(&str, u32, u32)> = r
        .rows
        .iter()
        .map(|r| (r.unit.as_str(), r.contacts, r.handoffs_out))
        .collect();
    assert_eq!(units, [("1177", 0, 1), ("vc", 1, 0)]);
    let nodes: Vec<(&str, u32)> = r
        .abandoned
        .iter()
        .map(|a| (a.node.as_str(), a.count))
        .collect();
    assert_eq!(nodes, [("greeting", 1), ("q_fever", 2)]);
    let text = csv::to_csv(&r);
    assert_eq!(text.lines().count(), 1 + 2 + 2);
    assert!(text.contains(",2,q_fever\r\n"));
}

#[test]
fn charts_by_local_hour_and_week() {
    // 07:30 UTC = 08:30 Stockholm.
    let facts = ReportFacts {
        cases: vec![case("a", 3, at(2, 7, 30)), case("b", 3, at(9, 7, 40))],
        legs: vec![leg("a", "resident", at(2, 8, 30), "connected")],
        nurse_activity: vec![
            ("nina".into(), at(2, 7, 0)),
            ("nina".into(), at(2, 7, 50)),
            ("olle".into(), at(2, 7, 5)),
        ],
        ..ReportFacts::default()
    };
    let r = report(&facts, Period::Day);
    let l3 = &r.charts.waits_by_hour[2];
    assert_eq!(l3.wait_p50_min[8], Some(60.0));
    assert_eq!(l3.wait_p50_min[9], None);
    assert_eq!(r.charts.arrivals_by_hour[8], 2.0 / 14.0);
    assert_eq!(r.charts.nurses_by_hour[8], 2.0 / 14.0);
    let weeks: Vec<Option<f64>> = r
        .charts
        .within_target_by_week
        .iter()
        .map(|w| w.all)
        .collect();
    // Week 1: answered in 60 min (target 2 h); week 2: not answered yet.
    assert_eq!(weeks, [Some(1.0), Some(0.0)]);
}

#[test]
fn nearest_rank_percentiles() {
    assert_eq!(nearest_rank(&[], 50), None);
    assert_eq!(nearest_rank(&[5], 90), Some(5));
    assert_eq!(nearest_rank(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90), Some(9));
    assert_eq!(nearest_rank(&[1, 2, 3, 4], 50), Some(2));
}
