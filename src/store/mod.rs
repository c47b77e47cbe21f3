//! Persistent cases: SQLite (embedded default) and PostgreSQL (production, several
//! nodes) behind one [`Store`]. SQL lives here and in `migrations/`, nowhere else.
//!
//! A method that returns `Ok` has committed: the IVR confirms a callback to the
//! caller only after [`Store::insert_case`] returned `Ok` (DESIGN.md section 4).
//! Nothing here logs personal data; errors name ids, never numbers or answers.
//!
//! Each operation is one function with one SQL text for both dialects
//! (`with_backend!` runs its body per pool; rows are read through
//! `StoredRow`); `sqlite.rs` and `postgres.rs` hold only what differs: opening
//! the database and how a column type reads back. Where the SQL itself differs
//! (row locks, change counters) `Store::sql` picks the text.

pub mod arrivals;
pub mod attempts;
pub mod audit;
pub mod audit_chain;
pub mod callback_calls;
pub mod caps;
mod cases;
pub mod claims;
pub mod contacts;
pub mod group_commit;
pub mod handling;
pub mod handoff;
pub mod held_pickups;
pub mod leases;
pub mod listing;
pub mod lockouts;
pub mod notify;
pub mod nurse_registrations;
mod postgres;
pub mod reports;
pub mod retention;
pub mod settings;
pub mod sms;
pub mod snapshot;
mod sqlite;
pub mod surveys;
pub mod users;
pub mod voice;

pub use attempts::{AttemptResult, CallLeg, LegDirection, LegKind, UnreachableCase};
pub use audit::AuditRecord;
pub use audit_chain::{BrokenLink, ChainReport};
pub use callback_calls::StoredCallback;
pub use claims::{Actor, ClaimError, ClaimInfo};
pub use contacts::{SelfCareCounts, SelfCareRouteCount};
pub use handoff::{Handoff, HandoffError, UnitWaitCounts};
pub use listing::{Listing, ListingDue, ListingStatus};
pub use lockouts::{LockKind, Lockout};
pub use notify::Change;
pub use nurse_registrations::StoredRegistration;
pub use settings::StatsCounts;
pub use snapshot::QueueSnapshot;
pub use surveys::{NewSurvey, QuestionSummary, SurveyGroup, SurveySummary};
pub use users::{Role, SessionUser, StaffUser};
pub use voice::CancelError;

// The case model lives in `crate::case`; these names stay here for the callers
// that still import them from the store.
pub use crate::case::{
    Answer, CaseMode, CaseRecord, CaseStatus, Channel, NewCase, Outcome, ReviewReason, UnknownValue,
};

use chrono::{DateTime, Datelike, SubsecRound, Utc};
use std::fmt;
use std::str::FromStr;
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
    /// A queue cap refused the case (the message says which, no number).
    #[error("{0}")]
    CapReached(crate::queue::Cap),
    #[error("case {0} not found")]
    NotFound(Uuid),
    #[error("the self-care link must be an https URL of at most 200 characters without spaces")]
    SmsLink,
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

impl StoreError {
    /// A stored value that does not read back as its type (the row is named later).
    fn corrupt(field: &'static str, message: impl fmt::Display) -> StoreError {
        StoreError::Corrupt {
            id: String::new(),
            field,
            message: message.to_string(),
        }
    }

    /// Names the row (by id, capped) that a `Corrupt` error came from.
    fn in_row(self, id: &str) -> StoreError {
        match self {
            StoreError::Corrupt { field, message, .. } => StoreError::Corrupt {
                id: id.chars().take(40).collect(),
                field,
                message,
            },
            other => other,
        }
    }
}

/// Handle to the case database; cheap to clone (a connection pool inside).
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// How long a nurse's claim lasts without a renewal ([`Store::with_claim_lease`]).
    claim_lease: chrono::TimeDelta,
    /// What `prepare` still has to do before the first use (set by
    /// `connect_lazy`: the database may not exist yet); shared by clones.
    pending: std::sync::Arc<tokio::sync::Mutex<Option<Pending>>>,
    /// The queue's caps, checked when a case is registered ([`Store::with_caps`]).
    caps: crate::queue::QueueCaps,
    /// Refusals by those caps, for `/metrics`.
    cap_counters: caps::CapCounters,
    /// SMS texts (`sms.toml`; none: no SMS is queued, [`Store::with_sms`]).
    sms: Option<std::sync::Arc<dyn sms::SmsTexts>>,
}

/// The set-up a lazily opened store does once the database answers.
struct Pending {
    /// SQLite: the directory of the database file, created on the first try.
    dir: Option<std::path::PathBuf>,
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

/// Runs `$body` once per backend with `$pool` bound to its pool and `$ts` to its
/// timestamp encoder (SQLite: fixed-width UTC text; PostgreSQL: the time itself),
/// so one SQL text and one body serve both dialects (`$n` placeholders work in
/// SQLite too). Rows are read through [`StoredRow`].
macro_rules! with_backend {
    ($store:expr, |$pool:ident, $ts:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => {
                let $ts = $crate::store::sqlite::ts;
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
        Ok(Store::ready(backend))
    }

    fn ready(backend: Backend) -> Store {
        Store {
            backend,
            claim_lease: leases::DEFAULT_CLAIM_LEASE,
            pending: Default::default(),
            caps: crate::queue::QueueCaps::OFF,
            cap_counters: caps::CapCounters::default(),
            sms: None,
        }
    }

    /// The same database, with claims that last `lease` unless renewed
    /// (`claim_lease_minutes` of `queue.toml`; set once at start-up).
    pub fn with_claim_lease(mut self, lease: std::time::Duration) -> Store {
        self.claim_lease = chrono::TimeDelta::from_std(lease).unwrap_or(self.claim_lease);
        self
    }

    /// The same database, refusing cases beyond `caps` (`queue.toml [caps]`;
    /// set once at start-up).
    pub fn with_caps(mut self, caps: crate::queue::QueueCaps) -> Store {
        self.caps = caps;
        self
    }

    /// The counters of cases refused by the caps (shared by every clone).
    pub fn cap_counters(&self) -> &caps::CapCounters {
        &self.cap_counters
    }

    /// How long a claim lasts without a renewal.
    pub fn claim_lease(&self) -> std::time::Duration {
        self.claim_lease.to_std().unwrap_or_default()
    }

    /// Like `connect`, but without touching the database: the pool connects
    /// on first use, and [`Store::prepare`] creates the SQLite directory and
    /// runs the migrations once the database answers. Lets the service start
    /// (not ready) while its database is down or not created yet. Fails only
    /// on a URL that cannot name a database.
    pub async fn connect_lazy(url: &str) -> Result<Store> {
        let (backend, dir) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres(postgres::connect_lazy(url)?), None)
        } else if url.starts_with("sqlite:") && sqlite::in_memory(url) {
            // Nothing to wait for: a memory database always opens.
            return Store::connect(url).await;
        } else if url.starts_with("sqlite:") {
            let (pool, dir) = sqlite::connect_lazy(sqlite::options_from_url(url)?);
            (Backend::Sqlite(pool), dir)
        } else if let Some((scheme, _)) = url.split_once("://") {
            return Err(StoreError::UnsupportedUrl {
                scheme: scheme.chars().take(20).collect(),
            });
        } else {
            let (pool, dir) =
                sqlite::connect_lazy(sqlite::options_from_path(std::path::Path::new(url)));
            (Backend::Sqlite(pool), dir)
        };
        Ok(Store {
            backend,
            claim_lease: leases::DEFAULT_CLAIM_LEASE,
            pending: std::sync::Arc::new(tokio::sync::Mutex::new(Some(Pending { dir }))),
            caps: crate::queue::QueueCaps::OFF,
            cap_counters: caps::CapCounters::default(),
            sms: None,
        })
    }

    /// Finishes what `connect_lazy` left for later (the SQLite directory,
    /// the migrations), once; `Ok` at once on a prepared store. A second
    /// caller meanwhile waits for the first one's try.
    pub async fn prepare(&self) -> Result<()> {
        let mut pending = self.pending.lock().await;
        let Some(p) = pending.as_ref() else {
            return Ok(());
        };
        if let Some(dir) = &p.dir {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.clone(),
                source,
            })?;
        }
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::migrate(pool).await?,
            Backend::Postgres(pool) => postgres::migrate(pool).await?,
        }
        *pending = None;
        tracing::info!(
            backend = self.backend_name(),
            "database opened and migrated"
        );
        Ok(())
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        self.sql("sqlite", "postgres")
    }

    /// The text for this backend, where the dialects need different SQL.
    fn sql(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => sqlite,
            Backend::Postgres(_) => postgres,
        }
    }

    /// Readiness: one round trip to the database.
    pub async fn ping(&self) -> Result<()> {
        with_backend!(self, |pool, _ts| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Writes this node's heartbeat: the readiness probe (it fails when the
    /// database cannot take writes) and the node's lease on its held cases.
    pub async fn heartbeat(&self, node: &str, now: DateTime<Utc>) -> Result<()> {
        with_backend!(self, |pool, ts| {
            sqlx::query(
                "INSERT INTO node_heartbeats (node, beat_at) VALUES ($1, $2) \
                 ON CONFLICT (node) DO UPDATE SET beat_at = excluded.beat_at",
            )
            .bind(node)
            .bind(ts(now))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Runs one statement as is; lets tests poke at constraints and triggers.
    #[cfg(test)]
    pub(crate) async fn execute_raw(&self, sql: &str) -> Result<u64> {
        let affected = with_backend!(self, |pool, _ts| {
            sqlx::query(sql).execute(pool).await?.rows_affected()
        });
        Ok(affected)
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        with_backend!(self, |pool, _ts| pool.close().await)
    }
}

/// The columns whose types differ between the dialects (SQLite: times as
/// fixed-width text, answers as JSON text, every integer as INTEGER; PostgreSQL:
/// TIMESTAMPTZ, JSONB, SMALLINT/INTEGER/BIGINT), read into one Rust type each.
pub(crate) trait DialectRow: sqlx::Row {
    fn opt_int(&self, col: &'static str) -> Result<Option<i64>>;
    fn opt_time(&self, col: &'static str) -> Result<Option<DateTime<Utc>>>;
    fn json(&self, col: &'static str) -> Result<serde_json::Value>;
}

/// A row of either backend, read column by column, so one reader function
/// serves both. A value that does not read back is `Corrupt`, naming the column.
pub(crate) trait StoredRow: DialectRow {
    fn text(&self, col: &'static str) -> Result<String>;
    fn opt_text(&self, col: &'static str) -> Result<Option<String>>;
    fn flag(&self, col: &'static str) -> Result<bool>;

    fn int(&self, col: &'static str) -> Result<i64> {
        self.opt_int(col)?.ok_or_else(|| unexpected_null(col))
    }

    fn time(&self, col: &'static str) -> Result<DateTime<Utc>> {
        self.opt_time(col)?.ok_or_else(|| unexpected_null(col))
    }

    /// An integer column as `T` (a level, a count, a SIP status).
    fn int_as<T>(&self, col: &'static str) -> Result<T>
    where
        T: TryFrom<i64>,
        T::Error: fmt::Display,
    {
        T::try_from(self.int(col)?).map_err(|e| StoreError::corrupt(col, e))
    }

    fn opt_int_as<T>(&self, col: &'static str) -> Result<Option<T>>
    where
        T: TryFrom<i64>,
        T::Error: fmt::Display,
    {
        self.opt_int(col)?
            .map(|n| T::try_from(n).map_err(|e| StoreError::corrupt(col, e)))
            .transpose()
    }

    /// What `read` makes of this row; a `Corrupt` error names the row by its `id`.
    fn by_id<T>(&self, read: impl FnOnce(&Self) -> Result<T>) -> Result<T>
    where
        Self: Sized,
    {
        let id = self.text("id")?;
        read(self).map_err(|e| e.in_row(&id))
    }

    /// A stored enum text, or a uuid.
    fn parsed<T>(&self, col: &'static str) -> Result<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.text(col)?
            .parse()
            .map_err(|e| StoreError::corrupt(col, e))
    }

    fn opt_parsed<T>(&self, col: &'static str) -> Result<Option<T>>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.opt_text(col)?
            .map(|v| v.parse().map_err(|e| StoreError::corrupt(col, e)))
            .transpose()
    }
}

/// Text and booleans read the same in both dialects.
impl<R> StoredRow for R
where
    R: DialectRow,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn text(&self, col: &'static str) -> Result<String> {
        Ok(self.try_get(col)?)
    }

    fn opt_text(&self, col: &'static str) -> Result<Option<String>> {
        Ok(self.try_get(col)?)
    }

    fn flag(&self, col: &'static str) -> Result<bool> {
        Ok(self.try_get(col)?)
    }
}

fn unexpected_null(col: &'static str) -> StoreError {
    StoreError::Database(sqlx::Error::ColumnDecode {
        index: col.to_string(),
        source: Box::new(sqlx::error::UnexpectedNullError),
    })
}

/// Truncates to microseconds (PostgreSQL's precision) and rejects times the text
/// form in SQLite cannot sort.
fn storable(field: &'static str, value: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if (1970..=9999).contains(&value.year()) {
        Ok(value.trunc_subsecs(6))
    } else {
        Err(StoreError::TimestampOutOfRange { field, value })
    }
}

#[cfg(test)]
pub(crate) mod tests;
