//! One simulated caller: a tokio shell around the `uac` and `media` cores that
//! owns the SIP socket (UDP, or one TCP connection) and the RTP socket.
//!
//! ```no_run
//! # async fn demo() -> Result<(), simulators::caller::CallError> {
//! use simulators::caller::{Call, CallConfig, DtmfMethod};
//! use simulators::DtmfKey;
//! let call = Call::dial(CallConfig::new("127.0.0.1:5060".parse().unwrap())).await?;
//! call.wait_for_silence(std::time::Duration::from_millis(1500), std::time::Duration::from_secs(30)).await?;
//! call.send_digit(DtmfKey::Digit(1), DtmfMethod::Rfc4733)?;
//! call.hangup().await?;
//! call.save_wav("call.wav".as_ref()).ok();
//! # Ok(()) }
//! ```

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{watch, Notify};

use crate::media::{MediaConfig, MediaDigit, MediaLeg, MediaStats, DEFAULT_SPEECH_LEVEL};
use crate::recording::{ReceivedAudio, ReceivedEvent, WavError};
use crate::sdp::{self, OfferedCodec, SdpAnswer, SdpError};
use crate::sip::TcpFramer;
pub use crate::uac::{CallState, EndReason, Transport};
use crate::uac::{Uac, UacConfig, UacEvent};
use crate::DtmfKey;

/// How `send_digit` delivers a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfMethod {
    /// RFC 4733 telephone-event RTP packets (in-band tones if not negotiated).
    Rfc4733,
    /// SIP INFO in the dialog.
    SipInfo(InfoFormat),
    /// Tones in the G.711 audio.
    InBand,
}

/// The body format of a DTMF SIP INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfoFormat {
    /// `application/dtmf-relay`: `Signal=5\r\nDuration=160\r\n`.
    DtmfRelay,
    /// `application/dtmf`: the key alone.
    Dtmf,
}

/// What to call and how to present ourselves.
#[derive(Debug, Clone)]
pub struct CallConfig {
    pub server: SocketAddr,
    pub transport: Transport,
    /// The dialled number, `1177` by default.
    pub to_user: String,
    /// Caller ID (`+46701234567`) or `anonymous` for a withheld number.
    pub from_user: String,
    /// Codecs offered, in preference order.
    pub codecs: Vec<OfferedCodec>,
    /// Offer telephone-event (RFC 4733).
    pub telephone_event: bool,
    /// The address we bind and advertise.
    pub local_ip: IpAddr,
    /// Keep received audio frames (turn off for long calls to save memory).
    pub record_audio: bool,
    /// Key press length for RFC 4733 and in-band digits.
    pub digit_ms: u32,
    /// Mean absolute level above which received audio counts as speech.
    pub speech_level: u16,
    /// Seed for Call-ID, tags, branches, SSRC; random when `None`.
    pub seed: Option<u64>,
    /// More headers for the INVITE (`P-Asserted-Identity`, say).
    pub extra_headers: Vec<(String, String)>,
}

impl CallConfig {
    /// A UDP call to `1177` from `+46701234567` offering PCMU, PCMA and telephone-event.
    pub fn new(server: SocketAddr) -> Self {
        CallConfig {
            server,
            transport: Transport::Udp,
            to_user: "1177".into(),
            from_user: "+46701234567".into(),
            codecs: vec![OfferedCodec::Pcmu, OfferedCodec::Pcma],
            telephone_event: true,
            local_ip: if server.ip().is_loopback() {
                server.ip()
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            },
            record_audio: true,
            digit_ms: 100,
            speech_level: DEFAULT_SPEECH_LEVEL,
            seed: None,
            extra_headers: Vec::new(),
        }
    }
}

/// Why a call did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    /// The server answered the INVITE with this final status (486, 488, 503...).
    #[error("call rejected with {0}")]
    Rejected(u16),
    #[error("no final response to the INVITE")]
    Timeout,
    #[error("the call was cancelled")]
    Cancelled,
    #[error("the call has ended ({0:?})")]
    Ended(EndReason),
    #[error("the call is not answered")]
    NotAnswered,
    #[error("unusable SDP answer: {0}")]
    BadAnswer(#[from] SdpError),
    #[error("timed out waiting for {0}")]
    WaitTimeout(&'static str),
}

/// A SIP INFO the server sent us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedInfo {
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

struct Inner {
    uac: Uac,
    media: Option<MediaLeg>,
    answer: Option<SdpAnswer>,
    answer_error: Option<SdpError>,
    provisional: Vec<u16>,
    infos: Vec<ReceivedInfo>,
    invite_at: Instant,
    answered_at: Option<Instant>,
    seed: u64,
    record: bool,
    speech_level: u16,
    dropped: bool,
}

/// A live (or finished) call. Dropping it hangs up in the background.
pub struct Call {
    inner: Arc<Mutex<Inner>>,
    wake: Arc<Notify>,
    progress: watch::Receiver<u64>,
    digit_ms: u32,
}

enum SipIo {
    Udp(UdpSocket, SocketAddr),
    Tcp {
        read: OwnedReadHalf,
        write: OwnedWriteHalf,
        framer: TcpFramer,
    },
}

impl SipIo {
    async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            SipIo::Udp(s, to) => s.send_to(bytes, *to).await.map(|_| ()),
            SipIo::Tcp { write, .. } => write.write_all(bytes).await,
        }
    }

    /// Reads until at least one whole message is available.
    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<Vec<Vec<u8>>> {
        match self {
            SipIo::Udp(s, _) => {
                let (n, _) = s.recv_from(buf).await?;
                Ok(vec![buf.get(..n).unwrap_or_default().to_vec()])
            }
            SipIo::Tcp { read, framer, .. } => {
                let n = read.read(buf).await?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                framer.push(buf.get(..n).unwrap_or_default());
                let mut out = Vec::new();
                while let Some(m) = framer
                    .next_message()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
                {
                    out.push(m);
                }
                Ok(out)
            }
        }
    }
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Call {
    /// Sends the INVITE and returns at once; use `wait_answered` (or `dial`).
    pub async fn start(cfg: CallConfig) -> Result<Call, CallError> {
        let rtp = UdpSocket::bind(SocketAddr::new(cfg.local_ip, 0)).await?;
        let (io, local) = match cfg.transport {
            Transport::Udp => {
                let s = UdpSocket::bind(SocketAddr::new(cfg.local_ip, 0)).await?;
                let local = s.local_addr()?;
                (SipIo::Udp(s, cfg.server), local)
            }
            Transport::Tcp => {
                let s = TcpStream::connect(cfg.server).await?;
                s.set_nodelay(true)?;
                let local = s.local_addr()?;
                let (read, write) = s.into_split();
                let framer = TcpFramer::default();
                (
                    SipIo::Tcp {
                        read,
                        write,
                        framer,
                    },
                    local,
                )
            }
        };
        let rtp_local = rtp.local_addr()?;
        let advertised = advertised_ip(cfg.local_ip, cfg.server);
        let local = SocketAddr::new(advertised, local.port());
        let seed = cfg.seed.unwrap_or_else(rand::random);
        let offer = sdp::offer(
            advertised,
            rtp_local.port(),
            &cfg.codecs,
            cfg.telephone_event,
            1,
        );
        let t0 = now();
        let uac = Uac::new(
            UacConfig {
                local,
                server: cfg.server,
                transport: cfg.transport,
                to_user: cfg.to_user.clone(),
                from_user: cfg.from_user.clone(),
                sdp_offer: offer,
                seed,
                extra_headers: cfg.extra_headers.clone(),
            },
            t0,
        );
        let inner = Arc::new(Mutex::new(Inner {
            uac,
            media: None,
            answer: None,
            answer_error: None,
            provisional: Vec::new(),
            infos: Vec::new(),
            invite_at: t0,
            answered_at: None,
            seed,
            record: cfg.record_audio,
            speech_level: cfg.speech_level,
            dropped: false,
        }));
        let wake = Arc::new(Notify::new());
        let (tx, progress) = watch::channel(0u64);
        tokio::spawn(drive(inner.clone(), wake.clone(), tx, io, rtp));
        Ok(Call {
            inner,
            wake,
            progress,
            digit_ms: cfg.digit_ms,
        })
    }

    /// Calls and waits for the final answer: `Ok` when answered (200 + ACK),
    /// `Err(Rejected(code))` for 4xx-6xx (already ACKed).
    pub async fn dial(cfg: CallConfig) -> Result<Call, CallError> {
        let call = Call::start(cfg).await?;
        call.wait_answered().await?;
        Ok(call)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-checks after every driver step; `None` if the driver is gone
    /// without the check passing (it only stops once the call is over).
    async fn wait_until<T>(&self, mut check: impl FnMut(&Inner) -> Option<T>) -> Option<T> {
        let mut rx = self.progress.clone();
        loop {
            if let Some(v) = check(&self.lock()) {
                return Some(v);
            }
            if rx.changed().await.is_err() {
                return check(&self.lock());
            }
        }
    }

    /// Waits for 200 OK (`Ok`) or the end of the call (`Err`).
    pub async fn wait_answered(&self) -> Result<(), CallError> {
        self.wait_until(|i| match i.uac.state() {
            CallState::Confirmed | CallState::Terminating => Some(match &i.answer_error {
                Some(e) => Err(CallError::BadAnswer(e.clone())),
                None => Ok(()),
            }),
            CallState::Terminated(r) => Some(Err(end_error(r))),
            _ => None,
        })
        .await
        .unwrap_or(Err(CallError::Ended(EndReason::TransportError)))
    }

    /// Waits for a provisional response (100/180/183) and returns its code.
    pub async fn wait_provisional(&self) -> Result<u16, CallError> {
        self.wait_until(|i| match i.uac.state() {
            CallState::Proceeding(c) => Some(Ok(*c)),
            CallState::Calling => None,
            CallState::Terminated(r) => Some(Err(end_error(r))),
            _ => Some(Err(CallError::NotAnswered)),
        })
        .await
        .unwrap_or(Err(CallError::Ended(EndReason::TransportError)))
    }

    /// Waits until the call is over and returns why.
    pub async fn wait_ended(&self) -> EndReason {
        self.wait_until(|i| match i.uac.state() {
            CallState::Terminated(r) => Some(r.clone()),
            _ => None,
        })
        .await
        .unwrap_or(EndReason::TransportError)
    }

    /// The call state now.
    pub fn state(&self) -> CallState {
        self.lock().uac.state().clone()
    }

    /// How the call ended, once it has (e.g. `RemoteHangup` after a server BYE).
    pub fn ended(&self) -> Option<EndReason> {
        match self.lock().uac.state() {
            CallState::Terminated(r) => Some(r.clone()),
            _ => None,
        }
    }

    /// The provisional codes seen, in order.
    pub fn provisional_codes(&self) -> Vec<u16> {
        self.lock().provisional.clone()
    }

    /// The negotiated media, once answered.
    pub fn answer(&self) -> Option<SdpAnswer> {
        self.lock().answer
    }

    /// When the 200 OK arrived.
    pub fn answered_at(&self) -> Option<Instant> {
        self.lock().answered_at
    }

    /// INVITE sent -> 200 OK received.
    pub fn answer_latency(&self) -> Option<Duration> {
        let i = self.lock();
        i.answered_at
            .map(|a| a.saturating_duration_since(i.invite_at))
    }

    /// Queues a key press. Media methods are paced by the 20 ms clock; INFOs
    /// are sent one after the other.
    pub fn send_digit(&self, key: DtmfKey, method: DtmfMethod) -> Result<(), CallError> {
        {
            let mut i = self.lock();
            check_confirmed(&i)?;
            let t = now();
            match method {
                DtmfMethod::SipInfo(format) => {
                    let (ct, body) = match format {
                        InfoFormat::DtmfRelay => (
                            "application/dtmf-relay",
                            format!("Signal={}\r\nDuration={}\r\n", key.to_char(), self.digit_ms),
                        ),
                        InfoFormat::Dtmf => ("application/dtmf", key.to_char().to_string()),
                    };
                    i.uac
                        .send_info(t, ct, body.into_bytes())
                        .map_err(|_| CallError::NotAnswered)?;
                }
                DtmfMethod::Rfc4733 | DtmfMethod::InBand => {
                    let m = if method == DtmfMethod::InBand {
                        MediaDigit::InBand
                    } else {
                        MediaDigit::Rfc4733
                    };
                    let ms = self.digit_ms;
                    let media = i.media.as_mut().ok_or(CallError::NotAnswered)?;
                    media.queue_digit(key, m, ms);
                }
            }
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Queues every keypad character of `keys` (others are skipped).
    pub fn send_digits(&self, keys: &str, method: DtmfMethod) -> Result<(), CallError> {
        for key in keys.chars().filter_map(DtmfKey::from_char) {
            self.send_digit(key, method)?;
        }
        Ok(())
    }

    /// Queues 8 kHz linear audio to send (e.g. speech for a voice note).
    pub fn play_audio(&self, samples: Vec<i16>) -> Result<(), CallError> {
        {
            let mut i = self.lock();
            check_confirmed(&i)?;
            i.media
                .as_mut()
                .ok_or(CallError::NotAnswered)?
                .queue_audio(samples);
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Waits until queued digits/audio are sent and INFOs answered.
    pub async fn wait_sent(&self) -> Result<(), CallError> {
        self.wait_until(|i| {
            if let CallState::Terminated(r) = i.uac.state() {
                return Some(Err(CallError::Ended(r.clone())));
            }
            let busy =
                i.uac.info_pending() || i.media.as_ref().is_some_and(MediaLeg::is_sending_queued);
            (!busy).then_some(Ok(()))
        })
        .await
        .unwrap_or(Err(CallError::Ended(EndReason::TransportError)))
    }

    /// Cancels before the answer: CANCEL, then 200 and 487 (ACKed).
    /// Returns how the call ended (normally `Cancelled`; `LocalHangup` if the
    /// answer crossed the CANCEL).
    pub async fn cancel(&self) -> Result<EndReason, CallError> {
        {
            let mut i = self.lock();
            let t = now();
            i.uac.cancel(t).map_err(|_| match i.uac.state() {
                CallState::Terminated(r) => CallError::Ended(r.clone()),
                _ => CallError::NotAnswered,
            })?;
        }
        self.wake.notify_one();
        Ok(self.wait_ended().await)
    }

    /// Hangs up (BYE, or CANCEL if unanswered) and waits for the end.
    pub async fn hangup(&self) -> Result<EndReason, CallError> {
        {
            let mut i = self.lock();
            if let CallState::Terminated(r) = i.uac.state() {
                return Err(CallError::Ended(r.clone()));
            }
            let t = now();
            i.uac.hangup(t);
        }
        self.wake.notify_one();
        Ok(self.wait_ended().await)
    }

    /// Waits until we have heard speech (since this call) and then `quiet` of
    /// silence or no audio at all: "the prompt has finished".
    pub async fn wait_for_silence(
        &self,
        quiet: Duration,
        timeout: Duration,
    ) -> Result<(), CallError> {
        let since = now();
        self.wait_speech_then_quiet(since, Some(quiet), timeout, "silence")
            .await
    }

    /// Waits until speech is heard (a prompt starts).
    pub async fn wait_for_audio(&self, timeout: Duration) -> Result<(), CallError> {
        let since = now();
        self.wait_speech_then_quiet(since, None, timeout, "audio")
            .await
    }

    /// The shared loop behind the two waits, from an explicit start time.
    pub async fn wait_speech_then_quiet(
        &self,
        since: Instant,
        quiet: Option<Duration>,
        timeout: Duration,
        what: &'static str,
    ) -> Result<(), CallError> {
        let deadline = since + timeout;
        loop {
            let t = now();
            let wake_at = {
                let i = self.lock();
                if let CallState::Terminated(r) = i.uac.state() {
                    return Err(CallError::Ended(r.clone()));
                }
                let last = i
                    .media
                    .as_ref()
                    .and_then(MediaLeg::last_speech)
                    .filter(|s| *s >= since);
                match (last, quiet) {
                    (Some(_), None) => return Ok(()),
                    (Some(l), Some(q)) if t.saturating_duration_since(l) >= q => return Ok(()),
                    (Some(l), Some(q)) => l + q,
                    (None, _) => t + Duration::from_millis(20),
                }
            };
            if t >= deadline {
                return Err(CallError::WaitTimeout(what));
            }
            let until = wake_at.min(deadline).max(t + Duration::from_millis(5));
            tokio::time::sleep_until(until.into()).await;
        }
    }

    /// A copy of everything received so far.
    pub fn received_audio(&self) -> ReceivedAudio {
        self.lock()
            .media
            .as_ref()
            .map(|m| m.received().clone())
            .unwrap_or_default()
    }

    /// Received frames dominated by a tone of `hz` so far (needs
    /// `record_audio`, the default for single calls).
    pub fn tone_frames(&self, hz: f32) -> usize {
        self.lock()
            .media
            .as_ref()
            .map_or(0, |m| m.received().tone_frames(hz))
    }

    /// RFC 4733 events received from the server.
    pub fn received_events(&self) -> Vec<ReceivedEvent> {
        self.lock()
            .media
            .as_ref()
            .map(|m| m.received().events().to_vec())
            .unwrap_or_default()
    }

    /// SIP INFOs received from the server.
    pub fn received_infos(&self) -> Vec<ReceivedInfo> {
        self.lock().infos.clone()
    }

    /// RTP counters.
    pub fn media_stats(&self) -> MediaStats {
        self.lock()
            .media
            .as_ref()
            .map(MediaLeg::stats)
            .unwrap_or_default()
    }

    /// Writes the received audio as an 8 kHz mono 16-bit WAV file.
    pub fn save_wav(&self, path: &Path) -> Result<(), WavError> {
        self.received_audio().save_wav(path)
    }

    /// The Call-ID (for correlating with server logs).
    pub fn call_id(&self) -> String {
        self.lock().uac.call_id().to_string()
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        {
            let mut i = self.lock();
            i.dropped = true;
            let t = now();
            i.uac.hangup(t);
        }
        self.wake.notify_one();
    }
}

fn check_confirmed(i: &Inner) -> Result<(), CallError> {
    match i.uac.state() {
        CallState::Confirmed => Ok(()),
        CallState::Terminated(r) => Err(CallError::Ended(r.clone())),
        _ => Err(CallError::NotAnswered),
    }
}

fn end_error(r: &EndReason) -> CallError {
    match r {
        EndReason::Rejected(code) => CallError::Rejected(*code),
        EndReason::Timeout => CallError::Timeout,
        EndReason::Cancelled => CallError::Cancelled,
        other => CallError::Ended(other.clone()),
    }
}

/// The address to put in Via/Contact/SDP: the bound one, or for a wildcard
/// bind the one the OS would route to the server from.
pub(crate) fn advertised_ip(local: IpAddr, server: SocketAddr) -> IpAddr {
    if !local.is_unspecified() {
        return local;
    }
    std::net::UdpSocket::bind(SocketAddr::new(local, 0))
        .and_then(|s| {
            s.connect(server)?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(local)
}

/// How long a finished call keeps answering retransmissions before closing.
const LINGER: Duration = Duration::from_secs(2);

async fn drive(
    inner: Arc<Mutex<Inner>>,
    wake: Arc<Notify>,
    progress: watch::Sender<u64>,
    mut io: SipIo,
    rtp: UdpSocket,
) {
    let mut sip_buf = vec![0u8; 65536];
    let mut rtp_buf = vec![0u8; 2048];
    let mut pkt = Vec::with_capacity(256);
    let mut version = 0u64;
    let mut finished_at: Option<Instant> = None;
    loop {
        let t = now();
        let mut sip_out = Vec::new();
        let mut rtp_out = Vec::new();
        let (deadline, dest, done) = {
            let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
            let i = &mut *guard;
            while let Some(ev) = i.uac.poll_event() {
                on_event(i, t, ev);
            }
            while let Some(b) = i.uac.poll_transmit() {
                sip_out.push(b);
            }
            if let Some(m) = i.media.as_mut() {
                while m.poll_transmit(t, &mut pkt) {
                    rtp_out.push(pkt.clone());
                }
            }
            let deadline = [
                i.uac.poll_timeout(),
                i.media.as_ref().and_then(MediaLeg::poll_timeout),
            ]
            .into_iter()
            .flatten()
            .min();
            if i.uac.is_finished() && finished_at.is_none() {
                finished_at = Some(t);
            }
            let linger_over = finished_at.is_some_and(|f| t >= f + LINGER || i.dropped);
            (deadline, i.answer.map(|a| a.rtp_addr), linger_over)
        };
        for b in &sip_out {
            if io.send(b).await.is_err() {
                tracing::debug!("SIP send failed");
            }
        }
        if let Some(dest) = dest {
            for p in &rtp_out {
                let _ = rtp.send_to(p, dest).await;
            }
        }
        version += 1;
        progress.send_replace(version);
        if done {
            return;
        }
        let deadline = match (deadline, finished_at) {
            (Some(d), Some(f)) => Some(d.min(f + LINGER)),
            (d, Some(f)) => Some(d.unwrap_or(f + LINGER)),
            (d, None) => d,
        };
        let sleep_to = deadline.unwrap_or(t + Duration::from_secs(3600));
        tokio::select! {
            r = io.recv(&mut sip_buf) => {
                let t = now();
                match r {
                    Ok(msgs) => {
                        let mut i = inner.lock().unwrap_or_else(|p| p.into_inner());
                        for m in msgs {
                            i.uac.handle_bytes(t, &m);
                        }
                    }
                    Err(e) => {
                        tracing::debug!("SIP transport closed: {e}");
                        // Keep media running but stop reading a dead TCP stream.
                        if matches!(io, SipIo::Tcp { .. }) {
                            let mut i = inner.lock().unwrap_or_else(|p| p.into_inner());
                            i.uac.transport_failed();
                            if let Some(m) = i.media.as_mut() {
                                m.stop();
                            }
                            drop(i);
                            progress.send_replace(version + 1);
                            return;
                        }
                    }
                }
            }
            r = rtp.recv_from(&mut rtp_buf) => {
                if let Ok((n, _)) = r {
                    let t = now();
                    let mut i = inner.lock().unwrap_or_else(|p| p.into_inner());
                    if let (Some(m), Some(d)) = (i.media.as_mut(), rtp_buf.get(..n)) {
                        m.handle_rtp(t, d);
                    }
                }
            }
            _ = tokio::time::sleep_until(sleep_to.into()) => {
                let t = now();
                inner.lock().unwrap_or_else(|p| p.into_inner()).uac.handle_timeout(t);
            }
            _ = wake.notified() => {}
        }
    }
}

fn on_event(i: &mut Inner, t: Instant, ev: UacEvent) {
    match ev {
        UacEvent::Provisional(code) => i.provisional.push(code),
        UacEvent::Answered { sdp } => {
            i.answered_at = Some(t);
            match sdp::parse_answer(&sdp) {
                Ok(a) => {
                    let mut mc =
                        MediaConfig::new(a.codec, a.payload_type, a.telephone_event_pt, i.seed);
                    mc.record_audio = i.record;
                    mc.speech_level = i.speech_level;
                    let mut leg = MediaLeg::new(mc);
                    leg.start(t);
                    i.media = Some(leg);
                    i.answer = Some(a);
                }
                Err(e) => {
                    i.answer_error = Some(e);
                    i.uac.hangup(t);
                }
            }
        }
        UacEvent::ReInvite { sdp } => {
            if let Ok(a) = sdp::parse_answer(&sdp) {
                if let Some(old) = i.answer.as_mut() {
                    old.rtp_addr = a.rtp_addr;
                }
            }
        }
        UacEvent::InfoReceived { content_type, body } => {
            i.infos.push(ReceivedInfo { content_type, body })
        }
        UacEvent::Ended(_) => {
            if let Some(m) = i.media.as_mut() {
                m.stop();
            }
        }
        UacEvent::RequestReceived { .. }
        | UacEvent::RequestDone { .. }
        | UacEvent::RequestTimeout { .. } => {}
    }
}
