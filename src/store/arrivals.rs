//! Cases registered per UTC hour and level, for the arrival profile the queue
//! estimate and the staffing forecast learn from ([`crate::queue::arrivals`]).
//! Both channels count (they feed one queue); contacts closed in the IVR
//! (self-care advice, closed-hours advice) do not, as they never queue.

use super::{storable, with_backend, Result, Store, StoredRow};
use crate::case::{CLOSED_ADVICE_CONTACT, SELF_CARE_CONTACT};
use crate::queue::arrivals::hour_start;
use crate::queue::{ArrivalProfile, HourCount};
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

/// The hour is an integer (hours since 1970) in both dialects, so the
/// grouping happens in the database and the answer stays small (at most one
/// row per hour and level).
const SQLITE_SQL: &str = "SELECT CAST(strftime('%s', registered_at) AS INTEGER) / 3600 AS h, \
     priority, COUNT(*) AS n FROM cases \
     WHERE registered_at >= $1 AND registered_at < $2 AND summary NOT IN ($3, $4) \
     GROUP BY h, priority";
const POSTGRES_SQL: &str =
    "SELECT CAST(FLOOR(EXTRACT(EPOCH FROM registered_at) / 3600) AS BIGINT) AS h, \
     priority, COUNT(*) AS n FROM cases \
     WHERE registered_at >= $1 AND registered_at < $2 AND summary NOT IN ($3, $4) \
     GROUP BY h, priority";

impl Store {
    /// The arrival profile learnt from the `weeks` weeks of whole hours
    /// before the hour holding `now`.
    pub async fn arrival_profile(
        &self,
        tz: Tz,
        now: DateTime<Utc>,
        weeks: i64,
    ) -> Result<ArrivalProfile> {
        let until = hour_start(now);
        let from = until - TimeDelta::weeks(weeks);
        let counts = self.hourly_arrivals(from, until).await?;
        Ok(ArrivalProfile::learn(tz, &counts, from, until))
    }

    /// Queued cases registered in `[from, until)`, counted per UTC hour and level.
    pub async fn hourly_arrivals(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<HourCount>> {
        let from = storable("from", from)?;
        let until = storable("until", until)?;
        let mut out = Vec::new();
        with_backend!(self, |pool, ts| {
            let sql = if matches!(self.backend, super::Backend::Sqlite(_)) {
                SQLITE_SQL
            } else {
                POSTGRES_SQL
            };
            for row in sqlx::query(sql)
                .bind(ts(from))
                .bind(ts(until))
                .bind(SELF_CARE_CONTACT)
                .bind(CLOSED_ADVICE_CONTACT)
                .fetch_all(pool)
                .await?
            {
                let (h, level, n) = (row.int("h")?, row.int("priority")?, row.int("n")?);
                let hour = DateTime::<Utc>::UNIX_EPOCH + TimeDelta::hours(h);
                if let (Ok(level), Ok(count)) = (u8::try_from(level), u32::try_from(n)) {
                    out.push(HourCount { hour, level, count });
                }
            }
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::queue::Priority;
    use crate::store::tests::{on_both_backends, postgres_test_db, sqlite_test_db};
    use crate::store::{CaseMode, Channel, NewCase, Store};
    use chrono::{DateTime, TimeDelta, TimeZone, Utc};

    fn new_case(level: u8, channel: Channel, at: DateTime<Utc>, summary: &str) -> NewCase {
        let priority = Priority::new(level).unwrap_or(Priority::LOWEST);
        NewCase {
            channel,
            priority,
            mode: CaseMode::Callback,
            registered_at: at,
            deadline: at + TimeDelta::minutes(30),
            estimated_callback_at: None,
            answers: Vec::new(),
            callback_number: None,
            personnummer: None,
            language: "sv".into(),
            call_id: None,
            external_ref: None,
            summary: summary.into(),
            red_flag: false,
        }
    }

    async fn hourly_arrivals_count_both_channels_per_hour_and_level(store: Store) {
        let h8 = Utc
            .with_ymd_and_hms(2026, 11, 30, 8, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let at = |m: i64| h8 + TimeDelta::seconds(m * 60) + TimeDelta::microseconds(999_999);
        let cases = [
            new_case(4, Channel::Phone, at(0), ""),
            new_case(4, Channel::Digital, at(59), ""),
            new_case(2, Channel::Phone, at(61), "x"),
            new_case(4, Channel::Phone, at(10), crate::case::SELF_CARE_CONTACT),
            new_case(3, Channel::Phone, at(-1), ""),
            new_case(3, Channel::Phone, at(180), ""),
        ];
        for c in &cases {
            assert!(store.insert_case(c).await.is_ok());
        }
        let got = store.hourly_arrivals(h8, h8 + TimeDelta::hours(3)).await;
        let Ok(mut got) = got else { panic!("{got:?}") };
        got.sort_by_key(|c| (c.hour, c.level));
        let want: Vec<(DateTime<Utc>, u8, u32)> =
            vec![(h8, 4, 2), (h8 + TimeDelta::hours(1), 2, 1)];
        let got: Vec<_> = got.iter().map(|c| (c.hour, c.level, c.count)).collect();
        assert_eq!(got, want);
        // The profile over the week before: Monday 08 UTC (09 local) had 2
        // level-4 cases in the one Monday seen.
        let profile = store
            .arrival_profile(chrono_tz::Europe::Stockholm, h8 + TimeDelta::days(7), 1)
            .await;
        let Ok(profile) = profile else {
            panic!("{profile:?}")
        };
        assert!(profile.is_learnt());
        assert_eq!(profile.rate_at(h8 + TimeDelta::days(7))[3], 2.0);
        assert_eq!(profile.rate_at(h8 + TimeDelta::days(8))[3], 0.0, "Tuesday");
    }

    on_both_backends!(hourly_arrivals_count_both_channels_per_hour_and_level);
}
