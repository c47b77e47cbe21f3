//! Minimal RTP (RFC 3550) and RFC 4733 telephone-event packet code, written
//! here so the simulator stays an independent peer of the service's media stack.

/// The fixed RTP header fields the simulator uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// A parsed packet borrowing its payload from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub header: RtpHeader,
    pub payload: &'a [u8],
}

/// Why a datagram is not an RTP packet we can use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RtpError {
    #[error("datagram too short for RTP")]
    TooShort,
    #[error("RTP version is not 2")]
    BadVersion,
    #[error("RTP padding or extension runs past the end")]
    BadLength,
}

/// Appends a packet (12-byte header, no CSRCs) and its payload to `out`.
pub fn write_packet(h: &RtpHeader, payload: &[u8], out: &mut Vec<u8>) {
    out.push(0x80);
    out.push(((h.marker as u8) << 7) | (h.payload_type & 0x7f));
    out.extend_from_slice(&h.seq.to_be_bytes());
    out.extend_from_slice(&h.timestamp.to_be_bytes());
    out.extend_from_slice(&h.ssrc.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Parses a datagram; handles CSRCs, header extension and padding.
pub fn parse(b: &[u8]) -> Result<RtpPacket<'_>, RtpError> {
    let fixed: &[u8; 12] = b
        .get(..12)
        .and_then(|s| s.try_into().ok())
        .ok_or(RtpError::TooShort)?;
    if fixed[0] >> 6 != 2 {
        return Err(RtpError::BadVersion);
    }
    let csrc = (fixed[0] & 0x0f) as usize;
    let mut start = 12 + 4 * csrc;
    if fixed[0] & 0x10 != 0 {
        let ext = b.get(start..start + 4).ok_or(RtpError::BadLength)?;
        let words = u16::from_be_bytes([ext[2], ext[3]]) as usize;
        start += 4 + 4 * words;
    }
    let mut end = b.len();
    if fixed[0] & 0x20 != 0 {
        let pad = *b.last().ok_or(RtpError::BadLength)? as usize;
        end = end.checked_sub(pad).ok_or(RtpError::BadLength)?;
    }
    let payload = b.get(start..end).ok_or(RtpError::BadLength)?;
    Ok(RtpPacket {
        header: RtpHeader {
            marker: fixed[1] & 0x80 != 0,
            payload_type: fixed[1] & 0x7f,
            seq: u16::from_be_bytes([fixed[2], fixed[3]]),
            timestamp: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
            ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
        },
        payload,
    })
}

/// One RFC 4733 telephone-event payload (section 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0-9, `*`=10, `#`=11, A-D=12-15.
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0 (0-63).
    pub volume: u8,
    /// Duration so far in timestamp units (8 kHz samples).
    pub duration: u16,
}

impl TelephoneEvent {
    /// The 4-byte wire form: event, E|R|volume, duration.
    pub fn encode(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            ((self.end as u8) << 7) | (self.volume & 0x3f),
            d[0],
            d[1],
        ]
    }

    /// Reads the first 4 bytes; `None` if the payload is shorter.
    pub fn decode(p: &[u8]) -> Option<Self> {
        let b: &[u8; 4] = p.get(..4)?.try_into().ok()?;
        Some(TelephoneEvent {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3f,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_round_trips() {
        let h = RtpHeader {
            marker: true,
            payload_type: 101,
            seq: 65535,
            timestamp: 0xdead_beef,
            ssrc: 7,
        };
        let mut out = Vec::new();
        write_packet(&h, &[1, 2, 3], &mut out);
        let p = parse(&out).unwrap();
        assert_eq!(p.header, h);
        assert_eq!(p.payload, &[1, 2, 3]);
    }

    #[test]
    fn padding_csrc_and_extension_are_skipped() {
        let mut b = vec![0xb1, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        b.extend_from_slice(&[9, 9, 9, 9]); // one CSRC
        b.extend_from_slice(&[0xbe, 0xde, 0, 1, 5, 5, 5, 5]); // extension of 1 word
        b.extend_from_slice(&[42, 0, 2]); // payload + 2 bytes padding
        let p = parse(&b).unwrap();
        assert_eq!(p.payload, &[42]);
    }

    #[test]
    fn hostile_datagrams_are_errors() {
        assert_eq!(parse(&[0x80; 5]), Err(RtpError::TooShort));
        assert_eq!(parse(&[0x40; 12]), Err(RtpError::BadVersion));
        let mut pad = vec![0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        pad.push(200);
        assert_eq!(parse(&pad), Err(RtpError::BadLength));
        let ext = vec![0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
        assert_eq!(parse(&ext), Err(RtpError::BadLength));
        assert_eq!(TelephoneEvent::decode(&[1, 2]), None);
    }

    #[test]
    fn telephone_event_wire_form() {
        let e = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(e.encode(), [11, 0x8a, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::decode(&e.encode()), Some(e));
    }
}
