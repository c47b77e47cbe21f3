//! Retention: a closed case (done, cancelled, unreachable) keeps its personal
//! data for `retention_days` (queue.toml) after closing; then the personnummer,
//! callback number, the answers' words (`value_text`), summary, outcome
//! note and handoff notes are cleared, the voice note deleted and the SMS
//! numbers and texts cleared, audited as `case.redacted`.
//! The case row (level, times, structured answer values) and its audit trail
//! stay. Every node runs it from its sweeper; each case is redacted once (the
//! first statement claims it by setting `redacted_at`).

use super::audit::AuditRecord;
use super::audit_chain::append_audit;
use super::{storable, with_backend, DialectRow, Result, Store};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::types::Json;
use uuid::Uuid;

/// At most this many cases per sweep (the rest on the next one).
const BATCH: i64 = 200;

const DUE_SQL: &str = "SELECT id FROM cases WHERE redacted_at IS NULL AND closed_at IS NOT NULL \
     AND closed_at < $1 AND status IN ('done', 'cancelled', 'unreachable') \
     ORDER BY closed_at LIMIT $2";

/// Claims the case for this sweep (a write first: SQLite's lock, PostgreSQL's
/// row lock) and reads its answers.
const CLAIM_SQL: &str = "UPDATE cases SET redacted_at = $2 WHERE id = $1 AND redacted_at IS NULL \
     AND closed_at IS NOT NULL AND closed_at < $3 AND status IN ('done', 'cancelled', 'unreachable') \
     RETURNING answers";

const REDACT_SQL: &str = "UPDATE cases SET personnummer = NULL, callback_number = NULL, \
     answers = $2, summary = '', outcome_note = NULL, \
     listing_hsa_id = NULL, listing_name = NULL WHERE id = $1";

const DELETE_VOICE_SQL: &str = "DELETE FROM voice_notes WHERE case_id = $1";

/// Handoff notes are free text too; who handed it where and when stays.
const CLEAR_HANDOFF_NOTES_SQL: &str = "UPDATE case_handoffs SET note = '' WHERE case_id = $1";

/// The answers without their words: question and machine value stay.
fn without_words(answers: serde_json::Value) -> serde_json::Value {
    match answers {
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|mut a| {
                if let Some(o) = a.as_object_mut() {
                    o.insert(
                        "value_text".into(),
                        serde_json::Value::String(String::new()),
                    );
                }
                a
            })
            .collect(),
        _ => serde_json::Value::Array(Vec::new()),
    }
}

impl Store {
    /// Redacts the closed cases whose retention ended (`closed_at` older than
    /// `retention` at `now`); returns their ids. Safe to run on every node at
    /// once: each case is redacted and audited once.
    pub async fn redact_expired(
        &self,
        retention: TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>> {
        let now = storable("now", now)?;
        let cutoff = storable("cutoff", now.checked_sub_signed(retention).unwrap_or(now))?;
        let ids: Vec<String> = with_backend!(self, |pool, ts| {
            sqlx::query_scalar(DUE_SQL)
                .bind(ts(cutoff))
                .bind(BATCH)
                .fetch_all(pool)
                .await?
        });
        let mut redacted = Vec::new();
        for text_id in ids {
            let Ok(id) = Uuid::parse_str(&text_id) else {
                continue;
            };
            let done = with_backend!(self, |pool, ts| {
                let mut tx = pool.begin().await?;
                let row = sqlx::query(CLAIM_SQL)
                    .bind(&text_id)
                    .bind(ts(now))
                    .bind(ts(cutoff))
                    .fetch_optional(&mut *tx)
                    .await?;
                match row {
                    None => {
                        tx.rollback().await?;
                        false
                    }
                    Some(row) => {
                        let answers = without_words(row.json("answers")?);
                        sqlx::query(REDACT_SQL)
                            .bind(&text_id)
                            .bind(Json(&answers))
                            .execute(&mut *tx)
                            .await?;
                        let voice = sqlx::query(DELETE_VOICE_SQL)
                            .bind(&text_id)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        let sms = sqlx::query(super::sms::REDACT_SMS_SQL)
                            .bind(&text_id)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        sqlx::query(CLEAR_HANDOFF_NOTES_SQL)
                            .bind(&text_id)
                            .execute(&mut *tx)
                            .await?;
                        let audit = AuditRecord::new(
                            now,
                            "system",
                            "case.redacted",
                            Some(id),
                            format!(
                                "retention_days={} deleted=personnummer,callback_number,answer_words,summary,outcome_note voice_notes={voice} sms={sms}",
                                retention.num_days()
                            ),
                            None,
                        );
                        append_audit!(tx, ts, &audit);
                        tx.commit().await?;
                        true
                    }
                }
            });
            if done {
                redacted.push(id);
            }
        }
        Ok(redacted)
    }
}

#[cfg(test)]
mod tests;
