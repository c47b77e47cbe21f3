//! One callback, start to end: ring the nurse, then the resident through the
//! trunk (or take the caller holding for the case), say who is calling,
//! bridge the two, and record the attempt and a call-detail row per leg.

use super::metrics::CallbackMetrics;
use super::{CallResult, CallState, CallStatus};
use crate::media::engine::{MediaEvent, MediaStream, StreamLink, StreamParams, Trust};
use crate::queue::{AttemptOutcome, RetryPolicies};
use crate::store::{Actor, AttemptResult, CallLeg, CaseRecord, LegDirection, LegKind, Store};
use crate::telephony::held::{HeldCall, HeldCommand};
use crate::telephony::outbound::{self, Caller, Leg, LegEvent, Placement, Progress, Target};
use crate::telephony::{DialFailure, Telephony};
use crate::webrtc::{BrowserLeg, WebRtcConfig, WebRtcError};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{info, info_span, warn, Instrument};
use uuid::Uuid;

/// Playlist token of the ring tone played to the nurse.
const RINGBACK_TOKEN: u64 = 2;

/// The nurse leg as requested, before it is set up.
pub(super) enum NurseSetup {
    Phone(Target),
    Browser(BrowserPending),
}

/// A browser leg whose SDP answer went back to the page.
pub(super) struct BrowserPending {
    leg: BrowserLeg,
    accepted_at: DateTime<Utc>,
}

/// Accepts the page's WebRTC offer; the error says what was wrong with it.
pub(super) async fn accept_browser(
    telephony: &Telephony,
    offer_sdp: &str,
) -> Result<(BrowserPending, String), WebRtcError> {
    let config = WebRtcConfig {
        bind_ip: telephony.sip.advertise_ip,
    };
    let (leg, answer) = BrowserLeg::accept(&config, offer_sdp).await?;
    Ok((
        BrowserPending {
            leg,
            accepted_at: Utc::now(),
        },
        answer,
    ))
}

/// The nurse's connected side.
enum NurseSide {
    Phone(Box<Leg>),
    /// The browser's WebRTC leg, relayed as plain RTP to an engine stream.
    Browser {
        leg: BrowserLeg,
        stream: MediaStream,
        media: mpsc::UnboundedReceiver<MediaEvent>,
        accepted_at: DateTime<Utc>,
        closed_by_us: bool,
    },
}

impl NurseSide {
    /// Opens the engine stream for a browser leg (beside `beside` to bridge).
    fn browser(
        telephony: &Telephony,
        pending: BrowserPending,
        beside: Option<&StreamLink>,
    ) -> Result<NurseSide, crate::media::MediaError> {
        let params = StreamParams {
            codec: crate::media::g711::Codec::Pcmu,
            payload_type: crate::webrtc::PCMU_PT,
            telephone_event_pt: Some(crate::webrtc::TELEPHONE_EVENT_PT),
            remote: pending.leg.rtp_addr(),
            // Our own WebRTC leg's relay socket (ICE consent guards the browser side).
            trust: Trust::Trusted,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let stream = match beside {
            Some(link) => telephony.media.open_beside(link, params, tx)?,
            None => telephony.media.open(params, tx)?,
        };
        pending.leg.set_rtp_target(stream.local_addr());
        Ok(NurseSide::Browser {
            leg: pending.leg,
            stream,
            media: rx,
            accepted_at: pending.accepted_at,
            closed_by_us: false,
        })
    }

    fn stream(&self) -> &MediaStream {
        match self {
            NurseSide::Phone(leg) => &leg.stream,
            NurseSide::Browser { stream, .. } => stream,
        }
    }

    fn link(&self) -> StreamLink {
        self.stream().link()
    }

    /// Resolves when the nurse hangs up (`true`) or their leg is lost
    /// (media stopped, the service stopping: `false`).
    async fn ended(&mut self) -> bool {
        match self {
            NurseSide::Phone(leg) => loop {
                match leg.next().await {
                    LegEvent::RemoteHangup => return true,
                    LegEvent::Shutdown => return false,
                    LegEvent::Media(MediaEvent::RtpTimeout) => return false,
                    LegEvent::Media(_) => {}
                }
            },
            NurseSide::Browser { leg, media, .. } => loop {
                tokio::select! {
                    _ = leg.ended() => return true,
                    ev = media.recv() => match ev {
                        None | Some(MediaEvent::RtpTimeout) => return false,
                        Some(_) => {}
                    },
                }
            },
        }
    }

    async fn hangup(&mut self) {
        match self {
            NurseSide::Phone(leg) => leg.hangup(),
            NurseSide::Browser {
                leg, closed_by_us, ..
            } => {
                *closed_by_us = true;
                leg.close().await;
            }
        }
    }

    fn kind(&self) -> LegKind {
        match self {
            NurseSide::Phone(_) => LegKind::NursePhone,
            NurseSide::Browser { .. } => LegKind::NurseBrowser,
        }
    }

    fn ended_by(&self) -> &'static str {
        match self {
            NurseSide::Phone(leg) => leg.ended_by(),
            NurseSide::Browser { closed_by_us, .. } => {
                if *closed_by_us {
                    "local"
                } else {
                    "remote"
                }
            }
        }
    }

    fn times(&self) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
        match self {
            NurseSide::Phone(leg) => (leg.started_at, Some(leg.answered_at)),
            NurseSide::Browser { accepted_at, .. } => (*accepted_at, Some(*accepted_at)),
        }
    }
}

/// Keeps the nurse's claim on the case alive while the call runs (her page
/// may be closed meanwhile): renews a third of a lease apart. Never returns.
async fn renew_claim_while_calling(store: Store, case: Uuid, nurse: String) {
    let every = (store.claim_lease() / 3).max(std::time::Duration::from_secs(1));
    loop {
        tokio::time::sleep(every).await;
        // Refused once the attempt is recorded or the claim was released:
        // nothing left to keep.
        if let Err(e) = store.renew_claim(case, &nurse, Utc::now()).await {
            tracing::debug!(error = %e, "claim not renewed during the call");
        }
    }
}

/// The job.
pub(super) struct Callback {
    pub telephony: Arc<Telephony>,
    pub metrics: Arc<CallbackMetrics>,
    pub store: Store,
    pub case: CaseRecord,
    pub nurse: String,
    pub call_id: Uuid,
    pub status: watch::Sender<CallStatus>,
    pub cancel: CancellationToken,
    pub held: Option<HeldCall>,
    pub retry: RetryPolicies,
    pub surveys: Arc<super::survey::Surveys>,
}

impl Callback {
    pub async fn run(self, setup: NurseSetup) {
        let span = info_span!("callback", case = %self.case.id, call = %self.call_id);
        let metrics = self.metrics.clone();
        metrics.active.inc();
        let renew = renew_claim_while_calling(self.store.clone(), self.case.id, self.nurse.clone());
        // The call ends the renewals; they never end the call.
        tokio::select! {
            _ = self.run_inner(setup).instrument(span.clone()) => {}
            _ = renew.instrument(span) => {}
        }
        metrics.active.dec();
    }

    async fn run_inner(self, setup: NurseSetup) {
        let beside = self.held.as_ref().map(|h| h.link.clone());
        let nurse = match setup {
            NurseSetup::Phone(target) => {
                let caller = Caller {
                    number: self
                        .telephony
                        .trunk
                        .as_ref()
                        .map(|t| t.from_number.clone())
                        .unwrap_or_else(|| "1177".into()),
                    display: format!("1177 callback P{}", self.case.priority.level()),
                };
                let placement = match beside.as_ref() {
                    Some(link) => Placement::Beside(link),
                    None => Placement::Alone,
                };
                match outbound::dial(
                    &self.telephony.sip,
                    &self.telephony.media,
                    &target,
                    &caller,
                    placement,
                    &self.cancel,
                    |_| {},
                )
                .await
                {
                    Ok(leg) => NurseSide::Phone(Box::new(leg)),
                    Err((failure, started)) => {
                        info!(result = failure.as_str(), "nurse phone not answered");
                        self.cdr_failed(LegKind::NursePhone, started, failure).await;
                        let result = match failure {
                            DialFailure::Cancelled => CallResult::Cancelled,
                            _ => CallResult::NurseUnavailable,
                        };
                        self.finish(result);
                        return;
                    }
                }
            }
            NurseSetup::Browser(pending) => {
                match NurseSide::browser(&self.telephony, pending, beside.as_ref()) {
                    Ok(side) => side,
                    Err(e) => {
                        warn!(error = %e, "no media stream for the browser leg");
                        self.finish(CallResult::Failed);
                        return;
                    }
                }
            }
        };
        match self.held.clone() {
            Some(held) => self.connect_held(nurse, held).await,
            None => self.call_resident(nurse).await,
        }
    }

    fn set_state(&self, state: CallState) {
        self.status.send_modify(|s| s.state = state);
    }

    fn finish(&self, result: CallResult) {
        self.metrics.ended(result);
        self.status.send_modify(|s| {
            s.state = CallState::Ended;
            s.result = Some(result);
        });
    }

    async fn call_resident(self, mut nurse: NurseSide) {
        let (Some(trunk), Some(number)) = (
            self.telephony.trunk.clone(),
            self.case.callback_number.clone(),
        ) else {
            nurse.hangup().await;
            self.finish(CallResult::Failed);
            return;
        };
        self.set_state(CallState::ResidentRinging);
        let (target, caller) = (Target::resident(&trunk, &number), Caller::through(&trunk));
        let nurse_link = nurse.link();
        // The nurse hears the ring tone until the resident answers (a minute's worth).
        if let Some(clip) = self
            .telephony
            .prompts
            .lookup(&self.case.language, "ringback")
        {
            nurse.stream().play(vec![clip; 10], RINGBACK_TOKEN);
        }
        // Bridged from the start: the nurse hears the network's announcements
        // (early media) instead of our ring tone once they begin.
        let ring_tone = nurse_link.clone();
        let dial = outbound::dial(
            &self.telephony.sip,
            &self.telephony.media,
            &target,
            &caller,
            Placement::Bridged(&nurse_link),
            &self.cancel,
            move |p| {
                if p == Progress::EarlyMedia {
                    ring_tone.stop_playback();
                }
            },
        );
        tokio::pin!(dial);
        let mut nurse_gone = false;
        let dialled = loop {
            tokio::select! {
                r = &mut dial => break r,
                // The nurse gave up while the phone rang: CANCEL (inside dial).
                _ = nurse.ended(), if !nurse_gone => {
                    nurse_gone = true;
                    self.cancel.cancel();
                }
            }
        };
        nurse.stream().stop_playback();
        let mut resident = match dialled {
            Ok(leg) => leg,
            Err((failure, started)) => {
                info!(result = failure.as_str(), "resident not reached");
                nurse.hangup().await;
                self.cdr_failed(LegKind::Resident, started, failure).await;
                self.cdr_nurse(&nurse, "ended").await;
                if failure != DialFailure::Cancelled {
                    self.record_attempt(Some(failure)).await;
                }
                self.finish(failure.into());
                return;
            }
        };
        // The resident answered the nurse's call: observed now, live.
        self.metrics.answers.answered(&self.case, Utc::now());
        // Say who is calling before the nurse is heard.
        self.set_state(CallState::Announcing);
        let lang = self.case.language.as_str();
        let token = 1;
        if let Some(clip) = self.telephony.prompts.lookup(lang, "callback_intro") {
            resident.stream.play(vec![clip], token);
            loop {
                tokio::select! {
                    ev = resident.next() => match ev {
                        LegEvent::Media(MediaEvent::PlaybackDone { token: t }) if t == token => break,
                        LegEvent::Media(_) => {}
                        LegEvent::RemoteHangup | LegEvent::Shutdown => break,
                    },
                    _ = nurse.ended() => { resident.hangup(); break; }
                    _ = self.cancel.cancelled() => { resident.hangup(); break; }
                }
            }
        }
        if resident.is_over() {
            nurse.hangup().await;
            self.cdr_leg(LegKind::Resident, &resident, "ended_during_announcement")
                .await;
            self.cdr_nurse(&nurse, "ended").await;
            self.record_attempt(None).await;
            self.finish(CallResult::Connected);
            return;
        }
        if let Err(e) = resident.stream.bridge(&nurse_link) {
            warn!(error = %e, "cannot bridge the legs");
        }
        self.set_state(CallState::Connected);
        self.record_attempt(None).await;
        info!("resident and nurse connected");
        // The nurse ended the call (her phone, her page): the resident may
        // answer the survey; never when the resident left or a leg failed.
        let nurse_hung_up = loop {
            tokio::select! {
                ev = resident.next() => match ev {
                    LegEvent::RemoteHangup | LegEvent::Shutdown => break false,
                    LegEvent::Media(MediaEvent::RtpTimeout) => break false,
                    LegEvent::Media(_) => {}
                },
                hung_up = nurse.ended() => break hung_up,
                _ = self.cancel.cancelled() => break true,
            }
        };
        if nurse_hung_up && self.surveys.enabled() && !resident.is_over() {
            // The nurse's side ends now; the survey has the resident's leg alone.
            resident.stream.unbridge();
            nurse.hangup().await;
            self.cdr_nurse(&nurse, "connected").await;
            self.finish(CallResult::Connected);
            self.surveys
                .run(
                    &mut resident,
                    &self.telephony.prompts,
                    &self.case,
                    &self.store,
                    &self.telephony.tasks,
                )
                .await;
            resident.hangup();
            self.cdr_leg(LegKind::Resident, &resident, "connected")
                .await;
            return;
        }
        resident.hangup();
        nurse.hangup().await;
        self.cdr_leg(LegKind::Resident, &resident, "connected")
            .await;
        self.cdr_nurse(&nurse, "connected").await;
        self.finish(CallResult::Connected);
    }

    /// The caller is holding on this node: bridge the nurse to that call.
    async fn connect_held(self, mut nurse: NurseSide, held: HeldCall) {
        let (done_tx, done_rx) = oneshot::channel();
        let sent = held.commands.send(HeldCommand::Connect {
            nurse: nurse.link(),
            done: done_tx,
        });
        if sent.is_err() {
            // The caller left a moment ago: the case is a callback now.
            nurse.hangup().await;
            self.cdr_nurse(&nurse, "caller_left").await;
            self.finish(CallResult::NoAnswer);
            return;
        }
        self.set_state(CallState::Connected);
        self.metrics.answers.answered(&self.case, Utc::now());
        self.record_attempt(None).await;
        info!("nurse connected to the holding caller");
        tokio::select! {
            _ = done_rx => {}
            _ = nurse.ended() => { let _ = held.commands.send(HeldCommand::NurseLeft); }
            _ = self.cancel.cancelled() => { let _ = held.commands.send(HeldCommand::NurseLeft); }
        }
        nurse.hangup().await;
        self.cdr_nurse(&nurse, "connected").await;
        self.finish(CallResult::Connected);
    }

    /// Stores the attempt's result: `None` is a connected call. Cancelled
    /// attempts and an unreachable nurse are not attempts at the resident.
    async fn record_attempt(&self, failure: Option<DialFailure>) {
        let result = match failure {
            None => AttemptResult::Connected,
            Some(DialFailure::Busy(_)) => AttemptResult::Busy,
            Some(DialFailure::NoAnswer(_)) => AttemptResult::NoAnswer,
            Some(DialFailure::Rejected(_)) => AttemptResult::Rejected,
            // The trunk or our own credentials failed, not the resident: the
            // case goes back to the queue without using one of its attempts.
            Some(DialFailure::Failed(status)) => return self.trunk_trouble(status).await,
            Some(DialFailure::Cancelled) => return,
        };
        match self
            .store
            .record_attempt(self.case.id, &self.nurse, result, &self.retry, Utc::now())
            .await
        {
            Ok(AttemptOutcome::RetryAt(at)) => {
                info!(next_attempt = %at, "attempt failed; retry later")
            }
            Ok(AttemptOutcome::Unreachable) => info!("last attempt failed: case unreachable"),
            Ok(AttemptOutcome::Review) => {
                info!("last attempt failed: urgent case to the review list")
            }
            Ok(AttemptOutcome::Connected) => {}
            // Released or taken over meanwhile: nothing recorded, the legs still are.
            Err(e) => warn!(error = %e, "attempt not recorded"),
        }
    }

    async fn trunk_trouble(&self, status: Option<u16>) {
        self.metrics.trunk_failures.inc();
        warn!(
            status = status.unwrap_or(0),
            "trunk failure (5xx, timeout or our credentials refused): no attempt used"
        );
        let actor = Actor {
            username: &self.nurse,
            ip: None,
            may_override: false,
        };
        if let Err(e) = self.store.release(self.case.id, &actor, Utc::now()).await {
            warn!(error = %e, "case not put back after a trunk failure");
        }
    }

    async fn cdr(&self, row: CallLeg) {
        if let Err(e) = self.store.insert_call_leg(&row).await {
            warn!(error = %e, "call-detail row not stored");
        }
    }

    fn row(
        &self,
        kind: LegKind,
        started: DateTime<Utc>,
        answered: Option<DateTime<Utc>>,
    ) -> CallLeg {
        CallLeg {
            id: Uuid::new_v4(),
            case_id: Some(self.case.id),
            direction: LegDirection::Outbound,
            kind,
            started_at: started,
            answered_at: answered,
            ended_at: Utc::now(),
            result: String::new(),
            sip_status: None,
            ended_by: None,
        }
    }

    async fn cdr_failed(&self, kind: LegKind, started: DateTime<Utc>, failure: DialFailure) {
        let mut row = self.row(kind, started, None);
        row.result = failure.as_str().to_string();
        row.sip_status = failure.sip_status();
        row.ended_by = Some(
            if failure.sip_status().is_some() {
                "remote"
            } else {
                "local"
            }
            .into(),
        );
        self.cdr(row).await;
    }

    async fn cdr_leg(&self, kind: LegKind, leg: &Leg, result: &str) {
        let mut row = self.row(kind, leg.started_at, Some(leg.answered_at));
        row.result = result.to_string();
        row.sip_status = Some(200);
        row.ended_by = Some(leg.ended_by().into());
        self.cdr(row).await;
    }

    async fn cdr_nurse(&self, nurse: &NurseSide, result: &str) {
        let (started, answered) = nurse.times();
        let mut row = self.row(nurse.kind(), started, answered);
        row.result = result.to_string();
        row.ended_by = Some(nurse.ended_by().into());
        self.cdr(row).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CaseMode, Channel, NewCase};

    /// A running call keeps the nurse's claim alive however long it lasts.
    #[tokio::test]
    async fn a_running_call_renews_the_claim() {
        let db = crate::store::tests::sqlite_test_db().await;
        let store = db
            .store
            .clone()
            .with_claim_lease(std::time::Duration::from_secs(3));
        let now = Utc::now();
        let case = NewCase {
            channel: Channel::Phone,
            priority: crate::queue::Priority::LOWEST,
            mode: CaseMode::Callback,
            registered_at: now,
            deadline: now,
            estimated_callback_at: None,
            answers: Vec::new(),
            callback_number: None,
            personnummer: None,
            language: "sv".into(),
            call_id: None,
            external_ref: None,
            summary: String::new(),
            red_flag: false,
        };
        let id = store.insert_case(&case).await.map(|c| c.id).unwrap();
        let nina = Actor {
            username: "nina",
            ip: None,
            may_override: false,
        };
        store.claim(id, &nina, now).await.unwrap();
        let first = store
            .claim_info(id)
            .await
            .unwrap()
            .unwrap()
            .claim_expires_at;
        let renewing = renew_claim_while_calling(store.clone(), id, "nina".into());
        // Three renewals' worth (one a second with a 3 s lease).
        let _ = tokio::time::timeout(std::time::Duration::from_millis(3500), renewing).await;
        let later = store
            .claim_info(id)
            .await
            .unwrap()
            .unwrap()
            .claim_expires_at;
        assert!(later > first, "{first:?} -> {later:?}");
        assert!(store
            .sweep_expired_claims(now + chrono::TimeDelta::seconds(4))
            .await
            .unwrap()
            .is_empty());
        db.finish().await;
    }
}
