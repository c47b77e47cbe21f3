//! Whether this node should be sent new calls: it is not draining and its
//! database takes writes (a heartbeat row written every few seconds). `/readyz`
//! and SIP OPTIONS answer from here, so a dispatcher (Kamailio's dispatcher
//! module probing with OPTIONS) routes around a node that cannot store.

use crate::store::Store;
use chrono::Utc;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one heartbeat write may take before it counts as slow.
pub const PROBE_DEADLINE: Duration = Duration::from_secs(2);
/// Slow heartbeats in a row that make a ready node not ready. One slow write
/// under a burst of callers is not an outage (the node would flap out of the
/// dispatcher); a refused write counts at once.
pub const SLOW_PROBES_TO_FAIL: u32 = 2;

/// Why the node is not ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("draining: this node takes no new calls")]
    Draining,
    #[error("the {backend} database does not take writes: {reason}")]
    Store {
        backend: &'static str,
        reason: String,
    },
}

/// This node's readiness, shared by the HTTP probe, the SIP driver and the wiring.
#[derive(Debug)]
pub struct Readiness {
    node: String,
    draining: AtomicBool,
    /// `None` while the last heartbeat was written; else why it was not.
    store_error: Mutex<Option<NotReady>>,
    /// Heartbeats in a row that took longer than `PROBE_DEADLINE`.
    slow_probes: AtomicU32,
    ready_gauge: Gauge,
}

impl Readiness {
    /// Not ready until the first heartbeat is written.
    pub fn new(node: &str) -> Arc<Readiness> {
        Arc::new(Readiness {
            node: node.to_string(),
            draining: AtomicBool::new(false),
            store_error: Mutex::new(Some(NotReady::Store {
                backend: "",
                reason: "not checked yet".into(),
            })),
            slow_probes: AtomicU32::new(0),
            ready_gauge: Gauge::default(),
        })
    }

    /// The node's name in the heartbeat table.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Ready, or why not (draining wins).
    pub fn check(&self) -> Result<(), NotReady> {
        if self.draining.load(Ordering::Relaxed) {
            return Err(NotReady::Draining);
        }
        match self.store_error.lock() {
            Ok(e) => e.clone().map_or(Ok(()), Err),
            Err(_) => Ok(()),
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// From now on: no new calls (OPTIONS and `/readyz` answer 503).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
        self.update_gauge();
    }

    /// Writes a heartbeat now (within `PROBE_DEADLINE`) and records the
    /// result. A store opened before its database answered is prepared
    /// (migrated) first, without that deadline: a migration is not cut short.
    pub async fn probe(&self, store: &Store) -> Result<(), NotReady> {
        let written = match store.prepare().await {
            Ok(()) => {
                match tokio::time::timeout(PROBE_DEADLINE, store.heartbeat(&self.node, Utc::now()))
                    .await
                {
                    Ok(r) => {
                        self.slow_probes.store(0, Ordering::Relaxed);
                        r.map_err(|e| e.to_string())
                    }
                    Err(_) => {
                        let slow = self.slow_probes.fetch_add(1, Ordering::Relaxed) + 1;
                        let was_ready = self.store_error.lock().map(|e| e.is_none());
                        if slow < SLOW_PROBES_TO_FAIL && was_ready.unwrap_or(false) {
                            return self.check();
                        }
                        Err(format!(
                            "no answer within {} s, {slow} times in a row",
                            PROBE_DEADLINE.as_secs()
                        ))
                    }
                }
            }
            Err(e) => Err(e.to_string()),
        };
        let error = written.err().map(|reason| NotReady::Store {
            backend: store.backend_name(),
            reason,
        });
        if let Ok(mut slot) = self.store_error.lock() {
            if slot.is_some() != error.is_some() {
                match &error {
                    Some(e) => tracing::warn!(error = %e, "not ready"),
                    None => tracing::info!("the database takes writes again: ready"),
                }
            }
            *slot = error;
        }
        self.update_gauge();
        self.check()
    }

    /// Probes every `every` until `stop`.
    pub fn watch(
        self: &Arc<Self>,
        store: Store,
        every: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let _ = me.probe(&store).await;
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        })
    }

    /// `pe_ready` (1 ready, 0 not) on `/metrics`.
    pub fn register(&self, registry: &mut Registry) {
        self.update_gauge();
        registry.register(
            "pe_ready",
            "1 when this node takes new calls (database writable, not draining)",
            self.ready_gauge.clone(),
        );
    }

    fn update_gauge(&self) {
        self.ready_gauge.set(i64::from(self.check().is_ok()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ready_after_a_written_heartbeat_and_not_once_the_database_is_gone() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let r = Readiness::new("node-a");
        assert!(r.check().is_err(), "not ready before the first probe");
        assert_eq!(r.probe(&store).await, Ok(()));
        assert_eq!(r.check(), Ok(()));
        store.close().await;
        let e = r.probe(&store).await.unwrap_err();
        assert!(
            matches!(
                e,
                NotReady::Store {
                    backend: "sqlite",
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(r.check(), Err(e));
    }

    #[tokio::test]
    async fn a_store_opened_before_its_database_exists_turns_ready_once_it_can_be_made() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("volume");
        std::fs::write(&blocker, b"a file where the directory goes").unwrap();
        let url = format!("sqlite:{}", blocker.join("pe.db").display());
        let store = Store::connect_lazy(&url).await.unwrap();
        let r = Readiness::new("node-a");
        let e = r.probe(&store).await.unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
        std::fs::remove_file(&blocker).unwrap();
        assert_eq!(r.probe(&store).await, Ok(()), "migrated and written");
        assert!(store.worklist().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn one_slow_heartbeat_keeps_the_node_ready_two_in_a_row_do_not() {
        use sqlx::Connection;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pe.db");
        let store = Store::connect(&format!("sqlite:{}", path.display()))
            .await
            .unwrap();
        let r = Readiness::new("node-a");
        r.probe(&store).await.unwrap();
        // Another writer holds SQLite's write lock longer than the probe waits.
        let mut other = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
            .await
            .unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut other)
            .await
            .unwrap();
        assert_eq!(r.probe(&store).await, Ok(()), "one slow write is no outage");
        let e = r.probe(&store).await.unwrap_err();
        assert!(e.to_string().contains("2 times in a row"), "{e}");
        sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
        assert_eq!(r.probe(&store).await, Ok(()), "ready again");
    }

    #[tokio::test]
    async fn draining_wins_over_a_healthy_database() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let r = Readiness::new("node-a");
        r.probe(&store).await.unwrap();
        r.start_draining();
        assert_eq!(r.check(), Err(NotReady::Draining));
        assert_eq!(r.probe(&store).await, Err(NotReady::Draining));
        let mut registry = Registry::default();
        r.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("pe_ready 0"), "{text}");
    }
}
