//! Staff accounts and login sessions. Passwords arrive already hashed (argon2,
//! in `api::auth`); session tokens arrive only as their SHA-256 hex, so neither
//! a password nor a usable token is ever stored.

use super::with_backend;
use super::{Result, Store, StoredRow};
use crate::case::UnknownValue;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::fmt;
use std::str::FromStr;

/// A staff role. Ordered: a supervisor may do everything a nurse may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Nurse,
    Supervisor,
}

impl Role {
    /// The stored and JSON text.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Nurse => "nurse",
            Role::Supervisor => "supervisor",
        }
    }

    /// Whether this role grants what `needed` grants.
    pub fn includes(self, needed: Role) -> bool {
        self >= needed
    }
}

impl FromStr for Role {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Role, UnknownValue> {
        match s {
            "nurse" => Ok(Role::Nurse),
            "supervisor" => Ok(Role::Supervisor),
            other => Err(UnknownValue {
                kind: "role",
                value: other.chars().take(40).collect(),
            }),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored account. `Debug` leaves the hash out.
#[derive(Clone, PartialEq, Eq)]
pub struct StaffUser {
    pub username: String,
    pub role: Role,
    /// PHC string (`$argon2id$...`).
    pub password_hash: String,
    pub disabled: bool,
}

impl fmt::Debug for StaffUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaffUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// Who a live session belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionUser {
    pub username: String,
    pub role: Role,
}

/// How stale the last-used mark may get: a tenth of the idle time, at most 15 s.
fn touch_every(idle: TimeDelta) -> TimeDelta {
    (idle / 10).min(TimeDelta::seconds(15))
}

fn corrupt_role(e: UnknownValue) -> super::StoreError {
    super::StoreError::Corrupt {
        id: String::new(),
        field: "role",
        message: e.to_string(),
    }
}

impl Store {
    /// Creates an account; `Ok(false)` when the name is taken (nothing changed).
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let now = super::storable("now", now)?;
        let result = with_backend!(self, |pool, ts| {
            sqlx::query(
                "INSERT INTO staff_users (username, password_hash, role, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(username)
            .bind(password_hash)
            .bind(role.as_str())
            .bind(ts(now))
            .execute(pool)
            .await
            .map(|_| ())
        });
        match result {
            Ok(()) => Ok(true),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces password and role of an existing account and ends its sessions;
    /// `Ok(false)` when there is no such account.
    pub async fn update_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<bool> {
        let changed = with_backend!(self, |pool, _ts| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE staff_users SET password_hash = $2, role = $3, disabled = FALSE \
                 WHERE username = $1",
            )
            .bind(username)
            .bind(password_hash)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM staff_sessions WHERE username = $1")
                .bind(username)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            done.rows_affected() > 0
        });
        Ok(changed)
    }

    /// The account with this name, if any.
    pub async fn find_user(&self, username: &str) -> Result<Option<StaffUser>> {
        let sql =
            "SELECT username, password_hash, role, disabled FROM staff_users WHERE username = $1";
        let row = with_backend!(self, |pool, _ts| {
            let row = sqlx::query(sql).bind(username).fetch_optional(pool).await?;
            match row {
                None => None,
                Some(row) => Some((
                    row.try_get::<String, _>("username")?,
                    row.try_get::<String, _>("password_hash")?,
                    row.try_get::<String, _>("role")?,
                    row.try_get::<bool, _>("disabled")?,
                )),
            }
        });
        row.map(|(username, password_hash, role, disabled)| {
            Ok(StaffUser {
                username,
                role: role.parse().map_err(corrupt_role)?,
                password_hash,
                disabled,
            })
        })
        .transpose()
    }

    /// Sets (or with `None` clears) the SIP digest HA1 of an account, for its
    /// desk phone; `Ok(false)` when there is no such account.
    pub async fn set_sip_ha1(&self, username: &str, ha1: Option<&str>) -> Result<bool> {
        let changed = with_backend!(self, |pool, _ts| {
            sqlx::query("UPDATE staff_users SET sip_ha1 = $2 WHERE username = $1")
                .bind(username)
                .bind(ha1)
                .execute(pool)
                .await?
                .rows_affected()
                > 0
        });
        Ok(changed)
    }

    /// The SIP digest HA1 of an enabled account that has one: what the
    /// registrar checks a nurse phone's REGISTER against.
    pub async fn sip_ha1(&self, username: &str) -> Result<Option<String>> {
        let sql = "SELECT sip_ha1 FROM staff_users WHERE username = $1 AND disabled = FALSE";
        let ha1 = with_backend!(self, |pool, _ts| {
            sqlx::query_scalar::<_, Option<String>>(sql)
                .bind(username)
                .fetch_optional(pool)
                .await?
                .flatten()
        });
        Ok(ha1)
    }

    /// Stores a new session (by token hash) for `username` until `expires_at`.
    pub async fn create_session(
        &self,
        token_sha256: &str,
        username: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let now = super::storable("now", now)?;
        let expires_at = super::storable("expires_at", expires_at)?;
        with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            // Housekeeping on each login keeps the table small.
            sqlx::query("DELETE FROM staff_sessions WHERE expires_at <= $1")
                .bind(ts(now))
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO staff_sessions \
                 (token_sha256, username, created_at, expires_at, last_seen_at) \
                 VALUES ($1, $2, $3, $4, $3)",
            )
            .bind(token_sha256)
            .bind(username)
            .bind(ts(now))
            .bind(ts(expires_at))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The user of an unexpired session of an enabled account.
    pub async fn session_user(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionUser>> {
        let now = super::storable("now", now)?;
        let sql = "SELECT u.username, u.role FROM staff_sessions s \
                   JOIN staff_users u ON u.username = s.username \
                   WHERE s.token_sha256 = $1 AND s.expires_at > $2 AND u.disabled = FALSE";
        let row = with_backend!(self, |pool, ts| {
            let row = sqlx::query(sql)
                .bind(token_sha256)
                .bind(ts(now))
                .fetch_optional(pool)
                .await?;
            match row {
                None => None,
                Some(row) => Some((
                    row.try_get::<String, _>("username")?,
                    row.try_get::<String, _>("role")?,
                )),
            }
        });
        row.map(|(username, role)| {
            Ok(SessionUser {
                username,
                role: role.parse().map_err(corrupt_role)?,
            })
        })
        .transpose()
    }

    /// The user of a session that is unexpired, of an enabled account and was
    /// used less than `idle` ago; with `used`, marks it used now. (The mark is
    /// written at most every [`touch_every`] so that reads do not all become
    /// writes.)
    pub async fn touch_session(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
        idle: TimeDelta,
        used: bool,
    ) -> Result<Option<SessionUser>> {
        let now = super::storable("now", now)?;
        let cutoff = now - idle;
        let sql = "SELECT u.username, u.role, COALESCE(s.last_seen_at, s.created_at) AS seen \
                   FROM staff_sessions s JOIN staff_users u ON u.username = s.username \
                   WHERE s.token_sha256 = $1 AND s.expires_at > $2 AND u.disabled = FALSE \
                   AND COALESCE(s.last_seen_at, s.created_at) > $3";
        let found = with_backend!(self, |pool, ts| {
            let row = sqlx::query(sql)
                .bind(token_sha256)
                .bind(ts(now))
                .bind(ts(cutoff))
                .fetch_optional(pool)
                .await?;
            match row {
                None => None,
                Some(row) => Some((row.text("username")?, row.text("role")?, row.time("seen")?)),
            }
        });
        let Some((username, role, seen)) = found else {
            return Ok(None);
        };
        if used && seen < now - touch_every(idle) {
            with_backend!(self, |pool, ts| {
                sqlx::query("UPDATE staff_sessions SET last_seen_at = $2 WHERE token_sha256 = $1")
                    .bind(token_sha256)
                    .bind(ts(now))
                    .execute(pool)
                    .await?;
            });
        }
        Ok(Some(SessionUser {
            username,
            role: role.parse().map_err(corrupt_role)?,
        }))
    }

    /// Disables or enables an account; disabling ends its sessions at once
    /// (and its desk phone's REGISTERs fail: see [`Store::sip_ha1`]).
    /// `Ok(false)` when there is no such account.
    pub async fn set_user_disabled(&self, username: &str, disabled: bool) -> Result<bool> {
        let changed = with_backend!(self, |pool, _ts| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("UPDATE staff_users SET disabled = $2 WHERE username = $1")
                .bind(username)
                .bind(disabled)
                .execute(&mut *tx)
                .await?;
            if disabled {
                sqlx::query("DELETE FROM staff_sessions WHERE username = $1")
                    .bind(username)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            done.rows_affected() > 0
        });
        Ok(changed)
    }

    /// Ends one session (logout). Unknown tokens are fine.
    pub async fn delete_session(&self, token_sha256: &str) -> Result<()> {
        with_backend!(self, |pool, _ts| {
            sqlx::query("DELETE FROM staff_sessions WHERE token_sha256 = $1")
                .bind(token_sha256)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{postgres_test_db, sqlite_test_db};
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    async fn sip_ha1_is_stored_cleared_and_hidden_for_disabled_users(store: Store) {
        assert!(store
            .create_user("anna", "$argon2id$x", Role::Nurse, t0())
            .await
            .unwrap());
        assert_eq!(store.sip_ha1("anna").await.unwrap(), None);
        assert_eq!(store.sip_ha1("nobody").await.unwrap(), None);
        let ha1 = "0123456789abcdef0123456789abcdef";
        assert!(store.set_sip_ha1("anna", Some(ha1)).await.unwrap());
        assert!(!store.set_sip_ha1("nobody", Some(ha1)).await.unwrap());
        assert_eq!(store.sip_ha1("anna").await.unwrap().as_deref(), Some(ha1));
        let disable = "UPDATE staff_users SET disabled = TRUE WHERE username = 'anna'";
        with_backend!(&store, |pool, _ts| {
            sqlx::query(disable).execute(pool).await.unwrap();
        });
        assert_eq!(store.sip_ha1("anna").await.unwrap(), None);
        assert!(store.set_sip_ha1("anna", None).await.unwrap());
    }

    #[tokio::test]
    async fn sqlite_sip_ha1_is_stored_cleared_and_hidden_for_disabled_users() {
        let db = sqlite_test_db().await;
        sip_ha1_is_stored_cleared_and_hidden_for_disabled_users(db.store.clone()).await;
        db.finish().await;
    }

    #[tokio::test]
    async fn postgres_sip_ha1_is_stored_cleared_and_hidden_for_disabled_users() {
        let db = postgres_test_db().await;
        sip_ha1_is_stored_cleared_and_hidden_for_disabled_users(db.store.clone()).await;
        db.finish().await;
    }
}
