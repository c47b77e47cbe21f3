//! The raw facts behind the follow-up reports: cases registered in a time
//! range with their answered legs and handoffs, IVR abandonments, and staff
//! activity per hour. Plain rows, no figures: `supervisor::report` computes
//! those (the same Rust for both dialects, percentiles included).

use super::{storable, with_backend, DialectRow, Result, Store, StoredRow};
use crate::case::Channel;
use chrono::{DateTime, Utc};
use uuid::Uuid;

const CASES_SQL: &str = "SELECT id, channel, CAST(priority AS BIGINT) AS priority, unit, \
     registered_at, estimated_callback_at, outcome, status, \
     CAST(attempts AS BIGINT) AS attempts \
     FROM cases WHERE registered_at >= $1 AND registered_at < $2";

/// Answered callback and nurse legs of those cases (the IVR leg says nothing
/// about a nurse's answer).
const LEGS_SQL: &str = "SELECT l.case_id, l.kind, l.answered_at, l.result FROM call_legs l \
     JOIN cases c ON c.id = l.case_id \
     WHERE c.registered_at >= $1 AND c.registered_at < $2 \
     AND l.answered_at IS NOT NULL AND l.kind <> 'ivr'";

const HANDOFFS_SQL: &str = "SELECT h.case_id, h.from_unit FROM case_handoffs h \
     JOIN cases c ON c.id = h.case_id \
     WHERE c.registered_at >= $1 AND c.registered_at < $2";

const ABANDONED_SQL: &str = "SELECT node, at FROM ivr_abandonments WHERE at >= $1 AND at < $2";

/// Nurses' audited actions (claims, calls, outcomes): who was working when.
const NURSE_ACTIVITY_SQL: &str = "SELECT a.actor, a.at FROM audit_log a \
     JOIN staff_users u ON u.username = a.actor \
     WHERE u.role = 'nurse' AND a.at >= $1 AND a.at < $2";

const INSERT_ABANDONED_SQL: &str =
    "INSERT INTO ivr_abandonments (id, at, node) VALUES ($1, $2, $3)";

/// Longest IVR node name stored (the table's CHECK).
const MAX_NODE_CHARS: usize = 60;

/// One case as the reports see it. `id` links legs and handoffs and never
/// leaves the report module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseFacts {
    pub id: String,
    pub channel: Channel,
    pub level: u8,
    /// Stored unit (`None`: the default unit).
    pub unit: Option<String>,
    pub registered_at: DateTime<Utc>,
    pub estimated_callback_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    pub status: String,
    /// Failed callback attempts.
    pub attempts: u32,
}

/// An answered non-IVR leg of a reported case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegFacts {
    pub case_id: String,
    /// `resident`, `nurse_phone` or `nurse_browser`.
    pub kind: String,
    pub answered_at: DateTime<Utc>,
    pub result: String,
}

/// Everything a report over one time range is computed from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportFacts {
    pub cases: Vec<CaseFacts>,
    pub legs: Vec<LegFacts>,
    /// (case id, unit it was handed off from).
    pub handoffs: Vec<(String, String)>,
    /// (IVR node, when the caller hung up).
    pub abandoned: Vec<(String, DateTime<Utc>)>,
    /// (nurse username, audited action time): counted per hour, never shown.
    pub nurse_activity: Vec<(String, DateTime<Utc>)>,
}

impl Store {
    /// The facts for cases registered (and abandonments, activity) in
    /// `[from, to)`.
    pub async fn report_facts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<ReportFacts> {
        let (from, to) = (storable("from", from)?, storable("to", to)?);
        with_backend!(self, |pool, ts| {
            let rows = sqlx::query(CASES_SQL)
                .bind(ts(from))
                .bind(ts(to))
                .fetch_all(pool)
                .await?;
            let cases = rows
                .iter()
                .map(|r| {
                    Ok(CaseFacts {
                        id: r.text("id")?,
                        channel: r.parsed("channel")?,
                        level: r.int_as("priority")?,
                        unit: r.opt_text("unit")?,
                        registered_at: r.time("registered_at")?,
                        estimated_callback_at: r.opt_time("estimated_callback_at")?,
                        outcome: r.opt_text("outcome")?,
                        status: r.text("status")?,
                        attempts: r.int_as("attempts")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let rows = sqlx::query(LEGS_SQL)
                .bind(ts(from))
                .bind(ts(to))
                .fetch_all(pool)
                .await?;
            let legs = rows
                .iter()
                .map(|r| {
                    Ok(LegFacts {
                        case_id: r.text("case_id")?,
                        kind: r.text("kind")?,
                        answered_at: r.time("answered_at")?,
                        result: r.text("result")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let rows = sqlx::query(HANDOFFS_SQL)
                .bind(ts(from))
                .bind(ts(to))
                .fetch_all(pool)
                .await?;
            let handoffs = rows
                .iter()
                .map(|r| Ok((r.text("case_id")?, r.text("from_unit")?)))
                .collect::<Result<Vec<_>>>()?;
            let rows = sqlx::query(ABANDONED_SQL)
                .bind(ts(from))
                .bind(ts(to))
                .fetch_all(pool)
                .await?;
            let abandoned = rows
                .iter()
                .map(|r| Ok((r.text("node")?, r.time("at")?)))
                .collect::<Result<Vec<_>>>()?;
            let rows = sqlx::query(NURSE_ACTIVITY_SQL)
                .bind(ts(from))
                .bind(ts(to))
                .fetch_all(pool)
                .await?;
            let nurse_activity = rows
                .iter()
                .map(|r| Ok((r.text("actor")?, r.time("at")?)))
                .collect::<Result<Vec<_>>>()?;
            Ok(ReportFacts {
                cases,
                legs,
                handoffs,
                abandoned,
                nurse_activity,
            })
        })
    }

    /// Records a caller who hung up in the IVR at `node` (cut to 60
    /// characters) before anything was registered.
    pub async fn insert_ivr_abandonment(&self, node: &str, at: DateTime<Utc>) -> Result<()> {
        let at = storable("at", at)?;
        let node: String = node.chars().take(MAX_NODE_CHARS).collect();
        let node = if node.is_empty() {
            "-".to_string()
        } else {
            node
        };
        with_backend!(self, |pool, ts| {
            sqlx::query(INSERT_ABANDONED_SQL)
                .bind(Uuid::new_v4().to_string())
                .bind(ts(at))
                .bind(&node)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
