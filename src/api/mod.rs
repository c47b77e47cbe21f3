//! The HTTP shell (axum): handlers parse, call one store or queue function, and map
//! the result. JSON under `/api/v1`, health probes at the root.

pub mod error;
pub mod health;
pub mod worklist;

pub use error::ApiError;
pub use worklist::WorklistCase;

use crate::store::Store;
use axum::routing::get;
use axum::Router;

/// What every handler can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ApiState {
    pub store: Store,
}

impl ApiState {
    pub fn new(store: Store) -> ApiState {
        ApiState { store }
    }
}

/// All routes. Unknown paths get a JSON 404, wrong methods a JSON 405.
pub fn router(state: ApiState) -> Router {
    let v1 = Router::new().route("/worklist", get(worklist::worklist));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .nest("/api/v1", v1)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    // The path is ours to echo; the query string could hold anything, so drop it.
    let path: String = uri.path().chars().take(200).collect();
    ApiError::NotFound(format!("no such endpoint: {path}"))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests;
