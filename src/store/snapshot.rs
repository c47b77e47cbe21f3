//! What the queue estimator reads: the open cases (order fields only, no personal
//! data), how many nurses are busy, recent arrivals per level and today's callbacks.

use super::{storable, with_backend, Result, Store, StoredRow};
use crate::queue::QueuedCase;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A consistent-enough picture of the queue for one estimate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueSnapshot {
    /// Waiting and holding cases (any order).
    pub open: Vec<QueuedCase<Uuid>>,
    /// Cases claimed by a nurse right now (each keeps one nurse busy).
    pub claimed: usize,
    /// Queued cases registered since `arrivals_since`, per level (index 0 = level 1).
    pub arrivals: [u32; 5],
    /// Callback cases registered since `day_start`.
    pub callbacks_today: u32,
}

const OPEN_SQL: &str = "SELECT id, priority, registered_at, deadline FROM cases \
     WHERE status IN ('waiting', 'holding')";
const CLAIMED_SQL: &str = "SELECT COUNT(*) FROM cases WHERE status = 'claimed'";
/// Contacts closed in the IVR never queue: not arrivals (as in [`super::arrivals`]).
const ARRIVALS_SQL: &str = "SELECT priority, COUNT(*) AS n FROM cases \
     WHERE registered_at >= $1 AND summary NOT IN ($2, $3) GROUP BY priority";
const CALLBACKS_SQL: &str =
    "SELECT COUNT(*) FROM cases WHERE mode = 'callback' AND registered_at >= $1";

impl Store {
    /// Reads the queue picture; `arrivals_since` starts the arrival-rate window,
    /// `day_start` is local midnight (for the daily callback capacity).
    pub async fn queue_snapshot(
        &self,
        arrivals_since: DateTime<Utc>,
        day_start: DateTime<Utc>,
    ) -> Result<QueueSnapshot> {
        let since = storable("arrivals_since", arrivals_since)?;
        let day = storable("day_start", day_start)?;
        let mut snap = QueueSnapshot::default();
        with_backend!(self, |pool, ts| {
            for row in sqlx::query(OPEN_SQL).fetch_all(pool).await? {
                snap.open.push(queued(&row)?);
            }
            let claimed: i64 = sqlx::query_scalar(CLAIMED_SQL).fetch_one(pool).await?;
            snap.claimed = usize::try_from(claimed).unwrap_or(0);
            for row in sqlx::query(ARRIVALS_SQL)
                .bind(ts(since))
                .bind(crate::case::SELF_CARE_CONTACT)
                .bind(crate::case::CLOSED_ADVICE_CONTACT)
                .fetch_all(pool)
                .await?
            {
                add_arrivals(&mut snap, row.int("priority")?, row.int("n")?);
            }
            let today: i64 = sqlx::query_scalar(CALLBACKS_SQL)
                .bind(ts(day))
                .fetch_one(pool)
                .await?;
            snap.callbacks_today = u32::try_from(today).unwrap_or(u32::MAX);
        });
        Ok(snap)
    }
}

fn add_arrivals(snap: &mut QueueSnapshot, level: i64, n: i64) {
    let slot = usize::try_from(level - 1)
        .ok()
        .and_then(|i| snap.arrivals.get_mut(i));
    if let Some(slot) = slot {
        *slot = slot.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }
}

/// An open case's order fields, checked.
fn queued(row: &impl StoredRow) -> Result<QueuedCase<Uuid>> {
    row.by_id(|row| {
        Ok(QueuedCase {
            id: row.parsed("id")?,
            priority: row.int_as("priority")?,
            registered_at: row.time("registered_at")?,
            deadline: row.time("deadline")?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Priority;
    use crate::store::tests::{on_both_backends, postgres_test_db, sqlite_test_db};
    use crate::store::{CaseMode, CaseStatus, Channel, NewCase};
    use chrono::TimeDelta;

    fn new_case(level: u8, mode: CaseMode, at: DateTime<Utc>) -> NewCase {
        let priority = Priority::new(level).unwrap_or(Priority::LOWEST);
        NewCase {
            channel: Channel::Phone,
            priority,
            mode,
            registered_at: at,
            deadline: at + TimeDelta::minutes(30),
            estimated_callback_at: None,
            answers: Vec::new(),
            callback_number: None,
            personnummer: None,
            language: "sv".into(),
            call_id: None,
            external_ref: None,
            summary: String::new(),
            red_flag: false,
        }
    }

    async fn snapshot_counts_open_claimed_arrivals_and_todays_callbacks(store: Store) {
        let now = Utc::now();
        let old = now - TimeDelta::hours(30);
        let a = store
            .insert_case(&new_case(3, CaseMode::Callback, now))
            .await;
        let b = store.insert_case(&new_case(1, CaseMode::Hold, now)).await;
        let c = store
            .insert_case(&new_case(4, CaseMode::Callback, old))
            .await;
        let (Ok(a), Ok(_b), Ok(c)) = (a, b, c) else {
            panic!("insert failed");
        };
        assert!(store
            .set_status(c.id, CaseStatus::Claimed, now)
            .await
            .is_ok());
        let snap = store
            .queue_snapshot(now - TimeDelta::hours(2), now - TimeDelta::hours(1))
            .await;
        let Ok(snap) = snap else { panic!("{snap:?}") };
        assert_eq!(snap.open.len(), 2);
        assert!(snap
            .open
            .iter()
            .any(|q| q.id == a.id && q.priority.level() == 3));
        assert_eq!(snap.claimed, 1);
        assert_eq!(snap.arrivals, [1, 0, 1, 0, 0]);
        assert_eq!(snap.callbacks_today, 1);
    }

    on_both_backends!(snapshot_counts_open_claimed_arrivals_and_todays_callbacks);
}
