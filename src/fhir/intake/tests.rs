//! The Bundle -> intake request mapping, on the fixture adapted from the
//! FHIR specification's examples and on variants of it.

use super::*;
use serde_json::{json, Value};

const FIXTURE: &str = include_str!("../../../tests/fixtures/fhir/transaction-bundle.json");

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).unwrap_or_else(|e| panic!("fixture: {e}"))
}

fn map(v: &Value) -> Result<(IntakeRequest, Vec<EntryKind>), FhirError> {
    bundle_to_request(v.to_string().as_bytes())
}

fn error_of(v: &Value) -> FhirError {
    match map(v) {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    }
}

#[test]
fn spec_example_bundle_maps_onto_the_intake_request() {
    let (r, order) = map(&fixture()).unwrap_or_else(|e| panic!("{}", e.diagnostics));
    assert_eq!(
        order,
        vec![
            EntryKind::Task,
            EntryKind::QuestionnaireResponse,
            EntryKind::Patient
        ]
    );
    assert_eq!(r.external_ref, "20261207-001");
    assert_eq!(r.level, 3);
    assert_eq!(r.personnummer, "191212121212");
    assert_eq!(
        r.callback_number, "070-123 45 67",
        "the mobile number is called back"
    );
    assert_eq!(r.language.as_deref(), Some("sv"));
    assert!(r.summary.starts_with("Feber"));
    let answers: Vec<(&str, &str, &str)> = r
        .answers
        .iter()
        .map(|a| {
            (
                a.question_id.as_str(),
                a.question_text.as_str(),
                a.answer.as_str(),
            )
        })
        .collect();
    assert_eq!(
        answers,
        vec![
            ("1.1", "Har du någon allergi?", "Allergisk mot husdamm"),
            ("2.1", "Vilket är ditt födelsedatum?", "1912-12-12"),
            ("2.2", "Har du feber?", "Ja"),
            ("2.3", "Hur länge har du haft besvären?", "1-3 dagar"),
            ("2.4", "Kroppstemperatur", "38.5 Cel"),
            ("3.1", "Röker du?", "Nej"),
        ]
    );
    let valid = crate::api::intake::validate(r);
    assert!(valid.is_ok(), "the intake's own validation accepts it");
}

#[test]
fn priority_maps_to_levels_and_the_extension_wins() {
    for (priority, level) in [("stat", 1), ("asap", 2), ("urgent", 3), ("routine", 4)] {
        let mut v = fixture();
        v["entry"][0]["resource"]["priority"] = json!(priority);
        v["entry"][0]["resource"]["extension"] = json!([]);
        assert_eq!(
            map(&v).map(|(r, _)| r.level).ok(),
            Some(level),
            "{priority}"
        );
    }
    let mut v = fixture();
    v["entry"][0]["resource"]["extension"][0]["valueInteger"] = json!(5);
    assert_eq!(map(&v).map(|(r, _)| r.level).ok(), Some(5));
    for level in 1..=5u8 {
        let back = match priority_for(level) {
            RequestPriority::Stat => 1,
            RequestPriority::Asap => 2,
            RequestPriority::Urgent => 3,
            RequestPriority::Routine => 4,
        };
        assert_eq!(back, level.min(4));
    }
    let mut v = fixture();
    v["entry"][0]["resource"]["extension"] = json!([]);
    v["entry"][0]["resource"]
        .as_object_mut()
        .map(|t| t.remove("priority"));
    assert!(error_of(&v).diagnostics.contains("Task.priority"));
}

#[test]
fn bad_bundles_are_refused_with_a_named_reason() {
    let mut v = fixture();
    v["resourceType"] = json!("Patient");
    let e = error_of(&v);
    assert_eq!(e.code, fhir_r4::codes::IssueType::Structure);
    assert!(e.diagnostics.contains("Bundle"), "{}", e.diagnostics);

    let mut v = fixture();
    v["type"] = json!("batch");
    assert!(error_of(&v).diagnostics.contains("transaction"));

    let mut v = fixture();
    v["entry"][0]["resource"]
        .as_object_mut()
        .map(|t| t.remove("identifier"));
    assert!(error_of(&v).diagnostics.contains("Task.identifier"));

    let mut v = fixture();
    if let Some(entries) = v["entry"].as_array_mut() {
        entries.truncate(2);
    }
    assert!(error_of(&v).diagnostics.contains("Patient"));

    let mut v = fixture();
    v["entry"][2]["resource"]["telecom"] = json!([]);
    assert!(error_of(&v).diagnostics.contains("Patient.telecom"));

    let mut v = fixture();
    v["entry"][1]["resource"]["resourceType"] = json!("Observation");
    let e = error_of(&v);
    assert!(e.diagnostics.contains("Observation"), "{}", e.diagnostics);

    assert_eq!(
        bundle_to_request(b"not json").err().map(|e| e.code),
        Some(fhir_r4::codes::IssueType::Structure)
    );
}

#[test]
fn diagnostics_never_echo_personal_data() {
    // A personnummer where a number belongs: the type is named, not the value.
    let mut v = fixture();
    v["entry"][2]["resource"]["identifier"][0]["value"] = json!(191212121212u64);
    let e = error_of(&v);
    assert!(!e.diagnostics.contains("191212"), "{}", e.diagnostics);
    // A bad personnummer passes the mapping; the intake's validation names it.
    let mut v = fixture();
    v["entry"][2]["resource"]["identifier"][0]["value"] = json!("191212121213");
    let (r, _) = map(&v).unwrap_or_else(|e| panic!("{}", e.diagnostics));
    let message = crate::api::intake::validate(r)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        message.contains("personnummer") && !message.contains("1213"),
        "{message}"
    );
}

#[test]
fn transaction_response_points_every_entry_at_the_task() {
    let id = Uuid::nil();
    let bundle = transaction_response(id, true, &[EntryKind::Task, EntryKind::Patient]);
    let json = serde_json::to_value(Resource::Bundle(Box::new(bundle))).unwrap_or_default();
    assert_eq!(json["type"], "transaction-response");
    assert_eq!(json["entry"][0]["response"]["status"], "201 Created");
    assert_eq!(
        json["entry"][1]["response"]["location"],
        format!("Task/{id}")
    );
    let again = transaction_response(id, false, &[EntryKind::Task]);
    assert_eq!(
        again.entry[0]
            .response
            .as_ref()
            .map(|r| r.status.0.as_str()),
        Some("200 OK")
    );
}
