//! The caller's SDP: build an audio offer, read the server's answer.

use std::net::{IpAddr, SocketAddr};

use phone_entrance::media::g711::Codec;

/// A codec the simulated caller can offer. `G729` exists so tests can make an
/// offer the service must refuse with 488.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferedCodec {
    Pcmu,
    Pcma,
    /// Offered but never sent: only for "no common codec" tests.
    G729,
}

impl OfferedCodec {
    fn payload_type(self) -> u8 {
        match self {
            OfferedCodec::Pcmu => 0,
            OfferedCodec::Pcma => 8,
            OfferedCodec::G729 => 18,
        }
    }

    fn name(self) -> &'static str {
        match self {
            OfferedCodec::Pcmu => "PCMU",
            OfferedCodec::Pcma => "PCMA",
            OfferedCodec::G729 => "G729",
        }
    }
}

/// The payload type we offer for telephone-event.
pub const OFFER_TELEPHONE_EVENT_PT: u8 = 101;

/// What the server's answer chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpAnswer {
    /// Where to send RTP (c= address and m=audio port).
    pub rtp_addr: SocketAddr,
    /// The first G.711 codec in the answer's format list.
    pub codec: Codec,
    /// Its payload type (static 0/8 unless the answer remapped it).
    pub payload_type: u8,
    /// The telephone-event payload type, if the answer kept it.
    pub telephone_event_pt: Option<u8>,
}

/// Why an SDP answer is unusable.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SdpError {
    #[error("SDP has no usable c= line")]
    NoConnection,
    #[error("SDP has no m=audio line with a port")]
    NoAudio,
    #[error("SDP answer has no PCMU or PCMA")]
    NoCommonCodec,
    #[error("SDP is not UTF-8")]
    NotText,
}

/// Builds an offer for one audio stream at `ip:port`.
pub fn offer(
    ip: IpAddr,
    port: u16,
    codecs: &[OfferedCodec],
    telephone_event: bool,
    session_version: u64,
) -> String {
    let ip_kind = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut pts: Vec<String> = codecs
        .iter()
        .map(|c| c.payload_type().to_string())
        .collect();
    if telephone_event {
        pts.push(OFFER_TELEPHONE_EVENT_PT.to_string());
    }
    let mut s = format!(
        "v=0\r\no=pe-caller 4242 {session_version} IN {ip_kind} {ip}\r\ns=pe-caller\r\n\
c=IN {ip_kind} {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {}\r\n",
        pts.join(" ")
    );
    for c in codecs {
        s.push_str(&format!(
            "a=rtpmap:{} {}/8000\r\n",
            c.payload_type(),
            c.name()
        ));
    }
    if telephone_event {
        s.push_str(&format!(
            "a=rtpmap:{OFFER_TELEPHONE_EVENT_PT} telephone-event/8000\r\n\
a=fmtp:{OFFER_TELEPHONE_EVENT_PT} 0-16\r\n"
        ));
    }
    s.push_str("a=ptime:20\r\na=sendrecv\r\n");
    s
}

/// Reads an answer: session or media c=, the audio port, and the chosen formats.
pub fn parse_answer(body: &[u8]) -> Result<SdpAnswer, SdpError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpError::NotText)?;
    let mut conn: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    let mut formats: Vec<u8> = Vec::new();
    let mut rtpmap: Vec<(u8, String)> = Vec::new();
    let mut in_audio = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("c=") {
            // Session-level c= applies unless the audio section overrides it.
            if let Some(addr) = rest.split_whitespace().nth(2) {
                let addr = addr.split('/').next().unwrap_or(addr);
                if let Ok(ip) = addr.parse() {
                    if in_audio || conn.is_none() {
                        conn = Some(ip);
                    }
                }
            }
        } else if let Some(rest) = line.strip_prefix("m=") {
            let mut parts = rest.split_whitespace();
            in_audio = parts.next() == Some("audio") && port.is_none();
            if in_audio {
                port = parts.next().and_then(|p| p.parse().ok());
                let _proto = parts.next();
                formats = parts.filter_map(|p| p.parse().ok()).collect();
            }
        } else if let Some(rest) = line.strip_prefix("a=rtpmap:") {
            if in_audio {
                if let Some((pt, enc)) = rest.split_once(' ') {
                    if let Ok(pt) = pt.trim().parse() {
                        rtpmap.push((pt, enc.trim().to_ascii_lowercase()));
                    }
                }
            }
        }
    }
    let ip = conn.ok_or(SdpError::NoConnection)?;
    let port = port.filter(|p| *p != 0).ok_or(SdpError::NoAudio)?;
    let name_of = |pt: u8| -> Option<String> {
        rtpmap
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, n)| n.clone())
            .or(match pt {
                0 => Some("pcmu/8000".into()),
                8 => Some("pcma/8000".into()),
                _ => None,
            })
    };
    let mut chosen = None;
    let mut te = None;
    for pt in &formats {
        let Some(name) = name_of(*pt) else { continue };
        if chosen.is_none() && name.starts_with("pcmu/8000") {
            chosen = Some((Codec::Pcmu, *pt));
        } else if chosen.is_none() && name.starts_with("pcma/8000") {
            chosen = Some((Codec::Pcma, *pt));
        } else if te.is_none() && name.starts_with("telephone-event/8000") {
            te = Some(*pt);
        }
    }
    let (codec, payload_type) = chosen.ok_or(SdpError::NoCommonCodec)?;
    Ok(SdpAnswer {
        rtp_addr: SocketAddr::new(ip, port),
        codec,
        payload_type,
        telephone_event_pt: te,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_offer_parses_as_answer() {
        let o = offer(
            "127.0.0.1".parse().unwrap(),
            4000,
            &[OfferedCodec::Pcma, OfferedCodec::Pcmu],
            true,
            1,
        );
        let a = parse_answer(o.as_bytes()).unwrap();
        assert_eq!(a.rtp_addr, "127.0.0.1:4000".parse::<SocketAddr>().unwrap());
        assert_eq!(a.codec, Codec::Pcma);
        assert_eq!(a.telephone_event_pt, Some(101));
    }

    #[test]
    fn answer_with_remapped_event_pt_and_media_level_c() {
        let a = "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 1.1.1.1\r\nt=0 0\r\n\
m=audio 30000 RTP/AVP 0 96\r\nc=IN IP4 10.0.0.5\r\na=rtpmap:96 telephone-event/8000\r\n";
        let a = parse_answer(a.as_bytes()).unwrap();
        assert_eq!(a.rtp_addr, "10.0.0.5:30000".parse::<SocketAddr>().unwrap());
        assert_eq!((a.codec, a.payload_type), (Codec::Pcmu, 0));
        assert_eq!(a.telephone_event_pt, Some(96));
    }

    #[test]
    fn answer_without_g711_or_port_is_refused() {
        let g729 = "c=IN IP4 1.1.1.1\r\nm=audio 30000 RTP/AVP 18\r\n";
        assert_eq!(parse_answer(g729.as_bytes()), Err(SdpError::NoCommonCodec));
        let rejected = "c=IN IP4 1.1.1.1\r\nm=audio 0 RTP/AVP 0\r\n";
        assert_eq!(parse_answer(rejected.as_bytes()), Err(SdpError::NoAudio));
        assert_eq!(parse_answer(b"garbage"), Err(SdpError::NoConnection));
    }
}
