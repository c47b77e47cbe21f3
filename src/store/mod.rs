//! Persistent cases: SQLite (embedded default) and PostgreSQL (production, several
//! nodes) behind one [`Store`]. SQL lives here and in `migrations/`, nowhere else.
//!
//! A method that returns `Ok` has committed: the IVR confirms a callback to the
//! caller only after [`Store::insert_case`] returned `Ok` (DESIGN.md section 4).
//! Nothing here logs personal data; errors name ids, never numbers or answers.

pub mod attempts;
pub mod audit;
pub mod claims;
pub mod models;
pub mod notify;
mod postgres;
pub mod settings;
pub mod snapshot;
mod sqlite;
pub mod users;
pub mod voice;

pub use attempts::{AttemptResult, CallLeg, LegDirection, LegKind, UnreachableCase};
pub use audit::AuditRecord;
pub use claims::{Actor, ClaimError, ClaimInfo, Outcome};
pub use models::{Answer, CaseMode, CaseRecord, CaseStatus, Channel, NewCase, UnknownValue};
pub use notify::Change;
pub use settings::StatsCounts;
pub use snapshot::QueueSnapshot;
pub use users::{Role, SessionUser, StaffUser};
pub use voice::CancelError;

use crate::queue::Priority;
use chrono::{DateTime, Datelike, SubsecRound, Utc};
use std::fmt;
use uuid::Uuid;

/// Everything that can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported database URL scheme {scheme:?}: use sqlite://PATH, a plain file path, or postgres://USER@HOST/DB"
    )]
    UnsupportedUrl { scheme: String },
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the {backend} database: {source}")]
    Connect {
        backend: &'static str,
        source: sqlx::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("case {0} not found")]
    NotFound(Uuid),
    #[error("a case with this external_ref already exists")]
    DuplicateExternalRef,
    #[error("{field} {value} cannot be stored: expected a UTC time between years 1970 and 9999")]
    TimestampOutOfRange {
        field: &'static str,
        value: DateTime<Utc>,
    },
    #[error("call leg {id} cannot be stored: {field} {message}")]
    InvalidCallLeg {
        id: Uuid,
        field: &'static str,
        message: String,
    },
    #[error("stored case {id} has an invalid {field}: {message}")]
    Corrupt {
        id: String,
        field: &'static str,
        message: String,
    },
}

/// Shorthand for store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The holding caller left (both dialects): see `holding_caller_hung_up`.
const HOLD_TO_CALLBACK_SQL: &str = "UPDATE cases SET mode = 'callback', \
     status = CASE WHEN status = 'holding' THEN 'waiting' ELSE status END \
     WHERE id = $1 AND mode = 'hold' AND status IN ('holding', 'claimed')";

/// Handle to the case database; cheap to clone (a connection pool inside).
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl fmt::Debug for Store {
    /// Shows the backend only: a URL could carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend_name())
            .finish()
    }
}

impl Store {
    /// Opens the database named by `url` and runs pending migrations.
    ///
    /// `postgres://` or `postgresql://` selects PostgreSQL. `sqlite:...` (e.g.
    /// `sqlite://data/phone-entrance.db?mode=rwc`, `sqlite::memory:`) or a plain
    /// path selects SQLite: the file and its directory are created if missing,
    /// WAL journaling and a busy timeout let readers and the one writer coexist.
    pub async fn connect(url: &str) -> Result<Store> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(postgres::connect(url).await?)
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite(sqlite::connect_url(url).await?)
        } else if let Some((scheme, _)) = url.split_once("://") {
            return Err(StoreError::UnsupportedUrl {
                scheme: scheme.chars().take(20).collect(),
            });
        } else {
            Backend::Sqlite(sqlite::connect_path(std::path::Path::new(url)).await?)
        };
        Ok(Store { backend })
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Registers a case and commits, with a `case.created` audit entry in the same
    /// transaction. Timestamps are stored to the microsecond; the returned record
    /// is what a later [`Store::get_case`] reads back.
    pub async fn insert_case(&self, case: &NewCase) -> Result<CaseRecord> {
        let record = CaseRecord {
            id: Uuid::new_v4(),
            channel: case.channel,
            priority: case.priority,
            status: case.initial_status(),
            mode: case.mode,
            registered_at: storable("registered_at", case.registered_at)?,
            deadline: storable("deadline", case.deadline)?,
            estimated_callback_at: case
                .estimated_callback_at
                .map(|t| storable("estimated_callback_at", t))
                .transpose()?,
            answers: case.answers.clone(),
            callback_number: case.callback_number.clone(),
            personnummer: case.personnummer.clone(),
            language: case.language.clone(),
            call_id: case.call_id.clone(),
            external_ref: case.external_ref.clone(),
            summary: case.summary.clone(),
            attempts: 0,
            red_flag: case.red_flag,
            next_attempt_at: None,
        };
        let audit = AuditRecord::new(
            record.registered_at,
            match record.channel {
                Channel::Phone => "ivr",
                Channel::Digital => "digital-intake",
            },
            "case.created",
            Some(record.id),
            format!(
                "channel={} priority={} mode={} red_flag={}",
                record.channel, record.priority, record.mode, record.red_flag
            ),
            None,
        );
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::insert_case(pool, &record, &audit).await?,
            Backend::Postgres(pool) => postgres::insert_case(pool, &record, &audit).await?,
        }
        Ok(record)
    }

    /// The case with this id, if any.
    pub async fn get_case(&self, id: Uuid) -> Result<Option<CaseRecord>> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::get_case(pool, id).await,
            Backend::Postgres(pool) => postgres::get_case(pool, id).await,
        }
    }

    /// The case posted with this digital-intake reference, if any.
    pub async fn get_case_by_external_ref(&self, external_ref: &str) -> Result<Option<CaseRecord>> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::get_case_by_external_ref(pool, external_ref).await,
            Backend::Postgres(pool) => postgres::get_case_by_external_ref(pool, external_ref).await,
        }
    }

    /// Open (waiting and holding) cases in queue order: level 1 first, then earliest
    /// deadline, then earliest registration (then id, so the order is total).
    pub async fn worklist(&self) -> Result<Vec<CaseRecord>> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::worklist(pool).await,
            Backend::Postgres(pool) => postgres::worklist(pool).await,
        }
    }

    /// How many open cases a new case of `priority` and `deadline` would have ahead
    /// of it in queue order (ties on deadline count as ahead: they registered first).
    pub async fn count_waiting_ahead(
        &self,
        priority: Priority,
        deadline: DateTime<Utc>,
    ) -> Result<usize> {
        let deadline = storable("deadline", deadline)?;
        let count = match &self.backend {
            Backend::Sqlite(pool) => sqlite::count_ahead(pool, priority, deadline).await?,
            Backend::Postgres(pool) => postgres::count_ahead(pool, priority, deadline).await?,
        };
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// Sets the status, with an audit entry by `system`; `NotFound` if no such case.
    pub async fn set_status(
        &self,
        id: Uuid,
        status: CaseStatus,
        now: DateTime<Utc>,
    ) -> Result<CaseRecord> {
        self.update(id, Some(status), None, now).await
    }

    /// A caller holding in the queue hung up: the case stays and becomes a callback
    /// to the caller ID (`holding` -> `waiting`, mode `callback`). A held case a
    /// nurse has already claimed stays hers but becomes a callback too, so that
    /// her Call dials the number instead of looking for the live call.
    pub async fn holding_caller_hung_up(&self, id: Uuid, now: DateTime<Utc>) -> Result<CaseRecord> {
        let now = storable("now", now)?;
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::hold_to_callback(pool, id, now).await?,
            Backend::Postgres(pool) => postgres::hold_to_callback(pool, id, now).await?,
        };
        self.get_case(id).await?.ok_or(StoreError::NotFound(id))
    }

    async fn update(
        &self,
        id: Uuid,
        status: Option<CaseStatus>,
        mode: Option<CaseMode>,
        now: DateTime<Utc>,
    ) -> Result<CaseRecord> {
        let now = storable("now", now)?;
        let found = match &self.backend {
            Backend::Sqlite(pool) => sqlite::update(pool, id, status, mode, now).await?,
            Backend::Postgres(pool) => postgres::update(pool, id, status, mode, now).await?,
        };
        if !found {
            return Err(StoreError::NotFound(id));
        }
        self.get_case(id).await?.ok_or(StoreError::NotFound(id))
    }

    /// Readiness: one round trip to the database.
    pub async fn ping(&self) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
            Backend::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Runs one statement as is; lets tests poke at constraints and triggers.
    #[cfg(test)]
    pub(crate) async fn execute_raw(&self, sql: &str) -> Result<u64> {
        let affected = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query(sql).execute(pool).await?.rows_affected(),
            Backend::Postgres(pool) => sqlx::query(sql).execute(pool).await?.rows_affected(),
        };
        Ok(affected)
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(pool) => pool.close().await,
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}

/// Columns of `cases` in the order every `SELECT` reads them.
macro_rules! case_columns {
    () => {
        "id, channel, priority, status, mode, registered_at, deadline, estimated_callback_at, \
         answers, callback_number, personnummer, language, call_id, external_ref, summary, \
         attempts, red_flag, next_attempt_at"
    };
}
use case_columns;

/// Open cases in queue order; shared by both dialects (`$n` works in SQLite too).
const WORKLIST_SQL: &str = concat!(
    "SELECT ",
    case_columns!(),
    " FROM cases WHERE status IN ('waiting', 'holding') \
     ORDER BY (priority <> 1), deadline, registered_at, id"
);

/// Open cases ahead of a (level-1-ness, deadline) position in queue order.
const COUNT_AHEAD_SQL: &str = "SELECT COUNT(*) FROM cases \
     WHERE status IN ('waiting', 'holding') \
     AND ((priority <> 1) < $1 OR ((priority <> 1) = $1 AND deadline <= $2))";

/// Truncates to microseconds (PostgreSQL's precision) and rejects times the text
/// form in SQLite cannot sort.
fn storable(field: &'static str, value: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if (1970..=9999).contains(&value.year()) {
        Ok(value.trunc_subsecs(6))
    } else {
        Err(StoreError::TimestampOutOfRange { field, value })
    }
}

/// A row read with backend-neutral types, checked into a [`CaseRecord`] in one place.
struct RawCase {
    id: String,
    channel: String,
    priority: i64,
    status: String,
    mode: String,
    registered_at: DateTime<Utc>,
    deadline: DateTime<Utc>,
    estimated_callback_at: Option<DateTime<Utc>>,
    answers: serde_json::Value,
    callback_number: Option<String>,
    personnummer: Option<String>,
    language: String,
    call_id: Option<String>,
    external_ref: Option<String>,
    summary: String,
    attempts: i64,
    red_flag: bool,
    next_attempt_at: Option<DateTime<Utc>>,
}

impl RawCase {
    fn into_record(self) -> Result<CaseRecord> {
        let id_text = self.id;
        let corrupt = |field: &'static str, message: String| StoreError::Corrupt {
            id: id_text.chars().take(40).collect(),
            field,
            message,
        };
        Ok(CaseRecord {
            id: Uuid::parse_str(&id_text).map_err(|e| corrupt("id", e.to_string()))?,
            channel: self
                .channel
                .parse()
                .map_err(|e: UnknownValue| corrupt("channel", e.to_string()))?,
            priority: Priority::try_from(self.priority)
                .map_err(|e| corrupt("priority", e.to_string()))?,
            status: self
                .status
                .parse()
                .map_err(|e: UnknownValue| corrupt("status", e.to_string()))?,
            mode: self
                .mode
                .parse()
                .map_err(|e: UnknownValue| corrupt("mode", e.to_string()))?,
            registered_at: self.registered_at,
            deadline: self.deadline,
            estimated_callback_at: self.estimated_callback_at,
            // The serde error names the problem, never the answer text.
            answers: serde_json::from_value(self.answers)
                .map_err(|e| corrupt("answers", e.to_string()))?,
            callback_number: self.callback_number,
            personnummer: self.personnummer,
            language: self.language,
            call_id: self.call_id,
            external_ref: self.external_ref,
            summary: self.summary,
            attempts: u32::try_from(self.attempts)
                .map_err(|e| corrupt("attempts", e.to_string()))?,
            red_flag: self.red_flag,
            next_attempt_at: self.next_attempt_at,
        })
    }
}

/// Unique violations on insert can only be `external_ref` (ids are random v4).
fn map_insert_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::DuplicateExternalRef,
        _ => StoreError::Database(e),
    }
}

/// Audit detail for an update: the new values only.
fn update_detail(status: Option<CaseStatus>, mode: Option<CaseMode>) -> (String, String) {
    match (status, mode) {
        (Some(s), Some(m)) => ("case.updated".into(), format!("status={s} mode={m}")),
        (Some(s), None) => ("case.status".into(), format!("status={s}")),
        (None, Some(m)) => ("case.mode".into(), format!("mode={m}")),
        (None, None) => ("case.touched".into(), String::new()),
    }
}

#[cfg(test)]
pub(crate) mod tests;
