//! SDP offer/answer for one audio stream: G.711 (PCMU/PCMA) plus
//! telephone-event (RFC 4733), and SDES keys for SRTP (RFC 4568 `a=crypto`).
//! We answer with the offerer's first G.711 codec (RFC 3264 section 6.1 lets
//! the answerer keep the offerer's order).

use crate::media::g711::Codec;
use crate::media::srtp::{MasterKey, SrtpSuite};
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
    /// The profile is RTP/SAVP (SRTP or nothing); RTP/AVP with `a=crypto`
    /// is SRTP by best effort.
    pub savp: bool,
    /// The first `a=crypto` of the stream that we can use (suite, one
    /// inline key, no MKI, no session parameters we do not implement).
    pub crypto: Option<Crypto>,
}

/// An SDES crypto attribute with one inline key (RFC 4568 section 9.1):
/// `a=crypto:<tag> <suite> inline:<base64 key||salt>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    pub tag: u32,
    pub suite: SrtpSuite,
    pub key: MasterKey,
}

/// Why an `a=crypto` line cannot be used (the offer may carry another).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    #[error("a=crypto is not readable")]
    Malformed,
    #[error("a=crypto suite is not AES_CM_128_HMAC_SHA1_80 or _32")]
    UnknownSuite,
    #[error("a=crypto uses an MKI, several keys or session parameters we do not implement")]
    Unsupported,
}

impl Crypto {
    /// Reads the value of `a=crypto:` (what follows the colon).
    pub fn parse(value: &str) -> Result<Crypto, CryptoError> {
        let mut parts = value.split_whitespace();
        let tag = parts
            .next()
            .filter(|t| (1..=9).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse().ok())
            .ok_or(CryptoError::Malformed)?;
        let suite = parts.next().ok_or(CryptoError::Malformed)?;
        let key_params = parts.next().ok_or(CryptoError::Malformed)?;
        let suite = SrtpSuite::from_name(suite).ok_or(CryptoError::UnknownSuite)?;
        // Window size hints and KDR=0 (the default) change nothing for us;
        // anything else (UNENCRYPTED_SRTP, FEC, a real KDR) we cannot honour.
        for param in parts {
            if !(param.starts_with("WSH=") || param == "KDR=0") {
                return Err(CryptoError::Unsupported);
            }
        }
        if key_params.contains(';') {
            return Err(CryptoError::Unsupported); // several keys: only with MKIs
        }
        let info = key_params
            .strip_prefix("inline:")
            .ok_or(CryptoError::Malformed)?;
        let mut fields = info.split('|');
        let key = fields.next().ok_or(CryptoError::Malformed)?;
        // An optional lifetime may follow (we never reach 2^31 packets); an MKI we cannot carry.
        if fields.clone().any(|f| f.contains(':')) || fields.count() > 1 {
            return Err(CryptoError::Unsupported);
        }
        let key = MasterKey::from_base64(key).ok_or(CryptoError::Malformed)?;
        Ok(Crypto { tag, suite, key })
    }

    /// The `a=crypto:` line (CRLF included).
    pub fn attribute(&self) -> String {
        format!(
            "a=crypto:{} {} inline:{}\r\n",
            self.tag,
            self.suite.name(),
            self.key.to_base64()
        )
    }
}

impl AudioOffer {
    /// True when the peer has put us on hold (sendonly, inactive or 0.0.0.0).
    pub fn is_hold(&self) -> bool {
        self.hold_by_zero_address || !self.direction.we_may_send()
    }
}

/// One line of an SDP body, `<type>=<value>`, as written (without its line end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a>(&'a str);

impl<'a> Line<'a> {
    /// The line as written.
    pub fn text(self) -> &'a str {
        self.0
    }

    /// The type before the first `=` and the value after it (`None`: no `=`).
    pub fn split(self) -> Option<(&'a str, &'a str)> {
        self.0.split_once('=')
    }

    /// Whether this is a `<kind>=` line.
    pub fn is(self, kind: &str) -> bool {
        self.split().is_some_and(|(k, _)| k == kind)
    }

    /// The attribute of an `a=` line.
    pub fn attribute(self) -> Option<Attribute<'a>> {
        match self.split()? {
            ("a", value) => Some(Attribute::parse(value)),
            _ => None,
        }
    }

    /// The address of a `c=` line (`None` for other lines); `c=IN IP4 a.b.c.d`
    /// with an optional `/ttl`.
    pub fn connection(self) -> Option<Result<IpAddr, SdpError>> {
        match self.split()? {
            ("c", value) => Some(parse_connection(value)),
            _ => None,
        }
    }
}

/// An attribute, `a=<name>` or `a=<name>:<value>` (RFC 8866 section 5.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    pub name: &'a str,
    pub value: Option<&'a str>,
}

impl<'a> Attribute<'a> {
    fn parse(text: &'a str) -> Attribute<'a> {
        match text.split_once(':') {
            Some((name, value)) => Attribute {
                name,
                value: Some(value),
            },
            None => Attribute {
                name: text,
                value: None,
            },
        }
    }

    /// `a=sendrecv`, `a=sendonly`, `a=recvonly` or `a=inactive`.
    pub fn direction(self) -> Option<Direction> {
        if self.value.is_some() {
            return None;
        }
        match self.name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// `a=rtpmap:<payload type> <encoding>/<clock rate>[/<channels>]`.
    pub fn rtpmap(self) -> Option<RtpMap<'a>> {
        let rest = self.value.filter(|_| self.name == "rtpmap")?;
        let (pt, encoding) = rest.split_once(char::is_whitespace)?;
        let mut encoding = encoding.trim().split('/');
        let name = encoding.next()?;
        let clock_rate = encoding.next()?.parse().ok()?;
        Some(RtpMap {
            payload_type: pt.trim().parse().ok()?,
            encoding: name,
            clock_rate,
        })
    }

    /// The payload type a per-format attribute (`rtpmap`, `fmtp`, `rtcp-fb`)
    /// is about; `None` for other attributes and for `rtcp-fb:*`.
    pub fn payload_type(self) -> Option<u8> {
        if !matches!(self.name, "rtpmap" | "fmtp" | "rtcp-fb") {
            return None;
        }
        self.value?.split(char::is_whitespace).next()?.parse().ok()
    }
}

/// What an `a=rtpmap` line maps a payload type to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpMap<'a> {
    pub payload_type: u8,
    pub encoding: &'a str,
    pub clock_rate: u32,
}

impl RtpMap<'_> {
    /// Whether this is `encoding` (any case) at `clock_rate` Hz.
    pub fn is(&self, encoding: &str, clock_rate: u32) -> bool {
        self.encoding.eq_ignore_ascii_case(encoding) && self.clock_rate == clock_rate
    }
}

/// One media section: its `m=` line and the lines up to the next `m=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media<'a> {
    line: Line<'a>,
    /// `audio`, `video`, `application`, ...
    pub kind: &'a str,
    /// `None` when the port cannot be read. Port 0 means the stream is refused.
    pub port: Option<u16>,
    /// `RTP/AVP`, `UDP/TLS/RTP/SAVPF`, ...
    pub proto: &'a str,
    /// The format list as written (payload type numbers for RTP).
    pub formats: Vec<&'a str>,
    /// The section's lines after `m=`, in order.
    pub lines: Vec<Line<'a>>,
}

impl<'a> Media<'a> {
    fn parse(line: Line<'a>, value: &'a str) -> Media<'a> {
        let mut parts = value.split_whitespace();
        Media {
            line,
            kind: parts.next().unwrap_or(""),
            port: parts.next().and_then(|p| p.split('/').next()?.parse().ok()),
            proto: parts.next().unwrap_or(""),
            formats: parts.collect(),
            lines: Vec::new(),
        }
    }

    /// The `m=` line as written.
    pub fn line(&self) -> Line<'a> {
        self.line
    }

    /// The `m=` line with `formats` instead of the section's own list.
    pub fn line_with_formats(&self, formats: &[u8]) -> String {
        let value = self.line.split().map_or("", |(_, v)| v);
        let mut out = String::from("m=");
        out.push_str(
            &value
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        );
        for pt in formats {
            out.push_str(&format!(" {pt}"));
        }
        out
    }

    /// The formats that are payload type numbers, in the offerer's order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| f.parse().ok())
    }

    /// The section's attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'a>> + '_ {
        self.lines.iter().filter_map(|l| l.attribute())
    }

    /// The value of the first `a=<name>:<value>` (e.g. `ice-ufrag`, `ice-pwd`,
    /// `fingerprint`, `setup`, `mid`).
    pub fn attribute(&self, name: &str) -> Option<&'a str> {
        self.attributes()
            .find(|a| a.name == name)
            .and_then(|a| a.value)
    }

    /// Every `a=rtpmap`, in order.
    pub fn rtpmaps(&self) -> impl Iterator<Item = RtpMap<'a>> + '_ {
        self.attributes().filter_map(Attribute::rtpmap)
    }

    /// The first `a=rtpmap` of a payload type.
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap<'a>> {
        self.rtpmaps().find(|m| m.payload_type == pt)
    }

    /// The G.711 codec a payload type stands for: by its `a=rtpmap`, or by the
    /// static numbers 0 (PCMU) and 8 (PCMA) when it has none.
    pub fn codec(&self, pt: u8) -> Option<Codec> {
        if let Some(map) = self.rtpmap(pt) {
            return [Codec::Pcmu, Codec::Pcma]
                .into_iter()
                .find(|c| map.is(c.encoding_name(), 8000));
        }
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The section's direction attribute (the last one).
    pub fn direction(&self) -> Option<Direction> {
        last_direction(&self.lines)
    }

    /// The section's `c=` address (the last readable one).
    pub fn connection(&self) -> Option<IpAddr> {
        last_connection(&self.lines)
    }
}

/// An SDP body (RFC 8866) read into its session part and media sections.
/// Reading keeps every line in order and never fails; the typed views (an
/// address, a port, an `rtpmap`) say when their part cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp<'a> {
    /// The lines before the first `m=`, in order.
    pub session: Vec<Line<'a>>,
    pub media: Vec<Media<'a>>,
}

impl<'a> Sdp<'a> {
    /// Reads SDP text (CRLF or LF line ends).
    pub fn parse(text: &'a str) -> Sdp<'a> {
        let mut sdp = Sdp {
            session: Vec::new(),
            media: Vec::new(),
        };
        for text in text.lines() {
            let line = Line(text.trim_end_matches('\r'));
            match (line.split(), sdp.media.last_mut()) {
                (Some(("m", value)), _) => sdp.media.push(Media::parse(line, value)),
                (_, Some(media)) => media.lines.push(line),
                (_, None) => sdp.session.push(line),
            }
        }
        sdp
    }

    /// Every line in order, `m=` lines included.
    pub fn lines(&self) -> impl Iterator<Item = Line<'a>> + '_ {
        self.session.iter().copied().chain(
            self.media
                .iter()
                .flat_map(|m| std::iter::once(m.line).chain(m.lines.iter().copied())),
        )
    }

    /// Whether there is a `v=` line.
    pub fn has_version(&self) -> bool {
        self.lines().any(|l| l.is("v"))
    }

    /// The session-level direction attribute (the last one).
    pub fn direction(&self) -> Option<Direction> {
        last_direction(&self.session)
    }

    /// The session-level `c=` address (the last readable one).
    pub fn connection(&self) -> Option<IpAddr> {
        last_connection(&self.session)
    }

    /// The media sections of one kind (`"audio"`), in order.
    pub fn media_of<'s>(&'s self, kind: &'s str) -> impl Iterator<Item = &'s Media<'a>> + 's {
        self.media.iter().filter(move |m| m.kind == kind)
    }
}

fn last_direction(lines: &[Line<'_>]) -> Option<Direction> {
    lines.iter().rev().find_map(|l| l.attribute()?.direction())
}

fn last_connection(lines: &[Line<'_>]) -> Option<IpAddr> {
    lines.iter().rev().find_map(|l| l.connection()?.ok())
}

/// Reads an SDP offer (or answer) and picks PCMU/PCMA and telephone-event.
pub fn parse_audio(sdp: &[u8]) -> Result<AudioOffer, SdpError> {
    let text = std::str::from_utf8(sdp).map_err(|_| SdpError::Malformed("not UTF-8"))?;
    let sdp = Sdp::parse(text);
    // The first unreadable `c=` address or `m=` port, in document order.
    let check_connections = |lines: &[Line<'_>]| {
        lines
            .iter()
            .filter_map(|l| l.connection())
            .try_for_each(|c| c.map(|_| ()))
    };
    check_connections(&sdp.session)?;
    for m in &sdp.media {
        m.port.ok_or(SdpError::Malformed("bad m= port"))?;
        check_connections(&m.lines)?;
    }
    if !sdp.has_version() {
        return Err(SdpError::Malformed("no v= line"));
    }
    let m = sdp
        .media_of("audio")
        .find(|m| {
            m.port != Some(0)
                && (m.proto.starts_with("RTP/AVP") || m.proto.starts_with("RTP/SAVP"))
                && m.payload_types().any(|pt| m.codec(pt).is_some())
        })
        .ok_or(SdpError::NoCommonCodec)?;
    let (payload_type, codec) = m
        .payload_types()
        .find_map(|pt| m.codec(pt).map(|c| (pt, c)))
        .ok_or(SdpError::NoCommonCodec)?;
    let telephone_event_pt = m
        .rtpmaps()
        .find(|map| map.is("telephone-event", 8000))
        .map(|map| map.payload_type)
        // A number mapped twice stays the codec: the answer lists each once.
        .filter(|pt| *pt != payload_type && m.payload_types().any(|f| f == *pt));
    let ip = m
        .connection()
        .or(sdp.connection())
        .ok_or(SdpError::Malformed("no c= line"))?;
    let crypto = m
        .attributes()
        .filter(|a| a.name == "crypto")
        .find_map(|a| Crypto::parse(a.value?).ok());
    Ok(AudioOffer {
        remote: SocketAddr::new(ip, m.port.unwrap_or(0)),
        codec,
        payload_type,
        telephone_event_pt,
        direction: m
            .direction()
            .or(sdp.direction())
            .unwrap_or(Direction::SendRecv),
        hold_by_zero_address: ip.is_unspecified(),
        savp: m.proto.starts_with("RTP/SAVP"),
        crypto,
    })
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
    answer_with_crypto(local, offer, None)
}

/// Builds the answer to `offer`; with `crypto` (our key, on the tag and
/// suite we chose from the offer) the media is SRTP, in the offer's profile.
pub fn answer_with_crypto(
    local: &LocalMedia,
    offer: &AudioOffer,
    crypto: Option<&Crypto>,
) -> String {
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
    if let Some(c) = crypto {
        attrs.push_str(&c.attribute());
    }
    let proto = if offer.savp { "RTP/SAVP" } else { "RTP/AVP" };
    render(local, proto, &pts, &attrs, offer.direction.answer())
}

/// Builds our offer (for late-offer INVITEs and outbound calls): PCMU, PCMA, telephone-event 101.
pub fn offer(local: &LocalMedia) -> String {
    offer_with_crypto(local, None, false)
}

/// Our offer with an SDES key: RTP/SAVP when `savp` (SRTP or nothing),
/// else RTP/AVP with `a=crypto` (SRTP if the answerer takes it).
pub fn offer_with_crypto(local: &LocalMedia, crypto: Option<&Crypto>, savp: bool) -> String {
    let mut attrs = "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n".to_string();
    if let Some(c) = crypto {
        attrs.push_str(&c.attribute());
    }
    let proto = if savp && crypto.is_some() {
        "RTP/SAVP"
    } else {
        "RTP/AVP"
    };
    render(local, proto, &[0, 8, 101], &attrs, Direction::SendRecv)
}

fn render(local: &LocalMedia, proto: &str, pts: &[u8], attrs: &str, dir: Direction) -> String {
    let family = if local.ip.is_ipv6() { "IP6" } else { "IP4" };
    let fmts = pts
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "v=0\r\no=1177 {sid} {ver} IN {family} {ip}\r\ns=1177\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
m=audio {port} {proto} {fmts}\r\n{attrs}a=ptime:20\r\na={dir}\r\n",
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
    fn payload_type_mapped_to_codec_and_events_is_the_codec() {
        // Seen while writing the fuzz target's check (fuzz/seeds/sdp/
        // regress-pt-codec-and-events): the answer listed 96 twice, once as
        // PCMU and once as telephone-event.
        let o = parse_audio(
            offer_with(
                "96",
                "a=rtpmap:96 PCMU/8000\r\na=rtpmap:96 telephone-event/8000\r\n",
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
    fn reads_webrtc_attributes_per_section_and_keeps_every_line() {
        let text = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 126\r\nc=IN IP4 0.0.0.0\r\n\
a=candidate:1 1 udp 2122260223 192.0.2.10 54321 typ host\r\na=ice-ufrag:Xy9d\r\n\
a=ice-pwd:q0YqGQ3g\r\na=fingerprint:sha-256 6B:8B\r\na=setup:actpass\r\na=mid:0\r\n\
a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10\r\na=rtcp-fb:* nack\r\n\
a=rtpmap:126 telephone-event/8000\r\n\
m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n";
        let sdp = Sdp::parse(text);
        assert!(sdp.has_version());
        assert_eq!(sdp.session.len(), 5);
        let audio: Vec<_> = sdp.media_of("audio").collect();
        assert_eq!(audio.len(), 1);
        let a = audio[0];
        assert_eq!((a.port, a.proto), (Some(9), "UDP/TLS/RTP/SAVPF"));
        assert_eq!(a.payload_types().collect::<Vec<_>>(), [111, 0, 126]);
        assert_eq!(a.attribute("ice-ufrag"), Some("Xy9d"));
        assert_eq!(a.attribute("ice-pwd"), Some("q0YqGQ3g"));
        assert_eq!(a.attribute("fingerprint"), Some("sha-256 6B:8B"));
        assert_eq!(a.attribute("setup"), Some("actpass"));
        assert_eq!(a.attribute("mid"), Some("0"));
        assert_eq!(a.attributes().filter(|x| x.name == "candidate").count(), 1);
        assert_eq!(a.codec(0), Some(Codec::Pcmu));
        assert_eq!(a.codec(111), None);
        assert!(a.rtpmap(126).is_some_and(|m| m.is("telephone-event", 8000)));
        let per_format: Vec<_> = a.attributes().map(|x| x.payload_type()).collect();
        assert!(per_format.contains(&Some(111)) && per_format.contains(&None));
        assert_eq!(a.connection(), Some(IpAddr::from([0, 0, 0, 0])));
        assert_eq!(
            a.line_with_formats(&[0, 126]),
            "m=audio 9 UDP/TLS/RTP/SAVPF 0 126"
        );
        assert_eq!(sdp.media[1].attribute("mid"), Some("1"));
        let lines: Vec<&str> = sdp.lines().map(Line::text).collect();
        assert_eq!(
            lines,
            text.lines()
                .map(|l| l.trim_end_matches('\r'))
                .collect::<Vec<_>>()
        );
    }

    const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    #[test]
    fn crypto_attributes_parse_and_format_back() {
        let c = Crypto::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}")).unwrap();
        assert_eq!((c.tag, c.suite), (1, SrtpSuite::AesCm128HmacSha1_80));
        assert_eq!(
            c.attribute(),
            format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}\r\n")
        );
        let line = c.attribute();
        let value = line.trim_end().strip_prefix("a=crypto:").unwrap();
        assert_eq!(Crypto::parse(value), Ok(c));
        // A lifetime and a window size hint change nothing.
        let c = Crypto::parse(&format!(
            "12 AES_CM_128_HMAC_SHA1_32 inline:{KEY}|2^31 WSH=64"
        ))
        .unwrap();
        assert_eq!((c.tag, c.suite), (12, SrtpSuite::AesCm128HmacSha1_32));
    }

    #[test]
    fn unusable_crypto_attributes_say_why() {
        use CryptoError::*;
        for (value, why) in [
            (
                format!("1 AES_256_CM_HMAC_SHA1_80 inline:{KEY}"),
                UnknownSuite,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|1:4"),
                Unsupported,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|1:4"),
                Unsupported,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|1:4;inline:{KEY}|2:4"),
                Unsupported,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} UNENCRYPTED_SRTP"),
                Unsupported,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} KDR=24"),
                Unsupported,
            ),
            (
                "1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=".to_string(),
                Malformed,
            ),
            (format!("x AES_CM_128_HMAC_SHA1_80 inline:{KEY}"), Malformed),
            (
                format!("1234567890 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"),
                Malformed,
            ),
            (format!("1 AES_CM_128_HMAC_SHA1_80 uri:{KEY}"), Malformed),
            ("1 AES_CM_128_HMAC_SHA1_80".to_string(), Malformed),
            (String::new(), Malformed),
        ] {
            assert_eq!(Crypto::parse(&value), Err(why), "{value}");
        }
    }

    #[test]
    fn savp_offers_carry_their_first_usable_key_and_are_answered_in_kind() {
        let text = offer_with(
            "0 101",
            &format!(
                "a=rtpmap:101 telephone-event/8000\r\n\
a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:{KEY}{KEY}\r\n\
a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{KEY}\r\n"
            ),
        )
        .replace("RTP/AVP", "RTP/SAVP");
        let o = parse_audio(text.as_bytes()).unwrap();
        assert!(o.savp);
        assert_eq!(o.crypto.as_ref().map(|c| c.tag), Some(2));
        let ours = Crypto {
            tag: 2,
            suite: SrtpSuite::AesCm128HmacSha1_80,
            key: MasterKey::random(),
        };
        let local = LocalMedia {
            ip: "127.0.0.1".parse().unwrap(),
            port: 20004,
            session_id: 1,
            version: 1,
        };
        let answer = answer_with_crypto(&local, &o, Some(&ours));
        assert!(
            answer.contains("m=audio 20004 RTP/SAVP 0 101\r\n"),
            "{answer}"
        );
        let back = parse_audio(answer.as_bytes()).unwrap();
        assert_eq!(back.crypto, Some(ours));
        // Plain offers stay plain, and an offer without keys has none.
        let plain = parse_audio(offer_with("0", "").as_bytes()).unwrap();
        assert!(!plain.savp && plain.crypto.is_none());
        assert!(answer_with_crypto(&local, &plain, None).contains(" RTP/AVP 0\r\n"));
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
            "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/SAVP 0\r\na=crypto:\r\na=crypto:1\r\n",
            "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:|||\r\n",
        ] {
            let _ = parse_audio(s.as_bytes());
            for m in &Sdp::parse(s).media {
                let _ = m.line_with_formats(&[0]);
            }
        }
    }
}
