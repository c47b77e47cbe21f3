use super::*;
use crate::ivr::Language;
use crate::queue::ClosedReason;
use chrono::TimeZone;
use std::path::Path;

async fn booking(hours: &str) -> (Booking, crate::store::tests::TestDb) {
    let db = crate::store::tests::sqlite_test_db().await;
    let triage = crate::triage::shipped();
    let hours =
        OpeningHours::parse(hours, Path::new("hours.toml")).unwrap_or_else(|e| panic!("{e}"));
    let config = QueueConfig {
        nurses_on_duty: 1,
        default_handling_minutes: 10,
        ..QueueConfig::default()
    };
    let defaults = crate::supervisor::SupervisorSettings {
        callback_capacity: hours.daily_capacity,
        ..Default::default()
    };
    let live = Live::detached_with(db.store.clone(), defaults);
    (
        Booking::new(db.store.clone(), config, hours, &triage, live),
        db,
    )
}

const OFFICE: &str = "daily_callback_capacity = 2\n[weekly]\nmon = [\"08:00-20:00\"]\n\
    tue = [\"08:00-20:00\"]\nwed = [\"08:00-20:00\"]\nthu = [\"08:00-20:00\"]\n\
    fri = [\"08:00-20:00\"]\nsat = []\nsun = []\n";

fn monday(h: u32, m: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Stockholm
        .with_ymd_and_hms(2025, 3, 3, h, m, 0)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn draft(level: u8) -> CaseDraft {
    CaseDraft {
        level,
        mode: CaseMode::Callback,
        answers: Vec::new(),
        callback_number: None,
        language: Language::Sv,
        personnummer: None,
        red_flag: false,
        matched_rules: Vec::new(),
        dropped_in_ivr: false,
        updates: None,
    }
}

#[tokio::test]
async fn open_hours_offer_the_replayed_time_and_evenings_the_next_opening() {
    let (r, db) = booking(OFFICE).await;
    let offer = r.offer_at(4, monday(10, 0)).await.ok();
    assert_eq!(
        offer,
        Some(Offer::Callback {
            at: monday(10, 0),
            next_opening: false
        })
    );
    let offer = r.offer_at(4, monday(21, 0)).await.ok();
    assert_eq!(
        offer,
        Some(Offer::Callback {
            at: monday(8, 0) + ChronoDuration::days(1),
            next_opening: true
        })
    );
    db.finish().await;
}

#[tokio::test]
async fn supervisor_closing_the_offer_holds_levels_three_to_five_only() {
    let (r, db) = booking(OFFICE).await;
    let mut closed = r.supervisor.settings();
    closed.callback_offer_open = false;
    r.supervisor
        .update(closed, "sara", "offer closed", monday(9, 0))
        .await
        .unwrap();
    let offer = r.offer_at(3, monday(10, 0)).await.ok();
    assert_eq!(offer, Some(Offer::Hold(ClosedReason::OfferClosed)));
    let offer = r.offer_at(2, monday(10, 0)).await.ok();
    assert!(matches!(offer, Some(Offer::Callback { .. })), "{offer:?}");
    db.finish().await;
}

#[tokio::test]
async fn registered_cases_push_later_estimates_back_and_fill_the_day() {
    let (r, db) = booking(&OFFICE.replace("= 2", "= 0")).await;
    for _ in 0..3 {
        let done = r.register(&draft(4), "call").await;
        assert!(done.is_ok(), "{done:?}");
    }
    // Registered "now" (real clock); ask for a time a little later than that.
    let now = Utc::now() + ChronoDuration::minutes(1);
    let hours = r.calendar(&r.live());
    let snap = r.snapshot(now).await.unwrap_or_default();
    assert_eq!(snap.open.len(), 3);
    let alone = hours.open_at_or_after(now);
    let est = r.replay_estimate(now, Booking::priority(4), &snap, &r.live(), &hours, None);
    assert!(est > alone, "{est:?} should be after {alone:?}");
    db.finish().await;
}

#[tokio::test]
async fn holding_callers_read_their_place_from_the_snapshot_not_the_store() {
    let (r, db) = booking(OFFICE).await;
    let mut ids = Vec::new();
    for level in [4, 2, 4] {
        let (id, _) = r.register(&draft(level), "call").await.unwrap();
        ids.push(id);
    }
    let now = Utc::now();
    assert_eq!(r.hold_position(&ids[0], now), None, "no snapshot read yet");
    r.refresh_snapshot().await.unwrap();
    let places: Vec<usize> = ids
        .iter()
        .filter_map(|id| r.hold_position(id, now).map(|(place, _)| place))
        .collect();
    assert_eq!(
        places,
        vec![2, 1, 3],
        "level 2 first, then the level 4s in order"
    );
    // A case written after the snapshot is unknown until the next read.
    let (later, _) = r.register(&draft(1), "call").await.unwrap();
    assert_eq!(r.hold_position(&later, now), None);
    r.refresh_snapshot().await.unwrap();
    assert_eq!(r.hold_position(&later, now).map(|(p, _)| p), Some(1));
    assert_eq!(r.hold_position(&ids[1], now).map(|(p, _)| p), Some(2));
    db.finish().await;
}

#[tokio::test]
async fn a_re_triage_updates_the_waiting_case_or_makes_a_new_one_when_it_is_gone() {
    let (r, db) = booking(OFFICE).await;
    let (first, _) = r.register(&draft(4), "call-1").await.unwrap();
    let again = CaseDraft {
        updates: Some(first.clone()),
        ..draft(3)
    };
    let (updated, _) = r.register(&again, "call-2").await.unwrap();
    assert_eq!(updated, first, "the same case, no duplicate");
    let list = db.store.worklist().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].priority.level(), 3);
    assert_eq!(list[0].summary, RETRIAGED_BY_CALL);
    assert_eq!(
        list[0].call_id.as_deref(),
        Some("call-1"),
        "first call kept"
    );
    // A nurse took it meanwhile: the new answers are not lost.
    let id = uuid::Uuid::parse_str(&first).unwrap();
    db.store
        .set_status(id, crate::store::CaseStatus::Claimed, Utc::now())
        .await
        .unwrap();
    let (other, _) = r.register(&again, "call-3").await.unwrap();
    assert_ne!(other, first);
    db.finish().await;
}

#[tokio::test]
async fn a_re_triaged_digital_case_keeps_its_intake_answers_and_description() {
    let (r, db) = booking(OFFICE).await;
    let answer = |q: &str, v: &str| crate::case::Answer {
        question_id: q.into(),
        question_text: q.into(),
        value: v.into(),
        value_text: v.into(),
    };
    let now = Utc::now();
    let digital = NewCase {
        channel: Channel::Digital,
        priority: Priority::new(4).unwrap(),
        mode: StoreMode::Callback,
        registered_at: now,
        deadline: now + ChronoDuration::hours(8),
        estimated_callback_at: Some(now + ChronoDuration::hours(4)),
        answers: vec![answer("intake_q", "a"), answer("worsening", "no")],
        callback_number: Some("+46701234567".into()),
        personnummer: None,
        language: "sv".into(),
        call_id: None,
        external_ref: Some("ext-1".into()),
        summary: "described online".into(),
        red_flag: false,
    };
    let id = db.store.insert_case(&digital).await.unwrap().id;
    let again = CaseDraft {
        updates: Some(id.to_string()),
        answers: vec![answer("worsening", "yes")],
        ..draft(3)
    };
    r.register(&again, "call-2").await.unwrap();
    let case = db.store.get_case(id).await.unwrap().unwrap();
    let values: Vec<(&str, &str)> = case
        .answers
        .iter()
        .map(|a| (a.question_id.as_str(), a.value.as_str()))
        .collect();
    assert_eq!(values, [("intake_q", "a"), ("worsening", "yes")]);
    assert_eq!(
        case.summary,
        format!("described online / {RETRIAGED_BY_CALL}")
    );
    db.finish().await;
}
