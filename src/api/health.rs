//! Liveness and readiness for load balancers and orchestration.

use super::{ApiError, ApiState};
use axum::extract::State;

/// `GET /healthz`: the process serves HTTP. Always `200 ok`.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: `200 ready` when this node takes new calls: not draining,
/// and a heartbeat write to the database succeeds now; else `503` and why.
pub async fn readyz(State(state): State<ApiState>) -> Result<&'static str, ApiError> {
    match state.readiness.probe(&state.store).await {
        Ok(()) => Ok("ready"),
        Err(e) => Err(ApiError::Unavailable(format!("not ready: {e}"))),
    }
}
