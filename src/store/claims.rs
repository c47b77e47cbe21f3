//! Nurses taking cases: claim, release and outcome. A claim is one conditional
//! `UPDATE`, so two nurses never get the same case: PostgreSQL picks the row with
//! `FOR UPDATE SKIP LOCKED`; SQLite runs one writer at a time, and an `UPDATE` as
//! the first statement of its transaction takes the write lock before it reads.
//! Each change writes its audit row in the same transaction.

use super::audit::AuditRecord;
use super::audit_chain::append_audit;
use super::{storable, with_backend, Result, Store, StoreError, StoredRow};
use crate::case::{CaseRecord, CaseStatus, Outcome};
use chrono::{DateTime, Utc};
use std::fmt;
use uuid::Uuid;

/// Who holds a case and how it ended. `Debug` leaves the note out (free text).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ClaimInfo {
    pub claimed_by: Option<String>,
    pub claimed_at: Option<DateTime<Utc>>,
    /// The claim ends then unless renewed ([`Store::renew_claim`]).
    pub claim_expires_at: Option<DateTime<Utc>>,
    pub outcome: Option<Outcome>,
    pub outcome_note: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for ClaimInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimInfo")
            .field("claimed_by", &self.claimed_by)
            .field("claimed_at", &self.claimed_at)
            .field("claim_expires_at", &self.claim_expires_at)
            .field("outcome", &self.outcome)
            .field("closed_at", &self.closed_at)
            .finish_non_exhaustive()
    }
}

/// Why a claim, release or outcome was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("case {0} not found")]
    NotFound(Uuid),
    /// Claim: the case is not waiting; release/outcome: it is not claimed.
    #[error("case {id} is {status}")]
    WrongStatus { id: Uuid, status: CaseStatus },
    /// Another nurse holds the claim (a supervisor may override).
    #[error("case {0} is claimed by another nurse")]
    NotYours(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ClaimError {
    fn from(e: sqlx::Error) -> ClaimError {
        ClaimError::Store(StoreError::Database(e))
    }
}

/// The acting staff member, for the claim columns and the audit row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor<'a> {
    pub username: &'a str,
    pub ip: Option<String>,
    /// Supervisors may release or close another nurse's claim.
    pub may_override: bool,
}

impl Actor<'_> {
    /// The audit row of this actor's change to case `id`.
    pub(super) fn audit(
        &self,
        now: DateTime<Utc>,
        action: &str,
        id: Uuid,
        detail: String,
    ) -> AuditRecord {
        AuditRecord::new(
            now,
            self.username,
            action,
            Some(id),
            detail,
            self.ip.clone(),
        )
    }
}

const QUEUE_ORDER: &str = "ORDER BY (priority <> 1), deadline, registered_at, id";

/// Where a case goes when its claim ends without an outcome (released, or
/// the lease ran out): back to the review list if it came from there, to the
/// held callers if its caller still holds, else to the callback queue.
macro_rules! back_to_queue {
    () => {
        "CASE WHEN review_reason IS NOT NULL THEN 'review' \
         WHEN mode = 'hold' THEN 'holding' ELSE 'waiting' END"
    };
}
pub(super) use back_to_queue;

/// Open and due: a case waiting for its next callback attempt is passed over
/// until then (it keeps its place in the order; a nurse may still claim it).
/// Review cases are never handed out here: a nurse takes one by hand.
const DUE: &str = "status IN ('waiting', 'holding') \
     AND (next_attempt_at IS NULL OR next_attempt_at <= $2)";

/// `unit`: only that unit's cases (`super::handoff::IN_UNIT` on `$4`).
fn claim_next_sql(lock: &str, unit: bool) -> String {
    let due = if unit {
        format!("{DUE} AND {}", super::handoff::in_unit("$4"))
    } else {
        DUE.to_string()
    };
    format!(
        "UPDATE cases SET status = 'claimed', claimed_by = $1, claimed_at = $2, \
         claim_expires_at = $3 \
         WHERE {due} AND id = (SELECT id FROM cases \
         WHERE {due} {QUEUE_ORDER} LIMIT 1 {lock}) RETURNING id"
    )
}

/// `unit`: only if the case is in that unit (`$5`).
fn claim_sql(unit: bool) -> String {
    let scope = if unit {
        format!(" AND {}", super::handoff::in_unit("$5"))
    } else {
        String::new()
    };
    format!(
        "UPDATE cases SET status = 'claimed', claimed_by = $1, claimed_at = $2, \
         claim_expires_at = $4 \
         WHERE id = $3 AND status IN ('waiting', 'holding', 'review'){scope} RETURNING id"
    )
}

const RELEASE_SQL: &str = concat!(
    "UPDATE cases SET status = ",
    back_to_queue!(),
    ", claimed_by = NULL, claimed_at = NULL, claim_expires_at = NULL \
     WHERE id = $1 AND status = 'claimed' AND (claimed_by = $2 OR $3) RETURNING id"
);

const CLOSE_SQL: &str = "UPDATE cases SET status = 'done', outcome = $4, outcome_note = $5, \
     closed_at = $6, claim_expires_at = NULL \
     WHERE id = $1 AND status = 'claimed' AND (claimed_by = $2 OR $3) RETURNING id";

/// No answer: back to the queue as a callback (or to the review list it came
/// from), one more attempt counted.
const NO_ANSWER_SQL: &str = "UPDATE cases SET \
     status = CASE WHEN review_reason IS NOT NULL THEN 'review' ELSE 'waiting' END, \
     mode = 'callback', attempts = attempts + 1, claimed_by = NULL, claimed_at = NULL, \
     claim_expires_at = NULL, outcome = $4, outcome_note = $5, closed_at = NULL \
     WHERE id = $1 AND status = 'claimed' AND (claimed_by = $2 OR $3) RETURNING id";

/// Reads a claim's columns of a case row.
fn read_claim(row: &impl StoredRow) -> Result<ClaimInfo> {
    Ok(ClaimInfo {
        claimed_by: row.opt_text("claimed_by")?,
        claimed_at: row.opt_time("claimed_at")?,
        claim_expires_at: row.opt_time("claim_expires_at")?,
        outcome: row.opt_parsed("outcome")?,
        outcome_note: row.opt_text("outcome_note")?,
        closed_at: row.opt_time("closed_at")?,
    })
}

/// A case id as stored (text) back as a uuid.
fn parse_id(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id).map_err(|e| StoreError::corrupt("id", e).in_row(id))
}

impl Store {
    /// Claims the most urgent open case for `actor`; `None` when the queue is empty.
    /// Cases whose next callback attempt is after `now` are passed over, and
    /// review cases never come this way. The claim lasts the store's claim
    /// lease unless renewed ([`Store::renew_claim`]).
    pub async fn claim_next(
        &self,
        actor: &Actor<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<CaseRecord>> {
        self.claim_next_in(actor, None, now).await
    }

    /// Like [`Store::claim_next`], with `unit`: only that unit's cases
    /// (`Some(None)` = the default unit's).
    pub async fn claim_next_in(
        &self,
        actor: &Actor<'_>,
        unit: Option<Option<&str>>,
        now: DateTime<Utc>,
    ) -> Result<Option<CaseRecord>> {
        let now = storable("now", now)?;
        let expires = self.claim_expiry(now)?;
        let lock = self.sql("", "FOR UPDATE SKIP LOCKED");
        let sql = claim_next_sql(lock, unit.is_some());
        let claimed: Option<Uuid> = with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            let mut query = sqlx::query_scalar(&sql)
                .bind(actor.username)
                .bind(ts(now))
                .bind(ts(expires));
            if let Some(unit) = unit {
                query = query.bind(unit);
            }
            let id: Option<String> = query.fetch_optional(&mut *tx).await?;
            let id = id.map(|id| parse_id(&id)).transpose()?;
            if let Some(id) = id {
                let audit = actor.audit(now, "case.claim", id, "claim-next".into());
                append_audit!(tx, ts, &audit);
            }
            tx.commit().await?;
            id
        });
        match claimed {
            None => Ok(None),
            Some(id) => self
                .get_case(id)
                .await?
                .ok_or(StoreError::NotFound(id))
                .map(Some),
        }
    }

    /// Claims one case; it must be waiting, holding or in the review list.
    /// The claim lasts the store's claim lease unless renewed.
    pub async fn claim(
        &self,
        id: Uuid,
        actor: &Actor<'_>,
        now: DateTime<Utc>,
    ) -> Result<CaseRecord, ClaimError> {
        self.claim_in(id, actor, None, now).await
    }

    /// Like [`Store::claim`], with `unit`: only while the case is in that
    /// unit (`Some(None)` = the default unit); else `WrongStatus`.
    pub async fn claim_in(
        &self,
        id: Uuid,
        actor: &Actor<'_>,
        unit: Option<Option<&str>>,
        now: DateTime<Utc>,
    ) -> Result<CaseRecord, ClaimError> {
        let now = storable("now", now)?;
        let expires = self.claim_expiry(now)?;
        let text_id = id.to_string();
        let sql = claim_sql(unit.is_some());
        let done = with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            let mut query = sqlx::query_scalar(&sql)
                .bind(actor.username)
                .bind(ts(now))
                .bind(&text_id)
                .bind(ts(expires));
            if let Some(unit) = unit {
                query = query.bind(unit);
            }
            let hit: Option<String> = query.fetch_optional(&mut *tx).await?;
            if hit.is_some() {
                let audit = actor.audit(now, "case.claim", id, String::new());
                append_audit!(tx, ts, &audit);
            }
            tx.commit().await?;
            hit.is_some()
        });
        self.after_change(id, done, false, actor).await
    }

    /// Puts a claimed case back in the queue (waiting, holding for a live
    /// caller, or the review list it came from).
    pub async fn release(
        &self,
        id: Uuid,
        actor: &Actor<'_>,
        now: DateTime<Utc>,
    ) -> Result<CaseRecord, ClaimError> {
        let now = storable("now", now)?;
        let text_id = id.to_string();
        let done = with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            let hit: Option<String> = sqlx::query_scalar(RELEASE_SQL)
                .bind(&text_id)
                .bind(actor.username)
                .bind(actor.may_override)
                .fetch_optional(&mut *tx)
                .await?;
            if hit.is_some() {
                let audit = actor.audit(now, "case.release", id, String::new());
                append_audit!(tx, ts, &audit);
            }
            tx.commit().await?;
            hit.is_some()
        });
        self.after_change(id, done, true, actor).await
    }

    /// Records the outcome of a claimed case: closes it, or for `NoAnswer` puts it
    /// back waiting (a review case: back in review) with one more attempt. The
    /// note is stored, never audited.
    pub async fn record_outcome(
        &self,
        id: Uuid,
        outcome: Outcome,
        note: &str,
        actor: &Actor<'_>,
        now: DateTime<Utc>,
    ) -> Result<CaseRecord, ClaimError> {
        let now = storable("now", now)?;
        let text_id = id.to_string();
        let sql = if outcome == Outcome::NoAnswer {
            NO_ANSWER_SQL
        } else {
            CLOSE_SQL
        };
        let done = with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            // The handling time first, while the claim time is still there
            // (every node's estimates read it).
            sqlx::query(super::handling::INSERT_HANDLING_SQL)
                .bind(&text_id)
                .bind(actor.username)
                .bind(actor.may_override)
                .bind(ts(now))
                .execute(&mut *tx)
                .await?;
            let hit: Option<String> = sqlx::query_scalar(sql)
                .bind(&text_id)
                .bind(actor.username)
                .bind(actor.may_override)
                .bind(outcome.as_str())
                .bind(note)
                .bind(ts(now))
                .fetch_optional(&mut *tx)
                .await?;
            if hit.is_some() {
                let audit = actor.audit(now, "case.outcome", id, format!("outcome={outcome}"));
                append_audit!(tx, ts, &audit);
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            hit.is_some()
        });
        self.after_change(id, done, true, actor).await
    }

    /// Claim holder and outcome of a case; `None` when there is no such case.
    pub async fn claim_info(&self, id: Uuid) -> Result<Option<ClaimInfo>> {
        let sql = "SELECT claimed_by, claimed_at, claim_expires_at, outcome, outcome_note, \
                   closed_at FROM cases WHERE id = $1";
        let text_id = id.to_string();
        let info = with_backend!(self, |pool, _ts| {
            let row = sqlx::query(sql).bind(&text_id).fetch_optional(pool).await?;
            row.as_ref().map(read_claim).transpose()
        });
        info.map_err(|e| e.in_row(&text_id))
    }

    /// The case after a conditional update, or why the update matched no row.
    pub(super) async fn after_change(
        &self,
        id: Uuid,
        done: bool,
        needs_claim: bool,
        actor: &Actor<'_>,
    ) -> Result<CaseRecord, ClaimError> {
        let case = self.get_case(id).await?.ok_or(ClaimError::NotFound(id))?;
        if done {
            return Ok(case);
        }
        if needs_claim && case.status == CaseStatus::Claimed {
            let holder = self.claim_info(id).await?.and_then(|c| c.claimed_by);
            if holder.as_deref() != Some(actor.username) && !actor.may_override {
                return Err(ClaimError::NotYours(id));
            }
        }
        Err(ClaimError::WrongStatus {
            id,
            status: case.status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Priority;
    use crate::store::tests::{postgres_test_db, sqlite_test_db};
    use crate::store::{Answer, CaseMode, Channel, NewCase};
    use chrono::{TimeDelta, TimeZone};
    use std::collections::HashSet;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    fn case(level: u8, minute: i64) -> NewCase {
        NewCase {
            channel: Channel::Phone,
            priority: Priority::new(level).unwrap_or(Priority::LOWEST),
            mode: CaseMode::Callback,
            registered_at: t0() + TimeDelta::minutes(minute),
            deadline: t0() + TimeDelta::minutes(minute + 30 * i64::from(level)),
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

    fn nurse(name: &str) -> Actor<'_> {
        Actor {
            username: name,
            ip: Some("10.0.0.7".into()),
            may_override: false,
        }
    }

    async fn insert(store: &Store, c: &NewCase) -> Uuid {
        match store.insert_case(c).await {
            Ok(r) => r.id,
            Err(e) => panic!("insert: {e}"),
        }
    }

    /// Eight nurses race for 30 cases: each case is claimed exactly once.
    async fn concurrent_claims_never_hand_out_a_case_twice(store: Store) {
        let mut ids = HashSet::new();
        for i in 0..30 {
            ids.insert(insert(&store, &case(1 + (i % 5) as u8, i)).await);
        }
        let mut tasks = Vec::new();
        for n in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let name = format!("nurse{n}");
                let mut got = Vec::new();
                loop {
                    match store.claim_next(&nurse(&name), t0()).await {
                        Ok(Some(c)) => got.push(c.id),
                        Ok(None) => return Ok(got),
                        Err(e) => return Err(e.to_string()),
                    }
                }
            }));
        }
        let mut claimed = Vec::new();
        for t in tasks {
            match t.await {
                Ok(Ok(got)) => claimed.extend(got),
                Ok(Err(e)) => panic!("claim failed: {e}"),
                Err(e) => panic!("task: {e}"),
            }
        }
        let unique: HashSet<Uuid> = claimed.iter().copied().collect();
        assert_eq!(claimed.len(), 30, "every case claimed once");
        assert_eq!(unique, ids);
        let audits = store.audit_rows(None, 1000).await.unwrap_or_default();
        let claims = audits.iter().filter(|a| a.action == "case.claim").count();
        assert_eq!(claims, 30);
    }

    /// Two nurses race for the same single case: one wins, one gets a conflict.
    async fn concurrent_claims_of_one_case_have_one_winner(store: Store) {
        let id = insert(&store, &case(2, 0)).await;
        let mut tasks = Vec::new();
        for n in 0..6 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let name = format!("n{n}");
                store.claim(id, &nurse(&name), t0()).await.is_ok()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            if t.await.unwrap_or(false) {
                wins += 1;
            }
        }
        assert_eq!(wins, 1);
    }

    async fn claim_next_takes_queue_order(store: Store) {
        let later_level_3 = insert(&store, &case(3, 0)).await;
        let level_1 = insert(&store, &case(1, 5)).await;
        let level_2 = insert(&store, &case(2, 1)).await;
        let mut order = Vec::new();
        while let Ok(Some(c)) = store.claim_next(&nurse("a"), t0()).await {
            assert_eq!(c.status, CaseStatus::Claimed);
            order.push(c.id);
        }
        assert_eq!(order, vec![level_1, level_2, later_level_3]);
        let info = store
            .claim_info(level_1)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(info.claimed_by.as_deref(), Some("a"));
        assert_eq!(info.claimed_at, Some(t0()));
    }

    async fn release_and_outcome_follow_the_claim(store: Store) {
        let id = insert(&store, &case(3, 0)).await;
        let a = nurse("anna");
        let b = nurse("bo");
        assert!(matches!(
            store.release(id, &a, t0()).await,
            Err(ClaimError::WrongStatus { .. })
        ));
        assert!(store.claim(id, &a, t0()).await.is_ok());
        assert!(matches!(
            store.claim(id, &b, t0()).await,
            Err(ClaimError::WrongStatus { .. })
        ));
        assert!(matches!(
            store.release(id, &b, t0()).await,
            Err(ClaimError::NotYours(_))
        ));
        assert!(matches!(
            store
                .record_outcome(id, Outcome::SelfCare, "", &b, t0())
                .await,
            Err(ClaimError::NotYours(_))
        ));
        let released = store.release(id, &a, t0()).await.map(|c| c.status).ok();
        assert_eq!(released, Some(CaseStatus::Waiting));

        // No answer: back in the queue with one more attempt.
        assert!(store.claim(id, &b, t0()).await.is_ok());
        let back = store
            .record_outcome(id, Outcome::NoAnswer, "", &b, t0())
            .await
            .ok();
        assert_eq!(
            back.as_ref().map(|c| (c.status, c.attempts)),
            Some((CaseStatus::Waiting, 1))
        );

        // A supervisor may close another nurse's claim.
        assert!(store.claim(id, &a, t0()).await.is_ok());
        let boss = Actor {
            username: "sara",
            ip: None,
            may_override: true,
        };
        let done = store
            .record_outcome(
                id,
                Outcome::HealthCentre,
                "bokad 14:00",
                &boss,
                t0() + TimeDelta::minutes(9),
            )
            .await
            .ok();
        assert_eq!(done.map(|c| c.status), Some(CaseStatus::Done));
        let info = store
            .claim_info(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(info.outcome, Some(Outcome::HealthCentre));
        assert_eq!(info.outcome_note.as_deref(), Some("bokad 14:00"));
        assert_eq!(info.closed_at, Some(t0() + TimeDelta::minutes(9)));
        assert!(matches!(
            store.claim(id, &a, t0()).await,
            Err(ClaimError::WrongStatus {
                status: CaseStatus::Done,
                ..
            })
        ));
        assert!(matches!(
            store.claim(Uuid::nil(), &a, t0()).await,
            Err(ClaimError::NotFound(_))
        ));

        let trail = store.audit_rows(Some(id), 100).await.unwrap_or_default();
        let actions: Vec<(&str, &str)> = trail
            .iter()
            .map(|r| (r.action.as_str(), r.actor.as_str()))
            .collect();
        assert_eq!(
            actions,
            vec![
                ("case.created", "ivr"),
                ("case.claim", "anna"),
                ("case.release", "anna"),
                ("case.claim", "bo"),
                ("case.outcome", "bo"),
                ("case.claim", "anna"),
                ("case.outcome", "sara"),
            ]
        );
        assert_eq!(trail.get(1).and_then(|r| r.ip.as_deref()), Some("10.0.0.7"));
        assert!(
            trail.iter().all(|r| !r.detail.contains("bokad")),
            "note leaked into audit"
        );
    }

    async fn users_and_sessions_round_trip(store: Store) {
        assert_eq!(
            store
                .create_user("anna", "$hash", Role::Nurse, t0())
                .await
                .ok(),
            Some(true)
        );
        assert_eq!(
            store
                .create_user("anna", "$other", Role::Supervisor, t0())
                .await
                .ok(),
            Some(false)
        );
        let user = store.find_user("anna").await.ok().flatten();
        assert_eq!(
            user.map(|u| (u.role, u.password_hash)),
            Some((Role::Nurse, "$hash".to_string()))
        );
        let later = t0() + TimeDelta::hours(1);
        assert!(store
            .create_session("abc", "anna", t0(), later)
            .await
            .is_ok());
        let who = store.session_user("abc", t0()).await.ok().flatten();
        assert_eq!(who.map(|u| u.username), Some("anna".to_string()));
        assert_eq!(
            store.session_user("abc", later).await.ok().flatten(),
            None,
            "expired"
        );
        assert_eq!(
            store
                .update_user("anna", "$new", Role::Supervisor)
                .await
                .ok(),
            Some(true)
        );
        assert_eq!(
            store.session_user("abc", t0()).await.ok().flatten(),
            None,
            "update ends sessions"
        );
        assert!(store
            .create_session("def", "anna", t0(), later)
            .await
            .is_ok());
        assert!(store.delete_session("def").await.is_ok());
        assert_eq!(store.session_user("def", t0()).await.ok().flatten(), None);
    }

    use crate::store::Role;

    macro_rules! both {
        ($($name:ident),+ $(,)?) => {
            mod sqlite_backend { $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = super::sqlite_test_db().await;
                    super::$name(db.store.clone()).await;
                    db.finish().await;
                }
            )+ }
            mod postgres_backend { $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = super::postgres_test_db().await;
                    super::$name(db.store.clone()).await;
                    db.finish().await;
                }
            )+ }
        };
    }

    both!(
        concurrent_claims_never_hand_out_a_case_twice,
        concurrent_claims_of_one_case_have_one_winner,
        claim_next_takes_queue_order,
        release_and_outcome_follow_the_claim,
        users_and_sessions_round_trip,
    );
}
