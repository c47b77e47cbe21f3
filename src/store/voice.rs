//! Voice notes and cancellations: the caller's recorded description of the
//! problem (a WAV, one per case, deleted with the case by a foreign-key
//! cascade), a caller's booked callback found by caller ID, and cancelling an
//! open callback (from the IVR or the digital channel). Each change writes its
//! audit row in the same transaction; the audit detail carries no personal data.

use super::audit::AuditRecord;
use super::audit_chain::append_audit;
use super::cases::case_columns;
use super::{storable, with_backend, Result, Store, StoreError};
use crate::case::{CaseRecord, CaseStatus};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Why a case could not be cancelled.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("case {0} not found")]
    NotFound(Uuid),
    /// Only a waiting case can be cancelled: a nurse has it, or it is closed.
    #[error("case {id} is {status}, so it can no longer be cancelled")]
    WrongStatus { id: Uuid, status: CaseStatus },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CancelError {
    fn from(e: sqlx::Error) -> CancelError {
        CancelError::Store(StoreError::Database(e))
    }
}

const SAVE_VOICE_NOTE_SQL: &str = "INSERT INTO voice_notes (case_id, recorded_at, wav) \
     VALUES ($1, $2, $3) ON CONFLICT (case_id) DO UPDATE SET \
     recorded_at = excluded.recorded_at, wav = excluded.wav";

const CANCEL_SQL: &str = "UPDATE cases SET status = 'cancelled', closed_at = $2 \
     WHERE id = $1 AND status = 'waiting' RETURNING id";

/// The newest waiting callback to a number (any channel).
const WAITING_CALLBACK_SQL: &str = concat!(
    "SELECT ",
    case_columns!(),
    " FROM cases WHERE callback_number = $1 AND status = 'waiting' AND mode = 'callback' \
     ORDER BY registered_at DESC, id LIMIT 1"
);

impl Store {
    /// Stores the voice note of a case (replacing an earlier one), with a
    /// `voice_note.saved` audit row by `ivr`. `NotFound` when there is no such case.
    pub async fn save_voice_note(
        &self,
        case_id: Uuid,
        wav: &[u8],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = storable("now", now)?;
        let id = case_id.to_string();
        let detail = format!("bytes={}", wav.len());
        let audit = AuditRecord::new(now, "ivr", "voice_note.saved", Some(case_id), detail, None);
        let saved: Result<()> = with_backend!(self, |pool, ts| {
            async {
                let mut tx = pool.begin().await?;
                sqlx::query(SAVE_VOICE_NOTE_SQL)
                    .bind(&id)
                    .bind(ts(now))
                    .bind(wav)
                    .execute(&mut *tx)
                    .await?;
                append_audit!(tx, ts, &audit);
                tx.commit().await?;
                Ok(())
            }
            .await
        });
        match saved {
            Err(StoreError::Database(sqlx::Error::Database(db)))
                if db.is_foreign_key_violation() =>
            {
                Err(StoreError::NotFound(case_id))
            }
            other => other,
        }
    }

    /// The voice note (WAV bytes) of a case, if one was recorded. Reading it is
    /// personal data: the API audits the read.
    pub async fn voice_note(&self, case_id: Uuid) -> Result<Option<Vec<u8>>> {
        let id = case_id.to_string();
        let sql = "SELECT wav FROM voice_notes WHERE case_id = $1";
        let wav: Option<Vec<u8>> = with_backend!(self, |pool, _ts| {
            sqlx::query_scalar(sql)
                .bind(&id)
                .fetch_optional(pool)
                .await?
        });
        Ok(wav)
    }

    /// Whether a case has a voice note (without reading it).
    pub async fn has_voice_note(&self, case_id: Uuid) -> Result<bool> {
        let id = case_id.to_string();
        let sql = "SELECT COUNT(*) FROM voice_notes WHERE case_id = $1";
        let n: i64 = with_backend!(self, |pool, _ts| {
            sqlx::query_scalar(sql).bind(&id).fetch_one(pool).await?
        });
        Ok(n > 0)
    }

    /// The newest waiting callback case (status `waiting`, mode `callback`) to
    /// `number` (E.164), from either channel; `None` when there is none.
    pub async fn waiting_callback_for_number(&self, number: &str) -> Result<Option<CaseRecord>> {
        self.case_where(WAITING_CALLBACK_SQL, number).await
    }

    /// Cancels a waiting case (status `cancelled`, `closed_at` = `now`) with a
    /// `case.cancel` audit row by `actor`. Cancelling a case that is already
    /// cancelled returns it unchanged (a retried request); any other status
    /// than `waiting` is `WrongStatus`.
    pub async fn cancel_case(
        &self,
        id: Uuid,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CaseRecord, CancelError> {
        let now = storable("now", now)?;
        let text_id = id.to_string();
        let done: bool = with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            let hit: Option<String> = sqlx::query_scalar(CANCEL_SQL)
                .bind(&text_id)
                .bind(ts(now))
                .fetch_optional(&mut *tx)
                .await?;
            if hit.is_some() {
                let audit = AuditRecord::new(
                    now,
                    actor,
                    "case.cancel",
                    Some(id),
                    "status=cancelled",
                    None,
                );
                append_audit!(tx, ts, &audit);
            }
            tx.commit().await?;
            hit.is_some()
        });
        let case = self.get_case(id).await?.ok_or(CancelError::NotFound(id))?;
        if done || case.status == CaseStatus::Cancelled {
            Ok(case)
        } else {
            Err(CancelError::WrongStatus {
                id,
                status: case.status,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Priority;
    use crate::store::tests::{on_both_backends, postgres_test_db, sqlite_test_db};
    use crate::store::{CaseMode, Channel, NewCase};
    use chrono::{TimeDelta, TimeZone};

    on_both_backends!(
        voice_note_reads_back_and_is_audited,
        voice_note_of_unknown_case_is_not_found,
        voice_note_is_deleted_with_its_case,
        waiting_callback_is_found_by_number_only_while_waiting,
        cancel_waiting_case_is_audited_with_its_actor,
        cancel_claimed_or_done_case_is_refused,
    );

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    fn case(number: &str, minute: i64, mode: CaseMode) -> NewCase {
        NewCase {
            channel: Channel::Phone,
            priority: Priority::new(4).unwrap_or(Priority::LOWEST),
            mode,
            registered_at: t0() + TimeDelta::minutes(minute),
            deadline: t0() + TimeDelta::hours(8),
            estimated_callback_at: Some(t0() + TimeDelta::minutes(30)),
            answers: Vec::new(),
            callback_number: Some(number.into()),
            personnummer: None,
            language: "sv".into(),
            call_id: None,
            external_ref: None,
            summary: String::new(),
            red_flag: false,
        }
    }

    async fn insert(store: &Store, c: &NewCase) -> CaseRecord {
        store
            .insert_case(c)
            .await
            .unwrap_or_else(|e| panic!("insert: {e}"))
    }

    /// A WAV-sized blob (the store does not parse it).
    fn wav(fill: u8) -> Vec<u8> {
        let mut w = b"RIFF".to_vec();
        w.resize(400, fill);
        w
    }

    async fn voice_note_reads_back_and_is_audited(store: Store) {
        let c = insert(&store, &case("+46701234567", 0, CaseMode::Callback)).await;
        assert_eq!(store.voice_note(c.id).await.ok(), Some(None));
        assert_eq!(store.has_voice_note(c.id).await.ok(), Some(false));
        store.save_voice_note(c.id, &wav(1), t0()).await.unwrap();
        assert_eq!(store.voice_note(c.id).await.ok(), Some(Some(wav(1))));
        // A second recording replaces the first.
        store.save_voice_note(c.id, &wav(2), t0()).await.unwrap();
        assert_eq!(store.voice_note(c.id).await.ok(), Some(Some(wav(2))));
        assert_eq!(store.has_voice_note(c.id).await.ok(), Some(true));
        let audit = store.audit_rows(Some(c.id), 10).await.unwrap();
        let saved: Vec<_> = audit
            .iter()
            .filter(|a| a.action == "voice_note.saved")
            .collect();
        assert_eq!(saved.len(), 2);
        assert_eq!(saved[0].actor, "ivr");
        assert_eq!(saved[0].detail, "bytes=400");
    }

    async fn voice_note_of_unknown_case_is_not_found(store: Store) {
        let id = Uuid::new_v4();
        let r = store.save_voice_note(id, &wav(1), t0()).await;
        assert!(
            matches!(r, Err(StoreError::NotFound(x)) if x == id),
            "{r:?}"
        );
        assert_eq!(store.voice_note(id).await.ok(), Some(None));
    }

    async fn voice_note_is_deleted_with_its_case(store: Store) {
        let c = insert(&store, &case("+46701234567", 0, CaseMode::Callback)).await;
        store.save_voice_note(c.id, &wav(1), t0()).await.unwrap();
        let sql = format!("DELETE FROM cases WHERE id = '{}'", c.id);
        assert_eq!(store.execute_raw(&sql).await.ok(), Some(1));
        assert_eq!(store.voice_note(c.id).await.ok(), Some(None));
    }

    async fn waiting_callback_is_found_by_number_only_while_waiting(store: Store) {
        let number = "+46701234567";
        assert!(store
            .waiting_callback_for_number(number)
            .await
            .unwrap()
            .is_none());
        insert(&store, &case(number, 0, CaseMode::Hold)).await;
        insert(&store, &case("+46709999999", 1, CaseMode::Callback)).await;
        assert!(store
            .waiting_callback_for_number(number)
            .await
            .unwrap()
            .is_none());
        let older = insert(&store, &case(number, 2, CaseMode::Callback)).await;
        let newer = insert(&store, &case(number, 3, CaseMode::Callback)).await;
        let found = store.waiting_callback_for_number(number).await.unwrap();
        assert_eq!(found.map(|c| c.id), Some(newer.id));
        store.cancel_case(newer.id, "ivr", t0()).await.unwrap();
        let found = store.waiting_callback_for_number(number).await.unwrap();
        assert_eq!(found.map(|c| c.id), Some(older.id));
    }

    async fn cancel_waiting_case_is_audited_with_its_actor(store: Store) {
        let c = insert(&store, &case("+46701234567", 0, CaseMode::Callback)).await;
        let done = store.cancel_case(c.id, "ivr", t0()).await.unwrap();
        assert_eq!(done.status, CaseStatus::Cancelled);
        assert!(store.worklist().await.unwrap().is_empty());
        // A retry answers the same case without a second audit row.
        let again = store.cancel_case(c.id, "ivr", t0()).await.unwrap();
        assert_eq!(again.status, CaseStatus::Cancelled);
        let audit = store.audit_rows(Some(c.id), 10).await.unwrap();
        let cancels: Vec<_> = audit.iter().filter(|a| a.action == "case.cancel").collect();
        assert_eq!(cancels.len(), 1);
        assert_eq!(cancels[0].actor, "ivr");
        let info = store.claim_info(c.id).await.unwrap().unwrap_or_default();
        assert_eq!(info.closed_at, Some(t0()));
        let unknown = Uuid::new_v4();
        let r = store.cancel_case(unknown, "ivr", t0()).await;
        assert!(
            matches!(r, Err(CancelError::NotFound(x)) if x == unknown),
            "{r:?}"
        );
    }

    async fn cancel_claimed_or_done_case_is_refused(store: Store) {
        let c = insert(&store, &case("+46701234567", 0, CaseMode::Callback)).await;
        let nurse = crate::store::Actor {
            username: "anna",
            ip: None,
            may_override: false,
        };
        store.claim(c.id, &nurse, t0()).await.unwrap();
        let r = store.cancel_case(c.id, "intake:direkt", t0()).await;
        assert!(
            matches!(
                r,
                Err(CancelError::WrongStatus {
                    status: CaseStatus::Claimed,
                    ..
                })
            ),
            "{r:?}"
        );
        store
            .record_outcome(c.id, crate::store::Outcome::SelfCare, "", &nurse, t0())
            .await
            .unwrap();
        let r = store.cancel_case(c.id, "intake:direkt", t0()).await;
        assert!(
            matches!(
                r,
                Err(CancelError::WrongStatus {
                    status: CaseStatus::Done,
                    ..
                })
            ),
            "{r:?}"
        );
    }
}
