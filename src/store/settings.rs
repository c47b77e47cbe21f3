//! Supervisor settings (one JSON document per key) and the counts behind the
//! supervisor's statistics. Both dialects; SQL stays in `store/`.

use super::audit::AuditRecord;
use super::audit_chain::append_audit;
use super::{with_backend, DialectRow, Result, Store, StoredRow};
use chrono::{DateTime, Utc};

/// What the statistics are computed from (no personal data in here).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsCounts {
    /// Open (waiting or holding) cases per level, index 0 = level 1.
    pub open_per_level: [u32; 5],
    /// Registration time of the oldest open case.
    pub oldest_open: Option<DateTime<Utc>>,
    /// Callback-mode cases registered since the day start.
    pub callbacks_since: u32,
    /// Per case registered since the day start: its deadline and first claim time.
    pub reached: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    /// Staff names with an audit entry since `staff_since` (not ivr/intake/system).
    pub active_staff: u32,
    /// Cases closed as unreachable (last callback attempt failed) since the day start.
    pub unreachable_since: u32,
    /// Cases in the review list now (status `review`).
    pub in_review: u32,
    /// Cases refused by a queue cap since the day start (all nodes).
    pub refused_since: u32,
    /// Self-care advice given since the day start, per route.
    pub self_care: super::SelfCareCounts,
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

const IN_REVIEW_SQL: &str = "SELECT COUNT(*) FROM cases WHERE status = 'review'";

const OPEN_PER_LEVEL_SQL: &str = "SELECT priority, COUNT(*) AS n FROM cases \
     WHERE status IN ('waiting', 'holding') GROUP BY priority";
const OLDEST_OPEN_SQL: &str = "SELECT MIN(registered_at) AS t FROM cases \
     WHERE status IN ('waiting', 'holding')";
const CALLBACKS_SINCE_SQL: &str =
    "SELECT COUNT(*) AS n FROM cases WHERE mode = 'callback' AND registered_at >= $1";
const REACHED_SQL: &str = "SELECT c.deadline AS deadline, MIN(a.at) AS claimed_at \
     FROM cases c LEFT JOIN audit_log a ON a.case_id = c.id AND a.action = 'case.claim' \
     WHERE c.registered_at >= $1 GROUP BY c.id, c.deadline";
const ACTIVE_STAFF_SQL: &str = "SELECT COUNT(DISTINCT actor) AS n FROM audit_log \
     WHERE at >= $1 AND actor NOT IN ('ivr', 'digital-intake', 'system')";

const UPSERT_SETTING_SQL: &str = "INSERT INTO settings (key, value, updated_at, updated_by) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO UPDATE SET \
     value = excluded.value, updated_at = excluded.updated_at, \
     updated_by = excluded.updated_by";

impl Store {
    /// The JSON document stored under `key`, if any.
    pub async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        let sql = "SELECT value FROM settings WHERE key = $1";
        let value = with_backend!(self, |pool, _ts| {
            sqlx::query_scalar::<_, String>(sql)
                .bind(key)
                .fetch_optional(pool)
                .await?
        });
        Ok(value)
    }

    /// Stores `value` (JSON) under `key` and writes a `settings.changed` audit entry
    /// (with `detail`, which must hold no personal data) in the same transaction.
    /// Every node is told through the `settings` change topic.
    pub async fn put_setting(
        &self,
        key: &str,
        value: &str,
        actor: &str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let audit = AuditRecord::new(now, actor, "settings.changed", None, detail, None);
        with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            sqlx::query(UPSERT_SETTING_SQL)
                .bind(key)
                .bind(value)
                .bind(ts(now))
                .bind(actor)
                .execute(&mut *tx)
                .await?;
            append_audit!(tx, ts, &audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Callback-mode cases registered at or after `since` (all channels).
    pub async fn count_callbacks_since(&self, since: DateTime<Utc>) -> Result<u32> {
        let n: i64 = with_backend!(self, |pool, ts| {
            sqlx::query_scalar(CALLBACKS_SINCE_SQL)
                .bind(ts(since))
                .fetch_one(pool)
                .await?
        });
        Ok(count(n))
    }

    /// The counts behind `/supervisor/stats`: "today" starts at `day_start`,
    /// a nurse is on duty with an audit entry since `staff_since`.
    pub async fn stats_counts(
        &self,
        day_start: DateTime<Utc>,
        staff_since: DateTime<Utc>,
    ) -> Result<StatsCounts> {
        let mut out = StatsCounts {
            callbacks_since: self.count_callbacks_since(day_start).await?,
            unreachable_since: self.count_unreachable_since(day_start).await?,
            self_care: self.self_care_counts(day_start).await?,
            ..StatsCounts::default()
        };
        let levels: Vec<(i64, i64)> = with_backend!(self, |pool, ts| {
            let levels = sqlx::query(OPEN_PER_LEVEL_SQL)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| Ok((r.int("priority")?, r.int("n")?)))
                .collect::<Result<_>>()?;
            let oldest = sqlx::query(OLDEST_OPEN_SQL).fetch_one(pool).await?;
            out.oldest_open = oldest.opt_time("t")?;
            for r in sqlx::query(REACHED_SQL)
                .bind(ts(day_start))
                .fetch_all(pool)
                .await?
            {
                out.reached
                    .push((r.time("deadline")?, r.opt_time("claimed_at")?));
            }
            let staff: i64 = sqlx::query_scalar(ACTIVE_STAFF_SQL)
                .bind(ts(staff_since))
                .fetch_one(pool)
                .await?;
            out.active_staff = count(staff);
            let review: i64 = sqlx::query_scalar(IN_REVIEW_SQL).fetch_one(pool).await?;
            out.in_review = count(review);
            let refused: i64 = sqlx::query_scalar(super::caps::REFUSED_SINCE_SQL)
                .bind(ts(day_start))
                .fetch_one(pool)
                .await?;
            out.refused_since = count(refused);
            levels
        });
        for (level, n) in levels {
            if let Some(slot) = usize::try_from(level - 1)
                .ok()
                .and_then(|i| out.open_per_level.get_mut(i))
            {
                *slot = count(n);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{postgres_test_db, sqlite_test_db, TestDb};
    use super::super::{Answer, CaseMode, Channel, NewCase};
    use super::*;
    use crate::queue::Priority;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 3, h, m, 0).single().unwrap()
    }

    fn case(level: u8, registered: DateTime<Utc>, mode: CaseMode) -> NewCase {
        NewCase {
            channel: Channel::Phone,
            priority: Priority::new(level).unwrap(),
            mode,
            registered_at: registered,
            deadline: registered + chrono::TimeDelta::minutes(30),
            estimated_callback_at: None,
            answers: vec![Answer {
                question_id: "q".into(),
                question_text: "Q?".into(),
                value: "1".into(),
                value_text: "Ja".into(),
            }],
            callback_number: Some("+46701234567".into()),
            personnummer: None,
            language: "sv".into(),
            call_id: None,
            external_ref: None,
            summary: String::new(),
            red_flag: false,
        }
    }

    async fn settings_round_trip_and_audit(db: TestDb) {
        let s = &db.store;
        assert_eq!(s.get_setting("supervisor").await.unwrap(), None);
        s.put_setting("supervisor", r#"{"a":1}"#, "sara", "open=false", at(9, 0))
            .await
            .unwrap();
        s.put_setting("supervisor", r#"{"a":2}"#, "sara", "open=true", at(9, 1))
            .await
            .unwrap();
        assert_eq!(
            s.get_setting("supervisor").await.unwrap().as_deref(),
            Some(r#"{"a":2}"#)
        );
        db.finish().await;
    }

    async fn stats_count_open_levels_callbacks_and_claims(db: TestDb) {
        let s = &db.store;
        let a = s
            .insert_case(&case(2, at(8, 0), CaseMode::Callback))
            .await
            .unwrap();
        s.insert_case(&case(2, at(8, 30), CaseMode::Callback))
            .await
            .unwrap();
        s.insert_case(&case(1, at(9, 0), CaseMode::Hold))
            .await
            .unwrap();
        // Yesterday's case counts as open but not as today's callback.
        s.insert_case(&case(
            5,
            at(8, 0) - chrono::TimeDelta::days(1),
            CaseMode::Callback,
        ))
        .await
        .unwrap();
        s.audit(&crate::store::AuditRecord::new(
            at(8, 10),
            "nina",
            "case.claim",
            Some(a.id),
            "",
            None,
        ))
        .await
        .unwrap();
        let c = s.stats_counts(at(0, 0), at(8, 0)).await.unwrap();
        assert_eq!(c.open_per_level, [1, 2, 0, 0, 1]);
        assert_eq!(c.oldest_open, Some(at(8, 0) - chrono::TimeDelta::days(1)));
        assert_eq!(c.callbacks_since, 2);
        assert_eq!(c.active_staff, 1);
        assert_eq!(c.reached.len(), 3);
        assert!(c.reached.contains(&(at(8, 30), Some(at(8, 10)))));
        db.finish().await;
    }

    #[tokio::test]
    async fn settings_round_trip_sqlite() {
        settings_round_trip_and_audit(sqlite_test_db().await).await;
    }

    #[tokio::test]
    async fn settings_round_trip_postgres() {
        let db = postgres_test_db().await;
        settings_round_trip_and_audit(db).await;
    }

    #[tokio::test]
    async fn stats_counts_sqlite() {
        stats_count_open_levels_callbacks_and_claims(sqlite_test_db().await).await;
    }

    #[tokio::test]
    async fn stats_counts_postgres() {
        let db = postgres_test_db().await;
        stats_count_open_levels_callbacks_and_claims(db).await;
    }
}
