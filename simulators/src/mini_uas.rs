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
//!
//! This file binds the sockets and dispatches requests; `answer` plays one
//! INVITE out as `UasBehavior` says, `media` is a call's RTP, and `register`
//! the registration client.

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

use crate::sip::{self, TcpFramer};
use crate::Codec;

mod answer;
mod media;
mod register;

use answer::answer_call;
use register::register_loop;
pub use register::{Registration, RegistrationLog};

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
    /// Keys to press (RFC 4733) this long after the answer, like a resident
    /// answering a survey.
    pub keys: Vec<(Duration, char)>,
    /// Keys to send as SIP INFO (`application/dtmf-relay`) this long after the answer.
    pub info_keys: Vec<(Duration, char)>,
    /// Keep the decoded audio received (`UasCallLog::heard`).
    pub record: bool,
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
            keys: Vec::new(),
            info_keys: Vec::new(),
            record: false,
        }
    }
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
    /// Decoded audio received, in arrival order (with `UasBehavior::record`).
    pub heard: Vec<i16>,
    /// Keys pressed (`UasBehavior::keys`), in order.
    pub keys_sent: String,
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
