//! Registrar tests: REGISTER requests built as text, a fake clock, and the
//! responses and bindings they lead to.

use super::*;
use crate::sip::digest::{authorization, ha1};
use crate::sip::Transport;
use rsip::SipMessage;

const REALM: &str = "1177.local";

fn registrar(t0: Instant) -> Registrar {
    Registrar::new(
        RegistrarConfig::default(),
        DigestServer::new(REALM, [3; 32], t0, Duration::from_secs(300)),
    )
}

fn peer(port: u16) -> Peer {
    Peer {
        addr: format!("203.0.113.7:{port}").parse().unwrap(),
        transport: Transport::Udp,
        conn: None,
    }
}

fn register(
    user: &str,
    call_id: &str,
    cseq: u32,
    extra: &str,
    auth: Option<&str>,
) -> (rsip::Request, RequestInfo) {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let raw = format!(
        "REGISTER sip:{REALM} SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK{call_id}{cseq};rport\r\n\
From: <sip:{user}@{REALM}>;tag=ph1\r\n\
To: <sip:{user}@{REALM}>\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} REGISTER\r\n\
Max-Forwards: 70\r\n\
{extra}{auth}Content-Length: 0\r\n\r\n"
    );
    let SipMessage::Request(req) = message::parse(raw.as_bytes()).unwrap() else {
        panic!("not a request")
    };
    let info = RequestInfo::from_request(&req).unwrap();
    (req, info)
}

fn header(resp: &rsip::Response, name: &str) -> Vec<String> {
    message::header_values(&resp.headers, name).collect()
}

/// Registers `user` with `password`: the unauthenticated try, the 401,
/// the answer. Returns the final response.
fn login(
    r: &mut Registrar,
    now: Instant,
    user: &str,
    password: &str,
    cseq: u32,
    contact_lines: &str,
    from: Peer,
) -> rsip::Response {
    let stored = ha1(user, REALM, "hemligt");
    let (req, info) = register(user, "reg-1", cseq, contact_lines, None);
    let first = r.handle_register(now, &req, &info, from, Some(&stored));
    assert_eq!(first.status_code.code(), 401);
    let ch = header(&first, "WWW-Authenticate").pop().unwrap();
    let auth = authorization(
        &ch,
        "REGISTER",
        &format!("sip:{REALM}"),
        user,
        password,
        "cn",
        1,
    )
    .unwrap();
    let (req, info) = register(user, "reg-1", cseq + 1, contact_lines, Some(&auth));
    r.handle_register(now, &req, &info, from, Some(&stored))
}

#[test]
fn register_without_credentials_is_challenged() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let (req, info) = register(
        "anna",
        "c1",
        1,
        "Contact: <sip:anna@192.168.1.20>\r\n",
        None,
    );
    let resp = r.handle_register(t0, &req, &info, peer(5060), None);
    assert_eq!(resp.status_code.code(), 401);
    let ch = header(&resp, "WWW-Authenticate").pop().unwrap();
    assert!(ch.starts_with("Digest realm=\"1177.local\""), "{ch}");
    assert!(ch.contains("qop=\"auth\""));
    assert_eq!(r.lookup("anna", t0), None);
}

#[test]
fn challenged_register_with_right_password_binds_the_peer() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let resp = login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        1,
        "Contact: <sip:anna@192.168.1.20:5060>;expires=600\r\n",
        peer(40000),
    );
    assert_eq!(resp.status_code.code(), 200);
    assert_eq!(
        header(&resp, "Contact"),
        vec!["<sip:anna@192.168.1.20:5060>;expires=600".to_string()]
    );
    let b = r.lookup("anna", t0 + Duration::from_secs(1)).unwrap();
    assert_eq!(b.contact, "sip:anna@192.168.1.20:5060");
    assert_eq!(b.peer, peer(40000));
    assert!(header(&resp, "To")[0].contains(";tag="));
}

#[test]
fn wrong_password_is_forbidden() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let resp = login(
        &mut r,
        t0,
        "anna",
        "fel",
        1,
        "Contact: <sip:anna@h>\r\n",
        peer(1),
    );
    assert_eq!(resp.status_code.code(), 403);
    assert_eq!(r.lookup("anna", t0), None);
}

#[test]
fn credentials_of_another_user_are_forbidden() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let ch = r.digest.challenge(t0, false);
    let auth = authorization(
        &ch,
        "REGISTER",
        "sip:1177.local",
        "bertil",
        "hemligt",
        "c",
        1,
    )
    .unwrap();
    let (req, info) = register("anna", "c1", 2, "Contact: <sip:anna@h>\r\n", Some(&auth));
    let stored = ha1("anna", REALM, "hemligt");
    let resp = r.handle_register(t0, &req, &info, peer(1), Some(&stored));
    assert_eq!(resp.status_code.code(), 403);
}

#[test]
fn user_without_sip_password_is_forbidden() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let ch = r.digest.challenge(t0, false);
    let auth = authorization(&ch, "REGISTER", "sip:1177.local", "anna", "x", "c", 1).unwrap();
    let (req, info) = register("anna", "c1", 2, "Contact: <sip:anna@h>\r\n", Some(&auth));
    let resp = r.handle_register_with(t0, &req, &info, peer(1), |_| None);
    assert_eq!(resp.status_code.code(), 403);
}

#[test]
fn stale_nonce_gets_a_new_challenge_marked_stale() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let ch = r.digest.challenge(t0, false);
    let auth = authorization(&ch, "REGISTER", "sip:1177.local", "anna", "hemligt", "c", 1).unwrap();
    let (req, info) = register("anna", "c1", 2, "Contact: <sip:anna@h>\r\n", Some(&auth));
    let stored = ha1("anna", REALM, "hemligt");
    let late = t0 + Duration::from_secs(600);
    let resp = r.handle_register(late, &req, &info, peer(1), Some(&stored));
    assert_eq!(resp.status_code.code(), 401);
    assert!(header(&resp, "WWW-Authenticate")[0].contains("stale=true"));
}

#[test]
fn too_brief_interval_gets_423_with_min_expires() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let resp = login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        1,
        "Contact: <sip:anna@h>\r\nExpires: 30\r\n",
        peer(1),
    );
    assert_eq!(resp.status_code.code(), 423);
    assert_eq!(header(&resp, "Min-Expires"), vec!["60".to_string()]);
    assert_eq!(r.lookup("anna", t0), None);
}

#[test]
fn binding_lapses_at_its_expiry_and_long_ones_are_capped() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let resp = login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        1,
        "Contact: <sip:anna@h>\r\nExpires: 86400\r\n",
        peer(1),
    );
    assert_eq!(
        header(&resp, "Contact"),
        vec!["<sip:anna@h>;expires=3600".to_string()]
    );
    assert!(r.lookup("anna", t0 + Duration::from_secs(3599)).is_some());
    assert_eq!(r.lookup("anna", t0 + Duration::from_secs(3600)), None);
    r.purge(t0 + Duration::from_secs(3600));
    assert_eq!(r.next_expiry(), None);
}

#[test]
fn refresh_extends_and_newest_contact_wins_lookup() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        1,
        "Contact: <sip:anna@desk>\r\nExpires: 120\r\n",
        peer(1),
    );
    let t1 = t0 + Duration::from_secs(100);
    let resp = login(
        &mut r,
        t1,
        "anna",
        "hemligt",
        3,
        "Contact: <sip:anna@mobile>\r\nExpires: 120\r\n",
        peer(2),
    );
    assert_eq!(resp.status_code.code(), 200);
    assert_eq!(header(&resp, "Contact").len(), 2);
    assert_eq!(r.lookup("anna", t1).unwrap().contact, "sip:anna@mobile");
    assert_eq!(r.bindings("anna", t1).len(), 2);
    // desk lapses at t0+120, mobile lives on.
    let t2 = t0 + Duration::from_secs(150);
    assert_eq!(r.bindings("anna", t2).len(), 1);
    assert_eq!(r.registered_users(t2), 1);
}

#[test]
fn expires_zero_removes_one_contact_and_star_removes_all() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        1,
        "Contact: <sip:anna@a>, <sip:anna@b>;expires=300\r\n",
        peer(1),
    );
    assert_eq!(r.bindings("anna", t0).len(), 2);
    let resp = login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        3,
        "Contact: <sip:anna@a>;expires=0\r\n",
        peer(1),
    );
    assert_eq!(
        header(&resp, "Contact"),
        vec!["<sip:anna@b>;expires=300".to_string()]
    );
    let resp = login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        5,
        "Contact: *\r\nExpires: 0\r\n",
        peer(1),
    );
    assert_eq!(resp.status_code.code(), 200);
    assert!(header(&resp, "Contact").is_empty());
    assert_eq!(r.lookup("anna", t0), None);
}

#[test]
fn star_without_expires_zero_is_a_bad_request() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    let resp = login(&mut r, t0, "anna", "hemligt", 1, "Contact: *\r\n", peer(1));
    assert_eq!(resp.status_code.code(), 400);
}

#[test]
fn register_without_contact_lists_current_bindings() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        1,
        "Contact: <sip:anna@a>\r\n",
        peer(1),
    );
    let resp = login(
        &mut r,
        t0 + Duration::from_secs(10),
        "anna",
        "hemligt",
        3,
        "",
        peer(1),
    );
    assert_eq!(resp.status_code.code(), 200);
    assert_eq!(
        header(&resp, "Contact"),
        vec!["<sip:anna@a>;expires=3590".to_string()]
    );
}

#[test]
fn older_cseq_in_same_call_id_is_refused() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        10,
        "Contact: <sip:anna@a>\r\n",
        peer(1),
    );
    let resp = login(
        &mut r,
        t0,
        "anna",
        "hemligt",
        3,
        "Contact: <sip:anna@a>\r\n",
        peer(1),
    );
    assert_eq!(resp.status_code.code(), 500);
}

#[test]
fn unreadable_expires_or_contact_is_a_bad_request() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    for (i, lines) in [
        "Contact: <sip:anna@h>\r\nExpires: soon\r\n",
        "Contact: <sip:anna@h>;expires=-5\r\n",
        "Contact: <mailto:anna@h>\r\n",
        "Contact: *, <sip:anna@h>\r\nExpires: 0\r\n",
    ]
    .iter()
    .enumerate()
    {
        let resp = login(
            &mut r,
            t0,
            "anna",
            "hemligt",
            1 + 2 * i as u32,
            lines,
            peer(1),
        );
        assert_eq!(resp.status_code.code(), 400, "{lines}");
    }
    assert_eq!(r.lookup("anna", t0), None);
}

#[test]
fn contacts_split_only_outside_quotes_and_brackets() {
    assert_eq!(
        split_contacts("\"Ann, A\" <sip:a@h;x=1,2>;expires=5, <sip:b@h>"),
        vec![
            "\"Ann, A\" <sip:a@h;x=1,2>;expires=5".to_string(),
            "<sip:b@h>".to_string()
        ]
    );
    assert_eq!(split_contacts("*"), vec!["*".to_string()]);
}

#[test]
fn too_many_contacts_drop_the_oldest() {
    let t0 = Instant::now();
    let mut r = registrar(t0);
    for i in 0..7u32 {
        let now = t0 + Duration::from_secs(u64::from(i));
        let line = format!("Contact: <sip:anna@h{i}>\r\n");
        login(&mut r, now, "anna", "hemligt", 1 + 2 * i, &line, peer(1));
    }
    let now = t0 + Duration::from_secs(7);
    assert_eq!(r.bindings("anna", now).len(), 5);
    assert_eq!(r.lookup("anna", now).unwrap().contact, "sip:anna@h6");
}
