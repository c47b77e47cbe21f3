//! Audit rows with their origin: who, what, when and from where. The table is
//! append-only (triggers in migrations 0001 and 0012); this module only ever
//! inserts, each row as the next link of the hash chain (`audit_chain`).
//! `detail` never carries personal data: ids and enum values only.

use super::audit_chain::append_audit;
use super::{with_backend, Result, Store, StoredRow};
use chrono::{DateTime, Utc};
use sqlx::query::Query;
use sqlx::{Database, Encode, Type};
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

const INSERT_AUDIT_SQL: &str = "INSERT INTO audit_log (at, actor, action, case_id, detail, ip, \
     seq, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

const AUDIT_ROWS_SQL: &str = "SELECT at, actor, action, case_id, detail, ip FROM audit_log \
     WHERE (CAST($1 AS TEXT) IS NULL OR case_id = $1) ORDER BY id DESC LIMIT $2";

impl Store {
    /// Appends one audit row (the log cannot be changed or deleted afterwards).
    pub async fn audit(&self, record: &AuditRecord) -> Result<()> {
        with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            append_audit!(tx, ts, record);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Audit rows, oldest first: the newest `limit` rows of one case, or (with
    /// `None`) of the whole log.
    pub async fn audit_rows(&self, case_id: Option<Uuid>, limit: u32) -> Result<Vec<AuditRecord>> {
        let case = case_id.map(|id| id.to_string());
        let mut rows = with_backend!(self, |pool, _ts| {
            sqlx::query(AUDIT_ROWS_SQL)
                .bind(&case)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
                .iter()
                .map(read_audit)
                .collect::<Result<Vec<_>>>()?
        });
        rows.reverse();
        Ok(rows)
    }
}

/// The statement that inserts one audit row as link `seq` of the chain
/// (after `prev`, with its own `hash`); only `append_audit!` runs it. `at` is
/// the time as the dialect binds it.
pub(super) fn insert_audit<'q, DB, T>(
    at: T,
    record: &'q AuditRecord,
    seq: i64,
    prev: &'q str,
    hash: &'q str,
) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    T: 'q + Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
{
    sqlx::query(INSERT_AUDIT_SQL)
        .bind(at)
        .bind(record.actor.as_str())
        .bind(record.action.as_str())
        .bind(record.case_id.map(|id| id.to_string()))
        .bind(record.detail.as_str())
        .bind(record.ip.clone())
        .bind(seq)
        .bind(prev)
        .bind(hash)
}

fn read_audit(row: &impl StoredRow) -> Result<AuditRecord> {
    let case_id: Option<String> = row.opt_text("case_id")?;
    Ok(AuditRecord {
        at: row.time("at")?,
        actor: row.text("actor")?,
        action: row.text("action")?,
        case_id: case_id.and_then(|c| Uuid::parse_str(&c).ok()),
        detail: row.text("detail")?,
        ip: row.opt_text("ip")?,
    })
}
