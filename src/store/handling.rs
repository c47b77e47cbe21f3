//! Handling times (claim to outcome) from every node's nurses, for the
//! estimates. A row is written with the outcome, in its transaction
//! (`Store::record_outcome`); each node reads the newest per level.

use super::{with_backend, Result, Store, StoredRow};
use std::time::Duration;

/// Written before the outcome's update, while the claim is still there; the
/// same condition as the update, whose transaction rolls back on no match.
pub(super) const INSERT_HANDLING_SQL: &str = "INSERT INTO handling_times \
     (level, claimed_at, finished_at) SELECT priority, claimed_at, $4 FROM cases \
     WHERE id = $1 AND status = 'claimed' AND (claimed_by = $2 OR $3) \
     AND claimed_at IS NOT NULL AND claimed_at <= $4";

const RECENT_SQL: &str = "SELECT claimed_at, finished_at FROM handling_times \
     WHERE level = $1 ORDER BY finished_at DESC LIMIT $2";

const PRUNE_SQL: &str = "DELETE FROM handling_times WHERE finished_at < $1";

impl Store {
    /// The newest `keep` handling times per level (index 0 = level 1), oldest first.
    pub async fn recent_handling(&self, keep: usize) -> Result<[Vec<Duration>; 5]> {
        let limit = i64::try_from(keep).unwrap_or(i64::MAX);
        let mut out: [Vec<Duration>; 5] = Default::default();
        for (level, times) in (1i64..=5).zip(out.iter_mut()) {
            let rows = with_backend!(self, |pool, _ts| {
                let rows = sqlx::query(RECENT_SQL)
                    .bind(level)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?;
                rows.iter()
                    .map(|r| Ok((r.time("claimed_at")?, r.time("finished_at")?)))
                    .collect::<Result<Vec<_>>>()?
            });
            times.extend(
                rows.into_iter()
                    .rev()
                    .filter_map(|(claimed, finished)| (finished - claimed).to_std().ok()),
            );
        }
        Ok(out)
    }

    /// Removes handling times finished before `before`; how many.
    pub async fn prune_handling(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        let before = super::storable("before", before)?;
        let n = with_backend!(self, |pool, ts| {
            sqlx::query(PRUNE_SQL)
                .bind(ts(before))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use crate::queue::Priority;
    use crate::store::tests::{on_both_backends, postgres_test_db, sqlite_test_db};
    use crate::store::{Actor, CaseMode, Channel, NewCase, Outcome, Store};
    use chrono::{TimeDelta, Utc};
    use std::time::Duration;

    fn case(level: u8) -> NewCase {
        let now = Utc::now();
        NewCase {
            channel: Channel::Phone,
            priority: Priority::new(level).unwrap_or(Priority::LOWEST),
            mode: CaseMode::Callback,
            registered_at: now,
            deadline: now + TimeDelta::minutes(60),
            estimated_callback_at: None,
            answers: vec![],
            callback_number: Some("+46701234567".into()),
            personnummer: None,
            language: "sv".into(),
            call_id: None,
            external_ref: None,
            summary: String::new(),
            red_flag: false,
        }
    }

    async fn outcomes_leave_handling_times_every_node_reads(store: Store) {
        let nina = Actor {
            username: "nina",
            ip: None,
            may_override: false,
        };
        let bo = Actor {
            username: "bo",
            ip: None,
            may_override: false,
        };
        let t0 = Utc::now() - TimeDelta::minutes(30);
        for (level, minutes, outcome) in [(2, 7, Outcome::SelfCare), (2, 9, Outcome::NoAnswer)] {
            let c = store.insert_case(&case(level)).await.unwrap();
            store.claim(c.id, &nina, t0).await.unwrap();
            // Someone else's outcome is refused and leaves no handling time.
            assert!(store
                .record_outcome(c.id, outcome, "", &bo, t0 + TimeDelta::minutes(minutes))
                .await
                .is_err());
            store
                .record_outcome(c.id, outcome, "", &nina, t0 + TimeDelta::minutes(minutes))
                .await
                .unwrap();
        }
        let recent = store.recent_handling(400).await.unwrap();
        let secs = |m: u64| Duration::from_secs(m * 60);
        assert_eq!(recent[1], vec![secs(7), secs(9)], "oldest first");
        assert!(recent[0].is_empty() && recent[2].is_empty());
        assert_eq!(store.recent_handling(1).await.unwrap()[1], vec![secs(9)]);
        assert_eq!(store.prune_handling(Utc::now()).await.unwrap(), 2);
    }

    on_both_backends!(outcomes_leave_handling_times_every_node_reads);
}
