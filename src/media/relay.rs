//! Relaying one RTP stream onto another that we own (the two-leg bridge).
//!
//! The outgoing stream keeps our SSRC. Sequence numbers and timestamps of the
//! incoming stream are shifted so that they continue where our own stream
//! stood when the relay started: a receiver sees one continuous stream, gaps
//! in the input (loss) stay gaps, and a new input source (a re-INVITE, a
//! phone that restarts its stream) starts a new segment with the marker bit.

use super::rtp::RtpHeader;

/// Where our outgoing stream stands: the next sequence number and timestamp
/// it would use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutPosition {
    pub seq: u16,
    pub ts: u32,
}

/// Header fields for one relayed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapped {
    pub seq: u16,
    pub ts: u32,
    pub marker: bool,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    in_ssrc: u32,
    seq_offset: u16,
    ts_offset: u32,
}

/// The offsets for the current input segment.
#[derive(Debug, Default)]
pub struct RelayMap {
    segment: Option<Segment>,
}

impl RelayMap {
    pub fn new() -> Self {
        RelayMap::default()
    }

    /// Forgets the input stream: the next packet starts a new segment.
    pub fn reset(&mut self) {
        self.segment = None;
    }

    /// Maps an incoming header onto our stream, which stands at `out`.
    pub fn map(&mut self, input: &RtpHeader, out: OutPosition) -> Mapped {
        let fresh = !matches!(self.segment, Some(s) if s.in_ssrc == input.ssrc);
        if fresh {
            self.segment = Some(Segment {
                in_ssrc: input.ssrc,
                seq_offset: out.seq.wrapping_sub(input.sequence),
                ts_offset: out.ts.wrapping_sub(input.timestamp),
            });
        }
        let s = self.segment.unwrap_or(Segment {
            in_ssrc: input.ssrc,
            seq_offset: 0,
            ts_offset: 0,
        });
        Mapped {
            seq: input.sequence.wrapping_add(s.seq_offset),
            ts: input.timestamp.wrapping_add(s.ts_offset),
            marker: input.marker || fresh,
        }
    }
}

/// Where our stream stands after sending `sent` carrying `samples` of audio
/// (0 for events, whose timestamp is the event start): a packet that arrives
/// late never moves the position backwards.
pub fn advance(out: OutPosition, sent: Mapped, samples: u32) -> OutPosition {
    let seq_ahead = sent.seq.wrapping_sub(out.seq) < 0x8000;
    let end = sent.ts.wrapping_add(samples);
    let ts_ahead = end.wrapping_sub(out.ts) < 0x8000_0000;
    OutPosition {
        seq: if seq_ahead {
            sent.seq.wrapping_add(1)
        } else {
            out.seq
        },
        ts: if ts_ahead { end } else { out.ts },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(ssrc: u32, seq: u16, ts: u32) -> RtpHeader {
        RtpHeader::new(0, seq, ts, ssrc, false)
    }

    #[test]
    fn first_packet_continues_our_stream_with_marker() {
        let mut m = RelayMap::new();
        let out = OutPosition { seq: 500, ts: 9000 };
        let got = m.map(&h(7, 65_535, 4_294_967_200), out);
        assert_eq!(
            got,
            Mapped {
                seq: 500,
                ts: 9000,
                marker: true
            }
        );
    }

    #[test]
    fn input_gaps_stay_gaps_across_wraparound() {
        let mut m = RelayMap::new();
        let out = OutPosition { seq: 10, ts: 1000 };
        m.map(&h(7, 65_535, u32::MAX - 159), out);
        // Two packets lost: seq 0 and 1 missing, ts jumps 3 frames.
        let got = m.map(&h(7, 2, 320), out);
        assert_eq!(got.seq, 13);
        assert_eq!(got.ts, 1000 + 480);
        assert!(!got.marker);
    }

    #[test]
    fn new_input_source_starts_a_new_segment() {
        let mut m = RelayMap::new();
        let mut out = OutPosition { seq: 10, ts: 1000 };
        let a = m.map(&h(7, 100, 100), out);
        out = advance(out, a, 160);
        let b = m.map(&h(8, 5000, 77), out);
        assert_eq!(
            b,
            Mapped {
                seq: 11,
                ts: 1160,
                marker: true
            }
        );
    }

    #[test]
    fn late_packet_does_not_move_position_back() {
        let out = OutPosition { seq: 20, ts: 3200 };
        let late = Mapped {
            seq: 18,
            ts: 2880,
            marker: false,
        };
        assert_eq!(advance(out, late, 160), out);
        let next = Mapped {
            seq: 20,
            ts: 3200,
            marker: false,
        };
        assert_eq!(advance(out, next, 160), OutPosition { seq: 21, ts: 3360 });
    }

    #[test]
    fn reset_starts_over() {
        let mut m = RelayMap::new();
        m.map(&h(7, 1, 1), OutPosition { seq: 0, ts: 0 });
        m.reset();
        let got = m.map(&h(7, 2, 161), OutPosition { seq: 50, ts: 5000 });
        assert_eq!((got.seq, got.ts, got.marker), (50, 5000, true));
    }
}
