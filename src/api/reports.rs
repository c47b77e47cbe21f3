//! `GET /api/v1/reports`: the follow-up figures for supervisors, as JSON or
//! a CSV download (no personal data: counts and durations).

use super::auth::{Role, Staff};
use super::{ApiError, ApiState};
use crate::supervisor::report::{self, csv, Period, Range, Report};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The query string.
#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct ReportParams {
    /// `day`, `week` or `month`.
    pub period: Option<String>,
    /// First local day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last local day (included), `YYYY-MM-DD`.
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// `GET /api/v1/reports?period=week&from=2026-11-01&to=2026-11-30[&format=csv]`
/// (audited as `reports.read`).
#[utoipa::path(get, path = "/api/v1/reports", tag = "supervisor", security(("session" = [])),
    params(ReportParams),
    responses((status = 200, body = Report, description = "JSON, or CSV with format=csv (attachment); audited as reports.read"),
              (status = 400, description = "bad period, dates or format"),
              (status = 401, description = "not signed in"), (status = 403, description = "not a supervisor")))]
pub async fn get_report(
    State(state): State<ApiState>,
    staff: Staff,
    query: Result<Query<ReportParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    staff.require(Role::Supervisor)?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let bad = ApiError::BadRequest;
    let need = |v: Option<String>, name: &str| {
        v.ok_or_else(|| {
            bad(format!(
                "{name} is missing: e.g. ?period=week&from=2026-11-01&to=2026-11-30"
            ))
        })
    };
    let period = Period::parse(&need(q.period, "period")?).map_err(bad)?;
    let range = Range::parse(&need(q.from, "from")?, &need(q.to, "to")?).map_err(bad)?;
    let csv_wanted = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(bad("format must be json or csv".to_string())),
    };
    let (start, end) = range.utc();
    let facts = state.store.report_facts(start, end).await?;
    let report = report::build(
        &facts,
        period,
        range,
        &state.intake_queue.targets,
        |stored| state.units.id_of(stored).to_string(),
    );
    let detail = format!(
        "period={} from={} to={} format={}",
        period_word(period),
        range.from,
        range.to,
        if csv_wanted { "csv" } else { "json" }
    );
    state
        .store
        .audit(&staff.audit("reports.read", None, detail))
        .await?;
    if !csv_wanted {
        return Ok(Json(report).into_response());
    }
    let name = format!(
        "attachment; filename=\"report-{}-{}-{}.csv\"",
        period_word(period),
        range.from,
        range.to
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        csv::to_csv(&report),
    )
        .into_response())
}

fn period_word(p: Period) -> &'static str {
    match p {
        Period::Day => "day",
        Period::Week => "week",
        Period::Month => "month",
    }
}
