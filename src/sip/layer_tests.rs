//! Scenario tests for the transaction layer, driven with a fake clock.

use super::layer::{SipEvent, SipLayer};
use super::message;
use super::transaction::{Peer, TimerConfig, Transport};
use rsip::SipMessage;
use std::time::{Duration, Instant};

fn peer(transport: Transport) -> Peer {
    Peer {
        addr: "10.0.0.1:5062".parse().unwrap(),
        transport,
        conn: None,
    }
}

fn invite(branch: &str) -> String {
    format!(
        "INVITE sip:1177@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5062;branch={branch}\r\n\
From: <sip:+46701234567@10.0.0.1>;tag=a1\r\nTo: <sip:1177@127.0.0.1>\r\nCall-ID: c1\r\n\
CSeq: 1 INVITE\r\nContact: <sip:a@10.0.0.1:5062>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

fn request(method: &str, branch: &str, to_tag: &str, cseq: u32) -> String {
    format!(
        "{method} sip:1177@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5062;branch={branch}\r\n\
From: <sip:+46701234567@10.0.0.1>;tag=a1\r\nTo: <sip:1177@127.0.0.1>{to_tag}\r\nCall-ID: c1\r\n\
CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

fn statuses(layer: &mut SipLayer) -> Vec<u16> {
    let mut out = Vec::new();
    while let Some(t) = layer.poll_transmit() {
        if let Ok(SipMessage::Response(r)) = message::parse(&t.bytes) {
            out.push(r.status_code.code());
        }
    }
    out
}

fn new_request_tx(layer: &mut SipLayer) -> (super::TxId, rsip::Request) {
    loop {
        match layer.poll_event() {
            Some(SipEvent::Request { tx, request, .. }) => return (tx, request),
            Some(_) => continue,
            None => panic!("no request event"),
        }
    }
}

#[test]
fn invite_gets_100_trying_at_once_and_one_request_event() {
    let mut l = SipLayer::new(TimerConfig::default(), "");
    let now = Instant::now();
    l.handle_message(now, peer(Transport::Udp), invite("z9hG4bK1").as_bytes());
    assert_eq!(statuses(&mut l), vec![100]);
    new_request_tx(&mut l);
    l.handle_message(now, peer(Transport::Udp), invite("z9hG4bK1").as_bytes());
    assert_eq!(
        statuses(&mut l),
        vec![100],
        "retransmission resends the 100"
    );
    assert!(
        l.poll_event().is_none(),
        "retransmission is not a new request"
    );
}

#[test]
fn cancel_before_answer_gets_200_then_487_then_ack() {
    let mut l = SipLayer::new(TimerConfig::default(), "");
    let now = Instant::now();
    l.handle_message(now, peer(Transport::Udp), invite("z9hG4bK2").as_bytes());
    let (tx, req) = new_request_tx(&mut l);
    statuses(&mut l);
    l.handle_message(
        now,
        peer(Transport::Udp),
        request("CANCEL", "z9hG4bK2", "", 1).as_bytes(),
    );
    assert_eq!(statuses(&mut l), vec![200]);
    let Some(SipEvent::Cancelled { invite_tx, .. }) = l.poll_event() else {
        panic!("no Cancelled")
    };
    assert_eq!(invite_tx, tx);
    l.respond(now, tx, message::response_to(&req, 487, Some("t9")))
        .unwrap();
    assert_eq!(statuses(&mut l), vec![487]);
    l.handle_message(
        now,
        peer(Transport::Udp),
        request("ACK", "z9hG4bK2", ";tag=t9", 1).as_bytes(),
    );
    assert!(
        l.poll_event().is_none(),
        "the ACK for 487 stays in the transaction"
    );
    l.handle_timeout(now + Duration::from_secs(40));
    assert_eq!(
        statuses(&mut l),
        Vec::<u16>::new(),
        "no 487 retransmit after ACK"
    );
    assert_eq!(l.transactions(), 0);
}

#[test]
fn cancel_for_unknown_invite_gets_481() {
    let mut l = SipLayer::new(TimerConfig::default(), "");
    l.handle_message(
        Instant::now(),
        peer(Transport::Udp),
        request("CANCEL", "z9hG4bKx", "", 1).as_bytes(),
    );
    assert_eq!(statuses(&mut l), vec![481]);
}

#[test]
fn lost_ack_retransmits_2xx_then_reports_ack_timeout() {
    let mut l = SipLayer::new(TimerConfig::default(), "");
    let start = Instant::now();
    l.handle_message(start, peer(Transport::Udp), invite("z9hG4bK3").as_bytes());
    let (tx, req) = new_request_tx(&mut l);
    statuses(&mut l);
    l.respond(start, tx, message::response_to(&req, 200, Some("t1")))
        .unwrap();
    assert_eq!(statuses(&mut l), vec![200]);
    let mut now = start;
    let mut resent = 0;
    while let Some(at) = l.poll_timeout() {
        now = at;
        l.handle_timeout(now);
        resent += statuses(&mut l).len();
    }
    assert_eq!(resent, 10);
    assert_eq!(now, start + Duration::from_secs(32));
    assert!(matches!(l.poll_event(), Some(SipEvent::AckTimeout { tx: t }) if t == tx));
}

#[test]
fn ack_for_2xx_with_new_branch_reaches_the_tu_and_stops_retransmits() {
    let mut l = SipLayer::new(TimerConfig::default(), "");
    let now = Instant::now();
    l.handle_message(now, peer(Transport::Udp), invite("z9hG4bK4").as_bytes());
    let (tx, req) = new_request_tx(&mut l);
    l.respond(now, tx, message::response_to(&req, 200, Some("t1")))
        .unwrap();
    statuses(&mut l);
    l.handle_message(
        now,
        peer(Transport::Udp),
        request("ACK", "z9hG4bK-new", ";tag=t1", 1).as_bytes(),
    );
    assert!(matches!(l.poll_event(), Some(SipEvent::Ack { .. })));
    l.handle_timeout(now + Duration::from_secs(10));
    assert!(statuses(&mut l).is_empty());
}

#[test]
fn request_with_missing_headers_gets_400() {
    let mut l = SipLayer::new(TimerConfig::default(), "");
    let bad = invite("z9hG4bK5").replace("Call-ID: c1\r\n", "");
    l.handle_message(Instant::now(), peer(Transport::Udp), bad.as_bytes());
    assert_eq!(statuses(&mut l), vec![400]);
    assert!(l.poll_event().is_none());
}

#[test]
fn garbage_is_dropped_without_panic() {
    let mut l = SipLayer::new(TimerConfig::default(), "");
    for junk in [
        &b"\x80\x00RTP?"[..],
        b"",
        b"SIP/2.0 200 OK\r\n\r\n",
        b"\r\n\r\n",
    ] {
        l.handle_message(Instant::now(), peer(Transport::Udp), junk);
    }
    assert!(l.poll_transmit().is_none());
    assert!(l.poll_event().is_none());
}

#[test]
fn bye_over_tcp_is_answered_once_and_forgotten() {
    let mut l = SipLayer::new(TimerConfig::default(), "");
    let now = Instant::now();
    l.handle_message(
        now,
        peer(Transport::Tcp),
        request("BYE", "z9hG4bK6", ";tag=t1", 2).as_bytes(),
    );
    let (tx, req) = new_request_tx(&mut l);
    l.respond(now, tx, message::response_to(&req, 200, None))
        .unwrap();
    assert_eq!(statuses(&mut l), vec![200]);
    assert_eq!(l.transactions(), 0);
}

#[test]
fn our_bye_is_retransmitted_over_udp_until_the_200() {
    let mut l = SipLayer::new(TimerConfig::default(), "");
    let now = Instant::now();
    let SipMessage::Request(bye) =
        message::parse(request("BYE", "z9hG4bKout", ";tag=t1", 2).as_bytes()).unwrap()
    else {
        panic!()
    };
    let tx = l.send_request(now, peer(Transport::Udp), bye).unwrap();
    assert!(l.poll_transmit().is_some());
    l.handle_timeout(now + Duration::from_millis(500));
    assert!(l.poll_transmit().is_some(), "Timer E retransmits");
    let ok = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKout\r\nFrom: <sip:a@b>;tag=a1\r\nTo: <sip:1177@x>;tag=t1\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
    l.handle_message(now, peer(Transport::Udp), ok.as_bytes());
    assert!(matches!(l.poll_event(), Some(SipEvent::Response { tx: Some(t), .. }) if t == tx));
    l.handle_timeout(now + Duration::from_secs(3));
    assert!(l.poll_transmit().is_none());
}

#[test]
fn a_gated_request_gets_the_gates_answer_or_nothing_and_leaves_no_state() {
    use super::layer::Admit;
    let mut l = SipLayer::new(TimerConfig::default(), "");
    let now = Instant::now();
    let mut ignore = |_: &Peer, _: &rsip::Request, _: &message::RequestInfo| Admit::Ignore;
    l.handle_message_gated(
        now,
        peer(Transport::Udp),
        invite("z9hG4bKg1").as_bytes(),
        &mut ignore,
    );
    assert_eq!(statuses(&mut l), Vec::<u16>::new(), "not even 100 Trying");
    assert!(l.poll_event().is_none());
    assert_eq!(l.transactions(), 0);
    let mut refuse = |_: &Peer, r: &rsip::Request, _: &message::RequestInfo| {
        Admit::Answer(message::response_to(r, 503, Some("t1")))
    };
    l.handle_message_gated(
        now,
        peer(Transport::Udp),
        invite("z9hG4bKg2").as_bytes(),
        &mut refuse,
    );
    assert_eq!(statuses(&mut l), vec![503]);
    assert!(l.poll_event().is_none());
    assert_eq!(l.transactions(), 0);
    assert_eq!(l.poll_timeout(), None, "no timers");
    // A retransmission of an accepted INVITE is not asked about again.
    l.handle_message(now, peer(Transport::Udp), invite("z9hG4bKg3").as_bytes());
    statuses(&mut l);
    l.handle_message_gated(
        now,
        peer(Transport::Udp),
        invite("z9hG4bKg3").as_bytes(),
        &mut ignore,
    );
    assert_eq!(statuses(&mut l), vec![100]);
}
