//! `POST /api/v1/cases/cancel`: the digital intake withdraws one of its own
//! cases by `external_ref` (the resident no longer needs the callback). A
//! client only reaches the references it posted (they are stored per client);
//! a case a nurse has taken or closed cannot be withdrawn. Audited as
//! `case.cancel` by `intake:<client>`.

use super::auth::IntakeClient;
use super::cases::CaseState;
use super::{ApiError, ApiState};
use crate::store::{AuditRecord, CancelError};
use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/cases/cancel` body.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// The reference the client posted the case with.
    pub external_ref: String,
}

/// Cancels a waiting digital case; a repeated cancel answers the same.
#[utoipa::path(post, path = "/api/v1/cases/cancel", tag = "intake", request_body = CancelRequest,
    security(("bearer" = [])),
    responses((status = 200, body = CaseState, description = "cancelled (or already cancelled)"),
              (status = 400, description = "bad body"),
              (status = 401, description = "missing or unknown bearer token"),
              (status = 404, description = "this client has no case with that external_ref"),
              (status = 409, description = "a nurse has taken or closed the case")))]
pub async fn cancel_case(
    State(state): State<ApiState>,
    client: IntakeClient,
    body: Bytes,
) -> Result<Json<CaseState>, ApiError> {
    let request: CancelRequest = serde_json::from_slice(&body)
        .map_err(|_| ApiError::BadRequest("expected JSON {\"external_ref\": \"...\"}".into()))?;
    let external_ref = request.external_ref.trim();
    if external_ref.is_empty() || external_ref.chars().count() > 128 {
        return Err(ApiError::BadRequest(
            "external_ref must be 1-128 characters".into(),
        ));
    }
    // Stored per client (see intake.rs): another client's reference is not found.
    let stored_ref = format!("{}:{}", client.name, external_ref);
    let case = state
        .store
        .get_case_by_external_ref(&stored_ref)
        .await?
        .ok_or_else(|| ApiError::NotFound("no case with this external_ref".into()))?;
    let actor = client.actor();
    let ip = client.ip.map(|i| i.to_string());
    match state.store.cancel_case(case.id, &actor, Utc::now()).await {
        Ok(done) => {
            // The store wrote `case.cancel`; this row keeps where it came from.
            state
                .store
                .audit(&AuditRecord::new(
                    Utc::now(),
                    &actor,
                    "intake.cancel",
                    Some(done.id),
                    format!("status={}", done.status),
                    ip,
                ))
                .await?;
            Ok(Json(CaseState::from(&done)))
        }
        Err(CancelError::NotFound(_)) => {
            Err(ApiError::NotFound("no case with this external_ref".into()))
        }
        Err(CancelError::WrongStatus { status, .. }) => Err(ApiError::Conflict(format!(
            "the case is {status}: a nurse has it, so it can no longer be cancelled"
        ))),
        Err(CancelError::Store(e)) => Err(e.into()),
    }
}
