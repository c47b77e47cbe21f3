//! `GET /api/v1/worklist`: open cases in queue order for the nurses' list (staff
//! only, audited as `worklist.read`); `GET /api/v1/review`: the review list,
//! cases a nurse must look at before anyone calls (audited as `review.read`).
//!
//! This view leaves out the callback number and personnummer: `GET /cases/{id}`
//! and a claim show those.

use super::auth::{Role, Staff};
use super::{ApiError, ApiState};
use crate::queue::Priority;
use crate::store::{Answer, CaseMode, CaseRecord, CaseStatus, Channel, ReviewReason};
use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One row of the worklist, as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorklistCase {
    pub id: Uuid,
    #[schema(value_type = String, example = "phone")]
    pub channel: Channel,
    #[schema(value_type = u8, minimum = 1, maximum = 5)]
    pub priority: Priority,
    #[schema(value_type = String, example = "waiting")]
    pub status: CaseStatus,
    #[schema(value_type = String, example = "callback")]
    pub mode: CaseMode,
    pub registered_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub estimated_callback_at: Option<DateTime<Utc>>,
    #[schema(value_type = Vec<AnswerDoc>)]
    pub answers: Vec<Answer>,
    pub attempts: u32,
    pub language: String,
    pub red_flag: bool,
    /// After a failed callback attempt: "next case" passes this case over until
    /// then (it keeps its place in the order, and a nurse can still claim it).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the case is (or was) in the review list: `not_reached` (every
    /// callback attempt of an urgent case failed), `no_number` (a held
    /// caller with a withheld number left) or `repeated_red_flags` (the
    /// number's red-flag calls keep ending before a nurse answers).
    #[schema(value_type = Option<String>, example = "not_reached")]
    #[serde(default)]
    pub review_reason: Option<ReviewReason>,
}

/// One answered question (schema of `store::Answer`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AnswerDoc {
    question_id: String,
    question_text: String,
    value: String,
    value_text: String,
}

impl From<CaseRecord> for WorklistCase {
    fn from(c: CaseRecord) -> WorklistCase {
        WorklistCase {
            id: c.id,
            channel: c.channel,
            priority: c.priority,
            status: c.status,
            mode: c.mode,
            registered_at: c.registered_at,
            deadline: c.deadline,
            estimated_callback_at: c.estimated_callback_at,
            answers: c.answers,
            attempts: c.attempts,
            language: c.language,
            red_flag: c.red_flag,
            next_attempt_at: c.next_attempt_at,
            review_reason: c.review_reason,
        }
    }
}

/// `?unit=` of the lists: a care unit id (`GET /units`); default the user's own.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct UnitQuery {
    /// A unit id; a nurse may only name her own unit, a supervisor any.
    pub unit: Option<String>,
}

/// One unit's open cases (default: the user's own unit), level 1 first, then
/// earliest deadline, then earliest registration; cases waiting for their next
/// callback attempt included (see `next_attempt_at`).
#[utoipa::path(get, path = "/api/v1/worklist", tag = "cases", security(("session" = [])),
    params(UnitQuery),
    responses((status = 200, body = Vec<WorklistCase>), (status = 400, description = "unknown unit"),
              (status = 401, description = "not signed in"),
              (status = 403, description = "another unit's list (nurses work their own unit's)")))]
pub async fn worklist(
    State(state): State<ApiState>,
    staff: Staff,
    Query(query): Query<UnitQuery>,
) -> Result<Json<Vec<WorklistCase>>, ApiError> {
    staff.require(Role::Nurse)?;
    let unit = super::handoff::list_unit(&state, &staff, query.unit.as_deref()).await?;
    let cases = state.store.unit_worklist(state.units.stored(&unit)).await?;
    state
        .store
        .audit(&staff.audit("worklist.read", None, shown(&cases)))
        .await?;
    Ok(Json(cases.into_iter().map(WorklistCase::from).collect()))
}

/// The audit detail of a list read: how many cases and which (ids only, in
/// the order shown), so the log says whose data a nurse saw.
pub(crate) fn shown(cases: &[CaseRecord]) -> String {
    let ids: Vec<String> = cases.iter().map(|c| c.id.to_string()).collect();
    format!("cases={} ids={}", cases.len(), ids.join(","))
}

/// The review list (status `review`), in queue order: urgent cases nobody
/// reached and held callers with no number who left. "Take next" never hands
/// them out and the dialler never calls them; a nurse claims one with
/// `POST /cases/{id}/claim` and closes it with an outcome.
/// Per unit like the worklist (`?unit=`, default the user's own).
#[utoipa::path(get, path = "/api/v1/review", tag = "cases", security(("session" = [])),
    params(UnitQuery),
    responses((status = 200, body = Vec<WorklistCase>, description = "audited as review.read"),
              (status = 401, description = "not signed in"),
              (status = 403, description = "another unit's list")))]
pub async fn review(
    State(state): State<ApiState>,
    staff: Staff,
    Query(query): Query<UnitQuery>,
) -> Result<Json<Vec<WorklistCase>>, ApiError> {
    staff.require(Role::Nurse)?;
    let unit = super::handoff::list_unit(&state, &staff, query.unit.as_deref()).await?;
    let cases = state
        .store
        .unit_review_list(state.units.stored(&unit))
        .await?;
    state
        .store
        .audit(&staff.audit("review.read", None, shown(&cases)))
        .await?;
    Ok(Json(cases.into_iter().map(WorklistCase::from).collect()))
}
