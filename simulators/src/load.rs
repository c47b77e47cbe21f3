//! Load mode: thousands of concurrent calls from a few tasks. Each worker task
//! owns one SIP UDP socket and one RTP UDP socket shared by all its calls
//! (demultiplexed by Call-ID and by the server's RTP source address), and a
//! single 20 ms tick that paces every call's media. No task or timer per call.
//! A tick's RTP goes out in `sendmmsg` batches and arrives by `recvmmsg`
//! (`mmsg`), into buffers reused from call to call.
//!
//! Two modes: every call holds for `duration` sending a digit every
//! `digit_interval`; or `mix` (the realistic 1177 mix, `mix.rs`): each call
//! follows a seeded script to its planned outcome and hangs up there.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use std::os::fd::AsRawFd;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::media::{MediaConfig, MediaDigit, MediaLeg};
use crate::mix::{self, Action, MixShares, Outcome, ScriptRunner};
use crate::mmsg::{self, RecvBatch, SendBatch};
use crate::sdp::{self, OfferedCodec};
use crate::uac::{CallState, EndReason, Transport, Uac, UacConfig, UacEvent};
use crate::DtmfKey;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub server: SocketAddr,
    pub local_ip: IpAddr,
    /// Calls to place in total.
    pub calls: usize,
    /// New calls per second.
    pub rate: f64,
    /// How long each answered call stays up before we hang up.
    pub duration: Duration,
    /// An RFC 4733 digit is sent this often during each call.
    pub digit_interval: Duration,
    /// Worker tasks (each with its own sockets and tick).
    pub workers: usize,
    pub to_user: String,
    pub from_user: String,
    /// Seed for Call-IDs, tags and SSRCs (random by default: a server keeps
    /// finished Call-IDs for a while, so a rerun must not reuse them).
    pub seed: u64,
    /// The realistic mix: each call follows a script to a planned outcome
    /// (and calls from its own number); `None`: all hold for `duration`.
    pub mix: Option<MixShares>,
}

impl LoadConfig {
    pub fn new(server: SocketAddr) -> Self {
        LoadConfig {
            server,
            local_ip: if server.ip().is_loopback() {
                server.ip()
            } else {
                IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
            },
            calls: 100,
            rate: 10.0,
            duration: Duration::from_secs(10),
            digit_interval: Duration::from_secs(3),
            workers: 2,
            to_user: "1177".into(),
            from_user: "+46701234567".into(),
            seed: rand::random(),
            mix: None,
        }
    }
}

/// A latency/gap histogram with 100 µs buckets up to 10 s (beyond: last bucket).
#[derive(Debug, Clone)]
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    max: Duration,
}

const BUCKET_US: u64 = 100;
const BUCKETS: usize = 100_000;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; BUCKETS],
            count: 0,
            max: Duration::ZERO,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, d: Duration) {
        let i = ((d.as_micros() as u64) / BUCKET_US).min(BUCKETS as u64 - 1) as usize;
        if let Some(b) = self.buckets.get_mut(i) {
            *b += 1;
        }
        self.count += 1;
        self.max = self.max.max(d);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> Duration {
        self.max
    }

    /// The `p`-quantile (0.0-1.0), rounded up to the bucket's upper edge.
    pub fn quantile(&self, p: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = ((self.count as f64 * p).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Duration::from_micros((i as u64 + 1) * BUCKET_US).min(self.max));
            }
        }
        Some(self.max)
    }
}

/// How the calls planned for one outcome went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutcomeCount {
    pub planned: u64,
    pub answered: u64,
    /// Ran the script to its end and hung up there.
    pub completed: u64,
    /// The service hung up first.
    pub ended_by_server: u64,
    pub failed: u64,
}

/// Figures from a load run.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub attempted: u64,
    pub answered: u64,
    /// Calls that did not complete normally (rejected, timeout, bad answer).
    pub failed: u64,
    /// Final status codes of rejected INVITEs.
    pub rejected: HashMap<u16, u64>,
    pub ended_by_server: u64,
    pub bye_timeouts: u64,
    pub peak_concurrent: u64,
    pub invite_to_200: Histogram,
    /// Our BYE to its 200 (calls whose BYE was answered).
    pub bye_to_200: Histogram,
    pub rtp_gap: Histogram,
    pub rtp_in: u64,
    pub rtp_out: u64,
    pub rtp_unmatched: u64,
    pub digits_sent: u64,
    /// Audio frames received, and the frames their RTP timestamps span: the
    /// difference is what the service skipped or the network lost.
    pub rtp_in_audio: u64,
    pub rtp_in_expected: u64,
    /// RTP datagrams the socket refused (sendmmsg errors).
    pub rtp_send_errors: u64,
    /// RTP frames due at a tick but sent late by more than a frame (the
    /// generator fell behind; `MediaLeg` skips them).
    pub late_ticks: u64,
    /// Per planned outcome (the realistic mix only).
    pub outcomes: std::collections::BTreeMap<Outcome, OutcomeCount>,
    pub elapsed: Duration,
}

impl LoadReport {
    fn merge(&mut self, o: &LoadReport) {
        self.attempted += o.attempted;
        self.answered += o.answered;
        self.failed += o.failed;
        for (k, v) in &o.rejected {
            *self.rejected.entry(*k).or_default() += v;
        }
        self.ended_by_server += o.ended_by_server;
        self.bye_timeouts += o.bye_timeouts;
        self.peak_concurrent += o.peak_concurrent;
        self.invite_to_200.merge(&o.invite_to_200);
        self.bye_to_200.merge(&o.bye_to_200);
        self.rtp_gap.merge(&o.rtp_gap);
        self.rtp_in += o.rtp_in;
        self.rtp_out += o.rtp_out;
        self.rtp_unmatched += o.rtp_unmatched;
        self.digits_sent += o.digits_sent;
        self.rtp_send_errors += o.rtp_send_errors;
        self.rtp_in_audio += o.rtp_in_audio;
        self.rtp_in_expected += o.rtp_in_expected;
        self.late_ticks += o.late_ticks;
        for (k, v) in &o.outcomes {
            let e = self.outcomes.entry(*k).or_default();
            e.planned += v.planned;
            e.answered += v.answered;
            e.completed += v.completed;
            e.ended_by_server += v.ended_by_server;
            e.failed += v.failed;
        }
    }
}

impl LoadReport {
    /// Audio frames missing at our receiver, percent of those the timestamps span.
    pub fn rtp_in_missing_pct(&self) -> f64 {
        if self.rtp_in_expected == 0 {
            return 0.0;
        }
        self.rtp_in_expected.saturating_sub(self.rtp_in_audio) as f64 * 100.0
            / self.rtp_in_expected as f64
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    })
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "elapsed            {:.1} s", self.elapsed.as_secs_f64())?;
        writeln!(
            f,
            "calls              attempted {} answered {} failed {} ended-by-server {} peak-concurrent<= {}",
            self.attempted, self.answered, self.failed, self.ended_by_server, self.peak_concurrent
        )?;
        if !self.rejected.is_empty() {
            let mut codes: Vec<_> = self.rejected.iter().collect();
            codes.sort();
            writeln!(f, "rejected           {codes:?}")?;
        }
        writeln!(
            f,
            "INVITE->200        p50 {} p99 {} max {}",
            ms(self.invite_to_200.quantile(0.5)),
            ms(self.invite_to_200.quantile(0.99)),
            ms(self.invite_to_200.quantile(1.0))
        )?;
        writeln!(
            f,
            "BYE->200           p50 {} p99 {} max {} (unanswered {})",
            ms(self.bye_to_200.quantile(0.5)),
            ms(self.bye_to_200.quantile(0.99)),
            ms(self.bye_to_200.quantile(1.0)),
            self.bye_timeouts
        )?;
        writeln!(
            f,
            "RTP in gap         p50 {} p99 {} max {}",
            ms(self.rtp_gap.quantile(0.5)),
            ms(self.rtp_gap.quantile(0.99)),
            ms(self.rtp_gap.quantile(1.0))
        )?;
        writeln!(
            f,
            "RTP packets        in {} out {} unmatched {} send-errors {} late-ticks {}",
            self.rtp_in, self.rtp_out, self.rtp_unmatched, self.rtp_send_errors, self.late_ticks
        )?;
        writeln!(
            f,
            "RTP in missing     {:.3} % ({} of {} frames by timestamp: skipped or lost)",
            self.rtp_in_missing_pct(),
            self.rtp_in_expected.saturating_sub(self.rtp_in_audio),
            self.rtp_in_expected
        )?;
        write!(f, "digits sent        {}", self.digits_sent)?;
        if !self.outcomes.is_empty() {
            write!(
                f,
                "\noutcome            planned answered completed server-ended failed"
            )?;
            for (o, c) in &self.outcomes {
                write!(
                    f,
                    "\n  {:<16} {:>7} {:>8} {:>9} {:>12} {:>6}",
                    o.name(),
                    c.planned,
                    c.answered,
                    c.completed,
                    c.ended_by_server,
                    c.failed
                )?;
            }
        }
        Ok(())
    }
}

struct LoadCall {
    uac: Uac,
    media: Option<MediaLeg>,
    rtp_dest: Option<SocketAddr>,
    invited_at: Instant,
    hangup_at: Option<Instant>,
    /// When our BYE went out (for BYE->200).
    bye_sent_at: Option<Instant>,
    next_digit_at: Option<Instant>,
    digits: u64,
    seed: u64,
    /// The realistic mix: planned outcome and its script (from the answer on).
    outcome: Option<Outcome>,
    runner: Option<ScriptRunner>,
    script_done: bool,
    rx: RxFrames,
}

/// Audio frames received against the span of RTP timestamps they cover: the
/// frames the service skipped or the network lost.
#[derive(Debug, Clone, Copy, Default)]
struct RxFrames {
    first_ts: Option<u32>,
    last_ts: u32,
    audio: u64,
}

impl RxFrames {
    fn on_packet(&mut self, bytes: &[u8], audio_pt: u8) {
        let (Some(pt), Some(ts)) = (
            bytes.get(1).map(|b| b & 0x7f),
            bytes
                .get(4..8)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes),
        ) else {
            return;
        };
        if pt != audio_pt {
            return;
        }
        self.audio += 1;
        match self.first_ts {
            None => {
                self.first_ts = Some(ts);
                self.last_ts = ts;
            }
            // Later in wrapping order (a reordered packet does not move it back).
            Some(_) if ts.wrapping_sub(self.last_ts) < u32::MAX / 2 => self.last_ts = ts,
            Some(_) => {}
        }
    }

    /// Frames the timestamps span (20 ms, 160 samples each).
    fn expected(&self) -> u64 {
        self.first_ts
            .map_or(0, |f| u64::from(self.last_ts.wrapping_sub(f) / 160) + 1)
    }
}

struct Worker {
    cfg: LoadConfig,
    sip: UdpSocket,
    rtp: UdpSocket,
    local_sip: SocketAddr,
    local_rtp: SocketAddr,
    calls: Vec<Option<LoadCall>>,
    free: Vec<usize>,
    by_call_id: HashMap<String, usize>,
    by_rtp_source: HashMap<SocketAddr, usize>,
    /// Our own SSRCs: an echoing peer (SIPp `-rtp_echo`, one media port for
    /// all calls) sends them back, so they identify the call better than the source.
    by_own_ssrc: HashMap<u32, usize>,
    report: LoadReport,
    live: u64,
    rtp_out: SendBatch,
    /// Reused for every RTP packet a call writes.
    scratch: Vec<u8>,
    last_tick: Option<Instant>,
}

/// A new call: its seed and, in the mix, its planned outcome.
type NewCall = (u64, Option<Outcome>);

/// Runs the load and returns the figures. Errors only if sockets cannot be bound.
pub async fn run_load(cfg: LoadConfig) -> std::io::Result<LoadReport> {
    let started = Instant::now();
    let workers = cfg.workers.max(1);
    let mut senders = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..workers {
        let (tx, rx) = mpsc::unbounded_channel::<NewCall>();
        let worker = Worker::bind(cfg.clone()).await?;
        senders.push(tx);
        handles.push(tokio::spawn(worker.run(rx)));
    }
    // The launcher paces new calls and deals them out round-robin.
    let interval = Duration::from_secs_f64(1.0 / cfg.rate.max(0.001));
    let plan = cfg.mix.map(|m| mix::plan(cfg.seed, cfg.calls, &m));
    let t0 = tokio::time::Instant::now();
    for n in 0..cfg.calls {
        tokio::time::sleep_until(t0 + interval.mul_f64(n as f64)).await;
        if let Some(tx) = senders.get(n % workers) {
            let outcome = plan.as_ref().and_then(|p| p.get(n).copied());
            let _ = tx.send((
                cfg.seed.wrapping_mul(1_000_003).wrapping_add(n as u64),
                outcome,
            ));
        }
    }
    drop(senders);
    let mut report = LoadReport::default();
    for h in handles {
        if let Ok(r) = h.await {
            report.merge(&r);
        }
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

const TICK: Duration = Duration::from_millis(20);
/// A mix call the script has not hung up by then is hung up anyway.
const MIX_CALL_CAP: Duration = Duration::from_secs(300);

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Worker {
    async fn bind(cfg: LoadConfig) -> std::io::Result<Worker> {
        let sip = UdpSocket::bind(SocketAddr::new(cfg.local_ip, 0)).await?;
        // A worker's calls share this socket: the service's tick sends a
        // frame for each of them at once, more than the default buffer holds.
        let rtp = UdpSocket::from_std(crate::reflect::udp_socket(SocketAddr::new(
            cfg.local_ip,
            0,
        ))?)?;
        let ip = if cfg.local_ip.is_unspecified() {
            std::net::UdpSocket::bind(SocketAddr::new(cfg.local_ip, 0))
                .and_then(|s| {
                    s.connect(cfg.server)?;
                    s.local_addr()
                })
                .map(|a| a.ip())
                .unwrap_or(cfg.local_ip)
        } else {
            cfg.local_ip
        };
        let local_sip = SocketAddr::new(ip, sip.local_addr()?.port());
        let local_rtp = SocketAddr::new(ip, rtp.local_addr()?.port());
        Ok(Worker {
            cfg,
            sip,
            rtp,
            local_sip,
            local_rtp,
            calls: Vec::new(),
            free: Vec::new(),
            by_call_id: HashMap::new(),
            by_rtp_source: HashMap::new(),
            by_own_ssrc: HashMap::new(),
            report: LoadReport::default(),
            live: 0,
            rtp_out: SendBatch::new(),
            scratch: Vec::with_capacity(mmsg::SLOT),
            last_tick: None,
        })
    }

    async fn run(mut self, mut new_calls: mpsc::UnboundedReceiver<NewCall>) -> LoadReport {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut sip_buf = vec![0u8; 65536];
        let mut rtp_in = RecvBatch::new(64);
        let rtp_fd = self.rtp.as_raw_fd();
        let mut launcher_open = true;
        let mut out: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
        loop {
            if !launcher_open && self.live == 0 {
                return self.report;
            }
            tokio::select! {
                seed = new_calls.recv(), if launcher_open => match seed {
                    Some((seed, outcome)) => self.start_call(seed, outcome, &mut out),
                    None => launcher_open = false,
                },
                r = self.sip.recv_from(&mut sip_buf) => {
                    let t = now();
                    if let Ok((n, _)) = r {
                        self.on_sip(t, sip_buf.get(..n).unwrap_or_default(), &mut out);
                    }
                    while let Ok((n, _)) = self.sip.try_recv_from(&mut sip_buf) {
                        self.on_sip(t, sip_buf.get(..n).unwrap_or_default(), &mut out);
                    }
                }
                r = self.rtp.readable() => {
                    if r.is_ok() {
                        let t = now();
                        while let Ok(n) = self.rtp.try_io(tokio::io::Interest::READABLE, || rtp_in.recv(rtp_fd)) {
                            for i in 0..n {
                                if let Some((from, bytes)) = rtp_in.get(i) {
                                    self.on_rtp(t, from, bytes);
                                }
                            }
                        }
                    }
                }
                _ = tick.tick() => self.on_tick(now(), &mut out),
            }
            for (to, b) in out.drain(..) {
                let _ = self.sip.send_to(&b, to).await;
            }
            if !self.rtp_out.is_empty() {
                self.report.rtp_send_errors += mmsg::send_all(&self.rtp, &mut self.rtp_out).await;
            }
        }
    }

    fn start_call(
        &mut self,
        seed: u64,
        outcome: Option<Outcome>,
        out: &mut Vec<(SocketAddr, Vec<u8>)>,
    ) {
        let t = now();
        let offer = sdp::offer(
            self.local_rtp.ip(),
            self.local_rtp.port(),
            &[OfferedCodec::Pcmu],
            true,
            1,
        );
        let mut uac = Uac::new(
            UacConfig {
                local: self.local_sip,
                server: self.cfg.server,
                transport: Transport::Udp,
                to_user: self.cfg.to_user.clone(),
                // The mix calls from many numbers: one number would be a repeat
                // caller with a booked callback, and hit the per-number caps.
                from_user: match outcome {
                    Some(_) => format!("+4670{:07}", seed % 10_000_000),
                    None => self.cfg.from_user.clone(),
                },
                sdp_offer: offer,
                seed,
                extra_headers: Vec::new(),
            },
            t,
        );
        while let Some(b) = uac.poll_transmit() {
            out.push((self.cfg.server, b));
        }
        let call = LoadCall {
            uac,
            media: None,
            rtp_dest: None,
            invited_at: t,
            hangup_at: None,
            bye_sent_at: None,
            next_digit_at: None,
            digits: 0,
            seed,
            outcome,
            runner: None,
            script_done: false,
            rx: RxFrames::default(),
        };
        if let Some(o) = outcome {
            self.report.outcomes.entry(o).or_default().planned += 1;
        }
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.calls.push(None);
                self.calls.len() - 1
            }
        };
        self.by_call_id.insert(call.uac.call_id().to_string(), idx);
        if let Some(slot) = self.calls.get_mut(idx) {
            *slot = Some(call);
        }
        self.report.attempted += 1;
        self.live += 1;
        self.report.peak_concurrent = self.report.peak_concurrent.max(self.live);
    }

    fn on_sip(&mut self, t: Instant, bytes: &[u8], out: &mut Vec<(SocketAddr, Vec<u8>)>) {
        let Ok(msg) = crate::sip::parse(bytes) else {
            return;
        };
        let Some(idx) = crate::sip::call_id(&msg)
            .ok()
            .and_then(|id| self.by_call_id.get(&id).copied())
        else {
            return;
        };
        if let Some(Some(c)) = self.calls.get_mut(idx) {
            c.uac.handle_message(t, msg);
        }
        self.service(idx, t, out);
    }

    fn on_rtp(&mut self, t: Instant, from: SocketAddr, bytes: &[u8]) {
        let own = bytes
            .get(8..12)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .and_then(|b| self.by_own_ssrc.get(&u32::from_be_bytes(b)));
        let Some(idx) = own.or_else(|| self.by_rtp_source.get(&from)).copied() else {
            self.report.rtp_unmatched += 1;
            return;
        };
        if let Some(Some(LoadCall {
            media: Some(m), rx, ..
        })) = self.calls.get_mut(idx)
        {
            rx.on_packet(bytes, m.config().payload_type);
            let (_, gap) = m.handle_rtp(t, bytes);
            if let Some(g) = gap {
                self.report.rtp_gap.record(g);
            }
        }
    }

    fn on_tick(&mut self, t: Instant, out: &mut Vec<(SocketAddr, Vec<u8>)>) {
        if self
            .last_tick
            .is_some_and(|l| t.saturating_duration_since(l) > TICK * 2)
        {
            self.report.late_ticks += 1;
        }
        self.last_tick = Some(t);
        for idx in 0..self.calls.len() {
            let Some(Some(c)) = self.calls.get_mut(idx) else {
                continue;
            };
            if c.uac.poll_timeout().is_some_and(|d| d <= t) {
                c.uac.handle_timeout(t);
            }
            if let (Some(r), Some(m)) = (c.runner.as_mut(), c.media.as_mut()) {
                while let Some(a) = r.poll(t, m.last_speech()) {
                    match a {
                        Action::Keys(keys) => {
                            for key in keys.chars().filter_map(DtmfKey::from_char) {
                                m.queue_digit(key, MediaDigit::Rfc4733, 100);
                            }
                        }
                        Action::Hangup => {
                            c.script_done = true;
                            c.hangup_at = Some(t);
                        }
                    }
                }
            }
            if c.hangup_at.is_some_and(|h| h <= t) && *c.uac.state() == CallState::Confirmed {
                c.uac.hangup(t);
                c.bye_sent_at = Some(t);
            }
            if let (Some(m), Some(at)) = (c.media.as_mut(), c.next_digit_at) {
                if at <= t && *c.uac.state() == CallState::Confirmed {
                    let key = DtmfKey::from_event_code((c.digits % 10) as u8)
                        .unwrap_or(DtmfKey::Digit(1));
                    m.queue_digit(key, MediaDigit::Rfc4733, 100);
                    c.digits += 1;
                    c.next_digit_at = Some(at + self.cfg.digit_interval);
                }
            }
            self.service(idx, t, out);
        }
    }

    /// Drains one call's outputs and reacts to its events.
    fn service(&mut self, idx: usize, t: Instant, out: &mut Vec<(SocketAddr, Vec<u8>)>) {
        let Some(Some(c)) = self.calls.get_mut(idx) else {
            return;
        };
        let mut finished = false;
        while let Some(ev) = c.uac.poll_event() {
            match ev {
                UacEvent::Answered { sdp } => match sdp::parse_answer(&sdp) {
                    Ok(a) => {
                        self.report.answered += 1;
                        self.report
                            .invite_to_200
                            .record(t.saturating_duration_since(c.invited_at));
                        let mut mc =
                            MediaConfig::new(a.codec, a.payload_type, a.telephone_event_pt, c.seed);
                        mc.record_audio = false;
                        self.by_own_ssrc.insert(mc.ssrc, idx);
                        let mut leg = MediaLeg::new(mc);
                        leg.start(t);
                        c.media = Some(leg);
                        c.rtp_dest = Some(a.rtp_addr);
                        self.by_rtp_source.insert(a.rtp_addr, idx);
                        match c.outcome {
                            Some(o) => {
                                self.report.outcomes.entry(o).or_default().answered += 1;
                                let mut rng = SmallRng::seed_from_u64(c.seed);
                                c.runner = Some(ScriptRunner::new(mix::script(o, &mut rng), t));
                                c.hangup_at = Some(t + MIX_CALL_CAP);
                            }
                            None => {
                                c.hangup_at = Some(t + self.cfg.duration);
                                c.next_digit_at = Some(t + self.cfg.digit_interval);
                            }
                        }
                    }
                    Err(_) => {
                        self.report.failed += 1;
                        if let Some(o) = c.outcome {
                            self.report.outcomes.entry(o).or_default().failed += 1;
                        }
                        c.uac.hangup(t);
                    }
                },
                UacEvent::RequestTimeout {
                    method: rsip::Method::Bye,
                } => {
                    self.report.bye_timeouts += 1;
                    c.bye_sent_at = None;
                }
                UacEvent::Ended(reason) => {
                    if let Some(m) = c.media.as_mut() {
                        m.stop();
                    }
                    let mut by_outcome = OutcomeCount::default();
                    match reason {
                        EndReason::Rejected(code) => {
                            self.report.failed += 1;
                            by_outcome.failed += 1;
                            *self.report.rejected.entry(code).or_default() += 1;
                        }
                        EndReason::Timeout | EndReason::Cancelled | EndReason::TransportError => {
                            self.report.failed += 1;
                            by_outcome.failed += 1;
                        }
                        EndReason::RemoteHangup => {
                            self.report.ended_by_server += 1;
                            by_outcome.ended_by_server += 1;
                        }
                        EndReason::LocalHangup => {
                            if let Some(sent) = c.bye_sent_at.take() {
                                self.report
                                    .bye_to_200
                                    .record(t.saturating_duration_since(sent));
                            }
                            by_outcome.completed += u64::from(c.script_done);
                        }
                    }
                    if let Some(o) = c.outcome {
                        let e = self.report.outcomes.entry(o).or_default();
                        e.failed += by_outcome.failed;
                        e.ended_by_server += by_outcome.ended_by_server;
                        e.completed += by_outcome.completed;
                    }
                }
                _ => {}
            }
        }
        while let Some(b) = c.uac.poll_transmit() {
            out.push((self.cfg.server, b));
        }
        if let (Some(m), Some(dest)) = (c.media.as_mut(), c.rtp_dest) {
            while m.poll_transmit(t, &mut self.scratch) {
                self.rtp_out.push(dest, &self.scratch);
            }
        }
        if c.uac.is_finished() {
            finished = true;
        }
        if finished {
            if let Some(Some(c)) = self.calls.get_mut(idx).map(Option::take) {
                let stats = c.media.as_ref().map(MediaLeg::stats).unwrap_or_default();
                self.report.rtp_in += stats.packets_in;
                self.report.rtp_out += stats.packets_out;
                self.report.digits_sent += stats.digits_sent;
                self.report.rtp_in_audio += c.rx.audio;
                self.report.rtp_in_expected += c.rx.expected();
                self.by_call_id.remove(c.uac.call_id());
                if let Some(d) = c.rtp_dest {
                    if self.by_rtp_source.get(&d) == Some(&idx) {
                        self.by_rtp_source.remove(&d);
                    }
                }
                if let Some(m) = &c.media {
                    self.by_own_ssrc.remove(&m.config().ssrc);
                }
            }
            self.free.push(idx);
            self.live = self.live.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles() {
        let mut h = Histogram::default();
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.quantile(0.5), Some(Duration::from_micros(50_100)));
        assert_eq!(h.quantile(0.99), Some(Duration::from_micros(99_100)));
        assert_eq!(h.max(), Duration::from_millis(100));
        assert_eq!(Histogram::default().quantile(0.5), None);
    }
}
