//! Post-contact surveys: `POST /api/v1/surveys` for the digital channel's
//! answers (intake bearer token), and `GET /api/v1/surveys/summary` for
//! supervisors (per channel, level and unit). Answers are anonymous: nothing
//! in a post names a case or a person, and the store keeps only the hour.

use super::auth::{IntakeClient, Role, Staff};
use super::error::read_body;
use super::intake::describe_json_error;
use super::{ApiError, ApiState};
use crate::queue::Priority;
use crate::store::{Channel, NewSurvey, SurveyGroup};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// Largest accepted body.
const MAX_BODY_BYTES: usize = 4 * 1024;
const MAX_ANSWERS: usize = 10;
/// Longest range a summary covers.
const MAX_RANGE_DAYS: i64 = 400;

/// `POST /api/v1/surveys` body.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveyPost {
    /// `digital` (the only channel posted here; may be left out).
    #[serde(default)]
    pub channel: Option<String>,
    /// The case's urgency level, 1 to 5.
    pub level: i64,
    /// A care unit id (`GET /api/v1/units`); default the nurse line.
    #[serde(default)]
    pub unit: Option<String>,
    /// Question id (lowercase letters, digits, `_`) -> the answer, 0 to 10.
    pub answers: BTreeMap<String, i64>,
}

/// Answer to a post.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SurveyStored {
    /// Always `stored`.
    pub status: String,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

/// Checks a post; the message names the field and the rule.
fn validate(post: SurveyPost, state: &ApiState) -> Result<NewSurvey, ApiError> {
    if let Some(c) = post.channel.as_deref() {
        if c != "digital" {
            return Err(bad(
                "channel: only \"digital\" surveys are posted here (phone surveys are taken by the service)",
            ));
        }
    }
    let level =
        Priority::try_from(post.level).map_err(|_| bad("level: expected 1 (most urgent) to 5"))?;
    let unit = match post.unit.as_deref() {
        None => None,
        Some(id) => {
            let unit = state.units.require("unit", id).map_err(bad)?;
            state.units.stored(&unit.id).map(str::to_owned)
        }
    };
    if post.answers.is_empty() {
        return Err(bad("answers: at least one answer is needed"));
    }
    if post.answers.len() > MAX_ANSWERS {
        return Err(bad(format!("answers: at most {MAX_ANSWERS} are accepted")));
    }
    let mut answers = Vec::with_capacity(post.answers.len());
    for (q, v) in post.answers {
        let id_ok = !q.is_empty()
            && q.len() <= 40
            && q.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !id_ok {
            return Err(bad(
                "answers: a question id must be 1-40 lowercase letters, digits or _",
            ));
        }
        let v = u8::try_from(v)
            .ok()
            .filter(|v| *v <= 10)
            .ok_or_else(|| bad(format!("answers.{q}: expected a whole number 0 to 10")))?;
        answers.push((q, v));
    }
    Ok(NewSurvey {
        channel: Channel::Digital,
        level,
        unit,
        unit_of_case: None,
        at: Utc::now(),
        answers,
    })
}

/// Stores one digital survey's answers (anonymously, cut to the hour).
#[utoipa::path(post, path = "/api/v1/surveys", tag = "surveys", request_body = SurveyPost,
    security(("bearer" = [])),
    responses((status = 201, body = SurveyStored, description = "answers stored"),
              (status = 400, description = "bad input: the message names the field"),
              (status = 401, description = "missing or unknown bearer token"),
              (status = 413, description = "body larger than 4 KiB")))]
pub async fn post_survey(
    State(state): State<ApiState>,
    _client: IntakeClient,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body, MAX_BODY_BYTES).await?;
    let post: SurveyPost =
        serde_json::from_slice(&bytes).map_err(|e| bad(describe_json_error(&e)))?;
    let survey = validate(post, &state)?;
    state.store.insert_survey(&survey).await?;
    state.survey_metrics.posted_digital.inc();
    Ok((
        StatusCode::CREATED,
        Json(SurveyStored {
            status: "stored".into(),
        }),
    )
        .into_response())
}

/// `from` and `to` of a summary.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// Start, inclusive: `2030-03-01` (00:00 UTC) or an RFC 3339 time.
    pub from: String,
    /// End: `2030-03-31` (through that day) or an RFC 3339 time (exclusive).
    pub to: String,
}

/// Survey results for a range; unit `null` is never shown (the default unit's id is).
#[derive(Serialize, ToSchema)]
pub struct SurveySummaryView {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub overall: SurveyGroup,
    pub by_channel: Vec<SurveyGroup>,
    pub by_level: Vec<SurveyGroup>,
    pub by_unit: Vec<SurveyGroup>,
}

/// A date is the start of that day (`end`: of the next day); a time is itself.
fn parse_bound(field: &str, text: &str, end: bool) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        bad(format!(
            "{field}: expected a date like 2030-03-01 or a time like 2030-03-01T08:00:00Z"
        ))
    })?;
    let date = if end {
        date.succ_opt().unwrap_or(date)
    } else {
        date
    };
    Ok(date.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// Count, mean and distribution per question, overall and per channel,
/// level and unit, for answers given in `[from, to)`.
#[utoipa::path(get, path = "/api/v1/surveys/summary", tag = "surveys", security(("session" = [])),
    params(SummaryQuery),
    responses((status = 200, body = SurveySummaryView), (status = 400, description = "bad range"),
              (status = 401, description = "not signed in"), (status = 403, description = "not a supervisor")))]
pub async fn summary(
    State(state): State<ApiState>,
    staff: Staff,
    query: Result<Query<SummaryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SurveySummaryView>, ApiError> {
    staff.require(Role::Supervisor)?;
    let Query(q) =
        query.map_err(|_| bad("from and to are required, e.g. ?from=2030-03-01&to=2030-03-31"))?;
    let from = parse_bound("from", &q.from, false)?;
    let to = parse_bound("to", &q.to, true)?;
    if to <= from {
        return Err(bad("to must be after from"));
    }
    if to - from > TimeDelta::days(MAX_RANGE_DAYS) {
        return Err(bad(format!(
            "the range may cover at most {MAX_RANGE_DAYS} days"
        )));
    }
    let s = state.store.survey_summary(from, to).await?;
    let named = |mut g: SurveyGroup| {
        g.key = Some(state.units.id_of(g.key.as_deref()).to_owned());
        g
    };
    Ok(Json(SurveySummaryView {
        from,
        to,
        overall: s.overall,
        by_channel: s.by_channel,
        by_level: s.by_level,
        by_unit: s.by_unit.into_iter().map(named).collect(),
    }))
}
