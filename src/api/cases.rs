//! Staff endpoints on single cases: read (with personal data), claim the next or
//! a given case, release it, record the outcome. Every read of personal data and
//! every change leaves an audit row with the user and their address.

use super::auth::{Role, Staff};
use super::worklist::WorklistCase;
use super::{ApiError, ApiState};
use crate::store::{CaseRecord, ClaimError, ClaimInfo, Outcome};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Longest outcome note.
pub const MAX_NOTE_CHARS: usize = 4000;

/// A whole case for the nurse who handles it, including how to reach the resident.
/// Not `Debug`: it carries personal data.
#[derive(Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct CaseView {
    /// Everything the worklist row shows (same JSON fields, flattened).
    #[serde(flatten)]
    pub case: WorklistCase,
    /// E.164: the number to call back.
    pub callback_number: Option<String>,
    /// 12 digits.
    pub personnummer: Option<String>,
    pub summary: String,
    pub external_ref: Option<String>,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<DateTime<Utc>>,
    /// The claim goes back to the queue then unless renewed
    /// (`POST /cases/{id}/claim/renew`, or a running callback).
    #[serde(default)]
    pub claim_expires_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>, example = "self_care")]
    pub outcome: Option<Outcome>,
    pub outcome_note: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The caller left a voice note: `GET /cases/{id}/voice-note` plays it.
    #[serde(default)]
    pub has_voice_note: bool,
    /// The SMS sent to the resident for this case (kind, times, status).
    #[serde(default)]
    pub sms: Vec<super::sms::SmsView>,
    /// Where the resident is listed (looked up by personnummer in the region's
    /// register); `null` when not looked up (no personnummer, look-ups off).
    #[serde(default)]
    pub listing: Option<ListingView>,
    /// The care unit the case is with (`GET /units` id).
    #[serde(default)]
    pub unit: String,
    /// Its way between units, oldest first.
    #[serde(default)]
    pub handoffs: Vec<super::handoff::HandoffView>,
}

/// A case's listed health centre.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ListingView {
    /// `pending`, `found`, `none` (not listed) or `unknown` (look-up failed).
    pub status: String,
    /// The unit's HSA-id.
    pub hsa_id: Option<String>,
    /// The unit's name.
    pub name: Option<String>,
    /// The care unit of `units.toml` with this HSA-id (`null`: not one of
    /// ours): a nurse can hand the case to it in one click.
    pub unit: Option<String>,
}

impl ListingView {
    pub fn new(l: crate::store::Listing, units: &crate::config::Units) -> ListingView {
        let unit = l
            .hsa_id
            .as_deref()
            .and_then(|hsa| units.by_hsa_id(hsa))
            .map(|u| u.id.clone());
        ListingView {
            status: l.status.as_str().to_string(),
            hsa_id: l.hsa_id,
            name: l.name,
            unit,
        }
    }
}

impl CaseView {
    pub fn new(mut c: CaseRecord, claim: ClaimInfo) -> CaseView {
        CaseView {
            callback_number: c.callback_number.take(),
            personnummer: c.personnummer.take(),
            summary: std::mem::take(&mut c.summary),
            external_ref: c.external_ref.take(),
            case: WorklistCase::from(c),
            claimed_by: claim.claimed_by,
            claimed_at: claim.claimed_at,
            claim_expires_at: claim.claim_expires_at,
            outcome: claim.outcome,
            outcome_note: claim.outcome_note,
            closed_at: claim.closed_at,
            has_voice_note: false,
            sms: Vec::new(),
            listing: None,
            unit: String::new(),
            handoffs: Vec::new(),
        }
    }
}

/// `POST /cases/{id}/outcome` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRequest {
    #[schema(value_type = String, example = "self_care")]
    pub outcome: String,
    #[serde(default)]
    pub note: String,
}

fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::BadRequest("case id must be a UUID".into()))
}

async fn view(state: &ApiState, case: CaseRecord) -> Result<CaseView, ApiError> {
    let claim = state.store.claim_info(case.id).await?.unwrap_or_default();
    let has_voice_note = state.store.has_voice_note(case.id).await?;
    let sms = state.store.sms_for_case(case.id).await?;
    let listing = state
        .store
        .get_listing(case.id)
        .await?
        .map(|l| ListingView::new(l, &state.units));
    let unit = super::handoff::case_unit(state, case.id).await?;
    let handoffs = super::handoff::views(state, state.store.handoffs(case.id).await?);
    Ok(CaseView {
        has_voice_note,
        sms: sms.into_iter().map(Into::into).collect(),
        listing,
        unit,
        handoffs,
        ..CaseView::new(case, claim)
    })
}

fn claim_error(e: ClaimError) -> ApiError {
    match e {
        ClaimError::NotFound(id) => ApiError::NotFound(format!("case {id} not found")),
        ClaimError::WrongStatus { id, status } => {
            ApiError::Conflict(format!("case {id} is {status}, so this cannot be done now"))
        }
        ClaimError::NotYours(id) => ApiError::Forbidden(format!(
            "case {id} is claimed by another nurse; a supervisor can release it"
        )),
        ClaimError::Store(e) => ApiError::Store(e),
    }
}

/// The full case (audited as `case.read`).
#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases",
    params(("id" = Uuid, Path, description = "case id")), security(("session" = [])),
    responses((status = 200, body = CaseView), (status = 400, description = "id is not a UUID"),
              (status = 401, description = "not signed in"), (status = 404, description = "no such case")))]
pub async fn get_case(
    State(state): State<ApiState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Json<CaseView>, ApiError> {
    staff.require(Role::Nurse)?;
    let id = parse_id(&id)?;
    let case = state
        .store
        .get_case(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("case {id} not found")))?;
    state
        .store
        .audit(&staff.audit("case.read", Some(id), ""))
        .await?;
    Ok(Json(view(&state, case).await?))
}

/// Claims the most urgent open case of the user's unit atomically; `204`
/// when that list is empty.
#[utoipa::path(post, path = "/api/v1/claim-next", tag = "cases", security(("session" = [])),
    responses((status = 200, body = CaseView, description = "claimed; audited as case.claim"),
              (status = 204, description = "no open case"), (status = 401, description = "not signed in")))]
pub async fn claim_next(State(state): State<ApiState>, staff: Staff) -> Result<Response, ApiError> {
    staff.require(Role::Nurse)?;
    // "Take next" takes from the user's own unit's list.
    let unit = super::handoff::staff_unit(&state, &staff).await?;
    let scope = Some(state.units.stored(&unit));
    match state
        .store
        .claim_next_in(&staff.actor(), scope, Utc::now())
        .await?
    {
        Some(case) => Ok(Json(view(&state, case).await?).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// Claims one case (waiting, holding, or in the review list); `409` otherwise,
/// `403` for a nurse when the case is in another unit's list.
/// The claim lasts `claim_lease_minutes` (queue.toml) unless renewed.
#[utoipa::path(post, path = "/api/v1/cases/{id}/claim", tag = "cases",
    params(("id" = Uuid, Path, description = "case id")), security(("session" = [])),
    responses((status = 200, body = CaseView), (status = 401, description = "not signed in"),
              (status = 403, description = "in another unit's list"),
              (status = 404, description = "no such case"), (status = 409, description = "not open")))]
pub async fn claim(
    State(state): State<ApiState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Json<CaseView>, ApiError> {
    staff.require(Role::Nurse)?;
    let id = parse_id(&id)?;
    // Each unit takes its own cases (a supervisor any).
    let scope = super::handoff::claim_scope(&state, &staff, id).await?;
    let case = state
        .store
        .claim_in(
            id,
            &staff.actor(),
            scope.as_ref().map(|s| s.as_deref()),
            Utc::now(),
        )
        .await
        .map_err(claim_error)?;
    Ok(Json(view(&state, case).await?))
}

/// A renewed claim.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ClaimLease {
    pub id: Uuid,
    /// The claim now lasts until then unless renewed again.
    pub claim_expires_at: DateTime<Utc>,
}

/// Keeps the caller's claim alive for another lease (the nurse page calls
/// this every minute while it shows the case). Not audited: nothing but the
/// lease changes. `409` once the claim has ended (say it expired and went
/// back to the queue), `403` for another nurse's claim.
#[utoipa::path(post, path = "/api/v1/cases/{id}/claim/renew", tag = "cases",
    params(("id" = Uuid, Path, description = "case id")), security(("session" = [])),
    responses((status = 200, body = ClaimLease), (status = 401, description = "not signed in"),
              (status = 403, description = "claimed by another nurse"),
              (status = 404, description = "no such case"), (status = 409, description = "not claimed")))]
pub async fn renew_claim(
    State(state): State<ApiState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Json<ClaimLease>, ApiError> {
    staff.require(Role::Nurse)?;
    let id = parse_id(&id)?;
    let until = state
        .store
        .renew_claim(id, &staff.username, Utc::now())
        .await
        .map_err(claim_error)?;
    Ok(Json(ClaimLease {
        id,
        claim_expires_at: until,
    }))
}

/// Status after a release or an outcome (no personal data).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct CaseState {
    pub id: Uuid,
    #[schema(value_type = String, example = "waiting")]
    pub status: crate::store::CaseStatus,
    pub attempts: u32,
}

impl From<&CaseRecord> for CaseState {
    fn from(c: &CaseRecord) -> CaseState {
        CaseState {
            id: c.id,
            status: c.status,
            attempts: c.attempts,
        }
    }
}

/// Puts a claimed case back in the queue. Only its holder or a supervisor.
#[utoipa::path(post, path = "/api/v1/cases/{id}/release", tag = "cases",
    params(("id" = Uuid, Path, description = "case id")), security(("session" = [])),
    responses((status = 200, body = CaseState), (status = 401, description = "not signed in"),
              (status = 403, description = "claimed by another nurse"),
              (status = 404, description = "no such case"), (status = 409, description = "not claimed")))]
pub async fn release(
    State(state): State<ApiState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Json<CaseState>, ApiError> {
    staff.require(Role::Nurse)?;
    let id = parse_id(&id)?;
    let case = state
        .store
        .release(id, &staff.actor(), Utc::now())
        .await
        .map_err(claim_error)?;
    Ok(Json(CaseState::from(&case)))
}

/// Records the outcome of a claimed case: closes it, or (`no_answer`) puts it
/// back waiting with one more attempt.
#[utoipa::path(post, path = "/api/v1/cases/{id}/outcome", tag = "cases",
    params(("id" = Uuid, Path, description = "case id")), request_body = OutcomeRequest,
    security(("session" = [])),
    responses((status = 200, body = CaseState), (status = 400, description = "unknown outcome"),
              (status = 401, description = "not signed in"), (status = 403, description = "claimed by another nurse"),
              (status = 404, description = "no such case"), (status = 409, description = "not claimed")))]
pub async fn outcome(
    State(state): State<ApiState>,
    staff: Staff,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<CaseState>, ApiError> {
    staff.require(Role::Nurse)?;
    let id = parse_id(&id)?;
    let request: OutcomeRequest = serde_json::from_slice(&body).map_err(|_| {
        ApiError::BadRequest("expected JSON {\"outcome\": \"...\", \"note\": \"...\"}".into())
    })?;
    let outcome: Outcome = request.outcome.parse().map_err(|_| {
        let known: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        ApiError::BadRequest(format!(
            "unknown outcome: expected one of {}",
            known.join(", ")
        ))
    })?;
    if request.note.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::BadRequest(format!(
            "note is longer than {MAX_NOTE_CHARS} characters"
        )));
    }
    let claimed_at = state.store.claim_info(id).await?.and_then(|c| c.claimed_at);
    let now = Utc::now();
    let case = state
        .store
        .record_outcome(id, outcome, &request.note, &staff.actor(), now)
        .await
        .map_err(claim_error)?;
    // Claim to outcome is the handling time the estimates replay with.
    if let (Some(booking), Some(at)) = (&state.booking, claimed_at) {
        if let Ok(took) = (now - at).to_std() {
            booking.record_handling(case.priority, took);
        }
    }
    Ok(Json(CaseState::from(&case)))
}
