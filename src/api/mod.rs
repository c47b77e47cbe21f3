//! The HTTP shell (axum): handlers parse, call one store or queue function, and map
//! the result. JSON under `/api/v1`, health probes and `/openapi.json` at the root.
//!
//! Serve with `into_make_service_with_connect_info::<SocketAddr>()` so the audit
//! log records the client address.

pub mod auth;
pub mod calls;
pub mod cancel;
pub mod cases;
pub mod error;
pub mod events;
pub mod handoff;
pub mod health;
pub mod intake;
pub mod lockouts;
pub mod openapi;
pub mod origin;
pub mod pages;
pub mod reports;
pub mod sms;
pub mod staff_guard;
pub mod supervisor;
pub mod surveys;
pub mod voice_note;
pub mod worklist;

pub use error::ApiError;
pub use worklist::WorklistCase;

use crate::booking::Booking;
use crate::live::Live;
use crate::readiness::Readiness;
use crate::store::Store;
use crate::telephony::CallMetrics;
use auth::IntakeClients;
use axum::routing::{get, post};
use axum::Router;
use intake::IntakeQueue;
use std::sync::Arc;

/// What every handler can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ApiState {
    pub store: Store,
    /// Client systems allowed to post cases (bearer tokens).
    pub intake_clients: Arc<IntakeClients>,
    /// Targets and staffing for digital cases' deadlines and estimates.
    pub intake_queue: Arc<IntakeQueue>,
    /// Supervisor settings in force and the queue change feed.
    pub live: Arc<Live>,
    /// Estimates and handling times, shared with the phone side (none in
    /// handler tests: digital cases then get the position-based estimate).
    pub booking: Option<Arc<Booking>>,
    /// The phone side's counters (calls in the IVR), when running as a service.
    pub call_metrics: Option<Arc<CallMetrics>>,
    /// Message prompts (`msg_*`) a supervisor can choose.
    pub message_ids: Arc<Vec<String>>,
    /// Prompt texts, so the staff pages show a message's words (none in handler tests).
    pub prompt_texts: Option<Arc<crate::ivr::prompts::Manifest>>,
    /// Callbacks (none in handler tests built without the phone side).
    pub dialer: Option<Arc<crate::dialer::Dialer>>,
    /// Whether this node takes new calls (`/readyz`).
    pub readiness: Arc<Readiness>,
    /// Sign-in lockouts, the argon2 pool, session idle time, origins.
    pub guard: Arc<staff_guard::StaffGuard>,
    /// Desk-phone registrations (their REGISTER locks), when running as a service.
    pub nurse_phones: Option<Arc<crate::telephony::NursePhones>>,
    /// Delivery reports' token and the SMS counters (none: reports refused).
    pub sms: Option<Arc<crate::sms::SmsReports>>,
    /// Care units (`units.toml`): worklists per unit, handoffs.
    pub units: Arc<crate::config::Units>,
    /// Handoff counters for `/metrics`.
    pub handoff_metrics: Arc<handoff::HandoffMetrics>,
    /// Survey counters (digital posts).
    pub survey_metrics: Arc<crate::dialer::survey::SurveyMetrics>,
}

impl ApiState {
    /// Just the store: no intake clients, default settings, no live feed (handler tests).
    pub fn new(store: Store) -> ApiState {
        ApiState {
            live: Live::detached(store.clone()),
            store,
            intake_clients: Arc::new(IntakeClients::default()),
            intake_queue: Arc::new(IntakeQueue::default()),
            booking: None,
            call_metrics: None,
            message_ids: Arc::new(Vec::new()),
            prompt_texts: None,
            dialer: None,
            readiness: Readiness::new("api"),
            guard: Arc::new(staff_guard::StaffGuard::default()),
            nurse_phones: None,
            sms: None,
            units: Arc::new(crate::config::Units::default()),
            handoff_metrics: Arc::default(),
            survey_metrics: Arc::default(),
        }
    }

    /// Care units from `units.toml`, and where handoffs are counted.
    pub fn with_units(
        mut self,
        units: crate::config::Units,
        metrics: Arc<handoff::HandoffMetrics>,
    ) -> ApiState {
        self.units = Arc::new(units);
        self.handoff_metrics = metrics;
        self
    }

    /// The phone side's booking and counters, and the live settings they follow.
    pub fn with_phone_side(
        mut self,
        booking: Arc<Booking>,
        call_metrics: Arc<CallMetrics>,
        live: Arc<Live>,
        message_ids: Vec<String>,
    ) -> ApiState {
        self.booking = Some(booking);
        self.call_metrics = Some(call_metrics);
        self.live = live;
        self.message_ids = Arc::new(message_ids);
        self
    }

    /// The prompt manifest: the words of the messages a supervisor picks.
    pub fn with_prompt_texts(mut self, manifest: Arc<crate::ivr::prompts::Manifest>) -> ApiState {
        self.prompt_texts = Some(manifest);
        self
    }

    /// The node's readiness, shared with the SIP driver.
    pub fn with_survey_metrics(
        mut self,
        metrics: Arc<crate::dialer::survey::SurveyMetrics>,
    ) -> ApiState {
        self.survey_metrics = metrics;
        self
    }

    pub fn with_readiness(mut self, readiness: Arc<Readiness>) -> ApiState {
        self.readiness = readiness;
        self
    }

    /// Sign-in and session guards from `staff.toml`.
    pub fn with_guard(mut self, guard: Arc<staff_guard::StaffGuard>) -> ApiState {
        self.guard = guard;
        self
    }

    pub fn with_nurse_phones(mut self, phones: Arc<crate::telephony::NursePhones>) -> ApiState {
        self.nurse_phones = Some(phones);
        self
    }

    pub fn with_sms(mut self, sms: crate::sms::SmsReports) -> ApiState {
        self.sms = Some(Arc::new(sms));
        self
    }

    pub fn with_dialer(mut self, dialer: Arc<crate::dialer::Dialer>) -> ApiState {
        self.dialer = Some(dialer);
        self
    }

    pub fn with_intake_clients(mut self, clients: IntakeClients) -> ApiState {
        self.intake_clients = Arc::new(clients);
        self
    }

    pub fn with_intake_queue(mut self, queue: IntakeQueue) -> ApiState {
        self.intake_queue = Arc::new(queue);
        self
    }
}

/// All routes. Unknown paths get a JSON 404, wrong methods a JSON 405.
pub fn router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route("/login", post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/worklist", get(worklist::worklist))
        .route("/review", get(worklist::review))
        .route("/cases", post(intake::post_case))
        .route("/surveys", post(surveys::post_survey))
        .route("/surveys/summary", get(surveys::summary))
        .route("/cases/{id}", get(cases::get_case))
        .route("/claim-next", post(cases::claim_next))
        .route("/cases/{id}/claim", post(cases::claim))
        .route("/cases/{id}/claim/renew", post(cases::renew_claim))
        .route("/cases/{id}/release", post(cases::release))
        .route("/cases/{id}/outcome", post(cases::outcome))
        .route("/cases/{id}/handoff", post(handoff::hand_off))
        .route("/units", get(handoff::list))
        .route("/cases/cancel", post(cancel::cancel_case))
        .route("/cases/{id}/voice-note", get(voice_note::get_voice_note))
        .route("/events", get(events::events))
        .route("/cases/{id}/call", post(calls::start_call))
        .route("/calls/{call_id}", get(calls::call_status))
        .route("/calls/{call_id}/hangup", post(calls::hangup))
        .route(
            "/supervisor/settings",
            get(supervisor::get_settings).put(supervisor::put_settings),
        )
        .route("/supervisor/messages", get(supervisor::messages))
        .route("/supervisor/stats", get(supervisor::get_stats))
        .route("/supervisor/unreachable", get(supervisor::unreachable))
        .route("/reports", get(reports::get_report))
        .route("/supervisor/forecast", get(supervisor::forecast))
        .route("/supervisor/lockouts", get(lockouts::list))
        .route("/supervisor/lockouts/lift", post(lockouts::lift))
        .route("/sms/status", post(sms::status_report))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            origin::guard,
        ));
    Router::new()
        .merge(pages::routes())
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::openapi_json))
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
