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
