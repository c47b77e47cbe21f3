//! Callbacks from the worklist: the nurse who holds a case calls the resident
//! (or takes the caller holding for it) from their SIP phone or the browser.

use super::auth::{Role, Staff};
use super::{ApiError, ApiState};
use crate::dialer::{CallStatus, DialError, NurseLegRequest};
use crate::store::CaseStatus;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Largest SDP offer accepted from a browser.
const MAX_SDP: usize = 64 * 1024;

/// `POST /cases/{id}/call` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallRequest {
    /// `browser` (WebRTC, send `sdp`) or `phone` (your registered SIP phone).
    #[schema(example = "browser")]
    pub nurse_leg: String,
    /// The browser's complete SDP offer (ICE gathering finished).
    #[serde(default)]
    pub sdp: Option<String>,
}

/// A started callback.
#[derive(Serialize, ToSchema)]
pub struct CallStarted {
    pub call_id: Uuid,
    /// The SDP answer for a browser leg.
    pub sdp: Option<String>,
}

fn parse_uuid(text: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::BadRequest(format!("{what} must be a UUID")))
}

fn dialer(state: &ApiState) -> Result<&std::sync::Arc<crate::dialer::Dialer>, ApiError> {
    state
        .dialer
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("callbacks are not available on this node".into()))
}

/// Starts a callback for a case you have claimed (audited as `case.call`).
#[utoipa::path(post, path = "/api/v1/cases/{id}/call", tag = "calls",
    params(("id" = Uuid, Path, description = "case id")), request_body = CallRequest,
    security(("session" = [])),
    responses((status = 202, body = CallStarted), (status = 400, description = "bad body or SDP"),
              (status = 401, description = "not signed in"), (status = 404, description = "no such case"),
              (status = 409, description = "not your claim, no number, phone not registered, or a call runs"),
              (status = 503, description = "no trunk configured, or the node holding the caller did not answer")))]
pub async fn start_call(
    State(state): State<ApiState>,
    staff: Staff,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    staff.require(Role::Nurse)?;
    let id = parse_uuid(&id, "case id")?;
    if body.len() > MAX_SDP {
        return Err(ApiError::PayloadTooLarge(format!(
            "call request is {} bytes; the limit is {MAX_SDP}",
            body.len()
        )));
    }
    let req: CallRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "body must be {{\"nurse_leg\": \"browser\"|\"phone\", \"sdp\": \"...\"}}: {e}"
        ))
    })?;
    let leg = match (req.nurse_leg.as_str(), req.sdp) {
        ("phone", _) => NurseLegRequest::Phone,
        ("browser", Some(sdp)) if !sdp.trim().is_empty() => {
            NurseLegRequest::Browser { offer_sdp: sdp }
        }
        ("browser", _) => {
            return Err(ApiError::BadRequest(
                "a browser call needs \"sdp\": the page's WebRTC offer".into(),
            ))
        }
        (other, _) => {
            return Err(ApiError::BadRequest(format!(
                "nurse_leg \"{other}\" is unknown: use \"browser\" or \"phone\""
            )))
        }
    };
    let dialer = dialer(&state)?;
    let case = state
        .store
        .get_case(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("case {id} not found")))?;
    let claim = state.store.claim_info(id).await?.unwrap_or_default();
    if case.status != CaseStatus::Claimed || claim.claimed_by.as_deref() != Some(&staff.username) {
        return Err(ApiError::Conflict(format!(
            "case {id} must be claimed by you before you call (take it from the worklist first)"
        )));
    }
    let started = dialer
        .start(&case, &staff.username, leg)
        .await
        .map_err(|e| match e {
            DialError::NoTrunk => ApiError::Unavailable(e.to_string()),
            DialError::Browser(_) => ApiError::BadRequest(e.to_string()),
            DialError::Internal(_) | DialError::PickupTimeout { .. } => {
                ApiError::Unavailable(e.to_string())
            }
            _ => ApiError::Conflict(e.to_string()),
        })?;
    state
        .store
        .audit(&staff.audit(
            "case.call",
            Some(id),
            format!("call {} nurse_leg {}", started.call_id, req.nurse_leg),
        ))
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CallStarted {
            call_id: started.call_id,
            sdp: started.answer_sdp,
        }),
    )
        .into_response())
}

/// Where your callback is (any node answers).
#[utoipa::path(get, path = "/api/v1/calls/{call_id}", tag = "calls",
    params(("call_id" = Uuid, Path, description = "from POST /cases/{id}/call")),
    security(("session" = [])),
    responses((status = 200, body = CallStatus), (status = 401, description = "not signed in"),
              (status = 404, description = "no such call of yours")))]
pub async fn call_status(
    State(state): State<ApiState>,
    staff: Staff,
    Path(call_id): Path<String>,
) -> Result<Json<CallStatus>, ApiError> {
    staff.require(Role::Nurse)?;
    let call_id = parse_uuid(&call_id, "call id")?;
    dialer(&state)?
        .status(call_id, &staff.username)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no call {call_id} of yours")))
}

/// Hangs up your callback (both legs), also one running on another node.
#[utoipa::path(post, path = "/api/v1/calls/{call_id}/hangup", tag = "calls",
    params(("call_id" = Uuid, Path, description = "from POST /cases/{id}/call")),
    security(("session" = [])),
    responses((status = 204, description = "hanging up"), (status = 401, description = "not signed in"),
              (status = 404, description = "no such call of yours")))]
pub async fn hangup(
    State(state): State<ApiState>,
    staff: Staff,
    Path(call_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    staff.require(Role::Nurse)?;
    let call_id = parse_uuid(&call_id, "call id")?;
    if dialer(&state)?.hangup(call_id, &staff.username).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no call {call_id} of yours")))
    }
}
