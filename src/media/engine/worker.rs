//! One media worker thread: a `mio::Poll` over its streams' sockets, a
//! 20 ms tick anchored to the worker's start (late ticks catch up by at most
//! `MAX_CATCHUP` frames, never drift), and per-stream state kept small.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use tokio::sync::mpsc::UnboundedSender;

use super::uring::UringSender;
use super::{Command, MediaEvent, SendMode, Shared, StreamParams};
use crate::config::BatchSend;
use crate::media::dtmf::goertzel::InbandDetector;
use crate::media::dtmf::rfc4733::Rfc4733Receiver;
use crate::media::dtmf::{DtmfKey, DtmfSource};
use crate::media::latch::{Destination, Latch};
use crate::media::player::Player;
use crate::media::prompts::{PromptLibrary, FRAME_BYTES};
use crate::media::relay::{self, OutPosition, RelayMap};
use crate::media::rtp::{self, RtpHeader, RtpPacket};
use crate::media::srtp::SrtpSession;

/// The mio token of the command waker (stream tokens are slab indices).
pub(super) const WAKER: Token = Token(usize::MAX);
/// The packet interval.
pub(super) const TICK: Duration = Duration::from_millis(20);
/// At most this many overdue frames are sent in a burst; beyond that the
/// stream's timestamp jumps ahead instead (receivers treat it as a gap).
const MAX_CATCHUP: u32 = 3;
/// Packets read from one socket per tick (a flooded socket must not starve
/// the others; the rest waits for the next tick or is dropped by the kernel).
const READ_BUDGET: usize = 64;
/// An RFC 4733 digit this soon after the same in-band digit is one press
/// that arrived both ways (gateways that send both).
const DUPLICATE_WINDOW: Duration = Duration::from_millis(500);
/// Largest datagram we read.
const MAX_DATAGRAM: usize = 1500;

/// Per-call state: well under 1 KiB plus the socket.
struct Stream {
    port: u16,
    socket: UdpSocket,
    params: StreamParams,
    /// Where frames may go and whose packets count (`media::latch`).
    latch: Latch,
    events: UnboundedSender<MediaEvent>,
    player: Player,
    ssrc: u32,
    seq: u16,
    ts: u32,
    marker: bool,
    held: bool,
    last_rx: Instant,
    timed_out: bool,
    rfc4733: Rfc4733Receiver,
    saw_rfc4733: bool,
    inband: InbandDetector,
    last_inband: Option<(DtmfKey, Instant)>,
    /// The slot of the stream this one is bridged to: what arrives here is
    /// relayed out of that stream's socket.
    bridge: Option<usize>,
    /// Maps the bridged peer's input onto this stream's seq/ts.
    relay: RelayMap,
    /// Registered on the control poll (bridged: read as soon as a packet lands,
    /// not at the next tick, so the bridge adds no tick of delay).
    fast: bool,
    /// Decoded received audio goes here while recording.
    recorder: Option<UnboundedSender<Vec<i16>>>,
    /// SRTP keys of this leg: packets are protected on the way out and
    /// checked and decrypted on the way in (`send_rtp`, `handle_datagram`).
    srtp: Option<Box<SrtpSession>>,
}

impl Stream {
    fn emit(&self, ev: MediaEvent) {
        // The call may already be gone; its stream is about to be closed.
        let _ = self.events.send(ev);
    }
}

/// Counters accumulated locally and flushed once per tick (no shared cache
/// line written per packet).
#[derive(Default)]
struct Local {
    packets_in: u64,
    packets_out: u64,
    send_errors: u64,
    malformed_in: u64,
    srtp_rejected_in: u64,
    digits: u64,
    unlatched_suppressed: u64,
    foreign_dropped: u64,
    destination_refused: u64,
}

pub(super) struct Worker {
    /// Holds only the command waker: the thread sleeps here.
    control: Poll,
    /// Holds the stream sockets: only ever polled without blocking.
    sockets: Poll,
    rx: Receiver<Command>,
    shared: Arc<Shared>,
    prompts: Arc<PromptLibrary>,
    rtp_timeout: Duration,
    streams: Vec<Option<Stream>>,
    free: Vec<usize>,
    by_id: HashMap<u64, usize>,
    backlog: Vec<usize>,
    local: Local,
    recv_buf: Box<[u8; MAX_DATAGRAM]>,
    send_buf: [u8; rtp::HEADER_LEN + FRAME_BYTES],
    pcm: Box<[i16; MAX_DATAGRAM]>,
}

impl Worker {
    pub(super) fn new(
        control: Poll,
        rx: Receiver<Command>,
        shared: Arc<Shared>,
        prompts: Arc<PromptLibrary>,
        rtp_timeout: Duration,
    ) -> io::Result<Self> {
        Ok(Worker {
            control,
            sockets: Poll::new()?,
            rx,
            shared,
            prompts,
            rtp_timeout,
            streams: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            backlog: Vec::new(),
            local: Local::default(),
            recv_buf: Box::new([0; MAX_DATAGRAM]),
            send_buf: [0; rtp::HEADER_LEN + FRAME_BYTES],
            pcm: Box::new([0; MAX_DATAGRAM]),
        })
    }

    /// The loop: sleep on the control poll (commands) until the next tick;
    /// at each tick collect socket readiness without blocking, read, then
    /// send. Sockets never wake the thread, so 5,000 calls cost 50 wakeups
    /// a second per worker, not one per packet.
    pub(super) fn run(mut self, mut out: Output) {
        let mut control_events = Events::with_capacity(16);
        let mut socket_events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + TICK;
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            if let Err(e) = self.control.poll(&mut control_events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(error = %e, "media worker poll failed; worker stops");
                break;
            }
            let mut woken = false;
            for ev in control_events.iter() {
                if ev.token() == WAKER {
                    woken = true;
                } else {
                    self.read_socket(ev.token().0, Instant::now());
                }
            }
            if woken && !self.drain_commands(Instant::now()) {
                break;
            }
            let now = Instant::now();
            if now < next_tick {
                continue;
            }
            self.receive(now, &mut socket_events);
            let lag = now - next_tick;
            let behind = (lag.as_nanos() / TICK.as_nanos()) as u32;
            let (send, skip) = if behind > MAX_CATCHUP {
                (MAX_CATCHUP + 1, behind - MAX_CATCHUP)
            } else {
                (behind + 1, 0)
            };
            self.tick(now, send, skip, &mut out);
            next_tick += TICK * (send + skip);
            self.flush_stats(lag, behind > 0, skip);
        }
        self.close_all();
    }

    /// Reads every socket that became readable since the last tick.
    fn receive(&mut self, now: Instant, events: &mut Events) {
        for slot in std::mem::take(&mut self.backlog) {
            self.read_socket(slot, now);
        }
        // Bounded: a full batch means more may be waiting, but never spin.
        for _ in 0..64 {
            if self.sockets.poll(events, Some(Duration::ZERO)).is_err() {
                return;
            }
            let mut n = 0;
            for ev in events.iter() {
                n += 1;
                self.read_socket(ev.token().0, now);
            }
            if n < events.capacity() {
                return;
            }
        }
    }

    fn flush_stats(&mut self, lag: Duration, late: bool, skip: u32) {
        let c = &self.shared.counters;
        let l = std::mem::take(&mut self.local);
        c.packets_in.fetch_add(l.packets_in, Ordering::Relaxed);
        c.packets_out.fetch_add(l.packets_out, Ordering::Relaxed);
        c.send_errors.fetch_add(l.send_errors, Ordering::Relaxed);
        c.malformed_in.fetch_add(l.malformed_in, Ordering::Relaxed);
        c.srtp_rejected_in
            .fetch_add(l.srtp_rejected_in, Ordering::Relaxed);
        c.digits.fetch_add(l.digits, Ordering::Relaxed);
        c.unlatched_suppressed
            .fetch_add(l.unlatched_suppressed, Ordering::Relaxed);
        c.foreign_dropped
            .fetch_add(l.foreign_dropped, Ordering::Relaxed);
        c.destination_refused
            .fetch_add(l.destination_refused, Ordering::Relaxed);
        if late {
            c.late_ticks.fetch_add(1, Ordering::Relaxed);
        }
        if skip > 0 {
            let streams = self.by_id.len() as u64;
            c.skipped_frames
                .fetch_add(u64::from(skip) * streams, Ordering::Relaxed);
        }
        c.max_tick_lag_us
            .fetch_max(lag.as_micros() as u64, Ordering::Relaxed);
    }

    /// Applies queued commands; false on shutdown.
    fn drain_commands(&mut self, now: Instant) -> bool {
        loop {
            let cmd = match self.rx.try_recv() {
                Ok(c) => c,
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            };
            match cmd {
                Command::Shutdown => return false,
                Command::Open {
                    id,
                    port,
                    socket,
                    params,
                    srtp,
                    events,
                } => {
                    self.open(now, id, port, socket, params, events);
                    // Before any tick: the first packet is already protected.
                    if let Some(s) = self.stream_mut(id) {
                        s.srtp = srtp;
                    }
                }
                Command::Srtp { id, srtp } => {
                    if let Some(s) = self.stream_mut(id) {
                        s.srtp = srtp;
                    }
                }
                Command::Close { id } => self.close(id),
                Command::Play { id, clips, token } => {
                    if let Some(s) = self.stream_mut(id) {
                        s.player.play(clips, token);
                    }
                }
                Command::Stop { id } => {
                    if let Some(s) = self.stream_mut(id) {
                        s.player.stop();
                    }
                }
                Command::Update { id, params } => {
                    if let Some(s) = self.stream_mut(id) {
                        update(s, params);
                    }
                }
                Command::Hold { id, held } => {
                    if let Some(s) = self.stream_mut(id) {
                        if s.held && !held {
                            s.last_rx = now;
                            s.timed_out = false;
                            s.marker = true;
                        }
                        s.held = held;
                    }
                }
                Command::Bridge { id, other } => self.bridge(id, other),
                Command::Unbridge { id } => self.unbridge(id),
                Command::Record { id, frames } => {
                    if let Some(s) = self.stream_mut(id) {
                        s.recorder = Some(frames);
                    }
                }
                Command::StopRecording { id } => {
                    if let Some(s) = self.stream_mut(id) {
                        s.recorder = None;
                    }
                }
            }
        }
    }

    fn stream_mut(&mut self, id: u64) -> Option<&mut Stream> {
        let slot = *self.by_id.get(&id)?;
        self.streams.get_mut(slot)?.as_mut()
    }

    fn open(
        &mut self,
        now: Instant,
        id: u64,
        port: u16,
        socket: std::net::UdpSocket,
        params: StreamParams,
        events: UnboundedSender<MediaEvent>,
    ) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.streams.push(None);
            self.streams.len() - 1
        });
        let mut socket = UdpSocket::from_std(socket);
        if let Err(e) =
            self.sockets
                .registry()
                .register(&mut socket, Token(slot), Interest::READABLE)
        {
            tracing::error!(error = %e, port, "cannot register RTP socket");
            self.free.push(slot);
            self.shared.release_port(port);
            let _ = events.send(MediaEvent::RtpTimeout);
            return;
        }
        let stream = Stream {
            port,
            socket,
            params,
            latch: Latch::new(params.remote, params.trust),
            events,
            player: Player::new(),
            ssrc: rand::random(),
            seq: rand::random(),
            ts: rand::random(),
            marker: true,
            held: false,
            last_rx: now,
            timed_out: false,
            rfc4733: Rfc4733Receiver::new(),
            saw_rfc4733: false,
            inband: InbandDetector::new(),
            last_inband: None,
            bridge: None,
            relay: RelayMap::new(),
            fast: false,
            recorder: None,
            srtp: None,
        };
        if let Some(s) = self.streams.get_mut(slot) {
            *s = Some(stream);
        }
        self.by_id.insert(id, slot);
        self.shared.counters.streams.fetch_add(1, Ordering::Relaxed);
    }

    /// Links two streams of this worker both ways; any earlier bridge of
    /// either ends first.
    fn bridge(&mut self, id: u64, other: u64) {
        let (Some(&a), Some(&b)) = (self.by_id.get(&id), self.by_id.get(&other)) else {
            return;
        };
        if a == b {
            return;
        }
        self.unbridge(id);
        self.unbridge(other);
        for (slot, peer) in [(a, b), (b, a)] {
            if let Some(Some(s)) = self.streams.get_mut(slot) {
                s.bridge = Some(peer);
                s.relay.reset();
            }
            self.set_fast(slot, true);
        }
    }

    /// Ends the bridge of `id` (and of its peer); both go back to sending
    /// their own frames from the next tick.
    fn unbridge(&mut self, id: u64) {
        let Some(&slot) = self.by_id.get(&id) else {
            return;
        };
        let peer = self
            .streams
            .get_mut(slot)
            .and_then(Option::as_mut)
            .and_then(|s| s.bridge.take());
        self.set_fast(slot, false);
        if let Some(p) = peer {
            if let Some(Some(s)) = self.streams.get_mut(p) {
                s.bridge = None;
                s.marker = true;
            }
            self.set_fast(p, false);
        }
        if let Some(Some(s)) = self.streams.get_mut(slot) {
            s.marker = true;
        }
    }

    /// Moves a stream's socket between the tick-read poll and the control
    /// poll (read at once).
    fn set_fast(&mut self, slot: usize, fast: bool) {
        let Some(Some(s)) = self.streams.get_mut(slot) else {
            return;
        };
        if s.fast == fast {
            return;
        }
        let (from, to) = if fast {
            (&self.sockets, &self.control)
        } else {
            (&self.control, &self.sockets)
        };
        let _ = from.registry().deregister(&mut s.socket);
        match to
            .registry()
            .register(&mut s.socket, Token(slot), Interest::READABLE)
        {
            Ok(()) => s.fast = fast,
            Err(e) => {
                tracing::error!(error = %e, port = s.port, "cannot move RTP socket between polls");
                let _ = from
                    .registry()
                    .register(&mut s.socket, Token(slot), Interest::READABLE);
            }
        }
        // Edge-triggered: whatever queued during the move is read now.
        self.backlog.push(slot);
    }

    fn close(&mut self, id: u64) {
        self.unbridge(id);
        let Some(slot) = self.by_id.remove(&id) else {
            return;
        };
        if let Some(mut s) = self.streams.get_mut(slot).and_then(Option::take) {
            let _ = self.sockets.registry().deregister(&mut s.socket);
            let port = s.port;
            drop(s);
            self.shared.release_port(port);
            self.shared.counters.streams.fetch_sub(1, Ordering::Relaxed);
        }
        self.free.push(slot);
    }

    fn close_all(&mut self) {
        let ids: Vec<u64> = self.by_id.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
    }

    /// Sends `send` frames to every stream, then advances timestamps over
    /// `skip` frames that are too late to send.
    fn tick(&mut self, now: Instant, send: u32, skip: u32, out: &mut Output) {
        let lib = &*self.prompts;
        let buf = &mut self.send_buf;
        let local = &mut self.local;
        for s in self.streams.iter_mut().flatten() {
            // A bridged stream carries the peer's packets, except for our own prompts.
            let own_media = s.bridge.is_none() || s.player.is_playing();
            if own_media {
                for _ in 0..send {
                    send_frame(s, lib, buf, local, out);
                }
                s.ts = s.ts.wrapping_add(160 * skip);
            }
            if !s.held
                && !s.timed_out
                && now.saturating_duration_since(s.last_rx) >= self.rtp_timeout
            {
                s.timed_out = true;
                s.emit(MediaEvent::RtpTimeout);
            }
            if let Some(deadline) = s.rfc4733.poll_timeout() {
                if now >= deadline {
                    s.rfc4733.handle_timeout(now);
                }
            }
        }
        out.finish(local);
    }

    fn read_socket(&mut self, slot: usize, now: Instant) {
        // Taken out so that its bridged peer can be borrowed beside it.
        let Some(mut s) = self.streams.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let more = self.read_stream(&mut s, now);
        if let Some(place) = self.streams.get_mut(slot) {
            *place = Some(s);
        }
        if more {
            // Budget used up: come back after the other sockets.
            self.backlog.push(slot);
        }
    }

    /// Reads up to `READ_BUDGET` datagrams; true when more may be waiting.
    fn read_stream(&mut self, s: &mut Stream, now: Instant) -> bool {
        for _ in 0..READ_BUDGET {
            let (n, from) = match s.socket.recv_from(&mut self.recv_buf[..]) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                // ICMP errors from earlier sends surface here; keep reading.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            };
            let Some(data) = self.recv_buf.get(..n) else {
                continue;
            };
            let peer = s
                .bridge
                .and_then(|b| self.streams.get_mut(b))
                .and_then(Option::as_mut);
            handle_datagram(s, peer, now, from, data, &mut self.pcm[..], &mut self.local);
        }
        true
    }
}

/// Sends the stream's next frame, advancing seq/ts. Nothing goes out while
/// held or before the latch (the playlist waits, the next frame carries the
/// marker), nor to a refused address (the playlist runs on unheard).
fn send_frame(
    s: &mut Stream,
    lib: &PromptLibrary,
    buf: &mut [u8],
    local: &mut Local,
    out: &mut Output,
) {
    if s.held {
        s.ts = s.ts.wrapping_add(160);
        return;
    }
    let to = match s.latch.destination() {
        Destination::Send(to) => Some(to),
        Destination::AwaitLatch => {
            local.unlatched_suppressed += 1;
            s.ts = s.ts.wrapping_add(160);
            s.marker = true;
            return;
        }
        Destination::Refused => {
            local.destination_refused += 1;
            None
        }
    };
    let frame = s.player.next_frame(lib, s.params.codec);
    let h = RtpHeader::new(s.params.payload_type, s.seq, s.ts, s.ssrc, s.marker);
    if let Some(done) = s.player.poll_done() {
        s.emit(MediaEvent::PlaybackDone { token: done.token });
    }
    let written = rtp::write_packet(&h, frame, buf);
    s.seq = s.seq.wrapping_add(1);
    s.ts = s.ts.wrapping_add(160);
    s.marker = false;
    let Some(to) = to else {
        return;
    };
    match written.ok().and_then(|n| buf.get(..n)) {
        Some(packet) => out.send(s, packet, to, local),
        None => local.send_errors += 1,
    }
}

/// How a worker sends its tick's frames (relayed packets always go at once,
/// by `send_rtp`, as they arrive).
pub(super) enum Output {
    /// One `sendto` per frame.
    Syscall,
    /// Queued in the ring, submitted once at the end of the tick.
    Uring(Box<UringSender>),
}

impl Output {
    /// The sender `mode` asks for, built on the worker's own thread; with
    /// io_uring's error when it fell back to syscalls.
    pub(super) fn new(mode: BatchSend) -> (Output, Option<io::Error>) {
        match mode {
            BatchSend::Syscall => (Output::Syscall, None),
            BatchSend::Auto | BatchSend::IoUring => match UringSender::new() {
                Ok(u) => (Output::Uring(Box::new(u)), None),
                Err(e) => (Output::Syscall, Some(e)),
            },
        }
    }

    pub(super) fn mode(&self) -> SendMode {
        match self {
            Output::Syscall => SendMode::Syscall,
            Output::Uring(_) => SendMode::IoUring,
        }
    }

    /// Sends (or queues) one RTP packet out of `s`'s socket, SRTP-protected
    /// on an SRTP leg (straight into the ring's arena).
    fn send(&mut self, s: &mut Stream, packet: &[u8], to: SocketAddr, local: &mut Local) {
        let Output::Uring(u) = self else {
            return send_rtp(s, packet, to, local);
        };
        let srtp = &mut s.srtp;
        u.queue(s.socket.as_raw_fd(), to, |slot| match srtp.as_mut() {
            Some(srtp) => srtp.protect(packet, slot).ok(),
            None => {
                slot.get_mut(..packet.len())?.copy_from_slice(packet);
                Some(packet.len())
            }
        });
    }

    /// Submits the tick's queued frames and counts their completions.
    fn finish(&mut self, local: &mut Local) {
        if let Output::Uring(u) = self {
            u.submit();
            let (sent, failed) = u.take_counts();
            local.packets_out += sent;
            local.send_errors += failed;
        }
    }
}

/// Sends one RTP packet out of `s`'s socket, SRTP-protected on an SRTP leg.
fn send_rtp(s: &mut Stream, packet: &[u8], to: SocketAddr, local: &mut Local) {
    // Zeroed only on SRTP legs: plain calls pay nothing for it.
    let mut protected: [u8; MAX_DATAGRAM];
    let out = match s.srtp.as_mut() {
        Some(srtp) => {
            protected = [0u8; MAX_DATAGRAM];
            srtp.protect(packet, &mut protected)
                .ok()
                .and_then(|n| protected.get(..n))
        }
        None => Some(packet),
    };
    match out.map(|p| s.socket.send_to(p, to)) {
        Some(Ok(_)) => local.packets_out += 1,
        _ => local.send_errors += 1,
    }
}

fn update(s: &mut Stream, params: StreamParams) {
    s.latch.reoffer(params.remote, params.trust);
    if params.codec != s.params.codec || params.payload_type != s.params.payload_type {
        s.inband.reset();
    }
    if params.telephone_event_pt != s.params.telephone_event_pt {
        s.rfc4733.reset();
    }
    s.params = params;
}

/// One received datagram: other sources, RTCP and foreign payload types
/// are ignored, symmetric RTP latches, DTMF is decoded in place.
fn handle_datagram(
    s: &mut Stream,
    peer: Option<&mut Stream>,
    now: Instant,
    from: SocketAddr,
    data: &[u8],
    pcm: &mut [i16],
    local: &mut Local,
) {
    // Before parsing: a spoofer or a hijacker costs one IP compare.
    if !s.latch.from_offered_ip(from) {
        local.foreign_dropped += 1;
        return;
    }
    if rtp::is_rtcp(data) {
        return;
    }
    // Zeroed only on SRTP legs: plain calls pay nothing for it.
    let mut plain: [u8; MAX_DATAGRAM];
    let data = match s.srtp.as_mut() {
        Some(srtp) => {
            plain = [0u8; MAX_DATAGRAM];
            match srtp.unprotect(data, &mut plain) {
                Ok(n) => plain.get(..n).unwrap_or_default(),
                Err(_) => {
                    // Wrong key, forged, replayed or plain RTP: never reaches the call.
                    local.srtp_rejected_in += 1;
                    return;
                }
            }
        }
        None => data,
    };
    let Ok(pkt) = rtp::parse(data) else {
        local.malformed_in += 1;
        return;
    };
    let pt = pkt.header.payload_type;
    let is_event = s.params.telephone_event_pt == Some(pt);
    if !is_event && pt != s.params.payload_type {
        return;
    }
    if !s.latch.on_packet(from, now) {
        // Another port while the latched source is active (RTP injection).
        local.foreign_dropped += 1;
        return;
    }
    s.last_rx = now;
    s.timed_out = false;
    local.packets_in += 1;
    if let Some(peer) = peer {
        relay_packet(&pkt, is_event, s.params.codec, peer, local);
    }
    if is_event {
        s.saw_rfc4733 = true;
        let h = pkt.header;
        if let Some(key) = s.rfc4733.push(now, h.timestamp, h.marker, pkt.payload) {
            let duplicate = matches!(s.last_inband,
                Some((k, at)) if k == key && now.saturating_duration_since(at) < DUPLICATE_WINDOW);
            if !duplicate {
                local.digits += 1;
                s.emit(MediaEvent::Digit {
                    key,
                    source: DtmfSource::Rfc4733,
                });
            }
        }
        return;
    }
    if s.saw_rfc4733 && s.recorder.is_none() {
        return; // Nothing needs the audio decoded.
    }
    let n = pkt.payload.len().min(pcm.len());
    let (Some(samples), Some(payload)) = (pcm.get_mut(..n), pkt.payload.get(..n)) else {
        return;
    };
    s.params.codec.decode_into(payload, samples);
    if let Some(tx) = &s.recorder {
        if tx.send(samples.to_vec()).is_err() {
            s.recorder = None;
        }
    }
    if s.saw_rfc4733 {
        return; // The peer signals keys out of band; tones in audio would double them.
    }
    if let Some(key) = s.inband.push(samples) {
        s.last_inband = Some((key, now));
        local.digits += 1;
        s.emit(MediaEvent::Digit {
            key,
            source: DtmfSource::InBand,
        });
    }
}

/// Sends a packet received on one leg out of the bridged `peer`'s socket:
/// the peer's SSRC, continuous seq/ts, its payload types; G.711 A-law and
/// u-law are converted when the legs differ. Nothing goes out while the peer
/// is held or hears one of our prompts.
fn relay_packet(
    pkt: &RtpPacket<'_>,
    is_event: bool,
    codec_in: crate::media::g711::Codec,
    peer: &mut Stream,
    local: &mut Local,
) {
    if peer.held || peer.player.is_playing() {
        return;
    }
    let to = match peer.latch.destination() {
        Destination::Send(to) => to,
        Destination::AwaitLatch => {
            local.unlatched_suppressed += 1;
            return;
        }
        Destination::Refused => {
            local.destination_refused += 1;
            return;
        }
    };
    let (pt, samples) = if is_event {
        match peer.params.telephone_event_pt {
            Some(pt) => (pt, 0),
            None => return,
        }
    } else {
        (peer.params.payload_type, pkt.payload.len() as u32)
    };
    let out = OutPosition {
        seq: peer.seq,
        ts: peer.ts,
    };
    let mapped = peer.relay.map(&pkt.header, out);
    let header = RtpHeader::new(pt, mapped.seq, mapped.ts, peer.ssrc, mapped.marker);
    let mut buf = [0u8; MAX_DATAGRAM];
    let written = if is_event || codec_in == peer.params.codec {
        rtp::write_packet(&header, pkt.payload, &mut buf)
    } else {
        let mut converted = [0u8; MAX_DATAGRAM];
        let n = pkt.payload.len().min(MAX_DATAGRAM - rtp::HEADER_LEN);
        let mut pcm = [0i16; MAX_DATAGRAM];
        match (
            pkt.payload.get(..n),
            pcm.get_mut(..n),
            converted.get_mut(..n),
        ) {
            (Some(input), Some(pcm), Some(converted)) => {
                codec_in.decode_into(input, pcm);
                peer.params.codec.encode_into(pcm, converted);
                rtp::write_packet(&header, converted, &mut buf)
            }
            _ => return,
        }
    };
    let pos = relay::advance(out, mapped, samples);
    peer.seq = pos.seq;
    peer.ts = pos.ts;
    match written.ok().and_then(|n| buf.get(..n)) {
        Some(packet) => send_rtp(peer, packet, to, local),
        None => local.send_errors += 1,
    }
}
