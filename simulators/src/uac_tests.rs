use super::*;

fn cfg(transport: Transport, from: &str) -> UacConfig {
    UacConfig {
        local: "127.0.0.1:5070".parse().unwrap(),
        server: "127.0.0.1:5060".parse().unwrap(),
        transport,
        to_user: "1177".into(),
        from_user: from.into(),
        sdp_offer: crate::sdp::offer(
            "127.0.0.1".parse().unwrap(),
            4000,
            &[crate::sdp::OfferedCodec::Pcmu],
            true,
            1,
        ),
        seed: 7,
        extra_headers: Vec::new(),
    }
}

fn drain(uac: &mut Uac) -> Vec<SipMessage> {
    std::iter::from_fn(|| uac.poll_transmit())
        .map(|b| sip::parse(&b).unwrap())
        .collect()
}

fn events(uac: &mut Uac) -> Vec<UacEvent> {
    std::iter::from_fn(|| uac.poll_event()).collect()
}

fn method(m: &SipMessage) -> Method {
    match m {
        SipMessage::Request(r) => r.method,
        SipMessage::Response(_) => panic!("not a request"),
    }
}

/// A response from a pretend UAS to `req`.
fn reply(req: &SipMessage, code: u16, tag: Option<&str>, body: &str) -> Vec<u8> {
    let mut s = format!("SIP/2.0 {code} Whatever\r\n");
    for h in req.headers().iter() {
        match h {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                s.push_str(&format!("{h}\r\n"))
            }
            Header::To(t) => match tag {
                Some(tag) => s.push_str(&format!("To: {};tag={tag}\r\n", t.value())),
                None => s.push_str(&format!("{h}\r\n")),
            },
            _ => {}
        }
    }
    s.push_str("Contact: <sip:1177@127.0.0.1:5060>\r\n");
    s.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.into_bytes()
}

/// A request from the pretend UAS inside the dialog.
fn server_request(uac: &Uac, m: &str, cseq: u32) -> Vec<u8> {
    format!(
        "{m} sip:caller@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKsrv{cseq}\r\n\
From: <sip:1177@127.0.0.1>;tag=uas1\r\nTo: <sip:x@127.0.0.1>;tag={}\r\nCall-ID: {}\r\n\
CSeq: {cseq} {m}\r\nContent-Length: 0\r\n\r\n",
        uac.from_tag, uac.call_id
    )
    .into_bytes()
}

fn answered(transport: Transport) -> (Uac, Instant) {
    let t0 = Instant::now();
    let mut uac = Uac::new(cfg(transport, "+46701234567"), t0);
    let invite = drain(&mut uac).remove(0);
    uac.handle_bytes(t0, &reply(&invite, 200, Some("uas1"), "v=0\r\n"));
    let acks = drain(&mut uac);
    assert_eq!(acks.len(), 1);
    events(&mut uac);
    (uac, t0)
}

#[test]
fn invite_carries_sdp_and_caller_id() {
    let t0 = Instant::now();
    let mut uac = Uac::new(cfg(Transport::Udp, "+46701234567"), t0);
    let invite = drain(&mut uac).remove(0);
    assert_eq!(method(&invite), Method::Invite);
    assert!(String::from_utf8_lossy(invite.body()).contains("m=audio 4000 RTP/AVP 0 101"));
    let from = sip::header_value(&invite, "From").unwrap();
    assert!(from.contains("sip:+46701234567@127.0.0.1;user=phone"));
    assert_eq!(sip::header_value(&invite, "Privacy"), None);
}

#[test]
fn withheld_caller_id_is_anonymous_with_privacy_id() {
    let t0 = Instant::now();
    let mut uac = Uac::new(cfg(Transport::Udp, "anonymous"), t0);
    let invite = drain(&mut uac).remove(0);
    let from = sip::header_value(&invite, "From").unwrap();
    assert!(from.starts_with("\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag="));
    assert_eq!(sip::header_value(&invite, "Privacy").as_deref(), Some("id"));
}

#[test]
fn timer_a_doubles_without_cap_until_timer_b() {
    let t0 = Instant::now();
    let mut uac = Uac::new(cfg(Transport::Udp, "a"), t0);
    drain(&mut uac);
    let mut sent_at = Vec::new();
    let mut now = t0;
    while let Some(t) = uac.poll_timeout() {
        now = t;
        uac.handle_timeout(now);
        if !drain(&mut uac).is_empty() {
            sent_at.push(now.duration_since(t0).as_millis());
        }
    }
    assert_eq!(sent_at, vec![500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(now.duration_since(t0), TIMEOUT);
    assert_eq!(uac.state(), &CallState::Terminated(EndReason::Timeout));
}

#[test]
fn tcp_invite_is_not_retransmitted() {
    let t0 = Instant::now();
    let mut uac = Uac::new(cfg(Transport::Tcp, "a"), t0);
    let invite = drain(&mut uac).remove(0);
    assert!(sip::header_value(&invite, "Via")
        .unwrap()
        .starts_with("SIP/2.0/TCP"));
    assert_eq!(uac.poll_timeout(), Some(t0 + TIMEOUT));
}

#[test]
fn provisional_stops_retransmission_and_is_reported() {
    let t0 = Instant::now();
    let mut uac = Uac::new(cfg(Transport::Udp, "a"), t0);
    let invite = drain(&mut uac).remove(0);
    uac.handle_bytes(t0, &reply(&invite, 100, None, ""));
    uac.handle_bytes(t0, &reply(&invite, 180, Some("uas1"), ""));
    assert_eq!(uac.state(), &CallState::Proceeding(180));
    assert_eq!(
        events(&mut uac),
        vec![UacEvent::Provisional(100), UacEvent::Provisional(180)]
    );
    uac.handle_timeout(t0 + Duration::from_secs(5));
    assert!(drain(&mut uac).is_empty());
}

#[test]
fn retransmitted_2xx_gets_a_new_ack_from_uac() {
    let t0 = Instant::now();
    let mut uac = Uac::new(cfg(Transport::Udp, "a"), t0);
    let invite = drain(&mut uac).remove(0);
    let ok = reply(&invite, 200, Some("uas1"), "v=0\r\n");
    uac.handle_bytes(t0, &ok);
    let ack = drain(&mut uac).remove(0);
    assert_eq!(method(&ack), Method::Ack);
    assert_eq!(sip::to_tag(&ack).as_deref(), Some("uas1"));
    assert_ne!(sip::via_branch(&ack), sip::via_branch(&invite));
    assert_eq!(uac.state(), &CallState::Confirmed);
    assert_eq!(
        events(&mut uac),
        vec![UacEvent::Answered {
            sdp: b"v=0\r\n".to_vec()
        }]
    );
    uac.handle_bytes(t0, &ok);
    let again = drain(&mut uac);
    assert_eq!(again.len(), 1);
    assert_eq!(method(&again[0]), Method::Ack);
    assert!(events(&mut uac).is_empty());
}

#[test]
fn rejection_is_acked_on_the_invite_branch() {
    let t0 = Instant::now();
    let mut uac = Uac::new(cfg(Transport::Udp, "a"), t0);
    let invite = drain(&mut uac).remove(0);
    uac.handle_bytes(t0, &reply(&invite, 488, Some("uas1"), ""));
    let ack = drain(&mut uac).remove(0);
    assert_eq!(method(&ack), Method::Ack);
    assert_eq!(sip::via_branch(&ack), sip::via_branch(&invite));
    assert_eq!(sip::cseq(&ack).unwrap(), (1, Method::Ack));
    assert_eq!(
        uac.state(),
        &CallState::Terminated(EndReason::Rejected(488))
    );
    assert_eq!(uac.poll_timeout(), None);
}

#[test]
fn cancel_before_answer_gets_200_then_487_then_ack() {
    let t0 = Instant::now();
    let mut uac = Uac::new(cfg(Transport::Udp, "a"), t0);
    let invite = drain(&mut uac).remove(0);
    uac.cancel(t0).unwrap();
    assert!(drain(&mut uac).is_empty(), "CANCEL waits for a provisional");
    uac.handle_bytes(t0, &reply(&invite, 180, Some("uas1"), ""));
    let cancel = drain(&mut uac).remove(0);
    assert_eq!(method(&cancel), Method::Cancel);
    assert_eq!(sip::via_branch(&cancel), sip::via_branch(&invite));
    assert_eq!(sip::cseq(&cancel).unwrap(), (1, Method::Cancel));
    assert_eq!(sip::to_tag(&cancel), None);
    uac.handle_bytes(t0, &reply(&cancel, 200, None, ""));
    uac.handle_bytes(t0, &reply(&invite, 487, Some("uas1"), ""));
    let ack = drain(&mut uac).remove(0);
    assert_eq!(method(&ack), Method::Ack);
    assert_eq!(uac.state(), &CallState::Terminated(EndReason::Cancelled));
    assert!(uac.is_finished());
}

#[test]
fn hangup_sends_bye_in_dialog_and_ends_on_200() {
    let (mut uac, t0) = answered(Transport::Udp);
    uac.hangup(t0);
    let bye = drain(&mut uac).remove(0);
    assert_eq!(method(&bye), Method::Bye);
    assert_eq!(sip::to_tag(&bye).as_deref(), Some("uas1"));
    assert_eq!(sip::cseq(&bye).unwrap(), (2, Method::Bye));
    match &bye {
        SipMessage::Request(r) => assert_eq!(r.uri.to_string(), "sip:1177@127.0.0.1:5060"),
        _ => unreachable!(),
    }
    // Timer E: retransmit at 500 ms.
    uac.handle_timeout(t0 + T1);
    assert_eq!(method(&drain(&mut uac)[0]), Method::Bye);
    uac.handle_bytes(t0, &reply(&bye, 200, None, ""));
    assert_eq!(uac.state(), &CallState::Terminated(EndReason::LocalHangup));
    assert!(uac.is_finished());
}

#[test]
fn bye_from_server_is_answered_and_ends_the_call() {
    let (mut uac, t0) = answered(Transport::Udp);
    let bye = server_request(&uac, "BYE", 5);
    uac.handle_bytes(t0, &bye);
    let resp = drain(&mut uac).remove(0);
    match &resp {
        SipMessage::Response(r) => assert_eq!(r.status_code.code(), 200),
        _ => panic!("expected a response"),
    }
    assert_eq!(uac.state(), &CallState::Terminated(EndReason::RemoteHangup));
    assert!(events(&mut uac).contains(&UacEvent::Ended(EndReason::RemoteHangup)));
    // A retransmitted BYE is answered again without a second end event.
    uac.handle_bytes(t0, &bye);
    assert_eq!(drain(&mut uac).len(), 1);
    assert!(!events(&mut uac)
        .iter()
        .any(|e| matches!(e, UacEvent::Ended(_))));
}

#[test]
fn info_requests_go_one_at_a_time() {
    let (mut uac, t0) = answered(Transport::Udp);
    uac.send_info(
        t0,
        "application/dtmf-relay",
        b"Signal=1\r\nDuration=160\r\n".to_vec(),
    )
    .unwrap();
    uac.send_info(
        t0,
        "application/dtmf-relay",
        b"Signal=2\r\nDuration=160\r\n".to_vec(),
    )
    .unwrap();
    let first = drain(&mut uac);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].body(), b"Signal=1\r\nDuration=160\r\n");
    assert_eq!(
        sip::content_type(&first[0]).as_deref(),
        Some("application/dtmf-relay")
    );
    assert!(uac.info_pending());
    uac.handle_bytes(t0, &reply(&first[0], 200, None, ""));
    let second = drain(&mut uac);
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].body(), b"Signal=2\r\nDuration=160\r\n");
    uac.handle_bytes(t0, &reply(&second[0], 200, None, ""));
    assert!(!uac.info_pending());
}

#[test]
fn options_and_reinvite_from_server_are_answered() {
    let (mut uac, t0) = answered(Transport::Udp);
    uac.handle_bytes(t0, &server_request(&uac, "OPTIONS", 6));
    uac.handle_bytes(t0, &server_request(&uac, "INVITE", 7));
    let resps = drain(&mut uac);
    assert_eq!(resps.len(), 2);
    let SipMessage::Response(r) = &resps[1] else {
        panic!()
    };
    assert_eq!(r.status_code.code(), 200);
    assert!(String::from_utf8_lossy(&r.body).contains(" 2 IN IP4"));
    assert_eq!(uac.state(), &CallState::Confirmed);
}

#[test]
fn requests_for_other_calls_get_481() {
    let (mut uac, t0) = answered(Transport::Udp);
    let bye = String::from_utf8(server_request(&uac, "BYE", 5))
        .unwrap()
        .replace(uac.call_id(), "other");
    uac.handle_bytes(t0, bye.as_bytes());
    let SipMessage::Response(r) = drain(&mut uac).remove(0) else {
        panic!()
    };
    assert_eq!(r.status_code.code(), 481);
    assert_eq!(uac.state(), &CallState::Confirmed);
}
