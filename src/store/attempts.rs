//! Callback attempts and call detail records.
//!
//! [`Store::record_attempt`] is the one place a callback attempt changes a case:
//! connected, the nurse keeps the claim; failed, the case goes back to the queue
//! (keeping its deadline) until the retry policy's next attempt time, or after the
//! last attempt is closed as `unreachable` (urgent levels: to the review list,
//! `review`/`not_reached`). The decision itself is the pure
//! [`RetryPolicies::after_failure`]; this module applies it in one transaction
//! with its audit row.
//!
//! [`CallLeg`] rows are the CDR: one per leg, with times, result and SIP status,
//! and never a phone number (the case holds the callback number).

use super::audit::AuditRecord;
use super::audit_chain::append_audit;
use super::cases::{read_case, CASE_BY_ID_SQL};
use super::claims::{Actor, ClaimError};
use super::sms::{enqueue_sms, SmsFacts, SmsKind};
use super::{storable, with_backend, Result, Store, StoreError, StoredRow};
use crate::case::{text_enum, ReviewReason, UnknownValue};
use crate::queue::{AttemptOutcome, Priority, RetryPolicies};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

text_enum!(
    /// How one callback attempt to the resident ended.
    AttemptResult, "attempt result" {
        /// The resident answered.
        Connected => "connected",
        /// 486/600 Busy.
        Busy => "busy",
        /// Rang out without an answer (timeout, 408, 480).
        NoAnswer => "no_answer",
        /// Declined (603 and other final refusals of the call).
        Rejected => "rejected",
        /// The call could not be placed or broke before an answer.
        Failed => "failed",
    }
);

impl AttemptResult {
    /// The resident's phone was reached but nobody took the call (busy, no
    /// answer, declined): what a "we tried to call you" SMS is for.
    pub fn nobody_answered(self) -> bool {
        matches!(
            self,
            AttemptResult::Busy | AttemptResult::NoAnswer | AttemptResult::Rejected
        )
    }
}

text_enum!(
    /// Which way a leg was set up.
    LegDirection, "leg direction" {
        /// The other party called us.
        Inbound => "inbound",
        /// We called out.
        Outbound => "outbound",
    }
);

text_enum!(
    /// What a leg is for.
    LegKind, "leg kind" {
        /// A resident's call into the IVR.
        Ivr => "ivr",
        /// The callback to the resident.
        Resident => "resident",
        /// The nurse's SIP phone.
        NursePhone => "nurse_phone",
        /// The nurse's browser (WebRTC).
        NurseBrowser => "nurse_browser",
    }
);

/// Longest `CallLeg::result` text the table takes.
pub const MAX_LEG_RESULT_CHARS: usize = 40;

/// One call detail record. Holds no phone number or other personal data, so
/// `Debug` shows everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallLeg {
    pub id: Uuid,
    /// The case the leg served, if any yet (an IVR call before registration).
    pub case_id: Option<Uuid>,
    pub direction: LegDirection,
    pub kind: LegKind,
    /// INVITE sent or received.
    pub started_at: DateTime<Utc>,
    /// 200 OK, when the leg was answered.
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
    /// How it ended, snake_case, 1-40 characters: an [`AttemptResult`] text for
    /// resident legs, or e.g. `completed`, `cancelled`, `nurse_unavailable`.
    pub result: String,
    /// The final SIP status, when there was one (100-699).
    pub sip_status: Option<u16>,
    /// `local` (we hung up or cancelled) or `remote`.
    pub ended_by: Option<String>,
}

/// A case closed as unreachable, as the supervisor lists it (no personal data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreachableCase {
    pub id: Uuid,
    pub priority: Priority,
    pub attempts: u32,
    pub registered_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    /// When the last attempt failed.
    pub closed_at: Option<DateTime<Utc>>,
}

/// At most this many unreachable cases are listed.
pub const MAX_UNREACHABLE_LISTED: u32 = 500;

const IS_CLAIMED_BY_SQL: &str =
    "SELECT id FROM cases WHERE id = $1 AND status = 'claimed' AND claimed_by = $2";

/// Locks the claimed row (a no-op write, so SQLite takes its write lock before it
/// reads) and reads the failed attempts so far and the case's level (the
/// nurse may have changed it since the call began).
const LOCK_CLAIMED_SQL: &str = "UPDATE cases SET attempts = attempts \
     WHERE id = $1 AND status = 'claimed' AND claimed_by = $2 \
     RETURNING CAST(attempts AS BIGINT), CAST(priority AS BIGINT)";

/// A failed attempt: the claim ends, the case waits for its next attempt, goes
/// to review ($6 the reason) or closes.
const FAILED_SQL: &str = "UPDATE cases SET attempts = $2, status = $3, mode = 'callback', \
     claimed_by = NULL, claimed_at = NULL, claim_expires_at = NULL, next_attempt_at = $4, \
     closed_at = $5, review_reason = COALESCE($6, review_reason) WHERE id = $1";

const INSERT_LEG_SQL: &str = "INSERT INTO call_legs (id, case_id, direction, kind, started_at, \
     answered_at, ended_at, result, sip_status, ended_by) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

const LEGS_FOR_CASE_SQL: &str = "SELECT id, case_id, direction, kind, started_at, answered_at, \
     ended_at, result, sip_status, ended_by FROM call_legs WHERE case_id = $1 \
     ORDER BY started_at, id";

const UNREACHABLE_SQL: &str = "SELECT id, priority, attempts, registered_at, deadline, closed_at \
     FROM cases WHERE status = 'unreachable' AND closed_at >= $1 \
     ORDER BY closed_at DESC, id LIMIT $2";

const COUNT_UNREACHABLE_SQL: &str =
    "SELECT COUNT(*) FROM cases WHERE status = 'unreachable' AND closed_at >= $1";

impl Store {
    /// Records how a callback attempt on a claimed case ended, in one transaction
    /// with a `case.attempt` audit row by `actor`, who must hold the claim (the
    /// nurse who started the call).
    ///
    /// - [`AttemptResult::Connected`]: the case stays claimed; nothing else changes.
    /// - Any other result counts one more failed attempt and ends the claim. While
    ///   `policy` allows another try the case is `waiting` again, in callback mode,
    ///   with its deadline and `next_attempt_at` = now + interval
    ///   ([`AttemptOutcome::RetryAt`]); after the last attempt it is `unreachable`
    ///   with `closed_at` = now, or at a level `policy` reviews, open in the
    ///   review list (`review`, reason `not_reached`, [`AttemptOutcome::Review`]).
    ///   Either change wakes every node's worklist.
    ///
    /// Errors: `NotFound`; `WrongStatus` when the case is not claimed (say a
    /// supervisor released it during the call; nothing is recorded then);
    /// `NotYours` when another nurse holds the claim.
    pub async fn record_attempt(
        &self,
        id: Uuid,
        actor: &str,
        result: AttemptResult,
        policy: &RetryPolicies,
        now: DateTime<Utc>,
    ) -> Result<AttemptOutcome, ClaimError> {
        let now = storable("now", now)?;
        let text_id = id.to_string();
        let outcome: Option<AttemptOutcome> = with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            if result == AttemptResult::Connected {
                // Connected: only the audit row (the case row stays untouched),
                // kept only while `actor` holds the claim. The audit goes first
                // so SQLite takes its write lock before the read.
                let audit = AuditRecord::new(
                    now,
                    actor,
                    "case.attempt",
                    Some(id),
                    "result=connected",
                    None,
                );
                append_audit!(tx, ts, &audit);
                let held: Option<String> = sqlx::query_scalar(IS_CLAIMED_BY_SQL)
                    .bind(&text_id)
                    .bind(actor)
                    .fetch_optional(&mut *tx)
                    .await?;
                if held.is_some() {
                    tx.commit().await?;
                } else {
                    tx.rollback().await?;
                }
                held.map(|_| AttemptOutcome::Connected)
            } else {
                let before: Option<(i64, i64)> = sqlx::query_as(LOCK_CLAIMED_SQL)
                    .bind(&text_id)
                    .bind(actor)
                    .fetch_optional(&mut *tx)
                    .await?;
                match before {
                    None => {
                        tx.rollback().await?;
                        None
                    }
                    Some((before, level)) => {
                        let failed = u32::try_from(before.max(0))
                            .unwrap_or(u32::MAX)
                            .saturating_add(1);
                        let level = Priority::try_from(level)
                            .map_err(|e| StoreError::corrupt("priority", e).in_row(&text_id))?;
                        let outcome = policy.after_failure(level, failed, now);
                        let (status, next, closed, reason) = match outcome {
                            AttemptOutcome::RetryAt(at) => (
                                "waiting",
                                Some(storable("next_attempt_at", at)?),
                                None,
                                None,
                            ),
                            AttemptOutcome::Review => {
                                ("review", None, None, Some(ReviewReason::NotReached))
                            }
                            _ => ("unreachable", None, Some(now), None),
                        };
                        let then = match outcome {
                            AttemptOutcome::RetryAt(_) => "retry",
                            _ => status,
                        };
                        sqlx::query(FAILED_SQL)
                            .bind(&text_id)
                            .bind(i32::try_from(failed).unwrap_or(i32::MAX))
                            .bind(status)
                            .bind(next.map(ts))
                            .bind(closed.map(ts))
                            .bind(reason.map(|r| r.as_str()))
                            .execute(&mut *tx)
                            .await?;
                        if result.nobody_answered() && self.sms_enabled() {
                            // "We tried to call you", once per attempt, with consent.
                            let row = sqlx::query(CASE_BY_ID_SQL)
                                .bind(&text_id)
                                .fetch_one(&mut *tx)
                                .await?;
                            let sms = self.sms_for(
                                &read_case(&row)?,
                                SmsKind::CallbackMissed,
                                &format!("missed:{failed}"),
                                &SmsFacts::default(),
                                now,
                            )?;
                            if let Some(sms) = &sms {
                                let _queued = enqueue_sms!(tx, ts, sms);
                            }
                        }
                        let audit = AuditRecord::new(
                            now,
                            actor,
                            "case.attempt",
                            Some(id),
                            format!("result={result} attempts={failed} then={then}"),
                            None,
                        );
                        append_audit!(tx, ts, &audit);
                        tx.commit().await?;
                        Some(outcome)
                    }
                }
            }
        });
        match outcome {
            Some(o) => Ok(o),
            None => {
                let who = Actor {
                    username: actor,
                    ip: None,
                    may_override: false,
                };
                // The conditional statement matched no row: say why.
                Err(match self.after_change(id, false, true, &who).await {
                    Err(e) => e,
                    Ok(case) => ClaimError::WrongStatus {
                        id,
                        status: case.status,
                    },
                })
            }
        }
    }

    /// Stores one call detail record. `case_id`, when set, must name a stored case.
    pub async fn insert_call_leg(&self, leg: &CallLeg) -> Result<()> {
        let invalid = |field: &'static str, message: &str| StoreError::InvalidCallLeg {
            id: leg.id,
            field,
            message: message.to_string(),
        };
        let result_chars = leg.result.chars().count();
        if result_chars == 0 || result_chars > MAX_LEG_RESULT_CHARS {
            return Err(invalid("result", "must be 1 to 40 characters"));
        }
        let sip_status = leg
            .sip_status
            .map(|s| {
                i16::try_from(s)
                    .ok()
                    .filter(|s| (100..=699).contains(s))
                    .ok_or_else(|| invalid("sip_status", "must be a SIP status 100-699"))
            })
            .transpose()?;
        if !matches!(
            leg.ended_by.as_deref(),
            None | Some("local") | Some("remote")
        ) {
            return Err(invalid("ended_by", "must be \"local\" or \"remote\""));
        }
        if leg.ended_at < leg.started_at || leg.answered_at.is_some_and(|a| a < leg.started_at) {
            return Err(invalid(
                "ended_at",
                "and answered_at cannot be before started_at",
            ));
        }
        let started = storable("started_at", leg.started_at)?;
        let answered = leg
            .answered_at
            .map(|t| storable("answered_at", t))
            .transpose()?;
        let ended = storable("ended_at", leg.ended_at)?;
        with_backend!(self, |pool, ts| {
            sqlx::query(INSERT_LEG_SQL)
                .bind(leg.id.to_string())
                .bind(leg.case_id.map(|id| id.to_string()))
                .bind(leg.direction.as_str())
                .bind(leg.kind.as_str())
                .bind(ts(started))
                .bind(answered.map(ts))
                .bind(ts(ended))
                .bind(&leg.result)
                .bind(sip_status)
                .bind(&leg.ended_by)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The call legs of one case, oldest first.
    pub async fn call_legs_for_case(&self, id: Uuid) -> Result<Vec<CallLeg>> {
        let text_id = id.to_string();
        with_backend!(self, |pool, _ts| {
            let rows = sqlx::query(LEGS_FOR_CASE_SQL)
                .bind(&text_id)
                .fetch_all(pool)
                .await?;
            rows.iter().map(read_leg).collect()
        })
    }

    /// Cases closed as unreachable at or after `since`, most recent first (at most
    /// [`MAX_UNREACHABLE_LISTED`]).
    pub async fn unreachable_since(&self, since: DateTime<Utc>) -> Result<Vec<UnreachableCase>> {
        let since = storable("since", since)?;
        let limit = i64::from(MAX_UNREACHABLE_LISTED);
        with_backend!(self, |pool, ts| {
            let rows = sqlx::query(UNREACHABLE_SQL)
                .bind(ts(since))
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(read_unreachable).collect()
        })
    }

    /// How many cases were closed as unreachable at or after `since`.
    pub async fn count_unreachable_since(&self, since: DateTime<Utc>) -> Result<u32> {
        let since = storable("since", since)?;
        let n: i64 = with_backend!(self, |pool, ts| {
            sqlx::query_scalar(COUNT_UNREACHABLE_SQL)
                .bind(ts(since))
                .fetch_one(pool)
                .await?
        });
        Ok(u32::try_from(n.max(0)).unwrap_or(u32::MAX))
    }
}

/// Reads a `call_legs` row, checking every value.
fn read_leg(row: &impl StoredRow) -> Result<CallLeg> {
    row.by_id(|row| {
        Ok(CallLeg {
            id: row.parsed("id")?,
            case_id: row.opt_parsed("case_id")?,
            direction: row.parsed("direction")?,
            kind: row.parsed("kind")?,
            started_at: row.time("started_at")?,
            answered_at: row.opt_time("answered_at")?,
            ended_at: row.time("ended_at")?,
            result: row.text("result")?,
            sip_status: row.opt_int_as("sip_status")?,
            ended_by: row.opt_text("ended_by")?,
        })
    })
}

/// Reads an unreachable case's listed columns, checking every value.
fn read_unreachable(row: &impl StoredRow) -> Result<UnreachableCase> {
    row.by_id(|row| {
        Ok(UnreachableCase {
            id: row.parsed("id")?,
            priority: row.int_as("priority")?,
            attempts: row.int_as("attempts")?,
            registered_at: row.time("registered_at")?,
            deadline: row.time("deadline")?,
            closed_at: row.opt_time("closed_at")?,
        })
    })
}

#[cfg(test)]
mod tests;
