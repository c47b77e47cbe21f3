//! `GET /api/v1/cases/{id}/voice-note`: the caller's recorded description of
//! the problem as `audio/wav` (8 kHz mono 16-bit), for the nurse's player.
//! Staff only; every read is audited as `voice_note.read` like a case read.

use super::auth::{Role, Staff};
use super::{ApiError, ApiState};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

/// The voice note of a case; `404` when the case has none.
#[utoipa::path(get, path = "/api/v1/cases/{id}/voice-note", tag = "cases",
    params(("id" = Uuid, Path, description = "case id")), security(("session" = [])),
    responses((status = 200, content_type = "audio/wav", body = Vec<u8>,
               description = "8 kHz mono 16-bit WAV; audited as voice_note.read"),
              (status = 400, description = "id is not a UUID"),
              (status = 401, description = "not signed in"),
              (status = 404, description = "no such case, or no voice note")))]
pub async fn get_voice_note(
    State(state): State<ApiState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    staff.require(Role::Nurse)?;
    let id =
        Uuid::parse_str(&id).map_err(|_| ApiError::BadRequest("case id must be a UUID".into()))?;
    let wav = state
        .store
        .voice_note(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("case {id} has no voice note")))?;
    state
        .store
        .audit(&staff.audit("voice_note.read", Some(id), ""))
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "audio/wav"),
            // Personal data: not for shared caches.
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        wav,
    )
        .into_response())
}
