//! The post-contact survey on the resident's leg after the nurse hung up:
//! drives the `ivr::survey` core with the leg's media events (RFC 4733,
//! in-band and SIP INFO keys all arrive as `MediaEvent::Digit`), plays its
//! prompts with the engine's player, and stores the answers beside the call
//! with the store deadline; the call never waits on the store.

use crate::ivr::survey::{Survey, SurveyAction, SurveyConfig, SurveyEnd, SurveyEvent};
use crate::media::engine::MediaEvent;
use crate::media::prompts::PromptLibrary;
use crate::store::{CaseRecord, Channel, NewSurvey, Store};
use crate::telephony::outbound::{Leg, LegEvent};
use chrono::Utc;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::task::TaskTracker;
use tracing::warn;

/// Survey playlists' tokens start here (the callback's own tokens are small).
const TOKEN_BASE: u64 = 1_000;

/// Longest a survey may keep the resident's leg, whatever happens.
const MAX_SURVEY: Duration = Duration::from_secs(180);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Survey counters for `/metrics`.
#[derive(Debug, Default)]
pub struct SurveyMetrics {
    /// Surveys started on a resident's leg.
    pub offered: Counter,
    /// Surveys with at least one answer (phone), stored or not.
    pub answered: Counter,
    /// Surveys ended without an answer, by reason.
    skipped: Family<ReasonLabel, Counter>,
    /// Digital surveys posted through the API.
    pub posted_digital: Counter,
    /// Answers not stored (database error or the store deadline).
    pub store_failures: Counter,
}

impl SurveyMetrics {
    /// Puts the counters on `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "pe_surveys_offered",
            "Post-contact surveys started after the nurse hung up",
            self.offered.clone(),
        );
        registry.register(
            "pe_surveys_answered",
            "Phone surveys with at least one answer",
            self.answered.clone(),
        );
        for reason in ["skipped", "hung_up"] {
            let _ = self.skipped.get_or_create(&ReasonLabel { reason });
        }
        registry.register(
            "pe_surveys_skipped",
            "Phone surveys ended without an answer (# / no key / invalid twice, or the resident hung up)",
            self.skipped.clone(),
        );
        registry.register(
            "pe_surveys_posted_digital",
            "Digital surveys posted to POST /api/v1/surveys",
            self.posted_digital.clone(),
        );
        registry.register(
            "pe_survey_store_failures",
            "Survey answers not stored (database error or past the store deadline)",
            self.store_failures.clone(),
        );
    }

    fn skipped(&self, end: SurveyEnd) {
        let reason = match end {
            SurveyEnd::HungUp => "hung_up",
            _ => "skipped",
        };
        self.skipped.get_or_create(&ReasonLabel { reason }).inc();
    }
}

/// What every survey shares.
#[derive(Debug)]
pub struct Surveys {
    pub config: Arc<SurveyConfig>,
    pub metrics: Arc<SurveyMetrics>,
    /// `ivr.toml` `store_timeout_s`: a write not done by then counts as failed.
    pub store_timeout: Duration,
}

impl Surveys {
    /// True when a survey should be offered.
    pub fn enabled(&self) -> bool {
        self.config.enabled && !self.config.questions.is_empty()
    }

    /// Runs the survey on `resident` (unbridged, still up) in the case's
    /// language, then stores any answers in the background on `tasks`.
    /// Returns when the survey is over; the caller hangs up the leg.
    pub(super) async fn run(
        &self,
        resident: &mut Leg,
        prompts: &PromptLibrary,
        case: &CaseRecord,
        store: &Store,
        tasks: &TaskTracker,
    ) {
        self.metrics.offered.inc();
        let mut survey = Survey::new(&self.config);
        let lang = case.language.as_str();
        let give_up = tokio::time::Instant::now() + MAX_SURVEY;
        let mut actions = survey.start();
        loop {
            let mut pending = Vec::new();
            for action in actions.drain(..) {
                if let SurveyAction::Play {
                    prompts: ids,
                    token,
                } = action
                {
                    let clips: Vec<_> = ids
                        .iter()
                        .filter_map(|id| prompts.lookup(lang, id))
                        .collect();
                    resident.stream.stop_playback();
                    if clips.is_empty() {
                        // Nothing to play (checked at start, so not expected).
                        pending.push(SurveyEvent::PromptDone { token });
                    } else {
                        resident.stream.play(clips, TOKEN_BASE + token);
                    }
                }
            }
            for event in pending {
                actions.extend(survey.handle(std::time::Instant::now(), event));
            }
            if !actions.is_empty() {
                continue;
            }
            if survey.is_done() {
                break;
            }
            let deadline = survey.deadline().map(tokio::time::Instant::from_std);
            tokio::select! {
                ev = resident.next() => {
                    let event = match ev {
                        LegEvent::Media(MediaEvent::Digit { key, .. }) => SurveyEvent::Digit(key),
                        LegEvent::Media(MediaEvent::PlaybackDone { token }) if token > TOKEN_BASE => {
                            SurveyEvent::PromptDone { token: token - TOKEN_BASE }
                        }
                        LegEvent::Media(MediaEvent::PlaybackDone { .. }) => continue,
                        LegEvent::Media(MediaEvent::RtpTimeout)
                        | LegEvent::RemoteHangup
                        | LegEvent::Shutdown => SurveyEvent::Hangup,
                    };
                    actions = survey.handle(std::time::Instant::now(), event);
                }
                _ = crate::telephony::sleep_until(deadline) => {
                    actions = survey.on_timeout(std::time::Instant::now());
                }
                _ = tokio::time::sleep_until(give_up) => {
                    actions = survey.handle(std::time::Instant::now(), SurveyEvent::Hangup);
                }
            }
        }
        resident.stream.stop_playback();
        // Nothing about the answers is logged: the span names the case.
        let result = survey.result();
        if result.answers.is_empty() {
            self.metrics.skipped(result.end);
            return;
        }
        self.metrics.answered.inc();
        let row = NewSurvey {
            channel: Channel::Phone,
            level: case.priority,
            unit: None,
            unit_of_case: Some(case.id),
            at: Utc::now(),
            answers: result.answers,
        };
        let (store, metrics, limit) = (store.clone(), self.metrics.clone(), self.store_timeout);
        tasks.spawn(async move {
            match tokio::time::timeout(limit, store.insert_survey(&row)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    metrics.store_failures.inc();
                    warn!(error = %e, "survey answers not stored");
                }
                Err(_) => {
                    metrics.store_failures.inc();
                    warn!("survey answers not stored within the store deadline");
                }
            }
        });
    }
}
