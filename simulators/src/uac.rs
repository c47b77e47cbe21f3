//! The caller's SIP side as a sans-IO state machine: one INVITE dialog with its
//! client transactions (INVITE with Timer A/B, BYE/CANCEL/INFO with Timer E/F)
//! and the answers to the server's in-dialog requests (BYE, INFO, OPTIONS,
//! re-INVITE). Bytes and time in; bytes, deadlines and events out.
//! Drive rule: after every input or command drain `poll_transmit` and
//! `poll_event`, then wait for input or `poll_timeout()`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rsip::headers::{self, UntypedHeader};
use rsip::message::HasHeaders as _;
use rsip::{Header, Method, SipMessage};

use crate::sip;

/// RFC 3261 T1: first retransmission interval.
pub const T1: Duration = Duration::from_millis(500);
/// RFC 3261 T2: cap for non-INVITE retransmissions.
pub const T2: Duration = Duration::from_secs(4);
/// 64*T1: transaction timeout (Timers B and F).
pub const TIMEOUT: Duration = Duration::from_secs(32);

/// The SIP transport towards the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    fn via(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// Everything the UAC needs to build its requests.
#[derive(Debug, Clone)]
pub struct UacConfig {
    /// Our SIP address as the server should see it (Via, Contact).
    pub local: SocketAddr,
    pub server: SocketAddr,
    pub transport: Transport,
    /// The dialled user, e.g. `1177`.
    pub to_user: String,
    /// Caller ID, e.g. `+46701234567`; `anonymous` withholds it (RFC 3323).
    pub from_user: String,
    /// The SDP offer sent in the INVITE and in answers to re-INVITEs.
    pub sdp_offer: String,
    /// Seeds Call-ID, tags and branches, so a failing run replays exactly.
    pub seed: u64,
    /// More headers for the INVITE (`P-Asserted-Identity`, say).
    pub extra_headers: Vec<(String, String)>,
}

/// Where the call is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallState {
    /// INVITE sent, nothing heard yet.
    Calling,
    /// A provisional response (100/180/183) arrived; the code of the last one.
    Proceeding(u16),
    /// 200 OK received and ACKed.
    Confirmed,
    /// BYE sent, waiting for its response.
    Terminating,
    Terminated(EndReason),
}

/// How the call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// We sent BYE.
    LocalHangup,
    /// The server sent BYE.
    RemoteHangup,
    /// The server refused the INVITE with this final status.
    Rejected(u16),
    /// We cancelled before the answer (487 received).
    Cancelled,
    /// No final response to the INVITE (Timer B). A BYE without a response
    /// still ends as `LocalHangup` after Timer F.
    Timeout,
    /// The TCP connection to the server closed before the call ended.
    TransportError,
}

/// Things the driver or the test wants to know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UacEvent {
    Provisional(u16),
    /// 200 OK to the INVITE, with its SDP answer.
    Answered {
        sdp: Vec<u8>,
    },
    /// An in-dialog request from the server was answered (method, our status).
    RequestReceived {
        method: Method,
        status: u16,
    },
    /// The server sent INFO (already answered 200).
    InfoReceived {
        content_type: Option<String>,
        body: Vec<u8>,
    },
    /// The server re-INVITEd us; the new SDP (we answered with our offer).
    ReInvite {
        sdp: Vec<u8>,
    },
    /// One of our non-INVITE requests got a final response.
    RequestDone {
        method: Method,
        status: u16,
    },
    /// One of our non-INVITE requests never got a final response.
    RequestTimeout {
        method: Method,
    },
    /// The call is over; the state is `Terminated(reason)` from now on.
    Ended(EndReason),
}

/// A command that does not fit the current state.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UacError {
    #[error("the call is not answered yet (or already over)")]
    NotConfirmed,
    #[error("the call is already answered or over; use hangup")]
    NotEarly,
}

struct NonInvite {
    method: Method,
    branch: String,
    bytes: Vec<u8>,
    next_retx: Option<Instant>,
    interval: Duration,
    deadline: Instant,
}

/// One outgoing call's signalling. See the module docs for the drive rule.
pub struct Uac {
    cfg: UacConfig,
    rng: SmallRng,
    call_id: String,
    from_tag: String,
    state: CallState,
    cseq: u32,
    invite_branch: String,
    invite_bytes: Vec<u8>,
    timer_a: Option<(Instant, Duration)>,
    timer_b: Option<Instant>,
    /// Our ACK for the final INVITE response, resent for retransmissions.
    ack_bytes: Option<Vec<u8>>,
    remote_tag: Option<String>,
    remote_target: Option<String>,
    route_set: Vec<String>,
    cancel_wanted: bool,
    cancel_sent: bool,
    txns: Vec<NonInvite>,
    infos: VecDeque<(String, Vec<u8>)>,
    sdp_version: u64,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<UacEvent>,
}

impl Uac {
    /// Builds and queues the INVITE; Timer A (UDP) and Timer B start at `now`.
    pub fn new(cfg: UacConfig, now: Instant) -> Self {
        let mut rng = SmallRng::seed_from_u64(cfg.seed);
        let call_id = format!("{:016x}@pe-caller", rng.gen::<u64>());
        let from_tag = format!("{:08x}", rng.gen::<u32>());
        let mut uac = Uac {
            cfg,
            rng,
            call_id,
            from_tag,
            state: CallState::Calling,
            cseq: 1,
            invite_branch: String::new(),
            invite_bytes: Vec::new(),
            timer_a: None,
            timer_b: Some(now + TIMEOUT),
            ack_bytes: None,
            remote_tag: None,
            remote_target: None,
            route_set: Vec::new(),
            cancel_wanted: false,
            cancel_sent: false,
            txns: Vec::new(),
            infos: VecDeque::new(),
            sdp_version: 1,
            out: VecDeque::new(),
            events: VecDeque::new(),
        };
        uac.invite_branch = uac.new_branch();
        let body = uac.cfg.sdp_offer.clone().into_bytes();
        let branch = uac.invite_branch.clone();
        uac.invite_bytes =
            uac.request(Method::Invite, 1, &branch, Some(("application/sdp", &body)));
        uac.out.push_back(uac.invite_bytes.clone());
        if uac.cfg.transport == Transport::Udp {
            uac.timer_a = Some((now + T1, T1));
        }
        uac
    }

    /// The Call-ID (the key a driver demultiplexes on).
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    pub fn state(&self) -> &CallState {
        &self.state
    }

    /// True once the call is over and no transaction still needs the core
    /// (a driver may drop it then).
    pub fn is_finished(&self) -> bool {
        matches!(self.state, CallState::Terminated(_)) && self.txns.is_empty()
    }

    /// The next message to send to the server.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<UacEvent> {
        self.events.pop_front()
    }

    /// The earliest timer deadline, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let a = self.timer_a.map(|(t, _)| t);
        let txn = self
            .txns
            .iter()
            .map(|t| t.next_retx.map_or(t.deadline, |r| r.min(t.deadline)))
            .min();
        [a, self.timer_b, txn].into_iter().flatten().min()
    }

    /// Fires every timer due at `now` (idempotent).
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some((at, interval)) = self.timer_a {
            if at <= now {
                self.out.push_back(self.invite_bytes.clone());
                let next = interval * 2; // Timer A doubles without a cap
                self.timer_a = Some((now + next, next));
            }
        }
        if let Some(b) = self.timer_b {
            if b <= now {
                self.timer_a = None;
                self.timer_b = None;
                if matches!(self.state, CallState::Calling | CallState::Proceeding(_)) {
                    self.end(EndReason::Timeout);
                }
            }
        }
        let mut timed_out = Vec::new();
        for t in &mut self.txns {
            if t.deadline <= now {
                timed_out.push(t.method);
                continue;
            }
            if let Some(r) = t.next_retx {
                if r <= now {
                    self.out.push_back(t.bytes.clone());
                    t.interval = (t.interval * 2).min(T2);
                    t.next_retx = Some(now + t.interval);
                }
            }
        }
        self.txns.retain(|t| t.deadline > now);
        for method in timed_out {
            self.events.push_back(UacEvent::RequestTimeout { method });
            self.after_request_done(method, now);
        }
    }

    /// Feeds one parsed message from the server.
    pub fn handle_message(&mut self, now: Instant, msg: SipMessage) {
        match msg {
            SipMessage::Response(_) => self.handle_response(now, &msg),
            SipMessage::Request(_) => self.handle_request(now, &msg),
        }
    }

    /// Feeds raw bytes (one datagram or one framed TCP message); garbage is dropped.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        if let Ok(msg) = sip::parse(bytes) {
            self.handle_message(now, msg);
        }
    }

    /// The connection is gone (TCP closed): the call is over, nothing more is sent.
    pub fn transport_failed(&mut self) {
        self.txns.clear();
        self.infos.clear();
        self.out.clear();
        if !matches!(self.state, CallState::Terminated(_)) {
            self.end(EndReason::TransportError);
        }
    }

    /// Hangs up: BYE when answered, CANCEL while ringing; no-op when over.
    pub fn hangup(&mut self, now: Instant) {
        match self.state {
            CallState::Confirmed => {
                self.cseq += 1;
                let branch = self.new_branch();
                let bytes = self.request(Method::Bye, self.cseq, &branch, None);
                self.start_txn(now, Method::Bye, branch, bytes);
                self.state = CallState::Terminating;
            }
            CallState::Calling | CallState::Proceeding(_) => {
                let _ = self.cancel(now);
            }
            _ => {}
        }
    }

    /// Cancels an unanswered call. Before any provisional response the CANCEL
    /// waits for one (RFC 3261 section 9.1).
    pub fn cancel(&mut self, now: Instant) -> Result<(), UacError> {
        match self.state {
            CallState::Calling => {
                self.cancel_wanted = true;
                Ok(())
            }
            CallState::Proceeding(_) => {
                self.cancel_wanted = true;
                self.send_cancel(now);
                Ok(())
            }
            _ => Err(UacError::NotEarly),
        }
    }

    /// Sends INFO with this body in the dialog; several are sent one after the
    /// other (RFC 6086: one outstanding INFO at a time).
    pub fn send_info(
        &mut self,
        now: Instant,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(), UacError> {
        if self.state != CallState::Confirmed {
            return Err(UacError::NotConfirmed);
        }
        self.infos.push_back((content_type.to_string(), body));
        self.pump_info(now);
        Ok(())
    }

    /// True while INFO requests are queued or outstanding.
    pub fn info_pending(&self) -> bool {
        !self.infos.is_empty() || self.txns.iter().any(|t| t.method == Method::Info)
    }

    fn pump_info(&mut self, now: Instant) {
        if self.txns.iter().any(|t| t.method == Method::Info) {
            return;
        }
        let Some((ct, body)) = self.infos.pop_front() else {
            return;
        };
        self.cseq += 1;
        let branch = self.new_branch();
        let bytes = self.request(Method::Info, self.cseq, &branch, Some((&ct, &body)));
        self.start_txn(now, Method::Info, branch, bytes);
    }

    fn send_cancel(&mut self, now: Instant) {
        if self.cancel_sent {
            return;
        }
        self.cancel_sent = true;
        let branch = self.invite_branch.clone();
        // CANCEL copies the INVITE's branch, CSeq number and To (no tag).
        let saved_tag = self.remote_tag.take();
        let bytes = self.request(Method::Cancel, 1, &branch, None);
        self.remote_tag = saved_tag;
        self.start_txn(now, Method::Cancel, branch, bytes);
        self.timer_b = Some(now + TIMEOUT);
    }

    fn start_txn(&mut self, now: Instant, method: Method, branch: String, bytes: Vec<u8>) {
        self.out.push_back(bytes.clone());
        let udp = self.cfg.transport == Transport::Udp;
        self.txns.push(NonInvite {
            method,
            branch,
            bytes,
            next_retx: udp.then_some(now + T1),
            interval: T1,
            deadline: now + TIMEOUT,
        });
    }

    fn handle_response(&mut self, now: Instant, msg: &SipMessage) {
        let SipMessage::Response(resp) = msg else {
            return;
        };
        let code = resp.status_code.code();
        let Ok((_, method)) = sip::cseq(msg) else {
            return;
        };
        if sip::call_id(msg).ok().as_deref() != Some(self.call_id.as_str()) {
            return;
        }
        if method == Method::Invite {
            self.handle_invite_response(now, msg, code);
            return;
        }
        let branch = sip::via_branch(msg);
        let Some(idx) = self
            .txns
            .iter()
            .position(|t| t.method == method && Some(&t.branch) == branch.as_ref())
        else {
            return; // stray or retransmitted final response
        };
        if code < 200 {
            if let Some(t) = self.txns.get_mut(idx) {
                if t.next_retx.is_some() {
                    t.interval = T2;
                    t.next_retx = Some(now + T2);
                }
            }
            return;
        }
        self.txns.remove(idx);
        self.events.push_back(UacEvent::RequestDone {
            method,
            status: code,
        });
        self.after_request_done(method, now);
    }

    fn after_request_done(&mut self, method: Method, now: Instant) {
        match method {
            Method::Bye if self.state == CallState::Terminating => self.end(EndReason::LocalHangup),
            Method::Info => self.pump_info(now),
            _ => {}
        }
    }

    fn handle_invite_response(&mut self, now: Instant, msg: &SipMessage, code: u16) {
        if sip::via_branch(msg).as_deref() != Some(self.invite_branch.as_str()) {
            return;
        }
        match code {
            100..=199 => {
                if !matches!(self.state, CallState::Calling | CallState::Proceeding(_)) {
                    return;
                }
                self.timer_a = None;
                self.state = CallState::Proceeding(code);
                self.events.push_back(UacEvent::Provisional(code));
                if self.cancel_wanted {
                    self.send_cancel(now);
                }
            }
            200..=299 => {
                if let Some(ack) = &self.ack_bytes {
                    self.out.push_back(ack.clone()); // retransmitted 2xx: ACK again
                    return;
                }
                self.timer_a = None;
                self.timer_b = None;
                self.remote_tag = sip::to_tag(msg);
                self.remote_target = sip::contact_uri(msg);
                let mut routes = sip::record_routes(msg);
                routes.reverse();
                self.route_set = routes;
                self.state = CallState::Confirmed;
                let branch = self.new_branch();
                let ack = self.request(Method::Ack, 1, &branch, None);
                self.out.push_back(ack.clone());
                self.ack_bytes = Some(ack);
                self.events.push_back(UacEvent::Answered {
                    sdp: msg.body().clone(),
                });
                if self.cancel_wanted {
                    // The answer crossed our CANCEL: end the call properly.
                    self.hangup(now);
                }
            }
            _ => {
                if let Some(ack) = &self.ack_bytes {
                    self.out.push_back(ack.clone());
                    return;
                }
                if !matches!(self.state, CallState::Calling | CallState::Proceeding(_)) {
                    return;
                }
                self.timer_a = None;
                self.timer_b = None;
                // ACK for a non-2xx: same branch as the INVITE, To with the response's tag.
                self.remote_tag = sip::to_tag(msg);
                let branch = self.invite_branch.clone();
                let ack = self.request(Method::Ack, 1, &branch, None);
                self.out.push_back(ack.clone());
                self.ack_bytes = Some(ack);
                let reason = if code == 487 && self.cancel_wanted {
                    EndReason::Cancelled
                } else {
                    EndReason::Rejected(code)
                };
                self.end(reason);
            }
        }
    }

    fn handle_request(&mut self, now: Instant, msg: &SipMessage) {
        let SipMessage::Request(req) = msg else {
            return;
        };
        let method = req.method;
        if method == Method::Ack {
            return;
        }
        let same_call = sip::call_id(msg).ok().as_deref() == Some(self.call_id.as_str());
        let in_dialog = same_call
            && self.remote_tag.is_some()
            && sip::to_tag(msg).as_deref() == Some(self.from_tag.as_str());
        let (status, body) = match method {
            Method::Options => (200, None),
            _ if !in_dialog => (481, None),
            Method::Bye => (200, None),
            Method::Info => (200, None),
            Method::Invite => {
                self.sdp_version += 1;
                let sdp =
                    self.cfg
                        .sdp_offer
                        .replacen(" 1 IN ", &format!(" {} IN ", self.sdp_version), 1);
                (200, Some(sdp.into_bytes()))
            }
            Method::Cancel => (481, None),
            _ => (501, None),
        };
        let resp = self.response(msg, status, body.as_deref());
        self.out.push_back(resp);
        self.events
            .push_back(UacEvent::RequestReceived { method, status });
        if status != 200 || method == Method::Options {
            return;
        }
        match method {
            Method::Bye => {
                let first = !matches!(self.state, CallState::Terminated(_));
                if first {
                    // A crossed BYE: ours may be outstanding; the call is over anyway.
                    self.txns.retain(|t| t.method != Method::Info);
                    self.infos.clear();
                    self.end(EndReason::RemoteHangup);
                }
            }
            Method::Info => self.events.push_back(UacEvent::InfoReceived {
                content_type: sip::content_type(msg),
                body: msg.body().clone(),
            }),
            Method::Invite => self.events.push_back(UacEvent::ReInvite {
                sdp: msg.body().clone(),
            }),
            _ => {}
        }
        let _ = now;
    }

    fn end(&mut self, reason: EndReason) {
        self.timer_a = None;
        self.timer_b = None;
        self.state = CallState::Terminated(reason.clone());
        self.events.push_back(UacEvent::Ended(reason));
    }

    fn new_branch(&mut self) -> String {
        format!("z9hG4bK{:016x}", self.rng.gen::<u64>())
    }

    fn anonymous(&self) -> bool {
        self.cfg.from_user.eq_ignore_ascii_case("anonymous")
    }

    fn contact(&self) -> String {
        let tcp = if self.cfg.transport == Transport::Tcp {
            ";transport=tcp"
        } else {
            ""
        };
        format!("<sip:caller@{}{}>", self.cfg.local, tcp)
    }

    fn request(
        &self,
        method: Method,
        cseq: u32,
        branch: &str,
        body: Option<(&str, &[u8])>,
    ) -> Vec<u8> {
        let default_uri = format!("sip:{}@{}", self.cfg.to_user, self.cfg.server);
        // Requests inside the confirmed dialog go to the remote target via the route set.
        let in_dialog = matches!(method, Method::Bye | Method::Info)
            || (method == Method::Ack && self.state == CallState::Confirmed);
        let target = match (&self.remote_target, in_dialog) {
            (Some(t), true) => t.clone(),
            _ => default_uri.clone(),
        };
        let uri = rsip::Uri::try_from(target.as_str())
            .or_else(|_| rsip::Uri::try_from(default_uri.as_str()))
            .unwrap_or_default();
        let from = if self.anonymous() {
            format!(
                "\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag={}",
                self.from_tag
            )
        } else {
            let user_phone = if self.cfg.from_user.starts_with('+') {
                ";user=phone"
            } else {
                ""
            };
            format!(
                "<sip:{}@{}{}>;tag={}",
                self.cfg.from_user,
                self.cfg.local.ip(),
                user_phone,
                self.from_tag
            )
        };
        let mut to = format!("<sip:{}@{}>", self.cfg.to_user, self.cfg.server);
        if let Some(tag) = &self.remote_tag {
            to.push_str(";tag=");
            to.push_str(tag);
        }
        let mut h: Vec<Header> = vec![
            headers::Via::new(format!(
                "SIP/2.0/{} {};branch={};rport",
                self.cfg.transport.via(),
                self.cfg.local,
                branch
            ))
            .into(),
            headers::MaxForwards::new("70").into(),
            headers::From::new(from).into(),
            headers::To::new(to).into(),
            headers::CallId::new(self.call_id.clone()).into(),
            headers::CSeq::new(format!("{cseq} {method}")).into(),
        ];
        if in_dialog {
            for r in &self.route_set {
                h.push(headers::Route::new(r.clone()).into());
            }
        }
        if matches!(method, Method::Invite | Method::Info | Method::Bye) {
            h.push(headers::Contact::new(self.contact()).into());
        }
        if method == Method::Invite {
            h.push(headers::Allow::new("INVITE, ACK, CANCEL, BYE, OPTIONS, INFO").into());
            if self.anonymous() {
                h.push(Header::Other("Privacy".into(), "id".into()));
            }
            for (name, value) in &self.cfg.extra_headers {
                h.push(Header::Other(name.clone(), value.clone()));
            }
        }
        h.push(headers::UserAgent::new("pe-caller").into());
        let body = match body {
            Some((ct, b)) => {
                h.push(headers::ContentType::new(ct).into());
                b.to_vec()
            }
            None => Vec::new(),
        };
        h.push(headers::ContentLength::new(body.len().to_string()).into());
        let req = rsip::Request {
            method,
            uri,
            version: rsip::Version::V2,
            headers: h.into(),
            body,
        };
        let mut bytes = req.to_string().into_bytes();
        if req_body_is_binary(&req) {
            // to_string is lossy for non-UTF-8 bodies; rebuild the tail exactly.
            let cut = bytes.len() - String::from_utf8_lossy(&req.body).len();
            bytes.truncate(cut);
            bytes.extend_from_slice(&req.body);
        }
        bytes
    }

    fn response(&self, req: &SipMessage, status: u16, body: Option<&[u8]>) -> Vec<u8> {
        let mut h: Vec<Header> = req
            .headers()
            .iter()
            .filter(|h| {
                matches!(
                    h,
                    Header::Via(_)
                        | Header::From(_)
                        | Header::To(_)
                        | Header::CallId(_)
                        | Header::CSeq(_)
                )
            })
            .cloned()
            .collect();
        if body.is_some() {
            h.push(headers::Contact::new(self.contact()).into());
            h.push(headers::ContentType::new("application/sdp").into());
        }
        h.push(headers::UserAgent::new("pe-caller").into());
        let body = body.map(<[u8]>::to_vec).unwrap_or_default();
        h.push(headers::ContentLength::new(body.len().to_string()).into());
        rsip::Response {
            status_code: status.into(),
            version: rsip::Version::V2,
            headers: h.into(),
            body,
        }
        .to_string()
        .into_bytes()
    }
}

fn req_body_is_binary(req: &rsip::Request) -> bool {
    std::str::from_utf8(&req.body).is_err()
}

#[cfg(test)]
#[path = "uac_tests.rs"]
mod tests;
