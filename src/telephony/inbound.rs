//! One call: answers the INVITE, runs the IVR session against the media
//! stream, registers the case in the store, and ends the dialog. One task per
//! call; the media pacing is not here (the media engine's workers do it).

mod caller;
mod fallback;
mod holding;

use super::call_record::InboundRecord;
use super::driver::CallHandler;
use super::held::{HeldCalls, HeldCommand};
use super::messages::Messages;
use super::metrics::CallMetrics;
use super::secure_media::{self, SecureMedia};
use super::signal::{new_tag, CallInput, NewCall, SipCommand, ALLOW};
use super::store_jobs::{StoreJobs, StoreReply};
use super::voice_note::VoiceNote;
use super::{sleep_until, CLOSING_MAX};
use crate::booking::{Booking, CallerOffer};
use crate::config::SipConfig;
use crate::ivr::{CallInfo, CaseMode, Flow, IvrAction, IvrEvent, RecordingEnd, Session};
use crate::media::dtmf::DtmfSource;
use crate::media::engine::{MediaEngine, MediaEvent, MediaStream, StreamParams};
use crate::media::prompts::PromptLibrary;
use crate::sdp::{self, AudioOffer, LocalMedia, SdpError};
use crate::sip::dialog::Dialog;
use crate::sip::dtmf_info::{key_from_info, InfoDtmfError};
use crate::sip::message::{self, RequestInfo};
use crate::sip::{Peer, Transport, TxId};
use crate::triage::Triage;
use rand::Rng;
use rsip::Method;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, info_span, warn, Instrument};

/// What every inbound call shares: the IVR, the media engine and booking.
pub struct InboundCalls {
    pub config: Arc<SipConfig>,
    /// The address in our Contact and SDP.
    pub advertise_ip: IpAddr,
    pub media: MediaEngine,
    pub prompts: Arc<PromptLibrary>,
    pub flow: Arc<Flow>,
    pub triage: Arc<Triage>,
    pub booking: Arc<Booking>,
    pub messages: Messages,
    pub metrics: Arc<CallMetrics>,
    /// Callers holding in the queue on this node (the dialer connects them).
    pub held: Arc<HeldCalls>,
    /// Call tasks and their store jobs: a stopping service waits for them.
    pub tasks: TaskTracker,
}

impl CallHandler for Arc<InboundCalls> {
    fn start(
        &self,
        call: NewCall,
        inbox: mpsc::UnboundedReceiver<CallInput>,
        sip: mpsc::UnboundedSender<SipCommand>,
    ) {
        self.tasks.spawn(run(self.clone(), call, inbox, sip));
    }
}

/// Runs the call to its end.
async fn run(
    ctx: Arc<InboundCalls>,
    call: NewCall,
    inbox: mpsc::UnboundedReceiver<CallInput>,
    sip: mpsc::UnboundedSender<SipCommand>,
) {
    let call_id = call.info.call_id.clone();
    // The span carries a hash of the Call-ID: the Call-ID may contain the caller's number.
    let span = info_span!("call", call = %short_hash(&call_id));
    ctx.metrics.calls_active.inc();
    ctx.metrics.calls.inc();
    async {
        let mut c = Call::new(ctx.clone(), call, sip.clone());
        c.run(inbox).await;
    }
    .instrument(span)
    .await;
    ctx.metrics.calls_active.dec();
    let _ = sip.send(SipCommand::Ended { call_id });
}

fn short_hash(s: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    format!("{:08x}", h.finish() as u32)
}

struct Call {
    ctx: Arc<InboundCalls>,
    sip: mpsc::UnboundedSender<SipCommand>,
    invite: rsip::Request,
    info: RequestInfo,
    invite_tx: TxId,
    peer: Peer,
    dialog: Dialog,
    local: LocalMedia,
    via_host: String,
    stream: Option<MediaStream>,
    media_events: Option<mpsc::UnboundedReceiver<MediaEvent>>,
    offer: Option<AudioOffer>,
    /// Plain RTP or SRTP with SDES keys (never logged).
    secure: SecureMedia,
    session: Session,
    answered: bool,
    ended: bool,
    /// Stopping: the closing message plays until this, then we hang up.
    closing_until: Option<Instant>,
    holding: bool,
    /// A stored hold-mode case: it must become a callback if the caller leaves.
    held_case: Option<String>,
    hold_token: Option<u64>,
    /// Who calls (for the fallback leg's caller ID).
    caller: caller::Caller,
    /// The voice note being recorded, while the IVR's `Record` runs.
    voice_note: Option<VoiceNote>,
    /// While holding: when the place in the queue was last said.
    last_announcement: Option<Instant>,
    announce_token: Option<u64>,
    /// While holding: the dialer's commands (connect the nurse).
    held_commands: Option<mpsc::UnboundedReceiver<HeldCommand>>,
    /// Connected to a nurse: dropped when this call ends, which tells the dialer.
    nurse_connected: Option<tokio::sync::oneshot::Sender<()>>,
    /// The call-detail row, written when the call ends.
    cdr: InboundRecord,
    /// Store work running beside this loop.
    store: StoreJobs,
    /// Our SIP port (for the Via and Contact of a leg we start).
    sip_port: u16,
    /// The leg to the fallback destination, once the session asked for it.
    fallback: Option<fallback::FallbackLeg>,
}

impl Call {
    fn new(ctx: Arc<InboundCalls>, call: NewCall, sip: mpsc::UnboundedSender<SipCommand>) -> Self {
        let local_tag = new_tag();
        let dialog = Dialog::from_invite(&call.info, local_tag);
        let advertise = ctx.advertise_ip;
        let sip_port = call.local_sip.map(|a| a.port()).unwrap_or(5060);
        let caller = caller::caller(&call.info, &call.request, call.identity_trusted);
        let store = StoreJobs::new(ctx.booking.clone(), ctx.tasks.clone());
        let session = Session::new(
            ctx.flow.clone(),
            ctx.triage.clone(),
            CallInfo {
                caller_id: caller.number.clone(),
                identity: caller.identity,
                fallback: ctx.config.fallback().is_some(),
                store_down: call.store_down,
            },
            std::time::Instant::now(),
        );
        // A call over TLS names our TLS port in Contact and Via.
        let dialog_port = match (call.peer.transport, call.tls_port) {
            (Transport::Tls, Some(port)) => port,
            _ => sip_port,
        };
        Call {
            via_host: format!("{advertise}:{dialog_port}"),
            local: LocalMedia {
                ip: advertise,
                port: 0,
                session_id: rand::thread_rng().gen_range(1..u32::MAX as u64),
                version: 1,
            },
            ctx,
            sip,
            invite: call.request,
            info: call.info,
            invite_tx: call.tx,
            caller,
            peer: call.peer,
            dialog,
            stream: None,
            media_events: None,
            offer: None,
            secure: SecureMedia::Plain,
            session,
            answered: false,
            ended: false,
            closing_until: None,
            holding: false,
            held_case: None,
            hold_token: None,
            voice_note: None,
            held_commands: None,
            nurse_connected: None,
            cdr: InboundRecord::new(chrono::Utc::now()),
            store,
            last_announcement: None,
            announce_token: None,
            sip_port,
            fallback: None,
        }
    }

    async fn run(&mut self, mut inbox: mpsc::UnboundedReceiver<CallInput>) {
        if self.ctx.config.ring_ms > 0 && !self.ring(&mut inbox).await {
            return;
        }
        if !self.answer() {
            return;
        }
        self.cdr.answered_at = Some(chrono::Utc::now());
        self.run_answered(&mut inbox).await;
        let store = self.ctx.booking.store().clone();
        self.cdr.write(&store).await;
    }

    async fn run_answered(&mut self, inbox: &mut mpsc::UnboundedReceiver<CallInput>) {
        while !self.ended {
            let ivr_deadline = self.session.poll_timeout().map(Instant::from_std);
            let media_events = &mut self.media_events;
            let media = async {
                match media_events.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let voice = VoiceNote::next_frame(&mut self.voice_note);
            let held_commands = &mut self.held_commands;
            let held = async {
                match held_commands.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let fallback_leg = &mut self.fallback;
            let fallback = async {
                match fallback_leg.as_mut() {
                    Some(leg) => leg.events.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                input = inbox.recv() => match input {
                    Some(input) => self.on_input(input).await,
                    None => break,
                },
                Some(ev) = media => self.on_media(ev).await,
                frame = voice => {
                    if self.voice_note.as_mut().is_some_and(|n| n.push(&frame)) {
                        self.session.handle(std::time::Instant::now(), IvrEvent::CallerSpeaking);
                    }
                }
                Some(cmd) = held => self.on_held_command(cmd).await,
                Some(ev) = fallback => self.on_fallback(ev).await,
                reply = self.store.next() => self.on_store_reply(reply).await,
                _ = sleep_until(ivr_deadline) => {
                    self.session.handle_timeout(std::time::Instant::now());
                    self.drive().await;
                }
                _ = sleep_until(self.closing_until) => self.hangup().await,
            }
        }
    }

    fn respond(&self, tx: TxId, req: &rsip::Request, status: u16, sdp_body: Option<String>) {
        let mut resp = message::response_to(req, status, Some(&self.dialog.local_tag));
        if status / 100 == 2 && req.method == Method::Invite || req.method == Method::Update {
            message::add_header(
                &mut resp.headers,
                "Contact",
                super::signal::contact(
                    "1177",
                    &self.via_host,
                    self.peer.transport,
                    self.info.uri.starts_with("sips:"),
                ),
            );
            message::add_header(&mut resp.headers, "Allow", ALLOW);
            message::add_header(&mut resp.headers, "Supported", "timer");
        }
        if let Some(body) = sdp_body {
            message::add_header(&mut resp.headers, "Content-Type", "application/sdp");
            resp.body = body.into_bytes();
        }
        let _ = self.sip.send(SipCommand::Respond { tx, response: resp });
    }

    fn reject(&self, status: u16, reason: &str) {
        let resp = crate::sip::stateless::with_reason(
            message::response_to(&self.invite, status, Some(&self.dialog.local_tag)),
            reason,
        );
        let _ = self.sip.send(SipCommand::Respond {
            tx: self.invite_tx,
            response: resp,
        });
    }

    /// Sends 180 and waits `ring_ms`; false when the caller cancelled meanwhile.
    async fn ring(&mut self, inbox: &mut mpsc::UnboundedReceiver<CallInput>) -> bool {
        let invite = self.invite.clone();
        self.respond(self.invite_tx, &invite, 180, None);
        let until = Instant::now() + std::time::Duration::from_millis(self.ctx.config.ring_ms);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return true,
                input = inbox.recv() => match input {
                    Some(CallInput::Cancelled) => {
                        self.reject(487, "cancelled");
                        self.session.handle(std::time::Instant::now(), IvrEvent::Hangup);
                        return false;
                    }
                    Some(CallInput::Shutdown) | None => {
                        self.reject(503, "service stopping");
                        return false;
                    }
                    Some(_) => {}
                },
            }
        }
    }

    /// Negotiates media and sends the 200. Returns false when the call ended.
    fn answer(&mut self) -> bool {
        let offer = if self.invite.body.is_empty() {
            None
        } else {
            match sdp::parse_audio(&self.invite.body) {
                Ok(o) => Some(o),
                Err(SdpError::NoCommonCodec) => {
                    self.ctx.metrics.calls_rejected_codec.inc();
                    info!("offer has no PCMU/PCMA: 488");
                    self.reject(488, "only PCMU and PCMA audio are supported");
                    return false;
                }
                Err(e) => {
                    self.reject(400, &e.to_string());
                    return false;
                }
            }
        };
        let policy = self.ctx.config.srtp;
        let transport = self.peer.transport;
        let secure = match &offer {
            Some(o) => secure_media::negotiate(policy, o, transport),
            // Our offer in the 200 is plain RTP.
            None if policy == crate::config::SrtpPolicy::RequiredOnTls
                && transport == Transport::Tls =>
            {
                Err("SRTP is required for calls over TLS: send an SDP offer with a=crypto")
            }
            None => Ok(SecureMedia::Plain),
        };
        match secure {
            Ok(s) => self.secure = s,
            Err(reason) => {
                self.ctx.metrics.calls_rejected_srtp.inc();
                info!(reason, "offer refused for SRTP: 488");
                self.reject(488, reason);
                return false;
            }
        }
        // Late offer: assume PCMU towards the INVITE's source until the ACK answers.
        let params = match &offer {
            Some(o) => self.stream_params(o),
            None => StreamParams {
                codec: crate::media::g711::Codec::Pcmu,
                payload_type: 0,
                telephone_event_pt: Some(101),
                remote: self.peer.addr,
                trust: self
                    .ctx
                    .media
                    .trust(self.peer.addr.ip(), self.peer.addr.ip()),
            },
        };
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let stream = match self
            .ctx
            .media
            .open_secure(params, self.secure.keys(), events_tx)
        {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "no media port: 503");
                self.ctx.metrics.calls_rejected_overload.inc();
                self.reject(503, "no media capacity");
                return false;
            }
        };
        // Late offer: nothing is sent until the ACK brings the answer.
        if offer.as_ref().map(|o| o.is_hold()).unwrap_or(true) {
            stream.set_hold(true);
        }
        self.local.port = stream.local_port();
        let body = match &offer {
            Some(o) => sdp::answer_with_crypto(&self.local, o, self.secure.answer()),
            None => sdp::offer(&self.local),
        };
        if self.secure.keys().is_some() {
            self.ctx.metrics.calls_srtp.inc();
            debug!("media is SRTP");
        }
        self.stream = Some(stream);
        self.media_events = Some(events_rx);
        self.offer = offer;
        let invite = self.invite.clone();
        self.respond(self.invite_tx, &invite, 200, Some(body));
        self.answered = true;
        debug!("answered");
        true
    }

    async fn on_input(&mut self, input: CallInput) {
        match input {
            CallInput::Ack { request } => {
                if self.offer.is_none() {
                    // Late offer: the ACK must carry the answer (RFC 3264 section 5).
                    match sdp::parse_audio(&request.body) {
                        Ok(answer) => {
                            self.apply_offer(&answer);
                            self.offer = Some(answer);
                        }
                        Err(e) => {
                            info!(error = %e, "late-offer ACK without a usable answer: BYE");
                            self.hangup().await;
                            return;
                        }
                    }
                }
                self.session
                    .handle(std::time::Instant::now(), IvrEvent::Answered);
                self.drive().await;
            }
            CallInput::Cancelled => {
                // The layer answered the CANCEL; our INVITE gets 487 unless already answered.
                if !self.answered {
                    self.reject(487, "cancelled");
                }
                self.finish_hangup().await;
            }
            CallInput::AckTimeout => {
                info!("2xx never acknowledged: BYE");
                self.hangup().await;
            }
            CallInput::Request { tx, request, info } => self.in_dialog(tx, *request, *info).await,
            CallInput::Response { .. } | CallInput::Timeout => {}
            CallInput::Shutdown => self.close().await,
        }
    }

    /// The service stops: the caller hears why (at most `CLOSING_MAX`), then BYE.
    async fn close(&mut self) {
        self.session
            .handle(std::time::Instant::now(), IvrEvent::Closing);
        if !self.session.is_closing() {
            self.hangup().await;
            return;
        }
        self.closing_until = Some(Instant::now() + CLOSING_MAX);
        self.drive().await;
    }

    async fn in_dialog(&mut self, tx: TxId, request: rsip::Request, info: RequestInfo) {
        debug!(method = %info.method, cseq = info.cseq, "in-dialog request");
        if !self.dialog.accept_remote_cseq(info.cseq) {
            self.respond(tx, &request, 500, None);
            return;
        }
        match info.method {
            Method::Bye => {
                self.respond(tx, &request, 200, None);
                self.finish_hangup().await;
            }
            Method::Info => {
                let ct = info.content_type.clone().unwrap_or_default();
                match key_from_info(&ct, &request.body) {
                    Ok(key) => {
                        self.respond(tx, &request, 200, None);
                        self.ctx.metrics.digit(DtmfSource::SipInfo);
                        self.session
                            .handle(std::time::Instant::now(), IvrEvent::Digit(key));
                        self.drive().await;
                    }
                    Err(InfoDtmfError::UnsupportedType) => self.respond(tx, &request, 415, None),
                    Err(InfoDtmfError::NoKey) => self.respond(tx, &request, 400, None),
                }
            }
            Method::Invite | Method::Update => {
                self.dialog.set_remote_target(info.contact.as_deref());
                if request.body.is_empty() {
                    // Session refresh: answer with the session we have.
                    let body = self
                        .offer
                        .as_ref()
                        .map(|o| sdp::answer_with_crypto(&self.local, o, self.secure.answer()));
                    self.respond(tx, &request, 200, body);
                    return;
                }
                match sdp::parse_audio(&request.body) {
                    Ok(o) => {
                        let policy = self.ctx.config.srtp;
                        let (secure, rekey) = match secure_media::renegotiate(
                            &self.secure,
                            policy,
                            &o,
                            self.peer.transport,
                        ) {
                            Ok(next) => next,
                            Err(reason) => {
                                info!(reason, "re-offer refused for SRTP: 488");
                                self.respond(tx, &request, 488, None);
                                return;
                            }
                        };
                        if rekey {
                            let set = self.stream.as_ref().map(|s| s.set_srtp(secure.keys()));
                            if let Some(Err(e)) = set {
                                warn!(error = %e, "re-offer: SRTP not set up: 488");
                                self.respond(tx, &request, 488, None);
                                return;
                            }
                        }
                        self.secure = secure;
                        self.apply_offer(&o);
                        self.local.version += 1;
                        let body = sdp::answer_with_crypto(&self.local, &o, self.secure.answer());
                        self.offer = Some(o);
                        self.respond(tx, &request, 200, Some(body));
                    }
                    Err(SdpError::NoCommonCodec) => self.respond(tx, &request, 488, None),
                    Err(_) => self.respond(tx, &request, 400, None),
                }
            }
            Method::Options => self.respond(tx, &request, 200, None),
            _ => self.respond(tx, &request, 501, None),
        }
    }

    fn apply_offer(&self, o: &AudioOffer) {
        if let Some(stream) = &self.stream {
            stream.update(self.stream_params(o));
            stream.set_hold(o.is_hold());
        }
    }

    /// The stream for an offer (or answer): media goes at once only to the
    /// media networks of the trunk the INVITE came from (`media::latch`).
    fn stream_params(&self, o: &AudioOffer) -> StreamParams {
        StreamParams {
            codec: o.codec,
            payload_type: o.payload_type,
            telephone_event_pt: o.telephone_event_pt,
            remote: o.remote,
            trust: self.ctx.media.trust(self.peer.addr.ip(), o.remote.ip()),
        }
    }

    async fn on_media(&mut self, ev: MediaEvent) {
        let now = std::time::Instant::now();
        match ev {
            MediaEvent::Digit { key, source } => {
                self.ctx.metrics.digit(source);
                self.session.handle(now, IvrEvent::Digit(key));
            }
            MediaEvent::PlaybackDone { token } => {
                let ours = Some(token) == self.hold_token || Some(token) == self.announce_token;
                if self.holding && ours {
                    if Some(token) == self.hold_token && self.announce_due() {
                        self.announce_place();
                    } else {
                        self.play_hold_music();
                    }
                    return;
                }
                self.session.handle(now, IvrEvent::PlaybackDone { token });
            }
            MediaEvent::RtpTimeout => {
                info!("RTP timeout: caller gone");
                self.ctx.metrics.rtp_timeouts.inc();
                self.hangup().await;
                return;
            }
        }
        self.drive().await;
    }

    /// Carries out the session's actions until it has none.
    async fn drive(&mut self) {
        while let Some(action) = self.session.poll_action() {
            match action {
                IvrAction::Play { prompts, token, .. } => {
                    let clips = prompts
                        .iter()
                        .filter_map(|p| {
                            let clip = self.ctx.prompts.lookup(p.lang.code(), &p.id);
                            if clip.is_none() {
                                warn!(prompt = %p.id, lang = %p.lang, "prompt missing");
                            }
                            clip
                        })
                        .collect();
                    if let Some(s) = &self.stream {
                        s.play(clips, token);
                    }
                }
                IvrAction::PlayMessage {
                    slot,
                    language,
                    token,
                } => {
                    let clips = self.ctx.messages.clips(&slot, language, &self.ctx.prompts);
                    if let Some(s) = &self.stream {
                        s.play(clips, token);
                    }
                }
                IvrAction::StopPlayback => {
                    if let Some(s) = &self.stream {
                        s.stop_playback();
                    }
                }
                // Store work runs beside the loop; its answer comes back
                // through `on_store_reply`. A `None` estimate (offer closed,
                // after hours, store unreadable) is the IVR's closed path.
                IvrAction::RequestEstimate { level } => self.store.estimate(level),
                IvrAction::RegisterCase(draft) => {
                    self.store.register(draft, self.info.call_id.clone());
                }
                IvrAction::RecordContact(draft) => self.record_contact(draft),
                IvrAction::FindBookedCallback { number } => self.store.find_booked(number),
                IvrAction::CancelCase { case_id } => self.store.cancel(case_id),
                IvrAction::Record { case_id, max } => {
                    self.voice_note = VoiceNote::start(self.stream.as_ref(), &case_id, max);
                }
                IvrAction::StopRecording { reason } => {
                    if !self.stop_voice_note(reason) {
                        self.session.handle(
                            std::time::Instant::now(),
                            IvrEvent::RecordingDone { saved: false },
                        );
                    }
                }
                IvrAction::Hold => {
                    self.holding = true;
                    self.play_hold_music();
                    self.offer_to_nurses();
                }
                IvrAction::Transfer => self.transfer(),
                IvrAction::Hangup => {
                    self.hangup().await;
                    return;
                }
                IvrAction::Outcome(outcome) => {
                    info!(outcome = ?outcome, "IVR finished");
                    self.ctx.metrics.outcome(&outcome);
                    self.cdr.outcome(&outcome);
                    self.record_abandonment(&outcome);
                }
            }
        }
    }

    /// A store job answered: tell the session (it ignores an answer that
    /// comes after its deadline) and carry on.
    async fn on_store_reply(&mut self, reply: StoreReply) {
        let event = match reply {
            StoreReply::Estimate(CallerOffer::Callback(at)) => IvrEvent::Estimate(Some(at)),
            StoreReply::Estimate(CallerOffer::Closed) => IvrEvent::Estimate(None),
            StoreReply::Estimate(CallerOffer::Advice) => IvrEvent::AdviseOtherRoute,
            StoreReply::Registered {
                mode,
                level,
                result,
            } => self.registered(mode, level, result),
            StoreReply::Booked(booked) => IvrEvent::BookedCallback(booked),
            StoreReply::Cancelled { done: true, .. } => IvrEvent::CaseCancelled,
            StoreReply::Cancelled { done: false, .. } => IvrEvent::CaseCancelFailed,
            StoreReply::VoiceNote { saved } => IvrEvent::RecordingDone { saved },
        };
        self.session.handle(std::time::Instant::now(), event);
        self.drive().await;
    }

    /// Keeps a stored hold-mode case (it must become a callback if the
    /// caller leaves, even one the session no longer waited for).
    fn registered(
        &mut self,
        mode: CaseMode,
        level: u8,
        result: Result<(String, crate::ivr::ClockTime), String>,
    ) -> IvrEvent {
        match result {
            Ok((case_id, callback_at)) => {
                info!(case = %case_id, level, "case registered");
                if mode == CaseMode::Hold {
                    self.held_case = Some(case_id.clone());
                }
                self.ctx.metrics.cases_registered.inc();
                IvrEvent::CaseStored {
                    case_id,
                    callback_at,
                }
            }
            Err(e) => {
                warn!(error = %e, "case could not be stored");
                self.ctx.metrics.case_store_failures.inc();
                IvrEvent::CaseStoreFailed
            }
        }
    }

    /// Stores where the caller left the IVR, beside the loop (abandonments only).
    fn record_abandonment(&self, outcome: &crate::ivr::CallOutcome) {
        let deadline = self.ctx.flow.settings().store_timeout;
        super::abandonment::record(&self.ctx.tasks, self.ctx.booking.store(), outcome, deadline);
    }

    /// Stores a self-care contact beside the loop, within the store deadline.
    fn record_contact(&self, draft: crate::ivr::CaseDraft) {
        let deadline = self.ctx.flow.settings().store_timeout;
        let call_id = self.info.call_id.clone();
        self.store
            .record_contact(draft, call_id, deadline, self.ctx.metrics.clone());
    }

    /// Stops the recording in progress and stores it beside the loop; false
    /// when there was none (nothing will answer).
    fn stop_voice_note(&mut self, reason: RecordingEnd) -> bool {
        match self.voice_note.take() {
            Some(note) => {
                note.stop_tap(self.stream.as_ref());
                self.store.save_voice_note(note, reason);
                true
            }
            None => false,
        }
    }

    /// The caller left (BYE, CANCEL).
    async fn finish_hangup(&mut self) {
        self.cdr.ended_by_caller = true;
        self.end_ivr("caller hung up").await;
        self.ended = true;
    }

    /// We end the call (IVR done, RTP gone, no ACK, shutdown): BYE inside the dialog.
    async fn hangup(&mut self) {
        if self.ended {
            return;
        }
        if self.answered {
            let branch = format!("z9hG4bK{}", new_tag());
            let bye =
                self.dialog
                    .request(Method::Bye, &self.via_host, self.peer.transport, &branch);
            let _ = self.sip.send(SipCommand::Request {
                call_id: self.info.call_id.clone(),
                peer: self.peer,
                request: bye,
            });
        }
        self.end_ivr("call ended").await;
        self.ended = true;
    }

    /// Records how the IVR ended and keeps a held case as a callback
    /// (DESIGN.md section 4: a caller who leaves the queue keeps the case).
    async fn end_ivr(&mut self, why: &str) {
        if !self.session.is_finished() {
            self.session
                .handle(std::time::Instant::now(), IvrEvent::Hangup);
            while let Some(action) = self.session.poll_action() {
                match action {
                    IvrAction::Outcome(o) => {
                        info!(outcome = ?o, "{why}");
                        self.ctx.metrics.outcome(&o);
                        self.cdr.outcome(&o);
                        self.record_abandonment(&o);
                    }
                    // A caller who hangs up mid-note keeps what they said.
                    IvrAction::StopRecording { reason } => {
                        self.stop_voice_note(reason);
                    }
                    // Dropped after triage: registered all the same.
                    IvrAction::RegisterCase(draft) => {
                        info!(level = draft.level, "caller left after triage: registering");
                        self.store.register(draft, self.info.call_id.clone());
                    }
                    // Left after self-care advice: the contact still counts.
                    IvrAction::RecordContact(draft) => self.record_contact(draft),
                    _ => {}
                }
            }
        }
        self.nurse_connected = None;
        self.held_commands = None;
        // A ringing fallback is cancelled, a bridged one gets our BYE.
        self.fallback = None;
        // Answers that came in but were not read: a stored held case must
        // still become a callback below.
        for reply in self.store.close() {
            if let StoreReply::Registered {
                mode,
                level,
                result,
            } = reply
            {
                self.registered(mode, level, result);
            }
        }
        if let Some(id) = self.held_case.take() {
            self.ctx.held.remove(&id);
            if let Err(e) = self.ctx.booking.holding_caller_left(&id).await {
                warn!(error = %e, "could not turn the held case into a callback");
            }
        }
    }
}
