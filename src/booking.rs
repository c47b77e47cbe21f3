//! Between the IVR and the queue: decides what a caller is offered (callback at
//! the replayed estimate, at the next opening, or closed) and commits cases. The
//! IVR hears "registered" only after `register` returned Ok.

use crate::identity::{Personnummer, PhoneNumber};
use crate::ivr::{BookedCallback, CaseDraft, CaseMode, ClockTime};
use crate::live::Live;
use crate::queue::{
    busy_spread, deadline_for, decide, estimate_new, ArrivalForecast, ArrivalProfile, ArrivalRates,
    Closure, HandlingTimes, LevelTargets, Offer, OfferInput, OfferSwitches, OpeningHours, Priority,
    Queue, QueueConfig, Staffing,
};
use crate::store::group_commit::CaseWriter;
use crate::store::{
    CancelError, CaseMode as StoreMode, CaseRecord, Channel, NewCase, QueueSnapshot, Store,
    StoreError,
};
use crate::supervisor::overdue::{OverdueAlert, OverdueMetrics};
use crate::supervisor::staffing::PlanSettings;
use crate::triage::Triage;
use chrono::{DateTime, Duration as ChronoDuration, Timelike, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::Notify;

/// The summary of a case registered for a caller who hung up after triage.
pub const DROPPED_IN_IVR: &str = "call dropped during IVR";
/// The summary of a waiting case whose caller called again and answered anew.
pub const RETRIAGED_BY_CALL: &str = "repeat call: questions answered again";

pub use crate::case::{CLOSED_ADVICE_CONTACT, SELF_CARE_CONTACT};

/// What the IVR tells a caller at the callback offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallerOffer {
    /// A callback at about this local time.
    Callback(ClockTime),
    /// No callback now (or the queue cannot be read): the closed path, hold.
    Closed,
    /// No callback now and hours.toml says "advice": advise another route, end.
    Advice,
}

/// How old the shared queue picture may be for an estimate.
const SNAPSHOT_FRESH: Duration = Duration::from_secs(1);
/// An older picture is still used (and the follower woken) up to this age,
/// so a slow queue read under load does not send every caller to the store.
const SNAPSHOT_STALE_MAX: Duration = Duration::from_secs(15);
/// The follower reads the queue at most this often.
const SNAPSHOT_MIN_INTERVAL: Duration = Duration::from_millis(250);

/// Recent arrivals in this window correct the learnt profile (and set the
/// flat rate used until there is a profile).
pub const ARRIVAL_WINDOW: Duration = Duration::from_secs(2 * 3600);
/// The arrival profile learns from this many past weeks.
pub const PROFILE_WEEKS: i64 = 4;
/// The follower re-reads the profile this often (it moves by the hour).
const PROFILE_REFRESH: Duration = Duration::from_secs(15 * 60);
/// How often the handling times are read again (other nodes' nurses finish
/// cases too): five small indexed reads.
const HANDLING_REFRESH: Duration = Duration::from_secs(5);
/// Handling times older than this are removed.
const HANDLING_KEEP_DAYS: i64 = 90;
/// The estimate replays expected arrivals from the profile this far ahead
/// (the longest target, 24 h, plus the replay running late); beyond it the
/// recent flat rate.
const ESTIMATE_HORIZON_HOURS: usize = 48;

/// The supervisor's settings in the queue's terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveQueueSettings {
    pub switches: OfferSwitches,
    /// Closures added on top of `hours.toml`.
    pub closures: Vec<Closure>,
    /// Overrides `queue.toml`'s `nurses_on_duty` when set.
    pub nurses_on_duty: Option<u32>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LevelLabel {
    level: u8,
}

/// Estimates, offers and registrations for phone cases.
pub struct Booking {
    store: Store,
    queue: QueueConfig,
    targets: LevelTargets,
    hours: OpeningHours,
    /// The supervisor's settings in force (shared with the API and other nodes).
    supervisor: Arc<Live>,
    handling: Mutex<HandlingTimes>,
    /// When the handling times were last read from the store.
    handling_read: Mutex<Option<std::time::Instant>>,
    /// `pe_handling_time_seconds{level}`: what the estimates plan with.
    handling_gauge: Family<LevelLabel, Gauge>,
    /// Target share per level (triage.toml), for the staffing forecast.
    shares: [f64; 5],
    /// Arrivals per weekday and hour over past weeks, read by the follower
    /// beside the calls (never on a caller's path) and when it was read.
    profile: RwLock<Option<(std::time::Instant, Arc<ArrivalProfile>)>>,
    /// The latest queue picture, for holding callers' places: one read per
    /// queue change for the node, not one per caller.
    latest: RwLock<Option<(std::time::Instant, Arc<QueueSnapshot>)>>,
    /// One queue read at a time when the picture is too old (no stampede).
    refreshing: tokio::sync::Mutex<()>,
    /// Wakes the snapshot follower at once after this node registers a case.
    registered: Notify,
    /// Phone registrations, committed in batches.
    writer: CaseWriter,
    /// This node's name: held cases are registered as held by it (their lease).
    node: Option<String>,
}

impl std::fmt::Debug for Booking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Booking").finish_non_exhaustive()
    }
}

impl Booking {
    pub fn new(
        store: Store,
        queue: QueueConfig,
        hours: OpeningHours,
        triage: &Triage,
        supervisor: Arc<Live>,
    ) -> Self {
        Booking {
            store: store.clone(),
            handling: Mutex::new(HandlingTimes::new(queue.handling())),
            handling_read: Mutex::new(None),
            handling_gauge: Family::default(),
            queue,
            targets: LevelTargets::new(triage.targets()),
            shares: triage.target_shares(),
            profile: RwLock::new(None),
            hours,
            supervisor,
            latest: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            registered: Notify::new(),
            writer: CaseWriter::new(store.clone()),
            node: None,
        }
    }

    /// Held cases registered here belong to `node` while its heartbeat lasts.
    pub fn held_by(mut self, node: &str) -> Self {
        self.node = Some(node.to_string());
        self
    }

    /// Keeps the shared queue snapshot current: after each queue change (any
    /// node), each registration here, and at least every `every`, until `stop`.
    /// Each new picture also sets the overdue alert on `/metrics`.
    pub fn follow_queue(
        self: &Arc<Self>,
        every: Duration,
        overdue: Arc<OverdueMetrics>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let mut changes = self.supervisor.subscribe();
        tokio::spawn(async move {
            loop {
                match me.refresh_snapshot().await {
                    Ok(snap) => overdue.set(&OverdueAlert::at(&snap.open, Utc::now())),
                    Err(e) => tracing::warn!(error = %e, "queue snapshot not refreshed"),
                }
                if me.handling_age().is_none_or(|age| age >= HANDLING_REFRESH) {
                    if let Err(e) = me.refresh_handling().await {
                        tracing::warn!(error = %e, "handling times not refreshed");
                    }
                }
                if me.profile_age().is_none_or(|age| age >= PROFILE_REFRESH) {
                    if let Err(e) = me.refresh_profile(Utc::now()).await {
                        tracing::warn!(error = %e, "arrival profile not refreshed");
                    }
                    // Only the newest few hundred per level are read.
                    let old = Utc::now() - ChronoDuration::days(HANDLING_KEEP_DAYS);
                    if let Err(e) = me.store.prune_handling(old).await {
                        tracing::warn!(error = %e, "old handling times not pruned");
                    }
                }
                // One read per interval at most, however busy the queue.
                tokio::select! {
                    _ = tokio::time::sleep(SNAPSHOT_MIN_INTERVAL) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                tokio::select! {
                    _ = changes.recv() => {}
                    _ = me.registered.notified() => {}
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        })
    }

    /// The supervisor's settings as the queue reads them; the next caller sees a change.
    pub fn live(&self) -> LiveQueueSettings {
        let s = self.supervisor.settings();
        LiveQueueSettings {
            switches: OfferSwitches {
                callback_offer_open: s.callback_offer_open,
                callback_capacity: Some(s.callback_capacity),
            },
            closures: s.closures,
            nurses_on_duty: None,
        }
    }

    /// A nurse finished a case of `level` after `took` (claim to outcome): feeds the
    /// handling times the estimate replays with.
    pub fn record_handling(&self, level: Priority, took: Duration) {
        if let Ok(mut h) = self.handling.lock() {
            h.record(level, took);
            self.show_handling(&h);
        }
    }

    fn handling_age(&self) -> Option<Duration> {
        self.handling_read.lock().ok()?.map(|at| at.elapsed())
    }

    /// Reads the handling times of every node's nurses (the store keeps
    /// them with the outcomes); replaces this node's.
    pub async fn refresh_handling(&self) -> Result<(), StoreError> {
        let recent = self.store.recent_handling(HandlingTimes::KEEP).await?;
        let times = HandlingTimes::from_recent(self.queue.handling(), recent);
        self.show_handling(&times);
        if let Ok(mut h) = self.handling.lock() {
            *h = times;
        }
        if let Ok(mut at) = self.handling_read.lock() {
            *at = Some(std::time::Instant::now());
        }
        Ok(())
    }

    fn show_handling(&self, times: &HandlingTimes) {
        for level in 1u8..=5 {
            let took = times.for_level(Self::priority(level));
            self.handling_gauge
                .get_or_create(&LevelLabel { level })
                .set(i64::try_from(took.as_secs()).unwrap_or(i64::MAX));
        }
    }

    /// `pe_handling_time_seconds{level}` on `/metrics`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        if let Ok(h) = self.handling.lock() {
            self.show_handling(&h);
        }
        registry.register(
            "pe_handling_time_seconds",
            "Handling time (claim to outcome) the estimates plan with, per level, from every node's recent cases",
            self.handling_gauge.clone(),
        );
    }

    fn priority(level: u8) -> Priority {
        Priority::new(level.clamp(1, 5)).unwrap_or(Priority::LOWEST)
    }

    /// The calendar with the supervisor's closures.
    fn calendar(&self, live: &LiveQueueSettings) -> OpeningHours {
        if live.closures.is_empty() {
            self.hours.clone()
        } else {
            self.hours.with_closures(&live.closures)
        }
    }

    fn profile_age(&self) -> Option<Duration> {
        let p = self.profile.read().ok()?;
        p.as_ref().map(|(at, _)| at.elapsed())
    }

    /// Learns the arrival profile from the last `PROFILE_WEEKS` weeks of
    /// cases (whole hours up to the current one).
    pub async fn refresh_profile(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Arc<ArrivalProfile>, StoreError> {
        let profile = Arc::new(
            self.store
                .arrival_profile(self.hours.tz(), now, PROFILE_WEEKS)
                .await?,
        );
        if let Ok(mut p) = self.profile.write() {
            *p = Some((std::time::Instant::now(), profile.clone()));
        }
        Ok(profile)
    }

    /// The profile in memory (read now if there is none yet).
    pub async fn profile(&self, now: DateTime<Utc>) -> Result<Arc<ArrivalProfile>, StoreError> {
        let held = self
            .profile
            .read()
            .ok()
            .and_then(|p| p.as_ref().map(|(_, p)| p.clone()));
        match held {
            Some(p) => Ok(p),
            None => self.refresh_profile(now).await,
        }
    }

    /// The profile in memory, if learnt from any history.
    fn learnt_profile(&self) -> Option<Arc<ArrivalProfile>> {
        let p = self.profile.read().ok()?;
        p.as_ref().map(|(_, p)| p.clone()).filter(|p| p.is_learnt())
    }

    /// Expected arrivals for `hours` hours from now: the profile corrected
    /// by the last hours' arrivals in `snap`; `None` without a profile.
    fn arrival_forecast(
        &self,
        now: DateTime<Utc>,
        snap: &QueueSnapshot,
        hours: usize,
    ) -> Option<ArrivalForecast> {
        let window = ChronoDuration::from_std(ARRIVAL_WINDOW).unwrap_or_default();
        let recent = snap.arrivals.iter().sum();
        Some(self.learnt_profile()?.corrected(now, recent, window, hours))
    }

    /// What the staffing forecast plans with: this node's targets, target
    /// shares, handling times and time zone.
    pub fn plan_settings(&self) -> PlanSettings {
        let handling = self
            .handling
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|_| HandlingTimes::new(self.queue.handling()));
        PlanSettings {
            tz: self.hours.tz(),
            targets: self.targets.clone(),
            shares: self.shares,
            handling: std::array::from_fn(|i| {
                handling.for_level(Priority::new(i as u8 + 1).unwrap_or(Priority::LOWEST))
            }),
            nurses_on_duty: self.nurses_on_duty(),
        }
    }

    /// Nurses on the queue now (the supervisor's figure or queue.toml's).
    pub fn nurses_on_duty(&self) -> u32 {
        self.live()
            .nurses_on_duty
            .unwrap_or(self.queue.nurses_on_duty)
    }

    async fn snapshot(&self, now: DateTime<Utc>) -> Result<QueueSnapshot, StoreError> {
        let since = now - ChronoDuration::from_std(ARRIVAL_WINDOW).unwrap_or_default();
        self.store
            .queue_snapshot(since, self.hours.start_of_day(now))
            .await
    }

    /// Replayed start for a new case of `priority`, no earlier than `not_before`.
    fn replay_estimate(
        &self,
        now: DateTime<Utc>,
        priority: Priority,
        snap: &QueueSnapshot,
        live: &LiveQueueSettings,
        hours: &OpeningHours,
        not_before: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        let handling = self
            .handling
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|_| HandlingTimes::new(self.queue.handling()));
        // Nurses on a claimed case finish at unknown times within one handling time.
        let busy = busy_spread(now, snap.claimed, handling.for_level(Priority::LOWEST));
        let forecast = self.arrival_forecast(now, snap, ESTIMATE_HORIZON_HOURS);
        let staff = Staffing {
            nurses: live.nurses_on_duty.unwrap_or(self.queue.nurses_on_duty),
            busy_until: busy,
            handling: &handling,
            hours,
            targets: &self.targets,
            arrivals: ArrivalRates::from_counts(snap.arrivals, ARRIVAL_WINDOW),
            forecast: forecast.as_ref(),
            not_before,
        };
        estimate_new(now, priority, &snap.open, &staff)
    }

    /// Reads the queue picture that holding callers' places come from.
    pub async fn refresh_snapshot(&self) -> Result<Arc<QueueSnapshot>, StoreError> {
        let snap = Arc::new(self.snapshot(Utc::now()).await?);
        if let Ok(mut latest) = self.latest.write() {
            *latest = Some((std::time::Instant::now(), snap.clone()));
        }
        Ok(snap)
    }

    /// The shared queue picture: fresh (at most `SNAPSHOT_FRESH` old, the
    /// follower keeps it so), or up to `SNAPSHOT_STALE_MAX` old while the
    /// follower is woken; else one new read shared by every caller waiting
    /// for it. Estimates cost no query per caller under load.
    async fn picture(&self) -> Result<Arc<QueueSnapshot>, StoreError> {
        let within = |max: Duration| {
            self.latest.read().ok().and_then(|l| {
                l.as_ref()
                    .filter(|(at, _)| at.elapsed() <= max)
                    .map(|(_, s)| s.clone())
            })
        };
        if let Some(snap) = within(SNAPSHOT_FRESH) {
            return Ok(snap);
        }
        if let Some(snap) = within(SNAPSHOT_STALE_MAX) {
            self.registered.notify_one();
            return Ok(snap);
        }
        let _one_reader = self.refreshing.lock().await;
        if let Some(snap) = within(SNAPSHOT_FRESH) {
            return Ok(snap);
        }
        self.refresh_snapshot().await
    }

    /// What to offer a caller of `level` registering at `now`.
    pub async fn offer_at(&self, level: u8, now: DateTime<Utc>) -> Result<Offer, StoreError> {
        let snap = self.picture().await?;
        Ok(self.offer_with(&snap, level, now))
    }

    /// The offer against the queue picture `snap`.
    fn offer_with(&self, snap: &QueueSnapshot, level: u8, now: DateTime<Utc>) -> Offer {
        let priority = Self::priority(level);
        let live = self.live();
        let hours = self.calendar(&live);
        let input = OfferInput {
            now,
            priority,
            registered_today: snap.callbacks_today,
            estimate: self.replay_estimate(now, priority, snap, &live, &hours, None),
        };
        decide(&input, &hours, &live.switches, |from| {
            self.replay_estimate(now, priority, snap, &live, &hours, Some(from))
        })
    }

    /// The offer for a caller of `level` now.
    pub async fn offer(&self, level: u8) -> Result<Offer, StoreError> {
        self.offer_at(level, Utc::now()).await
    }

    /// The local clock time to tell a caller of `level`, rounded up to 5 minutes;
    /// `None` when no callback is offered (the IVR plays its closed route) or the
    /// queue cannot be read.
    pub async fn estimate(&self, level: u8) -> Option<ClockTime> {
        match self.caller_offer(level).await {
            CallerOffer::Callback(t) => Some(t),
            CallerOffer::Closed | CallerOffer::Advice => None,
        }
    }

    /// The offer for a caller of `level` now, as the IVR says it (an
    /// unreadable queue is the closed path: hold, never advice).
    pub async fn caller_offer(&self, level: u8) -> CallerOffer {
        let now = Utc::now();
        match self.offer_at(level, now).await {
            Ok(Offer::Callback { at, .. }) => CallerOffer::Callback(self.clock_time(at, now)),
            Ok(Offer::Advice(_)) => CallerOffer::Advice,
            Ok(Offer::Hold(_)) | Err(_) => CallerOffer::Closed,
        }
    }

    /// Stores a self-care contact closed (outcome self_care, see
    /// [`Store::insert_contact`]): channel phone, the draft's level and
    /// answers, its number (given only with SMS consent), no personnummer.
    /// Returns the case id.
    pub async fn record_contact(
        &self,
        draft: &CaseDraft,
        call_id: &str,
    ) -> Result<String, StoreError> {
        let now = Utc::now();
        let priority = Self::priority(draft.level);
        let closed_offer = draft
            .answers
            .iter()
            .any(|a| a.question_id == crate::ivr::flow::OFFER_CLOSED);
        let case = NewCase {
            channel: Channel::Phone,
            priority,
            mode: StoreMode::Callback,
            registered_at: now,
            deadline: deadline_for(now, priority, &self.targets),
            estimated_callback_at: None,
            answers: draft.answers.clone(),
            callback_number: draft.callback_number.as_ref().map(|n| n.e164().to_string()),
            personnummer: None,
            language: draft.language.code().to_string(),
            call_id: Some(call_id.to_string()),
            external_ref: None,
            summary: match closed_offer {
                true => CLOSED_ADVICE_CONTACT,
                false => SELF_CARE_CONTACT,
            }
            .to_string(),
            red_flag: false,
        };
        let record = self.store.insert_contact(&case, now).await?;
        Ok(record.id.to_string())
    }

    /// `at` as local time rounded up to 5 minutes, and how many days after `now`'s date.
    fn clock_time(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> ClockTime {
        let tz = self.hours.tz();
        let local = at.with_timezone(&tz);
        let extra = (5 - local.minute() % 5) % 5;
        let rounded = local + ChronoDuration::minutes(extra as i64);
        let days = (rounded.date_naive() - now.with_timezone(&tz).date_naive()).num_days();
        ClockTime::new(rounded.hour() as u8, rounded.minute() as u8)
            .unwrap_or(ClockTime {
                days_ahead: 0,
                hour: 0,
                minute: 0,
            })
            .days_ahead(days.clamp(0, 9) as u8)
    }

    /// When a callback case of `priority` registered at `now` will be called,
    /// for both channels. A case already accepted keeps the best time even if
    /// the offer has closed meanwhile.
    pub async fn callback_estimate(
        &self,
        priority: Priority,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let snap = self.picture().await?;
        Ok(self.callback_estimate_with(&snap, priority, now))
    }

    /// The callback time against the queue picture `snap`.
    fn callback_estimate_with(
        &self,
        snap: &QueueSnapshot,
        priority: Priority,
        now: DateTime<Utc>,
    ) -> DateTime<Utc> {
        if let Offer::Callback { at, .. } = self.offer_with(snap, priority.level(), now) {
            return at;
        }
        let live = self.live();
        let hours = self.calendar(&live);
        self.replay_estimate(now, priority, snap, &live, &hours, None)
            .unwrap_or(now)
    }

    /// Commits the case; returns its id and the callback time to tell.
    pub async fn register(
        &self,
        draft: &CaseDraft,
        call_id: &str,
    ) -> Result<(String, ClockTime), StoreError> {
        let now = Utc::now();
        let priority = Self::priority(draft.level);
        let estimated = match draft.mode {
            CaseMode::Callback => self.callback_estimate(priority, now).await?,
            // Held callers are connected by the nurses on duty, whatever the hours.
            CaseMode::Hold => {
                let snap = self.picture().await?;
                let live = self.live();
                self.replay_estimate(now, priority, &snap, &live, &OpeningHours::default(), None)
                    .unwrap_or(now)
            }
        };
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
            summary: match (draft.dropped_in_ivr, &draft.updates) {
                (true, _) => DROPPED_IN_IVR.to_string(),
                (false, Some(_)) => RETRIAGED_BY_CALL.to_string(),
                (false, None) => String::new(),
            },
            red_flag: draft.red_flag,
        };
        let held_by = match draft.mode {
            CaseMode::Hold => self.node.as_deref(),
            CaseMode::Callback => None,
        };
        if let Some(id) = &draft.updates {
            if let Some(record) = self.retriage(id, &case, held_by, now).await? {
                self.registered.notify_one();
                return Ok((record.id.to_string(), self.said_time(&record, now)));
            }
        }
        let record = self
            .writer
            .insert(case, held_by.map(str::to_string))
            .await?;
        self.registered.notify_one();
        Ok((record.id.to_string(), self.clock_time(estimated, now)))
    }

    /// Updates the repeat caller's waiting case with `case` (see
    /// [`Store::retriage_case`]); `None` when it no longer waits, and the
    /// caller's answers then make a case of their own (never lost).
    async fn retriage(
        &self,
        id: &str,
        case: &NewCase,
        held_by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<CaseRecord>, StoreError> {
        let Ok(uuid) = uuid::Uuid::parse_str(id) else {
            return Ok(None);
        };
        let mut case = case.clone();
        if let Some(old) = self.store.get_case(uuid).await? {
            // A digital case keeps its intake answers beside the phone ones;
            // a phone case's answers are the newest call's.
            if old.channel == Channel::Digital {
                let new_ids: Vec<&str> = case
                    .answers
                    .iter()
                    .map(|a| a.question_id.as_str())
                    .collect();
                let kept = old
                    .answers
                    .into_iter()
                    .filter(|a| !new_ids.contains(&a.question_id.as_str()));
                case.answers = kept.chain(case.answers.iter().cloned()).collect();
            }
        }
        let record = self.store.retriage_case(uuid, &case, held_by, now).await?;
        if record.is_none() {
            tracing::info!(case = %id, "re-triaged case no longer waits: registering a new one");
        }
        Ok(record)
    }

    /// The time to tell a caller about a stored case: its estimate (or its
    /// deadline), or now if that has passed.
    fn said_time(&self, case: &CaseRecord, now: DateTime<Utc>) -> ClockTime {
        let at = case.estimated_callback_at.unwrap_or(case.deadline).max(now);
        self.clock_time(at, now)
    }

    /// The caller's waiting callback and the time to tell them (its estimate,
    /// or now if that has passed); `None` when there is none or the store
    /// cannot be read (the caller then simply goes on through the IVR).
    pub async fn booked_callback(&self, number: &PhoneNumber) -> Option<BookedCallback> {
        let now = Utc::now();
        let case = match self.store.waiting_callback_for_number(number.e164()).await {
            Ok(case) => case?,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up a booked callback");
                return None;
            }
        };
        Some(BookedCallback {
            case_id: case.id.to_string(),
            at: self.said_time(&case, now),
            // Stored personnummers are validated 12 digits (IVR and intake).
            personnummer: case
                .personnummer
                .as_deref()
                .and_then(|p| Personnummer::parse(p).ok()),
        })
    }

    /// Cancels the caller's booked callback (audited with actor `ivr`).
    pub async fn cancel_booked(&self, case_id: &str) -> Result<(), CancelError> {
        let id = uuid::Uuid::parse_str(case_id).map_err(|e| {
            CancelError::Store(StoreError::Corrupt {
                id: case_id.chars().take(40).collect(),
                field: "id",
                message: e.to_string(),
            })
        })?;
        self.store
            .cancel_case(id, "ivr", Utc::now())
            .await
            .map(|_| ())
    }

    /// Stores a voice note (WAV) for a phone case.
    pub async fn save_voice_note(&self, case_id: uuid::Uuid, wav: &[u8]) -> Result<(), StoreError> {
        self.store.save_voice_note(case_id, wav, Utc::now()).await
    }

    /// The case store (the SIP shell reads nurse phones' digest secrets there).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A holding caller's place in the queue (1 = next) and the estimated
    /// minutes until a nurse takes the case, from the shared snapshot (no
    /// store read); `None` when the snapshot does not hold the case yet.
    pub fn hold_position(&self, case_id: &str, now: DateTime<Utc>) -> Option<(usize, i64)> {
        let id = uuid::Uuid::parse_str(case_id).ok()?;
        let latest = self.latest.read().ok()?;
        let (_, snap) = latest.as_ref()?;
        let queue: Queue<uuid::Uuid> = snap.open.iter().cloned().collect();
        let place = queue.position(&id)? + 1;
        let priority = queue.iter().find(|c| c.id == id)?.priority;
        let at = self.callback_estimate_with(snap, priority, now);
        Some((place, (at - now).num_minutes()))
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

#[cfg(test)]
mod tests;
