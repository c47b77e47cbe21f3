//! Contacts that end without a case to work: self-care advice in the IVR
//! (and the closed-hours advice route). Stored as phone cases that are
//! closed at once with outcome `self_care`, so follow-up counts them like
//! any closed case; and the supervisor's counts of them per route.

use super::audit::AuditRecord;
use super::audit_chain::append_audit;
use super::cases::{created_audit, insert_case_row, new_record};
use super::sms::enqueue_sms;
use super::{storable, with_backend, DialectRow, Result, Store, StoredRow};
use crate::case::{Answer, CaseRecord, CaseStatus, NewCase, Outcome};
use crate::ivr::flow::{OFFER_CLOSED, SELF_CARE_ADVICE, SELF_CARE_CHOICE};
use chrono::{DateTime, Utc};

const CLOSE_CONTACT_SQL: &str = "UPDATE cases SET outcome = $2, closed_at = $3 WHERE id = $1";

/// Cases since `$1` whose answers name self-care advice or the closed offer
/// (the text match narrows; the answers are read in Rust, both dialects).
const SELF_CARE_SINCE_SQL: &str = "SELECT id, answers FROM cases WHERE registered_at >= $1 \
     AND (CAST(answers AS TEXT) LIKE '%self_care_advice%' \
          OR CAST(answers AS TEXT) LIKE '%offer_closed%')";

/// One self-care route's day (no personal data: counts only).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SelfCareRouteCount {
    /// The route's name in triage.toml `[[self_care]]`.
    pub route: String,
    /// Callers who heard its advice.
    pub advised: u32,
    /// Of those, callers who then asked for a nurse's callback anyway.
    pub callback_requested: u32,
}

/// Self-care outcomes since a day start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelfCareCounts {
    /// Per route, by name.
    pub routes: Vec<SelfCareRouteCount>,
    /// Callers the closed-hours advice route answered (hours.toml "advice").
    pub closed_advice: u32,
}

impl SelfCareCounts {
    /// Counts one case's answers.
    fn add(&mut self, answers: &[Answer]) {
        let value = |q: &str| {
            answers
                .iter()
                .find(|a| a.question_id == q)
                .map(|a| a.value.as_str())
        };
        if value(OFFER_CLOSED).is_some() {
            self.closed_advice = self.closed_advice.saturating_add(1);
        }
        let Some(route) = value(SELF_CARE_ADVICE) else {
            return;
        };
        let i = match self.routes.iter().position(|r| r.route == route) {
            Some(i) => i,
            None => {
                self.routes.push(SelfCareRouteCount {
                    route: route.to_owned(),
                    ..SelfCareRouteCount::default()
                });
                self.routes.len() - 1
            }
        };
        if let Some(r) = self.routes.get_mut(i) {
            r.advised = r.advised.saturating_add(1);
            if value(SELF_CARE_CHOICE) == Some("callback") {
                r.callback_requested = r.callback_requested.saturating_add(1);
            }
        }
    }
}

impl Store {
    /// Stores a contact that needs no work: inserted as a closed case
    /// (status `done`, outcome `self_care`, `closed_at` = `now`) with its
    /// `case.created` and `case.outcome` audit rows, in one transaction.
    /// Not a callback, so the queue caps do not apply.
    pub async fn insert_contact(&self, case: &NewCase, now: DateTime<Utc>) -> Result<CaseRecord> {
        let mut c = new_record(case)?;
        c.status = CaseStatus::Done;
        let now = storable("now", now)?;
        let outcome = Outcome::SelfCare;
        let closed = AuditRecord::new(
            now,
            "ivr",
            "case.outcome",
            Some(c.id),
            format!("outcome={outcome}"),
            None,
        );
        // The advice's link by SMS (with consent), committed with the contact.
        let sms = self.sms_on_insert(&c)?;
        with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            insert_case_row!(tx, ts, &c)?;
            sqlx::query(CLOSE_CONTACT_SQL)
                .bind(c.id.to_string())
                .bind(outcome.as_str())
                .bind(ts(now))
                .execute(&mut *tx)
                .await?;
            append_audit!(tx, ts, &created_audit(&c));
            append_audit!(tx, ts, &closed);
            for sms in &sms {
                let _queued = enqueue_sms!(tx, ts, sms);
            }
            tx.commit().await?;
        });
        Ok(c)
    }

    /// Self-care advice given since `since` (phone cases, both the closed
    /// contacts and the callbacks asked for after the advice), per route.
    pub async fn self_care_counts(&self, since: DateTime<Utc>) -> Result<SelfCareCounts> {
        let rows: Vec<serde_json::Value> = with_backend!(self, |pool, ts| {
            sqlx::query(SELF_CARE_SINCE_SQL)
                .bind(ts(since))
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| r.by_id(|r| r.json("answers")))
                .collect::<Result<_>>()?
        });
        let mut out = SelfCareCounts::default();
        for json in rows {
            // The serde error names the problem, never the answer text.
            let answers: Vec<Answer> = serde_json::from_value(json)
                .map_err(|e| super::StoreError::corrupt("answers", e))?;
            out.add(&answers);
        }
        out.routes.sort_by(|a, b| a.route.cmp(&b.route));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{postgres_test_db, sqlite_test_db, TestDb};
    use super::*;
    use crate::case::{CaseMode, Channel};
    use crate::queue::Priority;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 3, h, m, 0).single().unwrap()
    }

    fn answer(q: &str, v: &str) -> Answer {
        Answer {
            question_id: q.into(),
            question_text: q.into(),
            value: v.into(),
            value_text: v.into(),
        }
    }

    fn contact(registered: DateTime<Utc>, answers: Vec<Answer>) -> NewCase {
        NewCase {
            channel: Channel::Phone,
            priority: Priority::new(4).unwrap(),
            mode: CaseMode::Callback,
            registered_at: registered,
            deadline: registered + chrono::TimeDelta::hours(8),
            estimated_callback_at: None,
            answers,
            callback_number: None,
            personnummer: None,
            language: "sv".into(),
            call_id: Some("call".into()),
            external_ref: None,
            summary: "self-care advice in the IVR".into(),
            red_flag: false,
        }
    }

    async fn contacts_are_closed_self_care_and_counted_per_route(db: TestDb) {
        let s = &db.store;
        let ent = || answer(SELF_CARE_ADVICE, "ent");
        let ended = s
            .insert_contact(
                &contact(at(9, 0), vec![ent(), answer("sms_consent", "yes")]),
                at(9, 1),
            )
            .await
            .unwrap();
        // A caller who asked for a callback after the advice: an open case.
        s.insert_case(&contact(
            at(9, 5),
            vec![ent(), answer(SELF_CARE_CHOICE, "callback")],
        ))
        .await
        .unwrap();
        s.insert_contact(
            &contact(at(9, 10), vec![answer(OFFER_CLOSED, "advice")]),
            at(9, 10),
        )
        .await
        .unwrap();
        // Yesterday's advice is not today's.
        s.insert_contact(
            &contact(at(9, 0) - chrono::TimeDelta::days(1), vec![ent()]),
            at(9, 0),
        )
        .await
        .unwrap();
        let stored = s.get_case(ended.id).await.unwrap().unwrap();
        assert_eq!(stored.status, CaseStatus::Done);
        assert_eq!(stored.answers.len(), 2);
        let info = s.claim_info(ended.id).await.unwrap().unwrap();
        assert_eq!(info.outcome, Some(Outcome::SelfCare));
        assert!(info.closed_at.is_some());
        assert!(s.worklist().await.unwrap().iter().all(|c| c.id != ended.id));
        let audit = s.audit_rows(Some(ended.id), 10).await.unwrap();
        let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
        assert!(actions.contains(&"case.created"), "{actions:?}");
        assert!(actions.contains(&"case.outcome"), "{actions:?}");
        let counts = s.self_care_counts(at(0, 0)).await.unwrap();
        assert_eq!(
            counts.routes,
            vec![SelfCareRouteCount {
                route: "ent".into(),
                advised: 2,
                callback_requested: 1,
            }]
        );
        assert_eq!(counts.closed_advice, 1);
        db.finish().await;
    }

    #[tokio::test]
    async fn contacts_sqlite() {
        contacts_are_closed_self_care_and_counted_per_route(sqlite_test_db().await).await;
    }

    #[tokio::test]
    async fn contacts_postgres() {
        let db = postgres_test_db().await;
        contacts_are_closed_self_care_and_counted_per_route(db).await;
    }
}
