//! The settings every node applies now, and the queue's change feed for the
//! worklists (SSE). Follows the database through `Store::watch_changes`.

use crate::store::{Change, Store, StoreError};
use crate::supervisor::{OfferState, SupervisorSettings};
use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The settings key in the `settings` table.
pub const SETTINGS_KEY: &str = "supervisor";

/// Live settings and queue changes, shared by calls and HTTP handlers.
pub struct Live {
    /// What applies before a supervisor has saved anything.
    defaults: SupervisorSettings,
    store: Store,
    settings: RwLock<SupervisorSettings>,
    queue_version: AtomicU64,
    last_raw: AtomicU64,
    queue_tx: broadcast::Sender<u64>,
    tz: Tz,
    watcher: RwLock<Option<tokio::task::JoinHandle<()>>>,
    /// Cancelled at shutdown so open event streams end (graceful shutdown
    /// waits for every connection).
    closing: CancellationToken,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("queue_version", &self.queue_version())
            .finish_non_exhaustive()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Ok(mut w) = self.watcher.write() {
            if let Some(task) = w.take() {
                task.abort();
            }
        }
    }
}

impl Live {
    /// Defaults, no database reads and no watcher (for handlers under test).
    pub fn detached(store: Store) -> Arc<Live> {
        Live::detached_with(store, SupervisorSettings::default())
    }

    /// A feed-less instance with `defaults` in force (tests and tools).
    pub fn detached_with(store: Store, defaults: SupervisorSettings) -> Arc<Live> {
        let (queue_tx, _) = broadcast::channel(64);
        Arc::new(Live {
            store,
            settings: RwLock::new(defaults.clone()),
            defaults,
            queue_version: AtomicU64::new(0),
            last_raw: AtomicU64::new(0),
            queue_tx,
            tz: chrono_tz::Europe::Stockholm,
            watcher: RwLock::new(None),
            closing: CancellationToken::new(),
        })
    }

    /// Loads the stored settings and follows the database from now on.
    /// `defaults` apply until a supervisor saves settings (capacity from
    /// `hours.toml`) and while the database cannot be read at start.
    pub async fn start(
        store: Store,
        defaults: SupervisorSettings,
    ) -> Result<Arc<Live>, StoreError> {
        let live = Live::detached_with(store.clone(), defaults);
        // A database that is down at start (the service starts anyway, not
        // ready): defaults until the change feed's first read, which
        // reports the settings and the queue once it gets through.
        let first = async {
            live.reload().await?;
            store.queue_version().await
        };
        match first.await {
            Ok(raw) => {
                live.queue_version.store(raw, Ordering::Relaxed);
                live.last_raw.store(raw, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(error = %e, "supervisor settings not read yet: defaults until the database answers")
            }
        }
        let mut changes = store.watch_changes();
        let weak = Arc::downgrade(&live);
        let task = tokio::spawn(async move {
            while let Some(change) = changes.recv().await {
                let Some(live) = weak.upgrade() else { return };
                match change {
                    Change::Queue(v) => live.queue_changed(v),
                    Change::Settings => {
                        if let Err(e) = live.reload().await {
                            tracing::warn!(error = %e, "reloading supervisor settings failed");
                        }
                    }
                }
            }
        });
        if let Ok(mut w) = live.watcher.write() {
            *w = Some(task);
        }
        Ok(live)
    }

    /// Reads the settings from the database (defaults when none are stored;
    /// a stored document that no longer parses keeps the current settings).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let loaded = match self.store.get_setting(SETTINGS_KEY).await? {
            None => self.defaults.clone(),
            Some(text) => match serde_json::from_str(&text) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "stored supervisor settings do not parse; keeping the current ones");
                    return Ok(());
                }
            },
        };
        if let Ok(mut s) = self.settings.write() {
            *s = loaded;
        }
        Ok(())
    }

    /// The settings in force now.
    pub fn settings(&self) -> SupervisorSettings {
        self.settings.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stores new (already validated) settings and applies them here at once;
    /// other nodes follow through the change feed.
    pub async fn update(
        &self,
        new: SupervisorSettings,
        actor: &str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(&new).unwrap_or_else(|_| "{}".to_string());
        self.store
            .put_setting(SETTINGS_KEY, &text, actor, detail, now)
            .await?;
        if let Ok(mut s) = self.settings.write() {
            *s = new;
        }
        Ok(())
    }

    /// `raw` is the database's change number. PostgreSQL numbers come from a
    /// sequence and can arrive out of commit order, so any new number counts;
    /// only a repeat (a resync after reconnecting) is dropped. What clients see
    /// is this node's own counter, which only grows.
    fn queue_changed(&self, raw: u64) {
        if self.last_raw.swap(raw, Ordering::Relaxed) == raw {
            return;
        }
        let v = self.queue_version.fetch_add(1, Ordering::Relaxed) + 1;
        // No subscribers is fine: nobody has the worklist open.
        let _ = self.queue_tx.send(v);
    }

    /// The latest queue change number seen.
    pub fn queue_version(&self) -> u64 {
        self.queue_version.load(Ordering::Relaxed)
    }

    /// Ends the open event streams (service shutdown).
    pub fn shutdown(&self) {
        self.closing.cancel();
    }

    /// Cancelled once the service shuts down.
    pub fn closing(&self) -> CancellationToken {
        self.closing.clone()
    }

    /// Queue change numbers as they arrive (for `/events`).
    pub fn subscribe(&self) -> broadcast::Receiver<u64> {
        self.queue_tx.subscribe()
    }

    /// Midnight (Stockholm) at the start of `now`'s day, in UTC.
    pub fn day_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let local = now
            .with_timezone(&self.tz)
            .date_naive()
            .and_time(NaiveTime::MIN);
        self.tz
            .from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now)
    }

    /// Whether the next caller may be offered a callback. A store that cannot
    /// count today's callbacks does not close the offer on its own.
    pub async fn offer_state(&self, now: DateTime<Utc>) -> OfferState {
        let settings = self.settings();
        let today = match self.store.count_callbacks_since(self.day_start(now)).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "counting today's callbacks failed");
                0
            }
        };
        settings.offer_state(now, today)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn update_applies_at_once_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("l.db").display());
        let store = Store::connect(&url).await.unwrap();
        let live = Live::start(store.clone(), SupervisorSettings::default())
            .await
            .unwrap();
        assert!(live.settings().callback_offer_open);
        let closed = SupervisorSettings {
            callback_offer_open: false,
            ..SupervisorSettings::default()
        };
        live.update(closed.clone(), "sara", "", Utc::now())
            .await
            .unwrap();
        assert_eq!(
            live.offer_state(Utc::now()).await,
            OfferState::ClosedBySupervisor
        );
        drop(live);
        let again = Live::start(
            Store::connect(&url).await.unwrap(),
            SupervisorSettings::default(),
        )
        .await
        .unwrap();
        assert_eq!(again.settings(), closed);
    }

    #[tokio::test]
    async fn another_node_sees_a_change_through_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("l.db").display());
        let a = Live::start(
            Store::connect(&url).await.unwrap(),
            SupervisorSettings::default(),
        )
        .await
        .unwrap();
        let b = Live::start(
            Store::connect(&url).await.unwrap(),
            SupervisorSettings::default(),
        )
        .await
        .unwrap();
        let mut queue = b.subscribe();
        let new = SupervisorSettings {
            callback_capacity: 7,
            ..SupervisorSettings::default()
        };
        a.update(new.clone(), "sara", "", Utc::now()).await.unwrap();
        let end = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while b.settings() != new {
            assert!(tokio::time::Instant::now() < end, "b never saw the change");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        store_case(&url).await;
        let v = tokio::time::timeout(std::time::Duration::from_secs(10), queue.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(v >= 1);
    }

    async fn store_case(url: &str) {
        let store = Store::connect(url).await.unwrap();
        let now = Utc::now();
        store
            .insert_case(&crate::store::NewCase {
                channel: crate::store::Channel::Digital,
                priority: crate::queue::Priority::LOWEST,
                mode: crate::store::CaseMode::Callback,
                registered_at: now,
                deadline: now,
                estimated_callback_at: None,
                answers: vec![],
                callback_number: None,
                personnummer: None,
                language: "sv".into(),
                call_id: None,
                external_ref: None,
                summary: String::new(),
                red_flag: false,
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn repeated_change_numbers_are_dropped_and_versions_only_grow() {
        let live = Live::detached(Store::connect("sqlite::memory:").await.unwrap());
        let mut rx = live.subscribe();
        live.queue_changed(5);
        live.queue_changed(5); // a resync repeat
        live.queue_changed(3); // an earlier sequence number committed later
        assert_eq!(rx.try_recv().ok(), Some(1));
        assert_eq!(rx.try_recv().ok(), Some(2));
        assert!(rx.try_recv().is_err());
        assert_eq!(live.queue_version(), 2);
    }

    #[tokio::test]
    async fn day_starts_at_stockholm_midnight() {
        let live = Live::detached(Store::connect("sqlite::memory:").await.unwrap());
        // 2025-03-03 23:30 UTC is 00:30 on the 4th in Stockholm (UTC+1).
        let now = Utc
            .with_ymd_and_hms(2025, 3, 3, 23, 30, 0)
            .single()
            .unwrap();
        assert_eq!(
            live.day_start(now),
            Utc.with_ymd_and_hms(2025, 3, 3, 23, 0, 0).single().unwrap()
        );
    }
}
