//! FHIR R4 (4.0.1) for the digital channel, over the same cases as `/api/v1`:
//! - `POST /fhir`: a transaction `Bundle` (FHIR posts transactions to the base
//!   URL) with a `Task`, a `QuestionnaireResponse` and a `Patient`, registered
//!   through the digital intake's own validation and store path
//!   ([`crate::api::intake::register`]), idempotent on `Task.identifier`;
//! - `GET /fhir/Task?status=...&_sort=priority` and `GET /fhir/Task/{id}`: cases
//!   as `Task`s with their answers (a contained `QuestionnaireResponse`), audited;
//! - `GET /fhir/metadata`: the `CapabilityStatement`.
//!
//! Every endpoint takes the intake clients' bearer tokens
//! (`sip-config/intake-clients.toml`): FHIR clients are systems, not people
//! signed in to the staff pages. Errors are `OperationOutcome`s.
//! Resources are the `fhir-r4` crate's types; the mapping to and from cases is
//! sans-IO ([`intake::bundle_to_request`], [`tasks::case_to_task`]).

pub mod capability;
pub mod intake;
pub mod outcome;
pub mod tasks;

use crate::api::ApiState;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use outcome::FhirError;

pub use outcome::FHIR_JSON;

/// Extension on `Task` carrying the 1177 urgency level (1 most urgent to 5) as
/// `valueInteger`; it is what counts when present (see [`intake::level_of`]).
pub const URGENCY_LEVEL_URL: &str = "urn:phone-entrance:fhir:urgency-level";
pub use crate::listing::{HSA_ID_SYSTEM, PERSONNUMMER_SYSTEM};

/// The `/fhir` routes, with the service's state; merged beside `api::router`.
pub fn router(state: ApiState) -> Router {
    let fhir = Router::new()
        .route("/", post(intake::post_bundle))
        .route("/metadata", get(capability::metadata))
        .route("/Task", get(tasks::search))
        .route("/Task/{id}", get(tasks::read))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    // The nested "/" is `/fhir` itself, the transaction endpoint.
    Router::new().nest("/fhir", fhir).with_state(state)
}

/// A resource as `application/fhir+json` with this status.
pub(crate) fn fhir_json(status: axum::http::StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut r = (status, bytes).into_response();
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
            r
        }
        Err(_) => FhirError::internal().into_response(),
    }
}

async fn not_found(uri: axum::http::Uri) -> FhirError {
    let path: String = uri.path().chars().take(200).collect();
    FhirError::not_found(format!(
        "no such FHIR endpoint: {path}; see /fhir/metadata for what is supported"
    ))
}

async fn method_not_allowed() -> FhirError {
    FhirError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        fhir_r4::codes::IssueType::NotSupported,
        "method not allowed here; see /fhir/metadata",
    )
}
