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
        // WAL + FULL: every commit is on disk before the caller hears it is
        // registered, also across a power loss (NORMAL could drop the last
        // commits then).
        options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
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
    migrate(&pool).await?;
    Ok(pool)
}

/// Runs pending migrations on one connection with foreign keys off (SQLite's
/// documented way to rebuild a table, e.g. to change a CHECK: dropping the old
/// table must not fire ON DELETE on the tables that point at it), then checks
/// every foreign key before turning them back on.
async fn migrate(pool: &SqlitePool) -> Result<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await?;
    let ran = MIGRATOR.run(&mut *conn).await;
    let broken = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&mut *conn)
        .await;
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await?;
    ran?;
    if !broken?.is_empty() {
        return Err(StoreError::Database(sqlx::Error::Protocol(
            "a migration left rows whose foreign keys point nowhere (PRAGMA foreign_key_check)"
                .into(),
        )));
    }
    Ok(())
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
