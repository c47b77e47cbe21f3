//! The UAS side of a dialog (RFC 3261 section 12): what we need to send
//! requests inside it (our BYE) and to check the CSeq of the peer's requests.

use super::message::RequestInfo;
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
            "{} {}",
            self.local_cseq, method
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
