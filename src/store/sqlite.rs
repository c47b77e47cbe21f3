//! SQLite dialect: timestamps as fixed-width UTC text (sorts as time), answers as
//! JSON text, booleans as 0/1. One writer at a time; WAL lets readers go on.

use super::{
    case_columns, map_insert_error, update_detail, AuditRecord, CaseMode, CaseRecord, CaseStatus,
    RawCase, Result, StoreError, COUNT_AHEAD_SQL, WORKLIST_SQL,
};
use crate::queue::Priority;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

pub(super) async fn connect_url(url: &str) -> Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url).map_err(|source| StoreError::Connect {
        backend: "sqlite",
        source,
    })?;
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    open(options, in_memory).await
}

pub(super) async fn connect_path(path: &Path) -> Result<SqlitePool> {
    open(SqliteConnectOptions::new().filename(path), false).await
}

async fn open(options: SqliteConnectOptions, in_memory: bool) -> Result<SqlitePool> {
    let mut options = options
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    if !in_memory {
        if let Some(dir) = options.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
        }
        // WAL + NORMAL: a committed transaction survives a process crash; only a
        // power loss can drop the very last commits (DESIGN.md: never lose a case
        // on crash or restart).
        options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
    }
    let pool = SqlitePoolOptions::new()
        // An in-memory database lives as long as one connection to it does.
        .max_connections(if in_memory { 1 } else { 4 })
        .min_connections(if in_memory { 1 } else { 0 })
        .idle_timeout(if in_memory {
            None
        } else {
            Some(Duration::from_secs(600))
        })
        .max_lifetime(if in_memory {
            None
        } else {
            Some(Duration::from_secs(1800))
        })
        .connect_with(options)
        .await
        .map_err(|source| StoreError::Connect {
            backend: "sqlite",
            source,
        })?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// Fixed-width UTC text: `2025-03-01T09:00:00.000000Z`, so text order is time order.
fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_ts(id: &str, field: &'static str, text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            id: id.chars().take(40).collect(),
            field,
            message: e.to_string(),
        })
}

pub(super) fn read_case(row: &SqliteRow) -> Result<CaseRecord> {
    let id: String = row.try_get("id")?;
    let estimated: Option<String> = row.try_get("estimated_callback_at")?;
    let next_attempt: Option<String> = row.try_get("next_attempt_at")?;
    let answers: String = row.try_get("answers")?;
    let raw = RawCase {
        channel: row.try_get("channel")?,
        priority: row.try_get("priority")?,
        status: row.try_get("status")?,
        mode: row.try_get("mode")?,
        registered_at: parse_ts(
            &id,
            "registered_at",
            &row.try_get::<String, _>("registered_at")?,
        )?,
        deadline: parse_ts(&id, "deadline", &row.try_get::<String, _>("deadline")?)?,
        estimated_callback_at: estimated
            .map(|t| parse_ts(&id, "estimated_callback_at", &t))
            .transpose()?,
        answers: serde_json::from_str(&answers).map_err(|e| StoreError::Corrupt {
            id: id.chars().take(40).collect(),
            field: "answers",
            message: e.to_string(),
        })?,
        callback_number: row.try_get("callback_number")?,
        personnummer: row.try_get("personnummer")?,
        language: row.try_get("language")?,
        call_id: row.try_get("call_id")?,
        external_ref: row.try_get("external_ref")?,
        summary: row.try_get("summary")?,
        attempts: row.try_get("attempts")?,
        red_flag: row.try_get("red_flag")?,
        next_attempt_at: next_attempt
            .map(|t| parse_ts(&id, "next_attempt_at", &t))
            .transpose()?,
        id,
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
    E: sqlx::Executor<'c, Database = sqlx::Sqlite>,
{
    sqlx::query(super::audit::INSERT_AUDIT_SQL)
        .bind(ts(entry.at))
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(entry.case_id.map(|id| id.to_string()))
        .bind(&entry.detail)
        .bind(&entry.ip)
        .execute(executor)
        .await?;
    Ok(())
}

pub(super) async fn insert_case(
    pool: &SqlitePool,
    c: &CaseRecord,
    audit: &AuditRecord,
) -> Result<()> {
    let answers = serde_json::to_string(&c.answers).map_err(|e| StoreError::Corrupt {
        id: c.id.to_string(),
        field: "answers",
        message: e.to_string(),
    })?;
    let mut tx = pool.begin().await?;
    sqlx::query(INSERT_CASE_SQL)
        .bind(c.id.to_string())
        .bind(c.channel.as_str())
        .bind(i64::from(c.priority.level()))
        .bind(c.status.as_str())
        .bind(c.mode.as_str())
        .bind(ts(c.registered_at))
        .bind(ts(c.deadline))
        .bind(c.estimated_callback_at.map(ts))
        .bind(answers)
        .bind(&c.callback_number)
        .bind(&c.personnummer)
        .bind(&c.language)
        .bind(&c.call_id)
        .bind(&c.external_ref)
        .bind(&c.summary)
        .bind(i64::from(c.attempts))
        .bind(c.red_flag)
        .bind(c.next_attempt_at.map(ts))
        .execute(&mut *tx)
        .await
        .map_err(map_insert_error)?;
    insert_audit(&mut *tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn get_case(pool: &SqlitePool, id: Uuid) -> Result<Option<CaseRecord>> {
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
    pool: &SqlitePool,
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

pub(super) async fn worklist(pool: &SqlitePool) -> Result<Vec<CaseRecord>> {
    let rows = sqlx::query(WORKLIST_SQL).fetch_all(pool).await?;
    rows.iter().map(read_case).collect()
}

pub(super) async fn count_ahead(
    pool: &SqlitePool,
    priority: Priority,
    deadline: DateTime<Utc>,
) -> Result<i64> {
    let count: i64 = sqlx::query_scalar(COUNT_AHEAD_SQL)
        .bind(!priority.is_immediate())
        .bind(ts(deadline))
        .fetch_one(pool)
        .await?;
    Ok(count)
}

pub(super) async fn update(
    pool: &SqlitePool,
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

pub(super) async fn hold_to_callback(
    pool: &SqlitePool,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool> {
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
