//! Who is calling, and whether to believe it (RFC 3325). From a trunk with
//! `trust_identity`, its P-Asserted-Identity (or From when it sends none) is
//! the verified number. From anywhere else only From counts, unverified: a
//! P-Asserted-Identity there is ignored, since anyone can write one. A
//! withheld number (Privacy, anonymous From) is no number at all.

use crate::identity::PhoneNumber;
use crate::ivr::CallerIdentity;
use crate::sip::message::{self, RequestInfo};

/// The caller's number as the service believes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Caller {
    /// The number to offer for the callback; `None` when withheld or not callable.
    pub number: Option<PhoneNumber>,
    pub identity: CallerIdentity,
}

/// `trusted_source`: the INVITE came from a trunk with `trust_identity`.
pub(super) fn caller(info: &RequestInfo, invite: &rsip::Request, trusted_source: bool) -> Caller {
    let from = || PhoneNumber::from_caller_id(&info.from_uri).ok();
    let (number, identity) = match (trusted_source, asserted(invite)) {
        (true, None) => (from(), CallerIdentity::Trusted),
        (true, Some(Some(pai))) => (Some(pai), CallerIdentity::Trusted),
        // The trunk asserts something that is no phone number: From is only the caller's word.
        (true, Some(None)) | (false, _) => (from(), CallerIdentity::Untrusted),
    };
    Caller {
        number: number.filter(|_| !withheld(invite)),
        identity,
    }
}

/// `None` without a P-Asserted-Identity; else its first phone number, if any.
fn asserted(invite: &rsip::Request) -> Option<Option<PhoneNumber>> {
    let values: Vec<String> =
        message::header_values(&invite.headers, "p-asserted-identity").collect();
    if values.is_empty() {
        return None;
    }
    Some(
        values
            .iter()
            .flat_map(|v| identities(v))
            .find_map(|id| PhoneNumber::from_caller_id(message::header_uri(id)).ok()),
    )
}

/// The comma-separated identities of one header value (commas inside quotes
/// or `<>` do not separate).
fn identities(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut start) = (false, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            '"' if !angle => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(value.get(start..i).unwrap_or("").trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value.get(start..).unwrap_or("").trim());
    out
}

/// RFC 3323/3325: a withheld number must not be used as the callback number.
fn withheld(req: &rsip::Request) -> bool {
    let privacy = message::first_value(&req.headers, "privacy")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let from = message::first_value(&req.headers, "from")
        .unwrap_or_default()
        .to_ascii_lowercase();
    privacy.contains("id") || privacy.contains("user") || from.contains("anonymous")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsip::SipMessage;

    fn invite(from: &str, extra: &str) -> (RequestInfo, rsip::Request) {
        let raw = format!(
            "INVITE sip:1177@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1\r\n\
From: <sip:{from}@10.0.0.2>;tag=a\r\nTo: <sip:1177@10.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\
{extra}Content-Length: 0\r\n\r\n"
        );
        let Ok(SipMessage::Request(req)) = message::parse(raw.as_bytes()) else {
            panic!("parses");
        };
        (RequestInfo::from_request(&req).unwrap(), req)
    }

    fn number(s: &str) -> Option<PhoneNumber> {
        Some(PhoneNumber::from_caller_id(s).unwrap())
    }

    const PAI: &str = "P-Asserted-Identity: \"Anna, Svensson\" <sip:+46701234567@trunk;user=phone>, <tel:+46701234567>\r\n";

    #[test]
    fn a_trusted_trunks_asserted_identity_wins_over_from() {
        let (info, req) = invite("+46709999999", PAI);
        assert_eq!(
            caller(&info, &req, true),
            Caller {
                number: number("+46701234567"),
                identity: CallerIdentity::Trusted
            }
        );
    }

    #[test]
    fn a_trusted_trunk_without_asserted_identity_vouches_for_from() {
        let (info, req) = invite("+46709999999", "");
        assert_eq!(
            caller(&info, &req, true),
            Caller {
                number: number("+46709999999"),
                identity: CallerIdentity::Trusted
            }
        );
    }

    #[test]
    fn asserted_identity_from_an_untrusted_source_is_ignored() {
        let (info, req) = invite("+46709999999", PAI);
        assert_eq!(
            caller(&info, &req, false),
            Caller {
                number: number("+46709999999"),
                identity: CallerIdentity::Untrusted
            }
        );
    }

    #[test]
    fn an_asserted_identity_that_is_no_number_leaves_from_untrusted() {
        let (info, req) = invite(
            "+46709999999",
            "P-Asserted-Identity: <sip:operator@trunk>\r\n",
        );
        assert_eq!(
            caller(&info, &req, true).identity,
            CallerIdentity::Untrusted
        );
    }

    #[test]
    fn a_withheld_number_stays_withheld_even_when_asserted() {
        let (info, req) = invite("+46709999999", &format!("{PAI}Privacy: id\r\n"));
        assert_eq!(caller(&info, &req, true).number, None);
        let (info, req) = invite("anonymous", "");
        assert_eq!(caller(&info, &req, true).number, None);
    }
}
