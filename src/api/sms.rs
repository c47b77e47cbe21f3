//! SMS over HTTP: the gateway's delivery reports (`POST /api/v1/sms/status`,
//! bearer token from `sms.toml` `status_token_env`), and the SMS list a
//! nurse sees per case (kind, time, status; never the text or the number).

use super::{ApiError, ApiState};
use crate::store::sms::{ReportResult, SmsSummary};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use uuid::Uuid;

/// Largest report body.
const MAX_REPORT_BYTES: usize = 4096;

/// A delivery report from the gateway.
#[derive(Deserialize, ToSchema)]
pub struct DeliveryReport {
    /// The id the gateway answered the send with.
    pub id: String,
    /// `delivered`, or `failed` / `undeliverable` / `expired` / `rejected`.
    pub status: String,
}

/// One SMS of a case, as the nurse's page lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct SmsView {
    pub id: Uuid,
    /// `callback_confirmation`, `callback_missed` or `self_care_advice`.
    pub kind: String,
    /// `queued`, `sending`, `sent`, `delivered` or `failed`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub attempts: u32,
    /// Why it failed or waits (no personal data).
    pub last_error: Option<String>,
}

impl From<SmsSummary> for SmsView {
    fn from(s: SmsSummary) -> SmsView {
        SmsView {
            id: s.id,
            kind: s.kind.as_str().to_string(),
            status: s.status.as_str().to_string(),
            created_at: s.created_at,
            sent_at: s.sent_at,
            delivered_at: s.delivered_at,
            attempts: s.attempts,
            last_error: s.last_error,
        }
    }
}

/// Records a delivery report: `204` recorded (or a repeat), `404` unknown id.
#[utoipa::path(post, path = "/api/v1/sms/status", tag = "sms", request_body = DeliveryReport,
    security(("bearer" = [])),
    responses((status = 204, description = "recorded"),
              (status = 400, description = "bad body"),
              (status = 401, description = "missing or wrong token"),
              (status = 404, description = "no SMS has this id, or reports are not configured")))]
pub async fn status_report(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let Some(expected) = state
        .sms
        .as_ref()
        .and_then(|s| s.status_token_sha256.as_deref())
    else {
        return Err(ApiError::NotFound(
            "SMS delivery reports are not configured: set status_token_env in sms.toml".into(),
        ));
    };
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let given = hex::encode(Sha256::digest(token.as_bytes()));
    if token.is_empty() || !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(ApiError::Unauthorized(
            "missing or wrong bearer token for SMS delivery reports".into(),
        ));
    }
    if body.len() > MAX_REPORT_BYTES {
        return Err(ApiError::PayloadTooLarge(
            "report is larger than 4 KiB".into(),
        ));
    }
    let report: DeliveryReport = serde_json::from_slice(&body).map_err(|_| {
        ApiError::BadRequest("expected JSON {\"id\": \"...\", \"status\": \"delivered\"}".into())
    })?;
    if report.id.is_empty() || report.id.len() > 128 {
        return Err(ApiError::BadRequest("id must be 1-128 characters".into()));
    }
    let (delivered, reason) =
        match report.status.as_str() {
            "delivered" => (Some(Utc::now()), ""),
            "failed" => (None, "delivery report: failed"),
            "undeliverable" => (None, "delivery report: undeliverable"),
            "expired" => (None, "delivery report: expired"),
            "rejected" => (None, "delivery report: rejected"),
            _ => return Err(ApiError::BadRequest(
                "unknown status: expected delivered, failed, undeliverable, expired or rejected"
                    .into(),
            )),
        };
    match state
        .store
        .sms_delivery_report(&report.id, delivered, reason)
        .await?
    {
        ReportResult::Unknown => Err(ApiError::NotFound("no SMS has this id".into())),
        result => {
            if let (ReportResult::Updated, Some(sms)) = (result, &state.sms) {
                if delivered.is_some() {
                    sms.metrics.delivered.inc();
                } else {
                    sms.metrics.failed.inc();
                }
            }
            Ok(StatusCode::NO_CONTENT)
        }
    }
}
