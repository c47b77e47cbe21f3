//! `GET /fhir/metadata`: what this server supports, as a `CapabilityStatement`.
//! Kept beside the handlers it describes; a test checks it parses as R4.

use super::fhir_json;
use super::outcome::FhirError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fhir_r4::coded::Coded;
use fhir_r4::codes::{
    CapabilityStatementKind, FhirVersion, PublicationStatus, ResourceTypes, RestfulCapabilityMode,
    SearchParamType,
};
use fhir_r4::resources::capability_statement::{
    CapabilityStatementRest, CapabilityStatementRestInteraction, CapabilityStatementRestResource,
    CapabilityStatementRestResourceInteraction, CapabilityStatementRestResourceSearchParam,
    CapabilityStatementRestSecurity, CapabilityStatementSoftware,
};
use fhir_r4::resources::{CapabilityStatement, Resource};
use fhir_r4::types::{Code, Markdown, String as FhirString};

fn md(s: &str) -> Option<Markdown> {
    Some(Markdown(s.to_string()))
}

/// The statement (sans-IO; `date` is when this build's statement applies from).
pub fn capability_statement(date: &str) -> Option<CapabilityStatement> {
    let task = CapabilityStatementRestResource {
        r#type: Coded::Known(ResourceTypes::Task),
        documentation: md(
            "Cases as Tasks: status requested (waiting, holding, review), in-progress (claimed), \
             completed, cancelled, failed. Answers as a contained QuestionnaireResponse (#answers), \
             the resident as a contained Patient (#patient). Search lists open cases only; \
             _sort=priority (queue order, the default) is the only sort. Every read is audited.",
        ),
        interaction: ["read", "search-type"]
            .into_iter()
            .map(|code| CapabilityStatementRestResourceInteraction {
                code: Code(code.to_string()),
                ..Default::default()
            })
            .collect(),
        search_param: vec![CapabilityStatementRestResourceSearchParam {
            name: FhirString("status".into()),
            r#type: Coded::Known(SearchParamType::Token),
            documentation: md("requested, in-progress (comma-separated: either)"),
            ..Default::default()
        }],
        ..Default::default()
    };
    let rest = CapabilityStatementRest {
        mode: Coded::Known(RestfulCapabilityMode::Server),
        documentation: md(
            "POST a transaction Bundle (Task + QuestionnaireResponse + Patient) to the base URL \
             to register a digital case; idempotent on Task.identifier.",
        ),
        security: Some(CapabilityStatementRestSecurity {
            description: md(
                "Authorization: Bearer <token> of a client system in intake-clients.toml.",
            ),
            ..Default::default()
        }),
        resource: vec![task],
        interaction: vec![CapabilityStatementRestInteraction {
            code: Code("transaction".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    CapabilityStatement::builder()
        .name(FhirString("PhoneEntrance1177".into()))
        .title(FhirString(
            "1177 phone entrance: digital intake and case worklist".into(),
        ))
        .status(Coded::Known(PublicationStatus::Active))
        .date(fhir_r4::types::DateTime(date.to_string()))
        .kind(Coded::Known(CapabilityStatementKind::Instance))
        .software(CapabilityStatementSoftware {
            name: FhirString("phone-entrance".into()),
            version: Some(FhirString(env!("CARGO_PKG_VERSION").into())),
            ..Default::default()
        })
        .fhir_version(Coded::Known(FhirVersion::N401))
        .format(vec1::vec1![
            Code("json".into()),
            Code(super::FHIR_JSON.into())
        ])
        .rest(vec![rest])
        .build()
        .ok()
}

/// `GET /fhir/metadata` (no authentication: it says nothing about cases).
pub async fn metadata() -> Response {
    match capability_statement("2026-12-07") {
        Some(c) => fhir_json(StatusCode::OK, &Resource::CapabilityStatement(Box::new(c))),
        None => FhirError::internal().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_says_r4_json_task_search_and_transaction() {
        let c = capability_statement("2026-12-07");
        let json = c
            .map(|c| serde_json::to_value(Resource::CapabilityStatement(Box::new(c))))
            .and_then(Result::ok)
            .unwrap_or_default();
        assert_eq!(json["resourceType"], "CapabilityStatement");
        assert_eq!(json["fhirVersion"], "4.0.1");
        assert_eq!(json["format"][0], "json");
        assert_eq!(json["rest"][0]["interaction"][0]["code"], "transaction");
        assert_eq!(json["rest"][0]["resource"][0]["type"], "Task");
        assert_eq!(
            json["rest"][0]["resource"][0]["searchParam"][0]["name"],
            "status"
        );
        let back: Result<Resource, _> = serde_json::from_value(json);
        assert!(matches!(back, Ok(Resource::CapabilityStatement(_))));
    }
}
