//! Cases: register, read back, list in queue order, count ahead, change status.
//! One SQL text per operation serves both dialects; each change writes its
//! audit row in the same transaction.

use super::audit::AuditRecord;
use super::audit_chain::append_audit;
use super::caps::{repeated_red_flags_audit, FROM_NUMBER_SQL, PENDING_SQL, REPEATED_RED_FLAGS_SQL};
use super::sms::enqueue_sms;
use super::{storable, with_backend, Result, Store, StoreError, StoredRow};
use crate::case::{CaseMode, CaseRecord, CaseStatus, Channel, NewCase, ReviewReason};
use crate::queue::Priority;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::types::Json;
use uuid::Uuid;

/// Columns of `cases` in the order every `SELECT` reads them.
macro_rules! case_columns {
    () => {
        "id, channel, priority, status, mode, registered_at, deadline, estimated_callback_at, \
         answers, callback_number, personnummer, language, call_id, external_ref, summary, \
         attempts, red_flag, next_attempt_at, review_reason"
    };
}
pub(super) use case_columns;

pub(super) const INSERT_CASE_SQL: &str = concat!(
    "INSERT INTO cases (",
    case_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
);

/// Inserts case record `$c` in transaction `$tx` (`$ts`: the backend's
/// time binder of `with_backend!`); the `execute` result.
macro_rules! insert_case_row {
    ($tx:expr, $ts:ident, $c:expr) => {{
        let c: &$crate::case::CaseRecord = $c;
        sqlx::query(super::cases::INSERT_CASE_SQL)
            .bind(c.id.to_string())
            .bind(c.channel.as_str())
            .bind(i16::from(c.priority.level()))
            .bind(c.status.as_str())
            .bind(c.mode.as_str())
            .bind($ts(c.registered_at))
            .bind($ts(c.deadline))
            .bind(c.estimated_callback_at.map($ts))
            .bind(sqlx::types::Json(&c.answers))
            .bind(&c.callback_number)
            .bind(&c.personnummer)
            .bind(&c.language)
            .bind(&c.call_id)
            .bind(&c.external_ref)
            .bind(&c.summary)
            .bind(i32::try_from(c.attempts).unwrap_or(i32::MAX))
            .bind(c.red_flag)
            .bind(c.next_attempt_at.map($ts))
            .bind(c.review_reason.map(|r| r.as_str()))
            .execute(&mut *$tx)
            .await
    }};
}
pub(super) use insert_case_row;

pub(super) const CASE_BY_ID_SQL: &str =
    concat!("SELECT ", case_columns!(), " FROM cases WHERE id = $1");

const CASE_BY_EXTERNAL_REF_SQL: &str = concat!(
    "SELECT ",
    case_columns!(),
    " FROM cases WHERE external_ref = $1"
);

/// Open cases in queue order.
const WORKLIST_SQL: &str = concat!(
    "SELECT ",
    case_columns!(),
    " FROM cases WHERE status IN ('waiting', 'holding') \
     ORDER BY (priority <> 1), deadline, registered_at, id"
);

/// The review list, in the same order.
const REVIEW_SQL: &str = concat!(
    "SELECT ",
    case_columns!(),
    " FROM cases WHERE status = 'review' \
     ORDER BY (priority <> 1), deadline, registered_at, id"
);

/// Claimed cases, in the same order.
const CLAIMED_SQL: &str = concat!(
    "SELECT ",
    case_columns!(),
    " FROM cases WHERE status = 'claimed' \
     ORDER BY (priority <> 1), deadline, registered_at, id"
);

/// Open cases ahead of a (level-1-ness, deadline) position in queue order.
const COUNT_AHEAD_SQL: &str = "SELECT COUNT(*) FROM cases \
     WHERE status IN ('waiting', 'holding') \
     AND ((priority <> 1) < $1 OR ((priority <> 1) = $1 AND deadline <= $2))";

const SET_STATUS_SQL: &str = "UPDATE cases SET status = $2 WHERE id = $1";

/// The holding caller left: see `holding_caller_hung_up`. Without a number
/// (withheld caller ID) there is nobody to call back: the case goes to the
/// review list (or, claimed, is marked so that a release sends it there).
const HOLD_TO_CALLBACK_SQL: &str = "UPDATE cases SET mode = 'callback', \
     review_reason = CASE WHEN callback_number IS NULL THEN 'no_number' ELSE review_reason END, \
     status = CASE WHEN status <> 'holding' THEN status \
                   WHEN callback_number IS NULL THEN 'review' ELSE 'waiting' END \
     WHERE id = $1 AND mode = 'hold' AND status IN ('holding', 'claimed') RETURNING status";

/// A repeat caller's new answers on their waiting callback: the level may
/// rise, never fall; `registered_at` stays (its place) and the deadline and
/// estimate become the earlier of old and new. A case whose level rose goes
/// back to the default unit (the nurse line, `unit` NULL) from a health
/// centre's list: the unit may not take the new level.
const RETRIAGE_SQL: &str = "UPDATE cases SET answers = $2, \
     unit = CASE WHEN $4 < priority THEN NULL ELSE unit END, \
     summary = CASE WHEN summary = '' OR summary = $3 THEN $3 ELSE summary || ' / ' || $3 END, \
     priority = CASE WHEN priority < $4 THEN priority ELSE $4 END, \
     deadline = CASE WHEN deadline < $5 THEN deadline ELSE $5 END, \
     estimated_callback_at = CASE WHEN estimated_callback_at < $6 \
          THEN estimated_callback_at ELSE COALESCE($6, estimated_callback_at) END, \
     red_flag = (red_flag OR $7), personnummer = COALESCE(personnummer, $8), \
     mode = $9, status = $10, held_by = $11 \
     WHERE id = $1 AND status = 'waiting' AND mode = 'callback' RETURNING id";

const LAPSED_HOLDS_SQL: &str = "SELECT id FROM cases \
     WHERE mode = 'hold' AND status IN ('holding', 'claimed') \
     AND held_by IS NOT NULL AND held_by NOT IN \
          (SELECT node FROM node_heartbeats WHERE beat_at >= $1)";

impl Store {
    /// Registers a case and commits, with a `case.created` audit entry in the same
    /// transaction. Timestamps are stored to the microsecond; the returned record
    /// is what a later [`Store::get_case`] reads back.
    pub async fn insert_case(&self, case: &NewCase) -> Result<CaseRecord> {
        self.insert_case_held_by(case, None).await
    }

    /// Like [`Store::insert_case`]; a held case also names the node whose live
    /// call it is (`held_by`), in the same transaction: it stays held only
    /// while that node's heartbeat is fresh ([`Store::sweep_lapsed_holds`]).
    pub async fn insert_case_held_by(
        &self,
        case: &NewCase,
        held_by: Option<&str>,
    ) -> Result<CaseRecord> {
        let mut records = self.insert_cases_held_by(&[(case, held_by)]).await?;
        records
            .pop()
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    /// Registers several cases in one transaction (one commit, one fsync):
    /// all are stored or none. Each `(case, held_by)` as in
    /// [`Store::insert_case_held_by`]; records come back in the same order.
    pub async fn insert_cases_held_by(
        &self,
        cases: &[(&NewCase, Option<&str>)],
    ) -> Result<Vec<CaseRecord>> {
        self.insert_cases_in(cases, None).await
    }

    /// Registers a case as [`Store::insert_case`] does, in care unit `unit`
    /// (stored form: `None` = the default unit) from the start, in the same
    /// transaction (the digital intake naming a unit).
    pub async fn insert_case_in_unit(
        &self,
        case: &NewCase,
        unit: Option<&str>,
    ) -> Result<CaseRecord> {
        let mut records = self.insert_cases_in(&[(case, None)], unit).await?;
        records
            .pop()
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    async fn insert_cases_in(
        &self,
        cases: &[(&NewCase, Option<&str>)],
        unit: Option<&str>,
    ) -> Result<Vec<CaseRecord>> {
        let rows = cases
            .iter()
            .map(|(case, held_by)| Ok((new_record(case)?, *held_by)))
            .collect::<Result<Vec<_>>>()?;
        // Confirmations of callbacks with consent, committed with their cases.
        let confirmations = rows
            .iter()
            .map(|(c, _)| self.sms_on_insert(c))
            .collect::<Result<Vec<_>>>()?;
        let refused = with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            for (c, held_by) in &rows {
                insert_case_row!(tx, ts, c).map_err(map_insert_error)?;
                if let Some(node) = held_by {
                    sqlx::query("UPDATE cases SET held_by = $2 WHERE id = $1")
                        .bind(c.id.to_string())
                        .bind(*node)
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(unit) = unit {
                    sqlx::query("UPDATE cases SET unit = $2 WHERE id = $1")
                        .bind(c.id.to_string())
                        .bind(unit)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            let mut refused = None;
            for (c, _) in &rows {
                let from_number: Option<i64> = match &c.callback_number {
                    Some(number) if self.caps.per_number_per_day > 0 => Some(
                        sqlx::query_scalar(FROM_NUMBER_SQL)
                            .bind(number)
                            .bind(ts(c.registered_at - TimeDelta::days(1)))
                            .fetch_one(&mut *tx)
                            .await?,
                    ),
                    _ => None,
                };
                let pending: Option<i64> = if c.mode == CaseMode::Callback
                    && c.status == CaseStatus::Waiting
                    && self.caps.max_pending_callbacks > 0
                {
                    Some(sqlx::query_scalar(PENDING_SQL).fetch_one(&mut *tx).await?)
                } else {
                    None
                };
                let count = |n: Option<i64>| n.map(|n| u64::try_from(n).unwrap_or(0));
                if let Some(cap) = self.caps.broken(count(from_number), count(pending)) {
                    refused = Some((cap, c));
                    break;
                }
            }
            let mut flagged = Vec::new();
            if refused.is_some() {
                tx.rollback().await?;
            } else {
                for (c, _) in &rows {
                    if c.red_flag && self.caps.red_flags_per_number_per_day > 0 {
                        let hit: Option<String> = sqlx::query_scalar(REPEATED_RED_FLAGS_SQL)
                            .bind(c.id.to_string())
                            .bind(ts(c.registered_at - TimeDelta::days(1)))
                            .bind(i64::from(self.caps.red_flags_per_number_per_day))
                            .fetch_optional(&mut *tx)
                            .await?;
                        if hit.is_some() {
                            flagged.push(c.id);
                        }
                    }
                }
                for sms in confirmations.iter().flatten() {
                    if !flagged.contains(&sms.case_id) {
                        let _queued = enqueue_sms!(tx, ts, sms);
                    }
                }
                // Audits last: the chain head is locked after the case rows.
                for (c, _) in &rows {
                    append_audit!(tx, ts, &created_audit(c));
                    if flagged.contains(&c.id) {
                        append_audit!(tx, ts, &repeated_red_flags_audit(c.id, c.registered_at));
                    }
                }
                tx.commit().await?;
            }
            (refused, flagged)
        });
        let (refused, flagged) = refused;
        self.cap_counters.count_flagged(flagged.len());
        if let Some((cap, case)) = refused {
            // A batch that fails is retried case by case (group commit):
            // count and audit the refusal once, then.
            if rows.len() == 1 {
                self.note_refusal(cap, case).await;
            }
            return Err(StoreError::CapReached(cap));
        }
        Ok(rows
            .into_iter()
            .map(|(mut c, _)| {
                if flagged.contains(&c.id) {
                    c.status = CaseStatus::Review;
                    c.review_reason = Some(ReviewReason::RepeatedRedFlags);
                }
                c
            })
            .collect())
    }

    /// A repeat caller answered the questions again: case `id`, if it still
    /// waits for its callback, takes `case`'s answers, red flag and mode (a
    /// held case names `held_by`, as on insert), its summary after the one
    /// it had (a digital description stays), and its personnummer if it had
    /// none; its level only rises and its deadline and estimate
    /// only move earlier, while `registered_at` stays (it keeps its place).
    /// Audited as `case.retriaged` in the same transaction. `None` when the
    /// case no longer waits (a nurse has it, or it is closed).
    pub async fn retriage_case(
        &self,
        id: Uuid,
        case: &NewCase,
        held_by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<CaseRecord>> {
        let now = storable("now", now)?;
        let deadline = storable("deadline", case.deadline)?;
        let estimate = case
            .estimated_callback_at
            .map(|t| storable("estimated_callback_at", t))
            .transpose()?;
        let held_by = held_by.filter(|_| case.mode == crate::case::CaseMode::Hold);
        let audit = AuditRecord::new(
            now,
            "ivr",
            "case.retriaged",
            Some(id),
            format!(
                "repeat call answered again: priority<={} mode={} red_flag={}",
                case.priority, case.mode, case.red_flag
            ),
            None,
        );
        let text_id = id.to_string();
        let matched = with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            let hit: Option<String> = sqlx::query_scalar(RETRIAGE_SQL)
                .bind(&text_id)
                .bind(Json(&case.answers))
                .bind(&case.summary)
                .bind(i16::from(case.priority.level()))
                .bind(ts(deadline))
                .bind(estimate.map(ts))
                .bind(case.red_flag)
                .bind(&case.personnummer)
                .bind(case.mode.as_str())
                .bind(case.initial_status().as_str())
                .bind(held_by)
                .fetch_optional(&mut *tx)
                .await?;
            if hit.is_some() {
                append_audit!(tx, ts, &audit);
                tx.commit().await?;
            }
            hit.is_some()
        });
        if !matched {
            return Ok(None);
        }
        self.get_case(id).await
    }

    /// Held cases whose node's heartbeat is older than `lease` at `now` (or
    /// missing) become callbacks to the caller ID, audited
    /// (`case.hold_lease_lapsed`): nobody is holding for them any more. A
    /// withheld caller ID goes to the review list instead (`no_number`).
    /// Returns their ids. Any node may run this.
    pub async fn sweep_lapsed_holds(
        &self,
        lease: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>> {
        let now = storable("now", now)?;
        let fresh_since = storable("fresh_since", now - lease)?;
        let ids: Vec<String> = with_backend!(self, |pool, ts| {
            sqlx::query_scalar(LAPSED_HOLDS_SQL)
                .bind(ts(fresh_since))
                .fetch_all(pool)
                .await?
        });
        let mut swept = Vec::new();
        for text in ids {
            let Ok(id) = Uuid::parse_str(&text) else {
                continue;
            };
            let audit = AuditRecord::new(
                now,
                "sweeper",
                "case.hold_lease_lapsed",
                Some(id),
                "the node holding the call stopped",
                None,
            );
            if self.hold_to_callback(id, audit).await? {
                swept.push(id);
            }
        }
        Ok(swept)
    }

    /// The case with this id, if any.
    pub async fn get_case(&self, id: Uuid) -> Result<Option<CaseRecord>> {
        self.case_where(CASE_BY_ID_SQL, &id.to_string()).await
    }

    /// The case posted with this digital-intake reference, if any.
    pub async fn get_case_by_external_ref(&self, external_ref: &str) -> Result<Option<CaseRecord>> {
        self.case_where(CASE_BY_EXTERNAL_REF_SQL, external_ref)
            .await
    }

    /// The first case `sql` (case columns, one `$1` parameter) finds.
    pub(super) async fn case_where(&self, sql: &str, param: &str) -> Result<Option<CaseRecord>> {
        with_backend!(self, |pool, _ts| {
            let row = sqlx::query(sql).bind(param).fetch_optional(pool).await?;
            row.as_ref().map(read_case).transpose()
        })
    }

    /// Open (waiting and holding) cases in queue order: level 1 first, then earliest
    /// deadline, then earliest registration (then id, so the order is total).
    pub async fn worklist(&self) -> Result<Vec<CaseRecord>> {
        self.all_cases(WORKLIST_SQL).await
    }

    /// The review list: cases a nurse must look at before anyone calls (see
    /// [`crate::case::ReviewReason`]), in queue order. Never handed out by
    /// claim-next; a nurse claims one by hand.
    pub async fn review_list(&self) -> Result<Vec<CaseRecord>> {
        self.all_cases(REVIEW_SQL).await
    }

    /// Cases nurses have taken (status `claimed`), in queue order.
    pub async fn claimed_cases(&self) -> Result<Vec<CaseRecord>> {
        self.all_cases(CLAIMED_SQL).await
    }

    /// Every case `sql` (case columns, no parameters) finds.
    async fn all_cases(&self, sql: &str) -> Result<Vec<CaseRecord>> {
        with_backend!(self, |pool, _ts| {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            rows.iter().map(read_case).collect()
        })
    }

    /// How many open cases a new case of `priority` and `deadline` would have ahead
    /// of it in queue order (ties on deadline count as ahead: they registered first).
    pub async fn count_waiting_ahead(
        &self,
        priority: Priority,
        deadline: DateTime<Utc>,
    ) -> Result<usize> {
        let deadline = storable("deadline", deadline)?;
        let count: i64 = with_backend!(self, |pool, ts| {
            sqlx::query_scalar(COUNT_AHEAD_SQL)
                .bind(!priority.is_immediate())
                .bind(ts(deadline))
                .fetch_one(pool)
                .await?
        });
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// Sets the status, with an audit entry by `system`; `NotFound` if no such case.
    pub async fn set_status(
        &self,
        id: Uuid,
        status: CaseStatus,
        now: DateTime<Utc>,
    ) -> Result<CaseRecord> {
        let now = storable("now", now)?;
        let detail = format!("status={status}");
        let audit = AuditRecord::new(now, "system", "case.status", Some(id), detail, None);
        if !self
            .update_case(SET_STATUS_SQL, id, Some(status.as_str()), &audit)
            .await?
        {
            return Err(StoreError::NotFound(id));
        }
        self.get_case(id).await?.ok_or(StoreError::NotFound(id))
    }

    /// A caller holding in the queue hung up: the case stays and becomes a callback
    /// to the caller ID (`holding` -> `waiting`, mode `callback`). A held case a
    /// nurse has already claimed stays hers but becomes a callback too, so that
    /// her Call dials the number instead of looking for the live call.
    pub async fn holding_caller_hung_up(&self, id: Uuid, now: DateTime<Utc>) -> Result<CaseRecord> {
        let now = storable("now", now)?;
        let audit = AuditRecord::new(
            now,
            "system",
            "case.hold_to_callback",
            Some(id),
            "holding caller hung up",
            None,
        );
        self.hold_to_callback(id, audit).await?;
        self.get_case(id).await?.ok_or(StoreError::NotFound(id))
    }

    /// A held case whose caller is gone becomes a callback (or, with no
    /// number, a review case), with `audit` (its detail gets the new status)
    /// in the same transaction. Whether the case was still held.
    async fn hold_to_callback(&self, id: Uuid, mut audit: AuditRecord) -> Result<bool> {
        let text_id = id.to_string();
        let changed = with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            let status: Option<String> = sqlx::query_scalar(HOLD_TO_CALLBACK_SQL)
                .bind(&text_id)
                .fetch_optional(&mut *tx)
                .await?;
            let mut status = status;
            let mut flagged = false;
            if status.as_deref() == Some("waiting") && self.caps.red_flags_per_number_per_day > 0 {
                let hit: Option<String> = sqlx::query_scalar(REPEATED_RED_FLAGS_SQL)
                    .bind(&text_id)
                    .bind(ts(audit.at - TimeDelta::days(1)))
                    .bind(i64::from(self.caps.red_flags_per_number_per_day))
                    .fetch_optional(&mut *tx)
                    .await?;
                if hit.is_some() {
                    status = Some("review".into());
                    flagged = true;
                }
            }
            if let Some(status) = &status {
                audit.detail = format!("{}: mode=callback status={status}", audit.detail);
                append_audit!(tx, ts, &audit);
                if flagged {
                    append_audit!(tx, ts, &repeated_red_flags_audit(id, audit.at));
                }
                tx.commit().await?;
            }
            self.cap_counters.count_flagged(usize::from(flagged));
            status.is_some()
        });
        Ok(changed)
    }

    /// Runs a conditional `UPDATE` of case `$1` (with `value` as `$2`, if any) and,
    /// when it matched, `audit`, in one transaction. Whether it matched.
    async fn update_case(
        &self,
        sql: &str,
        id: Uuid,
        value: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<bool> {
        let text_id = id.to_string();
        let matched = with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            let mut query = sqlx::query(sql).bind(&text_id);
            if let Some(value) = value {
                query = query.bind(value);
            }
            let matched = query.execute(&mut *tx).await?.rows_affected() > 0;
            if matched {
                append_audit!(tx, ts, audit);
                tx.commit().await?;
            }
            matched
        });
        Ok(matched)
    }
}

/// Reads the case columns of a row, checking every value.
pub(super) fn read_case(row: &impl StoredRow) -> Result<CaseRecord> {
    row.by_id(|row| {
        Ok(CaseRecord {
            id: row.parsed("id")?,
            channel: row.parsed("channel")?,
            priority: row.int_as("priority")?,
            status: row.parsed("status")?,
            mode: row.parsed("mode")?,
            registered_at: row.time("registered_at")?,
            deadline: row.time("deadline")?,
            estimated_callback_at: row.opt_time("estimated_callback_at")?,
            // The serde error names the problem, never the answer text.
            answers: serde_json::from_value(row.json("answers")?)
                .map_err(|e| StoreError::corrupt("answers", e))?,
            callback_number: row.opt_text("callback_number")?,
            personnummer: row.opt_text("personnummer")?,
            language: row.text("language")?,
            call_id: row.opt_text("call_id")?,
            external_ref: row.opt_text("external_ref")?,
            summary: row.text("summary")?,
            attempts: row.int_as("attempts")?,
            red_flag: row.flag("red_flag")?,
            next_attempt_at: row.opt_time("next_attempt_at")?,
            review_reason: row.opt_parsed("review_reason")?,
        })
    })
}

/// Unique violations on insert can only be `external_ref` (ids are random v4).
/// The record a new case is stored as (times cut to what the store keeps).
pub(super) fn new_record(case: &NewCase) -> Result<CaseRecord> {
    Ok(CaseRecord {
        id: Uuid::new_v4(),
        channel: case.channel,
        priority: case.priority,
        status: case.initial_status(),
        mode: case.mode,
        registered_at: storable("registered_at", case.registered_at)?,
        deadline: storable("deadline", case.deadline)?,
        estimated_callback_at: case
            .estimated_callback_at
            .map(|t| storable("estimated_callback_at", t))
            .transpose()?,
        answers: case.answers.clone(),
        callback_number: case.callback_number.clone(),
        personnummer: case.personnummer.clone(),
        language: case.language.clone(),
        call_id: case.call_id.clone(),
        external_ref: case.external_ref.clone(),
        summary: case.summary.clone(),
        attempts: 0,
        red_flag: case.red_flag,
        next_attempt_at: None,
        review_reason: None,
    })
}

/// The `case.created` audit row of a new case.
pub(super) fn created_audit(c: &CaseRecord) -> AuditRecord {
    AuditRecord::new(
        c.registered_at,
        match c.channel {
            Channel::Phone => "ivr",
            Channel::Digital => "digital-intake",
        },
        "case.created",
        Some(c.id),
        format!(
            "channel={} priority={} mode={} red_flag={}",
            c.channel, c.priority, c.mode, c.red_flag
        ),
        None,
    )
}

fn map_insert_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::DuplicateExternalRef,
        _ => StoreError::Database(e),
    }
}
