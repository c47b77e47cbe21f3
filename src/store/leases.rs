//! Leases on claims: a nurse's claim lasts until `claim_expires_at`, renewed
//! while her page is open and while a callback for the case is running. Any
//! node's sweeper puts expired claims back in the queue (waiting, holding for
//! a caller still on the line, or the review list the case came from), one
//! audit row per case in the same transaction. The row is locked before it is
//! changed, so two nodes sweeping at once return each claim once.

use super::audit::AuditRecord;
use super::audit_chain::append_audit;
use super::claims::{back_to_queue, Actor, ClaimError};
use super::{storable, with_backend, Result, Store};
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

/// A claim's length when `queue.toml` does not say (`claim_lease_minutes`).
pub const DEFAULT_CLAIM_LEASE: TimeDelta = TimeDelta::minutes(5);

/// Expired at `$1`; a claim from before leases (no expiry) counts from its
/// claim time, so it gets one lease (`$2` = now - lease) after the upgrade.
macro_rules! expired {
    () => {
        "status = 'claimed' AND (claim_expires_at < $1 \
         OR (claim_expires_at IS NULL AND claimed_at < $2))"
    };
}

const EXPIRED_SQL: &str = concat!("SELECT id FROM cases WHERE ", expired!());

/// Locks the row if its claim is still expired (a no-op write: PostgreSQL
/// waits here for another node's sweep and then sees its result; SQLite takes
/// its write lock) and reads who held it.
const LOCK_EXPIRED_SQL: &str = concat!(
    "UPDATE cases SET claimed_by = claimed_by WHERE id = $3 AND ",
    expired!(),
    " RETURNING claimed_by"
);

const RETURN_SQL: &str = concat!(
    "UPDATE cases SET status = ",
    back_to_queue!(),
    ", claimed_by = NULL, claimed_at = NULL, claim_expires_at = NULL WHERE id = $1 \
     RETURNING status"
);

const RENEW_SQL: &str = "UPDATE cases SET claim_expires_at = $3 \
     WHERE id = $1 AND status = 'claimed' AND claimed_by = $2 RETURNING id";

impl Store {
    /// When a claim taken or renewed at `now` ends.
    pub(super) fn claim_expiry(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
        let end = now
            .checked_add_signed(self.claim_lease)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        storable("claim_expires_at", end)
    }

    /// Extends `username`'s claim on case `id` to a lease from `now`; returns
    /// the new end. Not audited: it changes nothing but the lease. Errors as
    /// for a release: `NotYours`, `WrongStatus` (the claim ended, say it
    /// expired and was swept), `NotFound`.
    pub async fn renew_claim(
        &self,
        id: Uuid,
        username: &str,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, ClaimError> {
        let expires = self.claim_expiry(storable("now", now)?)?;
        let text_id = id.to_string();
        let hit: Option<String> = with_backend!(self, |pool, ts| {
            sqlx::query_scalar(RENEW_SQL)
                .bind(&text_id)
                .bind(username)
                .bind(ts(expires))
                .fetch_optional(pool)
                .await?
        });
        if hit.is_some() {
            return Ok(expires);
        }
        let actor = Actor {
            username,
            ip: None,
            may_override: false,
        };
        Err(match self.after_change(id, false, true, &actor).await {
            Err(e) => e,
            Ok(case) => ClaimError::WrongStatus {
                id,
                status: case.status,
            },
        })
    }

    /// Claims whose lease ended before `now` go back to the queue, each with
    /// a `claim.expired` audit row by `system` in the same transaction.
    /// Returns their ids. Any node may run this, also at the same time.
    pub async fn sweep_expired_claims(&self, now: DateTime<Utc>) -> Result<Vec<Uuid>> {
        let now = storable("now", now)?;
        let lease_ago = storable(
            "now",
            now.checked_sub_signed(self.claim_lease).unwrap_or(now),
        )?;
        let ids: Vec<String> = with_backend!(self, |pool, ts| {
            sqlx::query_scalar(EXPIRED_SQL)
                .bind(ts(now))
                .bind(ts(lease_ago))
                .fetch_all(pool)
                .await?
        });
        let mut swept = Vec::new();
        for text_id in ids {
            let Ok(id) = Uuid::parse_str(&text_id) else {
                continue;
            };
            let returned = with_backend!(self, |pool, ts| {
                let mut tx = pool.begin().await?;
                let holder: Option<Option<String>> = sqlx::query_scalar(LOCK_EXPIRED_SQL)
                    .bind(ts(now))
                    .bind(ts(lease_ago))
                    .bind(&text_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                match holder {
                    None => {
                        tx.rollback().await?;
                        false
                    }
                    Some(holder) => {
                        let status: String = sqlx::query_scalar(RETURN_SQL)
                            .bind(&text_id)
                            .fetch_one(&mut *tx)
                            .await?;
                        let audit = AuditRecord::new(
                            now,
                            "system",
                            "claim.expired",
                            Some(id),
                            format!(
                                "claimed_by={} not renewed: status={status}",
                                holder.as_deref().unwrap_or("-")
                            ),
                            None,
                        );
                        append_audit!(tx, ts, &audit);
                        tx.commit().await?;
                        true
                    }
                }
            });
            if returned {
                swept.push(id);
            }
        }
        Ok(swept)
    }
}

#[cfg(test)]
mod tests;
