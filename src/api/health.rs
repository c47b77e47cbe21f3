//! Liveness and readiness for load balancers and orchestration.

use super::{ApiError, ApiState};
use axum::extract::State;

/// `GET /healthz`: the process serves HTTP. Always `200 ok`.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: `200 ready` when the database answers, else `503` with the reason.
pub async fn readyz(State(state): State<ApiState>) -> Result<&'static str, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database not reachable");
            Err(ApiError::Unavailable(format!(
                "not ready: the {} database does not answer",
                state.store.backend_name()
            )))
        }
    }
}
