//! SDP offer/answer for one audio stream: G.711 (PCMU/PCMA) plus
//! telephone-event (RFC 4733). We answer with the offerer's first G.711
//! codec (RFC 3264 section 6.1 lets the answerer keep the offerer's order).

use crate::media::g711::Codec;
use std::net::{IpAddr, SocketAddr};
use thiserror::Error;

/// Why an offer cannot be answered.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SdpError {
    #[error("SDP is not readable: {0}")]
    Malformed(&'static str),
    /// Answered 488 Not Acceptable Here.
    #[error("no audio stream with PCMU or PCMA in the offer")]
    NoCommonCodec,
}

/// Media direction attribute (RFC 3264 section 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// What we answer to an offer with this direction.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// Whether the peer wants to hear us (we may send).
    pub fn we_may_send(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// What we took from the offer's first usable audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioOffer {
    /// Where the peer wants RTP (`c=` + `m=` port). Port 0 means the stream is refused.
    pub remote: SocketAddr,
    pub codec: Codec,
    pub payload_type: u8,
    pub telephone_event_pt: Option<u8>,
    /// The offer's direction as the offerer sees it.
    pub direction: Direction,
    /// `c=` is 0.0.0.0: the RFC 2543 way to put a call on hold.
    pub hold_by_zero_address: bool,
}

impl AudioOffer {
    /// True when the peer has put us on hold (sendonly, inactive or 0.0.0.0).
    pub fn is_hold(&self) -> bool {
        self.hold_by_zero_address || !self.direction.we_may_send()
    }
}

struct Media {
    port: u16,
    proto: String,
    formats: Vec<u8>,
    rtpmaps: Vec<(u8, String, u32)>,
    connection: Option<IpAddr>,
    direction: Option<Direction>,
}

/// Reads an SDP offer (or answer) and picks PCMU/PCMA and telephone-event.
pub fn parse_audio(sdp: &[u8]) -> Result<AudioOffer, SdpError> {
    let text = std::str::from_utf8(sdp).map_err(|_| SdpError::Malformed("not UTF-8"))?;
    let mut session_conn: Option<IpAddr> = None;
    let mut session_dir: Option<Direction> = None;
    let mut media: Vec<Media> = Vec::new();
    let mut saw_version = false;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        match kind {
            "v" => saw_version = true,
            "c" => {
                let addr = parse_connection(value)?;
                match media.last_mut() {
                    Some(m) => m.connection = Some(addr),
                    None => session_conn = Some(addr),
                }
            }
            "m" => {
                let mut parts = value.split_whitespace();
                let kind = parts.next().unwrap_or("");
                let port = parts
                    .next()
                    .and_then(|p| p.split('/').next()?.parse().ok())
                    .ok_or(SdpError::Malformed("bad m= port"))?;
                let proto = parts.next().unwrap_or("").to_string();
                let formats = parts.filter_map(|f| f.parse().ok()).collect();
                if kind == "audio" {
                    media.push(Media {
                        port,
                        proto,
                        formats,
                        rtpmaps: Vec::new(),
                        connection: None,
                        direction: None,
                    });
                } else {
                    // Keep non-audio streams out of the audio list, but in order.
                    media.push(Media {
                        port: 0,
                        proto: String::new(),
                        formats: Vec::new(),
                        rtpmaps: Vec::new(),
                        connection: None,
                        direction: None,
                    });
                }
            }
            "a" => {
                let dir = match value {
                    "sendrecv" => Some(Direction::SendRecv),
                    "sendonly" => Some(Direction::SendOnly),
                    "recvonly" => Some(Direction::RecvOnly),
                    "inactive" => Some(Direction::Inactive),
                    _ => None,
                };
                if let Some(d) = dir {
                    match media.last_mut() {
                        Some(m) => m.direction = Some(d),
                        None => session_dir = Some(d),
                    }
                } else if let Some(rest) = value.strip_prefix("rtpmap:") {
                    if let (Some(m), Some(map)) = (media.last_mut(), parse_rtpmap(rest)) {
                        m.rtpmaps.push(map);
                    }
                }
            }
            _ => {}
        }
    }
    if !saw_version {
        return Err(SdpError::Malformed("no v= line"));
    }
    let m = media
        .iter()
        .find(|m| {
            m.port != 0
                && m.proto.starts_with("RTP/AVP")
                && m.formats.iter().any(|f| codec_for(m, *f).is_some())
        })
        .ok_or(SdpError::NoCommonCodec)?;
    let (payload_type, codec) = m
        .formats
        .iter()
        .find_map(|f| codec_for(m, *f).map(|c| (*f, c)))
        .ok_or(SdpError::NoCommonCodec)?;
    let telephone_event_pt = m
        .rtpmaps
        .iter()
        .find(|(_, name, rate)| name.eq_ignore_ascii_case("telephone-event") && *rate == 8000)
        .map(|(pt, _, _)| *pt)
        .filter(|pt| m.formats.contains(pt));
    let ip = m
        .connection
        .or(session_conn)
        .ok_or(SdpError::Malformed("no c= line"))?;
    Ok(AudioOffer {
        remote: SocketAddr::new(ip, m.port),
        codec,
        payload_type,
        telephone_event_pt,
        direction: m.direction.or(session_dir).unwrap_or(Direction::SendRecv),
        hold_by_zero_address: ip.is_unspecified(),
    })
}

fn codec_for(m: &Media, pt: u8) -> Option<Codec> {
    if let Some((_, name, rate)) = m.rtpmaps.iter().find(|(p, _, _)| *p == pt) {
        return match (name.to_ascii_uppercase().as_str(), *rate) {
            ("PCMU", 8000) => Some(Codec::Pcmu),
            ("PCMA", 8000) => Some(Codec::Pcma),
            _ => None,
        };
    }
    match pt {
        0 => Some(Codec::Pcmu),
        8 => Some(Codec::Pcma),
        _ => None,
    }
}

fn parse_connection(value: &str) -> Result<IpAddr, SdpError> {
    let mut parts = value.split_whitespace();
    let (_net, _type, addr) = (parts.next(), parts.next(), parts.next());
    let addr = addr.ok_or(SdpError::Malformed("bad c= line"))?;
    addr.split('/')
        .next()
        .unwrap_or(addr)
        .parse()
        .map_err(|_| SdpError::Malformed("c= address is not an IP address"))
}

fn parse_rtpmap(rest: &str) -> Option<(u8, String, u32)> {
    let (pt, enc) = rest.split_once(char::is_whitespace)?;
    let mut enc = enc.trim().split('/');
    let name = enc.next()?.to_string();
    let rate = enc.next()?.parse().ok()?;
    Some((pt.trim().parse().ok()?, name, rate))
}

/// Our side of the session description.
#[derive(Debug, Clone)]
pub struct LocalMedia {
    pub ip: IpAddr,
    pub port: u16,
    pub session_id: u64,
    pub version: u64,
}

/// Builds the answer to `offer` (same payload type numbers as the offer).
pub fn answer(local: &LocalMedia, offer: &AudioOffer) -> String {
    let mut pts = vec![offer.payload_type];
    let mut attrs = format!(
        "a=rtpmap:{} {}/8000\r\n",
        offer.payload_type,
        offer.codec.encoding_name()
    );
    if let Some(te) = offer.telephone_event_pt {
        pts.push(te);
        attrs.push_str(&format!(
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
        ));
    }
    render(local, &pts, &attrs, offer.direction.answer())
}

/// Builds our offer (for late-offer INVITEs and outbound calls): PCMU, PCMA, telephone-event 101.
pub fn offer(local: &LocalMedia) -> String {
    let attrs = "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n";
    render(local, &[0, 8, 101], attrs, Direction::SendRecv)
}

fn render(local: &LocalMedia, pts: &[u8], attrs: &str, dir: Direction) -> String {
    let family = if local.ip.is_ipv6() { "IP6" } else { "IP4" };
    let fmts = pts
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "v=0\r\no=1177 {sid} {ver} IN {family} {ip}\r\ns=1177\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
m=audio {port} RTP/AVP {fmts}\r\n{attrs}a=ptime:20\r\na={dir}\r\n",
        sid = local.session_id,
        ver = local.version,
        ip = local.ip,
        port = local.port,
        dir = dir.attr(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer_with(m: &str, attrs: &str) -> String {
        format!("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP {m}\r\n{attrs}")
    }

    #[test]
    fn answers_the_offerers_first_g711_codec() {
        let o =
            parse_audio(offer_with("8 0 101", "a=rtpmap:101 telephone-event/8000\r\n").as_bytes())
                .unwrap();
        assert_eq!(o.codec, Codec::Pcma);
        assert_eq!(o.payload_type, 8);
        assert_eq!(o.telephone_event_pt, Some(101));
        assert_eq!(o.remote, "10.0.0.1:4000".parse::<SocketAddr>().unwrap());
    }

    #[test]
    fn skips_unknown_codecs_and_uses_rtpmap_names_for_dynamic_types() {
        let o = parse_audio(
            offer_with(
                "18 96 0",
                "a=rtpmap:18 G729/8000\r\na=rtpmap:96 PCMU/8000\r\n",
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!((o.codec, o.payload_type), (Codec::Pcmu, 96));
        assert_eq!(o.telephone_event_pt, None);
    }

    #[test]
    fn offer_without_g711_is_not_acceptable() {
        let e = parse_audio(offer_with("18", "a=rtpmap:18 G729/8000\r\n").as_bytes()).unwrap_err();
        assert_eq!(e, SdpError::NoCommonCodec);
    }

    #[test]
    fn sendonly_offer_is_hold_and_answered_recvonly() {
        let o = parse_audio(offer_with("0", "a=sendonly\r\n").as_bytes()).unwrap();
        assert!(o.is_hold());
        let local = LocalMedia {
            ip: "127.0.0.1".parse().unwrap(),
            port: 20000,
            session_id: 1,
            version: 1,
        };
        assert!(answer(&local, &o).contains("a=recvonly"));
        let z = offer_with("0", "").replace("c=IN IP4 10.0.0.1", "c=IN IP4 0.0.0.0");
        assert!(parse_audio(z.as_bytes()).unwrap().is_hold());
    }

    #[test]
    fn answer_round_trips_through_the_parser() {
        let o =
            parse_audio(offer_with("0 8 101", "a=rtpmap:101 telephone-event/8000\r\n").as_bytes())
                .unwrap();
        let local = LocalMedia {
            ip: "127.0.0.1".parse().unwrap(),
            port: 20002,
            session_id: 7,
            version: 1,
        };
        let back = parse_audio(answer(&local, &o).as_bytes()).unwrap();
        assert_eq!(
            back.remote,
            "127.0.0.1:20002".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            (back.codec, back.telephone_event_pt),
            (Codec::Pcmu, Some(101))
        );
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "",
            "v=0",
            "m=audio x",
            "v=0\r\nm=audio 1 RTP/AVP 0\r\n",
            "v=0\r\nc=IN IP4 nope\r\n",
            "\u{0}=\u{1}",
        ] {
            let _ = parse_audio(s.as_bytes());
        }
    }
}
