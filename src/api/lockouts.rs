//! Supervisors see who is locked out after failed sign-ins (every node's,
//! from the store) and failed desk-phone REGISTERs (this node's), and lift
//! a lock. Lifting is audited.

use super::auth::{Role, Staff};
use super::{ApiError, ApiState};
use crate::sip::registrations::LockKey;
use crate::store::LockKind;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use utoipa::ToSchema;

/// One lock.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LockView {
    /// `sign_in` (staff web sign-in) or `sip_register` (desk phone).
    pub scope: String,
    /// `account` (a user name) or `address` (a client IP).
    pub kind: String,
    /// The user name or address; a name that is no account shows as
    /// `unknown:<hash>`.
    pub name: String,
    pub locked_until: DateTime<Utc>,
}

/// `POST /api/v1/supervisor/lockouts/lift` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LiftRequest {
    /// `account` or `address`.
    pub kind: String,
    pub name: String,
}

/// `GET /api/v1/supervisor/lockouts`: locks running now.
#[utoipa::path(get, path = "/api/v1/supervisor/lockouts", tag = "supervisor", security(("session" = [])),
    responses((status = 200, body = [LockView]), (status = 403, description = "not a supervisor")))]
pub async fn list(
    State(state): State<ApiState>,
    staff: Staff,
) -> Result<Json<Vec<LockView>>, ApiError> {
    staff.require(Role::Supervisor)?;
    let now = Utc::now();
    let mut views: Vec<LockView> = state
        .store
        .active_lockouts(now)
        .await?
        .into_iter()
        .map(|l| LockView {
            scope: "sign_in".into(),
            kind: l.kind.as_str().into(),
            name: l.name,
            locked_until: l.locked_until,
        })
        .collect();
    if let Some(phones) = &state.nurse_phones {
        let mono = Instant::now();
        for (key, until) in phones.locked(mono) {
            let (kind, name) = match key {
                LockKey::User(u) => (LockKind::Account, u),
                LockKey::Source(a) => (LockKind::Address, a.to_string()),
            };
            let left = chrono::TimeDelta::from_std(until.saturating_duration_since(mono))
                .unwrap_or(chrono::TimeDelta::zero());
            views.push(LockView {
                scope: "sip_register".into(),
                kind: kind.as_str().into(),
                name,
                locked_until: now + left,
            });
        }
    }
    Ok(Json(views))
}

/// `POST /api/v1/supervisor/lockouts/lift`: ends the sign-in lock and this
/// node's REGISTER lock of a user name or address. `204`, or `404` when
/// nothing was locked.
#[utoipa::path(post, path = "/api/v1/supervisor/lockouts/lift", tag = "supervisor", security(("session" = [])),
    request_body = LiftRequest,
    responses((status = 204, description = "lifted; audited as auth.lock_lifted"),
              (status = 404, description = "no such lock"), (status = 403, description = "not a supervisor")))]
pub async fn lift(
    State(state): State<ApiState>,
    staff: Staff,
    body: Result<Json<LiftRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    staff.require(Role::Supervisor)?;
    let Json(request) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let bad = || ApiError::BadRequest("kind must be \"account\" or \"address\"".into());
    let (kind, sip_key) = match request.kind.as_str() {
        "account" => (LockKind::Account, LockKey::User(request.name.clone())),
        "address" => {
            let ip = request.name.parse().map_err(|_| {
                ApiError::BadRequest(format!("{:?} is not an IP address", request.name))
            })?;
            (LockKind::Address, LockKey::Source(ip))
        }
        _ => return Err(bad()),
    };
    let in_store = state
        .store
        .clear_login_failures(kind, &request.name)
        .await?;
    let on_phones = state
        .nurse_phones
        .as_ref()
        .is_some_and(|p| p.lift(&sip_key));
    if !in_store && !on_phones {
        return Err(ApiError::NotFound("no lock on that name".into()));
    }
    let name: String = request.name.chars().take(80).collect();
    let detail = format!("{}={name}", kind.as_str());
    state
        .store
        .audit(&staff.audit("auth.lock_lifted", None, detail))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
