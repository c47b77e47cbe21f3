//! Messages built outside any transaction: answers to requests too broken for
//! rsip, reason texts, and the ACK for a failure (RFC 3261 section 17.1.1.3).

use super::message::{expand_compact, split_head};
use bytes::Bytes;
use rsip::headers::UntypedHeader;
use rsip::Header;

/// Answers `status` to a request rsip could not read, copying the raw Via,
/// From, To, Call-ID and CSeq lines. `None` when those are missing (drop it)
/// or when the bytes are a response (never answer a response).
pub fn error_from_raw(bytes: &[u8], status: u16, reason: &str) -> Option<Bytes> {
    let (head, _) = split_head(bytes).unwrap_or((bytes, &[]));
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let first = lines.next()?.trim();
    if first.starts_with("SIP/") || !first.ends_with("SIP/2.0") || first.starts_with("ACK ") {
        return None;
    }
    let mut copied = String::new();
    let mut found = [false; 5];
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = expand_compact(name.trim());
        let wanted = ["Via", "From", "To", "Call-ID", "CSeq"];
        if let Some(i) = wanted.iter().position(|w| w.eq_ignore_ascii_case(name)) {
            found[i] = true;
            copied.push_str(&format!("{}: {}\r\n", wanted[i], value.trim()));
        }
    }
    if !found.iter().all(|f| *f) {
        return None;
    }
    let phrase = match status {
        501 => "Not Implemented",
        513 => "Message Too Large",
        _ => "Bad Request",
    };
    let reason = reason.replace(['"', '\r', '\n'], "'");
    Some(Bytes::from(format!(
        "SIP/2.0 {status} {phrase}\r\n{copied}Warning: 399 phone-entrance \"{reason}\"\r\nContent-Length: 0\r\n\r\n"
    )))
}

/// True when the request line names a method we (and rsip) do not know;
/// such requests get 501 rather than 400 (RFC 3261 section 8.2.1).
pub fn unknown_method(bytes: &[u8]) -> bool {
    let line = bytes.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let Some(token) = std::str::from_utf8(line)
        .ok()
        .and_then(|l| l.split_whitespace().next())
    else {
        return false;
    };
    !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_uppercase() || b == b'-')
        && token.parse::<rsip::Method>().is_err()
        && line.ends_with(b"SIP/2.0\r")
}

/// Adds a Warning header that says in words what was wrong.
pub fn with_reason(mut resp: rsip::Response, reason: &str) -> rsip::Response {
    let reason = reason.replace(['"', '\r', '\n'], "'");
    resp.headers
        .push(Header::Warning(rsip::headers::Warning::new(format!(
            "399 phone-entrance \"{reason}\""
        ))));
    resp
}

/// The ACK for a 3xx-6xx answer to `invite`: same Request-URI, top Via,
/// From, Call-ID and Route; To from the response; CSeq number with ACK.
pub fn ack_for_failure(invite: &rsip::Request, resp: &rsip::Response) -> rsip::Request {
    let mut headers = rsip::Headers::default();
    if let Some(via) = invite.headers.iter().find(|h| matches!(h, Header::Via(_))) {
        headers.push(via.clone());
    }
    for h in invite.headers.iter() {
        match h {
            Header::From(_) | Header::CallId(_) | Header::Route(_) | Header::MaxForwards(_) => {
                headers.push(h.clone())
            }
            Header::CSeq(c) => {
                let n = c.value().split_whitespace().next().unwrap_or("1");
                headers.push(Header::CSeq(rsip::headers::CSeq::new(format!("{n} ACK"))));
            }
            _ => {}
        }
    }
    if let Some(to) = resp.headers.iter().find(|h| matches!(h, Header::To(_))) {
        headers.push(to.clone());
    }
    rsip::Request {
        method: rsip::Method::Ack,
        uri: invite.uri.clone(),
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_request_with_dialog_headers_gets_400_with_reason() {
        let raw = b"INVITE sip:1177@x SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:1177@x>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 99\r\n\r\n";
        let out = error_from_raw(raw, 400, "body shorter than Content-Length").unwrap();
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.starts_with("SIP/2.0 400 Bad Request\r\n"));
        assert!(text.contains("Via: SIP/2.0/UDP h;branch=z9hG4bK1"));
        assert!(text.contains("body shorter"));
    }

    #[test]
    fn unknown_methods_are_recognised() {
        assert!(unknown_method(
            b"FROBNICATE sip:x SIP/2.0\r\nVia: a\r\n\r\n"
        ));
        assert!(!unknown_method(b"INVITE sip:x SIP/2.0\r\n\r\n"));
        assert!(!unknown_method(b"garbage\r\n"));
    }

    #[test]
    fn garbage_and_responses_get_no_answer() {
        assert_eq!(error_from_raw(b"\x00\x01garbage", 400, "x"), None);
        assert_eq!(
            error_from_raw(b"SIP/2.0 200 OK\r\nVia: a\r\n\r\n", 400, "x"),
            None
        );
        assert_eq!(
            error_from_raw(b"INVITE sip:x SIP/2.0\r\nVia: a\r\n\r\n", 400, "x"),
            None
        );
    }
}
