//! Group commit for registrations: a burst of callers queue their new cases
//! and one writer task stores everything queued in one transaction. One
//! commit (one fsync) per batch instead of per caller, and one writer instead
//! of many connections contending for SQLite's write lock.

use super::{Result, Store, StoreError};
use crate::case::{CaseRecord, NewCase};
use std::sync::OnceLock;
use tokio::sync::{mpsc, oneshot};

/// The most cases in one transaction.
const MAX_BATCH: usize = 128;

struct Job {
    case: NewCase,
    held_by: Option<String>,
    reply: oneshot::Sender<Result<CaseRecord>>,
}

/// Queues cases for the writer task (started on first use, inside the runtime).
pub struct CaseWriter {
    store: Store,
    queue: OnceLock<mpsc::UnboundedSender<Job>>,
}

impl CaseWriter {
    pub fn new(store: Store) -> CaseWriter {
        CaseWriter {
            store,
            queue: OnceLock::new(),
        }
    }

    /// Stores `case` (held by `held_by`, see [`Store::insert_case_held_by`])
    /// with whatever else is queued; returns once it is committed.
    pub async fn insert(&self, case: NewCase, held_by: Option<String>) -> Result<CaseRecord> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(write(self.store.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        let job = Job {
            case,
            held_by,
            reply,
        };
        queue.send(job).map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

fn writer_gone() -> StoreError {
    StoreError::Database(sqlx::Error::PoolClosed)
}

/// The writer: takes what is queued (up to `MAX_BATCH`), commits it at once.
async fn write(store: Store, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let rows: Vec<_> = batch
            .iter()
            .map(|j| (&j.case, j.held_by.as_deref()))
            .collect();
        match store.insert_cases_held_by(&rows).await {
            Ok(records) => {
                for (job, record) in batch.drain(..).zip(records) {
                    let _ = job.reply.send(Ok(record));
                }
            }
            // One bad case must not fail the others: each on its own.
            Err(_) if batch.len() > 1 => {
                for job in batch.drain(..) {
                    let one = store
                        .insert_case_held_by(&job.case, job.held_by.as_deref())
                        .await;
                    let _ = job.reply.send(one);
                }
            }
            Err(e) => {
                if let Some(job) = batch.pop() {
                    let _ = job.reply.send(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{new_case, on_both_backends, postgres_test_db, sqlite_test_db};
    use std::sync::Arc;

    on_both_backends!(
        a_batch_is_stored_whole_or_not_at_all,
        a_burst_is_stored_and_a_bad_case_fails_alone,
    );

    fn digital(minute: i64, external_ref: &str) -> NewCase {
        let mut case = new_case(3, minute, minute + 60);
        case.channel = crate::case::Channel::Digital;
        case.external_ref = Some(external_ref.into());
        case
    }

    async fn a_batch_is_stored_whole_or_not_at_all(store: Store) {
        let (a, b) = (new_case(1, 0, 10), new_case(4, 1, 120));
        let stored = store
            .insert_cases_held_by(&[(&a, Some("node-1")), (&b, None)])
            .await
            .expect("batch");
        assert_eq!(stored.len(), 2);
        for record in &stored {
            let back = store
                .get_case(record.id)
                .await
                .expect("read")
                .expect("case");
            assert_eq!(&back, record);
            let audit = store.audit_rows(Some(record.id), 5).await.expect("audit");
            assert!(audit.iter().any(|r| r.action == "case.created"));
        }
        // A duplicate in the batch: nothing of it is stored.
        let (c, dup) = (digital(2, "ref-1"), digital(3, "ref-1"));
        let before = store.worklist().await.expect("worklist").len();
        assert!(matches!(
            store
                .insert_cases_held_by(&[(&c, None), (&dup, None)])
                .await,
            Err(StoreError::DuplicateExternalRef)
        ));
        assert_eq!(store.worklist().await.expect("worklist").len(), before);
    }

    async fn a_burst_is_stored_and_a_bad_case_fails_alone(store: Store) {
        store
            .insert_case(&digital(0, "taken"))
            .await
            .expect("first");
        let writer = Arc::new(CaseWriter::new(store.clone()));
        let mut jobs = Vec::new();
        for i in 0..60 {
            let writer = writer.clone();
            let case = if i == 30 {
                digital(i, "taken")
            } else {
                new_case(2, i, i + 30)
            };
            jobs.push(tokio::spawn(async move { writer.insert(case, None).await }));
        }
        let mut stored = 0;
        let mut refused = 0;
        for job in jobs {
            match job.await.expect("join") {
                Ok(_) => stored += 1,
                Err(StoreError::DuplicateExternalRef) => refused += 1,
                Err(e) => panic!("unexpected: {e}"),
            }
        }
        assert_eq!((stored, refused), (59, 1));
        assert_eq!(store.worklist().await.expect("worklist").len(), 60);
    }
}
