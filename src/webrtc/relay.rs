//! The header rewriting between the service's plain RTP and the browser's
//! track, as a plain state machine (no sockets, no clock).
//!
//! What is rewritten, and why (nothing else is touched):
//! - towards the browser, the SSRC becomes the one announced in our answer
//!   (webrtc-rs refuses packets with another SSRC); when the service's source
//!   changes (a new SSRC, e.g. a prompt stream replaced by a bridge) the
//!   sequence numbers and timestamps are shifted to continue where the last
//!   source stopped, so the browser's jitter buffer sees one stream;
//! - the telephone-event payload type is mapped between our 101 and the number
//!   the browser chose for `telephone-event/8000` (Chrome: 126);
//! - other payload types than PCMU and telephone-event are dropped (they were
//!   not negotiated, so neither side could decode them).

use super::{PCMU_PT, TELEPHONE_EVENT_PT};

/// The RTP header fields the relay reads or rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fields {
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub marker: bool,
}

/// Timestamp step assumed between the last packet of one source and the
/// first of the next: one 20 ms PCMU frame.
const SOURCE_SWITCH_STEP: u32 = 160;

/// Offsets applied to one service-side source.
#[derive(Debug, Clone, Copy)]
struct Source {
    ssrc: u32,
    sequence_offset: u16,
    timestamp_offset: u32,
}

/// Rewrites service RTP for the browser's track.
#[derive(Debug)]
pub(crate) struct ToBrowser {
    ssrc: u32,
    telephone_event_pt: Option<u8>,
    source: Option<Source>,
    /// Highest (sequence, timestamp) sent so far.
    last: Option<(u16, u32)>,
}

impl ToBrowser {
    /// `ssrc` is our track's; `telephone_event_pt` the browser's number for
    /// `telephone-event/8000` (None: it did not offer one, events are dropped).
    pub fn new(ssrc: u32, telephone_event_pt: Option<u8>) -> Self {
        ToBrowser {
            ssrc,
            telephone_event_pt,
            source: None,
            last: None,
        }
    }

    /// The header to send to the browser, or None to drop the packet.
    pub fn rewrite(&mut self, input: Fields) -> Option<Fields> {
        let payload_type = match input.payload_type {
            PCMU_PT => PCMU_PT,
            TELEPHONE_EVENT_PT => self.telephone_event_pt?,
            _ => return None,
        };
        let mut marker = input.marker;
        let source = match self.source {
            Some(s) if s.ssrc == input.ssrc => s,
            _ => {
                let s = match self.last {
                    // Continue where the previous source stopped.
                    Some((seq, ts)) => Source {
                        ssrc: input.ssrc,
                        sequence_offset: seq.wrapping_add(1).wrapping_sub(input.sequence),
                        timestamp_offset: ts
                            .wrapping_add(SOURCE_SWITCH_STEP)
                            .wrapping_sub(input.timestamp),
                    },
                    // The first source keeps its numbers.
                    None => Source {
                        ssrc: input.ssrc,
                        sequence_offset: 0,
                        timestamp_offset: 0,
                    },
                };
                if self.source.is_some() {
                    // A new talk spurt as far as the browser can tell.
                    marker = true;
                }
                self.source = Some(s);
                s
            }
        };
        let out = Fields {
            payload_type,
            sequence: input.sequence.wrapping_add(source.sequence_offset),
            timestamp: input.timestamp.wrapping_add(source.timestamp_offset),
            ssrc: self.ssrc,
            marker,
        };
        let newer = match self.last {
            Some((seq, _)) => {
                let ahead = out.sequence.wrapping_sub(seq);
                ahead != 0 && ahead < 0x8000
            }
            None => true,
        };
        if newer {
            self.last = Some((out.sequence, out.timestamp));
        }
        Some(out)
    }
}

/// The payload type to send to the service for one the browser sent, or None
/// to drop the packet.
pub(crate) fn from_browser_pt(payload_type: u8, telephone_event_pt: Option<u8>) -> Option<u8> {
    if payload_type == PCMU_PT {
        Some(PCMU_PT)
    } else if Some(payload_type) == telephone_event_pt {
        Some(TELEPHONE_EVENT_PT)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(pt: u8, seq: u16, ts: u32, ssrc: u32) -> Fields {
        Fields {
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc,
            marker: false,
        }
    }

    #[test]
    fn first_source_keeps_its_numbers_and_gets_our_ssrc() {
        let mut r = ToBrowser::new(0xAAAA, Some(126));
        let out = r.rewrite(pkt(0, 500, 80_000, 7)).unwrap();
        assert_eq!(out, pkt(0, 500, 80_000, 0xAAAA));
    }

    #[test]
    fn telephone_event_101_goes_out_as_the_browsers_number() {
        let mut r = ToBrowser::new(1, Some(126));
        assert_eq!(r.rewrite(pkt(101, 1, 0, 7)).unwrap().payload_type, 126);
    }

    #[test]
    fn telephone_event_is_dropped_when_the_browser_did_not_offer_it() {
        let mut r = ToBrowser::new(1, None);
        assert_eq!(r.rewrite(pkt(101, 1, 0, 7)), None);
        assert!(r.rewrite(pkt(0, 2, 160, 7)).is_some());
    }

    #[test]
    fn unnegotiated_payload_types_are_dropped() {
        let mut r = ToBrowser::new(1, Some(126));
        for pt in [8, 13, 96, 126] {
            assert_eq!(r.rewrite(pkt(pt, 1, 0, 7)), None, "pt {pt}");
        }
    }

    #[test]
    fn new_source_continues_sequence_and_timestamp_with_marker() {
        let mut r = ToBrowser::new(1, None);
        r.rewrite(pkt(0, 65_535, u32::MAX - 100, 7));
        let out = r.rewrite(pkt(0, 12, 9_000, 8)).unwrap();
        assert_eq!(out.sequence, 0);
        assert_eq!(out.timestamp, (u32::MAX - 100).wrapping_add(160));
        assert!(out.marker);
        // The new source's own steps pass through unchanged.
        let next = r.rewrite(pkt(0, 13, 9_160, 8)).unwrap();
        assert_eq!(
            (next.sequence, next.timestamp),
            (1, out.timestamp.wrapping_add(160))
        );
        assert!(!next.marker);
    }

    #[test]
    fn late_packet_keeps_its_place_and_does_not_move_the_continuation_point() {
        let mut r = ToBrowser::new(1, None);
        r.rewrite(pkt(0, 10, 1600, 7));
        r.rewrite(pkt(0, 12, 1920, 7));
        assert_eq!(r.rewrite(pkt(0, 11, 1760, 7)).unwrap().sequence, 11);
        assert_eq!(r.rewrite(pkt(0, 0, 0, 8)).unwrap().sequence, 13);
    }

    #[test]
    fn browser_payload_types_map_back_to_ours() {
        assert_eq!(from_browser_pt(0, Some(126)), Some(0));
        assert_eq!(from_browser_pt(126, Some(126)), Some(101));
        assert_eq!(from_browser_pt(110, Some(126)), None);
        assert_eq!(from_browser_pt(111, Some(126)), None);
        assert_eq!(from_browser_pt(101, None), None);
    }
}
