//! `cargo test --release --lib rtp_header_bench -- --ignored --nocapture`
//! Our RTP reader and writer against the `rtp-rs` crate on a 172-byte PCMU
//! packet (12-byte header, 160 bytes of audio). Prints ns per packet, the best
//! of a few rounds; asserts nothing about speed. Knob: PE_BENCH_PACKETS (20M).

use std::hint::black_box;
use std::time::Instant;

use super::*;

const ROUNDS: usize = 5;

fn packets() -> u64 {
    std::env::var("PE_BENCH_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000_000)
}

/// Best ns per call of `f` over a few rounds of `n` calls each.
fn best_ns(n: u64, mut f: impl FnMut(u64) -> u64) -> f64 {
    let mut best = f64::INFINITY;
    let mut sink = 0u64;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for i in 0..n {
            sink = sink.wrapping_add(f(black_box(i)));
        }
        best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
    }
    black_box(sink);
    best
}

/// Sums what a receiver reads, so neither reader can skip a field.
fn fold(marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> u64 {
    u64::from(marker)
        + u64::from(pt)
        + u64::from(seq)
        + u64::from(ts)
        + u64::from(ssrc)
        + payload.len() as u64
        + u64::from(payload.first().copied().unwrap_or(0))
}

/// The header of the `i`th packet of a stream, ours.
fn our_header(i: u64) -> RtpHeader {
    RtpHeader::new(
        0,
        i as u16,
        (i as u32).wrapping_mul(160),
        0x1234_5678,
        false,
    )
}

/// The same header as an rtp-rs builder.
fn crate_builder<'a>(i: u64) -> rtp_rs::RtpPacketBuilder<'a> {
    rtp_rs::RtpPacketBuilder::new()
        .payload_type(0)
        .marked(false)
        .sequence(rtp_rs::Seq::from(i as u16))
        .timestamp((i as u32).wrapping_mul(160))
        .ssrc(0x1234_5678)
}

#[test]
#[ignore]
fn rtp_header_bench() {
    let n = packets();
    let mut packet = [0u8; 172];
    let payload = [0xD5u8; 160];
    let header = RtpHeader::new(0, 1, 160, 0x1234_5678, false);
    write_packet(&header, &payload, &mut packet).unwrap();

    let ours_read = best_ns(n, |i| {
        let buf = black_box(&packet[..]);
        match parse(buf) {
            Ok(p) => {
                let h = p.header;
                fold(
                    h.marker,
                    h.payload_type,
                    h.sequence,
                    h.timestamp,
                    h.ssrc,
                    p.payload,
                ) + i
            }
            Err(_) => 0,
        }
    });
    let crate_read = best_ns(n, |i| {
        let buf = black_box(&packet[..]);
        match rtp_rs::RtpReader::new(buf) {
            Ok(r) if r.version() == 2 => {
                let seq: u16 = r.sequence_number().into();
                fold(
                    r.mark(),
                    r.payload_type(),
                    seq,
                    r.timestamp(),
                    r.ssrc(),
                    r.payload(),
                ) + i
            }
            _ => 0,
        }
    });

    let mut out = [0u8; 200];
    let ours_header = best_ns(n, |i| {
        let len = write_header(black_box(&our_header(i)), black_box(&mut out[..]));
        u64::from(out[3]) + len.unwrap_or(0) as u64
    });
    let crate_header = best_ns(n, |i| {
        let len = black_box(&crate_builder(i)).build_into(black_box(&mut out[..]));
        u64::from(out[3]) + len.unwrap_or(0) as u64
    });
    let ours_packet = best_ns(n, |i| {
        let len = write_packet(
            black_box(&our_header(i)),
            black_box(&payload),
            black_box(&mut out[..]),
        );
        u64::from(out[3]) + len.unwrap_or(0) as u64
    });
    let crate_packet = best_ns(n, |i| {
        let b = crate_builder(i).payload(black_box(&payload));
        let len = black_box(&b).build_into(black_box(&mut out[..]));
        u64::from(out[3]) + len.unwrap_or(0) as u64
    });

    println!("RTP, 172-byte PCMU packet, {n} per round, best of {ROUNDS} rounds (ns/packet):");
    println!("  {:<28} {:>8} {:>8}", "", "ours", "rtp-rs");
    for (what, ours, theirs) in [
        ("parse (fields + payload)", ours_read, crate_read),
        ("write 12-byte header", ours_header, crate_header),
        ("write header + 160 B", ours_packet, crate_packet),
    ] {
        println!("  {what:<28} {ours:>8.2} {theirs:>8.2}");
    }
}
