//! SIP edge cases over a raw UDP socket: what the service answers to
//! requests a trunk or a broken peer may send.

mod common;

use common::{set_config, TestService};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

struct RawPeer {
    sock: UdpSocket,
    server: SocketAddr,
}

impl RawPeer {
    async fn new(server: SocketAddr) -> Self {
        RawPeer {
            sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            server,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    async fn send(&self, msg: &str) {
        self.sock
            .send_to(msg.as_bytes(), self.server)
            .await
            .unwrap();
    }

    /// The next response, skipping provisional ones unless `provisional`.
    async fn response(&self, provisional: bool) -> Option<String> {
        let mut buf = vec![0u8; 65536];
        loop {
            let n = tokio::time::timeout(Duration::from_secs(3), self.sock.recv(&mut buf))
                .await
                .ok()?
                .ok()?;
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            if !provisional && text.starts_with("SIP/2.0 1") {
                continue;
            }
            return Some(text);
        }
    }

    /// The next request of `method` within `within`, skipping everything else
    /// (retransmitted responses, say).
    async fn request(&self, method: &str, within: Duration) -> Option<String> {
        let end = tokio::time::Instant::now() + within;
        let mut buf = vec![0u8; 65536];
        loop {
            let n = tokio::time::timeout_at(end, self.sock.recv(&mut buf))
                .await
                .ok()?
                .ok()?;
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            if text.starts_with(&format!("{method} ")) {
                return Some(text);
            }
        }
    }

    async fn status_of(&self, msg: &str) -> u16 {
        self.send(msg).await;
        let r = self.response(false).await.expect("a response");
        status(&r)
    }
}

fn status(resp: &str) -> u16 {
    resp.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn request(
    method: &str,
    user: &str,
    me: SocketAddr,
    call_id: &str,
    to_tag: &str,
    cseq: u32,
    body: &str,
) -> String {
    let extra = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp
"
    };
    let branch = format!("z9hG4bK{}{cseq}{method}", call_id.len());
    format!(
        "{method} sip:{user}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch}\r\nMax-Forwards: 70\r\n\
From: <sip:+46701234567@127.0.0.1>;tag=raw1\r\nTo: <sip:{user}@127.0.0.1>{to_tag}\r\nCall-ID: {call_id}\r\n\
CSeq: {cseq} {method}\r\nContact: <sip:raw@{me}>\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn sdp(port: u16, direction: &str) -> String {
    format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na={direction}\r\n")
}

#[tokio::test]
async fn options_keepalive_gets_200_with_allow() {
    let svc = TestService::start().await;
    let p = RawPeer::new(svc.sip_addr()).await;
    p.send(&request("OPTIONS", "1177", p.addr(), "opt1", "", 1, ""))
        .await;
    let r = p.response(false).await.unwrap();
    assert_eq!(status(&r), 200);
    assert!(header(&r, "Allow").unwrap().contains("INVITE"));
    svc.stop().await;
}

#[tokio::test]
async fn invite_for_another_number_gets_404() {
    let svc = TestService::start().await;
    let p = RawPeer::new(svc.sip_addr()).await;
    let body = sdp(40000, "sendrecv");
    assert_eq!(
        p.status_of(&request("INVITE", "112", p.addr(), "nf1", "", 1, &body))
            .await,
        404
    );
    svc.stop().await;
}

#[tokio::test]
async fn unknown_dialogs_and_methods_get_481_501_405_and_register_is_challenged() {
    let svc = TestService::start().await;
    let p = RawPeer::new(svc.sip_addr()).await;
    let me = p.addr();
    assert_eq!(
        p.status_of(&request("BYE", "1177", me, "nodialog", ";tag=x", 2, ""))
            .await,
        481
    );
    assert_eq!(
        p.status_of(&request("INFO", "1177", me, "nodialog2", ";tag=x", 2, ""))
            .await,
        481
    );
    assert_eq!(
        p.status_of(&request("FROBNICATE", "1177", me, "u1", "", 1, ""))
            .await,
        501
    );
    assert_eq!(
        p.status_of(&request("SUBSCRIBE", "1177", me, "s1", "", 1, ""))
            .await,
        405
    );
    // Nurse phones register with digest credentials: first a challenge.
    assert_eq!(
        p.status_of(&request("REGISTER", "1177", me, "r1", "", 1, ""))
            .await,
        401
    );
    svc.stop().await;
}

#[tokio::test]
async fn malformed_messages_get_400_or_are_dropped_and_the_service_keeps_serving() {
    let svc = TestService::start().await;
    let p = RawPeer::new(svc.sip_addr()).await;
    let me = p.addr();
    // Missing Call-ID: a readable request, answered 400.
    let bad = request("OPTIONS", "1177", me, "x", "", 1, "").replace("Call-ID: x\r\n", "");
    assert_eq!(p.status_of(&bad).await, 400);
    // Body shorter than Content-Length.
    let short = request("OPTIONS", "1177", me, "cl1", "", 1, "")
        .replace("Content-Length: 0", "Content-Length: 50");
    assert_eq!(p.status_of(&short).await, 400);
    // Garbage and a bare RTP-looking packet: no answer, no crash.
    p.send("\u{80}\u{0}garbage").await;
    p.send("INVITE\r\n\r\n").await;
    assert!(p.response(false).await.is_none());
    // Malformed SDP in an INVITE is a 400, not a crash.
    assert_eq!(
        p.status_of(&request(
            "INVITE",
            "1177",
            me,
            "badsdp",
            "",
            1,
            "v=0\r\nm=audio x\r\n"
        ))
        .await,
        400
    );
    assert_eq!(
        p.status_of(&request("OPTIONS", "1177", me, "still-alive", "", 1, ""))
            .await,
        200
    );
    svc.stop().await;
}

#[tokio::test]
async fn overload_answers_503_with_retry_after() {
    let svc = TestService::start_with(None, |dir| {
        set_config(dir, "sip.toml", "max_concurrent_calls", "1")
    })
    .await;
    let p = RawPeer::new(svc.sip_addr()).await;
    let me = p.addr();
    assert_eq!(
        p.status_of(&request(
            "INVITE",
            "1177",
            me,
            "load1",
            "",
            1,
            &sdp(40002, "sendrecv")
        ))
        .await,
        200
    );
    p.send(&request(
        "INVITE",
        "1177",
        me,
        "load2",
        "",
        1,
        &sdp(40004, "sendrecv"),
    ))
    .await;
    let r = p.response(false).await.unwrap();
    assert_eq!(status(&r), 503);
    assert_eq!(header(&r, "Retry-After"), Some("10"));
    svc.stop().await;
}

/// A burst from one source: every INVITE gets an answer (200 while there is
/// room, then 503 with Retry-After), none is lost to a full socket buffer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_burst_is_answered_not_dropped() {
    const BURST: usize = 1500;
    let svc = TestService::start_with(None, |dir| {
        set_config(dir, "sip.toml", "max_concurrent_calls", "20")
    })
    .await;
    let p = RawPeer::new(svc.sip_addr()).await;
    let me = p.addr();
    for i in 0..BURST {
        p.send(&request(
            "INVITE",
            "1177",
            me,
            &format!("burst{i}"),
            "",
            1,
            &sdp(40010, "sendrecv"),
        ))
        .await;
    }
    let mut finals: std::collections::HashMap<String, u16> = std::collections::HashMap::new();
    let mut buf = vec![0u8; 65536];
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    while finals.len() < BURST {
        let Ok(Ok(n)) = tokio::time::timeout_at(end, p.sock.recv(&mut buf)).await else {
            break;
        };
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        let code = status(&text);
        if code >= 200 {
            if code == 503 {
                assert_eq!(header(&text, "Retry-After"), Some("10"), "{text}");
            }
            let call_id = header(&text, "Call-ID").unwrap_or_default().to_string();
            finals.insert(call_id, code);
        }
    }
    let answered = finals.values().filter(|c| **c == 200).count();
    let refused = finals.values().filter(|c| **c == 503).count();
    assert_eq!(
        finals.len(),
        BURST,
        "INVITEs left without an answer ({answered} answered, {refused} refused)"
    );
    assert!(answered <= 20, "{answered} answered beyond the limit");
    assert!(refused >= BURST - 20);
    svc.stop().await;
}

#[tokio::test]
async fn reinvite_hold_and_unhold_then_bye_both_answered() {
    let svc = TestService::start().await;
    let p = RawPeer::new(svc.sip_addr()).await;
    let me = p.addr();
    p.send(&request(
        "INVITE",
        "1177",
        me,
        "hold1",
        "",
        1,
        &sdp(40006, "sendrecv"),
    ))
    .await;
    let ok = p.response(false).await.unwrap();
    assert_eq!(status(&ok), 200);
    assert!(ok.contains("a=sendrecv"));
    let to = header(&ok, "To").unwrap().to_string();
    let tag = format!(";tag={}", to.split("tag=").nth(1).unwrap());
    p.send(&request("ACK", "1177", me, "hold1", &tag, 1, ""))
        .await;
    // Hold: the answer to sendonly is recvonly.
    p.send(&request(
        "INVITE",
        "1177",
        me,
        "hold1",
        &tag,
        2,
        &sdp(40006, "sendonly"),
    ))
    .await;
    let held = p.response(false).await.unwrap();
    assert_eq!(status(&held), 200);
    assert!(held.contains("a=recvonly"), "{held}");
    p.send(&request("ACK", "1177", me, "hold1", &tag, 2, ""))
        .await;
    // Session refresh without SDP keeps the session.
    p.send(&request("INVITE", "1177", me, "hold1", &tag, 3, ""))
        .await;
    let refresh = p.response(false).await.unwrap();
    assert_eq!(status(&refresh), 200);
    assert!(refresh.contains("m=audio"));
    p.send(&request("ACK", "1177", me, "hold1", &tag, 3, ""))
        .await;
    // Unhold.
    p.send(&request(
        "INVITE",
        "1177",
        me,
        "hold1",
        &tag,
        4,
        &sdp(40006, "sendrecv"),
    ))
    .await;
    let resumed = p.response(false).await.unwrap();
    assert!(resumed.contains("a=sendrecv"));
    p.send(&request("ACK", "1177", me, "hold1", &tag, 4, ""))
        .await;
    // An old CSeq is refused.
    assert_eq!(
        p.status_of(&request("INFO", "1177", me, "hold1", &tag, 1, ""))
            .await,
        500
    );
    assert_eq!(
        p.status_of(&request("BYE", "1177", me, "hold1", &tag, 5, ""))
            .await,
        200
    );
    // After BYE the dialog is gone.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        p.status_of(&request("BYE", "1177", me, "hold1", &tag, 6, ""))
            .await,
        481
    );
    svc.stop().await;
}

#[tokio::test]
async fn server_sends_bye_and_retransmits_2xx_until_ack() {
    // No RTP comes either: its timeout must not be what ends the call.
    let svc = TestService::start_with(None, |dir| {
        set_config(dir, "sip.toml", "rtp_timeout_seconds", "600")
    })
    .await;
    let p = RawPeer::new(svc.sip_addr()).await;
    let me = p.addr();
    p.send(&request(
        "INVITE",
        "1177",
        me,
        "noack",
        "",
        1,
        &sdp(40008, "sendrecv"),
    ))
    .await;
    assert_eq!(status(&p.response(false).await.unwrap()), 200);
    // No ACK: the 200 comes again after T1 (500 ms) and 2*T1.
    assert_eq!(status(&p.response(false).await.unwrap()), 200);
    assert_eq!(status(&p.response(false).await.unwrap()), 200);
    // Still no ACK after 64*T1 (32 s): the service gives up and hangs up.
    let bye = p
        .request("BYE", Duration::from_secs(40))
        .await
        .expect("a BYE after the 2xx was never acknowledged");
    assert_eq!(header(&bye, "Call-ID"), Some("noack"));
    assert!(header(&bye, "To").unwrap().contains("tag=raw1"), "{bye}");
    svc.stop().await;
}

#[tokio::test]
async fn stopping_the_service_hangs_up_live_calls_with_bye() {
    let svc = TestService::start().await;
    let call = simulators::caller::Call::dial(simulators::caller::CallConfig::new(svc.sip_addr()))
        .await
        .expect("answered");
    call.wait_for_audio(Duration::from_secs(5))
        .await
        .expect("audio");
    svc.stop().await;
    let end = tokio::time::timeout(Duration::from_secs(5), call.wait_ended())
        .await
        .expect("call ended");
    assert_eq!(end, simulators::caller::EndReason::RemoteHangup);
}

#[tokio::test]
async fn late_offer_gets_our_offer_and_media_waits_for_the_answer_in_ack() {
    let svc = TestService::start().await;
    let p = RawPeer::new(svc.sip_addr()).await;
    let me = p.addr();
    let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    p.send(&request("INVITE", "1177", me, "late1", "", 1, ""))
        .await;
    let ok = p.response(false).await.unwrap();
    assert_eq!(status(&ok), 200);
    assert!(
        ok.contains("m=audio") && ok.contains("RTP/AVP 0 8 101"),
        "{ok}"
    );
    // Before the ACK nothing may be sent, least of all to the SIP port.
    let mut buf = [0u8; 2048];
    let quiet_until = tokio::time::Instant::now() + Duration::from_millis(1200);
    while let Ok(Ok(n)) = tokio::time::timeout_at(quiet_until, p.sock.recv(&mut buf)).await {
        assert!(
            buf[..n].starts_with(b"SIP/2.0"),
            "no RTP towards the signalling address"
        );
    }
    let to = header(&ok, "To").unwrap().to_string();
    let tag = format!(";tag={}", to.split("tag=").nth(1).unwrap());
    let answer = sdp(rtp.local_addr().unwrap().port(), "sendrecv");
    p.send(&request("ACK", "1177", me, "late1", &tag, 1, &answer))
        .await;
    let n = tokio::time::timeout(Duration::from_secs(2), rtp.recv(&mut buf))
        .await
        .expect("RTP after the ACK")
        .unwrap();
    assert!(
        n >= 12 + 160 && buf[0] >> 6 == 2,
        "an RTP packet with a 20 ms PCMU frame"
    );
    svc.stop().await;
}

/// Polls OPTIONS until it answers `want` (the readiness probe runs every 2 s).
async fn options_until(p: &RawPeer, want: u16) -> String {
    let me = p.addr();
    let end = tokio::time::Instant::now() + Duration::from_secs(15);
    for n in 1u32.. {
        p.send(&request(
            "OPTIONS",
            "1177",
            me,
            &format!("ready{n}"),
            "",
            n,
            "",
        ))
        .await;
        let r = p.response(false).await.expect("OPTIONS answered");
        if status(&r) == want {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "OPTIONS never answered {want}: {r}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    unreachable!()
}

#[tokio::test]
async fn options_and_readyz_answer_503_while_the_database_refuses_writes_and_200_after() {
    let svc = TestService::start().await;
    let p = RawPeer::new(svc.sip_addr()).await;
    options_until(&p, 200).await;
    let readyz = || async {
        let r = reqwest::get(svc.http_url("/readyz")).await.expect("readyz");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    };
    assert_eq!(readyz().await.0, 200);
    // The database refuses this node's writes (the heartbeat's table is gone).
    let pool = sqlx::SqlitePool::connect(&svc.database_url)
        .await
        .expect("sqlite");
    sqlx::query("ALTER TABLE node_heartbeats RENAME TO node_heartbeats_gone")
        .execute(&pool)
        .await
        .expect("rename");
    let refused = options_until(&p, 503).await;
    assert!(header(&refused, "Retry-After").is_some(), "{refused}");
    let warning = header(&refused, "Warning").unwrap_or_default();
    assert!(warning.contains("not ready"), "{refused}");
    assert!(
        !warning.contains("sqlite"),
        "no internals to a stranger: {refused}"
    );
    let (status, body) = readyz().await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("does not take writes"), "{body}");
    // (An INVITE that reaches the node anyway gets 503 too, or goes to
    // sip.toml's fallback_uri when one is set: tests/fallback.rs.)
    sqlx::query("ALTER TABLE node_heartbeats_gone RENAME TO node_heartbeats")
        .execute(&pool)
        .await
        .expect("rename back");
    options_until(&p, 200).await;
    assert_eq!(readyz().await.0, 200);
    svc.stop().await;
}
