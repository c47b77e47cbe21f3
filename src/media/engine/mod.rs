//! The media engine: the threaded shell around the media cores (DESIGN.md
//! section 6). A few std worker threads each own a `mio::Poll` with the UDP
//! sockets of their calls and tick every 20 ms, sending the due frame of
//! every call (prompt audio or silence, a continuous stream). There is no
//! task or timer per call and no allocation per packet. Incoming packets are
//! read in one readiness loop, DTMF is decoded in place, and only events
//! (`MediaEvent`) leave the engine.
//!
//! This is a shell: it reads the clock and owns sockets; the cores it drives
//! (`rtp`, `player`, `dtmf::*`) take `now` as an argument.

pub mod sched;
mod uring;
mod worker;

#[cfg(test)]
mod bridge_tests;
#[cfg(test)]
mod sched_tests;
#[cfg(test)]
mod srtp_tests;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use tokio::sync::mpsc::UnboundedSender;

pub use self::sched::ThreadPolicy;
use crate::config::{BatchSend, SourcesConfig, ThreadPriority};
use crate::media::dtmf::{DtmfKey, DtmfSource};
use crate::media::error::MediaError;
use crate::media::g711::Codec;
pub use crate::media::latch::Trust;
use crate::media::prompts::{ClipId, PromptLibrary};
use crate::media::srtp::{SrtpKeys, SrtpSession};

/// Default RTP inactivity timeout (counted from answer, not while held).
pub const DEFAULT_RTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Engine configuration.
#[derive(Clone)]
pub struct MediaConfig {
    /// Address the RTP sockets bind to (and that goes into SDP).
    pub bind_ip: IpAddr,
    /// Inclusive RTP port range; only even ports are used.
    pub port_range: (u16, u16),
    /// Number of media worker threads (at least 1).
    pub workers: usize,
    /// The shared, pre-encoded prompts.
    pub prompts: Arc<PromptLibrary>,
    /// RTP inactivity before `MediaEvent::RtpTimeout`.
    pub rtp_timeout: Duration,
    /// Where media may go (`trunks.toml`), for `MediaEngine::trust`.
    pub sources: Arc<SourcesConfig>,
    /// Priority class and CPUs of the worker threads.
    pub threads: ThreadPolicy,
    /// How a tick's frames are sent (io_uring batches or one sendto each).
    pub batch_send: BatchSend,
}

impl MediaConfig {
    /// A config with 2 workers and the 30 s RTP timeout.
    pub fn new(bind_ip: IpAddr, port_range: (u16, u16), prompts: Arc<PromptLibrary>) -> Self {
        MediaConfig {
            bind_ip,
            port_range,
            workers: 2,
            prompts,
            rtp_timeout: DEFAULT_RTP_TIMEOUT,
            sources: Arc::new(SourcesConfig::default()),
            threads: ThreadPolicy::normal(),
            batch_send: BatchSend::Auto,
        }
    }
}

/// How the workers send their ticks' frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMode {
    /// One io_uring submission per tick (per 1,024 frames).
    IoUring,
    /// One `sendto` per frame.
    Syscall,
}

impl SendMode {
    /// The name used in the config and on /metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            SendMode::IoUring => "io_uring",
            SendMode::Syscall => "syscall",
        }
    }
}

/// The negotiated media of one call leg (from SDP offer/answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamParams {
    pub codec: Codec,
    /// The payload type negotiated for `codec` (normally its static one).
    pub payload_type: u8,
    /// The negotiated telephone-event payload type, if any.
    pub telephone_event_pt: Option<u8>,
    /// The offered address (SDP c= and m= port). RTP is taken only from
    /// its IP; what is sent goes where `trust` allows (`media::latch`).
    pub remote: SocketAddr,
    /// Whether `remote` may get media before RTP came from it
    /// (`MediaEngine::trust`).
    pub trust: Trust,
}

/// What the engine reports about a stream.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum MediaEvent {
    /// A key press, reported once.
    Digit { key: DtmfKey, source: DtmfSource },
    /// The playlist started with this token has been sent completely.
    PlaybackDone { token: u64 },
    /// No RTP for the configured timeout (reported once per silence).
    RtpTimeout,
}

impl fmt::Debug for MediaEvent {
    // Keys may be part of a phone number or personnummer: never logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaEvent::Digit { source, .. } => {
                write!(f, "Digit {{ key: <masked>, source: {source:?} }}")
            }
            MediaEvent::PlaybackDone { token } => write!(f, "PlaybackDone {{ token: {token} }}"),
            MediaEvent::RtpTimeout => write!(f, "RtpTimeout"),
        }
    }
}

/// Counters for metrics and benchmarks (monotonic unless noted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// Open streams (a gauge).
    pub streams: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    /// Packets dropped because the socket buffer was full or sending failed.
    pub send_errors: u64,
    /// Received datagrams that were not valid RTP (RTCP excluded).
    pub malformed_in: u64,
    /// Received packets on SRTP legs that failed authentication or replay checks.
    pub srtp_rejected_in: u64,
    /// Digits reported (any source).
    pub digits: u64,
    /// Frames not sent because no RTP has come from the offered IP yet.
    pub unlatched_suppressed: u64,
    /// Received datagrams dropped because another source sent them.
    pub foreign_dropped: u64,
    /// Frames not sent because media may not go to the offered address.
    pub destination_refused: u64,
    /// Ticks that ran at least one period late (and caught up).
    pub late_ticks: u64,
    /// Frames skipped because a worker fell more than a few ticks behind.
    pub skipped_frames: u64,
    /// The worst lateness of a tick seen so far.
    pub max_tick_lag: Duration,
}

#[derive(Default)]
struct Counters {
    streams: AtomicI64,
    packets_in: AtomicU64,
    packets_out: AtomicU64,
    send_errors: AtomicU64,
    malformed_in: AtomicU64,
    srtp_rejected_in: AtomicU64,
    digits: AtomicU64,
    unlatched_suppressed: AtomicU64,
    foreign_dropped: AtomicU64,
    destination_refused: AtomicU64,
    late_ticks: AtomicU64,
    skipped_frames: AtomicU64,
    max_tick_lag_us: AtomicU64,
}

/// Even ports handed out round robin; ports bound by others are skipped.
struct PortPool {
    ip: IpAddr,
    low: u16,
    high: u16,
    cursor: u16,
    in_use: HashSet<u16>,
}

impl PortPool {
    fn new(ip: IpAddr, (low, high): (u16, u16)) -> io::Result<Self> {
        let first = low.saturating_add(low % 2);
        if first > high || low == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("RTP port range {low}-{high} holds no even port above 0; fix: use e.g. 20000-30000"),
            ));
        }
        Ok(PortPool {
            ip,
            low: first,
            high,
            cursor: first,
            in_use: HashSet::new(),
        })
    }

    fn bind(&mut self) -> Result<(u16, StdUdpSocket), MediaError> {
        let slots = (self.high - self.low) / 2 + 1;
        for _ in 0..slots {
            let port = self.cursor;
            self.cursor = match self.cursor.checked_add(2) {
                Some(p) if p <= self.high => p,
                _ => self.low,
            };
            if self.in_use.contains(&port) {
                continue;
            }
            if let Ok(sock) = StdUdpSocket::bind((self.ip, port)) {
                self.in_use.insert(port);
                return Ok((port, sock));
            }
        }
        Err(MediaError::NoFreePort {
            low: self.low,
            high: self.high,
        })
    }

    fn release(&mut self, port: u16) {
        self.in_use.remove(&port);
    }
}

/// State shared by the handles and the workers.
struct Shared {
    ports: Mutex<PortPool>,
    counters: Counters,
}

impl Shared {
    fn release_port(&self, port: u16) {
        if let Ok(mut pool) = self.ports.lock() {
            pool.release(port);
        }
    }
}

/// A request to a worker.
enum Command {
    Open {
        id: u64,
        port: u16,
        socket: StdUdpSocket,
        params: StreamParams,
        srtp: Option<Box<SrtpSession>>,
        events: UnboundedSender<MediaEvent>,
    },
    /// New SRTP keys (a re-INVITE changed them); `None`: plain RTP.
    Srtp {
        id: u64,
        srtp: Option<Box<SrtpSession>>,
    },
    Play {
        id: u64,
        clips: Vec<ClipId>,
        token: u64,
    },
    Stop {
        id: u64,
    },
    Update {
        id: u64,
        params: StreamParams,
    },
    Hold {
        id: u64,
        held: bool,
    },
    Bridge {
        id: u64,
        other: u64,
    },
    Unbridge {
        id: u64,
    },
    Record {
        id: u64,
        frames: UnboundedSender<Vec<i16>>,
    },
    StopRecording {
        id: u64,
    },
    Close {
        id: u64,
    },
    Shutdown,
}

struct WorkerHandle {
    tx: Sender<Command>,
    waker: Arc<mio::Waker>,
}

impl WorkerHandle {
    fn send(&self, cmd: Command) -> Result<(), MediaError> {
        self.tx.send(cmd).map_err(|_| MediaError::EngineStopped)?;
        self.waker.wake().map_err(MediaError::Io)
    }
}

struct Inner {
    bind_ip: IpAddr,
    sources: Arc<SourcesConfig>,
    shared: Arc<Shared>,
    workers: Vec<WorkerHandle>,
    next_worker: AtomicUsize,
    next_id: AtomicU64,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The lowest priority level any worker got.
    priority: ThreadPriority,
    tids: Vec<i32>,
    /// io_uring only when every worker got it.
    send_mode: SendMode,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for w in &self.workers {
            let _ = w.send(Command::Shutdown);
        }
    }
}

/// A cheap, cloneable handle to the running engine. The workers stop when
/// the last handle and the last stream are dropped, or on `shutdown`.
#[derive(Clone)]
pub struct MediaEngine {
    inner: Arc<Inner>,
}

impl MediaEngine {
    /// Starts the worker threads.
    pub fn start(config: MediaConfig) -> io::Result<MediaEngine> {
        let pool = PortPool::new(config.bind_ip, config.port_range)?;
        let shared = Arc::new(Shared {
            ports: Mutex::new(pool),
            counters: Counters::default(),
        });
        let mut workers = Vec::new();
        let mut threads = Vec::new();
        let mut reports = Vec::new();
        for i in 0..config.workers.max(1) {
            let (tx, rx) = crossbeam_channel::unbounded();
            let poll = mio::Poll::new()?;
            let waker = Arc::new(mio::Waker::new(poll.registry(), worker::WAKER)?);
            let w = worker::Worker::new(
                poll,
                rx,
                shared.clone(),
                config.prompts.clone(),
                config.rtp_timeout,
            )?;
            let (report_tx, report_rx) = std::sync::mpsc::channel();
            let policy = config.threads.clone();
            let batch = config.batch_send;
            let handle = std::thread::Builder::new()
                .name(format!("pe-media-{i}"))
                .spawn(move || {
                    let sched = sched::apply_to_current_thread(&policy, i);
                    let (out, uring_error) = worker::Output::new(batch);
                    let _ = report_tx.send(Started {
                        sched,
                        send: out.mode(),
                        uring_error,
                    });
                    w.run(out)
                })?;
            threads.push(handle);
            workers.push(WorkerHandle { tx, waker });
            reports.push(report_rx);
        }
        let (priority, tids, send_mode) =
            report_threads(&config.threads, config.batch_send, reports);
        Ok(MediaEngine {
            inner: Arc::new(Inner {
                bind_ip: config.bind_ip,
                sources: config.sources,
                shared,
                workers,
                next_worker: AtomicUsize::new(0),
                next_id: AtomicU64::new(1),
                threads: Mutex::new(threads),
                priority,
                tids,
                send_mode,
            }),
        })
    }

    /// How the workers send (`MediaConfig::batch_send`, or its fallback).
    pub fn send_mode(&self) -> SendMode {
        self.inner.send_mode
    }

    /// The kernel thread ids of the workers (for tests reading /proc).
    pub fn worker_tids(&self) -> &[i32] {
        &self.inner.tids
    }

    /// The priority level the media workers run at (the lowest any got):
    /// what was asked in `MediaConfig::threads`, or a fallback.
    pub fn thread_priority(&self) -> ThreadPriority {
        self.inner.priority
    }

    /// Opens a stream on the next free even port and starts sending silence
    /// at the next tick: to `params.remote` when trusted, else once RTP came
    /// from its IP (the playlist waits meanwhile). Events go to `events`.
    pub fn open(
        &self,
        params: StreamParams,
        events: UnboundedSender<MediaEvent>,
    ) -> Result<MediaStream, MediaError> {
        self.open_secure(params, None, events)
    }

    /// Like `open`, with SRTP from the first packet when `srtp` has keys.
    pub fn open_secure(
        &self,
        params: StreamParams,
        srtp: Option<&SrtpKeys>,
        events: UnboundedSender<MediaEvent>,
    ) -> Result<MediaStream, MediaError> {
        let srtp = srtp
            .map(|k| SrtpSession::new(k).map(Box::new))
            .transpose()
            .map_err(|_| MediaError::Srtp)?;
        let worker =
            self.inner.next_worker.fetch_add(1, Ordering::Relaxed) % self.inner.workers.len();
        self.open_on(worker, params, srtp, events)
    }

    /// Opens a stream on the same worker as `other`, so that the two can be
    /// bridged (`MediaStream::bridge`).
    pub fn open_beside(
        &self,
        other: &StreamLink,
        params: StreamParams,
        events: UnboundedSender<MediaEvent>,
    ) -> Result<MediaStream, MediaError> {
        self.open_on(other.worker, params, None, events)
    }

    fn open_on(
        &self,
        worker: usize,
        params: StreamParams,
        srtp: Option<Box<SrtpSession>>,
        events: UnboundedSender<MediaEvent>,
    ) -> Result<MediaStream, MediaError> {
        let (port, socket) = {
            let mut pool = self
                .inner
                .shared
                .ports
                .lock()
                .map_err(|_| MediaError::EngineStopped)?;
            pool.bind()?
        };
        let release = |e: MediaError| {
            self.inner.shared.release_port(port);
            e
        };
        socket
            .set_nonblocking(true)
            .map_err(|e| release(e.into()))?;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let cmd = Command::Open {
            id,
            port,
            socket,
            params,
            srtp,
            events,
        };
        self.inner.workers[worker].send(cmd).map_err(release)?;
        Ok(MediaStream {
            inner: self.inner.clone(),
            worker,
            id,
            port,
        })
    }

    /// How far an offered media address is believed, for a call signalled
    /// from `signalling` (inbound: the INVITE's source; outbound: where our
    /// INVITE went): trusted in that trunk's media networks, refused where
    /// `trunks.toml` never lets media go, unverified otherwise.
    pub fn trust(&self, signalling: IpAddr, offered: IpAddr) -> Trust {
        let s = &self.inner.sources;
        Trust::classify(
            s.media_trusted(signalling, offered),
            s.media_destination_allowed(offered),
        )
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> MediaStats {
        let c = &self.inner.shared.counters;
        MediaStats {
            streams: c.streams.load(Ordering::Relaxed).max(0) as u64,
            packets_in: c.packets_in.load(Ordering::Relaxed),
            packets_out: c.packets_out.load(Ordering::Relaxed),
            send_errors: c.send_errors.load(Ordering::Relaxed),
            malformed_in: c.malformed_in.load(Ordering::Relaxed),
            srtp_rejected_in: c.srtp_rejected_in.load(Ordering::Relaxed),
            digits: c.digits.load(Ordering::Relaxed),
            unlatched_suppressed: c.unlatched_suppressed.load(Ordering::Relaxed),
            foreign_dropped: c.foreign_dropped.load(Ordering::Relaxed),
            destination_refused: c.destination_refused.load(Ordering::Relaxed),
            late_ticks: c.late_ticks.load(Ordering::Relaxed),
            skipped_frames: c.skipped_frames.load(Ordering::Relaxed),
            max_tick_lag: Duration::from_micros(c.max_tick_lag_us.load(Ordering::Relaxed)),
        }
    }

    /// Stops the workers and waits for them; open streams go silent. Later
    /// `open` calls fail with `EngineStopped`.
    pub fn shutdown(&self) {
        for w in &self.inner.workers {
            let _ = w.send(Command::Shutdown);
        }
        let threads = match self.inner.threads.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(_) => return,
        };
        for t in threads {
            let _ = t.join();
        }
    }
}

/// What a worker thread reports once it has set itself up.
struct Started {
    sched: sched::ThreadReport,
    send: SendMode,
    uring_error: Option<io::Error>,
}

/// Collects what each worker got and logs one line per kind of fallback;
/// returns the lowest level applied, the thread ids and the send mode.
fn report_threads(
    policy: &ThreadPolicy,
    batch: BatchSend,
    reports: Vec<std::sync::mpsc::Receiver<Started>>,
) -> (ThreadPriority, Vec<i32>, SendMode) {
    let mut lowest = policy.priority;
    let mut tids = Vec::new();
    let mut warned = false;
    let mut pinned = Vec::new();
    let mut send_mode = match batch {
        BatchSend::Syscall => SendMode::Syscall,
        BatchSend::Auto | BatchSend::IoUring => SendMode::IoUring,
    };
    let mut uring_error = None;
    for rx in reports {
        let Ok(started) = rx.recv_timeout(Duration::from_secs(5)) else {
            continue;
        };
        if started.send == SendMode::Syscall {
            send_mode = SendMode::Syscall;
        }
        uring_error = uring_error.or(started.uring_error);
        let r = started.sched;
        lowest = lowest.min(r.applied.level);
        tids.push(r.tid);
        if let (false, Some(w)) = (warned, sched::fallback_warning(policy, &r.applied)) {
            tracing::warn!("{w}");
            warned = true;
        }
        match r.pinned {
            Some(Ok(cpu)) => pinned.push(cpu),
            Some(Err(e)) => {
                tracing::warn!("media thread not pinned ({e}); it runs on any CPU. Fix: check [media] cpu_affinity in sip.toml")
            }
            None => {}
        }
    }
    match (batch, uring_error) {
        (BatchSend::IoUring, Some(e)) => tracing::warn!(
            error = %e,
            "[media] batch_send = \"io_uring\" is unavailable here; one sendto per frame. Fix: a kernel with io_uring (5.3+) not blocked by seccomp, or batch_send = \"syscall\""
        ),
        (_, Some(e)) => {
            tracing::info!(error = %e, "io_uring unavailable; media sends one sendto per frame")
        }
        (_, None) => {}
    }
    tracing::info!(
        priority = lowest.as_str(),
        cpus = ?pinned,
        send = send_mode.as_str(),
        "media workers started"
    );
    (lowest, tids, send_mode)
}

/// One call leg's RTP stream. Dropping it closes the socket (asynchronously,
/// within a tick) and makes the port reusable.
pub struct MediaStream {
    inner: Arc<Inner>,
    worker: usize,
    id: u64,
    port: u16,
}

impl fmt::Debug for MediaStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaStream")
            .field("id", &self.id)
            .field("port", &self.port)
            .finish()
    }
}

impl MediaStream {
    /// The local RTP port (for the SDP answer).
    pub fn local_port(&self) -> u16 {
        self.port
    }

    /// Where this stream receives, as a peer on this host can reach it
    /// (loopback when bound to every interface).
    pub fn local_addr(&self) -> SocketAddr {
        let ip = self.inner.bind_ip;
        let ip = if ip.is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            ip
        };
        SocketAddr::new(ip, self.port)
    }

    fn send(&self, cmd: Command) {
        // A stopped engine cannot play anything; the call will time out.
        let _ = self.inner.workers[self.worker].send(cmd);
    }

    /// Plays the clips back to back, replacing any running playlist (which
    /// then reports nothing); `PlaybackDone { token }` follows the last frame.
    pub fn play(&self, clips: Vec<ClipId>, token: u64) {
        self.send(Command::Play {
            id: self.id,
            clips,
            token,
        });
    }

    /// Stops the playlist (no `PlaybackDone`); silence continues.
    pub fn stop_playback(&self) {
        self.send(Command::Stop { id: self.id });
    }

    /// Applies renegotiated media (re-INVITE); the RTP stream stays continuous.
    /// A new address or trust starts latching over (as `open`).
    pub fn update(&self, params: StreamParams) {
        self.send(Command::Update {
            id: self.id,
            params,
        });
    }

    /// Switches to new SRTP keys (`None`: plain RTP) from the next packet.
    pub fn set_srtp(&self, keys: Option<&SrtpKeys>) -> Result<(), MediaError> {
        let srtp = keys
            .map(|k| SrtpSession::new(k).map(Box::new))
            .transpose()
            .map_err(|_| MediaError::Srtp)?;
        self.send(Command::Srtp { id: self.id, srtp });
        Ok(())
    }

    /// While held (peer sent sendonly/inactive) nothing is sent, playback
    /// pauses and the RTP timeout is suspended; it restarts on resume.
    pub fn set_hold(&self, held: bool) {
        self.send(Command::Hold { id: self.id, held });
    }

    /// Relays RTP both ways between this stream and `other` (the two-leg
    /// bridge): each side gets the other's audio and RFC 4733 events under
    /// its own SSRC, payload types and continuous seq/ts, as soon as they
    /// arrive. Our own prompts and key presses still go out and pause the
    /// relay towards that side while they play. Both must be on one worker
    /// (`MediaEngine::open_beside`).
    pub fn bridge(&self, other: &StreamLink) -> Result<(), MediaError> {
        if self.worker != other.worker || !Arc::ptr_eq(&self.inner, &other.inner) {
            return Err(MediaError::NotBridgeable);
        }
        self.send(Command::Bridge {
            id: self.id,
            other: other.id,
        });
        Ok(())
    }

    /// A handle naming this stream, for `open_beside` and `bridge` from
    /// another task (it keeps nothing open).
    pub fn link(&self) -> StreamLink {
        StreamLink {
            inner: self.inner.clone(),
            worker: self.worker,
            id: self.id,
        }
    }

    /// Ends this stream's bridge; both sides send their own frames again.
    pub fn unbridge(&self) {
        self.send(Command::Unbridge { id: self.id });
    }

    /// Sends the decoded 8 kHz PCM of every received audio packet to
    /// `frames` until `stop_recording` (or the receiver is dropped).
    pub fn record(&self, frames: UnboundedSender<Vec<i16>>) {
        self.send(Command::Record {
            id: self.id,
            frames,
        });
    }

    /// Stops sending received audio to the recorder.
    pub fn stop_recording(&self) {
        self.send(Command::StopRecording { id: self.id });
    }
}

/// Names a stream (its engine, worker and id) without owning it.
#[derive(Clone)]
pub struct StreamLink {
    inner: Arc<Inner>,
    worker: usize,
    id: u64,
}

impl StreamLink {
    /// Stops the named stream's playlist (no `PlaybackDone`), as
    /// `MediaStream::stop_playback` does.
    pub fn stop_playback(&self) {
        if let Some(w) = self.inner.workers.get(self.worker) {
            let _ = w.send(Command::Stop { id: self.id });
        }
    }
}

impl fmt::Debug for StreamLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamLink({}/{})", self.worker, self.id)
    }
}

impl Drop for MediaStream {
    fn drop(&mut self) {
        if self.inner.workers[self.worker]
            .send(Command::Close { id: self.id })
            .is_err()
        {
            self.inner.shared.release_port(self.port);
        }
    }
}
