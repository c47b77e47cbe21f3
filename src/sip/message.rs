//! Reading and writing SIP messages: rsip does the grammar; this module fixes
//! what rsip 0.4 gets wrong (compact header names, folded lines, Content-Length
//! for the body) and pulls out the typed fields the core works with.

use super::error::SipError;
use rsip::headers::UntypedHeader;
use rsip::{Header, Headers, Method, SipMessage};

/// Largest message we accept on any transport (RFC 3261 suggests ~64 KiB for TCP).
pub const MAX_MESSAGE: usize = 65_535;

/// Parses one complete SIP message (a UDP datagram or a TCP frame).
pub fn parse(bytes: &[u8]) -> Result<SipMessage, SipError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(SipError::TooLarge(bytes.len()));
    }
    let normalised = normalise(bytes)?;
    let msg = SipMessage::try_from(normalised.as_slice())
        .map_err(|e| SipError::Malformed(short(&e.to_string())))?;
    check_request_line(&msg, &normalised)?;
    Ok(msg)
}

/// rsip's URI rules can run past the end of the request line (a scheme is
/// read up to the next "://" anywhere), taking headers or body for the URI
/// and headers out of the body. The request line read alone must give the
/// same request line.
fn check_request_line(msg: &SipMessage, normalised: &[u8]) -> Result<(), SipError> {
    let SipMessage::Request(req) = msg else {
        return Ok(());
    };
    let line_end = find(normalised, b"\r\n").unwrap_or(normalised.len());
    let mut alone = normalised[..line_end].to_vec();
    alone.extend_from_slice(b"\r\n\r\n");
    match SipMessage::try_from(alone.as_slice()) {
        Ok(SipMessage::Request(line))
            if line.method == req.method && line.uri == req.uri && line.version == req.version =>
        {
            Ok(())
        }
        _ => Err(SipError::Malformed("unreadable request line".into())),
    }
}

fn short(s: &str) -> String {
    s.chars().take(120).collect()
}

/// Splits head and body, unfolds continuation lines, expands compact header
/// names and cuts the body to Content-Length.
fn normalise(bytes: &[u8]) -> Result<Vec<u8>, SipError> {
    let (head, body) =
        split_head(bytes).ok_or_else(|| SipError::Malformed("no end of headers".into()))?;
    let head = std::str::from_utf8(head)
        .map_err(|_| SipError::Malformed("headers are not UTF-8".into()))?;
    let mut lines: Vec<String> = Vec::new();
    for raw in head.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.starts_with(' ') || line.starts_with('\t') {
            if lines.len() < 2 {
                return Err(SipError::Malformed(
                    "continuation line without a header".into(),
                ));
            }
            if let Some(prev) = lines.last_mut() {
                prev.push(' ');
                prev.push_str(line.trim());
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        lines.push(line.to_string());
    }
    let mut iter = lines.into_iter();
    let start = iter
        .next()
        .ok_or_else(|| SipError::Malformed("empty message".into()))?;
    let start = start.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(bytes.len() + 64);
    out.push_str(&start);
    out.push_str("\r\n");
    let mut content_length: Option<usize> = None;
    for line in iter {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| SipError::Malformed("header line without a colon".into()))?;
        let name = expand_compact(name.trim());
        let value = value.trim();
        if name.eq_ignore_ascii_case("Content-Length") {
            let n = value
                .parse::<usize>()
                .map_err(|_| SipError::BadHeader("Content-Length"))?;
            content_length = Some(n);
        }
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let body = match content_length {
        Some(n) if n > body.len() => {
            return Err(SipError::Malformed(
                "body shorter than Content-Length".into(),
            ))
        }
        Some(n) => &body[..n],
        None => body,
    };
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    Ok(out)
}

/// Returns (head, body) split at the first empty line.
pub(crate) fn split_head(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    if let Some(i) = find(bytes, b"\r\n\r\n") {
        return Some((&bytes[..i], &bytes[i + 4..]));
    }
    find(bytes, b"\n\n").map(|i| (&bytes[..i], &bytes[i + 2..]))
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// RFC 3261 section 7.3.3 compact forms (plus common extensions).
pub(crate) fn expand_compact(name: &str) -> &str {
    if name.len() != 1 {
        return name;
    }
    match name.as_bytes()[0].to_ascii_lowercase() {
        b'v' => "Via",
        b'f' => "From",
        b't' => "To",
        b'i' => "Call-ID",
        b'm' => "Contact",
        b'l' => "Content-Length",
        b'c' => "Content-Type",
        b'k' => "Supported",
        b's' => "Subject",
        b'e' => "Content-Encoding",
        b'o' => "Event",
        b'r' => "Refer-To",
        b'u' => "Allow-Events",
        _ => name,
    }
}

/// Returns the value of a `;name=value` parameter in a header value, looking
/// only after the URI's closing `>` when there is one.
pub fn header_param(value: &str, name: &str) -> Option<String> {
    let params = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value.find(';').map(|i| &value[i..]).unwrap_or(""),
    };
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        if k.trim().eq_ignore_ascii_case(name) {
            Some(v.trim().to_string())
        } else {
            None
        }
    })
}

/// Returns the URI inside `<...>`, or the value up to the first `;`.
pub fn header_uri(value: &str) -> &str {
    if let (Some(a), Some(b)) = (value.find('<'), value.rfind('>')) {
        if a < b {
            return value[a + 1..b].trim();
        }
    }
    value.split(';').next().unwrap_or("").trim()
}

/// The user part of a SIP URI (`sip:1177@host` -> `1177`), without parameters.
pub fn uri_user(uri: &str) -> Option<&str> {
    let rest = uri.split_once(':').map(|(_, r)| r).unwrap_or(uri);
    let (user, _) = rest.split_once('@')?;
    let user = user.split(';').next().unwrap_or(user);
    let user = user.split(':').next().unwrap_or(user);
    Some(user)
}

/// The top Via of a message, read into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViaInfo {
    /// `UDP`, `TCP`, ...
    pub transport: String,
    /// host[:port] the sender put in the Via.
    pub sent_by: String,
    /// The branch; RFC 3261 branches start with `z9hG4bK`.
    pub branch: String,
}

/// The fields of a request that the transaction layer and the dialogs need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    pub method: Method,
    pub uri: String,
    pub via: ViaInfo,
    pub call_id: String,
    pub from_uri: String,
    pub from_tag: Option<String>,
    pub to_uri: String,
    pub to_tag: Option<String>,
    pub cseq: u32,
    pub cseq_method: Method,
    pub contact: Option<String>,
    pub record_route: Vec<String>,
    pub content_type: Option<String>,
}

/// The fields of a response that client transactions and dialogs need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseInfo {
    pub status: u16,
    pub branch: String,
    pub call_id: String,
    pub cseq: u32,
    pub cseq_method: Method,
    pub to_tag: Option<String>,
    /// The remote target of the dialog a 2xx creates.
    pub contact: Option<String>,
    /// Record-Route in message order (a UAC uses it reversed as its route set).
    pub record_route: Vec<String>,
}

/// Every value of header `name` (case-insensitive), in message order, for
/// the headers `header_value` reads.
pub fn header_values<'a>(headers: &'a Headers, name: &'a str) -> impl Iterator<Item = String> + 'a {
    headers.iter().filter_map(move |h| header_value(h, name))
}

/// Name and value of any header, for the few we read by name.
fn header_value(h: &Header, name: &str) -> Option<String> {
    let (n, v) = match h {
        Header::Via(v) => ("via", v.value().to_string()),
        Header::From(v) => ("from", v.value().to_string()),
        Header::To(v) => ("to", v.value().to_string()),
        Header::CallId(v) => ("call-id", v.value().to_string()),
        Header::CSeq(v) => ("cseq", v.value().to_string()),
        Header::Contact(v) => ("contact", v.value().to_string()),
        Header::RecordRoute(v) => ("record-route", v.value().to_string()),
        Header::ContentType(v) => ("content-type", v.value().to_string()),
        Header::Expires(v) => ("expires", v.value().to_string()),
        Header::Authorization(v) => ("authorization", v.value().to_string()),
        Header::WwwAuthenticate(v) => ("www-authenticate", v.value().to_string()),
        Header::ProxyAuthenticate(v) => ("proxy-authenticate", v.value().to_string()),
        Header::ProxyAuthorization(v) => ("proxy-authorization", v.value().to_string()),
        Header::Other(n, v) => {
            return if n.eq_ignore_ascii_case(name) {
                Some(v.clone())
            } else {
                None
            }
        }
        _ => return None,
    };
    if n.eq_ignore_ascii_case(name) {
        Some(v)
    } else {
        None
    }
}

/// The first value of header `name` (case-insensitive), if present.
pub fn first_value(headers: &Headers, name: &str) -> Option<String> {
    header_values(headers, name).next()
}

fn parse_via(value: &str) -> Result<ViaInfo, SipError> {
    // "SIP/2.0/UDP host:port;branch=...", possibly several comma-separated.
    let first = value.split(',').next().unwrap_or("").trim();
    let (proto, rest) = first
        .split_once(char::is_whitespace)
        .ok_or(SipError::BadHeader("Via"))?;
    let transport = proto
        .rsplit('/')
        .next()
        .ok_or(SipError::BadHeader("Via"))?
        .to_ascii_uppercase();
    let sent_by = rest
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    if sent_by.is_empty() {
        return Err(SipError::BadHeader("Via"));
    }
    let branch = rest
        .split(';')
        .skip(1)
        .find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("branch")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    Ok(ViaInfo {
        transport,
        sent_by,
        branch,
    })
}

fn parse_cseq(value: &str) -> Result<(u32, Method), SipError> {
    let mut parts = value.split_whitespace();
    let n = parts
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or(SipError::BadHeader("CSeq"))?;
    let m = parts
        .next()
        .and_then(|m| m.parse::<Method>().ok())
        .ok_or(SipError::BadHeader("CSeq"))?;
    Ok((n, m))
}

impl RequestInfo {
    /// Reads the typed fields; errors name the missing header.
    pub fn from_request(req: &rsip::Request) -> Result<Self, SipError> {
        let h = &req.headers;
        let via = parse_via(&first_value(h, "via").ok_or(SipError::BadHeader("Via"))?)?;
        let from = first_value(h, "from").ok_or(SipError::BadHeader("From"))?;
        let to = first_value(h, "to").ok_or(SipError::BadHeader("To"))?;
        let call_id = first_value(h, "call-id").ok_or(SipError::BadHeader("Call-ID"))?;
        if call_id.trim().is_empty() {
            return Err(SipError::BadHeader("Call-ID"));
        }
        let (cseq, cseq_method) =
            parse_cseq(&first_value(h, "cseq").ok_or(SipError::BadHeader("CSeq"))?)?;
        let record_route = record_routes(h);
        Ok(RequestInfo {
            method: req.method,
            uri: req.uri.to_string(),
            via,
            call_id: call_id.trim().to_string(),
            from_uri: header_uri(&from).to_string(),
            from_tag: header_param(&from, "tag"),
            to_uri: header_uri(&to).to_string(),
            to_tag: header_param(&to, "tag"),
            cseq,
            cseq_method,
            contact: first_value(h, "contact").map(|c| header_uri(&c).to_string()),
            record_route,
            content_type: first_value(h, "content-type").map(|c| c.trim().to_ascii_lowercase()),
        })
    }
}

impl ResponseInfo {
    /// Reads the typed fields of a response.
    pub fn from_response(resp: &rsip::Response) -> Result<Self, SipError> {
        let h = &resp.headers;
        let via = parse_via(&first_value(h, "via").ok_or(SipError::BadHeader("Via"))?)?;
        let call_id = first_value(h, "call-id").ok_or(SipError::BadHeader("Call-ID"))?;
        let (cseq, cseq_method) =
            parse_cseq(&first_value(h, "cseq").ok_or(SipError::BadHeader("CSeq"))?)?;
        let to = first_value(h, "to").ok_or(SipError::BadHeader("To"))?;
        Ok(ResponseInfo {
            status: resp.status_code.code(),
            branch: via.branch,
            call_id: call_id.trim().to_string(),
            cseq,
            cseq_method,
            to_tag: header_param(&to, "tag"),
            contact: first_value(h, "contact").map(|c| header_uri(&c).to_string()),
            record_route: record_routes(h),
        })
    }
}

fn record_routes(h: &Headers) -> Vec<String> {
    header_values(h, "record-route")
        .flat_map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Builds a response to `req`: copies Via, From, To (adding `to_tag` when the
/// request's To has none), Call-ID and CSeq (RFC 3261 section 8.2.6.2), and
/// Record-Route in 101-299 responses (12.1.1), so in-dialog requests of a
/// caller behind a record-routing proxy (Kamailio's dispatcher) pass it.
pub fn response_to(req: &rsip::Request, status: u16, to_tag: Option<&str>) -> rsip::Response {
    let mut headers = Headers::default();
    let dialog_forming = (101..300).contains(&status);
    for h in req.headers.iter() {
        match h {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                headers.push(h.clone())
            }
            Header::RecordRoute(_) if dialog_forming => headers.push(h.clone()),
            Header::To(to) => {
                let value = to.value();
                match (to_tag, header_param(value, "tag")) {
                    (Some(tag), None) => headers.push(Header::To(rsip::headers::To::new(format!(
                        "{value};tag={tag}"
                    )))),
                    _ => headers.push(h.clone()),
                }
            }
            _ => {}
        }
    }
    rsip::Response {
        status_code: status.into(),
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}

/// Adds a header by name and value (kept as written).
pub fn add_header(headers: &mut Headers, name: &str, value: impl Into<String>) {
    let value = value.into();
    let h = match name.to_ascii_lowercase().as_str() {
        "contact" => Header::Contact(rsip::headers::Contact::new(value)),
        "content-type" => Header::ContentType(rsip::headers::ContentType::new(value)),
        "allow" => Header::Allow(rsip::headers::Allow::new(value)),
        "supported" => Header::Supported(rsip::headers::Supported::new(value)),
        "retry-after" => Header::RetryAfter(rsip::headers::RetryAfter::new(value)),
        "server" => Header::Server(rsip::headers::Server::new(value)),
        "accept" => Header::Accept(rsip::headers::Accept::new(value)),
        _ => Header::Other(name.to_string(), value),
    };
    headers.push(h);
}

/// Serialises a message with a correct Content-Length.
pub fn to_bytes(msg: &SipMessage) -> Vec<u8> {
    let (start, headers, body) = match msg {
        SipMessage::Request(r) => (
            format!("{} {} {}", r.method, r.uri, r.version),
            &r.headers,
            &r.body,
        ),
        SipMessage::Response(r) => (
            format!("{} {}", r.version, r.status_code),
            &r.headers,
            &r.body,
        ),
    };
    let mut out = String::with_capacity(512 + body.len());
    out.push_str(&start);
    out.push_str("\r\n");
    for h in headers.iter() {
        if matches!(h, Header::ContentLength(_)) {
            continue;
        }
        out.push_str(&h.to_string());
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:1177@127.0.0.1 SIP/2.0\r\n\
v: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK-abc;rport\r\n\
f: \"Anna\" <sip:+46701234567@10.0.0.1>;tag=111\r\n\
t: <sip:1177@127.0.0.1>\r\n\
i: call-1@10.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
m: <sip:anna@10.0.0.1:5062>\r\n\
Max-Forwards: 70\r\n\
c: application/sdp\r\n\
l: 4\r\n\r\nv=0\r\nGARBAGE";

    #[test]
    fn compact_headers_are_understood() {
        let SipMessage::Request(req) = parse(INVITE.as_bytes()).unwrap() else {
            panic!("not a request")
        };
        let info = RequestInfo::from_request(&req).unwrap();
        assert_eq!(info.via.branch, "z9hG4bK-abc");
        assert_eq!(info.via.transport, "UDP");
        assert_eq!(info.call_id, "call-1@10.0.0.1");
        assert_eq!(info.from_tag.as_deref(), Some("111"));
        assert_eq!(info.to_tag, None);
        assert_eq!(info.contact.as_deref(), Some("sip:anna@10.0.0.1:5062"));
        assert_eq!(info.content_type.as_deref(), Some("application/sdp"));
        assert_eq!(uri_user(&info.to_uri), Some("1177"));
    }

    #[test]
    fn body_is_cut_to_content_length() {
        let SipMessage::Request(req) = parse(INVITE.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(req.body, b"v=0\r");
    }

    #[test]
    fn body_shorter_than_content_length_is_malformed() {
        let msg = INVITE.replace("l: 4", "l: 400");
        assert!(matches!(parse(msg.as_bytes()), Err(SipError::Malformed(_))));
    }

    #[test]
    fn folded_header_lines_are_joined() {
        let msg = INVITE.replace("CSeq: 1 INVITE", "CSeq: 1\r\n  INVITE");
        let SipMessage::Request(req) = parse(msg.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(
            RequestInfo::from_request(&req).unwrap().cseq_method,
            Method::Invite
        );
    }

    #[test]
    fn response_copies_dialog_headers_and_adds_tag() {
        let SipMessage::Request(req) = parse(INVITE.as_bytes()).unwrap() else {
            panic!()
        };
        let resp = response_to(&req, 200, Some("srv1"));
        let bytes = to_bytes(&SipMessage::Response(resp));
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text}");
        assert!(text.contains("tag=srv1"));
        assert!(text.contains("branch=z9hG4bK-abc"));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
        let SipMessage::Response(back) = parse(text.as_bytes()).unwrap() else {
            panic!()
        };
        let info = ResponseInfo::from_response(&back).unwrap();
        assert_eq!(info.status, 200);
        assert_eq!(info.to_tag.as_deref(), Some("srv1"));
        assert_eq!(info.cseq_method, Method::Invite);
    }

    #[test]
    fn a_2xx_copies_record_route_and_an_error_does_not() {
        let routed = INVITE.replacen(
            "CSeq:",
            "Record-Route: <sip:10.0.0.9;lr>, <sip:10.0.0.8;lr>\r\nCSeq:",
            1,
        );
        let SipMessage::Request(req) = parse(routed.as_bytes()).unwrap() else {
            panic!()
        };
        let ok = to_bytes(&SipMessage::Response(response_to(&req, 200, Some("t"))));
        let SipMessage::Response(ok) = parse(&ok).unwrap() else {
            panic!()
        };
        let info = ResponseInfo::from_response(&ok).unwrap();
        assert_eq!(
            info.record_route,
            ["<sip:10.0.0.9;lr>", "<sip:10.0.0.8;lr>"]
        );
        let busy = to_bytes(&SipMessage::Response(response_to(&req, 486, Some("t"))));
        assert!(!String::from_utf8(busy).unwrap().contains("Record-Route"));
    }

    #[test]
    fn request_line_read_past_its_end_is_malformed() {
        // Found by fuzzing (fuzz/seeds/sip_message/regress-short-request-line):
        // rsip took "\0\r\n\r\n" as the URI and read headers out of the body,
        // so the response built to it did not parse.
        let msg = b"INVITE \0\r\n\r\n SIP/2.0\r\nVia:/\np\r\nFrom:\r\nTo:\r\nCall-ID:\0\r\nCSeq:6 INVITE\r\n\r\n";
        assert!(matches!(parse(msg), Err(SipError::Malformed(_))));
        // Found by fuzzing (regress-uri-runs-into-body): "p /" read up to the
        // "://" in the body.
        let msg = b"OPTIONS p /\r\n\r\n://. SIP/2.0\r\nTo:\r\nFrom:\r\nCSeq:2 REGISTER\r\nCall-ID:\nM\r\nVia:: 0\r\n\r\n";
        assert!(matches!(parse(msg), Err(SipError::Malformed(_))));
        let spaced = INVITE.replace(
            "INVITE sip:1177@127.0.0.1 SIP/2.0",
            "INVITE  sip:1177@127.0.0.1\t SIP/2.0",
        );
        assert!(parse(spaced.as_bytes()).is_ok());
    }

    #[test]
    fn missing_call_id_is_a_bad_header() {
        let msg = INVITE.replace("i: call-1@10.0.0.1\r\n", "");
        let SipMessage::Request(req) = parse(msg.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(
            RequestInfo::from_request(&req),
            Err(SipError::BadHeader("Call-ID"))
        );
    }

    #[test]
    fn malformed_inputs_never_panic() {
        let samples: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\r\n\r\n".to_vec(),
            b"INVITE\r\n\r\n".to_vec(),
            b"INVITE sip:x SIP/2.0\r\n  folded\r\n\r\n".to_vec(),
            b"SIP/2.0 abc OK\r\n\r\n".to_vec(),
            vec![0xff; 300],
            INVITE.as_bytes()[..60].to_vec(),
        ];
        for s in samples {
            if let Ok(SipMessage::Request(r)) = parse(&s) {
                let _ = RequestInfo::from_request(&r);
            }
        }
        // Every prefix and every single-byte corruption of a valid message.
        let bytes = INVITE.as_bytes();
        for i in 0..bytes.len() {
            if let Ok(SipMessage::Request(r)) = parse(&bytes[..i]) {
                let _ = RequestInfo::from_request(&r);
            }
            let mut m = bytes.to_vec();
            m[i] = b"\0:;<> \r\n"[i % 8];
            if let Ok(SipMessage::Request(r)) = parse(&m) {
                let _ = RequestInfo::from_request(&r);
            }
        }
    }
}
