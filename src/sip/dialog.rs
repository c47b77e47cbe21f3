//! A dialog (RFC 3261 section 12), from either side: what we need to send
//! requests inside it (our BYE) and to check the CSeq of the peer's requests.

use super::message::{RequestInfo, ResponseInfo};
use super::transaction::Transport;
use rsip::headers::UntypedHeader;
use rsip::Header;

/// One dialog created by an INVITE we answered.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: Option<String>,
    /// Our URI (the INVITE's To) and the peer's URI (its From).
    local_uri: String,
    remote_uri: String,
    /// Where in-dialog requests go: the peer's Contact (or From without one).
    remote_target: String,
    /// Record-Route of the INVITE, used as our Route set in the same order.
    route_set: Vec<String>,
    local_cseq: u32,
    remote_cseq: u32,
}

impl Dialog {
    /// The dialog our 2xx to `invite` creates.
    pub fn from_invite(invite: &RequestInfo, local_tag: impl Into<String>) -> Self {
        Dialog {
            call_id: invite.call_id.clone(),
            local_tag: local_tag.into(),
            remote_tag: invite.from_tag.clone(),
            local_uri: invite.to_uri.clone(),
            remote_uri: invite.from_uri.clone(),
            remote_target: invite
                .contact
                .clone()
                .unwrap_or_else(|| invite.from_uri.clone()),
            route_set: invite.record_route.clone(),
            local_cseq: 1,
            remote_cseq: invite.cseq,
        }
    }

    /// The dialog a 2xx to our own INVITE creates (UAC side, section
    /// 12.1.2): the route set is the 2xx's Record-Route reversed.
    pub fn from_uac(invite: &RequestInfo, ok: &ResponseInfo) -> Self {
        Dialog {
            call_id: invite.call_id.clone(),
            local_tag: invite.from_tag.clone().unwrap_or_default(),
            remote_tag: ok.to_tag.clone(),
            local_uri: invite.from_uri.clone(),
            remote_uri: invite.to_uri.clone(),
            remote_target: ok.contact.clone().unwrap_or_else(|| invite.uri.clone()),
            route_set: ok.record_route.iter().rev().cloned().collect(),
            local_cseq: invite.cseq,
            remote_cseq: 0,
        }
    }

    /// Accepts a request from the peer if its CSeq moves forward (section
    /// 12.2.2); an old CSeq is answered 500 by the caller.
    pub fn accept_remote_cseq(&mut self, cseq: u32) -> bool {
        if cseq < self.remote_cseq {
            return false;
        }
        self.remote_cseq = cseq;
        true
    }

    /// Updates the remote target after a re-INVITE with a new Contact.
    pub fn set_remote_target(&mut self, contact: Option<&str>) {
        if let Some(c) = contact {
            self.remote_target = c.to_string();
        }
    }

    /// Builds a request inside the dialog (BYE, INFO, ...). `via_host` is our
    /// address as the peer reaches it; `branch` must be fresh.
    pub fn request(
        &mut self,
        method: rsip::Method,
        via_host: &str,
        transport: Transport,
        branch: &str,
    ) -> rsip::Request {
        self.local_cseq += 1;
        self.build(method, self.local_cseq, via_host, transport, branch)
    }

    /// The ACK for the 2xx to our INVITE: same CSeq number as the INVITE
    /// (section 13.2.2.4), a new branch.
    pub fn ack(&self, via_host: &str, transport: Transport, branch: &str) -> rsip::Request {
        self.build(
            rsip::Method::Ack,
            self.local_cseq,
            via_host,
            transport,
            branch,
        )
    }

    fn build(
        &self,
        method: rsip::Method,
        cseq: u32,
        via_host: &str,
        transport: Transport,
        branch: &str,
    ) -> rsip::Request {
        let mut headers = rsip::Headers::default();
        headers.push(Header::Via(rsip::headers::Via::new(format!(
            "SIP/2.0/{} {via_host};branch={branch};rport",
            transport.via_token()
        ))));
        for r in &self.route_set {
            headers.push(Header::Route(rsip::headers::Route::new(r.clone())));
        }
        headers.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
        headers.push(Header::From(rsip::headers::From::new(format!(
            "<{}>;tag={}",
            self.local_uri, self.local_tag
        ))));
        let to = match &self.remote_tag {
            Some(t) => format!("<{}>;tag={t}", self.remote_uri),
            None => format!("<{}>", self.remote_uri),
        };
        headers.push(Header::To(rsip::headers::To::new(to)));
        headers.push(Header::CallId(rsip::headers::CallId::new(
            self.call_id.clone(),
        )));
        headers.push(Header::CSeq(rsip::headers::CSeq::new(format!(
            "{cseq} {method}"
        ))));
        let uri = rsip::Uri::try_from(self.remote_target.as_str())
            .or_else(|_| rsip::Uri::try_from(self.remote_uri.as_str()))
            .unwrap_or_default();
        rsip::Request {
            method,
            uri,
            version: rsip::Version::V2,
            headers,
            body: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{parse, to_bytes};
    use rsip::SipMessage;

    #[test]
    fn uac_bye_goes_to_the_2xx_contact_through_the_reversed_record_route() {
        let raw = "INVITE sip:+46701234567@trunk.test SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK7\r\n\
From: \"1177\" <sip:1177@10.0.0.2>;tag=ours\r\nTo: <sip:+46701234567@trunk.test>\r\n\
Call-ID: out1\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n";
        let ok = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK7\r\n\
Record-Route: <sip:p1.test;lr>, <sip:p2.test;lr>\r\nFrom: \"1177\" <sip:1177@10.0.0.2>;tag=ours\r\n\
To: <sip:+46701234567@trunk.test>;tag=theirs\r\nCall-ID: out1\r\nCSeq: 2 INVITE\r\n\
Contact: <sip:phone@10.0.0.7:5080>\r\nContent-Length: 0\r\n\r\n";
        let (SipMessage::Request(inv), SipMessage::Response(resp)) = (
            parse(raw.as_bytes()).unwrap(),
            parse(ok.as_bytes()).unwrap(),
        ) else {
            panic!()
        };
        let mut d = Dialog::from_uac(
            &RequestInfo::from_request(&inv).unwrap(),
            &ResponseInfo::from_response(&resp).unwrap(),
        );
        let bye = d.request(
            rsip::Method::Bye,
            "10.0.0.2:5060",
            Transport::Udp,
            "z9hG4bKb",
        );
        let text = String::from_utf8(to_bytes(&SipMessage::Request(bye))).unwrap();
        assert!(
            text.starts_with("BYE sip:phone@10.0.0.7:5080 SIP/2.0"),
            "{text}"
        );
        let p2 = text.find("sip:p2.test").unwrap();
        let p1 = text.find("sip:p1.test").unwrap();
        assert!(p2 < p1, "route set is reversed: {text}");
        assert!(text.contains("tag=ours") && text.contains("tag=theirs"));
        assert!(text.contains("CSeq: 3 BYE"), "{text}");
    }

    #[test]
    fn bye_swaps_from_and_to_and_follows_the_route_set() {
        let raw = "INVITE sip:1177@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n\
Record-Route: <sip:10.0.0.9;lr>\r\nFrom: <sip:+46701234567@10.0.0.1>;tag=abc\r\nTo: <sip:1177@127.0.0.1>\r\n\
Call-ID: c9\r\nCSeq: 5 INVITE\r\nContact: <sip:phone@10.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n";
        let SipMessage::Request(inv) = parse(raw.as_bytes()).unwrap() else {
            panic!()
        };
        let info = RequestInfo::from_request(&inv).unwrap();
        let mut d = Dialog::from_invite(&info, "ours");
        let bye = d.request(
            rsip::Method::Bye,
            "127.0.0.1:5060",
            Transport::Udp,
            "z9hG4bKb1",
        );
        let SipMessage::Request(back) = parse(&to_bytes(&SipMessage::Request(bye))).unwrap() else {
            panic!()
        };
        let b = RequestInfo::from_request(&back).unwrap();
        assert_eq!(b.uri, "sip:phone@10.0.0.1:5070");
        assert_eq!(b.from_tag.as_deref(), Some("ours"));
        assert_eq!(b.to_tag.as_deref(), Some("abc"));
        assert_eq!(b.call_id, "c9");
        assert_eq!(b.cseq_method, rsip::Method::Bye);
        let text = String::from_utf8(to_bytes(&SipMessage::Request(back))).unwrap();
        assert!(text.contains("Route: <sip:10.0.0.9;lr>"), "{text}");
    }

    #[test]
    fn older_remote_cseq_is_refused() {
        let raw = "INVITE sip:1177@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:1177@x>\r\nCall-ID: c\r\nCSeq: 5 INVITE\r\nContent-Length: 0\r\n\r\n";
        let SipMessage::Request(inv) = parse(raw.as_bytes()).unwrap() else {
            panic!()
        };
        let mut d = Dialog::from_invite(&RequestInfo::from_request(&inv).unwrap(), "t");
        assert!(!d.accept_remote_cseq(4));
        assert!(d.accept_remote_cseq(6));
    }
}
