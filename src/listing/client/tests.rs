//! Reading the register's answers, sans-IO.

use super::*;
use serde_json::json;

const BASE: &str = "http://127.0.0.1:8090/fhir";

fn search(patient: serde_json::Value) -> Vec<u8> {
    json!({"resourceType": "Bundle", "type": "searchset", "total": 1,
           "entry": [{"resource": patient, "search": {"mode": "match"}}]})
    .to_string()
    .into_bytes()
}

#[test]
fn organization_reference_with_hsa_id_and_display_is_found() {
    let body = search(json!({"resourceType": "Patient",
        "generalPractitioner": [
            {"reference": "Practitioner/7", "display": "Dr Berg"},
            {"type": "Organization", "display": "Vårdcentralen Markaryd",
             "identifier": {"system": HSA_ID_SYSTEM, "value": "SE2321000065-VCM"}}]}));
    assert_eq!(
        read_search(&body, BASE),
        Ok(Step::Found {
            hsa_id: Some("SE2321000065-VCM".into()),
            name: Some("Vårdcentralen Markaryd".into())
        })
    );
}

#[test]
fn a_bare_reference_is_followed_below_the_base_only() {
    let body = search(json!({"resourceType": "Patient",
        "generalPractitioner": [{"reference": "Organization/vc-1"}]}));
    assert_eq!(
        read_search(&body, BASE),
        Ok(Step::Follow {
            path: "Organization/vc-1".into(),
            name: None
        })
    );
    let body = search(json!({"resourceType": "Patient",
        "generalPractitioner": [{"reference": format!("{BASE}/Organization/vc-2"), "display": "VC"}]}));
    assert_eq!(
        read_search(&body, BASE),
        Ok(Step::Follow {
            path: "Organization/vc-2".into(),
            name: Some("VC".into())
        })
    );
    let body = search(json!({"resourceType": "Patient",
        "generalPractitioner": [{"reference": "http://elsewhere/fhir/Organization/x"}]}));
    assert!(
        read_search(&body, BASE).is_err(),
        "not followed with our token"
    );
    let org = json!({"resourceType": "Organization", "name": "Vårdcentralen Strömsnäsbruk",
        "identifier": [{"system": HSA_ID_SYSTEM, "value": "SE2321000065-VCS"}]})
    .to_string();
    assert_eq!(
        read_organization(org.as_bytes(), None),
        Ok(Step::Found {
            hsa_id: Some("SE2321000065-VCS".into()),
            name: Some("Vårdcentralen Strömsnäsbruk".into())
        })
    );
}

#[test]
fn no_patient_or_no_listing_is_none_and_garbage_is_an_error() {
    let empty = json!({"resourceType": "Bundle", "type": "searchset", "total": 0}).to_string();
    assert_eq!(read_search(empty.as_bytes(), BASE), Ok(Step::None));
    let body = search(json!({"resourceType": "Patient"}));
    assert_eq!(read_search(&body, BASE), Ok(Step::None));
    assert!(read_search(b"<html>", BASE).is_err());
    let outcome = json!({"resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "exception"}]})
    .to_string();
    assert!(read_search(outcome.as_bytes(), BASE).is_err());
    assert!(read_organization(empty.as_bytes(), None).is_err());
}
