//! `GET /api/v1/supervisor/forecast` over real HTTP on a seeded database:
//! sign-in and role, and the shape of a week's staffing forecast learnt from
//! two weeks of cases (both channels). SQLite, and PostgreSQL with
//! `PE_TEST_POSTGRES_URL`.

mod api_support;

use api_support::Api;
use chrono::{TimeDelta, Utc};
use phone_entrance::api::auth::Role;
use phone_entrance::queue::{deadline_for, LevelTargets, Priority};
use phone_entrance::store::{CaseMode, CaseStatus, Channel, NewCase};

/// Two weeks of closed cases: 4 an hour in the daytime, 1 at night, level
/// 2-5, every third digital.
async fn seed(api: &Api) {
    let now = Utc::now();
    let targets = LevelTargets::default();
    let mut n = 0u32;
    for hour in 1..=14 * 24 {
        let at = now - TimeDelta::hours(hour);
        let per_hour = if (7..20).contains(&(hour % 24)) { 4 } else { 1 };
        for _ in 0..per_hour {
            n += 1;
            let priority = Priority::new(2 + (n % 4) as u8).unwrap_or(Priority::LOWEST);
            let case = NewCase {
                channel: if n.is_multiple_of(3) {
                    Channel::Digital
                } else {
                    Channel::Phone
                },
                priority,
                mode: CaseMode::Callback,
                registered_at: at,
                deadline: deadline_for(at, priority, &targets),
                estimated_callback_at: None,
                answers: Vec::new(),
                callback_number: None,
                personnummer: None,
                language: "sv".into(),
                call_id: None,
                external_ref: None,
                summary: String::new(),
                red_flag: false,
            };
            let Ok(record) = api.store.insert_case(&case).await else {
                panic!("insert failed");
            };
            let done = api.store.set_status(record.id, CaseStatus::Done, at).await;
            assert!(done.is_ok(), "{done:?}");
        }
    }
}

async fn check(api: Api) {
    let path = "/api/v1/supervisor/forecast";
    assert_eq!(api.send("GET", path, None, None).await.status, 401);
    let anna = api.sign_in("anna", Role::Nurse).await;
    assert_eq!(api.send("GET", path, Some(&anna), None).await.status, 403);
    let sara = api.sign_in("sara", Role::Supervisor).await;

    let empty = api.send("GET", path, Some(&sara), None).await;
    assert_eq!(empty.status, 200, "{}", empty.text);
    let empty = empty.json();
    assert_eq!(empty["learnt"], false, "no history yet: {empty}");
    assert_eq!(empty["hours"].as_array().map(Vec::len), Some(0));

    seed(&api).await;
    let reply = api.send("GET", path, Some(&sara), None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let f = reply.json();
    assert_eq!(f["learnt"], true, "{f}");
    assert!(f["nurses_on_duty"].as_u64().is_some_and(|n| n >= 1), "{f}");
    assert_eq!(f["target_share_percent"].as_array().map(Vec::len), Some(5));
    let hours = f["hours"].as_array().cloned().unwrap_or_default();
    assert_eq!(hours.len(), 7 * 24, "the next day and the rest of the week");
    for h in &hours {
        assert!(h["start"].is_string());
        assert_eq!(h["expected_per_level"].as_array().map(Vec::len), Some(5));
        assert!(h["nurses_needed"].as_u64().is_some_and(|n| n >= 1), "{h}");
        assert!(
            h["callback_capacity"].as_f64().is_some_and(|c| c > 0.0),
            "{h}"
        );
        assert!(h["capacity_on_duty"].as_f64().is_some(), "{h}");
    }
    // Busier daytime hours need at least as many nurses as the quietest hour.
    let expected = |h: &serde_json::Value| h["expected_cases"].as_f64().unwrap_or(0.0);
    let nurses = |h: &serde_json::Value| h["nurses_needed"].as_u64().unwrap_or(0);
    let busiest = hours
        .iter()
        .max_by(|a, b| expected(a).total_cmp(&expected(b)));
    let quietest = hours
        .iter()
        .min_by(|a, b| expected(a).total_cmp(&expected(b)));
    if let (Some(b), Some(q)) = (busiest, quietest) {
        assert!(expected(b) >= 3.5 && expected(q) < 2.0, "{b} {q}");
        assert!(nurses(b) >= nurses(q), "{b} {q}");
    }
    let days = f["days"].as_array().cloned().unwrap_or_default();
    assert!((7..=8).contains(&days.len()), "{days:?}");
    let day_hours: u64 = days
        .iter()
        .map(|d| d["nurse_hours"].as_u64().unwrap_or(0))
        .sum();
    let all_hours: u64 = hours.iter().map(nurses).sum();
    assert_eq!(day_hours, all_hours);
    assert!(!reply.text.contains("+46"), "counts only");
    api.finish().await;
}

#[tokio::test]
async fn supervisor_forecast_needs_a_supervisor_and_plans_a_week_sqlite() {
    check(Api::sqlite().await).await;
}

#[tokio::test]
async fn supervisor_forecast_needs_a_supervisor_and_plans_a_week_postgres() {
    let api = Api::postgres().await;
    check(api).await;
}
