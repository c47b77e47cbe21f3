//! The box's own limit, as an anchor for the service's figures: a minimal
//! RTP reflector (no SIP, no IVR: one UDP socket per "call" like the service
//! has, epoll readiness, `recvmmsg` per ready socket, everything echoed back to
//! its source with `sendmmsg`) and a stream generator that sends N 20 ms PCMU
//! streams to it and measures what comes back (lost, late, inter-arrival gaps).

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::load::Histogram;
use crate::mmsg::{RecvBatch, SendBatch};

/// Socket buffers large enough for a tick's burst of every stream.
const SOCKET_BUFFER: usize = 4 << 20;

pub(crate) fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        None,
    )?;
    // Best effort: the kernel caps them at net.core.[rw]mem_max.
    let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = s.set_send_buffer_size(SOCKET_BUFFER);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// Echoes every datagram on its sockets back to its source until dropped.
pub struct Reflector {
    addrs: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    echoed: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Reflector {
    /// Binds one socket per address (port 0: any) and serves them from
    /// `threads` threads. A port another process holds is left out (see
    /// [`Reflector::addrs`]); other bind errors fail.
    pub fn start(addrs: &[SocketAddr], threads: usize) -> io::Result<Reflector> {
        let threads = threads.clamp(1, addrs.len().max(1));
        let mut per_thread: Vec<Vec<UdpSocket>> = (0..threads).map(|_| Vec::new()).collect();
        let mut bound = Vec::with_capacity(addrs.len());
        for a in addrs {
            let s = match udp_socket(*a) {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && a.port() != 0 => continue,
                Err(e) => return Err(e),
            };
            let addr = s.local_addr()?;
            if let Some(v) = per_thread.get_mut(bound.len() % threads) {
                v.push(s);
            }
            bound.push(addr);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let echoed = Arc::new(AtomicU64::new(0));
        let mut handles = Vec::new();
        for sockets in per_thread {
            let (stop, echoed) = (stop.clone(), echoed.clone());
            let sockets: Vec<_> = sockets
                .into_iter()
                .map(mio::net::UdpSocket::from_std)
                .collect();
            handles.push(std::thread::spawn(move || {
                let _ = reflect_loop(sockets, &stop, &echoed);
            }));
        }
        Ok(Reflector {
            addrs: bound,
            stop,
            echoed,
            threads: handles,
        })
    }

    /// The bound addresses, in the order given (ports in use left out).
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Datagrams echoed so far.
    pub fn echoed(&self) -> u64 {
        self.echoed.load(Ordering::Relaxed)
    }
}

impl Drop for Reflector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn reflect_loop(
    mut sockets: Vec<mio::net::UdpSocket>,
    stop: &AtomicBool,
    echoed: &AtomicU64,
) -> io::Result<()> {
    let mut poll = Poll::new()?;
    for (i, s) in sockets.iter_mut().enumerate() {
        poll.registry().register(s, Token(i), Interest::READABLE)?;
    }
    let mut events = Events::with_capacity(1024);
    let mut rx = RecvBatch::new(64);
    let mut tx = SendBatch::new();
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_millis(100))) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in events.iter() {
            let Some(sock) = sockets.get(ev.token().0) else {
                continue;
            };
            let fd = sock.as_raw_fd();
            // Edge-triggered: drain until it would block.
            while let Ok(n) = rx.recv(fd) {
                for i in 0..n {
                    if let Some((from, bytes)) = rx.get(i) {
                        tx.push(from, bytes);
                    }
                }
                let mut spins = 0;
                while !tx.is_empty() && spins < 100 {
                    match tx.send(fd) {
                        Ok(n) => echoed.fetch_add(n as u64, Ordering::Relaxed),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            spins += 1;
                            std::thread::yield_now();
                            0
                        }
                        Err(_) => 0,
                    };
                }
                tx.clear();
            }
        }
    }
    Ok(())
}

/// `40000-49999` or `40000`.
pub fn parse_ports(s: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let bad = || format!("{s:?}: expected a port range like 40000-49999");
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.trim().parse().map_err(|_| bad())?;
    let b: u16 = b.trim().parse().map_err(|_| bad())?;
    if a > b || a == 0 {
        return Err(bad());
    }
    Ok(a..=b)
}

/// What to send to a reflector.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// The reflector's sockets; stream k goes to `targets[k % len]`.
    pub targets: Vec<SocketAddr>,
    pub local_ip: IpAddr,
    pub streams: usize,
    pub duration: Duration,
    /// Sending threads, each with one socket and one 20 ms tick.
    pub threads: usize,
    /// An echo arriving this long after its frame was due counts as late.
    pub late_after: Duration,
}

/// What came back.
#[derive(Debug, Clone, Default)]
pub struct StreamReport {
    pub streams: usize,
    pub sent: u64,
    pub received: u64,
    pub late: u64,
    /// Ticks that began more than a frame late (the generator fell behind):
    /// their frames were skipped, not sent.
    pub late_ticks: u64,
    pub skipped: u64,
    pub gap: Histogram,
    pub round_trip: Histogram,
    pub elapsed: Duration,
}

impl StreamReport {
    pub fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received)
    }

    /// Lost, late or skipped, percent of the frames due.
    pub fn bad_pct(&self) -> f64 {
        let due = self.sent + self.skipped;
        if due == 0 {
            return 0.0;
        }
        (self.lost() + self.late + self.skipped) as f64 * 100.0 / due as f64
    }

    /// Under 0.1 % lost or late and the p99 gap under 25 ms.
    pub fn is_clean(&self) -> bool {
        self.sent > 0
            && self.bad_pct() < 0.1
            && self
                .gap
                .quantile(0.99)
                .is_some_and(|g| g < Duration::from_millis(25))
    }

    fn merge(&mut self, o: &StreamReport) {
        self.sent += o.sent;
        self.received += o.received;
        self.late += o.late;
        self.late_ticks += o.late_ticks;
        self.skipped += o.skipped;
        self.gap.merge(&o.gap);
        self.round_trip.merge(&o.round_trip);
    }
}

const FRAME: Duration = Duration::from_millis(20);
const RTP_LEN: usize = 12 + 160;

/// Sends the streams for `duration`, then waits 200 ms for the last echoes.
pub fn run_streams(cfg: &StreamConfig) -> io::Result<StreamReport> {
    if cfg.targets.is_empty() {
        return Err(io::Error::other("no reflector ports to send to"));
    }
    let threads = cfg.threads.clamp(1, cfg.streams.max(1));
    let start = Instant::now() + Duration::from_millis(50);
    let mut handles = Vec::new();
    for t in 0..threads {
        let sock = udp_socket(SocketAddr::new(cfg.local_ip, 0))?;
        let mine: Vec<(u32, SocketAddr)> = (t..cfg.streams)
            .step_by(threads)
            .filter_map(|k| Some((k as u32, *cfg.targets.get(k % cfg.targets.len())?)))
            .collect();
        let cfg = cfg.clone();
        handles.push(std::thread::spawn(move || {
            stream_thread(sock, mine, start, &cfg, threads)
        }));
    }
    let mut report = StreamReport {
        streams: cfg.streams,
        ..Default::default()
    };
    for h in handles {
        let r = h
            .join()
            .map_err(|_| io::Error::other("stream thread panicked"))??;
        report.merge(&r);
    }
    report.elapsed = start.elapsed();
    Ok(report)
}

struct StreamState {
    dest: SocketAddr,
    last_arrival: Option<Instant>,
}

fn stream_thread(
    sock: UdpSocket,
    streams: Vec<(u32, SocketAddr)>,
    start: Instant,
    cfg: &StreamConfig,
    threads: usize,
) -> io::Result<StreamReport> {
    let mut sock = mio::net::UdpSocket::from_std(sock);
    let fd = sock.as_raw_fd();
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut sock, Token(0), Interest::READABLE)?;
    let mut events = Events::with_capacity(4);
    let mut state: Vec<StreamState> = streams
        .iter()
        .map(|(_, d)| StreamState {
            dest: *d,
            last_arrival: None,
        })
        .collect();
    let ssrc_base = streams.first().map_or(0, |s| s.0);
    let mut r = StreamReport::default();
    let mut rx = RecvBatch::new(64);
    let mut tx = SendBatch::new();
    let mut pkt = [0xffu8; RTP_LEN];
    let end = start + cfg.duration;
    let mut frame: u32 = 0;
    let mut next_tick = start;
    loop {
        let now = Instant::now();
        if now >= next_tick && next_tick < end {
            // Behind by more than a frame: skip the missed frames (as the
            // service's media tick does) rather than bursting them.
            while now.saturating_duration_since(next_tick) > FRAME && next_tick + FRAME < end {
                r.late_ticks += 1;
                r.skipped += streams.len() as u64;
                frame += 1;
                next_tick += FRAME;
            }
            for ((ssrc, _), st) in streams.iter().zip(&state) {
                write_header(&mut pkt, *ssrc, frame);
                tx.push(st.dest, &pkt);
                r.sent += 1;
            }
            while !tx.is_empty() {
                match tx.send(fd) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                    Err(_) => {}
                }
            }
            frame += 1;
            next_tick += FRAME;
        }
        let stop_at = end + Duration::from_millis(200);
        let now = Instant::now();
        if now >= stop_at {
            break;
        }
        let until = if next_tick < end { next_tick } else { stop_at };
        let wait = until.saturating_duration_since(now);
        if !wait.is_zero() {
            poll.poll(&mut events, Some(wait))?;
        }
        // Always drained (edge-triggered, and after every tick's burst).
        while let Ok(n) = rx.recv(fd) {
            let t = Instant::now();
            for i in 0..n {
                let Some((_, b)) = rx.get(i) else { continue };
                let (Some(ssrc), Some(ts)) = (be32(b, 8), be32(b, 4)) else {
                    continue;
                };
                let local = (ssrc.wrapping_sub(ssrc_base) as usize) / threads;
                let Some(st) = state.get_mut(local) else {
                    continue;
                };
                r.received += 1;
                let due = start + FRAME * (ts / 160);
                let rtt = t.saturating_duration_since(due);
                r.round_trip.record(rtt);
                if rtt > cfg.late_after {
                    r.late += 1;
                }
                if let Some(last) = st.last_arrival {
                    r.gap.record(t.saturating_duration_since(last));
                }
                st.last_arrival = Some(t);
            }
        }
    }
    Ok(r)
}

fn write_header(pkt: &mut [u8; RTP_LEN], ssrc: u32, frame: u32) {
    pkt[0] = 0x80;
    pkt[1] = 0; // PCMU
    pkt[2..4].copy_from_slice(&(frame as u16).to_be_bytes());
    pkt[4..8].copy_from_slice(&frame.wrapping_mul(160).to_be_bytes());
    pkt[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_be_bytes)
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1000.0))
}

/// The sweep table's header.
pub const TABLE_HEADER: &str =
    "streams     sent   lost   late skipped  bad %  gap p99 ms  gap max ms  rtt p99 ms  late ticks  gen CPU %  refl CPU %  clean";

/// One row of the sweep table; CPU figures are percent of one core.
pub fn table_row(r: &StreamReport, gen_cpu: Option<f64>, refl_cpu: Option<f64>) -> String {
    let pct = |p: Option<f64>| p.map_or("-".into(), |p| format!("{p:.0}"));
    format!(
        "{:>7} {:>8} {:>6} {:>6} {:>7} {:>6.3} {:>11} {:>11} {:>11} {:>11} {:>10} {:>11}  {}",
        r.streams,
        r.sent,
        r.lost(),
        r.late,
        r.skipped,
        r.bad_pct(),
        ms(r.gap.quantile(0.99)),
        ms(Some(r.gap.max())),
        ms(r.round_trip.quantile(0.99)),
        r.late_ticks,
        pct(gen_cpu),
        pct(refl_cpu),
        if r.is_clean() { "yes" } else { "no" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback(n: usize) -> Vec<SocketAddr> {
        vec!["127.0.0.1:0".parse().unwrap(); n]
    }

    #[test]
    fn reflector_echoes_every_datagram_to_its_source() {
        let refl = Reflector::start(&loopback(4), 2).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        for (i, a) in refl.addrs().iter().enumerate() {
            client.send_to(&[i as u8; 20], a).unwrap();
        }
        let mut seen = Vec::new();
        let mut buf = [0u8; 64];
        for _ in 0..4 {
            let (n, from) = client.recv_from(&mut buf).unwrap();
            assert_eq!(n, 20);
            let i = buf[0] as usize;
            assert_eq!(
                from,
                refl.addrs()[i],
                "echoed from the socket it was sent to"
            );
            seen.push(i);
        }
        seen.sort();
        assert_eq!(seen, vec![0, 1, 2, 3]);
        // The count follows the send: the echo can arrive first.
        let deadline = Instant::now() + Duration::from_secs(2);
        while refl.echoed() < 4 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(refl.echoed(), 4);
    }

    #[test]
    fn streams_through_the_reflector_come_back_complete() {
        let refl = Reflector::start(&loopback(8), 2).unwrap();
        let r = run_streams(&StreamConfig {
            targets: refl.addrs().to_vec(),
            local_ip: "127.0.0.1".parse().unwrap(),
            streams: 16,
            duration: Duration::from_millis(400),
            threads: 2,
            late_after: Duration::from_secs(5),
        })
        .unwrap();
        assert_eq!(
            r.sent + r.skipped,
            16 * 20,
            "20 frames of each stream in 400 ms (a busy box may skip some)"
        );
        assert_eq!(r.received, r.sent);
        assert_eq!(r.lost(), 0);
        assert_eq!(
            r.gap.count(),
            r.sent - 16,
            "a gap between consecutive echoes"
        );
        assert_eq!(refl.echoed(), r.sent);
    }

    #[test]
    fn clean_needs_few_losses_and_a_short_p99_gap() {
        let mut r = StreamReport {
            sent: 10_000,
            received: 9_995,
            ..Default::default()
        };
        for _ in 0..100 {
            r.gap.record(Duration::from_millis(20));
        }
        assert!(r.is_clean());
        r.late = 6;
        assert!(!r.is_clean(), "0.11 % lost or late");
        r.late = 0;
        for _ in 0..5 {
            r.gap.record(Duration::from_millis(60));
        }
        assert!(!r.is_clean(), "p99 gap 60 ms");
        let row = table_row(&r, Some(12.0), None);
        assert!(row.contains(" 10000 ") && row.ends_with("no"), "{row}");
        assert_eq!(parse_ports("40000-40009"), Ok(40000..=40009));
        assert!(parse_ports("9-1").is_err() && parse_ports("x").is_err());
    }
}
