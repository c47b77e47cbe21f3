//! `cargo test --lib media::engine::tests::bench -- --ignored --nocapture`
//! Prints figures for N streams on loopback; asserts nothing about speed.
//! Knobs: PE_BENCH_STREAMS (2000), PE_BENCH_SECS (10), PE_BENCH_WORKERS (2),
//! PE_BENCH_INBOUND (1 = also send 50 packets/s into every stream),
//! PE_BENCH_SEND (io_uring | syscall; default: auto).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::media::rtp::{self, RtpHeader};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds used so far by threads whose name starts with `prefix`.
fn thread_cpu(prefix: &str) -> f64 {
    let mut ticks = 0u64;
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    for entry in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // After the comm: state is field 0, utime 11, stime 12.
        let ut: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
        let st: u64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
        ticks += ut + st;
    }
    ticks as f64 / 100.0
}

/// Gap histogram in 0.1 ms buckets up to 1 s.
struct Gaps {
    buckets: Vec<u64>,
    count: u64,
    max: Duration,
}

impl Gaps {
    fn new() -> Self {
        Gaps {
            buckets: vec![0; 10_001],
            count: 0,
            max: Duration::ZERO,
        }
    }
    fn add(&mut self, d: Duration) {
        let i = ((d.as_micros() / 100) as usize).min(10_000);
        self.buckets[i] += 1;
        self.count += 1;
        self.max = self.max.max(d);
    }
    fn merge(&mut self, o: &Gaps) {
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
        self.count += o.count;
        self.max = self.max.max(o.max);
    }
    fn pct(&self, p: f64) -> f64 {
        let target = (self.count as f64 * p).ceil() as u64;
        let mut acc = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            acc += n;
            if acc >= target {
                return i as f64 / 10.0;
            }
        }
        f64::NAN
    }
}

struct RxResult {
    gaps: Gaps,
    packets: u64,
    seq_gaps: u64,
}

fn receiver(sock: UdpSocket, stop: Arc<AtomicBool>, warmup_until: Instant) -> RxResult {
    let mut last: HashMap<u32, (Instant, u16)> = HashMap::new();
    let mut res = RxResult {
        gaps: Gaps::new(),
        packets: 0,
        seq_gaps: 0,
    };
    let mut buf = [0u8; 1500];
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while !stop.load(Ordering::Relaxed) {
        let Ok(n) = sock.recv(&mut buf) else { continue };
        let now = Instant::now();
        let Ok(p) = rtp::parse(&buf[..n]) else {
            continue;
        };
        res.packets += 1;
        let h = p.header;
        if let Some((t, seq)) = last.insert(h.ssrc, (now, h.sequence)) {
            if now >= warmup_until {
                res.gaps.add(now - t);
                if h.sequence != seq.wrapping_add(1) {
                    res.seq_gaps += 1;
                }
            }
        }
    }
    res
}

#[test]
#[ignore = "benchmark: prints figures, run by hand"]
fn bench() {
    let streams = env("PE_BENCH_STREAMS", 2000) as usize;
    let secs = env("PE_BENCH_SECS", 10);
    let workers = env("PE_BENCH_WORKERS", 2) as usize;
    let inbound = env("PE_BENCH_INBOUND", 1) == 1;
    let clip = vec![3000i16; 8000 * 10];
    let lib = Arc::new(PromptLibrary::from_samples([("sv", "long", &clip[..])]));
    let long = lib.lookup("sv", "long").unwrap();
    let mut cfg = MediaConfig::new(
        IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        (20000, 60000),
        lib,
    );
    cfg.workers = workers;
    cfg.batch_send = match std::env::var("PE_BENCH_SEND").as_deref() {
        Ok("syscall") => BatchSend::Syscall,
        Ok("io_uring") => BatchSend::IoUring,
        _ => BatchSend::Auto,
    };
    let engine = MediaEngine::start(cfg).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let warmup_until = Instant::now() + Duration::from_secs(2);
    let mut socks = Vec::new();
    let mut rx_threads = Vec::new();
    for _ in 0..2 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        let _ = s.set_recv_buffer_size(8 << 20);
        s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let s: UdpSocket = s.into();
        socks.push(s.try_clone().unwrap());
        let stop = stop.clone();
        rx_threads.push(std::thread::spawn(move || receiver(s, stop, warmup_until)));
    }
    let mut handles = Vec::new();
    let mut ports = Vec::new();
    let opened = Instant::now();
    for i in 0..streams {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let remote = socks[i % socks.len()].local_addr().unwrap();
        let st = engine
            .open(
                StreamParams {
                    codec: Codec::Pcmu,
                    payload_type: 0,
                    telephone_event_pt: Some(101),
                    remote,
                    trust: Trust::Trusted,
                },
                tx,
            )
            .unwrap();
        st.play(vec![long], i as u64);
        ports.push(st.local_port());
        handles.push((st, rx));
    }
    let open_time = opened.elapsed();
    let inbound_thread = inbound.then(|| {
        let stop = stop.clone();
        let socks: Vec<UdpSocket> = socks.iter().map(|s| s.try_clone().unwrap()).collect();
        let ports = ports.clone();
        std::thread::Builder::new()
            .name("bench-inbound".into())
            .spawn(move || {
                let mut buf = [0u8; 200];
                let mut seq = 0u16;
                let start = Instant::now();
                let mut tick = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    for (i, port) in ports.iter().enumerate() {
                        let h = RtpHeader::new(0, seq, tick * 160, i as u32, false);
                        let n = rtp::write_packet(&h, &[0xFF; 160], &mut buf).unwrap();
                        let to = SocketAddr::from(([127, 0, 0, 1], *port));
                        let _ = socks[i % socks.len()].send_to(&buf[..n], to);
                    }
                    seq = seq.wrapping_add(1);
                    tick += 1;
                    let next = start + TICK_FOR_BENCH * tick;
                    if let Some(d) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(d);
                    }
                }
            })
            .unwrap()
    });
    std::thread::sleep(Duration::from_secs(2));
    let cpu0 = thread_cpu("pe-media");
    let all0 = thread_cpu("");
    let s0 = engine.stats();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = thread_cpu("pe-media");
    let all1 = thread_cpu("");
    let s1 = engine.stats();
    stop.store(true, Ordering::Relaxed);
    let mut gaps = Gaps::new();
    let (mut received, mut seq_gaps) = (0, 0);
    for t in rx_threads {
        let r = t.join().unwrap();
        gaps.merge(&r.gaps);
        received += r.packets;
        seq_gaps += r.seq_gaps;
    }
    if let Some(t) = inbound_thread {
        let _ = t.join();
    }
    println!(
        "--- media engine bench: {streams} streams, {workers} workers, {secs} s, inbound={inbound}, send={}",
        engine.send_mode().as_str()
    );
    println!("open {streams} streams: {open_time:?}");
    println!(
        "out {:.0} pkt/s, in {:.0} pkt/s, send errors {}, late ticks {}, skipped frames {}, max tick lag {:?}",
        (s1.packets_out - s0.packets_out) as f64 / wall,
        (s1.packets_in - s0.packets_in) as f64 / wall,
        s1.send_errors - s0.send_errors,
        s1.late_ticks - s0.late_ticks,
        s1.skipped_frames - s0.skipped_frames,
        s1.max_tick_lag
    );
    println!(
        "worker CPU {:.2} s over {:.1} s wall = {:.0}% of one core",
        cpu1 - cpu0,
        wall,
        100.0 * (cpu1 - cpu0) / wall
    );
    println!(
        "worker CPU per stream: {:.1} us per second of call ({:.2} us per frame sent)",
        1e6 * (cpu1 - cpu0) / wall / streams as f64,
        1e6 * (cpu1 - cpu0) / (s1.packets_out - s0.packets_out).max(1) as f64
    );
    println!(
        "whole test process (engine + receivers + inbound sender) {:.0}% of one core",
        100.0 * (all1 - all0) / wall
    );
    println!(
        "receiver: {received} packets, {seq_gaps} sequence gaps; inter-packet gap ms p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}",
        gaps.pct(0.50),
        gaps.pct(0.90),
        gaps.pct(0.99),
        gaps.pct(0.999),
        gaps.max.as_secs_f64() * 1000.0
    );
    drop(handles);
}

const TICK_FOR_BENCH: Duration = Duration::from_millis(20);
