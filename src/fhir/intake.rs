//! `POST /fhir`: a transaction `Bundle` from 1177 direkt, mapped onto the
//! digital intake's request and registered exactly like `POST /api/v1/cases`
//! (same validation, same store path, same idempotency: `Task.identifier`
//! is the `external_ref`).
//!
//! Mapping (sans-IO, [`bundle_to_request`]):
//! - `Task.identifier[].value` (the first with a value): the 1177 direkt id;
//! - level: the `Task` extension [`super::URGENCY_LEVEL_URL`] (`valueInteger`
//!   1-5) when present, else `Task.priority`: `stat` 1, `asap` 2, `urgent` 3,
//!   `routine` 4 (level 5 only through the extension);
//! - `QuestionnaireResponse.item` (nested items flattened): `linkId` ->
//!   question id, `text` (else `linkId`) -> question text, the answers in words
//!   (`valueString`, `valueCoding` display or code, `valueBoolean` Ja/Nej or
//!   Yes/No, numbers, dates, quantities; several joined with ", ");
//! - `Patient.identifier` of system [`super::PERSONNUMMER_SYSTEM`]:
//!   personnummer; `Patient.telecom` of system `phone` (mobile first, then by
//!   `rank`): the callback number;
//! - `Task.description`: the summary; `QuestionnaireResponse.language` (else
//!   the Task's) `en...` -> English, anything else Swedish.

use super::outcome::FhirError;
use super::{fhir_json, PERSONNUMMER_SYSTEM, URGENCY_LEVEL_URL};
use crate::api::auth::{BearerRejection, IntakeClient};
use crate::api::intake::{self, IntakeAnswer, IntakeRequest, MAX_BODY_BYTES};
use crate::api::ApiState;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fhir_r4::coded::Coded;
use fhir_r4::codes::{BundleType, ContactPointSystem, ContactPointUse, RequestPriority};
use fhir_r4::resources::bundle::{BundleEntry, BundleEntryResponse};
use fhir_r4::resources::questionnaire_response::{
    QuestionnaireResponseItem, QuestionnaireResponseItemAnswerValue as AnswerValue,
};
use fhir_r4::resources::{Bundle, Patient, QuestionnaireResponse, Resource, Task};
use fhir_r4::types::extension::ExtensionValue;
use uuid::Uuid;

/// Most answers taken from one QuestionnaireResponse (as the JSON API).
const MAX_ITEMS: usize = 100;

/// The level a `Task` asks for (1-5; the intake rejects anything else).
pub fn level_of(task: &Task) -> Result<i64, FhirError> {
    let from_extension = task
        .extension
        .iter()
        .find(|e| e.url.0 == URGENCY_LEVEL_URL)
        .map(|e| match &e.value {
            Some(ExtensionValue::Integer(n)) => Ok(i64::from(n.value.0)),
            _ => Err(FhirError::invalid(format!(
                "Task.extension {URGENCY_LEVEL_URL} needs valueInteger 1-5"
            ))),
        })
        .transpose()?;
    if let Some(level) = from_extension {
        return Ok(level);
    }
    match task.priority.as_ref().and_then(Coded::known) {
        Some(RequestPriority::Stat) => Ok(1),
        Some(RequestPriority::Asap) => Ok(2),
        Some(RequestPriority::Urgent) => Ok(3),
        Some(RequestPriority::Routine) => Ok(4),
        None => Err(FhirError::invalid(format!(
            "Task.priority (routine, urgent, asap or stat) or the extension {URGENCY_LEVEL_URL} (valueInteger 1-5) is required"
        ))),
    }
}

/// The `Task.priority` shown for a level (the exact level goes in the extension).
pub fn priority_for(level: u8) -> RequestPriority {
    match level {
        1 => RequestPriority::Stat,
        2 => RequestPriority::Asap,
        3 => RequestPriority::Urgent,
        _ => RequestPriority::Routine,
    }
}

/// A serde error without the value that caused it.
fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if text.starts_with("missing field") {
        let head = text.split(" at line").next().unwrap_or(&text);
        return format!("does not match FHIR R4: {head}");
    }
    "does not match FHIR R4: a value has the wrong type or is not an allowed code".to_string()
}

/// A resource type name from the client, safe to echo.
fn type_name(v: &serde_json::Value) -> String {
    v.get("resourceType")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("(none)")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect()
}

/// The resources a transaction carries, in entry order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Task,
    QuestionnaireResponse,
    Patient,
}

/// Reads a transaction Bundle into the intake's request (not yet validated:
/// [`intake::validate`] does that for both front ends) and the entry order.
pub fn bundle_to_request(body: &[u8]) -> Result<(IntakeRequest, Vec<EntryKind>), FhirError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| FhirError::structure(intake::describe_json_error(&e)))?;
    if !value.is_object() {
        return Err(FhirError::structure(
            "body is not a FHIR resource (a JSON object)",
        ));
    }
    let kind = type_name(&value);
    if kind != "Bundle" {
        return Err(FhirError::structure(format!(
            "expected resourceType \"Bundle\" (a transaction), got \"{kind}\""
        )));
    }
    let bundle: Bundle = match serde_json::from_value::<Resource>(value) {
        Ok(Resource::Bundle(b)) => *b,
        Ok(_) => return Err(FhirError::structure("expected a Bundle")),
        Err(e) => return Err(FhirError::structure(format!("Bundle {}", describe(&e)))),
    };
    if bundle.r#type.known() != Some(&BundleType::Transaction) {
        return Err(FhirError::invalid(
            "Bundle.type must be \"transaction\" (POST it to the base URL, /fhir)",
        ));
    }
    let mut task = None;
    let mut answers = None;
    let mut patient = None;
    let mut order = Vec::with_capacity(bundle.entry.len());
    for (i, entry) in bundle.entry.into_iter().enumerate() {
        let Some(value) = entry.resource else {
            return Err(FhirError::invalid(format!(
                "Bundle.entry[{i}] has no resource"
            )));
        };
        let kind = type_name(&value);
        let resource: Resource = serde_json::from_value(value).map_err(|e| {
            FhirError::structure(format!("Bundle.entry[{i}] ({kind}) {}", describe(&e)))
        })?;
        let twice = || FhirError::invalid(format!("Bundle.entry[{i}]: a second {kind}"));
        match resource {
            Resource::Task(t) if task.is_none() => {
                task = Some(*t);
                order.push(EntryKind::Task);
            }
            Resource::QuestionnaireResponse(q) if answers.is_none() => {
                answers = Some(*q);
                order.push(EntryKind::QuestionnaireResponse);
            }
            Resource::Patient(p) if patient.is_none() => {
                patient = Some(*p);
                order.push(EntryKind::Patient);
            }
            Resource::Task(_) | Resource::QuestionnaireResponse(_) | Resource::Patient(_) => {
                return Err(twice())
            }
            _ => {
                return Err(FhirError::invalid(format!(
                    "Bundle.entry[{i}]: {kind} is not accepted: a transaction holds one Task, one QuestionnaireResponse and one Patient"
                )))
            }
        }
    }
    let missing = |what: &str| FhirError::invalid(format!("the transaction has no {what}"));
    let task = task.ok_or_else(|| missing("Task"))?;
    let answers = answers.ok_or_else(|| missing("QuestionnaireResponse"))?;
    let patient = patient.ok_or_else(|| missing("Patient"))?;
    Ok((map_resources(&task, &answers, &patient)?, order))
}

/// Maps the three resources onto the intake's request.
pub fn map_resources(
    task: &Task,
    qr: &QuestionnaireResponse,
    patient: &Patient,
) -> Result<IntakeRequest, FhirError> {
    let external_ref = task
        .identifier
        .iter()
        .filter_map(|i| i.value.as_ref())
        .map(|v| v.0.trim().to_string())
        .find(|v| !v.is_empty())
        .ok_or_else(|| {
            FhirError::invalid(
                "Task.identifier is missing: the 1177 direkt id (identifier.value) is required",
            )
        })?;
    let level = level_of(task)?;
    let language = qr
        .language
        .as_ref()
        .or(task.language.as_ref())
        .map(|l| if l.0.starts_with("en") { "en" } else { "sv" })
        .unwrap_or("sv")
        .to_string();
    let mut answers = Vec::new();
    flatten(&qr.item, &language, &mut answers)?;
    let personnummer = patient
        .identifier
        .iter()
        .find(|i| i.system.as_ref().is_some_and(|s| s.0 == PERSONNUMMER_SYSTEM))
        .and_then(|i| i.value.as_ref())
        .map(|v| v.0.clone())
        .ok_or_else(|| {
            FhirError::invalid(format!(
                "Patient.identifier with system {PERSONNUMMER_SYSTEM} (the personnummer) is required"
            ))
        })?;
    let callback_number = patient
        .telecom
        .iter()
        .filter(|t| t.system.as_ref().and_then(Coded::known) == Some(&ContactPointSystem::Phone))
        .filter(|t| t.value.is_some())
        .min_by_key(|t| {
            let mobile = t.r#use.as_ref().and_then(Coded::known) == Some(&ContactPointUse::Mobile);
            (!mobile, t.rank.as_ref().map_or(u32::MAX, |r| r.0))
        })
        .and_then(|t| t.value.as_ref())
        .map(|v| v.0.clone())
        .ok_or_else(|| {
            FhirError::invalid(
                "Patient.telecom with system \"phone\" (the callback number) is required",
            )
        })?;
    Ok(IntakeRequest {
        external_ref,
        level,
        answers,
        callback_number,
        personnummer,
        summary: task
            .description
            .as_ref()
            .map(|d| d.0.clone())
            .unwrap_or_default(),
        language: Some(language),
        // No consent element is mapped yet: FHIR cases get no SMS.
        sms_consent: None,
        // Task.owner is not mapped yet: FHIR cases land in the default unit.
        unit: None,
    })
}

/// Items with answers, depth first (groups contribute their children only).
fn flatten(
    items: &[QuestionnaireResponseItem],
    language: &str,
    out: &mut Vec<IntakeAnswer>,
) -> Result<(), FhirError> {
    for item in items {
        let mut words = Vec::with_capacity(item.answer.len());
        for answer in &item.answer {
            if let Some(value) = &answer.value {
                words.push(answer_text(value, language).ok_or_else(|| {
                    FhirError::invalid(format!(
                        "QuestionnaireResponse item {:?}: answer type not supported (use valueString, valueCoding, valueBoolean, a number, a date or valueQuantity)",
                        item.link_id.0.chars().take(64).collect::<String>()
                    ))
                })?);
            }
        }
        if !words.is_empty() {
            if out.len() >= MAX_ITEMS {
                return Err(FhirError::invalid(format!(
                    "at most {MAX_ITEMS} answered items are accepted"
                )));
            }
            let text = item.text.as_ref().map_or(&item.link_id.0, |t| &t.0);
            out.push(IntakeAnswer {
                question_id: item.link_id.0.clone(),
                question_text: text.clone(),
                answer: words.join(", "),
            });
        }
        for answer in &item.answer {
            flatten(&answer.item, language, out)?;
        }
        flatten(&item.item, language, out)?;
    }
    Ok(())
}

/// An answer in words; `None` for types a nurse cannot read as text.
fn answer_text(value: &AnswerValue, language: &str) -> Option<String> {
    let yes_no = |b: bool| match (b, language) {
        (true, "en") => "Yes",
        (false, "en") => "No",
        (true, _) => "Ja",
        (false, _) => "Nej",
    };
    Some(match value {
        AnswerValue::Boolean(b) => yes_no(b.value.0).to_string(),
        AnswerValue::String(s) => s.value.0.clone(),
        AnswerValue::Coding(c) => c
            .display
            .as_ref()
            .map(|d| d.0.clone())
            .or_else(|| c.code.as_ref().map(|c| c.0.clone()))?,
        AnswerValue::Integer(n) => n.value.0.to_string(),
        AnswerValue::Decimal(d) => json_text(&d.value),
        AnswerValue::Date(d) => d.value.0.clone(),
        AnswerValue::DateTime(d) => d.value.0.clone(),
        AnswerValue::Time(t) => t.value.0.clone(),
        AnswerValue::Uri(u) => u.value.0.clone(),
        AnswerValue::Quantity(q) => {
            let amount = q.value.as_ref().map(json_text).unwrap_or_default();
            let unit = q.unit.as_ref().map(|u| u.0.clone()).unwrap_or_default();
            format!("{amount} {unit}").trim().to_string()
        }
        AnswerValue::Attachment(_) | AnswerValue::Reference(_) => return None,
    })
}

/// A serialisable value as its JSON text (numbers keep their digits).
fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .map(|v| match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
        .unwrap_or_default()
}

/// The transaction-response: one entry per posted entry, each pointing at
/// the Task that the case is (the answers and the patient are part of it).
pub fn transaction_response(id: Uuid, created: bool, order: &[EntryKind]) -> Bundle {
    let status = if created { "201 Created" } else { "200 OK" };
    let entry = order
        .iter()
        .map(|_| BundleEntry {
            response: Some(BundleEntryResponse {
                status: fhir_r4::types::String(status.to_string()),
                location: Some(fhir_r4::types::Uri(format!("Task/{id}"))),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    Bundle {
        r#type: Coded::Known(BundleType::TransactionResponse),
        entry,
        ..Default::default()
    }
}

/// `POST /fhir`: registers the transaction's case. `200`
/// with a transaction-response Bundle whether new (entries `201 Created`) or
/// an identical re-post (`200 OK`); `409` for different content under the same
/// `Task.identifier`; `400` for a bad Bundle; all errors `OperationOutcome`.
pub async fn post_bundle(
    State(state): State<ApiState>,
    client: Result<IntakeClient, BearerRejection>,
    body: Body,
) -> Response {
    match handle_post(&state, client, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle_post(
    state: &ApiState,
    client: Result<IntakeClient, BearerRejection>,
    body: Body,
) -> Result<Response, FhirError> {
    let client = client.map_err(|r| FhirError::from(r.0))?;
    let bytes = crate::api::error::read_body(body, MAX_BODY_BYTES).await?;
    let (request, order) = bundle_to_request(&bytes)?;
    let valid = intake::validate(request)?;
    let registered = intake::register(state, &client, &valid).await?;
    let bundle = transaction_response(registered.response.id, registered.created, &order);
    Ok(fhir_json(
        StatusCode::OK,
        &Resource::Bundle(Box::new(bundle)),
    ))
}

#[cfg(test)]
mod tests;
