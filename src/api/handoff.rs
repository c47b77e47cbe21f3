//! Care units in the API: `GET /api/v1/units` (for the nurse page's unit
//! filter and hand-off choice) and `POST /api/v1/cases/{id}/handoff` (a nurse
//! hands her claimed case to a unit with a short note). Also which unit's
//! list a staff member may work: each unit its own, supervisors any.

use super::auth::{Role, Staff};
use super::{ApiError, ApiState};
use crate::config::{Unit, UnitKind};
use crate::store::handoff::MAX_HANDOFF_NOTE_CHARS;
use crate::store::{CaseStatus, Handoff, HandoffError};
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToUnit {
    to_unit: String,
}

/// Handoffs for `/metrics`: how many cases went to each unit, and refusals.
#[derive(Debug, Default)]
pub struct HandoffMetrics {
    handoffs: Family<ToUnit, Counter>,
    refused: Counter,
}

impl HandoffMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "pe_case_handoffs",
            "Cases handed to a care unit (units.toml), by receiving unit",
            self.handoffs.clone(),
        );
        registry.register(
            "pe_case_handoffs_refused",
            "Handoffs refused (unknown unit, level not taken, not claimed, closed, note too long)",
            self.refused.clone(),
        );
    }
}

/// One care unit of `units.toml`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct UnitView {
    /// Slug used in the API, e.g. `vc-markaryd`.
    pub id: String,
    pub name: String,
    pub kind: UnitKind,
    pub hsa_id: String,
    /// Urgency levels it takes.
    pub levels: Vec<u8>,
    /// New cases land here.
    pub default: bool,
    /// Within its weekly hours now.
    pub open_now: bool,
}

impl UnitView {
    fn new(u: &Unit, now: DateTime<Utc>) -> UnitView {
        UnitView {
            id: u.id.clone(),
            name: u.name.clone(),
            kind: u.kind,
            hsa_id: u.hsa_id.clone(),
            levels: u.levels(),
            default: u.default,
            open_now: u.is_open(now),
        }
    }
}

/// One step of a case between units, for the nurse page.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct HandoffView {
    pub from_unit: String,
    pub from_name: String,
    pub to_unit: String,
    pub to_name: String,
    /// The nurse who handed it on.
    pub by: String,
    pub note: String,
    pub at: DateTime<Utc>,
}

/// `POST /cases/{id}/handoff` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffRequest {
    /// Unit id from `GET /units`, e.g. `vc-markaryd`.
    pub unit: String,
    /// For the receiving unit, at most 500 characters.
    #[serde(default)]
    pub note: String,
}

/// The case after a handoff (no personal data).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct HandoffDone {
    pub id: Uuid,
    pub unit: String,
    #[schema(value_type = String, example = "waiting")]
    pub status: CaseStatus,
}

/// The unit name for an id, or the id itself for a unit no longer configured.
pub fn name_of(state: &ApiState, id: &str) -> String {
    state
        .units
        .get(id)
        .map_or_else(|| id.to_string(), |u| u.name.clone())
}

/// History rows as the page shows them.
pub fn views(state: &ApiState, steps: Vec<Handoff>) -> Vec<HandoffView> {
    steps
        .into_iter()
        .map(|h| HandoffView {
            from_name: name_of(state, &h.from_unit),
            to_name: name_of(state, &h.to_unit),
            from_unit: h.from_unit,
            to_unit: h.to_unit,
            by: h.by_user,
            note: h.note,
            at: h.at,
        })
        .collect()
}

/// The id of the unit a staff member belongs to.
pub async fn staff_unit(state: &ApiState, staff: &Staff) -> Result<String, ApiError> {
    let stored = state.store.user_unit(&staff.username).await?.flatten();
    Ok(state.units.id_of(stored.as_deref()).to_string())
}

/// The id of the unit a case is with.
pub async fn case_unit(state: &ApiState, id: Uuid) -> Result<String, ApiError> {
    let stored = state
        .store
        .case_unit(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("case {id} not found")))?;
    Ok(state.units.id_of(stored.as_deref()).to_string())
}

/// Which unit's list `staff` asked for (`requested`, else their own):
/// a nurse works her own unit's list only, a supervisor any. Returns the id.
pub async fn list_unit(
    state: &ApiState,
    staff: &Staff,
    requested: Option<&str>,
) -> Result<String, ApiError> {
    let own = staff_unit(state, staff).await?;
    let Some(requested) = requested.filter(|r| *r != own) else {
        return Ok(own);
    };
    let unit = state
        .units
        .require("unit", requested)
        .map_err(ApiError::BadRequest)?;
    if !staff.role.includes(Role::Supervisor) {
        return Err(ApiError::Forbidden(format!(
            "each unit works its own list: you are in {}, not {}; a supervisor can see every unit's list",
            name_of(state, &own),
            unit.name
        )));
    }
    Ok(unit.id.clone())
}

/// 403 unless `staff` may take case `id`: it is in their unit, or they are a
/// supervisor. Returns the stored scope to claim within (`None`: any unit).
pub async fn claim_scope(
    state: &ApiState,
    staff: &Staff,
    id: Uuid,
) -> Result<Option<Option<String>>, ApiError> {
    if staff.role.includes(Role::Supervisor) {
        return Ok(None);
    }
    let own = staff_unit(state, staff).await?;
    let case = case_unit(state, id).await?;
    if case != own {
        return Err(ApiError::Forbidden(format!(
            "case {id} is in the list of {}; you are in {}: each unit takes its own cases",
            name_of(state, &case),
            name_of(state, &own)
        )));
    }
    Ok(Some(state.units.stored(&own).map(str::to_string)))
}

/// Every care unit, the default (nurse line) first as configured.
#[utoipa::path(get, path = "/api/v1/units", tag = "units", security(("session" = [])),
    responses((status = 200, body = Vec<UnitView>), (status = 401, description = "not signed in")))]
pub async fn list(
    State(state): State<ApiState>,
    staff: Staff,
) -> Result<Json<Vec<UnitView>>, ApiError> {
    staff.require(Role::Nurse)?;
    let now = Utc::now();
    Ok(Json(
        state
            .units
            .all()
            .iter()
            .map(|u| UnitView::new(u, now))
            .collect(),
    ))
}

/// Hands the caller's claimed case to a unit with a short note: the claim
/// ends and the case waits in that unit's worklist (audited as
/// `case.handoff`, the note kept in the case's history only). Hand a case back
/// by handing it to the unit it came from.
#[utoipa::path(post, path = "/api/v1/cases/{id}/handoff", tag = "units",
    params(("id" = Uuid, Path, description = "case id")), request_body = HandoffRequest,
    security(("session" = [])),
    responses((status = 200, body = HandoffDone),
              (status = 400, description = "unknown unit, note too long, or the case is already there"),
              (status = 401, description = "not signed in"),
              (status = 403, description = "the case is claimed by another nurse"),
              (status = 404, description = "no such case"),
              (status = 409, description = "not claimed, closed, a caller holding on the line, or a level the unit does not take")))]
pub async fn hand_off(
    State(state): State<ApiState>,
    staff: Staff,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<HandoffDone>, ApiError> {
    staff.require(Role::Nurse)?;
    let result = try_hand_off(&state, &staff, &id, &body).await;
    match &result {
        Ok(done) => {
            let unit = ToUnit {
                to_unit: done.unit.clone(),
            };
            state.handoff_metrics.handoffs.get_or_create(&unit).inc();
        }
        Err(ApiError::Store(_)) => {}
        Err(_) => {
            state.handoff_metrics.refused.inc();
        }
    }
    result.map(Json)
}

async fn try_hand_off(
    state: &ApiState,
    staff: &Staff,
    id: &str,
    body: &[u8],
) -> Result<HandoffDone, ApiError> {
    let id =
        Uuid::parse_str(id).map_err(|_| ApiError::BadRequest("case id must be a UUID".into()))?;
    let request: HandoffRequest = serde_json::from_slice(body).map_err(|_| {
        ApiError::BadRequest("expected JSON {\"unit\": \"vc-markaryd\", \"note\": \"...\"}".into())
    })?;
    let unit = state
        .units
        .require("unit", &request.unit)
        .map_err(ApiError::BadRequest)?;
    if request.note.chars().count() > MAX_HANDOFF_NOTE_CHARS {
        return Err(ApiError::BadRequest(format!(
            "note is longer than {MAX_HANDOFF_NOTE_CHARS} characters: keep the handoff note short"
        )));
    }
    let case = state
        .store
        .get_case(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("case {id} not found")))?;
    if !unit.takes(case.priority) {
        let levels: Vec<String> = unit.levels().iter().map(u8::to_string).collect();
        return Err(ApiError::Conflict(format!(
            "{} takes levels {} only; this case is level {}",
            unit.name,
            levels.join(", "),
            case.priority
        )));
    }
    let done = state
        .store
        .hand_off(
            id,
            &unit.id,
            state.units.stored(&unit.id),
            &state.units.default_unit().id,
            &request.note,
            &staff.actor(),
            Utc::now(),
        )
        .await
        .map_err(|e| handoff_error(state, e))?;
    Ok(HandoffDone {
        id,
        unit: unit.id.clone(),
        status: done.status,
    })
}

fn handoff_error(state: &ApiState, e: HandoffError) -> ApiError {
    match e {
        HandoffError::NotFound(id) => ApiError::NotFound(format!("case {id} not found")),
        HandoffError::WrongStatus { id, status } => ApiError::Conflict(match status {
            CaseStatus::Done | CaseStatus::Cancelled | CaseStatus::Unreachable => {
                format!("case {id} is closed ({status}): a closed case cannot be handed off")
            }
            _ => format!("case {id} is {status}: claim it first, then hand it off"),
        }),
        HandoffError::NotYours(id) => ApiError::Forbidden(format!(
            "case {id} is claimed by another nurse: only the nurse who holds it can hand it off"
        )),
        HandoffError::Holding(id) => ApiError::Conflict(format!(
            "case {id} is a caller holding on the line: talk to them now; only callbacks are handed to another unit"
        )),
        HandoffError::SameUnit { id, unit } => ApiError::BadRequest(format!(
            "case {id} is already with {}",
            name_of(state, &unit)
        )),
        HandoffError::Store(e) => ApiError::Store(e),
    }
}
