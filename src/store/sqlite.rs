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
    migrate(&pool).await?;
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

/// Runs pending migrations on one connection with foreign keys off (SQLite's
/// documented way to rebuild a table, e.g. to change a CHECK: dropping the old
/// table must not fire ON DELETE on the tables that point at it), then checks
/// every foreign key before turning them back on.
pub(super) fn migrate(
    pool: &SqlitePool,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + '_>> {
    // Boxed as `Send`: the readiness probe runs it in a spawned task, and
    // sqlx's `Acquire` bounds are too general for the compiler to see that
    // through an `async fn`.
    Box::pin(async move {
        let mut conn = pool.acquire().await?;
        sqlx::query("PRAGMA foreign_keys = OFF")
            .execute(&mut *conn)
            .await?;
        let ran = MIGRATOR.run_direct(&mut *conn).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    /// 0009 rebuilds `cases` (to widen its status CHECK): a database written
    /// before it keeps every case and the rows that point at them (the
    /// voice note would be deleted and the call leg unlinked if the old table
    /// were dropped with foreign keys on).
    #[tokio::test]
    async fn rebuilding_cases_keeps_the_rows_that_point_at_them() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
        let options = SqliteConnectOptions::from_str(&url)
            .unwrap_or_else(|e| panic!("{e}"))
            .foreign_keys(true);
        let old = SqlitePool::connect_with(options)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut before = sqlx::migrate!("migrations/sqlite");
        before.migrations = Cow::Owned(
            before
                .migrations
                .iter()
                .filter(|m| m.version < 9)
                .cloned()
                .collect(),
        );
        before.run(&old).await.unwrap_or_else(|e| panic!("{e}"));
        for sql in [
            "INSERT INTO cases (id, channel, priority, status, mode, registered_at, deadline, \
             language, claimed_by, claimed_at) VALUES ('c1', 'phone', 2, 'claimed', 'callback', \
             '2025-03-01T09:00:00.000000Z', '2025-03-01T09:30:00.000000Z', 'sv', 'anna', \
             '2025-03-01T09:01:00.000000Z')",
            "INSERT INTO voice_notes (case_id, recorded_at, wav) VALUES ('c1', \
             '2025-03-01T09:00:00.000000Z', zeroblob(100))",
            "INSERT INTO call_legs (id, case_id, direction, kind, started_at, ended_at, result) \
             VALUES ('l1', 'c1', 'outbound', 'resident', '2025-03-01T09:02:00.000000Z', \
             '2025-03-01T09:03:00.000000Z', 'busy')",
        ] {
            sqlx::query(sql)
                .execute(&old)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        old.close().await;

        let pool = connect_url(&url).await.unwrap_or_else(|e| panic!("{e}"));
        let count = |sql: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&pool)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        };
        assert_eq!(
            count("SELECT COUNT(*) FROM cases WHERE claimed_by = 'anna'").await,
            1
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM voice_notes WHERE case_id = 'c1'").await,
            1
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM call_legs WHERE case_id = 'c1'").await,
            1
        );
        // The new status is allowed; the triggers and foreign keys are back.
        let version = count("SELECT version FROM live_versions WHERE topic = 'queue'").await;
        sqlx::query("UPDATE cases SET status = 'review', review_reason = 'not_reached'")
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(count("SELECT version FROM live_versions WHERE topic = 'queue'").await > version);
        assert!(
            sqlx::query(
                "INSERT INTO voice_notes (case_id, recorded_at, wav) VALUES ('nope', \
                 '2025-03-01T09:00:00.000000Z', zeroblob(100))"
            )
            .execute(&pool)
            .await
            .is_err(),
            "foreign keys are on again"
        );
        pool.close().await;
    }
}
