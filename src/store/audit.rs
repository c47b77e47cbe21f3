//! Audit rows with their origin: who, what, when and from where. The table is
//! append-only (triggers in migration 0001); this module only ever inserts.
//! `detail` never carries personal data: ids and enum values only.

use super::{Backend, Result, Store, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

/// One audit row including the client address it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    /// A staff user name, `intake:<client>`, `ivr` or `system`.
    pub actor: String,
    /// Dotted action, e.g. `case.read`, `case.claim`, `auth.login`.
    pub action: String,
    pub case_id: Option<Uuid>,
    pub detail: String,
    /// Client IP of the HTTP request, when known.
    pub ip: Option<String>,
}

impl AuditRecord {
    /// A row for `actor` doing `action` now, from `ip`.
    pub fn new(
        at: DateTime<Utc>,
        actor: &str,
        action: &str,
        case_id: Option<Uuid>,
        detail: impl Into<String>,
        ip: Option<String>,
    ) -> AuditRecord {
        AuditRecord {
            at,
            actor: actor.to_string(),
            action: action.to_string(),
            case_id,
            detail: detail.into(),
            ip,
        }
    }
}

/// Fixed-width UTC text, as the SQLite dialect stores every timestamp.
pub(super) fn sqlite_ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(super) fn parse_sqlite_ts(field: &'static str, text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            id: String::new(),
            field,
            message: e.to_string(),
        })
}

/// Runs `$body` once per dialect with `$pool` bound to the pool and `$ts` to the
/// dialect's timestamp encoder, so one SQL text serves both (`$n` works in SQLite).
macro_rules! with_backend {
    ($store:expr, |$pool:ident, $ts:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => {
                let $ts = $crate::store::audit::sqlite_ts;
                $body
            }
            $crate::store::Backend::Postgres($pool) => {
                let $ts = |t: chrono::DateTime<chrono::Utc>| t;
                $body
            }
        }
    };
}
pub(crate) use with_backend;

pub(super) const INSERT_AUDIT_SQL: &str =
    "INSERT INTO audit_log (at, actor, action, case_id, detail, ip) VALUES ($1, $2, $3, $4, $5, $6)";

impl Store {
    /// Appends one audit row (with its origin).
    pub async fn audit(&self, record: &AuditRecord) -> Result<()> {
        let at = super::storable("at", record.at)?;
        with_backend!(self, |pool, ts| {
            sqlx::query(INSERT_AUDIT_SQL)
                .bind(ts(at))
                .bind(&record.actor)
                .bind(&record.action)
                .bind(record.case_id.map(|id| id.to_string()))
                .bind(&record.detail)
                .bind(&record.ip)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Audit rows, oldest first: those of one case, or (with `None`) the newest
    /// `limit` rows of the whole log.
    pub async fn audit_rows(&self, case_id: Option<Uuid>, limit: u32) -> Result<Vec<AuditRecord>> {
        let sql = "SELECT id, at, actor, action, case_id, detail, ip FROM audit_log \
                   WHERE ($1 IS NULL OR case_id = $1) ORDER BY id DESC LIMIT $2";
        let case = case_id.map(|id| id.to_string());
        let mut rows = match &self.backend {
            Backend::Sqlite(pool) => {
                let rows = sqlx::query(sql)
                    .bind(&case)
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        let at: String = row.try_get("at")?;
                        read_row(row.try_get("case_id")?, parse_sqlite_ts("at", &at)?, row)
                    })
                    .collect::<Result<Vec<_>>>()?
            }
            Backend::Postgres(pool) => {
                let sql = sql.replace("$1 IS NULL", "$1::TEXT IS NULL");
                let rows = sqlx::query(&sql)
                    .bind(&case)
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?;
                rows.iter()
                    .map(|row| read_row(row.try_get("case_id")?, row.try_get("at")?, row))
                    .collect::<Result<Vec<_>>>()?
            }
        };
        rows.reverse();
        Ok(rows)
    }
}

fn read_row<R: Row>(case_id: Option<String>, at: DateTime<Utc>, row: &R) -> Result<AuditRecord>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(AuditRecord {
        at,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        case_id: case_id.and_then(|c| Uuid::parse_str(&c).ok()),
        detail: row.try_get("detail")?,
        ip: row.try_get("ip")?,
    })
}
