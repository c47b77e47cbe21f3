//! SIP message glue for the simulator: rsip parsing behind a compact-header
//! normaliser, Content-Length trimming, TCP framing and small header getters.
//! The simulator is an independent peer, so it does not reuse the service's `sip`.

use rsip::headers::UntypedHeader;
use rsip::message::{HasHeaders, HeadersExt};
use rsip::{Header, SipMessage};

/// Why a message from the peer could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SipParseError {
    /// The bytes are not a SIP message rsip understands.
    #[error("malformed SIP message: {0}")]
    Malformed(String),
    /// A header the simulator needs (Call-ID, CSeq, ...) is absent or unreadable.
    #[error("missing or bad {0} header")]
    Header(&'static str),
    /// A TCP stream announced a body larger than we accept.
    #[error("Content-Length {0} is over the 64 KiB limit")]
    TooLarge(usize),
}

/// The largest message body accepted on a stream (guards memory on hostile input).
pub const MAX_BODY: usize = 64 * 1024;

const COMPACT: [(&str, &str); 10] = [
    ("v", "Via"),
    ("f", "From"),
    ("t", "To"),
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("k", "Supported"),
    ("s", "Subject"),
    ("e", "Content-Encoding"),
];

/// Parses one complete message (a datagram or a framed TCP message): expands
/// compact header names (rsip ignores them) and trims the body to Content-Length.
pub fn parse(bytes: &[u8]) -> Result<SipMessage, SipParseError> {
    let head_end = find(bytes, b"\r\n\r\n")
        .map(|i| i + 4)
        .ok_or_else(|| SipParseError::Malformed("no end of headers".into()))?;
    let (head, body) = bytes.split_at(head_end);
    let head = std::str::from_utf8(head)
        .map_err(|_| SipParseError::Malformed("headers are not UTF-8".into()))?;
    let mut out = String::with_capacity(bytes.len() + 64);
    let mut content_length = None;
    for (n, line) in head.split("\r\n").enumerate() {
        if n > 0 && !line.is_empty() {
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim();
                let full = COMPACT
                    .iter()
                    .find(|(c, _)| c.eq_ignore_ascii_case(name))
                    .map(|(_, f)| *f)
                    .unwrap_or(name);
                if full.eq_ignore_ascii_case("Content-Length") {
                    content_length = value.trim().parse::<usize>().ok();
                }
                out.push_str(full);
                out.push_str(": ");
                out.push_str(value.trim());
                out.push_str("\r\n");
                continue;
            }
        }
        if !line.is_empty() {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    let body = match content_length {
        Some(len) => body.get(..len).unwrap_or(body),
        None => body,
    };
    let mut raw = out.into_bytes();
    raw.extend_from_slice(body);
    SipMessage::try_from(raw.as_slice()).map_err(|e| SipParseError::Malformed(e.to_string()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits a TCP byte stream into whole SIP messages by Content-Length
/// (RFC 3261 section 18.3); skips CRLF keep-alives between messages.
#[derive(Debug, Default)]
pub struct TcpFramer {
    buf: Vec<u8>,
}

impl TcpFramer {
    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, `Ok(None)` if more bytes are needed.
    /// An error means the stream is unusable and should be closed.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, SipParseError> {
        let skip = self
            .buf
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        self.buf.drain(..skip);
        let Some(head_end) = find(&self.buf, b"\r\n\r\n").map(|i| i + 4) else {
            if self.buf.len() > MAX_BODY {
                return Err(SipParseError::TooLarge(self.buf.len()));
            }
            return Ok(None);
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]);
        let mut len = 0usize;
        for line in head.split("\r\n") {
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim();
                if name.eq_ignore_ascii_case("Content-Length") || name.eq_ignore_ascii_case("l") {
                    len = value
                        .trim()
                        .parse()
                        .map_err(|_| SipParseError::Header("Content-Length"))?;
                }
            }
        }
        if len > MAX_BODY {
            return Err(SipParseError::TooLarge(len));
        }
        if self.buf.len() < head_end + len {
            return Ok(None);
        }
        let msg: Vec<u8> = self.buf.drain(..head_end + len).collect();
        Ok(Some(msg))
    }
}

/// The Call-ID of a message.
pub fn call_id(msg: &SipMessage) -> Result<String, SipParseError> {
    msg.call_id_header()
        .map(|h| h.value().to_string())
        .map_err(|_| SipParseError::Header("Call-ID"))
}

/// CSeq number and method.
pub fn cseq(msg: &SipMessage) -> Result<(u32, rsip::Method), SipParseError> {
    let h = msg
        .cseq_header()
        .map_err(|_| SipParseError::Header("CSeq"))?;
    let seq = h.seq().map_err(|_| SipParseError::Header("CSeq"))?;
    let method = h.method().map_err(|_| SipParseError::Header("CSeq"))?;
    Ok((seq, method))
}

/// The tag parameter of the To header, if any.
pub fn to_tag(msg: &SipMessage) -> Option<String> {
    msg.to_header()
        .ok()
        .and_then(|h| h.tag().ok().flatten())
        .map(|t| t.value().to_string())
}

/// The branch parameter of the top Via.
pub fn via_branch(msg: &SipMessage) -> Option<String> {
    let via = msg.via_header().ok()?;
    let value = via.value();
    value.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("branch")
            .then(|| v.trim().to_string())
    })
}

/// The URI inside the first Contact header, as text.
pub fn contact_uri(msg: &SipMessage) -> Option<String> {
    msg.headers().iter().find_map(|h| match h {
        Header::Contact(c) => Some(angle_uri(c.value())),
        _ => None,
    })
}

/// All Record-Route values in message order, one entry per URI.
pub fn record_routes(msg: &SipMessage) -> Vec<String> {
    msg.headers()
        .iter()
        .filter_map(|h| match h {
            Header::RecordRoute(r) => Some(r.value().to_string()),
            _ => None,
        })
        .flat_map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// The Content-Type value (lower-cased, without parameters).
pub fn content_type(msg: &SipMessage) -> Option<String> {
    msg.headers().iter().find_map(|h| match h {
        Header::ContentType(c) => c
            .value()
            .split(';')
            .next()
            .map(|s| s.trim().to_ascii_lowercase()),
        _ => None,
    })
}

/// The value of an arbitrary header by name (case-insensitive), first occurrence.
pub fn header_value(msg: &SipMessage, name: &str) -> Option<String> {
    msg.headers().iter().find_map(|h| {
        let text = h.to_string();
        let (n, v) = text.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

fn angle_uri(value: &str) -> String {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => value.get(a + 1..b).unwrap_or(value).to_string(),
        _ => value.split(';').next().unwrap_or(value).trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESP: &str = "SIP/2.0 200 OK\r\n\
v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc\r\n\
f: <sip:a@x>;tag=1\r\n\
t: <sip:1177@y>;tag=srv9\r\n\
i: call-1\r\n\
CSeq: 1 INVITE\r\n\
m: <sip:1177@10.0.0.2:5080>\r\n\
Record-Route: <sip:p1;lr>, <sip:p2;lr>\r\n\
c: application/sdp\r\n\
l: 4\r\n\r\nbodyEXTRA";

    #[test]
    fn compact_headers_are_understood() {
        let msg = parse(RESP.as_bytes()).unwrap();
        assert_eq!(call_id(&msg).unwrap(), "call-1");
        assert_eq!(cseq(&msg).unwrap(), (1, rsip::Method::Invite));
        assert_eq!(to_tag(&msg).as_deref(), Some("srv9"));
        assert_eq!(via_branch(&msg).as_deref(), Some("z9hG4bKabc"));
        assert_eq!(contact_uri(&msg).as_deref(), Some("sip:1177@10.0.0.2:5080"));
        assert_eq!(content_type(&msg).as_deref(), Some("application/sdp"));
        assert_eq!(record_routes(&msg).len(), 2);
    }

    #[test]
    fn body_is_trimmed_to_content_length() {
        let msg = parse(RESP.as_bytes()).unwrap();
        assert_eq!(msg.body(), b"body");
    }

    #[test]
    fn tcp_framer_splits_back_to_back_messages_and_waits_for_body() {
        let mut f = TcpFramer::default();
        let two = format!("\r\n\r\n{RESP}{}", RESP.replace("EXTRA", ""));
        let bytes = two.as_bytes();
        f.push(&bytes[..30]);
        assert_eq!(f.next_message().unwrap(), None);
        f.push(&bytes[30..]);
        let first = f.next_message().unwrap().unwrap();
        assert!(first.ends_with(b"body"));
        // "EXTRA" now prefixes the second message and makes it unparseable; the
        // framer still advances by Content-Length, which is what matters here.
        assert!(f.next_message().unwrap().is_some());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for input in [
            &b""[..],
            b"\r\n\r\n",
            b"SIP/2.0 abc\r\n\r\n",
            &[0xff, 0xfe, 13, 10, 13, 10],
        ] {
            assert!(parse(input).is_err());
        }
        let mut f = TcpFramer::default();
        f.push(b"INVITE x SIP/2.0\r\nContent-Length: zz\r\n\r\n");
        assert!(f.next_message().is_err());
        let mut f = TcpFramer::default();
        f.push(b"INVITE x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n");
        assert_eq!(f.next_message(), Err(SipParseError::TooLarge(99999999)));
    }
}
