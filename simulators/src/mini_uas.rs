//! A deliberately small SIP user agent server used as the far end in the
//! simulator's own tests, for `pe-caller uas` (self-test of the load mode) and
//! as a stand-in nurse phone or resident for the dialer (`pe-caller answer`).
//! It answers INVITEs (100, 180, 200 with SDP, retransmitting 200 until ACK on
//! UDP), or rejects them, or rings until CANCEL; plays a "prompt" (a loud tone
//! of a chosen frequency for a chosen time or the whole call, then silence)
//! over RTP, records what it receives (RFC 4733 digits, INFOs, loud frames,
//! frames of a chosen tone), and handles CANCEL, BYE, INFO and OPTIONS. It can
//! REGISTER at a registrar first (answering a digest challenge) and keep the
//! registration fresh. It is not the service and not a conformance
//! reference; it exists so the caller and the dialer can be tested without one.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rsip::message::HasHeaders;
use rsip::{Header, Method, SipMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use crate::digest;
use crate::rtp::{self, RtpHeader, TelephoneEvent};
use crate::sdp::{self, OfferedCodec};
use crate::sip::{self, TcpFramer};
use crate::tone;
use crate::Codec;

/// How the server behaves towards every call.
#[derive(Debug, Clone)]
pub struct UasBehavior {
    /// Time between 180 Ringing and 200 OK.
    pub ring: Duration,
    /// Refuse every INVITE with this status instead of answering.
    pub reject: Option<u16>,
    /// Length of the loud prompt tone after the answer (then silence is streamed).
    pub prompt: Duration,
    /// Send BYE this long after the answer.
    pub bye_after: Option<Duration>,
    /// Ignore the first INVITE datagram of each call (tests retransmission).
    pub drop_first_invite: bool,
    /// Frequency of the prompt tone in Hz (default 440).
    pub tone_hz: f32,
    /// Count received frames dominated by this frequency
    /// (`UasCallLog::tone_frames_detected`).
    pub detect_hz: Option<f32>,
    /// Never answer: send 180 and ring until the caller CANCELs (then 487).
    pub no_answer: bool,
    /// Like a network announcement ("the number cannot be reached"): send
    /// 183 with SDP, stream the tone as early media for `ring`, then fail
    /// the INVITE with this status.
    pub announce_then_fail: Option<u16>,
    /// REGISTER here before serving calls and refresh before expiry.
    pub register: Option<Registration>,
}

impl UasBehavior {
    /// A `prompt` that lasts the whole call.
    pub const WHOLE_CALL: Duration = Duration::MAX;
}

impl Default for UasBehavior {
    fn default() -> Self {
        UasBehavior {
            ring: Duration::from_millis(20),
            reject: None,
            prompt: Duration::from_millis(300),
            bye_after: None,
            drop_first_invite: false,
            tone_hz: 440.0,
            detect_hz: None,
            no_answer: false,
            announce_then_fail: None,
            register: None,
        }
    }
}

/// Where and as whom the mini UAS registers (over UDP, from its SIP socket,
/// so the registrar sees the address calls should come to).
#[derive(Clone, PartialEq, Eq)]
pub struct Registration {
    pub registrar: SocketAddr,
    pub user: String,
    pub password: String,
    /// Requested lifetime in seconds; refreshed before the granted one ends.
    pub expires: u32,
}

impl std::fmt::Debug for Registration {
    /// Leaves the password out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("registrar", &self.registrar)
            .field("user", &self.user)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl std::str::FromStr for Registration {
    type Err = String;
    /// `user:password@host:port` (expires 300 s).
    fn from_str(s: &str) -> Result<Self, String> {
        let (cred, addr) = s
            .rsplit_once('@')
            .ok_or_else(|| format!("{s:?}: expected user:password@host:port"))?;
        let (user, password) = cred
            .split_once(':')
            .ok_or_else(|| "registration needs user:password before the @".to_string())?;
        if user.is_empty() {
            return Err("registration user is empty".into());
        }
        let registrar = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an address like 127.0.0.1:5060"))?;
        Ok(Registration {
            registrar,
            user: user.to_string(),
            password: password.to_string(),
            expires: 300,
        })
    }
}

/// What the registration client has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrationLog {
    /// REGISTER requests sent (new transactions, not retransmissions).
    pub registers_sent: u32,
    /// 401/407 challenges answered.
    pub challenges: u32,
    /// 2xx responses received (first registration and each refresh).
    pub successes: u32,
    /// Status of the last final response, `None` after a timeout.
    pub last_status: Option<u16>,
    /// Lifetime the registrar granted last.
    pub granted_expires: Option<u32>,
    /// A 2xx was received and its lifetime has not run out.
    pub registered: bool,
}

/// What the server observed for one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UasCallLog {
    pub from: String,
    pub privacy: Option<String>,
    pub invites: u32,
    pub acks: u32,
    pub answered: bool,
    pub cancelled: bool,
    pub bye_received: bool,
    pub bye_sent: bool,
    pub rtp_in: u64,
    pub rtp_out: u64,
    /// Frames whose level shows in-band tones or speech.
    pub loud_frames: u64,
    /// Frames dominated by `UasBehavior::detect_hz`.
    pub tone_frames_detected: u64,
    /// 180 Ringing was sent.
    pub ringing: bool,
    /// RFC 4733 keys, one per event.
    pub rfc4733_digits: String,
    /// INFO bodies in arrival order.
    pub infos: Vec<String>,
    pub codec: Option<Codec>,
}

#[derive(Clone)]
enum Peer {
    Udp(Arc<UdpSocket>, SocketAddr),
    Tcp(mpsc::UnboundedSender<Vec<u8>>),
}

impl Peer {
    fn send(&self, b: Vec<u8>) {
        match self {
            Peer::Udp(s, to) => {
                let _ = s.try_send_to(&b, *to);
            }
            Peer::Tcp(tx) => {
                let _ = tx.send(b);
            }
        }
    }
}

struct UasCall {
    log: UasCallLog,
    tag: String,
    invite: SipMessage,
    last_response: Option<Vec<u8>>,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicBool>,
    /// Set by a DTMF INFO: the media task plays the prompt again.
    replay: Arc<AtomicBool>,
}

type Calls = Arc<Mutex<HashMap<String, UasCall>>>;

/// A running mini UAS. Dropping it stops accepting but lets running calls finish.
pub struct MiniUas {
    /// SIP address for UDP and TCP (same port).
    pub addr: SocketAddr,
    calls: Calls,
    registration: Option<Arc<Mutex<RegistrationLog>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for MiniUas {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl MiniUas {
    /// Binds UDP and TCP on the same free port of `ip` and starts serving.
    pub async fn start(ip: IpAddr, behavior: UasBehavior) -> std::io::Result<MiniUas> {
        MiniUas::start_on(SocketAddr::new(ip, 0), behavior).await
    }

    /// Binds UDP and TCP on `addr` (port 0: any free port, the same for both)
    /// and starts serving; registers first in the background when
    /// `behavior.register` says so (see [`MiniUas::wait_registered`]).
    pub async fn start_on(addr: SocketAddr, behavior: UasBehavior) -> std::io::Result<MiniUas> {
        let ip = addr.ip();
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind(addr).await?;
            let bound = udp.local_addr()?;
            match TcpListener::bind(bound).await {
                Ok(tcp) => break (udp, tcp),
                Err(e) if addr.port() != 0 => return Err(e),
                Err(_) => {}
            }
        };
        let addr = udp.local_addr()?;
        let calls: Calls = Arc::default();
        let behavior = Arc::new(behavior);
        let udp = Arc::new(udp);
        let mut tasks = Vec::new();
        let (responses, responses_rx) = mpsc::unbounded_channel::<SipMessage>();
        let registration = match &behavior.register {
            Some(reg) => {
                let log = Arc::new(Mutex::new(RegistrationLog::default()));
                tasks.push(tokio::spawn(register_loop(
                    udp.clone(),
                    reg.clone(),
                    responses_rx,
                    log.clone(),
                )));
                Some(log)
            }
            None => None,
        };
        {
            let (calls, behavior, udp) = (calls.clone(), behavior.clone(), udp.clone());
            tasks.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                while let Ok((n, from)) = udp.recv_from(&mut buf).await {
                    if let Some(b) = buf.get(..n) {
                        let peer = Peer::Udp(udp.clone(), from);
                        handle(&calls, &behavior, peer, ip, b, &responses);
                    }
                }
            }));
        }
        {
            let (calls, behavior) = (calls.clone(), behavior.clone());
            tasks.push(tokio::spawn(async move {
                while let Ok((stream, _)) = tcp.accept().await {
                    let (calls, behavior) = (calls.clone(), behavior.clone());
                    tokio::spawn(async move {
                        let (mut rd, mut wr) = stream.into_split();
                        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
                        tokio::spawn(async move {
                            while let Some(b) = rx.recv().await {
                                if wr.write_all(&b).await.is_err() {
                                    break;
                                }
                            }
                        });
                        let mut framer = TcpFramer::default();
                        let mut buf = vec![0u8; 65536];
                        while let Ok(n) = rd.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                            framer.push(buf.get(..n).unwrap_or_default());
                            while let Ok(Some(m)) = framer.next_message() {
                                let none = mpsc::unbounded_channel().0;
                                handle(&calls, &behavior, Peer::Tcp(tx.clone()), ip, &m, &none);
                            }
                        }
                    });
                }
            }));
        }
        Ok(MiniUas {
            addr,
            calls,
            registration,
            tasks,
        })
    }

    /// The registration client's record, `None` when not registering.
    pub fn registration(&self) -> Option<RegistrationLog> {
        self.registration
            .as_ref()
            .and_then(|l| l.lock().ok().map(|l| l.clone()))
    }

    /// Waits until registered (`true`) or `timeout` passes (`false`).
    pub async fn wait_registered(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.registration().is_some_and(|r| r.registered) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// What happened in each call so far, keyed by Call-ID.
    pub fn calls(&self) -> HashMap<String, UasCallLog> {
        self.calls
            .lock()
            .map(|c| c.iter().map(|(k, v)| (k.clone(), v.log.clone())).collect())
            .unwrap_or_default()
    }

    /// The log of one call.
    pub fn call(&self, call_id: &str) -> Option<UasCallLog> {
        self.calls().remove(call_id)
    }
}

fn handle(
    calls: &Calls,
    behavior: &Arc<UasBehavior>,
    peer: Peer,
    ip: IpAddr,
    bytes: &[u8],
    responses: &mpsc::UnboundedSender<SipMessage>,
) {
    let Ok(msg) = sip::parse(bytes) else {
        return;
    };
    let SipMessage::Request(req) = &msg else {
        // Responses to our REGISTER go to the registration task; to our BYE: nothing to do.
        if matches!(sip::cseq(&msg), Ok((_, Method::Register))) {
            let _ = responses.send(msg);
        }
        return;
    };
    let Ok(call_id) = sip::call_id(&msg) else {
        return;
    };
    let Ok(mut map) = calls.lock() else {
        return;
    };
    match req.method {
        Method::Invite => {
            let retransmission = match map.get_mut(&call_id) {
                Some(c) => {
                    c.log.invites += 1;
                    if let Some(r) = &c.last_response {
                        peer.send(r.clone());
                        return;
                    }
                    true // the first copy was dropped on purpose: answer this one
                }
                None => false,
            };
            if !retransmission {
                let tag = format!("uas{}", map.len() + 1);
                let log = UasCallLog {
                    from: sip::header_value(&msg, "From").unwrap_or_default(),
                    privacy: sip::header_value(&msg, "Privacy"),
                    invites: 1,
                    ..Default::default()
                };
                let call = UasCall {
                    log,
                    tag,
                    invite: msg.clone(),
                    last_response: None,
                    stop: Arc::default(),
                    acked: Arc::default(),
                    replay: Arc::default(),
                };
                map.insert(call_id.clone(), call);
                if behavior.drop_first_invite {
                    return;
                }
            }
            let first = map.get_mut(&call_id).map(|c| {
                let trying = respond(&c.invite, 100, None, "", "");
                c.last_response = Some(trying.clone());
                trying
            });
            if let Some(t) = first {
                peer.send(t);
            }
            drop(map);
            tokio::spawn(answer_call(
                calls.clone(),
                behavior.clone(),
                peer,
                ip,
                call_id,
                msg.body().clone(),
            ));
        }
        Method::Ack => {
            if let Some(c) = map.get_mut(&call_id) {
                c.log.acks += 1;
                c.acked.store(true, Ordering::SeqCst);
            }
        }
        Method::Cancel => {
            let Some(c) = map.get_mut(&call_id) else {
                peer.send(respond(&msg, 481, None, "", ""));
                return;
            };
            peer.send(respond(&msg, 200, None, "", ""));
            if !c.log.answered && !c.log.cancelled && c.log.codec.is_none() {
                c.log.cancelled = true;
                let r = respond(&c.invite, 487, Some(&c.tag), "", "");
                c.last_response = Some(r.clone());
                peer.send(r);
            }
        }
        Method::Bye => {
            let Some(c) = map.get_mut(&call_id) else {
                peer.send(respond(&msg, 481, None, "", ""));
                return;
            };
            c.log.bye_received = true;
            c.stop.store(true, Ordering::SeqCst);
            peer.send(respond(&msg, 200, None, "", ""));
        }
        Method::Info => {
            if let Some(c) = map.get_mut(&call_id) {
                c.replay.store(true, Ordering::SeqCst);
                c.log
                    .infos
                    .push(String::from_utf8_lossy(msg.body()).into_owned());
            }
            peer.send(respond(&msg, 200, None, "", ""));
        }
        Method::Options => peer.send(respond(&msg, 200, None, "", "")),
        _ => peer.send(respond(&msg, 501, None, "", "")),
    }
}

async fn answer_call(
    calls: Calls,
    behavior: Arc<UasBehavior>,
    peer: Peer,
    ip: IpAddr,
    call_id: String,
    offer: Vec<u8>,
) {
    let offer = sdp::parse_answer(&offer);
    let Some((invite, tag, stop, acked, replay)) = calls.lock().ok().and_then(|m| {
        m.get(&call_id).map(|c| {
            (
                c.invite.clone(),
                c.tag.clone(),
                c.stop.clone(),
                c.acked.clone(),
                c.replay.clone(),
            )
        })
    }) else {
        return;
    };
    let final_code = match (&offer, behavior.reject) {
        (_, Some(code)) => Some(code),
        (Err(_), None) => Some(488),
        _ => None,
    };
    if let Some(code) = final_code {
        let r = respond(&invite, code, Some(&tag), "", "");
        set_response(&calls, &call_id, &r, |_| {});
        peer.send(r);
        return;
    }
    let Ok(offer) = offer else { return };
    if let Some(code) = behavior.announce_then_fail {
        announce_then_fail(calls, behavior.clone(), peer, ip, call_id, offer, code).await;
        return;
    }
    let ringing = respond(&invite, 180, Some(&tag), "", "");
    set_response(&calls, &call_id, &ringing, |c| c.log.ringing = true);
    peer.send(ringing);
    if behavior.no_answer {
        return; // ring until CANCEL (answered 487 by `handle`)
    }
    tokio::time::sleep(behavior.ring).await;
    let cancelled = calls
        .lock()
        .map(|m| m.get(&call_id).is_none_or(|c| c.log.cancelled))
        .unwrap_or(true);
    if cancelled {
        return;
    }
    let Ok(rtp_sock) = UdpSocket::bind(SocketAddr::new(ip, 0)).await else {
        return;
    };
    let Ok(rtp_addr) = rtp_sock.local_addr() else {
        return;
    };
    let codecs = [match offer.codec {
        Codec::Pcmu => OfferedCodec::Pcmu,
        Codec::Pcma => OfferedCodec::Pcma,
    }];
    let te = offer.telephone_event_pt.is_some();
    let answer = sdp::offer(ip, rtp_addr.port(), &codecs, te, 1);
    let contact = format!(
        "Contact: <sip:1177@{}>\r\nContent-Type: application/sdp\r\n",
        sip_host(&peer, ip)
    );
    let ok = respond(&invite, 200, Some(&tag), &contact, &answer);
    set_response(&calls, &call_id, &ok, |c| {
        c.log.answered = true;
        c.log.codec = Some(offer.codec);
    });
    peer.send(ok.clone());
    // Retransmit 200 until ACK (UDP only; RFC 3261 section 13.3.1.4).
    if matches!(peer, Peer::Udp(..)) {
        let (peer, acked, ok) = (peer.clone(), acked.clone(), ok.clone());
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(500);
            for _ in 0..6 {
                tokio::time::sleep(wait).await;
                if acked.load(Ordering::SeqCst) {
                    return;
                }
                peer.send(ok.clone());
                wait = (wait * 2).min(Duration::from_secs(4));
            }
        });
    }
    if let Some(after) = behavior.bye_after {
        let (calls, peer, call_id, stop) =
            (calls.clone(), peer.clone(), call_id.clone(), stop.clone());
        let (invite, tag) = (invite.clone(), tag.clone());
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            if stop.swap(true, Ordering::SeqCst) {
                return;
            }
            if let Ok(mut m) = calls.lock() {
                if let Some(c) = m.get_mut(&call_id) {
                    c.log.bye_sent = true;
                }
            }
            peer.send(server_bye(&invite, &tag));
        });
    }
    media(calls, call_id, rtp_sock, offer, &behavior, stop, replay).await;
}

/// 183 with SDP, the tone as early media for `behavior.ring`, then `code`.
async fn announce_then_fail(
    calls: Calls,
    behavior: Arc<UasBehavior>,
    peer: Peer,
    ip: IpAddr,
    call_id: String,
    offer: sdp::SdpAnswer,
    code: u16,
) {
    let Some((invite, tag, stop, replay)) = calls.lock().ok().and_then(|m| {
        m.get(&call_id).map(|c| {
            (
                c.invite.clone(),
                c.tag.clone(),
                c.stop.clone(),
                c.replay.clone(),
            )
        })
    }) else {
        return;
    };
    let Ok(rtp_sock) = UdpSocket::bind(SocketAddr::new(ip, 0)).await else {
        return;
    };
    let Ok(rtp_addr) = rtp_sock.local_addr() else {
        return;
    };
    let codecs = [match offer.codec {
        Codec::Pcmu => OfferedCodec::Pcmu,
        Codec::Pcma => OfferedCodec::Pcma,
    }];
    let sdp_body = sdp::offer(ip, rtp_addr.port(), &codecs, false, 1);
    let progress = respond(
        &invite,
        183,
        Some(&tag),
        "Content-Type: application/sdp\r\n",
        &sdp_body,
    );
    set_response(&calls, &call_id, &progress, |c| c.log.ringing = true);
    peer.send(progress);
    let media_task = {
        let (calls, call_id, stop, behavior) = (
            calls.clone(),
            call_id.clone(),
            stop.clone(),
            behavior.clone(),
        );
        tokio::spawn(async move {
            media(calls, call_id, rtp_sock, offer, &behavior, stop, replay).await;
        })
    };
    tokio::time::sleep(behavior.ring).await;
    stop.store(true, Ordering::SeqCst);
    let _ = media_task.await;
    let cancelled = calls
        .lock()
        .map(|m| m.get(&call_id).is_none_or(|c| c.log.cancelled))
        .unwrap_or(true);
    if cancelled {
        return;
    }
    let r = respond(&invite, code, Some(&tag), "", "");
    set_response(&calls, &call_id, &r, |_| {});
    peer.send(r);
}

fn set_response(calls: &Calls, call_id: &str, r: &[u8], f: impl FnOnce(&mut UasCall)) {
    if let Ok(mut m) = calls.lock() {
        if let Some(c) = m.get_mut(call_id) {
            c.last_response = Some(r.to_vec());
            f(c);
        }
    }
}

fn sip_host(peer: &Peer, ip: IpAddr) -> String {
    match peer {
        Peer::Udp(s, _) => s
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| ip.to_string()),
        Peer::Tcp(_) => format!("{ip};transport=tcp"),
    }
}

async fn media(
    calls: Calls,
    call_id: String,
    sock: UdpSocket,
    offer: sdp::SdpAnswer,
    behavior: &UasBehavior,
    stop: Arc<AtomicBool>,
    replay: Arc<AtomicBool>,
) {
    let codec = offer.codec;
    let (tone_hz, detect_hz) = (behavior.tone_hz, behavior.detect_hz);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let prompt_frames = u64::try_from(behavior.prompt.as_millis() / 20).unwrap_or(u64::MAX);
    let (mut seq, mut ts, mut n) = (0u16, 0u32, 0u64);
    let mut buf = vec![0u8; 2048];
    let mut pkt = Vec::with_capacity(200);
    let mut last_event_ts: Option<u32> = None;
    // Like an IVR: every key press (RFC 4733 or INFO) starts the prompt again.
    let mut prompt_from = 0u64;
    while !stop.load(Ordering::SeqCst) {
        tokio::select! {
            _ = tick.tick() => {
                let mut frame = [codec.silence(); 160];
                if replay.swap(false, Ordering::SeqCst) {
                    prompt_from = n;
                }
                if n - prompt_from < prompt_frames {
                    let samples = tone::sine(tone_hz, 8000, (n - prompt_from) * 160, 160);
                    for (b, s) in frame.iter_mut().zip(samples) {
                        *b = codec.encode(s);
                    }
                }
                pkt.clear();
                rtp::write_packet(&RtpHeader { marker: n == 0, payload_type: offer.payload_type, seq, timestamp: ts, ssrc: 0x5e55_1011 }, &frame, &mut pkt);
                let _ = sock.send_to(&pkt, offer.rtp_addr).await;
                seq = seq.wrapping_add(1);
                ts = ts.wrapping_add(160);
                n += 1;
                if let Ok(mut m) = calls.lock() {
                    if let Some(c) = m.get_mut(&call_id) { c.log.rtp_out += 1; }
                }
            }
            r = sock.recv_from(&mut buf) => {
                let Ok((len, _)) = r else { continue };
                let Ok(p) = rtp::parse(buf.get(..len).unwrap_or_default()) else { continue };
                let Ok(mut m) = calls.lock() else { continue };
                let Some(c) = m.get_mut(&call_id) else { continue };
                c.log.rtp_in += 1;
                if Some(p.header.payload_type) == offer.telephone_event_pt {
                    if let Some(ev) = TelephoneEvent::decode(p.payload) {
                        if last_event_ts != Some(p.header.timestamp) {
                            last_event_ts = Some(p.header.timestamp);
                            replay.store(true, Ordering::SeqCst);
                            if let Some(k) = crate::DtmfKey::from_event_code(ev.event) {
                                c.log.rfc4733_digits.push(k.to_char());
                            }
                        }
                    }
                } else if !p.payload.is_empty() {
                    let level: u64 = p.payload.iter().map(|b| codec.decode(*b).unsigned_abs() as u64).sum::<u64>() / p.payload.len() as u64;
                    if level > 500 { c.log.loud_frames += 1; }
                    if let Some(hz) = detect_hz {
                        let samples: Vec<i16> = p.payload.iter().map(|b| codec.decode(*b)).collect();
                        if tone::frame_has_tone(&samples, hz) { c.log.tone_frames_detected += 1; }
                    }
                }
            }
        }
    }
}

/// A response to `req`, copying the transaction headers and adding our To tag.
fn respond(req: &SipMessage, code: u16, tag: Option<&str>, extra: &str, body: &str) -> Vec<u8> {
    let reason = match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        _ => "Whatever",
    };
    let mut s = format!("SIP/2.0 {code} {reason}\r\n");
    for h in req.headers().iter() {
        match h {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                s.push_str(&format!("{h}\r\n"))
            }
            Header::To(t) => {
                let has_tag = sip::to_tag(req).is_some();
                match tag {
                    Some(tag) if !has_tag => s.push_str(&format!("{t};tag={tag}\r\n")),
                    _ => s.push_str(&format!("{t}\r\n")),
                }
            }
            _ => {}
        }
    }
    s.push_str(extra);
    s.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.into_bytes()
}

/// The server's BYE in the dialog the INVITE created.
fn server_bye(invite: &SipMessage, tag: &str) -> Vec<u8> {
    let from = sip::header_value(invite, "From").unwrap_or_default();
    let to = sip::header_value(invite, "To").unwrap_or_default();
    let call_id = sip::call_id(invite).unwrap_or_default();
    let target = sip::contact_uri(invite).unwrap_or_else(|| "sip:caller@invalid".into());
    let via = sip::header_value(invite, "Via").unwrap_or_default();
    let transport = if via.contains("/TCP") { "TCP" } else { "UDP" };
    format!(
        "BYE {target} SIP/2.0\r\nVia: SIP/2.0/{transport} 127.0.0.1;branch=z9hG4bKminiuasbye\r\n\
Max-Forwards: 70\r\nFrom: {to};tag={tag}\r\nTo: {from}\r\nCall-ID: {call_id}\r\nCSeq: 1 BYE\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Registers, answers challenges, refreshes before expiry; retries every few
/// seconds after a failure. Runs until the UAS is dropped.
async fn register_loop(
    udp: Arc<UdpSocket>,
    reg: Registration,
    mut responses: mpsc::UnboundedReceiver<SipMessage>,
    log: Arc<Mutex<RegistrationLog>>,
) {
    let Ok(bound) = udp.local_addr() else { return };
    let local = SocketAddr::new(
        crate::caller::advertised_ip(bound.ip(), reg.registrar),
        bound.port(),
    );
    let call_id = format!("{:016x}@pe-mini-uas", rand::random::<u64>());
    let from_tag = format!("{:08x}", rand::random::<u32>());
    let uri = format!("sip:{}", reg.registrar);
    let mut cseq = 0u32;
    let mut expires = reg.expires;
    let update = |f: &dyn Fn(&mut RegistrationLog)| {
        if let Ok(mut l) = log.lock() {
            f(&mut l);
        }
    };
    loop {
        let mut auth: Option<(&'static str, String)> = None;
        let mut granted = None;
        for _attempt in 0..4 {
            cseq += 1;
            let auth_line = auth
                .as_ref()
                .map(|(name, v)| format!("{name}: {v}\r\n"))
                .unwrap_or_default();
            let request = format!(
                "REGISTER {uri} SIP/2.0\r\n\
Via: SIP/2.0/UDP {local};branch=z9hG4bK{:016x};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:{user}@{host}>;tag={from_tag}\r\n\
To: <sip:{user}@{host}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} REGISTER\r\n\
Contact: <sip:{user}@{local}>\r\n\
Expires: {expires}\r\n\
{auth_line}User-Agent: pe-mini-uas\r\n\
Content-Length: 0\r\n\r\n",
                rand::random::<u64>(),
                user = reg.user,
                host = reg.registrar,
            );
            update(&|l| l.registers_sent += 1);
            let Some(resp) = transact(
                &udp,
                reg.registrar,
                request.as_bytes(),
                &mut responses,
                cseq,
            )
            .await
            else {
                update(&|l| l.last_status = None);
                break;
            };
            let SipMessage::Response(r) = &resp else {
                break;
            };
            let code = r.status_code.code();
            update(&|l| l.last_status = Some(code));
            match code {
                200..=299 => {
                    granted = Some(granted_expires(&resp, &local, expires));
                    break;
                }
                401 | 407 => {
                    let (challenge_name, answer_name) = if code == 401 {
                        ("WWW-Authenticate", "Authorization")
                    } else {
                        ("Proxy-Authenticate", "Proxy-Authorization")
                    };
                    let stale = sip::header_value(&resp, challenge_name)
                        .is_some_and(|c| c.to_ascii_lowercase().contains("stale=true"));
                    // A second plain challenge after our answer means wrong credentials.
                    if auth.is_some() && !stale {
                        break;
                    }
                    let Some(challenge) = sip::header_value(&resp, challenge_name) else {
                        break;
                    };
                    let cnonce = format!("{:016x}", rand::random::<u64>());
                    match digest::answer(
                        &challenge,
                        "REGISTER",
                        &uri,
                        &reg.user,
                        &reg.password,
                        &cnonce,
                        1,
                    ) {
                        Ok(v) => auth = Some((answer_name, v)),
                        Err(_) => break,
                    }
                    update(&|l| l.challenges += 1);
                }
                423 => {
                    let min = sip::header_value(&resp, "Min-Expires")
                        .and_then(|v| v.trim().parse::<u32>().ok());
                    match min {
                        Some(m) if m > expires => expires = m,
                        _ => break,
                    }
                }
                _ => break,
            }
        }
        let wait = match granted {
            Some(secs) => {
                update(&|l| {
                    l.successes += 1;
                    l.registered = true;
                    l.granted_expires = Some(secs);
                });
                refresh_after(secs)
            }
            None => {
                update(&|l| l.registered = false);
                Duration::from_secs(5)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// Refresh before the granted lifetime ends: halfway for short ones, 30 s
/// early for long ones; never sooner than one second.
fn refresh_after(granted_secs: u32) -> Duration {
    let ms = u64::from(granted_secs) * 1000;
    Duration::from_millis(ms.saturating_sub((ms / 2).min(30_000)).max(1000))
}

/// The lifetime the registrar gave our contact: its `expires` parameter, else
/// the Expires header, else what we asked for.
fn granted_expires(resp: &SipMessage, local: &SocketAddr, asked: u32) -> u32 {
    let ours = format!("@{local}");
    let from_contact = resp.headers().iter().find_map(|h| match h {
        Header::Contact(c) => {
            let v = rsip::headers::UntypedHeader::value(c);
            v.split(',').find(|c| c.contains(&ours)).and_then(|c| {
                c.split(';').find_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("expires")
                        .then(|| v.trim().parse().ok())?
                })
            })
        }
        _ => None,
    });
    from_contact
        .or_else(|| sip::header_value(resp, "Expires").and_then(|v| v.trim().parse().ok()))
        .unwrap_or(asked)
}

/// Sends a request over UDP and waits for its final response, retransmitting
/// like RFC 3261 Timer E (0.5 s doubling to 4 s) for about 16 s.
async fn transact(
    udp: &UdpSocket,
    to: SocketAddr,
    request: &[u8],
    responses: &mut mpsc::UnboundedReceiver<SipMessage>,
    cseq: u32,
) -> Option<SipMessage> {
    let mut wait = Duration::from_millis(500);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(16);
    let _ = udp.send_to(request, to).await;
    let mut next_send = tokio::time::Instant::now() + wait;
    loop {
        let until = next_send.min(deadline);
        match tokio::time::timeout_at(until, responses.recv()).await {
            Ok(Some(msg)) => {
                let final_for_us = matches!(sip::cseq(&msg), Ok((n, Method::Register)) if n == cseq)
                    && matches!(&msg, SipMessage::Response(r) if r.status_code.code() >= 200);
                if final_for_us {
                    return Some(msg);
                }
            }
            Ok(None) => return None,
            Err(_) => {
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    return None;
                }
                let _ = udp.send_to(request, to).await;
                wait = (wait * 2).min(Duration::from_secs(4));
                next_send = now + wait;
            }
        }
    }
}
