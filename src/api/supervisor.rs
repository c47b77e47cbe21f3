//! Supervisor endpoints: live settings (applied to the next call on every
//! node), the message prompts to choose from, and the statistics.

use super::auth::{Role, Staff};
use super::{ApiError, ApiState};
use crate::supervisor::overdue::OverdueAlert;
use crate::supervisor::stats::NodeCalls;
use crate::supervisor::{stats, SupervisorSettings, SupervisorStats};
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use uuid::Uuid;

/// `GET /api/v1/supervisor/settings`.
#[utoipa::path(get, path = "/api/v1/supervisor/settings", tag = "supervisor", security(("session" = [])),
    responses((status = 200, body = SupervisorSettings), (status = 401, description = "not signed in"),
              (status = 403, description = "not a supervisor")))]
pub async fn get_settings(
    State(state): State<ApiState>,
    staff: Staff,
) -> Result<Json<SupervisorSettings>, ApiError> {
    staff.require(Role::Supervisor)?;
    Ok(Json(state.live.settings()))
}

/// `PUT /api/v1/supervisor/settings`: validates, stores (with an audit entry)
/// and applies at once; other nodes follow through the change feed.
#[utoipa::path(put, path = "/api/v1/supervisor/settings", tag = "supervisor", security(("session" = [])),
    request_body = SupervisorSettings,
    responses((status = 200, body = SupervisorSettings, description = "saved; audited as settings.changed"),
              (status = 400, description = "invalid settings"), (status = 401, description = "not signed in"),
              (status = 403, description = "not a supervisor")))]
pub async fn put_settings(
    State(state): State<ApiState>,
    staff: Staff,
    body: Result<Json<SupervisorSettings>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<SupervisorSettings>, ApiError> {
    staff.require(Role::Supervisor)?;
    let Json(new) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    new.validate(&state.message_ids)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let from = staff
        .ip
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "-".to_string());
    let detail = format!("{} from={from}", new.audit_detail());
    state
        .live
        .update(new, &staff.username, &detail, Utc::now())
        .await?;
    tracing::info!(user = %staff.username, "supervisor settings changed");
    Ok(Json(state.live.settings()))
}

/// One message a supervisor can put after the greeting, with its words
/// (from the prompt manifest; none when the manifest lacks the id).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MessageOption {
    pub id: String,
    /// What the caller hears in Swedish.
    pub sv: Option<String>,
    /// What the caller hears in English.
    pub en: Option<String>,
}

/// `GET /api/v1/supervisor/messages`: prompts whose id starts with `msg_`.
#[utoipa::path(get, path = "/api/v1/supervisor/messages", tag = "supervisor", security(("session" = [])),
    responses((status = 200, body = [MessageOption]), (status = 403, description = "not a supervisor")))]
pub async fn messages(
    State(state): State<ApiState>,
    staff: Staff,
) -> Result<Json<Vec<MessageOption>>, ApiError> {
    staff.require(Role::Supervisor)?;
    Ok(Json(
        state
            .message_ids
            .iter()
            .map(|id| {
                let text = |lang| {
                    state
                        .prompt_texts
                        .as_ref()
                        .and_then(|m| m.text(id, lang))
                        .map(str::to_owned)
                };
                MessageOption {
                    id: id.clone(),
                    sv: text(crate::ivr::Language::Sv),
                    en: text(crate::ivr::Language::En),
                }
            })
            .collect(),
    ))
}

/// `GET /api/v1/supervisor/stats`.
#[utoipa::path(get, path = "/api/v1/supervisor/stats", tag = "supervisor", security(("session" = [])),
    responses((status = 200, body = SupervisorStats), (status = 403, description = "not a supervisor")))]
pub async fn get_stats(
    State(state): State<ApiState>,
    staff: Staff,
) -> Result<Json<SupervisorStats>, ApiError> {
    staff.require(Role::Supervisor)?;
    let now = Utc::now();
    let counts = state
        .store
        .stats_counts(state.live.day_start(now), now - Duration::hours(1))
        .await?;
    let mut estimates = [None; 5];
    let count = |c: &prometheus_client::metrics::counter::Counter| {
        i64::try_from(c.get()).unwrap_or(i64::MAX)
    };
    let node = state
        .call_metrics
        .as_ref()
        .map(|m| NodeCalls {
            calls_in_ivr: m.calls_active.get(),
            case_store_failures: count(&m.case_store_failures),
            fallback_transfers: count(&m.fallback_transfers),
            fallback_failures: count(&m.fallback_failures),
        })
        .unwrap_or_default();
    if let Some(booking) = &state.booking {
        for (i, slot) in estimates.iter_mut().enumerate() {
            let level = u8::try_from(i + 1).unwrap_or(5);
            *slot = booking
                .estimate(level)
                .await
                .and_then(|t| next_local(now, t.hour, t.minute));
        }
    }
    let day_start = state.live.day_start(now);
    let open = state.store.queue_snapshot(now, day_start).await?.open;
    let mut stats = stats::build(
        now,
        &counts,
        &state.live.settings(),
        estimates,
        node,
        OverdueAlert::at(&open, now),
    );
    let per_unit = state.store.unit_waits(now).await?;
    stats.units = crate::supervisor::unit_waits::unit_waits(now, &per_unit, &state.units);
    Ok(Json(stats))
}

/// A case closed today because no callback attempt reached the resident (no
/// personal data: open it with `GET /api/v1/cases/{id}` to see the number).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct UnreachableCaseView {
    pub id: Uuid,
    #[schema(value_type = u8, minimum = 1, maximum = 5)]
    pub priority: crate::queue::Priority,
    /// Failed callback attempts.
    pub attempts: u32,
    pub registered_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    /// When the last attempt failed.
    pub closed_at: Option<DateTime<Utc>>,
}

impl From<crate::store::UnreachableCase> for UnreachableCaseView {
    fn from(c: crate::store::UnreachableCase) -> UnreachableCaseView {
        UnreachableCaseView {
            id: c.id,
            priority: c.priority,
            attempts: c.attempts,
            registered_at: c.registered_at,
            deadline: c.deadline,
            closed_at: c.closed_at,
        }
    }
}

/// `GET /api/v1/supervisor/unreachable`: cases closed as unreachable since local
/// midnight, most recent first (audited as `unreachable.read`).
#[utoipa::path(get, path = "/api/v1/supervisor/unreachable", tag = "supervisor", security(("session" = [])),
    responses((status = 200, body = [UnreachableCaseView], description = "audited as unreachable.read"),
              (status = 401, description = "not signed in"), (status = 403, description = "not a supervisor")))]
pub async fn unreachable(
    State(state): State<ApiState>,
    staff: Staff,
) -> Result<Json<Vec<UnreachableCaseView>>, ApiError> {
    staff.require(Role::Supervisor)?;
    let now = Utc::now();
    let cases = state
        .store
        .unreachable_since(state.live.day_start(now))
        .await?;
    state
        .store
        .audit(&staff.audit("unreachable.read", None, format!("cases={}", cases.len())))
        .await?;
    Ok(Json(
        cases.into_iter().map(UnreachableCaseView::from).collect(),
    ))
}

/// The next Stockholm wall-clock `hour:minute` at or after (now - 5 min): the
/// booking rounds up to 5 minutes, so a time just past is still "now".
fn next_local(now: DateTime<Utc>, hour: u8, minute: u8) -> Option<DateTime<Utc>> {
    let tz = chrono_tz::Europe::Stockholm;
    let time = NaiveTime::from_hms_opt(u32::from(hour), u32::from(minute), 0)?;
    let today = now.with_timezone(&tz).date_naive();
    [today, today.succ_opt()?]
        .into_iter()
        .filter_map(|d| tz.from_local_datetime(&d.and_time(time)).earliest())
        .map(|t| t.with_timezone(&Utc))
        .find(|t| *t >= now - Duration::minutes(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_time_maps_to_today_or_tomorrow() {
        // 09:00 UTC = 10:00 Stockholm in March.
        let now = Utc.with_ymd_and_hms(2025, 3, 3, 9, 0, 0).single().unwrap();
        assert_eq!(
            next_local(now, 10, 30),
            Utc.with_ymd_and_hms(2025, 3, 3, 9, 30, 0).single()
        );
        assert_eq!(
            next_local(now, 9, 0),
            Utc.with_ymd_and_hms(2025, 3, 4, 8, 0, 0).single()
        );
    }
}

/// `GET /api/v1/supervisor/forecast`: nurses needed per hour for the coming
/// week (replay of the queue against arrivals learnt per weekday and hour),
/// beside the nurses on duty and the callback capacity each implies.
#[utoipa::path(get, path = "/api/v1/supervisor/forecast", tag = "supervisor", security(("session" = [])),
    responses((status = 200, body = crate::supervisor::staffing::StaffingForecast),
              (status = 401, description = "not signed in"), (status = 403, description = "not a supervisor")))]
pub async fn forecast(
    State(state): State<ApiState>,
    staff: Staff,
) -> Result<Json<crate::supervisor::staffing::StaffingForecast>, ApiError> {
    use crate::supervisor::staffing::{self, PlanSettings};
    staff.require(Role::Supervisor)?;
    let now = Utc::now();
    let (settings, profile) = match &state.booking {
        Some(b) => (b.plan_settings(), b.profile(now).await?),
        None => {
            // The API alone (no phone side): the intake's targets and
            // staffing, default shares, the profile read now.
            let q = &state.intake_queue;
            let settings = PlanSettings {
                tz: crate::queue::OpeningHours::default().tz(),
                targets: q.targets.clone(),
                shares: [0.9; 5],
                handling: [q.queue.handling(); 5],
                nurses_on_duty: q.queue.nurses_on_duty,
            };
            let profile = state
                .store
                .arrival_profile(settings.tz, now, crate::booking::PROFILE_WEEKS)
                .await?;
            (settings, std::sync::Arc::new(profile))
        }
    };
    let window = Duration::from_std(crate::booking::ARRIVAL_WINDOW).unwrap_or_default();
    let snap = state
        .store
        .queue_snapshot(now - window, state.live.day_start(now))
        .await?;
    let recent = snap.arrivals.iter().sum();
    // A week of replayed hours: off the async workers.
    let forecast = tokio::task::spawn_blocking(move || {
        staffing::plan(
            &settings,
            &profile,
            now,
            (recent, window),
            &snap.open,
            staffing::HOURS,
        )
    })
    .await
    .map_err(|_| ApiError::Unavailable("the forecast could not be computed".into()))?;
    Ok(Json(forecast))
}
