//! One outbound call leg (we are the UAC): INVITE with our SDP offer,
//! provisional responses and early media, digest authentication on 401/407,
//! ring timeout and cancel (CANCEL, then the 487), the ACK for the 2xx, and
//! afterwards the dialog until either side hangs up.

use super::dial_failure::DialFailure;
use super::secure_media::{self, SecureMedia};
use super::signal::{new_tag, CallInput, SipCommand};
use super::{sleep_until, SipHandle};
use crate::config::TrunkConfig;
use crate::media::dtmf::DtmfSource;
use crate::media::engine::{MediaEngine, MediaEvent, MediaStream, StreamLink, StreamParams};
use crate::sdp::{self, AudioOffer, LocalMedia};
use crate::sip::dialog::Dialog;
use crate::sip::dtmf_info::{key_from_info, InfoDtmfError};
use crate::sip::message::{self, RequestInfo};
use crate::sip::{Peer, Transport};
use chrono::{DateTime, Utc};
use rand::Rng;
use rsip::{Method, SipMessage};
use std::net::IpAddr;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

/// How long a cancelled INVITE may take to end (487) before we stop waiting.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// Whom to call and how.
#[derive(Clone)]
pub struct Target {
    /// Request-URI (and To): `sip:+46701234567@trunk.example.net`, or a phone's contact.
    pub uri: String,
    /// Where the INVITE goes: the trunk's proxy, or where the phone registered from.
    pub peer: Peer,
    /// Digest credentials for a 401/407 from this target.
    pub credentials: Option<(String, String)>,
    /// CANCEL after this long without an answer.
    pub ring_timeout: Duration,
}

impl Target {
    /// The resident at `number` (E.164), through the trunk.
    pub fn resident(trunk: &TrunkConfig, number: &str) -> Target {
        Target {
            uri: format!("sip:{number}@{}", trunk.domain),
            peer: Peer {
                addr: trunk.proxy_addr(),
                transport: Transport::Udp,
                conn: None,
            },
            credentials: trunk
                .credentials()
                .map(|(u, p)| (u.to_string(), p.to_string())),
            ring_timeout: trunk.ring_timeout(),
        }
    }
}

/// Who we are in From (and the asserted identity).
#[derive(Clone)]
pub struct Caller {
    pub number: String,
    pub display: String,
}

impl Caller {
    /// Who the resident sees calling through the trunk.
    pub fn through(trunk: &TrunkConfig) -> Caller {
        Caller {
            number: trunk.from_number.clone(),
            display: trunk.from_display.clone(),
        }
    }
}

/// What happens before an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// 180, or 183 without SDP.
    Ringing,
    /// 183 with SDP: the network plays tones or announcements to us.
    EarlyMedia,
}

/// What an answered leg reports.
#[derive(Debug)]
pub enum LegEvent {
    /// The far end sent BYE (already answered 200).
    RemoteHangup,
    Media(MediaEvent),
    /// The service is stopping.
    Shutdown,
}

/// The fixed parts of our INVITE, re-rendered for the authenticated retry
/// and the CANCEL.
struct InviteParts {
    uri: String,
    via_host: String,
    transport: Transport,
    from: String,
    from_tag: String,
    call_id: String,
    contact: String,
    asserted: String,
    user_agent: String,
    sdp: String,
}

impl InviteParts {
    fn render(&self, method: Method, cseq: u32, branch: &str, auth: Option<&str>) -> String {
        let mut text = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/{tr} {via};branch={branch};rport\r\n\
Max-Forwards: 70\r\nFrom: {from};tag={tag}\r\nTo: <{uri}>\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\n",
            uri = self.uri,
            tr = self.transport.via_token(),
            via = self.via_host,
            from = self.from,
            tag = self.from_tag,
            cid = self.call_id,
        );
        if method == Method::Cancel {
            text.push_str("Content-Length: 0\r\n\r\n");
            return text;
        }
        if let Some(a) = auth {
            text.push_str(a);
            text.push_str("\r\n");
        }
        text.push_str(&format!(
            "Contact: {contact}\r\nP-Asserted-Identity: {pai}\r\nAllow: {allow}\r\nUser-Agent: {ua}\r\n\
Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            contact = self.contact,
            pai = self.asserted,
            allow = super::signal::ALLOW,
            ua = self.user_agent,
            len = self.sdp.len(),
            sdp = self.sdp,
        ));
        text
    }
}

fn parse_request(text: &str) -> Option<rsip::Request> {
    match message::parse(text.as_bytes()) {
        Ok(SipMessage::Request(r)) => Some(r),
        _ => None,
    }
}

/// An answered outbound leg.
pub struct Leg {
    sip: SipHandle,
    call_id: String,
    dialog: Dialog,
    peer: Peer,
    via_host: String,
    ack: rsip::Request,
    pub stream: MediaStream,
    /// For the trust of a re-INVITE's address.
    engine: MediaEngine,
    media: mpsc::UnboundedReceiver<MediaEvent>,
    inbox: mpsc::UnboundedReceiver<CallInput>,
    local: LocalMedia,
    offer_answer: AudioOffer,
    /// Plain RTP or SRTP with SDES keys (never logged).
    secure: SecureMedia,
    pub started_at: DateTime<Utc>,
    pub answered_at: DateTime<Utc>,
    hung_up: bool,
    remote_hung_up: bool,
}

/// Where the new leg's media goes in relation to a stream we already have.
#[derive(Clone, Copy)]
pub enum Placement<'a> {
    /// Anywhere.
    Alone,
    /// On the same media worker, so the two can be bridged later.
    Beside(&'a StreamLink),
    /// Bridged at once: the far end's early media (183) reaches that
    /// stream; nothing goes the other way until the answer.
    Bridged(&'a StreamLink),
}

/// Calls `target`. On answer the returned leg's stream sends to the answer's
/// address. `cancel` ends a ringing attempt (CANCEL) with
/// `DialFailure::Cancelled`.
pub async fn dial(
    sip: &SipHandle,
    media: &MediaEngine,
    target: &Target,
    caller: &Caller,
    placement: Placement<'_>,
    cancel: &CancellationToken,
    mut progress: impl FnMut(Progress),
) -> Result<Leg, (DialFailure, DateTime<Utc>)> {
    let started_at = Utc::now();
    let fail = |f: DialFailure| (f, started_at);
    let advertise = sip.advertise_ip;
    let via_host = sip.host_for(target.peer.transport);
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    // Until the answer names the real address, send towards the proxy; held
    // means nothing is actually sent before the answer.
    let signalling = target.peer.addr.ip();
    let params = StreamParams {
        codec: crate::media::g711::Codec::Pcmu,
        payload_type: 0,
        telephone_event_pt: Some(101),
        remote: target.peer.addr,
        trust: media.trust(signalling, signalling),
    };
    let opened = match placement {
        Placement::Beside(link) | Placement::Bridged(link) => {
            media.open_beside(link, params, events_tx)
        }
        Placement::Alone => media.open(params, events_tx),
    };
    let stream = opened.map_err(|e| {
        info!(error = %e, "no media port for an outbound leg");
        fail(DialFailure::Failed(None))
    })?;
    // Held: nothing is sent towards the far end before its answer.
    stream.set_hold(true);
    if let Placement::Bridged(link) = placement {
        if let Err(e) = stream.bridge(link) {
            info!(error = %e, "early media will not be heard");
        }
    }
    let local = LocalMedia {
        ip: advertise,
        port: stream.local_port(),
        session_id: rand::thread_rng().gen_range(1..u32::MAX as u64),
        version: 1,
    };
    let call_id = format!("{}@{advertise}", uuid::Uuid::new_v4());
    let our_key = secure_media::our_offer(sip.srtp, target.peer.transport);
    // SRTP keys already given to the stream (early media), not to be reset.
    let mut keyed: Option<SecureMedia> = None;
    let parts = InviteParts {
        uri: target.uri.clone(),
        via_host: via_host.clone(),
        transport: target.peer.transport,
        from: format!(
            "\"{}\" <sip:{}@{advertise}>",
            caller.display.replace('"', ""),
            caller.number
        ),
        from_tag: new_tag(),
        call_id: call_id.clone(),
        contact: super::signal::contact(
            &caller.number,
            &via_host,
            target.peer.transport,
            target.uri.starts_with("sips:"),
        ),
        asserted: format!("<sip:{}@{advertise}>", caller.number),
        user_agent: sip.user_agent.clone(),
        sdp: sdp::offer_with_crypto(
            &local,
            our_key.as_ref().map(|(c, _)| c),
            our_key.as_ref().is_some_and(|(_, savp)| *savp),
        ),
    };
    let (inbox_tx, mut inbox) = mpsc::unbounded_channel();
    let _ = sip.commands.send(SipCommand::Attach {
        call_id: call_id.clone(),
        inbox: inbox_tx,
    });
    let ended = |sip: &SipHandle| {
        let _ = sip.commands.send(SipCommand::Ended {
            call_id: call_id.clone(),
        });
    };

    // Renders and sends our INVITE (`cseq`, `branch`, optional credentials);
    // its fields are what the 2xx's dialog is built from.
    let send_invite = |cseq: u32, branch: &str, auth: Option<&str>| {
        let request = parse_request(&parts.render(Method::Invite, cseq, branch, auth))?;
        let info = RequestInfo::from_request(&request).ok()?;
        let _ = sip.commands.send(SipCommand::Request {
            call_id: call_id.clone(),
            peer: target.peer,
            request,
        });
        Some(info)
    };
    let mut cseq = 1u32;
    let mut branch = format!("z9hG4bK{}", new_tag());
    let Some(mut invite_info) = send_invite(cseq, &branch, None) else {
        ended(sip);
        return Err(fail(DialFailure::Failed(None)));
    };
    let mut authenticated = false;
    let ring_until = tokio::time::Instant::now() + target.ring_timeout;
    let mut cancelled: Option<(DialFailure, tokio::time::Instant)> = None;
    loop {
        let give_up = cancelled.map(|(_, at)| at);
        tokio::select! {
            input = inbox.recv() => {
                let Some(input) = input else {
                    ended(sip);
                    return Err(fail(DialFailure::Failed(None)));
                };
                match input {
                    CallInput::Response { response, info } if info.cseq_method == Method::Invite && info.cseq == cseq => {
                        let status = info.status;
                        match status {
                            100..=199 => {
                                if status == 100 { continue; }
                                if !response.body.is_empty() {
                                    if let Ok(early) = sdp::parse_audio(&response.body) {
                                        if let Ok(s) = secure_media::from_answer(our_key.as_ref(), &early) {
                                            if s.keys().is_some() && stream.set_srtp(s.keys()).is_ok() {
                                                keyed = Some(s);
                                            }
                                        }
                                        stream.update(params_of(media, signalling, &early));
                                        progress(Progress::EarlyMedia);
                                        continue;
                                    }
                                }
                                progress(Progress::Ringing);
                            }
                            200..=299 => {
                                let mut dialog = Dialog::from_uac(&invite_info, &info);
                                let ack = ack_for_2xx(&mut dialog, &via_host, target.peer.transport);
                                let _ = sip.commands.send(SipCommand::Stateless {
                                    peer: target.peer,
                                    message: SipMessage::Request(ack.clone()),
                                });
                                let answer = sdp::parse_audio(&response.body);
                                let Ok(answer) = answer else {
                                    // An answer without usable audio: nothing to talk over.
                                    info!("2xx without a usable SDP answer: BYE");
                                    send_bye(sip, &mut dialog, &via_host, target.peer, &call_id);
                                    ended(sip);
                                    return Err(fail(DialFailure::Failed(Some(status))));
                                };
                                if let Some((why, _)) = cancelled {
                                    // 200 crossed our CANCEL: the call is up, end it.
                                    send_bye(sip, &mut dialog, &via_host, target.peer, &call_id);
                                    ended(sip);
                                    return Err(fail(why));
                                }
                                let secure = match secure_media::from_answer(our_key.as_ref(), &answer) {
                                    Ok(s) if keyed.as_ref() == Some(&s) => s,
                                    Ok(s) => match stream.set_srtp(s.keys()) {
                                        Ok(()) => s,
                                        Err(_) => SecureMedia::Plain,
                                    },
                                    Err(reason) => {
                                        info!(reason, "answer refused for SRTP: BYE");
                                        send_bye(sip, &mut dialog, &via_host, target.peer, &call_id);
                                        ended(sip);
                                        return Err(fail(DialFailure::Failed(Some(status))));
                                    }
                                };
                                if our_key.is_some() && secure.keys().is_none() && keyed.is_some() {
                                    // Early media was SRTP, the answer is plain.
                                    let _ = stream.set_srtp(None);
                                }
                                stream.update(params_of(media, signalling, &answer));
                                stream.set_hold(answer.is_hold());
                                debug!("outbound leg answered");
                                return Ok(Leg {
                                    sip: sip.clone(),
                                    call_id,
                                    dialog,
                                    peer: target.peer,
                                    via_host,
                                    ack,
                                    stream,
                                    engine: media.clone(),
                                    media: events_rx,
                                    inbox,
                                    local,
                                    offer_answer: answer,
                                    secure,
                                    started_at,
                                    answered_at: Utc::now(),
                                    hung_up: false,
                                    remote_hung_up: false,
                                });
                            }
                            401 | 407 if !authenticated && cancelled.is_none() => {
                                let header = if status == 401 { "www-authenticate" } else { "proxy-authenticate" };
                                let offered: Vec<String> = message::header_values(&response.headers, header).collect();
                                let challenge = crate::sip::digest::pick_challenge(offered.iter().map(String::as_str));
                                let auth = match (challenge, &target.credentials) {
                                    (Some(ch), Some((user, pass))) => super::trunk_auth::answer_challenge(
                                        status, ch, "INVITE", &target.uri, user, pass,
                                    ),
                                    _ => None,
                                };
                                let Some(auth) = auth else {
                                    info!(status, "challenge we cannot answer (no trunk credentials, or no MD5 digest offered)");
                                    ended(sip);
                                    return Err(fail(DialFailure::Failed(Some(status))));
                                };
                                authenticated = true;
                                cseq += 1;
                                branch = format!("z9hG4bK{}", new_tag());
                                match send_invite(cseq, &branch, Some(&auth)) {
                                    Some(info) => invite_info = info,
                                    None => {
                                        ended(sip);
                                        return Err(fail(DialFailure::Failed(None)));
                                    }
                                }
                            }
                            _ => {
                                ended(sip);
                                let failure = match cancelled {
                                    Some((why, _)) => why,
                                    // 403 to our credentials: the trunk refuses us (wrong
                                    // password), not the resident refusing the call.
                                    None if authenticated && status == 403 => {
                                        info!(status, "the trunk refused our digest credentials: check trunk.toml username/password");
                                        DialFailure::Failed(Some(status))
                                    }
                                    None => DialFailure::from_status(status),
                                };
                                return Err(fail(failure));
                            }
                        }
                    }
                    CallInput::Timeout => {
                        ended(sip);
                        return Err(fail(cancelled.map(|(w, _)| w).unwrap_or(DialFailure::Failed(None))));
                    }
                    CallInput::Shutdown if cancelled.is_none() => {
                        send_cancel(sip, &parts, cseq, &branch, target.peer, &call_id);
                        cancelled = Some((DialFailure::Cancelled, tokio::time::Instant::now() + CANCEL_GRACE));
                    }
                    _ => {}
                }
            }
            _ = tokio::time::sleep_until(ring_until), if cancelled.is_none() => {
                send_cancel(sip, &parts, cseq, &branch, target.peer, &call_id);
                cancelled = Some((DialFailure::NoAnswer(None), tokio::time::Instant::now() + CANCEL_GRACE));
            }
            _ = cancel.cancelled(), if cancelled.is_none() => {
                send_cancel(sip, &parts, cseq, &branch, target.peer, &call_id);
                cancelled = Some((DialFailure::Cancelled, tokio::time::Instant::now() + CANCEL_GRACE));
            }
            _ = sleep_until(give_up) => {
                ended(sip);
                return Err(fail(cancelled.map(|(w, _)| w).unwrap_or(DialFailure::Failed(None))));
            }
        }
    }
}

/// The stream for the far end's SDP: media goes at once only to the media
/// networks of the trunk our INVITE went to (`signalling`; `media::latch`).
fn params_of(media: &MediaEngine, signalling: IpAddr, a: &AudioOffer) -> StreamParams {
    StreamParams {
        codec: a.codec,
        payload_type: a.payload_type,
        telephone_event_pt: a.telephone_event_pt,
        remote: a.remote,
        trust: media.trust(signalling, a.remote.ip()),
    }
}

fn send_cancel(
    sip: &SipHandle,
    parts: &InviteParts,
    cseq: u32,
    branch: &str,
    peer: Peer,
    call_id: &str,
) {
    // Same branch as the INVITE: it is matched as a separate CANCEL transaction.
    if let Some(request) = parse_request(&parts.render(Method::Cancel, cseq, branch, None)) {
        let _ = sip.commands.send(SipCommand::Request {
            call_id: call_id.to_string(),
            peer,
            request,
        });
    }
}

fn send_bye(sip: &SipHandle, dialog: &mut Dialog, via_host: &str, peer: Peer, call_id: &str) {
    let branch = format!("z9hG4bK{}", new_tag());
    let bye = dialog.request(Method::Bye, via_host, peer.transport, &branch);
    let _ = sip.commands.send(SipCommand::Request {
        call_id: call_id.to_string(),
        peer,
        request: bye,
    });
}

/// The ACK for a 2xx: inside the dialog, with the INVITE's CSeq number.
fn ack_for_2xx(dialog: &mut Dialog, via_host: &str, transport: Transport) -> rsip::Request {
    dialog.ack(via_host, transport, &format!("z9hG4bK{}", new_tag()))
}

impl Leg {
    /// Waits for the next thing that happens on the answered leg.
    pub async fn next(&mut self) -> LegEvent {
        loop {
            tokio::select! {
                input = self.inbox.recv() => match input {
                    None | Some(CallInput::Shutdown) => return LegEvent::Shutdown,
                    Some(CallInput::Request { tx, request, info }) => {
                        if let Some(ev) = self.in_dialog(tx, &request, &info) {
                            return ev;
                        }
                    }
                    Some(CallInput::Response { info, .. }) => {
                        // A retransmitted 2xx: our ACK was lost.
                        if info.cseq_method == Method::Invite && info.status / 100 == 2 {
                            let _ = self.sip.commands.send(SipCommand::Stateless {
                                peer: self.peer,
                                message: SipMessage::Request(self.ack.clone()),
                            });
                        }
                    }
                    Some(_) => {}
                },
                ev = self.media.recv() => match ev {
                    Some(ev) => return LegEvent::Media(ev),
                    None => return LegEvent::Shutdown,
                },
            }
        }
    }

    fn in_dialog(
        &mut self,
        tx: crate::sip::TxId,
        request: &rsip::Request,
        info: &RequestInfo,
    ) -> Option<LegEvent> {
        let respond = |status: u16, body: Option<String>| {
            let mut resp = message::response_to(request, status, None);
            if let Some(b) = body {
                message::add_header(&mut resp.headers, "Content-Type", "application/sdp");
                resp.body = b.into_bytes();
            }
            let _ = self
                .sip
                .commands
                .send(SipCommand::Respond { tx, response: resp });
        };
        if !self.dialog.accept_remote_cseq(info.cseq) {
            respond(500, None);
            return None;
        }
        match info.method {
            Method::Bye => {
                respond(200, None);
                self.hung_up = true;
                self.remote_hung_up = true;
                Some(LegEvent::RemoteHangup)
            }
            Method::Invite | Method::Update => {
                self.dialog.set_remote_target(info.contact.as_deref());
                if request.body.is_empty() {
                    let body = sdp::answer_with_crypto(
                        &self.local,
                        &self.offer_answer,
                        self.secure.answer(),
                    );
                    respond(200, Some(body));
                    return None;
                }
                match sdp::parse_audio(&request.body) {
                    Ok(o) => {
                        let next = secure_media::renegotiate(
                            &self.secure,
                            self.sip.srtp,
                            &o,
                            self.peer.transport,
                        );
                        let secure = match next {
                            Ok((s, false)) => s,
                            Ok((s, true)) if self.stream.set_srtp(s.keys()).is_ok() => s,
                            _ => {
                                respond(488, None);
                                return None;
                            }
                        };
                        self.secure = secure;
                        self.stream
                            .update(params_of(&self.engine, self.peer.addr.ip(), &o));
                        self.stream.set_hold(o.is_hold());
                        self.local.version += 1;
                        let body = sdp::answer_with_crypto(&self.local, &o, self.secure.answer());
                        self.offer_answer = o;
                        respond(200, Some(body));
                    }
                    Err(crate::sdp::SdpError::NoCommonCodec) => respond(488, None),
                    Err(_) => respond(400, None),
                }
                None
            }
            Method::Options => {
                respond(200, None);
                None
            }
            // Keys as SIP INFO (the survey after a callback reads them), like the IVR.
            Method::Info => {
                let ct = info.content_type.clone().unwrap_or_default();
                match key_from_info(&ct, &request.body) {
                    Ok(key) => {
                        respond(200, None);
                        Some(LegEvent::Media(MediaEvent::Digit {
                            key,
                            source: DtmfSource::SipInfo,
                        }))
                    }
                    Err(InfoDtmfError::UnsupportedType) => {
                        respond(415, None);
                        None
                    }
                    Err(InfoDtmfError::NoKey) => {
                        respond(400, None);
                        None
                    }
                }
            }
            _ => {
                respond(501, None);
                None
            }
        }
    }

    /// Ends the leg from our side (BYE), once.
    pub fn hangup(&mut self) {
        if self.hung_up {
            return;
        }
        self.hung_up = true;
        send_bye(
            &self.sip,
            &mut self.dialog,
            &self.via_host,
            self.peer,
            &self.call_id,
        );
    }

    /// `remote` when the far end sent BYE, else `local`.
    pub fn ended_by(&self) -> &'static str {
        if self.remote_hung_up {
            "remote"
        } else {
            "local"
        }
    }

    /// True once either side hung up.
    pub fn is_over(&self) -> bool {
        self.hung_up
    }
}

impl Drop for Leg {
    fn drop(&mut self) {
        self.hangup();
        let _ = self.sip.commands.send(SipCommand::Ended {
            call_id: self.call_id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunk_challenge_headers_are_read_and_the_md5_one_is_answered() {
        let text = "SIP/2.0 407 Proxy Authentication Required\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa\r\n\
From: <sip:1177@127.0.0.1>;tag=a\r\nTo: <sip:+46701234567@trunk.test>;tag=b\r\nCall-ID: c@x\r\nCSeq: 1 INVITE\r\n\
Proxy-Authenticate: Digest realm=\"trunk\", nonce=\"n1\", algorithm=SHA-256, qop=\"auth\"\r\n\
Proxy-Authenticate: Digest realm=\"trunk\", nonce=\"n2\", algorithm=MD5, qop=\"auth\"\r\n\
WWW-Authenticate: Digest realm=\"other\", nonce=\"n3\"\r\nContent-Length: 0\r\n\r\n";
        let Ok(SipMessage::Response(resp)) = message::parse(text.as_bytes()) else {
            panic!("response parses");
        };
        let offered: Vec<String> =
            message::header_values(&resp.headers, "proxy-authenticate").collect();
        assert_eq!(offered.len(), 2, "{offered:?}");
        let picked = crate::sip::digest::pick_challenge(offered.iter().map(String::as_str));
        assert!(picked.is_some_and(|c| c.contains("n2")), "{picked:?}");
        assert_eq!(
            message::header_values(&resp.headers, "www-authenticate").count(),
            1
        );
    }
}
