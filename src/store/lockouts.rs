//! Failed staff sign-ins per account and per client address, with the locks
//! they cause ([`crate::lockout::Policy`] decides). In the database so that a
//! lock holds on every node and survives a restart.

use super::{storable, with_backend, Result, Store, StoredRow};
use crate::lockout::Policy;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a lock is keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockKind {
    /// A typed user name (whether or not it is an account: no enumeration).
    Account,
    /// A client IP address.
    Address,
}

impl LockKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LockKind::Account => "account",
            LockKind::Address => "address",
        }
    }

    fn parse(text: &str) -> Option<LockKind> {
        match text {
            "account" => Some(LockKind::Account),
            "address" => Some(LockKind::Address),
            _ => None,
        }
    }
}

/// A key that is locked now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lockout {
    pub kind: LockKind,
    pub name: String,
    pub locked_until: DateTime<Utc>,
    /// Lockouts of this key so far (each one twice as long as the last).
    pub lockouts: u32,
}

/// Rows idle this long are forgotten (their next lock starts short again).
const FORGET_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(1);

impl Store {
    /// The latest end of a lock on any of `keys` that is still running.
    pub async fn login_locked_until(
        &self,
        keys: &[(LockKind, &str)],
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let now = storable("now", now)?;
        let mut latest = None;
        for (kind, name) in keys {
            let until = with_backend!(self, |pool, ts| {
                let row = sqlx::query(
                    "SELECT locked_until FROM auth_lockouts \
                     WHERE kind = $1 AND name = $2 AND locked_until > $3",
                )
                .bind(kind.as_str())
                .bind(*name)
                .bind(ts(now))
                .fetch_optional(pool)
                .await?;
                row.map(|r| r.time("locked_until")).transpose()?
            });
            latest = latest.max(until);
        }
        Ok(latest)
    }

    /// Counts a failed sign-in for a key; returns the end of the lock it starts.
    pub async fn login_failed(
        &self,
        kind: LockKind,
        name: &str,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<Option<DateTime<Utc>>> {
        let now = storable("now", now)?;
        let window = chrono::TimeDelta::from_std(policy.window).unwrap_or(chrono::TimeDelta::MAX);
        let forget = now - FORGET_AFTER;
        let lock_sql = self.sql(
            "SELECT failures, lockouts, last_failure FROM auth_lockouts \
             WHERE kind = $1 AND name = $2",
            "SELECT failures, lockouts, last_failure FROM auth_lockouts \
             WHERE kind = $1 AND name = $2 FOR UPDATE",
        );
        with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            // Housekeeping: rows of keys quiet for a day (not locked) go.
            sqlx::query(
                "DELETE FROM auth_lockouts WHERE last_failure < $1 \
                 AND (locked_until IS NULL OR locked_until < $1)",
            )
            .bind(ts(forget))
            .execute(&mut *tx)
            .await?;
            // The insert takes the write lock first (SQLite) and makes the row
            // exist for FOR UPDATE (PostgreSQL): concurrent failures serialise.
            sqlx::query(
                "INSERT INTO auth_lockouts (kind, name, failures, lockouts, last_failure) \
                 VALUES ($1, $2, 0, 0, $3) ON CONFLICT (kind, name) DO NOTHING",
            )
            .bind(kind.as_str())
            .bind(name)
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query(lock_sql)
                .bind(kind.as_str())
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
            let failures: u32 = row.int_as("failures")?;
            let lockouts: u32 = row.int_as("lockouts")?;
            let counted = if row.time("last_failure")? < now - window {
                0
            } else {
                failures
            };
            let step = policy.after_failure(counted, lockouts);
            let until = step
                .lock
                .map(|d| now + chrono::TimeDelta::from_std(d).unwrap_or(FORGET_AFTER));
            sqlx::query(
                "UPDATE auth_lockouts SET failures = $3, lockouts = $4, last_failure = $5, \
                 locked_until = COALESCE($6, locked_until) WHERE kind = $1 AND name = $2",
            )
            .bind(kind.as_str())
            .bind(name)
            .bind(i64::from(step.failures))
            .bind(i64::from(step.lockouts))
            .bind(ts(now))
            .bind(until.map(ts))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(until)
        })
    }

    /// Forgets a key's failures (a successful sign-in, or a lift).
    /// `Ok(false)` when there was nothing to forget.
    pub async fn clear_login_failures(&self, kind: LockKind, name: &str) -> Result<bool> {
        let n = with_backend!(self, |pool, _ts| {
            sqlx::query("DELETE FROM auth_lockouts WHERE kind = $1 AND name = $2")
                .bind(kind.as_str())
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Keys locked now, the longest-locked first.
    pub async fn active_lockouts(&self, now: DateTime<Utc>) -> Result<Vec<Lockout>> {
        let now = storable("now", now)?;
        with_backend!(self, |pool, ts| {
            let rows = sqlx::query(
                "SELECT kind, name, locked_until, lockouts FROM auth_lockouts \
                 WHERE locked_until > $1 ORDER BY locked_until DESC LIMIT 500",
            )
            .bind(ts(now))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let kind = row.text("kind")?;
                    Ok(Lockout {
                        kind: LockKind::parse(&kind)
                            .ok_or_else(|| super::StoreError::corrupt("kind", kind))?,
                        name: row.text("name")?,
                        locked_until: row.time("locked_until")?,
                        lockouts: row.int_as("lockouts")?,
                    })
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{postgres_test_db, sqlite_test_db};
    use chrono::TimeZone;
    use std::time::Duration;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    async fn failures_lock_grow_and_clear(store: Store) {
        let policy = Policy {
            max_failures: 3,
            window: Duration::from_secs(600),
            base_lock: Duration::from_secs(60),
            max_lock: Duration::from_secs(3600),
        };
        let key = (LockKind::Account, "anna");
        let sec = chrono::TimeDelta::seconds;
        for i in 0..2 {
            let r = store
                .login_failed(key.0, key.1, t0() + sec(i), &policy)
                .await;
            assert_eq!(r.unwrap(), None);
        }
        let until = store
            .login_failed(key.0, key.1, t0() + sec(2), &policy)
            .await;
        assert_eq!(until.unwrap(), Some(t0() + sec(62)));
        let locked = store.login_locked_until(&[key], t0() + sec(3)).await;
        assert_eq!(locked.unwrap(), Some(t0() + sec(62)));
        let other = store
            .login_locked_until(&[(LockKind::Address, "anna")], t0())
            .await;
        assert_eq!(other.unwrap(), None);
        let listed = store.active_lockouts(t0() + sec(3)).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "anna");
        // After the lock, three more failures lock for twice as long.
        let later = t0() + sec(100);
        for _ in 0..2 {
            store
                .login_failed(key.0, key.1, later, &policy)
                .await
                .unwrap();
        }
        let until = store.login_failed(key.0, key.1, later, &policy).await;
        assert_eq!(until.unwrap(), Some(later + sec(120)));
        assert!(store.clear_login_failures(key.0, key.1).await.unwrap());
        let locked = store.login_locked_until(&[key], later).await;
        assert_eq!(locked.unwrap(), None);
    }

    #[tokio::test]
    async fn sqlite_failures_lock_grow_and_clear() {
        let db = sqlite_test_db().await;
        failures_lock_grow_and_clear(db.store.clone()).await;
        db.finish().await;
    }

    #[tokio::test]
    async fn postgres_failures_lock_grow_and_clear() {
        let db = postgres_test_db().await;
        failures_lock_grow_and_clear(db.store.clone()).await;
        db.finish().await;
    }
}
