//! SQLite dialect: timestamps as fixed-width UTC text (sorts as time), answers as
//! JSON text, booleans as 0/1. One writer at a time; WAL lets readers go on.
//! Here: opening the file and reading its column types; the queries are shared.

use super::{DialectRow, Result, StoreError};
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

pub(super) fn in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

pub(super) fn options_from_url(url: &str) -> Result<SqliteConnectOptions> {
    SqliteConnectOptions::from_str(url).map_err(|source| StoreError::Connect {
        backend: "sqlite",
        source,
    })
}

pub(super) fn options_from_path(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new().filename(path)
}

pub(super) async fn connect_url(url: &str) -> Result<SqlitePool> {
    open(options_from_url(url)?, in_memory(url)).await
}

pub(super) async fn connect_path(path: &Path) -> Result<SqlitePool> {
    open(options_from_path(path), false).await
}

/// A pool that opens the file on first use (no migrations yet), and the
/// directory the file needs.
pub(super) fn connect_lazy(
    options: SqliteConnectOptions,
) -> (SqlitePool, Option<std::path::PathBuf>) {
    let options = file_options(options);
    let dir = database_dir(&options);
    (pool_options(false).connect_lazy_with(options), dir)
}

pub(super) async fn migrate(pool: &SqlitePool) -> Result<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

fn database_dir(options: &SqliteConnectOptions) -> Option<std::path::PathBuf> {
    let dir = options.get_filename().parent()?;
    (!dir.as_os_str().is_empty()).then(|| dir.to_path_buf())
}

/// Every connection's settings; a file database also gets WAL + FULL:
/// every commit is on disk before the caller hears it is registered, also
/// across a power loss (NORMAL could drop the last commits then).
fn file_options(options: SqliteConnectOptions) -> SqliteConnectOptions {
    base_options(options)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
}

fn base_options(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
}

async fn open(options: SqliteConnectOptions, in_memory: bool) -> Result<SqlitePool> {
    let options = if in_memory {
        base_options(options)
    } else {
        let options = file_options(options);
        if let Some(dir) = database_dir(&options) {
            std::fs::create_dir_all(&dir)
                .map_err(|source| StoreError::CreateDir { path: dir, source })?;
        }
        options
    };
    let pool = pool_options(in_memory)
        .connect_with(options)
        .await
        .map_err(|source| StoreError::Connect {
            backend: "sqlite",
            source,
        })?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

fn pool_options(in_memory: bool) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
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
}

/// Fixed-width UTC text: `2025-03-01T09:00:00.000000Z`, so text order is time order.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

impl DialectRow for SqliteRow {
    fn opt_int(&self, col: &'static str) -> Result<Option<i64>> {
        Ok(self.try_get(col)?)
    }

    fn opt_time(&self, col: &'static str) -> Result<Option<DateTime<Utc>>> {
        self.try_get::<Option<String>, _>(col)?
            .map(|text| {
                DateTime::parse_from_rfc3339(&text)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| StoreError::corrupt(col, e))
            })
            .transpose()
    }

    fn json(&self, col: &'static str) -> Result<serde_json::Value> {
        let text: String = self.try_get(col)?;
        serde_json::from_str(&text).map_err(|e| StoreError::corrupt(col, e))
    }
}
