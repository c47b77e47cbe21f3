//! The transaction layer: matches incoming messages to transactions, creates
//! server transactions for new requests, answers what needs no TU (100 Trying,
//! CANCEL, malformed requests) and runs all timers. Bytes and time in; bytes,
//! events and one next deadline out (the quinn-proto/str0m shape).
//!
//! Drain rule: after any `handle_*` or TU command, drain `poll_transmit` and
//! `poll_event` before waiting for `poll_timeout`.

use super::error::SipError;
use super::message::{self, RequestInfo, ResponseInfo};
use super::stateless;
use super::transaction::client_invite::ClientInvite;
use super::transaction::client_non_invite::ClientNonInvite;
use super::transaction::server_invite::{self, ServerInvite};
use super::transaction::server_non_invite::ServerNonInvite;
use super::transaction::{Outbox, Peer, Timer, TimerConfig, TxSignal};
use bytes::Bytes;
use rsip::{Method, SipMessage};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

/// The TU's word on a request that would open a new server transaction
/// (asked before any state is kept for it, so a refused flood costs none).
#[derive(Debug, Clone)]
pub enum Admit {
    Accept,
    /// Send this answer statelessly; no transaction, no event.
    Answer(rsip::Response),
    /// Send nothing at all (not even 100 Trying).
    Ignore,
}

/// A transaction handle; stays unique for the life of the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub u64);

/// Bytes to send to a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub peer: Peer,
    pub bytes: Bytes,
}

/// What the layer tells the TU.
#[derive(Debug, Clone)]
pub enum SipEvent {
    /// A new request (not ACK, not CANCEL) with its server transaction.
    Request {
        tx: TxId,
        request: rsip::Request,
        info: RequestInfo,
        peer: Peer,
    },
    /// An ACK that belongs to no INVITE failure: the ACK for a 2xx.
    Ack {
        request: rsip::Request,
        info: RequestInfo,
        peer: Peer,
    },
    /// The INVITE of `invite_tx` was cancelled; the TU should answer it 487.
    Cancelled { invite_tx: TxId, info: RequestInfo },
    /// A response for a client transaction (or a stray 2xx to re-ACK: `tx` None).
    Response {
        tx: Option<TxId>,
        response: rsip::Response,
        info: ResponseInfo,
        peer: Peer,
    },
    /// A client transaction got no final response in time.
    Timeout { tx: TxId },
    /// Our 2xx to the INVITE of `tx` was never ACKed: the TU should send BYE.
    AckTimeout { tx: TxId },
}

// The four RFC 3261 transaction kinds, named as in the RFC.
#[allow(clippy::enum_variant_names)]
#[derive(Debug)]
enum Machine {
    ServerInvite(ServerInvite),
    ServerNonInvite(ServerNonInvite),
    ClientInvite(ClientInvite),
    ClientNonInvite(ClientNonInvite),
}

#[derive(Debug)]
struct Entry {
    peer: Peer,
    machine: Machine,
    keys: Vec<Key>,
    timers: HashMap<Timer, Instant>,
}

/// Transaction-matching keys (RFC 3261 section 17.2.3 plus Call-ID and CSeq
/// so that RFC 2543 peers with weak branches still match).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Server {
        branch: String,
        sent_by: String,
        call_id: String,
        cseq: u32,
        invite: bool,
    },
    /// ACK for our 2xx carries a new branch; match it by dialog.
    Ack2xx {
        call_id: String,
        cseq: u32,
    },
    Client {
        branch: String,
        method: String,
    },
}

/// The sans-IO SIP transaction layer.
pub struct SipLayer {
    cfg: TimerConfig,
    next_id: u64,
    entries: HashMap<TxId, Entry>,
    index: HashMap<Key, TxId>,
    timers: BinaryHeap<Reverse<(Instant, TxId, Timer)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<SipEvent>,
    server_header: String,
    /// Original requests of client INVITEs, to build the ACK for a failure.
    invites: HashMap<TxId, rsip::Request>,
}

impl SipLayer {
    pub fn new(cfg: TimerConfig, server_header: impl Into<String>) -> Self {
        SipLayer {
            cfg,
            next_id: 1,
            entries: HashMap::new(),
            index: HashMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            server_header: server_header.into(),
            invites: HashMap::new(),
        }
    }

    /// Live transactions (for metrics and leak tests).
    pub fn transactions(&self) -> usize {
        self.entries.len()
    }

    /// Feeds one datagram or TCP frame. Malformed input is answered 400 when
    /// it is readable enough to answer, else dropped; it never panics.
    pub fn handle_message(&mut self, now: Instant, peer: Peer, bytes: &[u8]) {
        self.handle_message_gated(now, peer, bytes, &mut |_, _, _| Admit::Accept);
    }

    /// Like `handle_message`; `gate` decides on each request that would open
    /// a server transaction (not retransmissions, ACK or CANCEL).
    pub fn handle_message_gated(
        &mut self,
        now: Instant,
        peer: Peer,
        bytes: &[u8],
        gate: &mut dyn FnMut(&Peer, &rsip::Request, &RequestInfo) -> Admit,
    ) {
        match message::parse(bytes) {
            Ok(SipMessage::Request(req)) => self.handle_request(now, peer, req, gate),
            Ok(SipMessage::Response(resp)) => self.handle_response(now, peer, resp),
            Err(e) => {
                let (status, reason) = match stateless::unknown_method(bytes) {
                    true => (501, "method not implemented".to_string()),
                    false => (e.status().unwrap_or(400), e.to_string()),
                };
                if let Some(reply) = stateless::error_from_raw(bytes, status, &reason) {
                    self.transmits.push_back(Transmit { peer, bytes: reply });
                }
            }
        }
    }

    fn handle_request(
        &mut self,
        now: Instant,
        peer: Peer,
        req: rsip::Request,
        gate: &mut dyn FnMut(&Peer, &rsip::Request, &RequestInfo) -> Admit,
    ) {
        let info = match RequestInfo::from_request(&req) {
            Ok(i) => i,
            Err(e) => {
                if req.method != Method::Ack {
                    let resp = stateless::with_reason(
                        message::response_to(&req, 400, None),
                        &e.to_string(),
                    );
                    self.send_stateless(peer, &SipMessage::Response(resp));
                }
                return;
            }
        };
        if info.cseq_method != info.method
            && info.method != Method::Ack
            && info.method != Method::Cancel
        {
            let resp = stateless::with_reason(
                message::response_to(&req, 400, None),
                "CSeq method does not match",
            );
            self.send_stateless(peer, &SipMessage::Response(resp));
            return;
        }
        match info.method {
            Method::Ack => self.handle_ack(now, peer, req, info),
            Method::Cancel => self.handle_cancel(now, peer, req, info),
            _ => {
                let key = server_key(&info, info.method == Method::Invite);
                if let Some(id) = self.index.get(&key).copied() {
                    let mut out = Outbox::default();
                    if let Some(e) = self.entries.get_mut(&id) {
                        match &mut e.machine {
                            Machine::ServerInvite(t) => t.on_retransmission(&mut out),
                            Machine::ServerNonInvite(t) => t.on_retransmission(&mut out),
                            _ => {}
                        }
                    }
                    self.apply(now, id, out);
                    return;
                }
                match gate(&peer, &req, &info) {
                    Admit::Accept => {}
                    Admit::Answer(mut resp) => {
                        if !self.server_header.is_empty() {
                            message::add_header(
                                &mut resp.headers,
                                "Server",
                                self.server_header.clone(),
                            );
                        }
                        self.send_stateless(peer, &SipMessage::Response(resp));
                        return;
                    }
                    Admit::Ignore => return,
                }
                let id = self.alloc();
                let mut out = Outbox::default();
                let reliable = peer.transport.is_reliable();
                let mut keys = vec![key];
                let machine = if info.method == Method::Invite {
                    let trying =
                        self.render(&SipMessage::Response(message::response_to(&req, 100, None)));
                    keys.push(Key::Ack2xx {
                        call_id: info.call_id.clone(),
                        cseq: info.cseq,
                    });
                    Machine::ServerInvite(ServerInvite::new(self.cfg, reliable, trying, &mut out))
                } else {
                    Machine::ServerNonInvite(ServerNonInvite::new(self.cfg, reliable))
                };
                self.insert(id, peer, machine, keys);
                self.apply(now, id, out);
                self.events.push_back(SipEvent::Request {
                    tx: id,
                    request: req,
                    info,
                    peer,
                });
            }
        }
    }

    fn handle_ack(&mut self, now: Instant, peer: Peer, req: rsip::Request, info: RequestInfo) {
        let failure_key = server_key(&info, true);
        if let Some(id) = self.index.get(&failure_key).copied() {
            let mut out = Outbox::default();
            let mut for_2xx = false;
            if let Some(Entry {
                machine: Machine::ServerInvite(t),
                ..
            }) = self.entries.get_mut(&id)
            {
                if t.state() == server_invite::State::Accepted {
                    // Some peers reuse the INVITE branch for the 2xx ACK.
                    for_2xx = true;
                    t.on_ack_for_2xx(&mut out);
                } else {
                    t.on_ack(now, &mut out);
                }
            }
            self.apply(now, id, out);
            if for_2xx {
                self.events.push_back(SipEvent::Ack {
                    request: req,
                    info,
                    peer,
                });
            }
            return;
        }
        let dialog_key = Key::Ack2xx {
            call_id: info.call_id.clone(),
            cseq: info.cseq,
        };
        if let Some(id) = self.index.get(&dialog_key).copied() {
            let mut out = Outbox::default();
            if let Some(Entry {
                machine: Machine::ServerInvite(t),
                ..
            }) = self.entries.get_mut(&id)
            {
                t.on_ack_for_2xx(&mut out);
            }
            self.apply(now, id, out);
        }
        self.events.push_back(SipEvent::Ack {
            request: req,
            info,
            peer,
        });
    }

    fn handle_cancel(&mut self, now: Instant, peer: Peer, req: rsip::Request, info: RequestInfo) {
        let cancel_key = server_key(&info, false);
        if let Some(id) = self.index.get(&cancel_key).copied() {
            let mut out = Outbox::default();
            if let Some(Entry {
                machine: Machine::ServerNonInvite(t),
                ..
            }) = self.entries.get_mut(&id)
            {
                t.on_retransmission(&mut out);
            }
            self.apply(now, id, out);
            return;
        }
        let invite = self.index.get(&server_key(&info, true)).copied();
        let proceeding = invite.and_then(|id| match self.entries.get(&id).map(|e| &e.machine) {
            Some(Machine::ServerInvite(t)) => Some(t.state() == server_invite::State::Proceeding),
            _ => None,
        });
        let status = if invite.is_some() { 200 } else { 481 };
        let id = self.alloc();
        self.insert(
            id,
            peer,
            Machine::ServerNonInvite(ServerNonInvite::new(self.cfg, peer.transport.is_reliable())),
            vec![cancel_key],
        );
        let resp = message::response_to(&req, status, None);
        let _ = self.respond(now, id, resp);
        if let (Some(invite_tx), Some(true)) = (invite, proceeding) {
            self.events
                .push_back(SipEvent::Cancelled { invite_tx, info });
        }
    }

    fn handle_response(&mut self, now: Instant, peer: Peer, resp: rsip::Response) {
        let Ok(info) = ResponseInfo::from_response(&resp) else {
            return;
        };
        let key = Key::Client {
            branch: info.branch.clone(),
            method: info.cseq_method.to_string(),
        };
        let Some(id) = self.index.get(&key).copied() else {
            if info.cseq_method == Method::Invite && info.status / 100 == 2 {
                self.events.push_back(SipEvent::Response {
                    tx: None,
                    response: resp,
                    info,
                    peer,
                });
            }
            return;
        };
        let mut out = Outbox::default();
        let deliver = match self.entries.get_mut(&id).map(|e| &mut e.machine) {
            Some(Machine::ClientNonInvite(t)) => t.on_response(now, info.status, &mut out),
            Some(Machine::ClientInvite(t)) => {
                let ack = match (&self.invites.get(&id), info.status >= 300) {
                    (Some(orig), true) => Some(Bytes::from(message::to_bytes(
                        &SipMessage::Request(stateless::ack_for_failure(orig, &resp)),
                    ))),
                    _ => None,
                };
                t.on_response(now, info.status, ack, &mut out)
            }
            _ => false,
        };
        self.apply(now, id, out);
        if deliver {
            self.events.push_back(SipEvent::Response {
                tx: Some(id),
                response: resp,
                info,
                peer,
            });
        }
    }

    /// Answers the request of server transaction `tx`.
    pub fn respond(
        &mut self,
        now: Instant,
        tx: TxId,
        mut response: rsip::Response,
    ) -> Result<(), SipError> {
        let status = response.status_code.code();
        if !self.server_header.is_empty() {
            message::add_header(&mut response.headers, "Server", self.server_header.clone());
        }
        let bytes = self.render(&SipMessage::Response(response));
        let entry = self
            .entries
            .get_mut(&tx)
            .ok_or(SipError::UnknownTransaction)?;
        let mut out = Outbox::default();
        match &mut entry.machine {
            Machine::ServerInvite(t) => t.respond(now, status, bytes, &mut out),
            Machine::ServerNonInvite(t) => t.respond(now, status, bytes, &mut out),
            _ => return Err(SipError::UnknownTransaction),
        }
        self.apply(now, tx, out);
        Ok(())
    }

    /// Sends a request in a new client transaction. The request must carry
    /// its own top Via with a fresh `z9hG4bK` branch.
    pub fn send_request(
        &mut self,
        now: Instant,
        peer: Peer,
        request: rsip::Request,
    ) -> Result<TxId, SipError> {
        let info = RequestInfo::from_request(&request)?;
        if info.via.branch.is_empty() {
            return Err(SipError::BadHeader("Via"));
        }
        let bytes = self.render(&SipMessage::Request(request.clone()));
        let id = self.alloc();
        let mut out = Outbox::default();
        let reliable = peer.transport.is_reliable();
        let machine = if info.method == Method::Invite {
            self.invites.insert(id, request);
            Machine::ClientInvite(ClientInvite::new(now, self.cfg, reliable, bytes, &mut out))
        } else {
            Machine::ClientNonInvite(ClientNonInvite::new(
                now, self.cfg, reliable, bytes, &mut out,
            ))
        };
        self.insert(
            id,
            peer,
            machine,
            vec![Key::Client {
                branch: info.via.branch,
                method: info.method.to_string(),
            }],
        );
        self.apply(now, id, out);
        Ok(id)
    }

    /// Sends a message outside any transaction (the ACK for a 2xx).
    pub fn send_stateless(&mut self, peer: Peer, msg: &SipMessage) {
        let bytes = self.render(msg);
        self.transmits.push_back(Transmit { peer, bytes });
    }

    /// Fires every timer due at `now`. Idempotent.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, id, timer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let live = self.entries.get(&id).and_then(|e| e.timers.get(&timer)) == Some(&at);
            if !live {
                continue;
            }
            let mut out = Outbox::default();
            if let Some(e) = self.entries.get_mut(&id) {
                e.timers.remove(&timer);
                match &mut e.machine {
                    Machine::ServerInvite(t) => t.on_timer(now, timer, &mut out),
                    Machine::ServerNonInvite(t) => t.on_timer(timer, &mut out),
                    Machine::ClientInvite(t) => t.on_timer(now, timer, &mut out),
                    Machine::ClientNonInvite(t) => t.on_timer(now, timer, &mut out),
                }
            }
            self.apply(now, id, out);
        }
    }

    /// The next instant `handle_timeout` has work (stale timers are dropped here).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id, timer))) = self.timers.peek().copied() {
            if self.entries.get(&id).and_then(|e| e.timers.get(&timer)) == Some(&at) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<SipEvent> {
        self.events.pop_front()
    }

    fn alloc(&mut self) -> TxId {
        let id = TxId(self.next_id);
        self.next_id += 1;
        id
    }

    fn insert(&mut self, id: TxId, peer: Peer, machine: Machine, keys: Vec<Key>) {
        for k in &keys {
            self.index.insert(k.clone(), id);
        }
        self.entries.insert(
            id,
            Entry {
                peer,
                machine,
                keys,
                timers: HashMap::new(),
            },
        );
    }

    fn render(&self, msg: &SipMessage) -> Bytes {
        Bytes::from(message::to_bytes(msg))
    }

    fn apply(&mut self, _now: Instant, id: TxId, out: Outbox) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        for bytes in out.send {
            self.transmits.push_back(Transmit {
                peer: entry.peer,
                bytes,
            });
        }
        for t in out.cancel {
            entry.timers.remove(&t);
        }
        for (t, at) in out.arm {
            entry.timers.insert(t, at);
            self.timers.push(Reverse((at, id, t)));
        }
        for s in out.signals {
            match s {
                TxSignal::Timeout => self.events.push_back(SipEvent::Timeout { tx: id }),
                TxSignal::AckTimeout => self.events.push_back(SipEvent::AckTimeout { tx: id }),
                TxSignal::Response | TxSignal::Acked | TxSignal::NoAckForFailure => {}
            }
        }
        if out.terminated {
            self.invites.remove(&id);
            if let Some(e) = self.entries.remove(&id) {
                for k in e.keys {
                    if self.index.get(&k) == Some(&id) {
                        self.index.remove(&k);
                    }
                }
            }
        }
    }
}

fn server_key(info: &RequestInfo, invite: bool) -> Key {
    Key::Server {
        branch: info.via.branch.clone(),
        sent_by: info.via.sent_by.to_ascii_lowercase(),
        call_id: info.call_id.clone(),
        cseq: info.cseq,
        invite,
    }
}
