//! Pickups of a held caller across nodes. The caller's live call is on the
//! node that holds the case (`cases.held_by`); a nurse signed in on another
//! node asks that node here ([`Store::request_pickup`]), the holding node
//! takes pending requests ([`Store::take_pickups`]) and says how it went
//! ([`Store::finish_pickup`]). Each step is a conditional update, so a
//! request is taken once, and one the asking node gave up on
//! ([`Store::expire_pickup`]) is never started. No personal data.

use super::{storable, with_backend, Result, Store, StoredRow};
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

/// Rows older than this are removed when a new request is made.
const KEEP: TimeDelta = TimeDelta::hours(24);

/// A pickup the holding node must start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pickup {
    /// The callback's id, chosen by the asking node (its status poll uses it).
    pub call_id: Uuid,
    pub case_id: Uuid,
    pub nurse: String,
}

/// Where a pickup request is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PickupState {
    Pending,
    Taken,
    Started,
    /// The holding node could not start it; why (no personal data).
    Failed(String),
    Expired,
}

const HELD_BY_SQL: &str = "SELECT held_by FROM cases WHERE id = $1 AND mode = 'hold'";

const INSERT_SQL: &str = "INSERT INTO held_pickups (call_id, case_id, nurse, node, status, \
     requested_at) VALUES ($1, $2, $3, $4, 'pending', $5)";

const PRUNE_SQL: &str = "DELETE FROM held_pickups WHERE requested_at < $1";

const TAKE_SQL: &str = "UPDATE held_pickups SET status = 'taken' \
     WHERE node = $1 AND status = 'pending' RETURNING call_id, case_id, nurse";

const ANY_PENDING_SQL: &str =
    "SELECT call_id FROM held_pickups WHERE node = $1 AND status = 'pending' LIMIT 1";

const FINISH_SQL: &str = "UPDATE held_pickups SET status = $2, message = $3 \
     WHERE call_id = $1 AND status = 'taken'";

const EXPIRE_SQL: &str = "UPDATE held_pickups SET status = 'expired' \
     WHERE call_id = $1 AND status = 'pending' RETURNING call_id";

const STATE_SQL: &str = "SELECT status, message FROM held_pickups WHERE call_id = $1";

impl Store {
    /// The node whose live call holds case `id`, while it is held.
    pub async fn held_by(&self, id: Uuid) -> Result<Option<String>> {
        let id = id.to_string();
        let node: Option<Option<String>> = with_backend!(self, |pool, _ts| {
            sqlx::query_scalar(HELD_BY_SQL)
                .bind(&id)
                .fetch_optional(pool)
                .await?
        });
        Ok(node.flatten())
    }

    /// Asks `node` to connect `pickup.nurse` to the caller holding there.
    pub async fn request_pickup(
        &self,
        pickup: &Pickup,
        node: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = storable("now", now)?;
        with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            sqlx::query(PRUNE_SQL)
                .bind(ts(now - KEEP))
                .execute(&mut *tx)
                .await?;
            sqlx::query(INSERT_SQL)
                .bind(pickup.call_id.to_string())
                .bind(pickup.case_id.to_string())
                .bind(&pickup.nurse)
                .bind(node)
                .bind(ts(now))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Takes every pending request addressed to `node` (each once). Polled
    /// often: a read first, so no write lock is taken while there is none.
    pub async fn take_pickups(&self, node: &str) -> Result<Vec<Pickup>> {
        with_backend!(self, |pool, _ts| {
            let pending: Option<String> = sqlx::query_scalar(ANY_PENDING_SQL)
                .bind(node)
                .fetch_optional(pool)
                .await?;
            if pending.is_none() {
                return Ok(Vec::new());
            }
            let rows = sqlx::query(TAKE_SQL).bind(node).fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    Ok(Pickup {
                        call_id: r.parsed("call_id")?,
                        case_id: r.parsed("case_id")?,
                        nurse: r.text("nurse")?,
                    })
                })
                .collect()
        })
    }

    /// Says how a taken request went: `Ok(())` started, `Err(why)` failed.
    pub async fn finish_pickup(
        &self,
        call_id: Uuid,
        outcome: std::result::Result<(), String>,
    ) -> Result<()> {
        let (status, message) = match outcome {
            Ok(()) => ("started", None),
            Err(why) => ("failed", Some(why.chars().take(300).collect::<String>())),
        };
        with_backend!(self, |pool, _ts| {
            sqlx::query(FINISH_SQL)
                .bind(call_id.to_string())
                .bind(status)
                .bind(message)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Gives up a request nobody took yet; false when it was taken meanwhile.
    pub async fn expire_pickup(&self, call_id: Uuid) -> Result<bool> {
        let hit: Option<String> = with_backend!(self, |pool, _ts| {
            sqlx::query_scalar(EXPIRE_SQL)
                .bind(call_id.to_string())
                .fetch_optional(pool)
                .await?
        });
        Ok(hit.is_some())
    }

    /// Where request `call_id` is; `None` when there is none.
    pub async fn pickup_state(&self, call_id: Uuid) -> Result<Option<PickupState>> {
        let row: Option<(String, Option<String>)> = with_backend!(self, |pool, _ts| {
            sqlx::query_as(STATE_SQL)
                .bind(call_id.to_string())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(status, message)| match status.as_str() {
            "pending" => PickupState::Pending,
            "taken" => PickupState::Taken,
            "started" => PickupState::Started,
            "expired" => PickupState::Expired,
            _ => PickupState::Failed(message.unwrap_or_default()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{on_both_backends, postgres_test_db, sqlite_test_db};

    fn pickup(n: u128) -> Pickup {
        Pickup {
            call_id: Uuid::from_u128(n),
            case_id: Uuid::from_u128(100 + n),
            nurse: "nina".into(),
        }
    }

    async fn a_pickup_is_taken_once_by_its_node_and_an_expired_one_never(store: Store) {
        let now = Utc::now();
        store.request_pickup(&pickup(1), "a", now).await.unwrap();
        store.request_pickup(&pickup(2), "a", now).await.unwrap();
        store.request_pickup(&pickup(3), "b", now).await.unwrap();
        // The asking node gives up on 2 before node a looks.
        assert!(store.expire_pickup(Uuid::from_u128(2)).await.unwrap());
        assert_eq!(store.take_pickups("a").await.unwrap(), vec![pickup(1)]);
        assert!(store.take_pickups("a").await.unwrap().is_empty(), "once");
        // Taken: too late to expire; the holding node's word counts.
        assert!(!store.expire_pickup(Uuid::from_u128(1)).await.unwrap());
        let state = |n| store.pickup_state(Uuid::from_u128(n));
        assert_eq!(state(1).await.unwrap(), Some(PickupState::Taken));
        store
            .finish_pickup(Uuid::from_u128(1), Ok(()))
            .await
            .unwrap();
        assert_eq!(state(1).await.unwrap(), Some(PickupState::Started));
        assert_eq!(state(2).await.unwrap(), Some(PickupState::Expired));
        assert_eq!(state(3).await.unwrap(), Some(PickupState::Pending));
        let taken = store.take_pickups("b").await.unwrap();
        assert_eq!(taken, vec![pickup(3)]);
        store
            .finish_pickup(Uuid::from_u128(3), Err("no phone".into()))
            .await
            .unwrap();
        assert_eq!(
            state(3).await.unwrap(),
            Some(PickupState::Failed("no phone".into()))
        );
        assert_eq!(state(9).await.unwrap(), None);
        assert_eq!(store.held_by(Uuid::from_u128(101)).await.unwrap(), None);
    }

    on_both_backends!(a_pickup_is_taken_once_by_its_node_and_an_expired_one_never);
}
