//! Cases as FHIR `Task`s, read-only: `GET /fhir/Task` (a searchset of open
//! cases in queue order) and `GET /fhir/Task/{id}` (any case). Each Task
//! carries its answers as a contained `QuestionnaireResponse` (`#answers`,
//! `Task.focus`) and the resident as a contained `Patient` (`#patient`,
//! `Task.for`). Every read is audited like a staff read (`fhir.task.search`
//! with the ids shown, `fhir.task.read`), by `intake:<client>`.
//!
//! Status: waiting, holding and review -> `requested`; claimed ->
//! `in-progress`; done -> `completed`; cancelled -> `cancelled`; unreachable ->
//! `failed`. `Task.businessStatus.text` is our own status. The level is
//! `Task.priority` ([`super::intake::priority_for`]) and, exactly, the
//! extension [`super::URGENCY_LEVEL_URL`]; the deadline is
//! `Task.restriction.period.end`.

use super::intake::priority_for;
use super::outcome::FhirError;
use super::{fhir_json, PERSONNUMMER_SYSTEM, URGENCY_LEVEL_URL};
use crate::api::auth::{BearerRejection, IntakeClient};
use crate::api::worklist::shown;
use crate::api::ApiState;
use crate::queue::order::QueuedCase;
use crate::store::{AuditRecord, CaseRecord, CaseStatus, ClaimInfo};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use fhir_r4::choice::Primitive;
use fhir_r4::coded::Coded;
use fhir_r4::codes::{
    BundleType, ContactPointSystem, QuestionnaireAnswersStatus, SearchEntryMode, TaskIntent,
    TaskStatus,
};
use fhir_r4::resources::bundle::{BundleEntry, BundleEntrySearch};
use fhir_r4::resources::questionnaire_response::{
    QuestionnaireResponseItem, QuestionnaireResponseItemAnswer,
    QuestionnaireResponseItemAnswerValue as AnswerValue,
};
use fhir_r4::resources::task::TaskRestriction;
use fhir_r4::resources::{Bundle, Patient, QuestionnaireResponse, Resource, Task};
use fhir_r4::types::extension::ExtensionValue;
use fhir_r4::types::{
    CodeableConcept, ContactPoint, Extension, Identifier, Integer, Period, Reference, Uri,
};
use uuid::Uuid;

fn text(s: impl Into<String>) -> fhir_r4::types::String {
    fhir_r4::types::String(s.into())
}

fn date_time(t: DateTime<Utc>) -> fhir_r4::types::DateTime {
    fhir_r4::types::DateTime(t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// The FHIR status of a case.
pub fn status_of(status: CaseStatus) -> TaskStatus {
    match status {
        CaseStatus::Waiting | CaseStatus::Holding | CaseStatus::Review => TaskStatus::Requested,
        CaseStatus::Claimed => TaskStatus::InProgress,
        CaseStatus::Done => TaskStatus::Completed,
        CaseStatus::Cancelled => TaskStatus::Cancelled,
        CaseStatus::Unreachable => TaskStatus::Failed,
    }
}

fn local(id: &str) -> Reference {
    Reference {
        reference: Some(text(format!("#{id}"))),
        ..Default::default()
    }
}

/// One case as a Task (sans-IO).
pub fn case_to_task(case: &CaseRecord, claim: &ClaimInfo) -> Task {
    let level = case.priority.level();
    let answers = QuestionnaireResponse {
        id: Some(text("answers")),
        status: Coded::Known(QuestionnaireAnswersStatus::Completed),
        authored: Some(date_time(case.registered_at)),
        item: case
            .answers
            .iter()
            .map(|a| QuestionnaireResponseItem {
                link_id: text(&a.question_id),
                text: Some(text(&a.question_text)),
                answer: vec![QuestionnaireResponseItemAnswer {
                    value: Some(AnswerValue::String(Primitive::new(text(&a.value_text)))),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut contained = vec![Resource::QuestionnaireResponse(Box::new(answers))];
    let patient = Patient {
        id: Some(text("patient")),
        identifier: case
            .personnummer
            .iter()
            .map(|p| Identifier {
                system: Some(Uri(PERSONNUMMER_SYSTEM.into())),
                value: Some(text(p)),
                ..Default::default()
            })
            .collect(),
        telecom: case
            .callback_number
            .iter()
            .map(|n| ContactPoint {
                system: Some(Coded::Known(ContactPointSystem::Phone)),
                value: Some(text(n)),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let has_patient = !patient.identifier.is_empty() || !patient.telecom.is_empty();
    if has_patient {
        contained.push(Resource::Patient(Box::new(patient)));
    }
    let mut identifier = vec![Identifier {
        system: Some(Uri("urn:ietf:rfc:3986".into())),
        value: Some(text(format!("urn:uuid:{}", case.id))),
        ..Default::default()
    }];
    if let Some(reference) = &case.external_ref {
        // Stored as `<client>:<the client's id>`.
        let value = reference
            .split_once(':')
            .map_or(reference.as_str(), |(_, v)| v);
        identifier.push(Identifier {
            value: Some(text(value)),
            ..Default::default()
        });
    }
    Task {
        id: Some(text(case.id.to_string())),
        contained,
        extension: vec![Extension {
            url: text(URGENCY_LEVEL_URL),
            value: Some(ExtensionValue::Integer(Primitive::new(Integer(i32::from(
                level,
            ))))),
            ..Default::default()
        }],
        identifier,
        status: Coded::Known(status_of(case.status)),
        business_status: Some(CodeableConcept {
            text: Some(text(case.status.as_str())),
            ..Default::default()
        }),
        intent: Coded::Known(TaskIntent::Order),
        priority: Some(Coded::Known(priority_for(level))),
        description: (!case.summary.is_empty()).then(|| text(&case.summary)),
        focus: Some(local("answers")),
        r#for: has_patient.then(|| local("patient")),
        authored_on: Some(date_time(case.registered_at)),
        owner: claim.claimed_by.as_ref().map(|user| Reference {
            display: Some(text(user)),
            ..Default::default()
        }),
        restriction: Some(TaskRestriction {
            period: Some(Period {
                end: Some(date_time(case.deadline)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Which open cases a search asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Search {
    pub requested: bool,
    pub in_progress: bool,
}

/// Reads `GET /fhir/Task`'s parameters: `status` (`requested`, `in-progress`,
/// comma-separated or repeated; default both), `_sort=priority` (the queue
/// order, which is also the default), `_format=json`. Anything else is 400.
pub fn parse_search(params: &[(String, String)]) -> Result<Search, FhirError> {
    let mut search = Search::default();
    let mut any_status = false;
    for (key, value) in params {
        match key.as_str() {
            "status" => {
                for code in value.split(',') {
                    any_status = true;
                    match code.trim() {
                        "requested" => search.requested = true,
                        "in-progress" => search.in_progress = true,
                        other => {
                            let other: String = other.chars().take(40).collect();
                            return Err(FhirError::not_supported(format!(
                                "status={other:?} is not searchable: only open cases (requested, in-progress) are listed; read one case with GET /fhir/Task/{{id}}"
                            )));
                        }
                    }
                }
            }
            "_sort" if value == "priority" => {}
            "_sort" => {
                return Err(FhirError::not_supported(
                    "only _sort=priority (the queue order: most urgent first) is supported",
                ))
            }
            "_format"
                if matches!(
                    value.as_str(),
                    "json" | "application/fhir+json" | "application/json"
                ) => {}
            other => {
                let other: String = other.chars().take(40).collect();
                return Err(FhirError::not_supported(format!(
                    "search parameter {other:?} is not supported: use status and _sort=priority (see /fhir/metadata)"
                )));
            }
        }
    }
    if !any_status {
        search = Search {
            requested: true,
            in_progress: true,
        };
    }
    Ok(search)
}

/// Cases in queue order (the same key as `queue::order`).
pub fn sort_by_priority(cases: &mut [CaseRecord]) {
    cases.sort_by_key(|c| {
        QueuedCase {
            id: c.id,
            priority: c.priority,
            registered_at: c.registered_at,
            deadline: c.deadline,
        }
        .key()
    });
}

/// A searchset of these Tasks.
pub fn searchset(tasks: Vec<Task>) -> Bundle {
    let total = u32::try_from(tasks.len()).unwrap_or(u32::MAX);
    Bundle {
        r#type: Coded::Known(BundleType::Searchset),
        total: Some(fhir_r4::types::UnsignedInt(total)),
        entry: tasks
            .into_iter()
            .map(|t| BundleEntry {
                full_url: t.id.as_ref().map(|id| Uri(format!("Task/{}", id.0))),
                resource: serde_json::to_value(Resource::Task(Box::new(t))).ok(),
                search: Some(BundleEntrySearch {
                    mode: Some(Coded::Known(SearchEntryMode::Match)),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn audit(client: &IntakeClient, action: &str, id: Option<Uuid>, detail: String) -> AuditRecord {
    AuditRecord::new(
        Utc::now(),
        &client.actor(),
        action,
        id,
        detail,
        client.ip.map(|ip| ip.to_string()),
    )
}

async fn claim_of(state: &ApiState, case: &CaseRecord) -> Result<ClaimInfo, FhirError> {
    if case.status == CaseStatus::Claimed {
        Ok(state
            .store
            .claim_info(case.id)
            .await
            .map_err(crate::api::ApiError::from)?
            .unwrap_or_default())
    } else {
        Ok(ClaimInfo::default())
    }
}

/// `GET /fhir/Task`: open cases as a searchset, most urgent first.
pub async fn search(
    State(state): State<ApiState>,
    client: Result<IntakeClient, BearerRejection>,
    params: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let run = async {
        let client = client.map_err(|r| FhirError::from(r.0))?;
        let Query(params) =
            params.map_err(|_| FhirError::structure("the query string is not valid"))?;
        let wanted = parse_search(&params)?;
        let store = |e| FhirError::from(crate::api::ApiError::from(e));
        let mut cases = Vec::new();
        if wanted.requested {
            cases.extend(state.store.worklist().await.map_err(store)?);
            cases.extend(state.store.review_list().await.map_err(store)?);
        }
        if wanted.in_progress {
            cases.extend(state.store.claimed_cases().await.map_err(store)?);
        }
        sort_by_priority(&mut cases);
        state
            .store
            .audit(&audit(&client, "fhir.task.search", None, shown(&cases)))
            .await
            .map_err(store)?;
        let mut tasks = Vec::with_capacity(cases.len());
        for case in &cases {
            tasks.push(case_to_task(case, &claim_of(&state, case).await?));
        }
        Ok::<_, FhirError>(fhir_json(
            StatusCode::OK,
            &Resource::Bundle(Box::new(searchset(tasks))),
        ))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /fhir/Task/{id}`: one case, open or closed.
pub async fn read(
    State(state): State<ApiState>,
    client: Result<IntakeClient, BearerRejection>,
    Path(id): Path<String>,
) -> Response {
    let run = async {
        let client = client.map_err(|r| FhirError::from(r.0))?;
        let not_found = || FhirError::not_found("no Task with this id");
        let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
        let case = state
            .store
            .get_case(id)
            .await
            .map_err(crate::api::ApiError::from)?
            .ok_or_else(not_found)?;
        state
            .store
            .audit(&audit(&client, "fhir.task.read", Some(id), String::new()))
            .await
            .map_err(crate::api::ApiError::from)?;
        let task = case_to_task(&case, &claim_of(&state, &case).await?);
        Ok::<_, FhirError>(fhir_json(StatusCode::OK, &Resource::Task(Box::new(task))))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests;
