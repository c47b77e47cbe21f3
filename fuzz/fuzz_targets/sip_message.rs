//! The SIP message reader (`sip::message`) on one datagram: parse, read the
//! typed fields the core uses, and check that what we write we read back;
//! what it refuses goes to the raw 400/501 answer (`sip::stateless`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use phone_entrance::sip::digest::DigestParams;
use phone_entrance::sip::message::{self, RequestInfo, ResponseInfo};
use phone_entrance::sip::stateless;
use rsip::SipMessage;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = message::parse(data) else {
        // Too broken for the reader: answered from the raw lines.
        let _ = stateless::unknown_method(data);
        let _ = stateless::error_from_raw(data, 400, "malformed");
        return;
    };
    match &msg {
        SipMessage::Request(req) => {
            if let Ok(info) = RequestInfo::from_request(req) {
                let _ = message::uri_user(&info.uri);
                let _ = message::uri_user(&info.to_uri);
                // A response we build to any request we accepted must read back.
                let resp = message::response_to(req, 486, Some("fz1"));
                let bytes = message::to_bytes(&SipMessage::Response(resp));
                let back = message::parse(&bytes)
                    .unwrap_or_else(|e| panic!("our response does not parse: {e}"));
                let SipMessage::Response(back) = back else {
                    panic!("our response reads back as a request");
                };
                let back = ResponseInfo::from_response(&back)
                    .unwrap_or_else(|e| panic!("our response lacks a field: {e}"));
                assert_eq!(back.call_id, info.call_id);
                assert_eq!(back.cseq, info.cseq);
                assert_eq!(back.branch, info.via.branch);
            }
            for name in ["authorization", "proxy-authorization"] {
                if let Some(v) = message::first_value(&req.headers, name) {
                    let _ = DigestParams::parse(&v);
                }
            }
        }
        SipMessage::Response(resp) => {
            let _ = ResponseInfo::from_response(resp);
            for name in ["www-authenticate", "proxy-authenticate"] {
                if let Some(v) = message::first_value(&resp.headers, name) {
                    let _ = DigestParams::parse(&v);
                }
            }
        }
    }
    // What we write, we read again.
    let bytes = message::to_bytes(&msg);
    let _ = message::parse(&bytes);
});
