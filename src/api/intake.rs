//! `POST /api/v1/cases`: the digital intake (1177 direkt). One client system per
//! bearer token; idempotent on `external_ref` per client, so a retried post never
//! makes a second case. Digital cases join the phone cases in the one queue.
//!
//! Input is validated with `crate::identity`; error messages name the field and
//! the rule, never echo a personnummer or number.

use super::auth::IntakeClient;
use super::error::read_body;
use super::{ApiError, ApiState};
use crate::identity::{Personnummer, PhoneNumber};
use crate::queue::{deadline_for, LevelTargets, Priority, QueueConfig};
use crate::store::sms::SMS_CONSENT;
use crate::store::{Answer, AuditRecord, CaseMode, CaseRecord, Channel, NewCase, StoreError};
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Largest accepted body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
const MAX_ANSWERS: usize = 100;
const MAX_FIELD_CHARS: usize = 500;
const MAX_SUMMARY_CHARS: usize = 4000;
const MAX_REF_CHARS: usize = 128;

/// Targets and staffing used for a digital case's deadline and first estimate.
#[derive(Clone, Debug, Default)]
pub struct IntakeQueue {
    pub targets: LevelTargets,
    pub queue: QueueConfig,
}

/// One answered question from the digital form.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntakeAnswer {
    /// Stable question id, e.g. `breathing`.
    pub question_id: String,
    /// The question as the resident read it.
    pub question_text: String,
    /// The answer in words, e.g. `Ja`.
    pub answer: String,
}

/// `POST /api/v1/cases` body. Not `Debug`: it carries personal data.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntakeRequest {
    /// The client's id for this case (1-128 printable characters); re-posting the
    /// same id with the same content answers the same case.
    pub external_ref: String,
    /// Urgency level 1 (most urgent) to 5.
    pub level: i64,
    pub answers: Vec<IntakeAnswer>,
    /// Swedish number, national (`070-123 45 67`) or E.164 (`+46701234567`).
    pub callback_number: String,
    /// 12 digits, e.g. `19121212-1212`.
    pub personnummer: String,
    /// Free text for the nurse.
    #[serde(default)]
    pub summary: String,
    /// `sv` (default) or `en`.
    #[serde(default)]
    pub language: Option<String>,
    /// The resident agreed to SMS about this case (a confirmation of the
    /// callback time, "we tried to call you"); kept as the answer `sms_consent`.
    #[serde(default)]
    pub sms_consent: Option<bool>,
    /// A care unit id (`GET /api/v1/units`) whose worklist the case goes to;
    /// default the nurse line. The unit must take the case's level.
    #[serde(default)]
    pub unit: Option<String>,
}

/// Answer to a post.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq, ToSchema)]
pub struct IntakeResponse {
    pub id: Uuid,
    /// 1-based place in the queue; `null` once a nurse has taken the case.
    pub queue_position: Option<usize>,
    pub estimated_callback_at: Option<DateTime<Utc>>,
}

/// A request checked and normalised into what the store keeps. Both front ends
/// (this JSON API and `POST /fhir`) end here and register through [`register`].
pub struct Valid {
    external_ref: String,
    priority: Priority,
    answers: Vec<Answer>,
    callback_number: String,
    personnummer: String,
    summary: String,
    language: String,
    /// Checked against `units.toml` by `post_case` (the fuzz target has no config).
    unit: Option<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

/// A serde error as a message without the offending value (it could be personal).
pub(crate) fn describe_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let where_ = format!("line {} column {}", e.line(), e.column());
    if text.starts_with("missing field") || text.starts_with("unknown field") {
        // Field names only; cut serde's own position and list of expected fields.
        let head = text.split(", expected").next().unwrap_or(&text);
        let head = head.split(" at line").next().unwrap_or(head);
        return format!("{head} ({where_})");
    }
    if e.is_syntax() || e.is_eof() {
        return format!("body is not valid JSON ({where_})");
    }
    match text.split_once("expected ") {
        Some((_, expected)) => {
            let expected = expected.split(" at line").next().unwrap_or(expected);
            format!("invalid value at {where_}: expected {expected}")
        }
        None => format!("invalid request at {where_}"),
    }
}

fn check_text(field: &str, value: &str, max: usize, required: bool) -> Result<(), ApiError> {
    if required && value.trim().is_empty() {
        return Err(bad(format!("{field} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(bad(format!("{field} is longer than {max} characters")));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(bad(format!("{field} contains control characters")));
    }
    Ok(())
}

/// Reads and checks a request body: what `post_case` does before touching the
/// store. Public so the fuzz target (`fuzz/fuzz_targets/intake.rs`) reaches it.
pub fn parse_request(body: &[u8]) -> Result<Valid, ApiError> {
    let request: IntakeRequest =
        serde_json::from_slice(body).map_err(|e| bad(describe_json_error(&e)))?;
    validate(request)
}

/// Checks and normalises a request, whichever front end built it.
pub fn validate(request: IntakeRequest) -> Result<Valid, ApiError> {
    let external_ref = request.external_ref.trim().to_string();
    check_text("external_ref", &external_ref, MAX_REF_CHARS, true)?;
    if external_ref.chars().any(char::is_whitespace) {
        return Err(bad("external_ref must not contain spaces"));
    }
    let priority = Priority::try_from(request.level).map_err(|_| {
        bad("unknown level: expected 1 (assess immediately) to 5 (can wait)".to_string())
    })?;
    if request.answers.len() > MAX_ANSWERS {
        return Err(bad(format!("at most {MAX_ANSWERS} answers are accepted")));
    }
    let mut answers = Vec::with_capacity(request.answers.len());
    for (i, a) in request.answers.into_iter().enumerate() {
        check_text(
            &format!("answers[{i}].question_id"),
            &a.question_id,
            100,
            true,
        )?;
        check_text(
            &format!("answers[{i}].question_text"),
            &a.question_text,
            MAX_FIELD_CHARS,
            true,
        )?;
        check_text(
            &format!("answers[{i}].answer"),
            &a.answer,
            MAX_FIELD_CHARS,
            true,
        )?;
        if a.question_id == SMS_CONSENT {
            return Err(bad(format!(
                "answers[{i}].question_id {SMS_CONSENT} is reserved: send the sms_consent field instead"
            )));
        }
        answers.push(Answer {
            question_id: a.question_id,
            question_text: a.question_text,
            value: a.answer.clone(),
            value_text: a.answer,
        });
    }
    let callback_number = PhoneNumber::parse(&request.callback_number)
        .map_err(|e| {
            // The kind only: the number itself is not echoed.
            bad(format!(
                "invalid callback_number ({:?}): expected a Swedish number like 0701234567 or +46701234567",
                e.kind()
            ))
        })?;
    let personnummer = Personnummer::parse_on(&request.personnummer, Utc::now().date_naive())
        .map_err(|e| bad(format!("invalid personnummer: {e}")))?;
    check_text("summary", &request.summary, MAX_SUMMARY_CHARS, false)?;
    let language = request.language.unwrap_or_else(|| "sv".to_string());
    if !matches!(language.as_str(), "sv" | "en") {
        return Err(bad("unknown language: expected \"sv\" or \"en\""));
    }
    if let Some(consent) = request.sms_consent {
        answers.push(consent_answer(consent, &language));
    }
    Ok(Valid {
        external_ref,
        priority,
        answers,
        callback_number: callback_number.e164().to_string(),
        personnummer: personnummer.as_str().to_string(),
        summary: request.summary,
        language,
        unit: request.unit,
    })
}

/// The SMS consent as an answer, as the IVR keeps it.
fn consent_answer(consent: bool, language: &str) -> Answer {
    let (question, yes, no) = if language == "en" {
        (
            "May we send you text messages about your case?",
            "Yes",
            "No",
        )
    } else {
        ("Får vi skicka sms om ditt ärende?", "Ja", "Nej")
    };
    Answer {
        question_id: SMS_CONSENT.to_string(),
        question_text: question.to_string(),
        value: if consent { "yes" } else { "no" }.to_string(),
        value_text: if consent { yes } else { no }.to_string(),
    }
}

/// Whether a stored case is what this request would have created.
fn same_content(stored: &CaseRecord, v: &Valid) -> bool {
    stored.priority == v.priority
        && stored.answers == v.answers
        && stored.callback_number.as_deref() == Some(v.callback_number.as_str())
        && stored.personnummer.as_deref() == Some(v.personnummer.as_str())
        && stored.summary == v.summary
        && stored.language == v.language
}

/// Registers a digital case; `201` new, `200` an identical re-post, `409` a
/// different case under the same `external_ref`.
#[utoipa::path(post, path = "/api/v1/cases", tag = "intake", request_body = IntakeRequest,
    security(("bearer" = [])),
    responses((status = 201, body = IntakeResponse, description = "case registered"),
              (status = 200, body = IntakeResponse, description = "same external_ref and content already registered"),
              (status = 400, description = "bad input (also an unknown `unit`, or one that does not take the level): the message names the field"),
              (status = 401, description = "missing or unknown bearer token"),
              (status = 409, description = "external_ref already used for different content"),
              (status = 429, description = "refused by a queue cap (per number per day, or waiting callbacks in total): the message says which"),
              (status = 413, description = "body larger than 64 KiB")))]
pub async fn post_case(
    State(state): State<ApiState>,
    client: IntakeClient,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body, MAX_BODY_BYTES).await?;
    let valid = parse_request(&bytes)?;
    let registered = register(&state, &client, &valid).await?;
    let status = if registered.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(registered.response)).into_response())
}

/// What [`register`] did.
pub struct Registered {
    /// A new case (`false`: the same content was posted before).
    pub created: bool,
    pub response: IntakeResponse,
}

/// Registers a checked request as a digital case of `client`: a new case, the
/// same case for an identical re-post, `Conflict` for a different one under
/// the same reference. Audited as `intake.post`, `intake.repost` or `intake.conflict`.
pub async fn register(
    state: &ApiState,
    client: &IntakeClient,
    valid: &Valid,
) -> Result<Registered, ApiError> {
    let unit = match valid.unit.as_deref() {
        None => None,
        Some(id) => {
            let unit = state.units.require("unit", id).map_err(bad)?;
            if !unit.takes(valid.priority) {
                let levels: Vec<String> = unit.levels().iter().map(u8::to_string).collect();
                return Err(bad(format!(
                    "unit: {} takes levels {} only, not level {}",
                    unit.id,
                    levels.join(", "),
                    valid.priority
                )));
            }
            Some(unit.id.clone())
        }
    };
    // References are per client system, so one client cannot see another's.
    let stored_ref = format!("{}:{}", client.name, valid.external_ref);
    let ip = client.ip.map(|i| i.to_string());
    let now = Utc::now();

    if let Some(existing) = state.store.get_case_by_external_ref(&stored_ref).await? {
        return repost(state, client, existing, valid, ip).await;
    }
    let deadline = deadline_for(now, valid.priority, &state.intake_queue.targets);
    let ahead = state
        .store
        .count_waiting_ahead(valid.priority, deadline)
        .await?;
    // The same replayed estimate as phone callers get; handler tests without
    // the phone side fall back to the position-based first estimate.
    let estimated = match &state.booking {
        Some(booking) => booking.callback_estimate(valid.priority, now).await?,
        None => state.intake_queue.queue.estimate_callback_at(now, ahead),
    };
    let case = NewCase {
        channel: Channel::Digital,
        priority: valid.priority,
        mode: CaseMode::Callback,
        registered_at: now,
        deadline,
        estimated_callback_at: Some(estimated),
        answers: valid.answers.clone(),
        callback_number: Some(valid.callback_number.clone()),
        personnummer: Some(valid.personnummer.clone()),
        language: valid.language.clone(),
        call_id: None,
        external_ref: Some(stored_ref.clone()),
        summary: valid.summary.clone(),
        red_flag: false,
    };
    let stored_unit = unit.as_deref().and_then(|u| state.units.stored(u));
    let record = match state.store.insert_case_in_unit(&case, stored_unit).await {
        Ok(r) => r,
        // Two posts raced; the other one won.
        Err(StoreError::DuplicateExternalRef) => {
            let existing = state
                .store
                .get_case_by_external_ref(&stored_ref)
                .await?
                .ok_or_else(|| {
                    ApiError::Conflict("external_ref is being registered; retry".into())
                })?;
            return repost(state, client, existing, valid, ip).await;
        }
        Err(e) => return Err(e.into()),
    };
    state
        .store
        .audit(&AuditRecord::new(
            now,
            &client.actor(),
            "intake.post",
            Some(record.id),
            match &unit {
                Some(unit) => format!("level={} unit={unit}", record.priority),
                None => format!("level={}", record.priority),
            },
            ip,
        ))
        .await?;
    Ok(Registered {
        created: true,
        response: IntakeResponse {
            id: record.id,
            queue_position: Some(ahead.saturating_add(1)),
            estimated_callback_at: record.estimated_callback_at,
        },
    })
}

async fn repost(
    state: &ApiState,
    client: &IntakeClient,
    existing: CaseRecord,
    valid: &Valid,
    ip: Option<String>,
) -> Result<Registered, ApiError> {
    let same = same_content(&existing, valid);
    let action = if same {
        "intake.repost"
    } else {
        "intake.conflict"
    };
    state
        .store
        .audit(&AuditRecord::new(
            Utc::now(),
            &client.actor(),
            action,
            Some(existing.id),
            "",
            ip,
        ))
        .await?;
    if !same {
        return Err(ApiError::Conflict(
            "external_ref is already registered with different content".into(),
        ));
    }
    let queue_position = if existing.status.is_open() {
        let ahead = state
            .store
            .count_waiting_ahead(existing.priority, existing.deadline)
            .await?;
        Some(ahead.max(1))
    } else {
        None
    };
    Ok(Registered {
        created: false,
        response: IntakeResponse {
            id: existing.id,
            queue_position,
            estimated_callback_at: existing.estimated_callback_at,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> IntakeRequest {
        IntakeRequest {
            external_ref: "d-1".into(),
            level: 3,
            answers: vec![IntakeAnswer {
                question_id: "fever".into(),
                question_text: "Har du feber?".into(),
                answer: "Ja".into(),
            }],
            callback_number: "070-123 45 67".into(),
            personnummer: "19121212-1212".into(),
            summary: String::new(),
            language: None,
            sms_consent: None,
            unit: None,
        }
    }

    #[test]
    fn valid_request_is_normalised() {
        let v = validate(request());
        let v = match v {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(v.callback_number, "+46701234567");
        assert_eq!(v.personnummer, "191212121212");
        assert_eq!(v.language, "sv");
        assert_eq!(v.priority.level(), 3);
    }

    #[test]
    fn bad_fields_are_named_without_their_values() {
        let mut r = request();
        r.level = 7;
        assert!(validate(r)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("unknown level"));
        let mut r = request();
        r.personnummer = "19121212-1213".into();
        let m = validate(r).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(m.contains("personnummer") && !m.contains("1213"), "{m}");
        let mut r = request();
        r.callback_number = "12".into();
        let m = validate(r).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(m.contains("callback_number"), "{m}");
    }

    #[test]
    fn json_errors_do_not_echo_values() {
        let e = serde_json::from_str::<IntakeRequest>(
            r#"{"external_ref":"x","level":1,"answers":[],"callback_number":"1","personnummer":191212121212}"#,
        )
        .err();
        let m = e.map(|e| describe_json_error(&e)).unwrap_or_default();
        assert!(!m.contains("191212"), "{m}");
        assert!(m.contains("expected"), "{m}");
        let e = serde_json::from_str::<IntakeRequest>(r#"{"level":1}"#).err();
        let m = e.map(|e| describe_json_error(&e)).unwrap_or_default();
        assert!(m.contains("missing field `external_ref`"), "{m}");
    }
}
