//! Cases -> Tasks and the search parameters, sans-IO.

use super::*;
use crate::queue::Priority;
use crate::store::{Answer, CaseMode, Channel};
use chrono::TimeZone;

fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 8, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
        + chrono::TimeDelta::minutes(minutes)
}

fn case(level: u8, status: CaseStatus, deadline: i64) -> CaseRecord {
    CaseRecord {
        id: Uuid::new_v4(),
        channel: Channel::Digital,
        priority: Priority::new(level).unwrap_or(Priority::LOWEST),
        status,
        mode: CaseMode::Callback,
        registered_at: t(0),
        deadline: t(deadline),
        estimated_callback_at: None,
        answers: vec![Answer {
            question_id: "fever".into(),
            question_text: "Har du feber?".into(),
            value: "yes".into(),
            value_text: "Ja".into(),
        }],
        callback_number: Some("+46701234567".into()),
        personnummer: Some("191212121212".into()),
        language: "sv".into(),
        call_id: None,
        external_ref: Some("1177-direkt:20261207-001".into()),
        summary: "Feber".into(),
        attempts: 0,
        red_flag: false,
        next_attempt_at: None,
        review_reason: None,
    }
}

#[test]
fn case_becomes_a_task_with_its_answers_and_patient() {
    let c = case(2, CaseStatus::Claimed, 30);
    let claim = ClaimInfo {
        claimed_by: Some("anna".into()),
        ..ClaimInfo::default()
    };
    let json = serde_json::to_value(Resource::Task(Box::new(case_to_task(&c, &claim))))
        .unwrap_or_default();
    assert_eq!(json["resourceType"], "Task");
    assert_eq!(json["id"], c.id.to_string());
    assert_eq!(json["status"], "in-progress");
    assert_eq!(json["priority"], "asap");
    assert_eq!(json["extension"][0]["valueInteger"], 2);
    assert_eq!(json["identifier"][1]["value"], "20261207-001");
    assert_eq!(json["owner"]["display"], "anna");
    assert_eq!(json["restriction"]["period"]["end"], "2026-12-07T08:30:00Z");
    assert_eq!(json["focus"]["reference"], "#answers");
    assert_eq!(
        json["contained"][0]["resourceType"],
        "QuestionnaireResponse"
    );
    assert_eq!(json["contained"][0]["item"][0]["linkId"], "fever");
    assert_eq!(
        json["contained"][0]["item"][0]["answer"][0]["valueString"],
        "Ja"
    );
    assert_eq!(
        json["contained"][1]["identifier"][0]["system"],
        PERSONNUMMER_SYSTEM
    );
    let back: Result<Resource, _> = serde_json::from_value(json);
    assert!(matches!(back, Ok(Resource::Task(_))));
}

#[test]
fn statuses_map_to_task_statuses() {
    assert_eq!(status_of(CaseStatus::Waiting), TaskStatus::Requested);
    assert_eq!(status_of(CaseStatus::Holding), TaskStatus::Requested);
    assert_eq!(status_of(CaseStatus::Review), TaskStatus::Requested);
    assert_eq!(status_of(CaseStatus::Claimed), TaskStatus::InProgress);
    assert_eq!(status_of(CaseStatus::Done), TaskStatus::Completed);
    assert_eq!(status_of(CaseStatus::Cancelled), TaskStatus::Cancelled);
    assert_eq!(status_of(CaseStatus::Unreachable), TaskStatus::Failed);
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn search_parameters_are_checked() {
    let s = parse_search(&params(&[("status", "requested"), ("_sort", "priority")]));
    assert_eq!(
        s.ok(),
        Some(Search {
            requested: true,
            in_progress: false
        })
    );
    let s = parse_search(&params(&[("status", "requested,in-progress")]));
    assert_eq!(
        s.ok(),
        Some(Search {
            requested: true,
            in_progress: true
        })
    );
    assert_eq!(
        parse_search(&[]).ok(),
        Some(Search {
            requested: true,
            in_progress: true
        })
    );
    for bad in [
        ("status", "completed"),
        ("_sort", "-authored-on"),
        ("patient", "x"),
        ("_count", "5"),
    ] {
        let e = parse_search(&params(&[bad])).err();
        assert_eq!(
            e.map(|e| (e.status, e.code)),
            Some((
                StatusCode::BAD_REQUEST,
                fhir_r4::codes::IssueType::NotSupported
            )),
            "{bad:?}"
        );
    }
}

#[test]
fn sorted_as_the_queue_level_one_first_then_deadline() {
    let a = case(3, CaseStatus::Waiting, 120);
    let b = case(1, CaseStatus::Waiting, 180);
    let c = case(2, CaseStatus::Claimed, 30);
    let mut cases = vec![a.clone(), b.clone(), c.clone()];
    sort_by_priority(&mut cases);
    let ids: Vec<Uuid> = cases.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![b.id, c.id, a.id]);
    let bundle = searchset(
        cases
            .iter()
            .map(|c| case_to_task(c, &ClaimInfo::default()))
            .collect(),
    );
    assert_eq!(bundle.total.map(|t| t.0), Some(3));
    assert_eq!(bundle.entry.len(), 3);
}
