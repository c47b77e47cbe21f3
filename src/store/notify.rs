//! Change notifications, so every node's worklist and settings follow the
//! database: PostgreSQL `LISTEN pe_queue, pe_settings` (sent by triggers at
//! commit), SQLite a cheap poll of `live_versions` (bumped by triggers), which
//! also sees writes by other processes on the same file.

use super::{with_backend, Backend, Result, Store};
use std::time::Duration;
use tokio::sync::mpsc;

/// How often SQLite's change counters are read.
const SQLITE_POLL: Duration = Duration::from_millis(200);
/// Pause before retrying a failed listen or poll.
const RETRY: Duration = Duration::from_secs(1);

/// Something changed in the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A case was inserted or updated; the number grows with every change.
    Queue(u64),
    /// The supervisor settings changed: reload them.
    Settings,
}

impl Store {
    /// The queue's current change number (0 before any change).
    pub async fn queue_version(&self) -> Result<u64> {
        let sql = self.sql(
            "SELECT version FROM live_versions WHERE topic = 'queue'",
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM queue_version_seq",
        );
        let v: Option<i64> = with_backend!(self, |pool, _ts| {
            sqlx::query_scalar(sql).fetch_optional(pool).await?
        });
        let v = v.unwrap_or(0);
        Ok(u64::try_from(v).unwrap_or(0))
    }

    /// Starts a task that reports every change until the receiver is dropped.
    /// After a lost connection it reports `Settings` and the current queue
    /// version, since notifications may have been missed meanwhile.
    pub fn watch_changes(&self) -> mpsc::Receiver<Change> {
        let (tx, rx) = mpsc::channel(64);
        let store = self.clone();
        match &self.backend {
            Backend::Sqlite(_) => tokio::spawn(poll_sqlite(store, tx)),
            Backend::Postgres(_) => tokio::spawn(listen_postgres(store, tx)),
        };
        rx
    }

    async fn sqlite_versions(&self) -> Result<(u64, u64)> {
        let Backend::Sqlite(pool) = &self.backend else {
            return Ok((0, 0));
        };
        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT topic, version FROM live_versions")
            .fetch_all(pool)
            .await?;
        let get = |t: &str| {
            rows.iter()
                .find(|(topic, _)| topic == t)
                .map(|(_, v)| u64::try_from(*v).unwrap_or(0))
                .unwrap_or(0)
        };
        Ok((get("queue"), get("settings")))
    }
}

async fn poll_sqlite(store: Store, tx: mpsc::Sender<Change>) {
    let mut last: Option<(u64, u64)> = None;
    loop {
        let wait = match store.sqlite_versions().await {
            Ok((queue, settings)) => {
                match last {
                    Some((last_queue, last_settings)) => {
                        if queue != last_queue && tx.send(Change::Queue(queue)).await.is_err() {
                            return;
                        }
                        if settings != last_settings && tx.send(Change::Settings).await.is_err() {
                            return;
                        }
                    }
                    // A change between the caller's first read and this baseline
                    // would be missed: report the current state once, as after
                    // a PostgreSQL LISTEN.
                    None => {
                        if tx.send(Change::Settings).await.is_err()
                            || tx.send(Change::Queue(queue)).await.is_err()
                        {
                            return;
                        }
                    }
                }
                last = Some((queue, settings));
                SQLITE_POLL
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading change counters failed; retrying");
                RETRY
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = tx.closed() => return,
        }
    }
}

async fn listen_postgres(store: Store, tx: mpsc::Sender<Change>) {
    let Backend::Postgres(pool) = &store.backend else {
        return;
    };
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect_with(pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN connection failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => continue,
                    _ = tx.closed() => return,
                }
            }
        };
        if let Err(e) = listener.listen_all(["pe_queue", "pe_settings"]).await {
            tracing::warn!(error = %e, "LISTEN failed; retrying");
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => continue,
                _ = tx.closed() => return,
            }
        }
        // Anything committed before LISTEN took effect: catch up once.
        if resync(&store, &tx).await.is_err() {
            return;
        }
        loop {
            let next = tokio::select! {
                n = listener.try_recv() => n,
                _ = tx.closed() => return,
            };
            let change = match next {
                Ok(Some(n)) if n.channel() == "pe_settings" => Change::Settings,
                Ok(Some(n)) => Change::Queue(n.payload().parse().unwrap_or(0)),
                Ok(None) => {
                    // Connection lost; try_recv reconnects and re-listens next time.
                    if resync(&store, &tx).await.is_err() {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection broke; reconnecting");
                    break;
                }
            };
            if tx.send(change).await.is_err() {
                return;
            }
        }
    }
}

/// Reports the current state as changes; `Err` when nobody listens any more.
async fn resync(store: &Store, tx: &mpsc::Sender<Change>) -> Result<(), ()> {
    tx.send(Change::Settings).await.map_err(|_| ())?;
    if let Ok(v) = store.queue_version().await {
        tx.send(Change::Queue(v)).await.map_err(|_| ())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{postgres_test_db, sqlite_test_db, TestDb};
    use super::*;

    /// Waits (bounded) for a change matching `want`.
    async fn expect(rx: &mut mpsc::Receiver<Change>, want: impl Fn(Change) -> bool) {
        let end = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(end, rx.recv()).await {
                Ok(Some(c)) if want(c) => return,
                Ok(Some(_)) => continue,
                other => panic!("no matching change: {other:?}"),
            }
        }
    }

    async fn changes_are_reported(db: TestDb) {
        let s = &db.store;
        let before = s.queue_version().await.unwrap();
        let mut rx = s.watch_changes();
        // Let the watcher take its first reading / LISTEN.
        tokio::time::sleep(Duration::from_millis(400)).await;
        s.execute_raw(
            "INSERT INTO cases (id, channel, priority, status, mode, registered_at, deadline, \
             language) VALUES ('x1', 'phone', 3, 'waiting', 'callback', \
             '2025-03-03T08:00:00.000000Z', '2025-03-03T09:00:00.000000Z', 'sv')",
        )
        .await
        .unwrap();
        expect(&mut rx, |c| matches!(c, Change::Queue(v) if v > before)).await;
        assert!(s.queue_version().await.unwrap() > before);
        s.put_setting("supervisor", "{}", "sara", "", chrono::Utc::now())
            .await
            .unwrap();
        expect(&mut rx, |c| c == Change::Settings).await;
        drop(rx);
        db.finish().await;
    }

    #[tokio::test]
    async fn changes_are_reported_sqlite() {
        changes_are_reported(sqlite_test_db().await).await;
    }

    #[tokio::test]
    async fn changes_are_reported_postgres() {
        let db = postgres_test_db().await;
        changes_are_reported(db).await;
    }
}
