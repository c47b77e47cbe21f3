//! `trunks.toml` over real sockets: INVITEs from unlisted sources are
//! refused (403) or ignored; a flooding source gets 503 + Retry-After (a
//! capped number of times per ban), never silence before that, while other
//! sources still get through; bans end; TCP connections are capped per
//! source and closed when idle; and only a trusted trunk's identity finds
//! (and may cancel) a booked callback. 127.0.0.2 and 127.0.0.3 are "other
//! hosts"; the shipped lab trunk is 127.0.0.1.

mod common;

use common::audio::find_prompt;
use common::caller::{after_greeting, answer_until_offer, decline_sms, press, wait_for_prompt};
use common::raw_sip::{
    closed_within, header, request, sdp, status, tcp_exchange, tcp_from, RawPeer,
};
use common::{set_config, TestService};
use phone_entrance::media::g711::Codec;
use phone_entrance::store::{CaseRecord, CaseStatus, Store};
use simulators::caller::{Call, CallConfig, DtmfMethod, Transport};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

const M: DtmfMethod = DtmfMethod::Rfc4733;
/// The number with a booked callback.
const CALLER: &str = "+46701234567";
/// Another number (a forged or different From).
const OTHER: &str = "+46709999999";

fn trunks(dir: &Path, key: &str, value: &str) {
    set_config(dir, "trunks.toml", key, value);
}

async fn metric(svc: &TestService, line_start: &str) -> f64 {
    let text = reqwest::get(svc.http_url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{line_start} not on /metrics:\n{text}"))
}

fn rejected(reason: &str) -> String {
    format!("pe_sip_source_rejected_total{{reason=\"{reason}\"}}")
}

#[tokio::test]
async fn an_invite_from_an_unlisted_source_is_forbidden_but_options_are_answered() {
    let svc = TestService::start().await; // shipped: unknown_sources = "reject"
    let p = RawPeer::on("127.0.0.2", svc.sip_addr()).await;
    let me = p.addr();
    p.send(&request(
        "INVITE",
        me,
        "UDP",
        "acl1",
        CALLER,
        &sdp(me.ip(), 40100),
    ))
    .await;
    let r = p.next(Duration::from_secs(3)).await.expect("an answer");
    assert_eq!(status(&r), 403, "no 100 Trying first: {r}");
    p.send(&request("OPTIONS", me, "UDP", "acl2", CALLER, ""))
        .await;
    assert_eq!(status(&p.final_response().await.expect("answer")), 200);
    assert_eq!(metric(&svc, &rejected("acl")).await, 1.0);
    svc.stop().await;
}

#[tokio::test]
async fn drop_answers_an_unlisted_sources_invite_with_nothing_at_all() {
    let svc = TestService::start_with(None, |d| trunks(d, "unknown_sources", "\"drop\"")).await;
    let p = RawPeer::on("127.0.0.2", svc.sip_addr()).await;
    let me = p.addr();
    p.send(&request(
        "INVITE",
        me,
        "UDP",
        "drop1",
        CALLER,
        &sdp(me.ip(), 40102),
    ))
    .await;
    assert_eq!(
        p.next(Duration::from_secs(2)).await,
        None,
        "not even 100 Trying"
    );
    // The service is there: the same source's OPTIONS is answered.
    p.send(&request("OPTIONS", me, "UDP", "drop2", CALLER, ""))
        .await;
    assert_eq!(status(&p.final_response().await.expect("answer")), 200);
    // The trunk still calls.
    Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("the trunk's call is answered");
    assert_eq!(metric(&svc, &rejected("acl")).await, 1.0);
    svc.stop().await;
}

/// Sends `n` INVITEs from `p` and collects the final answer of each Call-ID.
async fn invite_burst(p: &RawPeer, tag: &str, n: usize) -> HashMap<String, String> {
    let me = p.addr();
    for i in 0..n {
        p.send(&request(
            "INVITE",
            me,
            "UDP",
            &format!("{tag}{i}"),
            CALLER,
            &sdp(me.ip(), 40110),
        ))
        .await;
    }
    let mut finals = HashMap::new();
    while finals.len() < n {
        let Some(r) = p.next(Duration::from_secs(5)).await else {
            break;
        };
        if status(&r) >= 200 {
            let id = header(&r, "Call-ID").unwrap_or_default().to_string();
            finals.entry(id).or_insert(r);
        }
    }
    finals
}

#[tokio::test]
async fn a_flooding_source_gets_503_with_retry_after_never_silence_and_others_get_through() {
    const BURST: usize = 3;
    // The burst, then the answered refusals of one ban (ANSWERS_PER_BAN).
    const SENT: usize = BURST + 32;
    let svc = TestService::start_with(None, |d| {
        trunks(d, "unknown_sources", "\"allow\"");
        trunks(d, "invite_burst", &BURST.to_string());
        trunks(d, "invite_per_second", "0.01");
        set_config(d, "sip.toml", "max_concurrent_calls", "10");
    })
    .await;
    let p = RawPeer::on("127.0.0.2", svc.sip_addr()).await;
    let finals = invite_burst(&p, "flood", SENT).await;
    assert_eq!(finals.len(), SENT, "INVITEs left without an answer");
    let mut calls = 0;
    for r in finals.values() {
        match status(r) {
            200 => calls += 1,
            503 => {
                let retry: u64 = header(r, "Retry-After")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("503 without Retry-After: {r}"));
                assert!((1..=60).contains(&retry), "{r}");
            }
            other => panic!("unexpected {other}: {r}"),
        }
    }
    assert_eq!(calls, BURST, "the burst is served, the rest refused");
    // Past the answered refusals the source is ignored (no reflector).
    let me = p.addr();
    p.send(&request(
        "INVITE",
        me,
        "UDP",
        "flood-x",
        CALLER,
        &sdp(me.ip(), 40110),
    ))
    .await;
    let end = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Some(r) = p.next(end - tokio::time::Instant::now()).await {
        // 200 retransmissions of the served calls may still come.
        assert_ne!(
            header(&r, "Call-ID"),
            Some("flood-x"),
            "a banned source past its answers gets nothing: {r}"
        );
    }
    // Another source and the trunk still get through.
    let other = Call::dial(CallConfig {
        local_ip: "127.0.0.3".parse().expect("ip"),
        ..CallConfig::new(svc.sip_addr())
    })
    .await
    .expect("another source's call is answered");
    let trunk = Call::dial(CallConfig::new(svc.sip_addr()))
        .await
        .expect("the trunk's call is answered");
    tokio::time::sleep(Duration::from_millis(1200)).await; // the gauge's tick
    assert_eq!(metric(&svc, "pe_sip_source_bans_total").await, 1.0);
    assert_eq!(metric(&svc, &rejected("rate")).await, 1.0);
    assert_eq!(metric(&svc, &rejected("banned")).await, 32.0);
    assert_eq!(metric(&svc, "pe_sip_banned_sources").await, 1.0);
    drop((other, trunk));
    svc.stop().await;
}

#[tokio::test]
async fn a_ban_ends_after_ban_seconds() {
    let svc = TestService::start_with(None, |d| {
        trunks(d, "options_burst", "2");
        trunks(d, "options_per_second", "0.01");
        trunks(d, "ban_seconds", "2");
    })
    .await;
    let p = RawPeer::on("127.0.0.2", svc.sip_addr()).await;
    let me = p.addr();
    let mut codes = Vec::new();
    for i in 0..4 {
        p.send(&request(
            "OPTIONS",
            me,
            "UDP",
            &format!("ban{i}"),
            CALLER,
            "",
        ))
        .await;
        let r = p.final_response().await.expect("answered");
        if status(&r) == 503 {
            let retry = header(&r, "Retry-After").expect("Retry-After");
            assert!(retry == "2" || retry == "1", "{r}");
        }
        codes.push(status(&r));
    }
    assert_eq!(codes, [200, 200, 503, 503]);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    p.send(&request("OPTIONS", me, "UDP", "ban-after", CALLER, ""))
        .await;
    let r = p.final_response().await.expect("answered");
    assert_eq!(status(&r), 200, "the ban is over: {r}");
    svc.stop().await;
}

#[tokio::test]
async fn tcp_connections_beyond_the_cap_per_source_are_closed() {
    let svc = TestService::start_with(None, |d| {
        trunks(d, "tcp_connections_per_source", "2");
    })
    .await;
    let server = svc.sip_addr();
    let mut open = Vec::new();
    for i in 0..2 {
        let mut s = tcp_from("127.0.0.2", server).await;
        let me = s.local_addr().expect("addr");
        let r = tcp_exchange(
            &mut s,
            &request("OPTIONS", me, "TCP", &format!("cap{i}"), CALLER, ""),
        )
        .await
        .expect("answered");
        assert_eq!(status(&r), 200);
        open.push(s);
    }
    let mut third = tcp_from("127.0.0.2", server).await;
    assert!(
        closed_within(&mut third, Duration::from_secs(3)).await,
        "the third connection from one source is closed"
    );
    // The trunk is not capped; another source has its own count.
    for ip in ["127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.3"] {
        let mut s = tcp_from(ip, server).await;
        let me = s.local_addr().expect("addr");
        let r = tcp_exchange(&mut s, &request("OPTIONS", me, "TCP", "cap-ok", CALLER, ""))
            .await
            .expect("answered");
        assert_eq!(status(&r), 200);
        open.push(s);
    }
    // The first two still work.
    let me = open[0].local_addr().expect("addr");
    let r = tcp_exchange(
        &mut open[0],
        &request("OPTIONS", me, "TCP", "cap-again", CALLER, ""),
    )
    .await
    .expect("still open");
    assert_eq!(status(&r), 200);
    assert_eq!(metric(&svc, &rejected("tcp_cap")).await, 1.0);
    svc.stop().await;
}

#[tokio::test]
async fn an_idle_tcp_connection_is_closed_but_one_carrying_a_call_is_kept() {
    let svc = TestService::start_with(None, |d| trunks(d, "tcp_idle_seconds", "2")).await;
    let server = svc.sip_addr();
    let mut idle = tcp_from("127.0.0.2", server).await;
    let me = idle.local_addr().expect("addr");
    let r = tcp_exchange(
        &mut idle,
        &request("OPTIONS", me, "TCP", "idle1", CALLER, ""),
    )
    .await
    .expect("answered");
    assert_eq!(status(&r), 200);
    // A call over TCP, quiet on SIP meanwhile.
    let call = Call::dial(CallConfig {
        transport: Transport::Tcp,
        ..CallConfig::new(server)
    })
    .await
    .expect("answered over TCP");
    assert!(
        closed_within(&mut idle, Duration::from_secs(5)).await,
        "an idle connection is closed after tcp_idle_seconds"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The call's connection is still there: our BYE is answered on it.
    tokio::time::timeout(Duration::from_secs(5), call.hangup())
        .await
        .expect("the BYE is answered")
        .expect("hang up");
    assert_eq!(metric(&svc, "pe_sip_tcp_idle_closed_total").await, 1.0);
    svc.stop().await;
}

fn register(me: std::net::SocketAddr, cseq: u32, auth: &str) -> String {
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP {me};branch=z9hG4bKreg{cseq}\r\n\
Max-Forwards: 70\r\nFrom: <sip:nina@1177.local>;tag=r1\r\nTo: <sip:nina@1177.local>\r\n\
Call-ID: reg-tcp\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:nina@{me};transport=tcp>\r\n\
Expires: 300\r\n{auth}Content-Length: 0\r\n\r\n"
    )
}

/// A desk phone registered over TCP is called on that connection: it stays
/// open past `tcp_idle_seconds` while the registration lives.
#[tokio::test]
async fn a_registered_phones_tcp_connection_is_kept_while_idle() {
    let svc = TestService::start_with(None, |d| trunks(d, "tcp_idle_seconds", "1")).await;
    svc.add_staff("nina", "nurse-pw", phone_entrance::store::Role::Nurse)
        .await;
    let ha1 = phone_entrance::sip::digest::ha1("nina", "1177.local", "phone-secret-1");
    assert!(svc
        .store()
        .await
        .set_sip_ha1("nina", Some(&ha1))
        .await
        .expect("ha1"));
    let mut phone = tcp_from("127.0.0.2", svc.sip_addr()).await;
    let me = phone.local_addr().expect("addr");
    let challenge = tcp_exchange(&mut phone, &register(me, 1, ""))
        .await
        .expect("challenged");
    assert_eq!(
        status(&challenge),
        401,
        "REGISTER is not ACL'd: {challenge}"
    );
    let auth = simulators::digest::answer(
        header(&challenge, "WWW-Authenticate").expect("challenge"),
        "REGISTER",
        "sip:127.0.0.1",
        "nina",
        "phone-secret-1",
        "c0ffee",
        1,
    )
    .expect("digest");
    let ok = tcp_exchange(
        &mut phone,
        &register(me, 2, &format!("Authorization: {auth}\r\n")),
    )
    .await
    .expect("registered");
    assert_eq!(status(&ok), 200, "{ok}");
    let mut idle = tcp_from("127.0.0.2", svc.sip_addr()).await;
    assert!(closed_within(&mut idle, Duration::from_secs(4)).await);
    assert!(
        !closed_within(&mut phone, Duration::from_millis(500)).await,
        "the registered phone's connection stays open"
    );
    svc.stop().await;
}

/// A level-4 callback to `CALLER`, registered 30 minutes ago.
async fn seed(store: &Store) -> CaseRecord {
    common::seed_booked_callback(store, CALLER, None).await
}

fn heard(call: &Call, id: &str) -> bool {
    !find_prompt(&call.received_audio().samples(), "sv", id, Codec::Pcmu).is_empty()
}

fn pai(number: &str) -> Vec<(String, String)> {
    vec![(
        "P-Asserted-Identity".into(),
        format!("<sip:{number}@127.0.0.1;user=phone>"),
    )]
}

#[tokio::test]
async fn a_trusted_trunks_asserted_identity_is_recognised_as_the_repeat_caller() {
    let svc = TestService::start().await;
    seed(&svc.store().await).await;
    // From says another number; the trusted trunk asserts the booked one.
    let call = Call::dial(CallConfig {
        from_user: OTHER.into(),
        extra_headers: pai(CALLER),
        ..CallConfig::new(svc.sip_addr())
    })
    .await
    .expect("answered");
    after_greeting(&call, &[]).await;
    press(&call, "1", M).await;
    wait_for_prompt(&call, "booked_callback_keys", Duration::from_secs(15)).await;
    svc.stop().await;
}

#[tokio::test]
async fn the_booked_number_in_from_of_an_untrusted_source_is_a_new_caller_and_cannot_cancel() {
    let svc = TestService::start_with(None, |d| trunks(d, "unknown_sources", "\"allow\"")).await;
    let store = svc.store().await;
    let first = seed(&store).await;
    let call = Call::dial(CallConfig {
        local_ip: "127.0.0.2".parse().expect("ip"),
        ..CallConfig::new(svc.sip_addr())
    })
    .await
    .expect("answered");
    after_greeting(&call, &[]).await;
    press(&call, "1", M).await;
    wait_for_prompt(&call, "ask_about", Duration::from_secs(15)).await;
    assert!(!heard(&call, "booked_callback"), "nothing is disclosed");
    press(&call, "9", M).await;
    press(&call, "1", M).await;
    call.hangup().await.expect("hang up");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let case = svc.case(&first.id.to_string()).await;
    assert_eq!(case.status, CaseStatus::Waiting, "not cancelled");
    let actions: Vec<String> = store
        .audit_rows(Some(first.id), 50)
        .await
        .expect("audit")
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(actions, ["case.created"]);
    svc.stop().await;
}

#[tokio::test]
async fn an_asserted_identity_from_an_untrusted_source_is_ignored() {
    let svc = TestService::start_with(None, |d| trunks(d, "unknown_sources", "\"allow\"")).await;
    let first = seed(&svc.store().await).await;
    let call = Call::dial(CallConfig {
        local_ip: "127.0.0.2".parse().expect("ip"),
        from_user: OTHER.into(),
        extra_headers: pai(CALLER),
        ..CallConfig::new(svc.sip_addr())
    })
    .await
    .expect("answered");
    answer_until_offer(&call, M).await;
    assert!(!heard(&call, "booked_callback"));
    wait_for_prompt(&call, "callback_offer_keys", Duration::from_secs(15)).await;
    press(&call, "1", M).await; // a callback to this number
    decline_sms(&call, M).await;
    wait_for_prompt(&call, "callback_registered", Duration::from_secs(15)).await;
    call.hangup().await.expect("hang up");
    let list = svc.wait_for_cases(2, Duration::from_secs(5)).await;
    let second = list.iter().find(|c| c.id != first.id).expect("a new case");
    assert_eq!(
        second.callback_number.as_deref(),
        Some(OTHER),
        "From is offered, the forged assertion is not"
    );
    svc.stop().await;
}
