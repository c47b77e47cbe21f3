//! Callbacks as every node sees them. The node running a callback writes each
//! state change ([`Store::put_callback_call`]); another node answers the
//! nurse's status poll from the row, and a hangup asked for there sets a flag
//! that the running node follows ([`Store::request_callback_hangup`]).
//! States and results are the dialer's snake_case texts; no personal data.

use super::{storable, with_backend, Result, Store, StoredRow};
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

/// Rows older than this are removed when a callback starts (the page reads a
/// result within minutes).
pub const KEEP_CALLBACK_CALLS: TimeDelta = TimeDelta::hours(24);

/// One callback as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCallback {
    pub call_id: Uuid,
    pub case_id: Uuid,
    /// The nurse who started it (only she sees it).
    pub nurse: String,
    /// The node running the call.
    pub node: String,
    /// `nurse_ringing`, `resident_ringing`, `announcing`, `connected`, `ended`.
    pub state: String,
    /// How it ended (`connected`, `busy`, ...), once it has.
    pub result: Option<String>,
    /// A nurse asked another node to hang it up.
    pub hangup_requested: bool,
}

const PUT_SQL: &str = "INSERT INTO callback_calls (call_id, case_id, nurse, node, state, result, \
     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (call_id) DO UPDATE SET \
     state = excluded.state, result = excluded.result, updated_at = excluded.updated_at";

const GET_SQL: &str = "SELECT call_id, case_id, nurse, node, state, result, hangup_requested \
     FROM callback_calls WHERE call_id = $1";

const HANGUP_SQL: &str = "UPDATE callback_calls SET hangup_requested = TRUE \
     WHERE call_id = $1 AND nurse = $2 AND state <> 'ended' RETURNING call_id";

const PRUNE_SQL: &str = "DELETE FROM callback_calls WHERE updated_at < $1";

impl Store {
    /// Writes the callback's current state (inserted on first write). Never
    /// clears a hangup request.
    pub async fn put_callback_call(&self, call: &StoredCallback, now: DateTime<Utc>) -> Result<()> {
        let now = storable("now", now)?;
        with_backend!(self, |pool, ts| {
            sqlx::query(PUT_SQL)
                .bind(call.call_id.to_string())
                .bind(call.case_id.to_string())
                .bind(&call.nurse)
                .bind(&call.node)
                .bind(&call.state)
                .bind(&call.result)
                .bind(ts(now))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The stored callback `call_id`, if any.
    pub async fn callback_call(&self, call_id: Uuid) -> Result<Option<StoredCallback>> {
        let id = call_id.to_string();
        with_backend!(self, |pool, _ts| {
            let row = sqlx::query(GET_SQL).bind(&id).fetch_optional(pool).await?;
            row.as_ref().map(read_callback).transpose()
        })
    }

    /// Asks the node running `nurse`'s callback `call_id` to hang it up;
    /// false when there is no such running callback of hers.
    pub async fn request_callback_hangup(&self, call_id: Uuid, nurse: &str) -> Result<bool> {
        let id = call_id.to_string();
        let hit: Option<String> = with_backend!(self, |pool, _ts| {
            sqlx::query_scalar(HANGUP_SQL)
                .bind(&id)
                .bind(nurse)
                .fetch_optional(pool)
                .await?
        });
        Ok(hit.is_some())
    }

    /// Removes callback rows last written before `before`; how many.
    pub async fn prune_callback_calls(&self, before: DateTime<Utc>) -> Result<u64> {
        let before = storable("before", before)?;
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

fn read_callback(row: &impl StoredRow) -> Result<StoredCallback> {
    Ok(StoredCallback {
        call_id: row.parsed("call_id")?,
        case_id: row.parsed("case_id")?,
        nurse: row.text("nurse")?,
        node: row.text("node")?,
        state: row.text("state")?,
        result: row.opt_text("result")?,
        hangup_requested: row.flag("hangup_requested")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{on_both_backends, postgres_test_db, sqlite_test_db};

    fn call(state: &str) -> StoredCallback {
        StoredCallback {
            call_id: Uuid::from_u128(1),
            case_id: Uuid::from_u128(2),
            nurse: "nina".into(),
            node: "node-a/1".into(),
            state: state.into(),
            result: None,
            hangup_requested: false,
        }
    }

    async fn callback_state_reads_back_and_hangup_is_flagged_once_per_running_call(store: Store) {
        let now = Utc::now();
        assert_eq!(store.callback_call(Uuid::from_u128(1)).await.unwrap(), None);
        store
            .put_callback_call(&call("nurse_ringing"), now)
            .await
            .unwrap();
        store
            .put_callback_call(&call("connected"), now)
            .await
            .unwrap();
        let got = store.callback_call(Uuid::from_u128(1)).await.unwrap();
        assert_eq!(got, Some(call("connected")));
        // Only the nurse who started it may hang it up.
        let id = Uuid::from_u128(1);
        assert!(!store.request_callback_hangup(id, "bo").await.unwrap());
        assert!(store.request_callback_hangup(id, "nina").await.unwrap());
        // A later state write keeps the request.
        let mut ended = call("ended");
        ended.result = Some("connected".into());
        store.put_callback_call(&ended, now).await.unwrap();
        let got = store.callback_call(id).await.unwrap().unwrap();
        assert!(got.hangup_requested);
        assert_eq!(got.result.as_deref(), Some("connected"));
        // An ended call cannot be hung up again.
        assert!(!store.request_callback_hangup(id, "nina").await.unwrap());
        assert_eq!(
            store
                .prune_callback_calls(now + TimeDelta::seconds(1))
                .await
                .unwrap(),
            1
        );
        assert_eq!(store.callback_call(id).await.unwrap(), None);
    }

    on_both_backends!(callback_state_reads_back_and_hangup_is_flagged_once_per_running_call);
}
