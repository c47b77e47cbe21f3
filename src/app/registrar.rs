//! Between the IVR and the queue: estimates callback times and commits
//! cases. The IVR hears "registered" only after `register` returned Ok.

use crate::identity::PhoneNumber;
use crate::ivr::{CaseDraft, CaseMode, ClockTime};
use crate::queue::{deadline_for, LevelTargets, Priority, QueueConfig};
use crate::store::{CaseMode as StoreMode, Channel, NewCase, Store, StoreError};
use crate::triage::Triage;
use chrono::{DateTime, Duration as ChronoDuration, Timelike, Utc};
use chrono_tz::Tz;

/// Estimates and registrations for phone cases.
pub struct Registrar {
    store: Store,
    queue: QueueConfig,
    targets: LevelTargets,
    tz: Tz,
}

impl Registrar {
    pub fn new(store: Store, queue: QueueConfig, triage: &Triage) -> Self {
        Registrar {
            store,
            queue,
            targets: LevelTargets::new(triage.targets()),
            tz: chrono_tz::Europe::Stockholm,
        }
    }

    fn priority(level: u8) -> Priority {
        Priority::new(level.clamp(1, 5)).unwrap_or(Priority::LOWEST)
    }

    async fn estimate_at(
        &self,
        priority: Priority,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let deadline = deadline_for(now, priority, &self.targets);
        let ahead = self.store.count_waiting_ahead(priority, deadline).await?;
        Ok(self.queue.estimate_callback_at(now, ahead))
    }

    /// The local clock time to tell a caller of `level`, rounded up to 5 minutes.
    /// `None` when the queue cannot be read (the IVR then offers to hold).
    pub async fn estimate(&self, level: u8) -> Option<ClockTime> {
        let at = self
            .estimate_at(Self::priority(level), Utc::now())
            .await
            .ok()?;
        Some(self.clock_time(at))
    }

    fn clock_time(&self, at: DateTime<Utc>) -> ClockTime {
        let local = at.with_timezone(&self.tz);
        let extra = (5 - local.minute() % 5) % 5;
        let rounded = local + ChronoDuration::minutes(extra as i64);
        ClockTime::new(rounded.hour() as u8, rounded.minute() as u8)
            .unwrap_or(ClockTime { hour: 0, minute: 0 })
    }

    /// Commits the case; returns its id and the callback time to tell.
    pub async fn register(
        &self,
        draft: &CaseDraft,
        call_id: &str,
    ) -> Result<(String, ClockTime), StoreError> {
        let now = Utc::now();
        let priority = Self::priority(draft.level);
        let estimated = self.estimate_at(priority, now).await?;
        let case = NewCase {
            channel: Channel::Phone,
            priority,
            mode: match draft.mode {
                CaseMode::Callback => StoreMode::Callback,
                CaseMode::Hold => StoreMode::Hold,
            },
            registered_at: now,
            deadline: deadline_for(now, priority, &self.targets),
            estimated_callback_at: Some(estimated),
            answers: draft.answers.clone(),
            callback_number: draft
                .callback_number
                .as_ref()
                .map(|n: &PhoneNumber| n.e164().to_string()),
            personnummer: draft.personnummer.as_ref().map(|p| p.as_str().to_string()),
            language: draft.language.code().to_string(),
            call_id: Some(call_id.to_string()),
            external_ref: None,
            summary: String::new(),
            red_flag: draft.red_flag,
        };
        let record = self.store.insert_case(&case).await?;
        Ok((record.id.to_string(), self.clock_time(estimated)))
    }

    /// A holding caller hung up: the case keeps its place as a callback.
    pub async fn holding_caller_left(&self, case_id: &str) -> Result<(), StoreError> {
        let Ok(id) = uuid::Uuid::parse_str(case_id) else {
            return Ok(());
        };
        self.store
            .holding_caller_hung_up(id, Utc::now())
            .await
            .map(|_| ())
    }
}
