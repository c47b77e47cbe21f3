//! Every `/fhir` failure as an `OperationOutcome` (`application/fhir+json`):
//! severity `error`, an issue code, and diagnostics that name fields and rules
//! but never echo a value (it could be a personnummer or a phone number).

use crate::api::ApiError;
use crate::store::StoreError;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fhir_r4::coded::Coded;
use fhir_r4::codes::{IssueSeverity, IssueType};
use fhir_r4::resources::operation_outcome::OperationOutcomeIssue;
use fhir_r4::resources::{OperationOutcome, Resource};

/// The FHIR JSON media type.
pub const FHIR_JSON: &str = "application/fhir+json";

/// A failed FHIR request: HTTP status, issue code and diagnostics.
#[derive(Debug)]
pub struct FhirError {
    pub status: StatusCode,
    pub code: IssueType,
    pub diagnostics: String,
}

impl FhirError {
    pub fn new(status: StatusCode, code: IssueType, diagnostics: impl Into<String>) -> FhirError {
        FhirError {
            status,
            code,
            diagnostics: diagnostics.into(),
        }
    }

    /// 400 `invalid`: the content breaks a rule (the message says which).
    pub fn invalid(diagnostics: impl Into<String>) -> FhirError {
        FhirError::new(StatusCode::BAD_REQUEST, IssueType::Invalid, diagnostics)
    }

    /// 400 `structure`: not the resource or JSON shape expected.
    pub fn structure(diagnostics: impl Into<String>) -> FhirError {
        FhirError::new(StatusCode::BAD_REQUEST, IssueType::Structure, diagnostics)
    }

    /// 400 `not-supported`: a search parameter or value we do not serve.
    pub fn not_supported(diagnostics: impl Into<String>) -> FhirError {
        FhirError::new(
            StatusCode::BAD_REQUEST,
            IssueType::NotSupported,
            diagnostics,
        )
    }

    pub fn not_found(diagnostics: impl Into<String>) -> FhirError {
        FhirError::new(StatusCode::NOT_FOUND, IssueType::NotFound, diagnostics)
    }

    pub fn internal() -> FhirError {
        FhirError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            IssueType::Exception,
            "internal error; the request was not completed",
        )
    }
}

/// The `OperationOutcome` for one error issue.
pub fn outcome(code: IssueType, diagnostics: &str) -> Option<OperationOutcome> {
    let issue = OperationOutcomeIssue {
        severity: Coded::Known(IssueSeverity::Error),
        code: Coded::Known(code),
        diagnostics: Some(fhir_r4::types::String(diagnostics.to_string())),
        ..Default::default()
    };
    OperationOutcome::builder()
        .issue(vec1::Vec1::new(issue))
        .build()
        .ok()
}

impl From<ApiError> for FhirError {
    /// The JSON API's errors keep their status; their messages carry no personal data.
    fn from(e: ApiError) -> FhirError {
        let status = e.status();
        let code = match &e {
            ApiError::BadRequest(_) => IssueType::Invalid,
            ApiError::Unauthorized(_) => IssueType::Login,
            ApiError::Forbidden(_) => IssueType::Forbidden,
            ApiError::NotFound(_) | ApiError::Store(StoreError::NotFound(_)) => IssueType::NotFound,
            ApiError::Conflict(_) => IssueType::Conflict,
            ApiError::PayloadTooLarge(_) => IssueType::TooCostly,
            ApiError::TooManyRequests { .. } | ApiError::Store(StoreError::CapReached(_)) => {
                IssueType::Throttled
            }
            ApiError::MethodNotAllowed | ApiError::UnsupportedMediaType(_) => {
                IssueType::NotSupported
            }
            ApiError::Unavailable(_) | ApiError::Busy { .. } => IssueType::Transient,
            ApiError::Store(_) => IssueType::Exception,
        };
        let diagnostics = match &e {
            ApiError::Store(StoreError::NotFound(_) | StoreError::CapReached(_)) => e.to_string(),
            ApiError::Store(inner) => {
                tracing::error!(error = %inner, "store error while serving a FHIR request");
                "internal database error; the request was not completed".to_string()
            }
            other => other.to_string(),
        };
        FhirError::new(status, code, diagnostics)
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let body =
            outcome(self.code, &self.diagnostics).map(|o| Resource::OperationOutcome(Box::new(o)));
        let mut response = match body {
            Some(body) => super::fhir_json(self.status, &body),
            None => self.status.into_response(),
        };
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_is_an_error_issue_with_diagnostics() {
        let o = outcome(IssueType::Invalid, "Task.identifier is missing");
        let json = o
            .map(|o| serde_json::to_value(Resource::OperationOutcome(Box::new(o))))
            .and_then(Result::ok)
            .unwrap_or_default();
        assert_eq!(json["resourceType"], "OperationOutcome");
        assert_eq!(json["issue"][0]["severity"], "error");
        assert_eq!(json["issue"][0]["code"], "invalid");
        assert_eq!(
            json["issue"][0]["diagnostics"],
            "Task.identifier is missing"
        );
    }

    #[test]
    fn api_errors_keep_status_and_get_a_code() {
        let e = FhirError::from(ApiError::Conflict("different content".into()));
        assert_eq!(e.status, StatusCode::CONFLICT);
        assert_eq!(e.code, IssueType::Conflict);
        let e = FhirError::from(ApiError::Unauthorized("missing bearer token".into()));
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        assert_eq!(e.code, IssueType::Login);
    }
}
