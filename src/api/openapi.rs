//! `GET /openapi.json`: the API description, generated from the handlers'
//! annotations (utoipa), so it cannot drift from the code.

use super::{
    auth, calls, cancel, cases, events, handoff, intake, lockouts, reports, sms, supervisor,
    surveys, voice_note, worklist,
};
use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The generated document.
#[derive(OpenApi)]
#[openapi(
    info(title = "phone-entrance", description = "1177 phone entrance: digital intake, nurses' worklist and staff sign-in"),
    paths(
        auth::login, auth::logout, auth::me,
        intake::post_case,
        worklist::worklist, worklist::review,
        cases::get_case, cases::claim_next, cases::claim, cases::renew_claim, cases::release, cases::outcome,
        events::events,
        handoff::list, handoff::hand_off,
        cancel::cancel_case, voice_note::get_voice_note,
        calls::start_call, calls::call_status, calls::hangup,
        supervisor::get_settings, supervisor::put_settings, supervisor::messages, supervisor::get_stats,
        supervisor::unreachable, lockouts::list, lockouts::lift,
        supervisor::forecast,
        sms::status_report,
        surveys::post_survey, surveys::summary,
        reports::get_report,
    ),
    components(schemas(
        auth::LoginRequest, auth::Me,
        intake::IntakeRequest, intake::IntakeAnswer, intake::IntakeResponse,
        worklist::WorklistCase, worklist::AnswerDoc,
        cases::CaseView, cases::ListingView, cases::CaseState, cases::ClaimLease, cases::OutcomeRequest,
        cancel::CancelRequest,
        handoff::UnitView, handoff::HandoffView, handoff::HandoffRequest, handoff::HandoffDone,
        crate::config::UnitKind, crate::supervisor::unit_waits::UnitWaits,
        calls::CallRequest, calls::CallStarted, crate::dialer::CallStatus,
        crate::dialer::CallState, crate::dialer::CallResult,
        crate::supervisor::SupervisorSettings, crate::queue::Closure,
        crate::supervisor::SupervisorStats, crate::supervisor::stats::LevelStats, crate::store::SelfCareRouteCount, crate::supervisor::overdue::OverdueAlert, crate::supervisor::overdue::OverdueCase, supervisor::MessageOption,
        supervisor::UnreachableCaseView, lockouts::LockView, lockouts::LiftRequest,
        sms::DeliveryReport, sms::SmsView,
        surveys::SurveyPost, surveys::SurveyStored, surveys::SurveySummaryView,
        crate::store::SurveyGroup, crate::store::QuestionSummary,
        crate::supervisor::report::Report, crate::supervisor::report::ReportRow,
        crate::supervisor::report::AbandonedRow, crate::supervisor::report::Period,
        crate::supervisor::report::charts::Charts, crate::supervisor::report::charts::LevelHours,
        crate::supervisor::report::charts::WeekShare,
        crate::supervisor::staffing::StaffingForecast, crate::supervisor::staffing::ForecastHour,
        crate::supervisor::staffing::ForecastDay,
    )),
    modifiers(&Security),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::SESSION_COOKIE))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Serves the document.
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
