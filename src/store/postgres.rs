//! PostgreSQL dialect: TIMESTAMPTZ, JSONB answers, BOOLEAN. Several nodes share
//! one database; migrations take PostgreSQL's advisory lock.

use super::{
    case_columns, map_insert_error, update_detail, AuditRecord, CaseMode, CaseRecord, CaseStatus,
    RawCase, Result, StoreError, COUNT_AHEAD_SQL, WORKLIST_SQL,
};
use crate::queue::Priority;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{PgPool, Row};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

pub(super) async fn connect(url: &str) -> Result<PgPool> {
    let connect_error = |source| StoreError::Connect {
        backend: "postgres",
        source,
    };
    let options = PgConnectOptions::from_str(url).map_err(connect_error)?;
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(connect_error)?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

pub(super) fn read_case(row: &PgRow) -> Result<CaseRecord> {
    let priority: i16 = row.try_get("priority")?;
    let attempts: i32 = row.try_get("attempts")?;
    let raw = RawCase {
        id: row.try_get("id")?,
        channel: row.try_get("channel")?,
        priority: i64::from(priority),
        status: row.try_get("status")?,
        mode: row.try_get("mode")?,
        registered_at: row.try_get("registered_at")?,
        deadline: row.try_get("deadline")?,
        estimated_callback_at: row.try_get("estimated_callback_at")?,
        answers: row.try_get("answers")?,
        callback_number: row.try_get("callback_number")?,
        personnummer: row.try_get("personnummer")?,
        language: row.try_get("language")?,
        call_id: row.try_get("call_id")?,
        external_ref: row.try_get("external_ref")?,
        summary: row.try_get("summary")?,
        attempts: i64::from(attempts),
        red_flag: row.try_get("red_flag")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
    };
    raw.into_record()
}

const INSERT_CASE_SQL: &str = concat!(
    "INSERT INTO cases (",
    case_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
);

async fn insert_audit<'c, E>(executor: E, entry: &AuditRecord) -> Result<()>
where
    E: sqlx::Executor<'c, Database = sqlx::Postgres>,
{
    sqlx::query(super::audit::INSERT_AUDIT_SQL)
        .bind(entry.at)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(entry.case_id.map(|id| id.to_string()))
        .bind(&entry.detail)
        .bind(&entry.ip)
        .execute(executor)
        .await?;
    Ok(())
}

pub(super) async fn insert_case(pool: &PgPool, c: &CaseRecord, audit: &AuditRecord) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(INSERT_CASE_SQL)
        .bind(c.id.to_string())
        .bind(c.channel.as_str())
        .bind(i16::from(c.priority.level()))
        .bind(c.status.as_str())
        .bind(c.mode.as_str())
        .bind(c.registered_at)
        .bind(c.deadline)
        .bind(c.estimated_callback_at)
        .bind(Json(&c.answers))
        .bind(&c.callback_number)
        .bind(&c.personnummer)
        .bind(&c.language)
        .bind(&c.call_id)
        .bind(&c.external_ref)
        .bind(&c.summary)
        .bind(i32::try_from(c.attempts).unwrap_or(i32::MAX))
        .bind(c.red_flag)
        .bind(c.next_attempt_at)
        .execute(&mut *tx)
        .await
        .map_err(map_insert_error)?;
    insert_audit(&mut *tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn get_case(pool: &PgPool, id: Uuid) -> Result<Option<CaseRecord>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        case_columns!(),
        " FROM cases WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(read_case).transpose()
}

pub(super) async fn get_case_by_external_ref(
    pool: &PgPool,
    external_ref: &str,
) -> Result<Option<CaseRecord>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        case_columns!(),
        " FROM cases WHERE external_ref = $1"
    ))
    .bind(external_ref)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(read_case).transpose()
}

pub(super) async fn worklist(pool: &PgPool) -> Result<Vec<CaseRecord>> {
    let rows = sqlx::query(WORKLIST_SQL).fetch_all(pool).await?;
    rows.iter().map(read_case).collect()
}

pub(super) async fn count_ahead(
    pool: &PgPool,
    priority: Priority,
    deadline: DateTime<Utc>,
) -> Result<i64> {
    let count: i64 = sqlx::query_scalar(COUNT_AHEAD_SQL)
        .bind(!priority.is_immediate())
        .bind(deadline)
        .fetch_one(pool)
        .await?;
    Ok(count)
}

pub(super) async fn update(
    pool: &PgPool,
    id: Uuid,
    status: Option<CaseStatus>,
    mode: Option<CaseMode>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query(
        "UPDATE cases SET status = COALESCE($2, status), mode = COALESCE($3, mode) WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(status.map(CaseStatus::as_str))
    .bind(mode.map(CaseMode::as_str))
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let (action, detail) = update_detail(status, mode);
    let entry = AuditRecord::new(now, "system", &action, Some(id), detail, None);
    insert_audit(&mut *tx, &entry).await?;
    tx.commit().await?;
    Ok(true)
}

pub(super) async fn hold_to_callback(pool: &PgPool, id: Uuid, now: DateTime<Utc>) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query(super::HOLD_TO_CALLBACK_SQL)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let entry = AuditRecord::new(
        now,
        "system",
        "case.hold_to_callback",
        Some(id),
        "holding caller hung up: mode=callback",
        None,
    );
    insert_audit(&mut *tx, &entry).await?;
    tx.commit().await?;
    Ok(true)
}
