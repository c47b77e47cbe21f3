//! Care units on cases and staff (`units.toml`), and a nurse handing her
//! claimed case to another unit. A unit is stored as its id, the default unit
//! as NULL (see migration 0015), so callers pass the stored form:
//! `None` = the default unit. A handoff releases the claim, moves the case,
//! writes its history row and a `case.handoff` audit row in one transaction;
//! the note stays out of the audit log (free text).

use super::audit_chain::append_audit;
use super::cases::{case_columns, read_case};
use super::claims::{back_to_queue, Actor};
use super::{storable, with_backend, DialectRow, Result, Store, StoreError, StoredRow};
use crate::case::{CaseMode, CaseRecord, CaseStatus};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Longest handoff note, in characters (also a CHECK in the table).
pub const MAX_HANDOFF_NOTE_CHARS: usize = 500;

/// SQL: the case is in the unit bound to `param` (NULL = the default unit).
pub(super) fn in_unit(param: &str) -> String {
    format!("unit IS NOT DISTINCT FROM CAST({param} AS TEXT)")
}

/// One step of a case's way between units.
#[derive(Clone, PartialEq, Eq)]
pub struct Handoff {
    pub from_unit: String,
    pub to_unit: String,
    pub by_user: String,
    /// The nurse's note for the receiving unit (free text: not `Debug`).
    pub note: String,
    pub at: DateTime<Utc>,
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("from_unit", &self.from_unit)
            .field("to_unit", &self.to_unit)
            .field("by_user", &self.by_user)
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

/// Why a handoff was refused.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error("case {0} not found")]
    NotFound(Uuid),
    /// Only a claimed case can be handed off (claim it first; a closed case stays closed).
    #[error("case {id} is {status}")]
    WrongStatus { id: Uuid, status: CaseStatus },
    /// Another nurse holds the claim.
    #[error("case {0} is claimed by another nurse")]
    NotYours(Uuid),
    /// The caller is holding on the line: only callbacks move between units.
    #[error("case {0} is a caller holding on the line")]
    Holding(Uuid),
    #[error("case {id} is already with {unit}")]
    SameUnit { id: Uuid, unit: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for HandoffError {
    fn from(e: sqlx::Error) -> HandoffError {
        HandoffError::Store(StoreError::Database(e))
    }
}

/// Open cases of one unit now, for the supervisor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitWaitCounts {
    /// Stored form: `None` = the default unit.
    pub unit: Option<String>,
    /// Waiting or holding.
    pub waiting: u32,
    /// Registration of the oldest of them.
    pub oldest: Option<DateTime<Utc>>,
    /// Of them, past their deadline (the level's target).
    pub over_target: u32,
}

/// Records the step and keeps where the case came from; matches only a
/// callback claimed by `$4` that is not already in `$3`.
const INSERT_HANDOFF_SQL: &str = "INSERT INTO case_handoffs \
     (case_id, from_unit, to_unit, by_user, note, at) \
     SELECT id, COALESCE(unit, $2), $3, $4, $5, $6 FROM cases \
     WHERE id = $1 AND status = 'claimed' AND claimed_by = $4 AND mode = 'callback' \
     AND COALESCE(unit, $2) <> $3 RETURNING from_unit";

const MOVE_SQL: &str = concat!(
    "UPDATE cases SET unit = $2, status = ",
    back_to_queue!(),
    ", claimed_by = NULL, claimed_at = NULL, claim_expires_at = NULL \
     WHERE id = $1 AND status = 'claimed' AND claimed_by = $3 RETURNING id"
);

const HANDOFFS_SQL: &str = "SELECT from_unit, to_unit, by_user, note, at FROM case_handoffs \
     WHERE case_id = $1 ORDER BY id";

const UNIT_WAITS_SQL: &str = "SELECT unit, COUNT(*) AS waiting, MIN(registered_at) AS oldest, \
     SUM(CASE WHEN deadline < $1 THEN 1 ELSE 0 END) AS over_target FROM cases \
     WHERE status IN ('waiting', 'holding') GROUP BY unit";

impl Store {
    /// Puts an account in a unit (`None` = the default unit); `Ok(false)`
    /// when there is no such account.
    pub async fn set_user_unit(&self, username: &str, unit: Option<&str>) -> Result<bool> {
        let changed = with_backend!(self, |pool, _ts| {
            sqlx::query("UPDATE staff_users SET unit = $2 WHERE username = $1")
                .bind(username)
                .bind(unit)
                .execute(pool)
                .await?
                .rows_affected()
                > 0
        });
        Ok(changed)
    }

    /// The unit of an account (inner `None` = the default unit); `None` when
    /// there is no such account.
    pub async fn user_unit(&self, username: &str) -> Result<Option<Option<String>>> {
        let sql = "SELECT unit FROM staff_users WHERE username = $1";
        let unit = with_backend!(self, |pool, _ts| {
            sqlx::query_scalar::<_, Option<String>>(sql)
                .bind(username)
                .fetch_optional(pool)
                .await?
        });
        Ok(unit)
    }

    /// The unit a case is with (inner `None` = the default unit); `None`
    /// when there is no such case.
    pub async fn case_unit(&self, id: Uuid) -> Result<Option<Option<String>>> {
        let sql = "SELECT unit FROM cases WHERE id = $1";
        let unit = with_backend!(self, |pool, _ts| {
            sqlx::query_scalar::<_, Option<String>>(sql)
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?
        });
        Ok(unit)
    }

    /// One unit's open (waiting and holding) cases in queue order, as
    /// [`Store::worklist`] orders them.
    pub async fn unit_worklist(&self, unit: Option<&str>) -> Result<Vec<CaseRecord>> {
        self.unit_cases("status IN ('waiting', 'holding')", unit)
            .await
    }

    /// One unit's review list in queue order (see [`Store::review_list`]).
    pub async fn unit_review_list(&self, unit: Option<&str>) -> Result<Vec<CaseRecord>> {
        self.unit_cases("status = 'review'", unit).await
    }

    async fn unit_cases(&self, status: &str, unit: Option<&str>) -> Result<Vec<CaseRecord>> {
        let sql = format!(
            "SELECT {} FROM cases WHERE {status} AND {} \
             ORDER BY (priority <> 1), deadline, registered_at, id",
            case_columns!(),
            in_unit("$1")
        );
        with_backend!(self, |pool, _ts| {
            let rows = sqlx::query(&sql).bind(unit).fetch_all(pool).await?;
            rows.iter().map(read_case).collect()
        })
    }

    /// A case's handoffs, oldest first.
    pub async fn handoffs(&self, id: Uuid) -> Result<Vec<Handoff>> {
        let text_id = id.to_string();
        with_backend!(self, |pool, _ts| {
            let rows = sqlx::query(HANDOFFS_SQL)
                .bind(&text_id)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(Handoff {
                        from_unit: row.text("from_unit")?,
                        to_unit: row.text("to_unit")?,
                        by_user: row.text("by_user")?,
                        note: row.text("note")?,
                        at: row.time("at")?,
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map_err(|e| e.in_row(&text_id))
        })
    }

    /// `actor` hands her claimed callback case to unit `to` (`to_stored`: its
    /// stored form, `None` for the default unit `default_id`) with `note`:
    /// the claim ends, the case waits in `to`'s list (a review case in its
    /// review list), and the history row and a `case.handoff` audit row are
    /// written in the same transaction. Checks on the unit itself (known,
    /// takes the level) are the caller's; this refuses what the case's state
    /// forbids.
    #[allow(clippy::too_many_arguments)]
    pub async fn hand_off(
        &self,
        id: Uuid,
        to: &str,
        to_stored: Option<&str>,
        default_id: &str,
        note: &str,
        actor: &Actor<'_>,
        now: DateTime<Utc>,
    ) -> Result<CaseRecord, HandoffError> {
        let now = storable("now", now)?;
        let text_id = id.to_string();
        let moved = with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            let from: Option<String> = sqlx::query_scalar(INSERT_HANDOFF_SQL)
                .bind(&text_id)
                .bind(default_id)
                .bind(to)
                .bind(actor.username)
                .bind(note)
                .bind(ts(now))
                .fetch_optional(&mut *tx)
                .await?;
            let moved = match from {
                None => false,
                Some(from) => {
                    let hit: Option<String> = sqlx::query_scalar(MOVE_SQL)
                        .bind(&text_id)
                        .bind(to_stored)
                        .bind(actor.username)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if hit.is_some() {
                        let detail = format!("from={from} to={to}");
                        let audit = actor.audit(now, "case.handoff", id, detail);
                        append_audit!(tx, ts, &audit);
                    }
                    hit.is_some()
                }
            };
            if moved {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            moved
        });
        let case = self.get_case(id).await?.ok_or(HandoffError::NotFound(id))?;
        if moved {
            return Ok(case);
        }
        if case.status != CaseStatus::Claimed {
            return Err(HandoffError::WrongStatus {
                id,
                status: case.status,
            });
        }
        let holder = self.claim_info(id).await?.and_then(|c| c.claimed_by);
        if holder.as_deref() != Some(actor.username) {
            return Err(HandoffError::NotYours(id));
        }
        if case.mode == CaseMode::Hold {
            return Err(HandoffError::Holding(id));
        }
        Err(HandoffError::SameUnit {
            id,
            unit: to.to_string(),
        })
    }

    /// Open cases per unit at `now`: how many, the oldest registration, and
    /// how many are past their deadline. Units with no open case are absent.
    pub async fn unit_waits(&self, now: DateTime<Utc>) -> Result<Vec<UnitWaitCounts>> {
        let now = storable("now", now)?;
        with_backend!(self, |pool, ts| {
            let rows = sqlx::query(UNIT_WAITS_SQL)
                .bind(ts(now))
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(UnitWaitCounts {
                        unit: row.opt_text("unit")?,
                        waiting: row.int_as("waiting")?,
                        oldest: row.opt_time("oldest")?,
                        over_target: row.opt_int_as("over_target")?.unwrap_or(0),
                    })
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests;
