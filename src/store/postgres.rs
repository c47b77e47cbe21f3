//! PostgreSQL dialect: TIMESTAMPTZ, JSONB answers, BOOLEAN. Several nodes share
//! one database; migrations take PostgreSQL's advisory lock. Here: connecting
//! and reading its column types; the queries are shared.

use super::{DialectRow, Result, StoreError};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Column, PgPool, Row, TypeInfo};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

fn connect_error(source: sqlx::Error) -> StoreError {
    StoreError::Connect {
        backend: "postgres",
        source,
    }
}

fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(5))
}

pub(super) async fn connect(url: &str) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(url).map_err(connect_error)?;
    let pool = pool_options()
        .connect_with(options)
        .await
        .map_err(connect_error)?;
    migrate(&pool).await?;
    Ok(pool)
}

/// A pool that connects on first use; migrations wait for `migrate`.
pub(super) fn connect_lazy(url: &str) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(url).map_err(connect_error)?;
    Ok(pool_options().connect_lazy_with(options))
}

pub(super) async fn migrate(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

impl DialectRow for PgRow {
    /// SMALLINT, INTEGER and BIGINT columns alike.
    fn opt_int(&self, col: &'static str) -> Result<Option<i64>> {
        Ok(match self.try_column(col)?.type_info().name() {
            "INT2" => self.try_get::<Option<i16>, _>(col)?.map(i64::from),
            "INT4" => self.try_get::<Option<i32>, _>(col)?.map(i64::from),
            _ => self.try_get(col)?,
        })
    }

    fn opt_time(&self, col: &'static str) -> Result<Option<DateTime<Utc>>> {
        Ok(self.try_get(col)?)
    }

    fn json(&self, col: &'static str) -> Result<serde_json::Value> {
        Ok(self.try_get(col)?)
    }
}
