//! `GET /api/v1/worklist`: open cases in queue order for the nurses' list.
//!
//! This view leaves out the callback number and personnummer: the staff-only case
//! endpoint (with auth) shows those.

use super::{ApiError, ApiState};
use crate::queue::Priority;
use crate::store::{Answer, CaseMode, CaseRecord, CaseStatus, Channel};
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One row of the worklist, as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorklistCase {
    pub id: Uuid,
    pub channel: Channel,
    pub priority: Priority,
    pub status: CaseStatus,
    pub mode: CaseMode,
    pub registered_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub estimated_callback_at: Option<DateTime<Utc>>,
    pub answers: Vec<Answer>,
    pub attempts: u32,
    pub language: String,
    pub red_flag: bool,
}

impl From<CaseRecord> for WorklistCase {
    fn from(c: CaseRecord) -> WorklistCase {
        WorklistCase {
            id: c.id,
            channel: c.channel,
            priority: c.priority,
            status: c.status,
            mode: c.mode,
            registered_at: c.registered_at,
            deadline: c.deadline,
            estimated_callback_at: c.estimated_callback_at,
            answers: c.answers,
            attempts: c.attempts,
            language: c.language,
            red_flag: c.red_flag,
        }
    }
}

/// Open cases, level 1 first, then earliest deadline, then earliest registration.
pub async fn worklist(State(state): State<ApiState>) -> Result<Json<Vec<WorklistCase>>, ApiError> {
    let cases = state.store.worklist().await?;
    Ok(Json(cases.into_iter().map(WorklistCase::from).collect()))
}
